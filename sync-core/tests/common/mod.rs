//! Fixtures shared by sync-core's tests: people, a job spec, a price book,
//! and a deterministic id/time source (sync-core reads no clock or RNG).
#![allow(dead_code)]

pub mod net;

use std::collections::BTreeMap;

use fieldsync_core::automerge::ActorId;
use fieldsync_core::job::{Asset, ChecklistQuestion, Customer, Priority, Site, Window};
use fieldsync_core::pricebook::{Contract, LabourRate, PartPrice, PriceBook};
use fieldsync_core::{
    JobDoc, JobId, JobSpec, LineId, LocationId, Money, Principal, Role, Sku, Timestamp, UserId,
};

pub const T0: i64 = 1_767_261_600_000; // 2026-01-01T10:00:00Z

pub fn user(n: u8) -> UserId {
    UserId::from_bytes([n; 16])
}

pub fn tech(n: u8) -> Principal {
    Principal::new(user(n), Role::Technician)
}

pub fn dispatcher() -> Principal {
    Principal::new(user(200), Role::Dispatcher)
}

pub fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16])
}

pub fn van(n: u8) -> LocationId {
    LocationId::from_bytes([n; 16])
}

/// Ids from a counter: distinct and reproducible.
#[derive(Default)]
pub struct Ids(u64);

impl Ids {
    pub fn bytes(&mut self) -> [u8; 16] {
        self.0 += 1;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.0.to_be_bytes());
        b[8] = 0xAB;
        b
    }
    pub fn line(&mut self) -> LineId {
        LineId::from_bytes(self.bytes())
    }
    pub fn job(&mut self) -> JobId {
        JobId::from_bytes(self.bytes())
    }
}

pub fn sku(s: &str) -> Sku {
    s.parse().unwrap()
}

pub fn spec(id: JobId, technician: Option<UserId>) -> JobSpec {
    JobSpec {
        id,
        customer: Customer {
            name: "Ana Silva".into(),
            email: Some("ana@example.com".parse().unwrap()),
            phone: Some("+351 900 000 000".into()),
            feedback_opt_out: false,
        },
        site: Site {
            name: Some("Plant room".into()),
            address: "Rua Augusta 1, Lisboa".into(),
        },
        asset: Asset {
            product: "Boiler X200".into(),
            serial: Some("BX-1".into()),
            warranty_end: None,
            contract_ref: None,
        },
        problem: "No hot water".into(),
        priority: Priority::Normal,
        window: Window::new(Timestamp(T0), Timestamp(T0 + 2 * 3_600_000)).unwrap(),
        technician,
        checklist: vec![ChecklistQuestion {
            id: LineId::from_bytes([9; 16]),
            question: "Gas pressure checked?".into(),
            required: true,
            kind: Default::default(),
        }],
    }
}

pub fn new_job(id: JobId, technician: Option<UserId>) -> JobDoc {
    JobDoc::create(
        &spec(id, technician),
        actor(200),
        dispatcher(),
        Timestamp(T0 - 86_400_000),
    )
    .unwrap()
}

pub fn date(s: &str) -> time::Date {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

pub fn price_book() -> PriceBook {
    PriceBook {
        version: 7,
        currency: "EUR".into(),
        tax_rate_bps: 2300,
        callout_fee: Money(4500),
        parts: BTreeMap::from([
            (
                sku("VALVE-1"),
                PartPrice {
                    name: "Valve".into(),
                    unit_price: Money(1999),
                    serialized: false,
                },
            ),
            (
                sku("PUMP-9"),
                PartPrice {
                    name: "Pump".into(),
                    unit_price: Money(18_950),
                    serialized: true,
                },
            ),
        ]),
        labour_rates: BTreeMap::from([(
            "standard".to_owned(),
            LabourRate {
                name: "Standard".into(),
                hourly: Money(5500),
            },
        )]),
        contracts: BTreeMap::from([(
            "SC-GOLD-1".to_owned(),
            Contract {
                name: "Gold".into(),
                covers_labour: true,
                covers_parts: false,
                covers_callout: true,
                valid_from: Some(date("2025-01-01")),
                valid_until: date("2026-12-31"),
            },
        )]),
        extensions: BTreeMap::new(),
        refund_limits: Default::default(),
    }
}

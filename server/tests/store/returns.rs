//! Returns ([`fieldsync_server::returns::ReturnStore`]): a return is stored
//! and numbered once by its id, numbers follow each other per year; a
//! receipt appends its ledger movements once, in the same transaction as
//! the return, so balances always equal the movements; refurbish and scrap
//! leave the sellable balance as it was; a refused receipt writes nothing.

use std::sync::Arc;

use fieldsync_core::job::ReturnCondition;
use fieldsync_core::{LocationId, Role, Sku, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::inventory::{Location, LocationKind, MovementFilter, Part, Refused};
use fieldsync_server::returns::model::*;
use fieldsync_server::returns::store::ReturnFilter;
use uuid::Uuid;

use crate::core::user;
use crate::{now, open};

conformance_tests!(
    a_return_is_stored_and_numbered_once_by_its_id,
    receipts_move_the_ledger_once_by_disposition,
);

struct World {
    store: Arc<dyn AppStore>,
    depot: LocationId,
    van: LocationId,
    actor: UserId,
}

fn pump() -> Sku {
    "PUMP-7".parse().unwrap()
}

async fn world(url: &str) -> World {
    let store = open(url).await;
    let actor = user(store.as_ref(), "mgr", Role::InventoryManager).await.id;
    let depot = LocationId::from_uuid(Uuid::new_v4());
    let van = LocationId::from_uuid(Uuid::new_v4());
    for (id, kind, name, parent) in [
        (depot, LocationKind::Depot, "North depot", None),
        (van, LocationKind::Van, "Van 1", Some(depot)),
    ] {
        store
            .create_location(&Location {
                id,
                kind,
                name: name.into(),
                depot_id: parent,
                technician_id: None,
                created_at: now(),
            })
            .await
            .unwrap();
    }
    store
        .upsert_part(&Part {
            sku: pump(),
            name: "Pump".into(),
            unit_cost_minor: 18900,
            serialized: true,
        })
        .await
        .unwrap();
    World {
        store,
        depot,
        van,
        actor,
    }
}

fn new_return(w: &World, serial: &str) -> NewReturn {
    NewReturn {
        id: Uuid::new_v4(),
        sku: pump(),
        serial: serial.into(),
        reason: "Seized bearing".into(),
        condition: ReturnCondition::Faulty,
        job_id: None,
        customer_id: None,
        asset_id: None,
        depot_id: Some(w.depot),
        opened_by: w.actor,
    }
}

async fn a_return_is_stored_and_numbered_once_by_its_id(url: &str) {
    let w = world(url).await;
    let year = time::OffsetDateTime::now_utc().year();
    let first = new_return(&w, "P-1");
    let Opened::Created(row) = w.store.open_return(&first).await.unwrap() else {
        panic!("created")
    };
    assert_eq!(row.rma_number, format!("RMA-{year}-000001"));
    assert_eq!(row.status, ReturnStatus::Open);
    assert_eq!(row.ret, first);
    // A retry: the same row, no new number.
    let Opened::Replayed(again) = w.store.open_return(&first).await.unwrap() else {
        panic!("replayed")
    };
    assert_eq!(again, row);
    // The id with other content is refused and changes nothing.
    let mut other = first.clone();
    other.reason = "Another".into();
    assert_eq!(w.store.open_return(&other).await.unwrap(), Opened::IdReused);
    assert_eq!(w.store.return_by_id(first.id).await.unwrap(), row);
    // The next return takes the next number.
    let Opened::Created(second) = w.store.open_return(&new_return(&w, "P-2")).await.unwrap() else {
        panic!("created")
    };
    assert_eq!(second.rma_number, format!("RMA-{year}-000002"));
    let open = w
        .store
        .returns(&ReturnFilter {
            status: Some(ReturnStatus::Open),
            ..ReturnFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    let events = w.store.return_events(first.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "opened");
}

async fn receipts_move_the_ledger_once_by_disposition(url: &str) {
    let w = world(url).await;
    let on_hand = |store: Arc<dyn AppStore>, depot: LocationId| async move {
        store
            .balances()
            .await
            .unwrap()
            .iter()
            .find(|b| b.location_id == depot && b.sku == pump())
            .map_or(0, |b| b.quantity)
    };
    let mut rows = Vec::new();
    for (serial, disposition) in [
        ("P-1", Disposition::Restock),
        ("P-2", Disposition::Refurbish),
        ("P-3", Disposition::Scrap),
    ] {
        let r = new_return(&w, serial);
        w.store.open_return(&r).await.unwrap();
        rows.push((r, disposition));
    }
    // A refused receipt (at a van) writes nothing.
    let at_van = Receipt {
        return_id: rows[0].0.id,
        movement_id: Uuid::new_v4(),
        depot_id: w.van,
        disposition: Disposition::Restock,
        actor: w.actor,
    };
    let refused = w.store.receive(&at_van).await.unwrap().unwrap_err();
    assert!(
        matches!(refused, ReceiptRefused::Ledger(Refused::Invalid(_))),
        "{refused:?}"
    );
    assert!(
        w.store
            .movements(&MovementFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    let mut expected = 0;
    for (r, disposition) in &rows {
        let receipt = Receipt {
            return_id: r.id,
            movement_id: Uuid::new_v4(),
            depot_id: w.depot,
            disposition: *disposition,
            actor: w.actor,
        };
        let row = w.store.receive(&receipt).await.unwrap().unwrap();
        assert_eq!(row.status, ReturnStatus::Received);
        assert_eq!(row.disposition, Some(*disposition));
        assert_eq!(row.movement_id, Some(receipt.movement_id));
        // Again: the same row, nothing appended.
        assert_eq!(w.store.receive(&receipt).await.unwrap().unwrap(), row);
        // Other details: refused.
        let other = Receipt {
            movement_id: Uuid::new_v4(),
            ..receipt.clone()
        };
        assert_eq!(
            w.store.receive(&other).await.unwrap().unwrap_err(),
            ReceiptRefused::AlreadyReceived
        );
        if *disposition == Disposition::Restock {
            expected += 1;
        }
        assert_eq!(
            on_hand(w.store.clone(), w.depot).await,
            expected,
            "{disposition}"
        );
    }
    // One return movement per receipt, one hold for refurbish and scrap.
    let moves = w.store.movements(&MovementFilter::default()).await.unwrap();
    assert_eq!(moves.len(), 5, "{moves:?}");
    let mut balances = w.store.balances().await.unwrap();
    let mut derived = w.store.balances_from_movements().await.unwrap();
    balances.sort();
    derived.sort();
    assert_eq!(balances, derived);
    // Only the restocked unit is at the depot.
    let units = w.store.serial_units(Some(&pump())).await.unwrap();
    let at_depot: Vec<&str> = units
        .iter()
        .filter(|u| u.location_id == Some(w.depot))
        .map(|u| u.serial.as_str())
        .collect();
    assert_eq!(at_depot, ["P-1"]);
}

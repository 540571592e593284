//! Recall campaigns ([`fieldsync_server::recalls::RecallStore`]): a campaign
//! stored once by its id (a replay, a reused id), the quarantine of stock
//! units as `quarantine` movements that keep balances equal to the ledger
//! and run once, and the affected assets with the job that remedies each.

use fieldsync_core::{JobId, LocationId, Role, Sku};
use fieldsync_server::app::AppStore;
use fieldsync_server::customers::model::*;
use fieldsync_server::inventory::{
    Location, LocationKind, MovementKind, NewMovement, Part, Recorded,
};
use fieldsync_server::recalls::model::{Campaign, Remedy, SerialRange};
use fieldsync_server::recalls::store::Stored;
use time::macros::date;
use uuid::Uuid;

use crate::core::user;
use crate::{now, open};

conformance_tests!(
    a_campaign_is_stored_once_by_its_id,
    quarantine_moves_units_out_of_stock_once,
    affected_assets_keep_their_first_job,
);

fn pump() -> Sku {
    "PUMP-7".parse().unwrap()
}

async fn campaign(store: &dyn AppStore) -> Campaign {
    let by = user(store, "admin", Role::Admin).await;
    Campaign {
        id: Uuid::new_v4(),
        sku: pump(),
        reason: "Seal may leak".into(),
        remedy: Remedy::Replace,
        compensation: Some("A free service".into()),
        serials: vec!["SN-9".into()],
        ranges: vec![SerialRange {
            first: "SN-1".into(),
            last: "SN-5".into(),
        }],
        created_by: by.id,
        // Stored to the microsecond on PostgreSQL.
        created_at: now().replace_nanosecond(0).unwrap(),
    }
}

async fn a_campaign_is_stored_once_by_its_id(url: &str) {
    let store = open(url).await;
    let c = campaign(store.as_ref()).await;
    assert_eq!(store.create_campaign(&c).await.unwrap(), Stored::Created);
    assert_eq!(store.campaign(c.id).await.unwrap(), c);
    assert_eq!(
        store.create_campaign(&c).await.unwrap(),
        Stored::Replayed(c.clone())
    );
    let other = Campaign {
        remedy: Remedy::Inspect,
        ..c.clone()
    };
    assert_eq!(
        store.create_campaign(&other).await.unwrap(),
        Stored::IdReused
    );
    assert_eq!(store.campaign(c.id).await.unwrap(), c, "unchanged");
    assert_eq!(store.campaigns().await.unwrap(), [c]);
}

async fn quarantine_moves_units_out_of_stock_once(url: &str) {
    let store = open(url).await;
    let c = campaign(store.as_ref()).await;
    store.create_campaign(&c).await.unwrap();
    let depot = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id: depot,
            kind: LocationKind::Depot,
            name: "North depot".into(),
            depot_id: None,
            technician_id: None,
            created_at: now(),
        })
        .await
        .unwrap();
    store
        .upsert_part(&Part {
            sku: pump(),
            name: "Pump".into(),
            unit_cost_minor: 100,
            serialized: true,
        })
        .await
        .unwrap();
    let receipt = NewMovement {
        id: Uuid::new_v4(),
        kind: MovementKind::Receipt,
        sku: pump(),
        quantity: 3,
        from: None,
        to: Some(depot),
        reason: None,
        serials: vec!["SN-1".into(), "SN-2".into(), "SN-7".into()],
        job_id: None,
        line_id: None,
        note: String::new(),
        actor: None,
    };
    assert!(matches!(
        store.record_movement(&receipt).await.unwrap(),
        Ok(Recorded::Applied(_))
    ));
    let mut in_stock = store.units_in_stock(&pump()).await.unwrap();
    in_stock.sort();
    assert_eq!(
        in_stock,
        [
            ("SN-1".to_owned(), depot),
            ("SN-2".to_owned(), depot),
            ("SN-7".to_owned(), depot)
        ]
    );
    // SN-2 listed at another location (it moved meanwhile) is skipped.
    let elsewhere = LocationId::from_uuid(Uuid::new_v4());
    let units = [("SN-1".to_owned(), depot), ("SN-2".to_owned(), elsewhere)];
    assert_eq!(
        store.quarantine(&c, &units, c.created_by).await.unwrap(),
        [depot]
    );
    assert_eq!(
        store.quarantine(&c, &units, c.created_by).await.unwrap(),
        []
    );

    let balances = store.balances().await.unwrap();
    assert_eq!(balances, store.balances_from_movements().await.unwrap());
    let on_hand = balances.iter().find(|b| b.location_id == depot).unwrap();
    assert_eq!(on_hand.quantity, 2, "SN-1 is no longer available");
    let quarantines: Vec<_> = store
        .movements(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.movement.kind == MovementKind::Quarantine)
        .collect();
    assert_eq!(quarantines.len(), 1);
    assert_eq!(quarantines[0].movement.serials, ["SN-1"]);
    assert_eq!(quarantines[0].movement.from, Some(depot));
    let sn1 = store
        .serial_units(Some(&pump()))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.serial == "SN-1")
        .unwrap();
    assert_eq!(sn1.location_id, None, "no longer at the depot");

    assert_eq!(
        store
            .recalled()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [(pump(), "SN-1".to_owned())]
    );
    assert_eq!(
        store.quarantined_at(depot).await.unwrap(),
        [(pump(), "SN-1".to_owned())]
    );
    assert_eq!(store.quarantined(c.id).await.unwrap().len(), 1);
}

async fn affected_assets_keep_their_first_job(url: &str) {
    let store = open(url).await;
    let c = campaign(store.as_ref()).await;
    store.create_campaign(&c).await.unwrap();
    let depot = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id: depot,
            kind: LocationKind::Depot,
            name: "North depot".into(),
            depot_id: None,
            technician_id: None,
            created_at: now(),
        })
        .await
        .unwrap();
    let t = now();
    let customer = Customer {
        id: Uuid::new_v4(),
        kind: CustomerKind::Company,
        name: "Acme".into(),
        language: fieldsync_server::i18n::Language::En,
        depot_id: depot,
        created_at: t,
        updated_at: t,
    };
    store.create_customer(&customer).await.unwrap();
    let site = Site {
        id: Uuid::new_v4(),
        customer_id: customer.id,
        name: None,
        address: "Rua das Flores 1".into(),
        postcode: None,
        depot_id: None,
    };
    store.create_site(&site, t).await.unwrap();
    let mut ids = Vec::new();
    for serial in ["SN-3", "SN-30"] {
        let asset = Asset {
            id: Uuid::new_v4(),
            customer_id: customer.id,
            site_id: site.id,
            sku: pump(),
            product: "Pump".into(),
            serial: serial.into(),
            install_date: Some(date!(2025 - 01 - 01)),
            warranty_end: None,
            contract_ref: None,
        };
        store.create_asset(&asset, t).await.unwrap();
        ids.push(asset.id);
    }
    let assets = store.product_assets(&pump()).await.unwrap();
    assert_eq!(assets.len(), 2);
    assert!(assets.iter().any(|a| a.serial == "SN-30" && a.id == ids[1]));

    let first = JobId::from_uuid(Uuid::new_v4());
    let second = JobId::from_uuid(Uuid::new_v4());
    assert_eq!(
        store.link_asset(c.id, ids[0], first, true).await.unwrap(),
        first
    );
    assert_eq!(
        store.link_asset(c.id, ids[0], second, false).await.unwrap(),
        first,
        "the first job stays"
    );
    let affected = store.affected(c.id).await.unwrap();
    assert_eq!(affected.len(), 1);
    let a = &affected[0];
    assert_eq!((a.asset_id, a.serial.as_str()), (ids[0], "SN-3"));
    assert_eq!(
        (a.customer_id, a.customer_name.as_str()),
        (customer.id, "Acme")
    );
    assert_eq!((a.job_id, a.opened, a.depot_id), (first, true, depot));
    assert_eq!(
        (a.job_status, a.replacement, a.committed_date),
        (None, None, None)
    );
    let history = store.asset_recalls(ids[0]).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].campaign_id, history[0].job_id), (c.id, first));
    assert!(store.asset_recalls(ids[1]).await.unwrap().is_empty());
}

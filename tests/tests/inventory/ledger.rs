//! The ledger under concurrency, on both backends: many writers through
//! several connections (separate store instances, like separate server
//! processes) leave balances exactly equal to the sum of movements.

use std::sync::Arc;
use std::time::Instant;

use fieldsync_core::{DocId, JobId, LineId, LocationId, Sku};
use fieldsync_server::app::AppStore;
use fieldsync_server::inventory::*;
use fieldsync_server::store::{self, CommitOutcome, DocCommit, now_utc};
use fieldsync_server::testing::{TestBackend, TestDatabase};
use uuid::Uuid;

use crate::helpers::backend_tests;

backend_tests!(
    concurrent_consumptions_and_transfers_keep_stock_equal_to_the_movements,
    movement_ids_are_idempotent_and_refuse_other_content,
    serials_follow_their_units,
);

pub struct Fixture {
    pub depot: LocationId,
    pub van: LocationId,
    pub sku: Sku,
}

pub async fn fixture(store: &dyn AppStore, serialized: bool) -> Fixture {
    let depot = LocationId::from_uuid(Uuid::new_v4());
    let van = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id: depot,
            kind: LocationKind::Depot,
            name: "North depot".into(),
            depot_id: None,
            technician_id: None,
            created_at: now_utc(),
        })
        .await
        .unwrap();
    store
        .create_location(&Location {
            id: van,
            kind: LocationKind::Van,
            name: "Van 1".into(),
            depot_id: Some(depot),
            technician_id: None,
            created_at: now_utc(),
        })
        .await
        .unwrap();
    let sku: Sku = if serialized { "PUMP-9" } else { "FILTER-1" }
        .parse()
        .unwrap();
    store
        .upsert_part(&Part {
            sku: sku.clone(),
            name: "Filter".into(),
            unit_cost_minor: 1250,
            serialized,
        })
        .await
        .unwrap();
    Fixture { depot, van, sku }
}

pub fn movement(
    kind: MovementKind,
    sku: &Sku,
    q: i64,
    from: Option<LocationId>,
    to: Option<LocationId>,
) -> NewMovement {
    NewMovement {
        id: Uuid::new_v4(),
        kind,
        sku: sku.clone(),
        quantity: q,
        from,
        to,
        reason: None,
        serials: Vec::new(),
        job_id: None,
        line_id: None,
        note: String::new(),
        actor: None,
    }
}

fn qty(balances: &[Balance], l: LocationId, sku: &Sku) -> i64 {
    balances
        .iter()
        .find(|b| b.location_id == l && &b.sku == sku)
        .map_or(0, |b| b.quantity)
}

/// One of 50 concurrent writes.
enum Op {
    Movement(NewMovement),
    Job(Box<DocCommit>),
}

async fn concurrent_consumptions_and_transfers_keep_stock_equal_to_the_movements(
    backend: TestBackend,
) {
    let db = TestDatabase::new(backend).await;
    // Several connections: separate stores on one database.
    let mut stores: Vec<Arc<dyn AppStore>> = Vec::new();
    for _ in 0..3 {
        stores.push(store::open(&db.url).await.unwrap());
    }
    let f = fixture(stores[0].as_ref(), false).await;
    let receipt = movement(MovementKind::Receipt, &f.sku, 100, None, Some(f.depot));
    assert!(matches!(
        stores[0].record_movement(&receipt).await.unwrap(),
        Ok(Recorded::Applied(_))
    ));

    let mut ops = Vec::new();
    for i in 0..50 {
        ops.push(match i % 5 {
            0 | 1 => Op::Movement(movement(
                MovementKind::Transfer,
                &f.sku,
                2,
                Some(f.depot),
                Some(f.van),
            )),
            2 | 3 => Op::Movement(movement(
                MovementKind::Consumption,
                &f.sku,
                1,
                Some(f.van),
                None,
            )),
            _ => {
                // A synced job taking one unit from the van.
                let job = JobId::from_uuid(Uuid::new_v4());
                let mut c = DocCommit::new(DocId::Job(job), 0);
                c.project(JobConsumption {
                    job_id: job,
                    lines: vec![ConsumedLine {
                        line_id: LineId::from_uuid(Uuid::new_v4()),
                        sku: f.sku.clone(),
                        van: f.van,
                        quantity: 1,
                        serials: Vec::new(),
                    }],
                });
                Op::Job(Box::new(c))
            }
        });
    }
    let ops = Arc::new(ops);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, _) in ops.iter().enumerate() {
        let store = stores[i % stores.len()].clone();
        let ops = ops.clone();
        tasks.push(tokio::spawn(async move {
            match &ops[i] {
                Op::Movement(m) => {
                    matches!(store.record_movement(m).await, Ok(Ok(Recorded::Applied(_))))
                }
                Op::Job(c) => matches!(store.commit(c).await, Ok(CommitOutcome::Committed { .. })),
            }
        }));
    }
    for t in tasks {
        assert!(
            t.await.unwrap(),
            "every write succeeds (retries stay inside the store)"
        );
    }
    eprintln!(
        "{backend}: 50 concurrent ledger writes in {:?}",
        started.elapsed()
    );

    let balances = stores[1].balances().await.unwrap();
    assert_eq!(balances, stores[2].balances_from_movements().await.unwrap());
    assert_eq!(qty(&balances, f.depot, &f.sku), 100 - 20 * 2);
    assert_eq!(qty(&balances, f.van, &f.sku), 20 * 2 - 20 - 10);
    let all = stores[0]
        .movements(&MovementFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 51);

    // Replaying all of it, concurrently again, changes nothing.
    let mut tasks = Vec::new();
    for (i, _) in ops.iter().enumerate() {
        let store = stores[(i + 1) % stores.len()].clone();
        let ops = ops.clone();
        tasks.push(tokio::spawn(async move {
            match &ops[i] {
                Op::Movement(m) => matches!(
                    store.record_movement(m).await,
                    Ok(Ok(Recorded::Replayed(_)))
                ),
                Op::Job(c) => {
                    let mut again = c.clone();
                    again.base_version = 0;
                    matches!(
                        store.commit(&again).await,
                        Ok(CommitOutcome::Committed { .. })
                    )
                }
            }
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(stores[0].balances().await.unwrap(), balances);
    assert_eq!(stores[0].balances_from_movements().await.unwrap(), balances);
}

async fn movement_ids_are_idempotent_and_refuse_other_content(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let store = store::open(&db.url).await.unwrap();
    let f = fixture(store.as_ref(), false).await;
    let m = movement(MovementKind::Receipt, &f.sku, 5, None, Some(f.depot));
    let first = store.record_movement(&m).await.unwrap().unwrap();
    assert!(matches!(first, Recorded::Applied(_)));
    let again = store.record_movement(&m).await.unwrap().unwrap();
    assert_eq!(again, Recorded::Replayed(first.movement().clone()));
    let other = NewMovement {
        quantity: 6,
        ..m.clone()
    };
    assert_eq!(
        store.record_movement(&other).await.unwrap(),
        Err(Refused::IdReused(m.id))
    );
    // Invalid shapes are refused and write nothing.
    let bad = [
        movement(MovementKind::Transfer, &f.sku, 1, Some(f.van), Some(f.van)),
        movement(MovementKind::Receipt, &f.sku, 1, None, Some(f.van)),
        movement(MovementKind::Consumption, &f.sku, 1, Some(f.depot), None),
        movement(MovementKind::Adjustment, &f.sku, 1, Some(f.depot), None),
        movement(MovementKind::Receipt, &f.sku, 0, None, Some(f.depot)),
    ];
    for b in &bad {
        assert!(
            matches!(
                store.record_movement(b).await.unwrap(),
                Err(Refused::Invalid(_))
            ),
            "{b:?}"
        );
    }
    let mut adj = movement(MovementKind::Adjustment, &f.sku, 2, Some(f.depot), None);
    adj.reason = Some(AdjustReason::Damage);
    assert!(store.record_movement(&adj).await.unwrap().is_ok());
    let balances = store.balances().await.unwrap();
    assert_eq!(qty(&balances, f.depot, &f.sku), 3);
    assert_eq!(balances, store.balances_from_movements().await.unwrap());
}

async fn serials_follow_their_units(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let store = store::open(&db.url).await.unwrap();
    let f = fixture(store.as_ref(), true).await;
    let mut r = movement(MovementKind::Receipt, &f.sku, 2, None, Some(f.depot));
    assert!(
        matches!(
            store.record_movement(&r).await.unwrap(),
            Err(Refused::Invalid(_))
        ),
        "serials required"
    );
    r.serials = vec!["SN-1".into(), "SN-2".into()];
    store.record_movement(&r).await.unwrap().unwrap();
    let mut t = movement(
        MovementKind::Transfer,
        &f.sku,
        1,
        Some(f.van),
        Some(f.depot),
    );
    t.serials = vec!["SN-1".into()];
    assert!(
        matches!(
            store.record_movement(&t).await.unwrap(),
            Err(Refused::Invalid(_))
        ),
        "SN-1 is not in the van"
    );
    let mut t = movement(
        MovementKind::Transfer,
        &f.sku,
        1,
        Some(f.depot),
        Some(f.van),
    );
    t.serials = vec!["SN-1".into()];
    store.record_movement(&t).await.unwrap().unwrap();
    let units = store.serial_units(Some(&f.sku)).await.unwrap();
    assert_eq!(
        units
            .iter()
            .find(|u| u.serial == "SN-1")
            .unwrap()
            .location_id,
        Some(f.van)
    );
    assert_eq!(
        units
            .iter()
            .find(|u| u.serial == "SN-2")
            .unwrap()
            .location_id,
        Some(f.depot)
    );
}

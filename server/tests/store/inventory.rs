//! Inventory ([`fieldsync_server::inventory::InventoryStore`]) and the
//! consumption projection a job commit carries. (Concurrency and
//! idempotency of movements under load: `tests/tests/inventory/ledger.rs`.)

use fieldsync_core::{JobId, LineId, LocationId, Sku, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::inventory::*;
use fieldsync_server::store::{CommitOutcome, DocCommit, StoreError};
use uuid::Uuid;

use crate::{now, open};

conformance_tests!(
    locations_vans_and_staff,
    parts_and_reorder_rules,
    movements_are_checked_listed_and_balanced,
    job_part_lines_are_consumed_with_the_commit,
    fitted_serials_are_tracked_per_line,
    one_van_stock_is_that_van_only,
);

async fn location(
    store: &dyn AppStore,
    kind: LocationKind,
    depot: Option<LocationId>,
) -> LocationId {
    let id = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id,
            kind,
            name: format!("{kind} {}", &id.to_string()[..8]),
            depot_id: depot,
            technician_id: None,
            created_at: now(),
        })
        .await
        .unwrap();
    id
}

async fn part(store: &dyn AppStore, sku: &str, serialized: bool) -> Sku {
    let sku: Sku = sku.parse().unwrap();
    store
        .upsert_part(&Part {
            sku: sku.clone(),
            name: format!("Part {sku}"),
            unit_cost_minor: 1250,
            serialized,
        })
        .await
        .unwrap();
    sku
}

fn movement(
    kind: MovementKind,
    sku: &Sku,
    quantity: i64,
    from: Option<LocationId>,
    to: Option<LocationId>,
) -> NewMovement {
    NewMovement {
        id: Uuid::new_v4(),
        kind,
        sku: sku.clone(),
        quantity,
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

async fn stock(store: &dyn AppStore, l: LocationId, sku: &Sku) -> i64 {
    qty(&store.balances().await.unwrap(), l, sku)
}

fn qty(balances: &[Balance], l: LocationId, sku: &Sku) -> i64 {
    balances
        .iter()
        .find(|b| b.location_id == l && &b.sku == sku)
        .map_or(0, |b| b.quantity)
}

async fn locations_vans_and_staff(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let other_van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let all = store.locations().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].id, depot, "ordered by kind (depots first)");
    assert_eq!(
        all.iter().find(|l| l.id == van).unwrap().depot_id,
        Some(depot)
    );

    let tech = UserId::from_uuid(Uuid::new_v4());
    let ana = crate::core::user(store.as_ref(), "ana", fieldsync_core::Role::Technician).await;
    assert_eq!(store.technician_van(ana.id).await.unwrap(), None);
    store.assign_technician(van, Some(ana.id)).await.unwrap();
    assert_eq!(store.technician_van(ana.id).await.unwrap(), Some(van));
    assert!(
        matches!(
            store.assign_technician(other_van, Some(ana.id)).await,
            Err(StoreError::Conflict(_))
        ),
        "a technician drives one van"
    );
    assert!(matches!(
        store.assign_technician(depot, Some(ana.id)).await,
        Err(StoreError::NotFound)
    ));
    store.assign_technician(van, None).await.unwrap();
    assert_eq!(store.technician_van(ana.id).await.unwrap(), None);
    assert_eq!(store.technician_van(tech).await.unwrap(), None);

    let boss = crate::core::user(store.as_ref(), "boss", fieldsync_core::Role::Supervisor).await;
    store.add_depot_staff(boss.id, depot).await.unwrap();
    store.add_depot_staff(boss.id, depot).await.unwrap();
    assert_eq!(store.depot_staff().await.unwrap(), [(boss.id, depot)]);
}

async fn parts_and_reorder_rules(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let b = part(store.as_ref(), "VALVE-2", false).await;
    let a = part(store.as_ref(), "PUMP-9", true).await;
    store
        .upsert_part(&Part {
            sku: b.clone(),
            name: "Valve, brass".into(),
            unit_cost_minor: 990,
            serialized: false,
        })
        .await
        .unwrap();
    let parts = store.parts().await.unwrap();
    assert_eq!(
        parts.iter().map(|p| p.sku.clone()).collect::<Vec<_>>(),
        [a.clone(), b.clone()]
    );
    assert!(parts[0].serialized);
    assert_eq!(
        (parts[1].name.as_str(), parts[1].unit_cost_minor),
        ("Valve, brass", 990)
    );

    let rule = ReorderRule {
        location_id: depot,
        sku: b.clone(),
        reorder_point: 5,
        reorder_quantity: 20,
    };
    store.set_reorder_rule(&rule).await.unwrap();
    store
        .set_reorder_rule(&ReorderRule {
            reorder_point: 8,
            ..rule.clone()
        })
        .await
        .unwrap();
    let rules = store.reorder_rules().await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!((rules[0].reorder_point, rules[0].reorder_quantity), (8, 20));
}

async fn movements_are_checked_listed_and_balanced(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let sku = part(store.as_ref(), "FILTER-1", false).await;
    let receipt = movement(MovementKind::Receipt, &sku, 10, None, Some(depot));
    let applied = store.record_movement(&receipt).await.unwrap().unwrap();
    assert!(matches!(applied, Recorded::Applied(_)));
    assert_eq!(applied.movement().movement, receipt);
    let transfer = movement(MovementKind::Transfer, &sku, 4, Some(depot), Some(van));
    store.record_movement(&transfer).await.unwrap().unwrap();

    let unknown_sku = movement(
        MovementKind::Receipt,
        &"NOPE-1".parse().unwrap(),
        1,
        None,
        Some(depot),
    );
    assert_eq!(
        store.record_movement(&unknown_sku).await.unwrap(),
        Err(Refused::UnknownSku("NOPE-1".parse().unwrap()))
    );
    let nowhere = LocationId::from_uuid(Uuid::new_v4());
    let unknown_place = movement(MovementKind::Receipt, &sku, 1, None, Some(nowhere));
    assert_eq!(
        store.record_movement(&unknown_place).await.unwrap(),
        Err(Refused::UnknownLocation(nowhere))
    );

    let balances = store.balances().await.unwrap();
    assert_eq!(
        (qty(&balances, depot, &sku), qty(&balances, van, &sku)),
        (6, 4)
    );
    assert_eq!(balances, store.balances_from_movements().await.unwrap());

    let all = store.movements(&MovementFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2, "refused movements are not stored");
    let into_van = store
        .movements(&MovementFilter {
            locations: Some(vec![van]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        into_van.iter().map(|m| m.movement.id).collect::<Vec<_>>(),
        [transfer.id]
    );
    let limited = store
        .movements(&MovementFilter {
            sku: Some(sku.clone()),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert!(
        store
            .movements(&MovementFilter {
                job_id: Some(JobId::from_uuid(Uuid::new_v4())),
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

/// Receives `quantity` units into the depot and moves them to the van.
async fn fill(
    store: &dyn AppStore,
    depot: LocationId,
    van: LocationId,
    sku: &Sku,
    quantity: i64,
    serials: &[&str],
) {
    let serials: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
    let mut receipt = movement(MovementKind::Receipt, sku, quantity, None, Some(depot));
    receipt.serials = serials.clone();
    store.record_movement(&receipt).await.unwrap().unwrap();
    let mut transfer = movement(
        MovementKind::Transfer,
        sku,
        quantity,
        Some(depot),
        Some(van),
    );
    transfer.serials = serials;
    store.record_movement(&transfer).await.unwrap().unwrap();
}

fn line(id: LineId, sku: &Sku, van: LocationId, quantity: i64, serials: &[&str]) -> ConsumedLine {
    ConsumedLine {
        line_id: id,
        sku: sku.clone(),
        van,
        quantity,
        serials: serials.iter().map(|s| s.to_string()).collect(),
    }
}

/// Commits one version of a job's part lines, as a sync would.
async fn commit_lines(store: &dyn AppStore, job: JobId, lines: Vec<ConsumedLine>) {
    let mut c = DocCommit::new(fieldsync_core::DocId::Job(job), 0);
    c.project(JobConsumption { job_id: job, lines });
    let out = store.commit(&c).await.unwrap();
    assert!(matches!(out, CommitOutcome::Committed { .. }), "{out:?}");
}

async fn job_part_lines_are_consumed_with_the_commit(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let sku = part(store.as_ref(), "FILTER-1", false).await;
    fill(store.as_ref(), depot, van, &sku, 10, &[]).await;
    let job = JobId::from_uuid(Uuid::new_v4());
    let (a, b) = (
        LineId::from_uuid(Uuid::new_v4()),
        LineId::from_uuid(Uuid::new_v4()),
    );
    let nowhere = LocationId::from_uuid(Uuid::new_v4());

    commit_lines(
        store.as_ref(),
        job,
        vec![line(a, &sku, van, 3, &[]), line(b, &sku, nowhere, 1, &[])],
    )
    .await;
    assert_eq!(stock(store.as_ref(), van, &sku).await, 7);
    let lines = store.applied_lines(Some(job)).await.unwrap();
    let applied = |id: LineId| lines.iter().find(|l| l.line_id == id).unwrap().clone();
    assert_eq!(
        (applied(a).quantity, applied(a).revision, applied(a).problem),
        (3, 1, None)
    );
    assert_eq!(
        (applied(b).quantity, applied(b).problem.as_deref()),
        (0, Some("unknown_van")),
        "a line naming an unknown van takes nothing and says why"
    );

    // The same job state again (a retried sync): nothing changes.
    commit_lines(
        store.as_ref(),
        job,
        vec![line(a, &sku, van, 3, &[]), line(b, &sku, nowhere, 1, &[])],
    )
    .await;
    assert_eq!(stock(store.as_ref(), van, &sku).await, 7);
    assert_eq!(
        store
            .movements(&MovementFilter {
                job_id: Some(job),
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );

    // One unit fewer, then voided: each change is one correcting movement.
    commit_lines(store.as_ref(), job, vec![line(a, &sku, van, 2, &[])]).await;
    assert_eq!(stock(store.as_ref(), van, &sku).await, 8);
    commit_lines(store.as_ref(), job, vec![line(a, &sku, van, 0, &[])]).await;
    assert_eq!(stock(store.as_ref(), van, &sku).await, 10);
    let a_now = store
        .applied_lines(Some(job))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.line_id == a)
        .unwrap();
    assert_eq!((a_now.quantity, a_now.revision), (0, 3));
    let balances = store.balances().await.unwrap();
    assert_eq!(balances, store.balances_from_movements().await.unwrap());
    assert!(
        store
            .applied_lines(Some(JobId::from_uuid(Uuid::new_v4())))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.applied_lines(None).await.unwrap().len(), 2);
}

async fn fitted_serials_are_tracked_per_line(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let sku = part(store.as_ref(), "PUMP-9", true).await;
    fill(store.as_ref(), depot, van, &sku, 1, &["SN-1"]).await;

    let job = JobId::from_uuid(Uuid::new_v4());
    let l = LineId::from_uuid(Uuid::new_v4());
    commit_lines(
        store.as_ref(),
        job,
        vec![line(l, &sku, van, 2, &["SN-1", "SN-X"])],
    )
    .await;
    let fits = store.serial_fits().await.unwrap();
    let fit = |s: &str| fits.iter().find(|f| f.serial == s).unwrap().clone();
    assert_eq!((fit("SN-1").found_at, fit("SN-1").known), (Some(van), true));
    assert_eq!(
        (fit("SN-X").found_at, fit("SN-X").known),
        (None, false),
        "a serial the ledger never saw is fitted anyway, and flagged"
    );
    let units = store.serial_units(Some(&sku)).await.unwrap();
    assert!(
        units
            .iter()
            .all(|u| u.location_id.is_none() && u.job_id == Some(job) && u.line_id == Some(l))
    );

    // SN-X comes off the line: it goes back into the van, its fit is voided.
    commit_lines(store.as_ref(), job, vec![line(l, &sku, van, 1, &["SN-1"])]).await;
    let fits = store.serial_fits().await.unwrap();
    assert!(
        fits.iter()
            .find(|f| f.serial == "SN-X")
            .unwrap()
            .voided_at
            .is_some()
    );
    assert!(
        fits.iter()
            .find(|f| f.serial == "SN-1")
            .unwrap()
            .voided_at
            .is_none()
    );
    let units = store.serial_units(None).await.unwrap();
    let x = units.iter().find(|u| u.serial == "SN-X").unwrap();
    assert_eq!((x.location_id, x.job_id), (Some(van), None));
    assert!(
        store
            .serial_units(Some(&"OTHER-1".parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
}

/// `van_stock` (what a van refresh reads) returns that van's balances and
/// units, the same rows as the company-wide lists filtered to it.
async fn one_van_stock_is_that_van_only(url: &str) {
    let store = open(url).await;
    let depot = location(store.as_ref(), LocationKind::Depot, None).await;
    let van = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let van2 = location(store.as_ref(), LocationKind::Van, Some(depot)).await;
    let sku = part(store.as_ref(), "PUMP-9", true).await;
    let mut r = movement(MovementKind::Receipt, &sku, 4, None, Some(depot));
    r.serials = vec!["SN-1".into(), "SN-2".into(), "SN-3".into(), "SN-4".into()];
    store.record_movement(&r).await.unwrap().unwrap();
    for (to, serials) in [(van, vec!["SN-1", "SN-2"]), (van2, vec!["SN-3"])] {
        let mut t = movement(
            MovementKind::Transfer,
            &sku,
            serials.len() as i64,
            Some(depot),
            Some(to),
        );
        t.serials = serials.into_iter().map(String::from).collect();
        store.record_movement(&t).await.unwrap().unwrap();
    }

    let all_balances = store.balances().await.unwrap();
    let all_units = store.serial_units(None).await.unwrap();
    for (van, quantity, serials) in [(van, 2, vec!["SN-1", "SN-2"]), (van2, 1, vec!["SN-3"])] {
        let stock = store.van_stock(van).await.unwrap().expect("a van");
        assert_eq!(
            stock.balances,
            vec![Balance {
                location_id: van,
                sku: sku.clone(),
                quantity
            }]
        );
        let held: Vec<&str> = stock.serials.iter().map(|u| u.serial.as_str()).collect();
        assert_eq!(held, serials);
        assert!(stock.serials.iter().all(|u| u.location_id == Some(van)));
        let expected: Vec<Balance> = all_balances
            .iter()
            .filter(|b| b.location_id == van)
            .cloned()
            .collect();
        assert_eq!(stock.balances, expected);
        let expected: Vec<&SerialUnit> = all_units
            .iter()
            .filter(|u| u.location_id == Some(van))
            .collect();
        assert_eq!(stock.serials.iter().collect::<Vec<_>>(), expected);
    }

    // Emptied: no zero-quantity rows, no units.
    let mut back = movement(MovementKind::Transfer, &sku, 1, Some(van2), Some(depot));
    back.serials = vec!["SN-3".into()];
    store.record_movement(&back).await.unwrap().unwrap();
    assert_eq!(
        store.van_stock(van2).await.unwrap(),
        Some(LocationStock::default())
    );
    assert_eq!(store.van_stock(depot).await.unwrap(), None, "a depot");
    assert_eq!(
        store
            .van_stock(LocationId::from_uuid(Uuid::new_v4()))
            .await
            .unwrap(),
        None,
        "no such location"
    );
}

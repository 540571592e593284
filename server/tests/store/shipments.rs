//! Shipments to customers ([`fieldsync_server::shipments::ShipmentStore`]):
//! an order is stored once by its id; each step appends its movement once,
//! in the same transaction as the status, so the balances (depot, transit)
//! always equal the movements; a refused step writes nothing; two
//! dispatches racing for the last units never take them twice.

use std::sync::Arc;

use fieldsync_core::{LocationId, Role, Sku, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::customers::model::*;
use fieldsync_server::inventory::{
    Balance, Location, LocationKind, MovementFilter, MovementKind, NewMovement, Part,
};
use fieldsync_server::shipments::model::*;
use fieldsync_server::shipments::store::{Ordered, StepRefused, Stepped};
use uuid::Uuid;

use crate::core::user;
use crate::{now, open};

conformance_tests!(
    an_order_is_stored_once_by_its_id,
    steps_move_the_ledger_once_each,
    racing_dispatches_never_take_the_same_units_twice,
);

struct World {
    store: Arc<dyn AppStore>,
    depot: LocationId,
    customer: Uuid,
    site: Uuid,
    actor: UserId,
}

fn valve() -> Sku {
    "VALVE-22".parse().unwrap()
}

/// A depot holding 5 VALVE-22, and a customer with one site.
async fn world(url: &str) -> World {
    let store = open(url).await;
    let actor = user(store.as_ref(), "mgr", Role::InventoryManager).await.id;
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
            sku: valve(),
            name: "Valve".into(),
            unit_cost_minor: 700,
            serialized: false,
        })
        .await
        .unwrap();
    let receipt = NewMovement {
        id: Uuid::new_v4(),
        kind: MovementKind::Receipt,
        sku: valve(),
        quantity: 5,
        from: None,
        to: Some(depot),
        reason: None,
        serials: Vec::new(),
        job_id: None,
        line_id: None,
        note: String::new(),
        actor: Some(actor),
    };
    store.record_movement(&receipt).await.unwrap().unwrap();
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
    World {
        store,
        depot,
        customer: customer.id,
        site: site.id,
        actor,
    }
}

fn shipment(w: &World, quantity: i64) -> Shipment {
    let t = now();
    Shipment {
        id: Uuid::new_v4(),
        customer_id: w.customer,
        site_id: w.site,
        depot_id: w.depot,
        sku: valve(),
        quantity,
        serials: Vec::new(),
        job_id: None,
        note: String::new(),
        status: ShipmentStatus::Ordered,
        tracking: None,
        ordered_by: w.actor,
        ordered_at: t,
        picked_at: None,
        dispatched_at: None,
        delivered_at: None,
        cancelled_at: None,
        updated_at: t,
    }
}

/// (depot, transit) on hand, after checking balances equal the movements.
async fn on_hand(w: &World) -> (i64, i64) {
    let balances = w.store.balances().await.unwrap();
    assert_eq!(balances, w.store.balances_from_movements().await.unwrap());
    let at = |l: LocationId| {
        balances
            .iter()
            .find(|b: &&Balance| b.location_id == l && b.sku == valve())
            .map_or(0, |b| b.quantity)
    };
    (at(w.depot), at(transit_of(w.depot)))
}

async fn an_order_is_stored_once_by_its_id(url: &str) {
    let w = world(url).await;
    let s = shipment(&w, 2);
    let Ordered::Created(stored) = w.store.order_shipment(&s).await.unwrap() else {
        panic!("created");
    };
    assert_eq!(stored.status, ShipmentStatus::Ordered);
    assert_eq!((stored.id, stored.quantity), (s.id, 2));
    let mut later = s.clone();
    later.ordered_at += time::Duration::seconds(5);
    assert_eq!(
        w.store.order_shipment(&later).await.unwrap(),
        Ordered::Replayed(stored.clone()),
        "a retry (its own clock) is the stored order"
    );
    let other = Shipment {
        quantity: 3,
        ..s.clone()
    };
    assert_eq!(
        w.store.order_shipment(&other).await.unwrap(),
        Ordered::IdReused
    );
    assert_eq!(w.store.shipment(s.id).await.unwrap(), Some(stored));
    assert_eq!(on_hand(&w).await, (5, 0), "ordering moves nothing");
}

async fn steps_move_the_ledger_once_each(url: &str) {
    let w = world(url).await;
    let st = w.store.as_ref();
    let s = shipment(&w, 2);
    st.order_shipment(&s).await.unwrap();
    let refused = st
        .step_shipment(s.id, Step::Deliver, None, w.actor)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(StepRefused::NotNow(_))),
        "{refused:?}"
    );
    let t = Tracking {
        carrier: "CTT".into(),
        reference: "EA1".into(),
    };
    for round in 0..2 {
        let out = st
            .step_shipment(s.id, Step::Dispatch, Some(&t), w.actor)
            .await
            .unwrap()
            .unwrap();
        match (round, &out) {
            (0, Stepped::Applied(x)) | (1, Stepped::Replayed(x)) => {
                assert_eq!(x.status, ShipmentStatus::InTransit);
                assert_eq!(x.tracking.as_ref(), Some(&t));
                assert!(x.dispatched_at.is_some());
            }
            _ => panic!("round {round}: {out:?}"),
        }
        assert_eq!(on_hand(&w).await, (3, 2), "round {round}");
    }
    let transit = st
        .locations()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.id == transit_of(w.depot))
        .unwrap();
    assert_eq!(transit.kind, LocationKind::Transit);
    assert_eq!(transit.depot_id, Some(w.depot));
    for _ in 0..2 {
        st.step_shipment(s.id, Step::Deliver, None, w.actor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(on_hand(&w).await, (3, 0));
    }
    let moves = st
        .movements(&MovementFilter {
            sku: Some(valve()),
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<MovementKind> = moves.iter().map(|m| m.movement.kind).collect();
    assert_eq!(
        kinds,
        [
            MovementKind::Delivery,
            MovementKind::Shipment,
            MovementKind::Receipt
        ]
    );
    assert_eq!(moves[0].movement.id, s.movement_id(Move::Deliver));
    let refused = st
        .step_shipment(s.id, Step::Cancel, None, w.actor)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(StepRefused::NotNow(_))),
        "{refused:?}"
    );
    let refused = st.set_tracking(s.id, &t).await.unwrap();
    assert!(
        matches!(refused, Err(StepRefused::NotNow(_))),
        "{refused:?}"
    );

    // Cancelled after dispatch: the units come back.
    let c = shipment(&w, 3);
    st.order_shipment(&c).await.unwrap();
    st.step_shipment(c.id, Step::Dispatch, None, w.actor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on_hand(&w).await, (0, 3));
    let done = st
        .step_shipment(c.id, Step::Cancel, None, w.actor)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(done, Stepped::Applied(ref x) if x.status == ShipmentStatus::Cancelled));
    assert_eq!(on_hand(&w).await, (3, 0));

    // More than the shelf holds: refused, nothing written.
    let big = shipment(&w, 4);
    st.order_shipment(&big).await.unwrap();
    let refused = st
        .step_shipment(big.id, Step::Dispatch, None, w.actor)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(StepRefused::NotInStock(_))),
        "{refused:?}"
    );
    assert_eq!(
        st.shipment(big.id).await.unwrap().unwrap().status,
        ShipmentStatus::Ordered
    );
    assert_eq!(on_hand(&w).await, (3, 0));
    let missing = st
        .step_shipment(Uuid::new_v4(), Step::Pick, None, w.actor)
        .await
        .unwrap();
    assert_eq!(missing, Err(StepRefused::NotFound));
}

async fn racing_dispatches_never_take_the_same_units_twice(url: &str) {
    let w = world(url).await;
    // Five shipments of 2 from a shelf of 5: two can leave, the rest wait.
    let mut orders = Vec::new();
    for _ in 0..5 {
        let s = shipment(&w, 2);
        w.store.order_shipment(&s).await.unwrap();
        orders.push(s.id);
    }
    let mut tasks = Vec::new();
    for id in orders {
        let store = w.store.clone();
        let actor = w.actor;
        tasks.push(tokio::spawn(async move {
            store
                .step_shipment(id, Step::Dispatch, None, actor)
                .await
                .unwrap()
        }));
    }
    let mut sent = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Stepped::Applied(_)) => sent += 1,
            Err(StepRefused::NotInStock(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 2);
    assert_eq!(on_hand(&w).await, (1, 4));
}

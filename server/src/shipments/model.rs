//! A shipment's values and its rules, without the database: the steps a
//! shipment may take from each status, and the ledger movement each step
//! appends (ids derived from the shipment and the step, so a retried step
//! appends nothing twice).

use fieldsync_core::{JobId, LocationId, Sku, UserId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::inventory::model::MovementKind;
use crate::str_enum::str_enum;

str_enum!(
    /// Where a shipment stands. `ordered` and `picked` hold no stock of
    /// their own (the units are still on the depot's shelf); `in_transit`
    /// units are in the depot's transit holding; `delivered` units are at
    /// the customer's site (out of stock); `cancelled` returned them.
    ShipmentStatus {
        Ordered = "ordered",
        Picked = "picked",
        InTransit = "in_transit",
        Delivered = "delivered",
        Cancelled = "cancelled",
    }
);

crate::sql_text!(ShipmentStatus);

/// What the shipping team does to a shipment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Pick,
    Dispatch,
    Deliver,
    Cancel,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Pick => "picked",
            Step::Dispatch => "dispatched",
            Step::Deliver => "delivered",
            Step::Cancel => "cancelled",
        }
    }
}

/// The ledger side of a step: which holding the units leave and enter.
/// The discriminants go into movement ids: never renumber them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// depot -> transit
    Ship = 1,
    /// transit -> the customer's site (out of stock)
    Deliver = 2,
    /// transit -> depot
    Return = 3,
}

impl Move {
    pub fn kind(self) -> MovementKind {
        match self {
            Move::Ship => MovementKind::Shipment,
            Move::Deliver => MovementKind::Delivery,
            Move::Return => MovementKind::ShipmentCancel,
        }
    }
}

/// What a step does from a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Moves to `to`, appending `movement` to the ledger if any.
    Go {
        to: ShipmentStatus,
        movement: Option<Move>,
    },
    /// Already done (a retry): nothing changes.
    Done,
}

/// Why a step cannot be taken from a status (a 409).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the shipment is {status}: it cannot be {step}")]
pub struct NotNow {
    pub status: ShipmentStatus,
    pub step: &'static str,
}

/// The rules: ordered -> picked -> in transit -> delivered; picking is
/// optional; cancelling before delivery returns dispatched units.
pub fn plan(status: ShipmentStatus, step: Step) -> Result<Plan, NotNow> {
    use ShipmentStatus as S;
    let go = |to, movement| Ok(Plan::Go { to, movement });
    match (status, step) {
        (S::Ordered, Step::Pick) => go(S::Picked, None),
        (S::Picked, Step::Pick) => Ok(Plan::Done),
        (S::Ordered | S::Picked, Step::Dispatch) => go(S::InTransit, Some(Move::Ship)),
        (S::InTransit, Step::Dispatch) => Ok(Plan::Done),
        (S::InTransit, Step::Deliver) => go(S::Delivered, Some(Move::Deliver)),
        (S::Delivered, Step::Deliver) => Ok(Plan::Done),
        (S::Ordered | S::Picked, Step::Cancel) => go(S::Cancelled, None),
        (S::InTransit, Step::Cancel) => go(S::Cancelled, Some(Move::Return)),
        (S::Cancelled, Step::Cancel) => Ok(Plan::Done),
        (status, step) => Err(NotNow {
            status,
            step: step.name(),
        }),
    }
}

/// Where a shipment is tracked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tracking {
    pub carrier: String,
    pub reference: String,
}

/// A shipment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Shipment {
    /// Chosen by the client: the idempotency key.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: Uuid,
    /// The depot the part leaves from.
    #[schema(value_type = String, format = Uuid)]
    pub depot_id: LocationId,
    #[schema(value_type = String)]
    pub sku: Sku,
    pub quantity: i64,
    /// For a serialized part: the units shipped, one per unit.
    pub serials: Vec<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub job_id: Option<JobId>,
    pub note: String,
    pub status: ShipmentStatus,
    pub tracking: Option<Tracking>,
    #[schema(value_type = String, format = Uuid)]
    pub ordered_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ordered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub picked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub dispatched_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl Shipment {
    /// SHA-256 of what was ordered (not of its progress): a retry with the
    /// same id must carry the same order.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [
            self.customer_id.to_string(),
            self.site_id.to_string(),
            self.depot_id.to_string(),
            self.sku.to_string(),
            self.quantity.to_string(),
            self.serials.join("\u{1f}"),
            self.job_id.map(|j| j.to_string()).unwrap_or_default(),
            self.note.clone(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// The id of this shipment's ledger movement for `m`: the same on
    /// every retry.
    pub fn movement_id(&self, m: Move) -> Uuid {
        let mut h = Sha256::new();
        h.update(b"fieldsync/shipment-movement/");
        h.update(self.id.as_bytes());
        h.update([m as u8]);
        let d: [u8; 32] = h.finalize().into();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    /// Whether the tracking reference may still change.
    pub fn tracking_editable(&self) -> bool {
        matches!(
            self.status,
            ShipmentStatus::Ordered | ShipmentStatus::Picked | ShipmentStatus::InTransit
        )
    }
}

/// The id of a depot's transit holding ("in transit to customers"): one
/// per depot, derived from its id so every server makes the same one.
pub fn transit_of(depot: LocationId) -> LocationId {
    let mut h = Sha256::new();
    h.update(b"fieldsync/transit-holding/");
    h.update(depot.as_uuid().as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    LocationId::from_uuid(uuid::Builder::from_random_bytes(b).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus as S;

    #[test]
    fn each_step_moves_the_units_once() {
        assert_eq!(
            plan(S::Ordered, Step::Dispatch),
            Ok(Plan::Go {
                to: S::InTransit,
                movement: Some(Move::Ship)
            })
        );
        assert_eq!(
            plan(S::Picked, Step::Dispatch),
            Ok(Plan::Go {
                to: S::InTransit,
                movement: Some(Move::Ship)
            })
        );
        assert_eq!(plan(S::InTransit, Step::Dispatch), Ok(Plan::Done));
        assert_eq!(
            plan(S::InTransit, Step::Deliver),
            Ok(Plan::Go {
                to: S::Delivered,
                movement: Some(Move::Deliver)
            })
        );
        assert_eq!(plan(S::Delivered, Step::Deliver), Ok(Plan::Done));
        assert_eq!(
            plan(S::Ordered, Step::Cancel),
            Ok(Plan::Go {
                to: S::Cancelled,
                movement: None
            }),
            "nothing left the shelf"
        );
        assert_eq!(
            plan(S::InTransit, Step::Cancel),
            Ok(Plan::Go {
                to: S::Cancelled,
                movement: Some(Move::Return)
            })
        );
    }

    #[test]
    fn finished_shipments_refuse_other_steps() {
        for step in [Step::Pick, Step::Dispatch, Step::Cancel] {
            assert!(plan(S::Delivered, step).is_err(), "{step:?}");
        }
        for step in [Step::Pick, Step::Dispatch, Step::Deliver] {
            assert!(plan(S::Cancelled, step).is_err(), "{step:?}");
        }
        assert!(plan(S::Ordered, Step::Deliver).is_err(), "not dispatched");
        assert!(plan(S::InTransit, Step::Pick).is_err());
        assert_eq!(
            plan(S::Delivered, Step::Cancel).unwrap_err().to_string(),
            "the shipment is delivered: it cannot be cancelled"
        );
    }

    #[test]
    fn movement_ids_are_stable_and_distinct() {
        let depot = LocationId::from_uuid(Uuid::from_bytes([1; 16]));
        assert_eq!(transit_of(depot), transit_of(depot));
        assert_ne!(transit_of(depot), depot);
        let s = Shipment {
            id: Uuid::from_bytes([2; 16]),
            customer_id: Uuid::from_bytes([3; 16]),
            site_id: Uuid::from_bytes([4; 16]),
            depot_id: depot,
            sku: "PUMP-7".parse().unwrap(),
            quantity: 1,
            serials: vec!["SN-2".into()],
            job_id: None,
            note: String::new(),
            status: S::Ordered,
            tracking: None,
            ordered_by: UserId::from_bytes([5; 16]),
            ordered_at: OffsetDateTime::UNIX_EPOCH,
            picked_at: None,
            dispatched_at: None,
            delivered_at: None,
            cancelled_at: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let ids = [Move::Ship, Move::Deliver, Move::Return].map(|m| s.movement_id(m));
        assert_eq!(ids[0], s.movement_id(Move::Ship));
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    }
}

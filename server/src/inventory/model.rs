//! Inventory values: plain data shared by the store, the API and the console.

use fieldsync_core::{JobId, LineId, LocationId, Sku, UserId};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::str_enum::str_enum;

str_enum!(
    /// A depot (warehouse), a technician's van, or a depot's holding of
    /// parts in transit to customers (made by `shipments`, never by a client).
    LocationKind { Depot = "depot", Van = "van", Transit = "transit" }
);

str_enum!(
    /// What a stock movement records.
    MovementKind {
        Receipt = "receipt",
        Transfer = "transfer",
        Consumption = "consumption",
        Return = "return",
        Adjustment = "adjustment",
        // Out of a location's available stock, held back by a recall
        // campaign (recorded by `recalls`, never by a client).
        Quarantine = "quarantine",
        // A shipment to a customer: depot -> transit at dispatch, transit ->
        // the customer's site at delivery, transit -> depot when cancelled
        // (recorded by `shipments`, never by a client).
        Shipment = "shipment",
        Delivery = "delivery",
        ShipmentCancel = "shipment_cancel",
    }
);

str_enum!(
    /// Why stock was adjusted.
    AdjustReason { CycleCount = "cycle_count", Damage = "damage", Loss = "loss" }
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub id: LocationId,
    pub kind: LocationKind,
    pub name: String,
    /// The depot a van belongs to.
    pub depot_id: Option<LocationId>,
    /// The technician a van is assigned to.
    pub technician_id: Option<UserId>,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub sku: Sku,
    pub name: String,
    pub unit_cost_minor: i64,
    pub serialized: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReorderRule {
    pub location_id: LocationId,
    pub sku: Sku,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
}

/// One ledger entry to append. Units leave `from` and arrive at `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMovement {
    /// Chosen by the client: the idempotency key.
    pub id: Uuid,
    pub kind: MovementKind,
    pub sku: Sku,
    /// Always positive; the direction is `from` -> `to`.
    pub quantity: i64,
    pub from: Option<LocationId>,
    pub to: Option<LocationId>,
    pub reason: Option<AdjustReason>,
    /// For serialized parts: the units moved (one per unit for manual movements).
    pub serials: Vec<String>,
    pub job_id: Option<JobId>,
    pub line_id: Option<LineId>,
    pub note: String,
    pub actor: Option<UserId>,
}

impl NewMovement {
    /// SHA-256 of everything but the id and actor: a retry with the same id
    /// must carry the same content.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let opt = |o: Option<String>| o.unwrap_or_default();
        for part in [
            self.kind.as_str().to_owned(),
            self.sku.to_string(),
            self.quantity.to_string(),
            opt(self.from.map(|l| l.to_string())),
            opt(self.to.map(|l| l.to_string())),
            opt(self.reason.map(|r| r.as_str().to_owned())),
            self.serials.join("\u{1f}"),
            opt(self.job_id.map(|j| j.to_string())),
            opt(self.line_id.map(|l| l.to_string())),
            self.note.clone(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

/// A stored movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub movement: NewMovement,
    pub created_at: OffsetDateTime,
}

/// What recording a movement did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Appended now.
    Applied(Movement),
    /// The same id with the same content was recorded before: nothing changed.
    Replayed(Movement),
}

impl Recorded {
    pub fn movement(&self) -> &Movement {
        match self {
            Recorded::Applied(m) | Recorded::Replayed(m) => m,
        }
    }
}

/// Why a movement was refused (nothing was written).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("movement id {0} was already used for a different movement")]
    IdReused(Uuid),
    #[error("unknown sku {0}")]
    UnknownSku(Sku),
    #[error("unknown location {0}")]
    UnknownLocation(LocationId),
    #[error("{0}")]
    Invalid(String),
}

/// Stock on hand of one sku at one location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Balance {
    pub location_id: LocationId,
    pub sku: Sku,
    pub quantity: i64,
}

/// Where a serialized unit is: at a location, or fitted on a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialUnit {
    pub sku: Sku,
    pub serial: String,
    pub location_id: Option<LocationId>,
    pub job_id: Option<JobId>,
    pub line_id: Option<LineId>,
    pub updated_at: OffsetDateTime,
}

/// What one location holds: its non-zero balances and the serialized units in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationStock {
    pub balances: Vec<Balance>,
    pub serials: Vec<SerialUnit>,
}

/// A part line fitting a serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialFit {
    pub sku: Sku,
    pub serial: String,
    pub line_id: LineId,
    pub job_id: JobId,
    pub van_id: LocationId,
    /// Where the ledger had the unit when it was fitted (None: nowhere).
    pub found_at: Option<LocationId>,
    /// Whether the ledger knew the serial at all.
    pub known: bool,
    pub fitted_at: OffsetDateTime,
    pub voided_at: Option<OffsetDateTime>,
}

/// A job part line as the ledger has applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedLine {
    pub line_id: LineId,
    pub job_id: JobId,
    pub van_id: LocationId,
    pub sku: Sku,
    /// Units taken (0 once voided).
    pub quantity: i64,
    pub serials: Vec<String>,
    /// How many ledger corrections this line has had (1 = first consumption).
    pub revision: i64,
    /// Why the line could not be applied (`unknown_van`, `unknown_sku`).
    pub problem: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// Filters for listing movements; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct MovementFilter {
    /// Movements into or out of any of these locations.
    pub locations: Option<Vec<LocationId>>,
    pub sku: Option<Sku>,
    pub job_id: Option<JobId>,
    /// Movements of this serialized unit (with `sku`).
    pub serial: Option<String>,
    pub limit: Option<u32>,
}

/// The part lines of one merged job, for [`crate::store::DocCommit::consumption`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobConsumption {
    pub job_id: JobId,
    pub lines: Vec<ConsumedLine>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedLine {
    pub line_id: LineId,
    pub sku: Sku,
    pub van: LocationId,
    /// 0 for a voided line.
    pub quantity: i64,
    pub serials: Vec<String>,
}

/// The deterministic id of the `revision`-th ledger movement of a part
/// line, so that replays of the same job state add nothing.
pub fn line_movement_id(line: LineId, revision: i64) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"fieldsync/part-line-movement/");
    h.update(line.as_uuid().as_bytes());
    h.update(revision.to_be_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// Serial lists are stored as JSON text.
pub(crate) fn serials_json(s: &[String]) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

pub(crate) fn serials_from_json(s: &str) -> Result<Vec<String>, serde_json::Error> {
    serde_json::from_str(s)
}

//! Return values: plain data shared by the store, the API and the console.

use fieldsync_core::job::ReturnCondition;
use fieldsync_core::{JobId, LocationId, Sku, UserId};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::str_enum::str_enum;

str_enum!(
    /// Where a return stands.
    ReturnStatus { Open = "open", Received = "received" }
);

str_enum!(
    /// What the depot does with a returned unit.
    Disposition { Restock = "restock", Refurbish = "refurbish", Scrap = "scrap" }
);

crate::sql_text!(ReturnStatus, Disposition);

/// A return to store: from a job's projection or the office's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReturn {
    pub id: Uuid,
    pub sku: Sku,
    pub serial: String,
    pub reason: String,
    pub condition: ReturnCondition,
    pub job_id: Option<JobId>,
    pub customer_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    /// Where the unit goes; `None` when no depot is known yet (a technician
    /// without a van).
    pub depot_id: Option<LocationId>,
    pub opened_by: UserId,
}

impl NewReturn {
    /// SHA-256 of the content: a retry with the same id must carry the same.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let opt = |o: Option<String>| o.unwrap_or_default();
        for part in [
            self.sku.to_string(),
            self.serial.clone(),
            self.reason.clone(),
            self.condition.as_str().to_owned(),
            opt(self.job_id.map(|j| j.to_string())),
            opt(self.customer_id.map(|j| j.to_string())),
            opt(self.asset_id.map(|j| j.to_string())),
            opt(self.depot_id.map(|j| j.to_string())),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

/// A stored return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRow {
    pub ret: NewReturn,
    pub rma_number: String,
    pub opened_at: OffsetDateTime,
    pub status: ReturnStatus,
    pub disposition: Option<Disposition>,
    pub received_by: Option<UserId>,
    pub received_at: Option<OffsetDateTime>,
    pub movement_id: Option<Uuid>,
}

/// What storing a return did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    Created(ReturnRow),
    /// The same id with the same content: a retry.
    Replayed(ReturnRow),
    IdReused,
}

/// A depot's receipt of a returned unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub return_id: Uuid,
    /// The ledger movement's id, chosen by the client: the idempotency key.
    pub movement_id: Uuid,
    pub depot_id: LocationId,
    pub disposition: Disposition,
    pub actor: UserId,
}

/// Why a receipt was refused (nothing was written).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptRefused {
    #[error("the return was received already with other details")]
    AlreadyReceived,
    #[error("{0}")]
    Ledger(#[from] crate::inventory::Refused),
}

/// One event of a return's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnEvent {
    pub event: String,
    pub detail: String,
    pub actor_id: Option<UserId>,
    pub at: OffsetDateTime,
}

/// The movement that holds a refurbish or scrap unit off the sellable
/// balance, derived from the receipt's movement id (so a retry adds none).
pub fn hold_movement_id(receipt: Uuid) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"fieldsync/return-hold/");
    h.update(receipt.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

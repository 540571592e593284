//! The plain Rust view of one work order, as read from its automerge document.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::plain::FieldValue;
use crate::ids::{Email, JobId, LineId, LocationId, Money, Quantity, Sku, Timestamp, UserId};
use crate::role::Role;
use crate::status::Status;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    /// Server time at creation.
    pub created_at: Timestamp,
    pub customer: Customer,
    pub site: Site,
    pub asset: Asset,
    pub problem: String,
    pub priority: Priority,
    pub window: Window,
    pub technician: Option<UserId>,
    /// The effective status (see [`crate::status`] for the conflict rule).
    pub status: Status,
    /// Concurrent status values that lost to `status`, for the office to see.
    pub status_conflicts: Vec<Status>,
    pub status_history: Vec<StatusChange>,
    pub labour: Vec<LabourEntry>,
    pub parts: Vec<PartLine>,
    /// Free text that merges both sides' concurrent edits.
    pub notes: String,
    pub checklist: Vec<ChecklistItem>,
    pub payments: Vec<Payment>,
    pub signature: Option<Signature>,
    pub cancel_reason: Option<String>,
    pub unable_reason: Option<String>,
    /// Files the technician attached (schema 2; empty on older jobs).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Fields written concurrently with different values (the window, the
    /// priority, the details, checklist answers): the shown value and the
    /// ones that lost, for the office to see and settle
    /// ([`super::conflicts`]). Status conflicts are in `status_conflicts`.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
    /// The registry records `customer`, `site` and `asset` were copied
    /// from, when the office created the job from them.
    #[serde(default)]
    pub registry: Registry,
    /// The warranty extension sold on this visit, if any
    /// ([`crate::warranty`]): one per job, billed as an invoice line, and
    /// added to the asset's warranty by the server once the job completes.
    #[serde(default)]
    pub warranty_extension: Option<ExtensionSale>,
    /// Plain fields, by key: those whose schema entry declares their value
    /// and that have no field of their own above ([`super::plain`]; read
    /// them with [`Job::field`], [`Job::text`], [`Job::flag`],
    /// [`Job::records`], ...). A scalar that is unset is absent; a list is
    /// always there (empty when the job has none or predates it).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldValue>,
    /// The recall campaign the job is for ([`super::recall`]).
    #[serde(default)]
    pub recall: Option<super::RecallNotice>,
    /// The remedy the technician recorded for that recall.
    #[serde(default)]
    pub recall_remedy: Option<super::RecallRemedy>,
    /// Returns opened on the visit, with their RMA numbers once the server
    /// gave them (schema 4; empty on older jobs).
    #[serde(default)]
    pub returns: Vec<super::ReturnLine>,
    /// Refunds and credit notes given on the job ([`super::refund`];
    /// schema 3, empty on older jobs).
    #[serde(default)]
    pub refunds: Vec<super::Refund>,
    /// The invoice the server issued when the job completed: numbered and
    /// frozen ([`super::invoice`]; schema 5, `None` until the server's
    /// write reaches this copy).
    #[serde(default)]
    pub invoice: Option<super::IssuedInvoice>,
}

/// Ids of the server's customer registry (an account, one of its sites,
/// an installed asset). The job keeps a snapshot of each for offline work;
/// these say which record it is, so the server can list an asset's visits
/// and refresh the snapshot. Each is the `id` key of its map; jobs written
/// before the registry read as `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub customer: Option<uuid::Uuid>,
    pub site: Option<uuid::Uuid>,
    pub asset: Option<uuid::Uuid>,
    /// The registry asset's product (the `sku` key of the asset map,
    /// written with its id): which warranty extension offers fit it.
    /// `None` for jobs made without a registry asset, or before it was kept.
    #[serde(default)]
    pub asset_sku: Option<Sku>,
}

/// A warranty extension sold on a job, as the job records it: the offer
/// and the terms quoted from the price book (months and price before tax),
/// who sold it and their clock (shown only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionSale {
    /// The price book's offer code.
    pub offer: String,
    pub months: u32,
    /// Price before tax, minor units, as quoted.
    pub price: Money,
    pub by: UserId,
    pub device_time: Timestamp,
}

/// One field that holds concurrent values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Its path: `/window`, `/priority`, `/problem`, `/customer/name`,
    /// `/site/address`, `/asset/serial`, ..., `/answers/{checklist item id}`.
    pub field: String,
    /// Every value, the one the job shows first.
    pub values: Vec<ConflictValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// As JSON: a string, number, boolean or null; the window as
    /// `{"start": ms, "end": ms}`; an answer as its text.
    pub value: serde_json::Value,
    /// The automerge actor (hex) whose change wrote it: a device, or an
    /// office user's API edits ([`crate::actors::office_actor`]). The
    /// server's job API says whose.
    pub actor: String,
    /// The user the value names as its writer: the one an answer records,
    /// or the office user whose API edit wrote it.
    pub by: Option<UserId>,
}

impl Job {
    /// Part lines that count (not voided).
    pub fn active_parts(&self) -> impl Iterator<Item = &PartLine> {
        self.parts.iter().filter(|p| !p.voided)
    }

    /// What completion requires: a signature, at least one labour entry or
    /// part line, and every required checklist item answered
    /// ([`crate::rules::unanswered_required`]).
    pub fn completion_blocker(&self) -> Option<Cow<'static, str>> {
        let unanswered = crate::rules::unanswered_required(self).count();
        if self.signature.is_none() {
            Some("completion needs the customer's signature".into())
        } else if self.active_labour().next().is_none() && self.active_parts().next().is_none() {
            Some("completion needs at least one labour entry or part line".into())
        } else if unanswered > 0 {
            Some(
                format!(
                    "completion needs every required checklist item answered ({unanswered} unanswered)"
                )
                .into(),
            )
        } else {
            None
        }
    }

    /// Labour entries that count (not voided).
    pub fn active_labour(&self) -> impl Iterator<Item = &LabourEntry> {
        self.labour.iter().filter(|l| !l.voided)
    }

    pub fn part(&self, line: LineId) -> Option<&PartLine> {
        self.parts.iter().find(|p| p.id == line)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<String>,
    /// The customer asked not to receive feedback requests.
    #[serde(default)]
    pub feedback_opt_out: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub product: String,
    pub serial: Option<String>,
    /// Last day (UTC) the manufacturer's warranty covers.
    pub warranty_end: Option<Date>,
    /// Service contract reference, looked up in the price book's contracts.
    pub contract_ref: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The appointment window agreed with the customer (server-trusted times).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self, crate::error::InvalidValue> {
        if end < start {
            return Err(crate::error::InvalidValue::new(
                "window",
                "end is before start",
            ));
        }
        Ok(Self { start, end })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub from: Option<Status>,
    pub to: Status,
    pub by: UserId,
    pub role: Role,
    /// The writer's clock: shown, never used for ordering or billing.
    pub device_time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabourEntry {
    pub id: LineId,
    pub by: UserId,
    pub minutes: u32,
    /// A labour rate code from the price book (e.g. `standard`, `overtime`).
    pub rate: String,
    pub description: String,
    /// Voided, never deleted: a typo is corrected by a new entry.
    #[serde(default)]
    pub voided: bool,
    pub device_time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartLine {
    pub id: LineId,
    pub by: UserId,
    pub sku: Sku,
    pub quantity: Quantity,
    /// One serial per unit for serialized parts, empty otherwise.
    pub serials: Vec<String>,
    /// The van the parts were taken from.
    pub van: LocationId,
    /// Lines are voided, never deleted, so the ledger can reverse them.
    pub voided: bool,
    pub device_time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: LineId,
    pub question: String,
    pub required: bool,
    /// How the item is answered (text when the office said nothing).
    #[serde(default)]
    pub kind: ChecklistKind,
    pub answer: Option<ChecklistAnswer>,
}

/// How a checklist item is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecklistKind {
    /// Free text (`yes`, `1.5 bar`).
    #[default]
    Text,
    /// A photo: the answer is the id of an image attachment of the job
    /// ([`crate::rules::photo_answer`]).
    Photo,
}

impl ChecklistKind {
    pub const ALL: [ChecklistKind; 2] = [ChecklistKind::Text, ChecklistKind::Photo];

    pub fn as_str(self) -> &'static str {
        match self {
            ChecklistKind::Text => "text",
            ChecklistKind::Photo => "photo",
        }
    }

    pub fn parse(s: &str) -> Option<ChecklistKind> {
        ChecklistKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChecklistAnswer {
    pub value: String,
    pub by: UserId,
    pub device_time: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
    Cheque,
    BankTransfer,
    Other,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 5] = [
        PaymentMethod::Cash,
        PaymentMethod::Card,
        PaymentMethod::Cheque,
        PaymentMethod::BankTransfer,
        PaymentMethod::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::Cheque => "cheque",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Money collected on site. Only method, amount and a reference: never a card number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: LineId,
    pub by: UserId,
    pub method: PaymentMethod,
    pub amount: Money,
    pub reference: Option<String>,
    pub device_time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub signer: String,
    /// SHA-256 of the signature image, lower-case hex; the image travels separately.
    pub image_sha256: String,
    pub by: UserId,
    pub device_time: Timestamp,
}

/// A file attached to the job: a reference only; the bytes travel separately,
/// content-addressed by their SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: LineId,
    pub by: UserId,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `type/subtype`, e.g. `image/jpeg`.
    pub media_type: String,
    pub kind: AttachmentKind,
    /// May be empty.
    pub caption: String,
    /// The writer's clock when the file was taken: shown, never used for ordering.
    pub taken_at: Timestamp,
}

/// What an attachment shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Before,
    After,
    SerialPlate,
    Signature,
    Document,
}

impl AttachmentKind {
    pub const ALL: [AttachmentKind; 5] = [
        AttachmentKind::Before,
        AttachmentKind::After,
        AttachmentKind::SerialPlate,
        AttachmentKind::Signature,
        AttachmentKind::Document,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Before => "before",
            AttachmentKind::After => "after",
            AttachmentKind::SerialPlate => "serial_plate",
            AttachmentKind::Signature => "signature",
            AttachmentKind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<AttachmentKind> {
        AttachmentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

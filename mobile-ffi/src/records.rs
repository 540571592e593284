//! The plain records the app reads (Kotlin data classes, Swift structs).
//! Money is in integer minor units, times are UTC milliseconds since the
//! epoch, ids are UUID strings, statuses and codes are snake_case strings.

use fieldsync_core::billing::{Coverage, Invoice, LineKind};
use fieldsync_core::job::{FieldValue, Job, StatusChange};

/// Who is logged in on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionInfo {
    /// Base URL of the server, when the built-in HTTP transport logged in.
    pub server_url: Option<String>,
    pub user_id: String,
    pub username: String,
    /// `technician`, `dispatcher`, ...
    pub role: String,
    pub device_id: String,
    pub access_expires_at_ms: i64,
}

/// A session obtained by the app itself (when it does its own HTTP).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionTokens {
    pub server_url: Option<String>,
    pub access_token: String,
    pub expires_in_secs: u64,
    pub refresh_token: String,
    pub device_id: String,
    pub user_id: String,
    pub username: String,
    pub role: String,
}

/// One line of the job list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobSummary {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub customer_name: String,
    pub site_name: Option<String>,
    pub site_address: String,
    pub problem: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// Changes made on this device the server has not acknowledged yet.
    pub pending_changes: u32,
    /// The server rejected this job's last changes, or statuses conflict.
    pub has_conflicts: bool,
    /// Kept as it was after a rejection (see `frozenJobs`): actions are
    /// refused and its changes are held back from sync.
    pub frozen: bool,
}

/// One job in full, with its bill computed offline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobDetail {
    pub summary: JobSummary,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub asset_product: String,
    pub asset_serial: Option<String>,
    /// `YYYY-MM-DD`.
    pub warranty_end: Option<String>,
    pub contract_ref: Option<String>,
    /// The registry asset's product (sku) when the job was made from the
    /// registry: which warranty extension offers fit it.
    pub asset_sku: Option<String>,
    /// The warranty extension sold on this job, if any (billed as a line
    /// of kind `extension`).
    pub warranty_extension: Option<ExtensionSale>,
    pub technician_id: Option<String>,
    pub notes: String,
    pub status_history: Vec<StatusEntry>,
    /// Concurrent status values that lost (see sync-core's conflict rule).
    pub status_conflicts: Vec<String>,
    /// Other fields written concurrently with different values.
    pub value_conflicts: Vec<ValueConflict>,
    pub labour: Vec<LabourLine>,
    pub parts: Vec<PartLine>,
    pub checklist: Vec<ChecklistLine>,
    pub payments: Vec<PaymentLine>,
    pub signature: Option<SignatureInfo>,
    pub cancel_reason: Option<String>,
    pub unable_reason: Option<String>,
    pub attachments: Vec<AttachmentLine>,
    /// Plain fields (sync-core's `Job::fields`: fields the job schema reads
    /// by itself, without a member of their own here), by key. A scalar
    /// that is unset is absent; a list is always there (maybe empty).
    pub fields: Vec<JobField>,
    /// The recall campaign this job is for, if any.
    pub recall: Option<RecallInfo>,
    /// The remedy recorded for that recall.
    pub recall_remedy: Option<RecallRemedyInfo>,
    /// Returns (RMA) opened on this job.
    pub returns: Vec<ReturnInfo>,
    /// `None` until the price book has been synced (see `billing_unavailable`).
    pub billing: Option<Bill>,
    pub billing_unavailable: Option<String>,
}

/// A product recall a job is for (the office's notice).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallInfo {
    pub campaign_id: String,
    pub reason: String,
    /// `inspect`, `repair` or `replace`.
    pub remedy: String,
    pub compensation: Option<String>,
}

/// A return (RMA) opened on a job.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReturnInfo {
    pub id: String,
    pub sku: String,
    pub serial: String,
    pub reason: String,
    /// `unused`, `working`, `faulty` or `damaged`.
    pub condition: String,
    /// The server's RMA number (`RMA-2026-000042`) once a sync brought it.
    pub rma_number: Option<String>,
    /// What to show: the RMA number, or until then a provisional
    /// reference derived from the id (`PRE-1A2B3C4D`).
    pub reference: String,
    pub device_time_ms: i64,
}

/// What the technician recorded as a recall's remedy.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallRemedyInfo {
    /// `none`, `temporary` or `permanent`.
    pub replacement: String,
    pub serials: Vec<String>,
    /// `YYYY-MM-DD`: when the permanent replacement is promised.
    pub committed_date: Option<String>,
    pub service: Option<String>,
    pub device_time_ms: i64,
}

/// A warranty extension sold on a job.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExtensionSale {
    /// The price book's offer code.
    pub offer: String,
    pub months: u32,
    /// Before tax, as quoted when sold.
    pub price_minor: i64,
    pub by_user_id: String,
    pub device_time_ms: i64,
}

/// A warranty extension offer for a job's asset, quoted from the price
/// book on this device: what to show the customer before selling it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExtensionQuote {
    /// Pass to `sellExtension`.
    pub code: String,
    pub name: String,
    pub months: u32,
    pub terms: String,
    pub price_minor: i64,
    /// This line's tax alone (the invoice rounds its tax once, on the subtotal).
    pub tax_minor: i64,
    pub price_with_tax_minor: i64,
    pub currency: String,
    pub tax_rate_bps: u32,
    /// `YYYY-MM-DD`: the warranty end if bought today (from the current
    /// end while it runs, else from today).
    pub warranty_end_after: Option<String>,
    pub price_book_version: i64,
}

pub(crate) fn quote(q: fieldsync_core::warranty::Quote) -> ExtensionQuote {
    ExtensionQuote {
        code: q.code,
        name: q.name,
        months: q.months,
        terms: q.terms,
        price_minor: q.price.0,
        tax_minor: q.tax.0,
        price_with_tax_minor: q.price_with_tax.0,
        currency: q.currency,
        tax_rate_bps: q.tax_rate_bps,
        warranty_end_after: q.warranty_end_after.map(|d| d.to_string()),
        price_book_version: q.price_book_version,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StatusEntry {
    pub from: Option<String>,
    pub to: String,
    pub by_user_id: String,
    pub role: String,
    pub device_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LabourLine {
    pub id: String,
    pub minutes: u32,
    pub rate: String,
    pub description: String,
    pub voided: bool,
    pub device_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PartLine {
    pub id: String,
    pub sku: String,
    pub quantity: u32,
    pub serials: Vec<String>,
    pub van_id: String,
    pub voided: bool,
    pub device_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChecklistLine {
    pub id: String,
    pub question: String,
    pub required: bool,
    /// `text`, or `photo`: answered with the id of an image attachment
    /// (`attachFile`, then `answerChecklist` with the id it returned).
    pub kind: String,
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentLine {
    pub id: String,
    /// `cash`, `card`, `cheque`, `bank_transfer` or `other`.
    pub method: String,
    pub amount_minor: i64,
    pub reference: Option<String>,
    pub device_time_ms: i64,
}

/// A file attached to the job (a reference: the bytes travel separately).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentLine {
    pub id: String,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    pub size_bytes: u64,
    pub media_type: String,
    /// `before`, `after`, `serial_plate`, `signature` or `document`.
    pub kind: String,
    pub caption: String,
    pub taken_at_ms: i64,
}

/// One plain field of a job: a value, or a list of records.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobField {
    /// The field's key in the job document, e.g. `customer_present`.
    pub key: String,
    /// A scalar field's value (`None` for a list).
    pub value: Option<FieldScalar>,
    /// A list's records, by id (empty for a scalar).
    pub records: Vec<FieldRecordLine>,
}

/// One record of a plain list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldRecordLine {
    pub id: String,
    /// The columns it holds, by key (optional ones may be absent).
    pub values: Vec<FieldCell>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldCell {
    pub key: String,
    pub value: FieldScalar,
}

/// A plain value, typed as the job schema declares it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FieldScalar {
    Text {
        text: String,
    },
    Flag {
        flag: bool,
    },
    /// An integer (not `Int`: that would shadow Kotlin's `Int` in the binding).
    Number {
        number: i64,
    },
    /// UTC milliseconds since the epoch.
    Time {
        ms: i64,
    },
    User {
        user_id: String,
    },
}

/// One attachment's upload, as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentUpload {
    pub job_id: String,
    pub attachment_id: String,
    pub sha256: String,
    /// Bytes the server has (as it last said; 0 before the first answer).
    pub bytes_sent: u64,
    pub total_bytes: u64,
    /// The server holds the whole file (checked against its SHA-256).
    pub uploaded: bool,
    /// Why the server refused it for good (its error code, e.g.
    /// `media_type`, `too_large`); it is not tried again.
    pub refused: Option<String>,
}

/// A job's attachments and whether their bytes have all reached the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobUploads {
    pub job_id: String,
    /// Every attachment of the job whose file this device holds is on the
    /// server (true for a job with none).
    pub all_uploaded: bool,
    pub attachments: Vec<AttachmentUpload>,
}

/// What one `uploadAttachments` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct UploadReport {
    /// Uploads are paused (`setUploadsPaused`): nothing was sent.
    pub paused: bool,
    /// Files that finished uploading in this call.
    pub completed: u32,
    /// Files the server already had (content addressing): nothing sent.
    pub already_on_server: u32,
    /// Files whose reference the server does not hold yet: sync first.
    pub waiting_for_sync: u32,
    /// Files the server refused in this call (`AttachmentUpload.refused`
    /// says why); not sent again unless `retryRefusedUploads`.
    pub refused: u32,
    /// Bytes sent in this call.
    pub bytes_sent: u64,
    /// Files still to upload after this call.
    pub remaining: u32,
    /// Blobs removed from the store after this call: on the server and
    /// their jobs closed, or no held job references them (docs/mobile.md).
    pub pruned: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignatureInfo {
    pub signer: String,
    pub image_sha256: String,
    pub device_time_ms: i64,
}

/// The invoice, computed by sync-core's `billing::bill` (the server's code).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Bill {
    pub currency: String,
    pub price_book_version: i64,
    pub lines: Vec<BillLine>,
    pub subtotal_minor: i64,
    pub tax_rate_bps: u32,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    /// `total - credited - paid + refunded`: approved refunds and credits only.
    pub balance_due_minor: i64,
    pub warnings: Vec<String>,
    /// Approved credit notes (off what the customer owes).
    pub credited_minor: i64,
    /// Approved refunds (paid back).
    pub refunded_minor: i64,
    /// Refunds and credits pending a supervisor's approval: not counted.
    pub pending_refunds_minor: i64,
    pub refunds: Vec<BillRefund>,
    /// The server's invoice number once the job completed and the issued
    /// invoice reached the device; the bill is then frozen.
    pub number: Option<String>,
}

/// A refund or credit note on the bill.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillRefund {
    pub id: String,
    /// `refund` or `credit`.
    pub kind: String,
    /// The payment, labour entry or part line it is against.
    pub against_id: String,
    pub amount_minor: i64,
    /// `pending` (approval), `approved` or `declined`.
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillLine {
    /// `callout`, `labour` or `part`.
    pub kind: String,
    /// The labour entry or part line billed.
    pub source_id: Option<String>,
    pub description: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
    /// `warranty` or `contract:<reference>`.
    pub covered_by: Option<String>,
    pub charged_minor: i64,
}

/// The technician's van as the server last sent it, minus unsynced use.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VanStockView {
    pub van_id: String,
    /// Server time of the ledger state the snapshot reflects.
    pub as_of_ms: i64,
    pub items: Vec<StockLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StockLine {
    pub sku: String,
    /// From the price book, when known.
    pub name: Option<String>,
    /// On hand per the server's last snapshot.
    pub server_quantity: i64,
    /// Used on this device and not yet acknowledged by the server.
    pub pending_use: i64,
    /// What to show: `server_quantity - pending_use`.
    pub available: i64,
    pub serialized: bool,
    /// Serial numbers on board per the snapshot.
    pub serials: Vec<String>,
    /// Serials on board held back by a recall: not available, not fittable.
    pub quarantined: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictKind {
    /// The server refused this job's changes on the last sync.
    Rejected,
    /// The technician and the office wrote different statuses concurrently.
    StatusConflict,
    /// Different values were written concurrently to the window, the
    /// priority, a detail or a checklist answer (`code` is the field; the
    /// job's `value_conflicts` lists the values and their writers).
    ValueConflict,
}

/// A field of a job that holds concurrent values (sync-core's `Job::conflicts`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ValueConflict {
    /// `/window`, `/priority`, `/problem`, `/customer/name`, ...,
    /// `/answers/{checklist item id}`.
    pub field: String,
    /// The shown value first.
    pub values: Vec<ConflictingValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictingValue {
    /// The value as JSON (the window as `{"start": ms, "end": ms}`).
    pub value_json: String,
    /// The automerge actor that wrote it (this device's is `actor_id()`).
    pub actor_id: String,
    /// The user the value names as its writer: the technician an answer
    /// records, or the office user whose edit through the server's API
    /// wrote it (their actor carries their user id).
    pub by_user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    pub job_id: String,
    pub kind: ConflictKind,
    /// The server's rejection code, or the losing statuses.
    pub code: String,
    pub message: String,
}

/// What the server said about one job in a sync.
/// An action the library dropped after the server refused it (or refused
/// something it needed): everything else on the job was kept and re-sent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedAction {
    /// Stable id of the action (for `dismissRejectedActions`).
    pub id: String,
    pub job_id: String,
    /// `add_labour`, `use_part`, `add_note`, ...
    pub action: String,
    /// The line, entry, payment or checklist item it created or named.
    pub line_id: Option<String>,
    /// The action as recorded (JSON), so the app can offer to redo it.
    pub action_json: String,
    /// The server's reject code (e.g. `wrong_van`), or on a local refusal
    /// `not_allowed`, `invalid_input`, `not_found` or a reject code.
    pub code: String,
    pub reason: String,
    /// True for the action the server refused; false for one refused when
    /// it was taken again without it.
    pub refused_by_server: bool,
    /// Device time the technician took the action.
    pub action_time_ms: i64,
    pub dropped_at_ms: i64,
}

/// A job kept as it was after a rejection, for a supervisor to look at.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FrozenJob {
    pub job_id: String,
    pub code: String,
    pub reason: String,
    pub since_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum JobSyncOutcome {
    /// Every change sent was stored (or there was nothing to send).
    Accepted,
    /// Nothing sent for this job was stored. When the server named the
    /// refused change, the job was rebuilt without it (see
    /// `SyncResult.rejectedActions`) or frozen; otherwise the changes stay
    /// pending and are sent again.
    Rejected { code: String, reason: String },
    /// The job left this user (e.g. reassigned); the local copy was dropped.
    Removed,
    /// The server does not know this job for this user.
    NotFound,
    /// Needs another round (the HTTP transport runs it).
    Unfinished,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobSyncResult {
    pub job_id: String,
    pub outcome: JobSyncOutcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncResult {
    /// Per job, the last outcome seen in this sync.
    pub jobs: Vec<JobSyncResult>,
    /// Jobs that arrived on this device.
    pub added_jobs: u32,
    /// Jobs whose content changed from the server.
    pub updated_jobs: u32,
    pub removed_jobs: u32,
    /// Another request is needed (`sync_request` again, then apply).
    pub more_rounds: bool,
    /// Requests sent (the HTTP transport; 0 for a sans-IO apply).
    pub rounds: u32,
    /// Actions dropped in this sync after a rejection (also kept in
    /// `rejectedActions()` until dismissed).
    pub rejected_actions: Vec<RejectedAction>,
}

pub(crate) fn summary(
    job: &Job,
    pending_changes: u32,
    has_conflicts: bool,
    frozen: bool,
) -> JobSummary {
    JobSummary {
        id: job.id.to_string(),
        status: job.status.as_str().to_owned(),
        priority: job.priority.as_str().to_owned(),
        customer_name: job.customer.name.clone(),
        site_name: job.site.name.clone(),
        site_address: job.site.address.clone(),
        problem: job.problem.clone(),
        window_start_ms: job.window.start.0,
        window_end_ms: job.window.end.0,
        pending_changes,
        has_conflicts: has_conflicts
            || !job.status_conflicts.is_empty()
            || !job.conflicts.is_empty(),
        frozen,
    }
}

pub(crate) fn rejected_action(d: &crate::journal::Dropped) -> RejectedAction {
    RejectedAction {
        id: d.entry.id.clone(),
        job_id: d.job.clone(),
        action: d.entry.action.name().to_owned(),
        line_id: d.entry.action.line().map(|l| l.to_string()),
        action_json: serde_json::to_string(&d.entry.action).unwrap_or_default(),
        code: d.code.clone(),
        reason: d.reason.clone(),
        refused_by_server: d.by_server,
        action_time_ms: d.entry.at_ms,
        dropped_at_ms: d.dropped_at_ms,
    }
}

pub(crate) fn detail(job: &Job, summary: JobSummary, billing: Result<Bill, String>) -> JobDetail {
    let (billing, billing_unavailable) = match billing {
        Ok(b) => (Some(b), None),
        Err(why) => (None, Some(why)),
    };
    JobDetail {
        summary,
        customer_email: job.customer.email.as_ref().map(|e| e.as_str().to_owned()),
        customer_phone: job.customer.phone.clone(),
        asset_product: job.asset.product.clone(),
        asset_serial: job.asset.serial.clone(),
        warranty_end: job.asset.warranty_end.map(|d| d.to_string()),
        contract_ref: job.asset.contract_ref.clone(),
        asset_sku: job.registry.asset_sku.as_ref().map(|s| s.to_string()),
        warranty_extension: job.warranty_extension.as_ref().map(|s| ExtensionSale {
            offer: s.offer.clone(),
            months: s.months,
            price_minor: s.price.0,
            by_user_id: s.by.to_string(),
            device_time_ms: s.device_time.0,
        }),
        technician_id: job.technician.map(|t| t.to_string()),
        notes: job.notes.clone(),
        status_history: job.status_history.iter().map(status_entry).collect(),
        status_conflicts: job
            .status_conflicts
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        value_conflicts: job
            .conflicts
            .iter()
            .map(|c| ValueConflict {
                field: c.field.clone(),
                values: c
                    .values
                    .iter()
                    .map(|v| ConflictingValue {
                        value_json: v.value.to_string(),
                        actor_id: v.actor.clone(),
                        by_user_id: v.by.map(|u| u.to_string()),
                    })
                    .collect(),
            })
            .collect(),
        labour: job
            .labour
            .iter()
            .map(|l| LabourLine {
                id: l.id.to_string(),
                minutes: l.minutes,
                rate: l.rate.clone(),
                description: l.description.clone(),
                voided: l.voided,
                device_time_ms: l.device_time.0,
            })
            .collect(),
        parts: job
            .parts
            .iter()
            .map(|p| PartLine {
                id: p.id.to_string(),
                sku: p.sku.to_string(),
                quantity: p.quantity.get(),
                serials: p.serials.clone(),
                van_id: p.van.to_string(),
                voided: p.voided,
                device_time_ms: p.device_time.0,
            })
            .collect(),
        checklist: job
            .checklist
            .iter()
            .map(|c| ChecklistLine {
                id: c.id.to_string(),
                question: c.question.clone(),
                required: c.required,
                kind: c.kind.as_str().to_owned(),
                answer: c.answer.as_ref().map(|a| a.value.clone()),
            })
            .collect(),
        payments: job
            .payments
            .iter()
            .map(|p| PaymentLine {
                id: p.id.to_string(),
                method: p.method.as_str().to_owned(),
                amount_minor: p.amount.0,
                reference: p.reference.clone(),
                device_time_ms: p.device_time.0,
            })
            .collect(),
        signature: job.signature.as_ref().map(|s| SignatureInfo {
            signer: s.signer.clone(),
            image_sha256: s.image_sha256.clone(),
            device_time_ms: s.device_time.0,
        }),
        cancel_reason: job.cancel_reason.clone(),
        unable_reason: job.unable_reason.clone(),
        attachments: job
            .attachments
            .iter()
            .map(|a| AttachmentLine {
                id: a.id.to_string(),
                sha256: a.sha256.clone(),
                size_bytes: a.size,
                media_type: a.media_type.clone(),
                kind: a.kind.as_str().to_owned(),
                caption: a.caption.clone(),
                taken_at_ms: a.taken_at.0,
            })
            .collect(),
        fields: job
            .fields
            .iter()
            .map(|(key, value)| job_field(key, value))
            .collect(),
        recall: job.recall.as_ref().map(|r| RecallInfo {
            campaign_id: r.campaign.to_string(),
            reason: r.reason.clone(),
            remedy: r.remedy.as_str().to_owned(),
            compensation: r.compensation.clone(),
        }),
        recall_remedy: job.recall_remedy.as_ref().map(|r| RecallRemedyInfo {
            replacement: r.replacement.as_str().to_owned(),
            serials: r.serials.clone(),
            committed_date: r.committed_date.map(|d| d.to_string()),
            service: r.service.clone(),
            device_time_ms: r.device_time.0,
        }),
        returns: job
            .returns
            .iter()
            .map(|r| ReturnInfo {
                id: r.id.to_string(),
                sku: r.sku.to_string(),
                serial: r.serial.clone(),
                reason: r.reason.clone(),
                condition: r.condition.as_str().to_owned(),
                rma_number: r.rma_number.clone(),
                reference: r.reference(),
                device_time_ms: r.device_time.0,
            })
            .collect(),
        billing,
        billing_unavailable,
    }
}

fn job_field(key: &str, value: &FieldValue) -> JobField {
    let (value, records) = match value {
        FieldValue::Records(records) => (
            None,
            records
                .iter()
                .map(|r| FieldRecordLine {
                    id: r.id.to_string(),
                    values: r
                        .values
                        .iter()
                        .filter_map(|(key, v)| {
                            field_scalar(v).map(|value| FieldCell {
                                key: key.clone(),
                                value,
                            })
                        })
                        .collect(),
                })
                .collect(),
        ),
        v => (field_scalar(v), Vec::new()),
    };
    JobField {
        key: key.to_owned(),
        value,
        records,
    }
}

/// `None` for a list (sync-core never puts one inside a record).
fn field_scalar(v: &FieldValue) -> Option<FieldScalar> {
    Some(match v {
        FieldValue::Text(text) => FieldScalar::Text { text: text.clone() },
        FieldValue::Flag(flag) => FieldScalar::Flag { flag: *flag },
        FieldValue::Int(number) => FieldScalar::Number { number: *number },
        FieldValue::Time(t) => FieldScalar::Time { ms: t.0 },
        FieldValue::User(u) => FieldScalar::User {
            user_id: u.to_string(),
        },
        FieldValue::Records(_) => return None,
    })
}

fn status_entry(c: &StatusChange) -> StatusEntry {
    StatusEntry {
        from: c.from.map(|s| s.as_str().to_owned()),
        to: c.to.as_str().to_owned(),
        by_user_id: c.by.to_string(),
        role: c.role.as_str().to_owned(),
        device_time_ms: c.device_time.0,
    }
}

pub(crate) fn bill(invoice: Invoice) -> Bill {
    Bill {
        currency: invoice.currency,
        price_book_version: invoice.price_book_version,
        lines: invoice
            .lines
            .into_iter()
            .map(|l| BillLine {
                kind: match l.kind {
                    LineKind::Callout => "callout",
                    LineKind::Labour => "labour",
                    LineKind::Part => "part",
                    LineKind::Extension => "extension",
                }
                .to_owned(),
                source_id: l.source.map(|s| s.to_string()),
                description: l.description,
                quantity: l.quantity,
                unit_price_minor: l.unit_price.0,
                amount_minor: l.amount.0,
                covered_by: l.covered_by.map(|c| match c {
                    Coverage::Warranty => "warranty".to_owned(),
                    Coverage::Contract(r) => format!("contract:{r}"),
                }),
                charged_minor: l.charged.0,
            })
            .collect(),
        subtotal_minor: invoice.subtotal.0,
        tax_rate_bps: invoice.tax_rate_bps,
        tax_minor: invoice.tax.0,
        total_minor: invoice.total.0,
        paid_minor: invoice.paid.0,
        balance_due_minor: invoice.balance_due.0,
        warnings: invoice.warnings,
        credited_minor: invoice.credited.0,
        refunded_minor: invoice.refunded.0,
        pending_refunds_minor: invoice.pending_refunds.0,
        number: invoice.number,
        refunds: invoice
            .refunds
            .into_iter()
            .map(|r| BillRefund {
                id: r.id.to_string(),
                kind: r.kind.as_str().to_owned(),
                against_id: r.against.to_string(),
                amount_minor: r.amount.0,
                state: r.state.as_str().to_owned(),
                reason: r.reason,
            })
            .collect(),
    }
}

/// One scored answer about a visit of mine.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FeedbackAnswer {
    /// The question's key (`fixed`, `rating`, `courtesy`, `recommend`).
    pub question: String,
    /// Its short label (`Fixed`, `Rating`, ...).
    pub label: String,
    /// `yes`/`no` or the score, as text.
    pub value: String,
    /// The score (yes = 1, no = 0).
    pub score: Option<i64>,
    /// The scale's ends, for a scored question.
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// What a customer said about one of my visits (`myFeedback`). No
/// customer contact data: the server sends no name, email, phone or address.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MyFeedback {
    pub job_id: String,
    /// `YYYY-MM-DD`, the day of the visit.
    pub visit_date: String,
    /// When the customer answered (UTC ms).
    pub answered_at_ms: i64,
    /// The scored answers, in the form's order.
    pub answers: Vec<FeedbackAnswer>,
    /// The customer's comment (empty if none).
    pub comment: String,
    /// A result a supervisor follows up (not fixed, or a low rating).
    pub low: bool,
}

/// A page of my feedback, newest visit first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MyFeedbackPage {
    pub items: Vec<MyFeedback>,
    /// The `offset` of the next page, when there is one.
    pub next_offset: Option<u32>,
}

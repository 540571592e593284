//! Key names of the job document: one place, shared by reader, writer and validator.

/// The document format: readers refuse any other value (see [`super::schema`]).
pub const SCHEMA_VERSION: &str = "schema_version";
/// The schema version in the table's sense; absent means 1.
pub const SCHEMA_REVISION: &str = "schema_revision";
pub const KIND: &str = "kind";
pub const JOB_ID: &str = "job_id";
pub const CREATED_AT: &str = "created_at";
pub const CUSTOMER: &str = "customer";
pub const SITE: &str = "site";
pub const ASSET: &str = "asset";
pub const PROBLEM: &str = "problem";
pub const PRIORITY: &str = "priority";
pub const WINDOW: &str = "window";
pub const TECHNICIAN: &str = "technician";
pub const STATUS: &str = "status";
pub const STATUS_HISTORY: &str = "status_history";
pub const LABOUR: &str = "labour";
pub const PARTS: &str = "parts";
pub const NOTES: &str = "notes";
pub const CHECKLIST: &str = "checklist";
pub const ANSWERS: &str = "answers";
pub const PAYMENTS: &str = "payments";
pub const SIGNATURE: &str = "signature";
pub const CANCEL_REASON: &str = "cancel_reason";
pub const UNABLE_REASON: &str = "unable_reason";
/// Since schema 2.
pub const ATTACHMENTS: &str = "attachments";
/// The recall campaign the job is for (office), and the technician's remedy
/// (maps written whole: no container, no schema version).
pub const RECALL: &str = "recall";
pub const RECALL_REMEDY: &str = "recall_remedy";
/// The warranty extension sold on the job (a map written once, no container).
pub const WARRANTY_EXTENSION: &str = "warranty_extension";
/// Since schema 4: returns opened on the visit, and the server's RMA
/// numbers for them (see `rma.rs`).
pub const RETURNS: &str = "returns";
pub const RMA_NUMBERS: &str = "rma_numbers";
/// Refunds and credit notes (since schema 3).
pub const REFUNDS: &str = "refunds";
/// Since schema 3: contacts the technician logged on site (see `contact.rs`).
pub const CONTACTS: &str = "contacts";

// Nested keys.
pub const NAME: &str = "name";
/// The registry's id of the customer, site or asset a snapshot was taken from.
pub const ID: &str = "id";
pub const EMAIL: &str = "email";
pub const PHONE: &str = "phone";
pub const FEEDBACK_OPT_OUT: &str = "feedback_opt_out";
pub const ADDRESS: &str = "address";
pub const PRODUCT: &str = "product";
pub const SERIAL: &str = "serial";
pub const WARRANTY_END: &str = "warranty_end";
pub const CONTRACT_REF: &str = "contract_ref";
pub const START: &str = "start";
pub const END: &str = "end";
pub const FROM: &str = "from";
pub const TO: &str = "to";
pub const BY: &str = "by";
pub const ROLE: &str = "role";
pub const DEVICE_TIME: &str = "device_time";
pub const MINUTES: &str = "minutes";
pub const RATE: &str = "rate";
pub const DESCRIPTION: &str = "description";
pub const SKU: &str = "sku";
pub const CONDITION: &str = "condition";
pub const NUMBER: &str = "number";
pub const QUANTITY: &str = "quantity";
pub const SERIALS: &str = "serials";
pub const VAN: &str = "van";
pub const VOIDED: &str = "voided";
pub const QUESTION: &str = "question";
pub const REQUIRED: &str = "required";
pub const VALUE: &str = "value";
pub const METHOD: &str = "method";
pub const AMOUNT: &str = "amount";
pub const REFERENCE: &str = "reference";
pub const SIGNER: &str = "signer";
pub const IMAGE_SHA256: &str = "image_sha256";
pub const SHA256: &str = "sha256";
pub const SIZE: &str = "size";
pub const MEDIA_TYPE: &str = "media_type";
pub const CAPTION: &str = "caption";
pub const TAKEN_AT: &str = "taken_at";
pub const CAMPAIGN: &str = "campaign";
pub const REASON: &str = "reason";
pub const REMEDY: &str = "remedy";
pub const COMPENSATION: &str = "compensation";
pub const REPLACEMENT: &str = "replacement";
pub const COMMITTED_DATE: &str = "committed_date";
pub const SERVICE: &str = "service";
pub const OFFER: &str = "offer";
pub const MONTHS: &str = "months";
pub const PRICE: &str = "price";
pub const AGAINST: &str = "against";
pub const APPROVAL: &str = "approval";
pub const DECISION: &str = "decision";
pub const DECIDED_BY: &str = "decided_by";
pub const DECISION_REASON: &str = "decision_reason";
pub const DECIDED_AT: &str = "decided_at";

/// The `kind` value of a job document.
pub const KIND_JOB: &str = "job";
pub const CHANNEL: &str = "channel";
pub const DIRECTION: &str = "direction";
pub const CATEGORY: &str = "category";
pub const SUMMARY: &str = "summary";
pub const INVOICE: &str = "invoice";
pub const ISSUED_AT: &str = "issued_at";
pub const BODY: &str = "body";

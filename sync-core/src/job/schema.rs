//! The job document's fields, declared once as data.
//!
//! [`FIELDS`] lists every root key of a job document: who writes it, how it
//! is written ([`Shape`]), which of its keys may change once written, its
//! text limits and which of its texts are free text (refused when they hold
//! a card number), the schema version that added it, and the function that
//! re-reads one unit of it strictly. The validator classifies every patch of
//! a change by this table and re-reads what it touched with the table's
//! reader; actions check their input text against the same [`TextRule`]s;
//! [`JobDoc::create`](super::JobDoc::create) and [`upgrade`] create the
//! containers the table declares. A new field is one entry here, the action
//! that writes it (in `ops.rs`) and the mobile method that calls the action:
//! a *plain* field (a value that means nothing to billing or stock, see
//! [`Plain`]) is also read by the table, into [`Job::fields`](super::Job::fields).
//!
//! # Versions
//!
//! - `schema_version` is the document *format*, [`FORMAT`] = 1. Readers refuse
//!   any other value, so it would change only if old apps had to stop reading
//!   jobs, never for an added field. (The v1 app checks it for equality: that
//!   is why the schema version proper is a separate key.)
//! - `schema_revision` is the schema version of the table: absent (1) in jobs
//!   v1 code wrote, [`VERSION`] in jobs written or upgraded now. A version only
//!   adds fields. Every reader ignores fields it does not know and reads a
//!   known field that is missing as empty, so devices on the previous app
//!   version keep reading, editing and syncing upgraded jobs; their changes
//!   touch only fields they know, which the validator knows too.
//!
//! # Who creates a new field's container
//!
//! Automerge names a container (map, list, text) by the operation that made
//! it. When two replicas each create a container at the same key, both exist:
//! one wins the key and whatever was written into the other is hidden. So
//! each container is created exactly once, by one writer:
//!
//! - [`JobDoc::create`](super::JobDoc::create) creates every container of the
//!   current version;
//! - on an older job only the server's [`upgrade`] creates the new ones, in
//!   one change the server commits through its versioned write: a second
//!   server process racing it finds the stored version moved, reloads the
//!   upgraded job and writes nothing;
//! - a device never creates one. An action on a field the job does not have
//!   yet is refused before it becomes a change ("sync first": the server
//!   upgrades the job on the device's next sync), and the validator refuses
//!   any change that creates or replaces a container.
//!
//! A new key inside existing units (the `voided` flag of labour entries)
//! needs no container and no upgrade: older units read it as its default.

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue};

use super::keys as k;
use super::read;
use crate::card::refuse_card_number;
use crate::error::{ActionError, InvalidValue, SchemaError};
use crate::hydrated::MapRef;
use crate::ids::{LineId, Timestamp, UserId};
use crate::role::Role;
use crate::status::Status;

/// The document format every reader requires at `schema_version`.
pub const FORMAT: i64 = 1;
/// The schema version this code writes at `schema_revision`.
pub const VERSION: i64 = 5;

/// The longest free text of most fields, in characters.
pub const MAX_TEXT: usize = 10_000;
/// The notes gather every note of the job's life, so they get more room.
pub const MAX_NOTES: usize = 100_000;

/// How a field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A scalar put at the root key.
    Scalar,
    /// A map whose keys are put one at a time (concurrent edits of different
    /// keys both survive).
    Map,
    /// A map written whole, as a new map each time: a concurrent edit then
    /// picks one whole value, never one side's start and the other's end.
    Whole,
    /// A map of lines keyed by line id. A line is one map written whole by
    /// one change; later changes only put its `editable` keys. With
    /// `replaceable`, a line may be written whole again (a re-given answer).
    Lines { replaceable: bool },
    /// Automerge text: both sides' concurrent edits merge.
    Text,
    /// A list of entries only ever appended to (status history).
    Log,
    /// The status register; the lifecycle in [`crate::status`] rules it.
    Status,
}

impl Shape {
    /// Whether the field is a container that must exist before it is written.
    pub fn is_container(self) -> bool {
        matches!(self, Shape::Lines { .. } | Shape::Text | Shape::Log)
    }
}

/// Who may write a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Written once, when the job is created.
    Fixed,
    /// Only the server, by [`upgrade`].
    Server,
    Office,
    /// The technician the job is assigned to.
    Technician,
    /// Both; the lifecycle (status) or nothing (notes) limits them further.
    Both,
}

impl Writer {
    /// Whether `role` may write a field of this writer.
    pub fn admits(self, role: Role) -> bool {
        match self {
            Writer::Fixed | Writer::Server => false,
            Writer::Office => role.is_office(),
            Writer::Technician => role.is_field(),
            Writer::Both => role.is_office() || role.is_field(),
        }
    }
}

/// When a field may change, by the job's status before the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// While the job is not closed.
    Open,
    /// Only on site (the customer's signature).
    OnSite,
    /// Always, closed jobs included (notes).
    Always,
}

/// A limit on one text of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextRule {
    /// The key inside the unit; `None` for the field itself (a scalar or text).
    pub key: Option<&'static str>,
    /// How people call it, in error messages.
    pub label: &'static str,
    pub max_chars: usize,
    /// Free text: refused when it holds a card number.
    pub free: bool,
    /// Text that merges (the notes): the most characters one change may add,
    /// so one note is bounded like any other text and the whole only grows
    /// note by note.
    pub max_insert: Option<usize>,
}

const fn text(key: &'static str, label: &'static str, max_chars: usize) -> TextRule {
    TextRule {
        key: Some(key),
        label,
        max_chars,
        free: true,
        max_insert: None,
    }
}

/// A code or identifier: limited, but digits in it are no card number.
const fn code(key: &'static str, label: &'static str, max_chars: usize) -> TextRule {
    TextRule {
        key: Some(key),
        label,
        max_chars,
        free: false,
        max_insert: None,
    }
}

const fn itself(label: &'static str, max_chars: usize) -> TextRule {
    TextRule {
        key: None,
        label,
        max_chars,
        free: true,
        max_insert: None,
    }
}

/// The value of one plain scalar: a field read by this table alone, with
/// no hand-written type or read (see [`Plain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string; empty or blank reads as absent. Its [`TextRule`] is required.
    Text,
    Flag,
    /// An integer within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// Milliseconds since the epoch, UTC (device times: shown, never ordered by).
    Time,
    /// A user id; a column `by` of this kind names the line's writer.
    User,
    /// One of these codes (a closed set: no free text, no text rule).
    Choice(&'static [&'static str]),
}

/// One key of a plain record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub kind: Kind,
    /// A record without it does not read.
    pub required: bool,
}

/// A required column.
pub const fn column(key: &'static str, kind: Kind) -> Column {
    Column {
        key,
        kind,
        required: true,
    }
}

/// An optional column.
pub const fn optional(key: &'static str, kind: Kind) -> Column {
    Column {
        key,
        kind,
        required: false,
    }
}

/// How a plain field reads: the table's reader fills
/// [`Job::fields`](super::Job::fields) with it, the validator re-reads it
/// with the same reader, and the app gets it in the job record without a
/// type of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plain {
    /// A [`Shape::Scalar`] field: absent until written (or written null).
    Scalar(Kind),
    /// A [`Shape::Lines`] field of records with these columns (its `keys`).
    Records(&'static [Column]),
}

/// What the validator needs to know of one unit after reading it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unit {
    /// The user the unit records as its author (lines, the signature).
    pub by: Option<UserId>,
    /// Voided lines never change again.
    pub voided: bool,
}

/// Re-reads one unit strictly: the root map for a scalar field, the field's
/// map for a map field, one line for lines (with its id).
pub(crate) type ReadUnit = fn(&MapRef<'_>, Option<LineId>) -> Result<Unit, SchemaError>;

/// One root key of the job document.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub key: &'static str,
    pub shape: Shape,
    pub writer: Writer,
    pub when: When,
    /// Every key a unit may hold (map fields and lines): nothing else may be written.
    pub keys: &'static [&'static str],
    /// Keys of a line that may change after the change that wrote it.
    pub editable: &'static [&'static str],
    /// Keys of a map field written only by the change that creates the job
    /// (the registry ids: the server checked them against the creator's
    /// scope then; a later change could link the job to anyone's records).
    pub created_only: &'static [&'static str],
    /// What one line is called, in error messages.
    pub line: &'static str,
    pub texts: &'static [TextRule],
    /// The schema version that added the field.
    pub since: i64,
    /// The office may write a technician's line of this field again, but
    /// only as an exact copy of one of the values it holds concurrently:
    /// resolving a conflict keeps a value the technician wrote, in their
    /// name, and never writes one of the office's own.
    pub office_keeps: bool,
    /// A hand-written strict read of one unit (fields with their own type in [`Job`](super::Job)).
    pub(crate) read: Option<ReadUnit>,
    /// Or: a plain field, read by the table (see [`Plain`]).
    pub plain: Option<Plain>,
}

impl Field {
    const fn new(key: &'static str, shape: Shape, writer: Writer) -> Self {
        Self {
            key,
            shape,
            writer,
            when: When::Open,
            keys: &[],
            editable: &[],
            created_only: &[],
            line: "line",
            texts: &[],
            since: 1,
            office_keeps: false,
            read: None,
            plain: None,
        }
    }

    /// A plain scalar field: a text, a flag, a number, a time or a user.
    pub const fn scalar(key: &'static str, writer: Writer, kind: Kind) -> Self {
        Self {
            plain: Some(Plain::Scalar(kind)),
            ..Self::new(key, Shape::Scalar, writer)
        }
    }

    /// A plain list of records, one line each, keyed by line id; written
    /// once per line, then only its `editable` columns. A container: it
    /// comes with a raised [`VERSION`] (`since`), and the server's
    /// [`upgrade`] creates it in older jobs.
    pub const fn records(
        key: &'static str,
        writer: Writer,
        columns: &'static [Column],
        since: i64,
    ) -> Self {
        Self {
            plain: Some(Plain::Records(columns)),
            since,
            ..Self::new(key, Shape::Lines { replaceable: false }, writer)
        }
    }

    /// Whether a unit of the field may hold `key` (its `keys`, or a plain
    /// record's columns).
    pub fn has_key(&self, key: &str) -> bool {
        self.keys.contains(&key)
            || matches!(self.plain, Some(Plain::Records(cols)) if cols.iter().any(|c| c.key == key))
    }

    /// Re-reads one unit strictly (see [`ReadUnit`]) with the field's
    /// hand-written read or, for a plain field, the table's.
    pub(crate) fn read_unit(
        &self,
        m: &MapRef<'_>,
        id: Option<LineId>,
    ) -> Result<Unit, SchemaError> {
        match (self.read, self.plain) {
            (Some(read), _) => read(m, id),
            (None, Some(plain)) => super::plain::read_unit(self.key, plain, m, id),
            (None, None) => Err(SchemaError::new(
                format!("/{}", self.key),
                "the field has no reader",
            )),
        }
    }

    /// The rule for the text at `key` (`None`: the field itself).
    pub fn text_rule(&self, key: Option<&str>) -> Option<&'static TextRule> {
        self.texts.iter().find(|r| r.key == key)
    }
}

/// Checks what one change added to a text field (see [`TextRule::max_insert`]).
pub(crate) fn check_inserted(field: &Field, chars: usize) -> Result<(), SchemaError> {
    for rule in field.texts.iter().filter(|r| r.key.is_none()) {
        if let Some(max) = rule.max_insert
            && chars > max
        {
            return Err(SchemaError::new(
                format!("/{}", field.key),
                format!("one change adds at most {max} characters"),
            ));
        }
    }
    Ok(())
}

fn no_unit(_: &MapRef<'_>, _: Option<LineId>) -> Result<Unit, SchemaError> {
    Ok(Unit::default())
}

/// The job document, field by field.
pub static FIELDS: &[Field] = &[
    Field::new(k::KIND, Shape::Scalar, Writer::Fixed),
    Field::new(k::SCHEMA_VERSION, Shape::Scalar, Writer::Fixed),
    Field {
        since: 2,
        ..Field::new(k::SCHEMA_REVISION, Shape::Scalar, Writer::Server)
    },
    Field::new(k::JOB_ID, Shape::Scalar, Writer::Fixed),
    Field::new(k::CREATED_AT, Shape::Scalar, Writer::Fixed),
    Field {
        keys: &[k::NAME, k::EMAIL, k::PHONE, k::FEEDBACK_OPT_OUT, k::ID],
        texts: &[
            text(k::NAME, "customer name", MAX_TEXT),
            // Structured: a long international number may pass the Luhn test.
            code(k::PHONE, "customer phone", MAX_TEXT),
        ],
        read: Some(|m, _| {
            read::read_customer(*m)?;
            read::registry_id(m).map(|_| Unit::default())
        }),
        created_only: &[k::ID],
        ..Field::new(k::CUSTOMER, Shape::Map, Writer::Office)
    },
    Field {
        keys: &[k::NAME, k::ADDRESS, k::ID],
        texts: &[
            text(k::NAME, "site name", MAX_TEXT),
            text(k::ADDRESS, "site address", MAX_TEXT),
        ],
        read: Some(|m, _| {
            read::read_site(*m)?;
            read::registry_id(m).map(|_| Unit::default())
        }),
        created_only: &[k::ID],
        ..Field::new(k::SITE, Shape::Map, Writer::Office)
    },
    Field {
        keys: &[
            k::PRODUCT,
            k::SERIAL,
            k::WARRANTY_END,
            k::CONTRACT_REF,
            k::ID,
            k::SKU,
        ],
        texts: &[
            text(k::PRODUCT, "asset product", MAX_TEXT),
            code(k::SERIAL, "asset serial", MAX_TEXT),
            code(k::CONTRACT_REF, "contract reference", MAX_TEXT),
        ],
        read: Some(|m, _| {
            read::read_asset(*m)?;
            read::registry_sku(m)?;
            read::registry_id(m).map(|_| Unit::default())
        }),
        // The product decides which warranty extensions fit the asset: the
        // server's, like the id.
        created_only: &[k::ID, k::SKU],
        ..Field::new(k::ASSET, Shape::Map, Writer::Office)
    },
    Field {
        texts: &[itself("problem", MAX_TEXT)],
        read: Some(|r, _| r.str(k::PROBLEM).map(|_| Unit::default())),
        ..Field::new(k::PROBLEM, Shape::Scalar, Writer::Office)
    },
    Field {
        read: Some(|r, _| {
            super::Priority::parse(r.str(k::PRIORITY)?)
                .map(|_| Unit::default())
                .ok_or_else(|| r.err(k::PRIORITY, "unknown priority"))
        }),
        ..Field::new(k::PRIORITY, Shape::Scalar, Writer::Office)
    },
    Field {
        keys: &[k::START, k::END],
        read: Some(|m, _| read::read_window(*m).map(|_| Unit::default())),
        ..Field::new(k::WINDOW, Shape::Whole, Writer::Office)
    },
    Field {
        read: Some(|r, _| read::read_technician(r).map(|_| Unit::default())),
        ..Field::new(k::TECHNICIAN, Shape::Scalar, Writer::Office)
    },
    Field {
        texts: &[itself("cancellation reason", MAX_TEXT)],
        read: Some(|r, _| r.opt_str(k::CANCEL_REASON).map(|_| Unit::default())),
        ..Field::new(k::CANCEL_REASON, Shape::Scalar, Writer::Office)
    },
    Field::new(k::STATUS, Shape::Status, Writer::Both),
    Field {
        // An entry is written whole by the status move it records.
        keys: &[k::FROM, k::TO, k::BY, k::ROLE, k::DEVICE_TIME],
        ..Field::new(k::STATUS_HISTORY, Shape::Log, Writer::Both)
    },
    Field {
        keys: &[
            k::BY,
            k::MINUTES,
            k::RATE,
            k::DESCRIPTION,
            k::VOIDED,
            k::DEVICE_TIME,
        ],
        editable: &[k::MINUTES, k::RATE, k::DESCRIPTION, k::VOIDED],
        texts: &[
            code(k::RATE, "labour rate", MAX_TEXT),
            text(k::DESCRIPTION, "labour description", MAX_TEXT),
        ],
        read: Some(|m, id| {
            let l = read::read_labour(line_id(m, id)?, *m)?;
            Ok(Unit {
                by: Some(l.by),
                voided: l.voided,
            })
        }),
        line: "labour entry",
        ..Field::new(
            k::LABOUR,
            Shape::Lines { replaceable: false },
            Writer::Technician,
        )
    },
    Field {
        keys: &[
            k::BY,
            k::SKU,
            k::QUANTITY,
            k::SERIALS,
            k::VAN,
            k::VOIDED,
            k::DEVICE_TIME,
        ],
        editable: &[k::QUANTITY, k::VOIDED],
        read: Some(|m, id| {
            let p = read::read_part(line_id(m, id)?, *m)?;
            Ok(Unit {
                by: Some(p.by),
                voided: p.voided,
            })
        }),
        line: "part line",
        ..Field::new(
            k::PARTS,
            Shape::Lines { replaceable: false },
            Writer::Technician,
        )
    },
    Field {
        keys: &[k::BY, k::METHOD, k::AMOUNT, k::REFERENCE, k::DEVICE_TIME],
        texts: &[text(k::REFERENCE, "payment reference", MAX_TEXT)],
        read: Some(|m, id| {
            let p = read::read_payment(line_id(m, id)?, *m)?;
            Ok(Unit {
                by: Some(p.by),
                voided: false,
            })
        }),
        line: "payment",
        ..Field::new(
            k::PAYMENTS,
            Shape::Lines { replaceable: false },
            Writer::Technician,
        )
    },
    Field {
        keys: &[k::VALUE, k::BY, k::DEVICE_TIME],
        texts: &[text(k::VALUE, "checklist answer", MAX_TEXT)],
        read: Some(|m, _| {
            let a = read::read_answer(*m)?;
            Ok(Unit {
                by: Some(a.by),
                voided: false,
            })
        }),
        line: "answer",
        office_keeps: true,
        ..Field::new(
            k::ANSWERS,
            Shape::Lines { replaceable: true },
            Writer::Technician,
        )
    },
    Field {
        // `kind` since schema 2, a key inside existing items: absent reads as text.
        keys: &[k::QUESTION, k::REQUIRED, k::KIND],
        editable: &[k::QUESTION, k::REQUIRED, k::KIND],
        texts: &[text(k::QUESTION, "checklist question", MAX_TEXT)],
        read: Some(|m, id| read::read_question(line_id(m, id)?, *m, None).map(|_| Unit::default())),
        line: "checklist item",
        ..Field::new(
            k::CHECKLIST,
            Shape::Lines { replaceable: true },
            Writer::Office,
        )
    },
    Field {
        when: When::Always,
        // One note (MAX_TEXT) and the line break before it per change.
        texts: &[TextRule {
            max_insert: Some(MAX_TEXT + 1),
            ..itself("notes", MAX_NOTES)
        }],
        read: Some(no_unit),
        ..Field::new(k::NOTES, Shape::Text, Writer::Both)
    },
    Field {
        when: When::OnSite,
        keys: &[k::SIGNER, k::IMAGE_SHA256, k::BY, k::DEVICE_TIME],
        texts: &[text(k::SIGNER, "signer", MAX_TEXT)],
        read: Some(|m, _| {
            let s = read::read_signature(*m)?;
            Ok(Unit {
                by: Some(s.by),
                voided: false,
            })
        }),
        ..Field::new(k::SIGNATURE, Shape::Whole, Writer::Technician)
    },
    Field {
        texts: &[itself("reason", MAX_TEXT)],
        read: Some(|r, _| r.opt_str(k::UNABLE_REASON).map(|_| Unit::default())),
        ..Field::new(k::UNABLE_REASON, Shape::Scalar, Writer::Technician)
    },
    Field {
        since: 2,
        keys: &[
            k::BY,
            k::SHA256,
            k::SIZE,
            k::MEDIA_TYPE,
            k::KIND,
            k::CAPTION,
            k::TAKEN_AT,
        ],
        // The media type's shape bounds it (read::is_media_type).
        texts: &[text(k::CAPTION, "caption", 1_000)],
        read: Some(|m, id| {
            let a = read::read_attachment(line_id(m, id)?, *m)?;
            Ok(Unit {
                by: Some(a.by),
                voided: false,
            })
        }),
        line: "attachment",
        ..Field::new(
            k::ATTACHMENTS,
            Shape::Lines { replaceable: false },
            Writer::Technician,
        )
    },
    Field {
        // Written whole by the office (the server, when a recall campaign
        // opens or flags the job): see `recall.rs`.
        keys: &[k::CAMPAIGN, k::REASON, k::REMEDY, k::COMPENSATION],
        texts: &[
            text(k::REASON, "recall reason", MAX_TEXT),
            text(k::COMPENSATION, "recall compensation", MAX_TEXT),
        ],
        read: Some(|m, _| super::recall::read_recall(*m).map(|_| Unit::default())),
        ..Field::new(k::RECALL, Shape::Whole, Writer::Office)
    },
    Field {
        when: When::OnSite,
        keys: &[
            k::REPLACEMENT,
            k::SERIALS,
            k::COMMITTED_DATE,
            k::SERVICE,
            k::BY,
            k::DEVICE_TIME,
        ],
        texts: &[text(k::SERVICE, "value-added service", MAX_TEXT)],
        read: Some(|m, _| {
            let r = super::recall::read_recall_remedy(*m)?;
            Ok(Unit {
                by: Some(r.by),
                voided: false,
            })
        }),
        ..Field::new(k::RECALL_REMEDY, Shape::Whole, Writer::Technician)
    },
    Field {
        // Written whole, once (crate::warranty::check_sale refuses a second
        // sale); a map at the root, not a container, so no upgrade. No
        // free text: the offer is a price book code (1-64 characters, read
        // strictly) that must be in the book.
        keys: &[k::OFFER, k::MONTHS, k::PRICE, k::BY, k::DEVICE_TIME],
        read: Some(|m, _| {
            let sale = read::read_extension(*m)?;
            Ok(Unit {
                by: Some(sale.by),
                voided: false,
            })
        }),
        ..Field::new(k::WARRANTY_EXTENSION, Shape::Whole, Writer::Both)
    },
    Field {
        // Refunds and credit notes (see `refund.rs`): the technician or the
        // office gives one, on a closed job too; a supervisor's decision is
        // the only later write (refund::check_line holds who and when).
        since: 3,
        when: When::Always,
        keys: &[
            k::KIND,
            k::AGAINST,
            k::AMOUNT,
            k::REASON,
            k::BY,
            k::ROLE,
            k::APPROVAL,
            k::DEVICE_TIME,
            k::DECISION,
            k::DECIDED_BY,
            k::DECISION_REASON,
            k::DECIDED_AT,
        ],
        editable: &[
            k::DECISION,
            k::DECIDED_BY,
            k::DECISION_REASON,
            k::DECIDED_AT,
        ],
        texts: &[
            text(k::REASON, "refund reason", super::refund::MAX_REASON),
            text(
                k::DECISION_REASON,
                "decision reason",
                super::refund::MAX_REASON,
            ),
        ],
        read: Some(super::refund::read_unit),
        line: "refund",
        ..Field::new(
            k::REFUNDS,
            Shape::Lines { replaceable: false },
            Writer::Both,
        )
    },
    Field {
        // Contacts the technician logged on site (issue 17): plain records
        // the server projects into the service desk's contact log.
        texts: &[text(
            k::SUMMARY,
            "contact summary",
            super::contact::MAX_SUMMARY,
        )],
        ..Field::records(k::CONTACTS, Writer::Technician, super::contact::COLUMNS, 3)
    },
    Field {
        // A return opened on the visit (see `rma.rs`): written once.
        since: 4,
        keys: &[
            k::BY,
            k::SKU,
            k::SERIAL,
            k::REASON,
            k::CONDITION,
            k::DEVICE_TIME,
        ],
        texts: &[
            code(k::SERIAL, "return serial", super::rma::MAX_SERIAL),
            text(k::REASON, "return reason", super::rma::MAX_REASON),
        ],
        read: Some(|m, id| {
            let r = super::rma::read_return(line_id(m, id)?, *m)?;
            Ok(Unit {
                by: Some(r.by),
                voided: false,
            })
        }),
        line: "return",
        ..Field::new(
            k::RETURNS,
            Shape::Lines { replaceable: false },
            Writer::Technician,
        )
    },
    Field {
        // The server's RMA number of each return, by the return's id:
        // nobody else writes it (`rma::write_rma_numbers`).
        since: 4,
        keys: &[k::NUMBER],
        read: Some(|m, id| {
            super::rma::read_rma_number(line_id(m, id)?, *m).map(|_| Unit::default())
        }),
        line: "RMA number",
        ..Field::new(
            k::RMA_NUMBERS,
            Shape::Lines { replaceable: false },
            Writer::Server,
        )
    },
    Field {
        // The invoice the server issued at completion (see `invoice.rs`):
        // a map at the root written whole, once, by the server alone; not
        // a container, so no upgrade creates it.
        since: 5,
        when: When::Always,
        keys: &[k::NUMBER, k::ISSUED_AT, k::BODY],
        read: Some(|m, _| super::invoice::read_issued(*m).map(|_| Unit::default())),
        ..Field::new(k::INVOICE, Shape::Whole, Writer::Server)
    },
];

fn line_id(m: &MapRef<'_>, id: Option<LineId>) -> Result<LineId, SchemaError> {
    id.ok_or_else(|| SchemaError::new(m.path, "expected a line"))
}

/// The field at root `key`, if the schema has one.
pub fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// The text rule of `field` at `key`; a missing rule is a bug in this crate.
pub(crate) fn rule(field_key: &str, key: Option<&str>) -> &'static TextRule {
    const NONE: TextRule = itself("text", MAX_TEXT);
    self::field(field_key)
        .and_then(|f| f.text_rule(key))
        .unwrap_or(&NONE)
}

/// `Err` naming the field when `value` breaks `rule`: too long, or a card
/// number in free text (the number itself is never repeated).
pub fn check_text(rule: &TextRule, value: &str) -> Result<(), InvalidValue> {
    if value.chars().count() > rule.max_chars {
        return Err(InvalidValue::new(
            rule.label,
            format!("is longer than {} characters", rule.max_chars),
        ));
    }
    if rule.free {
        refuse_card_number(rule.label, value)?;
    }
    Ok(())
}

/// Checks every text rule of `field` against one unit as stored: `unit` is
/// the unit's map (map fields, lines) or the root (scalar fields).
pub(crate) fn check_unit_texts(field: &Field, unit: &MapRef<'_>) -> Result<(), SchemaError> {
    for rule in field.texts {
        let key = rule.key.unwrap_or(field.key);
        if let Some(value) = unit.opt_str(key)? {
            check_text(rule, value)
                .map_err(|e| SchemaError::new(format!("{}/{key}", unit.path), e.reason))?;
        }
    }
    Ok(())
}

/// Checks a text field (the notes) as it reads in full.
pub(crate) fn check_text_field(field: &Field, value: &str) -> Result<(), SchemaError> {
    for rule in field.texts.iter().filter(|r| r.key.is_none()) {
        check_text(rule, value)
            .map_err(|e| SchemaError::new(format!("/{}", field.key), e.reason))?;
    }
    Ok(())
}

/// The schema version of a job document (1 when it records none).
pub fn revision(doc: &Automerge) -> Result<i64, SchemaError> {
    revision_at(doc, None)
}

pub(crate) fn revision_at(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<i64, SchemaError> {
    let value = match heads {
        Some(h) => doc.get_at(ROOT, k::SCHEMA_REVISION, h),
        None => doc.get(ROOT, k::SCHEMA_REVISION),
    }
    .map_err(|e| SchemaError::new("/schema_revision", e.to_string()))?;
    match value {
        None => Ok(1),
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(v) if *v >= 1 => Ok(*v),
            ScalarValue::Uint(v) if *v >= 1 => {
                i64::try_from(*v).map_err(|_| SchemaError::new("/schema_revision", "out of range"))
            }
            _ => Err(SchemaError::new(
                "/schema_revision",
                "expected a positive integer",
            )),
        },
        Some(_) => Err(SchemaError::new("/schema_revision", "expected a scalar")),
    }
}

/// Whether the job has the container of `field` (it is older than the field
/// until the server upgrades it).
pub(crate) fn has_field(doc: &Automerge, field: &Field) -> bool {
    !field.shape.is_container()
        || matches!(
            doc.get(ROOT, field.key),
            Ok(Some((automerge::Value::Object(_), _)))
        )
}

/// Creates the containers of the current schema in a new job.
pub(crate) fn create_containers<T: Transactable>(tx: &mut T) -> Result<(), ActionError> {
    tx.put(ROOT, k::SCHEMA_REVISION, VERSION)?;
    for f in FIELDS.iter().filter(|f| f.shape.is_container()) {
        put_container(tx, f)?;
    }
    Ok(())
}

fn put_container<T: Transactable>(tx: &mut T, field: &Field) -> Result<(), ActionError> {
    let kind = match field.shape {
        Shape::Text => ObjType::Text,
        Shape::Log => ObjType::List,
        _ => ObjType::Map,
    };
    tx.put_object(ROOT, field.key, kind)?;
    Ok(())
}

/// Brings a stored job to [`VERSION`]: creates the containers of the fields
/// added since its version and records the version, in one change by the
/// document's actor (the server's), with `now` as its time. Returns `None`
/// when the job is current (or newer: a newer server process wrote it).
///
/// Only the server calls this, and it commits the change through its
/// versioned write, so the containers are created once (see the module docs).
pub fn upgrade(doc: &mut Automerge, now: Timestamp) -> Result<Option<ChangeHash>, ActionError> {
    upgrade_to(doc, VERSION, now)
}

/// [`upgrade`] to version `target` (at most [`VERSION`]): what a server of
/// that version wrote, byte for byte (the schema tests replay documents an
/// older server upgraded).
pub fn upgrade_to(
    doc: &mut Automerge,
    target: i64,
    now: Timestamp,
) -> Result<Option<ChangeHash>, ActionError> {
    // Only a job that reads is upgraded.
    read::read_job(doc, None)?;
    let target = target.min(VERSION);
    let from = revision(doc)?;
    if from >= target {
        return Ok(None);
    }
    let mut tx = doc.transaction();
    for f in FIELDS
        .iter()
        .filter(|f| f.since > from && f.since <= target && f.shape.is_container())
    {
        if !matches!(tx.get(ROOT, f.key)?, Some((automerge::Value::Object(_), _))) {
            put_container(&mut tx, f)?;
        }
    }
    tx.put(ROOT, k::SCHEMA_REVISION, target)?;
    let (hash, _) = tx.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(format!("upgrade_schema_{target}"))
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(hash)
}

/// The status a `When` needs, checked against the job's status before a change.
pub(crate) fn allows(when: When, before: Status) -> bool {
    match when {
        When::Always => true,
        When::Open => !before.is_final(),
        When::OnSite => before == Status::OnSite,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn every_root_key_appears_once_and_containers_have_readers() {
        let mut keys: Vec<&str> = FIELDS.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is declared twice");
        for f in FIELDS {
            assert!(f.since >= 1 && f.since <= VERSION, "{}", f.key);
            if f.plain.is_some() {
                plain_field_is_whole(f);
                continue;
            }
            if matches!(f.shape, Shape::Lines { .. } | Shape::Map | Shape::Whole) {
                assert!(f.read.is_some(), "{} has no reader", f.key);
                assert!(!f.keys.is_empty(), "{} lists no keys", f.key);
            }
            for key in f.editable {
                assert!(
                    f.keys.contains(key),
                    "{}: {key} is editable but unknown",
                    f.key
                );
            }
            for rule in f.texts {
                if let Some(key) = rule.key {
                    assert!(f.keys.contains(&key), "{}: text {key} is unknown", f.key);
                }
            }
        }
    }

    /// A plain field reads by the table alone, and every text it can hold
    /// has a rule (so limits and card numbers are checked like any other).
    pub(crate) fn plain_field_is_whole(f: &Field) {
        assert!(
            f.read.is_none(),
            "{}: a plain field has no hand-written read",
            f.key
        );
        match f.plain {
            Some(Plain::Scalar(kind)) => {
                assert_eq!(f.shape, Shape::Scalar, "{}", f.key);
                assert!(f.keys.is_empty(), "{}", f.key);
                assert_eq!(kind == Kind::Text, f.text_rule(None).is_some(), "{}", f.key);
            }
            Some(Plain::Records(columns)) => {
                assert!(matches!(f.shape, Shape::Lines { .. }), "{}", f.key);
                assert!(!columns.is_empty(), "{} lists no columns", f.key);
                for c in columns {
                    assert!(
                        c.kind != Kind::Text || f.text_rule(Some(c.key)).is_some(),
                        "{}: text {} has no rule",
                        f.key,
                        c.key
                    );
                }
                let by = columns.iter().find(|c| c.key == k::BY);
                assert!(
                    by.is_none_or(|c| c.kind == Kind::User && c.required),
                    "{}: `by` names the writer",
                    f.key
                );
            }
            None => unreachable!(),
        }
        for key in f
            .editable
            .iter()
            .chain(f.texts.iter().filter_map(|r| r.key.as_ref()))
        {
            assert!(f.has_key(key), "{}: {key} is not a column", f.key);
        }
    }

    #[test]
    fn text_rules_name_the_field_never_the_number() {
        let note = rule(k::NOTES, None);
        assert_eq!(note.max_chars, MAX_NOTES);
        let e = check_text(note, "paid 4111 1111 1111 1111").unwrap_err();
        assert_eq!(e.what, "notes");
        assert!(!e.to_string().contains("4111"), "{e}");
        // Characters, not bytes: 10,000 four-byte characters fit.
        let description = rule(k::LABOUR, Some(k::DESCRIPTION));
        assert!(check_text(description, &"𝄞".repeat(MAX_TEXT)).is_ok());
        let e = check_text(description, &"x".repeat(MAX_TEXT + 1)).unwrap_err();
        assert_eq!(e.what, "labour description");
        // Codes are limited but their digits are no card number.
        let serial = rule(k::ASSET, Some(k::SERIAL));
        assert!(!serial.free);
        assert!(check_text(serial, "4111111111111111").is_ok());
    }
}

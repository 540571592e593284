//! Validation by role: the one check the device runs before it keeps a change
//! and the server runs before it stores one.
//!
//! Each new change is judged in the context its author saw (the document at
//! the change's dependencies), not against whatever the receiver holds now.
//! That is what lets offline work merge: a technician who completed a job the
//! office cancelled meanwhile made a valid change, and the conflict rule in
//! [`crate::status`] settles the outcome.
//!
//! What is checked, per change, by the schema table ([`crate::job::schema`])
//! where the rule is the field's:
//! - **where it writes**: every patch of the change (`diff(deps, [change])`)
//!   must land on a field and key the table lists, written the way its
//!   shape allows, by a role the table names as its writer; unknown fields
//!   and keys, replaced or created containers, deletions of lines and
//!   counters are refused;
//! - **what it writes**: every touched unit (a part line, the customer, ...)
//!   is re-read strictly at the change with the table's reader, and its
//!   texts keep the table's limits and hold no card number (texts that merge,
//!   the notes, are checked again as merged after the batch);
//! - **who it is**: a technician only writes jobs assigned to them (at the
//!   change's dependencies) and only their own lines; the office never
//!   writes labour, parts, payments or signatures, and writes an answer
//!   only to keep one of its concurrent values, copied exactly;
//! - **the lifecycle**: status moves follow [`Status::can_move`], each move
//!   carries exactly one matching history entry, completion needs a
//!   signature and work, and a closed job only takes notes;
//! - **what the server knows** ([`Context`]): a technician's part line takes
//!   stock from the van the server has them on; skus and labour rates are in
//!   the price book the job bills with, and serialized skus carry one serial
//!   per unit ([`crate::rules`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use automerge::hydrate::{Map, Value};
use automerge::{
    Automerge, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ROOT, ReadDoc,
};
use serde::{Deserialize, Serialize};

use crate::batch_texts::BatchTexts;
use crate::change_patches::change_patches;
use crate::error::SchemaError;
use crate::hydrated::MapRef;
use crate::ids::{LineId, LocationId, UserId};
use crate::job::keys as k;
use crate::job::read::{self, read_job, read_status};
use crate::job::schema::{self, Field, Shape, When, Writer};
use crate::job::{AttachmentKind, ChecklistKind, Job, LabourEntry, PartLine, RefundLimits};
use crate::pricebook::PriceBook;
use crate::role::Principal;
use crate::rules;
use crate::status::Status;

/// Why a set of changes was refused. Carried per document in sync responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// A value has the wrong type or breaks an invariant of the schema.
    Schema,
    /// The role may not write this field or this document.
    Forbidden,
    /// A technician wrote a job not assigned to them.
    NotAssigned,
    /// A status move the lifecycle does not allow.
    Transition,
    /// Completion without a signature, without any work recorded, or with a
    /// required checklist item unanswered.
    Incomplete,
    /// A change was authored by an actor that does not belong to the caller's device.
    ForeignActor,
    /// The sync bytes could not be decoded or broke a size limit.
    Malformed,
    /// A technician's part line names a van that is not theirs.
    WrongVan,
    /// A part line of a serialized sku without one serial per unit.
    Serials,
    /// A sku or labour rate the price book the job bills with does not have.
    NotInPriceBook,
    /// A `signature` attachment whose SHA-256 is not the one the job's
    /// signature holds (or a job with no signature yet).
    SignatureMismatch,
    /// A photo checklist item answered with something other than the id of
    /// an image attachment of the job.
    PhotoAnswer,
    /// A part line (or a recall's replacement) fitting a serial under a
    /// recall campaign (quarantined: see [`Context::recalled`]).
    Recalled,
    /// A refund recorded as given above its writer's limit, or a refund
    /// decided by someone who may not approve refunds
    /// ([`crate::job::refund`]).
    RefundLimit,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<SchemaError> for Rejection {
    fn from(e: SchemaError) -> Self {
        Rejection::new(RejectCode::Schema, e.to_string())
    }
}

fn forbidden(msg: impl Into<String>) -> Rejection {
    Rejection::new(RejectCode::Forbidden, msg)
}

/// What the server knows beyond the document that some rules need, as its
/// records say when it receives the changes (device clocks are never trusted,
/// so "at the time of the change" is the time the server sees it).
///
/// The server builds one per request; a device fills in what it knows and
/// leaves the rest [`Default`], which skips the rules that need it (the
/// server checks them again on receipt). Later rules add fields here (the
/// price book version the job bills with, ...): build it with
/// [`Context::default`] and the `with_*` methods, so adding one breaks no
/// caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// The van of the technician sending the changes.
    pub technician_van: TechnicianVan,
    /// The price book the job bills with (the server's current one); `None`
    /// where it is not known, which skips the price-book rules.
    pub price_book: Option<Arc<PriceBook>>,
    /// Serials under recall (quarantined), by sku: a part line may not fit
    /// one. The server knows every quarantined unit; a device knows those
    /// its van stock document lists. `None` skips the rule.
    pub recalled: Option<Arc<Recalled>>,
    /// What each role may refund without approval: the server's settings,
    /// or on a device the limits its price book carries. `None` skips the
    /// limit (the server checks it on receipt).
    pub refund_limits: Option<RefundLimits>,
}

/// Quarantined serials, by sku.
pub type Recalled = std::collections::BTreeSet<(crate::ids::Sku, String)>;

impl Context {
    pub fn with_technician_van(mut self, van: TechnicianVan) -> Self {
        self.technician_van = van;
        self
    }

    pub fn with_price_book(mut self, book: Arc<PriceBook>) -> Self {
        self.price_book = Some(book);
        self
    }

    pub fn with_recalled(mut self, recalled: Arc<Recalled>) -> Self {
        self.recalled = Some(recalled);
        self
    }

    pub fn with_refund_limits(mut self, limits: RefundLimits) -> Self {
        self.refund_limits = Some(limits);
        self
    }
}

/// The van assigned to a technician, as the server's records say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TechnicianVan {
    /// Not known where the check runs: the rule is not checked.
    #[default]
    Unknown,
    /// The technician has no van: they may not take parts.
    NoVan,
    Assigned(LocationId),
}

/// Validates `new` (hashes of changes already applied to `doc`, dependencies
/// before dependents) as written by `who`, without server context (see
/// [`validate_changes_in`]), and returns the merged job.
pub fn validate_changes(
    doc: &Automerge,
    new: &[ChangeHash],
    who: &Principal,
) -> Result<Job, Rejection> {
    validate_changes_in(doc, new, who, &Context::default())
}

/// Validates `new` as written by `who`, with the rules that need the
/// server's records checked against `ctx`, then reads the merged job and
/// hands it back, so callers need not read it again.
pub fn validate_changes_in(
    doc: &Automerge,
    new: &[ChangeHash],
    who: &Principal,
    ctx: &Context,
) -> Result<Job, Rejection> {
    validate_batch(doc, new.iter().map(|h| Judged::Hash(*h)), who, ctx)
}

/// [`validate_changes_in`] for changes the caller holds (`doc` holds them
/// too, applied): the same verdict, cheaper, since each change's own
/// operations say which objects to diff (see [`crate::change_patches`]).
pub fn validate_new_changes_in(
    doc: &Automerge,
    new: &[Change],
    who: &Principal,
    ctx: &Context,
) -> Result<Job, Rejection> {
    validate_batch(doc, new.iter().map(Judged::Change), who, ctx)
}

/// A change to judge: by hash (its patches from the whole document) or as held.
#[derive(Clone, Copy)]
enum Judged<'a> {
    Hash(ChangeHash),
    Change(&'a Change),
}

fn validate_batch<'a>(
    doc: &Automerge,
    new: impl Iterator<Item = Judged<'a>>,
    who: &Principal,
    ctx: &Context,
) -> Result<Job, Rejection> {
    let mut texts = BTreeMap::new();
    let mut carried = BatchTexts::default();
    let mut jobs = JobAt::default();
    let mut chain = Chain::default();
    for judged in new {
        let deps = match judged {
            Judged::Hash(hash) => doc
                .get_change_meta_by_hash(&hash)
                .ok_or_else(|| {
                    Rejection::new(RejectCode::Malformed, "change missing from document")
                })?
                .deps
                .to_vec(),
            Judged::Change(change) => change.deps().to_vec(),
        };
        validate_one(
            doc,
            judged,
            &deps,
            who,
            ctx,
            (&mut texts, &mut carried, &mut jobs, &mut chain),
        )?;
    }
    // Text merges concurrent insertions, so the merged text may be longer
    // than any change made it (and a card number could be split across
    // concurrent changes): check what the batch touched as it now reads.
    for field in texts.values() {
        schema::check_text_field(field, carried.at(doc, field.key, None)?)?;
    }
    Ok(jobs.now(doc)?)
}

/// The job as last read whole during a batch, and the change it was read
/// at: a completion, a refund or a signature reads it at its change, and
/// when that change is the batch's last the read after the batch is the
/// same one (a whole-job read costs about as much as validating a change).
#[derive(Default)]
struct JobAt(Option<(Vec<ChangeHash>, Job)>);

impl JobAt {
    /// The job as of `at`.
    fn at(&mut self, doc: &Automerge, at: &[ChangeHash]) -> Result<&Job, SchemaError> {
        if self.0.as_ref().is_none_or(|(heads, _)| heads != at) {
            self.0 = Some((at.to_vec(), read_job(doc, Some(at))?));
        }
        Ok(&self.0.as_ref().expect("read above").1)
    }

    /// The job as the document reads now.
    fn now(self, doc: &Automerge) -> Result<Job, SchemaError> {
        match self.0 {
            Some((heads, job)) if doc.get_heads() == heads => {
                debug_assert_eq!(job, read_job(doc, None)?, "the job read at the last change");
                Ok(job)
            }
            _ => read_job(doc, None),
        }
    }
}

fn validate_one(
    doc: &Automerge,
    judged: Judged<'_>,
    deps: &[ChangeHash],
    who: &Principal,
    ctx: &Context,
    (texts, carried, jobs, chain): (
        &mut BTreeMap<&'static str, &'static Field>,
        &mut BatchTexts,
        &mut JobAt,
        &mut Chain,
    ),
) -> Result<(), Rejection> {
    let hash = match judged {
        Judged::Hash(hash) => hash,
        Judged::Change(change) => change.hash(),
    };
    let at = [hash];
    if deps.is_empty() {
        return validate_creation(doc, &at, who);
    }
    // What the previous change of the batch left, when this one follows it.
    let follows = chain.follows(deps);
    let mut assigned = None;
    if who.role.is_field() {
        // A technician's batch never writes the technician (the office
        // does), so it reads as the previous change left it.
        assigned = match follows {
            Some(prev) => prev.assigned,
            None => assigned_at(doc, deps),
        };
        debug_assert_eq!(assigned, assigned_at(doc, deps), "the technician carried");
        if assigned != Some(who.user) {
            return Err(Rejection::new(
                RejectCode::NotAssigned,
                "the job was not assigned to you when this change was made",
            ));
        }
    } else if !who.role.is_office() {
        return Err(forbidden("this role does not edit jobs"));
    }

    let before = match follows {
        Some(prev) => prev.status,
        None => read_status(doc, Some(deps))?.0,
    };
    debug_assert_eq!(
        before,
        read_status(doc, Some(deps))?.0,
        "the status carried"
    );
    let mut touched = Touched::default();
    let patches = match judged {
        Judged::Hash(_) => doc.diff(deps, &at),
        Judged::Change(change) => change_patches(doc, deps, change),
    };
    for patch in &patches {
        classify(doc, patch, (deps, hash), before, who, &mut touched)?;
    }
    carried.advance(doc, deps, hash, &patches);
    check_touched(doc, &touched, (deps, &at, &patches), who, ctx, jobs)?;
    check_texts(doc, &touched, hash, carried)?;
    let after = check_status(doc, &touched, before, &at, who, jobs)?;
    chain.0 = Some(Link {
        hash,
        status: after,
        assigned,
    });
    texts.extend(touched.texts);
    Ok(())
}

/// The technician a job is assigned to as of `heads`.
fn assigned_at(doc: &Automerge, heads: &[ChangeHash]) -> Option<UserId> {
    doc.get_at(ROOT, k::TECHNICIAN, heads)
        .ok()
        .flatten()
        .and_then(|(v, _)| v.as_str().and_then(|s| s.parse::<UserId>().ok()))
}

/// A device's batch is usually a chain, each change on the one before: what
/// a change left (its status, and in a technician's batch the job's
/// technician) is what the next one starts from, so it is carried instead
/// of read again at each change.
#[derive(Default)]
struct Chain(Option<Link>);

#[derive(Clone, Copy)]
struct Link {
    hash: ChangeHash,
    status: Status,
    assigned: Option<UserId>,
}

impl Chain {
    /// The previous change, when `deps` is exactly it.
    fn follows(&self, deps: &[ChangeHash]) -> Option<Link> {
        self.0.filter(|link| deps == [link.hash])
    }
}

/// The first change of a job: only the office writes it, and it must read as a job.
fn validate_creation(doc: &Automerge, at: &[ChangeHash], who: &Principal) -> Result<(), Rejection> {
    if !who.role.is_office() {
        return Err(forbidden("only the office creates jobs"));
    }
    let roots = doc
        .get_changes(&[])
        .iter()
        .filter(|c| c.deps().is_empty())
        .count();
    if roots != 1 {
        return Err(forbidden("a job is created once"));
    }
    let job = read_job(doc, Some(at))?;
    if job.status != Status::Scheduled {
        return Err(Rejection::new(
            RejectCode::Transition,
            "a job starts scheduled",
        ));
    }
    check_all_texts(doc, at)
}

/// Units of the job a change wrote, re-read afterwards.
#[derive(Default)]
struct Touched {
    status: bool,
    history_entries: Vec<ObjId>,
    /// Scalar, map and whole fields: re-read as of the change.
    fields: BTreeMap<&'static str, &'static Field>,
    /// Lines, by field and line key.
    lines: BTreeMap<(&'static str, String), &'static Field>,
    /// Text fields.
    texts: BTreeMap<&'static str, &'static Field>,
    /// Characters the change added to each text field.
    inserted: BTreeMap<&'static str, usize>,
}

/// The full path of a patch: its object's path plus the key or index it acts on.
fn segments(patch: &automerge::Patch) -> Vec<Prop> {
    let mut out: Vec<Prop> = patch.path.iter().map(|(_, p)| p.clone()).collect();
    match &patch.action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
            out.push(Prop::Map(key.clone()))
        }
        PatchAction::PutSeq { index, .. }
        | PatchAction::Insert { index, .. }
        | PatchAction::DeleteSeq { index, .. }
        | PatchAction::SpliceText { index, .. } => out.push(Prop::Seq(*index)),
        PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => {
            out.push(prop.clone())
        }
        PatchAction::Mark { .. } => {}
    }
    out
}

fn key_of(p: &Prop) -> Option<&str> {
    match p {
        Prop::Map(s) => Some(s.as_str()),
        Prop::Seq(_) => None,
    }
}

/// Decides, by the schema table, whether one patch may be written by `who`.
fn classify(
    doc: &Automerge,
    patch: &automerge::Patch,
    (deps, hash): (&[ChangeHash], ChangeHash),
    before: Status,
    who: &Principal,
    touched: &mut Touched,
) -> Result<(), Rejection> {
    let segs = segments(patch);
    let Some(root_key) = segs.first().and_then(key_of) else {
        return Err(forbidden("unexpected change at the document root"));
    };
    if matches!(
        patch.action,
        PatchAction::Increment { .. } | PatchAction::Mark { .. }
    ) {
        return Err(forbidden("counters and marks are not used in jobs"));
    }
    if matches!(patch.action, PatchAction::Conflict { .. }) {
        return Ok(());
    }
    let Some(field) = schema::field(root_key) else {
        return Err(forbidden(format!("unknown field {root_key:?}")));
    };
    let key = field.key;
    match field.writer {
        Writer::Fixed => return Err(forbidden(format!("{key} never changes"))),
        Writer::Server => return Err(forbidden(format!("only the server writes {key}"))),
        Writer::Office if !field.writer.admits(who.role) => {
            return Err(forbidden(format!("only the office edits {key}")));
        }
        // The office keeping one of an answer's concurrent values is
        // checked as a copy in `check_touched`.
        Writer::Technician if field.office_keeps && who.role.is_office() => {}
        Writer::Technician if !field.writer.admits(who.role) => {
            return Err(forbidden(format!("only the technician writes {key}")));
        }
        _ => {}
    }
    if !schema::allows(field.when, before) {
        return Err(Rejection::new(
            RejectCode::Transition,
            match field.when {
                When::OnSite => format!("{key} is written on site only"),
                _ => format!("the job is {before}; only notes can change"),
            },
        ));
    }

    let depth = segs.len();
    let put = matches!(patch.action, PatchAction::PutMap { .. });
    match field.shape {
        Shape::Scalar | Shape::Status => {
            if depth != 1 || !put {
                return Err(forbidden(format!("{key} is set, never deleted")));
            }
            if field.shape == Shape::Status {
                touched.status = true;
            } else {
                touched.fields.insert(key, field);
            }
        }
        Shape::Map => {
            if depth != 2 || !put {
                return Err(forbidden(format!("{key} is edited field by field")));
            }
            known_key(field, segs.get(1))?;
            if let Some(sub) = segs.get(1).and_then(key_of)
                && field.created_only.contains(&sub)
            {
                return Err(forbidden(format!(
                    "{key}.{sub} is written when the job is created, never changed"
                )));
            }
            touched.fields.insert(key, field);
        }
        Shape::Whole => {
            if !whole_object(doc, patch, depth, hash) {
                return Err(forbidden(format!("{key} is written whole")));
            }
            if depth == 2 {
                known_key(field, segs.get(1))?;
            }
            touched.fields.insert(key, field);
        }
        Shape::Text => {
            if depth == 1 {
                return Err(forbidden(format!("the {key} text cannot be replaced")));
            }
            if let PatchAction::SpliceText { value, .. } = &patch.action {
                *touched.inserted.entry(key).or_default() += value.make_string().chars().count();
            }
            touched.texts.insert(key, field);
        }
        Shape::Log => match (&patch.action, depth) {
            (PatchAction::Insert { values, .. }, 2) => {
                for (_, id, _) in values.iter() {
                    touched.history_entries.push(id.clone());
                }
            }
            // Fields of an entry this change inserted, and only those an
            // entry has (read_history_entry would ignore any other).
            (PatchAction::PutMap { .. }, 3) if created_by(doc, &patch.obj, hash) => {
                known_key(field, segs.get(2))?;
            }
            _ => return Err(forbidden(format!("{key} is append-only"))),
        },
        Shape::Lines { replaceable } => {
            entry_patch(doc, patch, &segs, (deps, hash), field, replaceable, touched)?;
        }
    }
    Ok(())
}

/// The key a patch writes inside a unit must be one the schema lists.
fn known_key(field: &Field, seg: Option<&Prop>) -> Result<(), Rejection> {
    match seg.and_then(key_of) {
        Some(sub) if field.has_key(sub) => Ok(()),
        Some(sub) => Err(forbidden(format!("{} has no field {sub:?}", field.key))),
        None => Err(forbidden(format!("{} is a map", field.key))),
    }
}

/// A root field written as a whole new map: the put of the map itself, or a
/// field inside the map this change made.
fn whole_object(doc: &Automerge, patch: &automerge::Patch, depth: usize, hash: ChangeHash) -> bool {
    match (&patch.action, depth) {
        (PatchAction::PutMap { value, .. }, 1) => created_by(doc, &value.1, hash),
        (PatchAction::PutMap { .. }, 2) => created_by(doc, &patch.obj, hash),
        // A list of the new map (a remedy's replacement serials): the list
        // is new too, so its map was put by this change (checked above).
        (PatchAction::Insert { .. }, 3) => created_by(doc, &patch.obj, hash),
        _ => false,
    }
}

/// True when `obj` was made by the change `hash` (a new line, a new history entry).
fn created_by(doc: &Automerge, obj: &ObjId, hash: ChangeHash) -> bool {
    doc.hash_for_opid(obj) == Some(hash)
}

/// A patch inside a container of lines keyed by line id.
fn entry_patch(
    doc: &Automerge,
    patch: &automerge::Patch,
    segs: &[Prop],
    (deps, hash): (&[ChangeHash], ChangeHash),
    field: &'static Field,
    replaceable: bool,
    touched: &mut Touched,
) -> Result<(), Rejection> {
    let container = field.key;
    let Some(line) = segs.get(1).and_then(key_of) else {
        return Err(forbidden(format!("{container} cannot be replaced")));
    };
    match (segs.len(), &patch.action) {
        (2, PatchAction::PutMap { value, .. }) => {
            // A new line: a map made by this change. Replacing an existing
            // line would hide the original, so only replaceable lines
            // (answers, checklist questions) may be written again.
            let fresh = created_by(doc, &value.1, hash);
            let existed = hydrate_map_at(doc, &[container, line], deps).is_some();
            if !fresh || (existed && !replaceable) {
                return Err(forbidden(format!(
                    "lines in {container} are never replaced"
                )));
            }
        }
        (2, _) => {
            return Err(forbidden(format!(
                "lines in {container} are voided, never deleted"
            )));
        }
        _ => {
            known_key(field, segs.get(2))?;
            let in_place = segs.len() == 3
                && matches!(patch.action, PatchAction::PutMap { .. })
                && segs
                    .get(2)
                    .and_then(key_of)
                    .is_some_and(|sub| field.editable.contains(&sub));
            // Anything inside an object this change made (a new line's
            // fields, its serials), or an editable key put in place.
            if !created_by(doc, &patch.obj, hash) && !in_place {
                return Err(forbidden(format!(
                    "this field of a line in {container} cannot be edited"
                )));
            }
        }
    }
    touched.lines.insert((container, line.to_owned()), field);
    Ok(())
}

fn hydrate_map_at(doc: &Automerge, keys: &[&str], at: &[ChangeHash]) -> Option<Map> {
    let mut obj = ROOT;
    for key in keys {
        obj = match doc.get_at(&obj, *key, at).ok()?? {
            (automerge::Value::Object(_), id) => id,
            _ => return None,
        };
    }
    match ReadDoc::hydrate(doc, &obj, Some(at)).ok()? {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

/// The map at `keys` from the root as of the change `at` (one hash), when
/// the change made it: then it holds only what the change put in it, which
/// its patches list key by key, so it is built from them instead of read
/// from the document (a read seeks through every column of the op set, and
/// cost more than the rest of a new line's checks). `None` when the change
/// did not make it, or it holds anything but plain values (then read it).
/// Debug builds compare with the read.
fn made_unit_at(
    doc: &Automerge,
    patches: &[Patch],
    keys: &[&str],
    at: &[ChangeHash],
) -> Option<Map> {
    let built = made_unit(doc, patches, keys, at);
    if let Some(built) = &built {
        debug_assert_eq!(
            Some(built),
            hydrate_map_at(doc, keys, at).as_ref(),
            "{keys:?} built from the change's patches"
        );
    }
    built
}

fn made_unit(doc: &Automerge, patches: &[Patch], keys: &[&str], at: &[ChangeHash]) -> Option<Map> {
    let [hash] = at else {
        return None;
    };
    let (last, parents) = keys.split_last()?;
    // The put of the map itself, shown as the key's value.
    let id = patches.iter().find_map(|p| match &p.action {
        PatchAction::PutMap {
            key,
            value: (automerge::Value::Object(ObjType::Map), id),
            conflict: false,
        } if key == last
            && p.path.len() == parents.len()
            && p.path
                .iter()
                .zip(parents.iter())
                .all(|((_, prop), want)| key_of(prop) == Some(*want)) =>
        {
            Some(id)
        }
        _ => None,
    })?;
    if !created_by(doc, id, *hash) {
        return None;
    }
    let mut map = std::collections::HashMap::new();
    for patch in patches.iter().filter(|p| p.obj == *id) {
        match &patch.action {
            PatchAction::PutMap {
                key,
                value: (automerge::Value::Scalar(v), _),
                conflict: false,
            } => {
                map.insert(key.clone(), Value::Scalar(v.clone().into_owned()));
            }
            _ => return None,
        }
    }
    Some(Map::from(map))
}

/// Re-reads every unit the change touched, strictly, as of the change, with
/// the schema's reader and text rules, then the rules that need more.
fn check_touched(
    doc: &Automerge,
    touched: &Touched,
    (deps, at, patches): (&[ChangeHash], &[ChangeHash], &[Patch]),
    who: &Principal,
    ctx: &Context,
    jobs: &mut JobAt,
) -> Result<(), Rejection> {
    if !touched.fields.is_empty() {
        // A map field the change wrote whole (the signature) is built from
        // its patches; otherwise read the job's root as of the change.
        let made: Vec<Option<Map>> = touched
            .fields
            .iter()
            .map(|(key, field)| match field.shape {
                Shape::Map | Shape::Whole => made_unit_at(doc, patches, &[key], at),
                _ => None,
            })
            .collect();
        let root = if made.iter().any(Option::is_none) {
            Some(
                hydrate_map_at(doc, &[], at)
                    .ok_or_else(|| Rejection::new(RejectCode::Schema, "root is not a map"))?,
            )
        } else {
            None
        };
        for ((key, field), made) in touched.fields.iter().zip(&made) {
            let path = format!("/{key}");
            let unit = match (made, &root) {
                (Some(made), _) => MapRef::new(made, &path),
                (None, Some(root)) => {
                    let r = MapRef::new(root, "");
                    match field.shape {
                        Shape::Map | Shape::Whole => MapRef::new(r.map(key)?, &path),
                        _ => r,
                    }
                }
                (None, None) => unreachable!("the root is read when a field is not built"),
            };
            let info = field.read_unit(&unit, None)?;
            schema::check_unit_texts(field, &unit)?;
            if info.by.is_some_and(|by| by != who.user) {
                return Err(forbidden(format!(
                    "{key} is recorded in the name of the one who wrote it"
                )));
            }
        }
        if touched.fields.contains_key(k::WARRANTY_EXTENSION) {
            crate::warranty::check_sale(doc, deps, at, ctx)?;
        }
    }
    for ((key, line), field) in &touched.lines {
        if field.writer == Writer::Technician && !who.role.is_field() {
            // Only an office keeping one value gets here (see `classify`);
            // the copy was read and checked when its technician wrote it.
            kept_copy(doc, field, line, deps, at)?;
            continue;
        }
        let path = format!("/{key}/{line}");
        let id: LineId = line
            .parse()
            .map_err(|_| SchemaError::new(path.clone(), "entry key is not a line id"))?;
        let now = made_unit_at(doc, patches, &[key, line], at)
            .or_else(|| hydrate_map_at(doc, &[key, line], at))
            .ok_or_else(|| SchemaError::new(path.clone(), "expected a map"))?;
        let m = MapRef::new(&now, &path);
        let unit = field.read_unit(&m, Some(id))?;
        schema::check_unit_texts(field, &m)?;
        let prior = hydrate_map_at(doc, &[key, line], deps);
        if *key == k::REFUNDS {
            // A supervisor decides someone else's line: refund.rs has the rules.
            let prior = prior
                .as_ref()
                .map(|p| crate::job::refund::read_refund(id, MapRef::new(p, &path)))
                .transpose()?;
            let now = crate::job::refund::read_refund(id, m)?;
            let job = jobs.at(doc, at)?;
            crate::job::refund::check_line(
                &now,
                prior.as_ref(),
                job,
                who,
                ctx.refund_limits.as_ref(),
                ctx.price_book.as_deref(),
            )?;
            continue;
        }
        if let (Some(prior), Shape::Lines { replaceable: false }) = (&prior, field.shape) {
            // Edited in place: only live lines, only by the one who wrote them.
            let prior = field.read_unit(&MapRef::new(prior, &path), Some(id))?;
            if prior.voided {
                return Err(forbidden(format!("a voided {} cannot change", field.line)));
            }
            if prior.by.is_some_and(|by| by != who.user) {
                return Err(forbidden(format!("the {} is someone else's", field.line)));
            }
        }
        if unit.by.is_some_and(|by| by != who.user) {
            return Err(forbidden("lines are recorded in the writer's own name"));
        }
        if *key == k::PARTS {
            let prior = prior
                .as_ref()
                .map(|p| read::read_part(id, MapRef::new(p, &path)))
                .transpose()?;
            let part = read::read_part(id, m)?;
            own_van(&part, prior.as_ref(), who, ctx)?;
            priced_part(&part, prior.as_ref(), ctx)?;
            if prior.is_none() {
                // Serials are written with the line and never change.
                not_recalled(&part.sku, &part.serials, ctx)?;
            }
        }
        if *key == k::LABOUR {
            let prior = prior
                .as_ref()
                .map(|p| read::read_labour(id, MapRef::new(p, &path)))
                .transpose()?;
            priced_labour(&read::read_labour(id, m)?, prior.as_ref(), ctx)?;
        }
        if *key == k::ANSWERS {
            photo_answered(doc, line, at, jobs)?;
        }
        if *key == k::ATTACHMENTS {
            let attachment = read::read_attachment(id, m)?;
            if attachment.kind == AttachmentKind::Signature {
                let job = jobs.at(doc, at)?;
                rules::signature_attachment(job, &attachment)?;
            }
        }
    }
    Ok(())
}

/// An answer the change wrote to a photo checklist item names an image
/// attachment of the job as of the change. (Text items, the common case,
/// cost one small map read, not a read of the job.)
fn photo_answered(
    doc: &Automerge,
    item: &str,
    at: &[ChangeHash],
    jobs: &mut JobAt,
) -> Result<(), Rejection> {
    let photo = hydrate_map_at(doc, &[k::CHECKLIST, item], at).is_some_and(|m| {
        MapRef::new(&m, "").opt_str(k::KIND).ok().flatten() == Some(ChecklistKind::Photo.as_str())
    });
    if !photo {
        return Ok(());
    }
    let job = jobs.at(doc, at)?;
    let Some(item) = job.checklist.iter().find(|c| c.id.to_string() == item) else {
        return Ok(());
    };
    match &item.answer {
        Some(answer) => rules::photo_answer(job, item, &answer.value),
        None => Ok(()),
    }
}

/// An office write of a technician's line (a checklist answer) resolves a
/// conflict and nothing else: at the change's dependencies the line held
/// different concurrent values, the change writes one of them again exactly
/// (value, writer and time) and leaves the line holding only that.
fn kept_copy(
    doc: &Automerge,
    field: &Field,
    line: &str,
    deps: &[ChangeHash],
    at: &[ChangeHash],
) -> Result<(), Rejection> {
    let refuse = || {
        forbidden(format!(
            "the office writes {} only to keep one of a {}'s concurrent values",
            field.key, field.line
        ))
    };
    let Some((automerge::Value::Object(_), container)) =
        doc.get_at(ROOT, field.key, deps).ok().flatten()
    else {
        return Err(refuse());
    };
    let values_at = |heads: &[ChangeHash]| -> Vec<Map> {
        doc.get_all_at(&container, line, heads)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, id)| match ReadDoc::hydrate(doc, &id, Some(heads)) {
                Ok(Value::Map(m)) => Some(m),
                _ => None,
            })
            .collect()
    };
    let Some(written) = hydrate_map_at(doc, &[field.key, line], at) else {
        return Err(refuse());
    };
    let before = values_at(deps);
    let in_conflict = before.len() > 1 && before.iter().any(|v| !same_map(v, &before[0]));
    if !in_conflict || values_at(at).len() != 1 || !before.iter().any(|v| same_map(v, &written)) {
        return Err(refuse());
    }
    Ok(())
}

/// The same keys holding the same values (whatever conflicts they hold).
fn same_map(a: &Map, b: &Map) -> bool {
    a.iter().count() == b.iter().count()
        && a.iter()
            .all(|(key, v)| b.get(key).is_some_and(|w| *w == v.value))
}

/// The text fields a change touched, as they read after it: what one change
/// may add, then the field's limits and card numbers over the whole text
/// (carried from the previous change of the batch where it can be).
fn check_texts(
    doc: &Automerge,
    touched: &Touched,
    hash: ChangeHash,
    carried: &mut BatchTexts,
) -> Result<(), Rejection> {
    for (key, field) in &touched.texts {
        schema::check_inserted(field, touched.inserted.get(key).copied().unwrap_or(0))?;
        schema::check_text_field(field, carried.at(doc, key, Some(&[hash]))?)?;
    }
    Ok(())
}

/// Stock only from your own van: a technician's part line that takes stock
/// (a new line, or a new quantity) names the van the server has them on.
/// Voiding returns stock to the line's van, whichever it is.
fn own_van(
    part: &PartLine,
    prior: Option<&PartLine>,
    who: &Principal,
    ctx: &Context,
) -> Result<(), Rejection> {
    if !who.role.is_field() || prior.is_some_and(|p| p.quantity == part.quantity) {
        return Ok(());
    }
    let wrong = |why: &str| Err(Rejection::new(RejectCode::WrongVan, why));
    match ctx.technician_van {
        TechnicianVan::Unknown => Ok(()),
        TechnicianVan::Assigned(van) if van == part.van => Ok(()),
        TechnicianVan::Assigned(_) => {
            wrong("part lines take stock from your own van; this one names another")
        }
        TechnicianVan::NoVan => wrong("part lines take stock from your own van; you have none"),
    }
}

/// No serial of `sku` in `serials` is under recall (quarantined).
fn not_recalled(sku: &crate::ids::Sku, serials: &[String], ctx: &Context) -> Result<(), Rejection> {
    let Some(recalled) = &ctx.recalled else {
        return Ok(());
    };
    match serials
        .iter()
        .find(|s| recalled.contains(&(sku.clone(), (*s).clone())))
    {
        Some(s) => Err(Rejection::new(
            RejectCode::Recalled,
            format!("serial {s} of {sku} is under recall: it may not be fitted"),
        )),
        None => Ok(()),
    }
}

/// A part line that takes stock (a new line, or a new quantity) names a sku
/// of the price book, with one serial per unit when the sku is serialized.
/// Voiding is always allowed: it bills and takes nothing.
fn priced_part(part: &PartLine, prior: Option<&PartLine>, ctx: &Context) -> Result<(), Rejection> {
    let Some(book) = &ctx.price_book else {
        return Ok(());
    };
    if prior.is_some_and(|p| p.quantity == part.quantity) {
        return Ok(());
    }
    let price = rules::known_part(book, &part.sku)?;
    rules::serials_per_unit(price.serialized, part.quantity, &part.serials)
}

/// A new labour entry, or one whose rate changes, names a rate of the price
/// book. (Other edits of an entry keep its rate, known when it was written.)
fn priced_labour(
    entry: &LabourEntry,
    prior: Option<&LabourEntry>,
    ctx: &Context,
) -> Result<(), Rejection> {
    let Some(book) = &ctx.price_book else {
        return Ok(());
    };
    if prior.is_some_and(|p| p.rate == entry.rate) {
        return Ok(());
    }
    rules::known_labour_rate(book, &entry.rate).map(drop)
}

/// Checks a text field's limits as of `heads` (or now).
fn check_text_at(
    doc: &Automerge,
    field: &Field,
    heads: Option<&[ChangeHash]>,
) -> Result<(), Rejection> {
    let found = match heads {
        Some(h) => doc.get_at(ROOT, field.key, h),
        None => doc.get(ROOT, field.key),
    }
    .ok()
    .flatten();
    let Some((automerge::Value::Object(ObjType::Text), obj)) = found else {
        return Err(SchemaError::new(format!("/{}", field.key), "expected text").into());
    };
    let text = match heads {
        Some(h) => doc.text_at(&obj, h),
        None => doc.text(&obj),
    }
    .map_err(|e| SchemaError::new(format!("/{}", field.key), e.to_string()))?;
    Ok(schema::check_text_field(field, &text)?)
}

/// Every text of a job, as of `at` (a new job).
fn check_all_texts(doc: &Automerge, at: &[ChangeHash]) -> Result<(), Rejection> {
    let root = hydrate_map_at(doc, &[], at)
        .ok_or_else(|| Rejection::new(RejectCode::Schema, "root is not a map"))?;
    let r = MapRef::new(&root, "");
    for field in schema::FIELDS.iter().filter(|f| !f.texts.is_empty()) {
        let path = format!("/{}", field.key);
        match field.shape {
            Shape::Scalar => schema::check_unit_texts(field, &r)?,
            Shape::Map | Shape::Whole => {
                if let Some(m) = r.opt_map(field.key)? {
                    schema::check_unit_texts(field, &MapRef::new(m, &path))?;
                }
            }
            Shape::Lines { .. } => {
                for (line, value) in r.opt_map(field.key)?.into_iter().flat_map(|m| m.iter()) {
                    let path = format!("{path}/{line}");
                    let Value::Map(m) = &value.value else {
                        return Err(SchemaError::new(path, "expected a map").into());
                    };
                    schema::check_unit_texts(field, &MapRef::new(m, &path))?;
                }
            }
            Shape::Text => check_text_at(doc, field, Some(at))?,
            Shape::Log | Shape::Status => {}
        }
    }
    Ok(())
}

fn check_status(
    doc: &Automerge,
    touched: &Touched,
    before: Status,
    at: &[ChangeHash],
    who: &Principal,
    jobs: &mut JobAt,
) -> Result<Status, Rejection> {
    let after = if touched.status {
        read_status(doc, Some(at))?.0
    } else {
        before
    };
    let moved = after != before;
    if moved && !before.can_move(after, who.role) {
        return Err(Rejection::new(
            RejectCode::Transition,
            format!("{} may not move a job from {before} to {after}", who.role),
        ));
    }
    if touched.status && !moved {
        return Err(Rejection::new(
            RejectCode::Transition,
            "status rewritten without a move",
        ));
    }
    let expected_entries = usize::from(moved);
    if touched.history_entries.len() != expected_entries {
        return Err(Rejection::new(
            RejectCode::Transition,
            "each status move carries exactly one history entry",
        ));
    }
    for entry in &touched.history_entries {
        let m = match ReadDoc::hydrate(doc, entry, Some(at)) {
            Ok(Value::Map(m)) => m,
            _ => return Err(SchemaError::new("/status_history", "expected a map").into()),
        };
        let change = read::read_history_entry(MapRef::new(&m, "/status_history"))?;
        if change.from != Some(before)
            || change.to != after
            || change.by != who.user
            || change.role != who.role
        {
            return Err(Rejection::new(
                RejectCode::Transition,
                "the history entry does not match the status move",
            ));
        }
    }
    if after == Status::Completed && moved {
        let job = jobs.at(doc, at)?;
        if let Some(why) = job.completion_blocker() {
            return Err(Rejection::new(RejectCode::Incomplete, why));
        }
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit};

    use super::*;

    #[test]
    fn a_line_the_change_made_is_built_from_its_patches() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        let parts = doc.put_object(ROOT, "parts", ObjType::Map).unwrap();
        let old = doc.put_object(&parts, "l0", ObjType::Map).unwrap();
        doc.put(&old, "sku", "PUMP").unwrap();
        doc.commit();
        let deps = doc.get_heads();
        // A new line of plain values, a new line with a list, an edit.
        let plain = doc.put_object(&parts, "l1", ObjType::Map).unwrap();
        doc.put(&plain, "sku", "VALVE").unwrap();
        doc.put(&plain, "quantity", 2).unwrap();
        let listed = doc.put_object(&parts, "l2", ObjType::Map).unwrap();
        let serials = doc.put_object(&listed, "serials", ObjType::List).unwrap();
        doc.insert(&serials, 0, "S1").unwrap();
        doc.put(&old, "quantity", 3).unwrap();
        doc.commit();
        let at = doc.get_heads();
        let doc = doc.document().clone();
        let patches = doc.diff(&deps, &at);

        let built = made_unit(&doc, &patches, &["parts", "l1"], &at).expect("built");
        assert_eq!(Some(built), hydrate_map_at(&doc, &["parts", "l1"], &at));
        // A list inside, a line made earlier: read from the document.
        assert_eq!(made_unit(&doc, &patches, &["parts", "l2"], &at), None);
        assert_eq!(made_unit(&doc, &patches, &["parts", "l0"], &at), None);
        // Not where the path says.
        assert_eq!(made_unit(&doc, &patches, &["labour", "l1"], &at), None);
    }
}

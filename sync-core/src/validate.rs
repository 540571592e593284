//! Validation by role: the one check the device runs before it keeps a change
//! and the server runs before it stores one.
//!
//! Each new change is judged in the context its author saw (the document at
//! the change's dependencies), not against whatever the receiver holds now.
//! That is what lets offline work merge: a technician who completed a job the
//! office cancelled meanwhile made a valid change, and the conflict rule in
//! [`crate::status`] settles the outcome.
//!
//! What is checked, per change:
//! - **where it writes**: every patch of the change (`diff(deps, [change])`)
//!   must land on a field the role owns; unknown fields, replaced
//!   containers, deletions of lines and counters are refused;
//! - **what it writes**: every touched unit (a part line, the customer, ...)
//!   is re-read strictly at the change, so types and invariants hold;
//! - **who it is**: a technician only writes jobs assigned to them (at the
//!   change's dependencies) and only their own lines; the office never
//!   writes labour, parts, payments, answers or signatures;
//! - **the lifecycle**: status moves follow [`Status::can_move`], each move
//!   carries exactly one matching history entry, completion needs a
//!   signature and work, and a closed job only takes notes.

use std::collections::BTreeSet;

use automerge::hydrate::{Map, Value};
use automerge::{Automerge, ChangeHash, ObjId, PatchAction, Prop, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::error::SchemaError;
use crate::hydrated::MapRef;
use crate::ids::{LineId, UserId};
use crate::job::Job;
use crate::job::keys as k;
use crate::job::read::{self, read_job, read_status};
use crate::role::Principal;
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
    /// Completion without a signature or without any work recorded.
    Incomplete,
    /// A change was authored by an actor that does not belong to the caller's device.
    ForeignActor,
    /// The sync bytes could not be decoded or broke a size limit.
    Malformed,
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

/// Validates `new` (hashes of changes already applied to `doc`, dependencies
/// before dependents) as written by `who`, then checks the merged job still
/// reads cleanly and returns it, so callers need not read it again.
pub fn validate_changes(
    doc: &Automerge,
    new: &[ChangeHash],
    who: &Principal,
) -> Result<Job, Rejection> {
    for hash in new {
        let meta = doc
            .get_change_meta_by_hash(hash)
            .ok_or_else(|| Rejection::new(RejectCode::Malformed, "change missing from document"))?;
        validate_one(doc, *hash, &meta.deps, who)?;
    }
    Ok(read_job(doc, None)?)
}

fn validate_one(
    doc: &Automerge,
    hash: ChangeHash,
    deps: &[ChangeHash],
    who: &Principal,
) -> Result<(), Rejection> {
    let at = [hash];
    if deps.is_empty() {
        return validate_creation(doc, &at, who);
    }
    if who.role.is_field() {
        let assigned = doc
            .get_at(ROOT, k::TECHNICIAN, deps)
            .ok()
            .flatten()
            .and_then(|(v, _)| v.as_str().and_then(|s| s.parse::<UserId>().ok()));
        if assigned != Some(who.user) {
            return Err(Rejection::new(
                RejectCode::NotAssigned,
                "the job was not assigned to you when this change was made",
            ));
        }
    } else if !who.role.is_office() {
        return Err(forbidden("this role does not edit jobs"));
    }

    let before = read_status(doc, Some(deps))?.0;
    let mut touched = Touched::default();
    for patch in doc.diff(deps, &at) {
        classify(doc, &patch, (deps, hash), before, who, &mut touched)?;
    }
    check_touched(doc, &touched, deps, &at, who)?;
    check_status(doc, &touched, before, &at, who)
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
    Ok(())
}

/// Units of the job a change wrote, re-read afterwards.
#[derive(Default)]
struct Touched {
    status: bool,
    history_entries: Vec<ObjId>,
    root_maps: BTreeSet<&'static str>,
    entries: BTreeSet<(&'static str, String)>,
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

/// Root fields only the office writes (maps hold scalars the office edits in place).
const OFFICE_MAPS: [&str; 3] = [k::CUSTOMER, k::SITE, k::ASSET];
const OFFICE_SCALARS: [&str; 4] = [k::PROBLEM, k::PRIORITY, k::TECHNICIAN, k::CANCEL_REASON];
/// Containers of lines the technician owns.
const TECH_ENTRIES: [&str; 4] = [k::LABOUR, k::PARTS, k::PAYMENTS, k::ANSWERS];

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
    let office = who.role.is_office();
    let tech = who.role.is_field();
    let depth = segs.len();
    let closed = before.is_final();

    // A closed job takes notes only.
    if closed && root_key != k::NOTES {
        return Err(Rejection::new(
            RejectCode::Transition,
            format!("the job is {before}; only notes can change"),
        ));
    }

    match root_key {
        k::NOTES => {
            if depth == 1 {
                return Err(forbidden("the notes text cannot be replaced"));
            }
            Ok(())
        }
        k::STATUS => {
            if depth != 1 || !matches!(patch.action, PatchAction::PutMap { .. }) {
                return Err(forbidden("status is set, never deleted"));
            }
            touched.status = true;
            Ok(())
        }
        k::STATUS_HISTORY => {
            match (&patch.action, depth) {
                (PatchAction::Insert { values, .. }, 2) => {
                    for (_, id, _) in values.iter() {
                        touched.history_entries.push(id.clone());
                    }
                    Ok(())
                }
                // Fields of an entry this change inserted.
                (PatchAction::PutMap { .. }, 3) if created_by(doc, &patch.obj, hash) => Ok(()),
                _ => Err(forbidden("status history is append-only")),
            }
        }
        key if OFFICE_MAPS.contains(&key) => {
            if !office {
                return Err(forbidden(format!("only the office edits {key}")));
            }
            if depth != 2 || !matches!(patch.action, PatchAction::PutMap { .. }) {
                return Err(forbidden(format!("{key} is edited field by field")));
            }
            touched.root_maps.insert(static_key(key));
            Ok(())
        }
        key if OFFICE_SCALARS.contains(&key) => {
            if !office {
                return Err(forbidden(format!("only the office edits {key}")));
            }
            if depth != 1 || !matches!(patch.action, PatchAction::PutMap { .. }) {
                return Err(forbidden(format!("{key} is set, never deleted")));
            }
            touched.root_maps.insert(static_key(key));
            Ok(())
        }
        k::CHECKLIST => {
            if !office {
                return Err(forbidden("only the office edits checklist questions"));
            }
            entry_patch(
                doc,
                patch,
                &segs,
                (deps, hash),
                k::CHECKLIST,
                &[k::QUESTION, k::REQUIRED],
                touched,
            )
        }
        key if TECH_ENTRIES.contains(&key) => {
            if !tech {
                return Err(forbidden(format!("only the technician writes {key}")));
            }
            let editable: &[&str] = match key {
                k::PARTS => &[k::QUANTITY, k::VOIDED],
                k::LABOUR => &[k::MINUTES, k::RATE, k::DESCRIPTION],
                _ => &[],
            };
            entry_patch(
                doc,
                patch,
                &segs,
                (deps, hash),
                static_key(key),
                editable,
                touched,
            )
        }
        k::SIGNATURE => {
            if !tech {
                return Err(forbidden("only the technician captures the signature"));
            }
            if before != Status::OnSite {
                return Err(Rejection::new(
                    RejectCode::Transition,
                    "the customer signs on site",
                ));
            }
            if !whole_object(doc, patch, depth, hash) {
                return Err(forbidden("a signature is captured whole"));
            }
            touched.root_maps.insert(k::SIGNATURE);
            Ok(())
        }
        k::WINDOW => {
            if !office {
                return Err(forbidden("only the office edits the window"));
            }
            // Replaced whole, so concurrent edits can never mix one side's
            // start with the other's end.
            if !whole_object(doc, patch, depth, hash) {
                return Err(forbidden("the window is replaced whole"));
            }
            touched.root_maps.insert(k::WINDOW);
            Ok(())
        }
        k::UNABLE_REASON => {
            if !tech || depth != 1 {
                return Err(forbidden("only the technician gives the reason"));
            }
            touched.root_maps.insert(k::UNABLE_REASON);
            Ok(())
        }
        k::KIND | k::SCHEMA_VERSION | k::JOB_ID | k::CREATED_AT => {
            Err(forbidden(format!("{root_key} never changes")))
        }
        other => Err(forbidden(format!("unknown field {other:?}"))),
    }
}

/// Interns a root key we matched against our own constants.
fn static_key(key: &str) -> &'static str {
    [
        k::CUSTOMER,
        k::SITE,
        k::ASSET,
        k::WINDOW,
        k::PROBLEM,
        k::PRIORITY,
        k::TECHNICIAN,
        k::CANCEL_REASON,
        k::WINDOW,
        k::LABOUR,
        k::PARTS,
        k::PAYMENTS,
        k::ANSWERS,
        k::CHECKLIST,
    ]
    .into_iter()
    .find(|k| *k == key)
    .unwrap_or("")
}

/// A root field written as a whole new map: the put of the map itself, or a
/// field inside the map this change made.
fn whole_object(doc: &Automerge, patch: &automerge::Patch, depth: usize, hash: ChangeHash) -> bool {
    match (&patch.action, depth) {
        (PatchAction::PutMap { value, .. }, 1) => created_by(doc, &value.1, hash),
        (PatchAction::PutMap { .. }, 2) => created_by(doc, &patch.obj, hash),
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
    container: &'static str,
    editable: &[&str],
    touched: &mut Touched,
) -> Result<(), Rejection> {
    let Some(line) = segs.get(1).and_then(key_of) else {
        return Err(forbidden(format!("{container} cannot be replaced")));
    };
    match (segs.len(), &patch.action) {
        (2, PatchAction::PutMap { value, .. }) => {
            // A new line: a map made by this change. Replacing an existing
            // line would hide the original, so only answers may be re-given.
            let fresh = created_by(doc, &value.1, hash);
            let existed = hydrate_map_at(doc, &[container, line], deps).is_some();
            if !fresh || (existed && container != k::ANSWERS && container != k::CHECKLIST) {
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
        // Anything inside an object this change made (a new line's fields, its serials).
        (_, _) if created_by(doc, &patch.obj, hash) => {}
        (3, PatchAction::PutMap { key, .. }) if editable.contains(&key.as_str()) => {}
        _ => {
            return Err(forbidden(format!(
                "this field of a line in {container} cannot be edited"
            )));
        }
    }
    touched.entries.insert((container, line.to_owned()));
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

/// Re-reads every unit the change touched, strictly, as of the change.
fn check_touched(
    doc: &Automerge,
    touched: &Touched,
    deps: &[ChangeHash],
    at: &[ChangeHash],
    who: &Principal,
) -> Result<(), Rejection> {
    if !touched.root_maps.is_empty() {
        // Office fields and the signature are small: read the job as of the change.
        let root = hydrate_map_at(doc, &[], at)
            .ok_or_else(|| Rejection::new(RejectCode::Schema, "root is not a map"))?;
        let r = MapRef::new(&root, "");
        for key in &touched.root_maps {
            match *key {
                k::CUSTOMER => {
                    read::read_customer(MapRef::new(r.map(k::CUSTOMER)?, "/customer"))?;
                }
                k::SITE => {
                    read::read_site(MapRef::new(r.map(k::SITE)?, "/site"))?;
                }
                k::ASSET => {
                    read::read_asset(MapRef::new(r.map(k::ASSET)?, "/asset"))?;
                }
                k::WINDOW => {
                    read::read_window(MapRef::new(r.map(k::WINDOW)?, "/window"))?;
                }
                k::SIGNATURE => {
                    let sig =
                        read::read_signature(MapRef::new(r.map(k::SIGNATURE)?, "/signature"))?;
                    if sig.by != who.user {
                        return Err(forbidden(
                            "a signature is recorded by the one who captured it",
                        ));
                    }
                }
                k::PROBLEM => {
                    r.str(k::PROBLEM)?;
                }
                k::PRIORITY => {
                    crate::job::Priority::parse(r.str(k::PRIORITY)?)
                        .ok_or_else(|| r.err(k::PRIORITY, "unknown priority"))?;
                }
                k::TECHNICIAN => {
                    r.opt_str(k::TECHNICIAN)?
                        .map(|s| s.parse::<UserId>())
                        .transpose()
                        .map_err(|_| r.err(k::TECHNICIAN, "not a user id"))?;
                }
                k::CANCEL_REASON | k::UNABLE_REASON => {
                    r.opt_str(key)?;
                }
                _ => {}
            }
        }
    }
    for (container, line) in &touched.entries {
        let path = format!("/{container}/{line}");
        let id: LineId = line
            .parse()
            .map_err(|_| SchemaError::new(path.clone(), "entry key is not a line id"))?;
        let now = hydrate_map_at(doc, &[container, line], at)
            .ok_or_else(|| SchemaError::new(path.clone(), "expected a map"))?;
        let m = MapRef::new(&now, &path);
        let prior = hydrate_map_at(doc, &[container, line], deps);
        let by: Option<UserId> = match *container {
            k::LABOUR => Some(read::read_labour(id, m)?.by),
            k::PAYMENTS => Some(read::read_payment(id, m)?.by),
            k::ANSWERS => Some(read::read_answer(m)?.by),
            k::CHECKLIST => {
                read::read_question(id, m, None)?;
                None
            }
            k::PARTS => {
                let part = read::read_part(id, m)?;
                if let Some(prior) = &prior {
                    let prior = read::read_part(id, MapRef::new(prior, &path))?;
                    if prior.voided {
                        return Err(forbidden("a voided part line cannot change"));
                    }
                    if prior.by != who.user {
                        return Err(forbidden("the part line is someone else's"));
                    }
                }
                Some(part.by)
            }
            _ => None,
        };
        if let Some(by) = by
            && who.role.is_field()
            && by != who.user
        {
            return Err(forbidden("lines are recorded in the writer's own name"));
        }
        if *container == k::LABOUR
            && let Some(prior) = &prior
            && read::read_labour(id, MapRef::new(prior, &path))?.by != who.user
        {
            return Err(forbidden("the labour entry is someone else's"));
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
) -> Result<(), Rejection> {
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
        let job = read_job(doc, Some(at))?;
        if let Some(why) = job.completion_blocker() {
            return Err(Rejection::new(RejectCode::Incomplete, why));
        }
    }
    Ok(())
}

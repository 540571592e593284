//! Every edit to a job is a named action, applied as one automerge change.
//!
//! An action first checks its preconditions against the current state (so a
//! device gets a clear error, not a rejected sync), then writes, then runs
//! the same validator the server runs on receipt. A change the validator
//! rejects is rolled back before anyone can see it.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use super::keys as k;
use super::model::*;
use super::read::{check_serials, is_media_type, is_sha256, read_job};
use super::schema::{self, TextRule, Writer};
use crate::error::{ActionError, InvalidValue};
use crate::hydrated::format_date;
use crate::ids::{Email, JobId, LineId, LocationId, Money, Quantity, Sku, Timestamp, UserId};
use crate::role::{Principal, Role};
use crate::status::Status;
use crate::validate::{self, Context};

/// Everything the office supplies to create a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: JobId,
    pub customer: Customer,
    pub site: Site,
    pub asset: Asset,
    pub problem: String,
    pub priority: Priority,
    pub window: Window,
    pub technician: Option<UserId>,
    #[serde(default)]
    pub checklist: Vec<ChecklistQuestion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChecklistQuestion {
    pub id: LineId,
    pub question: String,
    #[serde(default)]
    pub required: bool,
    /// Text unless given: a photo item is answered by an attachment.
    #[serde(default)]
    pub kind: ChecklistKind,
}

/// Office edits of the job's details; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DetailsEdit {
    pub customer_name: Option<String>,
    /// `Some(None)` clears the address.
    pub customer_email: Option<Option<Email>>,
    pub customer_phone: Option<Option<String>>,
    pub feedback_opt_out: Option<bool>,
    pub site_name: Option<Option<String>>,
    pub site_address: Option<String>,
    pub asset_product: Option<String>,
    pub asset_serial: Option<Option<String>>,
    pub warranty_end: Option<Option<time::Date>>,
    pub contract_ref: Option<Option<String>>,
    pub problem: Option<String>,
    pub priority: Option<Priority>,
}

/// A named edit of a job. Technician actions first, then the office's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum JobAction {
    StartTravel,
    Arrive,
    AddLabour {
        entry: LineId,
        minutes: u32,
        rate: String,
        description: String,
    },
    UsePart {
        line: LineId,
        sku: Sku,
        quantity: Quantity,
        serials: Vec<String>,
        van: LocationId,
    },
    SetPartQuantity {
        line: LineId,
        quantity: Quantity,
    },
    VoidPartLine {
        line: LineId,
    },
    /// Sets a labour entry of mine to these values (a typo corrected in
    /// place; only what differs is written).
    CorrectLabourEntry {
        entry: LineId,
        minutes: u32,
        rate: String,
        description: String,
    },
    /// Voids a labour entry of mine: kept, never deleted, and not billed.
    VoidLabourEntry {
        entry: LineId,
    },
    AddNote {
        text: String,
    },
    AnswerChecklist {
        item: LineId,
        value: String,
    },
    RecordPayment {
        payment: LineId,
        method: PaymentMethod,
        amount: Money,
        reference: Option<String>,
    },
    CaptureSignature {
        signer: String,
        image_sha256: String,
    },
    Complete,
    UnableToComplete {
        reason: String,
    },
    /// A reference to a file the device holds (schema 2); the bytes travel
    /// separately. `taken_at` is the action's time.
    AddAttachment {
        attachment: LineId,
        sha256: String,
        size: u64,
        media_type: String,
        kind: AttachmentKind,
        caption: String,
    },
    /// Opens a return (RMA) for a part or the product, offline (see
    /// [`super::rma`]): the server numbers it on the next sync.
    OpenReturn {
        id: LineId,
        sku: Sku,
        serial: String,
        reason: String,
        condition: super::ReturnCondition,
    },
    /// Records the remedy of the job's recall (see [`super::recall`]):
    /// written whole, again when the permanent replacement is fitted.
    RecordRecallRemedy {
        replacement: super::Replacement,
        serials: Vec<String>,
        committed_date: Option<time::Date>,
        service: Option<String>,
    },
    /// Sells a warranty extension for the job's registry asset: the price
    /// book's offer with the months and price quoted from it (build it with
    /// [`crate::warranty::sale`]). The technician on site or the office,
    /// once per job, while the job is open.
    SellExtension {
        offer: String,
        months: u32,
        price: Money,
    },
    /// Logs a customer contact on site (schema 3; see [`super::contact`]):
    /// the server projects it into the service desk's contact log, which
    /// routes it to a team's queue.
    LogContact {
        contact: LineId,
        channel: super::ContactChannel,
        direction: super::ContactDirection,
        category: super::ContactCategory,
        summary: String,
    },
    // Office.
    EditDetails(DetailsEdit),
    EditWindow(Window),
    /// Replace the notes with this text (automerge merges it with concurrent edits).
    EditNotes {
        text: String,
    },
    SetChecklistItem(ChecklistQuestion),
    Reassign {
        technician: Option<UserId>,
    },
    Cancel {
        reason: String,
    },
    /// Keeps one of the concurrent values of an office field or a
    /// checklist answer (see [`Job::conflicts`]): the one `actor` (hex)
    /// wrote is written again, which supersedes every value the office has
    /// seen. An answer is copied whole, still in its technician's name.
    ResolveConflict {
        field: String,
        actor: String,
    },
    /// Marks the job as one for a recall campaign (the server does, when
    /// the campaign opens or flags it).
    FlagRecall(super::RecallNotice),
    /// Gives a refund (against a payment of the job) or a credit note
    /// (against a labour entry or part line): the technician or the office.
    /// `approval` is what [`super::RefundLimits::approval`] says for the
    /// giver with the limits the caller knows (on a device, its price
    /// book's); above the limit it is pending until a supervisor decides.
    GiveRefund {
        refund: LineId,
        kind: super::RefundKind,
        against: LineId,
        amount: Money,
        reason: String,
        approval: super::Approval,
    },
    /// A supervisor approves or declines a pending refund, with a reason
    /// (the server writes it; `now` is the server's time).
    DecideRefund {
        refund: LineId,
        decision: super::Decision,
        reason: String,
    },
}

impl JobAction {
    /// The change message recorded with the action (handy in audits and debugging).
    pub fn name(&self) -> &'static str {
        match self {
            JobAction::StartTravel => "start_travel",
            JobAction::Arrive => "arrive",
            JobAction::AddLabour { .. } => "add_labour",
            JobAction::UsePart { .. } => "use_part",
            JobAction::SetPartQuantity { .. } => "set_part_quantity",
            JobAction::VoidPartLine { .. } => "void_part_line",
            JobAction::CorrectLabourEntry { .. } => "correct_labour_entry",
            JobAction::VoidLabourEntry { .. } => "void_labour_entry",
            JobAction::AddNote { .. } => "add_note",
            JobAction::AnswerChecklist { .. } => "answer_checklist",
            JobAction::RecordPayment { .. } => "record_payment",
            JobAction::CaptureSignature { .. } => "capture_signature",
            JobAction::Complete => "complete",
            JobAction::UnableToComplete { .. } => "unable_to_complete",
            JobAction::AddAttachment { .. } => "add_attachment",
            JobAction::SellExtension { .. } => "sell_extension",
            JobAction::LogContact { .. } => "log_contact",
            JobAction::EditDetails(_) => "edit_details",
            JobAction::EditWindow(_) => "edit_window",
            JobAction::EditNotes { .. } => "edit_notes",
            JobAction::SetChecklistItem(_) => "set_checklist_item",
            JobAction::Reassign { .. } => "reassign",
            JobAction::Cancel { .. } => "cancel",
            JobAction::ResolveConflict { .. } => "resolve_conflict",
            JobAction::RecordRecallRemedy { .. } => "record_recall_remedy",
            JobAction::OpenReturn { .. } => "open_return",
            JobAction::FlagRecall(_) => "flag_recall",
            JobAction::GiveRefund { .. } => "give_refund",
            JobAction::DecideRefund { .. } => "decide_refund",
        }
    }

    /// The root fields of the job the action writes. Who may take it and
    /// when follow from their entries in the schema table.
    pub fn fields(&self) -> &'static [&'static str] {
        use JobAction::*;
        match self {
            StartTravel | Arrive | Complete => &[k::STATUS, k::STATUS_HISTORY],
            UnableToComplete { .. } => &[k::UNABLE_REASON, k::STATUS, k::STATUS_HISTORY],
            Cancel { .. } => &[k::CANCEL_REASON, k::STATUS, k::STATUS_HISTORY],
            AddLabour { .. } | CorrectLabourEntry { .. } | VoidLabourEntry { .. } => &[k::LABOUR],
            UsePart { .. } | SetPartQuantity { .. } | VoidPartLine { .. } => &[k::PARTS],
            AddNote { .. } | EditNotes { .. } => &[k::NOTES],
            AnswerChecklist { .. } => &[k::ANSWERS],
            RecordPayment { .. } => &[k::PAYMENTS],
            CaptureSignature { .. } => &[k::SIGNATURE],
            AddAttachment { .. } => &[k::ATTACHMENTS],
            RecordRecallRemedy { .. } => &[k::RECALL_REMEDY],
            OpenReturn { .. } => &[k::RETURNS],
            FlagRecall(_) => &[k::RECALL],
            GiveRefund { .. } | DecideRefund { .. } => &[k::REFUNDS],
            SellExtension { .. } => &[k::WARRANTY_EXTENSION],
            LogContact { .. } => &[k::CONTACTS],
            EditDetails(_) => &[k::CUSTOMER, k::SITE, k::ASSET, k::PROBLEM, k::PRIORITY],
            EditWindow(_) => &[k::WINDOW],
            SetChecklistItem(_) => &[k::CHECKLIST],
            Reassign { .. } => &[k::TECHNICIAN],
            // The office fields that can hold a conflict; it writes one.
            ResolveConflict { .. } => &[
                k::WINDOW,
                k::PRIORITY,
                k::PROBLEM,
                k::CUSTOMER,
                k::SITE,
                k::ASSET,
            ],
        }
    }

    /// The line, entry, payment or checklist item the action creates or
    /// names (shown with an action the server refused).
    pub fn line(&self) -> Option<LineId> {
        use JobAction::*;
        match self {
            AddLabour { entry, .. }
            | CorrectLabourEntry { entry, .. }
            | VoidLabourEntry { entry } => Some(*entry),
            UsePart { line, .. } | SetPartQuantity { line, .. } | VoidPartLine { line } => {
                Some(*line)
            }
            AnswerChecklist { item, .. } => Some(*item),
            RecordPayment { payment, .. } => Some(*payment),
            OpenReturn { id, .. } => Some(*id),
            GiveRefund { refund, .. } | DecideRefund { refund, .. } => Some(*refund),
            LogContact { contact, .. } => Some(*contact),
            _ => None,
        }
    }

    /// The status a lifecycle action moves the job to.
    fn target(&self) -> Option<Status> {
        match self {
            JobAction::StartTravel => Some(Status::Travelling),
            JobAction::Arrive => Some(Status::OnSite),
            JobAction::Complete => Some(Status::Completed),
            JobAction::UnableToComplete { .. } => Some(Status::UnableToComplete),
            JobAction::Cancel { .. } => Some(Status::Cancelled),
            _ => None,
        }
    }
}

/// Whether `role` may take `action` at all: every field it writes admits
/// the role, and the lifecycle lets the role make its status move.
fn may_take(action: &JobAction, role: Role) -> Result<(), &'static str> {
    let office = role.is_office();
    if !office && !role.is_field() {
        return Err("this role does not edit jobs");
    }
    let refused = if office {
        "only the assigned technician can do this"
    } else {
        "only the office can do this"
    };
    for key in action.fields() {
        let writer = schema::field(key).map_or(Writer::Fixed, |f| f.writer);
        if !writer.admits(role) {
            return Err(refused);
        }
    }
    if let Some(to) = action.target()
        && !Status::ALL.iter().any(|from| from.can_move(to, role))
    {
        return Err(refused);
    }
    Ok(())
}

/// One job's automerge document with typed reads and named edits.
#[derive(Clone, Debug)]
pub struct JobDoc {
    doc: Automerge,
}

impl JobDoc {
    /// Creates a job. Only the office creates jobs; `actor` must be unique to this writer.
    pub fn create(
        spec: &JobSpec,
        actor: ActorId,
        who: Principal,
        now: Timestamp,
    ) -> Result<Self, ActionError> {
        Self::create_from(spec, &Registry::default(), actor, who, now)
    }

    /// Creates a job whose customer, site and asset snapshots were copied
    /// from the registry records `registry` names (their ids are kept with
    /// the snapshots).
    pub fn create_from(
        spec: &JobSpec,
        registry: &Registry,
        actor: ActorId,
        who: Principal,
        now: Timestamp,
    ) -> Result<Self, ActionError> {
        if !who.role.is_office() {
            return Err(ActionError::NotAllowed(
                "only the office creates jobs".into(),
            ));
        }
        check_spec(spec)?;
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        tx.put(ROOT, k::KIND, k::KIND_JOB)?;
        tx.put(ROOT, k::SCHEMA_VERSION, schema::FORMAT)?;
        // Every container exists from the start: two writers creating the
        // same container concurrently would each hide the other's entries.
        schema::create_containers(&mut tx)?;
        tx.put(ROOT, k::JOB_ID, spec.id.to_string())?;
        tx.put(ROOT, k::CREATED_AT, ScalarValue::Timestamp(now.0))?;
        let customer = tx.put_object(ROOT, k::CUSTOMER, ObjType::Map)?;
        tx.put(&customer, k::NAME, spec.customer.name.trim())?;
        put_opt(
            &mut tx,
            &customer,
            k::EMAIL,
            spec.customer.email.as_ref().map(Email::as_str),
        )?;
        put_opt(&mut tx, &customer, k::PHONE, spec.customer.phone.as_deref())?;
        tx.put(
            &customer,
            k::FEEDBACK_OPT_OUT,
            spec.customer.feedback_opt_out,
        )?;
        // Only jobs made from the registry carry ids: others keep the keys
        // every earlier version wrote.
        if let Some(id) = registry.customer {
            tx.put(&customer, k::ID, id.to_string())?;
        }
        let site = tx.put_object(ROOT, k::SITE, ObjType::Map)?;
        put_opt(&mut tx, &site, k::NAME, spec.site.name.as_deref())?;
        tx.put(&site, k::ADDRESS, spec.site.address.trim())?;
        if let Some(id) = registry.site {
            tx.put(&site, k::ID, id.to_string())?;
        }
        let asset = tx.put_object(ROOT, k::ASSET, ObjType::Map)?;
        tx.put(&asset, k::PRODUCT, spec.asset.product.trim())?;
        put_opt(&mut tx, &asset, k::SERIAL, spec.asset.serial.as_deref())?;
        put_opt(
            &mut tx,
            &asset,
            k::WARRANTY_END,
            spec.asset.warranty_end.map(format_date).as_deref(),
        )?;
        put_opt(
            &mut tx,
            &asset,
            k::CONTRACT_REF,
            spec.asset.contract_ref.as_deref(),
        )?;
        if let Some(id) = registry.asset {
            tx.put(&asset, k::ID, id.to_string())?;
        }
        if let Some(sku) = &registry.asset_sku {
            tx.put(&asset, k::SKU, sku.as_str())?;
        }
        tx.put(ROOT, k::PROBLEM, spec.problem.trim())?;
        tx.put(ROOT, k::PRIORITY, spec.priority.as_str())?;
        put_window(&mut tx, &spec.window)?;
        put_opt(
            &mut tx,
            &ROOT,
            k::TECHNICIAN,
            spec.technician.map(|t| t.to_string()).as_deref(),
        )?;
        tx.put(ROOT, k::STATUS, Status::Scheduled.as_str())?;
        let history = obj(&tx, k::STATUS_HISTORY)?;
        push_history(&mut tx, &history, None, Status::Scheduled, who, now)?;
        let checklist = obj(&tx, k::CHECKLIST)?;
        for q in &spec.checklist {
            put_question(&mut tx, &checklist, q)?;
        }
        tx.commit_with(commit_options("create", now));
        let job = JobDoc { doc };
        let heads = job.doc.get_heads();
        validate::validate_changes(&job.doc, &heads, &who)?;
        Ok(job)
    }

    /// Wraps a document loaded from storage or received by sync, checking it reads as a job.
    pub fn from_doc(doc: Automerge) -> Result<Self, ActionError> {
        read_job(&doc, None)?;
        Ok(Self { doc })
    }

    /// Wraps a document without checking it (it was validated when it was stored).
    pub fn from_trusted(doc: Automerge) -> Self {
        Self { doc }
    }

    pub fn doc(&self) -> &Automerge {
        &self.doc
    }

    pub fn doc_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    pub fn into_doc(self) -> Automerge {
        self.doc
    }

    pub fn read(&self) -> Result<Job, ActionError> {
        Ok(read_job(&self.doc, None)?)
    }

    /// Refuses an action writing a field this (older) document does not have yet.
    fn check_fields(&self, action: &JobAction) -> Result<(), ActionError> {
        for key in action.fields() {
            if let Some(field) = schema::field(key)
                && !schema::has_field(&self.doc, field)
            {
                return Err(ActionError::NotAllowed(
                    format!(
                        "this job predates {key}: sync, so the server can upgrade it, then try again"
                    )
                    .into(),
                ));
            }
        }
        Ok(())
    }

    /// Applies one action as `who`, returning the hash of the new change.
    /// Rules that need the server's records are left to the server (see
    /// [`JobDoc::apply_in`]).
    pub fn apply(
        &mut self,
        action: &JobAction,
        who: Principal,
        now: Timestamp,
    ) -> Result<ChangeHash, ActionError> {
        self.apply_in(action, who, now, &Context::default())
    }

    /// Applies one action as `who`, validating it with what the caller knows
    /// of the server's records (a device: its van).
    pub fn apply_in(
        &mut self,
        action: &JobAction,
        who: Principal,
        now: Timestamp,
        ctx: &Context,
    ) -> Result<ChangeHash, ActionError> {
        self.check_fields(action)?;
        let job = self.read()?;
        check_allowed(&job, action, who)?;
        let before = self.doc.get_heads();
        let mut tx = self.doc.transaction();
        write(&mut tx, &job, action, who, now)?;
        let (hash, _) = tx.commit_with(commit_options(action.name(), now));
        let hash =
            hash.ok_or_else(|| ActionError::NotAllowed("the action changes nothing".into()))?;
        if let Err(rejection) = validate::validate_changes_in(&self.doc, &[hash], &who, ctx) {
            // Never keep a change the server would refuse.
            let actor = self.doc.get_actor().clone();
            self.doc = self.doc.fork_at(&before)?.with_actor(actor);
            return Err(rejection.into());
        }
        Ok(hash)
    }

    /// Applies `actions` in order as `who`, one change each, and returns the
    /// job as validated after the last one: the whole job is read once (twice
    /// when `current` is not given) however many actions there are.
    ///
    /// Preconditions are checked against `current`, the job as this document
    /// reads now (read here if `None`), for every action, so the actions must
    /// not depend on each other (an office edit of details, window and notes
    /// does not). The validator still judges each change in its own context:
    /// a dependent sequence is refused whole, never stored wrong. On any error
    /// the document is left as it was.
    pub fn apply_all(
        &mut self,
        actions: &[JobAction],
        who: Principal,
        now: Timestamp,
        current: Option<&Job>,
    ) -> Result<Job, ActionError> {
        for action in actions {
            self.check_fields(action)?;
        }
        let read;
        let job = match current {
            Some(job) => job,
            None => {
                read = self.read()?;
                &read
            }
        };
        let before = self.doc.get_heads();
        let mut hashes = Vec::with_capacity(actions.len());
        let mut step = |action: &JobAction| -> Result<(), ActionError> {
            check_allowed(job, action, who)?;
            let mut tx = self.doc.transaction();
            write(&mut tx, job, action, who, now)?;
            let (hash, _) = tx.commit_with(commit_options(action.name(), now));
            hashes.push(
                hash.ok_or_else(|| ActionError::NotAllowed("the action changes nothing".into()))?,
            );
            Ok(())
        };
        let result = actions
            .iter()
            .try_for_each(&mut step)
            .and_then(|()| Ok(validate::validate_changes(&self.doc, &hashes, &who)?));
        if result.is_err() {
            let actor = self.doc.get_actor().clone();
            self.doc = self.doc.fork_at(&before)?.with_actor(actor);
        }
        result
    }
}

fn commit_options(name: &str, now: Timestamp) -> CommitOptions {
    CommitOptions::default()
        .with_message(name.to_owned())
        .with_time(now.0.div_euclid(1000))
}

fn put_opt<T: Transactable>(
    tx: &mut T,
    obj: &automerge::ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), automerge::AutomergeError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => tx.put(obj, key, v),
        None => tx.put(obj, key, ScalarValue::Null),
    }
}

/// The window is written as a new map each time: concurrent edits then pick
/// one whole window instead of one side's start with the other's end.
fn put_window<T: Transactable>(tx: &mut T, w: &Window) -> Result<(), automerge::AutomergeError> {
    let window = tx.put_object(ROOT, k::WINDOW, ObjType::Map)?;
    tx.put(&window, k::START, ScalarValue::Timestamp(w.start.0))?;
    tx.put(&window, k::END, ScalarValue::Timestamp(w.end.0))?;
    Ok(())
}

fn push_history<T: Transactable>(
    tx: &mut T,
    history: &automerge::ObjId,
    from: Option<Status>,
    to: Status,
    who: Principal,
    now: Timestamp,
) -> Result<(), automerge::AutomergeError> {
    let at = tx.length(history);
    let entry = tx.insert_object(history, at, ObjType::Map)?;
    match from {
        Some(f) => tx.put(&entry, k::FROM, f.as_str())?,
        None => tx.put(&entry, k::FROM, ScalarValue::Null)?,
    }
    tx.put(&entry, k::TO, to.as_str())?;
    tx.put(&entry, k::BY, who.user.to_string())?;
    tx.put(&entry, k::ROLE, who.role.as_str())?;
    tx.put(&entry, k::DEVICE_TIME, ScalarValue::Timestamp(now.0))?;
    Ok(())
}

fn put_question<T: Transactable>(
    tx: &mut T,
    checklist: &automerge::ObjId,
    q: &ChecklistQuestion,
) -> Result<(), ActionError> {
    let key = q.id.to_string();
    let item = match tx.get(checklist, &key)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(checklist, &key, ObjType::Map)?,
    };
    tx.put(&item, k::QUESTION, q.question.trim())?;
    tx.put(&item, k::REQUIRED, q.required)?;
    // Written only for photo items: a text item reads the same without it,
    // so jobs stay as older apps wrote them.
    if q.kind != ChecklistKind::Text || tx.get(&item, k::KIND)?.is_some() {
        tx.put(&item, k::KIND, q.kind.as_str())?;
    }
    Ok(())
}

/// The schema's rule for a text, with "must not be empty" for required ones.
fn text_ok(rule: &TextRule, s: &str, required: bool) -> Result<(), InvalidValue> {
    if required && s.trim().is_empty() {
        return Err(InvalidValue::new(rule.label, "must not be empty"));
    }
    schema::check_text(rule, s.trim())
}

fn opt_text_ok(rule: &TextRule, s: Option<&str>) -> Result<(), InvalidValue> {
    s.map_or(Ok(()), |s| text_ok(rule, s, false))
}

fn rule(field: &str, key: &str) -> &'static TextRule {
    schema::rule(field, Some(key))
}

fn check_spec(spec: &JobSpec) -> Result<(), InvalidValue> {
    text_ok(rule(k::CUSTOMER, k::NAME), &spec.customer.name, true)?;
    opt_text_ok(rule(k::CUSTOMER, k::PHONE), spec.customer.phone.as_deref())?;
    opt_text_ok(rule(k::SITE, k::NAME), spec.site.name.as_deref())?;
    text_ok(rule(k::SITE, k::ADDRESS), &spec.site.address, true)?;
    text_ok(rule(k::ASSET, k::PRODUCT), &spec.asset.product, true)?;
    opt_text_ok(rule(k::ASSET, k::SERIAL), spec.asset.serial.as_deref())?;
    opt_text_ok(
        rule(k::ASSET, k::CONTRACT_REF),
        spec.asset.contract_ref.as_deref(),
    )?;
    text_ok(schema::rule(k::PROBLEM, None), &spec.problem, true)?;
    for q in &spec.checklist {
        text_ok(rule(k::CHECKLIST, k::QUESTION), &q.question, true)?;
    }
    Ok(())
}

/// Preconditions, checked before writing so the caller gets a precise error.
fn check_allowed(job: &Job, action: &JobAction, who: Principal) -> Result<(), ActionError> {
    use JobAction::*;
    let deny = |why: &'static str| Err(ActionError::NotAllowed(why.into()));
    let status = job.status;
    may_take(action, who.role).or_else(deny)?;
    if who.role.is_field() && job.technician != Some(who.user) {
        return deny("the job is not assigned to you");
    }
    for key in action.fields() {
        if let Some(field) = schema::field(key)
            && !schema::allows(field.when, status)
        {
            return deny(if status.is_final() {
                "the job is closed"
            } else {
                "this is done on site only"
            });
        }
    }
    match action {
        StartTravel => {
            if status != Status::Scheduled {
                return deny("travel starts from a scheduled job");
            }
        }
        Arrive => {
            if status != Status::Travelling {
                return deny("arrival follows travel");
            }
        }
        AddLabour {
            minutes,
            rate,
            description,
            entry,
        } => {
            labour_ok(*minutes, rate, description)?;
            if job.labour.iter().any(|l| l.id == *entry) {
                return deny("this labour entry already exists");
            }
        }
        UsePart {
            line,
            quantity,
            serials,
            ..
        } => {
            if status != Status::OnSite {
                return deny("parts are used on site");
            }
            if job.part(*line).is_some() {
                return deny("this part line already exists");
            }
            check_serials(serials, *quantity).map_err(|p| InvalidValue::new("serials", p))?;
        }
        SetPartQuantity { line, quantity } => {
            let part = job
                .part(*line)
                .ok_or_else(|| ActionError::NotFound("part line".into()))?;
            if part.voided {
                return deny("the part line is voided");
            }
            if part.by != who.user {
                return deny("the part line is someone else's");
            }
            check_serials(&part.serials, *quantity)
                .map_err(|p| InvalidValue::new("quantity", p))?;
        }
        VoidPartLine { line } => {
            let part = job
                .part(*line)
                .ok_or_else(|| ActionError::NotFound("part line".into()))?;
            if part.voided {
                return deny("the part line is already voided");
            }
            if part.by != who.user {
                return deny("the part line is someone else's");
            }
        }
        CorrectLabourEntry {
            entry,
            minutes,
            rate,
            description,
        } => {
            let labour = own_labour(job, *entry, who)?;
            if labour.voided {
                return deny("the labour entry is voided");
            }
            labour_ok(*minutes, rate, description)?;
        }
        VoidLabourEntry { entry } => {
            if own_labour(job, *entry, who)?.voided {
                return deny("the labour entry is already voided");
            }
        }
        AddNote { text } => {
            let notes = schema::rule(k::NOTES, None);
            text_ok(notes, text, true)?;
            let note = text.trim().chars().count();
            let added = usize::from(!job.notes.is_empty()) + note;
            if let Some(max) = notes.max_insert
                && note >= max
            {
                return Err(InvalidValue::new(
                    notes.label,
                    format!("a note is at most {} characters", max - 1),
                )
                .into());
            }
            if job.notes.chars().count() + added > notes.max_chars {
                return Err(InvalidValue::new(
                    notes.label,
                    format!("would be longer than {} characters", notes.max_chars),
                )
                .into());
            }
        }
        EditNotes { text } => {
            let notes = schema::rule(k::NOTES, None);
            // Written as given (update_text), so checked as given.
            schema::check_text(notes, text)?;
        }
        AnswerChecklist { item, value } => {
            text_ok(rule(k::ANSWERS, k::VALUE), value, true)?;
            let item = job
                .checklist
                .iter()
                .find(|c| c.id == *item)
                .ok_or_else(|| ActionError::NotFound("checklist item".into()))?;
            crate::rules::photo_answer(job, item, value)?;
        }
        RecordPayment {
            payment,
            amount,
            reference,
            ..
        } => {
            if amount.0 <= 0 {
                return Err(InvalidValue::new("amount", "must be positive").into());
            }
            opt_text_ok(rule(k::PAYMENTS, k::REFERENCE), reference.as_deref())?;
            if job.payments.iter().any(|p| p.id == *payment) {
                return deny("this payment already exists");
            }
        }
        CaptureSignature {
            signer,
            image_sha256,
        } => {
            text_ok(rule(k::SIGNATURE, k::SIGNER), signer, true)?;
            if !is_sha256(image_sha256) {
                return Err(InvalidValue::new("image_sha256", "expected 64 hex digits").into());
            }
            if status != Status::OnSite {
                return deny("the customer signs on site");
            }
        }
        Complete => {
            if status != Status::OnSite {
                return deny("only a job on site can be completed");
            }
            if let Some(why) = job.completion_blocker() {
                return Err(ActionError::NotAllowed(why));
            }
        }
        UnableToComplete { reason } => {
            text_ok(schema::rule(k::UNABLE_REASON, None), reason, true)?;
            if !status.can_move(Status::UnableToComplete, Role::Technician) {
                return deny("only a job under way can be marked unable to complete");
            }
        }
        AddAttachment {
            attachment,
            sha256,
            size,
            media_type,
            kind,
            caption,
        } => {
            if !is_sha256(sha256) {
                return Err(InvalidValue::new("sha256", "expected 64 hex digits").into());
            }
            if *size == 0 || i64::try_from(*size).is_err() {
                return Err(InvalidValue::new("size", "must be positive").into());
            }
            if !is_media_type(media_type.trim()) {
                return Err(InvalidValue::new("media type", "expected e.g. image/jpeg").into());
            }
            text_ok(rule(k::ATTACHMENTS, k::CAPTION), caption, false)?;
            if job.attachments.iter().any(|a| a.id == *attachment) {
                return deny("this attachment already exists");
            }
            let reference = Attachment {
                id: *attachment,
                by: who.user,
                sha256: sha256.to_ascii_lowercase(),
                size: *size,
                media_type: media_type.trim().to_ascii_lowercase(),
                kind: *kind,
                caption: caption.trim().to_owned(),
                taken_at: Timestamp(0),
            };
            crate::rules::signature_attachment(job, &reference)?;
        }
        LogContact {
            contact, summary, ..
        } => {
            text_ok(rule(k::CONTACTS, k::SUMMARY), summary, true)?;
            if job.records(k::CONTACTS).iter().any(|r| r.id == *contact) {
                return deny("this contact is already logged");
            }
        }
        SellExtension {
            offer,
            months,
            price,
        } => {
            crate::warranty::sold_asset(job)
                .map_err(|r| ActionError::NotAllowed(r.message.into()))?;
            if job.warranty_extension.is_some() {
                return deny("this job already sells a warranty extension: one per job");
            }
            if offer.trim().is_empty() || offer.trim().len() > 64 {
                return Err(InvalidValue::new("offer", "an offer code has 1-64 characters").into());
            }
            if !(1..=crate::pricebook::MAX_EXTENSION_MONTHS).contains(months) {
                return Err(InvalidValue::new("months", "must be between 1 and 120").into());
            }
            if price.0 < 0 {
                return Err(InvalidValue::new("price", "must not be negative").into());
            }
        }
        EditDetails(edit) => {
            if let Some(n) = &edit.customer_name {
                text_ok(rule(k::CUSTOMER, k::NAME), n, true)?;
            }
            if let Some(p) = &edit.customer_phone {
                opt_text_ok(rule(k::CUSTOMER, k::PHONE), p.as_deref())?;
            }
            if let Some(n) = &edit.site_name {
                opt_text_ok(rule(k::SITE, k::NAME), n.as_deref())?;
            }
            if let Some(a) = &edit.site_address {
                text_ok(rule(k::SITE, k::ADDRESS), a, true)?;
            }
            if let Some(p) = &edit.asset_product {
                text_ok(rule(k::ASSET, k::PRODUCT), p, true)?;
            }
            if let Some(s) = &edit.asset_serial {
                opt_text_ok(rule(k::ASSET, k::SERIAL), s.as_deref())?;
            }
            if let Some(c) = &edit.contract_ref {
                opt_text_ok(rule(k::ASSET, k::CONTRACT_REF), c.as_deref())?;
            }
            if let Some(p) = &edit.problem {
                text_ok(schema::rule(k::PROBLEM, None), p, true)?;
            }
        }
        SetChecklistItem(q) => text_ok(rule(k::CHECKLIST, k::QUESTION), &q.question, true)?,
        Cancel { reason } => text_ok(schema::rule(k::CANCEL_REASON, None), reason, true)?,
        ResolveConflict { field, actor } => {
            kept_value(job, field, actor)?;
        }
        RecordRecallRemedy {
            replacement,
            serials,
            committed_date,
            service,
        } => {
            if job.recall.is_none() {
                return deny("this job is not for a recall");
            }
            super::recall::check_remedy(*replacement, serials, *committed_date)
                .map_err(|why| InvalidValue::new("recall remedy", why))?;
            opt_text_ok(rule(k::RECALL_REMEDY, k::SERVICE), service.as_deref())?;
        }
        OpenReturn {
            id, serial, reason, ..
        } => {
            text_ok(rule(k::RETURNS, k::SERIAL), serial, true)?;
            text_ok(rule(k::RETURNS, k::REASON), reason, true)?;
            super::rma::check_return(serial, reason)
                .map_err(|why| InvalidValue::new("return", why))?;
            if job.returns.iter().any(|r| r.id == *id) {
                return deny("this return already exists");
            }
        }
        FlagRecall(notice) => {
            text_ok(rule(k::RECALL, k::REASON), &notice.reason, true)?;
            opt_text_ok(
                rule(k::RECALL, k::COMPENSATION),
                notice.compensation.as_deref(),
            )?;
            if job.recall.as_ref() == Some(notice) {
                return deny("the job is flagged for this recall already");
            }
        }
        GiveRefund {
            refund,
            kind,
            against,
            amount,
            reason,
            ..
        } => {
            if amount.0 <= 0 {
                return Err(InvalidValue::new("amount", "must be positive").into());
            }
            text_ok(rule(k::REFUNDS, k::REASON), reason, true)?;
            if job.refunds.iter().any(|r| r.id == *refund) {
                return deny("this refund already exists");
            }
            super::refund::check_against(job, *kind, *against, *amount)?;
        }
        DecideRefund { refund, reason, .. } => {
            if !who.role.can(crate::role::Permission::ApproveRefunds) {
                return deny("only a supervisor approves or declines a refund");
            }
            text_ok(rule(k::REFUNDS, k::DECISION_REASON), reason, true)?;
            let r = job
                .refunds
                .iter()
                .find(|r| r.id == *refund)
                .ok_or_else(|| ActionError::NotFound("refund".into()))?;
            if r.state() != super::RefundState::Pending {
                return deny("the refund is not pending approval");
            }
        }
        EditWindow(_) | Reassign { .. } => {}
    }
    Ok(())
}

/// The value `actor` wrote to the conflicting field `field` (an office
/// field, or a checklist answer).
fn kept_value<'j>(
    job: &'j Job,
    field: &str,
    actor: &str,
) -> Result<&'j ConflictValue, ActionError> {
    let conflict = job
        .conflicts
        .iter()
        .find(|c| c.field == field)
        .ok_or_else(|| ActionError::NotFound("conflict".into()))?;
    conflict
        .values
        .iter()
        .find(|v| v.actor.eq_ignore_ascii_case(actor))
        .ok_or_else(|| ActionError::NotFound("a value by this actor".into()))
}

/// Writes a conflicting field's kept value again.
fn write_kept<T: Transactable>(
    tx: &mut T,
    field: &str,
    kept: &ConflictValue,
) -> Result<(), ActionError> {
    let bad = || InvalidValue::new("conflict", "the kept value does not fit the field");
    let path: Vec<&str> = field.trim_start_matches('/').split('/').collect();
    match path[..] {
        [k::WINDOW] => {
            let at = |key: &str| kept.value.get(key).and_then(serde_json::Value::as_i64);
            let w = Window::new(
                Timestamp(at(k::START).ok_or_else(bad)?),
                Timestamp(at(k::END).ok_or_else(bad)?),
            )?;
            put_window(tx, &w)?;
        }
        [key @ (k::PRIORITY | k::PROBLEM)] => {
            tx.put(ROOT, key, kept.value.as_str().ok_or_else(bad)?)?;
        }
        [map @ (k::CUSTOMER | k::SITE | k::ASSET), key] => {
            let m = obj(tx, map)?;
            let value = match &kept.value {
                serde_json::Value::Null => ScalarValue::Null,
                serde_json::Value::Bool(b) => ScalarValue::Boolean(*b),
                serde_json::Value::String(s) => ScalarValue::Str(s.as_str().into()),
                serde_json::Value::Number(n) => ScalarValue::Int(n.as_i64().ok_or_else(bad)?),
                _ => return Err(bad().into()),
            };
            tx.put(&m, key, value)?;
        }
        [k::ANSWERS, item] => {
            // The technician's answer, copied whole (value, who, when): the
            // validator lets the office write an answer only as an exact
            // copy of one of its concurrent values.
            let answers = obj(tx, k::ANSWERS)?;
            let source = tx
                .get_all(&answers, item)?
                .into_iter()
                .find_map(|(v, id)| {
                    let ours = matches!(v, Value::Object(ObjType::Map))
                        && super::conflicts::actor_of(&id).eq_ignore_ascii_case(&kept.actor);
                    ours.then_some(id)
                })
                .ok_or_else(bad)?;
            let mut copy = Vec::new();
            for key in tx.keys(&source) {
                match tx.get(&source, &key)? {
                    Some((Value::Scalar(v), _)) => copy.push((key, v.into_owned())),
                    _ => return Err(bad().into()),
                }
            }
            let a = tx.put_object(&answers, item, ObjType::Map)?;
            for (key, value) in copy {
                tx.put(&a, key, value)?;
            }
        }
        _ => return Err(ActionError::NotFound("conflict".into())),
    }
    Ok(())
}

fn labour_ok(minutes: u32, rate: &str, description: &str) -> Result<(), InvalidValue> {
    if !(1..=24 * 60).contains(&minutes) {
        return Err(InvalidValue::new("minutes", "must be between 1 and 1440"));
    }
    text_ok(rule(k::LABOUR, k::RATE), rate, true)?;
    text_ok(rule(k::LABOUR, k::DESCRIPTION), description, false)
}

/// A labour entry `who` wrote.
fn own_labour(job: &Job, entry: LineId, who: Principal) -> Result<&LabourEntry, ActionError> {
    let labour = job
        .labour
        .iter()
        .find(|l| l.id == entry)
        .ok_or_else(|| ActionError::NotFound("labour entry".into()))?;
    if labour.by != who.user {
        return Err(ActionError::NotAllowed(
            "the labour entry is someone else's".into(),
        ));
    }
    Ok(labour)
}

fn obj(tx: &impl ReadDoc, key: &str) -> Result<automerge::ObjId, ActionError> {
    match tx.get(ROOT, key)? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => Err(ActionError::Engine(format!("container {key} missing"))),
    }
}

fn set_status<T: Transactable>(
    tx: &mut T,
    from: Status,
    to: Status,
    who: Principal,
    now: Timestamp,
) -> Result<(), ActionError> {
    tx.put(ROOT, k::STATUS, to.as_str())?;
    let history = obj(tx, k::STATUS_HISTORY)?;
    push_history(tx, &history, Some(from), to, who, now)?;
    Ok(())
}

fn write<T: Transactable>(
    tx: &mut T,
    job: &Job,
    action: &JobAction,
    who: Principal,
    now: Timestamp,
) -> Result<(), ActionError> {
    use JobAction::*;
    let ts = ScalarValue::Timestamp(now.0);
    let by = who.user.to_string();
    match action {
        StartTravel => set_status(tx, job.status, Status::Travelling, who, now)?,
        Arrive => set_status(tx, job.status, Status::OnSite, who, now)?,
        Complete => set_status(tx, job.status, Status::Completed, who, now)?,
        UnableToComplete { reason } => {
            tx.put(ROOT, k::UNABLE_REASON, reason.trim())?;
            set_status(tx, job.status, Status::UnableToComplete, who, now)?;
        }
        Cancel { reason } => {
            tx.put(ROOT, k::CANCEL_REASON, reason.trim())?;
            set_status(tx, job.status, Status::Cancelled, who, now)?;
        }
        AddLabour {
            entry,
            minutes,
            rate,
            description,
        } => {
            let labour = obj(tx, k::LABOUR)?;
            let e = tx.put_object(&labour, entry.to_string(), ObjType::Map)?;
            tx.put(&e, k::BY, by)?;
            tx.put(&e, k::MINUTES, i64::from(*minutes))?;
            tx.put(&e, k::RATE, rate.trim())?;
            tx.put(&e, k::DESCRIPTION, description.trim())?;
            tx.put(&e, k::DEVICE_TIME, ts)?;
        }
        UsePart {
            line,
            sku,
            quantity,
            serials,
            van,
        } => {
            let parts = obj(tx, k::PARTS)?;
            let p = tx.put_object(&parts, line.to_string(), ObjType::Map)?;
            tx.put(&p, k::BY, by)?;
            tx.put(&p, k::SKU, sku.as_str())?;
            tx.put(&p, k::QUANTITY, i64::from(quantity.get()))?;
            let list = tx.put_object(&p, k::SERIALS, ObjType::List)?;
            for (i, s) in serials.iter().enumerate() {
                tx.insert(&list, i, s.trim())?;
            }
            tx.put(&p, k::VAN, van.to_string())?;
            tx.put(&p, k::VOIDED, false)?;
            tx.put(&p, k::DEVICE_TIME, ts)?;
        }
        SetPartQuantity { line, quantity } => {
            let p = entry_obj(tx, k::PARTS, *line)?;
            tx.put(&p, k::QUANTITY, i64::from(quantity.get()))?;
        }
        VoidPartLine { line } => {
            let p = entry_obj(tx, k::PARTS, *line)?;
            tx.put(&p, k::VOIDED, true)?;
        }
        CorrectLabourEntry {
            entry,
            minutes,
            rate,
            description,
        } => {
            let l = entry_obj(tx, k::LABOUR, *entry)?;
            let old = job.labour.iter().find(|l| l.id == *entry);
            if old.is_none_or(|o| o.minutes != *minutes) {
                tx.put(&l, k::MINUTES, i64::from(*minutes))?;
            }
            if old.is_none_or(|o| o.rate != rate.trim()) {
                tx.put(&l, k::RATE, rate.trim())?;
            }
            if old.is_none_or(|o| o.description != description.trim()) {
                tx.put(&l, k::DESCRIPTION, description.trim())?;
            }
        }
        VoidLabourEntry { entry } => {
            let l = entry_obj(tx, k::LABOUR, *entry)?;
            tx.put(&l, k::VOIDED, true)?;
        }
        AddNote { text } => {
            let notes = obj(tx, k::NOTES)?;
            let len = tx.length(&notes);
            let sep = if len == 0 { "" } else { "\n" };
            tx.splice_text(&notes, len, 0, &format!("{sep}{}", text.trim()))?;
        }
        EditNotes { text } => {
            let notes = obj(tx, k::NOTES)?;
            tx.update_text(&notes, text)?;
        }
        AnswerChecklist { item, value } => {
            let answers = obj(tx, k::ANSWERS)?;
            let a = tx.put_object(&answers, item.to_string(), ObjType::Map)?;
            tx.put(&a, k::VALUE, value.trim())?;
            tx.put(&a, k::BY, by)?;
            tx.put(&a, k::DEVICE_TIME, ts)?;
        }
        GiveRefund {
            refund,
            kind,
            against,
            amount,
            reason,
            approval,
        } => {
            let refunds = obj(tx, k::REFUNDS)?;
            let r = tx.put_object(&refunds, refund.to_string(), ObjType::Map)?;
            tx.put(&r, k::KIND, kind.as_str())?;
            tx.put(&r, k::AGAINST, against.to_string())?;
            tx.put(&r, k::AMOUNT, amount.0)?;
            tx.put(&r, k::REASON, reason.trim())?;
            tx.put(&r, k::BY, by)?;
            tx.put(&r, k::ROLE, who.role.as_str())?;
            tx.put(&r, k::APPROVAL, approval.as_str())?;
            tx.put(&r, k::DEVICE_TIME, ts)?;
        }
        DecideRefund {
            refund,
            decision,
            reason,
        } => {
            let refunds = obj(tx, k::REFUNDS)?;
            let Some((Value::Object(ObjType::Map), r)) = tx.get(&refunds, refund.to_string())?
            else {
                return Err(ActionError::NotFound("refund".into()));
            };
            tx.put(&r, k::DECISION, decision.as_str())?;
            tx.put(&r, k::DECIDED_BY, by)?;
            tx.put(&r, k::DECISION_REASON, reason.trim())?;
            tx.put(&r, k::DECIDED_AT, ts)?;
        }
        RecordPayment {
            payment,
            method,
            amount,
            reference,
        } => {
            let payments = obj(tx, k::PAYMENTS)?;
            let p = tx.put_object(&payments, payment.to_string(), ObjType::Map)?;
            tx.put(&p, k::BY, by)?;
            tx.put(&p, k::METHOD, method.as_str())?;
            tx.put(&p, k::AMOUNT, amount.0)?;
            put_opt(tx, &p, k::REFERENCE, reference.as_deref())?;
            tx.put(&p, k::DEVICE_TIME, ts)?;
        }
        CaptureSignature {
            signer,
            image_sha256,
        } => {
            let s = tx.put_object(ROOT, k::SIGNATURE, ObjType::Map)?;
            tx.put(&s, k::SIGNER, signer.trim())?;
            tx.put(&s, k::IMAGE_SHA256, image_sha256.to_ascii_lowercase())?;
            tx.put(&s, k::BY, by)?;
            tx.put(&s, k::DEVICE_TIME, ts)?;
        }
        AddAttachment {
            attachment,
            sha256,
            size,
            media_type,
            kind,
            caption,
        } => {
            let attachments = obj(tx, k::ATTACHMENTS)?;
            let a = tx.put_object(&attachments, attachment.to_string(), ObjType::Map)?;
            tx.put(&a, k::BY, by)?;
            tx.put(&a, k::SHA256, sha256.to_ascii_lowercase())?;
            let size = i64::try_from(*size).map_err(|_| InvalidValue::new("size", "too large"))?;
            tx.put(&a, k::SIZE, size)?;
            tx.put(&a, k::MEDIA_TYPE, media_type.trim().to_ascii_lowercase())?;
            tx.put(&a, k::KIND, kind.as_str())?;
            tx.put(&a, k::CAPTION, caption.trim())?;
            tx.put(&a, k::TAKEN_AT, ts)?;
        }
        SellExtension {
            offer,
            months,
            price,
        } => {
            let e = tx.put_object(ROOT, k::WARRANTY_EXTENSION, ObjType::Map)?;
            tx.put(&e, k::OFFER, offer.trim())?;
            tx.put(&e, k::MONTHS, i64::from(*months))?;
            tx.put(&e, k::PRICE, price.0)?;
            tx.put(&e, k::BY, by)?;
            tx.put(&e, k::DEVICE_TIME, ts)?;
        }
        LogContact {
            contact,
            channel,
            direction,
            category,
            summary,
        } => {
            let contacts = obj(tx, k::CONTACTS)?;
            let c = tx.put_object(&contacts, contact.to_string(), ObjType::Map)?;
            tx.put(&c, k::BY, by)?;
            tx.put(&c, k::CHANNEL, channel.as_str())?;
            tx.put(&c, k::DIRECTION, direction.as_str())?;
            tx.put(&c, k::CATEGORY, category.as_str())?;
            tx.put(&c, k::SUMMARY, summary.trim())?;
            tx.put(&c, k::DEVICE_TIME, ts)?;
        }
        EditDetails(edit) => write_details(tx, edit)?,
        EditWindow(w) => put_window(tx, w)?,
        SetChecklistItem(q) => {
            let checklist = obj(tx, k::CHECKLIST)?;
            put_question(tx, &checklist, q)?;
        }
        ResolveConflict { field, actor } => {
            write_kept(tx, field, kept_value(job, field, actor)?)?;
        }
        Reassign { technician } => {
            put_opt(
                tx,
                &ROOT,
                k::TECHNICIAN,
                technician.map(|t| t.to_string()).as_deref(),
            )?;
        }
        RecordRecallRemedy {
            replacement,
            serials,
            committed_date,
            service,
        } => {
            let r = tx.put_object(ROOT, k::RECALL_REMEDY, ObjType::Map)?;
            tx.put(&r, k::REPLACEMENT, replacement.as_str())?;
            let list = tx.put_object(&r, k::SERIALS, ObjType::List)?;
            for (i, s) in serials.iter().enumerate() {
                tx.insert(&list, i, s.trim())?;
            }
            if let Some(d) = committed_date {
                tx.put(&r, k::COMMITTED_DATE, format_date(*d))?;
            }
            if let Some(s) = service.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                tx.put(&r, k::SERVICE, s)?;
            }
            tx.put(&r, k::BY, by)?;
            tx.put(&r, k::DEVICE_TIME, ts)?;
        }
        OpenReturn {
            id,
            sku,
            serial,
            reason,
            condition,
        } => {
            let returns = obj(tx, k::RETURNS)?;
            let r = tx.put_object(&returns, id.to_string(), ObjType::Map)?;
            tx.put(&r, k::BY, by)?;
            tx.put(&r, k::SKU, sku.as_str())?;
            tx.put(&r, k::SERIAL, serial.trim())?;
            tx.put(&r, k::REASON, reason.trim())?;
            tx.put(&r, k::CONDITION, condition.as_str())?;
            tx.put(&r, k::DEVICE_TIME, ts)?;
        }
        FlagRecall(notice) => {
            let r = tx.put_object(ROOT, k::RECALL, ObjType::Map)?;
            tx.put(&r, k::CAMPAIGN, notice.campaign.to_string())?;
            tx.put(&r, k::REASON, notice.reason.trim())?;
            tx.put(&r, k::REMEDY, notice.remedy.as_str())?;
            if let Some(c) = notice
                .compensation
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                tx.put(&r, k::COMPENSATION, c)?;
            }
        }
    }
    Ok(())
}

fn entry_obj<T: Transactable>(
    tx: &T,
    container: &str,
    line: LineId,
) -> Result<automerge::ObjId, ActionError> {
    let c = obj(tx, container)?;
    match tx.get(&c, line.to_string())? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => Err(ActionError::NotFound("line".into())),
    }
}

fn write_details<T: Transactable>(tx: &mut T, e: &DetailsEdit) -> Result<(), ActionError> {
    let customer = obj(tx, k::CUSTOMER)?;
    let site = obj(tx, k::SITE)?;
    let asset = obj(tx, k::ASSET)?;
    if let Some(v) = &e.customer_name {
        tx.put(&customer, k::NAME, v.trim())?;
    }
    if let Some(v) = &e.customer_email {
        put_opt(tx, &customer, k::EMAIL, v.as_ref().map(Email::as_str))?;
    }
    if let Some(v) = &e.customer_phone {
        put_opt(tx, &customer, k::PHONE, v.as_deref())?;
    }
    if let Some(v) = e.feedback_opt_out {
        tx.put(&customer, k::FEEDBACK_OPT_OUT, v)?;
    }
    if let Some(v) = &e.site_name {
        put_opt(tx, &site, k::NAME, v.as_deref())?;
    }
    if let Some(v) = &e.site_address {
        tx.put(&site, k::ADDRESS, v.trim())?;
    }
    if let Some(v) = &e.asset_product {
        tx.put(&asset, k::PRODUCT, v.trim())?;
    }
    if let Some(v) = &e.asset_serial {
        put_opt(tx, &asset, k::SERIAL, v.as_deref())?;
    }
    if let Some(v) = &e.warranty_end {
        put_opt(tx, &asset, k::WARRANTY_END, v.map(format_date).as_deref())?;
    }
    if let Some(v) = &e.contract_ref {
        put_opt(tx, &asset, k::CONTRACT_REF, v.as_deref())?;
    }
    if let Some(v) = &e.problem {
        tx.put(ROOT, k::PROBLEM, v.trim())?;
    }
    if let Some(v) = e.priority {
        tx.put(ROOT, k::PRIORITY, v.as_str())?;
    }
    Ok(())
}

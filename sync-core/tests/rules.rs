//! The schema's rules on the sync path, written as raw automerge changes
//! (as a client that is not our library would send them) and sent through
//! `serve`, the server's sans-IO sync step: the text limits and the
//! card-number refusal of every text the schema table declares, stock only
//! from the technician's own van, and no keys the schema does not list.
//! Then the same texts through the device library's actions.

mod common;

use std::collections::BTreeMap;

use common::*;
use fieldsync_core::automerge::hydrate::Value as Hydrated;
use fieldsync_core::automerge::sync::{Capability, Have, Message, State, SyncDoc};
use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{
    ActorId, Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
};
use fieldsync_core::job::schema::{self, FIELDS, Field, Shape, Writer};
use fieldsync_core::job::{
    AttachmentKind, ChecklistKind, ChecklistQuestion, DetailsEdit, JobAction, MAX_NOTES, MAX_TEXT,
    PaymentMethod,
};
use fieldsync_core::sync::{
    Access, Caller, DocMessage, HeldDoc, Limits, Outcome, PROTOCOL_VERSION, SyncRequest, serve,
};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::{
    ActionError, DocId, JobDoc, JobId, LineId, Money, Principal, Quantity, RejectCode, Role,
    Status, Timestamp, validate_changes,
};

const CARD: &str = "4111 1111 1111 1111";

/// A job on site with one unit of every line field, written by technician 1
/// from van 1 through the library, for a recall (the office's `recall` and
/// the technician's `recall_remedy`), with a return opened.
fn worked_job(ids: &mut Ids) -> (JobId, JobDoc) {
    let id = ids.job();
    let mut job = JobDoc::from_trusted(new_job(id, Some(user(1))).into_doc().with_actor(actor(1)));
    let t = tech(1);
    let payment = ids.line();
    let actions = [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 30,
            rate: "standard".into(),
            description: "Bled the radiators".into(),
        },
        JobAction::UsePart {
            line: ids.line(),
            sku: sku("VALVE-1"),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van: van(1),
        },
        JobAction::RecordPayment {
            payment,
            method: PaymentMethod::Card,
            amount: Money(1000),
            reference: Some("TERM-1".into()),
        },
        JobAction::GiveRefund {
            refund: ids.line(),
            kind: fieldsync_core::job::RefundKind::Refund,
            against: payment,
            amount: Money(100),
            reason: "Goodwill".into(),
            approval: fieldsync_core::job::Approval::WithinLimit,
        },
        JobAction::AnswerChecklist {
            item: LineId::from_bytes([9; 16]),
            value: "yes".into(),
        },
        JobAction::AddAttachment {
            attachment: ids.line(),
            sha256: "ab".repeat(32),
            size: 1000,
            media_type: "image/png".into(),
            kind: AttachmentKind::After,
            caption: "After".into(),
        },
        JobAction::CaptureSignature {
            signer: "Ana Silva".into(),
            image_sha256: "cd".repeat(32),
        },
        JobAction::RecordRecallRemedy {
            replacement: fieldsync_core::job::Replacement::None,
            serials: vec![],
            committed_date: None,
            service: Some("Seal checked".into()),
        },
        JobAction::OpenReturn {
            id: ids.line(),
            sku: sku("VALVE-1"),
            serial: "V-77".into(),
            reason: "Cracked on arrival".into(),
            condition: fieldsync_core::job::ReturnCondition::Damaged,
        },
        JobAction::LogContact {
            contact: ids.line(),
            channel: fieldsync_core::job::ContactChannel::OnSite,
            direction: fieldsync_core::job::ContactDirection::Inbound,
            category: fieldsync_core::job::ContactCategory::SalesLead,
            summary: "Asks about a second boiler".into(),
        },
    ];
    // The office's recall comes first (the remedy needs one).
    job.apply(
        &JobAction::FlagRecall(fieldsync_core::job::RecallNotice {
            campaign: uuid::Uuid::from_bytes([7; 16]),
            reason: "Seal may leak".into(),
            remedy: fieldsync_core::job::RecallAction::Inspect,
            compensation: Some("A free service".into()),
        }),
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    for action in &actions {
        job.apply(action, t, Timestamp(T0)).unwrap();
    }
    (id, job)
}

/// The device's copy with one raw change made by its actor 99.
fn device_with(
    job: &JobDoc,
    edit: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> Automerge {
    let mut doc = job.doc().fork().with_actor(actor(99));
    let mut tx = doc.transaction();
    edit(&mut tx).unwrap();
    assert!(tx.commit().0.is_some(), "the edit makes a change");
    doc
}

/// Sends the device's copy (its raw change by actor 99) to the server, which
/// holds `job`, in one sync request; returns the outcome.
fn sync(id: JobId, job: &JobDoc, device: &Automerge, who: Principal, ctx: &Context) -> Outcome {
    sync_as(id, job, device, who, actor(99), ctx)
}

fn sync_as(
    id: JobId,
    job: &JobDoc,
    device: &Automerge,
    who: Principal,
    device_actor: ActorId,
    ctx: &Context,
) -> Outcome {
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![DocMessage {
            id: DocId::Job(id),
            msg: serde_bytes::ByteBuf::from(routine_message(device, job.doc()).encode()),
        }],
        known: Vec::new(),
        cursor: None,
        held: None,
    };
    let mut held = BTreeMap::from([(
        DocId::Job(id),
        HeldDoc {
            doc: job.doc().clone(),
            access: Access::Write,
        },
    )]);
    let actors = [device_actor];
    let caller = Caller {
        principal: who,
        device_actors: &actors,
        context: ctx,
    };
    let served = serve(&request, &mut held, &caller, &Limits::default());
    let outcome = served.response.docs[0].outcome.clone();
    match &outcome {
        Outcome::Rejected { .. } => {
            assert!(
                served.accepted.is_empty(),
                "a rejected document stores nothing"
            );
            assert_eq!(held[&DocId::Job(id)].doc.get_heads(), job.doc().get_heads());
        }
        _ => assert_eq!(served.accepted.len(), 1, "{outcome:?}"),
    }
    outcome
}

/// The device's message of a routine sync (see `ClientSession`): primed with
/// the server's heads, it carries just the device's new changes.
fn routine_message(device: &Automerge, server: &Automerge) -> Message {
    let acked = server.get_heads();
    let mut state = State::new();
    state.shared_heads = acked.clone();
    state.their_heads = Some(acked.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: acked,
        bloom: Default::default(),
    }]);
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    device
        .generate_sync_message(&mut state)
        .expect("the device has changes to send")
}

fn rejected(outcome: &Outcome, code: RejectCode, words: &[&str]) {
    let Outcome::Rejected {
        code: got, message, ..
    } = outcome
    else {
        panic!("expected a {code:?} rejection, got {outcome:?}");
    };
    assert_eq!(*got, code, "{message}");
    for w in words {
        assert!(message.contains(w), "{message:?} should mention {w:?}");
    }
    assert!(
        !message.contains("4111"),
        "the number is never echoed: {message}"
    );
}

fn writer_of(field: &Field) -> Principal {
    match field.writer {
        Writer::Office => dispatcher(),
        _ => tech(1),
    }
}

fn root_obj(tx: &Transaction<'_>, key: &str) -> ObjId {
    tx.get(ROOT, key).unwrap().unwrap().1
}

/// Puts the scalars of a hydrated map into `obj`, `text` at `key`.
fn copy_with(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    from: &fieldsync_core::automerge::hydrate::Map,
    key: &str,
    text: &str,
) -> Result<(), AutomergeError> {
    for (k, v) in from.iter() {
        if let Hydrated::Scalar(s) = &v.value {
            tx.put(obj, k.as_str(), s.clone())?;
        }
    }
    tx.put(obj, key, text)
}

fn first_line(doc: &Automerge, field: &str) -> (String, fieldsync_core::automerge::hydrate::Map) {
    let Ok(Hydrated::Map(root)) = ReadDoc::hydrate(doc, ROOT, None) else {
        panic!("root")
    };
    let Some(Hydrated::Map(lines)) = root.get(field) else {
        panic!("{field} is a map of lines")
    };
    let (id, line) = lines.iter().next().expect("the job has a line");
    let Hydrated::Map(line) = &line.value else {
        panic!("a line is a map")
    };
    (id.to_string(), line.clone())
}

/// A raw change writing `text` into `field` at `key` (None: the field
/// itself), the way the field's shape is written, otherwise valid.
fn write_text(
    doc: &Automerge,
    field: &'static Field,
    key: Option<&'static str>,
    text: String,
    fresh_line: LineId,
) -> impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError> {
    let doc = doc.clone();
    move |tx| match field.shape {
        Shape::Scalar => tx.put(ROOT, field.key, text),
        Shape::Map => {
            let m = root_obj(tx, field.key);
            tx.put(&m, key.unwrap(), text)
        }
        Shape::Whole => {
            let Ok(Hydrated::Map(root)) = ReadDoc::hydrate(&doc, ROOT, None) else {
                panic!("root")
            };
            let Some(Hydrated::Map(old)) = root.get(field.key) else {
                panic!("{} exists", field.key)
            };
            let m = tx.put_object(ROOT, field.key, ObjType::Map)?;
            copy_with(tx, &m, old, key.unwrap(), &text)
        }
        Shape::Lines { replaceable } => {
            let (existing, line) = first_line(&doc, field.key);
            // Replaceable lines (answers) are keyed by what they answer.
            let id = if replaceable {
                existing
            } else {
                fresh_line.to_string()
            };
            let c = root_obj(tx, field.key);
            let m = tx.put_object(&c, id.as_str(), ObjType::Map)?;
            copy_with(tx, &m, &line, key.unwrap(), &text)
        }
        Shape::Text => {
            let t = root_obj(tx, field.key);
            let len = tx.length(&t);
            tx.splice_text(&t, len, 0, &text)
        }
        Shape::Log | Shape::Status => unreachable!("no texts"),
    }
}

/// Every text rule of the schema table, on the sync path: a valid value is
/// accepted, one over the limit is refused, and a card number in free text
/// is refused naming the field, never the number. Nothing refused is stored.
#[test]
fn every_text_of_the_schema_keeps_its_limit_and_holds_no_card_number_through_sync() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let ctx = Context::default().with_technician_van(TechnicianVan::Assigned(van(1)));
    let mut checked = Vec::new();
    for field in FIELDS.iter().filter(|f| !f.texts.is_empty()) {
        for rule in field.texts {
            let who = writer_of(field);
            let path = match rule.key {
                Some(k) => format!("/{}/", field.key) + k,
                None => format!("/{}", field.key),
            };
            let path_words: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let try_text = |text: String| {
                let device = device_with(
                    &job,
                    write_text(job.doc(), field, rule.key, text, ids_line()),
                );
                sync(id, &job, &device, who, &ctx)
            };

            let ok = try_text("ok 42".into());
            assert_eq!(ok, Outcome::Accepted, "{path}: a valid value passes");

            // Text that merges is bounded per change too (the whole text's
            // limit is in `notes_keep_their_limit_as_a_whole`).
            let (long, why) = match rule.max_insert {
                Some(max) => (max + 1, "adds at most"),
                None => (rule.max_chars + 1, "longer than"),
            };
            let mut words = path_words.clone();
            words.push(why);
            rejected(&try_text("x".repeat(long)), RejectCode::Schema, &words);

            let card = try_text(format!("paid with {CARD}, thanks"));
            if rule.free {
                let mut words = path_words.clone();
                words.push("card number");
                rejected(&card, RejectCode::Schema, &words);
            } else {
                assert_eq!(card, Outcome::Accepted, "{path}: a code may hold digits");
            }
            checked.push(path);
        }
    }
    // The list of free texts, all among them.
    for path in [
        "/notes",
        "/labour/description",
        "/payments/reference",
        "/answers/value",
        "/problem",
        "/customer/name",
        "/site/address",
        "/asset/product",
        "/cancel_reason",
        "/unable_reason",
        "/signature/signer",
        "/checklist/question",
        "/attachments/caption",
        "/recall/reason",
        "/recall/compensation",
        "/recall_remedy/service",
        "/refunds/reason",
        "/refunds/decision_reason",
    ] {
        assert!(checked.iter().any(|c| c == path), "{path} not checked");
    }
}

/// A fresh line id for raw lines (distinct from the worked job's).
fn ids_line() -> LineId {
    LineId::from_bytes(rand_bytes())
}

fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU8, Ordering};
    static N: AtomicU8 = AtomicU8::new(0);
    [
        0xE0,
        N.fetch_add(1, Ordering::Relaxed),
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
    ]
}

/// A job whose notes are `MAX_NOTES - room` characters long, written note
/// by note through the library (a note is at most `MAX_TEXT`).
fn nearly_full_notes(ids: &mut Ids, room: usize) -> (JobId, JobDoc) {
    let (id, mut job) = worked_job(ids);
    let note = MAX_TEXT - 1;
    let mut left = MAX_NOTES - room;
    while left > 0 {
        let sep = usize::from(!job.read().unwrap().notes.is_empty());
        let n = (left - sep).min(note);
        job.apply(
            &JobAction::AddNote {
                text: "n".repeat(n),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
        left -= n + sep;
    }
    assert_eq!(job.read().unwrap().notes.chars().count(), MAX_NOTES - room);
    (id, job)
}

#[test]
fn notes_keep_their_limit_as_a_whole() {
    let mut ids = Ids::default();
    let (id, job) = nearly_full_notes(&mut ids, 5);
    let ctx = Context::default();
    let fits = device_with(&job, |tx| {
        let n = root_obj(tx, "notes");
        let len = tx.length(&n);
        tx.splice_text(&n, len, 0, "12345")
    });
    assert_eq!(sync(id, &job, &fits, tech(1), &ctx), Outcome::Accepted);
    let over = device_with(&job, |tx| {
        let n = root_obj(tx, "notes");
        let len = tx.length(&n);
        tx.splice_text(&n, len, 0, "123456")
    });
    rejected(
        &sync(id, &job, &over, tech(1), &ctx),
        RejectCode::Schema,
        &["/notes", "longer than"],
    );
    // The library says so before it makes the change.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let err = device
        .apply(
            &JobAction::AddNote {
                text: "123456".into(),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::Invalid(e) if e.what == "notes" && e.reason.contains("longer than")),
        "{err:?}"
    );
}

#[test]
fn notes_merged_from_concurrent_changes_keep_the_limit() {
    let mut ids = Ids::default();
    let (_, job) = nearly_full_notes(&mut ids, 6_000);
    let part = "m".repeat(4_000);
    let mut a = job.doc().fork().with_actor(actor(97));
    let mut b = job.doc().fork().with_actor(actor(98));
    let mut hashes = Vec::new();
    for doc in [&mut a, &mut b] {
        let mut tx = doc.transaction();
        let n = root_obj(&tx, "notes");
        let len = tx.length(&n);
        tx.splice_text(&n, len, 0, &part).unwrap();
        hashes.push(tx.commit().0.unwrap());
    }
    // Each change alone is within the limit.
    validate_changes(&a, &hashes[..1], &tech(1)).unwrap();
    validate_changes(&b, &hashes[1..], &tech(1)).unwrap();
    // Together they are not, whichever way they arrive.
    a.merge(&mut b).unwrap();
    let r = validate_changes(&a, &hashes, &tech(1)).unwrap_err();
    assert_eq!(r.code, RejectCode::Schema);
    assert!(
        r.message.contains("/notes") && r.message.contains("longer than"),
        "{r:?}"
    );
}

/// The notes are checked as they read after every change of a batch, not
/// only after the batch (validation carries the text from one change of a
/// chain to the next): a card number that one change completes and a later
/// change of the same batch deletes is still refused, and so is a change
/// past the limit that a later one shortens; the same edits without the
/// card number or the excess pass.
#[test]
fn notes_are_checked_after_every_change_of_a_batch() {
    let mut ids = Ids::default();
    let (_, job) = nearly_full_notes(&mut ids, 40);
    let batch = |steps: &[(&str, usize)]| {
        let mut doc = job.doc().fork().with_actor(actor(97));
        let mut hashes = Vec::new();
        for (add, delete) in steps {
            let mut tx = doc.transaction();
            let n = root_obj(&tx, "notes");
            let len = tx.length(&n);
            if *delete > 0 {
                tx.splice_text(&n, len - delete, *delete as isize, "")
                    .unwrap();
            } else {
                tx.splice_text(&n, len, 0, add).unwrap();
            }
            hashes.push(tx.commit().0.unwrap());
        }
        validate_changes(&doc, &hashes, &tech(1))
    };
    // Card: "4111 1111 " then "1111 1111" (a card number), then deleted.
    let r = batch(&[(" 4111 1111 ", 0), ("1111 1111", 0), ("", 9), (" ok", 0)]).unwrap_err();
    assert_eq!(r.code, RejectCode::Schema);
    assert!(
        r.message.contains("/notes") && r.message.contains("card number"),
        "{r:?}"
    );
    let fine = batch(&[(" 4111 1111 ", 0), ("1111 1112", 0), ("", 9), (" ok", 0)]);
    assert!(fine.is_ok(), "{fine:?}");
    // Limit: 40 characters of room; 41 then 2 deleted.
    let r = batch(&[(&"a".repeat(30), 0), (&"b".repeat(11), 0), ("", 2)]).unwrap_err();
    assert!(r.message.contains("longer than"), "{r:?}");
    let fine = batch(&[(&"a".repeat(30), 0), (&"b".repeat(10), 0), ("", 2)]);
    assert!(fine.is_ok(), "{fine:?}");
}

#[test]
fn a_part_line_takes_stock_only_from_the_technicians_own_van() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let t = tech(1);
    let own = Context::default().with_technician_van(TechnicianVan::Assigned(van(1)));
    let other = Context::default().with_technician_van(TechnicianVan::Assigned(van(2)));
    let none = Context::default().with_technician_van(TechnicianVan::NoVan);
    let new_line = |v: fieldsync_core::LocationId| {
        let line = ids_line();
        device_with(&job, move |tx| {
            let parts = root_obj(tx, "parts");
            let p = tx.put_object(&parts, line.to_string(), ObjType::Map)?;
            tx.put(&p, "by", user(1).to_string())?;
            tx.put(&p, "sku", "VALVE-1")?;
            tx.put(&p, "quantity", 1)?;
            tx.put_object(&p, "serials", ObjType::List)?;
            tx.put(&p, "van", v.to_string())?;
            tx.put(&p, "voided", false)?;
            tx.put(&p, "device_time", ScalarValue::Timestamp(T0))
        })
    };
    // Another depot's van, or none at all: refused with its own code.
    rejected(
        &sync(id, &job, &new_line(van(2)), t, &own),
        RejectCode::WrongVan,
        &["own van"],
    );
    rejected(
        &sync(id, &job, &new_line(van(1)), t, &none),
        RejectCode::WrongVan,
        &["none"],
    );
    assert_eq!(
        sync(id, &job, &new_line(van(1)), t, &own),
        Outcome::Accepted
    );
    // A device that does not know its van leaves the rule to the server.
    assert_eq!(
        sync(id, &job, &new_line(van(2)), t, &Context::default()),
        Outcome::Accepted
    );

    // The technician moved to van 2: the old line's quantity can no longer
    // take stock from van 1, but voiding it (stock back to van 1) still works.
    let (line, _) = first_line(job.doc(), "parts");
    let l = line.clone();
    let more = device_with(&job, move |tx| {
        let parts = root_obj(tx, "parts");
        let p = tx.get(&parts, l.as_str())?.unwrap().1;
        tx.put(&p, "quantity", 3)
    });
    rejected(&sync(id, &job, &more, t, &other), RejectCode::WrongVan, &[]);
    assert_eq!(sync(id, &job, &more, t, &own), Outcome::Accepted);
    let void = device_with(&job, move |tx| {
        let parts = root_obj(tx, "parts");
        let p = tx.get(&parts, line.as_str())?.unwrap().1;
        tx.put(&p, "voided", true)
    });
    assert_eq!(sync(id, &job, &void, t, &other), Outcome::Accepted);

    // The device library checks the van it knows before keeping the change.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let heads = device.doc().get_heads();
    let err = device
        .apply_in(
            &JobAction::UsePart {
                line: ids.line(),
                sku: sku("VALVE-1"),
                quantity: Quantity::new(1).unwrap(),
                serials: vec![],
                van: van(2),
            },
            t,
            Timestamp(T0),
            &own,
        )
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::WrongVan),
        "{err:?}"
    );
    assert_eq!(device.doc().get_heads(), heads, "nothing kept");
}

#[test]
fn keys_the_schema_does_not_list_are_refused_inside_units() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let ctx = Context::default();
    let extra = device_with(&job, |tx| {
        let c = root_obj(tx, "customer");
        tx.put(&c, "vip_notes", "x".repeat(50_000))
    });
    rejected(
        &sync(id, &job, &extra, dispatcher(), &ctx),
        RejectCode::Forbidden,
        &["customer", "vip_notes"],
    );
    let line = ids_line();
    let padded = device_with(&job, move |tx| {
        let labour = root_obj(tx, "labour");
        let e = tx.put_object(&labour, line.to_string(), ObjType::Map)?;
        tx.put(&e, "by", user(1).to_string())?;
        tx.put(&e, "minutes", 5)?;
        tx.put(&e, "rate", "standard")?;
        tx.put(&e, "device_time", ScalarValue::Timestamp(T0))?;
        tx.put(&e, "padding", "x".repeat(50_000))
    });
    rejected(
        &sync(id, &job, &padded, tech(1), &ctx),
        RejectCode::Forbidden,
        &["padding"],
    );

    // A status move's history entry holds the keys an entry has, no more:
    // the same raw move is accepted without the extra key.
    let complete = |extra: Option<&'static str>| {
        device_with(&job, move |tx| {
            tx.put(ROOT, "status", Status::Completed.as_str())?;
            let history = root_obj(tx, "status_history");
            let at = tx.length(&history);
            let e = tx.insert_object(&history, at, ObjType::Map)?;
            tx.put(&e, "from", Status::OnSite.as_str())?;
            tx.put(&e, "to", Status::Completed.as_str())?;
            tx.put(&e, "by", user(1).to_string())?;
            tx.put(&e, "role", Role::Technician.as_str())?;
            tx.put(&e, "device_time", ScalarValue::Timestamp(T0))?;
            if let Some(text) = extra {
                tx.put(&e, "comment", text)?;
            }
            Ok(())
        })
    };
    assert_eq!(
        sync(id, &job, &complete(None), tech(1), &ctx),
        Outcome::Accepted,
    );
    rejected(
        &sync(id, &job, &complete(Some(CARD)), tech(1), &ctx),
        RejectCode::Forbidden,
        &["status_history", "comment"],
    );
}

/// The device library refuses a card number in every free text an action
/// takes, naming the field and keeping no change.
#[test]
fn every_action_refuses_a_card_number_in_its_free_text() {
    let mut ids = Ids::default();
    let (_, job) = worked_job(&mut ids);
    let card = format!("see {CARD}");
    let tech_actions: Vec<(JobAction, &str)> = vec![
        (JobAction::AddNote { text: card.clone() }, "notes"),
        (
            JobAction::AddLabour {
                entry: ids.line(),
                minutes: 5,
                rate: "standard".into(),
                description: card.clone(),
            },
            "labour description",
        ),
        (
            JobAction::RecordPayment {
                payment: ids.line(),
                method: PaymentMethod::Card,
                amount: Money(100),
                reference: Some(card.clone()),
            },
            "payment reference",
        ),
        (
            JobAction::AnswerChecklist {
                item: LineId::from_bytes([9; 16]),
                value: card.clone(),
            },
            "checklist answer",
        ),
        (
            JobAction::CaptureSignature {
                signer: card.clone(),
                image_sha256: "ef".repeat(32),
            },
            "signer",
        ),
        (
            JobAction::UnableToComplete {
                reason: card.clone(),
            },
            "reason",
        ),
        (
            JobAction::AddAttachment {
                attachment: ids.line(),
                sha256: "12".repeat(32),
                size: 10,
                media_type: "image/jpeg".into(),
                kind: AttachmentKind::Before,
                caption: card.clone(),
            },
            "caption",
        ),
    ];
    let office_actions: Vec<(JobAction, &str)> = vec![
        (JobAction::EditNotes { text: card.clone() }, "notes"),
        (
            JobAction::Cancel {
                reason: card.clone(),
            },
            "cancellation reason",
        ),
        (
            JobAction::SetChecklistItem(ChecklistQuestion {
                id: ids.line(),
                question: card.clone(),
                required: false,
                kind: Default::default(),
            }),
            "checklist question",
        ),
        (
            JobAction::EditDetails(DetailsEdit {
                customer_name: Some(card.clone()),
                ..DetailsEdit::default()
            }),
            "customer name",
        ),
        (
            JobAction::EditDetails(DetailsEdit {
                site_name: Some(Some(card.clone())),
                ..DetailsEdit::default()
            }),
            "site name",
        ),
        (
            JobAction::EditDetails(DetailsEdit {
                site_address: Some(card.clone()),
                ..DetailsEdit::default()
            }),
            "site address",
        ),
        (
            JobAction::EditDetails(DetailsEdit {
                asset_product: Some(card.clone()),
                ..DetailsEdit::default()
            }),
            "asset product",
        ),
        (
            JobAction::EditDetails(DetailsEdit {
                problem: Some(card.clone()),
                ..DetailsEdit::default()
            }),
            "problem",
        ),
    ];
    for (who, actions) in [(tech(1), tech_actions), (dispatcher(), office_actions)] {
        for (action, field) in actions {
            let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
            let heads = device.doc().get_heads();
            let err = device.apply(&action, who, Timestamp(T0)).unwrap_err();
            let ActionError::Invalid(e) = &err else {
                panic!("{}: expected invalid input, got {err:?}", action.name());
            };
            assert_eq!(e.what, field, "{}", action.name());
            assert!(e.reason.contains("card number"), "{e}");
            assert!(!err.to_string().contains("4111"), "{err}");
            assert_eq!(
                device.doc().get_heads(),
                heads,
                "{}: nothing kept",
                action.name()
            );
        }
    }
    // Creating a job with one is refused too.
    let mut spec = spec(ids.job(), Some(user(1)));
    spec.problem = card;
    let err = JobDoc::create(&spec, actor(200), dispatcher(), Timestamp(T0)).unwrap_err();
    assert!(
        matches!(&err, ActionError::Invalid(e) if e.what == "problem"),
        "{err:?}"
    );
}

#[test]
fn actions_and_sync_share_one_text_limit() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let limit = schema::field("labour")
        .and_then(|f| f.text_rule(Some("description")))
        .unwrap()
        .max_chars;
    let labour = |description: String, entry| JobAction::AddLabour {
        entry,
        minutes: 5,
        rate: "standard".into(),
        description,
    };
    // The library refuses one character more than the table allows ...
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let err = device
        .apply(
            &labour("é".repeat(limit + 1), ids.line()),
            tech(1),
            Timestamp(T0),
        )
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::Invalid(e) if e.what == "labour description"),
        "{err:?}"
    );
    // ... and takes exactly the limit, counted in characters (not bytes),
    // which the server's sync step accepts too.
    device
        .apply(
            &labour("é".repeat(limit), ids.line()),
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    let outcome = sync_as(
        id,
        &job,
        device.doc(),
        tech(1),
        actor(98),
        &Context::default(),
    );
    assert_eq!(outcome, Outcome::Accepted);
}

/// A job on site with a signature and one labour entry, the required
/// checklist item still unanswered, written through the library.
fn signed_job(ids: &mut Ids) -> (JobId, JobDoc) {
    let id = ids.job();
    let mut job = JobDoc::from_trusted(new_job(id, Some(user(1))).into_doc().with_actor(actor(1)));
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 30,
            rate: "standard".into(),
            description: String::new(),
        },
        JobAction::CaptureSignature {
            signer: "Ana Silva".into(),
            image_sha256: "cd".repeat(32),
        },
    ] {
        job.apply(&action, tech(1), Timestamp(T0)).unwrap();
    }
    (id, job)
}

/// The completion move as a client that is not our library writes it.
fn raw_complete(tx: &mut Transaction<'_>) -> Result<(), AutomergeError> {
    tx.put(ROOT, "status", "completed")?;
    let history = root_obj(tx, "status_history");
    let at = tx.length(&history);
    let e = tx.insert_object(&history, at, ObjType::Map)?;
    tx.put(&e, "from", "on_site")?;
    tx.put(&e, "to", "completed")?;
    tx.put(&e, "by", user(1).to_string())?;
    tx.put(&e, "role", "technician")?;
    tx.put(&e, "device_time", ScalarValue::Timestamp(T0))
}

#[test]
fn a_required_checklist_item_blocks_completion_on_device_and_server() {
    let mut ids = Ids::default();
    let (id, job) = signed_job(&mut ids);
    let t = tech(1);
    // Through sync, as a raw change.
    rejected(
        &sync(
            id,
            &job,
            &device_with(&job, raw_complete),
            t,
            &Context::default(),
        ),
        RejectCode::Incomplete,
        &["required checklist item", "1 unanswered"],
    );
    // Through the library: refused before it becomes a change.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let err = device
        .apply(&JobAction::Complete, t, Timestamp(T0))
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NotAllowed(why) if why.contains("required checklist item")),
        "{err:?}"
    );
    // Answered, the same raw completion goes through; an optional item the
    // office adds meanwhile blocks nothing.
    let mut answered = job.clone();
    answered
        .apply(
            &JobAction::AnswerChecklist {
                item: LineId::from_bytes([9; 16]),
                value: "1.5 bar".into(),
            },
            t,
            Timestamp(T0),
        )
        .unwrap();
    answered
        .apply(
            &JobAction::SetChecklistItem(ChecklistQuestion {
                id: ids.line(),
                question: "Photo of the plate?".into(),
                required: false,
                kind: Default::default(),
            }),
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    assert_eq!(
        sync(
            id,
            &answered,
            &device_with(&answered, raw_complete),
            t,
            &Context::default()
        ),
        Outcome::Accepted
    );
    let mut device = JobDoc::from_trusted(answered.doc().fork().with_actor(actor(98)));
    device
        .apply(&JobAction::Complete, t, Timestamp(T0))
        .unwrap();
}

/// A raw new part line by technician 1 from van 1.
fn raw_part(
    job: &JobDoc,
    sku: &'static str,
    quantity: i64,
    serials: &'static [&'static str],
) -> Automerge {
    let line = ids_line();
    device_with(job, move |tx| {
        let parts = root_obj(tx, "parts");
        let p = tx.put_object(&parts, line.to_string(), ObjType::Map)?;
        tx.put(&p, "by", user(1).to_string())?;
        tx.put(&p, "sku", sku)?;
        tx.put(&p, "quantity", quantity)?;
        let list = tx.put_object(&p, "serials", ObjType::List)?;
        for (i, s) in serials.iter().enumerate() {
            tx.insert(&list, i, *s)?;
        }
        tx.put(&p, "van", van(1).to_string())?;
        tx.put(&p, "voided", false)?;
        tx.put(&p, "device_time", ScalarValue::Timestamp(T0))
    })
}

/// A raw new labour entry by technician 1.
fn raw_labour(job: &JobDoc, rate: &'static str) -> Automerge {
    let line = ids_line();
    device_with(job, move |tx| {
        let labour = root_obj(tx, "labour");
        let e = tx.put_object(&labour, line.to_string(), ObjType::Map)?;
        tx.put(&e, "by", user(1).to_string())?;
        tx.put(&e, "minutes", 45)?;
        tx.put(&e, "rate", rate)?;
        tx.put(&e, "description", "")?;
        tx.put(&e, "device_time", ScalarValue::Timestamp(T0))
    })
}

fn with_book() -> Context {
    Context::default()
        .with_technician_van(TechnicianVan::Assigned(van(1)))
        .with_price_book(std::sync::Arc::new(price_book()))
}

#[test]
fn a_serialized_sku_takes_one_serial_per_unit_through_sync() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let t = tech(1);
    let ctx = with_book();
    // PUMP-9 is serialized in the price book.
    rejected(
        &sync(id, &job, &raw_part(&job, "PUMP-9", 2, &[]), t, &ctx),
        RejectCode::Serials,
        &["serialized", "0 for 2"],
    );
    assert_eq!(
        sync(
            id,
            &job,
            &raw_part(&job, "PUMP-9", 2, &["P-1", "P-2"]),
            t,
            &ctx
        ),
        Outcome::Accepted
    );
    // A sku that is not serialized needs none.
    assert_eq!(
        sync(id, &job, &raw_part(&job, "VALVE-1", 2, &[]), t, &ctx),
        Outcome::Accepted
    );
    // The library refuses it before it becomes a change.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let err = device
        .apply_in(
            &JobAction::UsePart {
                line: ids.line(),
                sku: sku("PUMP-9"),
                quantity: Quantity::new(1).unwrap(),
                serials: vec![],
                van: van(1),
            },
            t,
            Timestamp(T0),
            &ctx,
        )
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::Serials),
        "{err:?}"
    );
}

#[test]
fn skus_and_labour_rates_must_be_in_the_price_book_through_sync() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let t = tech(1);
    let ctx = with_book();
    rejected(
        &sync(id, &job, &raw_part(&job, "GHOST-1", 1, &[]), t, &ctx),
        RejectCode::NotInPriceBook,
        &["GHOST-1", "price book", "version 7"],
    );
    rejected(
        &sync(id, &job, &raw_labour(&job, "weekend"), t, &ctx),
        RejectCode::NotInPriceBook,
        &["labour rate", "version 7"],
    );
    assert_eq!(
        sync(id, &job, &raw_labour(&job, "standard"), t, &ctx),
        Outcome::Accepted
    );
    // Changing an entry's rate to an unknown one is refused too; editing its
    // minutes is not a new price.
    let (entry, _) = first_line(job.doc(), "labour");
    let e = entry.clone();
    let renamed = device_with(&job, move |tx| {
        let labour = root_obj(tx, "labour");
        let l = tx.get(&labour, e.as_str())?.unwrap().1;
        tx.put(&l, "rate", "weekend")
    });
    rejected(
        &sync(id, &job, &renamed, t, &ctx),
        RejectCode::NotInPriceBook,
        &[],
    );
    let longer = device_with(&job, move |tx| {
        let labour = root_obj(tx, "labour");
        let l = tx.get(&labour, entry.as_str())?.unwrap().1;
        tx.put(&l, "minutes", 50)
    });
    assert_eq!(sync(id, &job, &longer, t, &ctx), Outcome::Accepted);
    // Where the price book is not known, the rule is left to the server.
    assert_eq!(
        sync(
            id,
            &job,
            &raw_part(&job, "GHOST-1", 1, &[]),
            t,
            &Context::default()
        ),
        Outcome::Accepted
    );
    // The library refuses both before they become changes.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let heads = device.doc().get_heads();
    for action in [
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 10,
            rate: "weekend".into(),
            description: String::new(),
        },
        JobAction::UsePart {
            line: ids.line(),
            sku: sku("GHOST-1"),
            quantity: Quantity::new(1).unwrap(),
            serials: vec![],
            van: van(1),
        },
    ] {
        let err = device
            .apply_in(&action, t, Timestamp(T0), &ctx)
            .unwrap_err();
        assert!(
            matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::NotInPriceBook),
            "{err:?}"
        );
    }
    assert_eq!(device.doc().get_heads(), heads, "nothing kept");
}

#[test]
fn a_labour_entry_is_voided_by_its_author_and_then_frozen() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let entry = job.read().unwrap().labour[0].id;
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    device
        .apply(
            &JobAction::VoidLabourEntry { entry },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    assert!(device.read().unwrap().labour[0].voided);
    let outcome = sync_as(
        id,
        &job,
        device.doc(),
        tech(1),
        actor(98),
        &Context::default(),
    );
    assert_eq!(outcome, Outcome::Accepted);
    let voided = JobDoc::from_trusted(device.doc().clone());
    let l = entry.to_string();
    let unvoid = device_with(&voided, move |tx| {
        let labour = root_obj(tx, "labour");
        let e = tx.get(&labour, l.as_str())?.unwrap().1;
        tx.put(&e, "voided", false)
    });
    let Outcome::Rejected { code, message, .. } =
        sync(id, &voided, &unvoid, tech(1), &Context::default())
    else {
        panic!("un-voiding must be refused");
    };
    assert_eq!(code, RejectCode::Forbidden);
    assert!(message.contains("voided labour entry"), "{message}");
}

#[test]
fn a_labour_entry_is_corrected_in_place_and_a_voided_one_is_not_billed() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let entry = job.read().unwrap().labour[0].id;
    let book = price_book();
    let billed = |j: &JobDoc| {
        fieldsync_core::billing::bill(&j.read().unwrap(), &book)
            .unwrap()
            .lines
            .iter()
            .filter(|l| l.kind == fieldsync_core::billing::LineKind::Labour)
            .map(|l| (l.quantity, l.amount.0))
            .collect::<Vec<_>>()
    };
    // 30 minutes at 55.00/h.
    assert_eq!(billed(&job), [(30, 2750)]);

    // The typo corrected: 45 minutes, through the library and through sync.
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let correct = JobAction::CorrectLabourEntry {
        entry,
        minutes: 45,
        rate: "standard".into(),
        description: "Bled the radiators".into(),
    };
    device.apply(&correct, tech(1), Timestamp(T0)).unwrap();
    let ctx = with_book();
    assert_eq!(
        sync_as(id, &job, device.doc(), tech(1), actor(98), &ctx),
        Outcome::Accepted
    );
    assert_eq!(billed(&device), [(45, 4125)]);
    // Only what differs is written: the same values again change nothing.
    assert!(device.apply(&correct, tech(1), Timestamp(T0)).is_err());
    // Another technician may neither correct nor void it.
    for action in [correct.clone(), JobAction::VoidLabourEntry { entry }] {
        let err = device
            .clone()
            .apply(&action, tech(2), Timestamp(T0))
            .unwrap_err();
        assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    }

    // Voided: kept on the job, not billed, frozen.
    device
        .apply(
            &JobAction::VoidLabourEntry { entry },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    let read = device.read().unwrap();
    assert_eq!(read.labour.len(), 1);
    assert!(read.labour[0].voided);
    assert_eq!(billed(&device), []);
    let err = device.apply(&correct, tech(1), Timestamp(T0)).unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    let voided = JobDoc::from_trusted(device.doc().clone());
    let l = entry.to_string();
    let raw_edit = device_with(&voided, move |tx| {
        let labour = root_obj(tx, "labour");
        let e = tx.get(&labour, l.as_str())?.unwrap().1;
        tx.put(&e, "minutes", 5)
    });
    rejected(
        &sync(id, &voided, &raw_edit, tech(1), &ctx),
        RejectCode::Forbidden,
        &["voided labour entry"],
    );
}

/// A raw attachment line by technician 1 (as a client that is not our library writes it).
fn raw_attachment(
    id: LineId,
    sha256: &'static str,
    media_type: &'static str,
    kind: &'static str,
) -> impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError> {
    move |tx| {
        let attachments = root_obj(tx, "attachments");
        let a = tx.put_object(&attachments, id.to_string(), ObjType::Map)?;
        tx.put(&a, "by", user(1).to_string())?;
        tx.put(&a, "sha256", sha256)?;
        tx.put(&a, "size", 2048_i64)?;
        tx.put(&a, "media_type", media_type)?;
        tx.put(&a, "kind", kind)?;
        tx.put(&a, "caption", "")?;
        tx.put(&a, "taken_at", ScalarValue::Timestamp(T0))
    }
}

/// A raw answer by technician 1.
fn raw_answer(
    item: LineId,
    value: String,
) -> impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError> {
    move |tx| {
        let answers = root_obj(tx, "answers");
        let a = tx.put_object(&answers, item.to_string(), ObjType::Map)?;
        tx.put(&a, "value", value)?;
        tx.put(&a, "by", user(1).to_string())?;
        tx.put(&a, "device_time", ScalarValue::Timestamp(T0))
    }
}

fn attach(job: &mut JobDoc, id: LineId, sha: String, media_type: &str, kind: AttachmentKind) {
    job.apply(
        &JobAction::AddAttachment {
            attachment: id,
            sha256: sha,
            size: 2048,
            media_type: media_type.into(),
            kind,
            caption: String::new(),
        },
        tech(1),
        Timestamp(T0),
    )
    .unwrap();
}

/// `signed_job` with its text item answered and a required photo item
/// (the serial plate) the office added; returns the photo item's id.
fn photo_job(ids: &mut Ids) -> (JobId, JobDoc, LineId) {
    let (id, mut job) = signed_job(ids);
    job.apply(
        &JobAction::AnswerChecklist {
            item: LineId::from_bytes([9; 16]),
            value: "1.5 bar".into(),
        },
        tech(1),
        Timestamp(T0),
    )
    .unwrap();
    let plate = ids.line();
    job.apply(
        &JobAction::SetChecklistItem(ChecklistQuestion {
            id: plate,
            question: "Photo of the serial plate".into(),
            required: true,
            kind: ChecklistKind::Photo,
        }),
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    (id, job, plate)
}

#[test]
fn a_required_photo_item_is_answered_by_an_image_attachment_on_device_and_server() {
    let mut ids = Ids::default();
    let (id, job, plate) = photo_job(&mut ids);
    let t = tech(1);
    let read = job.read().unwrap();
    let item = read.checklist.iter().find(|c| c.id == plate).unwrap();
    assert_eq!(item.kind, ChecklistKind::Photo);

    // Unanswered, it blocks completion like any required item.
    rejected(
        &sync(
            id,
            &job,
            &device_with(&job, raw_complete),
            t,
            &Context::default(),
        ),
        RejectCode::Incomplete,
        &["required checklist item", "1 unanswered"],
    );
    let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
    let err = device
        .apply(&JobAction::Complete, t, Timestamp(T0))
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NotAllowed(why) if why.contains("1 unanswered")),
        "{err:?}"
    );

    // A text answer, an id that names nothing and a PDF are refused, raw and by the library.
    let mut with_pdf = job.clone();
    let pdf = ids.line();
    attach(
        &mut with_pdf,
        pdf,
        "ee".repeat(32),
        "application/pdf",
        AttachmentKind::Document,
    );
    for (value, words) in [
        ("yes".to_owned(), "id of an attachment"),
        (ids.line().to_string(), "names no attachment"),
        (pdf.to_string(), "an image, not a document"),
    ] {
        rejected(
            &sync(
                id,
                &with_pdf,
                &device_with(&with_pdf, raw_answer(plate, value.clone())),
                t,
                &Context::default(),
            ),
            RejectCode::PhotoAnswer,
            &[words],
        );
        let mut device = JobDoc::from_trusted(with_pdf.doc().fork().with_actor(actor(98)));
        let err = device
            .apply(
                &JobAction::AnswerChecklist { item: plate, value },
                t,
                Timestamp(T0),
            )
            .unwrap_err();
        assert!(
            matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::PhotoAnswer && r.message.contains(words)),
            "{err:?}"
        );
    }

    // The photo, then the answer naming it: accepted raw, and completion follows.
    let photo = ids.line();
    let mut answered = job.clone();
    attach(
        &mut answered,
        photo,
        "ab".repeat(32),
        "image/jpeg",
        AttachmentKind::SerialPlate,
    );
    assert_eq!(
        sync(
            id,
            &answered,
            &device_with(&answered, raw_answer(plate, photo.to_string())),
            t,
            &Context::default()
        ),
        Outcome::Accepted
    );
    answered
        .apply(
            &JobAction::AnswerChecklist {
                item: plate,
                value: photo.to_string(),
            },
            t,
            Timestamp(T0),
        )
        .unwrap();
    assert!(answered.read().unwrap().completion_blocker().is_none());
    assert_eq!(
        sync(
            id,
            &answered,
            &device_with(&answered, raw_complete),
            t,
            &Context::default()
        ),
        Outcome::Accepted
    );

    // A text item the office turns into a photo item after a text answer
    // counts as unanswered again: completion waits for a photo.
    let mut turned = answered.clone();
    turned
        .apply(
            &JobAction::SetChecklistItem(ChecklistQuestion {
                id: LineId::from_bytes([9; 16]),
                question: "Photo of the gauge".into(),
                required: true,
                kind: ChecklistKind::Photo,
            }),
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    rejected(
        &sync(
            id,
            &turned,
            &device_with(&turned, raw_complete),
            t,
            &Context::default(),
        ),
        RejectCode::Incomplete,
        &["1 unanswered"],
    );
}

#[test]
fn a_signature_attachment_must_be_the_image_the_signature_holds() {
    let mut ids = Ids::default();
    let t = tech(1);
    // signed_job's signature holds "cd" * 32.
    let (id, job) = signed_job(&mut ids);
    for sha in ["ab", "CD"] {
        let sha = sha.repeat(32);
        let matches = sha.eq_ignore_ascii_case(&"cd".repeat(32));
        let line = ids.line();
        let raw = sync(
            id,
            &job,
            &device_with(
                &job,
                raw_attachment(line, sha.clone().leak(), "image/png", "signature"),
            ),
            t,
            &Context::default(),
        );
        let mut device = JobDoc::from_trusted(job.doc().fork().with_actor(actor(98)));
        let by_library = device.apply(
            &JobAction::AddAttachment {
                attachment: line,
                sha256: sha,
                size: 2048,
                media_type: "image/png".into(),
                kind: AttachmentKind::Signature,
                caption: String::new(),
            },
            t,
            Timestamp(T0),
        );
        if matches {
            assert_eq!(raw, Outcome::Accepted);
            by_library.unwrap();
        } else {
            rejected(
                &raw,
                RejectCode::SignatureMismatch,
                &["differs from the one the job's signature holds"],
            );
            let err = by_library.unwrap_err();
            assert!(
                matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::SignatureMismatch),
                "{err:?}"
            );
        }
    }
    // The same image as a photo of another kind is no signature: accepted.
    let raw = sync(
        id,
        &job,
        &device_with(
            &job,
            raw_attachment(ids.line(), "ab".repeat(32).leak(), "image/png", "after"),
        ),
        t,
        &Context::default(),
    );
    assert_eq!(raw, Outcome::Accepted);
    // Before the signature is captured there is nothing to match.
    let id = ids.job();
    let mut unsigned_doc =
        JobDoc::from_trusted(new_job(id, Some(user(1))).into_doc().with_actor(actor(1)));
    for action in [JobAction::StartTravel, JobAction::Arrive] {
        unsigned_doc.apply(&action, t, Timestamp(T0)).unwrap();
    }
    rejected(
        &sync(
            id,
            &unsigned_doc,
            &device_with(
                &unsigned_doc,
                raw_attachment(ids.line(), "cd".repeat(32).leak(), "image/png", "signature"),
            ),
            t,
            &Context::default(),
        ),
        RejectCode::SignatureMismatch,
        &["after the signature is captured"],
    );
}

/// A serial under recall (quarantined) is never fitted: the library refuses
/// the action with what the device's van document lists, and the server's
/// validator refuses a raw change fitting it anyway; other serials fit. A
/// remedy keeps its rules on the sync path too: a temporary replacement
/// without the permanent one's committed date is refused.
#[test]
fn a_recalled_serial_is_refused_on_device_and_server() {
    let mut ids = Ids::default();
    let (id, job) = worked_job(&mut ids);
    let t = tech(1);
    let recalled = std::sync::Arc::new(
        [(sku("PUMP-9"), "P-1".to_owned())]
            .into_iter()
            .collect::<fieldsync_core::validate::Recalled>(),
    );
    let ctx = Context::default()
        .with_technician_van(TechnicianVan::Assigned(van(1)))
        .with_recalled(recalled);
    let fit = |serial: &str| JobAction::UsePart {
        line: LineId::from_bytes(rand_bytes()),
        sku: sku("PUMP-9"),
        quantity: Quantity::new(1).unwrap(),
        serials: vec![serial.to_owned()],
        van: van(1),
    };

    let mut device = job.clone();
    let before = device.doc().get_heads();
    let err = device
        .apply_in(&fit("P-1"), t, Timestamp(T0), &ctx)
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::Rejected(r) if r.code == RejectCode::Recalled
            && r.message.contains("P-1") && r.message.contains("recall")),
        "{err:?}"
    );
    assert_eq!(device.doc().get_heads(), before, "nothing was kept");
    device
        .apply_in(&fit("P-2"), t, Timestamp(T0), &ctx)
        .unwrap();

    rejected(
        &sync(id, &job, &raw_part(&job, "PUMP-9", 1, &["P-1"]), t, &ctx),
        RejectCode::Recalled,
        &["P-1", "recall"],
    );
    assert_eq!(
        sync(id, &job, &raw_part(&job, "PUMP-9", 1, &["P-2"]), t, &ctx),
        Outcome::Accepted
    );

    let forged = device_with(&job, |tx| {
        let r = tx.put_object(ROOT, "recall_remedy", ObjType::Map)?;
        tx.put(&r, "replacement", "temporary")?;
        let list = tx.put_object(&r, "serials", ObjType::List)?;
        tx.insert(&list, 0, "P-2")?;
        tx.put(&r, "by", user(1).to_string())?;
        tx.put(&r, "device_time", ScalarValue::Timestamp(T0))
    });
    rejected(
        &sync(id, &job, &forged, t, &ctx),
        RejectCode::Schema,
        &["recall_remedy", "committed date"],
    );
    let with_date = device_with(&job, |tx| {
        let r = tx.put_object(ROOT, "recall_remedy", ObjType::Map)?;
        tx.put(&r, "replacement", "temporary")?;
        let list = tx.put_object(&r, "serials", ObjType::List)?;
        tx.insert(&list, 0, "P-2")?;
        tx.put(&r, "committed_date", "2031-02-01")?;
        tx.put(&r, "by", user(1).to_string())?;
        tx.put(&r, "device_time", ScalarValue::Timestamp(T0))
    });
    assert_eq!(sync(id, &job, &with_date, t, &ctx), Outcome::Accepted);
}

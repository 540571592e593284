//! Validation by role: every forbidden edit, written as a raw automerge change
//! (as a modified or malicious client would), is rejected with a reason.

mod common;

use common::*;
use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::job::JobAction;
use fieldsync_core::{
    JobDoc, Principal, Quantity, RejectCode, Rejection, Role, Timestamp, validate_changes,
};

type Tx<'a> = Transaction<'a>;

/// Makes one raw change on a copy of `job` as `who` and validates it.
fn raw(
    job: &JobDoc,
    who: Principal,
    f: impl FnOnce(&mut Tx<'_>) -> Result<(), AutomergeError>,
) -> Result<(), Rejection> {
    let mut doc = job.doc().fork().with_actor(actor(99));
    let mut tx = doc.transaction();
    f(&mut tx).unwrap();
    let (hash, _) = tx.commit();
    validate_changes(&doc, &[hash.expect("a change")], &who).map(drop)
}

fn obj(tx: &Tx<'_>, key: &str) -> ObjId {
    tx.get(ROOT, key).unwrap().unwrap().1
}

fn entry(tx: &Tx<'_>, container: &str, line: fieldsync_core::LineId) -> ObjId {
    let c = obj(tx, container);
    tx.get(&c, line.to_string()).unwrap().unwrap().1
}

fn expect(result: Result<(), Rejection>, code: RejectCode, words: &str) {
    let r = result.expect_err("the change must be rejected");
    assert_eq!(r.code, code, "{r:?}");
    assert!(
        r.message.contains(words),
        "reason {:?} should mention {words:?}",
        r.message
    );
}

/// A job assigned to technician 1, on site, with one part line of theirs.
fn on_site(ids: &mut Ids) -> (JobDoc, fieldsync_core::LineId) {
    let mut job = JobDoc::from_trusted(
        new_job(ids.job(), Some(user(1)))
            .into_doc()
            .with_actor(actor(1)),
    );
    let t = tech(1);
    job.apply(&JobAction::StartTravel, t, Timestamp(T0))
        .unwrap();
    job.apply(&JobAction::Arrive, t, Timestamp(T0)).unwrap();
    let line = ids.line();
    job.apply(
        &JobAction::UsePart {
            line,
            sku: sku("VALVE-1"),
            quantity: Quantity::new(1).unwrap(),
            serials: vec![],
            van: van(1),
        },
        t,
        Timestamp(T0),
    )
    .unwrap();
    (job, line)
}

fn history_entry(
    tx: &mut Tx<'_>,
    from: &str,
    to: &str,
    by: Principal,
) -> Result<(), AutomergeError> {
    let h = obj(tx, "status_history");
    let at = tx.length(&h);
    let e = tx.insert_object(&h, at, ObjType::Map)?;
    tx.put(&e, "from", from)?;
    tx.put(&e, "to", to)?;
    tx.put(&e, "by", by.user.to_string())?;
    tx.put(&e, "role", by.role.as_str())?;
    tx.put(&e, "device_time", ScalarValue::Timestamp(T0))?;
    Ok(())
}

#[test]
fn a_valid_raw_change_passes() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let t = tech(1);
    raw(&job, t, |tx| {
        let notes = obj(tx, "notes");
        tx.splice_text(&notes, 0, 0, "hello")
    })
    .unwrap();
}

#[test]
fn technician_cannot_change_customer_assignment_or_problem() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let t = tech(1);
    expect(
        raw(&job, t, |tx| {
            let c = obj(tx, "customer");
            tx.put(&c, "name", "Mallory")
        }),
        RejectCode::Forbidden,
        "only the office edits customer",
    );
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "technician", user(5).to_string())
        }),
        RejectCode::Forbidden,
        "technician",
    );
    expect(
        raw(&job, t, |tx| tx.put(ROOT, "problem", "nothing")),
        RejectCode::Forbidden,
        "problem",
    );
    expect(
        raw(&job, t, |tx| {
            let a = obj(tx, "asset");
            tx.put(&a, "warranty_end", "2099-01-01")
        }),
        RejectCode::Forbidden,
        "asset",
    );
    expect(
        raw(&job, t, |tx| {
            let w = tx.put_object(ROOT, "window", ObjType::Map)?;
            tx.put(&w, "start", 1)?;
            tx.put(&w, "end", 2)
        }),
        RejectCode::Forbidden,
        "window",
    );
}

#[test]
fn technician_cannot_write_another_technicians_job() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    expect(
        raw(&job, tech(2), |tx| {
            let n = obj(tx, "notes");
            tx.splice_text(&n, 0, 0, "x")
        }),
        RejectCode::NotAssigned,
        "not assigned",
    );
}

#[test]
fn technician_cannot_skip_the_lifecycle_or_cancel() {
    let mut ids = Ids::default();
    let job = JobDoc::from_trusted(new_job(ids.job(), Some(user(1))).into_doc());
    let t = tech(1);
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "status", "completed")?;
            history_entry(tx, "scheduled", "completed", t)
        }),
        RejectCode::Transition,
        "from scheduled to completed",
    );
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "status", "cancelled")?;
            history_entry(tx, "scheduled", "cancelled", t)
        }),
        RejectCode::Transition,
        "to cancelled",
    );
}

#[test]
fn every_status_move_needs_one_matching_history_entry() {
    let mut ids = Ids::default();
    let job = JobDoc::from_trusted(new_job(ids.job(), Some(user(1))).into_doc());
    let t = tech(1);
    expect(
        raw(&job, t, |tx| tx.put(ROOT, "status", "travelling")),
        RejectCode::Transition,
        "exactly one history entry",
    );
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "status", "travelling")?;
            history_entry(tx, "scheduled", "travelling", tech(2))
        }),
        RejectCode::Transition,
        "does not match",
    );
    expect(
        raw(&job, t, |tx| {
            history_entry(tx, "scheduled", "travelling", t)
        }),
        RejectCode::Transition,
        "exactly one history entry",
    );
    expect(
        raw(&job, t, |tx| {
            let h = obj(tx, "status_history");
            let e = tx.get(&h, 0)?.unwrap().1;
            tx.put(&e, "by", user(3).to_string())
        }),
        RejectCode::Forbidden,
        "append-only",
    );
}

#[test]
fn completion_needs_a_signature_and_work() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let t = tech(1);
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "status", "completed")?;
            history_entry(tx, "on_site", "completed", t)
        }),
        RejectCode::Incomplete,
        "signature",
    );
}

#[test]
fn lines_are_voided_not_deleted_and_never_unvoided_or_taken_over() {
    let mut ids = Ids::default();
    let (mut job, line) = on_site(&mut ids);
    let t = tech(1);
    expect(
        raw(&job, t, |tx| {
            let p = obj(tx, "parts");
            tx.delete(&p, line.to_string())
        }),
        RejectCode::Forbidden,
        "voided, never deleted",
    );
    expect(
        raw(&job, t, |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "sku", "PUMP-9")
        }),
        RejectCode::Forbidden,
        "cannot be edited",
    );
    expect(
        raw(&job, t, |tx| {
            let p = obj(tx, "parts");
            let e = tx.put_object(&p, line.to_string(), ObjType::Map)?;
            tx.put(&e, "sku", "X")
        }),
        RejectCode::Forbidden,
        "never replaced",
    );
    job.apply(&JobAction::VoidPartLine { line }, t, Timestamp(T0))
        .unwrap();
    expect(
        raw(&job, t, |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "voided", false)
        }),
        RejectCode::Forbidden,
        "voided part line cannot change",
    );

    // After a reassignment the new technician cannot touch the old one's lines.
    let (mut job, line) = on_site(&mut ids);
    let d = dispatcher();
    job.doc_mut().set_actor(actor(200));
    job.apply(
        &JobAction::Reassign {
            technician: Some(user(2)),
        },
        d,
        Timestamp(T0),
    )
    .unwrap();
    expect(
        raw(&job, tech(2), |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "quantity", 5)
        }),
        RejectCode::Forbidden,
        "someone else's",
    );
}

#[test]
fn lines_are_written_in_the_writers_own_name_with_valid_values() {
    let mut ids = Ids::default();
    let (job, line) = on_site(&mut ids);
    let t = tech(1);
    let new_line = ids.line().to_string();
    let l2 = new_line.clone();
    expect(
        raw(&job, t, move |tx| {
            let p = obj(tx, "labour");
            let e = tx.put_object(&p, new_line.as_str(), ObjType::Map)?;
            tx.put(&e, "by", user(3).to_string())?;
            tx.put(&e, "minutes", 30)?;
            tx.put(&e, "rate", "standard")?;
            tx.put(&e, "device_time", ScalarValue::Timestamp(T0))
        }),
        RejectCode::Forbidden,
        "own name",
    );
    expect(
        raw(&job, t, |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "quantity", "lots")
        }),
        RejectCode::Schema,
        "quantity",
    );
    expect(
        raw(&job, t, |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "quantity", 0)
        }),
        RejectCode::Schema,
        "quantity",
    );
    expect(
        raw(&job, t, move |tx| {
            let p = obj(tx, "parts");
            let e = tx.put_object(&p, l2.as_str(), ObjType::Map)?;
            tx.put(&e, "by", user(1).to_string())?;
            tx.put(&e, "sku", "PUMP-9")?;
            tx.put(&e, "quantity", 2)?;
            let s = tx.put_object(&e, "serials", ObjType::List)?;
            tx.insert(&s, 0, "only-one")?;
            tx.put(&e, "van", van(1).to_string())?;
            tx.put(&e, "device_time", ScalarValue::Timestamp(T0))
        }),
        RejectCode::Schema,
        "serial",
    );
    expect(
        raw(&job, t, |tx| {
            let p = obj(tx, "parts");
            tx.put(&p, "not-a-uuid", 1)
        }),
        RejectCode::Schema,
        "line id",
    );
}

#[test]
fn unknown_fields_replaced_containers_and_immutable_fields_are_refused() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let t = tech(1);
    expect(
        raw(&job, t, |tx| tx.put(ROOT, "discount", 100)),
        RejectCode::Forbidden,
        "unknown field",
    );
    expect(
        raw(&job, t, |tx| {
            tx.put_object(ROOT, "notes", ObjType::Text).map(|_| ())
        }),
        RejectCode::Forbidden,
        "cannot be replaced",
    );
    expect(
        raw(&job, t, |tx| {
            tx.put_object(ROOT, "parts", ObjType::Map).map(|_| ())
        }),
        RejectCode::Forbidden,
        "parts",
    );
    expect(
        raw(&job, dispatcher(), |tx| tx.put(ROOT, "job_id", "x")),
        RejectCode::Forbidden,
        "never changes",
    );
    expect(
        raw(&job, dispatcher(), |tx| tx.put(ROOT, "created_at", 0)),
        RejectCode::Forbidden,
        "never changes",
    );
}

#[test]
fn payments_never_change_after_they_are_recorded() {
    let mut ids = Ids::default();
    let (mut job, _) = on_site(&mut ids);
    let t = tech(1);
    let p = ids.line();
    job.apply(
        &JobAction::RecordPayment {
            payment: p,
            method: fieldsync_core::job::PaymentMethod::Cash,
            amount: fieldsync_core::Money(500),
            reference: None,
        },
        t,
        Timestamp(T0),
    )
    .unwrap();
    expect(
        raw(&job, t, |tx| {
            let e = entry(tx, "payments", p);
            tx.put(&e, "amount", 1)
        }),
        RejectCode::Forbidden,
        "cannot be edited",
    );
}

#[test]
fn a_closed_job_takes_notes_only() {
    let mut ids = Ids::default();
    let mut job = JobDoc::from_trusted(new_job(ids.job(), Some(user(1))).into_doc());
    job.apply(
        &JobAction::Cancel {
            reason: "customer away".into(),
        },
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    let t = tech(1);
    expect(
        raw(&job, t, |tx| {
            tx.put(ROOT, "status", "travelling")?;
            history_entry(tx, "cancelled", "travelling", t)
        }),
        RejectCode::Transition,
        "only notes",
    );
    raw(&job, t, |tx| {
        let n = obj(tx, "notes");
        tx.splice_text(&n, 0, 0, "ok")
    })
    .unwrap();
}

#[test]
fn the_office_cannot_fabricate_field_work() {
    let mut ids = Ids::default();
    let (job, line) = on_site(&mut ids);
    let d = dispatcher();
    let l = ids.line().to_string();
    expect(
        raw(&job, d, move |tx| {
            let p = obj(tx, "labour");
            let e = tx.put_object(&p, l.as_str(), ObjType::Map)?;
            tx.put(&e, "by", user(1).to_string())?;
            tx.put(&e, "minutes", 600)
        }),
        RejectCode::Forbidden,
        "only the technician writes labour",
    );
    expect(
        raw(&job, d, |tx| {
            let p = entry(tx, "parts", line);
            tx.put(&p, "voided", true)
        }),
        RejectCode::Forbidden,
        "only the technician writes parts",
    );
    expect(
        raw(&job, d, |tx| {
            let p = obj(tx, "payments");
            tx.put_object(&p, "x", ObjType::Map).map(|_| ())
        }),
        RejectCode::Forbidden,
        "payments",
    );
    expect(
        raw(&job, d, |tx| {
            let a = obj(tx, "answers");
            tx.put_object(&a, "x", ObjType::Map).map(|_| ())
        }),
        RejectCode::Forbidden,
        "answers",
    );
    expect(
        raw(&job, d, |tx| {
            let s = tx.put_object(ROOT, "signature", ObjType::Map)?;
            tx.put(&s, "signer", "x")
        }),
        RejectCode::Forbidden,
        "signature",
    );
    expect(
        raw(&job, d, |tx| {
            tx.put(ROOT, "status", "completed")?;
            history_entry(tx, "on_site", "completed", d)
        }),
        RejectCode::Transition,
        "dispatcher may not move a job from on_site to completed",
    );
}

#[test]
fn the_office_cannot_cancel_a_completed_job_or_set_an_inverted_window() {
    let mut ids = Ids::default();
    let (mut job, _) = on_site(&mut ids);
    let t = tech(1);
    job.apply(
        &JobAction::CaptureSignature {
            signer: "Ana".into(),
            image_sha256: "0f".repeat(32),
        },
        t,
        Timestamp(T0),
    )
    .unwrap();
    job.apply(
        &JobAction::AnswerChecklist {
            item: fieldsync_core::LineId::from_bytes([9; 16]),
            value: "yes".into(),
        },
        t,
        Timestamp(T0),
    )
    .unwrap();
    job.apply(&JobAction::Complete, t, Timestamp(T0)).unwrap();
    let d = dispatcher();
    expect(
        raw(&job, d, |tx| {
            tx.put(ROOT, "status", "cancelled")?;
            history_entry(tx, "completed", "cancelled", d)
        }),
        RejectCode::Transition,
        "only notes",
    );
    let (job, _) = on_site(&mut ids);
    expect(
        raw(&job, d, |tx| {
            let w = tx.put_object(ROOT, "window", ObjType::Map)?;
            tx.put(&w, "start", ScalarValue::Timestamp(T0 + 10))?;
            tx.put(&w, "end", ScalarValue::Timestamp(T0))
        }),
        RejectCode::Schema,
        "end is before start",
    );
}

#[test]
fn roles_without_job_rights_and_second_creations_are_refused() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let manager = Principal::new(user(50), Role::InventoryManager);
    expect(
        raw(&job, manager, |tx| {
            let n = obj(tx, "notes");
            tx.splice_text(&n, 0, 0, "x")
        }),
        RejectCode::Forbidden,
        "does not edit jobs",
    );

    // A technician cannot create a job, nor can anyone create one twice.
    let spec = spec(ids.job(), Some(user(1)));
    assert!(JobDoc::create(&spec, actor(1), tech(1), Timestamp(T0)).is_err());
    let other = JobDoc::create(&spec, actor(201), dispatcher(), Timestamp(T0)).unwrap();
    let mut merged = job.doc().clone();
    merged.merge(&mut other.doc().clone()).unwrap();
    let root = other.doc().get_heads();
    let r = validate_changes(&merged, &root, &dispatcher()).expect_err("second root change");
    assert!(r.message.contains("created once"), "{r:?}");
}

#[test]
fn the_device_refuses_actions_before_they_become_changes() {
    let mut ids = Ids::default();
    let (mut job, line) = on_site(&mut ids);
    let heads = job.doc().get_heads();
    let t = tech(1);
    assert!(
        job.apply(&JobAction::Complete, t, Timestamp(T0)).is_err(),
        "no signature yet"
    );
    assert!(
        job.apply(&JobAction::Cancel { reason: "x".into() }, t, Timestamp(T0))
            .is_err()
    );
    assert!(
        job.apply(&JobAction::StartTravel, tech(2), Timestamp(T0))
            .is_err()
    );
    assert!(
        job.apply(
            &JobAction::AddLabour {
                entry: ids.line(),
                minutes: 5,
                rate: "standard".into(),
                description: String::new()
            },
            dispatcher(),
            Timestamp(T0)
        )
        .is_err()
    );
    assert!(
        job.apply(
            &JobAction::RecordPayment {
                payment: ids.line(),
                method: fieldsync_core::job::PaymentMethod::Card,
                amount: fieldsync_core::Money(100),
                reference: Some("4111 1111 1111 1111".into())
            },
            t,
            Timestamp(T0)
        )
        .is_err(),
        "card numbers are never stored"
    );
    assert!(
        job.apply(
            &JobAction::SetPartQuantity {
                line,
                quantity: Quantity::new(3).unwrap()
            },
            t,
            Timestamp(T0)
        )
        .is_ok()
    );
    assert_ne!(job.doc().get_heads(), heads);
    let after = job.doc().get_heads();
    assert!(
        job.apply(
            &JobAction::VoidPartLine { line: ids.line() },
            t,
            Timestamp(T0)
        )
        .is_err(),
        "unknown line"
    );
    assert_eq!(
        job.doc().get_heads(),
        after,
        "a refused action leaves no change"
    );
}

/// A contact written past the device library (a modified app): its codes
/// come from closed sets, it is in the writer's own name, the office does
/// not write one, and a valid one passes.
#[test]
fn a_forged_contact_needs_known_codes_and_the_writers_name() {
    let mut ids = Ids::default();
    let (job, _) = on_site(&mut ids);
    let mut contact = |by: Principal, channel: &'static str, category: &'static str| {
        let id = ids.line().to_string();
        move |tx: &mut Tx<'_>| {
            let c = obj(tx, "contacts");
            let e = tx.put_object(&c, id.as_str(), ObjType::Map)?;
            tx.put(&e, "by", by.user.to_string())?;
            tx.put(&e, "channel", channel)?;
            tx.put(&e, "direction", "inbound")?;
            tx.put(&e, "category", category)?;
            tx.put(&e, "summary", "Asks about a second boiler")?;
            tx.put(&e, "device_time", ScalarValue::Timestamp(T0))
        }
    };
    let t = tech(1);
    raw(&job, t, contact(t, "on_site", "sales_lead")).expect("a valid contact passes");
    expect(
        raw(&job, t, contact(t, "pigeon", "sales_lead")),
        RejectCode::Schema,
        "channel",
    );
    expect(
        raw(&job, t, contact(t, "on_site", "gossip")),
        RejectCode::Schema,
        "category",
    );
    expect(
        raw(&job, t, contact(tech(3), "on_site", "sales_lead")),
        RejectCode::Forbidden,
        "own name",
    );
    let d = dispatcher();
    assert!(
        raw(&job, d, contact(d, "phone", "billing")).is_err(),
        "the office logs contacts through the desk's API, not the job"
    );
}

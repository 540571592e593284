//! Concurrent different values beyond the status: the window, the
//! priority, the details and the checklist answers show in `Job::conflicts`
//! with the actor that wrote each, the same on every replica, and the office
//! keeps one with a single action (an answer too, copied exactly: the
//! validator refuses an office change writing any other answer).

mod common;

use common::*;
use fieldsync_core::automerge::{
    Automerge, ObjId, ObjType, PatchLog, ROOT, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use fieldsync_core::job::{DetailsEdit, JobAction, Priority, Window};
use fieldsync_core::{ActionError, Job, JobDoc, LineId, RejectCode, Timestamp, validate_changes};
use serde_json::json;

fn fork(job: &JobDoc, n: u8) -> JobDoc {
    JobDoc::from_trusted(job.doc().fork().with_actor(actor(n)))
}

fn merged(a: &JobDoc, b: &JobDoc) -> JobDoc {
    let mut m = a.doc().clone();
    m.merge(&mut b.doc().clone()).unwrap();
    JobDoc::from_doc(m.with_actor(actor(250))).unwrap()
}

fn hex(n: u8) -> String {
    actor(n).to_hex_string()
}

/// The conflict at `field`: its values and writers, the shown one first.
fn conflict(job: &Job, field: &str) -> Vec<(serde_json::Value, String)> {
    job.conflicts
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no conflict at {field}: {:?}", job.conflicts))
        .values
        .iter()
        .map(|v| (v.value.clone(), v.actor.clone()))
        .collect()
}

#[test]
fn concurrent_windows_details_and_priorities_show_with_their_writers() {
    let mut ids = Ids::default();
    let job = new_job(ids.job(), Some(user(1)));
    assert!(job.read().unwrap().conflicts.is_empty());
    let mut a = fork(&job, 200);
    let mut b = fork(&job, 201);
    let early = Window::new(Timestamp(T0), Timestamp(T0 + 3_600_000)).unwrap();
    let late = Window::new(Timestamp(T0 + 36_000_000), Timestamp(T0 + 39_600_000)).unwrap();
    let d = dispatcher();
    a.apply(&JobAction::EditWindow(early), d, Timestamp(T0))
        .unwrap();
    b.apply(&JobAction::EditWindow(late), d, Timestamp(T0))
        .unwrap();
    a.apply(
        &JobAction::EditDetails(DetailsEdit {
            site_address: Some("Rua Nova 2, Lisboa".into()),
            priority: Some(Priority::Urgent),
            problem: Some("Leaking valve".into()),
            ..Default::default()
        }),
        d,
        Timestamp(T0),
    )
    .unwrap();
    b.apply(
        &JobAction::EditDetails(DetailsEdit {
            site_address: Some("Rua Velha 3, Lisboa".into()),
            priority: Some(Priority::Low),
            problem: Some("Leaking valve".into()),
            ..Default::default()
        }),
        d,
        Timestamp(T0),
    )
    .unwrap();
    let ab = merged(&a, &b).read().unwrap();
    let ba = merged(&b, &a).read().unwrap();
    assert_eq!(ab.conflicts, ba.conflicts, "the same on every replica");

    let window = conflict(&ab, "/window");
    assert_eq!(window.len(), 2);
    let shown = json!({"start": ab.window.start.0, "end": ab.window.end.0});
    assert_eq!(window[0].0, shown, "the shown value first");
    let mut values: Vec<_> = window
        .iter()
        .map(|(v, w)| (v["start"].as_i64().unwrap(), w.clone()))
        .collect();
    values.sort();
    assert_eq!(
        values,
        [(early.start.0, hex(200)), (late.start.0, hex(201))]
    );

    let address = conflict(&ab, "/site/address");
    assert_eq!(address[0].0, json!(ab.site.address));
    assert!(address.contains(&(json!("Rua Nova 2, Lisboa"), hex(200))));
    assert!(address.contains(&(json!("Rua Velha 3, Lisboa"), hex(201))));
    let priority = conflict(&ab, "/priority");
    assert!(priority.contains(&(json!("urgent"), hex(200))));
    assert!(priority.contains(&(json!("low"), hex(201))));
    // The same problem text from both sides, and untouched fields, hold no conflict.
    assert!(
        !ab.conflicts
            .iter()
            .any(|c| c.field == "/problem" || c.field == "/customer/name")
    );
    assert_eq!(ab.conflicts.len(), 3, "{:?}", ab.conflicts);

    // The office keeps the late window and 201's address with one action
    // each; every replica that gets the resolution sees no conflict.
    let mut desk = merged(&a, &b);
    for (field, writer) in [("/window", 201), ("/site/address", 201), ("/priority", 200)] {
        desk.apply(
            &JobAction::ResolveConflict {
                field: field.into(),
                actor: hex(writer),
            },
            d,
            Timestamp(T0),
        )
        .unwrap();
    }
    let resolved = desk.read().unwrap();
    assert!(resolved.conflicts.is_empty(), "{:?}", resolved.conflicts);
    assert_eq!(resolved.window, late);
    assert_eq!(resolved.site.address, "Rua Velha 3, Lisboa");
    assert_eq!(resolved.priority, Priority::Urgent);
    let everywhere = merged(&b, &desk).read().unwrap();
    assert_eq!(everywhere.conflicts, vec![]);
    assert_eq!(everywhere.window, late);

    // Only the office resolves, only existing conflicts, only values written.
    let mut again = merged(&a, &b);
    let err = again
        .apply(
            &JobAction::ResolveConflict {
                field: "/window".into(),
                actor: hex(200),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    for (field, writer) in [("/problem", 200), ("/window", 7)] {
        let err = again
            .apply(
                &JobAction::ResolveConflict {
                    field: field.into(),
                    actor: hex(writer),
                },
                d,
                Timestamp(T0),
            )
            .unwrap_err();
        assert!(matches!(err, ActionError::NotFound(_)), "{err:?}");
    }
}

#[test]
fn concurrent_checklist_answers_show_with_who_answered() {
    let mut ids = Ids::default();
    let job = new_job(ids.job(), Some(user(1)));
    let mut on_site = fork(&job, 1);
    on_site
        .apply(&JobAction::StartTravel, tech(1), Timestamp(T0))
        .unwrap();
    on_site
        .apply(&JobAction::Arrive, tech(1), Timestamp(T0))
        .unwrap();
    // Two devices of the technician answer the same question differently.
    let mut phone = fork(&on_site, 11);
    let mut tablet = fork(&on_site, 12);
    let item = LineId::from_bytes([9; 16]);
    for (device, value, at) in [
        (&mut phone, "1.5 bar", T0),
        (&mut tablet, "2.0 bar", T0 + 1),
    ] {
        device
            .apply(
                &JobAction::AnswerChecklist {
                    item,
                    value: value.into(),
                },
                tech(1),
                Timestamp(at),
            )
            .unwrap();
    }
    let both = merged(&phone, &tablet).read().unwrap();
    let field = format!("/answers/{item}");
    let answers = conflict(&both, &field);
    let shown = both.checklist[0].answer.as_ref().unwrap().value.clone();
    assert_eq!(answers[0].0, json!(shown));
    assert!(answers.contains(&(json!("1.5 bar"), hex(11))));
    assert!(answers.contains(&(json!("2.0 bar"), hex(12))));
    let c = both.conflicts.iter().find(|c| c.field == field).unwrap();
    assert!(
        c.values.iter().all(|v| v.by == Some(user(1))),
        "who answered"
    );
    // The office keeps the phone's answer with one action: copied whole
    // (value, who, when), still in the technician's name.
    let mut desk = merged(&phone, &tablet);
    let before = desk.doc().get_heads();
    desk.apply(
        &JobAction::ResolveConflict {
            field: field.clone(),
            actor: hex(11),
        },
        dispatcher(),
        Timestamp(T0 + 60_000),
    )
    .unwrap();
    let kept = desk.read().unwrap();
    assert!(kept.conflicts.is_empty(), "{:?}", kept.conflicts);
    let phone_answer = phone.read().unwrap().checklist[0].answer.clone().unwrap();
    assert_eq!(phone_answer.value, "1.5 bar");
    assert_eq!(kept.checklist[0].answer.as_ref(), Some(&phone_answer));
    // The resolution is valid as the office's change where it arrives, and
    // the technician's device then shows the kept answer and no conflict.
    let resolution: Vec<_> = desk.doc().get_changes(&before).into_iter().collect();
    let hashes: Vec<_> = resolution.iter().map(|c| c.hash()).collect();
    let mut device = merged(&phone, &tablet).doc().clone();
    device.apply_changes(resolution).unwrap();
    let job = validate_changes(&device, &hashes, &dispatcher()).unwrap();
    assert!(job.conflicts.is_empty());
    assert_eq!(job.checklist[0].answer.as_ref(), Some(&phone_answer));

    // A forged office change writing anything but one of the concurrent
    // values is refused: a new value, a kept value in the office's name or
    // with another time, a value the line does not hold concurrently, and a
    // copy that leaves the other value standing.
    let both_doc = merged(&phone, &tablet).doc().clone();
    let phone_doc = phone.doc().clone();
    let answers_of = |doc: &Automerge| match doc.get(ROOT, "answers").unwrap() {
        Some((Value::Object(_), id)) => id,
        other => panic!("no answers: {other:?}"),
    };
    let phone_value = |doc: &Automerge| -> (ObjId, Vec<(String, ScalarValue)>) {
        let answers = answers_of(doc);
        let (_, id) = doc
            .get_all(&answers, item.to_string())
            .unwrap()
            .into_iter()
            .find(|(_, id)| matches!(id, ObjId::Id(_, a, _) if *a == actor(11)))
            .unwrap();
        let keys: Vec<String> = doc.keys(&id).collect();
        let values = keys
            .into_iter()
            .map(|k| {
                let v = match doc.get(&id, &k).unwrap() {
                    Some((Value::Scalar(v), _)) => v.into_owned(),
                    other => panic!("{k}: {other:?}"),
                };
                (k, v)
            })
            .collect();
        (answers, values)
    };
    let forge = |base: &Automerge,
                 change: Option<(&str, ScalarValue)>,
                 partial: bool|
     -> Result<Job, fieldsync_core::Rejection> {
        let mut doc = base.clone().with_actor(actor(210));
        let (answers, mut values) = phone_value(&doc);
        if let Some((key, value)) = change {
            values.iter_mut().find(|(k, _)| k == key).unwrap().1 = value;
        }
        let deps = if partial {
            // Built on the phone's answer alone: the tablet's stays concurrent.
            phone.doc().get_heads()
        } else {
            doc.get_heads()
        };
        let mut tx = doc.transaction_at(PatchLog::inactive(), &deps).unwrap();
        let a = tx
            .put_object(&answers, item.to_string(), ObjType::Map)
            .unwrap();
        for (k, v) in values {
            tx.put(&a, k, v).unwrap();
        }
        let hash = tx.commit().0.unwrap();
        validate_changes(&doc, &[hash], &dispatcher())
    };
    let refused = |r: Result<Job, fieldsync_core::Rejection>, case: &str| {
        let r = r.expect_err(case);
        assert_eq!(r.code, RejectCode::Forbidden, "{case}: {r:?}");
        assert!(r.message.contains("concurrent values"), "{case}: {r:?}");
    };
    refused(
        forge(&both_doc, Some(("value", "3.0 bar".into())), false),
        "a new value",
    );
    refused(
        forge(&both_doc, Some(("by", user(200).to_string().into())), false),
        "in the office's name",
    );
    refused(
        forge(
            &both_doc,
            Some(("device_time", ScalarValue::Timestamp(T0 + 5))),
            false,
        ),
        "another time",
    );
    refused(forge(&phone_doc, None, false), "no conflict to resolve");
    refused(forge(&both_doc, None, true), "built on one value alone");
    // The same copy as the action's, forged by hand, is accepted.
    forge(&both_doc, None, false).expect("an exact copy of a concurrent value");

    // The technician can still settle it by answering again.
    let mut settled = merged(&phone, &tablet);
    settled
        .apply(
            &JobAction::AnswerChecklist {
                item,
                value: "1.5 bar".into(),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    assert!(settled.read().unwrap().conflicts.is_empty());
}

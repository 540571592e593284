//! Concurrent different values beyond the status: the window, the
//! priority, the details and the checklist answers show in `Job::conflicts`
//! with the actor that wrote each, the same on every replica, and the office
//! keeps one with a single action.

mod common;

use common::*;
use fieldsync_core::job::{DetailsEdit, JobAction, Priority, Window};
use fieldsync_core::{ActionError, Job, JobDoc, LineId, Timestamp};
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
    for (device, value) in [(&mut phone, "1.5 bar"), (&mut tablet, "2.0 bar")] {
        device
            .apply(
                &JobAction::AnswerChecklist {
                    item,
                    value: value.into(),
                },
                tech(1),
                Timestamp(T0),
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
    // The office cannot write answers; the technician settles it by answering again.
    let mut desk = merged(&phone, &tablet);
    let err = desk
        .apply(
            &JobAction::ResolveConflict {
                field: field.clone(),
                actor: hex(11),
            },
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
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

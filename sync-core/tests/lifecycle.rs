//! The status lifecycle under concurrency: the documented precedence rule,
//! losing values kept visible, and notes that keep both sides' edits.

mod common;

use common::*;
use fieldsync_core::job::{JobAction, Window};
use fieldsync_core::{JobDoc, Status, Timestamp};

fn fork(job: &JobDoc, n: u8) -> JobDoc {
    JobDoc::from_trusted(job.doc().fork().with_actor(actor(n)))
}

fn merge(a: &JobDoc, b: &JobDoc) -> fieldsync_core::Job {
    let mut m = a.doc().clone();
    m.merge(&mut b.doc().clone()).unwrap();
    JobDoc::from_doc(m)
        .expect("merged job reads")
        .read()
        .unwrap()
}

/// A job with technician 1 on site and work ready for completion (the
/// required checklist item answered).
fn ready(ids: &mut Ids) -> JobDoc {
    let mut job = fork(&new_job(ids.job(), Some(user(1))), 1);
    let t = tech(1);
    for a in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AnswerChecklist {
            item: fieldsync_core::LineId::from_bytes([9; 16]),
            value: "yes".into(),
        },
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 30,
            rate: "standard".into(),
            description: String::new(),
        },
        JobAction::CaptureSignature {
            signer: "Ana".into(),
            image_sha256: "aa".repeat(32),
        },
    ] {
        job.apply(&a, t, Timestamp(T0)).unwrap();
    }
    job
}

#[test]
fn completed_offline_beats_a_concurrent_cancel_and_the_cancel_stays_visible() {
    let mut ids = Ids::default();
    let job = ready(&mut ids);
    let mut device = fork(&job, 1);
    let mut office = fork(&job, 200);
    device
        .apply(&JobAction::Complete, tech(1), Timestamp(T0))
        .unwrap();
    office
        .apply(
            &JobAction::Cancel {
                reason: "duplicate booking".into(),
            },
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    for merged in [merge(&device, &office), merge(&office, &device)] {
        assert_eq!(merged.status, Status::Completed);
        assert_eq!(merged.status_conflicts, vec![Status::Cancelled]);
        let tos: Vec<Status> = merged.status_history.iter().map(|c| c.to).collect();
        assert!(tos.contains(&Status::Completed) && tos.contains(&Status::Cancelled));
        assert_eq!(merged.cancel_reason.as_deref(), Some("duplicate booking"));
    }
}

#[test]
fn a_cancel_beats_an_arrival_it_did_not_see() {
    let mut ids = Ids::default();
    let mut job = fork(&new_job(ids.job(), Some(user(1))), 1);
    job.apply(&JobAction::StartTravel, tech(1), Timestamp(T0))
        .unwrap();
    let mut device = fork(&job, 1);
    let mut office = fork(&job, 200);
    device
        .apply(&JobAction::Arrive, tech(1), Timestamp(T0))
        .unwrap();
    office
        .apply(
            &JobAction::Cancel {
                reason: "customer away".into(),
            },
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    let merged = merge(&device, &office);
    assert_eq!(merged.status, Status::Cancelled);
    assert_eq!(merged.status_conflicts, vec![Status::OnSite]);
}

#[test]
fn notes_keep_both_sides_concurrent_edits() {
    let mut ids = Ids::default();
    let job = new_job(ids.job(), Some(user(1)));
    let mut device = fork(&job, 1);
    let mut office = fork(&job, 200);
    device
        .apply(
            &JobAction::AddNote {
                text: "Valve seized".into(),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    office
        .apply(
            &JobAction::EditNotes {
                text: "Bring ladder".into(),
            },
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    let merged = merge(&device, &office);
    assert!(
        merged.notes.contains("Valve seized") && merged.notes.contains("Bring ladder"),
        "{}",
        merged.notes
    );
}

#[test]
fn concurrent_windows_never_mix_start_and_end() {
    let mut ids = Ids::default();
    let job = new_job(ids.job(), Some(user(1)));
    let mut a = fork(&job, 200);
    let mut b = fork(&job, 201);
    let early = Window::new(Timestamp(T0), Timestamp(T0 + 3_600_000)).unwrap();
    let late = Window::new(
        Timestamp(T0 + 10 * 3_600_000),
        Timestamp(T0 + 11 * 3_600_000),
    )
    .unwrap();
    a.apply(&JobAction::EditWindow(early), dispatcher(), Timestamp(T0))
        .unwrap();
    b.apply(&JobAction::EditWindow(late), dispatcher(), Timestamp(T0))
        .unwrap();
    let merged = merge(&a, &b);
    assert!(
        merged.window == early || merged.window == late,
        "{:?}",
        merged.window
    );
}

#[test]
fn office_edits_and_field_work_merge() {
    let mut ids = Ids::default();
    let job = ready(&mut ids);
    let mut device = fork(&job, 1);
    let mut office = fork(&job, 200);
    device
        .apply(&JobAction::Complete, tech(1), Timestamp(T0))
        .unwrap();
    office
        .apply(
            &JobAction::EditDetails(fieldsync_core::job::DetailsEdit {
                customer_phone: Some(Some("+351 911".into())),
                ..Default::default()
            }),
            dispatcher(),
            Timestamp(T0),
        )
        .unwrap();
    let merged = merge(&device, &office);
    assert_eq!(merged.status, Status::Completed);
    assert_eq!(merged.customer.phone.as_deref(), Some("+351 911"));
    assert_eq!(merged.labour.len(), 1);
}

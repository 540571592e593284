//! `JobDoc::apply_all`: an office edit of several parts of a job (the API's
//! PATCH) as one change per action, validated together, with the job read
//! once and handed back.

mod common;

use common::*;
use fieldsync_core::job::{DetailsEdit, Window};
use fieldsync_core::{ActionError, JobAction, JobDoc, Timestamp, validate_changes};

fn office_copy(job: &JobDoc) -> JobDoc {
    JobDoc::from_trusted(job.doc().fork().with_actor(actor(200)))
}

fn edits() -> Vec<JobAction> {
    vec![
        JobAction::EditDetails(DetailsEdit {
            customer_name: Some("Ana Lima".into()),
            problem: Some("No hot water at all".into()),
            ..DetailsEdit::default()
        }),
        JobAction::EditWindow(
            Window::new(Timestamp(T0 + 3_600_000), Timestamp(T0 + 7_200_000)).unwrap(),
        ),
        JobAction::EditNotes {
            text: "Gate code 1234".into(),
        },
    ]
}

#[test]
fn each_action_is_its_own_validated_change_and_the_job_comes_back() {
    let mut ids = Ids::default();
    let stored = new_job(ids.job(), Some(user(1)));
    let before = stored.read().unwrap();
    for current in [None, Some(&before)] {
        let mut job = office_copy(&stored);
        let heads = job.doc().get_heads();
        let merged = job
            .apply_all(&edits(), dispatcher(), Timestamp(T0), current)
            .unwrap();
        assert_eq!(merged, job.read().unwrap(), "the job as the document reads");
        assert_eq!(merged.customer.name, "Ana Lima");
        assert_eq!(merged.problem, "No hot water at all");
        assert_eq!(merged.window.start, Timestamp(T0 + 3_600_000));
        assert_eq!(merged.notes, "Gate code 1234");
        let changes = job.doc().get_changes(&heads);
        let names: Vec<_> = changes.iter().map(|c| c.message()).collect();
        assert_eq!(
            names,
            [
                Some("edit_details"),
                Some("edit_window"),
                Some("edit_notes")
            ]
        );
        // Each change stands on its own before the validator, as a device's would.
        let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
        validate_changes(job.doc(), &hashes, &dispatcher()).unwrap();
    }
}

#[test]
fn a_refused_action_leaves_the_document_as_it_was() {
    let mut ids = Ids::default();
    let stored = new_job(ids.job(), Some(user(1)));
    let mut job = office_copy(&stored);
    let heads = job.doc().get_heads();
    let mut actions = edits();
    actions.push(JobAction::Cancel {
        reason: "  ".into(),
    });
    let err = job
        .apply_all(&actions, dispatcher(), Timestamp(T0), None)
        .unwrap_err();
    assert!(matches!(err, ActionError::Invalid(_)), "{err:?}");
    assert_eq!(
        job.doc().get_heads(),
        heads,
        "the first three are undone too"
    );
    assert_eq!(job.read().unwrap(), stored.read().unwrap());

    // The office may not do the technician's part, nor the technician the office's.
    let err = job
        .apply_all(&[JobAction::StartTravel], dispatcher(), Timestamp(T0), None)
        .unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    let mut phone = JobDoc::from_trusted(stored.doc().fork().with_actor(actor(1)));
    let err = phone
        .apply_all(&edits(), tech(1), Timestamp(T0), None)
        .unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    assert_eq!(phone.doc().get_heads(), stored.doc().get_heads());
}

/// Preconditions are checked against the job before the first action, so a
/// sequence whose second step needs the first is refused whole, never
/// stored with a wrong status history.
#[test]
fn dependent_actions_are_refused_whole() {
    let mut ids = Ids::default();
    let stored = new_job(ids.job(), Some(user(1)));
    let mut phone = JobDoc::from_trusted(stored.doc().fork().with_actor(actor(1)));
    let err = phone
        .apply_all(
            &[JobAction::StartTravel, JobAction::Arrive],
            tech(1),
            Timestamp(T0),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, ActionError::NotAllowed(_)), "{err:?}");
    assert_eq!(phone.doc().get_heads(), stored.doc().get_heads());
    // One at a time they are fine.
    for a in [JobAction::StartTravel, JobAction::Arrive] {
        phone.apply_all(&[a], tech(1), Timestamp(T0), None).unwrap();
    }
    assert_eq!(phone.read().unwrap().status, fieldsync_core::Status::OnSite);
}

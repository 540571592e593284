//! Rejected work resolves: the job is rebuilt from the server's state, the
//! journaled actions that still make sense are taken again and synced, and
//! the dropped ones are reported; or the job is kept frozen for a supervisor.
//!
//! The office here refuses by making the job server-written for one round
//! (sync-core's real rule for read-only documents): the device's first new
//! change is refused, by name, as the server's other rules refuse theirs.
//! The Kotlin test (tests/tests/mobile) shows the same against the real
//! server with a rule the device cannot know.

mod common;

use common::*;
use fieldsync_ffi::{
    ClientOptions, FieldsyncClient, FieldsyncError, JobSyncOutcome, RejectedAction,
};

fn open(dir: &std::path::Path, freeze: bool) -> std::sync::Arc<FieldsyncClient> {
    FieldsyncClient::open_with_options(
        dir.to_str().unwrap().into(),
        ClientOptions {
            freeze_rejected_jobs: freeze,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn signed_in(
    dir: &std::path::Path,
    office: &mut Office,
    freeze: bool,
) -> std::sync::Arc<FieldsyncClient> {
    let client = open(dir, freeze);
    client.set_session(office.tokens()).unwrap();
    office.sync(&client);
    client
}

/// Travel synced; then offline: arrive (refused by the server), a part
/// (needs the arrival), labour and a note (independent of it).
struct Offline {
    part: String,
    labour: String,
}

fn work_offline(client: &FieldsyncClient, office: &mut Office) -> Offline {
    let job = office.job.to_string();
    client.start_travel(job.clone()).unwrap();
    office.sync(client);
    client.arrive(job.clone()).unwrap();
    let part = client
        .use_part(job.clone(), "VALVE-1".into(), 1, vec![], None)
        .unwrap();
    let labour = client
        .add_labour(
            job.clone(),
            45,
            "standard".into(),
            "Bled the radiators".into(),
        )
        .unwrap();
    client
        .add_note(job.clone(), "Customer asked for a quote".into())
        .unwrap();
    office.office_note("Customer called: gate code 4321");
    assert_eq!(client.pending_change_count().unwrap(), 4);
    Offline { part, labour }
}

fn by_action<'a>(dropped: &'a [RejectedAction], action: &str) -> &'a RejectedAction {
    dropped
        .iter()
        .find(|d| d.action == action)
        .unwrap_or_else(|| panic!("no dropped {action} in {dropped:?}"))
}

#[test]
fn a_refused_action_is_dropped_and_the_rest_is_replayed_and_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = signed_in(dir.path(), &mut office, false);
    let work = work_offline(&client, &mut office);

    // 1. The server refuses the arrival: the reply says so, by name.
    office.job_read_only = true;
    let first = office.round(&client, client.sync_request().unwrap());
    office.job_read_only = false;
    assert!(
        matches!(&first.jobs[..], [j] if j.job_id == job
            && matches!(&j.outcome, JobSyncOutcome::Rejected { code, .. } if code == "forbidden")),
        "{first:?}"
    );
    // The arrival is dropped; the part needed it and is dropped too; the
    // labour and the note are taken again, so another round is needed.
    let dropped = &first.rejected_actions;
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    let arrive = by_action(dropped, "arrive");
    assert!(arrive.refused_by_server && arrive.code == "forbidden" && arrive.job_id == job);
    let part = by_action(dropped, "use_part");
    assert!(!part.refused_by_server, "{part:?}");
    assert_eq!(part.code, "not_allowed");
    assert_eq!(part.line_id.as_deref(), Some(work.part.as_str()));
    assert!(part.action_json.contains("VALVE-1"), "{}", part.action_json);
    assert!(first.more_rounds);
    assert_eq!(client.pending_change_count().unwrap(), 2);

    // 2. The next round carries the kept actions, and they are accepted.
    let second = office.round(&client, client.next_sync_request().unwrap().unwrap());
    assert_eq!(
        second.jobs[0].outcome,
        JobSyncOutcome::Accepted,
        "{second:?}"
    );
    assert!(!second.more_rounds);
    assert!(client.next_sync_request().unwrap().is_none());
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert!(client.conflicts().unwrap().is_empty());

    // 3. Nothing valid is lost: the server has travel, labour (same id),
    //    the note and the office's note; not the arrival or the part.
    let server = office.job_doc().read().unwrap();
    assert_eq!(server.status, fieldsync_core::Status::Travelling);
    assert_eq!(server.labour.len(), 1);
    assert_eq!(server.labour[0].id.to_string(), work.labour);
    assert!(server.parts.is_empty());
    assert!(server.notes.contains("quote") && server.notes.contains("gate code"));
    let device = client.job(job.clone()).unwrap();
    assert_eq!(device.summary.status, "travelling");
    assert_eq!(device.labour[0].id, work.labour);
    assert!(device.notes.contains("quote") && device.notes.contains("gate code"));

    // 4. The dropped actions stay listed across a restart until dismissed.
    drop(client);
    let client = open(dir.path(), false);
    let listed = client.rejected_actions().unwrap();
    assert_eq!(listed, first.rejected_actions);
    client
        .dismiss_rejected_actions(vec![arrive.id.clone()])
        .unwrap();
    drop(client);
    let client = open(dir.path(), false);
    let listed = client.rejected_actions().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].action, "use_part");
    // The technician redoes the visit properly; it syncs in one round.
    client.arrive(job.clone()).unwrap();
    client
        .use_part(job.clone(), "VALVE-1".into(), 1, vec![], None)
        .unwrap();
    let again = office.sync(&client);
    assert_eq!(again.jobs[0].outcome, JobSyncOutcome::Accepted);
    assert_eq!(office.job_doc().read().unwrap().parts.len(), 1);
}

#[test]
fn a_rejected_job_can_be_kept_frozen_then_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = signed_in(dir.path(), &mut office, true);
    work_offline(&client, &mut office);

    office.job_read_only = true;
    let first = office.round(&client, client.sync_request().unwrap());
    office.job_read_only = false;
    assert!(first.rejected_actions.is_empty(), "{first:?}");
    assert!(!first.more_rounds);

    // Frozen as it was: visible, flagged, no action taken, nothing sent.
    let frozen = client.frozen_jobs().unwrap();
    assert_eq!(frozen.len(), 1);
    assert_eq!(
        (frozen[0].job_id.as_str(), frozen[0].code.as_str()),
        (job.as_str(), "forbidden")
    );
    let summary = &client.jobs().unwrap()[0];
    assert!(summary.frozen && summary.has_conflicts);
    assert_eq!(summary.status, "on_site");
    assert_eq!(
        client.add_note(job.clone(), "more".into()).unwrap_err(),
        FieldsyncError::JobFrozen {
            job_id: job.clone()
        }
    );
    // A sync leaves its work on the device but still brings the office's.
    office.office_note("Supervisor will call you");
    let held = office.sync(&client);
    assert!(
        held.jobs
            .iter()
            .all(|j| j.outcome == JobSyncOutcome::Accepted),
        "{held:?}"
    );
    assert_eq!(
        office.job_doc().read().unwrap().status,
        fieldsync_core::Status::Travelling
    );
    assert!(
        client
            .job(job.clone())
            .unwrap()
            .notes
            .contains("Supervisor will call")
    );
    assert_eq!(client.pending_change_count().unwrap(), 4);

    // Still frozen after a restart; then the supervisor has it recovered.
    drop(client);
    let client = open(dir.path(), true);
    assert_eq!(client.frozen_jobs().unwrap().len(), 1);
    let dropped = client.recover_job(job.clone()).unwrap();
    assert_eq!(
        dropped
            .iter()
            .map(|d| d.action.as_str())
            .collect::<Vec<_>>(),
        vec!["arrive", "use_part"]
    );
    assert!(client.frozen_jobs().unwrap().is_empty());
    assert!(!client.jobs().unwrap()[0].frozen);
    let result = office.sync(&client);
    assert_eq!(result.jobs[0].outcome, JobSyncOutcome::Accepted);
    let server = office.job_doc().read().unwrap();
    assert_eq!(server.labour.len(), 1);
    assert!(server.notes.contains("quote"));
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert_eq!(client.rejected_actions().unwrap().len(), 2);
}

#[test]
fn a_frozen_job_can_be_sent_again_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = signed_in(dir.path(), &mut office, true);
    work_offline(&client, &mut office);
    office.job_read_only = true;
    office.round(&client, client.sync_request().unwrap());
    office.job_read_only = false;
    assert_eq!(client.frozen_jobs().unwrap().len(), 1);

    // The office removed the cause: the job goes as it is, nothing dropped.
    client.unfreeze_job(job.clone()).unwrap();
    assert!(matches!(
        client.unfreeze_job(job.clone()),
        Err(FieldsyncError::NotAllowed { .. })
    ));
    let result = office.sync(&client);
    assert_eq!(result.jobs[0].outcome, JobSyncOutcome::Accepted);
    let server = office.job_doc().read().unwrap();
    assert_eq!(server.status, fieldsync_core::Status::OnSite);
    assert_eq!(server.parts.len(), 1);
    assert!(client.rejected_actions().unwrap().is_empty());
    assert!(client.conflicts().unwrap().is_empty());
}

#[test]
fn without_a_journal_for_every_pending_change_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = signed_in(dir.path(), &mut office, false);
    client.start_travel(job.clone()).unwrap();
    client.add_note(job.clone(), "on my way".into()).unwrap();
    // A store written before the journal existed: its pending changes have
    // no recorded action, so rebuilding would lose them.
    drop(client);
    for entry in std::fs::read_dir(user_store(dir.path()).join("journal")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let client = open(dir.path(), false);
    office.job_read_only = true;
    let result = office.sync(&client);
    office.job_read_only = false;
    assert!(matches!(
        result.jobs[0].outcome,
        JobSyncOutcome::Rejected { .. }
    ));
    assert!(result.rejected_actions.is_empty());
    assert_eq!(client.pending_change_count().unwrap(), 2);
    assert_eq!(client.conflicts().unwrap().len(), 1);
    // Sent again as it is once the server accepts it.
    office.sync(&client);
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert!(office.job_doc().read().unwrap().notes.contains("on my way"));
}

/// Labour corrections and voids go through the same journaled action path:
/// a refused correction is dropped and rolled back, a later note and void
/// are replayed and synced, and the entry keeps its synced values.
#[test]
fn a_refused_labour_correction_rolls_back_and_a_later_void_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = signed_in(dir.path(), &mut office, false);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let entry = client
        .add_labour(
            job.clone(),
            45,
            "standard".into(),
            "Bled the radiators".into(),
        )
        .unwrap();
    let synced = office.sync(&client);
    assert_eq!(synced.jobs[0].outcome, JobSyncOutcome::Accepted);

    // Offline: a correction (refused below), then a note and a void.
    client
        .correct_labour_entry(
            job.clone(),
            entry.clone(),
            60,
            "standard".into(),
            "Bled and refilled".into(),
        )
        .unwrap();
    client
        .add_note(job.clone(), "Radiator valve stiff".into())
        .unwrap();
    assert_eq!(client.job(job.clone()).unwrap().labour[0].minutes, 60);

    office.job_read_only = true;
    let first = office.round(&client, client.sync_request().unwrap());
    office.job_read_only = false;
    let dropped = &first.rejected_actions;
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    let correction = by_action(dropped, "correct_labour_entry");
    assert!(correction.refused_by_server && correction.code == "forbidden");
    assert_eq!(correction.line_id.as_deref(), Some(entry.as_str()));
    assert!(
        correction.action_json.contains("Bled and refilled"),
        "{}",
        correction.action_json
    );
    // Rolled back on the device: the entry reads as the server has it.
    let device = client.job(job.clone()).unwrap();
    assert_eq!(device.labour[0].minutes, 45);
    assert_eq!(device.labour[0].description, "Bled the radiators");
    assert!(device.notes.contains("valve stiff"));
    assert!(first.more_rounds);
    let second = office.round(&client, client.next_sync_request().unwrap().unwrap());
    assert_eq!(
        second.jobs[0].outcome,
        JobSyncOutcome::Accepted,
        "{second:?}"
    );

    // A void after the rollback is an ordinary action: it syncs.
    client
        .void_labour_entry(job.clone(), entry.clone())
        .unwrap();
    let third = office.sync(&client);
    assert_eq!(third.jobs[0].outcome, JobSyncOutcome::Accepted);
    let server = office.job_doc().read().unwrap();
    assert_eq!(server.labour.len(), 1);
    assert_eq!(server.labour[0].minutes, 45);
    assert!(server.labour[0].voided);
    assert!(server.notes.contains("valve stiff"));
    assert_eq!(client.pending_change_count().unwrap(), 0);
}

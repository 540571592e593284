//! The client's logic against an in-process office (sync-core's `serve`):
//! a visit offline, reopening, billing, van stock, serials, rejections.

mod common;

use common::*;
use fieldsync_core::sync::{Limits, SyncRequest};
use fieldsync_ffi::{ConflictKind, FieldsyncClient, FieldsyncError, JobSyncOutcome};

const SIG: &str = "5c4d3e2f1a0b5c4d3e2f1a0b5c4d3e2f1a0b5c4d3e2f1a0b5c4d3e2f1a0b5c4d";

fn open(dir: &std::path::Path) -> std::sync::Arc<FieldsyncClient> {
    FieldsyncClient::open(dir.to_str().unwrap().into()).unwrap()
}

#[test]
fn a_visit_offline_survives_reopening_and_reaches_the_office() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();

    // 1. Log in and sync: the day's job, the price book and the van arrive.
    let client = open(dir.path());
    client.set_session(office.tokens()).unwrap();
    let first = office.sync(&client);
    assert_eq!(first.added_jobs, 1);
    assert!(client.last_sync_time_ms().unwrap().is_some());
    let jobs = client.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, job);
    assert_eq!(jobs[0].status, "scheduled");
    assert_eq!(jobs[0].pending_changes, 0);

    // 2. Offline: the whole visit.
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let labour = client
        .add_labour(job.clone(), 90, "standard".into(), "Replaced valve".into())
        .unwrap();
    let valve = client
        .use_part(job.clone(), "VALVE-1".into(), 2, vec![], None)
        .unwrap();
    let pump = client
        .use_part(job.clone(), "PUMP-9".into(), 1, vec!["P-1".into()], None)
        .unwrap();
    client
        .add_note(job.clone(), "Customer mentioned noise".into())
        .unwrap();
    client
        .answer_checklist(job.clone(), office.checklist_item.to_string(), "yes".into())
        .unwrap();
    client
        .record_payment(job.clone(), "card".into(), 5000, Some("AUTH-1".into()))
        .unwrap();
    client
        .capture_signature(job.clone(), "Ana Silva".into(), SIG.into())
        .unwrap();
    client.complete(job.clone()).unwrap();
    assert_eq!(client.pending_change_count().unwrap(), 10);

    // 3. The bill, computed offline: call-out 45.00 + 90 min x 60.00/h = 90.00
    //    + 2 x 19.99 + 189.50 = 364.48; tax 23% = 83.83; total 448.31.
    let detail = client.job(job.clone()).unwrap();
    let bill = detail.billing.clone().expect("billed offline");
    assert_eq!(bill.lines.len(), 4);
    assert_eq!(bill.subtotal_minor, 4500 + 9000 + 2 * 1999 + 18_950);
    assert_eq!(bill.tax_minor, 8383);
    assert_eq!(bill.total_minor, 36_448 + 8383);
    assert_eq!(bill.paid_minor, 5000);
    assert_eq!(bill.balance_due_minor, 36_448 + 8383 - 5000);

    // 4. Van stock: the server's numbers minus what this device used.
    let van = client.van_stock().unwrap().expect("van synced");
    let line = |s: &str| van.items.iter().find(|i| i.sku == s).unwrap().clone();
    assert_eq!(
        (line("VALVE-1").server_quantity, line("VALVE-1").pending_use),
        (10, 2)
    );
    assert_eq!(line("VALVE-1").available, 8);
    assert_eq!(line("PUMP-9").available, 1);
    assert!(line("PUMP-9").serialized && !line("VALVE-1").serialized);

    // 5. Close and reopen: everything is still there.
    drop(client);
    let client = open(dir.path());
    let again = client.job(job.clone()).unwrap();
    assert_eq!(again, detail);
    assert_eq!(again.summary.status, "completed");
    assert!(again.labour.iter().any(|l| l.id == labour));
    assert!(again.parts.iter().any(|p| p.id == valve && p.quantity == 2));
    assert!(
        again
            .parts
            .iter()
            .any(|p| p.id == pump && p.serials == ["P-1"])
    );
    assert_eq!(client.pending_change_count().unwrap(), 10);
    assert_eq!(client.session().unwrap().unwrap().username, "ana");

    // 6. Sync: the office has the visit; nothing is pending any more.
    let result = office.sync(&client);
    assert_eq!(
        result.jobs,
        vec![fieldsync_ffi::JobSyncResult {
            job_id: job.clone(),
            outcome: JobSyncOutcome::Accepted
        }]
    );
    assert_eq!(client.pending_change_count().unwrap(), 0);
    let server_job = office.job_doc().read().unwrap();
    assert_eq!(server_job.status, fieldsync_core::Status::Completed);
    assert_eq!(server_job.parts.len(), 2);
    assert_eq!(server_job.labour.len(), 1);
    let van = client.van_stock().unwrap().unwrap();
    assert!(van.items.iter().all(|i| i.pending_use == 0));
}

#[test]
fn office_edits_merge_into_the_device_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.add_note(job.clone(), "tech side".into()).unwrap();
    office.office_note("office side");
    let r = office.sync(&client);
    assert_eq!(r.updated_jobs, 1);
    let notes = client.job(job).unwrap().notes;
    assert!(
        notes.contains("tech side") && notes.contains("office side"),
        "{notes}"
    );
    assert_eq!(office.job_doc().read().unwrap().notes, notes);
}

#[test]
fn serialized_parts_need_one_serial_per_unit() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    for serials in [vec![], vec!["P-1".to_owned()]] {
        let err = client
            .use_part(job.clone(), "PUMP-9".into(), 2, serials, None)
            .unwrap_err();
        assert!(
            matches!(&err, FieldsyncError::InvalidInput { reason } if reason.contains("serialized")),
            "{err:?}"
        );
    }
    client
        .use_part(
            job.clone(),
            "PUMP-9".into(),
            2,
            vec!["P-1".into(), "P-2".into()],
            None,
        )
        .unwrap();
    // A named van works without van stock on the device.
    client
        .use_part(
            job.clone(),
            "VALVE-1".into(),
            1,
            vec![],
            Some(office.van.to_string()),
        )
        .unwrap();
    // Nothing of the refused calls was kept.
    assert_eq!(client.job(job).unwrap().parts.len(), 2);
}

#[test]
fn invalid_actions_are_refused_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();

    let client = open(dir.path());
    assert_eq!(
        client.start_travel(job.clone()).unwrap_err(),
        FieldsyncError::NotLoggedIn
    );
    client.set_session(office.tokens()).unwrap();
    office.sync(&client);

    // Completing without arriving, a signature or work: the lifecycle says no.
    assert!(matches!(
        client.complete(job.clone()).unwrap_err(),
        FieldsyncError::NotAllowed { .. }
    ));
    assert!(matches!(
        client
            .add_labour("not-a-uuid".into(), 5, "standard".into(), String::new())
            .unwrap_err(),
        FieldsyncError::InvalidInput { .. }
    ));
    assert!(matches!(
        client
            .add_labour(office.van.to_string(), 5, "standard".into(), String::new())
            .unwrap_err(),
        FieldsyncError::NotFound { .. }
    ));
    assert!(matches!(
        client
            .record_payment(job.clone(), "bitcoin".into(), 100, None)
            .unwrap_err(),
        FieldsyncError::InvalidInput { .. }
    ));
    assert!(matches!(
        client
            .use_part(job.clone(), "VALVE-1".into(), 0, vec![], None)
            .unwrap_err(),
        FieldsyncError::InvalidInput { .. }
    ));
    assert_eq!(client.pending_change_count().unwrap(), 0);
    drop(client);
    assert_eq!(open(dir.path()).pending_change_count().unwrap(), 0);
}

#[test]
fn a_rejection_is_reported_per_job_and_kept_as_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();

    office.trust_device = false;
    let r = office.sync(&client);
    assert!(
        matches!(&r.jobs[..], [j] if j.job_id == job
            && matches!(&j.outcome, JobSyncOutcome::Rejected { code, .. } if code == "foreign_actor")),
        "{r:?}"
    );
    let conflicts = client.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].kind, ConflictKind::Rejected);
    assert_eq!(conflicts[0].job_id, job);
    assert!(client.jobs().unwrap()[0].has_conflicts);
    assert_eq!(client.pending_change_count().unwrap(), 1);

    // Reopened, the conflict is still shown; once accepted it is gone.
    drop(client);
    let client = open(dir.path());
    assert_eq!(client.conflicts().unwrap().len(), 1);
    office.trust_device = true;
    office.sync(&client);
    assert!(client.conflicts().unwrap().is_empty());
    assert_eq!(client.pending_change_count().unwrap(), 0);
}

#[test]
fn one_store_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let err = FieldsyncClient::open(dir.path().to_str().unwrap().into())
        .err()
        .unwrap();
    assert_eq!(err, FieldsyncError::StoreBusy);
    let actor = first.actor_id().unwrap();
    assert_eq!(actor.len(), 32);
    first.release();
    assert!(matches!(
        first.jobs().unwrap_err(),
        FieldsyncError::Internal { .. }
    ));
    assert_eq!(open(dir.path()).actor_id().unwrap(), actor);
}

#[test]
fn garbage_sync_bytes_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let client = synced_client(dir.path(), &mut office);
    for bytes in [
        vec![],
        vec![0xff; 64],
        b"\xa2av\x01ddocs\x81\xa1bid".to_vec(),
    ] {
        assert!(matches!(
            client.apply_sync_response(bytes).unwrap_err(),
            FieldsyncError::Corrupt { .. }
        ));
    }
    assert_eq!(client.jobs().unwrap().len(), 1);
}

#[test]
fn unable_to_complete_needs_a_reason_and_closes_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    assert!(matches!(
        client
            .unable_to_complete(job.clone(), "  ".into())
            .unwrap_err(),
        FieldsyncError::InvalidInput { .. }
    ));
    client
        .unable_to_complete(job.clone(), "Customer not at home".into())
        .unwrap();
    let detail = client.job(job.clone()).unwrap();
    assert_eq!(detail.summary.status, "unable_to_complete");
    assert_eq!(
        detail.unable_reason.as_deref(),
        Some("Customer not at home")
    );
    // A closed job takes no more work.
    assert!(matches!(
        client.arrive(job).unwrap_err(),
        FieldsyncError::NotAllowed { .. }
    ));
    office.sync(&client);
    assert_eq!(
        office.job_doc().read().unwrap().status,
        fieldsync_core::Status::UnableToComplete
    );
}

/// A shared phone: logging out keeps the work in the user's own store, and
/// a second technician gets a store of their own (another actor), never
/// seeing or sending the first one's jobs or pending changes; the first
/// one's work waits for her next login and syncs then.
#[test]
fn logging_out_keeps_the_work_and_a_second_user_gets_their_own_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    let ana_actor = client.actor_id().unwrap();
    client.start_travel(job.clone()).unwrap();
    assert_eq!(client.pending_change_count().unwrap(), 1);

    client.log_out().unwrap();
    assert_eq!(client.session().unwrap(), None);
    assert_eq!(
        client.arrive(job.clone()).unwrap_err(),
        FieldsyncError::NotLoggedIn
    );
    // Nothing of hers is shown while nobody is logged in.
    assert_eq!(client.jobs().unwrap_err(), FieldsyncError::NotLoggedIn);
    assert_eq!(
        client.pending_change_count().unwrap_err(),
        FieldsyncError::NotLoggedIn
    );
    assert_eq!(
        client.sync_request().unwrap_err(),
        FieldsyncError::NotLoggedIn
    );
    let next = client.actor_id().unwrap();
    assert_ne!(next, ana_actor, "a new user gets a new actor");
    assert_eq!(client.login_actor_id("bruno".into()).unwrap(), next);
    assert_eq!(client.login_actor_id(" Ana ".into()).unwrap(), ana_actor);

    // Bruno logs in with her work unsynced: his own, empty store.
    let mut bruno = office.tokens();
    bruno.user_id = fieldsync_core::UserId::from_bytes([9; 16]).to_string();
    bruno.username = "bruno".into();
    assert_eq!(client.set_session(bruno.clone()).unwrap().username, "bruno");
    assert_eq!(client.actor_id().unwrap(), next);
    assert!(client.jobs().unwrap().is_empty());
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert!(matches!(
        client.job(job.clone()).unwrap_err(),
        FieldsyncError::NotFound { .. }
    ));
    let request = SyncRequest::decode(&client.sync_request().unwrap(), &Limits::default()).unwrap();
    assert!(
        request.docs.is_empty() && request.known.is_empty(),
        "bruno's sync carries none of ana's documents: {request:?}"
    );

    // Ana again (which logs Bruno out): her change is there and syncs.
    client.set_session(office.tokens()).unwrap();
    assert_eq!(client.actor_id().unwrap(), ana_actor);
    assert_eq!(client.pending_change_count().unwrap(), 1);
    office.sync(&client);
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert_eq!(
        office.job_doc().read().unwrap().status,
        fieldsync_core::Status::Travelling
    );
    drop(client);
    let reopened = open(dir.path());
    assert_eq!(reopened.session().unwrap().unwrap().username, "ana");
    assert_eq!(reopened.jobs().unwrap().len(), 1);
    // Bruno's store kept no session: switching logged him out.
    reopened.set_session(bruno).unwrap();
    assert!(reopened.jobs().unwrap().is_empty());
}

#[test]
fn the_price_book_and_required_answers_are_checked_before_a_change_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let pending = client.pending_change_count().unwrap();
    // A labour rate and a sku the synced price book does not have.
    let rejected = |err: FieldsyncError| {
        assert!(
            matches!(&err, FieldsyncError::Rejected { code, reason }
                if code == "not_in_price_book" && reason.contains("price book")),
            "{err:?}"
        );
    };
    rejected(
        client
            .add_labour(job.clone(), 30, "weekend".into(), String::new())
            .unwrap_err(),
    );
    rejected(
        client
            .use_part(job.clone(), "GHOST-1".into(), 1, vec![], None)
            .unwrap_err(),
    );
    assert_eq!(
        client.pending_change_count().unwrap(),
        pending,
        "nothing kept"
    );
    // The required checklist item blocks completion until it is answered.
    client
        .add_labour(job.clone(), 30, "standard".into(), String::new())
        .unwrap();
    client
        .capture_signature(job.clone(), "Ana Silva".into(), SIG.into())
        .unwrap();
    let err = client.complete(job.clone()).unwrap_err();
    assert!(
        matches!(&err, FieldsyncError::NotAllowed { reason } if reason.contains("required checklist item")),
        "{err:?}"
    );
    client
        .answer_checklist(job.clone(), office.checklist_item.to_string(), "yes".into())
        .unwrap();
    client.complete(job.clone()).unwrap();
    let synced = office.sync(&client);
    assert!(
        synced
            .jobs
            .iter()
            .all(|j| matches!(j.outcome, JobSyncOutcome::Accepted)),
        "{synced:?}"
    );
    assert_eq!(
        office.job_doc().read().unwrap().status.as_str(),
        "completed"
    );
}

#[test]
fn labour_is_corrected_and_voided_and_a_part_quantity_set_on_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let typo = client
        .add_labour(job.clone(), 600, "standard".into(), "Bled radiators".into())
        .unwrap();
    let twice = client
        .add_labour(job.clone(), 30, "standard".into(), "Bled radiators".into())
        .unwrap();
    let valve = client
        .use_part(job.clone(), "VALVE-1".into(), 1, vec![], None)
        .unwrap();
    let pump = client
        .use_part(job.clone(), "PUMP-9".into(), 1, vec!["P-1".into()], None)
        .unwrap();

    // 600 minutes was meant to be 60; the second entry was a duplicate; two valves were used.
    client
        .correct_labour_entry(
            job.clone(),
            typo.clone(),
            60,
            "standard".into(),
            "Bled radiators".into(),
        )
        .unwrap();
    client
        .void_labour_entry(job.clone(), twice.clone())
        .unwrap();
    client
        .set_part_quantity(job.clone(), valve.clone(), 2)
        .unwrap();
    // Refused, nothing kept: a voided entry, an unknown rate, a zero
    // quantity, and a serialized line's quantity (one serial per unit).
    let pending = client.pending_change_count().unwrap();
    assert!(matches!(
        client.correct_labour_entry(
            job.clone(),
            twice.clone(),
            10,
            "standard".into(),
            String::new()
        ),
        Err(FieldsyncError::NotAllowed { .. })
    ));
    assert!(matches!(
        client.correct_labour_entry(job.clone(), typo.clone(), 60, "weekend".into(), String::new()),
        Err(FieldsyncError::Rejected { code, .. }) if code == "not_in_price_book"
    ));
    assert!(matches!(
        client.set_part_quantity(job.clone(), valve.clone(), 0),
        Err(FieldsyncError::InvalidInput { .. })
    ));
    assert!(matches!(
        client.set_part_quantity(job.clone(), pump.clone(), 2),
        Err(FieldsyncError::InvalidInput { .. })
    ));
    assert_eq!(client.pending_change_count().unwrap(), pending);

    let detail = client.job(job.clone()).unwrap();
    let entry = |id: &str| detail.labour.iter().find(|l| l.id == id).unwrap().clone();
    assert_eq!((entry(&typo).minutes, entry(&typo).voided), (60, false));
    assert!(entry(&twice).voided, "voided, never deleted");
    let bill = detail.billing.expect("billed offline");
    let labour: Vec<_> = bill
        .lines
        .iter()
        .filter(|l| l.kind == "labour")
        .map(|l| (l.source_id.clone().unwrap(), l.quantity))
        .collect();
    assert_eq!(
        labour,
        [(typo.clone(), 60)],
        "the voided entry is not billed"
    );
    let valve_line = bill
        .lines
        .iter()
        .find(|l| l.source_id.as_deref() == Some(valve.as_str()))
        .unwrap();
    assert_eq!(valve_line.quantity, 2);

    // The office gets the same.
    let synced = office.sync(&client);
    assert!(
        synced
            .jobs
            .iter()
            .all(|j| matches!(j.outcome, JobSyncOutcome::Accepted)),
        "{synced:?}"
    );
    let at_office = office.job_doc().read().unwrap();
    assert_eq!(at_office.labour.len(), 2);
    assert_eq!(at_office.active_labour().count(), 1);
    assert_eq!(
        at_office
            .part(valve.parse().unwrap())
            .unwrap()
            .quantity
            .get(),
        2
    );
}

#[test]
fn the_device_names_each_dispatcher_and_takes_the_answer_the_office_kept() {
    use fieldsync_core::actors::office_actor;
    use fieldsync_core::automerge::ActorId;
    use fieldsync_core::job::{JobAction, Window};
    use fieldsync_core::{Principal, Role, Timestamp, UserId};

    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    office.sync(&client);
    let item = office.checklist_item.to_string();
    client
        .answer_checklist(job.clone(), item.clone(), "1.5 bar".into())
        .unwrap();
    // Two dispatchers move the window through the API at the same time
    // (each with their own API actor) while the tablet answers too.
    let ana = Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher);
    let rui = Principal::new(UserId::from_bytes([7; 16]), Role::Dispatcher);
    let window = |h: i64| {
        JobAction::EditWindow(
            Window::new(
                Timestamp(T0 + h * 3_600_000),
                Timestamp(T0 + (h + 2) * 3_600_000),
            )
            .unwrap(),
        )
    };
    let answer = JobAction::AnswerChecklist {
        item: office.checklist_item,
        value: "2.0 bar".into(),
    };
    office.concurrent_as(vec![
        (office_actor(ana.user), ana, vec![window(1)]),
        (office_actor(rui.user), rui, vec![window(5)]),
        (ActorId::from([41; 16]), office.tech, vec![answer]),
    ]);
    office.sync(&client);

    let detail = client.job(job.clone()).unwrap();
    let writers = |f: &str| -> Vec<Option<String>> {
        detail
            .value_conflicts
            .iter()
            .find(|c| c.field == f)
            .unwrap_or_else(|| panic!("no conflict at {f}: {:?}", detail.value_conflicts))
            .values
            .iter()
            .map(|v| v.by_user_id.clone())
            .collect()
    };
    let mut windows = writers("/window");
    windows.sort();
    let mut expected = vec![Some(ana.user.to_string()), Some(rui.user.to_string())];
    expected.sort();
    assert_eq!(windows, expected, "each dispatcher by name");
    let answers_field = format!("/answers/{item}");
    assert_eq!(writers(&answers_field).len(), 2);

    // The office keeps the tablet's answer with one action; the device
    // takes it (still the technician's) and shows no answer conflict.
    let tablet = ActorId::from([41; 16]).to_hex_string();
    office.resolve(ana, &answers_field, &tablet);
    let synced = office.sync(&client);
    assert!(synced.rejected_actions.is_empty(), "{synced:?}");
    let detail = client.job(job).unwrap();
    assert!(
        !detail
            .value_conflicts
            .iter()
            .any(|c| c.field == answers_field),
        "{:?}",
        detail.value_conflicts
    );
    assert_eq!(detail.checklist[0].answer.as_deref(), Some("2.0 bar"));
    let at_office = office.job_doc().read().unwrap();
    assert_eq!(
        at_office.checklist[0].answer.as_ref().map(|a| a.by),
        Some(office.tech.user)
    );
    assert_eq!(client.pending_change_count().unwrap(), 0);
}

#[test]
fn concurrent_windows_details_and_answers_show_on_the_device_with_their_writers() {
    use fieldsync_core::job::{DetailsEdit, JobAction, Window};
    use fieldsync_core::{Principal, Role, Timestamp, UserId};

    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    office.sync(&client);
    // This device answers the question while offline...
    client
        .answer_checklist(
            job.clone(),
            office.checklist_item.to_string(),
            "1.5 bar".into(),
        )
        .unwrap();
    assert!(client.conflicts().unwrap().is_empty());
    // ...while two office desks set different windows and addresses, and
    // the technician's tablet gives another answer.
    let desk = Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher);
    let window = |h: i64| {
        Window::new(
            Timestamp(T0 + h * 3_600_000),
            Timestamp(T0 + (h + 2) * 3_600_000),
        )
        .unwrap()
    };
    let address = |a: &str| {
        JobAction::EditDetails(DetailsEdit {
            site_address: Some(a.into()),
            ..Default::default()
        })
    };
    office.concurrent(vec![
        (
            201,
            desk,
            vec![
                JobAction::EditWindow(window(1)),
                address("Rua Nova 2, Lisboa"),
            ],
        ),
        (
            202,
            desk,
            vec![
                JobAction::EditWindow(window(5)),
                address("Rua Velha 3, Lisboa"),
            ],
        ),
        (
            41,
            office.tech,
            vec![JobAction::AnswerChecklist {
                item: office.checklist_item,
                value: "2.0 bar".into(),
            }],
        ),
    ]);
    office.sync(&client);

    let detail = client.job(job.clone()).unwrap();
    assert!(detail.summary.has_conflicts);
    let field = |f: &str| {
        detail
            .value_conflicts
            .iter()
            .find(|c| c.field == f)
            .unwrap_or_else(|| panic!("no conflict at {f}: {:?}", detail.value_conflicts))
            .values
            .iter()
            .map(|v| {
                (
                    v.value_json.clone(),
                    v.actor_id.clone(),
                    v.by_user_id.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let hex = |n: u8| fieldsync_core::automerge::ActorId::from([n; 16]).to_hex_string();
    let w = |h: i64| {
        format!(
            r#"{{"end":{},"start":{}}}"#,
            T0 + (h + 2) * 3_600_000,
            T0 + h * 3_600_000
        )
    };
    let windows = field("/window");
    assert!(windows.contains(&(w(1), hex(201), None)), "{windows:?}");
    assert!(windows.contains(&(w(5), hex(202), None)), "{windows:?}");
    assert_eq!(
        windows[0].0,
        w((detail.summary.window_start_ms - T0) / 3_600_000),
        "the shown window first"
    );
    let addresses = field("/site/address");
    assert!(addresses.contains(&(r#""Rua Nova 2, Lisboa""#.to_owned(), hex(201), None)));
    assert!(addresses.contains(&(r#""Rua Velha 3, Lisboa""#.to_owned(), hex(202), None)));
    let tech = Some(office.tech.user.to_string());
    let answers = field(&format!("/answers/{}", office.checklist_item));
    assert!(answers.contains(&(
        r#""1.5 bar""#.to_owned(),
        client.actor_id().unwrap(),
        tech.clone()
    )));
    assert!(answers.contains(&(r#""2.0 bar""#.to_owned(), hex(41), tech)));
    // The conflicts list names each field.
    let listed: Vec<String> = client
        .conflicts()
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == ConflictKind::ValueConflict)
        .map(|c| c.code)
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.contains(&"/window".to_owned()));

    // Answering again settles the answer for everyone.
    client
        .answer_checklist(
            job.clone(),
            office.checklist_item.to_string(),
            "1.5 bar".into(),
        )
        .unwrap();
    office.sync(&client);
    let settled = client.job(job).unwrap();
    assert_eq!(
        settled.value_conflicts.len(),
        2,
        "{:?}",
        settled.value_conflicts
    );
    assert!(
        office
            .job_doc()
            .read()
            .unwrap()
            .conflicts
            .iter()
            .all(|c| !c.field.starts_with("/answers"))
    );
}

/// An app driving the sans-IO calls may apply an answer late (a background
/// transfer finishing after a later sync, a retried request answered
/// twice). An answer from before the job was reassigned, applied after the
/// job was dropped, must not bring it back: neither in `jobs()` nor on disk.
#[test]
fn a_late_answer_from_before_a_reassignment_does_not_bring_the_job_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    let actor =
        fieldsync_core::automerge::ActorId::from(hex::decode(client.actor_id().unwrap()).unwrap());
    let late = office.serve_bytes(&client.sync_request().unwrap(), &actor);

    office.reassign_away();
    let r = office.sync(&client);
    assert_eq!(r.removed_jobs, 1, "{r:?}");
    assert!(client.jobs().unwrap().is_empty());

    for _ in 0..2 {
        let r = client.apply_sync_response(late.clone()).unwrap();
        assert_eq!(r.added_jobs, 0, "{r:?}");
        assert!(client.jobs().unwrap().is_empty(), "the job came back");
        assert!(matches!(
            client.job(job.clone()).unwrap_err(),
            FieldsyncError::NotFound { .. }
        ));
    }
    office.sync(&client);
    client.release();
    let reopened = open(dir.path());
    assert!(reopened.jobs().unwrap().is_empty(), "the job came back");
    assert_eq!(reopened.pending_change_count().unwrap(), 0);
}

/// A recall through the library, offline: the job shows the campaign the
/// office flagged it with, the van lists the quarantined unit (not
/// available), fitting it is refused before anything is kept, another unit
/// fits, and the remedy is recorded (its rules checked here too) and synced.
#[test]
fn a_recall_shows_offline_and_its_quarantined_unit_is_never_fitted() {
    use fieldsync_core::automerge::Automerge;
    use fieldsync_core::job::{RecallAction, RecallNotice};
    use fieldsync_core::vanstock::{StockItem, VanStock, write_van_stock};
    use fieldsync_core::{DocId, JobAction, JobDoc, Principal, Role, Timestamp, UserId};

    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let campaign = fieldsync_core::JobId::from_bytes([8; 16]).as_uuid();
    {
        let held = office.docs.get_mut(&DocId::Job(office.job)).unwrap();
        let mut doc = JobDoc::from_trusted(held.doc.clone().with_actor(office_actor()));
        doc.apply(
            &JobAction::FlagRecall(RecallNotice {
                campaign,
                reason: "Seal may leak".into(),
                remedy: RecallAction::Replace,
                compensation: Some("A free service".into()),
            }),
            Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher),
            Timestamp(T0),
        )
        .unwrap();
        held.doc = doc.into_doc();
        // The server's snapshot after the campaign: P-1 quarantined.
        let mut stock = Automerge::new().with_actor(office_actor());
        write_van_stock(
            &mut stock,
            &VanStock {
                van: office.van,
                as_of: Timestamp(T0),
                items: [(
                    sku("PUMP-9"),
                    StockItem {
                        quantity: 1,
                        serials: vec!["P-2".into()],
                        quarantined: vec!["P-1".into()],
                    },
                )]
                .into(),
            },
            Timestamp(T0),
        )
        .unwrap();
        office
            .docs
            .get_mut(&DocId::VanStock(office.van))
            .unwrap()
            .doc = stock;
    }
    let client = open(dir.path());
    client.set_session(office.tokens()).unwrap();
    office.sync(&client);

    let recall = client
        .job(job.clone())
        .unwrap()
        .recall
        .expect("the recall shows");
    assert_eq!(recall.campaign_id, campaign.to_string());
    assert_eq!(
        (recall.remedy.as_str(), recall.reason.as_str()),
        ("replace", "Seal may leak")
    );
    assert_eq!(recall.compensation.as_deref(), Some("A free service"));
    let van = client.van_stock().unwrap().expect("van synced");
    let pumps = van.items.iter().find(|i| i.sku == "PUMP-9").unwrap();
    assert_eq!(
        (pumps.available, pumps.quarantined.clone()),
        (1, vec!["P-1".to_owned()])
    );
    assert_eq!(pumps.serials, ["P-2"]);

    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let pending = client.pending_change_count().unwrap();
    match client.use_part(job.clone(), "PUMP-9".into(), 1, vec!["P-1".into()], None) {
        Err(FieldsyncError::Rejected { code, reason }) => {
            assert_eq!(code, "recalled");
            assert!(reason.contains("P-1"), "{reason}");
        }
        other => panic!("fitting a recalled unit was not refused: {other:?}"),
    }
    assert_eq!(
        client.pending_change_count().unwrap(),
        pending,
        "nothing kept"
    );
    client
        .use_part(job.clone(), "PUMP-9".into(), 1, vec!["P-2".into()], None)
        .unwrap();

    for (replacement, date) in [
        ("temporary", None),
        ("sideways", Some("2031-02-01")),
        ("temporary", Some("1 Feb")),
    ] {
        let refused = client.record_recall_remedy(
            job.clone(),
            replacement.into(),
            vec!["P-2".into()],
            date.map(Into::into),
            None,
        );
        assert!(
            matches!(refused, Err(FieldsyncError::InvalidInput { .. })),
            "{replacement} {date:?}: {refused:?}"
        );
    }
    client
        .record_recall_remedy(
            job.clone(),
            "temporary".into(),
            vec!["P-2".into()],
            Some("2031-02-01".into()),
            Some("Annual service, free".into()),
        )
        .unwrap();
    let remedy = client
        .job(job.clone())
        .unwrap()
        .recall_remedy
        .expect("recorded");
    assert_eq!(remedy.replacement, "temporary");
    assert_eq!(remedy.serials, ["P-2"]);
    assert_eq!(remedy.committed_date.as_deref(), Some("2031-02-01"));
    assert_eq!(remedy.service.as_deref(), Some("Annual service, free"));

    let synced = office.sync(&client);
    assert!(
        synced
            .jobs
            .iter()
            .all(|j| matches!(j.outcome, JobSyncOutcome::Accepted)),
        "{synced:?}"
    );
    let stored = office.job_doc().read().unwrap();
    assert_eq!(stored.recall_remedy.unwrap().serials, ["P-2"]);
}

/// A contact logged on site: refused with a clear error for an unknown
/// code or a card number (nothing recorded), shown in the job's fields,
/// and on the office's copy after sync, in the technician's name.
#[test]
fn a_contact_logged_on_site_reaches_the_office() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = open(dir.path());
    client.set_session(office.tokens()).unwrap();
    office.sync(&client);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();
    let before = client.pending_change_count().unwrap();
    for (channel, category, summary, why) in [
        ("pigeon", "sales_lead", "A quote", "channel"),
        ("on_site", "gossip", "A quote", "category"),
        (
            "on_site",
            "sales_lead",
            "Pays with 4111 1111 1111 1111",
            "card",
        ),
        ("on_site", "sales_lead", "  ", "empty"),
    ] {
        let err = client
            .log_contact(
                job.clone(),
                channel.into(),
                "inbound".into(),
                category.into(),
                summary.into(),
            )
            .unwrap_err();
        assert!(
            matches!(&err, FieldsyncError::InvalidInput { reason } if !reason.contains("4111")),
            "{why}: {err:?}"
        );
    }
    assert_eq!(
        client.pending_change_count().unwrap(),
        before,
        "nothing recorded"
    );

    let id = client
        .log_contact(
            job.clone(),
            "on_site".into(),
            "inbound".into(),
            "sales_lead".into(),
            "Asks for a quote for a second boiler".into(),
        )
        .unwrap();
    let detail = client.job(job.clone()).unwrap();
    let contacts = detail
        .fields
        .iter()
        .find(|f| f.key == "contacts")
        .expect("the contacts field");
    assert_eq!(contacts.records.len(), 1);
    assert_eq!(contacts.records[0].id, id);

    office.sync(&client);
    let server = office.job_doc().read().unwrap();
    let records = server.records("contacts");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id.to_string(), id);
    assert_eq!(
        records[0].get("category").and_then(|v| v.as_text()),
        Some("sales_lead")
    );
    assert!(matches!(
        records[0].get("by"),
        Some(fieldsync_core::job::FieldValue::User(_))
    ));
}

/// A store written before one store per user (its files directly in the
/// app directory) becomes its user's store on open, also when a kill
/// interrupted the move: the session, the actor and the unsynced work stay.
#[test]
fn a_store_of_the_old_layout_becomes_its_users_store() {
    for interrupted in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut office = Office::new();
        let job = office.job.to_string();
        let client = synced_client(dir.path(), &mut office);
        client.start_travel(job.clone()).unwrap();
        let actor = client.actor_id().unwrap();
        drop(client);
        // The old layout: the user's store files directly in the directory.
        let user = user_store(dir.path());
        for entry in std::fs::read_dir(&user).unwrap() {
            let entry = entry.unwrap();
            std::fs::rename(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        std::fs::remove_dir_all(dir.path().join("users")).unwrap();
        std::fs::remove_file(dir.path().join("device.json")).unwrap();
        if interrupted {
            // Killed after gathering some of the files.
            let gather = dir.path().join("users/.old-layout");
            std::fs::create_dir_all(&gather).unwrap();
            for name in ["session.json", "docs"] {
                std::fs::rename(dir.path().join(name), gather.join(name)).unwrap();
            }
        }

        let client = open(dir.path());
        assert_eq!(client.session().unwrap().unwrap().username, "ana");
        assert_eq!(client.actor_id().unwrap(), actor);
        assert_eq!(client.pending_change_count().unwrap(), 1);
        assert_eq!(client.jobs().unwrap().len(), 1);
        for old in [
            "docs",
            "journal",
            "install.json",
            "session.json",
            "sync.json",
        ] {
            assert!(!dir.path().join(old).exists(), "{old} left behind");
        }
        assert_eq!(user_store(dir.path()), user);
        office.sync(&client);
        assert_eq!(client.pending_change_count().unwrap(), 0);
    }
}

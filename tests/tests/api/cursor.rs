//! The change cursor (issue 19 item 1) over the real endpoint: an idle sync
//! costs under 200 bytes each way whatever the number of documents held,
//! a routine sync sends only what changed, scope changes and a lost reply
//! are answered right, and a client that sends no `held` gets no cursor.

use std::collections::BTreeSet;

use fieldsync_core::sync::{Limits, SyncResponse};
use fieldsync_core::{DocId, JobAction, JobId, Role, Timestamp, UserId};
use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests};
use crate::office::{
    Staffed, create_job, get_job, job_id, new_job, patch_json, post_json, staffed,
};

/// The budget of an idle sync, each way (issue 19).
const IDLE_BYTES: usize = 200;

struct World {
    app: TestApp,
    office: String,
    tech: UserId,
    jobs: Vec<JobId>,
}

/// A price book and `jobs` jobs assigned to one technician.
async fn world(backend: TestBackend, jobs: usize) -> World {
    let Staffed {
        app,
        admin: _,
        office,
        tech,
    } = staffed(backend).await;
    let mut ids = Vec::new();
    for i in 0..jobs {
        let name = format!("Customer {i}");
        ids.push(job_id(
            &create_job(&app, &office, &new_job(&name, Some(tech))).await,
        ));
    }
    World {
        app,
        office,
        tech,
        jobs: ids,
    }
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

async fn note(w: &World, job: JobId, text: &str) {
    let res = patch_json(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}"),
        &json!({ "notes": text }),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Idle syncs at 7 and 70 documents held: one round trip, under 200 bytes
/// each way (a request naming every document costs about 120 bytes per
/// document: checked too, so the figure means something).
async fn an_idle_sync_costs_under_200_bytes_at_7_and_70_documents(backend: TestBackend) {
    let mut w = world(backend, 6).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    let first = device.sync(&w.app).await;
    assert_eq!(first.round_trips, 1);
    assert_eq!(device.docs.len(), 7, "six jobs and the price book");
    assert!(
        device.session.cursor().is_some(),
        "the first sync gives a cursor"
    );

    for held in [7, 70] {
        if held == 70 {
            for i in w.jobs.len()..69 {
                let job = new_job(&format!("More {i}"), Some(w.tech));
                w.jobs
                    .push(job_id(&create_job(&w.app, &w.office, &job).await));
            }
            // The new jobs arrive (a scope change), then the device is idle.
            device.sync(&w.app).await;
        }
        assert_eq!(device.docs.len(), held);
        let idle = device.sync(&w.app).await;
        assert_eq!(idle.round_trips, 1, "{held} documents");
        assert!(
            idle.request_bytes < IDLE_BYTES && idle.response_bytes < IDLE_BYTES,
            "idle sync at {held} documents: {} B up, {} B down",
            idle.request_bytes,
            idle.response_bytes
        );
        assert!(idle.reports[0].changed.is_empty() && idle.reports[0].added.is_empty());
    }

    // Without the cursor (a device that names everything it holds) the
    // same idle sync costs per document.
    let cursor = device.session.cursor().map(<[u8]>::to_vec);
    device.session.forget_cursor();
    let classic = device.session.start(&device.docs);
    assert!(
        classic.encode().len() > 70 * 50,
        "{} B",
        classic.encode().len()
    );
    assert!(cursor.is_some());

    // A client that sends no `held` (a stock automerge client) gets today's
    // answer: no cursor, nothing new.
    let mut plain = classic.clone();
    plain.held = None;
    let res = device.post(&w.app, plain.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    assert_eq!(response.cursor, None);
    assert!(!response.resync);
}

/// A routine sync: the device changed one job, the office another. The
/// request names only the device's job; the reply carries only those two,
/// the office's with just its new change; the next idle sync does not send
/// the device's own change back.
async fn a_routine_sync_sends_only_what_changed(backend: TestBackend) {
    let w = world(backend, 6).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    let (mine, theirs) = (w.jobs[0], w.jobs[1]);
    device.act(mine, JobAction::StartTravel, now());
    note(&w, theirs, "Customer called: bring a ladder").await;

    let request = device.session.start(&device.docs);
    assert_eq!(
        request.docs.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![DocId::Job(mine)]
    );
    assert!(request.known.is_empty() && request.cursor.is_some());
    let res = device.post(&w.app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    let answered: BTreeSet<DocId> = response.docs.iter().map(|d| d.id).collect();
    assert_eq!(
        answered,
        BTreeSet::from([DocId::Job(mine), DocId::Job(theirs)])
    );
    let delta = response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(theirs))
        .and_then(|d| d.msg.as_ref())
        .unwrap()
        .len();
    let whole = fieldsync_core::sync::whole_doc_message(device.doc(theirs))
        .encode()
        .len();
    assert!(
        delta * 2 < whole,
        "the office's job came whole: {delta} B of {whole}"
    );
    let report = device.session.apply(&mut device.docs, &response);
    assert!(report.unfinished.is_empty(), "{report:?}");
    assert!(device.job(theirs).notes.contains("ladder"));
    assert!(device.session.next_round(&device.docs).is_none());

    let view: serde_json::Value = get_job(&w.app, &w.office, mine).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "travelling", "{view}");
    let idle = device.sync(&w.app).await;
    assert_eq!(idle.round_trips, 1);
    assert!(
        idle.request_bytes < IDLE_BYTES && idle.response_bytes < IDLE_BYTES,
        "{} B up, {} B down: own change sent back?",
        idle.request_bytes,
        idle.response_bytes
    );
}

/// Scope changes with a cursor: a job assigned meanwhile arrives whole, a
/// job reassigned away is removed (after the device's edit on it merged),
/// and so is one the device held untouched (it did not name it). The
/// cursor's `held` digest is not the device's scope, but it is the set the
/// server told the device it holds: the difference is answered in the same
/// round trip.
async fn scope_changes_are_answered_with_a_cursor(backend: TestBackend) {
    let w = world(backend, 3).await;
    let other = w.app.user("tech2", Role::Technician).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    let (away, quiet) = (w.jobs[0], w.jobs[1]);
    device.act(away, JobAction::StartTravel, now());
    for job in [away, quiet] {
        reassign(&w, job, other).await;
    }
    // Written by the office after the reassignment: never reaches the device.
    note(&w, quiet, "For the new technician.").await;
    let added = job_id(&create_job(&w.app, &w.office, &new_job("New", Some(w.tech))).await);

    let request = device.session.start(&device.docs);
    assert_eq!(
        request.docs.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![DocId::Job(away)],
        "only the edited job is named"
    );
    let synced = device.sync(&w.app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert!(!synced.reports[0].resync);
    assert!(synced.reports[0].added.contains(&DocId::Job(added)));
    assert!(device.holds(added) && !device.holds(away) && !device.holds(quiet));
    assert_eq!(
        synced.removed().into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([DocId::Job(away), DocId::Job(quiet)])
    );
    let view: serde_json::Value = get_job(&w.app, &w.office, away).await.json().await.unwrap();
    assert_eq!(
        view["job"]["status"], "travelling",
        "the edit merged: {view}"
    );
    let ids: BTreeSet<DocId> = device.docs.keys().copied().collect();
    assert_eq!(
        ids,
        BTreeSet::from([DocId::PriceBook, DocId::Job(w.jobs[2]), DocId::Job(added)])
    );
    assert!(device.session.cursor().is_some(), "the cursor moved");

    let idle = device.sync(&w.app).await;
    assert_eq!(idle.round_trips, 1);
    assert!(idle.request_bytes < IDLE_BYTES && idle.response_bytes < IDLE_BYTES);
    assert!(idle.reports[0].added.is_empty() && idle.reports[0].removed.is_empty());

    // Given back: the job arrives again, whole, in one round.
    reassign(&w, quiet, w.tech).await;
    let back = device.sync(&w.app).await;
    assert_eq!(back.round_trips, 1, "{:?}", back.reports);
    assert!(back.reports[0].added.contains(&DocId::Job(quiet)));
    assert!(device.job(quiet).notes.contains("new technician"));
}

async fn reassign(w: &World, job: JobId, to: UserId) {
    let res = post_json(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/assign"),
        &json!({"technician_id": to.to_string()}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// The reply to a sync after a scope change is lost: the device sends the
/// same request again (its old cursor, the digest of what it held then),
/// and the server, which remembers that set too, answers the difference
/// again in one round trip; nothing is lost and nothing is held twice.
async fn a_lost_reply_after_a_scope_change_is_answered_in_one_round(backend: TestBackend) {
    let w = world(backend, 3).await;
    let other = w.app.user("tech2", Role::Technician).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    let away = w.jobs[0];
    reassign(&w, away, other).await;
    let added = job_id(&create_job(&w.app, &w.office, &new_job("New", Some(w.tech))).await);
    device.act(w.jobs[1], JobAction::StartTravel, now());

    let request = device.session.start(&device.docs);
    let res = device.post(&w.app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let lost = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    assert!(!lost.resync, "answered in the round: {lost:?}");
    assert!(lost.docs.iter().any(|d| d.id == DocId::Job(added)));
    // Lost on the way back: the device applied nothing.

    note(&w, added, "Bring the long ladder.").await;
    let synced = device.sync(&w.app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert!(!synced.reports[0].resync);
    assert!(device.holds(added) && !device.holds(away));
    assert!(device.job(added).notes.contains("long ladder"));
    assert_eq!(synced.removed(), vec![DocId::Job(away)]);
    let view: serde_json::Value = get_job(&w.app, &w.office, w.jobs[1])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["job"]["status"], "travelling", "{view}");
    let idle = device.sync(&w.app).await;
    assert_eq!(idle.round_trips, 1);
    assert!(idle.request_bytes < IDLE_BYTES && idle.response_bytes < IDLE_BYTES);
}

/// A set of documents the server never told the device it holds (a copy
/// restored apart from its sync state, here a job dropped by hand) is not
/// guessed at: `resync`, one more round naming everything, and the device
/// converges.
async fn a_held_set_the_server_never_gave_costs_one_more_round(backend: TestBackend) {
    let w = world(backend, 2).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    device.docs.remove(&DocId::Job(w.jobs[0]));
    let synced = device.sync(&w.app).await;
    assert_eq!(synced.round_trips, 2, "{:?}", synced.reports);
    assert!(synced.reports[0].resync);
    assert!(device.holds(w.jobs[0]), "sent whole again");
    let idle = device.sync(&w.app).await;
    assert_eq!(idle.round_trips, 1);
}

/// The server keeps the newest few sets per device, and a row is only
/// used for its own digest.
async fn a_device_keeps_only_its_newest_held_sets(backend: TestBackend) {
    use fieldsync_core::sync::{digest_of_held_text, held_text};
    use fieldsync_server::sync::held_sets::KEPT_PER_DEVICE;
    let w = world(backend, 0).await;
    let device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    let id: fieldsync_server::store::DeviceId = device.device_id.parse().unwrap();
    let sets: Vec<String> = (0..KEPT_PER_DEVICE + 2)
        .map(|n| {
            let jobs: Vec<DocId> = (0..=n)
                .map(|i| DocId::Job(JobId::from_bytes([i as u8; 16])))
                .collect();
            held_text(&jobs)
        })
        .collect();
    let start = time::OffsetDateTime::now_utc();
    for (i, text) in sets.iter().enumerate() {
        let at = start + time::Duration::seconds(i as i64);
        w.app
            .store
            .remember_held_set(id, &digest_of_held_text(text), text, at)
            .await
            .unwrap();
    }
    for (i, text) in sets.iter().enumerate() {
        let found = w
            .app
            .store
            .held_set(id, &digest_of_held_text(text))
            .await
            .unwrap();
        let kept = i >= sets.len() - KEPT_PER_DEVICE as usize;
        assert_eq!(found.as_ref(), kept.then_some(text), "set {i}");
    }
    // Issued again, the oldest kept set (2) becomes the newest; the next
    // new one (0, forgotten above) pushes out set 3 instead.
    let later = start + time::Duration::seconds(100);
    for (n, at) in [(2, later), (0, later + time::Duration::seconds(1))] {
        let text = &sets[n];
        w.app
            .store
            .remember_held_set(id, &digest_of_held_text(text), text, at)
            .await
            .unwrap();
    }
    for (n, kept) in [
        (0, true),
        (1, false),
        (2, true),
        (3, false),
        (4, true),
        (5, true),
    ] {
        let found = w
            .app
            .store
            .held_set(id, &digest_of_held_text(&sets[n]))
            .await
            .unwrap();
        assert_eq!(found.is_some(), kept, "set {n}");
    }
}

/// A reply lost on the way: the device sends again with the same cursor,
/// and gets both its own acknowledgement and every office change since.
async fn a_lost_reply_loses_nothing(backend: TestBackend) {
    let w = world(backend, 4).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    let (mine, theirs) = (w.jobs[0], w.jobs[1]);
    device.act(mine, JobAction::StartTravel, now());
    note(&w, theirs, "First note. ").await;

    let request = device.session.start(&device.docs);
    let res = device.post(&w.app, request.encode()).await;
    assert_eq!(res.status(), 200);
    drop(res); // lost on the way back

    note(&w, w.jobs[2], "Second note.").await;
    let synced = device.sync(&w.app).await;
    assert_eq!(synced.round_trips, 1);
    assert!(synced.rejected().is_empty());
    // The note written before the lost reply, and the one after it.
    assert!(device.job(theirs).notes.contains("First"));
    assert!(device.job(w.jobs[2]).notes.contains("Second"));
    // The device holds exactly what the server holds.
    for id in &w.jobs {
        let view: serde_json::Value = get_job(&w.app, &w.office, *id).await.json().await.unwrap();
        assert_eq!(
            view["job"]["notes"].as_str().unwrap(),
            device.job(*id).notes,
            "{id}"
        );
    }
    let view: serde_json::Value = get_job(&w.app, &w.office, mine).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "travelling", "{view}");
    let idle = device.sync(&w.app).await;
    assert!(idle.request_bytes < IDLE_BYTES && idle.response_bytes < IDLE_BYTES);
}

/// A cursor the server did not issue (another server's, damaged) is not
/// refused: the device is asked to name what it holds, and nothing is lost.
async fn a_foreign_cursor_falls_back_to_naming_everything(backend: TestBackend) {
    let w = world(backend, 2).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    note(&w, w.jobs[0], "Meanwhile.").await;
    let mut request = device.session.start(&device.docs);
    request.cursor = Some(fieldsync_core::sync::ByteBuf::from(
        fieldsync_core::sync::Cursor {
            base: 1 << 40,
            mine: Vec::new(),
        }
        .encode(),
    ));
    let res = device.post(&w.app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    assert!(response.resync && response.cursor.is_none() && response.docs.is_empty());
    let report = device.session.apply(&mut device.docs, &response);
    assert!(report.resync);
    let next = device
        .session
        .next_round(&device.docs)
        .expect("a round naming everything");
    assert_eq!(next.known.len(), 3);
    assert!(next.cursor.is_none());
    let res = device.post(&w.app, next.encode()).await;
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    assert!(response.cursor.is_some());
    device.session.apply(&mut device.docs, &response);
    assert!(device.job(w.jobs[0]).notes.contains("Meanwhile"));
    assert!(device.session.cursor().is_some());
}

/// Rows pruned while the device was away (docs/ARCHITECTURE.md "Document
/// history"): a document it did not touch, which the office changed past
/// a compaction, comes whole in the one round; nothing is lost.
async fn a_document_compacted_since_the_cursor_comes_whole(backend: TestBackend) {
    let w = world(backend, 2).await;
    let mut device = Device::login(&w.app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.sync(&w.app).await;
    let job = w.jobs[0];
    for i in 0..80 {
        note(&w, job, &format!("Office note {i}.")).await;
    }
    let after_grace = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let pruned = w.app.store.prune_changes(after_grace, 1_000).await.unwrap();
    assert!(pruned >= 64, "pruned {pruned} rows");

    let synced = device.sync(&w.app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert!(synced.reports[0].changed.contains(&DocId::Job(job)));
    assert!(device.job(job).notes.contains("Office note 79."));
    let stored = w
        .app
        .store
        .load_document(&DocId::Job(job))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.to_automerge().unwrap().get_heads(),
        device.doc(job).get_heads()
    );
}

backend_tests!(
    a_document_compacted_since_the_cursor_comes_whole,
    an_idle_sync_costs_under_200_bytes_at_7_and_70_documents,
    a_routine_sync_sends_only_what_changed,
    scope_changes_are_answered_with_a_cursor,
    a_lost_reply_loses_nothing,
    a_lost_reply_after_a_scope_change_is_answered_in_one_round,
    a_held_set_the_server_never_gave_costs_one_more_round,
    a_device_keeps_only_its_newest_held_sets,
    a_foreign_cursor_falls_back_to_naming_everything
);

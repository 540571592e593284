//! Later rounds over the real endpoint: after a restore, the documents that
//! finished in the first round bring no bytes in the second; one the office
//! changed between the rounds brings only its new change.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::sync::{ClientSession, Limits, SyncResponse};
use fieldsync_core::{DocId, JobAction, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::device::Device;
use crate::helpers::backend_tests;
use crate::office::{
    Staffed, create_job, get_job, job_id, new_job, patch_json, post_json, staffed,
};

async fn a_second_round_brings_no_bytes_for_finished_documents(backend: TestBackend) {
    let Staffed {
        app,
        admin: _,
        office,
        tech,
    } = staffed(backend).await;
    let mut jobs = Vec::new();
    for name in ["Ana", "Bea", "Carla"] {
        jobs.push(job_id(
            &create_job(&app, &office, &new_job(name, Some(tech))).await,
        ));
    }
    let mut device = Device::login(&app, "tech", Role::Technician, 3).await;
    assert_eq!(device.sync(&app).await.round_trips, 1);

    // The phone is restored from a backup: documents kept, acknowledged heads
    // lost; it worked job 0 offline, which needs the multi-round protocol.
    device.session = ClientSession::new(device.actor.clone());
    let now = Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
    device.act(jobs[0], JobAction::StartTravel, now);

    let first = device.session.start(&device.docs);
    let res = device.post(&app, first.encode()).await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let report = device.session.apply(
        &mut device.docs,
        &SyncResponse::decode(&bytes, &Limits::default()).unwrap(),
    );
    assert_eq!(report.unfinished, BTreeSet::from([DocId::Job(jobs[0])]));

    // Between the rounds, the office writes job 1.
    let res = patch_json(
        &app,
        &office,
        &format!("/v1/jobs/{}", jobs[1]),
        &json!({"notes": "Customer called: bring a ladder"}),
    )
    .await;
    assert_eq!(res.status(), 200);

    let second = device
        .session
        .next_round(&device.docs)
        .expect("a second round");
    assert_eq!(second.docs.len(), 1);
    assert_eq!(second.known.len(), 3, "jobs 1 and 2 and the price book");
    let res = device.post(&app, second.encode()).await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
    let answered: BTreeMap<DocId, usize> = response
        .docs
        .iter()
        .map(|d| (d.id, d.msg.as_ref().map_or(0, |m| m.len())))
        .collect();
    assert_eq!(
        answered.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([DocId::Job(jobs[0]), DocId::Job(jobs[1])]),
        "job 2 and the price book were finished: no bytes for them ({answered:?})"
    );
    let whole = fieldsync_core::sync::whole_doc_message(device.doc(jobs[1]))
        .encode()
        .len();
    assert!(
        answered[&DocId::Job(jobs[1])] * 2 < whole,
        "job 1 came whole: {answered:?}, whole {whole}"
    );
    let report = device.session.apply(&mut device.docs, &response);
    assert!(report.unfinished.is_empty(), "{report:?}");
    assert!(device.job(jobs[1]).notes.contains("ladder"));
    assert!(device.session.next_round(&device.docs).is_none());
    // The server has the travel, and a routine sync is one round trip again.
    let view: serde_json::Value = get_job(&app, &office, jobs[0]).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "travelling", "{view}");
    let again = device.sync(&app).await;
    assert_eq!(again.round_trips, 1);
    assert!(again.rejected().is_empty());
}

/// Issue 19 item 4: change rows covered by a snapshot are pruned while a
/// device works offline; its next sync is routine and nothing is lost.
async fn a_device_offline_across_a_compaction_loses_nothing(backend: TestBackend) {
    let Staffed {
        app,
        admin: _,
        office,
        tech,
    } = staffed(backend).await;
    let job = job_id(&create_job(&app, &office, &new_job("Ana", Some(tech))).await);
    let mut device = Device::login(&app, "tech", Role::Technician, 3).await;
    device.sync(&app).await;

    // Offline: the technician starts travelling and writes a note.
    let now = Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
    device.act(job, JobAction::StartTravel, now);
    device.act(
        job,
        JobAction::AddNote {
            text: "Gate is round the back.".into(),
        },
        now,
    );
    // Meanwhile the office edits the job enough for snapshots, and the
    // rows they cover are pruned.
    for i in 0..80 {
        let res = patch_json(
            &app,
            &office,
            &format!("/v1/jobs/{job}"),
            &json!({"notes": format!("Office note {i}.")}),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let after_grace = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let pruned = app.store.prune_changes(after_grace, 1_000).await.unwrap();
    assert!(pruned >= 64, "pruned {pruned} rows");

    let synced = device.sync(&app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let on_device = device.job(job);
    assert!(
        on_device.notes.contains("Office note 79."),
        "{}",
        on_device.notes
    );
    assert!(
        on_device.notes.contains("Gate is round"),
        "{}",
        on_device.notes
    );
    let view: serde_json::Value = get_job(&app, &office, job).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "travelling", "{view}");
    assert!(
        view["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("Gate is round"),
        "{view}"
    );
    // What is stored (snapshot plus the rows after it) is the same document.
    let stored = app
        .store
        .load_document(&DocId::Job(job))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.snapshot.is_some());
    assert_eq!(
        stored.to_automerge().unwrap().get_heads(),
        device.doc(job).get_heads()
    );
}

/// Issue 19 item 4: a closed job past the archive retention keeps its final
/// state for the office, leaves the devices that still hold it, and refuses
/// late changes clearly (API 409, sync `rejected`) without writing any;
/// the devices' work on other jobs goes through in the same syncs.
async fn archived_jobs_leave_devices_and_refuse_late_changes(backend: TestBackend) {
    let Staffed {
        app,
        admin: _,
        office,
        tech,
    } = staffed(backend).await;
    let closed = job_id(&create_job(&app, &office, &new_job("Ana", Some(tech))).await);
    let open = job_id(&create_job(&app, &office, &new_job("Bea", Some(tech))).await);
    // Two phones of the technician's, both holding both jobs.
    let mut late = Device::login(&app, "tech", Role::Technician, 3).await;
    let mut idle = Device::login(&app, "tech", Role::Technician, 4).await;
    late.sync(&app).await;
    idle.sync(&app).await;
    assert!(late.holds(closed) && idle.holds(closed));

    // Offline: one phone notes on both jobs, the other on the open one only.
    let now = Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
    let note = |text: &str| JobAction::AddNote { text: text.into() };
    late.act(closed, note("Left the invoice at reception."), now);
    late.act(open, note("Bring the long ladder."), now);
    idle.act(open, note("Side gate code 1234."), now);
    // The office cancels the first job; 61 days later it is archived.
    let res = post_json(
        &app,
        &office,
        &format!("/v1/jobs/{closed}/cancel"),
        &json!({"reason": "customer moved"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let before: serde_json::Value = get_job(&app, &office, closed).await.json().await.unwrap();
    let rows_before = app
        .store
        .load_changes_since(&DocId::Job(closed), 0)
        .await
        .unwrap()
        .len();
    assert!(rows_before > 0);
    fieldsync_server::app::housekeeping_round(&app.state).await;
    assert!(
        app.store
            .archived_among(&[DocId::Job(closed)])
            .await
            .unwrap()
            .is_empty(),
        "not before the retention"
    );
    app.clock.advance(time::Duration::days(61));
    fieldsync_server::app::housekeeping_round(&app.state).await;
    let docs = [DocId::Job(closed), DocId::Job(open)];
    assert_eq!(
        app.store.archived_among(&docs).await.unwrap(),
        vec![DocId::Job(closed)]
    );
    let job_doc = DocId::Job(closed);
    assert!(
        app.store
            .load_changes_since(&job_doc, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.store
            .change_receipts(&job_doc)
            .await
            .unwrap()
            .is_empty()
    );

    // The office reads it as before, and may no longer edit it.
    let after = get_job(&app, &office, closed).await;
    assert_eq!(after.status(), 200);
    let after: serde_json::Value = after.json().await.unwrap();
    assert_eq!(after["job"], before["job"]);
    assert_eq!(after["job"]["status"], "cancelled", "{after}");
    let listed = crate::office::get_json(&app, &office, "/v1/jobs?status=cancelled").await;
    assert!(listed.text().await.unwrap().contains(&closed.to_string()));
    let version = app
        .store
        .load_document(&job_doc)
        .await
        .unwrap()
        .unwrap()
        .version;
    let res = patch_json(
        &app,
        &office,
        &format!("/v1/jobs/{closed}"),
        &json!({"notes": "One more thing."}),
    )
    .await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archived"),
        "{body}"
    );
    let stored = app.store.load_document(&job_doc).await.unwrap().unwrap();
    assert_eq!(stored.version, version);
    assert!(stored.changes.is_empty());

    // The phone with nothing new on it drops the archived job; its note on
    // the open job is stored in the same sync.
    let synced = idle.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(synced.removed(), vec![job_doc]);
    assert!(!idle.holds(closed));
    assert!(idle.holds(open));
    // The late change is refused by name; the other job's note is stored.
    let synced = late.sync(&app).await;
    let rejected = synced.rejected();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, job_doc);
    assert!(rejected[0].1.contains("archived"), "{rejected:?}");
    let view: serde_json::Value = get_job(&app, &office, open).await.json().await.unwrap();
    let notes = view["job"]["notes"].as_str().unwrap();
    assert!(
        notes.contains("long ladder") && notes.contains("gate code"),
        "{view}"
    );
    let stored = app.store.load_document(&job_doc).await.unwrap().unwrap();
    assert_eq!(stored.version, version, "nothing of the late change stored");
    assert!(stored.changes.is_empty());
    let after: serde_json::Value = get_job(&app, &office, closed).await.json().await.unwrap();
    assert!(
        !after["job"]["notes"]
            .as_str()
            .unwrap_or_default()
            .contains("reception"),
        "{after}"
    );
    // A new install of the technician's is never given the archived job.
    let mut fresh = Device::login(&app, "tech", Role::Technician, 5).await;
    fresh.sync(&app).await;
    assert!(!fresh.holds(closed) && fresh.holds(open));
}

backend_tests!(
    a_second_round_brings_no_bytes_for_finished_documents,
    a_device_offline_across_a_compaction_loses_nothing,
    archived_jobs_leave_devices_and_refuse_late_changes
);

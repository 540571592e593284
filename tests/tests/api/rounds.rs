//! Later rounds over the real endpoint: after a restore, the documents that
//! finished in the first round bring no bytes in the second; one the office
//! changed between the rounds brings only its new change.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::sync::{ClientSession, Limits, SyncResponse};
use fieldsync_core::{DocId, JobAction, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::device::Device;
use crate::helpers::{actor, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job, patch_json, price_book, put_price_book};

async fn a_second_round_brings_no_bytes_for_finished_documents(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let tech = app.user("tech", Role::Technician).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
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
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let tech = app.user("tech", Role::Technician).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
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

backend_tests!(
    a_second_round_brings_no_bytes_for_finished_documents,
    a_device_offline_across_a_compaction_loses_nothing
);

//! What the server says about each job reaches the app as a typed result.

use fieldsync_core::Role;
use fieldsync_ffi::JobSyncOutcome;
use serde_json::json;

use crate::flaky::field;
use crate::office::post_json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reassigned_while_offline_is_merged_then_removed() {
    let (field, _proxy) = field(|app| app.addr, |_| {}).await;
    let other = field.app.user("bruno", Role::Technician).await;

    // Offline, Ana records work; meanwhile the office gives the job to Bruno.
    let (labour, _) = field.work().await;
    let res = post_json(
        &field.app,
        &field.office,
        &format!("/v1/jobs/{}/assign", field.job),
        &json!({ "technician_id": other.to_string() }),
    )
    .await;
    assert_eq!(res.status(), 200);

    // Her work is merged, then the job leaves her device.
    let result = field.sync().await.unwrap();
    let job = field.job.to_string();
    let outcome = &result
        .jobs
        .iter()
        .find(|j| j.job_id == job)
        .unwrap()
        .outcome;
    assert_eq!(outcome, &JobSyncOutcome::Removed, "{result:?}");
    assert_eq!(result.removed_jobs, 1);
    let (jobs, pending) = field
        .device(|c| (c.jobs().unwrap(), c.pending_change_count().unwrap()))
        .await;
    assert!(jobs.is_empty(), "{jobs:?}");
    assert_eq!(pending, 0);
    let res = crate::office::get_job(&field.app, &field.office, field.job).await;
    let view: serde_json::Value = res.json().await.unwrap();
    assert_eq!(view["job"]["labour"][0]["id"], labour.as_str(), "{view}");
    field.close().await;
}

/// Issue 19 item 4: a job archived while the phone was offline leaves it;
/// the work recorded on it meanwhile is refused (nothing of it stored), and
/// the work on another job goes through in the same sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_job_leaves_the_phone_and_its_late_work_is_refused() {
    let (field, _proxy) = field(|app| app.addr, |_| {}).await;
    let ana = field
        .app
        .store
        .user_credentials(&"ana".parse().unwrap())
        .await;
    let tech = ana.unwrap().user.id;
    let other = crate::office::job_id(
        &crate::office::create_job(
            &field.app,
            &field.office,
            &crate::office::new_job("Rita Sousa", Some(tech)),
        )
        .await,
    );
    let first = field.sync().await.unwrap();
    assert_eq!(first.added_jobs, 1, "{first:?}");

    // Offline: labour on the first job, a note on the other; meanwhile the
    // office cancels the first, and 61 days later it is archived.
    let (_labour, _) = field.work().await;
    let other_id = other.to_string();
    field
        .device(move |c| c.add_note(other_id, "Bring the long ladder.".into()))
        .await
        .unwrap();
    let res = post_json(
        &field.app,
        &field.office,
        &format!("/v1/jobs/{}/cancel", field.job),
        &json!({"reason": "customer moved"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let doc = fieldsync_core::DocId::Job(field.job);
    let version = field
        .app
        .store
        .load_document(&doc)
        .await
        .unwrap()
        .unwrap()
        .version;
    field.app.clock.advance(time::Duration::days(61));
    fieldsync_server::app::housekeeping_round(&field.app.state).await;
    assert_eq!(
        field.app.store.archived_among(&[doc]).await.unwrap(),
        vec![doc]
    );

    let result = field.sync().await.unwrap();
    assert_eq!(result.removed_jobs, 1, "{result:?}");
    let job = field.job.to_string();
    let (jobs, pending) = field
        .device(|c| (c.jobs().unwrap(), c.pending_change_count().unwrap()))
        .await;
    assert!(jobs.iter().all(|j| j.id != job), "{jobs:?}");
    assert!(jobs.iter().any(|j| j.id == other.to_string()), "{jobs:?}");
    assert_eq!(pending, 0, "{result:?}");
    // Nothing of the late work was stored; the other job's note was.
    let stored = field.app.store.load_document(&doc).await.unwrap().unwrap();
    assert_eq!(stored.version, version);
    let view: serde_json::Value = crate::office::get_job(&field.app, &field.office, field.job)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["job"]["status"], "cancelled", "{view}");
    assert_eq!(view["job"]["labour"], json!([]), "{view}");
    let view: serde_json::Value = crate::office::get_job(&field.app, &field.office, other)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        view["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("long ladder"),
        "{view}"
    );
    field.close().await;
}

/// Issue 19 item 1: the change cursor is on in the phone library by
/// default. After a sync, an idle sync's request names no document and
/// carries the cursor (under 200 bytes), and a scope change (a job taken
/// away, a new one assigned) is answered in one round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_syncs_with_the_change_cursor() {
    use fieldsync_core::sync::{Limits, SyncRequest};
    let (field, _proxy) = field(|app| app.addr, |_| {}).await;
    let tech = field
        .app
        .store
        .user_credentials(&"ana".parse().unwrap())
        .await
        .unwrap()
        .user
        .id;
    let other = field.app.user("bruno", Role::Technician).await;
    // The travel and arrival recorded in `field` go up; a cursor comes back.
    let result = field.sync().await.unwrap();
    assert_eq!(result.rounds, 1, "{result:?}");
    let idle = field.device(|c| c.sync_request().unwrap()).await;
    let request = SyncRequest::decode(&idle, &Limits::default()).unwrap();
    assert!(
        request.cursor.is_some() && request.held.is_some(),
        "{request:?}"
    );
    assert!(
        request.docs.is_empty() && request.known.is_empty(),
        "{request:?}"
    );
    assert!(idle.len() < 200, "an idle request of {} B", idle.len());

    let res = post_json(
        &field.app,
        &field.office,
        &format!("/v1/jobs/{}/assign", field.job),
        &json!({ "technician_id": other.to_string() }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let added = crate::office::job_id(
        &crate::office::create_job(
            &field.app,
            &field.office,
            &crate::office::new_job("Rita Sousa", Some(tech)),
        )
        .await,
    );
    let result = field.sync().await.unwrap();
    assert_eq!(result.rounds, 1, "{result:?}");
    assert_eq!(
        (result.added_jobs, result.removed_jobs),
        (1, 1),
        "{result:?}"
    );
    let jobs = field.device(|c| c.jobs().unwrap()).await;
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids, vec![added.to_string()]);
    field.close().await;
}

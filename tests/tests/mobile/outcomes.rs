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

//! The office's record of sync rejections over the real endpoints: a
//! change the server refuses is recorded (device, user, job, code, change,
//! server time) and served at `GET /v1/jobs/{id}/rejections` to the office
//! only, with the job's own access rules; the housekeeping prunes records
//! older than the retention.

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ROOT, ReadDoc};
use fieldsync_core::sync::{Limits, Outcome, SyncResponse};
use fieldsync_core::{DocId, JobAction, JobId, RejectCode, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::device::Device;
use crate::helpers::{TestApp, assert_error, backend_tests, spawn_app};
use crate::office::{create_job, job_id, new_job};
use crate::sync::office;

backend_tests!(
    refused_changes_are_recorded_for_the_office,
    the_record_is_for_the_office_and_follows_the_job_scope,
    rejections_older_than_the_retention_are_pruned,
);

async fn rejections(app: &TestApp, token: &str, job: JobId, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/jobs/{job}/rejections{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn record(app: &TestApp, token: &str, job: JobId, query: &str) -> Vec<Value> {
    let res = rejections(app, token, job, query).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["rejections"].as_array().unwrap().clone()
}

/// The technician renames the customer (office-only) with a raw change and
/// syncs; returns the refused change's hash.
async fn rename_customer(app: &TestApp, tech: &mut Device, job: JobId) -> String {
    let doc = tech.docs.get_mut(&DocId::Job(job)).unwrap();
    let customer = doc.get(ROOT, "customer").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    tx.put(&customer, "name", "Mallory").unwrap();
    tx.commit();
    let refused = doc.get_heads()[0].to_string();
    let request = tech.session.start(&tech.docs);
    let res = tech.post(app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    let reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(job))
        .unwrap();
    match &reply.outcome {
        Outcome::Rejected { code, change, .. } => {
            assert_eq!(*code, RejectCode::Forbidden);
            assert_eq!(change.map(|c| c.to_string()), Some(refused.clone()));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    refused
}

fn time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

async fn refused_changes_are_recorded_for_the_office(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let b = job_id(&create_job(&app, &office.dispatcher, &new_job("Bia", Some(t1))).await);
    let mut tech = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech.sync(&app).await;
    assert!(record(&app, &office.dispatcher, a, "").await.is_empty());

    // A refused change to job A; an accepted note on job B.
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    tech.act(
        b,
        JobAction::AddNote {
            text: "Parts ordered.".into(),
        },
        Timestamp(before.unix_timestamp() * 1000),
    );
    let refused = rename_customer(&app, &mut tech, a).await;
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);

    let list = record(&app, &office.dispatcher, a, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let r = &list[0];
    assert_eq!(r["code"], "forbidden");
    assert!(r["message"].as_str().unwrap().contains("customer"), "{r}");
    assert_eq!(r["change"], refused.as_str());
    assert_eq!(r["device_id"], tech.device_id.as_str());
    assert_eq!(r["device_name"], "test device");
    assert_eq!(r["user_id"], t1.to_string());
    assert_eq!(r["username"], "tech1");
    let at = time(&r["rejected_at"]);
    assert!(
        before <= at && at <= after,
        "{at} not in [{before}, {after}]"
    );
    assert!(record(&app, &office.dispatcher, b, "").await.is_empty());

    // Sent again (a client that keeps it): recorded again, newest first.
    let again = rename_customer(&app, &mut tech, a).await;
    assert_eq!(again, refused);
    let list = record(&app, &office.dispatcher, a, "").await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(time(&list[0]["rejected_at"]) >= time(&list[1]["rejected_at"]));
    let newest = record(&app, &office.dispatcher, a, "?limit=1").await;
    assert_eq!(newest, list[..1]);
}

async fn the_record_is_for_the_office_and_follows_the_job_scope(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    app.user("tech2", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;
    rename_customer(&app, &mut tech1, a).await;
    let tech2 = Device::login(&app, "tech2", Role::Technician, 2).await;

    // Technicians: 403 even on their own job, and the same for any id.
    assert_error(
        rejections(&app, &tech1.token, a, "").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        rejections(&app, &tech2.token, a, "").await,
        403,
        "forbidden",
    )
    .await;
    let unknown = JobId::from_uuid(uuid::Uuid::new_v4());
    assert_error(
        rejections(&app, &tech1.token, unknown, "").await,
        403,
        "forbidden",
    )
    .await;
    // The office: a job that does not exist is a 404; bad queries a 400.
    assert_error(
        rejections(&app, &office.dispatcher, unknown, "").await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        rejections(&app, &office.dispatcher, a, "?limit=many").await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        rejections(&app, &office.dispatcher, a, "?since=yesterday").await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(record(&app, &office.dispatcher, a, "").await.len(), 1);

    // Described in the OpenAPI document.
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = &doc["paths"]["/v1/jobs/{id}/rejections"]["get"];
    assert!(path.is_object(), "missing from /openapi.json");
    for status in ["200", "403", "404"] {
        assert!(path["responses"][status].is_object(), "{status}: {path}");
    }
    assert!(
        doc["components"]["schemas"]["RejectionRecord"]["properties"]["code"].is_object(),
        "{}",
        doc["components"]["schemas"]
    );
}

/// The housekeeping's pruning, driven with an injected clock: a record is
/// kept until it is older than the retention, then deleted (only the old
/// one), and a retention of 0 keeps everything.
async fn rejections_older_than_the_retention_are_pruned(backend: TestBackend) {
    use fieldsync_server::jobs::NewRejection;
    use fieldsync_server::jobs::rejections::prune;

    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech.sync(&app).await;
    rename_customer(&app, &mut tech, a).await;
    let now = time(&record(&app, &office.dispatcher, a, "").await[0]["rejected_at"]);
    let day = time::Duration::days(1);
    // And one recorded 30 days earlier.
    let store = app.store.as_ref();
    store
        .record_rejections(&[NewRejection {
            job_id: a,
            device_id: tech.device_id.parse().unwrap(),
            user_id: t1,
            code: "forbidden".into(),
            message: "an older refusal".into(),
            change: None,
            at: now - 30 * day,
        }])
        .await
        .unwrap();
    assert_eq!(record(&app, &office.dispatcher, a, "").await.len(), 2);

    // 59 days on, the older is 89 days old: nothing goes.
    assert_eq!(prune(store, 90, now + 59 * day).await.unwrap(), 0);
    // Nothing with a retention of 0, however old.
    assert_eq!(prune(store, 0, now + 10_000 * day).await.unwrap(), 0);
    assert_eq!(record(&app, &office.dispatcher, a, "").await.len(), 2);
    // 61 days on: the older goes, the newer stays.
    assert_eq!(prune(store, 90, now + 61 * day).await.unwrap(), 1);
    let left = record(&app, &office.dispatcher, a, "").await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(time(&left[0]["rejected_at"]), now);
    assert_ne!(left[0]["message"], "an older refusal");
    // Just past 90 days on: the newer goes too.
    let past = now + 90 * day + time::Duration::seconds(1);
    assert_eq!(prune(store, 90, past).await.unwrap(), 1);
    assert!(record(&app, &office.dispatcher, a, "").await.is_empty());
}

//! Office devices hold the jobs they open, not every job: with a thousand
//! jobs in the database an office device's sync carries only what it
//! opened (`PUT`/`DELETE /v1/sync/open-jobs/{id}`), at most `max`; closing
//! one is answered `removed` after its changes merge; and who may see what
//! is as before.

use fieldsync_core::{DocId, JobAction, JobId, Role, Timestamp};
use fieldsync_server::sync::open_jobs::MAX_OPEN_JOBS;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::device::Device;
use crate::helpers::{TestApp, assert_error, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job};
use crate::sync::office;

/// Jobs in the database besides the ones the tests open.
const JOBS: usize = 1_000;

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// `n` jobs through `POST /v1/jobs`, eight at a time, assigned to `tech`.
async fn create_jobs(
    app: &TestApp,
    token: &str,
    n: usize,
    tech: fieldsync_core::UserId,
) -> Vec<JobId> {
    let url = app.url("/v1/jobs");
    let mut ids = Vec::with_capacity(n);
    let mut set = JoinSet::new();
    for i in 0..n {
        if set.len() == 8 {
            ids.push(set.join_next().await.unwrap().unwrap());
        }
        let (client, url, token) = (app.client.clone(), url.clone(), token.to_owned());
        set.spawn(async move {
            let res = client
                .post(&url)
                .bearer_auth(&token)
                .json(&new_job(&format!("Customer {i}"), Some(tech)))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            job_id(&res.json::<Value>().await.unwrap())
        });
    }
    while let Some(id) = set.join_next().await {
        ids.push(id.unwrap());
    }
    ids
}

fn jobs_held(device: &Device) -> Vec<JobId> {
    device
        .docs
        .keys()
        .filter_map(|id| match id {
            DocId::Job(j) => Some(*j),
            _ => None,
        })
        .collect()
}

async fn open_list(app: &TestApp, token: &str) -> (reqwest::StatusCode, Value) {
    let res = app
        .client
        .get(app.url("/v1/sync/open-jobs"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn an_office_device_holds_only_the_jobs_it_opens(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let jobs = create_jobs(&app, &office.dispatcher, JOBS, t).await;

    // 1. A new office device: the price book, none of the thousand jobs.
    let mut desk = Device::login(&app, "dispatch", Role::Dispatcher, 41).await;
    let first = desk.sync(&app).await;
    assert!(jobs_held(&desk).is_empty(), "{:?}", jobs_held(&desk));
    assert!(desk.docs.contains_key(&DocId::PriceBook));
    assert!(
        first.response_bytes < 20_000,
        "{} bytes for a device that opened nothing",
        first.response_bytes
    );

    // 2. It opens three: its next sync brings exactly those, whole, in one
    //    round trip; opening one again changes nothing.
    let opened = [jobs[0], jobs[500], jobs[JOBS - 1]];
    for id in opened {
        desk.open(&app, id).await;
    }
    desk.open(&app, opened[0]).await;
    let (status, list) = open_list(&app, &desk.token).await;
    assert_eq!(status, 200);
    let listed: Vec<String> = opened.iter().map(|j| j.to_string()).collect();
    assert_eq!(list["jobs"], serde_json::json!(listed), "{list}");
    assert_eq!(list["max"], MAX_OPEN_JOBS);
    let synced = desk.sync(&app).await;
    assert_eq!(synced.round_trips, 1);
    let mut held = jobs_held(&desk);
    held.sort();
    let mut want = opened.to_vec();
    want.sort();
    assert_eq!(held, want);

    // 3. Its edit reaches the server like any office edit.
    desk.act(
        opened[1],
        JobAction::AddNote {
            text: "Customer asks for a morning visit".into(),
        },
        now(),
    );
    assert!(desk.sync(&app).await.rejected().is_empty());
    let stored: Value = get_job(&app, &office.dispatcher, opened[1])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        stored["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("morning visit"),
        "{stored}"
    );

    // 4. Closing one: an edit made meanwhile merges, then the job is
    //    answered `removed` and the device drops it; the others stay.
    desk.act(
        opened[2],
        JobAction::AddNote {
            text: "Called the customer back".into(),
        },
        now(),
    );
    let res = desk
        .open_raw(&app, reqwest::Method::DELETE, opened[2])
        .await;
    assert_eq!(res.status(), 200);
    let closed = desk.sync(&app).await;
    assert_eq!(closed.removed(), vec![DocId::Job(opened[2])]);
    assert!(!jobs_held(&desk).contains(&opened[2]));
    assert_eq!(jobs_held(&desk).len(), 2);
    let stored: Value = get_job(&app, &office.dispatcher, opened[2])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        stored["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("Called the customer back"),
        "{stored}"
    );
    // Closing it again changes nothing.
    let res = desk
        .open_raw(&app, reqwest::Method::DELETE, opened[2])
        .await;
    assert_eq!(res.status(), 200);

    // 5. Per device: another device of the same dispatcher holds nothing.
    let mut other = Device::login(&app, "dispatch", Role::Dispatcher, 42).await;
    other.sync(&app).await;
    assert!(jobs_held(&other).is_empty());

    // 6. Bounded: up to `max` open, the next one refused (409) until one
    //    is closed; a sync then holds exactly `max` of the thousand.
    let more: Vec<JobId> = jobs[1..]
        .iter()
        .copied()
        .filter(|j| !opened.contains(j))
        .take(MAX_OPEN_JOBS - 2)
        .collect();
    for id in &more {
        desk.open(&app, *id).await;
    }
    let (_, list) = open_list(&app, &desk.token).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), MAX_OPEN_JOBS);
    let next = jobs[JOBS - 2];
    let res = desk.open_raw(&app, reqwest::Method::PUT, next).await;
    let body = assert_error(res, 409, "conflict").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("200 open jobs"), "{message}");
    let full = desk.sync(&app).await;
    assert!(full.rejected().is_empty());
    assert_eq!(jobs_held(&desk).len(), MAX_OPEN_JOBS);
    let res = desk.open_raw(&app, reqwest::Method::DELETE, more[0]).await;
    assert_eq!(res.status(), 200);
    desk.open(&app, next).await;
    desk.sync(&app).await;
    let held = jobs_held(&desk);
    assert_eq!(held.len(), MAX_OPEN_JOBS);
    assert!(held.contains(&next) && !held.contains(&more[0]));
}

async fn who_may_open_jobs_is_as_before(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let other = app.user("other", Role::Technician).await;
    app.user("stock", Role::InventoryManager).await;
    app.user("sup", Role::Supervisor).await;
    let mine = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t))).await);
    let theirs = job_id(&create_job(&app, &office.dispatcher, &new_job("Bia", Some(other))).await);

    // A technician's device holds its assigned jobs: it opens nothing, and
    // opening another's job through the route gets it nowhere.
    let mut phone = Device::login(&app, "tech", Role::Technician, 51).await;
    for id in [mine, theirs] {
        let res = phone.open_raw(&app, reqwest::Method::PUT, id).await;
        assert_error(res, 403, "forbidden").await;
    }
    let res = phone.open_raw(&app, reqwest::Method::DELETE, mine).await;
    assert_error(res, 403, "forbidden").await;
    assert_eq!(open_list(&app, &phone.token).await.0, 403);
    phone.sync(&app).await;
    assert_eq!(jobs_held(&phone), vec![mine]);

    // An inventory manager works on stock, not jobs.
    let stock = Device::login(&app, "stock", Role::InventoryManager, 52).await;
    let res = stock.open_raw(&app, reqwest::Method::PUT, mine).await;
    assert_error(res, 403, "forbidden").await;

    // A supervisor opens like a dispatcher; a job that does not exist is a
    // 404 and nothing is opened.
    let mut sup = Device::login(&app, "sup", Role::Supervisor, 53).await;
    let unknown = JobId::from_uuid(uuid::Uuid::new_v4());
    let res = sup.open_raw(&app, reqwest::Method::PUT, unknown).await;
    assert_error(res, 404, "not_found").await;
    sup.open(&app, theirs).await;
    sup.sync(&app).await;
    assert_eq!(jobs_held(&sup), vec![theirs]);

    // Without a token: 401.
    let res = app
        .client
        .put(app.url(&format!("/v1/sync/open-jobs/{mine}")))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;

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
    let path = &doc["paths"]["/v1/sync/open-jobs/{id}"];
    for (method, status) in [("put", "409"), ("delete", "200"), ("put", "403")] {
        assert!(
            path[method]["responses"][status].is_object(),
            "{method} {status}: {path}"
        );
    }
    assert!(doc["paths"]["/v1/sync/open-jobs"]["get"].is_object());
}

backend_tests!(
    an_office_device_holds_only_the_jobs_it_opens,
    who_may_open_jobs_is_as_before,
);

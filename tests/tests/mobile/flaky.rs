//! The Rust client (fieldsync-ffi as a library) syncing through a proxy
//! that loses responses, duplicates requests and loses the server: nothing
//! recorded is lost, no part line is stored twice, and sync never gets stuck.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::{JobId, Role};
use fieldsync_ffi::{ClientOptions, FieldsyncClient, FieldsyncError, SyncResult};
use fieldsync_server::config::Settings;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, actor, spawn_app_with};
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};
use crate::process::ServerProcess;
use crate::proxy::Proxy;
use crate::setup::ok;
use reqwest::Method;

const SYNC: &str = "/v1/sync";
const REFRESH: &str = "/v1/auth/refresh";

pub(crate) struct Field {
    pub app: TestApp,
    pub office: String,
    pub job: JobId,
    van: String,
    _dir: tempfile::TempDir,
    client: Option<Arc<FieldsyncClient>>,
}

/// A server with a technician, a price book and one job, and the
/// technician's client logged in through `proxy` and synced.
pub(crate) async fn field(
    proxy_for: impl FnOnce(&TestApp) -> std::net::SocketAddr,
    adjust: impl FnOnce(&mut Settings),
) -> (Field, Proxy) {
    let app = spawn_app_with(TestBackend::Sqlite, adjust).await;
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let tech = app.user("ana", Role::Technician).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let office = app.login("dispatch", &actor(2)).await.access_token;
    let job = job_id(&create_job(&app, &office, &new_job("Ana Lima", Some(tech))).await);
    // Parts come from Ana's own van (the server checks).
    let locations = "/v1/inventory/locations";
    let body = serde_json::json!({"kind": "depot", "name": "Depot"});
    let depot = ok(&app, Method::POST, &admin, locations, Some(body)).await["id"].clone();
    let body =
        serde_json::json!({"kind": "van", "name": "Van", "depot_id": depot, "technician_id": tech});
    let van = ok(&app, Method::POST, &admin, locations, Some(body)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(proxy_for(&app)).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, url) = (dir.path().to_str().unwrap().to_owned(), proxy.url());
    let id = job.to_string();
    let client = tokio::task::spawn_blocking(move || {
        let options = ClientOptions {
            http_timeout_ms: 10_000,
            ..ClientOptions::default()
        };
        let client = FieldsyncClient::open_with_options(path, options).unwrap();
        client
            .login(url, "ana".into(), PASSWORD.into(), "flaky phone".into())
            .unwrap();
        let first = client.sync().unwrap();
        assert_eq!(first.added_jobs, 1);
        client.start_travel(id.clone()).unwrap();
        client.arrive(id).unwrap();
        client
    })
    .await
    .unwrap();
    let f = Field {
        app,
        office,
        job,
        van,
        _dir: dir,
        client: Some(client),
    };
    (f, proxy)
}

impl Field {
    /// Runs `f` with the client on a blocking thread (it does blocking HTTP).
    pub async fn device<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FieldsyncClient) -> T + Send + 'static,
    ) -> T {
        let client = self.client.clone().unwrap();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .unwrap()
    }

    pub async fn sync(&self) -> Result<SyncResult, FieldsyncError> {
        self.device(|c| c.sync()).await
    }

    /// One labour entry and one part line; returns their ids.
    pub async fn work(&self) -> (String, String) {
        let (job, van) = (self.job.to_string(), self.van.clone());
        self.device(move |c| {
            let labour = c
                .add_labour(job.clone(), 15, "standard".into(), String::new())
                .unwrap();
            let part = c
                .use_part(job, "VALVE-22".into(), 1, vec![], Some(van))
                .unwrap();
            (labour, part)
        })
        .await
    }

    async fn server_job(&self) -> Value {
        let res = get_job(&self.app, &self.office, self.job).await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["job"].clone()
    }

    /// The server holds exactly these lines, each once, and so does the device.
    async fn assert_exactly(&self, labour: &BTreeSet<String>, parts: &BTreeSet<String>) {
        let job = self.server_job().await;
        let ids = |key: &str| -> Vec<String> {
            job[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (server_labour, server_parts) = (ids("labour"), ids("parts"));
        assert_eq!(
            server_parts.len(),
            parts.len(),
            "part lines duplicated or lost"
        );
        assert_eq!(&server_parts.into_iter().collect::<BTreeSet<_>>(), parts);
        assert_eq!(
            server_labour.len(),
            labour.len(),
            "labour duplicated or lost"
        );
        assert_eq!(&server_labour.into_iter().collect::<BTreeSet<_>>(), labour);
        let id = self.job.to_string();
        let (pending, device_parts) = self
            .device(move |c| {
                let detail = c.job(id).unwrap();
                (c.pending_change_count().unwrap(), detail.parts.len())
            })
            .await;
        assert_eq!(pending, 0, "changes still pending after a clean sync");
        assert_eq!(device_parts, parts.len());
    }

    pub async fn close(mut self) {
        // The blocking HTTP client must be dropped off the async runtime.
        let client = self.client.take().unwrap();
        tokio::task::spawn_blocking(move || drop(client))
            .await
            .unwrap();
    }
}

fn is_network(r: &Result<SyncResult, FieldsyncError>) -> bool {
    matches!(r, Err(FieldsyncError::Network { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_and_duplicated_requests_lose_and_duplicate_nothing() {
    let (field, proxy) = field(|app| app.addr, |_| {}).await;
    let (mut labour, mut parts) = (BTreeSet::new(), BTreeSet::new());
    for round in 0..12 {
        let (l, p) = field.work().await;
        labour.insert(l);
        parts.insert(p);
        match round % 3 {
            0 => {
                // The server stores the batch; the device never hears back.
                proxy.lose_responses(SYNC, 1);
                let r = field.sync().await;
                assert!(is_network(&r), "{r:?}");
                assert!(field.device(|c| c.pending_change_count().unwrap()).await > 0);
            }
            1 => {
                proxy.duplicate_requests(SYNC, 1);
                field.sync().await.unwrap();
            }
            _ => {
                // Lose the response, then the retry is duplicated as well.
                proxy.lose_responses(SYNC, 1);
                assert!(is_network(&field.sync().await));
                proxy.duplicate_requests(SYNC, 1);
                field.sync().await.unwrap();
            }
        }
    }
    // A clean sync finishes in one round trip: no stuck exchange.
    let last = field.sync().await.unwrap();
    assert_eq!(last.rounds, 1, "{last:?}");
    assert!(field.device(|c| c.conflicts().unwrap()).await.is_empty());
    field.assert_exactly(&labour, &parts).await;
    field.close().await;
}

/// The client asks for compressed answers on every sync and compresses its
/// own requests once the server has answered it compressed (its first
/// sync, in `field`, went plain): the work arrives whole, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_compresses_its_syncs_once_the_server_does() {
    let (field, proxy) = field(|app| app.addr, |_| {}).await;
    assert_eq!(proxy.forwarded(SYNC), 1, "the first sync");
    assert_eq!(proxy.compressed(SYNC), 0, "the first request goes plain");
    let (mut labour, mut parts) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..3 {
        let (l, p) = field.work().await;
        labour.insert(l);
        parts.insert(p);
    }
    field.sync().await.unwrap();
    assert_eq!(proxy.forwarded(SYNC), 2);
    assert_eq!(proxy.compressed(SYNC), 1, "the second goes compressed");
    field.assert_exactly(&labour, &parts).await;
    field.close().await;
}

/// Server restarts while syncing: this many, each at a random moment.
const KILLS: u32 = 12;
/// Of which at least this many must land while the server holds a sync
/// request it has not answered (the proxy tells): otherwise the test did
/// not test what it names.
const MIN_CUT: u32 = KILLS / 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_restarting_mid_sync_loses_nothing() {
    let db_url = std::sync::OnceLock::new();
    let first = std::sync::Mutex::new(None);
    let (field, proxy) = field(
        |app| {
            db_url.set(app.db.url.clone()).unwrap();
            let server = ServerProcess::start(&app.db.url);
            let addr = server.addr;
            *first.lock().unwrap() = Some(server);
            addr
        },
        |_| {},
    )
    .await;
    let db_url = db_url.get().unwrap().clone();
    let mut server = first.lock().unwrap().take().unwrap();
    let (mut labour, mut parts) = (BTreeSet::new(), BTreeSet::new());
    let mut failed = 0;
    for round in 0..KILLS {
        let (l, p) = field.work().await;
        labour.insert(l);
        parts.insert(p);
        let forwarded = proxy.forwarded(SYNC);
        let client = field.client.clone().unwrap();
        let sync = tokio::task::spawn_blocking(move || client.sync());
        if round.is_multiple_of(2) {
            // Anywhere from the start of the sync: before, during or after.
            tokio::time::sleep(Duration::from_micros(rand::random_range(0..60_000))).await;
        } else {
            // A random moment after the request reached the server.
            proxy.wait_forwarded(SYNC, forwarded).await;
            tokio::time::sleep(Duration::from_micros(rand::random_range(0..3_000))).await;
        }
        server.kill();
        let url = db_url.clone();
        server = tokio::task::spawn_blocking(move || ServerProcess::start(&url))
            .await
            .unwrap();
        proxy.set_upstream(Some(server.addr));
        match sync.await.unwrap() {
            Ok(_) => {}
            Err(FieldsyncError::Network { .. }) => failed += 1,
            Err(FieldsyncError::Server { status, .. }) if status >= 500 => failed += 1,
            Err(e) => panic!("round {round}: {e:?}"),
        }
    }
    let cut = proxy.cut(SYNC);
    eprintln!("{KILLS} restarts: {cut} syncs cut mid-request, {failed} failed on the device");
    assert!(
        cut >= MIN_CUT,
        "only {cut} of {KILLS} kills landed mid-request (want {MIN_CUT})"
    );
    // A cut request never reaches the device as a success.
    assert!(failed >= cut, "{failed} failures for {cut} cut requests");
    // Every attempt that failed is made good by the next sync.
    let last = field.sync().await.unwrap();
    assert!(last.rounds <= 2, "{last:?}");
    field.assert_exactly(&labour, &parts).await;
    // With the server gone altogether, sync fails cleanly and work stays.
    proxy.set_upstream(None);
    field.work().await;
    assert!(is_network(&field.sync().await));
    assert!(field.device(|c| c.pending_change_count().unwrap()).await >= 2);
    drop(server);
    field.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_refresh_response_does_not_lock_the_device_out() {
    // Access tokens live 1 s, so every sync refreshes first.
    let (field, proxy) = field(|app| app.addr, |s| s.access_ttl_secs = 1).await;
    let (mut labour, mut parts) = (BTreeSet::new(), BTreeSet::new());

    // 1. The refresh is rotated on the server, the answer never arrives.
    let (l, p) = field.work().await;
    labour.insert(l);
    parts.insert(p);
    proxy.lose_responses(REFRESH, 1);
    assert!(is_network(&field.sync().await));
    // The device presents the same refresh token again: still let in.
    field.sync().await.unwrap();

    // 2. A refresh request duplicated on the way.
    let (l, p) = field.work().await;
    labour.insert(l);
    parts.insert(p);
    proxy.duplicate_requests(REFRESH, 1);
    field.sync().await.unwrap();
    field.sync().await.unwrap();

    assert!(proxy.seen(REFRESH) >= 4);
    field.assert_exactly(&labour, &parts).await;
    field.close().await;
}

/// Why the server forgives a lost refresh answer: without the grace, the
/// device's retry counts as token theft and the technician is logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_grace_a_lost_refresh_answer_locks_the_device_out() {
    let (field, proxy) = field(
        |app| app.addr,
        |s| {
            s.access_ttl_secs = 1;
            s.refresh_reuse_grace_secs = 0;
        },
    )
    .await;
    field.work().await;
    proxy.lose_responses(REFRESH, 1);
    assert!(is_network(&field.sync().await));
    let r = field.sync().await;
    assert!(
        matches!(r, Err(FieldsyncError::SessionExpired { .. })),
        "{r:?}"
    );
    // The work is kept for after the next login.
    assert_eq!(field.device(|c| c.pending_change_count().unwrap()).await, 4);
    field.close().await;
}

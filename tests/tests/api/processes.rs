//! Real server processes: two on one PostgreSQL, and one killed with
//! SIGKILL while devices sync.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::{JobAction, JobId, Role, Timestamp, UserId};
use fieldsync_server::auth::TokenResponse;
use fieldsync_server::testing::{TestBackend, TestDatabase};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::device::Device;
use crate::helpers::{PASSWORD, actor};
use crate::office::{new_job, price_book};
use crate::process::ServerProcess;

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

async fn create_user(url: &str, name: &str, role: Role) -> UserId {
    let store = fieldsync_server::store::open(url).await.unwrap();
    fieldsync_server::cli::create_user(store.as_ref(), name.parse().unwrap(), role, PASSWORD.into())
        .await
        .unwrap()
}

async fn login(
    client: &reqwest::Client,
    server: &ServerProcess,
    name: &str,
    n: u8,
) -> TokenResponse {
    let res = client
        .post(server.url("/v1/auth/login"))
        .json(&json!({"username": name, "password": PASSWORD,
            "device": {"name": "test", "actor_id": actor(n)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn call(req: reqwest::RequestBuilder, token: &str, body: Option<&Value>) -> Value {
    let req = req.bearer_auth(token);
    let req = match body {
        Some(b) => req.json(b),
        None => req,
    };
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Syncs until finished, through whichever server `url` names.
async fn sync_via(device: &mut Device, client: &reqwest::Client, url: &str) {
    let synced = device.sync_at(client, url).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
}

fn note(device: usize, k: usize) -> String {
    format!("[d{device}-n{k}]")
}

/// Two processes serve the same job at the same time: two devices of the
/// technician and the office write to it through both, concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_postgres_lose_nothing() {
    let db = TestDatabase::new(TestBackend::Postgres).await;
    let tech = create_user(&db.url, "tech", Role::Technician).await;
    create_user(&db.url, "dispatch", Role::Dispatcher).await;
    create_user(&db.url, "admin", Role::Admin).await;
    let p1 = ServerProcess::start(&db.url);
    let p2 = ServerProcess::start(&db.url);
    let client = reqwest::Client::new();

    let admin = login(&client, &p1, "admin", 100).await;
    call(
        client.put(p1.url("/v1/pricebook")),
        &admin.access_token,
        Some(&price_book()),
    )
    .await;
    let office = login(&client, &p2, "dispatch", 101).await;
    let view = call(
        client.post(p2.url("/v1/jobs")),
        &office.access_token,
        Some(&new_job("Ana", Some(tech))),
    )
    .await;
    let job: JobId = view["job"]["id"].as_str().unwrap().parse().unwrap();

    let mut devices = Vec::new();
    for (i, server) in [&p1, &p2].into_iter().enumerate() {
        let n = u8::try_from(i + 1).unwrap();
        let tokens = login(&client, server, "tech", n).await;
        let mut d = Device::from_tokens(tokens, Role::Technician, n);
        sync_via(&mut d, &client, &server.url("/v1/sync")).await;
        assert!(d.holds(job));
        devices.push(d);
    }

    const ROUNDS: usize = 15;
    let urls = [p1.url("/v1/sync"), p2.url("/v1/sync")];
    let mut tasks = Vec::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        let client = client.clone();
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..ROUNDS {
                device.act(job, JobAction::AddNote { text: note(i, k) }, now());
                // Alternate processes so both write the same job.
                sync_via(&mut device, &client, &urls[(i + k) % 2]).await;
            }
            device
        }));
    }
    let office_task = {
        let client = client.clone();
        let urls = [p1.url(""), p2.url("")];
        let token = office.access_token.clone();
        tokio::spawn(async move {
            for k in 0..ROUNDS {
                let priority = if k % 2 == 0 { "urgent" } else { "high" };
                call(client.patch(format!("{}/v1/jobs/{job}", urls[k % 2])), &token,
                    Some(&json!({"problem": format!("No hot water (office edit {k})"), "priority": priority}))).await;
            }
        })
    };
    let mut devices: Vec<Device> = Vec::new();
    for t in tasks {
        devices.push(t.await.unwrap());
    }
    office_task.await.unwrap();
    for d in devices.iter_mut() {
        sync_via(d, &client, &urls[0]).await;
    }
    for d in devices.iter_mut() {
        sync_via(d, &client, &urls[1]).await;
    }

    for server in [&p1, &p2] {
        let view = call(
            client.get(server.url(&format!("/v1/jobs/{job}"))),
            &office.access_token,
            None,
        )
        .await;
        let notes = view["job"]["notes"].as_str().unwrap();
        for i in 0..2 {
            for k in 0..ROUNDS {
                assert!(
                    notes.contains(&note(i, k)),
                    "{} missing from {notes}",
                    note(i, k)
                );
            }
        }
        assert_eq!(
            view["job"]["problem"],
            format!("No hot water (office edit {})", ROUNDS - 1)
        );
        for d in &devices {
            assert_eq!(
                view["job"],
                serde_json::to_value(d.job(job)).unwrap(),
                "devices and both processes agree"
            );
        }
    }
}

/// Kills the server with SIGKILL at random moments while three devices
/// sync; every note whose sync response reached its device must be stored.
async fn a_killed_server_keeps_every_acknowledged_change(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let tech = create_user(&db.url, "tech", Role::Technician).await;
    create_user(&db.url, "dispatch", Role::Dispatcher).await;
    let first = ServerProcess::start(&db.url);
    let client = reqwest::Client::new();
    let office = login(&client, &first, "dispatch", 101).await;
    let mut jobs = Vec::new();
    for name in ["Ana", "Bia", "Caio"] {
        let view = call(
            client.post(first.url("/v1/jobs")),
            &office.access_token,
            Some(&new_job(name, Some(tech))),
        )
        .await;
        jobs.push(
            view["job"]["id"]
                .as_str()
                .unwrap()
                .parse::<JobId>()
                .unwrap(),
        );
    }
    let mut devices = Vec::new();
    for n in 1..=3u8 {
        let mut d =
            Device::from_tokens(login(&client, &first, "tech", n).await, Role::Technician, n);
        sync_via(&mut d, &client, &first.url("/v1/sync")).await;
        devices.push(d);
    }
    let server = Arc::new(Mutex::new(first));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut tasks = Vec::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        let (client, server, acknowledged, stop, jobs) = (
            client.clone(),
            server.clone(),
            acknowledged.clone(),
            stop.clone(),
            jobs.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut k = 0;
            // Notes made but not yet acknowledged by a response.
            let mut pending: Vec<String> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = note(i, k);
                device.act(
                    jobs[k % jobs.len()],
                    JobAction::AddNote { text: text.clone() },
                    now(),
                );
                pending.push(text);
                k += 1;
                let url = server.lock().await.url("/v1/sync");
                let request = device.session.start(&device.docs);
                if let Ok(report) = device.try_round(&client, &url, request).await {
                    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
                    // The response arrived: everything sent in it is stored.
                    acknowledged.lock().await.extend(pending.drain(..));
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            device
        }));
    }
    const KILLS: usize = 6;
    for round in 0..KILLS {
        let wait = 150 + (rand_ms(round) % 400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut s = server.lock().await;
        s.kill();
        *s = ServerProcess::start(&db.url);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut devices = Vec::new();
    for t in tasks {
        devices.push(t.await.unwrap());
    }

    // First, before any further sync: every acknowledged note is stored.
    let restarted = {
        let mut s = server.lock().await;
        s.kill();
        *s = ServerProcess::start(&db.url);
        s.url("")
    };
    let mut stored = String::new();
    for job in &jobs {
        let view = call(
            client.get(format!("{restarted}/v1/jobs/{job}")),
            &office.access_token,
            None,
        )
        .await;
        stored.push_str(view["job"]["notes"].as_str().unwrap());
    }
    let acknowledged = acknowledged.lock().await;
    eprintln!(
        "{} notes acknowledged across {KILLS} kills",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= 10,
        "the test made too little progress: {}",
        acknowledged.len()
    );
    for text in acknowledged.iter() {
        assert!(
            stored.contains(text.as_str()),
            "acknowledged {text} lost after SIGKILL"
        );
    }
    // Then the devices catch up and everything converges, nothing lost.
    for d in devices.iter_mut() {
        sync_via(d, &client, &format!("{restarted}/v1/sync")).await;
    }
    for d in devices.iter_mut() {
        sync_via(d, &client, &format!("{restarted}/v1/sync")).await;
        for job in &jobs {
            let view = call(
                client.get(format!("{restarted}/v1/jobs/{job}")),
                &office.access_token,
                None,
            )
            .await;
            assert_eq!(view["job"], serde_json::to_value(d.job(*job)).unwrap());
        }
    }
}

/// A spread of delays without a random-number dependency.
fn rand_ms(round: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos) / 1000 + round as u64 * 97
}

crate::helpers::backend_tests!(a_killed_server_keeps_every_acknowledged_change);

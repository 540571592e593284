//! Bounded work on the sync endpoint.
//!
//! Against the real `fieldsync` binary: hostile automerge changes that
//! expand a thousandfold (compressed chunks, huge splices, many small
//! operations, whole-document messages, crafted run lengths and Bloom
//! filters) are each refused for their document in milliseconds of the
//! server's CPU, its peak memory stays under the budget, and another
//! device's routine syncs keep working meanwhile; a sync abandoned by its
//! client stops working and commits nothing. In process: one sync per
//! device, load shedding with 503 and `Retry-After` over the in-flight
//! bound and the memory budget.

use std::time::{Duration, Instant};

use fieldsync_core::automerge::sync::{ChunkList, Have, Message, MessageVersion};
use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{Automerge, ObjType, ROOT, ReadDoc};
use fieldsync_core::sync::{
    DocMessage, Limits, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse,
};
use fieldsync_core::{DocId, JobAction, JobId, RejectCode, Role, Timestamp, UserId};
use fieldsync_server::auth::TokenResponse;
use fieldsync_server::testing::{TestBackend, TestDatabase};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, actor, assert_error, backend_tests, spawn_app_with};
use crate::office::{create_job, job_id, new_job};
use crate::process::ServerProcess;
use crate::sync::office;

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// CPU seconds (user + system) the process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime and stime are fields 14 and 15 (proc(5)).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

/// Peak resident memory of the process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("VmHWM")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024.0
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

async fn office_call(
    _client: &reqwest::Client,
    req: reqwest::RequestBuilder,
    token: &str,
    body: Option<&Value>,
) -> Value {
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

/// A batch of one document whose sync message carries `chunks` as they
/// are, on top of what the device holds of `job`.
fn batch(
    device: &Device,
    job: JobId,
    heads: Vec<fieldsync_core::automerge::ChangeHash>,
    chunks: Vec<Vec<u8>>,
    v2: bool,
) -> Vec<u8> {
    let mut heads = heads;
    heads.sort();
    let msg = Message {
        heads,
        need: Vec::new(),
        have: vec![Have {
            last_sync: device.doc(job).get_heads(),
            bloom: Default::default(),
        }],
        changes: ChunkList::from(chunks),
        flags: None,
        version: if v2 {
            MessageVersion::V2
        } else {
            MessageVersion::V1
        },
    };
    raw_batch(job, msg.encode())
}

fn raw_batch(job: JobId, msg: Vec<u8>) -> Vec<u8> {
    SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id: DocId::Job(job),
            msg: ByteBuf::from(msg),
        }],
        cursor: None,
        held: None,
    }
    .encode()
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// One attack: a name, and the request body a hostile device sends.
struct Attack {
    name: &'static str,
    body: Vec<u8>,
    /// What the refusal must say.
    reason: &'static str,
}

/// Every amplification, as real automerge changes (and two hand-built
/// encodings automerge would accept) on the job the device holds.
fn attacks(device: &Device, job: JobId) -> Vec<Attack> {
    let fork = || device.doc(job).fork().with_actor(device.actor.clone());
    let notes = |doc: &Automerge| doc.get(ROOT, "notes").unwrap().expect("notes").1;
    let mut out = Vec::new();

    let mut doc = fork();
    let text = notes(&doc);
    let mut tx = doc.transaction();
    tx.splice_text(&text, 0, 0, &"a".repeat(1_000_000)).unwrap();
    tx.commit();
    let mut change = doc.get_last_local_change().unwrap();
    out.push(Attack {
        name: "1M-character splice, compressed chunk",
        body: batch(
            device,
            job,
            doc.get_heads(),
            vec![change.bytes().to_vec()],
            false,
        ),
        reason: "operations",
    });

    let mut doc = fork();
    let mut tx = doc.transaction();
    tx.put(ROOT, "problem", "b".repeat(50_000_000)).unwrap();
    tx.commit();
    let mut change = doc.get_last_local_change().unwrap();
    out.push(Attack {
        name: "50M-character value, compressed chunk",
        body: batch(
            device,
            job,
            doc.get_heads(),
            vec![change.bytes().to_vec()],
            false,
        ),
        reason: "bytes once decompressed",
    });

    let mut doc = fork();
    let mut tx = doc.transaction();
    let map = tx.put_object(ROOT, "junk", ObjType::Map).unwrap();
    for i in 0..100_000 {
        tx.put(&map, format!("k{i}"), i64::from(i)).unwrap();
    }
    tx.commit();
    let mut change = doc.get_last_local_change().unwrap();
    out.push(Attack {
        name: "100,000 small operations, compressed chunk",
        body: batch(
            device,
            job,
            doc.get_heads(),
            vec![change.bytes().to_vec()],
            false,
        ),
        reason: "operations",
    });

    let mut doc = fork();
    let text = notes(&doc);
    let mut chunks = Vec::new();
    for _ in 0..10 {
        let mut tx = doc.transaction();
        tx.splice_text(&text, 0, 0, &"c".repeat(20_000)).unwrap();
        tx.commit();
        chunks.push(doc.get_last_local_change().unwrap().bytes().to_vec());
    }
    out.push(Attack {
        name: "10 changes of 20,000 characters",
        body: batch(device, job, doc.get_heads(), chunks, false),
        reason: "operations",
    });

    let mut doc = fork();
    let text = notes(&doc);
    let mut tx = doc.transaction();
    tx.splice_text(&text, 0, 0, &"d".repeat(1_000_000)).unwrap();
    tx.commit();
    out.push(Attack {
        name: "whole document with 1M characters",
        body: batch(device, job, doc.get_heads(), vec![doc.save()], true),
        reason: "operations",
    });

    // A change chunk whose run-length columns claim 2^40 operations.
    let mut body = Vec::new();
    uleb(&mut body, 0);
    uleb(&mut body, 16);
    body.extend(device.actor.to_bytes());
    for v in [1, 1, 0, 0, 0] {
        uleb(&mut body, v); // seq, start op, time, message, other actors
    }
    let mut key = Vec::new();
    sleb(&mut key, 1 << 40);
    uleb(&mut key, 1);
    key.push(b'k');
    let mut action = Vec::new();
    sleb(&mut action, 1 << 40);
    uleb(&mut action, 1);
    uleb(&mut body, 2);
    uleb(&mut body, (1 << 4) | 5);
    uleb(&mut body, key.len() as u64);
    uleb(&mut body, (4 << 4) | 2);
    uleb(&mut body, action.len() as u64);
    body.extend(&key);
    body.extend(&action);
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
    uleb(&mut chunk, body.len() as u64);
    chunk.extend(&body);
    out.push(Attack {
        name: "run lengths claiming 2^40 operations",
        body: batch(device, job, Vec::new(), vec![chunk], false),
        reason: "operations",
    });

    // A Bloom filter asking for 2^32 probes per change checked.
    let mut bloom = Vec::new();
    for v in [1, 10, u64::from(u32::MAX)] {
        uleb(&mut bloom, v);
    }
    bloom.extend([0xff; 2]);
    let mut msg = vec![0x42, 0, 0, 1, 0];
    uleb(&mut msg, bloom.len() as u64);
    msg.extend(&bloom);
    msg.push(0);
    out.push(Attack {
        name: "Bloom filter with 2^32 probes",
        body: raw_batch(job, msg),
        reason: "Bloom filter",
    });
    out
}

/// Sends `body` as `device`: the job's outcome, or `None` if the server
/// shed the request (503/409, with `Retry-After`).
async fn send_attack(
    client: &reqwest::Client,
    url: &str,
    device: &Device,
    job: JobId,
    body: Vec<u8>,
) -> Option<Outcome> {
    let res = device.post_to(client, url, body).await.unwrap();
    match res.status().as_u16() {
        200 => {}
        409 | 503 => {
            assert!(res.headers().contains_key("retry-after"));
            return None;
        }
        other => panic!("unexpected status {other}: {}", res.text().await.unwrap()),
    }
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    let reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(job))
        .expect("a reply for the job");
    Some(reply.outcome.clone())
}

/// The reason an attack was refused for; panics if it was not.
fn refusal(name: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rejected { code, message, .. } => {
            assert_eq!(*code, RejectCode::Malformed, "{name}: {message}");
            message.clone()
        }
        other => panic!("{name}: expected the job to be refused, got {other:?}"),
    }
}

/// The real server under every amplification: each is refused for its
/// document in well under a second of CPU, its peak memory stays under
/// the 512 MB budget, and another technician's routine syncs succeed while
/// four hostile devices send everything at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amplification_is_refused_cheaply_by_the_real_server() {
    const BUDGET_MB: f64 = 512.0;
    let db = TestDatabase::new(TestBackend::Sqlite).await;
    let tech1 = create_user(&db.url, "tech1", Role::Technician).await;
    let tech2 = create_user(&db.url, "tech2", Role::Technician).await;
    create_user(&db.url, "dispatch", Role::Dispatcher).await;
    let server = ServerProcess::start_with(&db.url, &["--memory-budget-mb", "512"]);
    let pid = server.pid();
    let client = reqwest::Client::new();
    let url = server.url("/v1/sync");
    let office = login(&client, &server, "dispatch", 100).await;
    let mut jobs = Vec::new();
    for (name, tech) in [("Ana", tech1), ("Bia", tech2)] {
        let view = office_call(
            &client,
            client.post(server.url("/v1/jobs")),
            &office.access_token,
            Some(&new_job(name, Some(tech))),
        )
        .await;
        jobs.push(job_id(&view));
    }
    let (job1, job2) = (jobs[0], jobs[1]);
    let mut hostile = Device::from_tokens(
        login(&client, &server, "tech1", 1).await,
        Role::Technician,
        1,
    );
    hostile.sync_at(&client, &url).await;
    let mut routine = Device::from_tokens(
        login(&client, &server, "tech2", 2).await,
        Role::Technician,
        2,
    );
    routine.sync_at(&client, &url).await;
    let job_url = server.url(&format!("/v1/jobs/{job1}"));
    let before = office_call(&client, client.get(&job_url), &office.access_token, None).await;

    let attacks = attacks(&hostile, job1);
    println!("attack                                        | request | server CPU");
    for attack in &attacks {
        let cpu = cpu_seconds(pid);
        let outcome = send_attack(&client, &url, &hostile, job1, attack.body.clone())
            .await
            .expect("not shed: nothing else is running");
        let spent = cpu_seconds(pid) - cpu;
        println!(
            "{:<45} | {:>6.1} KB | {:>6.0} ms | peak RSS {:.0} MiB",
            attack.name,
            attack.body.len() as f64 / 1024.0,
            spent * 1000.0,
            peak_rss_mib(pid)
        );
        let reason = refusal(attack.name, &outcome);
        assert!(reason.contains(attack.reason), "{}: {reason}", attack.name);
        assert!(spent < 1.0, "{} cost {spent:.2} s of CPU", attack.name);
    }

    // Four hostile devices send every attack at once, three times over,
    // while the other technician syncs routine work.
    let cpu = cpu_seconds(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 11..15u8 {
        let device = Device::from_tokens(
            login(&client, &server, "tech1", n).await,
            Role::Technician,
            n,
        );
        let bodies: Vec<Vec<u8>> = attacks.iter().map(|a| a.body.clone()).collect();
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut refused, mut shed) = (0, 0);
            for _ in 0..3 {
                for body in &bodies {
                    match send_attack(&client, &url, &device, job1, body.clone()).await {
                        Some(outcome) => {
                            refusal("concurrent", &outcome);
                            refused += 1;
                        }
                        None => shed += 1,
                    }
                }
            }
            (refused, shed)
        }));
    }
    let mut routine_syncs = 0;
    while tasks.iter().any(|t| !t.is_finished()) || routine_syncs < 5 {
        routine.act(
            job2,
            JobAction::AddNote {
                text: format!("routine {routine_syncs}"),
            },
            now(),
        );
        let synced = routine.sync_at(&client, &url).await;
        assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
        routine_syncs += 1;
        assert!(routine_syncs < 500, "attackers never finished");
    }
    let (mut refused, mut shed) = (0, 0);
    for t in tasks {
        let (r, s) = t.await.unwrap();
        refused += r;
        shed += s;
    }
    let spent = cpu_seconds(pid) - cpu;
    let peak = peak_rss_mib(pid);
    println!(
        "concurrent: {refused} attacks refused, {shed} shed, {routine_syncs} routine syncs, \
         {spent:.2} s server CPU in {:.1} s; peak RSS {peak:.0} MiB (budget {BUDGET_MB} MB)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(refused + shed, 4 * 3 * attacks.len());
    assert!(refused > 0);
    assert!(peak < BUDGET_MB, "peak RSS {peak:.0} MiB");

    // Nothing of any attack was stored; every routine note was.
    let after = office_call(&client, client.get(&job_url), &office.access_token, None).await;
    assert_eq!(before["version"], after["version"]);
    assert_eq!(before["job"], after["job"]);
    let other = office_call(
        &client,
        client.get(server.url(&format!("/v1/jobs/{job2}"))),
        &office.access_token,
        None,
    )
    .await;
    let notes = other["job"]["notes"].as_str().unwrap();
    for k in 0..routine_syncs {
        assert!(notes.contains(&format!("routine {k}")), "{notes}");
    }
}

/// A technician's notes, one raw change of `chars` characters per job: the
/// most one change may carry, worked on (applied, validated) in full.
fn heavy_batch(device: &Device, jobs: &[JobId], chars: usize) -> Vec<u8> {
    let mut docs = Vec::new();
    for &job in jobs {
        let base = device.doc(job);
        let mut doc = base.fork().with_actor(device.actor.clone());
        let text = doc.get(ROOT, "notes").unwrap().unwrap().1;
        let mut tx = doc.transaction();
        tx.splice_text(&text, 0, 0, &"w".repeat(chars)).unwrap();
        tx.commit();
        let mut heads = doc.get_heads();
        heads.sort();
        let msg = Message {
            heads,
            need: Vec::new(),
            have: vec![Have {
                last_sync: base.get_heads(),
                bloom: Default::default(),
            }],
            changes: ChunkList::from(vec![
                doc.get_last_local_change().unwrap().raw_bytes().to_vec(),
            ]),
            flags: None,
            version: MessageVersion::V1,
        };
        docs.push(DocMessage {
            id: DocId::Job(job),
            msg: ByteBuf::from(msg.encode()),
        });
    }
    SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs,
        cursor: None,
        held: None,
    }
    .encode()
}

/// A client that gives up on a sync makes the server stop working on it
/// (not only stop answering), and nothing of it is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_sync_work_stops_and_commits_nothing() {
    let db = TestDatabase::new(TestBackend::Sqlite).await;
    let tech = create_user(&db.url, "tech", Role::Technician).await;
    create_user(&db.url, "dispatch", Role::Dispatcher).await;
    let server = ServerProcess::start(&db.url);
    let pid = server.pid();
    let client = reqwest::Client::new();
    let url = server.url("/v1/sync");
    let office = login(&client, &server, "dispatch", 100).await;
    let mut jobs = Vec::new();
    for i in 0..16 {
        let view = office_call(
            &client,
            client.post(server.url("/v1/jobs")),
            &office.access_token,
            Some(&new_job(&format!("Customer {i}"), Some(tech))),
        )
        .await;
        jobs.push(job_id(&view));
    }
    let mut device = Device::from_tokens(
        login(&client, &server, "tech", 1).await,
        Role::Technician,
        1,
    );
    device.sync_at(&client, &url).await;
    // Eight documents of 24,000 operations each: within every bound.
    let (finished, abandoned) = jobs.split_at(8);
    let reference = heavy_batch(&device, finished, 24_000);
    let dropped = heavy_batch(&device, abandoned, 24_000);

    // The whole batch, worked to the end.
    let cpu = cpu_seconds(pid);
    let res = device.post_to(&client, &url, reference).await.unwrap();
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    assert!(
        response
            .docs
            .iter()
            .filter(|d| finished.iter().any(|j| d.id == DocId::Job(*j)))
            .all(|d| d.outcome != Outcome::NeedsAnotherRound),
        "every document was worked on"
    );
    let full = cpu_seconds(pid) - cpu;

    // The same work, abandoned by the client after 100 ms.
    let before = versions(&client, &server, &office.access_token, abandoned).await;
    let cpu = cpu_seconds(pid);
    let gave_up = device
        .post_to(
            &reqwest::Client::builder()
                .timeout(Duration::from_millis(100))
                .build()
                .unwrap(),
            &url,
            dropped,
        )
        .await;
    assert!(gave_up.is_err(), "the client gave up before the answer");
    // Long enough for the whole batch to have run had it not stopped.
    tokio::time::sleep(Duration::from_secs_f64((full * 3.0).max(2.0))).await;
    let partial = cpu_seconds(pid) - cpu;
    println!("sync work: {full:.2} s CPU in full, {partial:.2} s when abandoned after 100 ms");
    assert!(
        partial < full / 2.0,
        "abandoned work went on: {partial:.2} s of {full:.2} s"
    );
    let after = versions(&client, &server, &office.access_token, abandoned).await;
    assert_eq!(
        before, after,
        "nothing of the abandoned batch was committed"
    );
    // The device is free to sync again.
    let res = device
        .post_to(
            &client,
            &url,
            SyncRequest {
                v: PROTOCOL_VERSION,
                known: Vec::new(),
                docs: vec![],
                cursor: None,
                held: None,
            }
            .encode(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The stored version of each job, as the office reads it.
async fn versions(
    client: &reqwest::Client,
    server: &ServerProcess,
    token: &str,
    jobs: &[JobId],
) -> Vec<Value> {
    let mut out = Vec::new();
    for job in jobs {
        let url = server.url(&format!("/v1/jobs/{job}"));
        out.push(office_call(client, client.get(&url), token, None).await["version"].clone());
    }
    out
}

/// A sync request sent by hand, held open after its headers: the server
/// admits it (and says `100 Continue`) before it reads the body.
struct HeldRequest {
    stream: TcpStream,
    body: Vec<u8>,
}

impl HeldRequest {
    /// Sends the headers; returns once the server has admitted the sync,
    /// or `Err` with the status it answered instead.
    async fn open(app: &TestApp, token: &str, body: Vec<u8>) -> Result<Self, u16> {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /v1/sync HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/cbor\r\nContent-Length: {}\r\n\
             Expect: 100-continue\r\nConnection: close\r\n\r\n",
            app.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
                .await
                .expect("an answer to the headers")
                .unwrap();
            assert_eq!(n, 1, "connection closed");
            seen.push(byte[0]);
        }
        let status = status_of(&seen);
        if status == 100 {
            Ok(Self { stream, body })
        } else {
            Err(status)
        }
    }

    /// Sends the body; returns the final status and response body.
    async fn finish(mut self) -> (u16, Vec<u8>) {
        self.stream.write_all(&self.body).await.unwrap();
        let mut all = Vec::new();
        self.stream.read_to_end(&mut all).await.unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (status_of(&all), all[split..].to_vec())
    }
}

fn status_of(head: &[u8]) -> u16 {
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

fn empty_batch() -> Vec<u8> {
    SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![],
        cursor: None,
        held: None,
    }
    .encode()
}

async fn technician_with_a_job(app: &TestApp, office: &str, name: &str, n: u8) -> (Device, JobId) {
    let user = app.user(name, Role::Technician).await;
    let job = job_id(&create_job(app, office, &new_job(name, Some(user))).await);
    let mut device = Device::login(app, name, Role::Technician, n).await;
    device.sync(app).await;
    (device, job)
}

async fn a_device_runs_one_sync_at_a_time(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let office = office(&app).await.dispatcher;
    let (mut device, job) = technician_with_a_job(&app, &office, "tech1", 1).await;
    device.act(job, JobAction::StartTravel, now());
    let first = device.session.start(&device.docs).encode();
    let held = HeldRequest::open(&app, &device.token, first)
        .await
        .expect("admitted");
    // The same device again while its first sync runs: 409, retry shortly.
    let res = device.post(&app, empty_batch()).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 409, "sync_in_progress").await;
    // Another device of the same technician is not held up.
    let other = Device::login(&app, "tech1", Role::Technician, 2).await;
    assert_eq!(other.post(&app, empty_batch()).await.status(), 200);
    let (status, body) = held.finish().await;
    assert_eq!(status, 200);
    let response = SyncResponse::decode(&body, &Limits::default()).unwrap();
    device.session.apply(&mut device.docs, &response);
    assert_eq!(device.post(&app, empty_batch()).await.status(), 200);
}

async fn over_the_in_flight_bound_syncs_get_503(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.max_in_flight_syncs = 1).await;
    let office = office(&app).await.dispatcher;
    let (device, _) = technician_with_a_job(&app, &office, "tech1", 1).await;
    let (other, _) = technician_with_a_job(&app, &office, "tech2", 2).await;
    let held = HeldRequest::open(&app, &device.token, empty_batch())
        .await
        .expect("admitted");
    let res = other.post(&app, empty_batch()).await;
    assert_eq!(res.headers()["retry-after"], "2");
    assert_error(res, 503, "overloaded").await;
    // Other routes do not queue behind sync work.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(held.finish().await.0, 200);
    assert_eq!(other.post(&app, empty_batch()).await.status(), 200);
}

async fn syncs_past_the_memory_budget_wait_and_small_ones_pass(backend: TestBackend) {
    // 4 MB: sync work may reserve 3 MB of it.
    let app = spawn_app_with(backend, |s| s.memory_budget_mb = 4).await;
    let office = office(&app).await.dispatcher;
    let (mut device, job) = technician_with_a_job(&app, &office, "tech1", 1).await;
    device.act(
        job,
        JobAction::AddNote {
            text: "on my way".into(),
        },
        now(),
    );
    let synced = device.sync(&app).await;
    assert!(synced.rejected().is_empty());
    // A 10,000-character note is 10,000 operations, about 6 MB of work: the
    // job is held back (its other documents sync), and asked for alone it
    // gets 503, so the device backs off. Nothing is refused or lost.
    device.act(
        job,
        JobAction::AddNote {
            text: "x".repeat(10_000),
        },
        now(),
    );
    // Naming every held document (as a device without a cursor does), so
    // the request holds documents that fit beside the one that does not.
    device.session.forget_cursor();
    let request = device.session.start(&device.docs);
    assert!(request.docs.len() > 1);
    let res = device.post(&app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    let reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(job))
        .unwrap();
    assert_eq!(reply.outcome, Outcome::NeedsAnotherRound);
    let report = device.session.apply(&mut device.docs, &response);
    assert!(report.rejected.is_empty());
    let again = device
        .session
        .next_round(&device.docs)
        .expect("the job again");
    assert_eq!(again.docs.len(), 1);
    let res = device.post(&app, again.encode()).await;
    // The status and body first: they say what happened if it is not a 503.
    let retry_after = res.headers().get("retry-after").cloned();
    assert_error(res, 503, "overloaded").await;
    assert_eq!(retry_after.unwrap(), "2");
    assert!(device.job(job).notes.contains(&"x".repeat(10_000)));
    // A body whose copies would not fit is refused before it is read.
    let big = HeldRequest::open(&app, &device.token, vec![0; 2 << 20]).await;
    assert_eq!(big.err(), Some(503));
    // With room, the same note goes through.
    let roomy = spawn_app_with(backend, |_| {}).await;
    let roomy_office = crate::sync::office(&roomy).await.dispatcher;
    let (mut device, job) = technician_with_a_job(&roomy, &roomy_office, "tech1", 1).await;
    device.act(
        job,
        JobAction::AddNote {
            text: "x".repeat(10_000),
        },
        now(),
    );
    let synced = device.sync(&roomy).await;
    assert!(synced.rejected().is_empty());
}

backend_tests!(
    a_device_runs_one_sync_at_a_time,
    over_the_in_flight_bound_syncs_get_503,
    syncs_past_the_memory_budget_wait_and_small_ones_pass,
);

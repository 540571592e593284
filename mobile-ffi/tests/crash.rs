//! SIGKILL at random moments, inside actions and inside syncs with a real
//! server, never loses an action whose call returned, never leaves a store
//! that does not open, and never makes the device forget what the server
//! acknowledged.
//!
//! The child is this test binary again, running the ignored test
//! `crash_child`: it records actions as fast as it can and syncs every few,
//! over HTTP, with a real server (fieldsync-server on SQLite, in the
//! parent). Before each call it prints `BEGIN <what>`, after it `ACK <kind>
//! <id>` or `SYNCED`. The parent kills it at a random moment, checks how it
//! died (SIGKILL, nothing on stderr), reopens the store and checks:
//!
//! - every acknowledged action is there (notes as whole lines);
//! - the unsynced changes are at most those made since the last sync that
//!   returned: a sync writes documents before the acknowledged heads, so a
//!   kill between the two leaves old heads, never heads of changes that are
//!   not on disk (which would make every change since install "unsynced");
//! - enough kills landed inside a sync and inside an action to mean something.
//!
//! At the end the parent syncs once more and the server holds exactly what
//! was acknowledged. (That the store's fsyncs matter, a kill cannot show:
//! the page cache survives a killed process. `power_cut.rs` shows it.)

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fieldsync_ffi::{FieldsyncClient, FieldsyncError};
use serde_json::{Value, json};

const KILLS: usize = 120;
/// At least this many kills must land inside a sync, and as many inside an
/// action (a `BEGIN` with no answer after it when the child died).
const MIN_KILLS_INSIDE: usize = KILLS / 8;
/// The child syncs after this many actions.
const SYNC_EVERY: usize = 6;
const DIR_VAR: &str = "FIELDSYNC_CRASH_DIR";
const RUN_VAR: &str = "FIELDSYNC_CRASH_RUN";
/// The technician's van (parts come from it: the server checks).
const VAN_VAR: &str = "FIELDSYNC_CRASH_VAN";
const PASSWORD: &str = "correct horse battery";

/// A real server in this process: SQLite in a temporary directory, HTTP on
/// a port the system picked.
struct Server {
    url: String,
    office: String,
    van: String,
    http: reqwest::blocking::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        use fieldsync_core::Role;
        use fieldsync_server::app::{AppState, serve_state};
        use fieldsync_server::config::Settings;

        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            database_url: Some(format!("sqlite://{}/server.db", dir.path().display())),
            ..Settings::default()
        };
        settings.feedback.outbox_worker = false;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, ana) = runtime.block_on(async {
            let state = AppState::build(settings).await.expect("server state");
            let mut ana = None;
            for (name, role) in [
                ("admin", Role::Admin),
                ("dispatch", Role::Dispatcher),
                ("ana", Role::Technician),
                ("bruno", Role::Technician),
            ] {
                let id = fieldsync_server::cli::create_user(
                    state.store.as_ref(),
                    name.parse().unwrap(),
                    role,
                    PASSWORD.into(),
                )
                .await
                .unwrap();
                if name == "ana" {
                    ana = Some(id);
                }
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                serve_state(state, listener, async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs")
            });
            (addr, ana.unwrap())
        });
        let http = reqwest::blocking::Client::new();
        let url = format!("http://{addr}");
        let token = |name: &str, actor: u8| -> String {
            let res = http
                .post(format!("{url}/v1/auth/login"))
                .json(&json!({"username": name, "password": PASSWORD,
                    "device": {"name": "office", "actor_id": hex::encode([actor; 16])}}))
                .send()
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let admin = token("admin", 201);
        let office = token("dispatch", 202);
        let res = http
            .put(format!("{url}/v1/pricebook"))
            .bearer_auth(&admin)
            .json(&json!({
                "version": 0, "currency": "EUR", "tax_rate_bps": 2000, "callout_fee": 4500,
                "parts": {"VALVE-22": {"name": "Valve 22mm", "unit_price": 1250, "serialized": false}},
                "labour_rates": {"standard": {"name": "Standard", "hourly": 6000}},
                "contracts": {}
            }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().unwrap());
        let location = |body: Value| -> Value {
            let res = http
                .post(format!("{url}/v1/inventory/locations"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().unwrap());
            res.json::<Value>().unwrap()["id"].clone()
        };
        let depot = location(json!({"kind": "depot", "name": "Depot"}));
        let van = location(
            json!({"kind": "van", "name": "Van 1", "depot_id": depot, "technician_id": ana}),
        );
        Self {
            url,
            office,
            van: van.as_str().unwrap().to_owned(),
            http,
            _shutdown: tx,
            _runtime: runtime,
            _dir: dir,
        }
    }

    /// A job for `technician`, created by the office; returns its id.
    fn create_job(&self, technician: &str) -> String {
        let res = self
            .http
            .post(format!("{}/v1/jobs", self.url))
            .bearer_auth(&self.office)
            .json(&json!({
                "customer": {"name": "Ana Silva", "email": "ana@example.com", "phone": null},
                "site": {"name": null, "address": "Rua Augusta 1, Lisboa"},
                "asset": {"product": "Boiler X200", "serial": null, "warranty_end": null, "contract_ref": null},
                "problem": "No hot water",
                "priority": "high",
                "window": {"start": "2026-01-01T09:00:00Z", "end": "2026-01-01T11:00:00Z"},
                "technician_id": technician,
                "checklist": [],
            }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().unwrap());
        res.json::<Value>().unwrap()["job"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The office edits the job (the device downloads it on its next sync).
    fn office_edit(&self, job: &str, n: usize) {
        let res = self
            .http
            .patch(format!("{}/v1/jobs/{job}", self.url))
            .bearer_auth(&self.office)
            .json(&json!({"problem": format!("No hot water (office edit {n})")}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().unwrap());
    }

    fn job(&self, job: &str) -> Value {
        let res = self
            .http
            .get(format!("{}/v1/jobs/{job}", self.url))
            .bearer_auth(&self.office)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().unwrap()["job"].clone()
    }
}

/// What the children acknowledged, over all runs.
#[derive(Default)]
struct Acked {
    labour: BTreeSet<String>,
    parts: BTreeSet<String>,
    voided: BTreeSet<String>,
    payments: BTreeSet<String>,
    notes: BTreeSet<String>,
    /// Changes recorded since the last sync that returned (plus one for
    /// each kill inside an action: that change may be on disk, unannounced).
    since_sync: u64,
}

/// Where a child was when it died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Starting,
    Idle,
    Action,
    Sync,
}

impl Acked {
    /// Takes one whole line of a child's output; returns where it now is.
    fn record(&mut self, line: &str, place: Place) -> Place {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("READY"), None, None) => Place::Idle,
            (Some("BEGIN"), Some("sync"), None) => Place::Sync,
            (Some("BEGIN"), Some(_), None) => Place::Action,
            (Some("SYNCED"), Some(_), None) => {
                self.since_sync = 0;
                Place::Idle
            }
            (Some("ACK"), Some(kind), Some(id)) => {
                let set = match kind {
                    "labour" => &mut self.labour,
                    "part" => &mut self.parts,
                    "void" => &mut self.voided,
                    "payment" => &mut self.payments,
                    "note" => &mut self.notes,
                    other => panic!("unknown ack {other}"),
                };
                assert!(set.insert(id.to_owned()), "{kind} {id} acknowledged twice");
                self.since_sync += 1;
                Place::Idle
            }
            _ => place, // the test harness's own lines
        }
    }

    fn len(&self) -> usize {
        self.labour.len()
            + self.parts.len()
            + self.voided.len()
            + self.payments.len()
            + self.notes.len()
    }

    /// Every acknowledged action is in the reopened store, and it knows
    /// what the server acknowledged.
    fn check(&self, dir: &std::path::Path, job: &str, run: usize) {
        let client = FieldsyncClient::open(dir.to_str().unwrap().into())
            .unwrap_or_else(|e| panic!("run {run}: store does not open after a kill: {e}"));
        let detail = client
            .job(job.into())
            .unwrap_or_else(|e| panic!("run {run}: job unreadable after a kill: {e}"));
        let ids = |lines: Vec<String>| lines.into_iter().collect::<BTreeSet<_>>();
        let labour = ids(detail.labour.iter().map(|l| l.id.clone()).collect());
        let parts = ids(detail.parts.iter().map(|p| p.id.clone()).collect());
        let voided = ids(detail
            .parts
            .iter()
            .filter(|p| p.voided)
            .map(|p| p.id.clone())
            .collect());
        let payments = ids(detail.payments.iter().map(|p| p.id.clone()).collect());
        let notes: BTreeSet<String> = detail.notes.lines().map(str::to_owned).collect();
        for (what, acked, found) in [
            ("labour entry", &self.labour, &labour),
            ("part line", &self.parts, &parts),
            ("void", &self.voided, &voided),
            ("payment", &self.payments, &payments),
            ("note", &self.notes, &notes),
        ] {
            let lost: Vec<_> = acked.difference(found).collect();
            assert!(lost.is_empty(), "run {run}: {what} lost: {lost:?}");
        }
        let pending = client.pending_change_count().unwrap();
        assert!(
            pending <= self.since_sync,
            "run {run}: {pending} changes look unsynced, but only {} were made since the last sync \
             returned: the store forgot what the server acknowledged",
            self.since_sync
        );
        // The store stays usable: the job list and billing read cleanly.
        assert_eq!(client.jobs().unwrap().len(), 1);
        assert!(detail.billing.is_some(), "{:?}", detail.billing_unavailable);
    }
}

/// The child's output lines, read on a thread so waits are bounded.
struct Output {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Output {
    /// Waits (at most 30 s) for a line satisfying `want`; false if the
    /// child's output ended first.
    fn wait_for(&mut self, want: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = want(&line);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the child printed nothing for 30 s")
                }
            }
        }
    }

    /// Waits (at most 30 s) until the store has a temporary file (a write
    /// under way), or the child has finished its call or died.
    fn wait_for_writes(&mut self, store: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let writing = || {
            [store.to_owned(), store.join("docs")].iter().any(|d| {
                std::fs::read_dir(d).is_ok_and(|mut entries| {
                    entries
                        .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
                })
            })
        };
        while !writing() {
            match self.lines.try_recv() {
                Ok(line) => {
                    let done = line.starts_with("SYNCED");
                    self.seen.push(line);
                    if done {
                        return;
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            assert!(
                Instant::now() < deadline,
                "the child neither wrote nor finished in 30 s"
            );
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Everything up to the end of the output.
    fn rest(mut self) -> Vec<String> {
        while let Ok(line) = self.lines.recv() {
            self.seen.push(line);
        }
        self.seen
    }
}

#[test]
fn sigkill_inside_actions_and_syncs_loses_nothing() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let job;
    let tech;
    {
        let client = FieldsyncClient::open(dir.path().to_str().unwrap().into()).unwrap();
        client
            .login(
                server.url.clone(),
                "ana".into(),
                PASSWORD.into(),
                "phone".into(),
            )
            .unwrap();
        tech = client.session().unwrap().unwrap().user_id;
        job = server.create_job(&tech);
        assert_eq!(client.sync().unwrap().added_jobs, 1);
        client.start_travel(job.clone()).unwrap();
        client.arrive(job.clone()).unwrap();
        client.sync().unwrap();
        assert_eq!(client.pending_change_count().unwrap(), 0);
    }

    let exe = std::env::current_exe().unwrap();
    let mut acked = Acked::default();
    let mut died_in = std::collections::BTreeMap::<&str, usize>::new();
    let started = Instant::now();
    for run in 0..KILLS {
        // Something for the child's first sync to download and write.
        server.office_edit(&job, run);
        let stderr_path = dir.path().join("child.stderr");
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child", "--nocapture"])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, run.to_string())
            .env(VAN_VAR, &server.van)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            // Whole lines only: one the kill cut short has no newline.
            while stdout.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                if tx.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut out = Output {
            lines: rx,
            seen: Vec::new(),
        };
        let micros = |max: u64| Duration::from_micros(rand::random_range(0..max));
        let alive = match run % 4 {
            // Anywhere from the start: opening the store included.
            0 => {
                std::thread::sleep(micros(30_000));
                true
            }
            // Anywhere once the store is open.
            1 => {
                let alive = out.wait_for(|l| l == "READY");
                std::thread::sleep(micros(60_000));
                alive
            }
            // Anywhere inside a sync (most of it is waiting for the server).
            2 => {
                let alive = out.wait_for(|l| l == "BEGIN sync");
                std::thread::sleep(micros(150_000));
                alive
            }
            // While the sync writes the server's answer to the store: once a
            // temporary file shows up, at a random point in what follows.
            _ => {
                let alive = out.wait_for(|l| l == "BEGIN sync");
                out.wait_for_writes(&dir.path().join("users").join(&tech));
                std::thread::sleep(micros(5_000));
                alive
            }
        };
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let lines = out.rest();
        reader.join().unwrap();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap();
        assert!(
            alive && status.signal() == Some(9),
            "run {run}: the child was not killed but ended ({status}):\n{stderr}\n{}",
            lines.join("\n")
        );
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        assert!(
            !lines.iter().any(|l| l == "FINISHED"),
            "the child ran out of work before the kill"
        );
        let mut place = Place::Starting;
        for line in &lines {
            place = acked.record(line, place);
        }
        if place == Place::Action {
            acked.since_sync += 1;
        }
        *died_in
            .entry(match place {
                Place::Starting => "starting",
                Place::Idle => "between calls",
                Place::Action => "an action",
                Place::Sync => "a sync",
            })
            .or_default() += 1;
        acked.check(dir.path(), &job, run);
    }
    eprintln!(
        "{KILLS} kills, {} actions acknowledged, {:?}; died in: {died_in:?}",
        acked.len(),
        started.elapsed()
    );
    for place in ["an action", "a sync"] {
        let n = died_in.get(place).copied().unwrap_or(0);
        assert!(
            n >= MIN_KILLS_INSIDE,
            "only {n} kills landed inside {place} (want {MIN_KILLS_INSIDE}): {died_in:?}"
        );
    }

    // One clean sync, and the server holds exactly what was acknowledged.
    let client = FieldsyncClient::open(dir.path().to_str().unwrap().into()).unwrap();
    let synced = client.sync().unwrap();
    assert!(
        synced
            .jobs
            .iter()
            .all(|j| matches!(j.outcome, fieldsync_ffi::JobSyncOutcome::Accepted)),
        "{synced:?}"
    );
    assert_eq!(client.pending_change_count().unwrap(), 0);
    let on_server = server.job(&job);
    let ids = |key: &str, only_voided: bool| -> BTreeSet<String> {
        on_server[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| !only_voided || l["voided"] == true)
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(acked.labour.is_subset(&ids("labour", false)));
    assert!(acked.parts.is_subset(&ids("parts", false)));
    assert!(acked.voided.is_subset(&ids("parts", true)));
    assert!(acked.payments.is_subset(&ids("payments", false)));
    let server_notes: BTreeSet<String> = on_server["notes"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(acked.notes.is_subset(&server_notes));
    // And the device agrees with the server, line for line.
    let detail = client.job(job.clone()).unwrap();
    let device_labour: BTreeSet<_> = detail.labour.iter().map(|l| l.id.clone()).collect();
    let device_parts: BTreeSet<_> = detail.parts.iter().map(|p| p.id.clone()).collect();
    assert_eq!(device_labour, ids("labour", false));
    assert_eq!(device_parts, ids("parts", false));
    assert_eq!(detail.notes, on_server["notes"].as_str().unwrap());
    assert_eq!(
        on_server["problem"],
        format!("No hot water (office edit {})", KILLS - 1)
    );
}

/// The child side (run only by the test above, with the store's directory).
#[test]
#[ignore = "the child process of sigkill_inside_actions_and_syncs_loses_nothing"]
fn crash_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the crash test");
    let run = std::env::var(RUN_VAR).unwrap();
    let van = std::env::var(VAN_VAR).unwrap();
    let client = FieldsyncClient::open(dir).unwrap();
    println!("READY");
    let job = client.jobs().unwrap()[0].id.clone();
    for i in 0..100_000 {
        if i % SYNC_EVERY == SYNC_EVERY - 1 {
            println!("BEGIN sync");
            let t = Instant::now();
            let synced = client
                .sync()
                .unwrap_or_else(|e: FieldsyncError| panic!("sync: {e}"));
            assert!(
                synced
                    .jobs
                    .iter()
                    .all(|j| matches!(j.outcome, fieldsync_ffi::JobSyncOutcome::Accepted)),
                "{synced:?}"
            );
            println!("SYNCED {}", t.elapsed().as_micros());
            continue;
        }
        match i % 4 {
            0 => {
                println!("BEGIN labour");
                let id = client
                    .add_labour(job.clone(), 5, "standard".into(), format!("r{run}-{i}"))
                    .unwrap();
                println!("ACK labour {id}");
            }
            1 => {
                println!("BEGIN part");
                let id = client
                    .use_part(job.clone(), "VALVE-22".into(), 1, vec![], Some(van.clone()))
                    .unwrap();
                println!("ACK part {id}");
                if i % 3 == 0 {
                    println!("BEGIN void");
                    client.void_part_line(job.clone(), id.clone()).unwrap();
                    println!("ACK void {id}");
                }
            }
            2 => {
                println!("BEGIN payment");
                let id = client
                    .record_payment(job.clone(), "cash".into(), 100, None)
                    .unwrap();
                println!("ACK payment {id}");
            }
            _ => {
                // Tokens that are prefixes of later ones (n5x3, n5x33): only
                // an exact match of whole lines tells them apart.
                let token = format!("n{run}x{i}");
                println!("BEGIN note");
                client.add_note(job.clone(), token.clone()).unwrap();
                println!("ACK note {token}");
            }
        }
    }
    println!("FINISHED");
}

const SHARED_KILLS: usize = 40;
const USERS_VAR: &str = "FIELDSYNC_SHARED_USERS";

/// A session for `user` (`name id job`) without asking the server: the
/// child switches users offline (sans-IO `setSession`), so the kills land
/// in the library's own work (opening stores, renaming the next user's
/// store into place, writing sessions), not in waits for the network.
fn offline_tokens(url: &str, name: &str, id: &str) -> fieldsync_ffi::SessionTokens {
    fieldsync_ffi::SessionTokens {
        server_url: Some(url.to_owned()),
        access_token: "offline".into(),
        expires_in_secs: 900,
        refresh_token: "offline".into(),
        device_id: "00000000-0000-4000-8000-000000000001".into(),
        user_id: id.to_owned(),
        username: name.to_owned(),
        role: "technician".into(),
    }
}

/// Two technicians take turns on one phone (one app directory), with a
/// visitor new to the device now and then, killed at random moments: after
/// every kill the directory opens, each technician's store holds their own
/// job with every note they were told was kept, and none of the other's;
/// a visitor's store is empty. At the end each logs in for real, syncs, and
/// the server's copy of each job has its own technician's notes only.
#[test]
fn sigkill_while_technicians_share_a_phone_keeps_each_ones_work_apart() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut users = Vec::new();
    {
        let client = FieldsyncClient::open(dir.path().to_str().unwrap().into()).unwrap();
        for name in ["ana", "bruno"] {
            let info = client
                .login(
                    server.url.clone(),
                    name.into(),
                    PASSWORD.into(),
                    "shared phone".into(),
                )
                .unwrap();
            let job = server.create_job(&info.user_id);
            assert_eq!(client.sync().unwrap().added_jobs, 1, "{name}");
            users.push((name, info.user_id, job));
        }
    }
    let users_env: Vec<String> = users
        .iter()
        .map(|(n, id, job)| format!("{n} {id} {job}"))
        .collect();
    let exe = std::env::current_exe().unwrap();
    let mut acked: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    let mut visitors = BTreeSet::new();
    let mut inside_switch = 0;
    for run in 0..SHARED_KILLS {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "shared_phone_child", "--nocapture"])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, run.to_string())
            .env(USERS_VAR, users_env.join(","))
            .env("FIELDSYNC_SHARED_URL", &server.url)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("child.stderr")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            while stdout.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                if tx.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut out = Output {
            lines: rx,
            seen: Vec::new(),
        };
        let alive = out.wait_for(|l| l == "READY");
        std::thread::sleep(Duration::from_micros(rand::random_range(0..600_000)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let lines = out.rest();
        reader.join().unwrap();
        let stderr = std::fs::read_to_string(dir.path().join("child.stderr")).unwrap();
        assert!(
            alive && status.signal() == Some(9) && !stderr.contains("panicked"),
            "run {run}: not killed ({status}): {stderr}"
        );
        assert!(
            !lines.iter().any(|l| l == "FINISHED"),
            "run {run}: ran out of work"
        );
        let mut in_switch = false;
        for line in &lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["BEGIN", "switch", who] => {
                    in_switch = true;
                    if who.starts_with("visitor") {
                        visitors.insert((*who).to_owned());
                    }
                }
                ["ACK", "switch", _] => in_switch = false,
                ["ACK", "note", who, token] => {
                    let who = users.iter().find(|u| u.0 == *who).unwrap().0;
                    acked.entry(who).or_default().insert((*token).to_owned());
                }
                _ => {}
            }
        }
        inside_switch += usize::from(in_switch);

        let client = FieldsyncClient::open(dir.path().to_str().unwrap().into())
            .unwrap_or_else(|e| panic!("run {run}: the directory does not open: {e}"));
        if let Some(now) = client.session().unwrap() {
            assert!(
                users.iter().any(|u| u.1 == now.user_id) || now.username.starts_with("visitor"),
                "run {run}: {now:?}"
            );
        }
        for (name, id, job) in &users {
            client
                .set_session(offline_tokens(&server.url, name, id))
                .unwrap_or_else(|e| panic!("run {run}: {name} cannot switch in: {e}"));
            let jobs: Vec<String> = client.jobs().unwrap().into_iter().map(|j| j.id).collect();
            assert_eq!(
                &jobs,
                std::slice::from_ref(job),
                "run {run}: {name} sees another's job"
            );
            let notes: BTreeSet<String> = client
                .job(job.clone())
                .unwrap()
                .notes
                .lines()
                .map(str::to_owned)
                .collect();
            let mine = acked.get(name).cloned().unwrap_or_default();
            let lost: Vec<_> = mine.difference(&notes).collect();
            assert!(lost.is_empty(), "run {run}: {name} lost notes {lost:?}");
            assert!(
                notes.iter().all(|n| n.starts_with(name)),
                "run {run}: another's note in {name}'s job: {notes:?}"
            );
        }
        for v in &visitors {
            let id = visitor_id(v);
            client
                .set_session(offline_tokens(&server.url, v, &id))
                .unwrap();
            assert!(
                client.jobs().unwrap().is_empty(),
                "run {run}: {v} sees a job"
            );
            assert_eq!(client.pending_change_count().unwrap(), 0);
        }
    }
    eprintln!(
        "{SHARED_KILLS} kills, {inside_switch} inside a switch of users, notes kept: {:?}",
        acked.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>()
    );
    assert!(
        inside_switch >= SHARED_KILLS / 8,
        "only {inside_switch} kills landed inside a switch"
    );

    // Each logs in for real and syncs: their own work reaches their job.
    let client = FieldsyncClient::open(dir.path().to_str().unwrap().into()).unwrap();
    for (name, _, job) in &users {
        client
            .login(
                server.url.clone(),
                (*name).into(),
                PASSWORD.into(),
                "shared phone".into(),
            )
            .unwrap();
        let synced = client.sync().unwrap();
        assert!(
            synced
                .jobs
                .iter()
                .all(|j| matches!(j.outcome, fieldsync_ffi::JobSyncOutcome::Accepted)),
            "{name}: {synced:?}"
        );
        assert_eq!(client.pending_change_count().unwrap(), 0, "{name}");
        let on_server: BTreeSet<String> = server.job(job)["notes"]
            .as_str()
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let mine = acked.get(name).cloned().unwrap_or_default();
        assert!(!mine.is_empty(), "{name} kept no notes");
        assert!(
            mine.is_subset(&on_server),
            "{name}: notes missing on the server"
        );
        assert!(
            on_server.iter().all(|n| n.starts_with(name)),
            "{on_server:?}"
        );
    }
}

/// A visitor's user id, from their name (`visitor-<run>-<i>`).
fn visitor_id(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let n = h.finish();
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        n >> 32,
        n & 0xffff_ffff_ffff
    )
}

/// The child side of the shared-phone test: switches between the
/// technicians (and now and then a visitor new to the device), each adding
/// notes to their own job.
#[test]
#[ignore = "the child process of sigkill_while_technicians_share_a_phone_keeps_each_ones_work_apart"]
fn shared_phone_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the shared-phone test");
    let run = std::env::var(RUN_VAR).unwrap();
    let url = std::env::var("FIELDSYNC_SHARED_URL").unwrap();
    let users: Vec<(String, String, String)> = std::env::var(USERS_VAR)
        .unwrap()
        .split(',')
        .map(|u| {
            let w: Vec<&str> = u.split(' ').collect();
            (w[0].to_owned(), w[1].to_owned(), w[2].to_owned())
        })
        .collect();
    let client = FieldsyncClient::open(dir).unwrap();
    println!("READY");
    for i in 0..100_000 {
        if i % 5 == 4 {
            let v = format!("visitor-{run}-{i}");
            println!("BEGIN switch {v}");
            client
                .set_session(offline_tokens(&url, &v, &visitor_id(&v)))
                .unwrap();
            println!("ACK switch {v}");
            assert!(client.jobs().unwrap().is_empty());
            continue;
        }
        let (name, id, job) = &users[i % 2];
        println!("BEGIN switch {name}");
        client.set_session(offline_tokens(&url, name, id)).unwrap();
        println!("ACK switch {name}");
        for n in 0..2 {
            let token = format!("{name}-r{run}x{i}x{n}");
            println!("BEGIN note {name}");
            client.add_note(job.clone(), token.clone()).unwrap();
            println!("ACK note {name} {token}");
        }
    }
    println!("FINISHED");
}

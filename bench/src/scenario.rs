//! One run: a database, the server as a child process, N technicians and
//! the office, and a working day compressed into phases.
//!
//! Setup (not measured): users through the admin CLI, the price book, six
//! jobs per technician, each technician's login and first (whole-document)
//! sync. Then the day:
//!
//! 1. **Morning burst**: every device has started travelling to its first
//!    job and syncs once; start times are spread evenly over the burst
//!    window (the real "everyone within a minute", compressed).
//! 2. **Six offline stretches**, one per job: each device works a whole
//!    visit offline (20-40 changes), then all devices reconnect at once
//!    (closed loop, as fast as the server answers): this is the throughput.
//!
//! Between phases, untimed, the office edits about 15% of the jobs with
//! `PATCH /v1/jobs/{id}` (some while the technician is on that very job),
//! and each device builds its next request, so the timed parts contain the
//! HTTP exchanges, the server's work and the device applying the answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fieldsync_core::automerge::Automerge;
use fieldsync_core::{DocId, JobId, LocationId, Timestamp, UserId};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::device::{Device, PARTS, SyncRecord, id_bytes};
use crate::pg::database;
use crate::photos::{self, COMPARE_UPLOADS, Photo, PhotoMaker, UploadRecord};
use crate::server::{PASSWORD, ServerProcess, create_user};

pub const JOBS_PER_TECHNICIAN: usize = 6;
/// Share of jobs the office edits during the day.
pub const OFFICE_EDIT_SHARE: f64 = 0.15;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Whether a photo run uploads its photos (`--photos-upload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Uploads {
    On,
    /// The same references, syncs and pauses, no upload: the control run.
    Off,
}

pub struct Config {
    pub server_bin: PathBuf,
    pub backend: Backend,
    pub technicians: usize,
    pub burst_window: Duration,
    pub max_in_flight: usize,
    pub seed: u64,
    pub doc_cache_entries: Option<usize>,
    /// Server processes on the one database (PostgreSQL for more than
    /// one); device i syncs with process i mod N.
    pub servers: usize,
    /// Stretches run after the burst (up to one per job).
    pub stretches: usize,
    /// Photos attached per visit (every other visit; 0: none).
    pub photos_per_visit: usize,
    pub photo_bytes: usize,
    pub photos_upload: Uploads,
    /// The server's blobs go to a fresh directory in here (`--blob-url
    /// file://...`) instead of the data dir beside the database.
    pub blob_dir: Option<PathBuf>,
    /// Sync bodies travel as plain CBOR instead of compressed (the devices
    /// of a stock client; the default is the mobile client's deflate).
    pub plain_bodies: bool,
}

/// Everything measured in one run, for [`crate::report`].
pub struct Measured {
    pub initial: Vec<SyncRecord>,
    pub burst: Vec<SyncRecord>,
    pub burst_wall: Duration,
    pub day: Vec<SyncRecord>,
    /// Wall time of the six closed-loop stretches together.
    pub day_wall: Duration,
    /// Server CPU seconds during the burst and the stretches.
    pub server_cpu: f64,
    /// Peak server memory during the day (from the burst on): the largest
    /// of the processes.
    pub peak_rss_bytes: u64,
    /// The same, per process.
    pub peak_rss_bytes_each: Vec<u64>,
    /// Peak server memory during the setup (logins: argon2), largest process.
    pub setup_peak_rss_bytes: u64,
    pub office_edits: usize,
    pub setup_wall: Duration,
    /// The devices' documents right after their first sync: the server's
    /// copies at that moment, where the in-process replay starts.
    pub start_docs: Vec<BTreeMap<DocId, Automerge>>,
    pub devices: Vec<(UserId, fieldsync_core::automerge::ActorId)>,
    /// The stretch (0-5) of each record of `day`.
    pub day_stretch: Vec<usize>,
    /// With `--photos-per-visit`: the uploads and the curl comparison.
    pub photos: Option<PhotoRun>,
    /// Idle syncs after the day (issue 19), by documents held.
    pub idle: Vec<Idle>,
}

/// Idle syncs of devices that each hold `docs_held` documents.
pub struct Idle {
    pub docs_held: usize,
    pub records: Vec<SyncRecord>,
}

/// Devices measured idle at 70 documents held.
const IDLE_70_DEVICES: usize = 3;

/// Idle syncs (issue 19 item 1), after the day: every device syncs once to
/// take what the server wrote after its last commits (van stock), then once
/// more, measured, with nothing new anywhere. Then a few devices get jobs
/// until they hold 70 documents, take them, and are measured idle again.
async fn idle_syncs(
    cfg: &Config,
    office: &Office,
    client: &reqwest::Client,
    sync_urls: &[String],
    mut devices: Vec<Device>,
) -> anyhow::Result<Vec<Idle>> {
    eprintln!("[{}/{}] idle syncs", cfg.backend.name(), cfg.technicians);
    let mut out = Vec::new();
    for held in [None, Some(70)] {
        if let Some(held) = held {
            let few = devices.len().min(IDLE_70_DEVICES);
            devices.truncate(few);
            for d in &devices {
                for k in d.docs.len()..held {
                    let body = new_job(&format!("Idle {}-{k}", d.index), d.who.user, k % 6)?;
                    office
                        .call(reqwest::Method::POST, "/v1/jobs", &body)
                        .await?;
                }
            }
        }
        on_devices(&mut devices, |d| {
            d.prepare();
            Ok(())
        })?;
        let (next, taking, _) =
            sync_all(devices, client, sync_urls, None, cfg.max_in_flight).await?;
        devices = next;
        if let Some(held) = held {
            // A scope change with the cursor: the new jobs arrive in one
            // round when the server knows what the device held.
            eprintln!(
                "[{}/{}] scope change to {held} documents: round trips max {}, bytes down mean {:.0}",
                cfg.backend.name(),
                cfg.technicians,
                taking.iter().map(|r| r.round_trips).max().unwrap_or(0),
                taking.iter().map(|r| r.response_bytes).sum::<usize>() as f64
                    / taking.len().max(1) as f64,
            );
        }
        on_devices(&mut devices, |d| {
            d.prepare();
            Ok(())
        })?;
        let (next, records, _) =
            sync_all(devices, client, sync_urls, None, cfg.max_in_flight).await?;
        devices = next;
        let docs_held = devices.first().map_or(0, |d| d.docs.len());
        if let Some(d) = devices.iter().find(|d| d.docs.len() != docs_held) {
            bail!(
                "device {} holds {} documents, not {docs_held}",
                d.index,
                d.docs.len()
            );
        }
        out.push(Idle { docs_held, records });
    }
    Ok(out)
}

/// The attachment part of a run with photos. Visits 1, 3 and 5 (stretches
/// 0, 2, 4) attach photos; each device uploads them while it syncs the
/// next stretch, so stretches 1, 3, 5 are the syncs "with uploads" and 0,
/// 2, 4 the ones without, in the same run.
pub struct PhotoRun {
    pub per_visit: usize,
    pub bytes: usize,
    /// `Off`: the references without the uploads (the lists below empty).
    pub uploaded: Uploads,
    /// Every upload of the stretches, with its stretch.
    pub uploads: Vec<(usize, UploadRecord)>,
    /// Per upload stretch: from the first upload's start to the last's end.
    pub windows: Vec<(usize, Instant, Instant)>,
    /// One at a time, nothing else running: the device's protocol, then
    /// curl's single `PUT` of another photo of the same size, alternately.
    pub compare_protocol: Vec<UploadRecord>,
    pub compare_curl: Vec<Duration>,
}

/// Stretches whose syncs run while the previous visit's photos upload.
pub fn uploads_during(stretch: usize) -> bool {
    stretch % 2 == 1
}

/// How long the uploads run before the stretch's syncs start, so the
/// syncs meet them under way.
const UPLOAD_LEAD: Duration = Duration::from_millis(200);

pub(crate) struct Office {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
}

/// What every run sets up before its first job, as `admin`: the price book,
/// one depot, and a van of it for each technician (returned in their order).
pub(crate) async fn stock_the_fleet<'a>(
    admin: &Office,
    technicians: impl IntoIterator<Item = (&'a str, UserId)>,
) -> anyhow::Result<Vec<LocationId>> {
    admin
        .call(reqwest::Method::PUT, "/v1/pricebook", &price_book())
        .await?;
    // Parts come from each technician's own van: the server checks it.
    let depot = admin
        .call(
            reqwest::Method::POST,
            "/v1/inventory/locations",
            &json!({"kind": "depot", "name": "Bench depot"}),
        )
        .await?["id"]
        .clone();
    let mut vans = Vec::new();
    for (name, user) in technicians {
        let van = admin
            .call(
                reqwest::Method::POST,
                "/v1/inventory/locations",
                &json!({"kind": "van", "name": format!("Van of {name}"),
                        "depot_id": depot, "technician_id": user}),
            )
            .await?;
        vans.push(van["id"].as_str().context("van id")?.parse()?);
    }
    Ok(vans)
}

impl Office {
    /// `username` logged in at `base` as device `actor`, holding its access
    /// token.
    pub(crate) async fn login(
        client: &reqwest::Client,
        base: &str,
        username: &str,
        actor: [u8; 16],
    ) -> anyhow::Result<Self> {
        let tokens = login(client, base, username, actor).await?;
        Ok(Self {
            client: client.clone(),
            base: base.to_owned(),
            token: tokens["access_token"].as_str().context("token")?.to_owned(),
        })
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let res = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = res.status();
        let text = res.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}

pub(crate) async fn login(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    actor: [u8; 16],
) -> anyhow::Result<Value> {
    let hex: String = actor.iter().map(|b| format!("{b:02x}")).collect();
    let res = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD,
            "device": {"name": "bench", "actor_id": hex}}))
        .send()
        .await?;
    let status = res.status();
    let text = res.text().await?;
    if status != 200 {
        bail!("login {username}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

pub(crate) fn price_book() -> Value {
    let parts: serde_json::Map<String, Value> = PARTS
        .iter()
        .enumerate()
        .map(|(i, (sku, serialized))| {
            (
                (*sku).to_owned(),
                json!({"name": format!("Part {sku}"), "unit_price": 450 + 731 * i as i64,
                    "serialized": serialized}),
            )
        })
        .collect();
    json!({
        "version": 0,
        "currency": "EUR",
        "tax_rate_bps": 2000,
        "callout_fee": 4500,
        "parts": parts,
        "labour_rates": {"standard": {"name": "Standard", "hourly": 6000}},
        "contracts": {}
    })
}

/// Today at `minutes` past midnight UTC, in unix ms.
fn today_at(minutes: i64) -> i64 {
    let midnight = time::OffsetDateTime::now_utc()
        .date()
        .midnight()
        .assume_utc()
        .unix_timestamp();
    (midnight + minutes * 60) * 1000
}

fn rfc3339(ms: i64) -> anyhow::Result<String> {
    Ok(time::OffsetDateTime::from_unix_timestamp(ms / 1000)?
        .format(&time::format_description::well_known::Rfc3339)?)
}

/// Start of job `k`'s window: 08:00, then every 90 minutes.
fn window_start(k: usize) -> i64 {
    today_at(8 * 60 + 90 * k as i64)
}

pub(crate) fn new_job(customer: &str, technician: UserId, k: usize) -> anyhow::Result<Value> {
    let start = window_start(k);
    Ok(json!({
        "customer": {"name": customer, "email": "customer@example.com", "phone": "+351 900 000 000"},
        "site": {"name": "Main house", "address": "Rua das Flores 1, Porto"},
        "asset": {"product": "Boiler X200", "serial": "BX-1", "warranty_end": null, "contract_ref": null},
        "problem": "No hot water",
        "priority": "normal",
        "window": {"start": rfc3339(start)?, "end": rfc3339(start + 3_600_000)?},
        "technician_id": technician.to_string(),
        "checklist": [
            {"question": "Gas pressure checked?", "required": true},
            {"question": "Flue clear?", "required": false}
        ],
    }))
}

/// Runs `f` on every device, spread over the machine's cores (untimed work).
fn on_devices(
    devices: &mut [Device],
    f: impl Fn(&mut Device) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = devices.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .chunks_mut(chunk)
            .map(|part| s.spawn(|| part.iter_mut().try_for_each(&f)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("worker panicked"))?)
    })
}

/// Every device syncs once, device i with server `urls[i % urls.len()]`.
/// With `spread`, device i starts at i/N of it (open loop); without, all
/// start at once, at most `max_in_flight` at a time.
async fn sync_all(
    devices: Vec<Device>,
    client: &reqwest::Client,
    urls: &[String],
    spread: Option<Duration>,
    max_in_flight: usize,
) -> anyhow::Result<(Vec<Device>, Vec<SyncRecord>, Duration)> {
    let n = devices.len();
    let gate = Arc::new(Semaphore::new(max_in_flight));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        let client = client.clone();
        let url = urls[device.index % urls.len()].clone();
        let gate = gate.clone();
        let at = spread.map(|w| w.mul_f64(i as f64 / n as f64));
        set.spawn(async move {
            if let Some(at) = at {
                tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
            }
            let _permit = gate.acquire_owned().await?;
            let record = device.sync(&client, &url).await?;
            anyhow::Ok((device, record))
        });
    }
    let mut out = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        let (d, r) = done??;
        out.push(d);
        records.push(r);
    }
    let wall = started.elapsed();
    out.sort_by_key(|d| d.index);
    Ok((out, records, wall))
}

/// The office's edits due before phase `phase` (0 = before the burst).
async fn office_edits(
    office: &Arc<Office>,
    plan: &[(usize, JobId)],
    phase: usize,
) -> anyhow::Result<usize> {
    let gate = Arc::new(Semaphore::new(8));
    let mut set = JoinSet::new();
    let mut count = 0;
    for (k, (p, job)) in plan.iter().enumerate() {
        if *p != phase {
            continue;
        }
        count += 1;
        let (office, gate, job) = (office.clone(), gate.clone(), *job);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let body = if k % 2 == 0 {
                json!({"problem": format!("No hot water; customer called again ({k})"), "priority": "high"})
            } else {
                json!({"customer_phone": format!("+351 910 {:03} {:03}", k % 1000, (k / 1000) % 1000)})
            };
            office
                .call(reqwest::Method::PATCH, &format!("/v1/jobs/{job}"), &body)
                .await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(count)
}

pub async fn run(cfg: &Config) -> anyhow::Result<Measured> {
    let setup_started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-bench-")
        .tempdir()?;
    let (pg, url) = database(cfg.backend, dir.path())?;
    let data_dir = dir.path().to_owned();

    eprintln!(
        "[{}/{}] creating users",
        cfg.backend.name(),
        cfg.technicians
    );
    // The first one alone: it applies the migrations.
    create_user(&cfg.server_bin, &url, &data_dir, "bench-admin", "admin")?;
    create_user(
        &cfg.server_bin,
        &url,
        &data_dir,
        "bench-office",
        "dispatcher",
    )?;
    let names: Vec<String> = (0..cfg.technicians)
        .map(|i| format!("tech-{i:05}"))
        .collect();
    let users = create_users(&cfg.server_bin, &url, &data_dir, &names)?;

    // Removed with the run, like the data dir.
    let blob_dir = match &cfg.blob_dir {
        Some(parent) => Some(
            tempfile::Builder::new()
                .prefix("fieldsync-bench-blobs-")
                .tempdir_in(parent)
                .with_context(|| format!("create a blob directory in {}", parent.display()))?,
        ),
        None => None,
    };
    let blob_url = blob_dir
        .as_ref()
        .map(|d| format!("file://{}", d.path().display()));
    if cfg.servers > 1 && cfg.backend != Backend::Postgres {
        bail!("several server processes share a PostgreSQL database: add --postgres");
    }
    let mut servers = Vec::with_capacity(cfg.servers.max(1));
    for _ in 0..cfg.servers.max(1) {
        let server = ServerProcess::start(
            &cfg.server_bin,
            &url,
            &data_dir,
            cfg.doc_cache_entries,
            blob_url.as_deref(),
        )?;
        // For attaching a profiler (perf record -p PID) to the measured phases.
        eprintln!(
            "[{}/{}] server pid {} on {}",
            cfg.backend.name(),
            cfg.technicians,
            server.pid(),
            server.addr
        );
        servers.push(server);
    }
    // The office, the admin and the uploads use the first process.
    let server = &servers[0];
    let base = server.url("");
    let sync_urls: Vec<String> = servers.iter().map(|s| s.url("/v1/sync")).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.url("")).collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.max_in_flight.max(64))
        .build()?;

    let admin = Office::login(&client, &base, "bench-admin", id_bytes(1, 0xAD)).await?;
    let vans = stock_the_fleet(
        &admin,
        names.iter().map(String::as_str).zip(users.iter().copied()),
    )
    .await?;
    let office = Arc::new(Office::login(&client, &base, "bench-office", id_bytes(2, 0x0F)).await?);

    eprintln!("[{}/{}] creating jobs", cfg.backend.name(), cfg.technicians);
    let gate = Arc::new(Semaphore::new(8));
    let mut set = JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        for k in 0..JOBS_PER_TECHNICIAN {
            let body = new_job(&format!("Customer {i}-{k}"), *user, k)?;
            let (office, gate) = (office.clone(), gate.clone());
            set.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                office.call(reqwest::Method::POST, "/v1/jobs", &body).await
            });
        }
    }
    while let Some(done) = set.join_next().await {
        done??;
    }

    eprintln!("[{}/{}] logging in", cfg.backend.name(), cfg.technicians);
    let mut set = JoinSet::new();
    for (i, ((name, user), van)) in names.iter().zip(&users).zip(&vans).enumerate() {
        let (client, base, gate, name, user, van) = (
            client.clone(),
            // Each device logs in where it will sync.
            bases[i % bases.len()].clone(),
            gate.clone(),
            name.clone(),
            *user,
            *van,
        );
        let seed = cfg.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let plain_bodies = cfg.plain_bodies;
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let actor = id_bytes(i as u64 + 1, 0x7E);
            let tokens = login(&client, &base, &name, actor).await?;
            let token = tokens["access_token"].as_str().context("token")?.to_owned();
            let mut device = Device::new(i, user, token, actor, seed, van);
            if plain_bodies {
                device.body_encoding = None;
            }
            anyhow::Ok(device)
        });
    }
    let mut devices = Vec::new();
    while let Some(done) = set.join_next().await {
        devices.push(done??);
    }
    devices.sort_by_key(|d| d.index);

    eprintln!("[{}/{}] first sync", cfg.backend.name(), cfg.technicians);
    on_devices(&mut devices, |d| {
        d.prepare();
        Ok(())
    })?;
    let (mut devices, initial, _) = sync_all(
        devices,
        &client,
        &sync_urls,
        None,
        cfg.max_in_flight.min(32),
    )
    .await?;
    on_devices(&mut devices, |d| {
        d.learn_jobs()?;
        if d.jobs.len() != JOBS_PER_TECHNICIAN {
            bail!("device {} holds {} jobs", d.index, d.jobs.len());
        }
        Ok(())
    })?;
    let start_docs: Vec<_> = devices.iter().map(Device::snapshot).collect();

    // Which jobs the office edits, and before which phase: any time up to
    // the stretch in which the technician works that job.
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut plan = Vec::new();
    for d in &devices {
        for (k, job) in d.jobs.iter().enumerate() {
            if rng.random_bool(OFFICE_EDIT_SHARE) {
                plan.push((rng.random_range(0..=k + 1), *job));
            }
        }
    }
    let setup_wall = setup_started.elapsed();
    let mut setup_peak_rss_bytes = 0;
    for s in &servers {
        setup_peak_rss_bytes = setup_peak_rss_bytes.max(s.peak_rss_bytes()?);
        s.reset_peak_rss()?;
    }
    let cpu_seconds =
        || -> anyhow::Result<f64> { servers.iter().map(ServerProcess::cpu_seconds).sum() };

    // Morning burst.
    eprintln!("[{}/{}] morning burst", cfg.backend.name(), cfg.technicians);
    let mut office_count = office_edits(&office, &plan, 0).await?;
    on_devices(&mut devices, |d| {
        let first = d.jobs[0];
        d.start_travel(first, Timestamp(window_start(0) - 20 * 60_000))?;
        d.prepare();
        Ok(())
    })?;
    let cpu0 = cpu_seconds()?;
    let (mut devices, burst, burst_wall) = sync_all(
        devices,
        &client,
        &sync_urls,
        Some(cfg.burst_window),
        cfg.technicians.max(1),
    )
    .await?;
    let mut server_cpu = cpu_seconds()? - cpu0;
    let l = crate::report::Latency::of(&burst.iter().collect::<Vec<_>>());
    eprintln!(
        "[{}/{}] burst syncs: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, refused {}",
        cfg.backend.name(),
        cfg.technicians,
        l.p50_ms,
        l.p95_ms,
        l.p99_ms,
        burst.iter().map(|r| r.refused).sum::<usize>()
    );

    // The stretches.
    let maker = if cfg.photos_per_visit > 0 {
        eprintln!(
            "[{}/{}] making {} B photos",
            cfg.backend.name(),
            cfg.technicians,
            cfg.photo_bytes
        );
        let maker = PhotoMaker::new(cfg.photo_bytes)?;
        eprintln!(
            "[{}/{}] photos: {} x {} px JPEGs padded to {} B",
            cfg.backend.name(),
            cfg.technicians,
            maker.width,
            maker.height,
            cfg.photo_bytes
        );
        Some(Arc::new(maker))
    } else {
        None
    };
    let tokens: Vec<String> = devices.iter().map(|d| d.token.clone()).collect();
    let mut pending: Vec<Vec<Photo>> = vec![Vec::new(); devices.len()];
    let mut compare: Vec<Photo> = Vec::new();
    let mut photo_run = maker.as_ref().map(|_| PhotoRun {
        per_visit: cfg.photos_per_visit,
        bytes: cfg.photo_bytes,
        uploaded: cfg.photos_upload,
        uploads: Vec::new(),
        windows: Vec::new(),
        compare_protocol: Vec::new(),
        compare_curl: Vec::new(),
    });
    let mut day = Vec::new();
    let mut day_stretch = Vec::new();
    let mut day_wall = Duration::ZERO;
    for k in 0..cfg.stretches {
        eprintln!(
            "[{}/{}] stretch {}",
            cfg.backend.name(),
            cfg.technicians,
            k + 1
        );
        office_count += office_edits(&office, &plan, k + 1).await?;
        let attached = Mutex::new(Vec::new());
        on_devices(&mut devices, |d| {
            let job = d.jobs[k];
            // Photos on the visits before an upload stretch; the last
            // visit of device 0 also gets the photos of the comparison.
            let mut count = 0;
            if let Some(maker) = &maker {
                if uploads_during(k + 1) {
                    count += cfg.photos_per_visit;
                }
                if d.index == 0 && k + 1 == JOBS_PER_TECHNICIAN {
                    count += 2 * COMPARE_UPLOADS;
                }
                let mut refs = Vec::with_capacity(count);
                let mut made = Vec::with_capacity(count);
                for j in 0..count {
                    let id = ((d.index * JOBS_PER_TECHNICIAN + k) * 1000 + j) as u64;
                    let sha256 = photos::sha256_hex(&maker.make(id));
                    refs.push((sha256.clone(), cfg.photo_bytes as u64));
                    made.push(Photo { job, id, sha256 });
                }
                d.work_job(job, Timestamp(window_start(k)), &refs)?;
                attached
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((d.index, made));
            } else {
                d.work_job(job, Timestamp(window_start(k)), &[])?;
            }
            if let Some(next) = d.jobs.get(k + 1).copied() {
                d.start_travel(next, Timestamp(window_start(k + 1) - 20 * 60_000))?;
            }
            d.prepare();
            Ok(())
        })?;
        // What the previous visit attached uploads during this stretch.
        let upload_now = uploads_during(k) && cfg.photos_upload == Uploads::On;
        let uploading = match (&maker, upload_now) {
            (Some(maker), true) => {
                let batch: Vec<(usize, Vec<Photo>)> = pending
                    .iter_mut()
                    .enumerate()
                    .map(|(i, p)| (i, std::mem::take(p)))
                    .collect();
                let handle = tokio::spawn(upload_all(
                    client.clone(),
                    base.clone(),
                    tokens.clone(),
                    batch,
                    maker.clone(),
                ));
                Some(handle)
            }
            _ => None,
        };
        if maker.is_some() {
            // Every stretch of a photo run pauses alike, so the stretches
            // with and without uploads differ only by the uploads.
            tokio::time::sleep(UPLOAD_LEAD).await;
        }
        for (i, made) in attached
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            if cfg.photos_upload == Uploads::Off {
                // Referenced, never uploaded: the control run.
                continue;
            }
            if i == 0 && k + 1 == JOBS_PER_TECHNICIAN {
                let keep = made.len() - 2 * COMPARE_UPLOADS;
                let mut made = made;
                compare = made.split_off(keep);
                pending[i].extend(made);
            } else {
                pending[i].extend(made);
            }
        }
        let cpu0 = cpu_seconds()?;
        let (next, records, wall) =
            sync_all(devices, &client, &sync_urls, None, cfg.max_in_flight).await?;
        server_cpu += cpu_seconds()? - cpu0;
        devices = next;
        day_wall += wall;
        // Per stretch, to tell where a photo run's syncs lose time.
        let l = crate::report::Latency::of(&records.iter().collect::<Vec<_>>());
        eprintln!(
            "[{}/{}] stretch {} syncs: p50 {:.0} ms, p95 {:.0} ms{}",
            cfg.backend.name(),
            cfg.technicians,
            k + 1,
            l.p50_ms,
            l.p95_ms,
            match (&maker, uploads_during(k), cfg.photos_upload) {
                (Some(_), true, Uploads::On) => ", with uploads",
                (Some(_), true, Uploads::Off) => ", uploads off",
                _ => "",
            }
        );
        day_stretch.extend(std::iter::repeat_n(k, records.len()));
        day.extend(records);
        if let (Some(handle), Some(run)) = (uploading, photo_run.as_mut()) {
            let uploads = handle.await??;
            if let (Some(first), Some(last)) = (
                uploads.iter().map(|u| u.started).min(),
                uploads.iter().map(|u| u.started + u.elapsed).max(),
            ) {
                run.windows.push((k, first, last));
            }
            run.uploads.extend(uploads.into_iter().map(|u| (k, u)));
        }
    }
    print_breakdown(cfg, &day);
    if cfg.stretches == JOBS_PER_TECHNICIAN && pending.iter().any(|p| !p.is_empty()) {
        bail!("photos attached on the last visit were never uploaded");
    }
    if let (Some(maker), Some(run)) = (&maker, photo_run.as_mut()) {
        eprintln!(
            "[{}/{}] uploads one at a time: the device's protocol against curl",
            cfg.backend.name(),
            cfg.technicians
        );
        let scratch = tempfile::tempdir()?;
        for pair in compare.chunks(2) {
            let [ours, theirs] = pair else {
                bail!("odd number of comparison photos");
            };
            let bytes = maker.make(ours.id);
            run.compare_protocol
                .push(photos::upload(&client, &base, &tokens[0], ours, &bytes).await?);
            let bytes = maker.make(theirs.id);
            let (dir, base, token, photo) = (
                scratch.path().to_owned(),
                base.clone(),
                tokens[0].clone(),
                theirs.clone(),
            );
            let took = tokio::task::spawn_blocking(move || {
                photos::curl_upload(&dir, &base, &token, &photo, &bytes)
            })
            .await??;
            run.compare_curl.push(took);
        }
    }
    let peak_rss_bytes_each = servers
        .iter()
        .map(ServerProcess::peak_rss_bytes)
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let peak_rss_bytes = peak_rss_bytes_each.iter().copied().max().unwrap_or(0);
    let participants: Vec<(UserId, fieldsync_core::automerge::ActorId)> = devices
        .iter()
        .map(|d| (d.who.user, d.actor.clone()))
        .collect();
    let idle = idle_syncs(cfg, &office, &client, &sync_urls, devices).await?;
    drop(servers);
    drop(pg);

    Ok(Measured {
        initial,
        burst,
        burst_wall,
        day,
        day_wall,
        server_cpu,
        peak_rss_bytes,
        peak_rss_bytes_each,
        setup_peak_rss_bytes,
        office_edits: office_count,
        setup_wall,
        start_docs,
        devices: participants,
        day_stretch,
        photos: photo_run,
        idle,
    })
}

/// Each device uploads its photos one after another (as the app does);
/// the devices at once.
async fn upload_all(
    client: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    batch: Vec<(usize, Vec<Photo>)>,
    maker: Arc<PhotoMaker>,
) -> anyhow::Result<Vec<UploadRecord>> {
    let mut set = JoinSet::new();
    for (device, photos) in batch {
        let (client, base, token, maker) = (
            client.clone(),
            base.clone(),
            tokens[device].clone(),
            maker.clone(),
        );
        set.spawn(async move {
            let mut done = Vec::with_capacity(photos.len());
            for p in &photos {
                let bytes = maker.make(p.id);
                done.push(photos::upload(&client, &base, &token, p, &bytes).await?);
            }
            anyhow::Ok(done)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.extend(done??);
    }
    Ok(out)
}

/// Technicians through the admin CLI, a few processes at a time.
fn create_users(
    bin: &Path,
    url: &str,
    data_dir: &Path,
    names: &[String],
) -> anyhow::Result<Vec<UserId>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let chunk = names.len().div_ceil(threads).max(1);
    let ids: Vec<anyhow::Result<Vec<UserId>>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|name| {
                            let id = create_user(bin, url, data_dir, name, "technician")?;
                            id.parse::<UserId>()
                                .map_err(|e| anyhow::anyhow!("user id {id:?}: {e}"))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("worker panicked")))
            .collect()
    });
    let mut out = Vec::with_capacity(names.len());
    for part in ids {
        out.extend(part?);
    }
    Ok(out)
}

/// Where a routine sync's bytes go before compression (per sync, mean over
/// the stretches), beside what travelled: printed, for docs/BENCHMARKS.md.
fn print_breakdown(cfg: &Config, day: &[SyncRecord]) {
    let n = day.len().max(1);
    let mut parts = BTreeMap::<&str, usize>::new();
    for r in day {
        for (what, bytes) in &r.parts {
            *parts.entry(what.as_str()).or_default() += bytes;
        }
    }
    let sent: usize = day.iter().map(|r| r.request_bytes + r.response_bytes).sum();
    let changes: usize = day.iter().map(|r| r.changes_up + r.changes_down).sum();
    eprintln!(
        "[{}/{}] routine sync, plain bytes per sync (mean of {n}); on the wire {} B per sync, {} changes per sync:",
        cfg.backend.name(),
        cfg.technicians,
        sent / n,
        changes as f64 / n as f64,
    );
    for (what, bytes) in parts {
        eprintln!("    {what}: {} B", bytes / n);
    }
}

//! Figures from a run, the machine they ran on, and their JSON and
//! Markdown forms.

use std::time::Duration;

use serde::Serialize;

use crate::ceiling::Ceiling;
use crate::device::SyncRecord;
use crate::scenario::{Backend, JOBS_PER_TECHNICIAN, Measured, Uploads};

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(records: &[&SyncRecord]) -> Self {
        let mut ms: Vec<f64> = records
            .iter()
            .map(|r| r.latency.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
            ms[rank - 1]
        };
        Self {
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Bytes and round trips of a set of syncs.
#[derive(Clone, Debug, Serialize)]
pub struct Traffic {
    pub syncs: usize,
    pub changes_up: usize,
    pub changes_down: usize,
    pub request_bytes_per_sync: f64,
    pub response_bytes_per_sync: f64,
    pub raw_change_bytes_per_sync: f64,
    /// (request + response body bytes) / raw bytes of the changes exchanged.
    pub wire_over_raw: f64,
    /// (request + response body bytes) / changes exchanged (up and down).
    pub wire_bytes_per_change: f64,
    pub round_trips_per_sync: f64,
    /// Share of syncs that took exactly one round trip.
    pub one_round_trip_share: f64,
    pub rejected_documents: usize,
    /// Requests answered `503 overloaded` / `409 sync_in_progress` and sent
    /// again after their `Retry-After`.
    pub refused_requests: usize,
}

impl Traffic {
    fn of(records: &[&SyncRecord]) -> Self {
        let n = records.len().max(1) as f64;
        let sum = |f: fn(&SyncRecord) -> usize| records.iter().map(|r| f(r)).sum::<usize>();
        let wire = sum(|r| r.request_bytes + r.response_bytes);
        let raw = sum(|r| r.raw_bytes);
        Self {
            syncs: records.len(),
            changes_up: sum(|r| r.changes_up),
            changes_down: sum(|r| r.changes_down),
            request_bytes_per_sync: sum(|r| r.request_bytes) as f64 / n,
            response_bytes_per_sync: sum(|r| r.response_bytes) as f64 / n,
            raw_change_bytes_per_sync: raw as f64 / n,
            wire_over_raw: if raw == 0 {
                0.0
            } else {
                wire as f64 / raw as f64
            },
            wire_bytes_per_change: wire as f64
                / (sum(|r| r.changes_up) + sum(|r| r.changes_down)).max(1) as f64,
            round_trips_per_sync: sum(|r| r.round_trips) as f64 / n,
            one_round_trip_share: records.iter().filter(|r| r.round_trips == 1).count() as f64 / n,
            rejected_documents: sum(|r| r.rejected),
            refused_requests: sum(|r| r.refused),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunFigures {
    pub backend: Backend,
    /// FIELDSYNC_DOC_CACHE_ENTRIES given to the server (`None`: its default,
    /// no count: bounded by bytes, an eighth of its memory budget).
    pub doc_cache_entries: Option<usize>,
    /// Server processes on the one database, devices spread over them.
    pub servers: usize,
    pub technicians: usize,
    pub jobs: usize,
    pub office_edits: usize,
    /// Routine syncs: the burst and the six stretches.
    pub routine: Traffic,
    /// The first sync of each new install (whole documents), for reference.
    pub initial: Traffic,
    /// Closed-loop stretches: every device reconnects at once.
    pub day_wall_secs: f64,
    pub syncs_per_sec: f64,
    pub changes_per_sec: f64,
    pub day_latency: Latency,
    /// Each of the six stretches alone.
    pub stretch_latency: Vec<Latency>,
    /// Stretches 2, 4 and 6 together (a photo run uploads during these)
    /// and 1, 3 and 5 (whose visits attach the photos), with or without
    /// photos, so runs of every kind compare stretch for stretch.
    pub latency_stretches_2_4_6: Latency,
    pub latency_stretches_1_3_5: Latency,
    /// The morning burst: start times spread over `burst_window_secs`.
    pub burst_window_secs: f64,
    pub burst_wall_secs: f64,
    pub burst_latency: Latency,
    pub server_cpu_secs: f64,
    pub server_cpu_secs_per_1000_changes: f64,
    /// Peak server memory during the day (burst and stretches): the
    /// largest of the processes.
    pub server_peak_rss_mib: f64,
    /// The same, per server process.
    pub server_peak_rss_mib_each: Vec<f64>,
    /// Peak server memory during setup (argon2 logins), for reference.
    pub server_setup_peak_rss_mib: f64,
    /// In-process `serve` on one thread, over the same routine requests.
    pub ceiling_changes_per_sec_one_core: f64,
    /// The one-core figure times the machine's cores (ideal scaling).
    pub ceiling_changes_per_sec: f64,
    pub ceiling_changes: usize,
    /// changes_per_sec / ceiling_changes_per_sec.
    pub throughput_over_ceiling: f64,
    pub setup_secs: f64,
    /// With `--photos-per-visit`: uploads beside the syncs.
    pub photos: Option<PhotoFigures>,
    /// Idle syncs after the day (nothing changed anywhere), per number of
    /// documents held (issue 19: under 200 B each way).
    pub idle: Vec<IdleFigures>,
}

/// Idle syncs of devices holding `docs_held` documents.
#[derive(Clone, Debug, Serialize)]
pub struct IdleFigures {
    pub docs_held: usize,
    pub devices: usize,
    pub request_bytes_mean: f64,
    pub response_bytes_mean: f64,
    pub request_bytes_max: usize,
    pub response_bytes_max: usize,
    pub round_trips_max: usize,
}

impl IdleFigures {
    fn of(idle: &crate::scenario::Idle) -> Self {
        let n = idle.records.len().max(1) as f64;
        let up = idle.records.iter().map(|r| r.request_bytes);
        let down = idle.records.iter().map(|r| r.response_bytes);
        Self {
            docs_held: idle.docs_held,
            devices: idle.records.len(),
            request_bytes_mean: up.clone().sum::<usize>() as f64 / n,
            response_bytes_mean: down.clone().sum::<usize>() as f64 / n,
            request_bytes_max: up.max().unwrap_or(0),
            response_bytes_max: down.max().unwrap_or(0),
            round_trips_max: idle
                .records
                .iter()
                .map(|r| r.round_trips)
                .max()
                .unwrap_or(0),
        }
    }
}

/// The attachment part of a run (MB = 10^6 bytes).
#[derive(Clone, Debug, Serialize)]
pub struct PhotoFigures {
    pub photos_per_visit: usize,
    pub photo_bytes: usize,
    /// `off`: the references were sent, nothing uploaded (the upload
    /// figures are zero; "with uploads" means the stretches 2, 4, 6).
    pub uploaded: Uploads,
    /// Uploads during the stretches (every device at once, each one photo
    /// after another) and their bytes.
    pub uploads: usize,
    pub upload_bytes: usize,
    pub requests_per_upload: f64,
    /// 503 `overloaded` answers the uploads waited out (Retry-After, then
    /// the status query), as the device does.
    pub busy_answers: usize,
    /// Syncs of the stretches without uploads (1, 3, 5 of the day: the
    /// visits that attach the photos) and with them (2, 4, 6).
    pub latency_without_uploads: Latency,
    pub latency_with_uploads: Latency,
    pub p50_with_over_without: f64,
    pub p95_with_over_without: f64,
    /// Of the syncs with uploads, the share that ran from start to end
    /// while uploads were under way.
    pub with_uploads_overlapped_share: f64,
    /// Upload bytes over the upload stretches' wall time (first upload's
    /// start to the last one's end), all devices together.
    pub upload_mb_per_sec: f64,
    /// The median upload's own rate during the stretches (sharing the
    /// server with the others).
    pub upload_p50_mb_per_sec_each: f64,
    /// One at a time with nothing else running: the device's protocol
    /// (status query, 256 KiB chunks) and `curl` (one `PUT`), medians.
    pub compare_uploads: usize,
    pub protocol_mb_per_sec: f64,
    pub curl_mb_per_sec: f64,
    /// curl's rate over the protocol's (target <= 2).
    pub curl_over_protocol: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn photo_figures(m: &Measured) -> Option<PhotoFigures> {
    let run = m.photos.as_ref()?;
    let mb_per_sec = |bytes: usize, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9);
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut overlapped = 0;
    for (r, &k) in m.day.iter().zip(&m.day_stretch) {
        if !crate::scenario::uploads_during(k) {
            without.push(r);
            continue;
        }
        with.push(r);
        let inside = run
            .windows
            .iter()
            .any(|&(w, start, end)| w == k && r.started >= start && r.started + r.latency <= end);
        if inside {
            overlapped += 1;
        }
    }
    let latency_with_uploads = Latency::of(&with);
    let latency_without_uploads = Latency::of(&without);
    let upload_bytes: usize = run.uploads.iter().map(|(_, u)| u.bytes).sum();
    let window: Duration = run.windows.iter().map(|&(_, s, e)| e - s).sum();
    let protocol = median(
        run.compare_protocol
            .iter()
            .map(|u| mb_per_sec(u.bytes, u.elapsed))
            .collect(),
    );
    let curl = median(
        run.compare_curl
            .iter()
            .map(|&d| mb_per_sec(run.bytes, d))
            .collect(),
    );
    Some(PhotoFigures {
        photos_per_visit: run.per_visit,
        photo_bytes: run.bytes,
        uploaded: run.uploaded,
        uploads: run.uploads.len(),
        upload_bytes,
        requests_per_upload: run.uploads.iter().map(|(_, u)| u.requests).sum::<usize>() as f64
            / run.uploads.len().max(1) as f64,
        busy_answers: run.uploads.iter().map(|(_, u)| u.busy).sum(),
        p50_with_over_without: latency_with_uploads.p50_ms
            / latency_without_uploads.p50_ms.max(1e-9),
        p95_with_over_without: latency_with_uploads.p95_ms
            / latency_without_uploads.p95_ms.max(1e-9),
        with_uploads_overlapped_share: overlapped as f64 / with.len().max(1) as f64,
        latency_with_uploads,
        latency_without_uploads,
        upload_mb_per_sec: mb_per_sec(upload_bytes, window),
        upload_p50_mb_per_sec_each: median(
            run.uploads
                .iter()
                .map(|(_, u)| mb_per_sec(u.bytes, u.elapsed))
                .collect(),
        ),
        compare_uploads: run.compare_curl.len(),
        protocol_mb_per_sec: protocol,
        curl_mb_per_sec: curl,
        curl_over_protocol: curl / protocol.max(1e-9),
    })
}

pub fn figures(
    backend: Backend,
    technicians: usize,
    burst_window: Duration,
    m: &Measured,
    ceiling: &Ceiling,
    cores: usize,
    doc_cache_entries: Option<usize>,
) -> RunFigures {
    let routine: Vec<&SyncRecord> = m.burst.iter().chain(&m.day).collect();
    let day: Vec<&SyncRecord> = m.day.iter().collect();
    let burst: Vec<&SyncRecord> = m.burst.iter().collect();
    let initial: Vec<&SyncRecord> = m.initial.iter().collect();
    let of_stretches = |keep: &dyn Fn(usize) -> bool| {
        let records: Vec<&SyncRecord> = m
            .day
            .iter()
            .zip(&m.day_stretch)
            .filter(|&(_, &k)| keep(k))
            .map(|(r, _)| r)
            .collect();
        Latency::of(&records)
    };
    let routine_traffic = Traffic::of(&routine);
    let day_changes: usize = day.iter().map(|r| r.changes_up).sum();
    let wall = m.day_wall.as_secs_f64().max(1e-9);
    let changes_per_sec = day_changes as f64 / wall;
    let one_core = ceiling.changes as f64 / ceiling.busy.as_secs_f64().max(1e-9);
    let ceiling_rate = one_core * cores as f64;
    RunFigures {
        backend,
        doc_cache_entries,
        servers: m.peak_rss_bytes_each.len(),
        technicians,
        jobs: technicians * crate::scenario::JOBS_PER_TECHNICIAN,
        office_edits: m.office_edits,
        initial: Traffic::of(&initial),
        day_wall_secs: wall,
        syncs_per_sec: day.len() as f64 / wall,
        changes_per_sec,
        day_latency: Latency::of(&day),
        stretch_latency: (0..JOBS_PER_TECHNICIAN)
            .map(|k| of_stretches(&|s| s == k))
            .collect(),
        latency_stretches_2_4_6: of_stretches(&crate::scenario::uploads_during),
        latency_stretches_1_3_5: of_stretches(&|k| !crate::scenario::uploads_during(k)),
        burst_window_secs: burst_window.as_secs_f64(),
        burst_wall_secs: m.burst_wall.as_secs_f64(),
        burst_latency: Latency::of(&burst),
        server_cpu_secs: m.server_cpu,
        server_cpu_secs_per_1000_changes: m.server_cpu * 1000.0
            / (routine_traffic.changes_up.max(1) as f64),
        server_peak_rss_mib: m.peak_rss_bytes as f64 / (1024.0 * 1024.0),
        server_peak_rss_mib_each: m
            .peak_rss_bytes_each
            .iter()
            .map(|b| *b as f64 / (1024.0 * 1024.0))
            .collect(),
        server_setup_peak_rss_mib: m.setup_peak_rss_bytes as f64 / (1024.0 * 1024.0),
        ceiling_changes_per_sec_one_core: one_core,
        ceiling_changes_per_sec: ceiling_rate,
        ceiling_changes: ceiling.changes,
        throughput_over_ceiling: changes_per_sec / ceiling_rate,
        routine: routine_traffic,
        setup_secs: m.setup_wall.as_secs_f64(),
        photos: photo_figures(m),
        idle: m.idle.iter().map(IdleFigures::of).collect(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// 1-minute load average when the run started: others share the machine.
    pub load_average_at_start: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
            .max(1);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Self {
            cpu_model,
            cores,
            memory_gib: mem_kb / (1024.0 * 1024.0),
            kernel,
            load_average_at_start: load
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

#[derive(Serialize)]
pub struct Report {
    pub generated_at: String,
    pub command: String,
    pub machine: Machine,
    pub runs: Vec<RunFigures>,
}

fn f(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}

impl Report {
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        out.push_str(&format!(
            "Machine: {}, {} cores, {:.1} GiB, Linux {}; load average {} at start (shared machine).\n\
             Generated {} by `{}`.\n\n",
            m.cpu_model, m.cores, m.memory_gib, m.kernel, m.load_average_at_start,
            self.generated_at, self.command
        ));
        let mut header = "| | ".to_owned();
        let mut rule = "|---|".to_owned();
        for r in &self.runs {
            let processes = if r.servers > 1 {
                format!(", {} servers", r.servers)
            } else {
                String::new()
            };
            header.push_str(&format!(
                "{} x{}{processes} | ",
                r.backend.name(),
                r.technicians
            ));
            rule.push_str("---:|");
        }
        out.push_str(header.trim_end());
        out.push('\n');
        out.push_str(&rule);
        out.push('\n');
        type Row = (&'static str, fn(&RunFigures) -> String);
        let rows: &[Row] = &[
            ("server doc cache entries", |r| {
                r.doc_cache_entries
                    .map_or("no cap (default: by bytes)".into(), |n| n.to_string())
            }),
            ("server processes (devices spread over them)", |r| {
                r.servers.to_string()
            }),
            ("routine syncs", |r| r.routine.syncs.to_string()),
            ("changes sent (routine)", |r| {
                r.routine.changes_up.to_string()
            }),
            ("office edits (PATCH)", |r| r.office_edits.to_string()),
            ("syncs/s (stretches)", |r| f(r.syncs_per_sec, 1)),
            ("changes/s (stretches)", |r| f(r.changes_per_sec, 0)),
            ("latency p50/p95/p99 ms, stretches (all at once)", |r| {
                format!(
                    "{} / {} / {}",
                    f(r.day_latency.p50_ms, 1),
                    f(r.day_latency.p95_ms, 1),
                    f(r.day_latency.p99_ms, 1)
                )
            }),
            ("latency p50/p95 ms, each stretch", |r| {
                r.stretch_latency
                    .iter()
                    .map(|l| format!("{}/{}", f(l.p50_ms, 0), f(l.p95_ms, 0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            ("latency p50/p95/p99 ms, morning burst", |r| {
                format!(
                    "{} / {} / {}",
                    f(r.burst_latency.p50_ms, 1),
                    f(r.burst_latency.p95_ms, 1),
                    f(r.burst_latency.p99_ms, 1)
                )
            }),
            ("request bytes/sync", |r| {
                f(r.routine.request_bytes_per_sync, 0)
            }),
            ("response bytes/sync", |r| {
                f(r.routine.response_bytes_per_sync, 0)
            }),
            ("raw change bytes/sync", |r| {
                f(r.routine.raw_change_bytes_per_sync, 0)
            }),
            ("**wire / raw change bytes** (target <= 1.3)", |r| {
                f(r.routine.wire_over_raw, 2)
            }),
            ("**wire bytes per change** (target <= 105)", |r| {
                f(r.routine.wire_bytes_per_change, 0)
            }),
            ("round trips/sync (ideal 1)", |r| {
                f(r.routine.round_trips_per_sync, 3)
            }),
            ("**syncs in one round trip** (target >= 99%)", |r| {
                format!("{}%", f(r.routine.one_round_trip_share * 100.0, 1))
            }),
            (
                "requests refused (503/409), sent again after Retry-After",
                |r| (r.routine.refused_requests + r.initial.refused_requests).to_string(),
            ),
            ("server CPU s / 1,000 changes", |r| {
                f(r.server_cpu_secs_per_1000_changes, 3)
            }),
            ("server peak RSS MiB, day (largest process)", |r| {
                f(r.server_peak_rss_mib, 0)
            }),
            ("server peak RSS MiB, setup (argon2 logins)", |r| {
                f(r.server_setup_peak_rss_mib, 0)
            }),
            ("ceiling changes/s, 1 core (in-process serve)", |r| {
                f(r.ceiling_changes_per_sec_one_core, 0)
            }),
            ("ceiling changes/s, all cores", |r| {
                f(r.ceiling_changes_per_sec, 0)
            }),
            ("**end-to-end / ceiling** (target >= 0.3)", |r| {
                f(r.throughput_over_ceiling, 3)
            }),
            ("first sync: bytes down/sync", |r| {
                f(r.initial.response_bytes_per_sync, 0)
            }),
            ("rejected documents", |r| {
                (r.routine.rejected_documents + r.initial.rejected_documents).to_string()
            }),
        ];
        for (name, value) in rows {
            let mut line = format!("| {name} | ");
            for r in &self.runs {
                line.push_str(&value(r));
                line.push_str(" | ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let idle_rows = self.runs.iter().map(|r| r.idle.len()).max().unwrap_or(0);
        for i in 0..idle_rows {
            let mut line =
                "| **idle sync: docs held, bytes up / down mean (max), round trips** (target < 200) | "
                    .to_owned();
            for r in &self.runs {
                line.push_str(&r.idle.get(i).map_or("-".into(), |d| {
                    format!(
                        "{} docs: {} / {} ({} / {}), {}",
                        d.docs_held,
                        f(d.request_bytes_mean, 0),
                        f(d.response_bytes_mean, 0),
                        d.request_bytes_max,
                        d.response_bytes_max,
                        d.round_trips_max
                    )
                }));
                line.push_str(" | ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if self.runs.iter().any(|r| r.photos.is_some()) {
            out.push_str(&self.photo_rows());
        }
        out
    }

    /// The attachment rows, for runs with photos ("-" for the others).
    fn photo_rows(&self) -> String {
        fn ms(l: &Latency) -> String {
            format!("{} / {}", f(l.p50_ms, 1), f(l.p95_ms, 1))
        }
        type Row = (&'static str, fn(&PhotoFigures) -> String);
        let rows: &[Row] = &[
            ("photos per visit (every other visit) x bytes", |p| {
                format!("{} x {}", p.photos_per_visit, p.photo_bytes)
            }),
            ("photos uploaded (`--photos-upload`)", |p| {
                match p.uploaded {
                    Uploads::On => "on",
                    Uploads::Off => "off (references only)",
                }
                .into()
            }),
            ("uploads during the stretches (MB)", |p| {
                format!("{} ({})", p.uploads, f(p.upload_bytes as f64 / 1e6, 1))
            }),
            ("HTTP requests per upload", |p| f(p.requests_per_upload, 1)),
            (
                "sync latency p50/p95 ms, stretches 1, 3, 5 (no uploads)",
                |p| ms(&p.latency_without_uploads),
            ),
            (
                "sync latency p50/p95 ms, stretches 2, 4, 6 (uploads if on)",
                |p| ms(&p.latency_with_uploads),
            ),
            (
                "**with / without uploads, p50 / p95** (target <= 1.10)",
                |p| {
                    format!(
                        "{} / {}",
                        f(p.p50_with_over_without, 2),
                        f(p.p95_with_over_without, 2)
                    )
                },
            ),
            ("syncs with uploads run wholly during uploads", |p| {
                format!("{}%", f(p.with_uploads_overlapped_share * 100.0, 0))
            }),
            ("upload MB/s, all devices (each upload's own p50)", |p| {
                format!(
                    "{} ({})",
                    f(p.upload_mb_per_sec, 1),
                    f(p.upload_p50_mb_per_sec_each, 2)
                )
            }),
            ("one upload alone: protocol / curl MB/s (medians)", |p| {
                format!(
                    "{} / {} (n={})",
                    f(p.protocol_mb_per_sec, 1),
                    f(p.curl_mb_per_sec, 1),
                    p.compare_uploads
                )
            }),
            ("**curl / protocol upload rate** (target <= 2)", |p| {
                f(p.curl_over_protocol, 2)
            }),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            let mut line = format!("| {name} | ");
            for r in &self.runs {
                line.push_str(&r.photos.as_ref().map_or("-".into(), value));
                line.push_str(" | ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

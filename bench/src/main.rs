//! `fieldsync-bench`: simulated technicians syncing a working day against
//! the real `fieldsync` server (a child process on loopback), measured
//! against the in-process ceiling and the raw size of the changes.
//!
//! ```text
//! cargo build --release -p fieldsync-bench
//! target/release/fieldsync-bench --technicians 10,100,1000            # SQLite
//! target/release/fieldsync-bench --technicians 10,100 --postgres      # PostgreSQL
//! target/release/fieldsync-bench --quick                              # smoke run
//! ```
//!
//! Writes `<out>/<backend>.json` and `<out>/<backend>.md` (default
//! `target/bench/`). What each figure means: docs/BENCHMARKS.md.

mod ceiling;
mod device;
mod pg;
mod photos;
mod report;
mod scenario;
mod server;
mod storage;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use crate::report::{Machine, Report};
use crate::scenario::{Backend, Config, Uploads};

#[derive(Parser, Debug)]
#[command(about = "Sync benchmark: simulated technicians against the real server")]
struct Args {
    /// Comma-separated numbers of simulated technicians, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    technicians: Vec<usize>,
    /// Run on a throwaway PostgreSQL cluster instead of SQLite.
    #[arg(long)]
    postgres: bool,
    /// Smoke run: 3 technicians, unless --technicians is given too.
    #[arg(long)]
    quick: bool,
    /// The morning burst's start times are spread over this many ms.
    #[arg(long, default_value_t = 1000)]
    burst_window_ms: u64,
    /// At most this many syncs in flight during the stretches.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The server's document cache size (FIELDSYNC_DOC_CACHE_ENTRIES);
    /// default: the server's own default.
    #[arg(long)]
    doc_cache_entries: Option<usize>,
    /// Offline stretches of the day after the morning burst (at most 6, one
    /// per job); fewer for a run that needs only the burst and the memory
    /// of a large fleet.
    #[arg(long, default_value_t = 6)]
    stretches: usize,
    /// Server processes on the one database, devices spread over them
    /// (device i syncs with process i mod N); more than one needs --postgres.
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// Photos each visit attaches (every other visit), uploaded through the
    /// device's protocol while the next stretch syncs; 0: none.
    #[arg(long, default_value_t = 0)]
    photos_per_visit: usize,
    /// Size of each photo in bytes (a JPEG).
    #[arg(long, default_value_t = 2_000_000)]
    photo_bytes: usize,
    /// With photos: `off` attaches the same references and sends the same
    /// syncs but uploads nothing (the control run: it differs from `on`
    /// only by the uploads).
    #[arg(long, value_enum, default_value_t = Uploads::On)]
    photos_upload: Uploads,
    /// Put the server's blobs in a fresh directory inside this one (passed
    /// as `--blob-url file://...`), e.g. /dev/shm, to keep their writeback
    /// off the database's filesystem; default: the data dir beside it.
    #[arg(long)]
    blob_dir: Option<PathBuf>,
    /// Sync bodies as plain CBOR (a stock client) instead of compressed
    /// with deflate (the mobile client): wire bytes before and after.
    #[arg(long)]
    plain_bodies: bool,
    /// The server binary (default: fieldsync-bench-server next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Instead of the load run: database bytes per job after this many
    /// simulated days of visits, before and after compaction (in-process
    /// server, its clock moved past the retentions; see src/storage.rs).
    #[arg(long)]
    storage_days: Option<usize>,
    /// Jobs per technician per simulated day (with --storage-days).
    #[arg(long, default_value_t = 4)]
    storage_jobs_per_day: usize,
    /// Where the JSON and Markdown go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let technicians = if args.quick && !std::env::args().any(|a| a.starts_with("--technicians")) {
        vec![3]
    } else {
        args.technicians.clone()
    };
    let backend = if args.postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    if let Some(days) = args.storage_days {
        let cfg = storage::StorageConfig {
            backend,
            technicians: technicians.first().copied().unwrap_or(10),
            days,
            jobs_per_day: args.storage_jobs_per_day,
            seed: args.seed,
        };
        let run = storage::run(&cfg).await?;
        let table = run.markdown(&cfg);
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("create {}", args.out.display()))?;
        let md = args.out.join(format!("storage-{}.md", backend.name()));
        std::fs::write(&md, &table)?;
        println!("{table}");
        eprintln!("wrote {}", md.display());
        return Ok(());
    }
    let server_bin = server::server_bin(args.server_bin.as_deref())?;
    let machine = Machine::describe();
    let burst_window = Duration::from_millis(args.burst_window_ms);
    let mut runs = Vec::new();
    for &n in &technicians {
        let cfg = Config {
            server_bin: server_bin.clone(),
            backend,
            technicians: n,
            burst_window,
            max_in_flight: args.max_in_flight.max(1),
            seed: args.seed,
            doc_cache_entries: args.doc_cache_entries,
            servers: args.servers.max(1),
            stretches: args.stretches.min(scenario::JOBS_PER_TECHNICIAN),
            photos_per_visit: args.photos_per_visit,
            photo_bytes: args.photo_bytes,
            photos_upload: args.photos_upload,
            blob_dir: args.blob_dir.clone(),
            plain_bodies: args.plain_bodies,
        };
        let measured = scenario::run(&cfg)
            .await
            .with_context(|| format!("run with {n} technicians on {}", backend.name()))?;
        eprintln!("[{}/{n}] in-process ceiling", backend.name());
        let ceiling = ceiling::replay(&measured)?;
        let figures = report::figures(
            backend,
            n,
            burst_window,
            &measured,
            &ceiling,
            machine.cores,
            args.doc_cache_entries,
        );
        if ceiling.changes != figures.routine.changes_up {
            anyhow::bail!(
                "the replay merged {} changes, the server was sent {}",
                ceiling.changes,
                figures.routine.changes_up
            );
        }
        eprintln!(
            "[{}/{n}] {:.0} changes/s, ceiling {:.0}/s, wire/raw {:.2}, one round trip {:.1}%",
            backend.name(),
            figures.changes_per_sec,
            figures.ceiling_changes_per_sec,
            figures.routine.wire_over_raw,
            figures.routine.one_round_trip_share * 100.0
        );
        if let Some(p) = &figures.photos {
            eprintln!(
                "[{}/{n}] sync p50/p95 with uploads / without: {:.2} / {:.2}; uploads {:.1} MB/s; curl / protocol {:.2}",
                backend.name(),
                p.p50_with_over_without,
                p.p95_with_over_without,
                p.upload_mb_per_sec,
                p.curl_over_protocol
            );
        }
        runs.push(figures);
    }
    let report = Report {
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        // The program by name only: its directory says nothing about the run.
        command: std::env::args()
            .enumerate()
            .map(|(i, a)| match a.rsplit_once('/') {
                Some((_, name)) if i == 0 => name.to_owned(),
                _ => a,
            })
            .collect::<Vec<_>>()
            .join(" "),
        machine,
        runs,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    let json = args.out.join(format!("{}.json", backend.name()));
    let md = args.out.join(format!("{}.md", backend.name()));
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    let table = report.markdown();
    std::fs::write(&md, &table)?;
    println!("{table}");
    eprintln!("wrote {} and {}", json.display(), md.display());
    Ok(())
}

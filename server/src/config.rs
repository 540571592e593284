//! Command line and environment: `fieldsync [serve]`, `fieldsync demo` and
//! `fieldsync admin ...`.
//!
//! Every setting is a flag with an environment variable and a default, so
//! `fieldsync` with no arguments serves on 127.0.0.1:8080 from ./data.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fieldsync_core::Role;

use crate::store::{DeviceId, redact_url};

#[derive(Debug, Parser)]
#[command(name = "fieldsync", version, about = "Fieldsync server and admin tool")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Fill an empty database with a small demo company (depots, vans,
    /// technicians, customers, about 60 jobs in every state, stock,
    /// feedback), print the console address and the logins, then serve it.
    Demo,
    /// Administer users, devices and keys directly in the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// Parses `--role` from the role names, which `--help` lists.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .try_map(|name| name.parse::<Role>())
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password comes from FIELDSYNC_PASSWORD if set,
    /// else from the first line of standard input. Prints the new user id.
    CreateUser {
        #[arg(long)]
        username: String,
        /// The user's role (the possible values come from the role table).
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// The name customers see (its first word) on feedback forms.
        #[arg(long)]
        display_name: Option<String>,
        /// Where feedback follow-up alerts go (supervisors).
        #[arg(long)]
        email: Option<String>,
    },
    /// Disable a user: every device of theirs is revoked at once and login
    /// is refused until they are enabled again.
    DisableUser {
        #[arg(long)]
        username: String,
    },
    /// Let a disabled user log in again (their old devices stay revoked).
    EnableUser {
        #[arg(long)]
        username: String,
    },
    /// Set a user's password (from FIELDSYNC_PASSWORD or the first line of
    /// standard input); every device of theirs is revoked.
    ResetPassword {
        #[arg(long)]
        username: String,
    },
    /// Revoke a device: its tokens stop working at once.
    RevokeDevice {
        #[arg(long)]
        device: DeviceId,
    },
    /// Start signing access tokens with a new key (old tokens stay valid until they expire).
    RotateKey,
    /// Set a service desk team's supervisor and members, by username
    /// (replacing the team's current ones).
    SetTeam {
        /// engineering, finance, shipping or sales.
        #[arg(long)]
        team: crate::desk::model::Team,
        /// The team's supervisor (a supervisor or admin).
        #[arg(long)]
        supervisor: Option<String>,
        /// A member (repeat for each).
        #[arg(long = "member")]
        members: Vec<String>,
    },
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./data";
const DEFAULT_ACCESS_TTL_SECS: u64 = 15 * 60;
const DEFAULT_REFRESH_TTL_DAYS: u64 = 30;
const DEFAULT_REFRESH_REUSE_GRACE_SECS: u64 = 60;
const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
const DEFAULT_MEMORY_BUDGET_MB: u64 = 512;
const DEFAULT_MAX_IN_FLIGHT_SYNCS: usize = 32;
const DEFAULT_REJECTION_RETENTION_DAYS: u64 = 90;
const DEFAULT_STALE_DEVICE_HOURS: u32 = 24;
const DEFAULT_REFUND_LIMIT_TECHNICIAN: i64 = 5_000;
const DEFAULT_REFUND_LIMIT_DISPATCHER: i64 = 20_000;

/// Server settings. `Debug` hides the database password.
#[derive(Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "FIELDSYNC_LISTEN", default_value = DEFAULT_LISTEN, global = true)]
    pub listen: SocketAddr,
    /// Serve `/metrics` on this address only (not on `--listen`), e.g. one
    /// only the monitoring network reaches. Default: on `--listen`.
    #[arg(long, env = "FIELDSYNC_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory for the embedded SQLite database (created if missing).
    #[arg(long, env = "FIELDSYNC_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; default: SQLite at <data-dir>/fieldsync.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "FIELDSYNC_ACCESS_TTL_SECS", default_value_t = DEFAULT_ACCESS_TTL_SECS, global = true)]
    pub access_ttl_secs: u64,
    /// Lifetime of refresh tokens, in days (how long a device may stay offline).
    #[arg(long, env = "FIELDSYNC_REFRESH_TTL_DAYS", default_value_t = DEFAULT_REFRESH_TTL_DAYS, global = true)]
    pub refresh_ttl_days: u64,
    /// How long after a refresh its token may be presented once more (the
    /// answer was lost on the way) without revoking the login; 0 disables.
    #[arg(long, env = "FIELDSYNC_REFRESH_REUSE_GRACE_SECS", default_value_t = DEFAULT_REFRESH_REUSE_GRACE_SECS, global = true)]
    pub refresh_reuse_grace_secs: u64,
    /// Largest request body accepted, in bytes (413 above it).
    #[arg(long, env = "FIELDSYNC_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,
    /// Longest a request may take, in seconds (408 after it).
    #[arg(long, env = "FIELDSYNC_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS, global = true)]
    pub request_timeout_secs: u64,
    /// At most this many documents kept decoded in memory (default: no
    /// count; the cache is bounded by bytes, an eighth of the memory budget).
    #[arg(long, env = "FIELDSYNC_DOC_CACHE_ENTRIES", global = true)]
    pub doc_cache_entries: Option<NonZeroUsize>,
    /// Memory the server stays under, in MB: syncs reserve their estimated
    /// work from three quarters of it, and get 503 when it is taken; the
    /// document cache holds at most an eighth of it.
    #[arg(long, env = "FIELDSYNC_MEMORY_BUDGET_MB", default_value_t = DEFAULT_MEMORY_BUDGET_MB, global = true)]
    pub memory_budget_mb: u64,
    /// Syncs worked on at once; more get 503 with Retry-After.
    #[arg(long, env = "FIELDSYNC_MAX_IN_FLIGHT_SYNCS", default_value_t = DEFAULT_MAX_IN_FLIGHT_SYNCS, global = true)]
    pub max_in_flight_syncs: usize,
    /// Days the office's record of sync rejections keeps each one (pruned
    /// once a minute by the server's housekeeping); 0 keeps them for good.
    #[arg(long, env = "FIELDSYNC_REJECTION_RETENTION_DAYS", default_value_t = DEFAULT_REJECTION_RETENTION_DAYS, global = true)]
    pub rejection_retention_days: u64,
    /// Hours after which a device that has not synced counts as stale on
    /// the sync-health page (which can ask for another) and in `/metrics`.
    #[arg(long, env = "FIELDSYNC_STALE_DEVICE_HOURS", default_value_t = DEFAULT_STALE_DEVICE_HOURS, global = true)]
    pub stale_device_hours: u32,
    #[command(flatten)]
    pub feedback: crate::feedback::FeedbackSettings,
    #[command(flatten)]
    pub brand: crate::brand::BrandSettings,
    /// Reverse proxies (addresses or networks, comma-separated) whose
    /// `X-Forwarded-For` names the client for login throttling and rate
    /// limits. From any other peer the header is ignored.
    #[arg(long, env = "FIELDSYNC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client_addr::parse_trusted, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub attachments: crate::attachments::AttachmentSettings,
    #[command(flatten)]
    pub login: crate::auth::throttle::ThrottleSettings,
    /// The most a technician may refund or credit on a job without a
    /// supervisor's approval, in minor units of the price book's currency.
    #[arg(long, env = "FIELDSYNC_REFUND_LIMIT_TECHNICIAN", default_value_t = DEFAULT_REFUND_LIMIT_TECHNICIAN, value_parser = clap::value_parser!(i64).range(0..), global = true)]
    pub refund_limit_technician: i64,
    /// The same for a dispatcher (supervisors and admins have no limit).
    #[arg(long, env = "FIELDSYNC_REFUND_LIMIT_DISPATCHER", default_value_t = DEFAULT_REFUND_LIMIT_DISPATCHER, value_parser = clap::value_parser!(i64).range(0..), global = true)]
    pub refund_limit_dispatcher: i64,
    #[command(flatten)]
    pub invoices: crate::invoices::InvoiceSettings,
    #[command(flatten)]
    pub generations: crate::generations::GenerationSettings,
    /// Send the console's session cookie without `Secure` (plain-HTTP development and tests only).
    #[arg(long, env = "FIELDSYNC_CONSOLE_INSECURE_COOKIES", global = true)]
    pub console_insecure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            metrics_listen: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            access_ttl_secs: DEFAULT_ACCESS_TTL_SECS,
            refresh_ttl_days: DEFAULT_REFRESH_TTL_DAYS,
            refresh_reuse_grace_secs: DEFAULT_REFRESH_REUSE_GRACE_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            doc_cache_entries: None,
            memory_budget_mb: DEFAULT_MEMORY_BUDGET_MB,
            max_in_flight_syncs: DEFAULT_MAX_IN_FLIGHT_SYNCS,
            rejection_retention_days: DEFAULT_REJECTION_RETENTION_DAYS,
            stale_device_hours: DEFAULT_STALE_DEVICE_HOURS,
            feedback: crate::feedback::FeedbackSettings::default(),
            brand: crate::brand::BrandSettings::default(),
            trusted_proxies: Vec::new(),
            login: crate::auth::throttle::ThrottleSettings::default(),
            attachments: crate::attachments::AttachmentSettings::default(),
            refund_limit_technician: DEFAULT_REFUND_LIMIT_TECHNICIAN,
            refund_limit_dispatcher: DEFAULT_REFUND_LIMIT_DISPATCHER,
            console_insecure_cookies: false,
            invoices: crate::invoices::InvoiceSettings::default(),
            generations: crate::generations::GenerationSettings::default(),
        }
    }
}

impl Settings {
    /// The database to use: `--database-url`, else SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("fieldsync.db").display()),
        }
    }

    /// Whether the database is the embedded SQLite file (which needs the data dir).
    pub fn uses_data_dir(&self) -> bool {
        self.database_url.is_none()
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_ttl_secs)
    }

    pub fn refresh_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_ttl_days * 24 * 60 * 60)
    }

    pub fn refresh_reuse_grace(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.refresh_reuse_grace_secs).unwrap_or(i64::MAX))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// What each role may refund without approval (see `crate::refunds`).
    pub fn refund_limits(&self) -> fieldsync_core::job::RefundLimits {
        fieldsync_core::job::RefundLimits {
            technician: fieldsync_core::Money(self.refund_limit_technician),
            dispatcher: fieldsync_core::Money(self.refund_limit_dispatcher),
        }
    }

    pub fn memory_budget_bytes(&self) -> u64 {
        self.memory_budget_mb.saturating_mul(1024 * 1024)
    }

    /// What the document cache may hold: an eighth of the memory budget,
    /// half of the quarter the sync gate leaves to the process (see
    /// `sync::gate`), so syncs, the cache and the rest all fit in it.
    pub fn doc_cache_bytes(&self) -> usize {
        usize::try_from(self.memory_budget_bytes() / 8).unwrap_or(usize::MAX)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url()))
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_days", &self.refresh_ttl_days)
            .field("refresh_reuse_grace_secs", &self.refresh_reuse_grace_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("doc_cache_entries", &self.doc_cache_entries)
            .field("memory_budget_mb", &self.memory_budget_mb)
            .field("max_in_flight_syncs", &self.max_in_flight_syncs)
            .field("rejection_retention_days", &self.rejection_retention_days)
            .field("stale_device_hours", &self.stale_device_hours)
            .field("feedback", &self.feedback)
            .field("brand", &self.brand)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login", &self.login)
            .field("attachments", &self.attachments)
            .field("refund_limit_technician", &self.refund_limit_technician)
            .field("refund_limit_dispatcher", &self.refund_limit_dispatcher)
            .field("console_insecure_cookies", &self.console_insecure_cookies)
            .field("invoices", &self.invoices)
            .field("generations", &self.generations)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_serves_with_defaults() {
        let cli = Cli::try_parse_from(["fieldsync"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.settings.listen, DEFAULT_LISTEN.parse().unwrap());
    }

    #[test]
    fn flags_work_before_and_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "fieldsync",
            "admin",
            "create-user",
            "--username",
            "ana",
            "--role",
            "supervisor",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.settings.data_dir, PathBuf::from("/tmp/x"));
        assert!(matches!(
            cli.command,
            Some(Command::Admin {
                command: AdminCommand::CreateUser {
                    role: Role::Supervisor,
                    ..
                }
            })
        ));
        assert!(
            Cli::try_parse_from([
                "fieldsync",
                "admin",
                "create-user",
                "--username",
                "a",
                "--role",
                "root"
            ])
            .is_err()
        );
    }

    #[test]
    fn demo_is_a_subcommand_with_the_serving_flags() {
        let cli = Cli::try_parse_from([
            "fieldsync",
            "demo",
            "--data-dir",
            "/tmp/d",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Demo)));
        assert_eq!(cli.settings.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(cli.settings.listen.port(), 0);
        assert!(Cli::try_parse_from(["fieldsync", "demo", "--seed", "1"]).is_err());
    }

    #[test]
    fn the_document_cache_is_sized_from_the_memory_budget() {
        let defaults = Cli::try_parse_from(["fieldsync"]).unwrap().settings;
        assert_eq!(defaults.doc_cache_entries, None);
        assert_eq!(defaults.doc_cache_bytes(), 64 * 1024 * 1024);
        let set = Cli::try_parse_from([
            "fieldsync",
            "--memory-budget-mb",
            "2048",
            "--doc-cache-entries",
            "100",
        ])
        .unwrap()
        .settings;
        assert_eq!(set.doc_cache_bytes(), 256 * 1024 * 1024);
        assert_eq!(set.doc_cache_entries.map(NonZeroUsize::get), Some(100));
        assert!(Cli::try_parse_from(["fieldsync", "--doc-cache-entries", "0"]).is_err());
    }

    #[test]
    fn metrics_listen_and_trusted_proxies_parse() {
        let cli = Cli::try_parse_from([
            "fieldsync",
            "--metrics-listen",
            "127.0.0.1:9100",
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.1",
        ])
        .unwrap();
        assert_eq!(
            cli.settings.metrics_listen,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(cli.settings.trusted_proxies.len(), 2);
        assert!(Cli::try_parse_from(["fieldsync", "--trusted-proxies", "nonsense"]).is_err());
        let defaults = Cli::try_parse_from(["fieldsync"]).unwrap().settings;
        assert_eq!(defaults.metrics_listen, None);
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.login.login_max_failures, 10);
    }

    #[test]
    fn refund_limits_are_settings_and_never_negative() {
        let defaults = Cli::try_parse_from(["fieldsync"]).unwrap().settings;
        assert_eq!(
            defaults.refund_limits().technician.0,
            DEFAULT_REFUND_LIMIT_TECHNICIAN
        );
        let set = Cli::try_parse_from([
            "fieldsync",
            "--refund-limit-technician",
            "2500",
            "--refund-limit-dispatcher",
            "30000",
        ])
        .unwrap()
        .settings;
        assert_eq!(set.refund_limits().technician.0, 2500);
        assert_eq!(set.refund_limits().dispatcher.0, 30000);
        assert!(Cli::try_parse_from(["fieldsync", "--refund-limit-technician", "-1"]).is_err());
    }

    #[test]
    fn debug_hides_the_database_password() {
        let s = Settings {
            database_url: Some("postgres://app:hunter2@db/fs".into()),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

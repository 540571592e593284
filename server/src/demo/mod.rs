//! `fieldsync demo`: a small company with a day of work in an empty
//! database, then the server serving it.
//!
//! Nothing is written with raw SQL: the first admin is made as `fieldsync
//! admin create-user` makes one, everything else through the HTTP API of
//! the server being started (on loopback) and, for what happens in the
//! field, by technicians' phones that are sync-core clients syncing with
//! it. The plan is fixed ([`company`]) and ids come from a seeded RNG, so
//! every demo database has the same numbers; only the passwords are new
//! each time. See docs/demo.md.

pub mod company;
mod seed;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::app::{self, AppState, AppStore, ServeError};
use crate::config::Settings;
use crate::store::{StoreError, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "the database {url} already has data ({what}): the demo only fills an empty database, \
         and nothing was written. Start it on a new data directory (--data-dir) or database \
         (--database-url)."
    )]
    NotEmpty { url: String, what: String },
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    User(#[from] crate::users::service::UserError),
    #[error("making the demo data: {path} answered {status}: {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
    #[error("making the demo data: {path}: {source}")]
    Http {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("making the demo data: {0}")]
    Seed(String),
    /// Seeding failed after it began writing: say so, so nobody takes the
    /// part that was made for the demo.
    #[error(
        "{0}\nThe demo stopped half-way and left what it had made in the database: \
         delete the data directory (or database) before running it again."
    )]
    Incomplete(Box<DemoError>),
}

impl DemoError {
    fn http(path: &str) -> impl FnOnce(reqwest::Error) -> Self + '_ {
        move |source| Self::Http {
            path: path.to_owned(),
            source,
        }
    }
}

/// Refuses a database that holds anything the demo would make.
async fn check_empty(store: &dyn AppStore, url: &str) -> Result<(), DemoError> {
    let users = store.user_accounts().await?.len();
    let jobs: i64 = store
        .count_jobs_by_status()
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    let locations = store.locations().await?.len();
    let found = [
        (users, "users"),
        (usize::try_from(jobs).unwrap_or(usize::MAX), "jobs"),
        (locations, "depots and vans"),
    ];
    if found.iter().all(|(n, _)| *n == 0) {
        return Ok(());
    }
    let what = found
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(DemoError::NotEmpty {
        url: redact_url(url),
        what,
    })
}

/// Where this process reaches the listener it bound.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Checks the database is empty, starts serving, makes the company over
/// loopback, prints where and how to log in, and serves until `shutdown`.
pub async fn run(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DemoError> {
    let url = settings.database_url();
    let store = app::open_store(&settings).await?;
    check_empty(store.as_ref(), &url).await?;
    let addr = settings.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(ServeError::Io)?;
    let state = AppState::with_store(settings, store).await?;
    tracing::info!(addr = %bound, backend = ?state.store.backend(), "serving");
    let server = tokio::spawn(app::serve_state(state.clone(), listener, shutdown));
    let base = format!("http://{}", loopback(bound));
    let made = match seed::company(&state, &base).await {
        Ok(made) => made,
        Err(e) => {
            server.abort();
            return Err(DemoError::Incomplete(Box::new(e)));
        }
    };
    println!("{}", printout(&base, &made));
    match server.await {
        Ok(result) => Ok(result?),
        Err(e) => Err(ServeError::Io(std::io::Error::other(e)).into()),
    }
}

/// What the demo prints: the console, the logins, what is in it.
fn printout(base: &str, made: &seed::Made) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fieldsync demo: DEMO DATA (a made-up company), not for real use.\n\
         \n\
         Console: {base}/console\n\
         API:     {base}/v1 (described at {base}/openapi.json)\n\
         \n\
         Logins (new passwords on every demo; all users are made-up):"
    );
    let width = made
        .logins
        .iter()
        .map(|l| l.username.len())
        .max()
        .unwrap_or(0);
    for l in &made.logins {
        let _ = writeln!(
            out,
            "  {:width$}  {:18}  {}",
            l.username,
            l.role.as_str(),
            l.password
        );
    }
    let _ = write!(
        out,
        "\nIn it: {} depots, {} vans and technicians, {} customers, {} jobs in every state \
         ({} changes refused by sync, some status conflicts), stock with low and negative \
         items, {} feedback answers.\n\
         Start with the console as admin or supervisor; the technicians' logins work in the \
         mobile library. Stop with Ctrl-C.",
        company::DEPOTS.len(),
        company::TECHNICIANS.len(),
        made.customers,
        made.jobs,
        made.rejected,
        made.answers,
    );
    out
}

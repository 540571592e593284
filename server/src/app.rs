//! The application: shared state, the router (a pure function of the state,
//! so tests can call it with `oneshot`), and `serve`.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::attachments::{AttachmentStore, BlobError, BlobStore};
use crate::auth::LockoutStore;
use crate::auth::jwt::{self, JwtKeys};
use crate::config::Settings;
use crate::customers::CustomerStore;
use crate::documents::Projectors;
use crate::error::{ApiError, ErrorBody};
use crate::feedback::FeedbackStore;
use crate::inventory::InventoryStore;
use crate::jobs::{JobStore, RejectionStore};
use crate::outbox::OutboxStore;
use crate::store::{self, DocCache, Store, StoreError, redact_url};
use crate::web::WebSessionStore;
use crate::{auth, feedback, inventory, jobs, ops, web};

/// Documents whose covered change rows one housekeeping pass prunes: a
/// backlog (after an upgrade) drains over minutes, in short transactions.
const PRUNE_DOCS_PER_MINUTE: i64 = 1_000;

/// Every store trait, as the application holds them: one object over one
/// database ([`store::SqlStore`]). Storage itself knows none of the
/// features; this is where they meet.
pub trait AppStore:
    Store
    + JobStore
    + RejectionStore
    + InventoryStore
    + FeedbackStore
    + OutboxStore
    + WebSessionStore
    + LockoutStore
    + AttachmentStore
    + CustomerStore
    + crate::recalls::RecallStore
    + crate::returns::ReturnStore
    + crate::customers::WarrantyStore
    + crate::refunds::RefundStore
    + crate::shipments::ShipmentStore
    + crate::users::UserAdminStore
    + crate::desk::DeskStore
    + crate::jobs::PriceBookHistoryStore
    + crate::invoices::InvoiceStore
    + crate::sync::open_jobs::OpenJobStore
    + crate::sync::held_sets::HeldSetStore
{
}

impl<T> AppStore for T where
    T: Store
        + JobStore
        + RejectionStore
        + InventoryStore
        + FeedbackStore
        + OutboxStore
        + WebSessionStore
        + LockoutStore
        + AttachmentStore
        + CustomerStore
        + crate::recalls::RecallStore
        + crate::returns::ReturnStore
        + crate::customers::WarrantyStore
        + crate::refunds::RefundStore
        + crate::shipments::ShipmentStore
        + crate::users::UserAdminStore
        + crate::desk::DeskStore
        + crate::jobs::PriceBookHistoryStore
        + crate::invoices::InvoiceStore
        + crate::sync::open_jobs::OpenJobStore
        + crate::sync::held_sets::HeldSetStore
{
}

/// The projectors every job commit runs, in this order: the invoice (it
/// must see the jobs row as it was before the commit), the jobs list,
/// the inventory ledger, the feedback request, the job's registry ids, the
/// warranty extension a completed job sold, the attachment references,
/// the recall remedy, the contacts a technician logged (the service desk).
pub fn projectors(settings: &Settings) -> Projectors {
    Projectors::default()
        // Before the jobs list: it tells the commit that completes a job
        // (the jobs row is not completed yet) from later ones.
        .register(crate::invoices::InvoiceProjector::new(
            settings.invoices.clone(),
            settings.feedback.outbox_max_attempts,
        ))
        .register(jobs::ListProjector)
        .register(inventory::ConsumptionProjector)
        .register(feedback::RequestProjector::new(settings.feedback.clone()))
        .register(crate::customers::RegistryProjector)
        .register(crate::customers::WarrantyProjector)
        .register(crate::attachments::RefProjector)
        .register(crate::recalls::RemedyProjector)
        .register(crate::returns::ReturnProjector)
        .register(crate::refunds::RefundProjector)
        .register(crate::desk::ContactProjector)
}

/// Everything a handler can reach. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AppStore>,
    /// What features derive from each job commit (see [`projectors`]).
    pub projectors: Arc<Projectors>,
    /// JWT signing and verification keys (see [`crate::auth::jwt`]).
    pub keys: Arc<JwtKeys>,
    /// Decoded documents by id, with the store version they reflect and
    /// what they read as (see [`crate::documents`]).
    pub docs: Arc<crate::documents::Cache>,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Login throttling (API and console share it).
    pub throttle: Arc<auth::throttle::LoginThrottle>,
    /// The automerge actor of this server process: office edits made
    /// through the API carry it. Random per process, so two processes (or
    /// one after a restart) never reuse an actor's sequence numbers.
    pub actor: automerge::ActorId,
    /// Who may start sync work now (per device, in flight, memory).
    pub sync_gate: Arc<crate::sync::gate::SyncGate>,
    /// Where attachment bytes live (see [`crate::attachments::blobs`]).
    pub blobs: BlobStore,
    /// "Today" for the features that compare dates with it (recalls'
    /// overdue commitments); tests move it forward.
    pub clock: crate::clock::Clock,
    /// Uploads being checked and stored at once (slots, memory from the
    /// sync gate's budget).
    pub finishing: Arc<crate::attachments::finishing::Finishing>,
    /// The company's name, logo and colours on customers' pages and emails.
    pub brand: Arc<crate::brand::Brand>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open database {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot open the blob store: {0}")]
    Blobs(#[from] BlobError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Brand(#[from] crate::brand::BrandError),
}

/// Opens (creating, migrating) the database the settings name.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn AppStore>, ServeError> {
    if settings.uses_data_dir() {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| ServeError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
    }
    let url = settings.database_url();
    match store::open(&url).await {
        Ok(store) => Ok(store),
        Err(source) => Err(ServeError::Database {
            url: redact_url(&url),
            source,
        }),
    }
}

impl AppState {
    /// Opens the database and loads the signing keys.
    pub async fn build(settings: Settings) -> Result<Self, ServeError> {
        let store = open_store(&settings).await?;
        Self::with_store(settings, store).await
    }

    pub async fn with_store(
        settings: Settings,
        store: Arc<dyn AppStore>,
    ) -> Result<Self, ServeError> {
        let blobs = BlobStore::open(settings.attachments.blob_url.as_deref(), &settings.data_dir)?;
        Self::with_parts(settings, store, blobs).await
    }

    /// [`Self::with_store`] with a blob store opened by the caller.
    pub async fn with_parts(
        settings: Settings,
        store: Arc<dyn AppStore>,
        blobs: BlobStore,
    ) -> Result<Self, ServeError> {
        let brand = Arc::new(crate::brand::Brand::load(&settings.brand)?);
        let keys = JwtKeys::load(store.clone(), settings.access_ttl()).await?;
        let sync_gate = Arc::new(crate::sync::gate::SyncGate::new(
            settings.max_in_flight_syncs,
            settings.memory_budget_bytes(),
        ));
        let finishing = Arc::new(crate::attachments::finishing::Finishing::from_settings(
            settings.attachments.max_finishing_uploads,
            settings.attachments.finishing_niceness,
        ));
        Ok(Self {
            store,
            projectors: Arc::new(projectors(&settings)),
            keys: Arc::new(keys),
            docs: Arc::new(DocCache::new(
                settings.doc_cache_bytes(),
                settings.doc_cache_entries.map(NonZeroUsize::get),
            )),
            throttle: Arc::new(auth::throttle::LoginThrottle::new(settings.login.clone())),
            settings: Arc::new(settings),
            metrics: ops::metrics_handle(),
            actor: automerge::ActorId::random(),
            sync_gate,
            blobs,
            clock: crate::clock::Clock::default(),
            finishing,
            brand,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Fieldsync API", description = "Sync, dispatch and auth for Fieldsync."),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login, token refresh, the caller"),
        (name = "devices", description = "Registered devices"),
        (name = "inventory", description = "Depots, vans, parts, the stock ledger"),
        (name = "feedback", description = "Customer feedback results, delivery state, follow-ups"),
        (name = "sync", description = "The devices' batch sync endpoint (CBOR)"),
        (name = "jobs", description = "Dispatch: jobs as JSON, office edits merged with devices'"),
        (name = "pricebook", description = "The price book devices bill with"),
        (name = "attachments", description = "Photos, documents and signature images of jobs: resumable uploads, downloads, thumbnails"),
        (name = "customers", description = "Customers, sites, contacts, the installed base and the single view"),
        (name = "recalls", description = "Product recall campaigns: affected assets, quarantined stock, remedies"),
        (name = "returns", description = "Returns (RMA): opened on a visit or by the office, numbered by the server, received at a depot"),
        (name = "refunds", description = "Refunds and credit notes within limits: giving, the approvals queue, decisions, the audit"),
        (name = "shipments", description = "Spare parts shipped from a depot to a customer's site"),
        (name = "desk", description = "The service desk: customer contacts, team queues, escalations, routing rules"),
        (name = "brand", description = "The company's logo on customers' pages and emails"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The documented API routes; each feature module adds its own router here.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(inventory::routes::router())
        .merge(crate::feedback::api::router())
        .merge(crate::sync::router())
        .merge(crate::jobs::router())
        .merge(crate::attachments::router())
        .merge(crate::customers::routes::router())
        .merge(crate::recalls::routes::router())
        .merge(crate::returns::routes::router())
        .merge(crate::refunds::routes::router())
        .merge(crate::shipments::routes::router())
        .merge(crate::users::routes::router())
        .merge(crate::desk::routes::router())
        .merge(crate::brand::router())
        .merge(crate::invoices::routes::router())
}

/// The OpenAPI document of every route in [`api_routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().into_openapi();
    crate::error::document_common_errors(&mut doc);
    doc
}

/// The whole HTTP application for `state`. Pure: no I/O until it is served.
/// `/metrics` is here unless `--metrics-listen` moves it to [`metrics_router`].
pub fn router(state: AppState) -> Router {
    let (api, mut doc) = api_routes().split_for_parts();
    crate::error::document_common_errors(&mut doc);
    let doc = Arc::new(doc);
    let mut api = api.merge(ops::router());
    if state.settings.metrics_listen.is_none() {
        api = api.merge(ops::metrics_router());
    }
    let routes = api
        .merge(crate::feedback::pages::router(&state.settings))
        .merge(web::router())
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found);
    with_layers(routes, &state.settings).with_state(state)
}

/// The application of the separate metrics listener (`--metrics-listen`):
/// `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    let routes = ops::metrics_router().fallback(not_found);
    with_layers(routes, &state.settings).with_state(state)
}

/// The middleware every route runs in: request ids, tracing, metrics,
/// JSON error bodies, panic containment, timeout and body limit.
fn with_layers<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    settings: &Settings,
) -> Router<S> {
    let x_request_id = HeaderName::from_static("x-request-id");
    // Outermost first. Everything inside `json_error_bodies` may answer with
    // a bare status (limit, timeout, panic, routing): it gets the JSON body.
    let layers = ServiceBuilder::new()
        // On every response (pages, JSON, errors): no page of this server
        // may be framed by another (clickjacking), no body is sniffed as
        // another type. Pages that need a stricter policy set their own CSP
        // (the feedback form does); this one fills in where none is set.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(middleware::from_fn(ops::track_http))
        .layer(middleware::from_fn(json_error_bodies))
        .layer(middleware::from_fn(refuse_nul_in_uri))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        // The limit above is the only one: not axum's 2 MB extractor default.
        .layer(DefaultBodyLimit::disable());
    routes.layer(layers)
}

/// The default Content-Security-Policy (the console's pages): inline styles
/// and SVG, forms posting to this server, no scripts, never inside a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One round of the housekeeping the server runs once a minute: signing
/// keys reloaded, old sync rejections pruned, change rows covered by old
/// snapshots pruned (each a lookup by an indexed time: cheap when there is
/// nothing to prune), closed jobs past the retention archived, service desk breaches alerted, RMA numbers still
/// pending written into their jobs. Failures are logged; the next round
/// tries again.
pub async fn housekeeping_round(state: &AppState) {
    let store = &state.store;
    if let Err(e) = state.keys.reload().await {
        tracing::warn!(error = %e, "reloading signing keys failed");
    }
    let retention = state.settings.rejection_retention_days;
    match crate::jobs::rejections::prune(store.as_ref(), retention, crate::store::now_utc()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "old sync rejections pruned"),
        Err(e) => tracing::warn!(error = %e, "pruning sync rejections failed"),
    }
    // By the injectable clock, like the archive below (zero offset outside tests).
    let before = state.clock.now() - state.settings.refresh_ttl();
    match store.prune_changes(before, PRUNE_DOCS_PER_MINUTE).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "change rows covered by snapshots pruned"),
        Err(e) => tracing::warn!(error = %e, "pruning change rows failed"),
    }
    // Closed jobs past the archive retention (by the injectable clock):
    // final snapshot kept, history dropped, bounded per round.
    if let Some(after) = state.settings.archive_closed_after() {
        let per_round = crate::jobs::archive::ARCHIVE_JOBS_PER_ROUND;
        match crate::jobs::archive::archive_closed(state, after, state.clock.now(), per_round).await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "closed jobs archived"),
            Err(e) => tracing::warn!(error = %e, "archiving closed jobs failed"),
        }
    }
    // Service desk items past their due time: each alerts its team's
    // supervisor once (by the server's injectable clock).
    let attempts = state.settings.feedback.outbox_max_attempts;
    match store.alert_breaches(state.clock.now(), attempts).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(items = n, "service desk SLA breaches alerted"),
        Err(e) => tracing::warn!(error = %e, "alerting SLA breaches failed"),
    }
    // Service contracts within their renewal notice: into sales' queue,
    // once per term.
    match crate::desk::service::open_renewals(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(items = n, "contracts due for renewal queued"),
        Err(e) => tracing::warn!(error = %e, "queueing contract renewals failed"),
    }
    // Returns numbered in a commit whose write into the job failed (or
    // never ran): bounded per round, oldest first.
    let per_round = crate::returns::service::WRITE_BACK_JOBS_PER_ROUND;
    match crate::returns::service::write_back_pending(state, per_round).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "pending RMA numbers written into jobs"),
        Err(e) => tracing::warn!(error = %e, "writing pending RMA numbers failed"),
    }
    // Invoices: numbers still to be written into their jobs, then the
    // reminders due by the injectable clock.
    crate::invoices::service::housekeeping(state).await;
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then
/// finishes in-flight requests. With `--metrics-listen`, `/metrics` is
/// served on that address instead (bound here).
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = match state.settings.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    serve_listeners(state, listener, metrics, shutdown).await
}

/// [`serve_state`] on listeners bound by the caller (tests bind port 0).
/// `metrics` must be given exactly when the settings name `--metrics-listen`.
pub async fn serve_listeners(
    state: AppState,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // One shutdown signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let metrics_server = metrics.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving /metrics");
        }
        let app = metrics_router(state.clone());
        let stop = until_stopped(stopped.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        })
    });
    // Housekeeping, once a minute (every server process may run it).
    let housekeeper = state.clone();
    let reloader = tokio::spawn(async move {
        let mut every = tokio::time::interval(jwt::RELOAD_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            housekeeping_round(&housekeeper).await;
        }
    });
    let outbox = state.settings.feedback.outbox_worker.then(|| {
        let public_url = state
            .settings
            .feedback
            .public_url
            .clone()
            .unwrap_or_else(|| {
                listener
                    .local_addr()
                    .map(|a| format!("http://{a}"))
                    .unwrap_or_else(|_| format!("http://{}", state.settings.listen))
            });
        crate::outbox::Worker::new(
            state.store.clone(),
            state.settings.feedback.clone(),
            public_url,
        )
        .with_brand(state.brand.clone())
        .with_invoices(state.settings.invoices.clone())
        .spawn()
    });
    // The attachment sweep runs beside the outbox worker (same switch).
    let sweeper = state.settings.feedback.outbox_worker.then(|| {
        crate::attachments::lifecycle::Sweeper::new(
            state.store.clone(),
            state.blobs.clone(),
            state.settings.attachments.clone(),
        )
        .spawn()
    });
    // Connect info: the feedback form rate-limits per client address.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(until_stopped(stopped))
        .await;
    reloader.abort();
    signal.abort();
    if let Some(outbox) = outbox {
        outbox.abort();
    }
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    if let Some(metrics) = metrics_server {
        // The main server stopped: so does this one (same signal), unless
        // the main one failed, in which case it is stopped here.
        if result.is_err() {
            metrics.abort();
        }
        match metrics.await {
            Ok(r) => r?,
            Err(e) if e.is_cancelled() => {}
            Err(e) => return Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
    Ok(result?)
}

/// Opens the database named by `settings`, then serves on `listener`.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::build(settings).await?;
    tracing::info!(addr = %listener.local_addr()?, backend = ?state.store.backend(), blobs = %state.blobs.location(), "serving");
    serve_state(state, listener, shutdown).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// The request's log span. It names the route template
/// (`/feedback/{token}`), never the path itself, the query string or the
/// body: paths carry link tokens and ids, queries anything at all.
fn request_span(req: &Request<Body>) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        request_id = %request_id,
    )
}

/// A `%00` in the path or query string is a 400 on every route: no
/// handler, query or store ever sees a NUL (PostgreSQL cannot store one).
async fn refuse_nul_in_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let nul = crate::extract::urlencoded_has_nul(uri.path().as_bytes())
        || uri
            .query()
            .is_some_and(|q| crate::extract::urlencoded_has_nul(q.as_bytes()));
    if nul {
        return ApiError::BadRequest(crate::extract::NUL_MESSAGE.into()).into_response();
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic message itself is printed by the panic hook; never to the client.
    tracing::error!("request handler panicked");
    ApiError::internal("handler panicked").into_response()
}

/// Gives error responses produced by layers and the router (which have
/// empty or plain-text bodies) the API's JSON error body.
async fn json_error_bodies(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON bodies, and the console's HTML error pages, are already right.
    let has_body = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if has_body {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut replaced = ApiError::from_status(status).into_response();
    // Keep the original status and headers other than the body's.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in replaced.headers() {
        if !parts.headers.contains_key(name) {
            parts.headers.insert(name.clone(), value.clone());
        }
    }
    *replaced.headers_mut() = parts.headers;
    *replaced.status_mut() = status;
    replaced
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::to_bytes;
    use tower::ServiceExt as _;

    use super::*;

    async fn call(app: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let res = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).expect("a JSON body"))
    }

    fn test_app() -> Router {
        let settings = Settings {
            request_timeout_secs: 1,
            ..Settings::default()
        };
        let routes = Router::new()
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "unreachable"
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        with_layers(routes, &settings)
    }

    #[tokio::test]
    async fn a_panicking_handler_is_an_opaque_json_500() {
        let (status, body) = call(test_app(), "/panic").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("boom"), "{body}");
    }

    #[tokio::test]
    async fn a_slow_request_times_out_with_json() {
        let (status, body) = call(test_app(), "/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "timeout");
    }
}

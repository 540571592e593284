//! [`FieldsyncClient`]: the object the app holds. A thin, thread-safe shell
//! around [`Local`] (state and store) and [`Http`] (the optional transport).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fieldsync_core::{JobAction, Quantity};

use fieldsync_core::automerge::ActorId;

use crate::device::{Device, Slot};
use crate::error::{FieldsyncError, Result};
use crate::http::{Http, SyncHeaders, SyncReply, UploadReply};
use crate::local::{Local, PendingUpload, Session, parse_line};
use crate::records::*;
use crate::upload::chunks;

/// Most requests one [`FieldsyncClient::sync`] sends. A routine sync takes
/// one; a new install or lost state a few more.
pub const MAX_ROUNDS: u32 = 8;

/// Refresh the access token when it expires within this margin.
const REFRESH_MARGIN_MS: i64 = 30_000;

#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientOptions {
    /// Connect and whole-request timeout of the HTTP transport.
    pub http_timeout_ms: u64,
    /// After the server refuses an action, keep the job frozen as it is
    /// (for a supervisor to look at) instead of rebuilding it at once
    /// without that action. See `frozenJobs`, `recoverJob`, `unfreezeJob`.
    #[uniffi(default = false)]
    pub freeze_rejected_jobs: bool,
    /// The app's version (`2.3.1 (android)`), sent with every sync as
    /// `X-Fieldsync-App-Version` and shown on the office's devices list.
    /// Without it the server shows the library's `fieldsync-ffi/<version>`.
    #[uniffi(default = None)]
    pub app_version: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            http_timeout_ms: 30_000,
            freeze_rejected_jobs: false,
            app_version: None,
        }
    }
}

/// The offline client: one per app, over the app's data directory, which
/// holds one store per user who logged in on this device (see
/// [`crate::device`]); only the logged-in user's store is open.
///
/// Every action is validated by sync-core (as the server will) and is on
/// disk when the call returns. Calls may come from any thread; they are
/// serialised. Network calls (`login`, `sync`) block: call them off the UI
/// thread.
#[derive(uniffi::Object)]
pub struct FieldsyncClient {
    /// `None` once released.
    open: Mutex<Option<Open>>,
    /// Serialises login, refresh and sync, so a refresh token is never sent twice.
    net: Mutex<()>,
    /// Serialises uploads (apart from `net`: an upload never holds up a sync).
    uploads: Mutex<()>,
    http: OnceLock<Http>,
    options: ClientOptions,
}

/// The open data directory and, while someone is logged in, their store.
struct Open {
    device: Device,
    local: Option<Local>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl FieldsyncClient {
    fn with_open<T>(&self, f: impl FnOnce(&mut Open) -> Result<T>) -> Result<T> {
        let mut guard = self.open.lock().map_err(|_| FieldsyncError::Internal {
            reason: "an earlier call failed badly: reopen the client".into(),
        })?;
        let open = guard.as_mut().ok_or_else(|| FieldsyncError::Internal {
            reason: "the client is closed".into(),
        })?;
        f(open)
    }

    /// The logged-in user's store; `NotLoggedIn` when nobody is.
    fn with<T>(&self, f: impl FnOnce(&mut Local) -> Result<T>) -> Result<T> {
        self.with_open(|o| f(o.local.as_mut().ok_or(FieldsyncError::NotLoggedIn)?))
    }

    /// Makes `session`'s user the logged-in one: their store (the next new
    /// user's store if they never logged in here) is opened and keeps the
    /// session. Whoever was logged in before is logged out (tokens
    /// forgotten, work kept in their store for their next login).
    fn switch_to(&self, session: Session) -> Result<SessionInfo> {
        let info = session.info();
        self.with_open(|o| {
            if let Some(local) = o.local.as_mut()
                && local
                    .session()
                    .is_some_and(|s| s.user_id == session.user_id)
            {
                return local.set_session(session);
            }
            if let Some(mut previous) = o.local.take() {
                previous.clear_session()?;
            }
            o.device.set_current(None)?;
            let dir = o
                .device
                .claim(session.user_id, &session.username, now_ms())?;
            let user = session.user_id;
            let mut local = Local::open(&dir, now_ms())?;
            local.freeze_rejected = self.options.freeze_rejected_jobs;
            local.set_session(session)?;
            o.local = Some(local);
            o.device.set_current(Some(user))
        })?;
        Ok(info)
    }

    fn http(&self) -> Result<&Http> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = Http::new(Duration::from_millis(self.options.http_timeout_ms))?;
        Ok(self.http.get_or_init(|| h))
    }

    fn net_lock(&self) -> Result<MutexGuard<'_, ()>> {
        self.net.lock().map_err(|_| FieldsyncError::Internal {
            reason: "an earlier network call failed badly: reopen the client".into(),
        })
    }

    fn act(&self, job_id: &str, action: JobAction) -> Result<()> {
        self.with(|l| l.act(job_id, action, now_ms()))
    }

    /// The server URL and session for the built-in transport.
    fn online_session(&self) -> Result<(String, Session)> {
        self.with(|l| {
            let s = l.session().cloned().ok_or(FieldsyncError::NotLoggedIn)?;
            let url = s.server_url.clone().ok_or_else(|| {
                FieldsyncError::invalid("the session has no server URL: log in with login()")
            })?;
            Ok((url, s))
        })
    }

    /// Trades the refresh token; the new pair is on disk before it is used.
    fn refresh(&self, base: &str, session: &Session) -> Result<String> {
        let tokens = self.http()?.refresh(base, &session.refresh_token)?;
        let fresh = Session::from_tokens(tokens, now_ms())?;
        let access = fresh.access_token.clone();
        self.with(|l| l.set_session(fresh))?;
        Ok(access)
    }

    /// One request, refreshing the access token once if the server refuses it.
    fn post_sync(
        &self,
        base: &str,
        token: &mut String,
        body: Vec<u8>,
        report: &SyncHeaders,
    ) -> Result<Vec<u8>> {
        match self.http()?.sync(base, token, body.clone(), report)? {
            SyncReply::Ok(bytes) => Ok(bytes),
            SyncReply::Unauthorized => {
                let (_, session) = self.online_session()?;
                *token = self.refresh(base, &session)?;
                match self.http()?.sync(base, token, body, report)? {
                    SyncReply::Ok(bytes) => Ok(bytes),
                    SyncReply::Unauthorized => Err(FieldsyncError::SessionExpired {
                        reason: "the server refused a fresh access token".into(),
                    }),
                }
            }
        }
    }
}

/// How one file's upload ended in this call.
enum Uploaded {
    /// Finished now (after sending bytes).
    Completed,
    /// The server already had it.
    AlreadyThere,
    WaitingForSync,
    Refused,
    /// Paused between chunks; the rest goes later.
    Paused,
}

impl FieldsyncClient {
    /// One upload request, refreshing the access token once if refused.
    /// The net lock is taken only for the refresh, never for the transfer.
    fn upload_call(
        &self,
        base: &str,
        token: &mut String,
        call: impl Fn(&Http, &str) -> Result<UploadReply>,
    ) -> Result<UploadReply> {
        let reply = call(self.http()?, token)?;
        if !matches!(reply, UploadReply::Unauthorized) {
            return Ok(reply);
        }
        {
            let _net = self.net_lock()?;
            let (_, session) = self.online_session()?;
            *token = if session.access_token != *token
                && session.access_expires_at_ms - REFRESH_MARGIN_MS > now_ms()
            {
                // A sync refreshed it meanwhile.
                session.access_token
            } else {
                self.refresh(base, &session)?
            };
        }
        match call(self.http()?, token)? {
            UploadReply::Unauthorized => Err(FieldsyncError::SessionExpired {
                reason: "the server refused a fresh access token".into(),
            }),
            reply => Ok(reply),
        }
    }

    /// Uploads one blob: asks what the server has, sends the missing
    /// chunks, and starts over once if the server's hash check fails.
    fn upload_one(
        &self,
        base: &str,
        token: &mut String,
        p: &PendingUpload,
        sent: &mut u64,
    ) -> Result<Uploaded> {
        let (job, sha) = (p.job_id.as_str(), p.sha256.as_str());
        let mut restarted = false;
        let mut sent_here = false;
        // Each pass: the status, then every missing chunk. A pass after the
        // last chunk only happens if the server lost bytes meanwhile.
        for _pass in 0..3 {
            let status =
                match self.upload_call(base, token, |h, t| h.upload_status(base, t, job, sha))? {
                    UploadReply::Status(s) => s,
                    UploadReply::NotFound => return Ok(Uploaded::WaitingForSync),
                    UploadReply::Refused { code } => {
                        self.with(|l| l.mark_refused(sha, &code))?;
                        return Ok(Uploaded::Refused);
                    }
                    UploadReply::HashMismatch | UploadReply::Unauthorized => {
                        return Err(FieldsyncError::Server {
                            status: 200,
                            code: "bad_response".into(),
                            reason: "unexpected answer to an upload status".into(),
                        });
                    }
                };
            if status.complete {
                self.with(|l| l.mark_uploaded(sha))?;
                return Ok(if sent_here {
                    Uploaded::Completed
                } else {
                    Uploaded::AlreadyThere
                });
            }
            self.with(|l| {
                l.set_progress(sha, status.bytes_received(p.size));
                Ok(())
            })?;
            for (start, end) in chunks(&status.received, p.size) {
                if self.with(|l| Ok(l.uploads_paused()))? {
                    return Ok(Uploaded::Paused);
                }
                let len = usize::try_from(end - start).unwrap_or(usize::MAX);
                let bytes = self.with(|l| l.blobs().read(sha, start, len))?;
                if bytes.len() != len {
                    return Err(FieldsyncError::corrupt(
                        "attachment blob",
                        "shorter than its reference",
                    ));
                }
                let reply = self.upload_call(base, token, |h, t| {
                    h.upload_chunk(base, t, (job, sha), start, p.size, bytes.clone())
                })?;
                sent_here = true;
                *sent += end - start;
                match reply {
                    UploadReply::Status(s) if s.complete => {
                        self.with(|l| l.mark_uploaded(sha))?;
                        return Ok(Uploaded::Completed);
                    }
                    UploadReply::Status(s) => self.with(|l| {
                        l.set_progress(sha, s.bytes_received(p.size));
                        Ok(())
                    })?,
                    UploadReply::NotFound => return Ok(Uploaded::WaitingForSync),
                    UploadReply::HashMismatch if !restarted => {
                        // The server discarded its staging: once from byte 0.
                        restarted = true;
                        break;
                    }
                    UploadReply::HashMismatch => {
                        self.with(|l| l.mark_refused(sha, "hash_mismatch"))?;
                        return Ok(Uploaded::Refused);
                    }
                    UploadReply::Refused { code } => {
                        self.with(|l| l.mark_refused(sha, &code))?;
                        return Ok(Uploaded::Refused);
                    }
                    UploadReply::Unauthorized => {
                        return Err(FieldsyncError::SessionExpired {
                            reason: "the server refused a fresh access token".into(),
                        });
                    }
                }
            }
        }
        Err(FieldsyncError::Server {
            status: 200,
            code: "upload_incomplete".into(),
            reason: "the server did not complete the upload after every chunk was sent".into(),
        })
    }
}

#[uniffi::export]
impl FieldsyncClient {
    /// Opens (creating if needed) the store in `dir`, an app-private directory.
    #[uniffi::constructor]
    pub fn open(dir: String) -> Result<Arc<Self>> {
        Self::open_with_options(dir, ClientOptions::default())
    }

    #[uniffi::constructor]
    pub fn open_with_options(dir: String, options: ClientOptions) -> Result<Arc<Self>> {
        if dir.is_empty() {
            return Err(FieldsyncError::invalid("dir is empty"));
        }
        if let Some(v) = &options.app_version {
            let printable = !v.trim().is_empty() && v.chars().all(|c| !c.is_control());
            if !printable || v.chars().count() > 100 {
                return Err(FieldsyncError::invalid(
                    "app_version must have 1-100 printable characters",
                ));
            }
        }
        let device = Device::open(Path::new(&dir))?;
        let local = match device.current() {
            // (A store the app deleted to wipe a user: nobody is logged in.)
            Some(user) if device.store_actor(user)?.is_some() => {
                let mut local = Local::open(&device.user_dir(user), now_ms())?;
                local.freeze_rejected = options.freeze_rejected_jobs;
                // A crash between a switch's steps can leave a store
                // without its session: nobody is logged in then.
                local.session().is_some().then_some(local)
            }
            _ => None,
        };
        Ok(Arc::new(Self {
            open: Mutex::new(Some(Open { device, local })),
            net: Mutex::new(()),
            uploads: Mutex::new(()),
            http: OnceLock::new(),
            options,
        }))
    }

    /// Releases the store (its lock) now, without waiting for the object to
    /// be freed (Kotlin `close()`, Swift `deinit`); any later call fails.
    pub fn release(&self) {
        if let Ok(mut g) = self.open.lock() {
            g.take();
        }
    }

    /// The logged-in user's automerge actor id (32 hex digits), the
    /// device's identity on the server; with nobody logged in, the one the
    /// next user new to this device gets. Apps logging in themselves
    /// (sans-IO) send `loginActorId(username)` instead.
    pub fn actor_id(&self) -> Result<String> {
        self.with_open(|o| match &o.local {
            Some(l) => Ok(l.actor_hex()),
            None => Ok(hex::encode(o.device.new_actor(now_ms())?.to_bytes())),
        })
    }

    /// The actor id a login of `username` must register (`device.actor_id`
    /// of `POST /v1/auth/login`): their own store's if they logged in on
    /// this device before, else the next new user's. For apps that log in
    /// themselves and then call `setSession`.
    pub fn login_actor_id(&self, username: String) -> Result<String> {
        self.with_open(|o| {
            let (actor, _) = o.device.login_actor(&username, now_ms())?;
            Ok(hex::encode(actor.to_bytes()))
        })
    }

    // ----- session -----

    /// Who is logged in, if anyone.
    pub fn session(&self) -> Result<Option<SessionInfo>> {
        self.with_open(|o| {
            Ok(o.local
                .as_ref()
                .and_then(|l| l.session().map(Session::info)))
        })
    }

    /// Logs in over HTTP and stores the session.
    pub fn login(
        &self,
        server_url: String,
        username: String,
        password: String,
        device_name: String,
    ) -> Result<SessionInfo> {
        let _net = self.net_lock()?;
        let (actor, slot) = self.with_open(|o| o.device.login_actor(&username, now_ms()))?;
        let http = self.http()?;
        let login = |actor: &ActorId| {
            http.login(
                &server_url,
                &username,
                &password,
                &device_name,
                &hex::encode(actor.to_bytes()),
            )
        };
        let mut session = Session::from_tokens(login(&actor)?, now_ms())?;
        let theirs = self.with_open(|o| o.device.store_actor(session.user_id))?;
        if let Some(theirs) = theirs
            && theirs != actor
        {
            // They have a store here under another username: their store's
            // actor is their device. The new store's actor is now theirs
            // on the server, so no one else could use it.
            if slot == Slot::New {
                self.with_open(|o| o.device.retire_new(&actor))?;
            }
            session = Session::from_tokens(login(&theirs)?, now_ms())?;
        }
        self.switch_to(session)
    }

    /// Stores a session the app obtained itself (sans-IO use), logged in
    /// with `loginActorId(username)`. Another user's session switches
    /// stores as `login` does.
    pub fn set_session(&self, tokens: SessionTokens) -> Result<SessionInfo> {
        self.switch_to(Session::from_tokens(tokens, now_ms())?)
    }

    /// Logs the user out: the tokens are forgotten and their store is
    /// closed, so nothing of theirs is shown until they log in again (any
    /// call but `login`, `setSession`, `session` and the actor ids then
    /// fails with `NotLoggedIn`). Their jobs and unsynced work stay in
    /// their store and are sent, under their credentials, after their next
    /// login on this device. Ask `pendingChangeCount()` first to warn them.
    pub fn log_out(&self) -> Result<()> {
        self.with_open(|o| {
            if let Some(mut local) = o.local.take() {
                local.clear_session()?;
            }
            o.device.set_current(None)
        })
    }

    /// The access token (for apps that add their own API calls); refreshed
    /// first when it is about to expire.
    pub fn access_token(&self) -> Result<String> {
        let _net = self.net_lock()?;
        let (base, session) = self.online_session()?;
        if session.access_expires_at_ms - REFRESH_MARGIN_MS > now_ms() {
            return Ok(session.access_token);
        }
        self.refresh(&base, &session)
    }

    /// What customers said about my visits (scores with the questions'
    /// labels, comments), newest visit first: `limit` visits (1-100) from
    /// `offset` (the previous page's `nextOffset`). Online only (blocks: call
    /// it off the UI thread); nothing is stored on the device. The server
    /// sends no customer contact data and never another technician's visits.
    /// `Server` 403 for a role without visits.
    pub fn my_feedback(&self, offset: u32, limit: u32) -> Result<MyFeedbackPage> {
        if !(1..=100).contains(&limit) {
            return Err(FieldsyncError::invalid("limit must be 1 to 100"));
        }
        let (base, _) = self.online_session()?;
        let token = self.access_token()?;
        if let Some(page) = self.http()?.my_feedback(&base, &token, offset, limit)? {
            return Ok(page);
        }
        // Refused though fresh by our clock: refresh once (as sync does).
        let token = {
            let _net = self.net_lock()?;
            let (_, session) = self.online_session()?;
            if session.access_token != token
                && session.access_expires_at_ms - REFRESH_MARGIN_MS > now_ms()
            {
                // A sync refreshed it meanwhile.
                session.access_token
            } else {
                self.refresh(&base, &session)?
            }
        };
        self.http()?
            .my_feedback(&base, &token, offset, limit)?
            .ok_or_else(|| FieldsyncError::SessionExpired {
                reason: "the server refused a fresh access token".into(),
            })
    }

    // ----- reads -----

    /// My jobs, by appointment window.
    pub fn jobs(&self) -> Result<Vec<JobSummary>> {
        self.with(|l| l.jobs())
    }

    /// One job in full, billed offline from the synced price book.
    pub fn job(&self, job_id: String) -> Result<JobDetail> {
        self.with(|l| l.job(&job_id))
    }

    /// The warranty extension offers for the job's asset, quoted from the
    /// synced price book (with tax, and the warranty end each would give).
    /// `NotAllowed` when the job has no registry asset or no price book has
    /// been synced.
    pub fn extension_offers(&self, job_id: String) -> Result<Vec<ExtensionQuote>> {
        let today = time::OffsetDateTime::from_unix_timestamp(now_ms().div_euclid(1000))
            .map(|t| t.date())
            .map_err(|e| FieldsyncError::Internal {
                reason: format!("the device clock: {e}"),
            })?;
        self.with(|l| l.extension_offers(&job_id, today))
    }

    /// Sells the warranty extension offer `code` (from `extensionOffers`) on
    /// the job: one per job, while it is open. It becomes an invoice line;
    /// the server extends the asset's warranty once the job completes.
    /// `Rejected` (`not_in_price_book`, `forbidden`) for an offer the
    /// synced price book lacks or that is for another product.
    pub fn sell_extension(&self, job_id: String, code: String) -> Result<()> {
        self.with(|l| l.sell_extension(&job_id, &code, now_ms()))
    }

    /// My van: the server's last snapshot minus my unsynced use.
    pub fn van_stock(&self) -> Result<Option<VanStockView>> {
        self.with(|l| l.van_stock())
    }

    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.with(|l| l.conflicts())
    }

    /// Actions dropped after the server refused them (or refused one they
    /// needed), oldest first, until dismissed. Everything else on those
    /// jobs was kept and is sent again.
    pub fn rejected_actions(&self) -> Result<Vec<RejectedAction>> {
        self.with(|l| Ok(l.rejected_actions()))
    }

    /// Forgets dropped actions the app has shown to the technician.
    pub fn dismiss_rejected_actions(&self, ids: Vec<String>) -> Result<()> {
        self.with(|l| l.dismiss_rejected_actions(&ids))
    }

    /// Jobs kept frozen after a rejection (`freezeRejectedJobs`).
    pub fn frozen_jobs(&self) -> Result<Vec<FrozenJob>> {
        self.with(|l| Ok(l.frozen_jobs()))
    }

    /// Rebuilds a frozen job without the refused action, keeping every
    /// other action, and releases it; returns the actions dropped.
    pub fn recover_job(&self, job_id: String) -> Result<Vec<RejectedAction>> {
        self.with(|l| l.recover_job(&job_id, now_ms()))
    }

    /// Releases a frozen job as it is: its changes go to the server again
    /// on the next sync (once the office has removed the cause).
    pub fn unfreeze_job(&self, job_id: String) -> Result<()> {
        self.with(|l| l.unfreeze_job(&job_id))
    }

    /// Changes recorded here that the server has not acknowledged yet.
    pub fn pending_change_count(&self) -> Result<u64> {
        self.with(|l| Ok(l.pending_changes()))
    }

    /// When the last sync finished (UTC ms), if ever.
    pub fn last_sync_time_ms(&self) -> Result<Option<i64>> {
        self.with(|l| Ok(l.last_sync_ms()))
    }

    // ----- technician actions (validated, durable on return) -----

    pub fn start_travel(&self, job_id: String) -> Result<()> {
        self.act(&job_id, JobAction::StartTravel)
    }

    pub fn arrive(&self, job_id: String) -> Result<()> {
        self.act(&job_id, JobAction::Arrive)
    }

    /// Returns the new labour entry's id.
    pub fn add_labour(
        &self,
        job_id: String,
        minutes: u32,
        rate: String,
        description: String,
    ) -> Result<String> {
        self.with(|l| l.add_labour(&job_id, minutes, rate, description, now_ms()))
    }

    /// Parts from my van (`van_id`: `None` for the van whose stock the
    /// server sent). Serialized skus (price book or van stock) need one
    /// serial per unit. Returns the new part line's id.
    pub fn use_part(
        &self,
        job_id: String,
        sku: String,
        quantity: u32,
        serials: Vec<String>,
        van_id: Option<String>,
    ) -> Result<String> {
        self.with(|l| {
            l.use_part(
                &job_id,
                &sku,
                quantity,
                serials,
                van_id.as_deref(),
                now_ms(),
            )
        })
    }

    pub fn void_part_line(&self, job_id: String, line_id: String) -> Result<()> {
        let line = parse_line(&line_id)?;
        self.act(&job_id, JobAction::VoidPartLine { line })
    }

    /// Sets how many units a part line of mine took (more from the same
    /// van, or some put back). A serialized line keeps one serial per unit,
    /// so its quantity cannot change: void it and add a new line.
    pub fn set_part_quantity(&self, job_id: String, line_id: String, quantity: u32) -> Result<()> {
        let line = parse_line(&line_id)?;
        let quantity = Quantity::new(quantity)?;
        self.act(&job_id, JobAction::SetPartQuantity { line, quantity })
    }

    /// Corrects a labour entry of mine in place: its minutes, rate and
    /// description become these (only what differs is written).
    pub fn correct_labour_entry(
        &self,
        job_id: String,
        entry_id: String,
        minutes: u32,
        rate: String,
        description: String,
    ) -> Result<()> {
        let entry = parse_line(&entry_id)?;
        self.act(
            &job_id,
            JobAction::CorrectLabourEntry {
                entry,
                minutes,
                rate,
                description,
            },
        )
    }

    /// Voids a labour entry of mine: it stays on the job, marked voided,
    /// and is no longer billed.
    pub fn void_labour_entry(&self, job_id: String, entry_id: String) -> Result<()> {
        let entry = parse_line(&entry_id)?;
        self.act(&job_id, JobAction::VoidLabourEntry { entry })
    }

    pub fn add_note(&self, job_id: String, text: String) -> Result<()> {
        self.act(&job_id, JobAction::AddNote { text })
    }

    pub fn answer_checklist(&self, job_id: String, item_id: String, value: String) -> Result<()> {
        let item = parse_line(&item_id)?;
        self.act(&job_id, JobAction::AnswerChecklist { item, value })
    }

    /// `method`: cash, card, cheque, bank_transfer or other. Never a card
    /// number in `reference`. Returns the new payment's id.
    pub fn record_payment(
        &self,
        job_id: String,
        method: String,
        amount_minor: i64,
        reference: Option<String>,
    ) -> Result<String> {
        self.with(|l| l.record_payment(&job_id, &method, amount_minor, reference, now_ms()))
    }

    /// Gives a refund (`kind` = `refund`, `against_id` a payment of the
    /// job) or a credit note (`credit`, against a labour entry or part
    /// line), with a reason (never card data). Above the user's limit (the
    /// price book carries it) it waits for a supervisor: the bill lists it
    /// as `pending` and does not count it. Returns the refund's id.
    pub fn give_refund(
        &self,
        job_id: String,
        kind: String,
        against_id: String,
        amount_minor: i64,
        reason: String,
    ) -> Result<String> {
        self.with(|l| l.give_refund(&job_id, &kind, &against_id, amount_minor, reason, now_ms()))
    }

    /// Logs a customer contact on site: `channel` (phone, email, sms,
    /// on_site, web, feedback), `direction` (inbound, outbound), `category`
    /// (technical, billing, contract, return, parts, sales_lead, complaint)
    /// and a summary (never a card number). It reaches the office's service
    /// desk with the next sync. Refused on a job the server has not upgraded
    /// to schema 3 yet (sync first). Returns the contact's id.
    pub fn log_contact(
        &self,
        job_id: String,
        channel: String,
        direction: String,
        category: String,
        summary: String,
    ) -> Result<String> {
        self.with(|l| l.log_contact(&job_id, &channel, &direction, &category, summary, now_ms()))
    }

    /// Attaches a file to the job by reference: its SHA-256 (64 hex digits),
    /// size, media type (`image/jpeg`), `kind` (before, after, serial_plate,
    /// signature or document) and a caption (may be empty). The bytes travel
    /// separately from sync. Refused on a job the server has not upgraded to
    /// schema 2 yet (sync first). Returns the attachment's id.
    pub fn add_attachment(
        &self,
        job_id: String,
        sha256: String,
        size_bytes: u64,
        media_type: String,
        kind: String,
        caption: String,
    ) -> Result<String> {
        self.with(|l| {
            l.add_attachment(
                &job_id,
                sha256,
                size_bytes,
                media_type,
                &kind,
                caption,
                now_ms(),
            )
        })
    }

    /// Attaches the file at `path` to the job: copies it into the store
    /// (content-addressed by its SHA-256, durable on return) and adds the
    /// reference (hash, size, `media_type`, `kind`, caption, taken-at) to
    /// the job like any action. The app may delete its own copy afterwards.
    /// `kind`: before, after, serial_plate, signature (the image whose hash
    /// `captureSignature` took) or document. The bytes go to the server with
    /// `uploadAttachments`, never with `sync`. Returns the attachment's id
    /// (the answer to a photo checklist item).
    pub fn attach_file(
        &self,
        job_id: String,
        path: String,
        kind: String,
        caption: String,
        media_type: String,
    ) -> Result<String> {
        self.with(|l| l.attach_file(&job_id, &path, &kind, caption, media_type, now_ms()))
    }

    /// Uploads the attached files the server does not hold yet, in 256 KiB
    /// chunks, asking the server first which bytes it has (so a cut
    /// connection resumes where it stopped, and a file the server already
    /// has is skipped). A file's reference must have been synced first;
    /// those not synced yet wait (`waitingForSync`). Blocks: call it off the
    /// UI thread, after `sync` or on its own schedule; it never holds up a
    /// sync. A network error ends the call; what was sent stays sent.
    pub fn upload_attachments(&self) -> Result<UploadReport> {
        let _uploads = self.uploads.lock().map_err(|_| FieldsyncError::Internal {
            reason: "an earlier upload failed badly: reopen the client".into(),
        })?;
        let pending = self.with(|l| l.pending_uploads())?;
        let mut report = UploadReport::default();
        if self.with(|l| Ok(l.uploads_paused()))? {
            report.paused = true;
            report.remaining = u32::try_from(pending.len()).unwrap_or(u32::MAX);
            return Ok(report);
        }
        if pending.is_empty() {
            report.pruned = u32::try_from(self.with(|l| l.prune_blobs())?).unwrap_or(u32::MAX);
            return Ok(report);
        }
        let (base, _) = self.online_session()?;
        let mut token = self.access_token()?;
        for p in &pending {
            match self.upload_one(&base, &mut token, p, &mut report.bytes_sent)? {
                Uploaded::Completed => report.completed += 1,
                Uploaded::AlreadyThere => report.already_on_server += 1,
                Uploaded::WaitingForSync => report.waiting_for_sync += 1,
                Uploaded::Refused => report.refused += 1,
                Uploaded::Paused => {
                    report.paused = true;
                    break;
                }
            }
        }
        report.remaining =
            u32::try_from(self.with(|l| l.pending_uploads())?.len()).unwrap_or(u32::MAX);
        // Uploaded blobs of closed jobs are not needed here any more.
        report.pruned = u32::try_from(self.with(|l| l.prune_blobs())?).unwrap_or(u32::MAX);
        Ok(report)
    }

    /// Sends `job_id`'s refused attachments again on the next
    /// `uploadAttachments` (the refusal, `AttachmentUpload.refused`, is
    /// forgotten). Returns how many will be retried.
    pub fn retry_refused_uploads(&self, job_id: String) -> Result<u32> {
        self.with(|l| l.retry_refused_uploads(&job_id))
    }

    /// Pauses (or resumes) uploads, e.g. on a metered network; kept across
    /// restarts. A running upload stops before its next chunk.
    pub fn set_uploads_paused(&self, paused: bool) -> Result<()> {
        self.with(|l| l.set_uploads_paused(paused))
    }

    pub fn uploads_paused(&self) -> Result<bool> {
        self.with(|l| Ok(l.uploads_paused()))
    }

    /// One job's attachments with their upload progress and whether all
    /// of them are on the server.
    pub fn job_uploads(&self, job_id: String) -> Result<JobUploads> {
        self.with(|l| l.job_uploads(&job_id))
    }

    /// Upload progress of every job that has attachments.
    pub fn uploads(&self) -> Result<Vec<JobUploads>> {
        self.with(|l| l.all_uploads())
    }

    /// `image_sha256`: SHA-256 of the signature image (64 hex digits).
    pub fn capture_signature(
        &self,
        job_id: String,
        signer: String,
        image_sha256: String,
    ) -> Result<()> {
        self.act(
            &job_id,
            JobAction::CaptureSignature {
                signer,
                image_sha256,
            },
        )
    }

    /// Records the remedy of the job's recall (see the job's `recall`):
    /// `replacement` `none`, `temporary` or `permanent`, the serials fitted
    /// instead, for a temporary one the committed date (`YYYY-MM-DD`) of the
    /// permanent one, and any value-added service given.
    pub fn record_recall_remedy(
        &self,
        job_id: String,
        replacement: String,
        serials: Vec<String>,
        committed_date: Option<String>,
        service: Option<String>,
    ) -> Result<()> {
        self.with(|l| {
            l.record_recall_remedy(
                &job_id,
                &replacement,
                serials,
                committed_date.as_deref(),
                service,
                now_ms(),
            )
        })
    }

    /// Opens a return (RMA) offline for a part or the product: its sku and
    /// serial, why it goes back, and its `condition` (`unused`, `working`,
    /// `faulty` or `damaged`). Returns the return's id. The job's `returns`
    /// show a provisional reference until a sync brings the RMA number.
    pub fn open_return(
        &self,
        job_id: String,
        sku: String,
        serial: String,
        reason: String,
        condition: String,
    ) -> Result<String> {
        self.with(|l| l.open_return(&job_id, &sku, serial, reason, &condition, now_ms()))
    }

    pub fn complete(&self, job_id: String) -> Result<()> {
        self.act(&job_id, JobAction::Complete)
    }

    pub fn unable_to_complete(&self, job_id: String, reason: String) -> Result<()> {
        self.act(&job_id, JobAction::UnableToComplete { reason })
    }

    // ----- sync, sans-IO -----

    /// Starts a sync: the bytes to POST to /v1/sync (application/cbor).
    pub fn sync_request(&self) -> Result<Vec<u8>> {
        self.with(|l| Ok(l.sync_request()))
    }

    /// The follow-up request when the last result said `more_rounds`.
    pub fn next_sync_request(&self) -> Result<Option<Vec<u8>>> {
        self.with(|l| Ok(l.next_sync_request()))
    }

    /// Applies the server's answer; everything it changed is on disk on return.
    pub fn apply_sync_response(&self, response: Vec<u8>) -> Result<SyncResult> {
        self.with(|l| l.apply_sync_response(&response, now_ms()))
    }

    // ----- sync over the built-in HTTP transport -----

    /// Syncs with the server the session logged in to, running as many
    /// rounds as needed (at most [`MAX_ROUNDS`]). Actions may be taken
    /// meanwhile from other threads; they are sent on the next sync.
    pub fn sync(&self) -> Result<SyncResult> {
        let _net = self.net_lock()?;
        let (base, session) = self.online_session()?;
        let mut token = if session.access_expires_at_ms - REFRESH_MARGIN_MS > now_ms() {
            session.access_token.clone()
        } else {
            self.refresh(&base, &session)?
        };
        let mut total = SyncResult::default();
        // Counted as the sync starts, before anything is acknowledged.
        let report = SyncHeaders {
            pending_changes: self.with(|l| Ok(l.pending_changes()))?,
            app_version: self.options.app_version.clone(),
        };
        let mut body = Some(self.sync_request()?);
        while let Some(request) = body.take() {
            total.rounds += 1;
            let bytes = self.post_sync(&base, &mut token, request, &report)?;
            let r = self.apply_sync_response(bytes)?;
            total.added_jobs += r.added_jobs;
            total.updated_jobs += r.updated_jobs;
            total.removed_jobs += r.removed_jobs;
            total.more_rounds = r.more_rounds;
            total.rejected_actions.extend(r.rejected_actions);
            for job in r.jobs {
                total.jobs.retain(|j| j.job_id != job.job_id);
                total.jobs.push(job);
            }
            if r.more_rounds && total.rounds < MAX_ROUNDS {
                body = self.next_sync_request()?;
            }
        }
        Ok(total)
    }
}

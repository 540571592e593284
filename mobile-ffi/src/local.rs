//! The device's state in memory, mirrored to the [`FileStore`] before any
//! call returns: session, documents, sync bookkeeping; reads, actions and
//! the sans-IO sync steps. Not thread-safe by itself: the client wraps it
//! in a mutex.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fieldsync_core::ServerDoc;
use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::job::{AttachmentKind, PaymentMethod, RefundKind, Replacement, keys};
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::sync::{ClientSession, DocSet, Outcome, SyncResponse, decode_response};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::vanstock::{VanStock, pending_consumption, read_van_stock};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, LocationId, Money, Principal, Quantity, Role, Sku,
    Timestamp, UserId, billing, job::read_job,
};
use serde::{Deserialize, Serialize};

use crate::blobs::{Blobs, UploadState};
use crate::error::{FieldsyncError, Result, reject_code};
use crate::journal::{self, Dropped, Entry, JobJournal, Rollback};
use crate::records::{self, *};
use crate::store::FileStore;

const SESSION_FILE: &str = "session.json";
const SYNC_FILE: &str = "sync.json";
const REJECTED_FILE: &str = "rejected.json";
const UPLOADS_FILE: &str = "uploads.json";

/// The persisted session (tokens included: the store lives in app-private storage).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Session {
    pub server_url: Option<String>,
    pub access_token: String,
    pub access_expires_at_ms: i64,
    pub refresh_token: String,
    pub device_id: String,
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
}

impl Session {
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            server_url: self.server_url.clone(),
            user_id: self.user_id.to_string(),
            username: self.username.clone(),
            role: self.role.as_str().to_owned(),
            device_id: self.device_id.clone(),
            access_expires_at_ms: self.access_expires_at_ms,
        }
    }

    pub fn from_tokens(t: SessionTokens, now_ms: i64) -> Result<Self> {
        Ok(Self {
            server_url: t.server_url,
            access_token: t.access_token,
            access_expires_at_ms: now_ms
                .saturating_add(i64::try_from(t.expires_in_secs).unwrap_or(i64::MAX / 2) * 1000),
            refresh_token: t.refresh_token,
            device_id: t.device_id,
            user_id: t.user_id.parse()?,
            username: t.username,
            role: t.role.parse()?,
        })
    }
}

/// The persisted sync bookkeeping.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SyncState {
    /// `ClientSession::save()` as hex: the server's acknowledged heads.
    acked: String,
    last_sync_ms: Option<i64>,
    /// The last rejection per job, until the server accepts the job again
    /// (or the job is rebuilt without the refused action).
    rejections: BTreeMap<String, SavedRejection>,
    /// Jobs kept as they were after a rejection, for a supervisor to look
    /// at: their changes are held back from sync and actions are refused
    /// until the app recovers or unfreezes them.
    #[serde(default)]
    frozen: BTreeMap<String, Frozen>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedRejection {
    code: String,
    message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Frozen {
    code: String,
    message: String,
    /// The change the server refused.
    change: ChangeHash,
    since_ms: i64,
}

/// An attachment whose bytes this device holds and the server may lack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingUpload {
    pub job_id: String,
    pub attachment_id: String,
    pub sha256: String,
    pub size: u64,
}

pub(crate) struct Local {
    store: FileStore,
    blobs: Blobs,
    uploads: UploadState,
    /// Bytes the server last said it holds, per blob (not persisted: the
    /// server is asked again before any upload).
    progress: BTreeMap<String, u64>,
    actor: ActorId,
    session: Option<Session>,
    docs: DocSet,
    sync: ClientSession,
    state: SyncState,
    /// Per job, the actions the server has not acknowledged.
    journals: BTreeMap<DocId, JobJournal>,
    /// Actions dropped after a rejection, until the app dismisses them.
    dropped: Vec<Dropped>,
    /// Keep a rejected job frozen instead of rebuilding it at once.
    pub freeze_rejected: bool,
}

/// This device's changes in `doc` the server has not acknowledged.
fn pending_hashes(doc: &Automerge, acked: &[ChangeHash], actor: &ActorId) -> Vec<ChangeHash> {
    let usable = !acked.is_empty()
        && acked
            .iter()
            .all(|h| fieldsync_core::sync::has_change(doc, h));
    let since: &[ChangeHash] = if usable { acked } else { &[] };
    doc.get_changes(since)
        .iter()
        .filter(|c| c.actor_id() == actor)
        .map(|c| c.hash())
        .collect()
}

impl Local {
    pub fn open(dir: &std::path::Path, now_ms: i64) -> Result<Self> {
        let store = FileStore::open(dir)?;
        let actor = store.actor(now_ms)?;
        let session = store.read_json::<Session>(SESSION_FILE)?;
        let state = store.read_json::<SyncState>(SYNC_FILE)?.unwrap_or_default();
        let mut sync = if state.acked.is_empty() {
            ClientSession::new(actor.clone())
        } else {
            let bytes =
                hex::decode(&state.acked).map_err(|e| FieldsyncError::corrupt("sync state", e))?;
            ClientSession::restore(actor.clone(), &bytes)?
        };
        // The change cursor (issue 19 item 1): an idle sync costs under
        // 200 bytes each way, a routine one names only the jobs changed
        // here, and a scope change (a new van, a job taken away) is still
        // answered in the same reply, so a new van's stock arrives with a
        // rejection of a part from the old one (recovery in Kotlin).
        sync.use_cursor(true);
        let docs = store.load_docs(&actor)?;
        let blobs = Blobs::open(store.dir())?;
        let uploads = store.read_json(UPLOADS_FILE)?.unwrap_or_default();
        let mut local = Self {
            store,
            blobs,
            uploads,
            progress: BTreeMap::new(),
            actor,
            session,
            docs,
            sync,
            state,
            journals: BTreeMap::new(),
            dropped: Vec::new(),
            freeze_rejected: false,
        };
        local.dropped = local.store.read_json(REJECTED_FILE)?.unwrap_or_default();
        local.load_journals()?;
        Ok(local)
    }

    /// Reads every job's journal and brings it in line with the documents
    /// on disk (see [`journal`]): what a crash interrupted is finished or
    /// forgotten here, before anything else happens.
    fn load_journals(&mut self) -> Result<()> {
        for id in self.store.journaled()? {
            let Some(mut journal) = self.store.read_journal(&id)? else {
                continue;
            };
            let Some(doc) = self.docs.get(&id) else {
                // The job left this device after the journal was written.
                self.store.remove_journal(&id)?;
                continue;
            };
            let pending = pending_hashes(doc, self.sync.acked(&id), &self.actor);
            let reconciled = journal.reconcile(doc, &pending);
            self.record_dropped(reconciled.dropped)?;
            if reconciled.changed {
                self.write_journal(&id, journal)?;
            } else {
                self.journals.insert(id, journal);
            }
        }
        Ok(())
    }

    /// Writes a job's journal (removing the file when it is empty) and keeps it.
    fn write_journal(&mut self, id: &DocId, journal: JobJournal) -> Result<()> {
        if journal.entries.is_empty() && journal.rollback.is_none() {
            self.store.remove_journal(id)?;
            self.journals.remove(id);
        } else {
            self.store.write_journal(id, &journal)?;
            self.journals.insert(*id, journal);
        }
        Ok(())
    }

    /// Adds dropped actions to `rejected.json`, each once.
    fn record_dropped(&mut self, dropped: Vec<Dropped>) -> Result<()> {
        let before = self.dropped.len();
        for d in dropped {
            if !self.dropped.iter().any(|x| x.entry.id == d.entry.id) {
                self.dropped.push(d);
            }
        }
        if self.dropped.len() != before {
            self.store.write_json(REJECTED_FILE, &self.dropped)?;
        }
        Ok(())
    }

    pub fn actor_hex(&self) -> String {
        hex::encode(self.actor.to_bytes())
    }

    // ----- session -----

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    pub fn set_session(&mut self, session: Session) -> Result<()> {
        if let Some(old) = &self.session
            && old.user_id != session.user_id
        {
            // One store per user (see `crate::device`): never reached.
            return Err(FieldsyncError::Internal {
                reason: "this store belongs to another user".into(),
            });
        }
        self.store.write_json(SESSION_FILE, &session)?;
        self.session = Some(session);
        Ok(())
    }

    pub fn clear_session(&mut self) -> Result<()> {
        self.store.remove(SESSION_FILE)?;
        self.session = None;
        Ok(())
    }

    fn principal(&self) -> Result<Principal> {
        let s = self.session.as_ref().ok_or(FieldsyncError::NotLoggedIn)?;
        Ok(Principal::new(s.user_id, s.role))
    }

    // ----- reads -----

    pub fn jobs(&self) -> Result<Vec<JobSummary>> {
        let mut out = Vec::new();
        for (id, doc) in &self.docs {
            if let DocId::Job(_) = id {
                let job = read_job(doc, None)?;
                out.push(self.summary_of(id, doc, &job));
            }
        }
        out.sort_by(|a, b| (a.window_start_ms, &a.id).cmp(&(b.window_start_ms, &b.id)));
        Ok(out)
    }

    pub fn job(&self, job_id: &str) -> Result<JobDetail> {
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self.docs.get(&id).ok_or_else(|| not_found("job", job_id))?;
        let job = read_job(doc, None)?;
        let summary = self.summary_of(&id, doc, &job);
        let billing = match self.price_book()? {
            Some(book) => billing::bill(&job, &book)
                .map(records::bill)
                .map_err(|e| e.to_string()),
            None => Err("the price book has not been synced yet".to_owned()),
        };
        Ok(records::detail(&job, summary, billing))
    }

    fn summary_of(&self, id: &DocId, doc: &Automerge, job: &fieldsync_core::Job) -> JobSummary {
        let pending = self.pending_in(id, doc);
        let key = id.to_string();
        let rejected = self.state.rejections.contains_key(&key);
        let frozen = self.state.frozen.contains_key(&key);
        records::summary(
            job,
            u32::try_from(pending).unwrap_or(u32::MAX),
            rejected,
            frozen,
        )
    }

    fn price_book(&self) -> Result<Option<PriceBook>> {
        // The newest generation (after a switch the old one is gone by the
        // end of the same response; a crash in between may leave both).
        fieldsync_core::doc_id::newest(self.docs.keys(), ServerDoc::PriceBook)
            .and_then(|id| self.docs.get(&id))
            .map(|d| read_price_book(d, None))
            .transpose()
            .map_err(Into::into)
    }

    fn van(&self) -> Result<Option<VanStock>> {
        // The van the server sends, in its newest generation.
        let van = self.docs.keys().find_map(DocId::van);
        van.and_then(|v| fieldsync_core::doc_id::newest(self.docs.keys(), ServerDoc::VanStock(v)))
            .and_then(|id| self.docs.get(&id))
            .map(|d| read_van_stock(d, None))
            .transpose()
            .map_err(Into::into)
    }

    /// The van as last sent by the server minus this device's unsynced use.
    pub fn van_stock(&self) -> Result<Option<VanStockView>> {
        let Some(van) = self.van()? else {
            return Ok(None);
        };
        let book = self.price_book()?;
        let mut pending: BTreeMap<Sku, i64> = BTreeMap::new();
        for (id, doc) in &self.docs {
            if let DocId::Job(_) = id {
                for (sku, q) in pending_consumption(doc, self.sync.acked(id), van.van)? {
                    *pending.entry(sku).or_insert(0) += q;
                }
            }
        }
        let available = van.minus(&pending);
        let items = available
            .into_iter()
            .map(|(sku, available)| {
                let item = van.items.get(&sku);
                let price = book.as_ref().and_then(|b| b.parts.get(&sku));
                StockLine {
                    name: price.map(|p| p.name.clone()),
                    server_quantity: item.map_or(0, |i| i.quantity),
                    pending_use: pending.get(&sku).copied().unwrap_or(0),
                    available,
                    serialized: price.is_some_and(|p| p.serialized)
                        || item.is_some_and(|i| !i.serials.is_empty()),
                    serials: item.map(|i| i.serials.clone()).unwrap_or_default(),
                    quarantined: item.map(|i| i.quarantined.clone()).unwrap_or_default(),
                    sku: sku.to_string(),
                }
            })
            .collect();
        Ok(Some(VanStockView {
            van_id: van.van.to_string(),
            as_of_ms: van.as_of.0,
            items,
        }))
    }

    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        let mut out: Vec<Conflict> = self
            .state
            .rejections
            .iter()
            .map(|(doc, r)| Conflict {
                job_id: doc.strip_prefix("job/").unwrap_or(doc).to_owned(),
                kind: ConflictKind::Rejected,
                code: r.code.clone(),
                message: r.message.clone(),
            })
            .collect();
        for (id, doc) in &self.docs {
            if let DocId::Job(job_id) = id {
                let job = read_job(doc, None)?;
                if !job.status_conflicts.is_empty() {
                    let losers: Vec<&str> =
                        job.status_conflicts.iter().map(|s| s.as_str()).collect();
                    out.push(Conflict {
                        job_id: job_id.to_string(),
                        kind: ConflictKind::StatusConflict,
                        code: losers.join(","),
                        message: format!(
                            "status is {}; concurrent {} lost",
                            job.status,
                            losers.join(", ")
                        ),
                    });
                }
                for c in &job.conflicts {
                    out.push(Conflict {
                        job_id: job_id.to_string(),
                        kind: ConflictKind::ValueConflict,
                        code: c.field.clone(),
                        message: format!(
                            "{} concurrent values; the office settles which to keep",
                            c.values.len()
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Changes made here that the server has not acknowledged.
    pub fn pending_changes(&self) -> u64 {
        self.docs
            .iter()
            .map(|(id, doc)| self.pending_in(id, doc) as u64)
            .sum()
    }

    fn pending_in(&self, id: &DocId, doc: &Automerge) -> usize {
        pending_hashes(doc, self.sync.acked(id), &self.actor).len()
    }

    pub fn last_sync_ms(&self) -> Option<i64> {
        self.state.last_sync_ms
    }

    // ----- actions -----

    /// Applies one technician action to a job and makes it durable.
    pub fn act(&mut self, job_id: &str, action: JobAction, now_ms: i64) -> Result<()> {
        let who = self.principal()?;
        let id = DocId::Job(parse_job(job_id)?);
        if self.state.frozen.contains_key(&id.to_string()) {
            return Err(FieldsyncError::JobFrozen {
                job_id: job_id.to_owned(),
            });
        }
        let doc = self
            .docs
            .remove(&id)
            .ok_or_else(|| not_found("job", job_id))?;
        let before = doc.get_heads();
        let mut job = JobDoc::from_trusted(doc);
        let ctx = self.context(&action)?;
        let applied = job.apply_in(&action, who, Timestamp(now_ms), &ctx);
        // The journal first: an entry whose change never reached the
        // document file is dropped on open (the call did not return).
        let journal = applied.map_err(FieldsyncError::from).and_then(|change| {
            let mut journal = self
                .journals
                .get(&id)
                .cloned()
                .unwrap_or_else(|| JobJournal::new(Vec::new()));
            journal
                .entries
                .push(Entry::new(action, who, now_ms, change));
            self.store.write_journal(&id, &journal)?;
            self.store.save_doc(&id, job.doc())?;
            Ok(journal)
        });
        let saved = journal.map(|journal| {
            self.journals.insert(id, journal);
        });
        let mut doc = job.into_doc();
        if saved.is_err() && doc.get_heads() != before {
            // Not on disk, so it must not exist: the app was told it failed.
            doc = doc
                .fork_at(&before)
                .map_err(|e| FieldsyncError::Internal {
                    reason: format!("roll back: {e}"),
                })?
                .with_actor(self.actor.clone());
        }
        self.docs.insert(id, doc);
        saved
    }

    /// What this device knows of the server's records, for the rules that
    /// need them: its van (the one whose stock the server sends it), for
    /// part lines, and the price book as last synced, for part lines and
    /// labour. The server checks again with its own records.
    fn context(&self, action: &JobAction) -> Result<Context> {
        let fields = action.fields();
        if !fields.contains(&keys::PARTS)
            && !fields.contains(&keys::LABOUR)
            && !fields.contains(&keys::WARRANTY_EXTENSION)
            && !fields.contains(&keys::REFUNDS)
        {
            return Ok(Context::default());
        }
        self.known_context()
    }

    /// Everything this device knows of the server's records (see [`Self::context`]).
    fn known_context(&self) -> Result<Context> {
        let mut ctx = Context::default();
        if let Some(book) = self.price_book()? {
            // The server's refund limits, as the price book carries them.
            ctx = ctx.with_refund_limits(book.refund_limits);
            ctx = ctx.with_price_book(Arc::new(book));
        }
        Ok(match self.van()? {
            // The van's quarantined serials: fitting one is refused here as
            // the server refuses it.
            Some(stock) => ctx
                .with_recalled(Arc::new(stock.recalled()))
                .with_technician_van(TechnicianVan::Assigned(stock.van)),
            None => ctx,
        })
    }

    /// The price book's warranty extension offers for the job's asset,
    /// quoted on `today` (the device's date: shown only; the server dates
    /// the extension itself when the job completes).
    pub fn extension_offers(&self, job_id: &str, today: time::Date) -> Result<Vec<ExtensionQuote>> {
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self.docs.get(&id).ok_or_else(|| not_found("job", job_id))?;
        let job = read_job(doc, None)?;
        let book = self
            .price_book()?
            .ok_or_else(|| FieldsyncError::NotAllowed {
                reason: "the price book has not been synced yet: sync first".into(),
            })?;
        let quotes = fieldsync_core::warranty::quotes(&job, &book, today)
            .map_err(|r| FieldsyncError::NotAllowed { reason: r.message })?;
        Ok(quotes.into_iter().map(records::quote).collect())
    }

    /// Sells offer `code` of the synced price book on the job, at the
    /// book's months and price (checked as the server will check them).
    pub fn sell_extension(&mut self, job_id: &str, code: &str, now_ms: i64) -> Result<()> {
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self.docs.get(&id).ok_or_else(|| not_found("job", job_id))?;
        let job = read_job(doc, None)?;
        let book = self
            .price_book()?
            .ok_or_else(|| FieldsyncError::NotAllowed {
                reason: "the price book has not been synced yet: sync first".into(),
            })?;
        let action = fieldsync_core::warranty::sale(&job, &book, code.trim())?;
        self.act(job_id, action, now_ms)
    }

    /// `use_part` with the checks only the device can make: the van it
    /// comes from, and serial numbers for serialized skus.
    pub fn use_part(
        &mut self,
        job_id: &str,
        sku: &str,
        quantity: u32,
        serials: Vec<String>,
        van_id: Option<&str>,
        now_ms: i64,
    ) -> Result<String> {
        let sku: Sku = sku.parse()?;
        let quantity = Quantity::new(quantity)?;
        let stock = self.van()?;
        let van = match (van_id, &stock) {
            (Some(id), _) => id.parse::<LocationId>()?,
            (None, Some(stock)) => stock.van,
            (None, None) => {
                return Err(FieldsyncError::NotAllowed {
                    reason: "no van stock on this device yet: sync first or name the van".into(),
                });
            }
        };
        let serialized = self
            .price_book()?
            .and_then(|b| b.parts.get(&sku).map(|p| p.serialized))
            .unwrap_or(false)
            || stock
                .as_ref()
                .and_then(|s| s.items.get(&sku))
                .is_some_and(|i| !i.serials.is_empty());
        let serials: Vec<String> = serials.into_iter().map(|s| s.trim().to_owned()).collect();
        // The price book's rule, also for skus only the van stock knows
        // carry serials.
        fieldsync_core::rules::serials_per_unit(serialized, quantity, &serials)
            .map_err(|r| FieldsyncError::invalid(format!("{sku}: {}", r.message)))?;
        let line = new_line();
        self.act(
            job_id,
            JobAction::UsePart {
                line,
                sku,
                quantity,
                serials,
                van,
            },
            now_ms,
        )?;
        Ok(line.to_string())
    }

    /// Records the remedy of a job's recall: `replacement` is `none`,
    /// `temporary` or `permanent`; a temporary one needs `committed_date`
    /// (`YYYY-MM-DD`), the day the permanent one is promised.
    pub fn record_recall_remedy(
        &mut self,
        job_id: &str,
        replacement: &str,
        serials: Vec<String>,
        committed_date: Option<&str>,
        service: Option<String>,
        now_ms: i64,
    ) -> Result<()> {
        let replacement = Replacement::parse(replacement).ok_or_else(|| {
            FieldsyncError::invalid("replacement must be none, temporary or permanent")
        })?;
        let committed_date = committed_date
            .map(|d| {
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| FieldsyncError::invalid("committed_date: expected YYYY-MM-DD"))
            })
            .transpose()?;
        self.act(
            job_id,
            JobAction::RecordRecallRemedy {
                replacement,
                serials: serials.into_iter().map(|s| s.trim().to_owned()).collect(),
                committed_date,
                service,
            },
            now_ms,
        )
    }

    /// Opens a return (RMA) for a part or the product, offline: `condition`
    /// is `unused`, `working`, `faulty` or `damaged`. Returns the return's
    /// id; the job shows its provisional reference until the server's RMA
    /// number arrives with a sync.
    pub fn open_return(
        &mut self,
        job_id: &str,
        sku: &str,
        serial: String,
        reason: String,
        condition: &str,
        now_ms: i64,
    ) -> Result<String> {
        let sku: Sku = sku.trim().parse()?;
        let condition =
            fieldsync_core::job::ReturnCondition::parse(condition.trim()).ok_or_else(|| {
                FieldsyncError::invalid("condition must be unused, working, faulty or damaged")
            })?;
        let id = new_line();
        self.act(
            job_id,
            JobAction::OpenReturn {
                id,
                sku,
                serial,
                reason,
                condition,
            },
            now_ms,
        )?;
        Ok(id.to_string())
    }

    pub fn add_labour(
        &mut self,
        job_id: &str,
        minutes: u32,
        rate: String,
        description: String,
        now_ms: i64,
    ) -> Result<String> {
        let entry = new_line();
        self.act(
            job_id,
            JobAction::AddLabour {
                entry,
                minutes,
                rate,
                description,
            },
            now_ms,
        )?;
        Ok(entry.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_attachment(
        &mut self,
        job_id: &str,
        sha256: String,
        size_bytes: u64,
        media_type: String,
        kind: &str,
        caption: String,
        now_ms: i64,
    ) -> Result<String> {
        let kind = AttachmentKind::parse(kind).ok_or_else(|| {
            FieldsyncError::invalid(
                "kind must be before, after, serial_plate, signature or document",
            )
        })?;
        let attachment = new_line();
        self.act(
            job_id,
            JobAction::AddAttachment {
                attachment,
                sha256,
                size: size_bytes,
                media_type,
                kind,
                caption,
            },
            now_ms,
        )?;
        Ok(attachment.to_string())
    }

    /// Logs a customer contact on site (see sync-core's `job::contact`):
    /// `channel`, `direction` and `category` are their codes. Returns the
    /// contact's id.
    #[allow(clippy::too_many_arguments)]
    pub fn log_contact(
        &mut self,
        job_id: &str,
        channel: &str,
        direction: &str,
        category: &str,
        summary: String,
        now_ms: i64,
    ) -> Result<String> {
        use fieldsync_core::job::{ContactCategory, ContactChannel, ContactDirection};
        let channel = ContactChannel::parse(channel).ok_or_else(|| {
            FieldsyncError::invalid("channel must be phone, email, sms, on_site, web or feedback")
        })?;
        let direction = ContactDirection::parse(direction)
            .ok_or_else(|| FieldsyncError::invalid("direction must be inbound or outbound"))?;
        let category = ContactCategory::parse(category).ok_or_else(|| {
            FieldsyncError::invalid(
                "category must be technical, billing, contract, return, parts, sales_lead or complaint",
            )
        })?;
        let contact = new_line();
        self.act(
            job_id,
            JobAction::LogContact {
                contact,
                channel,
                direction,
                category,
                summary,
            },
            now_ms,
        )?;
        Ok(contact.to_string())
    }

    /// Copies the file into the store (content-addressed, durable) and adds
    /// the reference through the journaled action path. A refused action
    /// leaves no new blob behind.
    #[allow(clippy::too_many_arguments)]
    pub fn attach_file(
        &mut self,
        job_id: &str,
        path: &str,
        kind: &str,
        caption: String,
        media_type: String,
        now_ms: i64,
    ) -> Result<String> {
        if AttachmentKind::parse(kind).is_none() {
            return Err(FieldsyncError::invalid(
                "kind must be before, after, serial_plate, signature or document",
            ));
        }
        let job = DocId::Job(parse_job(job_id)?);
        if !self.docs.contains_key(&job) {
            return Err(not_found("job", job_id));
        }
        let blob = self.blobs.import(std::path::Path::new(path))?;
        let added = self.add_attachment(
            job_id,
            blob.sha256.clone(),
            blob.size,
            media_type,
            kind,
            caption,
            now_ms,
        );
        if added.is_err() && blob.new {
            // Best effort: an orphan blob wastes space, nothing more.
            let _ = self.blobs.remove(&blob.sha256);
        }
        added
    }

    // ----- uploads -----

    /// Every attachment of a held job whose bytes are here and which the
    /// server does not hold yet (nor refused), one per job and hash.
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>> {
        let mut out: Vec<PendingUpload> = Vec::new();
        for (id, doc) in &self.docs {
            let DocId::Job(job_id) = id else { continue };
            for a in read_job(doc, None)?.attachments {
                let waiting = !self.uploads.uploaded.contains(&a.sha256)
                    && !self.uploads.refused.contains_key(&a.sha256)
                    && self.blobs.has(&a.sha256);
                let job_id = job_id.to_string();
                if waiting
                    && !out
                        .iter()
                        .any(|p| p.job_id == job_id && p.sha256 == a.sha256)
                {
                    out.push(PendingUpload {
                        job_id,
                        attachment_id: a.id.to_string(),
                        sha256: a.sha256,
                        size: a.size,
                    });
                }
            }
        }
        Ok(out)
    }

    /// A job's attachments and their upload state.
    pub fn job_uploads(&self, job_id: &str) -> Result<JobUploads> {
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self.docs.get(&id).ok_or_else(|| not_found("job", job_id))?;
        let mut attachments = Vec::new();
        for a in read_job(doc, None)?.attachments {
            let uploaded = self.uploads.uploaded.contains(&a.sha256);
            attachments.push(AttachmentUpload {
                job_id: job_id.to_owned(),
                attachment_id: a.id.to_string(),
                bytes_sent: if uploaded {
                    a.size
                } else {
                    self.progress.get(&a.sha256).copied().unwrap_or(0)
                },
                total_bytes: a.size,
                uploaded,
                refused: self.uploads.refused.get(&a.sha256).cloned(),
                sha256: a.sha256,
            });
        }
        let all_uploaded = attachments
            .iter()
            .all(|a| a.uploaded || !self.blobs.has(&a.sha256));
        Ok(JobUploads {
            job_id: job_id.to_owned(),
            all_uploaded,
            attachments,
        })
    }

    /// Every held job's uploads, jobs with attachments only.
    pub fn all_uploads(&self) -> Result<Vec<JobUploads>> {
        let mut out = Vec::new();
        for id in self.docs.keys() {
            if let DocId::Job(job) = id {
                let uploads = self.job_uploads(&job.to_string())?;
                if !uploads.attachments.is_empty() {
                    out.push(uploads);
                }
            }
        }
        Ok(out)
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub fn uploads_paused(&self) -> bool {
        self.uploads.paused
    }

    pub fn set_uploads_paused(&mut self, paused: bool) -> Result<()> {
        let mut next = self.uploads.clone();
        next.paused = paused;
        self.save_uploads(next)
    }

    pub fn set_progress(&mut self, sha256: &str, bytes: u64) {
        self.progress.insert(sha256.to_owned(), bytes);
    }

    /// The server holds the blob whole: durable before it is reported.
    pub fn mark_uploaded(&mut self, sha256: &str) -> Result<()> {
        let mut next = self.uploads.clone();
        next.uploaded.insert(sha256.to_owned());
        self.progress.remove(sha256);
        self.save_uploads(next)
    }

    pub fn mark_refused(&mut self, sha256: &str, code: &str) -> Result<()> {
        let mut next = self.uploads.clone();
        next.refused.insert(sha256.to_owned(), code.to_owned());
        self.save_uploads(next)
    }

    /// Removes the blobs this device no longer needs, and the upload marks
    /// of hashes no held job references; returns how many blobs went.
    ///
    /// - A blob the server holds (`uploaded`) goes once every held job that
    ///   references it is closed (completed, unable to complete,
    ///   cancelled): while a job is open the technician may still look at
    ///   its photos offline.
    /// - A blob no held job references goes: its reference was refused and
    ///   rolled back, a crash came between the copy and the reference, or
    ///   its job left the device (the server answers 404 to an upload for a
    ///   job the caller does not hold, so the device could not send it).
    /// - Every other blob stays: not uploaded yet, or refused (the app may
    ///   retry it, [`Self::retry_refused_uploads`]).
    pub fn prune_blobs(&mut self) -> Result<usize> {
        // Hash -> whether an open held job references it.
        let mut referenced: BTreeMap<String, bool> = BTreeMap::new();
        for (id, doc) in &self.docs {
            let DocId::Job(_) = id else { continue };
            let job = read_job(doc, None)?;
            let open = !job.status.is_final();
            for a in job.attachments {
                *referenced.entry(a.sha256).or_default() |= open;
            }
        }
        let mut removed = 0;
        for sha in self.blobs.list()? {
            let keep = match referenced.get(&sha) {
                None => false,
                Some(&open) => open || !self.uploads.uploaded.contains(&sha),
            };
            if !keep {
                self.blobs.remove(&sha)?;
                self.progress.remove(&sha);
                removed += 1;
            }
        }
        let mut next = self.uploads.clone();
        next.uploaded.retain(|s| referenced.contains_key(s));
        next.refused.retain(|s, _| referenced.contains_key(s));
        if next != self.uploads {
            self.save_uploads(next)?;
        }
        Ok(removed)
    }

    /// Forgets the server's refusal of `job_id`'s attachments whose bytes
    /// are still here, so the next upload sends them again (after the
    /// server's limit was raised, say). Returns how many.
    pub fn retry_refused_uploads(&mut self, job_id: &str) -> Result<u32> {
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self.docs.get(&id).ok_or_else(|| not_found("job", job_id))?;
        let mut next = self.uploads.clone();
        let mut count = 0;
        for a in read_job(doc, None)?.attachments {
            if self.blobs.has(&a.sha256) && next.refused.remove(&a.sha256).is_some() {
                count += 1;
            }
        }
        if count > 0 {
            self.save_uploads(next)?;
        }
        Ok(count)
    }

    fn save_uploads(&mut self, next: UploadState) -> Result<()> {
        self.store.write_json(UPLOADS_FILE, &next)?;
        self.uploads = next;
        Ok(())
    }

    pub fn record_payment(
        &mut self,
        job_id: &str,
        method: &str,
        amount_minor: i64,
        reference: Option<String>,
        now_ms: i64,
    ) -> Result<String> {
        let method = PaymentMethod::parse(method).ok_or_else(|| {
            FieldsyncError::invalid("method must be cash, card, cheque, bank_transfer or other")
        })?;
        let payment = new_line();
        self.act(
            job_id,
            JobAction::RecordPayment {
                payment,
                method,
                amount: Money(amount_minor),
                reference,
            },
            now_ms,
        )?;
        Ok(payment.to_string())
    }

    /// Gives a refund (`kind` refund, against a payment of the job) or a
    /// credit note (`credit`, against a labour entry or part line). Within
    /// the limit the price book carries for the user's role it is given at
    /// once; above it (or before any price book arrived) it is recorded
    /// pending a supervisor's approval and not counted as paid out. Returns
    /// the new refund's id.
    pub fn give_refund(
        &mut self,
        job_id: &str,
        kind: &str,
        against_id: &str,
        amount_minor: i64,
        reason: String,
        now_ms: i64,
    ) -> Result<String> {
        let kind = RefundKind::parse(kind)
            .ok_or_else(|| FieldsyncError::invalid("kind must be refund or credit"))?;
        let against = parse_line(against_id)?;
        let who = self.principal()?;
        let limits = self
            .price_book()?
            .map(|b| b.refund_limits)
            .unwrap_or_default();
        let amount = Money(amount_minor);
        let refund = new_line();
        self.act(
            job_id,
            JobAction::GiveRefund {
                refund,
                kind,
                against,
                amount,
                reason,
                approval: limits.approval(who.role, amount),
            },
            now_ms,
        )?;
        Ok(refund.to_string())
    }

    // ----- sync, sans-IO -----

    /// A new sync: one message per held document. Always starts afresh, so
    /// a request or response lost on the way never leaves a stuck exchange.
    pub fn sync_request(&mut self) -> Vec<u8> {
        let frozen: BTreeSet<DocId> = self
            .state
            .frozen
            .keys()
            .filter_map(|k| k.parse().ok())
            .collect();
        self.sync.start_holding_back(&self.docs, &frozen).encode()
    }

    /// The follow-up round of the exchange under way, if it needs one.
    pub fn next_sync_request(&mut self) -> Option<Vec<u8>> {
        self.sync.next_round(&self.docs).map(|r| r.encode())
    }

    /// Applies a response and makes its effects durable: documents first,
    /// then rebuilt jobs, then the acknowledged heads (so they never name
    /// changes not on disk), then the journals lose what the server has.
    ///
    /// A job the server rejected, naming the refused change, is rebuilt
    /// from the server's state with every other journaled action taken
    /// again ([`journal::rebuild`]), unless the app keeps rejected jobs
    /// frozen; its exchange then restarts, so the actions kept reach the
    /// server in the next round of this sync.
    pub fn apply_sync_response(&mut self, bytes: &[u8], now_ms: i64) -> Result<SyncResult> {
        let response: SyncResponse =
            decode_response(bytes).map_err(|e| FieldsyncError::corrupt("sync response", e))?;
        let before: BTreeMap<DocId, Vec<ChangeHash>> = self
            .docs
            .iter()
            .map(|(id, d)| (*id, d.get_heads()))
            .collect();
        let report = self.sync.apply(&mut self.docs, &response);
        for (id, doc) in &self.docs {
            if before.get(id) != Some(&doc.get_heads()) {
                self.store.save_doc(id, doc)?;
            }
        }
        for id in &report.removed {
            self.store.remove_doc(id)?;
            self.store.remove_journal(id)?;
            self.journals.remove(id);
            self.state.frozen.remove(&id.to_string());
        }

        let mut rebuilt = BTreeSet::new();
        let mut dropped = Vec::new();
        for (id, rejection) in &report.rejected {
            let Some(&change) = report.rejected_changes.get(id) else {
                continue;
            };
            if !self.can_rebuild(id, change) {
                continue;
            }
            let code = reject_code(rejection);
            if self.freeze_rejected {
                self.state.frozen.insert(
                    id.to_string(),
                    Frozen {
                        code,
                        message: rejection.message.clone(),
                        change,
                        since_ms: now_ms,
                    },
                );
                continue;
            }
            dropped.extend(self.rebuild(id, change, &code, &rejection.message, now_ms)?);
            self.sync.restart(*id, &self.docs[id]);
            rebuilt.insert(*id);
        }

        let mut jobs = Vec::new();
        for reply in &response.docs {
            let key = reply.id.to_string();
            let outcome = match &reply.outcome {
                _ if report.unfinished.contains(&reply.id) => JobSyncOutcome::Unfinished,
                Outcome::Accepted | Outcome::NeedsAnotherRound => JobSyncOutcome::Accepted,
                Outcome::Rejected { code, message, .. } => JobSyncOutcome::Rejected {
                    code: reject_code(&fieldsync_core::Rejection::new(*code, message.clone())),
                    reason: message.clone(),
                },
                Outcome::Removed => JobSyncOutcome::Removed,
                Outcome::NotFound => JobSyncOutcome::NotFound,
            };
            match &outcome {
                // Rebuilt: what the server refused is reported as dropped actions.
                JobSyncOutcome::Rejected { .. } if rebuilt.contains(&reply.id) => {
                    self.state.rejections.remove(&key);
                }
                JobSyncOutcome::Rejected { code, reason } => {
                    self.state.rejections.insert(
                        key,
                        SavedRejection {
                            code: code.clone(),
                            message: reason.clone(),
                        },
                    );
                }
                JobSyncOutcome::Unfinished => {}
                // A frozen job still receives the server's changes.
                _ if self.state.frozen.contains_key(&key) => {}
                _ => {
                    self.state.rejections.remove(&key);
                }
            }
            if let DocId::Job(job) = reply.id {
                jobs.push(JobSyncResult {
                    job_id: job.to_string(),
                    outcome,
                });
            }
        }
        // `resync`: the server could not use the cursor and wants a round
        // naming every document held.
        let more_rounds = !report.unfinished.is_empty() || !rebuilt.is_empty() || report.resync;
        if !more_rounds {
            self.state.last_sync_ms = Some(now_ms);
        }
        self.save_sync_state()?;
        self.prune_journals()?;
        // Blobs of refused references (rolled back above) or of jobs that
        // left the device. The sync itself is durable by now: a failed
        // removal only leaves a blob for the next prune.
        let _ = self.prune_blobs();
        let count = |set: &BTreeSet<DocId>| {
            set.iter().filter(|d| matches!(d, DocId::Job(_))).count() as u32
        };
        Ok(SyncResult {
            jobs,
            added_jobs: count(&report.added),
            updated_jobs: count(&report.changed),
            removed_jobs: count(&report.removed),
            more_rounds,
            rounds: 0,
            rejected_actions: dropped.iter().map(records::rejected_action).collect(),
        })
    }

    fn save_sync_state(&mut self) -> Result<()> {
        self.state.acked = hex::encode(self.sync.save());
        self.store.write_json(SYNC_FILE, &self.state)
    }

    /// Forgets journal entries whose changes the server has acknowledged.
    fn prune_journals(&mut self) -> Result<()> {
        let ids: Vec<DocId> = self.journals.keys().copied().collect();
        for id in ids {
            let Some(doc) = self.docs.get(&id) else {
                self.write_journal(&id, JobJournal::default())?;
                continue;
            };
            let pending = pending_hashes(doc, self.sync.acked(&id), &self.actor);
            let mut journal = self.journals[&id].clone();
            if journal.reconcile(doc, &pending).changed {
                self.write_journal(&id, journal)?;
            }
        }
        Ok(())
    }

    /// A job can be rebuilt after a rejection only when the refused change
    /// is this device's, the server's state is known, and every change not
    /// acknowledged yet is in the journal (so the rebuild loses nothing).
    fn can_rebuild(&self, id: &DocId, refused: ChangeHash) -> bool {
        let (Some(doc), Some(journal)) = (self.docs.get(id), self.journals.get(id)) else {
            return false;
        };
        let acked = self.sync.acked(id);
        if acked.is_empty()
            || !acked
                .iter()
                .all(|h| fieldsync_core::sync::has_change(doc, h))
        {
            return false;
        }
        let pending = pending_hashes(doc, acked, &self.actor);
        pending.contains(&refused) && journal.covers(&pending)
    }

    /// Rebuilds a job without the action that made `refused` and makes it
    /// durable in the order [`journal`] relies on. Returns the dropped actions.
    fn rebuild(
        &mut self,
        id: &DocId,
        refused: ChangeHash,
        code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<Dropped>> {
        let doc = self
            .docs
            .get(id)
            .ok_or_else(|| not_found("job", &id.to_string()))?;
        let before = self.journals.get(id).cloned().unwrap_or_default();
        let job = id.to_string();
        let job = job.strip_prefix("job/").unwrap_or(&job);
        let out = journal::rebuild(
            doc,
            self.sync.acked(id),
            &self.actor,
            &before.entries,
            (refused, code, reason),
            &self.known_context()?,
            (job, now_ms),
        )?;
        // 1. Both versions of the journal, 2. the document, 3. the dropped
        // actions, 4. the journal alone: every crash point is recoverable.
        let mut pending = JobJournal::new(out.kept.clone());
        pending.rollback = Some(Rollback {
            before: before.entries,
            after_heads: out.doc.get_heads(),
            dropped: out.dropped.clone(),
        });
        self.store.write_journal(id, &pending)?;
        self.store.save_doc(id, &out.doc)?;
        self.docs.insert(*id, out.doc);
        self.journals.insert(*id, pending);
        self.record_dropped(out.dropped.clone())?;
        self.write_journal(id, JobJournal::new(out.kept))?;
        Ok(out.dropped)
    }

    // ----- rejected work -----

    /// Actions dropped after a rejection, oldest first, until dismissed.
    pub fn rejected_actions(&self) -> Vec<RejectedAction> {
        self.dropped.iter().map(records::rejected_action).collect()
    }

    /// Forgets dropped actions the app has shown (unknown ids are ignored).
    pub fn dismiss_rejected_actions(&mut self, ids: &[String]) -> Result<()> {
        let before = self.dropped.len();
        self.dropped.retain(|d| !ids.contains(&d.entry.id));
        if self.dropped.len() != before {
            self.store.write_json(REJECTED_FILE, &self.dropped)?;
        }
        Ok(())
    }

    pub fn frozen_jobs(&self) -> Vec<FrozenJob> {
        self.state
            .frozen
            .iter()
            .map(|(key, f)| FrozenJob {
                job_id: key.strip_prefix("job/").unwrap_or(key).to_owned(),
                code: f.code.clone(),
                reason: f.message.clone(),
                since_ms: f.since_ms,
            })
            .collect()
    }

    /// Rebuilds a frozen job without the refused action (as an unfrozen
    /// job is after a rejection) and releases it; returns what was dropped.
    pub fn recover_job(&mut self, job_id: &str, now_ms: i64) -> Result<Vec<RejectedAction>> {
        let id = DocId::Job(parse_job(job_id)?);
        let key = id.to_string();
        let frozen =
            self.state
                .frozen
                .get(&key)
                .cloned()
                .ok_or_else(|| FieldsyncError::NotAllowed {
                    reason: format!("job {job_id} is not frozen"),
                })?;
        if !self.can_rebuild(&id, frozen.change) {
            return Err(FieldsyncError::NotAllowed {
                reason: format!(
                    "job {job_id} cannot be rebuilt without losing work: unfreeze it to send it as it is"
                ),
            });
        }
        let dropped = self.rebuild(&id, frozen.change, &frozen.code, &frozen.message, now_ms)?;
        self.state.frozen.remove(&key);
        self.state.rejections.remove(&key);
        self.save_sync_state()?;
        Ok(dropped.iter().map(records::rejected_action).collect())
    }

    /// Releases a frozen job as it is: its changes are sent again on the
    /// next sync (after the office removed the cause, say).
    pub fn unfreeze_job(&mut self, job_id: &str) -> Result<()> {
        let key = DocId::Job(parse_job(job_id)?).to_string();
        if self.state.frozen.remove(&key).is_none() {
            return Err(FieldsyncError::NotAllowed {
                reason: format!("job {job_id} is not frozen"),
            });
        }
        self.save_sync_state()
    }
}

fn parse_job(s: &str) -> Result<JobId> {
    s.parse().map_err(Into::into)
}

pub(crate) fn parse_line(s: &str) -> Result<LineId> {
    s.parse().map_err(Into::into)
}

fn not_found(what: &str, id: &str) -> FieldsyncError {
    FieldsyncError::NotFound {
        what: format!("{what} {id}"),
    }
}

/// A fresh line id (random, so concurrent writers never collide).
pub(crate) fn new_line() -> LineId {
    LineId::from_bytes(rand::random())
}

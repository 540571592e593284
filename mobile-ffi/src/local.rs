//! The device's state in memory, mirrored to the [`FileStore`] before any
//! call returns: session, documents, sync bookkeeping; reads, actions and
//! the sans-IO sync steps. Not thread-safe by itself: the client wraps it
//! in a mutex.

use std::collections::BTreeMap;

use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::job::{AttachmentKind, PaymentMethod, keys};
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::sync::{ClientSession, DocSet, Outcome, SyncResponse, decode_response};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::vanstock::{VanStock, pending_consumption, read_van_stock};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, LocationId, Money, Principal, Quantity, Role, Sku,
    Timestamp, UserId, billing, job::read_job,
};
use serde::{Deserialize, Serialize};

use crate::error::{FieldsyncError, Result, reject_code};
use crate::records::{self, *};
use crate::store::FileStore;

const SESSION_FILE: &str = "session.json";
const SYNC_FILE: &str = "sync.json";

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
    /// The last rejection per job, until the server accepts the job again.
    rejections: BTreeMap<String, SavedRejection>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedRejection {
    code: String,
    message: String,
}

pub(crate) struct Local {
    store: FileStore,
    actor: ActorId,
    session: Option<Session>,
    docs: DocSet,
    sync: ClientSession,
    state: SyncState,
}

impl Local {
    pub fn open(dir: &std::path::Path, now_ms: i64) -> Result<Self> {
        let store = FileStore::open(dir)?;
        let actor = store.actor(now_ms)?;
        let session = store.read_json::<Session>(SESSION_FILE)?;
        let state = store.read_json::<SyncState>(SYNC_FILE)?.unwrap_or_default();
        let sync = if state.acked.is_empty() {
            ClientSession::new(actor.clone())
        } else {
            let bytes =
                hex::decode(&state.acked).map_err(|e| FieldsyncError::corrupt("sync state", e))?;
            ClientSession::restore(actor.clone(), &bytes)?
        };
        let docs = store.load_docs(&actor)?;
        Ok(Self {
            store,
            actor,
            session,
            docs,
            sync,
            state,
        })
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
            && self.pending_changes() > 0
        {
            return Err(FieldsyncError::NotAllowed {
                reason: "this device holds another user's unsynced work: sync it first".into(),
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
        let rejected = self.state.rejections.contains_key(&id.to_string());
        records::summary(job, u32::try_from(pending).unwrap_or(u32::MAX), rejected)
    }

    fn price_book(&self) -> Result<Option<PriceBook>> {
        self.docs
            .get(&DocId::PriceBook)
            .map(|d| read_price_book(d, None))
            .transpose()
            .map_err(Into::into)
    }

    fn van(&self) -> Result<Option<VanStock>> {
        self.docs
            .iter()
            .find(|(id, _)| matches!(id, DocId::VanStock(_)))
            .map(|(_, d)| read_van_stock(d, None))
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
        let acked = self.sync.acked(id);
        let usable = !acked.is_empty()
            && acked
                .iter()
                .all(|h| fieldsync_core::sync::has_change(doc, h));
        let since: &[ChangeHash] = if usable { acked } else { &[] };
        doc.get_changes(since)
            .iter()
            .filter(|c| c.actor_id() == &self.actor)
            .count()
    }

    pub fn last_sync_ms(&self) -> Option<i64> {
        self.state.last_sync_ms
    }

    // ----- actions -----

    /// Applies one technician action to a job and makes it durable.
    pub fn act(&mut self, job_id: &str, action: JobAction, now_ms: i64) -> Result<()> {
        let who = self.principal()?;
        let id = DocId::Job(parse_job(job_id)?);
        let doc = self
            .docs
            .remove(&id)
            .ok_or_else(|| not_found("job", job_id))?;
        let before = doc.get_heads();
        let mut job = JobDoc::from_trusted(doc);
        let ctx = self.context(&action)?;
        let applied = job.apply_in(&action, who, Timestamp(now_ms), &ctx);
        let saved = applied
            .map_err(FieldsyncError::from)
            .and_then(|_| self.store.save_doc(&id, job.doc()));
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
    /// part lines. The server checks again with its own records.
    fn context(&self, action: &JobAction) -> Result<Context> {
        let ctx = Context::default();
        if !action.fields().contains(&keys::PARTS) {
            return Ok(ctx);
        }
        Ok(match self.van()? {
            Some(stock) => ctx.with_technician_van(TechnicianVan::Assigned(stock.van)),
            None => ctx,
        })
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
        if serialized && serials.len() != quantity.get() as usize {
            return Err(FieldsyncError::invalid(format!(
                "{sku} is serialized: give one serial number per unit ({} for {})",
                serials.len(),
                quantity.get()
            )));
        }
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

    // ----- sync, sans-IO -----

    /// A new sync: one message per held document. Always starts afresh, so
    /// a request or response lost on the way never leaves a stuck exchange.
    pub fn sync_request(&mut self) -> Vec<u8> {
        self.sync.start(&self.docs).encode()
    }

    /// The follow-up round of the exchange under way, if it needs one.
    pub fn next_sync_request(&mut self) -> Option<Vec<u8>> {
        self.sync.next_round(&self.docs).map(|r| r.encode())
    }

    /// Applies a response and makes its effects durable: documents first,
    /// then the acknowledged heads (so they never name changes not on disk).
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
        }
        let mut jobs = Vec::new();
        for reply in &response.docs {
            let key = reply.id.to_string();
            let outcome = match &reply.outcome {
                _ if report.unfinished.contains(&reply.id) => JobSyncOutcome::Unfinished,
                Outcome::Accepted | Outcome::NeedsAnotherRound => JobSyncOutcome::Accepted,
                Outcome::Rejected { code, message } => JobSyncOutcome::Rejected {
                    code: reject_code(&fieldsync_core::Rejection::new(*code, message.clone())),
                    reason: message.clone(),
                },
                Outcome::Removed => JobSyncOutcome::Removed,
                Outcome::NotFound => JobSyncOutcome::NotFound,
            };
            match &outcome {
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
        let more_rounds = !report.unfinished.is_empty();
        if !more_rounds {
            self.state.last_sync_ms = Some(now_ms);
        }
        self.state.acked = hex::encode(self.sync.save());
        self.store.write_json(SYNC_FILE, &self.state)?;
        let count = |set: &std::collections::BTreeSet<DocId>| {
            set.iter().filter(|d| matches!(d, DocId::Job(_))).count() as u32
        };
        Ok(SyncResult {
            jobs,
            added_jobs: count(&report.added),
            updated_jobs: count(&report.changed),
            removed_jobs: count(&report.removed),
            more_rounds,
            rounds: 0,
        })
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
fn new_line() -> LineId {
    LineId::from_bytes(rand::random())
}

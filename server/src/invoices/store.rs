//! The invoices table, its counter, the page tokens, and the projector
//! that freezes, numbers and settles invoices in job commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use fieldsync_core::billing::Invoice;
use fieldsync_core::{JobId, Status};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::InvoiceSettings;
use crate::desk::model::{DeskPriority, ItemSource, SourceKind, SystemItem, Team};
use crate::desk::store::{SystemItemError, open_system_item, resolve_system_item};
use crate::documents::{JobCommit, JobProjector};
use crate::feedback::{Channel, MessageKind};
use crate::i18n::Language;
use crate::store::sql::{Conn, Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError, TokenHash};
use fieldsync_core::job::ContactCategory;

/// One issued invoice as stored.
#[derive(Clone, Debug)]
pub struct InvoiceRecord {
    pub job_id: JobId,
    pub number: String,
    pub customer_name: String,
    pub customer_email: Option<String>,
    pub currency: String,
    pub price_book_version: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub credited_minor: i64,
    pub refunded_minor: i64,
    /// `total - credited - paid + refunded`; settled at or below zero.
    pub open_minor: i64,
    pub issued_at: OffsetDateTime,
    pub settled_at: Option<OffsetDateTime>,
    /// The largest reminder age (days) queued so far; 0: none.
    pub reminded_days: i64,
    /// The number is not in the job document yet.
    pub number_pending: bool,
    /// The frozen invoice (lines and totals as billed at completion).
    pub body: Invoice,
    /// The customer's language: their record's, English for a job whose
    /// customer was typed in. Read, not stored: a change applies to the
    /// next email and to a link already sent.
    pub language: Language,
}

/// Which invoice: by its job's id or by its number.
#[derive(Clone, Debug)]
pub enum InvoiceKey {
    Job(JobId),
    Number(String),
}

#[async_trait]
pub trait InvoiceStore: Send + Sync {
    async fn invoice(&self, key: &InvoiceKey) -> Result<Option<InvoiceRecord>>;
    /// Oldest first; `open_only`: those with an amount still open.
    async fn list_invoices(&self, open_only: bool, limit: i64) -> Result<Vec<InvoiceRecord>>;
    /// Jobs whose number is still to be written into their document.
    async fn jobs_with_pending_invoices(&self, limit: i64) -> Result<Vec<JobId>>;
    async fn invoice_written(&self, job: JobId) -> Result<()>;
    /// Stores a printable-page token (hashed) for `job` until `expires_at`.
    async fn insert_invoice_token(
        &self,
        job: JobId,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The invoice a token that has not expired at `now` opens.
    async fn invoice_by_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<InvoiceRecord>>;
    /// Queues a reminder to the customer of each open invoice that reached
    /// one of `days` (ascending) since a reminder was last queued: only the
    /// largest age reached, each age once. Returns how many were queued.
    async fn queue_invoice_reminders(
        &self,
        now: OffsetDateTime,
        days: &[u32],
        max_attempts: u32,
    ) -> Result<usize>;
}

/// With the customer record's language (`job_registry` -> `customers`), as
/// the feedback request reads it; `NULL` for a typed-in customer.
const COLS: &str = "SELECT i.job_id, i.number, i.customer_name, i.customer_email, i.currency, \
     i.price_book_version, i.total_minor, i.paid_minor, i.credited_minor, i.refunded_minor, \
     i.open_minor, i.issued_at, i.settled_at, i.reminded_days, i.number_pending, i.body, \
     c.language AS customer_language \
     FROM invoices i LEFT JOIN job_registry jr ON jr.job_id = i.job_id \
     LEFT JOIN customers c ON c.id = jr.customer_id";

fn record_from(row: &Row) -> Result<InvoiceRecord> {
    let body: String = row.get("body")?;
    Ok(InvoiceRecord {
        job_id: row.get("job_id")?,
        number: row.get("number")?,
        customer_name: row.get("customer_name")?,
        customer_email: row.get("customer_email")?,
        currency: row.get("currency")?,
        price_book_version: row.get("price_book_version")?,
        total_minor: row.get("total_minor")?,
        paid_minor: row.get("paid_minor")?,
        credited_minor: row.get("credited_minor")?,
        refunded_minor: row.get("refunded_minor")?,
        open_minor: row.get("open_minor")?,
        issued_at: row.get("issued_at")?,
        settled_at: row.get("settled_at")?,
        reminded_days: row.get("reminded_days")?,
        number_pending: row.get("number_pending")?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::corrupt("invoices.body", e.to_string()))?,
        language: row
            .get::<Option<Language>>("customer_language")?
            .unwrap_or(Language::En),
    })
}

#[async_trait]
impl InvoiceStore for SqlStore {
    async fn invoice(&self, key: &InvoiceKey) -> Result<Option<InvoiceRecord>> {
        let mut q = QueryBuilder::new(COLS);
        match key {
            InvoiceKey::Job(id) => q.push(" WHERE i.job_id = ").push_bind(*id),
            InvoiceKey::Number(n) => q.push(" WHERE i.number = ").push_bind(n.as_str()),
        };
        self.db()
            .fetch_optional(q.build())
            .await?
            .as_ref()
            .map(record_from)
            .transpose()
    }

    async fn list_invoices(&self, open_only: bool, limit: i64) -> Result<Vec<InvoiceRecord>> {
        let mut q = QueryBuilder::new(COLS);
        if open_only {
            q.push(" WHERE i.open_minor > 0");
        }
        q.push(" ORDER BY i.issued_at, i.number LIMIT ")
            .push_bind(limit.clamp(1, 1000));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(record_from).collect()
    }

    async fn jobs_with_pending_invoices(&self, limit: i64) -> Result<Vec<JobId>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT job_id FROM invoices WHERE number_pending \
                     ORDER BY issued_at, job_id LIMIT $1",
                )
                .bind(limit),
            )
            .await?;
        rows.iter().map(|r| r.get("job_id")).collect()
    }

    async fn invoice_written(&self, job: JobId) -> Result<()> {
        self.db()
            .execute(
                Query::new("UPDATE invoices SET number_pending = $1 WHERE job_id = $2")
                    .bind(false)
                    .bind(job),
            )
            .await?;
        Ok(())
    }

    async fn insert_invoice_token(
        &self,
        job: JobId,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO invoice_tokens (token_hash, job_id, expires_at) VALUES ($1, $2, $3)",
                )
                .bind(&hash.0[..])
                .bind(job)
                .bind(expires_at),
            )
            .await?;
        Ok(())
    }

    async fn invoice_by_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<InvoiceRecord>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT job_id FROM invoice_tokens WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(&hash.0[..])
                .bind(now),
            )
            .await?;
        match row {
            Some(r) => self.invoice(&InvoiceKey::Job(r.get("job_id")?)).await,
            None => Ok(None),
        }
    }

    async fn queue_invoice_reminders(
        &self,
        now: OffsetDateTime,
        days: &[u32],
        max_attempts: u32,
    ) -> Result<usize> {
        let mut queued = 0;
        // Largest age first: an invoice that reached several ages since the
        // last round gets one reminder, for the largest.
        for d in days.iter().rev() {
            let mut tx = self.db().begin().await?;
            let due = tx
                .fetch_all(
                    Query::new(
                        "SELECT job_id, customer_email FROM invoices \
                         WHERE open_minor > 0 AND reminded_days < $1 AND issued_at <= $2 \
                         ORDER BY issued_at LIMIT 200",
                    )
                    .bind(i64::from(*d))
                    .bind(now - Duration::days(i64::from(*d))),
                )
                .await?;
            for r in &due {
                let job: JobId = r.get("job_id")?;
                // Marked first, guarded: of two processes sweeping at once,
                // only the one that marks it queues the reminder.
                let marked = tx
                    .execute(
                        Query::new(
                            "UPDATE invoices SET reminded_days = $1 \
                             WHERE job_id = $2 AND reminded_days < $1",
                        )
                        .bind(i64::from(*d))
                        .bind(job),
                    )
                    .await?;
                if marked == 0 {
                    continue;
                }
                let Some(email) = r.get::<Option<String>>("customer_email")? else {
                    tracing::info!(%job, days = d, "invoice reminder due: the customer has no email");
                    continue;
                };
                let key = format!("invoice-reminder-{job}-{d}");
                enqueue(
                    tx.as_mut(),
                    MessageKind::InvoiceReminder,
                    &email,
                    job,
                    &key,
                    max_attempts,
                    now,
                )
                .await?;
                queued += 1;
            }
            tx.commit().await?;
        }
        Ok(queued)
    }
}

/// Queues an invoice message in the caller's transaction (once per key).
async fn enqueue(
    conn: &mut dyn Conn,
    kind: MessageKind,
    recipient: &str,
    job: JobId,
    key: &str,
    max_attempts: u32,
    now: OffsetDateTime,
) -> Result<()> {
    crate::outbox::store::enqueue_for_invoice(
        conn,
        &crate::outbox::store::NewMessage {
            id: Uuid::new_v4(),
            kind,
            channel: Channel::Email,
            recipient,
            request_id: None,
            desk_item_id: None,
            idempotency_key: key,
            max_attempts,
            send_after: now,
        },
        job.as_uuid(),
        now,
    )
    .await
}

/// What a job commit does to its invoice.
#[derive(Debug)]
pub struct InvoiceProjection {
    job_id: JobId,
    /// The job's registry customer and its name, for finance's queue item.
    customer_id: Option<Uuid>,
    customer_name: String,
    /// Completed and billed: freeze and number it unless it is stored.
    freeze: Option<Freeze>,
    paid: i64,
    credited: i64,
    refunded: i64,
    /// This commit issues the invoice: decided by `write` (which must ask
    /// before the jobs list's projection marks the job completed), acted
    /// on by `write_last`, both in the same attempt of the commit.
    issues: AtomicBool,
}

#[derive(Debug)]
struct Freeze {
    invoice: Invoice,
    customer_name: String,
    customer_email: Option<String>,
    settings: InvoiceSettings,
    max_attempts: u32,
}

#[async_trait]
impl Projection for InvoiceProjection {
    fn check(&self, doc: &fieldsync_core::DocId) -> Result<()> {
        match doc {
            fieldsync_core::DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "invoice of job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        let issues = match &self.freeze {
            Some(_) => issues_invoice(tx, self.job_id).await?,
            None => false,
        };
        self.issues.store(issues, Ordering::Relaxed);
        if issues {
            // Numbered, stored and queued in `write_last`: nothing stored
            // to settle yet.
            return Ok(());
        }
        // What settles it, from the job as it reads now (the commit holds
        // the document's lock: no other commit of this job runs meanwhile).
        tx.execute(
            Query::new(
                "UPDATE invoices SET credited_minor = $1, paid_minor = $2, refunded_minor = $3, \
                     open_minor = total_minor - $1 - $2 + $3, \
                     settled_at = CASE WHEN total_minor - $1 - $2 + $3 <= 0 \
                         THEN COALESCE(settled_at, $4) ELSE NULL END \
                 WHERE job_id = $5",
            )
            .bind(self.credited)
            .bind(self.paid)
            .bind(self.refunded)
            .bind(now)
            .bind(self.job_id),
        )
        .await?;
        self.queue(tx, now).await
    }

    /// The invoice number: the counter row all completions share.
    async fn write_last(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        match &self.freeze {
            Some(f) if self.issues.load(Ordering::Relaxed) => issue(tx, self, f, now).await,
            _ => Ok(()),
        }
    }
}

impl InvoiceProjection {
    /// Finance's queue: one item per open invoice (source `invoice` and the
    /// job's id), opened in the commit that leaves an amount open and
    /// resolved in the one that settles it. The item is opened once per
    /// invoice, ever (the desk's rule): an invoice that opens again after it
    /// was settled is on `/v1/invoices`, not back in the queue.
    async fn queue(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        let Some(row) = tx
            .fetch_optional(
                Query::new(
                    "SELECT number, open_minor, currency, issued_at FROM invoices \
                     WHERE job_id = $1",
                )
                .bind(self.job_id),
            )
            .await?
        else {
            return Ok(());
        };
        let number: String = row.get("number")?;
        let open: i64 = row.get("open_minor")?;
        let issued: OffsetDateTime = row.get("issued_at")?;
        if open <= 0 {
            let source = self.item_source();
            resolve_system_item(tx, &source, &format!("invoice {number} settled"), now).await?;
            return Ok(());
        }
        let currency: String = row.get("currency")?;
        self.open_item(tx, &number, open, &currency, issued, now)
            .await
    }

    fn item_source(&self) -> ItemSource {
        ItemSource {
            kind: SourceKind::Invoice,
            reference: self.job_id.to_string(),
        }
    }

    /// Opens finance's item for the invoice `number` with `open` still to
    /// pay (once per invoice: a second call finds it).
    async fn open_item(
        &self,
        tx: &mut dyn Tx,
        number: &str,
        open: i64,
        currency: &str,
        issued: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let item = SystemItem {
            source: self.item_source(),
            customer_id: self.customer_id,
            // The desk's limit on a name; a job's may be longer.
            customer_name: self.customer_name.chars().take(200).collect(),
            category: ContactCategory::Billing,
            // The issue date: the item's age is the invoice's.
            summary: format!(
                "Invoice {number} issued {}: {} {currency} open",
                issued.date(),
                fieldsync_core::Money(open)
            ),
            team: Team::Finance,
            priority: DeskPriority::Low,
        };
        match open_system_item(tx, &item, now).await {
            Ok(_) => Ok(()),
            Err(SystemItemError::Store(e)) => Err(e),
            // Not worth failing the visit's commit for: the invoice is on
            // `/v1/invoices` either way.
            Err(SystemItemError::Invalid(why)) => {
                tracing::warn!(job = %self.job_id, %why, "invoice not queued for finance");
                Ok(())
            }
        }
    }
}

/// Whether this commit issues the invoice of `job`: none is stored yet,
/// and no earlier commit completed the job. Asked in [`Projection::write`],
/// before the jobs list's projection marks the job completed.
async fn issues_invoice(tx: &mut dyn Tx, job: JobId) -> Result<bool> {
    if tx
        .exists(Query::new("SELECT 1 AS one FROM invoices WHERE job_id = $1").bind(job))
        .await?
    {
        return Ok(false);
    }
    // Only the commit that completes the job issues its invoice: this
    // projection runs before the jobs list's (see `app::projectors`), so a
    // jobs row already completed means an earlier commit completed it (a
    // job completed before invoices existed, or while no price book did).
    // Issuing it now would price old work with today's book and mail the
    // customer out of the blue.
    if tx
        .exists(
            Query::new("SELECT 1 AS one FROM jobs WHERE job_id = $1 AND status = 'completed'")
                .bind(job),
        )
        .await?
    {
        tracing::info!(%job, "completed before invoicing: no invoice issued");
        return Ok(false);
    }
    Ok(true)
}

/// Numbers and stores the invoice [`issues_invoice`] said this commit
/// issues, settled as the job reads now, queues its email and opens
/// finance's item. Runs in [`Projection::write_last`]: the counter row is
/// updated in this transaction (a row lock on PostgreSQL, the single
/// writer on SQLite), so a commit that rolls back burns no number, and
/// its lock is held only by these few statements and the commit itself:
/// completions across processes queue on it for that long, not for the
/// whole transaction.
async fn issue(
    tx: &mut dyn Tx,
    p: &InvoiceProjection,
    f: &Freeze,
    now: OffsetDateTime,
) -> Result<()> {
    let job = p.job_id;
    let series = f.settings.invoice_series.as_str();
    let year = now.year();
    let mut body = f.invoice.clone();
    let open = body.total.0 - p.credited - p.paid + p.refunded;
    let seq: i64 = tx
        .fetch_one(
            Query::new(
                "INSERT INTO invoice_counters (series, year, last) VALUES ($1, $2, 1) \
                 ON CONFLICT (series, year) DO UPDATE SET last = invoice_counters.last + 1 \
                 RETURNING last",
            )
            .bind(series)
            .bind(i64::from(year)),
        )
        .await?
        .get("last")?;
    let number = f.settings.number(year, seq);
    body.number = Some(number.clone());
    let json = serde_json::to_string(&body)
        .map_err(|e| StoreError::other(format!("invoice does not serialize: {e}")))?;
    // Settled as the job reads now in the same statement (what `write`
    // updates on every later commit).
    tx.execute(
        Query::new(
            "INSERT INTO invoices (job_id, number, series, year, seq, customer_name, \
                 customer_email, currency, price_book_version, total_minor, paid_minor, \
                 credited_minor, refunded_minor, open_minor, body, issued_at, settled_at, \
                 number_pending) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18)",
        )
        .bind(job)
        .bind(number.as_str())
        .bind(series)
        .bind(i64::from(year))
        .bind(seq)
        .bind(f.customer_name.as_str())
        .bind(f.customer_email.as_deref())
        .bind(body.currency.as_str())
        .bind(body.price_book_version)
        .bind(body.total.0)
        .bind(p.paid)
        .bind(p.credited)
        .bind(p.refunded)
        .bind(open)
        .bind(json.as_str())
        .bind(now)
        .bind((open <= 0).then_some(now))
        .bind(true),
    )
    .await?;
    if let Some(email) = f
        .customer_email
        .as_ref()
        .filter(|_| f.settings.invoice_email)
    {
        let key = format!("invoice-{job}");
        enqueue(
            tx,
            MessageKind::Invoice,
            email,
            job,
            &key,
            f.max_attempts,
            now,
        )
        .await?;
    }
    // Settled on site: finance never had an item for it, none to resolve.
    if open > 0 {
        p.open_item(tx, &number, open, body.currency.as_str(), now, now)
            .await?;
    }
    Ok(())
}

/// Freezes a completed job's invoice in the commit that completes it,
/// and keeps what settles it in step with every later commit.
pub struct InvoiceProjector {
    settings: InvoiceSettings,
    max_attempts: u32,
}

impl InvoiceProjector {
    pub fn new(settings: InvoiceSettings, max_attempts: u32) -> Self {
        Self {
            settings,
            max_attempts,
        }
    }
}

impl JobProjector for InvoiceProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let job = c.job;
        let completed = job.status == Status::Completed;
        if !completed && job.invoice.is_none() {
            return None;
        }
        let freeze = match (completed, c.invoice) {
            (true, Some(invoice)) => Some(Freeze {
                // A job whose document holds its invoice already bills from
                // it: stored anyway if the row is missing (restored data).
                invoice: invoice.clone(),
                customer_name: job.customer.name.clone(),
                customer_email: job.customer.email.as_ref().map(|e| e.as_str().to_owned()),
                settings: self.settings.clone(),
                max_attempts: self.max_attempts,
            }),
            (true, None) => {
                tracing::warn!(job = %job.id, "completed job not invoiced: it cannot be billed (no price book?)");
                None
            }
            (false, _) => None,
        };
        let settled = c.invoice?;
        Some(Arc::new(InvoiceProjection {
            job_id: job.id,
            customer_id: job.registry.customer,
            customer_name: job.customer.name.clone(),
            freeze,
            paid: settled.paid.0,
            credited: settled.credited.0,
            refunded: settled.refunded.0,
            issues: AtomicBool::new(false),
        }))
    }
}

//! Feedback storage: the [`FeedbackStore`] trait, its SQL (once for every
//! backend), and the projection that asks a completed job's customer for
//! feedback inside the job's commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::UserId;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::*;
use super::questions::{COMMENT, Value};
use super::settings::FeedbackSettings;
use crate::documents::{JobCommit, JobProjector};
use crate::i18n::Language;
use crate::outbox::store::{NewMessage, enqueue};
use crate::store::sql::{Conn, Query, QueryBuilder, Row, Tx};
use crate::store::{Db, Projection, Result, SqlStore, StoreError, TokenHash};

/// Feedback tables: requests, link tokens, answers, follow-ups, the
/// unsubscribe list.
#[async_trait]
pub trait FeedbackStore: Send + Sync {
    /// Sets a user's display name and email (`None` leaves a field as is).
    async fn set_user_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<()>;

    async fn insert_feedback_token(
        &self,
        request: Uuid,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The request a token opens and the token's expiry.
    async fn feedback_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(FeedbackRequest, OffsetDateTime)>>;
    async fn feedback_request(&self, id: Uuid) -> Result<FeedbackRequest>;
    async fn feedback_requests(&self, filter: &RequestFilter) -> Result<Vec<FeedbackRequest>>;
    /// Stores the answers if the request has none yet (atomically); a low
    /// result also records a follow-up and queues an alert to each
    /// supervisor (with an email) of the request's depot, in the same
    /// transaction.
    async fn submit_feedback(
        &self,
        request: Uuid,
        answer: &Answer,
        max_attempts: u32,
    ) -> Result<SubmitOutcome>;
    /// Adds a normalized contact to the unsubscribe list and cancels its
    /// pending feedback requests.
    async fn unsubscribe(&self, contact: &str, now: OffsetDateTime) -> Result<()>;
    async fn is_unsubscribed(&self, contact: &str) -> Result<bool>;

    async fn depots(&self) -> Result<Vec<Depot>>;
    /// Depots a user works for (`depot_staff`).
    async fn staff_depots(&self, user: UserId) -> Result<Vec<Uuid>>;
    /// Newest first; `depots` narrows to these.
    async fn followups(&self, depots: Option<&[Uuid]>, open_only: bool) -> Result<Vec<Followup>>;
    async fn resolve_followup(&self, id: Uuid, by: UserId, now: OffsetDateTime) -> Result<()>;
}

/// Requests with their technician's name and their answers, one row per
/// answer (or one with NULL answer columns): `inner` adds the joins, the
/// filter, the order and the limit to `SELECT r.* FROM feedback_requests r`.
fn requests_query<'a>(extra: &'static str, inner: impl FnOnce(&mut QueryBuilder<'a>)) -> Query<'a> {
    let mut q = QueryBuilder::new(
        "SELECT r.*, u.display_name AS technician_name, a.question AS answer_question, \
             a.score AS answer_score, a.text AS answer_text, c.language AS customer_language \
         FROM (SELECT r.*",
    );
    q.push(extra).push(" FROM feedback_requests r");
    inner(&mut q);
    q.push(
        ") r LEFT JOIN users u ON u.id = r.technician_id \
         LEFT JOIN feedback_answers a ON a.request_id = r.id \
         LEFT JOIN job_registry jr ON jr.job_id = r.job_id \
         LEFT JOIN customers c ON c.id = jr.customer_id \
         ORDER BY r.created_at DESC, r.id, a.question",
    );
    q.build()
}

/// Folds [`requests_query`] rows into requests, in order; `with` reads
/// more of each request's first row.
fn requests_from<T>(
    rows: &[Row],
    with: impl Fn(&Row) -> Result<T>,
) -> Result<Vec<(FeedbackRequest, T)>> {
    let mut out: Vec<(FeedbackRequest, T)> = Vec::new();
    for row in rows {
        let id: Uuid = row.get("id")?;
        if out.last().is_none_or(|(r, _)| r.id != id) {
            out.push((request_from(row)?, with(row)?));
        }
        let Some(key) = row.get::<Option<String>>("answer_question")? else {
            continue;
        };
        let value = Value::from_columns(&key, row.get("answer_score")?, row.get("answer_text")?);
        if let Some((request, _)) = out.last_mut()
            && let (Some(answer), Some(value)) = (request.answer.as_mut(), value)
        {
            answer.values.insert(key, value);
        }
    }
    Ok(out)
}

fn request_from(row: &Row) -> Result<FeedbackRequest> {
    let answered: Option<OffsetDateTime> = row.get("answered_at")?;
    Ok(FeedbackRequest {
        id: row.get("id")?,
        job_id: row.get("job_id")?,
        job_status: row.get("job_status")?,
        technician_id: row.get("technician_id")?,
        technician_name: row.get("technician_name")?,
        depot_id: row.get("depot_id")?,
        customer_name: row.get("customer_name")?,
        channel: row.get("channel")?,
        contact: row.get("contact")?,
        visit_date: row.get("visit_date")?,
        work_done: row.get("work_done")?,
        language: row
            .get::<Option<Language>>("customer_language")?
            .unwrap_or(Language::En),
        created_at: row.get("created_at")?,
        answer: answered.map(|at| Answer {
            answered_at: at,
            values: BTreeMap::new(),
        }),
    })
}

/// Writes a job's feedback request (insert-or-ignore per job) and queues
/// its message, unless one of the customer's contacts unsubscribed.
async fn write_trigger(
    conn: &mut dyn Conn,
    t: &FeedbackTrigger,
    now: OffsetDateTime,
) -> Result<()> {
    if !t.opt_out_keys.is_empty() {
        let mut q = QueryBuilder::new("SELECT 1 FROM feedback_unsubscribes WHERE contact IN (");
        q.push_list(t.opt_out_keys.iter().map(String::as_str))
            .push(") LIMIT 1");
        if conn.exists(q.build()).await? {
            return Ok(());
        }
    }
    let done = conn
        .execute(
            Query::new(
                "INSERT INTO feedback_requests (id, job_id, job_status, technician_id, depot_id, \
                     customer_name, channel, contact, visit_date, work_done, created_at) \
                 VALUES ($1, $2, $3, $4, \
                     (SELECT depot_id FROM locations WHERE kind = 'van' AND technician_id = $4), \
                     $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (job_id) DO NOTHING",
            )
            .bind(t.request_id)
            .bind(t.job_id)
            .bind(t.job_status)
            .bind(t.technician_id)
            .bind(&t.customer_name)
            .bind(t.channel)
            .bind(&t.contact)
            .bind(&t.visit_date)
            .bind(&t.work_done)
            .bind(now),
        )
        .await?;
    if done == 0 {
        return Ok(());
    }
    let key = format!("feedback-request-{}", t.request_id);
    let message = NewMessage {
        id: t.message_id,
        kind: MessageKind::FeedbackRequest,
        channel: t.channel,
        recipient: &t.contact,
        request_id: Some(t.request_id),
        desk_item_id: None,
        idempotency_key: &key,
        max_attempts: t.max_attempts,
        send_after: t.send_after,
    };
    enqueue(conn, &message, now).await
}

#[async_trait]
impl Projection for FeedbackTrigger {
    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        write_trigger(tx, self, now).await
    }
}

/// Asks a job's customer for feedback when a commit completes the job
/// (see [`super::trigger_for`]).
pub struct RequestProjector {
    settings: FeedbackSettings,
}

impl RequestProjector {
    pub fn new(settings: FeedbackSettings) -> Self {
        Self { settings }
    }
}

impl JobProjector for RequestProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        super::trigger_for(c.job, &self.settings, c.now).map(|t| Arc::new(t) as Arc<dyn Projection>)
    }
}

/// One attempt of [`FeedbackStore::submit_feedback`]: the answer once, and
/// for a low result the follow-up and its alerts, in one transaction.
async fn submit(db: &Db, request: Uuid, a: &Answer, max_attempts: u32) -> Result<SubmitOutcome> {
    let mut tx = db.begin().await?;
    // PostgreSQL's row lock makes two concurrent submissions queue; the
    // second sees answered_at set and changes nothing.
    let done = tx
        .execute(
            Query::new(
                "UPDATE feedback_requests SET answered_at = $1 \
                 WHERE id = $2 AND answered_at IS NULL",
            )
            .bind(a.answered_at)
            .bind(request),
        )
        .await?;
    if done == 0 {
        return Ok(SubmitOutcome::AlreadyAnswered);
    }
    for (question, value) in &a.values {
        let (score, text) = value.to_columns();
        tx.execute(
            Query::new(
                "INSERT INTO feedback_answers (request_id, question, score, text) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(request)
            .bind(question)
            .bind(score)
            .bind(text),
        )
        .await?;
    }
    if !a.is_low() {
        tx.commit().await?;
        return Ok(SubmitOutcome::Recorded { followup: false });
    }
    let followup = Uuid::new_v4();
    tx.execute(
        Query::new(
            "INSERT INTO feedback_followups (id, request_id, depot_id, reason, created_at) \
             SELECT $1, id, depot_id, $2, $3 FROM feedback_requests WHERE id = $4",
        )
        .bind(followup)
        .bind(a.low_reason())
        .bind(a.answered_at)
        .bind(request),
    )
    .await?;
    // The low result is a complaint contact in the service desk's log,
    // routed like any other (same transaction: both or neither).
    let about = tx
        .fetch_one(
            Query::new(
                "SELECT r.customer_name, r.job_id, j.customer_id, j.site_id, j.asset_id \
                 FROM feedback_requests r LEFT JOIN job_registry j ON j.job_id = r.job_id \
                 WHERE r.id = $1",
            )
            .bind(request),
        )
        .await?;
    let mut summary = format!("Low feedback result: {}", a.low_reason());
    if let Some(comment) = a.values.get(COMMENT) {
        summary.push_str(&format!(". Comment: {comment}"));
    }
    let summary: String = summary
        .chars()
        .take(fieldsync_core::job::contact::MAX_SUMMARY)
        .collect();
    let contact = crate::desk::model::NewContact {
        id: followup,
        customer_id: about.get("customer_id")?,
        customer_name: about.get("customer_name")?,
        site_id: about.get("site_id")?,
        asset_id: about.get("asset_id")?,
        job_id: Some(about.get("job_id")?),
        channel: fieldsync_core::job::ContactChannel::Feedback,
        direction: fieldsync_core::job::ContactDirection::Inbound,
        category: fieldsync_core::job::ContactCategory::Complaint,
        summary,
        logged_by: None,
        source: crate::desk::model::Source::Feedback,
        device_time: None,
    };
    crate::desk::store::record_contact(tx.as_mut(), &contact, a.answered_at).await?;
    let supervisors = tx
        .fetch_all(
            Query::new(
                "SELECT u.id, u.email FROM feedback_requests r \
                 JOIN depot_staff s ON s.depot_id = r.depot_id \
                 JOIN users u ON u.id = s.user_id \
                 WHERE r.id = $1 AND u.role = 'supervisor' AND u.email IS NOT NULL \
                 ORDER BY u.id",
            )
            .bind(request),
        )
        .await?;
    for s in &supervisors {
        let user: UserId = s.get("id")?;
        let email: String = s.get("email")?;
        let key = format!("followup-alert-{followup}-{user}");
        let alert = NewMessage {
            id: Uuid::new_v4(),
            kind: MessageKind::FollowupAlert,
            channel: Channel::Email,
            recipient: &email,
            request_id: Some(request),
            desk_item_id: None,
            idempotency_key: &key,
            max_attempts,
            send_after: a.answered_at,
        };
        enqueue(tx.as_mut(), &alert, a.answered_at).await?;
    }
    tx.commit().await?;
    Ok(SubmitOutcome::Recorded { followup: true })
}

async fn unsubscribe(db: &Db, contact: &str, now: OffsetDateTime) -> Result<()> {
    let mut tx = db.begin().await?;
    tx.execute(
        Query::new(
            "INSERT INTO feedback_unsubscribes (contact, created_at) VALUES ($1, $2) \
             ON CONFLICT (contact) DO NOTHING",
        )
        .bind(contact)
        .bind(now),
    )
    .await?;
    tx.execute(
        Query::new(
            "UPDATE outbox_messages SET status = 'cancelled', lease_owner = NULL, \
                 lease_until = NULL \
             WHERE recipient = $1 AND kind = 'feedback_request' AND status = 'pending'",
        )
        .bind(contact),
    )
    .await?;
    tx.commit().await
}

#[async_trait]
impl FeedbackStore for SqlStore {
    async fn set_user_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<()> {
        let done = self
            .db()
            .execute(
                Query::new(
                    "UPDATE users SET display_name = COALESCE($1, display_name), \
                         email = COALESCE($2, email) WHERE id = $3",
                )
                .bind(display_name)
                .bind(email)
                .bind(user),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn insert_feedback_token(
        &self,
        request: Uuid,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO feedback_tokens (token_hash, request_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&hash.0[..])
                .bind(request)
                .bind(now)
                .bind(expires_at),
            )
            .await?;
        Ok(())
    }

    async fn feedback_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(FeedbackRequest, OffsetDateTime)>> {
        let q = requests_query(", t.expires_at AS token_expires_at", |q| {
            q.push(" JOIN feedback_tokens t ON t.request_id = r.id WHERE t.token_hash = ")
                .push_bind(&hash.0[..]);
        });
        let rows = self.db().fetch_all(q).await?;
        let found = requests_from(&rows, |row| row.get("token_expires_at"))?;
        Ok(found.into_iter().next())
    }

    async fn feedback_request(&self, request: Uuid) -> Result<FeedbackRequest> {
        let q = requests_query("", |q| {
            q.push(" WHERE r.id = ").push_bind(request);
        });
        let rows = self.db().fetch_all(q).await?;
        let found = requests_from(&rows, |_| Ok(()))?;
        found
            .into_iter()
            .next()
            .map(|(r, ())| r)
            .ok_or(StoreError::NotFound)
    }

    async fn feedback_requests(&self, f: &RequestFilter) -> Result<Vec<FeedbackRequest>> {
        if f.depots.as_ref().is_some_and(|d| d.is_empty()) {
            return Ok(Vec::new());
        }
        let q = requests_query("", |q| {
            q.push(" WHERE 1 = 1");
            if let Some(from) = f.from {
                q.push(" AND r.created_at >= ").push_bind(from);
            }
            if let Some(until) = f.until {
                q.push(" AND r.created_at < ").push_bind(until);
            }
            if let Some(job) = f.job_id {
                q.push(" AND r.job_id = ").push_bind(job);
            }
            if let Some(depots) = &f.depots {
                q.push(" AND r.depot_id IN (")
                    .push_list(depots.iter().copied())
                    .push(")");
            }
            if let Some(technician) = f.technician {
                q.push(" AND r.technician_id = ").push_bind(technician);
            }
            if f.answered_only {
                q.push(" AND r.answered_at IS NOT NULL");
            }
            q.push(" ORDER BY r.created_at DESC, r.id LIMIT ")
                .push_bind(f.limit())
                .push(" OFFSET ")
                .push_bind(i64::from(f.offset.unwrap_or(0)));
        });
        let rows = self.db().fetch_all(q).await?;
        Ok(requests_from(&rows, |_| Ok(()))?
            .into_iter()
            .map(|(r, ())| r)
            .collect())
    }

    async fn submit_feedback(
        &self,
        request: Uuid,
        answer: &Answer,
        max_attempts: u32,
    ) -> Result<SubmitOutcome> {
        self.db()
            .retry(|| submit(self.db(), request, answer, max_attempts))
            .await
    }

    async fn unsubscribe(&self, contact: &str, now: OffsetDateTime) -> Result<()> {
        self.db()
            .retry(|| unsubscribe(self.db(), contact, now))
            .await
    }

    async fn is_unsubscribed(&self, contact: &str) -> Result<bool> {
        self.db()
            .exists(
                Query::new("SELECT 1 FROM feedback_unsubscribes WHERE contact = $1").bind(contact),
            )
            .await
    }

    async fn depots(&self) -> Result<Vec<Depot>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT id, name FROM locations WHERE kind = 'depot' ORDER BY name, id",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Depot {
                    id: r.get("id")?,
                    name: r.get("name")?,
                })
            })
            .collect()
    }

    async fn staff_depots(&self, user: UserId) -> Result<Vec<Uuid>> {
        let rows = self
            .db()
            .fetch_all(Query::new("SELECT depot_id FROM depot_staff WHERE user_id = $1").bind(user))
            .await?;
        rows.iter().map(|r| r.get("depot_id")).collect()
    }

    async fn followups(&self, depots: Option<&[Uuid]>, open_only: bool) -> Result<Vec<Followup>> {
        let mut q = QueryBuilder::new(
            "SELECT f.id, f.request_id, r.job_id, f.depot_id, r.technician_id, \
                 u.display_name AS technician_name, r.customer_name, f.reason, \
                 c.text AS comment, f.created_at, f.resolved_at \
             FROM feedback_followups f JOIN feedback_requests r ON r.id = f.request_id \
             LEFT JOIN users u ON u.id = r.technician_id \
             LEFT JOIN feedback_answers c ON c.request_id = r.id AND c.question = ",
        );
        q.push_bind(COMMENT).push(" WHERE 1 = 1");
        if open_only {
            q.push(" AND f.resolved_at IS NULL");
        }
        if let Some(depots) = depots {
            if depots.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND f.depot_id IN (")
                .push_list(depots.iter().copied())
                .push(")");
        }
        q.push(" ORDER BY f.created_at DESC, f.id LIMIT 1000");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter()
            .map(|r| {
                Ok(Followup {
                    id: r.get("id")?,
                    request_id: r.get("request_id")?,
                    job_id: r.get("job_id")?,
                    depot_id: r.get("depot_id")?,
                    technician_id: r.get("technician_id")?,
                    technician_name: r.get("technician_name")?,
                    customer_name: r.get("customer_name")?,
                    reason: r.get("reason")?,
                    comment: r.get::<Option<String>>("comment")?.unwrap_or_default(),
                    created_at: r.get("created_at")?,
                    resolved_at: r.get("resolved_at")?,
                })
            })
            .collect()
    }

    async fn resolve_followup(
        &self,
        followup: Uuid,
        by: UserId,
        now: OffsetDateTime,
    ) -> Result<()> {
        let done = self
            .db()
            .execute(
                Query::new(
                    "UPDATE feedback_followups SET resolved_at = COALESCE(resolved_at, $1), \
                         resolved_by = COALESCE(resolved_by, $2) WHERE id = $3",
                )
                .bind(now)
                .bind(by)
                .bind(followup),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

//! [`FeedbackStore`] on SQLite (times as Unix ms, ids as UUID text).

use async_trait::async_trait;
use fieldsync_core::{JobId, Status, UserId};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::FeedbackStore;
use super::model::*;
use crate::store::{Result, SqliteStore, StoreError, TokenHash, now_utc};

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::corrupt("timestamp", e))
}

fn opt_ms(v: Option<i64>) -> Result<Option<OffsetDateTime>> {
    v.map(from_ms).transpose()
}

fn id(u: Uuid) -> String {
    u.hyphenated().to_string()
}

fn uuid_of(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::corrupt("uuid", e))
}

fn opt_uuid(row: &SqliteRow, col: &str) -> Result<Option<Uuid>> {
    let v: Option<String> = row.try_get(col)?;
    v.as_deref().map(uuid_of).transpose()
}

fn parse<T: std::str::FromStr>(row: &SqliteRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| StoreError::corrupt(col, e))
}

macro_rules! request_cols {
    () => {
        "r.id, r.job_id, r.job_status, r.technician_id, u.display_name AS technician_name, \
         r.depot_id, r.customer_name, r.channel, r.contact, r.visit_date, r.work_done, \
         r.created_at, r.answered_at, r.fixed, r.rating, r.courtesy, r.recommend, r.comment"
    };
}
macro_rules! request_from {
    () => {
        " FROM feedback_requests r LEFT JOIN users u ON u.id = r.technician_id"
    };
}
macro_rules! message_cols {
    () => {
        "id, kind, channel, recipient, request_id, idempotency_key, status, attempts, \
         max_attempts, next_attempt_at, last_error, created_at, sent_at"
    };
}

fn request_from_row(row: &SqliteRow) -> Result<FeedbackRequest> {
    let answered: Option<i64> = row.try_get("answered_at")?;
    let answer = match answered {
        None => None,
        Some(at) => Some(Answer {
            answered_at: from_ms(at)?,
            fixed: row.try_get::<Option<i64>, _>("fixed")?.unwrap_or(0) != 0,
            rating: row.try_get::<Option<i64>, _>("rating")?.unwrap_or(0) as u8,
            courtesy: row.try_get::<Option<i64>, _>("courtesy")?.unwrap_or(0) as u8,
            recommend: row.try_get::<Option<i64>, _>("recommend")?.unwrap_or(0) as u8,
            comment: row
                .try_get::<Option<String>, _>("comment")?
                .unwrap_or_default(),
        }),
    };
    let job_id: String = row.try_get("job_id")?;
    let status: String = row.try_get("job_status")?;
    Ok(FeedbackRequest {
        id: uuid_of(&row.try_get::<String, _>("id")?)?,
        job_id: JobId::from_uuid(uuid_of(&job_id)?),
        job_status: status
            .parse::<Status>()
            .map_err(|e| StoreError::corrupt("status", e))?,
        technician_id: opt_uuid(row, "technician_id")?.map(UserId::from_uuid),
        technician_name: row.try_get("technician_name")?,
        depot_id: opt_uuid(row, "depot_id")?,
        customer_name: row.try_get("customer_name")?,
        channel: parse(row, "channel")?,
        contact: row.try_get("contact")?,
        visit_date: row.try_get("visit_date")?,
        work_done: row.try_get("work_done")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        answer,
    })
}

fn message_from_row(row: &SqliteRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: uuid_of(&row.try_get::<String, _>("id")?)?,
        kind: parse(row, "kind")?,
        channel: parse(row, "channel")?,
        recipient: row.try_get("recipient")?,
        request_id: opt_uuid(row, "request_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse(row, "status")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        max_attempts: row.try_get::<i64, _>("max_attempts")? as u32,
        next_attempt_at: from_ms(row.try_get("next_attempt_at")?)?,
        last_error: row.try_get("last_error")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        sent_at: opt_ms(row.try_get("sent_at")?)?,
    })
}

/// Called by `SqliteStore::commit` inside its transaction.
pub(crate) async fn write_trigger(
    tx: &mut Transaction<'static, Sqlite>,
    trigger: Option<&FeedbackTrigger>,
) -> Result<()> {
    let Some(t) = trigger else {
        return Ok(());
    };
    for key in &t.opt_out_keys {
        let out: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM feedback_unsubscribes WHERE contact = ?1")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?;
        if out.is_some() {
            return Ok(());
        }
    }
    let now = ms(now_utc());
    let technician = t.technician_id.map(|u| id(u.as_uuid()));
    let done = sqlx::query(
        "INSERT INTO feedback_requests (id, job_id, job_status, technician_id, depot_id, \
             customer_name, channel, contact, visit_date, work_done, created_at) \
         VALUES (?1, ?2, ?3, ?4, \
             (SELECT depot_id FROM locations WHERE kind = 'van' AND technician_id = ?4), \
             ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(id(t.request_id))
    .bind(id(t.job_id.as_uuid()))
    .bind(t.job_status.as_str())
    .bind(&technician)
    .bind(&t.customer_name)
    .bind(t.channel.as_str())
    .bind(&t.contact)
    .bind(&t.visit_date)
    .bind(&t.work_done)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(());
    }
    insert_message(
        tx,
        t.message_id,
        MessageKind::FeedbackRequest,
        t.channel,
        &t.contact,
        Some(t.request_id),
        &format!("feedback-request-{}", t.request_id),
        t.max_attempts,
        ms(t.send_after),
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    tx: &mut Transaction<'static, Sqlite>,
    message_id: Uuid,
    kind: MessageKind,
    channel: Channel,
    recipient: &str,
    request: Option<Uuid>,
    key: &str,
    max_attempts: u32,
    send_after: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox_messages (id, kind, channel, recipient, request_id, idempotency_key, \
             status, attempts, max_attempts, next_attempt_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?9) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(id(message_id))
    .bind(kind.as_str())
    .bind(channel.as_str())
    .bind(recipient)
    .bind(request.map(id))
    .bind(key)
    .bind(i64::from(max_attempts))
    .bind(send_after)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl FeedbackStore for SqliteStore {
    async fn set_user_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            let done = sqlx::query(
                "UPDATE users SET display_name = COALESCE(?1, display_name), \
                     email = COALESCE(?2, email) WHERE id = ?3",
            )
            .bind(display_name)
            .bind(email)
            .bind(id(user.as_uuid()))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn claim_outbox(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // Idle polls read only: the write lock is shared with every sync commit.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM outbox_messages WHERE status = 'pending' AND next_attempt_at <= ?1 \
             AND (lease_until IS NULL OR lease_until < ?1) LIMIT 1",
        )
        .bind(ms(now))
        .fetch_optional(&self.reader)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // One writer connection and BEGIN IMMEDIATE: no other claim runs
        // between the select and the update.
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            let rows = sqlx::query(concat!(
                "UPDATE outbox_messages SET lease_owner = ?1, lease_until = ?2, \
                     attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' \
                     AND next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) \
                     ORDER BY next_attempt_at LIMIT ?4) \
                 RETURNING ",
                message_cols!()
            ))
            .bind(owner)
            .bind(ms(lease_until))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            let messages = rows
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>>>()?;
            tx.commit().await?;
            Ok(messages)
        })
        .await
    }

    async fn finish_outbox(
        &self,
        message: Uuid,
        owner: &str,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            let q = match delivery {
                Delivery::Sent => sqlx::query(
                    "UPDATE outbox_messages SET status = 'sent', sent_at = ?1, \
                         lease_owner = NULL, lease_until = NULL \
                     WHERE id = ?2 AND lease_owner = ?3",
                )
                .bind(ms(now)),
                Delivery::Retry { at, .. } => sqlx::query(
                    "UPDATE outbox_messages SET status = CASE WHEN attempts >= max_attempts \
                         THEN 'failed' ELSE 'pending' END, next_attempt_at = ?1, \
                         last_error = ?4, lease_owner = NULL, lease_until = NULL \
                     WHERE id = ?2 AND lease_owner = ?3",
                )
                .bind(ms(*at)),
                Delivery::Failed { .. } => sqlx::query(
                    "UPDATE outbox_messages SET status = 'failed', next_attempt_at = ?1, \
                         last_error = ?4, lease_owner = NULL, lease_until = NULL \
                     WHERE id = ?2 AND lease_owner = ?3",
                )
                .bind(ms(now)),
            };
            let q = q.bind(id(message)).bind(owner);
            let q = match delivery {
                Delivery::Sent => q,
                Delivery::Retry { error, .. } | Delivery::Failed { error } => q.bind(error),
            };
            q.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn outbox_messages(
        &self,
        request: Option<Uuid>,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let mut q = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            message_cols!(),
            " FROM outbox_messages WHERE 1 = 1"
        ));
        if let Some(r) = request {
            q.push(" AND request_id = ").push_bind(id(r));
        }
        if let Some(s) = status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        q.push(" ORDER BY created_at DESC, id LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 1000)));
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn insert_feedback_token(
        &self,
        request: Uuid,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            sqlx::query(
                "INSERT INTO feedback_tokens (token_hash, request_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&hash.0[..])
            .bind(id(request))
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn feedback_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(FeedbackRequest, OffsetDateTime)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            request_cols!(),
            ", t.expires_at AS token_expires_at",
            request_from!(),
            " JOIN feedback_tokens t ON t.request_id = r.id WHERE t.token_hash = ?1"
        ))
        .bind(&hash.0[..])
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok((
                request_from_row(&row)?,
                from_ms(row.try_get("token_expires_at")?)?,
            ))
        })
        .transpose()
    }

    async fn feedback_request(&self, request: Uuid) -> Result<FeedbackRequest> {
        let row = sqlx::query(concat!(
            "SELECT ",
            request_cols!(),
            request_from!(),
            " WHERE r.id = ?1"
        ))
        .bind(id(request))
        .fetch_one(&self.reader)
        .await?;
        request_from_row(&row)
    }

    async fn feedback_requests(&self, f: &RequestFilter) -> Result<Vec<FeedbackRequest>> {
        let mut q = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            request_cols!(),
            request_from!(),
            " WHERE 1 = 1"
        ));
        if let Some(from) = f.from {
            q.push(" AND r.created_at >= ").push_bind(ms(from));
        }
        if let Some(until) = f.until {
            q.push(" AND r.created_at < ").push_bind(ms(until));
        }
        if let Some(job) = f.job_id {
            q.push(" AND r.job_id = ").push_bind(id(job.as_uuid()));
        }
        if let Some(depots) = &f.depots {
            if depots.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND r.depot_id IN (");
            let mut sep = q.separated(", ");
            for d in depots {
                sep.push_bind(id(*d));
            }
            q.push(")");
        }
        q.push(" ORDER BY r.created_at DESC, r.id LIMIT ")
            .push_bind(f.limit());
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn submit_feedback(
        &self,
        request: Uuid,
        a: &Answer,
        max_attempts: u32,
    ) -> Result<SubmitOutcome> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            let done = sqlx::query(
                "UPDATE feedback_requests SET answered_at = ?1, fixed = ?2, rating = ?3, \
                     courtesy = ?4, recommend = ?5, comment = ?6 \
                 WHERE id = ?7 AND answered_at IS NULL",
            )
            .bind(ms(a.answered_at))
            .bind(i64::from(a.fixed))
            .bind(i64::from(a.rating))
            .bind(i64::from(a.courtesy))
            .bind(i64::from(a.recommend))
            .bind(&a.comment)
            .bind(id(request))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(SubmitOutcome::AlreadyAnswered);
            }
            if !a.is_low() {
                tx.commit().await?;
                return Ok(SubmitOutcome::Recorded { followup: false });
            }
            let followup = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO feedback_followups (id, request_id, depot_id, reason, created_at) \
                 SELECT ?1, id, depot_id, ?2, ?3 FROM feedback_requests WHERE id = ?4",
            )
            .bind(id(followup))
            .bind(a.low_reason())
            .bind(ms(a.answered_at))
            .bind(id(request))
            .execute(&mut *tx)
            .await?;
            let supervisors = sqlx::query(
                "SELECT u.id, u.email FROM feedback_requests r \
                 JOIN depot_staff s ON s.depot_id = r.depot_id \
                 JOIN users u ON u.id = s.user_id \
                 WHERE r.id = ?1 AND u.role = 'supervisor' AND u.email IS NOT NULL \
                 ORDER BY u.id",
            )
            .bind(id(request))
            .fetch_all(&mut *tx)
            .await?;
            for s in &supervisors {
                let user: String = s.try_get("id")?;
                let email: String = s.try_get("email")?;
                insert_message(
                    &mut tx,
                    Uuid::new_v4(),
                    MessageKind::FollowupAlert,
                    Channel::Email,
                    &email,
                    Some(request),
                    &format!("followup-alert-{followup}-{user}"),
                    max_attempts,
                    ms(a.answered_at),
                    ms(a.answered_at),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(SubmitOutcome::Recorded { followup: true })
        })
        .await
    }

    async fn unsubscribe(&self, contact: &str, now: OffsetDateTime) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            sqlx::query(
                "INSERT INTO feedback_unsubscribes (contact, created_at) VALUES (?1, ?2) \
                 ON CONFLICT (contact) DO NOTHING",
            )
            .bind(contact)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE outbox_messages SET status = 'cancelled', lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE recipient = ?1 AND kind = 'feedback_request' AND status = 'pending'",
            )
            .bind(contact)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn is_unsubscribed(&self, contact: &str) -> Result<bool> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM feedback_unsubscribes WHERE contact = ?1")
                .bind(contact)
                .fetch_optional(&self.reader)
                .await?;
        Ok(v.is_some())
    }

    async fn depots(&self) -> Result<Vec<Depot>> {
        let rows =
            sqlx::query("SELECT id, name FROM locations WHERE kind = 'depot' ORDER BY name, id")
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Depot {
                    id: uuid_of(&r.try_get::<String, _>("id")?)?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    async fn staff_depots(&self, user: UserId) -> Result<Vec<Uuid>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT depot_id FROM depot_staff WHERE user_id = ?1")
                .bind(id(user.as_uuid()))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|s| uuid_of(s)).collect()
    }

    async fn followups(&self, depots: Option<&[Uuid]>, open_only: bool) -> Result<Vec<Followup>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT f.id, f.request_id, r.job_id, f.depot_id, r.technician_id, \
                 u.display_name AS technician_name, r.customer_name, f.reason, r.comment, \
                 f.created_at, f.resolved_at \
             FROM feedback_followups f JOIN feedback_requests r ON r.id = f.request_id \
             LEFT JOIN users u ON u.id = r.technician_id WHERE 1 = 1",
        );
        if open_only {
            q.push(" AND f.resolved_at IS NULL");
        }
        if let Some(depots) = depots {
            if depots.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND f.depot_id IN (");
            let mut sep = q.separated(", ");
            for d in depots {
                sep.push_bind(id(*d));
            }
            q.push(")");
        }
        q.push(" ORDER BY f.created_at DESC, f.id LIMIT 1000");
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(Followup {
                    id: uuid_of(&r.try_get::<String, _>("id")?)?,
                    request_id: uuid_of(&r.try_get::<String, _>("request_id")?)?,
                    job_id: JobId::from_uuid(uuid_of(&r.try_get::<String, _>("job_id")?)?),
                    depot_id: opt_uuid(r, "depot_id")?,
                    technician_id: opt_uuid(r, "technician_id")?.map(UserId::from_uuid),
                    technician_name: r.try_get("technician_name")?,
                    customer_name: r.try_get("customer_name")?,
                    reason: r.try_get("reason")?,
                    comment: r
                        .try_get::<Option<String>, _>("comment")?
                        .unwrap_or_default(),
                    created_at: from_ms(r.try_get("created_at")?)?,
                    resolved_at: opt_ms(r.try_get("resolved_at")?)?,
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
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            let done = sqlx::query(
                "UPDATE feedback_followups SET resolved_at = COALESCE(resolved_at, ?1), \
                     resolved_by = COALESCE(resolved_by, ?2) WHERE id = ?3",
            )
            .bind(ms(now))
            .bind(id(by.as_uuid()))
            .bind(id(followup))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

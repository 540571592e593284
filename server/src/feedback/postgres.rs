//! [`FeedbackStore`] on PostgreSQL. Outbox claims use `FOR UPDATE SKIP
//! LOCKED`, so several server processes share the outbox without sending a
//! message twice at once.

use async_trait::async_trait;
use fieldsync_core::{JobId, Status, UserId};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::FeedbackStore;
use super::model::*;
use crate::store::{PgStore, Result, StoreError, TokenHash, now_utc};

fn parse<T: std::str::FromStr>(row: &PgRow, col: &str) -> Result<T>
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

fn request_from_row(row: &PgRow) -> Result<FeedbackRequest> {
    let answered: Option<OffsetDateTime> = row.try_get("answered_at")?;
    let small =
        |col: &str| -> Result<u8> { Ok(row.try_get::<Option<i32>, _>(col)?.unwrap_or(0) as u8) };
    let answer = match answered {
        None => None,
        Some(at) => Some(Answer {
            answered_at: at,
            fixed: row.try_get::<Option<bool>, _>("fixed")?.unwrap_or(false),
            rating: small("rating")?,
            courtesy: small("courtesy")?,
            recommend: small("recommend")?,
            comment: row
                .try_get::<Option<String>, _>("comment")?
                .unwrap_or_default(),
        }),
    };
    let status: String = row.try_get("job_status")?;
    Ok(FeedbackRequest {
        id: row.try_get("id")?,
        job_id: JobId::from_uuid(row.try_get("job_id")?),
        job_status: status
            .parse::<Status>()
            .map_err(|e| StoreError::corrupt("status", e))?,
        technician_id: row
            .try_get::<Option<Uuid>, _>("technician_id")?
            .map(UserId::from_uuid),
        technician_name: row.try_get("technician_name")?,
        depot_id: row.try_get("depot_id")?,
        customer_name: row.try_get("customer_name")?,
        channel: parse(row, "channel")?,
        contact: row.try_get("contact")?,
        visit_date: row.try_get("visit_date")?,
        work_done: row.try_get("work_done")?,
        created_at: row.try_get("created_at")?,
        answer,
    })
}

fn message_from_row(row: &PgRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.try_get("id")?,
        kind: parse(row, "kind")?,
        channel: parse(row, "channel")?,
        recipient: row.try_get("recipient")?,
        request_id: row.try_get("request_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse(row, "status")?,
        attempts: row.try_get::<i32, _>("attempts")? as u32,
        max_attempts: row.try_get::<i32, _>("max_attempts")? as u32,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// Called by `PgStore::commit` inside its transaction (which holds the
/// job document's row lock, so two commits of one job never race here;
/// the unique job_id would stop a second request anyway).
pub(crate) async fn write_trigger(
    tx: &mut Transaction<'static, Postgres>,
    trigger: Option<&FeedbackTrigger>,
) -> Result<()> {
    let Some(t) = trigger else {
        return Ok(());
    };
    let out: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM feedback_unsubscribes WHERE contact = ANY($1) LIMIT 1")
            .bind(&t.opt_out_keys)
            .fetch_optional(&mut **tx)
            .await?;
    if out.is_some() {
        return Ok(());
    }
    let now = now_utc();
    let done = sqlx::query(
        "INSERT INTO feedback_requests (id, job_id, job_status, technician_id, depot_id, \
             customer_name, channel, contact, visit_date, work_done, created_at) \
         VALUES ($1, $2, $3, $4, \
             (SELECT depot_id FROM locations WHERE kind = 'van' AND technician_id = $4), \
             $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(t.request_id)
    .bind(t.job_id.as_uuid())
    .bind(t.job_status.as_str())
    .bind(t.technician_id.map(|u| u.as_uuid()))
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
        t.send_after,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    tx: &mut Transaction<'static, Postgres>,
    message_id: Uuid,
    kind: MessageKind,
    channel: Channel,
    recipient: &str,
    request: Option<Uuid>,
    key: &str,
    max_attempts: u32,
    send_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox_messages (id, kind, channel, recipient, request_id, idempotency_key, \
             status, attempts, max_attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(message_id)
    .bind(kind.as_str())
    .bind(channel.as_str())
    .bind(recipient)
    .bind(request)
    .bind(key)
    .bind(max_attempts as i32)
    .bind(send_after)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl FeedbackStore for PgStore {
    async fn set_user_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), \
                 email = COALESCE($2, email) WHERE id = $3",
        )
        .bind(display_name)
        .bind(email)
        .bind(user.as_uuid())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn claim_outbox(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.write(|| async {
            let rows = sqlx::query(concat!(
                "UPDATE outbox_messages SET lease_owner = $1, lease_until = $2, \
                     attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' \
                     AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                     ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING ",
                message_cols!()
            ))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(message_from_row).collect()
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
        let q = match delivery {
            Delivery::Sent => sqlx::query(
                "UPDATE outbox_messages SET status = 'sent', sent_at = $1, \
                     lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now),
            Delivery::Retry { at, .. } => sqlx::query(
                "UPDATE outbox_messages SET status = CASE WHEN attempts >= max_attempts \
                     THEN 'failed' ELSE 'pending' END, next_attempt_at = $1, \
                     last_error = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(*at),
            Delivery::Failed { .. } => sqlx::query(
                "UPDATE outbox_messages SET status = 'failed', next_attempt_at = $1, \
                     last_error = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now),
        };
        let q = q.bind(message).bind(owner);
        let q = match delivery {
            Delivery::Sent => q,
            Delivery::Retry { error, .. } | Delivery::Failed { error } => q.bind(error),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    async fn outbox_messages(
        &self,
        request: Option<Uuid>,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            message_cols!(),
            " FROM outbox_messages WHERE TRUE"
        ));
        if let Some(r) = request {
            q.push(" AND request_id = ").push_bind(r);
        }
        if let Some(s) = status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        q.push(" ORDER BY created_at DESC, id LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 1000)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn insert_feedback_token(
        &self,
        request: Uuid,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO feedback_tokens (token_hash, request_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&hash.0[..])
        .bind(request)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
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
            " JOIN feedback_tokens t ON t.request_id = r.id WHERE t.token_hash = $1"
        ))
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((request_from_row(&row)?, row.try_get("token_expires_at")?)))
            .transpose()
    }

    async fn feedback_request(&self, request: Uuid) -> Result<FeedbackRequest> {
        let row = sqlx::query(concat!(
            "SELECT ",
            request_cols!(),
            request_from!(),
            " WHERE r.id = $1"
        ))
        .bind(request)
        .fetch_one(&self.pool)
        .await?;
        request_from_row(&row)
    }

    async fn feedback_requests(&self, f: &RequestFilter) -> Result<Vec<FeedbackRequest>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            request_cols!(),
            request_from!(),
            " WHERE TRUE"
        ));
        if let Some(from) = f.from {
            q.push(" AND r.created_at >= ").push_bind(from);
        }
        if let Some(until) = f.until {
            q.push(" AND r.created_at < ").push_bind(until);
        }
        if let Some(job) = f.job_id {
            q.push(" AND r.job_id = ").push_bind(job.as_uuid());
        }
        if let Some(depots) = &f.depots {
            q.push(" AND r.depot_id = ANY(")
                .push_bind(depots.clone())
                .push(")");
        }
        q.push(" ORDER BY r.created_at DESC, r.id LIMIT ")
            .push_bind(f.limit());
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn submit_feedback(
        &self,
        request: Uuid,
        a: &Answer,
        max_attempts: u32,
    ) -> Result<SubmitOutcome> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            // The row lock makes two concurrent submissions queue; the
            // second sees answered_at set and changes nothing.
            let done = sqlx::query(
                "UPDATE feedback_requests SET answered_at = $1, fixed = $2, rating = $3, \
                     courtesy = $4, recommend = $5, comment = $6 \
                 WHERE id = $7 AND answered_at IS NULL",
            )
            .bind(a.answered_at)
            .bind(a.fixed)
            .bind(i32::from(a.rating))
            .bind(i32::from(a.courtesy))
            .bind(i32::from(a.recommend))
            .bind(&a.comment)
            .bind(request)
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
                 SELECT $1, id, depot_id, $2, $3 FROM feedback_requests WHERE id = $4",
            )
            .bind(followup)
            .bind(a.low_reason())
            .bind(a.answered_at)
            .bind(request)
            .execute(&mut *tx)
            .await?;
            let supervisors = sqlx::query(
                "SELECT u.id, u.email FROM feedback_requests r \
                 JOIN depot_staff s ON s.depot_id = r.depot_id \
                 JOIN users u ON u.id = s.user_id \
                 WHERE r.id = $1 AND u.role = 'supervisor' AND u.email IS NOT NULL \
                 ORDER BY u.id",
            )
            .bind(request)
            .fetch_all(&mut *tx)
            .await?;
            for s in &supervisors {
                let user: Uuid = s.try_get("id")?;
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
                    a.answered_at,
                    a.answered_at,
                )
                .await?;
            }
            tx.commit().await?;
            Ok(SubmitOutcome::Recorded { followup: true })
        })
        .await
    }

    async fn unsubscribe(&self, contact: &str, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO feedback_unsubscribes (contact, created_at) VALUES ($1, $2) \
             ON CONFLICT (contact) DO NOTHING",
        )
        .bind(contact)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE outbox_messages SET status = 'cancelled', lease_owner = NULL, \
                 lease_until = NULL \
             WHERE recipient = $1 AND kind = 'feedback_request' AND status = 'pending'",
        )
        .bind(contact)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn is_unsubscribed(&self, contact: &str) -> Result<bool> {
        let v: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM feedback_unsubscribes WHERE contact = $1")
                .bind(contact)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.is_some())
    }

    async fn depots(&self) -> Result<Vec<Depot>> {
        let rows =
            sqlx::query("SELECT id, name FROM locations WHERE kind = 'depot' ORDER BY name, id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Depot {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    async fn staff_depots(&self, user: UserId) -> Result<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT depot_id FROM depot_staff WHERE user_id = $1")
                .bind(user.as_uuid())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn followups(&self, depots: Option<&[Uuid]>, open_only: bool) -> Result<Vec<Followup>> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT f.id, f.request_id, r.job_id, f.depot_id, r.technician_id, \
                 u.display_name AS technician_name, r.customer_name, f.reason, r.comment, \
                 f.created_at, f.resolved_at \
             FROM feedback_followups f JOIN feedback_requests r ON r.id = f.request_id \
             LEFT JOIN users u ON u.id = r.technician_id WHERE TRUE",
        );
        if open_only {
            q.push(" AND f.resolved_at IS NULL");
        }
        if let Some(depots) = depots {
            q.push(" AND f.depot_id = ANY(")
                .push_bind(depots.to_vec())
                .push(")");
        }
        q.push(" ORDER BY f.created_at DESC, f.id LIMIT 1000");
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Followup {
                    id: r.try_get("id")?,
                    request_id: r.try_get("request_id")?,
                    job_id: JobId::from_uuid(r.try_get("job_id")?),
                    depot_id: r.try_get("depot_id")?,
                    technician_id: r
                        .try_get::<Option<Uuid>, _>("technician_id")?
                        .map(UserId::from_uuid),
                    technician_name: r.try_get("technician_name")?,
                    customer_name: r.try_get("customer_name")?,
                    reason: r.try_get("reason")?,
                    comment: r
                        .try_get::<Option<String>, _>("comment")?
                        .unwrap_or_default(),
                    created_at: r.try_get("created_at")?,
                    resolved_at: r.try_get("resolved_at")?,
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
        let done = sqlx::query(
            "UPDATE feedback_followups SET resolved_at = COALESCE(resolved_at, $1), \
                 resolved_by = COALESCE(resolved_by, $2) WHERE id = $3",
        )
        .bind(now)
        .bind(by.as_uuid())
        .bind(followup)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

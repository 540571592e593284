//! The outbox table: the [`OutboxStore`] trait the delivery worker uses,
//! and [`enqueue`], which other features call inside their own
//! transactions so a message is queued exactly when their decision commits.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::feedback::{Channel, Delivery, MessageKind, MessageStatus, OutboxMessage};
use crate::store::sql::{Conn, Query, QueryBuilder, Row};
use crate::store::{Db, Result, SqlStore};

/// The outbox: leasing due messages and recording how attempts ended.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due pending messages to `owner` until
    /// `lease_until`, counting an attempt for each. Rows another worker
    /// holds are skipped (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_outbox(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
    /// Records an attempt's end, if `owner` still holds the lease.
    async fn finish_outbox(
        &self,
        id: Uuid,
        owner: &str,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Newest first; `request` narrows to one feedback request's messages.
    async fn outbox_messages(
        &self,
        request: Option<Uuid>,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
}

crate::sql_text!(Channel, MessageKind, MessageStatus);

/// A message to queue.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub kind: MessageKind,
    pub channel: Channel,
    pub recipient: &'a str,
    pub request_id: Option<Uuid>,
    /// The service desk item an alert is about.
    pub desk_item_id: Option<Uuid>,
    /// Unique: queuing the same key twice queues one message.
    pub idempotency_key: &'a str,
    pub max_attempts: u32,
    pub send_after: OffsetDateTime,
}

/// Queues a message in the caller's transaction (insert-or-ignore by
/// idempotency key).
pub async fn enqueue(conn: &mut dyn Conn, m: &NewMessage<'_>, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO outbox_messages (id, kind, channel, recipient, request_id, \
                 idempotency_key, status, attempts, max_attempts, next_attempt_at, created_at, \
                 desk_item_id) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9, $10) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(m.id)
        .bind(m.kind)
        .bind(m.channel)
        .bind(m.recipient)
        .bind(m.request_id)
        .bind(m.idempotency_key)
        .bind(m.max_attempts)
        .bind(m.send_after)
        .bind(now)
        .bind(m.desk_item_id),
    )
    .await?;
    Ok(())
}

/// [`enqueue`] for a message about an invoice (its job's id).
pub async fn enqueue_for_invoice(
    conn: &mut dyn Conn,
    m: &NewMessage<'_>,
    invoice: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO outbox_messages (id, kind, channel, recipient, idempotency_key, status, \
                 attempts, max_attempts, next_attempt_at, created_at, invoice_id) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $9) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(m.id)
        .bind(m.kind)
        .bind(m.channel)
        .bind(m.recipient)
        .bind(m.idempotency_key)
        .bind(m.max_attempts)
        .bind(m.send_after)
        .bind(now)
        .bind(invoice),
    )
    .await?;
    Ok(())
}

const MESSAGE_COLS: &str = "id, kind, channel, recipient, request_id, idempotency_key, status, \
     attempts, max_attempts, next_attempt_at, last_error, created_at, sent_at, desk_item_id, \
     invoice_id";

fn message_from(row: &Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.get("id")?,
        kind: row.get("kind")?,
        channel: row.get("channel")?,
        recipient: row.get("recipient")?,
        request_id: row.get("request_id")?,
        desk_item_id: row.get("desk_item_id")?,
        invoice_id: row.get("invoice_id")?,
        idempotency_key: row.get("idempotency_key")?,
        status: row.get("status")?,
        attempts: row.get("attempts")?,
        max_attempts: row.get("max_attempts")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
        sent_at: row.get("sent_at")?,
    })
}

async fn claim(
    db: &Db,
    owner: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Result<Vec<OutboxMessage>> {
    let mut tx = db.begin().await?;
    // SQLite: the write transaction holds the database, so no other claim
    // runs between the select and the update. PostgreSQL: rows another
    // worker is leasing right now are skipped, not waited for.
    let mut q = QueryBuilder::new(
        "UPDATE outbox_messages SET lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' \
             AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY next_attempt_at LIMIT $4 ",
    );
    q.push(tx.dialect().lock("FOR UPDATE SKIP LOCKED"));
    q.push(") RETURNING ").push(MESSAGE_COLS);
    let mut q = q.build();
    q = q.bind(owner).bind(lease_until).bind(now).bind(limit);
    let rows = tx.fetch_all(q).await?;
    let messages = rows.iter().map(message_from).collect::<Result<Vec<_>>>()?;
    tx.commit().await?;
    Ok(messages)
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_outbox(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // Idle polls only read: on SQLite the write lock is shared with
        // every sync commit.
        let due = self
            .db()
            .exists(
                Query::new(
                    "SELECT 1 FROM outbox_messages WHERE status = 'pending' \
                     AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
                     LIMIT 1",
                )
                .bind(now),
            )
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.db()
            .retry(|| claim(self.db(), owner, now, lease_until, limit))
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
            Delivery::Sent => Query::new(
                "UPDATE outbox_messages SET status = 'sent', sent_at = $1, \
                     lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now),
            Delivery::Retry { at, .. } => Query::new(
                "UPDATE outbox_messages SET status = CASE WHEN attempts >= max_attempts \
                     THEN 'failed' ELSE 'pending' END, next_attempt_at = $1, \
                     last_error = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(*at),
            Delivery::Failed { .. } => Query::new(
                "UPDATE outbox_messages SET status = 'failed', next_attempt_at = $1, \
                     last_error = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now),
        };
        let q = q.bind(message).bind(owner);
        let q = match delivery {
            Delivery::Sent => q,
            Delivery::Retry { error, .. } | Delivery::Failed { error } => q.bind(error.as_str()),
        };
        self.db().execute(q).await?;
        Ok(())
    }

    async fn outbox_messages(
        &self,
        request: Option<Uuid>,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let mut q = QueryBuilder::new("SELECT ");
        q.push(MESSAGE_COLS)
            .push(" FROM outbox_messages WHERE 1 = 1");
        if let Some(r) = request {
            q.push(" AND request_id = ").push_bind(r);
        }
        if let Some(s) = status {
            q.push(" AND status = ").push_bind(s);
        }
        q.push(" ORDER BY created_at DESC, id LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 1000)));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(message_from).collect()
    }
}

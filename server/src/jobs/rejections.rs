//! The office's record of sync rejections: each time the server refused a
//! device's change to a job, who sent it (device, user), why (the reject
//! code and message), which change, and when (server time). The sync
//! handler records them ([`record`]); the office reads a job's at
//! `GET /v1/jobs/{id}/rejections`, and the console's job page can read the
//! same rows through [`RejectionStore::job_rejections`]. Rows older than
//! `--rejection-retention-days` (90 by default) are pruned by the server's
//! housekeeping ([`prune`]).

use async_trait::async_trait;
use fieldsync_core::sync::{DocReply, Outcome};
use fieldsync_core::validate::RejectCode;
use fieldsync_core::{DocId, JobId, UserId};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::sql::{Query, Row, Tx};
use crate::store::{DeviceId, Result, SqlStore};

/// One refusal of a device's change to a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRejection {
    pub job_id: JobId,
    pub device_id: DeviceId,
    pub user_id: UserId,
    /// The reject code as on the wire (`forbidden`, `wrong_van`, ...).
    pub code: String,
    pub message: String,
    /// The refused change's hash (hex), when one change was to blame.
    pub change: Option<String>,
    /// Server time of the sync that refused it.
    pub at: OffsetDateTime,
}

/// A stored rejection, with the names the office reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RejectionRecord {
    #[schema(value_type = String, format = Uuid)]
    pub device_id: DeviceId,
    pub device_name: String,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    pub username: String,
    /// The reject code as the device received it (`forbidden`, `wrong_van`, ...).
    pub code: String,
    pub message: String,
    /// The refused change's hash (hex), when one change was to blame.
    pub change: Option<String>,
    /// Server time (UTC) of the sync that refused it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub rejected_at: OffsetDateTime,
}

/// The rejection record, written by sync and read by the office.
#[async_trait]
pub trait RejectionStore: Send + Sync {
    /// Stores every rejection of one sync, all or none.
    async fn record_rejections(&self, rejections: &[NewRejection]) -> Result<()>;
    /// A job's rejections, newest first, at most `limit` (capped at 1000).
    async fn job_rejections(&self, job: JobId, limit: u32) -> Result<Vec<RejectionRecord>>;
    /// Deletes the rejections recorded before `before`; returns how many.
    async fn prune_rejections(&self, before: OffsetDateTime) -> Result<u64>;
}

/// Deletes the rejections older than `retention_days` as of `now` (server
/// time); `0` keeps them for good. Returns how many went.
pub async fn prune(
    store: &dyn RejectionStore,
    retention_days: u64,
    now: OffsetDateTime,
) -> Result<u64> {
    if retention_days == 0 {
        return Ok(0);
    }
    let days = i64::try_from(retention_days).unwrap_or(i64::MAX);
    let Some(before) = now.checked_sub(time::Duration::days(days.min(1_000_000))) else {
        return Ok(0);
    };
    store.prune_rejections(before).await
}

async fn insert(tx: &mut dyn Tx, r: &NewRejection) -> Result<()> {
    tx.execute(
        Query::new(
            "INSERT INTO sync_rejections (id, job_id, device_id, user_id, code, message, \
                 change_hash, rejected_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::new_v4())
        .bind(r.job_id)
        .bind(r.device_id)
        .bind(r.user_id)
        .bind(&r.code)
        .bind(&r.message)
        .bind(r.change.as_ref())
        .bind(r.at),
    )
    .await?;
    Ok(())
}

fn record_from(row: &Row) -> Result<RejectionRecord> {
    Ok(RejectionRecord {
        device_id: row.get("device_id")?,
        device_name: row.get("device_name")?,
        user_id: row.get("user_id")?,
        username: row.get("username")?,
        code: row.get("code")?,
        message: row.get("message")?,
        change: row.get("change_hash")?,
        rejected_at: row.get("rejected_at")?,
    })
}

#[async_trait]
impl RejectionStore for SqlStore {
    async fn record_rejections(&self, rejections: &[NewRejection]) -> Result<()> {
        if rejections.is_empty() {
            return Ok(());
        }
        let db = self.db();
        db.retry(|| async {
            let mut tx = db.begin().await?;
            for r in rejections {
                insert(tx.as_mut(), r).await?;
            }
            tx.commit().await
        })
        .await
    }

    async fn job_rejections(&self, job: JobId, limit: u32) -> Result<Vec<RejectionRecord>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT r.device_id, d.name AS device_name, r.user_id, u.username, r.code, \
                         r.message, r.change_hash, r.rejected_at \
                     FROM sync_rejections r \
                     JOIN devices d ON d.id = r.device_id \
                     JOIN users u ON u.id = r.user_id \
                     WHERE r.job_id = $1 \
                     ORDER BY r.rejected_at DESC, r.id \
                     LIMIT $2",
                )
                .bind(job)
                .bind(i64::from(limit.clamp(1, 1000))),
            )
            .await?;
        rows.iter().map(record_from).collect()
    }

    async fn prune_rejections(&self, before: OffsetDateTime) -> Result<u64> {
        self.db()
            .execute(Query::new("DELETE FROM sync_rejections WHERE rejected_at < $1").bind(before))
            .await
    }
}

/// The rejections of jobs in one sync's replies, as the device was told
/// them (other documents, such as the price book, have no job page).
pub fn from_replies(
    replies: &[DocReply],
    device_id: DeviceId,
    user_id: UserId,
    at: OffsetDateTime,
) -> Vec<NewRejection> {
    replies
        .iter()
        .filter_map(|reply| {
            let (
                DocId::Job(job_id),
                Outcome::Rejected {
                    code,
                    message,
                    change,
                },
            ) = (reply.id, &reply.outcome)
            else {
                return None;
            };
            Some(NewRejection {
                job_id,
                device_id,
                user_id,
                code: code_name(*code),
                message: message.clone(),
                change: change.map(|h| h.to_string()),
                at,
            })
        })
        .collect()
}

/// The code as the wire spells it (serde's name for it).
fn code_name(code: RejectCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

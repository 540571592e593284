//! The production backend: PostgreSQL, shared by several server processes.
//!
//! Transactions run at READ COMMITTED and take row locks where they read
//! before writing (`FOR UPDATE` on the document row or the refresh token),
//! so concurrent writers of one document queue instead of failing.
//! Serialization failures and deadlocks that still happen are retried here
//! (bounded) and never reach a client.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use automerge::ChangeHash;
use fieldsync_core::{DocId, JobId, LocationId, Role, Status, UserId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

mod inventory;
mod web;

pub struct PgStore {
    pub(crate) pool: PgPool,
}

/// Serializes signing-key bootstrap and rotation across processes.
const SIGNING_KEY_LOCK: i64 = 0x6669_656c_6473;

impl PgStore {
    /// Connects to `postgres://...` and applies migrations (sqlx takes an
    /// advisory lock, so processes starting together migrate once).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn write<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        retrying(is_retryable, op).await
    }
}

/// serialization_failure, deadlock_detected.
fn is_retryable(e: &StoreError) -> bool {
    matches!(e.db_code().as_deref(), Some("40001" | "40P01"))
}

fn role_col(row: &PgRow, col: &str) -> Result<Role> {
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| StoreError::corrupt("role", e))
}

macro_rules! user_cols {
    () => {
        "id, username, role, created_at"
    };
}
macro_rules! device_cols {
    () => {
        "id, user_id, name, actor_id, registered_at, revoked_at"
    };
}
macro_rules! job_cols {
    () => {
        "job_id, status, technician_id, customer_name, window_start, window_end, \
         completed_at, total_minor, currency, updated_at"
    };
}

fn user_from_row(row: &PgRow) -> Result<User> {
    let username: String = row.try_get("username")?;
    Ok(User {
        id: UserId::from_uuid(row.try_get("id")?),
        username: username
            .parse()
            .map_err(|e| StoreError::corrupt("username", e))?,
        role: role_col(row, "role")?,
        created_at: row.try_get("created_at")?,
    })
}

fn device_from_row(row: &PgRow) -> Result<Device> {
    let actor: Vec<u8> = row.try_get("actor_id")?;
    Ok(Device {
        id: DeviceId::from_uuid(row.try_get("id")?),
        user_id: UserId::from_uuid(row.try_get("user_id")?),
        name: row.try_get("name")?,
        actor: DeviceActor::try_from(actor.as_slice())
            .map_err(|e| StoreError::corrupt("actor id", e))?,
        registered_at: row.try_get("registered_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn job_from_row(row: &PgRow) -> Result<JobRow> {
    let status: String = row.try_get("status")?;
    let technician: Option<Uuid> = row.try_get("technician_id")?;
    Ok(JobRow {
        projection: JobProjection {
            job_id: JobId::from_uuid(row.try_get("job_id")?),
            status: status
                .parse::<Status>()
                .map_err(|e| StoreError::corrupt("status", e))?,
            technician_id: technician.map(UserId::from_uuid),
            customer_name: row.try_get("customer_name")?,
            window_start: row.try_get("window_start")?,
            window_end: row.try_get("window_end")?,
            completed_at: row.try_get("completed_at")?,
            total_minor: row.try_get("total_minor")?,
            currency: row.try_get("currency")?,
        },
        updated_at: row.try_get("updated_at")?,
    })
}

fn change_from_row(row: &PgRow) -> Result<StoredChange> {
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(StoredChange {
        seq: row.try_get("seq")?,
        hash: ChangeHash::try_from(hash.as_slice())
            .map_err(|e| StoreError::corrupt("change hash", e))?,
        bytes: row.try_get("bytes")?,
    })
}

fn signing_key_from_row(row: &PgRow) -> Result<SigningKey> {
    Ok(SigningKey {
        kid: row.try_get("kid")?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, c: &UserCredentials) -> Result<User> {
        sqlx::query(
            "INSERT INTO users (id, username, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.user.id.as_uuid())
        .bind(c.user.username.as_str())
        .bind(c.user.role.as_str())
        .bind(&c.password_hash)
        .bind(c.user.created_at)
        .execute(&self.pool)
        .await?;
        Ok(c.user.clone())
    }

    async fn user(&self, id: UserId) -> Result<User> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    async fn user_credentials(&self, username: &Username) -> Result<UserCredentials> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", password_hash FROM users WHERE username = $1"
        ))
        .bind(username.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(UserCredentials {
            user: user_from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
        })
    }

    async fn register_device(&self, d: &Device) -> Result<Device> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            // Waits for a concurrent insert of the same actor, then does nothing.
            sqlx::query(
                "INSERT INTO devices (id, user_id, name, actor_id, registered_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (actor_id) DO NOTHING",
            )
            .bind(d.id.as_uuid())
            .bind(d.user_id.as_uuid())
            .bind(&d.name)
            .bind(&d.actor.as_bytes()[..])
            .bind(d.registered_at)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                device_cols!(),
                " FROM devices WHERE actor_id = $1 FOR UPDATE"
            ))
            .bind(&d.actor.as_bytes()[..])
            .fetch_one(&mut *tx)
            .await?;
            let mut stored = device_from_row(&row)?;
            if stored.user_id != d.user_id {
                return Err(StoreError::Conflict(Constraint::ActorIdTaken));
            }
            if stored.id != d.id && !stored.is_revoked() && stored.name != d.name {
                sqlx::query("UPDATE devices SET name = $1 WHERE id = $2")
                    .bind(&d.name)
                    .bind(stored.id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                stored.name = d.name.clone();
            }
            tx.commit().await?;
            Ok(stored)
        })
        .await
    }

    async fn device(&self, id: DeviceId) -> Result<Device> {
        let row = sqlx::query(concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        device_from_row(&row)
    }

    async fn device_by_actor(&self, actor: &DeviceActor) -> Result<Device> {
        let row = sqlx::query(concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE actor_id = $1"
        ))
        .bind(&actor.as_bytes()[..])
        .fetch_one(&self.pool)
        .await?;
        device_from_row(&row)
    }

    async fn revoke_device(&self, id: DeviceId, now: OffsetDateTime) -> Result<Device> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(concat!(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ",
                device_cols!()
            ))
            .bind(now)
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE device_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            let device = device_from_row(&row)?;
            tx.commit().await?;
            Ok(device)
        })
        .await
    }

    async fn device_principal(&self, id: DeviceId) -> Result<DevicePrincipal> {
        let row = sqlx::query(
            "SELECT d.id, d.user_id, d.name, d.actor_id, d.registered_at, d.revoked_at, u.role \
             FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
        )
        .bind(id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(DevicePrincipal {
            device: device_from_row(&row)?,
            role: role_col(&row, "role")?,
        })
    }

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_token(&mut conn, t).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next_hash: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        reuse_grace: time::Duration,
    ) -> Result<RefreshOutcome> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            // The row lock makes two concurrent uses of one token queue: the
            // second sees `used_at` and revokes the family.
            let row = sqlx::query(
                "SELECT t.family_id, t.device_id, t.user_id, t.expires_at, t.used_at, \
                        t.revoked_at, d.revoked_at AS device_revoked_at \
                 FROM refresh_tokens t JOIN devices d ON d.id = t.device_id \
                 WHERE t.token_hash = $1 FOR UPDATE OF t",
            )
            .bind(&presented.0[..])
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            let family_id: Uuid = row.try_get("family_id")?;
            let revoked: Option<OffsetDateTime> = row.try_get("revoked_at")?;
            let used: Option<OffsetDateTime> = row.try_get("used_at")?;
            let device_revoked: Option<OffsetDateTime> = row.try_get("device_revoked_at")?;
            let expires_at: OffsetDateTime = row.try_get("expires_at")?;
            if revoked.is_some() || device_revoked.is_some() {
                return Ok(RefreshOutcome::Invalid);
            }
            if expires_at <= now {
                return Ok(RefreshOutcome::Invalid);
            }
            if let Some(used) = used {
                let newer_used = sqlx::query(
                    "SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND used_at > $2 LIMIT 1",
                )
                .bind(family_id)
                .bind(used)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
                if newer_used || used <= now - reuse_grace {
                    revoke_family(&mut tx, family_id, now).await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Reused { family_id });
                }
                // The answer to its rotation was lost: its successor goes.
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1 \
                     WHERE family_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(family_id)
                .execute(&mut *tx)
                .await?;
            }
            let user_id = UserId::from_uuid(row.try_get("user_id")?);
            let device_id = DeviceId::from_uuid(row.try_get("device_id")?);
            if used.is_none() {
                sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(&presented.0[..])
                    .execute(&mut *tx)
                    .await?;
            }
            let next = NewRefreshToken {
                hash: *next_hash,
                family_id,
                device_id,
                user_id,
                issued_at: now,
                expires_at: next_expires_at,
            };
            insert_token(&mut tx, &next).await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated {
                user_id,
                device_id,
                family_id,
            })
        })
        .await
    }

    async fn revoke_token_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            revoke_family(&mut tx, family_id, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn signing_keys(&self, retired_after: OffsetDateTime) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, secret, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 \
             ORDER BY created_at DESC, kid DESC",
        )
        .bind(retired_after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signing_key_from_row).collect()
    }

    async fn ensure_signing_key(&self, candidate: &SigningKey) -> Result<bool> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SIGNING_KEY_LOCK)
                .execute(&mut *tx)
                .await?;
            let active: i64 =
                sqlx::query_scalar("SELECT count(*) FROM signing_keys WHERE retired_at IS NULL")
                    .fetch_one(&mut *tx)
                    .await?;
            if active > 0 {
                return Ok(false);
            }
            insert_key(&mut tx, candidate).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn rotate_signing_key(&self, new: &SigningKey) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SIGNING_KEY_LOCK)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(new.created_at)
                .execute(&mut *tx)
                .await?;
            insert_key(&mut tx, new).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn load_document(&self, doc_id: &DocId) -> Result<Option<StoredDoc>> {
        let id = doc_id.to_string();
        // One snapshot of the database for version, snapshot and changes.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM documents WHERE doc_id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(version) = version else {
            return Ok(None);
        };
        let snapshot = sqlx::query("SELECT covers_seq, bytes FROM doc_snapshots WHERE doc_id = $1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| -> Result<Snapshot> {
                Ok(Snapshot {
                    covers_seq: row.try_get("covers_seq")?,
                    bytes: row.try_get("bytes")?,
                })
            })
            .transpose()?;
        let after = snapshot.as_ref().map_or(0, |s| s.covers_seq);
        let changes = changes_since(&mut tx, &id, after).await?;
        tx.commit().await?;
        Ok(Some(StoredDoc {
            doc_id: *doc_id,
            version,
            snapshot,
            changes,
        }))
    }

    async fn load_changes_since(&self, doc_id: &DocId, seq: i64) -> Result<Vec<StoredChange>> {
        let mut conn = self.pool.acquire().await?;
        changes_since(&mut conn, &doc_id.to_string(), seq).await
    }

    async fn commit(&self, commit: &DocCommit) -> Result<CommitOutcome> {
        check_projection(commit)?;
        self.write(|| self.commit_once(commit)).await
    }

    async fn write_snapshot(&self, doc_id: &DocId, covers_seq: i64, bytes: &[u8]) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            let version: i64 =
                sqlx::query_scalar("SELECT seq FROM documents WHERE doc_id = $1 FOR SHARE")
                    .bind(doc_id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            if covers_seq > version {
                return Err(StoreError::other(format!(
                    "snapshot covers seq {covers_seq} but {doc_id} is at {version}"
                )));
            }
            upsert_snapshot(&mut tx, &doc_id.to_string(), covers_seq, bytes).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn job(&self, id: JobId) -> Result<JobRow> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE job_id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        job_from_row(&row)
    }

    async fn job_scope(
        &self,
        technician: Option<UserId>,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>> {
        let open = "status NOT IN ('completed', 'unable_to_complete', 'cancelled')";
        let rows = match technician {
            Some(t) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT job_id FROM jobs WHERE technician_id = $1 AND ({open} OR updated_at >= $2)"
            )))
            .bind(t.as_uuid())
            .bind(closed_since)
            .fetch_all(&self.pool)
            .await?,
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT job_id FROM jobs WHERE {open} OR updated_at >= $1"
                )))
                .bind(closed_since)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|row| Ok(JobId::from_uuid(row.try_get::<Uuid, _>("job_id")?)))
            .collect()
    }

    async fn technician_van(&self, technician: UserId) -> Result<Option<LocationId>> {
        let row = sqlx::query("SELECT id FROM locations WHERE kind = 'van' AND technician_id = $1")
            .bind(technician.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(LocationId::from_uuid(row.try_get::<Uuid, _>("id")?)))
            .transpose()
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<JobRow>> {
        let mut q =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", job_cols!(), " FROM jobs WHERE TRUE"));
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(t) = f.technician_id {
            q.push(" AND technician_id = ").push_bind(t.as_uuid());
        }
        if let Some(from) = f.window_from {
            q.push(" AND window_start >= ").push_bind(from);
        }
        if let Some(until) = f.window_until {
            q.push(" AND window_start < ").push_bind(until);
        }
        if let Some(c) = &f.customer {
            q.push(" AND lower(customer_name) LIKE ")
                .push_bind(like_pattern(c))
                .push(" ESCAPE '\\'");
        }
        q.push(" ORDER BY window_start, job_id LIMIT ")
            .push_bind(list_limit(f));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }
}

impl PgStore {
    async fn commit_once(&self, c: &DocCommit) -> Result<CommitOutcome> {
        let now = now_utc();
        let doc_id = c.doc_id.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO documents (doc_id, kind, seq, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $3) ON CONFLICT (doc_id) DO NOTHING",
        )
        .bind(&doc_id)
        .bind(DocKind::of(&c.doc_id).as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The document's write lock: commits to one document run one at a time.
        let current: i64 =
            sqlx::query_scalar("SELECT seq FROM documents WHERE doc_id = $1 FOR UPDATE")
                .bind(&doc_id)
                .fetch_one(&mut *tx)
                .await?;
        if current != c.base_version {
            tx.rollback().await?;
            return Ok(CommitOutcome::Stale {
                current_version: current,
            });
        }
        let mut seq = current;
        let mut inserted = 0;
        for change in &c.changes {
            let done = sqlx::query(
                "INSERT INTO doc_changes (doc_id, hash, seq, bytes) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (doc_id, hash) DO NOTHING",
            )
            .bind(&doc_id)
            .bind(&change.hash.0[..])
            .bind(seq + 1)
            .bind(&change.bytes)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                seq += 1;
                inserted += 1;
            }
        }
        if inserted > 0 {
            sqlx::query("UPDATE documents SET seq = $1, updated_at = $2 WHERE doc_id = $3")
                .bind(seq)
                .bind(now)
                .bind(&doc_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(bytes) = &c.snapshot {
            upsert_snapshot(&mut tx, &doc_id, seq, bytes).await?;
        }
        if let Some(p) = &c.projection {
            upsert_job(&mut tx, p, now).await?;
        }
        if let Some(jc) = &c.consumption {
            inventory::apply_consumption(&mut tx, jc, now).await?;
        }
        crate::feedback::write_trigger_pg(&mut tx, c.feedback.as_ref()).await?;
        let covers: Option<i64> =
            sqlx::query_scalar("SELECT covers_seq FROM doc_snapshots WHERE doc_id = $1")
                .bind(&doc_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(CommitOutcome::Committed {
            version: seq,
            inserted,
            changes_since_snapshot: seq - covers.unwrap_or(0),
        })
    }
}

async fn changes_since(
    conn: &mut sqlx::PgConnection,
    doc_id: &str,
    seq: i64,
) -> Result<Vec<StoredChange>> {
    let rows = sqlx::query(
        "SELECT seq, hash, bytes FROM doc_changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(doc_id)
    .bind(seq)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(change_from_row).collect()
}

async fn upsert_snapshot(
    tx: &mut Transaction<'static, Postgres>,
    doc_id: &str,
    covers_seq: i64,
    bytes: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO doc_snapshots (doc_id, covers_seq, bytes, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (doc_id) DO UPDATE SET covers_seq = excluded.covers_seq, \
             bytes = excluded.bytes, created_at = excluded.created_at \
         WHERE excluded.covers_seq > doc_snapshots.covers_seq",
    )
    .bind(doc_id)
    .bind(covers_seq)
    .bind(bytes)
    .bind(now_utc())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_job(
    tx: &mut Transaction<'static, Postgres>,
    p: &JobProjection,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (job_id, status, technician_id, customer_name, window_start, \
             window_end, completed_at, total_minor, currency, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, \
             technician_id = excluded.technician_id, customer_name = excluded.customer_name, \
             window_start = excluded.window_start, window_end = excluded.window_end, \
             completed_at = CASE WHEN excluded.completed_at IS NULL THEN NULL \
                                 ELSE COALESCE(jobs.completed_at, excluded.completed_at) END, \
             total_minor = excluded.total_minor, currency = excluded.currency, \
             updated_at = excluded.updated_at",
    )
    .bind(p.job_id.as_uuid())
    .bind(p.status.as_str())
    .bind(p.technician_id.map(|t| t.as_uuid()))
    .bind(&p.customer_name)
    .bind(p.window_start)
    .bind(p.window_end)
    .bind(p.completed_at)
    .bind(p.total_minor)
    .bind(&p.currency)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_token(conn: &mut sqlx::PgConnection, t: &NewRefreshToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, device_id, user_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.hash.0[..])
    .bind(t.family_id)
    .bind(t.device_id.as_uuid())
    .bind(t.user_id.as_uuid())
    .bind(t.issued_at)
    .bind(t.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn revoke_family(
    tx: &mut Transaction<'static, Postgres>,
    family_id: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_key(tx: &mut Transaction<'static, Postgres>, k: &SigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&k.kid)
    .bind(&k.secret)
    .bind(k.created_at)
    .bind(k.retired_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! The user administration rows (`users.disabled_at`, `depot_staff`, the
//! devices' last-sync columns) and the one-transaction cut-off that
//! disabling a user or resetting their password performs.

use async_trait::async_trait;
use fieldsync_core::{LocationId, Role, UserId};
use time::OffsetDateTime;

use crate::store::sql::{Conn, Query, Row};
use crate::store::{DeviceActor, DeviceId, Result, SqlStore, StoreError, Username};

/// A user as the administrator sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAccount {
    pub id: UserId,
    pub username: Username,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
    /// The depots they staff, sorted.
    pub depots: Vec<LocationId>,
}

/// A device with what it reported at its last sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: String,
    pub actor: DeviceActor,
    pub registered_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_sync_at: Option<OffsetDateTime>,
    pub app_version: Option<String>,
    /// Changes the device still held unsent when it last synced.
    pub pending_changes: Option<u32>,
    /// When and why the server last refused one of its changes.
    pub last_rejection: Option<(OffsetDateTime, String)>,
}

/// What one sync reports about its device (one UPDATE per sync).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport<'a> {
    pub device: DeviceId,
    pub at: OffsetDateTime,
    pub app_version: Option<&'a str>,
    pub pending_changes: Option<u32>,
}

/// Counts for the sync-health page and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncHealth {
    /// Devices not revoked that have not synced since the cut-off (never
    /// synced counts from registration).
    pub stale_devices: u64,
    /// Jobs with at least one rejected change kept.
    pub jobs_with_rejections: u64,
    /// Outbound messages waiting to be sent.
    pub outbox_pending: u64,
    /// Outbound messages that failed for good.
    pub outbox_failed: u64,
}

#[async_trait]
pub trait UserAdminStore: Send + Sync {
    /// Every user, by username.
    async fn user_accounts(&self) -> Result<Vec<UserAccount>>;
    async fn user_account(&self, id: UserId) -> Result<UserAccount>;
    /// Disables (`Some(now)`, keeping the first time) or re-enables
    /// (`None`). Disabling revokes every device, refresh token and console
    /// session of the user in the same transaction.
    async fn set_user_disabled(
        &self,
        id: UserId,
        at: Option<OffsetDateTime>,
    ) -> Result<UserAccount>;
    /// Stores a new password hash and revokes every device, refresh token
    /// and console session of the user, in one transaction.
    async fn reset_password(
        &self,
        id: UserId,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn set_user_role(&self, id: UserId, role: Role) -> Result<UserAccount>;
    /// Replaces the depots the user staffs. [`StoreError::Conflict`] if one
    /// is not a depot.
    async fn set_user_depots(&self, id: UserId, depots: &[LocationId]) -> Result<UserAccount>;
    /// The user's devices, newest first.
    async fn user_devices(&self, id: UserId) -> Result<Vec<DeviceStatus>>;
    async fn record_sync(&self, report: &SyncReport<'_>) -> Result<()>;
    /// Whether the user is disabled (`NotFound` if no such user).
    async fn user_disabled(&self, id: UserId) -> Result<bool>;
    async fn sync_health(&self, stale_before: OffsetDateTime) -> Result<SyncHealth>;
}

fn account_from(row: &Row, depots: Vec<LocationId>) -> Result<UserAccount> {
    Ok(UserAccount {
        id: row.get("id")?,
        username: row.parse("username")?,
        role: row.get("role")?,
        created_at: row.get("created_at")?,
        disabled_at: row.get("disabled_at")?,
        depots,
    })
}

async fn depots_of(conn: &mut dyn Conn, id: UserId) -> Result<Vec<LocationId>> {
    conn.fetch_all(
        Query::new("SELECT depot_id FROM depot_staff WHERE user_id = $1 ORDER BY depot_id")
            .bind(id),
    )
    .await?
    .iter()
    .map(|r| r.get("depot_id"))
    .collect()
}

async fn account(conn: &mut dyn Conn, id: UserId) -> Result<UserAccount> {
    let row = conn
        .fetch_optional(
            Query::new(
                "SELECT id, username, role, created_at, disabled_at FROM users WHERE id = $1",
            )
            .bind(id),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let depots = depots_of(conn, id).await?;
    account_from(&row, depots)
}

/// Revokes every device, refresh token and console session of `id`.
async fn cut_off(conn: &mut dyn Conn, id: UserId, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        Query::new("UPDATE devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id),
    )
    .await?;
    conn.execute(
        Query::new(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id),
    )
    .await?;
    conn.execute(Query::new("DELETE FROM web_sessions WHERE user_id = $1").bind(id))
        .await?;
    Ok(())
}

const DEVICE_STATUS: &str = "SELECT d.id, d.user_id, d.name, d.actor_id, d.registered_at, \
         d.revoked_at, d.last_sync_at, d.app_version, d.pending_changes, \
         r.rejected_at AS last_rejected_at, r.message AS last_rejection \
     FROM devices d \
     LEFT JOIN sync_rejections r ON r.id = ( \
         SELECT r2.id FROM sync_rejections r2 WHERE r2.device_id = d.id \
         ORDER BY r2.rejected_at DESC, r2.id DESC LIMIT 1) \
     WHERE d.user_id = $1 ORDER BY d.registered_at DESC, d.id";

fn device_status(r: &Row) -> Result<DeviceStatus> {
    let actor: Vec<u8> = r.get("actor_id")?;
    let rejected_at: Option<OffsetDateTime> = r.get("last_rejected_at")?;
    let reason: Option<String> = r.get("last_rejection")?;
    let pending: Option<i64> = r.get("pending_changes")?;
    Ok(DeviceStatus {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get("name")?,
        actor: DeviceActor::try_from(actor.as_slice())
            .map_err(|e| StoreError::corrupt("actor id", e))?,
        registered_at: r.get("registered_at")?,
        revoked_at: r.get("revoked_at")?,
        last_sync_at: r.get("last_sync_at")?,
        app_version: r.get("app_version")?,
        pending_changes: pending.map(|p| u32::try_from(p).unwrap_or(u32::MAX)),
        last_rejection: rejected_at.zip(reason),
    })
}

#[async_trait]
impl UserAdminStore for SqlStore {
    async fn user_accounts(&self) -> Result<Vec<UserAccount>> {
        let mut conn = self.db().read().await?;
        let rows = conn
            .fetch_all(Query::new(
                "SELECT id, username, role, created_at, disabled_at FROM users ORDER BY username",
            ))
            .await?;
        let staff = conn
            .fetch_all(Query::new(
                "SELECT user_id, depot_id FROM depot_staff ORDER BY depot_id",
            ))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: UserId = row.get("id")?;
            let mut depots = Vec::new();
            for s in &staff {
                if s.get::<UserId>("user_id")? == id {
                    depots.push(s.get("depot_id")?);
                }
            }
            out.push(account_from(row, depots)?);
        }
        Ok(out)
    }

    async fn user_account(&self, id: UserId) -> Result<UserAccount> {
        account(self.db().read().await?.as_mut(), id).await
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        at: Option<OffsetDateTime>,
    ) -> Result<UserAccount> {
        self.db()
            .retry(|| async {
                let mut tx = self.db().begin().await?;
                let changed = match at {
                    Some(now) => {
                        let n = tx
                            .execute(
                                Query::new(
                                    "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) \
                                     WHERE id = $2",
                                )
                                .bind(now)
                                .bind(id),
                            )
                            .await?;
                        if n > 0 {
                            cut_off(tx.as_mut(), id, now).await?;
                        }
                        n
                    }
                    None => {
                        tx.execute(
                            Query::new("UPDATE users SET disabled_at = NULL WHERE id = $1")
                                .bind(id),
                        )
                        .await?
                    }
                };
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let account = account(tx.as_mut(), id).await?;
                tx.commit().await?;
                Ok(account)
            })
            .await
    }

    async fn reset_password(&self, id: UserId, hash: &str, now: OffsetDateTime) -> Result<()> {
        self.db()
            .retry(|| async {
                let mut tx = self.db().begin().await?;
                let n = tx
                    .execute(
                        Query::new("UPDATE users SET password_hash = $1 WHERE id = $2")
                            .bind(hash)
                            .bind(id),
                    )
                    .await?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                cut_off(tx.as_mut(), id, now).await?;
                tx.commit().await
            })
            .await
    }

    async fn set_user_role(&self, id: UserId, role: Role) -> Result<UserAccount> {
        self.db()
            .retry(|| async {
                let mut tx = self.db().begin().await?;
                let n = tx
                    .execute(
                        Query::new("UPDATE users SET role = $1 WHERE id = $2")
                            .bind(role)
                            .bind(id),
                    )
                    .await?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                let account = account(tx.as_mut(), id).await?;
                tx.commit().await?;
                Ok(account)
            })
            .await
    }

    async fn set_user_depots(&self, id: UserId, depots: &[LocationId]) -> Result<UserAccount> {
        self.db()
            .retry(|| async {
                let mut tx = self.db().begin().await?;
                // Existence first: a missing user is a 404, not a foreign-key error.
                account(tx.as_mut(), id).await?;
                tx.execute(Query::new("DELETE FROM depot_staff WHERE user_id = $1").bind(id))
                    .await?;
                for depot in depots {
                    let is_depot = tx
                        .exists(
                            Query::new("SELECT 1 FROM locations WHERE id = $1 AND kind = 'depot'")
                                .bind(*depot),
                        )
                        .await?;
                    if !is_depot {
                        return Err(StoreError::Conflict(crate::store::Constraint::Other(
                            "not a depot".into(),
                        )));
                    }
                    tx.execute(
                        Query::new(
                            "INSERT INTO depot_staff (user_id, depot_id) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(*depot),
                    )
                    .await?;
                }
                let account = account(tx.as_mut(), id).await?;
                tx.commit().await?;
                Ok(account)
            })
            .await
    }

    async fn user_devices(&self, id: UserId) -> Result<Vec<DeviceStatus>> {
        self.db()
            .fetch_all(Query::new(DEVICE_STATUS).bind(id))
            .await?
            .iter()
            .map(device_status)
            .collect()
    }

    async fn record_sync(&self, r: &SyncReport<'_>) -> Result<()> {
        self.db()
            .retry(|| async {
                self.db()
                    .execute(
                        Query::new(
                            "UPDATE devices SET last_sync_at = $1, \
                                 app_version = COALESCE($2, app_version), pending_changes = $3 \
                             WHERE id = $4",
                        )
                        .bind(r.at)
                        .bind(r.app_version)
                        .bind(r.pending_changes)
                        .bind(r.device),
                    )
                    .await
            })
            .await?;
        Ok(())
    }

    async fn user_disabled(&self, id: UserId) -> Result<bool> {
        let row = self
            .db()
            .fetch_one(Query::new("SELECT disabled_at FROM users WHERE id = $1").bind(id))
            .await?;
        Ok(row.get::<Option<OffsetDateTime>>("disabled_at")?.is_some())
    }

    async fn sync_health(&self, stale_before: OffsetDateTime) -> Result<SyncHealth> {
        let row = self
            .db()
            .fetch_one(
                Query::new(
                    "SELECT \
                       (SELECT COUNT(*) FROM devices \
                          WHERE revoked_at IS NULL \
                            AND COALESCE(last_sync_at, registered_at) < $1) AS stale, \
                       (SELECT COUNT(DISTINCT job_id) FROM sync_rejections) AS rejected_jobs, \
                       (SELECT COUNT(*) FROM outbox_messages WHERE status = 'pending') AS pending, \
                       (SELECT COUNT(*) FROM outbox_messages WHERE status = 'failed') AS failed",
                )
                .bind(stale_before),
            )
            .await?;
        let n = |c: &str| -> Result<u64> { Ok(u64::try_from(row.get::<i64>(c)?).unwrap_or(0)) };
        Ok(SyncHealth {
            stale_devices: n("stale")?,
            jobs_with_rejections: n("rejected_jobs")?,
            outbox_pending: n("pending")?,
            outbox_failed: n("failed")?,
        })
    }
}

//! Users, devices, refresh tokens and signing keys: the [`AccountStore`]
//! trait and its one implementation over [`Db`].

use async_trait::async_trait;
use fieldsync_core::UserId;
use time::OffsetDateTime;
use uuid::Uuid;

use super::engine::Db;
use super::sql::{Conn, Query, Row};
use super::*;

/// What authentication keeps: users, their devices, refresh token
/// families and the JWT signing keys. Part of [`Store`].
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// [`StoreError::Conflict`]`(UsernameTaken)` if the name exists.
    async fn create_user(&self, credentials: &UserCredentials) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<User>;
    async fn user_credentials(&self, username: &Username) -> Result<UserCredentials>;

    /// Registers a device, or returns the existing row if this user already
    /// registered the same actor id (revoked or not: the caller decides).
    /// [`StoreError::Conflict`]`(ActorIdTaken)` if another user's device has it.
    async fn register_device(&self, device: &Device) -> Result<Device>;
    async fn device(&self, id: DeviceId) -> Result<Device>;
    /// The device registered with this actor id ([`StoreError::NotFound`]
    /// if none): who wrote a change.
    async fn device_by_actor(&self, actor: &DeviceActor) -> Result<Device>;
    /// Marks the device revoked (keeping the first revocation time) and
    /// revokes its refresh tokens, in one transaction.
    async fn revoke_device(&self, id: DeviceId, now: OffsetDateTime) -> Result<Device>;
    /// The device and its user's current role, in one primary-key query.
    async fn device_principal(&self, id: DeviceId) -> Result<DevicePrincipal>;

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<()>;
    /// Uses `presented` and stores `next_hash` in its family, in one
    /// transaction; a second use of a token revokes its family instead.
    ///
    /// Except within `reuse_grace` of its use, for the family's most recently
    /// used token: a device whose refresh answer was lost presents it again.
    /// Then the token that answer carried is revoked (never delivered, or
    /// superseded) and `next_hash` is stored in the same family. Any older
    /// token, or a later reuse, still revokes the family.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next_hash: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        reuse_grace: time::Duration,
    ) -> Result<RefreshOutcome>;
    async fn revoke_token_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<()>;

    /// Keys that are active or were retired after `retired_after`, newest first.
    async fn signing_keys(&self, retired_after: OffsetDateTime) -> Result<Vec<SigningKey>>;
    /// Stores `candidate` if no active key exists (first start). Returns
    /// whether it was stored.
    async fn ensure_signing_key(&self, candidate: &SigningKey) -> Result<bool>;
    /// Retires every active key and stores `new`, in one transaction.
    async fn rotate_signing_key(&self, new: &SigningKey) -> Result<()>;
}

fn user_from(row: &Row) -> Result<User> {
    Ok(User {
        id: row.get("id")?,
        username: row.parse("username")?,
        role: row.get("role")?,
        created_at: row.get("created_at")?,
    })
}

fn device_from(row: &Row) -> Result<Device> {
    let actor: Vec<u8> = row.get("actor_id")?;
    Ok(Device {
        id: row.get("id")?,
        user_id: row.get("user_id")?,
        name: row.get("name")?,
        actor: DeviceActor::try_from(actor.as_slice())
            .map_err(|e| StoreError::corrupt("actor id", e))?,
        registered_at: row.get("registered_at")?,
        revoked_at: row.get("revoked_at")?,
    })
}

fn key_from(row: &Row) -> Result<SigningKey> {
    Ok(SigningKey {
        kid: row.get("kid")?,
        secret: row.get("secret")?,
        created_at: row.get("created_at")?,
        retired_at: row.get("retired_at")?,
    })
}

async fn insert_token(conn: &mut dyn Conn, t: &NewRefreshToken) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO refresh_tokens \
                 (token_hash, family_id, device_id, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.hash.0[..])
        .bind(t.family_id)
        .bind(t.device_id)
        .bind(t.user_id)
        .bind(t.issued_at)
        .bind(t.expires_at),
    )
    .await?;
    Ok(())
}

async fn revoke_family(conn: &mut dyn Conn, family_id: Uuid, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        Query::new(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id),
    )
    .await?;
    Ok(())
}

async fn insert_key(conn: &mut dyn Conn, k: &SigningKey) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO signing_keys (kid, secret, created_at, retired_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&k.kid)
        .bind(&k.secret)
        .bind(k.created_at)
        .bind(k.retired_at),
    )
    .await?;
    Ok(())
}

/// Serializes signing-key bootstrap and rotation across processes where
/// the backend has no database-wide write lock.
const SIGNING_KEY_LOCK: i64 = 0x6669_656c_6473;

async fn lock_signing_keys(conn: &mut dyn Conn) -> Result<()> {
    if let Some(sql) = conn.dialect().advisory_lock {
        conn.execute(Query::new(sql).bind(SIGNING_KEY_LOCK)).await?;
    }
    Ok(())
}

async fn register_device(db: &Db, d: &Device) -> Result<Device> {
    let mut tx = db.begin().await?;
    // PostgreSQL waits here for a concurrent insert of the same actor.
    tx.execute(
        Query::new(
            "INSERT INTO devices (id, user_id, name, actor_id, registered_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (actor_id) DO NOTHING",
        )
        .bind(d.id)
        .bind(d.user_id)
        .bind(&d.name)
        .bind(&d.actor.as_bytes()[..])
        .bind(d.registered_at),
    )
    .await?;
    let select = tx.dialect().locked(
        "SELECT id, user_id, name, actor_id, registered_at, revoked_at \
         FROM devices WHERE actor_id = $1",
        "FOR UPDATE",
    );
    let row = tx.fetch_one(select.bind(&d.actor.as_bytes()[..])).await?;
    let mut stored = device_from(&row)?;
    if stored.user_id != d.user_id {
        return Err(StoreError::Conflict(Constraint::ActorIdTaken));
    }
    if stored.id != d.id && !stored.is_revoked() && stored.name != d.name {
        tx.execute(
            Query::new("UPDATE devices SET name = $1 WHERE id = $2")
                .bind(&d.name)
                .bind(stored.id),
        )
        .await?;
        stored.name = d.name.clone();
    }
    tx.commit().await?;
    Ok(stored)
}

async fn revoke_device(db: &Db, id: DeviceId, now: OffsetDateTime) -> Result<Device> {
    let mut tx = db.begin().await?;
    let row = tx
        .fetch_optional(
            Query::new(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
                 RETURNING id, user_id, name, actor_id, registered_at, revoked_at",
            )
            .bind(now)
            .bind(id),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.execute(
        Query::new(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE device_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id),
    )
    .await?;
    let device = device_from(&row)?;
    tx.commit().await?;
    Ok(device)
}

/// The refresh-token rotation workflow (see
/// [`AccountStore::rotate_refresh_token`]), once for every backend.
async fn rotate_refresh_token(
    db: &Db,
    presented: &TokenHash,
    next_hash: &TokenHash,
    next_expires_at: OffsetDateTime,
    now: OffsetDateTime,
    reuse_grace: time::Duration,
) -> Result<RefreshOutcome> {
    let mut tx = db.begin().await?;
    // The row lock (PostgreSQL; SQLite's write transaction holds the
    // database) makes two concurrent uses of one token queue: the second
    // sees `used_at` and revokes the family.
    let select = tx.dialect().locked(
        "SELECT t.family_id, t.device_id, t.user_id, t.expires_at, t.used_at, \
                t.revoked_at, d.revoked_at AS device_revoked_at \
         FROM refresh_tokens t JOIN devices d ON d.id = t.device_id \
         WHERE t.token_hash = $1",
        "FOR UPDATE OF t",
    );
    let Some(row) = tx.fetch_optional(select.bind(&presented.0[..])).await? else {
        return Ok(RefreshOutcome::Invalid);
    };
    let family_id: Uuid = row.get("family_id")?;
    let revoked: Option<OffsetDateTime> = row.get("revoked_at")?;
    let used: Option<OffsetDateTime> = row.get("used_at")?;
    let device_revoked: Option<OffsetDateTime> = row.get("device_revoked_at")?;
    let expires_at: OffsetDateTime = row.get("expires_at")?;
    if revoked.is_some() || device_revoked.is_some() || expires_at <= now {
        return Ok(RefreshOutcome::Invalid);
    }
    if let Some(used) = used {
        let newer_used = tx
            .exists(
                Query::new(
                    "SELECT 1 FROM refresh_tokens \
                     WHERE family_id = $1 AND used_at > $2 LIMIT 1",
                )
                .bind(family_id)
                .bind(used),
            )
            .await?;
        if newer_used || used <= now - reuse_grace {
            revoke_family(tx.as_mut(), family_id, now).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused { family_id });
        }
        // The answer to its rotation was lost: its successor goes.
        tx.execute(
            Query::new(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE family_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(family_id),
        )
        .await?;
    } else {
        tx.execute(
            Query::new("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&presented.0[..]),
        )
        .await?;
    }
    let user_id: UserId = row.get("user_id")?;
    let device_id: DeviceId = row.get("device_id")?;
    let next = NewRefreshToken {
        hash: *next_hash,
        family_id,
        device_id,
        user_id,
        issued_at: now,
        expires_at: next_expires_at,
    };
    insert_token(tx.as_mut(), &next).await?;
    tx.commit().await?;
    Ok(RefreshOutcome::Rotated {
        user_id,
        device_id,
        family_id,
    })
}

async fn ensure_signing_key(db: &Db, candidate: &SigningKey) -> Result<bool> {
    let mut tx = db.begin().await?;
    lock_signing_keys(tx.as_mut()).await?;
    let active = tx
        .exists(Query::new(
            "SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1",
        ))
        .await?;
    if active {
        return Ok(false);
    }
    insert_key(tx.as_mut(), candidate).await?;
    tx.commit().await?;
    Ok(true)
}

async fn rotate_signing_key(db: &Db, new: &SigningKey) -> Result<()> {
    let mut tx = db.begin().await?;
    lock_signing_keys(tx.as_mut()).await?;
    tx.execute(
        Query::new("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(new.created_at),
    )
    .await?;
    insert_key(tx.as_mut(), new).await?;
    tx.commit().await
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, c: &UserCredentials) -> Result<User> {
        self.db
            .execute(
                Query::new(
                    "INSERT INTO users (id, username, role, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(c.user.id)
                .bind(c.user.username.as_str())
                .bind(c.user.role)
                .bind(&c.password_hash)
                .bind(c.user.created_at),
            )
            .await?;
        Ok(c.user.clone())
    }

    async fn user(&self, id: UserId) -> Result<User> {
        let row = self
            .db
            .fetch_one(
                Query::new("SELECT id, username, role, created_at FROM users WHERE id = $1")
                    .bind(id),
            )
            .await?;
        user_from(&row)
    }

    async fn user_credentials(&self, username: &Username) -> Result<UserCredentials> {
        let row = self
            .db
            .fetch_one(
                Query::new(
                    "SELECT id, username, role, created_at, password_hash \
                     FROM users WHERE username = $1",
                )
                .bind(username.as_str()),
            )
            .await?;
        Ok(UserCredentials {
            user: user_from(&row)?,
            password_hash: row.get("password_hash")?,
        })
    }

    async fn register_device(&self, d: &Device) -> Result<Device> {
        self.db.retry(|| register_device(&self.db, d)).await
    }

    async fn device(&self, id: DeviceId) -> Result<Device> {
        let row = self
            .db
            .fetch_one(
                Query::new(
                    "SELECT id, user_id, name, actor_id, registered_at, revoked_at \
                     FROM devices WHERE id = $1",
                )
                .bind(id),
            )
            .await?;
        device_from(&row)
    }

    async fn device_by_actor(&self, actor: &DeviceActor) -> Result<Device> {
        let row = self
            .db
            .fetch_one(
                Query::new(
                    "SELECT id, user_id, name, actor_id, registered_at, revoked_at \
                     FROM devices WHERE actor_id = $1",
                )
                .bind(&actor.as_bytes()[..]),
            )
            .await?;
        device_from(&row)
    }

    async fn revoke_device(&self, id: DeviceId, now: OffsetDateTime) -> Result<Device> {
        self.db.retry(|| revoke_device(&self.db, id, now)).await
    }

    async fn device_principal(&self, id: DeviceId) -> Result<DevicePrincipal> {
        let row = self
            .db
            .fetch_one(
                Query::new(
                    "SELECT d.id, d.user_id, d.name, d.actor_id, d.registered_at, \
                         d.revoked_at, u.role, u.disabled_at \
                     FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
                )
                .bind(id),
            )
            .await?;
        Ok(DevicePrincipal {
            device: device_from(&row)?,
            role: row.get("role")?,
            user_disabled: row.get::<Option<OffsetDateTime>>("disabled_at")?.is_some(),
        })
    }

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> Result<()> {
        self.db
            .retry(|| async { insert_token(self.db.write().await?.as_mut(), t).await })
            .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next_hash: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        reuse_grace: time::Duration,
    ) -> Result<RefreshOutcome> {
        self.db
            .retry(|| {
                rotate_refresh_token(
                    &self.db,
                    presented,
                    next_hash,
                    next_expires_at,
                    now,
                    reuse_grace,
                )
            })
            .await
    }

    async fn revoke_token_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<()> {
        self.db
            .retry(|| async {
                revoke_family(self.db.write().await?.as_mut(), family_id, now).await
            })
            .await
    }

    async fn signing_keys(&self, retired_after: OffsetDateTime) -> Result<Vec<SigningKey>> {
        let rows = self
            .db
            .fetch_all(
                Query::new(
                    "SELECT kid, secret, created_at, retired_at FROM signing_keys \
                     WHERE retired_at IS NULL OR retired_at > $1 \
                     ORDER BY created_at DESC, kid DESC",
                )
                .bind(retired_after),
            )
            .await?;
        rows.iter().map(key_from).collect()
    }

    async fn ensure_signing_key(&self, candidate: &SigningKey) -> Result<bool> {
        self.db
            .retry(|| ensure_signing_key(&self.db, candidate))
            .await
    }

    async fn rotate_signing_key(&self, new: &SigningKey) -> Result<()> {
        self.db.retry(|| rotate_signing_key(&self.db, new)).await
    }
}

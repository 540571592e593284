//! The audit of login lockouts (`login_lockouts`): the [`LockoutStore`]
//! trait and its SQL. Every lockout the throttle starts is a row, kept;
//! a row whose `locked_until` is still ahead also holds the lockout for
//! every server process sharing the database.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lockouts::Surface;
use super::throttle::Scope;
use crate::store::sql::{Query, Row};
use crate::store::{Result, SqlStore};

/// One lockout, as audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginLockout {
    pub id: Uuid,
    pub scope: Scope,
    /// The account key (lowercased name, known or not) or the client address.
    pub subject: String,
    /// The login form of the failure that started it.
    pub surface: Surface,
    /// The client address of that failure.
    pub client: String,
    /// Failures counted when it started.
    pub failures: u32,
    pub locked_at: OffsetDateTime,
    pub locked_until: OffsetDateTime,
}

/// Login lockouts.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    async fn record_login_lockout(&self, lockout: &LoginLockout) -> Result<()>;
    /// The lockout holding at `now` on the `account` key or the `address`
    /// key that lasts longest (its scope and end), if any.
    async fn live_login_lockout(
        &self,
        account: &str,
        address: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Scope, OffsetDateTime)>>;
    /// The audit, newest first.
    async fn login_lockouts(&self, limit: u32) -> Result<Vec<LoginLockout>>;
}

crate::sql_text!(Scope, Surface);

#[async_trait]
impl LockoutStore for SqlStore {
    async fn record_login_lockout(&self, l: &LoginLockout) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO login_lockouts (id, scope, subject, surface, client, failures, \
                         locked_at, locked_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(l.id)
                .bind(l.scope)
                .bind(&l.subject)
                .bind(l.surface)
                .bind(&l.client)
                .bind(l.failures)
                .bind(l.locked_at)
                .bind(l.locked_until),
            )
            .await?;
        Ok(())
    }

    async fn live_login_lockout(
        &self,
        account: &str,
        address: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Scope, OffsetDateTime)>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT scope, locked_until FROM login_lockouts \
                     WHERE ((scope = 'account' AND subject = $1) \
                         OR (scope = 'address' AND subject = $2)) \
                       AND locked_until > $3 \
                     ORDER BY locked_until DESC LIMIT 1",
                )
                .bind(account)
                .bind(address)
                .bind(now),
            )
            .await?;
        row.map(|r| Ok((r.get("scope")?, r.get("locked_until")?)))
            .transpose()
    }

    async fn login_lockouts(&self, limit: u32) -> Result<Vec<LoginLockout>> {
        self.db()
            .fetch_all(
                Query::new(
                    "SELECT id, scope, subject, surface, client, failures, locked_at, \
                         locked_until \
                     FROM login_lockouts ORDER BY locked_at DESC, id LIMIT $1",
                )
                .bind(limit),
            )
            .await?
            .iter()
            .map(lockout)
            .collect()
    }
}

fn lockout(r: &Row) -> Result<LoginLockout> {
    Ok(LoginLockout {
        id: r.get("id")?,
        scope: r.get("scope")?,
        subject: r.get("subject")?,
        surface: r.get("surface")?,
        client: r.get("client")?,
        failures: r.get("failures")?,
        locked_at: r.get("locked_at")?,
        locked_until: r.get("locked_until")?,
    })
}

//! What the console keeps in SQL: sessions (`web_sessions`), the trait and
//! its SQL.

use async_trait::async_trait;
use fieldsync_core::UserId;
use time::OffsetDateTime;

use crate::store::sql::Query;
use crate::store::{Result, SqlStore, TokenHash, User};

/// A console session as stored: the token itself is never stored, only its hash.
#[derive(Clone, Debug)]
pub struct NewWebSession {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    /// Sent in every form of this session and checked on every POST.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A live session and its user (with the user's current role).
#[derive(Clone, Debug)]
pub struct WebSession {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// Console sessions.
#[async_trait]
pub trait WebSessionStore: Send + Sync {
    async fn create_web_session(&self, session: &NewWebSession) -> Result<()>;
    /// The session if it exists and has not expired at `now`.
    async fn web_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<WebSession>>;
    /// Deletes the session (logout) and any expired ones.
    async fn delete_web_session(&self, token_hash: &TokenHash, now: OffsetDateTime) -> Result<()>;
}

#[async_trait]
impl WebSessionStore for SqlStore {
    async fn create_web_session(&self, s: &NewWebSession) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO web_sessions \
                         (token_hash, user_id, csrf_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.token_hash.0[..])
                .bind(s.user_id)
                .bind(&s.csrf_token)
                .bind(s.created_at)
                .bind(s.expires_at),
            )
            .await?;
        Ok(())
    }

    async fn web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<Option<WebSession>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT u.id, u.username, u.role, u.created_at, s.csrf_token, s.expires_at \
                     FROM web_sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 \
                       AND u.disabled_at IS NULL",
                )
                .bind(&h.0[..])
                .bind(now),
            )
            .await?;
        row.map(|r| {
            Ok(WebSession {
                user: User {
                    id: r.get("id")?,
                    username: r.parse("username")?,
                    role: r.get("role")?,
                    created_at: r.get("created_at")?,
                },
                csrf_token: r.get("csrf_token")?,
                expires_at: r.get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<()> {
        self.db()
            .execute(
                Query::new("DELETE FROM web_sessions WHERE token_hash = $1 OR expires_at <= $2")
                    .bind(&h.0[..])
                    .bind(now),
            )
            .await?;
        Ok(())
    }
}

//! What the console keeps in SQL: sessions (`web_sessions`).

use async_trait::async_trait;
use fieldsync_core::UserId;
use time::OffsetDateTime;

use crate::store::{Result, TokenHash, User};

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

/// Console sessions; implemented by both backends.
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

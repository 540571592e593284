//! Console sessions on PostgreSQL.

use super::*;
use crate::web::{NewWebSession, WebSession, WebSessionStore};

#[async_trait]
impl WebSessionStore for PgStore {
    async fn create_web_session(&self, s: &NewWebSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.token_hash.0[..])
        .bind(s.user_id.as_uuid())
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<Option<WebSession>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at, s.csrf_token, s.expires_at \
             FROM web_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(&h.0[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(WebSession {
                user: user_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(&h.0[..])
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

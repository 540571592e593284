//! Console sessions on SQLite.

use super::*;
use crate::web::{NewWebSession, WebSession, WebSessionStore};

#[async_trait]
impl WebSessionStore for SqliteStore {
    async fn create_web_session(&self, s: &NewWebSession) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            sqlx::query(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&s.token_hash.0[..])
            .bind(hy(s.user_id.as_uuid()))
            .bind(&s.csrf_token)
            .bind(ms(s.created_at))
            .bind(ms(s.expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<Option<WebSession>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at, s.csrf_token, s.expires_at \
             FROM web_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )
        .bind(&h.0[..])
        .bind(ms(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(WebSession {
                user: user_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: from_ms(r.try_get("expires_at")?)?,
            })
        })
        .transpose()
    }

    async fn delete_web_session(&self, h: &TokenHash, now: OffsetDateTime) -> Result<()> {
        self.write(|| async {
            let mut tx = self.write_tx().await?;
            sqlx::query("DELETE FROM web_sessions WHERE token_hash = ?1 OR expires_at <= ?2")
                .bind(&h.0[..])
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

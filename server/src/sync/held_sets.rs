//! The sets of documents devices were told they hold, remembered with the
//! change cursor (issue 19 item 1).
//!
//! A request's `held` is a 16-byte digest of the device's document ids.
//! When it is not the digest of the device's scope (a job was assigned or
//! taken away, a van or the price book started a new generation), the
//! server looks it up here: if it is a set this device was told it holds,
//! the server knows exactly what the device holds and answers the
//! difference in the same round ([`super::cursor::remembered`]). Each row
//! holds the digest's preimage, so it is right for its digest whichever
//! server process wrote it; a device keeps the newest
//! [`KEPT_PER_DEVICE`] (the set of its cursor and the set of a reply that
//! may have been lost, with room to spare). A digest not found here (a
//! pruned row, a restored device) costs one more round (`resync`), never a
//! wrong answer.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::store::sql::Query;
use crate::store::{DeviceId, Result, SqlStore};

/// Sets remembered per device, the newest by when they were issued.
pub const KEPT_PER_DEVICE: i64 = 4;

/// Written after a sync that changed what the device holds, read by the
/// next sync whose `held` is not its scope's.
#[async_trait]
pub trait HeldSetStore: Send + Sync {
    /// The ids text (`fieldsync_core::sync::held_text`) of the set `device`
    /// was told it holds whose digest is `digest`, if remembered.
    async fn held_set(&self, device: DeviceId, digest: &[u8]) -> Result<Option<String>>;
    /// Remembers `ids` (whose digest is `digest`) as told to `device` at
    /// `now`, and forgets all but the newest [`KEPT_PER_DEVICE`].
    async fn remember_held_set(
        &self,
        device: DeviceId,
        digest: &[u8],
        ids: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
impl HeldSetStore for SqlStore {
    async fn held_set(&self, device: DeviceId, digest: &[u8]) -> Result<Option<String>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new("SELECT ids FROM device_held_sets WHERE device_id = $1 AND digest = $2")
                    .bind(device)
                    .bind(digest),
            )
            .await?;
        row.map(|r| r.get("ids")).transpose()
    }

    async fn remember_held_set(
        &self,
        device: DeviceId,
        digest: &[u8],
        ids: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let db = self.db();
        db.retry(|| async {
            let mut tx = db.begin().await?;
            tx.execute(
                Query::new(
                    "INSERT INTO device_held_sets (device_id, digest, ids, issued_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (device_id, digest) DO UPDATE SET issued_at = excluded.issued_at",
                )
                .bind(device)
                .bind(digest)
                .bind(ids)
                .bind(now),
            )
            .await?;
            tx.execute(
                Query::new(
                    "DELETE FROM device_held_sets WHERE device_id = $1 AND digest NOT IN \
                     (SELECT digest FROM device_held_sets WHERE device_id = $1 \
                      ORDER BY issued_at DESC LIMIT $2)",
                )
                .bind(device)
                .bind(KEPT_PER_DEVICE),
            )
            .await?;
            tx.commit().await
        })
        .await
    }
}

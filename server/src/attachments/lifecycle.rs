//! Blob lifecycle: what the sweep deletes and when. Uploads nobody
//! continued for the grace period lose their staged bytes; blobs no job
//! keeps (none references them, or only cancelled jobs past the retention
//! period) are deleted once older than the grace period. Run by the
//! background worker (see [`Sweeper`]), one round at a time, with the
//! time passed in so tests drive it with an injected clock.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;

use super::blobs::{self, BlobStore};
use super::settings::AttachmentSettings;
use super::staging;
use crate::app::AppStore;
use crate::store::now_utc;

/// What one sweep deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub uploads: usize,
    pub blobs: usize,
}

/// The attachment sweep of one process (several may run: each deletion is
/// idempotent, and a blob row is deleted only where no job keeps it).
pub struct Sweeper {
    store: Arc<dyn AppStore>,
    blobs: BlobStore,
    settings: AttachmentSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Blob(#[from] blobs::BlobError),
}

impl Sweeper {
    pub fn new(store: Arc<dyn AppStore>, blobs: BlobStore, settings: AttachmentSettings) -> Self {
        Self {
            store,
            blobs,
            settings,
        }
    }

    /// Sweeps every `attachment_sweep_secs`, forever.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let every = Duration::from_secs(self.settings.attachment_sweep_secs.max(1));
            loop {
                match self.run_once_at(now_utc()).await {
                    Ok(s) if s != Swept::default() => {
                        tracing::info!(uploads = s.uploads, blobs = s.blobs, "attachments swept");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "attachment sweep failed"),
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// One sweep as if the time were `now`.
    pub async fn run_once_at(&self, now: OffsetDateTime) -> Result<Swept, SweepError> {
        let mut swept = Swept::default();
        let grace = now - self.settings.grace();
        // An upload's age is its newest staged chunk's: a chunk arriving
        // after the listing is not deleted, and the upload resumes from
        // the ranges that remain.
        for stale in staging::stale(&self.blobs, grace).await? {
            staging::discard(&self.blobs, stale.job_id, &stale.sha256).await?;
            swept.uploads += 1;
        }
        let cancelled = now - self.settings.cancelled_retention();
        for sha in self.store.collect_blobs(grace, cancelled).await? {
            self.blobs.delete(&blobs::blob_key(&sha)).await?;
            self.blobs.delete(&blobs::thumbnail_key(&sha)).await?;
            swept.blobs += 1;
        }
        Ok(swept)
    }
}

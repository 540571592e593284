//! Flags and environment variables of attachments: where blobs live, the
//! size limit, and how long unreferenced and cancelled jobs' blobs stay.

use std::fmt;

use clap::Args;

/// Attachment settings. `Debug` shows the blob URL (it names a bucket, not
/// a secret: S3 credentials come only from the AWS_* environment).
#[derive(Clone, Args)]
pub struct AttachmentSettings {
    /// Where blobs live: `s3://bucket/prefix` for any S3-compatible store
    /// (credentials, region and endpoint from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP),
    /// `file:///path` for a directory. Default: <data-dir>/blobs.
    #[arg(long, env = "FIELDSYNC_BLOB_URL", global = true)]
    pub blob_url: Option<String>,
    /// Largest attachment accepted, in MB (413 `too_large` above it).
    #[arg(
        long,
        env = "FIELDSYNC_MAX_ATTACHMENT_MB",
        default_value_t = 25,
        global = true
    )]
    pub max_attachment_mb: u64,
    /// Hours a blob no job references, or an upload nobody continues,
    /// is kept before the sweep deletes it.
    #[arg(
        long,
        env = "FIELDSYNC_ATTACHMENT_GRACE_HOURS",
        default_value_t = 24,
        global = true
    )]
    pub attachment_grace_hours: u64,
    /// Days a cancelled job's blobs are kept after it was last updated
    /// (unless another job still references them).
    #[arg(
        long,
        env = "FIELDSYNC_CANCELLED_ATTACHMENT_RETENTION_DAYS",
        default_value_t = 90,
        global = true
    )]
    pub cancelled_attachment_retention_days: u64,
    /// Seconds between two sweeps of the background worker.
    #[arg(
        long,
        env = "FIELDSYNC_ATTACHMENT_SWEEP_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub attachment_sweep_secs: u64,
    /// Uploads checked and stored at once (hash, type, EXIF, thumbnail:
    /// CPU-bound, holding the whole file); more wait, then get 503.
    /// Default: half the cores, at least one, so syncs keep the rest.
    #[arg(long, env = "FIELDSYNC_MAX_FINISHING_UPLOADS", global = true)]
    pub max_finishing_uploads: Option<usize>,
    /// How much lower than the server's own the OS priority of those
    /// checks is (Linux nice, per thread): when syncs want the cores they
    /// get them first. 0: the server's own priority.
    #[arg(
        long,
        env = "FIELDSYNC_FINISHING_NICENESS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u8).range(0..=19),
        global = true
    )]
    pub finishing_niceness: u8,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            blob_url: None,
            max_attachment_mb: 25,
            attachment_grace_hours: 24,
            cancelled_attachment_retention_days: 90,
            attachment_sweep_secs: 3600,
            max_finishing_uploads: None,
            finishing_niceness: 10,
        }
    }
}

impl AttachmentSettings {
    /// The size limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_attachment_mb.saturating_mul(1024 * 1024)
    }

    pub fn grace(&self) -> time::Duration {
        time::Duration::hours(i64::try_from(self.attachment_grace_hours).unwrap_or(i64::MAX / 4))
    }

    pub fn cancelled_retention(&self) -> time::Duration {
        time::Duration::days(
            i64::try_from(self.cancelled_attachment_retention_days).unwrap_or(i64::MAX / 4),
        )
    }
}

impl fmt::Debug for AttachmentSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentSettings")
            .field("blob_url", &self.blob_url)
            .field("max_attachment_mb", &self.max_attachment_mb)
            .field("attachment_grace_hours", &self.attachment_grace_hours)
            .field(
                "cancelled_attachment_retention_days",
                &self.cancelled_attachment_retention_days,
            )
            .field("attachment_sweep_secs", &self.attachment_sweep_secs)
            .field("max_finishing_uploads", &self.max_finishing_uploads)
            .field("finishing_niceness", &self.finishing_niceness)
            .finish()
    }
}

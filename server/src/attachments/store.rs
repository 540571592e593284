//! What attachments keep in SQL: each job's references (projected from its
//! document), stored blobs, and the office's per-job options. The trait
//! and its SQL, written once for both backends. Uploads in progress are
//! not here: their chunks are objects in the blob store
//! ([`super::staging`]).

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::{DocId, JobId, UserId};
use time::OffsetDateTime;

use crate::documents::{JobCommit, JobProjector};
use crate::store::sql::{Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// A job's reference to a file, as projected from its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentRef {
    pub sha256: String,
    pub size: i64,
    pub media_type: String,
    pub kind: String,
}

/// A job's reference with whom the job is assigned to and whether its
/// blob is stored ([`AttachmentStore::reference_in_job`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefInJob {
    pub technician_id: Option<UserId>,
    pub reference: AttachmentRef,
    pub stored: bool,
}

/// A stored blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRow {
    /// The hash its references name (of the bytes the technician took).
    pub sha256: String,
    /// The hash of the stored bytes (differs after EXIF GPS stripping).
    pub stored_sha256: String,
    pub size: i64,
    /// Sniffed from the bytes.
    pub media_type: String,
    pub thumbnail: bool,
    pub gps_stripped: bool,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// The reference of `job` to `sha256`, if its document holds one.
    async fn attachment_ref(&self, job: JobId, sha256: &str) -> Result<Option<AttachmentRef>>;
    /// The reference of `job` to `sha256` with what an upload or download
    /// checks first, in one query: whom the job is assigned to (the scope
    /// check) and whether the blob is stored.
    async fn reference_in_job(&self, job: JobId, sha256: &str) -> Result<Option<RefInJob>>;
    async fn blob(&self, sha256: &str) -> Result<Option<BlobRow>>;
    /// Which of `hashes` are stored blobs.
    async fn stored_blobs(&self, hashes: &[String]) -> Result<Vec<String>>;
    /// Records a stored blob; one already recorded stays as it was.
    async fn insert_blob(&self, blob: &BlobRow) -> Result<()>;
    /// Whether the office let `job` keep JPEG EXIF GPS data.
    async fn keep_location(&self, job: JobId) -> Result<bool>;
    async fn set_keep_location(&self, job: JobId, keep: bool) -> Result<()>;
    /// Deletes the rows of blobs created before `created_before` that no
    /// job keeps: none references them, or only cancelled jobs last
    /// updated before `cancelled_before`. Returns their hashes (whose
    /// bytes the caller deletes).
    async fn collect_blobs(
        &self,
        created_before: OffsetDateTime,
        cancelled_before: OffsetDateTime,
    ) -> Result<Vec<String>>;
}

fn blob_from(r: &Row) -> Result<BlobRow> {
    Ok(BlobRow {
        sha256: r.get("sha256")?,
        stored_sha256: r.get("stored_sha256")?,
        size: r.get("size")?,
        media_type: r.get("media_type")?,
        thumbnail: r.get("thumbnail")?,
        gps_stripped: r.get("gps_stripped")?,
        created_at: r.get("created_at")?,
    })
}

/// Deletes (and returns) the blobs created before $1 that no job keeps:
/// a job keeps a blob it references unless it is cancelled and was last
/// updated before $2. The check and the delete are one statement, so a
/// reference committed meanwhile keeps its blob.
const COLLECT: &str = "DELETE FROM blobs WHERE created_at < $1 AND NOT EXISTS (\
     SELECT 1 FROM job_attachments ja JOIN jobs j ON j.job_id = ja.job_id \
     WHERE ja.sha256 = blobs.sha256 \
     AND NOT (j.status = 'cancelled' AND j.updated_at < $2)) RETURNING sha256";

#[async_trait]
impl AttachmentStore for SqlStore {
    async fn attachment_ref(&self, job: JobId, sha256: &str) -> Result<Option<AttachmentRef>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT sha256, size, media_type, kind FROM job_attachments \
                     WHERE job_id = $1 AND sha256 = $2",
                )
                .bind(job)
                .bind(sha256),
            )
            .await?;
        row.map(|r| {
            Ok(AttachmentRef {
                sha256: r.get("sha256")?,
                size: r.get("size")?,
                media_type: r.get("media_type")?,
                kind: r.get("kind")?,
            })
        })
        .transpose()
    }

    async fn reference_in_job(&self, job: JobId, sha256: &str) -> Result<Option<RefInJob>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT j.technician_id, ja.sha256, ja.size, ja.media_type, ja.kind, \
                         b.sha256 AS stored FROM job_attachments ja \
                     JOIN jobs j ON j.job_id = ja.job_id \
                     LEFT JOIN blobs b ON b.sha256 = ja.sha256 \
                     WHERE ja.job_id = $1 AND ja.sha256 = $2",
                )
                .bind(job)
                .bind(sha256),
            )
            .await?;
        row.map(|r| {
            Ok(RefInJob {
                technician_id: r.get("technician_id")?,
                reference: AttachmentRef {
                    sha256: r.get("sha256")?,
                    size: r.get("size")?,
                    media_type: r.get("media_type")?,
                    kind: r.get("kind")?,
                },
                stored: r.get::<Option<String>>("stored")?.is_some(),
            })
        })
        .transpose()
    }

    async fn blob(&self, sha256: &str) -> Result<Option<BlobRow>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT sha256, stored_sha256, size, media_type, thumbnail, gps_stripped, \
                         created_at FROM blobs WHERE sha256 = $1",
                )
                .bind(sha256),
            )
            .await?;
        row.as_ref().map(blob_from).transpose()
    }

    async fn stored_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new("SELECT sha256 FROM blobs WHERE sha256 IN (");
        q.push_list(hashes.iter()).push(")");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(|r| r.get("sha256")).collect()
    }

    async fn insert_blob(&self, b: &BlobRow) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO blobs (sha256, stored_sha256, size, media_type, thumbnail, \
                         gps_stripped, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&b.sha256)
                .bind(&b.stored_sha256)
                .bind(b.size)
                .bind(&b.media_type)
                .bind(b.thumbnail)
                .bind(b.gps_stripped)
                .bind(b.created_at),
            )
            .await?;
        Ok(())
    }

    async fn keep_location(&self, job: JobId) -> Result<bool> {
        let row = self
            .db()
            .fetch_optional(
                Query::new("SELECT keep_location FROM attachment_options WHERE job_id = $1")
                    .bind(job),
            )
            .await?;
        Ok(match row {
            Some(r) => r.get("keep_location")?,
            None => false,
        })
    }

    async fn set_keep_location(&self, job: JobId, keep: bool) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO attachment_options (job_id, keep_location) VALUES ($1, $2) \
                     ON CONFLICT (job_id) DO UPDATE SET keep_location = excluded.keep_location",
                )
                .bind(job)
                .bind(keep),
            )
            .await?;
        Ok(())
    }

    async fn collect_blobs(
        &self,
        created_before: OffsetDateTime,
        cancelled_before: OffsetDateTime,
    ) -> Result<Vec<String>> {
        let rows = self
            .db()
            .retry(|| async {
                let mut conn = self.db().write().await?;
                conn.fetch_all(
                    Query::new(COLLECT)
                        .bind(created_before)
                        .bind(cancelled_before),
                )
                .await
            })
            .await?;
        rows.iter().map(|r| r.get("sha256")).collect()
    }
}

/// A job's references, written in the job's commit.
#[derive(Clone, Debug)]
pub struct AttachmentProjection {
    pub job_id: JobId,
    pub refs: Vec<AttachmentRef>,
}

#[async_trait]
impl Projection for AttachmentProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "attachment projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, _now: OffsetDateTime) -> Result<()> {
        // References are never removed from a document, so rows are only added.
        for r in &self.refs {
            tx.execute(
                Query::new(
                    "INSERT INTO job_attachments (job_id, sha256, size, media_type, kind) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, sha256) DO NOTHING",
                )
                .bind(self.job_id)
                .bind(&r.sha256)
                .bind(r.size)
                .bind(&r.media_type)
                .bind(&r.kind),
            )
            .await?;
        }
        Ok(())
    }
}

/// Projects every job commit's attachment references.
pub struct RefProjector;

impl JobProjector for RefProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        if c.job.attachments.is_empty() {
            return None;
        }
        let refs = c
            .job
            .attachments
            .iter()
            .map(|a| AttachmentRef {
                sha256: a.sha256.clone(),
                size: i64::try_from(a.size).unwrap_or(i64::MAX),
                media_type: a.media_type.clone(),
                kind: a.kind.as_str().to_owned(),
            })
            .collect();
        Some(Arc::new(AttachmentProjection {
            job_id: c.job.id,
            refs,
        }))
    }
}

//! The blob store: attachment bytes in an object store, the local
//! filesystem under the data dir by default, any S3-compatible store by
//! `--blob-url s3://bucket/prefix` so several server processes share one.
//!
//! Keys (under the URL's prefix):
//! - `blobs/<sha256>`: a stored blob, by the hash its references name;
//! - `thumbnails/<sha256>.jpg`: its thumbnail, for images;
//! - `staging/<job>/<sha256>/<start>-<end>`: one received chunk of an
//!   upload in progress (every process sees them, so an upload resumed on
//!   another process finds them; see [`super::staging`]).

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};
use time::OffsetDateTime;

/// A blob store that cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("unsupported blob URL {0:?}: expected s3://bucket/prefix or file:///path")]
    Url(String),
    #[error("cannot create blob directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("blob not found")]
    NotFound,
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// Where attachment bytes live. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// For logs: `s3://bucket/prefix` or the directory.
    location: String,
}

impl BlobStore {
    /// Opens the store `url` names (`s3://...`, `file:///...`), or the
    /// directory `<data_dir>/blobs` (created) without one.
    pub fn open(url: Option<&str>, data_dir: &FsPath) -> Result<Self, BlobError> {
        Self::open_with(url, data_dir, &[])
    }

    /// [`Self::open`] with S3 options (`aws_endpoint`, `aws_access_key_id`,
    /// ...; object_store's names) set over those of the environment: tests
    /// point one process at their own S3 server this way.
    pub fn open_with(
        url: Option<&str>,
        data_dir: &FsPath,
        s3_options: &[(&str, &str)],
    ) -> Result<Self, BlobError> {
        match url {
            None => Self::local(&data_dir.join("blobs")),
            Some(url) => {
                if let Some(rest) = url.strip_prefix("s3://") {
                    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err(BlobError::Url(url.to_owned()));
                    }
                    // Credentials, region and endpoint from the AWS_* variables.
                    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                    for (key, value) in s3_options {
                        let key: AmazonS3ConfigKey = key.parse()?;
                        builder = builder.with_config(key, *value);
                    }
                    let s3 = builder.build()?;
                    let prefix = prefix.trim_matches('/');
                    let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                        Arc::new(s3)
                    } else {
                        Arc::new(PrefixStore::new(s3, prefix))
                    };
                    Ok(Self {
                        inner,
                        location: url.to_owned(),
                    })
                } else if let Some(path) = url.strip_prefix("file://") {
                    Self::local(FsPath::new(path))
                } else {
                    Err(BlobError::Url(url.to_owned()))
                }
            }
        }
    }

    fn local(dir: &FsPath) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir).map_err(|source| BlobError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        // Removes directories left empty by deletes (staging).
        let fs = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(fs),
            location: dir.display().to_string(),
        })
    }

    /// Where the blobs are, for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub async fn put(&self, key: &Path, bytes: Bytes) -> Result<(), BlobError> {
        self.inner.put(key, PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &Path) -> Result<Bytes, BlobError> {
        match self.inner.get(key).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `key`; one already gone is fine.
    pub async fn delete(&self, key: &Path) -> Result<(), BlobError> {
        match self.inner.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key under `prefix`.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<Path>, BlobError> {
        Ok(self
            .list_meta(prefix)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Every key under `prefix`, with when it was written (by the store's
    /// clock: the file's modification time, S3's `LastModified`).
    pub async fn list_meta(&self, prefix: &Path) -> Result<Vec<(Path, OffsetDateTime)>, BlobError> {
        use futures::TryStreamExt as _;
        let metas: Vec<_> = self.inner.list(Some(prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| {
                let nanos = m.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX);
                let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                (m.location, at)
            })
            .collect())
    }
}

/// The key of a stored blob.
pub fn blob_key(sha256: &str) -> Path {
    Path::from(format!("blobs/{sha256}"))
}

pub fn thumbnail_key(sha256: &str) -> Path {
    Path::from(format!("thumbnails/{sha256}.jpg"))
}

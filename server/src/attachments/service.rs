//! The attachment workflow, written once over the store traits and the
//! blob store: who may touch which blob, resumable uploads with their
//! final checks, downloads. Routes and console pages are thin adapters.

use bytes::{Bytes, BytesMut};
use fieldsync_core::JobId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::blobs::{self, BlobError};
use super::finishing;
use super::media::{self, Media, Stripped};
use super::ranges::{self, ChunkRange};
use super::store::{AttachmentRef, BlobRow};
use crate::app::AppState;
use crate::authz::Scope;
use crate::error::ApiError;
use crate::store::now_utc;

/// The largest chunk one `PUT` may carry (413 `too_large` above it).
pub const MAX_CHUNK_BYTES: u64 = 4 * 1024 * 1024;

/// A blob a caller may touch: a hash the job's document references, on a
/// job the caller sees.
#[derive(Clone, Debug)]
pub struct Target {
    pub job: JobId,
    pub reference: AttachmentRef,
}

/// `GET`/`PUT .../upload`: what the server holds of one upload.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct UploadStatus {
    pub sha256: String,
    /// The whole's size once a chunk named it (or the blob is stored).
    pub size: Option<u64>,
    /// Received ranges `[start, end_exclusive]`, sorted and merged.
    pub received: Vec<[u64; 2]>,
    /// The server holds the blob (possibly from another job): skip it.
    pub complete: bool,
}

impl UploadStatus {
    fn complete(r: &AttachmentRef) -> Self {
        let size = u64::try_from(r.size).unwrap_or(0);
        Self {
            sha256: r.sha256.clone(),
            size: Some(size),
            received: vec![[0, size]],
            complete: true,
        }
    }
}

fn blob_error(e: BlobError) -> ApiError {
    ApiError::internal(e)
}

/// The blob `sha256` of job `job` if `caller` may touch it; 404 otherwise
/// (the same answer for a job that does not exist, one the caller does
/// not see, and a hash the job does not reference: nothing says whether
/// the hash exists elsewhere).
pub async fn target(
    state: &AppState,
    scope: Scope,
    job: JobId,
    sha256: &str,
) -> Result<Target, ApiError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound);
    }
    let sha256 = sha256.to_ascii_lowercase();
    crate::jobs::visible_job(state, &scope, job).await?;
    let reference = state
        .store
        .attachment_ref(job, &sha256)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Target { job, reference })
}

/// What the server holds of `t`'s upload.
pub async fn status(state: &AppState, t: &Target) -> Result<UploadStatus, ApiError> {
    if state.store.blob(&t.reference.sha256).await?.is_some() {
        return Ok(UploadStatus::complete(&t.reference));
    }
    let upload = state.store.upload(t.job, &t.reference.sha256).await?;
    Ok(match upload {
        None => UploadStatus {
            sha256: t.reference.sha256.clone(),
            size: None,
            received: Vec::new(),
            complete: false,
        },
        Some(u) => UploadStatus {
            sha256: t.reference.sha256.clone(),
            size: u64::try_from(u.total).ok(),
            received: merged(&u.chunks).into_iter().map(|(s, e)| [s, e]).collect(),
            complete: false,
        },
    })
}

fn merged(chunks: &[(i64, i64)]) -> Vec<(u64, u64)> {
    ranges::merge(
        chunks
            .iter()
            .filter_map(|&(s, e)| Some((u64::try_from(s).ok()?, u64::try_from(e).ok()?)))
            .collect(),
    )
}

/// Checks a chunk's range before its body is read: the whole must be the
/// reference's size and within the limit, the chunk within 4 MiB.
pub fn check_range(state: &AppState, t: &Target, range: &ChunkRange) -> Result<(), ApiError> {
    let limit = state.settings.attachments.max_bytes();
    if range.total > limit {
        return Err(ApiError::TooLarge(format!(
            "attachments may be at most {} MB",
            state.settings.attachments.max_attachment_mb
        )));
    }
    if i64::try_from(range.total).ok() != Some(t.reference.size) {
        return Err(ApiError::SizeMismatch(format!(
            "the job references {} bytes; this upload says {}",
            t.reference.size, range.total
        )));
    }
    if range.len() > MAX_CHUNK_BYTES {
        return Err(ApiError::TooLarge(format!(
            "a chunk may be at most {MAX_CHUNK_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Stores one chunk (its range checked by [`check_range`], `body` exactly
/// its bytes); when it was the last missing one, checks and stores the
/// whole blob.
pub async fn put_chunk(
    state: &AppState,
    t: &Target,
    range: ChunkRange,
    body: Bytes,
) -> Result<UploadStatus, ApiError> {
    let sha = &t.reference.sha256;
    if state.store.blob(sha).await?.is_some() {
        return Ok(UploadStatus::complete(&t.reference));
    }
    // The file's first bytes say what it is: a renamed executable is
    // refused now, not after the whole upload (and nothing of it is kept).
    if range.start == 0 && (body.len() >= media::HEAD_BYTES || range.end == range.total) {
        let expected = Media::from_mime(&t.reference.media_type);
        if let Err(why) = media::check_head(&body, expected) {
            discard(state, t.job, sha).await?;
            return Err(ApiError::MediaType(why));
        }
    }
    // The bytes first, then the row that says they are there.
    let key = blobs::chunk_key(t.job, sha, range.start, range.end);
    state.blobs.put(&key, body).await.map_err(blob_error)?;
    let (start, end, total) = (
        as_i64(range.start)?,
        as_i64(range.end)?,
        as_i64(range.total)?,
    );
    state
        .store
        .record_chunk(t.job, sha, total, start, end, now_utc())
        .await?;
    let status = status(state, t).await?;
    let covered: Vec<(u64, u64)> = status.received.iter().map(|r| (r[0], r[1])).collect();
    if status.complete || !ranges::covers(&covered, range.total) {
        return Ok(status);
    }
    finish(state, t).await
}

/// What the server holds of `t`'s upload, finishing it first if every
/// byte is staged but it is not complete (its last chunk was answered 503
/// while the server was busy finishing others): the device's next status
/// query completes it.
pub async fn query(state: &AppState, t: &Target) -> Result<UploadStatus, ApiError> {
    let s = status(state, t).await?;
    let covered: Vec<(u64, u64)> = s.received.iter().map(|r| (r[0], r[1])).collect();
    match s.size {
        Some(total) if !s.complete && ranges::covers(&covered, total) => finish(state, t).await,
        _ => Ok(s),
    }
}

fn as_i64(v: u64) -> Result<i64, ApiError> {
    i64::try_from(v).map_err(|_| ApiError::BadRange("range out of bounds".into()))
}

/// The checked, processed whole of an upload, ready to store.
struct Processed {
    bytes: Bytes,
    stored_sha256: String,
    media: Media,
    thumbnail: Option<Vec<u8>>,
    gps_stripped: bool,
}

/// Why an upload's final check refused it.
enum Refused {
    Hash,
    Media(String),
}

/// Assembles every received byte, checks the hash and the type, strips
/// EXIF GPS data, makes the thumbnail and stores the blob. A failed check
/// discards the staged bytes.
async fn finish(state: &AppState, t: &Target) -> Result<UploadStatus, ApiError> {
    let sha = t.reference.sha256.clone();
    let Some(upload) = state.store.upload(t.job, &sha).await? else {
        // Another request finished (or discarded) it meanwhile.
        return status(state, t).await;
    };
    let total = usize::try_from(upload.total).map_err(ApiError::internal)?;
    // A slot and the memory for the whole file, or 503 (the bytes stay
    // staged: the next request finishes them).
    let _pass = state
        .finishing
        .enter(&state.sync_gate, total as u64)
        .await?;
    // Another request may have finished or discarded it while this waited.
    if state.store.blob(&sha).await?.is_some() {
        return Ok(UploadStatus::complete(&t.reference));
    }
    let Some(upload) = state.store.upload(t.job, &sha).await? else {
        return status(state, t).await;
    };
    if usize::try_from(upload.total).ok() != Some(total) {
        return reset(state, t).await;
    }
    let mut whole = BytesMut::with_capacity(total);
    for (start, end) in &upload.chunks {
        let (start, end) = (
            usize::try_from(*start).map_err(ApiError::internal)?,
            usize::try_from(*end).map_err(ApiError::internal)?,
        );
        if end <= whole.len() {
            continue;
        }
        if start > whole.len() {
            // A gap: chunks were discarded meanwhile (see below).
            return reset(state, t).await;
        }
        let key = blobs::chunk_key(t.job, &sha, start as u64, end as u64);
        let chunk = match state.blobs.get(&key).await {
            Ok(c) if c.len() == end - start => c,
            // Gone or damaged (a concurrent discard): the device starts again.
            Ok(_) | Err(BlobError::NotFound) => return reset(state, t).await,
            Err(e) => return Err(blob_error(e)),
        };
        whole.extend_from_slice(&chunk[whole.len() - start..]);
    }
    if whole.len() != total {
        return reset(state, t).await;
    }
    let whole = whole.freeze();
    let keep_location = state.store.keep_location(t.job).await?;
    let expected = Media::from_mime(&t.reference.media_type);
    let checked = tokio::task::spawn_blocking({
        let sha = sha.clone();
        move || process(whole, &sha, expected, keep_location)
    })
    .await
    .map_err(ApiError::internal)?;
    let processed = match checked {
        Ok(p) => p,
        Err(refused) => {
            discard(state, t.job, &sha).await?;
            return Err(match refused {
                Refused::Hash => ApiError::HashMismatch,
                Refused::Media(m) => ApiError::MediaType(m),
            });
        }
    };
    // The bytes first, then the row that makes them downloadable.
    let size = as_i64(processed.bytes.len() as u64)?;
    state
        .blobs
        .put(&blobs::blob_key(&sha), processed.bytes)
        .await
        .map_err(blob_error)?;
    if let Some(thumb) = &processed.thumbnail {
        state
            .blobs
            .put(&blobs::thumbnail_key(&sha), Bytes::from(thumb.clone()))
            .await
            .map_err(blob_error)?;
    }
    state
        .store
        .insert_blob(&BlobRow {
            sha256: sha.clone(),
            stored_sha256: processed.stored_sha256,
            size,
            media_type: processed.media.mime().to_owned(),
            thumbnail: processed.thumbnail.is_some(),
            gps_stripped: processed.gps_stripped,
            created_at: now_utc(),
        })
        .await?;
    discard(state, t.job, &sha).await?;
    tracing::info!(job = %t.job, media_type = processed.media.mime(), size, "attachment stored");
    Ok(UploadStatus::complete(&t.reference))
}

/// Staged bytes went missing while an upload was assembled (another
/// request discarded it): complete if another request stored the blob,
/// else discarded, and the device starts again.
async fn reset(state: &AppState, t: &Target) -> Result<UploadStatus, ApiError> {
    if state.store.blob(&t.reference.sha256).await?.is_some() {
        return Ok(UploadStatus::complete(&t.reference));
    }
    discard(state, t.job, &t.reference.sha256).await?;
    Err(ApiError::Conflict(
        "the upload was reset; start again from byte 0".into(),
    ))
}

/// The final checks and processing, CPU-bound.
fn process(
    whole: Bytes,
    sha: &str,
    expected: Option<Media>,
    keep_location: bool,
) -> Result<Processed, Refused> {
    let whole_len = whole.len() as u64;
    if hex::encode(Sha256::digest(&whole)) != sha {
        return Err(Refused::Hash);
    }
    let media = media::check_head(&whole, expected).map_err(Refused::Media)?;
    let (bytes, gps_stripped) = if media == Media::Jpeg && !keep_location {
        match media::strip_gps(whole.clone()) {
            Some((b, s)) => (b, s != Stripped::Nothing),
            None => {
                return Err(Refused::Media("the bytes are not a readable JPEG".into()));
            }
        }
    } else {
        (whole, false)
    };
    let thumbnail = media
        .has_thumbnail()
        .then(|| media::thumbnail(&bytes, finishing::decode_bytes(whole_len)))
        .flatten();
    Ok(Processed {
        stored_sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
        media,
        thumbnail,
        gps_stripped,
    })
}

/// Forgets an upload: its rows, then its staged bytes.
pub async fn discard(state: &AppState, job: JobId, sha256: &str) -> Result<(), ApiError> {
    state.store.discard_upload(job, sha256).await?;
    let keys = state
        .blobs
        .list(&blobs::staging_prefix(job, sha256))
        .await
        .map_err(blob_error)?;
    for key in keys {
        state.blobs.delete(&key).await.map_err(blob_error)?;
    }
    Ok(())
}

/// A stored blob's bytes and row; 404 before it is uploaded.
pub async fn download(state: &AppState, t: &Target) -> Result<(BlobRow, Bytes), ApiError> {
    let blob = state
        .store
        .blob(&t.reference.sha256)
        .await?
        .ok_or(ApiError::NotFound)?;
    match state.blobs.get(&blobs::blob_key(&blob.sha256)).await {
        Ok(bytes) => Ok((blob, bytes)),
        Err(BlobError::NotFound) => Err(ApiError::NotFound),
        Err(e) => Err(blob_error(e)),
    }
}

/// A stored image's thumbnail (JPEG); 404 for other blobs.
pub async fn thumbnail(state: &AppState, t: &Target) -> Result<Bytes, ApiError> {
    let blob = state
        .store
        .blob(&t.reference.sha256)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !blob.thumbnail {
        return Err(ApiError::NotFound);
    }
    match state.blobs.get(&blobs::thumbnail_key(&blob.sha256)).await {
        Ok(bytes) => Ok(bytes),
        Err(BlobError::NotFound) => Err(ApiError::NotFound),
        Err(e) => Err(blob_error(e)),
    }
}

/// The file name a download gets: `<kind>-<first 12 hex>.<ext>`.
pub fn file_name(kind: &str, sha256: &str, media_type: &str) -> String {
    let ext = Media::from_mime(media_type).map_or("bin", Media::extension);
    format!("{kind}-{}.{ext}", &sha256[..12.min(sha256.len())])
}

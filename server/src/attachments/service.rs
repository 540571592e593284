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
use super::staging;
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
    /// The blob was stored when the request began.
    pub stored: bool,
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

    /// An upload in progress holding `merged` (the chunks staged).
    fn partial(r: &AttachmentRef, merged: &[(u64, u64)]) -> Self {
        Self {
            sha256: r.sha256.clone(),
            // Every chunk staged was checked to name the referenced size.
            size: (!merged.is_empty()).then(|| u64::try_from(r.size).unwrap_or(0)),
            received: merged.iter().map(|&(s, e)| [s, e]).collect(),
            complete: false,
        }
    }
}

fn blob_error(e: BlobError) -> ApiError {
    ApiError::internal(e)
}

/// The blob `sha256` of job `job` if `caller` may touch it; 404 otherwise
/// (the same answer for a job that does not exist, one the caller does
/// not see, and a hash the job does not reference: nothing says whether
/// the hash exists elsewhere). One query: the job's assignee, the
/// reference, and whether the blob is stored.
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
    let found = state
        .store
        .reference_in_job(job, &sha256)
        .await?
        .filter(|r| scope.sees_job(r.technician_id))
        .ok_or(ApiError::NotFound)?;
    Ok(Target {
        job,
        reference: found.reference,
        stored: found.stored,
    })
}

/// The upload's staged chunks, merged.
async fn staged(state: &AppState, t: &Target) -> Result<Vec<(u64, u64)>, ApiError> {
    let chunks = staging::chunks(&state.blobs, t.job, &t.reference.sha256)
        .await
        .map_err(blob_error)?;
    Ok(staging::merged(&chunks))
}

/// What the server holds of `t`'s upload: complete if the blob is stored,
/// else the ranges staged.
async fn status(state: &AppState, t: &Target) -> Result<UploadStatus, ApiError> {
    if t.stored {
        return Ok(UploadStatus::complete(&t.reference));
    }
    Ok(UploadStatus::partial(
        &t.reference,
        &staged(state, t).await?,
    ))
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
/// whole blob. No database write: the chunk is an object whose key names
/// its range ([`staging`]), and the answer lists the keys.
pub async fn put_chunk(
    state: &AppState,
    t: &Target,
    range: ChunkRange,
    body: Bytes,
) -> Result<UploadStatus, ApiError> {
    let sha = &t.reference.sha256;
    if t.stored {
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
    staging::put(&state.blobs, t.job, sha, range.start, range.end, body)
        .await
        .map_err(blob_error)?;
    let held = staged(state, t).await?;
    if !ranges::covers(&held, range.total) {
        return Ok(UploadStatus::partial(&t.reference, &held));
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
    let total = usize::try_from(t.reference.size).map_err(ApiError::internal)?;
    // A slot and the memory for the whole file, or 503 (the bytes stay
    // staged: the next request finishes them).
    let pass = state
        .finishing
        .enter(&state.sync_gate, total as u64)
        .await?;
    // Another request may have finished or discarded it while this waited
    // (what it left staged, a chunk repeated meanwhile, is of no use now).
    if state.store.blob(&sha).await?.is_some() {
        discard(state, t.job, &sha).await?;
        return Ok(UploadStatus::complete(&t.reference));
    }
    let chunks = staging::chunks(&state.blobs, t.job, &sha)
        .await
        .map_err(blob_error)?;
    let mut whole = BytesMut::with_capacity(total);
    for c in &chunks {
        let (start, end) = (
            usize::try_from(c.start).map_err(ApiError::internal)?,
            usize::try_from(c.end).map_err(ApiError::internal)?,
        );
        if end <= whole.len() {
            continue;
        }
        if start > whole.len() || end > total {
            // A gap (chunks discarded meanwhile), or a chunk of another
            // size: the device starts again.
            return reset(state, t).await;
        }
        let key = staging::chunk_key(t.job, &sha, c.start, c.end);
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
    // Below the syncs' priority; the pass (slot and memory) comes back
    // with the result and is held until the blob is stored.
    let (checked, _pass) = state
        .finishing
        .below_syncs(pass, {
            let sha = sha.clone();
            move || process(whole, &sha, expected, keep_location)
        })
        .await?;
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

/// Forgets an upload: its staged bytes.
pub async fn discard(state: &AppState, job: JobId, sha256: &str) -> Result<(), ApiError> {
    staging::discard(&state.blobs, job, sha256)
        .await
        .map_err(blob_error)
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

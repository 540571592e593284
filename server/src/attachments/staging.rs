//! Uploads in progress, kept in the blob store alone: each received chunk
//! is one object `staging/<job>/<sha256>/<start>-<end>`, and the ranges an
//! upload holds are the keys listed under its prefix.
//!
//! Why not rows: a row per chunk cost every 256 KiB chunk a durable
//! database commit (and the read-back of the rows), in the same database
//! and on the same cores the syncs commit through; the ranges are already
//! in the keys. An object appears whole or not at all (the filesystem
//! store writes a temporary file and renames it, S3 stores a `PUT`
//! atomically), so a listed range is on disk, whatever killed the server
//! after it was written. When an upload was last continued is its newest
//! chunk's modification time, taken by the store (the server's clock or
//! S3's, never a device's).

use std::collections::BTreeMap;

use bytes::Bytes;
use fieldsync_core::JobId;
use object_store::path::Path;
use time::OffsetDateTime;

use super::blobs::{BlobError, BlobStore};
use super::ranges;

const ROOT: &str = "staging";

/// One staged chunk: `[start, end)` of its upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Staged {
    pub start: u64,
    pub end: u64,
}

/// The prefix of one upload's staged chunks.
pub fn prefix(job: JobId, sha256: &str) -> Path {
    Path::from(format!("{ROOT}/{job}/{sha256}"))
}

/// The key of the staged chunk `[start, end)`.
pub fn chunk_key(job: JobId, sha256: &str, start: u64, end: u64) -> Path {
    Path::from(format!("{ROOT}/{job}/{sha256}/{start:012}-{end:012}"))
}

/// `<start>-<end>` of a chunk's key; `None` for anything else.
fn parse_range(name: &str) -> Option<Staged> {
    let (start, end) = name.split_once('-')?;
    let (start, end) = (start.parse().ok()?, end.parse().ok()?);
    (start < end).then_some(Staged { start, end })
}

/// Stores chunk `[start, end)` of an upload.
pub async fn put(
    blobs: &BlobStore,
    job: JobId,
    sha256: &str,
    start: u64,
    end: u64,
    bytes: Bytes,
) -> Result<(), BlobError> {
    blobs.put(&chunk_key(job, sha256, start, end), bytes).await
}

/// The chunks staged for an upload, sorted (they may overlap).
pub async fn chunks(blobs: &BlobStore, job: JobId, sha256: &str) -> Result<Vec<Staged>, BlobError> {
    let mut out: Vec<Staged> = blobs
        .list_meta(&prefix(job, sha256))
        .await?
        .iter()
        .filter_map(|(key, _)| parse_range(key.filename()?))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// `chunks` merged into disjoint `[start, end)` ranges.
pub fn merged(chunks: &[Staged]) -> Vec<(u64, u64)> {
    ranges::merge(chunks.iter().map(|c| (c.start, c.end)).collect())
}

/// Deletes every staged chunk of an upload.
pub async fn discard(blobs: &BlobStore, job: JobId, sha256: &str) -> Result<(), BlobError> {
    for key in blobs.list(&prefix(job, sha256)).await? {
        blobs.delete(&key).await?;
    }
    Ok(())
}

/// An upload nobody continued (see [`stale`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleUpload {
    pub job_id: JobId,
    pub sha256: String,
}

/// Uploads whose newest staged chunk was written before `before`.
pub async fn stale(
    blobs: &BlobStore,
    before: OffsetDateTime,
) -> Result<Vec<StaleUpload>, BlobError> {
    let mut newest: BTreeMap<StaleUpload, OffsetDateTime> = BTreeMap::new();
    for (key, modified) in blobs.list_meta(&Path::from(ROOT)).await? {
        let parts: Vec<_> = key.parts().collect();
        // staging / job / sha256 / range: anything else is not ours.
        let [_, job, sha, _] = parts.as_slice() else {
            continue;
        };
        let Ok(job_id) = job.as_ref().parse::<JobId>() else {
            continue;
        };
        let upload = StaleUpload {
            job_id,
            sha256: sha.as_ref().to_owned(),
        };
        let at = newest.entry(upload).or_insert(modified);
        *at = (*at).max(modified);
    }
    Ok(newest
        .into_iter()
        .filter(|(_, at)| *at < before)
        .map(|(u, _)| u)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_carry_their_range() {
        let job = JobId::from_bytes([7; 16]);
        let key = chunk_key(job, &"ab".repeat(32), 262_144, 524_288);
        assert!(
            key.as_ref()
                .starts_with(prefix(job, &"ab".repeat(32)).as_ref())
        );
        assert_eq!(
            parse_range(key.filename().unwrap()),
            Some(Staged {
                start: 262_144,
                end: 524_288
            })
        );
        for bad in [
            "",
            "1-1",
            "2-1",
            "a-2",
            "1-",
            "-1",
            "000000000001-000000000002#1",
        ] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    /// What the ranges rows used to record, now from the keys, on a real
    /// directory: chunks accumulate (a repeated one changes nothing), each
    /// job's upload is its own, an upload's age is its newest chunk's, a
    /// discard takes every chunk, and a chunk whose write was cut off
    /// (the store's temporary file, as a kill -9 leaves it) is not listed.
    #[tokio::test]
    async fn ranges_are_the_keys_staged() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(None, dir.path()).unwrap();
        let (job, other) = (JobId::from_bytes([1; 16]), JobId::from_bytes([2; 16]));
        let a = "aa".repeat(32);
        assert!(chunks(&blobs, job, &a).await.unwrap().is_empty());
        let before = crate::store::now_utc() - time::Duration::seconds(5);
        put(&blobs, job, &a, 50, 100, Bytes::from(vec![2; 50]))
            .await
            .unwrap();
        put(&blobs, job, &a, 0, 50, Bytes::from(vec![1; 50]))
            .await
            .unwrap();
        put(&blobs, job, &a, 0, 50, Bytes::from(vec![1; 50]))
            .await
            .unwrap();
        let got = chunks(&blobs, job, &a).await.unwrap();
        assert_eq!(
            got,
            vec![
                Staged { start: 0, end: 50 },
                Staged {
                    start: 50,
                    end: 100
                }
            ]
        );
        assert_eq!(merged(&got), vec![(0, 100)]);
        assert!(chunks(&blobs, other, &a).await.unwrap().is_empty());

        // Cut off mid-write: object_store's temporary file beside the chunks.
        let upload_dir = dir.path().join("blobs").join(prefix(job, &a).as_ref());
        std::fs::write(upload_dir.join("000000000100-000000000200#1"), [0; 10]).unwrap();
        assert_eq!(chunks(&blobs, job, &a).await.unwrap(), got);

        // Stale before a later instant, not before an earlier one.
        put(&blobs, other, &a, 0, 10, Bytes::from(vec![3; 10]))
            .await
            .unwrap();
        assert!(stale(&blobs, before).await.unwrap().is_empty());
        let later = crate::store::now_utc() + time::Duration::minutes(1);
        let found = stale(&blobs, later).await.unwrap();
        let mut want = vec![
            StaleUpload {
                job_id: job,
                sha256: a.clone(),
            },
            StaleUpload {
                job_id: other,
                sha256: a.clone(),
            },
        ];
        want.sort();
        assert_eq!(found, want);

        discard(&blobs, job, &a).await.unwrap();
        assert!(chunks(&blobs, job, &a).await.unwrap().is_empty());
        discard(&blobs, job, &a).await.unwrap();
        assert_eq!(chunks(&blobs, other, &a).await.unwrap().len(), 1);
        assert_eq!(stale(&blobs, later).await.unwrap(), want[1..]);
    }
}

//! Attachment files in the store, content-addressed by their SHA-256:
//! `<dir>/blobs/<sha256>`, one immutable file each.
//!
//! A file comes in by [`Blobs::import`]: copied into `blobs/<random>.tmp`
//! while it is hashed, fsynced, renamed to its hash and the directory
//! fsynced, so a crash leaves either no blob or the whole one (a leftover
//! `.tmp` is removed on open). The same bytes attached twice are stored
//! once. The blob is on disk before the reference is added to the job, so
//! a reference whose action returned always has its bytes.
//!
//! What is still to upload is not a second list that could disagree with
//! the jobs: it is every attachment of a held job whose blob is here and
//! that `uploads.json` does not record as on the server (see
//! [`UploadState`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{FieldsyncError, Result};

/// The upload bookkeeping, in `uploads.json` (replaced atomically).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadState {
    /// The app paused uploads (a metered network); kept across restarts.
    #[serde(default)]
    pub paused: bool,
    /// Blobs the server said it holds whole (`complete: true`).
    #[serde(default)]
    pub uploaded: BTreeSet<String>,
    /// Blobs the server refused for good, with its error code.
    #[serde(default)]
    pub refused: BTreeMap<String, String>,
}

/// A file copied into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Imported {
    pub sha256: String,
    pub size: u64,
    /// False when the store already held these bytes.
    pub new: bool,
}

#[derive(Debug)]
pub(crate) struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// The blob directory of the store at `store_dir`, created if needed;
    /// copies a crash interrupted are removed.
    pub fn open(store_dir: &Path) -> Result<Self> {
        let dir = store_dir.join("blobs");
        fs::create_dir_all(&dir).map_err(|e| FieldsyncError::storage("create blobs", e))?;
        let entries = fs::read_dir(&dir).map_err(|e| FieldsyncError::storage("list blobs", e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                fs::remove_file(entry.path())
                    .map_err(|e| FieldsyncError::storage("clean up blobs", e))?;
            }
        }
        Ok(Self { dir })
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Copies the file at `src` into the store (see the module docs).
    pub fn import(&self, src: &Path) -> Result<Imported> {
        let mut input = File::open(src)
            .map_err(|e| FieldsyncError::invalid(format!("cannot read the file to attach: {e}")))?;
        let tmp = self
            .dir
            .join(format!("{}.tmp", hex::encode(rand::random::<[u8; 8]>())));
        let copied = copy_hashing(&mut input, &tmp);
        let (sha256, size) = match copied {
            Ok(done) => done,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if size == 0 {
            let _ = fs::remove_file(&tmp);
            return Err(FieldsyncError::invalid("the file to attach is empty"));
        }
        let path = self.path(&sha256);
        if path.is_file() {
            fs::remove_file(&tmp).map_err(|e| FieldsyncError::storage("remove copy", e))?;
            return Ok(Imported {
                sha256,
                size,
                new: false,
            });
        }
        fs::rename(&tmp, &path).map_err(|e| FieldsyncError::storage("store blob", e))?;
        sync_dir(&self.dir)?;
        Ok(Imported {
            sha256,
            size,
            new: true,
        })
    }

    /// `len` bytes of a blob from `offset` (fewer at its end).
    pub fn read(&self, sha256: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let err = |e| FieldsyncError::storage("read blob", e);
        let mut f = File::open(self.path(sha256)).map_err(err)?;
        f.seek(SeekFrom::Start(offset)).map_err(err)?;
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf).map_err(err)?;
        Ok(buf)
    }

    pub fn remove(&self, sha256: &str) -> Result<()> {
        match fs::remove_file(self.path(sha256)) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FieldsyncError::storage("remove blob", e)),
        }
    }

    /// The hashes of every stored blob.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| FieldsyncError::storage("list blobs", e))?;
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }
}

/// Copies `input` to a new file at `tmp`, fsynced; its SHA-256 (hex) and size.
fn copy_hashing(input: &mut File, tmp: &Path) -> Result<(String, u64)> {
    let err = |e| FieldsyncError::storage("copy blob", e);
    let mut out = File::create_new(tmp).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| FieldsyncError::invalid(format!("cannot read the file to attach: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(err)?;
        size += n as u64;
    }
    out.sync_all().map_err(err)?;
    Ok((hex::encode(hasher.finalize()), size))
}

fn sync_dir(dir: &Path) -> Result<()> {
    match File::open(dir) {
        Ok(d) => d
            .sync_all()
            .map_err(|e| FieldsyncError::storage("sync blobs", e)),
        Err(_) if cfg!(windows) => Ok(()),
        Err(e) => Err(FieldsyncError::storage("open blobs", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_stored_once_under_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let src = dir.path().join("photo.jpg");
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &bytes).unwrap();
        let first = blobs.import(&src).unwrap();
        assert_eq!(first.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(first.size, bytes.len() as u64);
        assert!(first.new);
        assert_eq!(fs::read(blobs.path(&first.sha256)).unwrap(), bytes);
        let again = blobs.import(&src).unwrap();
        assert_eq!(again.sha256, first.sha256);
        assert!(!again.new, "the same bytes are stored once");
        assert_eq!(blobs.list().unwrap(), vec![first.sha256.clone()]);
        assert_eq!(
            blobs.read(&first.sha256, 299_990, 64).unwrap(),
            bytes[299_990..]
        );
    }

    #[test]
    fn empty_and_missing_files_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let empty = dir.path().join("empty.png");
        fs::write(&empty, b"").unwrap();
        for src in [empty, dir.path().join("missing.png")] {
            let err = blobs.import(&src).unwrap_err();
            assert!(
                matches!(err, FieldsyncError::InvalidInput { .. }),
                "{err:?}"
            );
        }
        assert_eq!(fs::read_dir(dir.path().join("blobs")).unwrap().count(), 0);
    }

    #[test]
    fn a_copy_a_crash_interrupted_is_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Blobs::open(dir.path()).unwrap());
        let torn = dir.path().join("blobs/0011223344556677.tmp");
        fs::write(&torn, b"half a pho").unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        assert!(!torn.exists());
        assert!(blobs.list().unwrap().is_empty());
    }
}

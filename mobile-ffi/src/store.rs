//! The crash-safe local store: plain files in the directory the app gives.
//!
//! ```text
//! <dir>/lock            held (OS file lock) while a client has the store open
//! <dir>/install.json    this install's automerge actor id, written once
//! <dir>/session.json    tokens, user, device (replaced on login/refresh)
//! <dir>/sync.json       acknowledged server heads, last sync, rejections, frozen jobs
//! <dir>/rejected.json   actions dropped after the server refused them, until the app dismisses them
//! <dir>/docs/<id>.am    one automerge document per file (job_<uuid>, pricebook, van_<uuid>)
//! <dir>/journal/<id>.json  per job, the actions the server has not acknowledged yet
//! <dir>/blobs/<sha256>  attached files, content-addressed (see [`crate::blobs`])
//! <dir>/uploads.json    which blobs the server holds, refused ones, uploads paused
//! ```
//!
//! Every write replaces a whole file the same way: write `<name>.tmp`, fsync
//! it, rename it over `<name>`, fsync the directory. A SIGKILL or power cut
//! leaves either the old or the new file, never a mix, so an action whose
//! call returned is on disk and the store always opens. Leftover `.tmp`
//! files are removed on open. Where two files must agree (a job's document
//! and its journal), the order of the writes makes every crash point
//! recoverable: see [`crate::journal`].

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use fieldsync_core::DocId;
use fieldsync_core::automerge::{ActorId, Automerge};
use serde::{Deserialize, Serialize};

use crate::error::{FieldsyncError, Result};
use crate::journal::JobJournal;

/// An open store; holds the directory lock until dropped.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    docs_dir: PathBuf,
    journal_dir: PathBuf,
    _lock: File,
}

#[derive(Serialize, Deserialize)]
struct Install {
    v: u32,
    /// 32 hex digits; generated once per install and never reused.
    actor_id: String,
    created_at_ms: i64,
}

impl FileStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let docs_dir = dir.join("docs");
        let journal_dir = dir.join("journal");
        for d in [&docs_dir, &journal_dir] {
            fs::create_dir_all(d).map_err(|e| FieldsyncError::storage("create store", e))?;
        }
        let lock = lock_dir(dir)?;
        for d in [dir, docs_dir.as_path(), journal_dir.as_path()] {
            remove_temporaries(d)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            docs_dir,
            journal_dir,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This store's actor id: read, or generated and stored on first open.
    pub fn actor(&self, now_ms: i64) -> Result<ActorId> {
        let path = self.dir.join("install.json");
        if let Some(actor) = read_actor(&self.dir)? {
            return Ok(actor);
        }
        let bytes: [u8; 16] = rand::random();
        let install = Install {
            v: 1,
            actor_id: hex::encode(bytes),
            created_at_ms: now_ms,
        };
        write_atomic(&path, &to_json(&install)?)?;
        Ok(ActorId::from(bytes))
    }

    /// A small JSON state file (`None` if it was never written).
    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>> {
        Self::read_json_at(&self.dir, name)
    }

    /// [`FileStore::read_json`] in a directory that is not open as a store.
    pub(crate) fn read_json_at<T: for<'de> Deserialize<'de>>(
        dir: &Path,
        name: &str,
    ) -> Result<Option<T>> {
        match fs::read(dir.join(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| FieldsyncError::corrupt(name, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FieldsyncError::storage(name, e)),
        }
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        Self::write_json_at(&self.dir, name, value)
    }

    pub(crate) fn write_json_at<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
        write_atomic(&dir.join(name), &to_json(value)?)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        remove_durably(&self.dir.join(name))
    }

    /// Every stored document, with this install's actor for new changes.
    pub fn load_docs(&self, actor: &ActorId) -> Result<BTreeMap<DocId, Automerge>> {
        let mut out = BTreeMap::new();
        let entries =
            fs::read_dir(&self.docs_dir).map_err(|e| FieldsyncError::storage("list docs", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FieldsyncError::storage("list docs", e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(doc_id_of_file) else {
                continue;
            };
            let bytes =
                fs::read(entry.path()).map_err(|e| FieldsyncError::storage("read doc", e))?;
            out.insert(id, load_doc(&bytes, actor)?);
        }
        Ok(out)
    }

    /// Durably replaces one document's file with its full current state.
    pub fn save_doc(&self, id: &DocId, doc: &Automerge) -> Result<()> {
        write_atomic(&self.docs_dir.join(file_of_doc(id)), &doc.save())
    }

    pub fn remove_doc(&self, id: &DocId) -> Result<()> {
        remove_durably(&self.docs_dir.join(file_of_doc(id)))
    }

    /// The documents that have a journal.
    pub fn journaled(&self) -> Result<Vec<DocId>> {
        let entries = fs::read_dir(&self.journal_dir)
            .map_err(|e| FieldsyncError::storage("list journals", e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FieldsyncError::storage("list journals", e))?;
            let name = entry.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|stem| doc_id_of_file(&format!("{stem}.am")))
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub(crate) fn read_journal(&self, id: &DocId) -> Result<Option<JobJournal>> {
        self.read_json(&format!("journal/{}", journal_of_doc(id)))
    }

    pub(crate) fn write_journal(&self, id: &DocId, journal: &JobJournal) -> Result<()> {
        write_atomic(
            &self.journal_dir.join(journal_of_doc(id)),
            &to_json(journal)?,
        )
    }

    pub fn remove_journal(&self, id: &DocId) -> Result<()> {
        remove_durably(&self.journal_dir.join(journal_of_doc(id)))
    }
}

/// The actor id of the store in `dir`, if it has one yet.
pub(crate) fn read_actor(dir: &Path) -> Result<Option<ActorId>> {
    let Some(install) = FileStore::read_json_at::<Install>(dir, "install.json")? else {
        return Ok(None);
    };
    let bytes = hex::decode(&install.actor_id)
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| FieldsyncError::corrupt("install.json", "bad actor id"))?;
    Ok(Some(ActorId::from(bytes)))
}

/// Takes the OS lock on `<dir>/lock`: one client per directory, in this
/// process or another; released when the file is dropped (or the process dies).
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(|e| FieldsyncError::storage("open lock file", e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(FieldsyncError::StoreBusy),
        Err(fs::TryLockError::Error(e)) => Err(FieldsyncError::storage("lock store", e)),
    }
}

/// Loads stored bytes; automerge can panic on damaged input, which becomes
/// [`FieldsyncError::Corrupt`] instead of crossing the FFI boundary.
fn load_doc(bytes: &[u8], actor: &ActorId) -> Result<Automerge> {
    match catch_unwind(AssertUnwindSafe(|| Automerge::load(bytes))) {
        Ok(Ok(doc)) => Ok(doc.with_actor(actor.clone())),
        Ok(Err(e)) => Err(FieldsyncError::corrupt("stored document", e)),
        Err(_) => Err(FieldsyncError::corrupt(
            "stored document",
            "the document engine panicked",
        )),
    }
}

fn file_of_doc(id: &DocId) -> String {
    format!("{}.am", id.to_string().replace('/', "_"))
}

fn journal_of_doc(id: &DocId) -> String {
    format!("{}.json", id.to_string().replace('/', "_"))
}

fn doc_id_of_file(name: &str) -> Option<DocId> {
    let stem = name.strip_suffix(".am")?;
    // `job_<uuid>`, `van_<uuid>_g2`: uuids hold no `_`, so each is a `/`.
    stem.replace('_', "/")
        .parse()
        .ok()
        .or_else(|| stem.parse().ok())
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| FieldsyncError::Internal {
        reason: format!("encode state: {e}"),
    })
}

/// write tmp + fsync + rename + fsync(dir): the file is either old or new.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e| FieldsyncError::storage("write", e);
    let tmp = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.tmp", ext.to_string_lossy()),
        None => "tmp".to_owned(),
    });
    {
        let mut f = File::create(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    fs::rename(&tmp, path).map_err(err)?;
    sync_dir(path)
}

fn remove_durably(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FieldsyncError::storage("remove", e)),
    }
}

/// Makes a rename or removal in the file's directory durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Directories cannot be opened for fsync on every platform (Windows);
    // where they can, an error here is real.
    match File::open(dir) {
        Ok(d) => d
            .sync_all()
            .map_err(|e| FieldsyncError::storage("sync dir", e)),
        Err(_) if cfg!(windows) => Ok(()),
        Err(e) => Err(FieldsyncError::storage("open dir", e)),
    }
}

pub(crate) fn remove_temporaries(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| FieldsyncError::storage("list store", e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(|e| FieldsyncError::storage("clean up", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_file_names_round_trip() {
        let job = DocId::Job(fieldsync_core::JobId::from_bytes([3; 16]));
        let van = DocId::VanStock(fieldsync_core::LocationId::from_bytes([4; 16]));
        let van_g2 = van.next_generation().unwrap();
        let book_g3 = DocId::PriceBook
            .next_generation()
            .and_then(|d| d.next_generation())
            .unwrap();
        for id in [job, van, DocId::PriceBook, van_g2, book_g3] {
            assert_eq!(doc_id_of_file(&file_of_doc(&id)), Some(id));
        }
        assert_eq!(doc_id_of_file("junk.am"), None);
        assert_eq!(doc_id_of_file("job_x.am.tmp"), None);
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            FileStore::open(dir.path()).unwrap_err(),
            FieldsyncError::StoreBusy
        );
        drop(first);
        FileStore::open(dir.path()).unwrap();
    }

    #[test]
    fn the_actor_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileStore::open(dir.path()).unwrap().actor(1).unwrap();
        let b = FileStore::open(dir.path()).unwrap().actor(2).unwrap();
        assert_eq!(a, b);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(FileStore::open(other.path()).unwrap().actor(1).unwrap(), a);
    }

    #[test]
    fn damaged_documents_are_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        fs::write(
            dir.path().join("docs/pricebook.am"),
            b"\x85\x6f\x4a\x83garbage",
        )
        .unwrap();
        let err = store.load_docs(&ActorId::from([1u8; 16])).unwrap_err();
        assert!(matches!(err, FieldsyncError::Corrupt { .. }), "{err:?}");
    }
}

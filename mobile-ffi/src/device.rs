//! The app data directory of one phone, shared by the technicians who log
//! in on it: one store (see [`crate::store`]) per user, so a second
//! technician never sees, nor sends, the first one's documents, pending
//! changes or blobs.
//!
//! ```text
//! <dir>/lock               held (OS file lock) while a client has the directory open
//! <dir>/device.json        the users who logged in here (id, username) and who is logged in now
//! <dir>/users/<user id>/   that user's store: session, documents, journals, blobs
//! <dir>/users/new/         the store the next new user gets (its actor id is what a
//!                          login for a username not seen here registers)
//! <dir>/users/retired-<hex>/  a `new` store nobody could be given (kept, never deleted)
//! ```
//!
//! A user's store is chosen after login, when the server says who logged in.
//! Each store has its own automerge actor (the server binds an actor to one
//! user's device, and two users writing with one actor would reuse its
//! sequence numbers). A new user's store comes into being by renaming
//! `users/new` to `users/<id>` (atomic), after which `device.json` records
//! them; a crash between the two is found on open (a user store without a
//! record is recorded then). Stores written before this layout (the store
//! files directly in `<dir>`) are moved into `users/` on open, see
//! [`Device::adopt_old_layout`].

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use fieldsync_core::UserId;
use fieldsync_core::automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::error::{FieldsyncError, Result};
use crate::store::{self, FileStore};

const DEVICE_FILE: &str = "device.json";
const USERS_DIR: &str = "users";
const NEW_STORE: &str = "new";
/// Where an old-layout store is gathered before it gets its name.
const OLD_LAYOUT: &str = ".old-layout";
/// The files of a store in the old layout, `install.json` last: while it is
/// still in `<dir>`, the move is not finished.
const OLD_FILES: [&str; 8] = [
    "session.json",
    "sync.json",
    "rejected.json",
    "uploads.json",
    "docs",
    "journal",
    "blobs",
    "install.json",
];

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct DeviceState {
    v: u32,
    /// The user logged in now (whose store a client opens).
    current: Option<UserId>,
    /// Everyone who has a store here, with the username they logged in
    /// with (to pick their store's actor before the server answers).
    users: BTreeMap<UserId, String>,
}

/// Which store a login's actor came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Known(UserId),
    New,
}

/// The open app data directory; holds its lock until dropped.
pub(crate) struct Device {
    root: PathBuf,
    state: DeviceState,
    _lock: File,
}

impl Device {
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join(USERS_DIR))
            .map_err(|e| FieldsyncError::storage("create app directory", e))?;
        let lock = store::lock_dir(root)?;
        store::remove_temporaries(root)?;
        let state = FileStore::read_json_at(root, DEVICE_FILE)?.unwrap_or_default();
        let mut device = Self {
            root: root.to_owned(),
            state,
            _lock: lock,
        };
        device.adopt_old_layout()?;
        device.record_unrecorded()?;
        Ok(device)
    }

    pub fn current(&self) -> Option<UserId> {
        self.state.current
    }

    pub fn user_dir(&self, user: UserId) -> PathBuf {
        self.root.join(USERS_DIR).join(user.to_string())
    }

    fn new_dir(&self) -> PathBuf {
        self.root.join(USERS_DIR).join(NEW_STORE)
    }

    /// The actor of the store the next new user gets, created if needed.
    pub fn new_actor(&self, now_ms: i64) -> Result<ActorId> {
        FileStore::open(&self.new_dir())?.actor(now_ms)
    }

    /// The actor to log `username` in with: their store's if they logged in
    /// here before, else the next new user's.
    pub fn login_actor(&self, username: &str, now_ms: i64) -> Result<(ActorId, Slot)> {
        let wanted = normalise(username);
        for (id, name) in &self.state.users {
            if normalise(name) == wanted
                && let Some(actor) = self.store_actor(*id)?
            {
                return Ok((actor, Slot::Known(*id)));
            }
        }
        Ok((self.new_actor(now_ms)?, Slot::New))
    }

    /// The actor of `user`'s store, if they have one here.
    pub fn store_actor(&self, user: UserId) -> Result<Option<ActorId>> {
        store::read_actor(&self.user_dir(user))
    }

    /// Makes sure `user` has a store (the `new` one becomes theirs) and
    /// records them; returns the store's directory. The caller opens it,
    /// stores the session, then calls [`Device::set_current`].
    pub fn claim(&mut self, user: UserId, username: &str, now_ms: i64) -> Result<PathBuf> {
        let dir = self.user_dir(user);
        if store::read_actor(&dir)?.is_none() {
            let new = self.new_dir();
            // Its actor is what `actorId()` handed out for this login
            // (made now if the app never asked).
            self.new_actor(now_ms)?;
            if dir.exists() {
                // A store directory without an actor is an empty shell a
                // crash left behind: nothing in it to keep.
                fs::remove_dir_all(&dir).map_err(|e| FieldsyncError::storage("clean up", e))?;
            }
            rename_durably(&new, &dir)?;
        }
        self.state.users.insert(user, username.to_owned());
        self.save()?;
        Ok(dir)
    }

    /// The `new` store's actor was registered to a user who already has a
    /// store here (their username changed): it can never be anyone else's,
    /// so it is set aside (kept, in case it holds old-layout work) and the
    /// next new user gets a fresh one.
    pub fn retire_new(&self, actor: &ActorId) -> Result<()> {
        let new = self.new_dir();
        if store::read_actor(&new)?.as_ref() == Some(actor) {
            let to = self
                .root
                .join(USERS_DIR)
                .join(format!("retired-{}", hex::encode(actor.to_bytes())));
            rename_durably(&new, &to)?;
        }
        Ok(())
    }

    pub fn set_current(&mut self, user: Option<UserId>) -> Result<()> {
        if self.state.current != user {
            self.state.current = user;
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let state = DeviceState {
            v: 1,
            ..self.state.clone()
        };
        FileStore::write_json_at(&self.root, DEVICE_FILE, &state)
    }

    /// A crash after `users/new` became `users/<id>` and before
    /// `device.json` said so: record the user now (from their session, or
    /// without a username, which only costs a fresh actor on their next
    /// login... which [`Device::claim`] then corrects).
    fn record_unrecorded(&mut self) -> Result<()> {
        let users = self.root.join(USERS_DIR);
        let entries = fs::read_dir(&users).map_err(|e| FieldsyncError::storage("list users", e))?;
        let mut changed = false;
        for entry in entries.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<UserId>().ok())
            else {
                continue;
            };
            if self.state.users.contains_key(&id) {
                continue;
            }
            let username = FileStore::read_json_at::<SessionName>(&entry.path(), "session.json")?
                .map(|s| s.username)
                .unwrap_or_default();
            self.state.users.insert(id, username);
            changed = true;
        }
        if changed {
            self.save()?;
        }
        Ok(())
    }

    /// Moves a store of the old layout (its files directly in `<dir>`) into
    /// `users/`: first every file into `users/.old-layout` (`install.json`
    /// last, so an interrupted move is resumed on the next open), then that
    /// directory is renamed to the logged-in user's store, or to `new` when
    /// nobody was logged in (the next user whose login the server accepts
    /// with its actor gets it: the server binds the actor to the user who
    /// first registered it, so nobody else can).
    fn adopt_old_layout(&mut self) -> Result<()> {
        let gather = self.root.join(USERS_DIR).join(OLD_LAYOUT);
        let old_install = self.root.join("install.json");
        if !old_install.exists() && !gather.exists() {
            return Ok(());
        }
        fs::create_dir_all(&gather).map_err(|e| FieldsyncError::storage("move old store", e))?;
        for name in OLD_FILES {
            let from = self.root.join(name);
            if from.exists() {
                rename_durably(&from, &gather.join(name))?;
            }
        }
        let session = FileStore::read_json_at::<SessionName>(&gather, "session.json")?;
        let user = session
            .as_ref()
            .and_then(|s| s.user_id.parse::<UserId>().ok());
        let target = match user {
            Some(u) if !self.user_dir(u).exists() => self.user_dir(u),
            None if !self.new_dir().exists() => self.new_dir(),
            _ => self.root.join(USERS_DIR).join(format!(
                "retired-{}",
                hex::encode(rand::random::<[u8; 8]>())
            )),
        };
        rename_durably(&gather, &target)?;
        if let (Some(u), Some(s)) = (user, session)
            && target == self.user_dir(u)
        {
            self.state.users.insert(u, s.username);
            self.state.current = Some(u);
            self.save()?;
        }
        Ok(())
    }
}

/// What the device directory reads of a stored session.
#[derive(Deserialize)]
struct SessionName {
    user_id: String,
    username: String,
}

/// Usernames as the server compares them (case and surrounding blanks
/// do not make another user).
fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| FieldsyncError::storage("rename", e))?;
    store::sync_dir(to)?;
    if from.parent() != to.parent() {
        store::sync_dir(from)?;
    }
    Ok(())
}

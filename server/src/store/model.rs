//! The values the store reads and writes: plain data, no SQL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use automerge::ChangeHash;
use fieldsync_core::{DocId, Role, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Projection;

/// A registered phone or tablet. Refresh tokens are bound to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(Uuid);

impl DeviceId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

impl FromStr for DeviceId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// A device's automerge actor id: exactly 16 bytes, written as 32 hex digits.
///
/// Every change a device makes carries this actor, which is how the sync
/// endpoint ties a change to the device (and so the user) that sent it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceActor([u8; 16]);

impl DeviceActor {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
    pub fn to_automerge(&self) -> automerge::ActorId {
        automerge::ActorId::from(self.0)
    }
}

impl TryFrom<&[u8]> for DeviceActor {
    type Error = InvalidActor;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| InvalidActor)
    }
}

impl FromStr for DeviceActor {
    type Err = InvalidActor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(InvalidActor);
        }
        let bytes = hex::decode(s).map_err(|_| InvalidActor)?;
        Self::try_from(bytes.as_slice())
    }
}

impl fmt::Display for DeviceActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for DeviceActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceActor({self})")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an actor id is 32 hexadecimal digits (16 bytes)")]
pub struct InvalidActor;

/// A login name: 1-64 characters of `a-z 0-9 . _ @ -`, stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a username is 1-64 characters of a-z, 0-9, '.', '_', '@' or '-'")]
pub struct InvalidUsername;

impl FromStr for Username {
    type Err = InvalidUsername;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'@' | b'-')
            });
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidUsername)
        }
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidUsername;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub role: Role,
    pub created_at: OffsetDateTime,
}

/// A user row with its argon2id PHC hash (only the login path reads it).
#[derive(Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: String,
    pub actor: DeviceActor,
    pub registered_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Device {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// What the auth extractor needs per request, read in one indexed query:
/// the device (with its revocation) and its user's current role and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePrincipal {
    pub device: Device,
    pub role: Role,
    /// The user is disabled: every request of theirs is refused.
    pub user_disabled: bool,
}

/// SHA-256 of a refresh token. The token itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}..)", hex::encode(&self.0[..4]))
    }
}

#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub hash: TokenHash,
    /// All tokens rotated from one login share a family; reuse revokes it.
    pub family_id: Uuid,
    pub device_id: DeviceId,
    pub user_id: UserId,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token led to. The store commits family
/// revocation before returning [`RefreshOutcome::Reused`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The presented token is now used; the next one is stored.
    Rotated {
        user_id: UserId,
        device_id: DeviceId,
        family_id: Uuid,
    },
    /// The token had already been rotated: the whole family is now revoked.
    Reused { family_id: Uuid },
    /// Unknown, expired or revoked token, or a revoked device.
    Invalid,
}

/// An HS256 key for access tokens. Several server processes share these rows.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// The kind column of `documents`, derived from the [`DocId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Job,
    PriceBook,
    VanStock,
}

impl DocKind {
    pub fn of(doc: &DocId) -> Self {
        match doc {
            DocId::Job(_) => DocKind::Job,
            DocId::PriceBook => DocKind::PriceBook,
            DocId::VanStock(_) => DocKind::VanStock,
            DocId::Regenerated(fieldsync_core::ServerDoc::PriceBook, _) => DocKind::PriceBook,
            DocId::Regenerated(fieldsync_core::ServerDoc::VanStock(_), _) => DocKind::VanStock,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Job => "job",
            DocKind::PriceBook => "pricebook",
            DocKind::VanStock => "van",
        }
    }
}

/// One automerge change to store, addressed by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewChange {
    pub hash: ChangeHash,
    pub bytes: Vec<u8>,
}

impl NewChange {
    pub fn from_change(change: &automerge::Change) -> Self {
        Self {
            hash: change.hash(),
            bytes: change.raw_bytes().to_vec(),
        }
    }
}

/// The change rows one commit stored, found by its stamp (the change
/// cursor, [`super::DocumentStore::commits_since`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampedCommit {
    pub doc_id: DocId,
    pub stamp: i64,
    /// Its changes, in the order they were stored.
    pub hashes: Vec<ChangeHash>,
    /// False when some of its rows were pruned since.
    pub complete: bool,
}

/// A stored change with its position in the document's log (1, 2, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChange {
    pub seq: i64,
    pub hash: ChangeHash,
    pub bytes: Vec<u8>,
}

/// When the server first stored a change (its clock): kept after the
/// change row is pruned ([`crate::store::DocumentStore::change_receipts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeReceipt {
    pub hash: ChangeHash,
    pub received_at: OffsetDateTime,
}

/// A saved document (`Automerge::save`) that includes every change up to `covers_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub covers_seq: i64,
    pub bytes: Vec<u8>,
}

/// A document as stored: the latest snapshot (if any) and the changes after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub doc_id: DocId,
    /// The highest change `seq`; pass it back as [`DocCommit::base_version`].
    pub version: i64,
    pub snapshot: Option<Snapshot>,
    /// Changes with `seq` above the snapshot's `covers_seq`, in `seq` order.
    pub changes: Vec<StoredChange>,
}

impl StoredDoc {
    /// Change rows a load has to apply on top of the snapshot.
    pub fn changes_since_snapshot(&self) -> i64 {
        self.version - self.snapshot.as_ref().map_or(0, |s| s.covers_seq)
    }

    /// Rebuilds the automerge document: snapshot, then the later changes.
    pub fn to_automerge(&self) -> Result<automerge::Automerge, automerge::AutomergeError> {
        let mut doc = match &self.snapshot {
            Some(s) => automerge::Automerge::load(&s.bytes)?,
            None => automerge::Automerge::new(),
        };
        for c in &self.changes {
            doc.load_incremental(&c.bytes)?;
        }
        Ok(doc)
    }
}

/// Everything one document write stores, in one transaction.
#[derive(Clone, Debug)]
pub struct DocCommit {
    pub doc_id: DocId,
    /// The version the caller's in-memory document reflects. If the stored
    /// version moved on (another process wrote), nothing is written and
    /// [`CommitOutcome::Stale`] tells the caller to catch up with
    /// [`crate::store::DocumentStore::load_changes_since`] and try again.
    pub base_version: i64,
    /// New changes, in causal order. Ones already stored are skipped.
    pub changes: Vec<NewChange>,
    /// A save of the document including `changes`; stored as a snapshot that
    /// covers the version this commit produces.
    pub snapshot: Option<Vec<u8>>,
    /// Feature rows derived from the document, written in the same
    /// transaction, in this order (see [`crate::store::Projection`]).
    pub projections: Vec<Arc<dyn Projection>>,
    /// For the first commit of a server-authored document's next generation
    /// ([`DocId::next_generation`]): the version the previous generation
    /// was read at. The commit makes this generation current only if that
    /// one is still current and still at that version (else
    /// [`CommitOutcome::Stale`], nothing written). Without it, a commit to
    /// a server-authored document that is not the current generation is
    /// stale too: a retired generation takes no more changes.
    pub retires: Option<i64>,
}

impl DocCommit {
    pub fn new(doc_id: DocId, base_version: i64) -> Self {
        Self {
            doc_id,
            base_version,
            changes: Vec::new(),
            snapshot: None,
            projections: Vec::new(),
            retires: None,
        }
    }

    /// Adds a projection to write with this commit.
    pub fn project(&mut self, projection: impl Projection + 'static) -> &mut Self {
        self.projections.push(Arc::new(projection));
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        /// The document's version after this commit.
        version: i64,
        /// How many of the changes were new (the rest were already stored).
        inserted: usize,
        /// Change rows above the latest snapshot, after this commit.
        changes_since_snapshot: i64,
        /// The commit's stamp (the change cursor's order), when it stored
        /// new rows.
        stamp: Option<i64>,
    },
    /// Nothing was written: the stored version is `current_version`, not the base.
    Stale { current_version: i64 },
    /// Nothing was written: the document is archived and takes no more
    /// changes ([`crate::store::DocumentStore::archive_document`]).
    Archived,
}

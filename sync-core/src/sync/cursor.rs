//! The change cursor (issue 19 item 1): a routine sync names only the
//! documents the device changed, plus the cursor the server gave it last
//! time and a digest of the ids it holds; the server answers only the
//! documents changed since. See docs/sync-protocol.md "The change cursor".
//!
//! The server stamps every document commit from one counter, in commit
//! order; a cursor says "this device holds every change stamped up to
//! `base`, and the changes of the commits in `mine`" (its own, stored by the
//! request that got the cursor, so they are not sent back to it).

use std::collections::BTreeMap;

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::doc_id::DocId;

/// Bytes of a [`held_digest`].
pub const HELD_DIGEST_BYTES: usize = 16;

/// Most bytes a cursor may have on the wire (a larger one is refused).
pub const MAX_CURSOR_BYTES: usize = 1024;

/// Most stamps a cursor carries in `mine`: a sync that commits more
/// documents gets a cursor without them (those changes come back once).
pub const MAX_MINE: usize = 64;

/// What the server gave the device: opaque to the device, which returns it
/// as it got it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Every commit stamped up to this one is held by the device.
    pub base: u64,
    /// Commits stamped after `base` whose changes the device sent itself.
    pub mine: Vec<u64>,
}

/// On the wire: `[1, base, [mine...]]` in CBOR, the 1 a format version.
#[derive(Serialize, Deserialize)]
struct Encoded(u32, u64, Vec<u64>);

impl Cursor {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Encoded(1, self.base, self.mine.clone()), &mut out)
            .expect("CBOR encoding into memory");
        out
    }

    /// `None` for bytes this server did not issue (another format, damage):
    /// the device is then asked to name what it holds, never refused.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_CURSOR_BYTES {
            return None;
        }
        let Encoded(v, base, mine) = ciborium::de::from_reader(bytes).ok()?;
        (v == 1 && mine.len() <= MAX_MINE && mine.iter().all(|m| *m > base))
            .then_some(Self { base, mine })
    }

    /// The cursor after a request that loaded at `base` and committed the
    /// device's changes as `mine`.
    pub fn after(base: u64, mut mine: Vec<u64>) -> Self {
        mine.retain(|m| *m > base);
        mine.sort_unstable();
        mine.dedup();
        if mine.len() > MAX_MINE {
            mine.clear();
        }
        Self { base, mine }
    }
}

/// The digest of a set of document ids: the first 16 bytes of SHA-256 over
/// each id's text followed by `\n`, in sorted order of the texts. The
/// device sends it so the server knows it holds exactly what it thinks.
pub fn held_digest<'a>(ids: impl IntoIterator<Item = &'a DocId>) -> [u8; HELD_DIGEST_BYTES] {
    digest_of_held_text(&held_text(ids))
}

/// What [`held_digest`] hashes: each id's text followed by `\n`, sorted
/// by the texts, each once. The server remembers a device's set as this
/// text, so a digest it meets again names the ids exactly.
pub fn held_text<'a>(ids: impl IntoIterator<Item = &'a DocId>) -> String {
    let mut texts: Vec<String> = ids.into_iter().map(ToString::to_string).collect();
    texts.sort();
    texts.dedup();
    let mut out = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum());
    for t in &texts {
        out.push_str(t);
        out.push('\n');
    }
    out
}

/// The digest of a [`held_text`].
pub fn digest_of_held_text(text: &str) -> [u8; HELD_DIGEST_BYTES] {
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0; HELD_DIGEST_BYTES];
    out.copy_from_slice(&full[..HELD_DIGEST_BYTES]);
    out
}

/// The ids of a [`held_text`]; `None` if it is not one (a damaged row).
pub fn parse_held_text(text: &str) -> Option<std::collections::BTreeSet<DocId>> {
    if text.is_empty() {
        return Some(Default::default());
    }
    let body = text.strip_suffix('\n')?;
    body.split('\n').map(|t| t.parse().ok()).collect()
}

/// How [`super::serve_since`] answers a held document the request neither
/// exchanges nor lists as known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Unnamed {
    /// The device has none of it: send it whole (no cursor, or the request
    /// names everything the device holds).
    #[default]
    Whole,
    /// The device holds every document and the server's changes up to its
    /// cursor: send only the documents listed, with these changes.
    Since(BTreeMap<DocId, Delta>),
    /// The device holds a set the server cannot tell: say nothing about
    /// them, and ask it to name what it holds (`resync`).
    Nothing,
}

/// What a device with a cursor lacks of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// These changes (the server's commits after the cursor).
    Changes(Vec<ChangeHash>),
    /// The whole document: the device does not hold it (it joined the
    /// device's scope), or the server cannot say what it lacks (rows
    /// pruned since the cursor) and the device merges it with its copy.
    Whole,
    /// The device holds it unchanged since its acknowledged heads, and it
    /// left the device's scope: answer `removed` (no content).
    Removed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_foreign_bytes_are_not_one() {
        let c = Cursor::after(7, vec![9, 8, 9, 3]);
        assert_eq!(c.mine, vec![8, 9]);
        assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
        assert!(c.encode().len() < 16, "{}", c.encode().len());
        assert_eq!(Cursor::decode(b"\x01\x02"), None);
        assert_eq!(Cursor::decode(&[]), None);
        // A stamp in `mine` not after `base` is not a cursor this server made.
        let bad = Cursor {
            base: 5,
            mine: vec![5],
        };
        assert_eq!(Cursor::decode(&bad.encode()), None);
        assert!(Cursor::after(1, (2..100).collect()).mine.is_empty());
    }

    #[test]
    fn a_held_text_names_the_ids_its_digest_stands_for() {
        let a = DocId::Job(crate::JobId::from_bytes([1; 16]));
        let ids = [a, DocId::PriceBook, a];
        let text = held_text(&ids);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(digest_of_held_text(&text), held_digest(&ids));
        assert_eq!(
            parse_held_text(&text),
            Some(std::collections::BTreeSet::from([a, DocId::PriceBook]))
        );
        assert_eq!(parse_held_text(""), Some(Default::default()));
        assert_eq!(digest_of_held_text(""), held_digest(std::iter::empty()));
        assert_eq!(parse_held_text("pricebook"), None);
        assert_eq!(parse_held_text("nonsense\n"), None);
    }

    #[test]
    fn the_held_digest_ignores_order_and_sees_every_id() {
        let a = DocId::Job(crate::JobId::from_bytes([1; 16]));
        let b = DocId::PriceBook;
        assert_eq!(held_digest([&a, &b]), held_digest([&b, &a]));
        assert_ne!(held_digest([&a, &b]), held_digest([&a]));
        assert_ne!(held_digest([&b]), held_digest(std::iter::empty()));
    }
}

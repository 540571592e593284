//! The batch framing: one CBOR request/response carrying one standard
//! automerge sync message per document. See `docs/sync-protocol.md`.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::cursor::{HELD_DIGEST_BYTES, MAX_CURSOR_BYTES};
use super::{Limits, SyncError};
use automerge::ChangeHash;

use crate::doc_id::DocId;
use crate::validate::RejectCode;

/// Version of the framing; a server answers requests of versions it knows.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most heads one [`KnownDoc`] may list (a document has one head per
/// concurrent writer that has not been merged yet: a handful).
pub const MAX_KNOWN_HEADS: usize = 256;

/// What a device sends: one sync message per document it is exchanging,
/// and the heads of the documents it holds but is not exchanging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub v: u32,
    pub docs: Vec<DocMessage>,
    /// Documents the device holds and is not exchanging in this request,
    /// with the server heads it last acknowledged: the server answers one
    /// only with what changed since, and not at all if nothing did.
    /// Documents in scope that are in neither list are sent whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<KnownDoc>,
    /// The cursor of the server's last response this device applied in
    /// full ([`super::Cursor`], opaque to the device). With it, `docs`
    /// names only the documents the device changed, and the server answers
    /// only the documents changed since. Requires `held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<ByteBuf>,
    /// [`super::held_digest`] of every document the device holds. Its
    /// presence says the device takes a cursor in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<ByteBuf>,
}

/// A document the device holds at `heads` (hex change hashes on the wire).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnownDoc {
    pub id: DocId,
    pub heads: Vec<ChangeHash>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocMessage {
    pub id: DocId,
    /// An encoded `automerge::sync::Message`.
    pub msg: ByteBuf,
}

/// What the server answers: an outcome per document, and its sync message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub v: u32,
    pub docs: Vec<DocReply>,
    /// The next cursor, for a request that sent `held`; absent when the
    /// device should keep the one it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<ByteBuf>,
    /// The request's cursor could not be used (its `held` digest is not the
    /// set the server expects, or the cursor is too old): documents it did
    /// not name were not answered. The device sends another round naming
    /// every document it holds (in `docs` or `known`), without a cursor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocReply {
    pub id: DocId,
    pub outcome: Outcome,
    /// The server's sync message for this document, if it has one to send.
    pub msg: Option<ByteBuf>,
}

/// The server's verdict on one document of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every change received was stored (or there were none).
    Accepted,
    /// Nothing received for this document was stored; `msg` still carries
    /// the server's own changes and never asks for the refused ones again.
    Rejected {
        code: RejectCode,
        message: String,
        /// The first change refused, when one change is to blame (not for
        /// undecodable bytes or a foreign actor's batch as a whole): the
        /// device drops the action that made it and replays the rest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<ChangeHash>,
    },
    /// The server lacks changes the device's message depends on: run
    /// another round of the standard protocol.
    NeedsAnotherRound,
    /// The document left the caller's scope (e.g. reassigned): changes
    /// made before were merged; drop the local copy.
    Removed,
    /// No such document in the caller's scope.
    NotFound,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing CBOR into a Vec cannot fail for these plain types.
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into memory");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], limits: &Limits) -> Result<T, SyncError> {
    if bytes.len() > limits.max_request_bytes {
        return Err(SyncError::TooLarge {
            what: "batch",
            limit: limits.max_request_bytes,
        });
    }
    ciborium::de::from_reader_with_recursion_limit(bytes, 16)
        .map_err(|e| SyncError::Malformed(describe(e)))
}

/// Says what is wrong with a batch in words for people: ciborium's own
/// `Display` is its `Debug` (`Io(Error { kind: UnexpectedEof, .. })`).
fn describe(e: ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match e {
        Error::Io(_) => "the batch ends before it is complete".into(),
        Error::Syntax(at) => format!("the batch is not valid CBOR (at byte {at})"),
        Error::Semantic(Some(at), why) => {
            format!("the batch does not have the expected shape (at byte {at}): {why}")
        }
        Error::Semantic(None, why) => format!("the batch does not have the expected shape: {why}"),
        Error::RecursionLimitExceeded => "the batch is nested too deeply".into(),
    }
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes and checks version, document count, sizes and duplicate ids.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, SyncError> {
        let req: SyncRequest = decode(bytes, limits)?;
        if req.v != PROTOCOL_VERSION {
            return Err(SyncError::UnsupportedVersion(req.v));
        }
        if req.docs.len() + req.known.len() > limits.max_docs {
            return Err(SyncError::TooLarge {
                what: "document count",
                limit: limits.max_docs,
            });
        }
        if req.known.iter().any(|k| k.heads.len() > MAX_KNOWN_HEADS) {
            return Err(SyncError::TooLarge {
                what: "heads of a known document",
                limit: MAX_KNOWN_HEADS,
            });
        }
        if req
            .held
            .as_ref()
            .is_some_and(|h| h.len() != HELD_DIGEST_BYTES)
        {
            return Err(SyncError::Malformed(format!(
                "held must be {HELD_DIGEST_BYTES} bytes"
            )));
        }
        if req
            .cursor
            .as_ref()
            .is_some_and(|c| c.len() > MAX_CURSOR_BYTES)
        {
            return Err(SyncError::TooLarge {
                what: "cursor",
                limit: MAX_CURSOR_BYTES,
            });
        }
        if req.cursor.is_some() && req.held.is_none() {
            return Err(SyncError::Malformed("a cursor comes with held".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for id in req.mentioned() {
            if !seen.insert(id) {
                return Err(SyncError::Malformed(format!("document {id} appears twice")));
            }
        }
        Ok(req)
    }

    /// Every document the request names: exchanged or known.
    pub fn mentioned(&self) -> impl Iterator<Item = DocId> + '_ {
        self.docs
            .iter()
            .map(|d| d.id)
            .chain(self.known.iter().map(|k| k.id))
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, SyncError> {
        let resp: SyncResponse = decode(bytes, limits)?;
        if resp.v != PROTOCOL_VERSION {
            return Err(SyncError::UnsupportedVersion(resp.v));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: &[u8]) -> String {
        match SyncRequest::decode(bytes, &Limits::default()) {
            Err(SyncError::Malformed(m)) => m,
            other => panic!("expected a malformed batch, got {other:?}"),
        }
    }

    #[test]
    fn framing_errors_read_as_text_for_people() {
        let whole = SyncRequest {
            v: PROTOCOL_VERSION,
            docs: vec![DocMessage {
                id: DocId::PriceBook,
                msg: ByteBuf::from(vec![1, 2, 3]),
            }],
            known: Vec::new(),
            cursor: None,
            held: None,
        }
        .encode();
        // {"x": [[[...]]]}: an unknown field whose value nests 40 deep.
        let deep: Vec<u8> = [0xa1, 0x61, b'x']
            .into_iter()
            .chain([0x81; 40])
            .chain([0x80])
            .collect();
        let cases = [
            (&whole[..whole.len() - 2], "ends before it is complete"),
            (&[0x1c][..], "not valid CBOR"),
            (&b"\x01"[..], "expected shape"),
            (&deep[..], "nested too deeply"),
        ];
        for (bytes, expected) in cases {
            let m = message(bytes);
            assert!(m.contains(expected), "{m}");
            for internal in ["Error {", "kind:", "Io(", "Syntax(", "Semantic("] {
                assert!(!m.contains(internal), "{m}");
            }
        }
    }
}

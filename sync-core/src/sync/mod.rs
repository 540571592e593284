//! Batched sync, sans-IO.
//!
//! One request carries every document a device holds, each as a standard
//! automerge sync message, framed in CBOR ([`wire`]). The device side is a
//! [`ClientSession`]; the server side is the stateless function [`serve`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use fieldsync_core::automerge::{ActorId, Automerge};
//! use fieldsync_core::sync::{serve, Access, Caller, ClientSession, HeldDoc, Limits, SyncRequest};
//! use fieldsync_core::pricebook::{PriceBook, write_price_book};
//! use fieldsync_core::{DocId, Money, Principal, Role, Timestamp, UserId};
//!
//! // The server holds the price book; a new device holds nothing yet.
//! let mut book = Automerge::new();
//! let prices = PriceBook {
//!     version: 1,
//!     currency: "EUR".into(),
//!     tax_rate_bps: 2300,
//!     callout_fee: Money(4500),
//!     parts: BTreeMap::new(),
//!     labour_rates: BTreeMap::new(),
//!     contracts: BTreeMap::new(),
//!     extensions: BTreeMap::new(),
//!     refund_limits: Default::default(),
//! };
//! write_price_book(&mut book, &prices, Timestamp(0)).unwrap();
//! let mut server_docs = BTreeMap::from([(DocId::PriceBook, HeldDoc { doc: book, access: Access::ReadOnly })]);
//!
//! let actor = ActorId::from([1u8; 16]);
//! let mut device = ClientSession::new(actor.clone());
//! let mut held = BTreeMap::new();
//! let request = device.start(&held);
//!
//! // ... the request travels as bytes ...
//! let request = SyncRequest::decode(&request.encode(), &Limits::default()).unwrap();
//! let caller = Caller { principal: Principal::new(UserId::from_bytes([2; 16]), Role::Technician), device_actors: &[actor], context: &Default::default() };
//! let served = serve(&request, &mut server_docs, &caller, &Limits::default());
//!
//! let report = device.apply(&mut held, &served.response);
//! assert!(report.added.contains(&DocId::PriceBook));
//! assert_eq!(held[&DocId::PriceBook].get_heads(), server_docs[&DocId::PriceBook].doc.get_heads());
//! ```

mod bounds;
mod chunks;
mod client;
mod current;
mod cursor;
mod guard;
mod server;
pub mod wire;

pub use bounds::{Bound, ContentLimits, Footprint, Measure, Scope, measure_changes};
pub use client::{ClientSession, DocSet, SyncReport, decode_response};
pub use current::answer_current;
pub use cursor::{
    Cursor, Delta, HELD_DIGEST_BYTES, MAX_CURSOR_BYTES, Unnamed, digest_of_held_text, held_digest,
    held_text, parse_held_text,
};
/// The byte strings of the framing (`msg`, `cursor`, `held`).
pub use serde_bytes::ByteBuf;
pub use server::{
    ARCHIVED_REFUSAL, Accepted, Access, Caller, HeldDoc, Pace, Served, serve, serve_since,
    serve_within, whole_doc_message,
};
pub use wire::{
    DocMessage, DocReply, KnownDoc, MAX_KNOWN_HEADS, Outcome, PROTOCOL_VERSION, SyncRequest,
    SyncResponse,
};

/// Why sync bytes could not be used. Never a panic: see [`guard`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge { what: &'static str, limit: usize },
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    #[error("document engine error: {0}")]
    Engine(String),
    #[error("the document engine panicked on this input")]
    Panicked,
    /// Received changes would expand past a bound of [`ContentLimits`].
    #[error("{scope} exceeds the server's limit of {limit} {measure}")]
    OverLimit {
        scope: Scope,
        measure: Measure,
        limit: u64,
    },
}

/// Size limits applied before any untrusted byte reaches automerge: what
/// travels (these bytes) and what it expands to ([`ContentLimits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Whole encoded batch.
    pub max_request_bytes: usize,
    /// Documents in one batch.
    pub max_docs: usize,
    /// One document's sync message.
    pub max_message_bytes: usize,
    /// Changes (and heads, and needs) in one message.
    pub max_changes_per_message: usize,
    /// What received changes may expand to (checked by [`serve`]).
    pub content: ContentLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 32 * 1024 * 1024,
            max_docs: 5_000,
            max_message_bytes: 8 * 1024 * 1024,
            max_changes_per_message: 20_000,
            content: ContentLimits::default(),
        }
    }
}

/// Whether `doc` holds the change `hash` (without decoding it).
pub fn has_change(doc: &automerge::Automerge, hash: &automerge::ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

/// The sync state for a first message to a peer known to hold exactly
/// `heads` (the fast path): as if the peer had just said "I have exactly
/// those heads and need nothing else", so `generate_sync_message` puts every
/// change made since them into the message. Without usable heads (empty, or
/// some not in `doc`) it is a fresh state: the standard opening.
///
/// docs/sync-protocol.md spells this state out for other clients.
pub(crate) fn primed_state(
    doc: &automerge::Automerge,
    heads: &[automerge::ChangeHash],
) -> automerge::sync::State {
    use automerge::sync::{Capability, State};
    let usable = !heads.is_empty() && heads.iter().all(|h| has_change(doc, h));
    if !usable {
        return State::new();
    }
    let heads = sorted(heads.to_vec());
    let mut state = State::new();
    state.shared_heads = heads.clone();
    state.their_heads = Some(heads.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(exactly(heads));
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    state
}

/// A `have` that says "I hold exactly these heads and their history": an
/// empty Bloom filter, so the peer sends every change after them. A filter
/// of changes would let about 1% of them test as held and not be sent.
pub(crate) fn exactly(heads: Vec<automerge::ChangeHash>) -> Vec<automerge::sync::Have> {
    vec![automerge::sync::Have {
        last_sync: heads,
        bloom: Default::default(),
    }]
}

pub(crate) fn sorted(mut heads: Vec<automerge::ChangeHash>) -> Vec<automerge::ChangeHash> {
    heads.sort();
    heads.dedup();
    heads
}

/// Two sets of heads are the same whatever their order.
pub(crate) fn same_heads(a: &[automerge::ChangeHash], b: &[automerge::ChangeHash]) -> bool {
    sorted(a.to_vec()) == sorted(b.to_vec())
}

//! Containment: automerge can panic on crafted input, so every call on
//! untrusted bytes runs under size limits and `catch_unwind`, and works on a
//! copy that is thrown away if anything goes wrong.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, AutomergeError};

use super::{Limits, SyncError};

/// Runs `f`, turning an automerge error or a panic into a [`SyncError`].
pub(crate) fn contained<T>(f: impl FnOnce() -> Result<T, AutomergeError>) -> Result<T, SyncError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(SyncError::Engine(e.to_string())),
        Err(_) => Err(SyncError::Panicked),
    }
}

/// Decodes one sync message within the limits.
pub(crate) fn decode_message(bytes: &[u8], limits: &Limits) -> Result<Message, SyncError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(SyncError::TooLarge {
            what: "sync message",
            limit: limits.max_message_bytes,
        });
    }
    let msg = match catch_unwind(|| Message::decode(bytes)) {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(SyncError::Malformed(format!("sync message: {e}"))),
        Err(_) => return Err(SyncError::Panicked),
    };
    if msg.changes.len() > limits.max_changes_per_message
        || msg.heads.len() > limits.max_changes_per_message
        || msg.need.len() > limits.max_changes_per_message
        || msg.have.len() > 16
    {
        return Err(SyncError::TooLarge {
            what: "changes in one message",
            limit: limits.max_changes_per_message,
        });
    }
    for have in &msg.have {
        check_bloom(&have.bloom.to_bytes())?;
    }
    Ok(msg)
}

/// Most probes per hash a Bloom filter may ask for (automerge uses 7).
const MAX_BLOOM_PROBES: u64 = 64;
/// Most bits per entry (automerge uses 10).
const MAX_BLOOM_BITS_PER_ENTRY: u64 = 64;

/// A Bloom filter's parameters are the sender's to choose, and automerge
/// trusts them: probing allocates `probes` entries for every change it
/// checks (up to 2^32), and a filter with entries but no bits divides by
/// zero. Refuse what no honest peer sends.
fn check_bloom(encoded: &[u8]) -> Result<(), SyncError> {
    if encoded.is_empty() {
        return Ok(()); // the empty filter
    }
    let mut input = encoded;
    let mut uleb = || -> Result<u64, SyncError> {
        let mut value = 0u64;
        for i in 0..5 {
            let (&b, rest) = input
                .split_first()
                .ok_or_else(|| SyncError::Malformed("truncated Bloom filter".into()))?;
            input = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SyncError::Malformed(
            "Bloom filter parameter out of range".into(),
        ))
    };
    let entries = uleb()?;
    let bits_per_entry = uleb()?;
    let probes = uleb()?;
    if probes > MAX_BLOOM_PROBES
        || bits_per_entry > MAX_BLOOM_BITS_PER_ENTRY
        || (entries > 0 && (bits_per_entry == 0 || probes == 0 || input.is_empty()))
    {
        return Err(SyncError::Malformed(format!(
            "Bloom filter with {probes} probes and {bits_per_entry} bits per entry"
        )));
    }
    Ok(())
}

/// Receives `msg` into a copy of `doc`; the copy is returned only if all went well.
pub(crate) fn receive_copy(
    doc: &Automerge,
    state: &mut State,
    msg: Message,
) -> Result<Automerge, SyncError> {
    let mut work = doc.clone();
    let mut st = state.clone();
    contained(|| work.receive_sync_message(&mut st, msg))?;
    *state = st;
    Ok(work)
}

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
    Ok(msg)
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

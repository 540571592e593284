//! Bounds on what received changes expand to, checked before automerge
//! applies anything: decompressed bytes, operations and text, per change,
//! per document message and per batch.
//!
//! The byte limits of [`Limits`] bound what travels; these bound what it
//! becomes. Applying costs automerge about 4 µs of CPU and 500 bytes of
//! peak memory per operation (automerge 0.12, measured), so the operation
//! bounds are what keep one batch's work small; the text and decompressed
//! bounds catch the few operations that carry huge values.

use std::fmt;

use automerge::sync::Message;

use super::chunks::{ChunkError, ChunkSize, InflateCaps, next_chunk};
use super::{Limits, SyncError};

/// One bound at each level a batch is checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// One change (a document chunk counts at the message level only).
    pub change: u64,
    /// All changes of one document's sync message.
    pub message: u64,
    /// All changes of one batch (request). Documents past it are not
    /// refused but deferred to a later round (see [`super::serve_within`]).
    pub batch: u64,
}

/// What received changes may expand to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentLimits {
    /// Bytes once DEFLATE-compressed chunks and columns are inflated.
    pub decompressed_bytes: Bound,
    /// Operations (a text splice is one per character).
    pub ops: Bound,
    /// Bytes of text: string values, map keys, mark names, change messages.
    pub text_bytes: Bound,
    /// The longest single string.
    pub string_bytes: u64,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

impl Default for ContentLimits {
    /// Far above what a technician's work produces (a 10,000-character note
    /// is 10,000 operations and at most 40 KB of text), far below what
    /// costs real memory: a batch at every limit costs about 1 s of CPU and
    /// 100 MB at its peak.
    fn default() -> Self {
        Self {
            decompressed_bytes: Bound {
                change: 2 * MIB,
                message: 8 * MIB,
                batch: 32 * MIB,
            },
            ops: Bound {
                change: 25_000,
                message: 100_000,
                batch: 200_000,
            },
            text_bytes: Bound {
                change: 256 * KIB,
                message: MIB,
                batch: 2 * MIB,
            },
            string_bytes: 64 * KIB,
        }
    }
}

/// Where a bound was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Change,
    Message,
    Batch,
    String,
}

/// What broke it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    DecompressedBytes,
    Operations,
    TextBytes,
    Bytes,
    Changes,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Change => "one change",
            Scope::Message => "this document's changes",
            Scope::Batch => "this batch",
            Scope::String => "one text value",
        })
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Measure::DecompressedBytes => "bytes once decompressed",
            Measure::Operations => "operations",
            Measure::TextBytes => "bytes of text",
            Measure::Bytes => "bytes",
            Measure::Changes => "changes",
        })
    }
}

/// What the changes of a message (or a batch) expand to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub changes: u64,
    pub ops: u64,
    pub decompressed_bytes: u64,
    pub text_bytes: u64,
}

impl Footprint {
    pub fn is_empty(&self) -> bool {
        *self == Footprint::default()
    }

    pub fn plus(&self, other: &Footprint) -> Footprint {
        Footprint {
            changes: self.changes.saturating_add(other.changes),
            ops: self.ops.saturating_add(other.ops),
            decompressed_bytes: self
                .decompressed_bytes
                .saturating_add(other.decompressed_bytes),
            text_bytes: self.text_bytes.saturating_add(other.text_bytes),
        }
    }

    /// The first bound of `level` this footprint breaks.
    fn over(&self, limits: &ContentLimits, level: fn(&Bound) -> u64) -> Option<(Measure, u64)> {
        [
            (Measure::Operations, self.ops, level(&limits.ops)),
            (
                Measure::DecompressedBytes,
                self.decompressed_bytes,
                level(&limits.decompressed_bytes),
            ),
            (
                Measure::TextBytes,
                self.text_bytes,
                level(&limits.text_bytes),
            ),
        ]
        .into_iter()
        .find(|(_, found, limit)| found > limit)
        .map(|(measure, _, limit)| (measure, limit))
    }

    /// Whether a batch that has taken `self` can take `next` too.
    pub fn batch_fits(&self, next: &Footprint, limits: &ContentLimits) -> bool {
        self.plus(next).over(limits, |b| b.batch).is_none()
    }
}

fn over(scope: Scope, measure: Measure, limit: u64) -> SyncError {
    SyncError::OverLimit {
        scope,
        measure,
        limit,
    }
}

/// Measures the changes `msg` carries against the change and message
/// bounds, without applying them. The work is proportional to the
/// message's bytes plus what it inflates to, which is itself capped.
pub fn measure_changes(msg: &Message, limits: &Limits) -> Result<Footprint, SyncError> {
    measure_within(msg, limits, u64::MAX).result
}

/// What measuring found, and how many bytes it read or inflated to find it
/// (which a batch counts even when the message is refused).
pub(crate) struct Measured {
    pub result: Result<Footprint, SyncError>,
    pub consumed: u64,
}

/// [`measure_changes`], inflating no more than `batch_room` bytes: past
/// it, the error has [`Scope::Batch`] (the message may fit a later batch).
pub(crate) fn measure_within(msg: &Message, limits: &Limits, batch_room: u64) -> Measured {
    let mut consumed = 0;
    let result = measure(msg, limits, batch_room, &mut consumed);
    Measured { result, consumed }
}

fn measure(
    msg: &Message,
    limits: &Limits,
    batch_room: u64,
    consumed: &mut u64,
) -> Result<Footprint, SyncError> {
    let content = &limits.content;
    let decompressed = &content.decompressed_bytes;
    // automerge parses the message's chunk list as one concatenated stream,
    // so a chunk may span two entries: read it the same way.
    let joined;
    let mut input: &[u8] = if msg.changes.len() == 1 {
        msg.changes.iter().next().unwrap_or_default()
    } else {
        joined = msg.changes.iter().flatten().copied().collect::<Vec<u8>>();
        &joined
    };
    let mut total = Footprint::default();
    while !input.is_empty() {
        let message_room = decompressed
            .message
            .saturating_sub(total.decompressed_bytes);
        let batch_left = batch_room.saturating_sub(total.decompressed_bytes);
        let room = message_room.min(batch_left);
        let caps = InflateCaps {
            change: room.min(decompressed.change),
            document: room,
        };
        let size = match next_chunk(&mut input, caps) {
            Ok(size) => size,
            Err(ChunkError::Malformed(why)) => return Err(SyncError::Malformed(why)),
            Err(ChunkError::InflatesPastCap { document }) => {
                let cap = if document { caps.document } else { caps.change };
                *consumed = total
                    .decompressed_bytes
                    .saturating_add(cap)
                    .saturating_add(1);
                // Name the bound that bit (documents count per message only).
                return Err(if !document && decompressed.change <= room {
                    over(
                        Scope::Change,
                        Measure::DecompressedBytes,
                        decompressed.change,
                    )
                } else if message_room <= batch_left {
                    over(
                        Scope::Message,
                        Measure::DecompressedBytes,
                        decompressed.message,
                    )
                } else {
                    over(Scope::Batch, Measure::DecompressedBytes, decompressed.batch)
                });
            }
        };
        total = total.plus(&footprint_of(&size));
        *consumed = total.decompressed_bytes;
        check_chunk(&size, content)?;
        if let Some((measure, limit)) = total.over(content, |b| b.message) {
            return Err(over(Scope::Message, measure, limit));
        }
        if total.changes > limits.max_changes_per_message as u64 {
            return Err(over(
                Scope::Message,
                Measure::Changes,
                limits.max_changes_per_message as u64,
            ));
        }
        if total.decompressed_bytes > batch_room {
            return Err(over(
                Scope::Batch,
                Measure::DecompressedBytes,
                decompressed.batch,
            ));
        }
    }
    Ok(total)
}

fn footprint_of(size: &ChunkSize) -> Footprint {
    Footprint {
        changes: size.changes,
        ops: size.ops,
        decompressed_bytes: size.decompressed,
        text_bytes: size.text,
    }
}

fn check_chunk(size: &ChunkSize, content: &ContentLimits) -> Result<(), SyncError> {
    if size.longest_string > content.string_bytes {
        return Err(over(Scope::String, Measure::Bytes, content.string_bytes));
    }
    if !size.document
        && let Some((measure, limit)) = footprint_of(size).over(content, |b| b.change)
    {
        return Err(over(Scope::Change, measure, limit));
    }
    Ok(())
}

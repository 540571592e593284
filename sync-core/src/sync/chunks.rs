//! Sizes automerge chunks without applying them.
//!
//! automerge hands received bytes to `load_incremental`, which inflates and
//! materialises everything before anyone can look at it: 1 KB of a
//! compressed change chunk can hold a million-character splice, and a few
//! bytes of run-length encoding can claim a billion operations. This module
//! reads automerge's storage format (the chunk header, the change and
//! document chunk layouts, the column metadata and the run-length encoded
//! columns) just far enough to learn what a chunk would expand to: its
//! decompressed size, operations, changes and text. DEFLATE data is inflated
//! only up to a cap, and nothing is allocated in proportion to what the
//! bytes claim, only to what they are.
//!
//! The counts are upper bounds of what automerge would build: every column's
//! entry count is read, and a chunk's operations are taken as the longest
//! column, whichever automerge would iterate.
//!
//! Format reference: <https://automerge.org/automerge-binary-format-spec/>
//! and automerge 0.12's `storage/` sources.

use std::io::Read;

/// The first four bytes of every chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED_CHANGE: u8 = 2;
const CHUNK_BUNDLE: u8 = 3;
const HASH_BYTES: usize = 32;

/// A column specification's DEFLATE bit.
const COLUMN_DEFLATE: u32 = 0b1000;
/// The id (`spec >> 4`) of a document's successor columns. A document
/// stores a deletion only as its target's successor; rebuilding changes
/// from it turns each successor into an operation again.
const DOCUMENT_SUCCESSORS: u32 = 8;

/// The low three bits of a column specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnType {
    Group,
    Actor,
    Integer,
    DeltaInteger,
    Boolean,
    String,
    ValueMetadata,
    Value,
}

impl ColumnType {
    fn of(spec: u32) -> Self {
        match spec & 0b111 {
            0 => Self::Group,
            1 => Self::Actor,
            2 => Self::Integer,
            3 => Self::DeltaInteger,
            4 => Self::Boolean,
            5 => Self::String,
            6 => Self::ValueMetadata,
            _ => Self::Value,
        }
    }
}

/// The type code of a string in a value metadata entry (`len << 4 | type`).
const VALUE_TYPE_STRING: u64 = 6;

/// Why a chunk could not be sized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The bytes are not a chunk automerge would accept from a peer.
    Malformed(String),
    /// Inflating went past the cap the caller set; nothing more was inflated.
    InflatesPastCap { document: bool },
}

impl ChunkError {
    fn past_cap_of(self, document: bool) -> Self {
        match self {
            ChunkError::InflatesPastCap { .. } => ChunkError::InflatesPastCap { document },
            other => other,
        }
    }
}

fn malformed(what: impl Into<String>) -> ChunkError {
    ChunkError::Malformed(what.into())
}

/// What a chunk expands to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkSize {
    /// Whether this was a document chunk (many changes at once).
    pub document: bool,
    /// Bytes of the chunk once any DEFLATE data is inflated.
    pub decompressed: u64,
    /// Changes in the chunk (1 for a change chunk).
    pub changes: u64,
    /// Upper bound of the operations automerge would build.
    pub ops: u64,
    /// Bytes of text: string values, map keys, mark names, messages, each
    /// counted as often as run-length encoding repeats it.
    pub text: u64,
    /// The longest single string.
    pub longest_string: u64,
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], ChunkError> {
        let n = usize::try_from(n).map_err(|_| malformed("length out of range"))?;
        if n > self.buf.len() {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, ChunkError> {
        Ok(self.take(1)?[0])
    }

    fn uleb(&mut self) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(7 * i).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("LEB128 number too long"))
    }

    fn sleb(&mut self) -> Result<i64, ChunkError> {
        let mut value: i64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            value |= i64::from(b & 0x7f).checked_shl(7 * i).unwrap_or(0);
            if b & 0x80 == 0 {
                let shift = 7 * (i + 1);
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
        Err(malformed("LEB128 number too long"))
    }

    /// A length-prefixed byte string.
    fn bytes(&mut self) -> Result<&'a [u8], ChunkError> {
        let len = self.uleb()?;
        self.take(len)
    }

    /// `count` items of `size` bytes each, after a LEB128 count.
    fn fixed_list(&mut self, size: usize) -> Result<(), ChunkError> {
        let count = self.uleb()?;
        let total = count
            .checked_mul(size as u64)
            .ok_or_else(|| malformed("list length out of range"))?;
        self.take(total).map(|_| ())
    }
}

/// The most DEFLATE data may inflate to: a compressed change as a whole,
/// or a document's compressed columns together.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InflateCaps {
    pub change: u64,
    pub document: u64,
}

/// Sizes the next chunk of `input` and advances past it. Inflating past a
/// cap stops with [`ChunkError::InflatesPastCap`].
pub(crate) fn next_chunk(input: &mut &[u8], caps: InflateCaps) -> Result<ChunkSize, ChunkError> {
    let mut r = Reader::new(input);
    if r.take(4)? != MAGIC {
        return Err(malformed("not an automerge chunk (bad magic bytes)"));
    }
    let _checksum = r.take(4)?;
    let kind = r.byte()?;
    let data = r.bytes()?;
    let header_len = (input.len() - r.buf.len() - data.len()) as u64;
    *input = r.buf;
    let mut size = match kind {
        CHUNK_CHANGE => change_body(data)?,
        CHUNK_COMPRESSED_CHANGE => {
            let body = inflate(data, caps.change).map_err(|e| e.past_cap_of(false))?;
            change_body(&body)?
        }
        CHUNK_DOCUMENT => document_body(data, caps.document).map_err(|e| e.past_cap_of(true))?,
        CHUNK_BUNDLE => {
            return Err(malformed(
                "bundle chunks are not accepted in sync (send changes or a document)",
            ));
        }
        other => return Err(malformed(format!("unknown chunk type {other}"))),
    };
    size.decompressed = size.decompressed.saturating_add(header_len);
    Ok(size)
}

/// Inflates raw DEFLATE `data`, reading at most `cap + 1` bytes of output.
fn inflate(data: &[u8], cap: u64) -> Result<Vec<u8>, ChunkError> {
    let mut out = Vec::new();
    flate2::bufread::DeflateDecoder::new(data)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| malformed("compressed data does not inflate"))?;
    if out.len() as u64 > cap {
        return Err(ChunkError::InflatesPastCap { document: false });
    }
    Ok(out)
}

/// The body of a change chunk (after its header).
fn change_body(body: &[u8]) -> Result<ChunkSize, ChunkError> {
    let mut r = Reader::new(body);
    r.fixed_list(HASH_BYTES)?; // dependencies
    r.bytes()?; // actor
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.sleb()?; // time
    let message = r.bytes()?.len() as u64;
    let other_actors = r.uleb()?;
    for _ in 0..other_actors {
        r.bytes()?;
    }
    let columns = column_metadata(&mut r)?;
    let mut size = ChunkSize {
        changes: 1,
        decompressed: body.len() as u64,
        text: message,
        longest_string: message,
        ..ChunkSize::default()
    };
    for (spec, len) in columns {
        let data = r.take(len)?;
        if spec & COLUMN_DEFLATE != 0 {
            // automerge refuses these too.
            return Err(malformed("a change chunk with compressed columns"));
        }
        let col = column(ColumnType::of(spec), data)?;
        size.ops = size.ops.max(col.entries);
        size.text = size.text.saturating_add(col.text);
        size.longest_string = size.longest_string.max(col.longest_string);
    }
    Ok(size)
}

/// The body of a document chunk: many changes, stored as their resulting
/// operations, with columns that may each be DEFLATE-compressed.
fn document_body(body: &[u8], inflate_cap: u64) -> Result<ChunkSize, ChunkError> {
    let mut r = Reader::new(body);
    let actors = r.uleb()?;
    for _ in 0..actors {
        r.bytes()?;
    }
    r.fixed_list(HASH_BYTES)?; // heads
    let change_columns = column_metadata(&mut r)?;
    let op_columns = column_metadata(&mut r)?;
    let mut size = ChunkSize {
        document: true,
        ..ChunkSize::default()
    };
    let mut successors: u64 = 0;
    // Bytes of the compressed columns as sent, and once inflated.
    let mut deflated: u64 = 0;
    let mut inflated: u64 = 0;
    for (is_op, (spec, len)) in change_columns
        .into_iter()
        .map(|c| (false, c))
        .chain(op_columns.into_iter().map(|c| (true, c)))
    {
        let data = r.take(len)?;
        let col = if spec & COLUMN_DEFLATE != 0 {
            deflated = deflated.saturating_add(len);
            let plain = inflate(data, inflate_cap.saturating_sub(inflated))?;
            inflated = inflated.saturating_add(plain.len() as u64);
            column(ColumnType::of(spec), &plain)?
        } else {
            column(ColumnType::of(spec), data)?
        };
        if is_op && spec >> 4 == DOCUMENT_SUCCESSORS && ColumnType::of(spec) != ColumnType::Group {
            successors = successors.max(col.entries);
        } else if is_op {
            size.ops = size.ops.max(col.entries);
        } else {
            size.changes = size.changes.max(col.entries);
        }
        size.text = size.text.saturating_add(col.text);
        size.longest_string = size.longest_string.max(col.longest_string);
    }
    size.ops = size.ops.saturating_add(successors);
    size.decompressed = (body.len() as u64)
        .saturating_sub(deflated)
        .saturating_add(inflated);
    Ok(size)
}

/// Column specifications and lengths, as they precede the column data.
fn column_metadata(r: &mut Reader<'_>) -> Result<Vec<(u32, u64)>, ChunkError> {
    let count = r.uleb()?;
    let mut columns = Vec::new();
    for _ in 0..count {
        // Each entry takes at least two bytes, so `count` is checked by the input.
        let spec = u32::try_from(r.uleb()?).map_err(|_| malformed("column spec"))?;
        let len = r.uleb()?;
        columns.push((spec, len));
    }
    Ok(columns)
}

#[derive(Default)]
struct ColumnSize {
    entries: u64,
    text: u64,
    longest_string: u64,
}

/// Counts a column's entries (and its strings) by walking its runs, without
/// expanding them: the work is proportional to the column's bytes.
fn column(kind: ColumnType, data: &[u8]) -> Result<ColumnSize, ChunkError> {
    let mut r = Reader::new(data);
    let mut out = ColumnSize::default();
    match kind {
        // Raw bytes, sized by their metadata column.
        ColumnType::Value => {}
        // Alternating run lengths of false and true.
        ColumnType::Boolean => {
            while !r.is_empty() {
                out.entries = out.entries.saturating_add(r.uleb()?);
            }
        }
        _ => {
            while !r.is_empty() {
                let count = r.sleb()?;
                if count > 0 {
                    // A run: one value, repeated.
                    let value = run_value(kind, &mut r)?;
                    add_values(&mut out, kind, count.unsigned_abs(), value);
                } else if count < 0 {
                    // A literal run: that many values, one by one.
                    for _ in 0..count.unsigned_abs() {
                        let value = run_value(kind, &mut r)?;
                        add_values(&mut out, kind, 1, value);
                    }
                } else {
                    // A run of nulls.
                    out.entries = out.entries.saturating_add(r.uleb()?);
                }
            }
        }
    }
    Ok(out)
}

/// Reads one value of a run-length encoded column; returns the length of
/// its text (a string's bytes, a string value's declared length) or 0.
fn run_value(kind: ColumnType, r: &mut Reader<'_>) -> Result<u64, ChunkError> {
    match kind {
        ColumnType::DeltaInteger => r.sleb().map(|_| 0),
        ColumnType::String => r.bytes().map(|s| s.len() as u64),
        ColumnType::ValueMetadata => {
            let meta = r.uleb()?;
            Ok(if meta & 0b1111 == VALUE_TYPE_STRING {
                meta >> 4
            } else {
                0
            })
        }
        _ => r.uleb().map(|_| 0),
    }
}

fn add_values(out: &mut ColumnSize, kind: ColumnType, count: u64, text_len: u64) {
    out.entries = out.entries.saturating_add(count);
    if matches!(kind, ColumnType::String | ColumnType::ValueMetadata) {
        out.text = out.text.saturating_add(count.saturating_mul(text_len));
        out.longest_string = out.longest_string.max(text_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: InflateCaps = InflateCaps {
        change: 1024,
        document: 1024,
    };

    #[test]
    fn run_length_runs_are_counted_without_expanding() {
        // A run of 2^40 copies of the value 7, then 3 literals, then 5 nulls.
        let mut col = Vec::new();
        leb128_signed(&mut col, 1 << 40);
        leb128_unsigned(&mut col, 7);
        leb128_signed(&mut col, -3);
        for v in [1, 2, 3] {
            leb128_unsigned(&mut col, v);
        }
        leb128_signed(&mut col, 0);
        leb128_unsigned(&mut col, 5);
        let size = column(ColumnType::Integer, &col).unwrap();
        assert_eq!(size.entries, (1 << 40) + 3 + 5);
    }

    #[test]
    fn repeated_strings_count_as_text_each_time() {
        let mut col = Vec::new();
        leb128_signed(&mut col, 1000);
        leb128_unsigned(&mut col, 3);
        col.extend(b"key");
        let size = column(ColumnType::String, &col).unwrap();
        assert_eq!(
            (size.entries, size.text, size.longest_string),
            (1000, 3000, 3)
        );
        // Value metadata: 10 strings of 20 bytes each, then 4 integers.
        let mut meta = Vec::new();
        leb128_signed(&mut meta, 10);
        leb128_unsigned(&mut meta, (20 << 4) | VALUE_TYPE_STRING);
        leb128_signed(&mut meta, 4);
        leb128_unsigned(&mut meta, (1 << 4) | 3);
        let size = column(ColumnType::ValueMetadata, &meta).unwrap();
        assert_eq!(
            (size.entries, size.text, size.longest_string),
            (14, 200, 20)
        );
    }

    #[test]
    fn truncated_or_endless_numbers_are_malformed_not_panics() {
        assert!(matches!(
            column(ColumnType::Integer, &[0x7f]),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            column(ColumnType::Integer, &[0xff; 11]),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            next_chunk(
                &mut &[0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff][..],
                CAPS
            ),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            next_chunk(&mut &b"not a chunk"[..], CAPS),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn inflating_stops_at_the_cap() {
        use std::io::Write as _;
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 1 << 20]).unwrap();
        let small = enc.finish().unwrap();
        assert!(small.len() < 4096);
        assert_eq!(
            inflate(&small, 1000),
            Err(ChunkError::InflatesPastCap { document: false })
        );
        assert_eq!(inflate(&small, 1 << 20).unwrap().len(), 1 << 20);
    }

    fn leb128_unsigned(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn leb128_signed(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
}

//! Byte ranges of resumable uploads: the `Content-Range` of a chunk
//! (RFC 9110, `bytes START-END/TOTAL`, END inclusive) and the received
//! ranges as `[start, end_exclusive)` pairs, merged.

/// One chunk's place in the whole: `[start, end)` of `total` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    pub total: u64,
}

impl ChunkRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Parses `bytes START-END/TOTAL`; `None` unless START <= END < TOTAL
/// (no `*` forms: a chunk always knows the whole's size).
pub fn parse_content_range(header: &str) -> Option<ChunkRange> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (start, end_incl, total) = (num(start)?, num(end)?, num(total)?);
    if start > end_incl || end_incl >= total {
        return None;
    }
    Some(ChunkRange {
        start,
        end: end_incl + 1,
        total,
    })
}

/// `ranges` (`[start, end)`, any order, overlapping or not) merged into
/// sorted disjoint ranges; touching ranges join.
pub fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Whether merged `ranges` cover `[0, total)`.
pub fn covers(merged: &[(u64, u64)], total: u64) -> bool {
    matches!(merged, [(0, end)] if *end >= total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_inclusive_ends() {
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Some(ChunkRange {
                start: 0,
                end: 10,
                total: 100
            })
        );
        assert_eq!(
            parse_content_range("bytes 90-99/100").map(|r| r.len()),
            Some(10)
        );
        for bad in [
            "bytes 10-9/100",
            "bytes 0-100/100",
            "bytes */100",
            "bytes 0-9/*",
            "0-9/100",
            "bytes -1-9/100",
            "bytes 0-9/",
            "bytes +0-9/100",
            "",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_merge_and_cover() {
        let m = merge(vec![(10, 20), (0, 10), (15, 30), (40, 50)]);
        assert_eq!(m, vec![(0, 30), (40, 50)]);
        assert!(!covers(&m, 50));
        assert!(covers(&merge(vec![(0, 30), (30, 50)]), 50));
        assert!(!covers(&[], 1));
    }
}

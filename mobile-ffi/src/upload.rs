//! The upload protocol's data (issue 14's contract): the server's status
//! of one blob, and which chunks are still to send. Sans-IO; the client's
//! `upload_attachments` drives it over [`crate::http`].

use serde::Deserialize;

/// The device sends chunks of this size (the server takes up to 4 MiB).
pub const CHUNK: u64 = 256 * 1024;

/// `GET|PUT /v1/jobs/{job}/attachments/{sha256}/upload` answers this.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct UploadStatus {
    #[serde(default)]
    pub received: Vec<[u64; 2]>,
    #[serde(default)]
    pub complete: bool,
}

impl UploadStatus {
    /// Bytes the server holds, counting overlapping ranges once.
    pub fn bytes_received(&self, total: u64) -> u64 {
        total
            - missing(&self.received, total)
                .iter()
                .map(|(s, e)| e - s)
                .sum::<u64>()
    }
}

/// The byte ranges `[start, end)` of a `total`-byte blob not covered by
/// `received` (ranges in any order, possibly overlapping or out of bounds).
pub(crate) fn missing(received: &[[u64; 2]], total: u64) -> Vec<(u64, u64)> {
    let mut have: Vec<(u64, u64)> = received
        .iter()
        .map(|[s, e]| ((*s).min(total), (*e).min(total)))
        .filter(|(s, e)| s < e)
        .collect();
    have.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for (s, e) in have {
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
    }
    if at < total {
        out.push((at, total));
    }
    out
}

/// The chunks still to send: the missing ranges cut into [`CHUNK`]s.
pub(crate) fn chunks(received: &[[u64; 2]], total: u64) -> Vec<(u64, u64)> {
    missing(received, total)
        .into_iter()
        .flat_map(|(s, e)| {
            (s..e)
                .step_by(usize::try_from(CHUNK).unwrap_or(usize::MAX))
                .map(move |c| (c, (c + CHUNK).min(e)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ranges_are_the_gaps_between_what_the_server_has() {
        assert_eq!(missing(&[], 10), vec![(0, 10)]);
        assert_eq!(missing(&[[0, 10]], 10), vec![]);
        assert_eq!(
            missing(&[[6, 8], [0, 3], [2, 4]], 10),
            vec![(4, 6), (8, 10)]
        );
        // Out-of-bounds and empty ranges change nothing.
        assert_eq!(missing(&[[5, 5], [9, 99]], 10), vec![(0, 9)]);
        let status = UploadStatus {
            received: vec![[0, 4], [2, 6]],
            complete: false,
        };
        assert_eq!(status.bytes_received(10), 6);
    }

    #[test]
    fn chunks_resume_where_the_server_stopped() {
        let total = 3 * CHUNK + 10;
        let all = chunks(&[], total);
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], (3 * CHUNK, total));
        // A cut after 1.5 chunks: the next one starts at the first missing byte.
        let resumed = chunks(&[[0, CHUNK + CHUNK / 2]], total);
        assert_eq!(resumed[0], (CHUNK + CHUNK / 2, 2 * CHUNK + CHUNK / 2));
        assert_eq!(resumed.last().unwrap().1, total);
        assert!(resumed.iter().all(|(s, e)| e - s <= CHUNK));
        assert!(chunks(&[[0, total]], total).is_empty());
    }
}

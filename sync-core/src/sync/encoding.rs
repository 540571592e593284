//! Whole-body compression of a sync request or response, negotiated with
//! HTTP's `Content-Encoding` / `Accept-Encoding` (docs/sync-protocol.md,
//! "Compressed bodies").
//!
//! automerge sends each change of a sync message as its own chunk and
//! compresses none of the small ones, so a routine batch repeats the same
//! actor ids, hashes, column layouts and CBOR keys change after change; one
//! DEFLATE stream over the whole body removes that repetition.
//!
//! Received bodies are inflated in steps, each admitted before it is kept,
//! and never past a limit: a limit on compressed bytes is no limit on work,
//! so the inflated size is what [`super::Limits::max_request_bytes`] bounds.

use std::io::Read;

use flate2::Compression;

/// A compression of a whole body, named as HTTP names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEncoding {
    /// HTTP `deflate`: a zlib stream (RFC 1950) around DEFLATE (RFC 1951).
    Deflate,
    /// HTTP `gzip` (RFC 1952): what platform HTTP stacks decode unasked.
    Gzip,
}

/// Why a compressed body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The `Content-Encoding` is neither of ours (nor `identity`).
    #[error("Content-Encoding {0:?} is not supported: send deflate, gzip or identity")]
    Unsupported(String),
    /// The body inflates past the limit; inflating stopped there.
    #[error("the body inflates past the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// Not a valid stream of its encoding (or bytes after its end).
    #[error("the body is not valid {0} data")]
    Corrupt(&'static str),
    /// The caller's `admit` refused the next step (e.g. a memory budget).
    #[error("no room to inflate the body now")]
    Refused,
}

/// Output is kept (and admitted) this many bytes at a time.
const STEP: usize = 64 * 1024;

impl BodyEncoding {
    /// The token in `Content-Encoding` / `Accept-Encoding`.
    pub const fn name(self) -> &'static str {
        match self {
            BodyEncoding::Deflate => "deflate",
            BodyEncoding::Gzip => "gzip",
        }
    }

    /// Reads a `Content-Encoding` header: `None` for a plain body (no
    /// header, or `identity`).
    pub fn from_content_encoding(value: Option<&str>) -> Result<Option<Self>, InflateError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "identity" => Ok(None),
            "deflate" => Ok(Some(BodyEncoding::Deflate)),
            "gzip" | "x-gzip" => Ok(Some(BodyEncoding::Gzip)),
            _ => Err(InflateError::Unsupported(value.chars().take(40).collect())),
        }
    }

    /// The encoding to answer with, given the request's `Accept-Encoding`:
    /// the one of ours with the highest q-value above zero (`deflate` on a
    /// tie: 12 bytes less framing than `gzip`), `*` standing for any not
    /// named. `None` (no header, or neither accepted): answer plainly.
    pub fn negotiate(accept_encoding: Option<&str>) -> Option<Self> {
        let mut deflate = None;
        let mut gzip = None;
        let mut any = None;
        for item in accept_encoding?.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match token.as_str() {
                "deflate" => deflate = Some(q),
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => any = Some(q),
                _ => {}
            }
        }
        let deflate = deflate.or(any).unwrap_or(0.0);
        let gzip = gzip.or(any).unwrap_or(0.0);
        if deflate <= 0.0 && gzip <= 0.0 {
            None
        } else if deflate >= gzip {
            Some(BodyEncoding::Deflate)
        } else {
            Some(BodyEncoding::Gzip)
        }
    }

    /// `bytes` compressed (DEFLATE's default level: these bodies are a few
    /// kilobytes, and the higher levels save almost nothing on them).
    pub fn compress(self, bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let out = Vec::with_capacity(bytes.len() / 2 + 64);
        // Writing into a Vec cannot fail.
        match self {
            BodyEncoding::Deflate => {
                let mut z = flate2::write::ZlibEncoder::new(out, Compression::default());
                z.write_all(bytes).expect("compressing into memory");
                z.finish().expect("compressing into memory")
            }
            BodyEncoding::Gzip => {
                let mut z = flate2::write::GzEncoder::new(out, Compression::default());
                z.write_all(bytes).expect("compressing into memory");
                z.finish().expect("compressing into memory")
            }
        }
    }

    /// Inflates `bytes`, never keeping more than `limit` bytes of output:
    /// past it, [`InflateError::TooLarge`]. Before each step of output is
    /// kept, `admit(step bytes)` must say yes, else [`InflateError::Refused`]
    /// (the server reserves memory there). The work is proportional to the
    /// input plus at most `limit`.
    pub fn inflate(
        self,
        bytes: &[u8],
        limit: usize,
        admit: impl FnMut(usize) -> bool,
    ) -> Result<Vec<u8>, InflateError> {
        match self {
            BodyEncoding::Deflate => {
                let mut z = flate2::bufread::ZlibDecoder::new(bytes);
                let out = read_bounded(&mut z, limit, admit, self)?;
                ends_here(z.into_inner(), self)?;
                Ok(out)
            }
            BodyEncoding::Gzip => {
                let mut z = flate2::bufread::GzDecoder::new(bytes);
                let out = read_bounded(&mut z, limit, admit, self)?;
                ends_here(z.into_inner(), self)?;
                Ok(out)
            }
        }
    }
}

fn read_bounded(
    from: &mut impl Read,
    limit: usize,
    mut admit: impl FnMut(usize) -> bool,
    encoding: BodyEncoding,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut step = vec![0u8; STEP];
    loop {
        let n = read_step(from, &mut step).map_err(|_| InflateError::Corrupt(encoding.name()))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(InflateError::TooLarge { limit });
        }
        if !admit(n) {
            return Err(InflateError::Refused);
        }
        out.extend_from_slice(&step[..n]);
    }
}

/// Fills `buf` as far as the stream goes (`read` may return less).
fn read_step(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match from.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// A stream ends where its body ends: trailing bytes mean a body that is
/// not what the client meant to send.
fn ends_here(rest: &[u8], encoding: BodyEncoding) -> Result<(), InflateError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(InflateError::Corrupt(encoding.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [BodyEncoding; 2] = [BodyEncoding::Deflate, BodyEncoding::Gzip];

    fn always(_: usize) -> bool {
        true
    }

    #[test]
    fn a_body_survives_the_round_trip_and_repetition_shrinks() {
        // Like a batch: the same 16-byte actor and 32-byte hash over and over.
        let body: Vec<u8> = (0..200u8)
            .flat_map(|i| [[7u8; 16].as_slice(), &[9u8; 32], &[i]].concat())
            .collect();
        for e in BOTH {
            let z = e.compress(&body);
            assert!(
                z.len() * 5 < body.len(),
                "{e:?}: {} of {}",
                z.len(),
                body.len()
            );
            assert_eq!(e.inflate(&z, body.len(), always).unwrap(), body);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_having_kept_no_more() {
        // 64 MiB of zeros compress to about 64 KiB.
        let zeros = vec![0u8; 64 << 20];
        for e in BOTH {
            let bomb = e.compress(&zeros);
            assert!(bomb.len() < 128 << 10, "{}", bomb.len());
            let mut admitted = 0;
            let err = e
                .inflate(&bomb, 1 << 20, |n| {
                    admitted += n;
                    true
                })
                .unwrap_err();
            assert_eq!(err, InflateError::TooLarge { limit: 1 << 20 });
            assert!(admitted <= 1 << 20, "{admitted}");
        }
    }

    #[test]
    fn the_limit_is_inclusive() {
        let body = vec![5u8; 100_000];
        for e in BOTH {
            let z = e.compress(&body);
            assert_eq!(e.inflate(&z, 100_000, always).unwrap().len(), 100_000);
            assert!(matches!(
                e.inflate(&z, 99_999, always),
                Err(InflateError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn a_refused_step_stops_inflating() {
        let body = vec![1u8; 300_000];
        for e in BOTH {
            let z = e.compress(&body);
            let mut steps = 0;
            let err = e
                .inflate(&z, usize::MAX, |_| {
                    steps += 1;
                    steps < 3
                })
                .unwrap_err();
            assert_eq!(err, InflateError::Refused);
            assert_eq!(steps, 3);
        }
    }

    #[test]
    fn corrupt_truncated_or_trailing_data_is_refused() {
        let body = b"a sync request, more or less".repeat(20);
        for e in BOTH {
            let z = e.compress(&body);
            let mut flipped = z.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0xff;
            let truncated = &z[..z.len() - 3];
            let trailing = [z.as_slice(), b"junk"].concat();
            for bad in [&flipped[..], truncated, &trailing, b"\x00\x01\x02", b""] {
                assert_eq!(
                    e.inflate(bad, 1 << 20, always),
                    Err(InflateError::Corrupt(e.name())),
                    "{e:?} {bad:?}"
                );
            }
        }
    }

    #[test]
    fn content_encoding_is_read_as_http_names_it() {
        let read = BodyEncoding::from_content_encoding;
        assert_eq!(read(None), Ok(None));
        assert_eq!(read(Some("identity")), Ok(None));
        assert_eq!(read(Some(" Deflate ")), Ok(Some(BodyEncoding::Deflate)));
        assert_eq!(read(Some("gzip")), Ok(Some(BodyEncoding::Gzip)));
        assert_eq!(
            read(Some("br")),
            Err(InflateError::Unsupported("br".into()))
        );
        assert!(read(Some("gzip, deflate")).is_err(), "one coding only");
    }

    #[test]
    fn accept_encoding_is_negotiated_by_q_value() {
        let pick = BodyEncoding::negotiate;
        assert_eq!(pick(None), None);
        assert_eq!(pick(Some("")), None);
        assert_eq!(pick(Some("br, identity")), None);
        assert_eq!(pick(Some("deflate")), Some(BodyEncoding::Deflate));
        assert_eq!(pick(Some("gzip, deflate, br")), Some(BodyEncoding::Deflate));
        assert_eq!(pick(Some("gzip")), Some(BodyEncoding::Gzip));
        assert_eq!(
            pick(Some("deflate;q=0.5, gzip;q=0.8")),
            Some(BodyEncoding::Gzip)
        );
        assert_eq!(pick(Some("deflate;q=0, gzip;q=0")), None);
        assert_eq!(pick(Some("gzip;q=0, *")), Some(BodyEncoding::Deflate));
        assert_eq!(pick(Some("*;q=0")), None);
    }
}

//! Photos for the attachment run (`--photos-per-visit`): JPEGs of an exact
//! size, each with its own bytes (so its own SHA-256), uploaded through the
//! device's HTTP contract (docs/attachments.md: ask what the server holds,
//! then `PUT` the missing ranges in 256 KiB chunks), and the same bytes
//! sent by a plain `curl` in one request for comparison.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fieldsync_core::JobId;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// What the device sends per `PUT` (mobile-ffi's chunk size).
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Photo uploads compared one at a time against `curl`, each way.
pub const COMPARE_UPLOADS: usize = 4;

/// A JPEG to pad to any size above its own: the encoded image without its
/// start-of-image marker, which [`PhotoMaker::make`] writes before the
/// padding.
pub struct PhotoMaker {
    body: Vec<u8>,
    bytes: usize,
    /// The picture's size in pixels (what the server decodes).
    pub width: u32,
    pub height: u32,
}

/// Bytes of the comment segments: marker, length, and the photo's id.
const ID_BYTES: usize = 8;
const COM_MAX_DATA: usize = 65_533;

impl PhotoMaker {
    /// A noisy image (like a phone photo, it compresses badly), encoded at
    /// quality 85 and shrunk until it fits in `bytes`; the rest is padding
    /// in JPEG comment segments, so decoding costs what the image costs.
    pub fn new(bytes: usize) -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(0x9407);
        // About a byte per pixel at this noise and quality: start there (4:3).
        let side = ((bytes as f64) * 4.0 / 3.0).sqrt();
        let (mut w, mut h) = ((side as u32).max(8), ((side * 0.75) as u32).max(8));
        for _ in 0..8 {
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let base = ((x * 255 / w) as u8, (y * 255 / h) as u8, 128u8);
                let n: i16 = rng.random_range(-40..=40);
                let c = |v: u8| (i16::from(v) + n).clamp(0, 255) as u8;
                image::Rgb([c(base.0), c(base.1), c(base.2)])
            });
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
                .encode_image(&img)
                .context("encode the bench photo")?;
            // Room for at least one comment segment with the id.
            if jpeg.len() + 4 + ID_BYTES <= bytes {
                return Ok(Self {
                    body: jpeg[2..].to_vec(),
                    bytes,
                    width: w,
                    height: h,
                });
            }
            let scale = ((bytes as f64 * 0.8) / jpeg.len() as f64).sqrt().min(0.9);
            w = ((f64::from(w) * scale) as u32).max(8);
            h = ((f64::from(h) * scale) as u32).max(8);
        }
        bail!("cannot make a JPEG of {bytes} bytes: try a larger --photo-bytes")
    }

    /// Photo `id`: exactly `bytes` long, its own bytes (the id is in the
    /// first comment segment), a valid JPEG.
    pub fn make(&self, id: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes);
        out.extend_from_slice(&[0xFF, 0xD8]);
        let mut pad = self.bytes - 2 - self.body.len();
        let mut first = true;
        while pad > 0 {
            // Each segment 4 bytes of marker and length, then its data; the
            // last takes what is left (and never fewer than 4 bytes).
            let mut data = (pad - 4).min(COM_MAX_DATA);
            if pad - 4 - data > 0 && pad - 4 - data < 4 + ID_BYTES {
                data -= 4 + ID_BYTES;
            }
            out.extend_from_slice(&[0xFF, 0xFE]);
            out.extend_from_slice(&((data + 2) as u16).to_be_bytes());
            let start = out.len();
            if first {
                out.extend_from_slice(&id.to_be_bytes()[..ID_BYTES.min(data)]);
                first = false;
            }
            out.resize(start + data, b' ');
            pad -= 4 + data;
        }
        out.extend_from_slice(&self.body);
        debug_assert_eq!(out.len(), self.bytes);
        out
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A photo a device attached and has not uploaded yet.
#[derive(Clone, Debug)]
pub struct Photo {
    pub job: JobId,
    pub id: u64,
    pub sha256: String,
}

/// One upload as the device saw it.
#[derive(Clone, Debug)]
pub struct UploadRecord {
    pub bytes: usize,
    pub started: Instant,
    pub elapsed: Duration,
    /// HTTP requests it took (the status query and the chunks).
    pub requests: usize,
    /// Answers 503 `overloaded` (the server busy finishing other uploads)
    /// after which it waited `Retry-After` and asked for the status again.
    pub busy: usize,
}

/// Longest wait for a 503's `Retry-After` (as the device caps it).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// `Retry-After` of a 503, in seconds (1 s when absent or odd).
fn retry_after(res: &reqwest::Response) -> Duration {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .min(MAX_RETRY_AFTER)
}

/// The upload's status, asked again after each 503 once the wait the
/// server names has passed; counts the requests and the 503s.
async fn status_when_free(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    requests: &mut usize,
    busy: &mut usize,
) -> anyhow::Result<Status> {
    loop {
        *requests += 1;
        match upload_status(client, url, token).await? {
            Ok(status) => return Ok(status),
            Err(wait) => {
                *busy += 1;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The upload's status (`GET .../upload`); on 503 the wait it asks for.
async fn upload_status(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<Result<Status, Duration>> {
    let res = client.get(url).bearer_auth(token).send().await?;
    let code = res.status();
    if code == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Ok(Err(retry_after(&res)));
    }
    let text = res.text().await?;
    if code != 200 {
        bail!("upload status of {url}: {code}: {text}");
    }
    Ok(Ok(serde_json::from_str(&text)?))
}

#[derive(Deserialize)]
struct Status {
    received: Vec<[u64; 2]>,
    complete: bool,
}

/// Uploads `bytes` (the photo `photo` names) the way the device does: ask
/// what the server holds, `PUT` what is missing in 256 KiB chunks; the
/// last answer must say `complete`. A 503 (the last chunk staged while
/// the server is busy finishing others, docs/attachments.md) is waited
/// out for its `Retry-After`, then the status query finishes it.
pub async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    photo: &Photo,
    bytes: &[u8],
) -> anyhow::Result<UploadRecord> {
    let url = format!(
        "{base}/v1/jobs/{}/attachments/{}/upload",
        photo.job, photo.sha256
    );
    let started = Instant::now();
    let mut requests = 0;
    let mut busy = 0;
    let mut status = status_when_free(client, &url, token, &mut requests, &mut busy).await?;
    let total = bytes.len() as u64;
    let mut at = 0u64;
    while !status.complete {
        // The first byte the server lacks from `at` on.
        for r in &status.received {
            if r[0] <= at && at < r[1] {
                at = r[1];
            }
        }
        if at >= total {
            bail!("{}: every byte sent, not complete", photo.sha256);
        }
        let end = (at + CHUNK_BYTES as u64).min(total);
        let res = client
            .put(&url)
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("bytes {at}-{}/{total}", end - 1))
            .body(bytes[at as usize..end as usize].to_vec())
            .send()
            .await?;
        requests += 1;
        let code = res.status();
        if code == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
            tokio::time::sleep(retry_after(&res)).await;
            status = status_when_free(client, &url, token, &mut requests, &mut busy).await?;
            at = 0;
            continue;
        }
        let text = res.text().await?;
        if code != 200 {
            bail!("upload of {} at {at}: {code}: {text}", photo.sha256);
        }
        status = serde_json::from_str(&text)?;
        at = end;
    }
    Ok(UploadRecord {
        bytes: bytes.len(),
        started,
        elapsed: started.elapsed(),
        requests,
        busy,
    })
}

/// The same bytes by `curl` in one `PUT` to the same route (one chunk
/// covering the whole file): its own `time_total`.
pub fn curl_upload(
    dir: &Path,
    base: &str,
    token: &str,
    photo: &Photo,
    bytes: &[u8],
) -> anyhow::Result<Duration> {
    let file = dir.join(format!("{}.jpg", photo.sha256));
    std::fs::write(&file, bytes)?;
    // The token in a header file, not on the command line.
    let headers = dir.join("curl-headers");
    let mut h = std::fs::File::create(&headers)?;
    writeln!(h, "Authorization: Bearer {token}")?;
    writeln!(
        h,
        "Content-Range: bytes 0-{}/{}",
        bytes.len() - 1,
        bytes.len()
    )?;
    writeln!(h, "Content-Type: application/octet-stream")?;
    // No `Expect: 100-continue` round trip: the device sends none either.
    writeln!(h, "Expect:")?;
    drop(h);
    let url = format!(
        "{base}/v1/jobs/{}/attachments/{}/upload",
        photo.job, photo.sha256
    );
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code} %{time_total}", "-T"])
        .arg(&file)
        .arg("-H")
        .arg(format!("@{}", headers.display()))
        .arg(&url)
        .output()
        .context("run curl (is it installed?)")?;
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&headers);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, tail) = stdout.rsplit_once('\n').context("curl printed nothing")?;
    let (code, secs) = tail.split_once(' ').context("odd curl output")?;
    if !out.status.success() || code != "200" || !body.contains("\"complete\":true") {
        bail!(
            "curl upload: {code}: {body} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(Duration::from_secs_f64(secs.trim().parse()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_have_the_exact_size_differ_and_are_jpegs() {
        for size in [40_000, 65_541, 200_000, 300_017] {
            let maker = PhotoMaker::new(size).unwrap();
            let (a, b) = (maker.make(1), maker.make(2));
            assert_eq!((a.len(), b.len()), (size, size));
            assert_ne!(sha256_hex(&a), sha256_hex(&b));
            let img = image::load_from_memory_with_format(&a, image::ImageFormat::Jpeg).unwrap();
            assert!(img.width() >= 8);
        }
    }
}

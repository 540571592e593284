//! A simulated technician's phone: its documents, a sync-core
//! `ClientSession`, and the day's work as job actions made offline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::job::{AttachmentKind, PaymentMethod, read_job};
use fieldsync_core::sync::{BodyEncoding, ClientSession, DocSet, SyncRequest, decode_response};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, LocationId, Money, Principal, Quantity, Role,
    Timestamp, UserId,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Rounds after which a sync is called stuck (never "until it works").
pub const MAX_ROUNDS: usize = 10;
/// How long one sync keeps waiting out `503 overloaded` / `409
/// sync_in_progress` answers (each by its `Retry-After`) before the run is
/// called failed. A bound in time, not in refusals: a server whose queue is
/// 30x its in-flight limit turns an unlucky device away dozens of times
/// (60 refusals ended a 1,000-technician run on a loaded machine).
pub const MAX_REFUSED_FOR: Duration = Duration::from_secs(15 * 60);

/// Parts of the bench price book: (sku, serialized).
pub const PARTS: &[(&str, bool)] = &[
    ("VALVE-22", false),
    ("VALVE-15", false),
    ("SEAL-KIT", false),
    ("FUSE-5A", false),
    ("GASKET-40", false),
    ("THERMO-3", false),
    ("PIPE-1M", false),
    ("PUMP-7", true),
    ("BOARD-X2", true),
];

pub struct Device {
    pub index: usize,
    pub who: Principal,
    pub actor: ActorId,
    pub token: String,
    pub docs: DocSet,
    pub session: ClientSession,
    pub jobs: Vec<JobId>,
    rng: StdRng,
    van: LocationId,
    /// The request built offline, ready to send when the device reconnects.
    pending: Option<Prepared>,
    /// How its sync bodies travel (`Content-Encoding` up, `Accept-Encoding`
    /// down), as the mobile client sends them; `None`: plain CBOR.
    pub body_encoding: Option<BodyEncoding>,
}

/// One sync's request, built before the timed part, and what it carries.
struct Prepared {
    request: SyncRequest,
    changes_up: usize,
    raw_up: usize,
    heads_before: BTreeMap<DocId, Vec<ChangeHash>>,
}

/// What one sync did, as the device saw it.
#[derive(Clone, Debug)]
pub struct SyncRecord {
    pub device: usize,
    pub round_trips: usize,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub latency: Duration,
    /// When the sync's first request was sent.
    pub started: Instant,
    /// Changes the device sent (new since the server's acknowledged heads).
    pub changes_up: usize,
    /// Changes the device received (the office's edits).
    pub changes_down: usize,
    /// `Change::raw_bytes()` of both.
    pub raw_bytes: usize,
    pub rejected: usize,
    /// Requests the server refused before looking at them (`503
    /// overloaded`, `409 sync_in_progress`) and the device sent again after
    /// their `Retry-After`; the waits are part of `latency`.
    pub refused: usize,
    /// Encoded requests in order, for the in-process replay.
    pub requests: Vec<Vec<u8>>,
    /// Changes received, per document, for the in-process replay.
    pub received: Vec<(DocId, Vec<fieldsync_core::automerge::Change>)>,
    /// Where the bytes went, before compression: (what, bytes) per part
    /// of each request and response (see [`breakdown`]).
    pub parts: BTreeMap<String, usize>,
}

/// Splits a sync body's plain CBOR bytes into its framing and its sync
/// messages, by direction, document kind and automerge message version
/// (V2 with a whole document, V1 with change chunks).
fn breakdown<'a>(
    parts: &mut BTreeMap<String, usize>,
    way: &str,
    body: usize,
    msgs: impl Iterator<Item = (DocId, &'a [u8])>,
) {
    let mut in_msgs = 0;
    for (id, msg) in msgs {
        let id = id.to_string();
        let kind = id.split('/').next().unwrap_or("?");
        let version = match msg.first() {
            Some(0x42) => "V1 (change chunks)",
            Some(0x43) => "V2 (whole document)",
            _ => "?",
        };
        *parts.entry(format!("{way} {kind} {version}")).or_default() += msg.len();
        in_msgs += msg.len();
    }
    *parts.entry(format!("{way} CBOR framing")).or_default() += body - in_msgs;
}

impl Device {
    pub fn new(
        index: usize,
        user: UserId,
        token: String,
        actor: [u8; 16],
        seed: u64,
        van: LocationId,
    ) -> Self {
        let actor = ActorId::from(actor);
        // The change cursor (issue 19 item 1): routine syncs name only what
        // changed, idle ones nothing.
        let mut session = ClientSession::new(actor.clone());
        session.use_cursor(true);
        Self {
            index,
            who: Principal::new(user, Role::Technician),
            actor: actor.clone(),
            token,
            docs: DocSet::new(),
            session,
            jobs: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            van,
            pending: None,
            body_encoding: Some(BodyEncoding::Deflate),
        }
    }

    /// Builds the next request from what changed offline (untimed work).
    pub fn prepare(&mut self) {
        let mut changes_up = 0;
        let mut raw_up = 0;
        let mut heads_before = BTreeMap::new();
        for (id, doc) in &self.docs {
            let acked = self.session.acked(id).to_vec();
            for c in doc.get_changes(&acked) {
                changes_up += 1;
                raw_up += c.raw_bytes().len();
            }
            heads_before.insert(*id, doc.get_heads());
        }
        let request = self.session.start(&self.docs);
        self.pending = Some(Prepared {
            request,
            changes_up,
            raw_up,
            heads_before,
        });
    }

    /// Sends the prepared request (and any follow-up rounds) and applies the
    /// answers: the timed part of a sync.
    pub async fn sync(
        &mut self,
        client: &reqwest::Client,
        url: &str,
    ) -> anyhow::Result<SyncRecord> {
        let prepared = self.pending.take().context("no prepared request")?;
        let started = Instant::now();
        let mut record = SyncRecord {
            device: self.index,
            round_trips: 0,
            request_bytes: 0,
            response_bytes: 0,
            latency: Duration::ZERO,
            started,
            changes_up: prepared.changes_up,
            changes_down: 0,
            raw_bytes: prepared.raw_up,
            rejected: 0,
            refused: 0,
            requests: Vec::new(),
            received: Vec::new(),
            parts: BTreeMap::new(),
        };
        let mut request = Some(prepared.request);
        while let Some(r) = request.take() {
            if record.round_trips >= MAX_ROUNDS {
                bail!(
                    "device {} did not settle in {MAX_ROUNDS} rounds",
                    self.index
                );
            }
            record.round_trips += 1;
            let body = r.encode();
            // Counted as they travel: compressed when they are.
            let wire = match self.body_encoding {
                Some(e) => e.compress(&body),
                None => body.clone(),
            };
            record.request_bytes += wire.len();
            let bytes = loop {
                let mut req = client
                    .post(url)
                    .bearer_auth(&self.token)
                    .header("content-type", "application/cbor");
                if let Some(e) = self.body_encoding {
                    req = req
                        .header("content-encoding", e.name())
                        .header("accept-encoding", e.name());
                }
                let res = req.body(wire.clone()).send().await?;
                let status = res.status();
                let wait = retry_after(&res);
                let encoding = res
                    .headers()
                    .get(reqwest::header::CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap_or("?").to_owned());
                let bytes = res.bytes().await?;
                match (status.as_u16(), wait) {
                    (200, _) => break (bytes, encoding),
                    // The protocol's back-off: nothing of the batch was
                    // looked at; send the same request after the wait.
                    (503 | 409, Some(wait)) if started.elapsed() < MAX_REFUSED_FOR => {
                        record.refused += 1;
                        tokio::time::sleep(wait + jitter(self.index, record.refused, wait)).await;
                    }
                    _ => bail!("sync: {status}: {}", String::from_utf8_lossy(&bytes)),
                }
            };
            let (bytes, encoding) = bytes;
            record.response_bytes += bytes.len();
            let body_len = body.len();
            record.requests.push(body);
            let plain = match BodyEncoding::from_content_encoding(encoding.as_deref())? {
                Some(e) => e.inflate(&bytes, usize::MAX, |_| true)?,
                None => bytes.to_vec(),
            };
            let response = decode_response(&plain)?;
            breakdown(
                &mut record.parts,
                "up",
                body_len,
                r.docs.iter().map(|d| (d.id, d.msg.as_slice())),
            );
            breakdown(
                &mut record.parts,
                "down",
                plain.len(),
                response
                    .docs
                    .iter()
                    .filter_map(|d| Some((d.id, d.msg.as_ref()?.as_slice()))),
            );
            let report = self.session.apply(&mut self.docs, &response);
            record.rejected += report.rejected.len();
            request = self.session.next_round(&self.docs);
        }
        record.latency = started.elapsed();
        // What arrived from the server (untimed bookkeeping).
        for (id, doc) in &self.docs {
            let before = prepared.heads_before.get(id).map_or(&[][..], Vec::as_slice);
            let got = doc.get_changes(before);
            if got.is_empty() {
                continue;
            }
            record.changes_down += got.len();
            record.raw_bytes += got.iter().map(|c| c.raw_bytes().len()).sum::<usize>();
            record.received.push((*id, got));
        }
        Ok(record)
    }

    /// Learns its jobs (ordered by window) after the first sync.
    pub fn learn_jobs(&mut self) -> anyhow::Result<()> {
        let mut jobs = Vec::new();
        for (id, doc) in &self.docs {
            if let DocId::Job(j) = id {
                let job = read_job(doc, None).context("job reads")?;
                jobs.push((job.window.start, *j));
            }
        }
        jobs.sort();
        self.jobs = jobs.into_iter().map(|(_, j)| j).collect();
        Ok(())
    }

    /// One action made offline, at device time `now`.
    fn act(&mut self, id: JobId, action: &JobAction, now: Timestamp) -> anyhow::Result<()> {
        let doc = self
            .docs
            .remove(&DocId::Job(id))
            .context("device holds the job")?;
        let mut job = JobDoc::from_trusted(doc.with_actor(self.actor.clone()));
        let result = job.apply(action, self.who, now);
        self.docs.insert(DocId::Job(id), job.into_doc());
        result.with_context(|| format!("{} refused", action.name()))?;
        Ok(())
    }

    pub fn start_travel(&mut self, job: JobId, now: Timestamp) -> anyhow::Result<()> {
        self.act(job, &JobAction::StartTravel, now)
    }

    /// A whole visit made offline: arrive (travel already started), 5-15
    /// part lines, labour, checklist, notes, payment, signature, complete;
    /// 20-40 changes in all, and one more per photo in `photos` (SHA-256
    /// and size: references to files the device holds, attached before the
    /// payment). Returns how many changes it made.
    pub fn work_job(
        &mut self,
        job: JobId,
        start: Timestamp,
        photos: &[(String, u64)],
    ) -> anyhow::Result<usize> {
        let target = self.rng.random_range(20..=40usize);
        let parts = self.rng.random_range(5..=15usize);
        let labour = self.rng.random_range(1..=3usize);
        let adjust = self.rng.random_range(0..=2usize).min(parts);
        let checklist: Vec<LineId> = {
            let doc = self.docs.get(&DocId::Job(job)).context("job held")?;
            read_job(doc, None)?
                .checklist
                .iter()
                .map(|c| c.id)
                .collect()
        };
        // Arrive + parts + adjustments + labour + answers + payment + signature + complete.
        let fixed = 1 + parts + adjust + labour + checklist.len() + 3;
        let notes = target.saturating_sub(fixed);
        let mut t = start.0;
        let mut tick = |rng: &mut StdRng| {
            t += rng.random_range(60_000..300_000);
            Timestamp(t)
        };
        let mut made = 0;
        let now = tick(&mut self.rng);
        self.act(job, &JobAction::Arrive, now)?;
        made += 1;
        let mut lines = Vec::new();
        for _ in 0..parts {
            let (sku, serialized) = PARTS[self.rng.random_range(0..PARTS.len())];
            let quantity = if serialized {
                1
            } else {
                self.rng.random_range(1..=4)
            };
            let serials = if serialized {
                vec![format!("SN-{:016x}", self.rng.random::<u64>())]
            } else {
                Vec::new()
            };
            let line = LineId::from_bytes(self.rng.random());
            let action = JobAction::UsePart {
                line,
                sku: sku.parse()?,
                quantity: Quantity::new(quantity)?,
                serials,
                van: self.van,
            };
            let now = tick(&mut self.rng);
            self.act(job, &action, now)?;
            if !serialized {
                lines.push((line, quantity));
            }
            made += 1;
        }
        for (line, quantity) in lines.iter().take(adjust) {
            // Another quantity than the line has (the same one changes nothing).
            let action = JobAction::SetPartQuantity {
                line: *line,
                quantity: Quantity::new(quantity % 6 + 1)?,
            };
            let now = tick(&mut self.rng);
            self.act(job, &action, now)?;
            made += 1;
        }
        for _ in 0..labour {
            let action = JobAction::AddLabour {
                entry: LineId::from_bytes(self.rng.random()),
                minutes: self.rng.random_range(15..=120),
                rate: "standard".into(),
                description: "Diagnosis and repair".into(),
            };
            let now = tick(&mut self.rng);
            self.act(job, &action, now)?;
            made += 1;
        }
        for item in checklist {
            let action = JobAction::AnswerChecklist {
                item,
                value: "yes".into(),
            };
            let now = tick(&mut self.rng);
            self.act(job, &action, now)?;
            made += 1;
        }
        for k in 0..notes {
            let text = NOTES[(k + self.index) % NOTES.len()].to_owned();
            let now = tick(&mut self.rng);
            self.act(job, &JobAction::AddNote { text }, now)?;
            made += 1;
        }
        const KINDS: [AttachmentKind; 3] = [
            AttachmentKind::Before,
            AttachmentKind::SerialPlate,
            AttachmentKind::After,
        ];
        for (i, (sha256, size)) in photos.iter().enumerate() {
            let action = JobAction::AddAttachment {
                attachment: LineId::from_bytes(self.rng.random()),
                sha256: sha256.clone(),
                size: *size,
                media_type: "image/jpeg".into(),
                kind: KINDS[i % KINDS.len()],
                caption: format!("Photo {}", i + 1),
            };
            let now = tick(&mut self.rng);
            self.act(job, &action, now)?;
            made += 1;
        }
        let finish = [
            JobAction::RecordPayment {
                payment: LineId::from_bytes(self.rng.random()),
                method: PaymentMethod::Card,
                amount: Money(self.rng.random_range(5_000..90_000)),
                reference: Some(format!("POS-{}", self.rng.random_range(100_000..999_999))),
            },
            JobAction::CaptureSignature {
                signer: "Customer".into(),
                image_sha256: format!("{:064x}", self.rng.random::<u128>()),
            },
            JobAction::Complete,
        ];
        for action in &finish {
            let now = tick(&mut self.rng);
            self.act(job, action, now)?;
            made += 1;
        }
        Ok(made)
    }

    /// The documents as they are now (the server's copies right after a sync).
    pub fn snapshot(&self) -> BTreeMap<DocId, Automerge> {
        self.docs.clone()
    }
}

const NOTES: &[&str] = &[
    "Customer reports the boiler loses pressure overnight.",
    "Found a weeping joint on the return pipe; remade it.",
    "Flue checked, no obstruction.",
    "Pressure holding at 1.4 bar after 20 minutes.",
    "Advised the customer to bleed the upstairs radiators.",
    "Old valve kept for the warranty claim.",
    "Access via the side gate; dog in the garden.",
];

/// Deterministic id bytes from a seed and a tag.
pub fn id_bytes(seed: u64, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[..8].copy_from_slice(&seed.to_be_bytes());
    b
}

/// The `Retry-After` of a refused sync, in seconds as the server sends it.
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Up to a quarter of `wait` on top of it, different per device and
/// attempt, so the devices a server turned away do not all come back in the
/// same millisecond (what a real client should do too).
fn jitter(device: usize, attempt: usize, wait: Duration) -> Duration {
    let spread = (device as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((attempt as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
        >> 54; // 0..1024
    wait.mul_f64(spread as f64 / 4096.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter_and_differs_per_device() {
        let wait = Duration::from_secs(2);
        let mut seen = std::collections::BTreeSet::new();
        for device in [0, 1, 7, 999, usize::MAX] {
            for attempt in [1, 2, 60, usize::MAX] {
                let j = jitter(device, attempt, wait);
                assert!(
                    j <= wait / 4,
                    "{j:?} for device {device}, attempt {attempt}"
                );
                seen.insert(j);
            }
        }
        assert!(seen.len() > 10, "{seen:?}");
    }
}

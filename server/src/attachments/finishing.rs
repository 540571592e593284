//! How many uploads are finished at once, and with how much memory.
//!
//! Finishing an upload holds the whole file twice (as assembled, and as
//! stored after EXIF stripping) and, for an image, its decoded pixels for
//! the thumbnail. Each finish reserves that from the sync gate's memory
//! budget (one pool: syncs and finishing uploads together stay within
//! it) and takes one of a few slots, half the cores, so the CPU-bound
//! checks never take every core from the syncs (blobs must not block
//! sync), and runs its checks at a lower OS priority than the server's
//! ([`Finishing::below_syncs`]). A finish that cannot start within
//! [`FINISH_WAIT`] is answered 503 with `Retry-After`; its bytes stay
//! staged, and the next request for the upload (the status query, or any
//! chunk) finishes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::sync::gate::SyncGate;

/// How long a finish waits for a slot and its memory before 503.
pub const FINISH_WAIT: Duration = Duration::from_secs(10);

/// The decoder may use at most this much for a thumbnail (pixels).
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// At least this much is kept for decoding small files (a PNG signature
/// compresses its pixels 50-100 times).
const MIN_DECODE_BYTES: u64 = 8 * 1024 * 1024;
/// Decoded pixels per byte of a file, estimated high: JPEG photos expand
/// 10-20 times into RGB.
const DECODE_FACTOR: u64 = 24;

/// The decoder memory a finish of a `total`-byte file reserves (and the
/// thumbnail's decoder is limited to).
pub fn decode_bytes(total: u64) -> u64 {
    total
        .saturating_mul(DECODE_FACTOR)
        .clamp(MIN_DECODE_BYTES, MAX_DECODE_BYTES)
}

/// What finishing a `total`-byte upload reserves: the file twice and its
/// decoded pixels.
pub fn finish_bytes(total: u64) -> u64 {
    total.saturating_mul(2).saturating_add(decode_bytes(total))
}

/// How much lower than the server's own the OS priority of a finish's
/// checks is by default (`--finishing-niceness`): nice +10, at which the
/// scheduler gives a thread about a tenth of the time of one at the
/// server's priority when both want a core.
pub const FINISH_NICENESS: u8 = 10;

/// Linux keeps a nice value per thread (`setpriority` with a thread id):
/// only the calling thread is lowered, by `by` (at most to 19). Elsewhere
/// the checks keep the server's priority.
fn lower_this_threads_priority(by: u8) {
    #[cfg(target_os = "linux")]
    if by > 0 {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|now| setpriority_process(me, (now + i32::from(by)).min(19)));
        if let Err(e) = lowered {
            tracing::debug!(error = %e, "finishing an upload at the server's own priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

/// The slots of one server process.
#[derive(Debug)]
pub struct Finishing {
    slots: Arc<Semaphore>,
    wait: Duration,
    niceness: u8,
    running: Arc<AtomicUsize>,
    peak: AtomicUsize,
}

/// One finish admitted: its slot and memory, released when dropped.
#[derive(Debug)]
pub struct FinishPass {
    _slot: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for FinishPass {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Finishing {
    /// At most `slots` finishes at once, each waiting at most `wait`,
    /// their checks at [`FINISH_NICENESS`].
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
            niceness: FINISH_NICENESS,
            running: Arc::new(AtomicUsize::new(0)),
            peak: AtomicUsize::new(0),
        }
    }

    /// The checks `niceness` below the server's priority instead (0: at
    /// its own).
    pub fn with_niceness(self, niceness: u8) -> Self {
        Self { niceness, ..self }
    }

    /// `slots` (`--max-finishing-uploads`), else half the cores (at least
    /// one), waiting [`FINISH_WAIT`], the checks `niceness` below the
    /// server (`--finishing-niceness`).
    pub fn from_settings(slots: Option<usize>, niceness: u8) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(slots.unwrap_or(cores / 2), FINISH_WAIT).with_niceness(niceness)
    }

    /// Runs a finish's CPU-bound checks (hash, type, EXIF, thumbnail) on a
    /// thread of their own at a lower OS priority than the server's: when
    /// syncs want the cores the scheduler gives them first, so uploads do
    /// not slow the syncs beside them; on an idle server the checks run at
    /// full speed. A thread per finish: at most the slots run at once, and
    /// starting one costs microseconds against the tens of milliseconds of
    /// a photo's checks.
    ///
    /// The thread holds `pass` while it works and hands it back with the
    /// result: if the request is dropped meanwhile (the client went away,
    /// the request timed out: more likely for checks that yield to the
    /// syncs), the slot and the memory stay taken until the checks end, so
    /// abandoned finishes never pile up beyond the slots. An error if the
    /// thread cannot start or `f` panicked.
    pub async fn below_syncs<R: Send + 'static>(
        &self,
        pass: FinishPass,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<(R, FinishPass), ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let niceness = self.niceness;
        std::thread::Builder::new()
            .name("finish-upload".into())
            .spawn(move || {
                lower_this_threads_priority(niceness);
                let r = f();
                // Nobody waiting: the pass is dropped here, after the work.
                let _ = tx.send((r, pass));
            })
            .map_err(ApiError::internal)?;
        rx.await.map_err(ApiError::internal)
    }

    /// Admits one finish of a `total`-byte upload, waiting for a slot and
    /// then its memory; 503 `overloaded` (with `Retry-After`) if they do
    /// not come within the wait.
    pub async fn enter(&self, gate: &SyncGate, total: u64) -> Result<FinishPass, ApiError> {
        let started = tokio::time::Instant::now();
        let slot = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Overloaded)?
            .map_err(|_| ApiError::Overloaded)?;
        let left = self.wait.saturating_sub(started.elapsed());
        let memory = gate
            .reserve_waiting(finish_bytes(total), left)
            .await
            .ok_or(ApiError::Overloaded)?;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Ok(FinishPass {
            _slot: slot,
            _memory: memory,
            running: self.running.clone(),
        })
    }

    /// The most finishes that ran at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn own_niceness() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    /// The checks run on a thread of their own, lowered below the
    /// server's priority (Linux: per thread), and give back their result
    /// or, if they panic, an error rather than a panic.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn checks_run_below_the_servers_priority() {
        let gate = SyncGate::new(4, 1 << 30);
        let server = own_niceness();
        let finishing = Finishing::from_settings(Some(1), FINISH_NICENESS);
        let pass = finishing.enter(&gate, 1000).await.unwrap();
        let ((name, nice), pass) = finishing
            .below_syncs(pass, || {
                let name = std::thread::current().name().map(str::to_owned);
                (name, own_niceness())
            })
            .await
            .unwrap();
        drop(pass);
        assert_eq!(name.as_deref(), Some("finish-upload"));
        assert_eq!(nice, (server + i32::from(FINISH_NICENESS)).min(19));
        // The server's own thread is untouched; 0 keeps its priority.
        assert_eq!(own_niceness(), server);
        let same = Finishing::from_settings(Some(1), 0);
        let pass = same.enter(&gate, 1000).await.unwrap();
        assert_eq!(
            same.below_syncs(pass, own_niceness).await.unwrap().0,
            server
        );
        // A panic in the checks is an error, not a panic of the server,
        // and gives the slot back.
        let pass = finishing.enter(&gate, 1000).await.unwrap();
        let e = finishing
            .below_syncs(pass, || -> u8 { panic!("a check panicked") })
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::Internal(_)), "{e:?}");
        drop(finishing.enter(&gate, 1000).await.unwrap());
    }

    /// A finish whose request is dropped while its checks run (the client
    /// went away, the request timed out) keeps its slot until they end.
    #[tokio::test]
    async fn an_abandoned_finish_holds_its_slot_until_its_checks_end() {
        let gate = SyncGate::new(4, 1 << 30);
        let free = gate.memory_free_kib();
        let finishing = Finishing::new(1, Duration::from_secs(10));
        let pass = finishing.enter(&gate, 1000).await.unwrap();
        let (release, checks) = std::sync::mpsc::channel::<()>();
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            finishing.below_syncs(pass, move || checks.recv().is_ok()),
        )
        .await;
        assert!(abandoned.is_err(), "the checks cannot have ended yet");
        // Still running: the slot and the memory stay taken.
        assert_eq!(finishing.slots.available_permits(), 0);
        assert_eq!(finishing.running.load(Ordering::SeqCst), 1);
        assert!(gate.memory_free_kib() < free);
        // They end: the slot comes free (the next finish waits for it).
        release.send(()).unwrap();
        let _next = finishing.enter(&gate, 1000).await.unwrap();
        assert_eq!(finishing.running.load(Ordering::SeqCst), 1);
        assert_eq!(finishing.peak(), 1);
    }

    #[tokio::test]
    async fn finishes_beyond_the_slots_wait_and_then_get_503() {
        let gate = SyncGate::new(4, 1 << 30);
        let finishing = Finishing::new(2, Duration::from_millis(200));
        let a = finishing.enter(&gate, 1000).await.unwrap();
        let _b = finishing.enter(&gate, 1000).await.unwrap();
        // The third waits for a slot, and gets one when a finish ends.
        let third = finishing.enter(&gate, 1000);
        let release = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(a);
        };
        let (third, ()) = tokio::join!(third, release);
        let _c = third.unwrap();
        // No slot frees within the wait: 503 with Retry-After.
        let e = finishing.enter(&gate, 1000).await.unwrap_err();
        assert!(matches!(e, ApiError::Overloaded), "{e:?}");
        assert!(e.retry_after().is_some());
        assert_eq!(finishing.peak(), 2);
    }

    #[tokio::test]
    async fn finishes_reserve_from_the_sync_budget_and_give_it_back() {
        // The file twice and 24 times its size for the decoder, within
        // 8 MiB..256 MiB.
        assert_eq!(finish_bytes(4_000_000), 8_000_000 + 96_000_000);
        assert_eq!(decode_bytes(10_000), MIN_DECODE_BYTES);
        assert_eq!(decode_bytes(25 << 20), MAX_DECODE_BYTES);
        // 64 MiB budget: 48 MiB for work.
        let gate = SyncGate::new(4, 64 << 20);
        let finishing = Finishing::new(4, Duration::from_millis(100));
        let free = gate.memory_free_kib();
        // Larger than the whole budget: it runs alone, holding all of it.
        let big = finishing.enter(&gate, 25 << 20).await.unwrap();
        assert_eq!(gate.memory_free_kib(), 0);
        let e = finishing.enter(&gate, 100_000).await.unwrap_err();
        assert!(matches!(e, ApiError::Overloaded), "{e:?}");
        drop(big);
        assert_eq!(gate.memory_free_kib(), free);
        // Small ones share it: two of 100 kB reserve 2 x (0.2 MB + 8 MiB).
        let _x = finishing.enter(&gate, 100_000).await.unwrap();
        let _y = finishing.enter(&gate, 100_000).await.unwrap();
        let each = finish_bytes(100_000).div_ceil(1024);
        assert_eq!(gate.memory_free_kib(), free - 2 * each);
        assert_eq!(finishing.peak(), 2);
    }
}

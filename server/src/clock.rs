//! The server's clock, injectable: features that compare with "today"
//! (a recall's overdue commitments) read it from [`AppState`](crate::app::AppState)
//! rather than the system, so a test can move it forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, Duration, OffsetDateTime};

/// The system clock plus an offset (zero outside tests). Cheap to clone;
/// clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        crate::store::now_utc() + Duration::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Today, UTC.
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Moves the clock forward by `by` (tests).
    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.whole_seconds(), Ordering::Relaxed);
    }
}

//! Rows a feature derives from a committed document, written inside the
//! commit's transaction.
//!
//! The store knows no feature: a feature builds a [`Projection`] (the jobs
//! list row, the inventory consumption of a job's part lines, a feedback
//! request, ...) and the writer attaches it to the [`DocCommit`] with
//! [`DocCommit::project`]. The commit runs every attached projection in its
//! transaction, after the change rows, so the rows and the document never
//! disagree. Which projections a job commit gets is decided by the
//! projectors features register (`crate::documents::Projectors`).
//!
//! A row every writer of the database shares (a gapless counter) is
//! written in [`Projection::write_last`], not [`Projection::write`]: the
//! commit runs those after every projection's `write`, just before its
//! commit stamp, so the row's lock is held from there to COMMIT only, not
//! through the rest of the transaction.

use std::fmt;

use async_trait::async_trait;
use fieldsync_core::DocId;
use time::OffsetDateTime;

use super::Result;
use super::sql::Tx;

/// Feature rows that follow a document commit.
#[async_trait]
pub trait Projection: fmt::Debug + Send + Sync {
    /// Refuses a projection that does not describe `doc` (a caller bug),
    /// before anything is written.
    fn check(&self, _doc: &DocId) -> Result<()> {
        Ok(())
    }

    /// Writes the rows in the commit's transaction. `now` is the commit's
    /// server time.
    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()>;

    /// Writes that take a lock every committing writer may want (e.g. the
    /// invoice number's counter row), after every projection's
    /// [`Self::write`] (in the same order) and just before the commit's
    /// stamp: keep it to the locking statement and what needs its result.
    /// A retried commit runs `write` again first.
    async fn write_last(&self, _tx: &mut dyn Tx, _now: OffsetDateTime) -> Result<()> {
        Ok(())
    }
}

//! The jobs list: one SQL row per job document (`jobs`), projected in the
//! commit that writes the document, and the queries that read it (the
//! dispatch list, a job's row, a sync caller's read scope).

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::{DocId, JobId, Status, UserId};

use crate::store::DeviceId;
use time::OffsetDateTime;

use crate::documents::{JobCommit, JobProjector};
use crate::store::sql::{Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// The SQL row of one job, kept in step with its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobProjection {
    pub job_id: JobId,
    pub status: Status,
    pub technician_id: Option<UserId>,
    pub customer_name: String,
    pub window_start: OffsetDateTime,
    pub window_end: OffsetDateTime,
    /// Server time the job was first seen completed. Pass `Some(now)` while
    /// the status is completed: the store keeps the first value it stored.
    pub completed_at: Option<OffsetDateTime>,
    pub total_minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub projection: JobProjection,
    pub updated_at: OffsetDateTime,
}

/// Filters for [`JobStore::list_jobs`]; every field narrows, `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<Status>,
    pub technician_id: Option<UserId>,
    /// Jobs whose window starts at or after this instant.
    pub window_from: Option<OffsetDateTime>,
    /// Jobs whose window starts before this instant.
    pub window_until: Option<OffsetDateTime>,
    /// Case-insensitive substring of the customer name.
    pub customer: Option<String>,
    /// At most this many rows (the store caps it at 1000).
    pub limit: Option<u32>,
}

/// The jobs list, read by dispatch and by sync's read scope.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn job(&self, id: JobId) -> Result<JobRow>;
    /// The jobs a sync caller holds: those assigned to `technician` (every
    /// technician's for `None`, the office), open ones and closed ones
    /// updated at or after `closed_since`. Read scope, so never from
    /// document content.
    async fn job_scope(
        &self,
        technician: Option<UserId>,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>>;
    /// The jobs an office device holds: those it opened
    /// ([`crate::sync::open_jobs`]) that devices still hold by the rule of
    /// [`JobStore::job_scope`] (open, or closed and updated at or after
    /// `closed_since`), in the order opened.
    async fn opened_job_scope(
        &self,
        device: DeviceId,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>>;
    /// Ordered by window start, then job id.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>>;
    /// How many jobs are in each status (statuses with none are absent).
    async fn count_jobs_by_status(&self) -> Result<Vec<(Status, i64)>>;
}

/// The jobs devices hold: open ones, and closed ones updated at or after
/// the bound pushed right after this text (then a closing parenthesis).
/// Every device scope reads it, so they all drop a job at the same moment.
const HELD_UNLESS_CLOSED_BEFORE: &str = "(status NOT IN ('completed', 'unable_to_complete', \
     'cancelled') OR updated_at >= ";

const JOB_COLS: &str = "SELECT job_id, status, technician_id, customer_name, window_start, \
     window_end, completed_at, total_minor, currency, updated_at FROM jobs";

fn job_from(row: &Row) -> Result<JobRow> {
    Ok(JobRow {
        projection: JobProjection {
            job_id: row.get("job_id")?,
            status: row.get("status")?,
            technician_id: row.get("technician_id")?,
            customer_name: row.get("customer_name")?,
            window_start: row.get("window_start")?,
            window_end: row.get("window_end")?,
            completed_at: row.get("completed_at")?,
            total_minor: row.get("total_minor")?,
            currency: row.get("currency")?,
        },
        updated_at: row.get("updated_at")?,
    })
}

/// `%needle%` for LIKE, with the pattern characters escaped (`\` is the escape).
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[async_trait]
impl JobStore for SqlStore {
    async fn job(&self, id: JobId) -> Result<JobRow> {
        let mut q = QueryBuilder::new(JOB_COLS);
        q.push(" WHERE job_id = ").push_bind(id);
        job_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn job_scope(
        &self,
        technician: Option<UserId>,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>> {
        let mut q = QueryBuilder::new("SELECT job_id FROM jobs WHERE ");
        q.push(HELD_UNLESS_CLOSED_BEFORE)
            .push_bind(closed_since)
            .push(")");
        if let Some(t) = technician {
            q.push(" AND technician_id = ").push_bind(t);
        }
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(|row| row.get("job_id")).collect()
    }

    async fn opened_job_scope(
        &self,
        device: DeviceId,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>> {
        let mut q = QueryBuilder::new(
            "SELECT o.job_id FROM device_open_jobs o JOIN jobs ON jobs.job_id = o.job_id \
             WHERE o.device_id = ",
        );
        q.push_bind(device)
            .push(" AND ")
            .push(HELD_UNLESS_CLOSED_BEFORE)
            .push_bind(closed_since)
            .push(") ORDER BY o.opened_at, o.job_id");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(|row| row.get("job_id")).collect()
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<JobRow>> {
        let mut q = QueryBuilder::new(JOB_COLS);
        q.push(" WHERE 1 = 1");
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s);
        }
        if let Some(t) = f.technician_id {
            q.push(" AND technician_id = ").push_bind(t);
        }
        if let Some(from) = f.window_from {
            q.push(" AND window_start >= ").push_bind(from);
        }
        if let Some(until) = f.window_until {
            q.push(" AND window_start < ").push_bind(until);
        }
        if let Some(c) = &f.customer {
            q.push(" AND lower(customer_name) LIKE ")
                .push_bind(like_pattern(c))
                .push(" ESCAPE '\\'");
        }
        q.push(" ORDER BY window_start, job_id LIMIT ")
            .push_bind(i64::from(f.limit.unwrap_or(100).clamp(1, 1000)));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(job_from).collect()
    }

    async fn count_jobs_by_status(&self) -> Result<Vec<(Status, i64)>> {
        let q = QueryBuilder::new("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter()
            .map(|row| Ok((row.get("status")?, row.get("n")?)))
            .collect()
    }
}

#[async_trait]
impl Projection for JobProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        tx.execute(
            Query::new(
                "INSERT INTO jobs (job_id, status, technician_id, customer_name, window_start, \
                     window_end, completed_at, total_minor, currency, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, \
                     technician_id = excluded.technician_id, \
                     customer_name = excluded.customer_name, \
                     window_start = excluded.window_start, window_end = excluded.window_end, \
                     completed_at = CASE WHEN excluded.completed_at IS NULL THEN NULL \
                         ELSE COALESCE(jobs.completed_at, excluded.completed_at) END, \
                     total_minor = excluded.total_minor, currency = excluded.currency, \
                     updated_at = excluded.updated_at",
            )
            .bind(self.job_id)
            .bind(self.status)
            .bind(self.technician_id)
            .bind(&self.customer_name)
            .bind(self.window_start)
            .bind(self.window_end)
            .bind(self.completed_at)
            .bind(self.total_minor)
            .bind(&self.currency)
            .bind(now),
        )
        .await?;
        Ok(())
    }
}

/// Projects every job commit into the jobs list, billed with the price
/// book the commit was made with.
pub struct ListProjector;

impl JobProjector for ListProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        Some(Arc::new(projection(c)))
    }
}

/// The jobs-list row of a merged job, its total from the commit's invoice.
pub fn projection(c: &JobCommit<'_>) -> JobProjection {
    let (job, now) = (c.job, c.now);
    let (total_minor, currency) = match (c.invoice, c.price_book) {
        (Some(invoice), _) => (invoice.total.minor_units(), invoice.currency.clone()),
        // Cannot be billed with this book (the commit logged why).
        (None, Some(book)) => (0, book.currency.clone()),
        // ISO 4217's code for "no currency": nothing is priced yet.
        (None, None) => (0, "XXX".to_owned()),
    };
    let at = |t: fieldsync_core::Timestamp| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    JobProjection {
        job_id: job.id,
        status: job.status,
        technician_id: job.technician,
        customer_name: job.customer.name.clone(),
        window_start: at(job.window.start),
        window_end: at(job.window.end),
        completed_at: (job.status == Status::Completed).then_some(now),
        total_minor,
        currency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }
}

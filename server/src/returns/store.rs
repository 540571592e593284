//! The return tables (`returns`, `return_events`, `rma_counters`), written
//! once for both databases, and the projection that stores the returns a
//! job's commit carries.
//!
//! A receipt appends its ledger movements through the ledger's own
//! [`append`](crate::inventory::store::append), in the same transaction as
//! the return's row, so the ledger and the return never disagree.

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::job::{ReturnCondition, ReturnLine};
use fieldsync_core::{DocId, JobId, LineId, LocationId, Sku, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::*;
use crate::documents::{JobCommit, JobProjector};
use crate::inventory::store::{append, location_kind, part_serialized, serial_location};
use crate::inventory::{AdjustReason, LocationKind, MovementKind, NewMovement, Refused};
use crate::store::sql::{Conn, Query, QueryBuilder, Row};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// Which returns to list; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct ReturnFilter {
    pub status: Option<ReturnStatus>,
    /// Returns of jobs assigned to this technician.
    pub technician: Option<UserId>,
    /// Returns going to (or received at) one of these depots.
    pub depots: Option<Vec<LocationId>>,
    pub serial: Option<(Sku, String)>,
    pub id: Option<Uuid>,
    /// Returns of jobs for this registry asset.
    pub asset: Option<Uuid>,
}

#[async_trait]
pub trait ReturnStore: Send + Sync {
    /// Stores a return the office opened and numbers it; the same id again
    /// is a replay (same content) or [`Opened::IdReused`].
    async fn open_return(&self, r: &NewReturn) -> Result<Opened>;
    async fn return_by_id(&self, id: Uuid) -> Result<ReturnRow>;
    /// Oldest first, at most 500.
    async fn returns(&self, filter: &ReturnFilter) -> Result<Vec<ReturnRow>>;
    /// The RMA numbers of a job's returns, for writing back into its document.
    async fn job_rma_numbers(&self, job: JobId) -> Result<Vec<(LineId, String)>>;
    /// Jobs with returns whose number is not yet in the job document
    /// (oldest return first), at most `limit`.
    async fn jobs_with_pending_numbers(&self, limit: i64) -> Result<Vec<JobId>>;
    /// Marks these returns of `job` as written into its document (or as
    /// having nothing to write there: the office's).
    async fn numbers_written(&self, job: JobId, ids: &[LineId]) -> Result<()>;
    async fn return_events(&self, id: Uuid) -> Result<Vec<ReturnEvent>>;
    /// Receives the unit at a depot: a `return` movement into it and, for
    /// refurbish or scrap, an `adjustment` out of the sellable balance,
    /// with the return's row, in one transaction. The same receipt again
    /// (same movement id, depot and disposition) is a replay.
    async fn receive(&self, r: &Receipt) -> Result<std::result::Result<ReturnRow, ReceiptRefused>>;
}

const COLS: &str = "SELECT id, rma_number, sku, serial, reason, condition, job_id, customer_id, \
     asset_id, depot_id, opened_by, opened_at, status, disposition, received_by, received_at, \
     movement_id FROM returns";

fn row_of(r: &Row) -> Result<ReturnRow> {
    let condition: String = r.get("condition")?;
    Ok(ReturnRow {
        ret: NewReturn {
            id: r.get("id")?,
            sku: r.parse("sku")?,
            serial: r.get("serial")?,
            reason: r.get("reason")?,
            condition: ReturnCondition::parse(&condition)
                .ok_or_else(|| StoreError::corrupt("condition", condition.clone()))?,
            job_id: r.get("job_id")?,
            customer_id: r.get("customer_id")?,
            asset_id: r.get("asset_id")?,
            depot_id: r.get("depot_id")?,
            opened_by: r.get("opened_by")?,
        },
        rma_number: r.get("rma_number")?,
        opened_at: r.get("opened_at")?,
        status: r.get("status")?,
        disposition: r.get("disposition")?,
        received_by: r.get("received_by")?,
        received_at: r.get("received_at")?,
        movement_id: r.get("movement_id")?,
    })
}

/// The next RMA number of `now`'s year (the server's clock, never a device's).
async fn next_number(conn: &mut dyn Conn, now: OffsetDateTime) -> Result<String> {
    let year = i64::from(now.year());
    let row = conn
        .fetch_one(
            Query::new(
                "INSERT INTO rma_counters (year, last) VALUES ($1, 1) \
                 ON CONFLICT (year) DO UPDATE SET last = rma_counters.last + 1 \
                 RETURNING last",
            )
            .bind(year),
        )
        .await?;
    Ok(fieldsync_core::job::rma::format_rma_number(
        now.year(),
        row.get("last")?,
    ))
}

async fn event(
    conn: &mut dyn Conn,
    id: Uuid,
    what: &str,
    detail: &str,
    actor: Option<UserId>,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO return_events (return_id, seq, event, detail, actor_id, at) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM return_events \
             WHERE return_id = $1",
        )
        .bind(id)
        .bind(what)
        .bind(detail)
        .bind(actor)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// Inserts and numbers a return that is not stored yet; `false` if its id
/// is. `in_document`: opened on a visit, so its number is still to be
/// written into the job document.
async fn insert(
    conn: &mut dyn Conn,
    r: &NewReturn,
    now: OffsetDateTime,
    in_document: bool,
) -> Result<bool> {
    if conn
        .exists(Query::new("SELECT 1 AS one FROM returns WHERE id = $1").bind(r.id))
        .await?
    {
        return Ok(false);
    }
    let number = next_number(conn, now).await?;
    conn.execute(
        Query::new(
            "INSERT INTO returns (id, rma_number, sku, serial, reason, condition, job_id, \
                 customer_id, asset_id, depot_id, opened_by, opened_at, status, fingerprint, \
                 number_pending) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $14)",
        )
        .bind(r.id)
        .bind(number.as_str())
        .bind(&r.sku)
        .bind(r.serial.as_str())
        .bind(r.reason.as_str())
        .bind(r.condition.as_str())
        .bind(r.job_id)
        .bind(r.customer_id)
        .bind(r.asset_id)
        .bind(r.depot_id)
        .bind(r.opened_by)
        .bind(now)
        .bind(r.fingerprint().to_vec())
        .bind(in_document),
    )
    .await?;
    let detail = format!(
        "{number}: {} {} ({})",
        r.sku,
        r.serial,
        r.condition.as_str()
    );
    event(conn, r.id, "opened", &detail, Some(r.opened_by), now).await?;
    Ok(true)
}

#[async_trait]
impl ReturnStore for SqlStore {
    async fn open_return(&self, r: &NewReturn) -> Result<Opened> {
        let mut tx = self.db().begin().await?;
        let created = insert(tx.as_mut(), r, crate::store::now_utc(), false).await?;
        let row = tx
            .fetch_one(Query::new("SELECT fingerprint FROM returns WHERE id = $1").bind(r.id))
            .await?;
        let same = row.get::<Vec<u8>>("fingerprint")? == r.fingerprint();
        tx.commit().await?;
        if !same {
            return Ok(Opened::IdReused);
        }
        let stored = self.return_by_id(r.id).await?;
        Ok(if created {
            Opened::Created(stored)
        } else {
            Opened::Replayed(stored)
        })
    }

    async fn return_by_id(&self, id: Uuid) -> Result<ReturnRow> {
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE id = ").push_bind(id);
        row_of(&self.db().fetch_one(q.build()).await?)
    }

    async fn returns(&self, f: &ReturnFilter) -> Result<Vec<ReturnRow>> {
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE 1 = 1");
        if let Some(id) = f.id {
            q.push(" AND id = ").push_bind(id);
        }
        if let Some(asset) = f.asset {
            q.push(" AND asset_id = ").push_bind(asset);
        }
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s);
        }
        if let Some(t) = f.technician {
            q.push(" AND job_id IN (SELECT job_id FROM jobs WHERE technician_id = ")
                .push_bind(t)
                .push(")");
        }
        if let Some(depots) = &f.depots {
            if depots.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND depot_id IN (")
                .push_list(depots.iter().copied())
                .push(")");
        }
        if let Some((sku, serial)) = &f.serial {
            q.push(" AND sku = ")
                .push_bind(sku)
                .push(" AND serial = ")
                .push_bind(serial.as_str());
        }
        q.push(" ORDER BY opened_at, rma_number LIMIT 500");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(row_of).collect()
    }

    async fn job_rma_numbers(&self, job: JobId) -> Result<Vec<(LineId, String)>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new("SELECT id, rma_number FROM returns WHERE job_id = $1 ORDER BY id")
                    .bind(job),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("id")?, r.get("rma_number")?)))
            .collect()
    }

    async fn jobs_with_pending_numbers(&self, limit: i64) -> Result<Vec<JobId>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT job_id FROM returns WHERE number_pending AND job_id IS NOT NULL \
                     GROUP BY job_id ORDER BY MIN(opened_at), job_id LIMIT $1",
                )
                .bind(limit),
            )
            .await?;
        rows.iter().map(|r| r.get("job_id")).collect()
    }

    async fn numbers_written(&self, job: JobId, ids: &[LineId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::new("UPDATE returns SET number_pending = ");
        q.push_bind(false)
            .push(" WHERE job_id = ")
            .push_bind(job)
            .push(" AND id IN (")
            .push_list(ids.iter().map(|id| id.as_uuid()))
            .push(")");
        self.db().execute(q.build()).await?;
        Ok(())
    }

    async fn return_events(&self, id: Uuid) -> Result<Vec<ReturnEvent>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT event, detail, actor_id, at FROM return_events \
                     WHERE return_id = $1 ORDER BY seq",
                )
                .bind(id),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReturnEvent {
                    event: r.get("event")?,
                    detail: r.get("detail")?,
                    actor_id: r.get("actor_id")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }

    async fn receive(
        &self,
        rc: &Receipt,
    ) -> Result<std::result::Result<ReturnRow, ReceiptRefused>> {
        let mut tx = self.db().begin().await?;
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE id = ").push_bind(rc.return_id);
        if tx.dialect().row_locks {
            q.push(" FOR UPDATE");
        }
        let current = row_of(&tx.fetch_one(q.build()).await?)?;
        if current.status == ReturnStatus::Received {
            let same = current.movement_id == Some(rc.movement_id)
                && current.ret.depot_id == Some(rc.depot_id)
                && current.disposition == Some(rc.disposition);
            return Ok(if same {
                Ok(current)
            } else {
                Err(ReceiptRefused::AlreadyReceived)
            });
        }
        let ret = &current.ret;
        let Some(serialized) = part_serialized(tx.as_mut(), &ret.sku).await? else {
            return Ok(Err(Refused::UnknownSku(ret.sku.clone()).into()));
        };
        match location_kind(tx.as_mut(), rc.depot_id).await? {
            Some(LocationKind::Depot) => {}
            Some(LocationKind::Van | LocationKind::Transit) => {
                return Ok(Err(Refused::Invalid(
                    "a return is received at a depot, not a van or a transit holding".into(),
                )
                .into()));
            }
            None => return Ok(Err(Refused::UnknownLocation(rc.depot_id).into())),
        }
        if tx
            .exists(
                Query::new("SELECT 1 AS one FROM stock_movements WHERE id = $1")
                    .bind(rc.movement_id),
            )
            .await?
        {
            return Ok(Err(Refused::IdReused(rc.movement_id).into()));
        }
        let serials = if serialized {
            if serial_location(tx.as_mut(), &ret.sku, &ret.serial)
                .await?
                .flatten()
                .is_some()
            {
                return Ok(Err(Refused::Invalid(format!(
                    "serial {} is in stock already: it was not returned",
                    ret.serial
                ))
                .into()));
            }
            vec![ret.serial.clone()]
        } else {
            Vec::new()
        };
        let now = crate::store::now_utc();
        let note = format!("{} {}", current.rma_number, rc.disposition.as_str());
        let back = NewMovement {
            id: rc.movement_id,
            kind: MovementKind::Return,
            sku: ret.sku.clone(),
            quantity: 1,
            from: None,
            to: Some(rc.depot_id),
            reason: None,
            serials: serials.clone(),
            job_id: ret.job_id,
            line_id: None,
            note: note.clone(),
            actor: Some(rc.actor),
        };
        append(tx.as_mut(), &back, now).await?;
        if rc.disposition != Disposition::Restock {
            // Held off the sellable balance: out of the depot's available
            // stock as damaged goods, named by the RMA and disposition.
            let hold = NewMovement {
                id: hold_movement_id(rc.movement_id),
                kind: MovementKind::Adjustment,
                from: Some(rc.depot_id),
                to: None,
                reason: Some(AdjustReason::Damage),
                job_id: None,
                ..back
            };
            append(tx.as_mut(), &hold, now).await?;
        }
        tx.execute(
            Query::new(
                "UPDATE returns SET status = 'received', depot_id = $2, disposition = $3, \
                     received_by = $4, received_at = $5, movement_id = $6 \
                 WHERE id = $1",
            )
            .bind(rc.return_id)
            .bind(rc.depot_id)
            .bind(rc.disposition)
            .bind(rc.actor)
            .bind(now)
            .bind(rc.movement_id),
        )
        .await?;
        event(
            tx.as_mut(),
            rc.return_id,
            "received",
            &note,
            Some(rc.actor),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(self.return_by_id(rc.return_id).await?))
    }
}

/// The returns of one committed job, stored and numbered in its commit.
#[derive(Debug)]
pub struct ReturnProjection {
    job_id: JobId,
    customer: Option<Uuid>,
    asset: Option<Uuid>,
    lines: Vec<ReturnLine>,
}

#[async_trait]
impl Projection for ReturnProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "return projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn crate::store::sql::Tx, now: OffsetDateTime) -> Result<()> {
        for line in &self.lines {
            // The unit goes to the depot of the technician's van.
            let depot: Option<LocationId> = tx
                .fetch_optional(
                    Query::new(
                        "SELECT depot_id FROM locations WHERE kind = 'van' AND technician_id = $1",
                    )
                    .bind(line.by),
                )
                .await?
                .map(|r| r.get::<Option<LocationId>>("depot_id"))
                .transpose()?
                .flatten();
            let r = NewReturn {
                id: line.id.as_uuid(),
                sku: line.sku.clone(),
                serial: line.serial.clone(),
                reason: line.reason.clone(),
                condition: line.condition,
                job_id: Some(self.job_id),
                customer_id: self.customer,
                asset_id: self.asset,
                depot_id: depot,
                opened_by: line.by,
            };
            insert(tx, &r, now, true).await?;
        }
        Ok(())
    }
}

/// Stores the returns of every job that has some (each once: later
/// commits find them stored).
pub struct ReturnProjector;

impl JobProjector for ReturnProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let lines: Vec<ReturnLine> = c
            .job
            .returns
            .iter()
            .filter(|r| r.rma_number.is_none())
            .cloned()
            .collect();
        if lines.is_empty() {
            return None;
        }
        Some(Arc::new(ReturnProjection {
            job_id: c.job.id,
            customer: c.job.registry.customer,
            asset: c.job.registry.asset,
            lines,
        }))
    }
}

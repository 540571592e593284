//! The refund audit (`refund_events`), written once for both databases,
//! and the projection that records a job's refund events in its commit.

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::job::{Decision, Refund};
use fieldsync_core::{DocId, JobId, LineId, Role, UserId};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::documents::{JobCommit, JobProjector};
use crate::store::sql::{Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// One audited event of a refund line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RefundEvent {
    #[schema(value_type = String, format = Uuid)]
    pub refund_id: LineId,
    /// `given`, `approved` or `declined`.
    pub event: String,
    #[schema(value_type = String, format = Uuid)]
    pub job_id: JobId,
    /// `refund` (against a payment) or `credit` (against an invoice line).
    pub kind: String,
    #[schema(value_type = String, format = Uuid)]
    pub against_id: LineId,
    /// Minor units.
    pub amount: i64,
    /// How it was given: `within_limit` or `pending`.
    pub approval: String,
    /// Who gave or decided.
    #[schema(value_type = String, format = Uuid)]
    pub actor_id: UserId,
    /// The role it was given as (`null` for a decision).
    pub actor_role: Option<String>,
    pub reason: String,
    /// The server's clock when the event reached it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// A refund waiting for a supervisor, with its job's context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PendingRefund {
    #[serde(flatten)]
    pub given: RefundEvent,
    pub customer_name: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub technician_id: Option<UserId>,
    /// The depot of the job's technician's van.
    pub depot_id: Option<Uuid>,
}

#[async_trait]
pub trait RefundStore: Send + Sync {
    /// Every event of the job's refunds, oldest first.
    async fn refund_events(&self, job: JobId) -> Result<Vec<RefundEvent>>;
    /// Refunds given pending approval and not decided yet, oldest first:
    /// of every job (`None`) or of the jobs whose technician's van is in
    /// one of `depots`.
    async fn pending_refunds(&self, depots: Option<&[Uuid]>) -> Result<Vec<PendingRefund>>;
    /// The depot of the van of the job's technician (none: unassigned, or no van).
    async fn job_depot(&self, job: JobId) -> Result<Option<Uuid>>;
}

const EVENT_COLS: &str = "e.refund_id, e.event, e.job_id, e.kind, e.against_id, e.amount, \
     e.approval, e.actor_id, e.actor_role, e.reason, e.recorded_at";

fn event_from(r: &Row) -> Result<RefundEvent> {
    Ok(RefundEvent {
        refund_id: r.get("refund_id")?,
        event: r.get("event")?,
        job_id: r.get("job_id")?,
        kind: r.get("kind")?,
        against_id: r.get("against_id")?,
        amount: r.get("amount")?,
        approval: r.get("approval")?,
        actor_id: r.get("actor_id")?,
        actor_role: r.get("actor_role")?,
        reason: r.get("reason")?,
        recorded_at: r.get("recorded_at")?,
    })
}

#[async_trait]
impl RefundStore for SqlStore {
    async fn refund_events(&self, job: JobId) -> Result<Vec<RefundEvent>> {
        let mut q = QueryBuilder::new("SELECT ");
        q.push(EVENT_COLS);
        q.push(" FROM refund_events e WHERE e.job_id = ")
            .push_bind(job)
            .push(" ORDER BY e.recorded_at, e.refund_id, e.event DESC");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(event_from).collect()
    }

    async fn pending_refunds(&self, depots: Option<&[Uuid]>) -> Result<Vec<PendingRefund>> {
        if depots.is_some_and(<[Uuid]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new("SELECT ");
        q.push(EVENT_COLS);
        q.push(
            ", j.customer_name, j.technician_id, v.depot_id \
             FROM refund_events e JOIN jobs j ON j.job_id = e.job_id \
             LEFT JOIN locations v ON v.kind = 'van' AND v.technician_id = j.technician_id \
             WHERE e.event = 'given' AND e.approval = 'pending' \
               AND NOT EXISTS (SELECT 1 FROM refund_events d \
                   WHERE d.refund_id = e.refund_id AND d.event <> 'given')",
        );
        if let Some(depots) = depots {
            q.push(" AND v.depot_id IN (")
                .push_list(depots.iter().copied())
                .push(")");
        }
        q.push(" ORDER BY e.recorded_at, e.refund_id LIMIT 500");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRefund {
                    given: event_from(r)?,
                    customer_name: r.get("customer_name")?,
                    technician_id: r.get("technician_id")?,
                    depot_id: r.get("depot_id")?,
                })
            })
            .collect()
    }

    async fn job_depot(&self, job: JobId) -> Result<Option<Uuid>> {
        let row = self
            .db()
            .fetch_optional(
                Query::new(
                    "SELECT v.depot_id FROM jobs j JOIN locations v \
                         ON v.kind = 'van' AND v.technician_id = j.technician_id \
                     WHERE j.job_id = $1",
                )
                .bind(job),
            )
            .await?;
        row.map(|r| r.get::<Option<Uuid>>("depot_id"))
            .transpose()
            .map(Option::flatten)
    }
}

/// One row of `refund_events` a commit writes.
#[derive(Clone, Debug)]
struct NewEvent {
    refund: LineId,
    event: &'static str,
    kind: &'static str,
    against: LineId,
    amount: i64,
    approval: &'static str,
    actor: UserId,
    role: Option<Role>,
    reason: String,
}

/// A job's refund events as its commit projects them. Rows are keyed by
/// (refund, event) and only inserted, so a commit that brings nothing new
/// writes nothing and `recorded_at` is the commit that first brought it.
#[derive(Debug)]
pub struct RefundProjection {
    job_id: JobId,
    events: Vec<NewEvent>,
}

#[async_trait]
impl Projection for RefundProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "refund projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        for e in &self.events {
            tx.execute(
                Query::new(
                    "INSERT INTO refund_events (refund_id, event, job_id, kind, against_id, \
                         amount, approval, actor_id, actor_role, reason, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (refund_id, event) DO NOTHING",
                )
                .bind(e.refund)
                .bind(e.event)
                .bind(self.job_id)
                .bind(e.kind)
                .bind(e.against)
                .bind(e.amount)
                .bind(e.approval)
                .bind(e.actor)
                .bind(e.role)
                .bind(e.reason.as_str())
                .bind(now),
            )
            .await?;
        }
        Ok(())
    }
}

fn events_of(r: &Refund) -> impl Iterator<Item = NewEvent> {
    let given = NewEvent {
        refund: r.id,
        event: "given",
        kind: r.kind.as_str(),
        against: r.against,
        amount: r.amount.0,
        approval: r.approval.as_str(),
        actor: r.by,
        role: Some(r.role),
        reason: r.reason.clone(),
    };
    let decided = r.decision.as_ref().map(|d| NewEvent {
        event: match d.decision {
            Decision::Approved => "approved",
            Decision::Declined => "declined",
        },
        actor: d.by,
        role: None,
        reason: d.reason.clone(),
        ..given.clone()
    });
    std::iter::once(given).chain(decided)
}

/// Audits every refund line of a job (jobs without any project nothing).
pub struct RefundProjector;

impl JobProjector for RefundProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        if c.job.refunds.is_empty() {
            return None;
        }
        Some(Arc::new(RefundProjection {
            job_id: c.job.id,
            events: c.job.refunds.iter().flat_map(events_of).collect(),
        }))
    }
}

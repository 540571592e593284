//! The `shipments` table, written once for both databases, and the
//! transaction that takes a step: the shipment row is locked, the step
//! planned by [`super::model::plan`], its ledger movement appended through
//! the ledger's own [`append`](crate::inventory::store::append) and the row
//! updated together, so the status, the balances and the serial trail
//! never disagree.

use async_trait::async_trait;
use fieldsync_core::{LocationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::*;
use crate::inventory::model::{NewMovement, serials_from_json, serials_json};
use crate::store::sql::{Conn, Query, QueryBuilder, Row};
use crate::store::{Db, Result, SqlStore, StoreError, now_utc};

/// Whether an order was stored by this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ordered {
    Created(Shipment),
    /// The same id with the same order: a retry.
    Replayed(Shipment),
    /// The same id with another order.
    IdReused,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// Taken now (its movement, if any, appended).
    Applied(Shipment),
    /// Taken before: nothing changed.
    Replayed(Shipment),
}

/// Why a step was refused (nothing was written).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepRefused {
    #[error("no such shipment")]
    NotFound,
    #[error(transparent)]
    NotNow(#[from] NotNow),
    /// Dispatch: the depot does not hold the units.
    #[error("{0}")]
    NotInStock(String),
}

/// Which shipments to list; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct ShipmentFilter {
    /// Leaving from one of these depots.
    pub depots: Option<Vec<LocationId>>,
    pub customer: Option<Uuid>,
    /// In one of these statuses.
    pub statuses: Option<Vec<ShipmentStatus>>,
    pub limit: Option<u32>,
}

#[async_trait]
pub trait ShipmentStore: Send + Sync {
    /// Stores a new order (status `ordered`); idempotent by id.
    async fn order_shipment(&self, s: &Shipment) -> Result<Ordered>;
    async fn shipment(&self, id: Uuid) -> Result<Option<Shipment>>;
    /// Newest first.
    async fn shipments(&self, f: &ShipmentFilter) -> Result<Vec<Shipment>>;
    /// Takes `step` (with `tracking` for a dispatch) in one transaction.
    async fn step_shipment(
        &self,
        id: Uuid,
        step: Step,
        tracking: Option<&Tracking>,
        actor: UserId,
    ) -> Result<std::result::Result<Stepped, StepRefused>>;
    /// Sets the tracking reference of a shipment not yet delivered or cancelled.
    async fn set_tracking(
        &self,
        id: Uuid,
        tracking: &Tracking,
    ) -> Result<std::result::Result<Shipment, StepRefused>>;
}

const COLS: &str = "SELECT id, customer_id, site_id, depot_id, sku, quantity, serials, job_id, \
     note, status, carrier, tracking_ref, ordered_by, ordered_at, picked_at, dispatched_at, \
     delivered_at, cancelled_at, updated_at, fingerprint FROM shipments";

fn shipment_from(r: &Row) -> Result<Shipment> {
    let carrier: Option<String> = r.get("carrier")?;
    let reference: Option<String> = r.get("tracking_ref")?;
    let serials: String = r.get("serials")?;
    Ok(Shipment {
        id: r.get("id")?,
        customer_id: r.get("customer_id")?,
        site_id: r.get("site_id")?,
        depot_id: r.get("depot_id")?,
        sku: r.get("sku")?,
        quantity: r.get("quantity")?,
        serials: serials_from_json(&serials).map_err(|e| StoreError::corrupt("serials", e))?,
        job_id: r.get("job_id")?,
        note: r.get("note")?,
        status: r.get("status")?,
        tracking: carrier
            .zip(reference)
            .map(|(carrier, reference)| Tracking { carrier, reference }),
        ordered_by: r.get("ordered_by")?,
        ordered_at: r.get("ordered_at")?,
        picked_at: r.get("picked_at")?,
        dispatched_at: r.get("dispatched_at")?,
        delivered_at: r.get("delivered_at")?,
        cancelled_at: r.get("cancelled_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// The shipment, its row locked until the transaction ends (PostgreSQL;
/// a SQLite write transaction holds the database).
async fn locked(conn: &mut dyn Conn, id: Uuid) -> Result<Option<Shipment>> {
    let q = conn
        .dialect()
        .locked(
            "SELECT id, customer_id, site_id, depot_id, sku, quantity, serials, job_id, \
             note, status, carrier, tracking_ref, ordered_by, ordered_at, picked_at, \
             dispatched_at, delivered_at, cancelled_at, updated_at, fingerprint \
             FROM shipments WHERE id = $1",
            "FOR UPDATE",
        )
        .bind(id);
    conn.fetch_optional(q)
        .await?
        .map(|r| shipment_from(&r))
        .transpose()
}

/// The depot's transit holding, made at its first dispatch.
async fn ensure_transit(
    conn: &mut dyn Conn,
    depot: LocationId,
    now: OffsetDateTime,
) -> Result<LocationId> {
    let id = transit_of(depot);
    let name: String = conn
        .fetch_one(Query::new("SELECT name FROM locations WHERE id = $1").bind(depot))
        .await?
        .get("name")?;
    conn.execute(
        Query::new(
            "INSERT INTO locations (id, kind, name, depot_id, technician_id, created_at) \
             VALUES ($1, 'transit', $2, $3, NULL, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(format!("{name}: in transit to customers"))
        .bind(depot)
        .bind(now),
    )
    .await?;
    Ok(id)
}

/// Whether each of the shipment's serials is on the depot's shelf (the
/// serial rows locked until the transaction ends, so two shipments of one
/// unit cannot both take it).
async fn serials_on_shelf(
    conn: &mut dyn Conn,
    s: &Shipment,
) -> Result<std::result::Result<(), StepRefused>> {
    for serial in &s.serials {
        let q = conn
            .dialect()
            .locked(
                "SELECT location_id FROM serials WHERE sku = $1 AND serial = $2",
                "FOR UPDATE",
            )
            .bind(&s.sku)
            .bind(serial.as_str());
        let at: Option<LocationId> = match conn.fetch_optional(q).await? {
            Some(r) => r.get("location_id")?,
            None => None,
        };
        if at != Some(s.depot_id) {
            return Ok(Err(StepRefused::NotInStock(format!(
                "serial {serial} is not at the depot"
            ))));
        }
    }
    Ok(Ok(()))
}

/// After the dispatch's movement: the depot's balance may not have gone
/// below zero. Checked after `append`, whose upserts lock the balance rows
/// in location order, so concurrent dispatches (and cancellations) queue
/// on the same rows in the same order and one of two racing for the last
/// units sees the other's result.
async fn shelf_held(
    conn: &mut dyn Conn,
    s: &Shipment,
) -> Result<std::result::Result<(), StepRefused>> {
    let left: i64 = conn
        .fetch_one(
            Query::new("SELECT quantity FROM stock_balances WHERE location_id = $1 AND sku = $2")
                .bind(s.depot_id)
                .bind(&s.sku),
        )
        .await?
        .get("quantity")?;
    if left < 0 {
        return Ok(Err(StepRefused::NotInStock(format!(
            "the depot holds {} of {} (the shipment needs {})",
            left + s.quantity,
            s.sku,
            s.quantity
        ))));
    }
    Ok(Ok(()))
}

async fn step_once(
    db: &Db,
    id: Uuid,
    step: Step,
    tracking: Option<&Tracking>,
    actor: UserId,
) -> Result<std::result::Result<Stepped, StepRefused>> {
    let mut tx = db.begin().await?;
    let Some(s) = locked(tx.as_mut(), id).await? else {
        return Ok(Err(StepRefused::NotFound));
    };
    let now = now_utc();
    let planned = match plan(s.status, step) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.into())),
    };
    let (to, movement) = match planned {
        Plan::Done => {
            // A dispatch retried with another tracking reference corrects it.
            if let Some(t) = tracking.filter(|t| s.tracking.as_ref() != Some(*t)) {
                write_tracking(tx.as_mut(), id, t, now).await?;
                let s = locked(tx.as_mut(), id).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                return Ok(Ok(Stepped::Applied(s)));
            }
            return Ok(Ok(Stepped::Replayed(s)));
        }
        Plan::Go { to, movement } => (to, movement),
    };
    if let Some(m) = movement {
        let (from, dest) = match m {
            Move::Ship => {
                if let Err(e) = serials_on_shelf(tx.as_mut(), &s).await? {
                    return Ok(Err(e));
                }
                (
                    Some(s.depot_id),
                    Some(ensure_transit(tx.as_mut(), s.depot_id, now).await?),
                )
            }
            Move::Deliver => (Some(transit_of(s.depot_id)), None),
            Move::Return => (Some(transit_of(s.depot_id)), Some(s.depot_id)),
        };
        let movement = NewMovement {
            id: s.movement_id(m),
            kind: m.kind(),
            sku: s.sku.clone(),
            quantity: s.quantity,
            from,
            to: dest,
            reason: None,
            serials: s.serials.clone(),
            job_id: s.job_id,
            line_id: None,
            note: format!(
                "shipment {} to customer {} site {}",
                s.id, s.customer_id, s.site_id
            ),
            actor: Some(actor),
        };
        // Under the row lock the status and the movement change together,
        // so the step's (derived) movement id is never there yet.
        crate::inventory::store::append(tx.as_mut(), &movement, now).await?;
        if m == Move::Ship {
            // A refusal drops the transaction: the movement is rolled back.
            if let Err(e) = shelf_held(tx.as_mut(), &s).await? {
                return Ok(Err(e));
            }
        }
    }
    let stamp = match to {
        ShipmentStatus::Picked => "picked_at",
        ShipmentStatus::InTransit => "dispatched_at",
        ShipmentStatus::Delivered => "delivered_at",
        ShipmentStatus::Cancelled => "cancelled_at",
        ShipmentStatus::Ordered => "updated_at",
    };
    let mut q = QueryBuilder::new("UPDATE shipments SET status = ");
    q.push_bind(to)
        .push(", updated_at = ")
        .push_bind(now)
        .push(", ")
        .push(stamp)
        .push(" = ")
        .push_bind(now)
        .push(" WHERE id = ")
        .push_bind(id);
    tx.execute(q.build()).await?;
    if let Some(t) = tracking {
        write_tracking(tx.as_mut(), id, t, now).await?;
    }
    let s = locked(tx.as_mut(), id).await?.ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(Ok(Stepped::Applied(s)))
}

async fn write_tracking(
    conn: &mut dyn Conn,
    id: Uuid,
    t: &Tracking,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        Query::new(
            "UPDATE shipments SET carrier = $1, tracking_ref = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(t.carrier.as_str())
        .bind(t.reference.as_str())
        .bind(now)
        .bind(id),
    )
    .await?;
    Ok(())
}

async fn tracking_once(
    db: &Db,
    id: Uuid,
    t: &Tracking,
) -> Result<std::result::Result<Shipment, StepRefused>> {
    let mut tx = db.begin().await?;
    let Some(s) = locked(tx.as_mut(), id).await? else {
        return Ok(Err(StepRefused::NotFound));
    };
    if !s.tracking_editable() {
        return Ok(Err(StepRefused::NotNow(NotNow {
            status: s.status,
            step: "given a new tracking reference",
        })));
    }
    if s.tracking.as_ref() == Some(t) {
        return Ok(Ok(s));
    }
    write_tracking(tx.as_mut(), id, t, now_utc()).await?;
    let s = locked(tx.as_mut(), id).await?.ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(Ok(s))
}

#[async_trait]
impl ShipmentStore for SqlStore {
    async fn order_shipment(&self, s: &Shipment) -> Result<Ordered> {
        let inserted = self
            .db()
            .execute(
                Query::new(
                    "INSERT INTO shipments (id, customer_id, site_id, depot_id, sku, quantity, \
                         serials, job_id, note, status, fingerprint, ordered_by, ordered_at, \
                         updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(s.id)
                .bind(s.customer_id)
                .bind(s.site_id)
                .bind(s.depot_id)
                .bind(&s.sku)
                .bind(s.quantity)
                .bind(serials_json(&s.serials))
                .bind(s.job_id)
                .bind(s.note.as_str())
                .bind(s.status)
                .bind(s.fingerprint().to_vec())
                .bind(s.ordered_by)
                .bind(s.ordered_at)
                .bind(s.updated_at),
            )
            .await?;
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE id = ").push_bind(s.id);
        let row = self.db().fetch_one(q.build()).await?;
        let stored = shipment_from(&row)?;
        if inserted == 1 {
            return Ok(Ordered::Created(stored));
        }
        let fingerprint: Vec<u8> = row.get("fingerprint")?;
        Ok(if fingerprint == s.fingerprint() {
            Ordered::Replayed(stored)
        } else {
            Ordered::IdReused
        })
    }

    async fn shipment(&self, id: Uuid) -> Result<Option<Shipment>> {
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE id = ").push_bind(id);
        self.db()
            .fetch_optional(q.build())
            .await?
            .map(|r| shipment_from(&r))
            .transpose()
    }

    async fn shipments(&self, f: &ShipmentFilter) -> Result<Vec<Shipment>> {
        let mut q = QueryBuilder::new(COLS);
        q.push(" WHERE 1 = 1");
        if let Some(depots) = &f.depots {
            if depots.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND depot_id IN (")
                .push_list(depots.iter().copied())
                .push(")");
        }
        if let Some(c) = f.customer {
            q.push(" AND customer_id = ").push_bind(c);
        }
        if let Some(statuses) = &f.statuses {
            if statuses.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND status IN (")
                .push_list(statuses.iter().copied())
                .push(")");
        }
        q.push(" ORDER BY ordered_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.unwrap_or(200).clamp(1, 1_000)));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(shipment_from).collect()
    }

    async fn step_shipment(
        &self,
        id: Uuid,
        step: Step,
        tracking: Option<&Tracking>,
        actor: UserId,
    ) -> Result<std::result::Result<Stepped, StepRefused>> {
        self.db()
            .retry(|| step_once(self.db(), id, step, tracking, actor))
            .await
    }

    async fn set_tracking(
        &self,
        id: Uuid,
        tracking: &Tracking,
    ) -> Result<std::result::Result<Shipment, StepRefused>> {
        self.db()
            .retry(|| tracking_once(self.db(), id, tracking))
            .await
    }
}

//! Inventory storage: the [`InventoryStore`] trait, its SQL (once for every
//! backend), and the projection that applies a synced job's part lines to
//! the ledger inside the job's commit.
//!
//! Movements are applied one transaction at a time per balance row: on
//! SQLite the write transaction holds the database; on PostgreSQL balance
//! rows are updated with atomic upserts in location order (row locks, no
//! lost updates, no deadlock between movements), and serialization
//! failures are retried by [`Db::retry`].

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::{JobId, LocationId, Sku, UserId};
use time::OffsetDateTime;

use super::consumption::{from_job, plan_line};
use super::ledger::{check_serials, check_shape, deltas};
use super::model::*;
use crate::documents::{JobCommit, JobProjector};
use crate::store::sql::{Conn, Kind, Query, QueryBuilder, Row, ToSql, Tx, Value};
use crate::store::{Db, Projection, Result, SqlStore, StoreError, now_utc};

/// Inventory storage. Lists return every row (the callers filter by
/// access): depots, vans and parts number in the hundreds, not millions.
/// Movements are listed with a filter and a limit.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    async fn create_location(&self, location: &Location) -> Result<()>;
    async fn locations(&self) -> Result<Vec<Location>>;
    /// Assigns (or with `None` unassigns) a van's technician.
    /// `Conflict` if the technician already has another van.
    async fn assign_technician(&self, van: LocationId, technician: Option<UserId>) -> Result<()>;
    /// The van assigned to a technician, if any.
    async fn technician_van(&self, technician: UserId) -> Result<Option<LocationId>>;
    /// Idempotent.
    async fn add_depot_staff(&self, user: UserId, depot: LocationId) -> Result<()>;
    /// Every (user, depot) pair.
    async fn depot_staff(&self) -> Result<Vec<(UserId, LocationId)>>;

    /// Creates or updates a part.
    async fn upsert_part(&self, part: &Part) -> Result<()>;
    async fn parts(&self) -> Result<Vec<Part>>;
    async fn set_reorder_rule(&self, rule: &ReorderRule) -> Result<()>;
    async fn reorder_rules(&self) -> Result<Vec<ReorderRule>>;

    /// Appends a client's movement and updates balances and serials, in one
    /// transaction (retried on serialization failures). Idempotent by id.
    async fn record_movement(
        &self,
        m: &NewMovement,
    ) -> Result<std::result::Result<Recorded, Refused>>;
    /// Newest first.
    async fn movements(&self, filter: &MovementFilter) -> Result<Vec<Movement>>;
    /// Every non-zero maintained balance.
    async fn balances(&self) -> Result<Vec<Balance>>;
    /// Balances recomputed from the movements (for checks): must equal [`Self::balances`].
    async fn balances_from_movements(&self) -> Result<Vec<Balance>>;
    async fn serial_units(&self, sku: Option<&Sku>) -> Result<Vec<SerialUnit>>;
    /// One van's balances and serialized units (indexed by location, so a
    /// van refresh reads that van only); `None` if `van` is not a van.
    async fn van_stock(&self, van: LocationId) -> Result<Option<LocationStock>>;
    async fn serial_fits(&self) -> Result<Vec<SerialFit>>;
    async fn applied_lines(&self, job: Option<JobId>) -> Result<Vec<AppliedLine>>;
}

crate::sql_text!(LocationKind, MovementKind, AdjustReason);

/// Serial lists are stored as JSON text.
struct Serials<'a>(&'a [String]);

impl<'a> ToSql<'a> for Serials<'_> {
    const KIND: Kind = Kind::Text;
    fn to_sql(self) -> Value<'a> {
        Value::Text(serials_json(self.0).into())
    }
}

fn serials(row: &Row, column: &str) -> Result<Vec<String>> {
    let s: String = row.get(column)?;
    serials_from_json(&s).map_err(|e| StoreError::corrupt(column, e))
}

const LOCATION_COLS: &str =
    "SELECT id, kind, name, depot_id, technician_id, created_at FROM locations";
const MOVEMENT_COLS: &str = "SELECT id, kind, sku, quantity, from_location, to_location, reason, \
     serials, job_id, line_id, note, actor_id, created_at, fingerprint FROM stock_movements";
const LINE_COLS: &str = "SELECT line_id, job_id, van_id, sku, quantity, serials, revision, \
     problem, updated_at FROM job_part_lines";

fn location_from(r: &Row) -> Result<Location> {
    Ok(Location {
        id: r.get("id")?,
        kind: r.get("kind")?,
        name: r.get("name")?,
        depot_id: r.get("depot_id")?,
        technician_id: r.get("technician_id")?,
        created_at: r.get("created_at")?,
    })
}

fn movement_from(r: &Row) -> Result<Movement> {
    Ok(Movement {
        movement: NewMovement {
            id: r.get("id")?,
            kind: r.get("kind")?,
            sku: r.get("sku")?,
            quantity: r.get("quantity")?,
            from: r.get("from_location")?,
            to: r.get("to_location")?,
            reason: r.get("reason")?,
            serials: serials(r, "serials")?,
            job_id: r.get("job_id")?,
            line_id: r.get("line_id")?,
            note: r.get("note")?,
            actor: r.get("actor_id")?,
        },
        created_at: r.get("created_at")?,
    })
}

fn balance_from(r: &Row) -> Result<Balance> {
    Ok(Balance {
        location_id: r.get("location_id")?,
        sku: r.get("sku")?,
        quantity: r.get("quantity")?,
    })
}

fn serial_from(r: &Row) -> Result<SerialUnit> {
    Ok(SerialUnit {
        sku: r.get("sku")?,
        serial: r.get("serial")?,
        location_id: r.get("location_id")?,
        job_id: r.get("job_id")?,
        line_id: r.get("line_id")?,
        updated_at: r.get("updated_at")?,
    })
}

fn applied_from(r: &Row) -> Result<AppliedLine> {
    Ok(AppliedLine {
        line_id: r.get("line_id")?,
        job_id: r.get("job_id")?,
        van_id: r.get("van_id")?,
        sku: r.get("sku")?,
        quantity: r.get("quantity")?,
        serials: serials(r, "serials")?,
        revision: r.get("revision")?,
        problem: r.get("problem")?,
        updated_at: r.get("updated_at")?,
    })
}

async fn location_kind(conn: &mut dyn Conn, id: LocationId) -> Result<Option<LocationKind>> {
    conn.fetch_optional(Query::new("SELECT kind FROM locations WHERE id = $1").bind(id))
        .await?
        .map(|r| r.get("kind"))
        .transpose()
}

async fn part_serialized(conn: &mut dyn Conn, sku: &Sku) -> Result<Option<bool>> {
    conn.fetch_optional(Query::new("SELECT serialized FROM parts WHERE sku = $1").bind(sku))
        .await?
        .map(|r| r.get("serialized"))
        .transpose()
}

/// Where the ledger has a serialized unit: `None` if it does not know the
/// serial, `Some(None)` if the unit is fitted on a job.
async fn serial_location(
    conn: &mut dyn Conn,
    sku: &Sku,
    serial: &str,
) -> Result<Option<Option<LocationId>>> {
    conn.fetch_optional(
        Query::new("SELECT location_id FROM serials WHERE sku = $1 AND serial = $2")
            .bind(sku)
            .bind(serial),
    )
    .await?
    .map(|r| r.get("location_id"))
    .transpose()
}

/// Inserts a movement and applies it to balances and serials. `false`: the
/// id exists already (the caller compares). Recalls append their
/// quarantine movements with it, in their own transaction.
pub(crate) async fn append(
    conn: &mut dyn Conn,
    m: &NewMovement,
    now: OffsetDateTime,
) -> Result<bool> {
    let done = conn
        .execute(
            Query::new(
                "INSERT INTO stock_movements (id, kind, sku, quantity, from_location, \
                     to_location, reason, serials, job_id, line_id, note, actor_id, \
                     fingerprint, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(m.id)
            .bind(m.kind)
            .bind(&m.sku)
            .bind(m.quantity)
            .bind(m.from)
            .bind(m.to)
            .bind(m.reason)
            .bind(Serials(&m.serials))
            .bind(m.job_id)
            .bind(m.line_id)
            .bind(&m.note)
            .bind(m.actor)
            .bind(m.fingerprint().to_vec())
            .bind(now),
        )
        .await?;
    if done == 0 {
        return Ok(false);
    }
    for (location, delta) in deltas(m) {
        conn.execute(
            Query::new(
                "INSERT INTO stock_balances (location_id, sku, quantity) VALUES ($1, $2, $3) \
                 ON CONFLICT (location_id, sku) DO UPDATE \
                 SET quantity = stock_balances.quantity + excluded.quantity",
            )
            .bind(location)
            .bind(&m.sku)
            .bind(delta),
        )
        .await?;
    }
    // Units arriving somewhere are there now; units consumed are on the job.
    let (job, line) = match m.to {
        None => (m.job_id, m.line_id),
        Some(_) => (None, None),
    };
    for serial in &m.serials {
        conn.execute(
            Query::new(
                "INSERT INTO serials (sku, serial, location_id, job_id, line_id, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (sku, serial) DO UPDATE SET location_id = excluded.location_id, \
                     job_id = excluded.job_id, line_id = excluded.line_id, \
                     updated_at = excluded.updated_at",
            )
            .bind(&m.sku)
            .bind(serial)
            .bind(m.to)
            .bind(job)
            .bind(line)
            .bind(now),
        )
        .await?;
    }
    Ok(true)
}

/// The stored movement with `m`'s id: a replay if its content is the same.
async fn existing(
    conn: &mut dyn Conn,
    m: &NewMovement,
) -> Result<std::result::Result<Recorded, Refused>> {
    let mut q = QueryBuilder::new(MOVEMENT_COLS);
    q.push(" WHERE id = ").push_bind(m.id);
    let row = conn.fetch_one(q.build()).await?;
    let fingerprint: Vec<u8> = row.get("fingerprint")?;
    if fingerprint == m.fingerprint() {
        Ok(Ok(Recorded::Replayed(movement_from(&row)?)))
    } else {
        Ok(Err(Refused::IdReused(m.id)))
    }
}

/// A client's movement: checked against the ledger, then appended.
async fn record(
    conn: &mut dyn Conn,
    m: &NewMovement,
) -> Result<std::result::Result<Recorded, Refused>> {
    if conn
        .exists(Query::new("SELECT 1 FROM stock_movements WHERE id = $1").bind(m.id))
        .await?
    {
        return existing(conn, m).await;
    }
    let Some(serialized) = part_serialized(conn, &m.sku).await? else {
        return Ok(Err(Refused::UnknownSku(m.sku.clone())));
    };
    let mut kinds = [None, None];
    for (i, l) in [m.from, m.to].into_iter().enumerate() {
        if let Some(l) = l {
            match location_kind(conn, l).await? {
                Some(k) => kinds[i] = Some(k),
                None => return Ok(Err(Refused::UnknownLocation(l))),
            }
        }
    }
    if let Err(e) = check_shape(m, kinds[0], kinds[1]).and_then(|()| check_serials(m, serialized)) {
        return Ok(Err(e));
    }
    for serial in &m.serials {
        let at = serial_location(conn, &m.sku, serial).await?.flatten();
        match (m.from, at) {
            (Some(from), at) if at != Some(from) => {
                return Ok(Err(Refused::Invalid(format!(
                    "serial {serial} is not at the source location"
                ))));
            }
            (None, Some(_)) => {
                return Ok(Err(Refused::Invalid(format!(
                    "serial {serial} is already in stock"
                ))));
            }
            _ => {}
        }
    }
    if !append(conn, m, now_utc()).await? {
        return existing(conn, m).await;
    }
    existing(conn, m)
        .await
        .map(|r| r.map(|r| Recorded::Applied(r.movement().clone())))
}

async fn record_once(db: &Db, m: &NewMovement) -> Result<std::result::Result<Recorded, Refused>> {
    let mut tx = db.begin().await?;
    let out = record(tx.as_mut(), m).await?;
    // A refusal wrote nothing: the transaction just rolls back.
    if out.is_ok() {
        tx.commit().await?;
    }
    Ok(out)
}

/// Applies a merged job's part lines to the ledger, inside the job's
/// commit (see [`crate::inventory::consumption`]): device facts are
/// recorded, never refused.
async fn apply_consumption(
    conn: &mut dyn Conn,
    c: &JobConsumption,
    now: OffsetDateTime,
) -> Result<()> {
    for line in &c.lines {
        let mut q = QueryBuilder::new(LINE_COLS);
        q.push(" WHERE line_id = ").push_bind(line.line_id);
        let applied = conn
            .fetch_optional(q.build())
            .await?
            .map(|r| applied_from(&r))
            .transpose()?;
        let van_ok = location_kind(conn, line.van).await? == Some(LocationKind::Van);
        let sku_ok = part_serialized(conn, &line.sku).await?.is_some();
        let plan = plan_line(c.job_id, applied.as_ref(), line, van_ok && sku_ok);
        if !plan.changed {
            continue;
        }
        for m in &plan.movements {
            // Serials are tracked through fits below, not through the movement.
            let bare = NewMovement {
                serials: Vec::new(),
                ..m.clone()
            };
            append(conn, &bare, now).await?;
            conn.execute(
                Query::new("UPDATE stock_movements SET serials = $1 WHERE id = $2")
                    .bind(Serials(&m.serials))
                    .bind(m.id),
            )
            .await?;
        }
        for serial in &plan.unfit {
            conn.execute(
                Query::new(
                    "UPDATE serial_fits SET voided_at = $1 \
                     WHERE sku = $2 AND serial = $3 AND line_id = $4 AND voided_at IS NULL",
                )
                .bind(now)
                .bind(&line.sku)
                .bind(serial)
                .bind(line.line_id),
            )
            .await?;
            conn.execute(
                Query::new(
                    "UPDATE serials SET location_id = $1, job_id = NULL, line_id = NULL, \
                         updated_at = $2 \
                     WHERE sku = $3 AND serial = $4 AND line_id = $5",
                )
                .bind(line.van)
                .bind(now)
                .bind(&line.sku)
                .bind(serial)
                .bind(line.line_id),
            )
            .await?;
        }
        for serial in &plan.fit {
            let at = serial_location(conn, &line.sku, serial).await?;
            conn.execute(
                Query::new(
                    "INSERT INTO serial_fits \
                         (sku, serial, line_id, job_id, van_id, found_at, known, fitted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (sku, serial, line_id) DO UPDATE SET voided_at = NULL, \
                         found_at = excluded.found_at, known = excluded.known, \
                         fitted_at = excluded.fitted_at",
                )
                .bind(&line.sku)
                .bind(serial)
                .bind(line.line_id)
                .bind(c.job_id)
                .bind(line.van)
                .bind(at.flatten())
                .bind(at.is_some())
                .bind(now),
            )
            .await?;
            conn.execute(
                Query::new(
                    "INSERT INTO serials (sku, serial, location_id, job_id, line_id, updated_at) \
                     VALUES ($1, $2, NULL, $3, $4, $5) \
                     ON CONFLICT (sku, serial) DO UPDATE SET location_id = NULL, \
                         job_id = excluded.job_id, line_id = excluded.line_id, \
                         updated_at = excluded.updated_at",
                )
                .bind(&line.sku)
                .bind(serial)
                .bind(c.job_id)
                .bind(line.line_id)
                .bind(now),
            )
            .await?;
        }
        let problem = if !van_ok {
            Some("unknown_van")
        } else if !sku_ok {
            Some("unknown_sku")
        } else {
            None
        };
        conn.execute(
            Query::new(
                "INSERT INTO job_part_lines \
                     (line_id, job_id, van_id, sku, quantity, serials, revision, problem, \
                      updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (line_id) DO UPDATE SET van_id = excluded.van_id, \
                     sku = excluded.sku, quantity = excluded.quantity, \
                     serials = excluded.serials, revision = excluded.revision, \
                     problem = excluded.problem, updated_at = excluded.updated_at",
            )
            .bind(line.line_id)
            .bind(c.job_id)
            .bind(line.van)
            .bind(&line.sku)
            .bind(plan.quantity)
            .bind(Serials(&plan.serials))
            .bind(plan.revision)
            .bind(problem)
            .bind(now),
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Projection for JobConsumption {
    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        apply_consumption(tx, self, now).await
    }
}

/// Applies every job commit's part lines to the ledger.
pub struct ConsumptionProjector;

impl JobProjector for ConsumptionProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        Some(Arc::new(from_job(c.job)))
    }
}

#[async_trait]
impl InventoryStore for SqlStore {
    async fn create_location(&self, l: &Location) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO locations (id, kind, name, depot_id, technician_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(l.id)
                .bind(l.kind)
                .bind(&l.name)
                .bind(l.depot_id)
                .bind(l.technician_id)
                .bind(l.created_at),
            )
            .await?;
        Ok(())
    }

    async fn locations(&self) -> Result<Vec<Location>> {
        let mut q = QueryBuilder::new(LOCATION_COLS);
        q.push(" ORDER BY kind, name, id");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(location_from).collect()
    }

    async fn assign_technician(&self, van: LocationId, technician: Option<UserId>) -> Result<()> {
        let done = self
            .db()
            .execute(
                Query::new(
                    "UPDATE locations SET technician_id = $1 WHERE id = $2 AND kind = 'van'",
                )
                .bind(technician)
                .bind(van),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn technician_van(&self, technician: UserId) -> Result<Option<LocationId>> {
        self.db()
            .fetch_optional(
                Query::new("SELECT id FROM locations WHERE kind = 'van' AND technician_id = $1")
                    .bind(technician),
            )
            .await?
            .map(|r| r.get("id"))
            .transpose()
    }

    async fn add_depot_staff(&self, user: UserId, depot: LocationId) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO depot_staff (user_id, depot_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(user)
                .bind(depot),
            )
            .await?;
        Ok(())
    }

    async fn depot_staff(&self) -> Result<Vec<(UserId, LocationId)>> {
        let rows = self
            .db()
            .fetch_all(Query::new("SELECT user_id, depot_id FROM depot_staff"))
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("user_id")?, r.get("depot_id")?)))
            .collect()
    }

    async fn upsert_part(&self, p: &Part) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO parts (sku, name, unit_cost_minor, serialized, created_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sku) DO UPDATE SET name = excluded.name, \
                         unit_cost_minor = excluded.unit_cost_minor, \
                         serialized = excluded.serialized",
                )
                .bind(&p.sku)
                .bind(&p.name)
                .bind(p.unit_cost_minor)
                .bind(p.serialized)
                .bind(now_utc()),
            )
            .await?;
        Ok(())
    }

    async fn parts(&self) -> Result<Vec<Part>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT sku, name, unit_cost_minor, serialized FROM parts ORDER BY sku",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Part {
                    sku: r.get("sku")?,
                    name: r.get("name")?,
                    unit_cost_minor: r.get("unit_cost_minor")?,
                    serialized: r.get("serialized")?,
                })
            })
            .collect()
    }

    async fn set_reorder_rule(&self, rule: &ReorderRule) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO reorder_rules (location_id, sku, reorder_point, reorder_quantity) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (location_id, sku) DO UPDATE SET \
                         reorder_point = excluded.reorder_point, \
                         reorder_quantity = excluded.reorder_quantity",
                )
                .bind(rule.location_id)
                .bind(&rule.sku)
                .bind(rule.reorder_point)
                .bind(rule.reorder_quantity),
            )
            .await?;
        Ok(())
    }

    async fn reorder_rules(&self) -> Result<Vec<ReorderRule>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT location_id, sku, reorder_point, reorder_quantity FROM reorder_rules",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReorderRule {
                    location_id: r.get("location_id")?,
                    sku: r.get("sku")?,
                    reorder_point: r.get("reorder_point")?,
                    reorder_quantity: r.get("reorder_quantity")?,
                })
            })
            .collect()
    }

    async fn record_movement(
        &self,
        m: &NewMovement,
    ) -> Result<std::result::Result<Recorded, Refused>> {
        self.db().retry(|| record_once(self.db(), m)).await
    }

    async fn movements(&self, f: &MovementFilter) -> Result<Vec<Movement>> {
        let mut q = QueryBuilder::new(MOVEMENT_COLS);
        q.push(" WHERE 1 = 1");
        if let Some(locs) = &f.locations {
            q.push(" AND (from_location IN (")
                .push_list(locs.iter().copied())
                .push(") OR to_location IN (")
                .push_list(locs.iter().copied())
                .push("))");
        }
        if let Some(sku) = &f.sku {
            q.push(" AND sku = ").push_bind(sku);
        }
        if let Some(j) = f.job_id {
            q.push(" AND job_id = ").push_bind(j);
        }
        if let Some(serial) = &f.serial {
            // The JSON list holds the serial as a JSON string; LIKE narrows
            // (case-insensitively on SQLite), the exact test is below.
            let quoted = serde_json::to_string(serial).expect("strings serialize");
            let escaped = quoted
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            q.push(" AND serials LIKE ")
                .push_bind(format!("%{escaped}%"))
                .push(" ESCAPE '\\'");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.unwrap_or(200).clamp(1, 10_000)));
        let rows = self.db().fetch_all(q.build()).await?;
        let mut out = rows.iter().map(movement_from).collect::<Result<Vec<_>>>()?;
        if let Some(serial) = &f.serial {
            out.retain(|m| m.movement.serials.contains(serial));
        }
        Ok(out)
    }

    async fn balances(&self) -> Result<Vec<Balance>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT location_id, sku, quantity FROM stock_balances WHERE quantity <> 0 \
                 ORDER BY location_id, sku",
            ))
            .await?;
        rows.iter().map(balance_from).collect()
    }

    async fn balances_from_movements(&self) -> Result<Vec<Balance>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT location_id, sku, CAST(sum(q) AS BIGINT) AS quantity FROM ( \
                   SELECT to_location AS location_id, sku, quantity AS q FROM stock_movements \
                   WHERE to_location IS NOT NULL \
                   UNION ALL \
                   SELECT from_location, sku, -quantity FROM stock_movements \
                   WHERE from_location IS NOT NULL) AS m \
                 GROUP BY location_id, sku HAVING sum(q) <> 0 ORDER BY location_id, sku",
            ))
            .await?;
        rows.iter().map(balance_from).collect()
    }

    async fn serial_units(&self, sku: Option<&Sku>) -> Result<Vec<SerialUnit>> {
        let mut q = QueryBuilder::new(
            "SELECT sku, serial, location_id, job_id, line_id, updated_at FROM serials",
        );
        if let Some(sku) = sku {
            q.push(" WHERE sku = ").push_bind(sku);
        }
        q.push(" ORDER BY sku, serial");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(serial_from).collect()
    }

    async fn van_stock(&self, van: LocationId) -> Result<Option<LocationStock>> {
        // One read transaction: balances and serials from the same instant.
        let mut tx = self.db().read_snapshot().await?;
        if location_kind(tx.as_mut(), van).await? != Some(LocationKind::Van) {
            return Ok(None);
        }
        let balances = tx
            .fetch_all(
                Query::new(
                    "SELECT location_id, sku, quantity FROM stock_balances \
                     WHERE location_id = $1 AND quantity <> 0 ORDER BY sku",
                )
                .bind(van),
            )
            .await?;
        let serials = tx
            .fetch_all(
                Query::new(
                    "SELECT sku, serial, location_id, job_id, line_id, updated_at FROM serials \
                     WHERE location_id = $1 ORDER BY sku, serial",
                )
                .bind(van),
            )
            .await?;
        tx.commit().await?;
        Ok(Some(LocationStock {
            balances: balances.iter().map(balance_from).collect::<Result<_>>()?,
            serials: serials.iter().map(serial_from).collect::<Result<_>>()?,
        }))
    }

    async fn serial_fits(&self) -> Result<Vec<SerialFit>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT sku, serial, line_id, job_id, van_id, found_at, known, fitted_at, \
                     voided_at \
                 FROM serial_fits ORDER BY sku, serial, fitted_at",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SerialFit {
                    sku: r.get("sku")?,
                    serial: r.get("serial")?,
                    line_id: r.get("line_id")?,
                    job_id: r.get("job_id")?,
                    van_id: r.get("van_id")?,
                    found_at: r.get("found_at")?,
                    known: r.get("known")?,
                    fitted_at: r.get("fitted_at")?,
                    voided_at: r.get("voided_at")?,
                })
            })
            .collect()
    }

    async fn applied_lines(&self, job: Option<JobId>) -> Result<Vec<AppliedLine>> {
        let mut q = QueryBuilder::new(LINE_COLS);
        if let Some(job) = job {
            q.push(" WHERE job_id = ").push_bind(job);
        }
        q.push(" ORDER BY job_id, line_id");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(applied_from).collect()
    }
}

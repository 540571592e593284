//! Inventory storage on PostgreSQL. Balance rows are updated with atomic
//! upserts in location order (row locks, no lost updates, no deadlock between
//! movements); serialization failures and deadlocks are retried by `write`.

use fieldsync_core::{LineId, LocationId, Sku};
use sqlx::PgConnection;

use super::*;
use crate::inventory::ledger::{check_serials, check_shape, deltas};
use crate::inventory::*;

fn loc(id: LocationId) -> Uuid {
    id.as_uuid()
}

fn opt_uuid(row: &PgRow, col: &str) -> Result<Option<Uuid>> {
    Ok(row.try_get::<Option<Uuid>, _>(col)?)
}

fn sku_col(row: &PgRow, col: &str) -> Result<Sku> {
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| StoreError::corrupt("sku", e))
}

fn parse_col<T: std::str::FromStr>(row: &PgRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| StoreError::corrupt(col, e))
}

fn serials_col(row: &PgRow, col: &str) -> Result<Vec<String>> {
    let s: String = row.try_get(col)?;
    serials_from_json(&s).map_err(|e| StoreError::corrupt(col, e))
}

fn location_from_row(r: &PgRow) -> Result<Location> {
    Ok(Location {
        id: LocationId::from_uuid(r.try_get("id")?),
        kind: parse_col(r, "kind")?,
        name: r.try_get("name")?,
        depot_id: opt_uuid(r, "depot_id")?.map(LocationId::from_uuid),
        technician_id: opt_uuid(r, "technician_id")?.map(UserId::from_uuid),
        created_at: r.try_get("created_at")?,
    })
}

fn movement_from_row(r: &PgRow) -> Result<Movement> {
    let reason: Option<String> = r.try_get("reason")?;
    Ok(Movement {
        movement: NewMovement {
            id: r.try_get("id")?,
            kind: parse_col(r, "kind")?,
            sku: sku_col(r, "sku")?,
            quantity: r.try_get("quantity")?,
            from: opt_uuid(r, "from_location")?.map(LocationId::from_uuid),
            to: opt_uuid(r, "to_location")?.map(LocationId::from_uuid),
            reason: reason
                .map(|s| s.parse().map_err(|e| StoreError::corrupt("reason", e)))
                .transpose()?,
            serials: serials_col(r, "serials")?,
            job_id: opt_uuid(r, "job_id")?.map(JobId::from_uuid),
            line_id: opt_uuid(r, "line_id")?.map(LineId::from_uuid),
            note: r.try_get("note")?,
            actor: opt_uuid(r, "actor_id")?.map(UserId::from_uuid),
        },
        created_at: r.try_get("created_at")?,
    })
}

fn balance_from_row(r: &PgRow) -> Result<Balance> {
    Ok(Balance {
        location_id: LocationId::from_uuid(r.try_get("location_id")?),
        sku: sku_col(r, "sku")?,
        quantity: r.try_get("quantity")?,
    })
}

fn serial_from_row(r: &PgRow) -> Result<SerialUnit> {
    Ok(SerialUnit {
        sku: sku_col(r, "sku")?,
        serial: r.try_get("serial")?,
        location_id: opt_uuid(r, "location_id")?.map(LocationId::from_uuid),
        job_id: opt_uuid(r, "job_id")?.map(JobId::from_uuid),
        line_id: opt_uuid(r, "line_id")?.map(LineId::from_uuid),
        updated_at: r.try_get("updated_at")?,
    })
}

fn applied_from_row(r: &PgRow) -> Result<AppliedLine> {
    Ok(AppliedLine {
        line_id: LineId::from_uuid(r.try_get("line_id")?),
        job_id: JobId::from_uuid(r.try_get("job_id")?),
        van_id: LocationId::from_uuid(r.try_get("van_id")?),
        sku: sku_col(r, "sku")?,
        quantity: r.try_get("quantity")?,
        serials: serials_col(r, "serials")?,
        revision: r.try_get("revision")?,
        problem: r.try_get("problem")?,
        updated_at: r.try_get("updated_at")?,
    })
}

macro_rules! movement_cols {
    () => {
        "id, kind, sku, quantity, from_location, to_location, reason, serials, job_id, line_id, \
         note, actor_id, created_at"
    };
}

async fn location_kind(conn: &mut PgConnection, id: LocationId) -> Result<Option<LocationKind>> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM locations WHERE id = $1")
        .bind(loc(id))
        .fetch_optional(&mut *conn)
        .await?;
    kind.map(|k| {
        k.parse()
            .map_err(|e: String| StoreError::corrupt("location kind", e))
    })
    .transpose()
}

async fn part_serialized(conn: &mut PgConnection, sku: &Sku) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT serialized FROM parts WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Inserts a movement and applies it to balances and serials. `Ok(None)`:
/// the id exists already (the caller compares).
async fn append(conn: &mut PgConnection, m: &NewMovement, now: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO stock_movements (id, kind, sku, quantity, from_location, to_location, reason, \
         serials, job_id, line_id, note, actor_id, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(m.id)
    .bind(m.kind.as_str())
    .bind(m.sku.as_str())
    .bind(m.quantity)
    .bind(m.from.map(loc))
    .bind(m.to.map(loc))
    .bind(m.reason.map(|r| r.as_str()))
    .bind(serials_json(&m.serials))
    .bind(m.job_id.map(|j| j.as_uuid()))
    .bind(m.line_id.map(|l| l.as_uuid()))
    .bind(&m.note)
    .bind(m.actor.map(|a| a.as_uuid()))
    .bind(&m.fingerprint()[..])
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (location, delta) in deltas(m) {
        sqlx::query(
            "INSERT INTO stock_balances (location_id, sku, quantity) VALUES ($1, $2, $3) \
             ON CONFLICT (location_id, sku) DO UPDATE SET quantity = stock_balances.quantity + excluded.quantity",
        )
        .bind(loc(location))
        .bind(m.sku.as_str())
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    }
    // Units arriving somewhere are there now; units consumed are on the job.
    for serial in &m.serials {
        sqlx::query(
            "INSERT INTO serials (sku, serial, location_id, job_id, line_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (sku, serial) DO UPDATE SET location_id = excluded.location_id, \
             job_id = excluded.job_id, line_id = excluded.line_id, updated_at = excluded.updated_at",
        )
        .bind(m.sku.as_str())
        .bind(serial)
        .bind(m.to.map(loc))
        .bind(m.to.is_none().then_some(m.job_id).flatten().map(|j| j.as_uuid()))
        .bind(m.to.is_none().then_some(m.line_id).flatten().map(|l| l.as_uuid()))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

async fn existing(
    conn: &mut PgConnection,
    m: &NewMovement,
) -> Result<std::result::Result<Recorded, Refused>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        movement_cols!(),
        ", fingerprint FROM stock_movements WHERE id = $1"
    ))
    .bind(m.id)
    .fetch_one(&mut *conn)
    .await?;
    let fingerprint: Vec<u8> = row.try_get("fingerprint")?;
    if fingerprint == m.fingerprint() {
        Ok(Ok(Recorded::Replayed(movement_from_row(&row)?)))
    } else {
        Ok(Err(Refused::IdReused(m.id)))
    }
}

async fn record_once(
    conn: &mut PgConnection,
    m: &NewMovement,
) -> Result<std::result::Result<Recorded, Refused>> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1::bigint FROM stock_movements WHERE id = $1")
            .bind(m.id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
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
        let at: Option<Option<Uuid>> =
            sqlx::query_scalar("SELECT location_id FROM serials WHERE sku = $1 AND serial = $2")
                .bind(m.sku.as_str())
                .bind(serial)
                .fetch_optional(&mut *conn)
                .await?;
        let at = at.flatten().map(LocationId::from_uuid);
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
    let now = now_utc();
    if !append(conn, m, now).await? {
        return existing(conn, m).await;
    }
    existing(conn, m)
        .await
        .map(|r| r.map(|r| Recorded::Applied(r.movement().clone())))
}

/// Applies a merged job's part lines to the ledger, inside the commit's
/// transaction (see [`crate::inventory::consumption`]).
pub(super) async fn apply_consumption(
    conn: &mut PgConnection,
    c: &JobConsumption,
    now: OffsetDateTime,
) -> Result<()> {
    use crate::inventory::consumption::plan_line;
    for line in &c.lines {
        let row = sqlx::query(
            "SELECT line_id, job_id, van_id, sku, quantity, serials, revision, problem, updated_at \
             FROM job_part_lines WHERE line_id = $1",
        )
        .bind(line.line_id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?;
        let applied = row.as_ref().map(applied_from_row).transpose()?;
        let van_ok = location_kind(conn, line.van).await? == Some(LocationKind::Van);
        let sku_ok = part_serialized(conn, &line.sku).await?.is_some();
        let plan = plan_line(c.job_id, applied.as_ref(), line, van_ok && sku_ok);
        if !plan.changed {
            continue;
        }
        for m in &plan.movements {
            // Device facts are recorded, never refused: serials are tracked
            // through fits below, not through the movement.
            let bare = NewMovement {
                serials: Vec::new(),
                ..m.clone()
            };
            append(conn, &bare, now).await?;
            sqlx::query("UPDATE stock_movements SET serials = $1 WHERE id = $2")
                .bind(serials_json(&m.serials))
                .bind(m.id)
                .execute(&mut *conn)
                .await?;
        }
        for serial in &plan.unfit {
            sqlx::query(
                "UPDATE serial_fits SET voided_at = $1 \
                 WHERE sku = $2 AND serial = $3 AND line_id = $4 AND voided_at IS NULL",
            )
            .bind(now)
            .bind(line.sku.as_str())
            .bind(serial)
            .bind(line.line_id.as_uuid())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE serials SET location_id = $1, job_id = NULL, line_id = NULL, updated_at = $2 \
                 WHERE sku = $3 AND serial = $4 AND line_id = $5",
            )
            .bind(loc(line.van))
            .bind(now)
            .bind(line.sku.as_str())
            .bind(serial)
            .bind(line.line_id.as_uuid())
            .execute(&mut *conn)
            .await?;
        }
        for serial in &plan.fit {
            let at: Option<Option<Uuid>> = sqlx::query_scalar(
                "SELECT location_id FROM serials WHERE sku = $1 AND serial = $2",
            )
            .bind(line.sku.as_str())
            .bind(serial)
            .fetch_optional(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO serial_fits (sku, serial, line_id, job_id, van_id, found_at, known, fitted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (sku, serial, line_id) DO UPDATE SET voided_at = NULL, \
                 found_at = excluded.found_at, known = excluded.known, fitted_at = excluded.fitted_at",
            )
            .bind(line.sku.as_str())
            .bind(serial)
            .bind(line.line_id.as_uuid())
            .bind(c.job_id.as_uuid())
            .bind(loc(line.van))
            .bind(at.flatten())
            .bind(at.is_some())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO serials (sku, serial, location_id, job_id, line_id, updated_at) \
                 VALUES ($1, $2, NULL, $3, $4, $5) \
                 ON CONFLICT (sku, serial) DO UPDATE SET location_id = NULL, job_id = excluded.job_id, \
                 line_id = excluded.line_id, updated_at = excluded.updated_at",
            )
            .bind(line.sku.as_str())
            .bind(serial)
            .bind(c.job_id.as_uuid())
            .bind(line.line_id.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let problem = if !van_ok {
            Some("unknown_van")
        } else if !sku_ok {
            Some("unknown_sku")
        } else {
            None
        };
        sqlx::query(
            "INSERT INTO job_part_lines (line_id, job_id, van_id, sku, quantity, serials, revision, problem, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (line_id) DO UPDATE SET van_id = excluded.van_id, sku = excluded.sku, \
             quantity = excluded.quantity, serials = excluded.serials, revision = excluded.revision, \
             problem = excluded.problem, updated_at = excluded.updated_at",
        )
        .bind(line.line_id.as_uuid())
        .bind(c.job_id.as_uuid())
        .bind(loc(line.van))
        .bind(line.sku.as_str())
        .bind(plan.quantity)
        .bind(serials_json(&plan.serials))
        .bind(plan.revision)
        .bind(problem)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl InventoryStore for PgStore {
    async fn create_location(&self, l: &Location) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO locations (id, kind, name, depot_id, technician_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(loc(l.id))
            .bind(l.kind.as_str())
            .bind(&l.name)
            .bind(l.depot_id.map(loc))
            .bind(l.technician_id.map(|t| t.as_uuid()))
            .bind(l.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn locations(&self) -> Result<Vec<Location>> {
        let rows = sqlx::query(
            "SELECT id, kind, name, depot_id, technician_id, created_at FROM locations ORDER BY kind, name, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(location_from_row).collect()
    }

    async fn assign_technician(&self, van: LocationId, technician: Option<UserId>) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(
                "UPDATE locations SET technician_id = $1 WHERE id = $2 AND kind = 'van'",
            )
            .bind(technician.map(|t| t.as_uuid()))
            .bind(loc(van))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn add_depot_staff(&self, user: UserId, depot: LocationId) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("INSERT INTO depot_staff (user_id, depot_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(user.as_uuid())
                .bind(loc(depot))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn depot_staff(&self) -> Result<Vec<(UserId, LocationId)>> {
        let rows = sqlx::query("SELECT user_id, depot_id FROM depot_staff")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId::from_uuid(r.try_get("user_id")?),
                    LocationId::from_uuid(r.try_get("depot_id")?),
                ))
            })
            .collect()
    }

    async fn upsert_part(&self, p: &Part) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO parts (sku, name, unit_cost_minor, serialized, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name, \
                 unit_cost_minor = excluded.unit_cost_minor, serialized = excluded.serialized",
            )
            .bind(p.sku.as_str())
            .bind(&p.name)
            .bind(p.unit_cost_minor)
            .bind(p.serialized)
            .bind(now_utc())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn parts(&self) -> Result<Vec<Part>> {
        let rows =
            sqlx::query("SELECT sku, name, unit_cost_minor, serialized FROM parts ORDER BY sku")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Part {
                    sku: sku_col(r, "sku")?,
                    name: r.try_get("name")?,
                    unit_cost_minor: r.try_get("unit_cost_minor")?,
                    serialized: r.try_get("serialized")?,
                })
            })
            .collect()
    }

    async fn set_reorder_rule(&self, rule: &ReorderRule) -> Result<()> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO reorder_rules (location_id, sku, reorder_point, reorder_quantity) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (location_id, sku) DO UPDATE SET \
                 reorder_point = excluded.reorder_point, reorder_quantity = excluded.reorder_quantity",
            )
            .bind(loc(rule.location_id))
            .bind(rule.sku.as_str())
            .bind(rule.reorder_point)
            .bind(rule.reorder_quantity)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn reorder_rules(&self) -> Result<Vec<ReorderRule>> {
        let rows = sqlx::query(
            "SELECT location_id, sku, reorder_point, reorder_quantity FROM reorder_rules",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReorderRule {
                    location_id: LocationId::from_uuid(r.try_get("location_id")?),
                    sku: sku_col(r, "sku")?,
                    reorder_point: r.try_get("reorder_point")?,
                    reorder_quantity: r.try_get("reorder_quantity")?,
                })
            })
            .collect()
    }

    async fn record_movement(
        &self,
        m: &NewMovement,
    ) -> Result<std::result::Result<Recorded, Refused>> {
        self.write(|| async {
            let mut tx = self.pool.begin().await?;
            let out = record_once(&mut tx, m).await?;
            if out.is_ok() {
                tx.commit().await?;
            }
            Ok(out)
        })
        .await
    }

    async fn movements(&self, f: &MovementFilter) -> Result<Vec<Movement>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            movement_cols!(),
            " FROM stock_movements WHERE TRUE"
        ));
        if let Some(locs) = &f.locations {
            q.push(" AND (from_location IN (");
            let mut s = q.separated(", ");
            for l in locs {
                s.push_bind(loc(*l));
            }
            q.push(") OR to_location IN (");
            let mut s = q.separated(", ");
            for l in locs {
                s.push_bind(loc(*l));
            }
            q.push("))");
        }
        if let Some(sku) = &f.sku {
            q.push(" AND sku = ").push_bind(sku.as_str().to_owned());
        }
        if let Some(j) = f.job_id {
            q.push(" AND job_id = ").push_bind(j.as_uuid());
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.unwrap_or(200).clamp(1, 10_000)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(movement_from_row).collect()
    }

    async fn balances(&self) -> Result<Vec<Balance>> {
        let rows = sqlx::query(
            "SELECT location_id, sku, quantity FROM stock_balances WHERE quantity <> 0 ORDER BY location_id, sku",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(balance_from_row).collect()
    }

    async fn balances_from_movements(&self) -> Result<Vec<Balance>> {
        let rows = sqlx::query(
            "SELECT location_id, sku, sum(q)::bigint AS quantity FROM ( \
               SELECT to_location AS location_id, sku, quantity AS q FROM stock_movements WHERE to_location IS NOT NULL \
               UNION ALL \
               SELECT from_location, sku, -quantity FROM stock_movements WHERE from_location IS NOT NULL) \
             AS m GROUP BY location_id, sku HAVING sum(q) <> 0 ORDER BY location_id, sku",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(balance_from_row).collect()
    }

    async fn serial_units(&self, sku: Option<&Sku>) -> Result<Vec<SerialUnit>> {
        let rows = sqlx::query(
            "SELECT sku, serial, location_id, job_id, line_id, updated_at FROM serials \
             WHERE $1::text IS NULL OR sku = $1 ORDER BY sku, serial",
        )
        .bind(sku.map(|s| s.as_str().to_owned()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(serial_from_row).collect()
    }

    async fn van_stock(&self, van: LocationId) -> Result<Option<LocationStock>> {
        let mut conn = self.pool.acquire().await?;
        let is_van = sqlx::query("SELECT 1 FROM locations WHERE id = $1 AND kind = 'van'")
            .bind(loc(van))
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if !is_van {
            return Ok(None);
        }
        let balances = sqlx::query(
            "SELECT location_id, sku, quantity FROM stock_balances \
             WHERE location_id = $1 AND quantity <> 0 ORDER BY sku",
        )
        .bind(loc(van))
        .fetch_all(&mut *conn)
        .await?;
        let serials = sqlx::query(
            "SELECT sku, serial, location_id, job_id, line_id, updated_at FROM serials \
             WHERE location_id = $1 ORDER BY sku, serial",
        )
        .bind(loc(van))
        .fetch_all(&mut *conn)
        .await?;
        Ok(Some(LocationStock {
            balances: balances
                .iter()
                .map(balance_from_row)
                .collect::<Result<_>>()?,
            serials: serials.iter().map(serial_from_row).collect::<Result<_>>()?,
        }))
    }

    async fn serial_fits(&self) -> Result<Vec<SerialFit>> {
        let rows = sqlx::query(
            "SELECT sku, serial, line_id, job_id, van_id, found_at, known, fitted_at, voided_at \
             FROM serial_fits ORDER BY sku, serial, fitted_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SerialFit {
                    sku: sku_col(r, "sku")?,
                    serial: r.try_get("serial")?,
                    line_id: LineId::from_uuid(r.try_get("line_id")?),
                    job_id: JobId::from_uuid(r.try_get("job_id")?),
                    van_id: LocationId::from_uuid(r.try_get("van_id")?),
                    found_at: opt_uuid(r, "found_at")?.map(LocationId::from_uuid),
                    known: r.try_get("known")?,
                    fitted_at: r.try_get("fitted_at")?,
                    voided_at: r.try_get("voided_at")?,
                })
            })
            .collect()
    }

    async fn applied_lines(&self, job: Option<JobId>) -> Result<Vec<AppliedLine>> {
        let rows = sqlx::query(
            "SELECT line_id, job_id, van_id, sku, quantity, serials, revision, problem, updated_at \
             FROM job_part_lines WHERE $1::uuid IS NULL OR job_id = $1 ORDER BY job_id, line_id",
        )
        .bind(job.map(|j| j.as_uuid()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(applied_from_row).collect()
    }
}

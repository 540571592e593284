//! The recall tables (`recall_campaigns`, `recall_assets`, `recall_units`),
//! written once for both databases, and the projection that records a
//! job's remedy in its commit.
//!
//! Quarantining appends a `quarantine` movement per unit through the
//! ledger's own [`append`](crate::inventory::store::append), in the same
//! transaction as the `recall_units` row, so the balance, the serial and
//! the campaign's record never disagree.

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::validate::Recalled;
use fieldsync_core::{DocId, JobId, LocationId, Sku, UserId};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::model::*;
use crate::documents::{JobCommit, JobProjector};
use crate::inventory::model::{MovementKind, NewMovement, serials_from_json, serials_json};
use crate::store::sql::{Query, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// Whether a campaign was stored by this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    Created,
    /// The same id with the same content: a retry.
    Replayed(Campaign),
    /// The same id with other content.
    IdReused,
}

#[async_trait]
pub trait RecallStore: Send + Sync {
    async fn create_campaign(&self, c: &Campaign) -> Result<Stored>;
    async fn campaign(&self, id: Uuid) -> Result<Campaign>;
    /// Newest first, at most 200.
    async fn campaigns(&self) -> Result<Vec<Campaign>>;
    /// The installed assets of `sku`.
    async fn product_assets(&self, sku: &Sku) -> Result<Vec<ProductAsset>>;
    /// Stock units of `sku` at a location (depot or van), as `(serial, location)`.
    async fn units_in_stock(&self, sku: &Sku) -> Result<Vec<(String, LocationId)>>;
    /// Quarantines these units of the campaign's sku: per unit still where
    /// it is listed, a `quarantine` movement out of that location and a
    /// `recall_units` row, in one transaction; a unit quarantined already
    /// (a retry) or moved meanwhile is skipped. Returns the locations whose
    /// stock changed.
    async fn quarantine(
        &self,
        c: &Campaign,
        units: &[(String, LocationId)],
        actor: UserId,
    ) -> Result<Vec<LocationId>>;
    /// Records that `job` remedies `asset` for the campaign; a second call
    /// for the same asset keeps the first job, which is returned.
    async fn link_asset(
        &self,
        campaign: Uuid,
        asset: Uuid,
        job: JobId,
        opened: bool,
    ) -> Result<JobId>;
    /// Every affected asset, with its customer, job status and remedy.
    async fn affected(&self, campaign: Uuid) -> Result<Vec<AffectedAsset>>;
    async fn quarantined(&self, campaign: Uuid) -> Result<Vec<QuarantinedUnit>>;
    /// The campaigns that affect `asset`, newest first, with its remedy.
    async fn asset_recalls(&self, asset: Uuid) -> Result<Vec<AssetRecallRow>>;
    /// Every unit under any campaign (what the sync validator refuses to fit).
    async fn recalled(&self) -> Result<Recalled>;
    /// Units quarantined at `location` (its van document lists them).
    async fn quarantined_at(&self, location: LocationId) -> Result<Vec<(Sku, String)>>;
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

const CAMPAIGN_COLS: &str = "SELECT id, sku, reason, remedy, compensation, serials, ranges, \
     created_by, created_at FROM recall_campaigns";

fn campaign_from(r: &Row) -> Result<Campaign> {
    let ranges: String = r.get("ranges")?;
    Ok(Campaign {
        id: r.get("id")?,
        sku: r.parse("sku")?,
        reason: r.get("reason")?,
        remedy: r.get("remedy")?,
        compensation: r.get("compensation")?,
        serials: serials_from_json(&r.get::<String>("serials")?)
            .map_err(|e| StoreError::corrupt("serials", e))?,
        ranges: serde_json::from_str(&ranges).map_err(|e| StoreError::corrupt("ranges", e))?,
        created_by: r.get("created_by")?,
        created_at: r.get("created_at")?,
    })
}

fn date_of(r: &Row) -> Result<Option<Date>> {
    r.get::<Option<String>>("committed_date")?
        .map(|d| Date::parse(&d, DATE).map_err(|e| StoreError::corrupt("committed_date", e)))
        .transpose()
}

async fn serial_at(conn: &mut dyn Tx, sku: &Sku, serial: &str) -> Result<Option<LocationId>> {
    Ok(conn
        .fetch_optional(
            Query::new("SELECT location_id FROM serials WHERE sku = $1 AND serial = $2")
                .bind(sku)
                .bind(serial),
        )
        .await?
        .map(|r| r.get::<Option<LocationId>>("location_id"))
        .transpose()?
        .flatten())
}

async fn quarantine_once(
    store: &SqlStore,
    c: &Campaign,
    units: &[(String, LocationId)],
    actor: UserId,
) -> Result<Vec<LocationId>> {
    let mut tx = store.db().begin().await?;
    let now = crate::store::now_utc();
    let mut touched = Vec::new();
    for (serial, location) in units {
        let done = tx
            .exists(
                Query::new(
                    "SELECT 1 AS one FROM recall_units \
                     WHERE campaign_id = $1 AND sku = $2 AND serial = $3",
                )
                .bind(c.id)
                .bind(&c.sku)
                .bind(serial.as_str()),
            )
            .await?;
        if done || serial_at(tx.as_mut(), &c.sku, serial).await? != Some(*location) {
            continue;
        }
        let m = NewMovement {
            id: c.quarantine_movement(serial),
            kind: MovementKind::Quarantine,
            sku: c.sku.clone(),
            quantity: 1,
            from: Some(*location),
            to: None,
            reason: None,
            serials: vec![serial.clone()],
            job_id: None,
            line_id: None,
            note: format!("recall {}", c.id),
            actor: Some(actor),
        };
        crate::inventory::store::append(tx.as_mut(), &m, now).await?;
        tx.execute(
            Query::new(
                "INSERT INTO recall_units (campaign_id, sku, serial, location_id, movement_id) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(c.id)
            .bind(&c.sku)
            .bind(serial.as_str())
            .bind(*location)
            .bind(m.id),
        )
        .await?;
        if !touched.contains(location) {
            touched.push(*location);
        }
    }
    tx.commit().await?;
    Ok(touched)
}

#[async_trait]
impl RecallStore for SqlStore {
    async fn create_campaign(&self, c: &Campaign) -> Result<Stored> {
        let inserted = self
            .db()
            .execute(
                Query::new(
                    "INSERT INTO recall_campaigns (id, sku, reason, remedy, compensation, \
                         serials, ranges, fingerprint, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(c.id)
                .bind(&c.sku)
                .bind(c.reason.as_str())
                .bind(c.remedy)
                .bind(c.compensation.as_deref())
                .bind(serials_json(&c.serials))
                .bind(serde_json::to_string(&c.ranges).expect("ranges serialize"))
                .bind(c.fingerprint().to_vec())
                .bind(c.created_by)
                .bind(c.created_at),
            )
            .await?;
        if inserted == 1 {
            return Ok(Stored::Created);
        }
        let row = self
            .db()
            .fetch_one(
                Query::new("SELECT fingerprint FROM recall_campaigns WHERE id = $1").bind(c.id),
            )
            .await?;
        let fingerprint: Vec<u8> = row.get("fingerprint")?;
        if fingerprint == c.fingerprint() {
            Ok(Stored::Replayed(self.campaign(c.id).await?))
        } else {
            Ok(Stored::IdReused)
        }
    }

    async fn campaign(&self, id: Uuid) -> Result<Campaign> {
        let mut q = crate::store::sql::QueryBuilder::new(CAMPAIGN_COLS);
        q.push(" WHERE id = ").push_bind(id);
        campaign_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>> {
        let rows = self
            .db()
            .fetch_all(Query::new(
                "SELECT id, sku, reason, remedy, compensation, serials, ranges, created_by, \
                     created_at FROM recall_campaigns ORDER BY created_at DESC, id LIMIT 200",
            ))
            .await?;
        rows.iter().map(campaign_from).collect()
    }

    async fn product_assets(&self, sku: &Sku) -> Result<Vec<ProductAsset>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new("SELECT id, serial FROM assets WHERE sku = $1 ORDER BY serial")
                    .bind(sku),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ProductAsset {
                    id: r.get("id")?,
                    serial: r.get("serial")?,
                })
            })
            .collect()
    }

    async fn units_in_stock(&self, sku: &Sku) -> Result<Vec<(String, LocationId)>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT serial, location_id FROM serials \
                     WHERE sku = $1 AND location_id IS NOT NULL ORDER BY serial",
                )
                .bind(sku),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get("serial")?, r.get("location_id")?)))
            .collect()
    }

    async fn quarantine(
        &self,
        c: &Campaign,
        units: &[(String, LocationId)],
        actor: UserId,
    ) -> Result<Vec<LocationId>> {
        self.db()
            .retry(|| quarantine_once(self, c, units, actor))
            .await
    }

    async fn link_asset(
        &self,
        campaign: Uuid,
        asset: Uuid,
        job: JobId,
        opened: bool,
    ) -> Result<JobId> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO recall_assets (campaign_id, asset_id, job_id, opened) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, asset_id) DO NOTHING",
                )
                .bind(campaign)
                .bind(asset)
                .bind(job)
                .bind(opened),
            )
            .await?;
        self.db()
            .fetch_one(
                Query::new(
                    "SELECT job_id FROM recall_assets WHERE campaign_id = $1 AND asset_id = $2",
                )
                .bind(campaign)
                .bind(asset),
            )
            .await?
            .get("job_id")
    }

    async fn affected(&self, campaign: Uuid) -> Result<Vec<AffectedAsset>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT r.asset_id, a.serial, a.customer_id, c.name AS customer_name, \
                         c.depot_id, r.job_id, r.opened, j.status AS job_status, \
                         r.replacement, r.committed_date, r.remedied_at \
                     FROM recall_assets r \
                     JOIN assets a ON a.id = r.asset_id \
                     JOIN customers c ON c.id = a.customer_id \
                     LEFT JOIN jobs j ON j.job_id = r.job_id \
                     WHERE r.campaign_id = $1 ORDER BY a.serial",
                )
                .bind(campaign),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AffectedAsset {
                    asset_id: r.get("asset_id")?,
                    serial: r.get("serial")?,
                    customer_id: r.get("customer_id")?,
                    customer_name: r.get("customer_name")?,
                    depot_id: r.get("depot_id")?,
                    job_id: r.get("job_id")?,
                    opened: r.get("opened")?,
                    job_status: r.get("job_status")?,
                    replacement: r.get("replacement")?,
                    committed_date: date_of(r)?,
                    remedied_at: r.get("remedied_at")?,
                })
            })
            .collect()
    }

    async fn quarantined(&self, campaign: Uuid) -> Result<Vec<QuarantinedUnit>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT sku, serial, location_id FROM recall_units \
                     WHERE campaign_id = $1 ORDER BY serial",
                )
                .bind(campaign),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QuarantinedUnit {
                    sku: r.parse("sku")?,
                    serial: r.get("serial")?,
                    location_id: r.get("location_id")?,
                })
            })
            .collect()
    }

    async fn asset_recalls(&self, asset: Uuid) -> Result<Vec<AssetRecallRow>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT r.campaign_id, c.reason, c.remedy, c.created_at, r.job_id, \
                         r.replacement, r.committed_date \
                     FROM recall_assets r JOIN recall_campaigns c ON c.id = r.campaign_id \
                     WHERE r.asset_id = $1 ORDER BY c.created_at DESC, c.id",
                )
                .bind(asset),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AssetRecallRow {
                    campaign_id: r.get("campaign_id")?,
                    reason: r.get("reason")?,
                    remedy: r.get("remedy")?,
                    created_at: r.get("created_at")?,
                    job_id: r.get("job_id")?,
                    replacement: r.get("replacement")?,
                    committed_date: date_of(r)?,
                })
            })
            .collect()
    }

    async fn recalled(&self) -> Result<Recalled> {
        let rows = self
            .db()
            .fetch_all(Query::new("SELECT DISTINCT sku, serial FROM recall_units"))
            .await?;
        rows.iter()
            .map(|r| Ok((r.parse("sku")?, r.get("serial")?)))
            .collect()
    }

    async fn quarantined_at(&self, location: LocationId) -> Result<Vec<(Sku, String)>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT DISTINCT sku, serial FROM recall_units WHERE location_id = $1 \
                     ORDER BY sku, serial",
                )
                .bind(location),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.parse("sku")?, r.get("serial")?)))
            .collect()
    }
}

/// A recall job's remedy, as its commit projects it into `recall_assets`.
#[derive(Debug)]
pub struct RemedyProjection {
    job_id: JobId,
    campaign: Uuid,
    replacement: Option<Replacement>,
    committed_date: Option<String>,
}

#[async_trait]
impl Projection for RemedyProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "remedy projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        // Only a change of remedy moves `remedied_at`.
        tx.execute(
            Query::new(
                "UPDATE recall_assets SET replacement = $3, committed_date = $4, \
                     remedied_at = $5 \
                 WHERE campaign_id = $1 AND job_id = $2 \
                     AND (replacement IS NULL OR replacement <> $3 \
                          OR COALESCE(committed_date, '') <> COALESCE($4, ''))",
            )
            .bind(self.campaign)
            .bind(self.job_id)
            .bind(self.replacement)
            .bind(self.committed_date.as_deref())
            .bind(now),
        )
        .await?;
        Ok(())
    }
}

/// Records every recall job's remedy (jobs without a recall or a remedy
/// project nothing).
pub struct RemedyProjector;

impl JobProjector for RemedyProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let recall = c.job.recall.as_ref()?;
        let remedy = c.job.recall_remedy.as_ref()?;
        Some(Arc::new(RemedyProjection {
            job_id: c.job.id,
            campaign: recall.campaign,
            replacement: Some(remedy.replacement.into()),
            committed_date: remedy.committed_date.and_then(|d| d.format(DATE).ok()),
        }))
    }
}

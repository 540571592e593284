//! The customer registry's tables (`customers`, `customer_sites`,
//! `customer_contacts`, `assets`) and `job_registry`, the registry records
//! each job was made from, projected in the job's commit. Every read that
//! lists customers or assets takes the caller's [`CustomerScope`], so the
//! scope is applied in SQL and never after a limit.

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::{DocId, LocationId, Sku};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::model::*;
use crate::authz::CustomerScope;
use crate::documents::{JobCommit, JobProjector};
use crate::store::sql::{Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

crate::sql_text!(CustomerKind, ContactChannel);

/// Which visits to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisitsOf {
    Customer(Uuid),
    Asset(Uuid),
}

/// Stock of one sku at one depot, as the ledger's balance has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepotStock {
    pub depot_id: LocationId,
    pub depot_name: String,
    /// 0 when the depot never held the sku.
    pub quantity: i64,
}

/// The customer registry.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    async fn create_customer(&self, c: &Customer) -> Result<()>;
    /// [`StoreError::NotFound`] if there is no such customer.
    async fn update_customer(&self, c: &Customer) -> Result<()>;
    async fn customer(&self, id: Uuid) -> Result<Customer>;
    /// Customers in `scope` whose name holds `query` (case-insensitive), or
    /// with a contact of that e-mail or phone number, a site of that
    /// postcode, or an asset of that serial (exact, normalised: see
    /// [`super::model`]). By name, at most `limit` (capped at 200).
    async fn search_customers(
        &self,
        query: &str,
        scope: &CustomerScope,
        limit: u32,
    ) -> Result<Vec<Customer>>;
    async fn customer_in_scope(&self, id: Uuid, scope: &CustomerScope) -> Result<bool>;
    /// The customer if `scope` holds it: the scope check and the read in
    /// one round trip.
    async fn customer_within(&self, id: Uuid, scope: &CustomerScope) -> Result<Option<Customer>>;

    async fn create_site(&self, s: &Site, now: OffsetDateTime) -> Result<()>;
    async fn update_site(&self, s: &Site, now: OffsetDateTime) -> Result<()>;
    async fn site(&self, id: Uuid) -> Result<Site>;
    /// Oldest first.
    async fn sites(&self, customer: Uuid) -> Result<Vec<Site>>;

    async fn create_contact(&self, c: &Contact, now: OffsetDateTime) -> Result<()>;
    async fn update_contact(&self, c: &Contact, now: OffsetDateTime) -> Result<()>;
    async fn contact(&self, id: Uuid) -> Result<Contact>;
    /// Oldest first: the first is the one a job's snapshot takes.
    async fn contacts(&self, customer: Uuid) -> Result<Vec<Contact>>;

    /// [`StoreError::Conflict`] (`assets_sku_serial_key`) when the product
    /// already has an asset of this serial.
    async fn create_asset(&self, a: &Asset, now: OffsetDateTime) -> Result<()>;
    async fn update_asset(&self, a: &Asset, now: OffsetDateTime) -> Result<()>;
    async fn asset(&self, id: Uuid) -> Result<Asset>;
    /// The customer's assets in `scope` (a technician: those of their
    /// jobs), by product and serial, at most 1000.
    async fn assets(&self, customer: Uuid, scope: &CustomerScope) -> Result<Vec<Asset>>;
    /// Assets in `scope` of this serial (normalised), of `sku` if given.
    async fn assets_by_serial(
        &self,
        serial: &str,
        sku: Option<&Sku>,
        scope: &CustomerScope,
    ) -> Result<Vec<Asset>>;
    async fn asset_in_scope(&self, id: Uuid, scope: &CustomerScope) -> Result<bool>;

    /// Jobs that referenced the customer or asset, newest window first; only
    /// those not closed with `open_only`. At most `limit` (capped at 1000).
    async fn visits(&self, of: VisitsOf, open_only: bool, limit: u32) -> Result<Vec<Visit>>;
    /// Serialized parts the ledger has fitted (and not voided) on the
    /// asset's jobs, oldest first.
    async fn fitted_parts(&self, asset: Uuid) -> Result<Vec<FittedPart>>;
    /// The balance of `sku` at `depot`; `NotFound` if there is no such depot.
    async fn depot_stock(&self, depot: LocationId, sku: &Sku) -> Result<DepotStock>;
    /// The registry row a job's commit projected (tests and support).
    async fn job_registry(&self, job: fieldsync_core::JobId) -> Result<JobRegistry>;
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn date_text(d: Option<Date>) -> Option<String> {
    d.and_then(|d| d.format(DATE).ok())
}

fn date_of(row: &Row, column: &str) -> Result<Option<Date>> {
    row.get::<Option<String>>(column)?
        .map(|s| Date::parse(&s, DATE).map_err(|e| StoreError::corrupt(column, e)))
        .transpose()
}

fn customer_from(row: &Row) -> Result<Customer> {
    Ok(Customer {
        id: row.get("id")?,
        kind: row.get("kind")?,
        name: row.get("name")?,
        language: row.get("language")?,
        depot_id: row.get("depot_id")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn site_from(row: &Row) -> Result<Site> {
    Ok(Site {
        id: row.get("id")?,
        customer_id: row.get("customer_id")?,
        name: row.get("name")?,
        address: row.get("address")?,
        postcode: row.get("postcode")?,
        depot_id: row.get("depot_id")?,
    })
}

fn contact_from(row: &Row) -> Result<Contact> {
    Ok(Contact {
        id: row.get("id")?,
        customer_id: row.get("customer_id")?,
        name: row.get("name")?,
        email: row.get("email")?,
        phone: row.get("phone")?,
        preferred_channel: row.get("preferred_channel")?,
        feedback_opt_out: row.get("feedback_opt_out")?,
    })
}

fn asset_from(row: &Row) -> Result<Asset> {
    Ok(Asset {
        id: row.get("id")?,
        customer_id: row.get("customer_id")?,
        site_id: row.get("site_id")?,
        sku: row.get("sku")?,
        product: row.get("product")?,
        serial: row.get("serial")?,
        install_date: date_of(row, "install_date")?,
        warranty_end: date_of(row, "warranty_end")?,
        contract_ref: row.get("contract_ref")?,
    })
}

const CUSTOMER_COLS: &str = "SELECT c.id, c.kind, c.name, c.language, c.depot_id, c.created_at, c.updated_at \
     FROM customers c";
const SITE_COLS: &str =
    "SELECT id, customer_id, name, address, postcode, depot_id FROM customer_sites";
const CONTACT_COLS: &str = "SELECT id, customer_id, name, email, phone, preferred_channel, \
     feedback_opt_out FROM customer_contacts";
const ASSET_COLS: &str = "SELECT a.id, a.customer_id, a.site_id, a.sku, a.product, a.serial, \
     a.install_date, a.warranty_end, a.contract_ref FROM assets a";

/// Narrows a query over `customers c` to `scope`.
fn customers_in(q: &mut QueryBuilder<'_>, scope: &CustomerScope) {
    match scope {
        CustomerScope::All => {}
        CustomerScope::None => {
            q.push(" AND 1 = 0");
        }
        CustomerScope::Depots(depots) if depots.is_empty() => {
            q.push(" AND 1 = 0");
        }
        CustomerScope::Depots(depots) => {
            q.push(" AND c.depot_id IN (")
                .push_list(depots.iter().copied())
                .push(")");
        }
        CustomerScope::Jobs(tech) => {
            q.push(
                " AND EXISTS (SELECT 1 FROM job_registry r JOIN jobs j ON j.job_id = r.job_id \
                 WHERE r.customer_id = c.id AND j.technician_id = ",
            )
            .push_bind(*tech)
            .push(")");
        }
    }
}

/// Narrows a query over `assets a` to `scope`: office roles by the
/// customer's depot, technicians to the assets their jobs reference.
fn assets_in(q: &mut QueryBuilder<'_>, scope: &CustomerScope) {
    match scope {
        CustomerScope::All => {}
        CustomerScope::None => {
            q.push(" AND 1 = 0");
        }
        CustomerScope::Depots(depots) if depots.is_empty() => {
            q.push(" AND 1 = 0");
        }
        CustomerScope::Depots(depots) => {
            q.push(" AND EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id AND c.depot_id IN (")
                .push_list(depots.iter().copied())
                .push("))");
        }
        CustomerScope::Jobs(tech) => {
            q.push(
                " AND EXISTS (SELECT 1 FROM job_registry r JOIN jobs j ON j.job_id = r.job_id \
                 WHERE r.asset_id = a.id AND j.technician_id = ",
            )
            .push_bind(*tech)
            .push(")");
        }
    }
}

/// `%needle%` for LIKE, with the pattern characters escaped (`\` is the escape).
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[async_trait]
impl CustomerStore for SqlStore {
    async fn create_customer(&self, c: &Customer) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO customers (id, kind, name, name_key, depot_id, created_at, \
                         updated_at, language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(c.id)
                .bind(c.kind)
                .bind(&c.name)
                .bind(name_key(&c.name))
                .bind(c.depot_id)
                .bind(c.created_at)
                .bind(c.updated_at)
                .bind(c.language),
            )
            .await?;
        Ok(())
    }

    async fn update_customer(&self, c: &Customer) -> Result<()> {
        let n = self
            .db()
            .execute(
                Query::new(
                    "UPDATE customers SET kind = $2, name = $3, name_key = $4, depot_id = $5, \
                         updated_at = $6, language = $7 WHERE id = $1",
                )
                .bind(c.id)
                .bind(c.kind)
                .bind(&c.name)
                .bind(name_key(&c.name))
                .bind(c.depot_id)
                .bind(c.updated_at)
                .bind(c.language),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn customer(&self, id: Uuid) -> Result<Customer> {
        let mut q = QueryBuilder::new(CUSTOMER_COLS);
        q.push(" WHERE c.id = ").push_bind(id);
        customer_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn search_customers(
        &self,
        query: &str,
        scope: &CustomerScope,
        limit: u32,
    ) -> Result<Vec<Customer>> {
        let mut q = QueryBuilder::new(CUSTOMER_COLS);
        q.push(" WHERE (c.name_key LIKE ")
            .push_bind(like_pattern(&name_key(query)))
            .push(" ESCAPE '\\'");
        q.push(" OR c.id IN (SELECT customer_id FROM customer_contacts WHERE email_key = ")
            .push_bind(email_key(query))
            .push(" OR phone_key = ")
            .push_bind(phone_key(query))
            .push(")");
        q.push(" OR c.id IN (SELECT customer_id FROM customer_sites WHERE postcode_key = ")
            .push_bind(postcode_key(query))
            .push(")");
        q.push(" OR c.id IN (SELECT customer_id FROM assets WHERE serial_key = ")
            .push_bind(serial_key(query))
            .push("))");
        customers_in(&mut q, scope);
        q.push(" ORDER BY c.name_key, c.id LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 200)));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(customer_from).collect()
    }

    async fn customer_in_scope(&self, id: Uuid, scope: &CustomerScope) -> Result<bool> {
        let mut q = QueryBuilder::new("SELECT 1 AS one FROM customers c WHERE c.id = ");
        q.push_bind(id);
        customers_in(&mut q, scope);
        self.db().exists(q.build()).await
    }

    async fn customer_within(&self, id: Uuid, scope: &CustomerScope) -> Result<Option<Customer>> {
        let mut q = QueryBuilder::new(CUSTOMER_COLS);
        q.push(" WHERE c.id = ").push_bind(id);
        customers_in(&mut q, scope);
        self.db()
            .fetch_optional(q.build())
            .await?
            .as_ref()
            .map(customer_from)
            .transpose()
    }

    async fn create_site(&self, s: &Site, now: OffsetDateTime) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO customer_sites (id, customer_id, name, address, postcode, \
                         postcode_key, depot_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(s.id)
                .bind(s.customer_id)
                .bind(s.name.as_ref())
                .bind(&s.address)
                .bind(s.postcode.as_ref())
                .bind(s.postcode.as_deref().map(postcode_key))
                .bind(s.depot_id)
                .bind(now),
            )
            .await?;
        Ok(())
    }

    async fn update_site(&self, s: &Site, now: OffsetDateTime) -> Result<()> {
        let n = self
            .db()
            .execute(
                Query::new(
                    "UPDATE customer_sites SET name = $2, address = $3, postcode = $4, \
                         postcode_key = $5, depot_id = $6, updated_at = $7 WHERE id = $1",
                )
                .bind(s.id)
                .bind(s.name.as_ref())
                .bind(&s.address)
                .bind(s.postcode.as_ref())
                .bind(s.postcode.as_deref().map(postcode_key))
                .bind(s.depot_id)
                .bind(now),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn site(&self, id: Uuid) -> Result<Site> {
        let mut q = QueryBuilder::new(SITE_COLS);
        q.push(" WHERE id = ").push_bind(id);
        site_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn sites(&self, customer: Uuid) -> Result<Vec<Site>> {
        let mut q = QueryBuilder::new(SITE_COLS);
        q.push(" WHERE customer_id = ")
            .push_bind(customer)
            .push(" ORDER BY created_at, id");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(site_from).collect()
    }

    async fn create_contact(&self, c: &Contact, now: OffsetDateTime) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO customer_contacts (id, customer_id, name, email, email_key, \
                         phone, phone_key, preferred_channel, feedback_opt_out, created_at, \
                         updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(c.id)
                .bind(c.customer_id)
                .bind(&c.name)
                .bind(c.email.as_ref())
                .bind(c.email.as_deref().map(email_key))
                .bind(c.phone.as_ref())
                .bind(c.phone.as_deref().and_then(phone_key))
                .bind(c.preferred_channel)
                .bind(c.feedback_opt_out)
                .bind(now),
            )
            .await?;
        Ok(())
    }

    async fn update_contact(&self, c: &Contact, now: OffsetDateTime) -> Result<()> {
        let n = self
            .db()
            .execute(
                Query::new(
                    "UPDATE customer_contacts SET name = $2, email = $3, email_key = $4, \
                         phone = $5, phone_key = $6, preferred_channel = $7, \
                         feedback_opt_out = $8, updated_at = $9 WHERE id = $1",
                )
                .bind(c.id)
                .bind(&c.name)
                .bind(c.email.as_ref())
                .bind(c.email.as_deref().map(email_key))
                .bind(c.phone.as_ref())
                .bind(c.phone.as_deref().and_then(phone_key))
                .bind(c.preferred_channel)
                .bind(c.feedback_opt_out)
                .bind(now),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn contact(&self, id: Uuid) -> Result<Contact> {
        let mut q = QueryBuilder::new(CONTACT_COLS);
        q.push(" WHERE id = ").push_bind(id);
        contact_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn contacts(&self, customer: Uuid) -> Result<Vec<Contact>> {
        let mut q = QueryBuilder::new(CONTACT_COLS);
        q.push(" WHERE customer_id = ")
            .push_bind(customer)
            .push(" ORDER BY created_at, id");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(contact_from).collect()
    }

    async fn create_asset(&self, a: &Asset, now: OffsetDateTime) -> Result<()> {
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO assets (id, customer_id, site_id, sku, product, serial, \
                         serial_key, install_date, warranty_end, contract_ref, created_at, \
                         updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(a.id)
                .bind(a.customer_id)
                .bind(a.site_id)
                .bind(&a.sku)
                .bind(&a.product)
                .bind(&a.serial)
                .bind(serial_key(&a.serial))
                .bind(date_text(a.install_date))
                .bind(date_text(a.warranty_end))
                .bind(a.contract_ref.as_ref())
                .bind(now),
            )
            .await?;
        Ok(())
    }

    async fn update_asset(&self, a: &Asset, now: OffsetDateTime) -> Result<()> {
        let n = self
            .db()
            .execute(
                Query::new(
                    "UPDATE assets SET site_id = $2, product = $3, install_date = $4, \
                         warranty_end = $5, contract_ref = $6, updated_at = $7 WHERE id = $1",
                )
                .bind(a.id)
                .bind(a.site_id)
                .bind(&a.product)
                .bind(date_text(a.install_date))
                .bind(date_text(a.warranty_end))
                .bind(a.contract_ref.as_ref())
                .bind(now),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn asset(&self, id: Uuid) -> Result<Asset> {
        let mut q = QueryBuilder::new(ASSET_COLS);
        q.push(" WHERE a.id = ").push_bind(id);
        asset_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn assets(&self, customer: Uuid, scope: &CustomerScope) -> Result<Vec<Asset>> {
        let mut q = QueryBuilder::new(ASSET_COLS);
        q.push(" WHERE a.customer_id = ").push_bind(customer);
        assets_in(&mut q, scope);
        q.push(" ORDER BY a.sku, a.serial LIMIT 1000");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(asset_from).collect()
    }

    async fn assets_by_serial(
        &self,
        serial: &str,
        sku: Option<&Sku>,
        scope: &CustomerScope,
    ) -> Result<Vec<Asset>> {
        let mut q = QueryBuilder::new(ASSET_COLS);
        q.push(" WHERE a.serial_key = ")
            .push_bind(serial_key(serial));
        if let Some(sku) = sku {
            q.push(" AND a.sku = ").push_bind(sku);
        }
        assets_in(&mut q, scope);
        q.push(" ORDER BY a.sku LIMIT 100");
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter().map(asset_from).collect()
    }

    async fn asset_in_scope(&self, id: Uuid, scope: &CustomerScope) -> Result<bool> {
        let mut q = QueryBuilder::new("SELECT 1 AS one FROM assets a WHERE a.id = ");
        q.push_bind(id);
        assets_in(&mut q, scope);
        self.db().exists(q.build()).await
    }

    async fn visits(&self, of: VisitsOf, open_only: bool, limit: u32) -> Result<Vec<Visit>> {
        let mut q = QueryBuilder::new(
            "SELECT j.job_id, j.status, j.technician_id, j.window_start, j.completed_at, \
                 r.asset_id FROM job_registry r JOIN jobs j ON j.job_id = r.job_id WHERE ",
        );
        match of {
            VisitsOf::Customer(id) => q.push("r.customer_id = ").push_bind(id),
            VisitsOf::Asset(id) => q.push("r.asset_id = ").push_bind(id),
        };
        if open_only {
            q.push(" AND j.status NOT IN ('completed', 'unable_to_complete', 'cancelled')");
        }
        q.push(" ORDER BY j.window_start DESC, j.job_id LIMIT ")
            .push_bind(i64::from(limit.clamp(1, 1000)));
        let rows = self.db().fetch_all(q.build()).await?;
        rows.iter()
            .map(|row| {
                Ok(Visit {
                    job_id: row.get("job_id")?,
                    status: row.get("status")?,
                    technician_id: row.get("technician_id")?,
                    window_start: row.get("window_start")?,
                    completed_at: row.get("completed_at")?,
                    asset_id: row.get("asset_id")?,
                })
            })
            .collect()
    }

    async fn fitted_parts(&self, asset: Uuid) -> Result<Vec<FittedPart>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT f.sku, f.serial, f.job_id, f.fitted_at FROM job_registry r \
                     JOIN serial_fits f ON f.job_id = r.job_id \
                     WHERE r.asset_id = $1 AND f.voided_at IS NULL \
                     ORDER BY f.fitted_at, f.sku, f.serial LIMIT 1000",
                )
                .bind(asset),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(FittedPart {
                    sku: row.get("sku")?,
                    serial: row.get("serial")?,
                    job_id: row.get("job_id")?,
                    fitted_at: row.get("fitted_at")?,
                })
            })
            .collect()
    }

    async fn depot_stock(&self, depot: LocationId, sku: &Sku) -> Result<DepotStock> {
        let row = self
            .db()
            .fetch_one(
                Query::new(
                    "SELECT l.id, l.name, b.quantity FROM locations l \
                     LEFT JOIN stock_balances b ON b.location_id = l.id AND b.sku = $2 \
                     WHERE l.id = $1",
                )
                .bind(depot)
                .bind(sku),
            )
            .await?;
        Ok(DepotStock {
            depot_id: row.get("id")?,
            depot_name: row.get("name")?,
            quantity: row.get::<Option<i64>>("quantity")?.unwrap_or(0),
        })
    }

    async fn job_registry(&self, job: fieldsync_core::JobId) -> Result<JobRegistry> {
        let row = self
            .db()
            .fetch_one(
                Query::new(
                    "SELECT customer_id, site_id, asset_id FROM job_registry WHERE job_id = $1",
                )
                .bind(job),
            )
            .await?;
        Ok(JobRegistry {
            customer: row.get("customer_id")?,
            site: row.get("site_id")?,
            asset: row.get("asset_id")?,
        })
    }
}

/// The `job_registry` row of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryProjection {
    pub job_id: fieldsync_core::JobId,
    pub registry: JobRegistry,
}

#[async_trait]
impl Projection for RegistryProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "registry projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, _now: OffsetDateTime) -> Result<()> {
        let r = self.registry;
        tx.execute(
            Query::new(
                "INSERT INTO job_registry (job_id, customer_id, site_id, asset_id) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (job_id) DO UPDATE SET customer_id = excluded.customer_id, \
                     site_id = excluded.site_id, asset_id = excluded.asset_id",
            )
            .bind(self.job_id)
            .bind(r.customer)
            .bind(r.site)
            .bind(r.asset),
        )
        .await?;
        Ok(())
    }
}

/// Keeps `job_registry` in step with the ids jobs carry. Jobs made without
/// the registry get no row (and cost nothing).
pub struct RegistryProjector;

impl JobProjector for RegistryProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let r = &c.job.registry;
        if *r == fieldsync_core::job::Registry::default() {
            return None;
        }
        Some(Arc::new(RegistryProjection {
            job_id: c.job.id,
            registry: JobRegistry {
                customer: r.customer,
                site: r.site,
                asset: r.asset,
            },
        }))
    }
}

//! Inventory: depots and vans, the parts catalog, the stock ledger, serial
//! numbers, consumption from synced jobs, discrepancies and replenishment,
//! the `/v1/inventory/...` API and the console pages. See docs/inventory.md.
//!
//! - [`model`]: the values ([`NewMovement`], [`Balance`], ...).
//! - [`ledger`]: which movements are valid, how they change balances.
//! - [`consumption`]: job part lines -> movements ([`consumption::from_job`]).
//! - [`discrepancies`], [`replenishment`]: what needs attention, what to send.
//! - [`vanstock`]: keeping each van's stock document up to date.
//! - [`service`]: what the API and the console both do, over the caller's
//!   scope ([`crate::authz`]: which locations a user may see and manage);
//!   [`routes`]: the JSON API; [`console`]: the web pages.
//!
//! Storage is the [`InventoryStore`] trait (part of [`crate::store::Store`]),
//! implemented in `store/sqlite/inventory.rs` and `store/postgres/inventory.rs`.

pub mod console;
pub mod consumption;
pub mod discrepancies;
pub mod ledger;
pub mod model;
pub mod replenishment;
pub mod routes;
pub mod service;
pub mod vanstock;

use async_trait::async_trait;
use fieldsync_core::{JobId, LocationId, Sku, UserId};

use crate::store::Result;
pub use model::*;

/// Inventory storage; implemented by both backends. Lists return every row
/// (the callers filter by access): depots, vans and parts number in the
/// hundreds, not millions. Movements are listed with a filter and a limit.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    async fn create_location(&self, location: &Location) -> Result<()>;
    async fn locations(&self) -> Result<Vec<Location>>;
    /// Assigns (or with `None` unassigns) a van's technician.
    /// `Conflict` if the technician already has another van.
    async fn assign_technician(&self, van: LocationId, technician: Option<UserId>) -> Result<()>;
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

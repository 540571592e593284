//! Inventory: depots and vans, the parts catalog, the stock ledger.

pub mod console;

use async_trait::async_trait;

/// Inventory storage; implemented by both backends.
#[async_trait]
pub trait InventoryStore: Send + Sync {}

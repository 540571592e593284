//! Inventory storage.

use super::*;
use crate::inventory::InventoryStore;

#[async_trait]
impl InventoryStore for SqliteStore {}

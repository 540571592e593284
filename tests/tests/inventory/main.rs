//! Inventory and console end-to-end tests over real HTTP on loopback, each
//! on SQLite and on PostgreSQL.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../common/raw.rs"]
mod raw;

#[path = "../api/device.rs"]
mod device;
#[path = "../api/office.rs"]
mod office;

mod console_client;
mod setup;
#[path = "../common/webdriver.rs"]
mod webdriver;

mod api;
mod browser;
mod console;
mod count;
mod ledger;
mod own_van;
mod returns;
mod shipping;
mod stockforms;
mod sync_e2e;

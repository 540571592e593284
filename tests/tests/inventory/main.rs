//! Inventory and console end-to-end tests over real HTTP on loopback, each
//! on SQLite and on PostgreSQL.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod console_client;

mod console;

//! Workspace end-to-end tests. The tests live in `tests/api/` (one binary,
//! a module per feature, `helpers.rs` with `spawn_app()`); every test runs
//! once on SQLite and once on PostgreSQL.
#![forbid(unsafe_code)]

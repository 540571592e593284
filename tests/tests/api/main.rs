//! End-to-end tests over real HTTP on loopback. Every test runs twice: on
//! SQLite and on PostgreSQL (a throwaway cluster this process starts).

mod helpers;

mod auth;
mod cli;
mod errors;
mod ops;

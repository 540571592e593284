//! The mobile client library (fieldsync-ffi) against a real server on
//! loopback: a full visit driven from Kotlin on the JVM, and the Rust crate
//! over a flaky link (lost responses, duplicated requests, a server restart).

#[path = "../api/device.rs"]
mod device;
#[path = "../api/helpers.rs"]
#[allow(dead_code, unused_macros, unused_imports)]
mod helpers;
#[path = "../api/office.rs"]
mod office;
#[path = "../api/process.rs"]
mod process;
#[path = "../inventory/setup.rs"]
#[allow(dead_code)]
mod setup;
#[path = "../customers/support.rs"]
#[allow(dead_code)]
mod support;

mod attach;
mod flaky;
mod kotlin;
mod outcomes;
mod proxy;
mod recovery;
mod shared;
mod visit;

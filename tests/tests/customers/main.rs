//! Customer registry end-to-end tests over real HTTP on loopback, each on
//! SQLite and on PostgreSQL: records and search, the single view (one
//! request answers a customer's call), jobs made from the registry, and
//! what each role may see; warranty extensions sold on site and by the
//! office.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../common/raw.rs"]
mod raw;
#[path = "../common/smtp.rs"]
mod smtp;
#[path = "../common/webdriver.rs"]
mod webdriver;

#[path = "../api/device.rs"]
mod device;
#[path = "../api/office.rs"]
mod office;
#[path = "../inventory/setup.rs"]
#[allow(dead_code)]
mod setup;

mod a11y;
mod access;
mod bench;
mod console;
mod desk;
mod invoices;
mod job_links;
mod recalls;
mod refunds;
mod registry;
mod shipments;
mod single_view;
mod support;
mod warranty;

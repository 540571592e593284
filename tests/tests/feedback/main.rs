//! Customer feedback end to end: devices complete jobs over real `/v1/sync`,
//! the outbox worker mails a real SMTP server (aiosmtpd), customers answer
//! the form (also in headless Chromium), supervisors read results. Every
//! test runs on SQLite and on PostgreSQL.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

#[path = "../api/device.rs"]
mod device;

#[path = "../api/office.rs"]
mod office;

#[path = "../inventory/console_client.rs"]
mod console_client;
#[path = "../common/webdriver.rs"]
mod webdriver;

mod support;

mod card_numbers;
mod cli;
mod console;
mod delivery;
mod form;
mod in_browser;
mod logs;
mod store;
mod webhook;
mod workers;

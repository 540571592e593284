//! Customer feedback end to end: devices complete jobs over real `/v1/sync`,
//! the outbox worker mails a real SMTP server (aiosmtpd; plain, and with
//! STARTTLS and AUTH), customers answer the form (also in headless
//! Chromium), supervisors read results. Every test runs on SQLite and on
//! PostgreSQL. The tests run the worker's rounds themselves, with the time
//! they choose, so what did not happen is checked after a round that ran.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../common/raw.rs"]
mod raw;

#[path = "../api/device.rs"]
mod device;

#[path = "../api/office.rs"]
mod office;

#[path = "../inventory/console_client.rs"]
mod console_client;
#[path = "../common/smtp.rs"]
mod smtp;
#[path = "../common/webdriver.rs"]
mod webdriver;

mod support;

mod branding;
mod card_numbers;
mod cli;
mod console;
mod delivery;
mod form;
mod in_browser;
mod logs;
mod mine;
mod store;
mod webhook;
mod workers;

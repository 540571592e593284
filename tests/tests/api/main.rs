//! End-to-end tests over real HTTP on loopback. Every test runs twice: on
//! SQLite and on PostgreSQL (a throwaway cluster this process starts).

#[path = "../inventory/console_client.rs"]
mod console_client;
mod device;
mod helpers;
mod jobs;
mod office;
mod process;
#[path = "../common/raw.rs"]
mod raw;
#[path = "../common/s3.rs"]
mod s3;
#[path = "../inventory/setup.rs"]
mod setup;
#[path = "../common/webdriver.rs"]
mod webdriver;

mod attachment_rules;
mod attachments;
mod auth;
mod board;
mod bounds;
mod card_numbers;
mod cli;
mod compressed;
mod conflicts;
mod cursor;
mod demo;
mod errors;
mod generations;
mod headers;
mod node_client;
mod open_jobs;
mod ops;
mod pricebook_editor;
mod processes;
mod rejections;
mod rounds;
mod rules;
mod schema;
mod schemathesis;
mod sync;
mod sync_security;
mod throttle;
mod users;

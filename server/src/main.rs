//! `fieldsync`: serve the API, or administer users, devices and keys.

use anyhow::Context as _;
use clap::Parser as _;
use fieldsync_server::{cli, config::Cli, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    telemetry::init_tracing();
    cli::run(args).await.context("fieldsync failed")
}

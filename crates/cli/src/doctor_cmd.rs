//! `portcullis doctor`: reports what needs a person's decision in the stored data. Today: email
//! addresses that collide under the canonical form (an account registered with a look-alike of
//! another's address), which `serve` never merges or re-keys by itself.
//!
//! Prints the report as JSON; exits 0 when nothing needs attention, 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use portcullis_service::Portcullis;
use portcullis_service::core::SystemClock;

use crate::app::{init_logging, open_store};
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(settings: Settings) -> Result<ExitCode, CliError> {
    init_logging(settings.log_format, "warn");
    let store = open_store(&settings).await?;
    let service = Portcullis::start(
        store.clone(),
        Arc::new(SystemClock),
        settings.service_config(),
    )
    .await?;
    let report = service.email_key_report().await?;
    store.close().await;
    let text = serde_json::to_string_pretty(&serde_json::json!({ "email_keys": report }))
        .map_err(|err| CliError::usage(format!("cannot print the report: {err}")))?;
    println!("{text}");
    Ok(
        if report.collisions.is_empty() && report.invalid.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

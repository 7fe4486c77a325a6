//! `portcullis doctor`: reports what needs a person's decision in the stored data and in how it
//! is reached. Today: email addresses that collide under the canonical form (an account
//! registered with a look-alike of another's address), which `serve` never merges or re-keys by
//! itself; and a PostgreSQL server on another machine reached without verifying its
//! certificate.
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
    let transport = store.transport().await?;
    let insecure = transport.as_ref().and_then(|t| t.warning()).is_some();
    let database = match transport {
        Some(transport) => serde_json::json!({
            "host": transport.host,
            "port": transport.port,
            "sslmode": transport.ssl_mode,
            "verifies_server": transport.verifies_server,
            "tls": transport.tls_version,
            "warning": transport.warning(),
        }),
        None => serde_json::Value::Null,
    };
    store.close().await;
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "email_keys": report,
        "database": database,
    }))
    .map_err(|err| CliError::usage(format!("cannot print the report: {err}")))?;
    println!("{text}");
    Ok(
        if report.collisions.is_empty() && report.invalid.is_empty() && !insecure {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

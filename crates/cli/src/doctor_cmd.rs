//! `portcullis doctor`: reports what needs a person's decision in the stored data and in how it
//! is reached. Today: email addresses that collide under the canonical form (an account
//! registered with a look-alike of another's address), which `serve` never merges or re-keys by
//! itself; stored secrets that the configured key ring cannot open (`serve` refuses to start
//! then), or that are still plain (the next `serve` seals them); and a PostgreSQL server on
//! another machine reached without verifying its certificate.
//!
//! Prints the report as JSON; exits 0 when nothing needs attention, 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use portcullis_service::Portcullis;
use portcullis_service::core::SystemClock;
use portcullis_service::sealing::KeyRing;

use crate::app::{init_logging, open_store};
use crate::config::{ConfigArgs, SecretKeysSource, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(settings: Settings) -> Result<ExitCode, CliError> {
    init_logging(settings.log_format, "warn");
    let store = open_store(&settings).await?;
    // A key ring that cannot be read is a finding, not a reason to stop the other checks. A
    // default key file not created yet is none either while nothing is sealed: the next
    // `serve` creates it and seals the plain seeds.
    let pending_file = match &settings.secret_keys {
        SecretKeysSource::File {
            path,
            default: true,
        } if !path.exists() && !store.has_sealed_secrets().await? => Some(path.clone()),
        _ => None,
    };
    let (keys, key_ring_error) = match (&pending_file, settings.key_ring(false)) {
        (Some(_), _) => (Some(KeyRing::ephemeral()), None),
        (None, Ok(keys)) => (Some(keys), None),
        (None, Err(err)) => (None, Some(err.to_string())),
    };
    let has_keys = keys.is_some();
    let mut config = settings.service_config();
    if let Some(keys) = keys {
        config.secret_keys = Arc::new(keys);
    }
    let service = Portcullis::start(store.clone(), Arc::new(SystemClock), config).await?;
    let report = service.email_key_report().await?;
    let sealed = match has_keys {
        true => Some(service.sealed_secrets_report().await?),
        false => None,
    };
    let sealed_ok = sealed.as_ref().is_some_and(|s| s.all_open());
    let sealed_secrets = match (&sealed, &key_ring_error, &pending_file) {
        (Some(sealed), _, Some(path)) => serde_json::json!({
            "plain": sealed.plain,
            "note": format!(
                "no key ring yet: `serve` creates `{}` at its next start and seals the plain seeds",
                path.display()
            ),
        }),
        (Some(sealed), _, None) if sealed.all_open() => serde_json::json!(sealed),
        (Some(sealed), _, None) => serde_json::json!({
            "report": sealed,
            "problem": sealed.unopenable_message(),
        }),
        (None, error, _) => serde_json::json!({ "problem": error }),
    };
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
        "sealed_secrets": sealed_secrets,
        "database": database,
    }))
    .map_err(|err| CliError::usage(format!("cannot print the report: {err}")))?;
    println!("{text}");
    Ok(
        if report.collisions.is_empty() && report.invalid.is_empty() && sealed_ok && !insecure {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

//! `portcullis secrets`: the key ring of sealed secrets. `new-key` prints a new key line (to
//! put first in the ring); `rotate` re-seals every stored secret under the ring's first key
//! (and seals legacy plain ones), in one recorded transaction per page of rows, and prints the
//! counts. Keys are printed only by `new-key`, and only the new one.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use portcullis_service::Portcullis;
use portcullis_service::core::SystemClock;
use portcullis_service::sealing::{is_valid_key_id, new_key_id, new_key_line};
use secrecy::ExposeSecret;

use crate::app::{init_logging, open_store};
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print a new key line `<key id> <base64 key>` for the key ring (put it first to seal with it).
    NewKey {
        /// The key id [default: k<date>-<random hex>].
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-seal every stored secret under the key ring's first key; the others must still open
    /// what they sealed. Prints the counts as JSON.
    Rotate {
        #[command(flatten)]
        config: Box<ConfigArgs>,
    },
}

pub async fn run(args: SecretsArgs) -> Result<ExitCode, CliError> {
    match args.command {
        SecretsCommand::NewKey { id } => {
            let id = id.unwrap_or_else(new_key_id);
            if !is_valid_key_id(&id) {
                return Err(CliError::usage(format!(
                    "a key id is 1–32 letters, digits, `-` or `_` (got `{id}`)"
                )));
            }
            println!("{}", new_key_line(&id).expose_secret());
            Ok(ExitCode::SUCCESS)
        }
        SecretsCommand::Rotate { config } => {
            let settings = Settings::resolve(&config)?;
            init_logging(settings.log_format, "warn");
            let mut service_config = settings.service_config();
            service_config.secret_keys = Arc::new(settings.key_ring(false)?);
            let store = open_store(&settings).await?;
            let service =
                Portcullis::start(store.clone(), Arc::new(SystemClock), service_config).await?;
            let rotated = service.rotate_secrets().await;
            store.close().await;
            let rotated = rotated?;
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "key_id": service.config().secret_keys.primary_id(),
                "sealed_plain": rotated.sealed_plain,
                "resealed": rotated.resealed,
                "unchanged": rotated.unchanged,
                "skipped": rotated.skipped,
            }))
            .map_err(|err| CliError::usage(format!("cannot print the report: {err}")))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

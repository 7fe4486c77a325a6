//! `portcullis outbox [--limit N]`: the messages Portcullis has queued (verification links,
//! invitations, password resets, notices), newest first, one JSON object per line with its
//! delivery state (`pending`, `sent`, `failed` with the last error). Without an SMTP relay this
//! is how the operator delivers them; the bodies hold single-use links, so treat the output as
//! secret.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::app::open_store;
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// How many messages to print, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(args: OutboxArgs) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(&args.config)?;
    let store = open_store(&settings).await?;
    let messages = store.outbox(args.limit).await.map_err(CliError::Store)?;
    for message in messages {
        let line = json!({
            "id": message.id,
            "to": message.recipient,
            "subject": message.subject,
            "body": message.body,
            "state": message.state(),
            "attempts": message.attempts,
            "last_error": message.last_error,
            "created_at": message.created_at,
            "sent_at": message.sent_at,
            "failed_at": message.failed_at,
        });
        println!("{line}");
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

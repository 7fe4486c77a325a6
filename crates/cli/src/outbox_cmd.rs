//! `portcullis outbox [--limit N]`: the messages Portcullis has queued (verification links,
//! invitations, password resets, notices), newest first, one JSON object per line in the shape
//! `GET /v1/outbox` answers, with the delivery state (`pending`, `sent`, `failed` with the last
//! error). Without an SMTP relay this is how the operator delivers them; the bodies hold
//! single-use links, so treat the output as secret.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;
use portcullis_http::OutboxMessageDto;
use portcullis_service::password_change::DEFAULT_OUTBOX_LIMIT;

use crate::audit_cmd::start;
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// How many messages to print, newest first (1 to 500).
    #[arg(long, default_value_t = DEFAULT_OUTBOX_LIMIT)]
    pub limit: u32,
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(args: OutboxArgs) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(&args.config)?;
    let service = start(&settings).await?;
    let messages = service.outbox_directly(args.limit).await;
    service.store().close().await;
    let mut out = std::io::stdout().lock();
    for message in messages? {
        serde_json::to_writer(&mut out, &OutboxMessageDto::from(message))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .map_err(CliError::io("cannot write the outbox"))?;
    }
    Ok(ExitCode::SUCCESS)
}

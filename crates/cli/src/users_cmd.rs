//! `portcullis users verify-email <id>`: the operator marks a user's current address verified
//! (after checking it by other means), e.g. for accounts that existed before verification did.
//! Recorded in the audit log like a verification by mail.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Mark a user's current email address verified.
    VerifyEmail {
        /// The user's id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub async fn run(args: UsersArgs) -> Result<ExitCode, CliError> {
    match args.command {
        UsersCommand::VerifyEmail { config, id } => {
            let settings = Settings::resolve(&config)?;
            let service = crate::audit_cmd::start(&settings).await?;
            let changed = service.verify_email_directly(&id).await?;
            if changed {
                println!("verified the email address of `{id}`");
            } else {
                println!("the email address of `{id}` was already verified");
            }
            service.store().close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

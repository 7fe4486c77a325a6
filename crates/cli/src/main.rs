//! The `portcullis` binary: `serve` the API, `init` the platform operator, answer one `check`
//! against a data directory, print the `openapi` document, show the effective `config`, and (for
//! packagers) print shell `completions` and the `man` pages.
//!
//! This crate only wires adapters together: it reads configuration, opens the store, starts the
//! service and the HTTP router. It decides nothing about permissions itself.
//!
//! Exit codes: 0 success (for `check`: allowed), 1 `check` denied, 2 any error.

mod access_review_cmd;
mod audit_cmd;
mod backup_cmd;
mod check_cmd;
mod doctor_cmd;
mod init;
mod migrate_cmd;
mod outbox_cmd;
mod packaging_cmd;
mod secrets_cmd;
mod users_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use portcullis::app::{App, init_logging, shutdown_signal};
use portcullis::{app, config, error};

use crate::config::ConfigArgs;
use crate::error::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Organization security server: members, teams, apps, permission checks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (and /docs) until SIGINT or SIGTERM.
    Serve(ConfigArgs),
    /// Create the first user, the platform operator (password from PORTCULLIS_ADMIN_PASSWORD or stdin).
    Init(init::InitArgs),
    /// Answer one permission check from the stored data; exit 0 if allowed, 1 if denied.
    Check(check_cmd::CheckArgs),
    /// Audit log tools: `verify` the hash chains, `prune` old entries (recorded).
    Audit(audit_cmd::AuditArgs),
    /// Print an organization's whole access matrix (members × apps × permissions) as CSV.
    AccessReview(access_review_cmd::AccessReviewArgs),
    /// Write an online backup of the SQLite store to a file (PostgreSQL: use pg_dump).
    Backup(backup_cmd::BackupArgs),
    /// Restore a backup file into a data directory and verify its audit chains.
    Restore(backup_cmd::RestoreArgs),
    /// Copy an SQLite data directory into an empty PostgreSQL database, ids and audit chain intact.
    Migrate(migrate_cmd::MigrateArgs),
    /// Report stored data that needs an operator's decision (email addresses that collide under
    /// the canonical form); exit 1 when there is any.
    Doctor(doctor_cmd::DoctorArgs),
    /// Print the outbox (verification, invitation and reset mails) with each message's delivery state.
    Outbox(outbox_cmd::OutboxArgs),
    /// User administration: `verify-email` marks a user's address verified.
    Users(users_cmd::UsersArgs),
    /// The key ring of sealed secrets: `new-key` prints a key line, `rotate` re-seals every
    /// stored secret under the ring's first key.
    Secrets(secrets_cmd::SecretsArgs),
    /// Print the OpenAPI document of the v1 API.
    Openapi,
    /// Print the effective configuration (flags > PORTCULLIS_* env > config file > defaults).
    Config(ConfigArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(hide = true)]
    Completions(packaging_cmd::CompletionsArgs),
    /// Write the manual pages (portcullis.1 and one per command) into a directory.
    #[command(hide = true)]
    Man(packaging_cmd::ManArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => code,
        Err(err) => {
            err.report();
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Serve(args) => {
            let settings = config::Settings::resolve(&args)?;
            serve(&settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            let settings = config::Settings::resolve(&args.config)?;
            init::run(settings, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let settings = config::Settings::resolve(&args.config)?;
            check_cmd::run(settings, args).await
        }
        Command::Audit(args) => audit_cmd::run(args).await,
        Command::AccessReview(args) => access_review_cmd::run(args).await,
        Command::Backup(args) => backup_cmd::backup(args).await,
        Command::Restore(args) => backup_cmd::restore(args).await,
        Command::Migrate(args) => migrate_cmd::run(args).await,
        Command::Outbox(args) => outbox_cmd::run(args).await,
        Command::Doctor(args) => {
            let settings = config::Settings::resolve(&args.config)?;
            doctor_cmd::run(settings).await
        }
        Command::Users(args) => users_cmd::run(args).await,
        Command::Secrets(args) => secrets_cmd::run(args).await,
        Command::Openapi => {
            println!("{}", portcullis_http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(args) => {
            let settings = config::Settings::resolve(&args)?;
            println!("{}", settings.to_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => packaging_cmd::completions(&args),
        Command::Man(args) => packaging_cmd::man(&args),
    }
}

/// `portcullis serve`: the application until SIGINT or SIGTERM.
async fn serve(settings: &config::Settings) -> Result<(), CliError> {
    init_logging(settings.log_format, "info");
    let app = App::build(settings).await?;
    // On stdout for scripts and tests that start the server on port 0.
    println!("portcullis listening on {}", app.base_url());
    if let Some(redirect) = app.redirect_address() {
        println!("portcullis redirecting http://{redirect} to HTTPS");
    }
    app.run_until(shutdown_signal()).await?;
    tracing::info!("portcullis stopped");
    Ok(())
}

//! `portcullis migrate --from-data-dir DIR --to-database-url URL`: moves an embedded SQLite
//! instance to PostgreSQL with every row (ids preserved) and the audit chain intact. It refuses
//! a data directory or database a running server uses (the copy is one read of the source), a
//! source whose audit chains do not verify, and it commits the copy only once every table's
//! row count matched, so a failed migration leaves the target as empty as it was.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::config::{Settings, StoreLocation};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite data directory to copy from.
    #[arg(long, value_name = "DIR")]
    pub from_data_dir: PathBuf,
    /// The PostgreSQL database to copy into (migrated here; must hold no accounts yet), with
    /// `sslmode` and `sslrootcert` as `database_url` takes them.
    #[arg(long, value_name = "URL")]
    pub to_database_url: String,
    /// A file holding the target database's password (instead of putting it in the URL).
    #[arg(long, value_name = "FILE")]
    pub to_database_password_file: Option<PathBuf>,
}

pub async fn run(args: MigrateArgs) -> Result<ExitCode, CliError> {
    if !args.to_database_url.starts_with("postgres:")
        && !args.to_database_url.starts_with("postgresql:")
    {
        return Err(CliError::usage(
            "--to-database-url must be a postgres:// URL",
        ));
    }
    if !args.from_data_dir.is_dir() {
        return Err(CliError::usage(format!(
            "no data directory `{}`",
            args.from_data_dir.display()
        )));
    }
    // The copy is one read of the source: no server may write to it meanwhile.
    let _source_claim = portcullis_service::store::claim_data_dir(&args.from_data_dir)?;
    let source = crate::audit_cmd::start(&Settings::for_store(StoreLocation::DataDir(
        args.from_data_dir.clone(),
    ))?)
    .await?;
    // A source whose audit chains do not verify is not copied: the target would inherit a
    // history that cannot be trusted.
    if !crate::backup_cmd::verify_chains(&source).await? {
        return Err(CliError::usage(format!(
            "the audit chains of `{}` do not verify (portcullis audit verify); nothing was migrated",
            args.from_data_dir.display()
        )));
    }
    let mut target_settings =
        Settings::for_store(StoreLocation::Url(args.to_database_url.clone()))?;
    target_settings.database_password_file = args.to_database_password_file.clone();
    target_settings.database_password()?;
    let target_store = crate::app::open_store(&target_settings).await?;
    let _target_claim = target_store.claim_database().await?;
    let copied = source.store().copy_into(&target_store).await?;
    let mut equal = true;
    for table in &copied {
        equal &= table.source_rows == table.target_rows;
        println!(
            "{}",
            json!({"table": table.table, "source_rows": table.source_rows, "target_rows": table.target_rows})
        );
    }
    target_store.close().await;
    let target = crate::audit_cmd::start(&target_settings).await?;
    let intact = crate::backup_cmd::verify_chains(&target).await?;
    let same_revision = target.revision() == source.revision();
    println!(
        "{}",
        json!({
            "migrated": equal && intact && same_revision,
            "revision": target.revision(),
            "row_counts_equal": equal,
            "audit_chains_intact": intact,
        })
    );
    if equal && intact && same_revision {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: the migrated database does not match the source; do not serve from it");
        Ok(ExitCode::from(1))
    }
}

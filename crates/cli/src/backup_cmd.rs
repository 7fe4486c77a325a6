//! `portcullis backup --out FILE` and `portcullis restore --from FILE --data-dir DIR`: an online
//! backup of the embedded SQLite store to one file, and putting such a file back as a data
//! directory. A PostgreSQL store is backed up with `pg_dump` (see docs/deployment.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use portcullis_service::core::OrgKey;
use portcullis_service::store::SQLITE_FILE;
use serde_json::json;

use crate::config::{Settings, StoreArgs, StoreLocation};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `portcullis backup`.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory to restore into (must be empty or absent, unless --force).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Replace the store of a non-empty data directory.
    #[arg(long)]
    pub force: bool,
}

pub async fn backup(args: BackupArgs) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve_store_only(&args.store)?;
    if let StoreLocation::Url(_) = &settings.store {
        return Err(CliError::usage(
            "`portcullis backup` copies the embedded SQLite store; back up PostgreSQL with \
             `pg_dump --format=custom --file=portcullis.dump \"$PORTCULLIS_DATABASE_URL\"` \
             (restore with pg_restore into an empty database; see docs/deployment.md)",
        ));
    }
    if args.out.exists() {
        return Err(CliError::usage(format!(
            "`{}` already exists; choose a new file",
            args.out.display()
        )));
    }
    let service = crate::audit_cmd::start(&settings).await?;
    service.store().backup_to(&args.out).await?;
    println!(
        "{}",
        json!({"backup": args.out.display().to_string(), "revision": service.revision()})
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: RestoreArgs) -> Result<ExitCode, CliError> {
    if !args.from.is_file() {
        return Err(CliError::usage(format!(
            "no backup file `{}`",
            args.from.display()
        )));
    }
    let occupied = std::fs::read_dir(&args.data_dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied && !args.force {
        return Err(CliError::usage(format!(
            "`{}` is not empty; pass --force to replace its store",
            args.data_dir.display()
        )));
    }
    std::fs::create_dir_all(&args.data_dir).map_err(CliError::io(format!(
        "cannot create `{}`",
        args.data_dir.display()
    )))?;
    let db = args.data_dir.join(SQLITE_FILE);
    for stale in [db.clone(), sidecar(&db, "-wal"), sidecar(&db, "-shm")] {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .map_err(CliError::io(format!("cannot remove `{}`", stale.display())))?;
        }
    }
    std::fs::copy(&args.from, &db).map_err(CliError::io(format!(
        "cannot copy `{}` to `{}`",
        args.from.display(),
        db.display()
    )))?;
    let settings = Settings::resolve_store_only(&StoreArgs {
        data_dir: Some(args.data_dir.clone()),
        ..StoreArgs::default()
    })?;
    let service = crate::audit_cmd::start(&settings).await?;
    let intact = verify_chains(&service).await?;
    println!(
        "{}",
        json!({
            "restored": args.data_dir.display().to_string(),
            "revision": service.revision(),
            "audit_chains_intact": intact,
        })
    );
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Verifies the platform chain and every organization's; true when all are intact (broken
/// chains are reported on stderr).
pub(crate) async fn verify_chains(
    service: &portcullis_service::Portcullis,
) -> Result<bool, CliError> {
    let mut chains: Vec<(String, Option<OrgKey>)> = service.with_index(|index| {
        index
            .orgs()
            .map(|(k, o)| (o.id.to_string(), Some(k)))
            .collect()
    });
    chains.insert(0, ("platform".to_owned(), None));
    let mut intact = true;
    for (name, key) in chains {
        let verification = service.store().verify_audit_chain(key).await?;
        if !verification.ok {
            intact = false;
            eprintln!("audit chain `{name}` is broken");
        }
    }
    Ok(intact)
}

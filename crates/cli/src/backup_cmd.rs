//! `portcullis backup --out FILE` and `portcullis restore --from FILE --data-dir DIR`: an online
//! backup of the embedded SQLite store to one file, and putting such a file back as a data
//! directory. A PostgreSQL store is backed up with `pg_dump` (see docs/deployment.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use portcullis_service::core::OrgKey;
use portcullis_service::store::{LOCK_FILE, SQLITE_FILE, claim_data_dir};
use serde_json::json;

use crate::config::{ConfigArgs, Settings, StoreLocation};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
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
    let settings = Settings::resolve(&args.config)?;
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
    // The revision read from the written file: a running server may have committed more
    // since this command loaded its index.
    let revision = service.store().backup_to(&args.out).await?;
    println!(
        "{}",
        json!({"backup": args.out.display().to_string(), "revision": revision})
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
    std::fs::create_dir_all(&args.data_dir).map_err(CliError::io(format!(
        "cannot create `{}`",
        args.data_dir.display()
    )))?;
    // Held to the end: no server may start on the directory, and none may be running on it.
    let _claim = claim_data_dir(&args.data_dir)?;
    let occupied = std::fs::read_dir(&args.data_dir)
        .map(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                name != LOCK_FILE && name != RESTORE_STAGING
            })
        })
        .unwrap_or(false);
    if occupied && !args.force {
        return Err(CliError::usage(format!(
            "`{}` is not empty; pass --force to replace its store",
            args.data_dir.display()
        )));
    }
    // Restored and verified beside the live file, then moved over it in one rename: a failed
    // or interrupted restore leaves the directory as it was.
    let staging = args.data_dir.join(RESTORE_STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(CliError::io(format!(
            "cannot remove `{}`",
            staging.display()
        )))?;
    }
    std::fs::create_dir_all(&staging).map_err(CliError::io(format!(
        "cannot create `{}`",
        staging.display()
    )))?;
    let verified = stage(&args.from, &staging).await;
    let (revision, intact) = match verified {
        Ok(done) => done,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
    };
    if !intact {
        let _ = std::fs::remove_dir_all(&staging);
        eprintln!(
            "error: the backup's audit chains do not verify; `{}` was left unchanged",
            args.data_dir.display()
        );
        println!(
            "{}",
            json!({"restored": false, "revision": revision, "audit_chains_intact": false})
        );
        return Ok(ExitCode::from(1));
    }
    let db = args.data_dir.join(SQLITE_FILE);
    // A journal of the replaced file must not be replayed into the restored one.
    for stale in [sidecar(&db, "-wal"), sidecar(&db, "-shm")] {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .map_err(CliError::io(format!("cannot remove `{}`", stale.display())))?;
        }
    }
    std::fs::rename(staging.join(SQLITE_FILE), &db).map_err(CliError::io(format!(
        "cannot move the restored store to `{}`",
        db.display()
    )))?;
    let _ = std::fs::remove_dir_all(&staging);
    println!(
        "{}",
        json!({
            "restored": args.data_dir.display().to_string(),
            "revision": revision,
            "audit_chains_intact": true,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Where a restore is prepared inside the data directory (same filesystem, so the final move
/// is one rename).
const RESTORE_STAGING: &str = ".restoring";

/// Copies the backup into `staging`, opens it (migrating it to this version) and verifies its
/// audit chains; returns its revision and whether the chains are intact. The store is closed
/// with its journal folded back into the one file.
async fn stage(from: &Path, staging: &Path) -> Result<(u64, bool), CliError> {
    let db = staging.join(SQLITE_FILE);
    std::fs::copy(from, &db).map_err(CliError::io(format!(
        "cannot copy `{}` to `{}`",
        from.display(),
        db.display()
    )))?;
    let settings = Settings::for_store(StoreLocation::DataDir(staging.to_owned()))?;
    let service = crate::audit_cmd::start(&settings).await?;
    let intact = verify_chains(&service).await?;
    let revision = service.revision();
    service.store().close().await;
    drop(service);
    if sidecar(&db, "-wal")
        .metadata()
        .is_ok_and(|wal| wal.len() > 0)
    {
        return Err(CliError::usage(
            "the restored store's journal was not folded back into its file; nothing replaced",
        ));
    }
    Ok((revision, intact))
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

//! `portcullis audit verify [--org X]` and `portcullis audit prune --older-than-days N`: the
//! operator's tools on the audit log, run against the store directly (no server needed).
//!
//! `verify` prints one JSON line per chain (`{chain, ok, entries, first_broken}`) and exits 1
//! when any chain is broken; without `--org` it verifies the platform chain and every
//! organization's.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use portcullis_service::core::audit_chain::Verification;
use portcullis_service::core::{OrgKey, SystemClock};
use portcullis_service::{Caller, Portcullis};
use serde_json::json;

use crate::app::{init_logging, open_store};
use crate::config::{ConfigArgs, Settings, StoreLocation};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chains of the audit log; exit 0 if intact, 1 if broken.
    Verify(VerifyArgs),
    /// Remove entries older than N days from every chain, recording the pruning.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this organization's chain.
    #[arg(long)]
    pub org: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Entries older than this many days are removed.
    #[arg(long, value_name = "DAYS")]
    pub older_than_days: u32,
    #[command(flatten)]
    pub config: ConfigArgs,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub async fn run(args: AuditArgs) -> Result<ExitCode, CliError> {
    let store_args = match &args.command {
        AuditCommand::Verify(v) => &v.config,
        AuditCommand::Prune(p) => &p.config,
    };
    let settings = Settings::resolve(store_args)?;
    let service = start(&settings).await?;
    match args.command {
        AuditCommand::Verify(v) => verify(&service, v.org.as_deref()).await,
        AuditCommand::Prune(p) => {
            let before = service.now() - i64::from(p.older_than_days) * DAY_MS;
            let pruned = service.prune_audit_log(&Caller::system(), before).await?;
            for chain in &pruned.value {
                println!(
                    "{}",
                    json!({"chain": chain.chain, "through_seq": chain.through_seq, "removed": chain.removed})
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) async fn start(settings: &Settings) -> Result<Arc<Portcullis>, CliError> {
    init_logging(settings.log_format, "warn");
    if let StoreLocation::DataDir(dir) = &settings.store
        && !dir.is_dir()
    {
        return Err(CliError::usage(format!(
            "no data directory `{}`",
            dir.display()
        )));
    }
    let store = open_store(settings).await?;
    Ok(Portcullis::start(store, Arc::new(SystemClock), settings.service_config()).await?)
}

async fn verify(service: &Portcullis, org: Option<&str>) -> Result<ExitCode, CliError> {
    let chains: Vec<(String, Option<OrgKey>)> = match org {
        Some(id) => {
            let key = service
                .resolve_org(id)
                .map_err(|_| CliError::usage(format!("unknown organization `{id}`")))?;
            vec![(id.to_owned(), Some(key))]
        }
        None => {
            let mut all: Vec<(String, Option<OrgKey>)> = service.with_index(|index| {
                index
                    .orgs()
                    .map(|(k, o)| (o.id.to_string(), Some(k)))
                    .collect()
            });
            all.sort();
            all.insert(0, ("platform".to_owned(), None));
            all
        }
    };
    let mut intact = true;
    for (name, key) in chains {
        let v: Verification = service.store().verify_audit_chain(key).await?;
        intact &= v.ok;
        println!(
            "{}",
            json!({
                "chain": name,
                "ok": v.ok,
                "entries": v.entries,
                "first_broken": v.first_broken.map(|b| json!({"seq": b.seq, "id": b.id, "problem": b.problem.code()})),
            })
        );
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

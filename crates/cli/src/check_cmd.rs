//! `portcullis check`: one decision from the stored data, without a server. Loads the store
//! into the service's index and asks the core decision function, exactly as the API would for
//! a session of that user.
//!
//! Prints `{allowed, reason, via, revision}` (rendered as `POST /v1/check` renders it) and
//! exits 0 when allowed, 1 when denied.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use portcullis_service::Portcullis;
use portcullis_service::check::explain;
use portcullis_service::core::decision::{Denial, Resource, Subject, check};
use portcullis_service::core::{Permission, SystemClock};
use serde_json::json;

use crate::app::{init_logging, open_store};
use crate::config::{ConfigArgs, Settings, StoreLocation};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The user the question is about.
    #[arg(long)]
    pub user: String,
    /// A permission id (see `GET /v1/roles`), e.g. `app.delete`.
    #[arg(long)]
    pub permission: String,
    /// An organization (or a user's personal account), for org-level permissions.
    #[arg(long, required_unless_present = "account", conflicts_with_all = ["account", "app"])]
    pub org: Option<String>,
    /// The account (organization or user) owning `--app`.
    #[arg(long, requires = "app")]
    pub account: Option<String>,
    /// An app, for app-level permissions.
    #[arg(long, requires = "account")]
    pub app: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(settings: Settings, args: CheckArgs) -> Result<ExitCode, CliError> {
    init_logging(settings.log_format, "warn");
    let permission = Permission::parse(&args.permission).ok_or_else(|| {
        CliError::usage(format!(
            "unknown permission `{}` (`portcullis serve` lists them at GET /v1/roles)",
            args.permission
        ))
    })?;
    if let StoreLocation::DataDir(dir) = &settings.store
        && !dir.is_dir()
    {
        // Opening would create an empty store; a check against nothing is a mistake.
        return Err(CliError::usage(format!(
            "no data directory `{}`",
            dir.display()
        )));
    }
    let store = open_store(&settings).await?;
    let service = Portcullis::start(
        store.clone(),
        Arc::new(SystemClock),
        settings.service_config(),
    )
    .await?;
    store.close().await;
    let user = service
        .resolve_user(&args.user)
        .map_err(|_| CliError::usage(format!("unknown user `{}`", args.user)))?;
    let answer = service.with_index(|index| {
        let subject = Subject::user(user);
        let resource = match (&args.org, &args.account, &args.app) {
            (Some(org), _, _) => index.account(org).map(Resource::Account),
            (None, Some(account), Some(app)) => {
                index.account(account).and_then(|owner| index.app_by_id(owner, app)).map(Resource::App)
            }
            _ => None,
        };
        match resource {
            Some(resource) => {
                let explained = explain(index, &check(index, &subject, permission, resource));
                json!({
                    "allowed": explained.allowed,
                    "reason": explained.reason,
                    "via": explained.via,
                    "revision": explained.revision,
                })
            }
            // Same answer as the decision function gives for a missing resource.
            None => json!({"allowed": false, "reason": Denial::NotFound.code(), "via": [], "revision": index.revision()}),
        }
    });
    println!("{answer}");
    let allowed = answer["allowed"].as_bool().unwrap_or(false);
    Ok(if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

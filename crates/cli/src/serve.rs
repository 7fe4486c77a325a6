//! `portcullis serve`: open the store, start the service, serve the router until SIGINT or
//! SIGTERM, then finish in-flight requests and close the store.

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis_service::core::SystemClock;
use portcullis_service::mail_delivery::{SmtpMailer, spawn_delivery};
use portcullis_service::store::Store;
use portcullis_service::{Caller, Portcullis};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings, StoreLocation};
use crate::error::CliError;

pub async fn run(settings: Settings) -> Result<(), CliError> {
    init_logging(settings.log_format, "info");
    let store = open_store(&settings).await?;
    // Held until the process ends: `restore` and `migrate` refuse a store a server is using.
    let _claim = match &settings.store {
        StoreLocation::DataDir(dir) => portcullis_service::store::share_data_dir(dir)?,
        StoreLocation::Url(_) => store.share_database().await?,
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(CliError::io(format!(
            "cannot listen on `{}`",
            settings.listen
        )))?;
    let address = listener
        .local_addr()
        .map_err(CliError::io("cannot read the listening address"))?;
    let mut config = settings.service_config();
    if settings.public_url.is_none() {
        config.public_url = format!("http://{address}");
        // Identity providers are configured with this server's addresses: one derived from
        // the listening socket is wrong behind any proxy or name.
        if store.identity_provider_count().await.unwrap_or_default() > 0 {
            tracing::warn!(
                public_url = %config.public_url,
                "identity providers exist but `public_url` is not set: their SP entity ids and \
                 ACS URLs use the listening address"
            );
        }
    }
    let public_url = config.public_url.clone();
    let service = Portcullis::start(store.clone(), Arc::new(SystemClock), config).await?;
    report_email_keys(&service).await?;
    tracing::info!(
        %address,
        %public_url,
        store = %settings.store_description(),
        revision = service.revision(),
        signup_enabled = settings.signup_enabled,
        "portcullis started"
    );
    // On stdout for scripts and tests that start the server on port 0.
    println!("portcullis listening on http://{address}");

    // Other servers on the same database: apply their writes as they commit.
    service.spawn_follower();
    tokio::spawn(recheck_domains_periodically(service.clone()));
    match &settings.mail {
        Some(mail) => {
            let mailer = SmtpMailer::new(&mail.smtp_config()?)
                .map_err(|e| CliError::usage(e.to_string()))?;
            tracing::info!(relay = %mailer.description, from = %mail.mail_from,
                "delivering the outbox over SMTP");
            spawn_delivery(service.clone(), mailer);
        }
        None => tracing::warn!(
            "no `smtp_url`: messages (verification links, invitations, password resets) stay \
             in the outbox; read them with `portcullis outbox`"
        ),
    }
    if let Some(days) = settings.audit_retention_days {
        tokio::spawn(prune_audit_log_hourly(service.clone(), days));
    }
    let app = portcullis_http::router(service);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(CliError::io("the server failed"))?;
    store.close().await;
    tracing::info!("portcullis stopped");
    Ok(())
}

/// Upgrades stored email keys to the canonical form and names the accounts that collide under
/// it (left alone: `portcullis doctor` lists them too).
async fn report_email_keys(service: &Portcullis) -> Result<(), CliError> {
    let report = service.upgrade_email_keys().await?;
    if report.upgradable > 0 {
        tracing::info!(
            upgraded = report.upgradable,
            "email keys upgraded to the canonical form"
        );
    }
    for collision in &report.collisions {
        tracing::warn!(
            canonical = %collision.canonical,
            accounts = ?collision.accounts,
            "accounts whose email addresses collide under the canonical form keep the keys they \
             had; an operator decides which owns the address (portcullis doctor)"
        );
    }
    Ok(())
}

/// Retention: every hour, prunes audit entries older than `days` (recorded in the log itself,
/// and the chain keeps verifying from its new first entry).
async fn prune_audit_log_hourly(service: Arc<Portcullis>, days: u32) {
    const DAY_MS: i64 = 24 * 3_600_000;
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3_600));
    loop {
        every_hour.tick().await;
        let before = service.now() - i64::from(days) * DAY_MS;
        match service.prune_audit_log(&Caller::system(), before).await {
            Ok(pruned) => {
                let entries: u64 = pruned.value.iter().map(|c| c.removed).sum();
                tracing::info!(entries, days, "audit retention applied");
            }
            Err(err) => tracing::error!(error = %err, "audit retention failed"),
        }
    }
}

/// Re-checks every verified domain's TXT record periodically; a claim whose record is gone is
/// suspended (audited, its organization's administrators mailed).
async fn recheck_domains_periodically(service: Arc<Portcullis>) {
    let mut every = tokio::time::interval(portcullis_service::domains::RECHECK_INTERVAL);
    loop {
        every.tick().await;
        match service.recheck_domains().await {
            Ok(report) if !report.suspended.is_empty() => tracing::warn!(
                checked = report.checked,
                suspended = ?report.suspended,
                "verified domains whose TXT record is gone were suspended"
            ),
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "the domain re-check failed"),
        }
    }
}

/// Opens the store the settings name: the SQLite data directory, or a database URL.
pub async fn open_store(settings: &Settings) -> Result<Store, CliError> {
    let store = match &settings.store {
        StoreLocation::DataDir(dir) => Store::open_data_dir(dir).await,
        StoreLocation::Url(url) => Store::open(url).await,
    };
    // Reported once, by the caller, as the command's `error:` line.
    store.map_err(CliError::Store)
}

/// Logs go to stderr (stdout carries command output). `RUST_LOG` overrides the level.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Already initialised (never in the binary): keep the existing subscriber.
    drop(result);
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

//! The application `serve` runs, built in one place ([`App::build`], [`App::start`]) for the
//! binary and the API test suite: open the store, start the service and its background tasks,
//! serve the router until told to stop, then finish in-flight requests and close the store.
//!
//! The listener speaks plain HTTP, or HTTPS when the settings name a certificate ([`Https`]:
//! rustls through axum-server, the certificate reloaded in place by [`tls::keep_fresh`], and
//! optionally a second, plain listener that only redirects to HTTPS).

use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use portcullis_service::core::{Clock, SystemClock};
use portcullis_service::mail_delivery::{SmtpConfig, SmtpMailer, spawn_delivery};
use portcullis_service::sealing::KeyRing;
use portcullis_service::store::{Claim, Store};
use portcullis_service::{Caller, Portcullis, ServiceConfig};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, SecretKeysSource, Settings, StoreLocation};
use crate::error::CliError;
use crate::https_redirect;
use crate::tls::{self, Hangup, ServerCertificate, TlsFiles};

/// The running application: the service over its store, its bound listener, and the background
/// tasks `serve` needs (following other servers' writes, re-checking domains, delivering mail,
/// pruning the audit log). `serve` and the API test suite both build it here, so the tests
/// exercise what `serve` wires.
pub struct App {
    service: Arc<Portcullis>,
    listener: TcpListener,
    address: SocketAddr,
    /// `None`: plain HTTP.
    https: Option<Serving>,
    /// Held until the app is dropped: `restore` and `migrate` refuse a store a server is using.
    _claim: Option<Claim>,
}

/// HTTPS for the listener: the certificate's files (watched for renewals) and the pair as
/// loaded at start-up.
#[derive(Debug)]
pub struct Https {
    pub files: TlsFiles,
    pub certificate: ServerCertificate,
    /// A bound plain-HTTP listener that answers every request with a redirect to
    /// `public_url` (the service's, which must then be https://).
    pub redirect_listener: Option<TcpListener>,
}

/// HTTPS as the running app serves it.
struct Serving {
    served: RustlsConfig,
    redirect: Option<(TcpListener, SocketAddr)>,
    /// Reloads `served` on SIGHUP and file changes; stopped with the server.
    reload: tokio::task::JoinHandle<()>,
}

/// What [`App::start`] builds an application from, once the store is open and the listener bound.
pub struct Parts {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: ServiceConfig,
    pub listener: TcpListener,
    /// `None`: messages stay in the outbox.
    pub mail: Option<SmtpConfig>,
    /// `None`: audit entries are kept forever.
    pub audit_retention_days: Option<u32>,
    /// `None`: the listener speaks plain HTTP.
    pub https: Option<Https>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("config", &self.config)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl App {
    /// `serve`'s application: the store, listening address, clock and workers the settings name.
    pub async fn build(settings: &Settings) -> Result<App, CliError> {
        let store = open_store(settings).await?;
        let secret_keys = Arc::new(load_key_ring(settings, &store).await?);
        let claim = match &settings.store {
            StoreLocation::DataDir(dir) => portcullis_service::store::share_data_dir(dir)?,
            StoreLocation::Url(_) => store.share_database().await?,
        };
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(CliError::io(format!(
                "cannot listen on `{}`",
                settings.listen
            )))?;
        let address = local_address(&listener)?;
        let https = match &settings.tls {
            Some(tls) => Some(Https {
                files: tls.files.clone(),
                certificate: tls.certificate.clone(),
                redirect_listener: match &tls.http_redirect_listen {
                    Some(listen) => Some(TcpListener::bind(listen).await.map_err(CliError::io(
                        format!("cannot listen on `{listen}` (http_redirect_listen)"),
                    ))?),
                    None => None,
                },
            }),
            None => None,
        };
        let mut config = settings.service_config();
        config.secret_keys = secret_keys;
        if settings.public_url.is_none() {
            let scheme = if https.is_some() { "https" } else { "http" };
            config.public_url = format!("{scheme}://{address}");
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
        let mail = match &settings.mail {
            Some(mail) => Some(mail.smtp_config()?),
            None => None,
        };
        let mut app = Self::start(Parts {
            store,
            clock: Arc::new(SystemClock),
            config,
            listener,
            mail,
            audit_retention_days: settings.audit_retention_days,
            https,
        })
        .await?;
        app._claim = Some(claim);
        tracing::info!(
            address = %app.address,
            https = app.https.is_some(),
            public_url = %app.service.config().public_url,
            store = %settings.store_description(),
            revision = app.service.revision(),
            signup_enabled = settings.signup_enabled,
            "portcullis started"
        );
        Ok(app)
    }

    /// Starts the service over an open store and spawns its background tasks; the router is
    /// served by [`App::run_until`].
    pub async fn start(parts: Parts) -> Result<App, CliError> {
        let address = local_address(&parts.listener)?;
        let service = Portcullis::start(parts.store, parts.clock, parts.config).await?;
        seal_stored_secrets(&service).await?;
        report_email_keys(&service).await?;
        // Other servers on the same database: apply their writes as they commit.
        service.spawn_follower();
        tokio::spawn(recheck_domains_periodically(service.clone()));
        match parts.mail {
            Some(config) => {
                let mailer =
                    SmtpMailer::new(&config).map_err(|e| CliError::usage(e.to_string()))?;
                tracing::info!(relay = %mailer.description, from = %config.from,
                    "delivering the outbox over SMTP");
                spawn_delivery(service.clone(), mailer);
            }
            None => tracing::warn!(
                "no `smtp_url`: messages (verification links, invitations, password resets) stay \
                 in the outbox; read them with `portcullis outbox`"
            ),
        }
        if let Some(days) = parts.audit_retention_days {
            tokio::spawn(prune_audit_log_hourly(service.clone(), days));
        }
        let https = match parts.https {
            Some(https) => {
                https
                    .certificate
                    .facts()
                    .log("serving HTTPS with this certificate");
                let served = https.certificate.rustls_config();
                // Registered now, before `serve` reports that it listens: from then on a
                // SIGHUP reloads the certificate instead of ending the process.
                let reload = tokio::spawn(tls::keep_fresh(
                    https.files,
                    served.clone(),
                    Hangup::register(),
                ));
                let redirect = match https.redirect_listener {
                    Some(listener) => {
                        let address = local_address(&listener)?;
                        Some((listener, address))
                    }
                    None => None,
                };
                Some(Serving {
                    served,
                    redirect,
                    reload,
                })
            }
            None => None,
        };
        Ok(App {
            service,
            listener: parts.listener,
            address,
            https,
            _claim: None,
        })
    }

    /// The address the listener is bound to (port 0 resolved).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `https://` and the address when the listener speaks TLS, else `http://` and the address.
    pub fn base_url(&self) -> String {
        match self.https {
            Some(_) => format!("https://{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    /// The address of the plain-HTTP listener that only redirects, if there is one.
    pub fn redirect_address(&self) -> Option<SocketAddr> {
        self.https
            .as_ref()
            .and_then(|https| https.redirect.as_ref().map(|(_, address)| *address))
    }

    pub fn service(&self) -> &Arc<Portcullis> {
        &self.service
    }

    /// Serves the router until `shutdown` resolves, finishes the requests in flight, then
    /// closes the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CliError> {
        let store = self.service.store().clone();
        let public_url = self.service.config().public_url.clone();
        // The gRPC services beside the HTTP API on the same listener: gRPC calls are HTTP/2
        // POSTs to `/<package>.<Service>/<Method>`, paths the HTTP API does not use. They do
        // their own revision wait and error model, so they are routed before the HTTP
        // server's per-request handling, which answers everything else.
        let router = axum::Router::new()
            .merge(portcullis_grpc::router(self.service.clone()).await)
            .fallback_service(portcullis_http::service(self.service));
        match self.https {
            None => axum::serve(
                self.listener,
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(router),
            )
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(CliError::io("the server failed"))?,
            Some(https) => {
                let result = serve_https(
                    self.listener,
                    router,
                    https.served,
                    https.redirect.map(|(listener, _)| (listener, public_url)),
                    shutdown,
                )
                .await;
                https.reload.abort();
                result?;
            }
        }
        store.close().await;
        Ok(())
    }
}

/// Serves `router` over TLS on `listener` (and the redirect on its own listener) until
/// `shutdown` resolves; then both stop accepting and finish the requests in flight.
async fn serve_https(
    listener: TcpListener,
    router: axum::Router,
    served: RustlsConfig,
    redirect: Option<(TcpListener, String)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let control = axum_server::Control::new();
    tokio::spawn({
        let control = control.clone();
        async move {
            shutdown.await;
            control.graceful_shutdown(None);
        }
    });
    let redirecting = match redirect {
        Some((listener, public_url)) => {
            let server = axum_server::from_tcp(into_std(listener)?)
                .map_err(CliError::io("cannot serve the redirect listener"))?
                .handle(axum_server::Handle::with_control(control.clone()));
            Some(tokio::spawn(server.serve(
                https_redirect::router(public_url).into_make_service(),
            )))
        }
        None => None,
    };
    let serving = axum_server::from_tcp_rustls(into_std(listener)?, served)
        .map_err(CliError::io("cannot serve HTTPS"))?
        .handle(axum_server::Handle::with_control(control.clone()))
        // Failed handshakes (scanners, clients that do not trust the certificate, plain HTTP
        // on the TLS port) are the client's business; visible with RUST_LOG=portcullis=debug.
        .accept_error_handler(|peer: Option<&SocketAddr>, err: &std::io::Error| {
            tracing::debug!(peer = ?peer, error = %err, "TLS connection not established");
        })
        .serve(
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(router),
        )
        .await;
    if serving.is_err() {
        // Nothing is served any more: stop the redirect listener too.
        control.shutdown();
    }
    serving.map_err(CliError::io("the server failed"))?;
    if let Some(redirecting) = redirecting {
        match redirecting.await {
            Ok(result) => result.map_err(CliError::io("the redirect listener failed"))?,
            Err(err) => tracing::error!(error = %err, "the redirect listener stopped"),
        }
    }
    Ok(())
}

fn into_std(listener: TcpListener) -> Result<std::net::TcpListener, CliError> {
    listener
        .into_std()
        .map_err(CliError::io("cannot hand the listener to the TLS server"))
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn local_address(listener: &TcpListener) -> Result<SocketAddr, CliError> {
    listener
        .local_addr()
        .map_err(CliError::io("cannot read the listening address"))
}

/// The key ring `serve` and `init` use: the default key file is created when missing, unless
/// the store already holds sealed secrets (a new key would open none of them).
pub async fn load_key_ring(settings: &Settings, store: &Store) -> Result<KeyRing, CliError> {
    let sealed = store.has_sealed_secrets().await?;
    if sealed
        && let SecretKeysSource::File {
            path,
            default: true,
        } = &settings.secret_keys
        && !path.exists()
    {
        return Err(CliError::usage(format!(
            "the key ring file `{}` is missing but the store holds sealed secrets: put back the \
             key ring they were sealed with (a new key would open none of them)",
            path.display()
        )));
    }
    settings.key_ring(!sealed)
}

/// Refuses a key ring that cannot open every stored secret, and seals the plain TOTP seeds
/// an older version stored.
async fn seal_stored_secrets(service: &Portcullis) -> Result<(), CliError> {
    let sealed = service.seal_stored_secrets().await?;
    if sealed.sealed_plain > 0 {
        tracing::info!(
            sealed = sealed.sealed_plain,
            key_id = service.config().secret_keys.primary_id(),
            "plain TOTP seeds sealed under the key ring"
        );
    }
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

/// Opens the store the settings name: the SQLite data directory, or a database URL (with the
/// password from `database_password_file`). Warns when a PostgreSQL server on another machine
/// is reached without verifying its certificate.
pub async fn open_store(settings: &Settings) -> Result<Store, CliError> {
    let store = match &settings.store {
        StoreLocation::DataDir(dir) => Store::open_data_dir(dir).await,
        StoreLocation::Url(url) => {
            let password = settings.database_password()?;
            Store::open_with_password(url, password.as_ref().map(ExposeSecret::expose_secret)).await
        }
    };
    // Reported once, by the caller, as the command's `error:` line.
    let store = store.map_err(CliError::Store)?;
    if let Some(warning) = transport_warning(&store).await? {
        tracing::warn!("{warning}");
    }
    Ok(store)
}

/// What [`open_store`] warns about (also in `doctor`'s report): a PostgreSQL server on another
/// machine reached with an sslmode that does not verify it.
pub async fn transport_warning(store: &Store) -> Result<Option<String>, CliError> {
    let transport = store.transport().await.map_err(CliError::Store)?;
    Ok(transport.and_then(|transport| transport.warning()))
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
        LogFormat::Json => builder
            .json()
            .fmt_fields(crate::log_fields::JsonSpanFields)
            .try_init(),
    };
    // Already initialised (never in the binary): keep the existing subscriber.
    drop(result);
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
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

//! Configuration: a TOML file (`--config`), `PORTCULLIS_*` environment variables and flags.
//!
//! Precedence is flag > environment > file > default. clap merges the first two (each flag
//! declares its variable), the file fills what neither gave, and the defaults the rest. Unknown
//! keys in the file are rejected, so a typo never silently falls back to a default.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use portcullis_service::mail_delivery::{SmtpConfig, SmtpMailer};
use portcullis_service::outbound::OutboundPolicy;
use portcullis_service::{ServiceConfig, SpKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::error::CliError;

pub const DEFAULT_DATA_DIR: &str = "./portcullis-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Longest allowed consistency wait: a request should not hang for minutes.
const MAX_CONSISTENCY_WAIT_MS: u32 = 60_000;

/// Where the data lives; shared by every command that opens the store.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// TOML configuration file (keys: data_dir, listen, database_url, signup_enabled,
    /// session_ttl_hours, remember_me_ttl_days, invitation_ttl_days, max_orgs_per_user,
    /// audit_retention_days, consistency_wait_ms, log_format, saml_sp_key_file,
    /// saml_sp_cert_file, public_url, outbound_allow, smtp_url, smtp_password_file, smtp_ca_file,
    /// mail_from, smtp_retry_initial_ms, smtp_max_attempts, dns_nameserver).
    #[arg(long, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite store, created on first start [default: ./portcullis-data].
    #[arg(long, env = "PORTCULLIS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of the data directory (postgres://user@host:port/db).
    #[arg(long, env = "PORTCULLIS_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

/// `serve` (and `config`): the store plus how to listen, log and behave.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "PORTCULLIS_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log format on stderr [default: human].
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Whether POST /v1/signup creates accounts [default: true].
    #[arg(long, env = "PORTCULLIS_SIGNUP_ENABLED", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub signup_enabled: Option<bool>,
    /// Session lifetime in hours [default: 24].
    #[arg(long, env = "PORTCULLIS_SESSION_TTL_HOURS", value_name = "HOURS")]
    pub session_ttl_hours: Option<u32>,
    /// "Remember me" session lifetime in days [default: 30].
    #[arg(long, env = "PORTCULLIS_REMEMBER_ME_TTL_DAYS", value_name = "DAYS")]
    pub remember_me_ttl_days: Option<u32>,
    /// How long an invitation can be accepted, in days [default: 7].
    #[arg(long, env = "PORTCULLIS_INVITATION_TTL_DAYS", value_name = "DAYS")]
    pub invitation_ttl_days: Option<u32>,
    /// How many organizations one user may belong to [default: 20].
    #[arg(long, env = "PORTCULLIS_MAX_ORGS_PER_USER", value_name = "N")]
    pub max_orgs_per_user: Option<u32>,
    /// Prune audit entries older than this many days, hourly (the pruning itself is recorded
    /// and the chain still verifies) [default: keep everything].
    #[arg(long, env = "PORTCULLIS_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Longest a request with a consistency token waits for this server to reach the token's
    /// revision before answering 503, in milliseconds (at most 60000) [default: 2000].
    #[arg(long, env = "PORTCULLIS_CONSISTENCY_WAIT_MS", value_name = "MS")]
    pub consistency_wait_ms: Option<u32>,
    /// The SAML service provider's PEM private key (RSA ≥ 2048 bits or EC P-256): signs
    /// AuthnRequests, decrypts encrypted assertions. Set together with --saml-sp-cert-file.
    #[arg(long, env = "PORTCULLIS_SAML_SP_KEY_FILE", value_name = "FILE")]
    pub saml_sp_key_file: Option<PathBuf>,
    /// The PEM X.509 certificate of that key, published in the SP metadata.
    #[arg(long, env = "PORTCULLIS_SAML_SP_CERT_FILE", value_name = "FILE")]
    pub saml_sp_cert_file: Option<PathBuf>,
    /// Where browsers and identity providers reach this server (e.g.
    /// https://auth.example.com): SAML entity ids, ACS URLs and links in mail derive from it
    /// [default: http:// and the address `serve` listens on].
    #[arg(long, env = "PORTCULLIS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// The DNS server that verifies organizations' domains, as IP or IP:PORT (port 53 when
    /// omitted) [default: the system resolver].
    #[arg(long, env = "PORTCULLIS_DNS_NAMESERVER", value_name = "ADDR")]
    pub dns_nameserver: Option<String>,
    /// Internal hosts or networks the server may fetch from on a user's behalf (identity
    /// provider metadata URLs), comma-separated IP addresses, CIDR networks or host names;
    /// loopback, private, link-local, CGNAT and other internal addresses are refused unless
    /// listed [default: none].
    #[arg(
        long,
        env = "PORTCULLIS_OUTBOUND_ALLOW",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub outbound_allow: Option<Vec<String>>,
    /// The SMTP relay the outbox is delivered through: smtp://[user[:password]@]host[:port]
    /// (STARTTLS required; add ?tls=opportunistic or ?tls=none to relax it) or smtps://…
    /// [default: none, messages stay in the outbox for `portcullis outbox`].
    #[arg(long, env = "PORTCULLIS_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// A file holding the SMTP password (instead of putting it in the URL).
    #[arg(long, env = "PORTCULLIS_SMTP_PASSWORD_FILE", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// Extra PEM CA certificate(s) to trust for the relay's TLS certificate.
    #[arg(long, env = "PORTCULLIS_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender of every message, e.g. "Portcullis <no-reply@example.com>" (required with
    /// smtp_url).
    #[arg(long, env = "PORTCULLIS_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// The first retry of a failed delivery waits this long, each next one twice as long
    /// (at most 30 minutes) [default: 5000].
    #[arg(long, env = "PORTCULLIS_SMTP_RETRY_INITIAL_MS", value_name = "MS")]
    pub smtp_retry_initial_ms: Option<u64>,
    /// After this many failed attempts a message is marked failed [default: 10].
    #[arg(long, env = "PORTCULLIS_SMTP_MAX_ATTEMPTS", value_name = "N")]
    pub smtp_max_attempts: Option<u32>,
}

const DEFAULT_SMTP_RETRY_INITIAL_MS: u64 = 5_000;
const DEFAULT_SMTP_MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl LogFormat {
    fn as_str(self) -> &'static str {
        match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        }
    }
}

/// The configuration file, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub signup_enabled: Option<bool>,
    pub session_ttl_hours: Option<u32>,
    pub remember_me_ttl_days: Option<u32>,
    pub invitation_ttl_days: Option<u32>,
    pub max_orgs_per_user: Option<u32>,
    pub audit_retention_days: Option<u32>,
    pub consistency_wait_ms: Option<u32>,
    pub log_format: Option<LogFormat>,
    pub saml_sp_key_file: Option<PathBuf>,
    pub saml_sp_cert_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub dns_nameserver: Option<String>,
    pub outbound_allow: Option<Vec<String>>,
    pub smtp_url: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: Option<String>,
    pub smtp_retry_initial_ms: Option<u64>,
    pub smtp_max_attempts: Option<u32>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(CliError::io(format!(
            "cannot read the config file `{}`",
            path.display()
        )))?;
        toml::from_str(&text).map_err(|err| {
            // toml's message names the key (e.g. "unknown field `lisen`, expected one of ...").
            let line = err
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            CliError::usage(match line {
                Some(line) => format!(
                    "invalid config file `{}` (line {line}): {}",
                    path.display(),
                    err.message()
                ),
                None => format!(
                    "invalid config file `{}`: {}",
                    path.display(),
                    err.message()
                ),
            })
        })
    }
}

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    DataDir(PathBuf),
    Url(String),
}

/// The effective settings after merging every source.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreLocation,
    pub listen: String,
    pub log_format: LogFormat,
    pub signup_enabled: bool,
    pub session_ttl_hours: u32,
    pub remember_me_ttl_days: u32,
    pub invitation_ttl_days: u32,
    pub max_orgs_per_user: u32,
    /// `None`: audit entries are kept forever.
    pub audit_retention_days: Option<u32>,
    pub consistency_wait_ms: u32,
    /// The SAML SP key pair's files and the validated pair (never printed or logged).
    pub saml_sp_files: Option<(PathBuf, PathBuf)>,
    pub saml_sp_key: Option<Arc<SpKey>>,
    /// `None`: derived from the listening address by `serve` (and warned about when identity
    /// providers exist, since they need a stable address).
    pub public_url: Option<String>,
    /// `None`: the system resolver.
    pub dns_nameserver: Option<SocketAddr>,
    /// Internal hosts and networks outbound requests may reach (none by default).
    pub outbound_allow: OutboundPolicy,
    /// Mail delivery; `None`: no `smtp_url`, messages stay in the outbox.
    pub mail: Option<MailSettings>,
}

/// Where and how the outbox is delivered (the password is never printed or logged).
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp_url: SecretString,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: String,
    pub retry_initial_ms: u64,
    pub max_attempts: u32,
}

impl MailSettings {
    /// Reads the password and CA files and checks the whole configuration.
    pub fn smtp_config(&self) -> Result<SmtpConfig, CliError> {
        let password = match &self.smtp_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(CliError::io(format!(
                    "cannot read the SMTP password file `{}`",
                    path.display()
                )))?;
                Some(SecretString::from(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            }
            None => None,
        };
        let extra_roots_pem = match &self.smtp_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(CliError::io(format!(
                "cannot read the SMTP CA file `{}`",
                path.display()
            )))?),
            None => None,
        };
        let config = SmtpConfig {
            url: self.smtp_url.clone(),
            password,
            from: self.mail_from.clone(),
            extra_roots_pem,
            retry_initial_ms: self.retry_initial_ms,
            max_attempts: self.max_attempts,
        };
        SmtpMailer::new(&config).map_err(|e| CliError::usage(e.to_string()))?;
        Ok(config)
    }
}

/// `IP` or `IP:PORT` (`[v6]:PORT`); port 53 when omitted.
fn parse_nameserver(raw: &str) -> Result<SocketAddr, CliError> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            CliError::usage(format!(
                "`dns_nameserver` must be an IP address with an optional port (got `{raw}`)"
            ))
        })
}

/// A public URL is an absolute http(s) URL with a host and no query, fragment or credentials:
/// every SSO address and mailed link is built by appending a path to it.
fn validate_public_url(url: &str) -> Result<(), CliError> {
    let invalid = |why: &str| {
        CliError::usage(format!(
            "`public_url` must be an http:// or https:// URL {why} (got `{url}`)"
        ))
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("with a scheme"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("with a host"));
    }
    if host.contains('@') {
        return Err(invalid("without credentials"));
    }
    if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("without a query, fragment or spaces"));
    }
    Ok(())
}

/// Reads and validates the SAML SP key pair; the errors name the files, never their contents.
fn load_sp_key(key_file: &Path, cert_file: &Path) -> Result<SpKey, CliError> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(CliError::io(format!(
            "cannot read the SAML SP {what} `{}`",
            path.display()
        )))
    };
    let key = read(key_file, "key file")?;
    let cert = read(cert_file, "certificate file")?;
    SpKey::from_pem(&key, &cert).map_err(|err| {
        CliError::usage(format!(
            "invalid SAML SP key pair (`{}`, `{}`): {err}",
            key_file.display(),
            cert_file.display()
        ))
    })
}

impl Settings {
    pub fn resolve(args: &ServeArgs) -> Result<Self, CliError> {
        let file = match &args.store.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let defaults = ServiceConfig::default();
        let store = match args.store.database_url.clone().or(file.database_url) {
            Some(url) if !url.trim().is_empty() => StoreLocation::Url(url),
            _ => StoreLocation::DataDir(
                args.store
                    .data_dir
                    .clone()
                    .or(file.data_dir)
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            ),
        };
        let outbound_allow = args
            .outbound_allow
            .clone()
            .or(file.outbound_allow)
            .unwrap_or_default();
        let outbound_allow = OutboundPolicy::parse(
            &outbound_allow
                .iter()
                .filter(|entry| !entry.trim().is_empty())
                .collect::<Vec<_>>(),
        )
        .map_err(|why| CliError::usage(format!("`outbound_allow`: {why}")))?;
        let settings = Self {
            store,
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            signup_enabled: args
                .signup_enabled
                .or(file.signup_enabled)
                .unwrap_or(defaults.signup_enabled),
            session_ttl_hours: args
                .session_ttl_hours
                .or(file.session_ttl_hours)
                .unwrap_or(whole(defaults.session_ttl_ms, HOUR_MS)),
            remember_me_ttl_days: args
                .remember_me_ttl_days
                .or(file.remember_me_ttl_days)
                .unwrap_or(whole(defaults.remember_me_ttl_ms, DAY_MS)),
            invitation_ttl_days: args
                .invitation_ttl_days
                .or(file.invitation_ttl_days)
                .unwrap_or(whole(defaults.invitation_ttl_ms, DAY_MS)),
            max_orgs_per_user: args
                .max_orgs_per_user
                .or(file.max_orgs_per_user)
                .unwrap_or(defaults.max_orgs_per_user),
            audit_retention_days: args.audit_retention_days.or(file.audit_retention_days),
            consistency_wait_ms: args
                .consistency_wait_ms
                .or(file.consistency_wait_ms)
                .unwrap_or(defaults.consistency_wait_ms),
            saml_sp_files: None,
            saml_sp_key: None,
            outbound_allow,
            public_url: args
                .public_url
                .clone()
                .or(file.public_url)
                .map(|url| url.trim_end_matches('/').to_owned()),
            dns_nameserver: match args.dns_nameserver.clone().or(file.dns_nameserver) {
                Some(raw) if !raw.trim().is_empty() => Some(parse_nameserver(&raw)?),
                _ => None,
            },
            mail: None,
        };
        let mut settings = settings;
        settings.mail = match args.smtp_url.clone().or(file.smtp_url) {
            Some(url) if !url.trim().is_empty() => Some(MailSettings {
                smtp_url: SecretString::from(url),
                smtp_password_file: args.smtp_password_file.clone().or(file.smtp_password_file),
                smtp_ca_file: args.smtp_ca_file.clone().or(file.smtp_ca_file),
                mail_from: args
                    .mail_from
                    .clone()
                    .or(file.mail_from)
                    .ok_or_else(|| CliError::usage("`smtp_url` needs `mail_from`"))?,
                retry_initial_ms: args
                    .smtp_retry_initial_ms
                    .or(file.smtp_retry_initial_ms)
                    .unwrap_or(DEFAULT_SMTP_RETRY_INITIAL_MS),
                max_attempts: args
                    .smtp_max_attempts
                    .or(file.smtp_max_attempts)
                    .unwrap_or(DEFAULT_SMTP_MAX_ATTEMPTS),
            }),
            _ => None,
        };
        if let Some(mail) = &settings.mail {
            if mail.max_attempts == 0 {
                return Err(CliError::usage("`smtp_max_attempts` must be at least 1"));
            }
            mail.smtp_config()?;
        }
        let key_file = args.saml_sp_key_file.clone().or(file.saml_sp_key_file);
        let cert_file = args.saml_sp_cert_file.clone().or(file.saml_sp_cert_file);
        match (key_file, cert_file) {
            (None, None) => {}
            (Some(key), Some(cert)) => {
                settings.saml_sp_key = Some(Arc::new(load_sp_key(&key, &cert)?));
                settings.saml_sp_files = Some((key, cert));
            }
            _ => {
                return Err(CliError::usage(
                    "`saml_sp_key_file` and `saml_sp_cert_file` must be set together",
                ));
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// For commands that only open the store (`init`, `check`): the other settings come from
    /// the file, the environment and the defaults.
    pub fn resolve_store_only(store: &StoreArgs) -> Result<Self, CliError> {
        Self::resolve(&ServeArgs {
            store: store.clone(),
            ..ServeArgs::default()
        })
    }

    fn validate(&self) -> Result<(), CliError> {
        for (key, value) in [
            ("session_ttl_hours", self.session_ttl_hours),
            ("remember_me_ttl_days", self.remember_me_ttl_days),
            ("invitation_ttl_days", self.invitation_ttl_days),
            ("max_orgs_per_user", self.max_orgs_per_user),
        ] {
            if value == 0 {
                return Err(CliError::usage(format!("`{key}` must be at least 1")));
            }
        }
        if self.consistency_wait_ms > MAX_CONSISTENCY_WAIT_MS {
            return Err(CliError::usage(format!(
                "`consistency_wait_ms` must be at most {MAX_CONSISTENCY_WAIT_MS}"
            )));
        }
        if self.audit_retention_days == Some(0) {
            return Err(CliError::usage("`audit_retention_days` must be at least 1"));
        }
        if let Some(url) = &self.public_url {
            validate_public_url(url)?;
        }
        if self.listen.trim().is_empty() {
            return Err(CliError::usage("`listen` must not be empty"));
        }
        Ok(())
    }

    pub fn service_config(&self) -> ServiceConfig {
        ServiceConfig {
            signup_enabled: self.signup_enabled,
            session_ttl_ms: i64::from(self.session_ttl_hours) * HOUR_MS,
            remember_me_ttl_ms: i64::from(self.remember_me_ttl_days) * DAY_MS,
            invitation_ttl_ms: i64::from(self.invitation_ttl_days) * DAY_MS,
            max_orgs_per_user: self.max_orgs_per_user,
            consistency_wait_ms: self.consistency_wait_ms,
            saml_sp_key: self.saml_sp_key.clone(),
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| ServiceConfig::default().public_url),
            dns_nameserver: self.dns_nameserver,
            outbound_allow: self.outbound_allow.clone(),
            ..ServiceConfig::default()
        }
    }

    /// The effective settings as JSON, with any password in the database URL masked.
    pub fn to_json(&self) -> String {
        let (data_dir, database_url) = match &self.store {
            StoreLocation::DataDir(dir) => (Some(dir.display().to_string()), None),
            StoreLocation::Url(url) => (None, Some(redact_url(url))),
        };
        let value = json!({
            "data_dir": data_dir,
            "database_url": database_url,
            "listen": self.listen,
            "log_format": self.log_format.as_str(),
            "signup_enabled": self.signup_enabled,
            "session_ttl_hours": self.session_ttl_hours,
            "remember_me_ttl_days": self.remember_me_ttl_days,
            "invitation_ttl_days": self.invitation_ttl_days,
            "max_orgs_per_user": self.max_orgs_per_user,
            "consistency_wait_ms": self.consistency_wait_ms,
            "audit_retention_days": self.audit_retention_days,
            "saml_sp_key_file": self.saml_sp_files.as_ref().map(|(k, _)| k.display().to_string()),
            "saml_sp_cert_file": self.saml_sp_files.as_ref().map(|(_, c)| c.display().to_string()),
            "saml_sp_certificate_sha256": self.saml_sp_key.as_ref().map(|k| k.fingerprint_sha256()),
            "public_url": self.public_url,
            "dns_nameserver": self.dns_nameserver.map(|a| a.to_string()),
            "outbound_allow": self.outbound_allow.entries(),
            "smtp_url": self.mail.as_ref().map(|m| redact_url(m.smtp_url.expose_secret())),
            "smtp_password_file": self.mail.as_ref()
                .and_then(|m| m.smtp_password_file.as_ref().map(|p| p.display().to_string())),
            "smtp_ca_file": self.mail.as_ref()
                .and_then(|m| m.smtp_ca_file.as_ref().map(|p| p.display().to_string())),
            "mail_from": self.mail.as_ref().map(|m| m.mail_from.clone()),
            "smtp_retry_initial_ms": self.mail.as_ref().map(|m| m.retry_initial_ms),
            "smtp_max_attempts": self.mail.as_ref().map(|m| m.max_attempts),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    /// A description of the store safe to log.
    pub fn store_description(&self) -> String {
        match &self.store {
            StoreLocation::DataDir(dir) => format!("sqlite data dir {}", dir.display()),
            StoreLocation::Url(url) => redact_url(url),
        }
    }
}

fn whole(ms: i64, unit: i64) -> u32 {
    u32::try_from(ms / unit).unwrap_or(u32::MAX)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; the query string (which
/// may carry `password=`) is dropped.
pub fn redact_url(url: &str) -> String {
    let url = url.split_once('?').map_or(url, |(base, _)| base);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://pc:s3cret@db:5432/pcl"),
            "postgres://pc:***@db:5432/pcl"
        );
        assert_eq!(
            redact_url("postgres://pc@db/pcl?password=x"),
            "postgres://pc@db/pcl"
        );
        assert_eq!(redact_url("postgres://db/pcl"), "postgres://db/pcl");
    }

    #[test]
    fn dns_nameserver_is_a_setting_of_every_layer_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "dns_nameserver = \"127.0.0.1:5353\"\n").unwrap();
        let file = ServeArgs {
            store: StoreArgs {
                config: Some(path),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(&file).unwrap();
        assert_eq!(
            settings.service_config().dns_nameserver,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert!(
            settings
                .to_json()
                .contains("\"dns_nameserver\": \"127.0.0.1:5353\"")
        );
        let flag = ServeArgs {
            dns_nameserver: Some("::1".into()),
            ..file.clone()
        };
        assert_eq!(
            Settings::resolve(&flag).unwrap().dns_nameserver,
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(
            Settings::resolve(&ServeArgs::default())
                .unwrap()
                .service_config()
                .dns_nameserver,
            None,
            "the system resolver by default"
        );
        for bad in ["dns.example.com", "127.0.0.1:x", "1.2.3"] {
            let err = Settings::resolve(&ServeArgs {
                dns_nameserver: Some(bad.into()),
                ..ServeArgs::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains("dns_nameserver"), "{bad}: {err}");
        }
    }

    #[test]
    fn outbound_allow_is_a_setting_of_every_layer_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "outbound_allow = [\"10.0.0.0/8\", \"idp.corp\"]\n").unwrap();
        let from_file = ServeArgs {
            store: StoreArgs {
                config: Some(path.clone()),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(&from_file).unwrap();
        assert_eq!(
            settings.outbound_allow.entries(),
            ["10.0.0.0/8", "idp.corp"]
        );
        assert_eq!(
            settings.service_config().outbound_allow,
            settings.outbound_allow
        );
        assert!(settings.to_json().contains("\"idp.corp\""));
        let flag = ServeArgs {
            outbound_allow: Some(vec!["127.0.0.1".into()]),
            ..from_file
        };
        assert_eq!(
            Settings::resolve(&flag).unwrap().outbound_allow.entries(),
            ["127.0.0.1/32"]
        );
        assert_eq!(
            Settings::resolve(&ServeArgs::default())
                .unwrap()
                .outbound_allow
                .entries(),
            Vec::<String>::new()
        );
        let bad = ServeArgs {
            outbound_allow: Some(vec!["not a host!".into()]),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(&bad).unwrap_err();
        assert!(err.to_string().contains("outbound_allow"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_by_name() {
        let err = toml::from_str::<FileConfig>("lisen = \"x\"").unwrap_err();
        assert!(err.message().contains("`lisen`"), "{}", err.message());
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9\"\nmax_orgs_per_user = 3\nsession_ttl_hours = 5\n",
        )
        .unwrap();
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(path),
                ..StoreArgs::default()
            },
            session_ttl_hours: Some(7),
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:9");
        assert_eq!(settings.max_orgs_per_user, 3);
        assert_eq!(settings.session_ttl_hours, 7);
        assert_eq!(settings.invitation_ttl_days, 7);
        assert_eq!(
            settings.store,
            StoreLocation::DataDir(PathBuf::from(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn public_url_is_a_setting_of_every_layer_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "public_url = \"https://auth.example.com/\"\n").unwrap();
        let from_file = ServeArgs {
            store: StoreArgs {
                config: Some(path),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(&from_file).unwrap();
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(
            settings.service_config().public_url,
            "https://auth.example.com"
        );
        assert!(
            settings
                .to_json()
                .contains("\"public_url\": \"https://auth.example.com\"")
        );
        let flag = ServeArgs {
            public_url: Some("http://sso.test:8443/pcl".into()),
            ..from_file
        };
        assert_eq!(
            Settings::resolve(&flag).unwrap().public_url.as_deref(),
            Some("http://sso.test:8443/pcl")
        );
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://",
            "https://user:pw@auth.example.com",
            "https://auth.example.com/?next=x",
            "https://auth.example.com/#x",
        ] {
            let args = ServeArgs {
                public_url: Some(bad.into()),
                ..ServeArgs::default()
            };
            let err = Settings::resolve(&args).unwrap_err();
            assert!(err.to_string().contains("public_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn zero_lifetimes_are_refused() {
        let args = ServeArgs {
            invitation_ttl_days: Some(0),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(&args).unwrap_err();
        assert!(err.to_string().contains("invitation_ttl_days"));
    }

    #[test]
    fn audit_retention_is_off_by_default_and_read_from_the_file() {
        assert_eq!(
            Settings::resolve(&ServeArgs::default())
                .unwrap()
                .audit_retention_days,
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "audit_retention_days = 400\n").unwrap();
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(path),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        assert_eq!(
            Settings::resolve(&args).unwrap().audit_retention_days,
            Some(400)
        );
        let zero = ServeArgs {
            audit_retention_days: Some(0),
            ..ServeArgs::default()
        };
        assert!(
            Settings::resolve(&zero)
                .unwrap_err()
                .to_string()
                .contains("audit_retention_days")
        );
    }

    fn sp_fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../saml/tests/fixtures")
            .join(name)
    }

    #[test]
    fn the_saml_sp_key_pair_is_validated_at_start_up_and_never_printed() {
        let with = |key: Option<&str>, cert: Option<&str>| {
            Settings::resolve(&ServeArgs {
                saml_sp_key_file: key.map(sp_fixture),
                saml_sp_cert_file: cert.map(sp_fixture),
                ..ServeArgs::default()
            })
        };
        let settings = with(Some("encrypted/sp.key"), Some("encrypted/sp.crt")).unwrap();
        let key = settings.saml_sp_key.clone().unwrap();
        let json = settings.to_json();
        assert!(json.contains(key.fingerprint_sha256()), "{json}");
        assert!(!json.contains("PRIVATE KEY"), "{json}");
        let pem = std::fs::read_to_string(sp_fixture("encrypted/sp.key")).unwrap();
        let body = pem.lines().nth(1).unwrap();
        assert!(!json.contains(body));
        assert!(settings.service_config().saml_sp_key.is_some());

        let mismatch = with(Some("encrypted/sp.key"), Some("idp.crt"))
            .unwrap_err()
            .to_string();
        assert!(mismatch.contains("does not belong"), "{mismatch}");
        assert!(!mismatch.contains(body));
        let weak = with(Some("encrypted/weak.key"), Some("encrypted/weak.crt"))
            .unwrap_err()
            .to_string();
        assert!(weak.contains("2048"), "{weak}");
        let missing = with(Some("encrypted/nope.key"), Some("encrypted/sp.crt"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.key"), "{missing}");
        let half = with(Some("encrypted/sp.key"), None)
            .unwrap_err()
            .to_string();
        assert!(half.contains("together"), "{half}");
        assert!(with(None, None).unwrap().saml_sp_key.is_none());
    }
}

//! Configuration: every setting declared once ([`SettingsArgs`]), given by a flag, a
//! `PORTCULLIS_*` environment variable or a key of the TOML file (`--config`).
//!
//! Every command that reads settings resolves them the same way ([`Settings::resolve`]): figment
//! layers flag > environment > file, then the defaults fill the rest and one validation runs.
//! Unknown file keys and unknown `PORTCULLIS_*` variables are refused by name, so a typo never
//! silently falls back to a default.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use figment::providers::Serialized;
use figment::value::Dict;
use figment::{Figment, Metadata, Profile, Provider};
use portcullis_service::mail_delivery::{SmtpConfig, SmtpMailer};
use portcullis_service::outbound::OutboundPolicy;
use portcullis_service::sealing::KeyRing;
use portcullis_service::{ServiceConfig, SpKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::CliError;
use crate::tls::{ServerCertificate, TlsFiles};

pub const DEFAULT_DATA_DIR: &str = "./portcullis-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Longest allowed consistency wait: a request should not hang for minutes.
const MAX_CONSISTENCY_WAIT_MS: u32 = 60_000;

/// Every setting, declared once: its flag (clap), its key in the TOML file and its
/// `PORTCULLIS_<KEY>` environment variable (serde, layered by figment). Every field is optional
/// here; [`Settings::resolve`] layers the sources and then applies the defaults and validation.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[command(
    next_help_heading = "Settings (each also a config file key and a PORTCULLIS_<KEY> variable; flag > variable > file > default)"
)]
#[serde(deny_unknown_fields)]
pub struct SettingsArgs {
    /// Directory of the embedded SQLite store, created on first start [default: ./portcullis-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of the data directory: postgres://user@host:port/db, with
    /// ?sslmode=verify-full (and &sslrootcert=FILE for a private CA) for a server on another
    /// machine; sslmode and sslrootcert as libpq reads them [default sslmode: prefer].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// A file holding the PostgreSQL password (instead of putting it in the URL).
    #[arg(long, value_name = "FILE")]
    pub database_password_file: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log format on stderr [default: human].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Whether POST /v1/signup creates accounts [default: true].
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub signup_enabled: Option<bool>,
    /// Session lifetime in hours [default: 24].
    #[arg(long, value_name = "HOURS")]
    pub session_ttl_hours: Option<u32>,
    /// "Remember me" session lifetime in days [default: 30].
    #[arg(long, value_name = "DAYS")]
    pub remember_me_ttl_days: Option<u32>,
    /// How long an invitation can be accepted, in days [default: 7].
    #[arg(long, value_name = "DAYS")]
    pub invitation_ttl_days: Option<u32>,
    /// How many organizations one user may belong to [default: 20].
    #[arg(long, value_name = "N")]
    pub max_orgs_per_user: Option<u32>,
    /// Prune audit entries older than this many days, hourly (the pruning itself is recorded
    /// and the chain still verifies) [default: keep everything].
    #[arg(long, value_name = "DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Longest a request with a consistency token waits for this server to reach the token's
    /// revision before answering 503, in milliseconds (at most 60000) [default: 2000].
    #[arg(long, value_name = "MS")]
    pub consistency_wait_ms: Option<u32>,
    /// The SAML service provider's PEM private key (RSA ≥ 2048 bits or EC P-256): signs
    /// AuthnRequests, decrypts encrypted assertions. Set together with --saml-sp-cert-file.
    #[arg(long, value_name = "FILE")]
    pub saml_sp_key_file: Option<PathBuf>,
    /// The PEM X.509 certificate of that key, published in the SP metadata.
    #[arg(long, value_name = "FILE")]
    pub saml_sp_cert_file: Option<PathBuf>,
    /// Where browsers and identity providers reach this server (e.g.
    /// https://auth.example.com): SAML entity ids, ACS URLs and links in mail derive from it
    /// [default: http:// and the address `serve` listens on].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The DNS server that verifies organizations' domains, as IP or IP:PORT (port 53 when
    /// omitted) [default: the system resolver].
    #[arg(long, value_name = "ADDR")]
    pub dns_nameserver: Option<String>,
    /// Internal hosts or networks the server may fetch from on a user's behalf (identity
    /// provider metadata URLs), comma-separated IP addresses, CIDR networks or host names;
    /// loopback, private, link-local, CGNAT and other internal addresses are refused unless
    /// listed [default: none].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub outbound_allow: Option<Vec<String>>,
    /// The SMTP relay the outbox is delivered through: smtp://[user[:password]@]host[:port]
    /// (STARTTLS required; add ?tls=opportunistic or ?tls=none to relax it) or smtps://…
    /// [default: none, messages stay in the outbox for `portcullis outbox`].
    #[arg(long, value_name = "URL")]
    pub smtp_url: Option<String>,
    /// A file holding the SMTP password (instead of putting it in the URL).
    #[arg(long, value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// Extra PEM CA certificate(s) to trust for the relay's TLS certificate.
    #[arg(long, value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender of every message, e.g. "Portcullis <no-reply@example.com>" (required with
    /// smtp_url).
    #[arg(long, value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// The first retry of a failed delivery waits this long, each next one twice as long
    /// (at most 30 minutes) [default: 5000].
    #[arg(long, value_name = "MS")]
    pub smtp_retry_initial_ms: Option<u64>,
    /// After this many failed attempts a message is marked failed [default: 10].
    #[arg(long, value_name = "N")]
    pub smtp_max_attempts: Option<u32>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); reloaded on SIGHUP and when
    /// the file changes. Set together with --tls-key-file [default: plain HTTP].
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of that certificate (PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Also listen for plain HTTP here, answering every request with a 308 redirect to the
    /// same path under `public_url` (needs TLS and an https:// `public_url`) [default: none].
    #[arg(long, value_name = "ADDR")]
    pub http_redirect_listen: Option<String>,
    /// The key ring stored secrets (TOTP seeds) are sealed with: one key a line, `<key id>
    /// <base64 of 32 bytes>` (`portcullis secrets new-key` makes one), the first line sealing,
    /// every line opening. Keep it outside the data directory and its backups [default: a
    /// `secret-keys` file in the data directory, created by `serve` or `init` (SQLite only)].
    #[arg(long, value_name = "FILE")]
    pub secret_keys_file: Option<PathBuf>,
    /// The key ring itself, in the format of `secret_keys_file` (use the variable
    /// PORTCULLIS_SECRET_KEYS: a flag's value is visible to other local users).
    #[arg(long, value_name = "KEYS")]
    pub secret_keys: Option<KeyRingText>,
}

/// A key ring given as text (flag, variable or file key): never in `Debug` output; serialised
/// only to layer the settings.
#[derive(Clone)]
pub struct KeyRingText(pub SecretString);

impl std::fmt::Debug for KeyRingText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRingText([redacted])")
    }
}

impl std::str::FromStr for KeyRingText {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(SecretString::from(text.to_owned())))
    }
}

impl Serialize for KeyRingText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for KeyRingText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(SecretString::from(String::deserialize(deserializer)?)))
    }
}

/// Where the key ring comes from.
#[derive(Debug, Clone)]
pub enum SecretKeysSource {
    /// `secret_keys` (usually PORTCULLIS_SECRET_KEYS).
    Given(KeyRingText),
    /// `secret_keys_file`, or (`default`) the data directory's `secret-keys`, created when
    /// missing.
    File { path: PathBuf, default: bool },
    /// A PostgreSQL store with no key ring configured.
    Missing,
}

/// The key ring file `serve` and `init` create in the data directory when none is configured.
pub const DEFAULT_SECRET_KEYS_FILE: &str = "secret-keys";

/// The flags of every command that reads the settings: the file to read and every setting.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file; its keys are the settings' flags in snake_case (unknown keys
    /// are refused).
    #[arg(long, env = CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The variable naming the config file (read by clap, it is no setting of its own).
const CONFIG_ENV: &str = "PORTCULLIS_CONFIG";
const ENV_PREFIX: &str = "PORTCULLIS_";

/// `PORTCULLIS_*` variables that are not settings, so an environment holding them is not refused:
/// the operator password `init` reads, and the variables of the test suites, benchmarks and
/// scripts (which run the binary with their own environment).
const NOT_SETTINGS_ENV: &[&str] = &[
    "PORTCULLIS_ADMIN_PASSWORD",
    "PORTCULLIS_ADVISORY_DB",
    "PORTCULLIS_ADVISORY_DBS",
    "PORTCULLIS_BENCH_DATABASE_URL",
    "PORTCULLIS_BIN",
    "PORTCULLIS_BLESS",
    "PORTCULLIS_CRASH_SEED",
    "PORTCULLIS_IDP_PYTHON",
    "PORTCULLIS_ISOLATION_SEED",
    "PORTCULLIS_SETUP_DONE",
    "PORTCULLIS_TEST_BACKEND",
    "PORTCULLIS_TEST_POSTGRES_URL",
    "PORTCULLIS_TEST_SEED",
    "PORTCULLIS_URL",
];

const DEFAULT_SMTP_RETRY_INITIAL_MS: u64 = 5_000;
const DEFAULT_SMTP_MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
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

/// One setting as clap declares it: its key and whether its value is a comma-separated list.
struct Declared {
    key: String,
    list: bool,
}

/// The settings' keys, read from the one declaration.
fn declared() -> Vec<Declared> {
    SettingsArgs::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|arg| Declared {
            key: arg.get_id().to_string(),
            list: arg.get_value_delimiter().is_some(),
        })
        .collect()
}

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

impl SettingsArgs {
    /// The config file, type-checked with unknown keys refused; errors name the file and line.
    fn load(path: &Path) -> Result<Self, CliError> {
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

    /// The settings this layer gives, as a figment provider: unset ones are left out so that
    /// they do not hide a lower layer.
    fn given(&self, name: &str) -> Result<Serialized<Dict>, CliError> {
        let value = figment::value::Value::serialize(self)
            .map_err(|err| CliError::usage(format!("{name}: {err}")))?;
        let mut dict = value.into_dict().unwrap_or_default();
        dict.retain(|_, value| !matches!(value, figment::value::Value::Empty(..)));
        Ok(Serialized::defaults(dict))
    }
}

/// The `PORTCULLIS_*` settings of an environment, as a figment provider whose errors name the
/// variable. Values are strings (figment's lossy extraction reads numbers and booleans from
/// them); a list setting is split at commas, as its flag is. A `PORTCULLIS_*` variable that is
/// neither a setting nor in [`NOT_SETTINGS_ENV`] is refused, as an unknown file key is.
struct Environment(Dict);

impl Environment {
    fn read(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Self, CliError> {
        let declared = declared();
        let mut dict = Dict::new();
        for (name, value) in vars {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(ENV_PREFIX)
                || name == CONFIG_ENV
                || NOT_SETTINGS_ENV.contains(&name)
            {
                continue;
            }
            let Some(setting) = declared.iter().find(|d| env_name(&d.key) == name) else {
                return Err(CliError::usage(format!(
                    "unknown environment variable `{name}`; the settings are {CONFIG_ENV}, {}",
                    declared
                        .iter()
                        .map(|d| env_name(&d.key))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let value = value.into_string().map_err(|_| {
                CliError::usage(format!("environment variable `{name}` is not valid UTF-8"))
            })?;
            let value = if setting.list {
                figment::value::Value::from(value.split(',').map(str::to_owned).collect::<Vec<_>>())
            } else {
                figment::value::Value::from(value)
            };
            dict.insert(setting.key.clone(), value);
        }
        Ok(Self(dict))
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_, keys| env_name(&keys.join("_")))
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// Where the store is (a URL's password is never printed or logged: see [`redact_url`]).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    DataDir(PathBuf),
    Url(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::DataDir(dir) => f.debug_tuple("DataDir").field(dir).finish(),
            StoreLocation::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
        }
    }
}

/// The effective settings after merging every source.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreLocation,
    /// The file holding the PostgreSQL password, read when the store is opened
    /// ([`Settings::database_password`]).
    pub database_password_file: Option<PathBuf>,
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
    /// Where the key ring of sealed secrets comes from (read by [`Settings::key_ring`]).
    pub secret_keys: SecretKeysSource,
    /// HTTPS; `None`: the listener speaks plain HTTP (behind a proxy terminating TLS).
    pub tls: Option<TlsSettings>,
}

/// The HTTPS listener: its files, the pair as loaded and checked at start-up (the key is never
/// printed), and the optional plain-HTTP listener that only redirects.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub files: TlsFiles,
    pub certificate: ServerCertificate,
    pub http_redirect_listen: Option<String>,
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

/// Reads a key ring file; a file others may read is refused, as ssh refuses such a key.
fn read_key_file(path: &Path) -> Result<SecretString, CliError> {
    let context = || format!("cannot read the key ring file `{}`", path.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(CliError::io(context()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CliError::usage(format!(
                "the key ring file `{}` may be read by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(SecretString::from(
        std::fs::read_to_string(path).map_err(CliError::io(context()))?,
    ))
}

/// Creates a key ring file of one new key, mode 0600 from the start (never wider).
fn create_key_file(path: &Path) -> Result<(), CliError> {
    use std::io::Write as _;
    let context = || format!("cannot create the key ring file `{}`", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(CliError::io(context()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(CliError::io(context()))?;
    let line =
        portcullis_service::sealing::new_key_line(&portcullis_service::sealing::new_key_id());
    let text = format!(
        "# Portcullis key ring: `<key id> <base64 key>` a line; the first seals, all open.\n\
         # Keep a copy apart from the database backups: without it, sealed secrets are lost.\n{}\n",
        line.expose_secret()
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(CliError::io(context()))?;
    tracing::info!(path = %path.display(), "created a key ring for sealed secrets");
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
    /// The settings of a command: its flags over the `PORTCULLIS_*` environment over the config
    /// file over the defaults, validated. Every command that reads settings comes here.
    pub fn resolve(args: &ConfigArgs) -> Result<Self, CliError> {
        Self::resolve_in(args, std::env::vars_os())
    }

    /// [`Self::resolve`] with the environment given (tests pass their own).
    fn resolve_in(
        args: &ConfigArgs,
        env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, CliError> {
        let env = Environment::read(env)?;
        let file = match &args.config {
            Some(path) => SettingsArgs::load(path)?,
            None => SettingsArgs::default(),
        };
        let given: SettingsArgs = Figment::new()
            .merge(file.given("config file")?)
            .merge(env)
            .merge(args.settings.given("flags")?)
            .extract_lossy()
            .map_err(|err| CliError::usage(setting_error(&err)))?;
        Self::from_given(given)
    }

    /// The defaults with only the store given: for a command's own second store (`migrate`'s
    /// source and target, `restore`'s staging copy), which no setting of the operator's may move.
    pub fn for_store(store: StoreLocation) -> Result<Self, CliError> {
        let (data_dir, database_url) = match store {
            StoreLocation::DataDir(dir) => (Some(dir), None),
            StoreLocation::Url(url) => (None, Some(url)),
        };
        Self::from_given(SettingsArgs {
            data_dir,
            database_url,
            ..SettingsArgs::default()
        })
    }

    /// The defaults under what the sources gave, and the checks that span settings.
    fn from_given(given: SettingsArgs) -> Result<Self, CliError> {
        let defaults = ServiceConfig::default();
        let store = match given.database_url {
            Some(url) if !url.trim().is_empty() => StoreLocation::Url(url),
            _ => StoreLocation::DataDir(
                given
                    .data_dir
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            ),
        };
        let outbound_allow = given.outbound_allow.unwrap_or_default();
        let outbound_allow = OutboundPolicy::parse(
            &outbound_allow
                .iter()
                .filter(|entry| !entry.trim().is_empty())
                .collect::<Vec<_>>(),
        )
        .map_err(|why| CliError::usage(format!("`outbound_allow`: {why}")))?;
        let mut settings = Self {
            store,
            database_password_file: given.database_password_file,
            listen: given.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            log_format: given.log_format.unwrap_or_default(),
            signup_enabled: given.signup_enabled.unwrap_or(defaults.signup_enabled),
            session_ttl_hours: given
                .session_ttl_hours
                .unwrap_or(whole(defaults.session_ttl_ms, HOUR_MS)),
            remember_me_ttl_days: given
                .remember_me_ttl_days
                .unwrap_or(whole(defaults.remember_me_ttl_ms, DAY_MS)),
            invitation_ttl_days: given
                .invitation_ttl_days
                .unwrap_or(whole(defaults.invitation_ttl_ms, DAY_MS)),
            max_orgs_per_user: given
                .max_orgs_per_user
                .unwrap_or(defaults.max_orgs_per_user),
            audit_retention_days: given.audit_retention_days,
            consistency_wait_ms: given
                .consistency_wait_ms
                .unwrap_or(defaults.consistency_wait_ms),
            saml_sp_files: None,
            saml_sp_key: None,
            outbound_allow,
            public_url: given
                .public_url
                .map(|url| url.trim_end_matches('/').to_owned()),
            dns_nameserver: match given.dns_nameserver {
                Some(raw) if !raw.trim().is_empty() => Some(parse_nameserver(&raw)?),
                _ => None,
            },
            mail: None,
            tls: None,
            secret_keys: SecretKeysSource::Missing,
        };
        settings.secret_keys = match (given.secret_keys_file, given.secret_keys) {
            (Some(_), Some(_)) => {
                return Err(CliError::usage(
                    "set either `secret_keys_file` or `secret_keys` (PORTCULLIS_SECRET_KEYS), not both",
                ));
            }
            (Some(path), None) => SecretKeysSource::File {
                path,
                default: false,
            },
            (None, Some(text)) => SecretKeysSource::Given(text),
            (None, None) => match &settings.store {
                StoreLocation::DataDir(dir) => SecretKeysSource::File {
                    path: dir.join(DEFAULT_SECRET_KEYS_FILE),
                    default: true,
                },
                StoreLocation::Url(_) => SecretKeysSource::Missing,
            },
        };
        settings.mail = match given.smtp_url {
            Some(url) if !url.trim().is_empty() => Some(MailSettings {
                smtp_url: SecretString::from(url),
                smtp_password_file: given.smtp_password_file,
                smtp_ca_file: given.smtp_ca_file,
                mail_from: given
                    .mail_from
                    .ok_or_else(|| CliError::usage("`smtp_url` needs `mail_from`"))?,
                retry_initial_ms: given
                    .smtp_retry_initial_ms
                    .unwrap_or(DEFAULT_SMTP_RETRY_INITIAL_MS),
                max_attempts: given.smtp_max_attempts.unwrap_or(DEFAULT_SMTP_MAX_ATTEMPTS),
            }),
            _ => None,
        };
        if let Some(mail) = &settings.mail {
            if mail.max_attempts == 0 {
                return Err(CliError::usage("`smtp_max_attempts` must be at least 1"));
            }
            mail.smtp_config()?;
        }
        match (given.saml_sp_key_file, given.saml_sp_cert_file) {
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
        let http_redirect_listen = given
            .http_redirect_listen
            .filter(|listen| !listen.trim().is_empty());
        if http_redirect_listen.is_some() && given.tls_cert_file.is_none() {
            return Err(CliError::usage(
                "`http_redirect_listen` needs `tls_cert_file` and `tls_key_file`: it redirects \
                 to the HTTPS listener",
            ));
        }
        settings.tls = match (given.tls_cert_file, given.tls_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let files = TlsFiles { cert, key };
                Some(TlsSettings {
                    certificate: ServerCertificate::load(&files).map_err(CliError::usage)?,
                    files,
                    http_redirect_listen,
                })
            }
            _ => {
                return Err(CliError::usage(
                    "`tls_cert_file` and `tls_key_file` must be set together",
                ));
            }
        };
        settings.validate()?;
        settings.database_password()?;
        Ok(settings)
    }

    /// The PostgreSQL password from `database_password_file` (its last line end trimmed), or
    /// `None` when the password, if any, is in the URL.
    pub fn database_password(&self) -> Result<Option<SecretString>, CliError> {
        let Some(path) = &self.database_password_file else {
            return Ok(None);
        };
        let StoreLocation::Url(url) = &self.store else {
            return Err(CliError::usage(
                "`database_password_file` needs `database_url`",
            ));
        };
        if url_has_password(url) {
            return Err(CliError::usage(
                "the database URL carries a password and `database_password_file` is set: \
                 give the password once",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(CliError::io(format!(
            "cannot read the database password file `{}`",
            path.display()
        )))?;
        let password = text.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(CliError::usage(format!(
                "the database password file `{}` is empty",
                path.display()
            )));
        }
        Ok(Some(SecretString::from(password.to_owned())))
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
        // The redirect's target comes from configuration, never from the request's Host
        // header: a redirect to wherever the client says would be an open redirect.
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.http_redirect_listen.is_some())
            && !self
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
        {
            return Err(CliError::usage(
                "`http_redirect_listen` needs `public_url` set to the https:// URL it redirects to",
            ));
        }
        Ok(())
    }

    /// The key ring of sealed secrets. With `create`, a missing default key file (in the data
    /// directory) is created with one new key, readable by its owner only.
    pub fn key_ring(&self, create: bool) -> Result<KeyRing, CliError> {
        let (text, origin) = match &self.secret_keys {
            SecretKeysSource::Given(text) => (text.0.clone(), "`secret_keys`".to_owned()),
            SecretKeysSource::File { path, default } => {
                if create && *default && !path.exists() {
                    create_key_file(path)?;
                }
                (read_key_file(path)?, format!("`{}`", path.display()))
            }
            SecretKeysSource::Missing => {
                return Err(CliError::usage(
                    "a PostgreSQL store needs a key ring for its sealed secrets: set                      `secret_keys_file` or PORTCULLIS_SECRET_KEYS (`portcullis secrets new-key`                      makes a key line), the same on every server of the database",
                ));
            }
        };
        KeyRing::parse(&text)
            .map_err(|err| CliError::usage(format!("invalid key ring {origin}: {err}")))
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
            "database_password_file": self.database_password_file.as_ref().map(|p| p.display().to_string()),
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
            "tls_cert_file": self.tls.as_ref().map(|t| t.files.cert.display().to_string()),
            "tls_key_file": self.tls.as_ref().map(|t| t.files.key.display().to_string()),
            "tls_certificate_serial": self.tls.as_ref().map(|t| t.certificate.facts().serial.clone()),
            "tls_certificate_not_after": self.tls.as_ref()
                .map(|t| t.certificate.facts().not_after.clone()),
            "http_redirect_listen": self.tls.as_ref().and_then(|t| t.http_redirect_listen.clone()),
            "secret_keys_file": match &self.secret_keys {
                SecretKeysSource::File { path, .. } => Some(path.display().to_string()),
                _ => None,
            },
            "secret_keys": match &self.secret_keys {
                SecretKeysSource::Given(_) => Some("(set; not shown)"),
                _ => None,
            },
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

/// A value of the wrong type, named by where it came from: `PORTCULLIS_SESSION_TTL_HOURS`
/// for the environment, the key for the file or a flag.
fn setting_error(err: &figment::Error) -> String {
    let key = err.path.join(".");
    match &err.metadata {
        Some(source) if source.name == "environment variable" => format!(
            "invalid environment variable `{}`: {}",
            env_name(&err.path.join("_")),
            err.kind
        ),
        _ => format!("invalid setting `{key}`: {}", err.kind),
    }
}

fn whole(ms: i64, unit: i64) -> u32 {
    u32::try_from(ms / unit).unwrap_or(u32::MAX)
}

/// `postgres://user:secret@host/db?sslmode=verify-full&password=x` →
/// `postgres://user:***@host/db?sslmode=verify-full`: the password masked, and of the query only
/// the TLS settings kept (the query may carry `password=`).
pub fn redact_url(url: &str) -> String {
    let (url, query) = url.split_once('?').unwrap_or((url, ""));
    let tls: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            KEPT_QUERY_KEYS.contains(&key)
        })
        .collect();
    let query = if tls.is_empty() {
        String::new()
    } else {
        format!("?{}", tls.join("&"))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url}{query}");
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
            format!("{scheme}://{masked}@{host}{path}{query}")
        }
        None => format!("{url}{query}"),
    }
}

/// The query keys [`redact_url`] keeps: how the server is verified, which an operator checking
/// the configuration needs to see, and no secret.
const KEPT_QUERY_KEYS: &[&str] = &["sslmode", "ssl-mode", "sslrootcert", "ssl-root-cert"];

/// Whether a URL carries a password, in its user info or as `password=`.
fn url_has_password(url: &str) -> bool {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default());
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    in_userinfo || query.split('&').any(|pair| pair.starts_with("password="))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    /// Resolves with no `PORTCULLIS_*` variable but those given.
    fn resolve_with(args: &ConfigArgs, env: &[(&str, &str)]) -> Result<Settings, CliError> {
        Settings::resolve_in(
            args,
            env.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    fn resolve(args: &ConfigArgs) -> Result<Settings, CliError> {
        resolve_with(args, &[])
    }

    fn flags(settings: SettingsArgs) -> ConfigArgs {
        ConfigArgs {
            config: None,
            settings,
        }
    }

    /// A config file holding `toml`, kept alive by the returned directory.
    fn file(toml: &str) -> (tempfile::TempDir, ConfigArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, toml).unwrap();
        let args = ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        };
        (dir, args)
    }

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
        assert_eq!(
            redact_url(
                "postgres://pc:s3cret@db/pcl?password=x&sslmode=verify-full&sslrootcert=/ca.pem"
            ),
            "postgres://pc:***@db/pcl?sslmode=verify-full&sslrootcert=/ca.pem"
        );
    }

    #[test]
    fn the_database_password_file_is_read_once_given_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "s3cr%t:pw\n").unwrap();
        let with = |url: &str| {
            resolve(&flags(SettingsArgs {
                database_url: Some(url.into()),
                database_password_file: Some(file.clone()),
                ..SettingsArgs::default()
            }))
        };
        let settings = with("postgres://pc@db.example.com/pcl?sslmode=verify-full").unwrap();
        assert_eq!(
            settings
                .database_password()
                .unwrap()
                .unwrap()
                .expose_secret(),
            "s3cr%t:pw"
        );
        let json = settings.to_json();
        assert!(json.contains("pgpass"), "{json}");
        assert!(json.contains("sslmode=verify-full"), "{json}");
        assert!(!json.contains("s3cr"), "{json}");
        assert!(!format!("{settings:?}").contains("s3cr"));
        let inline = resolve(&flags(SettingsArgs {
            database_url: Some("postgres://pc:s3cret@db/pcl".into()),
            ..SettingsArgs::default()
        }))
        .unwrap();
        assert!(!format!("{inline:?}").contains("s3cret"));
        assert!(!inline.to_json().contains("s3cret"));

        for twice in [
            "postgres://pc:other@db/pcl",
            "postgres://pc@db/pcl?password=other",
        ] {
            let err = with(twice).unwrap_err().to_string();
            assert!(err.contains("once"), "{twice}: {err}");
        }
        let err = resolve(&flags(SettingsArgs {
            database_password_file: Some(file.clone()),
            ..SettingsArgs::default()
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs `database_url`"), "{err}");
        let err = resolve_with(
            &ConfigArgs::default(),
            &[
                ("PORTCULLIS_DATABASE_URL", "postgres://pc@db/pcl"),
                ("PORTCULLIS_DATABASE_PASSWORD_FILE", "/nonexistent/pgpass"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/pgpass"), "{err}");
        std::fs::write(&file, "\n").unwrap();
        let err = with("postgres://pc@db/pcl").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn dns_nameserver_is_a_setting_of_every_layer_and_validated() {
        let (_dir, from_file) = file("dns_nameserver = \"127.0.0.1:5353\"\n");
        let settings = resolve(&from_file).unwrap();
        assert_eq!(
            settings.service_config().dns_nameserver,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert!(
            settings
                .to_json()
                .contains("\"dns_nameserver\": \"127.0.0.1:5353\"")
        );
        let flag = ConfigArgs {
            settings: SettingsArgs {
                dns_nameserver: Some("::1".into()),
                ..SettingsArgs::default()
            },
            ..from_file.clone()
        };
        assert_eq!(
            resolve(&flag).unwrap().dns_nameserver,
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(
            resolve_with(&from_file, &[("PORTCULLIS_DNS_NAMESERVER", "10.0.0.1")])
                .unwrap()
                .dns_nameserver,
            Some("10.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            resolve(&ConfigArgs::default())
                .unwrap()
                .service_config()
                .dns_nameserver,
            None,
            "the system resolver by default"
        );
        for bad in ["dns.example.com", "127.0.0.1:x", "1.2.3"] {
            let err = resolve(&flags(SettingsArgs {
                dns_nameserver: Some(bad.into()),
                ..SettingsArgs::default()
            }))
            .unwrap_err();
            assert!(err.to_string().contains("dns_nameserver"), "{bad}: {err}");
        }
    }

    #[test]
    fn outbound_allow_is_a_setting_of_every_layer_and_validated() {
        let (_dir, from_file) = file("outbound_allow = [\"10.0.0.0/8\", \"idp.corp\"]\n");
        let settings = resolve(&from_file).unwrap();
        assert_eq!(
            settings.outbound_allow.entries(),
            ["10.0.0.0/8", "idp.corp"]
        );
        assert_eq!(
            settings.service_config().outbound_allow,
            settings.outbound_allow
        );
        assert!(settings.to_json().contains("\"idp.corp\""));
        let env = [("PORTCULLIS_OUTBOUND_ALLOW", "10.1.0.0/16,sso.corp")];
        assert_eq!(
            resolve_with(&from_file, &env)
                .unwrap()
                .outbound_allow
                .entries(),
            ["10.1.0.0/16", "sso.corp"],
            "the variable is a comma-separated list, as the flag is"
        );
        let flag = ConfigArgs {
            settings: SettingsArgs {
                outbound_allow: Some(vec!["127.0.0.1".into()]),
                ..SettingsArgs::default()
            },
            ..from_file
        };
        assert_eq!(
            resolve_with(&flag, &env).unwrap().outbound_allow.entries(),
            ["127.0.0.1/32"]
        );
        assert_eq!(
            resolve(&ConfigArgs::default())
                .unwrap()
                .outbound_allow
                .entries(),
            Vec::<String>::new()
        );
        let err = resolve(&flags(SettingsArgs {
            outbound_allow: Some(vec!["not a host!".into()]),
            ..SettingsArgs::default()
        }))
        .unwrap_err();
        assert!(err.to_string().contains("outbound_allow"), "{err}");
    }

    #[test]
    fn the_key_ring_is_a_setting_of_every_layer_and_never_shown() {
        const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let line = format!("k1 {KEY}");
        let from_env =
            resolve_with(&ConfigArgs::default(), &[("PORTCULLIS_SECRET_KEYS", &line)]).unwrap();
        assert_eq!(from_env.key_ring(false).unwrap().key_ids(), ["k1"]);
        let (_dir, from_file) = file(&format!("secret_keys = \"{line}\"\n"));
        let from_file = resolve(&from_file).unwrap();
        assert_eq!(from_file.key_ring(false).unwrap().key_ids(), ["k1"]);
        for settings in [&from_env, &from_file] {
            assert!(!format!("{settings:?}").contains(KEY));
            assert!(!settings.to_json().contains(KEY));
            assert!(settings.to_json().contains("(set; not shown)"));
        }
        let args = flags(SettingsArgs {
            secret_keys: Some(line.parse().unwrap()),
            ..SettingsArgs::default()
        });
        assert!(!format!("{args:?}").contains(KEY));

        let both = resolve_with(
            &flags(SettingsArgs {
                secret_keys_file: Some("/etc/keys".into()),
                ..SettingsArgs::default()
            }),
            &[("PORTCULLIS_SECRET_KEYS", &line)],
        )
        .unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let bad = resolve_with(
            &ConfigArgs::default(),
            &[("PORTCULLIS_SECRET_KEYS", "k1 short")],
        )
        .unwrap()
        .key_ring(false)
        .unwrap_err()
        .to_string();
        assert!(bad.contains("`k1`") && !bad.contains("short"), "{bad}");

        let sqlite = resolve(&flags(SettingsArgs {
            data_dir: Some("/srv/pcl".into()),
            ..SettingsArgs::default()
        }))
        .unwrap();
        assert!(sqlite.to_json().contains("/srv/pcl/secret-keys"));
        let postgres = resolve(&flags(SettingsArgs {
            database_url: Some("postgres://db/pcl".into()),
            ..SettingsArgs::default()
        }))
        .unwrap();
        let err = postgres.key_ring(true).unwrap_err().to_string();
        assert!(err.contains("PORTCULLIS_SECRET_KEYS"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_by_name() {
        let (_dir, args) = file("listen = \"x\"\nlisen = \"x\"\n");
        let err = resolve(&args).unwrap_err().to_string();
        assert!(err.contains("`lisen`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_environment_variables_are_rejected_by_name() {
        let err = resolve_with(&ConfigArgs::default(), &[("PORTCULLIS_LISEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`PORTCULLIS_LISEN`"), "{err}");
        assert!(
            err.contains("PORTCULLIS_LISTEN"),
            "lists the settings: {err}"
        );
        // Variables of the test harness and the operator password are not settings, and other
        // programs' variables are none of ours.
        let settings = resolve_with(
            &ConfigArgs::default(),
            &[
                ("PORTCULLIS_TEST_BACKEND", "sqlite"),
                ("PORTCULLIS_ADMIN_PASSWORD", "x"),
                ("PORTCULLIS_CONFIG", "ignored: clap reads it"),
                ("LISTEN", "x"),
            ],
        )
        .unwrap();
        assert_eq!(settings.listen, DEFAULT_LISTEN);
    }

    #[test]
    fn every_setting_is_a_file_key_and_a_variable() {
        let keys: Vec<String> = declared().into_iter().map(|d| d.key).collect();
        assert!(keys.len() >= 22, "{keys:?}");
        for key in &keys {
            let (_dir, args) = file(&format!("{key} = []\n"));
            if let Err(err) = resolve(&args) {
                assert!(!err.to_string().contains("unknown field"), "{key}: {err}");
            }
            let err = resolve_with(&ConfigArgs::default(), &[(&env_name(key), "\u{1}bad")]);
            if let Err(err) = err {
                assert!(
                    !err.to_string().contains("unknown environment variable"),
                    "{key}: {err}"
                );
            }
        }
    }

    #[test]
    fn flags_beat_the_environment_beats_the_file_beats_defaults() {
        let (_dir, from_file) = file(
            "listen = \"127.0.0.1:9\"\nmax_orgs_per_user = 3\nsession_ttl_hours = 5\nsignup_enabled = true\n",
        );
        let args = ConfigArgs {
            settings: SettingsArgs {
                session_ttl_hours: Some(7),
                ..SettingsArgs::default()
            },
            ..from_file
        };
        let env = [
            ("PORTCULLIS_SESSION_TTL_HOURS", "6"),
            ("PORTCULLIS_SIGNUP_ENABLED", "no"),
            ("PORTCULLIS_LOG_FORMAT", "json"),
        ];
        let settings = resolve_with(&args, &env).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:9");
        assert_eq!(settings.max_orgs_per_user, 3);
        assert_eq!(settings.session_ttl_hours, 7);
        assert!(!settings.signup_enabled, "yes/no as the flag takes them");
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.invitation_ttl_days, 7);
        assert_eq!(
            settings.store,
            StoreLocation::DataDir(PathBuf::from(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn a_badly_typed_variable_is_named() {
        let err = resolve_with(
            &ConfigArgs::default(),
            &[("PORTCULLIS_SESSION_TTL_HOURS", "a day")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`PORTCULLIS_SESSION_TTL_HOURS`"), "{err}");
        let err = resolve_with(&ConfigArgs::default(), &[("PORTCULLIS_LOG_FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`PORTCULLIS_LOG_FORMAT`"), "{err}");
    }

    #[test]
    fn a_commands_own_store_ignores_the_operators_settings() {
        let settings = Settings::for_store(StoreLocation::DataDir("/tmp/x".into())).unwrap();
        assert_eq!(settings.store, StoreLocation::DataDir("/tmp/x".into()));
        assert_eq!(settings.listen, DEFAULT_LISTEN);
    }

    #[test]
    fn public_url_is_a_setting_of_every_layer_and_validated() {
        let (_dir, from_file) = file("public_url = \"https://auth.example.com/\"\n");
        let settings = resolve(&from_file).unwrap();
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
        let flag = ConfigArgs {
            settings: SettingsArgs {
                public_url: Some("http://sso.test:8443/pcl".into()),
                ..SettingsArgs::default()
            },
            ..from_file
        };
        assert_eq!(
            resolve(&flag).unwrap().public_url.as_deref(),
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
            let err = resolve(&flags(SettingsArgs {
                public_url: Some(bad.into()),
                ..SettingsArgs::default()
            }))
            .unwrap_err();
            assert!(err.to_string().contains("public_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn zero_lifetimes_are_refused() {
        let err = resolve(&flags(SettingsArgs {
            invitation_ttl_days: Some(0),
            ..SettingsArgs::default()
        }))
        .unwrap_err();
        assert!(err.to_string().contains("invitation_ttl_days"));
        let err = resolve_with(
            &ConfigArgs::default(),
            &[("PORTCULLIS_INVITATION_TTL_DAYS", "0")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("invitation_ttl_days"));
    }

    #[test]
    fn audit_retention_is_off_by_default_and_read_from_the_file() {
        assert_eq!(
            resolve(&ConfigArgs::default())
                .unwrap()
                .audit_retention_days,
            None
        );
        let (_dir, args) = file("audit_retention_days = 400\n");
        assert_eq!(resolve(&args).unwrap().audit_retention_days, Some(400));
        let zero = flags(SettingsArgs {
            audit_retention_days: Some(0),
            ..SettingsArgs::default()
        });
        assert!(
            resolve(&zero)
                .unwrap_err()
                .to_string()
                .contains("audit_retention_days")
        );
    }

    #[test]
    fn the_tls_settings_come_from_every_layer_and_need_each_other() {
        let err = resolve_with(
            &ConfigArgs::default(),
            &[("PORTCULLIS_TLS_KEY_FILE", "/etc/portcullis/tls.key")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");
        let (_dir, from_file) = file("http_redirect_listen = \"0.0.0.0:80\"\n");
        let err = resolve(&from_file).unwrap_err();
        assert!(err.to_string().contains("tls_cert_file"), "{err}");
        // The pair is read at resolution, so a missing file is named before anything starts.
        let err = resolve_with(
            &from_file,
            &[
                ("PORTCULLIS_TLS_CERT_FILE", "/nonexistent/tls.crt"),
                ("PORTCULLIS_TLS_KEY_FILE", "/nonexistent/tls.key"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tls.crt"), "{err}");
        // An empty value is unset, as for the other settings.
        let settings = resolve_with(
            &ConfigArgs::default(),
            &[("PORTCULLIS_HTTP_REDIRECT_LISTEN", "")],
        )
        .unwrap();
        assert!(settings.tls.is_none());
        assert!(settings.to_json().contains("\"tls_cert_file\": null"));
    }

    fn sp_fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../saml/tests/fixtures")
            .join(name)
    }

    #[test]
    fn the_saml_sp_key_pair_is_validated_at_start_up_and_never_printed() {
        let with = |key: Option<&str>, cert: Option<&str>| {
            resolve(&flags(SettingsArgs {
                saml_sp_key_file: key.map(sp_fixture),
                saml_sp_cert_file: cert.map(sp_fixture),
                ..SettingsArgs::default()
            }))
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

//! How the store reaches a PostgreSQL server: the connect options as libpq would read the URL
//! (`sslmode`, `sslrootcert`, a password kept out of the URL), a summary of the connection's
//! protection for start-up warnings, and TLS failures explained in the operator's words.
//!
//! The TLS itself is sqlx's (rustls on ring, Mozilla's roots built in, `sslrootcert` added to
//! them); nothing here touches the handshake. Nothing here may log or return the password.

use std::net::IpAddr;

use sqlx::any::AnyConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::{Result, StoreError};

/// The URL query keys sqlx reads the TLS settings from (libpq's names and sqlx's own).
const SSL_MODE_KEYS: &[&str] = &["sslmode", "ssl-mode"];
const SSL_ROOT_CERT_KEYS: &[&str] = &["sslrootcert", "ssl-root-cert"];

/// Applies what libpq does with a connection string that sqlx does not: a password given
/// apart from the URL, `sslmode=require` verifying the CA once a root certificate is named,
/// and `sslrootcert=system` (the built-in roots, which imply `verify-full`).
pub(crate) fn postgres_options(
    mut options: AnyConnectOptions,
    password: Option<&str>,
) -> Result<AnyConnectOptions> {
    let url = &mut options.database_url;
    if let Some(password) = password {
        // The URL's user-info encoding leaves `%` alone, but sqlx percent-decodes the password.
        url.set_password(Some(&password.replace('%', "%25")))
            .map_err(|()| configuration("the database URL cannot carry a password"))?;
    }
    if std::env::var("PGSSLROOTCERT").as_deref() == Ok("system") {
        // sqlx would read it as a file named `system`, and the URL cannot unset it.
        return Err(configuration(
            "PGSSLROOTCERT=system is not supported; give `sslrootcert=system` in the URL",
        ));
    }
    let query = |keys: &[&str]| {
        url.query_pairs()
            .find(|(key, _)| keys.contains(&key.as_ref()))
            .map(|(_, value)| value.into_owned())
    };
    let given_mode = query(SSL_MODE_KEYS).or_else(|| std::env::var("PGSSLMODE").ok());
    let root_cert = query(SSL_ROOT_CERT_KEYS).or_else(|| std::env::var("PGSSLROOTCERT").ok());
    let system_roots = root_cert.as_deref() == Some("system");
    let mode = match (root_cert.as_deref(), given_mode.as_deref()) {
        // libpq (16+): the trusted roots, and nothing weaker than verify-full.
        (Some("system"), None | Some("verify-full")) => Some("verify-full"),
        (Some("system"), Some(weaker)) => {
            return Err(configuration(&format!(
                "`sslrootcert=system` needs `sslmode=verify-full` (got `{weaker}`)"
            )));
        }
        // libpq: "if a root CA file exists, sslmode=require behaves like verify-ca".
        (Some(_), Some("require")) => Some("verify-ca"),
        _ => None,
    };
    if let Some(mode) = mode {
        // The built-in roots are always trusted: `system` names no extra file.
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| {
                !(SSL_MODE_KEYS.contains(&key.as_ref())
                    || system_roots && SSL_ROOT_CERT_KEYS.contains(&key.as_ref()))
            })
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("sslmode", mode);
    }
    Ok(options)
}

fn configuration(why: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Configuration(why.to_owned().into()))
}

/// How the store reaches its PostgreSQL server, for start-up warnings and `doctor`; holds no
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// The server's host name or address (a socket directory for a Unix socket).
    pub host: String,
    pub port: u16,
    /// On this machine: a loopback address, `localhost` or a Unix socket.
    pub local: bool,
    /// The `sslmode` in effect, as libpq names it.
    pub ssl_mode: &'static str,
    /// Whether the server's certificate is checked against a trusted CA (`verify-ca`,
    /// `verify-full`); `verify-full` also checks the host name.
    pub verifies_server: bool,
    /// The TLS version of a pooled connection, `None` when it is not encrypted; filled in by
    /// [`crate::Store::transport`].
    pub tls_version: Option<String>,
}

impl Transport {
    pub(crate) fn of(options: &PgConnectOptions) -> Self {
        let host = options.get_host();
        let local = options.get_socket().is_some()
            || host.starts_with('/')
            || host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let ssl_mode = options.get_ssl_mode();
        Self {
            host: host.to_owned(),
            port: options.get_port(),
            local,
            ssl_mode: match ssl_mode {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            },
            verifies_server: matches!(ssl_mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull),
            tls_version: None,
        }
    }

    /// Why this connection needs an operator's attention: a server on another machine reached
    /// without checking its certificate, where anyone on the path can read or impersonate it.
    pub fn warning(&self) -> Option<String> {
        if self.local || self.verifies_server {
            return None;
        }
        let encrypted = match &self.tls_version {
            Some(version) => format!("encrypted ({version}) but unauthenticated"),
            None => "not encrypted".to_owned(),
        };
        Some(format!(
            "PostgreSQL at `{}` is reached with sslmode={}, which does not verify the server: \
             the connection is {encrypted}; set sslmode=verify-full in the database URL (and \
             sslrootcert=<CA file> for a private CA)",
            self.host, self.ssl_mode
        ))
    }
}

/// A failed connection explained: which TLS check refused the server, or that the server
/// offers no TLS. Other errors are returned as they are.
pub(crate) fn explain(err: sqlx::Error, transport: &Transport) -> sqlx::Error {
    let why = match &err {
        sqlx::Error::Tls(inner) if inner.to_string() == "server does not support TLS" => format!(
            "the PostgreSQL server at `{}` does not support TLS, which sslmode={} requires",
            transport.host, transport.ssl_mode
        ),
        sqlx::Error::Io(io) => {
            let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            else {
                return err;
            };
            let reason = match tls {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    "its certificate is not signed by a trusted CA (name the server's CA with \
                     sslrootcert=<file>)"
                }
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                ) => {
                    // sqlx 0.8 checks the name under verify-ca too (it misses rustls's newer
                    // error variant), so verify-ca is no way around it.
                    "its certificate is not valid for that host name (connect by a name the \
                     certificate lists)"
                }
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. }
                    | rustls::CertificateError::NotValidYet
                    | rustls::CertificateError::NotValidYetContext { .. },
                ) => "its certificate is outside its validity period",
                _ => "the TLS handshake failed",
            };
            format!(
                "refused the PostgreSQL server at `{}` (sslmode={}): {reason}: {tls}",
                transport.host, transport.ssl_mode
            )
        }
        _ => return err,
    };
    sqlx::Error::Tls(why.into())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn effective(url: &str, password: Option<&str>) -> Result<(String, Transport)> {
        sqlx::any::install_default_drivers();
        let options = postgres_options(AnyConnectOptions::from_str(url).unwrap(), password)?;
        let pg = PgConnectOptions::try_from(&options).unwrap();
        Ok((options.database_url.to_string(), Transport::of(&pg)))
    }

    #[test]
    fn sslmode_is_read_as_libpq_reads_it() {
        let mode = |url: &str| effective(url, None).map(|(_, t)| t.ssl_mode);
        assert_eq!(
            mode("postgres://db/x?sslmode=verify-full").unwrap(),
            "verify-full"
        );
        assert_eq!(mode("postgres://db/x?sslmode=disable").unwrap(), "disable");
        // A root certificate makes `require` check the CA, as libpq does.
        assert_eq!(
            mode("postgres://db/x?sslmode=require&sslrootcert=/ca.pem").unwrap(),
            "verify-ca"
        );
        assert_eq!(mode("postgres://db/x?sslmode=require").unwrap(), "require");
        // `system`: the built-in roots, verify-full, never a file named "system".
        let (url, transport) = effective("postgres://db/x?sslrootcert=system", None).unwrap();
        assert_eq!(transport.ssl_mode, "verify-full");
        assert!(!url.contains("sslrootcert"), "{url}");
        let err = mode("postgres://db/x?sslrootcert=system&sslmode=require").unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn a_separate_password_is_encoded_into_the_options() {
        let (url, _) = effective("postgres://pc@db:5432/x", Some("p@ss/w:rd%")).unwrap();
        let options = PgConnectOptions::from_str(&url).unwrap();
        // The decoded password reaches the server; the URL form is percent-encoded.
        assert!(url.contains("pc:p%40ss%2Fw%3Ard%25@db"), "{url}");
        assert_eq!(options.get_username(), "pc");
    }

    #[test]
    fn only_a_remote_server_reached_without_verification_is_warned_about() {
        let transport = |url: &str| effective(url, None).unwrap().1;
        for local in [
            "postgres://localhost/x",
            "postgres://127.0.0.1/x",
            "postgres://[::1]:5433/x",
            "postgres://db/x?host=/var/run/postgresql",
        ] {
            assert_eq!(transport(local).warning(), None, "{local}");
        }
        for verified in [
            "postgres://db.example.com/x?sslmode=verify-full",
            "postgres://10.0.0.5/x?sslmode=verify-ca",
        ] {
            assert_eq!(transport(verified).warning(), None, "{verified}");
        }
        for weak in ["disable", "prefer", "require"] {
            let url = format!("postgres://u:secret@db.example.com/x?sslmode={weak}");
            let warning = transport(&url).warning().unwrap();
            assert!(warning.contains(&format!("sslmode={weak}")), "{warning}");
            assert!(warning.contains("verify-full"), "{warning}");
            assert!(!warning.contains("secret"), "{warning}");
        }
    }
}

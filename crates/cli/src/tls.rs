//! The HTTPS listener's certificate: the operator's PEM pair read and checked
//! ([`ServerCertificate::load`]: the key must belong to the certificate), the rustls server
//! configuration built from it (TLS 1.3 and 1.2 only, ring's cipher suites, ALPN `h2` then
//! `http/1.1`), and its reload ([`keep_fresh`]) on SIGHUP or when either file changes.
//!
//! A reload swaps the configuration new handshakes use; connections already open keep theirs,
//! so nothing is dropped. A renewed pair that does not load (half written, mismatched, not PEM)
//! is logged and the previous certificate keeps being served. The private key never leaves the
//! rustls configuration: it is neither logged nor printed, and errors name files, not contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files' metadata is compared with what was last loaded. Two `stat` calls, so
/// cheap; a renewal tool that writes the files is picked up within this period without a signal.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The HTTP versions offered in ALPN, preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The certificate and key files the operator configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A loaded, checked pair as the rustls configuration new connections are served with.
#[derive(Clone)]
pub struct ServerCertificate {
    config: Arc<ServerConfig>,
    facts: CertificateFacts,
}

/// The public facts of the leaf certificate the log reports at start-up and on each reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Hexadecimal, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_after: String,
    pub expired: bool,
}

impl CertificateFacts {
    fn of(leaf: &CertificateDer<'_>) -> Result<Self, String> {
        let unreadable =
            |err: openssl::error::ErrorStack| format!("the certificate cannot be read ({err})");
        let cert = openssl::x509::X509::from_der(leaf).map_err(unreadable)?;
        let serial = cert
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|hex| hex.to_string()))
            .map_err(unreadable)?;
        let now = openssl::asn1::Asn1Time::days_from_now(0).map_err(unreadable)?;
        let expired = cert.not_after().compare(&now).map_err(unreadable)?.is_lt();
        Ok(Self {
            serial,
            not_after: cert.not_after().to_string(),
            expired,
        })
    }

    /// Logs the certificate now served (a warning when it has expired: clients will refuse it).
    pub fn log(&self, what: &str) {
        if self.expired {
            tracing::warn!(serial = %self.serial, not_after = %self.not_after,
                "{what}; it has EXPIRED, clients will refuse it: renew it");
        } else {
            tracing::info!(serial = %self.serial, not_after = %self.not_after, "{what}");
        }
    }
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds the private key: print nothing of it.
        f.debug_struct("ServerCertificate").finish_non_exhaustive()
    }
}

impl ServerCertificate {
    /// Reads both files and builds the configuration; the error names the file at fault and
    /// says what is wrong with it, never what it contains.
    pub fn load(files: &TlsFiles) -> Result<Self, String> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .map_err(|err| format!("cannot read the TLS {what} `{}`: {err}", path.display()))
        };
        let cert = read(&files.cert, "certificate file")?;
        let key = read(&files.key, "key file")?;
        Self::from_pem(&cert, &key).map_err(|why| {
            format!(
                "invalid TLS certificate and key (`{}`, `{}`): {why}",
                files.cert.display(),
                files.key.display()
            )
        })
    }

    /// The chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1), both PEM.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, String> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("the certificate file is not PEM ({err})"))?;
        if chain.is_empty() {
            return Err("the certificate file holds no CERTIFICATE block".to_owned());
        }
        let facts = CertificateFacts::of(&chain[0])?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| "the key file holds no PEM private key (PKCS#8, RSA or EC)".to_owned())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| format!("the TLS versions are not supported ({err})"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|err| match err {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_owned()
                }
                other => format!("the key or certificate is not usable ({other})"),
            })?;
        config.alpn_protocols = ALPN.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Self {
            config: Arc::new(config),
            facts,
        })
    }

    pub fn facts(&self) -> &CertificateFacts {
        &self.facts
    }

    /// The configuration the listener serves, swapped in place by [`keep_fresh`].
    pub fn rustls_config(&self) -> RustlsConfig {
        RustlsConfig::from_config(self.config.clone())
    }
}

/// What identifies a version of a file: replaced (new inode), rewritten (length, time) or
/// touched (time) all count as a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode,
    })
}

fn stamps(files: &TlsFiles) -> (Option<Stamp>, Option<Stamp>) {
    (stamp(&files.cert), stamp(&files.key))
}

/// Reloads the served certificate on SIGHUP and whenever either file changes, until the task
/// is dropped. Each version of the files is tried once: a broken pair is reported and the
/// next change (or SIGHUP) tries again.
pub async fn keep_fresh(files: TlsFiles, served: RustlsConfig, mut hangup: Hangup) {
    let mut seen = stamps(&files);
    let mut every = tokio::time::interval(POLL_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let signalled = tokio::select! {
            () = hangup.recv() => true,
            _ = every.tick() => false,
        };
        let now = stamps(&files);
        if !signalled && now == seen {
            continue;
        }
        seen = now;
        let reason = if signalled {
            "SIGHUP"
        } else {
            "the files changed"
        };
        let loaded = {
            let files = files.clone();
            tokio::task::spawn_blocking(move || ServerCertificate::load(&files)).await
        };
        match loaded {
            Ok(Ok(certificate)) => {
                served.reload_from_config(certificate.config.clone());
                tracing::info!(cert_file = %files.cert.display(), reason, "TLS certificate reloaded");
                certificate
                    .facts
                    .log("new connections are served this certificate");
            }
            Ok(Err(why)) => tracing::error!(
                error = %why,
                reason,
                "TLS certificate not reloaded; the previous one is still served"
            ),
            Err(err) => tracing::error!(error = %err, "the TLS certificate reload failed"),
        }
    }
}

/// SIGHUP, registered when the application starts (before it reports that it listens, so a
/// signal sent from then on reloads instead of ending the process).
#[derive(Debug)]
pub struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangup {
    pub fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let registered = signal(SignalKind::hangup());
            if let Err(err) = &registered {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; certificate changes are \
                    still picked up from the files");
            }
            Self(registered.ok())
        }
        #[cfg(not(unix))]
        Self()
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn self_signed(params: rcgen::CertificateParams) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn garbage_and_empty_files_are_refused_by_what_is_wrong() {
        let err = ServerCertificate::from_pem(b"not pem", b"").unwrap_err();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        let bogus = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = ServerCertificate::from_pem(bogus, b"").unwrap_err();
        assert!(err.contains("cannot be read"), "{err}");
        let (cert, _) = self_signed(rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap());
        let err = ServerCertificate::from_pem(cert.as_bytes(), b"junk").unwrap_err();
        assert!(err.contains("no PEM private key"), "{err}");
    }

    #[test]
    fn the_facts_name_the_serial_and_an_expired_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from(0x1234_u64));
        let (cert, key) = self_signed(params.clone());
        let facts = ServerCertificate::from_pem(cert.as_bytes(), key.as_bytes())
            .unwrap()
            .facts()
            .clone();
        assert_eq!(facts.serial, "1234");
        assert!(!facts.expired);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let (cert, key) = self_signed(params);
        let certificate = ServerCertificate::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert!(certificate.facts().expired, "{:?}", certificate.facts());
        assert!(certificate.facts().not_after.contains("2021"));
        assert_eq!(format!("{certificate:?}"), "ServerCertificate { .. }");
    }
}

//! Delivering the outbox over SMTP (lettre, tokio, rustls). `serve` starts one worker when
//! `smtp_url` is set; without it messages stay in the outbox for the operator.
//!
//! At least once: a message is marked sent only after the relay accepted it, and a worker that
//! dies holding a claim leaves a lease that runs out, so another attempt follows. Claims are
//! leases in the store (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several servers on one
//! database do not send one message twice in normal operation. Failed attempts back off
//! exponentially; after `max_attempts` the message is marked failed with its last error.
//! Each message carries a Message-ID derived from its outbox id, so a relay or reader can
//! recognise a repeat.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_store::ClaimedMessage;
use secrecy::{ExposeSecret, SecretString};

use crate::Portcullis;

/// How the relay is reached and how hard delivery tries.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://[user[:password]@]host[:port][?tls=required|opportunistic|none]` (STARTTLS
    /// required unless the URL says otherwise; port 587 by default) or
    /// `smtps://…` (TLS from the first byte; port 465).
    pub url: SecretString,
    /// The password, when not in the URL (read from `smtp_password_file`).
    pub password: Option<SecretString>,
    /// The sender address (`mail_from`), e.g. `Portcullis <no-reply@example.com>`.
    pub from: String,
    /// Extra PEM root certificates to trust for the relay (a private CA).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// The first retry waits this long; each next one twice as long (at most 30 minutes).
    pub retry_initial_ms: u64,
    /// After this many failed attempts a message is marked failed.
    pub max_attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("invalid `smtp_url`: {0}")]
    Url(String),
    #[error("invalid `mail_from` `{0}`: {1}")]
    From(String, String),
    #[error("invalid SMTP CA certificate: {0}")]
    Certificate(String),
}

/// A configured SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where the relay is, safe to log (no credentials).
    pub description: String,
    retry_initial_ms: u64,
    max_attempts: u32,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("relay", &self.description)
            .finish_non_exhaustive()
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF_MS: u64 = 30 * 60_000;
/// How long a claim holds a message: longer than one send may take (a worker killed mid-send
/// delays that message by at most this much).
const LEASE_MS: i64 = 60_000;
/// How long one SMTP conversation may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the worker looks for due messages when idle.
const POLL: Duration = Duration::from_millis(500);

impl SmtpMailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, MailConfigError> {
        let raw = config.url.expose_secret();
        let url = url::Url::parse(raw).map_err(|e| MailConfigError::Url(e.to_string()))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailConfigError::Url("no host".into()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let mode = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(pem) = &config.extra_roots_pem {
                let cert = Certificate::from_pem(pem)
                    .map_err(|e| MailConfigError::Certificate(e.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| MailConfigError::Certificate(e.to_string()))
        };
        let (tls, port) = match (url.scheme(), mode.as_deref()) {
            ("smtp", None | Some("required")) => (Tls::Required(tls_parameters()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(tls_parameters()?), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            ("smtps", None) => (Tls::Wrapper(tls_parameters()?), 465),
            (scheme, mode) => {
                return Err(MailConfigError::Url(format!(
                    "scheme `{scheme}` with tls={} is not one of smtp:// (tls=required, \
                     opportunistic or none) or smtps://",
                    mode.unwrap_or("(default)")
                )));
            }
        };
        let port = url.port().unwrap_or(port);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(SEND_TIMEOUT));
        let user = percent_decode(url.username());
        let password = match (url.password(), &config.password) {
            (Some(p), _) => Some(SecretString::from(percent_decode(p))),
            (None, Some(p)) => Some(p.clone()),
            (None, None) => None,
        };
        if let Some(password) = password {
            if user.is_empty() {
                return Err(MailConfigError::Url(
                    "a password needs a user name in the URL".into(),
                ));
            }
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailConfigError::From(config.from.clone(), e.to_string())
            })?;
        Ok(Self {
            transport: builder.build(),
            from,
            description: format!("{}://{host}:{port}", url.scheme()),
            retry_initial_ms: config.retry_initial_ms.max(1),
            max_attempts: config.max_attempts.max(1),
        })
    }

    /// Sends one message; the error text is what the operator will see.
    async fn send(&self, message: &ClaimedMessage, domain: &str) -> Result<(), String> {
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|e| format!("invalid recipient: {e}"))?;
        let body = match &message.html_body {
            Some(html) => MultiPart::alternative_plain_html(message.body.clone(), html.clone()),
            None => MultiPart::mixed().singlepart(
                lettre::message::SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.body.clone()),
            ),
        };
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(format!("<outbox.{}@{domain}>", message.id)))
            .multipart(body)
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The wait before attempt `attempts + 1`.
    fn backoff_ms(&self, attempts: i64) -> u64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_initial_ms
            .saturating_mul(1u64 << doublings)
            .min(MAX_BACKOFF_MS)
    }
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Runs the delivery worker until the process ends.
pub fn spawn_delivery(service: Arc<Portcullis>, mailer: SmtpMailer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let domain = mailer.from.email.domain().to_owned();
        loop {
            let delivered = deliver_due(&service, &mailer, &domain).await;
            if delivered == 0 {
                tokio::time::sleep(POLL).await;
            }
        }
    })
}

/// Claims and sends what is due; returns how many messages it handled.
async fn deliver_due(service: &Portcullis, mailer: &SmtpMailer, domain: &str) -> usize {
    let now = service.now();
    let claimed = match service
        .store()
        .claim_due_messages(now, now + LEASE_MS, 10)
        .await
    {
        Ok(claimed) => claimed,
        Err(err) => {
            tracing::warn!(error = %err, "cannot claim outbox messages");
            return 0;
        }
    };
    let handled = claimed.len();
    for message in claimed {
        let outcome = mailer.send(&message, domain).await;
        let now = service.now();
        let store = service.store();
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(message = message.id, "mail sent");
                store.mark_message_sent(message.id, now).await
            }
            Err(error) => {
                let error: String = error.chars().take(500).collect();
                if message.attempts >= i64::from(mailer.max_attempts) {
                    tracing::error!(message = message.id, attempts = message.attempts, %error,
                        "mail failed for good");
                    store.mark_message_failed(message.id, now, &error).await
                } else {
                    let wait = mailer.backoff_ms(message.attempts);
                    tracing::warn!(message = message.id, attempts = message.attempts, %error,
                        retry_in_ms = wait, "mail not sent; will retry");
                    let next = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                    store.retry_message_later(message.id, next, &error).await
                }
            }
        };
        if let Err(err) = recorded {
            // The lease runs out and the message is tried again: at least once.
            tracing::warn!(message = message.id, error = %err, "cannot record a delivery outcome");
        }
    }
    handled
}

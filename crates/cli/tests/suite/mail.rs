//! Mail delivery end to end: real `portcullis serve` processes deliver their outbox to a real
//! SMTP relay on loopback (aiosmtpd from target/idp-venv, STARTTLS with a CA made here, AUTH).
//! The tests read what the relay received and follow its links. Outside CI, without the venv,
//! they are skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Location, Server, fresh_postgres_url, postgres_under_test};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

const USER: &str = "portcullis";
const PASSWORD: &str = "relay-secret-42";

fn python() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/idp-venv/bin/python");
    let ok = path.exists()
        && Command::new(&path)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "aiosmtpd is not installed in target/idp-venv (scripts/setup.sh installs it)"
        );
        eprintln!("skipped: no aiosmtpd in target/idp-venv (bash scripts/setup.sh)");
    }
    ok.then_some(path)
}

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn certificate(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(
        &BigNum::from_u32(if ca { 1 } else { 2 })
            .unwrap()
            .to_asn1_integer()
            .unwrap(),
    )
    .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    } else {
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
            .unwrap();
        b.append_extension(san).unwrap();
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
        .unwrap();
    b.build()
}

/// A test CA and a relay certificate for 127.0.0.1 it signed: (ca.pem, relay.pem, relay.key).
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = key();
    let ca = certificate("Portcullis test CA", &ca_key, None, true);
    let relay_key = key();
    let relay = certificate("127.0.0.1", &relay_key, Some((&ca, &ca_key)), false);
    let paths = (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    );
    std::fs::write(&paths.0, ca.to_pem().unwrap()).unwrap();
    std::fs::write(&paths.1, relay.to_pem().unwrap()).unwrap();
    std::fs::write(&paths.2, relay_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    paths
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The aiosmtpd relay process.
struct Relay {
    child: Child,
    maildir: PathBuf,
}

impl Relay {
    fn start(python: &Path, port: u16, pki: &(PathBuf, PathBuf, PathBuf), maildir: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        std::fs::create_dir_all(maildir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/relay.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(&pki.1)
            .arg(&pki.2)
            .args([USER, PASSWORD])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("READY"), "relay: {line:?}");
        Self {
            child,
            maildir: maildir.to_owned(),
        }
    }

    /// Every message received so far, in order.
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.maildir)
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                let n = path.file_stem()?.to_str()?.parse().ok()?;
                (path.extension()? == "eml").then_some((n, path))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// The decoded plain-text part of the message whose raw form is `raw`.
    fn text_of(&self, raw: &str) -> String {
        let n = self
            .messages()
            .iter()
            .position(|m| m == raw)
            .expect("a received message")
            + 1;
        std::fs::read_to_string(self.maildir.join(format!("{n}.txt"))).unwrap()
    }

    /// Waits until `count` messages arrived (or panics after `within`).
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store for the test: a PostgreSQL database or an SQLite data directory.
async fn location(dir: &Path) -> Location {
    if postgres_under_test() {
        Location::Url(fresh_postgres_url().await)
    } else {
        Location::Dir(dir.join("data"))
    }
}

fn mail_env(
    port: u16,
    pki: &(PathBuf, PathBuf, PathBuf),
    dir: &Path,
    password: &str,
    max_attempts: u32,
) -> Vec<(String, String)> {
    let password_file = dir.join("smtp-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    [
        (
            "PORTCULLIS_SMTP_URL",
            format!("smtp://{USER}@127.0.0.1:{port}"),
        ),
        (
            "PORTCULLIS_SMTP_PASSWORD_FILE",
            password_file.display().to_string(),
        ),
        ("PORTCULLIS_SMTP_CA_FILE", pki.0.display().to_string()),
        (
            "PORTCULLIS_MAIL_FROM",
            "Portcullis <no-reply@portcullis.test>".to_owned(),
        ),
        (
            "PORTCULLIS_PUBLIC_URL",
            "https://auth.portcullis.test".to_owned(),
        ),
        ("PORTCULLIS_SMTP_RETRY_INITIAL_MS", "200".to_owned()),
        ("PORTCULLIS_SMTP_MAX_ATTEMPTS", max_attempts.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The raw message's header value (first occurrence).
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The token of the link `https://auth.portcullis.test<path>?token=…` in a decoded text part.
fn link_token(message: &str, path: &str) -> Option<String> {
    let marker = format!("https://auth.portcullis.test{path}?token=");
    let start = message.find(&marker)? + marker.len();
    Some(
        message[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

async fn signup(server: &Server, id: &str) -> String {
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/signup",
            None,
            Some(json!({"id": id, "email": format!("{id}@example.com"),
                "password": format!("password-{id}"), "first_name": "Mail", "last_name": id})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/login",
            None,
            Some(
                json!({"email": format!("{id}@example.com"), "password": format!("password-{id}")}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["session_token"].as_str().unwrap().to_owned()
}

fn outbox(location: &Location) -> Vec<Value> {
    let args: Vec<String> = ["outbox".to_owned()]
        .into_iter()
        .chain(location.args())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = crate::common::run(&args);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn verification_and_invitation_mails_arrive_over_starttls_and_their_links_work() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path());
    let port = free_port();
    let relay = Relay::start(&python, port, &pki, &dir.path().join("mail"));
    let location = location(dir.path()).await;
    let server = Server::start_with(
        location.clone(),
        mail_env(port, &pki, dir.path(), PASSWORD, 30),
    );

    // Sign up: the verification mail arrives, as text and HTML, from mail_from.
    let ada = signup(&server, "ada").await;
    let messages = relay.wait_for(1, Duration::from_secs(20)).await;
    let mail = &messages[0];
    assert_eq!(header(mail, "X-Envelope-To"), Some("ada@example.com"));
    assert_eq!(header(mail, "Subject"), Some("Verify your email address"));
    assert!(
        header(mail, "From")
            .unwrap()
            .contains("no-reply@portcullis.test")
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    let token = link_token(&relay.text_of(mail), "/verify-email").expect("a verification link");
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/email/confirm",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, _, status) = server
        .call("GET", "/v1/users/me/email", Some(&ada), None)
        .await;
    assert_eq!(status["verified"], true);

    // Ada invites Bob's address; Bob signs up, receives both mails and accepts by the link.
    server.org(&ada, "acme").await;
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/orgs/acme/invitations",
            Some(&ada),
            Some(json!({"email": "bob@example.com", "role": "org_user"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let bob = signup(&server, "bob").await;
    let messages = relay.wait_for(3, Duration::from_secs(20)).await;
    let invitation = messages
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("invited")))
        .expect("the invitation mail");
    assert_eq!(header(invitation, "X-Envelope-To"), Some("bob@example.com"));
    let token =
        link_token(&relay.text_of(invitation), "/invitations/accept").expect("an accept link");
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/invitations/accept",
            Some(&bob),
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["org"], "acme");

    // The operator sees every message sent.
    let all = outbox(&location);
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|m| m["state"] == "sent"), "{all:?}");
}

#[tokio::test]
async fn smtp_down_and_a_sigkill_between_commit_and_delivery_lose_no_message() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path());
    let port = free_port();
    let location = location(dir.path()).await;
    // No relay yet: every attempt fails and is retried.
    let mut server = Server::start_with(
        location.clone(),
        mail_env(port, &pki, dir.path(), PASSWORD, 30),
    );
    for id in ["u1", "u2", "u3"] {
        signup(&server, id).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = outbox(&location);
    assert_eq!(pending.len(), 3);
    assert!(
        pending.iter().all(|m| m["state"] == "pending"),
        "{pending:?}"
    );
    // SIGKILL with the messages committed and undelivered; one more commits just before.
    signup(&server, "u4").await;
    server.kill();
    let relay = Relay::start(&python, port, &pki, &dir.path().join("mail"));
    server.restart();
    // A claim the killed process held mid-attempt runs out after one lease (60 s).
    relay.wait_for(4, Duration::from_secs(90)).await;
    // Exactly once each in this normal run: four distinct Message-IDs to four addresses.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let messages = relay.messages();
    assert_eq!(messages.len(), 4);
    let mut ids: Vec<&str> = messages
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let mut to: Vec<&str> = messages
        .iter()
        .map(|m| header(m, "X-Envelope-To").unwrap())
        .collect();
    to.sort_unstable();
    assert_eq!(
        to,
        [
            "u1@example.com",
            "u2@example.com",
            "u3@example.com",
            "u4@example.com"
        ]
    );
    drop(server);
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_marked_failed_with_its_last_error() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path());
    let port = free_port();
    let relay = Relay::start(&python, port, &pki, &dir.path().join("mail"));
    let location = location(dir.path()).await;
    let server = Server::start_with(
        location.clone(),
        mail_env(port, &pki, dir.path(), "not-the-password", 4),
    );
    signup(&server, "fay").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let all = outbox(&location);
        if all[0]["state"] == "failed" {
            break all[0].clone();
        }
        assert!(Instant::now() < deadline, "{all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["attempts"], 4);
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("535") || error.to_lowercase().contains("auth"),
        "{error}"
    );
    assert!(!error.contains("not-the-password"));
    assert!(relay.messages().is_empty());
}

#[tokio::test]
async fn two_servers_on_one_postgres_database_send_each_message_once() {
    if !postgres_under_test() {
        eprintln!("skipped: several servers share a PostgreSQL database only");
        return;
    }
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path());
    let port = free_port();
    let relay = Relay::start(&python, port, &pki, &dir.path().join("mail"));
    let location = Location::Url(fresh_postgres_url().await);
    let env = mail_env(port, &pki, dir.path(), PASSWORD, 30);
    let first = Server::start_with(location.clone(), env.clone());
    let second = Server::start_with(location.clone(), env);
    for i in 0..20 {
        let server = if i % 2 == 0 { &first } else { &second };
        signup(server, &format!("p{i}")).await;
    }
    relay.wait_for(20, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = relay.messages();
    assert_eq!(messages.len(), 20, "no message twice");
    let mut ids: Vec<&str> = messages
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

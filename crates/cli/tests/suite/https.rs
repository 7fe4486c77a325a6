//! The HTTPS listener as an operator runs it: real `portcullis serve` processes with
//! certificates from a test CA (rcgen), reached with curl and with a rustls client that trusts
//! only that CA. The served certificate is told apart by its serial number.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SerialNumber,
};

use crate::common::BIN;

/// A certificate authority the clients trust, issuing server certificates for 127.0.0.1.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, PEM.
struct Pair {
    cert: String,
    key: String,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis test CA");
        Self {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for 127.0.0.1 with serial `serial`, on a fresh key.
    fn issue(&self, serial: u64) -> Pair {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("portcullis test {serial}"));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The files a server is configured with, in a temporary directory with its data dir.
struct Files {
    dir: tempfile::TempDir,
    ca: PathBuf,
}

impl Files {
    fn new(ca: &TestCa) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        Self { dir, ca: ca_path }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Installs `pair` as a renewal tool does: each file written aside, then renamed over the
    /// old one (certificate first).
    fn install(&self, pair: &Pair) {
        for (text, path) in [(&pair.cert, self.cert()), (&pair.key, self.key())] {
            let staging = path.with_extension("new");
            std::fs::write(&staging, text).unwrap();
            std::fs::rename(&staging, &path).unwrap();
        }
    }

    fn tls_args(&self) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.cert().display().to_string(),
            "--tls-key-file".into(),
            self.key().display().to_string(),
        ]
    }
}

/// A `portcullis serve` over TLS, logging JSON lines to a file; killed when dropped.
struct HttpsServer {
    child: Child,
    base: String,
    redirect: Option<String>,
    log: PathBuf,
}

impl HttpsServer {
    fn start(files: &Files, extra: &[&str]) -> Self {
        let log = files.dir.path().join("server.log");
        let mut child = Command::new(BIN)
            .arg("serve")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(files.dir.path().join("data"))
            .args(files.tls_args())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("portcullis listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line `{line}`; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        let redirect = extra.contains(&"--http-redirect-listen").then(|| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("portcullis redirecting ")
                .and_then(|rest| rest.strip_suffix(" to HTTPS"))
                .unwrap_or_else(|| panic!("unexpected second line `{line}`"))
                .to_owned()
        });
        Self {
            child,
            base,
            redirect,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Waits until a log line holds every one of `needles`.
    fn wait_for_log(&self, needles: &[&str]) {
        let started = Instant::now();
        while !self
            .log()
            .lines()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
        {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no log line with {needles:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl with the test CA as its only trust anchor: (exit code, stdout, stderr).
fn curl(files: &Files, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(&files.ca)
        .args(args)
        .output()
        .expect("curl is installed (scripts/setup.sh)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A rustls HTTP/1.1 client trusting only the test CA; it keeps its connection alive between
/// requests (reqwest's pool).
fn client(files: &Files) -> reqwest::Client {
    let ca = std::fs::read(&files.ca).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET /healthz; the serial number of the certificate the connection was set up with.
async fn served_serial(client: &reqwest::Client, base: &str) -> u64 {
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS connection")
        .to_vec();
    let cert = openssl::x509::X509::from_der(&der).unwrap();
    let serial = cert.serial_number().to_bn().unwrap().to_dec_str().unwrap();
    serial.parse().unwrap()
}

/// Waits until a new connection is served the certificate with `serial`.
async fn wait_for_serial(files: &Files, base: &str, serial: u64) {
    let started = Instant::now();
    loop {
        if served_serial(&client(files), base).await == serial {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serial {serial} never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn curl_reaches_the_api_and_the_console_over_https_with_h2_and_http_1_1() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(1));
    let server = HttpsServer::start(&files, &[]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let healthz = format!("{}/healthz", server.base);

    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let (code, out, err) = curl(&files, &[flag, "--write-out", " %{http_version}", &healthz]);
        assert_eq!(code, 0, "{flag}: {err}");
        assert_eq!(out, format!("{{\"status\":\"ok\"}} {version}"), "{flag}");
    }
    // ALPN as negotiated, from curl's own trace.
    let (code, _, trace) = curl(
        &files,
        &["--http2", "--verbose", "-o", "/dev/null", &healthz],
    );
    assert_eq!(code, 0, "{trace}");
    assert!(trace.contains("ALPN: server accepted h2"), "{trace}");
    let (code, _, trace) = curl(
        &files,
        &["--http1.1", "--verbose", "-o", "/dev/null", &healthz],
    );
    assert_eq!(code, 0, "{trace}");
    assert!(trace.contains("ALPN: server accepted http/1.1"), "{trace}");
    // TLS 1.3 by default; 1.2 still offered to clients that stop there.
    for (max, version) in [("1.3", "TLSv1.3"), ("1.2", "TLSv1.2")] {
        let (code, _, trace) = curl(
            &files,
            &["--tls-max", max, "--verbose", "-o", "/dev/null", &healthz],
        );
        assert_eq!(code, 0, "{trace}");
        assert!(
            trace.contains(&format!("SSL connection using {version} /")),
            "{trace}"
        );
    }

    // The console's sign-in page, whose cookies are `__Host-` and Secure.
    let (code, page, err) = curl(
        &files,
        &[
            "--http2",
            "--write-out",
            "\n%{http_code}",
            &format!("{}/sign-in", server.base),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(page.ends_with("\n200"), "{page}");
    assert!(page.contains("<form"), "{page}");

    // Plain HTTP on the TLS port gets no answer, and the certificate is checked.
    let plain = healthz.replacen("https://", "http://", 1);
    let (code, _, _) = curl(&files, &[&plain]);
    assert_ne!(code, 0, "plain HTTP must not be served on the TLS port");
    let out = Command::new("curl")
        .args(["--silent", "--max-time", "10", &healthz])
        .status()
        .unwrap();
    assert!(
        !out.success(),
        "a client without the test CA must refuse the server"
    );
}

/// gRPC on the HTTPS port: tonic's client offers only `h2` by ALPN; the listener negotiates it
/// and routes the call to the gRPC services beside the HTTP API.
#[tokio::test]
async fn grpc_is_served_over_h2_on_the_https_port() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(1));
    let server = HttpsServer::start(&files, &[]);
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("127.0.0.1");
    let channel = Channel::from_shared(server.base.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("an h2 connection over TLS");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let answer = health
        .check(HealthCheckRequest {
            service: "portcullis.v1.CheckService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);
    // A client that does not trust the CA gets no connection.
    let untrusted = Channel::from_shared(server.base.clone())
        .unwrap()
        .tls_config(ClientTlsConfig::new().domain_name("127.0.0.1"))
        .unwrap()
        .connect()
        .await;
    let refused = match untrusted {
        Err(_) => true,
        Ok(channel) => tonic_health::pb::health_client::HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a client without the test CA must not be served");
}

#[tokio::test]
async fn sighup_serves_a_renewed_certificate_and_keeps_open_connections() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(1));
    let mut server = HttpsServer::start(&files, &[]);
    let kept = client(&files);
    assert_eq!(served_serial(&kept, &server.base).await, 1);
    server.wait_for_log(&["serving HTTPS with this certificate", "\"serial\":\"01\""]);

    files.install(&ca.issue(2));
    server.signal("HUP");
    server.wait_for_log(&["TLS certificate reloaded", "\"reason\":\"SIGHUP\""]);
    server.wait_for_log(&[
        "new connections are served this certificate",
        "\"serial\":\"02\"",
    ]);
    assert!(server.is_running(), "SIGHUP must not end the server");
    wait_for_serial(&files, &server.base, 2).await;
    // The connection opened before the reload is still open and still answers: the same
    // pooled connection, so it still shows the certificate it was set up with.
    assert_eq!(served_serial(&kept, &server.base).await, 1);

    // A renewal that does not load is reported and changes nothing.
    let other = ca.issue(3);
    let broken = Pair {
        cert: other.cert,
        key: ca.issue(4).key,
    };
    files.install(&broken);
    server.signal("HUP");
    server.wait_for_log(&["TLS certificate not reloaded", "does not belong"]);
    assert!(server.is_running());
    assert_eq!(served_serial(&client(&files), &server.base).await, 2);
    assert!(
        !server.log().contains(broken.key.lines().nth(1).unwrap()),
        "the key never reaches the log"
    );
}

#[tokio::test]
async fn changed_files_are_picked_up_without_a_signal() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(10));
    let server = HttpsServer::start(&files, &[]);
    let kept = client(&files);
    assert_eq!(served_serial(&kept, &server.base).await, 10);

    // Garbage first (a renewal caught half-way): the old certificate stays.
    std::fs::write(files.cert(), "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    server.wait_for_log(&[
        "TLS certificate not reloaded",
        "\"reason\":\"the files changed\"",
    ]);
    assert_eq!(served_serial(&client(&files), &server.base).await, 10);

    files.install(&ca.issue(11));
    wait_for_serial(&files, &server.base, 11).await;
    server.wait_for_log(&[
        "TLS certificate reloaded",
        "\"reason\":\"the files changed\"",
    ]);
    assert_eq!(served_serial(&kept, &server.base).await, 10, "kept alive");

    // Touching the files (same contents, new time) reloads too, e.g. after fixing permissions.
    let reloads = |log: String| log.matches("TLS certificate reloaded").count();
    let before = reloads(server.log());
    let touched = Command::new("touch")
        .args(["-d", "now + 1 minute"])
        .arg(files.cert())
        .status()
        .unwrap();
    assert!(touched.success());
    let started = Instant::now();
    while reloads(server.log()) == before {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "touch not noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_serial(&client(&files), &server.base).await, 11);
}

/// `serve` with these TLS files: it must refuse to start, exit 2 and say why on stderr.
fn refused(files: &Files, args: &[&str], why: &str) -> String {
    let out = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(files.dir.path().join("data"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} listened");
    assert!(
        stderr.contains(why),
        "{args:?}: expected `{why}` in {stderr}"
    );
    stderr
}

#[test]
fn an_invalid_pair_refuses_to_start_with_a_clear_message() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    let good = ca.issue(20);
    let other = ca.issue(21);
    let path = |name: &str, text: &str| {
        let path = files.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cert = path("good.crt", &good.cert);
    let key = path("good.key", &good.key);
    let other_key = path("other.key", &other.key);
    let garbage = path("garbage.pem", "this is not a certificate\n");
    let tls = |cert: &str, key: &str| {
        vec![
            "--tls-cert-file".to_owned(),
            cert.to_owned(),
            "--tls-key-file".to_owned(),
            key.to_owned(),
        ]
    };
    let run = |args: Vec<String>, why: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&files, &args, why)
    };

    let stderr = run(tls(&cert, &other_key), "does not belong to the certificate");
    assert!(stderr.contains("other.key"), "names the files: {stderr}");
    assert!(!stderr.contains(other.key.lines().nth(1).unwrap()));
    run(tls(&garbage, &key), "no CERTIFICATE block");
    run(tls(&cert, &garbage), "no PEM private key");
    run(tls(&cert, &cert), "no PEM private key");
    run(tls(&key, &key), "no CERTIFICATE block");
    run(
        tls(&cert, "/nonexistent/server.key"),
        "cannot read the TLS key file",
    );
    run(
        vec!["--tls-cert-file".into(), cert.clone()],
        "must be set together",
    );
    run(
        vec!["--http-redirect-listen".into(), "127.0.0.1:0".into()],
        "needs `tls_cert_file`",
    );
    let mut no_public_url = tls(&cert, &key);
    no_public_url.extend(["--http-redirect-listen".into(), "127.0.0.1:0".into()]);
    run(no_public_url.clone(), "needs `public_url`");
    no_public_url.extend(["--public-url".into(), "http://127.0.0.1:8443".into()]);
    run(no_public_url, "needs `public_url`");

    // The good pair is accepted; `config` names the files and prints nothing of the key.
    let out = Command::new(BIN)
        .arg("config")
        .args(tls(&cert, &key))
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json.contains("good.key"), "{json}");
    assert!(
        json.contains("\"tls_certificate_serial\": \"14\""),
        "serial 20 in hexadecimal: {json}"
    );
    assert!(!json.contains("PRIVATE KEY"), "{json}");
    assert!(!json.contains(good.key.lines().nth(1).unwrap()), "{json}");
}

#[test]
fn the_redirect_listener_answers_every_request_with_308_to_public_url() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(30));
    let server = HttpsServer::start(
        &files,
        &[
            "--http-redirect-listen",
            "127.0.0.1:0",
            "--public-url",
            "https://auth.portcullis.test:8443",
        ],
    );
    let redirect = server.redirect.clone().unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let location = |method: &str, path: &str, host: Option<&str>| {
        let mut args = vec![
            "--request".to_owned(),
            method.to_owned(),
            "--write-out".to_owned(),
            "%{http_code} %{redirect_url}".to_owned(),
            "-o".to_owned(),
            "/dev/null".to_owned(),
        ];
        if let Some(host) = host {
            args.extend(["--header".to_owned(), format!("Host: {host}")]);
        }
        args.push(format!("{redirect}{path}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = curl(&files, &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(
        location("GET", "/sign-in?next=%2Fa%2Facme", None),
        "308 https://auth.portcullis.test:8443/sign-in?next=%2Fa%2Facme"
    );
    // The host comes from public_url, never from the request.
    assert_eq!(
        location("POST", "/v1/login", Some("evil.example")),
        "308 https://auth.portcullis.test:8443/v1/login"
    );
    // Nothing is served in plain text, not even the probes.
    assert_eq!(
        location("GET", "/healthz", None),
        "308 https://auth.portcullis.test:8443/healthz"
    );
    assert_eq!(
        location("GET", "/", None),
        "308 https://auth.portcullis.test:8443/"
    );
    // The HTTPS listener itself serves as usual.
    let (code, out, err) = curl(&files, &[&format!("{}/healthz", server.base)]);
    assert_eq!((code, out.as_str()), (0, "{\"status\":\"ok\"}"), "{err}");
}

/// The server stops gracefully on SIGTERM over TLS too (exit 0), redirect listener and all.
#[test]
fn sigterm_stops_the_https_server_and_its_redirect_listener() {
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(40));
    let mut server = HttpsServer::start(
        &files,
        &[
            "--http-redirect-listen",
            "127.0.0.1:0",
            "--public-url",
            "https://127.0.0.1:1",
        ],
    );
    // Serving (so the signal handlers are installed, as in any deployment that got this far).
    let (code, out, err) = curl(&files, &[&format!("{}/healthz", server.base)]);
    assert_eq!((code, out.as_str()), (0, "{\"status\":\"ok\"}"), "{err}");
    server.signal("TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", server.log());
}

/// The deployment docs/deployment.md describes, end to end: Portcullis serving HTTPS over a
/// PostgreSQL that requires `verify-full` (a private CA, the password in a file, the key ring of
/// sealed secrets in a file), reached by a client that trusts only the server's CA.
#[tokio::test]
async fn https_in_front_of_a_postgres_reached_with_verify_full() {
    use portcullis_store::testing::cluster::{CERTIFICATE_HOST, tls_cluster};
    use std::os::unix::fs::PermissionsExt as _;

    let cluster = tls_cluster().await;
    let database = cluster.create_database().await;
    let url = cluster.url(
        CERTIFICATE_HOST,
        &database,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            cluster.ca_file().display()
        ),
    );
    let ca = TestCa::new();
    let files = Files::new(&ca);
    files.install(&ca.issue(41));
    let pgpass = files.dir.path().join("db-password");
    std::fs::write(&pgpass, format!("{}\n", cluster.password())).unwrap();
    let ring = Command::new(BIN)
        .args(["secrets", "new-key"])
        .output()
        .unwrap();
    assert!(ring.status.success());
    let keys = files.dir.path().join("secret-keys");
    std::fs::write(&keys, &ring.stdout).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();

    let server = HttpsServer::start(
        &files,
        &[
            "--database-url",
            &url,
            "--database-password-file",
            pgpass.to_str().unwrap(),
            "--secret-keys-file",
            keys.to_str().unwrap(),
        ],
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    // Ready means the store answered: over the verified TLS connection.
    let (code, out, err) = curl(&files, &["--http2", &format!("{}/readyz", server.base)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"status\":\"ready\""), "{out}");
    // A write and its read-back go through PostgreSQL.
    let body = r#"{"id":"ops","email":"ops@example.com","password":"password-ops"}"#;
    let (code, out, err) = curl(
        &files,
        &[
            "--write-out",
            " %{http_code}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            &format!("{}/v1/signup", server.base),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with(" 201"), "{out}");
    let log = server.log();
    assert!(
        !log.contains(cluster.password()),
        "the database password was logged"
    );
}

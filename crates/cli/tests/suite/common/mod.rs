//! Real `portcullis` processes for multi-server and operations tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_store::Backend;
use portcullis_store::testing::{backend_under_test, fresh_database_url};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

pub fn postgres_under_test() -> bool {
    let on = backend_under_test() == Backend::Postgres;
    if !on {
        eprintln!("skipped: multi-server tests run with PORTCULLIS_TEST_BACKEND=postgres");
    }
    on
}

pub async fn fresh_postgres_url() -> String {
    fresh_database_url(Backend::Postgres).await.unwrap().0
}

/// The key ring of every server and command the suites run (on PostgreSQL there is no
/// default key file): `test` and the base64 of 32 bytes.
pub const TEST_KEY_RING: &str = "test MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Where a server keeps its data: a PostgreSQL URL or an SQLite data directory.
#[derive(Debug, Clone)]
pub enum Location {
    Url(String),
    Dir(std::path::PathBuf),
}

impl Location {
    pub fn args(&self) -> Vec<String> {
        match self {
            Location::Url(url) => vec!["--database-url".into(), url.clone()],
            Location::Dir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
        }
    }
}

/// Creates the platform operator `id` with `portcullis init`; returns its session token.
pub fn init_operator(url: &str, id: &str) -> String {
    let out = Command::new(BIN)
        .args(["init", "--database-url", url, "--id", id, "--print-token"])
        .args(["--email", &format!("{id}@example.com")])
        .env("PORTCULLIS_SECRET_KEYS", TEST_KEY_RING)
        .env("PORTCULLIS_ADMIN_PASSWORD", "operator-password-123")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs a `portcullis` subcommand to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("PORTCULLIS_SECRET_KEYS", TEST_KEY_RING)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One `portcullis serve` process (or a handle to talk to it without owning it).
#[derive(Debug)]
pub struct Server {
    pub base: String,
    client: reqwest::Client,
    last: Arc<AtomicU64>,
    child: Option<Child>,
    location: Location,
    /// Extra environment of the `serve` process (kept across restarts).
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start(url: &str) -> Self {
        Self::start_at(Location::Url(url.to_owned()))
    }

    pub fn start_at(location: Location) -> Self {
        Self::start_with(location, Vec::new())
    }

    /// Like [`Self::start_at`] with extra `PORTCULLIS_*` settings in the environment.
    pub fn start_with(location: Location, env: Vec<(String, String)>) -> Self {
        let (child, base) = spawn(&location, &env);
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            last: Arc::new(AtomicU64::new(0)),
            child: Some(child),
            location,
            env,
        }
    }

    /// Another handle on the same server (for a task); it does not own the process.
    pub fn handle(&self) -> Self {
        Self {
            base: self.base.clone(),
            client: self.client.clone(),
            last: self.last.clone(),
            child: None,
            location: self.location.clone(),
            env: self.env.clone(),
        }
    }

    /// The process id of the server this handle owns.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("an owned server").id()
    }

    /// SIGKILL: no shutdown, no flush, in-flight requests cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit (graceful shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same store (a new port); returns once it listens.
    pub fn restart(&mut self) {
        self.kill();
        let (child, base) = spawn(&self.location, &self.env);
        self.child = Some(child);
        self.base = base;
    }

    pub fn revision_of_last_write(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// A request; `None` when the server does not answer (killed).
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Option<(u16, HeaderMap, Value)> {
        self.request(method, path, token, body, None).await
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        self.request(method, path, token, body, None)
            .await
            .expect("the server answers")
    }

    /// A request carrying a revision token (`portcullis-revision`).
    pub async fn call_at(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        revision: Option<u64>,
    ) -> (u16, HeaderMap, Value) {
        self.request(method, path, token, body, revision)
            .await
            .expect("the server answers")
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        revision: Option<u64>,
    ) -> Option<(u16, HeaderMap, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(revision) = revision {
            request = request.header("portcullis-revision", revision.to_string());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(r) = headers
            .get("portcullis-revision")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            self.last.fetch_max(r, Ordering::SeqCst);
        }
        let text = response.text().await.ok()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some((status, headers, body))
    }

    /// Signs up `id` and logs in; returns the session token.
    pub async fn user(&self, id: &str) -> String {
        let (status, _, body) = self
            .call(
                "POST",
                "/v1/signup",
                None,
                Some(json!({"id": id, "email": format!("{id}@example.com"),
                    "password": format!("password-{id}"), "first_name": "Test", "last_name": id})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let token = self
            .mailed_token(&format!("{id}@example.com"), "pcv")
            .await
            .expect("a verification link was mailed");
        let (status, _, body) = self
            .call(
                "POST",
                "/v1/email/confirm",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, _, body) = self
            .call(
                "POST",
                "/v1/login",
                None,
                Some(json!({"email": format!("{id}@example.com"), "password": format!("password-{id}")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["session_token"].as_str().unwrap().to_owned()
    }

    pub async fn org(&self, token: &str, id: &str) {
        let (status, _, body) = self
            .call(
                "POST",
                "/v1/orgs",
                Some(token),
                Some(json!({"id": id, "name": format!("Org {id}"), "billing_email": "billing@example.com"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// The token of the newest link carrying `token=<prefix>_…` in a message queued for
    /// `recipient`, read from the outbox in the database (no mail is delivered here).
    pub async fn mailed_token(&self, recipient: &str, prefix: &str) -> Option<String> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = match &self.location {
            Location::Url(url) => url.clone(),
            Location::Dir(dir) => format!(
                "sqlite://{}?mode=ro",
                dir.join(portcullis_store::SQLITE_FILE).display()
            ),
        };
        let mut conn = sqlx::AnyConnection::connect(&url).await.ok()?;
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM outbox WHERE recipient = $1 ORDER BY id DESC")
                .bind(recipient)
                .fetch_all(&mut conn)
                .await
                .ok()?;
        let marker = format!("token={prefix}_");
        bodies.iter().find_map(|body| {
            let start = body.find(&marker)? + "token=".len();
            Some(
                body[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            )
        })
    }

    /// Invites `id` into `org` as `role` and has it accept; returns the accept's revision.
    pub async fn join(&self, admin: &str, org: &str, member: &str, id: &str, role: &str) -> u64 {
        let (status, _, invitation) = self
            .call(
                "POST",
                &format!("/v1/orgs/{org}/invitations"),
                Some(admin),
                Some(json!({"email": format!("{id}@example.com"), "role": role})),
            )
            .await;
        assert_eq!(status, 201, "{invitation}");
        let invitation = invitation["id"].as_str().unwrap();
        let (status, headers, body) = self
            .call(
                "POST",
                &format!("/v1/invitations/{invitation}/accept"),
                Some(member),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        headers["portcullis-revision"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub async fn ready(&self) -> Value {
        let (status, _, body) = self.call("GET", "/readyz", None, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until `/readyz` reports at least `revision`.
    pub async fn ready_at(&self, revision: u64) {
        let started = Instant::now();
        loop {
            if let Some((200, _, body)) = self.try_call("GET", "/readyz", None, None).await
                && body["revision"].as_u64().unwrap_or(0) >= revision
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server not ready at {revision}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `portcullis serve` on a free port; returns once it printed its address.
fn spawn(location: &Location, env: &[(String, String)]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(location.args())
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .env("PORTCULLIS_SECRET_KEYS", TEST_KEY_RING)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("portcullis listening on ")
        .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
        .to_owned();
    (child, base)
}

//! The `portcullis` binary as an operator runs it: `init`, `serve`, `check`, `openapi`,
//! `config`. Each test runs the built executable; the store is a temp data dir, or a fresh
//! PostgreSQL database with `PORTCULLIS_TEST_BACKEND=postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portcullis_store::testing::{backend_under_test, fresh_database_url};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A command with no inherited `PORTCULLIS_*` variables, so the caller's shell cannot leak in.
fn portcullis(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("PORTCULLIS_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Store flags for a brand-new store of the backend under test (the temp dir keeps SQLite alive).
async fn fresh_store_flags(dir: &Path) -> Vec<String> {
    match backend_under_test() {
        portcullis_store::Backend::Sqlite => {
            vec!["--data-dir".into(), dir.join("data").display().to_string()]
        }
        portcullis_store::Backend::Postgres => {
            let (url, _) = fresh_database_url(portcullis_store::Backend::Postgres)
                .await
                .unwrap();
            vec!["--database-url".into(), url]
        }
    }
}

/// A running `portcullis serve`, killed if the test fails before stopping it.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(store: &[String]) -> Self {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend(store.iter().map(String::as_str));
        let mut child = portcullis(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(address) = line.trim().strip_prefix("portcullis listening on ") else {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("server did not start: {line:?}\n{err}");
        };
        Self {
            address: address.to_owned(),
            child,
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn check(store: &[String], args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["check"];
    all.extend(store.iter().map(String::as_str));
    all.extend(args);
    let output = run(&mut portcullis(&all));
    let answer = serde_json::from_str(stdout(&output).trim()).unwrap_or_else(|_| {
        panic!(
            "check printed no JSON: {}{}",
            stdout(&output),
            stderr(&output)
        )
    });
    (output.status.code(), answer)
}

#[tokio::test]
async fn init_serve_check_and_stop_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;

    // init: the token alone on stdout.
    let mut init = vec![
        "init",
        "--email",
        "op@example.com",
        "--id",
        "op",
        "--print-token",
    ];
    init.extend(store.iter().map(String::as_str));
    let output = run(portcullis(&init).env("PORTCULLIS_ADMIN_PASSWORD", "operator-password"));
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    assert!(
        token.starts_with("pcl_") && !token.contains(char::is_whitespace),
        "stdout: {token:?}"
    );
    assert!(
        !stderr(&output).contains(&token),
        "the token must not be logged"
    );

    // A second init is refused.
    let again = run(portcullis(&init).env("PORTCULLIS_ADMIN_PASSWORD", "operator-password"));
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // serve: health, the token works, bob signs up, op creates an org.
    let server = Server::start(&store);
    let client = reqwest::Client::new();
    let base = server.address.clone();
    let health: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let signup = json!({"id": "bob", "email": "bob@example.com", "password": "password-bob", "first_name": "B", "last_name": "B"});
    assert_eq!(
        post(&client, format!("{base}/v1/signup"), None, signup)
            .await
            .0,
        201
    );
    let org = json!({"id": "acme", "name": "Acme", "billing_email": "billing@example.com"});
    let (status, body) = post(&client, format!("{base}/v1/orgs"), Some(&token), org).await;
    assert_eq!(status, 201, "{body}");
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // check, against the stored data: allowed → 0, denied → 1.
    let (code, answer) = check(
        &store,
        &[
            "--user",
            "op",
            "--permission",
            "members.manage",
            "--org",
            "acme",
        ],
    );
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["allowed"], true);
    assert_eq!(answer["via"], json!(["role:admin"]));
    assert_eq!(answer["reason"], Value::Null);
    assert!(answer["revision"].as_u64().unwrap() >= 3, "{answer}");

    let (code, answer) = check(
        &store,
        &[
            "--user",
            "bob",
            "--permission",
            "members.manage",
            "--org",
            "ACME",
        ],
    );
    assert_eq!(code, Some(1), "{answer}");
    assert_eq!(answer["allowed"], false);
    assert_eq!(answer["reason"], "not_member");
    assert_eq!(answer["via"], json!([]));

    let (code, answer) = check(
        &store,
        &[
            "--user",
            "op",
            "--permission",
            "app.delete",
            "--account",
            "acme",
            "--app",
            "nope",
        ],
    );
    assert_eq!((code, &answer["reason"]), (Some(1), &json!("not_found")));

    // Bad questions are errors (2), not denials.
    let mut unknown = vec!["check"];
    unknown.extend(store.iter().map(String::as_str));
    unknown.extend([
        "--user",
        "op",
        "--permission",
        "members.nuke",
        "--org",
        "acme",
    ]);
    let output = run(&mut portcullis(&unknown));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown permission `members.nuke`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn init_reads_the_password_from_stdin_and_refuses_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let args = [
        "init",
        "--data-dir",
        &data,
        "--email",
        "op@example.com",
        "--id",
        "op",
    ];

    let output = run(&mut portcullis(&args));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("PORTCULLIS_ADMIN_PASSWORD"),
        "{}",
        stderr(&output)
    );

    let mut child = portcullis(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin-password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("created the platform operator `op`"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_refuses_a_missing_data_dir_instead_of_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let output = run(&mut portcullis(&[
        "check",
        "--data-dir",
        missing.to_str().unwrap(),
        "--user",
        "op",
        "--permission",
        "members.manage",
        "--org",
        "acme",
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no data directory"),
        "{}",
        stderr(&output)
    );
    assert!(!missing.exists());
}

#[test]
fn openapi_prints_the_document() {
    let output = run(&mut portcullis(&["openapi"]));
    assert!(output.status.success());
    let document: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        document["paths"]["/v1/roles"]["get"].is_object(),
        "no GET /v1/roles"
    );
    assert!(document["paths"]["/healthz"].is_object());
}

#[test]
fn unknown_config_keys_are_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nsignup_enabeld = false\n").unwrap();
    let output = run(&mut portcullis(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
    ]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("unknown field `signup_enabeld`"), "{err}");
    assert!(err.contains("portcullis.toml"), "names the file: {err}");
}

#[test]
fn flags_beat_env_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1111\"\nsession_ttl_hours = 5\nmax_orgs_per_user = 3\nlog_format = \"json\"\n\
         database_url = \"postgres://pc:hunter2@db/pcl\"\n",
    )
    .unwrap();
    let output = run(portcullis(&[
        "config",
        "--config",
        file.to_str().unwrap(),
        "--session-ttl-hours",
        "9",
    ])
    .env("PORTCULLIS_LISTEN", "127.0.0.1:2222")
    .env("PORTCULLIS_SESSION_TTL_HOURS", "7")
    .env("PORTCULLIS_SIGNUP_ENABLED", "false"));
    assert!(output.status.success(), "{}", stderr(&output));
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(config["listen"], "127.0.0.1:2222", "env beats file");
    assert_eq!(config["session_ttl_hours"], 9, "flag beats env and file");
    assert_eq!(config["signup_enabled"], false, "env beats default");
    assert_eq!(config["max_orgs_per_user"], 3, "file beats default");
    assert_eq!(config["log_format"], "json");
    assert_eq!(config["invitation_ttl_days"], 7, "default");
    assert_eq!(
        config["database_url"], "postgres://pc:***@db/pcl",
        "the password is never printed"
    );

    // The config file itself can come from the environment; bad env values are errors.
    let output = run(portcullis(&["config"])
        .env("PORTCULLIS_CONFIG", &file)
        .env("PORTCULLIS_MAX_ORGS_PER_USER", "0"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("`max_orgs_per_user` must be at least 1"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn outbox_prints_the_queued_reset_message_for_the_operator_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;
    let server = Server::start(&store);
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        format!("{}/v1/signup", server.address),
        None,
        json!({"id": "dana", "email": "dana@example.com", "password": "a-long-password-1",
               "first_name": "D", "last_name": "D"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &client,
        format!("{}/v1/password-reset", server.address),
        None,
        json!({"email": "dana@example.com"}),
    )
    .await;
    assert_eq!(status, 202);
    assert!(server.terminate().success());

    let mut args = vec!["outbox"];
    args.extend(store.iter().map(String::as_str));
    let output = run(&mut portcullis(&args));
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["to"], "dana@example.com");
    assert!(
        lines[0]["body"]
            .as_str()
            .unwrap()
            .contains("password-reset"),
        "{}",
        lines[0]
    );
}

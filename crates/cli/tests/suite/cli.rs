//! The `portcullis` binary as an operator runs it: `init`, `serve`, `check`, `openapi`,
//! `config`. Each test runs the built executable; the store is a temp data dir, or a fresh
//! PostgreSQL database with `PORTCULLIS_TEST_BACKEND=postgres`.

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
            // No default key file on PostgreSQL: every command gets one.
            let keys = dir.join("secret-keys");
            std::fs::write(&keys, format!("{}\n", crate::common::TEST_KEY_RING)).unwrap();
            std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            vec![
                "--database-url".into(),
                url,
                "--secret-keys-file".into(),
                keys.display().to_string(),
            ]
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

/// Creates the organization `acme` as the holder of `token`.
async fn create_acme(client: &reqwest::Client, server: &Server, token: &str) {
    let (status, body) = post(
        client,
        format!("{}/v1/orgs", server.address),
        Some(token),
        json!({"id": "acme", "name": "Acme", "billing_email": "b@example.com"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
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

/// The SAML SP key pair: from the file or the environment, checked before anything starts,
/// reported by fingerprint only.
#[test]
fn the_saml_sp_key_pair_is_checked_at_start_up_and_never_printed() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../saml/tests/fixtures");
    let key = fixtures.join("encrypted/sp.key");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        format!("saml_sp_key_file = {:?}\n", key.to_str().unwrap()),
    )
    .unwrap();
    let output = run(
        portcullis(&["config", "--config", file.to_str().unwrap()]).env(
            "PORTCULLIS_SAML_SP_CERT_FILE",
            fixtures.join("encrypted/sp.crt"),
        ),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(config["saml_sp_key_file"], key.to_str().unwrap());
    assert_eq!(
        config["saml_sp_certificate_sha256"].as_str().unwrap().len(),
        64
    );
    assert!(!stdout(&output).contains("PRIVATE"));

    // serve refuses to start with a certificate that is not the key's (exit 2, files named).
    let output = run(portcullis(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ])
    .env("PORTCULLIS_SAML_SP_CERT_FILE", fixtures.join("idp.crt")));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("does not belong to the private key"), "{err}");
    assert!(err.contains("sp.key") && err.contains("idp.crt"), "{err}");
    assert!(!err.contains("PRIVATE"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing started");
}

#[test]
fn flags_beat_env_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1111\"\nsession_ttl_hours = 5\nmax_orgs_per_user = 3\nlog_format = \"json\"\nconsistency_wait_ms = 500\n\
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
    assert_eq!(config["consistency_wait_ms"], 500, "file beats default");
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
    let output = run(&mut portcullis(&[
        "config",
        "--consistency-wait-ms",
        "60001",
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("`consistency_wait_ms` must be at most 60000"),
        "{}",
        stderr(&output)
    );
}

/// Every command that reads settings, with the arguments it needs besides them.
const SETTINGS_COMMANDS: &[&[&str]] = &[
    &["serve"],
    &["config"],
    &["init", "--email", "op@example.com", "--id", "op"],
    &[
        "check",
        "--user",
        "op",
        "--permission",
        "members.manage",
        "--org",
        "acme",
    ],
    &["audit", "verify"],
    &["audit", "prune", "--older-than-days", "1"],
    &["access-review", "--org", "acme"],
    &["backup", "--out", "backup.db"],
    &["doctor"],
    &["outbox"],
    &["users", "verify-email", "op"],
];

/// Runs every settings command with `extra` arguments and environment, on a data directory that
/// cannot exist (under a regular file), so a command that gets past its settings fails soon
/// after instead of serving; returns each command's exit code and stderr.
fn every_command(extra: &[&str], env: &[(&str, &str)]) -> Vec<(String, Option<i32>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let data_dir = blocker.join("data");
    SETTINGS_COMMANDS
        .iter()
        .map(|command| {
            let mut args: Vec<&str> = command.to_vec();
            args.extend(["--data-dir", data_dir.to_str().unwrap()]);
            args.extend(extra);
            let mut cmd = portcullis(&args);
            cmd.current_dir(dir.path()).envs(env.iter().copied());
            let output = run(&mut cmd);
            (command.join(" "), output.status.code(), stderr(&output))
        })
        .collect()
}

#[test]
fn a_misspelt_environment_variable_is_refused_by_every_command() {
    for (command, code, err) in every_command(&[], &[("PORTCULLIS_LISEN", "127.0.0.1:1")]) {
        assert_eq!(code, Some(2), "{command}: {err}");
        assert!(
            err.contains("unknown environment variable `PORTCULLIS_LISEN`"),
            "{command}: {err}"
        );
    }
    // Variables of the test harness and the operator password are not settings.
    for (command, _, err) in every_command(
        &[],
        &[
            ("PORTCULLIS_TEST_BACKEND", "sqlite"),
            ("PORTCULLIS_ADMIN_PASSWORD", "operator-password-123"),
        ],
    ) {
        assert!(!err.contains("unknown environment"), "{command}: {err}");
    }
}

#[test]
fn a_misspelt_config_file_key_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    for (command, code, err) in every_command(&["--config", file.to_str().unwrap()], &[]) {
        assert_eq!(code, Some(2), "{command}: {err}");
        assert!(err.contains("unknown field `lisen`"), "{command}: {err}");
        assert!(
            err.contains("portcullis.toml") && err.contains("line 1"),
            "{command}: {err}"
        );
    }
}

/// A layering case: its name, the flags, the environment, and whether the winner is invalid.
type LayerCase<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool);

/// The same invalid value is refused by every command, from every layer, and a higher layer
/// hides a lower one's: flag > environment > file > default for each command.
#[test]
fn every_command_layers_and_validates_the_settings_alike() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.toml");
    std::fs::write(&zero, "invitation_ttl_days = 0\n").unwrap();
    let three = dir.path().join("three.toml");
    std::fs::write(&three, "invitation_ttl_days = 3\n").unwrap();
    let (zero, three) = (zero.to_str().unwrap(), three.to_str().unwrap());
    let refused = "`invitation_ttl_days` must be at least 1";
    let cases: &[LayerCase] = &[
        ("default", &[], &[], false),
        ("file", &["--config", zero], &[], true),
        ("flag", &["--invitation-ttl-days", "0"], &[], true),
        ("env", &[], &[("PORTCULLIS_INVITATION_TTL_DAYS", "0")], true),
        (
            "env over file",
            &["--config", zero],
            &[("PORTCULLIS_INVITATION_TTL_DAYS", "3")],
            false,
        ),
        (
            "env over file (the env invalid)",
            &["--config", three],
            &[("PORTCULLIS_INVITATION_TTL_DAYS", "0")],
            true,
        ),
        (
            "flag over env",
            &["--invitation-ttl-days", "3"],
            &[("PORTCULLIS_INVITATION_TTL_DAYS", "0")],
            false,
        ),
        (
            "flag over env (the flag invalid)",
            &["--invitation-ttl-days", "0"],
            &[("PORTCULLIS_INVITATION_TTL_DAYS", "3")],
            true,
        ),
        (
            "flag over file",
            &["--config", zero, "--invitation-ttl-days", "3"],
            &[],
            false,
        ),
    ];
    for (layer, args, env, invalid) in cases {
        for (command, code, err) in every_command(args, env) {
            if *invalid {
                assert_eq!(code, Some(2), "{layer}: {command}: {err}");
                assert!(err.contains(refused), "{layer}: {command}: {err}");
            } else {
                assert!(
                    !err.contains("invitation_ttl_days"),
                    "{layer}: {command}: {err}"
                );
            }
        }
    }
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
    assert!(server.terminate().success());
    // Resets go to verified addresses only: the operator vouches for Dana's.
    let mut args = vec!["users", "verify-email"];
    args.extend(store.iter().map(String::as_str));
    args.push("dana");
    let output = run(&mut portcullis(&args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("verified the email address of `dana`"));
    let server = Server::start(&store);
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
    // The reset (newest first), then the verification mail sent at sign-up; both pending.
    assert_eq!(lines.len(), 2, "{lines:?}");
    // The API's field names and RFC 3339 times (`GET /v1/outbox` answers the same objects).
    assert_eq!(lines[0]["recipient"], "dana@example.com");
    assert_eq!(lines[0]["state"], "pending");
    let created_at = lines[0]["created_at"].as_str().unwrap();
    assert!(
        created_at.len() >= 20 && created_at.as_bytes()[10] == b'T' && created_at.ends_with('Z'),
        "{created_at}"
    );
    assert_eq!(lines[0]["sent_at"], Value::Null);
    assert!(lines[1]["body"].as_str().unwrap().contains("verify-email"));
    assert!(
        lines[0]["body"]
            .as_str()
            .unwrap()
            .contains("password-reset"),
        "{}",
        lines[0]
    );

    // One limit rule, the API's: 1 to 500.
    let mut args = vec!["outbox", "--limit", "1"];
    args.extend(store.iter().map(String::as_str));
    let output = run(&mut portcullis(&args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 1);
    for limit in ["0", "501"] {
        let mut args = vec!["outbox", "--limit", limit];
        args.extend(store.iter().map(String::as_str));
        let output = run(&mut portcullis(&args));
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(&format!("`limit` must be from 1 to 500, not `{limit}`")),
            "{}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), "");
    }
}

#[tokio::test]
async fn access_review_prints_the_csv_the_api_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;
    let token = init_operator(&store);
    let server = Server::start(&store);
    let client = reqwest::Client::new();
    create_acme(&client, &server, &token).await;
    let response = client
        .get(format!("{}/v1/orgs/acme/access-matrix", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let api = response.text().await.unwrap();
    assert!(server.terminate().success());

    let mut args = vec!["access-review", "--org", "acme"];
    args.extend(store.iter().map(String::as_str));
    let output = run(&mut portcullis(&args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), api);
    assert!(
        api.starts_with("user,role,app,permission,allowed,via\r\nop,admin,,"),
        "{api}"
    );
}

/// Starts `serve` with JSON logs (request spans at debug) written to `log`, over `store`.
fn start_logging_to(store: &[String], log: &Path) -> Server {
    start_logging_with(store, log, &[])
}

fn start_logging_with(store: &[String], log: &Path, env: &[(&str, &str)]) -> Server {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--log-format", "json"];
    args.extend(store.iter().map(String::as_str));
    let mut child = portcullis(&args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info,tower_http=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("portcullis listening on ")
        .unwrap_or_else(|| panic!("server did not start: {line:?}"))
        .to_owned();
    Server { child, address }
}

/// The `portcullis init --print-token` operator token over `store`.
fn init_operator(store: &[String]) -> String {
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
    stdout(&output).trim().to_owned()
}

fn json_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
        })
        .collect()
}

/// The value of `name{labels}` in a Prometheus text exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_and_json_logs_carry_routes_statuses_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;
    let token = init_operator(&store);
    let log = dir.path().join("serve.log");
    let server = start_logging_to(&store, &log);
    let client = reqwest::Client::new();
    let base = server.address.clone();

    let check = json!({"subject": {"user": "op"}, "permission": "sidebar.view", "resource": {"org": "nope"}});
    for _ in 0..3 {
        let response = client
            .post(format!("{base}/v1/check"))
            .bearer_auth(&token)
            .header("x-request-id", "req-check-1")
            .json(&check)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-request-id"], "req-check-1");
    }
    // Without an id from the client, the server makes one and returns it.
    let response = client
        .post(format!("{base}/v1/login"))
        .json(&json!({"email": "op@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    // Ten more wrong passwords reach the default limit (10 failures): one lockout; and an
    // unknown email counts as a failure too.
    for email in std::iter::repeat_n("op@example.com", 10).chain(["nobody@example.com"]) {
        let response = client
            .post(format!("{base}/v1/login"))
            .json(&json!({"email": email, "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = client
        .get(format!("{base}/v1/teapot"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let ready: Value = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["revision"], ready["store_revision"]);

    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |s: &str| metric(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        series(r#"portcullis_http_requests_total{method="POST",route="/v1/check",status="200"}"#),
        3.0
    );
    assert_eq!(
        series(r#"portcullis_http_requests_total{method="POST",route="/v1/login",status="401"}"#),
        12.0
    );
    // Unknown paths are one label, never the raw path.
    assert_eq!(
        series(r#"portcullis_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert!(!text.contains("teapot"));
    assert_eq!(
        series(r#"portcullis_check_duration_seconds_count{route="/v1/check"}"#),
        3.0
    );
    assert_eq!(
        series(r#"portcullis_check_duration_seconds_bucket{route="/v1/check",le="+Inf"}"#),
        3.0
    );
    assert_eq!(series("portcullis_index_revision_lag"), 0.0);
    assert!(series("portcullis_index_revision") >= 1.0);
    assert_eq!(series("portcullis_login_failures_total"), 12.0);
    assert_eq!(series("portcullis_lockouts_total"), 1.0);
    for counter in [
        "portcullis_sso_failures_total",
        "portcullis_audit_write_failures_total",
    ] {
        assert_eq!(series(counter), 0.0, "{counter}");
    }
    assert!(server.terminate().success());

    // Every log line is JSON; request lines carry the request id in their span, and no
    // line carries the token or the password.
    let lines = json_lines(&log);
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains(&token) && !raw.contains("wrong-password"));
    let finished_with = |id: &str| {
        lines.iter().any(|l| {
            l["span"]["request_id"] == id
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("finished processing request"))
        })
    };
    assert!(finished_with("req-check-1"), "{raw}");
    assert!(finished_with(&generated), "{raw}");
}

/// Sends a request head (`Expect: 100-continue`) and waits for `100 Continue`: from then on
/// the request is in the handler, reading its body.
fn begin_request(address: &str, token: &str, body_len: usize) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /v1/check HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_len}\r\n\
         x-request-id: in-flight-1\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0_refusing_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;
    let token = init_operator(&store);
    let log = dir.path().join("serve.log");
    let mut server = start_logging_to(&store, &log);
    let address = server.address.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::new();
    let org = json!({"id": "acme", "name": "Acme", "billing_email": "billing@example.com"});
    let (status, _) = post(
        &client,
        format!("{}/v1/orgs", server.address),
        Some(&token),
        org,
    )
    .await;
    assert_eq!(status, 201);

    // A check is in flight (its body half sent) when SIGTERM arrives.
    let body = json!({"subject": {"user": "op"}, "permission": "members.manage", "resource": {"org": "acme"}})
        .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = begin_request(&address, &token, body.len());
    stream.write_all(first.as_bytes()).unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );

    // The listener closes: new connections are refused while the old request is pending.
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );

    // The rest of the body: the full, correct answer.
    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, answer) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(head.contains("in-flight-1"), "{head}");
    let answer: Value = serde_json::from_str(answer).unwrap();
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["via"], json!(["role:admin"]));
    assert!(answer["revision"].as_u64().unwrap() >= 2, "{answer}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not exit after the last request"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let lines = json_lines(&log);
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    let requested = messages
        .iter()
        .position(|m| m.contains("shutdown requested"))
        .unwrap();
    let stopped = messages
        .iter()
        .position(|m| *m == "portcullis stopped")
        .unwrap();
    assert!(requested < stopped);
}

/// `doctor` reports accounts an older version let register with a look-alike of another's
/// address (exit 1, both named), and nothing on a clean store (exit 0).
#[tokio::test]
async fn doctor_names_accounts_that_collide_under_the_canonical_email_form() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let output = run(portcullis(&[
        "init",
        "--data-dir",
        &data,
        "--email",
        "kate@example.com",
        "--id",
        "kate",
    ])
    .env("PORTCULLIS_ADMIN_PASSWORD", "a long operator password"));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&mut portcullis(&["doctor", "--data-dir", &data]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["email_keys"]["collisions"], serde_json::json!([]));

    // What an older version let register: a fullwidth look-alike keyed by its lower case only.
    sqlx::any::install_default_drivers();
    let url = format!(
        "sqlite://{}/{}",
        data,
        portcullis_service::store::SQLITE_FILE
    );
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for statement in [
        "INSERT INTO accounts (handle, handle_key, kind, created_at, modified_at) \
         VALUES ('other', 'other', 'user', 0, 0)",
        "INSERT INTO users (account_id, email, email_key, first_name, last_name, state, is_operator) \
         SELECT id, '\u{ff4b}ate@example.com', '\u{ff4b}ate@example.com', 'O', 'Ther', 'active', 0 \
         FROM accounts WHERE handle = 'other'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let output = run(&mut portcullis(&["doctor", "--data-dir", &data]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        report["email_keys"]["collisions"],
        serde_json::json!([{"canonical": "kate@example.com", "accounts": ["kate", "other"]}])
    );
}

/// `public_url` names the SP addresses an IdP is configured with: derived from the listening
/// address when unset (and then `serve` warns once identity providers exist), taken as given
/// from the environment (or flag, or file), and shown by `portcullis config`.
#[tokio::test]
async fn public_url_names_the_sp_addresses_and_serve_warns_when_idps_exist_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store_flags(dir.path()).await;
    let token = init_operator(&store);
    let client = reqwest::Client::new();
    let warned = |log: &Path| {
        json_lines(log).iter().any(|line| {
            line["level"] == "WARN"
                && line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("`public_url` is not set"))
        })
    };

    // No IdP yet: no warning. The IdP's answer carries addresses under the listening address.
    let log = dir.path().join("first.log");
    let server = start_logging_to(&store, &log);
    create_acme(&client, &server, &token).await;
    let certificate: String = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../saml/tests/fixtures/idp.crt"
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with("-----"))
    .collect();
    let (status, idp) = post(
        &client,
        format!("{}/v1/orgs/acme/identity-providers", server.address),
        Some(&token),
        json!({"id": "okta", "entity_id": "https://idp.example/", "sso_url": "https://idp.example/sso",
               "certificates": [certificate]}),
    )
    .await;
    assert_eq!(status, 201, "{idp}");
    assert_eq!(
        idp["sp_entity_id"],
        format!("{}/saml/acme/okta/metadata", server.address)
    );
    assert_eq!(
        idp["acs_url"],
        format!("{}/saml/acme/okta/acs", server.address)
    );
    assert!(server.terminate().success());
    assert!(!warned(&log), "no identity provider existed at start-up");

    // Restarted with the IdP and still no public_url: the warning.
    let log = dir.path().join("second.log");
    let server = start_logging_to(&store, &log);
    let ready = client
        .get(format!("{}/readyz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert!(server.terminate().success());
    assert!(warned(&log), "serve warns about the derived public_url");

    // Set in the environment: the addresses follow it, no warning.
    let log = dir.path().join("third.log");
    let server = start_logging_with(
        &store,
        &log,
        &[("PORTCULLIS_PUBLIC_URL", "https://sso.example.com/auth/")],
    );
    let idp: Value = client
        .get(format!(
            "{}/v1/orgs/acme/identity-providers/okta",
            server.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        idp["sp_entity_id"],
        "https://sso.example.com/auth/saml/acme/okta/metadata"
    );
    assert_eq!(
        idp["acs_url"],
        "https://sso.example.com/auth/saml/acme/okta/acs"
    );
    assert!(server.terminate().success());
    assert!(!warned(&log));

    let mut config = vec!["config"];
    config.extend(store.iter().map(String::as_str));
    let output =
        run(portcullis(&config).env("PORTCULLIS_PUBLIC_URL", "https://sso.example.com/auth/"));
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(shown["public_url"], "https://sso.example.com/auth");
}

/// Milliseconds since the epoch, as the server's clock reads them.
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Writes a key ring file readable by its owner only.
fn key_file(path: &Path, lines: &[&str]) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, format!("{}\n", lines.join("\n"))).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn new_key(id: &str) -> String {
    let output = run(&mut portcullis(&["secrets", "new-key", "--id", id]));
    assert!(output.status.success(), "{}", stderr(&output));
    let line = stdout(&output).trim().to_owned();
    assert!(line.starts_with(&format!("{id} ")), "{line}");
    line
}

/// The TOTP secrets as stored in the SQLite file, read around the server.
async fn raw_totp_secrets(data_dir: &Path) -> Vec<String> {
    let file = data_dir.join(portcullis_store::SQLITE_FILE);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let secrets = sqlx::query_scalar("SELECT secret FROM totp_factors")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    secrets
}

/// The whole life of sealed secrets through the binary on an SQLite data directory: `init`
/// creates the key file (0600), the seed is sealed in the file, no output or log shows a key,
/// a server with another key refuses to start (and `doctor` says why), `secrets rotate`
/// re-seals under a new key, the old key is dropped and two-factor still works.
#[tokio::test]
async fn secrets_are_sealed_at_rest_and_rotated_through_the_binary() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let store = vec!["--data-dir".to_owned(), data_arg.clone()];

    let mut init = vec!["init", "--email", "op@example.com", "--id", "op"];
    init.extend(store.iter().map(String::as_str));
    let output = run(portcullis(&init).env("PORTCULLIS_ADMIN_PASSWORD", "operator-password"));
    assert!(output.status.success(), "{}", stderr(&output));
    let default_file = data.join("secret-keys");
    let mode = std::fs::metadata(&default_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let first_line = std::fs::read_to_string(&default_file)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_owned();
    let (first_id, first_key) = first_line.split_once(' ').unwrap();
    let first_id = first_id.to_owned();
    let first_key = first_key.to_owned();

    // Enrol the operator's second factor over HTTP.
    let mut server = Server::start(&store);
    let server_log = server.child.stderr.take().unwrap();
    let client = reqwest::Client::new();
    let login = json!({"email": "op@example.com", "password": "operator-password"});
    let (status, body) = post(
        &client,
        format!("{}/v1/login", server.address),
        None,
        login.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let session = body["session_token"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &client,
        format!("{}/v1/users/me/totp", server.address),
        Some(&session),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let seed = body["secret"].as_str().unwrap().to_owned();
    let code = portcullis_service::totp::code_at(&seed, now_ms()).unwrap();
    let (status, body) = post(
        &client,
        format!("{}/v1/users/me/totp/verify", server.address),
        Some(&session),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(server.terminate().success());
    let mut log = String::new();
    BufReader::new(server_log).read_to_string(&mut log).unwrap();
    assert!(!log.contains(&first_key), "the key is logged: {log}");

    let stored = raw_totp_secrets(&data).await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with(&format!("sealed:v1:{first_id}:")),
        "{stored:?}"
    );
    assert!(!stored[0].contains(&seed));

    // Neither `config` nor `doctor` shows a key, whichever way it is given.
    for extra in [vec![], vec!["--secret-keys", first_line.as_str()]] {
        let mut config = vec!["config", "--data-dir", data_arg.as_str()];
        config.extend(&extra);
        let output = run(&mut portcullis(&config));
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(!stdout(&output).contains(&first_key), "{}", stdout(&output));
    }
    let output =
        run(portcullis(&["config", "--data-dir", &data_arg])
            .env("PORTCULLIS_SECRET_KEYS", &first_line));
    assert!(
        stdout(&output).contains("(set; not shown)"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains(&first_key));
    let output = run(&mut portcullis(&["doctor", "--data-dir", &data_arg]));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["sealed_secrets"]["current"], 1, "{report}");
    assert!(!stdout(&output).contains(&first_key));

    // A copy of the store with another key: serve refuses, doctor says why, no key shown.
    let stranger = new_key("stranger");
    let stranger_file = dir.path().join("stranger-keys");
    key_file(&stranger_file, &[&stranger]);
    let stranger_path = stranger_file.display().to_string();
    let with_stranger = [
        "--data-dir",
        data_arg.as_str(),
        "--secret-keys-file",
        stranger_path.as_str(),
    ];
    let mut serve = vec!["serve", "--listen", "127.0.0.1:0"];
    serve.extend(with_stranger);
    let output = run(&mut portcullis(&serve));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(
        err.contains("do not open with the configured key ring"),
        "{err}"
    );
    assert!(err.contains(&format!("`{first_id}`")), "{err}");
    let stranger_key = stranger.split_once(' ').unwrap().1;
    assert!(
        !err.contains(stranger_key) && !err.contains(&first_key),
        "{err}"
    );
    let mut doctor = vec!["doctor"];
    doctor.extend(with_stranger);
    let output = run(&mut portcullis(&doctor));
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("key ring lacks"),
        "{}",
        stdout(&output)
    );
    assert_eq!(raw_totp_secrets(&data).await, stored, "nothing rewritten");

    // A key file others may read is refused.
    std::fs::set_permissions(&stranger_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(&mut portcullis(&serve));
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));

    // A lost default key file is not replaced by a new key while sealed secrets exist.
    let aside = dir.path().join("secret-keys.aside");
    std::fs::rename(&default_file, &aside).unwrap();
    let output = run(&mut portcullis(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_arg,
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is missing but the store holds sealed secrets"),
        "{}",
        stderr(&output)
    );
    assert!(!default_file.exists(), "no new key file");
    std::fs::rename(&aside, &default_file).unwrap();

    // Rotate: the new key first, the old one still there; then the old one goes.
    let next = new_key("next");
    let ring = dir.path().join("ring");
    key_file(&ring, &[&next, &first_line]);
    let ring_path = ring.display().to_string();
    let rotate = [
        "secrets",
        "rotate",
        "--data-dir",
        data_arg.as_str(),
        "--secret-keys-file",
        ring_path.as_str(),
    ];
    let output = run(&mut portcullis(&rotate));
    assert!(output.status.success(), "{}", stderr(&output));
    let counts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        (counts["resealed"].as_u64(), counts["key_id"].as_str()),
        (Some(1), Some("next")),
        "{counts}"
    );
    let output = run(&mut portcullis(&rotate));
    let counts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        (counts["resealed"].as_u64(), counts["unchanged"].as_u64()),
        (Some(0), Some(1)),
        "idempotent: {counts}"
    );
    assert!(raw_totp_secrets(&data).await[0].starts_with("sealed:v1:next:"));

    key_file(&ring, &[&next]);
    let server = Server::start(&[
        "--data-dir".into(),
        data_arg.clone(),
        "--secret-keys-file".into(),
        ring_path.clone(),
    ]);
    let (status, body) = post(&client, format!("{}/v1/login", server.address), None, login).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "second_factor_required", "{body}");
    // One step ahead of the code that confirmed enrolment (within the accepted window).
    let code = portcullis_service::totp::code_at(&seed, now_ms() + 30_000).unwrap();
    let (status, body) = post(
        &client,
        format!("{}/v1/login/second-factor", server.address),
        None,
        json!({"login_token": body["login_token"], "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "authenticated");
    assert!(server.terminate().success());

    // Upgrading a data directory an older version wrote: a plain seed and no key file.
    // `doctor` sees nothing wrong, the first `serve` creates the ring and seals the seed, and
    // the seed still signs in.
    set_raw_totp_secret(&data, &seed).await;
    std::fs::remove_file(&default_file).unwrap();
    let output = run(&mut portcullis(&["doctor", "--data-dir", &data_arg]));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["sealed_secrets"]["plain"], 1, "{report}");
    assert!(!default_file.exists(), "doctor creates nothing");
    let server = Server::start(&store);
    assert!(default_file.exists());
    let stored = raw_totp_secrets(&data).await;
    assert!(stored[0].starts_with("sealed:v1:k"), "{stored:?}");
    assert!(!stored[0].contains(&seed));
    // Serving (its SIGTERM handler in place) before it is stopped.
    let ready = client
        .get(format!("{}/readyz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(server.terminate().success());
    // Opens with the new ring (a code through the server is the service suite's test: the
    // steps this test's real clock allows are used up).
    let output = run(&mut portcullis(&["doctor", "--data-dir", &data_arg]));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["sealed_secrets"]["current"], 1, "{report}");
    assert_eq!(report["sealed_secrets"]["plain"], 0, "{report}");
}

/// Rewrites the (one) stored TOTP secret in the SQLite file, as an older version stored it.
async fn set_raw_totp_secret(data_dir: &Path, secret: &str) {
    let file = data_dir.join(portcullis_store::SQLITE_FILE);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rw", file.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE totp_factors SET secret = $1")
        .bind(secret)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

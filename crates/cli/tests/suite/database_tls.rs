//! The binary against PostgreSQL reached over TLS, on clusters of the tests' own
//! (`portcullis_store::testing::cluster`): `serve`, `doctor` and `config` with `verify-full` and
//! the password in a file; refusals that name the failed check; the password printed nowhere.
//! These tests start their own servers, so they run whatever `PORTCULLIS_TEST_BACKEND` says.

use std::path::PathBuf;

use portcullis_store::testing::cluster::{CERTIFICATE_HOST, TestCa, plain_cluster, tls_cluster};
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{Location, Server, run};

/// A file holding `password`, kept alive by the returned directory.
fn password_file(password: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgpass");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    (dir, path)
}

fn verify_full(ca: &std::path::Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.display())
}

#[tokio::test]
async fn serve_doctor_and_config_reach_postgres_over_verify_full_with_a_password_file() {
    let cluster = tls_cluster().await;
    let database = cluster.create_database().await;
    let (_dir, pgpass) = password_file(cluster.password());
    let pgpass = pgpass.display().to_string();
    let url = cluster.url(
        CERTIFICATE_HOST,
        &database,
        &verify_full(&cluster.ca_file()),
    );
    let store = ["--database-url", &url, "--database-password-file", &pgpass];

    let (code, out, err) = run(&[&["doctor"], &store[..]].concat());
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let database_report = &report["database"];
    assert_eq!(database_report["sslmode"], "verify-full", "{out}");
    assert_eq!(database_report["verifies_server"], true, "{out}");
    assert!(
        database_report["tls"].as_str().unwrap().starts_with("TLS"),
        "{out}"
    );
    assert_eq!(database_report["warning"], Value::Null, "{out}");
    assert!(!out.contains(cluster.password()) && !err.contains(cluster.password()));

    let (code, out, err) = run(&[&["config"], &store[..]].concat());
    assert_eq!(code, 0, "{err}");
    let config: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["database_password_file"], pgpass.as_str(), "{out}");
    assert!(
        config["database_url"]
            .as_str()
            .unwrap()
            .contains("sslmode=verify-full"),
        "{out}"
    );
    assert!(!out.contains(cluster.password()) && !err.contains(cluster.password()));

    // `serve` (its pool and its follower's LISTEN connection) over the same settings.
    let mut server = Server::start_with(
        Location::Url(url),
        vec![("PORTCULLIS_DATABASE_PASSWORD_FILE".into(), pgpass.clone())],
    );
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    server.stop();
}

#[tokio::test]
async fn a_refused_server_is_named_and_no_password_is_printed() {
    let cluster = tls_cluster().await;
    let database = cluster.create_database().await;
    let (dir, pgpass) = password_file(cluster.password());
    let pgpass = pgpass.display().to_string();
    let other_ca = dir.path().join("other-ca.crt");
    std::fs::write(&other_ca, TestCa::new("Some other CA").pem()).unwrap();
    let right = verify_full(&cluster.ca_file());
    let plain = plain_cluster().await;
    let plain_database = plain.create_database().await;
    let (_plain_dir, plain_pgpass) = password_file(plain.password());
    let plain_pgpass = plain_pgpass.display().to_string();
    let cases = [
        (
            cluster.url(CERTIFICATE_HOST, &database, &verify_full(&other_ca)),
            pgpass.as_str(),
            "not signed by a trusted CA",
        ),
        (
            cluster.url("127.0.0.1", &database, &right),
            pgpass.as_str(),
            "not valid for that host name",
        ),
        (
            plain.url(CERTIFICATE_HOST, &plain_database, "sslmode=require"),
            plain_pgpass.as_str(),
            "does not support TLS",
        ),
    ];
    for (url, pgpass, why) in &cases {
        let (code, out, err) = run(&[
            "doctor",
            "--database-url",
            url,
            "--database-password-file",
            pgpass,
        ]);
        assert_ne!(code, 0, "{url}: {out}");
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains(cluster.password()) && !err.contains(plain.password()));
    }

    // A wrong password is refused by the server and echoed nowhere, from a file or the URL.
    let wrong = "not-the-password-4711";
    let (_wrong_dir, wrong_file) = password_file(wrong);
    let url = cluster.url(CERTIFICATE_HOST, &database, &right);
    let (code, _, err) = run(&[
        "doctor",
        "--database-url",
        &url,
        "--database-password-file",
        &wrong_file.display().to_string(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    let inline = url.replacen("postgres@", &format!("postgres:{wrong}@"), 1);
    let (code, _, err) = run(&["doctor", "--database-url", &inline]);
    assert_ne!(code, 0);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(wrong), "{err}");
}

#[tokio::test]
async fn migrate_copies_into_postgres_over_verify_full_with_a_password_file() {
    let cluster = tls_cluster().await;
    let database = cluster.create_database().await;
    let (dir, pgpass) = password_file(cluster.password());
    let pgpass = pgpass.display().to_string();
    let data = dir.path().join("data").display().to_string();
    let init = std::process::Command::new(crate::common::BIN)
        .args(["init", "--data-dir", &data, "--id", "kate"])
        .args(["--email", "kate@example.com"])
        .env("PORTCULLIS_ADMIN_PASSWORD", "a long operator password")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let url = cluster.url(
        CERTIFICATE_HOST,
        &database,
        &verify_full(&cluster.ca_file()),
    );
    let (code, out, err) = run(&[
        "migrate",
        "--from-data-dir",
        &data,
        "--to-database-url",
        &url,
        "--to-database-password-file",
        &pgpass,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"migrated\":true"), "{out}");
    let (code, out, err) = run(&[
        "audit",
        "verify",
        "--database-url",
        &url,
        "--database-password-file",
        &pgpass,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Without the password the target is refused, by the server.
    let (code, _, err) = run(&["audit", "verify", "--database-url", &url]);
    assert_ne!(code, 0);
    assert!(err.contains("password"), "{err}");
}

/// A server on another machine (here: this machine's own non-loopback address) reached
/// without verifying it is warned about at start-up, and `doctor` reports it and exits 1.
#[tokio::test]
async fn a_remote_server_reached_without_verification_is_warned_about() {
    let cluster = tls_cluster().await;
    let Some(address) = cluster.own_address() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    let database = cluster.create_database().await;
    let (_dir, pgpass) = password_file(cluster.password());
    let pgpass = pgpass.display().to_string();
    let host = match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let url = cluster.url(&host, &database, "sslmode=require");
    let (code, out, err) = run(&[
        "doctor",
        "--database-url",
        &url,
        "--database-password-file",
        &pgpass,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("sslmode=require, which does not verify the server"),
        "{err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    let warning = report["database"]["warning"].as_str().unwrap();
    assert!(warning.contains("encrypted (TLS"), "{warning}");
    assert!(warning.contains("verify-full"), "{warning}");
    assert_eq!(report["database"]["verifies_server"], false);

    // The same server over verify-full by the certificate's name: no warning.
    let url = cluster.url(
        CERTIFICATE_HOST,
        &database,
        &verify_full(&cluster.ca_file()),
    );
    let (code, out, err) = run(&[
        "doctor",
        "--database-url",
        &url,
        "--database-password-file",
        &pgpass,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("does not verify"), "{err}");
}

//! What the Debian package ships besides the binary, checked on every test run so that it cannot
//! drift from the code: the default configuration (packaging/portcullis.toml) is valid for the
//! loader, every setting it shows commented out is a real key, and the manual pages and shell
//! completions the package build generates cover the commands. scripts/package-test.sh installs
//! the package itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

fn packaged_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/portcullis.toml")
}

/// The binary with no `PORTCULLIS_*` variables of the caller's.
fn portcullis(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("PORTCULLIS_") {
            command.env_remove(name);
        }
    }
    command.output().expect("the binary runs")
}

fn effective_config(file: &Path) -> Value {
    let output = portcullis(&["config", "--config", file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_packaged_config_is_valid_and_keeps_sqlite_in_var_lib_on_loopback() {
    let config = effective_config(&packaged_config());
    assert_eq!(config["data_dir"], "/var/lib/portcullis");
    assert_eq!(config["database_url"], Value::Null);
    assert_eq!(config["listen"], "127.0.0.1:8080");
    assert_eq!(config["log_format"], "human");
    assert_eq!(config["signup_enabled"], true);
    assert_eq!(config["smtp_url"], Value::Null);
}

/// Uncommenting any `# key = value` line of the packaged file gives a valid configuration, with
/// the files it names put in place (the SAML key pair and SMTP password are read at start-up).
#[test]
fn every_setting_the_packaged_config_shows_commented_out_is_a_valid_key() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../saml/tests/fixtures/encrypted");
    std::fs::copy(fixtures.join("sp.key"), dir.path().join("saml-sp.key")).unwrap();
    std::fs::copy(fixtures.join("sp.crt"), dir.path().join("saml-sp.crt")).unwrap();
    std::fs::write(dir.path().join("smtp-password"), "secret\n").unwrap();
    std::fs::write(dir.path().join("db-password"), "secret\n").unwrap();
    // The HTTPS pair (checked at start-up: the key must belong to the certificate) and the
    // database's CA file.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["auth.example.com".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/fullchain.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls/privkey.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("db-ca.pem"), cert.pem()).unwrap();
    // A key ring made the way the file's comment says, readable by its owner only.
    let ring = portcullis(&["secrets", "new-key"]);
    assert!(ring.status.success());
    let ring_file = dir.path().join("secret-keys");
    std::fs::write(&ring_file, &ring.stdout).unwrap();
    std::fs::set_permissions(
        &ring_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let text = std::fs::read_to_string(packaged_config()).unwrap();
    let mut uncommented = 0;
    let all: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => {
                uncommented += 1;
                rest.replace("/etc/portcullis/", &format!("{}/", dir.path().display()))
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        uncommented >= 13,
        "found only {uncommented} commented settings"
    );
    let file = dir.path().join("all.toml");
    std::fs::write(&file, all).unwrap();

    let config = effective_config(&file);
    assert_eq!(config["public_url"], "https://auth.example.com");
    assert!(
        config["database_url"].as_str().unwrap().starts_with(
            "postgres://portcullis@db.example.com:5432/portcullis?sslmode=verify-full"
        ),
        "{}",
        config["database_url"]
    );
    assert!(config["tls_certificate_serial"].is_string(), "{config}");
    assert_eq!(config["mail_from"], "Portcullis <no-reply@example.com>");
    assert_eq!(
        config["saml_sp_certificate_sha256"].as_str().unwrap().len(),
        64
    );
    assert_eq!(config["session_ttl_hours"], 24);
    assert_eq!(config["consistency_wait_ms"], 2000);
    assert_eq!(config["audit_retention_days"], 365);
}

/// `key = value` with a snake_case key: a setting, not a line of prose.
fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

#[test]
fn completions_cover_every_command_and_their_settings() {
    for shell in ["bash", "zsh", "fish"] {
        let output = portcullis(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        for word in [
            "serve",
            "access-review",
            "verify-email",
            "data-dir",
            "config",
        ] {
            assert!(script.contains(word), "{shell} completion lacks `{word}`");
        }
    }
    let output = portcullis(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2), "an unknown shell is refused");
}

#[test]
fn man_writes_one_page_per_visible_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    let output = portcullis(&["man", "--out-dir", out.to_str().unwrap()]);
    assert!(output.status.success());
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for page in [
        "portcullis.1",
        "portcullis-serve.1",
        "portcullis-init.1",
        "portcullis-audit-verify.1",
        "portcullis-users-verify-email.1",
    ] {
        assert!(pages.contains(&page.to_owned()), "no {page} in {pages:?}");
    }
    // The packaging commands stay out of the pages as they stay out of --help.
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("completions") || p.contains("-man"))
    );
    let help = String::from_utf8(portcullis(&["--help"]).stdout).unwrap();
    assert!(
        !help.contains("completions") && !help.contains("man "),
        "{help}"
    );

    let serve = std::fs::read_to_string(out.join("portcullis-serve.1")).unwrap();
    assert!(serve.contains(".TH portcullis-serve 1"), "{serve}");
    assert!(serve.contains("data\\-dir") && serve.contains("PORTCULLIS_CONFIG"));
}

//! `portcullis init`: create the platform operator non-interactively, and optionally a
//! personal access token for it (printed alone on stdout, so `TOKEN=$(portcullis init ...)`
//! works).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use clap::Args;
use portcullis_service::authentication::SignupInput;
use portcullis_service::core::SystemClock;
use portcullis_service::keys::KeyInput;
use portcullis_service::{Caller, Portcullis, ServiceConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::app::{init_logging, load_key_ring, open_store};
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

/// The variable holding the operator's password (otherwise one line is read from stdin).
pub const PASSWORD_ENV: &str = "PORTCULLIS_ADMIN_PASSWORD";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The operator's email address.
    #[arg(long)]
    pub email: String,
    /// The operator's account id.
    #[arg(long)]
    pub id: String,
    #[arg(long, default_value = "Platform")]
    pub first_name: String,
    #[arg(long, default_value = "Operator")]
    pub last_name: String,
    /// Create a personal access token (scopes: all) and print only it on stdout.
    #[arg(long)]
    pub print_token: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(settings: Settings, args: InitArgs) -> Result<(), CliError> {
    init_logging(settings.log_format, "warn");
    let password = read_password()?;
    let store = open_store(&settings).await?;
    // The key ring `serve` will use, created now if it is the default file and missing.
    let config = ServiceConfig {
        secret_keys: Arc::new(load_key_ring(&settings, &store).await?),
        ..settings.service_config()
    };
    let service = Portcullis::start(store.clone(), Arc::new(SystemClock), config).await?;
    let input = SignupInput {
        id: args.id,
        email: args.email,
        password,
        first_name: args.first_name,
        last_name: args.last_name,
    };
    let operator = service.init_operator(input).await?;
    let message = format!(
        "created the platform operator `{}` <{}> (revision {})",
        operator.value.id, operator.value.email, operator.revision
    );
    if args.print_token {
        eprintln!("{message}");
        let key = KeyInput {
            description: "created by portcullis init".to_owned(),
            scopes: vec!["all".to_owned()],
            ..KeyInput::default()
        };
        let created = service
            .create_key(&Caller::user_directly(operator.value.key), key)
            .await?;
        println!("{}", created.value.token.expose_secret());
    } else {
        println!("{message}");
    }
    store.close().await;
    Ok(())
}

/// From `PORTCULLIS_ADMIN_PASSWORD`, else the first line of stdin (prompting on a terminal).
fn read_password() -> Result<SecretString, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(SecretString::from(password));
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprint!("password for the platform operator: ");
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        set_echo(true);
        eprintln!();
    }
    read.map_err(CliError::io("cannot read the password from stdin"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(CliError::usage(format!(
            "no password: set {PASSWORD_ENV} or pass it on stdin"
        )));
    }
    Ok(SecretString::from(password))
}

/// Hides the typed password on a terminal (best effort: without `stty` it stays visible).
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

//! `portcullis access-review --org X [--format csv|jsonl]`: the whole matrix of an
//! organization (members × the organization and each app × permissions), each cell decided by
//! the same core `check` as the API, with its grant paths. Runs against the store directly.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::audit_cmd::start;
use crate::config::{ConfigArgs, Settings};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct AccessReviewArgs {
    /// The organization to review.
    #[arg(long)]
    pub org: String,
    /// `csv` (user,role,app,permission,allowed,via) or `jsonl`.
    #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
    pub format: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(args: AccessReviewArgs) -> Result<ExitCode, CliError> {
    let settings = Settings::resolve(&args.config)?;
    let service = start(&settings).await?;
    let org = service
        .resolve_org(&args.org)
        .map_err(|_| CliError::usage(format!("unknown organization `{}`", args.org)))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let csv = args.format == "csv";
    let mut result = if csv {
        out.write_all(b"user,role,app,permission,allowed,via\n")
    } else {
        Ok(())
    };
    // Streamed cell by cell: a large organization's matrix never sits in memory whole.
    service.each_matrix_cell(org, |cell| {
        if result.is_err() {
            return;
        }
        let line = if csv {
            let fields = [
                cell.user,
                cell.role.as_str().to_owned(),
                cell.app.unwrap_or_default(),
                cell.permission.as_str().to_owned(),
                cell.allowed.to_string(),
                cell.via.join(" "),
            ];
            let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            quoted.join(",")
        } else {
            json!({"user": cell.user, "role": cell.role.as_str(), "app": cell.app,
                   "permission": cell.permission.as_str(), "allowed": cell.allowed, "via": cell.via})
            .to_string()
        };
        result = writeln!(out, "{line}");
    });
    result
        .and_then(|()| out.flush())
        .map_err(CliError::io("cannot write the matrix"))?;
    Ok(ExitCode::SUCCESS)
}

/// Quotes a CSV field when needed (ids and permission names never start with a formula
/// character, so no further guarding is needed here).
fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_owned()
    }
}

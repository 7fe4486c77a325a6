//! `portcullis access-review --org X [--format csv|jsonl]`: the whole matrix of an
//! organization (members × the organization and each app × permissions), each cell decided by
//! the same core `check` as the API, with its grant paths. Reads the stored data through the service, with no server running.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use portcullis_service::access_review::{AccessMatrixCsv, MatrixCell};

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
    let out = std::io::BufWriter::new(stdout.lock());
    let mut matrix = if args.format == "csv" {
        AccessMatrixCsv::new(out).map(|csv| Matrix::Csv(Box::new(csv)))
    } else {
        Ok(Matrix::JsonLines(out))
    };
    // Streamed cell by cell: a large organization's matrix never sits in memory whole.
    service.each_matrix_cell(org, |cell| {
        if let Ok(m) = &mut matrix
            && let Err(err) = m.cell(&cell)
        {
            matrix = Err(err);
        }
    });
    matrix
        .and_then(Matrix::finish)
        .map_err(CliError::io("cannot write the matrix"))?;
    Ok(ExitCode::SUCCESS)
}

/// Where the cells go: the CSV writer (boxed: it holds its own buffer) or JSON lines.
enum Matrix<W: Write> {
    Csv(Box<AccessMatrixCsv<W>>),
    JsonLines(W),
}

impl<W: Write> Matrix<W> {
    fn cell(&mut self, cell: &MatrixCell) -> std::io::Result<()> {
        match self {
            Self::Csv(csv) => csv.cell(cell),
            Self::JsonLines(out) => writeln!(out, "{}", cell.json_line()),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Self::Csv(csv) => csv.finish()?.flush(),
            Self::JsonLines(mut out) => out.flush(),
        }
    }
}

//! `portcullis completions SHELL` and `portcullis man --out-dir DIR`: the shell completions and
//! manual pages, generated from the one clap definition of the commands, so they always match
//! the binary they ship with. The Debian package build (`scripts/package.sh`) runs them on the
//! binary it packages; they are hidden from `--help` because operators rarely need them.
//!
//! They live in the binary rather than in a build script or a separate tool: a `build.rs` would
//! slow every build of the crate, and a separate generator would be one more binary to compile
//! in CI. The cost is two small crates (clap_complete, clap_mangen) in the production binary.
//! Nothing here reads the settings, the store or the network.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::Cli;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write portcullis.1 and one page per command (portcullis-serve.1, ...)
    /// into; created when missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<ExitCode, CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "portcullis", &mut out);
    std::io::stdout()
        .lock()
        .write_all(&out)
        .map_err(CliError::io("cannot write the completions"))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the manual pages into `out_dir`: portcullis.1 and one per visible command, each named
/// after its path (portcullis-audit-verify.1).
pub fn man(args: &ManArgs) -> Result<ExitCode, CliError> {
    let context = || {
        format!(
            "cannot write the manual pages into `{}`",
            args.out_dir.display()
        )
    };
    std::fs::create_dir_all(&args.out_dir).map_err(CliError::io(context()))?;
    clap_mangen::generate_to(Cli::command(), &args.out_dir).map_err(CliError::io(context()))?;
    Ok(ExitCode::SUCCESS)
}

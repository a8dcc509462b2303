//! One file per subcommand; each is a thin layer over the library crates.

mod inspect;
mod plan;

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Cli, Command, SourceArgs};
use crate::failure::Failure;
use crate::output::Output;
use crate::progress::Reporter;

/// Runs the chosen subcommand.
pub fn run(cli: &Cli, out: &Output) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Inspect(args) => inspect::run(args, out),
        Command::Plan(args) => plan::run(args, out),
    }
}

/// Acquires the source and inspects it: the path shared by `inspect` and `plan`.
pub(crate) fn inspect_source(
    args: &SourceArgs,
) -> Result<(ferry_source::Source, ferry_inspect::Inspection), Failure> {
    let limits = ferry_source::Limits {
        git_timeout: Duration::from_secs(args.git_timeout),
        ..Default::default()
    };
    let reporter = Reporter::new();
    let source = ferry_source::acquire(&args.source, &limits, &mut |p| reporter.update(p))?;
    reporter.message("inspecting");
    let inspection = ferry_inspect::inspect(ferry_inspect::Input {
        root: &source.root,
        source: source.info.clone(),
        source_name: source.name.clone(),
        history: source.history.as_ref(),
        warnings: source.warnings.clone(),
    })?;
    Ok((source, inspection))
}

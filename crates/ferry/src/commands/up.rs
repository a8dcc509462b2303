//! `ferry up`: inspect + register + build + deploy, starting the local server if needed.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::UpArgs;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress::Reporter;

pub fn run(args: &UpArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let reporter = Reporter::new();
    reporter.message("starting the server");
    let (api, started) = crate::home::ensure_server(home, &args.build.listen)?;
    let report = super::deploy::deploy(&args.build, home, &api, &reporter)?;
    drop(reporter);
    if started && !out.json {
        eprintln!(
            "started the ferry server (logs: {})",
            home.join("logs/server.log").display()
        );
    }
    super::deploy::print(&report, out);
    Ok(ExitCode::SUCCESS)
}

//! Command-line arguments (clap derive). No logic here.

use clap::{Args, Parser, Subcommand};

/// Move an app out of an AI app builder onto infrastructure you own.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// More logging on stderr (-v info, -vv debug); `FERRY_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say what an app is: builder, units, frameworks, how to build them.
    Inspect(SourceArgs),
    /// Print the resolved build plan of each unit (or one, with --unit).
    Plan(PlanArgs),
}

/// Where the app is.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A folder, a .zip export, or a git repository (URL, git@host:path, file://…).
    pub source: String,

    /// Seconds `git clone` may take.
    #[arg(
        long,
        default_value_t = 300,
        value_name = "SECS",
        env = "FERRY_GIT_TIMEOUT"
    )]
    pub git_timeout: u64,
}

/// Arguments of `ferry plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where the app is.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Only this unit (by name).
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,
}

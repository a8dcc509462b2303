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
    /// Say what an app is and what is unsafe: builder, units, services, env, secrets, findings.
    Inspect(InspectArgs),
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

/// Arguments of `ferry inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Where the app is.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Exit with 1 when a finding is at or above this severity (for CI).
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub fail_on: Option<FailOn>,

    /// Write the detected facts to `ferry.toml` in the app's folder (never overwrites one).
    #[arg(long)]
    pub write: bool,

    /// Show every finding (the text report folds repeats after five).
    #[arg(long)]
    pub all: bool,
}

/// Severities `--fail-on` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any finding.
    Info,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
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

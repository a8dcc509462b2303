//! One file per subcommand; each is a thin layer over the library crates.

mod access;
mod audit;
mod base44;
mod dashboard;
mod db;
mod deploy;
mod deploy_cmd;
mod inspect;
mod inspect_report;
mod login;
mod manage;
mod mcp;
mod plan;
mod processes;
mod serve;
mod server;
mod up;

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Cli, Command, DbAction, SourceArgs};
use crate::failure::Failure;
use crate::output::Output;
use crate::progress::Reporter;

/// Runs the chosen subcommand.
pub fn run(cli: &Cli, out: &Output) -> Result<ExitCode, Failure> {
    let home = crate::home::resolve(cli.home.as_deref());
    login::select(cli, &home)?;
    match &cli.command {
        Command::Inspect(args) => inspect::run(args, out),
        Command::Plan(args) => plan::run(args, out),
        Command::Up(args) => up::run(args, &home, out),
        Command::Down => manage::down(&home, out),
        Command::Build(args) => deploy_cmd::build(args, &home, out),
        Command::Deploy(args) => deploy_cmd::deploy(args, &home, out),
        Command::Releases(args) => manage::releases(args, &home, out),
        Command::Rollback(args) => manage::switch(args, true, &home, out),
        Command::Promote(args) => manage::switch(args, false, &home, out),
        Command::Status => manage::status(&home, out),
        Command::Ps(args) => processes::ps(args, &home, out),
        Command::Logs(args) => processes::logs(args, &home, out),
        Command::Env(args) => manage::env(args, &home, out),
        Command::Gc => manage::gc(&home, out),
        Command::Serve(args) => serve::run(args, &home),
        Command::Db(args) => db::run(args, &home, out),
        Command::Outbox(args) => base44::outbox(args, &home, out),
        Command::Base44(args) => base44::run(args, &home, out),
        Command::Login(args) => login::login(args, &home, out),
        Command::Logout(args) => login::logout(args, cli.server.as_deref(), &home, out),
        Command::Org(args) => access::org(args, &home, out),
        Command::User(args) => access::user(args, &home, out),
        Command::Token(args) => access::token(args, &home, out),
        Command::Audit(args) => audit::run(args, &home, out),
        Command::Mcp => mcp::run(cli.server.as_deref(), &home),
        Command::Dashboard => dashboard::run(cli.server.as_deref(), &home, out),
    }
}

/// Whether this run streams JSON lines (`db pull`/`verify`/`follow`/`cutover --json`): then every JSON
/// document, the final report or error included, is printed on one line.
pub fn json_lines(cli: &Cli) -> bool {
    cli.json
        && matches!(
            &cli.command,
            Command::Db(args) if matches!(
                args.action,
                DbAction::Pull(_) | DbAction::Verify(_) | DbAction::Follow(_) | DbAction::Cutover(_)
            )
        )
}

/// Acquires the source and inspects it: the path shared by `inspect`, `plan`, `build` and
/// `deploy`. Only `Scope::Full` reads the history's added lines and runs the audit half.
pub(crate) fn inspect_source(
    args: &SourceArgs,
    scope: ferry_inspect::Scope,
) -> Result<(ferry_source::Source, ferry_inspect::Inspection), Failure> {
    let limits = ferry_source::Limits {
        git_timeout: Duration::from_secs(args.git_timeout),
        ..Default::default()
    };
    let reporter = Reporter::new();
    let mut source = ferry_source::acquire(&args.source, &limits, &mut |p| reporter.update(p))?;
    if scope == ferry_inspect::Scope::Full {
        reporter.message("reading the git history");
        source.read_added_lines()?;
    }
    reporter.message("inspecting");
    let inspection = ferry_inspect::inspect(source.input(scope))?;
    Ok((source, inspection))
}

/// The plan a command acts on: the unit `--unit` names; without one, the first static unit,
/// or — when `any_kind` (`ferry build`) — the first unit of any kind. Shared by `plan`,
/// `build` and `deploy` so the three agree on names and errors.
pub(crate) fn pick_plan<'a>(
    plans: &'a [ferry_inspect::BuildPlan],
    unit: Option<&str>,
    app: &str,
    any_kind: bool,
) -> Result<&'a ferry_inspect::BuildPlan, Failure> {
    if plans.is_empty() {
        return Err(Failure {
            code: "no-units",
            message: format!("no deployable unit found in `{app}`"),
            hint: "add a `ferry.toml` with a `[[unit]]` (see docs/formats/ferry-toml.md)".into(),
            exit: crate::failure::EXIT_BAD_INPUT,
        });
    }
    if let Some(name) = unit {
        return plans.iter().find(|p| p.unit == name).ok_or_else(|| {
            let names: Vec<&str> = plans.iter().map(|p| p.unit.as_str()).collect();
            Failure::usage(
                format!("there is no unit named `{name}`"),
                format!("units: {}", names.join(", ")),
            )
        });
    }
    let first_static = plans
        .iter()
        .find(|p| p.kind == ferry_inspect::UnitKind::Static);
    match first_static {
        Some(plan) => Ok(plan),
        None if any_kind => Ok(&plans[0]),
        None => Err(Failure {
            code: "no-static-unit",
            message: format!("`{app}` has no static unit to deploy"),
            hint: "this ferry deploys static apps (Vite, CRA, Astro…); server units come next — see `ferry inspect`".into(),
            exit: crate::failure::EXIT_BAD_INPUT,
        }),
    }
}

/// A multi-threaded tokio runtime for a command's async work.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure {
            code: "runtime",
            message: format!("cannot start the async runtime: {err}"),
            hint: "check the machine's thread limits".into(),
            exit: crate::failure::EXIT_FAILED,
        })
}

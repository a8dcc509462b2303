//! `ferry db follow` and the follow half of `ferry db pull --follow`: the source's changes
//! applied to the target (logical replication, `ferry_data::follow`) as a job in `jobs.db`,
//! until a signal (SIGINT/SIGTERM: the batch in flight finishes, the slot keeps the position,
//! the job stays resumable) or, with `--until-caught-up`, until nothing is left.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ferry_data::endpoint::{PgEndpoint, redact};
use ferry_data::follow::{FollowOptions, FollowReport};
use ferry_data::{Cancel, Endpoint, JobKind};

use super::display::Display;
use super::render::{secs, thousands};
use super::{Signals, open_jobs, runtime, selection, shell_quote};
use crate::cli::FollowArgs;
use crate::failure::Failure;
use crate::output::Output;

/// Runs `ferry db follow`.
pub fn run(args: &FollowArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let source = Endpoint::parse_source(&args.from)?;
    let target = Endpoint::parse(&args.to)?;
    let store = open_jobs(home)?;
    let options = FollowOptions {
        selection: selection(&args.scope),
        until_caught_up: args.until_caught_up,
        ..FollowOptions::default()
    };
    let display = Display::new(JobKind::Follow, out).recording_lag(&store);
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let mut signals = Signals::new();
        follow_until_stopped(&source, &target, &options, &store, &display, &mut signals).await
    });
    display.clear();
    let report = result?;
    if out.json {
        out.print_json(&serde_json::json!({ "report": report }));
    } else {
        out.print(&render(&report, &args.from, &args.to, out));
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows until the library returns: a first SIGINT/SIGTERM asks it to stop after the batch
/// in flight (the report then says `cancelled`), a second one ends the process at once (the
/// slot still holds the last confirmed position; the next run replays from there).
pub(super) async fn follow_until_stopped(
    source: &PgEndpoint,
    target: &Endpoint,
    options: &FollowOptions,
    store: &ferry_control::JobDb,
    display: &Display<'_>,
    signals: &mut Signals,
) -> Result<FollowReport, Failure> {
    let cancel = Cancel::default();
    let work = ferry_data::follow::follow(source, target, options, store, display, &cancel);
    let report = signals
        .run_until_second(
            work,
            &cancel,
            display,
            "stopping after the batch in flight (again to quit now; the follow stays resumable)",
        )
        .await?;
    Ok(report)
}

/// The report of a follow: what was applied, where the slot stands, how it ended, what next.
pub fn render(report: &FollowReport, from: &str, to: &str, out: &Output) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} → {}",
        out.paint("followed", "1"),
        report.source,
        report.target
    );
    let _ = writeln!(
        s,
        "  applied   {} change{} in {} transaction{} ({})",
        thousands(report.rows),
        if report.rows == 1 { "" } else { "s" },
        thousands(report.transactions),
        if report.transactions == 1 { "" } else { "s" },
        secs(report.secs)
    );
    let _ = writeln!(
        s,
        "  position  {} (slot {}){}",
        report.lsn,
        report.slot,
        if report.caught_up {
            ", caught up"
        } else {
            ", changes still waiting"
        }
    );
    let job = if report.resumed {
        format!("{} (resumed)", report.job)
    } else {
        report.job.clone()
    };
    let _ = writeln!(s, "  job       {job}");
    let (from, to) = (shell_quote(&redact(from)), shell_quote(&redact(to)));
    if report.ended != "caught-up" {
        let _ = writeln!(
            s,
            "  stopped; the slot keeps the position and the source keeps the WAL until the next run: \
             ferry db follow --from {from} --to {to}"
        );
    }
    let _ = writeln!(
        s,
        "{} stop writes on the old app, then: ferry db cutover --from {from} --to {to}",
        out.paint("next:", "1;36"),
    );
    s
}

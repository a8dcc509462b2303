//! `ferry db cutover`: the end of a zero-downtime move — wait for zero lag, set the target's
//! sequences past the source's, verify, drop the source's slot and publication, and print the
//! steps that remain for the owner (`ferry_data::follow::cutover` does the work).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ferry_data::endpoint::redact;
use ferry_data::follow::{CutoverOptions, CutoverReport, FollowOptions};
use std::time::{Duration, Instant};

use ferry_control::JobDb;
use ferry_data::{Cancel, Endpoint, JobKind, JobStatus};
use serde_json::json;

use super::display::Display;
use super::{
    Signals, is_ferry_db_process, open_jobs, parallelism, process_exists, render, runtime,
    selection, shell_quote,
};
use crate::cli::CutoverArgs;
use crate::failure::{EXIT_FAILED, Failure};
use crate::output::Output;

/// How many differing keys the cutover's verify names per table.
const MAX_KEYS: usize = 10;

/// Runs `ferry db cutover`.
pub fn run(args: &CutoverArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let source = Endpoint::parse_source(&args.from)?;
    let target = Endpoint::parse(&args.to)?;
    let store = open_jobs(home)?;
    let options = CutoverOptions {
        follow: FollowOptions {
            selection: selection(&args.scope),
            ..FollowOptions::default()
        },
        timeout: args.timeout,
        verify_jobs: parallelism(&args.scope),
        max_keys: MAX_KEYS,
    };
    let display = Display::new(JobKind::Follow, out).recording_lag(&store);
    let name = ferry_data::follow::slot_name(&source, &target, &options.follow);
    stop_running_follow(&store, &name, &display)?;
    let runtime = runtime()?;
    let cancel = Cancel::default();
    let result = runtime.block_on(async {
        let work =
            ferry_data::follow::cutover(&source, &target, &options, &store, &display, &cancel);
        Signals::new()
            .run_until_second(
                work,
                &cancel,
                &display,
                "stopping the cutover (again to quit now; the slot is kept)",
            )
            .await
    });
    display.clear();
    let report = result?;
    let steps = owner_steps(&report, args);
    if out.json {
        let mut value = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
        value["steps"] = json!(steps);
        out.print_json(&json!({ "report": value }));
    } else {
        out.print(&render_report(&report, &steps, args, out));
    }
    if report.verify.equal && report.dropped {
        return Ok(ExitCode::SUCCESS);
    }
    if !out.json {
        eprintln!(
            "{} the target differs from the source; the slot {} is kept",
            out.paint("error:", "1;31"),
            report.slot
        );
        eprintln!(
            "{} follow again (ferry db follow --from {} --to {}), make sure nothing writes to the source, then rerun the cutover",
            out.paint("hint:", "1;36"),
            shell_quote(&redact(&args.from)),
            shell_quote(&redact(&args.to)),
        );
    }
    Ok(ExitCode::from(EXIT_FAILED))
}

/// How long a running follow gets to stop after SIGTERM (it finishes its batch first).
const STOP_WAIT: Duration = Duration::from_secs(60);

/// The cutover applies the last changes itself (the same follow job): a follow of the same
/// slot still running in another process (`ferry db follow`, `ferry db pull --follow`) is
/// asked to stop (SIGTERM, after checking the pid is that `ferry db` run) and waited for.
fn stop_running_follow(store: &JobDb, slot: &str, display: &Display<'_>) -> Result<(), Failure> {
    let key = format!("follow:{slot}");
    let running = store
        .recent(200)?
        .into_iter()
        .filter(|j| j.kind == JobKind::Follow && j.status == JobStatus::Running && j.key == key);
    for job in running {
        let Some(pid) = store
            .pid(&job.id)?
            .filter(|p| *p > 1 && *p != std::process::id())
        else {
            continue;
        };
        if !is_ferry_db_process(pid, "follow") {
            continue;
        }
        display.note(&format!(
            "stopping the running follow (job {}, pid {pid}) so the cutover can finish it…",
            job.id
        ));
        let sent = std::process::Command::new("kill")
            .args(["-s", "TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + STOP_WAIT;
        while sent && process_exists(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process_exists(pid) {
            return Err(Failure {
                code: "follow-running",
                message: format!("the follow job {} (pid {pid}) did not stop", job.id),
                hint: "stop it (Ctrl-C in its terminal, or kill -s TERM <pid>), then rerun the cutover"
                    .into(),
                exit: EXIT_FAILED,
            });
        }
    }
    Ok(())
}

/// The steps left for the owner once the target is equal: the library's own first (notes
/// about the target), then the switch itself, for a ferry-hosted app (`--app`) in commands.
pub fn owner_steps(report: &CutoverReport, args: &CutoverArgs) -> Vec<String> {
    if !(report.verify.equal && report.dropped) {
        return Vec::new();
    }
    let new_url = redact(&args.to);
    let app = args.app.as_deref().unwrap_or("<app>");
    let mut steps = vec![
        "keep writes stopped on the old app: the slot is gone, so a write to the old database \
         from now on is not copied"
            .to_string(),
    ];
    steps.extend(report.steps.iter().cloned());
    steps.push(format!(
        "point the app at the new database ({new_url}, with its password in place of ***): \
         ferry env set --app {app} DATABASE_URL=- && ferry deploy   \
         (DATABASE_URL=- reads the URL from stdin; a Base44 app reads FERRY_BASE44_DATABASE_URL \
         instead: ferry env set --app {app} FERRY_BASE44_DATABASE_URL=- && ferry deploy)"
    ));
    steps.push(
        "check the app against the new database, then retire the old one (keep a copy: \
         ferry db pull from it again any time before it is gone)"
            .to_string(),
    );
    steps
}

/// The verify, the sequences, the slot, then the numbered steps.
fn render_report(
    report: &CutoverReport,
    steps: &[String],
    args: &CutoverArgs,
    out: &Output,
) -> String {
    let mut s = render::verify(&report.verify, out);
    let changed = report.sequences.iter().filter(|q| q.changed).count();
    let _ = writeln!(
        s,
        "  caught up: {} transaction{} applied before the check",
        render::thousands(report.transactions),
        if report.transactions == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        "  sequences: {changed} of {} set past the source's values",
        report.sequences.len()
    );
    for q in report.sequences.iter().filter(|q| q.changed) {
        let next = q.target_next.map_or_else(|| "—".into(), |n| n.to_string());
        let _ = writeln!(
            s,
            "    {}  source {}  → target next {next}",
            q.sequence, q.source_value
        );
    }
    for note in &report.notes {
        let _ = writeln!(s, "  note: {note}");
    }
    if report.dropped {
        let _ = writeln!(
            s,
            "  slot and publication {} dropped on {}",
            report.slot,
            redact(&args.from)
        );
    } else {
        let _ = writeln!(s, "  slot {} kept", report.slot);
    }
    if !steps.is_empty() {
        let _ = writeln!(s, "{}", out.paint("what remains:", "1;36"));
        for (n, step) in steps.iter().enumerate() {
            let _ = writeln!(s, "  {}. {step}", n + 1);
        }
    }
    s
}

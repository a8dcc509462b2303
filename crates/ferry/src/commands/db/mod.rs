//! `ferry db pull`, `verify`, `follow`, `cutover`, `slots`, `jobs`: thin layers over
//! `ferry-data`, with jobs and checkpoints kept in `$FERRY_HOME/jobs.db`
//! (`ferry_control::JobDb`). The work runs in this process, never in the server.

mod base44;
mod cutover;
mod display;
mod follow;
mod render;
mod slots;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferry_control::{JOBS_FILE, JobDb};
use ferry_data::endpoint::redact;
use ferry_data::{
    Cancel, Checkpoints, Endpoint, JobKind, JobRecord, JobStatus, PullOptions, Selection,
    VerifyOptions,
};

use super::runtime;
use crate::cli::{DbAction, DbArgs, DbScopeArgs, JobsArgs, PullArgs, VerifyArgs};
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::output::Output;
use ferry_data::follow::{FollowOptions, SlotInfo};

use display::Display;

/// Where `db pull` puts an SQLite copy when `--to` is not given.
const DATA_DIR: &str = "data";

/// Runs a `ferry db` action.
pub fn run(args: &DbArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    match &args.action {
        DbAction::Pull(args) => pull(args, home, out),
        DbAction::Verify(args) => verify(args, home, out),
        DbAction::Follow(args) => follow::run(args, home, out),
        DbAction::Cutover(args) => cutover::run(args, home, out),
        DbAction::Slots(args) => slots::run(args, out),
        DbAction::Jobs(args) => jobs(args, home, out),
    }
}

fn pull(args: &PullArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    if let Some(spec) = ferry_data::base44::SourceSpec::parse(&args.from)? {
        return base44::pull(args, spec, home, out);
    }
    // Both URLs are checked before anything is written (no jobs.db, no data folder).
    let source = Endpoint::parse(&args.from)?;
    let to = match &args.to {
        Some(to) => {
            Endpoint::parse(to)?;
            to.clone()
        }
        None => {
            let path = default_target(home, &source)?;
            let url = format!("sqlite://{}", path.display());
            eprintln!(
                "target: {url} (no --to given: a new SQLite file under $FERRY_HOME/{DATA_DIR})"
            );
            url
        }
    };
    // --follow: the source must be followable, checked (and the slot made) before the copy.
    let follow_from = match args.follow {
        true => Some((Endpoint::parse_source(&args.from)?, Endpoint::parse(&to)?)),
        false => None,
    };
    let store = open_jobs(home)?;
    let options = PullOptions {
        selection: selection(&args.scope),
        jobs: parallelism(&args.scope),
        force: args.force,
        fresh: args.fresh,
        cancel: Cancel::default(),
        chunk_bytes: args.chunk_mb.map(|mb| i64::from(mb) << 20),
    };
    let follow_options = FollowOptions {
        selection: selection(&args.scope),
        until_caught_up: args.until_caught_up,
        ..FollowOptions::default()
    };
    let display = Display::new(JobKind::Pull, out).recording_lag(&store);
    let runtime = runtime()?;
    let mut signals = Signals::new_in(&runtime);
    // The slot first: every change committed after it is followed, so the copy's snapshot
    // (taken next) overlaps it and nothing falls in between.
    let slot = match &follow_from {
        Some((source, target)) => {
            let slot =
                runtime.block_on(ferry_data::follow::prepare(source, target, &follow_options))?;
            display.note(&format!(
                "slot {} {} on the source; changes from now on will be followed",
                slot.slot,
                if slot.created { "created" } else { "found" }
            ));
            Some(slot)
        }
        None => None,
    };
    let result = runtime.block_on(async {
        let work = ferry_data::pull(&args.from, &to, &options, &store, &display);
        // A first signal asks the workers to stop: committed chunks stay, the job is left
        // resumable.
        signals
            .run_until_second(
                work,
                &options.cancel,
                &display,
                "stopping after the chunks in flight (again to quit now; the pull stays resumable)",
            )
            .await
    });
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            display.clear();
            if let (Some(slot), Some((source, _))) = (&slot, &follow_from) {
                forget_or_keep_slot(&runtime, source, slot, &err, &args.from);
            }
            return Err(err.into());
        }
    };
    let Some((source, target)) = &follow_from else {
        display.clear();
        if out.json {
            out.print_json(&serde_json::json!({ "report": report }));
        } else {
            out.print(&render::pull(&report, &args.from, &to, out));
        }
        return Ok(ExitCode::SUCCESS);
    };
    // The copy is done: follow from the slot's position (one more job, kind `follow`).
    if !out.json {
        display.note(&render::pull(&report, &args.from, &to, out));
    }
    let followed = runtime.block_on(follow::follow_until_stopped(
        source,
        target,
        &follow_options,
        &store,
        &display,
        &mut signals,
    ));
    display.clear();
    let followed = followed?;
    if out.json {
        out.print_json(&serde_json::json!({ "report": { "pull": report, "follow": followed } }));
    } else {
        out.print(&follow::render(&followed, &args.from, &to, out));
    }
    Ok(ExitCode::SUCCESS)
}

/// After a failed `pull --follow`: a slot this run created for a pull refused as bad input is
/// dropped again (nothing was copied, nothing to resume); otherwise it is kept — the rerun
/// resumes the copy and follows from it — and the owner is told how to drop it.
fn forget_or_keep_slot(
    runtime: &tokio::runtime::Runtime,
    source: &ferry_data::endpoint::PgEndpoint,
    slot: &SlotInfo,
    err: &ferry_data::DataError,
    from: &str,
) {
    if slot.created && err.is_bad_input() {
        let dropped = runtime.block_on(ferry_data::follow::drop_slot(source, &slot.slot));
        if dropped.is_err() {
            eprintln!(
                "note: could not drop the slot {} this run created: ferry db slots --from {} --drop {}",
                slot.slot,
                shell_quote(&redact(from)),
                slot.slot
            );
        }
        return;
    }
    eprintln!(
        "note: the slot {} stays on the source (rerun the same command to resume and follow);          it keeps WAL until then: ferry db slots --from {} --drop {} removes it",
        slot.slot,
        shell_quote(&redact(from)),
        slot.slot
    );
}

fn verify(args: &VerifyArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    Endpoint::parse(&args.from)?;
    Endpoint::parse(&args.to)?;
    let store = open_jobs(home)?;
    let options = VerifyOptions {
        selection: selection(&args.scope),
        jobs: parallelism(&args.scope),
        max_keys: usize::from(args.keys).max(1),
    };
    let display = Display::new(JobKind::Verify, out);
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let work = ferry_data::verify(&args.from, &args.to, &options, &store, &display);
        let mut signals = Signals::new();
        tokio::select! {
            result = work => result,
            () = signals.next() => {
                // A verify changes nothing: record the job as interrupted and stop.
                if let Some(id) = display.job_id() {
                    let _ = store.finish(&id, JobStatus::Interrupted, &serde_json::json!({}), None);
                }
                display.clear();
                std::process::exit(130)
            }
        }
    });
    display.clear();
    let report = result?;
    if out.json {
        out.print_json(&serde_json::json!({ "report": report }));
    } else {
        out.print(&render::verify(&report, out));
    }
    if report.equal {
        return Ok(ExitCode::SUCCESS);
    }
    if !out.json {
        let differing: Vec<&str> = report
            .tables
            .iter()
            .filter(|t| !t.equal)
            .map(|t| t.table.as_str())
            .collect();
        let tables: String = differing.iter().map(|t| format!(" --table {t}")).collect();
        eprintln!(
            "{} {} of {} tables differ",
            out.paint("error:", "1;31"),
            differing.len(),
            report.tables.len()
        );
        eprintln!(
            "{} copy them again: ferry db pull --from {} --to {}{tables} --force",
            out.paint("hint:", "1;36"),
            shell_quote(&redact(&args.from)),
            shell_quote(&redact(&args.to)),
        );
    }
    Ok(ExitCode::from(EXIT_FAILED))
}

fn jobs(args: &JobsArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    // Listing never creates state: without jobs.db there are no jobs.
    let store = if home.join(JOBS_FILE).exists() {
        Some(JobDb::open(home)?)
    } else {
        None
    };
    match &args.id {
        None => {
            let jobs = match &store {
                Some(store) => store.recent(args.limit.max(1))?,
                None => Vec::new(),
            };
            let alive: Vec<Option<bool>> = jobs
                .iter()
                .map(|j| process_alive(store.as_ref(), j))
                .collect();
            if out.json {
                out.print_json(&render::jobs_json(&jobs, &alive));
            } else {
                out.print(&render::jobs(&jobs, &alive, out));
            }
        }
        Some(id) => {
            let not_found = || Failure {
                code: "job-not-found",
                message: format!("there is no job `{id}`"),
                hint: "list the recent jobs with `ferry db jobs`".into(),
                exit: EXIT_BAD_INPUT,
            };
            let store = store.ok_or_else(not_found)?;
            let job = store.job(id)?.ok_or_else(not_found)?;
            let chunks = store.chunks(id)?;
            let pid = store.pid(id)?;
            let alive = process_alive(Some(&store), &job);
            if out.json {
                out.print_json(&serde_json::json!({
                    "job": job,
                    "pid": pid,
                    "process_alive": alive,
                    "chunks": chunks,
                }));
            } else {
                out.print(&render::job(&job, &chunks, pid, alive, out));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open_jobs(home: &Path) -> Result<JobDb, Failure> {
    Ok(JobDb::open(home)?)
}

fn selection(scope: &DbScopeArgs) -> Selection {
    Selection {
        schemas: scope.schemas.clone(),
        tables: scope.tables.clone(),
    }
}

/// `--jobs`, else the CPU count between 2 and 8.
fn parallelism(scope: &DbScopeArgs) -> usize {
    match scope.jobs {
        Some(n) => usize::from(n).max(1),
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8),
    }
}

/// SIGINT and SIGTERM, caught while a job runs (a second one ends the process).
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// [`Signals::new`] from outside the runtime (the handlers then live as long as this value,
    /// across several `block_on` calls).
    fn new_in(runtime: &tokio::runtime::Runtime) -> Self {
        let _entered = runtime.enter();
        Self::new()
    }

    /// Runs `work` to its end: a first SIGINT/SIGTERM asks it to stop (`cancel`) and shows
    /// `note`, a second one ends the process at once (exit 130).
    async fn run_until_second<F: Future>(
        &mut self,
        work: F,
        cancel: &Cancel,
        display: &Display<'_>,
        note: &str,
    ) -> F::Output {
        tokio::pin!(work);
        tokio::select! {
            result = &mut work => return result,
            () = self.next() => {}
        }
        cancel.cancel();
        display.note(note);
        tokio::select! {
            result = &mut work => result,
            () = self.next() => {
                display.clear();
                std::process::exit(130)
            }
        }
    }

    /// The next SIGINT or SIGTERM (never, if neither could be caught).
    async fn next(&mut self) {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.interrupt) => {}
            () = recv(&mut self.terminate) => {}
        }
    }
}

/// `$FERRY_HOME/data/<name>.db` for a source: its database name, or — for the generic
/// `postgres` — the Supabase project ref or first host label too, so that two projects do
/// not share a file. Creates the folder.
fn default_target(home: &Path, source: &Endpoint) -> Result<PathBuf, Failure> {
    let name = match source {
        Endpoint::Postgres(pg) => {
            let db = pg
                .config
                .get_dbname()
                .or(pg.config.get_user())
                .unwrap_or("postgres");
            match (db, project_label(&pg.host, pg.config.get_user())) {
                ("postgres", Some(label)) => format!("postgres-{label}"),
                (db, _) => db.to_string(),
            }
        }
        Endpoint::Sqlite(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let mut name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches(['.', '_']).is_empty() {
        name = "postgres".into();
    }
    let dir = home.join(DATA_DIR);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|err| Failure {
                code: "io",
                message: format!("cannot create {}: {err}", dir.display()),
                hint: "check that $FERRY_HOME is writable, or pass --to".into(),
                exit: EXIT_FAILED,
            })?;
    }
    Ok(dir.join(format!("{name}.db")))
}

/// A label telling projects apart: Supabase's project ref (`db.<ref>.supabase.co`, or the
/// pooler's `postgres.<ref>` user), else the first label of a non-local host name.
fn project_label(host: &str, user: Option<&str>) -> Option<String> {
    if let Some(reference) = user.and_then(|u| u.strip_prefix("postgres."))
        && !reference.is_empty()
    {
        return Some(reference.to_string());
    }
    let labels: Vec<&str> = host.split('.').collect();
    if let ["db", reference, "supabase", "co"] = labels.as_slice() {
        return Some((*reference).to_string());
    }
    let local = host == "localhost"
        || host.starts_with('/')
        || host.parse::<std::net::IpAddr>().is_ok()
        || !host.contains('.');
    (!local).then(|| labels[0].to_string())
}

/// For a `running` job: whether the process running it still exists (Linux `/proc`; None
/// elsewhere, and for jobs that are not running).
fn process_alive(store: Option<&JobDb>, job: &JobRecord) -> Option<bool> {
    if job.status != JobStatus::Running {
        return None;
    }
    let pid = store?.pid(&job.id).ok()??;
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new(&format!("/proc/{pid}")).exists())
}

/// Whether process `pid` still runs (Linux `/proc`; an exited process its parent has not
/// reaped yet — a zombie — does not count).
fn process_exists(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: the state follows the last `)` (comm may hold spaces and parens).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    state != Some('Z')
}

/// Whether process `pid` is `ferry … db …` running a job of `kind` (its `/proc/<pid>/cmdline`;
/// a follow also runs as `ferry db pull --follow`), so a recycled pid is never signalled.
fn is_ferry_db_process(pid: u32, kind: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    ferry_api::runs_job_kind(&cmdline, kind)
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%_+=:,./-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_tell_projects_apart() {
        assert_eq!(
            project_label("db.abcdefgh.supabase.co", Some("postgres")).as_deref(),
            Some("abcdefgh")
        );
        assert_eq!(
            project_label(
                "aws-0-eu-central-1.pooler.supabase.com",
                Some("postgres.abc")
            )
            .as_deref(),
            Some("abc")
        );
        assert_eq!(project_label("127.0.0.1", Some("postgres")), None);
        assert_eq!(project_label("localhost", None), None);
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            shell_quote("postgres://u:***@h/db?sslmode=require"),
            "'postgres://u:***@h/db?sslmode=require'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

//! `ferry db pull --from base44://APP_ID --token T` and `--from base44-export:DIR`: Base44
//! records (and the files they point to) into an app's Base44 database, through
//! `ferry_data::base44`. Progress like the Postgres pull; `--json` ends with `{"report":…}`.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferry_data::JobKind;
use ferry_data::base44::{
    Base44Error, Base44Options, Base44Report, DEFAULT_API_URL, SourceSpec, pull_base44,
};

use super::display::Display;
use super::render::{secs, thousands};
use super::{Signals, open_jobs, runtime};
use crate::cli::PullArgs;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::output::Output;

/// Env var holding the token.
const TOKEN_ENV: &str = "FERRY_BASE44_TOKEN";
/// Env var holding the API's base URL.
const API_URL_ENV: &str = "FERRY_BASE44_API_URL";
/// Test knob: stop after this many committed batches, before their checkpoint.
const STOP_AFTER_ENV: &str = "FERRY_TEST_FAIL_AFTER_PAGES";

crate::failure::failure_from!(Base44Error);

/// Runs a Base44 pull.
pub(super) fn pull(
    args: &PullArgs,
    spec: SourceSpec,
    home: &Path,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let b = &args.base44;
    if args.follow || args.chunk_mb.is_some() || !args.scope.tables.is_empty() {
        return Err(Failure::usage(
            "--follow, --chunk-mb and --table are for Postgres sources",
            "name Base44 entities with --entity",
        ));
    }
    if let Some(app) = &b.app
        && !safe_name(app)
    {
        return Err(Failure::usage(
            format!("`{app}` is not an app name"),
            "app names are letters, digits, `-` and `_` (see `ferry apps`)",
        ));
    }
    let token = match &spec {
        SourceSpec::Live { .. } => Some(token(b.token.as_deref())?),
        SourceSpec::Export { .. } => None,
    };
    let target = match (&args.to, &b.app) {
        (Some(to), _) => to.clone(),
        (None, Some(app)) => {
            let dir = home.join("data").join(app);
            make_private_dir(&dir)?;
            let url = format!("sqlite://{}", dir.join("base44.sqlite3").display());
            eprintln!("target: {url} (the app's default Base44 database)");
            url
        }
        (None, None) => {
            return Err(Failure::usage(
                "a Base44 pull needs a target",
                "pass --app NAME (the app's own database) or --to URL",
            ));
        }
    };
    let options = Base44Options {
        source: spec,
        token,
        api_url: b
            .base44_url
            .clone()
            .or_else(|| std::env::var(API_URL_ENV).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
        dev: b.data_env.as_deref() == Some("dev"),
        schemas: b.entity_schemas.clone(),
        write_schemas: b.write_schemas.clone(),
        target,
        files_root: b
            .app
            .as_ref()
            .map(|app| home.join("data").join(app).join("files")),
        entities: b.entities.clone(),
        fresh: args.fresh,
        force: args.force,
        cancel: ferry_data::Cancel::default(),
        stop_after_batches: std::env::var(STOP_AFTER_ENV)
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let store = open_jobs(home)?;
    let display = Display::new(JobKind::Pull, out);
    let runtime = runtime()?;
    let mut signals = Signals::new_in(&runtime);
    let result = runtime.block_on(async {
        let work = pull_base44(&options, &store, &display);
        signals
            .run_until_second(
                work,
                &options.cancel,
                &display,
                "stopping after the batch in flight (again to quit now; the pull stays resumable)",
            )
            .await
    });
    display.clear();
    let report = result?;
    let failed_files = report.files.failed.len();
    if out.json {
        out.print_json(&serde_json::json!({ "report": report }));
    } else {
        out.print(&render(&report, out));
    }
    if failed_files > 0 {
        eprintln!(
            "{} {failed_files} file URLs could not be copied and were kept as they were (listed in the report)",
            out.paint("warning:", "1;33"),
        );
    }
    if report.ok {
        return Ok(ExitCode::SUCCESS);
    }
    let differing = report.differing();
    eprintln!(
        "{} the copy differs from the source for {}",
        out.paint("error:", "1;31"),
        differing.join(", ")
    );
    eprintln!(
        "{} rerun with --fresh --force to copy again",
        out.paint("hint:", "1;36")
    );
    Ok(ExitCode::from(EXIT_FAILED))
}

/// `--token`, else `FERRY_BASE44_TOKEN`; `-` reads one line from stdin.
fn token(given: Option<&str>) -> Result<String, Failure> {
    let given = given
        .map(str::to_string)
        .or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
    match given.as_deref() {
        Some("-") => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("Base44 token: ");
            }
            let mut line = String::new();
            stdin.lock().read_line(&mut line).map_err(|e| Failure {
                code: "io",
                message: format!("cannot read the token from stdin: {e}"),
                hint: format!("pass it with --token or {TOKEN_ENV}"),
                exit: EXIT_BAD_INPUT,
            })?;
            let token = line.trim().to_string();
            if token.is_empty() {
                return Err(Failure::usage(
                    "no token on stdin",
                    format!("pipe it in, or pass --token / {TOKEN_ENV}"),
                ));
            }
            Ok(token)
        }
        Some(token) => Ok(token.to_string()),
        None => Err(Failure::usage(
            "a live Base44 pull needs the app's token",
            format!("pass --token T, set {TOKEN_ENV}, or --token - to read it from stdin"),
        )),
    }
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn make_private_dir(dir: &PathBuf) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| Failure {
            code: "io",
            message: format!("cannot create {}: {err}", dir.display()),
            hint: "check that $FERRY_HOME is writable, or pass --to".into(),
            exit: EXIT_FAILED,
        })
}

/// The text report: one line per entity, then files, schemas and notes.
fn render(report: &Base44Report, out: &Output) -> String {
    let mut s = String::new();
    let verb = if report.already_done {
        "already pulled; verified"
    } else if report.resumed {
        "resumed and pulled"
    } else {
        "pulled"
    };
    s.push_str(&format!(
        "{} → {} ({verb}, job {}, {})\n",
        report.source,
        report.target,
        report.job,
        secs(report.seconds)
    ));
    s.push_str(&format!(
        "  {:<24} {:>10} {:>12} {:>8} {:>10}  {:<16}  {}\n",
        "entity", "records", "bytes", "seconds", "records/s", "checksum", "verified"
    ));
    for e in &report.entities {
        let ok = if e.ok {
            out.paint("ok", "32")
        } else {
            out.paint(
                &format!(
                    "DIFFERS (target {} records, {})",
                    e.target_records, e.target_checksum
                ),
                "1;31",
            )
        };
        s.push_str(&format!(
            "  {:<24} {:>10} {:>12} {:>8.2} {:>10}  {:<16}  {ok}\n",
            format!("{} ({})", e.entity, e.schema),
            thousands(e.records),
            thousands(e.bytes),
            e.seconds,
            thousands(e.records_per_sec.round() as u64),
            e.checksum,
        ));
    }
    let f = &report.files;
    if f.moved {
        s.push_str(&format!(
            "files: {} downloaded, {} values rewritten, {} could not be copied\n",
            f.downloaded,
            f.rewritten,
            f.failed.len()
        ));
        for fail in &f.failed {
            s.push_str(&format!(
                "  {} {} `{}`: {} ({})\n",
                fail.entity, fail.id, fail.field, fail.url, fail.cause
            ));
        }
    } else {
        s.push_str("files: not moved (no --app)\n");
    }
    if !report.inferred.is_empty() {
        s.push_str(&format!(
            "inferred schemas: {}{}\n",
            report.inferred.join(", "),
            report
                .schemas_written
                .as_ref()
                .map(|d| format!(" (written to {})", d.display()))
                .unwrap_or_else(|| " (--write-schemas DIR keeps them)".into())
        ));
    }
    for m in &report.mixed {
        s.push_str(&format!(
            "  {}.{}: values of several kinds ({}), kept undeclared\n",
            m.entity,
            m.field,
            m.kinds.join(", ")
        ));
    }
    for note in &report.notes {
        s.push_str(&format!("note: {note}\n"));
    }
    s
}

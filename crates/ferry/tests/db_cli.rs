//! `ferry db` through the real binary, without a database server: URL errors, an unreachable
//! source, and the job list over a `jobs.db` written here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_control::JobDb;
use ferry_data::{Checkpoints, ChunkDone, JobKind, JobStatus};

/// A run's own FERRY_HOME, HOME and TMPDIR.
struct Sandbox {
    dir: tempfile::TempDir,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["ferry", "home", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        Sandbox { dir }
    }

    fn ferry_home(&self) -> PathBuf {
        self.dir.path().join("ferry")
    }

    fn ferry(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(self.dir.path())
            .env("FERRY_HOME", self.ferry_home())
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("NO_COLOR", "1")
            .env_remove("FERRY_LOG")
            .output()
            .expect("ferry runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Whatever the run left in FERRY_HOME.
    fn home_listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.ferry_home())
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Exit 2, exactly one `error:` and one `hint:` line, no panic.
fn assert_bad_input(run: &Run) {
    assert_eq!(run.code, Some(2), "exit code; stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "two lines on stderr, got:\n{}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[1].starts_with("hint: "), "{}", lines[1]);
}

/// The last stdout line of a `--json` run, parsed.
fn last_json(run: &Run) -> serde_json::Value {
    let line = run.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", run.stdout))
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("copy.db").display())
}

#[test]
fn a_mysql_source_is_bad_input() {
    let sb = Sandbox::new();
    let run = sb.ferry(&[
        "db",
        "pull",
        "--from",
        "mysql://x",
        "--to",
        "sqlite:///tmp/x.db",
    ]);
    assert_bad_input(&run);
    assert!(run.stderr.contains("mysql://x"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        sb.home_listing(),
        Vec::<String>::new(),
        "bad input writes nothing"
    );
}

#[test]
fn a_bad_target_is_bad_input() {
    let sb = Sandbox::new();
    let run = sb.ferry(&[
        "--json",
        "db",
        "verify",
        "--from",
        "postgres://u:pw@127.0.0.1:1/db",
        "--to",
        "mysql://y",
    ]);
    assert_bad_input(&run);
    assert_eq!(last_json(&run)["error"]["code"], "bad-url");
}

#[test]
fn the_transaction_pooler_is_refused_without_showing_the_password() {
    let sb = Sandbox::new();
    let url = "postgres://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres";
    // Without --to: the default target is never computed for a refused source.
    let run = sb.ferry(&["--json", "db", "pull", "--from", url]);
    assert_bad_input(&run);
    let doc = last_json(&run);
    assert_eq!(doc["error"]["code"], "transaction-pooler");
    assert_eq!(doc["error"]["exit"], 2);
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one JSON line: {}",
        run.stdout
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(":pw@"), "password printed: {text}");
        assert!(
            text.contains("postgres.abc:***@"),
            "redacted URL shown: {text}"
        );
    }
    assert_eq!(sb.home_listing(), Vec::<String>::new());
}

#[test]
fn an_unreachable_source_fails_fast() {
    let sb = Sandbox::new();
    let started = Instant::now();
    let to = sqlite_url(sb.dir.path());
    let run = sb.ferry(&[
        "--json",
        "db",
        "pull",
        "--from",
        "postgres://u:pw@127.0.0.1:1/db",
        "--to",
        &to,
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_bad_input(&run);
    assert_eq!(last_json(&run)["error"]["code"], "unreachable");
    assert!(!run.stdout.contains(":pw@") && !run.stderr.contains(":pw@"));
}

#[test]
fn no_jobs_on_an_empty_home() {
    let sb = Sandbox::new();
    let run = sb.ferry(&["--json", "db", "jobs"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(doc, serde_json::json!({ "jobs": [] }));
    assert_eq!(
        sb.home_listing(),
        Vec::<String>::new(),
        "listing creates no jobs.db"
    );

    let run = sb.ferry(&["db", "jobs"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.starts_with("no jobs yet"), "{}", run.stdout);

    let run = sb.ferry(&["--json", "db", "jobs", "job_000000000000"]);
    assert_bad_input(&run);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.stdout).expect("JSON")["error"]["code"],
        "job-not-found"
    );
}

#[test]
fn jobs_written_by_another_process_are_listed() {
    let sb = Sandbox::new();
    let db = JobDb::open(&sb.ferry_home()).expect("jobs.db");
    let done = db
        .create(
            JobKind::Verify,
            "k2",
            "postgres://u:***@h/db → sqlite:///x.db",
        )
        .expect("create");
    db.finish(
        &done.id,
        JobStatus::Succeeded,
        &serde_json::json!({"equal": true}),
        None,
    )
    .expect("finish");
    let pull = db
        .create(
            JobKind::Pull,
            "k1",
            "postgres://u:***@h/db → sqlite:///x.db",
        )
        .expect("create");
    db.set_phase(&pull.id, "copy").expect("phase");
    for chunk in 0..3 {
        db.chunk_done(
            &pull.id,
            &ChunkDone {
                table: "public.todos".into(),
                chunk,
                rows: 1_000,
                bytes: 50_000,
            },
        )
        .expect("chunk");
    }
    db.progress(&pull.id, "public.todos", 3_000, 150_000)
        .expect("progress");
    db.finish(
        &pull.id,
        JobStatus::Interrupted,
        &serde_json::json!({}),
        Some("interrupted"),
    )
    .expect("finish");

    let run = sb.ferry(&["--json", "db", "jobs"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let jobs = doc["jobs"].as_array().expect("array");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["id"], pull.id.as_str(), "newest first");
    assert_eq!(jobs[0]["status"], "interrupted");
    assert_eq!(jobs[1]["status"], "succeeded");

    let run = sb.ferry(&["db", "jobs"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains(&pull.id) && run.stdout.contains("interrupted"),
        "{}",
        run.stdout
    );

    let run = sb.ferry(&["db", "jobs", &pull.id]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("public.todos"), "{}", run.stdout);
    assert!(run.stdout.contains("3,000"), "{}", run.stdout);
    assert!(run.stdout.contains("resume"), "{}", run.stdout);

    let run = sb.ferry(&["--json", "db", "jobs", &pull.id]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(doc["chunks"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["job"]["progress"]["public.todos"][0], 3_000);
}

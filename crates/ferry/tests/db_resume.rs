//! `ferry db pull` interrupted by signals mid-table — SIGINT (graceful), then SIGKILL (no
//! cleanup at all) — then rerun: the copy resumes, keeps committed chunks, and `ferry db
//! verify` says equal with no duplicated row.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ferry_test::pg::{Cluster, skip_if_unavailable};

fn ferry(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args)
        .env("FERRY_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_LOG")
        // A pause after each committed chunk, so the signal lands mid-table.
        .env("FERRY_THROTTLE_MS", "150");
    cmd
}

/// A running pull whose JSON lines are read on a thread (the pipe stays open to the end).
struct Pull {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Pull {
    fn spawn(mut cmd: Command) -> Pull {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Pull {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `chunks` chunks of `table` were committed.
    fn wait_for_chunks(&mut self, table: &str, chunks: usize) {
        let mut count = 0;
        while count < chunks {
            let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(60)) else {
                panic!(
                    "the pull ended before {chunks} chunks of {table}: {:?}",
                    self.seen
                );
            };
            if line.contains("\"event\":\"chunk\"") && line.contains(table) {
                count += 1;
            }
            self.seen.push(line);
        }
    }

    /// Waits for the exit; returns the code and every line printed.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.child.wait().expect("wait");
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen)
    }
}

fn pull_args<'a>(from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "db",
        "pull",
        "--from",
        from,
        "--to",
        to,
        "--jobs",
        "2",
        "--chunk-mb",
        "1",
        "--json",
    ]
}

#[test]
fn a_pull_killed_by_signals_resumes_and_verifies_equal() {
    if skip_if_unavailable("db_resume") {
        return;
    }
    let pg = Cluster::start().expect("cluster");
    pg.create_database("src").expect("src");
    pg.create_database("dst").expect("dst");
    let fixture: PathBuf = ferry_test::workspace_root().join("tests/fixtures/db/supabase.sql");
    pg.psql_file("src", &fixture).expect("fixture");
    pg.psql(
        "src",
        "insert into public.todos (id, project_id, user_id, title, payload) \
         select g, 1, '11111111-1111-4111-8111-111111111111', 'bulk ' || g, \
                jsonb_build_object('n', g, 'pad', repeat('x', 300)) \
         from generate_series(10001, 90000) g; analyze",
    )
    .expect("bulk rows");
    let home = tempfile::tempdir().expect("home");
    let (from, to) = (pg.url("src"), pg.url("dst"));

    // 1. SIGINT after a few chunks: workers stop, chunks in flight roll back, exit 1.
    let mut pull = Pull::spawn(ferry(home.path(), &pull_args(&from, &to)));
    pull.wait_for_chunks("public.todos", 3);
    let status = Command::new("kill")
        .args(["-INT", &pull.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (code, lines) = pull.finish();
    assert_eq!(code, Some(1), "{lines:?}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("\"code\":\"interrupted\"")),
        "{lines:?}"
    );
    let rows_after_int: i64 = pg
        .psql("dst", "select count(*) from public.todos")
        .expect("count")
        .parse()
        .expect("n");
    assert!(
        rows_after_int > 0 && rows_after_int < 82_500,
        "{rows_after_int}"
    );

    // 2. Resume, then SIGKILL after a few more chunks: no cleanup at all.
    let mut pull = Pull::spawn(ferry(home.path(), &pull_args(&from, &to)));
    pull.wait_for_chunks("public.todos", 3);
    assert!(
        pull.seen
            .iter()
            .any(|l| l.contains("\"event\":\"job\"") && l.contains("\"resumed\":true")),
        "{:?}",
        pull.seen
    );
    pull.child.kill().expect("SIGKILL");
    pull.finish();

    // 3. Resume to the end.
    let out = ferry(home.path(), &pull_args(&from, &to))
        .env("FERRY_THROTTLE_MS", "0")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout.lines().last().expect("report line");
    let report: serde_json::Value = serde_json::from_str(report).expect("json");
    assert_eq!(report["report"]["resumed"], true, "{report}");
    let todos = report["report"]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "public.todos")
        .cloned()
        .expect("todos");
    assert!(todos["chunks_kept"].as_u64().expect("kept") >= 6, "{todos}");

    // Equal, and no row twice.
    let out = ferry(
        home.path(),
        &["db", "verify", "--from", &from, "--to", &to, "--json"],
    )
    .output()
    .expect("verify");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        pg.psql("dst", "select count(*) from public.todos")
            .expect("count"),
        "82500"
    );
    assert_eq!(
        pg.psql(
            "dst",
            "select count(*) - count(distinct id) from public.todos"
        )
        .expect("dups"),
        "0"
    );
    // The job list tells the story: one pull job, succeeded.
    let out = ferry(home.path(), &["db", "jobs", "--json"])
        .output()
        .expect("jobs");
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("jobs json");
    let pulls: Vec<&serde_json::Value> = jobs["jobs"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|j| j["kind"] == "pull")
        .collect();
    assert_eq!(pulls.len(), 1, "{jobs}");
    assert_eq!(pulls[0]["status"], "succeeded", "{jobs}");
}

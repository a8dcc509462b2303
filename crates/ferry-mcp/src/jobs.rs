//! Deploy jobs: each runs `ferry deploy --json <path>` as a child process (inspect, build, hash,
//! upload, record, activate, probe — exactly the CLI's deploy), so the `deploy` tool answers a
//! job id at once and `job_status` reads the job's state. Jobs live in the memory of the process
//! that serves MCP (`ferry mcp`, or the server for `/mcp`) and are seen only by the credentials
//! that started them.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::ToolError;

/// Most jobs kept; the oldest finished ones go first.
const MAX_JOBS: usize = 200;
/// Lines of the child's stderr kept per job.
const TAIL_LINES: usize = 20;
/// Most bytes of the child's JSON report read.
const MAX_REPORT_BYTES: u64 = 4 * 1024 * 1024;

/// How deploy children are started.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The `ferry` executable.
    pub exe: PathBuf,
    /// Environment added to the child's (`FERRY_HOME`, `FERRY_SERVER`…).
    pub env: Vec<(String, String)>,
    /// Environment removed from the child's.
    pub remove_env: Vec<String>,
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The deploy runs.
    Running,
    /// The release is live.
    Succeeded,
    /// It stopped with an error (nothing live changed unless the error says so).
    Failed,
}

/// One deploy job, as `job_status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Its id (`dep_…`).
    pub id: String,
    /// `deploy`.
    pub kind: &'static str,
    /// The source folder.
    pub path: String,
    /// Its state.
    pub state: State,
    /// What it does now: `running`, then `done` or `failed`.
    pub phase: String,
    /// Unix ms it started.
    pub started_at: u64,
    /// Milliseconds it has run (or ran).
    pub elapsed_ms: u64,
    /// The deploy's report once it succeeded (app, release id, previous, url, phases…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `{code, message, hint}` once it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The last lines the deploy wrote on stderr (build output, warnings).
    pub log_tail: Vec<String>,
    #[serde(skip)]
    owner: String,
    #[serde(skip)]
    started: Instant,
    #[serde(skip)]
    finished: Option<Instant>,
}

/// The jobs of one MCP server.
#[derive(Debug, Clone)]
pub struct Jobs {
    runner: Runner,
    jobs: Arc<Mutex<HashMap<String, Job>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("dep_{hex}")
}

impl Jobs {
    /// No jobs yet; deploys will run with `runner`.
    pub fn new(runner: Runner) -> Self {
        Jobs {
            runner,
            jobs: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `ferry deploy --json <path>` for `owner` with `extra_env` (the caller's token on
    /// HTTP); answers the job at once.
    pub fn start_deploy(
        &self,
        owner: &str,
        path: &str,
        extra_env: &[(String, String)],
    ) -> Result<Job, ToolError> {
        let mut command = tokio::process::Command::new(&self.runner.exe);
        command
            .args(["deploy", "--json", "--", path])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .kill_on_drop(false);
        for name in &self.runner.remove_env {
            command.env_remove(name);
        }
        for (name, value) in self.runner.env.iter().chain(extra_env) {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(|err| {
            ToolError::new(
                "deploy-not-started",
                format!("cannot run `{} deploy`: {err}", self.runner.exe.display()),
                "check that the ferry executable is still installed",
            )
        })?;
        let job = Job {
            id: new_id(),
            kind: "deploy",
            path: path.to_string(),
            state: State::Running,
            phase: "running".into(),
            started_at: now_ms(),
            elapsed_ms: 0,
            result: None,
            error: None,
            log_tail: Vec::new(),
            owner: owner.to_string(),
            started: Instant::now(),
            finished: None,
        };
        {
            let mut jobs = self.lock();
            if jobs.len() >= MAX_JOBS {
                let oldest = jobs
                    .values()
                    .filter(|j| j.state != State::Running)
                    .min_by_key(|j| j.started_at)
                    .map(|j| j.id.clone());
                if let Some(id) = oldest {
                    jobs.remove(&id);
                }
            }
            jobs.insert(job.id.clone(), job.clone());
        }
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let this = self.clone();
        let id = job.id.clone();
        tokio::spawn(async move {
            let tail = Arc::new(Mutex::new(VecDeque::new()));
            let reader = stderr.map(|stderr| {
                let tail = tail.clone();
                let this = this.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if t.len() == TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(line.chars().take(500).collect::<String>());
                        let snapshot: Vec<String> = t.iter().cloned().collect();
                        drop(t);
                        if let Some(job) = this.lock().get_mut(&id) {
                            job.log_tail = snapshot;
                        }
                    }
                })
            });
            let mut out = Vec::new();
            if let Some(stdout) = stdout {
                let _ = stdout.take(MAX_REPORT_BYTES).read_to_end(&mut out).await;
            }
            let status = child.wait().await;
            if let Some(reader) = reader {
                let _ = reader.await;
            }
            let doc: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
            let mut jobs = this.lock();
            let Some(job) = jobs.get_mut(&id) else { return };
            job.finished = Some(Instant::now());
            match status {
                Ok(s) if s.success() && doc.is_object() && doc.get("error").is_none() => {
                    job.state = State::Succeeded;
                    job.phase = "done".into();
                    job.result = Some(doc);
                }
                other => {
                    job.state = State::Failed;
                    job.phase = "failed".into();
                    job.error = Some(match doc.get("error") {
                        Some(e) => e.clone(),
                        None => serde_json::json!({
                            "code": "deploy-failed",
                            "message": match other {
                                Ok(s) => format!("`ferry deploy` ended with {s}"),
                                Err(e) => format!("`ferry deploy` could not be waited for: {e}"),
                            },
                            "hint": "read log_tail",
                        }),
                    });
                }
            }
        });
        Ok(job)
    }

    /// The job `id` if `owner` started it (anyone else: not found).
    pub fn get(&self, owner: &str, id: &str) -> Option<Job> {
        let jobs = self.lock();
        let job = jobs.get(id).filter(|j| j.owner == owner)?;
        let mut job = job.clone();
        let end = job.finished.unwrap_or_else(Instant::now);
        job.elapsed_ms = end.duration_since(job.started).as_millis() as u64;
        Some(job)
    }

    /// The jobs `owner` started, newest first.
    pub fn list(&self, owner: &str) -> Vec<Job> {
        let ids: Vec<String> = self
            .lock()
            .values()
            .filter(|j| j.owner == owner)
            .map(|j| j.id.clone())
            .collect();
        let mut jobs: Vec<Job> = ids.iter().filter_map(|id| self.get(owner, id)).collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at));
        jobs
    }
}

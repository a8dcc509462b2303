//! Jobs and checkpoints: every pull and verify is a job (id, phase, per-table progress, exit
//! status) recorded through [`Checkpoints`], a small trait the caller implements over its own
//! state (the CLI: `$FERRY_HOME/jobs.db`). `ferry-data` knows nothing of that state.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// `db pull`.
    Pull,
    /// `db verify`.
    Verify,
    /// `db follow`: logical replication applied to the target until stopped.
    Follow,
}

impl JobKind {
    /// `pull`, `verify` or `follow`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Pull => "pull",
            JobKind::Verify => "verify",
            JobKind::Follow => "follow",
        }
    }

    /// Parses [`JobKind::as_str`].
    pub fn parse(s: &str) -> Option<JobKind> {
        Some(match s {
            "pull" => JobKind::Pull,
            "verify" => JobKind::Verify,
            "follow" => JobKind::Follow,
            _ => return None,
        })
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Running (or its process died: then it is resumable).
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error (resumable for pulls).
    Failed,
    /// Stopped by a signal (resumable).
    Interrupted,
    /// Replaced by a `--fresh` run; never resumed.
    Abandoned,
}

impl JobStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Abandoned => "abandoned",
        }
    }

    /// Parses [`JobStatus::as_str`].
    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "interrupted" => JobStatus::Interrupted,
            "abandoned" => JobStatus::Abandoned,
            _ => return None,
        })
    }
}

/// A recorded job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id (`job_` + 12 hex).
    pub id: String,
    /// Pull or verify.
    pub kind: JobKind,
    /// Identity of the work (source, target, selection): a rerun with the same key resumes.
    pub key: String,
    /// Human description (`source → target`, URLs redacted).
    pub description: String,
    /// Status.
    pub status: JobStatus,
    /// Current phase (`schema`, `copy`, `indexes`, `verify`, `done`…).
    pub phase: String,
    /// The chunk plan, fixed at the first run so a resume redoes the same chunks.
    pub plan: Option<serde_json::Value>,
    /// Per-table progress: rows and bytes so far.
    pub progress: HashMap<String, (u64, u64)>,
    /// The final report.
    pub summary: Option<serde_json::Value>,
    /// The error, when failed.
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A committed chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDone {
    /// `schema.table`.
    pub table: String,
    /// Chunk number within the table.
    pub chunk: u32,
    /// Rows written.
    pub rows: u64,
    /// Bytes read from the source.
    pub bytes: u64,
}

/// Where jobs and checkpoints are kept. Errors are strings: the implementation's own.
pub trait Checkpoints: Send + Sync {
    /// Records a new running job.
    fn create(&self, kind: JobKind, key: &str, description: &str) -> Result<JobRecord, String>;
    /// The newest job with this key that did not finish (running, failed or interrupted).
    fn resumable(&self, key: &str) -> Result<Option<JobRecord>, String>;
    /// Marks every unfinished job with this key abandoned (`--fresh`).
    fn abandon(&self, key: &str) -> Result<(), String>;
    /// Stores the chunk plan.
    fn set_plan(&self, job: &str, plan: &serde_json::Value) -> Result<(), String>;
    /// Records the phase (and marks the job running again on resume).
    fn set_phase(&self, job: &str, phase: &str) -> Result<(), String>;
    /// Records a committed chunk.
    fn chunk_done(&self, job: &str, chunk: &ChunkDone) -> Result<(), String>;
    /// The committed chunks of a job.
    fn chunks_done(&self, job: &str) -> Result<Vec<ChunkDone>, String>;
    /// Forgets a table's committed chunks (its copy is redone from scratch).
    fn reset_table(&self, job: &str, table: &str) -> Result<(), String>;
    /// Per-table progress (called at most a few times a second per table).
    fn progress(&self, job: &str, table: &str, rows: u64, bytes: u64) -> Result<(), String>;
    /// Records the end of a job.
    fn finish(
        &self,
        job: &str,
        status: JobStatus,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<(), String>;
    /// The newest jobs, newest first.
    fn list(&self, limit: usize) -> Result<Vec<JobRecord>, String>;
    /// One job.
    fn get(&self, job: &str) -> Result<Option<JobRecord>, String>;
}

/// Jobs, and committed chunks by job id.
type MemoryState = (Vec<JobRecord>, Vec<(String, ChunkDone)>);

/// Checkpoints kept in memory (tests, and library users without state).
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    inner: Mutex<MemoryState>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A fresh job id.
pub fn new_job_id() -> String {
    let mut bytes = [0u8; 6];
    let seed = format!(
        "{:?}{}{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    let hash = crate::canon::hash64(seed.as_bytes()).to_be_bytes();
    bytes.copy_from_slice(&hash[..6]);
    format!(
        "job_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl MemoryCheckpoints {
    fn with_job<T>(&self, job: &str, f: impl FnOnce(&mut JobRecord) -> T) -> Result<T, String> {
        let mut guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        let record = guard
            .0
            .iter_mut()
            .find(|r| r.id == job)
            .ok_or_else(|| format!("no job {job}"))?;
        record.updated_at = now();
        Ok(f(record))
    }
}

impl Checkpoints for MemoryCheckpoints {
    fn create(&self, kind: JobKind, key: &str, description: &str) -> Result<JobRecord, String> {
        let record = JobRecord {
            id: new_job_id(),
            kind,
            key: key.into(),
            description: description.into(),
            status: JobStatus::Running,
            phase: "start".into(),
            plan: None,
            progress: HashMap::new(),
            summary: None,
            error: None,
            created_at: now(),
            updated_at: now(),
        };
        self.inner
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .0
            .push(record.clone());
        Ok(record)
    }

    fn resumable(&self, key: &str) -> Result<Option<JobRecord>, String> {
        let guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        Ok(guard
            .0
            .iter()
            .rev()
            .find(|r| {
                r.key == key
                    && matches!(
                        r.status,
                        JobStatus::Running | JobStatus::Failed | JobStatus::Interrupted
                    )
            })
            .cloned())
    }

    fn abandon(&self, key: &str) -> Result<(), String> {
        let mut guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        for r in guard
            .0
            .iter_mut()
            .filter(|r| r.key == key && r.status != JobStatus::Succeeded)
        {
            r.status = JobStatus::Abandoned;
        }
        Ok(())
    }

    fn set_plan(&self, job: &str, plan: &serde_json::Value) -> Result<(), String> {
        self.with_job(job, |r| r.plan = Some(plan.clone()))
    }

    fn set_phase(&self, job: &str, phase: &str) -> Result<(), String> {
        self.with_job(job, |r| {
            r.phase = phase.into();
            r.status = JobStatus::Running;
        })
    }

    fn chunk_done(&self, job: &str, chunk: &ChunkDone) -> Result<(), String> {
        let mut guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        guard
            .1
            .retain(|(j, c)| !(j == job && c.table == chunk.table && c.chunk == chunk.chunk));
        guard.1.push((job.to_string(), chunk.clone()));
        Ok(())
    }

    fn chunks_done(&self, job: &str) -> Result<Vec<ChunkDone>, String> {
        let guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        Ok(guard
            .1
            .iter()
            .filter(|(j, _)| j == job)
            .map(|(_, c)| c.clone())
            .collect())
    }

    fn reset_table(&self, job: &str, table: &str) -> Result<(), String> {
        let mut guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        guard.1.retain(|(j, c)| !(j == job && c.table == table));
        Ok(())
    }

    fn progress(&self, job: &str, table: &str, rows: u64, bytes: u64) -> Result<(), String> {
        self.with_job(job, |r| {
            r.progress.insert(table.into(), (rows, bytes));
        })
    }

    fn finish(
        &self,
        job: &str,
        status: JobStatus,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<(), String> {
        self.with_job(job, |r| {
            r.status = status;
            r.summary = Some(summary.clone());
            r.error = error.map(String::from);
            if status == JobStatus::Succeeded {
                r.phase = "done".into();
            }
        })
    }

    fn list(&self, limit: usize) -> Result<Vec<JobRecord>, String> {
        let guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        Ok(guard.0.iter().rev().take(limit).cloned().collect())
    }

    fn get(&self, job: &str) -> Result<Option<JobRecord>, String> {
        let guard = self.inner.lock().map_err(|_| "poisoned".to_string())?;
        Ok(guard.0.iter().find(|r| r.id == job).cloned())
    }
}

/// What a running job reports as it goes (rendered by the CLI as a progress display or as
/// `--json` lines). New kinds of events may be added.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job has an id (new or resumed).
    Job {
        /// Job id.
        id: String,
        /// Whether an earlier run is resumed.
        resumed: bool,
        /// Chunks already committed by earlier runs.
        chunks_kept: usize,
    },
    /// A new phase.
    Phase {
        /// `connect`, `schema`, `copy`, `indexes`, `constraints`, `finish`, `verify`.
        phase: String,
    },
    /// A table's copy or check starts.
    TableStart {
        /// `schema.table`.
        table: String,
        /// Estimated rows.
        rows: u64,
        /// Estimated bytes.
        bytes: u64,
    },
    /// Progress of a table.
    Progress {
        /// `schema.table`.
        table: String,
        /// Rows so far.
        rows: u64,
        /// Bytes so far.
        bytes: u64,
    },
    /// A chunk was committed on the target.
    Chunk {
        /// `schema.table`.
        table: String,
        /// Chunk number.
        chunk: u32,
        /// Rows in the chunk.
        rows: u64,
    },
    /// A table is done.
    TableDone {
        /// `schema.table`.
        table: String,
        /// Rows.
        rows: u64,
        /// Bytes.
        bytes: u64,
        /// Seconds.
        secs: f64,
    },
    /// A follow's lag (at most about once a second, and when it changes state).
    Lag {
        /// WAL bytes between the source's current position and the slot's confirmed one.
        bytes: u64,
        /// Seconds since the commit of the oldest change not yet applied (0 when caught up).
        seconds: f64,
        /// Transactions applied by this run so far.
        transactions: u64,
        /// Row changes applied by this run so far.
        rows: u64,
    },
    /// A batch of source transactions was committed on the target.
    Applied {
        /// Transactions in the batch.
        transactions: u64,
        /// Row changes in the batch (a truncate counts as one).
        rows: u64,
        /// The source LSN the slot now confirms (`X/X`).
        lsn: String,
    },
    /// Something worth telling (skipped objects, resume notes).
    Note {
        /// The message.
        message: String,
    },
}

/// Receives [`Event`]s.
pub trait Observer: Send + Sync {
    /// Called from any task; must not block for long.
    fn event(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: &Event) {}
}

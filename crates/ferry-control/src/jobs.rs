//! [`JobDb`]: data jobs (`ferry db pull`, `ferry db verify`) and their checkpoints in
//! `$FERRY_HOME/jobs.db`.
//!
//! A file of its own, not `ferry.db`: a job runs in whichever process started it (the CLI for
//! `ferry db pull`) while only the server opens `ferry.db`. The server opens `jobs.db` too,
//! later, to list jobs; WAL mode and a busy timeout let both hold it at once. The schema is
//! versioned with `PRAGMA user_version`: [`SCHEMA`] lists one SQL batch per version, append
//! only.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_data::job::{Checkpoints, ChunkDone, JobKind, JobRecord, JobStatus, new_job_id};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::ControlError;

/// The job store's file name inside `$FERRY_HOME`.
pub const JOBS_FILE: &str = "jobs.db";

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one batch per `user_version` (version = index + 1). Append only.
const SCHEMA: &[&str] = &["
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    plan        TEXT,
    summary     TEXT,
    error       TEXT,
    pid         INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX jobs_by_key ON jobs (key, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE TABLE job_chunks (
    job        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    chunk      INTEGER NOT NULL,
    rows       INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    PRIMARY KEY (job, table_name, chunk)
);
CREATE TABLE job_progress (
    job        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    PRIMARY KEY (job, table_name)
);
"];

/// Statuses a job can be resumed from.
const UNFINISHED: &str = "('running', 'failed', 'interrupted')";

const COLUMNS: &str =
    "id, kind, key, description, status, phase, plan, summary, error, created_at, updated_at";

/// Data jobs and their checkpoints: `$FERRY_HOME/jobs.db`. Implements
/// [`ferry_data::Checkpoints`]; one connection behind a mutex, so it is `Send + Sync`. Any
/// number of handles (in any number of processes) may be open on the same file.
///
/// `finish` sets the phase to `done` only for a job that succeeded: a failed or interrupted
/// job keeps the phase it stopped in. Each job records the id of the process that last ran
/// it ([`JobDb::pid`]), so a `running` job whose process is gone can be told apart.
pub struct JobDb {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl fmt::Debug for JobDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl JobDb {
    /// Opens (creating) `<home>/jobs.db` (and `<home>`, mode 0700), in WAL mode with a 5 s
    /// busy timeout, and brings its schema up to date.
    ///
    /// Fails with `jobs-db` when SQLite fails, `io` when the folder or file cannot be
    /// created, `migration-unknown` when a newer ferry wrote the file.
    pub fn open(home: &Path) -> Result<Self, ControlError> {
        crate::control::ensure_home(home)?;
        let path = home.join(JOBS_FILE);
        crate::control::precreate_private(&path)?;
        let err = |source| ControlError::Jobs {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "could not switch to WAL (journal mode stays `{mode}`)"
                )),
            )));
        }
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(err)?;
        migrate(&mut conn, &path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The process that last ran the job (set at creation and on every phase change).
    pub fn pid(&self, job: &str) -> Result<Option<u32>, ControlError> {
        let conn = self.lock();
        let pid: Option<Option<i64>> = conn
            .query_row("SELECT pid FROM jobs WHERE id = ?1", [job], |r| r.get(0))
            .optional()
            .map_err(|e| self.error(e))?;
        Ok(pid.flatten().and_then(|p| u32::try_from(p).ok()))
    }

    /// The committed chunks of a job, as [`Checkpoints::chunks_done`] but with a typed error.
    pub fn chunks(&self, job: &str) -> Result<Vec<ChunkDone>, ControlError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT table_name, chunk, rows, bytes FROM job_chunks WHERE job = ?1
                 ORDER BY table_name, chunk",
            )
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([job], |r| {
                Ok(ChunkDone {
                    table: r.get(0)?,
                    chunk: r.get(1)?,
                    rows: to_u64(r.get(2)?),
                    bytes: to_u64(r.get(3)?),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// The newest jobs, newest first, as [`Checkpoints::list`] but with a typed error.
    pub fn recent(&self, limit: usize) -> Result<Vec<JobRecord>, ControlError> {
        let conn = self.lock();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql =
            format!("SELECT {COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1");
        let mut jobs = query_jobs(&conn, &sql, params![limit]).map_err(|e| self.error(e))?;
        for job in &mut jobs {
            job.progress = load_progress(&conn, &job.id).map_err(|e| self.error(e))?;
        }
        Ok(jobs)
    }

    /// One job, as [`Checkpoints::get`] but with a typed error.
    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, ControlError> {
        let conn = self.lock();
        self.one(
            &conn,
            &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
            params![id],
        )
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-written state: every write is one
        // statement or one transaction.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, source: rusqlite::Error) -> ControlError {
        ControlError::Jobs {
            path: self.path.clone(),
            source,
        }
    }

    fn one(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<JobRecord>, ControlError> {
        let mut jobs = query_jobs(conn, sql, params).map_err(|e| self.error(e))?;
        let Some(mut job) = jobs.pop() else {
            return Ok(None);
        };
        job.progress = load_progress(conn, &job.id).map_err(|e| self.error(e))?;
        Ok(Some(job))
    }

    /// Runs one write statement that must touch an existing job.
    fn update(
        &self,
        job: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), ControlError> {
        let conn = self.lock();
        let changed = conn.execute(sql, params).map_err(|e| self.error(e))?;
        if changed == 0 {
            return Err(no_job(job));
        }
        Ok(())
    }

    fn create_job(
        &self,
        kind: JobKind,
        key: &str,
        description: &str,
    ) -> Result<JobRecord, ControlError> {
        let now = now();
        let record = JobRecord {
            id: new_job_id(),
            kind,
            key: key.to_owned(),
            description: description.to_owned(),
            status: JobStatus::Running,
            phase: "start".to_owned(),
            plan: None,
            progress: HashMap::new(),
            summary: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        let conn = self.lock();
        conn.execute(
            "INSERT INTO jobs (id, kind, key, description, status, phase, pid, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                record.id,
                kind.as_str(),
                key,
                description,
                record.status.as_str(),
                record.phase,
                std::process::id(),
                now
            ],
        )
        .map_err(|e| self.error(e))?;
        Ok(record)
    }

    fn resumable_job(&self, key: &str) -> Result<Option<JobRecord>, ControlError> {
        let conn = self.lock();
        self.one(
            &conn,
            &format!(
                "SELECT {COLUMNS} FROM jobs WHERE key = ?1 AND status IN {UNFINISHED}
                 ORDER BY created_at DESC, rowid DESC LIMIT 1"
            ),
            params![key],
        )
    }

    fn abandon_key(&self, key: &str) -> Result<(), ControlError> {
        let conn = self.lock();
        conn.execute(
            &format!(
                "UPDATE jobs SET status = 'abandoned', updated_at = ?2
                 WHERE key = ?1 AND status IN {UNFINISHED}"
            ),
            params![key, now()],
        )
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    fn record_chunk(&self, job: &str, chunk: &ChunkDone) -> Result<(), ControlError> {
        self.touch_then(
            job,
            "INSERT INTO job_chunks (job, table_name, chunk, rows, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (job, table_name, chunk) DO UPDATE SET rows = excluded.rows, bytes = excluded.bytes",
            params![job, chunk.table, chunk.chunk, to_i64(chunk.rows), to_i64(chunk.bytes)],
        )
    }

    /// In one immediate transaction: marks the job updated (an error if it does not exist) and
    /// runs `statement`.
    fn touch_then(
        &self,
        job: &str,
        statement: &str,
        args: impl rusqlite::Params,
    ) -> Result<(), ControlError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let touched = tx
            .execute(
                "UPDATE jobs SET updated_at = ?2 WHERE id = ?1",
                params![job, now()],
            )
            .map_err(|e| self.error(e))?;
        if touched == 0 {
            return Err(no_job(job));
        }
        tx.execute(statement, args).map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))
    }

    fn record_progress(
        &self,
        job: &str,
        table: &str,
        rows: u64,
        bytes: u64,
    ) -> Result<(), ControlError> {
        self.touch_then(
            job,
            "INSERT INTO job_progress (job, table_name, rows, bytes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job, table_name) DO UPDATE SET rows = excluded.rows, bytes = excluded.bytes",
            params![job, table, to_i64(rows), to_i64(bytes)],
        )
    }
}

/// Brings the schema up to the newest version, one transaction per version. Another process
/// may migrate at the same time: the version is read again under the write lock.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), ControlError> {
    let err = |source| ControlError::Jobs {
        path: path.to_path_buf(),
        source,
    };
    let known = SCHEMA.len() as i64;
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if current > known {
        return Err(ControlError::MigrationUnknown { version: current });
    }
    for (index, sql) in SCHEMA.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if now > known {
            return Err(ControlError::MigrationUnknown { version: now });
        }
        if now >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

fn no_job(job: &str) -> ControlError {
    ControlError::InvalidValue {
        field: "job",
        reason: format!("no job `{job}`"),
    }
}

fn query_jobs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<JobRecord>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, job_from_row)?;
    rows.collect()
}

/// A row of [`COLUMNS`]. Unknown kinds or statuses (a newer ferry) read as a conversion
/// error rather than a guess.
fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let bad = |column: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("unknown job {what}").into(),
        )
    };
    let kind: String = row.get(1)?;
    let kind = JobKind::parse(&kind).ok_or_else(|| bad(1, "kind"))?;
    let status: String = row.get(4)?;
    let status = JobStatus::parse(&status).ok_or_else(|| bad(4, "status"))?;
    Ok(JobRecord {
        id: row.get(0)?,
        kind,
        key: row.get(2)?,
        description: row.get(3)?,
        status,
        phase: row.get(5)?,
        plan: json_column(row, 6)?,
        progress: HashMap::new(),
        summary: json_column(row, 7)?,
        error: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

fn json_column(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into())
        })
    })
    .transpose()
}

fn load_progress(conn: &Connection, job: &str) -> rusqlite::Result<HashMap<String, (u64, u64)>> {
    let mut stmt =
        conn.prepare("SELECT table_name, rows, bytes FROM job_progress WHERE job = ?1")?;
    let rows = stmt.query_map([job], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (to_u64(r.get(1)?), to_u64(r.get(2)?)),
        ))
    })?;
    rows.collect()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Now, in unix seconds (as [`JobRecord`] keeps time).
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The trait speaks strings; the message keeps the file and the cause.
fn text(err: ControlError) -> String {
    err.to_string()
}

impl Checkpoints for JobDb {
    fn create(&self, kind: JobKind, key: &str, description: &str) -> Result<JobRecord, String> {
        self.create_job(kind, key, description).map_err(text)
    }

    /// Refuses a job another live process is still running: two runs of one job would copy
    /// the same chunks at once.
    fn resumable(&self, key: &str) -> Result<Option<JobRecord>, String> {
        let job = self.resumable_job(key).map_err(text)?;
        if let Some(j) = &job
            && j.status == JobStatus::Running
            && let Some(pid) = self.pid(&j.id).map_err(text)?
            && pid != std::process::id()
            && std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            return Err(format!(
                "job {} is still running in process {pid}; wait for it or stop it (Ctrl-C) first",
                j.id
            ));
        }
        Ok(job)
    }

    fn abandon(&self, key: &str) -> Result<(), String> {
        self.abandon_key(key).map_err(text)
    }

    fn set_plan(&self, job: &str, plan: &serde_json::Value) -> Result<(), String> {
        self.update(
            job,
            "UPDATE jobs SET plan = ?2, updated_at = ?3 WHERE id = ?1",
            params![job, plan.to_string(), now()],
        )
        .map_err(text)
    }

    fn set_phase(&self, job: &str, phase: &str) -> Result<(), String> {
        self.update(
            job,
            "UPDATE jobs SET phase = ?2, status = 'running', error = NULL, pid = ?3, updated_at = ?4
             WHERE id = ?1",
            params![job, phase, std::process::id(), now()],
        )
        .map_err(text)
    }

    fn chunk_done(&self, job: &str, chunk: &ChunkDone) -> Result<(), String> {
        self.record_chunk(job, chunk).map_err(text)
    }

    fn chunks_done(&self, job: &str) -> Result<Vec<ChunkDone>, String> {
        self.chunks(job).map_err(text)
    }

    fn reset_table(&self, job: &str, table: &str) -> Result<(), String> {
        let conn = self.lock();
        conn.execute(
            "DELETE FROM job_chunks WHERE job = ?1 AND table_name = ?2",
            params![job, table],
        )
        .map_err(|e| text(self.error(e)))?;
        Ok(())
    }

    fn progress(&self, job: &str, table: &str, rows: u64, bytes: u64) -> Result<(), String> {
        self.record_progress(job, table, rows, bytes).map_err(text)
    }

    fn finish(
        &self,
        job: &str,
        status: JobStatus,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<(), String> {
        self.update(
            job,
            "UPDATE jobs SET status = ?2, summary = ?3, error = ?4, updated_at = ?5,
                 phase = CASE WHEN ?2 = 'succeeded' THEN 'done' ELSE phase END
             WHERE id = ?1",
            params![job, status.as_str(), summary.to_string(), error, now()],
        )
        .map_err(text)
    }

    fn list(&self, limit: usize) -> Result<Vec<JobRecord>, String> {
        self.recent(limit).map_err(text)
    }

    fn get(&self, job: &str) -> Result<Option<JobRecord>, String> {
        self.job(job).map_err(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(table: &str, chunk: u32, rows: u64) -> ChunkDone {
        ChunkDone {
            table: table.into(),
            chunk,
            rows,
            bytes: rows * 10,
        }
    }

    fn open(home: &Path) -> JobDb {
        JobDb::open(home).expect("open jobs.db")
    }

    #[test]
    fn jobs_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path());
        let job = db.create(JobKind::Pull, "k1", "a → b").expect("create");
        assert!(job.id.starts_with("job_"));
        assert_eq!(job.status, JobStatus::Running);

        db.set_plan(&job.id, &json!({"tables": ["public.t"]}))
            .expect("plan");
        db.set_phase(&job.id, "copy").expect("phase");
        db.chunk_done(&job.id, &chunk("public.t", 0, 100))
            .expect("chunk 0");
        db.chunk_done(&job.id, &chunk("public.t", 1, 50))
            .expect("chunk 1");
        // The same chunk again replaces, never duplicates.
        db.chunk_done(&job.id, &chunk("public.t", 1, 60))
            .expect("chunk 1 again");
        db.chunk_done(&job.id, &chunk("public.u", 0, 7))
            .expect("chunk u");
        db.progress(&job.id, "public.t", 160, 1600)
            .expect("progress");
        db.progress(&job.id, "public.t", 170, 1700)
            .expect("progress again");

        let chunks = db.chunks_done(&job.id).expect("chunks");
        assert_eq!(
            chunks,
            vec![
                chunk("public.t", 0, 100),
                chunk("public.t", 1, 60),
                chunk("public.u", 0, 7)
            ]
        );
        db.reset_table(&job.id, "public.t").expect("reset");
        assert_eq!(
            db.chunks_done(&job.id).expect("chunks"),
            vec![chunk("public.u", 0, 7)]
        );

        let got = db.get(&job.id).expect("get").expect("exists");
        assert_eq!(got.phase, "copy");
        assert_eq!(got.plan, Some(json!({"tables": ["public.t"]})));
        assert_eq!(got.progress.get("public.t"), Some(&(170, 1700)));
        assert_eq!(got.kind, JobKind::Pull);
        assert_eq!(got.description, "a → b");
        assert_eq!(db.pid(&job.id).expect("pid"), Some(std::process::id()));

        db.finish(&job.id, JobStatus::Succeeded, &json!({"rows": 167}), None)
            .expect("finish");
        let done = db.get(&job.id).expect("get").expect("exists");
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(done.phase, "done");
        assert_eq!(done.summary, Some(json!({"rows": 167})));
        assert_eq!(done.error, None);
        assert!(
            db.resumable("k1").expect("resumable").is_none(),
            "a finished job is not resumed"
        );

        assert!(db.get("job_000000000000").expect("get").is_none());
        assert!(
            db.set_phase("job_000000000000", "copy").is_err(),
            "unknown job"
        );
        assert!(
            db.chunk_done("job_000000000000", &chunk("t", 0, 1))
                .is_err(),
            "unknown job"
        );
    }

    #[test]
    fn resume_and_abandon() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path());
        assert!(db.resumable("k").expect("resumable").is_none());

        let first = db.create(JobKind::Pull, "k", "first").expect("create");
        db.set_phase(&first.id, "copy").expect("phase");
        db.finish(&first.id, JobStatus::Failed, &json!({}), Some("boom"))
            .expect("fail");
        let failed = db.get(&first.id).expect("get").expect("exists");
        assert_eq!(
            failed.phase, "copy",
            "an unfinished job keeps the phase it stopped in"
        );
        assert_eq!(failed.error.as_deref(), Some("boom"));
        let second = db.create(JobKind::Pull, "k", "second").expect("create");
        db.finish(&second.id, JobStatus::Interrupted, &json!({}), None)
            .expect("interrupt");
        let other = db.create(JobKind::Pull, "other", "other").expect("create");

        // The newest unfinished job with the key, even with equal timestamps.
        let resumed = db.resumable("k").expect("resumable").expect("some");
        assert_eq!(resumed.id, second.id);
        assert_eq!(resumed.status, JobStatus::Interrupted);

        // Resuming marks it running again and clears the old error.
        db.set_phase(&first.id, "copy").expect("phase");
        let again = db.get(&first.id).expect("get").expect("exists");
        assert_eq!(again.status, JobStatus::Running);
        assert_eq!(again.error, None);

        db.abandon("k").expect("abandon");
        assert!(db.resumable("k").expect("resumable").is_none());
        for id in [&first.id, &second.id] {
            let job = db.get(id).expect("get").expect("exists");
            assert_eq!(job.status, JobStatus::Abandoned);
        }
        // Other keys are untouched; a succeeded job is never abandoned.
        assert_eq!(
            db.resumable("other").expect("resumable").map(|j| j.id),
            Some(other.id.clone())
        );
        db.finish(&other.id, JobStatus::Succeeded, &json!({}), None)
            .expect("finish");
        db.abandon("other").expect("abandon");
        assert_eq!(
            db.get(&other.id).expect("get").map(|j| j.status),
            Some(JobStatus::Succeeded)
        );

        let listed: Vec<String> = db
            .list(10)
            .expect("list")
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(
            listed,
            vec![other.id.clone(), second.id.clone(), first.id.clone()]
        );
        assert_eq!(db.list(1).expect("list").len(), 1);
    }

    #[test]
    fn two_handles_share_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = open(dir.path());
        let b = open(dir.path());
        let job = a.create(JobKind::Verify, "k", "x").expect("create");
        assert_eq!(
            b.get(&job.id).expect("get").map(|j| j.kind),
            Some(JobKind::Verify)
        );
        b.chunk_done(&job.id, &chunk("public.t", 3, 9))
            .expect("chunk");
        assert_eq!(
            a.chunks_done(&job.id).expect("chunks"),
            vec![chunk("public.t", 3, 9)]
        );
        b.finish(&job.id, JobStatus::Succeeded, &json!({"equal": true}), None)
            .expect("finish");
        assert_eq!(a.list(5).expect("list")[0].status, JobStatus::Succeeded);
        drop((a, b));

        // Reopening keeps everything and does not migrate again.
        let c = open(dir.path());
        assert_eq!(c.list(5).expect("list").len(), 1);
        let version: i64 = c
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA.len() as i64);
    }

    #[test]
    fn concurrent_writers_wait_for_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = open(dir.path());
        let job = first.create(JobKind::Pull, "k", "x").expect("create");
        std::thread::scope(|scope| {
            for worker in 0..4u32 {
                let (home, id) = (dir.path(), job.id.as_str());
                scope.spawn(move || {
                    let db = open(home);
                    for n in 0..50u32 {
                        let table = format!("public.t{worker}");
                        db.chunk_done(id, &chunk(&table, n, 1)).expect("chunk");
                        db.progress(id, &table, u64::from(n), 0).expect("progress");
                    }
                });
            }
        });
        assert_eq!(first.chunks_done(&job.id).expect("chunks").len(), 200);
        assert_eq!(
            first
                .get(&job.id)
                .expect("get")
                .expect("job")
                .progress
                .len(),
            4
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(open(dir.path()));
        let conn = Connection::open(dir.path().join(JOBS_FILE)).expect("raw");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = JobDb::open(dir.path()).expect_err("refused");
        assert_eq!(err.code(), "migration-unknown");
    }

    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("new-home");
        drop(open(&home));
        let mode = std::fs::metadata(home.join(JOBS_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}

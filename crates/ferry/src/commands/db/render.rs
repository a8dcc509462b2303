//! Text (and the `db jobs` JSON) for pull and verify reports and the job list.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ferry_data::endpoint::redact;
use ferry_data::{ChunkDone, DiffKind, JobRecord, JobStatus, PullReport, VerifyReport};
use serde_json::{Value, json};

use super::display::LAG_ENTRY;
use super::shell_quote;
use crate::output::Output;

pub use crate::commands::deploy::human;

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `0.3 s`, `12 s`, `4 min 2 s`.
pub fn secs(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else {
        let s = seconds.round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// `1.2 MB/s`.
fn rate(bytes: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "—".into();
    }
    format!("{}/s", human((bytes as f64 / seconds) as u64))
}

/// The report of a pull: tables, totals, what was left out, storage, resume, next step.
pub fn pull(report: &PullReport, from: &str, to: &str, out: &Output) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} → {}",
        out.paint("pulled", "1"),
        report.source,
        report.target
    );
    if !report.tables.is_empty() {
        let width = report
            .tables
            .iter()
            .map(|t| t.table.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "  {:<width$}  {:>12}  {:>10}  {:>9}",
            "TABLE", "ROWS", "SIZE", "TIME"
        );
        for t in &report.tables {
            let kept = if t.chunks_kept > 0 {
                format!("  ({} of {} chunks kept)", t.chunks_kept, t.chunks)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  {:<width$}  {:>12}  {:>10}  {:>9}{kept}",
                t.table,
                thousands(t.rows),
                human(t.bytes),
                secs(t.secs)
            );
        }
    }
    let _ = writeln!(
        s,
        "  total     {} table{}, {} rows, {} in {} ({})",
        report.tables.len(),
        if report.tables.len() == 1 { "" } else { "s" },
        thousands(report.rows),
        human(report.bytes),
        secs(report.secs),
        rate(report.bytes, report.secs)
    );
    for skipped in &report.skipped {
        let _ = writeln!(s, "  skipped   {}: {}", skipped.what, skipped.reason);
    }
    for warning in &report.warnings {
        let _ = writeln!(s, "  {} {warning}", out.paint("!", "33"));
    }
    if let Some(storage) = &report.storage {
        let _ = writeln!(
            s,
            "  storage: {} bucket{}, {} object{} ({}) — metadata copied; the files are still to fetch",
            storage.buckets,
            if storage.buckets == 1 { "" } else { "s" },
            storage.objects,
            if storage.objects == 1 { "" } else { "s" },
            human(storage.bytes)
        );
    }
    if report.resumed {
        let kept: usize = report.tables.iter().map(|t| t.chunks_kept).sum();
        let _ = writeln!(
            s,
            "  resumed job {}: kept {kept} chunk{}; rows changed on the source since the first run are caught by `ferry db verify`",
            report.job,
            if kept == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(s, "  job       {}", report.job);
    }
    let _ = writeln!(
        s,
        "{} ferry db verify --from {} --to {}",
        out.paint("next:", "1;36"),
        shell_quote(&redact(from)),
        shell_quote(&redact(to))
    );
    s
}

/// The report of a verify: one row per table, then the differing keys.
pub fn verify(report: &VerifyReport, out: &Output) -> String {
    let mut s = String::new();
    let width = report
        .tables
        .iter()
        .map(|t| t.table.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        s,
        "{:<width$}  {:>12}  {:>12}  {:<5}  METHOD",
        "TABLE", "SOURCE", "TARGET", "EQUAL"
    );
    for t in &report.tables {
        let target = match t.target_rows {
            Some(n) => thousands(n),
            None => "missing".into(),
        };
        let mark = if t.equal {
            out.paint("✓", "32")
        } else {
            out.paint("✗", "1;31")
        };
        let method = if t.method == "whole-table" {
            "whole-table (no key: counts and one checksum)".to_string()
        } else if t.key.is_empty() {
            t.method.to_string()
        } else {
            format!("{} ({})", t.method, t.key.join(", "))
        };
        // The mark is one column wide; pad by hand so colour codes do not count.
        let _ = writeln!(
            s,
            "{:<width$}  {:>12}  {:>12}  {mark}      {method}",
            t.table,
            thousands(t.source_rows),
            target
        );
        for d in &t.differences {
            let kind = match d.kind {
                DiffKind::MissingOnTarget => "missing on target",
                DiffKind::ExtraOnTarget => "extra on target",
                DiffKind::Changed => "changed",
            };
            let _ = writeln!(s, "    {kind:<18} {}", d.key);
        }
        if t.more_differences {
            let _ = writeln!(s, "    … more rows differ");
        }
    }
    let equal = report.tables.iter().filter(|t| t.equal).count();
    let _ = writeln!(
        s,
        "{} {equal} of {} table{} equal ({}, job {})",
        if report.equal {
            out.paint("equal:", "1;32")
        } else {
            out.paint("different:", "1;31")
        },
        report.tables.len(),
        if report.tables.len() == 1 { "" } else { "s" },
        secs(report.secs),
        report.job
    );
    s
}

/// `5 s`, `3 min`, `2 h`, `4 d` ago.
fn age(unix_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - unix_secs).max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A job's status as shown: a `running` job whose process is gone can be resumed.
fn status(job: &JobRecord, alive: Option<bool>) -> String {
    match (job.status, alive) {
        (JobStatus::Running, Some(false)) => "stopped".into(),
        (status, _) => status.as_str().into(),
    }
}

/// The job list.
pub fn jobs(jobs: &[JobRecord], alive: &[Option<bool>], out: &Output) -> String {
    if jobs.is_empty() {
        return "no jobs yet (`ferry db pull --from <url>` starts one)\n".into();
    }
    let mut s = format!(
        "{:<16}  {:<6}  {:<11}  {:<11}  {:>7}  {}\n",
        "JOB", "KIND", "STATUS", "PHASE", "AGE", "DESCRIPTION"
    );
    for (job, alive) in jobs.iter().zip(alive) {
        let status = status(job, *alive);
        let painted = match job.status {
            JobStatus::Succeeded => out.paint(&format!("{status:<11}"), "32"),
            JobStatus::Failed => out.paint(&format!("{status:<11}"), "31"),
            _ => format!("{status:<11}"),
        };
        let lag = follow_lag(job)
            .map(|(changes, bytes)| {
                format!(
                    "  (lag {} · {} changes applied)",
                    human(bytes),
                    thousands(changes)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<16}  {:<6}  {painted}  {:<11}  {:>7}  {}{lag}",
            job.id,
            job.kind.as_str(),
            job.phase,
            age(job.created_at),
            job.description
        );
    }
    s
}

/// The job list as `--json`: `{"jobs": [...]}` without plans or summaries (see `db jobs ID`).
pub fn jobs_json(jobs: &[JobRecord], alive: &[Option<bool>]) -> Value {
    let list: Vec<Value> = jobs
        .iter()
        .zip(alive)
        .map(|(j, alive)| {
            json!({
                "id": j.id,
                "kind": j.kind,
                "status": j.status,
                "process_alive": alive,
                "phase": j.phase,
                "description": j.description,
                "error": j.error,
                "lag": follow_lag(j).map(|(changes, bytes)| json!({
                    "bytes": bytes,
                    "changes_applied": changes,
                })),
                "created_at": j.created_at,
                "updated_at": j.updated_at,
            })
        })
        .collect();
    json!({ "jobs": list })
}

/// A follow job's lag as last recorded: changes applied by its last run, WAL bytes behind.
fn follow_lag(job: &JobRecord) -> Option<(u64, u64)> {
    if job.kind != ferry_data::JobKind::Follow {
        return None;
    }
    job.progress.get(LAG_ENTRY).copied()
}

/// A table of a job, as `db jobs ID` shows it.
#[derive(Default)]
struct TableState {
    /// Rows and bytes as last recorded.
    progress: Option<(u64, u64)>,
    /// Chunks committed.
    chunks: usize,
    /// Rows in those chunks.
    committed: u64,
}

/// One job: what, when, per-table progress and committed chunks.
pub fn job(
    job: &JobRecord,
    chunks: &[ChunkDone],
    pid: Option<u32>,
    alive: Option<bool>,
    out: &Output,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  {}  {}  (phase {})",
        out.paint(&job.id, "1"),
        job.kind.as_str(),
        status(job, alive),
        job.phase
    );
    let _ = writeln!(s, "  what      {}", job.description);
    let _ = writeln!(
        s,
        "  started   {} ago, updated {} ago",
        age(job.created_at),
        age(job.updated_at)
    );
    if let Some(pid) = pid {
        let state = match alive {
            Some(true) => " (running)",
            Some(false) => " (gone)",
            None => "",
        };
        let _ = writeln!(s, "  process   {pid}{state}");
    }
    if let Some(error) = &job.error {
        let _ = writeln!(s, "  error     {error}");
    }
    if let Some((changes, bytes)) = follow_lag(job) {
        let _ = writeln!(
            s,
            "  lag       {} of WAL behind, {} changes applied by the last run (as last recorded)",
            human(bytes),
            thousands(changes)
        );
    }
    // Per table: progress as last recorded, and the chunks committed so far.
    let mut tables: BTreeMap<&str, TableState> = BTreeMap::new();
    for (table, progress) in &job.progress {
        if follow_lag(job).is_some() && table == LAG_ENTRY {
            continue;
        }
        tables.entry(table).or_default().progress = Some(*progress);
    }
    for c in chunks {
        let entry = tables.entry(&c.table).or_default();
        entry.chunks += 1;
        entry.committed += c.rows;
    }
    if !tables.is_empty() {
        let width = tables
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "  {:<width$}  {:>12}  {:>10}  {:>7}  {:>12}",
            "TABLE", "PROGRESS", "READ", "CHUNKS", "COMMITTED"
        );
        for (table, state) in &tables {
            let (rows, bytes) = match state.progress {
                Some((r, b)) => (thousands(r), human(b)),
                None => ("—".into(), "—".into()),
            };
            let _ = writeln!(
                s,
                "  {table:<width$}  {rows:>12}  {bytes:>10}  {:>7}  {:>12}",
                state.chunks,
                thousands(state.committed)
            );
        }
    }
    let unfinished = matches!(job.status, JobStatus::Failed | JobStatus::Interrupted)
        || (job.status == JobStatus::Running && alive == Some(false));
    if job.kind == ferry_data::JobKind::Follow && unfinished {
        let _ = writeln!(
            s,
            "{} rerun the same `ferry db follow` to resume it from the slot's position",
            out.paint("next:", "1;36")
        );
    }
    if job.kind == ferry_data::JobKind::Pull
        && (matches!(job.status, JobStatus::Failed | JobStatus::Interrupted)
            || (job.status == JobStatus::Running && alive == Some(false)))
    {
        let _ = writeln!(
            s,
            "{} rerun the same `ferry db pull` to resume it (--fresh starts over)",
            out.paint("next:", "1;36")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_500), "2,500");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(secs(0.31), "0.3 s");
        assert_eq!(secs(42.4), "42 s");
        assert_eq!(secs(125.0), "2 min 5 s");
    }
}

//! The state files: one JSON record per running process, so a restarted ferry finds them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::procfs;
use crate::spec::{is_safe_name, label};

/// The version of the state file's format.
pub const STATE_VERSION: u32 = 1;

/// A process as recorded in `<state_dir>/<app>-<release>-<name>.json` when it was spawned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// The app.
    pub app: String,
    /// The release.
    pub release: String,
    /// The process's name within the release.
    pub name: String,
    /// The pid of the group leader (`sh -c …`).
    pub pid: u32,
    /// Its process group (equal to `pid`: each process starts its own group).
    pub pgid: u32,
    /// The port it was assigned.
    pub port: u16,
    /// When it was spawned, in seconds since the Unix epoch.
    pub started_at: u64,
    /// Its start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
    /// The kernel boot id at spawn time.
    pub boot_id: String,
    /// The start command.
    pub command: String,
}

/// Whether a recorded process is still the one that was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The pid runs, started at the recorded time, in the recorded group.
    Alive,
    /// No process has the pid (or only the recorded one's unreaped zombie).
    Gone,
    /// Another process has the pid now, or the process left its group; the reason says which.
    Reused(&'static str),
}

impl Recorded {
    /// `app/name@release`.
    pub fn label(&self) -> String {
        label(&self.app, &self.name, &self.release)
    }

    /// Compares the live `/proc/<pid>` with the record: boot id, start time, group.
    pub fn liveness(&self) -> Liveness {
        let Some(stat) = procfs::stat(self.pid) else {
            return Liveness::Gone;
        };
        if self.boot_id != procfs::boot_id() {
            return Liveness::Reused("recorded before a reboot");
        }
        if stat.start_ticks != self.start_ticks {
            return Liveness::Reused("its start time differs from the recorded one");
        }
        if stat.is_dead() {
            return Liveness::Gone;
        }
        if stat.pgrp != self.pgid {
            return Liveness::Reused("it left its recorded process group");
        }
        Liveness::Alive
    }

    /// Whether the record's names are safe to turn into file names.
    fn names_are_safe(&self) -> bool {
        is_safe_name(&self.app) && is_safe_name(&self.release) && is_safe_name(&self.name)
    }
}

/// The base of a process's files in the state folder: `<app>-<release>-<name>`.
pub(crate) fn base_name(app: &str, release: &str, name: &str) -> String {
    format!("{app}-{release}-{name}")
}

/// `<state_dir>/<base>.json`.
pub(crate) fn record_path(state_dir: &Path, base: &str) -> PathBuf {
    state_dir.join(format!("{base}.json"))
}

/// `<state_dir>/<base>.fifo`: the pipe holding the process's stdout and stderr.
pub(crate) fn fifo_path(state_dir: &Path, base: &str) -> PathBuf {
    state_dir.join(format!("{base}.fifo"))
}

/// Writes a record atomically (temporary file, fsync, rename).
pub(crate) fn write(state_dir: &Path, record: &Recorded) -> Result<(), RunError> {
    let base = base_name(&record.app, &record.release, &record.name);
    let path = record_path(state_dir, &base);
    let io = |e| RunError::io(&path, e);
    let json = serde_json::to_vec_pretty(record).map_err(|e| io(std::io::Error::other(e)))?;
    let mut tmp = tempfile::NamedTempFile::new_in(state_dir).map_err(io)?;
    tmp.write_all(&json).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Removes a process's record and pipe; absent files are fine.
pub(crate) fn remove(state_dir: &Path, base: &str) -> Result<(), RunError> {
    for path in [record_path(state_dir, base), fifo_path(state_dir, base)] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RunError::io(&path, e)),
        }
    }
    Ok(())
}

/// Reads one record; `None` when it is absent.
pub(crate) fn read(state_dir: &Path, base: &str) -> Option<Recorded> {
    let text = std::fs::read(record_path(state_dir, base)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Every readable record in the folder, sorted by file name. Unreadable ones are skipped with a
/// warning.
pub(crate) fn list(state_dir: &Path) -> Vec<Recorded> {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Recorded>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(r) if r.version == STATE_VERSION && r.names_are_safe() => out.push(r),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "skipping a process record of another format")
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "skipping an unreadable process record")
            }
        }
    }
    out
}

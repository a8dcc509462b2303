//! Base44 data in: `ferry db pull --from base44://APP_ID --token T` (the live entities API) or
//! `--from base44-export:DIR` (files from `base44 data pull` or the dashboard), loaded into the
//! tables ferry's Base44-compatible API serves (`ferry_compat::base44`: the same migration
//! the server runs at activation, records kept with their ids, dates and authors).
//!
//! - [`source`]: one [`source::RecordSource`] over [`live`] and [`export`];
//! - schemas: the source's files (or the API's catalog), else inferred from the records
//!   (`ferry_compat::base44::schema::infer_schema`), merged additively with what the target
//!   already has;
//! - [`files`]: file URLs hosted by Base44 downloaded into the app's file store and rewritten;
//! - `run`: the job — batches in one transaction each, the next page fetched while one is
//!   written, progress and a running checksum per entity in the job's plan (resumable; a batch
//!   redone after a crash skips the ids it already wrote), then the copy read back through
//!   `row_to_record` and compared by count and [`checksum`].

pub mod checksum;
mod error;
pub mod export;
pub mod files;
pub mod live;
mod run;
pub mod source;

use std::path::PathBuf;

use serde::Serialize;

pub use error::Base44Error;
pub use files::FileFailure;
pub use run::pull_base44;

use crate::pull::Cancel;

/// The live API's default base URL.
pub const DEFAULT_API_URL: &str = "https://base44.app";

/// Where records come from, as `--from` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `base44://APP_ID`: the live app.
    Live {
        /// The app id (24 hex digits on Base44).
        app_id: String,
    },
    /// `base44-export:DIR`: an export folder.
    Export {
        /// The folder.
        dir: PathBuf,
    },
}

impl SourceSpec {
    /// Parses `--from`; `None` when it is not a Base44 source (`postgres://…`).
    pub fn parse(from: &str) -> Result<Option<SourceSpec>, Base44Error> {
        if let Some(rest) = from.strip_prefix("base44://") {
            let app_id = rest.trim_end_matches('/');
            let ok = !app_id.is_empty()
                && app_id.len() <= 64
                && app_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(Base44Error::BadSource(format!(
                    "`{}` is not base44://APP_ID (the app id: letters and digits)",
                    from.chars().take(100).collect::<String>()
                )));
            }
            return Ok(Some(SourceSpec::Live {
                app_id: app_id.to_string(),
            }));
        }
        if let Some(dir) = from.strip_prefix("base44-export:") {
            let dir = dir.strip_prefix("//").unwrap_or(dir);
            if dir.is_empty() {
                return Err(Base44Error::BadSource(
                    "base44-export: needs a folder, e.g. base44-export:./export".into(),
                ));
            }
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(Base44Error::BadSource(format!(
                    "{} is not a folder",
                    dir.display()
                )));
            }
            return Ok(Some(SourceSpec::Export { dir }));
        }
        Ok(None)
    }
}

/// What a Base44 pull does.
#[derive(Debug, Clone)]
pub struct Base44Options {
    /// The source.
    pub source: SourceSpec,
    /// The API token (live source).
    pub token: Option<String>,
    /// The API's base URL ([`DEFAULT_API_URL`]).
    pub api_url: String,
    /// `X-Data-Env: dev`.
    pub dev: bool,
    /// A `base44/entities` folder (schemas when the source has none).
    pub schemas: Option<PathBuf>,
    /// Where inferred schemas are written (`<Name>.jsonc`).
    pub write_schemas: Option<PathBuf>,
    /// The target database URL (`sqlite://…`, `postgres://…`).
    pub target: String,
    /// The app's file store (`$FERRY_HOME/data/<app>/files`); `None`: files are not moved.
    pub files_root: Option<PathBuf>,
    /// Only these entities (empty: every one the source has).
    pub entities: Vec<String>,
    /// Start over instead of resuming.
    pub fresh: bool,
    /// Replace records the target already holds.
    pub force: bool,
    /// Stop request (checked between batches).
    pub cancel: Cancel,
    /// Test knob: stop right after this many batches were committed, before their checkpoint
    /// is written (what a crash at the worst moment leaves behind).
    pub stop_after_batches: Option<u64>,
}

/// One entity of a pull.
#[derive(Debug, Clone, Serialize)]
pub struct EntityReport {
    /// The entity.
    pub entity: String,
    /// Its table.
    pub table: String,
    /// Where its schema came from: `file`, `api`, `inferred` or `target`.
    pub schema: String,
    /// Records read from the source (all runs).
    pub records: u64,
    /// Bytes read from the source (all runs).
    pub bytes: u64,
    /// Seconds spent loading (all runs).
    pub seconds: f64,
    /// Records per second.
    pub records_per_sec: f64,
    /// Batches written (all runs), one transaction each.
    pub batches: u32,
    /// Of those, the batches streamed with `COPY` (PostgreSQL); the others were inserted
    /// (SQLite; on PostgreSQL a batch redone after a crash, or one COPY cannot hold as the
    /// INSERT would).
    pub copied_batches: u32,
    /// The checksum of the source's records (as stored).
    pub checksum: String,
    /// Records the target holds.
    pub target_records: u64,
    /// The checksum of the target's records, read back.
    pub target_checksum: String,
    /// Counts and checksums match.
    pub ok: bool,
}

/// A property inference left undeclared (kinds no declared type holds together).
#[derive(Debug, Clone, Serialize)]
pub struct MixedField {
    /// The entity.
    pub entity: String,
    /// The property (kept in `extra`).
    pub field: String,
    /// The kinds seen.
    pub kinds: Vec<&'static str>,
}

/// The files of a pull.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesReport {
    /// Whether files were moved (`--app` given).
    pub moved: bool,
    /// Files downloaded by this run.
    pub downloaded: u64,
    /// Values rewritten by this run.
    pub rewritten: u64,
    /// Hosted URLs left as they were because files are not moved.
    pub left: u64,
    /// URLs that could not be fetched (kept as they were).
    pub failed: Vec<FileFailure>,
}

/// The outcome of a Base44 pull.
#[derive(Debug, Clone, Serialize)]
pub struct Base44Report {
    /// The job id.
    pub job: String,
    /// Whether an earlier run was resumed.
    pub resumed: bool,
    /// Whether the pull had already finished (this run only verified).
    pub already_done: bool,
    /// The source, as given (no token).
    pub source: String,
    /// The target (password hidden).
    pub target: String,
    /// Per entity.
    pub entities: Vec<EntityReport>,
    /// Entities whose schema was inferred.
    pub inferred: Vec<String>,
    /// Properties inference left undeclared.
    pub mixed: Vec<MixedField>,
    /// Where inferred schemas were written.
    pub schemas_written: Option<PathBuf>,
    /// Files.
    pub files: FilesReport,
    /// Notes (type differences with the target's schema, skipped entities…).
    pub notes: Vec<String>,
    /// Every entity verified equal.
    pub ok: bool,
    /// Seconds of this run.
    pub seconds: f64,
}

impl Base44Report {
    /// The entities whose copy differs from the source (not verified equal), in report order.
    pub fn differing(&self) -> Vec<&str> {
        self.entities
            .iter()
            .filter(|e| !e.ok)
            .map(|e| e.entity.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            SourceSpec::parse("base44://67b2f0c41d9e3a0012c4d8e1").ok(),
            Some(Some(SourceSpec::Live {
                app_id: "67b2f0c41d9e3a0012c4d8e1".into()
            }))
        );
        assert!(SourceSpec::parse("base44://").is_err());
        assert!(SourceSpec::parse("base44://a/b").is_err());
        assert!(SourceSpec::parse("base44-export:/definitely/not/here").is_err());
        assert_eq!(SourceSpec::parse("postgres://h/db").ok(), Some(None));
    }
}

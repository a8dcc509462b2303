//! Why a Base44 pull failed, with a stable code and a hint for each case.

use std::path::PathBuf;

use ferry_compat::base44::record::RecordError;
use ferry_compat::base44::schema::SchemaError;
use ferry_compat::base44::store::StoreError;

/// A failure of `ferry db pull --from base44…`.
#[derive(Debug, thiserror::Error)]
pub enum Base44Error {
    /// `--from` is neither `base44://APP_ID` nor `base44-export:DIR`, or an option is missing.
    #[error("{0}")]
    BadSource(String),
    /// The API refused the token (401/403).
    #[error("the Base44 API refused the token ({status}) at {url}")]
    Unauthorized {
        /// The URL asked (no query).
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The API host could not be reached.
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The URL asked (no query).
        url: String,
        /// The cause.
        detail: String,
    },
    /// The API answered with an unexpected status or body.
    #[error("{url} answered {status}: {detail}")]
    Http {
        /// The URL asked (no query).
        url: String,
        /// The status.
        status: u16,
        /// The start of the body, or what is wrong with it.
        detail: String,
    },
    /// An export file cannot be read (broken JSON with its position, a bad CSV line).
    #[error("{}: {detail}", file.display())]
    BadExport {
        /// The file.
        file: PathBuf,
        /// What is wrong, and where.
        detail: String,
    },
    /// `--entity` names an entity the source does not have.
    #[error("unknown entity `{name}` (the source has: {known})")]
    UnknownEntity {
        /// The name asked for.
        name: String,
        /// The names the source has.
        known: String,
    },
    /// The live source offers no schema catalog and no entity was named.
    #[error("the source lists no entities: {0}")]
    NoEntities(String),
    /// A schema file (or an inferred schema) is invalid, or the target refused the migration.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A record cannot be stored.
    #[error("entity `{entity}`, record {id}: {source}")]
    Record {
        /// The entity.
        entity: String,
        /// The record's id (or its position).
        id: String,
        /// Why.
        source: RecordError,
    },
    /// The target database failed.
    #[error("the target database: {0}")]
    Store(#[from] StoreError),
    /// The target already holds records of an entity (a first run refuses to mix them).
    #[error("the target already holds {rows} records of `{entity}`")]
    TargetNotEmpty {
        /// The entity.
        entity: String,
        /// Its rows.
        rows: u64,
    },
    /// The job store failed.
    #[error("job store: {0}")]
    Checkpoint(String),
    /// The copy does not match the source.
    #[error("the copy differs from the source for: {}", entities.join(", "))]
    Mismatch {
        /// The entities whose count or checksum differ.
        entities: Vec<String>,
    },
    /// Stopped by a signal (resumable).
    #[error("interrupted; the pull is resumable")]
    Interrupted,
    /// A local file or folder.
    #[error("{}: {detail}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
}

impl Base44Error {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Base44Error::BadSource(_) => "bad-source",
            Base44Error::Unauthorized { .. } => "unauthorized",
            Base44Error::Unreachable { .. } => "unreachable",
            Base44Error::Http { .. } => "source-http",
            Base44Error::BadExport { .. } => "bad-export",
            Base44Error::UnknownEntity { .. } => "unknown-entity",
            Base44Error::NoEntities(_) => "no-entities",
            Base44Error::Schema(e) => e.code(),
            Base44Error::Record { .. } => "bad-record",
            Base44Error::Store(e) => e.code(),
            Base44Error::TargetNotEmpty { .. } => "target-not-empty",
            Base44Error::Checkpoint(_) => "job-store",
            Base44Error::Mismatch { .. } => "verify-failed",
            Base44Error::Interrupted => "interrupted",
            Base44Error::Io { .. } => "io",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Base44Error::BadSource(_) => {
                "use --from base44://APP_ID --token T, or --from base44-export:DIR".into()
            }
            Base44Error::Unauthorized { .. } => "pass the app owner's token (--token, FERRY_BASE44_TOKEN, or `-` to read it from stdin); an admin token reads every record".into(),
            Base44Error::Unreachable { .. } => {
                "check the network and --base44-url (FERRY_BASE44_API_URL)".into()
            }
            Base44Error::Http { .. } => "check the app id and --data-env; rerun to resume".into(),
            Base44Error::BadExport { .. } => {
                "fix the file (or download it again), then rerun: committed batches are kept".into()
            }
            Base44Error::UnknownEntity { .. } => "check the --entity names (case matters)".into(),
            Base44Error::NoEntities(_) => {
                "pass --schemas base44/entities (the app's entity folder) or --entity NAME".into()
            }
            Base44Error::Schema(e) => e.hint(),
            Base44Error::Record { .. } => "fix the record at the source or give a schema that fits it (--schemas DIR); rerun to resume".into(),
            Base44Error::Store(_) => "check the target database (--to); rerun to resume".into(),
            Base44Error::TargetNotEmpty { .. } => {
                "pull into an empty database, or pass --force to replace those records".into()
            }
            Base44Error::Checkpoint(_) => "check $FERRY_HOME/jobs.db".into(),
            Base44Error::Mismatch { .. } => {
                "rerun with --fresh --force to copy again; the report lists each entity's counts and checksums".into()
            }
            Base44Error::Interrupted => "rerun the same command to resume".into(),
            Base44Error::Io { .. } => "check the path and its permissions".into(),
        }
    }

    /// Whether the input (arguments, files, token) is at fault rather than the run.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Base44Error::BadSource(_)
                | Base44Error::Unauthorized { .. }
                | Base44Error::BadExport { .. }
                | Base44Error::UnknownEntity { .. }
                | Base44Error::NoEntities(_)
                | Base44Error::Schema(_)
                | Base44Error::Record { .. }
                | Base44Error::TargetNotEmpty { .. }
        )
    }
}

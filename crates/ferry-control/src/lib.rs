//! State (SQLite): apps, releases, the live pointer, encrypted secrets; the one mutation path.
//!
//! [`Control`] owns `$FERRY_HOME/ferry.db` (SQLite in WAL mode, foreign keys on, a busy
//! timeout) and the secrets key `$FERRY_HOME/secret.key`. Every state change is a
//! [`Mutation`] passed to [`Control::apply`], which validates it and writes it in one
//! transaction; every other method only reads. The layout is documented in
//! `docs/formats/state.md`.
//!
//! [`JobDb`] keeps data jobs (`ferry db pull`/`verify`) and their checkpoints in a separate
//! file, `$FERRY_HOME/jobs.db`, which any process running a job may open.
//!
//! **Invariants:** never speaks HTTP; only the server process opens the database while a
//! server runs; a secret's value is encrypted at rest and never appears in `Debug` output,
//! errors or logs; activating a release requires it to be recorded first, and the live
//! pointer and its activation row are written together.

mod apply;
pub mod audit;
pub mod auth;
mod control;
mod error;
pub mod idempotency;
mod jobs;
mod key;
mod migrate;
mod model;
mod query;
mod secrets;
mod validate;

pub use auth::{NewToken, Principal, Rejection, Role, Scope, TokenInfo};
pub use control::{Control, DB_FILE, KEY_FILE};
pub use error::ControlError;
pub use idempotency::{Claim, StoredAnswer, request_fingerprint};
pub use jobs::{JOBS_FILE, JobDb};
pub use key::MASTER_KEY_ENV;
pub use model::{
    Activation, ActivationKind, App, Applied, Live, Mutation, NewRelease, ReleaseRecord,
    SecretInfo, SecretScope,
};
pub use secrets::{Frozen, PUBLIC_PREFIXES, Rotation, public_bundle_warning, public_prefix};
pub use validate::{is_ferry_setting, is_release_id, is_secret_name, is_slug};

/// The organisation every app belongs to until organisations can be created.
pub const DEFAULT_ORG: &str = "default";
/// The environment that exists from the start.
pub const DEFAULT_ENV: &str = "production";

//! `ferry-api` is the control plane's HTTP face: `/api/v1` on the Unix socket
//! `$FERRY_HOME/ferry.sock` (file permissions are the credential), and on `127.0.0.1:8081`
//! only `/healthz` and `/metrics` until tokens exist. It also runs the edge, so that
//! `ferry serve` is one process: control API + edge.

mod admin;
mod audited;
pub mod auth;
pub mod base44;
pub mod base44_functions;
mod control_tls;
mod dashboard;
mod data_verify;
mod error;
mod handlers;
pub mod idempotent;
mod inspect_report;
mod openapi;
mod owner_link;
pub mod processes;
mod server;
mod state;

pub use admin::runs_job_kind;
pub use error::ApiError;
pub use server::{ServerConfig, ServerInfo, run};
pub use state::{ActivateOutcome, Failpoint};

/// Body limit for blob uploads.
pub const MAX_BLOB_BYTES: usize = 512 * 1024 * 1024;

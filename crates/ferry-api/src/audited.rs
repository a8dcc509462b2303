//! Audit entries of the mutations that do not go through [`ferry_control::Control::apply`]
//! (a Base44 app's users, garbage collection, shutdown, data jobs, failures before a
//! mutation is applied): one entry per attempt, with the caller's actor, token id and
//! source, on success and on failure (refusals are audited where they are decided,
//! `crate::auth`).

use ferry_control::Principal;
use ferry_control::audit::{Outcome, Record};

use crate::ApiError;
use crate::state::ServerState;

/// What one audited attempt changed, for its entry.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// `ok`, or `unchanged` when the attempt changed nothing (a dry run).
    pub changed: bool,
    /// A short detail (never a secret, a link or a token).
    pub detail: Option<String>,
    /// The id after (e.g. the release), when it applies.
    pub after: Option<String>,
}

impl Done {
    /// Something changed; `detail` says what.
    pub fn changed(detail: impl Into<String>) -> Self {
        Done {
            changed: true,
            detail: Some(detail.into()),
            after: None,
        }
    }

    /// Nothing changed; `detail` says why.
    pub fn unchanged(detail: impl Into<String>) -> Self {
        Done {
            changed: false,
            detail: Some(detail.into()),
            after: None,
        }
    }
}

impl ServerState {
    /// Appends the entry of `who`'s `action` on `target`: `ok`/`unchanged` with the detail of
    /// `done` when it succeeded, `failed` with the error's code otherwise. Best effort: a
    /// failure to write the entry is logged, the caller's answer stands (the change is made).
    pub fn audit_outcome(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        result: Result<Done, &ApiError>,
    ) {
        let mut record = Record::by(who, action, target);
        let outcome = match result {
            Ok(done) => {
                record.detail = done.detail;
                record.after = done.after;
                if done.changed {
                    Outcome::Ok
                } else {
                    Outcome::Unchanged
                }
            }
            Err(err) => {
                record.detail = Some(err.code.clone());
                Outcome::Failed
            }
        };
        match self.control() {
            Ok(mut control) => {
                if let Err(e) = control.audit_record(outcome, &record) {
                    tracing::warn!(error = %e, %action, "could not write an audit entry");
                }
            }
            Err(e) => tracing::warn!(error = %e, %action, "could not write an audit entry"),
        }
    }

    /// Audits a failed attempt and hands its error back (for `map_err`/`inspect_err`).
    pub fn audit_failure(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        err: ApiError,
    ) -> ApiError {
        self.audit_outcome(who, action, target, Err(&err));
        err
    }
}

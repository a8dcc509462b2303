//! `ferry dashboard`: a one-time link that signs a browser into the web dashboard as the
//! server's owner (who alone sees data jobs). Asked of the local server over its Unix socket
//! (`POST /api/v1/dashboard/owner-link`); the link works once, for two minutes.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use crate::failure::{EXIT_BAD_INPUT, Failure};
use crate::output::Output;

/// Prints the owner link (`{url, expires_at}` with `--json`).
pub fn run(server: Option<&str>, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    if let Some(url) = server.map(str::trim).filter(|s| !s.is_empty()) {
        return Err(Failure {
            code: "owner-link-remote",
            message: format!(
                "the owner's dashboard link comes from the local server's socket; --server {url} names another server"
            ),
            hint: "run `ferry dashboard` on the server machine (unset FERRY_SERVER), or sign in to the dashboard with an API token".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let api = crate::home::require_local_server(home)?;
    let doc = api.json("POST", "/api/v1/dashboard/owner-link", None)?;
    let url = doc["url"].as_str().unwrap_or_default();
    let expires_at = doc["expires_at"].as_u64().unwrap_or(0);
    if out.json {
        out.print_json(&json!({ "url": url, "expires_at": expires_at }));
    } else {
        out.print(&format!(
            "Open this link within 2 minutes to sign in to the dashboard as the server's owner (it works once):\n  {url}\n"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

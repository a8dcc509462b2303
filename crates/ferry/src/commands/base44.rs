//! `ferry outbox` and `ferry base44 admin`: thin clients of the server's `/api/v1`, which owns
//! the Base44 backends (their databases and outboxes).

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{Base44Action, Base44Args, OutboxArgs};
use crate::failure::Failure;
use crate::output::Output;

/// `ferry outbox [--app] [--last N] [--json]`: the app's mail, oldest first.
pub fn outbox(args: &OutboxArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let app = super::manage::app_name(&api, args.app.as_deref())?;
    let mut doc = api.json("GET", &format!("/api/v1/apps/{app}/outbox"), None)?;
    if let (Some(n), Some(messages)) = (args.last, doc["messages"].as_array_mut()) {
        let skip = messages.len().saturating_sub(n);
        messages.drain(..skip);
    }
    if out.json {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let messages = doc["messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        out.print(&format!("{app}: no mail yet\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for m in &messages {
        let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
        let when = m["created_at"]
            .as_u64()
            .map(super::manage::utc)
            .unwrap_or_default();
        let status = match (s("status").as_str(), m["detail"].as_str()) {
            (st, Some(detail)) if !detail.is_empty() => format!("{st}: {detail}"),
            (st, _) => st.to_string(),
        };
        text.push_str(&format!(
            "{}  {when}  to {}  [{status}]\n  {}\n",
            s("id"),
            s("to"),
            s("subject")
        ));
        for line in s("text").lines() {
            text.push_str(&format!("  | {line}\n"));
        }
        text.push('\n');
    }
    out.print(&text);
    Ok(ExitCode::SUCCESS)
}

/// `ferry base44 …`.
pub fn run(args: &Base44Args, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let app = super::manage::app_name(&api, args.app.as_deref())?;
    match &args.action {
        Base44Action::Admin { email, revoke } => {
            let role = if *revoke { "user" } else { "admin" };
            let doc: Value = api.json(
                "POST",
                &format!("/api/v1/apps/{app}/base44/role"),
                Some(&json!({ "email": email, "role": role })),
            )?;
            if out.json {
                out.print_json(&doc);
            } else {
                out.print(&format!(
                    "{app}: {} is now {}\n",
                    doc["user"]["email"].as_str().unwrap_or(email),
                    doc["user"]["role"].as_str().unwrap_or(role)
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `ferry outbox`, `ferry base44 admin` and `ferry base44 invite`: thin clients of the server's `/api/v1`, which owns
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
        Base44Action::Invite {
            emails,
            all,
            resend,
            dry_run,
        } => return invite(&api, &app, emails, *all, *resend, *dry_run, out),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry base44 invite`: one line per user (sent, would-send, skipped or failed, and why);
/// exits 1 when any failed.
fn invite(
    api: &crate::client::Api,
    app: &str,
    emails: &[String],
    all: bool,
    resend: bool,
    dry_run: bool,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let doc: Value = api.json(
        "POST",
        &format!("/api/v1/apps/{app}/base44/invite"),
        Some(&json!({ "emails": emails, "all": all, "resend": resend, "dry_run": dry_run })),
    )?;
    let users = doc["users"].as_array().cloned().unwrap_or_default();
    let failed = users.iter().any(|u| u["status"] == "failed");
    if out.json {
        out.print_json(&doc);
    } else if users.is_empty() {
        out.print(&format!(
            "{app}: every user has a password; nobody to invite\n"
        ));
    } else {
        let mut text = String::new();
        for u in &users {
            let s = |k: &str| u[k].as_str().unwrap_or("").to_string();
            let reason = s("reason");
            text.push_str(&format!("{:<10} {}", s("status"), s("email")));
            if !reason.is_empty() {
                text.push_str(&format!("  ({reason})"));
            }
            text.push('\n');
        }
        let count = |st: &str| users.iter().filter(|u| u["status"] == st).count();
        text.push_str(&format!(
            "{app}: {} sent, {} would be sent, {} skipped, {} failed{}\n",
            count("sent"),
            count("would-send"),
            count("skipped"),
            count("failed"),
            if count("sent") > 0 {
                " (delivery: `ferry outbox`)"
            } else {
                ""
            }
        ));
        out.print(&text);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

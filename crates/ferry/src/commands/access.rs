//! `ferry org`, `ferry user`, `ferry token`: who may do what, through the server's API.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{OrgAction, OrgArgs, TokenAction, TokenArgs, UserAction, UserArgs};
use crate::failure::Failure;
use crate::output::Output;

/// `ferry org create|list`.
pub fn org(args: &OrgArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    match &args.action {
        OrgAction::Create { name } => {
            let doc = api.json("POST", "/api/v1/orgs", Some(&json!({ "name": name })))?;
            done(out, &doc, &format!("organisation `{name}` created\n"))
        }
        OrgAction::List => {
            let doc = api.json("GET", "/api/v1/orgs", None)?;
            let names: Vec<&str> = doc["orgs"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            done(out, &doc, &format!("{}\n", names.join("\n")))
        }
    }
}

/// `ferry user add`.
pub fn user(args: &UserArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    match &args.action {
        UserAction::Add { name, role, org } => {
            let doc = api.json(
                "POST",
                "/api/v1/users",
                Some(&json!({ "name": name, "role": role, "org": org })),
            )?;
            done(out, &doc, &format!("user `{name}` added as {role}\n"))
        }
    }
}

/// `ferry token create|list|revoke`.
pub fn token(args: &TokenArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    match &args.action {
        TokenAction::Create {
            name,
            scope,
            app,
            org,
            user,
            expires_in_days,
        } => {
            let doc = api.json(
                "POST",
                "/api/v1/tokens",
                Some(&json!({
                    "name": name, "scope": scope, "app": app, "org": org, "user": user,
                    "expires_in_days": expires_in_days,
                })),
            )?;
            let token = doc["token"].as_str().unwrap_or("");
            let on = app
                .as_deref()
                .map(|a| format!(" on app `{a}`"))
                .unwrap_or_default();
            done(
                out,
                &doc,
                &format!(
                    "token `{name}` ({scope}{on}), id {}:\n\n  {token}\n\nshown once: store it now (ferry keeps only its hash)\n",
                    doc["id"].as_str().unwrap_or("?")
                ),
            )
        }
        TokenAction::List => {
            let doc = api.json("GET", "/api/v1/tokens", None)?;
            let mut text = String::new();
            for t in doc["tokens"].as_array().cloned().unwrap_or_default() {
                let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
                let state = if t["revoked_at"].is_u64() {
                    "revoked".to_string()
                } else if let Some(at) = t["expires_at"].as_u64() {
                    format!("expires {}", super::manage::utc(at))
                } else {
                    "active".into()
                };
                let used = t["last_used_at"]
                    .as_u64()
                    .map_or("never used".to_string(), |at| {
                        format!("used {}", super::manage::utc(at))
                    });
                text.push_str(&format!(
                    "{}  {:<16} {:<7} org {}{}  {state}, {used}\n",
                    s("id"),
                    s("name"),
                    s("scope"),
                    s("org"),
                    t["app"]
                        .as_str()
                        .map(|a| format!(" app {a}"))
                        .unwrap_or_default(),
                ));
            }
            if text.is_empty() {
                text.push_str("no tokens\n");
            }
            done(out, &doc, &text)
        }
        TokenAction::Revoke { id } => {
            let doc = api.json("DELETE", &format!("/api/v1/tokens/{id}"), None)?;
            let verb = if doc["revoked"].as_bool() == Some(true) {
                "revoked"
            } else {
                "was already revoked"
            };
            done(out, &doc, &format!("token {id} {verb}\n"))
        }
    }
}

/// Prints `doc` with `--json`, else `text`.
fn done(out: &Output, doc: &Value, text: &str) -> Result<ExitCode, Failure> {
    if out.json {
        out.print_json(doc);
    } else {
        out.print(text);
    }
    Ok(ExitCode::SUCCESS)
}

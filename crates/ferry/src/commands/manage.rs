//! `ferry releases`, `rollback`, `promote`, `status`, `env`, `gc`, `down`: thin clients of the
//! server's `/api/v1`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use crate::cli::{EnvAction, EnvArgs, ReleasesArgs, SwitchArgs};
use crate::client::Api;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::output::Output;

/// The app a command is about: `--app`, else `./ferry.toml`'s name, else the only app.
pub(super) fn app_name(api: &Api, flag: Option<&str>) -> Result<String, Failure> {
    if let Some(name) = flag {
        return Ok(name.to_string());
    }
    let apps = api.json("GET", "/api/v1/apps", None)?;
    let names: Vec<String> = apps["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect();
    if let Ok(text) = std::fs::read_to_string("ferry.toml")
        && let Ok(m) = ferry_inspect::Manifest::parse(&text)
        && let Some(name) = m.name.filter(|n| names.contains(n))
    {
        return Ok(name);
    }
    if let Ok(cwd) = std::env::current_dir() {
        let here = cwd.display().to_string();
        for app in apps["apps"].as_array().into_iter().flatten() {
            if app["source_path"].as_str() == Some(here.as_str())
                && let Some(n) = app["name"].as_str()
            {
                return Ok(n.to_string());
            }
        }
    }
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Failure {
            code: "no-apps",
            message: "no app is deployed yet".into(),
            hint: "deploy one with `ferry up <folder>`".into(),
            exit: EXIT_BAD_INPUT,
        }),
        many => Err(Failure::usage(
            "several apps are deployed; which one?",
            format!("pass --app (one of: {})", many.join(", ")),
        )),
    }
}

/// `ferry releases [verify [ID]]`.
pub fn releases(args: &ReleasesArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let app = app_name(&api, args.app.as_deref())?;
    let doc = api.json("GET", &format!("/api/v1/apps/{app}/releases"), None)?;
    match args.action.first().map(String::as_str) {
        None => {}
        Some("verify") => {
            let id = match args.action.get(1) {
                Some(id) => id.clone(),
                None => doc["live"]["release_id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Failure::usage(
                            "no live release to verify",
                            "name one: `ferry releases verify <id>`",
                        )
                    })?,
            };
            let result = api.json(
                "GET",
                &format!("/api/v1/apps/{app}/releases/{id}/verify"),
                None,
            )?;
            let problems: Vec<String> =
                serde_json::from_value(result["problems"].clone()).unwrap_or_default();
            if out.json {
                out.print_json(&result);
            } else if problems.is_empty() {
                out.print(&format!(
                    "{id}: {} files, every blob intact\n",
                    result["files"]
                ));
            } else {
                out.print(&format!(
                    "{id}: {} problems\n{}\n",
                    problems.len(),
                    problems.join("\n")
                ));
            }
            return Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            });
        }
        Some(other) => {
            return Err(Failure::usage(
                format!("unknown action `{other}`"),
                "use `ferry releases` or `ferry releases verify [ID]`",
            ));
        }
    }
    if out.json {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let live = doc["live"]["release_id"].as_str().unwrap_or("");
    let mut s = format!(
        "{:<15} {:<20} {:<10} {:>6} {:>10}  {:<7} {}\n",
        "RELEASE", "CREATED (UTC)", "COMMIT", "FILES", "SIZE", "STATUS", "BY"
    );
    for r in doc["releases"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or("");
        let commit: String = r["source_commit"]
            .as_str()
            .unwrap_or("-")
            .chars()
            .take(8)
            .collect();
        s.push_str(&format!(
            "{:<15} {:<20} {:<10} {:>6} {:>10}  {:<7} {}\n",
            id,
            utc(r["created_at"].as_u64().unwrap_or(0)),
            commit,
            r["files"].as_u64().unwrap_or(0),
            super::deploy::human(r["bytes"].as_u64().unwrap_or(0)),
            if id == live { "live" } else { "" },
            r["created_by"].as_str().unwrap_or("")
        ));
    }
    out.print(&s);
    Ok(ExitCode::SUCCESS)
}

/// `ferry rollback [RELEASE]` and `ferry promote RELEASE`.
pub fn switch(
    args: &SwitchArgs,
    rollback: bool,
    home: &Path,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let api = crate::home::require_server(home)?;
    let app = app_name(&api, args.app.as_deref())?;
    let outcome = if rollback {
        let mut body = json!({ "env_current": args.env_current });
        if let Some(id) = &args.release {
            body["release_id"] = json!(id);
        }
        api.json("POST", &format!("/api/v1/apps/{app}/rollback"), Some(&body))?
    } else {
        let id = args.release.clone().ok_or_else(|| {
            Failure::usage(
                "`ferry promote` needs a release id",
                "list them with `ferry releases`",
            )
        })?;
        api.json(
            "POST",
            &format!("/api/v1/apps/{app}/activate"),
            Some(
                &json!({ "release_id": id, "action": "promote", "env_current": args.env_current }),
            ),
        )?
    };
    let elapsed = started.elapsed();
    if out.json {
        let mut doc = outcome.clone();
        doc["elapsed_ms"] = json!(elapsed.as_secs_f64() * 1000.0);
        out.print_json(&doc);
    } else {
        let id = outcome["release_id"].as_str().unwrap_or("?");
        let verb = if outcome["switched"].as_bool().unwrap_or(true) {
            "live"
        } else {
            "already live"
        };
        let mut notes = String::new();
        if let Some(ms) = outcome["cold_start_ms"].as_u64() {
            notes.push_str(&format!(
                "\n  its processes were not warm: started and health-checked in {ms} ms"
            ));
        }
        if let Some(ms) = outcome["downtime_ms"].as_u64() {
            notes.push_str(&format!(
                "\n  stop-start (the app binds a fixed port): down for {ms} ms"
            ));
        }
        out.print(&format!(
            "{app}: {id} {verb} in {:.1} ms (server {:.2} ms){}{notes}\n",
            elapsed.as_secs_f64() * 1000.0,
            outcome["server_micros"].as_f64().unwrap_or(0.0) / 1000.0,
            outcome["previous"]
                .as_str()
                .map(|p| format!("; was {p}"))
                .unwrap_or_default()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry status`.
pub fn status(home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let Some(api) = Api::connect(home) else {
        if out.json {
            out.print_json(&json!({ "running": false, "home": home }));
        } else {
            out.print(&format!(
                "no server running (home {})\n  start one: ferry up <folder>\n",
                home.display()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let doc = api.json("GET", "/api/v1/status", None)?;
    if out.json {
        let mut doc = doc;
        doc["running"] = json!(true);
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!(
        "server  pid {}, up {} s, edge http://{}, control http://{}\n",
        doc["pid"],
        doc["uptime_secs"],
        doc["edge"].as_str().unwrap_or(""),
        doc["control"].as_str().unwrap_or("")
    );
    for app in doc["apps"].as_array().into_iter().flatten() {
        let default = if doc["default_app"] == app["name"] {
            "  (default app)"
        } else {
            ""
        };
        s.push_str(&format!(
            "  {:<20} {:<15} {}{default}\n",
            app["name"].as_str().unwrap_or(""),
            app["live"].as_str().unwrap_or("(nothing live)"),
            app["url"].as_str().unwrap_or("")
        ));
    }
    out.print(&s);
    Ok(ExitCode::SUCCESS)
}

/// `ferry env set|list|unset|rotate-key`.
pub fn env(args: &EnvArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    if let EnvAction::RotateKey = &args.action {
        return rotate_key(&api, out);
    }
    let environment = &args.environment;
    if !ferry_control::is_slug(environment) {
        return Err(Failure::usage(
            format!("`{environment}` is not an environment name"),
            "use lowercase letters, digits and `-` (e.g. production)",
        ));
    }
    let app = app_name(&api, args.app.as_deref())?;
    let query = format!("?env={environment}");
    match &args.action {
        EnvAction::Set {
            assignments,
            build,
            runtime,
        } => {
            let scope = if *build {
                "build"
            } else if *runtime {
                "runtime"
            } else {
                "both"
            };
            let pairs = parse_assignments(assignments)?;
            let mut set = Vec::new();
            let mut warnings = Vec::new();
            for (name, value) in pairs {
                let doc = api.json(
                    "PUT",
                    &format!("/api/v1/apps/{app}/env/{name}{query}"),
                    Some(&json!({ "value": value, "scope": scope })),
                )?;
                for w in doc["warnings"].as_array().into_iter().flatten() {
                    if let Some(w) = w.as_str() {
                        eprintln!("warning: {w}");
                        warnings.push(w.to_string());
                    }
                }
                set.push(json!({
                    "name": name,
                    "scope": doc["scope"],
                    "fingerprint": doc["fingerprint"],
                }));
            }
            if out.json {
                out.print_json(&json!({
                    "app": app,
                    "env": environment,
                    "set": set,
                    "warnings": warnings,
                }));
            } else {
                let mut s = String::new();
                for v in &set {
                    s.push_str(&format!(
                        "{app}: {} set (encrypted; scope {}, fingerprint {})\n",
                        v["name"].as_str().unwrap_or(""),
                        v["scope"].as_str().unwrap_or(scope),
                        v["fingerprint"].as_str().unwrap_or("-"),
                    ));
                }
                out.print(&s);
            }
        }
        EnvAction::List => {
            let doc = api.json("GET", &format!("/api/v1/apps/{app}/env{query}"), None)?;
            if out.json {
                out.print_json(&doc);
                return Ok(ExitCode::SUCCESS);
            }
            let vars = doc["vars"].as_array().cloned().unwrap_or_default();
            if vars.is_empty() {
                out.print(&format!("{app}: no variables set in {environment}\n"));
                return Ok(ExitCode::SUCCESS);
            }
            let width = vars
                .iter()
                .filter_map(|v| v["name"].as_str())
                .map(str::len)
                .max()
                .unwrap_or(4)
                .max(4);
            let mut s = format!(
                "{:<width$}  {:<7}  {:<12}  UPDATED (UTC)\n",
                "NAME", "SCOPE", "FINGERPRINT"
            );
            for v in &vars {
                s.push_str(&format!(
                    "{:<width$}  {:<7}  {:<12}  {}\n",
                    v["name"].as_str().unwrap_or(""),
                    v["scope"].as_str().unwrap_or(""),
                    v["fingerprint"].as_str().unwrap_or(""),
                    utc(v["updated_at"].as_u64().unwrap_or(0)),
                ));
            }
            out.print(&s);
        }
        EnvAction::Unset { names } => {
            for name in names {
                check_env_name(name)?;
            }
            for name in names {
                api.json(
                    "DELETE",
                    &format!("/api/v1/apps/{app}/env/{name}{query}"),
                    None,
                )?;
            }
            if out.json {
                out.print_json(&json!({ "app": app, "env": environment, "unset": names }));
            } else {
                out.print(&format!("{app}: {} removed\n", names.join(", ")));
            }
        }
        EnvAction::RotateKey => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME=VALUE`, `NAME=-` or `NAME` (the last two read the value from stdin, at most once),
/// every name checked before anything is sent. Values are never echoed in errors.
fn parse_assignments(assignments: &[String]) -> Result<Vec<(String, String)>, Failure> {
    let mut out = Vec::new();
    let mut stdin_used = false;
    for assignment in assignments {
        let (name, value) = match assignment.split_once('=') {
            Some((n, v)) if v != "-" => (n.to_string(), Some(v.to_string())),
            Some((n, _)) => (n.to_string(), None),
            None => (assignment.clone(), None),
        };
        check_env_name(&name)?;
        let value = match value {
            Some(v) => v,
            None => {
                if stdin_used {
                    return Err(Failure::usage(
                        "only one value can come from stdin",
                        "give the others as NAME=VALUE",
                    ));
                }
                stdin_used = true;
                let mut v = String::new();
                std::io::stdin().read_to_string(&mut v).map_err(|e| {
                    Failure::usage(
                        format!("cannot read the value of {name} from stdin: {e}"),
                        "pipe it in, or use NAME=VALUE",
                    )
                })?;
                v.trim_end_matches(['\n', '\r']).to_string()
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

/// A variable name: `[A-Z_][A-Z0-9_]*` (a bad one is not echoed: it may be a value typed in
/// the wrong place).
fn check_env_name(name: &str) -> Result<(), Failure> {
    if ferry_control::is_secret_name(name) {
        Ok(())
    } else {
        Err(Failure::usage(
            "a variable name is not valid (it is not shown, in case it is a value)",
            "use upper-case letters, digits and `_`, e.g. STRIPE_SECRET_KEY=…",
        ))
    }
}

/// `ferry env rotate-key`.
fn rotate_key(api: &Api, out: &Output) -> Result<ExitCode, Failure> {
    let doc = api.json("POST", "/api/v1/env/rotate-key", None)?;
    if out.json {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!(
        "master key replaced: {} secrets and {} frozen release values re-encrypted, {} audit entries re-signed\n",
        doc["secrets"], doc["frozen"], doc["audit_entries"]
    );
    if let Some(key) = doc["new_key"].as_str() {
        s.push_str(&format!(
            "new FERRY_MASTER_KEY={key}\n  shown once: set FERRY_MASTER_KEY to it before the server restarts (the old key opens nothing any more)\n"
        ));
    }
    out.print(&s);
    Ok(ExitCode::SUCCESS)
}

/// `ferry gc`.
pub fn gc(home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let doc = api.json("POST", "/api/v1/gc", None)?;
    if out.json {
        out.print_json(&doc);
    } else {
        out.print(&format!(
            "removed {} releases and {} blobs, freed {}\n",
            doc["releases_removed"],
            doc["blobs_removed"],
            super::deploy::human(doc["bytes_freed"].as_u64().unwrap_or(0))
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry down`.
pub fn down(home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let Some(api) = Api::connect(home) else {
        out.print("no server running\n");
        return Ok(ExitCode::SUCCESS);
    };
    api.json("POST", "/api/v1/shutdown", None)?;
    let started = Instant::now();
    while Api::connect(home).is_some() && started.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if out.json {
        out.print_json(&json!({ "stopped": true }));
    } else {
        out.print("ferry server stopped; `ferry up` serves the live releases again\n");
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-26 01:02:03` from unix milliseconds.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, d) = ferry_edge::httpdate::civil(days as i64);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02}:{s:02}")
}

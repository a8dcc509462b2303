//! `ferry audit`: the audit log, filtered, as a table, JSON or JSON lines; `--verify` walks the
//! chain. Through the server when one runs; else straight from `$FERRY_HOME` (the server's
//! owner, on the machine).

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::AuditArgs;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::output::Output;

/// Runs `ferry audit`.
pub fn run(args: &AuditArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let since = match &args.since {
        Some(text) => Some(parse_since(text, now_ms()).ok_or_else(|| {
            Failure::usage(
                format!("`--since {text}` is not a duration, a date or unix milliseconds"),
                "use e.g. --since 24h, --since 7d or --since 2026-11-01",
            )
        })?),
        None => None,
    };
    let doc = match crate::client::Api::connect(home) {
        Some(api) => {
            if args.verify {
                api.json("GET", "/api/v1/audit/verify", None)?
            } else {
                let mut query = Vec::new();
                if let Some(app) = &args.app {
                    query.push(format!("app={app}"));
                }
                if let Some(s) = since {
                    query.push(format!("since={s}"));
                }
                if let Some(n) = args.limit {
                    query.push(format!("limit={n}"));
                }
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", query.join("&"))
                };
                api.json("GET", &format!("/api/v1/audit{q}"), None)?
            }
        }
        None => offline(args, home, since)?,
    };
    if args.verify {
        return verdict(&doc, out);
    }
    let entries = doc["entries"].as_array().cloned().unwrap_or_default();
    if args.jsonl {
        let mut text = String::new();
        for e in &entries {
            text.push_str(&serde_json::to_string(e).unwrap_or_default());
            text.push('\n');
        }
        out.print(&text);
        return Ok(ExitCode::SUCCESS);
    }
    if out.json {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for e in &entries {
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let ids = match (e["before"].as_str(), e["after"].as_str()) {
            (Some(b), Some(a)) => format!(" {b} → {a}"),
            (None, Some(a)) => format!(" → {a}"),
            _ => String::new(),
        };
        let detail = e["detail"]
            .as_str()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{:>5}  {}  {:<9} {:<20} {:<16} {}{ids}{detail}  [{} via {}]\n",
            e["seq"].as_i64().unwrap_or(0),
            super::manage::utc(e["at"].as_u64().unwrap_or(0)),
            s("outcome"),
            s("actor"),
            s("action"),
            s("target"),
            s("token_id").chars().take(16).collect::<String>(),
            s("source"),
        ));
    }
    if text.is_empty() {
        text.push_str("no audit entries\n");
    }
    out.print(&text);
    Ok(ExitCode::SUCCESS)
}

/// The log read straight from `$FERRY_HOME` when no server runs (the machine's owner).
fn offline(args: &AuditArgs, home: &Path, since: Option<u64>) -> Result<Value, Failure> {
    if !home.join(ferry_control::DB_FILE).is_file() {
        return Err(Failure {
            code: "no-state",
            message: format!("no ferry state in {}", home.display()),
            hint: "point FERRY_HOME (or --home) at the server's home".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let control = ferry_control::Control::open(home).map_err(Failure::from)?;
    if args.verify {
        let report = control.audit_verify().map_err(Failure::from)?;
        return Ok(serde_json::to_value(report).unwrap_or_default());
    }
    let filter = ferry_control::audit::Filter {
        app: args.app.clone(),
        since,
        limit: args.limit,
    };
    let entries = control
        .audit_entries(&ferry_control::Principal::local(), &filter)
        .map_err(Failure::from)?;
    Ok(json!({ "entries": entries }))
}

/// Prints the verification; exits 1 (the reason on stderr) when the chain is broken.
fn verdict(doc: &Value, out: &Output) -> Result<ExitCode, Failure> {
    let ok = doc["ok"].as_bool() == Some(true);
    if out.json {
        out.print_json(doc);
    } else if ok {
        out.print(&format!(
            "audit log intact: {} entries verify, and the chain ends where its anchor says\n",
            doc["entries"].as_i64().unwrap_or(0)
        ));
    }
    if ok {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: the audit log does not verify: {} (first bad entry: {})\nhint: restore ferry.db and audit.head from a backup, and find out who had write access to $FERRY_HOME",
        doc["problem"].as_str().unwrap_or("?"),
        doc["first_bad"].as_i64().unwrap_or(0)
    );
    Ok(ExitCode::from(EXIT_FAILED))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `30m`, `24h`, `7d` before `now`; `2026-11-01` (UTC midnight); or unix milliseconds.
fn parse_since(text: &str, now: u64) -> Option<u64> {
    let text = text.trim();
    if let Some(unit) = text.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let n: u64 = text[..text.len() - 1].parse().ok()?;
        let ms = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 604_800_000,
            _ => return None,
        };
        return Some(now.saturating_sub(n.checked_mul(ms)?));
    }
    if let [y, m, d] = text.split('-').collect::<Vec<_>>()[..] {
        let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        return ferry_edge::httpdate::days_from_civil(y, i64::from(m), i64::from(d))
            .checked_mul(86_400_000)
            .and_then(|ms| ms.try_into().ok());
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_dates_and_milliseconds() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("24h", now), Some(now - 86_400_000));
        assert_eq!(parse_since("7d", now), Some(now - 7 * 86_400_000));
        assert_eq!(parse_since("30m", now), Some(now - 1_800_000));
        assert_eq!(parse_since("1970-01-02", now), Some(86_400_000));
        assert_eq!(parse_since("2026-11-26", now), Some(1_795_651_200_000));
        assert_eq!(parse_since("123", now), Some(123));
        assert_eq!(parse_since("soon", now), None);
        assert_eq!(parse_since("2026-13-01", now), None);
        assert_eq!(parse_since("5y", now), None);
    }
}

//! `ferry ps` and `ferry logs`: thin clients of the server's `/api/v1`, which supervises the
//! processes of server releases and keeps their logs (secrets already masked).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{LogsArgs, PsArgs};
use crate::failure::Failure;
use crate::output::Output;

/// How often `ferry logs --follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// `ferry ps [--app] [--json]`.
pub fn ps(args: &PsArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let app = super::manage::app_name(&api, args.app.as_deref())?;
    let doc = api.json("GET", &format!("/api/v1/apps/{app}/processes"), None)?;
    if out.json {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = doc["processes"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        out.print(&format!("{app}: no processes run\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:<12} {:<15} {:<5} {:<11} {:>8} {:>6} {:>8} {:>8} {:>9}\n",
        "PROCESS", "RELEASE", "", "STATUS", "PID", "PORT", "RESTARTS", "UPTIME", "MEMORY"
    );
    for p in &rows {
        let running = !matches!(
            p["status"].as_str(),
            Some("stopped" | "crash-loop" | "restarting")
        );
        text.push_str(&format!(
            "{:<12} {:<15} {:<5} {:<11} {:>8} {:>6} {:>8} {:>8} {:>9}\n",
            p["name"].as_str().unwrap_or("?"),
            p["release"].as_str().unwrap_or("?"),
            if p["live"].as_bool() == Some(true) {
                "live"
            } else {
                "warm"
            },
            p["status"].as_str().unwrap_or("?"),
            if running {
                p["pid"].as_u64().unwrap_or(0).to_string()
            } else {
                "-".into()
            },
            p["port"].as_u64().unwrap_or(0),
            p["restarts"].as_u64().unwrap_or(0),
            if running {
                uptime(p["uptime_secs"].as_u64().unwrap_or(0))
            } else {
                "-".into()
            },
            p["rss_bytes"].as_u64().map_or_else(
                || "-".into(),
                |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
            ),
        ));
        // Why it is down or restarted, and whether its output outran the log's budget.
        if let Some(exit) = p["last_exit"]
            .as_str()
            .filter(|_| !running || p["restarts"].as_u64().unwrap_or(0) > 0)
        {
            text.push_str(&format!("  last exit: {exit}\n"));
        }
        if let Some(limits) = limits_line(&p["limits"]) {
            text.push_str(&format!("  limits: {limits}\n"));
        }
        if let Some(dropped) = p["log_dropped_bytes"].as_u64().filter(|d| *d > 0) {
            text.push_str(&format!(
                "  log: {dropped} bytes of output dropped (over the log rate budget)\n"
            ));
        }
    }
    if let Some(reason) = doc["limits"]["reason"].as_str() {
        let how = if doc["limits"]["cgroup"].as_bool() == Some(true) {
            reason.to_string()
        } else {
            format!("rlimits only (cgroup v2 {reason})")
        };
        text.push_str(&format!("limits: {how}\n"));
    }
    out.print(&text);
    Ok(ExitCode::SUCCESS)
}

/// `memory 64 MiB (RLIMIT_DATA), open files 64 (RLIMIT_NOFILE), cpus 1.5 (not enforced: …)`
/// from a process's `limits`; `None` when it has none.
fn limits_line(limits: &Value) -> Option<String> {
    let parts: Vec<String> = limits
        .as_array()?
        .iter()
        .filter_map(|l| {
            let value = l["value"].as_u64()?;
            let shown = match l["limit"].as_str()? {
                "memory_bytes" => format!("memory {}", size(value)),
                "cpu_percent" => format!("cpus {}", value as f64 / 100.0),
                "processes" => format!("pids {value}"),
                "open_files" => format!("open files {value}"),
                "cpu_seconds" => format!("cpu time {value}s"),
                other => format!("{other} {value}"),
            };
            Some(format!("{shown} ({})", l["detail"].as_str().unwrap_or("?")))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `67108864` → `64 MiB`, `1610612736` → `1.5 GiB`, `300000000` → `286.1 MiB`.
fn size(bytes: u64) -> String {
    let (value, unit) = if bytes >= 1 << 30 {
        (bytes as f64 / f64::from(1u32 << 30), "GiB")
    } else {
        (bytes as f64 / f64::from(1u32 << 20), "MiB")
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.trim_end_matches(".0"))
}

/// `90` → `1m30s`, `7300` → `2h01m`, `200000` → `2d07h`.
fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A query-string value, percent-encoded (names the server refuses still reach it intact).
fn encode(value: &str) -> String {
    let mut s = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `ferry logs [--app] [--process] [--release] [--lines N] [--follow] [--json]`.
pub fn logs(args: &LogsArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let api = crate::home::require_server(home)?;
    let app = super::manage::app_name(&api, args.app.as_deref())?;
    let path = |process: Option<&str>, release: Option<&str>, after: Option<&str>| {
        let mut q = format!("/api/v1/apps/{}/logs?lines={}", encode(&app), args.lines);
        for (k, v) in [("process", process), ("release", release), ("after", after)] {
            if let Some(v) = v {
                q.push_str(&format!("&{k}={}", encode(v)));
            }
        }
        q
    };
    let doc = api.json(
        "GET",
        &path(args.process.as_deref(), args.release.as_deref(), None),
        None,
    )?;
    if out.json && !args.follow {
        out.print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    print_lines(&doc, args.follow, out);
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    // Follow the same release and process even if another release goes live meanwhile.
    let release = doc["release"].as_str().unwrap_or_default().to_string();
    let process = doc["process"].as_str().unwrap_or_default().to_string();
    let mut cursor = doc["cursor"].as_str().unwrap_or_default().to_string();
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        let doc = api.json(
            "GET",
            &path(Some(&process), Some(&release), Some(&cursor)),
            None,
        )?;
        if let Some(skipped) = doc["skipped"].as_u64().filter(|n| *n > 0) {
            eprintln!("[{skipped} lines skipped]");
        }
        print_lines(&doc, true, out);
        if let Some(c) = doc["cursor"].as_str() {
            cursor = c.to_string();
        }
    }
}

/// Prints an answer's lines: as text, or (following with --json) one JSON object per line.
fn print_lines(doc: &Value, follow: bool, out: &Output) {
    let mut text = String::new();
    for line in doc["lines"].as_array().into_iter().flatten() {
        let line = line.as_str().unwrap_or_default();
        if out.json && follow {
            let row = json!({ "release": doc["release"], "process": doc["process"], "line": line });
            text.push_str(&row.to_string());
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    if !text.is_empty() {
        out.print(&text);
    }
}

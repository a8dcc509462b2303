//! `/dashboard/apps/{app}/findings`: the inspect findings (lock-in, security, production) of
//! the live release with their fixes, and the three verdicts, from
//! `GET /api/v1/apps/{app}/inspect` (the report `ferry deploy` stores with each release).

use std::fmt::Write as _;

use axum::extract::Path;
use axum::response::Response;
use serde_json::Value;

use super::app_path;
use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc};

/// `GET /dashboard/apps/{app}/findings`.
pub async fn page(who: Signed, Path(app): Path<String>) -> Response {
    let title = format!("{app} findings");
    let mut main = format!(
        "<h1>{} · findings</h1>{}",
        esc(&app),
        html::app_tabs(&app, "findings")
    );
    let doc = match who
        .get(&format!("/api/v1/apps/{}/inspect", app_path(&app)))
        .await
    {
        Ok(d) => d,
        Err(f) if f.code == "no-inspect-report" => {
            main.push_str(&html::notice("info", &f.message));
            if !f.hint.is_empty() {
                let _ = write!(main, "<p>{}</p>", esc(&f.hint));
            }
            return who.page(&title, Nav::Apps, &main);
        }
        Err(f) => return who.failed(&title, &f),
    };
    let report = &doc["report"];
    let _ = write!(
        main,
        "<p>Inspected for release <code>{}</code> on {}.</p>",
        esc(doc["release"].as_str().unwrap_or_default()),
        esc(&html::when(doc["stored_at"].as_u64().unwrap_or(0)))
    );
    main.push_str("<dl class=\"facts\">");
    for (key, label) in [
        ("lock_in", "Lock-in"),
        ("security", "Security"),
        ("production", "Production"),
    ] {
        let _ = write!(
            main,
            "<dt>{label}</dt><dd>{}</dd>",
            esc(report["verdicts"][key].as_str().unwrap_or_default())
        );
    }
    main.push_str("</dl>");
    let findings: Vec<Value> = report["findings"].as_array().cloned().unwrap_or_default();
    if findings.is_empty() {
        main.push_str("<p>No findings.</p>");
        return who.page(&title, Nav::Apps, &main);
    }
    let _ = write!(
        main,
        "<h2>{} findings</h2><ul class=\"findings\">",
        findings.len()
    );
    for f in &findings {
        let severity = f["severity"].as_str().unwrap_or_default();
        let class = match severity {
            "high" | "critical" => "bad",
            "info" => "neutral",
            _ => "warn",
        };
        let _ = write!(
            main,
            "<li><h3><span class=\"badge {class}\">{}</span> {} <span class=\"help\">({}, <code>{}</code>)</span></h3>",
            esc(severity),
            esc(f["title"].as_str().unwrap_or_default()),
            esc(f["category"].as_str().unwrap_or_default()),
            esc(f["id"].as_str().unwrap_or_default()),
        );
        let evidence = f["evidence"].as_array().cloned().unwrap_or_default();
        if !evidence.is_empty() {
            main.push_str("<ul class=\"evidence\">");
            for e in evidence.iter().take(20) {
                let _ = write!(
                    main,
                    "<li><code>{}</code></li>",
                    esc(e.as_str().unwrap_or_default())
                );
            }
            main.push_str("</ul>");
        }
        let _ = write!(
            main,
            "<p><strong>Fix:</strong> {}</p>",
            esc(f["fix"].as_str().unwrap_or_default())
        );
        if let Some(ferry) = f["ferry"].as_str() {
            let _ = write!(main, "<p><strong>ferry:</strong> {}</p>", esc(ferry));
        }
        main.push_str("</li>");
    }
    main.push_str("</ul>");
    who.page(&title, Nav::Apps, &main)
}

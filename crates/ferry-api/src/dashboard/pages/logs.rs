//! `/dashboard/apps/{app}/logs`: the last lines of a process's log (masked as the API masks
//! them: secret values never reach the log files), kept live by `dashboard.js` polling
//! `…/logs/tail?after=<cursor>` (JSON lines the script appends as text). Without JavaScript
//! the page is a snapshot with a refresh link.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::app_path;
use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc, url};

/// `?process=…&release=…&after=…`.
#[derive(Deserialize, Default)]
pub struct LogQuery {
    process: Option<String>,
    release: Option<String>,
    after: Option<String>,
}

impl LogQuery {
    fn api_query(&self, lines: u32) -> String {
        let mut q = format!("lines={lines}");
        for (key, value) in [
            ("process", &self.process),
            ("release", &self.release),
            ("after", &self.after),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                let _ = write!(q, "&{key}={}", url(v));
            }
        }
        q
    }
}

/// `GET /dashboard/apps/{app}/logs`.
pub async fn page(who: Signed, Path(app): Path<String>, Query(q): Query<LogQuery>) -> Response {
    let a = app_path(&app);
    let title = format!("{app} logs");
    let mut main = format!(
        "<h1>{} · logs</h1>{}",
        esc(&app),
        html::app_tabs(&app, "logs")
    );
    let doc = match who
        .get(&format!("/api/v1/apps/{a}/logs?{}", q.api_query(200)))
        .await
    {
        Ok(d) => d,
        Err(f) if f.code == "no-processes" || f.code == "no-live-release" => {
            main.push_str(&html::notice("info", &f.message));
            main.push_str("<p>Only server apps have process logs.</p>");
            return who.page(&title, Nav::Apps, &main);
        }
        Err(f) => return who.failed(&title, &f),
    };
    let process = doc["process"].as_str().unwrap_or_default();
    let release = doc["release"].as_str().unwrap_or_default();
    let cursor = doc["cursor"].as_str().unwrap_or_default();
    let tail = format!(
        "/dashboard/apps/{a}/logs/tail?process={}&release={}",
        url(process),
        url(release)
    );
    let _ = write!(
        main,
        "<p>Process <code>{}</code> of release <code>{}</code>{}. \
<span id=\"log-state\" role=\"status\">Snapshot; <a href=\"/dashboard/apps/{a}/logs?process={}\">refresh</a>.</span></p>\
<pre id=\"log\" class=\"log\" tabindex=\"0\" aria-label=\"Log lines\" data-tail=\"{}\" data-cursor=\"{}\">",
        esc(process),
        esc(release),
        if doc["live"] == true { " (live)" } else { "" },
        url(process),
        esc(&tail),
        esc(cursor),
    );
    for line in doc["lines"].as_array().into_iter().flatten() {
        main.push_str(&esc(line.as_str().unwrap_or_default()));
        main.push('\n');
    }
    main.push_str("</pre>");
    who.page(&title, Nav::Apps, &main)
}

/// `GET /dashboard/apps/{app}/logs/tail?after=…`: `{lines, cursor}` since the cursor.
pub async fn tail(who: Signed, Path(app): Path<String>, Query(q): Query<LogQuery>) -> Response {
    let a = app_path(&app);
    match who
        .get(&format!("/api/v1/apps/{a}/logs?{}", q.api_query(1000)))
        .await
    {
        Ok(doc) => Json(json!({ "lines": doc["lines"], "cursor": doc["cursor"] })).into_response(),
        Err(f) => (
            axum::http::StatusCode::from_u16(f.status)
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            Json(json!({ "error": f.message })),
        )
            .into_response(),
    }
}

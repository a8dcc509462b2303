//! `/dashboard/apps/{app}`: an app's live release, URL and processes (health, port, restarts).

use std::fmt::Write as _;

use axum::extract::Path;
use axum::response::Response;

use super::app_path;
use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc};

/// `GET /dashboard/apps/{app}`.
pub async fn overview(who: Signed, Path(app): Path<String>) -> Response {
    let a = app_path(&app);
    let releases = match who.get(&format!("/api/v1/apps/{a}/releases")).await {
        Ok(r) => r,
        Err(f) => return who.failed(&app, &f),
    };
    let processes = match who.get(&format!("/api/v1/apps/{a}/processes")).await {
        Ok(p) => p,
        Err(f) => return who.failed(&app, &f),
    };
    let url = match who.get("/api/v1/status").await {
        Ok(s) => s["apps"]
            .as_array()
            .and_then(|apps| apps.iter().find(|x| x["name"] == app.as_str()))
            .and_then(|x| x["url"].as_str())
            .unwrap_or_default()
            .to_string(),
        Err(f) => return who.failed(&app, &f),
    };
    let live = releases["live"]["release_id"].as_str().unwrap_or("none");
    let since = releases["live"]["activated_at"]
        .as_u64()
        .map(html::when)
        .unwrap_or_default();
    let (health, class) = super::apps::health(&processes);
    let mut main = format!("<h1>{}</h1>{}", esc(&app), html::app_tabs(&app, ""));
    let _ = write!(
        main,
        "<dl class=\"facts\"><dt>Live release</dt><dd><code id=\"live-release\">{}</code> since {}</dd>\
<dt>Health</dt><dd><span class=\"badge {class}\">{}</span></dd>\
<dt>URL</dt><dd><a href=\"{}\">{}</a></dd>\
<dt>Releases</dt><dd>{} (<a href=\"/dashboard/apps/{a}/releases\">history, rollback and promote</a>)</dd></dl>",
        esc(live),
        esc(&since),
        esc(&health),
        esc(&url),
        esc(&url),
        releases["releases"].as_array().map_or(0, Vec::len),
    );
    main.push_str("<h2>Processes</h2>");
    let rows = processes["processes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        main.push_str("<p>No processes: the release is served as files by the edge.</p>");
    } else {
        main.push_str(
            "<div class=\"scroll\"><table><caption>Supervised processes (live first, then warm)</caption><thead><tr>\
<th scope=\"col\">Process</th><th scope=\"col\">Release</th><th scope=\"col\">Status</th>\
<th scope=\"col\">Port</th><th scope=\"col\">Restarts</th><th scope=\"col\">Up</th></tr></thead><tbody>",
        );
        for p in &rows {
            let status = p["status"].as_str().unwrap_or("unknown");
            let class = if status == "healthy" { "good" } else { "bad" };
            let marker = if p["live"] == true {
                " (live)"
            } else {
                " (warm)"
            };
            let _ = write!(
                main,
                "<tr><th scope=\"row\">{}</th><td><code>{}</code>{marker}</td><td><span class=\"badge {class}\">{}</span></td>\
<td>{}</td><td>{}</td><td>{} s</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                esc(p["release"].as_str().unwrap_or_default()),
                esc(status),
                p["port"].as_u64().unwrap_or(0),
                p["restarts"].as_u64().unwrap_or(0),
                p["uptime_secs"].as_u64().unwrap_or(0),
            );
        }
        main.push_str("</tbody></table></div>");
    }
    who.page(&app, Nav::Apps, &main)
}

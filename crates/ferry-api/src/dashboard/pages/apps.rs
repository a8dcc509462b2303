//! `/dashboard/`: the apps the token sees, each with its live release, the health of its
//! processes and its URL.

use std::fmt::Write as _;

use axum::response::Response;
use serde_json::Value;

use super::app_path;
use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc};

/// A one-word health of an app's live processes from `GET …/processes`.
pub fn health(processes: &Value) -> (String, &'static str) {
    let live: Vec<&Value> = processes["processes"]
        .as_array()
        .map(|a| a.iter().filter(|p| p["live"] == true).collect())
        .unwrap_or_default();
    if live.is_empty() {
        return ("static (no processes)".into(), "neutral");
    }
    let healthy = live.iter().filter(|p| p["status"] == "healthy").count();
    let word = if healthy == live.len() { "good" } else { "bad" };
    (format!("{healthy} of {} healthy", live.len()), word)
}

/// `GET /dashboard/`.
pub async fn list(who: Signed) -> Response {
    let status = match who.get("/api/v1/status").await {
        Ok(s) => s,
        Err(f) => return who.failed("Apps", &f),
    };
    let apps = status["apps"].as_array().cloned().unwrap_or_default();
    let mut main = String::from("<h1>Apps</h1>");
    if apps.is_empty() {
        main.push_str(
            "<p>This token sees no apps yet. Deploy one with <code>ferry deploy</code>.</p>",
        );
        return who.page("Apps", Nav::Apps, &main);
    }
    main.push_str(
        "<div class=\"scroll\"><table><caption>Apps this token sees</caption><thead><tr>\
<th scope=\"col\">App</th><th scope=\"col\">Live release</th><th scope=\"col\">Since</th>\
<th scope=\"col\">Health</th><th scope=\"col\">URL</th></tr></thead><tbody>",
    );
    for app in &apps {
        let name = app["name"].as_str().unwrap_or_default();
        let processes = who
            .get(&format!("/api/v1/apps/{}/processes", app_path(name)))
            .await
            .unwrap_or(Value::Null);
        let (health, class) = health(&processes);
        let live = app["live"].as_str().unwrap_or("none");
        let since = app["activated_at"]
            .as_u64()
            .map(html::when)
            .unwrap_or_default();
        let url = app["url"].as_str().unwrap_or_default();
        let _ = write!(
            main,
            "<tr><th scope=\"row\"><a href=\"/dashboard/apps/{}\">{}</a></th><td><code>{}</code></td>\
<td>{}</td><td><span class=\"badge {class}\">{}</span></td><td><a href=\"{}\">{}</a></td></tr>",
            app_path(name),
            esc(name),
            esc(live),
            esc(&since),
            esc(&health),
            esc(url),
            esc(url)
        );
    }
    main.push_str("</tbody></table></div>");
    who.page("Apps", Nav::Apps, &main)
}

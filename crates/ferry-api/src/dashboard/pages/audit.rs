//! `/dashboard/audit`: the audit entries the token may see (`GET /api/v1/audit`, which
//! filters by organisation, app and time), newest first, filtered further by action and
//! outcome here, 50 to a page.

use std::fmt::Write as _;

use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc, url};

/// Entries per page.
const PAGE: usize = 50;
/// Newest entries fetched from the API per view.
const FETCH: u32 = 10_000;

/// The filter form.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    app: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    /// `1h`, `24h`, `7d`, `30d` or empty.
    since: Option<String>,
    page: Option<usize>,
}

fn window_ms(since: &str) -> Option<u64> {
    match since {
        "1h" => Some(3_600_000),
        "24h" => Some(86_400_000),
        "7d" => Some(7 * 86_400_000),
        "30d" => Some(30 * 86_400_000),
        _ => None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn keep(q: &AuditQuery, e: &Value) -> bool {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(action) = given(&q.action)
        && !e["action"]
            .as_str()
            .unwrap_or_default()
            .contains(action.as_str())
    {
        return false;
    }
    if let Some(outcome) = given(&q.outcome)
        && e["outcome"].as_str() != Some(outcome.as_str())
    {
        return false;
    }
    true
}

/// `GET /dashboard/audit`.
pub async fn page(who: Signed, Query(q): Query<AuditQuery>) -> Response {
    let app = q.app.as_deref().map(str::trim).unwrap_or_default();
    let since = q.since.as_deref().unwrap_or_default();
    let mut path = format!("/api/v1/audit?limit={FETCH}");
    if !app.is_empty() {
        let _ = write!(path, "&app={}", url(app));
    }
    if let Some(window) = window_ms(since) {
        let _ = write!(path, "&since={}", now_ms().saturating_sub(window));
    }
    let doc = match who.get(&path).await {
        Ok(d) => d,
        Err(f) => return who.failed("Audit log", &f),
    };
    let mut entries: Vec<Value> = doc["entries"]
        .as_array()
        .map(|a| a.iter().filter(|e| keep(&q, e)).cloned().collect())
        .unwrap_or_default();
    entries.reverse();
    let page = q.page.unwrap_or(1).max(1);
    let pages = entries.len().div_ceil(PAGE).max(1);
    let page = page.min(pages);

    let mut main = String::from("<h1>Audit log</h1>");
    let selected = |v: &str, current: &str| if v == current { " selected" } else { "" };
    let outcome = q.outcome.as_deref().unwrap_or_default();
    let _ = write!(
        main,
        "<form method=\"get\" action=\"/dashboard/audit\" class=\"filters\" role=\"search\" aria-label=\"Filter the audit log\">\
<div><label for=\"f-app\">App</label><input id=\"f-app\" name=\"app\" value=\"{}\"></div>\
<div><label for=\"f-action\">Action contains</label><input id=\"f-action\" name=\"action\" value=\"{}\"></div>\
<div><label for=\"f-outcome\">Outcome</label><select id=\"f-outcome\" name=\"outcome\">\
<option value=\"\"{}>any</option><option value=\"ok\"{}>ok</option><option value=\"unchanged\"{}>unchanged</option>\
<option value=\"refused\"{}>refused</option><option value=\"failed\"{}>failed</option></select></div>\
<div><label for=\"f-since\">Since</label><select id=\"f-since\" name=\"since\">\
<option value=\"\"{}>any time</option><option value=\"1h\"{}>last hour</option><option value=\"24h\"{}>last 24 hours</option>\
<option value=\"7d\"{}>last 7 days</option><option value=\"30d\"{}>last 30 days</option></select></div>\
<div><button type=\"submit\">Filter</button></div></form>",
        esc(app),
        esc(q.action.as_deref().unwrap_or_default()),
        selected("", outcome),
        selected("ok", outcome),
        selected("unchanged", outcome),
        selected("refused", outcome),
        selected("failed", outcome),
        selected("", since),
        selected("1h", since),
        selected("24h", since),
        selected("7d", since),
        selected("30d", since),
    );
    let _ = write!(
        main,
        "<p role=\"status\">{} entries match; page {page} of {pages}, newest first.</p>",
        entries.len()
    );
    if !entries.is_empty() {
        main.push_str(
            "<div class=\"scroll\"><table><caption>Audit entries</caption><thead><tr><th scope=\"col\">#</th>\
<th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Action</th><th scope=\"col\">Target</th>\
<th scope=\"col\">Outcome</th><th scope=\"col\">Change</th><th scope=\"col\">From</th></tr></thead><tbody>",
        );
        for e in entries.iter().skip((page - 1) * PAGE).take(PAGE) {
            let outcome = e["outcome"].as_str().unwrap_or_default();
            let class = match outcome {
                "ok" => "good",
                "refused" | "failed" => "bad",
                _ => "neutral",
            };
            let change = match (e["before"].as_str(), e["after"].as_str()) {
                (None, None) => e["detail"].as_str().unwrap_or_default().to_string(),
                (b, a) => format!("{} → {}", b.unwrap_or("—"), a.unwrap_or("—")),
            };
            let _ = write!(
                main,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"badge {class}\">{}</span></td><td>{}</td><td>{}</td></tr>",
                e["seq"].as_i64().unwrap_or(0),
                esc(&html::when(e["at"].as_u64().unwrap_or(0))),
                esc(e["actor"].as_str().unwrap_or_default()),
                esc(e["action"].as_str().unwrap_or_default()),
                esc(e["target"].as_str().unwrap_or_default()),
                esc(outcome),
                esc(&change),
                esc(e["source"].as_str().unwrap_or_default()),
            );
        }
        main.push_str("</tbody></table></div>");
    }
    if pages > 1 {
        let link = |p: usize| {
            format!(
                "/dashboard/audit?app={}&amp;action={}&amp;outcome={}&amp;since={}&amp;page={p}",
                url(app),
                url(q.action.as_deref().unwrap_or_default()),
                url(outcome),
                url(since)
            )
        };
        main.push_str("<nav aria-label=\"Audit pages\" class=\"pager\">");
        if page > 1 {
            let _ = write!(
                main,
                "<a href=\"{}\" rel=\"prev\">Newer entries</a> ",
                link(page - 1)
            );
        }
        if page < pages {
            let _ = write!(
                main,
                "<a href=\"{}\" rel=\"next\">Older entries</a>",
                link(page + 1)
            );
        }
        main.push_str("</nav>");
    }
    who.page("Audit log", Nav::Audit, &main)
}

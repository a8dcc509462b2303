//! `/dashboard/apps/{app}/env`: the app's variables — names, scopes, fingerprints, when set —
//! from `GET /api/v1/apps/{app}/env`, which never answers a value.

use std::fmt::Write as _;

use axum::extract::Path;
use axum::response::Response;

use super::app_path;
use crate::dashboard::Signed;
use crate::dashboard::html::{self, Nav, esc};

/// `GET /dashboard/apps/{app}/env`.
pub async fn page(who: Signed, Path(app): Path<String>) -> Response {
    let title = format!("{app} env");
    let doc = match who
        .get(&format!("/api/v1/apps/{}/env", app_path(&app)))
        .await
    {
        Ok(d) => d,
        Err(f) => return who.failed(&title, &f),
    };
    let mut main = format!(
        "<h1>{} · env</h1>{}",
        esc(&app),
        html::app_tabs(&app, "env")
    );
    let _ = write!(
        main,
        "<p>Environment <code>{}</code>. Values are stored encrypted and never shown; equal \
fingerprints mean equal values. Change them with <code>ferry env set</code>.</p>",
        esc(doc["env"].as_str().unwrap_or_default())
    );
    let vars = doc["vars"].as_array().cloned().unwrap_or_default();
    if vars.is_empty() {
        main.push_str("<p>No variables are set.</p>");
        return who.page(&title, Nav::Apps, &main);
    }
    main.push_str(
        "<div class=\"scroll\"><table><caption>Variables</caption><thead><tr><th scope=\"col\">Name</th>\
<th scope=\"col\">Scope</th><th scope=\"col\">Fingerprint</th><th scope=\"col\">Set</th></tr></thead><tbody>",
    );
    for v in &vars {
        let _ = write!(
            main,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(v["name"].as_str().unwrap_or_default()),
            esc(v["scope"].as_str().unwrap_or_default()),
            esc(v["fingerprint"].as_str().unwrap_or_default()),
            esc(&html::when(v["updated_at"].as_u64().unwrap_or(0))),
        );
    }
    main.push_str("</tbody></table></div>");
    who.page(&title, Nav::Apps, &main)
}

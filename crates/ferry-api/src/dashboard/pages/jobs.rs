//! `/dashboard/jobs`: data jobs (pull, verify, follow) from `GET /api/v1/jobs`: status,
//! phase, progress, a follow's lag. Jobs belong to no organisation, so the API lets only the
//! server's owner see them (an owner session, signed in with `ferry dashboard`'s link); a
//! token holder gets a clear "not allowed" and that hint. A finished pull the server can check
//! by its id (`reverifiable`: a Base44 export pull) has a Verify button, which posts (with the
//! session's CSRF token) to `POST /api/v1/jobs/verify` and comes back here, where the verify
//! job is listed.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use crate::dashboard::html::{self, Nav, esc};
use crate::dashboard::{Signed, refused_post};

/// `?verifying=job_…` after the Verify button.
#[derive(Deserialize)]
pub struct Shown {
    verifying: Option<String>,
}

/// `GET /dashboard/jobs`.
pub async fn page(who: Signed, Query(shown): Query<Shown>) -> Response {
    let mut main = String::from("<h1>Data jobs</h1>");
    if let Some(id) = &shown.verifying {
        main.push_str(&html::notice(
            "ok",
            &format!("Verify job {id} started: reload this page to follow it."),
        ));
    }
    let doc = match who.get("/api/v1/jobs?limit=100").await {
        Ok(d) => d,
        Err(f) if f.status == 403 => {
            main.push_str(&html::notice(
                "error",
                "Not allowed: data jobs (ferry db pull, verify, follow) belong to the server's owner, \
not to an organisation, so no token may list them.",
            ));
            main.push_str(
                "<p>On the server, run <code>ferry dashboard</code> for an owner link (it signs \
this browser in as the server's owner, who sees the data jobs), or list them with \
<code>ferry db jobs</code>.</p>",
            );
            return html::with_status(
                403,
                html::page("Data jobs", Some(&who.viewer()), Nav::Jobs, &main),
            );
        }
        Err(f) => return who.failed("Data jobs", &f),
    };
    let jobs = doc["jobs"].as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        main.push_str("<p>No data jobs yet.</p>");
        return who.page("Data jobs", Nav::Jobs, &main);
    }
    main.push_str(
        "<div class=\"scroll\"><table><caption>Newest first</caption><thead><tr><th scope=\"col\">Job</th>\
<th scope=\"col\">Kind</th><th scope=\"col\">Status</th><th scope=\"col\">Phase</th><th scope=\"col\">Progress</th>\
<th scope=\"col\">Lag</th><th scope=\"col\">Updated</th><th scope=\"col\">Check</th></tr></thead><tbody>",
    );
    for j in &jobs {
        let progress = j["progress"].as_object().cloned().unwrap_or_default();
        let (mut rows, mut tables) = (0u64, 0usize);
        let mut lag = String::from("—");
        for (table, p) in &progress {
            if table == "lag" {
                lag = format!(
                    "{} bytes behind, {} changes applied",
                    p["bytes"].as_u64().unwrap_or(0),
                    p["rows"].as_u64().unwrap_or(0)
                );
            } else {
                rows += p["rows"].as_u64().unwrap_or(0);
                tables += 1;
            }
        }
        let _ = write!(
            main,
            "<tr><th scope=\"row\"><code>{}</code><br><span class=\"help\">{}</span></th><td>{}</td><td>{}</td><td>{}</td>\
<td>{rows} rows in {tables} tables</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(j["id"].as_str().unwrap_or_default()),
            esc(j["description"].as_str().unwrap_or_default()),
            esc(j["kind"].as_str().unwrap_or_default()),
            status_of(j),
            esc(j["phase"].as_str().unwrap_or_default()),
            esc(&lag),
            // Jobs keep unix seconds; `when` takes milliseconds.
            esc(&html::when(
                j["updated_at"].as_u64().unwrap_or(0).saturating_mul(1000)
            )),
            verify_button(j, &who.session.csrf),
        );
    }
    main.push_str("</tbody></table></div>");
    who.page("Data jobs", Nav::Jobs, &main)
}

/// The Verify button of a finished pull the server can check by its id, else a dash.
fn verify_button(job: &serde_json::Value, csrf: &str) -> String {
    if job["reverifiable"] != true {
        return "—".into();
    }
    let id = esc(job["id"].as_str().unwrap_or_default());
    format!(
        "<form method=\"post\" action=\"/dashboard/jobs/verify\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"job\" value=\"{id}\">\
<button type=\"submit\" aria-label=\"Verify {id}\">Verify</button></form>",
        esc(csrf)
    )
}

/// The Verify button's form.
#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: Option<String>,
    job: String,
}

/// `POST /dashboard/jobs/verify`: starts a verify job of the pull, then back to the list.
pub async fn verify(who: Signed, Form(f): Form<VerifyForm>) -> Response {
    if !who.csrf_ok(f.csrf.as_deref()) {
        return refused_post("the form's CSRF token is missing or wrong");
    }
    match who
        .post("/api/v1/jobs/verify", &json!({ "job": f.job }))
        .await
    {
        Ok(doc) => Redirect::to(&format!(
            "/dashboard/jobs?verifying={}",
            html::url(doc["id"].as_str().unwrap_or_default())
        ))
        .into_response(),
        Err(failure) => who.failed(&format!("Verify {}", f.job), &failure),
    }
}

/// A job's status, with its error when it failed.
fn status_of(job: &serde_json::Value) -> String {
    let status = esc(job["status"].as_str().unwrap_or_default());
    match job["error"].as_str().filter(|e| !e.is_empty()) {
        Some(error) => format!("{status}<br><span class=\"help\">{}</span>", esc(error)),
        None => status,
    }
}

//! `/dashboard/apps/{app}/releases`: the release history (id, when, who, commit, live marker)
//! with Rollback (to an older release) and Promote (a newer one) behind a confirmation page
//! that works without JavaScript; the confirmed POST carries the session's CSRF token and
//! calls `POST /api/v1/apps/{app}/rollback` or `…/activate` (action `promote`).

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::app_path;
use crate::dashboard::html::{self, Nav, esc};
use crate::dashboard::{Signed, refused_post};

/// `?done=rollback&release=…` after a confirmed change.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
    release: Option<String>,
}

/// Which move the confirmation is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    Rollback,
    Promote,
}

impl Move {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "rollback" => Some(Move::Rollback),
            "promote" => Some(Move::Promote),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Move::Rollback => "rollback",
            Move::Promote => "promote",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Move::Rollback => "Roll back",
            Move::Promote => "Promote",
        }
    }
}

/// Who first made a release live (its deploy), from the activations.
fn deployed_by<'a>(activations: &'a [Value], release: &str) -> &'a str {
    activations
        .iter()
        .rev()
        .find(|a| a["release_id"] == release)
        .and_then(|a| a["by"].as_str())
        .unwrap_or("")
}

/// `GET /dashboard/apps/{app}/releases`.
pub async fn list(who: Signed, Path(app): Path<String>, Query(done): Query<Done>) -> Response {
    let a = app_path(&app);
    let doc = match who.get(&format!("/api/v1/apps/{a}/releases")).await {
        Ok(d) => d,
        Err(f) => return who.failed(&app, &f),
    };
    let live = doc["live"]["release_id"].as_str().unwrap_or("");
    let live_created = doc["releases"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["id"] == live))
        .and_then(|x| x["created_at"].as_u64())
        .unwrap_or(0);
    let activations = doc["activations"].as_array().cloned().unwrap_or_default();
    let mut releases = doc["releases"].as_array().cloned().unwrap_or_default();
    releases.sort_by_key(|r| std::cmp::Reverse(r["created_at"].as_u64().unwrap_or(0)));

    let mut main = format!(
        "<h1>{} · releases</h1>{}",
        esc(&app),
        html::app_tabs(&app, "releases")
    );
    if let (Some(what), Some(release)) = (done.done.as_deref().and_then(Move::parse), &done.release)
    {
        let text = match what {
            Move::Rollback => format!("Rolled back to {release}."),
            Move::Promote => format!("Promoted {release}."),
        };
        main.push_str(&html::notice("ok", &format!("{text} Live now: {live}.")));
    }
    let _ = write!(
        main,
        "<p>Live release: <code id=\"live-release\">{}</code></p>",
        esc(if live.is_empty() { "none" } else { live })
    );
    main.push_str(
        "<div class=\"scroll\"><table><caption>Releases, newest first</caption><thead><tr>\
<th scope=\"col\">Release</th><th scope=\"col\">Created</th><th scope=\"col\">Deployed by</th>\
<th scope=\"col\">Commit</th><th scope=\"col\">Files</th><th scope=\"col\">Status</th><th scope=\"col\">Action</th></tr></thead><tbody>",
    );
    for r in &releases {
        let id = r["id"].as_str().unwrap_or_default();
        let created = r["created_at"].as_u64().unwrap_or(0);
        let commit = r["source_commit"]
            .as_str()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("—");
        let status = if id == live {
            "<strong class=\"badge good\">live</strong>".to_string()
        } else {
            String::new()
        };
        let action = if id == live || live.is_empty() {
            String::new()
        } else {
            let mv = if created <= live_created {
                Move::Rollback
            } else {
                Move::Promote
            };
            format!(
                "<a class=\"button\" href=\"/dashboard/apps/{a}/confirm?action={}&amp;release={}\">{} to <code>{}</code></a>",
                mv.as_str(),
                html::url(id),
                mv.verb(),
                esc(id)
            )
        };
        let _ = write!(
            main,
            "<tr{}><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{status}</td><td>{action}</td></tr>",
            if id == live { " class=\"live\"" } else { "" },
            esc(id),
            esc(&html::when(created)),
            esc(deployed_by(&activations, id)),
            esc(commit),
            r["files"].as_u64().unwrap_or(0),
        );
    }
    main.push_str("</tbody></table></div>");
    main.push_str("<h2>Activations</h2><ol class=\"plain\">");
    for act in activations.iter().take(20) {
        let _ = write!(
            main,
            "<li>{} · {} <code>{}</code> (before: <code>{}</code>) by {}</li>",
            esc(&html::when(act["at"].as_u64().unwrap_or(0))),
            esc(act["action"].as_str().unwrap_or_default()),
            esc(act["release_id"].as_str().unwrap_or_default()),
            esc(act["previous_release_id"].as_str().unwrap_or("none")),
            esc(act["by"].as_str().unwrap_or_default()),
        );
    }
    main.push_str("</ol>");
    who.page(&format!("{app} releases"), Nav::Apps, &main)
}

/// `?action=rollback|promote&release=…`.
#[derive(Deserialize)]
pub struct Target {
    action: String,
    release: String,
}

/// `GET /dashboard/apps/{app}/confirm`: "Roll back app from A to B?" with Confirm and Cancel.
pub async fn confirm(who: Signed, Path(app): Path<String>, Query(t): Query<Target>) -> Response {
    let a = app_path(&app);
    let Some(mv) = Move::parse(&t.action) else {
        return who.failed(
            &app,
            &crate::dashboard::call::Failure {
                status: 400,
                code: "bad-action".into(),
                message: format!("`{}` is not rollback or promote", t.action),
                hint: String::new(),
            },
        );
    };
    let doc = match who.get(&format!("/api/v1/apps/{a}/releases")).await {
        Ok(d) => d,
        Err(f) => return who.failed(&app, &f),
    };
    let live = doc["live"]["release_id"].as_str().unwrap_or("none");
    let question = format!("{} {app} from {live} to {}?", mv.verb(), t.release);
    let main = format!(
        "<h1>{}</h1><p>The edge will serve <code>{}</code> to every new request at once; \
<code>{}</code> stays recorded, so you can move back.</p>\
<form method=\"post\" action=\"/dashboard/apps/{a}/activate\" class=\"actions\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"action\" value=\"{}\">\
<input type=\"hidden\" name=\"release\" value=\"{}\">\
<button type=\"submit\" class=\"danger\">Confirm: {} to {}</button> \
<a class=\"button secondary\" href=\"/dashboard/apps/{a}/releases\">Cancel</a></form>",
        esc(&question),
        esc(&t.release),
        esc(live),
        esc(&who.session.csrf),
        mv.as_str(),
        esc(&t.release),
        mv.verb(),
        esc(&t.release),
    );
    who.page(&question, Nav::Apps, &main)
}

/// The confirmed form.
#[derive(Deserialize)]
pub struct Confirmed {
    csrf: Option<String>,
    action: String,
    release: String,
}

/// `POST /dashboard/apps/{app}/activate`: the API call, then back to the history.
pub async fn activate(who: Signed, Path(app): Path<String>, Form(f): Form<Confirmed>) -> Response {
    if !who.csrf_ok(f.csrf.as_deref()) {
        return refused_post("the form's CSRF token is missing or wrong");
    }
    let a = app_path(&app);
    let Some(mv) = Move::parse(&f.action) else {
        return refused_post("unknown action");
    };
    let answer = match mv {
        Move::Rollback => {
            who.post(
                &format!("/api/v1/apps/{a}/rollback"),
                &json!({ "release_id": f.release }),
            )
            .await
        }
        Move::Promote => {
            who.post(
                &format!("/api/v1/apps/{a}/activate"),
                &json!({ "release_id": f.release, "action": "promote" }),
            )
            .await
        }
    };
    match answer {
        Ok(_) => Redirect::to(&format!(
            "/dashboard/apps/{a}/releases?done={}&release={}",
            mv.as_str(),
            html::url(&f.release)
        ))
        .into_response(),
        Err(failure) => who.failed(&format!("{} {app}", mv.verb()), &failure),
    }
}

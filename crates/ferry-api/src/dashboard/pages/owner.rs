//! Signing in as the server's owner with a one-time link from `ferry dashboard`
//! (`/dashboard/owner?code=…`). The GET only shows a confirmation form (a link previewer that
//! fetches the URL spends nothing); the POST spends the code and starts an owner session,
//! whose pages call the Unix socket's API. A wrong, used or expired code is refused, audited
//! and counted by the same per-address throttle as a wrong token.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ferry_control::audit::{Outcome, Record};
use serde::Deserialize;

use crate::dashboard::call::OWNER_LABEL;
use crate::dashboard::html::{self, Nav, esc};
use crate::dashboard::pages::login::signed_in;
use crate::dashboard::session::Credential;
use crate::dashboard::{Dash, Peer};
use crate::owner_link::Refusal;

/// What the frame says for an owner session.
const SIGNED_IN_AS: &str = "Signed in as the server's owner";
/// The audit action of an owner sign-in.
const ACTION: &str = "dashboard-owner-sign-in";
/// What to do after a refusal.
const AGAIN: &str =
    "Run `ferry dashboard` on the server again for a new link: a link works once, for two minutes.";

/// `?code=` of an owner link.
#[derive(Deserialize)]
pub struct CodeQuery {
    code: Option<String>,
}

/// The confirmation form's field.
#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

fn plausible(code: &str) -> bool {
    code.len() == 64 && code.bytes().all(|b| b.is_ascii_hexdigit())
}

fn refused(status: u16, message: &str) -> Response {
    let main = format!(
        "<h1>Sign in as the server's owner</h1>{}<p>{}</p>\
<p><a href=\"/dashboard/login\">Sign in with an API token instead</a></p>",
        html::notice("error", message),
        esc(AGAIN)
    );
    html::with_status(status, html::page("Owner sign-in", None, Nav::None, &main))
}

/// `GET /dashboard/owner?code=…`: the confirmation form (the code is not spent here).
pub async fn form(Query(q): Query<CodeQuery>) -> Response {
    let code = q.code.unwrap_or_default();
    if !plausible(code.trim()) {
        return refused(400, "This is not a sign-in link of this server.");
    }
    let main = format!(
        "<h1>Sign in as the server's owner</h1>\
<p>This one-time link from <code>ferry dashboard</code> signs this browser in as the owner of \
this server: every organisation's apps, the audit log and the data jobs, with the owner's \
rights. Continue only if you ran that command yourself.</p>\
<form method=\"post\" action=\"/dashboard/owner\" class=\"stack\">\
<input type=\"hidden\" name=\"code\" value=\"{}\">\
<button type=\"submit\">Sign in as the owner</button></form>\
<p><a href=\"/dashboard/login\">Cancel</a></p>",
        esc(code.trim())
    );
    html::with_status(200, html::page("Owner sign-in", None, Nav::None, &main))
}

/// `POST /dashboard/owner`: spends the code and starts an owner session.
pub async fn submit(
    State(dash): State<Arc<Dash>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let state = &dash.state;
    if let Some(left) = state.throttle.blocked(ip) {
        return refused(
            429,
            &format!(
                "Too many failed sign-ins from {ip}: wait {} s.",
                left.as_secs().max(1)
            ),
        );
    }
    let outcome = state.owner_links.redeem(&form.code);
    let mut record = Record {
        actor: match outcome {
            Ok(()) => OWNER_LABEL.to_string(),
            Err(_) => "anonymous".to_string(),
        },
        action: ACTION.into(),
        target: "dashboard".into(),
        source: format!("tcp:{ip}"),
        ..Record::default()
    };
    if let Err(refusal) = outcome {
        record.detail = Some(refusal.to_string());
    }
    let audited = state
        .control()
        .map_err(|e| e.to_string())
        .and_then(|mut c| {
            let result = match outcome {
                Ok(()) => Outcome::Ok,
                Err(_) => Outcome::Refused,
            };
            c.audit_record(result, &record).map_err(|e| e.to_string())
        });
    match outcome {
        Err(refusal) => {
            state.throttle.fail(ip);
            if let Err(e) = audited {
                tracing::warn!(error = %e, "could not audit a refused owner sign-in");
            }
            let message = match refusal {
                Refusal::Expired => "This sign-in link expired.",
                Refusal::Unknown => "This sign-in link is unknown or was already used.",
            };
            refused(401, message)
        }
        // An owner session must be on the record: no audit, no session.
        Ok(()) if audited.is_err() => refused(500, "The sign-in could not be audited."),
        Ok(()) => signed_in(
            &dash,
            Credential::Owner,
            SIGNED_IN_AS.to_string(),
            String::new(),
            &headers,
        ),
    }
}

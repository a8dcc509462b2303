//! Sign-in with an API token, and sign-out. The token is checked by calling
//! `GET /api/v1/status` with it through the bearer middleware, so a wrong token is refused,
//! audited (`authenticate`, refused) and throttled per address exactly as on the API.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::dashboard::html::{self, Nav};
use crate::dashboard::{Dash, Peer, Signed, over_tls, refused_post, session};

/// `?expired=1` after a session ended because its token stopped working.
#[derive(Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
}

fn login_page(status: u16, message: Option<(&str, &str)>) -> Response {
    let mut main = String::from("<h1>Sign in</h1>");
    if let Some((kind, text)) = message {
        main.push_str(&html::notice(kind, text));
    }
    main.push_str(
        "<form method=\"post\" action=\"/dashboard/login\" class=\"stack\">\
<label for=\"token\">API token</label>\
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\" required aria-describedby=\"token-help\">\
<p id=\"token-help\" class=\"help\">A token starting with <code>fy_</code>, made with \
<code>ferry token create &lt;name&gt; --scope read|deploy|admin</code>. \
The dashboard shows and does what that token may do through the API.</p>\
<button type=\"submit\">Sign in</button></form>\
<p class=\"help\">The server's owner (data jobs included): run <code>ferry dashboard</code> on the \
server for a one-time sign-in link.</p>",
    );
    html::with_status(status, html::page("Sign in", None, Nav::None, &main))
}

/// `GET /dashboard/login`.
pub async fn form(Query(q): Query<LoginQuery>) -> Response {
    if q.expired.is_some() {
        login_page(
            200,
            Some((
                "error",
                "Your session ended: its token was revoked or expired. Sign in again.",
            )),
        )
    } else {
        login_page(200, None)
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /dashboard/login`: a session for a token the API accepts.
pub async fn submit(
    State(dash): State<Arc<Dash>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = form.token.trim();
    // A token that cannot travel in a header is still sent, as a malformed one, so that the
    // API refuses, audits and throttles it like any other.
    let token =
        if !token.is_empty() && token.len() <= 512 && token.bytes().all(|b| b.is_ascii_graphic()) {
            token
        } else {
            "malformed"
        };
    let status = dash
        .api
        .call(Some(token), peer, Method::GET, "/api/v1/status", None)
        .await;
    let caller = match status {
        Ok(doc) => doc["caller"].clone(),
        Err(f) if f.status == 429 => {
            return login_page(429, Some(("error", &format!("{} ({})", f.message, f.hint))));
        }
        Err(f) if f.status == 401 => {
            return login_page(
                401,
                Some((
                    "error",
                    "That token was refused: it is unknown, revoked or expired.",
                )),
            );
        }
        Err(f) => return login_page(f.status, Some(("error", &f.message))),
    };
    let text = |key: &str| caller[key].as_str().unwrap_or_default().to_string();
    let org = if text("org").is_empty() {
        "every organisation".to_string()
    } else {
        text("org")
    };
    signed_in(
        &dash,
        session::Credential::Token(token.to_string()),
        text("label"),
        org,
        &headers,
    )
}

/// Starts a session for `credential` and sends the browser to the apps with its cookie.
pub fn signed_in(
    dash: &Dash,
    credential: session::Credential,
    label: String,
    org: String,
    headers: &HeaderMap,
) -> Response {
    let Some(id) = dash.sessions.create(credential, label, org) else {
        return login_page(500, Some(("error", "No randomness for a session id.")));
    };
    let mut response = Redirect::to("/dashboard/").into_response();
    // `Redirect::to` answers 303: the browser follows with a GET.
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(&id, over_tls(headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /dashboard/logout`.
pub async fn logout(who: Signed, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if !who.csrf_ok(form.csrf.as_deref()) {
        return refused_post("the form's CSRF token is missing or wrong");
    }
    who.dash.sessions.remove(&who.id);
    let mut response = Redirect::to("/dashboard/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(over_tls(&headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

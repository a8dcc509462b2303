//! The web dashboard on the control listener (`/dashboard/`): server-rendered pages over the
//! same `/api/v1` calls and authorisation as the API (see [`call`]), signed in with an API
//! token, or as the server's owner with a one-time link from `ferry dashboard`
//! ([`pages::owner`]), which becomes a server-side session ([`session`]). Every POST carries the session's
//! CSRF token and must come from this origin; every answer carries a strict CSP (no inline
//! script: the little JavaScript there is lives in `assets/dashboard.js`).

mod call;
mod html;
mod pages;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::state::ServerState;
use call::{Api, Failure};
use session::{Credential, Session, Sessions};

/// What the dashboard's handlers share.
pub struct Dash {
    /// The TCP listener's API (bearer tokens).
    api: Api,
    /// The Unix socket's API (the server's owner), for owner sessions only.
    owner: Api,
    sessions: Sessions,
    /// The server (its one-time owner links and its failed-authentication throttle).
    state: Arc<ServerState>,
}

/// The dashboard's routes (`/`, `/dashboard/…`) for the control listener.
pub fn router(state: Arc<ServerState>) -> axum::Router {
    let api = crate::handlers::router(state.clone(), crate::handlers::Access::Bearer);
    let owner = crate::handlers::router(state.clone(), crate::handlers::Access::Local);
    let dash = Arc::new(Dash {
        api: Api::bearer(api),
        owner: Api::owner(owner),
        sessions: Sessions::default(),
        state,
    });
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(pages::apps::list))
        .route(
            "/dashboard/login",
            get(pages::login::form).post(pages::login::submit),
        )
        .route("/dashboard/logout", post(pages::login::logout))
        .route(
            "/dashboard/owner",
            get(pages::owner::form).post(pages::owner::submit),
        )
        .route("/dashboard/apps/{app}", get(pages::app::overview))
        .route("/dashboard/apps/{app}/releases", get(pages::releases::list))
        .route(
            "/dashboard/apps/{app}/confirm",
            get(pages::releases::confirm),
        )
        .route(
            "/dashboard/apps/{app}/activate",
            post(pages::releases::activate),
        )
        .route("/dashboard/apps/{app}/logs", get(pages::logs::page))
        .route("/dashboard/apps/{app}/logs/tail", get(pages::logs::tail))
        .route("/dashboard/apps/{app}/findings", get(pages::findings::page))
        .route("/dashboard/apps/{app}/env", get(pages::env::page))
        .route("/dashboard/audit", get(pages::audit::page))
        .route("/dashboard/jobs", get(pages::jobs::page))
        .route("/dashboard/jobs/verify", post(pages::jobs::verify))
        .route("/dashboard/assets/dashboard.css", get(css))
        .route("/dashboard/assets/dashboard.js", get(js))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        // Only under /dashboard/: other unknown paths keep the API's JSON `no-route`.
        .route("/dashboard/{*rest}", get(not_found))
        // `route_layer`: the listener's fallback stays the API's JSON `no-route`.
        .route_layer(axum::middleware::from_fn(same_origin_posts))
        .route_layer(axum::middleware::from_fn(security_headers))
        .with_state(dash)
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/dashboard.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/dashboard.js"),
    )
        .into_response()
}

async fn not_found() -> Response {
    html::with_status(
        404,
        html::page(
            "Not found",
            None,
            html::Nav::None,
            "<h1>Not found</h1><p><a href=\"/dashboard/\">Back to the apps</a></p>",
        ),
    )
}

/// Strict CSP, no framing, no sniffing, no caching of pages that hold account data.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A POST whose `Origin` (else `Referer`) names another origin is refused before any handler
/// runs (a browser always sends one of them with a form; the CSRF token is checked as well).
async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !same_origin(req.headers()) {
        return refused_post("this form was not sent from the dashboard's own origin");
    }
    next.run(req).await
}

fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let Some(host) = text(header::HOST) else {
        return false;
    };
    let claimed = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => origin,
        (None, Some(referer)) => referer,
        (None, None) => return true,
    };
    let rest = claimed
        .strip_prefix("http://")
        .or_else(|| claimed.strip_prefix("https://"));
    rest.is_some_and(|r| r.split('/').next() == Some(host))
}

/// 403 for a POST that fails the origin or CSRF check; nothing was done.
fn refused_post(why: &str) -> Response {
    html::with_status(
        403,
        html::page(
            "Refused",
            None,
            html::Nav::None,
            &format!(
                "<h1>Refused</h1>{}<p><a href=\"/dashboard/\">Back to the dashboard</a></p>",
                html::notice("error", &format!("{why}; nothing was changed."))
            ),
        ),
    )
}

/// Whether the browser reached us over TLS (directly, or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A request of a signed-in browser: its session and address. Extracting it from a request
/// without a live session redirects to the sign-in page.
pub struct Signed {
    session: Session,
    id: String,
    peer: Option<SocketAddr>,
    dash: Arc<Dash>,
}

impl FromRequestParts<Arc<Dash>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        dash: &Arc<Dash>,
    ) -> Result<Self, Self::Rejection> {
        let found = session::cookie_id(&parts.headers)
            .and_then(|id| dash.sessions.get(&id).map(|s| (id, s)));
        let Some((id, session)) = found else {
            return Err(Redirect::to("/dashboard/login").into_response());
        };
        Ok(Signed {
            session,
            id,
            peer: peer(parts),
            dash: dash.clone(),
        })
    }
}

/// The browser's address (the bearer middleware throttles failures per address).
pub struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer(parts)))
    }
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

impl Signed {
    /// `GET path` on the API as this session.
    async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body on the API as this session.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        match &self.session.credential {
            Credential::Token(token) => {
                self.dash
                    .api
                    .call(Some(token), self.peer, method, path, body)
                    .await
            }
            Credential::Owner => {
                self.dash
                    .owner
                    .call(None, self.peer, method, path, body)
                    .await
            }
        }
    }

    /// The frame's view of the user.
    fn viewer(&self) -> html::Viewer<'_> {
        html::Viewer {
            label: &self.session.label,
            org: &self.session.org,
            csrf: &self.session.csrf,
        }
    }

    /// Whether a form's CSRF token is this session's.
    fn csrf_ok(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|s| session::same_secret(s, &self.session.csrf))
    }

    /// A whole page for this user.
    fn page(&self, title: &str, nav: html::Nav, main: &str) -> Response {
        html::page(title, Some(&self.viewer()), nav, main).into_response()
    }

    /// The page for an API failure: 401 ends the session (the token was revoked or expired),
    /// anything else is shown with the API's status, message and hint.
    fn failed(&self, title: &str, failure: &Failure) -> Response {
        if failure.status == 401 {
            self.dash.sessions.remove(&self.id);
            return Redirect::to("/dashboard/login?expired=1").into_response();
        }
        let what = match failure.status {
            403 => "Not allowed",
            404 => "Not found",
            429 => "Too many attempts",
            _ => "Failed",
        };
        let mut main = format!("<h1>{}</h1>", html::esc(title));
        main.push_str(&html::notice(
            "error",
            &format!("{what}: {}", failure.message),
        ));
        if !failure.hint.is_empty() {
            main.push_str(&format!("<p>{}</p>", html::esc(&failure.hint)));
        }
        html::with_status(
            failure.status,
            html::page(title, Some(&self.viewer()), html::Nav::None, &main),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_from_this_origin_pass() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("value"));
            }
            h
        };
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("referer", "http://127.0.0.1:8081/dashboard/")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081.evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "null")
        ])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8081")])));
    }
}

//! The sign-in pages ferry serves for Base44 apps, under [`PREFIX`] on the app's origin (a path
//! no app route can clash with). `@base44/sdk` sends signed-out visitors of a `requiresAuth`
//! app to `${appBaseUrl}/login?from_url=…`; the build sets `appBaseUrl` to [`PREFIX`], so they
//! land here. The page signs in (or up, with the emailed code when required) through the app's
//! own auth API and returns to `from_url` with `?access_token=`, which the SDK stores. Reset and
//! invitation mails link to the reset page. Everything is served from this crate: no CDN, a
//! strict CSP, no inline script.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// Where the pages live on the app's origin (also the SDK's `appBaseUrl`).
pub const PREFIX: &str = "/_ferry/base44";

const CSS: &str = include_str!("auth.css");
const JS: &str = include_str!("auth.js");

/// What the pages show: the app id the API is called with, the app's display name, and the
/// OpenID Connect provider's name when the app has one.
#[derive(Debug, Clone)]
struct Page {
    app_id: String,
    app_name: String,
    provider: Option<String>,
}

/// The pages' router: `login`, `reset-password`, their two assets, and the SDK's logout
/// redirect (`${appBaseUrl}/api/apps/auth/logout?from_url=`), all under [`PREFIX`]. With a
/// `provider` name (the app's OpenID Connect provider), the sign-in page offers "Continue
/// with {provider}".
pub fn router(app_id: &str, app_name: &str, provider: Option<&str>) -> Router {
    let page = Page {
        app_id: app_id.to_owned(),
        app_name: app_name.to_owned(),
        provider: provider.map(str::to_owned),
    };
    Router::new()
        .route(&format!("{PREFIX}/login"), get(login).post(no_script))
        .route(
            &format!("{PREFIX}/reset-password"),
            get(reset).post(no_script),
        )
        .route(&format!("{PREFIX}/assets/auth.js"), get(js))
        .route(&format!("{PREFIX}/assets/auth.css"), get(css))
        .route(&format!("{PREFIX}/api/apps/auth/logout"), get(logout))
        .with_state(page)
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn html(page: &Page, title: &str, body: &str) -> Response {
    let doc = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ferry-app-id" content="{id}">
<meta name="robots" content="noindex">
<title>{title} · {name}</title>
<link rel="stylesheet" href="{PREFIX}/assets/auth.css">
<script src="{PREFIX}/assets/auth.js" defer></script>
</head>
<body>
<main>
{body}
<footer>Served by ferry for {name}.</footer>
</main>
</body>
</html>
"#,
        id = escape(&page.app_id),
        name = escape(&page.app_name),
        title = escape(title),
    );
    let mut resp = (StatusCode::OK, doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    resp
}

/// A page with one message (a refused OpenID Connect sign-in, …) and a link back to the
/// sign-in page, answered with `status`.
pub fn message_page(
    app_id: &str,
    app_name: &str,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let page = Page {
        app_id: app_id.to_owned(),
        app_name: app_name.to_owned(),
        provider: None,
    };
    let body = format!(
        r#"<h1>{title}</h1>
<p class="lead" role="alert">{text}</p>
<div class="links"><a href="{PREFIX}/login">Back to sign in</a></div>"#,
        title = escape(title),
        text = escape(text),
    );
    let mut resp = html(&page, title, &body);
    *resp.status_mut() = status;
    resp
}

/// Percent-encodes a query value.
fn query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Headers every page carries: no caching, no framing, only this origin's script and style.
fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The sign-in page: its views (sign in, sign up, the emailed code, forgotten password) are
/// sections `auth.js` shows one at a time. The forms are `method="post"`: one submitted before
/// the script runs (or without it) sends the password in a body [`no_script`] ignores, never
/// in the URL a GET form would make of it.
async fn login(
    State(page): State<Page>,
    q: Result<Query<FromUrl>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let from_url = q.ok().and_then(|Query(q)| q.from_url);
    let name = escape(&page.app_name);
    let provider = match &page.provider {
        Some(provider) => format!(
            r#"<p class="or">or</p>
<a class="button provider" id="provider-login" href="{PREFIX}/api/apps/auth/login?app_id={id}&amp;from_url={from}">Continue with {name}</a>
"#,
            id = query_value(&page.app_id),
            from = query_value(from_url.as_deref().unwrap_or("/")),
            name = escape(provider),
        ),
        None => String::new(),
    };
    let body = format!(
        r##"<noscript><p class="lead">This page needs JavaScript to sign you in.</p></noscript>
<section id="login" data-view>
<h1>Sign in to {name}</h1>
<p class="lead">Use your email and password.</p>
<form id="login-form" method="post" novalidate>
<label for="login-email">Email</label>
<input id="login-email" name="email" type="email" autocomplete="email" required autofocus>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<div role="alert" aria-live="polite"></div>
</form>
{provider}<div class="links"><a href="#register" data-show="register">Create an account</a><a href="#forgot" data-show="forgot">Forgot your password?</a></div>
</section>
<section id="moved" data-view hidden>
<h1>Set your password</h1>
<p class="lead">This account was moved to a new server: set your password. We will email <strong id="moved-email"></strong> a link to choose one.</p>
<form id="moved-form" method="post" novalidate>
<button type="submit">Email me a link</button>
<div role="alert" aria-live="polite"></div>
</form>
<div class="links"><a href="#login" data-show="login">Back to sign in</a></div>
</section>
<section id="register" data-view hidden>
<h1>Create your {name} account</h1>
<form id="register-form" method="post" novalidate>
<label for="register-name">Full name</label>
<input id="register-name" name="full_name" type="text" autocomplete="name">
<label for="register-email">Email</label>
<input id="register-email" name="email" type="email" autocomplete="email" required>
<label for="register-password">Password</label>
<input id="register-password" name="password" type="password" autocomplete="new-password" required>
<button type="submit">Create account</button>
<div role="alert" aria-live="polite"></div>
</form>
<div class="links"><a href="#login" data-show="login">I have an account</a></div>
</section>
<section id="verify" data-view hidden>
<h1>Check your email</h1>
<p class="lead">We sent a 6-digit code to <strong id="otp-email"></strong>.</p>
<form id="verify-form" method="post" novalidate>
<label for="verify-code">Code</label>
<input id="verify-code" name="otp_code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{{6}}" required>
<button type="submit">Verify and sign in</button>
<div role="alert" aria-live="polite"></div>
</form>
<div class="links"><button type="button" class="link" id="resend-code">Send a new code</button><a href="#login" data-show="login">Back to sign in</a></div>
</section>
<section id="forgot" data-view hidden>
<h1>Reset your password</h1>
<p class="lead">We will email you a link to choose a new password.</p>
<form id="forgot-form" method="post" novalidate>
<label for="forgot-email">Email</label>
<input id="forgot-email" name="email" type="email" autocomplete="email" required>
<button type="submit">Send the link</button>
<div role="alert" aria-live="polite"></div>
</form>
<div class="links"><a href="#login" data-show="login">Back to sign in</a></div>
</section>"##
    );
    html(&page, "Sign in", &body)
}

/// The set-password page of reset and invitation links: sets the password, which signs the
/// user in, and returns to the app with the token.
async fn reset(State(page): State<Page>) -> Response {
    let name = escape(&page.app_name);
    let body = format!(
        r#"<noscript><p class="lead">This page needs JavaScript to set your password.</p></noscript>
<h1>Choose a password for {name}</h1>
<form id="reset-form" method="post" novalidate>
<label for="reset-password">New password</label>
<input id="reset-password" name="new_password" type="password" autocomplete="new-password" required autofocus>
<label for="reset-confirm">Repeat it</label>
<input id="reset-confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button>
<div role="alert" aria-live="polite"></div>
</form>
<div class="links"><a id="to-login" href="{PREFIX}/login" hidden>Sign in</a></div>"#
    );
    html(&page, "Choose a password", &body)
}

/// A form of the pages posted natively, without `auth.js` (off, blocked, or not loaded yet):
/// nothing is read from the body (it may hold a password); a 400 page says why and links back
/// to the page it came from.
async fn no_script(State(page): State<Page>, uri: axum::http::Uri) -> Response {
    let back = uri.path_and_query().map_or(PREFIX, |pq| pq.as_str());
    let body = format!(
        r#"<h1>This page needs JavaScript</h1>
<p class="lead">Signing in runs in your browser, and its script is off or did not load, so nothing you typed was used.</p>
<div class="links"><a href="{back}">Try again</a></div>"#,
        back = escape(back),
    );
    let mut resp = html(&page, "JavaScript needed", &body);
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

#[derive(Deserialize)]
struct FromUrl {
    from_url: Option<String>,
}

async fn logout(headers: HeaderMap, Query(q): Query<FromUrl>) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let to = local_target(q.from_url.as_deref().unwrap_or("/"), host);
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure(resp.headers_mut());
    resp
}

/// The path (and query) of `from_url` when it points into this origin (`host`), else `/`: a
/// redirect never leaves the app's origin.
pub fn local_target(from_url: &str, host: Option<&str>) -> String {
    let path = if from_url.starts_with('/') {
        Some(from_url)
    } else {
        ["http://", "https://"].iter().find_map(|scheme| {
            let rest = from_url.strip_prefix(scheme)?;
            let (authority, path) = match rest.find(['/', '?', '#']) {
                Some(i) => rest.split_at(i),
                None => (rest, "/"),
            };
            (Some(authority) == host && !authority.is_empty()).then_some(path)
        })
    };
    match path {
        Some(p)
            if !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            if p.starts_with('/') {
                p.to_owned()
            } else {
                format!("/{p}")
            }
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_origin() {
        let host = Some("shop.localhost:8080");
        assert_eq!(local_target("/tasks?x=1", host), "/tasks?x=1");
        assert_eq!(
            local_target("http://shop.localhost:8080/a/b?c#d", host),
            "/a/b?c#d"
        );
        assert_eq!(local_target("http://shop.localhost:8080", host), "/");
        assert_eq!(local_target("https://evil.example/x", host), "/");
        assert_eq!(local_target("//evil.example/x", host), "/");
        assert_eq!(local_target("/\\evil.example", host), "/");
        assert_eq!(local_target("javascript:alert(1)", host), "/");
        assert_eq!(local_target("http://shop.localhost:8080.evil/x", host), "/");
        assert_eq!(local_target("/a\r\nSet-Cookie: x", host), "/");
        assert_eq!(local_target("http://x/y", None), "/");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b a=\"1\">&'</b>"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;&lt;/b&gt;"
        );
    }
}

//! HTML building blocks: escaping, the page frame (skip link, navigation, the signed-in
//! user, logout form), times and small tables. Every dynamic text goes through [`esc`].

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for an HTML element or a double-quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component (unreserved characters kept).
pub fn url(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `2026-01-31 12:34:56 UTC` from unix milliseconds.
pub fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, m, d) = ferry_edge::httpdate::civil(days);
    let rest = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Who is signed in, as the frame shows them.
pub struct Viewer<'a> {
    /// The token's label (`token:<name>`), or the owner's sentence.
    pub label: &'a str,
    /// Its organisation (empty for the server's owner: the label says it all).
    pub org: &'a str,
    /// The session's CSRF token (for the logout form).
    pub csrf: &'a str,
}

/// Which navigation entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The apps list and an app's pages.
    Apps,
    /// The audit log.
    Audit,
    /// Data jobs.
    Jobs,
    /// Nothing (login, errors).
    None,
}

/// A whole page: `title` (plain text), the viewer (none on the login page), and `main`
/// (already escaped HTML).
pub fn page(title: &str, viewer: Option<&Viewer<'_>>, nav: Nav, main: &str) -> Html<String> {
    let mut out = String::with_capacity(main.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · ferry</title>\
<link rel=\"stylesheet\" href=\"/dashboard/assets/dashboard.css\">\
<script src=\"/dashboard/assets/dashboard.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\">\
<p class=\"brand\"><a href=\"/dashboard/\">ferry</a></p>",
        esc(title)
    );
    if let Some(v) = viewer {
        let item = |target: Nav, href: &str, label: &str| {
            let current = if target == nav {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{href}\"{current}>{label}</a></li>")
        };
        let _ = write!(
            out,
            "<nav aria-label=\"Main\"><ul>{}{}{}</ul></nav>\
<form class=\"logout\" method=\"post\" action=\"/dashboard/logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<span class=\"who\">{}</span> <button type=\"submit\">Sign out</button></form>",
            item(Nav::Apps, "/dashboard/", "Apps"),
            item(Nav::Audit, "/dashboard/audit", "Audit log"),
            item(Nav::Jobs, "/dashboard/jobs", "Data jobs"),
            esc(v.csrf),
            if v.org.is_empty() {
                esc(v.label)
            } else {
                format!("{} · {}", esc(v.label), esc(v.org))
            },
        );
    }
    let _ = writeln!(
        out,
        "</header><main id=\"main\" tabindex=\"-1\">{main}</main></body></html>"
    );
    Html(out)
}

/// A page answered with `status`.
pub fn with_status(status: u16, html: Html<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, html).into_response()
}

/// A notice box (`role="status"` or `role="alert"` for errors).
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\">{}</p>",
        esc(text)
    )
}

/// The sub-navigation of an app's pages.
pub fn app_tabs(app: &str, current: &str) -> String {
    let a = url(app);
    let mut out = String::from("<nav aria-label=\"App\" class=\"tabs\"><ul>");
    for (slug, label) in [
        ("", "Overview"),
        ("releases", "Releases"),
        ("logs", "Logs"),
        ("findings", "Findings"),
        ("env", "Env"),
    ] {
        let href = if slug.is_empty() {
            format!("/dashboard/apps/{a}")
        } else {
            format!("/dashboard/apps/{a}/{slug}")
        };
        let cur = if slug == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<li><a href=\"{href}\"{cur}>{label}</a></li>");
    }
    out.push_str("</ul></nav>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_times_are_utc() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }
}

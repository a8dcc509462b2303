//! What a call forwarded to a function carries, and what its answer may not.
//!
//! The request keeps the caller's headers (their `Authorization`, `Content-Type`,
//! `Base44-Functions-Version`, `Base44-State`, `X-Data-Env`…) minus the hop-by-hop ones and
//! minus anything a caller could use to pose as ferry: every incoming `Base44-App-Id`,
//! `Base44-Api-Url`, `Base44-Service-Authorization` and `On-Behalf-Of` is dropped, then ferry
//! sets the first three itself (the headers `createClientFromRequest` reads). The answer keeps
//! the function's status, headers and body, except that the service token is cut out of
//! every header value and replaced in the body ([`scrub`]), so no caller ever sees it.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Headers that belong to one connection, never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers only ferry sets on a forwarded call.
const FERRY_ONLY: [&str; 4] = [
    "base44-app-id",
    "base44-api-url",
    "base44-service-authorization",
    "on-behalf-of",
];

/// What ferry adds to a forwarded call.
#[derive(Clone)]
pub struct ForwardContext<'a> {
    /// The Base44 app id (`Base44-App-Id`).
    pub app_id: &'a str,
    /// Where the function's own SDK calls reach ferry's API (`Base44-Api-Url`): the SDK calls
    /// `${api_url}/api/apps/{app_id}/…`.
    pub api_url: &'a str,
    /// The app's service token (`Base44-Service-Authorization: Bearer …`).
    pub service_token: &'a str,
}

impl std::fmt::Debug for ForwardContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardContext")
            .field("app_id", &self.app_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The headers of the call forwarded to a function: the caller's (see the module doc) plus
/// ferry's. `None` when ferry's own values are not valid header values.
pub fn forward_headers(incoming: &HeaderMap, ctx: &ForwardContext<'_>) -> Option<HeaderMap> {
    // Names listed in the caller's `Connection` header are hop-by-hop too.
    let listed: Vec<String> = incoming
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        let n = name.as_str();
        if n == "host"
            || HOP_BY_HOP.contains(&n)
            || FERRY_ONLY.contains(&n)
            || listed.iter().any(|l| l == n)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let set = |out: &mut HeaderMap, name: &'static str, value: String| -> Option<()> {
        out.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok()?,
        );
        Some(())
    };
    set(&mut out, "base44-app-id", ctx.app_id.to_string())?;
    set(&mut out, "base44-api-url", ctx.api_url.to_string())?;
    set(
        &mut out,
        "base44-service-authorization",
        format!("Bearer {}", ctx.service_token),
    )?;
    Some(out)
}

/// The answer's headers without hop-by-hop ones and without any whose value holds `secret`.
pub fn scrub_headers(headers: &HeaderMap, secret: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" {
            continue;
        }
        let holds = !secret.is_empty()
            && value
                .as_bytes()
                .windows(secret.len())
                .any(|w| w == secret.as_bytes());
        if !holds {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// What replaces the service token in an answer's body.
pub const REDACTED: &str = "[redacted: service token]";

/// `body` with every occurrence of `secret` replaced by [`REDACTED`]; the same bytes when it
/// holds none.
pub fn scrub(body: bytes::Bytes, secret: &str) -> bytes::Bytes {
    let needle = secret.as_bytes();
    if needle.is_empty() || body.len() < needle.len() {
        return body;
    }
    let Some(first) = body.windows(needle.len()).position(|w| w == needle) else {
        return body;
    };
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..first]);
    let mut rest = &body[first..];
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ForwardContext<'static> {
        ForwardContext {
            app_id: "67b2f0c41d9e3a0012c4d8e1",
            api_url: "http://127.0.0.1:4100",
            service_token: "b44svc.SECRET",
        }
    }

    #[test]
    fn callers_cannot_pose_as_ferry() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer user.jwt"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("base44-functions-version", HeaderValue::from_static("v1"));
        h.insert(
            "base44-service-authorization",
            HeaderValue::from_static("Bearer forged"),
        );
        h.insert("base44-api-url", HeaderValue::from_static("http://evil"));
        h.insert("base44-app-id", HeaderValue::from_static("other"));
        h.insert("on-behalf-of", HeaderValue::from_static("Bearer x"));
        h.insert("host", HeaderValue::from_static("shop.localhost"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let out = forward_headers(&h, &ctx()).expect("valid");
        assert_eq!(out["authorization"], "Bearer user.jwt");
        assert_eq!(out["content-type"], "application/json");
        assert_eq!(out["base44-functions-version"], "v1");
        assert_eq!(out["base44-service-authorization"], "Bearer b44svc.SECRET");
        assert_eq!(out["base44-api-url"], "http://127.0.0.1:4100");
        assert_eq!(out["base44-app-id"], "67b2f0c41d9e3a0012c4d8e1");
        assert_eq!(
            out.get_all("base44-service-authorization").iter().count(),
            1
        );
        for gone in [
            "on-behalf-of",
            "host",
            "connection",
            "x-private",
            "transfer-encoding",
        ] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn the_token_never_leaves_in_an_answer() {
        let mut h = HeaderMap::new();
        h.insert("x-leak", HeaderValue::from_static("Bearer b44svc.SECRET"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("content-length", HeaderValue::from_static("12"));
        let out = scrub_headers(&h, "b44svc.SECRET");
        assert!(out.get("x-leak").is_none());
        assert!(out.get("content-length").is_none());
        assert_eq!(out["content-type"], "application/json");

        let body = bytes::Bytes::from_static(
            b"{\"t\":\"b44svc.SECRET\",\"u\":\"b44svc.SECRETb44svc.SECRET\"}",
        );
        let clean = scrub(body, "b44svc.SECRET");
        let text = std::str::from_utf8(&clean).expect("utf-8");
        assert!(!text.contains("b44svc.SECRET"), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 3);
        let plain = bytes::Bytes::from_static(b"{\"ok\":true}");
        assert_eq!(scrub(plain.clone(), "b44svc.SECRET"), plain);
    }
}

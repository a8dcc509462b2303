//! Server-side sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie maps to the
//! credential the user signed in with (an API token, kept in memory only and never sent back,
//! or the server's owner after a one-time owner link), a per-session CSRF token, and expiry
//! (idle and absolute). Every page calls the API with that credential, so a revoked or expired
//! token ends the session's access at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "ferry_session";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many sessions live at once (the oldest is dropped past it).
const MAX_SESSIONS: usize = 10_000;

/// What a session's API calls act as.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API token (`fy_…`), sent as a bearer token through the TCP listener's middleware.
    Token(String),
    /// The server's owner (signed in with a one-time link from `ferry dashboard`): calls go
    /// through the Unix socket's router, with the owner's authorisation.
    Owner,
}

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// What every page's API call carries.
    pub credential: Credential,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The token's label (`token:<name>`, or the owner's), for the frame.
    pub label: String,
    /// Its organisation.
    pub org: String,
    created: Instant,
    used: Instant,
}

impl std::fmt::Debug for Session {
    /// Never the token or the CSRF secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("label", &self.label)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes as 64 hex characters.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: a session id must never be guessable, so make none that works.
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// Starts a session for `credential`: its id (`None` when no randomness is available).
    pub fn create(&self, credential: Credential, label: String, org: String) -> Option<String> {
        let id = random_id();
        let csrf = random_id();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                credential,
                csrf,
                label,
                org,
                created: now,
                used: now,
            },
        );
        Some(id)
    }

    /// The live session of `id`, its idle timer reset; an expired one is removed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let session = map.get_mut(id)?;
        if !live(session, now) {
            map.remove(id);
            return None;
        }
        session.used = now;
        Some(session.clone())
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.used) < IDLE && now.duration_since(s.created) < ABSOLUTE
}

/// The session id in a `Cookie` header, if any.
pub fn cookie_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value of a new session (`Secure` when the browser reached us over TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ABSOLUTE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_end_and_hide_their_token() {
        let sessions = Sessions::default();
        let id = sessions
            .create(
                Credential::Token("fy_abc_secret".into()),
                "token:t".into(),
                "acme".into(),
            )
            .expect("random");
        assert_eq!(id.len(), 64);
        let s = sessions.get(&id).expect("live");
        assert!(s.credential == Credential::Token("fy_abc_secret".into()));
        assert!(!format!("{s:?}").contains("secret"));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().expect("header"),
        );
        assert_eq!(cookie_id(&headers).as_deref(), Some(id.as_str()));
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", ""));
        assert!(set_cookie(&id, true).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie(&id, true).ends_with("; Secure"));
    }
}

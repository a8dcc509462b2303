//! Who calls the API: the machine's owner on the Unix socket (mode 0600), a bearer token on the
//! TCP control listener. Every request gets a request id (`x-request-id`, echoed; one is made
//! when the client sent none) and a `Caller`; failed authentications are audited and
//! throttled per client address (after [`MAX_FAILURES`] in [`WINDOW`], `429` until the window
//! ends).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_control::audit::{Outcome, Record};
use ferry_control::{ControlError, Principal, Scope};

use crate::ApiError;
use crate::state::ServerState;

/// Failed authentications from one address within [`WINDOW`] before it is throttled.
pub const MAX_FAILURES: u32 = 10;
/// The throttling window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                401,
                "unauthenticated",
                "no credentials",
                "send a bearer token",
            )
        })
    }
}

/// The request id of a request (`x-request-id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Failed authentications per client address.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// Whether `ip` is throttled now; when it is, how long until it may try again.
    pub(crate) fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = map.get(&ip)?;
        let left = WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILURES).then_some(left)
    }

    /// Counts a failed authentication from `ip`.
    pub(crate) fn fail(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// Gives each request a request id, logs it, and echoes it in the answer.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(new_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut response = {
        let _enter = span.enter();
        next.run(req).await
    };
    tracing::debug!(parent: &span, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "answered");
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Put on a request to the Unix socket's router by the dashboard itself (in process, never
/// from the wire) for a browser signed in as the server's owner: the owner acting through the
/// dashboard, from `source` (`tcp:<ip>`). Only the audit log's actor and source change.
#[derive(Debug, Clone)]
pub struct OwnerVia {
    /// The audit actor (`local/dashboard-owner`).
    pub label: String,
    /// Where the browser is (`tcp:<ip>`).
    pub source: String,
}

/// The Unix socket: the machine's owner.
pub async fn local(mut req: Request, next: Next) -> Response {
    let mut who = Principal::local();
    if let Some(via) = req.extensions().get::<OwnerVia>() {
        who.label.clone_from(&via.label);
        who.source.clone_from(&via.source);
    }
    req.extensions_mut().insert(Caller(who));
    next.run(req).await
}

/// The TCP control listener: a bearer token, or `401`.
pub async fn bearer(State(s): State<Arc<ServerState>>, mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if let Some(left) = s.throttle.blocked(ip) {
        let mut r = ApiError::new(
            429,
            "too-many-failures",
            format!("too many failed authentications from {ip}"),
            format!("wait {} s", left.as_secs().max(1)),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    let source = format!("tcp:{ip}");
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .map(str::to_string);
    let path = req.uri().path().to_string();
    let outcome = match &token {
        None => Err("no bearer token".to_string()),
        Some(t) => match s.control() {
            Ok(c) => c
                .authenticate(t, &source)
                .map_err(|r| r.reason().to_string()),
            Err(e) => return e.into_response(),
        },
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(Caller(principal));
            next.run(req).await
        }
        Err(reason) => {
            s.throttle.fail(ip);
            let mut record = Record {
                actor: "anonymous".into(),
                action: "authenticate".into(),
                target: path,
                source,
                detail: Some(reason.clone()),
                ..Record::default()
            };
            // A token's public id (never its secret) says which token failed.
            record.token_id = token
                .as_deref()
                .and_then(|t| t.strip_prefix(ferry_control::auth::TOKEN_PREFIX))
                .and_then(|t| t.split_once('_'))
                .map(|(id, _)| id.chars().take(16).collect());
            if let Ok(mut c) = s.control()
                && let Err(e) = c.audit_record(Outcome::Refused, &record)
            {
                tracing::warn!(error = %e, "could not audit a failed authentication");
            }
            let mut r = ApiError::new(
                401,
                "unauthenticated",
                reason,
                "send `Authorization: Bearer <token>` with a valid token (`ferry token create`)",
            )
            .into_response();
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

impl ServerState {
    /// Checks that `who` may act on `app` with `need` (`read`: only that it sees it); a refusal
    /// is audited and answers 404 (may not see) or 403 (may see, may not change).
    pub fn authorize(
        &self,
        who: &Caller,
        app: &str,
        need: Scope,
        action: &str,
    ) -> Result<(), ApiError> {
        let mut control = self.control()?;
        let checked = if need == Scope::Read {
            control.authorize_read(&who.0, app)
        } else {
            control.authorize_app(&who.0, app, need, action)
        };
        if let Err(err) = checked {
            refuse(&mut control, &who.0, action, &format!("app/{app}"), &err);
            return Err(err.into());
        }
        Ok(())
    }

    /// Only the machine's owner (the local socket) may do this: 403 otherwise, audited.
    pub fn require_machine_owner(&self, who: &Caller, action: &str) -> Result<(), ApiError> {
        if who.0.is_owner_of_machine() {
            return Ok(());
        }
        self.forbid(who, action, "server", Scope::Admin)?;
        Err(ApiError::new(
            403,
            "forbidden",
            format!("`{action}` is for the server's owner (the local socket)"),
            "run it on the server machine",
        ))
    }

    /// Checks that `who` has at least `need` somewhere (blob uploads, which are shared by
    /// content): 403 otherwise, audited.
    pub fn require_scope(&self, who: &Caller, need: Scope, action: &str) -> Result<(), ApiError> {
        if who.0.scope >= need {
            return Ok(());
        }
        Err(self.forbid(who, action, "blobs", need)?)
    }

    /// Checks that `who` administers its whole organisation (admin scope, not bound to one
    /// app) before an org-wide read such as `target` (`tokens`, `audit`): 403 otherwise,
    /// audited.
    pub fn require_org_admin(
        &self,
        who: &Caller,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        if who.0.scope >= Scope::Admin && who.0.app.is_none() {
            return Ok(());
        }
        Err(self.forbid(who, action, target, Scope::Admin)?)
    }

    /// Audits `who`'s refused `action` on `target` and returns the `forbidden` error to answer
    /// (an `Err` only when the state cannot be reached).
    fn forbid(
        &self,
        who: &Caller,
        action: &str,
        target: &str,
        need: Scope,
    ) -> Result<ApiError, ApiError> {
        let err = ControlError::Forbidden {
            action: action.to_string(),
            target: target.to_string(),
            need,
            have: who.0.scope,
        };
        refuse(&mut *self.control()?, &who.0, action, target, &err);
        Ok(err.into())
    }
}

/// Audits a refused attempt (best effort).
pub fn refuse(
    control: &mut ferry_control::Control,
    who: &Principal,
    action: &str,
    target: &str,
    err: &ControlError,
) {
    let mut record = Record::by(who, action, target);
    record.detail = Some(err.code().to_string());
    if let Err(e) = control.audit_record(Outcome::Refused, &record) {
        tracing::warn!(error = %e, "could not audit a refused attempt");
    }
}

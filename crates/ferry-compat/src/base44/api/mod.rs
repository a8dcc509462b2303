//! The HTTP entities API `@base44/sdk` 0.8.50 calls (`${serverUrl}/api/apps/{app_id}/entities/…`),
//! served from the owner's database through [`crate::base44::store::Db`].
//!
//! Every statement comes from `query`/`record` (parameterised; identifiers from the applied
//! entities only); every operation is checked against the entity's `rls` rules for the
//! caller (`rls::access`): reads are filtered in SQL, updates and deletes carry the rule in
//! their `WHERE`, and writes whose new values must match a rule are re-selected with it
//! inside a transaction and rolled back (403) when they do not. Routes, status codes and
//! what is not implemented yet: `docs/base44.md`, "HTTP API".
//!
//! This file holds the state and the router; the handlers live beside it: `read` (list,
//! count, get, aggregate), `page` (`v2/list` cursor pages) and `distinct` (its `distinct`
//! pages), `write` (create, update, delete, deleteMany, bulk create), `many` (updateMany,
//! bulkUpdate, upsert), `import` (CSV and JSON files), `auth` (the sign-in routes).
//! `request` parses request parts; `context` resolves the app, entity and caller.

mod auth;
mod context;
mod distinct;
mod error;
mod import;
mod many;
mod page;
mod read;
mod request;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

pub use auth::{
    AuthConfig, INVITE_TTL_SECS, InviteRequest, InviteStatus, Invited, invite_users, token_caller,
};
pub use error::{ApiError, InternalError};
pub use import::{MAX_IMPORT_BODY, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS};
pub use many::{MAX_BULK_UPDATE, MAX_UPSERT, MAX_UPSERT_KEYS, UPDATE_MANY_BATCH};
pub use page::{DEFAULT_PAGE_LIMIT, MAX_CURSOR_LEN};

// What the `auth` routes use from here (`super::…`).
use context::decode;
use request::{Answer, BodyIn, PathIn, body_object, ok, path};

use crate::base44::model::{Entity, USER_ENTITY};
use crate::base44::realtime::{self, Events, Realtime};
use crate::base44::rls::Caller;
use crate::base44::store::Db;

/// The largest request body accepted: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;

/// Turns a request's headers into the caller (`Authorization: Bearer …`): a user (whose map
/// holds at least `id` or `email`), the service role, or anonymous; an invalid token is an
/// [`ApiError::unauthorized`].
pub type CallerFn = Arc<dyn Fn(&HeaderMap) -> Result<Caller, ApiError> + Send + Sync>;

/// What the API serves: one app, its database and its entities.
pub struct AppState {
    /// The app id of the URL (`/api/apps/{app_id}/…`) and of the SDK's `X-App-Id` header;
    /// any other id is a 404.
    pub app_id: String,
    /// The owner's database.
    pub db: Db,
    /// The entities as applied ([`Db::migrate`]'s result or [`Db::applied`]), never a fresh
    /// parse: their columns are the ones the tables have.
    pub entities: Vec<Entity>,
    /// Who is calling. For a signed-in user the API then reads the user's current `User`
    /// record (by `id`, else by `email`) and uses it as the RLS attributes, so the function
    /// only needs to identify the user; an unknown user is a 401. Service and anonymous
    /// callers are used as they are.
    pub caller_from: CallerFn,
    /// The `auth/*` routes' configuration (signing key, mail…); `None` answers them with 501
    /// `auth-disabled`.
    pub auth: Option<AuthConfig>,
    /// Where every committed write is published for realtime subscribers ([`realtime_router`]);
    /// share one between the releases of an app so sockets survive a deploy.
    pub events: Events,
}

impl AppState {
    /// The state of an app whose callers are identified by ferry's own access tokens
    /// ([`token_caller`]); without `auth`, every request with an `Authorization` header is a
    /// 401 and the rest are anonymous.
    pub fn new(
        app_id: impl Into<String>,
        db: Db,
        entities: Vec<Entity>,
        auth: Option<AuthConfig>,
    ) -> AppState {
        let app_id = app_id.into();
        let caller_from: CallerFn = match &auth {
            Some(config) => Arc::new(token_caller(&app_id, config)),
            None => Arc::new(|headers: &HeaderMap| {
                if headers.contains_key(axum::http::header::AUTHORIZATION) {
                    Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "token-invalid",
                        "this app does not accept access tokens",
                    ))
                } else {
                    Ok(Caller::anonymous())
                }
            }),
        };
        AppState {
            app_id,
            db,
            entities,
            caller_from,
            auth,
            events: Events::default(),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("app_id", &self.app_id)
            .field("db", &self.db)
            .field("entities", &self.entities.len())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// The rules `User` gets when its schema has no `rls`: a user reads and updates their own
/// record only; only admins (and the service role) create, delete or see every user.
fn default_user_rls() -> Value {
    json!({
        "create": false,
        "read": {"id": "{{user.id}}"},
        "update": {"id": "{{user.id}}"},
        "delete": false,
    })
}

/// The router's state: the app and its entities by name.
struct Shared {
    app: Arc<AppState>,
    entities: HashMap<String, Entity>,
}

/// The router's state over `state`: its entities by name, `User` with its default rules.
fn shared(state: Arc<AppState>) -> Arc<Shared> {
    let entities = state
        .entities
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if e.name == USER_ENTITY && e.rls.is_none() {
                e.rls = Some(default_user_rls());
            }
            (e.name.clone(), e)
        })
        .collect();
    Arc::new(Shared {
        app: state,
        entities,
    })
}

/// The realtime endpoint of `state`'s app (`/ws-user-apps/socket.io/`, see
/// [`realtime`]): mount it at the root of the app's origin. A socket's `token` is checked as
/// the API checks a bearer token (then the user's `User` record is read); an absent or invalid
/// one makes an anonymous subscriber.
pub fn realtime_router(state: Arc<AppState>) -> Router {
    let shared = shared(state.clone());
    let resolve: realtime::ResolveFn = Arc::new(move |token: Option<String>| {
        let shared = shared.clone();
        Box::pin(async move {
            let Some(value) =
                token.and_then(|t| axum::http::HeaderValue::from_str(&format!("Bearer {t}")).ok())
            else {
                return Caller::anonymous();
            };
            let mut headers = HeaderMap::new();
            headers.insert(axum::http::header::AUTHORIZATION, value);
            shared
                .caller(&headers)
                .await
                .unwrap_or_else(|_| Caller::anonymous())
        })
    });
    realtime::router(Arc::new(Realtime {
        app_id: state.app_id.clone(),
        events: state.events.clone(),
        resolve,
        limits: realtime::Limits::default(),
    }))
}

/// The entities API: mount it at the root of the server the SDK's `serverUrl` names. Every
/// answer is JSON; errors are `{"message", "detail", "code"}` (see [`ApiError`]).
pub fn router(state: Arc<AppState>) -> Router {
    let shared = shared(state);
    let base = "/api/apps/{app_id}/entities/{name}";
    let app = "/api/apps/{app_id}";
    Router::new()
        .route(&format!("{app}/auth/register"), post(auth::register))
        .route(&format!("{app}/auth/login"), post(auth::login))
        .route(&format!("{app}/auth/verify-otp"), post(auth::verify_otp))
        .route(&format!("{app}/auth/resend-otp"), post(auth::resend_otp))
        .route(
            &format!("{app}/auth/reset-password-request"),
            post(auth::reset_password_request),
        )
        .route(
            &format!("{app}/auth/reset-password"),
            post(auth::reset_password),
        )
        .route(
            &format!("{app}/auth/change-password"),
            post(auth::change_password),
        )
        .route(&format!("{app}/users/invite-user"), post(auth::invite_user))
        // OpenID Connect: the SDK's `loginWithProvider('google')` URL, and the callback
        // (reached under the pages' prefix, where the API is nested).
        .route("/api/apps/auth/login", get(auth::oidc_start))
        .route("/oidc/callback", get(auth::oidc_callback))
        .route(
            &format!("{app}/runtime/users/invite-user"),
            post(auth::invite_user),
        )
        .route(
            &format!("{app}/entities/User/me"),
            get(auth::me).put(auth::update_me),
        )
        .route(
            base,
            get(read::list)
                .post(write::create)
                .delete(write::delete_many),
        )
        .route(&format!("{base}/count"), get(read::count))
        .route(
            &format!("{base}/bulk"),
            post(write::bulk_create).put(many::bulk_update),
        )
        .route(&format!("{base}/v2/list"), get(page::list_page))
        .route(&format!("{base}/update-many"), patch(many::update_many))
        .route(&format!("{base}/aggregate"), post(read::aggregate))
        .route(&format!("{base}/upsert"), post(many::upsert))
        .route(
            &format!("{base}/import"),
            post(import::import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY)),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(read::get_one)
                .put(write::update)
                .delete(write::delete_one),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found("not-found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "method not allowed on this route",
    )
}

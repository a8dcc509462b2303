//! The harness the router integration tests share: the fixture entities, the test caller
//! (`Bearer service` / `Bearer test-<email>`), the router state on SQLite and on a real
//! PostgreSQL, the request helper (`tower::ServiceExt::oneshot`, no sockets) and the JSON
//! helpers. Not every test file uses every item.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use ferry_compat::base44::api::{ApiError, AppState, router};
use ferry_compat::base44::model::Entity;
use ferry_compat::base44::rls::Caller;
use ferry_compat::base44::schema::{load_entities, parse_entity};
use ferry_compat::base44::store::Db;
use serde_json::{Map, Value};
use tower::ServiceExt;

pub const APP: &str = "app1";

pub const ALICE: Option<&str> = Some("test-alice@example.com");
pub const BOB: Option<&str> = Some("test-bob@example.com");
pub const ADMIN: Option<&str> = Some("test-root@example.com");
pub const SERVICE: Option<&str> = Some("service");

/// `Note`, whose create/update rule filters (for the re-check): (file name, source).
pub const NOTE: (&str, &str) = (
    "Note.jsonc",
    r#"{"name": "Note", "properties": {"owner": {"type": "string"}, "body": {"type": "string"}},
                "rls": {"read": true, "write": {"owner": "{{user.email}}"}}}"#,
);

/// The fixture entities plus `extra`, each a (file name, source) pair.
pub fn entities(extra: &[(&str, &str)]) -> Vec<Entity> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/base44/entities");
    let mut all = load_entities(&dir).expect("fixtures load");
    for (file, source) in extra {
        all.push(parse_entity(file, source).expect(file));
    }
    all
}

/// `Bearer service` → the service role; `Bearer test-<email>` → that user (the API reads the
/// rest from `User`); `Bearer <other>` → 401; none → anonymous.
pub fn caller_from(headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get("authorization") else {
        return Ok(Caller::anonymous());
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("bad authorization header"))?;
    if token == "service" {
        return Ok(Caller::service());
    }
    let email = token
        .strip_prefix("test-")
        .ok_or_else(|| ApiError::unauthorized("invalid token"))?;
    let mut user = Map::new();
    user.insert("email".into(), Value::String(email.into()));
    Ok(Caller::user(user))
}

/// Runs `scenario` on a fresh SQLite file in a temporary directory.
pub fn on_sqlite(scenario: impl AsyncFnOnce(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario(&url));
}

/// Runs `scenario` on a fresh PostgreSQL cluster, unless the test `name` is to be skipped.
pub fn on_postgres(name: &str, scenario: impl AsyncFnOnce(&str)) {
    if ferry_test::pg::skip_if_unavailable(name) {
        return;
    }
    let cluster = ferry_test::pg::Cluster::start().expect("cluster");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(scenario(&cluster.url("postgres")));
}

/// Sends one request through `router`, as `token` when given, and answers the status and
/// the JSON body.
pub async fn request(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-app-id", APP);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b)
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The entities API with `caller_from` as the caller and no auth routes.
pub struct Api {
    pub router: Router,
}

impl Api {
    /// The router over `db` serving `entities` (already migrated).
    pub fn new(db: Db, entities: Vec<Entity>) -> Api {
        Api {
            router: router(Arc::new(AppState {
                app_id: APP.into(),
                db,
                entities,
                caller_from: Arc::new(caller_from),
                auth: None,
                events: Default::default(),
            })),
        }
    }

    /// Opens `url`, migrates `entities` and serves them.
    pub async fn migrated(url: &str, entities: Vec<Entity>) -> Api {
        let db = Db::open(url).await.expect("open");
        let applied = db.migrate(entities).await.expect("migrate");
        Api::new(db, applied.into_iter().map(|a| a.entity).collect())
    }

    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        who: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        request(&self.router, method, uri, who, body).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let uri = format!("/api/apps/{APP}/entities/{path}");
        self.raw(method, &uri, who, body.map(|b| b.to_string().into_bytes()))
            .await
    }

    /// `GET {entity}?…` with the pairs percent-encoded.
    pub async fn list(
        &self,
        entity: &str,
        who: Option<&str>,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        self.call(
            Method::GET,
            &format!("{entity}?{}", query.join("&")),
            who,
            None,
        )
        .await
    }

    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, value) = self.call(method.clone(), path, who, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
        value
    }

    /// Expects an error answer of `status` and `code` in the JSON error shape.
    pub async fn err(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let (got, value) = self.call(method.clone(), path, who, body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        check_error(&value, code);
        value
    }

    /// Every record of `entity`, as the service role sees them.
    pub async fn all(&self, entity: &str) -> Vec<Value> {
        let (status, value) = self
            .list(entity, Some("service"), &[("limit", "5000")])
            .await;
        assert_eq!(status, StatusCode::OK, "{value}");
        value.as_array().expect("array").clone()
    }
}

pub fn check_error(value: &Value, code: &str) {
    assert_eq!(value["code"], code, "{value}");
    assert!(value["message"].is_string(), "{value}");
    assert!(value.get("detail").is_some(), "{value}");
    let text = value.to_string().to_lowercase();
    for leak in [
        "select ",
        "insert ",
        "delete from",
        "sqlite",
        "postgres",
        "syntax",
    ] {
        assert!(!text.contains(leak), "leaks internals: {value}");
    }
}

pub fn ids(records: &Value) -> Vec<String> {
    let mut ids: Vec<String> = records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

pub fn titles(records: &Value) -> Vec<String> {
    records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or("").to_string())
        .collect()
}

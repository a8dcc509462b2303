//! The HTTP entities API `@base44/sdk` 0.8.50 calls (`${serverUrl}/api/apps/{app_id}/entities/…`),
//! served from the owner's database through [`crate::base44::store::Db`].
//!
//! Every statement comes from `query`/`record` (parameterised; identifiers from the applied
//! entities only); every operation is checked against the entity's `rls` rules for the
//! caller (`rls::access`): reads are filtered in SQL, updates and deletes carry the rule in
//! their `WHERE`, and writes whose new values must match a rule are re-selected with it
//! inside a transaction and rolled back (403) when they do not. Routes, status codes and
//! what is not implemented yet: `docs/base44.md`, "HTTP API".

mod auth;
mod error;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub use auth::{AuthConfig, INVITE_TTL_SECS, token_caller};
pub use error::{ApiError, InternalError};

use crate::base44::model::{Entity, USER_ENTITY};
use crate::base44::query::{
    After, Filter, ListQuery, QueryError, QueryErrorKind, Sql, SqlValue, aggregate_sql, count_sql,
    decode_cell, page_sql, parse_aggregate, parse_filter, parse_list, project, select_sql,
    where_sql,
};
use crate::base44::record::{
    Author, Cell, RecordError, delete_sql, get_sql, insert_many_sql, insert_sql, is_valid_id,
    public_columns, row_to_record, update_many_sql, update_sql,
};
use crate::base44::rls::{self, Access, Caller, Operation};
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

/// The entities API: mount it at the root of the server the SDK's `serverUrl` names. Every
/// answer is JSON; errors are `{"message", "detail", "code"}` (see [`ApiError`]).
pub fn router(state: Arc<AppState>) -> Router {
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
    let shared = Arc::new(Shared {
        app: state,
        entities,
    });
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
        .route(
            &format!("{app}/runtime/users/invite-user"),
            post(auth::invite_user),
        )
        .route(
            &format!("{app}/entities/User/me"),
            get(auth::me).put(auth::update_me),
        )
        .route(base, get(list).post(create).delete(delete_many))
        .route(&format!("{base}/count"), get(count))
        .route(&format!("{base}/bulk"), post(bulk_create).put(bulk_update))
        .route(&format!("{base}/v2/list"), get(list_page))
        .route(&format!("{base}/update-many"), patch(update_many))
        .route(&format!("{base}/aggregate"), post(aggregate))
        .route(&format!("{base}/upsert"), post(upsert))
        .route(&format!("{base}/import"), post(not_implemented))
        .route(
            &format!("{base}/{{id}}"),
            get(get_one).put(update).delete(delete_one),
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

async fn not_implemented() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not-implemented",
        "this entities call is not supported by ferry yet",
    )
}

// ---- request parts ----------------------------------------------------------------------

#[derive(Deserialize)]
struct EntityPath {
    app_id: String,
    name: String,
}

#[derive(Deserialize)]
struct RecordPath {
    app_id: String,
    name: String,
    id: String,
}

type PathIn<T> = Result<Path<T>, PathRejection>;
type QueryIn = Result<Query<Vec<(String, String)>>, QueryRejection>;
type BodyIn = Result<Bytes, BytesRejection>;

fn path<T>(p: PathIn<T>) -> Result<T, ApiError> {
    p.map(|Path(p)| p)
        .map_err(|_| ApiError::bad_request("bad-path", "the path is malformed"))
}

fn query_pairs(q: QueryIn) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|_| ApiError::bad_request("bad-query", "the query string is malformed"))
}

/// The body as JSON (`null` when empty).
fn body_json(body: BodyIn) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is larger than {MAX_BODY} bytes"),
            )
        } else {
            ApiError::bad_request("bad-body", "the body could not be read")
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("bad-json", format!("the body is not JSON: {e}")))
}

fn body_object(body: BodyIn) -> Result<Map<String, Value>, ApiError> {
    match body_json(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "bad-record",
            "the body must be a JSON object",
        )),
    }
}

/// One request's entity and caller.
struct Ctx<'a> {
    shared: &'a Shared,
    entity: &'a Entity,
    caller: Caller,
}

impl Shared {
    fn db(&self) -> &Db {
        &self.app.db
    }

    /// Checks the app id of the path and of `X-App-Id` (when sent): another is a 404.
    fn check_app(&self, headers: &HeaderMap, app_id: &str) -> Result<(), ApiError> {
        let header_ok = headers
            .get("x-app-id")
            .is_none_or(|h| h.as_bytes() == self.app.app_id.as_bytes());
        if app_id != self.app.app_id || !header_ok {
            return Err(ApiError::not_found("unknown-app", "no such app"));
        }
        Ok(())
    }

    /// Checks the app id (path and `X-App-Id`), finds the entity, resolves the caller.
    async fn ctx(
        &self,
        headers: &HeaderMap,
        app_id: &str,
        name: &str,
    ) -> Result<Ctx<'_>, ApiError> {
        self.check_app(headers, app_id)?;
        let entity = self
            .entities
            .get(name)
            .ok_or_else(|| ApiError::not_found("unknown-entity", "no such entity"))?;
        let caller = self.caller(headers).await?;
        Ok(Ctx {
            shared: self,
            entity,
            caller,
        })
    }

    /// The caller, a signed-in user's attributes read again from `User`.
    async fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let caller = (self.app.caller_from)(headers)?;
        let (Some(user), false) = (&caller.user, caller.service) else {
            return Ok(caller);
        };
        let Some(users) = self.entities.get(USER_ENTITY) else {
            return Ok(caller);
        };
        let dialect = self.db().dialect();
        let sql = match (user.get("id"), user.get("email")) {
            (Some(Value::String(id)), _) => {
                if !is_valid_id(id) {
                    return Err(ApiError::unauthorized("unknown user"));
                }
                get_sql(users, id, dialect, None)?
            }
            (_, Some(Value::String(email))) => {
                let query = ListQuery {
                    filter: Some(parse_filter(&json!({ "email": email }))?),
                    limit: 2,
                    ..ListQuery::default()
                };
                select_sql(users, &query, dialect)?
            }
            _ => return Ok(caller),
        };
        let mut records = self.records(users, &sql).await?;
        match (records.pop(), records.is_empty()) {
            (Some(Value::Object(record)), true) => Ok(Caller::user(record)),
            _ => Err(ApiError::unauthorized("unknown user")),
        }
    }

    /// Runs a statement returning public columns and decodes its rows.
    async fn records(&self, entity: &Entity, sql: &Sql) -> Result<Vec<Value>, ApiError> {
        let rows = self.db().query(sql, public_columns(entity).len()).await?;
        decode(entity, rows, self.db().dialect())
    }
}

fn decode(
    entity: &Entity,
    rows: Vec<Vec<Cell>>,
    dialect: crate::base44::model::Dialect,
) -> Result<Vec<Value>, ApiError> {
    rows.iter()
        .map(|cells| row_to_record(entity, cells, dialect).map_err(ApiError::from))
        .collect()
}

impl Ctx<'_> {
    fn access(&self, op: Operation) -> Result<Access, ApiError> {
        Ok(rls::access(self.entity, op, &self.caller)?)
    }

    fn dialect(&self) -> crate::base44::model::Dialect {
        self.shared.db().dialect()
    }

    fn columns(&self) -> usize {
        public_columns(self.entity).len()
    }

    fn author(&self) -> Author {
        let text = |key: &str| {
            self.caller
                .user
                .as_ref()
                .and_then(|u| u.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Author {
            email: text("email"),
            id: text("id"),
        }
    }

    /// On `User`, a caller who is neither an admin nor the service role cannot set `role`
    /// (nor change `email`, the sign-in identity, on update): those keys are dropped.
    fn guard_user_fields(&self, record: &mut Map<String, Value>, update: bool) {
        if self.entity.name != USER_ENTITY || self.caller.service || self.caller.is_admin() {
            return;
        }
        record.remove("role");
        if update {
            record.remove("email");
        }
    }

    /// Runs a write returning one record's public columns; with `check`, inside a transaction
    /// that re-selects the record `id` with the filter and rolls back (403) when it does not
    /// match. `Ok(None)`: the write touched no row.
    async fn write_one(
        &self,
        sql: &Sql,
        id: &str,
        check: Option<&Filter>,
    ) -> Result<Option<Value>, ApiError> {
        let db = self.shared.db();
        let Some(filter) = check else {
            let mut records = self.shared.records(self.entity, sql).await?;
            return Ok(records.pop());
        };
        let mut tx = db.begin().await?;
        if tx.query(sql, self.columns()).await?.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let recheck = get_sql(self.entity, id, self.dialect(), Some(filter))?;
        let rows = tx.query(&recheck, self.columns()).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Err(ApiError::forbidden(
                "the record's values are not allowed by the entity's access rules",
            ));
        }
        tx.commit().await?;
        Ok(decode(self.entity, rows, self.dialect())?.pop())
    }
}

/// `Denied` → 403; `All` → no filter; `Rows(f)` → `f`.
fn write_filter(access: Access, op: Operation) -> Result<Option<Filter>, ApiError> {
    match access {
        Access::All => Ok(None),
        Access::Denied => Err(ApiError::forbidden(format!(
            "{op} is not allowed on this entity"
        ))),
        Access::Rows(f) => Ok(Some(f)),
    }
}

/// An id from the path: one that cannot exist is a 404, like a missing record.
fn record_id(id: &str) -> Result<&str, ApiError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(record_not_found())
    }
}

fn record_not_found() -> ApiError {
    ApiError::not_found("not-found", "no such record")
}

type Answer = Result<Response, ApiError>;

fn ok(value: Value) -> Answer {
    Ok(axum::Json(value).into_response())
}

// ---- handlers ---------------------------------------------------------------------------

/// `GET …/{name}?q=&sort=&limit=&skip=&fields=`: `list` and `filter`.
async fn list(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    q: QueryIn,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut query = parse_list(&query_pairs(q)?)?;
    let access = ctx.access(Operation::Read)?;
    query.filter = rls::combine(query.filter.take(), &access);
    let sql = select_sql(ctx.entity, &query, ctx.dialect())?;
    let records = s.records(ctx.entity, &sql).await?;
    let records = match &query.fields {
        Some(fields) => records.into_iter().map(|r| project(r, fields)).collect(),
        None => records,
    };
    ok(Value::Array(records))
}

/// `POST …/{name}/aggregate` with an `EntityAggregateSpec` → `{"rows": [...], "truncated":
/// bool}`: one `GROUP BY` over the records the caller may read.
async fn aggregate(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut spec = parse_aggregate(&body_json(body)?)?;
    let access = ctx.access(Operation::Read)?;
    let filter = rls::combine(spec.filter.take(), &access);
    let agg = aggregate_sql(ctx.entity, &spec, filter.as_ref(), ctx.dialect())?;
    let mut rows = s.db().query(&agg.sql, agg.columns.len()).await?;
    let limit = usize::try_from(agg.limit).unwrap_or(usize::MAX);
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut record = Map::new();
        for ((name, decode), cell) in agg.columns.iter().zip(row) {
            let value = decode_cell(*decode, cell).ok_or_else(|| {
                ApiError::internal(format!("aggregate column {name} has an unexpected cell"))
            })?;
            record.insert(name.clone(), value);
        }
        out.push(Value::Object(record));
    }
    ok(json!({ "rows": out, "truncated": truncated }))
}

/// `GET …/{name}/count?q=` → `{"count": n}`.
async fn count(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    q: QueryIn,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let pairs: Vec<(String, String)> = query_pairs(q)?
        .into_iter()
        .filter(|(k, _)| k == "q")
        .collect();
    let query = parse_list(&pairs)?;
    let access = ctx.access(Operation::Read)?;
    let filter = rls::combine(query.filter, &access);
    let sql = count_sql(ctx.entity, filter.as_ref(), ctx.dialect())?;
    let rows = s.db().query(&sql, 1).await?;
    match rows.first().and_then(|r| r.first()) {
        Some(Cell::Int(n)) => ok(json!({ "count": n })),
        _ => Err(ApiError::internal("COUNT(*) returned no integer")),
    }
}

/// `GET …/{name}/{id}`: the record, or 404 (also when the read rule hides it).
async fn get_one(
    State(s): State<Arc<Shared>>,
    p: PathIn<RecordPath>,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let id = record_id(&p.id)?;
    let filter = match ctx.access(Operation::Read)? {
        Access::Denied => return Err(record_not_found()),
        Access::All => None,
        Access::Rows(f) => Some(f),
    };
    let sql = get_sql(ctx.entity, id, ctx.dialect(), filter.as_ref())?;
    match s.records(ctx.entity, &sql).await?.pop() {
        Some(record) => ok(record),
        None => Err(record_not_found()),
    }
}

/// `POST …/{name}`: creates one record and answers it.
async fn create(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut record = body_object(body)?;
    let check = write_filter(ctx.access(Operation::Create)?, Operation::Create)?;
    ctx.guard_user_fields(&mut record, false);
    let (id, sql) = insert_sql(ctx.entity, &record, &ctx.author(), ctx.dialect())?;
    match ctx.write_one(&sql, &id, check.as_ref()).await? {
        Some(record) => ok(record),
        None => Err(ApiError::internal("INSERT returned no row")),
    }
}

/// `PUT …/{name}/{id}`: a partial update; answers the updated record, 404 when missing or
/// hidden by the update rule, 403 when the new values leave it.
async fn update(
    State(s): State<Arc<Shared>>,
    p: PathIn<RecordPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let id = record_id(&p.id)?;
    let changes = body_object(body)?;
    ctx.update(id, changes).await
}

impl Ctx<'_> {
    /// A partial update of record `id` under the update rule (the `update` route's work,
    /// shared with `updateMe`).
    async fn update(&self, id: &str, mut changes: Map<String, Value>) -> Answer {
        let check = write_filter(self.access(Operation::Update)?, Operation::Update)?;
        self.guard_user_fields(&mut changes, true);
        let sql = update_sql(self.entity, id, &changes, self.dialect(), check.as_ref())?;
        match self.write_one(&sql, id, check.as_ref()).await? {
            Some(record) => ok(record),
            None => Err(record_not_found()),
        }
    }
}

/// `DELETE …/{name}/{id}` → `{"success": true}`; 404 when missing or hidden by the rule.
async fn delete_one(
    State(s): State<Arc<Shared>>,
    p: PathIn<RecordPath>,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let id = record_id(&p.id)?;
    let filter = write_filter(ctx.access(Operation::Delete)?, Operation::Delete)?;
    let sql = delete_sql(ctx.entity, id, ctx.dialect(), filter.as_ref())?;
    if s.db().query(&sql, ctx.columns()).await?.is_empty() {
        return Err(record_not_found());
    }
    ok(json!({ "success": true }))
}

/// `DELETE …/{name}` with a JSON query body (`deleteMany`) → `{"success": true, "deleted":
/// n}`. The body is required; `{}` deletes every record the delete rule allows.
async fn delete_many(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let query = match body_json(body)? {
        q @ Value::Object(_) => parse_filter(&q)?,
        _ => {
            return Err(ApiError::bad_request(
                "bad-query",
                "deleteMany needs a JSON object query as its body",
            ));
        }
    };
    let access = ctx.access(Operation::Delete)?;
    write_filter(access.clone(), Operation::Delete)?;
    let filter = rls::combine(Some(query), &access).unwrap_or(Filter::Always);
    let mut params = Vec::new();
    let condition = where_sql(ctx.entity, &filter, ctx.dialect(), &mut params)?;
    let sql = Sql {
        text: format!(
            "DELETE FROM \"{}\" WHERE {condition}",
            ctx.entity.table.replace('"', "\"\"")
        ),
        params,
    };
    let deleted = s.db().execute(&sql).await?;
    ok(json!({ "success": true, "deleted": deleted }))
}

/// `POST …/{name}/bulk` with a JSON array of records (`bulkCreate`): one `INSERT`, answered
/// as the created records in input order. With a create rule that filters, every record must
/// match it or none is created (403).
async fn bulk_create(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let Value::Array(items) = body_json(body)? else {
        return Err(ApiError::bad_request(
            "bad-record",
            "bulkCreate needs a JSON array of records",
        ));
    };
    let mut records = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(mut record) = item else {
            return Err(ApiError::from(RecordError::InRecord {
                index,
                source: Box::new(RecordError::BadRecord("not a JSON object".into())),
            }));
        };
        ctx.guard_user_fields(&mut record, false);
        records.push(record);
    }
    let check = write_filter(ctx.access(Operation::Create)?, Operation::Create)?;
    let (ids, sql) = insert_many_sql(ctx.entity, &records, &ctx.author(), ctx.dialect())?;
    let rows = match &check {
        None => s.db().query(&sql, ctx.columns()).await?,
        Some(rule) => {
            let mut tx = s.db().begin().await?;
            let rows = tx.query(&sql, ctx.columns()).await?;
            let these = parse_filter(&json!({ "id": { "$in": ids } }))?;
            let both = Filter::And(vec![these, rule.clone()]);
            let counted = tx
                .query(&count_sql(ctx.entity, Some(&both), ctx.dialect())?, 1)
                .await?;
            let matching = match counted.first().and_then(|r| r.first()) {
                Some(Cell::Int(n)) => usize::try_from(*n).unwrap_or(0),
                _ => 0,
            };
            if matching != ids.len() {
                tx.rollback().await?;
                return Err(ApiError::forbidden(
                    "a record's values are not allowed by the entity's access rules",
                ));
            }
            tx.commit().await?;
            rows
        }
    };
    let mut by_id: HashMap<String, Value> = decode(ctx.entity, rows, ctx.dialect())?
        .into_iter()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?.to_string();
            Some((id, r))
        })
        .collect();
    let ordered = ids
        .iter()
        .map(|id| by_id.remove(id))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::internal("bulk INSERT returned other ids"))?;
    ok(Value::Array(ordered))
}

/// The most records one `updateMany` call updates; `has_more` tells there are more.
pub const UPDATE_MANY_BATCH: usize = 500;
/// The most records one `bulkUpdate` call may carry.
pub const MAX_BULK_UPDATE: usize = 500;

impl Ctx<'_> {
    /// The number of records among `ids` that match `rule`, in `tx`.
    async fn count_matching(
        &self,
        tx: &mut crate::base44::store::Tx,
        ids: &[String],
        rule: &Filter,
    ) -> Result<usize, ApiError> {
        let these = parse_filter(&json!({ "id": { "$in": ids } }))?;
        let both = Filter::And(vec![these, rule.clone()]);
        let counted = tx
            .query(&count_sql(self.entity, Some(&both), self.dialect())?, 1)
            .await?;
        Ok(match counted.first().and_then(|r| r.first()) {
            Some(Cell::Int(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        })
    }
}

/// `PATCH …/{name}/update-many` with `{"query": {...}, "data": {"$set": {...}, ...}}`
/// (`updateMany`) → `{"success": true, "updated": n, "has_more": bool}`. Updates at most
/// [`UPDATE_MANY_BATCH`] records the update rule allows, in one transaction; the new values
/// are re-checked against the rule (403 and nothing written when one leaves it).
async fn update_many(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut body = body_object(body)?;
    let query = match body.remove("query") {
        None | Some(Value::Null) => None,
        Some(q @ Value::Object(_)) => Some(parse_filter(&q)?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad-query",
                "updateMany's query must be a JSON object",
            ));
        }
    };
    let Some(Value::Object(mut data)) = body.remove("data") else {
        return Err(ApiError::bad_request(
            "bad-record",
            "updateMany needs `data`, an object of update operators",
        ));
    };
    if ctx.entity.name == USER_ENTITY && !ctx.caller.service && !ctx.caller.is_admin() {
        for fields in data.values_mut() {
            if let Value::Object(fields) = fields {
                ctx.guard_user_fields(fields, true);
            }
        }
        data.retain(|_, v| v.as_object().is_none_or(|m| !m.is_empty()));
    }
    let access = ctx.access(Operation::Update)?;
    let check = write_filter(access.clone(), Operation::Update)?;
    // Validate the update before touching the database (the target is a placeholder).
    update_many_sql(ctx.entity, &data, &Filter::Never, ctx.dialect())?;
    let select = ListQuery {
        filter: rls::combine(query, &access),
        sort: Vec::new(),
        limit: u32::try_from(UPDATE_MANY_BATCH + 1).unwrap_or(u32::MAX),
        ..ListQuery::default()
    };
    let select = select_sql(ctx.entity, &select, ctx.dialect())?;
    let mut tx = s.db().begin().await?;
    let mut ids: Vec<String> = tx
        .query(&select, ctx.columns())
        .await?
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Cell::Text(id)) => Some(id),
            _ => None,
        })
        .collect();
    let has_more = ids.len() > UPDATE_MANY_BATCH;
    ids.truncate(UPDATE_MANY_BATCH);
    if ids.is_empty() {
        tx.rollback().await?;
        return ok(json!({ "success": true, "updated": 0, "has_more": false }));
    }
    let mut target = parse_filter(&json!({ "id": { "$in": ids } }))?;
    if let Some(rule) = &check {
        target = Filter::And(vec![target, rule.clone()]);
    }
    let sql = update_many_sql(ctx.entity, &data, &target, ctx.dialect())?;
    let updated: Vec<String> = tx
        .query(&sql, 1)
        .await?
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Cell::Text(id)) => Some(id),
            _ => None,
        })
        .collect();
    if let Some(rule) = &check
        && !updated.is_empty()
        && ctx.count_matching(&mut tx, &updated, rule).await? != updated.len()
    {
        tx.rollback().await?;
        return Err(ApiError::forbidden(
            "a record's new values are not allowed by the entity's access rules",
        ));
    }
    tx.commit().await?;
    ok(json!({ "success": true, "updated": updated.len(), "has_more": has_more }))
}

/// `PUT …/{name}/bulk` with `[{"id": …, ...changes}, …]` (`bulkUpdate`): partial updates of
/// up to [`MAX_BULK_UPDATE`] records in one transaction, answered as the updated records in
/// input order. All or nothing: a missing (or hidden) record is a 404, new values outside the
/// update rule a 403 (`detail: {"index": i}`).
async fn bulk_update(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let Value::Array(items) = body_json(body)? else {
        return Err(ApiError::bad_request(
            "bad-record",
            "bulkUpdate needs a JSON array of {id, ...changes}",
        ));
    };
    at_most(&items, MAX_BULK_UPDATE, "bulkUpdate")?;
    let check = write_filter(ctx.access(Operation::Update)?, Operation::Update)?;
    let mut statements = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(mut changes) = item else {
            return Err(in_record(
                index,
                RecordError::BadRecord("not a JSON object".into()),
            ));
        };
        let id = match changes.get("id") {
            Some(Value::String(id)) => id.clone(),
            _ => {
                return Err(in_record(
                    index,
                    RecordError::BadId("each record needs its `id` as a string".into()),
                ));
            }
        };
        if !seen.insert(id.clone()) {
            return Err(in_record(
                index,
                RecordError::BadRecord("the same id appears twice".into()),
            ));
        }
        ctx.guard_user_fields(&mut changes, true);
        let sql = update_sql(ctx.entity, &id, &changes, ctx.dialect(), check.as_ref())
            .map_err(|e| in_record(index, e))?;
        statements.push((id, sql));
    }
    let mut tx = s.db().begin().await?;
    let mut rows = Vec::with_capacity(statements.len());
    for (index, (id, sql)) in statements.iter().enumerate() {
        let mut got = tx.query(sql, ctx.columns()).await?;
        let Some(row) = got.pop() else {
            tx.rollback().await?;
            return Err(record_not_found().with_detail(json!({ "index": index })));
        };
        if let Some(rule) = &check
            && ctx
                .count_matching(&mut tx, std::slice::from_ref(id), rule)
                .await?
                != 1
        {
            tx.rollback().await?;
            return Err(ApiError::forbidden(
                "a record's new values are not allowed by the entity's access rules",
            )
            .with_detail(json!({ "index": index })));
        }
        rows.push(row);
    }
    tx.commit().await?;
    ok(Value::Array(decode(ctx.entity, rows, ctx.dialect())?))
}

/// The most records one `upsert` call may carry.
pub const MAX_UPSERT: usize = 500;
/// The most key fields of one `upsert`.
pub const MAX_UPSERT_KEYS: usize = 4;

/// The key fields of an `upsert` body: a declared, non-JSON field name or a list of 1 to
/// [`MAX_UPSERT_KEYS`] distinct ones.
fn upsert_keys(entity: &Entity, key: Option<Value>) -> Result<Vec<String>, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad-record", m);
    let keys: Vec<Value> = match key {
        Some(Value::String(k)) => vec![Value::String(k)],
        Some(Value::Array(ks)) => ks,
        _ => {
            return Err(bad(
                "upsert needs `key`, a field name or a list of field names".into(),
            ));
        }
    };
    if keys.is_empty() || keys.len() > MAX_UPSERT_KEYS {
        return Err(bad(format!(
            "upsert takes 1 to {MAX_UPSERT_KEYS} key fields"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys {
        let Value::String(key) = key else {
            return Err(bad("each key must be a field name".into()));
        };
        match entity.field(&key) {
            Some(field) if !field.ty.is_json() => {}
            _ => {
                return Err(bad(format!(
                    "the key {} is not a declared scalar field of the entity",
                    json!(key)
                )));
            }
        }
        if out.contains(&key) {
            return Err(bad("a key field is named twice".into()));
        }
        out.push(key);
    }
    Ok(out)
}

/// `POST …/{name}/upsert` with `{"records": [...], "key": "f" | ["f", …]}` (`upsert`) →
/// `{"created": n, "updated": m, "records": [...]}`. In one transaction, each record whose
/// key values match an existing record updates it (a partial update under the update rule:
/// hidden or denied → 403) and every other one is created (under the create rule); the new
/// values are re-checked like `create`/`update`, and any failure rolls everything back
/// (`detail: {"index": i}`). Of records sharing a key in one call, the last one wins.
async fn upsert(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut body = body_object(body)?;
    let keys = upsert_keys(ctx.entity, body.remove("key"))?;
    let Some(Value::Array(items)) = body.remove("records") else {
        return Err(ApiError::bad_request(
            "bad-record",
            "upsert needs `records`, a JSON array of records",
        ));
    };
    at_most(&items, MAX_UPSERT, "upsert")?;
    // (input index, key filter, record), the last of each key only.
    let mut work: Vec<(usize, Value, Map<String, Value>)> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(record) = item else {
            return Err(in_record(
                index,
                RecordError::BadRecord("not a JSON object".into()),
            ));
        };
        let mut key = Map::new();
        for k in &keys {
            match record.get(k) {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    key.insert(k.clone(), v.clone());
                }
                _ => {
                    return Err(in_record(
                        index,
                        RecordError::BadRecord(format!(
                            "each record needs a string, number or boolean for the key {}",
                            json!(k)
                        )),
                    ));
                }
            }
        }
        let key = Value::Object(key);
        work.retain(|(_, other, _)| other != &key);
        work.push((index, key, record));
    }
    work.sort_by_key(|(index, _, _)| *index);
    let create = ctx.access(Operation::Create)?;
    let update = ctx.access(Operation::Update)?;
    let denied = |op: Operation, index: usize| {
        ApiError::forbidden(format!("{op} is not allowed on this entity"))
            .with_detail(json!({ "index": index }))
    };
    let outside = |index: usize| {
        ApiError::forbidden("a record's values are not allowed by the entity's access rules")
            .with_detail(json!({ "index": index }))
    };
    let mut tx = s.db().begin().await?;
    let (mut created, mut updated) = (0usize, 0usize);
    let mut rows = Vec::with_capacity(work.len());
    for (index, key, mut record) in work {
        let find = ListQuery {
            filter: Some(parse_filter(&key)?),
            limit: 2,
            ..ListQuery::default()
        };
        let found = tx
            .query(
                &select_sql(ctx.entity, &find, ctx.dialect())?,
                ctx.columns(),
            )
            .await?;
        let existing = match found.as_slice() {
            [] => None,
            [row] => match row.first() {
                Some(Cell::Text(id)) => Some(id.clone()),
                _ => return Err(ApiError::internal("a row without a text id")),
            },
            _ => {
                tx.rollback().await?;
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "the key matches more than one record",
                )
                .with_detail(json!({ "index": index })));
            }
        };
        let (id, sql, check) = match existing {
            Some(id) => {
                let check = match &update {
                    Access::Denied => {
                        tx.rollback().await?;
                        return Err(denied(Operation::Update, index));
                    }
                    Access::All => None,
                    Access::Rows(f) => Some(f.clone()),
                };
                ctx.guard_user_fields(&mut record, true);
                let sql = update_sql(ctx.entity, &id, &record, ctx.dialect(), check.as_ref())
                    .map_err(|e| in_record(index, e))?;
                updated += 1;
                (id, sql, check)
            }
            None => {
                let check = match &create {
                    Access::Denied => {
                        tx.rollback().await?;
                        return Err(denied(Operation::Create, index));
                    }
                    Access::All => None,
                    Access::Rows(f) => Some(f.clone()),
                };
                ctx.guard_user_fields(&mut record, false);
                let (id, sql) = insert_sql(ctx.entity, &record, &ctx.author(), ctx.dialect())
                    .map_err(|e| in_record(index, e))?;
                created += 1;
                (id, sql, check)
            }
        };
        let mut got = match tx.query(&sql, ctx.columns()).await {
            Ok(got) => got,
            Err(e) => {
                tx.rollback().await?;
                return Err(ApiError::from(e).with_detail(json!({ "index": index })));
            }
        };
        let Some(row) = got.pop() else {
            // The record exists but the update rule hides it.
            tx.rollback().await?;
            return Err(denied(Operation::Update, index));
        };
        if let Some(rule) = &check
            && ctx
                .count_matching(&mut tx, std::slice::from_ref(&id), rule)
                .await?
                != 1
        {
            tx.rollback().await?;
            return Err(outside(index));
        }
        rows.push(row);
    }
    tx.commit().await?;
    let records = decode(ctx.entity, rows, ctx.dialect())?;
    ok(json!({ "created": created, "updated": updated, "records": records }))
}

/// The default page size of `v2/list`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The longest cursor accepted (base64url text).
pub const MAX_CURSOR_LEN: usize = 2 << 20;

/// What a `v2/list` cursor carries: the walk's `q`, `sort` and `fields` as first sent, and the
/// last row's ordering values and id. Sent as base64url (no padding) JSON.
#[derive(serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    v: u8,
    q: Option<String>,
    sort: String,
    fields: Option<String>,
    after: Vec<Value>,
    id: String,
}

fn bad_cursor(message: &str) -> ApiError {
    ApiError::from(QueryError::new(QueryErrorKind::BadCursor, message))
}

impl Cursor {
    fn encode(&self) -> Result<String, ApiError> {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(text: &str) -> Result<Cursor, ApiError> {
        use base64::Engine as _;
        if text.len() > MAX_CURSOR_LEN {
            return Err(bad_cursor("the cursor is too long"));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad_cursor("the cursor is not valid"))?;
        let cursor: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| bad_cursor("the cursor is not valid"))?;
        if cursor.v != 1
            || !is_valid_id(&cursor.id)
            || cursor.after.len() > crate::base44::query::MAX_PAGE_TERMS
        {
            return Err(bad_cursor("the cursor is not valid"));
        }
        Ok(cursor)
    }

    /// The ordering values as parameters (on PostgreSQL text or null; on SQLite numbers,
    /// text or null).
    fn after(&self, dialect: crate::base44::model::Dialect) -> Result<After, ApiError> {
        use crate::base44::model::Dialect;
        let values = self
            .after
            .iter()
            .map(|v| match (v, dialect) {
                (Value::Null, _) => Ok(SqlValue::Null),
                (Value::String(s), _) => Ok(SqlValue::Text(s.clone())),
                (Value::Number(n), Dialect::Sqlite) => n
                    .as_i64()
                    .map(SqlValue::Int)
                    .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(SqlValue::Float))
                    .ok_or_else(|| bad_cursor("the cursor is not valid")),
                _ => Err(bad_cursor("the cursor is not valid")),
            })
            .collect::<Result<_, _>>()?;
        Ok(After {
            values,
            id: self.id.clone(),
        })
    }
}

/// One ordering value of a page row, for the cursor.
fn cursor_value(cell: &Cell) -> Result<Value, ApiError> {
    Ok(match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Int(i) => json!(i),
        Cell::Float(f) if f.is_finite() => json!(f),
        Cell::Bool(b) => json!(i64::from(*b)),
        _ => {
            return Err(ApiError::internal(
                "an ordering value of an unexpected type",
            ));
        }
    })
}

/// `GET …/{name}/v2/list?q=&sort=&limit=&fields=&cursor=` (`list(options)`,
/// `filter(q, options)`) → `{"items": [...], "next_cursor": "…" | null, "has_more": bool}`.
/// Keyset pages in `sort` order (default `-created_date`), then `id`; the cursor carries the
/// walk's `q`, `sort` and `fields` (sending different ones with it is `bad-cursor`) and the
/// last row's ordering values, so deleted rows never shift a page. The read rule applies to
/// every page. `distinct` is not supported yet (501).
async fn list_page(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    q: QueryIn,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let mut params: HashMap<&'static str, String> = HashMap::new();
    for (key, value) in query_pairs(q)? {
        let name = match key.as_str() {
            "q" => "q",
            "sort" => "sort",
            "limit" => "limit",
            "fields" => "fields",
            "cursor" => "cursor",
            "distinct" => return Err(not_implemented().await),
            "skip" => {
                return Err(ApiError::bad_request(
                    "bad-query",
                    "v2/list pages with `cursor`, not `skip`",
                ));
            }
            _ => continue,
        };
        if params.insert(name, value).is_some() {
            return Err(ApiError::bad_request(
                "bad-query",
                format!("parameter {name} is given twice"),
            ));
        }
    }
    let given = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let cursor = match given("cursor") {
        None => None,
        Some(text) => Some(Cursor::decode(&text)?),
    };
    let (q_text, sort_text, fields_text) = match &cursor {
        None => (
            given("q"),
            given("sort").unwrap_or_else(|| "-created_date".to_string()),
            given("fields"),
        ),
        Some(c) => {
            let differs = |name: &str, have: Option<&str>| {
                given(name).is_some_and(|v| Some(v.as_str()) != have)
            };
            if differs("q", c.q.as_deref())
                || differs("sort", Some(&c.sort))
                || differs("fields", c.fields.as_deref())
            {
                return Err(bad_cursor(
                    "the cursor belongs to another query, sort or fields",
                ));
            }
            (c.q.clone(), c.sort.clone(), c.fields.clone())
        }
    };
    let mut pairs = vec![("sort".to_string(), sort_text.clone())];
    if let Some(q) = &q_text {
        pairs.push(("q".into(), q.clone()));
    }
    if let Some(f) = &fields_text {
        pairs.push(("fields".into(), f.clone()));
    }
    pairs.push((
        "limit".into(),
        given("limit").unwrap_or_else(|| DEFAULT_PAGE_LIMIT.to_string()),
    ));
    let mut query = parse_list(&pairs)?;
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    query.limit = query.limit.saturating_add(1);
    let access = ctx.access(Operation::Read)?;
    query.filter = rls::combine(query.filter.take(), &access);
    let after = match &cursor {
        Some(c) => Some(c.after(ctx.dialect())?),
        None => None,
    };
    let (sql, terms) = page_sql(ctx.entity, &query, after.as_ref(), ctx.dialect())?;
    let width = ctx.columns();
    let mut rows = s.db().query(&sql, width + terms).await?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = match (has_more, rows.last()) {
        (true, Some(last)) => {
            let id = match last.first() {
                Some(Cell::Text(id)) => id.clone(),
                _ => return Err(ApiError::internal("a row without a text id")),
            };
            let after = last
                .get(width..)
                .unwrap_or_default()
                .iter()
                .map(cursor_value)
                .collect::<Result<Vec<_>, _>>()?;
            let cursor = Cursor {
                v: 1,
                q: q_text,
                sort: sort_text,
                fields: fields_text,
                after,
                id,
            };
            Value::String(cursor.encode()?)
        }
        _ => Value::Null,
    };
    let rows: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|mut r| {
            r.truncate(width);
            r
        })
        .collect();
    let records = decode(ctx.entity, rows, ctx.dialect())?;
    let items: Vec<Value> = match &query.fields {
        Some(fields) => records.into_iter().map(|r| project(r, fields)).collect(),
        None => records,
    };
    ok(json!({ "items": items, "next_cursor": next_cursor, "has_more": has_more }))
}

/// A batch route's error for its `index`-th record (`detail: {"index": i}`).
fn in_record(index: usize, e: RecordError) -> ApiError {
    ApiError::from(RecordError::InRecord {
        index,
        source: Box::new(e),
    })
}

/// Refuses a batch of more than `max` records (`too-large`).
fn at_most(items: &[Value], max: usize, route: &str) -> Result<(), ApiError> {
    if items.len() > max {
        return Err(ApiError::bad_request(
            "too-large",
            format!("{route} takes at most {max} records"),
        ));
    }
    Ok(())
}

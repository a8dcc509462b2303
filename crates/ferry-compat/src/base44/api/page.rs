//! `v2/list`: keyset cursor pages of records (`list(options)`, `filter(q, options)`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::decode;
use super::request::{Answer, EntityPath, PathIn, QueryIn, ok, path, query_pairs};
use super::{ApiError, Shared};
use crate::base44::query::{
    After, QueryError, QueryErrorKind, SqlValue, page_sql, parse_list, project,
};
use crate::base44::record::{Cell, is_valid_id};
use crate::base44::rls::{self, Operation};

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

pub(super) fn bad_cursor(message: &str) -> ApiError {
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

/// A `v2/list` parameter's value, trimmed; `None` when absent or blank.
pub(super) fn given(params: &HashMap<&'static str, String>, name: &str) -> Option<String> {
    params
        .get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// One ordering value of a page row, for the cursor.
pub(super) fn cursor_value(cell: &Cell) -> Result<Value, ApiError> {
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
/// every page. With `distinct=<field>` the page holds that field's distinct values instead
/// (`super::distinct`).
pub(super) async fn list_page(
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
            "distinct" => "distinct",
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
    if params.contains_key("distinct") {
        return super::distinct::page(&ctx, &params).await;
    }
    let given = |name: &str| given(&params, name);
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

//! The read routes: `list`/`filter`, `count`, `get` and `aggregate`, each filtered by the
//! entity's read rule in SQL.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::ApiError;
use super::Shared;
use super::request::{
    Answer, BodyIn, EntityPath, PathIn, QueryIn, RecordPath, body_json, ok, path, query_pairs,
    record_id, record_not_found,
};
use crate::base44::query::{
    aggregate_sql, count_sql, decode_cell, parse_aggregate, parse_list, project, select_sql,
};
use crate::base44::record::{Cell, get_sql};
use crate::base44::rls::{self, Access, Operation};

/// `GET …/{name}?q=&sort=&limit=&skip=&fields=`: `list` and `filter`.
pub(super) async fn list(
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
pub(super) async fn aggregate(
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
pub(super) async fn count(
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
pub(super) async fn get_one(
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

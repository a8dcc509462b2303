//! The routes that write many records by query or by key: `updateMany`, `bulkUpdate` and
//! `upsert`, each all or nothing in one transaction.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::context::{decode, write_filter};
use super::request::{
    Answer, BodyIn, EntityPath, PathIn, at_most, body_json, body_object, in_record, ok, path,
    record_not_found,
};
use super::{ApiError, Shared};
use crate::base44::model::{Entity, USER_ENTITY};
use crate::base44::query::{Filter, ListQuery, parse_filter, select_sql};
use crate::base44::realtime::ChangeKind;
use crate::base44::record::{Cell, RecordError, insert_sql, update_many_sql, update_sql};
use crate::base44::rls::{self, Access, Operation};

/// The most records one `updateMany` call updates; `has_more` tells there are more.
pub const UPDATE_MANY_BATCH: usize = 500;
/// The most records one `bulkUpdate` call may carry.
pub const MAX_BULK_UPDATE: usize = 500;

/// `PATCH …/{name}/update-many` with `{"query": {...}, "data": {"$set": {...}, ...}}`
/// (`updateMany`) → `{"success": true, "updated": n, "has_more": bool}`. Updates at most
/// [`UPDATE_MANY_BATCH`] records the update rule allows, in one transaction; the new values
/// are re-checked against the rule (403 and nothing written when one leaves it).
pub(super) async fn update_many(
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
        && ctx.count_outside(&mut tx, &updated, rule).await? != 0
    {
        tx.rollback().await?;
        return Err(ApiError::forbidden(
            "a record's new values are not allowed by the entity's access rules",
        ));
    }
    tx.commit().await?;
    if ctx.observed() && !updated.is_empty() {
        // The new values, read after the commit (a later change publishes its own event).
        let query = ListQuery {
            filter: Some(parse_filter(&json!({ "id": { "$in": &updated } }))?),
            sort: Vec::new(),
            ..ListQuery::default()
        };
        let records = s
            .records(ctx.entity, &select_sql(ctx.entity, &query, ctx.dialect())?)
            .await?;
        ctx.publish(ChangeKind::Update, &records);
    }
    ok(json!({ "success": true, "updated": updated.len(), "has_more": has_more }))
}

/// `PUT …/{name}/bulk` with `[{"id": …, ...changes}, …]` (`bulkUpdate`): partial updates of
/// up to [`MAX_BULK_UPDATE`] records in one transaction, answered as the updated records in
/// input order. All or nothing: a missing (or hidden) record is a 404, new values outside the
/// update rule a 403 (`detail: {"index": i}`).
pub(super) async fn bulk_update(
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
                .count_outside(&mut tx, std::slice::from_ref(id), rule)
                .await?
                != 0
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
    let records = decode(ctx.entity, rows, ctx.dialect())?;
    ctx.publish(ChangeKind::Update, &records);
    ok(Value::Array(records))
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
pub(super) async fn upsert(
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
    let mut kinds = Vec::with_capacity(work.len());
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
                kinds.push(ChangeKind::Update);
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
                kinds.push(ChangeKind::Create);
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
                .count_outside(&mut tx, std::slice::from_ref(&id), rule)
                .await?
                != 0
        {
            tx.rollback().await?;
            return Err(outside(index));
        }
        rows.push(row);
    }
    tx.commit().await?;
    let records = decode(ctx.entity, rows, ctx.dialect())?;
    for (record, kind) in records.iter().zip(&kinds) {
        ctx.publish(*kind, [record]);
    }
    ok(json!({ "created": created, "updated": updated, "records": records }))
}

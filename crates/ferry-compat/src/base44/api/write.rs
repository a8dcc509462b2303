//! The write routes of one record or one list: `create`, `update`, `delete`, `deleteMany`
//! and `bulkCreate`, under the entity's create/update/delete rules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::context::{decode, write_filter};
use super::request::{
    Answer, BodyIn, EntityPath, PathIn, RecordPath, body_json, body_object, ok, path, record_id,
    record_not_found,
};
use super::{ApiError, Shared};
use crate::base44::query::{Filter, Sql, parse_filter, where_sql};
use crate::base44::realtime::ChangeKind;
use crate::base44::record::{
    RecordError, delete_sql, ident, insert_many_sql, insert_sql, public_columns,
};
use crate::base44::rls::{self, Operation};

/// `POST …/{name}`: creates one record and answers it.
pub(super) async fn create(
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
        Some(record) => {
            ctx.publish(ChangeKind::Create, [&record]);
            ok(record)
        }
        None => Err(ApiError::internal("INSERT returned no row")),
    }
}

/// `PUT …/{name}/{id}`: a partial update; answers the updated record, 404 when missing or
/// hidden by the update rule, 403 when the new values leave it.
pub(super) async fn update(
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

/// `DELETE …/{name}/{id}` → `{"success": true}`; 404 when missing or hidden by the rule.
pub(super) async fn delete_one(
    State(s): State<Arc<Shared>>,
    p: PathIn<RecordPath>,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let id = record_id(&p.id)?;
    let filter = write_filter(ctx.access(Operation::Delete)?, Operation::Delete)?;
    let sql = delete_sql(ctx.entity, id, ctx.dialect(), filter.as_ref())?;
    let rows = s.db().query(&sql, ctx.columns()).await?;
    if rows.is_empty() {
        return Err(record_not_found());
    }
    if ctx.observed() {
        ctx.publish(
            ChangeKind::Delete,
            &decode(ctx.entity, rows, ctx.dialect())?,
        );
    }
    ok(json!({ "success": true }))
}

/// `DELETE …/{name}` with a JSON query body (`deleteMany`) → `{"success": true, "deleted":
/// n}`. The body is required; `{}` deletes every record the delete rule allows.
pub(super) async fn delete_many(
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
    let mut sql = Sql {
        text: format!(
            "DELETE FROM \"{}\" WHERE {condition}",
            ctx.entity.table.replace('"', "\"\"")
        ),
        params,
    };
    if !ctx.observed() {
        let deleted = s.db().execute(&sql).await?;
        return ok(json!({ "success": true, "deleted": deleted }));
    }
    // Subscribers need the deleted records (their read rule is checked against them).
    let columns = public_columns(ctx.entity);
    let returning: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    sql.text = format!("{} RETURNING {}", sql.text, returning.join(", "));
    let records = decode(
        ctx.entity,
        s.db().query(&sql, columns.len()).await?,
        ctx.dialect(),
    )?;
    ctx.publish(ChangeKind::Delete, &records);
    ok(json!({ "success": true, "deleted": records.len() }))
}

/// `POST …/{name}/bulk` with a JSON array of records (`bulkCreate`): one `INSERT`, answered
/// as the created records in input order. With a create rule that filters, every record must
/// match it or none is created (403).
pub(super) async fn bulk_create(
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
            if ctx.count_outside(&mut tx, &ids, rule).await? != 0 {
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
    ctx.publish(ChangeKind::Create, &ordered);
    ok(Value::Array(ordered))
}

//! `v2/list?distinct=<field>` (`list({distinct})`, `filter(q, {distinct})`): pages of one
//! field's distinct values among the records the caller may read.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiError;
use super::context::Ctx;
use super::page::{DEFAULT_PAGE_LIMIT, MAX_CURSOR_LEN, bad_cursor, cursor_value, given};
use super::request::{Answer, ok};
use crate::base44::model::Dialect;
use crate::base44::query::{
    FieldPath, MAX_DISTINCT_LIMIT, QueryError, QueryErrorKind, SqlValue, decode_cell, distinct_sql,
    parse_list,
};
use crate::base44::rls::{self, Operation};

/// What a distinct cursor carries: the walk's `q` and field as first sent, and the key of the
/// last value. Sent as base64url (no padding) JSON; a records cursor is not one (and the other
/// way round), so mixing them is `bad-cursor`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistinctCursor {
    v: u8,
    q: Option<String>,
    distinct: String,
    after: Value,
}

impl DistinctCursor {
    fn encode(&self) -> Result<String, ApiError> {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(text: &str) -> Result<DistinctCursor, ApiError> {
        use base64::Engine as _;
        if text.len() > MAX_CURSOR_LEN {
            return Err(bad_cursor("the cursor is too long"));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad_cursor("the cursor is not valid"))?;
        let cursor: DistinctCursor =
            serde_json::from_slice(&bytes).map_err(|_| bad_cursor("the cursor is not valid"))?;
        if cursor.v != 1 {
            return Err(bad_cursor("the cursor is not valid"));
        }
        Ok(cursor)
    }

    /// The last key as a parameter (on PostgreSQL always text; on SQLite text or a number);
    /// `distinct_sql` checks it against the field's type.
    fn after(&self, dialect: Dialect) -> Result<SqlValue, ApiError> {
        match (&self.after, dialect) {
            (Value::String(s), _) => Ok(SqlValue::Text(s.clone())),
            (Value::Number(n), Dialect::Sqlite) => n
                .as_i64()
                .map(SqlValue::Int)
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(SqlValue::Float))
                .ok_or_else(|| bad_cursor("the cursor is not valid")),
            _ => Err(bad_cursor("the cursor is not valid")),
        }
    }
}

/// One page of distinct values → `{"items": [...], "next_cursor": "…" | null, "has_more":
/// bool}`. Takes `distinct`, `q`, `limit` (1 to [`MAX_DISTINCT_LIMIT`], default
/// [`DEFAULT_PAGE_LIMIT`]) and `cursor`; `sort` and `fields` are refused (`bad-query`). The
/// values come in ascending order, an array field contributing each element, null and missing
/// left out; the query and the read rule select the records, in one statement.
pub(super) async fn page(ctx: &Ctx<'_>, params: &HashMap<&'static str, String>) -> Answer {
    if params.contains_key("sort") || params.contains_key("fields") {
        return Err(ApiError::bad_request(
            "bad-query",
            "a distinct page takes `q`, `limit` and `cursor` only",
        ));
    }
    let cursor = match given(params, "cursor") {
        None => None,
        Some(text) => Some(DistinctCursor::decode(&text)?),
    };
    let field = given(params, "distinct").ok_or_else(|| {
        ApiError::from(QueryError::new(
            QueryErrorKind::BadField,
            "distinct needs a field name",
        ))
    })?;
    let q_text = match &cursor {
        None => given(params, "q"),
        Some(c) => {
            let q = given(params, "q");
            if c.distinct != field || q.as_ref().is_some_and(|q| Some(q) != c.q.as_ref()) {
                return Err(bad_cursor("the cursor belongs to another query or field"));
            }
            c.q.clone()
        }
    };
    let path = FieldPath::parse(&field)?;
    let limit = match given(params, "limit") {
        None => DEFAULT_PAGE_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_DISTINCT_LIMIT).contains(n))
            .ok_or_else(|| {
                QueryError::new(
                    QueryErrorKind::Limit,
                    format!(
                        "a distinct page's limit must be an integer from 1 to {MAX_DISTINCT_LIMIT}"
                    ),
                )
            })?,
    };
    let filter = match &q_text {
        Some(q) => parse_list(&[("q".to_string(), q.clone())])?.filter,
        None => None,
    };
    let filter = rls::combine(filter, &ctx.access(Operation::Read)?);
    let after = match &cursor {
        Some(c) => Some(c.after(ctx.dialect())?),
        None => None,
    };
    let distinct = distinct_sql(
        ctx.entity,
        &path,
        filter.as_ref(),
        after.as_ref(),
        limit.saturating_add(1),
        ctx.dialect(),
    )?;
    let mut rows = ctx.shared.db().query(&distinct.sql, 2).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = match (has_more, rows.last().and_then(|r| r.get(1))) {
        (true, Some(key)) => Value::String(
            DistinctCursor {
                v: 1,
                q: q_text,
                distinct: field,
                after: cursor_value(key)?,
            }
            .encode()?,
        ),
        _ => Value::Null,
    };
    let items = rows
        .iter()
        .map(|row| {
            row.first()
                .and_then(|cell| decode_cell(distinct.decode, cell))
                .ok_or_else(|| ApiError::internal("a distinct value of an unexpected type"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ok(json!({ "items": items, "next_cursor": next_cursor, "has_more": has_more }))
}

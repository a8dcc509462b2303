//! `list(options)` / `filter(q, options)` with a `distinct` option of `@base44/sdk` 0.8.50
//! (`GET …/entities/{Name}/v2/list?distinct=<field>`): one page of the distinct values of one
//! field among the records a filter selects, in ascending order, as one parameterised statement
//! per dialect.
//!
//! The field resolves like the filter's (a column, or a JSON path bound as parameters); an
//! array value contributes each of its elements; null and missing values are left out. Values
//! sort as `sort` sorts them (typed columns in their type, text `COLLATE "C"`; JSON values by
//! type — numbers, strings, objects, arrays, booleans — then value), and the page resumes
//! after a key the previous page returned (the keyset, never an offset).

use serde_json::Value;

use super::aggregate::{Decode, json_key, kind};
use super::{Gen, Json, Root, Scalar, Sql, SqlValue, Target, ident, pg_text_fits};
use crate::base44::model::{Dialect, Entity};
use crate::base44::query::error::{QueryError, QueryErrorKind};
use crate::base44::query::{FieldPath, Filter};

/// The most values one distinct page returns (the SDK's documented maximum).
pub const MAX_DISTINCT_LIMIT: u32 = 1000;

/// The statement of one distinct page and how to read its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Distinct {
    /// The statement. Each row holds two columns: the value (decode it with `decode`) and
    /// its key, the cell to send back as [`distinct_sql`]'s `after` for the next page (text,
    /// or on SQLite a typed column's own value).
    pub sql: Sql,
    /// How the value column becomes JSON ([`super::decode_cell`]).
    pub decode: Decode,
}

fn bad_cursor() -> QueryError {
    QueryError::new(QueryErrorKind::BadCursor, "the cursor is not valid")
}

/// `SELECT <value>, <key> FROM (<the distinct values of path among the rows filter selects>)
/// WHERE <value after `after`> ORDER BY <value> LIMIT limit`. `after` is the key of the
/// previous page's last row (from the client's cursor: checked here, `bad-cursor` when it is
/// not a key of this field's type).
pub fn distinct_sql(
    entity: &Entity,
    path: &FieldPath,
    filter: Option<&Filter>,
    after: Option<&SqlValue>,
    limit: u32,
    dialect: Dialect,
) -> Result<Distinct, QueryError> {
    let mut params = Vec::new();
    let mut g = Gen::new(entity, dialect, &mut params);
    let pg = g.pg();
    let where_ = match filter {
        Some(f) => g.filter(&Root::Entity, f),
        None => "TRUE".to_string(),
    };
    let table = ident(&entity.table);
    let v = "\"_ferry_v\"";
    let (text, decode) = match g.resolve(&Root::Entity, path) {
        Target::Typed { expr, ty } => {
            let pg_ty = match ty {
                Scalar::Text => "text",
                Scalar::Date => "date",
                Scalar::DateTime => "timestamptz",
                Scalar::Number => "float8",
                Scalar::Integer => "int8",
                Scalar::Boolean => "bool",
            };
            let text_pg = pg && ty == Scalar::Text;
            let sorted = if text_pg {
                format!("{v} COLLATE \"C\"")
            } else {
                v.to_string()
            };
            let mut condition = format!("{v} IS NOT NULL");
            if let Some(after) = after {
                let ph = match (dialect, after) {
                    (Dialect::Postgres, a) if pg_text_fits(pg_ty, a) => {
                        let ph = g.bind(a.clone());
                        if text_pg {
                            format!("{ph} COLLATE \"C\"")
                        } else {
                            format!("{ph}::{pg_ty}")
                        }
                    }
                    (
                        Dialect::Sqlite,
                        a @ (SqlValue::Text(_) | SqlValue::Int(_) | SqlValue::Float(_)),
                    ) => g.bind(a.clone()),
                    _ => return Err(bad_cursor()),
                };
                condition.push_str(&format!(" AND {sorted} > {ph}"));
            }
            let key = if pg {
                format!("({v})::text")
            } else {
                v.to_string()
            };
            let limit = g.bind(SqlValue::Int(i64::from(limit)));
            (
                format!(
                    "SELECT {v}, {key} AS \"_ferry_k\" FROM (SELECT DISTINCT {expr} AS {v} FROM {table} WHERE {where_}) AS \"_ferry_d\" WHERE {condition} ORDER BY {sorted} ASC LIMIT {limit}"
                ),
                Decode::Typed(kind(ty)),
            )
        }
        Target::Json(json) => {
            let after = match after {
                None => None,
                Some(SqlValue::Text(key)) if is_json_key(key) => {
                    let ph = g.bind(SqlValue::Text(key.clone()));
                    Some(if pg { format!("({ph})::jsonb") } else { ph })
                }
                Some(_) => return Err(bad_cursor()),
            };
            let r = "\"_ferry_r\"";
            let x = "\"_ferry_x\"";
            let e = "\"_ferry_e\"";
            let (values, key, condition) = match &json {
                Json::Pg(doc) => (
                    format!(
                        "WITH {r}({x}) AS (SELECT {doc} FROM {table} WHERE {where_}), \"_ferry_d\"({v}) AS (SELECT {x} FROM {r} WHERE jsonb_typeof({x}) NOT IN ('array', 'null') UNION SELECT {e}.{v} FROM {r} CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({r}.{x}) = 'array' THEN {r}.{x} END) AS {e}({v}) WHERE jsonb_typeof({e}.{v}) <> 'null')"
                    ),
                    format!("({v})::text"),
                    "TRUE".to_string(),
                ),
                Json::Lite { .. } => {
                    let elem = json_key(&Json::Lite {
                        value: format!("{e}.value"),
                        ty: format!("{e}.type"),
                        arr: String::new(),
                    });
                    (
                        format!(
                            "WITH {r}({x}) AS (SELECT {} FROM {table} WHERE {where_}), \"_ferry_d\"({v}) AS (SELECT {x} FROM {r} WHERE json_type({x}) NOT IN ('array', 'null') UNION SELECT {elem} FROM {r}, json_each({r}.{x}) AS {e} WHERE json_type({r}.{x}) = 'array')",
                            json_key(&json)
                        ),
                        v.to_string(),
                        format!("{v} IS NOT NULL"),
                    )
                }
            };
            let terms = |value: &str| json_terms(value, pg);
            let mut condition = condition;
            if let Some(after) = &after {
                condition = format!(
                    "{condition} AND ({}) > ({})",
                    terms(v).join(", "),
                    terms(after).join(", ")
                );
            }
            let order: Vec<String> = terms(v).iter().map(|t| format!("{t} ASC")).collect();
            let limit = g.bind(SqlValue::Int(i64::from(limit)));
            (
                format!(
                    "{values} SELECT {v}, {key} AS \"_ferry_k\" FROM \"_ferry_d\" WHERE {condition} ORDER BY {} LIMIT {limit}",
                    order.join(", ")
                ),
                Decode::Json,
            )
        }
    };
    g.check()?;
    Ok(Distinct {
        sql: Sql { text, params },
        decode,
    })
}

/// The ordering terms of a non-null JSON value (`jsonb` on PostgreSQL, JSON text on SQLite),
/// none of them NULL so that row comparisons decide: the type's rank, then its number, string
/// and boolean (a neutral value for other types), then the value itself as the last tie-break
/// (`jsonb` order on PostgreSQL, its JSON text on SQLite).
fn json_terms(x: &str, pg: bool) -> Vec<String> {
    if pg {
        vec![
            format!(
                "(CASE jsonb_typeof({x}) WHEN 'number' THEN 1 WHEN 'string' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 4 WHEN 'boolean' THEN 5 ELSE 0 END)"
            ),
            format!("COALESCE(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END, 0)"),
            format!(
                "(COALESCE(CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END, '') COLLATE \"C\")"
            ),
            format!(
                "COALESCE(CASE WHEN jsonb_typeof({x}) = 'boolean' THEN ({x})::boolean END, FALSE)"
            ),
            x.to_string(),
        ]
    } else {
        vec![
            format!(
                "(CASE json_type({x}) WHEN 'integer' THEN 1 WHEN 'real' THEN 1 WHEN 'text' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 4 WHEN 'true' THEN 5 WHEN 'false' THEN 5 ELSE 0 END)"
            ),
            format!(
                "COALESCE(CASE WHEN json_type({x}) IN ('integer', 'real') THEN json_extract({x}, '$') END, 0)"
            ),
            format!(
                "COALESCE(CASE WHEN json_type({x}) = 'text' THEN json_extract({x}, '$') END, '')"
            ),
            format!(
                "COALESCE(CASE WHEN json_type({x}) IN ('true', 'false') THEN json_extract({x}, '$') END, 0)"
            ),
            x.to_string(),
        ]
    }
}

/// Whether a cursor's key is JSON both databases read without an error: valid JSON, not
/// null, and no NUL character in a string or key (PostgreSQL's `jsonb` refuses them).
fn is_json_key(text: &str) -> bool {
    fn no_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => !s.contains('\0'),
            Value::Array(items) => items.iter().all(no_nul),
            Value::Object(map) => map.iter().all(|(k, v)| !k.contains('\0') && no_nul(v)),
            _ => true,
        }
    }
    !text.contains('\0')
        && serde_json::from_str::<Value>(text).is_ok_and(|v| !v.is_null() && no_nul(&v))
}

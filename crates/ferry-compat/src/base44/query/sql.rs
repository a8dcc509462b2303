//! From a validated [`Filter`] / [`ListQuery`] to parameterised SQL for one entity table.
//!
//! Values are always bound parameters (`$n::type` on PostgreSQL, `?n` on SQLite); identifiers
//! come only from the [`Entity`] (quoted), JSON paths are bound parameters. JSON values are read
//! through their JSON type first, so casts only ever see values of the right type.
//!
//! This file holds the statements' types ([`Sql`], [`SqlValue`]), the list and count entry
//! points and the SQL text helpers; the generator (`Gen`, its types and field resolution) is in
//! `sql/generator.rs`, JSON paths in `sql/json_path.rs`, filters and conditions in
//! `sql/filter.rs`, predicates on JSON values in `sql/json_match.rs`, sort terms in
//! `sql/order.rs`, keyset pages in `sql/page.rs`, then `aggregate` and `distinct`.

use serde_json::Value;

mod aggregate;
mod distinct;
mod filter;
mod generator;
mod json_match;
mod json_path;
mod order;
mod page;

pub use aggregate::{
    Aggregate, AggregateSpec, BucketUnit, Decode, MAX_AGGREGATE_ROWS, MAX_GROUP_BY,
    MAX_MEASURE_FIELDS, Measure, ScalarKind, aggregate_sql, decode_cell, parse_aggregate,
};
pub use distinct::{Distinct, MAX_DISTINCT_LIMIT, distinct_sql};
pub use page::{After, MAX_PAGE_TERMS, page_sql};

// The generator's parts, also used by `aggregate` and `distinct`.
pub(crate) use generator::Scalar;
use generator::{Gen, Root, Target};
use json_path::Json;
use page::pg_text_fits;

use super::error::{QueryError, QueryErrorKind};
use super::{Filter, ListQuery};
use crate::base44::model::{Dialect, Entity};

/// The most parameters one statement may bind (SQLite's default `SQLITE_MAX_VARIABLE_NUMBER`;
/// PostgreSQL allows 65535).
pub const MAX_PARAMS: usize = 32_766;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean (`bool` on PostgreSQL, integer 0/1 on SQLite).
    Bool(bool),
    /// A 64-bit integer (`int8` / INTEGER).
    Int(i64),
    /// A double (`float8` / REAL).
    Float(f64),
    /// Text (`text` / TEXT).
    Text(String),
    /// A JSON document (`jsonb` on PostgreSQL, its text on SQLite).
    Json(Value),
}

impl SqlValue {
    /// The PostgreSQL type its placeholder is cast to (`$n::<type>`), which is also the type a
    /// client library must bind it as.
    pub fn postgres_type(&self) -> &'static str {
        match self {
            SqlValue::Null | SqlValue::Text(_) => "text",
            SqlValue::Bool(_) => "bool",
            SqlValue::Int(_) => "int8",
            SqlValue::Float(_) => "float8",
            SqlValue::Json(_) => "jsonb",
        }
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V, ValueRef};
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(V::Null),
            SqlValue::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            SqlValue::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            SqlValue::Float(f) => ToSqlOutput::Owned(V::Real(*f)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Json(v) => ToSqlOutput::Owned(V::Text(v.to_string())),
        })
    }
}

/// A statement and its parameters, in placeholder order (`$1`/`?1` is `params[0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// The SQL text.
    pub text: String,
    /// The values to bind.
    pub params: Vec<SqlValue>,
}

/// Translates `filter` into a boolean SQL expression over `entity`'s table (unqualified column
/// names), appending its parameters to `params` (placeholders are numbered after the ones
/// already there). Fails with `too-large` past [`MAX_PARAMS`] parameters.
pub fn where_sql(
    entity: &Entity,
    filter: &Filter,
    dialect: Dialect,
    params: &mut Vec<SqlValue>,
) -> Result<String, QueryError> {
    let mut g = Gen::new(entity, dialect, params);
    let sql = g.filter(&Root::Entity, filter);
    g.check()?;
    Ok(sql)
}

/// `SELECT <every column> FROM "table" WHERE … ORDER BY <sort keys>, "id" LIMIT … OFFSET …`.
/// The columns are the built-ins ([`BUILTIN_FIELDS`]), the declared fields in order, then
/// [`EXTRA_COLUMN`]; apply [`super::project`] to the records for `fields`.
///
/// [`BUILTIN_FIELDS`]: crate::base44::model::BUILTIN_FIELDS
/// [`EXTRA_COLUMN`]: crate::base44::model::EXTRA_COLUMN
pub fn select_sql(entity: &Entity, query: &ListQuery, dialect: Dialect) -> Result<Sql, QueryError> {
    let mut params = Vec::new();
    let mut g = Gen::new(entity, dialect, &mut params);
    let filter = match &query.filter {
        Some(f) => g.filter(&Root::Entity, f),
        None => "TRUE".to_string(),
    };
    let mut order = Vec::new();
    for key in &query.sort {
        g.order_terms(key, &mut order);
    }
    order.push(match dialect {
        Dialect::Postgres => "\"id\" COLLATE \"C\" ASC".to_string(),
        Dialect::Sqlite => "\"id\" ASC".to_string(),
    });
    let skip = i64::try_from(query.skip)
        .map_err(|_| QueryError::new(QueryErrorKind::BadSkip, "skip is too large"))?;
    let limit = g.bind(SqlValue::Int(i64::from(query.limit)));
    let offset = g.bind(SqlValue::Int(skip));
    g.check()?;
    let text = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        columns(entity).join(", "),
        ident(&entity.table),
        order.join(", "),
    );
    Ok(Sql { text, params })
}

/// `SELECT COUNT(*) FROM "table" [WHERE …]` (a 64-bit integer on both dialects).
pub fn count_sql(
    entity: &Entity,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> Result<Sql, QueryError> {
    let mut params = Vec::new();
    let table = ident(&entity.table);
    let text = match filter {
        Some(f) => {
            let w = where_sql(entity, f, dialect, &mut params)?;
            format!("SELECT COUNT(*) FROM {table} WHERE {w}")
        }
        None => format!("SELECT COUNT(*) FROM {table}"),
    };
    Ok(Sql { text, params })
}

/// Every column of the entity's table, quoted, in the order [`select_sql`] returns them
/// (the record layer's public columns, so its decoder reads these rows too).
fn columns(entity: &Entity) -> Vec<String> {
    crate::base44::record::public_columns(entity)
        .iter()
        .map(|c| ident(c))
        .collect()
}

/// A double-quoted identifier (names come from the model, never from the client).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `(NOT COALESCE(x, FALSE))`: true when `x` is false or unknown.
fn not(sql: &str) -> String {
    format!("(NOT COALESCE({sql}, FALSE))")
}

/// Joins terms with `op` as a balanced tree of parentheses, so long lists do not nest deeper
/// than SQLite's expression-depth limit; `empty` when there are none.
fn join(mut terms: Vec<String>, op: &str, empty: &str) -> String {
    match terms.len() {
        0 => empty.to_string(),
        1 => terms.remove(0),
        n => {
            let right = terms.split_off(n / 2);
            format!(
                "({} {op} {})",
                join(terms, op, empty),
                join(right, op, empty)
            )
        }
    }
}

/// A JSON number as a parameter: an integer when it is one, else a double.
fn number(n: &serde_json::Number) -> Option<SqlValue> {
    n.as_i64()
        .map(SqlValue::Int)
        .or_else(|| n.as_f64().map(SqlValue::Float))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> Entity {
        Entity {
            name: "T".into(),
            table: "t".into(),
            fields: Vec::new(),
            rls: None,
        }
    }

    #[test]
    fn constant_filters_are_constant_sql_on_both_dialects() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let mut params = Vec::new();
            let e = entity();
            assert_eq!(
                where_sql(&e, &Filter::Always, dialect, &mut params).ok(),
                Some("(1=1)".to_string())
            );
            assert_eq!(
                where_sql(&e, &Filter::Never, dialect, &mut params).ok(),
                Some("(1=0)".to_string())
            );
            let nested = Filter::And(vec![Filter::Always, Filter::Nor(vec![Filter::Never])]);
            assert_eq!(
                where_sql(&e, &nested, dialect, &mut params).ok(),
                Some("((1=1) AND (NOT COALESCE((1=0), FALSE)))".to_string())
            );
            assert!(params.is_empty());
        }
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('a')")
            .expect("table");
        for (filter, want) in [(Filter::Always, 1), (Filter::Never, 0)] {
            let sql = count_sql(&entity(), Some(&filter), Dialect::Sqlite).expect("count");
            let n: i64 = conn.query_row(&sql.text, [], |r| r.get(0)).expect("runs");
            assert_eq!(n, want);
        }
    }
}

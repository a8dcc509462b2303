//! Keyset pages ([`page_sql`]): resuming after the last row's ordering values and id, and
//! checking the values a cursor brings back.

use super::generator::{Gen, Root};
use super::order::Term;
use super::{Sql, SqlValue, columns, ident, join};
use crate::base44::model::{Dialect, Entity};
use crate::base44::query::ListQuery;
use crate::base44::query::error::{QueryError, QueryErrorKind};

/// The largest number of ordering terms a page walk has (4 per JSON sort key).
pub const MAX_PAGE_TERMS: usize = 4 * crate::base44::query::MAX_SORT_KEYS;

/// Where a page walk resumes: the last row's ordering values (as [`page_sql`] returned them)
/// and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// One value per ordering term: on PostgreSQL its text (or NULL), on SQLite the value.
    pub values: Vec<SqlValue>,
    /// The last row's id.
    pub id: String,
}

/// A keyset page: `SELECT <every column>, <ordering values> FROM "table" WHERE <filter> [AND
/// <after the last row>] ORDER BY <sort keys>, "id" LIMIT <limit>` (no `skip`). Each row holds
/// the public columns, then the returned number of ordering values (on PostgreSQL as text);
/// pass the last row's values back as [`After::values`] for the next page. A wrong number of
/// values is `bad-cursor`.
pub fn page_sql(
    entity: &Entity,
    query: &ListQuery,
    after: Option<&After>,
    dialect: Dialect,
) -> Result<(Sql, usize), QueryError> {
    let mut params = Vec::new();
    let mut g = Gen::new(entity, dialect, &mut params);
    let filter = match &query.filter {
        Some(f) => g.filter(&Root::Entity, f),
        None => "TRUE".to_string(),
    };
    let mut terms = Vec::new();
    for key in &query.sort {
        terms.extend(g.sort_terms(key));
    }
    let n = terms.len();
    let mut order: Vec<String> = terms.iter().map(Term::order).collect();
    order.push(match dialect {
        Dialect::Postgres => "\"id\" COLLATE \"C\" ASC".to_string(),
        Dialect::Sqlite => "\"id\" ASC".to_string(),
    });
    let mut condition = filter;
    if let Some(after) = after {
        if after.values.len() != n {
            return Err(QueryError::new(
                QueryErrorKind::BadCursor,
                "the cursor does not match the sort",
            ));
        }
        let mut eqs: Vec<String> = Vec::new();
        let mut alternatives = Vec::new();
        for (term, value) in terms.iter().zip(&after.values) {
            let e = term.sorted();
            let ph = match value {
                SqlValue::Null => None,
                v if g.pg() => {
                    if !pg_text_fits(term.pg_ty, v) {
                        return Err(QueryError::new(
                            QueryErrorKind::BadCursor,
                            "the cursor holds a malformed value",
                        ));
                    }
                    let ph = g.bind(v.clone());
                    Some(if term.collate || term.pg_ty == "text" {
                        format!("{ph} COLLATE \"C\"")
                    } else {
                        format!("{ph}::{}", term.pg_ty)
                    })
                }
                v => Some(g.bind(v.clone())),
            };
            let later = match (&ph, term.desc) {
                (None, false) => format!("({e}) IS NOT NULL"),
                (None, true) => "FALSE".to_string(),
                (Some(ph), false) => format!("({e}) > {ph}"),
                (Some(ph), true) => format!("(({e}) < {ph} OR ({e}) IS NULL)"),
            };
            let mut parts = eqs.clone();
            parts.push(later);
            alternatives.push(format!("({})", parts.join(" AND ")));
            eqs.push(match &ph {
                None => format!("({e}) IS NULL"),
                Some(ph) => format!("({e}) = {ph}"),
            });
        }
        let id = g.bind(SqlValue::Text(after.id.clone()));
        let id_later = match dialect {
            Dialect::Postgres => format!("\"id\" COLLATE \"C\" > {id} COLLATE \"C\""),
            Dialect::Sqlite => format!("\"id\" > {id}"),
        };
        eqs.push(id_later);
        alternatives.push(format!("({})", eqs.join(" AND ")));
        condition = format!("({condition}) AND ({})", join(alternatives, "OR", "FALSE"));
    }
    let limit = g.bind(SqlValue::Int(i64::from(query.limit)));
    g.check()?;
    let mut select = columns(entity);
    // Aliased, so an `ORDER BY "column"` never names two output columns.
    for (i, term) in terms.iter().enumerate() {
        select.push(if g.pg() {
            format!("({})::text AS \"_ferry_k{i}\"", term.expr)
        } else {
            format!("{} AS \"_ferry_k{i}\"", term.expr)
        });
    }
    let text = format!(
        "SELECT {} FROM {} WHERE {condition} ORDER BY {} LIMIT {limit}",
        select.join(", "),
        ident(&entity.table),
        order.join(", "),
    );
    Ok((Sql { text, params }, n))
}

/// Whether `value` is text PostgreSQL reads as `pg_ty` without an error (a cursor's values
/// come back from the client).
pub(super) fn pg_text_fits(pg_ty: &str, value: &SqlValue) -> bool {
    let SqlValue::Text(s) = value else {
        return false;
    };
    if s.contains('\0') {
        return false;
    }
    match pg_ty {
        "text" => true,
        "int4" => s.parse::<i32>().is_ok(),
        "int8" => s.parse::<i64>().is_ok(),
        "float8" => {
            s.parse::<f64>().is_ok()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || b".-+eE".contains(&b) || b.is_ascii_alphabetic())
                && s.len() <= 64
        }
        "numeric" => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
            s.len() <= 4096
                && !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        "bool" => s == "true" || s == "false",
        "date" => crate::base44::time::is_date(s),
        "timestamptz" => crate::base44::time::parse_datetime(s).is_some(),
        _ => false,
    }
}

//! The Mongo-style queries `@base44/sdk` sends (`GET …/entities/{Name}?q=…&sort=…&limit=…`),
//! parsed into a validated [`Filter`] and translated into parameterised SQL for PostgreSQL or
//! SQLite over the tables described by [`super::model`].
//!
//! # Safety
//! Nothing the client sends is ever written into SQL text: field names resolve to the entity's
//! known columns or become bound parameters (JSON paths into JSON columns), and every value is a
//! bound parameter. Generated SQL never casts client data in a way the database could refuse,
//! and guards every JSON cast by the value's JSON type, so a query cannot fail at run time
//! because of the data it meets. Parsing bounds depth, size and regex cost ([`MAX_DEPTH`],
//! [`MAX_NODES`], [`MAX_IN`], [`MAX_VALUES`], [`MAX_REGEX_LEN`]).
//!
//! # Semantics (MongoDB's, where they matter)
//! - `{"f": v}` is `{"f": {"$eq": v}}`. On a JSON value (an Array/Object field, a path into
//!   one, or an undeclared property in `extra`) every positive operator also matches when the
//!   value is an array with a matching element; `$ne`, `$nin` and `$not` are the negations of
//!   the positive forms, so they also match missing fields and NULL.
//! - `{"f": null}` (and `$gte`/`$lte` null) matches NULL, JSON null and missing; `$exists: true`
//!   matches any present value (on a JSON path, JSON null counts as present; a typed column
//!   cannot tell null from missing).
//! - Values compare within their type, as MongoDB's type brackets: a number only with numbers
//!   (numerically, `1 == 1.0`), a string only with strings (bytewise, `COLLATE "C"` on
//!   PostgreSQL), a boolean only with booleans. A value of another type never matches (and so
//!   satisfies `$ne`). Comparing with an array or object is `$eq`/`$ne`/`$in`/`$nin` only.
//! - DateTime columns (`created_date`, `updated_date`, declared date-times) compare with an ISO
//!   8601 string as points in time (no offset means UTC; fractions truncated to milliseconds);
//!   a string that is not a date-time never matches. Date columns compare with `YYYY-MM-DD` as
//!   dates and with any other string as the `YYYY-MM-DD` text (what MongoDB's stored strings
//!   would do). Strings in JSON compare as strings.
//! - Dotted paths descend into objects; an all-digit segment also indexes arrays (on SQLite
//!   only arrays: an object key made of digits cannot be addressed there). Paths do not fan
//!   out over array elements (`items.name` does not look inside each element of `items`; use
//!   `$elemMatch`).
//! - `$regex` (with `$options` from `imsx`) matches strings only, in a portable subset of
//!   syntax (see [`Pattern`]); SQLite needs [`register_sqlite_functions`].
//! - Sort puts null and missing first ascending (last descending); JSON values sort by type
//!   (null, numbers, strings, objects, arrays, booleans) then value; `id` breaks ties.

mod error;
mod parse;
mod pattern;
mod project;
mod sql;

use serde_json::Value;

pub use error::{QueryError, QueryErrorKind};
pub use parse::{parse_filter, parse_list};
pub use pattern::{Pattern, REGEX_SIZE_LIMIT, register_sqlite_functions};
pub use project::project;
pub use sql::{
    After, Aggregate, AggregateSpec, BucketUnit, Decode, Distinct, MAX_AGGREGATE_ROWS,
    MAX_DISTINCT_LIMIT, MAX_GROUP_BY, MAX_MEASURE_FIELDS, MAX_PAGE_TERMS, MAX_PARAMS, Measure,
    ScalarKind, Sql, SqlValue, aggregate_sql, count_sql, decode_cell, distinct_sql, page_sql,
    parse_aggregate, select_sql, where_sql,
};

/// The type class of a typed column (the realtime matcher compares values by it too).
pub(crate) use sql::Scalar;

/// How deep a filter may nest: each object, operator and array level counts, including the
/// levels inside operand values.
pub const MAX_DEPTH: usize = 16;
/// How many filter nodes (field conditions, operators, `$and`/`$or`/`$nor` branches) a filter
/// may have.
pub const MAX_NODES: usize = 1000;
/// How many values one `$in`, `$nin` or `$all` may list.
pub const MAX_IN: usize = 1000;
/// How many JSON values (counting every nested value) all operands together may hold.
pub const MAX_VALUES: usize = 10_000;
/// The longest `$regex` pattern, in bytes.
pub const MAX_REGEX_LEN: usize = 512;
/// The longest field-name segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 256;
/// How many dot-separated segments a field name may have.
pub const MAX_PATH_DEPTH: usize = 16;
/// `limit` when none is given: the SDK documents 5000, which is also the cap.
pub const DEFAULT_LIMIT: u32 = 5000;
/// The largest `limit` accepted; above it is a `limit` error.
pub const MAX_LIMIT: u32 = 5000;
/// How many keys `sort` may list.
pub const MAX_SORT_KEYS: usize = 8;
/// How many names `fields` may list.
pub const MAX_FIELDS: usize = 256;
/// The longest `q` accepted, in bytes.
pub const MAX_Q_LEN: usize = 1 << 20;

/// A validated field name: dot-separated segments, each non-empty, at most
/// [`MAX_SEGMENT_LEN`] bytes, without NUL, `"` or `\` (SQLite JSON paths cannot quote them),
/// not starting with `$`; at most
/// [`MAX_PATH_DEPTH`] segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// Validates a dotted field name (`bad-field` when it breaks a rule above).
    pub fn parse(name: &str) -> Result<FieldPath, QueryError> {
        parse::field_path(name)
    }

    /// The segments, first the top-level property.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// A parsed, validated filter (the `q` object).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// All must match (`$and`, or the keys of one object). Empty matches everything.
    And(Vec<Filter>),
    /// At least one must match (`$or`; never empty).
    Or(Vec<Filter>),
    /// None may match (`$nor`; never empty).
    Nor(Vec<Filter>),
    /// Conditions on one field, all of which must hold.
    Field(FieldPath, Vec<Cond>),
    /// Matches every record (`(1=1)`). Never produced by [`parse_filter`]; built by the RLS
    /// compiler ([`crate::base44::rls`]).
    Always,
    /// Matches no record (`(1=0)`). Never produced by [`parse_filter`]; built by the RLS
    /// compiler ([`crate::base44::rls`]) for a denied caller.
    Never,
}

/// One condition on a field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `$eq` (or a bare value).
    Eq(Value),
    /// `$ne`.
    Ne(Value),
    /// `$gt` (a scalar or null).
    Gt(Value),
    /// `$gte` (a scalar or null).
    Gte(Value),
    /// `$lt` (a scalar or null).
    Lt(Value),
    /// `$lte` (a scalar or null).
    Lte(Value),
    /// `$in`.
    In(Vec<Value>),
    /// `$nin`.
    Nin(Vec<Value>),
    /// `$exists`.
    Exists(bool),
    /// `$regex` with its `$options`.
    Regex(Pattern),
    /// `$not`: none of the conditions holds as a whole (their conjunction is false or unknown).
    Not(Vec<Cond>),
    /// `$all`: the value (an array) contains every listed value; empty never matches.
    All(Vec<Value>),
    /// `$size`: the value is an array of this length.
    Size(u64),
    /// `$elemMatch`: some element of the array value matches.
    ElemMatch(ElemMatch),
    /// `$mod: [divisor, remainder]` on numbers (truncated to integers first).
    Mod {
        /// Never zero.
        divisor: i64,
        /// The wanted remainder (sign follows the dividend, as in MongoDB).
        remainder: i64,
    },
}

/// The operand of `$elemMatch`.
#[derive(Debug, Clone, PartialEq)]
pub enum ElemMatch {
    /// Operators applied to each element (`{"$gte": 80, "$lt": 85}`).
    Conds(Vec<Cond>),
    /// A filter applied to each element as a document (`{"name": "x", "qty": {"$gt": 1}}`).
    Filter(Box<Filter>),
}

/// One `sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The field sorted by.
    pub path: FieldPath,
    /// Descending (`-field`).
    pub desc: bool,
}

/// A parsed `list`/`filter` request: the HTTP query string of `GET …/entities/{Name}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// `q`, when given.
    pub filter: Option<Filter>,
    /// `sort` keys in order (`id` is always the final tie-break, not listed here).
    pub sort: Vec<SortKey>,
    /// `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    pub limit: u32,
    /// `skip` (default 0).
    pub skip: u64,
    /// `fields`: the projection for [`project`], validated field names.
    pub fields: Option<Vec<String>>,
}

/// The order of a list without `sort`: newest first (`-created_date`), as Base44 answers.
pub fn default_sort() -> Vec<SortKey> {
    vec![SortKey {
        path: FieldPath {
            segments: vec!["created_date".to_owned()],
        },
        desc: true,
    }]
}

impl Default for ListQuery {
    fn default() -> ListQuery {
        ListQuery {
            filter: None,
            sort: default_sort(),
            limit: DEFAULT_LIMIT,
            skip: 0,
            fields: None,
        }
    }
}

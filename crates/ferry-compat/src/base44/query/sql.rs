//! From a validated [`Filter`] / [`ListQuery`] to parameterised SQL for one entity table.
//!
//! Values are always bound parameters (`$n::type` on PostgreSQL, `?n` on SQLite); identifiers
//! come only from the [`Entity`] (quoted), JSON paths are bound parameters. JSON values are read
//! through their JSON type first, so casts only ever see values of the right type.

use serde_json::Value;

mod aggregate;
mod distinct;

pub use aggregate::{
    Aggregate, AggregateSpec, BucketUnit, Decode, MAX_AGGREGATE_ROWS, MAX_GROUP_BY,
    MAX_MEASURE_FIELDS, Measure, ScalarKind, aggregate_sql, decode_cell, parse_aggregate,
};
pub use distinct::{Distinct, MAX_DISTINCT_LIMIT, distinct_sql};

use super::error::{QueryError, QueryErrorKind};
use super::pattern::Pattern;
use super::{Cond, ElemMatch, FieldPath, Filter, ListQuery, SortKey};
use crate::base44::model::{BUILTIN_FIELDS, Dialect, EXTRA_COLUMN, Entity, FieldType};

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

/// The SQL type class of a typed (non-JSON) column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Text,
    Date,
    DateTime,
    Number,
    Integer,
    Boolean,
}

/// A JSON value in SQL: on PostgreSQL a `jsonb` expression (SQL NULL when missing); on SQLite
/// its SQL value (`json_extract` form), its `json_type` (NULL when missing) and the arguments
/// of `json_each`/`json_array_length` over it.
#[derive(Debug, Clone)]
enum Json {
    Pg(String),
    Lite {
        value: String,
        ty: String,
        arr: String,
    },
}

/// What a field path resolves to.
#[derive(Debug, Clone)]
enum Target {
    Typed { expr: String, ty: Scalar },
    Json(Json),
}

/// What field paths are relative to: the record, or an array element inside `$elemMatch`.
enum Root {
    Entity,
    Elem(Json),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Num,
    Bool,
    Doc,
}

/// A predicate on one JSON value, its parameters already bound.
#[derive(Debug, Clone)]
enum Prep {
    False,
    /// Null or missing.
    Null,
    Cmp {
        op: Op,
        kind: Kind,
        ph: String,
    },
    Regex(String),
    Mod(String, String),
}

struct Gen<'a> {
    entity: &'a Entity,
    dialect: Dialect,
    params: &'a mut Vec<SqlValue>,
    aliases: usize,
}

impl<'a> Gen<'a> {
    fn new(entity: &'a Entity, dialect: Dialect, params: &'a mut Vec<SqlValue>) -> Gen<'a> {
        Gen {
            entity,
            dialect,
            params,
            aliases: 0,
        }
    }

    fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    fn check(&self) -> Result<(), QueryError> {
        if self.params.len() > MAX_PARAMS {
            return Err(QueryError::new(
                QueryErrorKind::TooLarge,
                format!("the query needs more than {MAX_PARAMS} parameters"),
            ));
        }
        Ok(())
    }

    /// Binds a value; returns its placeholder (typed on PostgreSQL).
    fn bind(&mut self, value: SqlValue) -> String {
        let ty = value.postgres_type();
        self.params.push(value);
        let n = self.params.len();
        match self.dialect {
            Dialect::Postgres => format!("${n}::{ty}"),
            Dialect::Sqlite => format!("?{n}"),
        }
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("e{}", self.aliases)
    }

    // ---- field resolution -------------------------------------------------------------

    fn resolve(&mut self, root: &Root, path: &FieldPath) -> Target {
        let segments = path.segments();
        let Some((first, rest)) = segments.split_first() else {
            return self.missing();
        };
        let entity = self.entity;
        match root {
            Root::Elem(json) => Target::Json(self.descend(json, segments)),
            Root::Entity if BUILTIN_FIELDS.contains(&first.as_str()) => {
                if !rest.is_empty() {
                    return self.missing();
                }
                let ty = match first.as_str() {
                    "created_date" | "updated_date" => Scalar::DateTime,
                    _ => Scalar::Text,
                };
                Target::Typed {
                    expr: ident(first),
                    ty,
                }
            }
            Root::Entity => match entity.field(first) {
                Some(field) if field.ty.is_json() => {
                    Target::Json(self.json_column(&ident(&field.column), rest))
                }
                Some(_) if !rest.is_empty() => self.missing(),
                Some(field) => Target::Typed {
                    expr: ident(&field.column),
                    ty: match field.ty {
                        FieldType::String | FieldType::Enum(_) => Scalar::Text,
                        FieldType::Date => Scalar::Date,
                        FieldType::DateTime => Scalar::DateTime,
                        FieldType::Number => Scalar::Number,
                        FieldType::Integer => Scalar::Integer,
                        FieldType::Boolean | FieldType::Array | FieldType::Object => {
                            Scalar::Boolean
                        }
                    },
                },
                None => Target::Json(self.json_column(&ident(EXTRA_COLUMN), segments)),
            },
        }
    }

    /// A path under a scalar field, which never exists.
    fn missing(&self) -> Target {
        Target::Json(match self.dialect {
            Dialect::Postgres => Json::Pg("NULL::jsonb".into()),
            Dialect::Sqlite => Json::Lite {
                value: "NULL".into(),
                ty: "NULL".into(),
                arr: "NULL".into(),
            },
        })
    }

    fn json_column(&mut self, column: &str, path: &[String]) -> Json {
        match self.dialect {
            Dialect::Postgres if path.is_empty() => Json::Pg(column.to_string()),
            Dialect::Postgres => Json::Pg(format!("({column} #> {})", self.pg_path(path))),
            Dialect::Sqlite => {
                let p = if path.is_empty() {
                    "'$'".to_string()
                } else {
                    self.bind(SqlValue::Text(lite_path(path)))
                };
                lite_at(column, &p)
            }
        }
    }

    fn descend(&mut self, json: &Json, path: &[String]) -> Json {
        if path.is_empty() {
            return json.clone();
        }
        match json {
            Json::Pg(x) => Json::Pg(format!("({x} #> {})", self.pg_path(path))),
            Json::Lite { value, ty, .. } => {
                let doc = format!("(CASE WHEN {ty} IN ('object', 'array') THEN {value} END)");
                let p = self.bind(SqlValue::Text(lite_path(path)));
                lite_at(&doc, &p)
            }
        }
    }

    fn pg_path(&mut self, path: &[String]) -> String {
        let items: Vec<String> = path
            .iter()
            .map(|s| self.bind(SqlValue::Text(s.clone())))
            .collect();
        format!("ARRAY[{}]", items.join(", "))
    }

    // ---- filters ----------------------------------------------------------------------

    fn filter(&mut self, root: &Root, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) => {
                let terms = parts.iter().map(|f| self.filter(root, f)).collect();
                join(terms, "AND", "TRUE")
            }
            Filter::Or(parts) => {
                let terms = parts.iter().map(|f| self.filter(root, f)).collect();
                join(terms, "OR", "FALSE")
            }
            Filter::Nor(parts) => {
                let terms = parts.iter().map(|f| self.filter(root, f)).collect();
                not(&join(terms, "OR", "FALSE"))
            }
            Filter::Field(path, conds) => {
                let target = self.resolve(root, path);
                let terms = conds.iter().map(|c| self.cond(&target, c)).collect();
                join(terms, "AND", "TRUE")
            }
            Filter::Always => "(1=1)".into(),
            Filter::Never => "(1=0)".into(),
        }
    }

    fn cond(&mut self, t: &Target, cond: &Cond) -> String {
        match cond {
            Cond::Eq(v) => self.matches(t, &[(Op::Eq, v)]),
            Cond::Ne(v) => not(&self.matches(t, &[(Op::Eq, v)])),
            Cond::Gt(v) => self.matches(t, &[(Op::Gt, v)]),
            Cond::Gte(v) => self.matches(t, &[(Op::Gte, v)]),
            Cond::Lt(v) => self.matches(t, &[(Op::Lt, v)]),
            Cond::Lte(v) => self.matches(t, &[(Op::Lte, v)]),
            Cond::In(vs) => {
                let ops: Vec<(Op, &Value)> = vs.iter().map(|v| (Op::Eq, v)).collect();
                self.matches(t, &ops)
            }
            Cond::Nin(vs) => {
                let ops: Vec<(Op, &Value)> = vs.iter().map(|v| (Op::Eq, v)).collect();
                not(&self.matches(t, &ops))
            }
            Cond::All(vs) => {
                let terms = vs.iter().map(|v| self.matches(t, &[(Op::Eq, v)])).collect();
                join(terms, "AND", "FALSE")
            }
            Cond::Exists(yes) => {
                let present = match t {
                    Target::Typed { expr, .. } => format!("({expr} IS NOT NULL)"),
                    Target::Json(Json::Pg(x)) => format!("({x} IS NOT NULL)"),
                    Target::Json(Json::Lite { ty, .. }) => format!("({ty} IS NOT NULL)"),
                };
                if *yes { present } else { not(&present) }
            }
            Cond::Regex(p) => self.regex(t, p),
            Cond::Not(conds) => {
                let terms = conds.iter().map(|c| self.cond(t, c)).collect();
                not(&join(terms, "AND", "TRUE"))
            }
            Cond::Size(n) => match (t, i64::try_from(*n)) {
                (Target::Json(json), Ok(n)) => {
                    let ph = self.bind(SqlValue::Int(n));
                    match json {
                        Json::Pg(x) => format!(
                            "((CASE WHEN jsonb_typeof({x}) = 'array' THEN jsonb_array_length({x}) END) = {ph})"
                        ),
                        Json::Lite { ty, arr, .. } => format!(
                            "((CASE WHEN {ty} = 'array' THEN json_array_length({arr}) END) = {ph})"
                        ),
                    }
                }
                _ => "FALSE".into(),
            },
            Cond::ElemMatch(em) => match t {
                Target::Typed { .. } => "FALSE".into(),
                Target::Json(json) => self.elem_match(json, em),
            },
            Cond::Mod { divisor, remainder } => {
                let d = self.bind(SqlValue::Int(*divisor));
                let r = self.bind(SqlValue::Int(*remainder));
                match t {
                    Target::Typed {
                        expr,
                        ty: Scalar::Integer,
                    } => match self.dialect {
                        Dialect::Postgres => format!("(mod({expr}, {d}) = {r})"),
                        Dialect::Sqlite => format!("(({expr} % {d}) = {r})"),
                    },
                    Target::Typed {
                        expr,
                        ty: Scalar::Number,
                    } => match self.dialect {
                        Dialect::Postgres => format!("(mod(trunc({expr})::numeric, {d}) = {r})"),
                        Dialect::Sqlite => format!("((CAST({expr} AS INTEGER) % {d}) = {r})"),
                    },
                    Target::Typed { .. } => "FALSE".into(),
                    Target::Json(json) => self.any(json, &[Prep::Mod(d, r)]),
                }
            }
        }
    }

    /// The positive match of a value against `ops` (OR-ed), with array-element semantics on
    /// JSON targets.
    fn matches(&mut self, t: &Target, ops: &[(Op, &Value)]) -> String {
        match t {
            Target::Typed { expr, ty } => {
                let terms: Vec<String> = ops
                    .iter()
                    .map(|(op, v)| self.typed(expr, *ty, *op, v))
                    .filter(|s| s != "FALSE")
                    .collect();
                join(terms, "OR", "FALSE")
            }
            Target::Json(json) => {
                let preps: Vec<Prep> = ops.iter().map(|(op, v)| self.prep(*op, v)).collect();
                self.any(json, &preps)
            }
        }
    }

    /// A comparison on a typed column; `FALSE` when the value's type cannot match.
    fn typed(&mut self, expr: &str, ty: Scalar, op: Op, v: &Value) -> String {
        let o = op.sql();
        let pg = self.pg();
        match v {
            Value::Null => match op {
                Op::Eq | Op::Gte | Op::Lte => format!("({expr} IS NULL)"),
                Op::Gt | Op::Lt => "FALSE".into(),
            },
            Value::String(s) => match ty {
                Scalar::Text => {
                    let ph = self.bind(SqlValue::Text(s.clone()));
                    if pg && op != Op::Eq {
                        format!("({expr} COLLATE \"C\" {o} {ph})")
                    } else {
                        format!("({expr} {o} {ph})")
                    }
                }
                Scalar::DateTime => match crate::base44::time::normalize_datetime(s) {
                    Some(ts) => {
                        let ph = self.bind(SqlValue::Text(ts));
                        if pg {
                            format!("({expr} {o} {ph}::timestamptz)")
                        } else {
                            format!("({expr} {o} {ph})")
                        }
                    }
                    None => "FALSE".into(),
                },
                Scalar::Date => {
                    let ph = self.bind(SqlValue::Text(s.clone()));
                    if !pg {
                        format!("({expr} {o} {ph})")
                    } else if crate::base44::time::is_date(s) {
                        format!("({expr} {o} {ph}::date)")
                    } else {
                        format!("(to_char({expr}, 'YYYY-MM-DD') COLLATE \"C\" {o} {ph})")
                    }
                }
                Scalar::Number | Scalar::Integer | Scalar::Boolean => "FALSE".into(),
            },
            Value::Number(n) => match (ty, number(n)) {
                (Scalar::Number | Scalar::Integer, Some(value)) => {
                    let ph = self.bind(value);
                    format!("({expr} {o} {ph})")
                }
                _ => "FALSE".into(),
            },
            Value::Bool(b) => match ty {
                Scalar::Boolean => {
                    let ph = self.bind(SqlValue::Bool(*b));
                    format!("({expr} {o} {ph})")
                }
                _ => "FALSE".into(),
            },
            Value::Array(_) | Value::Object(_) => "FALSE".into(),
        }
    }

    fn regex(&mut self, t: &Target, p: &Pattern) -> String {
        let pattern = match self.dialect {
            Dialect::Postgres => p.postgres(),
            Dialect::Sqlite => p.rust(),
        };
        let pattern = pattern.to_string();
        match t {
            Target::Typed { expr, ty } => {
                let subject = match (ty, self.dialect) {
                    (Scalar::Number | Scalar::Integer | Scalar::Boolean, _) => {
                        return "FALSE".into();
                    }
                    (Scalar::Text, _) | (_, Dialect::Sqlite) => expr.clone(),
                    (Scalar::Date, Dialect::Postgres) => format!("to_char({expr}, 'YYYY-MM-DD')"),
                    (Scalar::DateTime, Dialect::Postgres) => format!(
                        "to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                    ),
                };
                let ph = self.bind(SqlValue::Text(pattern));
                match self.dialect {
                    Dialect::Postgres => format!("({subject} ~ {ph})"),
                    Dialect::Sqlite => format!("COALESCE(regexp({ph}, {subject}), FALSE)"),
                }
            }
            Target::Json(json) => {
                let ph = self.bind(SqlValue::Text(pattern));
                self.any(json, &[Prep::Regex(ph)])
            }
        }
    }

    fn elem_match(&mut self, json: &Json, em: &ElemMatch) -> String {
        let a = self.alias();
        let (elem, from, guard) = match json {
            Json::Pg(x) => (
                Json::Pg(format!("{a}.v")),
                format!(
                    "jsonb_array_elements(CASE WHEN jsonb_typeof({x}) = 'array' THEN {x} END) AS {a}(v)"
                ),
                None,
            ),
            Json::Lite { ty, arr, .. } => (
                Json::Lite {
                    value: format!("{a}.value"),
                    ty: format!("{a}.type"),
                    arr: format!("CASE WHEN {a}.type = 'array' THEN {a}.value END"),
                },
                format!("json_each({arr}) AS {a}"),
                Some(format!("{ty} = 'array'")),
            ),
        };
        let inner = match em {
            ElemMatch::Conds(conds) => {
                let target = Target::Json(elem);
                let terms = conds.iter().map(|c| self.cond(&target, c)).collect();
                join(terms, "AND", "TRUE")
            }
            ElemMatch::Filter(f) => self.filter(&Root::Elem(elem), f),
        };
        let exists = format!("EXISTS (SELECT 1 FROM {from} WHERE {inner})");
        match guard {
            Some(g) => format!("({g} AND {exists})"),
            None => exists,
        }
    }

    // ---- JSON predicates --------------------------------------------------------------

    /// Binds the operand of one comparison against a JSON value.
    fn prep(&mut self, op: Op, v: &Value) -> Prep {
        let kind = match v {
            Value::Null => {
                return match op {
                    Op::Eq | Op::Gte | Op::Lte => Prep::Null,
                    Op::Gt | Op::Lt => Prep::False,
                };
            }
            Value::String(_) => Kind::Str,
            Value::Number(_) => Kind::Num,
            Value::Bool(_) => Kind::Bool,
            Value::Array(_) | Value::Object(_) if op == Op::Eq => Kind::Doc,
            Value::Array(_) | Value::Object(_) => return Prep::False,
        };
        let value = match (self.dialect, v) {
            (Dialect::Postgres, _) if op == Op::Eq => SqlValue::Json(v.clone()),
            (_, Value::String(s)) => SqlValue::Text(s.clone()),
            (_, Value::Bool(b)) => SqlValue::Bool(*b),
            (_, Value::Number(n)) => match number(n) {
                Some(value) => value,
                None => return Prep::False,
            },
            (_, doc) => SqlValue::Text(doc.to_string()),
        };
        Prep::Cmp {
            op,
            kind,
            ph: self.bind(value),
        }
    }

    /// `preps` (OR-ed) hold for the value itself or, when it is an array, for an element.
    fn any(&mut self, json: &Json, preps: &[Prep]) -> String {
        let preps: Vec<&Prep> = preps.iter().filter(|p| !matches!(p, Prep::False)).collect();
        if preps.is_empty() {
            return "FALSE".into();
        }
        match json {
            Json::Pg(x) => {
                let scalar_eq = preps
                    .iter()
                    .all(|p| matches!(p, Prep::Cmp { op: Op::Eq, kind, .. } if *kind != Kind::Doc));
                if scalar_eq {
                    // `@>` with a scalar: equal, or an array holding it (and GIN-indexable).
                    let terms = preps
                        .iter()
                        .filter_map(|p| match p {
                            Prep::Cmp { ph, .. } => Some(format!("({x} @> {ph})")),
                            _ => None,
                        })
                        .collect();
                    return join(terms, "OR", "FALSE");
                }
                let a = self.alias();
                let elem = format!("{a}.v");
                let here = join(preps.iter().map(|p| pg_pred(x, p)).collect(), "OR", "FALSE");
                let there = join(
                    preps.iter().map(|p| pg_pred(&elem, p)).collect(),
                    "OR",
                    "FALSE",
                );
                format!(
                    "({here} OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({x}) = 'array' THEN {x} END) AS {a}(v) WHERE {there}))"
                )
            }
            Json::Lite { value, ty, arr } => {
                let a = self.alias();
                let (ev, et) = (format!("{a}.value"), format!("{a}.type"));
                let here = join(
                    preps.iter().map(|p| lite_pred(value, ty, p)).collect(),
                    "OR",
                    "FALSE",
                );
                let there = join(
                    preps.iter().map(|p| lite_pred(&ev, &et, p)).collect(),
                    "OR",
                    "FALSE",
                );
                format!(
                    "({here} OR ({ty} = 'array' AND EXISTS (SELECT 1 FROM json_each({arr}) AS {a} WHERE {there})))"
                )
            }
        }
    }

    // ---- sort -------------------------------------------------------------------------

    fn order_terms(&mut self, key: &SortKey, out: &mut Vec<String>) {
        for term in self.sort_terms(key) {
            out.push(term.order());
        }
    }

    /// The ordering terms of one sort key, each with its direction (NULLs first ascending,
    /// last descending) and the PostgreSQL type its value compares as.
    fn sort_terms(&mut self, key: &SortKey) -> Vec<Term> {
        let desc = key.desc;
        let term = |expr: String, pg_ty: &'static str| Term {
            collate: pg_ty == "text",
            expr,
            desc,
            pg_ty,
        };
        match self.resolve(&Root::Entity, &key.path) {
            Target::Typed { expr, ty } => {
                let pg_ty = match ty {
                    Scalar::Text => "text",
                    Scalar::Date => "date",
                    Scalar::DateTime => "timestamptz",
                    Scalar::Number => "float8",
                    Scalar::Integer => "int8",
                    Scalar::Boolean => "bool",
                };
                let mut t = term(expr, pg_ty);
                t.collate = self.pg() && ty == Scalar::Text;
                vec![t]
            }
            Target::Json(Json::Pg(x)) => vec![
                term(
                    format!(
                        "(CASE jsonb_typeof({x}) WHEN 'number' THEN 1 WHEN 'string' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 4 WHEN 'boolean' THEN 5 ELSE 0 END)"
                    ),
                    "int4",
                ),
                term(
                    format!("(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END)"),
                    "numeric",
                ),
                term(
                    format!("(CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END)"),
                    "text",
                ),
                term(
                    format!("(CASE WHEN jsonb_typeof({x}) = 'boolean' THEN ({x})::boolean END)"),
                    "bool",
                ),
            ],
            Target::Json(Json::Lite { value, ty, .. }) => {
                let lite = |expr: String| Term {
                    expr,
                    desc,
                    pg_ty: "",
                    collate: false,
                };
                vec![
                    lite(format!(
                        "(CASE {ty} WHEN 'integer' THEN 1 WHEN 'real' THEN 1 WHEN 'text' THEN 2 WHEN 'object' THEN 3 WHEN 'array' THEN 4 WHEN 'true' THEN 5 WHEN 'false' THEN 5 ELSE 0 END)"
                    )),
                    lite(format!(
                        "(CASE WHEN {ty} IN ('integer', 'real') THEN {value} END)"
                    )),
                    lite(format!("(CASE WHEN {ty} = 'text' THEN {value} END)")),
                    lite(format!(
                        "(CASE WHEN {ty} IN ('true', 'false') THEN {value} END)"
                    )),
                ]
            }
        }
    }
}

/// One ordering term: an expression, its direction, the PostgreSQL type its value compares
/// as (empty on SQLite) and whether it sorts with `COLLATE "C"`.
struct Term {
    expr: String,
    desc: bool,
    pg_ty: &'static str,
    collate: bool,
}

impl Term {
    fn sorted(&self) -> String {
        if self.collate {
            format!("{} COLLATE \"C\"", self.expr)
        } else {
            self.expr.clone()
        }
    }

    fn order(&self) -> String {
        let dir = if self.desc {
            "DESC NULLS LAST"
        } else {
            "ASC NULLS FIRST"
        };
        format!("{} {dir}", self.sorted())
    }
}

/// The largest number of ordering terms a page walk has (4 per JSON sort key).
pub const MAX_PAGE_TERMS: usize = 4 * super::MAX_SORT_KEYS;

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
fn pg_text_fits(pg_ty: &str, value: &SqlValue) -> bool {
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

/// A JSON number as a parameter: an integer when it is one, else a double.
fn number(n: &serde_json::Number) -> Option<SqlValue> {
    n.as_i64()
        .map(SqlValue::Int)
        .or_else(|| n.as_f64().map(SqlValue::Float))
}

/// A SQLite JSON path: `$."key"[0]."other key"` (all-digit segments index arrays).
fn lite_path(path: &[String]) -> String {
    let mut out = String::from("$");
    for segment in path {
        let index = segment.len() <= 9
            && segment.bytes().all(|b| b.is_ascii_digit())
            && (segment == "0" || !segment.starts_with('0'));
        if index {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            out.push_str(".\"");
            out.push_str(segment);
            out.push('"');
        }
    }
    out
}

fn lite_at(doc: &str, path: &str) -> Json {
    Json::Lite {
        value: format!("json_extract({doc}, {path})"),
        ty: format!("json_type({doc}, {path})"),
        arr: format!("{doc}, {path}"),
    }
}

/// One predicate on a PostgreSQL `jsonb` value `x`.
fn pg_pred(x: &str, p: &Prep) -> String {
    match p {
        Prep::False => "FALSE".into(),
        Prep::Null => format!("({x} IS NULL OR jsonb_typeof({x}) = 'null')"),
        Prep::Cmp { op: Op::Eq, ph, .. } => format!("({x} = {ph})"),
        Prep::Cmp { op, kind, ph } => {
            let o = op.sql();
            match kind {
                Kind::Num => format!(
                    "((CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END) {o} {ph})"
                ),
                Kind::Str => format!(
                    "((CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END) COLLATE \"C\" {o} {ph})"
                ),
                Kind::Bool => format!(
                    "((CASE WHEN jsonb_typeof({x}) = 'boolean' THEN ({x})::boolean END) {o} {ph})"
                ),
                Kind::Doc => "FALSE".into(),
            }
        }
        Prep::Regex(ph) => {
            format!("((CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END) ~ {ph})")
        }
        Prep::Mod(d, r) => format!(
            "((CASE WHEN jsonb_typeof({x}) = 'number' THEN mod(trunc(({x})::numeric), {d}) END) = {r})"
        ),
    }
}

/// One predicate on a SQLite JSON value (`value` its SQL value, `ty` its `json_type`).
fn lite_pred(value: &str, ty: &str, p: &Prep) -> String {
    match p {
        Prep::False => "FALSE".into(),
        Prep::Null => format!("({ty} IS NULL OR {ty} = 'null')"),
        Prep::Cmp { op, kind, ph } => {
            let o = op.sql();
            match kind {
                Kind::Num => {
                    format!("((CASE WHEN {ty} IN ('integer', 'real') THEN {value} END) {o} {ph})")
                }
                Kind::Str => format!("((CASE WHEN {ty} = 'text' THEN {value} END) {o} {ph})"),
                Kind::Bool => {
                    format!("((CASE WHEN {ty} IN ('true', 'false') THEN {value} END) {o} {ph})")
                }
                Kind::Doc => format!(
                    "((CASE WHEN {ty} IN ('object', 'array') THEN {value} END) = json({ph}))"
                ),
            }
        }
        Prep::Regex(ph) => {
            format!("COALESCE(regexp({ph}, CASE WHEN {ty} = 'text' THEN {value} END), FALSE)")
        }
        Prep::Mod(d, r) => format!(
            "((CASE WHEN {ty} IN ('integer', 'real') THEN CAST({value} AS INTEGER) % {d} END) = {r})"
        ),
    }
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

//! `aggregate()` of `@base44/sdk` 0.8.50 (`POST …/entities/{Name}/aggregate`): a validated
//! [`AggregateSpec`] and its one `GROUP BY` statement per dialect.
//!
//! Field names resolve like the filter's (columns, or JSON paths bound as parameters); output
//! names (`count`, `sum_<field>`…) only ever appear in the answer's JSON, never in SQL. The
//! statement is `SELECT <outer> FROM (SELECT <keys>, <measures> FROM "table" WHERE <filter>
//! GROUP BY 1, 2…) AS "_ferry_a" WHERE <having> ORDER BY <sort>, <keys> LIMIT <limit + 1>`.

use serde_json::{Map, Number, Value};

use super::{Gen, Json, Root, Scalar, SqlValue, Target, ident};
use crate::base44::model::{Dialect, Entity};
use crate::base44::query::error::{QueryError, QueryErrorKind};
use crate::base44::query::{FieldPath, Filter, parse_filter};
use crate::base44::record::Cell;
use crate::base44::time::{format_date, format_datetime, parse_datetime};

use super::Sql;

/// The most rows (groups) one `aggregate` returns, and its default `limit`.
pub const MAX_AGGREGATE_ROWS: u32 = 1000;
/// How many fields `groupBy` may name.
pub const MAX_GROUP_BY: usize = 4;
/// How many fields each of `sum`, `avg`, `min` and `max` may name.
pub const MAX_MEASURE_FIELDS: usize = 16;

/// What one measure computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `sum_<field>`: the sum of the numbers.
    Sum,
    /// `avg_<field>`: the average of the numbers.
    Avg,
    /// `min_<field>`: the smallest value.
    Min,
    /// `max_<field>`: the largest value.
    Max,
    /// `count_distinct_<field>`: how many distinct non-null values.
    CountDistinct,
}

impl Measure {
    fn prefix(self) -> &'static str {
        match self {
            Measure::Sum => "sum_",
            Measure::Avg => "avg_",
            Measure::Min => "min_",
            Measure::Max => "max_",
            Measure::CountDistinct => "count_distinct_",
        }
    }
}

/// A `dateBucket` unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketUnit {
    /// The day (`YYYY-MM-DD`).
    Day,
    /// The week's Monday.
    Week,
    /// The month's first day.
    Month,
    /// The year's first day.
    Year,
}

/// A validated `aggregate` request body.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateSpec {
    /// `query`, when given (the caller's read rule is ANDed by the API).
    pub filter: Option<Filter>,
    /// `groupBy`, in order.
    pub group_by: Vec<(String, FieldPath)>,
    /// `dateBucket`: the field and unit (output under the field's name).
    pub bucket: Option<(String, FieldPath, BucketUnit)>,
    /// `count` (default true).
    pub count: bool,
    /// The measures, in the answer's order: `sum`, `avg`, `min`, `max`, `countDistinct`.
    pub measures: Vec<(Measure, String, FieldPath)>,
    /// `having`: conditions on numeric measures (`count`, `sum_*`, `avg_*`,
    /// `count_distinct_*`), all of which must hold.
    pub having: Vec<(String, &'static str, f64)>,
    /// `sort`: an output name and whether descending.
    pub sort: Option<(String, bool)>,
    /// `limit` (1..=[`MAX_AGGREGATE_ROWS`]).
    pub limit: u32,
}

fn bad(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
    QueryError::new(kind, message)
}

fn field(name: &str) -> Result<(String, FieldPath), QueryError> {
    Ok((name.to_string(), FieldPath::parse(name)?))
}

/// A field name or a list of them (`max` names at most).
fn names(key: &str, value: &Value, max: usize) -> Result<Vec<(String, FieldPath)>, QueryError> {
    let list = match value {
        Value::String(s) => vec![field(s)?],
        Value::Array(items) if !items.is_empty() && items.len() <= max => items
            .iter()
            .map(|v| match v {
                Value::String(s) => field(s),
                _ => Err(bad(
                    QueryErrorKind::BadQuery,
                    format!("`{key}` must list field names"),
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(bad(
                QueryErrorKind::BadQuery,
                format!("`{key}` must be a field name or a list of 1 to {max} field names"),
            ));
        }
    };
    Ok(list)
}

/// Validates the body of `POST …/aggregate`. Unknown keys, accumulators or operators are
/// `bad-query`/`unknown-operator`; field names are checked as the filter's (`bad-field`).
pub fn parse_aggregate(body: &Value) -> Result<AggregateSpec, QueryError> {
    let Value::Object(map) = body else {
        return Err(bad(
            QueryErrorKind::BadQuery,
            "the aggregate spec must be a JSON object",
        ));
    };
    let mut spec = AggregateSpec {
        filter: None,
        group_by: Vec::new(),
        bucket: None,
        count: true,
        measures: Vec::new(),
        having: Vec::new(),
        sort: None,
        limit: MAX_AGGREGATE_ROWS,
    };
    let mut having = None;
    for key in map.keys() {
        if ![
            "query",
            "groupBy",
            "dateBucket",
            "count",
            "sum",
            "avg",
            "min",
            "max",
            "countDistinct",
            "having",
            "sort",
            "limit",
        ]
        .contains(&key.as_str())
        {
            return Err(bad(
                QueryErrorKind::BadQuery,
                format!(
                    "unknown aggregate key {}",
                    crate::base44::query::error::quote(key)
                ),
            ));
        }
    }
    if let Some(q) = map.get("query").filter(|q| !q.is_null()) {
        spec.filter = Some(parse_filter(q)?);
    }
    if let Some(v) = map.get("groupBy").filter(|v| !v.is_null()) {
        spec.group_by = names("groupBy", v, MAX_GROUP_BY)?;
    }
    if let Some(v) = map.get("dateBucket").filter(|v| !v.is_null()) {
        let (Some(Value::String(f)), Some(Value::String(unit)), 2) = (
            v.get("field"),
            v.get("unit"),
            v.as_object().map_or(0, Map::len),
        ) else {
            return Err(bad(
                QueryErrorKind::BadQuery,
                "`dateBucket` must be {\"field\": …, \"unit\": …}",
            ));
        };
        let unit = match unit.as_str() {
            "day" => BucketUnit::Day,
            "week" => BucketUnit::Week,
            "month" => BucketUnit::Month,
            "year" => BucketUnit::Year,
            _ => {
                return Err(bad(
                    QueryErrorKind::BadQuery,
                    "`dateBucket.unit` must be day, week, month or year",
                ));
            }
        };
        let (name, path) = field(f)?;
        spec.bucket = Some((name, path, unit));
    }
    match map.get("count") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => spec.count = *b,
        Some(_) => {
            return Err(bad(QueryErrorKind::BadQuery, "`count` must be a boolean"));
        }
    }
    for (key, measure) in [
        ("sum", Measure::Sum),
        ("avg", Measure::Avg),
        ("min", Measure::Min),
        ("max", Measure::Max),
        ("countDistinct", Measure::CountDistinct),
    ] {
        let Some(v) = map.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let max = if measure == Measure::CountDistinct {
            1
        } else {
            MAX_MEASURE_FIELDS
        };
        for (name, path) in names(key, v, max)? {
            spec.measures.push((measure, name, path));
        }
    }
    // Output names must be unique (they are the answer's keys).
    let mut outputs: Vec<String> = spec.group_by.iter().map(|(n, _)| n.clone()).collect();
    if let Some((name, _, _)) = &spec.bucket {
        outputs.push(name.clone());
    }
    if spec.count {
        outputs.push("count".into());
    }
    for (m, name, _) in &spec.measures {
        outputs.push(format!("{}{name}", m.prefix()));
    }
    for (i, name) in outputs.iter().enumerate() {
        if outputs[..i].contains(name) {
            return Err(bad(
                QueryErrorKind::BadQuery,
                format!(
                    "the output name {} appears twice",
                    crate::base44::query::error::quote(name)
                ),
            ));
        }
    }
    if let Some(v) = map.get("having").filter(|v| !v.is_null()) {
        having = Some(v);
    }
    if let Some(h) = having {
        spec.having = parse_having(h, &spec)?;
    }
    match map.get("sort") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            let (name, desc) = match s.strip_prefix('-') {
                Some(rest) => (rest, true),
                None => (s.strip_prefix('+').unwrap_or(s), false),
            };
            if !outputs.iter().any(|o| o == name) {
                return Err(bad(
                    QueryErrorKind::BadSort,
                    format!(
                        "sort {} is not a group field or computed field",
                        crate::base44::query::error::quote(name)
                    ),
                ));
            }
            spec.sort = Some((name.to_string(), desc));
        }
        Some(_) => return Err(bad(QueryErrorKind::BadSort, "`sort` must be a string")),
    }
    match map.get("limit") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(n @ 1..) if n <= u64::from(MAX_AGGREGATE_ROWS) => {
                spec.limit = u32::try_from(n).unwrap_or(MAX_AGGREGATE_ROWS);
            }
            _ => {
                return Err(bad(
                    QueryErrorKind::Limit,
                    format!("`limit` must be an integer from 1 to {MAX_AGGREGATE_ROWS}"),
                ));
            }
        },
    }
    Ok(spec)
}

/// `having`: `{ "<numeric output>": n | { "$gt": n, … } }`.
fn parse_having(
    h: &Value,
    spec: &AggregateSpec,
) -> Result<Vec<(String, &'static str, f64)>, QueryError> {
    let Value::Object(map) = h else {
        return Err(bad(QueryErrorKind::BadQuery, "`having` must be an object"));
    };
    let numeric = |name: &str| {
        (spec.count && name == "count")
            || spec.measures.iter().any(|(m, f, _)| {
                matches!(m, Measure::Sum | Measure::Avg | Measure::CountDistinct)
                    && format!("{}{f}", m.prefix()) == name
            })
    };
    let num = |v: &Value| {
        v.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
            bad(
                QueryErrorKind::BadQuery,
                "`having` compares with numbers only",
            )
        })
    };
    let mut out = Vec::new();
    for (name, cond) in map {
        if !numeric(name) {
            return Err(bad(
                QueryErrorKind::BadQuery,
                format!(
                    "`having` may only test count, sum_, avg_ or count_distinct_ outputs, not {}",
                    crate::base44::query::error::quote(name)
                ),
            ));
        }
        match cond {
            Value::Object(ops) if !ops.is_empty() => {
                for (op, v) in ops {
                    let sql = match op.as_str() {
                        "$eq" => "=",
                        "$ne" => "<>",
                        "$gt" => ">",
                        "$gte" => ">=",
                        "$lt" => "<",
                        "$lte" => "<=",
                        _ => {
                            return Err(bad(
                                QueryErrorKind::UnknownOperator,
                                format!(
                                    "unknown `having` operator {}",
                                    crate::base44::query::error::quote(op)
                                ),
                            ));
                        }
                    };
                    out.push((name.clone(), sql, num(v)?));
                }
            }
            v => out.push((name.clone(), "=", num(v)?)),
        }
    }
    Ok(out)
}

/// How one output column's cells become JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// A typed column's value.
    Typed(ScalarKind),
    /// A JSON value (`jsonb`, or JSON text on SQLite).
    Json,
    /// A number (integer, double, or numeric text on PostgreSQL).
    Number,
    /// Text (`YYYY-MM-DD` buckets).
    Text,
}

/// The public mirror of the translator's column type classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// Text.
    Text,
    /// A date.
    Date,
    /// A date-time.
    DateTime,
    /// A number or integer.
    Number,
    /// A boolean.
    Boolean,
}

pub(super) fn kind(ty: Scalar) -> ScalarKind {
    match ty {
        Scalar::Text => ScalarKind::Text,
        Scalar::Date => ScalarKind::Date,
        Scalar::DateTime => ScalarKind::DateTime,
        Scalar::Number | Scalar::Integer => ScalarKind::Number,
        Scalar::Boolean => ScalarKind::Boolean,
    }
}

/// The statement of one aggregate and how to read its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The statement; it returns up to `limit + 1` rows (more than `limit`: truncated).
    pub sql: Sql,
    /// The output names and decoders, in column order.
    pub columns: Vec<(String, Decode)>,
    /// The requested `limit`.
    pub limit: u32,
}

struct Col {
    name: String,
    inner: String,
    as_text: bool,
    decode: Decode,
    collate: bool,
}

/// Builds the `GROUP BY` statement of `spec` with `filter` (the spec's query and the read
/// rule, combined by the caller) as its `WHERE`.
pub fn aggregate_sql(
    entity: &Entity,
    spec: &AggregateSpec,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> Result<Aggregate, QueryError> {
    let mut params = Vec::new();
    let mut g = Gen::new(entity, dialect, &mut params);
    let pg = g.pg();
    let where_ = match filter {
        Some(f) => g.filter(&Root::Entity, f),
        None => "TRUE".to_string(),
    };
    let mut cols: Vec<Col> = Vec::new();
    for (name, path) in &spec.group_by {
        let target = g.resolve(&Root::Entity, path);
        let (inner, decode, collate) = match target {
            Target::Typed { expr, ty } => (expr, Decode::Typed(kind(ty)), pg && ty == Scalar::Text),
            Target::Json(json) => (json_key(&json), Decode::Json, false),
        };
        cols.push(Col {
            name: name.clone(),
            inner,
            as_text: false,
            decode,
            collate,
        });
    }
    if let Some((name, path, unit)) = &spec.bucket {
        let builtin = matches!(name.as_str(), "created_date" | "updated_date");
        let inner = match g.resolve(&Root::Entity, path) {
            Target::Typed {
                expr,
                ty: ty @ (Scalar::Date | Scalar::DateTime),
            } if builtin || *unit != BucketUnit::Week => bucket(&expr, ty, *unit, pg),
            _ => {
                return Err(bad(
                    QueryErrorKind::BadField,
                    "`dateBucket.field` must be created_date, updated_date (any unit) or a date field of the schema (day, month, year)",
                ));
            }
        };
        cols.push(Col {
            name: name.clone(),
            inner,
            as_text: false,
            decode: Decode::Text,
            collate: pg,
        });
    }
    let keys = cols.len();
    if spec.count {
        cols.push(Col {
            name: "count".into(),
            inner: "COUNT(*)".into(),
            as_text: false,
            decode: Decode::Number,
            collate: false,
        });
    }
    for (measure, fname, path) in &spec.measures {
        let name = format!("{}{fname}", measure.prefix());
        let target = g.resolve(&Root::Entity, path);
        let col = match measure {
            Measure::Sum | Measure::Avg => {
                let num = match &target {
                    Target::Typed {
                        expr,
                        ty: Scalar::Number | Scalar::Integer,
                    } => expr.clone(),
                    Target::Typed { .. } => {
                        return Err(bad(
                            QueryErrorKind::BadField,
                            format!(
                                "{} is not a number field",
                                crate::base44::query::error::quote(fname)
                            ),
                        ));
                    }
                    Target::Json(Json::Pg(x)) => {
                        format!("(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END)")
                    }
                    Target::Json(Json::Lite { value, ty, .. }) => {
                        format!("(CASE WHEN {ty} IN ('integer', 'real') THEN {value} END)")
                    }
                };
                let (inner, outer) = match (measure, pg) {
                    (Measure::Sum, true) => (format!("SUM(({num})::numeric)"), true),
                    (_, true) => (format!("AVG(({num})::numeric)"), true),
                    (Measure::Sum, false) => (
                        format!("(CASE WHEN COUNT({num}) > 0 THEN TOTAL({num}) END)"),
                        false,
                    ),
                    (_, false) => (format!("AVG({num})"), false),
                };
                Col {
                    name,
                    inner,
                    as_text: outer,
                    decode: Decode::Number,
                    collate: false,
                }
            }
            Measure::Min | Measure::Max => {
                let min = *measure == Measure::Min;
                let f = if min { "MIN" } else { "MAX" };
                match &target {
                    Target::Typed { expr, ty } => {
                        let inner = match (ty, pg) {
                            (Scalar::Boolean, true) => {
                                format!("{}({expr})", if min { "bool_and" } else { "bool_or" })
                            }
                            (Scalar::Text, true) => format!("{f}({expr} COLLATE \"C\")"),
                            _ => format!("{f}({expr})"),
                        };
                        Col {
                            name,
                            inner,
                            as_text: false,
                            decode: Decode::Typed(kind(*ty)),
                            collate: pg && *ty == Scalar::Text,
                        }
                    }
                    Target::Json(json) => {
                        let (num, text) = match json {
                            Json::Pg(x) => (
                                format!(
                                    "to_jsonb({f}(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END))"
                                ),
                                format!(
                                    "to_jsonb({f}((CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END) COLLATE \"C\"))"
                                ),
                            ),
                            Json::Lite { value, ty, .. } => (
                                format!(
                                    "NULLIF(json_quote({f}(CASE WHEN {ty} IN ('integer', 'real') THEN {value} END)), 'null')"
                                ),
                                format!(
                                    "NULLIF(json_quote({f}(CASE WHEN {ty} = 'text' THEN {value} END)), 'null')"
                                ),
                            ),
                        };
                        // Numbers sort before strings (MongoDB's brackets).
                        let inner = if min {
                            format!("COALESCE({num}, {text})")
                        } else {
                            format!("COALESCE({text}, {num})")
                        };
                        Col {
                            name,
                            inner,
                            as_text: false,
                            decode: Decode::Json,
                            collate: false,
                        }
                    }
                }
            }
            Measure::CountDistinct => {
                let key = match target {
                    Target::Typed { expr, .. } => expr,
                    Target::Json(json) => json_key(&json),
                };
                Col {
                    name,
                    inner: format!("COUNT(DISTINCT {key})"),
                    as_text: false,
                    decode: Decode::Number,
                    collate: false,
                }
            }
        };
        cols.push(col);
    }
    if cols.is_empty() {
        return Err(bad(
            QueryErrorKind::BadQuery,
            "the aggregate computes nothing: set `count`, a measure or a group",
        ));
    }
    let alias = |i: usize| format!("\"_ferry_c{i}\"");
    let mut conds = Vec::new();
    for (name, op, value) in &spec.having {
        let Some(i) = cols.iter().position(|c| &c.name == name) else {
            return Err(bad(QueryErrorKind::BadQuery, "unknown `having` output"));
        };
        let ph = if pg {
            let ph = g.bind(SqlValue::Text(format_number(*value)));
            format!("{ph}::numeric")
        } else {
            g.bind(SqlValue::Float(*value))
        };
        conds.push(format!("({} {op} {ph})", alias(i)));
    }
    let limit = g.bind(SqlValue::Int(i64::from(spec.limit) + 1));
    g.check()?;
    let order_of = |i: usize, desc: bool| {
        let c = &cols[i];
        let e = if c.collate {
            format!("{} COLLATE \"C\"", alias(i))
        } else {
            alias(i)
        };
        if desc {
            format!("{e} DESC NULLS LAST")
        } else {
            format!("{e} ASC NULLS FIRST")
        }
    };
    let mut order = Vec::new();
    if let Some((name, desc)) = &spec.sort
        && let Some(i) = cols.iter().position(|c| &c.name == name)
    {
        order.push(order_of(i, *desc));
    }
    for i in 0..keys {
        order.push(order_of(i, false));
    }
    let inner: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS {}", c.inner, alias(i)))
        .collect();
    let outer: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if c.as_text {
                format!("({})::text", alias(i))
            } else {
                alias(i)
            }
        })
        .collect();
    let group = if keys == 0 {
        String::new()
    } else {
        let positions: Vec<String> = (1..=keys).map(|i| i.to_string()).collect();
        format!(" GROUP BY {}", positions.join(", "))
    };
    let text = format!(
        "SELECT {} FROM (SELECT {} FROM {} WHERE {where_}{group}) AS \"_ferry_a\" WHERE {}{} LIMIT {limit}",
        outer.join(", "),
        inner.join(", "),
        ident(&entity.table),
        if conds.is_empty() {
            "TRUE".to_string()
        } else {
            conds.join(" AND ")
        },
        if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order.join(", "))
        },
    );
    Ok(Aggregate {
        sql: Sql { text, params },
        columns: cols.into_iter().map(|c| (c.name, c.decode)).collect(),
        limit: spec.limit,
    })
}

/// A JSON value as a group key: `jsonb` without JSON null on PostgreSQL; its JSON text on
/// SQLite (NULL for null and missing).
pub(super) fn json_key(json: &Json) -> String {
    match json {
        Json::Pg(x) => format!("NULLIF({x}, 'null'::jsonb)"),
        Json::Lite { value, ty, .. } => format!(
            "(CASE {ty} WHEN 'null' THEN NULL WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'object' THEN {value} WHEN 'array' THEN {value} ELSE json_quote({value}) END)"
        ),
    }
}

/// The `YYYY-MM-DD` of the bucket (UTC) a date or date-time falls in.
fn bucket(expr: &str, ty: Scalar, unit: BucketUnit, pg: bool) -> String {
    let u = match unit {
        BucketUnit::Day => "day",
        BucketUnit::Week => "week",
        BucketUnit::Month => "month",
        BucketUnit::Year => "year",
    };
    if pg {
        let ts = if ty == Scalar::DateTime {
            format!("({expr} AT TIME ZONE 'UTC')")
        } else {
            format!("({expr})::timestamp")
        };
        return format!("to_char(date_trunc('{u}', {ts}), 'YYYY-MM-DD')");
    }
    match unit {
        BucketUnit::Day => format!("substr({expr}, 1, 10)"),
        BucketUnit::Week => format!("date(substr({expr}, 1, 10), '-6 days', 'weekday 1')"),
        BucketUnit::Month => format!("(substr({expr}, 1, 7) || '-01')"),
        BucketUnit::Year => format!("(substr({expr}, 1, 4) || '-01-01')"),
    }
}

/// A finite double as `numeric` input text (`Display` never writes an exponent).
fn format_number(f: f64) -> String {
    format!("{f}")
}

/// A double as JSON the way JavaScript writes it (integral values as integers; NaN and
/// infinities as null).
fn js_number(f: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && (-SAFE..=SAFE).contains(&f) {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// One cell of an aggregate row as JSON (`None`: a cell this column cannot hold).
pub fn decode_cell(decode: Decode, cell: &Cell) -> Option<Value> {
    if *cell == Cell::Null {
        return Some(Value::Null);
    }
    Some(match (decode, cell) {
        (Decode::Number | Decode::Typed(ScalarKind::Number), Cell::Int(i)) => Value::from(*i),
        (Decode::Number | Decode::Typed(ScalarKind::Number), Cell::Float(f)) => js_number(*f),
        (Decode::Number, Cell::Text(t)) => js_number(t.parse::<f64>().ok()?),
        (Decode::Text | Decode::Typed(ScalarKind::Text), Cell::Text(t)) => Value::String(t.clone()),
        (Decode::Typed(ScalarKind::Boolean), Cell::Bool(b)) => Value::Bool(*b),
        (Decode::Typed(ScalarKind::Boolean), Cell::Int(i @ (0 | 1))) => Value::Bool(*i == 1),
        (Decode::Typed(ScalarKind::Date), Cell::Text(t)) => Value::String(t.clone()),
        (Decode::Typed(ScalarKind::Date), Cell::Int(days)) => Value::String(format_date(*days)?),
        (Decode::Typed(ScalarKind::DateTime), Cell::Text(t)) => {
            Value::String(format_datetime(parse_datetime(t)?)?)
        }
        (Decode::Typed(ScalarKind::DateTime), Cell::Int(micros)) => {
            Value::String(format_datetime(micros.div_euclid(1000))?)
        }
        (Decode::Json, Cell::Json(v)) => v.clone(),
        (Decode::Json, Cell::Text(t)) => serde_json::from_str(t).ok()?,
        _ => return None,
    })
}

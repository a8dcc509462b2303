//! `updateMany`'s MongoDB update operators (`$set $unset $inc $push $pull $addToSet`) as one
//! parameterised `UPDATE` per dialect. Rules: `docs/base44.md`, "HTTP API" → `updateMany`.

use serde_json::{Map, Value};

use super::error::quote;
use super::value::{check_extra_key, check_limits, field_value, is_reserved};
use super::{Binder, RecordError, ident, now, path};
use crate::base44::model::{Dialect, EXTRA_COLUMN, Entity, Field, FieldType};
use crate::base44::query::{Filter, SqlValue, where_sql};

/// The most values one `$push`/`$addToSet`/`$pull` may carry.
pub const MAX_OP_ITEMS: usize = 1000;

/// The update operators `updateMany` accepts.
pub const UPDATE_OPERATORS: &[&str] = &["$set", "$unset", "$inc", "$push", "$pull", "$addToSet"];

/// What one key of the update does.
enum Op {
    Set(Value),
    Unset,
    Inc(serde_json::Number),
    Push(Vec<Value>),
    AddToSet(Vec<Value>),
    Pull(Vec<Value>),
}

fn bad(reason: impl Into<String>) -> RecordError {
    RecordError::BadRecord(reason.into())
}

/// Parses `data` (`{"$set": {...}, "$inc": {...}}`) into (key, op) pairs. Built-ins, unknown
/// operators, a key under two operators and dotted paths are refused.
fn parse_ops(entity: &Entity, data: &Map<String, Value>) -> Result<Vec<(String, Op)>, RecordError> {
    check_limits(data)?;
    if data.is_empty() {
        return Err(bad("the update names no operator"));
    }
    let mut out: Vec<(String, Op)> = Vec::new();
    for (op, arg) in data {
        if !UPDATE_OPERATORS.contains(&op.as_str()) {
            return Err(bad(format!(
                "unknown or unsupported update operator {} (supported: {})",
                quote(op),
                UPDATE_OPERATORS.join(" ")
            )));
        }
        let Value::Object(fields) = arg else {
            return Err(bad(format!("{op} needs an object of fields")));
        };
        for (key, value) in fields {
            if is_reserved(entity, key) {
                return Err(bad(format!(
                    "the built-in field {} cannot be updated",
                    quote(key)
                )));
            }
            if entity.field(key).is_none() {
                if key.contains('.') {
                    return Err(bad(format!(
                        "nested path {} is not supported; update the whole property",
                        quote(key)
                    )));
                }
                check_extra_key(key)?;
            }
            if out.iter().any(|(k, _)| k == key) {
                return Err(bad(format!(
                    "field {} appears under more than one operator",
                    quote(key)
                )));
            }
            let parsed = match op.as_str() {
                "$set" => Op::Set(value.clone()),
                "$unset" => Op::Unset,
                "$inc" => match value {
                    Value::Number(n) => Op::Inc(n.clone()),
                    _ => return Err(RecordError::value(key, "$inc needs a number")),
                },
                "$push" => Op::Push(items(key, value, "$each")?),
                "$addToSet" => {
                    let mut unique: Vec<Value> = Vec::new();
                    for v in items(key, value, "$each")? {
                        if !unique.contains(&v) {
                            unique.push(v);
                        }
                    }
                    Op::AddToSet(unique)
                }
                _ => Op::Pull(items(key, value, "$in")?),
            };
            out.push((key.clone(), parsed));
        }
    }
    if out.is_empty() {
        return Err(bad("the update changes no field"));
    }
    Ok(out)
}

/// The values of `$push`/`$addToSet` (`v` or `{"$each": [...]}`) and `$pull` (`v` or
/// `{"$in": [...]}`); another operator object is refused.
fn items(key: &str, value: &Value, list_op: &str) -> Result<Vec<Value>, RecordError> {
    let list = match value {
        Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => {
            match (m.len(), m.get(list_op)) {
                (1, Some(Value::Array(list))) => list.clone(),
                _ => {
                    return Err(bad(format!(
                        "{}: only a value or {{\"{list_op}\": [...]}} is supported",
                        quote(key)
                    )));
                }
            }
        }
        Value::Object(_) if list_op == "$in" => {
            return Err(bad(format!(
                "{}: $pull by a sub-document condition is not supported",
                quote(key)
            )));
        }
        v => vec![v.clone()],
    };
    if list.len() > MAX_OP_ITEMS {
        return Err(RecordError::TooLarge(format!(
            "{}: more than {MAX_OP_ITEMS} values",
            quote(key)
        )));
    }
    Ok(list)
}

/// `UPDATE "table" SET <ops>, "updated_date" = <now> WHERE <target> RETURNING "id"`.
pub fn update_many_sql(
    entity: &Entity,
    data: &Map<String, Value>,
    target: &Filter,
    dialect: Dialect,
) -> Result<super::Sql, RecordError> {
    let ops = parse_ops(entity, data)?;
    let mut b = Binder::new(dialect);
    let mut sets = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    let mut added: Vec<(String, String)> = Vec::new();
    for (key, op) in ops {
        match entity.field(&key) {
            Some(field) => {
                let expr = column_expr(&mut b, field, op)?;
                sets.push(format!("{} = {expr}", ident(&field.column)));
            }
            None => {
                touched.push(key.clone());
                let cur = match (&op, dialect) {
                    // $set and $unset do not read the current value (an unused parameter
                    // would have no type on PostgreSQL).
                    (Op::Set(_) | Op::Unset, _) => String::new(),
                    (_, Dialect::Postgres) => format!(
                        "({} -> {})",
                        ident(EXTRA_COLUMN),
                        b.bind(SqlValue::Text(key.clone()))
                    ),
                    (_, Dialect::Sqlite) => format!(
                        "({} -> {})",
                        ident(EXTRA_COLUMN),
                        b.bind(SqlValue::Text(path(&key)))
                    ),
                };
                if let Some(expr) = json_expr(&mut b, &cur, op)? {
                    added.push((key, expr));
                }
            }
        }
    }
    if !touched.is_empty() {
        sets.push(format!(
            "{} = {}",
            ident(EXTRA_COLUMN),
            extra_expr(&mut b, &touched, added)
        ));
    }
    sets.push(format!("\"updated_date\" = {}", now(dialect)));
    let condition = where_sql(entity, target, dialect, &mut b.params)?;
    let text = format!(
        "UPDATE {} SET {} WHERE {condition} RETURNING \"id\"",
        ident(&entity.table),
        sets.join(", ")
    );
    b.finish(text)
}

/// The new value of a declared field's column.
fn column_expr(b: &mut Binder, field: &Field, op: Op) -> Result<String, RecordError> {
    let col = ident(&field.column);
    match op {
        Op::Set(v) => Ok(match field_value(field, &v)? {
            Some(v) => b.bind_field(&field.ty, v),
            None => "NULL".into(),
        }),
        Op::Unset => Ok("NULL".into()),
        Op::Inc(n) => {
            let step = match field.ty {
                FieldType::Integer | FieldType::Number => {
                    field_value(field, &Value::Number(n))?.unwrap_or(SqlValue::Int(0))
                }
                _ => {
                    return Err(RecordError::value(
                        &field.name,
                        "$inc needs an integer or number field",
                    ));
                }
            };
            let ph = b.bind_field(&field.ty, step);
            Ok(format!("(COALESCE({col}, 0) + {ph})"))
        }
        Op::Push(_) | Op::AddToSet(_) | Op::Pull(_) if field.ty != FieldType::Array => {
            Err(RecordError::value(
                &field.name,
                "$push, $addToSet and $pull need an array field",
            ))
        }
        op => Ok(array_expr(b, &col, op).unwrap_or_else(|| col.clone())),
    }
}

/// The new JSON value of an `extra` key (`cur`: its current JSON, NULL when missing); `None`
/// removes the key. The SQL value is NULL when the key should be left as it is missing.
fn json_expr(b: &mut Binder, cur: &str, op: Op) -> Result<Option<String>, RecordError> {
    let pg = b.dialect == Dialect::Postgres;
    Ok(match op {
        Op::Set(Value::Null) | Op::Unset => None,
        Op::Set(v) => {
            let ph = b.bind(SqlValue::Json(v));
            Some(if pg { ph } else { format!("json({ph})") })
        }
        Op::Inc(n) => Some(if pg {
            let ph = b.bind(SqlValue::Text(n.to_string()));
            format!(
                "CASE WHEN {cur} IS NULL OR jsonb_typeof({cur}) = 'null' THEN to_jsonb({ph}::numeric) \
                 WHEN jsonb_typeof({cur}) = 'number' THEN to_jsonb(({cur} #>> '{{}}')::numeric + {ph}::numeric) \
                 ELSE {cur} END"
            )
        } else {
            let step = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => SqlValue::Int(i),
                (None, Some(f)) if f.is_finite() => SqlValue::Float(f),
                _ => return Err(bad("$inc: number out of range")),
            };
            let ph = b.bind(step);
            format!(
                "CASE WHEN {cur} IS NULL OR json_type({cur}) = 'null' THEN json_quote({ph}) \
                 WHEN json_type({cur}) IN ('integer', 'real') THEN json_quote(json_extract({cur}, '$') + {ph}) \
                 ELSE {cur} END"
            )
        }),
        op => array_expr(b, cur, op),
    })
}

/// The JSON text of a `json_each` row `a` (SQLite).
fn lite_elem(a: &str) -> String {
    format!(
        "CASE {a}.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' \
         WHEN 'object' THEN {a}.value WHEN 'array' THEN {a}.value ELSE json_quote({a}.value) END"
    )
}

/// `$push`, `$addToSet`, `$pull` on a JSON value `cur` (NULL when missing): the new array;
/// a value that is not an array (nor missing/null for push and addToSet) is kept as it is.
fn array_expr(b: &mut Binder, cur: &str, op: Op) -> Option<String> {
    let (kind, list) = match op {
        Op::Push(l) => (0, l),
        Op::AddToSet(l) => (1, l),
        Op::Pull(l) => (2, l),
        _ => return None,
    };
    let items = b.bind(SqlValue::Json(Value::Array(list)));
    Some(match b.dialect {
        Dialect::Postgres => {
            let arr = format!(
                "(CASE WHEN jsonb_typeof({cur}) = 'array' THEN {cur} ELSE '[]'::jsonb END)"
            );
            let old = format!(
                "SELECT 0 AS g, x.o, x.e FROM jsonb_array_elements({arr}) WITH ORDINALITY AS x(e, o)"
            );
            let rows = match kind {
                0 => format!(
                    "{old} UNION ALL SELECT 1, y.o, y.e FROM jsonb_array_elements({items}) WITH ORDINALITY AS y(e, o)"
                ),
                1 => format!(
                    "{old} UNION ALL SELECT 1, y.o, y.e FROM jsonb_array_elements({items}) WITH ORDINALITY AS y(e, o) \
                     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements({arr}) AS z(e) WHERE z.e = y.e)"
                ),
                _ => format!(
                    "{old} WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements({items}) AS z(e) WHERE z.e = x.e)"
                ),
            };
            let new = format!(
                "(SELECT COALESCE(jsonb_agg(u.e ORDER BY u.g, u.o), '[]'::jsonb) FROM ({rows}) AS u)"
            );
            if kind == 2 {
                format!("CASE WHEN jsonb_typeof({cur}) = 'array' THEN {new} ELSE {cur} END")
            } else {
                format!(
                    "CASE WHEN {cur} IS NULL OR jsonb_typeof({cur}) IN ('array', 'null') THEN {new} ELSE {cur} END"
                )
            }
        }
        Dialect::Sqlite => {
            let arr = format!("(CASE WHEN json_type({cur}) = 'array' THEN {cur} ELSE '[]' END)");
            let (ea, ey, ez) = (lite_elem("a"), lite_elem("y"), lite_elem("z"));
            let old = format!("SELECT 0 AS g, a.key AS o, {ea} AS t FROM json_each({arr}) AS a");
            let rows = match kind {
                0 => format!("{old} UNION ALL SELECT 1, y.key, {ey} FROM json_each({items}) AS y"),
                1 => format!(
                    "{old} UNION ALL SELECT 1, y.key, {ey} FROM json_each({items}) AS y \
                     WHERE ({ey}) NOT IN (SELECT {ez} FROM json_each({arr}) AS z)"
                ),
                _ => {
                    format!("{old} WHERE ({ea}) NOT IN (SELECT {ez} FROM json_each({items}) AS z)")
                }
            };
            let new = format!(
                "(SELECT json_group_array(json(u.t) ORDER BY u.g, u.o) FROM ({rows}) AS u)"
            );
            if kind == 2 {
                format!("CASE WHEN json_type({cur}) = 'array' THEN {new} ELSE {cur} END")
            } else {
                format!(
                    "CASE WHEN {cur} IS NULL OR json_type({cur}) IN ('array', 'null') THEN {new} ELSE {cur} END"
                )
            }
        }
    })
}

/// `extra` with the `touched` keys removed, then the `added` (key, JSON expression) pairs whose
/// value is not NULL put in.
fn extra_expr(b: &mut Binder, touched: &[String], added: Vec<(String, String)>) -> String {
    let extra = ident(EXTRA_COLUMN);
    match b.dialect {
        Dialect::Postgres => {
            let keys: Vec<String> = touched
                .iter()
                .map(|k| b.bind(SqlValue::Text(k.clone())))
                .collect();
            let mut expr = format!("({extra} - ARRAY[{}]::text[])", keys.join(", "));
            if !added.is_empty() {
                let rows: Vec<String> = added
                    .into_iter()
                    .map(|(k, v)| format!("({}, ({v})::jsonb)", b.bind(SqlValue::Text(k))))
                    .collect();
                expr = format!(
                    "({expr} || COALESCE((SELECT jsonb_object_agg(s.k, s.v) FROM (VALUES {}) AS s(k, v) \
                     WHERE s.v IS NOT NULL), '{{}}'::jsonb))",
                    rows.join(", ")
                );
            }
            expr
        }
        Dialect::Sqlite => {
            let keys: Vec<String> = touched
                .iter()
                .map(|k| b.bind(SqlValue::Text(k.clone())))
                .collect();
            let kept = lite_elem("e");
            let mut rows = vec![format!(
                "SELECT e.key AS k, {kept} AS t FROM json_each({extra}) AS e WHERE e.key NOT IN ({})",
                keys.join(", ")
            )];
            for (k, v) in added {
                rows.push(format!("SELECT {}, {v}", b.bind(SqlValue::Text(k))));
            }
            format!(
                "(SELECT json_group_object(u.k, json(u.t)) FROM ({}) AS u WHERE u.t IS NOT NULL)",
                rows.join(" UNION ALL ")
            )
        }
    }
}

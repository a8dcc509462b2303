//! Entity schemas inferred from records, for entities that come without a schema file (a
//! Base44 export, or a live app whose schema catalog cannot be read).
//!
//! Rules (see `docs/base44.md`, "Moving your data"):
//! - the built-in fields (`id`, `created_date`, `updated_date`, `created_by`,
//!   `created_by_id`) are never declared, nor, for `User`, its own fields and private columns;
//! - `null` values say nothing; a property that is only ever `null` is not declared;
//! - each non-null value has a kind: boolean, integer (a JSON integer, or an integral number),
//!   number, string (`format: date` when every value is `YYYY-MM-DD`, `format: date-time` when
//!   every value is an ISO 8601 date-time), array or object;
//! - a property whose values have several kinds gets the widest type that holds them all:
//!   integer and number → `number`; date and date-time → `date-time`; a date or date-time and
//!   any other string → `string`; kinds no declared type holds together (a number and a
//!   string, an array and an object…) leave the property undeclared, so its values are kept
//!   as they are in the record's `extra` JSON column;
//! - `enum` and `required` are never inferred (a sample cannot prove them).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::base44::model::{BUILTIN_FIELDS, USER_ENTITY, USER_PRIVATE_COLUMNS};
use crate::base44::time::{is_date, parse_datetime};

/// The fields `User` always has (never inferred).
const USER_OWN: &[&str] = &["email", "full_name", "role"];

/// What the values of one property were seen to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Boolean,
    Integer,
    Number,
    Date,
    DateTime,
    String,
    Array,
    Object,
}

fn kind_of(value: &Value) -> Option<Kind> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => Kind::Boolean,
        Value::Number(n) => {
            // Integral values an `int8` column holds (a float like `4.0` counts).
            if n.is_i64()
                || n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            {
                Kind::Integer
            } else {
                Kind::Number
            }
        }
        Value::String(s) if is_date(s) => Kind::Date,
        Value::String(s) if is_datetime(s) => Kind::DateTime,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    })
}

/// A date-time as Base44 writes them: a date, `T`, a time, optionally seconds, fraction and
/// offset (a bare date is a date, not a date-time).
fn is_datetime(s: &str) -> bool {
    s.len() >= 16 && matches!(s.as_bytes().get(10), Some(b'T')) && parse_datetime(s).is_some()
}

/// The widest kind holding both, `None` when no declared type holds both.
fn widen(a: Kind, b: Kind) -> Option<Kind> {
    use Kind::*;
    if a == b {
        return Some(a);
    }
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    match (lo, hi) {
        (Integer, Number) => Some(Number),
        (Date, DateTime) => Some(DateTime),
        (Date | DateTime, String) => Some(String),
        _ => None,
    }
}

/// What inference found for one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inferred {
    /// Declared with this JSON Schema fragment (`{"type": "string", "format": "date"}`…).
    Declared(Value),
    /// Values of kinds no declared type holds together (kept in `extra`); the kinds seen.
    Mixed(Vec<&'static str>),
}

/// The property schemas inferred from `records` for entity `name`, in order of first
/// appearance (records' keys are sorted, so by name within a record; built-ins excluded;
/// properties only ever `null` left out).
pub fn infer_properties<'a>(
    name: &str,
    records: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Vec<(String, Inferred)> {
    let user = name == USER_ENTITY;
    let mut order: Vec<String> = Vec::new();
    // Per property: the widest kind so far (None once mixed), and every kind seen.
    let mut seen: BTreeMap<String, (Option<Kind>, Vec<Kind>)> = BTreeMap::new();
    for record in records {
        for (key, value) in record {
            if BUILTIN_FIELDS.contains(&key.as_str())
                || (user
                    && (USER_OWN.contains(&key.as_str())
                        || USER_PRIVATE_COLUMNS.contains(&key.as_str())))
            {
                continue;
            }
            let Some(kind) = kind_of(value) else {
                if !seen.contains_key(key) && !order.contains(key) {
                    order.push(key.clone());
                }
                continue;
            };
            match seen.get_mut(key) {
                None => {
                    if !order.contains(key) {
                        order.push(key.clone());
                    }
                    seen.insert(key.clone(), (Some(kind), vec![kind]));
                }
                Some((widest, kinds)) => {
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                    *widest = widest.and_then(|w| widen(w, kind));
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let (widest, mut kinds) = seen.remove(&key)?;
            let inferred = match widest {
                Some(kind) => Inferred::Declared(fragment(kind)),
                None => {
                    kinds.sort();
                    Inferred::Mixed(kinds.into_iter().map(kind_name).collect())
                }
            };
            Some((key, inferred))
        })
        .collect()
}

fn fragment(kind: Kind) -> Value {
    match kind {
        Kind::Boolean => json!({"type": "boolean"}),
        Kind::Integer => json!({"type": "integer"}),
        Kind::Number => json!({"type": "number"}),
        Kind::Date => json!({"type": "string", "format": "date"}),
        Kind::DateTime => json!({"type": "string", "format": "date-time"}),
        Kind::String => json!({"type": "string"}),
        Kind::Array => json!({"type": "array"}),
        Kind::Object => json!({"type": "object"}),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Boolean => "boolean",
        Kind::Integer => "integer",
        Kind::Number => "number",
        Kind::Date => "date",
        Kind::DateTime => "date-time",
        Kind::String => "string",
        Kind::Array => "array",
        Kind::Object => "object",
    }
}

/// The entity schema (`base44/entities/<Name>.jsonc` content, as a JSON value) inferred from
/// `records`: `{"name", "type": "object", "properties": {…}}`. Mixed properties are left out (see the module's rules); get them
/// from [`infer_properties`] to report them.
pub fn infer_schema<'a>(
    name: &str,
    records: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Value {
    let mut properties = Map::new();
    for (key, inferred) in infer_properties(name, records) {
        if let Inferred::Declared(schema) = inferred {
            properties.insert(key, schema);
        }
    }
    json!({"name": name, "type": "object", "properties": properties})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base44::model::FieldType;
    use crate::base44::schema::parse_entity;

    fn records(values: Value) -> Vec<Map<String, Value>> {
        values
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_object().expect("object").clone())
            .collect()
    }

    #[test]
    fn infers_each_kind_and_skips_builtins() {
        let recs = records(json!([
            {"id": "a", "created_date": "2024-01-01T00:00:00Z", "created_by": "x@y.z",
             "title": "t", "done": true, "n": 3, "price": 2.5, "due": "2024-02-29",
             "at": "2024-02-29T10:00:00.000Z", "tags": ["a"], "meta": {"k": 1}, "gone": null},
            {"id": "b", "title": null, "n": 4.0, "price": 3, "due": "2024-03-01",
             "at": "2024-03-01T10:00:00+02:00"}
        ]));
        let schema = infer_schema("Task", &recs);
        assert_eq!(
            schema["properties"],
            json!({
                "title": {"type": "string"}, "done": {"type": "boolean"},
                "n": {"type": "integer"}, "price": {"type": "number"},
                "due": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array"}, "meta": {"type": "object"}
            })
        );
        // The result is a schema ferry reads back with the same types.
        let entity = parse_entity("Task.jsonc", &schema.to_string()).expect("parses");
        let ty = |name: &str| entity.field(name).map(|f| f.ty.clone());
        assert_eq!(ty("title"), Some(FieldType::String));
        assert_eq!(ty("due"), Some(FieldType::Date));
        assert_eq!(ty("at"), Some(FieldType::DateTime));
        assert_eq!(entity.fields.len(), 8);
    }

    #[test]
    fn mixed_kinds_widen_or_stay_undeclared() {
        let recs = records(json!([
            {"d": "2024-01-01", "s": "2024-01-01", "x": 1, "y": [1], "z": true},
            {"d": "2024-01-01T09:30:00Z", "s": "soon", "x": "one", "y": {"a": 1}, "z": 0}
        ]));
        // Properties come in name order (records are JSON objects, keys sorted).
        let props = infer_properties("E", &recs);
        assert_eq!(
            props[0].1,
            Inferred::Declared(json!({"type": "string", "format": "date-time"}))
        );
        assert_eq!(props[1].1, Inferred::Declared(json!({"type": "string"})));
        assert_eq!(props[2].1, Inferred::Mixed(vec!["integer", "string"]));
        assert_eq!(props[3].1, Inferred::Mixed(vec!["array", "object"]));
        assert_eq!(props[4].1, Inferred::Mixed(vec!["boolean", "integer"]));
        let schema = infer_schema("E", &recs);
        assert_eq!(
            schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["d".to_string(), "s".to_string()])
        );
    }

    #[test]
    fn user_keeps_only_custom_fields() {
        let recs = records(json!([
            {"id": "u1", "email": "a@b.c", "full_name": "A", "role": "admin",
             "password_hash": "x", "team": "blue"}
        ]));
        let schema = infer_schema("User", &recs);
        assert_eq!(schema["properties"], json!({"team": {"type": "string"}}));
    }
}

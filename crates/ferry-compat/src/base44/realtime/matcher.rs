//! A [`Filter`] evaluated in memory against one record as the API returns it: how a realtime
//! event is checked against a subscriber's read rule without going back to the database.
//!
//! The semantics are the SQL generator's (`query/sql/filter.rs`, the module docs of
//! [`crate::base44::query`]): typed columns (built-ins and declared scalar fields) compare
//! within their type, date-times as points in time; JSON values (array and object fields,
//! undeclared properties) also match through an array's elements; negations (`$ne`, `$nin`,
//! `$not`, `$nor`) are the complements of the positive forms. The tests compare this module
//! with SQLite on the same records and filters.
//!
//! A condition this module cannot decide (a regular expression that does not compile here)
//! makes the whole filter [`Undecided`], which a caller treats as "no match": an event is
//! never delivered on a guess.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::base44::model::{BUILTIN_FIELDS, Entity};
use crate::base44::query::{Cond, ElemMatch, FieldPath, Filter, Pattern, Scalar};
use crate::base44::time::parse_datetime;

/// The filter could not be evaluated in memory; treat the record as not matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecided;

/// Whether `record` (a JSON object as the API returns it) matches `filter` on `entity`.
pub fn matches(entity: &Entity, filter: &Filter, record: &Map<String, Value>) -> bool {
    eval(&Root::Entity(entity), filter, record) == Ok(true)
}

/// What a path is resolved against: the record of an entity, or an array element
/// (`$elemMatch` with a document filter), which is plain JSON.
enum Root<'a> {
    Entity(&'a Entity),
    Elem,
}

/// A resolved field: a typed column's value (NULL as `None`) or a JSON value (missing as
/// `None`).
enum Target<'a> {
    Typed(Scalar, Option<&'a Value>),
    Json(Option<&'a Value>),
}

fn eval(root: &Root, filter: &Filter, doc: &Map<String, Value>) -> Result<bool, Undecided> {
    match filter {
        Filter::And(parts) => {
            for part in parts {
                if !eval(root, part, doc)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Filter::Or(parts) => any_of(root, parts, doc),
        Filter::Nor(parts) => Ok(!any_of(root, parts, doc)?),
        Filter::Field(path, conds) => {
            let target = resolve(root, path, doc);
            for cond in conds {
                if !cond_holds(&target, cond)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Filter::Always => Ok(true),
        Filter::Never => Ok(false),
    }
}

fn any_of(root: &Root, parts: &[Filter], doc: &Map<String, Value>) -> Result<bool, Undecided> {
    for part in parts {
        if eval(root, part, doc)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn resolve<'a>(root: &Root, path: &FieldPath, doc: &'a Map<String, Value>) -> Target<'a> {
    let segments = path.segments();
    let Some((first, rest)) = segments.split_first() else {
        return Target::Json(None);
    };
    let entity = match root {
        Root::Elem => return Target::Json(descend(doc.get(first.as_str()), rest)),
        Root::Entity(entity) => entity,
    };
    let value = doc.get(first.as_str()).filter(|v| !v.is_null());
    if BUILTIN_FIELDS.contains(&first.as_str()) {
        if !rest.is_empty() {
            return Target::Json(None);
        }
        return Target::Typed(Scalar::of_builtin(first), value);
    }
    match entity.field(first) {
        Some(field) if field.ty.is_json() => Target::Json(descend(doc.get(first.as_str()), rest)),
        Some(_) if !rest.is_empty() => Target::Json(None),
        Some(field) => Target::Typed(Scalar::of_field(&field.ty), value),
        None => Target::Json(descend(doc.get(first.as_str()), rest)),
    }
}

/// Follows `rest` into objects (by key) and arrays (by an all-digit index).
fn descend<'a>(mut value: Option<&'a Value>, rest: &[String]) -> Option<&'a Value> {
    for segment in rest {
        value = match value? {
            Value::Object(map) => map.get(segment.as_str()),
            Value::Array(items) if segment.bytes().all(|b| b.is_ascii_digit()) => {
                segment.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
    }
    value
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

fn cond_holds(t: &Target, cond: &Cond) -> Result<bool, Undecided> {
    Ok(match cond {
        Cond::Eq(v) => positive(t, &[(Op::Eq, v)]),
        Cond::Ne(v) => !positive(t, &[(Op::Eq, v)]),
        Cond::Gt(v) => positive(t, &[(Op::Gt, v)]),
        Cond::Gte(v) => positive(t, &[(Op::Gte, v)]),
        Cond::Lt(v) => positive(t, &[(Op::Lt, v)]),
        Cond::Lte(v) => positive(t, &[(Op::Lte, v)]),
        Cond::In(vs) => positive(t, &vs.iter().map(|v| (Op::Eq, v)).collect::<Vec<_>>()),
        Cond::Nin(vs) => !positive(t, &vs.iter().map(|v| (Op::Eq, v)).collect::<Vec<_>>()),
        Cond::All(vs) => !vs.is_empty() && vs.iter().all(|v| positive(t, &[(Op::Eq, v)])),
        Cond::Exists(yes) => {
            let present = match t {
                Target::Typed(_, v) => v.is_some(),
                Target::Json(v) => v.is_some(),
            };
            present == *yes
        }
        Cond::Regex(p) => regex(t, p)?,
        Cond::Not(conds) => {
            let mut all = true;
            for c in conds {
                if !cond_holds(t, c)? {
                    all = false;
                    break;
                }
            }
            !all
        }
        Cond::Size(n) => match t {
            Target::Json(Some(Value::Array(items))) => items.len() as u64 == *n,
            _ => false,
        },
        Cond::ElemMatch(em) => match t {
            Target::Json(Some(Value::Array(items))) => {
                let mut found = false;
                for item in items {
                    if elem_matches(item, em)? {
                        found = true;
                        break;
                    }
                }
                found
            }
            _ => false,
        },
        Cond::Mod { divisor, remainder } => match t {
            Target::Typed(Scalar::Integer | Scalar::Number, Some(Value::Number(n))) => {
                modulo(n, *divisor) == Some(*remainder)
            }
            Target::Typed(..) => false,
            Target::Json(v) => json_any(*v, |x| match x {
                Some(Value::Number(n)) => modulo(n, *divisor) == Some(*remainder),
                _ => false,
            }),
        },
    })
}

fn elem_matches(item: &Value, em: &ElemMatch) -> Result<bool, Undecided> {
    match em {
        ElemMatch::Conds(conds) => {
            let target = Target::Json(Some(item));
            for c in conds {
                if !cond_holds(&target, c)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        ElemMatch::Filter(f) => match item {
            Value::Object(doc) => eval(&Root::Elem, f, doc),
            // A scalar element has no fields: each field is missing.
            _ => eval(&Root::Elem, f, &Map::new()),
        },
    }
}

fn modulo(n: &serde_json::Number, divisor: i64) -> Option<i64> {
    let value = match n.as_i64() {
        Some(i) => i,
        None => {
            let f = n.as_f64()?.trunc();
            if !f.is_finite() || f.abs() >= 9.0e18 {
                return None;
            }
            f as i64
        }
    };
    value.checked_rem(divisor)
}

/// The value itself or, on a JSON value that is an array, one of its elements satisfies `f`.
fn json_any(value: Option<&Value>, f: impl Fn(Option<&Value>) -> bool) -> bool {
    if f(value) {
        return true;
    }
    match value {
        Some(Value::Array(items)) => items.iter().any(|item| f(Some(item))),
        _ => false,
    }
}

/// The positive match of a target against comparisons (OR-ed).
fn positive(t: &Target, ops: &[(Op, &Value)]) -> bool {
    match t {
        Target::Typed(ty, value) => ops.iter().any(|(op, v)| typed(*ty, *value, *op, v)),
        Target::Json(value) => json_any(*value, |x| ops.iter().any(|(op, v)| json_cmp(x, *op, v))),
    }
}

/// A comparison on a typed column (`value` `None` is NULL).
fn typed(ty: Scalar, value: Option<&Value>, op: Op, v: &Value) -> bool {
    let Some(value) = value else {
        return v.is_null() && matches!(op, Op::Eq | Op::Gte | Op::Lte);
    };
    let ord = match (v, ty) {
        (Value::Null, _) => return false,
        (Value::String(s), Scalar::Text | Scalar::Date) => match value {
            Value::String(have) => have.as_bytes().cmp(s.as_bytes()),
            _ => return false,
        },
        (Value::String(s), Scalar::DateTime) => {
            match (value.as_str().and_then(parse_datetime), parse_datetime(s)) {
                (Some(have), Some(want)) => have.cmp(&want),
                _ => return false,
            }
        }
        (Value::Number(n), Scalar::Number | Scalar::Integer) => match value {
            Value::Number(have) => match num_cmp(have, n) {
                Some(o) => o,
                None => return false,
            },
            _ => return false,
        },
        (Value::Bool(b), Scalar::Boolean) => match value {
            Value::Bool(have) => have.cmp(b),
            _ => return false,
        },
        _ => return false,
    };
    holds(op, ord)
}

/// A comparison on one JSON value (`None` is missing).
fn json_cmp(value: Option<&Value>, op: Op, v: &Value) -> bool {
    let value = match (value, v) {
        (None | Some(Value::Null), Value::Null) => {
            return matches!(op, Op::Eq | Op::Gte | Op::Lte);
        }
        (_, Value::Null) | (None, _) => return false,
        (Some(value), _) => value,
    };
    let ord = match (value, v) {
        (Value::String(have), Value::String(want)) => have.as_bytes().cmp(want.as_bytes()),
        (Value::Number(have), Value::Number(want)) => match num_cmp(have, want) {
            Some(o) => o,
            None => return false,
        },
        (Value::Bool(have), Value::Bool(want)) => have.cmp(want),
        (
            have @ (Value::Array(_) | Value::Object(_)),
            want @ (Value::Array(_) | Value::Object(_)),
        ) => {
            return op == Op::Eq && have == want;
        }
        _ => return false,
    };
    holds(op, ord)
}

fn holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Gte => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Lte => ord != Ordering::Greater,
    }
}

fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn regex(t: &Target, p: &Pattern) -> Result<bool, Undecided> {
    let re = regex::RegexBuilder::new(p.rust())
        .size_limit(crate::base44::query::REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| Undecided)?;
    Ok(match t {
        Target::Typed(Scalar::Number | Scalar::Integer | Scalar::Boolean, _) => false,
        Target::Typed(_, Some(Value::String(s))) => re.is_match(s),
        Target::Typed(..) => false,
        Target::Json(v) => json_any(
            *v,
            |x| matches!(x, Some(Value::String(s)) if re.is_match(s)),
        ),
    })
}

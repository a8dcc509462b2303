//! Predicates on one JSON value: a comparison's bound operand ([`Prep`]) and its SQL on each
//! dialect, matching the value itself or, when it is an array, an element.

use serde_json::Value;

use super::filter::Op;
use super::generator::Gen;
use super::json_path::Json;
use super::{SqlValue, join, number};
use crate::base44::model::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Num,
    Bool,
    Doc,
}

/// A predicate on one JSON value, its parameters already bound.
#[derive(Debug, Clone)]
pub(super) enum Prep {
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

impl Gen<'_> {
    /// Binds the operand of one comparison against a JSON value.
    pub(super) fn prep(&mut self, op: Op, v: &Value) -> Prep {
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
    pub(super) fn any(&mut self, json: &Json, preps: &[Prep]) -> String {
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

//! Filters to SQL: the boolean expression of a [`Filter`] and of each field condition (typed
//! column comparisons, regular expressions, `$elemMatch`, `$size`, `$mod`…).

use serde_json::Value;

use super::generator::{Gen, Root, Scalar, Target};
use super::json_match::Prep;
use super::json_path::Json;
use super::{SqlValue, join, not, number};
use crate::base44::model::Dialect;
use crate::base44::query::pattern::Pattern;
use crate::base44::query::{Cond, ElemMatch, Filter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    pub(super) fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

impl Gen<'_> {
    pub(super) fn filter(&mut self, root: &Root, filter: &Filter) -> String {
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
}

//! Sorting: the ordering terms of a sort key (typed columns in their type; JSON values by type,
//! then value) and their `ORDER BY` text.

use super::generator::{Gen, Root, Scalar, Target};
use super::json_path::Json;
use crate::base44::query::SortKey;

impl Gen<'_> {
    pub(super) fn order_terms(&mut self, key: &SortKey, out: &mut Vec<String>) {
        for term in self.sort_terms(key) {
            out.push(term.order());
        }
    }

    /// The ordering terms of one sort key, each with its direction (NULLs first ascending,
    /// last descending) and the PostgreSQL type its value compares as.
    pub(super) fn sort_terms(&mut self, key: &SortKey) -> Vec<Term> {
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
pub(super) struct Term {
    pub(super) expr: String,
    pub(super) desc: bool,
    pub(super) pg_ty: &'static str,
    pub(super) collate: bool,
}

impl Term {
    pub(super) fn sorted(&self) -> String {
        if self.collate {
            format!("{} COLLATE \"C\"", self.expr)
        } else {
            self.expr.clone()
        }
    }

    pub(super) fn order(&self) -> String {
        let dir = if self.desc {
            "DESC NULLS LAST"
        } else {
            "ASC NULLS FIRST"
        };
        format!("{} {dir}", self.sorted())
    }
}

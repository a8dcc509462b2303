//! JSON values in SQL: the [`Json`] expression forms of both dialects and the paths into JSON
//! columns and values (`#> ARRAY[…]` on PostgreSQL, `json_extract` paths on SQLite), always
//! bound as parameters.

use super::SqlValue;
use super::generator::{Gen, Target};
use crate::base44::model::Dialect;

/// A JSON value in SQL: on PostgreSQL a `jsonb` expression (SQL NULL when missing); on SQLite
/// its SQL value (`json_extract` form), its `json_type` (NULL when missing) and the arguments
/// of `json_each`/`json_array_length` over it.
#[derive(Debug, Clone)]
pub(super) enum Json {
    Pg(String),
    Lite {
        value: String,
        ty: String,
        arr: String,
    },
}

impl Gen<'_> {
    /// A path under a scalar field, which never exists.
    pub(super) fn missing(&self) -> Target {
        Target::Json(match self.dialect {
            Dialect::Postgres => Json::Pg("NULL::jsonb".into()),
            Dialect::Sqlite => Json::Lite {
                value: "NULL".into(),
                ty: "NULL".into(),
                arr: "NULL".into(),
            },
        })
    }

    pub(super) fn json_column(&mut self, column: &str, path: &[String]) -> Json {
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

    pub(super) fn descend(&mut self, json: &Json, path: &[String]) -> Json {
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

//! The SQL generator [`Gen`]: the statement's parameters, placeholders and aliases, the types
//! a field path resolves to, and the resolution itself (a typed column or a JSON value).

use super::json_path::Json;
use super::{MAX_PARAMS, SqlValue, ident};
use crate::base44::model::{BUILTIN_FIELDS, Dialect, EXTRA_COLUMN, Entity, FieldType};
use crate::base44::query::FieldPath;
use crate::base44::query::error::{QueryError, QueryErrorKind};

/// The SQL type class of a typed (non-JSON) column; also what the realtime matcher compares
/// a record's typed values as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Text,
    Date,
    DateTime,
    Number,
    Integer,
    Boolean,
}

impl Scalar {
    /// The class of a built-in field (`BUILTIN_FIELDS`): the dates are date-times, the rest
    /// text.
    pub(crate) fn of_builtin(name: &str) -> Self {
        match name {
            "created_date" | "updated_date" => Scalar::DateTime,
            _ => Scalar::Text,
        }
    }

    /// The class of a typed field's column.
    pub(crate) fn of_field(ty: &FieldType) -> Self {
        match ty {
            FieldType::String | FieldType::Enum(_) => Scalar::Text,
            FieldType::Date => Scalar::Date,
            FieldType::DateTime => Scalar::DateTime,
            FieldType::Number => Scalar::Number,
            FieldType::Integer => Scalar::Integer,
            FieldType::Boolean | FieldType::Array | FieldType::Object => Scalar::Boolean,
        }
    }
}

/// What a field path resolves to.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Typed { expr: String, ty: Scalar },
    Json(Json),
}

/// What field paths are relative to: the record, or an array element inside `$elemMatch`.
pub(super) enum Root {
    Entity,
    Elem(Json),
}

/// Writes the SQL of one statement over one entity, binding its values in `params`.
pub(super) struct Gen<'a> {
    entity: &'a Entity,
    pub(super) dialect: Dialect,
    params: &'a mut Vec<SqlValue>,
    aliases: usize,
}

impl<'a> Gen<'a> {
    pub(super) fn new(
        entity: &'a Entity,
        dialect: Dialect,
        params: &'a mut Vec<SqlValue>,
    ) -> Gen<'a> {
        Gen {
            entity,
            dialect,
            params,
            aliases: 0,
        }
    }

    pub(super) fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    pub(super) fn check(&self) -> Result<(), QueryError> {
        if self.params.len() > MAX_PARAMS {
            return Err(QueryError::new(
                QueryErrorKind::TooLarge,
                format!("the query needs more than {MAX_PARAMS} parameters"),
            ));
        }
        Ok(())
    }

    /// Binds a value; returns its placeholder (typed on PostgreSQL).
    pub(super) fn bind(&mut self, value: SqlValue) -> String {
        let ty = value.postgres_type();
        self.params.push(value);
        let n = self.params.len();
        match self.dialect {
            Dialect::Postgres => format!("${n}::{ty}"),
            Dialect::Sqlite => format!("?{n}"),
        }
    }

    pub(super) fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("e{}", self.aliases)
    }

    // ---- field resolution -------------------------------------------------------------

    pub(super) fn resolve(&mut self, root: &Root, path: &FieldPath) -> Target {
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
                Target::Typed {
                    expr: ident(first),
                    ty: Scalar::of_builtin(first),
                }
            }
            Root::Entity => match entity.field(first) {
                Some(field) if field.ty.is_json() => {
                    Target::Json(self.json_column(&ident(&field.column), rest))
                }
                Some(_) if !rest.is_empty() => self.missing(),
                Some(field) => Target::Typed {
                    expr: ident(&field.column),
                    ty: Scalar::of_field(&field.ty),
                },
                None => Target::Json(self.json_column(&ident(EXTRA_COLUMN), segments)),
            },
        }
    }
}

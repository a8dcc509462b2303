//! `CREATE TABLE` / `CREATE INDEX` statements for an entity, in either dialect.

use serde_json::Value;

use super::naming::{fitted, literal, quote};
use crate::base44::model::{Dialect, EXTRA_COLUMN, Entity, Field, FieldType, USER_ENTITY};

/// SQLite's ISO-8601 UTC "now" with milliseconds (`2025-01-31T12:00:00.000Z`).
const SQLITE_NOW: &str = "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))";

/// The statements creating `entity`'s table and its indexes (all `IF NOT EXISTS`, so running
/// them twice is harmless). Column order: the built-ins, the fields, for `User` the private
/// columns, then `extra`.
pub fn create_table_sql(entity: &Entity, dialect: Dialect) -> Vec<String> {
    let pg = dialect == Dialect::Postgres;
    let (text, now, ts) = if pg {
        ("text", "now()", "timestamptz")
    } else {
        ("TEXT", SQLITE_NOW, "TEXT")
    };
    let mut columns = vec![
        format!("\"id\" {text} PRIMARY KEY NOT NULL"),
        format!("\"created_date\" {ts} NOT NULL DEFAULT {now}"),
        format!("\"updated_date\" {ts} NOT NULL DEFAULT {now}"),
        format!("\"created_by\" {text}"),
        format!("\"created_by_id\" {text}"),
    ];
    for field in &entity.fields {
        columns.push(column_sql(entity, field, dialect));
    }
    if is_user(entity) {
        columns.push(format!("\"password_hash\" {text}"));
        columns.push(if pg {
            "\"email_verified\" boolean NOT NULL DEFAULT false".into()
        } else {
            "\"email_verified\" INTEGER NOT NULL DEFAULT 0 CHECK (\"email_verified\" IN (0, 1))"
                .into()
        });
    }
    let extra = quote(EXTRA_COLUMN);
    columns.push(if pg {
        format!("{extra} jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof({extra}) = 'object')")
    } else {
        format!(
            "{extra} TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid({extra}) AND json_type({extra}) = 'object')"
        )
    });
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n){}",
        quote(&entity.table),
        columns.join(",\n  "),
        if pg { "" } else { " STRICT" }
    )];
    out.extend(index_sql(entity, dialect));
    out
}

fn is_user(entity: &Entity) -> bool {
    entity.name == USER_ENTITY
}

/// Whether `field` is one of `User`'s own fields, whose columns are fixed.
fn is_user_base(entity: &Entity, field: &Field) -> bool {
    is_user(entity) && matches!(field.name.as_str(), "email" | "full_name" | "role")
}

/// The SQL type of a field's column.
pub fn column_type(ty: &FieldType, dialect: Dialect) -> &'static str {
    match (dialect, ty) {
        (Dialect::Postgres, FieldType::String | FieldType::Enum(_)) => "text",
        (Dialect::Postgres, FieldType::Date) => "date",
        (Dialect::Postgres, FieldType::DateTime) => "timestamptz",
        (Dialect::Postgres, FieldType::Number) => "double precision",
        (Dialect::Postgres, FieldType::Integer) => "bigint",
        (Dialect::Postgres, FieldType::Boolean) => "boolean",
        (Dialect::Postgres, FieldType::Array | FieldType::Object) => "jsonb",
        (
            Dialect::Sqlite,
            FieldType::String
            | FieldType::Enum(_)
            | FieldType::Date
            | FieldType::DateTime
            | FieldType::Array
            | FieldType::Object,
        ) => "TEXT",
        (Dialect::Sqlite, FieldType::Number) => "REAL",
        (Dialect::Sqlite, FieldType::Integer | FieldType::Boolean) => "INTEGER",
    }
}

/// One column definition (usable in `CREATE TABLE` and `ALTER TABLE … ADD COLUMN`).
pub(crate) fn column_sql(entity: &Entity, field: &Field, dialect: Dialect) -> String {
    let pg = dialect == Dialect::Postgres;
    let col = quote(&field.column);
    let ty = column_type(&field.ty, dialect);
    if is_user_base(entity, field) {
        return match field.name.as_str() {
            "email" => format!("{col} {ty} NOT NULL"),
            "role" => {
                format!("{col} {ty} NOT NULL DEFAULT 'user' CHECK ({col} IN ('admin', 'user'))")
            }
            _ => format!("{col} {ty}"),
        };
    }
    match &field.ty {
        FieldType::Boolean if !pg => format!("{col} {ty} CHECK ({col} IN (0, 1))"),
        FieldType::Array | FieldType::Object if !pg => {
            format!("{col} {ty} CHECK (json_valid({col}))")
        }
        FieldType::Enum(values) if pg => format!(
            "{col} {ty} CONSTRAINT {} {}",
            quote(&enum_check_name(&field.column)),
            enum_check(&field.column, values)
        ),
        _ => format!("{col} {ty}"),
    }
}

/// The name of the Postgres CHECK constraint holding a column's enum values (unique per
/// table, which is all Postgres asks of a constraint name).
pub fn enum_check_name(column: &str) -> String {
    fitted(column, "_enum")
}

/// `CHECK ("col" IN ('a', 'b'))`.
pub(crate) fn enum_check(column: &str, values: &[String]) -> String {
    let values: Vec<String> = values.iter().map(|v| literal(v)).collect();
    format!("CHECK ({} IN ({}))", quote(column), values.join(", "))
}

/// The name of the index of `column` in `table`: `<table>__<column>_idx`, shortened with a
/// hash past 63 bytes. Table names never hold `__`, so names of different pairs differ.
pub fn index_name(table: &str, column: &str) -> String {
    fitted(&format!("{table}__{column}"), "_idx")
}

/// The most declared fields of one entity that get an ordering index (see [`sort_fields`]).
pub const MAX_SORT_INDEXES: usize = 16;

/// The declared fields lists are typically sorted by, which get an index each: dates and
/// date-times, in declaration order, at most [`MAX_SORT_INDEXES`]. Numbers, free text, enums,
/// booleans and JSON fields get none: an index on a range-filtered number tempts a planner
/// without statistics (SQLite's) away from the caller's `(rls field, order)` index into
/// sorting every match, and low-cardinality fields rarely beat it. An owner adds their own:
/// the tables are plain SQL.
pub fn sort_fields(entity: &Entity) -> Vec<&Field> {
    entity
        .fields
        .iter()
        .filter(|f| {
            matches!(f.ty, FieldType::Date | FieldType::DateTime) && !is_user_base(entity, f)
        })
        .take(MAX_SORT_INDEXES)
        .collect()
}

/// How many of an entity's `rls` fields, and of its ordering columns, are combined into
/// two-column indexes (see [`index_sql`]).
const MAX_RLS_ORDER_FIELDS: usize = 2;
const MAX_ORDER_COLUMNS: usize = 8;

/// The entity's indexes: `created_date`, `created_by`, `created_by_id`, each non-JSON field
/// its `rls` names, each of [`sort_fields`]; then, so a signed-in caller's newest-first page
/// reads only its own rows in order, one `(rls field, ordering column)` index for the first
/// two `rls` fields × `created_date`, `updated_date` and the first six sort fields; then for
/// `User` the case-insensitive unique `lower(email)`. Ordering columns are indexed
/// `NULLS FIRST` on PostgreSQL, so `ASC NULLS FIRST` and, read
/// backwards, `DESC NULLS LAST` — the API's orders — come straight from the index; SQLite's
/// own NULL order already matches.
pub(crate) fn index_sql(entity: &Entity, dialect: Dialect) -> Vec<String> {
    let pg = dialect == Dialect::Postgres;
    let table = quote(&entity.table);
    let mut columns: Vec<String> = ["created_date", "created_by", "created_by_id"]
        .map(String::from)
        .into();
    // The record columns the rules compare: the owner built-ins first (the common rule is
    // `{"created_by": "{{user.email}}"}`), then declared fields.
    let mut rls_columns: Vec<String> = ["created_by", "created_by_id"]
        .into_iter()
        .filter(|b| rls_mentions(entity, b))
        .map(String::from)
        .collect();
    for name in rls_fields(entity) {
        if let Some(field) = entity.field(&name)
            && !field.ty.is_json()
        {
            if !columns.contains(&field.column) {
                columns.push(field.column.clone());
            }
            rls_columns.push(field.column.clone());
        }
    }
    let sorted = sort_fields(entity);
    for field in &sorted {
        if !columns.contains(&field.column) {
            columns.push(field.column.clone());
        }
    }
    // The ordering columns (none of them text) and their index keys.
    let ordered: Vec<(String, String)> = ["created_date", "updated_date"]
        .iter()
        .map(|c| (*c).to_owned())
        .chain(sorted.iter().map(|f| f.column.clone()))
        .take(MAX_ORDER_COLUMNS)
        .map(|column| {
            let key = if pg {
                format!("{} NULLS FIRST", quote(&column))
            } else {
                quote(&column)
            };
            (column, key)
        })
        .collect();
    let mut out: Vec<String> = columns
        .iter()
        .map(|column| {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({})",
                quote(&index_name(&entity.table, column)),
                quote(column)
            )
        })
        .collect();
    if pg {
        for (column, key) in &ordered {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({key})",
                quote(&fitted(&format!("{}__{column}", entity.table), "_ord")),
            ));
        }
    }
    for rls in rls_columns.iter().take(MAX_RLS_ORDER_FIELDS) {
        for (column, key) in &ordered {
            if column == rls {
                continue;
            }
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({}, {key})",
                quote(&fitted(
                    &format!("{}__{rls}__{column}", entity.table),
                    "_ix2"
                )),
                quote(rls),
            ));
        }
    }
    if is_user(entity) && entity.field("email").is_some() {
        out.push(format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {table} (lower(\"email\"))",
            quote(&fitted(&format!("{}__email", entity.table), "_lower_key"))
        ));
    }
    out
}

/// Whether the entity's `rls` conditions compare the record key `key` (also as `data.key`),
/// outside `user_condition`.
fn rls_mentions(entity: &Entity, key: &str) -> bool {
    fn walk(value: &Value, key: &str) -> bool {
        match value {
            Value::Object(map) => map.iter().any(|(k, v)| {
                k != "user_condition"
                    && (k.strip_prefix("data.").unwrap_or(k) == key || walk(v, key))
            }),
            Value::Array(items) => items.iter().any(|v| walk(v, key)),
            _ => false,
        }
    }
    entity.rls.as_ref().is_some_and(|r| walk(r, key))
}

/// The declared fields an entity's `rls` conditions compare (`{"tenant_id": "{{user.…}}"}`,
/// also as `data.tenant_id`, inside `$or`/`$and`/`$nor`/`$not`), in order of first mention.
/// `user_condition` objects are skipped: they test the user, not the record.
pub fn rls_fields(entity: &Entity) -> Vec<String> {
    fn walk(value: &Value, entity: &Entity, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "user_condition" {
                        continue;
                    }
                    let name = key.strip_prefix("data.").unwrap_or(key);
                    if !key.starts_with('$')
                        && entity.field(name).is_some()
                        && !out.iter().any(|n| n == name)
                    {
                        out.push(name.to_string());
                    }
                    walk(value, entity, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, entity, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(rls) = &entity.rls {
        walk(rls, entity, &mut out);
    }
    out
}

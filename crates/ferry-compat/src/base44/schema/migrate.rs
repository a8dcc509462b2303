//! Additive migrations, and `_ferry_entities`: what was applied, so the next deploy diffs
//! against the database rather than against the previous source.

use std::collections::{BTreeMap, BTreeSet};
use std::mem::discriminant;

use serde::{Deserialize, Serialize};

use super::ddl::{column_sql, create_table_sql, enum_check, enum_check_name, index_sql};
use super::error::SchemaError;
use super::naming::{Taken, literal, quote};
use crate::base44::model::{Dialect, Entity, Field, FieldType, USER_ENTITY};

/// The metadata table: one row per applied entity.
pub const APPLIED_TABLE: &str = "_ferry_entities";

/// The version of the [`Applied`] JSON written to `_ferry_entities.schema`. Format 1 was
/// written before the ordering indexes existed: an entity applied in it gets every index of
/// today's rules at its next deploy; format 2 records that it has them.
pub const APPLIED_FORMAT: u32 = 2;

/// An entity as applied to a database: the JSON in `_ferry_entities.schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// [`APPLIED_FORMAT`] when written.
    pub format: u32,
    /// The entity as last deployed, with the columns its table really has. The API layer
    /// should serve from this, not from a fresh parse of the source.
    pub entity: Entity,
    /// Fields a later schema removed. Their columns stay (data is never dropped); a field of
    /// the same name and type added back gets its column, and its data, back.
    #[serde(default)]
    pub retired: Vec<Field>,
    /// Per enum column, the values its Postgres CHECK allows: every value ever declared, so
    /// rows written under an earlier schema stay valid (values are only ever added).
    #[serde(default)]
    pub enum_checks: BTreeMap<String, Vec<String>>,
}

impl Applied {
    /// The state right after [`create_table_sql`] ran for `entity`.
    pub fn new(entity: Entity) -> Applied {
        let enum_checks = entity
            .fields
            .iter()
            .filter(|f| !is_user_base(&entity, f))
            .filter_map(|f| match &f.ty {
                FieldType::Enum(values) => Some((f.column.clone(), values.clone())),
                _ => None,
            })
            .collect();
        Applied {
            format: APPLIED_FORMAT,
            entity,
            retired: Vec::new(),
            enum_checks,
        }
    }
}

fn is_user_base(entity: &Entity, field: &Field) -> bool {
    entity.name == USER_ENTITY && matches!(field.name.as_str(), "email" | "full_name" | "role")
}

/// A migration of one entity: the statements to run, then the state to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// DDL, in order (empty when nothing changed).
    pub statements: Vec<String>,
    /// What to record in `_ferry_entities` once the statements ran.
    pub applied: Applied,
}

/// The name of a field type in messages and in `expected.toml`.
pub fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Date => "date",
        FieldType::DateTime => "date-time",
        FieldType::Number => "number",
        FieldType::Integer => "integer",
        FieldType::Boolean => "boolean",
        FieldType::Enum(_) => "enum",
        FieldType::Array => "array",
        FieldType::Object => "object",
    }
}

/// Plans the additive migration from what was applied (`None`: nothing yet) to `new`:
/// the table name and the columns of known fields are kept from `applied`; new fields get
/// columns free of every existing one (removed fields' included); new indexes are created;
/// on Postgres an enum CHECK is widened with new values. A field whose type changed is
/// refused ([`SchemaError::TypeChanged`]); a removed field only moves to [`Applied::retired`].
pub fn plan_migration(
    applied: Option<&Applied>,
    mut new: Entity,
    dialect: Dialect,
) -> Result<Plan, SchemaError> {
    let Some(applied) = applied else {
        let statements = create_table_sql(&new, dialect);
        return Ok(Plan {
            statements,
            applied: Applied::new(new),
        });
    };
    let old = &applied.entity;
    new.table.clone_from(&old.table);
    let user = new.name == USER_ENTITY;
    let mut taken = Taken::for_table(user);
    for field in old.fields.iter().chain(&applied.retired) {
        taken.insert(&field.column);
    }
    let mut retired: Vec<Field> = applied.retired.clone();
    let mut enum_checks = applied.enum_checks.clone();
    let mut add_columns = Vec::new();
    let mut widen = Vec::new();
    for field in &mut new.fields {
        let known = old.field(&field.name).cloned().or_else(|| {
            let at = retired.iter().position(|r| r.name == field.name)?;
            Some(retired.remove(at))
        });
        match known {
            Some(known) => {
                if discriminant(&known.ty) != discriminant(&field.ty) {
                    return Err(SchemaError::TypeChanged {
                        entity: new.name.clone(),
                        field: field.name.clone(),
                        old: type_name(&known.ty),
                        new: type_name(&field.ty),
                    });
                }
                field.column = known.column;
            }
            None => {
                field.column = taken.keep_or_assign(&field.column, &field.name);
                add_columns.push(field.clone());
            }
        }
        if let FieldType::Enum(values) = &field.ty
            && !(user && matches!(field.name.as_str(), "email" | "full_name" | "role"))
        {
            let allowed = enum_checks.entry(field.column.clone()).or_default();
            let before = allowed.len();
            for value in values {
                if !allowed.contains(value) {
                    allowed.push(value.clone());
                }
            }
            let is_new = add_columns.iter().any(|f| f.column == field.column);
            if allowed.len() != before && !is_new {
                widen.push((field.column.clone(), allowed.clone()));
            }
        }
    }
    for field in &old.fields {
        if new.field(&field.name).is_none() {
            retired.push(field.clone());
        }
    }

    let table = quote(&new.table);
    let mut statements = Vec::new();
    for field in &add_columns {
        let column = column_sql(&new, field, dialect);
        if dialect == Dialect::Postgres {
            statements.push(format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}"
            ));
        } else {
            statements.push(format!("ALTER TABLE {table} ADD COLUMN {column}"));
        }
    }
    if dialect == Dialect::Postgres {
        for (column, allowed) in &widen {
            let name = quote(&enum_check_name(column));
            statements.push(format!(
                "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"
            ));
            statements.push(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {}",
                enum_check(column, allowed)
            ));
        }
    }
    if applied.format < APPLIED_FORMAT {
        // Applied before today's index rules: make every index (`IF NOT EXISTS`).
        statements.extend(index_sql(&new, dialect));
    } else {
        let existing: BTreeSet<String> = index_sql(old, dialect).into_iter().collect();
        statements.extend(
            index_sql(&new, dialect)
                .into_iter()
                .filter(|s| !existing.contains(s)),
        );
    }
    Ok(Plan {
        statements,
        applied: Applied {
            format: APPLIED_FORMAT,
            entity: new,
            retired,
            enum_checks,
        },
    })
}

/// The additive migration from `old` (`None`: no table yet) to `new`, as statements; see
/// [`plan_migration`], which a deploy should use since it also tracks removed fields and enum
/// history. Fails with [`SchemaError::ColumnMoved`] when `new` puts a known field in another
/// column than `old` (possible when a new property differs from a known one only in case);
/// `plan_migration` resolves that by keeping the old column.
pub fn migrate_sql(
    old: Option<&Entity>,
    new: &Entity,
    dialect: Dialect,
) -> Result<Vec<String>, SchemaError> {
    let applied = old.map(|old| Applied::new(old.clone()));
    let plan = plan_migration(applied.as_ref(), new.clone(), dialect)?;
    if plan.applied.entity.table != new.table {
        return Err(SchemaError::ColumnMoved {
            entity: new.name.clone(),
            what: "the table".into(),
            old: plan.applied.entity.table,
            new: new.table.clone(),
        });
    }
    for (planned, field) in plan.applied.entity.fields.iter().zip(&new.fields) {
        if planned.column != field.column {
            return Err(SchemaError::ColumnMoved {
                entity: new.name.clone(),
                what: format!("field `{}`", field.name),
                old: planned.column.clone(),
                new: field.column.clone(),
            });
        }
    }
    Ok(plan.statements)
}

/// The statement creating `_ferry_entities(name, table_name, schema, updated_at)` if missing.
pub fn schema_version_sql(dialect: Dialect) -> String {
    let (json, ts, now) = match dialect {
        Dialect::Postgres => ("jsonb", "timestamptz", "now()"),
        Dialect::Sqlite => (
            "TEXT CHECK (json_valid(\"schema\"))",
            "TEXT",
            "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        ),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  \"name\" TEXT PRIMARY KEY NOT NULL,\n  \"table_name\" TEXT NOT NULL UNIQUE,\n  \"schema\" {json} NOT NULL,\n  \"updated_at\" {ts} NOT NULL DEFAULT {now}\n)",
        quote(APPLIED_TABLE)
    )
}

/// The query reading every applied entity: rows of (`name`, `schema` as JSON text), by name;
/// decode each with [`decode_applied`].
pub fn applied_select_sql(dialect: Dialect) -> String {
    let schema = match dialect {
        Dialect::Postgres => "\"schema\"::text",
        Dialect::Sqlite => "\"schema\"",
    };
    format!(
        "SELECT \"name\", {schema} FROM {} ORDER BY \"name\"",
        quote(APPLIED_TABLE)
    )
}

/// Decodes one `_ferry_entities.schema` value.
pub fn decode_applied(name: &str, json: &str) -> Result<Applied, SchemaError> {
    let invalid = |detail: String| SchemaError::InvalidApplied {
        entity: name.to_string(),
        detail,
    };
    let applied: Applied = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    if applied.format == 0 || applied.format > APPLIED_FORMAT {
        return Err(invalid(format!(
            "format {} (this ferry reads format {APPLIED_FORMAT})",
            applied.format
        )));
    }
    if applied.entity.name != name {
        return Err(invalid(format!(
            "it describes entity `{}`",
            applied.entity.name
        )));
    }
    Ok(applied)
}

/// The upsert recording `applied` in `_ferry_entities` (values inlined as literals).
pub fn record_applied_sql(applied: &Applied, dialect: Dialect) -> Result<String, SchemaError> {
    let json = serde_json::to_string(applied).map_err(|e| SchemaError::InvalidApplied {
        entity: applied.entity.name.clone(),
        detail: e.to_string(),
    })?;
    let now = match dialect {
        Dialect::Postgres => "now()",
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ','now')",
    };
    Ok(format!(
        "INSERT INTO {} (\"name\", \"table_name\", \"schema\", \"updated_at\") VALUES ({}, {}, {}, {now}) \
         ON CONFLICT (\"name\") DO UPDATE SET \"table_name\" = excluded.\"table_name\", \
         \"schema\" = excluded.\"schema\", \"updated_at\" = excluded.\"updated_at\"",
        quote(APPLIED_TABLE),
        literal(&applied.entity.name),
        literal(&applied.entity.table),
        literal(&json),
    ))
}

/// A whole deploy: every statement to run, in one transaction, and the resulting states.
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    /// `_ferry_entities` creation, each entity's DDL, then the records of changed entities.
    pub statements: Vec<String>,
    /// The applied state of every entity of the deploy, by name.
    pub applied: Vec<Applied>,
}

/// Plans a deploy of `entities` over what `_ferry_entities` holds (`applied`, from
/// [`applied_select_sql`] + [`decode_applied`]; empty on a fresh database). Entities missing
/// from `entities` keep their tables and rows. A new entity whose table an applied entity of
/// another name already uses is refused ([`SchemaError::DuplicateTable`]).
pub fn plan_deploy(
    applied: &[Applied],
    entities: Vec<Entity>,
    dialect: Dialect,
) -> Result<Deploy, SchemaError> {
    let mut statements = vec![schema_version_sql(dialect)];
    let mut records = Vec::new();
    let mut states: Vec<Applied> = Vec::new();
    for entity in entities {
        if let Some(twin) = states.iter().find(|s| s.entity.table == entity.table) {
            return Err(SchemaError::DuplicateTable {
                table: entity.table,
                first: format!("entity {}", twin.entity.name),
                second: format!("entity {}", entity.name),
            });
        }
        let previous = applied.iter().find(|a| a.entity.name == entity.name);
        if previous.is_none()
            && let Some(owner) = applied.iter().find(|a| a.entity.table == entity.table)
        {
            return Err(SchemaError::DuplicateTable {
                table: entity.table,
                first: format!("applied entity {}", owner.entity.name),
                second: format!("entity {}", entity.name),
            });
        }
        let plan = plan_migration(previous, entity, dialect)?;
        statements.extend(plan.statements);
        if previous != Some(&plan.applied) {
            records.push(record_applied_sql(&plan.applied, dialect)?);
        }
        states.push(plan.applied);
    }
    statements.extend(records);
    Ok(Deploy {
        statements,
        applied: states,
    })
}

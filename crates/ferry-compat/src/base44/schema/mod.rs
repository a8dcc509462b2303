//! Base44 entity schemas (`base44/entities/*.jsonc`) as owned SQL tables: parsing
//! ([`parse_entity`], [`load_entities`]), DDL ([`create_table_sql`]) and additive migrations
//! recorded in `_ferry_entities` ([`plan_deploy`], [`plan_migration`], [`migrate_sql`]).
//! The rules (type mapping, table and column names, what a migration may do) are in
//! `docs/base44.md`, section "Schema".

mod ddl;
mod error;
mod infer;
mod jsonc;
mod migrate;
mod naming;
mod parse;

pub use ddl::{
    MAX_SORT_INDEXES, column_type, create_table_sql, enum_check_name, index_name, rls_fields,
    sort_fields,
};
pub use error::SchemaError;
pub use infer::{Inferred, infer_properties, infer_schema};
pub use migrate::{
    APPLIED_FORMAT, APPLIED_TABLE, Applied, Deploy, Plan, applied_select_sql, decode_applied,
    migrate_sql, plan_deploy, plan_migration, record_applied_sql, schema_version_sql, type_name,
};
pub use naming::{is_safe_identifier, table_name};
pub use parse::{builtin_user, load_entities, parse_entities, parse_entity};

/// The largest entity schema file read, in bytes (1 MiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The most entity schema files a folder may hold.
pub const MAX_ENTITIES: usize = 500;

/// The most properties one entity may declare.
pub const MAX_FIELDS: usize = 500;

/// The deepest nesting of objects and arrays in a schema file (the document itself is 1).
pub const MAX_DEPTH: usize = 32;

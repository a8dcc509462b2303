//! What a Postgres database holds, as read from its catalog: the model every target and the
//! verifier work from.

use serde::{Deserialize, Serialize};

/// How a column's values are carried and compared (the base type for domains).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "of")]
pub enum ValueKind {
    /// `boolean`.
    Bool,
    /// `smallint`, `integer`, `bigint` (and `oid`).
    Int,
    /// `real`, `double precision`.
    Float,
    /// `numeric`/`decimal`: exact text.
    Numeric,
    /// `text`, `varchar`, `char`, `name`, `citext`.
    Text,
    /// `uuid`.
    Uuid,
    /// `json` (text kept as written).
    Json,
    /// `jsonb` (normalised text).
    Jsonb,
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `timestamp without time zone`.
    Timestamp,
    /// `timestamp with time zone`.
    TimestampTz,
    /// An enum type: its label.
    Enum,
    /// An array of any element kind.
    Array(Box<ValueKind>),
    /// Anything else with a text form (time, interval, inet, ranges of built-ins…).
    Other,
}

/// One column of a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// `format_type` of the column (`numeric(30,10)`, `public.todo_status[]`…).
    pub sql_type: String,
    /// How values are carried.
    pub kind: ValueKind,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The default expression, when not an identity or generated column.
    pub default: Option<String>,
    /// `a` (always) or `d` (by default) for identity columns.
    pub identity: Option<char>,
    /// The expression of a `GENERATED ALWAYS AS (…) STORED` column (not copied: the target
    /// computes it).
    pub generated: Option<String>,
    /// Whether the binary COPY format of this column embeds type OIDs that differ between
    /// databases (arrays of user types, composites): such tables are copied as text.
    pub oid_bound: bool,
}

impl Column {
    /// Whether the column's values travel in a copy (generated columns do not).
    pub fn copied(&self) -> bool {
        self.generated.is_none()
    }
}

/// A table constraint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Constraint {
    /// Constraint name.
    pub name: String,
    /// `p`, `u`, `c`, `f` or `x`.
    pub kind: char,
    /// `pg_get_constraintdef`.
    pub definition: String,
    /// For foreign keys: the referenced table (`schema.table`).
    pub references: Option<QualifiedName>,
    /// The constrained columns, in order.
    pub columns: Vec<String>,
    /// For foreign keys: the referenced columns, in order.
    pub ref_columns: Vec<String>,
    /// For foreign keys: `ON DELETE` / `ON UPDATE` actions (`NO ACTION`, `CASCADE`, `SET NULL`,
    /// `SET DEFAULT`, `RESTRICT`).
    pub on_delete: String,
    /// See `on_delete`.
    pub on_update: String,
    /// For primary and unique keys: the backing index (name, `pg_get_indexdef`), built in
    /// parallel with the other indexes and then attached.
    pub index: Option<(String, String)>,
}

/// An index that is not the backing index of a primary key or unique constraint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// `pg_get_indexdef`.
    pub definition: String,
    /// Whether it is unique.
    pub unique: bool,
    /// The indexed columns, when all are plain columns (for targets that rebuild the index).
    pub columns: Vec<String>,
}

/// A row-level security policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Permissive (true) or restrictive.
    pub permissive: bool,
    /// Role names (`public` for everyone).
    pub roles: Vec<String>,
    /// `USING (…)` expression.
    pub using: Option<String>,
    /// `WITH CHECK (…)` expression.
    pub with_check: Option<String>,
}

/// A privilege granted to a role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// The role (`PUBLIC` for everyone).
    pub grantee: String,
    /// `SELECT`, `INSERT`, `USAGE`…
    pub privilege: String,
}

/// A schema-qualified name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedName {
    /// Schema.
    pub schema: String,
    /// Name inside the schema.
    pub name: String,
}

impl QualifiedName {
    /// Builds a name.
    pub fn new(schema: &str, name: &str) -> Self {
        Self {
            schema: schema.to_string(),
            name: name.to_string(),
        }
    }

    /// `"schema"."name"`, quoted for SQL.
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A table with everything needed to recreate and copy it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// Its name.
    pub name: QualifiedName,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
    /// Primary key columns (empty when there is none).
    pub primary_key: Vec<String>,
    /// Columns of the first unique constraint on NOT NULL columns, used as the key when there
    /// is no primary key.
    pub unique_key: Vec<String>,
    /// Constraints (primary, unique, check, foreign, exclusion).
    pub constraints: Vec<Constraint>,
    /// Other indexes.
    pub indexes: Vec<Index>,
    /// Row-level security enabled / forced.
    pub rls: (bool, bool),
    /// Policies.
    pub policies: Vec<Policy>,
    /// Grants to the roles ferry carries over.
    pub grants: Vec<Grant>,
    /// Triggers (`pg_get_triggerdef`), created after the data.
    pub triggers: Vec<String>,
    /// Estimated rows (`reltuples`, at least 0).
    pub estimated_rows: i64,
    /// Size of the heap in bytes.
    pub bytes: i64,
}

impl Table {
    /// The key used to find rows (primary key, else a NOT NULL unique key), empty if none.
    pub fn key(&self) -> &[String] {
        if self.primary_key.is_empty() {
            &self.unique_key
        } else {
            &self.primary_key
        }
    }

    /// Columns whose values are copied, in order.
    pub fn copied_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.copied())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An enum type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnumType {
    /// Its name.
    pub name: QualifiedName,
    /// Labels in sort order.
    pub labels: Vec<String>,
}

/// A domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Domain {
    /// Its name.
    pub name: QualifiedName,
    /// `format_type` of the base type.
    pub base_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Default expression.
    pub default: Option<String>,
    /// `CHECK (…)` definitions with their names.
    pub checks: Vec<(String, String)>,
}

/// A sequence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sequence {
    /// Its name.
    pub name: QualifiedName,
    /// `bigint`, `integer` or `smallint`.
    pub data_type: String,
    /// Start, increment, min, max, cache, cycle.
    pub start: i64,
    /// Increment.
    pub increment: i64,
    /// Minimum.
    pub min: i64,
    /// Maximum.
    pub max: i64,
    /// Cache.
    pub cache: i64,
    /// Cycles.
    pub cycle: bool,
    /// Current value (`last_value`) and whether it was called.
    pub last_value: Option<i64>,
    /// `is_called`.
    pub is_called: bool,
    /// The column owning it (`table`, `column`), for `serial` columns.
    pub owned_by: Option<(QualifiedName, String)>,
    /// Whether it backs an identity column (created with the column, not separately).
    pub identity: bool,
}

/// A view (or materialised view).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct View {
    /// Its name.
    pub name: QualifiedName,
    /// `pg_get_viewdef`.
    pub definition: String,
    /// Materialised.
    pub materialized: bool,
    /// Grants to the roles ferry carries over.
    pub grants: Vec<Grant>,
}

/// A function defined in a copied schema (not by an extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    /// Its name.
    pub name: QualifiedName,
    /// `pg_get_functiondef`.
    pub definition: String,
}

/// An installed extension.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extension {
    /// Extension name.
    pub name: String,
    /// Schema it lives in.
    pub schema: String,
}

/// The whole catalog of a source database, restricted to what was selected.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// `server_version_num`.
    pub server_version: i32,
    /// Schemas that hold copied objects.
    pub schemas: Vec<String>,
    /// Usage grants on those schemas.
    pub schema_grants: Vec<(String, Grant)>,
    /// Extensions in use.
    pub extensions: Vec<Extension>,
    /// Enum types.
    pub enums: Vec<EnumType>,
    /// Domains.
    pub domains: Vec<Domain>,
    /// Sequences.
    pub sequences: Vec<Sequence>,
    /// Functions.
    pub functions: Vec<Function>,
    /// Tables.
    pub tables: Vec<Table>,
    /// Views, in an order that creates dependencies first where known.
    pub views: Vec<View>,
    /// Roles named by policies and grants.
    pub roles: Vec<String>,
}

impl Catalog {
    /// A table by name.
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.iter().find(|t| &t.name == name)
    }
}

/// Quotes an identifier for Postgres and SQLite (double quotes, doubled inside).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal (single quotes, doubled inside).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

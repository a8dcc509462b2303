//! The entity model shared by the schema mapper and the query translator: which table and
//! columns hold an entity, and the type of each field.

use serde::{Deserialize, Serialize};

/// The SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// PostgreSQL 13+ (jsonb for JSON columns).
    Postgres,
    /// SQLite 3.38+ (JSON as text, the JSON1 functions).
    Sqlite,
}

/// The type of an entity field (from its JSON Schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "values")]
pub enum FieldType {
    /// `type: string`.
    String,
    /// `type: string, format: date` (`YYYY-MM-DD`).
    Date,
    /// `type: string, format: date-time` (ISO 8601).
    DateTime,
    /// `type: number`.
    Number,
    /// `type: integer`.
    Integer,
    /// `type: boolean`.
    Boolean,
    /// `type: string` with `enum`: the allowed values.
    Enum(Vec<String>),
    /// `type: array` (stored as JSON).
    Array,
    /// `type: object` (stored as JSON).
    Object,
}

impl FieldType {
    /// Whether values are stored as JSON (arrays and objects).
    pub fn is_json(&self) -> bool {
        matches!(self, FieldType::Array | FieldType::Object)
    }
}

/// One field of an entity and the column that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The property name as the app uses it (JSON key).
    pub name: String,
    /// The column name (a safe SQL identifier; always quoted in SQL).
    pub column: String,
    /// Its type.
    pub ty: FieldType,
    /// Listed in `required`.
    pub required: bool,
    /// `default` from the schema.
    pub default: Option<serde_json::Value>,
}

/// Built-in fields every record has, in this order, before the entity's own fields.
pub const BUILTIN_FIELDS: &[&str] = &[
    "id",
    "created_date",
    "updated_date",
    "created_by",
    "created_by_id",
];

/// The column holding every property the schema does not declare (a JSON object), so no field
/// a client sends is ever lost.
pub const EXTRA_COLUMN: &str = "extra";

/// An entity: its table and fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The entity name as the SDK uses it (`Task`, `TeamMember`).
    pub name: String,
    /// The table name.
    pub table: String,
    /// Declared fields (built-ins not included; see [`BUILTIN_FIELDS`]).
    pub fields: Vec<Field>,
    /// The schema's `rls` object, as written (enforced by the RLS compiler).
    pub rls: Option<serde_json::Value>,
}

impl Entity {
    /// A declared field by its property name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The name of the built-in user entity (always present; `User.jsonc` only adds fields).
pub const USER_ENTITY: &str = "User";

/// Columns of the `User` table that are not fields: credentials and flags the API layer
/// needs but never returns to a client (leave them out of every `SELECT` a client sees).
pub const USER_PRIVATE_COLUMNS: &[&str] = &["password_hash", "email_verified"];

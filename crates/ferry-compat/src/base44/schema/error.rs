//! Typed errors of the schema mapper, each with a stable code and a hint for the user.

use std::path::PathBuf;

/// Why entity schemas could not be loaded, mapped to tables or migrated.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A file or folder could not be read.
    #[error("could not read `{path}`: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A schema file is larger than [`super::MAX_FILE_BYTES`].
    #[error("`{file}` is {size} bytes; entity schemas are limited to {limit} bytes")]
    FileTooLarge {
        /// The file name.
        file: String,
        /// Its size in bytes (at least; reading stops past the limit).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A schema file is not valid JSONC (or not UTF-8).
    #[error("`{file}` is not valid JSONC: {detail}")]
    Malformed {
        /// The file name.
        file: String,
        /// The parser's message, with line and column where known.
        detail: String,
    },
    /// The document is valid JSON but not an object.
    #[error("`{file}` holds {found}, not a JSON Schema object")]
    NotAnObject {
        /// The file name.
        file: String,
        /// What it holds instead (`an array`, `a string`…).
        found: &'static str,
    },
    /// Objects and arrays are nested deeper than [`super::MAX_DEPTH`].
    #[error("`{file}` nests objects and arrays deeper than {limit} levels")]
    TooDeep {
        /// The file name.
        file: String,
        /// The limit.
        limit: usize,
    },
    /// An entity declares more than [`super::MAX_FIELDS`] properties.
    #[error("entity `{entity}` (`{file}`) declares {count} properties; the limit is {limit}")]
    TooManyFields {
        /// The file name.
        file: String,
        /// The entity name.
        entity: String,
        /// How many properties it declares.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The entities folder holds more than [`super::MAX_ENTITIES`] schema files.
    #[error("`{dir}` holds {count} entity schemas; the limit is {limit}")]
    TooManyEntities {
        /// The folder.
        dir: PathBuf,
        /// How many schema files it holds (at least).
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The entity name (the `name` key, else the file name) cannot name an entity.
    #[error("`{file}`: `{name}` is not a valid entity name: {reason}")]
    InvalidEntityName {
        /// The file name.
        file: String,
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The schema's top level has the wrong shape (`properties` not an object, …).
    #[error("entity `{entity}` (`{file}`): {reason}")]
    InvalidSchema {
        /// The file name.
        file: String,
        /// The entity name.
        entity: String,
        /// What is wrong.
        reason: String,
    },
    /// One property's schema cannot be mapped to a column.
    #[error("entity `{entity}` (`{file}`), field `{field}`: {reason}")]
    InvalidField {
        /// The file name.
        file: String,
        /// The entity name.
        entity: String,
        /// The property name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Two entities map to the same table.
    #[error("`{first}` and `{second}` both map to table `{table}`")]
    DuplicateTable {
        /// The table name.
        table: String,
        /// The first entity (file name, or `applied entity X`).
        first: String,
        /// The second entity.
        second: String,
    },
    /// A field's type differs from the one already applied to the database.
    #[error("entity `{entity}`, field `{field}`: type changed from {old} to {new}")]
    TypeChanged {
        /// The entity name.
        entity: String,
        /// The property name.
        field: String,
        /// The applied type.
        old: &'static str,
        /// The type in the new schema.
        new: &'static str,
    },
    /// [`super::migrate_sql`] was given a new entity whose table or a column differs from the
    /// old one's (the names must stay put once data is in them).
    #[error("entity `{entity}`: {what} would move from `{old}` to `{new}`")]
    ColumnMoved {
        /// The entity name.
        entity: String,
        /// `table` or `field X`.
        what: String,
        /// The applied name.
        old: String,
        /// The new name.
        new: String,
    },
    /// A row of `_ferry_entities` could not be decoded.
    #[error("the applied schema of entity `{entity}` in `_ferry_entities` is unreadable: {detail}")]
    InvalidApplied {
        /// The entity name (the row's key).
        entity: String,
        /// What is wrong.
        detail: String,
    },
}

impl SchemaError {
    /// A stable, kebab-case code for scripts and tests (documented in `docs/base44.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::FileTooLarge { .. } => "file-too-large",
            Self::Malformed { .. } => "malformed-schema",
            Self::NotAnObject { .. } => "not-an-object",
            Self::TooDeep { .. } => "too-deep",
            Self::TooManyFields { .. } => "too-many-fields",
            Self::TooManyEntities { .. } => "too-many-entities",
            Self::InvalidEntityName { .. } => "invalid-entity-name",
            Self::InvalidSchema { .. } => "invalid-schema",
            Self::InvalidField { .. } => "invalid-field",
            Self::DuplicateTable { .. } => "duplicate-table",
            Self::TypeChanged { .. } => "type-changed",
            Self::ColumnMoved { .. } => "column-moved",
            Self::InvalidApplied { .. } => "invalid-applied",
        }
    }

    /// One line telling the user what to do next.
    pub fn hint(&self) -> String {
        match self {
            Self::Io { .. } => "check the path and its permissions".into(),
            Self::FileTooLarge { file, .. } => {
                format!("`{file}` is far larger than any entity schema; check it is the right file")
            }
            Self::Malformed { file, .. } => format!(
                "fix the syntax of `{file}` (JSON with `//` and `/* */` comments and trailing commas)"
            ),
            Self::NotAnObject { file, .. } => format!(
                "`{file}` must hold one object: {{\"name\": …, \"type\": \"object\", \"properties\": {{…}}}}"
            ),
            Self::TooDeep { .. } => {
                "flatten the nested `properties`/`items` (nested objects are stored as JSON anyway)"
                    .into()
            }
            Self::TooManyFields { entity, .. } => {
                format!(
                    "split `{entity}` into several entities, or keep rarely used data in an object field"
                )
            }
            Self::TooManyEntities { .. } => {
                "point ferry at the app's `base44/entities` folder, not a parent".into()
            }
            Self::InvalidEntityName { .. } => {
                "name the entity like a JavaScript identifier (`TeamMember`), as the SDK calls it"
                    .into()
            }
            Self::InvalidSchema { file, .. } => format!(
                "fix `{file}`: `properties` must be an object, `required` a list of names, `rls` an object"
            ),
            Self::InvalidField { field, .. } => {
                format!(
                    "fix the schema of `{field}` (an object with a `type`), or remove the field"
                )
            }
            Self::DuplicateTable { second, .. } => {
                format!("rename `{second}` so that its table name differs")
            }
            Self::TypeChanged { field, .. } => format!(
                "ferry never converts stored data: keep `{field}`'s type, or add a new field with the new type (the old column is kept)"
            ),
            Self::ColumnMoved { .. } => {
                "deploy through `plan_migration`/`plan_deploy`, which keep applied column names"
                    .into()
            }
            Self::InvalidApplied { entity, .. } => format!(
                "the row of `{entity}` in `_ferry_entities` was edited by hand or written by a newer ferry; restore it or upgrade ferry"
            ),
        }
    }

    /// Whether the error is the input's fault (exit code 2) rather than an operation failing.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }
}

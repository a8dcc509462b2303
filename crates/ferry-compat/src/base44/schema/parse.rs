//! Entity schema files (`base44/entities/*.jsonc`) into [`Entity`] values.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read as _;
use std::path::Path;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::SchemaError;
use super::naming::{Taken, name_from_file, table_name};
use super::{MAX_DEPTH, MAX_ENTITIES, MAX_FIELDS, MAX_FILE_BYTES, jsonc};
use crate::base44::model::{BUILTIN_FIELDS, Entity, Field, FieldType, USER_ENTITY};

/// The `User` entity's own fields, before any custom field from `User.jsonc`.
const USER_BASE_FIELDS: &[&str] = &["email", "full_name", "role"];

/// The longest entity name accepted, in characters.
const MAX_NAME_CHARS: usize = 100;

/// The built-in `User` entity with no custom field: `email`, `full_name` and `role`
/// (`admin` | `user`, default `user`), in table `user`.
pub fn builtin_user() -> Entity {
    Entity {
        name: USER_ENTITY.to_string(),
        table: table_name(USER_ENTITY),
        fields: user_base_fields(),
        rls: None,
    }
}

fn user_base_fields() -> Vec<Field> {
    let field = |name: &str, ty: FieldType, required: bool, default: Option<Value>| Field {
        name: name.to_string(),
        column: name.to_string(),
        ty,
        required,
        default,
    };
    vec![
        field("email", FieldType::String, true, None),
        field("full_name", FieldType::String, false, None),
        field(
            "role",
            FieldType::Enum(vec!["admin".into(), "user".into()]),
            false,
            Some(Value::String("user".into())),
        ),
    ]
}

/// Parses one entity schema (JSONC) into an [`Entity`]. `file_name` names the file in errors
/// and gives the entity name when the schema has no `name` (`team-member.jsonc` →
/// `TeamMember`). A schema named `User` gives the built-in user entity plus its custom fields.
pub fn parse_entity(file_name: &str, text: &str) -> Result<Entity, SchemaError> {
    let file = file_name.to_string();
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(SchemaError::FileTooLarge {
            file,
            size: text.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    let clean = jsonc::strip(file_name, text, MAX_DEPTH)?;
    let doc: Value = serde_json::from_str(&clean).map_err(|e| SchemaError::Malformed {
        file: file.clone(),
        detail: e.to_string(),
    })?;
    let Value::Object(obj) = &doc else {
        return Err(SchemaError::NotAnObject {
            file,
            found: kind(&doc),
        });
    };
    if has_nul(&doc) {
        return Err(SchemaError::Malformed {
            file,
            detail: "a string or key holds a NUL character (\\u0000), which Postgres cannot store"
                .into(),
        });
    }

    let name = match obj.get("name") {
        None | Some(Value::Null) => name_from_file(file_name),
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            return Err(SchemaError::InvalidEntityName {
                file,
                name: other.to_string(),
                reason: "`name` must be a string".into(),
            });
        }
    };
    check_name(&file, &name)?;
    let invalid = |reason: &str| SchemaError::InvalidSchema {
        file: file.clone(),
        entity: name.clone(),
        reason: reason.to_string(),
    };

    match obj.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(_) => return Err(invalid("the top-level `type` must be \"object\"")),
    }
    let empty = Map::new();
    let props = match obj.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(props)) => props,
        Some(_) => return Err(invalid("`properties` must be an object")),
    };
    if props.len() > MAX_FIELDS {
        return Err(SchemaError::TooManyFields {
            file,
            entity: name,
            count: props.len(),
            limit: MAX_FIELDS,
        });
    }
    let required: HashSet<&str> = match obj.get("required") {
        None | Some(Value::Null) => HashSet::new(),
        Some(Value::Array(items)) => {
            let mut names = HashSet::new();
            for item in items {
                let Some(item) = item.as_str() else {
                    return Err(invalid("`required` must list property names (strings)"));
                };
                names.insert(item);
            }
            names
        }
        Some(_) => return Err(invalid("`required` must be an array of property names")),
    };
    let rls = match obj.get("rls") {
        None | Some(Value::Null) => None,
        Some(rls @ Value::Object(_)) => Some(rls.clone()),
        Some(_) => return Err(invalid("`rls` must be an object")),
    };

    let user = name == USER_ENTITY;
    let mut fields = if user { user_base_fields() } else { Vec::new() };
    let mut taken = Taken::for_table(user);
    for field in &fields {
        taken.insert(&field.column);
    }
    for key in property_order(&clean, props) {
        let builtin = BUILTIN_FIELDS.contains(&key.as_str())
            || (user && USER_BASE_FIELDS.contains(&key.as_str()));
        let Some(schema) = props.get(&key) else {
            continue;
        };
        if builtin {
            continue;
        }
        let field_error = |reason: String| SchemaError::InvalidField {
            file: file.clone(),
            entity: name.clone(),
            field: key.clone(),
            reason,
        };
        let Value::Object(schema) = schema else {
            return Err(field_error(format!(
                "its schema is {}, not an object such as {{\"type\": \"string\"}}",
                kind(schema)
            )));
        };
        let ty = field_type(schema).map_err(field_error)?;
        let column = taken.assign(&key);
        fields.push(Field {
            required: required.contains(key.as_str()),
            default: schema.get("default").cloned(),
            name: key,
            column,
            ty,
        });
    }
    Ok(Entity {
        table: table_name(&name),
        name,
        fields,
        rls,
    })
}

/// A field's type from its JSON Schema (see the mapping table in `docs/base44.md`).
fn field_type(schema: &Map<String, Value>) -> Result<FieldType, String> {
    let declared = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        // `["string", "null"]`: the first type that is not `null`.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    };
    Ok(match declared {
        Some("string") => string_type(schema)?,
        Some("number") => FieldType::Number,
        Some("integer") => FieldType::Integer,
        Some("boolean") => FieldType::Boolean,
        Some("array") => FieldType::Array,
        Some("object") => FieldType::Object,
        // Missing or unknown: guessed from the keywords present.
        _ if schema.contains_key("properties") => FieldType::Object,
        _ if schema.contains_key("items") => FieldType::Array,
        _ => string_type(schema)?,
    })
}

/// `type: string` refined by `enum` (non-empty; `null` entries ignored) then `format`.
fn string_type(schema: &Map<String, Value>) -> Result<FieldType, String> {
    if let Some(values) = schema.get("enum") {
        let Value::Array(values) = values else {
            return Err("`enum` must be an array".into());
        };
        let mut seen = HashSet::new();
        let mut labels = Vec::new();
        for value in values {
            match value {
                Value::Null => {}
                Value::String(label) => {
                    if seen.insert(label.as_str()) {
                        labels.push(label.clone());
                    }
                }
                other => {
                    return Err(format!(
                        "`enum` of a string field lists {other}, which is not a string"
                    ));
                }
            }
        }
        if !labels.is_empty() {
            return Ok(FieldType::Enum(labels));
        }
    }
    Ok(match schema.get("format").and_then(Value::as_str) {
        Some("date") => FieldType::Date,
        Some("date-time") => FieldType::DateTime,
        _ => FieldType::String,
    })
}

/// Entity names are identifiers, as the SDK calls them (`base44.entities.TeamMember`):
/// letters (any script), digits and `_`, not starting with a digit, at most 100 characters.
fn check_name(file: &str, name: &str) -> Result<(), SchemaError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("it is longer than {MAX_NAME_CHARS} characters"))
    } else if name.starts_with(|c: char| c.is_numeric()) {
        Some("it starts with a digit".to_string())
    } else {
        name.chars()
            .find(|c| !(c.is_alphanumeric() || *c == '_'))
            .map(|c| format!("it contains {c:?} (only letters, digits and `_`)"))
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(SchemaError::InvalidEntityName {
            file: file.to_string(),
            name: name.chars().take(MAX_NAME_CHARS + 20).collect(),
            reason,
        }),
    }
}

/// The property names in the order the file lists them (`serde_json`'s map sorts them), each
/// once; falls back to sorted order if the second pass fails.
fn property_order(clean: &str, props: &Map<String, Value>) -> Vec<String> {
    #[derive(Deserialize)]
    struct Doc {
        properties: Option<Keys>,
    }
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeysVisitor;
            impl<'de> Visitor<'de> for KeysVisitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(KeysVisitor)
        }
    }
    let listed = serde_json::from_str::<Doc>(clean)
        .ok()
        .and_then(|doc| doc.properties)
        .map(|keys| keys.0)
        .unwrap_or_else(|| props.keys().cloned().collect());
    let mut seen = HashSet::new();
    listed
        .into_iter()
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Loads every entity schema (`*.jsonc`, `*.json`) of a `base44/entities` folder, sorted by
/// entity name, with the built-in `User` always present (merged with `User.jsonc` when there
/// is one). Two schemas mapping to the same table are refused.
pub fn load_entities(dir: &Path) -> Result<Vec<Entity>, SchemaError> {
    let io = |path: &Path, source| SchemaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !(name.ends_with(".jsonc") || name.ends_with(".json")) {
            continue;
        }
        files.push(name);
        if files.len() > MAX_ENTITIES {
            return Err(SchemaError::TooManyEntities {
                dir: dir.to_path_buf(),
                count: files.len(),
                limit: MAX_ENTITIES,
            });
        }
    }
    files.sort();
    let mut texts = Vec::new();
    for name in files {
        let path = dir.join(&name);
        let meta = fs::metadata(&path).map_err(|e| io(&path, e))?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(SchemaError::FileTooLarge {
                file: name,
                size: meta.len(),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| io(&path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| SchemaError::Malformed {
            file: name.clone(),
            detail: format!("not UTF-8: {e}"),
        })?;
        texts.push((name, text));
    }
    parse_entities(texts)
}

/// The entities of schema files given as (file name, text) pairs, as [`load_entities`] reads
/// a folder: sorted by entity name, the built-in `User` always present, two schemas mapping to
/// one table refused. Files whose name is hidden or not `*.jsonc`/`*.json` are skipped.
pub fn parse_entities(
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Entity>, SchemaError> {
    let mut files: Vec<(String, String)> = files
        .into_iter()
        .filter(|(name, _)| {
            !name.starts_with('.') && (name.ends_with(".jsonc") || name.ends_with(".json"))
        })
        .collect();
    if files.len() > MAX_ENTITIES {
        return Err(SchemaError::TooManyEntities {
            dir: "base44/entities".into(),
            count: files.len(),
            limit: MAX_ENTITIES,
        });
    }
    files.sort();
    let mut by_table: BTreeMap<String, String> = BTreeMap::new();
    let mut entities: BTreeMap<String, Entity> = BTreeMap::new();
    for (name, text) in files {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(SchemaError::FileTooLarge {
                file: name,
                size: text.len() as u64,
                limit: MAX_FILE_BYTES,
            });
        }
        let entity = parse_entity(&name, &text)?;
        if let Some(first) = by_table.insert(entity.table.clone(), name.clone()) {
            return Err(SchemaError::DuplicateTable {
                table: entity.table,
                first,
                second: name,
            });
        }
        entities.insert(entity.name.clone(), entity);
    }
    if !entities.contains_key(USER_ENTITY) {
        let user = builtin_user();
        if let Some(first) = by_table.get(&user.table) {
            return Err(SchemaError::DuplicateTable {
                table: user.table,
                first: first.clone(),
                second: "the built-in User entity".into(),
            });
        }
        entities.insert(user.name.clone(), user);
    }
    Ok(entities.into_values().collect())
}

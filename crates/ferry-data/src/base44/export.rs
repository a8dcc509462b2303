//! The export source: a folder of `<entity>.json` / `.jsonc` files (JSON arrays of records, as
//! `base44 data pull` writes them; kebab-case names: `team-member.jsonc` is `TeamMember`) and
//! `<entity>.csv` files (the dashboard's download: a header row, one record per line), with an
//! optional schema folder beside them (`entities/` or `base44/entities/`, or `--schemas`).
//!
//! CSV cells are typed by the entity's schema when it declares the column (integer, number,
//! boolean, array and object parsed; dates kept as text), otherwise guessed: `true`/`false`,
//! an integer without leading zeros, a JSON number, a JSON array or object, else text. An empty
//! cell is a missing value.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferry_compat::base44::model::{BUILTIN_FIELDS, Entity, FieldType};
use ferry_compat::base44::schema::parse_entities;
use serde_json::{Map, Value};

use super::Base44Error;
use super::live::folder_catalog;
use super::source::{Catalog, Page, Record};

/// Records per batch read from a file (one target transaction).
pub const PAGE: usize = 10_000;

/// The largest export file read (2 GiB).
const MAX_FILE_BYTES: u64 = 2 << 30;

/// A file's records (a slot is emptied when its page is handed out), and its size.
struct Loaded {
    records: Vec<Option<Record>>,
    size: u64,
}

/// An export folder.
pub struct Export {
    files: BTreeMap<String, PathBuf>,
    schemas_dir: Option<PathBuf>,
    named: Vec<String>,
    typed: HashMap<String, Entity>,
    loaded: Mutex<HashMap<String, Loaded>>,
}

/// `team-member` → `TeamMember`, `task` → `Task`, `TeamMember` unchanged.
pub fn entity_name(stem: &str) -> String {
    stem.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

impl Export {
    /// Scans `dir`; `schemas` overrides the schema folder found beside the files; `named`
    /// restricts the entities pulled.
    pub fn open(
        dir: &Path,
        schemas: Option<PathBuf>,
        named: Vec<String>,
    ) -> Result<Export, Base44Error> {
        let io = |e: std::io::Error| Base44Error::Io {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        };
        let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            let Some((stem, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if !matches!(ext, "json" | "jsonc" | "csv") {
                continue;
            }
            let entity = entity_name(stem);
            if let Some(first) = files.insert(entity.clone(), path.clone()) {
                return Err(Base44Error::BadExport {
                    file: path,
                    detail: format!(
                        "holds `{entity}` records, as {} does",
                        first
                            .file_name()
                            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
                    ),
                });
            }
        }
        let schemas_dir = schemas.or_else(|| {
            [dir.join("entities"), dir.join("base44").join("entities")]
                .into_iter()
                .find(|d| d.is_dir())
        });
        let mut export = Export {
            files,
            schemas_dir,
            named,
            typed: HashMap::new(),
            loaded: Mutex::new(HashMap::new()),
        };
        if let Some(dir) = &export.schemas_dir {
            let catalog = folder_catalog(dir)?;
            for entity in parse_entities(catalog.schemas)? {
                export.typed.insert(entity.name.clone(), entity);
            }
        }
        Ok(export)
    }

    /// The entities with a data file (or the `--entity` ones), and the schema folder's files.
    pub fn catalog(&self) -> Result<Catalog, Base44Error> {
        let known: Vec<String> = self.files.keys().cloned().collect();
        let entities = if self.named.is_empty() {
            known.clone()
        } else {
            for name in &self.named {
                if !self.files.contains_key(name) {
                    return Err(Base44Error::UnknownEntity {
                        name: name.clone(),
                        known: known.join(", "),
                    });
                }
            }
            self.named.clone()
        };
        if entities.is_empty() {
            return Err(Base44Error::NoEntities(
                "the folder holds no <entity>.json, .jsonc or .csv file".into(),
            ));
        }
        let (schemas, schemas_from) = match &self.schemas_dir {
            Some(dir) => (
                folder_catalog(dir)?.schemas,
                Some(dir.display().to_string()),
            ),
            None => (Vec::new(), None),
        };
        Ok(Catalog {
            entities,
            schemas,
            schemas_from,
        })
    }

    /// Records `offset..offset + limit` of `entity`'s file. The file is read once and its
    /// records handed out (not copied) page by page; a page asked for again reads it anew, and
    /// it is let go after its last page.
    pub fn page(&self, entity: &str, offset: u64, limit: usize) -> Result<Page, Base44Error> {
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| Base44Error::Checkpoint("a lock was poisoned".into()))?;
        let range = |total: usize| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
            start..start.saturating_add(limit).min(total)
        };
        let fresh = loaded.get(entity).is_some_and(|l| {
            l.records[range(l.records.len())]
                .iter()
                .all(Option::is_some)
        });
        if !fresh {
            loaded.insert(entity.to_string(), self.load(entity)?);
        }
        let Some(file) = loaded.get_mut(entity) else {
            return Err(Base44Error::Checkpoint("a loaded file went missing".into()));
        };
        let total = file.records.len();
        let size = file.size;
        let range = range(total);
        let share = |n: usize| {
            if total == 0 {
                0
            } else {
                size.saturating_mul(n as u64) / total as u64
            }
        };
        let bytes = share(range.end) - share(range.start);
        let last = range.end >= total;
        let records = file.records[range]
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        if last {
            loaded.remove(entity);
        }
        Ok(Page {
            records,
            bytes,
            last,
        })
    }

    fn load(&self, entity: &str) -> Result<Loaded, Base44Error> {
        let path = self
            .files
            .get(entity)
            .ok_or_else(|| Base44Error::UnknownEntity {
                name: entity.to_string(),
                known: self.files.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        let bad = |detail: String| Base44Error::BadExport {
            file: path.clone(),
            detail,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(bad(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let records = if path.extension().is_some_and(|e| e == "csv") {
            read_csv(&bytes, self.typed.get(entity)).map_err(bad)?
        } else {
            read_json(&bytes).map_err(bad)?
        };
        Ok(Loaded {
            records: records.into_iter().map(Some).collect(),
            size,
        })
    }
}

/// A JSON (or JSONC) array of records; errors carry the line and column.
fn read_json(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    // Plain JSON (what `base44 data pull` writes) parses as it is; JSONC is cleaned first.
    let doc: Value = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(_) => serde_json::from_str(&ferry_inspect::jsonc::strip(text)).map_err(|e| {
            format!(
                "broken JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        })?,
    };
    let items = match doc {
        Value::Array(items) => items,
        _ => return Err("expected a JSON array of records".into()),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(map),
            _ => Err(format!("item {} is not a record (JSON object)", i + 1)),
        })
        .collect()
}

/// A CSV file with a header row into records (see the module docs for typing).
fn read_csv(bytes: &[u8], entity: Option<&Entity>) -> Result<Vec<Record>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the header row: {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| match e.position() {
            Some(pos) => format!("line {}: {e}", pos.line()),
            None => e.to_string(),
        })?;
        let mut record = Map::new();
        for (name, cell) in headers.iter().zip(row.iter()) {
            if cell.is_empty() || name.is_empty() {
                continue;
            }
            let ty = entity.and_then(|e| e.field(name)).map(|f| &f.ty);
            record.insert(name.clone(), typed_cell(name, cell, ty));
        }
        out.push(record);
    }
    Ok(out)
}

fn typed_cell(name: &str, cell: &str, ty: Option<&FieldType>) -> Value {
    let text = || Value::String(cell.to_string());
    if BUILTIN_FIELDS.contains(&name) {
        return text();
    }
    let json = || serde_json::from_str::<Value>(cell).ok();
    match ty {
        Some(FieldType::String | FieldType::Enum(_) | FieldType::Date | FieldType::DateTime) => {
            text()
        }
        Some(FieldType::Integer | FieldType::Number) => {
            json().filter(Value::is_number).unwrap_or_else(text)
        }
        Some(FieldType::Boolean) => match cell.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => text(),
        },
        Some(FieldType::Array) => json().filter(Value::is_array).unwrap_or_else(text),
        Some(FieldType::Object) => json().filter(Value::is_object).unwrap_or_else(text),
        None => guess(cell),
    }
}

/// An untyped CSV cell's value.
fn guess(cell: &str) -> Value {
    match cell {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let plain_number = !digits.is_empty()
        && digits.as_bytes()[0].is_ascii_digit()
        && !(digits.len() > 1 && digits.starts_with('0') && !digits[1..].starts_with('.'));
    if plain_number && let Ok(Value::Number(n)) = serde_json::from_str::<Value>(cell) {
        return Value::Number(n);
    }
    if (cell.starts_with('[') || cell.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<Value>(cell)
    {
        return v;
    }
    Value::String(cell.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_from_files() {
        assert_eq!(entity_name("team-member"), "TeamMember");
        assert_eq!(entity_name("task"), "Task");
        assert_eq!(entity_name("TeamMember"), "TeamMember");
    }

    #[test]
    fn csv_cells_are_typed_or_guessed() {
        let entity = ferry_compat::base44::schema::parse_entity(
            "Tag.jsonc",
            r#"{"name": "Tag", "properties": {"code": {"type": "string"}, "n": {"type": "number"}}}"#,
        )
        .expect("schema");
        let csv = "id,code,n,flag,zip,meta,label\nt1,007,2,true,0123,\"{\"\"a\"\":1}\",\n";
        let records = read_csv(csv.as_bytes(), Some(&entity)).expect("csv");
        assert_eq!(
            Value::Object(records[0].clone()),
            json!({"id": "t1", "code": "007", "n": 2, "flag": true, "zip": "0123", "meta": {"a": 1}})
        );
        let err = read_csv(b"id,a\nx,1,2\n", None).expect_err("ragged");
        assert!(err.starts_with("line 2"), "{err}");
    }

    #[test]
    fn pages_hand_records_out_and_a_page_asked_again_is_read_anew() {
        let dir = tempfile::tempdir().expect("tmp");
        let records: Vec<Value> = (0..5).map(|i| json!({"id": format!("r{i}")})).collect();
        std::fs::write(
            dir.path().join("task.json"),
            Value::Array(records).to_string(),
        )
        .expect("write");
        let export = Export::open(dir.path(), None, Vec::new()).expect("open");
        let ids = |page: &Page| -> Vec<String> {
            page.records
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_string())
                .collect()
        };
        let first = export.page("Task", 0, 2).expect("page");
        assert_eq!(
            (ids(&first), first.last),
            (vec!["r0".into(), "r1".into()], false)
        );
        // A resumed job asks for a page again: the same records.
        let again = export.page("Task", 0, 2).expect("page");
        assert_eq!(ids(&again), ids(&first));
        let rest = export.page("Task", 2, 10).expect("page");
        assert_eq!(
            (ids(&rest), rest.last),
            (vec!["r2".into(), "r3".into(), "r4".into()], true)
        );
        let after = export.page("Task", 5, 10).expect("page");
        assert!(after.records.is_empty() && after.last);
        assert_eq!(
            ids(&export.page("Task", 4, 1).expect("page")),
            vec!["r4".to_string()]
        );
    }

    #[test]
    fn broken_json_names_the_position() {
        let err = read_json(b"[\n{\"id\": \"a\"},\n{\"id\": }\n]").expect_err("broken");
        assert!(err.contains("line 3"), "{err}");
        assert!(read_json(b"{\"id\": 1}").is_err());
        assert_eq!(
            read_json(b"// c\n[{\"id\": \"a\"},]").map(|r| r.len()),
            Ok(1)
        );
    }
}

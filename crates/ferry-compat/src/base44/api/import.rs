//! `POST …/{name}/import` (`importEntities(file)`): a CSV or JSON file sent as
//! `multipart/form-data` (field `file`), turned into records and created all or nothing in one
//! transaction under the create rule, as `bulkCreate` would.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Number, Value, json};

use super::context::{Ctx, decode, write_filter};
use super::request::{Answer, EntityPath, PathIn, ok, path};
use super::{ApiError, Shared};
use crate::base44::model::{Dialect, Entity, FieldType};
use crate::base44::query::{Filter, MAX_IN, MAX_PARAMS};
use crate::base44::record::{Author, MAX_BULK, RecordError, insert_many_sql, insert_sql};
use crate::base44::rls::Operation;

/// The largest file `import` accepts: 10 MiB (larger: 413 `too-large`).
pub const MAX_IMPORT_BYTES: usize = 10 << 20;
/// The most records one file may hold (more: 400 `too-large`).
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// The body limit of the `import` route: the file and the multipart framing around it.
pub const MAX_IMPORT_BODY: usize = MAX_IMPORT_BYTES + (64 << 10);

/// The two file formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// One record of the file and where it came from: `row` counts records from 1 (a CSV header
/// is not a row); `line` is the CSV line the record starts on (the header is line 1).
struct Row {
    row: usize,
    line: Option<u64>,
    record: Map<String, Value>,
}

/// A 400 naming the row (and the field, when one is to blame) of the file.
fn row_error(
    code: &'static str,
    row: usize,
    line: Option<u64>,
    field: Option<&str>,
    message: &str,
) -> ApiError {
    let at = match line {
        Some(line) => format!("row {row} (line {line})"),
        None => format!("row {row}"),
    };
    let mut detail = json!({ "row": row, "field": field });
    if let Some(line) = line {
        detail["line"] = json!(line);
    }
    ApiError::bad_request(code, format!("{at}: {message}")).with_detail(detail)
}

/// A 400 `bad-import`: the file as a whole cannot be read.
fn bad_import(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad-import", message)
}

fn too_large_file() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("the file is larger than {MAX_IMPORT_BYTES} bytes"),
    )
}

fn too_many_rows() -> ApiError {
    ApiError::bad_request(
        "too-large",
        format!("the file holds more than {MAX_IMPORT_ROWS} records"),
    )
}

fn multipart_error(status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large_file()
    } else {
        ApiError::bad_request("bad-body", "the multipart body could not be read")
    }
}

/// `POST …/{name}/import` with a `multipart/form-data` body whose `file` field is a CSV or
/// JSON file → `{"status": "success", "details": "…", "output": [created records]}` (the
/// SDK's `ImportResult`). JSON: an array of objects, used as they are. CSV (RFC 4180): the
/// header row names the fields; a cell is converted by its field's type (number, integer,
/// boolean, JSON for array/object fields, text otherwise; an undeclared column is text in
/// `extra`), and an empty cell is absent. Every record goes through the insert path of
/// `bulkCreate` in one transaction: a bad row is a 400 naming its row and field, the create
/// rule's re-check a 403, and nothing is written.
pub(super) async fn import(
    State(s): State<Arc<Shared>>,
    p: PathIn<EntityPath>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, &p.name).await?;
    let check = write_filter(ctx.access(Operation::Create)?, Operation::Create)?;
    let multipart = multipart.map_err(|_| {
        ApiError::bad_request(
            "bad-body",
            "import needs a multipart/form-data body with a `file` field",
        )
    })?;
    let (format, bytes) = read_file(multipart).await?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| bad_import("the file is not UTF-8 text"))?;
    let format = format.unwrap_or_else(|| sniff(text));
    let mut rows = match format {
        Format::Json => json_rows(text)?,
        Format::Csv => csv_rows(ctx.entity, text)?,
    };
    if rows.is_empty() {
        return Err(bad_import("the file holds no records"));
    }
    for row in &mut rows {
        ctx.guard_user_fields(&mut row.record, false);
    }
    insert_all(&ctx, &rows, check.as_ref()).await
}

/// Reads the `file` field (its format from the file name or content type, when they tell).
async fn read_file(mut multipart: Multipart) -> Result<(Option<Format>, Vec<u8>), ApiError> {
    let mut found = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e.status()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        if found.is_some() {
            return Err(bad_import("import takes one `file`"));
        }
        let format = format_of(field.file_name(), field.content_type());
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| multipart_error(e.status()))?
        {
            if bytes.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(too_large_file());
            }
            bytes.extend_from_slice(&chunk);
        }
        found = Some((format, bytes));
    }
    found.ok_or_else(|| bad_import("the body has no `file` field"))
}

/// The format a file name's extension (`.json`, `.csv`) or a content type names.
fn format_of(file_name: Option<&str>, content_type: Option<&str>) -> Option<Format> {
    let extension = file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("json") => return Some(Format::Json),
        Some("csv") => return Some(Format::Csv),
        _ => {}
    }
    let essence = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Some(Format::Json),
        Some("text/csv") => Some(Format::Csv),
        _ => None,
    }
}

/// A file that does not say: JSON when it starts with `[`, else CSV.
fn sniff(text: &str) -> Format {
    if text.trim_start().starts_with('[') {
        Format::Json
    } else {
        Format::Csv
    }
}

/// A JSON file: an array of objects.
fn json_rows(text: &str) -> Result<Vec<Row>, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| bad_import(format!("the file is not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(bad_import("a JSON file must hold an array of records"));
    };
    if items.len() > MAX_IMPORT_ROWS {
        return Err(too_many_rows());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(record) => Ok(Row {
                row: i + 1,
                line: None,
                record,
            }),
            _ => Err(row_error(
                "bad-record",
                i + 1,
                None,
                None,
                "not a JSON object",
            )),
        })
        .collect()
}

/// A CSV file (RFC 4180): the header row names the fields, each later record is one row.
fn csv_rows(entity: &Entity, text: &str) -> Result<Vec<Row>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(bad_import("the CSV file has no header row"));
    }
    let mut seen = HashSet::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(bad_import(format!("column {} has no name", i + 1)));
        }
        if !seen.insert(name.as_str()) {
            return Err(bad_import(format!("column {} is named twice", json!(name))));
        }
    }
    let types: Vec<Option<&FieldType>> = header
        .iter()
        .map(|name| entity.field(name).map(|f| &f.ty))
        .collect();
    let mut rows = Vec::new();
    for (i, result) in reader.records().enumerate() {
        let record = result.map_err(|e| csv_error(&e))?;
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(too_many_rows());
        }
        let row = i + 1;
        let line = record.position().map(csv::Position::line);
        let mut map = Map::new();
        for ((name, ty), cell) in header.iter().zip(&types).zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = cell_value(*ty, cell)
                .map_err(|reason| row_error("bad-value", row, line, Some(name), &reason))?;
            map.insert(name.clone(), value);
        }
        rows.push(Row {
            row,
            line,
            record: map,
        });
    }
    Ok(rows)
}

fn csv_error(e: &csv::Error) -> ApiError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let at = pos
                .as_ref()
                .map(|p| format!("line {}: ", p.line()))
                .unwrap_or_default();
            bad_import(format!(
                "{at}a record has {len} fields, the header {expected_len}"
            ))
        }
        _ => bad_import("the CSV file could not be read"),
    }
}

/// One CSV cell as the JSON value of its field's type (`None`: an undeclared column, kept
/// as text); the error is the reason.
fn cell_value(ty: Option<&FieldType>, cell: &str) -> Result<Value, String> {
    let trimmed = cell.trim();
    match ty {
        None
        | Some(FieldType::String | FieldType::Enum(_) | FieldType::Date | FieldType::DateTime) => {
            Ok(Value::String(cell.to_string()))
        }
        Some(FieldType::Integer) => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "not an integer".to_string()),
        Some(FieldType::Number) => {
            if let Ok(i) = trimmed.parse::<i64>() {
                return Ok(Value::from(i));
            }
            trimmed
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "not a number".to_string())
        }
        Some(FieldType::Boolean) => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err("not a boolean (true/false, 1/0, yes/no)".to_string()),
        },
        Some(FieldType::Array) => match serde_json::from_str(trimmed) {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err("not a JSON array".to_string()),
        },
        Some(FieldType::Object) => match serde_json::from_str(trimmed) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("not a JSON object".to_string()),
        },
    }
}

/// The property of `record` the insert path refuses (`None`: the record as a whole).
fn failing_field(entity: &Entity, record: &Map<String, Value>, dialect: Dialect) -> Option<String> {
    record.iter().find_map(|(key, value)| {
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        insert_sql(entity, &one, &Author::default(), dialect)
            .is_err()
            .then(|| key.clone())
    })
}

/// Creates every row in one transaction, in statements of at most [`MAX_BULK`] records (and
/// [`MAX_PARAMS`] parameters), re-checked with the create rule; answers the created records in
/// file order.
async fn insert_all(ctx: &Ctx<'_>, rows: &[Row], check: Option<&Filter>) -> Answer {
    let per = (MAX_PARAMS / (ctx.entity.fields.len() + 6)).clamp(1, MAX_BULK);
    let author = ctx.author();
    let mut statements = Vec::new();
    let mut all_ids: Vec<String> = Vec::with_capacity(rows.len());
    let mut seen = HashSet::new();
    for chunk in rows.chunks(per) {
        let records: Vec<Map<String, Value>> = chunk.iter().map(|r| r.record.clone()).collect();
        let (ids, sql) = insert_many_sql(ctx.entity, &records, &author, ctx.dialect())
            .map_err(|e| in_row(ctx.entity, chunk, e, ctx.dialect()))?;
        for (row, id) in chunk.iter().zip(&ids) {
            if !seen.insert(id.clone()) {
                return Err(row_error(
                    "bad-record",
                    row.row,
                    row.line,
                    Some("id"),
                    "this id is given twice in the file",
                ));
            }
        }
        all_ids.extend(ids);
        statements.push(sql);
    }
    let db = ctx.shared.db();
    let mut tx = db.begin().await?;
    let mut created = Vec::with_capacity(rows.len());
    for sql in &statements {
        match tx.query(sql, ctx.columns()).await {
            Ok(got) => created.extend(got),
            Err(e) => {
                tx.rollback().await?;
                return Err(e.into());
            }
        }
    }
    if let Some(rule) = check {
        for ids in all_ids.chunks(MAX_IN) {
            if ctx.count_outside(&mut tx, ids, rule).await? != 0 {
                tx.rollback().await?;
                return Err(ApiError::forbidden(
                    "a record's values are not allowed by the entity's access rules",
                ));
            }
        }
    }
    tx.commit().await?;
    let mut by_id: HashMap<String, Value> = decode(ctx.entity, created, ctx.dialect())?
        .into_iter()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?.to_string();
            Some((id, r))
        })
        .collect();
    let output = all_ids
        .iter()
        .map(|id| by_id.remove(id))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::internal("import INSERT returned other ids"))?;
    ctx.publish(crate::base44::realtime::ChangeKind::Create, &output);
    ok(json!({
        "status": "success",
        "details": format!("Imported {} records", output.len()),
        "output": output,
    }))
}

/// A record-layer error of one statement as a 400 naming the file's row and field.
fn in_row(entity: &Entity, chunk: &[Row], e: RecordError, dialect: Dialect) -> ApiError {
    match e {
        RecordError::InRecord { index, source } => match chunk.get(index) {
            Some(row) => {
                let field = failing_field(entity, &row.record, dialect);
                row_error(
                    source.code(),
                    row.row,
                    row.line,
                    field.as_deref(),
                    &source.to_string(),
                )
            }
            None => ApiError::from(*source),
        },
        other => ApiError::from(other),
    }
}

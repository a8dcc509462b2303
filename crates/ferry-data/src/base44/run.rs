//! The Base44 pull job: schemas, then each entity's batches, then the verification.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use ferry_compat::base44::model::{Dialect, Entity};
use ferry_compat::base44::record::{
    Cell, RecordError, clear_sql, count_sql, import_batch_limit, import_copy, import_many_sql,
    row_to_record, select_after_sql, stored_form,
};
use ferry_compat::base44::schema::{
    Inferred, infer_properties, infer_schema, parse_entities, parse_entity,
};
use ferry_compat::base44::store::Db;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checksum::Checksum;
use super::export::Export;
use super::files::Files;
use super::live::Live;
use super::source::{Page, Record, RecordSource};
use super::{
    Base44Error, Base44Options, Base44Report, EntityReport, FilesReport, MixedField, SourceSpec,
};
use crate::endpoint::redact;
use crate::job::{Checkpoints, ChunkDone, Event, JobKind, JobStatus, Observer};

/// Rows read back per query when verifying.
const VERIFY_PAGE: usize = 5000;

/// Rows decoded between two yields while the next page is read.
const VERIFY_YIELD: usize = 250;

/// Records per piece of a batch's `COPY` data: readied and sent while the server reads the
/// previous piece.
const COPY_PIECE: usize = 500;

/// What the job's plan holds: per entity, how far the load got.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    entities: BTreeMap<String, EntityState>,
    /// Where each entity's schema came from.
    schema_from: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EntityState {
    /// Source records consumed (the next page starts here).
    offset: u64,
    records: u64,
    bytes: u64,
    checksum: String,
    batches: u32,
    /// Batches written with `COPY` (absent from plans written before it existed).
    #[serde(default)]
    copied: u32,
    secs: f64,
    done: bool,
}

fn checkpoint_err(e: String) -> Base44Error {
    Base44Error::Checkpoint(e)
}

/// The job's identity: a rerun with the same source, target and entities resumes it.
fn job_key(options: &Base44Options) -> String {
    let source = match &options.source {
        SourceSpec::Live { app_id } => format!(
            "base44://{app_id}?api={}&env={}",
            redact(&options.api_url),
            if options.dev { "dev" } else { "prod" }
        ),
        SourceSpec::Export { dir } => format!(
            "base44-export:{}",
            std::fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
        ),
    };
    format!(
        "{source} -> {} [{}]",
        redact(&options.target),
        options.entities.join(",")
    )
}

fn source_label(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::Live { app_id } => format!("base44://{app_id}"),
        SourceSpec::Export { dir } => format!("base44-export:{}", dir.display()),
    }
}

/// Runs a Base44 pull (see the module docs of `base44`).
pub async fn pull_base44(
    options: &Base44Options,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
) -> Result<Base44Report, Base44Error> {
    let started = Instant::now();
    let source = match &options.source {
        SourceSpec::Live { app_id } => {
            let token = options
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Base44Error::BadSource(
                        "a live pull needs the app's token (--token, or FERRY_BASE44_TOKEN)".into(),
                    )
                })?;
            RecordSource::Live(Live::new(
                &options.api_url,
                app_id,
                token,
                options.dev,
                options.schemas.clone(),
                options.entities.clone(),
            ))
        }
        SourceSpec::Export { dir } => RecordSource::Export(Export::open(
            dir,
            options.schemas.clone(),
            options.entities.clone(),
        )?),
    };
    observer.event(&Event::Phase {
        phase: "connect".into(),
    });
    let catalog = source.catalog().await?;
    let db = Db::open(&options.target).await?;

    let key = job_key(options);
    if options.fresh {
        store.abandon(&key).map_err(checkpoint_err)?;
    }
    let finished = if options.fresh {
        None
    } else {
        store
            .list(500)
            .map_err(checkpoint_err)?
            .into_iter()
            .find(|j| j.key == key && j.status == JobStatus::Succeeded)
    };
    let resumable = if options.fresh {
        None
    } else {
        store.resumable(&key).map_err(checkpoint_err)?
    };
    let (job, resumed, already_done, mut state) = match (resumable, finished) {
        (Some(job), _) => {
            let state: State = job
                .plan
                .clone()
                .and_then(|p| serde_json::from_value(p).ok())
                .unwrap_or_default();
            (job, true, false, state)
        }
        (None, Some(job)) => {
            let state: State = job
                .plan
                .clone()
                .and_then(|p| serde_json::from_value(p).ok())
                .unwrap_or_default();
            (job, false, true, state)
        }
        (None, None) => {
            let description = format!(
                "{} → {}",
                source_label(&options.source),
                redact(&options.target)
            );
            let job = store
                .create(JobKind::Pull, &key, &description)
                .map_err(checkpoint_err)?;
            (job, false, false, State::default())
        }
    };
    let kept: usize = state.entities.values().map(|e| e.batches as usize).sum();
    observer.event(&Event::Job {
        id: job.id.clone(),
        resumed,
        chunks_kept: kept,
    });
    if already_done {
        observer.event(&Event::Note {
            message: format!(
                "this pull finished earlier (job {}): nothing to copy, verifying the target",
                job.id
            ),
        });
    }

    let mut report = Base44Report {
        job: job.id.clone(),
        resumed,
        already_done,
        source: source_label(&options.source),
        target: redact(&options.target),
        entities: Vec::new(),
        inferred: Vec::new(),
        mixed: Vec::new(),
        schemas_written: None,
        files: FilesReport::default(),
        notes: Vec::new(),
        ok: false,
        seconds: 0.0,
    };
    let result = run(
        options,
        &source,
        &catalog.entities,
        &catalog.schemas,
        &db,
        store,
        observer,
        &job.id,
        &mut state,
        &mut report,
    )
    .await;
    report.seconds = started.elapsed().as_secs_f64();
    let summary = serde_json::to_value(&report).unwrap_or(Value::Null);
    match &result {
        Ok(()) if report.ok => {
            if !already_done {
                store
                    .finish(&job.id, JobStatus::Succeeded, &summary, None)
                    .map_err(checkpoint_err)?;
            }
        }
        Ok(()) => {
            let message = format!("the copy differs for {}", report.differing().join(", "));
            store
                .finish(&job.id, JobStatus::Failed, &summary, Some(&message))
                .map_err(checkpoint_err)?;
        }
        Err(Base44Error::Interrupted) => {
            store
                .finish(&job.id, JobStatus::Interrupted, &summary, None)
                .map_err(checkpoint_err)?;
        }
        Err(err) => {
            store
                .finish(&job.id, JobStatus::Failed, &summary, Some(&err.to_string()))
                .map_err(checkpoint_err)?;
        }
    }
    result.map(|()| report)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    options: &Base44Options,
    source: &RecordSource,
    names: &[String],
    schema_files: &[(String, String)],
    db: &Db,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
    job: &str,
    state: &mut State,
    report: &mut Base44Report,
) -> Result<(), Base44Error> {
    observer.event(&Event::Phase {
        phase: "schema".into(),
    });
    let declared: HashMap<String, Entity> = parse_entities(schema_files.iter().cloned())?
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let applied: HashMap<String, Entity> = db
        .applied()
        .await?
        .into_iter()
        .map(|a| (a.entity.name.clone(), a.entity))
        .collect();
    // Only a new job checks for records already there: a resumed one may have committed a
    // batch whose checkpoint was never written (its ids are skipped when redone).
    let fresh_job = !report.resumed && !report.already_done;
    let schema_kind = match &options.source {
        SourceSpec::Live { .. } if !schema_files.is_empty() && options.schemas.is_none() => "api",
        _ => "file",
    };

    // Each entity's schema: the source's, else the target's, else inferred from its records.
    let mut buffered: HashMap<String, Vec<Record>> = HashMap::new();
    let mut wanted: Vec<Entity> = Vec::new();
    for name in names {
        let target = applied.get(name);
        let entity = if let Some(entity) = declared.get(name) {
            state
                .schema_from
                .entry(name.clone())
                .or_insert_with(|| schema_kind.into());
            merge(target, entity.clone(), &mut report.notes)
        } else if let Some(entity) = target {
            state
                .schema_from
                .entry(name.clone())
                .or_insert_with(|| "target".into());
            entity.clone()
        } else {
            let records = all_records(source, name).await?;
            let mixed = infer_properties(name, &records);
            for (field, inferred) in mixed {
                if let Inferred::Mixed(kinds) = inferred {
                    report.mixed.push(MixedField {
                        entity: name.clone(),
                        field,
                        kinds,
                    });
                }
            }
            let schema = infer_schema(name, &records);
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            let entity = parse_entity(&format!("{name}.jsonc"), &text)?;
            if let Some(dir) = &options.write_schemas {
                write_schema(dir, name, records.len(), &text)?;
                report.schemas_written = Some(dir.clone());
            }
            state.schema_from.insert(name.clone(), "inferred".into());
            buffered.insert(name.clone(), records);
            entity
        };
        wanted.push(entity);
    }
    report.inferred = state
        .schema_from
        .iter()
        .filter(|(_, from)| *from == "inferred")
        .map(|(name, _)| name.clone())
        .collect();

    // A first run never mixes its records with ones already there (unless --force).
    if fresh_job {
        for entity in &wanted {
            if !applied.contains_key(&entity.name) {
                continue;
            }
            let rows = count(db, entity).await?;
            if rows > 0 {
                if !options.force {
                    return Err(Base44Error::TargetNotEmpty {
                        entity: entity.name.clone(),
                        rows,
                    });
                }
                db.execute(&clear_sql(entity)).await?;
                report.notes.push(format!(
                    "--force: removed the {rows} records `{}` held",
                    entity.name
                ));
            }
        }
    }
    let entities: Vec<Entity> = if report.already_done {
        wanted
    } else {
        let migrated = db.migrate(wanted).await?;
        migrated.into_iter().map(|a| a.entity).collect()
    };
    save(store, job, state)?;

    let mut files = Files::new(options.files_root.clone(), source.own_host())?;
    if !report.already_done {
        observer.event(&Event::Phase {
            phase: "copy".into(),
        });
        let mut batches_this_run = 0u64;
        for entity in &entities {
            if options.cancel.is_cancelled() {
                return Err(Base44Error::Interrupted);
            }
            load(
                options,
                source,
                entity,
                buffered.remove(&entity.name),
                db,
                &mut files,
                store,
                observer,
                job,
                state,
                &mut batches_this_run,
            )
            .await?;
        }
    }
    report.files = FilesReport {
        moved: files.active(),
        downloaded: files.downloaded,
        rewritten: files.rewritten,
        left: files.left,
        failed: files.failures.clone(),
    };
    if !files.active() && files.left > 0 {
        report.notes.push(format!(
            "{} file URLs hosted by Base44 were left as they are: pass --app NAME to copy the files into the app",
            files.left
        ));
    }

    observer.event(&Event::Phase {
        phase: "verify".into(),
    });
    let mut all_ok = true;
    for entity in &entities {
        let progress = state
            .entities
            .get(&entity.name)
            .cloned()
            .unwrap_or_default();
        let (rows, checksum) = read_back(db, entity).await?;
        let ok = rows == progress.records && checksum.hex() == progress.checksum;
        all_ok &= ok;
        report.entities.push(EntityReport {
            entity: entity.name.clone(),
            table: entity.table.clone(),
            schema: state
                .schema_from
                .get(&entity.name)
                .cloned()
                .unwrap_or_default(),
            records: progress.records,
            bytes: progress.bytes,
            seconds: progress.secs,
            records_per_sec: if progress.secs > 0.0 {
                progress.records as f64 / progress.secs
            } else {
                0.0
            },
            batches: progress.batches,
            copied_batches: progress.copied,
            checksum: progress.checksum.clone(),
            target_records: rows,
            target_checksum: checksum.hex(),
            ok,
        });
    }
    report.ok = all_ok;
    Ok(())
}

/// The target's entity with the source schema's new fields added (never a field removed, nor
/// a type changed: a differing type keeps the target's, with a note).
fn merge(target: Option<&Entity>, source: Entity, notes: &mut Vec<String>) -> Entity {
    let Some(target) = target else {
        return source;
    };
    let mut out = target.clone();
    for field in source.fields {
        match out.field(&field.name) {
            Some(known) => {
                if std::mem::discriminant(&known.ty) != std::mem::discriminant(&field.ty) {
                    notes.push(format!(
                        "`{}.{}`: the target's type is kept ({:?}, the source says {:?})",
                        out.name, field.name, known.ty, field.ty
                    ));
                }
            }
            None => out.fields.push(field),
        }
    }
    if out.rls.is_none() {
        out.rls = source.rls;
    }
    out
}

/// Every record of an entity (to infer its schema).
async fn all_records(source: &RecordSource, name: &str) -> Result<Vec<Record>, Base44Error> {
    let mut out = Vec::new();
    let size = source.page_size();
    loop {
        let page = source.page(name, out.len() as u64, size).await?;
        let done = page.last || page.records.is_empty();
        out.extend(page.records);
        if done {
            return Ok(out);
        }
    }
}

fn write_schema(dir: &Path, name: &str, records: usize, text: &str) -> Result<(), Base44Error> {
    let io = |e: std::io::Error| Base44Error::Io {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let body = format!(
        "// Inferred by `ferry db pull` from {records} records: review the types, add `enum`, \
         `required` and `rls`, then keep it in base44/entities/.\n{text}\n"
    );
    std::fs::write(dir.join(format!("{name}.jsonc")), body).map_err(io)
}

fn save(store: &dyn Checkpoints, job: &str, state: &State) -> Result<(), Base44Error> {
    let plan = serde_json::to_value(state).map_err(|e| Base44Error::Checkpoint(e.to_string()))?;
    store.set_plan(job, &plan).map_err(checkpoint_err)
}

async fn count(db: &Db, entity: &Entity) -> Result<u64, Base44Error> {
    let rows = db.query(&count_sql(entity), 1).await?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Cell::Int(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Cell::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    })
}

/// Loads one entity from where its state says, a batch per transaction, fetching the next
/// page while the current one is written.
#[allow(clippy::too_many_arguments)]
async fn load(
    options: &Base44Options,
    source: &RecordSource,
    entity: &Entity,
    buffered: Option<Vec<Record>>,
    db: &Db,
    files: &mut Files,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
    job: &str,
    state: &mut State,
    batches_this_run: &mut u64,
) -> Result<(), Base44Error> {
    let name = entity.name.clone();
    let mut progress = state.entities.get(&name).cloned().unwrap_or_default();
    if progress.done {
        return Ok(());
    }
    let size = source.page_size();
    observer.event(&Event::TableStart {
        table: name.clone(),
        rows: buffered.as_ref().map_or(0, |b| b.len() as u64),
        bytes: 0,
    });
    let started = Instant::now();
    let secs_before = progress.secs;
    let pull_start = ferry_compat::base44::now_datetime();
    let fetch = |offset: u64| {
        let buffered = buffered.as_ref();
        let name = name.clone();
        async move {
            match buffered {
                Some(all) => {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
                    let end = start.saturating_add(size).min(all.len());
                    let bytes: u64 = all[start..end]
                        .iter()
                        .map(|r| serde_json::to_vec(r).map_or(0, |v| v.len() as u64))
                        .sum();
                    Ok(Page {
                        records: all[start..end].to_vec(),
                        bytes,
                        last: end >= all.len(),
                    })
                }
                None => source.page(&name, offset, size).await,
            }
        }
    };
    let mut checksum = Checksum::parse(&progress.checksum).unwrap_or_default();
    let mut pending = Some(fetch(progress.offset).await?);
    while let Some(page) = pending.take() {
        let next_offset = progress.offset + page.records.len() as u64;
        let more = !page.last && !page.records.is_empty();
        let page_bytes = page.bytes;
        let write = write_batch(entity, page.records, db, files, &pull_start);
        let next = async {
            if more {
                Some(fetch(next_offset).await)
            } else {
                None
            }
        };
        let (written, next) = tokio::join!(write, next);
        let (rows, batch_sum, copied) = written?;
        *batches_this_run += 1;
        if options
            .stop_after_batches
            .is_some_and(|n| *batches_this_run >= n)
        {
            // The batch is committed, its checkpoint is not: what a crash leaves.
            return Err(Base44Error::Interrupted);
        }
        checksum.0 = checksum.0.wrapping_add(batch_sum.0);
        progress.offset = next_offset;
        progress.records += rows;
        progress.bytes += page_bytes;
        progress.checksum = checksum.hex();
        progress.batches += 1;
        progress.copied += u32::from(copied);
        progress.secs = secs_before + started.elapsed().as_secs_f64();
        progress.done = !more;
        state.entities.insert(name.clone(), progress.clone());
        save(store, job, state)?;
        store
            .chunk_done(
                job,
                &ChunkDone {
                    table: name.clone(),
                    chunk: progress.batches,
                    rows,
                    bytes: page_bytes,
                },
            )
            .map_err(checkpoint_err)?;
        store
            .progress(job, &name, progress.records, progress.bytes)
            .map_err(checkpoint_err)?;
        observer.event(&Event::Progress {
            table: name.clone(),
            rows: progress.records,
            bytes: progress.bytes,
        });
        if let Some(next) = next {
            if options.cancel.is_cancelled() {
                return Err(Base44Error::Interrupted);
            }
            pending = Some(next?);
        }
    }
    if !progress.done {
        progress.done = true;
        state.entities.insert(name.clone(), progress.clone());
        save(store, job, state)?;
    }
    observer.event(&Event::TableDone {
        table: name,
        rows: progress.records,
        bytes: progress.bytes,
        secs: progress.secs,
    });
    Ok(())
}

/// Writes one batch in one transaction; returns its record count, its checksum and whether it
/// was copied. On PostgreSQL
/// the batch is streamed with `COPY` (see [`copy_batch`]); when that cannot hold it exactly as
/// the INSERT would, it is inserted instead.
async fn write_batch(
    entity: &Entity,
    mut records: Vec<Record>,
    db: &Db,
    files: &mut Files,
    now: &str,
) -> Result<(u64, Checksum, bool), Base44Error> {
    if records.is_empty() {
        return Ok((0, Checksum::default(), false));
    }
    let mut sum = Checksum::default();
    let mut prepared = 0;
    if db.dialect() == Dialect::Postgres
        && copy_batch(
            entity,
            &mut records,
            db,
            files,
            now,
            &mut sum,
            &mut prepared,
        )
        .await?
    {
        return Ok((records.len() as u64, sum, true));
    }
    for record in &mut records[prepared..] {
        prepare_record(entity, record, files, now, &mut sum).await?;
    }
    let mut tx = db.begin().await?;
    for chunk in records.chunks(import_batch_limit(entity)) {
        let sql = import_many_sql(entity, chunk, db.dialect()).map_err(|e| match e {
            RecordError::InRecord { index, source } => match chunk.get(index) {
                Some(record) => record_error(entity, record, *source),
                None => Base44Error::Record {
                    entity: entity.name.clone(),
                    id: format!("#{index}"),
                    source: *source,
                },
            },
            other => Base44Error::Record {
                entity: entity.name.clone(),
                id: "(batch)".into(),
                source: other,
            },
        })?;
        tx.execute(&sql).await?;
    }
    tx.commit().await?;
    Ok((records.len() as u64, sum, false))
}

/// Readies one record for writing: its file URLs rewritten, missing dates filled (`now`, and
/// `updated_date` from `created_date`), its stored form added to `sum`.
async fn prepare_record(
    entity: &Entity,
    record: &mut Record,
    files: &mut Files,
    now: &str,
    sum: &mut Checksum,
) -> Result<(), Base44Error> {
    files.rewrite(&entity.name, record).await;
    if matches!(record.get("created_date"), None | Some(Value::Null)) {
        record.insert("created_date".into(), Value::String(now.to_string()));
    }
    if matches!(record.get("updated_date"), None | Some(Value::Null)) {
        let created = record.get("created_date").cloned().unwrap_or(Value::Null);
        record.insert("updated_date".into(), created);
    }
    let stored = stored_form(entity, record).map_err(|e| record_error(entity, record, e))?;
    sum.add(&stored);
    Ok(())
}

/// Streams a batch into its table with `COPY … FROM STDIN` in one transaction, readying the
/// records ([`prepare_record`], counted in `prepared`) a piece at a time while the server
/// reads the previous piece. `Ok(false)` when the copy did not commit — a record the table
/// already holds (a batch redone after a crash), a value COPY cannot carry as the INSERT
/// would, any database error: nothing of it stays, and the caller inserts the batch
/// (`INSERT … ON CONFLICT ("id") DO NOTHING`), which skips known ids or fails as it always
/// did. A record that cannot be readied is an error, as in the INSERT path.
async fn copy_batch(
    entity: &Entity,
    records: &mut [Record],
    db: &Db,
    files: &mut Files,
    now: &str,
    sum: &mut Checksum,
    prepared: &mut usize,
) -> Result<bool, Base44Error> {
    let copy = import_copy(entity, records);
    let Ok(mut tx) = db.begin().await else {
        return Ok(false);
    };
    let Ok(sink) = tx.copy_in(&copy.statement).await else {
        return Ok(false);
    };
    let copied = {
        let mut sink = std::pin::pin!(sink);
        let mut copied = true;
        for piece in records.chunks_mut(COPY_PIECE) {
            for record in piece.iter_mut() {
                prepare_record(entity, record, files, now, sum).await?;
                *prepared += 1;
            }
            if !copied {
                // Readied for the INSERT; the copy is aborted when the sink is dropped.
                continue;
            }
            let mut data = Vec::with_capacity(piece.len() * 256);
            copied = matches!(copy.write_rows(entity, piece, &mut data), Ok(true))
                && sink.send(Bytes::from(data)).await.is_ok();
        }
        copied && sink.as_mut().finish().await.is_ok()
    };
    if !copied {
        // Best effort: a failed rollback leaves the connection to the pool's own rollback.
        let _ = tx.rollback().await;
        return Ok(false);
    }
    Ok(tx.commit().await.is_ok())
}

fn record_error(entity: &Entity, record: &Record, source: RecordError) -> Base44Error {
    let id = record
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| "(no id)".to_string(), |s| s.chars().take(64).collect());
    Base44Error::Record {
        entity: entity.name.clone(),
        id,
        source,
    }
}

/// The target's records of `entity`, read back as the API would answer them: count and
/// checksum. The next page is asked for while the current one is decoded.
async fn read_back(db: &Db, entity: &Entity) -> Result<(u64, Checksum), Base44Error> {
    let columns = ferry_compat::base44::record::public_columns(entity).len();
    let page_of = |after: Option<String>| async move {
        let sql = select_after_sql(entity, after.as_deref(), VERIFY_PAGE, db.dialect());
        db.query(&sql, columns).await
    };
    let mut sum = Checksum::default();
    let mut rows = 0u64;
    let mut page = page_of(None).await?;
    loop {
        // The id is the first column: the next page starts after this one's last row.
        let after = match page.last().and_then(|row| row.first()) {
            Some(Cell::Text(id)) if page.len() == VERIFY_PAGE => Some(id.clone()),
            _ => None,
        };
        let next = async {
            match after {
                Some(after) => Some(page_of(Some(after)).await),
                None => None,
            }
        };
        let decode = async {
            for (i, row) in page.iter().enumerate() {
                if i % VERIFY_YIELD == VERIFY_YIELD - 1 {
                    // Lets the next page's query make progress meanwhile.
                    tokio::task::yield_now().await;
                }
                let record =
                    row_to_record(entity, row, db.dialect()).map_err(|e| Base44Error::Record {
                        entity: entity.name.clone(),
                        id: "(read back)".into(),
                        source: e,
                    })?;
                sum.add(&record);
                rows += 1;
            }
            Ok::<(), Base44Error>(())
        };
        let (next, decoded) = tokio::join!(next, decode);
        decoded?;
        match next {
            Some(next) => page = next?,
            None => return Ok((rows, sum)),
        }
    }
}

//! `db pull`: schema, data in parallel chunks under one snapshot, then indexes, constraints,
//! policies, grants and sequence values.

mod copy;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{Catalog, QualifiedName, Table, read};
use crate::chunk::{self, TablePlan};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Event, JobKind, JobRecord, JobStatus, Observer};
use crate::select::{Scope, Selection, Skipped};
use crate::sqlite::SqliteTarget;
use crate::{canon, ddl, pg};

/// Set from a signal handler: workers stop at the next message and the job is left
/// resumable.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Schemas and tables.
    pub selection: Selection,
    /// Parallel workers (source connections), at least 1.
    pub jobs: usize,
    /// Replace tables the target already holds.
    pub force: bool,
    /// Ignore an earlier unfinished run and start over.
    pub fresh: bool,
    /// Stop request.
    pub cancel: Cancel,
    /// Bytes per chunk (None: 1 GiB). Smaller chunks mean finer resume and more parallelism
    /// within a table, but a split table cannot be loaded with COPY FREEZE, so its indexes
    /// and foreign keys cost more afterwards (every row's hint bits are set on first read).
    pub chunk_bytes: Option<i64>,
}

/// One copied table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCopy {
    /// `schema.table`.
    pub table: String,
    /// Rows copied (this run and kept chunks).
    pub rows: u64,
    /// Bytes read from the source.
    pub bytes: u64,
    /// Chunks in the plan.
    pub chunks: usize,
    /// Chunks kept from an earlier run.
    pub chunks_kept: usize,
    /// Seconds spent by this run.
    pub secs: f64,
}

/// Supabase Storage metadata that was copied: the files themselves are still to fetch.
#[derive(Debug, Clone, Serialize)]
pub struct StorageReport {
    /// `storage.buckets` rows.
    pub buckets: u64,
    /// `storage.objects` rows.
    pub objects: u64,
    /// Sum of the objects' `metadata.size`.
    pub bytes: u64,
}

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// Job id.
    pub job: String,
    /// Whether an earlier run was resumed.
    pub resumed: bool,
    /// Source URL (redacted).
    pub source: String,
    /// Target URL (redacted).
    pub target: String,
    /// Tables copied.
    pub tables: Vec<TableCopy>,
    /// Left out, with reasons.
    pub skipped: Vec<Skipped>,
    /// Objects that could not be recreated on the target (e.g. policies on SQLite).
    pub warnings: Vec<String>,
    /// Storage metadata copied.
    pub storage: Option<StorageReport>,
    /// Total rows.
    pub rows: u64,
    /// Total bytes read.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub secs: f64,
}

/// Copies `from` (a Postgres URL) into `to` (a Postgres or `sqlite://` URL).
pub async fn pull(
    from: &str,
    to: &str,
    options: &PullOptions,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
) -> Result<PullReport> {
    let started = Instant::now();
    let source = Endpoint::parse_source(from)?;
    let target = Endpoint::parse(to)?;
    let jobs = options.jobs.max(1);
    let ckpt = |e: String| DataError::Checkpoint(e);

    observer.event(&Event::Phase {
        phase: "connect".into(),
    });
    let coordinator = pg::connect(&source, "source").await?;
    coordinator
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(src_err("starting the snapshot transaction"))?;
    let snapshot: String = coordinator
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(src_err("exporting a snapshot"))?
        .get(0);
    let (scope, catalog) = read::selected(&coordinator, &options.selection).await?;
    check_source_privileges(&coordinator, &catalog).await?;

    let mut sink = Target::open(&target).await?;

    // The job: resume the unfinished one with the same key unless told to start over.
    let key = job_key(&source.redacted, &target.display(), &options.selection);
    if options.fresh {
        store.abandon(&key).map_err(ckpt)?;
    }
    let previous = store.resumable(&key).map_err(ckpt)?;
    let resumed = previous.is_some();
    let job = match previous {
        Some(j) => j,
        None => store
            .create(
                JobKind::Pull,
                &key,
                &format!("{} → {}", source.redacted, target.display()),
            )
            .map_err(ckpt)?,
    };
    let outcome = run(
        Run {
            source: &source,
            snapshot: &snapshot,
            catalog: &catalog,
            scope: &scope,
            jobs,
            options,
            store,
            observer,
            job: &job,
            resumed,
        },
        &coordinator,
        &mut sink,
    )
    .await;
    let _ = coordinator.batch_execute("COMMIT").await;
    match outcome {
        Ok((tables, warnings, storage)) => {
            let report = PullReport {
                job: job.id.clone(),
                resumed,
                source: source.redacted.clone(),
                target: target.display(),
                rows: tables.iter().map(|t| t.rows).sum(),
                bytes: tables.iter().map(|t| t.bytes).sum(),
                tables,
                skipped: scope.skipped.clone(),
                warnings,
                storage,
                secs: started.elapsed().as_secs_f64(),
            };
            let summary = serde_json::to_value(&report).unwrap_or_default();
            store
                .finish(&job.id, JobStatus::Succeeded, &summary, None)
                .map_err(ckpt)?;
            Ok(report)
        }
        Err(e) => {
            let status = if matches!(e, DataError::Interrupted { .. }) {
                JobStatus::Interrupted
            } else {
                JobStatus::Failed
            };
            let _ = store.finish(
                &job.id,
                status,
                &serde_json::Value::Null,
                Some(&e.to_string()),
            );
            Err(e)
        }
    }
}

fn src_err(context: &'static str) -> impl Fn(tokio_postgres::Error) -> DataError {
    move |e| pg::sql_error("source", context, &e)
}

fn dst_err(context: String) -> impl Fn(tokio_postgres::Error) -> DataError {
    move |e| pg::sql_error("target", &context, &e)
}

fn job_key(source: &str, target: &str, selection: &Selection) -> String {
    let text = format!(
        "{source}|{target}|{:?}|{:?}",
        selection.schemas, selection.tables
    );
    format!("{:016x}", canon::hash64(text.as_bytes()))
}

async fn check_source_privileges(client: &Client, catalog: &Catalog) -> Result<()> {
    let names: Vec<String> = catalog.tables.iter().map(|t| t.name.sql()).collect();
    let rows = client
        .query(
            "SELECT n FROM unnest($1::text[]) n WHERE NOT has_table_privilege(n, 'SELECT')",
            &[&names],
        )
        .await
        .map_err(src_err("checking privileges"))?;
    if rows.is_empty() {
        return Ok(());
    }
    let denied: Vec<String> = rows.iter().take(5).map(|r| r.get(0)).collect();
    Err(DataError::Privilege {
        side: "source",
        what: format!(
            "SELECT on {}{}",
            denied.join(", "),
            if rows.len() > 5 { " and more" } else { "" }
        ),
    })
}

/// Where rows go (one value per pull: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Target {
    Postgres {
        endpoint: PgEndpoint,
        client: Client,
    },
    Sqlite {
        path: std::path::PathBuf,
        db: Arc<Mutex<SqliteTarget>>,
    },
}

impl Target {
    async fn open(endpoint: &Endpoint) -> Result<Target> {
        match endpoint {
            Endpoint::Postgres(ep) => {
                let client = pg::connect(ep, "target").await?;
                let can_create: bool = client
                    .query_one(
                        "SELECT has_database_privilege(current_database(), 'CREATE')",
                        &[],
                    )
                    .await
                    .map_err(dst_err("checking privileges".into()))?
                    .get(0);
                if !can_create {
                    return Err(DataError::Privilege {
                        side: "target",
                        what: "CREATE on the target database (to create schemas)".into(),
                    });
                }
                Ok(Target::Postgres {
                    endpoint: ep.clone(),
                    client,
                })
            }
            Endpoint::Sqlite(path) => {
                let db = SqliteTarget::open(path)?;
                Ok(Target::Sqlite {
                    path: path.clone(),
                    db: Arc::new(Mutex::new(db)),
                })
            }
        }
    }
}

struct Run<'a> {
    source: &'a PgEndpoint,
    snapshot: &'a str,
    catalog: &'a Catalog,
    scope: &'a Scope,
    jobs: usize,
    options: &'a PullOptions,
    store: &'a dyn Checkpoints,
    observer: &'a dyn Observer,
    job: &'a JobRecord,
    resumed: bool,
}

type RunOutput = (Vec<TableCopy>, Vec<String>, Option<StorageReport>);

async fn run(r: Run<'_>, coordinator: &Client, target: &mut Target) -> Result<RunOutput> {
    let ckpt = |e: String| DataError::Checkpoint(e);
    let mut warnings = Vec::new();
    let with_rows = tables_with_rows(target, r.catalog).await?;
    if !r.resumed && !r.options.force && !with_rows.is_empty() {
        let shown: Vec<&str> = with_rows.iter().take(5).map(String::as_str).collect();
        let more = if with_rows.len() > 5 { " and more" } else { "" };
        return Err(DataError::TargetNotEmpty {
            what: format!("{}{more} already hold rows", shown.join(", ")),
        });
    }
    let mut done = if r.resumed {
        r.store.chunks_done(&r.job.id).map_err(ckpt)?
    } else {
        vec![]
    };
    // Chunks kept by an earlier run must still be on the target: a table that was dropped or
    // emptied since then (a recreated database) is copied again.
    let mut lost: Vec<String> = done
        .iter()
        .filter(|c| c.rows > 0 && !with_rows.contains(&c.table))
        .map(|c| c.table.clone())
        .collect();
    lost.sort();
    lost.dedup();
    for table in &lost {
        r.store.reset_table(&r.job.id, table).map_err(ckpt)?;
        r.observer.event(&Event::Note {
            message: format!("{table} lost the rows an earlier run copied; copying it again"),
        });
    }
    done.retain(|c| !lost.contains(&c.table));
    r.observer.event(&Event::Job {
        id: r.job.id.clone(),
        resumed: r.resumed,
        chunks_kept: done.len(),
    });
    if r.resumed {
        r.observer.event(&Event::Note {
            message: format!(
                "resuming job {}: {} committed chunks are kept; rows changed on the source since the first run are caught by `ferry db verify`",
                r.job.id,
                done.len()
            ),
        });
    }
    for s in &r.scope.skipped {
        r.observer.event(&Event::Note {
            message: format!("skipped {}: {}", s.what, s.reason),
        });
    }

    // Schema (one transaction on Postgres: all or nothing).
    r.store.set_phase(&r.job.id, "schema").map_err(ckpt)?;
    r.observer.event(&Event::Phase {
        phase: "schema".into(),
    });
    match target {
        Target::Postgres { client, .. } => {
            let available: Vec<String> = client
                .query("SELECT name::text FROM pg_available_extensions", &[])
                .await
                .map_err(dst_err("listing extensions".into()))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let has_auth_uid: bool = client
                .query_one("SELECT to_regprocedure('auth.uid()') IS NOT NULL", &[])
                .await
                .map_err(dst_err("checking auth.uid()".into()))?
                .get(0);
            let stand_in = r.scope.auth_stand_in() && !has_auth_uid;
            let mut statements = Vec::new();
            if r.options.force && !r.resumed {
                for t in &r.catalog.tables {
                    statements.push(format!("DROP TABLE IF EXISTS {} CASCADE", t.name.sql()));
                }
            }
            statements.extend(ddl::pre_data(
                r.catalog,
                stand_in,
                &available,
                &mut warnings,
            ));
            let tx = client
                .transaction()
                .await
                .map_err(dst_err("starting the schema transaction".into()))?;
            for s in &statements {
                tx.batch_execute(s)
                    .await
                    .map_err(dst_err(format!("creating the schema ({})", first_line(s))))?;
            }
            tx.commit()
                .await
                .map_err(dst_err("committing the schema".into()))?;
        }
        Target::Sqlite { db, path } => {
            let mut db = db.lock().map_err(|_| sqlite_poisoned(path))?;
            warnings.extend(db.create_tables(r.catalog, r.options.force && !r.resumed)?);
        }
    }

    // The chunk plan: fixed at the first run.
    let plans: Vec<TablePlan> = match r
        .job
        .plan
        .as_ref()
        .and_then(|p| serde_json::from_value(p.clone()).ok())
    {
        Some(p) => p,
        None => {
            let mut plans = Vec::new();
            for t in &r.catalog.tables {
                plans.push(
                    chunk::plan_table(
                        coordinator,
                        t,
                        r.options.chunk_bytes.unwrap_or(chunk::CHUNK_BYTES),
                    )
                    .await?,
                );
            }
            let value =
                serde_json::to_value(&plans).map_err(|e| DataError::Checkpoint(e.to_string()))?;
            r.store.set_plan(&r.job.id, &value).map_err(ckpt)?;
            plans
        }
    };

    // Data.
    r.store.set_phase(&r.job.id, "copy").map_err(ckpt)?;
    r.observer.event(&Event::Phase {
        phase: "copy".into(),
    });
    // On Postgres, indexes are built by the copy workers as soon as a table's data is complete.
    let indexes = matches!(target, Target::Postgres { .. }).then(|| {
        let mut order: Vec<&Table> = r.catalog.tables.iter().collect();
        order.sort_by_key(|t| std::cmp::Reverse(t.bytes));
        copy::IndexQueue::new(
            order
                .into_iter()
                .map(|t| (t.name.to_string(), ddl::index_builds(t))),
        )
    });
    let tables = copy::copy_all(&r, &plans, &done, target, indexes.as_ref()).await?;

    // Keys, indexes, constraints, policies, grants, sequences.
    r.store.set_phase(&r.job.id, "indexes").map_err(ckpt)?;
    r.observer.event(&Event::Phase {
        phase: "indexes".into(),
    });
    match target {
        Target::Postgres { endpoint, client } => {
            post_data_pg(&r, endpoint, client, &mut warnings).await?;
        }
        Target::Sqlite { db, path } => {
            let mut db = db.lock().map_err(|_| sqlite_poisoned(path))?;
            warnings.extend(db.create_indexes(r.catalog)?);
        }
    }
    let storage = storage_report(coordinator, r.catalog).await?;
    Ok((tables, warnings, storage))
}

fn first_line(s: &str) -> String {
    let line = s.trim().lines().next().unwrap_or("");
    line.chars().take(80).collect()
}

fn sqlite_poisoned(path: &std::path::Path) -> DataError {
    DataError::Sqlite {
        path: path.display().to_string(),
        reason: "a writer panicked".into(),
    }
}

/// The catalog tables that exist on the target and hold at least one row.
async fn tables_with_rows(target: &Target, catalog: &Catalog) -> Result<Vec<String>> {
    match target {
        Target::Postgres { client, .. } => {
            let mut found = Vec::new();
            for t in &catalog.tables {
                let exists: bool = client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.name.sql()])
                    .await
                    .map_err(dst_err("checking the target".into()))?
                    .get(0);
                if !exists {
                    continue;
                }
                let has_rows: bool = client
                    .query_one(
                        &format!("SELECT EXISTS (SELECT 1 FROM {})", t.name.sql()),
                        &[],
                    )
                    .await
                    .map_err(dst_err("checking the target".into()))?
                    .get(0);
                if has_rows {
                    found.push(t.name.to_string());
                }
            }
            Ok(found)
        }
        Target::Sqlite { db, path } => {
            let db = db.lock().map_err(|_| sqlite_poisoned(path))?;
            Ok(db
                .existing_rows(catalog)?
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(t, _)| t)
                .collect())
        }
    }
}

async fn post_data_pg(
    r: &Run<'_>,
    endpoint: &PgEndpoint,
    client: &Client,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let ckpt = |e: String| DataError::Checkpoint(e);
    // The indexes were built by the copy workers; keys are attached to theirs (instant).
    let mut order: Vec<&Table> = r.catalog.tables.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    for t in &order {
        for s in ddl::key_attachments(t) {
            client
                .batch_execute(&s)
                .await
                .map_err(dst_err(format!("adding the keys of {}", t.name)))?;
        }
    }

    r.store.set_phase(&r.job.id, "constraints").map_err(ckpt)?;
    r.observer.event(&Event::Phase {
        phase: "constraints".into(),
    });
    // Foreign keys: added NOT VALID (instant), then validated in parallel (a validation
    // locks only its own table against other validations).
    let (adds, validations) = ddl::foreign_keys(r.catalog, warnings);
    for s in adds {
        client
            .batch_execute(&s)
            .await
            .map_err(dst_err("adding a foreign key".into()))?;
    }
    let queue = Mutex::new(
        validations
            .into_iter()
            .collect::<std::collections::VecDeque<_>>(),
    );
    let workers = (0..r.jobs).map(|_| async {
        if queue
            .lock()
            .map_err(|_| DataError::Checkpoint("queue poisoned".into()))?
            .is_empty()
        {
            return Ok::<(), DataError>(());
        }
        let conn = pg::connect(endpoint, "target").await?;
        loop {
            let next = queue
                .lock()
                .map_err(|_| DataError::Checkpoint("queue poisoned".into()))?
                .pop_front();
            let Some(statement) = next else { return Ok(()) };
            conn.batch_execute(&statement)
                .await
                .map_err(dst_err("validating a foreign key".into()))?;
        }
    });
    futures_util::future::try_join_all(workers).await?;

    r.store.set_phase(&r.job.id, "finish").map_err(ckpt)?;
    r.observer.event(&Event::Phase {
        phase: "finish".into(),
    });
    let (views, rest) = ddl::finish(r.catalog);
    // Views may depend on views defined later: retry until a round makes no progress.
    let mut pending = views;
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = Vec::new();
        let mut last_error = String::new();
        for v in pending {
            if let Err(e) = client.batch_execute(&v).await {
                last_error = pg::error_text(&e);
                failed.push(v);
            }
        }
        if failed.len() == before {
            for v in &failed {
                warnings.push(format!(
                    "view not created: {} ({last_error})",
                    first_line(v)
                ));
            }
            break;
        }
        pending = failed;
    }
    for s in rest {
        client
            .batch_execute(&s)
            .await
            .map_err(dst_err(format!("finishing ({})", first_line(&s))))?;
    }
    Ok(())
}

async fn storage_report(client: &Client, catalog: &Catalog) -> Result<Option<StorageReport>> {
    let objects = QualifiedName::new("storage", "objects");
    let buckets = QualifiedName::new("storage", "buckets");
    if catalog.table(&objects).is_none() {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM storage.objects)::int8,
                    (SELECT coalesce(sum((metadata->>'size')::int8), 0) FROM storage.objects)::int8",
            &[],
        )
        .await
        .map_err(src_err("reading storage metadata"))?;
    let bucket_count = if catalog.table(&buckets).is_some() {
        client
            .query_one("SELECT count(*)::int8 FROM storage.buckets", &[])
            .await
            .map_err(src_err("reading storage metadata"))?
            .get::<_, i64>(0)
    } else {
        0
    };
    Ok(Some(StorageReport {
        buckets: bucket_count.max(0) as u64,
        objects: row.get::<_, i64>(0).max(0) as u64,
        bytes: row.get::<_, i64>(1).max(0) as u64,
    }))
}

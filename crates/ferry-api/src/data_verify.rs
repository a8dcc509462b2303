//! `POST /api/v1/jobs/verify` and `GET /api/v1/jobs/{id}`: a data verify run by the server
//! as a background job (kind `verify` in `$FERRY_HOME/jobs.db`), for the API, MCP's
//! `data_verify` and the dashboard's Verify button. The server's owner only, like every data
//! job: jobs belong to no organisation.
//!
//! What can be verified:
//! - a finished Base44 pull from an export folder (`base44-export:DIR`), by its job id: the
//!   pull's own verification runs again (every entity's record count and checksum read back
//!   from the target against the ones the pull recorded), without touching the pull's record.
//!   A target URL with a password is recorded redacted, so it must then be given as `to`;
//! - a Postgres pull (Postgres → Postgres or SQLite), with its `from` and `to` URLs (the job
//!   store keeps them redacted): counts and checksums computed inside both databases, as
//!   `ferry db verify`. With the pull's `job` too, the URLs must be that pull's and only its
//!   tables are checked.
//!
//! A live Base44 pull (`base44://APP`) needs its API token, which is never stored: rerun
//! `ferry db pull` with the same arguments, which verifies a finished pull again. URLs are
//! never answered, logged or audited with their passwords.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ferry_control::JobDb;
use ferry_data::base44::{Base44Options, SourceSpec};
use ferry_data::endpoint::redact;
use ferry_data::job::{Checkpoints, ChunkDone, JobKind, JobRecord, JobStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::audited::Done;
use crate::auth::Caller;
use crate::state::ServerState;

/// Tables checked at once by a Postgres verify.
const VERIFY_WORKERS: usize = 2;
/// Differing keys named per table.
const MAX_KEYS: usize = 10;

/// The body of `POST /api/v1/jobs/verify`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// A finished pull (`job_` + 12 hex) to verify again.
    #[serde(default)]
    job: Option<String>,
    /// The source database URL (`postgres://…`), for a Postgres pull. Never answered or
    /// logged.
    #[serde(default)]
    from: Option<String>,
    /// The target URL (`postgres://…`, `sqlite:///…`): for a Postgres pull, or a Base44 pull
    /// whose target has a password. Never answered or logged.
    #[serde(default)]
    to: Option<String>,
}

/// The answer of `POST /api/v1/jobs/verify`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct VerifyStarted {
    /// The verify job's id: poll `GET /api/v1/jobs/{id}`.
    id: String,
    /// Always `verify`.
    kind: String,
    /// Always `running`.
    status: String,
    /// The pull it checks, when one was named.
    of: Option<String>,
    /// `base44` (the pull's own verification again) or `postgres` (counts and checksums).
    method: String,
    /// `source ≟ target`, URLs redacted.
    description: String,
}

/// The answer of `GET /api/v1/jobs/{id}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JobDetail {
    /// `job_` + 12 hex.
    id: String,
    /// `pull`, `verify` or `follow`.
    kind: String,
    /// `source → target` (`≟` for a verify), URLs redacted.
    description: String,
    /// `running`, `succeeded`, `failed`, `interrupted`, `abandoned`.
    status: String,
    /// `connect`, `schema`, `copy`, `verify`, `done`…
    phase: String,
    /// Per table or entity: `{rows, bytes}` so far (a verify: the target's rows).
    progress: std::collections::BTreeMap<String, crate::openapi::schemas::JobProgress>,
    /// The final report: a verify's per-table results (`tables[]` with source and target
    /// rows and `equal`, or `entities[]` with records, checksums and `ok`).
    #[schema(value_type = Object)]
    summary: Option<Value>,
    /// The error, when failed (a verify that found differences: what differs).
    error: Option<String>,
    /// Whether `POST /api/v1/jobs/verify` can check this job by its id alone.
    reverifiable: bool,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    updated_at: i64,
}

/// `POST /api/v1/jobs/verify`: starts a verify job and answers its id at once.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/verify",
    tag = "data",
    summary = "Verifies a pull's target against its source, as a background job (the server's owner)",
    request_body = VerifyRequest,
    responses(
        (status = 202, description = "Started: poll `GET /api/v1/jobs/{id}`.", body = VerifyStarted),
        (status = 404, description = "No such job.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The job cannot be verified (not a finished pull, a live Base44 pull, URLs that are not the pull's).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn start_verify(
    State(s): State<Arc<ServerState>>,
    who: Caller,
    Json(body): Json<VerifyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    s.require_machine_owner(&who, "verify-data")?;
    let target = body
        .job
        .as_deref()
        .map_or_else(|| "jobs".to_string(), |j| format!("job/{j}"));
    let started = begin(&s, body);
    let done = started.as_ref().map(|(id, work)| {
        let mut done = Done::changed(format!("verify job {id} ({})", work.method()));
        done.after = Some(id.clone());
        done
    });
    s.audit_outcome(&who.0, "verify-data", &target, done);
    let (id, work) = started?;
    let answer = json!({
        "id": id,
        "kind": "verify",
        "status": "running",
        "of": work.pull_id(),
        "method": work.method(),
        "description": work.description(),
    });
    let home = s.home.clone();
    let job = id.clone();
    // Its own thread and runtime: a verify reads whole tables and must not slow the API.
    let spawned = std::thread::Builder::new()
        .name(format!("verify-{id}"))
        .spawn(move || run(&home, &job, work));
    if let Err(err) = spawned {
        let db = JobDb::open(&s.home)?;
        let _ = db.finish(&id, JobStatus::Failed, &Value::Null, Some(&err.to_string()));
        return Err(ApiError::new(
            500,
            "verify-not-started",
            format!("could not start the verify: {err}"),
            "see the server log",
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// `GET /api/v1/jobs/{id}`: one data job, with its final report.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "data",
    summary = "One data job: status, phase, progress, results (the server's owner)",
    params(("id" = String, Path, description = "The job's id (`job_` + 12 hex)")),
    responses(
        (status = 200, description = "Done.", body = JobDetail),
        (status = 404, description = "No such job.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show_job(
    State(s): State<Arc<ServerState>>,
    who: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.require_machine_owner(&who, "read-job")?;
    let job = find_job(&s, &id)?;
    Ok(Json(describe(&job)))
}

/// A job as `GET /api/v1/jobs/{id}` answers it.
pub fn describe(j: &JobRecord) -> Value {
    let progress: serde_json::Map<String, Value> = j
        .progress
        .iter()
        .map(|(table, (rows, bytes))| (table.clone(), json!({ "rows": rows, "bytes": bytes })))
        .collect();
    json!({
        "id": j.id,
        "kind": j.kind,
        "description": j.description,
        "status": j.status,
        "phase": j.phase,
        "progress": progress,
        "summary": j.summary,
        "error": j.error,
        "reverifiable": reverifiable(j),
        "created_at": j.created_at,
        "updated_at": j.updated_at,
    })
}

/// Whether `POST /api/v1/jobs/verify` can check `job` by its id alone: a finished Base44 pull
/// from an export folder into a target recorded without a password.
pub fn reverifiable(job: &JobRecord) -> bool {
    job.kind == JobKind::Pull
        && job.status == JobStatus::Succeeded
        && parse_base44_key(&job.key).is_some_and(|k| !k.target.contains("***"))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "job-not-found",
        format!("there is no job `{id}`"),
        "list the jobs with GET /api/v1/jobs (or `ferry db jobs`)",
    )
}

fn find_job(s: &ServerState, id: &str) -> Result<JobRecord, ApiError> {
    if !s.home.join(ferry_control::JOBS_FILE).exists() {
        return Err(not_found(id));
    }
    JobDb::open(&s.home)?.job(id)?.ok_or_else(|| not_found(id))
}

/// What a verify job does.
enum Work {
    /// The pull's own verification again.
    Base44 {
        pull: Box<JobRecord>,
        options: Box<Base44Options>,
        description: String,
    },
    /// Counts and checksums in both databases.
    Postgres {
        pull: Option<String>,
        from: String,
        to: String,
        tables: Vec<String>,
        description: String,
    },
}

impl Work {
    fn method(&self) -> &'static str {
        match self {
            Work::Base44 { .. } => "base44",
            Work::Postgres { .. } => "postgres",
        }
    }

    fn pull_id(&self) -> Option<String> {
        match self {
            Work::Base44 { pull, .. } => Some(pull.id.clone()),
            Work::Postgres { pull, .. } => pull.clone(),
        }
    }

    fn description(&self) -> &str {
        match self {
            Work::Base44 { description, .. } | Work::Postgres { description, .. } => description,
        }
    }

    /// Passwords of the URLs it holds, to scrub from error texts.
    fn secrets(&self) -> Vec<String> {
        match self {
            Work::Base44 { options, .. } => passwords(&options.target),
            Work::Postgres { from, to, .. } => {
                let mut all = passwords(from);
                all.extend(passwords(to));
                all
            }
        }
    }
}

/// Checks the request, records the verify job (running), and says what it will do.
fn begin(s: &ServerState, body: VerifyRequest) -> Result<(String, Work), ApiError> {
    let work = match body.job.as_deref() {
        Some(id) => for_job(&find_job(s, id)?, body.from, body.to)?,
        None => {
            let (Some(from), Some(to)) = (body.from, body.to) else {
                return Err(ApiError::new(
                    400,
                    "verify-needs-job-or-urls",
                    "name a finished pull (`job`), or give the `from` and `to` URLs",
                    "list the jobs with GET /api/v1/jobs",
                ));
            };
            postgres_work(None, from, to, Vec::new())?
        }
    };
    let key = format!(
        "verify:{}",
        work.pull_id()
            .unwrap_or_else(|| work.description().to_string())
    );
    let db = JobDb::open(&s.home)?;
    let job = db
        .create(JobKind::Verify, &key, work.description())
        .map_err(|e| ApiError::new(500, "jobs-db", e, "check $FERRY_HOME/jobs.db"))?;
    Ok((job.id, work))
}

/// What verifying the pull `job` takes.
fn for_job(job: &JobRecord, from: Option<String>, to: Option<String>) -> Result<Work, ApiError> {
    let refuse = |code: &str, message: String, hint: &str| ApiError::new(409, code, message, hint);
    if job.kind != JobKind::Pull {
        return Err(refuse(
            "not-a-pull",
            format!("job `{}` is a {}, not a pull", job.id, job.kind.as_str()),
            "name a pull job (GET /api/v1/jobs lists them)",
        ));
    }
    if job.status != JobStatus::Succeeded {
        return Err(refuse(
            "pull-not-finished",
            format!(
                "pull `{}` is {}, not succeeded",
                job.id,
                job.status.as_str()
            ),
            "finish it first: rerun the same `ferry db pull` command to resume it",
        ));
    }
    if job.key.starts_with("base44://") {
        return Err(refuse(
            "needs-base44-token",
            format!(
                "pull `{}` read a live Base44 app, whose API token ferry does not keep",
                job.id
            ),
            "rerun the same `ferry db pull --from base44://…` command: it verifies a finished pull again",
        ));
    }
    if let Some(key) = parse_base44_key(&job.key) {
        return base44_work(job, key, to);
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ApiError::new(
            400,
            "verify-needs-urls",
            format!(
                "pull `{}` is a Postgres pull, whose URLs are kept redacted: give `from` and `to`",
                job.id
            ),
            "pass the same --from and --to URLs the pull had",
        ));
    };
    let recorded = job.description.split_once(" → ");
    let given_from = redact(&from);
    let given_to = ferry_data::Endpoint::parse(&to)
        .map(|e| e.display())
        .unwrap_or_else(|_| redact(&to));
    if recorded != Some((given_from.as_str(), given_to.as_str())) {
        return Err(refuse(
            "urls-not-the-pull",
            format!("`from` and `to` are not the URLs of pull `{}`", job.id),
            "pass the same --from and --to URLs the pull had (its description shows them redacted)",
        ));
    }
    let tables: Vec<String> = job
        .summary
        .as_ref()
        .and_then(|s| s["tables"].as_array())
        .map(|t| {
            t.iter()
                .filter_map(|t| t["table"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    postgres_work(Some(job.id.clone()), from, to, tables)
}

fn postgres_work(
    pull: Option<String>,
    from: String,
    to: String,
    tables: Vec<String>,
) -> Result<Work, ApiError> {
    let bad = |e: ferry_data::DataError| {
        ApiError::new(
            400,
            "bad-url",
            e.to_string(),
            "check the `from` and `to` URLs",
        )
    };
    let source = ferry_data::Endpoint::parse_source(&from).map_err(bad)?;
    let target = ferry_data::Endpoint::parse(&to).map_err(bad)?;
    let description = format!("{} ≟ {}", source.redacted, target.display());
    Ok(Work::Postgres {
        pull,
        from,
        to,
        tables,
        description,
    })
}

/// A Base44 pull's identity, as its job key records it.
struct Base44Key {
    dir: std::path::PathBuf,
    target: String,
    entities: Vec<String>,
}

/// Parses `base44-export:DIR -> TARGET [A,B]` (`ferry-data`'s Base44 job key).
fn parse_base44_key(key: &str) -> Option<Base44Key> {
    let rest = key.strip_prefix("base44-export:")?;
    let (head, entities) = rest.strip_suffix(']')?.rsplit_once(" [")?;
    let (dir, target) = head.rsplit_once(" -> ")?;
    Some(Base44Key {
        dir: dir.into(),
        target: target.to_string(),
        entities: entities
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn base44_work(job: &JobRecord, key: Base44Key, to: Option<String>) -> Result<Work, ApiError> {
    let target = match to {
        Some(to) if redact(&to) == key.target => to,
        Some(_) => {
            return Err(ApiError::new(
                409,
                "urls-not-the-pull",
                format!("`to` is not the target of pull `{}`", job.id),
                "pass the same --to URL the pull had",
            ));
        }
        None if key.target.contains("***") => {
            return Err(ApiError::new(
                400,
                "verify-needs-urls",
                format!(
                    "pull `{}` wrote to a database with a password, kept redacted: give `to`",
                    job.id
                ),
                "pass the same --to URL the pull had",
            ));
        }
        None => key.target.clone(),
    };
    if !key.dir.is_dir() {
        return Err(ApiError::new(
            409,
            "source-gone",
            format!(
                "the export folder of pull `{}` is gone: {}",
                job.id,
                key.dir.display()
            ),
            "verify needs the export the pull read",
        ));
    }
    let description = format!(
        "base44-export:{} ≟ {} (pull {})",
        key.dir.display(),
        redact(&target),
        job.id
    );
    Ok(Work::Base44 {
        pull: Box::new(job.clone()),
        options: Box::new(Base44Options {
            source: SourceSpec::Export { dir: key.dir },
            token: None,
            api_url: ferry_data::base44::DEFAULT_API_URL.into(),
            dev: false,
            schemas: None,
            write_schemas: None,
            target,
            files_root: None,
            entities: key.entities,
            fresh: false,
            force: false,
            cancel: ferry_data::Cancel::default(),
            stop_after_batches: None,
        }),
        description,
    })
}

/// The passwords in a URL (raw and percent-decoded), to scrub from texts.
fn passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            out.push(password.to_string());
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("password=") {
                out.push(value.to_string());
            }
        }
    }
    let decoded: Vec<String> = out.iter().map(|p| percent_decode(p)).collect();
    out.extend(decoded);
    out.retain(|p| !p.is_empty());
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every secret replaced by `***`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

/// Runs the verify job `job` to its end (on the calling thread) and records the outcome.
fn run(home: &std::path::Path, job: &str, work: Work) {
    let secrets = work.secrets();
    let db = match JobDb::open(home) {
        Ok(db) => Arc::new(db),
        Err(err) => {
            tracing::error!(%job, %err, "verify: cannot open the job store");
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(rt) => rt.block_on(execute(&db, job, work)),
        Err(err) => Err(err.to_string()),
    };
    let (status, summary, error) = match outcome {
        Ok((summary, None)) => (JobStatus::Succeeded, summary, None),
        Ok((summary, Some(differs))) => (JobStatus::Failed, summary, Some(differs)),
        Err(err) => (JobStatus::Failed, Value::Null, Some(err)),
    };
    let error = error.map(|e| scrub(&e, &secrets));
    tracing::info!(%job, status = status.as_str(), "verify finished");
    if let Err(err) = db.finish(job, status, &summary, error.as_deref()) {
        tracing::error!(%job, %err, "verify: cannot record the outcome");
    }
}

/// The verify itself: its summary and, when the copy differs, what differs.
async fn execute(
    db: &Arc<JobDb>,
    job: &str,
    work: Work,
) -> Result<(Value, Option<String>), String> {
    match work {
        Work::Base44 { pull, options, .. } => {
            let store = Reverify::new(db.clone(), job, *pull);
            let report = ferry_data::base44::pull_base44(&options, &store, &ferry_data::Quiet)
                .await
                .map_err(|e| e.to_string())?;
            for e in &report.entities {
                let _ = db.progress(job, &e.entity, e.target_records, 0);
            }
            let differing = report.differing();
            let summary = json!({
                "method": "base44",
                "of": report.job,
                "ok": report.ok,
                "entities": report.entities.iter().map(|e| json!({
                    "entity": e.entity,
                    "table": e.table,
                    "records": e.records,
                    "checksum": e.checksum,
                    "target_records": e.target_records,
                    "target_checksum": e.target_checksum,
                    "ok": e.ok,
                })).collect::<Vec<_>>(),
                "seconds": report.seconds,
            });
            let differs =
                (!report.ok).then(|| format!("the copy differs for {}", differing.join(", ")));
            Ok((summary, differs))
        }
        Work::Postgres {
            from, to, tables, ..
        } => {
            let options = ferry_data::VerifyOptions {
                selection: ferry_data::Selection {
                    schemas: Vec::new(),
                    tables,
                },
                jobs: VERIFY_WORKERS,
                max_keys: MAX_KEYS,
            };
            let store = OneJob {
                db: db.clone(),
                job: job.to_string(),
            };
            let report = ferry_data::verify(&from, &to, &options, &store, &ferry_data::Quiet)
                .await
                .map_err(|e| e.to_string())?;
            for t in &report.tables {
                let _ = db.progress(job, &t.table, t.target_rows.unwrap_or(0), 0);
            }
            let mut summary = serde_json::to_value(&report).unwrap_or_default();
            summary["method"] = json!("postgres");
            let differs = (!report.equal).then(|| {
                let tables: Vec<&str> = report
                    .tables
                    .iter()
                    .filter(|t| !t.equal)
                    .map(|t| t.table.as_str())
                    .collect();
                format!("the databases differ: {}", tables.join(", "))
            });
            Ok((summary, differs))
        }
    }
}

/// The job store a Postgres verify sees: its job is the one already recorded (so its id was
/// answered before the verify connected); its own `finish` is left to [`run`].
struct OneJob {
    db: Arc<JobDb>,
    job: String,
}

impl Checkpoints for OneJob {
    fn create(&self, _kind: JobKind, _key: &str, _description: &str) -> Result<JobRecord, String> {
        self.db
            .get(&self.job)?
            .ok_or_else(|| format!("job {} is gone", self.job))
    }
    fn resumable(&self, _key: &str) -> Result<Option<JobRecord>, String> {
        Ok(None)
    }
    fn abandon(&self, _key: &str) -> Result<(), String> {
        Ok(())
    }
    fn set_plan(&self, job: &str, plan: &Value) -> Result<(), String> {
        self.db.set_plan(job, plan)
    }
    fn set_phase(&self, job: &str, phase: &str) -> Result<(), String> {
        self.db.set_phase(job, phase)
    }
    fn chunk_done(&self, job: &str, chunk: &ChunkDone) -> Result<(), String> {
        self.db.chunk_done(job, chunk)
    }
    fn chunks_done(&self, job: &str) -> Result<Vec<ChunkDone>, String> {
        self.db.chunks_done(job)
    }
    fn reset_table(&self, job: &str, table: &str) -> Result<(), String> {
        self.db.reset_table(job, table)
    }
    fn progress(&self, job: &str, table: &str, rows: u64, bytes: u64) -> Result<(), String> {
        self.db.progress(job, table, rows, bytes)
    }
    fn finish(&self, _: &str, _: JobStatus, _: &Value, _: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    fn list(&self, limit: usize) -> Result<Vec<JobRecord>, String> {
        self.db.list(limit)
    }
    fn get(&self, job: &str) -> Result<Option<JobRecord>, String> {
        self.db.get(job)
    }
}

/// The job store a Base44 pull sees when it is run again to verify: the finished pull is its
/// only job (so it copies nothing and verifies), its phases go to the verify job, and nothing
/// is written to the pull's record.
struct Reverify {
    db: Arc<JobDb>,
    verify: String,
    pull: JobRecord,
}

impl Reverify {
    fn new(db: Arc<JobDb>, verify: &str, pull: JobRecord) -> Self {
        Reverify {
            db,
            verify: verify.to_string(),
            pull,
        }
    }

    fn copying() -> String {
        "a verify copies nothing: the pull is not finished".into()
    }
}

impl Checkpoints for Reverify {
    fn create(&self, _kind: JobKind, _key: &str, _description: &str) -> Result<JobRecord, String> {
        Err("this pull's source or target changed since it ran: rerun `ferry db pull`".into())
    }
    fn resumable(&self, _key: &str) -> Result<Option<JobRecord>, String> {
        Ok(None)
    }
    fn abandon(&self, _key: &str) -> Result<(), String> {
        Ok(())
    }
    fn set_plan(&self, _job: &str, _plan: &Value) -> Result<(), String> {
        Ok(())
    }
    fn set_phase(&self, _job: &str, phase: &str) -> Result<(), String> {
        self.db.set_phase(&self.verify, phase)
    }
    fn chunk_done(&self, _job: &str, _chunk: &ChunkDone) -> Result<(), String> {
        Err(Self::copying())
    }
    fn chunks_done(&self, _job: &str) -> Result<Vec<ChunkDone>, String> {
        Ok(Vec::new())
    }
    fn reset_table(&self, _job: &str, _table: &str) -> Result<(), String> {
        Err(Self::copying())
    }
    fn progress(&self, _job: &str, table: &str, rows: u64, bytes: u64) -> Result<(), String> {
        self.db.progress(&self.verify, table, rows, bytes)
    }
    fn finish(&self, _: &str, _: JobStatus, _: &Value, _: Option<&str>) -> Result<(), String> {
        // The verify job's outcome is recorded by `run`; the pull's record stays as it was.
        Ok(())
    }
    fn list(&self, _limit: usize) -> Result<Vec<JobRecord>, String> {
        Ok(vec![self.pull.clone()])
    }
    fn get(&self, job: &str) -> Result<Option<JobRecord>, String> {
        if job == self.pull.id {
            return Ok(Some(self.pull.clone()));
        }
        self.db.get(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base44_keys_parse() {
        let key = parse_base44_key("base44-export:/tmp/my -> dir -> sqlite:///a b.db [Task,Note]")
            .expect("a key");
        assert_eq!(key.dir, std::path::PathBuf::from("/tmp/my -> dir"));
        assert_eq!(key.target, "sqlite:///a b.db");
        assert_eq!(key.entities, ["Task", "Note"]);
        let all = parse_base44_key("base44-export:/x -> postgres://u:***@h/db []").expect("key");
        assert!(all.entities.is_empty());
        assert_eq!(all.target, "postgres://u:***@h/db");
        assert!(parse_base44_key("base44://abc -> sqlite:///x []").is_none());
        assert!(parse_base44_key("0123456789abcdef").is_none());
    }

    #[test]
    fn passwords_are_scrubbed_raw_and_decoded() {
        let secrets = passwords("postgres://u:p%40ss@h:5432/db?password=q&sslmode=require");
        let text = "connect postgres://u:p%40ss@h failed: p@ss wrong, q too";
        let clean = scrub(text, &secrets);
        assert!(
            !clean.contains("p@ss") && !clean.contains("p%40ss"),
            "{clean}"
        );
        assert!(!clean.contains(" q "), "{clean}");
        assert!(passwords("sqlite:///tmp/x.db").is_empty());
        assert!(passwords("postgres://u@h/db").is_empty());
    }
}

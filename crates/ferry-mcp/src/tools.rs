//! The tools: their names, descriptions (which tell an agent what to call first), input
//! schemas (schemars) and annotations, and what each does through the [`crate::Api`].

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ToolError;
use crate::server::{Context, Ferry};

/// Lines `logs` answers by default, and at most.
pub const DEFAULT_LOG_LINES: u32 = 100;
/// The most lines `logs` answers.
pub const MAX_LOG_LINES: u32 = 1000;
/// Entries `audit_tail` answers by default, and at most.
pub const DEFAULT_AUDIT: u32 = 50;
/// The most entries `audit_tail` answers.
pub const MAX_AUDIT: u32 = 500;

/// No input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// An app folder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathInput {
    /// Absolute path of the app's folder on the machine ferry runs on.
    pub path: String,
}

/// `plan`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// Absolute path of the app's folder on the machine ferry runs on.
    pub path: String,
    /// Only this unit's plan (default: every unit's).
    #[serde(default)]
    pub unit: Option<String>,
}

/// `job_status`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobInput {
    /// The job id `deploy` answered (`dep_…`); without it, every job you started.
    #[serde(default)]
    pub job_id: Option<String>,
}

/// `releases`' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasesInput {
    /// The app's name, as `list_apps` shows it.
    pub app: String,
    /// Most releases to answer, newest first (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `rollback`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    /// The app's name, as `list_apps` shows it.
    pub app: String,
    /// The release to go back to (default: the one live before the current one).
    #[serde(default)]
    pub release_id: Option<String>,
    /// `true` to act. Without it nothing changes: the answer says what would.
    #[serde(default)]
    pub confirm: bool,
}

/// `promote`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteInput {
    /// The app's name, as `list_apps` shows it.
    pub app: String,
    /// The recorded release to make live (from `releases`).
    pub release_id: String,
    /// `true` to act. Without it nothing changes: the answer says what would.
    #[serde(default)]
    pub confirm: bool,
}

/// `logs`' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsInput {
    /// The app's name, as `list_apps` shows it.
    pub app: String,
    /// Last lines to answer (default 100, at most 1000).
    #[serde(default)]
    pub lines: Option<u32>,
    /// The process (default: the release's first).
    #[serde(default)]
    pub process: Option<String>,
    /// The release (default: the live one).
    #[serde(default)]
    pub release: Option<String>,
}

/// `env_names`' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvInput {
    /// The app's name, as `list_apps` shows it.
    pub app: String,
    /// The environment (default `production`).
    #[serde(default)]
    pub env: Option<String>,
}

/// `data_jobs`' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataJobsInput {
    /// Most jobs to answer, newest first (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `data_verify`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataVerifyInput {
    /// A finished pull (`job_…` from `data_jobs`) to verify. Alone, it works for a Base44
    /// pull from an export folder (`reverifiable: true` in `data_jobs`).
    #[serde(default)]
    pub job_id: Option<String>,
    /// A Postgres pull's source URL (`postgres://…`); never shown back.
    #[serde(default)]
    pub from: Option<String>,
    /// A Postgres pull's target URL (`postgres://…`, `sqlite:///…`), or a Base44 pull's target
    /// when it has a password; never shown back.
    #[serde(default)]
    pub to: Option<String>,
}

/// `data_job`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataJobInput {
    /// The data job (`job_…`, from `data_jobs` or `data_verify`).
    pub job_id: String,
}

/// `audit_tail`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditInput {
    /// Last entries to answer (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only entries about this app.
    #[serde(default)]
    pub app: Option<String>,
    /// Only entries since this time (unix milliseconds).
    #[serde(default)]
    pub since: Option<u64>,
    /// Only entries whose action is this (`activate`, `set-secret`, `authenticate`…).
    #[serde(default)]
    pub action: Option<String>,
    /// Only entries with this outcome (`ok`, `refused`, `failed`).
    #[serde(default)]
    pub outcome: Option<String>,
}

fn schema<T: JsonSchema>() -> Arc<JsonObject> {
    let mut value = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
        map.entry("properties").or_insert_with(|| json!({}));
    }
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

/// How a tool may be called.
#[derive(Clone, Copy)]
struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
};

fn tool<T: JsonSchema>(
    name: &'static str,
    title: &str,
    description: &'static str,
    h: Hints,
) -> Tool {
    let annotations = ToolAnnotations::with_title(title)
        .read_only(h.read_only)
        .destructive(h.destructive)
        .idempotent(h.idempotent)
        // Every tool acts on this ferry server only.
        .open_world(false);
    Tool::new(name, description, schema::<T>())
        .with_title(title)
        .with_annotations(annotations)
}

/// Every tool, in the order an agent usually needs them.
pub fn all() -> Vec<Tool> {
    vec![
        tool::<NoInput>(
            "list_apps",
            "List apps",
            "Call this first. Lists the apps your credentials see on this ferry server, each with its live release and URL. Every other app tool takes one of these names.",
            READ,
        ),
        tool::<PathInput>(
            "inspect",
            "Inspect an app folder",
            "Inspects an app's source folder before its first deploy: which AI builder made it, its units, services, env variables (names only), secrets found in the code or history (previews and fingerprints, never values) and findings (lock-in, security, production) each with its fix. Call it before `plan` and `deploy`. Over HTTP only folders the server's owner allowed (FERRY_MCP_ROOTS) can be read.",
            READ,
        ),
        tool::<PlanInput>(
            "plan",
            "Show the build plan",
            "Shows how ferry would build each unit of an app folder (toolchain, install and build steps, output folder, processes, env names). Call after `inspect`, before `deploy`. Changes nothing.",
            READ,
        ),
        tool::<PathInput>(
            "deploy",
            "Deploy an app folder",
            "Builds the app folder and makes it live as a new release. Returns a job id at once; the build, upload, record and activation run in the background: poll `job_status` with that id (every few seconds) until its state is `succeeded` or `failed`. Undo with `rollback`.",
            Hints {
                read_only: false,
                destructive: false,
                idempotent: false,
            },
        ),
        tool::<JobInput>(
            "job_status",
            "Deploy job status",
            "Reports a deploy job started with `deploy`: state (running, succeeded, failed), phase, elapsed time, the deploy's result (release id, previous release, URL) or its error {code, message, hint}, and the last lines of its output. Without job_id, lists your jobs.",
            READ,
        ),
        tool::<ReleasesInput>(
            "releases",
            "List releases",
            "Lists an app's releases, newest first, with the live one marked (`live: true`), their age, commit and size, and the latest activations (deploys, rollbacks, promotions). Call it before `rollback` or `promote`.",
            READ,
        ),
        tool::<RollbackInput>(
            "rollback",
            "Roll back",
            "Makes the previous release (or `release_id`) live again: a pointer move, no rebuild. Destructive: without `confirm: true` it changes nothing and answers what would change (from which release to which, its age and commit); show that to the user, then call again with `confirm: true` to act.",
            Hints {
                read_only: false,
                destructive: true,
                idempotent: false,
            },
        ),
        tool::<PromoteInput>(
            "promote",
            "Promote a release",
            "Makes a recorded release (from `releases`) live: a pointer move, no rebuild. Destructive: without `confirm: true` it changes nothing and answers what would change; call again with `confirm: true` to act.",
            Hints {
                read_only: false,
                destructive: true,
                idempotent: true,
            },
        ),
        tool::<LogsInput>(
            "logs",
            "Read process logs",
            "The last lines (default 100, at most 1000) of a server app's process log, secrets masked. Static apps have no process logs.",
            READ,
        ),
        tool::<EnvInput>(
            "env_names",
            "List env variable names",
            "Lists an app's env variables: name, scope (build, runtime, both) and a fingerprint of the value. Values are never shown, by any tool: setting one is for the owner (`ferry env set`).",
            READ,
        ),
        tool::<DataJobsInput>(
            "data_jobs",
            "Data job status",
            "Status of the data jobs of this machine (`ferry db pull`, `verify`, `follow`): kind, status, phase, per-table progress and a follow's lag (bytes behind). The server's owner only.",
            READ,
        ),
        tool::<DataVerifyInput>(
            "data_verify",
            "Verify a data pull",
            "Starts a verify of a finished pull as a background job and answers its job_id at once; poll `data_job` until status is `succeeded` (the copy matches) or `failed` (what differs, or why it could not run). Call `data_jobs` first to find the pull: one with `reverifiable: true` (a Base44 export pull) needs only its job_id; a Postgres pull needs its `from` and `to` URLs too. Changes no data (it records a job). The server's owner only.",
            Hints {
                read_only: false,
                destructive: false,
                idempotent: true,
            },
        ),
        tool::<DataJobInput>(
            "data_job",
            "One data job",
            "One data job (a pull, verify or follow): status, phase, per-table progress and, when finished, its results (a verify: per table or entity, the source's and the target's counts and whether they match). The server's owner only.",
            READ,
        ),
        tool::<AuditInput>(
            "audit_tail",
            "Read the audit log",
            "The last entries (default 50, at most 500) of the audit log your credentials may see: who did what to which app, when, from where and with which outcome, including refused attempts. Filter by app, time, action or outcome.",
            READ,
        ),
    ]
}

fn parse<T: DeserializeOwned>(args: Option<JsonObject>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|err| ToolError::invalid(format!("bad input: {err}")))
}

/// An app name as the API accepts it.
pub fn app_name(app: &str) -> Result<&str, ToolError> {
    let ok = !app.is_empty()
        && app.len() <= 128
        && app
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(app)
    } else {
        Err(ToolError::invalid(format!(
            "`{app}` is not an app name (see `list_apps`)"
        )))
    }
}

/// A release id, process or environment name: letters, digits, `-`, `_`, `.`.
fn plain(what: &str, text: &str) -> Result<(), ToolError> {
    let ok = !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "`{text}` is not a valid {what}"
        )))
    }
}

/// Percent-encodes a query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Ferry {
    /// Runs tool `name`.
    pub(crate) async fn run_tool(
        &self,
        cx: &Context,
        name: &str,
        args: Option<JsonObject>,
    ) -> Result<Value, ToolError> {
        match name {
            "list_apps" => {
                let _: NoInput = parse(args)?;
                let status = cx.get(self, "/api/v1/status").await?;
                Ok(json!({ "apps": status["apps"], "caller": status["caller"] }))
            }
            "inspect" => {
                let input: PathInput = parse(args)?;
                let folder = self.roots.check(&input.path)?;
                crate::local::inspect(folder).await
            }
            "plan" => {
                let input: PlanInput = parse(args)?;
                let folder = self.roots.check(&input.path)?;
                crate::local::plan(folder, input.unit).await
            }
            "deploy" => {
                let input: PathInput = parse(args)?;
                let folder = self.roots.check(&input.path)?;
                // The server must answer (and the credentials be valid) before a job starts.
                cx.get(self, "/api/v1/status").await?;
                let job = self.jobs.start_deploy(
                    &cx.owner(),
                    &folder.display().to_string(),
                    &cx.child_env(),
                )?;
                Ok(json!({
                    "job_id": job.id,
                    "state": job.state,
                    "path": job.path,
                    "next": "poll `job_status` with this job_id every few seconds until state is `succeeded` or `failed`",
                }))
            }
            "job_status" => {
                let input: JobInput = parse(args)?;
                match input.job_id {
                    Some(id) => {
                        plain("job id", &id)?;
                        let job = self.jobs.get(&cx.owner(), &id).ok_or_else(|| {
                            ToolError::new(
                                "job-not-found",
                                format!("no job `{id}` of yours"),
                                "jobs live as long as this MCP server; list yours with job_status and no job_id",
                            )
                        })?;
                        Ok(serde_json::to_value(job).unwrap_or(Value::Null))
                    }
                    None => Ok(json!({ "jobs": self.jobs.list(&cx.owner()) })),
                }
            }
            "releases" => {
                let input: ReleasesInput = parse(args)?;
                let limit = input.limit.unwrap_or(20).clamp(1, 200) as usize;
                self.releases(cx, app_name(&input.app)?, limit).await
            }
            "rollback" => {
                let input: RollbackInput = parse(args)?;
                if let Some(id) = &input.release_id {
                    plain("release id", id)?;
                }
                self.switch(
                    cx,
                    app_name(&input.app)?,
                    input.release_id,
                    input.confirm,
                    false,
                )
                .await
            }
            "promote" => {
                let input: PromoteInput = parse(args)?;
                plain("release id", &input.release_id)?;
                self.switch(
                    cx,
                    app_name(&input.app)?,
                    Some(input.release_id),
                    input.confirm,
                    true,
                )
                .await
            }
            "logs" => {
                let input: LogsInput = parse(args)?;
                let app = app_name(&input.app)?;
                let lines = input.lines.unwrap_or(DEFAULT_LOG_LINES);
                if !(1..=MAX_LOG_LINES).contains(&lines) {
                    return Err(ToolError::invalid(format!(
                        "`lines` must be between 1 and {MAX_LOG_LINES}"
                    )));
                }
                let mut path = format!("/api/v1/apps/{app}/logs?lines={lines}");
                for (key, value) in [("process", &input.process), ("release", &input.release)] {
                    if let Some(v) = value {
                        plain(key, v)?;
                        path.push_str(&format!("&{key}={v}"));
                    }
                }
                cx.get(self, &path).await
            }
            "env_names" => {
                let input: EnvInput = parse(args)?;
                let app = app_name(&input.app)?;
                let mut path = format!("/api/v1/apps/{app}/env");
                if let Some(env) = &input.env {
                    plain("environment", env)?;
                    path.push_str(&format!("?env={env}"));
                }
                let doc = cx.get(self, &path).await?;
                // Only names, scopes, fingerprints and times leave, whatever the API adds.
                let vars: Vec<Value> = doc["vars"]
                    .as_array()
                    .map(|vars| {
                        vars.iter()
                            .map(|v| {
                                json!({
                                    "name": v["name"],
                                    "scope": v["scope"],
                                    "fingerprint": v["fingerprint"],
                                    "updated_at": v["updated_at"],
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(json!({ "app": doc["app"], "env": doc["env"], "vars": vars }))
            }
            "data_jobs" => {
                let input: DataJobsInput = parse(args)?;
                let limit = input.limit.unwrap_or(20).clamp(1, 200);
                cx.get(self, &format!("/api/v1/jobs?limit={limit}")).await
            }
            "data_verify" => {
                let input: DataVerifyInput = parse(args)?;
                if let Some(id) = &input.job_id {
                    plain("job id", id)?;
                }
                let body = json!({ "job": input.job_id, "from": input.from, "to": input.to });
                let mut doc = cx
                    .send(self, "POST", "/api/v1/jobs/verify", Some(body))
                    .await?;
                doc["next"] = json!(
                    "poll `data_job` with this id every few seconds until status is `succeeded` or `failed`"
                );
                Ok(doc)
            }
            "data_job" => {
                let input: DataJobInput = parse(args)?;
                plain("job id", &input.job_id)?;
                cx.get(self, &format!("/api/v1/jobs/{}", input.job_id))
                    .await
            }
            "audit_tail" => {
                let input: AuditInput = parse(args)?;
                let limit = input.limit.unwrap_or(DEFAULT_AUDIT).clamp(1, MAX_AUDIT);
                let filtered = input.action.is_some() || input.outcome.is_some();
                // Filters the API lacks (action, outcome) are applied here, over a wider tail.
                let fetch = if filtered { 10_000 } else { limit };
                let mut path = format!("/api/v1/audit?limit={fetch}");
                if let Some(app) = &input.app {
                    path.push_str(&format!("&app={}", query_value(app_name(app)?)));
                }
                if let Some(since) = input.since {
                    path.push_str(&format!("&since={since}"));
                }
                let doc = cx.get(self, &path).await?;
                let entries: Vec<Value> = doc["entries"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| {
                        input.action.as_deref().is_none_or(|a| e["action"] == a)
                            && input.outcome.as_deref().is_none_or(|o| e["outcome"] == o)
                    })
                    .collect();
                let skip = entries.len().saturating_sub(limit as usize);
                Ok(json!({ "entries": entries[skip..], "oldest_first": true }))
            }
            other => Err(ToolError::new(
                "unknown-tool",
                format!("there is no tool `{other}`"),
                "list the tools with tools/list",
            )),
        }
    }

    /// `releases`: the API's list, newest first, with ages.
    async fn releases(&self, cx: &Context, app: &str, limit: usize) -> Result<Value, ToolError> {
        let doc = cx
            .get(self, &format!("/api/v1/apps/{app}/releases"))
            .await?;
        let now = crate::server::now_ms();
        let mut releases: Vec<Value> = doc["releases"].as_array().cloned().unwrap_or_default();
        releases.sort_by(|a, b| b["created_at"].as_u64().cmp(&a["created_at"].as_u64()));
        let total = releases.len();
        releases.truncate(limit);
        for r in &mut releases {
            if let Some(at) = r["created_at"].as_u64() {
                r["age"] = json!(crate::server::age(now.saturating_sub(at)));
            }
        }
        Ok(json!({
            "app": app,
            "live": doc["live"],
            "releases": releases,
            "total": total,
            "activations": doc["activations"],
        }))
    }

    /// `rollback` and `promote`: without `confirm`, what would change; with it, the switch.
    async fn switch(
        &self,
        cx: &Context,
        app: &str,
        target: Option<String>,
        confirm: bool,
        promote: bool,
    ) -> Result<Value, ToolError> {
        let doc = cx
            .get(self, &format!("/api/v1/apps/{app}/releases"))
            .await?;
        let live = doc["live"]["release_id"].as_str().map(str::to_string);
        // The API's own rule for "the previous release": the latest activation's previous one
        // (activations come newest first).
        let previous = doc["activations"][0]["previous_release_id"]
            .as_str()
            .map(str::to_string);
        let target = match target.or(previous) {
            Some(t) => t,
            None => {
                return Err(ToolError::new(
                    "no-previous-release",
                    format!("`{app}` has no previous release to roll back to"),
                    "deploy another release first, or name one with release_id (see `releases`)",
                ));
            }
        };
        let releases = doc["releases"].as_array().cloned().unwrap_or_default();
        let find = |id: &str| releases.iter().find(|r| r["id"] == id).cloned();
        let Some(to) = find(&target) else {
            return Err(ToolError::new(
                "release-not-found",
                format!("`{app}` has no release `{target}`"),
                "list them with `releases`",
            ));
        };
        let now = crate::server::now_ms();
        let describe = |r: &Value| {
            json!({
                "release_id": r["id"],
                "created_at": r["created_at"],
                "age": crate::server::age(now.saturating_sub(r["created_at"].as_u64().unwrap_or(now))),
                "commit": r["source_commit"],
                "files": r["files"],
                "bytes": r["bytes"],
            })
        };
        let from = live.as_deref().and_then(find).map(|r| describe(&r));
        let action = if promote { "promote" } else { "rollback" };
        if !confirm {
            let unchanged = live.as_deref() == Some(target.as_str());
            return Ok(json!({
                "done": false,
                "confirmed": false,
                "action": action,
                "app": app,
                "live": live,
                "would_change": {
                    "from": from,
                    "to": describe(&to),
                    "nothing_to_do": unchanged,
                },
                "message": format!(
                    "Nothing changed. {action} would make `{target}` live instead of `{}`; call {action} again with confirm: true to do it.",
                    live.as_deref().unwrap_or("(none)")
                ),
            }));
        }
        let (path, body) = if promote {
            (
                format!("/api/v1/apps/{app}/activate"),
                json!({ "release_id": target, "action": "promote" }),
            )
        } else {
            (
                format!("/api/v1/apps/{app}/rollback"),
                json!({ "release_id": target }),
            )
        };
        let outcome = cx.send(self, "POST", &path, Some(body)).await?;
        let after = cx
            .get(self, &format!("/api/v1/apps/{app}/releases"))
            .await?;
        Ok(json!({
            "done": true,
            "confirmed": true,
            "action": action,
            "app": app,
            "from": from,
            "live": after["live"],
            "outcome": outcome,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_described_annotated_and_takes_an_object() {
        let tools = all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len(), "unique names");
        for t in &tools {
            assert!(
                t.description.as_ref().is_some_and(|d| d.len() > 40),
                "{}",
                t.name
            );
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
            let a = t.annotations.as_ref().expect("annotations");
            assert!(
                a.read_only_hint.is_some() && a.destructive_hint.is_some(),
                "{}",
                t.name
            );
            // Only the switches are destructive, and a read-only tool never is.
            let destructive = a.destructive_hint == Some(true);
            assert_eq!(
                destructive,
                matches!(t.name.as_ref(), "rollback" | "promote")
            );
            assert!(!(destructive && a.read_only_hint == Some(true)));
        }
        let rollback = tools
            .iter()
            .find(|t| t.name == "rollback")
            .expect("rollback");
        assert!(rollback.input_schema["properties"].get("confirm").is_some());
    }

    #[test]
    fn inputs_are_checked() {
        assert!(app_name("shop-2").is_ok());
        for bad in ["", "Shop", "a/b", "../x", "a b", "app?x=1"] {
            assert!(app_name(bad).is_err(), "{bad:?}");
        }
        assert!(plain("release id", "r0123abc").is_ok());
        for bad in ["", ".x", "a/b", "a&b=c", "x y"] {
            assert!(plain("release id", bad).is_err(), "{bad:?}");
        }
        let unknown: Result<RollbackInput, _> = parse(
            json!({ "app": "a", "confirmed": true })
                .as_object()
                .cloned(),
        );
        assert_eq!(unknown.expect_err("unknown field").code, "invalid-input");
        let input: RollbackInput = parse(json!({ "app": "a" }).as_object().cloned()).expect("ok");
        assert!(!input.confirm, "confirm defaults to false");
        assert_eq!(query_value("a b&c"), "a%20b%26c");
    }

    #[test]
    fn api_errors_keep_code_message_and_hint() {
        let e = ToolError::from_api(
            404,
            &json!({ "code": "app-not-found", "message": "no app `x`", "hint": "list apps" }),
        );
        assert_eq!((e.code.as_str(), e.status), ("app-not-found", Some(404)));
        assert_eq!(e.hint, "list apps");
        let bare = ToolError::from_api(502, &Value::Null);
        assert_eq!(bare.code, "api-error");
        assert!(bare.message.contains("502"));
    }
}

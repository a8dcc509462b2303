//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/openapi.json` on both listeners
//! without authentication.
//!
//! It is made from the code: the operations come from the `#[utoipa::path]` attributes of the
//! handlers, collected by the same `routes!` list that builds the router
//! ([`crate::handlers::api`]), so a route cannot exist without its operation or the other way
//! round. This module adds what every operation shares: the bearer scheme, the error shape and
//! the error statuses any request may meet (authentication, throttling, bad input).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// The name of the bearer security scheme.
pub const BEARER: &str = "bearer";

/// The document, as built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(build);
    &DOC
}

/// `GET /api/openapi.json`.
pub async fn serve() -> Response {
    static JSON: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string(document()).unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}

fn build() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = crate::handlers::api().split_for_parts();
    doc.info = InfoBuilder::new()
        .title("ferry control API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The control plane of `ferry serve`. On the Unix socket `$FERRY_HOME/ferry.sock` \
             every request is the machine's owner (the socket's permissions are the \
             credential); on the TCP control listener every `/api/v1` request needs \
             `Authorization: Bearer fy_…` (`POST /api/v1/tokens` on the socket issues one). \
             Errors are `{code, message, hint}` with a 4xx or 5xx status.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("fy_<id>_<secret>")
                .description(Some("An API token (`ferry token create`)."))
                .build(),
        ),
    );
    components
        .schemas
        .insert("Error".into(), ErrorBody::schema());
    doc.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        for op in operations(item) {
            optional_body_without_null(op);
            add_common_errors(op, has_params);
        }
    }
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// An optional body (`request_body = Option<T>`) comes out as `oneOf: [null, T]`, which says a
/// JSON `null` is a body; the handlers take no body or a `T`: `T`, not required.
fn optional_body_without_null(op: &mut Operation) {
    use utoipa::openapi::schema::Schema;
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let not_null: Vec<_> = one_of
            .items
            .iter()
            .filter(|item| {
                !matches!(item, RefOr::T(Schema::Object(o))
                    if o.schema_type == utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::Type::Null))
            })
            .cloned()
            .collect();
        if not_null.len() == 1 && one_of.items.len() == 2 {
            content.schema = not_null.into_iter().next();
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// The error answers any operation may give, besides those its attribute lists.
fn add_common_errors(op: &mut Operation, has_params: bool) {
    let mut common = vec![
        ("400", "Bad input (a parameter or the body is not valid)."),
        ("401", "No valid bearer token (TCP listener only)."),
        ("403", "The caller may see the target but not do this."),
        (
            "429",
            "Too many failed authentications from this address; see `retry-after`.",
        ),
        ("500", "The server failed (disk, database); see its log."),
    ];
    if has_params {
        common.push(("404", "No such target, or the caller may not see it."));
    }
    if op.request_body.is_some() {
        common.push(("413", "The body is larger than the server accepts."));
        common.push(("415", "The body is not `application/json`."));
        common.push(("422", "The JSON body does not match the schema."));
    }
    for (status, description) in common {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            )
            .build(),
    )
}

/// Every error answer: a stable code, one line, what to do.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable kebab-case code (`app-not-found`, `forbidden`, `unauthenticated`, …).
    code: String,
    /// One line.
    message: String,
    /// What to do.
    hint: String,
}

/// The JSON bodies of `/api/v1`, as schemas. The handlers build these bodies with `json!`;
/// the schemathesis test (`crates/ferry/tests/openapi.rs`) checks that every answer matches.
#[allow(dead_code)]
pub mod schemas {
    use std::collections::BTreeMap;

    use serde_json::Value;
    use utoipa::ToSchema;

    /// An app.
    #[derive(ToSchema)]
    pub struct App {
        /// Its name (a slug).
        name: String,
        /// Its organisation.
        org: String,
        /// Where its source was imported from.
        source_path: Option<String>,
        /// Created (unix ms).
        created_at: u64,
    }

    /// `GET /api/v1/apps`.
    #[derive(ToSchema)]
    pub struct AppList {
        apps: Vec<App>,
    }

    /// `POST /api/v1/apps`.
    #[derive(ToSchema)]
    pub struct AppCreated {
        app: App,
        /// False when the caller already had an app of that name.
        created: bool,
    }

    /// One app in `GET /api/v1/status`.
    #[derive(ToSchema)]
    pub struct StatusApp {
        name: String,
        source_path: Option<String>,
        /// The live release id.
        live: Option<String>,
        /// When it went live (unix ms).
        activated_at: Option<u64>,
        /// Where the edge serves it.
        url: String,
    }

    /// `GET /api/v1/status`.
    #[derive(ToSchema)]
    pub struct Status {
        version: String,
        pid: u32,
        /// `$FERRY_HOME`.
        home: String,
        /// The edge's address.
        edge: String,
        /// The TCP control listener's address.
        control: String,
        uptime_secs: u64,
        /// The app served for unknown hosts.
        default_app: Option<String>,
        apps: Vec<StatusApp>,
        /// Who is asking.
        #[schema(nullable = false)]
        caller: Option<StatusCaller>,
    }

    /// The caller, in `GET /api/v1/status`.
    #[derive(ToSchema)]
    pub struct StatusCaller {
        /// `local` on the socket, `token:<name>` for a token.
        label: String,
        /// Its organisation (none: every one, the machine's owner).
        org: Option<String>,
        /// The app it is bound to.
        app: Option<String>,
        /// `read`, `deploy` or `admin`.
        scope: String,
        /// The token's public id.
        token_id: Option<String>,
    }

    /// `POST /api/v1/blobs/missing`.
    #[derive(ToSchema)]
    pub struct MissingBlobs {
        /// The hashes the server lacks.
        missing: Vec<String>,
    }

    /// The body of `PUT /api/v1/blobs/{hash}`: the blob's bytes.
    #[derive(ToSchema)]
    #[schema(value_type = String, format = Binary)]
    pub struct BlobBody(Vec<u8>);

    /// `PUT /api/v1/blobs/{hash}`.
    #[derive(ToSchema)]
    pub struct BlobStored {
        hash: String,
        size: u64,
        /// False when the server had it already.
        new: bool,
    }

    /// One file of a release manifest.
    #[derive(ToSchema)]
    #[schema(as = ReleaseFile)]
    pub struct FileEntry {
        /// The BLAKE3 hash of the content, 64 hex digits.
        hash: String,
        size: u64,
        /// Permission bits (`0o644`, `0o755`, `0o777` for a link).
        mode: u32,
        content_type: String,
        /// For a link: the release path it points at.
        #[schema(nullable = false)]
        link: Option<String>,
    }

    /// A release manifest (schema `ferry.release`, version 1; `ferry-release`'s
    /// `ReleaseManifest`): the body of `POST /api/v1/apps/{app}/releases`.
    #[derive(ToSchema)]
    #[schema(as = ReleaseManifest)]
    pub struct ReleaseManifest {
        /// Always `ferry.release`.
        schema: String,
        /// Always 1.
        version: u32,
        /// `r` + 12 hex digits: a hash of the content.
        id: String,
        app: String,
        created_at: u64,
        /// `{commit, path}` of the source.
        source: Value,
        files: BTreeMap<String, FileEntry>,
        /// How requests map onto the files.
        routes: Value,
        /// Names of the env variables it was built with.
        env: Vec<String>,
        /// How it was built.
        build: Value,
        /// The backend the server runs beside the files.
        #[schema(nullable = false)]
        backend: Option<Value>,
    }

    /// `POST /api/v1/apps/{app}/releases`.
    #[derive(ToSchema)]
    pub struct ReleaseCreated {
        id: String,
        /// False when the manifest was on disk already.
        new: bool,
        /// False when the release was recorded already.
        recorded: bool,
        /// Precompressed variants made.
        variants_made: u64,
    }

    /// The live release of an app.
    #[derive(ToSchema)]
    pub struct Live {
        app: String,
        env: String,
        release_id: String,
        activated_at: u64,
    }

    /// A recorded release.
    #[derive(ToSchema)]
    pub struct ReleaseRecord {
        id: String,
        app: String,
        env: String,
        created_at: u64,
        source_commit: Option<String>,
        files: u64,
        bytes: u64,
        new_bytes: u64,
        created_by: String,
        live: bool,
    }

    /// One move of the live pointer.
    #[derive(ToSchema)]
    pub struct Activation {
        app: String,
        env: String,
        release_id: String,
        previous_release_id: Option<String>,
        /// `deploy`, `rollback` or `promote`.
        action: String,
        at: u64,
        by: String,
    }

    /// `GET /api/v1/apps/{app}/releases`.
    #[derive(ToSchema)]
    pub struct Releases {
        live: Option<Live>,
        releases: Vec<ReleaseRecord>,
        /// The last 50, newest first.
        activations: Vec<Activation>,
    }

    /// `GET /api/v1/apps/{app}/releases/{id}/verify`.
    #[derive(ToSchema)]
    pub struct ReleaseVerified {
        id: String,
        files: u64,
        /// One line per affected path; empty when all is well.
        problems: Vec<String>,
    }

    /// What an activation did (`activate`, `rollback`).
    #[derive(ToSchema)]
    pub struct ActivateOutcome {
        app: String,
        release_id: String,
        previous: Option<String>,
        /// False when the release was already live.
        switched: bool,
        server_micros: u64,
        /// A stop-start activation's outage, in milliseconds.
        #[schema(nullable = false)]
        downtime_ms: Option<u64>,
        /// Milliseconds spent starting a release that was not warm.
        #[schema(nullable = false)]
        cold_start_ms: Option<u64>,
        /// What readying the backend found worth telling (absent when nothing).
        #[schema(nullable = false)]
        warnings: Option<Vec<String>>,
    }

    /// `GET /api/v1/apps/{app}/env`.
    #[derive(ToSchema)]
    pub struct EnvNames {
        names: Vec<String>,
    }

    /// `GET /api/v1/apps/{app}/env/values`.
    #[derive(ToSchema)]
    pub struct EnvValues {
        values: BTreeMap<String, String>,
    }

    /// `PUT`/`DELETE /api/v1/apps/{app}/env/{name}`.
    #[derive(ToSchema)]
    pub struct EnvChanged {
        name: String,
        /// True after a set, false after an unset.
        set: bool,
    }

    /// One message of a Base44 app's outbox.
    #[derive(ToSchema)]
    pub struct Mail {
        id: String,
        created_at: u64,
        to: String,
        subject: String,
        text: String,
        /// `outbox`, `queued`, `sent` or `failed`.
        status: String,
        detail: Option<String>,
    }

    /// `GET /api/v1/apps/{app}/outbox`.
    #[derive(ToSchema)]
    pub struct Outbox {
        app: String,
        messages: Vec<Mail>,
    }

    /// `POST /api/v1/apps/{app}/base44/role`.
    #[derive(ToSchema)]
    pub struct RoleChanged {
        app: String,
        /// The user as the app's API shows it.
        user: Value,
    }

    /// One user's invitation outcome.
    #[derive(ToSchema)]
    pub struct Invitation {
        email: String,
        /// The user's id (`null` when no user has the email).
        id: Option<String>,
        /// `sent`, `would-send`, `skipped` or `failed`.
        status: String,
        /// Why (empty when sent).
        reason: String,
    }

    /// `POST /api/v1/apps/{app}/base44/invite`.
    #[derive(ToSchema)]
    pub struct Invitations {
        app: String,
        dry_run: bool,
        users: Vec<Invitation>,
    }

    /// One supervised process.
    #[derive(ToSchema)]
    pub struct Process {
        app: String,
        release: String,
        name: String,
        pid: u32,
        pgid: u32,
        port: u16,
        /// `starting`, `healthy`, `unhealthy`, `restarting`, `crash-loop` or `stopped`.
        status: String,
        restarts: u32,
        uptime_secs: u64,
        rss_bytes: Option<u64>,
        adopted: bool,
        log_file: String,
        last_exit: Option<String>,
        cgroup: Option<String>,
        log_bytes: u64,
        log_dropped_bytes: u64,
        /// The limits it runs under (from the app's `ferry.toml`) and how each is enforced.
        limits: Vec<EnforcedLimit>,
        /// Whether its release is the live one.
        live: bool,
    }

    /// One limit of a process and how it is enforced.
    #[derive(ToSchema)]
    pub struct EnforcedLimit {
        /// `memory_bytes`, `open_files`, `cpu_seconds`, `processes` or `cpu_percent`.
        limit: String,
        value: u64,
        /// `cgroup`, `rlimit` or `none` (this machine cannot enforce it).
        enforced_by: String,
        /// `memory.max`, `RLIMIT_DATA`, `RLIMIT_NOFILE`… or why it is not enforced.
        detail: String,
    }

    /// `GET /api/v1/apps/{app}/processes`.
    #[derive(ToSchema)]
    pub struct Processes {
        app: String,
        live: Option<String>,
        processes: Vec<Process>,
        limits: Limits,
    }

    /// `GET /api/v1/jobs`.
    #[derive(ToSchema)]
    pub struct Jobs {
        jobs: Vec<Job>,
    }

    /// One data job.
    #[derive(ToSchema)]
    pub struct Job {
        /// `job_` + 12 hex.
        id: String,
        /// `pull` or `verify`.
        kind: String,
        /// `source → target`, URLs redacted.
        description: String,
        /// `running`, `done`, `failed`, `interrupted`…
        status: String,
        /// `schema`, `copy`, `indexes`, `verify`, `done`…
        phase: String,
        /// Per table: `{rows, bytes}` so far.
        progress: std::collections::BTreeMap<String, JobProgress>,
        /// The error, when failed.
        error: Option<String>,
        /// Whether `POST /api/v1/jobs/verify` can check it by its id alone (a finished
        /// Base44 pull from an export folder).
        reverifiable: bool,
        /// Unix seconds.
        created_at: i64,
        /// Unix seconds.
        updated_at: i64,
    }

    /// A table's progress.
    #[derive(ToSchema)]
    pub struct JobProgress {
        rows: u64,
        bytes: u64,
    }

    /// How the server limits its processes' resources.
    #[derive(ToSchema)]
    pub struct Limits {
        /// Each process runs in a cgroup v2 leaf with memory/pids/cpu limits.
        cgroup: bool,
        /// `cgroup v2 at <folder>`, or why not (then rlimits only).
        reason: String,
    }

    /// `GET /api/v1/apps/{app}/logs`.
    #[derive(ToSchema)]
    pub struct Logs {
        app: String,
        release: String,
        process: String,
        live: bool,
        lines: Vec<String>,
        /// Pass as `after` for the lines written since.
        cursor: String,
        /// Lines left out for being over the limit.
        skipped: u64,
    }

    /// `POST /api/v1/gc`.
    #[derive(ToSchema)]
    pub struct Gc {
        releases_removed: u64,
        blobs_removed: u64,
        bytes_freed: u64,
    }

    /// `POST /api/v1/shutdown`.
    #[derive(ToSchema)]
    pub struct Stopping {
        stopping: bool,
    }

    /// `GET /api/v1/orgs`.
    #[derive(ToSchema)]
    pub struct Orgs {
        orgs: Vec<String>,
    }

    /// `POST /api/v1/orgs`.
    #[derive(ToSchema)]
    pub struct OrgCreated {
        org: String,
        created: bool,
    }

    /// `POST /api/v1/users`.
    #[derive(ToSchema)]
    pub struct UserCreated {
        user: String,
        role: String,
        created: bool,
    }

    /// A token row, never its secret.
    #[derive(ToSchema)]
    pub struct TokenInfo {
        id: String,
        org: String,
        app: Option<String>,
        user: Option<String>,
        name: String,
        /// `read`, `deploy` or `admin`.
        scope: String,
        created_at: u64,
        created_by: String,
        expires_at: Option<u64>,
        revoked_at: Option<u64>,
        last_used_at: Option<u64>,
    }

    /// `GET /api/v1/tokens`.
    #[derive(ToSchema)]
    pub struct Tokens {
        tokens: Vec<TokenInfo>,
    }

    /// `POST /api/v1/tokens`: the only answer that holds the token's secret.
    #[derive(ToSchema)]
    pub struct TokenCreated {
        id: String,
        /// `fy_<id>_<secret>`.
        token: String,
        name: String,
        scope: String,
        app: Option<String>,
        expires_at: Option<u64>,
        note: String,
    }

    /// `DELETE /api/v1/tokens/{id}`.
    #[derive(ToSchema)]
    pub struct TokenRevoked {
        id: String,
        /// False when it was revoked already.
        revoked: bool,
    }

    /// One audit entry.
    #[derive(ToSchema)]
    pub struct AuditEntry {
        seq: i64,
        at: u64,
        org: Option<String>,
        actor: String,
        token_id: Option<String>,
        action: String,
        target: String,
        /// `ok`, `unchanged`, `refused` or `failed`.
        outcome: String,
        source: String,
        before: Option<String>,
        after: Option<String>,
        detail: Option<String>,
        /// Its MAC, hex.
        mac: String,
    }

    /// `GET /api/v1/audit`.
    #[derive(ToSchema)]
    pub struct Audit {
        entries: Vec<AuditEntry>,
    }

    /// `GET /api/v1/audit/verify`.
    #[derive(ToSchema)]
    pub struct AuditVerified {
        entries: i64,
        ok: bool,
        first_bad: Option<i64>,
        problem: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_route_secured_and_errors_typed() {
        let doc = serde_json::to_value(document()).expect("json");
        if let Some(path) = std::env::var_os("FERRY_OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_vec_pretty(&doc).expect("json")).expect("dump");
        }
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        assert_eq!(doc["security"][0][BEARER], serde_json::json!([]));
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 20, "{} paths", paths.len());
        for (path, item) in paths {
            assert!(path.starts_with("/api/v1/"), "{path}");
            for (method, op) in item.as_object().expect("item") {
                let responses = op["responses"].as_object().expect("responses");
                // The success answer: 200, or 201/202 for what is created or started.
                let ok = ["200", "201", "202"]
                    .iter()
                    .find_map(|status| responses.get(*status))
                    .map(|r| &r["content"]["application/json"]["schema"]);
                assert!(
                    ok.is_some_and(serde_json::Value::is_object),
                    "{method} {path}: no 2xx JSON body"
                );
                for status in ["400", "401", "403", "429", "500"] {
                    assert_eq!(
                        responses[status]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
                // Every `{param}` of the path is declared.
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                for segment in path.split('/') {
                    if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                    {
                        assert!(declared.contains(&name), "{method} {path}: `{name}`");
                    }
                }
            }
        }
        // Every schema a `$ref` names exists.
        let text = serde_json::to_string(&doc).expect("json");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "missing schema `{name}`");
        }
    }

    /// The router and the document are made from one list (`handlers::api`, `routes!`): a
    /// route added with a bare `.route(` would be missing from the document, so none may be
    /// (but the document's own route). `crates/ferry/tests/openapi.rs` checks the running
    /// server against the document: every documented operation is routed, and no other method.
    #[test]
    fn every_api_route_comes_from_the_documented_list() {
        let source = include_str!("handlers.rs");
        let bare: Vec<&str> = source
            .lines()
            .filter(|l| l.trim_start().starts_with(".route("))
            .collect();
        assert_eq!(bare.len(), 1, "{bare:?}");
        assert!(source.contains("\"/api/openapi.json\""));
        let listed = source.matches(".routes(routes!(").count();
        let documented: usize = document()
            .paths
            .paths
            .values()
            .map(|item| operations(&mut item.clone()).count())
            .sum();
        let handlers = source
            .split(".routes(routes!(")
            .skip(1)
            .map(|s| s.split("))").next().unwrap_or_default().split(',').count())
            .sum::<usize>();
        assert!(listed >= 20);
        assert_eq!(handlers, documented, "one operation per routed handler");
    }
}

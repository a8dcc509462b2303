//! `ferry deploy` (and the deploy half of `ferry up`): build → release → record → activate →
//! probe. The CLI builds locally and speaks the deploy protocol to the server: ask which
//! blobs are missing, upload them, send the manifest, activate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_inspect::UnitKind;
use ferry_release::{BuildInfo, ReleaseManifest, Routes, SourceRef};
use serde::Serialize;
use serde_json::json;

use crate::cli::BuildArgs;
use crate::client::Api;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::progress::Reporter;

/// What a deploy did, for humans and `--json`.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    /// App name.
    pub app: String,
    /// The release now live.
    pub release_id: String,
    /// The release live before.
    pub previous: Option<String>,
    /// False when this release was already live.
    pub switched: bool,
    /// `http://<app>.localhost:<port>/`.
    pub url: String,
    /// Files in the release.
    pub files: usize,
    /// Bytes in the release.
    pub bytes: u64,
    /// Blobs the server did not have.
    pub new_blobs: usize,
    /// Bytes uploaded.
    pub new_bytes: u64,
    /// Bytes already stored (deduplicated).
    pub dedup_bytes: u64,
    /// The build came from the cache.
    pub build_cached: bool,
    /// A stop-start deploy (the app binds a fixed port): milliseconds the app was down, from the
    /// previous release's stop to the switch. Absent for a blue/green deploy (no downtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u64>,
    /// Milliseconds per phase.
    pub phases: Vec<(String, u64)>,
    /// Total milliseconds.
    pub total_ms: u64,
    /// Warnings worth reading.
    pub warnings: Vec<String>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Deploys the app at `args.path` to the server behind `api`.
pub fn deploy(
    args: &BuildArgs,
    home: &Path,
    api: &Api,
    reporter: &Reporter,
) -> Result<DeployReport, Failure> {
    let started = Instant::now();
    let mut phases = Vec::new();
    let mut mark = |name: &str, since: &mut Instant| {
        phases.push((name.to_string(), ms(since.elapsed())));
        *since = Instant::now();
    };
    let mut t = Instant::now();
    reporter.message("inspecting");
    let source_args = crate::cli::SourceArgs {
        source: args.path.clone(),
        git_timeout: 300,
    };
    let (mut source, inspection) =
        super::inspect_source(&source_args, ferry_inspect::Scope::Units)?;
    let profile = &inspection.profile;
    let plans = inspection.plans();
    let picked = super::pick_plan(&plans, args.unit.as_deref(), &profile.name, true)?;
    let server = picked.kind == UnitKind::Server;
    // A static front end that routes path prefixes to server units deploys with them.
    let linked = if server {
        Vec::new()
    } else {
        super::server::linked_servers(&plans, picked)?
    };
    let server_plan;
    let plan = if server {
        server_plan = super::server::runnable_plan(picked, &source.root);
        &server_plan
    } else {
        picked
    };
    let app = profile.name.clone();
    mark("inspect", &mut t);

    reporter.message("registering");
    let source_path = (source.info.kind == ferry_inspect::SourceKind::Folder)
        .then(|| source.root.display().to_string());
    api.json(
        "POST",
        "/api/v1/apps",
        Some(&json!({ "name": app, "source_path": source_path })),
    )?;
    let values = api.json("GET", &format!("/api/v1/apps/{app}/env/build"), None)?;
    let secrets: BTreeMap<String, String> =
        serde_json::from_value(values["values"].clone()).unwrap_or_default();
    // Only build-visible values (`build` and `both`) come; `FERRY_*` secrets configure ferry
    // itself (the backend's database, mail, keys): the server keeps them, and so does this.
    let mut env: BTreeMap<String, String> = secrets
        .into_iter()
        .filter(|(name, _)| !ferry_control::is_ferry_setting(name))
        .collect();
    let mut warnings = Vec::new();
    if let Some(m) = &inspection.manifest {
        for name in m.env.build.iter().filter(|n| !env.contains_key(*n)) {
            warnings.push(format!(
                "`{name}` (ferry.toml env.build) is not set: `ferry env set {name}=…`"
            ));
        }
    }
    if !linked.is_empty() {
        // Which variables the front end reads (the unit-scope inspection skips the env scan).
        let vars = ferry_inspect::Tree::walk(&source.root)
            .map(|tree| ferry_inspect::env::scan(&ferry_inspect::scan::Sources::load(&tree)).vars)
            .unwrap_or_default();
        let (same_origin, notes) = super::server::same_origin_env(&vars, &plan.path, &env);
        env.extend(same_origin);
        warnings.extend(notes);
    }
    let unit_root = source.root.join(&plan.path);
    let declared_id = inspection
        .manifest
        .as_ref()
        .and_then(|m| m.compat.base44.as_ref())
        .map(|b| b.app_id.clone());
    let is_base44 = declared_id.is_some()
        || profile.builder.id == ferry_inspect::BuilderId::Base44
        || unit_root.join("base44").join("entities").is_dir();
    if is_base44 && !linked.is_empty() {
        return Err(Failure {
            code: "base44-with-server-units",
            message: format!(
                "`{app}` is a Base44 app whose front end also routes to server units; ferry serves one of the two for now"
            ),
            hint: "deploy one unit with `--unit`, or remove the `[[unit.proxy]]` entries".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let wiring = if is_base44 {
        let w = ferry_compat::base44::wiring::wire(
            &unit_root,
            &app,
            declared_id.as_deref().or(profile.builder.app_id.as_deref()),
            &env,
        )
        .map_err(|err| Failure {
            code: err.code(),
            message: format!("cannot prepare the Base44 backend: {err}"),
            hint:
                "check the files under base44/entities, base44/functions and src/api/base44Client.*"
                    .into(),
            exit: EXIT_BAD_INPUT,
        })?;
        env.extend(w.build_env.clone());
        warnings.extend(w.notes.iter().cloned());
        Some(w)
    } else {
        None
    };

    reporter.message("building");
    let on_line = building_line(reporter);
    let mut opts = build_options(home, env.clone(), args.no_cache, &on_line);
    if let Some(w) = &wiring {
        // Patch paths are relative to the unit; the build copies the whole source.
        opts.patches = w
            .patches
            .iter()
            .map(|(rel, text)| {
                let path = std::path::Path::new(&plan.path).join(rel);
                (
                    path.to_string_lossy().trim_start_matches("./").to_string(),
                    text.clone(),
                )
            })
            .collect();
    }
    // A server that ignores its port variable: a patch of the build copy, or stop-start.
    let ports = if server {
        super::server::port_plan(picked, &source.root)?
    } else {
        super::server::PortPlan::default()
    };
    opts.patches.extend(ports.patches.clone());
    warnings.extend(ports.notes.iter().cloned());
    let built = ferry_build::build(&source.root, plan, &opts).map_err(build_failure)?;
    warnings.extend(built.warnings.iter().cloned());
    let mut build_cached = built.cached;
    let mut build_ms: u64 = built.phases.iter().map(|(_, d)| ms(*d)).sum();
    let mut server_builds = Vec::new();
    for (server_plan, routes) in &linked {
        let runnable = super::server::runnable_plan(server_plan, &source.root);
        reporter.message(&format!("building unit `{}`", runnable.unit));
        let mut opts = build_options(home, env.clone(), args.no_cache, &on_line);
        let ports = super::server::port_plan(server_plan, &source.root)?;
        opts.patches.extend(ports.patches.clone());
        warnings.extend(ports.notes.iter().cloned());
        let out = ferry_build::build(&source.root, &runnable, &opts).map_err(build_failure)?;
        warnings.extend(out.warnings.iter().cloned());
        build_cached &= out.cached;
        build_ms += out.phases.iter().map(|(_, d)| ms(*d)).sum::<u64>();
        server_builds.push((*server_plan, routes.clone(), out, ports.fixed));
    }
    mark("build", &mut t);

    reporter.message("hashing");
    let mut scanned = ferry_release::scan_dir(&built.output_dir).map_err(release_failure)?;
    for (server_plan, _, out, _) in &server_builds {
        let tree = ferry_release::scan_dir(&out.output_dir).map_err(release_failure)?;
        super::server::add_unit_tree(&mut scanned, &server_plan.unit, tree)?;
    }
    // `_redirects` and `_headers` become rules, not files anyone can download.
    let files: BTreeMap<String, ferry_release::FileEntry> = scanned
        .iter()
        .filter(|(k, _)| k.as_str() != "_redirects" && k.as_str() != "_headers")
        .map(|(k, (_, e))| (k.clone(), e.clone()))
        .collect();
    let unit_dir = source.root.join(&plan.path);
    let (rules, notes) = ferry_release::Rules::collect_with_notes(&built.output_dir, &unit_dir)
        .map_err(release_failure)?;
    warnings.extend(notes);
    let routes = if server {
        // Every request goes to the processes; the files are never served as they are.
        Routes::default()
    } else {
        Routes {
            spa: plan.spa,
            fallback: (plan.spa && files.contains_key("index.html"))
                .then(|| "index.html".to_string()),
            headers: BTreeMap::new(),
            rules,
        }
    };
    let env_names: Vec<String> = env.keys().cloned().collect();
    let backend = if server {
        Some(super::server::processes_backend(picked, &ports.fixed)?)
    } else if !server_builds.is_empty() {
        let units: Vec<_> = server_builds
            .iter()
            .map(|(p, routes, _, fixed)| (*p, routes.clone(), fixed))
            .collect();
        Some(super::server::units_backend(&units)?)
    } else {
        wiring.map(|w| {
            ferry_release::Backend::Base44(ferry_release::Base44Backend {
                app_id: w.app_id,
                requires_auth: w.requires_auth,
                entities: w.entities,
                functions: w
                    .functions
                    .into_iter()
                    .map(|(name, f)| {
                        let function = ferry_release::Base44Function {
                            entry: f.entry,
                            files: f.files,
                        };
                        (name, function)
                    })
                    .collect(),
            })
        })
    };
    let id = ferry_release::release_id_with(&app, &files, &routes, &env_names, backend.as_ref());
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let bytes: u64 = files.values().map(|f| f.size).sum();
    let manifest = ReleaseManifest {
        schema: ferry_release::MANIFEST_SCHEMA.into(),
        version: ferry_release::MANIFEST_VERSION,
        id: id.clone(),
        app: app.clone(),
        created_at,
        source: SourceRef {
            commit: source.info.commit.clone(),
            path: source_path,
        },
        files,
        routes,
        env: env_names,
        build: BuildInfo {
            framework: plan.framework.clone(),
            unit: plan.unit.clone(),
            duration_ms: build_ms,
        },
        backend,
    };
    mark("hash", &mut t);

    reporter.message("uploading");
    let mut hashes: Vec<String> = manifest
        .files
        .values()
        .map(|f| f.hash.to_string())
        .collect();
    hashes.sort();
    hashes.dedup();
    let missing = api.json(
        "POST",
        "/api/v1/blobs/missing",
        Some(&json!({ "hashes": hashes })),
    )?;
    let missing: Vec<String> =
        serde_json::from_value(missing["missing"].clone()).unwrap_or_default();
    // One file per content, found by hash once (a server release holds thousands).
    let by_hash: BTreeMap<&str, &(std::path::PathBuf, ferry_release::FileEntry)> = scanned
        .values()
        .map(|f| (f.1.hash.as_str(), f))
        .rev()
        .collect();
    let mut new_bytes = 0;
    for hash in &missing {
        let Some((path, entry)) = by_hash.get(hash.as_str()).copied() else {
            continue;
        };
        // A link's blob is the empty content (the link itself is in the manifest): never
        // read through it.
        let body = if entry.link.is_some() {
            Vec::new()
        } else {
            std::fs::read(path).map_err(|err| Failure {
                code: "io",
                message: format!("cannot read `{}`: {err}", path.display()),
                hint: "the build output changed while deploying; run `ferry deploy` again".into(),
                exit: EXIT_FAILED,
            })?
        };
        api.put_bytes(&format!("/api/v1/blobs/{hash}"), &body)?;
        new_bytes += entry.size;
    }
    mark("upload", &mut t);

    reporter.message("activating");
    // One key per step: a retry of the step (a dropped connection) never acts twice.
    api.json_idempotent(
        "POST",
        &format!("/api/v1/apps/{app}/releases"),
        &serde_json::to_value(&manifest).unwrap_or_default(),
        &crate::client::idempotency_key(),
    )?;
    let outcome = api.json_idempotent(
        "POST",
        &format!("/api/v1/apps/{app}/activate"),
        &json!({ "release_id": id, "action": "deploy" }),
        &crate::client::idempotency_key(),
    )?;
    mark("activate", &mut t);
    // The findings and verdicts, kept with the release for the dashboard (best effort).
    if let Err(note) = super::inspect_report::keep(api, &app, &id, &mut source) {
        warnings.push(note);
    }
    mark("inspect-report", &mut t);
    // What the server noticed while readying the backend (e.g. no Deno for the functions).
    if let Some(notes) = outcome["warnings"].as_array() {
        warnings.extend(notes.iter().filter_map(|n| n.as_str().map(str::to_string)));
    }

    reporter.message("probing");
    let (edge, url) = match api.remote_server() {
        // A remote server says where its edge listens; its host is the one we reach it by.
        Some(remote) => {
            let status = api.json("GET", "/api/v1/status", None)?;
            let bound = status["edge"].as_str().unwrap_or("");
            let port = bound.rsplit_once(':').map_or("80", |(_, p)| p);
            let host = if remote.host.contains(':') {
                format!("[{}]", remote.host)
            } else {
                remote.host.clone()
            };
            let loopback = remote.host == "localhost"
                || remote
                    .host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            // The edge routes by Host: `<app>.localhost` reaches it only on its own machine.
            let url = if loopback {
                format!("http://{app}.localhost:{port}/")
            } else {
                format!("http://{host}:{port}/")
            };
            (format!("{host}:{port}"), url)
        }
        None => {
            let edge = crate::home::server_info(home)
                .map(|i| i.edge)
                .unwrap_or_else(|| args.listen.listen.clone());
            let port = edge.rsplit_once(':').map_or("8080", |(_, p)| p);
            let url = format!("http://{app}.localhost:{port}/");
            (edge, url)
        }
    };
    // A remote's edge may listen where this machine cannot reach (the server's loopback): then
    // the probe is skipped with a note; an edge that answers must answer right.
    let reachable = match api.remote_server() {
        Some(_) => crate::client::reachable(&edge),
        None => Ok(()),
    };
    match reachable {
        Ok(()) => probe(&edge, &app, &id, server)?,
        Err(err) => warnings.push(format!(
            "not probed: the server's edge at {edge} is not reachable from here ({err})"
        )),
    }
    mark("probe", &mut t);

    Ok(DeployReport {
        url,
        app,
        release_id: id,
        previous: outcome["previous"].as_str().map(str::to_string),
        switched: outcome["switched"].as_bool().unwrap_or(true),
        downtime_ms: outcome["downtime_ms"].as_u64(),
        files: manifest.files.len(),
        bytes,
        new_blobs: missing.len(),
        new_bytes,
        dedup_bytes: bytes.saturating_sub(new_bytes),
        build_cached,
        phases,
        total_ms: ms(started.elapsed()),
        warnings,
    })
}

/// The page answers 200 from the new release, and so does its entry asset.
fn probe(edge: &str, app: &str, id: &str, server: bool) -> Result<(), Failure> {
    let host = format!("{app}.localhost");
    let fail = |message: String| {
        Failure {
        code: "probe-failed",
        message,
        hint: "the release is recorded; see `ferry status` and the server log, then `ferry rollback` if needed".into(),
        exit: EXIT_FAILED,
    }
    };
    let page = crate::client::probe(edge, &host, "/")
        .map_err(|e| fail(format!("the edge at {edge} did not answer: {e}")))?;
    // A server app's `/` may redirect or need a sign-in: below 500 from the new release.
    let ok = if server {
        page.status < 500
    } else {
        page.status == 200
    };
    if !ok || page.header("x-ferry-release") != Some(id) {
        return Err(fail(format!(
            "`/` answered {} from release {:?}, expected {} from {id}",
            page.status,
            page.header("x-ferry-release"),
            if server { "below 500" } else { "200" }
        )));
    }
    if server {
        return Ok(());
    }
    let html = String::from_utf8_lossy(&page.body);
    if let Some(asset) = entry_asset(&html) {
        let reply = crate::client::probe(edge, &host, &asset)
            .map_err(|e| fail(format!("`{asset}`: {e}")))?;
        if reply.status != 200 {
            return Err(fail(format!(
                "the entry asset `{asset}` answered {}",
                reply.status
            )));
        }
    }
    Ok(())
}

/// The first local script or stylesheet the page loads.
pub fn entry_asset(html: &str) -> Option<String> {
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let url = piece.split('"').next().unwrap_or("");
            let local = url.starts_with('/') && !url.starts_with("//");
            let asset = url.ends_with(".js") || url.ends_with(".css") || url.ends_with(".mjs");
            if local && asset {
                return Some(url.to_string());
            }
        }
    }
    None
}

/// A build error as the CLI shows it: the last lines of a failed step's log, then one line.
pub(super) fn build_failure(err: ferry_build::BuildError) -> Failure {
    let mut message = err.to_string();
    if let ferry_build::BuildError::StepFailed { tail, .. } = &err {
        for line in tail.iter().rev().take(8).rev() {
            eprintln!("  | {line}");
        }
        message = message.split('\n').next().unwrap_or("").to_string();
    }
    Failure {
        code: err.code(),
        message,
        hint: err.hint(),
        exit: EXIT_FAILED,
    }
}

fn release_failure(err: ferry_release::ReleaseError) -> Failure {
    Failure {
        code: err.code(),
        message: err.to_string(),
        hint: err.hint(),
        exit: EXIT_FAILED,
    }
}

/// Progress for a build: the latest log line, cut to fit.
pub(super) fn building_line(reporter: &Reporter) -> impl Fn(&str) + Sync + '_ {
    move |line: &str| {
        reporter.message(&format!(
            "building: {}",
            line.chars().take(70).collect::<String>()
        ))
    }
}

/// The build options `ferry build` and `ferry deploy` share: the home's cache and logs.
pub(super) fn build_options<'a>(
    home: &Path,
    env: BTreeMap<String, String>,
    no_cache: bool,
    on_line: &'a (dyn Fn(&str) + Sync + 'a),
) -> ferry_build::BuildOptions<'a> {
    ferry_build::BuildOptions {
        env,
        cache_dir: home.join("cache"),
        log_dir: home.join("logs"),
        on_line: Some(on_line),
        step_timeout: Duration::from_secs(20 * 60),
        no_cache,
        patches: BTreeMap::new(),
    }
}

/// Prints a deploy report.
pub fn print(report: &DeployReport, out: &crate::output::Output) {
    if out.json {
        out.print_json(report);
        return;
    }
    let verb = if report.switched {
        "live"
    } else {
        "already live"
    };
    let mut s = format!(
        "{}  {} {verb}\n  url       {}\n  release   {} files, {} ({} new in {} blobs, {} deduplicated){}\n",
        out.paint(&report.app, "1"),
        report.release_id,
        out.paint(&report.url, "4"),
        report.files,
        human(report.bytes),
        human(report.new_bytes),
        report.new_blobs,
        human(report.dedup_bytes),
        if report.build_cached {
            "; build from cache"
        } else {
            ""
        }
    );
    let phases: Vec<String> = report
        .phases
        .iter()
        .map(|(n, ms)| format!("{n} {ms} ms"))
        .collect();
    s.push_str(&format!(
        "  time      {} ms ({})\n",
        report.total_ms,
        phases.join(", ")
    ));
    if let Some(prev) = &report.previous
        && report.switched
    {
        s.push_str(&format!("  previous  {prev}  (undo: ferry rollback)\n"));
    }
    if let Some(down) = report.downtime_ms {
        s.push_str(&format!(
            "  downtime  {down} ms (stop-start: the app binds a fixed port; see the note below)\n"
        ));
    }
    for w in &report.warnings {
        s.push_str(&format!("  {} {w}\n", out.paint("!", "33")));
    }
    out.print(&s);
}

/// `1.2 MB`-style sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

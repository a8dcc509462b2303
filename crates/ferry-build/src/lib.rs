//! `ferry-build` runs one unit's [`BuildPlan`] in a clean temporary copy of the source —
//! install, build, collect — and returns the artifact folder.
//!
//! Two caches live under [`BuildOptions::cache_dir`]:
//! - `builds/<key>/out`: finished outputs, keyed by [`cache_key`] (the plan, every source file
//!   and the build env). A hit runs nothing.
//! - `deps/<key>/node_modules`: a Node unit's installed dependencies, keyed by the package
//!   manager, the install command, the lockfile and package.json. A hit skips the install step.
//!
//! Entries are built in a staging folder, marked complete by a `done` file written last, and
//! renamed into place, so a crash or a failed build never leaves a half entry behind. Every
//! build writes a log under [`BuildOptions::log_dir`]; env values never reach it (nor
//! `on_line`, nor an error's tail): they are masked as `***`.

mod cache;
mod deps;
mod error;
mod key;
mod log;
mod step;
mod tree;
mod venv;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_inspect::plan::{PLAN_SCHEMA, PLAN_VERSION, Step};
use ferry_inspect::{BuildPlan, UnitKind};

pub use error::BuildError;

use crate::cache::{Committed, Staging};
use crate::error::io;
use crate::log::{BuildLog, Masker};
use crate::step::{Outcome, StepSpec};

/// The step timeout when none is chosen: 20 minutes.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// How to run a build.
pub struct BuildOptions<'a> {
    /// The build env (from ferry.toml and the secrets store), added to the inherited
    /// environment of every step. Values are never logged.
    pub env: BTreeMap<String, String>,
    /// `$FERRY_HOME/cache`; `builds/`, `deps/` and `tmp/` are created inside as needed.
    pub cache_dir: PathBuf,
    /// `$FERRY_HOME/logs`; one log file per build.
    pub log_dir: PathBuf,
    /// Called with each output line of the steps (stdout and stderr, env values masked).
    pub on_line: Option<&'a (dyn Fn(&str) + Sync)>,
    /// Upper bound on each step's run time; the step's process group is killed past it.
    pub step_timeout: Duration,
    /// Ignore both caches and rebuild (the results still replace the cache entries).
    pub no_cache: bool,
    /// Files replaced in the build's clean copy only, never in the source: relative path →
    /// new content (e.g. the Base44 SDK 0.1 client pointed at ferry). Each must name a
    /// regular file of the source; they count in the output cache key.
    pub patches: BTreeMap<String, String>,
}

impl<'a> BuildOptions<'a> {
    /// Options with an empty env, no line callback, the default timeout and caching on.
    pub fn new(cache_dir: impl Into<PathBuf>, log_dir: impl Into<PathBuf>) -> Self {
        Self {
            env: BTreeMap::new(),
            cache_dir: cache_dir.into(),
            log_dir: log_dir.into(),
            on_line: None,
            step_timeout: DEFAULT_STEP_TIMEOUT,
            no_cache: false,
            patches: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for BuildOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildOptions")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cache_dir", &self.cache_dir)
            .field("log_dir", &self.log_dir)
            .field("on_line", &self.on_line.map(|_| "Fn(&str)"))
            .field("step_timeout", &self.step_timeout)
            .field("no_cache", &self.no_cache)
            .finish()
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The artifact folder, inside the output cache. Callers must treat it as read-only.
    pub output_dir: PathBuf,
    /// Hex key of the output cache entry ([`cache_key`]).
    pub cache_key: String,
    /// True when nothing ran: the output came from the cache.
    pub cached: bool,
    /// True when the dependencies came from the dependency cache (the install step was
    /// skipped). False for a cached build, which needed no dependencies.
    pub deps_cached: bool,
    /// The full log of this build (for a cached build, one line saying so).
    pub log_path: PathBuf,
    /// Phases in order with their durations: `hash`, `copy`, `deps-restore`, one per step
    /// that ran (`install`, `build`…), `deps-save`, `collect`.
    pub phases: Vec<(String, Duration)>,
    /// Things the owner should know that did not stop the build.
    pub warnings: Vec<String>,
}

/// The output cache key of `plan` over the tree at `source_root` with `env`: BLAKE3 (hex) of
/// the plan's JSON, every source file (relative path, executable bit and content hash;
/// `.git`, `node_modules`, `.ferry`, ferry-inspect's skipped folders and the plan's output
/// folder left out; symbolic links by their target), and the env (names and the BLAKE3 of each
/// value).
pub fn cache_key(
    source_root: &Path,
    plan: &BuildPlan,
    env: &BTreeMap<String, String>,
) -> Result<String, BuildError> {
    check_env(env)?;
    let output = tree::relative("the output folder", &plan.output)?;
    let listing = tree::list(source_root, excluded(plan, output.as_deref()), true)?;
    key::output_key(source_root, &listing, plan, env, &BTreeMap::new())
}

/// Builds `plan` from the tree at `source_root`: the cached output when there is one, else a
/// fresh run of its steps in a clean temporary copy, whose output is stored in the cache.
pub fn build(
    source_root: &Path,
    plan: &BuildPlan,
    opts: &BuildOptions<'_>,
) -> Result<BuildOutput, BuildError> {
    check_plan(plan)?;
    check_env(&opts.env)?;
    // Absolute cache and log folders, so returned paths stay valid whatever the caller's cwd.
    let absolute = |p: &Path| std::path::absolute(p).map_err(io(p));
    let opts = &BuildOptions {
        env: opts.env.clone(),
        cache_dir: absolute(&opts.cache_dir)?,
        log_dir: absolute(&opts.log_dir)?,
        on_line: opts.on_line,
        step_timeout: opts.step_timeout,
        no_cache: opts.no_cache,
        patches: opts.patches.clone(),
    };
    let output_rel = tree::relative("the output folder", &plan.output)?;
    let step_dirs = plan
        .steps
        .iter()
        .map(|s| tree::relative("a step's folder", &s.command.cwd))
        .collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let listing = tree::list(source_root, excluded(plan, output_rel.as_deref()), true)?;
    for rel in opts.patches.keys() {
        let ok = tree::relative("a patched file", rel)?.is_some_and(|r| {
            listing
                .entries
                .iter()
                .any(|e| e.rel == r && matches!(e.kind, tree::Kind::File { .. }))
        });
        if !ok {
            return Err(BuildError::InvalidPlan {
                detail: format!("the patched file `{rel}` is not a file of the source"),
            });
        }
    }
    let key = key::output_key(source_root, &listing, plan, &opts.env, &opts.patches)?;
    let mut phases = vec![("hash".to_string(), started.elapsed())];
    let mut warnings: Vec<String> = listing
        .escaping_links
        .iter()
        .map(|l| format!("symbolic link `{l}` points outside the app; it is left out of the build"))
        .collect();
    let node = deps::node_install(source_root, plan)?;
    if node.as_ref().is_some_and(|n| n.key.is_none()) {
        warnings.push(deps::NO_LOCKFILE.into());
    }

    let entry = opts.cache_dir.join("builds").join(&key);
    let mut log = BuildLog::create(&opts.log_dir, &plan.unit, Masker::new(&opts.env))?;
    if !opts.no_cache && cache::complete(&entry) && entry.join("out").is_dir() {
        log.line(&format!(
            "cached: unit `{}` of `{}`, key {key}: reusing {}; nothing ran",
            plan.unit,
            plan.app,
            entry.join("out").display()
        ));
        log.flush();
        tracing::debug!(unit = %plan.unit, %key, "build output cache hit");
        return Ok(BuildOutput {
            output_dir: entry.join("out"),
            cache_key: key,
            cached: true,
            deps_cached: false,
            log_path: log.path().to_path_buf(),
            phases,
            warnings,
        });
    }

    let mut run = Run {
        source_root,
        plan,
        opts,
        log,
        phases: Vec::new(),
        warnings: Vec::new(),
    };
    let result = run.fresh(
        &key,
        &listing,
        node.as_ref(),
        &step_dirs,
        output_rel.as_deref(),
    );
    phases.append(&mut run.phases);
    warnings.append(&mut run.warnings);
    if run.log.failed {
        warnings.push(format!(
            "the build log `{}` could not be fully written",
            run.log.path().display()
        ));
    }
    let deps_cached = result?;
    Ok(BuildOutput {
        output_dir: entry.join("out"),
        cache_key: key,
        cached: false,
        deps_cached,
        log_path: run.log.path().to_path_buf(),
        phases,
        warnings,
    })
}

/// One build that runs.
struct Run<'a, 'o> {
    source_root: &'a Path,
    plan: &'a BuildPlan,
    opts: &'a BuildOptions<'o>,
    log: BuildLog,
    phases: Vec<(String, Duration)>,
    warnings: Vec<String>,
}

impl Run<'_, '_> {
    /// Copies, installs (or restores), builds and collects. Returns whether the dependencies
    /// came from the cache.
    fn fresh(
        &mut self,
        key: &str,
        listing: &tree::Listing,
        node: Option<&deps::NodeInstall>,
        step_dirs: &[Option<PathBuf>],
        output_rel: Option<&Path>,
    ) -> Result<bool, BuildError> {
        let (plan, opts) = (self.plan, self.opts);
        let builds = opts.cache_dir.join("builds");
        let deps_dir = opts.cache_dir.join("deps");
        let tmp_dir = opts.cache_dir.join("tmp");
        for dir in [&builds, &deps_dir, &tmp_dir] {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        cache::sweep(&opts.cache_dir);
        self.header(key);

        let deps_entry = node.and_then(|n| n.key.as_ref()).map(|k| deps_dir.join(k));
        let deps_hit = !opts.no_cache
            && deps_entry
                .as_ref()
                .is_some_and(|e| cache::complete(e) && e.join("node_modules").is_dir());
        let install_step = node.map(|n| n.step);
        // Fail fast on a missing tool, before copying anything.
        for (i, step) in plan.steps.iter().enumerate() {
            if !(deps_hit && install_step == Some(i)) {
                self.check_tool(step)?;
            }
        }

        let tmp = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&tmp_dir)
            .map_err(io(&tmp_dir))?;
        let work = tmp.path().join("src");
        let t = Instant::now();
        tree::copy_listing(self.source_root, &work, listing)?;
        for (rel, content) in &opts.patches {
            let path = work.join(rel);
            // Replace, never write through: the copy may hold a hard link or a read-only file.
            let _ = fs::remove_file(&path);
            fs::write(&path, content).map_err(io(&path))?;
            self.log.line(&format!(
                "patched `{rel}` in the build copy (the source is unchanged)"
            ));
        }
        self.phase("copy", t);
        self.log.line(&format!(
            "copied {} entries into a clean folder in {:.2?}",
            listing.entries.len(),
            t.elapsed()
        ));

        let install_dir = match node.and_then(|n| n.cwd.as_ref()) {
            Some(rel) => work.join(rel),
            None => work.clone(),
        };
        let mut deps_cached = false;
        if let (true, Some(entry)) = (deps_hit, &deps_entry) {
            let t = Instant::now();
            match deps::restore(entry, &install_dir) {
                Ok(()) => {
                    deps_cached = true;
                    self.phase("deps-restore", t);
                    self.log.line(&format!(
                        "dependencies restored from the cache ({}) in {:.2?}",
                        entry.display(),
                        t.elapsed()
                    ));
                }
                Err(e) => {
                    let _ = fs::remove_dir_all(install_dir.join("node_modules"));
                    let warning =
                        format!("could not restore the cached dependencies ({e}); installing them");
                    self.log.line(&warning);
                    self.warnings.push(warning);
                }
            }
        }

        let mut deps_staging = None;
        for (i, step) in plan.steps.iter().enumerate() {
            let is_install = install_step == Some(i);
            if is_install && deps_cached {
                self.log.line(&format!(
                    "==> {}: skipped, dependencies came from the cache",
                    step.name
                ));
                continue;
            }
            let cwd = match step_dirs.get(i).and_then(Option::as_ref) {
                Some(rel) => work.join(rel),
                None => work.clone(),
            };
            self.run_step(step, &cwd)?;
            if let (true, Some(entry)) = (is_install, &deps_entry) {
                deps_staging = self.stage_deps(&deps_dir, entry, &install_dir);
            }
        }

        // A Python server unit's virtualenv runs from the release tree, not from here.
        let unit_dir = match tree::relative("the unit folder", &plan.path)? {
            Some(rel) => work.join(rel),
            None => work.clone(),
        };
        // A server unit's `.next/cache` (webpack's, tens of MB) is build-time only: the release
        // gets a writable one of its own (ferry-release's materialize).
        if plan.kind == UnitKind::Server {
            for cache in next_caches(&unit_dir) {
                fs::remove_dir_all(&cache).map_err(io(&cache))?;
                self.log.line(&format!(
                    "left `{}` out of the output (a build cache)",
                    cache.strip_prefix(&work).unwrap_or(&cache).display()
                ));
            }
        }
        let scripts = venv::relocate(&unit_dir.join(".venv"))?;
        if scripts > 0 {
            self.log.line(&format!(
                "made the virtualenv relocatable ({scripts} console scripts run the `python` beside them)"
            ));
        }

        let t = Instant::now();
        let staging = Staging::new(&builds, key)?;
        let out = staging.path().join("out");
        if !collect(&work, output_rel, &out)? {
            self.log.line(&format!(
                "error: the output folder `{}` does not exist after the build",
                plan.output
            ));
            self.log.flush();
            return Err(BuildError::OutputMissing {
                path: plan.output.clone(),
                log_path: self.log.path().to_path_buf(),
            });
        }
        let entry = builds.join(key);
        if staging.commit(&entry, opts.no_cache)? == Committed::Existing {
            self.log
                .line("a concurrent build stored the same output first; using it");
        }
        self.phase("collect", t);

        if let (Some(staging), Some(entry)) = (deps_staging, &deps_entry)
            && let Err(e) = staging.commit(entry, opts.no_cache)
        {
            let warning = format!("could not store the dependencies in the cache: {e}");
            self.log.line(&warning);
            self.warnings.push(warning);
        }
        self.log.line(&format!(
            "done: output stored at {}",
            entry.join("out").display()
        ));
        self.log.flush();
        drop(tmp);
        Ok(deps_cached)
    }

    /// Runs one step, mapping a failure or a timeout to its error.
    fn run_step(&mut self, step: &Step, cwd: &Path) -> Result<(), BuildError> {
        self.check_tool(step)?;
        if !cwd.is_dir() {
            let detail = format!(
                "the `{}` step runs in `{}`, which is not a folder of the source",
                step.name, step.command.cwd
            );
            self.log.line(&format!("error: {detail}"));
            self.log.flush();
            return Err(BuildError::InvalidPlan { detail });
        }
        self.log.line(&format!(
            "==> {}: {} (in {})",
            step.name, step.command.run, step.command.cwd
        ));
        let t = Instant::now();
        let spec = StepSpec {
            run: &step.command.run,
            cwd,
            env: &self.opts.env,
            timeout: self.opts.step_timeout,
        };
        let outcome = step::run(&spec, &mut self.log, self.opts.on_line)?;
        self.phase(&step.name, t);
        match outcome {
            Outcome::TimedOut => {
                let seconds = self.opts.step_timeout.as_secs();
                self.log.line(&format!(
                    "<== {}: stopped after {seconds} s (the step timeout)",
                    step.name
                ));
                self.log.flush();
                Err(BuildError::Timeout {
                    step: step.name.clone(),
                    seconds,
                    log_path: self.log.path().to_path_buf(),
                })
            }
            Outcome::Exited { status, tail } if !status.success() => {
                let exit = status.code();
                let how = exit.map_or("killed by a signal".to_string(), |c| format!("exit {c}"));
                self.log.line(&format!(
                    "<== {}: failed ({how}) after {:.2?}",
                    step.name,
                    t.elapsed()
                ));
                self.log.flush();
                Err(BuildError::StepFailed {
                    step: step.name.clone(),
                    command: step.command.run.clone(),
                    exit,
                    tail,
                    log_path: self.log.path().to_path_buf(),
                })
            }
            Outcome::Exited { .. } => {
                self.log
                    .line(&format!("<== {}: ok in {:.2?}", step.name, t.elapsed()));
                Ok(())
            }
        }
    }

    /// `ToolMissing` when the step's program is a plain name that is not on PATH.
    fn check_tool(&mut self, step: &Step) -> Result<(), BuildError> {
        let Some(tool) = step::program(&step.command.run) else {
            return Ok(());
        };
        let path = match self.opts.env.get("PATH") {
            Some(p) => Some(OsString::from(p)),
            None => std::env::var_os("PATH"),
        };
        if step::on_path(tool, path) {
            return Ok(());
        }
        self.log.line(&format!(
            "error: `{tool}`, which the `{}` step runs, is not on PATH",
            step.name
        ));
        self.log.flush();
        Err(BuildError::ToolMissing { tool: tool.into() })
    }

    /// Copies the fresh `node_modules` into a staging entry, committed only if the build
    /// succeeds. A failure to stage is a warning, never a failed build.
    fn stage_deps(&mut self, deps_dir: &Path, entry: &Path, install_dir: &Path) -> Option<Staging> {
        let t = Instant::now();
        let key = entry.file_name()?.to_string_lossy().into_owned();
        let staged = Staging::new(deps_dir, &key)
            .and_then(|s| deps::store(install_dir, s.path()).map(|stored| (s, stored)));
        match staged {
            Ok((staging, true)) => {
                self.phase("deps-save", t);
                Some(staging)
            }
            Ok((_, false)) => {
                self.log
                    .line("the install produced no node_modules folder; nothing to cache");
                None
            }
            Err(e) => {
                let warning = format!("could not store the dependencies in the cache: {e}");
                self.log.line(&warning);
                self.warnings.push(warning);
                None
            }
        }
    }

    fn phase(&mut self, name: &str, since: Instant) {
        self.phases.push((name.to_string(), since.elapsed()));
    }

    /// The log's header: what is built, how, with which env names (never values).
    fn header(&mut self, key: &str) {
        let plan = self.plan;
        let toolchain = plan.toolchain.runtime.as_ref().map_or_else(
            || "unspecified".to_string(),
            |r| format!("{} {} (from {})", r.name, r.version, r.from),
        );
        let pm = plan
            .toolchain
            .package_manager
            .map_or("none", |p| p.as_str());
        let mut names: Vec<&str> = self.opts.env.keys().map(String::as_str).collect();
        names.extend(["CI", "FORCE_COLOR"]);
        let lines = [
            "ferry build".to_string(),
            format!(
                "app: {}  unit: {}  path: {}",
                plan.app, plan.unit, plan.path
            ),
            format!(
                "kind: {}  framework: {}",
                match plan.kind {
                    UnitKind::Static => "static",
                    UnitKind::Server => "server",
                },
                plan.framework.as_deref().unwrap_or("none")
            ),
            format!("runtime: {toolchain}  package manager: {pm}"),
            format!("source: {}", self.source_root.display()),
            format!("output: {}", plan.output),
            format!("cache key: {key}"),
            format!("env (names only): {}", names.join(", ")),
            format!("step timeout: {} s", self.opts.step_timeout.as_secs()),
            "steps:".to_string(),
        ];
        for line in lines {
            self.log.line(&line);
        }
        for step in &plan.steps {
            self.log.line(&format!(
                "  {} (in {}): {}",
                step.name, step.command.cwd, step.command.run
            ));
        }
        self.log.line("");
    }
}

/// Moves the output folder out of the temporary copy into `to`. False when it is missing.
fn collect(work: &Path, output: Option<&Path>, to: &Path) -> Result<bool, BuildError> {
    let path = match output {
        Some(rel) => work.join(rel),
        None => work.to_path_buf(),
    };
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return Ok(false);
    };
    let source = if meta.is_dir() {
        if fs::rename(&path, to).is_ok() {
            return Ok(true);
        }
        path
    } else if meta.is_symlink() {
        // An output that is a link to a folder of the copy (`dist -> build`).
        let (Ok(real), Ok(base)) = (fs::canonicalize(&path), fs::canonicalize(work)) else {
            return Ok(false);
        };
        if !real.starts_with(&base) || !real.is_dir() {
            return Ok(false);
        }
        real
    } else {
        return Ok(false);
    };
    let listing = tree::list(&source, None, false)?;
    tree::copy_listing(&source, to, &listing)?;
    Ok(true)
}

/// The `.next/cache` folders below `dir` (Next.js build caches; `.next/standalone/.next/cache`
/// too), outside `node_modules`; links are not followed.
fn next_caches(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            if name == "node_modules" || name == ".git" || name == ".venv" {
                continue;
            }
            let path = entry.path();
            if name == "cache" && d.file_name().is_some_and(|n| n == ".next") {
                found.push(path);
            } else {
                stack.push(path);
            }
        }
    }
    found
}

/// The folder a build's copy leaves out: a static unit's output (a stale `dist/` must not leak
/// into the build), never a server unit's, whose output is its own source folder.
fn excluded<'p>(plan: &BuildPlan, output: Option<&'p Path>) -> Option<&'p Path> {
    if plan.kind == UnitKind::Server {
        None
    } else {
        output
    }
}

/// Refuses plans this crate does not understand.
fn check_plan(plan: &BuildPlan) -> Result<(), BuildError> {
    if plan.schema != PLAN_SCHEMA || plan.version != PLAN_VERSION {
        return Err(BuildError::InvalidPlan {
            detail: format!(
                "it is `{}` version {}; this ferry builds `{PLAN_SCHEMA}` version {PLAN_VERSION}",
                plan.schema, plan.version
            ),
        });
    }
    if let Some(step) = plan.steps.iter().find(|s| s.command.run.contains('\0')) {
        return Err(BuildError::InvalidPlan {
            detail: format!("the `{}` step's command contains a NUL byte", step.name),
        });
    }
    Ok(())
}

/// Refuses env names (and values) a process environment cannot hold.
fn check_env(env: &BTreeMap<String, String>) -> Result<(), BuildError> {
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(BuildError::InvalidEnv {
                name: name.replace('\0', "\\0"),
            });
        }
    }
    Ok(())
}

//! End-to-end builds with real processes: small plans whose steps are plain shell, so the
//! tests run offline (no npm registry) and can count what ran.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_build::{BuildError, BuildOptions, BuildOutput, build, cache_key};
use ferry_inspect::BuildPlan;
use serde_json::json;

/// A source tree, a cache, a log folder and counter files, all in one temporary folder.
struct Fixture {
    _dir: tempfile::TempDir,
    src: PathBuf,
    cache: PathBuf,
    logs: PathBuf,
    installs: PathBuf,
    builds: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let src = root.join("src");
        fs::create_dir_all(&src).expect("src");
        write(&src.join("index.html"), "<h1>v1</h1>\n");
        write(
            &src.join("package.json"),
            r#"{"name":"demo","scripts":{"build":"x"}}"#,
        );
        write(
            &src.join("package-lock.json"),
            r#"{"lockfileVersion":3,"v":1}"#,
        );
        // Never part of a build: installed, VCS and ferry folders.
        write(&src.join("node_modules/junk/index.js"), "junk");
        write(&src.join(".git/HEAD"), "ref: refs/heads/main\n");
        write(&src.join(".ferry/state"), "x");
        Self {
            src,
            cache: root.join("cache"),
            logs: root.join("logs"),
            installs: root.join("installs.count"),
            builds: root.join("builds.count"),
            _dir: dir,
        }
    }

    /// Install: creates `node_modules/x/marker` and counts. Build: checks the marker is there
    /// and the source's own node_modules was not copied, then writes `dist/`.
    fn plan(&self) -> BuildPlan {
        let install = format!(
            "mkdir -p node_modules/x && echo installed > node_modules/x/marker && echo install >> '{}'",
            self.installs.display()
        );
        let build = format!(
            "test -f node_modules/x/marker && test ! -e node_modules/junk && mkdir -p dist \
             && cp index.html dist/ && echo built && echo build >> '{}'",
            self.builds.display()
        );
        self.plan_with(&install, &build, "dist")
    }

    fn plan_with(&self, install: &str, build: &str, output: &str) -> BuildPlan {
        plan(
            "npm",
            &[("install", install, "."), ("build", build, ".")],
            output,
        )
    }

    fn opts(&self) -> BuildOptions<'static> {
        BuildOptions::new(&self.cache, &self.logs)
    }

    fn installs(&self) -> usize {
        count(&self.installs)
    }

    fn builds(&self) -> usize {
        count(&self.builds)
    }
}

fn plan(pm: &str, steps: &[(&str, &str, &str)], output: &str) -> BuildPlan {
    let runtime = if matches!(pm, "pip" | "uv" | "poetry" | "pipenv") {
        json!({"name": "python", "version": "3.12", "from": ".python-version"})
    } else {
        json!({"name": "node", "version": "20", "from": ".nvmrc"})
    };
    let steps: Vec<_> = steps
        .iter()
        .map(|(name, run, cwd)| json!({"name": name, "run": run, "cwd": cwd}))
        .collect();
    serde_json::from_value(json!({
        "schema": "ferry.build-plan",
        "version": 1,
        "app": "demo",
        "unit": "web",
        "path": ".",
        "kind": "static",
        "framework": "vite-react",
        "toolchain": {"runtime": runtime, "package_manager": pm},
        "steps": steps,
        "output": output,
        "spa": true,
        "processes": [],
        "proxies": [],
        "env": {"build": [], "runtime": []}
    }))
    .expect("a valid plan")
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("parent");
    }
    fs::write(path, text).expect("write");
}

fn count(path: &Path) -> usize {
    fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn ok(result: Result<BuildOutput, BuildError>) -> BuildOutput {
    match result {
        Ok(out) => out,
        Err(e) => {
            let log = e
                .log_path()
                .and_then(|p| fs::read_to_string(p).ok())
                .unwrap_or_default();
            panic!("build failed: {e} [{}] hint: {}\n{log}", e.code(), e.hint())
        }
    }
}

fn phase_names(out: &BuildOutput) -> Vec<&str> {
    out.phases.iter().map(|(n, _)| n.as_str()).collect()
}

/// Entries (complete or not) in `<cache>/<sub>`.
fn entries(cache: &Path, sub: &str) -> Vec<String> {
    fs::read_dir(cache.join(sub))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn first_build_installs_builds_and_returns_the_output() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let out = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!out.cached);
    assert!(!out.deps_cached);
    assert_eq!((fx.installs(), fx.builds()), (1, 1));
    assert_eq!(
        fs::read_to_string(out.output_dir.join("index.html")).expect("output"),
        "<h1>v1</h1>\n"
    );
    assert!(out.output_dir.starts_with(fx.cache.join("builds")));
    assert!(out.output_dir.ends_with(format!("{}/out", out.cache_key)));
    assert!(
        fx.cache
            .join("builds")
            .join(&out.cache_key)
            .join("done")
            .is_file()
    );
    assert_eq!(
        out.cache_key,
        cache_key(&fx.src, &plan, &BTreeMap::new()).expect("key")
    );
    assert_eq!(
        phase_names(&out),
        ["hash", "copy", "install", "deps-save", "build", "collect"]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // The dependency cache holds the installed node_modules, marked complete.
    let deps = entries(&fx.cache, "deps");
    assert_eq!(deps.len(), 1, "{deps:?}");
    let dep = fx.cache.join("deps").join(&deps[0]);
    assert!(dep.join("done").is_file());
    assert!(dep.join("node_modules/x/marker").is_file());
    // The temporary copy is gone, the log holds the header and the output.
    assert!(entries(&fx.cache, "tmp").is_empty());
    let log = fs::read_to_string(&out.log_path).expect("log");
    assert!(
        log.contains("==> install: mkdir -p node_modules/x"),
        "{log}"
    );
    assert!(log.contains("\nbuilt\n"), "{log}");
    assert!(
        log.contains(&format!("cache key: {}", out.cache_key)),
        "{log}"
    );
    let name = out.log_path.file_name().expect("name").to_string_lossy();
    assert!(name.starts_with("web-") && name.ends_with(".log"), "{name}");
    // The source is untouched.
    assert!(!fx.src.join("dist").exists());
}

#[test]
fn identical_rebuild_comes_from_the_cache_and_runs_nothing() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    let second = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(second.cached);
    assert!(!second.deps_cached);
    assert_eq!((fx.installs(), fx.builds()), (1, 1));
    assert_eq!(second.output_dir, first.output_dir);
    assert_eq!(second.cache_key, first.cache_key);
    assert_eq!(phase_names(&second), ["hash"]);
    assert_ne!(second.log_path, first.log_path);
    let log = fs::read_to_string(&second.log_path).expect("log");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("nothing ran"), "{log}");
    // Files the key ignores do not cause a rebuild.
    write(&fx.src.join("node_modules/other/index.js"), "x");
    write(&fx.src.join(".git/ORIG_HEAD"), "x");
    write(&fx.src.join("dist/stale.html"), "x");
    assert!(ok(build(&fx.src, &plan, &fx.opts())).cached);
}

#[test]
fn source_change_rebuilds_with_cached_dependencies() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    write(&fx.src.join("index.html"), "<h1>v2</h1>\n");
    let second = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!second.cached);
    assert!(second.deps_cached);
    assert_ne!(second.cache_key, first.cache_key);
    assert_eq!((fx.installs(), fx.builds()), (1, 2));
    assert_eq!(
        phase_names(&second),
        ["hash", "copy", "deps-restore", "build", "collect"]
    );
    assert_eq!(
        fs::read_to_string(second.output_dir.join("index.html")).expect("output"),
        "<h1>v2</h1>\n"
    );
    // The first output is still there, unchanged.
    assert_eq!(
        fs::read_to_string(first.output_dir.join("index.html")).expect("output"),
        "<h1>v1</h1>\n"
    );
    let log = fs::read_to_string(&second.log_path).expect("log");
    assert!(log.contains("==> install: skipped"), "{log}");
}

#[test]
fn lockfile_change_installs_again() {
    let fx = Fixture::new();
    let plan = fx.plan();
    ok(build(&fx.src, &plan, &fx.opts()));
    write(
        &fx.src.join("package-lock.json"),
        r#"{"lockfileVersion":3,"v":2}"#,
    );
    let out = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!out.cached && !out.deps_cached);
    assert_eq!((fx.installs(), fx.builds()), (2, 2));
    assert_eq!(entries(&fx.cache, "deps").len(), 2);
    // package.json is part of the dependency key too.
    write(
        &fx.src.join("package.json"),
        r#"{"name":"demo","scripts":{"build":"y"}}"#,
    );
    let out = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!out.deps_cached);
    assert_eq!(fx.installs(), 3);
}

#[test]
fn env_values_change_the_key() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let a = BTreeMap::from([("VITE_API_URL".to_string(), "https://a.example".to_string())]);
    let b = BTreeMap::from([("VITE_API_URL".to_string(), "https://b.example".to_string())]);
    let renamed = BTreeMap::from([("VITE_API".to_string(), "https://a.example".to_string())]);
    let key_a = cache_key(&fx.src, &plan, &a).expect("key");
    assert_eq!(key_a, cache_key(&fx.src, &plan, &a).expect("key"));
    assert_ne!(key_a, cache_key(&fx.src, &plan, &b).expect("key"));
    assert_ne!(key_a, cache_key(&fx.src, &plan, &renamed).expect("key"));
    assert_ne!(
        key_a,
        cache_key(&fx.src, &plan, &BTreeMap::new()).expect("key")
    );

    let mut opts = fx.opts();
    opts.env = a;
    assert_eq!(ok(build(&fx.src, &plan, &opts)).cache_key, key_a);
    opts.env = b;
    let out = ok(build(&fx.src, &plan, &opts));
    assert!(!out.cached && out.deps_cached);
    assert_eq!(fx.builds(), 2);
}

#[test]
fn the_plan_and_file_modes_are_part_of_the_key() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let env = BTreeMap::new();
    let key = cache_key(&fx.src, &plan, &env).expect("key");
    let mut other = plan.clone();
    other.spa = false;
    assert_ne!(key, cache_key(&fx.src, &other, &env).expect("key"));
    let html = fx.src.join("index.html");
    fs::set_permissions(&html, fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_ne!(key, cache_key(&fx.src, &plan, &env).expect("key"));
    fs::set_permissions(&html, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(key, cache_key(&fx.src, &plan, &env).expect("key"));
    // A renamed file changes the key even with the same content.
    fs::rename(&html, fx.src.join("home.html")).expect("rename");
    assert_ne!(key, cache_key(&fx.src, &plan, &env).expect("key"));
}

#[test]
fn failing_step_reports_the_tail_and_caches_nothing() {
    let fx = Fixture::new();
    let install = format!(
        "mkdir -p node_modules/x && echo install >> '{}'",
        fx.installs.display()
    );
    let plan = fx.plan_with(
        &install,
        "echo starting; for i in $(seq 1 30); do echo line-$i; done; echo oops >&2; exit 3",
        "dist",
    );
    let err = build(&fx.src, &plan, &fx.opts()).expect_err("the build fails");
    assert_eq!(err.code(), "step-failed");
    let BuildError::StepFailed {
        step,
        command,
        exit,
        tail,
        log_path,
    } = &err
    else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(step, "build");
    assert!(command.starts_with("echo starting"));
    assert_eq!(*exit, Some(3));
    assert_eq!(tail.len(), 20);
    // stdout and stderr keep the order they were written in.
    assert_eq!(tail.last().map(String::as_str), Some("oops"));
    assert_eq!(tail.first().map(String::as_str), Some("line-12"));
    assert!(err.hint().contains(&log_path.display().to_string()));
    assert!(err.to_string().contains("exit code 3"), "{err}");
    let log = fs::read_to_string(log_path).expect("the log is kept");
    assert!(log.contains("line-1\n") && log.contains("oops"), "{log}");
    // Nothing was stored: no output entry, no dependency entry, no leftovers.
    assert!(entries(&fx.cache, "builds").is_empty());
    assert!(entries(&fx.cache, "deps").is_empty());
    assert!(entries(&fx.cache, "tmp").is_empty());
    assert_eq!(fx.installs(), 1);
}

#[test]
fn missing_output_is_reported() {
    let fx = Fixture::new();
    let plan = fx.plan_with(
        "mkdir -p node_modules/x",
        "echo built somewhere else",
        "dist",
    );
    let err = build(&fx.src, &plan, &fx.opts()).expect_err("no output");
    assert_eq!(err.code(), "output-missing");
    match &err {
        BuildError::OutputMissing { path, log_path } => {
            assert_eq!(path, "dist");
            assert!(log_path.is_file());
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.hint().contains("output"));
    assert!(entries(&fx.cache, "builds").is_empty());
    assert!(entries(&fx.cache, "deps").is_empty());
}

#[test]
fn slow_step_times_out_and_its_processes_are_killed() {
    let fx = Fixture::new();
    // A background child keeps the output pipe open: only killing the group ends it.
    let plan = fx.plan_with(
        "true",
        "echo going; sleep 30 & sleep 30; echo never",
        "dist",
    );
    let mut opts = fx.opts();
    opts.step_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = build(&fx.src, &plan, &opts).expect_err("timeout");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    match &err {
        BuildError::Timeout {
            step,
            seconds,
            log_path,
        } => {
            assert_eq!(step, "build");
            assert_eq!(*seconds, 1);
            let log = fs::read_to_string(log_path).expect("log");
            assert!(
                log.contains("\ngoing\n") && !log.contains("\nnever\n"),
                "{log}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(err.code(), "step-timeout");
    assert!(entries(&fx.cache, "builds").is_empty());
}

#[test]
fn missing_tool_fails_before_anything_runs() {
    let fx = Fixture::new();
    let install = format!("echo install >> '{}'", fx.installs.display());
    let plan = fx.plan_with(&install, "definitely-not-a-tool build", "dist");
    let err = build(&fx.src, &plan, &fx.opts()).expect_err("tool missing");
    match &err {
        BuildError::ToolMissing { tool } => assert_eq!(tool, "definitely-not-a-tool"),
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(err.code(), "tool-missing");
    assert!(err.hint().contains("definitely-not-a-tool"));
    assert_eq!(fx.installs(), 0);
    assert!(entries(&fx.cache, "tmp").is_empty());
    // Known tools get a concrete install hint.
    let pnpm = BuildError::ToolMissing {
        tool: "pnpm".into(),
    };
    assert!(pnpm.hint().contains("npm i -g pnpm"));
}

#[test]
fn on_line_receives_stdout_and_stderr() {
    let fx = Fixture::new();
    let plan = fx.plan_with(
        "mkdir -p node_modules/x && echo from-install",
        "echo to-stdout; echo to-stderr >&2; printf 'no-newline'; mkdir -p dist",
        "dist",
    );
    let lines = Mutex::new(Vec::new());
    let sink = |line: &str| {
        if let Ok(mut l) = lines.lock() {
            l.push(line.to_string());
        }
    };
    let mut opts = fx.opts();
    opts.on_line = Some(&sink);
    ok(build(&fx.src, &plan, &opts));
    let lines = lines.into_inner().expect("lines");
    for expected in ["from-install", "to-stdout", "to-stderr", "no-newline"] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} in {lines:?}"
        );
    }
}

#[test]
fn env_reaches_steps_but_never_the_log() {
    let fx = Fixture::new();
    let secret = "sk_live_51Hq8ZZtopSecretValue9000";
    let plan = fx.plan_with(
        "mkdir -p node_modules/x",
        "mkdir -p dist && printf %s \"$STRIPE_SECRET_KEY\" > dist/seen && echo \"key is $STRIPE_SECRET_KEY\" \
         && echo \"$CI $FORCE_COLOR\" > dist/ci && echo \"$STRIPE_SECRET_KEY\" >&2",
        "dist",
    );
    let lines = Mutex::new(Vec::new());
    let sink = |line: &str| {
        if let Ok(mut l) = lines.lock() {
            l.push(line.to_string());
        }
    };
    let mut opts = fx.opts();
    opts.env.insert("STRIPE_SECRET_KEY".into(), secret.into());
    opts.env.insert("VITE_FLAG".into(), "1".into());
    opts.on_line = Some(&sink);
    let out = ok(build(&fx.src, &plan, &opts));
    assert_eq!(
        fs::read_to_string(out.output_dir.join("seen")).expect("seen"),
        secret
    );
    assert_eq!(
        fs::read_to_string(out.output_dir.join("ci")).expect("ci"),
        "true 0\n"
    );
    let log = fs::read_to_string(&out.log_path).expect("log");
    assert!(!log.contains(secret), "{log}");
    assert!(!log.contains("51Hq8ZZ"), "{log}");
    assert!(log.contains("STRIPE_SECRET_KEY"), "names are logged: {log}");
    assert!(log.contains("key is ***"), "{log}");
    let seen = lines.lock().expect("lines").clone();
    assert!(seen.iter().all(|l| !l.contains(secret)), "{seen:?}");
    // Nor does a failure's tail carry it.
    let failing = fx.plan_with("true", "echo \"$STRIPE_SECRET_KEY\"; exit 1", "dist");
    match build(&fx.src, &failing, &opts) {
        Err(BuildError::StepFailed { tail, log_path, .. }) => {
            assert_eq!(tail, ["***"]);
            assert!(!fs::read_to_string(log_path).expect("log").contains(secret));
        }
        other => panic!("unexpected result: {other:?}"),
    }
    // Debug output of the options shows names only.
    assert!(!format!("{opts:?}").contains(secret));
}

#[test]
fn no_lockfile_installs_every_time_with_a_warning() {
    let fx = Fixture::new();
    fs::remove_file(fx.src.join("package-lock.json")).expect("rm");
    let plan = fx.plan();
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    assert_eq!(
        first.warnings,
        ["no lockfile: installing without one (versions may drift)"]
    );
    assert!(entries(&fx.cache, "deps").is_empty());
    write(&fx.src.join("index.html"), "<h1>v2</h1>\n");
    let second = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!second.deps_cached);
    assert_eq!(fx.installs(), 2);
    // The warning is repeated for a cached build too.
    let third = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(third.cached);
    assert_eq!(third.warnings.len(), 1);
}

#[test]
fn no_cache_forces_a_full_rebuild() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    let mut opts = fx.opts();
    opts.no_cache = true;
    let second = ok(build(&fx.src, &plan, &opts));
    assert!(!second.cached && !second.deps_cached);
    assert_eq!((fx.installs(), fx.builds()), (2, 2));
    assert_eq!(second.output_dir, first.output_dir);
    assert!(second.output_dir.join("index.html").is_file());
    // The replaced entries are whole, and nothing is left aside.
    assert_eq!(
        entries(&fx.cache, "builds"),
        std::slice::from_ref(&first.cache_key)
    );
    assert_eq!(entries(&fx.cache, "deps").len(), 1);
    assert!(ok(build(&fx.src, &plan, &fx.opts())).cached);
}

#[test]
fn copy_keeps_modes_and_inner_links_and_drops_escaping_ones() {
    let fx = Fixture::new();
    write(&fx.src.join("tools/gen.sh"), "#!/bin/sh\necho generated\n");
    fs::set_permissions(
        fx.src.join("tools/gen.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("index.html", fx.src.join("alias.html")).expect("link");
    std::os::unix::fs::symlink("./tools", fx.src.join("tools-link")).expect("link");
    std::os::unix::fs::symlink("/etc/hostname", fx.src.join("host")).expect("link");
    let plan = fx.plan_with(
        "mkdir -p node_modules/x",
        "test -x tools/gen.sh && test -L alias.html && test \"$(readlink alias.html)\" = index.html \
         && test ! -e host && test ! -L host && mkdir -p dist && ./tools/gen.sh > dist/gen.txt \
         && cp -P alias.html dist/",
        "dist",
    );
    let out = ok(build(&fx.src, &plan, &fx.opts()));
    assert_eq!(
        fs::read_to_string(out.output_dir.join("gen.txt")).expect("gen"),
        "generated\n"
    );
    assert!(
        fs::symlink_metadata(out.output_dir.join("alias.html"))
            .expect("alias")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        out.warnings,
        ["symbolic link `host` points outside the app; it is left out of the build"]
    );
}

#[test]
fn workspace_members_node_modules_are_cached_too() {
    let fx = Fixture::new();
    write(&fx.src.join("packages/ui/package.json"), r#"{"name":"ui"}"#);
    let install = format!(
        "mkdir -p node_modules/x packages/ui/node_modules/y && echo install >> '{}'",
        fx.installs.display()
    );
    let plan = plan(
        "pnpm",
        &[
            ("install", &install, "."),
            (
                "build",
                "test -d ../../node_modules/x && test -d node_modules/y && test ! -e node_modules/stale \
                 && mkdir -p dist && echo ok > dist/ok",
                "packages/ui",
            ),
        ],
        "packages/ui/dist",
    );
    fs::remove_file(fx.src.join("package-lock.json")).expect("rm");
    write(&fx.src.join("pnpm-lock.yaml"), "lockfileVersion: '9.0'\n");
    // A stale member node_modules in the source is not copied.
    write(&fx.src.join("packages/ui/node_modules/stale/index.js"), "x");
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(first.output_dir.join("ok").is_file());
    write(&fx.src.join("packages/ui/index.ts"), "export {}\n");
    let second = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(second.deps_cached);
    assert_eq!(fx.installs(), 1);
}

#[test]
fn python_units_run_their_install_every_time() {
    let fx = Fixture::new();
    write(&fx.src.join("requirements.txt"), "fastapi\n");
    let install = format!("echo install >> '{}'", fx.installs.display());
    let plan = plan("pip", &[("install", &install, ".")], ".");
    let first = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!first.deps_cached);
    // Output `.` is the whole (clean) copy.
    assert!(first.output_dir.join("requirements.txt").is_file());
    assert!(!first.output_dir.join(".git").exists());
    assert!(!first.output_dir.join("node_modules").exists());
    write(&fx.src.join("main.py"), "app = None\n");
    let second = ok(build(&fx.src, &plan, &fx.opts()));
    assert!(!second.cached && !second.deps_cached);
    assert_eq!(fx.installs(), 2);
    assert!(second.output_dir.join("main.py").is_file());
}

#[test]
fn bad_plans_are_errors_not_panics() {
    let fx = Fixture::new();
    let escaping = fx.plan_with("true", "true", "../elsewhere");
    let err = build(&fx.src, &escaping, &fx.opts()).expect_err("escaping output");
    assert_eq!(err.code(), "invalid-plan");
    assert!(cache_key(&fx.src, &escaping, &BTreeMap::new()).is_err());

    let cwd = plan("npm", &[("build", "true", "/etc")], "dist");
    assert_eq!(
        build(&fx.src, &cwd, &fx.opts())
            .expect_err("absolute cwd")
            .code(),
        "invalid-plan"
    );

    let missing_dir = plan("npm", &[("build", "true", "no/such/folder")], "dist");
    assert_eq!(
        build(&fx.src, &missing_dir, &fx.opts())
            .expect_err("missing cwd")
            .code(),
        "invalid-plan"
    );

    let mut newer = fx.plan();
    newer.version = 2;
    assert_eq!(
        build(&fx.src, &newer, &fx.opts())
            .expect_err("version")
            .code(),
        "invalid-plan"
    );

    let mut opts = fx.opts();
    opts.env.insert("A=B".into(), "x".into());
    assert_eq!(
        build(&fx.src, &fx.plan(), &opts).expect_err("env").code(),
        "invalid-env"
    );

    let gone = fx.src.join("no-such-source");
    assert_eq!(
        build(&gone, &fx.plan(), &fx.opts())
            .expect_err("no source")
            .code(),
        "io"
    );
}

#[test]
fn a_five_thousand_file_tree_hashes_stably_and_hits_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    for i in 0..5000 {
        let path = src.join(format!("src/components/group{}/file{i}.tsx", i % 50));
        write(
            &path,
            &format!("export const C{i} = () => <div>component {i}</div>;\n").repeat(8),
        );
    }
    write(&src.join("index.html"), "<h1>hi</h1>");
    let fx_plan = plan(
        "npm",
        &[("build", "mkdir -p dist && cp index.html dist/", ".")],
        "dist",
    );
    let env = BTreeMap::new();
    // Speed is measured by bench/inspect.sh, not here: this checks determinism.
    let key = cache_key(&src, &fx_plan, &env).expect("key");
    assert_eq!(cache_key(&src, &fx_plan, &env).expect("key"), key);

    let cache = dir.path().join("cache");
    let logs = dir.path().join("logs");
    let opts = BuildOptions::new(&cache, &logs);
    let first = ok(build(&src, &fx_plan, &opts));
    let hit = ok(build(&src, &fx_plan, &opts));
    assert!(hit.cached);
    assert_eq!(hit.cache_key, key);
    assert_eq!(hit.output_dir, first.output_dir);
}

#[test]
fn patches_change_the_build_copy_only_and_count_in_the_key() {
    let fx = Fixture::new();
    let plan = fx.plan();
    let plain = ok(build(&fx.src, &plan, &fx.opts()));
    assert_eq!(
        fs::read_to_string(plain.output_dir.join("index.html")).expect("read"),
        "<h1>v1</h1>\n"
    );
    let mut opts = fx.opts();
    opts.patches = BTreeMap::from([("index.html".to_string(), "<h1>patched</h1>\n".to_string())]);
    let patched = ok(build(&fx.src, &plan, &opts));
    assert!(!patched.cached, "a patch is part of the output key");
    assert_ne!(patched.cache_key, plain.cache_key);
    assert_eq!(
        fs::read_to_string(patched.output_dir.join("index.html")).expect("read"),
        "<h1>patched</h1>\n"
    );
    assert_eq!(
        fs::read_to_string(fx.src.join("index.html")).expect("read"),
        "<h1>v1</h1>\n",
        "the source is never written"
    );
    // The same patch again comes from the cache.
    assert!(ok(build(&fx.src, &plan, &opts)).cached);
    // A patch must name a file of the source, inside it.
    for bad in ["missing.js", "../outside.js", "node_modules/junk/index.js"] {
        let mut opts = fx.opts();
        opts.patches = BTreeMap::from([(bad.to_string(), "x".to_string())]);
        let err = build(&fx.src, &plan, &opts).expect_err(bad);
        assert!(
            matches!(err, BuildError::InvalidPlan { .. }),
            "{bad}: {err}"
        );
    }
}

/// A server unit in a folder of its own: its output is that folder, built in place (never left
/// out of the copy as a stale output would be), without Next.js's build cache.
#[test]
fn a_server_unit_outputs_its_folder_without_build_caches() {
    let fx = Fixture::new();
    write(&fx.src.join("api/server.js"), "console.log('api')\n");
    let script = "mkdir -p .next/cache/webpack .next/standalone/.next/cache .next/server \
                 && echo big > .next/cache/webpack/pack && echo page > .next/server/page.js \
                 && echo x > .next/standalone/.next/cache/y";
    let mut p = plan("npm", &[("build", script, "api")], "api");
    p.kind = ferry_inspect::UnitKind::Server;
    p.path = "api".into();
    let out = ok(build(&fx.src, &p, &fx.opts()));
    let dir = &out.output_dir;
    assert!(dir.join("server.js").is_file(), "the unit's own files");
    assert!(
        dir.join(".next/server/page.js").is_file(),
        "the build's output"
    );
    assert!(!dir.join(".next/cache").exists(), "no build cache");
    assert!(!dir.join(".next/standalone/.next/cache").exists());
    assert!(!dir.join("index.html").exists(), "only the unit's folder");
}

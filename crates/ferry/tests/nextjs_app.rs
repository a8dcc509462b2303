//! A real Next.js app through the real binary and a real server: `examples/nextjs-app` (Next 15,
//! App Router) is detected, installed with `npm ci` (from the registry; npm's cache is
//! `$npm_config_cache` when set, as `scripts/test` sets it, else a folder of the test's own),
//! built with `next build` and run with `next start` behind the edge — its page, its route
//! handler (GET and POST through the proxy), a page rendered per request from a secret set with
//! `ferry env set`, the image optimiser writing its cache from the read-only tree, a second
//! release switching with the first warm, and the same app with `output: "standalone"`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{Env, bin, need_node};
use serde_json::Value;

const APP: &str = "nextjs-app";

/// Copies the example into `to`, leaving out what a local `npm install` or `next build` made.
fn copy_example(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "node_modules" || name == ".next" {
            continue;
        }
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            copy_example(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// Runs `ferry args…` with the env's home, npm's cache and Next's telemetry off (the build
/// runs in this process's environment): (exit code, stdout as JSON or text, stderr).
fn ferry(env: &Env, npm_cache: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(bin())
        .args(args)
        .env("FERRY_HOME", &env.home)
        .env("NO_COLOR", "1")
        .env("npm_config_cache", npm_cache)
        .env("NEXT_TELEMETRY_DISABLED", "1")
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ferry deploy --json` of the app: the release id. Prints how long each phase took.
fn deploy(env: &Env, npm_cache: &Path, label: &str) -> String {
    let started = Instant::now();
    let (code, doc, err) = ferry(
        env,
        npm_cache,
        &["deploy", "--json", env.app.to_str().expect("utf-8")],
    );
    assert_eq!(code, 0, "{label} deploys:\n{err}\n{doc}");
    eprintln!(
        "{label}: deployed in {:.1?} (phases {}, {} files, {} new blobs)",
        started.elapsed(),
        doc["phases"],
        doc["files"],
        doc["new_blobs"]
    );
    doc["release_id"].as_str().expect("release id").to_string()
}

/// The start command a release records for its first process.
fn start_command(env: &Env, release: &str) -> String {
    let text = std::fs::read_to_string(env.home.join("releases").join(format!("{release}.json")))
        .expect("release manifest");
    let manifest: Value = serde_json::from_str(&text).expect("json");
    manifest["backend"]["processes"][0]["command"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The first `/_next/static/…` asset a page names.
fn static_asset(page: &str) -> String {
    let start = page.find("/_next/static/").expect("a static asset");
    let end = page[start..]
        .find(['"', '\''])
        .map(|n| start + n)
        .expect("quoted");
    page[start..end].to_string()
}

/// Files below `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// What every release of the app answers: the page and an asset it names, a file from
/// `public/`, and the optimised image, whose cache lands in the writable folder beside the
/// read-only tree (`<release>.writable/<.next folder>/cache`).
fn serves_the_app(server: &common::Server, env: &Env, release: &str, next_dir: &str) {
    let (status, got, page) = server.get("/");
    assert_eq!(status, 200, "{page}");
    assert_eq!(got.as_deref(), Some(release), "x-ferry-release");
    assert!(page.contains("Notes on ferry"), "{page}");
    let asset = static_asset(&page);
    let (status, got, _) = server.get(&asset);
    assert_eq!((status, got.as_deref()), (200, Some(release)), "{asset}");
    assert_eq!(server.get("/hello.txt").2, "hello from public/\n");

    let trees = env.home.join("run/trees");
    let link = trees.join(release).join(next_dir).join("cache");
    assert!(
        std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
        "{} is a link out of the read-only tree",
        link.display()
    );
    let images = trees
        .join(format!("{release}.writable"))
        .join(next_dir)
        .join("cache/images");
    assert_eq!(files_under(&images), 0, "nothing optimised yet");
    let (status, _, _) = server.get("/_next/image?url=%2Fferry.png&w=64&q=75");
    assert_eq!(status, 200, "the image optimiser answers");
    assert!(
        files_under(&images) > 0,
        "the optimised image is cached in {}",
        images.display()
    );
}

/// The notes: (status, body) of `GET /api/notes`.
fn notes(server: &common::Server) -> String {
    let (status, _, body) = server.get("/api/notes");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn the_nextjs_example_deploys_switches_and_runs_standalone() {
    need_node();
    let started = Instant::now();
    let env = Env::new();
    // This crate's own folder, not ferry_test::workspace_root(): the example is found from
    // the checkout this test was compiled in.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nextjs-app");
    copy_example(&example, &env.app);
    let own_cache = env.home.with_file_name("npm-cache");
    let npm_cache = std::env::var_os("npm_config_cache")
        .map(std::path::PathBuf::from)
        .unwrap_or(own_cache);
    let mut server = env.serve();
    server.host = format!("{APP}.localhost");

    // v1: detected as a Next.js server unit, run with `next start` on the port ferry assigns.
    let v1 = deploy(&env, &npm_cache, "v1");
    assert_eq!(start_command(&env, &v1), "npm run start");
    serves_the_app(&server, &env, &v1, ".next");
    // The route handler through the proxy: GET, POST, GET again; a bad body is the app's 400.
    assert!(notes(&server).contains("Deployed with ferry"));
    let (status, _, body) = server.request(
        "POST",
        "/api/notes",
        Some(("application/json", r#"{"text":"written through the edge"}"#)),
    );
    assert_eq!(status, 201, "{body}");
    assert!(notes(&server).contains("written through the edge"));
    let (status, _, _) = server.request("POST", "/api/notes", Some(("application/json", "{")));
    assert_eq!(status, 400);
    let (_, _, page) = server.get("/env");
    assert!(page.contains("(GREETING is not set)"), "{page}");

    // v2: a secret set for the app and a visible change; the page shows the secret, rendered
    // per request.
    let (code, _, err) = ferry(
        &env,
        &npm_cache,
        &["env", "set", "--app", APP, "GREETING=hello from ferry env"],
    );
    assert_eq!(code, 0, "{err}");
    let page_js = env.app.join("app/page.js");
    let text = std::fs::read_to_string(&page_js).expect("read");
    std::fs::write(
        &page_js,
        text.replace("Notes on ferry", "Notes on ferry, second edition"),
    )
    .expect("write");
    let v2 = deploy(&env, &npm_cache, "v2");
    assert_ne!(v1, v2);
    let (status, got, page) = server.get("/");
    assert_eq!((status, got.as_deref()), (200, Some(v2.as_str())));
    assert!(page.contains("Notes on ferry, second edition"), "{page}");
    let render = |page: &str| -> u64 {
        let at = page.find("data-testid=\"render\">").expect("render count") + 21;
        page[at..]
            .split('<')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    let (_, _, first) = server.get("/env");
    assert!(first.contains("hello from ferry env"), "{first}");
    let (_, _, second) = server.get("/env");
    assert!(
        render(&second) > render(&first),
        "rendered per request, not at build time"
    );
    assert!(
        !notes(&server).contains("written through the edge"),
        "v2 is a new process with its own notes"
    );
    let releases: Vec<String> = env.recorded().into_iter().map(|(r, _)| r).collect();
    assert!(
        releases.contains(&v1) && releases.contains(&v2),
        "v1 stays warm: {releases:?}"
    );

    // The warm v1 is the same process: a rollback finds its note and its environment.
    let (code, _, err) = ferry(&env, &npm_cache, &["rollback", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    let (_, got, body) = server.get("/api/notes");
    assert_eq!(got.as_deref(), Some(v1.as_str()));
    assert!(body.contains("written through the edge"), "{body}");
    assert!(server.get("/env").2.contains("(GREETING is not set)"));

    // v3: `output: "standalone"`; the build copies the assets beside `server.js`, which runs.
    let config = env.app.join("next.config.mjs");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(
            "poweredByHeader: false,",
            "poweredByHeader: false,\n  output: \"standalone\",",
        ),
    )
    .expect("write");
    let v3 = deploy(&env, &npm_cache, "v3 (standalone)");
    assert_eq!(
        start_command(&env, &v3),
        "HOSTNAME=0.0.0.0 node .next/standalone/server.js"
    );
    serves_the_app(&server, &env, &v3, ".next/standalone/.next");
    assert!(server.get("/env").2.contains("hello from ferry env"));
    let (status, _, body) = server.request(
        "POST",
        "/api/notes",
        Some(("application/json", r#"{"text":"standalone"}"#)),
    );
    assert_eq!(status, 201, "{body}");
    assert!(notes(&server).contains("standalone"));
    eprintln!("the whole test: {:.1?}", started.elapsed());
}

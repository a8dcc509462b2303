//! How the edge resolves (host, path): hand-built releases, no network.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_edge::{AppRoute, Edge, Resolved, Routing, resolve};
use ferry_release::{
    BlobHash, BlobStore, BuildInfo, FileEntry, ReleaseManifest, Routes, SourceRef,
};

fn entry(content: &str, link: Option<&str>) -> FileEntry {
    FileEntry {
        hash: BlobHash::of_bytes(content.as_bytes()),
        size: content.len() as u64,
        mode: 0o644,
        content_type: "text/plain; charset=utf-8".into(),
        link: link.map(str::to_string),
    }
}

fn release(id: &str, files: &[(&str, &str)], spa: bool) -> Arc<ReleaseManifest> {
    let files: BTreeMap<String, FileEntry> = files
        .iter()
        .map(|(p, c)| (p.to_string(), entry(c, None)))
        .collect();
    Arc::new(ReleaseManifest {
        schema: "ferry.release".into(),
        version: 1,
        id: id.into(),
        app: "shop".into(),
        created_at: 0,
        source: SourceRef {
            commit: None,
            path: None,
        },
        files,
        routes: Routes {
            spa,
            fallback: spa.then(|| "index.html".to_string()),
            headers: BTreeMap::new(),
            ..Default::default()
        },
        env: Vec::new(),
        build: BuildInfo {
            framework: None,
            unit: "web".into(),
            duration_ms: 0,
        },
        backend: None,
    })
}

fn routing(live: Arc<ReleaseManifest>, previous: Vec<Arc<ReleaseManifest>>) -> Routing {
    let mut r = Routing::default();
    r.apps.insert(
        "shop".into(),
        AppRoute {
            live,
            previous,
            variants: Default::default(),
            mounts: Vec::new(),
        },
    );
    r.default_app = Some("shop".into());
    r
}

fn served(r: &Resolved) -> (String, String, bool, bool) {
    match r {
        Resolved::File {
            release,
            path,
            skew,
            fallback,
            ..
        } => (release.id.clone(), path.clone(), *skew, *fallback),
        other => panic!("expected a file, got {other:?}"),
    }
}

#[test]
fn hosts_choose_the_app() {
    let mut r = routing(release("r1", &[("index.html", "a")], false), vec![]);
    r.apps.insert(
        "blog".into(),
        AppRoute {
            live: release("r9", &[("index.html", "b")], false),
            previous: vec![],
            variants: Default::default(),
            mounts: Vec::new(),
        },
    );
    assert_eq!(
        served(&resolve(&r, Some("blog.localhost:8080"), "/")).0,
        "r9"
    );
    assert_eq!(served(&resolve(&r, Some("BLOG.localhost"), "/")).0, "r9");
    assert_eq!(served(&resolve(&r, Some("blog"), "/")).0, "r9");
    assert_eq!(
        served(&resolve(&r, Some("127.0.0.1:8080"), "/")).0,
        "r1",
        "default app"
    );
    assert_eq!(served(&resolve(&r, None, "/")).0, "r1");
    r.default_app = None;
    assert_eq!(resolve(&r, Some("unknown.localhost"), "/"), Resolved::NoApp);
}

#[test]
fn folders_spa_routes_and_assets() {
    let live = release(
        "r2",
        &[
            ("index.html", "home"),
            ("docs/index.html", "docs"),
            ("assets/app-2.js", "js"),
            ("robots.txt", "r"),
        ],
        true,
    );
    let r = routing(live, vec![]);
    assert_eq!(served(&resolve(&r, None, "/")).1, "index.html");
    assert_eq!(served(&resolve(&r, None, "/docs")).1, "docs/index.html");
    assert_eq!(served(&resolve(&r, None, "/docs/")).1, "docs/index.html");
    assert_eq!(served(&resolve(&r, None, "/robots.txt")).1, "robots.txt");
    let route = served(&resolve(&r, None, "/dashboard/settings?tab=2"));
    assert_eq!(
        (route.1.as_str(), route.3),
        ("index.html", true),
        "client routes fall back"
    );
    assert_eq!(
        resolve(&r, None, "/assets/missing.js"),
        Resolved::NotFound("r2".into()),
        "assets never fall back"
    );
    assert_eq!(resolve(&r, None, "/../etc/passwd"), Resolved::BadRequest);
    let no_spa = routing(release("r3", &[("index.html", "x")], false), vec![]);
    assert_eq!(
        resolve(&no_spa, None, "/dashboard"),
        Resolved::NotFound("r3".into())
    );
}

#[test]
fn old_assets_stay_servable_after_a_switch() {
    let v1 = release(
        "r1",
        &[("index.html", "v1"), ("assets/app-1.js", "one")],
        true,
    );
    let v2 = release(
        "r2",
        &[("index.html", "v2"), ("assets/app-2.js", "two")],
        true,
    );
    let r = routing(v2, vec![v1]);
    let (id, path, skew, _) = served(&resolve(&r, None, "/assets/app-1.js"));
    assert_eq!(
        (id.as_str(), path.as_str(), skew),
        ("r1", "assets/app-1.js", true)
    );
    assert_eq!(
        served(&resolve(&r, None, "/")).0,
        "r2",
        "pages always come from the live release"
    );
    assert_eq!(
        resolve(&r, None, "/assets/app-0.js"),
        Resolved::NotFound("r2".into())
    );
}

#[test]
fn links_inside_a_release_are_followed() {
    let mut m = (*release(
        "r4",
        &[("index.html", "home"), ("assets/img/logo.svg", "svg")],
        false,
    ))
    .clone();
    m.files
        .insert("latest.html".into(), entry("", Some("index.html")));
    m.files
        .insert("images".into(), entry("", Some("assets/img")));
    let r = routing(Arc::new(m), vec![]);
    assert_eq!(served(&resolve(&r, None, "/latest.html")).1, "index.html");
    assert_eq!(
        served(&resolve(&r, None, "/images/logo.svg")).1,
        "assets/img/logo.svg"
    );
}

#[test]
fn a_snapshot_outlives_the_swap() {
    let dir = tempfile::tempdir().expect("tmp");
    let edge = Edge::new(
        BlobStore::open(dir.path()).expect("store"),
        dir.path().join("variants"),
    );
    edge.set_app(
        "shop",
        AppRoute {
            live: release("r1", &[("index.html", "v1")], false),
            previous: vec![],
            variants: Default::default(),
            mounts: Vec::new(),
        },
    );
    let before = edge.routing();
    edge.set_app(
        "shop",
        AppRoute {
            live: release("r2", &[("index.html", "v2")], false),
            previous: vec![],
            variants: Default::default(),
            mounts: Vec::new(),
        },
    );
    assert_eq!(
        served(&resolve(&before, None, "/")).0,
        "r1",
        "an in-flight request keeps its release"
    );
    assert_eq!(served(&resolve(&edge.routing(), None, "/")).0, "r2");
    assert_eq!(edge.live_release("shop").as_deref(), Some("r2"));
    edge.remove_app("shop");
    assert_eq!(edge.routing().default_app, None);
}

#[test]
fn server_unit_trees_under_ferry_are_never_files() {
    let live = release(
        "r1",
        &[
            ("index.html", "<h1>app</h1>"),
            ("_ferry/units/backend/server.py", "SECRET = 1"),
            ("_ferry/units/backend/.env", "KEY=x"),
        ],
        true,
    );
    let r = routing(live, Vec::new());
    for path in [
        "/_ferry/units/backend/server.py",
        "/%5Fferry/units/backend/server.py",
        "/_ferry/units/backend/.env",
        "/_ferry//units/backend/server.py",
        "/./_ferry/units/backend/server.py",
    ] {
        match resolve(&r, Some("shop.localhost"), path) {
            Resolved::NotFound(_) => {}
            other => panic!("{path} must not be served: {other:?}"),
        }
    }
    // Client routes still fall back to the page.
    let (_, path, _, fallback) = served(&resolve(&r, Some("shop.localhost"), "/settings"));
    assert_eq!((path.as_str(), fallback), ("index.html", true));
}

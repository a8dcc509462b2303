//! Manifests on disk, verification, retention and garbage collection, end to end.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use ferry_release::{
    BlobHash, BlobStore, BuildInfo, FileEntry, ReleaseManifest, ReleaseStore, Routes, SourceRef,
    gc, release_id, retention, scan_dir, store_files, verify_release,
};

const HOUR: Duration = Duration::from_secs(3600);

struct Home {
    _dir: tempfile::TempDir,
    blobs: BlobStore,
    releases: ReleaseStore,
}

fn home() -> Home {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = BlobStore::open(&dir.path().join("blobs")).expect("blobs");
    let releases = ReleaseStore::open(&dir.path().join("releases")).expect("releases");
    Home {
        _dir: dir,
        blobs,
        releases,
    }
}

/// Stores `files` (path → content) as blobs and returns the manifest describing them.
fn release(h: &Home, app: &str, created_at: u64, files: &[(&str, &[u8])]) -> ReleaseManifest {
    let mut entries = BTreeMap::new();
    for (path, content) in files {
        let put = h.blobs.put_bytes(content, None).expect("put");
        entries.insert(
            path.to_string(),
            FileEntry {
                hash: put.hash,
                size: put.size,
                mode: 0o644,
                content_type: ferry_release::content_type(path),
                link: None,
            },
        );
    }
    ReleaseManifest::new(
        app,
        created_at,
        SourceRef::default(),
        entries,
        Routes {
            spa: true,
            fallback: entries_fallback(files),
            headers: BTreeMap::new(),
            ..Default::default()
        },
        &[],
        BuildInfo {
            framework: None,
            unit: "web".into(),
            duration_ms: 0,
        },
    )
}

fn entries_fallback(files: &[(&str, &[u8])]) -> Option<String> {
    files
        .iter()
        .any(|(p, _)| *p == "index.html")
        .then(|| "index.html".to_string())
}

/// Backdates a file's modification time.
fn backdate(path: &Path, by: Duration) {
    let when = SystemTime::now() - by;
    fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
}

fn backdate_all(h: &Home, m: &ReleaseManifest) {
    backdate(&h.releases.root().join(format!("{}.json", m.id)), 2 * HOUR);
    for hash in m.blobs() {
        backdate(&h.blobs.path(&hash), 2 * HOUR);
    }
}

#[test]
fn save_load_round_trip_and_read_only() {
    let h = home();
    let m = release(
        &h,
        "shop",
        1_700_000_000_000,
        &[("index.html", b"<h1>1</h1>")],
    );
    assert!(!h.releases.exists(&m.id));
    h.releases.save(&m).expect("save");
    assert!(h.releases.exists(&m.id));
    assert_eq!(h.releases.load(&m.id).expect("load"), m);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = h.releases.root().join(format!("{}.json", m.id));
        let mode = fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
    }
    // Saving the identical manifest again is fine.
    h.releases.save(&m).expect("idempotent save");
}

#[test]
fn save_refuses_overwriting_with_different_content() {
    let h = home();
    let m = release(&h, "shop", 1, &[("index.html", b"<h1>1</h1>")]);
    h.releases.save(&m).expect("save");
    let mut later = m.clone();
    later.created_at = 2;
    later.source.commit = Some("feed".into());
    assert_eq!(later.id, m.id, "same content, same id");
    let err = h.releases.save(&later).expect_err("conflict");
    assert_eq!(err.code(), "release-conflict");
    assert_eq!(
        h.releases.load(&m.id).expect("load").created_at,
        1,
        "unchanged"
    );
}

#[test]
fn save_refuses_invalid_manifests() {
    let h = home();
    let good = release(&h, "shop", 1, &[("index.html", b"x")]);
    let with_path = |path: &str| {
        let mut m = good.clone();
        let e = m.files["index.html"].clone();
        m.files.insert(path.into(), e);
        m.id = release_id(&m.app, &m.files, &m.routes, &m.env);
        m
    };
    for bad in ["../x", "/abs", "a//b", "a/../../b", ""] {
        let err = h.releases.save(&with_path(bad)).expect_err(bad);
        assert_eq!(err.code(), "unsafe-path", "{bad}");
    }
    let mut wrong_id = good.clone();
    wrong_id.id = "r0123456789ab".into();
    assert_eq!(
        h.releases.save(&wrong_id).expect_err("id").code(),
        "invalid-manifest"
    );
    let mut wrong_schema = good.clone();
    wrong_schema.schema = "ferry.other".into();
    assert_eq!(
        h.releases.save(&wrong_schema).expect_err("schema").code(),
        "invalid-manifest"
    );
    let mut traversal_id = good.clone();
    traversal_id.id = "../../evil".into();
    assert_eq!(
        h.releases.save(&traversal_id).expect_err("id").code(),
        "invalid-manifest"
    );
    assert!(
        fs::read_dir(h.releases.root())
            .expect("dir")
            .next()
            .is_none(),
        "nothing written"
    );
}

#[test]
fn load_checks_the_id_before_the_disk_and_the_content_after() {
    let h = home();
    for bad in [
        "../../etc/passwd",
        "r0123",
        "R0123456789AB",
        "r0123456789ag",
        "",
    ] {
        let err = h.releases.load(bad).expect_err(bad);
        assert_eq!(err.code(), "invalid-release-id", "{bad}");
        assert!(!h.releases.exists(bad));
    }
    assert_eq!(
        h.releases.load("r0123456789ab").expect_err("absent").code(),
        "not-found"
    );

    // A file edited by hand: the id no longer matches the content.
    let m = release(&h, "shop", 1, &[("index.html", b"x")]);
    h.releases.save(&m).expect("save");
    let path = h.releases.root().join(format!("{}.json", m.id));
    let text = fs::read_to_string(&path).expect("read");
    make_writable(&path);
    fs::write(&path, text.replace("\"shop\"", "\"other\"")).expect("tamper");
    assert_eq!(
        h.releases.load(&m.id).expect_err("tampered").code(),
        "invalid-manifest"
    );
    fs::write(&path, b"{ not json").expect("garbage");
    assert_eq!(
        h.releases.load(&m.id).expect_err("garbage").code(),
        "invalid-manifest"
    );
    fs::write(&path, text.replacen('{', "{\"extra\": true,", 1)).expect("unknown field");
    assert_eq!(
        h.releases.load(&m.id).expect_err("unknown").code(),
        "invalid-manifest"
    );
}

#[cfg(unix)]
#[test]
fn a_planted_link_in_the_releases_folder_is_not_followed() {
    let h = home();
    let outside = tempfile::NamedTempFile::new().expect("outside");
    fs::write(outside.path(), b"{}").expect("write");
    std::os::unix::fs::symlink(outside.path(), h.releases.root().join("r0123456789ab.json"))
        .expect("link");
    let err = h.releases.load("r0123456789ab").expect_err("link");
    assert_eq!(err.code(), "invalid-manifest");
}

#[test]
fn list_is_newest_first_and_reports_problems() {
    let h = home();
    let old = release(&h, "shop", 10, &[("index.html", b"old")]);
    let new = release(&h, "shop", 30, &[("index.html", b"new")]);
    let other = release(&h, "blog", 20, &[("index.html", b"blog")]);
    for m in [&old, &new, &other] {
        h.releases.save(m).expect("save");
    }
    fs::write(h.releases.root().join("r0123456789ab.json"), b"garbage").expect("bad");
    fs::write(h.releases.root().join("notes.txt"), b"junk").expect("junk");
    fs::write(h.releases.root().join(".tmp-abc"), b"partial").expect("temp");

    let ids: Vec<String> = h
        .releases
        .list()
        .expect("list")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [new.id.clone(), other.id.clone(), old.id.clone()]);
    let listing = h.releases.list_checked().expect("list");
    assert_eq!(listing.problems.len(), 1);
    assert_eq!(listing.problems[0].id, "r0123456789ab");
    assert_eq!(listing.problems[0].error.code(), "invalid-manifest");

    h.releases.remove(&old.id).expect("remove");
    assert!(!h.releases.exists(&old.id));
    assert_eq!(
        h.releases.remove(&old.id).expect_err("gone").code(),
        "not-found"
    );
}

#[test]
fn verify_release_reports_missing_and_corrupt_blobs() {
    let h = home();
    let m = release(
        &h,
        "shop",
        1,
        &[
            ("index.html", b"<h1>ok</h1>"),
            ("a.js", b"will go missing"),
            ("b.css", b"will be corrupted"),
        ],
    );
    assert!(verify_release(&h.blobs, &m).expect("verify").is_empty());

    h.blobs.remove(&m.files["a.js"].hash).expect("remove");
    let corrupt = h.blobs.path(&m.files["b.css"].hash);
    make_writable(&corrupt);
    fs::write(&corrupt, b"will be CORRUPTED").expect("corrupt");

    let problems = verify_release(&h.blobs, &m).expect("verify");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("`a.js`") && problems[0].contains("missing"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("`b.css`") && problems[1].contains("corrupt"),
        "{problems:?}"
    );
}

#[test]
fn gc_keeps_what_kept_releases_need_and_removes_the_rest() {
    let h = home();
    let shared: &[u8] = b"shared vendor chunk";
    let kept = release(&h, "shop", 2, &[("index.html", b"kept"), ("v.js", shared)]);
    let dropped = release(
        &h,
        "shop",
        1,
        &[("index.html", b"dropped"), ("v.js", shared)],
    );
    h.releases.save(&kept).expect("save");
    h.releases.save(&dropped).expect("save");
    let old_orphan = h
        .blobs
        .put_bytes(b"orphan from a failed deploy", None)
        .expect("put")
        .hash;
    backdate_all(&h, &kept);
    backdate_all(&h, &dropped);
    backdate(&h.blobs.path(&old_orphan), 2 * HOUR);
    // Uploaded moments ago for a release still being assembled.
    let fresh = h
        .blobs
        .put_bytes(b"uploading right now", None)
        .expect("put")
        .hash;
    let stale_temp = h.blobs.root().join(".tmp-crashed");
    fs::write(&stale_temp, b"12345").expect("temp");
    backdate(&stale_temp, 2 * HOUR);

    let keep: BTreeSet<String> = [kept.id.clone()].into();
    let stats = gc(&h.blobs, &h.releases, &keep, HOUR).expect("gc");

    assert_eq!(stats.releases_removed, 1);
    assert_eq!(
        stats.blobs_removed, 2,
        "the dropped page and the old orphan"
    );
    let dropped_size = dropped.files["index.html"].size;
    let orphan_size = b"orphan from a failed deploy".len() as u64;
    assert_eq!(stats.bytes_freed, dropped_size + orphan_size + 5);

    assert!(h.releases.exists(&kept.id));
    assert!(!h.releases.exists(&dropped.id));
    assert!(verify_release(&h.blobs, &kept).expect("verify").is_empty());
    assert!(!h.blobs.has(&dropped.files["index.html"].hash));
    assert!(!h.blobs.has(&old_orphan));
    assert!(h.blobs.has(&fresh), "younger than the grace period");
    assert!(!stale_temp.exists());

    // Nothing more to do.
    let again = gc(&h.blobs, &h.releases, &keep, HOUR).expect("gc again");
    assert_eq!(again, ferry_release::GcStats::default());
}

#[test]
fn gc_with_zero_grace_removes_every_unkept_manifest_and_blob() {
    let h = home();
    let a = release(&h, "shop", 1, &[("index.html", b"a")]);
    let b = release(&h, "shop", 2, &[("index.html", b"b")]);
    h.releases.save(&a).expect("save");
    h.releases.save(&b).expect("save");
    let stats = gc(&h.blobs, &h.releases, &BTreeSet::new(), Duration::ZERO).expect("gc");
    assert_eq!(stats.releases_removed, 2);
    assert_eq!(stats.blobs_removed, 2);
    assert!(h.releases.list().expect("list").is_empty());
    assert!(h.blobs.list().expect("list").is_empty());
}

#[test]
fn gc_spares_a_manifest_saved_within_the_grace_period() {
    // `keep` was computed before this release was saved: it must survive, with its blobs.
    let h = home();
    let old = release(&h, "shop", 1, &[("index.html", b"old")]);
    h.releases.save(&old).expect("save");
    backdate_all(&h, &old);
    let just_saved = release(&h, "shop", 2, &[("index.html", b"just saved")]);
    h.releases.save(&just_saved).expect("save");
    for hash in just_saved.blobs() {
        backdate(&h.blobs.path(&hash), 2 * HOUR); // content deduplicated from long ago
    }
    let stats = gc(&h.blobs, &h.releases, &BTreeSet::new(), HOUR).expect("gc");
    assert_eq!(stats.releases_removed, 1);
    assert!(h.releases.exists(&just_saved.id));
    assert!(
        verify_release(&h.blobs, &just_saved)
            .expect("verify")
            .is_empty()
    );
}

#[test]
fn missing_refreshes_present_blobs_so_gc_spares_them() {
    // A client asks which blobs are missing; the present ones will not be uploaded again,
    // so GC must not remove them before the manifest arrives.
    let h = home();
    let orphan = h
        .blobs
        .put_bytes(b"left by an old release", None)
        .expect("put")
        .hash;
    backdate(&h.blobs.path(&orphan), 2 * HOUR);
    assert!(h.blobs.missing(std::slice::from_ref(&orphan)).is_empty());
    let stats = gc(&h.blobs, &h.releases, &BTreeSet::new(), HOUR).expect("gc");
    assert_eq!(stats.blobs_removed, 0);
    assert!(h.blobs.has(&orphan));
}

#[test]
fn gc_refuses_when_a_kept_manifest_is_unreadable() {
    let h = home();
    let m = release(&h, "shop", 1, &[("index.html", b"x")]);
    h.releases.save(&m).expect("save");
    let path = h.releases.root().join(format!("{}.json", m.id));
    make_writable(&path);
    fs::write(&path, b"damaged").expect("damage");
    backdate_all(&h, &m);
    let keep: BTreeSet<String> = [m.id.clone()].into();
    let err = gc(&h.blobs, &h.releases, &keep, Duration::ZERO).expect_err("refused");
    assert_eq!(err.code(), "invalid-manifest");
    assert!(h.blobs.has(&m.files["index.html"].hash), "nothing removed");
}

#[test]
fn retention_then_gc() {
    let h = home();
    let mut all = Vec::new();
    for i in 0..4u64 {
        let content = format!("shop v{i}");
        let m = release(&h, "shop", 100 + i, &[("index.html", content.as_bytes())]);
        h.releases.save(&m).expect("save");
        backdate_all(&h, &m);
        all.push(m);
    }
    let blog = release(&h, "blog", 1, &[("index.html", b"blog")]);
    h.releases.save(&blog).expect("save");
    backdate_all(&h, &blog);
    all.push(blog.clone());

    // The live release is the oldest (a rollback), pinned.
    let pinned: BTreeSet<String> = [all[0].id.clone()].into();
    let keep = retention(&h.releases.list().expect("list"), 2, &pinned);
    let expected: BTreeSet<String> = [&all[0], &all[2], &all[3], &blog]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(keep, expected);

    let stats = gc(&h.blobs, &h.releases, &keep, HOUR).expect("gc");
    assert_eq!(stats.releases_removed, 1);
    assert_eq!(stats.blobs_removed, 1);
    assert!(!h.releases.exists(&all[1].id));
    for id in &keep {
        let m = h.releases.load(id).expect("kept");
        assert!(verify_release(&h.blobs, &m).expect("verify").is_empty());
    }
}

#[cfg(unix)]
#[test]
fn scan_store_save_verify_end_to_end() {
    use std::os::unix::fs::symlink;
    let h = home();
    let art = tempfile::tempdir().expect("artifact");
    fs::create_dir_all(art.path().join("assets")).expect("mkdir");
    fs::write(art.path().join("index.html"), b"<div id=root>").expect("write");
    fs::write(art.path().join("assets/app.js"), b"render()").expect("write");
    symlink("index.html", art.path().join("404.html")).expect("link");

    let scanned = scan_dir(art.path()).expect("scan");
    store_files(&h.blobs, &scanned).expect("store");
    let files: BTreeMap<String, FileEntry> =
        scanned.into_iter().map(|(k, (_, e))| (k, e)).collect();
    let routes = Routes {
        spa: true,
        fallback: Some("index.html".into()),
        headers: BTreeMap::new(),
        ..Default::default()
    };
    let m = ReleaseManifest::new(
        "shop",
        1,
        SourceRef::default(),
        files,
        routes,
        &["VITE_URL".to_string()],
        BuildInfo::default(),
    );
    h.releases.save(&m).expect("save");
    let loaded = h.releases.load(&m.id).expect("load");
    assert_eq!(loaded.files["404.html"].link.as_deref(), Some("index.html"));
    assert!(
        verify_release(&h.blobs, &loaded)
            .expect("verify")
            .is_empty()
    );
    let hashes: Vec<BlobHash> = loaded.files.values().map(|f| f.hash.clone()).collect();
    assert!(
        h.blobs.missing(&hashes).is_empty(),
        "links need the (stored) empty blob"
    );

    // Scanning the same folder again gives the same id.
    let again = scan_dir(art.path()).expect("scan");
    let files: BTreeMap<String, FileEntry> = again.into_iter().map(|(k, (_, e))| (k, e)).collect();
    assert_eq!(release_id("shop", &files, &m.routes, &m.env), m.id);
}

fn make_writable(path: &Path) {
    let mut perms = fs::metadata(path).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).expect("chmod");
}

/// A built server tree round-trips through blobs into a runnable, read-only folder: contents,
/// the executable bit, links as relative links, idempotent, removable.
#[test]
fn materialize_rebuilds_a_runnable_read_only_tree() {
    use std::os::unix::fs::PermissionsExt;
    let h = home();
    let src = tempfile::tempdir().expect("src");
    let root = src.path();
    fs::create_dir_all(root.join("node_modules/tool/bin")).expect("mkdir");
    fs::create_dir_all(root.join("node_modules/.bin")).expect("mkdir");
    fs::create_dir_all(root.join("dist")).expect("mkdir");
    fs::write(root.join("dist/server.js"), "console.log('hi')\n").expect("write");
    fs::write(root.join("package.json"), "{}\n").expect("write");
    let tool = root.join("node_modules/tool/bin/tool.js");
    fs::write(&tool, "#!/bin/sh\necho tool\n").expect("write");
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("../tool/bin/tool.js", root.join("node_modules/.bin/tool"))
        .expect("link");
    let scanned = scan_dir(root).expect("scan");
    store_files(&h.blobs, &scanned).expect("store");
    let files: BTreeMap<String, FileEntry> = scanned
        .iter()
        .map(|(k, (_, e))| (k.clone(), e.clone()))
        .collect();
    let m = ReleaseManifest::new(
        "api",
        1,
        SourceRef::default(),
        files,
        Routes::default(),
        &[],
        BuildInfo {
            framework: None,
            unit: "web".into(),
            duration_ms: 0,
        },
    );
    let run = tempfile::tempdir().expect("run");
    let tree = ferry_release::materialize(&h.blobs, &m, run.path()).expect("materialize");
    assert_eq!(tree, run.path().join(&m.id));
    assert_eq!(
        fs::read_to_string(tree.join("dist/server.js")).expect("read"),
        "console.log('hi')\n"
    );
    let out = std::process::Command::new(tree.join("node_modules/.bin/tool"))
        .output()
        .expect("the link runs the executable");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool\n");
    assert!(
        fs::symlink_metadata(tree.join("node_modules/.bin/tool"))
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(
        mode(&tree.join("dist/server.js")) & 0o222,
        0,
        "files are read-only"
    );
    assert_eq!(mode(&tree.join("dist")) & 0o222, 0, "folders are read-only");
    // A second call reuses the tree.
    assert_eq!(
        ferry_release::materialize(&h.blobs, &m, run.path()).expect("again"),
        tree
    );
    // The blobs are untouched and still verify.
    assert!(verify_release(&h.blobs, &m).expect("verify").is_empty());
    ferry_release::remove_materialized(run.path(), &m.id).expect("remove");
    assert!(!tree.exists());
}

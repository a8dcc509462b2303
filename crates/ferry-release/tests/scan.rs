//! Scanning artifact folders and storing them.

use std::fs;
use std::path::Path;

use ferry_release::{BlobHash, BlobStore, scan_dir, store_files};

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

/// A small Vite-like build output.
fn artifact() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "index.html",
        b"<!doctype html><script src=/assets/index-abc.js></script>",
    );
    write(d, "assets/index-abc.js", b"console.log(1)");
    write(d, "assets/index-def.css", b"body{margin:0}");
    write(
        d,
        "assets/img/logo.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    );
    write(d, "assets/img/logo.png", b"\x89PNG\r\n\x1a\n");
    write(d, "data/blob.unknownext", b"\x00\x01");
    write(
        d,
        "copy-of-index.html",
        b"<!doctype html><script src=/assets/index-abc.js></script>",
    );
    write(d, "empty.txt", b"");
    dir
}

#[test]
fn scan_reports_every_file_with_hash_size_and_type() {
    let dir = artifact();
    let scanned = scan_dir(dir.path()).expect("scan");
    let keys: Vec<&str> = scanned.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "assets/img/logo.png",
            "assets/img/logo.svg",
            "assets/index-abc.js",
            "assets/index-def.css",
            "copy-of-index.html",
            "data/blob.unknownext",
            "empty.txt",
            "index.html",
        ]
    );
    let types = [
        ("index.html", "text/html; charset=utf-8"),
        ("assets/index-abc.js", "text/javascript; charset=utf-8"),
        ("assets/index-def.css", "text/css; charset=utf-8"),
        ("assets/img/logo.svg", "image/svg+xml; charset=utf-8"),
        ("assets/img/logo.png", "image/png"),
        ("data/blob.unknownext", "application/octet-stream"),
        ("empty.txt", "text/plain; charset=utf-8"),
    ];
    for (path, ty) in types {
        assert_eq!(scanned[path].1.content_type, ty, "{path}");
    }
    let (abs, js) = &scanned["assets/index-abc.js"];
    assert_eq!(js.hash, BlobHash::of_bytes(b"console.log(1)"));
    assert_eq!(js.size, 14);
    assert_eq!(js.mode, 0o644);
    assert_eq!(js.link, None);
    assert!(abs.is_absolute());
    assert_eq!(fs::read(abs).expect("abs path readable"), b"console.log(1)");
    assert_eq!(
        scanned["index.html"].1.hash,
        scanned["copy-of-index.html"].1.hash
    );
}

#[cfg(unix)]
#[test]
fn executables_get_0755() {
    use std::os::unix::fs::PermissionsExt;
    let dir = artifact();
    let p = dir.path().join("server.sh");
    fs::write(&p, b"#!/bin/sh\n").expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).expect("chmod");
    let scanned = scan_dir(dir.path()).expect("scan");
    assert_eq!(scanned["server.sh"].1.mode, 0o755);
}

#[cfg(unix)]
#[test]
fn inner_links_are_kept_as_links() {
    use std::os::unix::fs::symlink;
    let dir = artifact();
    let d = dir.path();
    symlink("index.html", d.join("200.html")).expect("link");
    symlink("../index-abc.js", d.join("assets/img/up.js")).expect("link");
    symlink("assets/img", d.join("images")).expect("folder link");
    symlink(d.join("assets/index-def.css"), d.join("abs.css")).expect("absolute inner link");

    let scanned = scan_dir(d).expect("scan");
    let link = |p: &str| scanned[p].1.link.clone();
    assert_eq!(link("200.html").as_deref(), Some("index.html"));
    assert_eq!(
        link("assets/img/up.js").as_deref(),
        Some("assets/index-abc.js")
    );
    assert_eq!(link("images").as_deref(), Some("assets/img"));
    assert_eq!(link("abs.css").as_deref(), Some("assets/index-def.css"));
    let entry = &scanned["200.html"].1;
    assert_eq!(entry.hash, BlobHash::empty());
    assert_eq!(entry.size, 0);
    assert_eq!(entry.mode, 0o777);
    assert_eq!(entry.content_type, "text/html; charset=utf-8");
    // The folder link was not walked into.
    assert!(!scanned.contains_key("images/logo.png"));
}

#[cfg(unix)]
#[test]
fn escaping_and_broken_links_are_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().expect("outside");
    fs::write(outside.path().join("secret"), b"s").expect("write");
    let climb = Path::new("../..")
        .join(outside.path().file_name().expect("name"))
        .join("secret");
    let cases: [(&str, &Path, &str); 6] = [
        ("up", &climb, "link-escapes"),
        ("up-dangling", Path::new("../../../nowhere"), "link-escapes"),
        ("abs", &outside.path().join("secret"), "link-escapes"),
        ("root", Path::new("/"), "link-escapes"),
        ("root-of-artifact", Path::new(".."), "link-escapes"),
        ("gone", Path::new("nothing-here"), "broken-link"),
    ];
    for (name, target, code) in cases {
        let dir = artifact();
        symlink(target, dir.path().join("assets").join(name)).expect("link");
        let err = scan_dir(dir.path()).expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn non_utf8_names_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = artifact();
    fs::write(dir.path().join(OsStr::from_bytes(b"bad\xff.js")), b"x").expect("write");
    let err = scan_dir(dir.path()).expect_err("non-utf8");
    assert_eq!(err.code(), "non-utf8-name");
}

#[cfg(unix)]
#[test]
fn backslash_names_and_special_files_are_refused() {
    let dir = artifact();
    fs::write(dir.path().join("a\\b.js"), b"x").expect("write");
    assert_eq!(
        scan_dir(dir.path()).expect_err("backslash").code(),
        "unsafe-path"
    );

    let dir = artifact();
    let sock = dir.path().join("assets/x.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
    assert_eq!(
        scan_dir(dir.path()).expect_err("socket").code(),
        "special-file"
    );
}

#[test]
fn missing_folder_is_not_found_and_empty_folder_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        scan_dir(&dir.path().join("nope"))
            .expect_err("missing")
            .code(),
        "not-found"
    );
    assert!(scan_dir(dir.path()).expect("empty").is_empty());
}

#[cfg(unix)]
#[test]
fn store_files_counts_new_and_deduplicated_bytes() {
    use std::os::unix::fs::symlink;
    let dir = artifact();
    symlink("index.html", dir.path().join("200.html")).expect("link");
    let home = tempfile::tempdir().expect("home");
    let store = BlobStore::open(&home.path().join("blobs")).expect("open");
    let scanned = scan_dir(dir.path()).expect("scan");
    let total: u64 = scanned.values().map(|(_, e)| e.size).sum();
    let dup = scanned["copy-of-index.html"].1.size;

    let first = store_files(&store, &scanned).expect("store");
    assert_eq!(first.files, 9);
    assert_eq!(first.bytes, total);
    // 9 entries: 7 distinct contents (the copy repeats index.html; the link and empty.txt
    // share the empty blob).
    assert_eq!(first.new_blobs, 7);
    assert_eq!(first.new_bytes, total - dup);
    assert_eq!(first.dedup_bytes, dup);
    assert_eq!(first.new_bytes + first.dedup_bytes, first.bytes);
    for (_, entry) in scanned.values() {
        assert!(
            store.has(&entry.hash),
            "every entry's blob is stored, links included"
        );
        assert!(store.verify(&entry.hash).expect("verify"));
    }

    let second = store_files(&store, &scanned).expect("store again");
    assert_eq!(second.new_blobs, 0);
    assert_eq!(second.new_bytes, 0);
    assert_eq!(second.dedup_bytes, total);
    assert_eq!(store.list().expect("list").len(), 7);
}

#[test]
fn store_files_refuses_a_file_changed_after_the_scan() {
    let dir = artifact();
    let home = tempfile::tempdir().expect("home");
    let store = BlobStore::open(home.path()).expect("open");
    let scanned = scan_dir(dir.path()).expect("scan");
    fs::write(dir.path().join("assets/index-abc.js"), b"changed meanwhile").expect("write");
    let err = store_files(&store, &scanned).expect_err("changed");
    assert_eq!(err.code(), "hash-mismatch");
}

//! Zip extraction under caps, through the library API.

use std::io::Write;

use ferry_source::{Limits, acquire};
use zip::write::SimpleFileOptions;

fn write_zip(path: &std::path::Path, entries: &[(&str, &[u8])], links: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in entries {
        zip.start_file(*name, options).expect("start");
        zip.write_all(body).expect("write");
    }
    for (name, target) in links {
        zip.add_symlink(*name, *target, options).expect("link");
    }
    zip.finish().expect("finish");
}

#[test]
fn an_oversized_file_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("app.zip");
    let big = vec![b'x'; 10_000];
    write_zip(
        &zip,
        &[("package.json", b"{}"), ("public/video.mp4", &big)],
        &[],
    );
    let limits = Limits {
        max_file_bytes: 1_000,
        ..Limits::default()
    };
    let source = acquire(zip.to_str().expect("utf-8"), &limits, &mut |_| {}).expect("acquired");
    assert!(source.root.join("package.json").exists());
    assert!(!source.root.join("public/video.mp4").exists());
    assert_eq!(source.warnings.len(), 1);
    assert!(
        source.warnings[0].contains("public/video.mp4"),
        "{:?}",
        source.warnings
    );
}

#[test]
fn too_many_entries_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("many.zip");
    let names: Vec<String> = (0..20).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    write_zip(&zip, &entries, &[]);
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let err = acquire(zip.to_str().expect("utf-8"), &limits, &mut |_| {}).expect_err("too many");
    assert_eq!(err.code(), "too-large");
}

#[test]
fn a_single_top_folder_becomes_the_root_and_inner_links_survive() {
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("my-app-main.zip");
    write_zip(
        &zip,
        &[
            ("my-app-main/package.json", b"{\"name\":\"x\"}"),
            ("my-app-main/src/a.ts", b"1"),
        ],
        &[("my-app-main/src/b.ts", "a.ts")],
    );
    let source = acquire(
        zip.to_str().expect("utf-8"),
        &Limits::default(),
        &mut |_| {},
    )
    .expect("acquired");
    assert_eq!(source.name, "my-app-main");
    assert!(source.root.ends_with("my-app-main"));
    let link = std::fs::read_link(source.root.join("src/b.ts")).expect("a link");
    assert_eq!(link.to_str(), Some("a.ts"));
    let temp = source.root.clone();
    drop(source);
    assert!(!temp.exists(), "temporary folder removed on drop");
}

#[test]
fn duplicate_entries_yield_one_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("dup.zip");
    write_zip(&zip, &[("a.txt", b"1"), ("b.txt", b"2")], &[]);
    // The zip writer refuses duplicates, so rename `b.txt` to `a.txt` in the bytes.
    let bytes = std::fs::read(&zip).expect("read");
    let mut patched = bytes.clone();
    for i in 0..bytes.len() - 5 {
        if &bytes[i..i + 5] == b"b.txt" {
            patched[i] = b'a';
        }
    }
    std::fs::write(&zip, patched).expect("write");
    // The zip reader indexes entries by name, so a duplicate never reaches the disk twice:
    // extraction yields exactly one `a.txt`.
    let source = acquire(
        zip.to_str().expect("utf-8"),
        &Limits::default(),
        &mut |_| {},
    )
    .expect("acquired");
    let names: Vec<_> = std::fs::read_dir(&source.root)
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["a.txt"]);
}

#[test]
fn a_link_cannot_redirect_a_later_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("redirect.zip");
    // `sub` is a link to an inner folder (allowed); a file under `sub/` must not be written
    // through it, because links are created only after every file.
    write_zip(
        &zip,
        &[("real/x.txt", b"1"), ("sub/y.txt", b"2")],
        &[("sub", "real")],
    );
    let result = acquire(
        zip.to_str().expect("utf-8"),
        &Limits::default(),
        &mut |_| {},
    );
    let err = result.expect_err("a link over an existing folder is refused");
    assert_eq!(err.code(), "zip-invalid", "{err}");
}

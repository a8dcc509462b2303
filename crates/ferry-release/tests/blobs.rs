//! The blob store through its public API: round trips, deduplication, refusals, corruption.

use std::fs;
use std::path::Path;

use ferry_release::{BlobHash, BlobStore};

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::open(&dir.path().join("home/blobs")).expect("open creates the root");
    (dir, store)
}

fn make_writable(path: &Path) {
    let mut perms = fs::metadata(path).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).expect("chmod");
}

/// Every file under `dir`, recursively (to check that nothing is left behind).
fn all_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).expect("inside").display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bytes_round_trip_and_deduplicate() {
    let (_dir, store) = store();
    let first = store.put_bytes(b"<h1>hello</h1>", None).expect("put");
    assert!(first.new);
    assert_eq!(first.size, 14);
    assert_eq!(first.hash, BlobHash::of_bytes(b"<h1>hello</h1>"));
    assert!(store.has(&first.hash));
    assert_eq!(store.size(&first.hash), Some(14));
    assert_eq!(store.read(&first.hash).expect("read"), b"<h1>hello</h1>");
    assert!(store.verify(&first.hash).expect("verify"));

    let second = store
        .put_bytes(b"<h1>hello</h1>", Some(&first.hash))
        .expect("put again");
    assert!(!second.new, "the same content is stored once");
    assert_eq!(second.hash, first.hash);
    assert_eq!(store.list().expect("list"), vec![first.hash.clone()]);
}

#[test]
fn files_round_trip_small_and_large() {
    let (dir, store) = store();
    let small = dir.path().join("small.txt");
    fs::write(&small, b"tiny").expect("write");
    // Larger than the 64 KiB buffer, so it is streamed through a temporary file.
    let big_content: Vec<u8> = (0..200_003u32).map(|i| (i * 7 % 256) as u8).collect();
    let big = dir.path().join("big.bin");
    fs::write(&big, &big_content).expect("write");

    for (path, content) in [(&small, b"tiny".to_vec()), (&big, big_content.clone())] {
        let put = store.put_file(path).expect("put_file");
        assert!(put.new);
        assert_eq!(put.size, content.len() as u64);
        assert_eq!(
            (put.hash.clone(), put.size),
            BlobHash::of_file(path).expect("hash")
        );
        assert_eq!(store.read(&put.hash).expect("read"), content);
        let again = store.put_file(path).expect("put_file again");
        assert!(!again.new);
        assert_eq!(again.hash, put.hash);
        // The same content through the other entry point is deduplicated too.
        assert!(!store.put_bytes(&content, None).expect("put_bytes").new);
    }
    assert_eq!(store.list().expect("list").len(), 2);
    // No temporary file survives.
    assert_eq!(
        all_files(store.root()).len(),
        2,
        "{:?}",
        all_files(store.root())
    );
}

#[cfg(unix)]
#[test]
fn blobs_are_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, store) = store();
    let put = store.put_bytes(b"x", None).expect("put");
    let mode = fs::metadata(store.path(&put.hash))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);
}

#[test]
fn put_bytes_refuses_a_hash_mismatch_and_leaves_nothing() {
    let (_dir, store) = store();
    let claimed = BlobHash::of_bytes(b"what the client promised");
    let err = store
        .put_bytes(b"what actually arrived", Some(&claimed))
        .expect_err("mismatch");
    assert_eq!(err.code(), "hash-mismatch");
    assert!(!store.has(&claimed));
    assert!(!store.has(&BlobHash::of_bytes(b"what actually arrived")));
    assert!(
        all_files(store.root()).is_empty(),
        "{:?}",
        all_files(store.root())
    );
}

#[test]
fn corruption_is_detected_by_read_and_verify() {
    let (_dir, store) = store();
    let put = store.put_bytes(b"original content", None).expect("put");
    let path = store.path(&put.hash);
    make_writable(&path);
    fs::write(&path, b"garbage content!").expect("corrupt it (same size)");

    let err = store.read(&put.hash).expect_err("corrupt");
    assert_eq!(err.code(), "corrupt-blob");
    assert!(!store.verify(&put.hash).expect("verify runs"));
    // Same size, so a put cannot tell; `verify` is the tool for that.
    assert!(store.has(&put.hash));
}

#[test]
fn missing_blobs_are_errors_or_absent() {
    let (_dir, store) = store();
    let absent = BlobHash::of_bytes(b"never stored");
    assert!(!store.has(&absent));
    assert_eq!(store.size(&absent), None);
    assert_eq!(
        store.read(&absent).expect_err("missing").code(),
        "missing-blob"
    );
    assert_eq!(
        store.verify(&absent).expect_err("missing").code(),
        "missing-blob"
    );
    assert_eq!(
        store.remove(&absent).expect_err("missing").code(),
        "missing-blob"
    );
}

#[test]
fn missing_deduplicates_in_input_order() {
    let (_dir, store) = store();
    let a = BlobHash::of_bytes(b"a");
    let b = store.put_bytes(b"b", None).expect("put").hash;
    let c = BlobHash::of_bytes(b"c");
    let asked = [c.clone(), b.clone(), a.clone(), c.clone(), a.clone()];
    assert_eq!(store.missing(&asked), vec![c, a]);
    assert!(store.missing(&[b]).is_empty());
    assert!(store.missing(&[]).is_empty());
}

#[test]
fn list_ignores_junk_and_remove_frees_bytes() {
    let (_dir, store) = store();
    let a = store.put_bytes(b"aaaa", None).expect("put").hash;
    let b = store.put_bytes(b"bbbbbbbb", None).expect("put").hash;
    let root = store.root();
    fs::write(root.join(".tmp-leftover"), b"x").expect("junk");
    fs::write(root.join("README"), b"x").expect("junk");
    fs::create_dir_all(root.join("zz")).expect("junk shard");
    fs::write(root.join("zz").join("x".repeat(62)), b"x").expect("junk blob");
    let shard = store.path(&a).parent().expect("shard").to_path_buf();
    fs::write(shard.join("short"), b"x").expect("junk in shard");
    fs::write(shard.join("A".repeat(62)), b"x").expect("uppercase junk");

    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(store.list().expect("list"), expected);

    assert_eq!(store.remove(&b).expect("remove"), 8);
    assert!(!store.has(&b));
    assert_eq!(store.list().expect("list"), vec![a]);
}

#[test]
fn hashes_from_the_network_cannot_traverse() {
    let (_dir, store) = store();
    for hostile in ["../../../etc/passwd", "..", "/etc/passwd", "aa/../../x"] {
        assert_eq!(
            BlobHash::parse(hostile).expect_err(hostile).code(),
            "invalid-hash"
        );
    }
    let h = BlobHash::parse(&"ab".repeat(32)).expect("valid");
    assert!(store.path(&h).starts_with(store.root()));
}

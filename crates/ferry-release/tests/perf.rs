//! Timing of `scan_dir` + `store_files` on a generated 5,000-file artifact folder.
//!
//! `cargo test --release -p ferry-release --test perf -- --ignored --nocapture`

use std::fs;
use std::time::Instant;

use ferry_release::{BlobStore, scan_dir, store_files};

const FILES: usize = 5_000;

#[test]
#[ignore = "timing; run in release mode with --ignored --nocapture"]
fn scan_and_store_5000_files() {
    let art = tempfile::tempdir().expect("artifact");
    for i in 0..FILES {
        let dir = art.path().join(format!("assets/d{:02}", i % 50));
        fs::create_dir_all(&dir).expect("mkdir");
        // 200 B to ~4 KiB, distinct contents except every 10th file (a duplicate).
        let seed = if i % 10 == 0 { 0 } else { i };
        let size = 200 + (i * 37) % 4000;
        let body: Vec<u8> = format!("/* chunk {seed} */ ")
            .bytes()
            .cycle()
            .take(size)
            .collect();
        fs::write(dir.join(format!("chunk-{i}.js")), body).expect("write");
    }

    scan_dir(art.path()).expect("warm-up scan");
    let t = Instant::now();
    let scanned = scan_dir(art.path()).expect("scan");
    let scan = t.elapsed();
    assert_eq!(scanned.len(), FILES);

    let home = tempfile::tempdir().expect("home");
    let store = BlobStore::open(&home.path().join("blobs")).expect("open");
    let t = Instant::now();
    let first = store_files(&store, &scanned).expect("store");
    let store_new = t.elapsed();
    let t = Instant::now();
    let second = store_files(&store, &scanned).expect("store again");
    let store_dedup = t.elapsed();
    assert_eq!(second.new_blobs, 0);

    println!(
        "scan_dir (warm): {scan:?} for {FILES} files, {} bytes",
        first.bytes
    );
    println!(
        "store_files, empty store: {store_new:?} ({} new blobs, {} new bytes, {} dedup bytes)",
        first.new_blobs, first.new_bytes, first.dedup_bytes
    );
    println!("store_files, all present: {store_dedup:?}");
}

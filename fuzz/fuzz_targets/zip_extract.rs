//! Extracting arbitrary bytes as a zip never panics, cleans up after itself, and never writes
//! outside its temporary folder: TMPDIR is pointed at a deep folder inside a sandbox, and
//! after each run the sandbox must hold nothing but that (empty) folder and the input.
#![no_main]
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn sandbox() -> &'static (PathBuf, PathBuf) {
    static SANDBOX: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("ferry-fuzz-{}", std::process::id()));
        let tmp = root.join("a/b/c/d/e/f/tmp");
        std::fs::create_dir_all(&tmp).expect("sandbox");
        // SAFETY: set once, before any other thread of this process reads the environment.
        unsafe { std::env::set_var("TMPDIR", &tmp) };
        (root, tmp)
    })
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read").flatten() {
        let path = entry.path();
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            files_below(&path, out);
        } else {
            out.push(path);
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (root, tmp) = sandbox();
    let archive = root.join("input.zip");
    std::fs::write(&archive, data).expect("write input");
    let limits = ferry_source::Limits {
        max_entries: 64,
        max_total_bytes: 1 << 20,
        max_file_bytes: 1 << 18,
        ..Default::default()
    };
    let spec = archive.to_str().expect("utf-8 temp path");
    let _ = ferry_source::acquire(spec, &limits, &mut |_| {});
    let mut left = Vec::new();
    files_below(root, &mut left);
    assert_eq!(left, [archive.clone()], "files outside the extraction");
    assert_eq!(std::fs::read_dir(tmp).expect("tmp").count(), 0, "temp folder not removed");
});

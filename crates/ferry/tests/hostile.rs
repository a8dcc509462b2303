//! Hostile inputs through the real binary: each gives a one-line error and a hint on stderr,
//! exit code 2, no panic, and nothing written outside the run's own temporary folder (which
//! is empty again afterwards).

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_test::hostile;

/// A sandbox for one run: its own TMPDIR, HOME and working folder.
struct Sandbox {
    _dir: tempfile::TempDir,
    tmp: PathBuf,
    home: PathBuf,
    work: PathBuf,
    inputs: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let [tmp, home, work, inputs] = ["tmp", "home", "work", "inputs"].map(|n| {
            let p = dir.path().join(n);
            std::fs::create_dir_all(&p).expect("mkdir");
            p
        });
        Sandbox {
            _dir: dir,
            tmp,
            home,
            work,
            inputs,
        }
    }

    fn ferry(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(&self.work)
            .env("TMPDIR", &self.tmp)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_LOG")
            .output()
            .expect("ferry runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Everything below `dir`, relative.
    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let p = e.path();
                out.push(p.strip_prefix(dir).expect("prefix").display().to_string());
                if e.file_type().expect("type").is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The contract for bad input.
fn assert_bad_input(sb: &Sandbox, run: &Run, needle: &str) {
    assert_eq!(run.code, Some(2), "exit code; stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "two lines on stderr, got:\n{}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[1].starts_with("hint: "), "{}", lines[1]);
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    assert_eq!(
        Sandbox::listing(&sb.tmp),
        Vec::<String>::new(),
        "TMPDIR left behind"
    );
    assert_eq!(
        Sandbox::listing(&sb.work),
        Vec::<String>::new(),
        "files written in the working folder"
    );
    assert_eq!(
        Sandbox::listing(&sb.home),
        Vec::<String>::new(),
        "files written in HOME"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

#[test]
fn zip_slip_is_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("slip.zip");
    hostile::zip_slip(&zip);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "unsafe path");
    assert!(
        !sb.tmp
            .parent()
            .expect("parent")
            .join("evil-zip-slip.txt")
            .exists()
    );
}

#[test]
fn absolute_paths_are_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("abs.zip");
    let target = sb.inputs.join("evil-absolute.txt");
    hostile::absolute_path(&zip, &target);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "unsafe path");
    assert!(!target.exists());
}

#[test]
fn symlink_escape_is_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("link.zip");
    hostile::symlink_escape(&zip);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "symbolic link");
    assert!(!Path::new("/tmp/evil-through-link.txt").exists());
}

#[test]
fn zip_bomb_is_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("bomb.zip");
    hostile::zip_bomb(&zip, 64);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "zip bomb");
}

#[test]
fn encrypted_entries_are_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("locked.zip");
    hostile::encrypted(&zip);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "encrypted");
}

#[test]
fn non_utf8_names_in_zips_are_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("latin1.zip");
    hostile::non_utf8_name(&zip);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "not valid UTF-8");
}

#[cfg(unix)]
#[test]
fn non_utf8_names_in_folders_are_refused() {
    let sb = Sandbox::new();
    let dir = sb.inputs.join("latin1");
    hostile::non_utf8_folder(&dir);
    let run = sb.ferry(&["inspect", path(&dir)]);
    assert_bad_input(&sb, &run, "not valid UTF-8");
}

#[test]
fn a_truncated_zip_is_refused() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("half.zip");
    hostile::truncated_zip(&zip);
    let run = sb.ferry(&["inspect", path(&zip)]);
    assert_bad_input(&sb, &run, "not a readable zip");
}

#[test]
fn malformed_manifests_are_refused_naming_the_file() {
    let cases = [
        (
            "package.json",
            "{\"name\": \"x\",, }",
            "`package.json` is not valid JSON",
        ),
        (
            ".replit",
            "run = \"npm run dev\nmodules = [",
            "`.replit` is not valid TOML",
        ),
        (
            "ferry.toml",
            "version = 1\n[[unit]\n",
            "`ferry.toml` is not valid TOML",
        ),
        ("ferry.toml", "version = 7\n", "`ferry.toml` is invalid"),
        (
            "base44/config.jsonc",
            "{ // name\n \"name\": \"x\" \"site\": {} }",
            "`base44/config.jsonc` is not valid JSONC",
        ),
        (
            "backend/pyproject.toml",
            "[project\nname = 'x'",
            "`backend/pyproject.toml` is not valid TOML",
        ),
        (
            "pnpm-workspace.yaml",
            "packages:\n  apps/*\n",
            "`pnpm-workspace.yaml` is not valid YAML",
        ),
    ];
    for (file, body, needle) in cases {
        let sb = Sandbox::new();
        let dir = sb.inputs.join("app");
        hostile::app_with(&dir, file, body);
        let run = sb.ferry(&["inspect", path(&dir)]);
        assert_bad_input(&sb, &run, needle);
    }
}

#[test]
fn an_empty_folder_is_refused() {
    let sb = Sandbox::new();
    let dir = sb.inputs.join("empty");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let run = sb.ferry(&["inspect", path(&dir)]);
    assert_bad_input(&sb, &run, "holds no files");
}

#[test]
fn a_missing_git_repository_is_refused() {
    let sb = Sandbox::new();
    let url = format!("file://{}/no-such-repo.git", sb.inputs.display());
    let run = sb.ferry(&["inspect", &url]);
    assert_bad_input(&sb, &run, "could not clone");
}

#[test]
fn a_missing_path_is_refused() {
    let sb = Sandbox::new();
    let run = sb.ferry(&["inspect", "/definitely/not/here"]);
    assert_bad_input(&sb, &run, "does not exist");
}

#[test]
fn json_errors_carry_code_and_hint_on_stdout() {
    let sb = Sandbox::new();
    let zip = sb.inputs.join("slip.zip");
    hostile::zip_slip(&zip);
    let run = sb.ferry(&["inspect", "--json", path(&zip)]);
    assert_eq!(run.code, Some(2));
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json on stdout");
    assert_eq!(doc["error"]["code"], "zip-unsafe-path");
    assert!(doc["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()));
}

#[test]
fn credentials_in_a_git_url_are_never_printed() {
    let sb = Sandbox::new();
    // Port 1 on loopback refuses at once: no network needed.
    let url = "https://owner:ghp_SECRET123@127.0.0.1:1/app.git";
    let run = sb.ferry(&["inspect", "--json", url]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(!run.stderr.contains("SECRET123"), "{}", run.stderr);
    assert!(!run.stdout.contains("SECRET123"), "{}", run.stdout);
    assert!(
        run.stderr.contains("https://***@127.0.0.1:1/app.git"),
        "{}",
        run.stderr
    );
}

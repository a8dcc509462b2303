//! The fixture corpus under `tests/fixtures/apps/`, materialised into temp folders.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tempfile::TempDir;

use crate::expected::Expected;

/// Files of ours inside a fixture folder; the app never sees them.
pub const META_FILES: &[&str] = &["expected.toml", "history.toml"];

/// Folder holding the fixture apps.
pub fn apps_dir() -> PathBuf {
    crate::workspace_root().join("tests/fixtures/apps")
}

/// One fixture app.
#[derive(Debug)]
pub struct Fixture {
    /// Folder name, e.g. `lovable-classic`.
    pub name: String,
    /// Its folder in the repository.
    pub dir: PathBuf,
    /// The expected facts.
    pub expected: Expected,
    /// The history to build, if any.
    pub history: Option<HistorySpec>,
}

/// `history.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySpec {
    /// Commits, oldest first.
    #[serde(rename = "commit")]
    pub commits: Vec<CommitSpec>,
}

/// One `[[commit]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSpec {
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Commit message.
    pub message: String,
    /// Paths this commit adds; none: everything not yet committed.
    pub files: Option<Vec<String>>,
    /// Files written (path → content) just before this commit: content that only the history
    /// holds when a later commit removes or rewrites it.
    #[serde(default)]
    pub write: std::collections::BTreeMap<String, String>,
    /// Files deleted in this commit.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Every fixture, sorted by name. Panics on an unreadable `expected.toml` (a test bug).
pub fn all() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(apps_dir())
        .expect("tests/fixtures/apps exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        let expected_text = fs::read_to_string(dir.join("expected.toml"))
            .unwrap_or_else(|e| panic!("{name}: expected.toml: {e}"));
        let expected: Expected =
            toml::from_str(&expected_text).unwrap_or_else(|e| panic!("{name}: expected.toml: {e}"));
        let history = fs::read_to_string(dir.join("history.toml")).ok().map(|t| {
            toml::from_str::<HistorySpec>(&t)
                .unwrap_or_else(|e| panic!("{name}: history.toml: {e}"))
        });
        out.push(Fixture {
            name,
            dir,
            expected,
            history,
        });
    }
    out
}

/// A fixture copied into a temp folder named like the fixture (and made a git repository
/// when it has a history).
pub struct Materialized {
    /// Keeps the folder alive.
    pub temp: TempDir,
    /// The app's root: `<temp>/<fixture name>`.
    pub root: PathBuf,
}

impl Fixture {
    /// Copies the app (without our meta files) and builds its history.
    pub fn materialize(&self) -> Materialized {
        let temp = tempfile::tempdir().expect("tempdir");
        let root = temp.path().join(&self.name);
        copy_tree(&self.dir, &root, true);
        if let Some(history) = &self.history {
            build_history(&root, history);
        }
        Materialized { temp, root }
    }
}

fn copy_tree(from: &Path, to: &Path, top: bool) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if top && META_FILES.iter().any(|m| name == *m) {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name), false);
        } else {
            fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

fn build_history(root: &Path, spec: &HistorySpec) {
    crate::git::run(root, &["init", "-q", "-b", "main"]);
    let last = spec.commits.len().saturating_sub(1);
    // Files that `write` overrides must get their final content back at the end.
    let finals: Vec<(String, Option<Vec<u8>>)> = spec
        .commits
        .iter()
        .flat_map(|c| c.write.keys())
        .map(|p| (p.clone(), fs::read(root.join(p)).ok()))
        .collect();
    for (i, commit) in spec.commits.iter().enumerate() {
        for (path, content) in &commit.write {
            let target = root.join(path);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).expect("mkdir");
            }
            fs::write(&target, content).expect("write history content");
            crate::git::run(root, &["add", "--", path]);
        }
        for path in &commit.remove {
            crate::git::run(root, &["rm", "-q", "--", path]);
        }
        if i == last {
            for (path, content) in &finals {
                match content {
                    Some(bytes) => fs::write(root.join(path), bytes).expect("restore"),
                    None if commit.write.contains_key(path) => {}
                    None => {
                        let _ = fs::remove_file(root.join(path));
                    }
                }
            }
        }
        match &commit.files {
            Some(files) => {
                for file in files {
                    crate::git::run(root, &["add", "--", file]);
                }
            }
            None => crate::git::run(root, &["add", "-A"]),
        }
        if i == last {
            crate::git::run(root, &["add", "-A"]);
        }
        crate::git::commit(root, &commit.author, &commit.email, &commit.message);
    }
}

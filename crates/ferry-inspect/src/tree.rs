//! A bounded, read-only index of a source tree. Detectors ask it questions; they never touch
//! the file system themselves.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::error::InspectError;

/// Folders that hold installed or generated files, never the app's source.
pub const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".nuxt",
    ".svelte-kit",
    ".turbo",
    ".cache",
    ".pnpm-store",
    "target",
];

/// Most entries a walk accepts.
pub const MAX_ENTRIES: usize = 200_000;
/// Deepest folder nesting a walk accepts.
pub const MAX_DEPTH: usize = 64;
/// Most bytes a detector reads of one file.
pub const MAX_READ: u64 = 2 * 1024 * 1024;

/// A symbolic link found in the tree (never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Path of the link, relative to the root, `/`-separated.
    pub path: String,
    /// What the link points to, as written.
    pub target: String,
    /// Whether the target lies outside the root.
    pub escapes: bool,
}

/// The index of one source tree.
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    links: Vec<Link>,
}

impl Tree {
    /// Walks `root`, indexing every file outside [`SKIPPED_DIRS`].
    pub fn walk(root: &Path) -> Result<Self, InspectError> {
        let mut tree = Tree {
            root: root.to_path_buf(),
            files: BTreeSet::new(),
            dirs: BTreeSet::new(),
            links: Vec::new(),
        };
        let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
        let mut entries = 0usize;
        while let Some((dir, rel_dir, depth)) = stack.pop() {
            let read = std::fs::read_dir(&dir).map_err(|source| InspectError::Io {
                path: dir.clone(),
                source,
            })?;
            for entry in read {
                let entry = entry.map_err(|source| InspectError::Io {
                    path: dir.clone(),
                    source,
                })?;
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(InspectError::TooLarge {
                        reason: format!("more than {MAX_ENTRIES} files and folders"),
                    });
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    let lossy = name.to_string_lossy();
                    return Err(InspectError::NonUtf8Name {
                        path: join(&rel_dir, &lossy),
                    });
                };
                let rel = join(&rel_dir, name);
                let kind = entry.file_type().map_err(|source| InspectError::Io {
                    path: entry.path(),
                    source,
                })?;
                if kind.is_symlink() {
                    let target = std::fs::read_link(entry.path())
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let escapes = link_escapes(&rel, &target);
                    tree.links.push(Link {
                        path: rel,
                        target,
                        escapes,
                    });
                } else if kind.is_dir() {
                    let next_cache = name == "cache" && rel_dir.rsplit('/').next() == Some(".next");
                    if SKIPPED_DIRS.contains(&name) || next_cache {
                        continue;
                    }
                    if depth + 1 > MAX_DEPTH {
                        return Err(InspectError::TooLarge {
                            reason: format!("folders nested deeper than {MAX_DEPTH} levels"),
                        });
                    }
                    tree.dirs.insert(rel.clone());
                    stack.push((entry.path(), rel, depth + 1));
                } else if kind.is_file() {
                    tree.files.insert(rel);
                }
            }
        }
        if tree.files.is_empty() {
            return Err(InspectError::EmptySource {
                root: root.to_path_buf(),
            });
        }
        tree.links.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(tree)
    }

    /// The folder that was walked.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of indexed files.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Whether `rel` is an indexed file.
    pub fn has_file(&self, rel: &str) -> bool {
        self.files.contains(rel)
    }

    /// Whether `rel` is an indexed folder (`""` is the root).
    pub fn has_dir(&self, rel: &str) -> bool {
        rel.is_empty() || rel == "." || self.dirs.contains(rel)
    }

    /// All indexed files, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(String::as_str)
    }

    /// Indexed files below folder `dir` (recursively), sorted. `""` or `"."` means all.
    pub fn files_under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = dir_prefix(dir);
        self.files
            .range(prefix.clone()..)
            .take_while(move |p| p.starts_with(&prefix))
            .map(String::as_str)
    }

    /// Names of the files directly inside `dir`.
    pub fn child_files<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = dir_prefix(dir);
        let len = prefix.len();
        self.files_under(dir)
            .map(move |p| &p[len..])
            .filter(|rest| !rest.contains('/'))
    }

    /// Names of the folders directly inside `dir`, sorted.
    pub fn child_dirs<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = dir_prefix(dir);
        let len = prefix.len();
        self.dirs
            .range(prefix.clone()..)
            .take_while(move |p| p.starts_with(&prefix))
            .map(move |p| &p[len..])
            .filter(|rest| !rest.contains('/'))
    }

    /// Symbolic links found in the tree.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Reads an indexed file as text (lossy UTF-8), at most [`MAX_READ`] bytes.
    /// Returns `None` when the file is not indexed or cannot be read.
    pub fn read(&self, rel: &str) -> Option<String> {
        use std::io::Read;
        if !self.files.contains(rel) {
            return None;
        }
        let file = std::fs::File::open(self.root.join(rel)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
        Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Reads an indexed file's bytes, at most [`MAX_READ`]. `None` for unknown or unreadable
    /// files and for files larger than the cap (they are not scanned at all).
    pub fn read_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        use std::io::Read;
        if !self.files.contains(rel) {
            return None;
        }
        let file = std::fs::File::open(self.root.join(rel)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_READ + 1).read_to_end(&mut bytes).ok()?;
        (bytes.len() as u64 <= MAX_READ).then_some(bytes)
    }

    /// The first indexed file among `names` inside `dir`.
    pub fn first_of(&self, dir: &str, names: &[&str]) -> Option<String> {
        names
            .iter()
            .map(|n| join(dir, n))
            .find(|p| self.files.contains(p))
    }
}

/// Joins a relative folder (`""` or `"."` for the root) and a name with `/`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() || dir == "." {
        String::new()
    } else {
        format!("{}/", dir.trim_end_matches('/'))
    }
}

/// Whether a link at `rel` pointing to `target` resolves outside the root (lexically).
pub fn link_escapes(rel: &str, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = rel.matches('/').count() as i64;
    for part in target.components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Line number (1-based) of the first line containing `needle`.
pub fn line_of(text: &str, needle: &str) -> Option<u32> {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_climb_out_escape() {
        assert!(link_escapes("a/link", "../../etc/passwd"));
        assert!(link_escapes("link", "/etc/passwd"));
        assert!(!link_escapes("a/b/link", "../c"));
        assert!(!link_escapes("link", "sub/../file"));
        assert!(link_escapes("link", "sub/../../file"));
    }

    #[test]
    fn walk_indexes_and_skips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/pages")).expect("mkdir");
        std::fs::create_dir_all(root.join("node_modules/x")).expect("mkdir");
        std::fs::write(root.join("package.json"), "{}").expect("write");
        std::fs::write(root.join("src/pages/a.tsx"), "a").expect("write");
        std::fs::write(root.join("node_modules/x/index.js"), "x").expect("write");
        let tree = Tree::walk(root).expect("walk");
        assert_eq!(
            tree.files().collect::<Vec<_>>(),
            ["package.json", "src/pages/a.tsx"]
        );
        assert_eq!(tree.child_dirs("").collect::<Vec<_>>(), ["src"]);
        assert_eq!(tree.child_files("src/pages").collect::<Vec<_>>(), ["a.tsx"]);
        assert!(tree.has_dir("src/pages"));
        assert_eq!(tree.read("package.json").as_deref(), Some("{}"));
        assert_eq!(tree.read("missing"), None);
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("empty-sub")).expect("mkdir");
        let err = Tree::walk(dir.path()).expect_err("empty");
        assert_eq!(err.code(), "empty-source");
    }
}

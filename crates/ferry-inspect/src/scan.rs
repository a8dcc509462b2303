//! The files the second-half scanners read, loaded once per inspection: their text, whether
//! they ship to browsers, and whether they are build output (docs/findings.md, "Files").

use crate::tree::Tree;

/// Extensions of source files (env vars, services, findings).
pub const CODE_EXTENSIONS: &[&str] = &[
    "js", "jsx", "ts", "tsx", "mjs", "cjs", "mts", "cts", "vue", "svelte", "astro", "py", "html",
];

/// Lockfiles: full of hashes, never secrets.
pub const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "Cargo.lock",
    "npm-shrinkwrap.json",
];

/// Documentation extensions: example values, never scanned for secrets.
pub const DOC_EXTENSIONS: &[&str] = &["md", "mdx", "txt", "rst", "adoc"];

/// Folders that hold committed build output.
pub const BUILD_DIRS: &[&str] = &["dist", "build", ".next", "out", "storybook-static"];

/// Most bytes read for scanning, in all.
pub const MAX_TOTAL_BYTES: usize = 256 * 1024 * 1024;

/// One readable text file.
#[derive(Debug)]
pub struct SourceFile {
    /// Path relative to the root.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Ships to browsers.
    pub client: bool,
    /// Inside a build-output folder.
    pub build_output: bool,
    /// Lowercase extension (`""` when none).
    pub ext: String,
}

impl SourceFile {
    /// Source code the app's authors wrote (not build output).
    pub fn is_code(&self) -> bool {
        !self.build_output && CODE_EXTENSIONS.contains(&self.ext.as_str())
    }

    /// Whether the secret scan reads it.
    pub fn is_secret_scanned(&self) -> bool {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        !LOCKFILES.contains(&name) && !DOC_EXTENSIONS.contains(&self.ext.as_str())
    }

    /// `path:line` of byte offset `at`.
    pub fn at(&self, offset: usize) -> String {
        format!("{}:{}", self.path, line_at(&self.text, offset))
    }
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// All readable text files of a tree.
#[derive(Debug, Default)]
pub struct Sources {
    /// Files, sorted by path.
    pub files: Vec<SourceFile>,
    /// Set when the total cap stopped the loading.
    pub truncated: bool,
}

impl Sources {
    /// Reads every text file of `tree` (binary files and files over the read cap are skipped).
    pub fn load(tree: &Tree) -> Self {
        let paths: Vec<&str> = tree.files().collect();
        // Two workers: reading is I/O and UTF-8 checks; the machine has at least two cores.
        let half = paths.len().div_ceil(2);
        let (a, b) = paths.split_at(half.min(paths.len()));
        let (mut files, other) = std::thread::scope(|s| {
            let left = s.spawn(|| read_all(tree, a));
            let right = read_all(tree, b);
            (left.join().unwrap_or_default(), right)
        });
        files.extend(other);
        let mut total = 0usize;
        let mut truncated = false;
        files.retain(|f| {
            total += f.text.len();
            if total > MAX_TOTAL_BYTES {
                truncated = true;
            }
            !truncated
        });
        Sources { files, truncated }
    }

    /// Source files the authors wrote.
    pub fn code(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().filter(|f| f.is_code())
    }
}

fn read_all(tree: &Tree, paths: &[&str]) -> Vec<SourceFile> {
    paths
        .iter()
        .filter_map(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            if name == "bun.lockb" {
                return None;
            }
            let bytes = tree.read_bytes(path)?;
            if bytes[..bytes.len().min(8192)].contains(&0) {
                return None;
            }
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            let ext = name
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .unwrap_or_default();
            Some(SourceFile {
                path: path.to_string(),
                client: is_client(path, &text),
                build_output: is_build_output(path),
                ext,
                text,
            })
        })
        .collect()
}

/// Whether `path` lies in a build-output folder (at any depth of a unit).
pub fn is_build_output(path: &str) -> bool {
    let mut parts = path.split('/');
    parts.next_back();
    parts.any(|p| BUILD_DIRS.contains(&p))
}

const CLIENT_DIRS: &[&str] = &[
    "src",
    "app",
    "pages",
    "components",
    "public",
    "client",
    "frontend",
];
const SERVER_DIRS: &[&str] = &["server", "api", "backend", "functions"];

/// Whether a file ships to browsers (docs/findings.md, "client code").
pub fn is_client(path: &str, text: &str) -> bool {
    if is_build_output(path) {
        return true;
    }
    let dirs: Vec<&str> = {
        let mut parts: Vec<&str> = path.split('/').collect();
        parts.pop();
        parts
    };
    if dirs.iter().any(|d| SERVER_DIRS.contains(d)) {
        return false;
    }
    if path.starts_with("supabase/") || path.starts_with("base44/") {
        return false;
    }
    if !dirs.iter().any(|d| CLIENT_DIRS.contains(d)) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if dirs.contains(&"app") && (name.starts_with("route.") || starts_with_use_server(text)) {
        return false;
    }
    !name.ends_with(".py")
}

fn starts_with_use_server(text: &str) -> bool {
    let head = text.trim_start();
    head.starts_with("\"use server\"") || head.starts_with("'use server'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_code_is_what_ships_to_browsers() {
        assert!(is_client("src/lib/admin.ts", ""));
        assert!(is_client("frontend/src/App.js", ""));
        assert!(is_client("dist/assets/index-abc.js", ""));
        assert!(is_client("apps/web/app/page.tsx", ""));
        assert!(!is_client("apps/web/app/api/x/route.ts", ""));
        assert!(!is_client(
            "app/actions.ts",
            "'use server'\nexport async function a() {}"
        ));
        assert!(!is_client("src/server/db.ts", ""));
        assert!(!is_client("server/index.ts", ""));
        assert!(!is_client("supabase/functions/x/index.ts", ""));
        assert!(!is_client(".env", ""));
        assert!(!is_client("vite.config.ts", ""));
        assert!(!is_client("backend/server.py", ""));
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 99), 3);
    }
}

//! A Base44 app's backend as its build plan shows it: the backend functions a deploy carries
//! (`base44/functions/<name>/` with an entry module), so `ferry plan` says what will run
//! besides the front end. Read from the tree only (no services scan), like every plan field.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tree::{Tree, join};

/// Where a Base44 source keeps its functions.
pub const FUNCTIONS_DIR: &str = "base44/functions";

/// Entry modules looked for, in order, when no `function.json(c)` names one (the same order
/// the deploy uses, through ferry-compat).
pub const ENTRY_CANDIDATES: [&str; 6] = [
    "entry.ts",
    "index.ts",
    "entry.js",
    "index.js",
    "entry.mjs",
    "index.mjs",
];

/// The Base44 backend ferry serves for a unit: its entities API, and these functions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Base44Backend {
    /// Backend functions (`base44/functions/<name>/`), by name: each runs as its own Deno
    /// process (`fn.<name>`), started on its first call.
    pub functions: Vec<BackendFunction>,
}

/// One backend function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendFunction {
    /// Its name (the folder's).
    pub name: String,
    /// Its entry module, relative to its folder; `None` when it has none (a deploy refuses
    /// it).
    pub entry: Option<String>,
}

/// The Base44 backend of the unit at `unit_path`, for an app that `is_base44`; `None` for
/// other apps and units.
pub fn base44_backend(tree: &Tree, unit_path: &str, is_base44: bool) -> Option<Base44Backend> {
    let base = join(unit_path, "base44");
    let has_backend =
        tree.has_dir(&join(&base, "entities")) || tree.has_dir(&join(&base, "functions"));
    if !is_base44 || !has_backend {
        return None;
    }
    let dir = join(unit_path, FUNCTIONS_DIR);
    let functions = tree
        .child_dirs(&dir)
        .filter(|n| !n.starts_with('.') && *n != "node_modules")
        .map(|name| BackendFunction {
            name: name.to_string(),
            entry: entry_of(tree, &join(&dir, name)),
        })
        .collect();
    Some(Base44Backend { functions })
}

/// A function folder's entry module: `entry` of its `function.json(c)` when that file exists,
/// else the first candidate present.
fn entry_of(tree: &Tree, folder: &str) -> Option<String> {
    let configured = ["function.jsonc", "function.json"]
        .iter()
        .find_map(|f| tree.read(&join(folder, f)))
        .and_then(|text| crate::jsonc::parse(&text).ok())
        .and_then(|v| v.get("entry").and_then(|e| e.as_str()).map(str::to_string))
        .map(|e| e.trim_start_matches("./").to_string())
        .filter(|e| tree.has_file(&join(folder, e)));
    configured.or_else(|| {
        ENTRY_CANDIDATES
            .iter()
            .find(|c| tree.has_file(&join(folder, c)))
            .map(|c| c.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(files: &[(&str, &str)]) -> (tempfile::TempDir, Tree) {
        let dir = tempfile::tempdir().expect("tmp");
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let tree = Tree::walk(dir.path()).expect("walk");
        (dir, tree)
    }

    #[test]
    fn functions_with_their_entries() {
        let (_dir, tree) = tree_of(&[
            ("base44/entities/Task.jsonc", "{}"),
            ("base44/functions/a/entry.ts", ""),
            ("base44/functions/b/index.js", ""),
            ("base44/functions/c/main.ts", ""),
            (
                "base44/functions/c/function.jsonc",
                "{\"entry\": \"./main.ts\"} // x",
            ),
            ("base44/functions/d/readme.md", ""),
        ]);
        let backend = base44_backend(&tree, ".", true).expect("a backend");
        let got: Vec<(&str, Option<&str>)> = backend
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.entry.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some("entry.ts")),
                ("b", Some("index.js")),
                ("c", Some("main.ts")),
                ("d", None)
            ]
        );
        assert_eq!(base44_backend(&tree, ".", false), None, "not a Base44 app");
        let (_dir, plain) = tree_of(&[("index.html", "")]);
        assert_eq!(base44_backend(&plain, ".", true), None, "no backend folder");
    }
}

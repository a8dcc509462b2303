//! A source's backend functions: each folder `base44/functions/<name>/` with its source files
//! (`.ts`, `.tsx`, `.js`, `.jsx`, `.mjs`, `.mts`, `.json`, `.jsonc`; dot-files and
//! `node_modules` skipped) and its entry module: the `entry` of its `function.json(c)` (the
//! Base44 CLI's layout), else the first of [`ENTRY_CANDIDATES`] present (`entry.ts` in repos
//! synced from Base44).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

// The limits the release manifest enforces, checked here so a deploy fails early with the
// function named.
use ferry_release::{
    MAX_FUNCTION_BYTES, MAX_FUNCTION_FILES, MAX_FUNCTIONS, is_function_name as is_name,
};

/// Where a source keeps its functions, and the entry modules looked for, in order, when no
/// `function.json(c)` names one: the ones `ferry plan` shows (ferry-inspect).
pub use ferry_inspect::backend::{ENTRY_CANDIDATES, FUNCTIONS_DIR};

/// File extensions carried into the release.
const SOURCE_EXTENSIONS: [&str; 8] = ["ts", "tsx", "js", "jsx", "mjs", "mts", "json", "jsonc"];

/// How deep a function's folder is walked.
const MAX_DEPTH: usize = 4;

/// One function as read from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSource {
    /// The entry module's relative path (`entry.ts`).
    pub entry: String,
    /// Source files by relative path.
    pub files: BTreeMap<String, String>,
}

/// Why a source's functions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FunctionsError {
    /// A file or folder could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path, relative to the source.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A folder name that cannot be a function name.
    #[error(
        "`base44/functions/{0}` is not a usable function name (letters, digits, `-`, `_`, at most 64)"
    )]
    BadName(String),
    /// A function without an entry module.
    #[error(
        "function `{0}` has no entry module (entry.ts, index.ts, or `entry` in function.jsonc)"
    )]
    NoEntry(String),
    /// Too many functions or files, or too much source.
    #[error("{0}")]
    TooLarge(String),
}

impl FunctionsError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FunctionsError::Io { .. } => "io",
            FunctionsError::BadName(_) => "bad-function-name",
            FunctionsError::NoEntry(_) => "no-function-entry",
            FunctionsError::TooLarge(_) => "too-large",
        }
    }
}

/// Every function under `root/base44/functions`, by name; empty when the folder is missing.
pub fn read_functions(root: &Path) -> Result<BTreeMap<String, FunctionSource>, FunctionsError> {
    let dir = root.join(FUNCTIONS_DIR);
    let mut out = BTreeMap::new();
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n != "node_modules")
        .collect();
    names.sort();
    if names.len() > MAX_FUNCTIONS {
        return Err(FunctionsError::TooLarge(format!(
            "{FUNCTIONS_DIR} holds {} functions (at most {})",
            names.len(),
            MAX_FUNCTIONS
        )));
    }
    for name in names {
        if !is_name(&name) {
            return Err(FunctionsError::BadName(name));
        }
        let mut files = BTreeMap::new();
        let mut total = 0usize;
        walk(&dir.join(&name), "", 0, &name, &mut files, &mut total)?;
        let entry = configured_entry(&files)
            .filter(|e| files.contains_key(e))
            .or_else(|| {
                ENTRY_CANDIDATES
                    .iter()
                    .find(|c| files.contains_key(**c))
                    .map(|c| c.to_string())
            })
            .ok_or_else(|| FunctionsError::NoEntry(name.clone()))?;
        out.insert(name, FunctionSource { entry, files });
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    name: &str,
    files: &mut BTreeMap<String, String>,
    total: &mut usize,
) -> Result<(), FunctionsError> {
    let rel = |p: &str| format!("{FUNCTIONS_DIR}/{name}/{p}");
    let listing = std::fs::read_dir(dir).map_err(|source| FunctionsError::Io {
        path: rel(prefix),
        source,
    })?;
    let mut entries: Vec<_> = listing.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(file) = e.file_name().into_string() else {
            continue;
        };
        if file.starts_with('.') || file == "node_modules" {
            continue;
        }
        let path = format!("{prefix}{file}");
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(
                    &e.path(),
                    &format!("{path}/"),
                    depth + 1,
                    name,
                    files,
                    total,
                )?;
            }
            continue;
        }
        let carried = kind.is_file()
            && Path::new(&file)
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| SOURCE_EXTENSIONS.contains(&x));
        if !carried {
            continue;
        }
        if files.len() >= MAX_FUNCTION_FILES {
            return Err(FunctionsError::TooLarge(format!(
                "function `{name}` has more than {} source files",
                MAX_FUNCTION_FILES
            )));
        }
        let budget = MAX_FUNCTION_BYTES.saturating_sub(*total);
        let mut bytes = Vec::new();
        std::fs::File::open(e.path())
            .and_then(|f| f.take(budget as u64 + 1).read_to_end(&mut bytes))
            .map_err(|source| FunctionsError::Io {
                path: rel(&path),
                source,
            })?;
        if bytes.len() > budget {
            return Err(FunctionsError::TooLarge(format!(
                "function `{name}` holds more than {} bytes of source",
                MAX_FUNCTION_BYTES
            )));
        }
        *total += bytes.len();
        files.insert(path, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(())
}

/// The `entry` string of `function.jsonc` / `function.json`, if any.
fn configured_entry(files: &BTreeMap<String, String>) -> Option<String> {
    let text = files
        .get("function.jsonc")
        .or_else(|| files.get("function.json"))?;
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return value.get("entry")?.as_str().map(clean_entry);
    }
    // JSONC with comments: the first `"entry": "…"` pair.
    let at = text.find("\"entry\"")?;
    let rest = text[at + 7..].trim_start().strip_prefix(':')?.trim_start();
    let inner = rest.strip_prefix('"')?;
    Some(clean_entry(&inner[..inner.find('"')?]))
}

fn clean_entry(entry: &str) -> String {
    entry.trim().trim_start_matches("./").to_string()
}

/// The import specifiers of `text` that cannot be fetched here: `jsr:`, `https:` and `http:`
/// modules (static `from '…'`, bare `import '…'` and dynamic `import('…')` forms).
pub fn remote_imports(text: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for quote in ['"', '\'', '`'] {
        for (i, _) in text.match_indices(quote) {
            let before = text[..i].trim_end();
            let is_import = before.ends_with("from")
                || before.ends_with("import")
                || before.ends_with("import(")
                || before.ends_with("export *");
            if !is_import {
                continue;
            }
            let rest = &text[i + 1..];
            let Some(end) = rest.find(quote) else {
                continue;
            };
            let spec = &rest[..end];
            let remote = ["jsr:", "https:", "http:"]
                .iter()
                .any(|p| spec.starts_with(p));
            if remote && !found.iter().any(|(_, f)| f == spec) {
                found.push((i, spec.to_string()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, spec)| spec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn reads_each_folder_and_its_entry() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(
            root,
            "base44/functions/hello/entry.ts",
            "Deno.serve(() => new Response('hi'))",
        );
        write(
            root,
            "base44/functions/hello/lib/util.ts",
            "export const x = 1;",
        );
        write(root, "base44/functions/hello/.env", "SECRET=1");
        write(root, "base44/functions/hello/notes.md", "# notes");
        write(
            root,
            "base44/functions/cli-style/function.jsonc",
            "{\n  // the CLI's layout\n  \"name\": \"cli-style\",\n  \"entry\": \"./main.ts\"\n}",
        );
        write(
            root,
            "base44/functions/cli-style/main.ts",
            "Deno.serve(() => new Response(''))",
        );
        write(
            root,
            "base44/functions/cli-style/index.ts",
            "// not the entry",
        );
        let fns = read_functions(root).expect("reads");
        assert_eq!(fns.keys().collect::<Vec<_>>(), ["cli-style", "hello"]);
        assert_eq!(fns["hello"].entry, "entry.ts");
        assert_eq!(
            fns["hello"].files.keys().collect::<Vec<_>>(),
            ["entry.ts", "lib/util.ts"]
        );
        assert_eq!(fns["cli-style"].entry, "main.ts");

        write(root, "base44/functions/empty/readme.md", "");
        assert_eq!(
            read_functions(root).err().map(|e| e.code()),
            Some("no-function-entry")
        );
        std::fs::remove_dir_all(root.join("base44/functions/empty")).expect("rm");
        write(root, "base44/functions/bad name/entry.ts", "");
        assert_eq!(
            read_functions(root).err().map(|e| e.code()),
            Some("bad-function-name")
        );
        assert!(
            read_functions(&root.join("nowhere"))
                .expect("none")
                .is_empty()
        );
    }

    #[test]
    fn finds_imports_that_need_the_internet() {
        let text = r#"
import { createClientFromRequest } from 'npm:@base44/sdk@0.8.20';
import { serve } from "https://deno.land/std@0.168.0/http/server.ts";
import * as path from "jsr:@std/path";
import "http://example.com/side-effect.js";
const lazy = await import('jsr:@std/fmt');
const s = "https://not-an-import.example";
"#;
        assert_eq!(
            remote_imports(text),
            [
                "https://deno.land/std@0.168.0/http/server.ts",
                "jsr:@std/path",
                "http://example.com/side-effect.js",
                "jsr:@std/fmt",
            ]
        );
        assert!(remote_imports("import x from 'npm:zod@3';").is_empty());
    }
}

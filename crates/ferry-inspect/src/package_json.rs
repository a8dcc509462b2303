//! The parts of `package.json` that detection reads.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::InspectError;
use crate::tree::{Tree, join};

/// A parsed `package.json`.
#[derive(Debug, Clone, Default)]
pub struct PackageJson {
    /// Path of the file relative to the root.
    pub file: String,
    /// `name`.
    pub name: Option<String>,
    /// `scripts`.
    pub scripts: BTreeMap<String, String>,
    /// `dependencies`, `devDependencies`, `peerDependencies` and `optionalDependencies`,
    /// name → version range.
    pub deps: BTreeMap<String, String>,
    /// `workspaces` (array or `{packages}`).
    pub workspaces: Vec<String>,
    /// `packageManager`, e.g. `pnpm@9.1.0`.
    pub package_manager: Option<String>,
    /// `engines.node`.
    pub engines_node: Option<String>,
    /// `main`.
    pub main: Option<String>,
    /// The raw text, for line numbers.
    pub text: String,
}

impl PackageJson {
    /// Loads `<dir>/package.json` if the tree has one. Malformed JSON is an error.
    pub fn load(tree: &Tree, dir: &str) -> Result<Option<Self>, InspectError> {
        let file = join(dir, "package.json");
        let Some(text) = tree.read(&file) else {
            return Ok(None);
        };
        Self::parse(&file, text).map(Some)
    }

    /// Parses the text of a package.json found at `file`.
    pub fn parse(file: &str, text: String) -> Result<Self, InspectError> {
        let value: Value =
            serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|err| {
                InspectError::MalformedFile {
                    file: file.into(),
                    format: "JSON",
                    detail: err.to_string(),
                }
            })?;
        let Value::Object(obj) = value else {
            return Err(InspectError::MalformedFile {
                file: file.into(),
                format: "JSON",
                detail: "the top level must be an object".into(),
            });
        };
        let strings = |key: &str| -> BTreeMap<String, String> {
            obj.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut deps = BTreeMap::new();
        for key in [
            "optionalDependencies",
            "peerDependencies",
            "devDependencies",
            "dependencies",
        ] {
            deps.extend(strings(key));
        }
        let workspaces = match obj.get("workspaces") {
            Some(Value::Array(items)) => items.iter().filter_map(as_string).collect(),
            Some(Value::Object(o)) => o
                .get("packages")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(as_string).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let text_field = |key: &str| obj.get(key).and_then(as_string);
        Ok(PackageJson {
            file: file.into(),
            name: text_field("name"),
            scripts: strings("scripts"),
            deps,
            workspaces,
            package_manager: text_field("packageManager"),
            engines_node: obj
                .get("engines")
                .and_then(|e| e.get("node"))
                .and_then(as_string),
            main: text_field("main"),
            text,
        })
    }

    /// Whether any dependency list names `name`.
    pub fn has_dep(&self, name: &str) -> bool {
        self.deps.contains_key(name)
    }

    /// The first dependency whose name starts with `prefix`.
    pub fn dep_with_prefix(&self, prefix: &str) -> Option<&str> {
        self.deps
            .keys()
            .find(|k| k.starts_with(prefix))
            .map(String::as_str)
    }

    /// Whether `scripts` has `name`.
    pub fn has_script(&self, name: &str) -> bool {
        self.scripts.contains_key(name)
    }

    /// `file:line` of the first line mentioning `needle`, else the file.
    pub fn at(&self, needle: &str) -> String {
        match crate::tree::line_of(&self.text, needle) {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        }
    }
}

fn as_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_detection_needs() {
        let text = r#"{
  "name": "demo",
  "scripts": {"build": "vite build", "odd": 3},
  "dependencies": {"react": "^18.3.1"},
  "devDependencies": {"vite": "^5.4.0"},
  "workspaces": {"packages": ["apps/*"]},
  "engines": {"node": ">=20"}
}"#;
        let pkg = PackageJson::parse("package.json", text.into()).expect("valid");
        assert_eq!(pkg.name.as_deref(), Some("demo"));
        assert!(pkg.has_script("build") && !pkg.has_script("odd"));
        assert!(pkg.has_dep("react") && pkg.has_dep("vite"));
        assert_eq!(pkg.workspaces, ["apps/*"]);
        assert_eq!(pkg.engines_node.as_deref(), Some(">=20"));
        assert_eq!(pkg.at("\"vite\""), "package.json:5");
    }

    #[test]
    fn malformed_json_is_a_typed_error_with_position() {
        let err = PackageJson::parse("package.json", "{\"name\": \"a\" \"b\": 1}".into())
            .expect_err("malformed");
        assert_eq!(err.code(), "malformed-file");
        assert!(err.to_string().contains("line 1 column"), "{err}");
        let err = PackageJson::parse("package.json", "[1]".into()).expect_err("not an object");
        assert!(err.to_string().contains("object"));
    }
}

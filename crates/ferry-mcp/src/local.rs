//! What the tools read from disk themselves: the app folder an agent names for `inspect`,
//! `plan` and `deploy`, checked against [`Roots`], and inspected with `ferry-inspect` directly.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::ToolError;

/// Which folders the tools may read.
#[derive(Debug, Clone)]
pub enum Roots {
    /// Any folder (stdio: the agent runs as the machine's user, as the CLI would).
    Any,
    /// Only folders under these (streamable HTTP: a token holder must not read the server's
    /// disk; the server's owner lists them in `FERRY_MCP_ROOTS`). Empty: none.
    Only(Vec<PathBuf>),
}

impl Roots {
    /// `FERRY_MCP_ROOTS` (paths separated by `:`): the folders `/mcp` may inspect and deploy.
    pub fn from_env() -> Self {
        let list = std::env::var("FERRY_MCP_ROOTS").unwrap_or_default();
        Roots::Only(
            list.split(':')
                .filter(|p| !p.trim().is_empty())
                .filter_map(|p| std::fs::canonicalize(p.trim()).ok())
                .collect(),
        )
    }

    /// The canonical folder for `path`, or why it may not be read.
    pub fn check(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.is_empty() || path.len() > 4096 || path.contains('\0') {
            return Err(ToolError::invalid("`path` must be a folder's path"));
        }
        let given = Path::new(path);
        if !given.is_absolute() {
            return Err(ToolError::invalid(format!(
                "`{path}` is not an absolute path"
            )));
        }
        let folder = std::fs::canonicalize(given).map_err(|err| {
            ToolError::new(
                "source-not-found",
                format!("cannot open `{path}`: {err}"),
                "pass the absolute path of the app's folder",
            )
        })?;
        if !folder.is_dir() {
            return Err(ToolError::new(
                "not-a-folder",
                format!("`{path}` is not a folder"),
                "pass the absolute path of the app's folder (archives and git URLs: use the CLI)",
            ));
        }
        match self {
            Roots::Any => Ok(folder),
            Roots::Only(roots) if roots.iter().any(|r| folder.starts_with(r)) => Ok(folder),
            Roots::Only(roots) => Err(ToolError::new(
                "path-not-allowed",
                format!(
                    "`{path}` is outside the folders this server lets MCP clients read ({})",
                    if roots.is_empty() {
                        "none".to_string()
                    } else {
                        roots
                            .iter()
                            .map(|r| r.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                "the server's owner lists the allowed folders in FERRY_MCP_ROOTS (paths separated by `:`), or use `ferry mcp` (stdio) on the machine",
            )),
        }
    }
}

fn inspect_folder(
    folder: &Path,
    scope: ferry_inspect::Scope,
) -> Result<ferry_inspect::Inspection, ToolError> {
    let spec = folder.display().to_string();
    let limits = ferry_source::Limits::default();
    let mut source = ferry_source::acquire(&spec, &limits, &mut |_| {})
        .map_err(|e| ToolError::new(e.code(), e.to_string(), e.hint()))?;
    if scope == ferry_inspect::Scope::Full {
        source
            .read_added_lines()
            .map_err(|e| ToolError::new(e.code(), e.to_string(), e.hint()))?;
    }
    ferry_inspect::inspect(source.input(scope))
        .map_err(|e| ToolError::new(e.code(), e.to_string(), e.hint()))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        ToolError::new(
            "inspect-crashed",
            err.to_string(),
            "report this as a ferry bug",
        )
    })?
}

/// `inspect`: the report's facts (builder, units, services, env names, secrets as previews and
/// fingerprints, never values) and its findings with their fixes.
pub async fn inspect(folder: PathBuf) -> Result<Value, ToolError> {
    let inspection = blocking(move || inspect_folder(&folder, ferry_inspect::Scope::Full)).await?;
    let p = serde_json::to_value(&inspection.profile).unwrap_or(Value::Null);
    Ok(json!({
        "app": p["name"],
        "source": p["source"],
        "builder": p["builder"],
        "units": p["units"],
        "services": p["services"],
        "env": p["env"],
        "secrets": p["secrets"],
        "findings": p["findings"],
        "verdicts": p["verdicts"],
        "warnings": p["warnings"],
        "next": "call `plan` to see how each unit builds, then `deploy` with the same path",
    }))
}

/// `plan`: the resolved build plan of each unit (or one).
pub async fn plan(folder: PathBuf, unit: Option<String>) -> Result<Value, ToolError> {
    let inspection = blocking(move || inspect_folder(&folder, ferry_inspect::Scope::Units)).await?;
    let plans = inspection.plans();
    let names: Vec<String> = plans.iter().map(|p| p.unit.clone()).collect();
    let chosen: Vec<&ferry_inspect::BuildPlan> = match &unit {
        Some(name) => {
            let found: Vec<_> = plans.iter().filter(|p| &p.unit == name).collect();
            if found.is_empty() {
                return Err(ToolError::new(
                    "unit-not-found",
                    format!("there is no unit named `{name}`"),
                    format!("its units: {}", names.join(", ")),
                ));
            }
            found
        }
        None => plans.iter().collect(),
    };
    Ok(json!({
        "app": inspection.profile.name,
        "units": names,
        "plans": chosen,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_folders_under_a_root_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let inside = dir.path().join("allowed/app");
        let outside = dir.path().join("other");
        std::fs::create_dir_all(&inside).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("file"), "x").expect("write");
        let roots = Roots::Only(vec![
            std::fs::canonicalize(dir.path().join("allowed")).expect("canonical"),
        ]);
        let text = |p: &Path| p.display().to_string();
        assert!(roots.check(&text(&inside)).is_ok());
        let refused = |p: &str| roots.check(p).expect_err(p).code;
        assert_eq!(refused(&text(&outside)), "path-not-allowed");
        // `..` cannot climb out: the path is resolved first.
        assert_eq!(
            refused(&format!("{}/../../other", text(&inside))),
            "path-not-allowed"
        );
        assert_eq!(refused("allowed/app"), "invalid-input");
        assert_eq!(refused(""), "invalid-input");
        assert_eq!(
            refused(&text(&dir.path().join("missing"))),
            "source-not-found"
        );
        assert_eq!(refused(&text(&outside.join("file"))), "not-a-folder");
        assert_eq!(
            Roots::Only(Vec::new())
                .check(&text(&inside))
                .expect_err("none")
                .code,
            "path-not-allowed"
        );
        assert!(Roots::Any.check(&text(&outside)).is_ok());
    }
}

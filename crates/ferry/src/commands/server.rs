//! What deploying a server unit needs from its plan: the plan whose build output is the whole
//! unit folder (the server runs from it, with its `node_modules`), and the processes the
//! release asks the server to run.

use std::path::Path;

use ferry_inspect::BuildPlan;
use ferry_release::{Backend, ProcessEntry, ProcessesBackend};

use crate::failure::{EXIT_BAD_INPUT, Failure};

/// `plan` with the unit folder as its output: the release is the built tree the processes run
/// from. Units outside the repository root are refused for now (their build output would be
/// a folder the build's clean copy leaves out).
pub(super) fn runnable_plan(plan: &BuildPlan) -> Result<BuildPlan, Failure> {
    if plan.path != "." {
        return Err(Failure {
            code: "server-unit-path",
            message: format!(
                "server unit `{}` lives in `{}`; this ferry runs server units at the repository root",
                plan.unit, plan.path
            ),
            hint: "deploy a root unit, or move the server to the root with a ferry.toml [[unit]]"
                .into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let mut runnable = plan.clone();
    runnable.output = ".".into();
    Ok(runnable)
}

/// The processes of a server unit, as the release records them (cwd relative to the unit).
/// A port detection found (`port`) is kept as a fixed port only when the unit's code never
/// reads the port variable: `process.env.PORT || 3000` honours `PORT`, so it runs blue/green.
pub(super) fn processes_backend(plan: &BuildPlan, source_root: &Path) -> Result<Backend, Failure> {
    if plan.processes.is_empty() {
        return Err(Failure {
            code: "no-start-command",
            message: format!("server unit `{}` has no start command", plan.unit),
            hint:
                "add `[[unit.process]] command = \"…\"` to ferry.toml (docs/formats/ferry-toml.md)"
                    .into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let processes = plan
        .processes
        .iter()
        .map(|p| ProcessEntry {
            name: p.name.clone(),
            command: p.command.run.clone(),
            cwd: relative_to_unit(&p.command.cwd, &plan.path),
            port_env: p.port_env.clone(),
            fixed_port: p
                .port
                .filter(|_| !reads_port_env(&source_root.join(&plan.path), &p.port_env)),
            health: p.health.clone(),
        })
        .collect();
    Ok(Backend::Processes(ProcessesBackend {
        unit: plan.unit.clone(),
        processes,
        runtime_env: plan.env.runtime.clone(),
    }))
}

/// Whether some source file of the unit (JS/TS/Python, outside dependencies and build output,
/// at most 2,000 files of 1 MiB) reads the variable `name` from the environment.
fn reads_port_env(unit: &Path, name: &str) -> bool {
    let needles = [
        format!("env.{name}"),
        format!("env[\"{name}\"]"),
        format!("env['{name}']"),
        format!("getenv(\"{name}\""),
        format!("getenv('{name}'"),
        format!("environ.get(\"{name}\""),
        format!("environ.get('{name}'"),
        format!("environ[\"{name}\"]"),
        format!("environ['{name}']"),
    ];
    let mut stack = vec![unit.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let n = file_name.to_string_lossy();
            if n.starts_with('.')
                || matches!(
                    n.as_ref(),
                    "node_modules" | "dist" | "build" | "__pycache__" | "venv"
                )
            {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let code = [".js", ".mjs", ".cjs", ".ts", ".mts", ".py"]
                .iter()
                .any(|e| n.ends_with(e));
            if !kind.is_file() || !code {
                continue;
            }
            seen += 1;
            if seen > 2000 {
                return false;
            }
            if entry.metadata().is_ok_and(|m| m.len() <= 1 << 20)
                && let Ok(text) = std::fs::read_to_string(entry.path())
                && needles.iter().any(|needle| text.contains(needle.as_str()))
            {
                return true;
            }
        }
    }
    false
}

/// `cwd` (relative to the source root) relative to the unit folder `unit`.
fn relative_to_unit(cwd: &str, unit: &str) -> String {
    let cwd = cwd.trim_start_matches("./");
    let unit = unit.trim_start_matches("./").trim_end_matches('/');
    if unit == "." || unit.is_empty() {
        return if cwd.is_empty() {
            ".".into()
        } else {
            cwd.into()
        };
    }
    match cwd.strip_prefix(unit) {
        Some("") => ".".into(),
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/').into(),
        _ => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_default_is_not_a_fixed_port() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("server")).expect("mkdir");
        std::fs::write(
            dir.path().join("server/index.ts"),
            "const port = 5000;\napp.listen(port);\n",
        )
        .expect("write");
        assert!(
            !reads_port_env(dir.path(), "PORT"),
            "the Replit template ignores PORT"
        );
        std::fs::write(
            dir.path().join("server.js"),
            "app.listen(process.env.PORT || 3000);\n",
        )
        .expect("write");
        assert!(reads_port_env(dir.path(), "PORT"));
        assert!(!reads_port_env(dir.path(), "APP_PORT"));
    }

    #[test]
    fn cwd_is_relative_to_the_unit() {
        assert_eq!(relative_to_unit(".", "."), ".");
        assert_eq!(relative_to_unit("server", "."), "server");
        assert_eq!(relative_to_unit("backend", "backend"), ".");
        assert_eq!(relative_to_unit("backend/app", "backend"), "app");
    }
}

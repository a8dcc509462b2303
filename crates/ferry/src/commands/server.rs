//! What deploying a server unit needs from its plan: the plan whose build output is the whole
//! unit folder (the server runs from it, with its `node_modules`), and the processes the
//! release asks the server to run.

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
pub(super) fn processes_backend(plan: &BuildPlan) -> Result<Backend, Failure> {
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
            fixed_port: p.port,
            health: p.health.clone(),
        })
        .collect();
    Ok(Backend::Processes(ProcessesBackend {
        unit: plan.unit.clone(),
        processes,
        runtime_env: plan.env.runtime.clone(),
    }))
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
    fn cwd_is_relative_to_the_unit() {
        assert_eq!(relative_to_unit(".", "."), ".");
        assert_eq!(relative_to_unit("server", "."), "server");
        assert_eq!(relative_to_unit("backend", "backend"), ".");
        assert_eq!(relative_to_unit("backend/app", "backend"), "app");
    }
}

//! What deploying a server unit needs from its plan: the plan whose build output is the whole
//! unit folder (the server runs from it, with its `node_modules`), and the processes the
//! release asks the server to run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_inspect::plan::Step;
use ferry_inspect::profile::PackageManager;
use ferry_inspect::{BuildPlan, UnitKind};
use ferry_release::{Backend, ProcessEntry, ProcessesBackend};

use crate::failure::{EXIT_BAD_INPUT, Failure};

/// `plan` with the unit folder as its output: the release is the built tree the processes run
/// from. A Python unit installs into a virtualenv of its own (`.venv`, see [`python_install`]).
pub(super) fn runnable_plan(plan: &BuildPlan, source_root: &Path) -> BuildPlan {
    let mut runnable = plan.clone();
    runnable.output = plan.path.clone();
    let python = matches!(
        plan.toolchain.package_manager,
        Some(
            PackageManager::Pip
                | PackageManager::Poetry
                | PackageManager::Uv
                | PackageManager::Pipenv
        )
    );
    if python {
        let install = python_install(&source_root.join(&plan.path));
        runnable.steps.retain(|s| s.name != "install");
        if let Some(run) = install {
            runnable.steps.insert(
                0,
                Step {
                    name: "install".into(),
                    command: ferry_inspect::profile::Command {
                        run,
                        cwd: plan.path.clone(),
                    },
                },
            );
        }
    }
    runnable
}

/// The install step of a Python server unit: a virtualenv in the unit folder, made with
/// `--copies` (its interpreter is a file of the release, not a link leaving it), and the
/// dependencies installed into it without bytecode (the tree stays byte-for-byte the same
/// from one build to the next, so an unchanged virtualenv costs nothing on redeploy) — by
/// `uv pip` when `uv` is on `PATH`, else by the venv's own pip. `requirements.txt` wins;
/// else the project itself (`pyproject.toml`) is installed. `None` when there is nothing to
/// install.
fn python_install(unit_dir: &Path) -> Option<String> {
    let what = if unit_dir.join("requirements.txt").is_file() {
        "-r requirements.txt"
    } else if unit_dir.join("pyproject.toml").is_file() {
        "."
    } else {
        return None;
    };
    let uv = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("uv").is_file()));
    Some(if uv {
        format!(
            "python3 -m venv --copies --without-pip .venv && uv pip install --python .venv/bin/python {what}"
        )
    } else {
        format!(
            "python3 -m venv --copies .venv && .venv/bin/python -m pip install --no-compile --no-input --disable-pip-version-check {what}"
        )
    })
}

/// The processes of a server unit, as the release records them: their folder relative to the
/// release root (the unit's tree sits at `tree_prefix`, `""` for a release of this unit alone),
/// named `<unit>.<name>` when `qualify` (several units in one release), answering `routes`.
/// `fixed` names the processes bound to a port whatever their port variable says (see
/// [`port_plan`]): they deploy stop-start.
pub(super) fn process_entries(
    plan: &BuildPlan,
    fixed: &BTreeMap<String, u16>,
    tree_prefix: &str,
    qualify: bool,
    routes: &[String],
) -> Result<Vec<ProcessEntry>, Failure> {
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
    Ok(plan
        .processes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let cwd = relative_to_unit(&p.command.cwd, &plan.path);
            let cwd = match (tree_prefix.trim_end_matches('/'), cwd.as_str()) {
                ("", _) => cwd,
                (prefix, ".") => prefix.to_string(),
                (prefix, rest) => format!("{prefix}/{rest}"),
            };
            ProcessEntry {
                name: if qualify {
                    format!("{}.{}", plan.unit, p.name)
                } else {
                    p.name.clone()
                },
                command: p.command.run.clone(),
                cwd,
                port_env: p.port_env.clone(),
                fixed_port: fixed.get(&p.name).copied(),
                health: p.health.clone(),
                // The unit's first process answers its prefixes.
                routes: if i == 0 { routes.to_vec() } else { Vec::new() },
                limits: ferry_release::ProcessLimits {
                    memory_bytes: p.limits.memory_bytes,
                    cpu_percent: p.limits.cpu_percent,
                    pids: p.limits.pids,
                    open_files: p.limits.open_files,
                },
            }
        })
        .collect())
}

/// The backend of a release made of `plan`'s server unit alone: its processes answer every
/// path.
pub(super) fn processes_backend(
    plan: &BuildPlan,
    fixed: &BTreeMap<String, u16>,
) -> Result<Backend, Failure> {
    Ok(Backend::Processes(ProcessesBackend {
        unit: plan.unit.clone(),
        processes: process_entries(plan, fixed, "", false, &[])?,
        runtime_env: plan.env.runtime.clone(),
    }))
}

/// How the processes of a server unit get their port.
#[derive(Debug, Default)]
pub(super) struct PortPlan {
    /// Files replaced in the build copy (path relative to the source root → text) so the server
    /// listens on its port variable.
    pub patches: BTreeMap<String, String>,
    /// One line each for the deploy's output.
    pub notes: Vec<String>,
    /// Processes bound to a port whatever their variable says, which no patch fixes: they
    /// deploy stop-start.
    pub fixed: BTreeMap<String, u16>,
}

/// For each process bound to a known port (`port` from detection, else the code's one literal
/// binding): nothing when the unit's code reads the port variable (`process.env.PORT || 3000` runs blue/green as it is); else the patch of
/// the one binding ferry can rewrite ([`ferry_compat::port::honour_port`]); else a fixed port,
/// and a note that the deploy is stop-start.
pub(super) fn port_plan(plan: &BuildPlan, source_root: &Path) -> Result<PortPlan, Failure> {
    use ferry_compat::port;
    use ferry_inspect::findings::port::PortUse;
    let unit_dir = source_root.join(&plan.path);
    let failure = |err: port::PortError| Failure {
        code: err.code(),
        message: format!("cannot read the code of unit `{}`: {err}", plan.unit),
        hint: "check the files' permissions".into(),
        exit: EXIT_BAD_INPUT,
    };
    let mut out = PortPlan::default();
    for p in &plan.processes {
        // A start command (or the package script it runs) that hands the port over itself:
        // `uvicorn main:app --port $PORT`, `next start -p $PORT`.
        if start_passes_port(source_root, p) {
            continue;
        }
        // The port detection found (`.replit`), else the one literal binding in the code.
        let found = port::port_use(&unit_dir, &p.port_env).map_err(failure)?;
        let fixed = match (&found, p.port) {
            (Some(PortUse::ReadsEnv(_)), _) => continue,
            (_, Some(port)) => port,
            (Some(PortUse::Fixed { binding, .. }), None) => binding.port,
            _ => continue,
        };
        let patch = port::honour_port(&unit_dir, &p.port_env, fixed).map_err(failure)?;
        match patch {
            Some(patch) => {
                let path = Path::new(&plan.path).join(&patch.file);
                let path = path.to_string_lossy().trim_start_matches("./").to_string();
                if out.patches.insert(path, patch.text).is_none() {
                    out.notes.push(patch.note);
                }
            }
            None => {
                out.fixed.insert(p.name.clone(), fixed);
                out.notes.push(format!(
                    "process `{}` of unit `{}` listens on port {fixed} whatever ${} says and ferry found no binding it can patch: this deploy is stop-start (the app is down from the old release's stop to the new one's health check; the time is measured and shown)",
                    p.name, plan.unit, p.port_env
                ));
            }
        }
    }
    Ok(out)
}

/// The server units `front` routes path prefixes to (its `proxies`), each with its prefixes,
/// in the order first routed. A proxy to a static unit, or to a unit that does not exist, is
/// refused.
pub(super) fn linked_servers<'p>(
    plans: &'p [BuildPlan],
    front: &BuildPlan,
) -> Result<Vec<(&'p BuildPlan, Vec<String>)>, Failure> {
    let mut out: Vec<(&BuildPlan, Vec<String>)> = Vec::new();
    for proxy in &front.proxies {
        let Some(target) = plans.iter().find(|p| p.unit == proxy.to) else {
            return Err(Failure {
                code: "proxy-target",
                message: format!(
                    "unit `{}` routes `{}` to `{}`, which is not a unit",
                    front.unit, proxy.prefix, proxy.to
                ),
                hint: "fix `[[unit.proxy]] to` in ferry.toml (see `ferry plan`)".into(),
                exit: EXIT_BAD_INPUT,
            });
        };
        if target.kind != UnitKind::Server {
            return Err(Failure {
                code: "proxy-target",
                message: format!(
                    "unit `{}` routes `{}` to `{}`, a static unit; only server units answer routed prefixes",
                    front.unit, proxy.prefix, proxy.to
                ),
                hint: "route the prefix to a server unit, or give `{}` kind = \"server\""
                    .replace("{}", &proxy.to),
                exit: EXIT_BAD_INPUT,
            });
        }
        match out.iter_mut().find(|(p, _)| p.unit == target.unit) {
            Some((_, prefixes)) => prefixes.push(proxy.prefix.clone()),
            None => out.push((target, vec![proxy.prefix.clone()])),
        }
    }
    Ok(out)
}

/// Build-time variables that tell a front end where its backend lives (`REACT_APP_BACKEND_URL`,
/// `VITE_API_URL`…: read by the front end at `front_path`, named `…BACKEND_URL`, `…API_URL`,
/// `…API_BASE_URL` or `…SERVER_URL`): when the front end and its server units share the origin,
/// each the owner has not set becomes `""`, so `${URL}/api/…` is a same-origin path — not the
/// builder's preview host a committed `.env` may name. Returns the values and a note for each.
pub(super) fn same_origin_env(
    vars: &[ferry_inspect::report::EnvVar],
    front_path: &str,
    owner: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let prefix = if front_path == "." {
        String::new()
    } else {
        format!("{}/", front_path.trim_end_matches('/'))
    };
    let mut values = BTreeMap::new();
    let mut notes = Vec::new();
    for var in vars {
        let name = var.name.as_str();
        let backend_url = ["BACKEND_URL", "API_URL", "API_BASE_URL", "SERVER_URL"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        let read_by_front = var.read_at.iter().any(|at| at.starts_with(&prefix));
        if var.phase != ferry_inspect::report::EnvPhase::Build
            || !backend_url
            || !read_by_front
            || owner.contains_key(name)
        {
            continue;
        }
        values.insert(name.to_string(), String::new());
        notes.push(format!(
            "`{name}` is set to \"\" for the build: the front end reaches its backend on its own origin (set it with `ferry env set` to override)"
        ));
    }
    (values, notes)
}

/// Adds a server unit's built tree to the release's files under `_ferry/units/<unit>/` (links
/// moved with it); refuses a front end whose own files already use `_ferry/`.
pub(super) fn add_unit_tree(
    files: &mut BTreeMap<String, (PathBuf, ferry_release::FileEntry)>,
    unit: &str,
    tree: BTreeMap<String, (PathBuf, ferry_release::FileEntry)>,
) -> Result<(), Failure> {
    if let Some(clash) = files
        .keys()
        .find(|k| k.starts_with(ferry_release::PRIVATE_DIR))
    {
        return Err(Failure {
            code: "reserved-path",
            message: format!(
                "the front end's build output holds `{clash}`; `_ferry/` is where ferry keeps the server units of a release"
            ),
            hint: "rename that folder of the build output".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let base = format!("{}/{unit}", ferry_release::UNITS_DIR);
    for (path, (abs, mut entry)) in tree {
        if let Some(to) = entry.link.take() {
            entry.link = Some(format!("{base}/{to}"));
        }
        files.insert(format!("{base}/{path}"), (abs, entry));
    }
    Ok(())
}

/// The backend of a release made of a static front end and the server units it routes to:
/// each unit's processes run from its tree under `_ferry/units/<unit>/`, named
/// `<unit>.<process>`; each unit's first process answers its prefixes.
pub(super) fn units_backend(
    units: &[(&BuildPlan, Vec<String>, &BTreeMap<String, u16>)],
) -> Result<Backend, Failure> {
    let mut processes = Vec::new();
    let mut runtime_env: Vec<String> = Vec::new();
    for (plan, routes, fixed) in units {
        let prefix = format!("{}/{}", ferry_release::UNITS_DIR, plan.unit);
        processes.extend(process_entries(plan, fixed, &prefix, true, routes)?);
        runtime_env.extend(plan.env.runtime.iter().cloned());
    }
    runtime_env.sort();
    runtime_env.dedup();
    if processes.len() > ferry_release::MAX_PROCESSES {
        return Err(Failure {
            code: "too-many-processes",
            message: format!(
                "the release would run {} processes (at most {})",
                processes.len(),
                ferry_release::MAX_PROCESSES
            ),
            hint: "deploy fewer server units together".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    Ok(Backend::Processes(ProcessesBackend {
        unit: units
            .first()
            .map(|(p, _, _)| p.unit.clone())
            .unwrap_or_default(),
        processes,
        runtime_env,
    }))
}

/// Whether `p`'s start command, or the package script it runs (`npm run start`, `yarn dev`…),
/// passes `$<port_env>` to the program.
fn start_passes_port(source_root: &Path, p: &ferry_inspect::profile::Process) -> bool {
    let package = source_root.join(&p.command.cwd).join("package.json");
    ferry_inspect::findings::port::start_passes_env(&p.command.run, &p.port_env, |name| {
        let text = std::fs::read_to_string(&package).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        doc["scripts"][name].as_str().map(str::to_string)
    })
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
    fn a_start_command_handing_the_port_over_is_not_a_fixed_port() {
        let dir = tempfile::tempdir().expect("tmp");
        let process = |run: &str| ferry_inspect::profile::Process {
            name: "web".into(),
            command: ferry_inspect::profile::Command {
                run: run.into(),
                cwd: ".".into(),
            },
            port_env: "PORT".into(),
            port: Some(5000),
            health: None,
            limits: Default::default(),
        };
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"scripts":{"start":"next start -p $PORT","serve":"node server.js"}}"#,
        )
        .expect("write");
        assert!(start_passes_port(
            dir.path(),
            &process("uvicorn main:app --port $PORT")
        ));
        assert!(start_passes_port(
            dir.path(),
            &process("gunicorn app:app --bind 0.0.0.0:${PORT}")
        ));
        assert!(start_passes_port(dir.path(), &process("npm run start")));
        assert!(!start_passes_port(dir.path(), &process("npm run serve")));
        assert!(!start_passes_port(dir.path(), &process("node server.js")));
        assert!(!start_passes_port(
            dir.path(),
            &process("APP_PORT=$PORTAL x")
        ));
    }

    #[test]
    fn cwd_is_relative_to_the_unit() {
        assert_eq!(relative_to_unit(".", "."), ".");
        assert_eq!(relative_to_unit("server", "."), "server");
        assert_eq!(relative_to_unit("backend", "backend"), ".");
        assert_eq!(relative_to_unit("backend/app", "backend"), "app");
    }
}

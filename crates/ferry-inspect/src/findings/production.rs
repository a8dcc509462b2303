//! What stands between the app and production: lockfiles, start commands, tests.

use super::port::{self, PortUse};
use super::{Facts, finding};
use crate::builder::re;
use crate::profile::{Process, Unit, UnitKind};
use crate::report::{Finding, FindingCategory::Production, Severity};
use crate::tree::join;

const NODE_LOCKFILES: &[&str] = &[
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
];

pub(super) fn findings(f: &Facts, out: &mut Vec<Finding>) {
    lockfiles(f, out);
    dev_server(f, out);
    fixed_port(f, out);
    tests(f, out);
}

fn lockfiles(f: &Facts, out: &mut Vec<Finding>) {
    let mut seen = std::collections::BTreeSet::new();
    for unit in f.units {
        let Some(install) = &unit.install else {
            continue;
        };
        let node = unit
            .package_manager
            .is_some_and(|pm| matches!(pm.as_str(), "npm" | "pnpm" | "yarn" | "bun"));
        if !node || !seen.insert(install.cwd.clone()) {
            continue;
        }
        let present: Vec<String> = NODE_LOCKFILES
            .iter()
            .map(|l| join(&install.cwd, l))
            .filter(|p| f.ctx.tree.has_file(p))
            .collect();
        if present.is_empty() {
            out.push(finding(
                "no-lockfile",
                Production,
                Severity::Medium,
                format!(
                    "Unit `{}` has no lockfile: every install may resolve different versions",
                    unit.name
                ),
                vec![join(&install.cwd, "package.json")],
                format!(
                    "Run `{} install` once and commit the lockfile",
                    unit.package_manager.map_or("npm", |p| p.as_str())
                ),
                None,
            ));
        } else if present.len() > 1 {
            out.push(finding(
                "conflicting-lockfiles",
                Production,
                Severity::Low,
                format!(
                    "Unit `{}` has {} lockfiles that can disagree",
                    unit.name,
                    present.len()
                ),
                present,
                "Keep the lockfile of the package manager you use and delete the others",
                None,
            ));
        }
    }
}

/// A start command that runs a development server.
pub fn is_dev_server(command: &str) -> bool {
    re(concat!(
        r"(?:^|[\s;&|(])(?:",
        r"vite(?:\s+(?:dev|serve))?\s*(?:$|[;&|]|--)",
        r"|next\s+dev\b|nuxt\s+dev\b|astro\s+dev\b|ng\s+serve\b",
        r"|(?:npm|yarn|pnpm|bun)\s+(?:run\s+)?dev\b",
        r"|nodemon\b|tsx\s+watch\b|ts-node-dev\b|react-scripts\s+start\b|craco\s+start\b",
        r"|flask\s+run\b|uvicorn\b[^;&|]*--reload",
        r")",
    ))
    .is_match(command)
}

fn dev_server(f: &Facts, out: &mut Vec<Finding>) {
    for unit in f.units {
        for process in &unit.processes {
            let mut command = process.command.run.clone();
            let script = process.command.run.strip_suffix(" run start").is_some();
            if script && let Ok(Some(pkg)) = f.ctx.package_json(&unit.path) {
                command = pkg.scripts.get("start").cloned().unwrap_or(command);
            }
            if is_dev_server(&command) {
                out.push(finding(
                    "dev-server-start",
                    Production,
                    Severity::High,
                    format!("Unit `{}` starts a development server (`{command}`)", unit.name),
                    vec![join(&unit.path, "package.json")],
                    "Build once and start the production server (`node dist/index.js`, `next start`, `gunicorn`…)",
                    None,
                ));
            }
        }
    }
    if let Some(replit) = &f.ctx.replit
        && let (Some(run), None) = (&replit.run, &replit.deployment_run)
        && is_dev_server(run)
    {
        out.push(finding(
            "dev-server-start",
            Production,
            Severity::High,
            format!("`.replit` runs a development server (`{run}`) and has no `[deployment] run`"),
            vec![".replit".into()],
            "Add a production start command (`[deployment] run`, or a `start` script)",
            None,
        ));
    }
}

/// A server process whose code binds a fixed port and never reads its port variable: ferry
/// patches the build copy when one literal binding can be rewritten (`ferry_compat::port`),
/// else each deploy is stop-start (docs/server-apps.md, "Apps that ignore PORT").
fn fixed_port(f: &Facts, out: &mut Vec<Finding>) {
    for unit in f.units.iter().filter(|u| u.kind == UnitKind::Server) {
        let prefix = format!("{}/", unit.path.trim_end_matches('/'));
        let files: Vec<(&str, &str)> = f
            .sources
            .code()
            .filter(|s| unit.path == "." || s.path.starts_with(&prefix))
            .map(|s| (s.path.as_str(), s.text.as_str()))
            .collect();
        for process in &unit.processes {
            if start_reads_env(f, process) {
                continue;
            }
            let env = &process.port_env;
            match port::analyse(files.iter().copied(), env) {
                PortUse::ReadsEnv(_) => {}
                PortUse::Fixed { file, binding } if process.port.is_none_or(|p| p == binding.port) => {
                    let text = files.iter().find(|(p, _)| *p == file).map_or("", |(_, t)| t);
                    let reuse = if port::reuse_port_true(text).is_empty() {
                        ""
                    } else {
                        " and turns `reusePort` off (two releases never share a port)"
                    };
                    out.push(finding(
                        "fixed-port",
                        Production,
                        Severity::Low,
                        title(unit, process, binding.port),
                        vec![format!("{file}:{}", binding.line)],
                        fix(env, binding.port),
                        Some(&format!(
                            "ferry patches the build copy of `{file}` (never your repository) so the port comes from ${env} ({} only when it is unset){reuse}: each release gets its own port and deploys stay zero-downtime (blue/green)",
                            binding.port
                        )),
                    ));
                }
                PortUse::Fixed { file, binding } => out.push(finding(
                    "fixed-port",
                    Production,
                    Severity::Medium,
                    title(unit, process, binding.port),
                    vec![format!("{file}:{}", binding.line)],
                    fix(env, binding.port),
                    Some(&format!(
                        "the code binds {} but the unit's port is {}, so ferry does not patch it; {}",
                        binding.port,
                        process.port.unwrap_or(binding.port),
                        stop_start()
                    )),
                )),
                PortUse::Ambiguous(sites) => {
                    let (severity, title, fix, ferry) = match process.port {
                        Some(p) => (
                            Severity::Medium,
                            title(unit, process, p),
                            fix(env, p),
                            format!(
                                "several fixed ports are bound, so ferry patches none; {}",
                                stop_start()
                            ),
                        ),
                        None => (
                            Severity::High,
                            format!(
                                "Process `{}` of unit `{}` binds several fixed ports and never reads ${env}",
                                process.name, unit.name
                            ),
                            format!(
                                "Listen on the port in the environment (`Number(process.env.{env})`) in the server that answers the app"
                            ),
                            format!(
                                "ferry cannot tell which port serves the app, so it patches none and a deploy waits for the app on ${env}: it fails its health check"
                            ),
                        ),
                    };
                    out.push(finding(
                        "fixed-port",
                        Production,
                        severity,
                        title,
                        sites,
                        fix,
                        Some(&ferry),
                    ));
                }
                PortUse::Unknown => {
                    let Some(p) = process.port else {
                        continue;
                    };
                    out.push(finding(
                        "fixed-port",
                        Production,
                        Severity::Medium,
                        title(unit, process, p),
                        vec![format!(
                            "{}: port {p} detected, no file reads ${env}",
                            unit.path
                        )],
                        format!(
                            "Hand ${env} to the server in its start command (`--port ${env}`), or read it in code (`process.env.{env}`)"
                        ),
                        Some(&format!(
                            "ferry finds no binding it can patch safely; {}",
                            stop_start()
                        )),
                    ));
                }
            }
        }
    }
}

fn title(unit: &Unit, process: &Process, port: u16) -> String {
    format!(
        "Process `{}` of unit `{}` listens on port {port} whatever ${} says",
        process.name, unit.name, process.port_env
    )
}

fn fix(env: &str, port: u16) -> String {
    format!(
        "Listen on the port in the environment: `const port = Number(process.env.{env}) || {port};` (and drop `reusePort: true`)"
    )
}

fn stop_start() -> &'static str {
    "each deploy is stop-start: the live release stops before the new one starts, so the app is down for about its start-to-healthy time (measured at each deploy and shown by `ferry deploy`)"
}

/// Whether the process's start command (or the package script it runs) passes the port
/// variable to the program (`--port $PORT`).
fn start_reads_env(f: &Facts, process: &Process) -> bool {
    port::start_passes_env(&process.command.run, &process.port_env, |name| {
        f.ctx
            .package_json(&process.command.cwd)
            .ok()
            .flatten()
            .and_then(|pkg| pkg.scripts.get(name).cloned())
    })
}

fn tests(f: &Facts, out: &mut Vec<Finding>) {
    let test_file =
        re(r"(?:^|/)(?:[^/]+\.(?:test|spec)\.[cm]?[jt]sx?|test_[^/]+\.py|[^/]+_test\.py)$");
    let has_files = f.ctx.tree.files().any(|p| {
        test_file.is_match(p)
            || p.contains("__tests__/")
            || p.starts_with("tests/")
            || p.contains("/tests/")
            || p.starts_with("test/")
            || p.contains("/test/")
    });
    let has_script = f.units.iter().any(|u| {
        f.ctx
            .package_json(&u.path)
            .ok()
            .flatten()
            .and_then(|p| p.scripts.get("test").cloned())
            .is_some_and(|s| !s.contains("no test specified"))
    });
    if !has_files && !has_script && !f.units.is_empty() {
        out.push(finding(
            "no-tests",
            Production,
            Severity::Low,
            "No tests: nothing tells you a change broke the app before users do",
            vec!["no *.test.*, *.spec.*, tests/ or test_*.py files, and no `test` script".into()],
            "Add a smoke test of the main flows (e.g. Playwright against the built app)",
            None,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::is_dev_server;

    #[test]
    fn dev_servers_are_recognised() {
        for dev in [
            "vite",
            "vite dev",
            "vite --host",
            "next dev",
            "npm run dev",
            "nodemon server.js",
            "tsx watch server/index.ts",
            "uvicorn main:app --reload",
            "flask run",
        ] {
            assert!(is_dev_server(dev), "{dev}");
        }
        for prod in [
            "vite build",
            "vite preview",
            "next start",
            "node dist/index.js",
            "NODE_ENV=production node dist/index.js",
            "gunicorn main:app",
            "uvicorn main:app --host 0.0.0.0",
        ] {
            assert!(!is_dev_server(prod), "{prod}");
        }
    }
}

//! What stands between the app and production: lockfiles, start commands, tests.

use super::{Facts, finding};
use crate::builder::re;
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

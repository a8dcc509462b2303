//! Deployable units: discovery (workspaces, conventional folders), per-ecosystem analysis,
//! and the merge with `ferry.toml` (docs/detection.md, "Units").

mod node;
mod python;
mod runtime;

use std::collections::BTreeSet;

use crate::context::Ctx;
use crate::error::InspectError;
use crate::manifest::{Manifest, ManifestUnit, normalize};
use crate::plan::command;
use crate::profile::{Process, Proxy, Unit, UnitKind};
use crate::tree::join;

/// Conventional sub-folders that may hold their own unit.
pub const CONVENTIONAL_DIRS: &[&str] = &["frontend", "backend", "client", "server", "web", "api"];

/// What `.replit` says that detection uses.
#[derive(Debug, Clone, Default)]
pub struct ReplitConfig {
    /// `modules = [...]`.
    pub modules: Vec<String>,
    /// `[[ports]] localPort`, in order.
    pub local_ports: Vec<u16>,
    /// `run`: what the workspace's Run button does.
    pub run: Option<String>,
    /// `[deployment] run`: what a Replit deployment starts.
    pub deployment_run: Option<String>,
}

/// Parses the text of a `.replit` file.
pub fn parse_replit(text: &str) -> Result<ReplitConfig, InspectError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| InspectError::MalformedFile {
        file: ".replit".into(),
        format: "TOML",
        detail: crate::manifest::one_line(&err.to_string()),
    })?;
    let modules = table
        .get("modules")
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let local_ports = table
        .get("ports")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("localPort")?.as_integer())
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default();
    let run = command_text(table.get("run"));
    let deployment_run = table
        .get("deployment")
        .and_then(|d| d.get("run"))
        .and_then(|r| command_text(Some(r)));
    Ok(ReplitConfig {
        modules,
        local_ports,
        run,
        deployment_run,
    })
}

/// `run = "npm run dev"` or `run = ["npm", "run", "dev"]` as one string.
fn command_text(value: Option<&toml::Value>) -> Option<String> {
    match value? {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// Finds the units: from `ferry.toml` when it declares any, else by detection.
pub fn discover(ctx: &Ctx, manifest: Option<&Manifest>) -> Result<Vec<Unit>, InspectError> {
    let declared = manifest.map(|m| m.units.as_slice()).unwrap_or_default();
    let workspace = workspace_members(ctx)?;
    let mut units = if declared.is_empty() {
        detect_all(ctx, &workspace)?
    } else {
        let mut out = Vec::new();
        for d in declared {
            let path = normalize(d.path.as_deref().unwrap_or("."));
            if !ctx.tree.has_dir(&path) {
                return Err(InspectError::InvalidManifest {
                    detail: format!("unit path `{path}` is not a folder of the app"),
                });
            }
            let ws_root = workspace.contains(&path).then_some("");
            let detected = analyze(ctx, &path, ws_root)?;
            out.push(apply(detected, d, &path));
        }
        out
    };
    name_units(&mut units);
    Ok(units)
}

fn detect_all(ctx: &Ctx, workspace: &BTreeSet<String>) -> Result<Vec<Unit>, InspectError> {
    let mut units = Vec::new();
    if !workspace.is_empty() {
        for member in workspace {
            if member == "artifacts/mockup-sandbox" {
                continue;
            }
            if let Some(d) = node::analyze(ctx, member, Some(""))? {
                units.push(d);
            }
        }
        if let Some(d) = analyze_root_in_workspace(ctx)? {
            units.insert(0, d);
        }
        return Ok(units);
    }
    let mut subs = Vec::new();
    for dir in CONVENTIONAL_DIRS {
        if !ctx.tree.has_dir(dir) {
            continue;
        }
        if let Some(d) = analyze_own_manifest(ctx, dir)? {
            subs.push(d);
        }
    }
    if let Some(root) = analyze_root(ctx, !subs.is_empty())? {
        units.push(root);
    }
    subs.sort_by(|a, b| a.path.cmp(&b.path));
    units.extend(subs);
    if units.is_empty() {
        ctx.warn("no deployable unit found: no package.json, Python project or index.html");
    }
    Ok(units)
}

/// A conventional folder is a unit only when it has its own manifest.
fn analyze_own_manifest(ctx: &Ctx, dir: &str) -> Result<Option<Unit>, InspectError> {
    if ctx.tree.has_file(&join(dir, "package.json")) {
        return node::analyze(ctx, dir, None);
    }
    if python::is_project(ctx, dir) {
        return python::analyze(ctx, dir);
    }
    Ok(None)
}

fn analyze_root(ctx: &Ctx, has_subunits: bool) -> Result<Option<Unit>, InspectError> {
    if ctx.root_pkg.is_some() {
        // With sub-units, a root package without a framework only runs scripts for them.
        match node::analyze(ctx, ".", None)? {
            Some(d) if !(has_subunits && d.framework.is_none()) => return Ok(Some(d)),
            Some(_) => return Ok(None),
            None if has_subunits => return Ok(None),
            None => {}
        }
    }
    if python::is_project(ctx, ".") {
        return python::analyze(ctx, ".");
    }
    if !has_subunits && ctx.root_pkg.is_none() && ctx.tree.has_file("index.html") {
        return Ok(Some(static_site(".")));
    }
    Ok(None)
}

fn analyze_root_in_workspace(ctx: &Ctx) -> Result<Option<Unit>, InspectError> {
    match node::analyze(ctx, ".", Some(""))? {
        Some(d) if d.framework.is_some() => Ok(Some(d)),
        _ => Ok(None),
    }
}

/// Analyzes the unit at `path`, whatever its ecosystem.
fn analyze(ctx: &Ctx, path: &str, ws_root: Option<&str>) -> Result<Option<Unit>, InspectError> {
    if ctx.tree.has_file(&join(path, "package.json"))
        && let Some(d) = node::analyze(ctx, path, ws_root)?
    {
        return Ok(Some(d));
    }
    if python::is_project(ctx, path) {
        return python::analyze(ctx, path);
    }
    if ctx.tree.has_file(&join(path, "index.html")) {
        return Ok(Some(static_site(path)));
    }
    Ok(None)
}

/// A static unit at `path` with nothing detected yet.
fn bare_unit(path: &str) -> Unit {
    Unit {
        name: String::new(),
        path: path.into(),
        kind: UnitKind::Static,
        framework: None,
        package_manager: None,
        runtime: None,
        install: None,
        build: None,
        output: ".".into(),
        spa: false,
        processes: Vec::new(),
        proxies: Vec::new(),
        evidence: Vec::new(),
        declared: false,
    }
}

fn static_site(path: &str) -> Unit {
    Unit {
        framework: Some("static".into()),
        evidence: vec![format!(
            "{}: no manifest, served as files",
            join(path, "index.html")
        )],
        ..bare_unit(path)
    }
}

/// Applies a `[[unit]]` from `ferry.toml` over what detection found at its path.
fn apply(detected: Option<Unit>, d: &ManifestUnit, path: &str) -> Unit {
    let mut unit = detected.unwrap_or_else(|| bare_unit(path));
    unit.declared = true;
    unit.evidence.push("ferry.toml".into());
    if let Some(name) = &d.name {
        unit.name = name.clone();
    }
    if let Some(kind) = d.kind {
        unit.kind = kind;
    }
    if let Some(fw) = &d.framework {
        unit.framework = Some(fw.clone());
    }
    let cwd_install = unit
        .install
        .as_ref()
        .map(|c| c.cwd.clone())
        .unwrap_or_else(|| path.into());
    if let Some(install) = &d.install {
        unit.install = (!install.trim().is_empty()).then(|| command(install.clone(), &cwd_install));
    }
    if let Some(build) = &d.build {
        unit.build = (!build.trim().is_empty()).then(|| command(build.clone(), path));
    }
    if let Some(output) = &d.output {
        unit.output = normalize(output);
    }
    if let Some(spa) = d.spa {
        unit.spa = spa;
    }
    if !d.processes.is_empty() {
        let detected_port = unit.processes.first().and_then(|p| p.port);
        unit.processes = d
            .processes
            .iter()
            .map(|p| Process {
                name: p.name.clone().unwrap_or_else(|| "web".into()),
                command: command(p.command.clone(), path),
                port_env: p.port_env.clone().unwrap_or_else(|| "PORT".into()),
                port: detected_port,
                health: p.health.clone(),
                limits: p.limits,
            })
            .collect();
    }
    if unit.kind == UnitKind::Static {
        unit.processes.clear();
    }
    unit.proxies = d
        .proxies
        .iter()
        .map(|p| Proxy {
            prefix: p.prefix.clone(),
            to: p.to.clone(),
        })
        .collect();
    unit
}

/// Names units that `ferry.toml` did not name: `web` for the root, else the folder's name
/// (its whole path on a clash).
fn name_units(units: &mut [Unit]) {
    let base = |u: &Unit| -> String {
        if u.path == "." {
            "web".into()
        } else {
            crate::naming::slug(u.path.rsplit('/').next().unwrap_or(&u.path))
        }
    };
    let auto: Vec<String> = units.iter().map(base).collect();
    let taken: BTreeSet<String> = units
        .iter()
        .filter(|u| !u.name.is_empty())
        .map(|u| u.name.clone())
        .collect();
    for i in 0..units.len() {
        if !units[i].name.is_empty() {
            continue;
        }
        let clash = auto.iter().filter(|n| **n == auto[i]).count() > 1 || taken.contains(&auto[i]);
        units[i].name = if clash {
            crate::naming::slug(&units[i].path.replace('/', "-"))
        } else {
            auto[i].clone()
        };
    }
}

/// Workspace member folders declared by the root (npm/yarn/bun `workspaces`, `pnpm-workspace.yaml`).
fn workspace_members(ctx: &Ctx) -> Result<BTreeSet<String>, InspectError> {
    let mut patterns: Vec<String> = ctx
        .root_pkg
        .as_ref()
        .map(|p| p.workspaces.clone())
        .unwrap_or_default();
    if let Some(text) = ctx.tree.read("pnpm-workspace.yaml") {
        patterns.extend(pnpm_workspace_packages(&text)?);
    }
    let mut members = BTreeSet::new();
    let mut excluded = BTreeSet::new();
    for pattern in &patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        let target = if negated { &mut excluded } else { &mut members };
        for dir in expand(ctx, pattern) {
            if ctx.tree.has_file(&join(&dir, "package.json")) {
                target.insert(dir);
            }
        }
    }
    members.retain(|m| !excluded.contains(m) && m != ".");
    for m in &members {
        // Surface malformed member manifests now, naming the file.
        ctx.package_json(m)?;
    }
    Ok(members)
}

/// Expands `dir/*`, `dir/**` and exact folder patterns against the tree.
fn expand(ctx: &Ctx, pattern: &str) -> Vec<String> {
    let pattern = normalize(pattern.trim_end_matches('/'));
    if let Some(base) = pattern.strip_suffix("/**") {
        let prefix = format!("{base}/");
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        for file in ctx.tree.files_under(base) {
            if let Some(dir) = file.strip_suffix("/package.json")
                && dir.starts_with(&prefix)
            {
                dirs.insert(dir.to_string());
            }
        }
        return dirs.into_iter().collect();
    }
    if let Some(base) = pattern.strip_suffix("/*") {
        return ctx.tree.child_dirs(base).map(|d| join(base, d)).collect();
    }
    if pattern == "*" {
        return ctx.tree.child_dirs("").map(str::to_string).collect();
    }
    if ctx.tree.has_dir(&pattern) {
        return vec![pattern];
    }
    Vec::new()
}

/// Reads the `packages:` list of a `pnpm-workspace.yaml` (the subset pnpm documents).
fn pnpm_workspace_packages(text: &str) -> Result<Vec<String>, InspectError> {
    let mut out = Vec::new();
    let mut in_packages = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t') || line.starts_with('-');
        if !indented {
            in_packages = line.trim() == "packages:";
            if !in_packages && !line.contains(':') {
                return Err(InspectError::MalformedFile {
                    file: "pnpm-workspace.yaml".into(),
                    format: "YAML",
                    detail: format!("line {}: expected `key:`", i + 1),
                });
            }
            continue;
        }
        if in_packages {
            let Some(item) = line.trim().strip_prefix('-') else {
                return Err(InspectError::MalformedFile {
                    file: "pnpm-workspace.yaml".into(),
                    format: "YAML",
                    detail: format!(
                        "line {}: expected a `- 'glob'` list item under `packages:`",
                        i + 1
                    ),
                });
            };
            out.push(item.trim().trim_matches(['\'', '"']).to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::pnpm_workspace_packages;

    #[test]
    fn reads_pnpm_workspace_globs() {
        let text = "packages:\n  - 'artifacts/*'\n  - \"lib/*\" # libraries\n  - '!lib/tmp'\ncatalog:\n  react: ^19\n";
        assert_eq!(
            pnpm_workspace_packages(text).expect("valid"),
            ["artifacts/*", "lib/*", "!lib/tmp"]
        );
        assert!(pnpm_workspace_packages("packages:\n  artifacts/*\n").is_err());
    }
}

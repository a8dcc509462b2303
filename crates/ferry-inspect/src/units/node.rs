//! Node units: framework, kind, output, package manager and commands from package.json and
//! the framework's config files.

use super::runtime;
use crate::builder::{re, vite_config};
use crate::context::Ctx;
use crate::error::InspectError;
use crate::package_json::PackageJson;
use crate::plan::command;
use crate::profile::{PackageManager, Process, Unit, UnitKind};
use crate::tree::join;

/// What a framework implies.
struct Framework {
    id: &'static str,
    kind: UnitKind,
    output: String,
    spa: bool,
    why: String,
}

/// Analyzes the package at `path`. `ws_root` is the workspace root when `path` is a member.
pub(super) fn analyze(
    ctx: &Ctx,
    path: &str,
    ws_root: Option<&str>,
) -> Result<Option<Unit>, InspectError> {
    // Parsed once per inspection, in the context.
    let Some(pkg) = ctx.package_json(path)? else {
        return Ok(None);
    };
    let pkg = &*pkg;
    let framework = framework(ctx, path, pkg)?;
    if framework.is_none() && !pkg.has_script("start") && !pkg.has_script("build") {
        return Ok(None);
    }
    let install_dir = ws_root.unwrap_or(path);
    let install_dir = if install_dir.is_empty() {
        "."
    } else {
        install_dir
    };
    let root_pkg = if install_dir == "." {
        ctx.root_pkg.as_deref()
    } else {
        None
    };
    let (pm, pm_why) = package_manager(ctx, install_dir, pkg, root_pkg);
    let mut evidence = vec![pm_why];
    let (kind, output, spa, fw_id) = match &framework {
        Some(fw) => {
            evidence.insert(0, fw.why.clone());
            (fw.kind, fw.output.clone(), fw.spa, Some(fw.id.to_string()))
        }
        None => (UnitKind::Static, "dist".to_string(), false, None),
    };
    let install = command(install_command(ctx, install_dir, pm), install_dir);
    let build = pkg
        .has_script("build")
        .then(|| command(format!("{} run build", pm.as_str()), path));
    if build.is_none() && kind == UnitKind::Static {
        ctx.warn(format!(
            "{}: no build script; `{}` would be served as is",
            pkg.file,
            join(path, &output)
        ));
    }
    let mut processes = Vec::new();
    if kind == UnitKind::Server {
        match pkg.has_script("start") {
            true => processes.push(Process {
                name: "web".into(),
                command: command(format!("{} run start", pm.as_str()), path),
                port_env: "PORT".into(),
                port: runtime::node_port(ctx, path, pkg),
                health: None,
            }),
            false => ctx.warn(format!(
                "{}: a server unit without a start script",
                pkg.file
            )),
        }
    }
    Ok(Some(Unit {
        name: String::new(),
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        kind,
        framework: fw_id,
        package_manager: Some(pm),
        runtime: runtime::node_version(ctx, path, pkg),
        install: Some(install),
        build,
        output,
        spa,
        processes,
        proxies: Vec::new(),
        evidence,
        declared: false,
    }))
}

fn framework(ctx: &Ctx, path: &str, pkg: &PackageJson) -> Result<Option<Framework>, InspectError> {
    let fw = |id: &'static str, kind, output: &str, spa, dep: &str| Framework {
        id,
        kind,
        output: output.into(),
        spa,
        why: format!("{}: `{dep}`", pkg.file),
    };
    let read_config = |names: &[&str]| -> String {
        ctx.tree
            .first_of(path, names)
            .and_then(|p| ctx.tree.read(&p))
            .unwrap_or_default()
    };
    if pkg.has_dep("next") {
        let config = read_config(&[
            "next.config.js",
            "next.config.mjs",
            "next.config.ts",
            "next.config.cjs",
        ]);
        return Ok(Some(
            if re(r#"output\s*:\s*["']export["']"#).is_match(&config) {
                fw("nextjs", UnitKind::Static, "out", false, "next")
            } else {
                fw("nextjs", UnitKind::Server, ".next", false, "next")
            },
        ));
    }
    if let Some(dep) = pkg.dep_with_prefix("@remix-run/") {
        return Ok(Some(fw("remix", UnitKind::Server, "build", false, dep)));
    }
    if pkg.has_dep("@react-router/dev") {
        let config = read_config(&["react-router.config.ts", "react-router.config.js"]);
        return Ok(Some(if re(r"ssr\s*:\s*false").is_match(&config) {
            fw(
                "react-router",
                UnitKind::Static,
                "build/client",
                true,
                "@react-router/dev",
            )
        } else {
            fw(
                "react-router",
                UnitKind::Server,
                "build",
                false,
                "@react-router/dev",
            )
        }));
    }
    if pkg.has_dep("@sveltejs/kit") {
        return Ok(Some(if pkg.has_dep("@sveltejs/adapter-static") {
            fw(
                "sveltekit",
                UnitKind::Static,
                "build",
                false,
                "@sveltejs/adapter-static",
            )
        } else {
            fw(
                "sveltekit",
                UnitKind::Server,
                "build",
                false,
                "@sveltejs/kit",
            )
        }));
    }
    if pkg.has_dep("astro") {
        let config = read_config(&["astro.config.mjs", "astro.config.ts", "astro.config.js"]);
        let server = re(r#"output\s*:\s*["']server["']"#).is_match(&config)
            || pkg.dep_with_prefix("@astrojs/node").is_some();
        let kind = if server {
            UnitKind::Server
        } else {
            UnitKind::Static
        };
        return Ok(Some(fw("astro", kind, "dist", false, "astro")));
    }
    if pkg.has_dep("nuxt") {
        return Ok(Some(fw("nuxt", UnitKind::Server, ".output", false, "nuxt")));
    }
    if pkg.has_dep("@angular/core") {
        let output = angular_output(ctx, path)?;
        return Ok(Some(fw(
            "angular",
            UnitKind::Static,
            &output,
            true,
            "@angular/core",
        )));
    }
    if pkg.has_dep("@craco/craco") {
        return Ok(Some(fw(
            "craco",
            UnitKind::Static,
            "build",
            true,
            "@craco/craco",
        )));
    }
    if pkg.has_dep("react-scripts") {
        return Ok(Some(fw(
            "cra",
            UnitKind::Static,
            "build",
            true,
            "react-scripts",
        )));
    }
    let server_fw = ["express", "fastify", "hono"]
        .into_iter()
        .find(|d| pkg.has_dep(d));
    let server_output = if pkg.has_script("build") { "dist" } else { "." };
    if let Some(dep) = server_fw
        && pkg.has_script("start")
    {
        return Ok(Some(fw(dep, UnitKind::Server, server_output, false, dep)));
    }
    if pkg.has_dep("vite") {
        let (id, dep) = if pkg.has_dep("react") {
            ("vite-react", "react")
        } else if pkg.has_dep("vue") {
            ("vite-vue", "vue")
        } else if pkg.has_dep("svelte") {
            ("vite-svelte", "svelte")
        } else {
            ("vite", "vite")
        };
        let output = vite_out_dir(ctx, path).unwrap_or_else(|| "dist".into());
        let mut f = fw(id, UnitKind::Static, &output, true, "vite");
        f.why = format!("{}: `vite` with `{dep}`", pkg.file);
        return Ok(Some(f));
    }
    if let Some(dep) = server_fw {
        return Ok(Some(fw(dep, UnitKind::Server, server_output, false, dep)));
    }
    if pkg.has_script("start") {
        let mut f = fw("node", UnitKind::Server, ".", false, "start");
        f.why = format!("{}: a `start` script", pkg.file);
        return Ok(Some(f));
    }
    Ok(None)
}

/// `build.outDir` from the Vite config: a string literal, or the last string literal inside a
/// call such as `path.resolve(import.meta.dirname, "dist/public")`.
fn vite_out_dir(ctx: &Ctx, path: &str) -> Option<String> {
    let config = vite_config(ctx, path)?;
    let text = ctx.tree.read(&config)?;
    let start = re(r"outDir\s*:\s*").find(&text)?.end();
    let expr = expression(&text[start..]);
    let literal = re(r#"["'`]([^"'`]+)["'`]"#)
        .captures_iter(expr)
        .last()?
        .get(1)?
        .as_str()
        .to_string();
    let out = crate::manifest::normalize(literal.trim_start_matches("./"));
    (!out.split('/').any(|p| p == "..") && !out.starts_with('/')).then_some(out)
}

/// The text of one JavaScript expression at the start of `text`: up to the first `,`, `}` or
/// newline that is not inside parentheses, brackets or a string.
fn expression(text: &str) -> &str {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',' | '}' | '\n') if depth <= 0 => return &text[..i],
            _ => {}
        }
    }
    text
}

fn angular_output(ctx: &Ctx, path: &str) -> Result<String, InspectError> {
    let file = join(path, "angular.json");
    let Some(text) = ctx.tree.read(&file) else {
        return Ok("dist".into());
    };
    let json = crate::jsonc::parse(&text).map_err(|err| InspectError::MalformedFile {
        file: file.clone(),
        format: "JSON",
        detail: err.to_string(),
    })?;
    let projects = json.get("projects").and_then(|p| p.as_object());
    let Some((name, project)) = projects.and_then(|p| {
        let default = json.get("defaultProject").and_then(|d| d.as_str());
        default
            .and_then(|d| p.get_key_value(d))
            .or_else(|| p.iter().next())
    }) else {
        return Ok("dist".into());
    };
    let build = project.pointer("/architect/build");
    let builder = build
        .and_then(|b| b.get("builder"))
        .and_then(|b| b.as_str())
        .unwrap_or("");
    let application = builder.ends_with(":application");
    let output = build.and_then(|b| b.pointer("/options/outputPath"));
    Ok(match output {
        Some(serde_json::Value::String(s)) if application => {
            format!("{}/browser", crate::manifest::normalize(s))
        }
        Some(serde_json::Value::String(s)) => crate::manifest::normalize(s),
        Some(obj @ serde_json::Value::Object(_)) => {
            let base = obj.get("base").and_then(|b| b.as_str()).unwrap_or("dist");
            let browser = obj
                .get("browser")
                .and_then(|b| b.as_str())
                .unwrap_or("browser");
            crate::manifest::normalize(&join(base, browser))
        }
        _ => format!("dist/{name}"),
    })
}

const LOCKFILES: &[(&str, PackageManager)] = &[
    ("package-lock.json", PackageManager::Npm),
    ("pnpm-lock.yaml", PackageManager::Pnpm),
    ("yarn.lock", PackageManager::Yarn),
    ("bun.lock", PackageManager::Bun),
    ("bun.lockb", PackageManager::Bun),
];

fn package_manager(
    ctx: &Ctx,
    dir: &str,
    pkg: &PackageJson,
    root: Option<&PackageJson>,
) -> (PackageManager, String) {
    let field = pkg
        .package_manager
        .as_ref()
        .or(root.and_then(|r| r.package_manager.as_ref()));
    if let Some(field) = field {
        let name = field.split('@').next().unwrap_or("");
        let pm = LOCKFILES
            .iter()
            .map(|(_, pm)| *pm)
            .find(|pm| pm.as_str() == name);
        if let Some(pm) = pm {
            return (pm, format!("`packageManager: {field}`"));
        }
    }
    let present: Vec<&(&str, PackageManager)> = LOCKFILES
        .iter()
        .filter(|(file, _)| ctx.tree.has_file(&join(dir, file)))
        .collect();
    match present.as_slice() {
        [] => (PackageManager::Npm, "no lockfile: npm".into()),
        [(file, pm), rest @ ..] => {
            if !rest.is_empty() {
                let names: Vec<&str> = present.iter().map(|(f, _)| *f).collect();
                ctx.warn(format!(
                    "several lockfiles in `{dir}` ({}): using {}",
                    names.join(", "),
                    pm.as_str()
                ));
            }
            (*pm, join(dir, file).to_string())
        }
    }
}

fn install_command(ctx: &Ctx, dir: &str, pm: PackageManager) -> String {
    let has = |file: &str| ctx.tree.has_file(&join(dir, file));
    match pm {
        PackageManager::Npm if has("package-lock.json") => "npm ci".into(),
        PackageManager::Pnpm if has("pnpm-lock.yaml") => "pnpm install --frozen-lockfile".into(),
        PackageManager::Yarn if has("yarn.lock") => {
            let berry = has(".yarnrc.yml")
                || ctx
                    .tree
                    .read(&join(dir, "yarn.lock"))
                    .is_some_and(|t| t.contains("__metadata:"));
            if berry {
                "yarn install --immutable".into()
            } else {
                "yarn install --frozen-lockfile".into()
            }
        }
        PackageManager::Bun if has("bun.lock") || has("bun.lockb") => {
            "bun install --frozen-lockfile".into()
        }
        other => format!("{} install", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::expression;

    #[test]
    fn expressions_end_at_the_top_level_comma() {
        assert_eq!(expression("\"dist\", emptyOutDir: true"), "\"dist\"");
        assert_eq!(
            expression("path.resolve(import.meta.dirname, \"dist/public\"),\n"),
            "path.resolve(import.meta.dirname, \"dist/public\")"
        );
        assert_eq!(expression("'a,b' }"), "'a,b' ");
    }
}

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
    /// Next.js with `output: 'standalone'`: it runs `.next/standalone/server.js`.
    standalone: bool,
}

/// The standalone server of a Next.js build, which reads `PORT` and `HOSTNAME` (a container
/// often sets `HOSTNAME` to its own name, and the server would listen on that address only).
const NEXT_STANDALONE_START: &str = "HOSTNAME=0.0.0.0 node .next/standalone/server.js";

/// What Next's docs ask after a standalone build: the browser assets and `public/` beside the
/// server, which does not copy them itself.
const NEXT_STANDALONE_COPY: &str = "cp -R .next/static .next/standalone/.next/ && if [ -d public ]; then cp -R public .next/standalone/; fi";

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
    let standalone = framework.as_ref().is_some_and(|f| f.standalone);
    let build_script = match pkg.has_script("build") {
        true => Some(format!("{} run build", pm.as_str())),
        // A Next.js server cannot start without a build.
        false if fw_id.as_deref() == Some("nextjs") && kind == UnitKind::Server => {
            Some("node_modules/.bin/next build".into())
        }
        false => None,
    };
    let build = build_script.map(|b| match standalone {
        true => command(format!("{b} && {NEXT_STANDALONE_COPY}"), path),
        false => command(b, path),
    });
    if build.is_none() && kind == UnitKind::Static {
        ctx.warn(format!(
            "{}: no build script; `{}` would be served as is",
            pkg.file,
            join(path, &output)
        ));
    }
    let mut processes = Vec::new();
    if kind == UnitKind::Server {
        match start(ctx, path, pkg, pm, fw_id.as_deref(), standalone) {
            Some((run, port)) => processes.push(Process {
                name: "web".into(),
                command: command(run, path),
                port_env: "PORT".into(),
                port,
                health: None,
                limits: Default::default(),
            }),
            None => ctx.warn(format!(
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
        standalone: false,
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
        if re(r#"output\s*:\s*["']export["']"#).is_match(&config) {
            return Ok(Some(fw("nextjs", UnitKind::Static, "out", false, "next")));
        }
        let mut f = fw("nextjs", UnitKind::Server, ".next", false, "next");
        f.standalone = re(r#"output\s*:\s*["']standalone["']"#).is_match(&config);
        return Ok(Some(f));
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

/// How a server unit starts, and the port it fixes if any (docs/detection.md, "Start
/// commands"). The package's `start` script when there is one, run by its package manager;
/// Next.js adjusted so it always takes the assigned port; without a script, the framework's
/// own production server when it has one.
fn start(
    ctx: &Ctx,
    path: &str,
    pkg: &PackageJson,
    pm: PackageManager,
    framework: Option<&str>,
    standalone: bool,
) -> Option<(String, Option<u16>)> {
    let script = pkg.scripts.get("start");
    let run_start = format!("{} run start", pm.as_str());
    if framework == Some("nextjs") {
        if standalone {
            // Next itself says `next start` does not work with a standalone build.
            return Some((NEXT_STANDALONE_START.into(), None));
        }
        return Some(match script {
            // `next start` reads `PORT`, unless a flag fixes the port (`next start -p 3000`):
            // then a second `--port`, which wins in Next's command line, overrides it.
            Some(s) if s.contains("next start") => match runtime::script_port(s) {
                Some(_) => {
                    let pass = match pm {
                        PackageManager::Npm => " --",
                        _ => "",
                    };
                    (format!("{run_start}{pass} --port $PORT"), None)
                }
                None => (run_start, None),
            },
            // A custom server (`node server.js`): whatever its code does with the port.
            Some(_) => (run_start, runtime::node_port(ctx, path, pkg)),
            None => ("node_modules/.bin/next start".into(), None),
        });
    }
    if script.is_some() {
        return Some((run_start, runtime::node_port(ctx, path, pkg)));
    }
    let vite = vite_config(ctx, path).is_some();
    let default = match framework? {
        "remix" if pkg.has_dep("@remix-run/serve") => match vite {
            true => "node_modules/.bin/remix-serve ./build/server/index.js",
            false => "node_modules/.bin/remix-serve ./build/index.js",
        },
        "react-router" if pkg.has_dep("@react-router/serve") => {
            "node_modules/.bin/react-router-serve ./build/server/index.js"
        }
        "sveltekit" if pkg.has_dep("@sveltejs/adapter-node") => "node build",
        "sveltekit" => {
            ctx.warn(format!(
                "{}: SvelteKit without `@sveltejs/adapter-node` builds no server ferry can run; add the adapter",
                pkg.file
            ));
            return None;
        }
        "nuxt" => "node .output/server/index.mjs",
        "astro" if pkg.has_dep("@astrojs/node") => "node ./dist/server/entry.mjs",
        _ => return None,
    };
    Some((default.into(), None))
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
    use crate::context::Ctx;
    use crate::profile::{Unit, UnitKind};
    use crate::tree::Tree;

    /// The unit detected at the root of an app made of `files`, and the warnings.
    fn unit_of(files: &[(&str, &str)]) -> (Option<Unit>, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        let tree = Tree::walk(dir.path()).expect("walk");
        let ctx = Ctx::new(&tree, None, "app").expect("ctx");
        let unit = super::analyze(&ctx, ".", None).expect("analyze");
        (unit, ctx.take_warnings())
    }

    /// (build, start, fixed port) of a unit.
    fn commands(unit: &Unit) -> (String, String, Option<u16>) {
        let p = unit.processes.first();
        (
            unit.build
                .as_ref()
                .map(|c| c.run.clone())
                .unwrap_or_default(),
            p.map(|p| p.command.run.clone()).unwrap_or_default(),
            p.and_then(|p| p.port),
        )
    }

    fn package(deps: &str, scripts: &str) -> String {
        format!("{{\"name\":\"x\",\"scripts\":{{{scripts}}},\"dependencies\":{{{deps}}}}}")
    }

    #[test]
    fn next_start_takes_the_assigned_port() {
        let next = "\"next\":\"15.5.29\"";
        let (unit, _) = unit_of(&[(
            "package.json",
            &package(next, "\"build\":\"next build\",\"start\":\"next start\""),
        )]);
        let unit = unit.expect("unit");
        assert_eq!(unit.kind, UnitKind::Server);
        assert_eq!(
            commands(&unit),
            ("npm run build".into(), "npm run start".into(), None)
        );
        // A port fixed in the script: a later `--port` overrides it, per package manager.
        let script = "\"build\":\"next build\",\"start\":\"next start -p 3000\"";
        let (unit, _) = unit_of(&[
            ("package.json", &package(next, script)),
            ("package-lock.json", "{}"),
        ]);
        assert_eq!(
            commands(&unit.expect("unit")).1,
            "npm run start -- --port $PORT"
        );
        let (unit, _) = unit_of(&[
            ("package.json", &package(next, script)),
            ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
        ]);
        let (_, start, port) = commands(&unit.expect("unit"));
        assert_eq!(
            (start.as_str(), port),
            ("pnpm run start --port $PORT", None)
        );
        // A Replit port is not Next's port: `next start` reads PORT.
        let (unit, _) = unit_of(&[
            (
                "package.json",
                &package(next, "\"build\":\"next build\",\"start\":\"next start\""),
            ),
            (".replit", "[[ports]]\nlocalPort = 3000\n"),
        ]);
        assert_eq!(commands(&unit.expect("unit")).2, None);
        // No scripts at all: Next's own commands.
        let (unit, _) = unit_of(&[("package.json", &package(next, ""))]);
        assert_eq!(
            commands(&unit.expect("unit")),
            (
                "node_modules/.bin/next build".into(),
                "node_modules/.bin/next start".into(),
                None
            )
        );
        // A custom server keeps its script and its port detection.
        let (unit, _) = unit_of(&[
            (
                "package.json",
                &package(
                    next,
                    "\"build\":\"next build\",\"start\":\"node server.js\"",
                ),
            ),
            ("server.js", "app.listen(4000)\n"),
        ]);
        assert_eq!(
            commands(&unit.expect("unit")),
            ("npm run build".into(), "npm run start".into(), Some(4000))
        );
    }

    #[test]
    fn next_standalone_runs_its_server_with_its_assets() {
        let (unit, _) = unit_of(&[
            (
                "package.json",
                &package(
                    "\"next\":\"15.5.29\"",
                    "\"build\":\"next build\",\"start\":\"next start -p 3000\"",
                ),
            ),
            (
                "next.config.mjs",
                "const nextConfig = { output: 'standalone' };\nexport default nextConfig;\n",
            ),
        ]);
        let unit = unit.expect("unit");
        assert_eq!(unit.kind, UnitKind::Server);
        assert_eq!(unit.output, ".next");
        let (build, start, port) = commands(&unit);
        assert_eq!(
            build,
            "npm run build && cp -R .next/static .next/standalone/.next/ && if [ -d public ]; then cp -R public .next/standalone/; fi"
        );
        assert_eq!(start, "HOSTNAME=0.0.0.0 node .next/standalone/server.js");
        assert_eq!(port, None);
        // `output: 'export'` stays a static site.
        let (unit, _) = unit_of(&[
            (
                "package.json",
                &package("\"next\":\"15.5.29\"", "\"build\":\"next build\""),
            ),
            (
                "next.config.js",
                "module.exports = { output: \"export\" };\n",
            ),
        ]);
        let unit = unit.expect("unit");
        assert_eq!((unit.kind, unit.output.as_str()), (UnitKind::Static, "out"));
        assert!(unit.processes.is_empty());
    }

    #[test]
    fn frameworks_without_a_start_script_get_their_own_server() {
        let build = "\"build\":\"x build\"";
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("package.json", &package("\"nuxt\":\"^3\"", build))],
                "node .output/server/index.mjs",
            ),
            (
                &[(
                    "package.json",
                    &package(
                        "\"@sveltejs/kit\":\"^2\",\"@sveltejs/adapter-node\":\"^5\"",
                        build,
                    ),
                )],
                "node build",
            ),
            (
                &[
                    (
                        "package.json",
                        &package(
                            "\"@remix-run/node\":\"^2\",\"@remix-run/serve\":\"^2\"",
                            build,
                        ),
                    ),
                    ("vite.config.ts", "export default {}\n"),
                ],
                "node_modules/.bin/remix-serve ./build/server/index.js",
            ),
            (
                &[(
                    "package.json",
                    &package(
                        "\"@remix-run/node\":\"^2\",\"@remix-run/serve\":\"^2\"",
                        build,
                    ),
                )],
                "node_modules/.bin/remix-serve ./build/index.js",
            ),
            (
                &[(
                    "package.json",
                    &package(
                        "\"@react-router/dev\":\"^7\",\"@react-router/serve\":\"^7\"",
                        build,
                    ),
                )],
                "node_modules/.bin/react-router-serve ./build/server/index.js",
            ),
            (
                &[(
                    "package.json",
                    &package("\"astro\":\"^5\",\"@astrojs/node\":\"^9\"", build),
                )],
                "node ./dist/server/entry.mjs",
            ),
        ];
        for (files, want) in cases {
            let (unit, warnings) = unit_of(files);
            let unit = unit.expect("unit");
            assert_eq!(unit.kind, UnitKind::Server, "{want}");
            assert_eq!(commands(&unit).1, *want, "{warnings:?}");
            assert_eq!(commands(&unit).2, None, "{want}");
        }
        // SvelteKit with adapter-auto builds nothing to run: a warning says so.
        let (unit, warnings) = unit_of(&[(
            "package.json",
            &package(
                "\"@sveltejs/kit\":\"^2\",\"@sveltejs/adapter-auto\":\"^6\"",
                build,
            ),
        )]);
        assert!(unit.expect("unit").processes.is_empty());
        assert!(
            warnings.iter().any(|w| w.contains("adapter-node")),
            "{warnings:?}"
        );
    }

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

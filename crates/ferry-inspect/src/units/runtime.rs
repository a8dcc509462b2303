//! Runtime version hints and listening ports.

use crate::builder::re;
use crate::context::Ctx;
use crate::package_json::PackageJson;
use crate::profile::Runtime;
use crate::tree::join;

/// Node major version from `.nvmrc`, `.node-version`, `engines.node` or `.replit` modules
/// (the unit's folder first, then the root).
pub(super) fn node_version(ctx: &Ctx, path: &str, pkg: &PackageJson) -> Option<Runtime> {
    let dirs: Vec<&str> = if path == "." {
        vec!["."]
    } else {
        vec![path, "."]
    };
    for dir in &dirs {
        for file in [".nvmrc", ".node-version"] {
            let file = join(dir, file);
            if let Some(v) = ctx.tree.read(&file).as_deref().and_then(first_number) {
                return Some(node(v, file));
            }
        }
    }
    if let Some(v) = pkg.engines_node.as_deref().and_then(first_number) {
        return Some(node(v, format!("{} engines.node", pkg.file)));
    }
    if let Some(config) = &ctx.replit {
        for module in &config.modules {
            if let Some(v) = module.strip_prefix("nodejs-").and_then(first_number) {
                return Some(node(v, ".replit modules".into()));
            }
        }
    }
    None
}

fn node(version: String, from: String) -> Runtime {
    Runtime {
        name: "node".into(),
        version,
        from,
    }
}

/// Python major.minor from `.python-version`, `runtime.txt`, `requires-python` or `.replit`.
pub(super) fn python_version(ctx: &Ctx, path: &str) -> Option<Runtime> {
    let minor = re(r"(\d+)\.(\d+)");
    let python = |text: &str, from: String| {
        minor.captures(text).map(|c| Runtime {
            name: "python".into(),
            version: format!("{}.{}", &c[1], &c[2]),
            from,
        })
    };
    let dirs: Vec<&str> = if path == "." {
        vec!["."]
    } else {
        vec![path, "."]
    };
    for dir in &dirs {
        for file in [".python-version", "runtime.txt"] {
            let file = join(dir, file);
            if let Some(r) = ctx.tree.read(&file).and_then(|t| python(&t, file.clone())) {
                return Some(r);
            }
        }
        let pyproject = join(dir, "pyproject.toml");
        if let Some(text) = ctx.tree.read(&pyproject) {
            let requires = re(r#"requires-python\s*=\s*["']([^"']+)["']"#);
            if let Some(r) = requires
                .captures(&text)
                .and_then(|c| python(&c[1], format!("{pyproject} requires-python")))
            {
                return Some(r);
            }
        }
    }
    if let Some(config) = &ctx.replit {
        for module in &config.modules {
            if let Some(r) = module
                .strip_prefix("python-")
                .and_then(|v| python(v, ".replit modules".into()))
            {
                return Some(r);
            }
        }
    }
    None
}

/// The first run of digits in `text`, e.g. `v20.11.1` → `20`, `>=18.17` → `18`.
fn first_number(text: &str) -> Option<String> {
    re(r"(\d+)").captures(text).map(|c| c[1].to_string())
}

/// Entry files a Node server usually starts from.
const SERVER_ENTRIES: &[&str] = &[
    "server/index.ts",
    "server/index.js",
    "server.ts",
    "server.js",
    "src/server.ts",
    "src/server.js",
    "src/index.ts",
    "src/index.js",
    "index.ts",
    "index.js",
    "app.js",
    "app.ts",
];

/// The port a command line fixes with `--port N`, `--port=N` or `-p N`, if any.
pub(super) fn script_port(script: &str) -> Option<u16> {
    re(r"(?:--port[= ]|-p )(\d{2,5})\b")
        .captures(script)
        .and_then(|c| c[1].parse().ok())
}

/// The port a Node server listens on, if the code or config fixes one.
pub(super) fn node_port(ctx: &Ctx, path: &str, pkg: &PackageJson) -> Option<u16> {
    if let Some(p) = pkg.scripts.get("start").and_then(|s| script_port(s)) {
        return Some(p);
    }
    if path == "."
        && let Some(config) = &ctx.replit
        && let Some(p) = config.local_ports.first()
    {
        return Some(*p);
    }
    let in_code = re(r#"(?:\.listen\(\s*(\d{2,5})\b|PORT\s*(?:\|\||\?\?)\s*["']?(\d{2,5})\b)"#);
    let mut entries: Vec<String> = SERVER_ENTRIES.iter().map(|e| join(path, e)).collect();
    if let Some(main) = &pkg.main {
        entries.insert(0, join(path, main.trim_start_matches("./")));
    }
    for entry in entries {
        let Some(text) = ctx.tree.read(&entry) else {
            continue;
        };
        if let Some(c) = in_code.captures(&text) {
            let port = c
                .get(1)
                .or_else(|| c.get(2))
                .and_then(|m| m.as_str().parse().ok());
            if port.is_some() {
                return port;
            }
        }
    }
    None
}

/// The port a Python server names (`--port N`, `port=N`), if any.
pub(super) fn python_port(ctx: &Ctx, path: &str) -> Option<u16> {
    let pattern = re(r"(?:--port[= ](\d{2,5})\b|\bport\s*=\s*(\d{2,5})\b)");
    let mut files: Vec<String> = ["Procfile", "main.py", "server.py", "app.py"]
        .iter()
        .map(|f| join(path, f))
        .collect();
    files.push(join(path, "app/main.py"));
    files.into_iter().find_map(|file| {
        let text = ctx.tree.read(&file)?;
        let c = pattern.captures(&text)?;
        c.get(1).or_else(|| c.get(2))?.as_str().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::first_number;

    #[test]
    fn versions_reduce_to_the_major() {
        assert_eq!(first_number("v20.11.1\n").as_deref(), Some("20"));
        assert_eq!(first_number(">=18.17 <21").as_deref(), Some("18"));
        assert_eq!(first_number("lts/*"), None);
    }
}

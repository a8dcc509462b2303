//! How a front end reaches its backend on one origin: when an app has one static unit and
//! server units in their own folders (the Emergent `frontend/` + `backend/` layout, a
//! monorepo's `web/` + `api/`), the static unit routes a path prefix to each server unit that
//! answers under it. The prefix comes from the server's code (`APIRouter(prefix="/api")`,
//! `app.use('/api/…')`, `@app.get("/api/…")`) or the front end's dev proxy (`server.proxy` in
//! `vite.config.*`, `proxy` in `package.json`), in that order. `ferry.toml` proxies win: when
//! any unit declares one, nothing is inferred.

use std::sync::OnceLock;

use regex::Regex;

use crate::context::Ctx;
use crate::profile::{Proxy, Unit, UnitKind};

/// Source files read per server unit, at most.
const MAX_FILES: usize = 400;

/// Adds the inferred proxies to the static unit of `units` (see the module doc).
pub fn infer_proxies(ctx: &Ctx, units: &mut [Unit]) {
    if units.iter().any(|u| !u.proxies.is_empty()) {
        return;
    }
    let statics: Vec<usize> = (0..units.len())
        .filter(|&i| units[i].kind == UnitKind::Static)
        .collect();
    let [front] = statics.as_slice() else {
        return;
    };
    let servers: Vec<usize> = (0..units.len())
        .filter(|&i| units[i].kind == UnitKind::Server && units[i].path != ".")
        .collect();
    if servers.is_empty()
        || units
            .iter()
            .any(|u| u.kind == UnitKind::Server && u.path == ".")
    {
        return;
    }
    let dev_proxy = dev_proxy_prefix(ctx, &units[*front].path);
    let mut found = Vec::new();
    for &s in &servers {
        let (prefix, why) = match server_prefix(ctx, &units[s].path) {
            Some(p) => p,
            None => match (&dev_proxy, servers.len()) {
                (Some((p, why)), 1) => (p.clone(), why.clone()),
                _ => continue,
            },
        };
        if found
            .iter()
            .any(|(p, _, _): &(String, usize, String)| *p == prefix)
        {
            continue;
        }
        found.push((prefix, s, why));
    }
    for (prefix, s, why) in found {
        let to = units[s].name.clone();
        let front = &mut units[*front];
        front
            .evidence
            .push(format!("`{prefix}` → unit `{to}`: {why}"));
        front.proxies.push(Proxy { prefix, to });
    }
}

/// The prefix every API route of the server unit at `path` shares, with the file saying so.
fn server_prefix(ctx: &Ctx, path: &str) -> Option<(String, String)> {
    static ROUTER: OnceLock<Regex> = OnceLock::new();
    static ROUTE: OnceLock<Regex> = OnceLock::new();
    let router = ROUTER.get_or_init(|| {
        Regex::new(r#"(?:APIRouter|Blueprint)\([^)]*?(?:url_)?prefix\s*=\s*["'](/[A-Za-z0-9_-]+)"#)
            .expect("regex")
    });
    let route = ROUTE.get_or_init(|| {
        Regex::new(
            r#"(?:@\w+\.(?:get|post|put|patch|delete|route|api_route)|\b(?:app|router|server)\.(?:use|get|post|put|patch|delete|all|route))\(\s*["'](/[A-Za-z0-9_-]+)/"#,
        )
        .expect("regex")
    });
    let mut counts: Vec<(String, usize, String)> = Vec::new();
    let files = ctx
        .tree
        .files_under(path)
        .filter(|f| {
            [".py", ".js", ".mjs", ".cjs", ".ts", ".mts"]
                .iter()
                .any(|e| f.ends_with(e))
        })
        .take(MAX_FILES);
    for file in files {
        let Some(text) = ctx.tree.read(file) else {
            continue;
        };
        if let Some(c) = router.captures(&text) {
            let p = c[1].to_string();
            return Some((p.clone(), format!("{file} declares its routes under `{p}`")));
        }
        for c in route.captures_iter(&text) {
            let p = c[1].to_string();
            match counts.iter_mut().find(|(q, _, _)| *q == p) {
                Some(entry) => entry.1 += 1,
                None => counts.push((p, 1, file.to_string())),
            }
        }
    }
    // The segment most routes start with, when it looks like an API's.
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let (p, _, file) = counts.into_iter().next()?;
    matches!(
        p.as_str(),
        "/api" | "/apis" | "/v1" | "/graphql" | "/trpc" | "/rpc"
    )
    .then(|| (p.clone(), format!("{file} answers routes under `{p}`")))
}

/// The prefix the front end's dev server proxies to a backend (`vite.config.*`
/// `server.proxy`, `package.json` `proxy` for Create React App means `/`, ignored).
fn dev_proxy_prefix(ctx: &Ctx, path: &str) -> Option<(String, String)> {
    static PROXY: OnceLock<Regex> = OnceLock::new();
    let re = PROXY.get_or_init(|| {
        Regex::new(r#"proxy\s*:\s*\{\s*["'](/[A-Za-z0-9_-]+)["']\s*:"#).expect("regex")
    });
    for name in [
        "vite.config.ts",
        "vite.config.js",
        "vite.config.mts",
        "vite.config.mjs",
    ] {
        let file = if path == "." {
            name.to_string()
        } else {
            format!("{path}/{name}")
        };
        if let Some(text) = ctx.tree.read(&file)
            && let Some(c) = re.captures(&text)
        {
            let p = c[1].to_string();
            return Some((
                p.clone(),
                format!("{file} proxies `{p}` to a backend in development"),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units_of(dir: &str) -> Vec<Unit> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/apps")
            .join(dir);
        let tree = crate::Tree::walk(&root).expect("walk");
        let ctx = Ctx::new(&tree, None, dir).expect("ctx");
        let mut units = crate::units::discover(&ctx, None).expect("units");
        infer_proxies(&ctx, &mut units);
        units
    }

    fn proxies(units: &[Unit]) -> Vec<(String, String, String)> {
        units
            .iter()
            .flat_map(|u| {
                u.proxies
                    .iter()
                    .map(|p| (u.name.clone(), p.prefix.clone(), p.to.clone()))
            })
            .collect()
    }

    #[test]
    fn front_ends_route_api_prefixes_to_their_backends() {
        let api =
            |front: &str| vec![(front.to_string(), "/api".to_string(), "backend".to_string())];
        // `APIRouter(prefix="/api")` in backend/server.py.
        assert_eq!(
            proxies(&units_of("emergent-fastapi-react")),
            api("frontend")
        );
        assert_eq!(proxies(&units_of("emergent-services")), api("frontend"));
        // `app.get('/api/health')`, `app.use('/api/cards', …)` in backend/src/server.js.
        assert_eq!(
            proxies(&units_of("monorepo-frontend-backend")),
            api("frontend")
        );
        // One server unit at the root serves everything itself.
        assert!(proxies(&units_of("replit-fullstack-js")).is_empty());
        // A static app alone routes nothing.
        assert!(proxies(&units_of("plain-vite-react")).is_empty());
    }
}

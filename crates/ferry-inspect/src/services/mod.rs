//! External services the app depends on (docs/findings.md, "Services").

mod base44;
mod catalog;
mod supabase;

pub use base44::detect as base44;
pub use catalog::private_indexes as private_indexes_of;
pub use supabase::detect as supabase;

use std::collections::BTreeMap;

use crate::builder::re;
use crate::context::Ctx;
use crate::report::{EnvReport, Service};
use crate::scan::Sources;

/// Dependency names of every package manifest, with the file that names them.
pub struct Deps {
    /// npm package → `package.json` path.
    pub npm: BTreeMap<String, String>,
    /// PyPI distribution (lowercase) → requirements/pyproject path.
    pub pypi: BTreeMap<String, String>,
}

impl Deps {
    /// Collects dependencies from every `package.json` and Python manifest in the tree.
    pub fn collect(ctx: &Ctx) -> Self {
        let mut npm = BTreeMap::new();
        let mut pypi = BTreeMap::new();
        let requirement = re(r"(?m)^\s*([A-Za-z0-9][A-Za-z0-9._-]*)");
        let assignment = re(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)\s*=");
        let quoted = re(r#"["']([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[<>=!~\[;]|["'])"#);
        for path in ctx.tree.files() {
            let name = path.rsplit('/').next().unwrap_or(path);
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            if name == "package.json" {
                if let Ok(Some(pkg)) = ctx.package_json(dir) {
                    for dep in pkg.deps.keys() {
                        npm.entry(dep.clone()).or_insert_with(|| path.to_string());
                    }
                }
            } else if name.starts_with("requirements") && name.ends_with(".txt") {
                for caps in requirement.captures_iter(&ctx.tree.read(path).unwrap_or_default()) {
                    pypi.entry(caps[1].to_ascii_lowercase())
                        .or_insert_with(|| path.to_string());
                }
            } else if name == "pyproject.toml" || name == "Pipfile" {
                let text = ctx.tree.read(path).unwrap_or_default();
                for caps in quoted.captures_iter(&text) {
                    pypi.entry(caps[1].to_ascii_lowercase())
                        .or_insert_with(|| path.to_string());
                }
                for caps in assignment.captures_iter(&text) {
                    pypi.entry(caps[1].to_ascii_lowercase())
                        .or_insert_with(|| path.to_string());
                }
            }
        }
        Deps { npm, pypi }
    }
}

/// Every service with evidence, in catalog order. `keys` are `(kind, at)` of the keys the
/// secret scan found (a provider's key is evidence of the provider).
pub fn detect(
    ctx: &Ctx,
    deps: &Deps,
    sources: &Sources,
    env: &EnvReport,
    keys: &[(String, String)],
) -> Vec<Service> {
    catalog::detect(ctx, deps, sources, env, keys)
}

//! Replit: `.replit`, `replit.nix`, `replit.md`, `@replit/*` plugins, artifacts workspaces,
//! Replit Agent commits.

use super::Findings;
use crate::context::Ctx;
use crate::error::InspectError;

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    if ctx.tree.has_file(".replit") {
        f.file(0.9, "Replit workspace config", ".replit");
    }
    let artifact = ctx
        .tree
        .child_dirs("artifacts")
        .map(|d| format!("artifacts/{d}/.replit-artifact/artifact.toml"))
        .find(|p| ctx.tree.has_file(p));
    if let Some(path) = artifact {
        f.file(0.9, "Replit artifact (2026 workspace template)", path);
    }
    f.commits_by(ctx, 0.8, "Replit", |name, email| {
        name == "Replit Agent"
            || email == "agent@replit.com"
            || email.ends_with("@users.noreply.replit.com")
    });
    if ctx.tree.has_file("replit.nix") {
        f.file(0.7, "Replit Nix environment", "replit.nix");
    }
    if let Some(pkg) = &ctx.root_pkg
        && let Some(dep) = pkg.dep_with_prefix("@replit/")
    {
        f.file(0.6, format!("`{dep}` dependency"), pkg.at(dep));
    }
    if ctx.tree.has_file("replit.md") {
        f.file(0.6, "Replit Agent project memory", "replit.md");
    }
    Ok(())
}

//! Bolt.new: `.bolt/` folder, Vite + React + TS, Supabase with `<ts>_<adjective>_<noun>.sql`.

use super::{Findings, matching_files, plural, re};
use crate::context::Ctx;
use crate::error::InspectError;

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    if ctx.tree.has_file(".bolt/config.json") {
        let template = ctx
            .tree
            .read(".bolt/config.json")
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v.get("template")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            });
        let signal = match template {
            Some(t) => format!("Bolt project config (template `{t}`)"),
            None => "Bolt project config".into(),
        };
        f.file(0.9, signal, ".bolt/config.json");
    }
    if ctx.tree.has_file(".bolt/prompt") {
        f.file(0.8, "Bolt system prompt", ".bolt/prompt");
    }
    let named = re(r"^\d{14}_[a-z]+_[a-z]+\.sql$");
    let migrations = matching_files(ctx, "supabase/migrations", &named);
    if let Some(first) = migrations.first() {
        f.file(
            0.5,
            format!(
                "{} migration{} named <timestamp>_<adjective>_<noun>.sql",
                migrations.len(),
                plural(migrations.len())
            ),
            format!("supabase/migrations/{first}"),
        );
    }
    let sb1 = re(r"^sb1-[a-z0-9]+$");
    let pkg_name = ctx.root_pkg.as_ref().and_then(|p| p.name.clone());
    if let Some(name) = pkg_name.as_deref().filter(|n| sb1.is_match(n)) {
        f.name(
            0.5,
            format!("StackBlitz project name `{name}`"),
            ctx.package_name_at(),
        );
    } else if sb1.is_match(ctx.source_name) {
        f.name(
            0.5,
            format!("StackBlitz project name `{}`", ctx.source_name),
            "source name",
        );
    }
    if pkg_name.as_deref() == Some("vite-react-typescript-starter") {
        f.name(
            0.3,
            "Bolt's template package name `vite-react-typescript-starter`",
            ctx.package_name_at(),
        );
    }
    if ctx.tree.has_file(".supabase/config.json") {
        f.file(
            0.2,
            "Supabase project link written by Bolt",
            ".supabase/config.json",
        );
    }
    if ctx.tree.has_file("src/lib/supabase.ts") {
        f.file(0.15, "Bolt's Supabase client path", "src/lib/supabase.ts");
    }
    Ok(())
}

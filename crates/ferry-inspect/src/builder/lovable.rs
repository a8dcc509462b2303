//! Lovable (lovable.dev): Vite + React + shadcn, Supabase, `gpt-engineer-app[bot]` commits.

use super::{Findings, matching_files, plural, re, vite_config};
use crate::context::Ctx;
use crate::error::InspectError;

const CLIENT: &str = "src/integrations/supabase/client.ts";

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    f.commits_by(ctx, 0.9, "gpt-engineer-app[bot]", |name, email| {
        name.starts_with("gpt-engineer-app") || email.contains("gpt-engineer-app[bot]")
    });
    if ctx.tree.has_dir(".lovable") {
        f.file(0.8, "Lovable agent folder", ".lovable/");
    }
    if let Some(pkg) = &ctx.root_pkg {
        if pkg.has_dep("lovable-tagger") {
            f.file(
                0.6,
                "`lovable-tagger` dependency",
                pkg.at("\"lovable-tagger\""),
            );
        }
        if pkg.has_dep("lovable-agent-playwright-config") {
            f.file(
                0.6,
                "`lovable-agent-playwright-config` dependency",
                pkg.at("lovable-agent-playwright-config"),
            );
        }
        if pkg.name.as_deref() == Some("vite_react_shadcn_ts") {
            f.name(
                0.4,
                "Lovable's template package name `vite_react_shadcn_ts`",
                pkg.at("vite_react_shadcn_ts"),
            );
        }
    }
    if let Some(config) = vite_config(ctx, "")
        && let Some(at) = ctx.find_in(&config, "componentTagger")
    {
        f.file(0.5, "`componentTagger()` in the Vite config", at);
    }
    if let Some(html) = ctx.tree.read("index.html") {
        let needles = [
            "content=\"Lovable\"",
            "lovable.dev",
            "@lovable_dev",
            "content=\"Lovable Generated",
        ];
        if let Some((line, _)) = html
            .lines()
            .enumerate()
            .find(|(_, l)| needles.iter().any(|n| l.contains(n)))
        {
            f.file(
                0.5,
                "Lovable meta tags in index.html",
                format!("index.html:{}", line + 1),
            );
        }
    }
    if ctx.tree.has_file(CLIENT) {
        f.file(0.4, "Lovable's generated Supabase client path", CLIENT);
        if let Some(text) = ctx.tree.read(CLIENT) {
            f.generation = if text.contains("import.meta.env.VITE_SUPABASE_URL") {
                Some("client-env".into())
            } else if text.contains(".supabase.co") {
                Some("client-hardcoded".into())
            } else {
                None
            };
        }
    }
    let uuid_migration =
        re(r"^\d{14}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.sql$");
    let migrations = matching_files(ctx, "supabase/migrations", &uuid_migration);
    if let Some(first) = migrations.first() {
        f.file(
            0.4,
            format!(
                "{} migration{} named <timestamp>-<uuid>.sql",
                migrations.len(),
                plural(migrations.len())
            ),
            format!("supabase/migrations/{first}"),
        );
    }
    if let Some(text) = ctx.tree.read("supabase/config.toml") {
        let meaningful: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if meaningful.len() == 1 && meaningful[0].starts_with("project_id") {
            f.file(
                0.2,
                "supabase/config.toml holds only `project_id`",
                "supabase/config.toml:1",
            );
        }
    }
    Ok(())
}

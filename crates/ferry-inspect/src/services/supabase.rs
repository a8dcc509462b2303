//! Supabase: project ref, client files, keys, tables and policies, edge functions, buckets.

use std::collections::BTreeSet;

use crate::builder::re;
use crate::context::Ctx;
use crate::error::InspectError;
use crate::report::{EdgeFunction, Service, Supabase, SupabaseKey};
use crate::scan::Sources;
use crate::secrets::SecretScan;
use crate::sql::{SqlBucket, SqlSchema};

/// Supabase details, when the app uses Supabase.
pub fn detect(
    ctx: &Ctx,
    services: &[Service],
    sources: &Sources,
    secrets: &SecretScan,
) -> Result<Option<Supabase>, InspectError> {
    if !services.iter().any(|s| s.id == "supabase") {
        return Ok(None);
    }
    let config = match ctx.tree.read("supabase/config.toml") {
        Some(text) => Some(toml::from_str::<toml::Table>(&text).map_err(|err| {
            InspectError::MalformedFile {
                file: "supabase/config.toml".into(),
                format: "TOML",
                detail: crate::manifest::one_line(&err.to_string()),
            }
        })?),
        None => None,
    };
    let mut sb = Supabase {
        project_ref: project_ref(ctx, config.as_ref(), sources),
        ..Supabase::default()
    };
    sb.url = sb
        .project_ref
        .as_ref()
        .map(|r| format!("https://{r}.supabase.co"));
    let creates = re(r"\bcreate(?:Browser|Server)?Client\s*(?:<[^>()]*>)?\s*\(");
    sb.client_files = sources
        .code()
        .filter(|f| f.text.contains("@supabase/") && creates.is_match(&f.text))
        .map(|f| f.path.clone())
        .collect();
    for key in &secrets.public_keys {
        if key.kind.starts_with("supabase-") {
            sb.keys.push(SupabaseKey {
                kind: key.kind.clone(),
                at: key.at.clone(),
                public: true,
            });
        }
    }
    for secret in &secrets.secrets {
        if secret.kind.starts_with("supabase-") {
            sb.keys.push(SupabaseKey {
                kind: secret.kind.clone(),
                at: secret.at.clone(),
                public: false,
            });
        }
    }
    let schema = schema(ctx);
    sb.tables = schema.tables;
    sb.functions = functions(ctx, config.as_ref());
    sb.buckets = buckets(schema.buckets, sources);
    Ok(Some(sb))
}

/// Applies the SQL files in order: migrations (by name), root `*.sql`, `scripts/*.sql`, then
/// `supabase/schema.sql` and `supabase/seed.sql`.
pub fn schema(ctx: &Ctx) -> SqlSchema {
    let mut files: Vec<String> = ctx
        .tree
        .child_files("supabase/migrations")
        .filter(|f| f.ends_with(".sql"))
        .map(|f| format!("supabase/migrations/{f}"))
        .collect();
    files.sort();
    for dir in ["", "scripts"] {
        let mut more: Vec<String> = ctx
            .tree
            .child_files(dir)
            .filter(|f| f.ends_with(".sql"))
            .map(|f| crate::tree::join(dir, f))
            .collect();
        more.sort();
        files.extend(more);
    }
    for extra in ["supabase/schema.sql", "supabase/seed.sql"] {
        if ctx.tree.has_file(extra) {
            files.push(extra.into());
        }
    }
    let mut schema = SqlSchema::default();
    for file in files {
        if let Some(text) = ctx.tree.read(&file) {
            schema.apply(&file, &text);
        }
    }
    schema
}

fn project_ref(ctx: &Ctx, config: Option<&toml::Table>, sources: &Sources) -> Option<String> {
    let valid = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_lowercase());
    if let Some(id) = config
        .and_then(|c| c.get("project_id"))
        .and_then(|v| v.as_str())
        && valid(id)
    {
        return Some(id.to_string());
    }
    for file in [".bolt/config.json", ".supabase/config.json"] {
        let id = ctx
            .tree
            .read(file)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v.get("projectId")
                    .and_then(|p| p.as_str())
                    .map(str::to_string)
            });
        if let Some(id) = id.filter(|i| valid(i)) {
            return Some(id);
        }
    }
    let url = re(r"https://([a-z]{20})\.supabase\.co");
    sources
        .files
        .iter()
        .filter(|f| !f.build_output)
        .find_map(|f| url.captures(&f.text).map(|c| c[1].to_string()))
}

fn functions(ctx: &Ctx, config: Option<&toml::Table>) -> Vec<EdgeFunction> {
    ctx.tree
        .child_dirs("supabase/functions")
        .filter(|name| !name.starts_with('_') && !name.starts_with('.'))
        .filter_map(|name| {
            let entry = ["index.ts", "index.js", "index.tsx"]
                .iter()
                .map(|f| format!("supabase/functions/{name}/{f}"))
                .find(|p| ctx.tree.has_file(p))?;
            let verify_jwt = config
                .and_then(|c| c.get("functions"))
                .and_then(|f| f.get(name))
                .and_then(|f| f.get("verify_jwt"))
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            Some(EdgeFunction {
                name: name.to_string(),
                verify_jwt,
                at: entry,
            })
        })
        .collect()
}

fn buckets(mut from_sql: Vec<SqlBucket>, sources: &Sources) -> Vec<SqlBucket> {
    let mut names: BTreeSet<String> = from_sql.iter().map(|b| b.name.clone()).collect();
    let used = re(r#"\.storage\s*\.from\(\s*["'`]([A-Za-z0-9_.-]+)["'`]"#);
    for file in sources.code() {
        for caps in used.captures_iter(&file.text) {
            let Some(m) = caps.get(1) else { continue };
            if names.insert(m.as_str().to_string()) {
                from_sql.push(SqlBucket {
                    name: m.as_str().into(),
                    public: None,
                    at: file.at(m.start()),
                });
            }
        }
    }
    from_sql
}

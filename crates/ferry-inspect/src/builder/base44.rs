//! Base44: `@base44/sdk`, `src/api/base44Client.js`, the 2026 `base44/` folder,
//! `base44-builder[bot]` commits. Three template generations.

use super::{Findings, re};
use crate::context::Ctx;
use crate::error::InspectError;

const CLIENTS: &[&str] = &[
    "src/api/base44Client.js",
    "src/api/base44Client.ts",
    "src/api/base44Client.jsx",
];

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    let hex24 = re(r"\b([0-9a-f]{24})\b");
    let mut app_id: Option<String> = None;
    let (mut gen_cli, mut gen_08, mut gen_01) = (false, false, false);

    f.commits_by(ctx, 0.9, "base44-builder[bot]", |name, email| {
        name.starts_with("base44-builder") || email.contains("base44-builder[bot]")
    });
    if let Some(first) = ctx.history.and_then(|h| h.first()) {
        let initial = re(r"^Initial commit for ([0-9a-f]{24})\b");
        if let Some(caps) = initial.captures(&first.subject) {
            let id = caps[1].to_string();
            f.first_commit(
                0.9,
                format!("first commit \"Initial commit for {id}\""),
                first,
            );
            app_id.get_or_insert(id);
        }
    }
    for file in ["base44/.app.jsonc", "base44/config.jsonc"] {
        if let Some(text) = ctx.tree.read(file) {
            let value = crate::jsonc::parse(&text).map_err(|err| InspectError::MalformedFile {
                file: file.into(),
                format: "JSONC",
                detail: err.to_string(),
            })?;
            if let Some(id) = value.get("id").and_then(|v| v.as_str())
                && hex24.is_match(id)
            {
                app_id = Some(id.to_string());
            }
            f.file(0.9, "Base44 CLI project config (backend as code)", file);
            gen_cli = true;
        }
    }
    if let Some(pkg) = &ctx.root_pkg {
        if let Some(range) = pkg.deps.get("@base44/sdk") {
            f.file(
                0.8,
                format!("`@base44/sdk` {range}"),
                pkg.at("\"@base44/sdk\""),
            );
            if re(r"^[\^~=]?0\.1\.").is_match(range) {
                gen_01 = true;
            }
        }
        if pkg.has_dep("@base44/vite-plugin") {
            f.file(
                0.8,
                "`@base44/vite-plugin`",
                pkg.at("\"@base44/vite-plugin\""),
            );
            gen_08 = true;
        }
        if pkg.name.as_deref() == Some("base44-app") {
            f.name(
                0.5,
                "Base44's template package name `base44-app`",
                ctx.package_name_at(),
            );
        }
    }
    if let Some(client) = ctx.tree.first_of("", CLIENTS) {
        let text = ctx.tree.read(&client).unwrap_or_default();
        let literal = re(r#"appId\s*:\s*["']([0-9a-f]{24})["']"#);
        match literal.captures(&text) {
            Some(caps) => {
                let line = crate::tree::line_of(&text, "appId").unwrap_or(1);
                f.file(
                    0.7,
                    "Base44 client with a hard-coded appId",
                    format!("{client}:{line}"),
                );
                app_id.get_or_insert(caps[1].to_string());
                gen_01 = true;
            }
            None => f.file(0.7, "Base44 client module", client),
        }
    }
    if ctx.tree.has_file("src/lib/app-params.js") {
        f.file(0.6, "Base44 app-params module", "src/lib/app-params.js");
        gen_08 = true;
    }
    for env in ctx.tree.child_files("").filter(|n| n.starts_with(".env")) {
        let text = ctx.tree.read(env).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if let Some(value) = line.trim().strip_prefix("VITE_BASE44_APP_ID=") {
                let value = value.trim().trim_matches(['"', '\'']);
                if hex24.is_match(value) && value.len() == 24 {
                    f.file(
                        0.5,
                        "`VITE_BASE44_APP_ID` in a committed env file",
                        format!("{env}:{}", i + 1),
                    );
                    app_id.get_or_insert(value.to_string());
                }
            }
        }
    }
    f.generation = if gen_cli {
        Some("cli-2026")
    } else if gen_08 {
        Some("sdk-0.8")
    } else if gen_01 {
        Some("sdk-0.1")
    } else {
        None
    }
    .map(str::to_string);
    f.app_id = app_id;
    Ok(())
}

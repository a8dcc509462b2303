//! Base44: app id, entities with their schemas and RLS rules, functions, agents, integrations.

use std::collections::BTreeSet;

use crate::builder::re;
use crate::context::Ctx;
use crate::error::InspectError;
use crate::report::{Base44App, Base44Entity, Service};
use crate::scan::Sources;

/// Integrations of Base44's `Core` package.
pub const INTEGRATIONS: &[&str] = &[
    "InvokeLLM",
    "UploadFile",
    "UploadPrivateFile",
    "CreateFileSignedUrl",
    "SendEmail",
    "SendSMS",
    "GenerateImage",
    "ExtractDataFromUploadedFile",
];

/// Base44 details, when the app uses Base44.
pub fn detect(
    ctx: &Ctx,
    services: &[Service],
    sources: &Sources,
    app_id: Option<String>,
) -> Result<Option<Base44App>, InspectError> {
    if !services.iter().any(|s| s.id == "base44") {
        return Ok(None);
    }
    let mut app = Base44App {
        app_id,
        ..Base44App::default()
    };
    let mut names = BTreeSet::new();
    let mut files: Vec<&str> = ctx
        .tree
        .child_files("base44/entities")
        .filter(|f| f.ends_with(".jsonc") || f.ends_with(".json"))
        .collect();
    files.sort();
    for file in files {
        let path = format!("base44/entities/{file}");
        let text = ctx.tree.read(&path).unwrap_or_default();
        let value = crate::jsonc::parse(&text).map_err(|err| InspectError::MalformedFile {
            file: path.clone(),
            format: "JSONC",
            detail: err.to_string(),
        })?;
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        let name = value
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| pascal(stem));
        let fields = value
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.insert(name.clone());
        app.entities.push(Base44Entity {
            name,
            file: Some(path),
            fields,
            rls: value.get("rls").cloned(),
        });
    }
    let used = re(r"\bentities\.([A-Za-z_][A-Za-z0-9_]*)\b");
    let mut code_names = BTreeSet::new();
    for file in sources.code() {
        for caps in used.captures_iter(&file.text) {
            code_names.insert(caps[1].to_string());
        }
    }
    for name in code_names {
        if names.insert(name.clone()) {
            app.entities.push(Base44Entity {
                name,
                file: None,
                fields: Vec::new(),
                rls: None,
            });
        }
    }
    let mut functions: BTreeSet<String> = ctx
        .tree
        .child_dirs("base44/functions")
        .map(str::to_string)
        .collect();
    let invoke = re(r#"functions\.invoke\(\s*["'`]([A-Za-z0-9_-]+)["'`]"#);
    for file in sources.code() {
        for caps in invoke.captures_iter(&file.text) {
            functions.insert(caps[1].to_string());
        }
    }
    app.functions = functions.into_iter().collect();
    let mut agents: Vec<String> = ctx
        .tree
        .child_files("base44/agents")
        .filter(|f| f.ends_with(".jsonc") || f.ends_with(".json"))
        .map(|f| f.rsplit_once('.').map_or(f, |(s, _)| s).to_string())
        .collect();
    agents.sort();
    app.agents = agents;
    app.integrations = integrations(sources);
    Ok(Some(app))
}

/// Integrations the code calls (not mere re-exports).
fn integrations(sources: &Sources) -> Vec<String> {
    let import = re(r#"import\s*\{([^}]*)\}\s*from\s*["'][^"']*integrations["']"#);
    let call = re(r"\b([A-Za-z_$][A-Za-z0-9_$]*)\s*\(");
    let mut found = BTreeSet::new();
    for file in sources.code() {
        let reexport = file.path.ends_with("api/integrations.js")
            || file.path.ends_with("api/integrations.ts");
        if reexport {
            continue;
        }
        // `import { InvokeLLM, UploadFile as upload }`: original name → local name.
        let imported: Vec<(String, String)> = import
            .captures_iter(&file.text)
            .flat_map(|c| {
                c[1].split(',')
                    .filter_map(|n| {
                        let mut parts = n.split(" as ").map(str::trim);
                        let original = parts.next().filter(|o| !o.is_empty())?;
                        let local = parts.next().unwrap_or(original);
                        Some((original.to_string(), local.to_string()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let called: BTreeSet<&str> = if imported.is_empty() {
            BTreeSet::new()
        } else {
            call.captures_iter(&file.text)
                .filter_map(|c| c.get(1).map(|m| m.as_str()))
                .collect()
        };
        for name in INTEGRATIONS {
            let core_call = file.text.contains(&format!("Core.{name}("));
            let direct = imported
                .iter()
                .any(|(original, local)| original == name && called.contains(local.as_str()));
            if core_call || direct {
                found.insert(name.to_string());
            }
        }
    }
    INTEGRATIONS
        .iter()
        .filter(|n| found.contains(**n))
        .map(|n| n.to_string())
        .collect()
}

/// `team-member` → `TeamMember`.
fn pascal(stem: &str) -> String {
    stem.split(['-', '_'])
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::SourceFile;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
            client: true,
            build_output: false,
            ext: "jsx".into(),
        }
    }

    #[test]
    fn integrations_are_the_ones_called_even_under_an_alias() {
        let sources = Sources {
            files: vec![
                file(
                    "src/api/integrations.js",
                    "export const InvokeLLM = Core.InvokeLLM;\nexport const SendSMS = Core.SendSMS;",
                ),
                file(
                    "src/pages/A.jsx",
                    "import { UploadFile as upload, SendEmail } from '@/api/integrations';\nawait upload({ file });",
                ),
                file(
                    "src/pages/B.jsx",
                    "const r = await base44.integrations.Core.InvokeLLM({ prompt });",
                ),
            ],
            truncated: false,
        };
        assert_eq!(integrations(&sources), ["InvokeLLM", "UploadFile"]);
    }
}

//! Emergent (emergent.sh): `.emergent/`, FastAPI + Mongo backend, CRA/craco frontend.

use super::Findings;
use crate::context::Ctx;
use crate::error::InspectError;

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    if ctx.tree.has_file(".emergent/emergent.yml") {
        f.file(0.95, "Emergent job config", ".emergent/emergent.yml");
    }
    f.commits_by(ctx, 0.9, "emergent-agent-e1", |name, email| {
        name == "emergent-agent-e1" || email == "github@emergent.sh"
    });
    for req in ["backend/requirements.txt", "requirements.txt"] {
        if let Some(at) = ctx.find_in(req, "emergentintegrations") {
            f.file(
                0.7,
                "`emergentintegrations` (Emergent's private package)",
                at,
            );
            break;
        }
    }
    if ctx.tree.has_dir("frontend/plugins/visual-edits") {
        f.file(
            0.6,
            "Emergent visual-edits plugin",
            "frontend/plugins/visual-edits/",
        );
    }
    let backend_url = ctx
        .tree
        .files_under("frontend/src")
        .filter(|p| {
            p.ends_with(".js") || p.ends_with(".jsx") || p.ends_with(".ts") || p.ends_with(".tsx")
        })
        .take(300)
        .find_map(|p| ctx.find_in(p, "REACT_APP_BACKEND_URL"));
    if let Some(at) = backend_url {
        f.file(0.3, "`REACT_APP_BACKEND_URL` in the frontend", at);
    }
    if let Some(memory) = ctx.tree.first_of("", &["memory/PRD.md", "test_result.md"]) {
        f.file(0.3, "Emergent agent memory", memory);
    }
    if let Some(text) = ctx.tree.read("backend/server.py")
        && text.contains("FastAPI")
        && text.contains("MONGO_URL")
    {
        let line = crate::tree::line_of(&text, "MONGO_URL").unwrap_or(1);
        f.file(
            0.3,
            "FastAPI backend on MongoDB (`MONGO_URL`)",
            format!("backend/server.py:{line}"),
        );
    }
    Ok(())
}

//! v0 (Vercel): Next.js with `generator: 'v0.app'`, `my-v0-project`, `v0[bot]` commits.

use super::{Findings, re};
use crate::context::Ctx;
use crate::error::InspectError;

pub(crate) fn detect(ctx: &Ctx, f: &mut Findings) -> Result<(), InspectError> {
    f.commits_by(ctx, 0.9, "v0[bot]", |_, email| email.contains("v0[bot]"));
    let generator = re(r#"generator\s*:\s*["']v0\.(app|dev)["']"#);
    let layouts = ["tsx", "jsx", "ts", "js"]
        .iter()
        .flat_map(|ext| [format!("app/layout.{ext}"), format!("src/app/layout.{ext}")]);
    for layout in layouts {
        let Some(text) = ctx.tree.read(&layout) else {
            continue;
        };
        if let Some(m) = generator.find(&text) {
            let line = text[..m.start()].matches('\n').count() + 1;
            f.file(
                0.8,
                format!("`{}` in the page metadata", m.as_str()),
                format!("{layout}:{line}"),
            );
            break;
        }
    }
    if let Some(pkg) = &ctx.root_pkg
        && pkg.name.as_deref() == Some("my-v0-project")
    {
        f.name(
            0.7,
            "v0's template package name `my-v0-project`",
            ctx.package_name_at(),
        );
    }
    if let Some(readme) = ctx
        .tree
        .first_of("", &["README.md", "readme.md", "Readme.md"])
    {
        let text = ctx.tree.read(&readme).unwrap_or_default();
        let link = re(r"https://v0\.(app|dev)/[^\s)\]]*");
        if let Some(m) = link.find(&text) {
            let line = text[..m.start()].matches('\n').count() + 1;
            f.file(
                0.6,
                "README links the v0 project",
                format!("{readme}:{line}"),
            );
            if let Some(id) = re(r"prj_[A-Za-z0-9]+").find(m.as_str()) {
                f.app_id = Some(id.as_str().to_string());
            }
        }
    }
    Ok(())
}

//! `ferry-inspect` reads an app's source tree — never the network, never writing — and says
//! what it is: which AI app builder made it, which deployable units it holds, and how to build
//! and run each one ([`AppProfile`], [`BuildPlan`]). The rules are in `docs/detection.md`.

pub mod audit;
pub mod backend;
pub mod builder;
pub mod context;
pub mod env;
pub mod error;
pub mod findings;
pub mod history;
pub mod jsonc;
mod layout;
pub mod limits;
pub mod manifest;
pub mod naming;
pub mod package_json;
pub mod plan;
pub mod profile;
pub mod report;
pub mod scan;
pub mod secrets;
pub mod services;
pub mod sql;
pub mod tree;
pub mod units;

use std::collections::BTreeMap;
use std::path::Path;

pub use error::InspectError;
pub use history::{Commit, History};
pub use manifest::Manifest;
pub use plan::{BuildPlan, EnvNames};
pub use profile::{AppProfile, BuilderId, SourceInfo, SourceKind, Unit, UnitKind};
pub use tree::Tree;

use context::Ctx;
use profile::{AuthorCount, HistorySummary, ManifestInfo, PROFILE_SCHEMA, PROFILE_VERSION, Stats};

/// What the caller knows about the source, besides its files.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The folder to inspect (an extracted archive or a clone is fine).
    pub root: &'a Path,
    /// Where it came from, for the report.
    pub source: SourceInfo,
    /// The source's own name: folder, archive stem or repository name.
    pub source_name: String,
    /// The git history, if the source has one.
    pub history: Option<&'a History>,
    /// Warnings from acquiring the source (skipped archive entries…).
    pub warnings: Vec<String>,
    /// How much to find out.
    pub scope: Scope,
}

/// How much an inspection finds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Builder and units only: what building and deploying need. The audit fields of the
    /// profile (services, env, secrets, findings, verdicts) stay empty and no file is read
    /// beyond the manifests and configs detection looks at.
    Units,
    /// Everything, including the secret scan over the files and the history's added lines.
    Full,
}

/// The result of an inspection: the profile and the manifest it applied.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The report.
    pub profile: AppProfile,
    /// The `ferry.toml` found at the root, if any.
    pub manifest: Option<Manifest>,
    /// The Base44 backend of each unit that carries one, by unit name.
    pub backends: BTreeMap<String, backend::Base44Backend>,
}

impl Inspection {
    /// The build plan of every unit, in unit order.
    pub fn plans(&self) -> Vec<BuildPlan> {
        let env = self
            .manifest
            .as_ref()
            .map(|m| m.env.clone())
            .unwrap_or_default();
        self.profile
            .units
            .iter()
            .map(|u| {
                let mut plan = BuildPlan::for_unit(&self.profile, u, &env);
                plan.base44 = self.backends.get(&u.name).cloned();
                plan
            })
            .collect()
    }
}

/// Inspects the tree at `input.root`.
pub fn inspect(input: Input<'_>) -> Result<Inspection, InspectError> {
    let tree = Tree::walk(input.root)?;
    inspect_tree(&tree, input)
}

/// Inspects an already walked tree.
pub fn inspect_tree(tree: &Tree, input: Input<'_>) -> Result<Inspection, InspectError> {
    let manifest = match tree.read(manifest::MANIFEST_FILE) {
        Some(text) => Some(Manifest::parse(&text)?),
        None => None,
    };
    let ctx = Ctx::new(tree, input.history, &input.source_name)?;
    let declared_builder = manifest
        .as_ref()
        .and_then(|m| m.builder.as_deref())
        .and_then(BuilderId::parse);
    let (builder, candidates) = builder::detect(&ctx, declared_builder)?;
    let mut units = units::discover(&ctx, manifest.as_ref())?;
    layout::infer_proxies(&ctx, &mut units);
    let name = app_name(&ctx, manifest.as_ref(), &input.source_name);

    let audit = match input.scope {
        Scope::Full => audit::run(&ctx, &builder, &units, manifest.as_ref())?,
        Scope::Units => audit::Audit::default(),
    };

    let mut warnings = input.warnings.clone();
    for link in tree.links().iter().filter(|l| l.escapes) {
        warnings.push(format!(
            "symbolic link `{}` points outside the app (`{}`); it is ignored",
            link.path, link.target
        ));
    }
    warnings.extend(ctx.take_warnings());
    warnings.extend(audit.warnings);

    let profile = AppProfile {
        schema: PROFILE_SCHEMA.into(),
        version: PROFILE_VERSION,
        name,
        source: input.source,
        builder,
        candidates,
        units,
        manifest: manifest.as_ref().map(|m| ManifestInfo {
            path: manifest::MANIFEST_FILE.into(),
            version: m.version,
        }),
        history: input.history.map(summarize),
        services: audit.services,
        supabase: audit.supabase,
        base44: audit.base44,
        env: audit.env,
        secrets: audit.secrets,
        public_keys: audit.public_keys,
        findings: audit.findings,
        verdicts: audit.verdicts,
        warnings,
        stats: Stats {
            files: tree.file_count(),
        },
    };
    let backends = profile
        .units
        .iter()
        .filter_map(|u| {
            let is_base44 = profile.builder.id == BuilderId::Base44
                || tree.has_dir(&tree::join(&u.path, "base44/entities"));
            backend::base44_backend(tree, &u.path, is_base44).map(|b| (u.name.clone(), b))
        })
        .collect();
    Ok(Inspection {
        profile,
        manifest,
        backends,
    })
}

fn app_name(ctx: &Ctx, manifest: Option<&Manifest>, source_name: &str) -> String {
    if let Some(name) = manifest.and_then(|m| m.name.clone()) {
        return name;
    }
    let pkg_name = ctx
        .root_pkg
        .as_ref()
        .and_then(|p| p.name.clone())
        .filter(|n| !naming::TEMPLATE_NAMES.contains(&n.as_str()));
    naming::slug(pkg_name.as_deref().unwrap_or(source_name))
}

fn summarize(history: &History) -> HistorySummary {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &history.commits {
        *counts
            .entry(format!("{} <{}>", c.author, c.email))
            .or_default() += 1;
    }
    let mut authors: Vec<AuthorCount> = counts
        .into_iter()
        .map(|(author, commits)| AuthorCount { author, commits })
        .collect();
    authors.sort_by(|a, b| {
        b.commits
            .cmp(&a.commits)
            .then_with(|| a.author.cmp(&b.author))
    });
    authors.truncate(10);
    HistorySummary {
        commits: history.total.max(history.commits.len()),
        first: history.first().cloned(),
        authors,
    }
}

/// JSON Schema of the profile document (written to `docs/formats/app-profile.schema.json`).
pub fn profile_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(AppProfile)).unwrap_or_default()
}

/// JSON Schema of the build plan document (written to `docs/formats/build-plan.schema.json`).
pub fn plan_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(BuildPlan)).unwrap_or_default()
}

//! `ferry-inspect` reads an app's source tree — never the network, never writing — and says
//! what it is: which AI app builder made it, which deployable units it holds, and how to build
//! and run each one ([`AppProfile`], [`BuildPlan`]). The rules are in `docs/detection.md`.

pub mod builder;
pub mod context;
pub mod env;
pub mod error;
pub mod findings;
pub mod history;
pub mod jsonc;
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
}

/// The result of an inspection: the profile and the manifest it applied.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The report.
    pub profile: AppProfile,
    /// The `ferry.toml` found at the root, if any.
    pub manifest: Option<Manifest>,
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
            .map(|u| BuildPlan::for_unit(&self.profile, u, &env))
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
    let units = units::discover(&ctx, manifest.as_ref())?;
    let name = app_name(&ctx, manifest.as_ref(), &input.source_name);

    let sources = scan::Sources::load(tree);
    let env = env::scan(&sources);
    let secret_scan = secrets::scan(&sources, input.history);
    let deps = services::Deps::collect(&ctx);
    let keys: Vec<(String, String)> = secret_scan
        .secrets
        .iter()
        .map(|s| (s.kind.clone(), s.at.clone()))
        .chain(
            secret_scan
                .public_keys
                .iter()
                .map(|k| (k.kind.clone(), k.at.clone())),
        )
        .collect();
    let service_list = services::detect(&ctx, &deps, &sources, &env, &keys);
    let supabase = services::supabase(&ctx, &service_list, &sources, &secret_scan)?;
    let base44_id = (builder.id == BuilderId::Base44)
        .then(|| builder.app_id.clone())
        .flatten()
        .or_else(|| {
            manifest
                .as_ref()
                .and_then(|m| m.compat.base44.as_ref())
                .map(|b| b.app_id.clone())
        });
    let base44 = services::base44(&ctx, &service_list, &sources, base44_id)?;
    let finding_list = findings::findings(&findings::Facts {
        ctx: &ctx,
        sources: &sources,
        deps: &deps,
        builder: builder.id,
        units: &units,
        services: &service_list,
        supabase: supabase.as_ref(),
        base44: base44.as_ref(),
        env: &env,
        secrets: &secret_scan.secrets,
    });
    let verdicts = findings::verdicts(&finding_list);

    let mut warnings = input.warnings.clone();
    for link in tree.links().iter().filter(|l| l.escapes) {
        warnings.push(format!(
            "symbolic link `{}` points outside the app (`{}`); it is ignored",
            link.path, link.target
        ));
    }
    warnings.extend(ctx.take_warnings());
    if sources.truncated {
        warnings.push(format!(
            "only the first {} MiB of files were scanned for env vars and secrets",
            scan::MAX_TOTAL_BYTES / (1024 * 1024)
        ));
    }
    if input.history.is_some_and(|h| h.added_truncated) {
        warnings.push(
            "the git history is larger than the secret scan reads; older commits were not scanned"
                .into(),
        );
    }

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
        services: service_list,
        supabase,
        base44,
        env,
        secrets: secret_scan.secrets,
        public_keys: secret_scan.public_keys,
        findings: finding_list,
        verdicts,
        warnings,
        stats: Stats {
            files: tree.file_count(),
        },
    };
    Ok(Inspection { profile, manifest })
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

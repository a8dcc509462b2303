//! The second half of an inspection: services, env vars, secrets, findings and verdicts. It
//! reads every text file (and the history's added lines), so only [`crate::Scope::Full`]
//! runs it; building and deploying need the first half only.

use crate::context::Ctx;
use crate::error::InspectError;
use crate::manifest::Manifest;
use crate::profile::{BuilderReport, Unit};
use crate::report::{
    Base44App, EnvReport, Finding, PublicKey, Secret, Service, Supabase, Verdicts,
};
use crate::{BuilderId, env, findings, scan, secrets, services};

/// What the second half found.
#[derive(Debug, Default)]
pub struct Audit {
    /// External services.
    pub services: Vec<Service>,
    /// Supabase details.
    pub supabase: Option<Supabase>,
    /// Base44 details.
    pub base44: Option<Base44App>,
    /// Env vars.
    pub env: EnvReport,
    /// Leaked secrets.
    pub secrets: Vec<Secret>,
    /// Public keys.
    pub public_keys: Vec<PublicKey>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// One line per area.
    pub verdicts: Verdicts,
    /// Warnings about what the scan could not read.
    pub warnings: Vec<String>,
}

/// Runs the second half over the tree behind `ctx`.
pub fn run(
    ctx: &Ctx,
    builder: &BuilderReport,
    units: &[Unit],
    manifest: Option<&Manifest>,
) -> Result<Audit, InspectError> {
    let sources = scan::Sources::load(ctx.tree);
    let env = env::scan(&sources);
    let secret_scan = secrets::scan(&sources, ctx.history);
    let deps = services::Deps::collect(ctx);
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
    let services = services::detect(ctx, &deps, &sources, &env, &keys);
    let supabase = services::supabase(ctx, &services, &sources, &secret_scan)?;
    let base44_id = (builder.id == BuilderId::Base44)
        .then(|| builder.app_id.clone())
        .flatten()
        .or_else(|| {
            manifest
                .and_then(|m| m.compat.base44.as_ref())
                .map(|b| b.app_id.clone())
        });
    let base44 = services::base44(ctx, &services, &sources, base44_id)?;
    let findings = findings::findings(&findings::Facts {
        ctx,
        sources: &sources,
        deps: &deps,
        builder: builder.id,
        units,
        services: &services,
        supabase: supabase.as_ref(),
        base44: base44.as_ref(),
        env: &env,
        secrets: &secret_scan.secrets,
    });
    let mut warnings = Vec::new();
    if sources.truncated {
        warnings.push(format!(
            "only the first {} MiB of files were scanned for env vars and secrets",
            scan::MAX_TOTAL_BYTES / (1024 * 1024)
        ));
    }
    if ctx.history.is_some_and(|h| h.added_truncated) {
        warnings.push(
            "the git history is larger than the secret scan reads; older commits were not scanned"
                .into(),
        );
    }
    Ok(Audit {
        verdicts: findings::verdicts(&findings),
        services,
        supabase,
        base44,
        env,
        secrets: secret_scan.secrets,
        public_keys: secret_scan.public_keys,
        findings,
        warnings,
    })
}

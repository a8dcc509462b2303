//! Lock-in, security and production findings, each with evidence and a concrete fix
//! (docs/findings.md, "Findings").

mod lockin;
pub mod port;
mod production;
mod security;

use crate::context::Ctx;
use crate::profile::{BuilderId, Unit};
use crate::report::{
    Base44App, EnvReport, Finding, FindingCategory, Secret, Service, Severity, Supabase, Verdicts,
};
use crate::scan::Sources;
use crate::services::Deps;

/// Everything the findings are derived from.
pub struct Facts<'a> {
    /// Tree, history and warnings.
    pub ctx: &'a Ctx<'a>,
    /// Loaded text files.
    pub sources: &'a Sources,
    /// Declared dependencies.
    pub deps: &'a Deps,
    /// The builder.
    pub builder: BuilderId,
    /// Deployable units.
    pub units: &'a [Unit],
    /// Services.
    pub services: &'a [Service],
    /// Supabase details.
    pub supabase: Option<&'a Supabase>,
    /// Base44 details.
    pub base44: Option<&'a Base44App>,
    /// Env vars.
    pub env: &'a EnvReport,
    /// Secrets.
    pub secrets: &'a [Secret],
}

impl Facts<'_> {
    /// Whether a service was detected.
    pub fn has_service(&self, id: &str) -> bool {
        self.services.iter().any(|s| s.id == id)
    }
}

/// A finding under construction.
pub(crate) fn finding(
    id: &str,
    category: FindingCategory,
    severity: Severity,
    title: impl Into<String>,
    evidence: Vec<String>,
    fix: impl Into<String>,
    ferry: Option<&str>,
) -> Finding {
    Finding {
        id: id.into(),
        category,
        severity,
        title: title.into(),
        evidence,
        fix: fix.into(),
        ferry: ferry.map(str::to_string),
    }
}

/// All findings, most severe first.
pub fn findings(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    lockin::findings(facts, &mut out);
    security::findings(facts, &mut out);
    production::findings(facts, &mut out);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| category_rank(a.category).cmp(&category_rank(b.category)))
    });
    out
}

fn category_rank(c: FindingCategory) -> u8 {
    match c {
        FindingCategory::Security => 0,
        FindingCategory::LockIn => 1,
        FindingCategory::Production => 2,
    }
}

/// One line per area.
pub fn verdicts(findings: &[Finding]) -> Verdicts {
    let line = |category: FindingCategory, none: &str| {
        let of: Vec<&Finding> = findings.iter().filter(|f| f.category == category).collect();
        if of.is_empty() {
            return none.to_string();
        }
        let mut parts = Vec::new();
        for severity in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ] {
            let n = of.iter().filter(|f| f.severity == severity).count();
            if n > 0 {
                parts.push(format!("{n} {}", severity.as_str()));
            }
        }
        parts.join(", ")
    };
    Verdicts {
        lock_in: line(
            FindingCategory::LockIn,
            "nothing left on the builder's servers",
        ),
        security: line(FindingCategory::Security, "no issue found"),
        production: line(FindingCategory::Production, "no gap found"),
    }
}

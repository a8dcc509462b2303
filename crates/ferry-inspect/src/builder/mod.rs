//! Which AI app builder made the app: signals, scores and the verdict (docs/detection.md).

mod base44;
mod bolt;
mod emergent;
mod lovable;
mod replit;
mod v0;

use regex::Regex;

use crate::context::Ctx;
use crate::error::InspectError;
use crate::history::Commit;
use crate::profile::{BuilderId, BuilderReport, Candidate, Confidence, Evidence, EvidenceKind};

/// A builder needs at least this score to be named.
pub const MIN_SCORE: f64 = 0.5;

/// The signals one builder module found, plus what it knows about the app.
#[derive(Default)]
pub(crate) struct Findings {
    pub evidence: Vec<Evidence>,
    pub generation: Option<String>,
    pub app_id: Option<String>,
}

impl Findings {
    /// Adds a signal seen in a file.
    pub fn file(&mut self, weight: f64, signal: impl Into<String>, at: impl Into<String>) {
        self.push(EvidenceKind::File, weight, signal, at);
    }

    /// Adds a signal seen in a name.
    pub fn name(&mut self, weight: f64, signal: impl Into<String>, at: impl Into<String>) {
        self.push(EvidenceKind::Name, weight, signal, at);
    }

    fn push(
        &mut self,
        kind: EvidenceKind,
        weight: f64,
        signal: impl Into<String>,
        at: impl Into<String>,
    ) {
        self.evidence.push(Evidence {
            signal: signal.into(),
            at: at.into(),
            kind,
            weight,
        });
    }

    /// Adds a history signal when any commit's author matches.
    pub fn commits_by(
        &mut self,
        ctx: &Ctx,
        weight: f64,
        who: &str,
        pred: impl Fn(&str, &str) -> bool,
    ) {
        let Some(history) = ctx.history else { return };
        let (count, first) = history.by_author(pred);
        if let Some(first) = first {
            self.push(
                EvidenceKind::History,
                weight,
                format!("{count} of {} commits by {who}", history.commits.len()),
                commit_at(first),
            );
        }
    }

    /// Adds a history signal for the first commit.
    pub fn first_commit(&mut self, weight: f64, signal: impl Into<String>, commit: &Commit) {
        self.push(EvidenceKind::History, weight, signal, commit_at(commit));
    }

    fn score(&self) -> f64 {
        1.0 - self
            .evidence
            .iter()
            .map(|e| 1.0 - e.weight)
            .product::<f64>()
    }
}

fn commit_at(c: &Commit) -> String {
    let short: String = c.id.chars().take(10).collect();
    format!("commit {short} by {} <{}>", c.author, c.email)
}

/// Decides the builder. `declared` is the manifest's `builder`, which wins.
pub fn detect(
    ctx: &Ctx,
    declared: Option<BuilderId>,
) -> Result<(BuilderReport, Vec<Candidate>), InspectError> {
    let mut all: Vec<(BuilderId, Findings)> = Vec::new();
    for id in BuilderId::ALL {
        let mut f = Findings::default();
        match id {
            BuilderId::Lovable => lovable::detect(ctx, &mut f)?,
            BuilderId::Bolt => bolt::detect(ctx, &mut f)?,
            BuilderId::Base44 => base44::detect(ctx, &mut f)?,
            BuilderId::Replit => replit::detect(ctx, &mut f)?,
            BuilderId::Emergent => emergent::detect(ctx, &mut f)?,
            BuilderId::V0 => v0::detect(ctx, &mut f)?,
            BuilderId::None => {}
        }
        f.evidence
            .sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.at.cmp(&b.at)));
        all.push((id, f));
    }
    let mut candidates: Vec<Candidate> = all
        .iter()
        .filter(|(_, f)| !f.evidence.is_empty())
        .map(|(id, f)| Candidate {
            id: *id,
            score: round(f.score()),
        })
        .collect();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));

    let chosen = match declared {
        Some(id) => Some(id),
        None => candidates
            .first()
            .filter(|c| c.score >= MIN_SCORE)
            .map(|c| c.id),
    };
    let report = match chosen {
        Some(BuilderId::None) | None => BuilderReport {
            id: BuilderId::None,
            name: BuilderId::None.display_name().into(),
            score: 0.0,
            confidence: if declared.is_some() {
                Confidence::Declared
            } else {
                Confidence::High
            },
            generation: None,
            app_id: None,
            from_history_only: false,
            evidence: Vec::new(),
        },
        Some(id) => {
            let f = all
                .into_iter()
                .find(|(b, _)| *b == id)
                .map(|(_, f)| f)
                .unwrap_or_default();
            let score = round(f.score());
            BuilderReport {
                id,
                name: id.display_name().into(),
                score,
                confidence: if declared.is_some() {
                    Confidence::Declared
                } else {
                    Confidence::from_score(score)
                },
                from_history_only: !f.evidence.is_empty()
                    && f.evidence.iter().all(|e| e.kind == EvidenceKind::History),
                generation: f.generation,
                app_id: f.app_id,
                evidence: f.evidence,
            }
        }
    };
    Ok((report, candidates))
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Compiles a regex literal known to be valid.
pub(crate) fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|err| panic!("invalid built-in regex {pattern}: {err}"))
}

/// The first file among `vite.config.{ts,js,mts,mjs,cts,cjs}` in `dir`.
pub(crate) fn vite_config(ctx: &Ctx, dir: &str) -> Option<String> {
    ctx.tree.first_of(
        dir,
        &[
            "vite.config.ts",
            "vite.config.js",
            "vite.config.mts",
            "vite.config.mjs",
            "vite.config.cts",
            "vite.config.cjs",
        ],
    )
}

/// Files in `dir` (not recursive) whose name matches `pattern`.
pub(crate) fn matching_files<'a>(ctx: &'a Ctx, dir: &str, pattern: &'a Regex) -> Vec<&'a str> {
    ctx.tree
        .child_files(dir)
        .filter(|name| pattern.is_match(name))
        .collect()
}

/// `s` when `n` is not one.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

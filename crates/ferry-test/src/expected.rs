//! `expected.toml`: the hand-written facts a fixture must satisfy (tests/fixtures/README.md).

use serde::Deserialize;

/// A fixture's expected facts.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// What the fixture reproduces.
    pub description: Option<String>,
    /// The app's name.
    pub name: Option<String>,
    /// Builder facts.
    pub builder: Option<ExpectedBuilder>,
    /// The exact set of units (by path).
    #[serde(default, rename = "unit")]
    pub units: Vec<ExpectedUnit>,
    /// Warnings that must appear.
    #[serde(default, rename = "warning")]
    pub warnings: Vec<ExpectedWarning>,
    /// The error the inspection must fail with.
    pub error: Option<ExpectedError>,
    /// Exact number of secrets.
    pub secrets: Option<usize>,
    /// Public key kinds that must be reported.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// Finding ids that must not appear.
    #[serde(default)]
    pub findings_absent: Vec<String>,
    /// Services that must be reported.
    #[serde(default, rename = "service")]
    pub services: Vec<ExpectedService>,
    /// Supabase details.
    pub supabase: Option<ExpectedSupabase>,
    /// Base44 details.
    pub base44: Option<ExpectedBase44>,
    /// Env vars that must be reported.
    #[serde(default, rename = "env")]
    pub env: Vec<ExpectedEnv>,
    /// Secrets that must be reported.
    #[serde(default, rename = "secret")]
    pub secret: Vec<ExpectedSecret>,
    /// Findings that must be reported.
    #[serde(default, rename = "finding")]
    pub findings: Vec<ExpectedFinding>,
}

/// `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedService {
    /// Service id.
    pub id: String,
}

/// `[supabase]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSupabase {
    /// Project ref.
    pub project_ref: Option<String>,
    /// Number of tables.
    pub tables: Option<usize>,
    /// Number of tables with RLS enabled.
    pub rls_enabled: Option<usize>,
    /// Exact set of function names.
    pub functions: Option<Vec<String>>,
    /// Exact set of functions with `verify_jwt = false`.
    pub functions_without_jwt: Option<Vec<String>>,
    /// Exact set of bucket names.
    pub buckets: Option<Vec<String>>,
    /// Client files that must be listed.
    #[serde(default)]
    pub client_files: Vec<String>,
}

/// `[base44]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedBase44 {
    /// App id.
    pub app_id: Option<String>,
    /// Exact set of entity names.
    pub entities: Option<Vec<String>>,
    /// Exact set of integrations called.
    pub integrations: Option<Vec<String>>,
    /// Exact set of backend functions.
    pub functions: Option<Vec<String>>,
    /// Exact set of agents.
    pub agents: Option<Vec<String>>,
}

/// `[[env]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEnv {
    /// Variable name.
    pub name: String,
    /// build | runtime.
    pub phase: Option<String>,
    /// Defined in a committed `.env*` (not an example).
    pub defined: Option<bool>,
}

/// `[[secret]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSecret {
    /// Secret kind.
    pub kind: String,
    /// Substring of the location.
    pub at: Option<String>,
    /// Severity.
    pub severity: Option<String>,
    /// Found only in the git history.
    pub history: Option<bool>,
    /// In client code.
    pub client: Option<bool>,
    /// The raw value: it must never appear in any output.
    pub value: Option<String>,
}

/// `[[finding]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// Finding id.
    pub id: String,
    /// Severity every finding with this id has.
    pub severity: Option<String>,
    /// Exact number of findings with this id (default: at least one).
    pub count: Option<usize>,
    /// Substring of some evidence line of some finding with this id.
    pub evidence: Option<String>,
}

/// `[builder]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedBuilder {
    /// Builder id.
    pub id: String,
    /// Least acceptable confidence level.
    pub confidence: Option<String>,
    /// Template generation.
    pub generation: Option<String>,
    /// Builder's app id.
    pub app_id: Option<String>,
    /// Substrings of evidence lines.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Every signal came from history.
    pub from_history_only: Option<bool>,
}

/// `[[unit]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedUnit {
    /// Folder (the key).
    pub path: String,
    /// Unit name.
    pub name: Option<String>,
    /// static | server.
    pub kind: Option<String>,
    /// Framework id.
    pub framework: Option<String>,
    /// Package manager id.
    pub package_manager: Option<String>,
    /// `node 20`, `python 3.11`.
    pub runtime: Option<String>,
    /// Install command ("" = none).
    pub install: Option<String>,
    /// Build command ("" = none).
    pub build: Option<String>,
    /// Start command ("" = none).
    pub start: Option<String>,
    /// Output folder relative to the unit.
    pub output: Option<String>,
    /// SPA fallback.
    pub spa: Option<bool>,
    /// Port the code listens on.
    pub port: Option<u16>,
}

/// `[[warning]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedWarning {
    /// Substring of some warning.
    pub contains: String,
}

/// `[error]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// Error code.
    pub code: String,
    /// File the error names.
    pub file: Option<String>,
}

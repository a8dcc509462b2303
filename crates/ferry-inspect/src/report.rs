//! The second half of the `AppProfile`: services, env vars, secrets, findings and verdicts
//! (rules in docs/findings.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sql::{SqlBucket, SqlTable};

/// An external service the app depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Stable id (`supabase`, `stripe`, `replit-auth`…).
    pub id: String,
    /// Product name.
    pub name: String,
    /// What it is for.
    pub category: ServiceCategory,
    /// Why ferry believes the app uses it.
    pub evidence: Vec<String>,
}

/// What a service is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceCategory {
    /// Data storage.
    Database,
    /// Sign-in and users.
    Auth,
    /// File storage.
    Storage,
    /// Server-side functions.
    Functions,
    /// Language models.
    Ai,
    /// Payments.
    Payments,
    /// Email delivery.
    Email,
    /// Text messages.
    Sms,
    /// Maps.
    Maps,
    /// Package registries.
    Packages,
    /// A builder's whole backend platform.
    Platform,
}

/// What the app uses of Supabase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Supabase {
    /// The 20-letter project ref.
    pub project_ref: Option<String>,
    /// `https://<ref>.supabase.co`.
    pub url: Option<String>,
    /// Files that create a Supabase client.
    pub client_files: Vec<String>,
    /// Keys found (values never included).
    pub keys: Vec<SupabaseKey>,
    /// Tables after applying the SQL files in order.
    pub tables: Vec<SqlTable>,
    /// Edge functions.
    pub functions: Vec<EdgeFunction>,
    /// Storage buckets.
    pub buckets: Vec<SqlBucket>,
}

/// A Supabase key seen in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupabaseKey {
    /// `supabase-anon-key`, `supabase-service-role-key`, `supabase-publishable-key`, `supabase-secret-key`.
    pub kind: String,
    /// `file:line`.
    pub at: String,
    /// Whether it is meant to be public.
    pub public: bool,
}

/// A Supabase edge function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeFunction {
    /// Function name (its folder).
    pub name: String,
    /// Whether callers must present a JWT.
    pub verify_jwt: bool,
    /// Its entry file.
    pub at: String,
}

/// What the app uses of Base44.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Base44App {
    /// The 24-hex app id.
    pub app_id: Option<String>,
    /// Entities (schemas from `base44/entities/`, or names used in code).
    pub entities: Vec<Base44Entity>,
    /// Backend functions.
    pub functions: Vec<String>,
    /// AI agents.
    pub agents: Vec<String>,
    /// Integrations the code calls (`InvokeLLM`, `UploadFile`…).
    pub integrations: Vec<String>,
}

/// One Base44 entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Base44Entity {
    /// Entity name.
    pub name: String,
    /// Its schema file, when the repo has one.
    pub file: Option<String>,
    /// Field names from the schema.
    pub fields: Vec<String>,
    /// The `rls` rules as written.
    pub rls: Option<serde_json::Value>,
}

/// When an env var is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvPhase {
    /// Inlined into the browser bundle at build time.
    Build,
    /// Read by running processes.
    Runtime,
}

/// Env vars the code reads, against those committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvReport {
    /// Every variable read or defined.
    pub vars: Vec<EnvVar>,
    /// Read but defined nowhere: the owner must provide them.
    pub missing: Vec<String>,
    /// Defined but never read.
    pub unused: Vec<String>,
}

/// One env var.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Build or runtime.
    pub phase: EnvPhase,
    /// Where the code reads it (`file:line`, at most 10).
    pub read_at: Vec<String>,
    /// Committed env files that give it a value.
    pub defined_in: Vec<String>,
    /// Example env files that mention it.
    pub example_in: Vec<String>,
}

/// How bad something is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// For information.
    Info,
    /// Worth fixing.
    Low,
    /// Fix before production.
    Medium,
    /// Fix now.
    High,
    /// Exploitable today.
    Critical,
}

impl Severity {
    /// The name as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Info,
            Self::Low,
            Self::Medium,
            Self::High,
            Self::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A leaked secret (never its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Kind (`stripe-live-secret-key`…).
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// `file:line` (as of `commit` when set).
    pub at: String,
    /// Set when the secret survives only in the git history.
    pub commit: Option<String>,
    /// Whether it sits in code shipped to browsers.
    pub client: bool,
    /// Redacted preview: the public prefix and the length.
    pub preview: String,
    /// First 12 hex digits of the value's BLAKE3 hash.
    pub fingerprint: String,
}

/// A key that is public by design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    /// Kind (`supabase-anon-key`…).
    pub kind: String,
    /// `file:line`.
    pub at: String,
}

/// Area of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCategory {
    /// What still runs on the builder's servers.
    LockIn,
    /// What is unsafe today.
    Security,
    /// What stands between the app and production.
    Production,
}

/// One thing the owner should act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable id (`rls-missing`…).
    pub id: String,
    /// Area.
    pub category: FindingCategory,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// Where (`file:line`, tables, commits).
    pub evidence: Vec<String>,
    /// The concrete fix.
    pub fix: String,
    /// What ferry does about it, if anything.
    pub ferry: Option<String>,
}

/// One line per area.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdicts {
    /// Lock-in.
    pub lock_in: String,
    /// Security.
    pub security: String,
    /// Production readiness.
    pub production: String,
}

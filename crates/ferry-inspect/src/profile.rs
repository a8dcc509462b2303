//! The `AppProfile` document: what `ferry inspect` found (schema `ferry.app-profile`, version 1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::history::Commit;
use crate::report::{
    Base44App, EnvReport, Finding, PublicKey, Secret, Service, Supabase, Verdicts,
};

/// Schema name written in every profile.
pub const PROFILE_SCHEMA: &str = "ferry.app-profile";
/// Current profile version. Additive changes keep it; breaking changes bump it.
pub const PROFILE_VERSION: u32 = 1;

/// Everything `ferry inspect` learned about one app.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppProfile {
    /// Always `ferry.app-profile`.
    pub schema: String,
    /// Format version, currently 1.
    pub version: u32,
    /// The app's name (a slug): from `ferry.toml`, package.json or the source's name.
    pub name: String,
    /// Where the app came from.
    pub source: SourceInfo,
    /// The AI app builder that made the app.
    pub builder: BuilderReport,
    /// Every builder with any signal, best first.
    pub candidates: Vec<Candidate>,
    /// The deployable units, root first.
    pub units: Vec<Unit>,
    /// Whether a `ferry.toml` was found and applied.
    pub manifest: Option<ManifestInfo>,
    /// A summary of the git history, when the source had one.
    pub history: Option<HistorySummary>,
    /// External services the app depends on.
    pub services: Vec<Service>,
    /// Supabase details, when the app uses Supabase.
    pub supabase: Option<Supabase>,
    /// Base44 details, when the app uses Base44.
    pub base44: Option<Base44App>,
    /// Env vars read and defined.
    pub env: EnvReport,
    /// Leaked secrets (values never included).
    pub secrets: Vec<Secret>,
    /// Keys that are public by design.
    pub public_keys: Vec<PublicKey>,
    /// Lock-in, security and production findings, most severe first.
    pub findings: Vec<Finding>,
    /// One line per area.
    pub verdicts: Verdicts,
    /// Things the owner should know that did not stop the inspection.
    pub warnings: Vec<String>,
    /// Size of what was inspected.
    pub stats: Stats,
}

/// Kind of source that was inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A folder on disk.
    Folder,
    /// A `.zip` export, extracted to a temporary folder.
    Zip,
    /// A git repository cloned to a temporary folder.
    Git,
}

/// Where the app came from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// Folder, zip or git.
    pub kind: SourceKind,
    /// The path or URL the user gave.
    pub location: String,
    /// The commit inspected, for git sources and folders inside a repository.
    pub commit: Option<String>,
}

/// Identifier of an AI app builder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum BuilderId {
    /// lovable.dev
    Lovable,
    /// bolt.new
    Bolt,
    /// base44.com
    Base44,
    /// replit.com
    Replit,
    /// emergent.sh
    Emergent,
    /// v0.app (Vercel)
    V0,
    /// Not made by a known builder (or not recognisably).
    None,
}

impl BuilderId {
    /// Every real builder, in report order.
    pub const ALL: [BuilderId; 6] = [
        Self::Lovable,
        Self::Bolt,
        Self::Base44,
        Self::Replit,
        Self::Emergent,
        Self::V0,
    ];

    /// The id as written in documents (`lovable`, `v0`, `none`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lovable => "lovable",
            Self::Bolt => "bolt",
            Self::Base44 => "base44",
            Self::Replit => "replit",
            Self::Emergent => "emergent",
            Self::V0 => "v0",
            Self::None => "none",
        }
    }

    /// The builder's product name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Lovable => "Lovable",
            Self::Bolt => "Bolt.new",
            Self::Base44 => "Base44",
            Self::Replit => "Replit",
            Self::Emergent => "Emergent",
            Self::V0 => "v0",
            Self::None => "no known builder",
        }
    }

    /// Parses an id as written in `ferry.toml`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([Self::None])
            .find(|b| b.as_str() == text)
    }
}

/// How sure the detection is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Score below 0.7.
    Low,
    /// Score from 0.7.
    Medium,
    /// Score from 0.9.
    High,
    /// Stated in `ferry.toml`.
    Declared,
}

impl Confidence {
    /// The level a score reaches.
    pub fn from_score(score: f64) -> Self {
        if score >= 0.9 {
            Self::High
        } else if score >= 0.7 {
            Self::Medium
        } else {
            Self::Low
        }
    }
}

/// Where a piece of evidence was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// A file in the tree.
    File,
    /// The git history.
    History,
    /// A name: the package's, the folder's, the archive's or the repository's.
    Name,
}

/// One observation supporting a builder.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// What was observed.
    pub signal: String,
    /// Where: `path`, `path:line`, `commit <id> by <author>`, or a name.
    pub at: String,
    /// File, history or name.
    pub kind: EvidenceKind,
    /// How much this signal alone says, in (0, 1).
    pub weight: f64,
}

/// The builder verdict.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuilderReport {
    /// The builder, or `none`.
    pub id: BuilderId,
    /// Product name.
    pub name: String,
    /// Combined score `1 − Π(1 − weight)`, in [0, 1].
    pub score: f64,
    /// Level of the score.
    pub confidence: Confidence,
    /// Template generation, where a builder has several (`sdk-0.1`, `client-env`…).
    pub generation: Option<String>,
    /// The builder's own id for the app (Base44 appId, v0 project id).
    pub app_id: Option<String>,
    /// True when every signal came from the git history (the files were edited since).
    pub from_history_only: bool,
    /// The observations behind the verdict, strongest first.
    pub evidence: Vec<Evidence>,
}

/// A builder that had some signal.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// The builder.
    pub id: BuilderId,
    /// Its combined score.
    pub score: f64,
}

/// Static files or a server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    /// Built once into files the edge serves.
    Static,
    /// Runs as one or more processes behind the edge.
    Server,
}

/// Tool that installs a unit's dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    /// npm
    Npm,
    /// pnpm
    Pnpm,
    /// Yarn
    Yarn,
    /// Bun
    Bun,
    /// pip with requirements.txt or pyproject.toml
    Pip,
    /// Poetry
    Poetry,
    /// uv
    Uv,
    /// Pipenv
    Pipenv,
}

impl PackageManager {
    /// The command name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Pnpm => "pnpm",
            Self::Yarn => "yarn",
            Self::Bun => "bun",
            Self::Pip => "pip",
            Self::Poetry => "poetry",
            Self::Uv => "uv",
            Self::Pipenv => "pipenv",
        }
    }
}

/// A runtime version hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// `node` or `python`.
    pub name: String,
    /// Major (Node) or major.minor (Python) version.
    pub version: String,
    /// File the hint came from.
    pub from: String,
}

/// A shell command and the folder (relative to the root) it runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Run with `sh -c`.
    pub run: String,
    /// Working folder relative to the source root (`.` for the root).
    pub cwd: String,
}

/// A long-running process of a server unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Process name, unique in the unit (`web` by default).
    pub name: String,
    /// How to start it.
    pub command: Command,
    /// Environment variable that tells it which port to listen on.
    pub port_env: String,
    /// The port the code listens on when it ignores `port_env`, if known.
    pub port: Option<u16>,
    /// HTTP path that answers 2xx when the process is healthy.
    pub health: Option<String>,
    /// Resource limits from `ferry.toml` (none unless declared).
    #[serde(
        default,
        skip_serializing_if = "crate::limits::ProcessLimits::is_empty"
    )]
    pub limits: crate::limits::ProcessLimits,
}

/// A route from a path prefix to another unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Path prefix, starting with `/`.
    pub prefix: String,
    /// Name of the unit that serves it.
    pub to: String,
}

/// One deployable part of the app.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Unit name, unique in the app.
    pub name: String,
    /// Folder relative to the root (`.` for the root).
    pub path: String,
    /// Static or server.
    pub kind: UnitKind,
    /// Framework id (`vite-react`, `nextjs`, `fastapi`…), see docs/detection.md.
    pub framework: Option<String>,
    /// Dependency installer.
    pub package_manager: Option<PackageManager>,
    /// Runtime version hint.
    pub runtime: Option<Runtime>,
    /// Install step.
    pub install: Option<Command>,
    /// Build step.
    pub build: Option<Command>,
    /// Build output folder, relative to the unit's path.
    pub output: String,
    /// Whether unknown paths fall back to `index.html` (client-side routing).
    pub spa: bool,
    /// Processes of a server unit.
    pub processes: Vec<Process>,
    /// Path prefixes routed to other units.
    pub proxies: Vec<Proxy>,
    /// Why ferry believes this (files and facts).
    pub evidence: Vec<String>,
    /// True when the unit comes from `ferry.toml`.
    pub declared: bool,
}

/// The `ferry.toml` that was applied.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestInfo {
    /// Path relative to the root.
    pub path: String,
    /// Manifest format version.
    pub version: u32,
}

/// What the git history says, in brief.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistorySummary {
    /// Number of commits.
    pub commits: usize,
    /// The oldest commit.
    pub first: Option<Commit>,
    /// Authors by number of commits, most first (at most 10).
    pub authors: Vec<AuthorCount>,
}

/// Commits by one author.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorCount {
    /// `Name <email>`.
    pub author: String,
    /// How many commits.
    pub commits: usize,
}

/// Size of what was inspected.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Files indexed.
    pub files: usize,
}

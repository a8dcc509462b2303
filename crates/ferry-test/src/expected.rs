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

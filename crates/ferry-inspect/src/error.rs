//! Typed errors of the inspection, each with a stable code and a hint for the user.

use std::path::PathBuf;

/// Why an inspection could not produce a profile.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The source tree holds no files at all.
    #[error("`{root}` holds no files")]
    EmptySource {
        /// The root that was walked.
        root: PathBuf,
    },
    /// A file or folder name is not valid UTF-8.
    #[error("a file name is not valid UTF-8: `{path}`")]
    NonUtf8Name {
        /// The offending path, lossily decoded, relative to the root.
        path: String,
    },
    /// The tree is larger than the walk accepts.
    #[error("the source tree is too large: {reason}")]
    TooLarge {
        /// Which bound was crossed.
        reason: String,
    },
    /// A file ferry needs could not be parsed.
    #[error("`{file}` is not valid {format}: {detail}")]
    MalformedFile {
        /// Path relative to the root.
        file: String,
        /// JSON, JSONC, TOML or YAML.
        format: &'static str,
        /// Parser message, with line and column where known.
        detail: String,
    },
    /// `ferry.toml` parsed but says something ferry cannot accept.
    #[error("`ferry.toml` is invalid: {detail}")]
    InvalidManifest {
        /// What is wrong.
        detail: String,
    },
    /// The tree could not be read.
    #[error("could not read `{path}`: {source}")]
    Io {
        /// Path that failed.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl InspectError {
    /// A stable, kebab-case code for scripts and tests (documented in `docs/formats/app-profile.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptySource { .. } => "empty-source",
            Self::NonUtf8Name { .. } => "non-utf8-name",
            Self::TooLarge { .. } => "too-large",
            Self::MalformedFile { .. } => "malformed-file",
            Self::InvalidManifest { .. } => "invalid-manifest",
            Self::Io { .. } => "io",
        }
    }

    /// The file the error is about, relative to the root, when there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::MalformedFile { file, .. } => Some(file),
            Self::InvalidManifest { .. } => Some("ferry.toml"),
            _ => None,
        }
    }

    /// One line telling the user what to do next.
    pub fn hint(&self) -> String {
        match self {
            Self::EmptySource { .. } => {
                "point ferry at the folder, zip or repository that holds the app".into()
            }
            Self::NonUtf8Name { .. } => {
                "rename the file to a UTF-8 name (ferry names files in manifests and URLs)".into()
            }
            Self::TooLarge { .. } => {
                "inspect the app's own folder rather than a parent, or remove generated files"
                    .into()
            }
            Self::MalformedFile { file, .. } => {
                format!("fix the syntax of `{file}` (the builder's tooling would reject it too)")
            }
            Self::InvalidManifest { .. } => {
                "see docs/formats/ferry-toml.md for the schema of `ferry.toml` version 1".into()
            }
            Self::Io { .. } => "check the path and its permissions".into(),
        }
    }

    /// Whether the error is the input's fault (exit code 2) rather than an operation failing.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }
}

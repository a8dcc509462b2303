//! Why a blob or a release could not be stored, read or trusted.

use std::path::{Path, PathBuf};

/// Longest excerpt of an untrusted value that an error message repeats.
const PREVIEW_CHARS: usize = 80;

/// Errors of the blob store, the release store, scanning and garbage collection.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A string is not a BLAKE3 hash (64 lowercase hex characters).
    #[error("`{value}` is not a blob hash (64 lowercase hex characters)")]
    InvalidHash {
        /// The value, shortened and escaped.
        value: String,
    },
    /// Content does not hash to what the caller announced.
    #[error("content hashes to {actual}, not to the expected {expected}")]
    HashMismatch {
        /// The hash announced.
        expected: String,
        /// The hash of the bytes received.
        actual: String,
    },
    /// A stored blob no longer hashes to its name.
    #[error("blob {hash} is corrupt: its content no longer matches its hash")]
    CorruptBlob {
        /// The blob's name.
        hash: String,
    },
    /// A blob is not in the store.
    #[error("blob {hash} is not in the store")]
    MissingBlob {
        /// The blob's name.
        hash: String,
    },
    /// A release path is absolute, climbs with `..`, or is otherwise not a clean relative path.
    #[error("`{path}` is not a safe release path: {reason}")]
    UnsafePath {
        /// The path, shortened and escaped.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symbolic link in an artifact folder points outside it.
    #[error("`{path}` is a symbolic link that leaves the artifact folder (`{target}`)")]
    LinkEscapes {
        /// The link, relative to the artifact folder.
        path: String,
        /// Its target as written in the link.
        target: String,
    },
    /// A symbolic link in an artifact folder points at nothing (or at a loop of links).
    #[error("`{path}` is a symbolic link to `{target}`, which does not exist")]
    BrokenLink {
        /// The link, relative to the artifact folder.
        path: String,
        /// Its target as written in the link.
        target: String,
    },
    /// An artifact folder holds something that is neither a file, a folder nor a link.
    #[error("`{path}` is a device, socket or pipe, which a release cannot hold")]
    SpecialFile {
        /// The entry, relative to the artifact folder.
        path: String,
    },
    /// A file name in an artifact folder is not valid UTF-8.
    #[error("`{}` has a name that is not valid UTF-8", path.display())]
    NonUtf8Name {
        /// The file.
        path: PathBuf,
    },
    /// A release with this id exists already with different content.
    #[error("release `{id}` exists already with different content; releases are never overwritten")]
    ReleaseConflict {
        /// The release id.
        id: String,
    },
    /// A manifest is malformed or inconsistent.
    #[error("invalid release manifest `{what}`: {detail}")]
    InvalidManifest {
        /// The release id or file it came from.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// A string is not a release id (`r` and 12 lowercase hex characters).
    #[error("`{value}` is not a release id (`r` followed by 12 lowercase hex characters)")]
    InvalidReleaseId {
        /// The value, shortened and escaped.
        value: String,
    },
    /// A release or artifact folder does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Routing rules (`_redirects`, `_headers`, `vercel.json`) are malformed or too large.
    #[error("invalid routing rules in {location}: {detail}")]
    InvalidRules {
        /// The file, and the line when there is one, e.g. ``"`_redirects` line 3"``.
        location: String,
        /// What is wrong, with untrusted excerpts shortened and escaped.
        detail: String,
    },
    /// Reading or writing failed.
    #[error("could not access `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ReleaseError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHash { .. } => "invalid-hash",
            Self::HashMismatch { .. } => "hash-mismatch",
            Self::CorruptBlob { .. } => "corrupt-blob",
            Self::MissingBlob { .. } => "missing-blob",
            Self::UnsafePath { .. } => "unsafe-path",
            Self::LinkEscapes { .. } => "link-escapes",
            Self::BrokenLink { .. } => "broken-link",
            Self::SpecialFile { .. } => "special-file",
            Self::NonUtf8Name { .. } => "non-utf8-name",
            Self::ReleaseConflict { .. } => "release-conflict",
            Self::InvalidManifest { .. } => "invalid-manifest",
            Self::InvalidReleaseId { .. } => "invalid-release-id",
            Self::NotFound { .. } => "not-found",
            Self::InvalidRules { .. } => "invalid-rules",
            Self::Io { .. } => "io",
        }
    }

    /// One line telling the user what to do.
    pub fn hint(&self) -> String {
        match self {
            Self::InvalidHash { .. } => {
                "blob hashes are BLAKE3 digests written as 64 lowercase hex characters".into()
            }
            Self::HashMismatch { .. } => {
                "the content changed or was damaged in transit; send it again".into()
            }
            Self::CorruptBlob { .. } => {
                "run `ferry releases verify`, then deploy again to upload a good copy".into()
            }
            Self::MissingBlob { .. } => {
                "deploy again so the missing content is uploaded; `ferry releases verify` lists what is lacking".into()
            }
            Self::UnsafePath { .. } => {
                "release paths are relative, `/`-separated, without `.`, `..` or empty segments".into()
            }
            Self::LinkEscapes { .. } | Self::BrokenLink { .. } => {
                "replace the link with the file it stands for, or point it inside the build output".into()
            }
            Self::SpecialFile { .. } => {
                "remove it from the build output; releases hold files, folders and links only".into()
            }
            Self::NonUtf8Name { .. } => "rename the file with a UTF-8 name".into(),
            Self::ReleaseConflict { .. } => {
                "the release is recorded already; activate it by its id instead of saving it again".into()
            }
            Self::InvalidManifest { .. } => {
                "the manifest was edited or damaged; build and deploy the release again".into()
            }
            Self::InvalidReleaseId { .. } => {
                "release ids look like `r1a2b3c4d5e6f`; `ferry releases` lists them".into()
            }
            Self::NotFound { .. } => "check the id or path; `ferry releases` lists releases".into(),
            Self::InvalidRules { .. } => {
                "fix or remove that rule; docs/rules.md lists the syntax ferry supports".into()
            }
            Self::Io { .. } => "check the path, its permissions and the free disk space".into(),
        }
    }

    /// Whether the input is at fault (a 4xx, exit code 2) rather than the machine or the store.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::Io { .. } | Self::CorruptBlob { .. } | Self::MissingBlob { .. }
        )
    }

    /// An `Io` error for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An `UnsafePath` error for the untrusted `path`.
    pub(crate) fn unsafe_path(path: &str, reason: &'static str) -> Self {
        Self::UnsafePath {
            path: preview(path),
            reason,
        }
    }

    /// An `InvalidRules` error; `detail` must already have its untrusted parts previewed.
    pub(crate) fn rules(location: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidRules {
            location: location.into(),
            detail: detail.into(),
        }
    }

    /// An `InvalidManifest` error.
    pub(crate) fn manifest(what: &str, detail: impl Into<String>) -> Self {
        Self::InvalidManifest {
            what: preview(what),
            detail: detail.into(),
        }
    }
}

/// An untrusted value made safe to print: control characters escaped, long values shortened.
pub(crate) fn preview(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == PREVIEW_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_escapes_and_shortens() {
        assert_eq!(preview("a\nb"), "a\\nb");
        let long = "x".repeat(500);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn codes_are_kebab_case_and_hints_present() {
        let errors = [
            ReleaseError::InvalidHash { value: "x".into() },
            ReleaseError::unsafe_path("../x", "climbs"),
            ReleaseError::manifest("r0", "bad"),
            ReleaseError::io(Path::new("/x"), std::io::Error::other("boom")),
        ];
        for e in &errors {
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!e.hint().is_empty());
            assert!(!e.to_string().is_empty());
        }
        assert!(!errors[3].is_bad_input());
        assert!(errors[1].is_bad_input());
    }
}

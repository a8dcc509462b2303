//! Why a source could not be acquired.

use std::path::PathBuf;

/// Errors of source acquisition. Every variant but `Io`/`TempDir` is the input's fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist.
    #[error("`{0}` does not exist")]
    NotFound(PathBuf),
    /// The path is neither a folder nor a zip archive.
    #[error("`{0}` is neither a folder, a .zip archive nor a git repository")]
    Unsupported(PathBuf),
    /// The archive cannot be read.
    #[error("`{archive}` is not a readable zip archive: {detail}")]
    ZipInvalid {
        /// The archive.
        archive: PathBuf,
        /// What the zip reader said.
        detail: String,
    },
    /// An entry would land outside the extraction folder (zip-slip) or has an absolute path.
    #[error("zip entry `{entry}` has an unsafe path (absolute or climbing out with `..`)")]
    UnsafePath {
        /// The entry name.
        entry: String,
    },
    /// A symbolic link points outside the archive's root.
    #[error("zip entry `{entry}` is a symbolic link that leaves the archive (`{target}`)")]
    SymlinkEscape {
        /// The link entry.
        entry: String,
        /// Its target.
        target: String,
    },
    /// An entry is encrypted.
    #[error("zip entry `{entry}` is encrypted")]
    Encrypted {
        /// The entry name.
        entry: String,
    },
    /// An entry name is not UTF-8.
    #[error("a zip entry name is not valid UTF-8: `{entry}`")]
    NonUtf8Name {
        /// The name, lossily decoded.
        entry: String,
    },
    /// The archive expands far beyond its size (a zip bomb).
    #[error("zip entry `{entry}` expands {ratio}x ({size} bytes): refusing a zip bomb")]
    ZipBomb {
        /// The entry name.
        entry: String,
        /// Uncompressed bytes seen.
        size: u64,
        /// Uncompressed / compressed.
        ratio: u64,
    },
    /// The archive has too many entries or too many bytes in all.
    #[error("the archive is too large: {detail}")]
    TooLarge {
        /// Which cap was crossed.
        detail: String,
    },
    /// `git` is not installed.
    #[error("`git` is not installed, so `{url}` cannot be cloned")]
    GitMissing {
        /// The repository.
        url: String,
    },
    /// `git clone` failed.
    #[error("could not clone `{url}`: {detail}")]
    GitFailed {
        /// The repository.
        url: String,
        /// git's last error line.
        detail: String,
    },
    /// `git clone` took too long.
    #[error("cloning `{url}` took longer than {seconds} s")]
    GitTimeout {
        /// The repository.
        url: String,
        /// The timeout.
        seconds: u64,
    },
    /// A temporary folder could not be created.
    #[error("could not create a temporary folder: {0}")]
    TempDir(std::io::Error),
    /// Reading or writing failed.
    #[error("could not access `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SourceError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not-found",
            Self::Unsupported(_) => "unsupported-source",
            Self::ZipInvalid { .. } => "zip-invalid",
            Self::UnsafePath { .. } => "zip-unsafe-path",
            Self::SymlinkEscape { .. } => "zip-symlink-escape",
            Self::Encrypted { .. } => "zip-encrypted",
            Self::NonUtf8Name { .. } => "non-utf8-name",
            Self::ZipBomb { .. } => "zip-bomb",
            Self::TooLarge { .. } => "too-large",
            Self::GitMissing { .. } => "git-missing",
            Self::GitFailed { .. } => "git-failed",
            Self::GitTimeout { .. } => "git-timeout",
            Self::TempDir(_) => "temp-dir",
            Self::Io { .. } => "io",
        }
    }

    /// One line telling the user what to do.
    pub fn hint(&self) -> String {
        match self {
            Self::NotFound(_) | Self::Unsupported(_) => {
                "pass a folder, a .zip export, or a git URL (https://…, git@…, file://…)".into()
            }
            Self::ZipInvalid { .. } => "download the export again; the file looks truncated or is not a zip".into(),
            Self::UnsafePath { .. } | Self::SymlinkEscape { .. } => {
                "this archive tries to write outside its folder; do not extract it, ask for a clean export".into()
            }
            Self::Encrypted { .. } => "export the app again without a password, or extract it yourself and pass the folder".into(),
            Self::NonUtf8Name { .. } => "re-create the archive with UTF-8 file names (e.g. `zip` on Linux or macOS)".into(),
            Self::ZipBomb { .. } | Self::TooLarge { .. } => {
                "this is not an app export; if it really is, extract it yourself and pass the folder".into()
            }
            Self::GitMissing { .. } => "install git (`apt-get install git`), or pass a folder or a .zip".into(),
            Self::GitFailed { .. } => "check the URL and that `git clone <url>` works in this shell (credentials, network)".into(),
            Self::GitTimeout { .. } => "retry with a larger `--git-timeout`, or clone it yourself and pass the folder".into(),
            Self::TempDir(_) => "check that the temporary folder ($TMPDIR) exists and is writable".into(),
            Self::Io { .. } => "check the path and its permissions".into(),
        }
    }

    /// Whether the input is at fault (exit code 2) rather than the machine.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::TempDir(_) | Self::Io { .. } | Self::GitMissing { .. } | Self::GitTimeout { .. }
        )
    }
}

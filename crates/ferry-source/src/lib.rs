//! `ferry-source` turns what the user points at — a folder, a `.zip` export or a git
//! repository — into a folder on disk that `ferry-inspect` can read, plus the git history.
//! Archives and repositories are untrusted: they are extracted or cloned into a fresh temporary
//! folder, bounded by [`Limits`], and removed when the [`Source`] is dropped.

mod archive;
mod error;
mod git;
mod limits;

use std::path::{Path, PathBuf};

use ferry_inspect::{History, SourceInfo, SourceKind};
use tempfile::TempDir;

pub use error::SourceError;
pub use limits::Limits;

/// An acquired source, ready to inspect. Temporary folders live as long as it does.
#[derive(Debug)]
pub struct Source {
    /// The folder holding the app.
    pub root: PathBuf,
    /// Kind, location and commit, for reports.
    pub info: SourceInfo,
    /// The source's own name (folder, archive stem or repository).
    pub name: String,
    /// The git history, when there is one.
    pub history: Option<History>,
    /// Things skipped or odd, worth telling the user.
    pub warnings: Vec<String>,
    git_timeout: std::time::Duration,
    _temp: Option<TempDir>,
}

impl Source {
    /// Reads every line the history added (`git log -p`, bounded), for the secret scan.
    /// Costly on long histories, so only the full inspection asks for it; a source without
    /// history is left as it is.
    pub fn read_added_lines(&mut self) -> Result<(), SourceError> {
        if let Some(history) = &mut self.history {
            let (added, truncated) = git::added_lines(&self.root, self.git_timeout)?;
            history.added = added;
            history.added_truncated = truncated;
        }
        Ok(())
    }

    /// What `ferry_inspect::inspect` needs to know about this source.
    pub fn input(&self, scope: ferry_inspect::Scope) -> ferry_inspect::Input<'_> {
        ferry_inspect::Input {
            root: &self.root,
            source: self.info.clone(),
            source_name: self.name.clone(),
            history: self.history.as_ref(),
            warnings: self.warnings.clone(),
            scope,
        }
    }
}

/// Progress of a long acquisition.
pub enum Progress<'a> {
    /// Extracting entry `done` of `total`.
    Extracting {
        /// Entries handled.
        done: usize,
        /// Entries in all.
        total: usize,
    },
    /// Cloning a repository.
    Cloning(&'a str),
}

/// Acquires `spec` (a folder, a `.zip` file, or a repository URL).
pub fn acquire(
    spec: &str,
    limits: &Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Source, SourceError> {
    if git::is_url(spec) {
        return from_git(spec, limits, progress);
    }
    let path = Path::new(spec);
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound(path.to_path_buf()),
        _ => SourceError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    if meta.is_dir() {
        return from_folder(path, limits);
    }
    if meta.is_file() && is_zip(path) {
        return from_zip(path, limits, progress);
    }
    Err(SourceError::Unsupported(path.to_path_buf()))
}

fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let starts_like_zip = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06");
    starts_like_zip
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn from_folder(path: &Path, limits: &Limits) -> Result<Source, SourceError> {
    let root = path.canonicalize().map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut warnings = Vec::new();
    let history = if root.join(".git").exists() {
        match git::history(&root, limits.git_timeout) {
            Ok(h) => h,
            Err(err) => {
                warnings.push(format!("could not read the git history: {err}"));
                None
            }
        }
    } else {
        None
    };
    Ok(Source {
        name: file_name(&root),
        info: SourceInfo {
            kind: SourceKind::Folder,
            location: path.display().to_string(),
            commit: history.as_ref().and_then(|h| h.head.clone()),
        },
        root,
        history,
        warnings,
        git_timeout: limits.git_timeout,
        _temp: None,
    })
}

fn from_zip(
    path: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Source, SourceError> {
    let temp = temp_dir()?;
    let dest = temp.path().join("src");
    std::fs::create_dir(&dest).map_err(|source| SourceError::Io {
        path: dest.clone(),
        source,
    })?;
    let extracted = archive::extract(path, &dest, limits, &mut |done, total| {
        progress(Progress::Extracting { done, total })
    })?;
    let root = single_top_folder(&dest).unwrap_or(dest);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    Ok(Source {
        root,
        info: SourceInfo {
            kind: SourceKind::Zip,
            location: path.display().to_string(),
            commit: None,
        },
        name: stem,
        history: None,
        warnings: extracted.warnings,
        git_timeout: limits.git_timeout,
        _temp: Some(temp),
    })
}

/// Exports often wrap everything in one folder (`my-app-main/…`): inspect inside it.
fn single_top_folder(dest: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(dest).ok()?;
    let only = entries.next()?.ok()?;
    if entries.next().is_some() {
        return None;
    }
    let kind = only.file_type().ok()?;
    kind.is_dir().then(|| only.path())
}

fn from_git(
    url: &str,
    limits: &Limits,
    progress: &mut dyn FnMut(Progress),
) -> Result<Source, SourceError> {
    progress(Progress::Cloning(&git::redact(url)));
    let temp = temp_dir()?;
    let dest = temp.path().join("src");
    git::clone(url, &dest, limits.git_timeout)?;
    let history = git::history(&dest, limits.git_timeout)?;
    let name = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("app")
        .trim_end_matches(".git")
        .to_string();
    Ok(Source {
        root: dest,
        info: SourceInfo {
            kind: SourceKind::Git,
            location: git::redact(url),
            commit: history.as_ref().and_then(|h| h.head.clone()),
        },
        name,
        history,
        warnings: Vec::new(),
        git_timeout: limits.git_timeout,
        _temp: Some(temp),
    })
}

fn temp_dir() -> Result<TempDir, SourceError> {
    tempfile::Builder::new()
        .prefix("ferry-source-")
        .tempdir()
        .map_err(SourceError::TempDir)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into())
}

//! The build log: one file per build, every line masked so env values never reach it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{BuildError, io};

/// Values shorter than this are not masked: they are too common (`1`, `true`, `prod`) to hide
/// without garbling the log, and too short to be credentials.
pub(crate) const MIN_MASKED_LEN: usize = 6;

/// Replaces env values in text with `***`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Masker {
    /// Values to hide, longest first (so a value containing another is hidden whole).
    values: Vec<String>,
}

impl Masker {
    /// A masker for the values of `env`.
    pub(crate) fn new(env: &BTreeMap<String, String>) -> Self {
        let mut values: Vec<String> = env
            .values()
            .filter(|v| v.chars().count() >= MIN_MASKED_LEN)
            .cloned()
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self { values }
    }

    /// `text` with every env value replaced by `***`.
    pub(crate) fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "***");
            }
        }
        out
    }
}

/// An open build log.
pub(crate) struct BuildLog {
    path: PathBuf,
    file: Option<LineWriter<File>>,
    masker: Masker,
    /// Set once a write failed; the build goes on without a complete log.
    pub(crate) failed: bool,
}

impl BuildLog {
    /// Creates `<log_dir>/<unit>-<unix ms>.log` (with a numeric suffix if that exists).
    pub(crate) fn create(log_dir: &Path, unit: &str, masker: Masker) -> Result<Self, BuildError> {
        std::fs::create_dir_all(log_dir).map_err(io(log_dir))?;
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let stem = format!("{}-{ms}", file_safe(unit));
        let mut n = 0u32;
        loop {
            let name = if n == 0 {
                format!("{stem}.log")
            } else {
                format!("{stem}-{n}.log")
            };
            let path = log_dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(LineWriter::new(file)),
                        masker,
                        failed: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(BuildError::Io { path, source: e }),
            }
        }
    }

    /// Where the log is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The masker applied to every line.
    pub(crate) fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Writes one line, masked.
    pub(crate) fn line(&mut self, text: &str) {
        let masked = self.masker.mask(text);
        self.raw(&masked);
    }

    /// Writes one line that is already masked.
    pub(crate) fn raw(&mut self, masked: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let result = file
            .write_all(masked.as_bytes())
            .and_then(|()| file.write_all(b"\n"));
        if let Err(e) = result {
            tracing::warn!(log = %self.path.display(), error = %e, "could not write the build log");
            self.failed = true;
            self.file = None;
        }
    }

    /// Flushes what is buffered.
    pub(crate) fn flush(&mut self) {
        if let Some(file) = self.file.as_mut()
            && file.flush().is_err()
        {
            self.failed = true;
        }
    }
}

/// A unit name made safe for a file name.
fn file_safe(unit: &str) -> String {
    let safe: String = unit
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        "unit".into()
    } else {
        safe.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_values_only() {
        let env = BTreeMap::from([
            ("A".to_string(), "s3cr3t-value".to_string()),
            ("B".to_string(), "1".to_string()),
            ("C".to_string(), "s3cr3t-value-longer".to_string()),
        ]);
        let m = Masker::new(&env);
        assert_eq!(m.mask("x s3cr3t-value-longer y"), "x *** y");
        assert_eq!(m.mask("token=s3cr3t-value 1"), "token=*** 1");
    }

    #[test]
    fn unit_names_are_file_safe() {
        assert_eq!(file_safe("web"), "web");
        assert_eq!(file_safe("../../etc"), "-..-etc");
        assert_eq!(file_safe(""), "unit");
        assert_eq!(file_safe("..."), "unit");
    }
}

//! The system `git`: cloning with a timeout, and reading the history of a checkout.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_inspect::history::AddedLines;
use ferry_inspect::{Commit, History};

use crate::error::SourceError;

/// Most commits read from a history.
pub const MAX_COMMITS: usize = 200_000;

/// Whether `spec` names a remote or `file://` repository rather than a local path.
pub fn is_url(spec: &str) -> bool {
    [
        "http://",
        "https://",
        "git://",
        "ssh://",
        "file://",
        "git+ssh://",
    ]
    .iter()
    .any(|p| spec.starts_with(p))
        || scp_like(spec)
}

fn scp_like(spec: &str) -> bool {
    // user@host:path, the form GitHub shows for SSH.
    match (spec.find('@'), spec.find(':')) {
        (Some(at), Some(colon)) => at < colon && !spec.contains("://") && !spec.starts_with('/'),
        _ => false,
    }
}

/// `url` with any password or token in its user-info replaced by `***`, so that it can be
/// printed, logged and stored.
pub fn redact(url: &str) -> String {
    ferry_inspect::secrets::redact_userinfo(url)
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GCM_INTERACTIVE", "never")
        .stdin(Stdio::null());
    cmd
}

struct Output {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `cmd`, killing it after `timeout`. `None` means it timed out.
fn run(mut cmd: Command, timeout: Duration, url: &str) -> Result<Option<Output>, SourceError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => SourceError::GitMissing { url: url.into() },
            _ => SourceError::GitFailed {
                url: url.into(),
                detail: err.to_string(),
            },
        })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => {
                return Err(SourceError::GitFailed {
                    url: url.into(),
                    detail: err.to_string(),
                });
            }
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok(Some(Output {
        ok: status.success(),
        stdout,
        stderr,
    }))
}

/// Clones `url` into `dest` (which must not exist yet).
pub fn clone(url: &str, dest: &Path, timeout: Duration) -> Result<(), SourceError> {
    let shown = redact(url);
    let mut cmd = git();
    cmd.args([
        "-c",
        "protocol.file.allow=always",
        "clone",
        "--quiet",
        "--no-tags",
        "--single-branch",
        "--",
    ])
    .arg(url)
    .arg(dest);
    match run(cmd, timeout, &shown)? {
        None => Err(SourceError::GitTimeout {
            url: shown,
            seconds: timeout.as_secs(),
        }),
        Some(out) if out.ok => Ok(()),
        Some(out) => Err(SourceError::GitFailed {
            detail: last_line(&out.stderr).replace(url, &shown),
            url: shown,
        }),
    }
}

fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| {
            l.trim_start_matches("fatal: ")
                .trim_start_matches("error: ")
                .to_string()
        })
        .unwrap_or_else(|| "git exited with an error".into())
}

/// Reads the history of the repository checked out at `root`. `Ok(None)` when `root` is not
/// a repository or has no commits.
pub fn history(root: &Path, timeout: Duration) -> Result<Option<History>, SourceError> {
    let url = root.display().to_string();
    let mut cmd = git();
    cmd.arg("-c")
        .arg("safe.directory=*")
        .arg("-C")
        .arg(root)
        .args(["log", "--reverse", "--format=%H%x1f%an%x1f%ae%x1f%s%x1e"]);
    let Some(out) = run(cmd, timeout, &url)? else {
        return Err(SourceError::GitTimeout {
            url,
            seconds: timeout.as_secs(),
        });
    };
    if !out.ok {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut commits = Vec::new();
    let mut total = 0;
    for record in text.split('\u{1e}') {
        let record = record.trim_start_matches('\n');
        if record.is_empty() {
            continue;
        }
        total += 1;
        if commits.len() >= MAX_COMMITS {
            continue;
        }
        let mut fields = record.splitn(4, '\u{1f}');
        let (Some(id), Some(author), Some(email), subject) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        commits.push(Commit {
            id: id.into(),
            author: author.into(),
            email: email.into(),
            subject: subject.unwrap_or("").trim_end().into(),
        });
    }
    if commits.is_empty() {
        return Ok(None);
    }
    let head = commits.last().map(|c| c.id.clone());
    // The added lines (`git log -p`) are read only when a secret scan asks for them:
    // [`crate::Source::read_added_lines`].
    Ok(Some(History {
        commits,
        total,
        head,
        added: Vec::new(),
        added_truncated: false,
    }))
}

/// Most bytes of added lines kept from the history.
pub const MAX_ADDED_BYTES: usize = 64 * 1024 * 1024;
/// Longest added line kept (minified bundles have very long lines).
const MAX_LINE: usize = 64 * 1024;

/// Lockfiles are bulky and never hold secrets: left out of the patch stream.
const EXCLUDED: &[&str] = &[
    ":(exclude,glob)**/package-lock.json",
    ":(exclude,glob)**/pnpm-lock.yaml",
    ":(exclude,glob)**/yarn.lock",
    ":(exclude,glob)**/bun.lockb",
    ":(exclude,glob)**/poetry.lock",
    ":(exclude,glob)**/uv.lock",
];

/// Every line the history added (all refs, oldest commit first), streamed from
/// `git log -p` and capped at [`MAX_ADDED_BYTES`].
pub fn added_lines(root: &Path, timeout: Duration) -> Result<(Vec<AddedLines>, bool), SourceError> {
    use std::io::BufRead;
    let url = root.display().to_string();
    let mut cmd = git();
    cmd.arg("-c")
        .arg("safe.directory=*")
        .arg("-c")
        .arg("core.quotepath=off")
        .arg("-C")
        .arg(root)
        .args([
            "log",
            "--all",
            "--reverse",
            "-p",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--unified=0",
            "--diff-filter=AMR",
            "--format=%x01%H",
            "--",
            ".",
        ])
        .args(EXCLUDED)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|err| SourceError::GitFailed {
        url: url.clone(),
        detail: err.to_string(),
    })?;
    let Some(stdout) = child.stdout.take() else {
        return Ok((Vec::new(), false));
    };
    let mut reader = std::io::BufReader::new(stdout);
    let start = Instant::now();
    let mut out: Vec<AddedLines> = Vec::new();
    let mut commit = String::new();
    let mut path: Option<String> = None;
    let mut in_hunk = false;
    let mut next_line: u32 = 0;
    let mut bytes = 0usize;
    let mut truncated = false;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if start.elapsed() > timeout {
            truncated = true;
            break;
        }
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw));
        if let Some(id) = line.strip_prefix('\u{1}') {
            commit = id.trim().to_string();
            path = None;
            in_hunk = false;
        } else if line.starts_with("diff --git ") {
            path = None;
            in_hunk = false;
        } else if !in_hunk && line.starts_with("+++ ") {
            path = line.strip_prefix("+++ b/").map(str::to_string);
        } else if let Some(header) = line.strip_prefix("@@ ") {
            in_hunk = true;
            next_line = header
                .split_whitespace()
                .find_map(|part| part.strip_prefix('+'))
                .and_then(|range| range.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
        } else if in_hunk && line.starts_with('+') {
            let Some(file) = &path else { continue };
            let text: String = line[1..].chars().take(MAX_LINE).collect();
            bytes += text.len();
            if bytes > MAX_ADDED_BYTES {
                truncated = true;
                break;
            }
            match out.last_mut() {
                Some(last) if last.commit == commit && &last.path == file => {
                    last.lines.push((next_line, text));
                }
                _ => out.push(AddedLines {
                    commit: commit.clone(),
                    path: file.clone(),
                    lines: vec![(next_line, text)],
                }),
            }
            next_line += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok((out, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_repository_urls() {
        for url in [
            "https://github.com/a/b",
            "git@github.com:a/b.git",
            "file:///tmp/x",
            "ssh://h/r",
        ] {
            assert!(is_url(url), "{url}");
        }
        for path in ["./app", "/tmp/app.zip", "app", "C:/x"] {
            assert!(!is_url(path), "{path}");
        }
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://me:ghp_secret@github.com/a/b.git"),
            "https://***@github.com/a/b.git"
        );
        assert_eq!(redact("https://token@host/x"), "https://***@host/x");
        assert_eq!(
            redact("https://github.com/a/b@c"),
            "https://github.com/a/b@c"
        );
        assert_eq!(redact("git@github.com:a/b.git"), "git@github.com:a/b.git");
    }

    #[test]
    fn last_error_line_is_kept() {
        assert_eq!(
            last_line("Cloning into 'x'...\nfatal: repository '/nope' does not exist\n"),
            "repository '/nope' does not exist"
        );
    }
}

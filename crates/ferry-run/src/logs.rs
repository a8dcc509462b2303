//! Log capture: the process writes into a named pipe in the state folder; ferry reads it,
//! masks secrets, and writes rotated, size-capped files.
//!
//! A named pipe rather than an anonymous one, because the process must outlive ferry: the
//! process holds the pipe open for reading and writing, so a ferry that dies never turns its
//! writes into `SIGPIPE` (they block once the pipe's buffer is full, until a restarted ferry
//! opens the pipe by its path and drains it).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aho_corasick::{AhoCorasick, MatchKind};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::lock;
use crate::spec::{LogPolicy, MIN_REDACTED_LEN};

/// A line longer than this is written in pieces.
const MAX_LINE: usize = 16 * 1024;
/// Secrets are matched in pieces of at most this many bytes (a long secret is masked piece by
/// piece), which bounds how much of a partial line is held back.
const MAX_PATTERN: usize = 1024;
/// Lines kept in memory for error messages.
const TAIL_LINES: usize = 20;
/// Characters kept per tail line.
const TAIL_LINE_CHARS: usize = 400;
/// The pipe buffer asked for, so a process survives a longer absence of ferry.
const PIPE_BYTES: usize = 1 << 20;
/// What a masked secret becomes.
const MASK: &[u8] = b"***";

/// Creates the named pipe (replacing a stale one), readable and writable by ferry's user only.
pub(crate) fn make_fifo(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )?;
    Ok(())
}

/// The process's stdout and stderr: the pipe opened for reading and writing.
pub(crate) fn child_stdio(fifo: &Path) -> std::io::Result<(File, File)> {
    let out = OpenOptions::new().read(true).write(true).open(fifo)?;
    // Best effort: the default (64 KiB) is fine, a larger buffer only helps.
    let _ = rustix::pipe::fcntl_setpipe_size(&out, PIPE_BYTES);
    let err = out.try_clone()?;
    Ok((out, err))
}

/// Opens the pipe for reading (never blocks).
pub(crate) fn open_reader(fifo: &Path) -> std::io::Result<pipe::Receiver> {
    pipe::OpenOptions::new().open_receiver(fifo)
}

/// Counts the times the reader found the pipe without writers and drained.
pub(crate) type EofCounter = Arc<AtomicU64>;

/// Copies the pipe into the sink until the task is aborted. A pipe without writers reads as
/// end-of-file (between two runs of the process); the reader then waits for the next writer.
pub(crate) async fn pump(mut rx: pipe::Receiver, sink: Arc<Mutex<LogSink>>, eofs: EofCounter) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rx.read(&mut buf).await {
            Ok(0) => {
                lock(&sink).flush_partial();
                eofs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(n) => lock(&sink).feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(%error, "reading a process's output failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Masks secret values in byte strings.
struct Redactor {
    matcher: AhoCorasick,
    longest: usize,
}

impl Redactor {
    /// `None` when no value is long enough to be masked.
    fn new(secrets: &[String]) -> Option<Self> {
        let mut patterns: Vec<&[u8]> = Vec::new();
        for secret in secrets {
            // Line by line (a multi-line value, such as a PEM key, is logged line by line),
            // and in pieces of at most MAX_PATTERN bytes.
            for line in secret.as_bytes().split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let mut rest = line;
                while rest.len() >= MIN_REDACTED_LEN {
                    let take = if rest.len() > MAX_PATTERN
                        && rest.len() - MAX_PATTERN >= MIN_REDACTED_LEN
                    {
                        MAX_PATTERN
                    } else {
                        rest.len()
                    };
                    patterns.push(&rest[..take]);
                    rest = &rest[take..];
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let longest = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Self { matcher, longest })
    }

    fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for m in self.matcher.find_iter(bytes) {
            out.extend_from_slice(&bytes[at..m.start()]);
            out.extend_from_slice(MASK);
            at = m.end();
        }
        out.extend_from_slice(&bytes[at..]);
        out
    }

    /// Where a long partial line can be cut without splitting a secret: at most `len -
    /// (longest - 1)`, moved back to the start of a match that would straddle it.
    fn safe_cut(&self, bytes: &[u8]) -> usize {
        let mut cut = bytes.len().saturating_sub(self.longest.saturating_sub(1));
        for m in self.matcher.find_iter(bytes) {
            if m.start() >= cut {
                break;
            }
            if m.end() > cut {
                cut = m.start();
                break;
            }
        }
        cut
    }
}

/// The writing end of a process's log: redaction, rotation, and the in-memory tail.
pub(crate) struct LogSink {
    path: PathBuf,
    policy: LogPolicy,
    file: Option<File>,
    len: u64,
    redactor: Option<Redactor>,
    partial: Vec<u8>,
    tail: VecDeque<String>,
    warned: bool,
}

impl LogSink {
    /// A sink writing `<dir>/<name>.log` (appending to what is there).
    pub(crate) fn new(dir: &Path, name: &str, policy: LogPolicy, secrets: &[String]) -> Self {
        Self {
            path: dir.join(format!("{name}.log")),
            policy,
            file: None,
            len: 0,
            redactor: Redactor::new(secrets),
            partial: Vec::new(),
            tail: VecDeque::new(),
            warned: false,
        }
    }

    /// The current log file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Output of the process.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        let before = self.partial.len();
        self.partial.extend_from_slice(data);
        // Only the new bytes can hold a newline: the held-back part has none.
        if let Some(last) = data.iter().rposition(|&b| b == b'\n').map(|i| before + i) {
            let complete: Vec<u8> = self.partial.drain(..=last).collect();
            let clean = self.redact(&complete);
            self.write_out(&clean);
            for line in clean[..clean.len() - 1].split(|&b| b == b'\n') {
                self.remember(line);
            }
        }
        while self.partial.len() > MAX_LINE {
            let cut = match &self.redactor {
                Some(r) => r.safe_cut(&self.partial),
                None => self.partial.len(),
            };
            let cut = if cut == 0 { self.partial.len() } else { cut };
            let piece: Vec<u8> = self.partial.drain(..cut).collect();
            let clean = self.redact(&piece);
            self.write_out(&clean);
        }
    }

    /// Writes out a partial last line (the process ended without a newline).
    pub(crate) fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let piece = std::mem::take(&mut self.partial);
        let mut clean = self.redact(&piece);
        self.remember(&clean);
        clean.push(b'\n');
        self.write_out(&clean);
    }

    /// A line of ferry's own (`[ferry] …`), not part of the tail.
    pub(crate) fn note(&mut self, message: &str) {
        self.flush_partial();
        let line = format!("[ferry] {message}\n");
        self.write_out(line.as_bytes());
    }

    /// The last lines the process wrote, secrets masked.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        match &self.redactor {
            Some(r) => r.redact(bytes),
            None => bytes.to_vec(),
        }
    }

    fn remember(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let mut kept: String = text.chars().take(TAIL_LINE_CHARS).collect();
        if kept.len() < text.len() {
            kept.push('…');
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(kept);
    }

    /// Appends to the current file, rotating whenever it reaches the cap, so that no file
    /// ever exceeds `max_file_bytes`.
    fn write_out(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.file.is_none() && !self.open() {
                return;
            }
            let room = self.policy.max_file_bytes.saturating_sub(self.len);
            if room == 0 {
                self.rotate();
                continue;
            }
            let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            let written = self
                .file
                .as_mut()
                .map(|f| f.write_all(&bytes[..n]))
                .unwrap_or(Ok(()));
            if let Err(error) = written {
                self.warn(&error);
                self.file = None;
                return;
            }
            self.len += n as u64;
            bytes = &bytes[n..];
        }
    }

    fn open(&mut self) -> bool {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .and_then(|f| f.metadata().map(|m| (f, m.len())));
        match opened {
            Ok((file, len)) => {
                self.file = Some(file);
                self.len = len;
                true
            }
            Err(error) => {
                self.warn(&error);
                false
            }
        }
    }

    /// `<name>.log` → `.1` → `.2` …; the oldest beyond `files` is removed.
    fn rotate(&mut self) {
        self.file = None;
        let numbered = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        let keep = self.policy.files.saturating_sub(1);
        if keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(numbered(keep));
            for i in (1..keep).rev() {
                let _ = std::fs::rename(numbered(i), numbered(i + 1));
            }
            let _ = std::fs::rename(&self.path, numbered(1));
        }
        self.len = 0;
    }

    fn warn(&mut self, error: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(path = %self.path.display(), %error, "cannot write a process log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> String {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .collect()
    }

    #[test]
    fn masks_secrets_even_split_across_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let secrets = vec!["s3cr3t-value".to_string(), "ab".to_string()];
        let mut sink = LogSink::new(dir.path(), "web", LogPolicy::default(), &secrets);
        sink.feed(b"token=s3cr3");
        sink.feed(b"t-value ab\nnext ");
        sink.feed(b"line\n");
        let text = read_all(dir.path());
        assert_eq!(text, "token=*** ab\nnext line\n");
        assert_eq!(sink.tail(), vec!["token=*** ab", "next line"]);
    }

    #[test]
    fn masks_secrets_in_endless_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let secret = "the-secret-is-here".to_string();
        let mut sink = LogSink::new(
            dir.path(),
            "web",
            LogPolicy::default(),
            std::slice::from_ref(&secret),
        );
        let mut total = String::new();
        for i in 0..20_000 {
            let chunk = format!("{i}x{secret}y");
            // Odd-sized writes so secrets straddle every possible boundary.
            for part in chunk.as_bytes().chunks(7) {
                sink.feed(part);
            }
            total.push_str(&chunk);
        }
        sink.flush_partial();
        let text = read_all(dir.path());
        assert!(!text.contains("secret"));
        assert_eq!(text.matches("***").count(), 20_000);
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line() {
        let r = Redactor::new(&["-----BEGIN KEY-----\nAAAABBBB\nCC".to_string()]).expect("some");
        assert_eq!(r.redact(b"x AAAABBBB y"), b"x *** y");
        assert_eq!(r.redact(b"CC"), b"CC");
    }

    #[test]
    fn rotation_caps_the_total_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let policy = LogPolicy {
            max_file_bytes: 4096,
            files: 3,
        };
        let mut sink = LogSink::new(dir.path(), "web", policy, &[]);
        let line = [b'z'; 99];
        for _ in 0..10_000 {
            sink.feed(&line);
            sink.feed(b"\n");
        }
        sink.note("done");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .collect();
        assert_eq!(files.len(), 3);
        for f in files {
            assert!(f.metadata().expect("meta").len() <= 4096);
        }
        assert!(
            std::fs::read_to_string(dir.path().join("web.log"))
                .expect("read")
                .ends_with("[ferry] done\n")
        );
    }
}

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
use std::time::{Duration, Instant};

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
/// Over the rate budget, the pipe is emptied this often.
const DRAIN_PAUSE: Duration = Duration::from_millis(10);
/// The most bytes read from the pipe at once.
const READ_BYTES: usize = 64 * 1024;
/// The shortest time between two notes about dropped output.
const DROP_NOTE_EVERY: Duration = Duration::from_secs(1);
/// The rate budget holds this many seconds' worth of output (the burst that passes at once).
const BURST_SECS: u64 = 4;

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
/// While output is being dropped, a quiet pipe still gets its note within a second.
///
/// Over the rate budget, the pipe is emptied every [`DRAIN_PAUSE`]: all but the last 64 KiB
/// waiting in it go straight to `/dev/null` with `splice(2)` (never copied into ferry), and the
/// rest is read as usual (its last lines reach the tail, so an error message after a flood is
/// still seen). A flood therefore costs ferry about a hundred system calls a second, whatever
/// its rate; a process writing more than the pipe holds per pause (1 MiB per 10 ms, ~100 MB/s)
/// waits for the next drain, and one writing less never waits.
pub(crate) async fn pump(mut rx: pipe::Receiver, sink: Arc<Mutex<LogSink>>, eofs: EofCounter) {
    let mut buf = vec![0u8; READ_BYTES];
    let null = OpenOptions::new().write(true).open("/dev/null").ok();
    loop {
        if let Some(null) = &null
            && lock(&sink).over_budget()
        {
            match tokio::time::timeout(DROP_NOTE_EVERY, rx.readable()).await {
                Err(_) => {
                    lock(&sink).tick();
                    continue;
                }
                Ok(Err(_)) => {}
                Ok(Ok(())) => {
                    // Let the pipe fill, then empty it in one call.
                    tokio::time::sleep(DRAIN_PAUSE).await;
                    match rx.try_io(|| discard_backlog(&rx, null)) {
                        Ok(0) => {}
                        Ok(n) => lock(&sink).discarded(n),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        // No splice here: read it like the rest.
                        Err(_) => {}
                    }
                }
            }
        }
        let read = tokio::time::timeout(DROP_NOTE_EVERY, rx.read(&mut buf)).await;
        let Ok(read) = read else {
            lock(&sink).tick();
            continue;
        };
        match read {
            Ok(0) => {
                lock(&sink).flush_at_eof();
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

/// Moves all but the last [`READ_BYTES`] waiting in the pipe to `/dev/null`; how many.
fn discard_backlog(rx: &pipe::Receiver, null: &File) -> std::io::Result<usize> {
    let waiting = usize::try_from(rustix::io::ioctl_fionread(rx)?).unwrap_or(usize::MAX);
    if waiting <= READ_BYTES {
        return Ok(0);
    }
    let moved = rustix::pipe::splice(
        rx,
        None,
        null,
        None,
        waiting - READ_BYTES,
        rustix::pipe::SpliceFlags::NONBLOCK,
    )?;
    Ok(moved)
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

/// A token bucket: output accepted per second, with a burst.
struct Budget {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled: Instant,
}

impl Budget {
    fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec as f64;
        let capacity = (bytes_per_sec.saturating_mul(BURST_SECS)).max(64 * 1024) as f64;
        Self {
            rate,
            capacity,
            tokens: capacity,
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
    }

    /// Whether the budget is spent: what comes now is dropped.
    fn exhausted(&mut self) -> bool {
        self.refill();
        self.tokens <= 0.0
    }

    /// Whether `n` bytes may pass. A chunk passes whenever the budget is not exhausted (it may
    /// go into debt), so chunks larger than the budget are never starved.
    fn take(&mut self, n: usize) -> bool {
        if self.exhausted() {
            return false;
        }
        self.tokens -= n as f64;
        true
    }
}

/// The writing end of a process's log: redaction, rate budget, rotation, the in-memory tail.
pub(crate) struct LogSink {
    path: PathBuf,
    policy: LogPolicy,
    file: Option<File>,
    len: u64,
    redactor: Option<Redactor>,
    partial: Vec<u8>,
    tail: VecDeque<String>,
    warned: bool,
    budget: Option<Budget>,
    /// After a drop: the rest of the torn line is dropped too, up to its newline.
    resync: bool,
    /// Bytes dropped since the last note about it.
    unreported: u64,
    last_drop_note: Option<Instant>,
    /// The next file begins with a note saying the log was rotated.
    rotated: bool,
    /// Whether the last byte written ended a line.
    at_line_start: bool,
    /// Bytes of the current file that are its rotation note.
    header: u64,
    received: u64,
    dropped: u64,
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
            budget: policy.max_bytes_per_sec.map(Budget::new),
            resync: false,
            unreported: 0,
            last_drop_note: None,
            rotated: false,
            at_line_start: true,
            header: 0,
            received: 0,
            dropped: 0,
        }
    }

    /// The current log file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of output received from the process so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Bytes of output dropped so far (over the rate budget).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether output is over the rate budget right now (what comes is dropped).
    pub(crate) fn over_budget(&mut self) -> bool {
        self.budget.as_mut().is_some_and(Budget::exhausted)
    }

    /// `n` bytes of output were dropped without being read.
    pub(crate) fn discarded(&mut self, n: usize) {
        self.received += n as u64;
        self.drop_torn(n, false);
    }

    /// Counts `n` dropped bytes, with the line they tear: its start, held back, and, unless
    /// they ended a line, its end in the next chunk that passes.
    fn drop_torn(&mut self, n: usize, ended_a_line: bool) {
        self.count_dropped(n + self.partial.len());
        self.partial.clear();
        self.resync = !ended_a_line;
        self.tick();
    }

    /// Output of the process.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.received += data.len() as u64;
        if let Some(budget) = &mut self.budget
            && !budget.take(data.len())
        {
            // Over budget: drop the chunk, but keep its last whole lines in the tail, so an
            // error message after a flood still reaches the owner.
            self.remember_dropped(data);
            self.drop_torn(data.len(), data.last() == Some(&b'\n'));
            return;
        }
        let mut data = data;
        if self.resync {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.count_dropped(i + 1);
                    data = &data[i + 1..];
                    self.resync = false;
                }
                None => {
                    self.count_dropped(data.len());
                    return;
                }
            }
        }
        self.tick();
        let before = self.partial.len();
        self.partial.extend_from_slice(data);
        // Only the new bytes can hold a newline: the held-back part has none.
        if let Some(last) = data.iter().rposition(|&b| b == b'\n').map(|i| before + i) {
            let complete: Vec<u8> = self.partial.drain(..=last).collect();
            let clean = self.redact(&complete);
            self.write_out(&clean);
            // Only the last lines can stay in the tail: skip the others.
            let mut lines: Vec<&[u8]> = clean[..clean.len() - 1]
                .rsplit(|&b| b == b'\n')
                .take(TAIL_LINES)
                .collect();
            lines.reverse();
            for line in lines {
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

    /// The process (every writer of the pipe) is gone: what it dropped is noted now, then its
    /// last, unfinished line is written.
    pub(crate) fn flush_at_eof(&mut self) {
        self.report_drops();
        self.flush_partial();
    }

    /// Writes the note about dropped output when there is one to write and the last one is
    /// at least a second old.
    pub(crate) fn tick(&mut self) {
        if self.unreported == 0 {
            return;
        }
        if self
            .last_drop_note
            .is_some_and(|t| t.elapsed() < DROP_NOTE_EVERY)
        {
            return;
        }
        self.report_drops();
    }

    /// A line of ferry's own (`[ferry] …`), not part of the tail.
    pub(crate) fn note(&mut self, message: &str) {
        // The drops came before the held-back line, which ends just before the note.
        self.report_drops();
        self.flush_partial();
        self.write_note(message);
    }

    /// The last lines the process wrote, secrets masked.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// Keeps the last whole lines of a dropped chunk in the tail (secrets masked). Only lines
    /// that start and end inside the chunk: a torn line could hold half a secret.
    fn remember_dropped(&mut self, data: &[u8]) {
        let whole_from = if self.partial.is_empty() && !self.resync {
            0
        } else {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => return,
            }
        };
        let Some(end) = data.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        if end < whole_from {
            return;
        }
        let whole = &data[whole_from..end];
        let mut lines: Vec<&[u8]> = whole.rsplit(|&b| b == b'\n').take(TAIL_LINES).collect();
        lines.reverse();
        let longest = self.redactor.as_ref().map_or(0, |r| r.longest);
        for line in lines {
            // Only what can be shown is redacted, cut where no secret straddles the cut.
            let limit = TAIL_LINE_CHARS * 4 + longest;
            let shown = match &self.redactor {
                Some(r) if line.len() > limit => {
                    let piece = &line[..limit];
                    &piece[..r.safe_cut(piece)]
                }
                _ => &line[..line.len().min(limit)],
            };
            let clean = self.redact(shown);
            self.remember(&clean);
        }
    }

    fn count_dropped(&mut self, n: usize) {
        self.dropped += n as u64;
        self.unreported += n as u64;
    }

    fn report_drops(&mut self) {
        if self.unreported == 0 {
            return;
        }
        let n = std::mem::take(&mut self.unreported);
        self.last_drop_note = Some(Instant::now());
        let rate = self.policy.max_bytes_per_sec.unwrap_or(0);
        self.write_note(&format!(
            "{n} bytes of output dropped (the process wrote more than {rate} bytes/s)"
        ));
    }

    fn write_note(&mut self, message: &str) {
        // A note starts a line of its own, even after a piece of an endless line.
        let line = if self.at_line_start {
            format!("[ferry] {message}\n")
        } else {
            format!("\n[ferry] {message}\n")
        };
        self.write_out(line.as_bytes());
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

    /// Appends to the current file, rotating before it would pass the cap, so that no file
    /// ever exceeds `max_file_bytes`. A file is cut after the last whole line that fits; a
    /// line longer than a whole file is cut where the file is full.
    fn write_out(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.file.is_none() && !self.open() {
                return;
            }
            let room = self.policy.max_file_bytes.saturating_sub(self.len);
            let room = usize::try_from(room).unwrap_or(usize::MAX);
            let n = if bytes.len() <= room {
                bytes.len()
            } else if let Some(i) = bytes[..room].iter().rposition(|&b| b == b'\n') {
                i + 1
            } else if self.len > self.header && self.at_line_start {
                // The next line does not fit: it starts the next file.
                0
            } else {
                room
            };
            if n == 0 {
                self.rotate();
                continue;
            }
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
            self.at_line_start = bytes[n - 1] == b'\n';
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
            Ok((mut file, len)) => {
                self.len = len;
                self.header = 0;
                if std::mem::take(&mut self.rotated) && len == 0 {
                    let note = if self.policy.files > 1 {
                        format!(
                            "[ferry] log rotated: earlier output is in {}.1\n",
                            self.path.file_name().unwrap_or_default().to_string_lossy()
                        )
                    } else {
                        "[ferry] log rotated: earlier output was removed\n".to_owned()
                    };
                    if file.write_all(note.as_bytes()).is_ok() {
                        self.len += note.len() as u64;
                        self.header = self.len;
                    }
                }
                self.file = Some(file);
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
        self.rotated = true;
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
            max_bytes_per_sec: None,
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

    #[test]
    fn files_are_cut_at_line_ends_and_each_rotation_is_noted() {
        let dir = tempfile::tempdir().expect("tmp");
        let policy = LogPolicy {
            max_file_bytes: 1024,
            files: 2,
            max_bytes_per_sec: None,
        };
        let mut sink = LogSink::new(dir.path(), "web", policy, &[]);
        // 300-byte lines: three fit in a file, the fourth starts the next one.
        for i in 0..10u8 {
            let mut line = vec![b'a' + i; 299];
            line.push(b'\n');
            sink.feed(&line);
        }
        let current = std::fs::read_to_string(dir.path().join("web.log")).expect("read");
        let older = std::fs::read_to_string(dir.path().join("web.log.1")).expect("read");
        for text in [&current, &older] {
            assert!(text.len() <= 1024, "{}", text.len());
            assert!(
                text.starts_with("[ferry] log rotated: earlier output is in web.log.1\n"),
                "{text}"
            );
            for line in text.lines().skip(1) {
                assert_eq!(line.len(), 299, "a torn line: {line:?}");
            }
        }
        assert!(current.ends_with(&format!("{}\n", "j".repeat(299))));
        // A line longer than a file is cut where the file is full, and nothing exceeds it.
        sink.feed(&[b'z'; 5000]);
        sink.feed(b"\n");
        for f in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            assert!(f.metadata().expect("meta").len() <= 1024);
        }
    }

    #[test]
    fn output_over_the_budget_is_dropped_noted_and_its_last_lines_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let policy = LogPolicy {
            max_file_bytes: 1 << 20,
            files: 2,
            max_bytes_per_sec: Some(16 * 1024),
        };
        let secret = "hunter2-secret".to_string();
        let mut sink = LogSink::new(dir.path(), "web", policy, std::slice::from_ref(&secret));
        // The burst (64 KiB here) passes, then everything else is dropped.
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..2000 {
            sink.feed(line.as_bytes());
        }
        sink.feed(b"Error: token hunter2-secret rejected\nat main.js:1\n");
        assert_eq!(sink.received(), 2000 * 100 + 50);
        let dropped = sink.dropped();
        assert!(dropped > 100_000, "{dropped}");
        // The note comes at once for the first drop, then at most once a second.
        sink.note("stopped");
        let text = std::fs::read_to_string(dir.path().join("web.log")).expect("read");
        let noted: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("[ferry] "))
            .filter_map(|l| l.split_once(" bytes of output dropped"))
            .map(|(n, _)| n.parse::<u64>().expect("count"))
            .sum();
        assert_eq!(noted, dropped, "{text}");
        assert!(text.contains("(the process wrote more than 16384 bytes/s)"));
        assert!(text.ends_with("[ferry] stopped\n"));
        for l in text.lines() {
            assert!(l == "x".repeat(99) || l.starts_with("[ferry] "), "{l:?}");
        }
        // The dropped error message still reaches the tail, masked.
        let tail = sink.tail();
        assert_eq!(
            tail[tail.len() - 2..],
            ["Error: token *** rejected", "at main.js:1"]
        );
        // A long dropped line full of secrets shows no piece of one in the tail.
        let mut long = "hunter2-secret".repeat(200);
        long.push('\n');
        sink.feed(long.as_bytes());
        let shown = sink.tail().pop().expect("a line");
        assert!(shown.starts_with("******"), "{shown}");
        assert!(
            !shown.contains("hunter") && !shown.contains("secret"),
            "{shown}"
        );
        // Discarded without reading: counted, and the torn line's rest is dropped too.
        let before = sink.dropped();
        sink.discarded(1000);
        assert_eq!(sink.dropped(), before + 1000);
    }
}

//! Running one step: `sh -c` in its own process group, output captured line by line, bounded
//! by a timeout.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::error::BuildError;
use crate::log::BuildLog;

/// Lines kept for an error's tail.
pub(crate) const TAIL_LINES: usize = 20;
/// Longest line passed on; longer output is split.
const MAX_LINE: usize = 16 * 1024;
/// How long output may keep flowing after the step's shell exited (background processes
/// holding the pipes) before the rest of its process group is killed.
const AFTER_EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the pipes to close once the process group was killed.
const AFTER_KILL_GRACE: Duration = Duration::from_secs(1);
/// How often the child is polled while no output arrives.
const POLL: Duration = Duration::from_millis(25);

/// What a step needs to run.
pub(crate) struct StepSpec<'a> {
    /// The command, for `sh -c`.
    pub run: &'a str,
    /// The folder it runs in.
    pub cwd: &'a Path,
    /// Variables added to the inherited environment.
    pub env: &'a BTreeMap<String, String>,
    /// Upper bound on its run time.
    pub timeout: Duration,
}

/// How a step ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It exited with this status.
    Exited {
        /// The status.
        status: ExitStatus,
        /// Its last lines, masked.
        tail: Vec<String>,
    },
    /// It ran past the timeout and was killed.
    TimedOut,
}

enum Msg {
    Line(String),
    Eof,
}

/// Runs one step, passing every (masked) line to the log and to `on_line`.
pub(crate) fn run(
    spec: &StepSpec<'_>,
    log: &mut BuildLog,
    on_line: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<Outcome, BuildError> {
    // One pipe for both streams keeps their lines in the order they were written (two pipes
    // read by two threads would not): the shell sends its stderr to stdout before it reads
    // the step's command. Anything written to stderr earlier is still captured.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec 2>&1\n{}", spec.run))
        .current_dir(spec.cwd)
        .envs(spec.env)
        .env("CI", "true")
        .env("FORCE_COLOR", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound && spec.cwd.is_dir() {
            BuildError::ToolMissing { tool: "sh".into() }
        } else {
            BuildError::Io {
                path: spec.cwd.to_path_buf(),
                source,
            }
        }
    })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, tx.clone());
    } else {
        let _ = tx.send(Msg::Eof);
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, tx);
    } else {
        let _ = tx.send(Msg::Eof);
    }

    let mut pump = Pump {
        rx,
        open: 2,
        tail: VecDeque::with_capacity(TAIL_LINES),
        log,
        on_line,
    };
    let deadline = Instant::now() + spec.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                kill_group(pid, &mut child);
                return Err(BuildError::Io {
                    path: spec.cwd.to_path_buf(),
                    source,
                });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(pid, &mut child);
            let _ = child.wait();
            pump.drain_until(Instant::now() + AFTER_KILL_GRACE);
            return Ok(Outcome::TimedOut);
        }
        pump.next((deadline - now).min(POLL));
    };
    // The shell is gone; let the output finish, then stop whatever it left behind.
    pump.drain_until(Instant::now() + AFTER_EXIT_GRACE);
    if pump.open > 0 {
        // Still holding the pipes, so the group still exists and its id cannot be reused.
        kill_group_only(pid);
        pump.drain_until(Instant::now() + AFTER_KILL_GRACE);
    }
    Ok(Outcome::Exited {
        status,
        tail: pump.tail.into_iter().collect(),
    })
}

/// Receives lines and hands them on.
struct Pump<'a, 'l> {
    rx: Receiver<Msg>,
    open: usize,
    tail: VecDeque<String>,
    log: &'a mut BuildLog,
    on_line: Option<&'l (dyn Fn(&str) + Sync)>,
}

impl Pump<'_, '_> {
    /// Waits up to `wait` for one message.
    fn next(&mut self, wait: Duration) {
        if self.open == 0 {
            std::thread::sleep(wait);
            return;
        }
        match self.rx.recv_timeout(wait) {
            Ok(Msg::Line(line)) => self.line(&line),
            Ok(Msg::Eof) => self.open = self.open.saturating_sub(1),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.open = 0,
        }
    }

    /// Handles messages until both streams closed or `until` passed.
    fn drain_until(&mut self, until: Instant) {
        while self.open > 0 {
            let now = Instant::now();
            if now >= until {
                return;
            }
            self.next(until - now);
        }
    }

    fn line(&mut self, line: &str) {
        let masked = self.log.masker().mask(line);
        self.log.raw(&masked);
        if let Some(f) = self.on_line {
            f(&masked);
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(masked);
    }
}

/// Reads a stream on its own thread, sending lines (split at `\n`, capped at [`MAX_LINE`]).
fn spawn_reader(stream: impl Read + Send + 'static, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, stream);
        let mut line: Vec<u8> = Vec::new();
        loop {
            let buf = match reader.fill_buf() {
                Ok([]) => break,
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = MAX_LINE.saturating_sub(line.len());
            let take = used.min(room);
            line.extend_from_slice(&buf[..take]);
            reader.consume(take);
            let emit = (complete && take == used) || line.len() >= MAX_LINE;
            if emit && send_line(&tx, &mut line).is_err() {
                return;
            }
        }
        if !line.is_empty() {
            let _ = send_line(&tx, &mut line);
        }
        let _ = tx.send(Msg::Eof);
    });
}

fn send_line(tx: &Sender<Msg>, line: &mut Vec<u8>) -> Result<(), ()> {
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    tx.send(Msg::Line(text)).map_err(|_| ())
}

/// Kills the step's whole process group (its shell is `pid`, the group leader, not yet reaped).
fn kill_group(pid: u32, child: &mut Child) {
    kill_group_only(pid);
    let _ = child.kill();
}

/// Sends SIGKILL to process group `pgid` through the shell's `kill` builtin (no `unsafe`).
fn kill_group_only(pgid: u32) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg("kill -9 -\"$1\" 2>/dev/null")
        .arg("sh")
        .arg(pgid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Shell words that are builtins or keywords, never looked up on PATH.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "[", "!", "{", "}", "alias", "bg", "break", "case", "cd", "command", "continue",
    "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fg",
    "fi", "for", "function", "getopts", "hash", "if", "jobs", "kill", "local", "printf", "pwd",
    "read", "readonly", "return", "set", "shift", "source", "test", "then", "time", "times",
    "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

/// The program a step's command starts, when it is a plain name worth looking up on PATH.
pub(crate) fn program(run: &str) -> Option<&str> {
    let word = run.split_whitespace().find(|w| !is_assignment(w))?;
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@'));
    (plain && !SHELL_WORDS.contains(&word)).then_some(word)
}

/// `NAME=value`, a variable assignment before the command.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Whether `tool` is an executable file in one of `path`'s folders.
pub(crate) fn on_path(tool: &str, path: Option<OsString>) -> bool {
    let Some(path) = path else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        std::fs::metadata(dir.join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_program() {
        assert_eq!(program("npm ci"), Some("npm"));
        assert_eq!(
            program("  NODE_ENV=production pnpm run build"),
            Some("pnpm")
        );
        assert_eq!(program("cd web && npm ci"), None);
        assert_eq!(program("./build.sh"), None);
        assert_eq!(program("$HOME/bin/x"), None);
        assert_eq!(program("mkdir -p dist"), Some("mkdir"));
        assert_eq!(program(""), None);
        assert_eq!(program("X=1"), None);
    }

    #[test]
    fn path_lookup() {
        assert!(on_path("sh", std::env::var_os("PATH")));
        assert!(!on_path("definitely-not-a-tool", std::env::var_os("PATH")));
        assert!(!on_path("sh", None));
    }
}

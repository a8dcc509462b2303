//! Output conventions: data on stdout, everything else on stderr, `NO_COLOR` honoured,
//! a broken pipe is not an error.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when stdout was closed under a JSON-lines job.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// How this run prints.
pub struct Output {
    /// `--json`: stdout carries one JSON document.
    pub json: bool,
    /// JSON lines (`db pull`/`db verify --json`): every document on one line, so the final
    /// report or error is one more line after the events.
    lines: bool,
    color: bool,
}

/// Whether ANSI colours may be used on stderr/stdout.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

impl Output {
    /// Output for this process.
    pub fn new(json: bool) -> Self {
        Output {
            json,
            lines: false,
            color: color_enabled(),
        }
    }

    /// Prints every JSON document on one line (for commands that stream JSON lines).
    pub fn json_lines(mut self, lines: bool) -> Self {
        self.lines = lines;
        self
    }

    /// Wraps `text` in an ANSI style when colour is on.
    pub fn paint(&self, text: &str, style: &str) -> String {
        if self.color {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Prints a JSON document on stdout (pretty, or on one line in JSON-lines mode).
    pub fn print_json(&self, value: &impl serde::Serialize) {
        let text = if self.lines {
            serde_json::to_string(value)
        } else {
            serde_json::to_string_pretty(value)
        };
        match text {
            Ok(text) => self.print(&format!("{text}\n")),
            Err(err) => eprintln!("error: could not encode JSON: {err}"),
        }
    }

    /// Prints text on stdout; a closed pipe ends the process quietly — except in JSON-lines
    /// mode, where a job is running: it goes on (its outcome is in the exit code and
    /// `ferry db jobs`), and later lines are dropped.
    pub fn print(&self, text: &str) {
        if STDOUT_GONE.load(Ordering::Relaxed) {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            && err.kind() == std::io::ErrorKind::BrokenPipe
        {
            if !self.lines {
                std::process::exit(0);
            }
            STDOUT_GONE.store(true, Ordering::Relaxed);
            eprintln!(
                "stdout was closed: the job goes on without printing events (see `ferry db jobs`)"
            );
        }
    }
}

//! Output conventions: data on stdout, everything else on stderr, `NO_COLOR` honoured,
//! a broken pipe is not an error.

use std::io::{IsTerminal, Write};

/// How this run prints.
pub struct Output {
    /// `--json`: stdout carries one JSON document.
    pub json: bool,
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
            color: color_enabled(),
        }
    }

    /// Wraps `text` in an ANSI style when colour is on.
    pub fn paint(&self, text: &str, style: &str) -> String {
        if self.color {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Prints a JSON document on stdout.
    pub fn print_json(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.print(&format!("{text}\n")),
            Err(err) => eprintln!("error: could not encode JSON: {err}"),
        }
    }

    /// Prints text on stdout; a closed pipe ends the process quietly.
    pub fn print(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            && err.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
    }
}

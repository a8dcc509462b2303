//! The one place errors are printed: a one-line cause, a `hint:` line, an exit code.

use std::process::ExitCode;

use crate::output::Output;

/// Exit code: the operation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

/// An error on its way to the user.
#[derive(Debug)]
pub struct Failure {
    /// Stable code (`zip-bomb`, `malformed-file`…).
    pub code: &'static str,
    /// One line: what went wrong.
    pub message: String,
    /// One line: what to do.
    pub hint: String,
    /// 1 or 2.
    pub exit: u8,
}

impl Failure {
    /// Prints the failure (stderr; with `--json` also a JSON object on stdout) and returns
    /// the exit code.
    pub fn report(self, out: &Output) -> ExitCode {
        let message = one_line(&self.message);
        if out.json {
            let doc = serde_json::json!({
                "error": { "code": self.code, "message": message, "hint": self.hint, "exit": self.exit }
            });
            out.print_json(&doc);
        }
        eprintln!("{} {message}", out.paint("error:", "1;31"));
        eprintln!("{} {}", out.paint("hint:", "1;36"), self.hint);
        ExitCode::from(self.exit)
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            code: "usage",
            message: message.into(),
            hint: hint.into(),
            exit: EXIT_BAD_INPUT,
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `From<E> for Failure` for error types with `code()`, `hint()` and `is_bad_input()`: the
/// error's code, message and hint; exit 2 for bad input, else 1.
macro_rules! failure_from {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$error> for $crate::failure::Failure {
            fn from(err: $error) -> Self {
                $crate::failure::Failure {
                    code: err.code(),
                    message: err.to_string(),
                    hint: err.hint(),
                    exit: if err.is_bad_input() {
                        $crate::failure::EXIT_BAD_INPUT
                    } else {
                        $crate::failure::EXIT_FAILED
                    },
                }
            }
        }
    )+};
}
pub(crate) use failure_from;

failure_from!(
    ferry_source::SourceError,
    ferry_inspect::InspectError,
    ferry_data::DataError,
    ferry_control::ControlError,
);

//! Why a build did not produce an artifact folder.

use std::path::PathBuf;

/// Errors of a build. Each has a stable [`code`](BuildError::code) and a
/// [`hint`](BuildError::hint); none of them ever holds an env value.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step exited with a non-zero status (or was killed by a signal).
    #[error("the `{step}` step failed ({}): `{command}`", exit_text(*.exit))]
    StepFailed {
        /// The step's name (`install`, `build`…).
        step: String,
        /// The command it ran with `sh -c`.
        command: String,
        /// Its exit code; `None` when a signal ended it.
        exit: Option<i32>,
        /// The step's last output lines (at most 20), env values masked.
        tail: Vec<String>,
        /// The full log of the build.
        log_path: PathBuf,
    },
    /// The program a step starts (a package manager, a runtime…) is not on `PATH`.
    #[error("`{tool}` is not installed (it is not on PATH)")]
    ToolMissing {
        /// The program's name.
        tool: String,
    },
    /// A step ran longer than the step timeout and was stopped.
    #[error("the `{step}` step took longer than {seconds} s and was stopped")]
    Timeout {
        /// The step's name.
        step: String,
        /// The timeout, in whole seconds.
        seconds: u64,
        /// The full log of the build.
        log_path: PathBuf,
    },
    /// Every step succeeded but the plan's output folder is not there.
    #[error("the build succeeded but its output folder `{path}` does not exist")]
    OutputMissing {
        /// The plan's `output`, relative to the source root.
        path: String,
        /// The full log of the build.
        log_path: PathBuf,
    },
    /// The plan cannot be executed as written (a path leaving the source, an unknown version…).
    #[error("the build plan cannot be used: {detail}")]
    InvalidPlan {
        /// What is wrong.
        detail: String,
    },
    /// A build env variable has a name the environment cannot hold.
    #[error("the build env variable name `{name}` is not valid")]
    InvalidEnv {
        /// The name (never the value).
        name: String,
    },
    /// Reading or writing failed.
    #[error("could not access `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn exit_text(exit: Option<i32>) -> String {
    match exit {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".into(),
    }
}

impl BuildError {
    /// A stable, kebab-case code for scripts and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::StepFailed { .. } => "step-failed",
            Self::ToolMissing { .. } => "tool-missing",
            Self::Timeout { .. } => "step-timeout",
            Self::OutputMissing { .. } => "output-missing",
            Self::InvalidPlan { .. } => "invalid-plan",
            Self::InvalidEnv { .. } => "invalid-env",
            Self::Io { .. } => "io",
        }
    }

    /// One line telling the user what to do next.
    pub fn hint(&self) -> String {
        match self {
            Self::StepFailed { log_path, .. } => {
                format!("see the full log at {}", log_path.display())
            }
            Self::ToolMissing { tool } => install_hint(tool),
            Self::Timeout { log_path, .. } => format!(
                "see the full log at {}; if the step is only slow, raise the step timeout",
                log_path.display()
            ),
            Self::OutputMissing { log_path, .. } => format!(
                "set `output` for this unit in ferry.toml to the folder the build writes \
                 (see the full log at {})",
                log_path.display()
            ),
            Self::InvalidPlan { .. } => {
                "fix the unit in ferry.toml (paths are relative to the app and may not use `..`), \
                 then run `ferry plan` to check"
                    .into()
            }
            Self::InvalidEnv { .. } => {
                "env variable names are letters, digits and `_`, and may not contain `=`".into()
            }
            Self::Io { .. } => "check the path, its permissions and the free disk space".into(),
        }
    }

    /// The build log this error refers to, when one was written.
    pub fn log_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::StepFailed { log_path, .. }
            | Self::Timeout { log_path, .. }
            | Self::OutputMissing { log_path, .. } => Some(log_path),
            _ => None,
        }
    }
}

/// How to install a missing tool.
fn install_hint(tool: &str) -> String {
    match tool {
        "node" | "npm" | "npx" => {
            "install Node.js (https://nodejs.org, or your system's package manager); it includes npm"
                .into()
        }
        "pnpm" => "install it with `npm i -g pnpm` (or `corepack enable`)".into(),
        "yarn" => "install it with `npm i -g yarn` (or `corepack enable`)".into(),
        "bun" => "install it with `npm i -g bun` (or see https://bun.sh)".into(),
        "python" | "python3" => {
            "install Python 3 (https://www.python.org/downloads/, or your system's package manager)"
                .into()
        }
        "pip" | "pip3" => {
            "install pip with `python3 -m ensurepip` (or `apt-get install python3-pip`)".into()
        }
        "uv" => "install it with `pipx install uv` (or see https://docs.astral.sh/uv/)".into(),
        "poetry" => "install it with `pipx install poetry`".into(),
        "pipenv" => "install it with `pipx install pipenv`".into(),
        "sh" => "ferry runs build steps with `sh`; install a POSIX shell".into(),
        other => format!(
            "install `{other}` and make sure it is on PATH, or change the step's command in ferry.toml"
        ),
    }
}

/// Shorthand for mapping an I/O error to [`BuildError::Io`] at `path`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

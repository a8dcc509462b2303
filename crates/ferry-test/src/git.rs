//! A hermetic `git` for tests: no user or system config, fixed dates, so commit ids are stable.

use std::path::Path;
use std::process::Command;

/// A `git` command isolated from the machine's configuration.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_DATE", "2025-06-01T12:00:00Z")
        .env("GIT_COMMITTER_DATE", "2025-06-01T12:00:00Z")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

/// Runs `git args…` in `dir`, panicking with git's stderr on failure (test helper).
pub fn run(dir: &Path, args: &[&str]) {
    let out = git(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a commit of what is staged, by `author <email>`, with `message`.
pub fn commit(dir: &Path, author: &str, email: &str, message: &str) {
    let out = git(dir)
        .args([
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ])
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", email)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git commit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

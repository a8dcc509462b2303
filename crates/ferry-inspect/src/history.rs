//! Facts about a repository's commits. The caller gathers them (ferry-source runs `git log`);
//! inspection only reads them.

use serde::{Deserialize, Serialize};

/// One commit, as detection needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Commit {
    /// Full commit hash.
    pub id: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// First line of the message.
    pub subject: String,
}

/// Lines one commit added to one file (from `git log -p`), for the secret scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLines {
    /// The commit.
    pub commit: String,
    /// The file, relative to the root, as of that commit.
    pub path: String,
    /// `(line number, text)` of each added line.
    pub lines: Vec<(u32, String)>,
}

/// The history of the inspected repository, oldest commit first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Commits, oldest first (possibly capped; see `total`).
    pub commits: Vec<Commit>,
    /// Number of commits in the repository.
    pub total: usize,
    /// The commit checked out (HEAD), if any.
    pub head: Option<String>,
    /// Every line the history added, oldest commit first (bounded; see `added_truncated`).
    pub added: Vec<AddedLines>,
    /// Whether `added` stopped early at its size cap.
    pub added_truncated: bool,
}

impl History {
    /// The oldest commit.
    pub fn first(&self) -> Option<&Commit> {
        self.commits.first()
    }

    /// Commits whose author name or email satisfies `pred`, with their count.
    pub fn by_author(&self, pred: impl Fn(&str, &str) -> bool) -> (usize, Option<&Commit>) {
        let mut count = 0;
        let mut first = None;
        for c in &self.commits {
            if pred(&c.author, &c.email) {
                count += 1;
                first.get_or_insert(c);
            }
        }
        (count, first)
    }
}

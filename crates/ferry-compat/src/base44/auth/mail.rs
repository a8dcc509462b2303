//! The messages auth sends (email code, password reset, invitation) and where they go.
//!
//! Plain text only; the app's name is in every subject. Control characters (CR and LF
//! included) in the app name, the address and other inserted values become spaces, so a value
//! cannot add mail headers. [`Outbox::send`] must not block: a real outbox queues the message
//! and delivers it in the background ([`super::smtp::SmtpOutbox`]) or keeps it in a file the
//! owner reads ([`super::outbox::FileOutbox`]). [`MemoryOutbox`] keeps messages in memory,
//! for tests.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::otp::{OTP_TTL_SECS, RESET_TTL_SECS};

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line (one line).
    pub subject: String,
    /// The body, plain text.
    pub text: String,
}

/// `value` on one line: control characters become spaces, the ends are trimmed.
pub(crate) fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

impl Mail {
    /// The sign-up verification message carrying a 6-digit `code`.
    pub fn otp(app_name: &str, to: &str, code: &str) -> Self {
        let app = one_line(app_name);
        Self {
            to: one_line(to),
            subject: format!("{app}: your verification code"),
            text: format!(
                "Your verification code for {app} is {code}.\n\nIt expires in {} minutes. If you did not ask for it, ignore this message.\n",
                OTP_TTL_SECS / 60,
                code = one_line(code),
            ),
        }
    }

    /// The password-reset message carrying `link`, the app's reset page with the token.
    pub fn password_reset(app_name: &str, to: &str, link: &str) -> Self {
        let app = one_line(app_name);
        Self {
            to: one_line(to),
            subject: format!("{app}: reset your password"),
            text: format!(
                "Someone asked to reset the password of your {app} account.\n\nTo choose a new password, open:\n{link}\n\nThe link expires in {} minutes. If you did not ask for it, ignore this message.\n",
                RESET_TTL_SECS / 60,
                link = one_line(link),
            ),
        }
    }

    /// The invitation to join the app as `role`, with `link` to its sign-in page.
    pub fn invite(app_name: &str, to: &str, role: &str, link: &str) -> Self {
        let app = one_line(app_name);
        Self {
            to: one_line(to),
            subject: format!("You are invited to {app}"),
            text: format!(
                "You have been invited to join {app} as {role}.\n\nTo accept, open:\n{link}\n",
                role = one_line(role),
                link = one_line(link),
            ),
        }
    }
}

impl Mail {
    /// The set-password message of a user without a password (migrated from Base44, whose
    /// export holds no password hashes), carrying `link`, valid `ttl_secs`.
    pub fn set_password(app_name: &str, to: &str, link: &str, ttl_secs: u64) -> Self {
        let app = one_line(app_name);
        let valid = if ttl_secs >= 2 * 24 * 60 * 60 {
            format!("{} days", ttl_secs / (24 * 60 * 60))
        } else {
            format!("{} minutes", ttl_secs / 60)
        };
        Self {
            to: one_line(to),
            subject: format!("{app}: set your password"),
            text: format!(
                "Your {app} account was moved to a new server. Your data and settings came along, but passwords cannot be moved, so please choose a new one.\n\nTo set your password and sign in, open:\n{link}\n\nThe link expires in {valid}. If you did not expect this message, ignore it.\n",
                link = one_line(link),
            ),
        }
    }
}

/// Why a message could not be accepted, an outbox file could not be used, or an SMTP URL is
/// unusable. Delivery failures after a message was accepted are not errors of `send`: they
/// are recorded in the outbox file as `failed` ([`super::outbox::MailStatus::Failed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The outbox refused the message: its queue is full or its delivery task has stopped.
    #[error("mail could not be queued: {detail}")]
    Queue {
        /// What went wrong.
        detail: String,
    },
    /// The outbox file (or its folder) could not be created, read or written.
    #[error("outbox file {}: {detail}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        detail: String,
    },
    /// A line of the outbox file other than the last is not an outbox record.
    #[error("outbox file {}, line {line}: not an outbox record ({detail})", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// The parser's message.
        detail: String,
    },
    /// An SMTP URL that cannot be used (the password is never part of `detail`).
    #[error("invalid SMTP URL: {detail}")]
    SmtpUrl {
        /// What is wrong with it.
        detail: String,
    },
    /// [`super::smtp::SmtpOutbox::start`] was called outside a tokio runtime.
    #[error("the SMTP outbox must be started inside a tokio runtime")]
    NoRuntime,
    /// The operating system's random source failed (message ids are random).
    #[error("the system random source failed: {detail}")]
    RandomUnavailable {
        /// The OS error.
        detail: String,
    },
}

impl MailError {
    /// A stable, machine-readable code: `mail-failed` (queue), `outbox-io`,
    /// `outbox-corrupt`, `smtp-url-invalid`, `mail-no-runtime`, `random-unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Queue { .. } => "mail-failed",
            Self::File { .. } => "outbox-io",
            Self::Corrupt { .. } => "outbox-corrupt",
            Self::SmtpUrl { .. } => "smtp-url-invalid",
            Self::NoRuntime => "mail-no-runtime",
            Self::RandomUnavailable { .. } => "random-unavailable",
        }
    }

    /// What the owner can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Queue { .. } => {
                "the mail server is slow or unreachable; the message was not sent, try again later"
            }
            Self::File { .. } => "check the outbox file's folder exists and is writable by ferry",
            Self::Corrupt { .. } => {
                "the outbox file was edited or damaged; move it aside and ferry starts a new one"
            }
            Self::SmtpUrl { .. } => {
                "use smtps://user:password@host[:465], smtp://user:password@host[:587] (STARTTLS) \
                 or smtp://host[:25]?tls=none, with ?from=address unless the user is an email \
                 address; percent-encode special characters in the user and password"
            }
            Self::NoRuntime => "start the SMTP outbox from async code (inside the server)",
            Self::RandomUnavailable { .. } => "check the system's random source (/dev/urandom)",
        }
    }

    /// A [`MailError::File`] for `path` from an I/O error.
    pub(crate) fn file(path: &Path, e: &std::io::Error) -> Self {
        Self::File {
            path: path.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// Where messages go. `send` queues and returns at once; it must not wait for delivery.
pub trait Outbox: Send + Sync {
    /// Accepts `mail` for delivery.
    fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// An outbox that keeps every message in memory, in order.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    sent: Mutex<Vec<Mail>>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages sent so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes and returns the messages sent so far.
    pub fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Outbox for MemoryOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
        Ok(())
    }
}

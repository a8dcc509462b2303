//! The messages auth sends (email code, password reset, invitation) and where they go.
//!
//! Plain text only; the app's name is in every subject. Control characters (CR and LF
//! included) in the app name, the address and other inserted values become spaces, so a value
//! cannot add mail headers. [`Outbox::send`] must not block: a real outbox (SMTP, later)
//! queues the message and delivers it in the background. [`MemoryOutbox`] keeps messages in
//! memory, for tests and for servers without mail configured.

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
fn one_line(value: &str) -> String {
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

/// Why a message could not be accepted for delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail could not be queued: {detail}")]
pub struct MailError {
    /// What went wrong.
    pub detail: String,
}

impl MailError {
    /// Always `mail-failed`.
    pub fn code(&self) -> &'static str {
        "mail-failed"
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

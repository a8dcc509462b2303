//! Base44 authentication primitives: password hashing, signed access tokens, one-time codes,
//! the messages that carry them and their delivery (an outbox file, SMTP), and the role rule
//! for new users.
//!
//! Everything here is library code without HTTP or a database; only [`outbox`] (a file) and
//! [`smtp`] (a mail server) do I/O. The HTTP layer (the `auth/*` routes `@base44/sdk` calls)
//! composes these pieces and stores their outputs in the `user` table. Times are Unix seconds
//! throughout ([`unix_now`]), except the outbox's message times (Unix milliseconds).

mod error;
pub mod mail;
pub mod oidc;
pub mod otp;
pub mod outbox;
pub mod password;
pub mod role;
pub mod smtp;
pub mod token;

pub use error::AuthError;
pub use mail::{Mail, MailError, MemoryOutbox, Outbox};
pub use outbox::{FileOutbox, MailStatus, StoredMail, read_outbox};
pub use smtp::{SmtpConfig, SmtpOutbox, SmtpSecurity};

/// The current time in Unix seconds (0 if the clock reads before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `N` bytes from the operating system's secure random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::RandomUnavailable {
        detail: e.to_string(),
    })?;
    Ok(bytes)
}

/// Unpadded base64url, the encoding of tokens and token hashes.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

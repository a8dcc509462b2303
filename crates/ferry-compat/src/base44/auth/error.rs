//! Typed errors of the auth primitives (tokens have their own: [`super::token::TokenError`]).

/// Why a password could not be hashed or checked, or a secret could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A new password breaks the length rule ([`super::password::MIN_PASSWORD_CHARS`]–
    /// [`super::password::MAX_PASSWORD_CHARS`] characters).
    #[error("weak password: {reason}")]
    WeakPassword {
        /// What is wrong with it.
        reason: String,
    },
    /// A stored hash is neither argon2 (PHC string) nor bcrypt (`$2a$`, `$2b$`, `$2y$`).
    #[error("unsupported password hash scheme `{scheme}`")]
    UnsupportedHash {
        /// The hash's prefix (up to its second `$`), never the hash itself.
        scheme: String,
    },
    /// A stored hash names a supported scheme but cannot be parsed.
    #[error("malformed password hash: {detail}")]
    MalformedHash {
        /// The parser's message.
        detail: String,
    },
    /// Hashing failed (argon2 refused its input).
    #[error("password hashing failed: {detail}")]
    HashFailed {
        /// The hasher's message.
        detail: String,
    },
    /// The operating system's random source failed.
    #[error("the system random source failed: {detail}")]
    RandomUnavailable {
        /// The OS error.
        detail: String,
    },
    /// A signing key is shorter than [`super::token::MIN_KEY_BYTES`].
    #[error("signing key is {len} bytes; at least {min} are required")]
    KeyTooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
}

impl AuthError {
    /// A stable, machine-readable code (`weak-password`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WeakPassword { .. } => "weak-password",
            Self::UnsupportedHash { .. } => "password-hash-unsupported",
            Self::MalformedHash { .. } => "password-hash-invalid",
            Self::HashFailed { .. } => "password-hash-failed",
            Self::RandomUnavailable { .. } => "random-unavailable",
            Self::KeyTooShort { .. } => "key-too-short",
        }
    }
}

//! One-time secrets: 6-digit email codes (sign-up verification) and password-reset tokens.
//!
//! - **Email codes** ([`generate_otp`]): six decimal digits, uniform over 000000–999999
//!   (rejection sampling of 32-bit random numbers). An [`OtpRecord`] keeps only an HMAC of
//!   the code, keyed with the app's [`SigningKey`] and bound to the purpose and the user's
//!   email (lower-cased), so a leaked table gives neither the codes nor a cheap way to try all
//!   million of them, and a record cannot be replayed for another user. A code lasts
//!   [`OTP_TTL_SECS`] (10 minutes) and allows [`OTP_MAX_ATTEMPTS`] (5) wrong tries; then the
//!   record is locked and the user must ask for a new code (which replaces the record).
//! - **Reset tokens** ([`generate_reset_token`]): 32 random bytes, base64url (43 characters).
//!   A [`ResetRecord`] keeps the token's SHA-256 ([`hash_reset_token`]): the request to reset
//!   carries only the token, so the server finds the record by that hash (unsalted on
//!   purpose; 256 random bits need no salt and no attempt limit). A token lasts
//!   [`RESET_TTL_SECS`] (30 minutes).
//!
//! Both are single-use: after an `Ok` the caller deletes the record.

use hmac::Mac;
use sha2::{Digest, Sha256};

use super::token::SigningKey;
use super::{AuthError, b64url, random_bytes};

/// How long an email code lasts, in seconds (10 minutes).
pub const OTP_TTL_SECS: u64 = 10 * 60;
/// How many wrong codes an [`OtpRecord`] accepts before it locks.
pub const OTP_MAX_ATTEMPTS: u32 = 5;
/// How long a reset token lasts, in seconds (30 minutes).
pub const RESET_TTL_SECS: u64 = 30 * 60;
/// The number of digits in an email code.
pub const OTP_DIGITS: usize = 6;

/// The largest multiple of 1,000,000 that fits below 2^32: random numbers at or above it are
/// redrawn so that every code is equally likely.
const OTP_LIMIT: u32 = 4_294_000_000;

/// A code from one 32-bit random number, or `None` when it must be redrawn.
fn otp_from_u32(x: u32) -> Option<String> {
    (x < OTP_LIMIT).then(|| format!("{:06}", x % 1_000_000))
}

/// A fresh 6-digit code, uniformly distributed, leading zeros kept (`"004217"`).
pub fn generate_otp() -> Result<String, AuthError> {
    // A redraw happens with probability 0.02%; 64 in a row means the source is broken.
    for _ in 0..64 {
        if let Some(code) = otp_from_u32(u32::from_be_bytes(random_bytes::<4>()?)) {
            return Ok(code);
        }
    }
    Err(AuthError::RandomUnavailable {
        detail: "the random source kept returning out-of-range values".into(),
    })
}

/// What checking a code or token against its record found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpOutcome {
    /// It matches: the caller acts on it and deletes the record.
    Ok,
    /// It does not match; `left` more tries are allowed (0: the next try finds it locked).
    Wrong {
        /// Tries left.
        left: u32,
    },
    /// The record has expired (whatever was presented).
    Expired,
    /// Too many wrong tries (whatever was presented, the right code included).
    Locked,
}

/// A stored email code: its keyed hash, when it expires and how many wrong tries it has seen.
/// The fields map to columns; the HTTP layer saves the record after every [`OtpRecord::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRecord {
    /// HMAC-SHA256 of the code (base64url), see the module documentation.
    pub code_hash: String,
    /// Unix seconds from which the code is refused.
    pub expires_at: u64,
    /// Wrong tries so far.
    pub attempts: u32,
}

/// The keyed hash of a code for `email`.
fn otp_hash(key: &SigningKey, email: &str, code: &str) -> Hmac256 {
    let email = email.trim().to_lowercase();
    key.mac_parts(&[b"ferry-base44-email-otp", email.as_bytes(), code.as_bytes()])
}

type Hmac256 = hmac::Hmac<Sha256>;

impl OtpRecord {
    /// The record for `code` (from [`generate_otp`]) sent to `email` at `now`.
    pub fn new(key: &SigningKey, email: &str, code: &str, now: u64) -> Self {
        Self {
            code_hash: b64url(&otp_hash(key, email, code).finalize().into_bytes()),
            expires_at: now.saturating_add(OTP_TTL_SECS),
            attempts: 0,
        }
    }

    /// Checks `code` (surrounding whitespace ignored) for `email` at `now`. Locked wins over
    /// expired, expired over the comparison; a wrong code counts one attempt (the record
    /// changes: save it). The comparison is constant-time.
    pub fn check(&mut self, key: &SigningKey, email: &str, code: &str, now: u64) -> OtpOutcome {
        if self.attempts >= OTP_MAX_ATTEMPTS {
            return OtpOutcome::Locked;
        }
        if now >= self.expires_at {
            return OtpOutcome::Expired;
        }
        let code = code.trim();
        let well_formed = code.len() == OTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit());
        let matches = well_formed
            && decode_b64url(&self.code_hash)
                .is_some_and(|stored| otp_hash(key, email, code).verify_slice(&stored).is_ok());
        if matches {
            return OtpOutcome::Ok;
        }
        self.attempts = self.attempts.saturating_add(1);
        OtpOutcome::Wrong {
            left: OTP_MAX_ATTEMPTS.saturating_sub(self.attempts),
        }
    }
}

fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

/// A fresh password-reset token: 32 random bytes, base64url without padding (43 characters).
pub fn generate_reset_token() -> Result<String, AuthError> {
    Ok(b64url(&random_bytes::<32>()?))
}

/// The stored form of a reset token: SHA-256 of its text, base64url (43 characters). The
/// server looks the record up by this value.
pub fn hash_reset_token(token: &str) -> String {
    b64url(&Sha256::digest(token.as_bytes()))
}

/// A stored reset token: its hash and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRecord {
    /// [`hash_reset_token`] of the token.
    pub token_hash: String,
    /// Unix seconds from which the token is refused.
    pub expires_at: u64,
}

impl ResetRecord {
    /// The record for `token` (from [`generate_reset_token`]) issued at `now`.
    pub fn new(token: &str, now: u64) -> Self {
        Self {
            token_hash: hash_reset_token(token),
            expires_at: now.saturating_add(RESET_TTL_SECS),
        }
    }

    /// Checks `token` at `now`: `Ok`, `Expired`, or `Wrong { left: 0 }` when it does not
    /// match (reset tokens have no attempt count; lookup by hash already failed for a guess).
    /// The comparison is constant-time.
    pub fn check(&self, token: &str, now: u64) -> OtpOutcome {
        if now >= self.expires_at {
            return OtpOutcome::Expired;
        }
        let presented = hash_reset_token(token);
        if constant_time_eq(presented.as_bytes(), self.token_hash.as_bytes()) {
            OtpOutcome::Ok
        } else {
            OtpOutcome::Wrong { left: 0 }
        }
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_bounds() {
        assert_eq!(otp_from_u32(0).as_deref(), Some("000000"));
        assert_eq!(otp_from_u32(1_000_042).as_deref(), Some("000042"));
        assert_eq!(otp_from_u32(OTP_LIMIT - 1).as_deref(), Some("999999"));
        assert_eq!(otp_from_u32(OTP_LIMIT), None);
        assert_eq!(otp_from_u32(u32::MAX), None);
        assert_eq!(u64::from(OTP_LIMIT) % 1_000_000, 0);
        assert!(u64::from(OTP_LIMIT) + 1_000_000 > u64::from(u32::MAX));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

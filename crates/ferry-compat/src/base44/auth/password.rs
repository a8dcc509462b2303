//! Password hashing: argon2id for every password ferry sets, bcrypt accepted on verify so
//! users migrated from Supabase or a Base44 export keep their passwords.
//!
//! - **New hashes** are argon2id (v19) PHC strings with the OWASP parameters
//!   ([`ARGON2_M_KIB`] = 19 MiB of memory, [`ARGON2_T`] = 2 passes, [`ARGON2_P`] = 1 lane),
//!   a 16-byte random salt and a 32-byte output:
//!   `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
//! - **Verify** accepts those, argon2 hashes with other parameters (read from the string), and
//!   bcrypt `$2a$`/`$2b$`/`$2y$` hashes (compared as bcrypt does: the first 72 bytes).
//! - [`needs_rehash`] says when a hash that just verified should be replaced by
//!   [`hash_password`] (bcrypt, other argon2 variants or parameters), so logins upgrade
//!   migrated users silently.
//! - **Rule** for new passwords: [`MIN_PASSWORD_CHARS`]–[`MAX_PASSWORD_CHARS`] characters
//!   (Unicode scalar values), else `weak-password`. Verify does not apply the minimum (a
//!   migrated password may be shorter); a password over the maximum never verifies.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::{AuthError, random_bytes};

/// Memory cost of new hashes, in KiB (19 MiB, OWASP's argon2id recommendation).
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// Iterations (passes over memory) of new hashes.
pub const ARGON2_T: u32 = 2;
/// Parallelism (lanes) of new hashes.
pub const ARGON2_P: u32 = 1;
/// The fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The most characters a password may have.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A well-formed argon2id hash with the current parameters whose password nobody knows,
/// verified against when the user does not exist so that a login takes as long either way ([`verify_dummy`]).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$OtEy7C4YHt3Ss5JZXDD5Em+6Nt1EpUCE6ocOd/gK7Ek";

/// Checks the rule for a new password: [`MIN_PASSWORD_CHARS`]–[`MAX_PASSWORD_CHARS`]
/// characters. Fails with `weak-password`.
pub fn check_password_rules(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword {
            reason: format!(
                "it has {chars} characters; at least {MIN_PASSWORD_CHARS} are required"
            ),
        });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword {
            reason: format!("it has {chars} characters; at most {MAX_PASSWORD_CHARS} are allowed"),
        });
    }
    Ok(())
}

/// The hasher for new passwords.
fn argon2id() -> Result<Argon2<'static>, AuthError> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(|e| AuthError::HashFailed {
            detail: e.to_string(),
        })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password (after [`check_password_rules`]) into an argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    check_password_rules(password)?;
    let salt_bytes = random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::HashFailed {
        detail: e.to_string(),
    })?;
    let hash = argon2id()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::HashFailed {
            detail: e.to_string(),
        })?;
    Ok(hash.to_string())
}

/// The scheme of a stored hash.
enum Scheme {
    Argon2,
    Bcrypt,
}

fn scheme(hash: &str) -> Result<Scheme, AuthError> {
    if hash.starts_with("$argon2") {
        Ok(Scheme::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Ok(Scheme::Bcrypt)
    } else {
        // Name the scheme without echoing the hash: up to the second `$`, at most 16 chars.
        let prefix: String = match hash.strip_prefix('$') {
            Some(rest) => format!("${}", rest.split('$').next().unwrap_or("")),
            None => String::new(),
        };
        Err(AuthError::UnsupportedHash {
            scheme: prefix.chars().take(16).collect(),
        })
    }
}

/// Whether `password` matches the stored `hash` (argon2 PHC string or bcrypt). `Ok(false)`
/// for a wrong password, and for any password longer than [`MAX_PASSWORD_CHARS`]; an error
/// when the stored hash is of an unknown scheme or malformed. Comparison is constant-time.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, AuthError> {
    let scheme = scheme(hash)?;
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Ok(false);
    }
    match scheme {
        Scheme::Argon2 => {
            let parsed = PasswordHash::new(hash).map_err(|e| AuthError::MalformedHash {
                detail: e.to_string(),
            })?;
            match Argon2::default().verify_password(password.as_bytes(), &parsed) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::Password) => Ok(false),
                Err(e) => Err(AuthError::MalformedHash {
                    detail: e.to_string(),
                }),
            }
        }
        Scheme::Bcrypt => bcrypt::verify(password, hash).map_err(|e| AuthError::MalformedHash {
            detail: e.to_string(),
        }),
    }
}

/// Spends the time of one [`verify_password`] against a current-parameters hash, for a login
/// whose user does not exist (so response times do not reveal which emails have accounts).
pub fn verify_dummy(password: &str) {
    // The result is meaningless by design.
    let _ = verify_password(password, DUMMY_HASH);
}

/// Whether a stored hash should be replaced by [`hash_password`] after it verified: true for
/// bcrypt, for argon2 other than argon2id v19 with exactly the current parameters, and for
/// anything unparsable.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT || parsed.version != Some(0x13) {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    !(params.m_cost() == ARGON2_M_KIB
        && params.t_cost() == ARGON2_T
        && params.p_cost() == ARGON2_P
        && params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) == Params::DEFAULT_OUTPUT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_current() {
        assert!(!needs_rehash(DUMMY_HASH));
        assert_eq!(verify_password("anything-at-all", DUMMY_HASH), Ok(false));
    }

    #[test]
    fn rules_count_characters_not_bytes() {
        assert!(check_password_rules("ééééééé").is_err()); // 7 chars, 14 bytes
        assert!(check_password_rules("éééééééé").is_ok());
        assert!(check_password_rules(&"x".repeat(256)).is_ok());
        let err = check_password_rules(&"x".repeat(257)).err();
        assert_eq!(err.map(|e| e.code()), Some("weak-password"));
    }

    #[test]
    fn unknown_schemes_are_named_without_the_hash() {
        let err = verify_password("password", "$1$saltsalt$abcdefghijklmnop").err();
        assert_eq!(
            err,
            Some(AuthError::UnsupportedHash {
                scheme: "$1".into()
            })
        );
        let err = verify_password("password", "plaintext-password").err();
        assert_eq!(err.map(|e| e.code()), Some("password-hash-unsupported"));
    }
}

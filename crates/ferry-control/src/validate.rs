//! Bounds on every name and value that enters the state.

use crate::error::ControlError;

/// Longest secret value accepted, in bytes.
pub(crate) const MAX_SECRET_VALUE: usize = 64 * 1024;
/// Longest secret name accepted.
const MAX_SECRET_NAME: usize = 255;
/// Longest release id accepted.
const MAX_RELEASE_ID: usize = 128;
/// Longest actor, source path and source commit accepted.
const MAX_ACTOR: usize = 256;
const MAX_SOURCE_PATH: usize = 4096;
const MAX_SOURCE_COMMIT: usize = 256;

const SLUG_RULE: &str =
    "use lowercase letters, digits and `-` (at most 63, not starting or ending with `-`)";

/// Whether `text` is a slug: the rule for app and environment names (and `ferry.toml`'s).
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Whether `text` is a valid secret (environment variable) name: `[A-Z_][A-Z0-9_]*`.
pub fn is_secret_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    text.len() <= MAX_SECRET_NAME
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether a secret configures ferry itself (`FERRY_*`: the Base44 backend's database, mail,
/// signing key…) rather than the app: such values never reach a build or an app's processes.
pub fn is_ferry_setting(name: &str) -> bool {
    name.starts_with("FERRY_")
}

/// Whether `text` is a valid release id.
pub fn is_release_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_RELEASE_ID
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(crate) fn app_name(name: &str) -> Result<(), ControlError> {
    if is_slug(name) {
        Ok(())
    } else {
        Err(ControlError::InvalidName {
            kind: "app name",
            name: name.to_owned(),
            rule: SLUG_RULE,
        })
    }
}

pub(crate) fn env_name(name: &str) -> Result<(), ControlError> {
    if is_slug(name) {
        Ok(())
    } else {
        Err(ControlError::InvalidName {
            kind: "environment",
            name: name.to_owned(),
            rule: SLUG_RULE,
        })
    }
}

pub(crate) fn release_id(id: &str) -> Result<(), ControlError> {
    if is_release_id(id) {
        Ok(())
    } else {
        Err(ControlError::InvalidName {
            kind: "release id",
            name: id.to_owned(),
            rule: "use letters, digits, `.`, `_` and `-` (at most 128, not starting with `.`)",
        })
    }
}

pub(crate) fn secret_name(name: &str) -> Result<(), ControlError> {
    if is_secret_name(name) {
        Ok(())
    } else {
        // Not echoed: a value typed where the name goes must not end up in a log.
        Err(ControlError::InvalidName {
            kind: "secret name",
            name: "<hidden>".to_owned(),
            rule: "use uppercase letters, digits and `_`, not starting with a digit (like `DATABASE_URL`)",
        })
    }
}

pub(crate) fn secret_value(value: &str) -> Result<(), ControlError> {
    if value.len() <= MAX_SECRET_VALUE {
        Ok(())
    } else {
        Err(ControlError::InvalidValue {
            field: "secret value",
            reason: format!("{} bytes, at most {MAX_SECRET_VALUE}", value.len()),
        })
    }
}

/// A token's label: 1 to 64 printable characters without control characters.
pub(crate) fn token_name(name: &str) -> Result<(), ControlError> {
    bounded_text("token name", name, 64)?;
    if name.trim().is_empty() {
        return Err(ControlError::InvalidValue {
            field: "token name",
            reason: "it is empty".into(),
        });
    }
    Ok(())
}

pub(crate) fn actor(actor: &str) -> Result<(), ControlError> {
    bounded_text("actor", actor, MAX_ACTOR)?;
    if actor.trim().is_empty() {
        return Err(ControlError::InvalidValue {
            field: "actor",
            reason: "it is empty".into(),
        });
    }
    Ok(())
}

pub(crate) fn source_path(path: &str) -> Result<(), ControlError> {
    bounded_text("source path", path, MAX_SOURCE_PATH)
}

pub(crate) fn source_commit(commit: &str) -> Result<(), ControlError> {
    bounded_text("source commit", commit, MAX_SOURCE_COMMIT)
}

fn bounded_text(field: &'static str, text: &str, max: usize) -> Result<(), ControlError> {
    if text.len() > max {
        return Err(ControlError::InvalidValue {
            field,
            reason: format!("{} bytes, at most {max}", text.len()),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(ControlError::InvalidValue {
            field,
            reason: "it contains control characters".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["a", "my-app", "app2", &"a".repeat(63)] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "My-App",
            "a_b",
            "a.b",
            "a b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn secret_names() {
        for good in ["A", "_", "DATABASE_URL", "_X1", "VITE_SUPABASE_URL"] {
            assert!(is_secret_name(good), "{good}");
        }
        for bad in ["", "1A", "a", "DATABASE-URL", "A B", "Ä", &"A".repeat(256)] {
            assert!(!is_secret_name(bad), "{bad}");
        }
    }

    #[test]
    fn release_ids() {
        for good in ["r1", "20250101-abcdef", "v1.2.3", "A_b-c"] {
            assert!(is_release_id(good), "{good}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"a".repeat(129)] {
            assert!(!is_release_id(bad), "{bad}");
        }
    }

    #[test]
    fn invalid_secret_names_are_not_echoed() {
        let Err(err) = secret_name("sk_live_not_a_name") else {
            panic!("accepted a lowercase name");
        };
        assert!(!err.to_string().contains("sk_live"));
    }

    #[test]
    fn bounded_text_refuses_control_characters_and_length() {
        assert!(actor("cli").is_ok());
        assert!(actor("").is_err());
        assert!(actor("a\nb").is_err());
        assert!(source_commit(&"a".repeat(257)).is_err());
    }
}

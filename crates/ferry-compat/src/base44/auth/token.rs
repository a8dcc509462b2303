//! Access tokens: HS256 JSON Web Tokens, written and checked here without a JWT library.
//!
//! - Header `{"alg":"HS256","typ":"JWT"}`; claims [`Claims`]; each part unpadded base64url;
//!   signature HMAC-SHA256 over `header.payload` with the app's [`SigningKey`].
//! - [`verify`] refuses, in this order: a token over [`MAX_TOKEN_BYTES`], not three parts,
//!   bad base64 or JSON, an `alg` other than `HS256` (`none` included) or a `typ` other than
//!   `JWT`, a wrong signature (compared in constant time), claims of the wrong shape, another
//!   app's `app_id`, an `iat` more than [`MAX_CLOCK_SKEW_SECS`] in the future, and an `exp` at or
//!   before `now`. Expiry is `token-expired`; everything else is `token-invalid` (the variant
//!   says why, for logs).
//! - Clients send the token as `Authorization: Bearer <token>` ([`bearer_token`]).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{AuthError, b64url, random_bytes};

/// The longest token [`verify`] reads, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The shortest signing key accepted, in bytes (HMAC-SHA256's output size).
pub const MIN_KEY_BYTES: usize = 32;
/// How long a new access token lasts (7 days): the SDK keeps one token and has no refresh
/// call, so a short life would sign users out often.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// How far in the future a token's `iat` may be (clock differences between servers).
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// The header every token carries, already encoded.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// A fresh random signing key, to be kept in ferry's secrets store (one per app).
pub fn generate_key() -> Result<[u8; 32], AuthError> {
    random_bytes::<32>()
}

/// An app's secret for signing tokens (and, with domain separation, hashing one-time codes).
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct SigningKey {
    mac: Hmac<Sha256>,
}

impl SigningKey {
    /// A key from its bytes (at least [`MIN_KEY_BYTES`]; [`generate_key`] makes 32).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuthError> {
        let too_short = || AuthError::KeyTooShort {
            len: bytes.len(),
            min: MIN_KEY_BYTES,
        };
        if bytes.len() < MIN_KEY_BYTES {
            return Err(too_short());
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| too_short())?;
        Ok(Self { mac })
    }

    /// HMAC-SHA256 of `parts`, each prefixed with its length so that no two lists of parts
    /// produce the same input.
    pub(crate) fn mac_parts(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn mac_raw(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// What an access token says: who the user is, for which app, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id (the `user` table's `id`).
    pub sub: String,
    /// The user's email.
    pub email: String,
    /// The user's role (`admin` or `user`) when the token was issued.
    pub role: String,
    /// The app the token is for.
    pub app_id: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds (the token is refused from this second on).
    pub exp: u64,
    /// A random id (16 bytes, base64url), so a token can be revoked by id.
    pub jti: String,
}

impl Claims {
    /// Claims for a user signing in at `now`, valid for `ttl_secs` ([`DEFAULT_TTL_SECS`]),
    /// with a fresh random `jti`.
    pub fn new(
        user_id: &str,
        email: &str,
        role: &str,
        app_id: &str,
        now: u64,
        ttl_secs: u64,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            sub: user_id.to_owned(),
            email: email.to_owned(),
            role: role.to_owned(),
            app_id: app_id.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            jti: b64url(&random_bytes::<16>()?),
        })
    }
}

/// Signs `claims` into a compact token `header.payload.signature`.
pub fn issue(key: &SigningKey, claims: &Claims) -> String {
    // Serialised through `Value`, whose `Display` cannot fail.
    let payload = serde_json::json!({
        "sub": claims.sub,
        "email": claims.email,
        "role": claims.role,
        "app_id": claims.app_id,
        "iat": claims.iat,
        "exp": claims.exp,
        "jti": claims.jti,
    })
    .to_string();
    let signing_input = format!(
        "{}.{}",
        b64url(HEADER_JSON.as_bytes()),
        b64url(payload.as_bytes())
    );
    let signature = key
        .mac_raw(signing_input.as_bytes())
        .finalize()
        .into_bytes();
    format!("{signing_input}.{}", b64url(&signature))
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token: too long, not three parts, bad base64 or JSON, claims of the wrong shape.
    #[error("malformed token: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The header names an algorithm other than HS256 (`none` included).
    #[error("token algorithm `{alg}` is not accepted; only HS256 is")]
    Algorithm {
        /// The header's `alg` (cut to 32 characters).
        alg: String,
    },
    /// The signature does not match: tampered, or signed with another key.
    #[error("token signature does not match")]
    Signature,
    /// The token was issued for another app.
    #[error("token is for another app")]
    WrongApp,
    /// The token claims to be issued in the future.
    #[error("token is issued in the future")]
    NotYetValid,
    /// The token's `exp` is at or before now.
    #[error("token expired")]
    Expired,
}

impl TokenError {
    /// `token-expired` for [`TokenError::Expired`], `token-invalid` for everything else.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "token-expired",
            _ => "token-invalid",
        }
    }
}

fn decode_part(part: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed { reason: what })
}

/// Checks `token` against `key` at `now` (Unix seconds) for the app `app_id` and returns its
/// claims. See the module documentation for what is refused and in which order.
pub fn verify(key: &SigningKey, token: &str, now: u64, app_id: &str) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed {
            reason: "longer than 8 KiB",
        });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed {
            reason: "not three dot-separated parts",
        });
    };

    let header_json: serde_json::Value =
        serde_json::from_slice(&decode_part(header, "header is not base64url")?).map_err(|_| {
            TokenError::Malformed {
                reason: "header is not JSON",
            }
        })?;
    let Some(header_obj) = header_json.as_object() else {
        return Err(TokenError::Malformed {
            reason: "header is not a JSON object",
        });
    };
    match header_obj.get("alg") {
        Some(serde_json::Value::String(alg)) if alg == "HS256" => {}
        Some(serde_json::Value::String(alg)) => {
            return Err(TokenError::Algorithm {
                alg: alg.chars().take(32).collect(),
            });
        }
        _ => {
            return Err(TokenError::Malformed {
                reason: "header has no string `alg`",
            });
        }
    }
    match header_obj.get("typ") {
        None => {}
        Some(serde_json::Value::String(typ)) if typ == "JWT" => {}
        Some(_) => {
            return Err(TokenError::Malformed {
                reason: "header `typ` is not JWT",
            });
        }
    }

    let signature = decode_part(signature, "signature is not base64url")?;
    let signing_input_len = header.len() + 1 + payload.len();
    let signing_input = &token.as_bytes()[..signing_input_len];
    key.mac_raw(signing_input)
        .verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;

    let claims: Claims = serde_json::from_slice(&decode_part(payload, "payload is not base64url")?)
        .map_err(|_| TokenError::Malformed {
            reason: "claims are not the expected JSON",
        })?;
    if claims.app_id != app_id {
        return Err(TokenError::WrongApp);
    }
    if claims.iat > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The token of an `Authorization` header value `Bearer <token>` (scheme case-insensitive,
/// surrounding spaces ignored); `None` for any other form or an empty token.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let value = header_value.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty() && !token.contains(' ')).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_fixed_hs256_header() {
        let key = SigningKey::from_bytes(&[7u8; 32]).expect("key");
        let claims = Claims::new("u1", "a@example.com", "user", "app", 1_000, 60).expect("claims");
        let token = issue(&key, &claims);
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        assert_eq!(claims.jti.len(), 22);
    }

    #[test]
    fn bearer_forms() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("  bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn short_keys_are_refused() {
        let err = SigningKey::from_bytes(&[1u8; 31]).err();
        assert_eq!(err.map(|e| e.code()), Some("key-too-short"));
        assert!(format!("{:?}", SigningKey::from_bytes(&[1u8; 32])).contains("SigningKey(..)"));
    }
}

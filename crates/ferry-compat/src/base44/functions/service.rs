//! The service token of an app: what a backend function's `base44.asServiceRole` client sends
//! as its `Authorization: Bearer …`, and what the API then treats as the service role (every
//! rule bypassed, like Base44's own service role).
//!
//! The token is `b44svc.` followed by the unpadded base64url HMAC-SHA256, under the app's
//! signing key, of a fixed purpose string and the app id (each length-prefixed, so no access
//! token or one-time-code hash can collide with it). It is deterministic per app and key: it
//! only ever travels from ferry to the app's own function processes on loopback, and rotating
//! the signing key (`ferry env unset FERRY_BASE44_SIGNING_KEY`) changes it. It is not a JWT,
//! so no access-token check can mistake one for the other, and only the exact token is
//! accepted ([`is_service_token`] compares in constant time).

use hmac::Mac;

use crate::base44::auth::token::SigningKey;

/// What every service token starts with.
pub const SERVICE_TOKEN_PREFIX: &str = "b44svc.";

/// The purpose string separating service tokens from the key's other uses.
const PURPOSE: &[u8] = b"ferry-base44-service-token-v1";

/// The service token of `app_id` under `key`.
pub fn service_token(key: &SigningKey, app_id: &str) -> String {
    let mac = key
        .mac_parts(&[PURPOSE, app_id.as_bytes()])
        .finalize()
        .into_bytes();
    format!(
        "{SERVICE_TOKEN_PREFIX}{}",
        crate::base44::auth::b64url(&mac)
    )
}

/// Whether `token` is exactly the service token of `app_id` under `key` (constant time in the
/// token's content).
pub fn is_service_token(key: &SigningKey, app_id: &str, token: &str) -> bool {
    use base64::Engine as _;
    let Some(encoded) = token.strip_prefix(SERVICE_TOKEN_PREFIX) else {
        return false;
    };
    let Ok(mac) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded) else {
        return false;
    };
    key.mac_parts(&[PURPOSE, app_id.as_bytes()])
        .verify_slice(&mac)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_of_the_app_and_key_is_accepted() {
        let key = SigningKey::from_bytes(&[3u8; 32]).expect("key");
        let other = SigningKey::from_bytes(&[4u8; 32]).expect("key");
        let app = "67b2f0c41d9e3a0012c4d8e1";
        let token = service_token(&key, app);
        assert!(token.starts_with(SERVICE_TOKEN_PREFIX));
        assert_eq!(token, service_token(&key, app));
        assert!(is_service_token(&key, app, &token));
        assert!(!is_service_token(&other, app, &token));
        assert!(!is_service_token(&key, "67b2f0c41d9e3a0012c4d8e2", &token));
        assert!(!is_service_token(&key, app, &token[..token.len() - 1]));
        assert!(!is_service_token(&key, app, &format!("{token}A")));
        assert!(!is_service_token(&key, app, SERVICE_TOKEN_PREFIX));
        assert!(!is_service_token(&key, app, "eyJhbGciOiJIUzI1NiJ9.e30.x"));
        assert_ne!(token, service_token(&other, app));
    }
}

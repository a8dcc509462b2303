//! Sign-in with an OpenID Connect provider (Google by default): the pure parts of the
//! authorization-code flow with PKCE, `state` and `nonce`, without HTTP.
//!
//! - [`OidcConfig`]: the owner's provider (`FERRY_OIDC_ISSUER`, `FERRY_OIDC_CLIENT_ID`,
//!   `FERRY_OIDC_CLIENT_SECRET`, `FERRY_OIDC_NAME`).
//! - [`Discovery`]: the provider's `/.well-known/openid-configuration`, whose `issuer` must be
//!   the configured one.
//! - [`Flow`]: what the browser carries between the start and the callback (state, nonce,
//!   PKCE verifier, where to return), sealed with the app's [`SigningKey`] into a cookie.
//! - [`verify_id_token`]: an RS256 ID token checked against the provider's JWKS (signature,
//!   `iss`, `aud`/`azp`, `exp`/`iat`, `nonce`, `email_verified`).

use base64::Engine as _;
use hmac::Mac;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::token::{MAX_CLOCK_SKEW_SECS, SigningKey};
use super::{AuthError, b64url, random_bytes};

/// How long a started sign-in may take before its callback is refused (10 minutes).
pub const FLOW_TTL_SECS: u64 = 10 * 60;
/// The name shown on the button when `FERRY_OIDC_NAME` is not set.
pub const DEFAULT_PROVIDER_NAME: &str = "Google";
/// The scopes asked for.
pub const SCOPES: &str = "openid email profile";

/// The owner's OpenID Connect client. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer URL (`https://accounts.google.com`); discovery is under it.
    pub issuer: String,
    /// The OAuth client id (also the ID token's expected audience).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: String,
    /// What the button says after "Continue with".
    pub name: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// Why an OpenID Connect sign-in was refused. Each has a stable [`OidcError::code`]; the
/// message is safe to show the user (no token, no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider's discovery document is unusable.
    #[error("the provider's discovery document is unusable: {0}")]
    Discovery(String),
    /// The provider could not be reached or answered an error.
    #[error("the sign-in provider failed: {0}")]
    Provider(String),
    /// The callback's `state` differs from the one this browser started with.
    #[error("the sign-in was not started from this browser (state mismatch)")]
    StateMismatch,
    /// No started sign-in (no cookie, a forged one, or older than [`FLOW_TTL_SECS`]).
    #[error("the sign-in expired or was not started here; start again")]
    FlowExpired,
    /// The ID token is not a well-formed JWT.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// The ID token is not signed with RS256.
    #[error("the ID token is signed with `{0}`; only RS256 is accepted")]
    UnsupportedAlgorithm(String),
    /// No key of the provider's JWKS matches the token's `kid`.
    #[error("no key of the provider signs this ID token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the ID token was issued by `{0}`, not the configured provider")]
    WrongIssuer(String),
    /// `aud` (or `azp`) is not this app's client id.
    #[error("the ID token is meant for another client (audience)")]
    WrongAudience,
    /// `exp` has passed (or `iat` is in the future).
    #[error("the ID token has expired")]
    Expired,
    /// `nonce` differs from the one this sign-in sent.
    #[error("the ID token's nonce does not match this sign-in")]
    NonceMismatch,
    /// The provider has not verified the email.
    #[error("the provider has not verified this email address")]
    EmailNotVerified,
    /// The token carries no usable email.
    #[error("the ID token carries no email address")]
    NoEmail,
}

impl OidcError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "oidc-discovery",
            OidcError::Provider(_) => "oidc-provider",
            OidcError::StateMismatch => "oidc-state-mismatch",
            OidcError::FlowExpired => "oidc-flow-expired",
            OidcError::Malformed(_) => "oidc-token-malformed",
            OidcError::UnsupportedAlgorithm(_) => "oidc-unsupported-alg",
            OidcError::UnknownKey => "oidc-unknown-key",
            OidcError::BadSignature => "oidc-bad-signature",
            OidcError::WrongIssuer(_) => "oidc-wrong-issuer",
            OidcError::WrongAudience => "oidc-wrong-audience",
            OidcError::Expired => "oidc-token-expired",
            OidcError::NonceMismatch => "oidc-nonce-mismatch",
            OidcError::EmailNotVerified => "oidc-email-not-verified",
            OidcError::NoEmail => "oidc-no-email",
        }
    }
}

/// The parts of the provider's discovery document the flow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer (equal to the configured one, trailing `/` aside).
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Whether the client authenticates with HTTP basic (`client_secret_basic`, the default)
    /// rather than in the body (`client_secret_post`).
    pub basic_auth: bool,
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Discovery {
    /// Parses a discovery document for `config`; its `issuer` must be the configured one.
    pub fn parse(config: &OidcConfig, body: &[u8]) -> Result<Discovery, OidcError> {
        let doc: Value = serde_json::from_slice(body)
            .map_err(|e| OidcError::Discovery(format!("not JSON: {e}")))?;
        let field = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
                .map(str::to_owned)
                .ok_or_else(|| OidcError::Discovery(format!("`{k}` is missing or not a URL")))
        };
        let issuer = field("issuer")?;
        if !same_issuer(&issuer, &config.issuer) {
            return Err(OidcError::Discovery(format!(
                "it names the issuer `{issuer}`, not `{}`",
                config.issuer
            )));
        }
        let methods: Option<Vec<&str>> = doc
            .get("token_endpoint_auth_methods_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        let basic_auth = methods.is_none_or(|m| {
            m.contains(&"client_secret_basic") || !m.contains(&"client_secret_post")
        });
        Ok(Discovery {
            issuer,
            authorization_endpoint: field("authorization_endpoint")?,
            token_endpoint: field("token_endpoint")?,
            jwks_uri: field("jwks_uri")?,
            basic_auth,
        })
    }
}

/// A started sign-in: carried by the browser in a sealed cookie ([`Flow::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// Sent as `state` and compared with the callback's.
    pub state: String,
    /// Sent as `nonce` and compared with the ID token's.
    pub nonce: String,
    /// The PKCE verifier (its S256 challenge went to the provider).
    pub verifier: String,
    /// Where to return after signing in (checked again against the origin at the end).
    pub from_url: String,
    /// Unix seconds from which the callback is refused.
    pub expires_at: u64,
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

const FLOW_MAC_DOMAIN: &[u8] = b"ferry-base44-oidc-flow";

impl Flow {
    /// A fresh flow (random state, nonce and verifier) returning to `from_url`.
    pub fn new(from_url: &str, now: u64) -> Result<Flow, AuthError> {
        Ok(Flow {
            state: b64url(&random_bytes::<24>()?),
            nonce: b64url(&random_bytes::<24>()?),
            verifier: b64url(&random_bytes::<32>()?),
            from_url: from_url.to_owned(),
            expires_at: now.saturating_add(FLOW_TTL_SECS),
        })
    }

    /// The PKCE `code_challenge` (S256) of the verifier.
    pub fn challenge(&self) -> String {
        b64url(&Sha256::digest(self.verifier.as_bytes()))
    }

    /// The cookie value: the flow's JSON and its MAC under `key`, both base64url.
    pub fn seal(&self, key: &SigningKey) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mac = key.mac_parts(&[FLOW_MAC_DOMAIN, &json]).finalize();
        format!("{}.{}", b64url(&json), b64url(&mac.into_bytes()))
    }

    /// The flow sealed in `value`, if its MAC verifies and it has not expired at `now`.
    pub fn open(key: &SigningKey, value: &str, now: u64) -> Result<Flow, OidcError> {
        let (json, mac) = value.split_once('.').ok_or(OidcError::FlowExpired)?;
        let (json, mac) = (
            b64_decode(json).ok_or(OidcError::FlowExpired)?,
            b64_decode(mac).ok_or(OidcError::FlowExpired)?,
        );
        key.mac_parts(&[FLOW_MAC_DOMAIN, &json])
            .verify_slice(&mac)
            .map_err(|_| OidcError::FlowExpired)?;
        let flow: Flow = serde_json::from_slice(&json).map_err(|_| OidcError::FlowExpired)?;
        if now >= flow.expires_at {
            return Err(OidcError::FlowExpired);
        }
        Ok(flow)
    }

    /// Checks the callback's `state` against this flow's (constant time).
    pub fn check_state(&self, state: &str) -> Result<(), OidcError> {
        let (a, b) = (self.state.as_bytes(), state.as_bytes());
        let same =
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        same.then_some(()).ok_or(OidcError::StateMismatch)
    }
}

/// What form encoding leaves as it is: letters, digits and `-._~`.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn form_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, FORM).to_string()
}

/// The URL the browser is sent to: the authorization endpoint with the code-flow parameters.
pub fn authorize_url(
    discovery: &Discovery,
    config: &OidcConfig,
    redirect_uri: &str,
    flow: &Flow,
) -> String {
    let sep = if discovery.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!(
        "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
        discovery.authorization_endpoint,
        form_encode(&config.client_id),
        form_encode(redirect_uri),
        form_encode(SCOPES),
        form_encode(&flow.state),
        form_encode(&flow.nonce),
        form_encode(&flow.challenge()),
    )
}

/// The token request: an optional `Authorization` header value and the form body.
pub fn token_request(
    discovery: &Discovery,
    config: &OidcConfig,
    code: &str,
    redirect_uri: &str,
    flow: &Flow,
) -> (Option<String>, String) {
    let mut body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}&client_id={}",
        form_encode(code),
        form_encode(redirect_uri),
        form_encode(&flow.verifier),
        form_encode(&config.client_id),
    );
    if discovery.basic_auth {
        // RFC 6749 §2.3.1: both parts form-encoded before base64.
        let pair = format!(
            "{}:{}",
            form_encode(&config.client_id),
            form_encode(&config.client_secret)
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
        (Some(format!("Basic {b64}")), body)
    } else {
        body.push_str(&format!(
            "&client_secret={}",
            form_encode(&config.client_secret)
        ));
        (None, body)
    }
}

/// The `id_token` of a token endpoint's answer (status and body).
pub fn id_token_of(status: u16, body: &[u8]) -> Result<String, OidcError> {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let reason = doc
            .get("error_description")
            .or_else(|| doc.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(OidcError::Provider(format!(
            "the token endpoint answered {status}: {}",
            super::mail::one_line(reason)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    doc.get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| OidcError::Provider("the token answer holds no id_token".into()))
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's subject id.
    pub subject: String,
    /// The verified email, trimmed and lower-cased (the route checks its form).
    pub email: String,
    /// The display name, when given.
    pub name: Option<String>,
}

/// What [`verify_id_token`] checks against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The discovered issuer.
    pub issuer: &'a str,
    /// This app's client id.
    pub client_id: &'a str,
    /// The flow's nonce.
    pub nonce: &'a str,
    /// The current time, Unix seconds.
    pub now: u64,
}

fn json_part(part: &str) -> Result<Value, OidcError> {
    let bytes = b64_decode(part).ok_or_else(|| OidcError::Malformed("bad base64url".into()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| OidcError::Malformed(format!("bad JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(OidcError::Malformed("not a JSON object".into()))
    }
}

/// The RSA key of `jwks` for `kid` (any RSA signing key when the token names none and the set
/// holds exactly one): modulus and exponent, big-endian.
fn rsa_key(jwks: &Value, kid: Option<&str>) -> Result<(Vec<u8>, Vec<u8>), OidcError> {
    let keys: Vec<&Value> = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
                .filter(|k| {
                    k.get("use")
                        .and_then(Value::as_str)
                        .is_none_or(|u| u == "sig")
                })
                .collect()
        })
        .unwrap_or_default();
    let key = match kid {
        Some(kid) => keys
            .into_iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None if keys.len() == 1 => keys.into_iter().next(),
        None => None,
    }
    .ok_or(OidcError::UnknownKey)?;
    let part = |k: &str| {
        key.get(k)
            .and_then(Value::as_str)
            .and_then(b64_decode)
            .ok_or(OidcError::UnknownKey)
    };
    Ok((part("n")?, part("e")?))
}

/// Verifies an RS256 ID token against the provider's JWKS and `expected`, and returns who
/// signed in. Checks, in order: the form, `alg` = RS256, the signature, `iss`, `aud` (and
/// `azp` when several audiences), `exp` (and `iat` not in the future, with
/// [`MAX_CLOCK_SKEW_SECS`] of leeway), `nonce`, an email with `email_verified` true.
pub fn verify_id_token(
    token: &str,
    jwks: &Value,
    expected: &Expected<'_>,
) -> Result<Identity, OidcError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed("not three dot-separated parts".into()));
    };
    let header = json_part(h)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "RS256" {
        return Err(OidcError::UnsupportedAlgorithm(
            alg.chars().take(16).collect(),
        ));
    }
    let (n, e) = rsa_key(jwks, header.get("kid").and_then(Value::as_str))?;
    let signature = b64_decode(s).ok_or_else(|| OidcError::Malformed("bad signature".into()))?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed,
            &signature,
        )
        .map_err(|_| OidcError::BadSignature)?;
    let claims = json_part(p)?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let iss = text("iss").unwrap_or("");
    if !same_issuer(iss, expected.issuer) {
        return Err(OidcError::WrongIssuer(iss.chars().take(200).collect()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let azp_ok = audiences.len() < 2 || text("azp") == Some(expected.client_id);
    if !audiences.contains(&expected.client_id) || !azp_ok {
        return Err(OidcError::WrongAudience);
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if exp.saturating_add(MAX_CLOCK_SKEW_SECS) <= expected.now
        || iat > expected.now.saturating_add(MAX_CLOCK_SKEW_SECS)
    {
        return Err(OidcError::Expired);
    }
    let nonce = text("nonce").unwrap_or("");
    if nonce.is_empty() || nonce != expected.nonce {
        return Err(OidcError::NonceMismatch);
    }
    let email = text("email")
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@'))
        .ok_or(OidcError::NoEmail)?;
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    if !verified {
        return Err(OidcError::EmailNotVerified);
    }
    Ok(Identity {
        subject: text("sub").unwrap_or("").to_owned(),
        email,
        name: text("name")
            .map(super::mail::one_line)
            .filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://accounts.example.com/".into(),
            client_id: "client 1".into(),
            client_secret: "s3cr:et".into(),
            name: DEFAULT_PROVIDER_NAME.into(),
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32]).expect("key")
    }

    #[test]
    fn discovery_checks_the_issuer_and_picks_the_auth_method() {
        let doc = |iss: &str, methods: &str| {
            format!(
                r#"{{"issuer":"{iss}","authorization_endpoint":"https://a/auth","token_endpoint":"https://a/token","jwks_uri":"https://a/jwks"{methods}}}"#
            )
        };
        let d = Discovery::parse(
            &config(),
            doc("https://accounts.example.com", "").as_bytes(),
        )
        .expect("parses");
        assert!(d.basic_auth);
        let post = doc(
            "https://accounts.example.com",
            r#","token_endpoint_auth_methods_supported":["client_secret_post"]"#,
        );
        assert!(
            !Discovery::parse(&config(), post.as_bytes())
                .expect("parses")
                .basic_auth
        );
        let other = Discovery::parse(&config(), doc("https://evil.example", "").as_bytes());
        assert_eq!(other.map_err(|e| e.code()), Err("oidc-discovery"));
        assert!(Discovery::parse(&config(), b"nope").is_err());
    }

    #[test]
    fn flows_seal_open_and_expire() {
        let flow = Flow::new("/tasks", 1000).expect("flow");
        let sealed = flow.seal(&key());
        assert_eq!(Flow::open(&key(), &sealed, 1001), Ok(flow.clone()));
        assert_eq!(
            Flow::open(&key(), &sealed, 1000 + FLOW_TTL_SECS),
            Err(OidcError::FlowExpired)
        );
        let other = SigningKey::from_bytes(&[8u8; 32]).expect("key");
        assert_eq!(
            Flow::open(&other, &sealed, 1001),
            Err(OidcError::FlowExpired)
        );
        let mut tampered = sealed.clone();
        tampered.insert(3, 'A');
        assert!(Flow::open(&key(), &tampered, 1001).is_err());
        assert_eq!(flow.check_state(&flow.state), Ok(()));
        assert_eq!(flow.check_state("other"), Err(OidcError::StateMismatch));
        // RFC 7636 appendix B.
        let rfc = Flow {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..flow
        };
        assert_eq!(
            rfc.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn token_requests_authenticate_as_discovered() {
        let mut d = Discovery {
            issuer: "https://accounts.example.com".into(),
            authorization_endpoint: "https://a/auth?x=1".into(),
            token_endpoint: "https://a/token".into(),
            jwks_uri: "https://a/jwks".into(),
            basic_auth: true,
        };
        let flow = Flow::new("/", 0).expect("flow");
        let (auth, body) = token_request(&d, &config(), "c/1", "https://app/cb", &flow);
        assert_eq!(auth.as_deref(), Some("Basic Y2xpZW50JTIwMTpzM2NyJTNBZXQ="));
        assert!(body.contains("code=c%2F1&redirect_uri=https%3A%2F%2Fapp%2Fcb"));
        assert!(!body.contains("client_secret"));
        d.basic_auth = false;
        let (auth, body) = token_request(&d, &config(), "c", "https://app/cb", &flow);
        assert_eq!(auth, None);
        assert!(body.ends_with("&client_secret=s3cr%3Aet"));
        let url = authorize_url(&d, &config(), "https://app/cb", &flow);
        assert!(url.starts_with("https://a/auth?x=1&response_type=code&client_id=client%201"));
        assert!(url.contains("&code_challenge_method=S256"));
    }

    #[test]
    fn token_answers() {
        assert_eq!(
            id_token_of(200, br#"{"id_token":"a.b.c"}"#),
            Ok("a.b.c".into())
        );
        let err = id_token_of(400, br#"{"error":"invalid_grant"}"#).err();
        assert!(err.is_some_and(|e| e.to_string().contains("invalid_grant")));
        assert!(id_token_of(200, b"{}").is_err());
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_key_is_used() {
        let jwks = serde_json::json!({"keys": []});
        let expected = Expected {
            issuer: "https://accounts.example.com",
            client_id: "c",
            nonce: "n",
            now: 0,
        };
        let hs = format!("{}.{}.x", b64url(br#"{"alg":"HS256"}"#), b64url(b"{}"));
        assert_eq!(
            verify_id_token(&hs, &jwks, &expected).map_err(|e| e.code()),
            Err("oidc-unsupported-alg")
        );
        let none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(b"{}"));
        assert!(verify_id_token(&none, &jwks, &expected).is_err());
        let rs = format!(
            "{}.{}.x",
            b64url(br#"{"alg":"RS256","kid":"k"}"#),
            b64url(b"{}")
        );
        assert_eq!(
            verify_id_token(&rs, &jwks, &expected),
            Err(OidcError::UnknownKey)
        );
        assert!(verify_id_token("a.b", &jwks, &expected).is_err());
        assert!(verify_id_token("", &jwks, &expected).is_err());
    }
}

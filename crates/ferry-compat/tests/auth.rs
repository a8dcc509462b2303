//! Base44 auth primitives: password hashing (argon2id, and bcrypt hashes from a Supabase
//! export), HS256 access tokens against hand-built and independently computed tokens,
//! one-time codes and reset tokens, mail builders, and the role rule.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_compat::base44::auth::mail::{Mail, MemoryOutbox, Outbox};
use ferry_compat::base44::auth::otp::{
    OTP_MAX_ATTEMPTS, OTP_TTL_SECS, OtpOutcome, OtpRecord, RESET_TTL_SECS, ResetRecord,
    generate_otp, generate_reset_token, hash_reset_token,
};
use ferry_compat::base44::auth::password::{
    hash_password, needs_rehash, verify_dummy, verify_password,
};
use ferry_compat::base44::auth::role::role_for_new_user;
use ferry_compat::base44::auth::token::{
    Claims, MAX_TOKEN_BYTES, SigningKey, TokenError, generate_key, issue, verify,
};
use ferry_compat::base44::auth::{AuthError, unix_now};
use hmac::{KeyInit, Mac};

// ---- passwords --------------------------------------------------------------------------

/// alice's `auth.users.encrypted_password` in tests/fixtures/db/supabase.sql: pgcrypto's
/// `crypt('password-alice', gen_salt('bf', 10))`.
const ALICE_BCRYPT: &str = "$2a$10$5M1MPqIALSTcam27Qf7qEeBJKUzfslemU3Chl3.lS0Y/3t3UNoMBu";
/// bob's, of `password-bob`.
const BOB_BCRYPT: &str = "$2a$10$sQ6JckWmqDmoplYasSHNUeKtcta1/jiGTRTz7tT4LwEny2KDkEJR6";

#[test]
fn argon2id_round_trip() {
    let hash = hash_password("correct horse battery").expect("hashes");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(verify_password("correct horse battery", &hash), Ok(true));
    assert_eq!(verify_password("correct horse batterY", &hash), Ok(false));
    assert_eq!(verify_password("", &hash), Ok(false));
    assert!(!needs_rehash(&hash));
    // A fresh salt every time.
    let again = hash_password("correct horse battery").expect("hashes");
    assert_ne!(hash, again);
    assert_eq!(verify_password("correct horse battery", &again), Ok(true));
}

#[test]
fn weak_passwords_are_refused() {
    for weak in ["", "short", "1234567", &"x".repeat(257)] {
        let err = hash_password(weak).expect_err("weak");
        assert_eq!(err.code(), "weak-password", "{weak:?}");
    }
    assert!(hash_password("12345678").is_ok());
}

#[test]
fn supabase_bcrypt_hashes_verify_and_need_rehash() {
    assert_eq!(verify_password("password-alice", ALICE_BCRYPT), Ok(true));
    assert_eq!(verify_password("password-bob", ALICE_BCRYPT), Ok(false));
    assert_eq!(verify_password("password-bob", BOB_BCRYPT), Ok(true));
    // `$2b$` and `$2y$` are the same algorithm under other names.
    for prefix in ["$2b$", "$2y$"] {
        let renamed = format!("{prefix}{}", &ALICE_BCRYPT[4..]);
        assert_eq!(
            verify_password("password-alice", &renamed),
            Ok(true),
            "{renamed}"
        );
    }
    assert!(needs_rehash(ALICE_BCRYPT));
    // The upgrade path: verify the old hash, store a new one.
    let upgraded = hash_password("password-alice").expect("hashes");
    assert_eq!(verify_password("password-alice", &upgraded), Ok(true));
    assert!(!needs_rehash(&upgraded));
}

#[test]
fn generated_bcrypt_hashes_verify_even_below_the_minimum_length() {
    // Supabase allows 6-character passwords; a migrated one must still sign in.
    let hash = bcrypt::hash("abc123", 4).expect("bcrypt");
    assert!(hash.starts_with("$2b$04$"));
    assert_eq!(verify_password("abc123", &hash), Ok(true));
    assert_eq!(verify_password("abc124", &hash), Ok(false));
    assert!(needs_rehash(&hash));
}

#[test]
fn other_argon2_parameters_verify_and_need_rehash() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8 * 1024, 1, 1, None).expect("params");
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    for algorithm in [argon2::Algorithm::Argon2id, argon2::Algorithm::Argon2i] {
        let hash = argon2::Argon2::new(algorithm, argon2::Version::V0x13, params.clone())
            .hash_password(b"old-params-password", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(
            verify_password("old-params-password", &hash),
            Ok(true),
            "{hash}"
        );
        assert_eq!(verify_password("other-password", &hash), Ok(false));
        assert!(needs_rehash(&hash), "{hash}");
    }
}

#[test]
fn malformed_and_unknown_hashes_are_errors() {
    for (hash, code) in [
        ("$2a$10$short", "password-hash-invalid"),
        (
            "$argon2id$v=19$m=19456,t=2,p=1$bad",
            "password-hash-invalid",
        ),
        ("$argon2id$", "password-hash-invalid"),
        ("$1$abc$def", "password-hash-unsupported"),
        ("plaintext", "password-hash-unsupported"),
        ("", "password-hash-unsupported"),
    ] {
        let err = verify_password("password-alice", hash).expect_err(hash);
        assert_eq!(err.code(), code, "{hash}");
        assert!(needs_rehash(hash), "{hash}");
    }
}

#[test]
fn overlong_passwords_never_verify() {
    let long = "x".repeat(257);
    let hash = bcrypt::hash(&long, 4).expect("bcrypt"); // bcrypt reads 72 bytes
    assert_eq!(verify_password(&long, &hash), Ok(false));
    verify_dummy(&long);
    verify_dummy("password-alice");
}

// ---- tokens -----------------------------------------------------------------------------

const NOW: u64 = 1_700_000_000;
const APP: &str = "app-1";

fn key() -> SigningKey {
    SigningKey::from_bytes(&(0u8..32).collect::<Vec<_>>()).expect("key")
}

fn claims() -> Claims {
    Claims::new(
        "64b7f0c2a1d3e4f5a6b7c8d9",
        "alice@example.com",
        "user",
        APP,
        NOW,
        3600,
    )
    .expect("claims")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed by hand (not by `issue`) over arbitrary header and payload text.
fn forge(key_bytes: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key_bytes).expect("hmac");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn key_bytes() -> Vec<u8> {
    (0u8..32).collect()
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn payload(app_id: &str, iat: u64, exp: u64) -> String {
    serde_json::json!({
        "sub": "u1", "email": "a@example.com", "role": "user", "app_id": app_id,
        "iat": iat, "exp": exp, "jti": "j1",
    })
    .to_string()
}

#[test]
fn issue_then_verify() {
    let claims = claims();
    let token = issue(&key(), &claims);
    assert_eq!(verify(&key(), &token, NOW, APP), Ok(claims.clone()));
    assert_eq!(verify(&key(), &token, NOW + 3599, APP), Ok(claims.clone()));
    assert_eq!(claims.exp, NOW + 3600);

    // Checked independently: three base64url parts, the fixed header, the claims as JSON,
    // and the HMAC over the first two parts.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(!token.contains('='));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[0]).expect("b64"),
        HS256.as_bytes()
    );
    let body: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(body["sub"], "64b7f0c2a1d3e4f5a6b7c8d9");
    assert_eq!(body["app_id"], APP);
    assert_eq!(body["role"], "user");
    assert_eq!(body["iat"], NOW);
    assert_eq!(body["exp"], NOW + 3600);
    assert_eq!(body["jti"], claims.jti.as_str());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key_bytes()).expect("hmac");
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("b64"))
        .expect("signature matches");

    // Fresh jti per token.
    assert_ne!(claims.jti, self::claims().jti);
}

#[test]
fn verifies_a_token_computed_by_another_implementation() {
    // Python: hmac.new(bytes(range(32)), header + "." + payload, sha256), base64url unpadded.
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NGI3ZjBjMmExZDNlNGY1YTZiN2M4ZDkiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwicm9sZSI6ImFkbWluIiwiYXBwX2lkIjoiYXBwLTEiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwianRpIjoidmVjdG9yLWp0aSJ9._2oQ2-hHndXi_pbw_gTg8VJSqv5vgi4d22LSum1OW3Y";
    let claims = verify(&key(), token, NOW, APP).expect("valid");
    assert_eq!(
        claims,
        Claims {
            sub: "64b7f0c2a1d3e4f5a6b7c8d9".into(),
            email: "alice@example.com".into(),
            role: "admin".into(),
            app_id: APP.into(),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            jti: "vector-jti".into(),
        }
    );
}

#[test]
fn tampered_payload_is_refused() {
    let token = issue(&key(), &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut body: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    body["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(body.to_string().as_bytes()),
        parts[2]
    );
    let err = verify(&key(), &tampered, NOW, APP).expect_err("tampered");
    assert_eq!(err, TokenError::Signature);
    assert_eq!(err.code(), "token-invalid");
}

#[test]
fn tampered_signature_is_refused() {
    let token = issue(&key(), &claims());
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    let mut sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    sig[0] ^= 1;
    let tampered = format!("{input}.{}", b64(&sig));
    assert_eq!(
        verify(&key(), &tampered, NOW, APP),
        Err(TokenError::Signature)
    );
    // Truncated and missing signatures too.
    let truncated = format!("{input}.{}", b64(&sig[..16]));
    assert_eq!(
        verify(&key(), &truncated, NOW, APP),
        Err(TokenError::Signature)
    );
    assert_eq!(
        verify(&key(), &format!("{input}."), NOW, APP),
        Err(TokenError::Signature)
    );
    // Another key.
    let other = SigningKey::from_bytes(&[9u8; 32]).expect("key");
    assert_eq!(verify(&other, &token, NOW, APP), Err(TokenError::Signature));
}

#[test]
fn other_algorithms_are_refused() {
    let body = payload(APP, NOW, NOW + 60);
    // `alg: none` with an empty signature, the classic forgery.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(body.as_bytes())
    );
    let err = verify(&key(), &none, NOW, APP).expect_err("none");
    assert_eq!(err, TokenError::Algorithm { alg: "none".into() });
    assert_eq!(err.code(), "token-invalid");
    // Even correctly MACed with our key, other names are refused.
    for alg in ["none", "HS512", "RS256", "hs256", ""] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let token = forge(&key_bytes(), &header, &body);
        assert_eq!(
            verify(&key(), &token, NOW, APP),
            Err(TokenError::Algorithm { alg: alg.into() }),
            "{alg}"
        );
    }
    // No `alg`, a non-string `alg`, a wrong `typ`.
    for header in [
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":"HS256","typ":"JWS"}"#,
    ] {
        let token = forge(&key_bytes(), header, &body);
        assert!(
            matches!(
                verify(&key(), &token, NOW, APP),
                Err(TokenError::Malformed { .. })
            ),
            "{header}"
        );
    }
    // Without `typ` is fine.
    let token = forge(&key_bytes(), r#"{"alg":"HS256"}"#, &body);
    assert!(verify(&key(), &token, NOW, APP).is_ok());
}

#[test]
fn expiry() {
    let token = forge(&key_bytes(), HS256, &payload(APP, NOW - 100, NOW));
    let err = verify(&key(), &token, NOW, APP).expect_err("expired");
    assert_eq!(err, TokenError::Expired);
    assert_eq!(err.code(), "token-expired");
    assert!(verify(&key(), &token, NOW - 1, APP).is_ok());
    let issued = issue(&key(), &claims());
    assert_eq!(
        verify(&key(), &issued, NOW + 3600, APP),
        Err(TokenError::Expired)
    );
}

#[test]
fn issued_in_the_future_is_refused() {
    let token = forge(&key_bytes(), HS256, &payload(APP, NOW + 61, NOW + 3600));
    let err = verify(&key(), &token, NOW, APP).expect_err("future");
    assert_eq!(err, TokenError::NotYetValid);
    assert_eq!(err.code(), "token-invalid");
    let skewed = forge(&key_bytes(), HS256, &payload(APP, NOW + 60, NOW + 3600));
    assert!(verify(&key(), &skewed, NOW, APP).is_ok());
}

#[test]
fn wrong_app_is_refused() {
    let token = issue(&key(), &claims());
    let err = verify(&key(), &token, NOW, "app-2").expect_err("other app");
    assert_eq!(err, TokenError::WrongApp);
    assert_eq!(err.code(), "token-invalid");
}

#[test]
fn oversized_tokens_are_refused_before_anything_else() {
    let token = issue(&key(), &claims());
    let padded = format!("{token}{}", "A".repeat(9 * 1024));
    assert!(padded.len() > MAX_TOKEN_BYTES);
    assert_eq!(
        verify(&key(), &padded, NOW, APP),
        Err(TokenError::Malformed {
            reason: "longer than 8 KiB"
        })
    );
    // A validly signed 9 KiB token is refused too.
    let big = serde_json::json!({
        "sub": "u1", "email": "a@example.com", "role": "user", "app_id": APP,
        "iat": NOW, "exp": NOW + 60, "jti": "x".repeat(9 * 1024),
    })
    .to_string();
    let token = forge(&key_bytes(), HS256, &big);
    let err = verify(&key(), &token, NOW, APP).expect_err("too long");
    assert_eq!(err.code(), "token-invalid");
    assert!(matches!(err, TokenError::Malformed { .. }));
}

#[test]
fn garbage_is_malformed() {
    let good = payload(APP, NOW, NOW + 60);
    let cases: Vec<String> = vec![
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "..".into(),
        "!!!.@@@.###".into(),
        // base64 with padding is not base64url-unpadded
        format!("{}=.{}.sig", b64(HS256.as_bytes()), b64(good.as_bytes())),
        // header not JSON, not an object
        forge(&key_bytes(), "not json", &good),
        forge(&key_bytes(), r#"["HS256"]"#, &good),
        // payload not JSON, missing a claim, wrong type, not an object (all MACed correctly)
        forge(&key_bytes(), HS256, "not json"),
        forge(
            &key_bytes(),
            HS256,
            r#"{"sub":"u1","email":"a","role":"user","iat":1,"exp":2,"jti":"j"}"#,
        ),
        forge(
            &key_bytes(),
            HS256,
            &good.replace(&format!("\"exp\":{}", NOW + 60), "\"exp\":\"soon\""),
        ),
        forge(&key_bytes(), HS256, "[1,2,3]"),
        // signature not base64url
        format!("{}.{}.***", b64(HS256.as_bytes()), b64(good.as_bytes())),
        "Bearer x.y.z".into(),
    ];
    for token in &cases {
        let err = verify(&key(), token, NOW, APP).expect_err(token);
        assert!(
            matches!(err, TokenError::Malformed { .. }),
            "{token}: {err:?}"
        );
        assert_eq!(err.code(), "token-invalid");
    }
}

#[test]
fn keys() {
    let a = generate_key().expect("random");
    let b = generate_key().expect("random");
    assert_ne!(a, b);
    let key = SigningKey::from_bytes(&a).expect("32 bytes");
    let token = issue(&key, &claims());
    assert!(verify(&key, &token, NOW, APP).is_ok());
    let err = SigningKey::from_bytes(b"short").expect_err("short");
    assert_eq!(err, AuthError::KeyTooShort { len: 5, min: 32 });
    assert!(SigningKey::from_bytes(&[0u8; 64]).is_ok());
    assert!(unix_now() > NOW);
}

// ---- one-time codes ---------------------------------------------------------------------

#[test]
fn otp_codes_are_six_digits_and_roughly_uniform() {
    let mut first_digit = [0u32; 10];
    for _ in 0..20_000 {
        let code = generate_otp().expect("random");
        assert_eq!(code.len(), 6, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        first_digit[usize::from(code.as_bytes()[0] - b'0')] += 1;
    }
    // Expected 2,000 each, standard deviation ~42: 1,700–2,300 fails only on a broken sampler.
    for (digit, n) in first_digit.iter().enumerate() {
        assert!((1_700..=2_300).contains(n), "digit {digit}: {n} of 20000");
    }
}

#[test]
fn otp_right_code() {
    let code = generate_otp().expect("random");
    let mut record = OtpRecord::new(&key(), "Alice@Example.com", &code, NOW);
    assert_eq!(record.expires_at, NOW + OTP_TTL_SECS);
    assert_eq!(record.attempts, 0);
    assert!(!record.code_hash.contains(&code));
    assert_eq!(record.code_hash.len(), 43);
    // Email compared case-insensitively; spaces around the code ignored.
    assert_eq!(
        record.check(&key(), "alice@example.com", &format!(" {code}\n"), NOW + 1),
        OtpOutcome::Ok
    );
    assert_eq!(record.attempts, 0);
}

#[test]
fn otp_wrong_codes_count_down_then_lock() {
    let mut record = OtpRecord::new(&key(), "a@example.com", "123456", NOW);
    for left in (0..OTP_MAX_ATTEMPTS).rev() {
        assert_eq!(
            record.check(&key(), "a@example.com", "654321", NOW + 1),
            OtpOutcome::Wrong { left }
        );
    }
    assert_eq!(record.attempts, OTP_MAX_ATTEMPTS);
    // Locked: the right code no longer works.
    assert_eq!(
        record.check(&key(), "a@example.com", "123456", NOW + 2),
        OtpOutcome::Locked
    );
    assert_eq!(record.attempts, OTP_MAX_ATTEMPTS);
}

#[test]
fn otp_malformed_codes_and_other_contexts_are_wrong() {
    let mut record = OtpRecord::new(&key(), "a@example.com", "012345", NOW);
    for (email, code) in [
        ("a@example.com", "12345"),   // leading zero dropped
        ("a@example.com", "0123456"), // too long
        ("a@example.com", "01234a"),
        ("a@example.com", ""),
        ("b@example.com", "012345"), // another user's code
    ] {
        assert!(
            matches!(
                record.check(&key(), email, code, NOW),
                OtpOutcome::Wrong { .. }
            ),
            "{email} {code}"
        );
    }
    assert_eq!(record.attempts, 5);

    let mut record = OtpRecord::new(&key(), "a@example.com", "012345", NOW);
    let other = SigningKey::from_bytes(&[9u8; 32]).expect("key");
    assert_eq!(
        record.check(&other, "a@example.com", "012345", NOW),
        OtpOutcome::Wrong { left: 4 }
    );
    assert_eq!(
        record.check(&key(), "a@example.com", "012345", NOW),
        OtpOutcome::Ok
    );
}

#[test]
fn otp_expiry() {
    let mut record = OtpRecord::new(&key(), "a@example.com", "123456", NOW);
    assert_eq!(
        record.check(&key(), "a@example.com", "123456", NOW + OTP_TTL_SECS),
        OtpOutcome::Expired
    );
    assert_eq!(record.attempts, 0, "expired checks count no attempt");
    assert_eq!(
        record.check(&key(), "a@example.com", "123456", NOW + OTP_TTL_SECS - 1),
        OtpOutcome::Ok
    );
    // Locked wins over expired.
    record.attempts = OTP_MAX_ATTEMPTS;
    assert_eq!(
        record.check(&key(), "a@example.com", "123456", NOW + OTP_TTL_SECS),
        OtpOutcome::Locked
    );
}

#[test]
fn reset_tokens() {
    let token = generate_reset_token().expect("random");
    assert_eq!(token.len(), 43);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_ne!(token, generate_reset_token().expect("random"));

    // SHA-256, base64url: sha256("abc") = ba7816bf…15ad.
    assert_eq!(
        hash_reset_token("abc"),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );

    let record = ResetRecord::new(&token, NOW);
    assert_eq!(record.token_hash, hash_reset_token(&token));
    assert!(!record.token_hash.contains(&token));
    assert_eq!(record.expires_at, NOW + RESET_TTL_SECS);
    assert_eq!(
        record.check(&token, NOW + RESET_TTL_SECS - 1),
        OtpOutcome::Ok
    );
    assert_eq!(
        record.check(&token, NOW + RESET_TTL_SECS),
        OtpOutcome::Expired
    );
    assert_eq!(
        record.check("another-token", NOW),
        OtpOutcome::Wrong { left: 0 }
    );
}

// ---- mail and roles ---------------------------------------------------------------------

#[test]
fn mail_builders() {
    let otp = Mail::otp("Task Board", "alice@example.com", "004217");
    assert_eq!(otp.to, "alice@example.com");
    assert_eq!(otp.subject, "Task Board: your verification code");
    assert!(otp.text.contains("004217"));
    assert!(otp.text.contains("10 minutes"));

    let reset = Mail::password_reset(
        "Task Board",
        "alice@example.com",
        "https://tasks.example.com/reset?token=abc",
    );
    assert_eq!(reset.subject, "Task Board: reset your password");
    assert!(
        reset
            .text
            .contains("https://tasks.example.com/reset?token=abc\n")
    );
    assert!(reset.text.contains("30 minutes"));

    let invite = Mail::invite(
        "Task Board",
        "bob@example.com",
        "admin",
        "https://tasks.example.com/login",
    );
    assert_eq!(invite.subject, "You are invited to Task Board");
    assert!(invite.text.contains("as admin"));

    // No header injection through the app name or the address.
    let evil = Mail::otp(
        "App\r\nBcc: everyone@example.com",
        "a@example.com\r\nBcc: x@y",
        "1",
    );
    assert!(!evil.subject.contains('\n') && !evil.subject.contains('\r'));
    assert!(!evil.to.contains('\n') && !evil.to.contains('\r'));
}

#[test]
fn memory_outbox() {
    let outbox = MemoryOutbox::new();
    let dynamic: &dyn Outbox = &outbox;
    dynamic
        .send(Mail::otp("A", "a@example.com", "111111"))
        .expect("queued");
    dynamic
        .send(Mail::otp("A", "b@example.com", "222222"))
        .expect("queued");
    let sent = outbox.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, "a@example.com");
    assert_eq!(outbox.take().len(), 2);
    assert!(outbox.sent().is_empty());
}

#[test]
fn registration_never_grants_admin() {
    assert_eq!(role_for_new_user(None), "user");
    assert_eq!(role_for_new_user(Some("admin")), "admin");
    assert_eq!(role_for_new_user(Some("user")), "user");
}

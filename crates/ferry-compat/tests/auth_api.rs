//! The `auth/*` routes through the router (`tower::ServiceExt::oneshot`), on SQLite and on a
//! real PostgreSQL, with ferry's own access tokens as the caller (`AppState::new` +
//! `token_caller`): register → token → `me`, login (wrong password and unknown email alike),
//! a migrated bcrypt user re-hashed to argon2id, the email-code flow, reset, change-password,
//! invitations, forged and expired tokens, and RLS applied to a real token.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use ferry_compat::base44::api::{AppState, AuthConfig, router};
use ferry_compat::base44::auth::mail::MemoryOutbox;
use ferry_compat::base44::auth::password::hash_password;
use ferry_compat::base44::auth::token::{Claims, SigningKey, issue};
use ferry_compat::base44::auth::unix_now;
use ferry_compat::base44::query::{Sql, SqlValue};
use ferry_compat::base44::record::Cell;
use ferry_compat::base44::store::Db;
use serde_json::{Value, json};

use common::{APP, entities};

/// alice's `auth.users.encrypted_password` in tests/fixtures/db/supabase.sql
/// (`password-alice`), and bob's (`password-bob`).
const ALICE_BCRYPT: &str = "$2a$10$5M1MPqIALSTcam27Qf7qEeBJKUzfslemU3Chl3.lS0Y/3t3UNoMBu";
const BOB_BCRYPT: &str = "$2a$10$sQ6JckWmqDmoplYasSHNUeKtcta1/jiGTRTz7tT4LwEny2KDkEJR6";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32]).expect("key")
}

struct Api {
    router: Router,
    outbox: Arc<MemoryOutbox>,
}

async fn api(url: &str, verify_email: bool) -> Api {
    let db = Db::open(url).await.expect("open");
    let applied = db.migrate(entities(&[])).await.expect("migrate");
    let outbox = Arc::new(MemoryOutbox::new());
    let mut config = AuthConfig::new(
        key(),
        "Demo App",
        "https://demo.example.com/",
        outbox.clone(),
    );
    config.verify_email = verify_email;
    let state = AppState::new(
        APP,
        db,
        applied.into_iter().map(|a| a.entity).collect(),
        Some(config),
    );
    Api {
        router: router(Arc::new(state)),
        outbox,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let uri = format!("/api/apps/{APP}/{path}");
        let body = body.map(|b| b.to_string().into_bytes());
        common::request(&self.router, method, &uri, token, body).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn ok(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, value) = self.post(path, token, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {value}");
        value
    }

    async fn err(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let (got, value) = self.post(path, token, body).await;
        assert_eq!(got, status, "{path}: {value}");
        assert_eq!(value["code"], code, "{path}: {value}");
        value
    }

    /// Signs in and returns the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let v = self
            .ok(
                "auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        check_user(&v["user"]);
        v["access_token"].as_str().expect("token").to_string()
    }

    async fn me(&self, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, "entities/User/me", token, None)
            .await
    }

    /// The only message sent since the last call, to `to`.
    fn mail_to(&self, to: &str) -> String {
        let mut sent = self.outbox.take();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let mail = sent.pop().expect("mail");
        assert_eq!(mail.to, to);
        assert!(mail.subject.contains("Demo App"), "{}", mail.subject);
        mail.text
    }
}

/// A `user` as answered: a public record, never the private columns.
fn check_user(user: &Value) {
    assert!(user["id"].is_string(), "{user}");
    assert!(user["email"].is_string(), "{user}");
    assert!(user.get("password_hash").is_none(), "{user}");
    assert!(user.get("email_verified").is_none(), "{user}");
}

fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string()
}

fn token_in(text: &str) -> String {
    let start = text
        .find("https://demo.example.com/reset-password?token=")
        .expect("link")
        + "https://demo.example.com/reset-password?token=".len();
    text[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_string()
}

/// A user row written straight into the table, as a migration from the old app would.
async fn insert_user(db: &Db, id: &str, email: &str, role: &str, hash: &str) {
    let p = |n: usize, ty: &str| match db.dialect() {
        ferry_compat::base44::model::Dialect::Postgres => format!("${n}::{ty}"),
        ferry_compat::base44::model::Dialect::Sqlite => format!("?{n}"),
    };
    let sql = Sql {
        text: format!(
            "INSERT INTO \"user\" (\"id\", \"email\", \"role\", \"password_hash\") VALUES ({}, {}, {}, {})",
            p(1, "text"),
            p(2, "text"),
            p(3, "text"),
            p(4, "text")
        ),
        params: [id, email, role, hash]
            .iter()
            .map(|s| SqlValue::Text((*s).to_string()))
            .collect(),
    };
    assert_eq!(db.execute(&sql).await.expect("insert user"), 1);
}

async fn stored_hash(db: &Db, email: &str) -> String {
    let sql = Sql {
        text: format!(
            "SELECT \"password_hash\" FROM \"user\" WHERE \"email\" = {}",
            match db.dialect() {
                ferry_compat::base44::model::Dialect::Postgres => "$1::text",
                ferry_compat::base44::model::Dialect::Sqlite => "?1",
            }
        ),
        params: vec![SqlValue::Text(email.into())],
    };
    match db
        .query(&sql, 1)
        .await
        .expect("select")
        .first()
        .map(|r| &r[0])
    {
        Some(Cell::Text(h)) => h.clone(),
        other => panic!("no hash: {other:?}"),
    }
}

async fn scenario(url: &str) {
    let api = api(url, false).await;
    // A second connection for what a migration would write directly.
    let direct = Db::open(url).await.expect("open direct");

    // ---- register → token → me ------------------------------------------------------------
    let v = api
        .ok(
            "auth/register",
            None,
            json!({"email": "  Carol@Example.com ", "password": "carol-password-1",
                   "full_name": "Carol", "role": "admin"}),
        )
        .await;
    check_user(&v["user"]);
    assert_eq!(v["user"]["email"], "carol@example.com");
    assert_eq!(v["user"]["full_name"], "Carol");
    assert_eq!(v["user"]["role"], "user", "registering never yields admin");
    let carol = v["access_token"].as_str().expect("token").to_string();
    let carol_id = v["user"]["id"].as_str().expect("id").to_string();
    let (status, me) = api.me(Some(&carol)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], carol_id.as_str());
    check_user(&me);
    let (status, me) = api.me(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{me}");

    api.err(
        "auth/register",
        None,
        json!({"email": "CAROL@example.com", "password": "another-password"}),
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    api.err(
        "auth/register",
        None,
        json!({"email": "dan@example.com", "password": "short"}),
        StatusCode::BAD_REQUEST,
        "weak-password",
    )
    .await;
    api.err(
        "auth/register",
        None,
        json!({"email": "not an email", "password": "long-enough-1"}),
        StatusCode::BAD_REQUEST,
        "bad-email",
    )
    .await;

    // ---- updateMe: only non-privileged fields --------------------------------------------
    let (status, v) = api
        .call(
            Method::PUT,
            "entities/User/me",
            Some(&carol),
            Some(json!({"full_name": "Carol C", "role": "admin", "email": "x@y.z", "tenant_id": "t9", "avatar_url": "https://a.example/c.png"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["full_name"], "Carol C");
    assert_eq!(v["avatar_url"], "https://a.example/c.png");
    // `tenant_id` is read by the fixtures' rules (`{{user.tenant_id}}`): not the user's to move.
    assert_eq!(v["tenant_id"], Value::Null);
    assert_eq!(v["role"], "user");
    assert_eq!(v["email"], "carol@example.com");
    let (status, _) = api
        .call(
            Method::PUT,
            "entities/User/me",
            None,
            Some(json!({"full_name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // ---- login ------------------------------------------------------------------------------
    let wrong = api
        .err(
            "auth/login",
            None,
            json!({"email": "carol@example.com", "password": "wrong-password"}),
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
        )
        .await;
    let unknown = api
        .err(
            "auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "wrong-password"}),
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
        )
        .await;
    assert_eq!(wrong, unknown, "the same answer for both");
    let carol = api.login("CAROL@example.com", "carol-password-1").await;

    // ---- migrated bcrypt users: they sign in, and the hash becomes argon2id ----------------
    insert_user(
        &direct,
        "alice01",
        "alice@example.com",
        "user",
        ALICE_BCRYPT,
    )
    .await;
    insert_user(&direct, "bob01", "bob@example.com", "user", BOB_BCRYPT).await;
    api.err(
        "auth/login",
        None,
        json!({"email": "alice@example.com", "password": "password-bob"}),
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        stored_hash(&direct, "alice@example.com").await,
        ALICE_BCRYPT
    );
    let alice = api.login("alice@example.com", "password-alice").await;
    let rehashed = stored_hash(&direct, "alice@example.com").await;
    assert!(
        rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{rehashed}"
    );
    let alice = {
        // The new hash verifies too, and is kept.
        let again = api.login("alice@example.com", "password-alice").await;
        assert_eq!(stored_hash(&direct, "alice@example.com").await, rehashed);
        assert_ne!(again, alice);
        again
    };
    let bob = api.login("bob@example.com", "password-bob").await;

    // ---- RLS with real tokens: alice cannot read bob's Task --------------------------------
    let (status, task) = api
        .call(
            Method::POST,
            "entities/Task",
            Some(&bob),
            Some(json!({"title": "bob's"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["created_by"], "bob@example.com");
    assert_eq!(task["created_by_id"], "bob01");
    let bob_task = task["id"].as_str().expect("id").to_string();
    let (status, task) = api
        .call(
            Method::POST,
            "entities/Task",
            Some(&alice),
            Some(json!({"title": "alice's"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let (status, list) = api
        .call(Method::GET, "entities/Task", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let titles: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(titles, ["alice's"]);
    let (status, v) = api
        .call(
            Method::GET,
            &format!("entities/Task/{bob_task}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = api
        .call(
            Method::PUT,
            &format!("entities/Task/{bob_task}"),
            Some(&alice),
            Some(json!({"title": "mine now"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = api
        .call(
            Method::GET,
            &format!("entities/Task/{bob_task}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Anonymous callers see no task.
    let (status, list) = api.call(Method::GET, "entities/Task", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));

    // ---- forged, expired, other-app and garbage tokens -------------------------------------
    let now = unix_now();
    let forged_key = SigningKey::from_bytes(&[8u8; 32]).expect("key");
    let claims = Claims::new("alice01", "alice@example.com", "admin", APP, now, 3600).expect("c");
    let forged = issue(&forged_key, &claims);
    let mut old =
        Claims::new("alice01", "alice@example.com", "user", APP, now - 100, 0).expect("claims");
    old.exp = now - 10;
    let expired = issue(&key(), &old);
    let other_app = issue(
        &key(),
        &Claims::new("alice01", "alice@example.com", "user", "app2", now, 3600).expect("c"),
    );
    for (token, code) in [
        (forged.as_str(), "token-invalid"),
        (expired.as_str(), "token-expired"),
        (other_app.as_str(), "token-invalid"),
        ("garbage", "token-invalid"),
    ] {
        let (status, v) = api.me(Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(v["code"], code, "{v}");
        let (status, v) = api
            .call(Method::GET, "entities/Task", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    }
    // A stale token does not stop a new sign-in.
    let (status, v) = api
        .post(
            "auth/login",
            Some(&expired),
            json!({"email": "alice@example.com", "password": "password-alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // ---- reset ------------------------------------------------------------------------------
    let quiet = api
        .ok(
            "auth/reset-password-request",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert!(api.outbox.take().is_empty(), "no mail for an unknown email");
    let sent = api
        .ok(
            "auth/reset-password-request",
            None,
            json!({"email": "Alice@example.com"}),
        )
        .await;
    assert_eq!(quiet, sent, "the same answer either way");
    let reset = token_in(&api.mail_to("alice@example.com"));
    api.err(
        "auth/reset-password",
        None,
        json!({"reset_token": "not-the-token", "new_password": "alice-new-password"}),
        StatusCode::BAD_REQUEST,
        "invalid-reset-token",
    )
    .await;
    api.err(
        "auth/reset-password",
        None,
        json!({"reset_token": reset, "new_password": "short"}),
        StatusCode::BAD_REQUEST,
        "weak-password",
    )
    .await;
    api.ok(
        "auth/reset-password",
        None,
        json!({"reset_token": reset, "new_password": "alice-new-password"}),
    )
    .await;
    api.err(
        "auth/reset-password",
        None,
        json!({"reset_token": reset, "new_password": "alice-other-password"}),
        StatusCode::BAD_REQUEST,
        "invalid-reset-token",
    )
    .await;
    api.err(
        "auth/login",
        None,
        json!({"email": "alice@example.com", "password": "password-alice"}),
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    let alice = api.login("alice@example.com", "alice-new-password").await;
    // Only the latest reset link works.
    api.ok(
        "auth/reset-password-request",
        None,
        json!({"email": "bob@example.com"}),
    )
    .await;
    let first = token_in(&api.mail_to("bob@example.com"));
    api.ok(
        "auth/reset-password-request",
        None,
        json!({"email": "bob@example.com"}),
    )
    .await;
    let second = token_in(&api.mail_to("bob@example.com"));
    api.err(
        "auth/reset-password",
        None,
        json!({"reset_token": first, "new_password": "bob-new-password"}),
        StatusCode::BAD_REQUEST,
        "invalid-reset-token",
    )
    .await;
    api.ok(
        "auth/reset-password",
        None,
        json!({"reset_token": second, "new_password": "bob-new-password"}),
    )
    .await;

    // ---- change-password --------------------------------------------------------------------
    let change = |user_id: &str, current: &str, new: &str| json!({"user_id": user_id, "current_password": current, "new_password": new});
    api.err(
        "auth/change-password",
        None,
        change(&carol_id, "carol-password-1", "carol-password-2"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    api.err(
        "auth/change-password",
        Some(&carol),
        change(&carol_id, "wrong-password", "carol-password-2"),
        StatusCode::BAD_REQUEST,
        "invalid-credentials",
    )
    .await;
    api.err(
        "auth/change-password",
        Some(&carol),
        change("alice01", "alice-new-password", "carol-owns-alice"),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        "auth/change-password",
        Some(&carol),
        change(&carol_id, "carol-password-1", "short"),
        StatusCode::BAD_REQUEST,
        "weak-password",
    )
    .await;
    api.ok(
        "auth/change-password",
        Some(&carol),
        change(&carol_id, "carol-password-1", "carol-password-2"),
    )
    .await;
    let carol = api.login("carol@example.com", "carol-password-2").await;

    // ---- invitations (admins only) --------------------------------------------------------
    let root_hash = hash_password("root-password-1").expect("hash");
    insert_user(&direct, "root01", "root@example.com", "admin", &root_hash).await;
    let root = api.login("root@example.com", "root-password-1").await;
    let invite = json!({"user_email": "Dave@Example.com", "role": "admin"});
    api.err(
        "users/invite-user",
        None,
        invite.clone(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    api.err(
        "users/invite-user",
        Some(&carol),
        invite.clone(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        "users/invite-user",
        Some(&root),
        json!({"user_email": "dave@example.com", "role": "owner"}),
        StatusCode::BAD_REQUEST,
        "bad-role",
    )
    .await;
    assert!(api.outbox.take().is_empty());
    let v = api
        .ok("users/invite-user", Some(&root), invite.clone())
        .await;
    check_user(&v["user"]);
    assert_eq!(v["user"]["email"], "dave@example.com");
    assert_eq!(v["user"]["role"], "admin");
    assert_eq!(v["user"]["created_by"], "root@example.com");
    let link = token_in(&api.mail_to("dave@example.com"));
    api.err(
        "users/invite-user",
        Some(&root),
        invite,
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    // Invited, without a password: no sign-in (the distinct answer the sign-in page turns
    // into "set your password"), and registering the email is refused.
    api.err(
        "auth/login",
        None,
        json!({"email": "dave@example.com", "password": "anything-at-all"}),
        StatusCode::FORBIDDEN,
        "password-not-set",
    )
    .await;
    api.err(
        "auth/register",
        None,
        json!({"email": "dave@example.com", "password": "dave-password-1"}),
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    api.ok(
        "auth/reset-password",
        None,
        json!({"reset_token": link, "new_password": "dave-password-1"}),
    )
    .await;
    let v = api
        .ok(
            "auth/login",
            None,
            json!({"email": "dave@example.com", "password": "dave-password-1"}),
        )
        .await;
    assert_eq!(v["user"]["role"], "admin");
    // The users module's path works too.
    let v = api
        .ok(
            "runtime/users/invite-user",
            Some(&root),
            json!({"user_email": "erin@example.com", "role": "user"}),
        )
        .await;
    assert_eq!(v["user"]["role"], "user");
    api.mail_to("erin@example.com");
    // An admin may set another user's password without the current one.
    api.ok(
        "auth/change-password",
        Some(&root),
        json!({"user_id": "bob01", "new_password": "set-by-admin-1"}),
    )
    .await;
    api.login("bob@example.com", "set-by-admin-1").await;

    // A role change applies at once, whatever the token says.
    let (status, v) = api
        .call(
            Method::PUT,
            &format!("entities/User/{carol_id}"),
            Some(&root),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    api.ok(
        "users/invite-user",
        Some(&carol),
        json!({"user_email": "frank@example.com", "role": "user"}),
    )
    .await;
    api.mail_to("frank@example.com");
    let _ = alice;
}

/// `verify_email` on: register mails a code, login waits for it, verify-otp signs in.
async fn otp_scenario(url: &str) {
    let api = api(url, true).await;
    let v = api
        .ok(
            "auth/register",
            None,
            json!({"email": "gina@example.com", "password": "gina-password-1"}),
        )
        .await;
    assert!(v.get("access_token").is_none(), "{v}");
    assert!(v["message"].is_string(), "{v}");
    let first = code_in(&api.mail_to("gina@example.com"));
    api.err(
        "auth/login",
        None,
        json!({"email": "gina@example.com", "password": "gina-password-1"}),
        StatusCode::FORBIDDEN,
        "email-not-verified",
    )
    .await;
    // A wrong password is still the plain 401 (nothing about verification).
    api.err(
        "auth/login",
        None,
        json!({"email": "gina@example.com", "password": "wrong-password"}),
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    let wrong = if first == "000000" {
        "000001"
    } else {
        "000000"
    };
    let v = api
        .err(
            "auth/verify-otp",
            None,
            json!({"email": "gina@example.com", "otp_code": wrong}),
            StatusCode::BAD_REQUEST,
            "invalid-otp",
        )
        .await;
    assert_eq!(v["detail"]["attempts_left"], 4);
    // resend-otp replaces the code; it answers the same for unknown emails, mailing nothing.
    let known = api
        .ok(
            "auth/resend-otp",
            None,
            json!({"email": "gina@example.com"}),
        )
        .await;
    let code = code_in(&api.mail_to("gina@example.com"));
    let unknown = api
        .ok(
            "auth/resend-otp",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known, unknown);
    assert!(api.outbox.take().is_empty());
    if first != code {
        api.err(
            "auth/verify-otp",
            None,
            json!({"email": "gina@example.com", "otp_code": first}),
            StatusCode::BAD_REQUEST,
            "invalid-otp",
        )
        .await;
    }
    let v = api
        .ok(
            "auth/verify-otp",
            None,
            json!({"email": "Gina@example.com", "otp_code": code}),
        )
        .await;
    check_user(&v["user"]);
    let token = v["access_token"].as_str().expect("token").to_string();
    let (status, me) = api.me(Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "gina@example.com");
    api.login("gina@example.com", "gina-password-1").await;
    // Single use; a verified user gets no new code.
    api.err(
        "auth/verify-otp",
        None,
        json!({"email": "gina@example.com", "otp_code": code}),
        StatusCode::BAD_REQUEST,
        "invalid-otp",
    )
    .await;
    api.ok(
        "auth/resend-otp",
        None,
        json!({"email": "gina@example.com"}),
    )
    .await;
    assert!(api.outbox.take().is_empty());

    // Five wrong codes lock the record: the right one is refused after that.
    api.ok(
        "auth/register",
        None,
        json!({"email": "hank@example.com", "password": "hank-password-1"}),
    )
    .await;
    let code = code_in(&api.mail_to("hank@example.com"));
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        api.err(
            "auth/verify-otp",
            None,
            json!({"email": "hank@example.com", "otp_code": wrong}),
            StatusCode::BAD_REQUEST,
            "invalid-otp",
        )
        .await;
    }
    api.err(
        "auth/verify-otp",
        None,
        json!({"email": "hank@example.com", "otp_code": code}),
        StatusCode::TOO_MANY_REQUESTS,
        "otp-locked",
    )
    .await;
    // A new code unlocks it.
    api.ok(
        "auth/resend-otp",
        None,
        json!({"email": "hank@example.com"}),
    )
    .await;
    let code = code_in(&api.mail_to("hank@example.com"));
    api.ok(
        "auth/verify-otp",
        None,
        json!({"email": "hank@example.com", "otp_code": code}),
    )
    .await;
}

#[test]
fn auth_on_sqlite() {
    common::on_sqlite(scenario);
    common::on_sqlite(otp_scenario);
}

#[test]
fn auth_on_postgres() {
    common::on_postgres("auth_on_postgres", async |url: &str| {
        scenario(url).await;
        otp_scenario(url).await;
    });
}

#[test]
fn auth_disabled_without_config() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let db = Db::open("sqlite::memory:").await.expect("db");
        let applied = db.migrate(entities(&[])).await.expect("migrate");
        let state = AppState::new(
            APP,
            db,
            applied.into_iter().map(|a| a.entity).collect(),
            None,
        );
        let api = Api {
            router: router(Arc::new(state)),
            outbox: Arc::new(MemoryOutbox::new()),
        };
        api.err(
            "auth/login",
            None,
            json!({"email": "a@example.com", "password": "whatever-1"}),
            StatusCode::NOT_IMPLEMENTED,
            "auth-disabled",
        )
        .await;
        let (status, v) = api
            .call(Method::GET, "entities/Task", Some("x"), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        let (status, _) = api.call(Method::GET, "entities/Task", None, None).await;
        assert_eq!(status, StatusCode::OK);
    });
}

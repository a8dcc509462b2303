//! Users of a Base44 app moved to ferry, through the real binary and a real server:
//!
//! - a migrated user (a `User` row without a password, inserted with SQL, with a known id and
//!   a custom field) is refused with `password-not-set`, gets a link from
//!   `ferry base44 invite --all` (outbox), sets a password through the page's API, signs in
//!   and is the same user (id, email, name, role, custom field); a rerun skips them;
//! - OpenID Connect sign-in against a provider written here (discovery, authorize, token with
//!   PKCE and client authentication, JWKS, RS256 ID tokens signed with a key `openssl` makes):
//!   the migrated user signs in with their id; a wrong nonce, audience, signature, an expired
//!   token, an unverified email and a state mismatch are refused with an error page;
//! - SMTP against aiosmtpd (PyPI, in a throwaway virtualenv): an invitation and a
//!   `Core.SendEmail` arrive with their To, Subject and link; a closed port marks the message
//!   failed in the outbox with the cause.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::{Env, wait_for};
use serde_json::{Value, json};

const APP: &str = "users";
const APP_ID: &str = "67b2f0c41d9e3a0012c4d8e2";
const MIGRATED_ID: &str = "64f0a1b2c3d4e5f601234567";
const MIGRATED_EMAIL: &str = "ada@example.com";

/// A Base44 app whose `User` has a custom field; `version` changes its content.
fn write_app(dir: &Path, version: u32) {
    std::fs::create_dir_all(dir.join("src/api")).expect("mkdir");
    std::fs::create_dir_all(dir.join("base44/entities")).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        format!("version = 1\nname = \"{APP}\"\nbuilder = \"base44\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\nspa = true\n"),
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist\nmkdir -p dist\ncp index.html dist/\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("index.html"),
        format!("<!doctype html><title>users v{version}</title>"),
    )
    .expect("write");
    std::fs::write(
        dir.join("src/api/base44Client.js"),
        format!(
            "import {{ createClient }} from '@base44/sdk';\nexport const base44 = createClient({{ appId: \"{APP_ID}\", requiresAuth: true }});\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("base44/entities/User.jsonc"),
        "{\"name\": \"User\", \"type\": \"object\", \"properties\": {\"department\": {\"type\": \"string\"}}}\n",
    )
    .expect("write");
}

// ---- plain HTTP -----------------------------------------------------------------------------

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request to `addr` with `Host: host`.
fn http(
    addr: &str,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    Answer {
        status,
        body: if chunked {
            common::dechunk(body)
        } else {
            body.to_string()
        },
        headers,
    }
}

/// The app as a browser sees it: the edge address and the `Host` with the port (the origin of
/// mailed links and of the OpenID Connect redirect URI).
struct Site {
    edge: String,
    host: String,
}

impl Site {
    fn of(server: &common::Server) -> Site {
        let port = server.edge.rsplit_once(':').expect("port").1;
        Site {
            edge: server.edge.clone(),
            host: format!("{APP}.localhost:{port}"),
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        http(&self.edge, &self.host, "GET", path, headers, None)
    }

    fn post(&self, path: &str, body: &Value, bearer: Option<&str>) -> Answer {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        http(
            &self.edge,
            &self.host,
            "POST",
            path,
            &headers,
            Some(&body.to_string()),
        )
    }

    /// The path of a link on this origin (`http://users.localhost:PORT/x` → `/x`).
    fn path_of(&self, link: &str) -> String {
        let prefix = format!("http://{}", self.host);
        link.strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{link} is not on {prefix}"))
            .to_string()
    }
}

fn api(path: &str) -> String {
    format!("/api/apps/{APP_ID}/{path}")
}

/// Deploys `version`, panicking with the output on failure.
fn deploy(env: &Env, version: u32) {
    write_app(&env.app, version);
    env.deploy().expect("deploy");
}

/// Inserts the migrated user straight into the app's SQLite database: no password, a known
/// id and a custom field (what a pull from Base44 leaves).
fn insert_migrated_user(env: &Env) {
    let db = rusqlite::Connection::open(env.home.join(format!("data/{APP}/base44.sqlite3")))
        .expect("open the app's database");
    let table: String = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = 'user'",
            [],
            |r| r.get(0),
        )
        .expect("the User table");
    db.execute(
        &format!(
            "INSERT INTO \"{table}\" (id, email, full_name, role, department) VALUES (?1, ?2, 'Ada Lovelace', 'admin', 'Engines')"
        ),
        rusqlite::params![MIGRATED_ID, MIGRATED_EMAIL],
    )
    .expect("insert the migrated user");
}

/// The messages of `ferry outbox --json`.
fn outbox(env: &Env) -> Vec<Value> {
    let (code, doc, err) = env.ferry(&["outbox", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    doc["messages"].as_array().cloned().unwrap_or_default()
}

/// The set-password link in a message's text.
fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/_ferry/base44/reset-password?token="))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string()
}

/// Checks `me` is the migrated user, unchanged.
fn assert_is_migrated_user(site: &Site, token: &str) {
    let auth = format!("Bearer {token}");
    let me = site.get(&api("entities/User/me"), &[("authorization", &auth)]);
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["id"], MIGRATED_ID, "{me}");
    assert_eq!(me["email"], MIGRATED_EMAIL, "{me}");
    assert_eq!(me["full_name"], "Ada Lovelace", "{me}");
    assert_eq!(me["role"], "admin", "{me}");
    assert_eq!(me["department"], "Engines", "{me}");
}

#[test]
fn a_migrated_user_sets_a_password_from_the_invitation_and_keeps_their_record() {
    let env = Env::new();
    let server = env.serve();
    let site = Site::of(&server);
    deploy(&env, 1);
    insert_migrated_user(&env);

    // Before the invitation: the distinct answer the sign-in page turns into "set your
    // password"; a wrong email stays the generic one.
    let refused = site.post(
        &api("auth/login"),
        &json!({"email": "Ada@Example.com", "password": "anything at all"}),
        None,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["code"], "password-not-set");
    let unknown = site.post(
        &api("auth/login"),
        &json!({"email": "nobody@example.com", "password": "anything at all"}),
        None,
    );
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert_eq!(unknown.json()["code"], "invalid-credentials");
    let page = site.get("/_ferry/base44/login", &[]);
    assert!(
        page.body
            .contains("This account was moved to a new server: set your password")
    );
    assert!(page.body.contains("<label for=\"login-email\">"));
    let script = site.get("/_ferry/base44/assets/auth.js", &[]).body;
    assert!(script.contains("password-not-set") && script.contains("reset-password-request"));

    // A user with a password is not invited by --all.
    let reg = site.post(
        &api("auth/register"),
        &json!({"email": "bob@example.com", "password": "correct horse 1"}),
        None,
    );
    assert_eq!(reg.status, 200, "{}", reg.body);

    // A dry run sends nothing.
    let (code, doc, err) = env.ferry(&[
        "base44",
        "invite",
        "--all",
        "--dry-run",
        "--json",
        "--app",
        APP,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        doc["users"],
        json!([{"email": MIGRATED_EMAIL, "id": MIGRATED_ID, "status": "would-send", "reason": "dry run"}])
    );
    assert!(outbox(&env).is_empty());

    let (code, doc, err) = env.ferry(&["base44", "invite", "--all", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["users"][0]["status"], "sent", "{doc}");
    assert_eq!(doc["users"].as_array().map(Vec::len), Some(1), "{doc}");
    // A rerun skips the pending invitation and says why; --resend sends a new link.
    let (code, out, err) = env.ferry(&["base44", "invite", "--all", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    let out = out.as_str().unwrap_or_default().to_string();
    assert!(out.contains("skipped") && out.contains("--resend"), "{out}");
    assert_eq!(outbox(&env).len(), 1);
    let (code, doc, err) = env.ferry(&[
        "base44",
        "invite",
        "--resend",
        "--json",
        "--app",
        APP,
        MIGRATED_EMAIL,
        "bob@example.com",
        "ghost@example.com",
    ]);
    assert_ne!(code, 0, "a failed user fails the command: {err}");
    let statuses: Vec<&str> = doc["users"]
        .as_array()
        .map(|u| u.iter().filter_map(|u| u["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses, ["sent", "skipped", "failed"], "{doc}");

    // The newest link works; the first was replaced.
    let mail = outbox(&env);
    assert_eq!(mail.len(), 2);
    let (first, last) = (&mail[0], &mail[1]);
    assert_eq!(last["to"], MIGRATED_EMAIL);
    assert_eq!(last["subject"], format!("{APP}: set your password"));
    let text = last["text"].as_str().expect("text");
    assert!(text.contains("moved to a new server"), "{text}");
    let link = link_in(text);
    let old_link = link_in(first["text"].as_str().expect("text"));
    assert_ne!(link, old_link);
    let path = site.path_of(&link);
    let page = site.get(&path, &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"reset-form\""), "{}", page.body);
    let token = link.split("token=").nth(1).expect("token");
    let old_token = old_link.split("token=").nth(1).expect("token");

    let reset = |token: &str, password: &str| {
        site.post(
            &api("auth/reset-password"),
            &json!({"reset_token": token, "new_password": password}),
            None,
        )
    };
    // What the page posts (auth.js): the old token is dead, a weak password refused without
    // spending the link, then the password is set and the answer signs the user in.
    let old = reset(old_token, "a new password 1");
    assert_eq!(old.status, 400, "{}", old.body);
    let weak = reset(token, "short");
    assert_eq!(weak.json()["code"], "weak-password", "{}", weak.body);
    let set = reset(token, "a new password 1");
    assert_eq!(set.status, 200, "{}", set.body);
    let set = set.json();
    assert_eq!(set["user"]["id"], MIGRATED_ID);
    assert_is_migrated_user(&site, set["access_token"].as_str().expect("token"));
    let again = reset(token, "another password 2");
    assert_eq!(again.status, 400, "a link is spent once: {}", again.body);

    let login = site.post(
        &api("auth/login"),
        &json!({"email": MIGRATED_EMAIL, "password": "a new password 1"}),
        None,
    );
    assert_eq!(login.status, 200, "{}", login.body);
    assert_is_migrated_user(&site, login.json()["access_token"].as_str().expect("token"));

    // Now that the user has a password, --all has nobody left.
    let (code, doc, err) = env.ferry(&["base44", "invite", "--all", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["users"], json!([]));

    // The page's "email me a link" button posts reset-password-request: limited to five
    // links per user per 15 minutes, the same answer for unknown emails and past the limit.
    let before = outbox(&env).len();
    let mut answers = Vec::new();
    for email in ["bob@example.com"; 7]
        .into_iter()
        .chain(["nobody@example.com"])
    {
        let r = site.post(
            &api("auth/reset-password-request"),
            &json!({"email": email}),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        answers.push(r.body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(outbox(&env).len(), before + 5);

    // Role changes, successful or not.
    let (code, doc, err) =
        env.ferry(&["base44", "admin", "bob@example.com", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["user"]["role"], "admin", "{doc}");
    let (code, _, _) = env.ferry(&["base44", "admin", "ghost@example.com", "--app", APP]);
    assert_ne!(code, 0, "no such user");
    assert_audited_users(&env, &[old_link, link]);
}

/// Every set-role and invitation call of the test above has its audit entry, with the
/// caller, the outcome and a detail naming the user and role, or counting the invitations —
/// never a link or its token; and the chain still verifies.
fn assert_audited_users(env: &Env, links: &[String]) {
    let (code, doc, err) = env.ferry(&["audit", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    let entries = doc["entries"].as_array().cloned().unwrap_or_default();
    let of = |action: &str| -> Vec<(String, String)> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                assert_eq!(e["actor"], "local", "{e}");
                assert_eq!(e["source"], "unix", "{e}");
                assert_eq!(e["target"], format!("app/{APP}"), "{e}");
                (
                    e["outcome"].as_str().unwrap_or_default().to_string(),
                    e["detail"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pair = |o: &str, d: &str| (o.to_string(), d.to_string());
    assert_eq!(
        of("set-role"),
        [
            pair("ok", "user bob@example.com now admin"),
            pair("failed", "user-not-found"),
        ]
    );
    assert_eq!(
        of("invite-users"),
        [
            pair(
                "unchanged",
                "dry run: sent 0, would send 1, skipped 0, failed 0"
            ),
            pair("ok", "sent 1, would send 0, skipped 0, failed 0"),
            pair("unchanged", "sent 0, would send 0, skipped 1, failed 0"),
            pair("ok", "sent 1, would send 0, skipped 1, failed 1"),
            pair("unchanged", "sent 0, would send 0, skipped 0, failed 0"),
        ]
    );
    let text = doc.to_string();
    for link in links {
        let token = link.split("token=").nth(1).expect("token");
        assert!(!text.contains(token), "a link's token in the audit log");
    }
    let (code, doc, err) = env.ferry(&["audit", "--verify", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["ok"], true, "{doc}");
}

// ---- a small OpenID Connect provider -------------------------------------------------------

/// How the provider's next ID token is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Good,
    WrongNonce,
    WrongAudience,
    Expired,
    BadSignature,
    Unverified,
}

const CLIENT_ID: &str = "ferry-test-client.apps.example";
const CLIENT_SECRET: &str = "s3cret/with:odd+chars";

/// A pending authorization: its nonce and PKCE challenge.
struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Provider {
    addr: String,
    token: Arc<Mutex<Token>>,
    email: Arc<Mutex<String>>,
    /// What the provider refused (client authentication, PKCE), for the test to show.
    refusals: Arc<Mutex<Vec<String>>>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key pair made by `openssl` (PKCS#8 DER).
fn rsa_key(dir: &Path, name: &str) -> ring::rsa::KeyPair {
    let pem = dir.join(format!("{name}.pem"));
    let der = dir.join(format!("{name}.der"));
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("openssl")
            .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(&der)
            .status()
            .is_ok_and(|s| s.success());
    assert!(ok, "openssl must make an RSA key (apt-get install openssl)");
    ring::rsa::KeyPair::from_pkcs8(&std::fs::read(&der).expect("der")).expect("pkcs8 key")
}

fn sign(key: &ring::rsa::KeyPair, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", b64(&sig))
}

fn query_map(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

impl Provider {
    /// Starts the provider on a loopback port, on its own thread.
    fn start(dir: &Path) -> Provider {
        let key = Arc::new(rsa_key(dir, "provider"));
        let other = Arc::new(rsa_key(dir, "other"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let issuer = format!("http://{addr}");
        let token = Arc::new(Mutex::new(Token::Good));
        let email = Arc::new(Mutex::new(MIGRATED_EMAIL.to_string()));
        let refusals = Arc::new(Mutex::new(Vec::new()));
        let grants: Arc<Mutex<HashMap<String, Grant>>> = Arc::default();
        let (t, e, r) = (token.clone(), email.clone(), refusals.clone());
        std::thread::spawn(move || {
            let mut next = 0u32;
            for stream in listener.incoming().flatten() {
                next += 1;
                let mut stream = stream;
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = HashMap::new();
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok() && h.trim_end() != "" {
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    h.clear();
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let json_headers = [("content-type", "application/json".to_string())];
                match path {
                    "/.well-known/openid-configuration" => respond(
                        &mut stream,
                        "200 OK",
                        &json_headers,
                        &json!({
                            "issuer": issuer,
                            "authorization_endpoint": format!("{issuer}/authorize"),
                            "token_endpoint": format!("{issuer}/token"),
                            "jwks_uri": format!("{issuer}/jwks"),
                            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        })
                        .to_string(),
                    ),
                    "/jwks" => {
                        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
                        respond(
                            &mut stream,
                            "200 OK",
                            &json_headers,
                            &json!({"keys": [{
                                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                                "n": b64(public.n.strip_prefix(&[0]).unwrap_or(&public.n)),
                                "e": b64(&public.e),
                            }]})
                            .to_string(),
                        );
                    }
                    // Signs the fixed test user in at once.
                    "/authorize" => {
                        let q = query_map(query);
                        let code = format!("code-{next}");
                        let ok = q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                            && q.get("response_type").map(String::as_str) == Some("code")
                            && q.get("code_challenge_method").map(String::as_str) == Some("S256")
                            && q.get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid"));
                        if !ok {
                            r.lock().expect("lock").push(format!("authorize: {query}"));
                        }
                        let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
                        grants.lock().expect("lock").insert(
                            code.clone(),
                            Grant {
                                nonce: q.get("nonce").cloned().unwrap_or_default(),
                                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
                                redirect_uri: redirect_uri.clone(),
                            },
                        );
                        let state = q.get("state").cloned().unwrap_or_default();
                        respond(
                            &mut stream,
                            "302 Found",
                            &[("location", format!("{redirect_uri}?code={code}&state={state}"))],
                            "",
                        );
                    }
                    "/token" => {
                        let form = query_map(&body);
                        // RFC 6749 2.3.1: each part form-encoded, then base64.
                        let client = headers
                            .get("authorization")
                            .and_then(|a| a.strip_prefix("Basic "))
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .and_then(|pair| {
                                let (id, secret) = pair.split_once(':')?;
                                Some((decode(id), decode(secret)))
                            });
                        let authenticated = client
                            == Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string()));
                        let grant = grants
                            .lock()
                            .expect("lock")
                            .remove(form.get("code").map(String::as_str).unwrap_or(""));
                        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                        let refusal = match &grant {
                            None => Some("unknown or reused code"),
                            Some(_) if !authenticated => Some("client authentication failed"),
                            Some(g) if b64(&sha256(verifier.as_bytes())) != g.challenge => {
                                Some("PKCE verifier mismatch")
                            }
                            Some(g) if form.get("redirect_uri") != Some(&g.redirect_uri) => {
                                Some("redirect_uri mismatch")
                            }
                            _ => None,
                        };
                        if let Some(why) = refusal {
                            r.lock().expect("lock").push(format!("token: {why}"));
                            respond(
                                &mut stream,
                                "400 Bad Request",
                                &json_headers,
                                &json!({"error": "invalid_grant", "error_description": why}).to_string(),
                            );
                            continue;
                        }
                        let grant = grant.expect("grant");
                        let mode = *t.lock().expect("lock");
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .expect("clock")
                            .as_secs();
                        let claims = json!({
                            "iss": issuer,
                            "sub": "110248495921238986420",
                            "aud": if mode == Token::WrongAudience { "someone-else" } else { CLIENT_ID },
                            "azp": CLIENT_ID,
                            "iat": if mode == Token::Expired { now - 7200 } else { now },
                            "exp": if mode == Token::Expired { now - 3600 } else { now + 3600 },
                            "nonce": if mode == Token::WrongNonce { "not-the-nonce".to_string() } else { grant.nonce.clone() },
                            "email": *e.lock().expect("lock"),
                            "email_verified": mode != Token::Unverified,
                            "name": "Ada From Google",
                        });
                        let header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
                        let signer = if mode == Token::BadSignature { &other } else { &key };
                        let id_token = sign(signer, &header, &claims);
                        respond(
                            &mut stream,
                            "200 OK",
                            &json_headers,
                            &json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": id_token}).to_string(),
                        );
                    }
                    _ => respond(&mut stream, "404 Not Found", &[], ""),
                }
            }
        });
        Provider {
            addr,
            token,
            email,
            refusals,
        }
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// The outcome of one browser sign-in through the provider: the callback's answer.
fn oidc_sign_in(site: &Site, provider: &Provider, tamper_state: bool) -> Answer {
    let from = format!("http://{}/tasks?view=mine", site.host);
    let start = site.get(
        &format!(
            "/_ferry/base44/api/apps/auth/login?app_id={APP_ID}&from_url={}",
            from.replace(':', "%3A")
                .replace('/', "%2F")
                .replace('?', "%3F")
                .replace('=', "%3D")
        ),
        &[],
    );
    assert_eq!(start.status, 302, "{}", start.body);
    let cookie = start
        .header("set-cookie")
        .expect("the flow cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("ferry_oidc="), "{cookie}");
    let authorize = start.header("location").expect("location");
    let authorize_path = authorize
        .strip_prefix(&format!("http://{}", provider.addr))
        .unwrap_or_else(|| panic!("{authorize} is not the provider"));
    let back = http(
        &provider.addr,
        &provider.addr,
        "GET",
        authorize_path,
        &[],
        None,
    );
    assert_eq!(back.status, 302);
    let callback = site.path_of(back.header("location").expect("location"));
    assert!(
        callback.starts_with("/_ferry/base44/oidc/callback?"),
        "{callback}"
    );
    let callback = if tamper_state {
        callback.replace("state=", "state=x")
    } else {
        callback
    };
    site.get(&callback, &[("cookie", &cookie)])
}

#[test]
fn openid_connect_signs_the_migrated_user_in_and_refuses_bad_tokens() {
    let env = Env::new();
    let server = env.serve();
    let site = Site::of(&server);
    let dir = tempfile::tempdir().expect("tmp");
    let provider = Provider::start(dir.path());
    deploy(&env, 1);
    // Without the secrets, no button and no flow.
    assert!(
        !site
            .get("/_ferry/base44/login", &[])
            .body
            .contains("Continue with")
    );
    let none = site.get(
        &format!("/_ferry/base44/api/apps/auth/login?app_id={APP_ID}"),
        &[],
    );
    assert_eq!(none.status, 404, "{}", none.body);

    insert_migrated_user(&env);
    let issuer = format!("FERRY_OIDC_ISSUER=http://{}", provider.addr);
    let id = format!("FERRY_OIDC_CLIENT_ID={CLIENT_ID}");
    let secret = format!("FERRY_OIDC_CLIENT_SECRET={CLIENT_SECRET}");
    let (code, _, err) = env.ferry(&[
        "env",
        "set",
        "--runtime",
        "--app",
        APP,
        &issuer,
        &id,
        &secret,
    ]);
    assert_eq!(code, 0, "{err}");
    deploy(&env, 2);

    let login = site.get("/_ferry/base44/login?from_url=%2Ftasks", &[]);
    assert!(
        login.body.contains("Continue with Google"),
        "{}",
        login.body
    );
    assert!(
        login.body.contains(&format!(
            "/_ferry/base44/api/apps/auth/login?app_id={APP_ID}&amp;from_url=%2Ftasks"
        )),
        "{}",
        login.body
    );

    // The migrated user signs in with their existing id and fields.
    let done = oidc_sign_in(&site, &provider, false);
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        *provider.refusals.lock().expect("lock"),
        Vec::<String>::new()
    );
    let location = done.header("location").expect("location");
    assert!(
        location.starts_with("/tasks?view=mine&access_token="),
        "{location}"
    );
    let token = location.split("access_token=").nth(1).expect("token");
    assert_is_migrated_user(&site, token);
    assert!(
        done.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the flow cookie is cleared"
    );

    // Every bad token is refused with an error page naming the problem.
    for (mode, code) in [
        (Token::WrongNonce, "oidc-nonce-mismatch"),
        (Token::WrongAudience, "oidc-wrong-audience"),
        (Token::Expired, "oidc-token-expired"),
        (Token::BadSignature, "oidc-bad-signature"),
        (Token::Unverified, "oidc-email-not-verified"),
    ] {
        *provider.token.lock().expect("lock") = mode;
        let refused = oidc_sign_in(&site, &provider, false);
        assert_eq!(refused.status, 400, "{mode:?}: {}", refused.body);
        assert!(refused.body.contains(code), "{mode:?}: {}", refused.body);
        assert!(refused.header("location").is_none(), "{mode:?}");
        assert!(
            refused
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/html"))
        );
    }
    *provider.token.lock().expect("lock") = Token::Good;
    let tampered = oidc_sign_in(&site, &provider, true);
    assert_eq!(tampered.status, 400, "{}", tampered.body);
    assert!(
        tampered.body.contains("oidc-state-mismatch"),
        "{}",
        tampered.body
    );
    // A callback without the browser's flow cookie (another browser, or replayed).
    let no_cookie = site.get("/_ferry/base44/oidc/callback?code=code-1&state=abc", &[]);
    assert_eq!(no_cookie.status, 400, "{}", no_cookie.body);
    assert!(
        no_cookie.body.contains("oidc-flow-expired"),
        "{}",
        no_cookie.body
    );

    // A new email makes a new user (a plain `user`), signed in.
    *provider.email.lock().expect("lock") = "grace@example.com".into();
    let new = oidc_sign_in(&site, &provider, false);
    assert_eq!(new.status, 302, "{}", new.body);
    let token = new
        .header("location")
        .and_then(|l| l.split("access_token=").nth(1))
        .expect("token");
    let auth = format!("Bearer {token}");
    let me = site
        .get(&api("entities/User/me"), &[("authorization", &auth)])
        .json();
    assert_eq!(me["email"], "grace@example.com");
    assert_eq!(me["role"], "user");
    assert_eq!(me["full_name"], "Ada From Google");
    assert_ne!(me["id"], MIGRATED_ID);
}

// ---- SMTP against aiosmtpd --------------------------------------------------------------------

/// aiosmtpd from PyPI in a virtualenv under `dir`, or `None` (with a loud message) when PyPI
/// cannot be reached outside CI (under CI that fails the test).
fn aiosmtpd(dir: &Path) -> Option<PathBuf> {
    let venv = dir.join("venv");
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    );
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--cache-dir",
        ])
        .arg(std::env::temp_dir().join("ferry-test-pip-cache"))
        .arg("aiosmtpd>=1.4,<2")
        .output()
        .expect("pip runs");
    if out.status.success() {
        return Some(venv);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let offline = Command::new(venv.join("bin/pip"))
        .args(["download", "--no-deps", "--quiet", "-d"])
        .arg(dir.join("probe"))
        .arg("pip")
        .status()
        .is_ok_and(|s| s.success());
    let offline = !offline;
    assert!(
        offline,
        "pip install aiosmtpd failed while PyPI answers:\n{err}"
    );
    // CI must run it: a skip there would pass without testing anything (as the PostgreSQL
    // tests' `skip_if_unavailable` fails under CI).
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but PyPI is unreachable, so aiosmtpd cannot be installed:\n{err}"
    );
    eprintln!(
        "\n\n!!!!! SKIPPED: PyPI is unreachable, so aiosmtpd cannot be installed:\n{err}\n!!!!!\n"
    );
    None
}

/// The sink: tests/smtp-sink/sink.py on a free loopback port, writing each message to `out`.
struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    fn start(venv: &Path, out: &Path) -> Sink {
        std::fs::create_dir_all(out).expect("mkdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp-sink/sink.py");
        let mut child = Command::new(venv.join("bin/python"))
            .arg(script)
            .arg(port.to_string())
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sink starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the sink says it is ready");
        assert_eq!(line.trim(), "ready", "{line}");
        Sink {
            child,
            port,
            out: out.to_path_buf(),
        }
    }

    /// The messages received so far: (envelope recipients, the raw message).
    fn messages(&self) -> Vec<(Vec<String>, String)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|v| {
                let to = v["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                (to, v["data"].as_str().unwrap_or("").to_string())
            })
            .collect()
    }
}

/// The value of header `name` in a raw message.
fn header_of(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or(message);
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A raw message's body with soft line breaks of quoted-printable undone.
fn body_of(message: &str) -> String {
    let body = message.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.replace("=\r\n", "").replace("=3D", "=")
}

#[test]
fn mail_goes_through_a_real_smtp_server_and_a_refusal_is_recorded() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(venv) = aiosmtpd(dir.path()) else {
        return;
    };
    let sink = Sink::start(&venv, &dir.path().join("mail"));
    let env = Env::new();
    let server = env.serve();
    let site = Site::of(&server);
    deploy(&env, 1);
    insert_migrated_user(&env);
    let smtp = format!(
        "FERRY_SMTP_URL=smtp://127.0.0.1:{}?tls=none&from=app@example.com",
        sink.port
    );
    let (code, _, err) = env.ferry(&["env", "set", "--runtime", "--app", APP, &smtp]);
    assert_eq!(code, 0, "{err}");
    deploy(&env, 2);

    let (code, doc, err) = env.ferry(&["base44", "invite", "--all", "--json", "--app", APP]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["users"][0]["status"], "sent", "{doc}");
    let reg = site.post(
        &api("auth/register"),
        &json!({"email": "bob@example.com", "password": "correct horse 1"}),
        None,
    );
    assert_eq!(reg.status, 200, "{}", reg.body);
    let token = reg.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let sent = site.post(
        &api("integration-endpoints/Core/SendEmail"),
        &json!({"to": "carol@example.com", "subject": "Your report", "body": "See http://users.localhost/report/42"}),
        Some(&token),
    );
    assert_eq!(sent.status, 200, "{}", sent.body);

    wait_for(
        "both messages reach the sink",
        Duration::from_secs(30),
        || sink.messages().len() >= 2,
    );
    let messages = sink.messages();
    let invite = messages
        .iter()
        .find(|(to, _)| to == &[MIGRATED_EMAIL.to_string()])
        .expect("the invitation");
    assert_eq!(header_of(&invite.1, "To").as_deref(), Some(MIGRATED_EMAIL));
    assert_eq!(
        header_of(&invite.1, "Subject").as_deref(),
        Some(format!("{APP}: set your password").as_str())
    );
    let body = body_of(&invite.1);
    assert!(
        body.contains(&format!(
            "http://{}/_ferry/base44/reset-password?token=",
            site.host
        )),
        "{body}"
    );
    let report = messages
        .iter()
        .find(|(to, _)| to == &["carol@example.com".to_string()])
        .expect("the SendEmail message");
    assert_eq!(
        header_of(&report.1, "Subject").as_deref(),
        Some("Your report")
    );
    assert!(body_of(&report.1).contains("http://users.localhost/report/42"));
    wait_for("the outbox says sent", Duration::from_secs(10), || {
        outbox(&env)
            .iter()
            .filter(|m| m["status"] == "sent")
            .count()
            == 2
    });

    // A server that refuses connections: retried, then failed with the cause.
    drop(sink);
    let (code, doc, err) = env.ferry(&[
        "base44",
        "invite",
        "--resend",
        "--json",
        "--app",
        APP,
        MIGRATED_EMAIL,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        doc["users"][0]["status"], "sent",
        "handed to the queue: {doc}"
    );
    wait_for("the outbox says failed", Duration::from_secs(40), || {
        outbox(&env).iter().any(|m| m["status"] == "failed")
    });
    let failed: Vec<Value> = outbox(&env)
        .into_iter()
        .filter(|m| m["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["to"], MIGRATED_EMAIL);
    let detail = failed[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("attempts") && !detail.is_empty(),
        "{detail}"
    );
}

//! The control plane through the real binary and a real server: two organisations whose tokens
//! cannot see or change each other's apps, releases, env, logs or audit entries (404 for what a
//! token may not see, 403 for what it sees but may not change), every refused attempt audited;
//! and an audit log whose tampering in the SQLite file `ferry audit --verify` detects.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use common::Env;
use serde_json::{Value, json};

/// One HTTP/1.1 exchange over `stream`: (status, JSON body).
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let text = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    if body.is_some() {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            text.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(text.as_bytes()).expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(stream));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The server's owner, on the Unix socket.
fn local(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let s = UnixStream::connect(env.home.join("ferry.sock")).expect("socket");
    exchange(s, method, path, None, body.as_ref())
}

/// A token holder, on the TCP control listener.
fn remote(
    control: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let s = std::net::TcpStream::connect(control).expect("control listener");
    exchange(s, method, path, Some(token), body.as_ref())
}

/// A static app named `name` with one page.
fn write_static(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        format!(
            "version = 1\nname = \"{name}\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"\"\noutput = \".\"\n"
        ),
    )
    .expect("write");
    std::fs::write(dir.join("index.html"), format!("<h1>{name}</h1>\n")).expect("write");
}

fn token(env: &Env, org: &str, name: &str, scope: &str, app: Option<&str>) -> String {
    let mut args = vec![
        "token", "create", name, "--json", "--org", org, "--scope", scope,
    ];
    if let Some(app) = app {
        args.extend(["--app", app]);
    }
    let (code, doc, err) = env.ferry(&args);
    assert_eq!(code, 0, "{err}");
    doc["token"].as_str().expect("token").to_string()
}

#[test]
fn two_organisations_never_see_or_change_each_other() {
    let env = Env::new();
    let _server = env.serve();
    let control = env.control();
    for org in ["acme", "globex"] {
        let (code, _, err) = env.ferry(&["org", "create", org]);
        assert_eq!(code, 0, "{err}");
    }
    // Each org's app, deployed by the server's owner.
    for (org, app) in [("acme", "shop"), ("acme", "shop-admin"), ("globex", "news")] {
        let (status, doc) = local(
            &env,
            "POST",
            "/api/v1/apps",
            Some(json!({ "name": app, "org": org })),
        );
        assert_eq!(status, 200, "{doc}");
        let dir = env.app.join(app);
        write_static(&dir, app);
        let (code, _, err) = env.ferry(&["deploy", "--json", dir.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = env.ferry(&["env", "set", "--app", app, "API_KEY=k-{app}-secret"]);
        assert_eq!(code, 0, "{err}");
    }
    let globex = token(&env, "globex", "globex-admin", "admin", None);
    let acme_read = token(&env, "acme", "acme-viewer", "read", None);
    let acme_shop = token(&env, "acme", "shop-ci", "deploy", Some("shop"));

    // globex's admin sees only globex.
    let (status, doc) = remote(&control, &globex, "GET", "/api/v1/apps", None);
    assert_eq!(status, 200, "{doc}");
    let names: Vec<&str> = doc["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["news"]);
    let mut refused = 0;
    let invisible: [(&str, &str, Option<Value>); 11] = [
        ("GET", "/api/v1/apps/shop/releases", None),
        ("GET", "/api/v1/apps/shop/env", None),
        ("GET", "/api/v1/apps/shop/logs", None),
        ("GET", "/api/v1/apps/shop/processes", None),
        ("GET", "/api/v1/audit?app=shop", None),
        (
            "PUT",
            "/api/v1/apps/shop/env/API_KEY",
            Some(json!({ "value": "stolen" })),
        ),
        (
            "POST",
            "/api/v1/apps/shop/activate",
            Some(json!({ "release_id": "r1" })),
        ),
        ("POST", "/api/v1/apps/shop/rollback", Some(json!({}))),
        ("DELETE", "/api/v1/apps/shop/env/API_KEY", None),
        ("GET", "/api/v1/apps/shop/outbox", None),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({ "org": "acme", "name": "x", "scope": "admin" })),
        ),
    ];
    for (method, path, body) in invisible {
        let (status, doc) = remote(&control, &globex, method, path, body);
        assert_eq!(status, 404, "{method} {path}: {doc}");
        assert!(
            !doc.to_string().contains("k-shop-secret"),
            "{method} {path}: {doc}"
        );
        refused += 1;
    }
    // Its audit view holds globex's entries only (its own refused attempts on `shop`
    // included): nothing acme did.
    let (status, doc) = remote(&control, &globex, "GET", "/api/v1/audit", None);
    assert_eq!(status, 200, "{doc}");
    let seen = doc["entries"].as_array().expect("entries");
    assert!(!seen.is_empty());
    for e in seen {
        assert_eq!(e["org"], "globex", "{e}");
        assert!(
            e["outcome"] == "refused" || !e.to_string().contains("shop"),
            "{e}"
        );
    }

    // acme's viewer sees shop but may not change it: 403.
    let (status, doc) = remote(
        &control,
        &acme_read,
        "GET",
        "/api/v1/apps/shop/releases",
        None,
    );
    assert_eq!(status, 200, "{doc}");
    let live = doc["live"]["release_id"]
        .as_str()
        .expect("live")
        .to_string();
    let forbidden: [(&str, &str, Option<Value>); 5] = [
        (
            "PUT",
            "/api/v1/apps/shop/env/API_KEY",
            Some(json!({ "value": "x" })),
        ),
        (
            "POST",
            "/api/v1/apps/shop/activate",
            Some(json!({ "release_id": live })),
        ),
        ("POST", "/api/v1/apps/shop/rollback", Some(json!({}))),
        ("GET", "/api/v1/tokens", None),
        ("GET", "/api/v1/apps/shop/outbox", None),
    ];
    for (method, path, body) in forbidden {
        let (status, doc) = remote(&control, &acme_read, method, path, body);
        assert_eq!(status, 403, "{method} {path}: {doc}");
        assert_eq!(doc["code"], "forbidden", "{doc}");
        refused += 1;
    }
    // A token bound to shop: shop only, not its sibling.
    let (status, doc) = remote(&control, &acme_shop, "GET", "/api/v1/apps", None);
    assert_eq!(status, 200);
    assert_eq!(doc["apps"].as_array().map(Vec::len), Some(1), "{doc}");
    let (status, _) = remote(
        &control,
        &acme_shop,
        "GET",
        "/api/v1/apps/shop-admin/releases",
        None,
    );
    assert_eq!(status, 404);
    refused += 1;
    // Data jobs belong to no organisation: the server's owner only.
    let (status, doc) = remote(&control, &globex, "GET", "/api/v1/jobs", None);
    assert_eq!(status, 403, "{doc}");
    refused += 1;
    let (status, doc) = local(&env, "GET", "/api/v1/jobs", None);
    assert_eq!(status, 200, "{doc}");
    assert!(doc["jobs"].is_array(), "{doc}");
    // A bad token, and no token.
    let (status, _) = remote(
        &control,
        "fy_0000000000000000_not-a-real-secret-at-all-0123456789abc",
        "GET",
        "/api/v1/apps",
        None,
    );
    assert_eq!(status, 401);
    refused += 1;

    // Every refused attempt is in the audit log, with the token that made it.
    let (status, doc) = local(&env, "GET", "/api/v1/audit", None);
    assert_eq!(status, 200);
    let entries = doc["entries"].as_array().expect("entries");
    let refusals: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .collect();
    assert_eq!(refusals.len(), refused, "{doc}");
    assert!(refusals.iter().all(|e| e["token_id"].is_string()), "{doc}");
    assert!(
        refusals.iter().all(|e| e["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("tcp:127.0.0.1"))),
        "{doc}"
    );
    // Nothing changed: shop still serves its release, its secret unchanged.
    let (_, doc) = local(&env, "GET", "/api/v1/apps/shop/releases", None);
    assert_eq!(doc["live"]["release_id"].as_str(), Some(live.as_str()));

    // The CLI says the same through the same API: the log verifies.
    let (code, doc, err) = env.ferry(&["audit", "--verify", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["ok"], true, "{doc}");
}

/// The audit entries of `action` as (outcome, detail), each checked to be the local owner's.
fn audited(env: &Env, action: &str) -> Vec<(String, String)> {
    let (status, doc) = local(env, "GET", "/api/v1/audit", None);
    assert_eq!(status, 200, "{doc}");
    doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| {
            assert_eq!(e["actor"], "local", "{e}");
            assert_eq!(e["source"], "unix", "{e}");
            (
                e["outcome"].as_str().unwrap_or_default().to_string(),
                e["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pair(outcome: &str, detail: &str) -> (String, String) {
    (outcome.to_string(), detail.to_string())
}

/// The mutations that do not go through `Control::apply` (or fail before it) write their own
/// entries: a release record refused for missing blobs, an activation of the live release
/// (unchanged), garbage collection, the shutdown; and the log still verifies afterwards.
#[test]
fn mutations_outside_apply_are_audited_too() {
    let env = Env::new();
    let server = env.serve();
    let dir = env.app.join("shop");
    write_static(&dir, "shop");
    let (code, doc, err) = env.ferry(&["deploy", "--json", dir.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let live = doc["release_id"]
        .as_str()
        .unwrap_or_else(|| panic!("release id in {doc}"))
        .to_string();

    // A manifest naming a blob the server lacks: refused before any record, audited.
    let manifest = std::fs::read_to_string(env.home.join(format!("releases/{live}.json")))
        .expect("the release's manifest");
    let mut manifest: Value = serde_json::from_str(&manifest).expect("json");
    let files = manifest["files"].as_object_mut().expect("files");
    let first = files.keys().next().expect("a file").clone();
    files[&first]["hash"] = json!("0".repeat(64));
    let (status, doc) = local(&env, "POST", "/api/v1/apps/shop/releases", Some(manifest));
    assert_eq!(status, 409, "{doc}");
    assert_eq!(
        audited(&env, "record-release").last(),
        Some(&pair("failed", "missing-blobs"))
    );

    // The live release again: nothing moves, and the entry says so.
    let (status, doc) = local(
        &env,
        "POST",
        "/api/v1/apps/shop/activate",
        Some(json!({ "release_id": live, "action": "promote" })),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["switched"], false, "{doc}");
    assert_eq!(
        audited(&env, "activate").last(),
        Some(&pair("unchanged", "promote in production: already live"))
    );

    let (status, doc) = local(&env, "POST", "/api/v1/gc", None);
    assert_eq!(status, 200, "{doc}");
    let detail = format!(
        "{} releases, {} blobs, {} bytes freed",
        doc["releases_removed"], doc["blobs_removed"], doc["bytes_freed"]
    );
    assert_eq!(audited(&env, "gc"), [pair("ok", &detail)]);

    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
    drop(server);
    let (code, doc, err) = verify(&env.home);
    assert_eq!(code, 0, "{err} {doc}");
    let db = rusqlite::Connection::open(env.home.join("ferry.db")).expect("open");
    let last: (String, String, String) = db
        .query_row(
            "SELECT action, outcome, detail FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the newest entry");
    assert_eq!(last, ("shutdown".into(), "ok".into(), "stopping".into()));
}

/// Runs `ferry audit --verify --json` against `home` (no server running).
fn verify(home: &Path) -> (i32, Value, String) {
    let out = std::process::Command::new(common::bin())
        .args(["audit", "--verify", "--json"])
        .env("FERRY_HOME", home)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let key = to.join("secret.key");
    let _ = std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600));
}

#[test]
fn tampering_with_the_audit_log_is_detected() {
    let env = Env::new();
    {
        let _server = env.serve();
        for org in ["a1", "a2", "a3"] {
            let (code, _, err) = env.ferry(&["org", "create", org]);
            assert_eq!(code, 0, "{err}");
        }
        for i in 0..4 {
            let (code, _, err) = env.ferry(&[
                "token",
                "create",
                &format!("t{i}"),
                "--org",
                "a1",
                "--scope",
                "read",
            ]);
            assert_eq!(code, 0, "{err}");
        }
        let (code, _, err) = env.ferry(&["down"]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, doc, err) = verify(&env.home);
    assert_eq!(code, 0, "an untouched log verifies: {err} {doc}");
    assert_eq!(doc["entries"], 8, "3 orgs, 4 tokens, the shutdown: {doc}");

    let cases: [(&str, &str, i64); 4] = [
        (
            "edit",
            "UPDATE audit SET actor = 'user:mallory' WHERE seq = 3",
            3,
        ),
        ("delete", "DELETE FROM audit WHERE seq = 2", 2),
        ("delete the newest", "DELETE FROM audit WHERE seq >= 6", 6),
        (
            "insert",
            "UPDATE audit SET seq = seq + 100 WHERE seq >= 4; UPDATE audit SET seq = seq - 99 WHERE seq >= 104; INSERT INTO audit (seq, at, actor, action, target, outcome, source, mac) VALUES (4, 1, 'local', 'revoke-token', 'token/x', 'ok', 'unix', zeroblob(32));",
            4,
        ),
    ];
    for (what, sql, first_bad) in cases {
        let copy = tempfile::tempdir().expect("tmp");
        copy_home(&env.home, copy.path());
        let db = rusqlite::Connection::open(copy.path().join("ferry.db")).expect("open");
        db.execute_batch(sql).expect(what);
        drop(db);
        let (code, doc, err) = verify(copy.path());
        assert_ne!(code, 0, "{what} is detected: {doc}");
        assert_eq!(doc["first_bad"], first_bad, "{what}: {doc} {err}");
        assert!(err.contains("does not verify"), "{what}: {err}");
    }
}

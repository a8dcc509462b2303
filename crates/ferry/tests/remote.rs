//! Remote use end to end: a server with `FERRY_HOME` A on loopback, a second `FERRY_HOME` B
//! that logs in with a token of an organisation and deploys with `--server`. Only the blobs the
//! server lacks travel (a second deploy after changing one file under `public/` uploads that
//! file's blob alone, and the server makes its compressed variants), every step is audited
//! with the token's identity and source, a read-scope token is refused (and audited), and B
//! keeps the token only in `credentials.json` (0600). The same over https: the control
//! listener on TLS with a self-signed certificate made by `openssl` at test time, trusted with
//! `--ca`; an untrusted certificate, a wrong host name and plain http to the TLS port are
//! refused. Hermetic: the app is built by `sh`.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{Env, bin};
use serde_json::{Value, json};

/// One request to A's `/api/v1` over its Unix socket (the machine's owner): (status, body).
fn owner(home: &Path, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = std::os::unix::net::UnixStream::connect(home.join("ferry.sock")).expect("socket");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        bytes.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(bytes.as_bytes()).expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(s));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A request to A's TCP control listener with a bearer token and extra headers: (status,
/// headers lowercased, body).
fn bearer(
    control: &str,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, String, Value) {
    let mut s = std::net::TcpStream::connect(control).expect("control answers");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let bytes = body.to_string();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {control}\r\nconnection: close\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        bytes.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(bytes.as_bytes()).expect("write");
    let raw = common::read_raw(s);
    let (status, head, body) = common::split_answer(&raw);
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// `GET path` on the edge with a `Host`: (status, `x-ferry-release`, body).
fn edge_get(edge: &str, host: &str, path: &str) -> (u16, Option<String>, String) {
    common::edge_request(edge, host, "GET", path, None)
}

/// A static app whose build copies `public/` and `index.html` into `dist/` (as Vite does).
fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("public")).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"remote-site\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist\nmkdir -p dist\ncp -R public/. dist/\ncp index.html dist/index.html\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>remote</title><link rel=\"stylesheet\" href=\"/style.css\"><h1>remote</h1>",
    )
    .expect("write");
    let css = "body { font-family: sans-serif; margin: 0 auto; max-width: 40rem; }\n".repeat(20);
    std::fs::write(dir.join("public/style.css"), css).expect("write");
    std::fs::write(dir.join("public/robots.txt"), "User-agent: *\n").expect("write");
    write_data(dir, 1);
}

/// `public/data.json`: compressible, over 256 bytes, different per version.
fn write_data(dir: &Path, version: u32) {
    let items: Vec<Value> = (0..40)
        .map(|i| json!({ "id": i, "name": format!("item {i}"), "version": version }))
        .collect();
    std::fs::write(
        dir.join("public/data.json"),
        serde_json::to_string_pretty(&items).expect("json"),
    )
    .expect("write");
}

/// Runs `ferry` with B's home and no inherited server or token settings.
fn ferry_b(b: &Env, args: &[&str], stdin: Option<&str>) -> (i32, Value, String) {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .env("FERRY_HOME", &b.home)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("ferry runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_remote_deploy_uploads_only_missing_blobs_and_is_audited_with_the_token() {
    let a = Env::new();
    let server = a.serve();
    let control = a.control();
    let url = format!("http://{control}");

    // The server's owner makes an organisation and two tokens for it.
    let (st, _) = owner(
        &a.home,
        "POST",
        "/api/v1/orgs",
        Some(&json!({ "name": "acme" })),
    );
    assert_eq!(st, 200, "create org");
    let (st, deploy_tok) = owner(
        &a.home,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "org": "acme", "name": "laptop", "scope": "deploy" })),
    );
    assert_eq!(st, 200, "deploy token: {deploy_tok}");
    let token = deploy_tok["token"].as_str().expect("token").to_string();
    let token_id = deploy_tok["id"].as_str().expect("id").to_string();
    let (st, read_tok) = owner(
        &a.home,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "org": "acme", "name": "viewer", "scope": "read" })),
    );
    assert_eq!(st, 200, "read token: {read_tok}");
    let read_token = read_tok["token"].as_str().expect("token").to_string();

    let b = Env::new();
    write_app(&b.app);
    let app = b.app.to_str().expect("utf-8");

    // Without a token: one line naming `ferry login`.
    let (code, _, err) = ferry_b(&b, &["deploy", "--server", &url, app], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ferry login"), "{err}");
    // A wrong token is the server's one-line 401.
    let (code, _, err) = ferry_b(&b, &["login", &url, "--token", "fy_nope_wrong"], None);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 2, "one error line and one hint: {err}");

    // Login with the token on stdin (kept out of the process list).
    let (code, doc, err) = ferry_b(&b, &["login", "--json", &url], Some(&format!("{token}\n")));
    assert_eq!(code, 0, "login: {err}\n{doc}");
    assert_eq!(doc["org"], "acme", "{doc}");
    assert_eq!(doc["scope"], "deploy", "{doc}");
    assert_eq!(doc["label"], "token:laptop", "{doc}");
    let creds = b.home.join("credentials.json");
    let mode = std::fs::metadata(&creds)
        .expect("credentials")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "credentials.json mode");

    // First deploy: every blob is new.
    let (code, first, err) = ferry_b(&b, &["deploy", "--server", &url, "--json", app], None);
    assert_eq!(code, 0, "deploy: {err}\n{first}");
    let release1 = first["release_id"].as_str().expect("id").to_string();
    assert!(first["new_blobs"].as_u64().expect("new") >= 4, "{first}");
    let served = |path: &str| edge_get(&server.edge, "remote-site.localhost", path);
    let (st, rel, body) = served("/");
    assert_eq!((st, rel.as_deref()), (200, Some(release1.as_str())));
    assert!(body.contains("<h1>remote</h1>"));
    assert!(
        first["warnings"].as_array().is_some_and(|w| w
            .iter()
            .all(|w| !w.as_str().unwrap_or("").contains("not probed"))),
        "the loopback edge is probed: {first}"
    );

    // One file under public/ changes: exactly its blob travels.
    write_data(&b.app, 2);
    let (code, second, err) = ferry_b(&b, &["deploy", "--server", &url, "--json", app], None);
    assert_eq!(code, 0, "second deploy: {err}\n{second}");
    assert_eq!(second["new_blobs"], 1, "{second}");
    let release2 = second["release_id"].as_str().expect("id").to_string();
    assert_ne!(release1, release2);
    let (st, rel, body) = served("/data.json");
    assert_eq!((st, rel.as_deref()), (200, Some(release2.as_str())));
    assert!(body.contains("\"version\": 2"), "{body}");
    // The server made the changed file's brotli and gzip variants.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(a.home.join(format!("releases/{release2}.json")))
            .expect("manifest"),
    )
    .expect("json");
    let hash = manifest["files"]["data.json"]["hash"]
        .as_str()
        .expect("hash")
        .to_string();
    for ext in ["br", "gz"] {
        let variant = a
            .home
            .join("variants")
            .join(&hash[..2])
            .join(format!("{hash}.{ext}"));
        assert!(variant.is_file(), "{} exists", variant.display());
    }

    // Audited with the token's identity and where it came from.
    let (st, audit) = owner(&a.home, "GET", "/api/v1/audit?app=remote-site", None);
    assert_eq!(st, 200, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    for action in ["record-release", "activate"] {
        let e = entries
            .iter()
            .rev()
            .find(|e| e["action"] == action && e["outcome"] == "ok")
            .unwrap_or_else(|| panic!("an `{action}` entry in {audit}"));
        assert_eq!(e["actor"], "token:laptop", "{e}");
        assert_eq!(e["token_id"], token_id.as_str(), "{e}");
        assert_eq!(e["source"], "tcp:127.0.0.1", "{e}");
        assert_eq!(e["org"], "acme", "{e}");
    }

    // The CLI's other commands go to the remote too.
    let (code, releases, err) = ferry_b(
        &b,
        &[
            "releases",
            "--server",
            &url,
            "--json",
            "--app",
            "remote-site",
        ],
        None,
    );
    assert_eq!(code, 0, "releases: {err}");
    assert_eq!(
        releases["live"]["release_id"],
        release2.as_str(),
        "{releases}"
    );
    // `up` runs a local server: refused with a hint.
    let (code, _, err) = ferry_b(&b, &["up", "--server", &url, app], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ferry deploy --server"), "{err}");

    // A read-scope token may not deploy: 403, audited.
    let (code, doc, err) = {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(["deploy", "--server", &url, "--json", app])
            .env("FERRY_HOME", &b.home)
            .env("FERRY_TOKEN", &read_token)
            .env("NO_COLOR", "1");
        let out = cmd.output().expect("ferry runs");
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 2, "{err}");
    assert_eq!(doc["error"]["code"], "forbidden", "{doc}");
    assert!(err.contains("(403)"), "{err}");
    let (_, audit) = owner(&a.home, "GET", "/api/v1/audit", None);
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| {
                e["actor"] == "token:viewer"
                    && e["outcome"] == "refused"
                    && e["source"] == "tcp:127.0.0.1"
            }),
        "a refused entry for the read token: {audit}"
    );

    // B holds the token nowhere but credentials.json.
    let holders = files_containing(&b.home, token.as_bytes());
    assert_eq!(holders, vec![creds.clone()], "files holding the token");

    // Logout forgets it.
    let (code, doc, err) = ferry_b(&b, &["logout", "--json", &url], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["removed"], true, "{doc}");
    assert!(files_containing(&b.home, token.as_bytes()).is_empty());
}

#[test]
fn an_idempotency_key_acts_once_and_refuses_another_request() {
    let a = Env::new();
    let _server = a.serve();
    let control = a.control();
    let (_, tok) = owner(
        &a.home,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "ci", "scope": "deploy" })),
    );
    let token = tok["token"].as_str().expect("token").to_string();

    // A release deployed from the owner's socket, twice (two releases to switch between).
    write_app(&a.app);
    let (code, one, err) = a.ferry(&["deploy", "--json", a.app.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    write_data(&a.app, 2);
    let (code, two, err) = a.ferry(&["deploy", "--json", a.app.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let (r1, r2) = (
        one["release_id"].as_str().expect("id"),
        two["release_id"].as_str().expect("id"),
    );

    let path = "/api/v1/apps/remote-site/activate";
    let body = json!({ "release_id": r1, "action": "promote" });
    let key = [("idempotency-key", "k-0123456789")];
    let (st, head, first) = bearer(&control, &token, "POST", path, &key, &body);
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["switched"], true, "{first}");
    // The same request again: the stored answer (switched: true again), no second activation.
    let (st, head2, again) = bearer(&control, &token, "POST", path, &key, &body);
    assert_eq!(st, 200, "{again}");
    assert_eq!(again, first);
    assert!(head2.contains("idempotent-replayed: true"), "{head2}");
    assert!(!head.contains("idempotent-replayed"), "{head}");
    // Without the key, the same request acts (and finds the release live already).
    let (st, _, plain) = bearer(&control, &token, "POST", path, &[], &body);
    assert_eq!(st, 200);
    assert_eq!(plain["switched"], false, "{plain}");
    // The key with another request: 422.
    let other = json!({ "release_id": r2, "action": "promote" });
    let (st, _, err) = bearer(&control, &token, "POST", path, &key, &other);
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["code"], "idempotency-mismatch", "{err}");
    // A bad key: 400.
    let (st, _, err) = bearer(
        &control,
        &token,
        "POST",
        path,
        &[("idempotency-key", "")],
        &body,
    );
    assert_eq!(st, 400, "{err}");
    // One activation by the token with that key: the audit has one promote to r1 from it.
    let (_, audit) = owner(&a.home, "GET", "/api/v1/audit?app=remote-site", None);
    let promotes = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["actor"] == "token:ci" && e["action"] == "activate" && e["outcome"] == "ok")
        .count();
    assert_eq!(promotes, 1, "{audit}");
}

/// A self-signed certificate for `127.0.0.1` only (no CA bit, as webpki wants of a leaf), and
/// its key: (cert.pem, key.pem).
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl made the certificate");
    (cert, key)
}

/// A TCP relay to `upstream` that records every byte clients send through it.
fn recording_relay(upstream: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    record.lock().expect("lock").extend_from_slice(&buf[..n]);
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, seen)
}

#[test]
fn https_to_a_tls_control_listener_with_a_self_signed_certificate() {
    let certs = tempfile::tempdir().expect("tmp");
    let (cert, key) = self_signed(certs.path());
    let a = Env::new();
    let server = a.serve_with(&[
        ("FERRY_CONTROL_TLS_CERT", cert.to_str().expect("utf-8")),
        ("FERRY_CONTROL_TLS_KEY", key.to_str().expect("utf-8")),
    ]);
    let info = a.server_info();
    assert_eq!(info["control_tls"], true, "{info}");
    let control = info["control"].as_str().expect("control").to_string();
    let port = control.rsplit_once(':').expect("port").1.to_string();
    let url = format!("https://127.0.0.1:{port}");
    let (st, tok) = owner(
        &a.home,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "laptop", "scope": "deploy" })),
    );
    assert_eq!(st, 200, "{tok}");
    let token = tok["token"].as_str().expect("token").to_string();
    let ca = cert.to_str().expect("utf-8");

    let b = Env::new();
    write_app(&b.app);
    let app = b.app.to_str().expect("utf-8");

    // Without --ca the certificate is untrusted: refused after the handshake, nothing sent.
    // (Through a relay that records what the client sends: TLS records only, no request.)
    let (relay, seen) = recording_relay(control.clone());
    let relay_port = relay.rsplit_once(':').expect("port").1;
    let relayed = format!("https://127.0.0.1:{relay_port}");
    let (code, doc, err) = ferry_b(&b, &["login", "--json", &relayed, "--token", &token], None);
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["error"]["code"], "tls-untrusted", "{doc}");
    assert!(err.contains("not trusted"), "{err}");
    assert!(err.contains("--ca cert.pem"), "the hint names --ca: {err}");
    let sent = seen.lock().expect("lock").clone();
    assert_eq!(sent.first(), Some(&0x16), "a TLS handshake record first");
    assert!(
        !sent.windows(token.len()).any(|w| w == token.as_bytes())
            && !sent
                .windows(13)
                .any(|w| w.eq_ignore_ascii_case(b"authorization")),
        "no request travelled"
    );
    assert!(!b.home.join("credentials.json").exists());

    // A name the certificate does not hold (it names 127.0.0.1 only): refused.
    let localhost = format!("https://localhost:{port}");
    let (code, doc, err) = ferry_b(
        &b,
        &["login", "--json", &localhost, "--ca", ca, "--token", &token],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["error"]["code"], "tls-wrong-host", "{doc}");
    assert!(err.contains("not valid for `localhost`"), "{err}");

    // Plain http to the TLS port: a clear failure pointing at https.
    let plain = format!("http://127.0.0.1:{port}");
    let (code, _, err) = ferry_b(&b, &["login", &plain, "--token", &token], None);
    assert_ne!(code, 0);
    assert!(err.contains("did not answer HTTP"), "{err}");
    assert!(
        err.contains(&format!("use https://127.0.0.1:{port}")),
        "{err}"
    );
    // https to a listener without TLS (the edge): a clear failure too.
    let edge = format!("https://{}", server.edge);
    let (code, doc, err) = ferry_b(
        &b,
        &["login", "--json", &edge, "--ca", ca, "--token", &token],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["error"]["code"], "tls-handshake", "{doc}");

    // With --ca: logged in; the certificate is stored with the token.
    let (code, doc, err) = ferry_b(
        &b,
        &["login", "--json", &url, "--ca", ca],
        Some(&format!("{token}\n")),
    );
    assert_eq!(code, 0, "login: {err}\n{doc}");
    assert_eq!(doc["server"], url.as_str(), "{doc}");
    assert_eq!(
        (doc["tls"].as_bool(), doc["custom_ca"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(doc["label"], "token:laptop", "{doc}");
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(b.home.join("credentials.json")).expect("credentials"),
    )
    .expect("json");
    let pem = std::fs::read_to_string(&cert).expect("cert");
    assert_eq!(creds["servers"][&url]["ca"], pem.as_str());

    // Deploy over https: uploaded, activated, served by the edge.
    let (code, first, err) = ferry_b(&b, &["deploy", "--server", &url, "--json", app], None);
    assert_eq!(code, 0, "deploy: {err}\n{first}");
    let release = first["release_id"].as_str().expect("id").to_string();
    assert!(first["new_blobs"].as_u64().expect("new") >= 4, "{first}");
    let (st, live, body) = edge_get(&server.edge, "remote-site.localhost", "/");
    assert_eq!((st, live.as_deref()), (200, Some(release.as_str())));
    assert!(body.contains("<h1>remote</h1>"));
    // Other commands too, with FERRY_SERVER.
    let (code, releases, err) = {
        let out = std::process::Command::new(bin())
            .args(["releases", "--json", "--app", "remote-site"])
            .env("FERRY_HOME", &b.home)
            .env("FERRY_SERVER", &url)
            .env_remove("FERRY_TOKEN")
            .env_remove("FERRY_CA")
            .output()
            .expect("ferry runs");
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "releases: {err}");
    assert_eq!(
        releases["live"]["release_id"],
        release.as_str(),
        "{releases}"
    );
    // The audit names the token and TCP as the source.
    let (_, audit) = owner(&a.home, "GET", "/api/v1/audit?app=remote-site", None);
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| {
                e["action"] == "activate"
                    && e["actor"] == "token:laptop"
                    && e["source"] == "tcp:127.0.0.1"
            }),
        "{audit}"
    );

    // The dashboard over TLS: its session cookie is `Secure` (curl, trusting the same file).
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert", ca])
        .args(["--data-urlencode", &format!("token={token}")])
        .arg(format!("{url}/dashboard/login"))
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("a session cookie: {head}"));
    assert!(cookie.trim_end().ends_with("; secure"), "{cookie}");
    // HTTP/2 where the client offers it (ALPN), HTTP/1.1 otherwise.
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                flag,
                "--cacert",
                ca,
            ])
            .arg(format!("{url}/healthz"))
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), version, "{flag}");
    }

    // A new certificate on disk is served without a restart: the stored one no longer
    // matches (refused), the new one given with FERRY_CA does.
    let fresh = tempfile::tempdir().expect("tmp");
    let (new_cert, new_key) = self_signed(fresh.path());
    std::fs::rename(&new_key, &key).expect("rename key");
    std::fs::rename(&new_cert, &cert).expect("rename cert");
    let releases_with = |ca: Option<&Path>| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args([
            "releases",
            "--json",
            "--app",
            "remote-site",
            "--server",
            &url,
        ])
        .env("FERRY_HOME", &b.home)
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_CA");
        if let Some(ca) = ca {
            cmd.env("FERRY_CA", ca);
        }
        let out = cmd.output().expect("ferry runs");
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
        )
    };
    common::wait_for(
        "the new certificate is served",
        Duration::from_secs(15),
        || releases_with(None).1["error"]["code"] == "tls-untrusted",
    );
    let (code, doc) = releases_with(Some(&cert));
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["live"]["release_id"], release.as_str(), "{doc}");
}

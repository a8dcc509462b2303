//! A Base44 app through the real binary and a real server: the build is wired (app id and
//! backend URLs in the build env, the SDK 0.1 client patched in the build copy only), the
//! entities are migrated at activation (an added field migrates, a changed type refuses the
//! deploy and nothing switches), the API and the sign-in pages are served on the app's origin
//! (also after a restart and a rollback), hostile queries are refused, and `ferry outbox` /
//! `ferry base44 admin` work. Hermetic: the app is generated here and built by `sh`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const APP_ID: &str = "67b2f0c41d9e3a0012c4d8e1";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// The app, with `Task`'s `extra` properties (JSON object members) for this version.
fn write_app(dir: &Path, task_extra: &str) {
    std::fs::create_dir_all(dir.join("src/api")).expect("mkdir");
    std::fs::create_dir_all(dir.join("base44/entities")).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"b44\"\nbuilder = \"base44\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\nspa = true\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist\nmkdir -p dist\ncp index.html dist/\ncp src/api/base44Client.js dist/client.js\nprintf '%s %s %s' \"$VITE_BASE44_APP_ID\" \"$VITE_BASE44_BACKEND_URL\" \"$VITE_BASE44_APP_BASE_URL\" > dist/wiring.txt\n",
    )
    .expect("write");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>b44</title>").expect("write");
    std::fs::write(
        dir.join("src/api/base44Client.js"),
        format!(
            "import {{ createClient }} from '@base44/sdk';\nexport const base44 = createClient({{\n  appId: \"{APP_ID}\",\n  requiresAuth: true\n}});\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("base44/entities/Task.jsonc"),
        format!(
            "// the app's tasks\n{{\"name\": \"Task\", \"type\": \"object\", \"properties\": {{\"title\": {{\"type\": \"string\"}}{task_extra}}}, \"rls\": {{\"read\": true, \"create\": true, \"update\": true, \"delete\": false}}}}\n"
        ),
    )
    .expect("write");
}

struct Server {
    child: Child,
    edge: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 answer: status, `x-ferry-release`, body.
struct Answer {
    status: u16,
    release: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let mut s = std::net::TcpStream::connect(&self.edge).expect("edge answers");
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nhost: b44.localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let lower = head.to_ascii_lowercase();
        let body = if lower.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        Answer {
            status: head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            release: lower.lines().find_map(|l| {
                l.strip_prefix("x-ferry-release:")
                    .map(|v| v.trim().to_string())
            }),
            body,
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    app: PathBuf,
}

impl Env {
    fn ferry(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin())
            .args(args)
            .env("FERRY_HOME", &self.home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn deploy(&self) -> Result<Value, String> {
        let (code, out, err) = self.ferry(&["deploy", "--json", self.app.to_str().expect("utf-8")]);
        if code == 0 {
            Ok(serde_json::from_str(&out).expect("json report"))
        } else {
            Err(err)
        }
    }

    fn serve(&self) -> Server {
        let mut server = Server {
            child: Command::new(bin())
                .args([
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--control-listen",
                    "127.0.0.1:0",
                ])
                .env("FERRY_HOME", &self.home)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("server starts"),
            edge: String::new(),
        };
        let started = Instant::now();
        loop {
            let ready =
                std::os::unix::net::UnixStream::connect(self.home.join("ferry.sock")).is_ok();
            let info: Option<Value> = std::fs::read_to_string(self.home.join("server.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            if let (true, Some(info)) = (ready, info)
                && info["pid"].as_u64() == Some(u64::from(server.child.id()))
            {
                server.edge = info["edge"].as_str().expect("edge").to_string();
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn api(path: &str) -> String {
    format!("/api/apps/{APP_ID}/{path}")
}

#[test]
fn a_base44_app_is_wired_migrated_and_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let env = Env {
        home: dir.path().join("home"),
        app: dir.path().join("app"),
        _dir: dir,
    };
    write_app(&env.app, "");
    let server = env.serve();
    let v1 = env.deploy().expect("first deploy");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();

    // The build saw ferry's wiring; the SDK 0.1 client was patched in the build copy only.
    let wiring = server.request("GET", "/wiring.txt", None);
    assert_eq!(
        wiring.body,
        format!("{APP_ID} /_ferry/base44 /_ferry/base44")
    );
    let client = server.request("GET", "/client.js", None).body;
    assert!(
        client.contains("serverUrl: (typeof window !== 'undefined' ? window.location.origin : '') + '/_ferry/base44'"),
        "{client}"
    );
    assert!(
        !std::fs::read_to_string(env.app.join("src/api/base44Client.js"))
            .expect("read")
            .contains("serverUrl"),
        "the source must stay unchanged"
    );
    assert!(v1["warnings"].to_string().contains("SDK 0.1"), "{v1}");

    // The API answers on the app's origin, at both prefixes, with the release header.
    let created = server.request(
        "POST",
        &api("entities/Task"),
        Some(&json!({"title": "first"})),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.release.as_deref(), Some(v1_id.as_str()));
    let first = created.json();
    assert_eq!(first["title"], "first");
    let listed = server.request(
        "GET",
        &format!("/_ferry/base44{}", api("entities/Task")),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()[0]["id"], first["id"]);

    // Hostile queries: 400 with a JSON error, nothing touched.
    for query in [
        "q=%7B%22%24where%22%3A%221%22%7D",
        "q=%7B%22title%22%3A",
        "sort=title%3BDROP%20TABLE%20task",
        "limit=100000000",
        "q=%7B%22title%22%3A%7B%22%24function%22%3A%7B%7D%7D%7D",
    ] {
        let a = server.request("GET", &format!("{}?{query}", api("entities/Task")), None);
        assert_eq!(a.status, 400, "{query}: {}", a.body);
        assert!(a.json()["message"].is_string(), "{query}: {}", a.body);
    }
    assert_eq!(
        server
            .request("GET", &api("entities/Task/count"), None)
            .body
            .trim(),
        "{\"count\":1}"
    );

    // The sign-in page, served by ferry, names the app id.
    let login = server.request("GET", "/_ferry/base44/login?from_url=%2F", None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains(&format!("content=\"{APP_ID}\"")));

    // An added field migrates; old records keep their values.
    write_app(&env.app, ", \"done\": {\"type\": \"boolean\"}");
    let v2 = env.deploy().expect("second deploy");
    let v2_id = v2["release_id"].as_str().expect("id").to_string();
    assert_ne!(v2_id, v1_id);
    let done = server.request(
        "POST",
        &api("entities/Task"),
        Some(&json!({"title": "second", "done": true})),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["done"], true);
    let old = server.request(
        "GET",
        &api(&format!(
            "entities/Task/{}",
            first["id"].as_str().expect("id")
        )),
        None,
    );
    assert_eq!(old.json()["title"], "first");

    // A changed type is refused before anything switches.
    write_app(&env.app, ", \"done\": {\"type\": \"string\"}");
    let refused = env.deploy().expect_err("a type change must be refused");
    assert!(refused.contains("cannot be migrated"), "{refused}");
    let still = server.request("GET", &api("entities/Task?sort=title"), None);
    assert_eq!(still.release.as_deref(), Some(v2_id.as_str()));
    assert_eq!(still.json().as_array().map(Vec::len), Some(2));

    // Auth: sign-up, admin by the owner only, mail in the outbox.
    let reg = server.request(
        "POST",
        &api("auth/register"),
        Some(
            &json!({"email": "Owner@Example.com", "password": "correct horse 1", "role": "admin"}),
        ),
    );
    assert_eq!(reg.status, 200, "{}", reg.body);
    assert_eq!(
        reg.json()["user"]["role"],
        "user",
        "registering never makes an admin"
    );
    let (code, out, err) = env.ferry(&["base44", "admin", "--json", "owner@example.com"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["user"]["role"],
        "admin"
    );
    let (code, _, err) = env.ferry(&["base44", "admin", "nobody@example.com"]);
    assert_ne!(code, 0);
    assert!(err.contains("no user"), "{err}");
    let reset = server.request(
        "POST",
        &api("auth/reset-password-request"),
        Some(&json!({"email": "owner@example.com"})),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    let (code, out, err) = env.ferry(&["outbox", "--json"]);
    assert_eq!(code, 0, "{err}");
    let outbox: Value = serde_json::from_str(&out).expect("json");
    let last = &outbox["messages"][0];
    assert_eq!(last["to"], "owner@example.com");
    assert_eq!(last["status"], "outbox");
    assert!(
        last["text"]
            .as_str()
            .is_some_and(|t| t.contains("/_ferry/base44/reset-password?token=")),
        "{last}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.home.join("data/b44/outbox.jsonl"))
            .expect("outbox file")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the outbox holds codes: owner-only");

    // A restart serves the backend again; a rollback keeps it (the data stays).
    drop(server);
    let server = env.serve();
    let again = server.request("GET", &api("entities/Task/count"), None);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body.trim(), "{\"count\":2}");
    let (code, _, err) = env.ferry(&["rollback", "--json", "--app", "b44"]);
    assert_eq!(code, 0, "{err}");
    let back = server.request("GET", &api("entities/Task?sort=title"), None);
    assert_eq!(back.release.as_deref(), Some(v1_id.as_str()));
    let records = back.json();
    let titles: Vec<&str> = records
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(titles, ["first", "second"]);
}

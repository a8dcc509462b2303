//! Secrets end to end: a build secret the build uses but never emits, a runtime secret the
//! process reads and answers only a hash of; both reach their phase, neither appears in
//! plaintext under `$FERRY_HOME`, in a log or in an API response. Env scopes, the public-bundle
//! warning, frozen release envs (rollback, `--env-current`, a redeploy after `env set`) and
//! key rotation.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Env, Server, bin, need_node, wait_for};
use serde_json::Value;

const BUILD_SECRET: &str = "bld-7Qx2-never-in-plaintext";
const RUNTIME_VALUES: [&str; 4] = [
    "rt-one-4f1a9c-plaintext",
    "rt-two-8b2d3e-plaintext",
    "rt-three-5c6f7a-plaintext",
    "rt-four-9e0b1d-plaintext",
];

/// SHA-256 of `text`, hex (by `sha256sum`: the test needs no hashing crate).
fn sha256(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// A server app whose build checks BUILD_TOKEN against its hash (writing only `ok` or
/// `missing` into `built.txt`), and whose process answers `<version> built=<…> rt=<sha256 of
/// RUNTIME_TOKEN or none>` and logs the token (which the log must mask).
fn write_app(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"srv\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"server\"\ninstall = \"\"\nbuild = \"sh build.sh\"\n\n[[unit.process]]\nname = \"web\"\ncommand = \"node server.js\"\nhealth = \"/healthz\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        format!(
            "if [ \"$(printf %s \"$BUILD_TOKEN\" | sha256sum | cut -c1-64)\" = \"{}\" ]; then echo ok; else echo missing; fi > built.txt\n",
            sha256(BUILD_SECRET)
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("server.js"),
        format!(
            "const http = require('http');\nconst crypto = require('crypto');\nconst fs = require('fs');\nconst rt = process.env.RUNTIME_TOKEN;\nconsole.log('runtime token is ' + rt);\nconst built = fs.readFileSync('built.txt', 'utf8').trim();\nconst hash = rt === undefined ? 'none' : crypto.createHash('sha256').update(rt).digest('hex');\nhttp.createServer((req, res) => {{\n  res.end(req.url === '/healthz' ? 'ok' : '{version} built=' + built + ' rt=' + hash + ' bt=' + (process.env.BUILD_TOKEN === undefined ? 'absent' : 'present'));\n}}).listen(Number(process.env.PORT), '127.0.0.1');\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"srv\",\"private\":true}\n",
    )
    .expect("write");
}

/// `GET path` on the server's Unix socket: (status, body).
fn api(home: &Path, method: &str, path: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(home.join("ferry.sock")).expect("socket");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    )
    .expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(s));
    (status, body)
}

/// Everything the test saw: every CLI output and API answer, grepped at the end.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn ferry(&mut self, env: &Env, args: &[&str]) -> (i32, Value, String) {
        let (code, doc, err) = env.ferry(args);
        self.0.push_str(&format!("{doc}\n{err}\n"));
        (code, doc, err)
    }

    fn ok(&mut self, env: &Env, args: &[&str]) -> Value {
        let (code, doc, err) = self.ferry(env, args);
        assert_eq!(code, 0, "ferry {args:?}: {err}\n{doc}");
        doc
    }

    fn deploy(&mut self, env: &Env) -> Value {
        let app = env.app.to_str().expect("utf-8").to_string();
        self.ok(env, &["deploy", "--json", &app])
    }

    fn get(&mut self, server: &Server) -> String {
        let (status, _, body) = server.get("/");
        self.0.push_str(&format!("{body}\n"));
        assert_eq!(status, 200, "{body}");
        body
    }

    fn api(&mut self, env: &Env, path: &str) -> String {
        let (status, body) = api(&env.home, "GET", path);
        assert_eq!(status, 200, "{path}: {body}");
        self.0.push_str(&format!("{body}\n"));
        body
    }
}

/// `ferry env set …` with `stdin` piped in.
fn set_from_stdin(env: &Env, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env("FERRY_HOME", &env.home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("ferry");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every regular file under `dir`, recursively (links, sockets and pipes skipped).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            files(&entry.path(), out);
        } else if meta.is_file() {
            out.push(entry.path());
        }
    }
}

/// The files under `home` that hold `needle`.
fn holding(home: &Path, needle: &str) -> Vec<String> {
    let mut all = Vec::new();
    files(home, &mut all);
    assert!(all.len() > 10, "the grep would be vacuous: {all:?}");
    all.into_iter()
        .filter(|p| {
            std::fs::read(p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .map(|p| p.display().to_string())
        .collect()
}

fn expect_serving(seen: &mut Seen, server: &Server, version: &str, runtime: Option<&str>) {
    let want = format!(
        "{version} built=ok rt={} bt=absent",
        runtime.map_or_else(|| "none".to_string(), sha256)
    );
    let mut last = String::new();
    wait_for(&want, Duration::from_secs(30), || {
        last = seen.get(server);
        last == want
    });
    assert_eq!(last, want);
}

#[test]
fn build_and_runtime_secrets_reach_their_phase_and_nowhere_else() {
    need_node();
    let env = Env::new();
    let server = env.serve();
    let mut seen = Seen::default();
    let [one, two, three, four] = RUNTIME_VALUES;

    // The app exists after a first deploy (no secrets yet: the build finds none).
    write_app(&env.app, "v1");
    seen.deploy(&env);
    assert_eq!(seen.get(&server), "v1 built=missing rt=none bt=absent");

    // Scopes; the build secret from stdin (`NAME=-`); the public-bundle warning.
    let (code, out, err) = set_from_stdin(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--build",
            "--json",
            "BUILD_TOKEN=-",
        ],
        &format!("{BUILD_SECRET}\n"),
    );
    seen.0.push_str(&format!("{out}\n{err}\n"));
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["set"][0]["scope"], "build", "{doc}");
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(0), "{doc}");
    seen.ok(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--runtime",
            &format!("RUNTIME_TOKEN={one}"),
        ],
    );
    let (code, doc, err) = seen.ferry(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--build",
            "VITE_API_URL=https://api.example.test",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning:") && err.contains("VITE_") && err.contains("client code"),
        "the public-bundle warning: {err}"
    );
    assert!(
        doc.as_str().is_some_and(|t| t.contains("VITE_API_URL set")),
        "{doc}"
    );
    let doc = seen.ok(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--json",
            "NEXT_PUBLIC_X=1",
            "PLAIN=2",
        ],
    );
    let warnings = doc["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{doc}");
    assert!(
        warnings[0].as_str().unwrap_or("").contains("NEXT_PUBLIC_"),
        "{doc}"
    );
    let (_, _, err) = seen.ferry(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--runtime",
            "VITE_ONLY_SERVER=1",
        ],
    );
    assert!(!err.contains("warning"), "runtime-only: no warning: {err}");
    seen.ok(
        &env,
        &[
            "env",
            "unset",
            "--app",
            "srv",
            "NEXT_PUBLIC_X",
            "PLAIN",
            "VITE_ONLY_SERVER",
        ],
    );

    // The listing: names, scopes, fingerprints; the build endpoint: build-visible values only.
    let list = seen.ok(&env, &["env", "list", "--app", "srv", "--json"]);
    let vars = list["vars"].as_array().expect("vars");
    let scope_of = |name: &str| {
        vars.iter().find(|v| v["name"] == name).map(|v| {
            (
                v["scope"].clone(),
                v["fingerprint"].as_str().unwrap_or("").len(),
            )
        })
    };
    assert_eq!(
        scope_of("BUILD_TOKEN"),
        Some(("build".into(), 12)),
        "{list}"
    );
    assert_eq!(
        scope_of("RUNTIME_TOKEN"),
        Some(("runtime".into(), 12)),
        "{list}"
    );
    let table = seen.ok(&env, &["env", "list", "--app", "srv"]);
    assert!(
        table.as_str().is_some_and(|t| t.contains("FINGERPRINT")),
        "{table}"
    );
    let (status, build_env) = api(&env.home, "GET", "/api/v1/apps/srv/env/build");
    assert_eq!(status, 200, "{build_env}");
    assert!(
        build_env.contains(BUILD_SECRET),
        "the build gets its secret"
    );
    for value in RUNTIME_VALUES {
        assert!(
            !build_env.contains(value),
            "runtime values never leave the server"
        );
    }
    assert!(!build_env.contains("VITE_ONLY_SERVER"));

    // v2: the build used its secret (without emitting it), the process got the runtime one and
    // never the build-only one.
    write_app(&env.app, "v2");
    let v2 = seen.deploy(&env);
    let v2_id = v2["release_id"].as_str().expect("id").to_string();
    expect_serving(&mut seen, &server, "v2", Some(one));

    // v3 after a change: frozen with the new value.
    seen.ok(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--runtime",
            &format!("RUNTIME_TOKEN={two}"),
        ],
    );
    write_app(&env.app, "v3");
    let v3 = seen.deploy(&env);
    let v3_id = v3["release_id"].as_str().expect("id").to_string();
    expect_serving(&mut seen, &server, "v3", Some(two));

    // A rollback runs with the env v2 was deployed with…
    let back = seen.ok(&env, &["rollback", "--json", "--app", "srv"]);
    assert_eq!(back["release_id"].as_str(), Some(v2_id.as_str()), "{back}");
    expect_serving(&mut seen, &server, "v2", Some(one));
    // …and with --env-current, with today's.
    seen.ok(&env, &["promote", "--json", "--app", "srv", &v3_id]);
    expect_serving(&mut seen, &server, "v3", Some(two));
    seen.ok(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--runtime",
            &format!("RUNTIME_TOKEN={three}"),
        ],
    );
    let back = seen.ok(
        &env,
        &["rollback", "--json", "--app", "srv", "--env-current"],
    );
    assert_eq!(back["release_id"].as_str(), Some(v2_id.as_str()), "{back}");
    expect_serving(&mut seen, &server, "v2", Some(three));

    // Deploying the live release again after `env set`: the new value takes effect.
    seen.ok(&env, &["promote", "--json", "--app", "srv", &v3_id]);
    seen.ok(
        &env,
        &[
            "env",
            "set",
            "--app",
            "srv",
            "--runtime",
            &format!("RUNTIME_TOKEN={four}"),
        ],
    );
    let again = seen.deploy(&env);
    assert_eq!(
        again["release_id"].as_str(),
        Some(v3_id.as_str()),
        "{again}"
    );
    expect_serving(&mut seen, &server, "v3", Some(four));

    // The process log masks the runtime secret it printed.
    let logs = seen.ok(&env, &["logs", "--json", "--app", "srv"]);
    let lines = logs["lines"].as_array().expect("lines");
    assert!(
        lines.iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.starts_with("runtime token is "))),
        "{logs}"
    );

    // Key rotation: everything still opens, the audit chain still verifies, the app still
    // deploys with its secrets.
    let rotated = seen.ok(&env, &["env", "rotate-key", "--json"]);
    assert!(rotated["secrets"].as_u64().unwrap_or(0) >= 3, "{rotated}");
    assert!(rotated["frozen"].as_u64().unwrap_or(0) >= 2, "{rotated}");
    assert!(
        rotated.get("new_key").is_none(),
        "the key file was replaced: {rotated}"
    );
    let verify = seen.api(&env, "/api/v1/audit/verify");
    assert!(verify.contains("\"ok\":true"), "{verify}");
    let list_after = seen.ok(&env, &["env", "list", "--app", "srv", "--json"]);
    assert_eq!(
        list_after["vars"].as_array().map(Vec::len),
        Some(vars.len())
    );
    write_app(&env.app, "v4");
    seen.deploy(&env);
    expect_serving(&mut seen, &server, "v4", Some(four));

    // Every API answer a client sees.
    for path in [
        "/api/v1/status",
        "/api/v1/apps",
        "/api/v1/apps/srv/env",
        "/api/v1/apps/srv/releases",
        "/api/v1/apps/srv/processes",
        "/api/v1/apps/srv/logs?lines=10000",
        &format!("/api/v1/apps/srv/logs?lines=10000&release={v2_id}"),
        "/api/v1/audit",
        "/api/v1/audit/verify",
    ] {
        seen.api(&env, path);
    }

    // No plaintext anywhere: in the files (while the server runs, WAL included, and after it
    // stopped), in any answer or output.
    let mut secrets = vec![BUILD_SECRET];
    secrets.extend(RUNTIME_VALUES);
    for secret in &secrets {
        assert_eq!(holding(&env.home, secret), Vec::<String>::new(), "{secret}");
        assert!(!seen.0.contains(secret), "{secret} in an answer or output");
    }
    let ps = seen.ok(&env, &["ps", "--json", "--app", "srv"]);
    assert!(
        ps["processes"].as_array().is_some_and(|p| !p.is_empty()),
        "{ps}"
    );
    seen.ok(&env, &["down"]);
    drop(server);
    for secret in &secrets {
        assert_eq!(holding(&env.home, secret), Vec::<String>::new(), "{secret}");
    }
}

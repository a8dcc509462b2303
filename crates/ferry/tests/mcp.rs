//! The MCP server through the official MCP client SDK (`tests/mcp`, npm
//! `@modelcontextprotocol/sdk`, installed by `scripts/test`): a real `ferry serve` with two
//! organisations, then the Node suite drives `ferry mcp` (stdio, the machine's owner) and `/mcp`
//! (streamable HTTP, bearer tokens): tools and their annotations, inspect, plan, deploy jobs,
//! releases, rollback and promote refused without `confirm` and done with it (checked at the
//! edge's `x-ferry-release`), another organisation's token seeing nothing, 401 without a
//! token, and a planted secret value absent from every answer; a real `ferry db pull` of a
//! Base44 export into SQLite verified with `data_verify` and polled with `data_job` (stdio),
//! refused over HTTP; then the same verify through the API after a record was deleted from
//! the target fails and names the entity.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

use common::Env;
use serde_json::{Value, json};

const SECRET: &str = "planted-secret-value-123";

/// `POST path` with a JSON body on the server's socket (the machine's owner): the status.
fn local_post(env: &Env, path: &str, body: &Value) -> u16 {
    let mut s = UnixStream::connect(env.home.join("ferry.sock")).expect("socket");
    let text = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    )
    .expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// `method path` on the server's socket (the machine's owner): status and JSON answer.
fn local(env: &Env, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = UnixStream::connect(env.home.join("ferry.sock")).expect("socket");
    let text = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    )
    .expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(s));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A Base44 export folder of two `Task` records pulled into SQLite by `ferry db pull`: the
/// pull's job id and the target file.
fn pull_export(env: &Env) -> (String, std::path::PathBuf) {
    let target = env.pull_task_export(&env.app);
    let (status, jobs) = local(env, "GET", "/api/v1/jobs", None);
    assert_eq!(status, 200, "{jobs}");
    let job = &jobs["jobs"][0];
    assert_eq!(job["kind"], "pull", "{jobs}");
    assert_eq!(job["reverifiable"], true, "{jobs}");
    (job["id"].as_str().expect("id").to_string(), target)
}

/// Starts a verify of `pull` through the API and waits for its end: the job as answered.
fn verify_through_api(env: &Env, pull: &str) -> Value {
    let (status, started) = local(
        env,
        "POST",
        "/api/v1/jobs/verify",
        Some(&json!({ "job": pull })),
    );
    assert_eq!(status, 202, "{started}");
    let path = format!("/api/v1/jobs/{}", started["id"].as_str().expect("id"));
    let begun = std::time::Instant::now();
    loop {
        let (status, job) = local(env, "GET", &path, None);
        assert_eq!(status, 200, "{job}");
        if job["status"] != "running" {
            return job;
        }
        assert!(begun.elapsed().as_secs() < 60, "still running: {job}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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

fn token(env: &Env, org: &str, name: &str) -> String {
    let (code, doc, err) = env.ferry(&[
        "token", "create", name, "--json", "--org", org, "--scope", "admin",
    ]);
    assert_eq!(code, 0, "{err}");
    doc["token"].as_str().expect("token").to_string()
}

#[test]
fn the_official_mcp_client_drives_stdio_and_streamable_http() {
    common::need_node();
    let suite = ferry_test::workspace_root().join("tests/mcp");
    assert!(
        suite
            .join("node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "the MCP suite needs its npm packages: run `scripts/test` (it runs `npm ci` in tests/mcp)"
    );
    let env = Env::new();
    let roots = env.app.join("allowed");
    let outside = env.app.join("outside");
    write_static(&outside, "outside");
    let (stdio_dir, http_dir) = (roots.join("mcp-stdio"), roots.join("mcp-http"));
    write_static(&stdio_dir, "mcp-stdio");
    write_static(&http_dir, "mcp-http");
    let _server = env.serve_with(&[("FERRY_MCP_ROOTS", roots.to_str().expect("utf-8"))]);
    let info = env.server_info();
    for org in ["acme", "globex"] {
        let (code, _, err) = env.ferry(&["org", "create", org]);
        assert_eq!(code, 0, "{err}");
    }
    // The apps exist before their first deploy, with a secret each must never show.
    assert_eq!(
        local_post(&env, "/api/v1/apps", &json!({ "name": "mcp-stdio" })),
        200
    );
    assert_eq!(
        local_post(
            &env,
            "/api/v1/apps",
            &json!({ "name": "mcp-http", "org": "acme" })
        ),
        200
    );
    for app in ["mcp-stdio", "mcp-http"] {
        let (code, _, err) =
            env.ferry(&["env", "set", "--app", app, &format!("SECRET_X={SECRET}")]);
        assert_eq!(code, 0, "{err}");
    }
    let token_a = token(&env, "acme", "acme-agent");
    let token_b = token(&env, "globex", "globex-agent");
    let empty_home = env.app.join("no-server-home");
    let (pull, target) = pull_export(&env);

    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "mcp.test.mjs"])
        .current_dir(&suite)
        .env("FERRY_BIN", common::bin())
        .env("FERRY_HOME", &env.home)
        .env("EMPTY_HOME", &empty_home)
        .env(
            "MCP_URL",
            format!("http://{}/mcp", info["control"].as_str().expect("control")),
        )
        .env("EDGE", info["edge"].as_str().expect("edge"))
        .env("TOKEN_A", &token_a)
        .env("TOKEN_B", &token_b)
        .env("APP_STDIO", "mcp-stdio")
        .env("APP_HTTP", "mcp-http")
        .env("DIR_STDIO", &stdio_dir)
        .env("DIR_HTTP", &http_dir)
        .env("OUTSIDE", &outside)
        .env("SECRET", SECRET)
        .env("PULL_JOB", &pull)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The suite's report (durations per test), shown with `--nocapture`.
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the MCP suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("# pass 4"), "four tests passed:\n{stdout}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    // `ferry mcp` without a server never made one, nor a database.
    assert!(!empty_home.join("ferry.db").exists());

    // The verify really compares: a record deleted from the target fails it, naming the
    // entity, with the counts; the pull's own record stays as it was.
    let (_, before) = local(&env, "GET", &format!("/api/v1/jobs/{pull}"), None);
    let db = rusqlite::Connection::open(&target).expect("open the target");
    let table: String = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = 'task'",
            [],
            |r| r.get(0),
        )
        .expect("the Task table");
    let deleted = db
        .execute(&format!("DELETE FROM \"{table}\" WHERE id = 't2'"), [])
        .expect("delete");
    assert_eq!(deleted, 1);
    drop(db);
    let failed = verify_through_api(&env, &pull);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["kind"], "verify", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("differs for Task")),
        "{failed}"
    );
    let task = &failed["summary"]["entities"][0];
    assert_eq!(
        (task["records"].as_u64(), task["target_records"].as_u64()),
        (Some(2), Some(1)),
        "{failed}"
    );
    assert_eq!(task["ok"], false, "{failed}");
    let (_, after) = local(&env, "GET", &format!("/api/v1/jobs/{pull}"), None);
    assert_eq!(before, after, "the pull's record is untouched");
    // Neither a verify job nor a running one can be verified; an unknown job is 404; nothing
    // but a pull or URLs is accepted.
    let verify_id = failed["id"].as_str().expect("id");
    let (status, doc) = local(
        &env,
        "POST",
        "/api/v1/jobs/verify",
        Some(&json!({ "job": verify_id })),
    );
    assert_eq!(
        (status, doc["code"].as_str()),
        (409, Some("not-a-pull")),
        "{doc}"
    );
    let (status, doc) = local(
        &env,
        "POST",
        "/api/v1/jobs/verify",
        Some(&json!({ "job": "job_000000000000" })),
    );
    assert_eq!(status, 404, "{doc}");
    let (status, doc) = local(&env, "POST", "/api/v1/jobs/verify", Some(&json!({})));
    assert_eq!(
        (status, doc["code"].as_str()),
        (400, Some("verify-needs-job-or-urls")),
        "{doc}"
    );
    // Every start is audited as the owner's, with the verify job's id.
    let (_, audit) = local(&env, "GET", "/api/v1/audit?limit=1000", None);
    let starts: Vec<&Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "verify-data")
        .collect();
    assert!(
        starts.iter().any(|e| e["outcome"] == "ok"
            && e["after"] == verify_id
            && e["target"] == format!("job/{pull}")),
        "{audit}"
    );
    assert!(
        starts
            .iter()
            .any(|e| e["outcome"] == "failed" && e["detail"] == "not-a-pull"),
        "{audit}"
    );
    assert!(
        starts
            .iter()
            .any(|e| e["outcome"] == "refused" && e["token_id"].is_string()),
        "the HTTP refusal: {audit}"
    );
}

//! `ferry db pull --from base44-export:DIR` and `--from base44://APP_ID` through the real
//! binary: a generated export of 10,000 records across 5 entities (JSON, JSONC, CSV, one entity
//! without a schema, hand-written records with unicode, nulls, nested objects, arrays and dates,
//! plus three users) imports into SQLite and into a real PostgreSQL, verifies, reads back with
//! plain SQL and through the API of the deployed app; a live pull from a running ferry server
//! (the source app) into another app's database moves an uploaded file, reports unreachable
//! file URLs, and resumes after a stop between a batch's commit and its checkpoint without a
//! duplicate; bad tokens, unreachable hosts and broken files fail with one clear line.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use common::Env;
use ferry_test::pg::{Cluster, skip_if_unavailable};
use serde_json::{Value, json};

const APP_ID: &str = "67b2f0c41d9e3a0012c4d8e1";
const HAND_TASK: &str = "66aa00000000000000000001";

/// A Base44 app folder named `name` with these entity schema files.
fn write_app(dir: &Path, name: &str, entities: &[(&str, String)]) {
    std::fs::create_dir_all(dir.join("src/api")).expect("mkdir");
    std::fs::create_dir_all(dir.join("base44/entities")).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        format!("version = 1\nname = \"{name}\"\nbuilder = \"base44\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\nspa = true\n"),
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist\nmkdir -p dist\ncp index.html dist/\n",
    )
    .expect("write");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").expect("write");
    std::fs::write(
        dir.join("src/api/base44Client.js"),
        format!("import {{ createClient }} from '@base44/sdk';\nexport const base44 = createClient({{ appId: \"{APP_ID}\", requiresAuth: false }});\n"),
    )
    .expect("write");
    for (file, text) in entities {
        std::fs::write(dir.join("base44/entities").join(file), text).expect("write");
    }
}

/// The schema files of the export test (Tag has none: its schema is inferred).
fn schemas() -> Vec<(&'static str, String)> {
    let open = r#""rls": {"read": true, "create": true, "update": true, "delete": true}"#;
    vec![
        (
            "Task.jsonc",
            format!(
                r#"// tasks
{{"name": "Task", "type": "object", "properties": {{"title": {{"type": "string"}}, "done": {{"type": "boolean"}},
 "priority": {{"type": "integer"}}, "estimate": {{"type": "number"}}, "due": {{"type": "string", "format": "date"}},
 "tags": {{"type": "array"}}, "meta": {{"type": "object"}}}}, {open}}}"#
            ),
        ),
        (
            "Project.jsonc",
            format!(
                r#"{{"name": "Project", "properties": {{"name": {{"type": "string"}}, "budget": {{"type": "number"}}, "active": {{"type": "boolean"}}}}, {open}}}"#
            ),
        ),
        (
            "Comment.jsonc",
            format!(
                r#"{{"name": "Comment", "properties": {{"task_id": {{"type": "string"}}, "body": {{"type": "string"}}, "likes": {{"type": "integer"}}}}, {open}}}"#
            ),
        ),
        (
            "Invoice.jsonc",
            format!(
                r#"{{"name": "Invoice", "properties": {{"amount": {{"type": "number"}}, "issued": {{"type": "string", "format": "date"}},
 "paid_at": {{"type": "string", "format": "date-time"}}, "lines": {{"type": "array"}}, "customer": {{"type": "object"}}}}, {open}}}"#
            ),
        ),
    ]
}

fn id(prefix: u32, i: usize) -> String {
    format!("{prefix:08x}{i:016x}")
}

fn date(i: usize) -> String {
    // 2024-01-01T00:00:00Z plus i minutes, as Base44 writes it (microseconds, no zone).
    let secs = 1_704_067_200 + i as u64 * 60;
    let days = secs / 86_400;
    let (y, m, d) = ferry_edge::httpdate::civil(days as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The hand-written task as the export holds it, and as the API must answer it.
fn hand_task() -> (Value, Value) {
    let source = json!({
        "id": HAND_TASK, "created_date": "2024-03-01T10:20:30.456789",
        "updated_date": "2024-03-02T01:00:00+01:00", "created_by": "owner@example.com",
        "created_by_id": "u1", "title": "Ünïcødé ✓ — 日本語 🚀 \"quoted\"", "done": false,
        "priority": null, "estimate": 2.5, "due": "2024-02-29", "tags": ["a", "b", ""],
        "meta": {"nested": {"deep": [1, {"x": null}]}, "empty": {}}, "note": "kept in extra"
    });
    let served = json!({
        "id": HAND_TASK, "created_date": "2024-03-01T10:20:30.456Z",
        "updated_date": "2024-03-02T00:00:00.000Z", "created_by": "owner@example.com",
        "created_by_id": "u1", "title": "Ünïcødé ✓ — 日本語 🚀 \"quoted\"", "done": false,
        "estimate": 2.5, "due": "2024-02-29", "tags": ["a", "b", ""],
        "meta": {"nested": {"deep": [1, {"x": null}]}, "empty": {}}, "note": "kept in extra"
    });
    (source, served)
}

/// Writes the export: Task 4,000 (JSON), Project 500 (JSONC), Comment 3,000 (CSV), Tag 1,500
/// (JSON, no schema), Invoice 1,000 (JSON), User 3, and the schema folder `entities/`.
fn write_export(dir: &Path) {
    std::fs::create_dir_all(dir.join("entities")).expect("mkdir");
    for (file, text) in schemas() {
        std::fs::write(dir.join("entities").join(file), text).expect("write");
    }
    let (hand, _) = hand_task();
    let mut tasks = vec![hand];
    for i in 1..4000 {
        let mut t = json!({"id": id(1, i), "created_date": date(i), "updated_date": date(i + 1),
            "created_by": format!("user{}@example.com", i % 7), "title": format!("Task {i}"),
            "done": i % 3 == 0, "priority": i % 5, "estimate": i as f64 / 4.0,
            "tags": [format!("t{}", i % 10)], "meta": {"i": i}});
        if i % 100 == 0 {
            t["legacy"] = json!(format!("old-{i}"));
        }
        tasks.push(t);
    }
    std::fs::write(
        dir.join("task.json"),
        serde_json::to_string(&tasks).expect("json"),
    )
    .expect("write");
    let projects: Vec<Value> = (0..500)
        .map(|i| json!({"id": id(2, i), "created_date": date(i), "name": format!("Projekt «{i}»"), "budget": i * 1000, "active": i % 2 == 0}))
        .collect();
    std::fs::write(
        dir.join("project.jsonc"),
        format!(
            "// written by `base44 data pull`\n{}\n",
            serde_json::to_string_pretty(&projects).expect("json")
        ),
    )
    .expect("write");
    let mut csv = String::from("id,created_date,updated_date,created_by,task_id,body,likes\n");
    csv.push_str(&format!("{},2024-05-05T05:05:05.000Z,,ann@example.com,{HAND_TASK},\"Hello, \"\"world\"\"\nsecond line\",7\n", id(3, 0)));
    for i in 1..3000 {
        csv.push_str(&format!(
            "{},{},{},bob@example.com,{},comment {i},{}\n",
            id(3, i),
            date(i),
            date(i),
            id(1, i % 4000),
            i % 50
        ));
    }
    std::fs::write(dir.join("comment.csv"), csv).expect("write");
    let tags: Vec<Value> = (0..1500)
        .map(|i| {
            // weight: integers and fractions mixed → number; color: null sometimes.
            let weight = if i % 2 == 0 { json!(i) } else { json!(i as f64 + 0.5) };
            json!({"id": id(4, i), "created_date": date(i), "label": format!("tag-{i}"), "weight": weight, "color": if i % 3 == 0 { Value::Null } else { json!("red") }})
        })
        .collect();
    std::fs::write(
        dir.join("tag.json"),
        serde_json::to_string(&tags).expect("json"),
    )
    .expect("write");
    let invoices: Vec<Value> = (0..1000)
        .map(|i| json!({"id": id(5, i), "created_date": date(i), "amount": i as f64 * 1.25, "issued": "2024-06-30",
            "paid_at": format!("2024-07-01T12:00:{:02}Z", i % 60), "lines": [{"sku": "A", "qty": i % 4}],
            "customer": {"name": "Zoë", "vat": null}}))
        .collect();
    std::fs::write(
        dir.join("invoice.json"),
        serde_json::to_string(&invoices).expect("json"),
    )
    .expect("write");
    let users = json!([
        {"id": "u1", "email": "owner@example.com", "full_name": "Owner", "role": "admin", "created_date": date(0), "team": "core"},
        {"id": "u2", "email": "ann@example.com", "full_name": "Ann Ñ", "role": "user", "created_date": date(1)},
        {"id": "u3", "email": "bob@example.com", "full_name": null, "role": "user", "created_date": date(2)}
    ]);
    std::fs::write(dir.join("user.json"), users.to_string()).expect("write");
}

const COUNTS: &[(&str, &str, u64)] = &[
    ("Task", "task", 4000),
    ("Project", "project", 500),
    ("Comment", "comment", 3000),
    ("Tag", "tag", 1500),
    ("Invoice", "invoice", 1000),
    ("User", "user", 3),
];

/// Runs `ferry db pull --json …`: (exit code, the report or error line, stderr).
fn pull(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["db", "pull", "--json"])
        .args(args)
        .env("FERRY_HOME", &env.home)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_BASE44_TOKEN")
        .env_remove("FERRY_BASE44_API_URL");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        last,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_report(report: &Value, expected: &[(&str, &str, u64)]) {
    let entities = report["entities"].as_array().expect("entities");
    assert_eq!(entities.len(), expected.len(), "{report}");
    for (name, _, n) in expected {
        let e = entities
            .iter()
            .find(|e| e["entity"] == *name)
            .unwrap_or_else(|| panic!("{name} in {report}"));
        assert_eq!(e["records"], *n, "{name}: {e}");
        assert_eq!(e["target_records"], *n, "{name}: {e}");
        assert_eq!(e["checksum"], e["target_checksum"], "{name}: {e}");
        assert_eq!(e["ok"], true, "{name}: {e}");
    }
}

#[test]
fn an_export_of_10000_records_imports_into_sqlite_and_postgres_and_is_served() {
    let env = Env::new();
    let export = env.home.parent().expect("parent").join("export");
    write_export(&export);
    let from = format!("base44-export:{}", export.display());
    let inferred = env.home.parent().expect("parent").join("inferred");

    // SQLite: the app's default database.
    let (code, doc, err) = pull(
        &env,
        &[
            "--from",
            &from,
            "--app",
            "shop",
            "--write-schemas",
            inferred.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}\n{doc}");
    let report = &doc["report"];
    check_report(report, COUNTS);
    assert_eq!(report["inferred"], json!(["Tag"]), "{report}");
    let tag_schema =
        std::fs::read_to_string(inferred.join("Tag.jsonc")).expect("Tag.jsonc written");
    let tag_schema: Value =
        serde_json::from_str(&ferry_inspect::jsonc::strip(&tag_schema)).expect("json");
    assert_eq!(
        tag_schema["properties"],
        json!({"label": {"type": "string"}, "weight": {"type": "number"}, "color": {"type": "string"}})
    );
    let total: u64 = report["entities"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| e["records"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 10_003);

    let db = rusqlite::Connection::open(env.home.join("data/shop/base44.sqlite3")).expect("sqlite");
    for (_, table, n) in COUNTS {
        let rows: i64 = db
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(rows as u64, *n, "{table}");
    }
    let (title, done, priority, created, extra): (String, i64, Option<i64>, String, String) = db
        .query_row(
            "SELECT title, done, priority, created_date, extra FROM task WHERE id = ?1",
            [HAND_TASK],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("hand task");
    assert_eq!(title, "Ünïcødé ✓ — 日本語 🚀 \"quoted\"");
    assert_eq!((done, priority), (0, None));
    assert_eq!(created, "2024-03-01T10:20:30.456Z");
    assert_eq!(
        serde_json::from_str::<Value>(&extra).expect("extra"),
        json!({"note": "kept in extra"})
    );
    let body: String = db
        .query_row(
            "SELECT body FROM comment WHERE task_id = ?1",
            [HAND_TASK],
            |r| r.get(0),
        )
        .expect("comment");
    assert_eq!(body, "Hello, \"world\"\nsecond line");
    let no_password: i64 = db
        .query_row(
            "SELECT count(*) FROM \"user\" WHERE password_hash IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("users");
    assert_eq!(no_password, 3, "migrated users have no password");

    // A rerun of the finished pull copies nothing and verifies again.
    let (code, again, err) = pull(&env, &["--from", &from, "--app", "shop"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["report"]["already_done"], true);
    check_report(&again["report"], COUNTS);

    // The deployed app serves the hand-written record unchanged; Tag is served once its
    // inferred schema is committed with the app (an API serves the entities it declares).
    let mut app_schemas: Vec<(&str, String)> = schemas();
    app_schemas.push((
        "Tag.jsonc",
        std::fs::read_to_string(inferred.join("Tag.jsonc")).expect("read"),
    ));
    write_app(&env.app, "shop", &app_schemas);
    let mut server = env.serve();
    env.deploy().expect("deploy");
    server.host = "shop.localhost".into();
    let (status, _, body) = server.get(&format!("/api/apps/{APP_ID}/entities/Task/{HAND_TASK}"));
    assert_eq!(status, 200, "{body}");
    let (_, served) = hand_task();
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json"), served);
    let (status, _, body) = server.get(&format!(
        "/api/apps/{APP_ID}/entities/Tag?limit=1&sort=label"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")[0]["label"],
        "tag-0"
    );
    drop(server);

    // PostgreSQL: the same export into a throwaway cluster.
    if skip_if_unavailable("base44_pull postgres") {
        return;
    }
    let pg = Cluster::start().expect("cluster");
    pg.create_database("shop").expect("db");
    let url = pg.url("shop");
    let args = ["--from", from.as_str(), "--to", url.as_str()];
    // Stopped right after the first batch (Comment's) was committed, before its checkpoint.
    let (code, doc, err) = pull(&env, &args, &[("FERRY_TEST_FAIL_AFTER_PAGES", "1")]);
    assert_ne!(code, 0, "{doc}");
    assert_eq!(doc["error"]["code"], "interrupted", "{doc}\n{err}");
    assert_eq!(
        pg.psql("shop", "SELECT count(*) FROM comment")
            .expect("count"),
        "3000"
    );
    // Resumed: the redone batch's COPY meets its own ids, so it is inserted instead (known ids
    // skipped); every other batch is streamed with COPY.
    let (code, doc, err) = pull(&env, &args, &[]);
    assert_eq!(code, 0, "{err}\n{doc}");
    assert_eq!(doc["report"]["resumed"], true, "{doc}");
    check_report(&doc["report"], COUNTS);
    let batches = |key: &str| -> u64 {
        doc["report"]["entities"]
            .as_array()
            .expect("entities")
            .iter()
            .map(|e| e[key].as_u64().expect("a count"))
            .sum()
    };
    assert_eq!(batches("batches"), COUNTS.len() as u64, "{doc}");
    assert_eq!(batches("copied_batches"), batches("batches") - 1, "{doc}");
    for (_, table, n) in COUNTS {
        let rows = pg
            .psql("shop", &format!("SELECT count(*) FROM \"{table}\""))
            .expect("count");
        assert_eq!(rows, n.to_string(), "{table}");
    }
    let row = pg
        .psql(
            "shop",
            &format!("SELECT title, done, priority IS NULL, to_char(created_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), extra->>'note', meta->'nested'->'deep'->>0 FROM task WHERE id = '{HAND_TASK}'"),
        )
        .expect("row");
    assert_eq!(
        row,
        "Ünïcødé ✓ — 日本語 🚀 \"quoted\"|f|t|2024-03-01 10:20:30.456|kept in extra|1"
    );
    // Both databases hold the same records: the same checksums.
    let sqlite: Vec<Value> = report["entities"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| json!([e["entity"], e["checksum"]]))
        .collect();
    let postgres: Vec<Value> = doc["report"]["entities"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| json!([e["entity"], e["checksum"]]))
        .collect();
    assert_eq!(sqlite, postgres);
}

/// One HTTP/1.1 request to `edge` with `host`: (status, body).
fn http(
    edge: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(edge).expect("edge");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {edge}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = common::dechunk(&String::from_utf8_lossy(&body)).into_bytes();
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body)
}

fn json_call(edge: &str, method: &str, path: &str, token: Option<&str>, body: &Value) -> Value {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let (status, out) = http(edge, method, path, &headers, body.to_string().as_bytes());
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_live_pull_moves_records_and_files_resumes_and_fails_clearly() {
    let env = Env::new();
    let open = r#""rls": {"read": true, "create": true, "update": true, "delete": true}"#;
    let entities = vec![
        (
            "Task.jsonc",
            format!(
                r#"{{"name": "Task", "properties": {{"title": {{"type": "string"}}, "n": {{"type": "integer"}}, "attachment": {{"type": "string"}}}}, {open}}}"#
            ),
        ),
        (
            "Note.jsonc",
            format!(
                r#"{{"name": "Note", "properties": {{"text": {{"type": "string"}}}}, {open}}}"#
            ),
        ),
    ];
    write_app(&env.app, "src", &entities);
    let server = env.serve();
    env.deploy().expect("deploy");
    let edge = server.edge.clone();
    let api = |p: &str| format!("/api/apps/{APP_ID}/{p}");

    // An admin of the source app, and its token.
    json_call(
        &edge,
        "POST",
        &api("auth/register"),
        None,
        &json!({"email": "owner@example.com", "password": "correct horse 1"}),
    );
    let (code, _, err) = env.ferry(&["base44", "admin", "owner@example.com"]);
    assert_eq!(code, 0, "{err}");
    let login = json_call(
        &edge,
        "POST",
        &api("auth/login"),
        None,
        &json!({"email": "owner@example.com", "password": "correct horse 1"}),
    );
    let token = login["access_token"].as_str().expect("token").to_string();

    // Records: 1,200 tasks (3 pages of 500), 10 notes, an uploaded file and two dead URLs.
    for chunk in 0..2 {
        let batch: Vec<Value> = (0..600)
            .map(|i| json!({"title": format!("task {}", chunk * 600 + i), "n": chunk * 600 + i}))
            .collect();
        json_call(
            &edge,
            "POST",
            &api("entities/Task/bulk"),
            Some(&token),
            &Value::Array(batch),
        );
    }
    let notes: Vec<Value> = (0..10)
        .map(|i| json!({"text": format!("note {i} ✓")}))
        .collect();
    json_call(
        &edge,
        "POST",
        &api("entities/Note/bulk"),
        Some(&token),
        &Value::Array(notes),
    );
    let png: &[u8] = b"\x89PNG\r\n\x1a\nnot really a png, but bytes to compare";
    let mut form = Vec::new();
    form.extend_from_slice(b"--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"pixel.png\"\r\ncontent-type: image/png\r\n\r\n");
    form.extend_from_slice(png);
    form.extend_from_slice(b"\r\n--XyZ--\r\n");
    let auth = format!("Bearer {token}");
    let (status, up) = http(
        &edge,
        "POST",
        &api("integration-endpoints/Core/UploadFile"),
        &[
            ("content-type", "multipart/form-data; boundary=XyZ"),
            ("authorization", &auth),
        ],
        &form,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&up));
    let file_url = serde_json::from_slice::<Value>(&up).expect("json")["file_url"]
        .as_str()
        .expect("file_url")
        .to_string();
    assert!(
        file_url.contains("/_ferry/base44/files/public/"),
        "{file_url}"
    );
    let with_file = json_call(
        &edge,
        "POST",
        &api("entities/Task"),
        Some(&token),
        &json!({"title": "with file", "attachment": file_url}),
    );
    let missing = format!(
        "http://{edge}/_ferry/base44/files/public/00000000000000000000000000000000/gone.png"
    );
    let dead = json_call(
        &edge,
        "POST",
        &api("entities/Task"),
        Some(&token),
        &json!({"title": "dead links", "attachment": "http://127.0.0.1:1/unreachable.png", "gallery": [missing]}),
    );

    let base = format!("http://{edge}");
    let schemas = env.app.join("base44/entities");
    let args = [
        "--from",
        &format!("base44://{APP_ID}"),
        "--token",
        &token,
        "--base44-url",
        &base,
        "--schemas",
        schemas.to_str().expect("utf-8"),
        "--app",
        "dst",
    ];
    let args: Vec<&str> = args.to_vec();

    // Stopped right after the first batch (Note's) was committed, before any checkpoint.
    let (code, doc, err) = pull(&env, &args, &[("FERRY_TEST_FAIL_AFTER_PAGES", "1")]);
    assert_ne!(code, 0, "{doc}");
    assert_eq!(doc["error"]["code"], "interrupted", "{doc}\n{err}");

    // Resumed, and stopped after three committed batches (Note's again — its ids are skipped —
    // then two of Task's), before the last one's checkpoint.
    let (code, doc, err) = pull(&env, &args, &[("FERRY_TEST_FAIL_AFTER_PAGES", "3")]);
    assert_ne!(code, 0, "{doc}");
    assert_eq!(doc["error"]["code"], "interrupted", "{doc}\n{err}");
    let db = rusqlite::Connection::open(env.home.join("data/dst/base44.sqlite3")).expect("sqlite");
    let partial: i64 = db
        .query_row("SELECT count(*) FROM task", [], |r| r.get(0))
        .expect("count");
    assert_eq!(partial, 1000, "two batches of 500 were committed");

    // The rerun resumes: the redone batch adds nothing twice; counts and checksums match.
    let (code, doc, err) = pull(&env, &args, &[]);
    assert_eq!(code, 0, "{err}\n{doc}");
    let report = &doc["report"];
    assert_eq!(report["resumed"], true, "{report}");
    check_report(report, &[("Task", "task", 1202), ("Note", "note", 10)]);
    let rows: i64 = db
        .query_row("SELECT count(DISTINCT id) FROM task", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 1202);

    // The uploaded file was copied into dst's store and the value rewritten; the dead URLs
    // are reported and kept.
    assert_eq!(report["files"]["downloaded"], 1, "{report}");
    let attachment: String = db
        .query_row(
            "SELECT attachment FROM task WHERE id = ?1",
            [with_file["id"].as_str().expect("id")],
            |r| r.get(0),
        )
        .expect("row");
    let rest = attachment
        .strip_prefix("/_ferry/base44/files/public/")
        .unwrap_or_else(|| panic!("rewritten: {attachment}"));
    let file_id = rest.split('/').next().expect("id");
    let stored = std::fs::read(
        env.home
            .join("data/dst/files/public")
            .join(file_id)
            .join("data"),
    )
    .expect("stored file");
    assert_eq!(stored, png);
    let failed = report["files"]["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 2, "{report}");
    assert!(failed.iter().all(|f| f["id"] == dead["id"]), "{report}");
    assert!(failed.iter().any(|f| f["field"] == "attachment" && f["url"] == "http://127.0.0.1:1/unreachable.png"), "{report}");
    assert!(
        failed
            .iter()
            .any(|f| f["field"] == "gallery" && f["cause"] == "HTTP 404"),
        "{report}"
    );
    let kept: String = db
        .query_row(
            "SELECT attachment FROM task WHERE id = ?1",
            [dead["id"].as_str().expect("id")],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(kept, "http://127.0.0.1:1/unreachable.png");

    // A wrong token: 401, one line and a hint, nothing written.
    let mut bad = args.clone();
    bad[3] = "not-a-token";
    bad[9] = "other";
    let (code, doc, _) = pull(&env, &bad, &[]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["code"], "unauthorized", "{doc}");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .expect("hint")
            .contains("token"),
        "{doc}"
    );
    assert!(
        !env.home.join("data/other/base44.sqlite3").exists() || {
            let c = rusqlite::Connection::open(env.home.join("data/other/base44.sqlite3"))
                .expect("open");
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'task'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("q")
                == 0
        }
    );

    // An unreachable API.
    let mut down = args.clone();
    down[5] = "http://127.0.0.1:1";
    let (code, doc, _) = pull(&env, &down, &[]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["error"]["code"], "unreachable", "{doc}");

    // A broken export file names the file and the position.
    let export = env.home.parent().expect("parent").join("broken");
    std::fs::create_dir_all(&export).expect("mkdir");
    std::fs::write(
        export.join("task.json"),
        "[\n{\"id\": \"a\"},\n{\"id\": }\n]",
    )
    .expect("write");
    let (code, doc, _) = pull(
        &env,
        &[
            "--from",
            &format!("base44-export:{}", export.display()),
            "--app",
            "broken",
        ],
        &[],
    );
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["code"], "bad-export", "{doc}");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("task.json") && message.contains("line 3"),
        "{message}"
    );
}

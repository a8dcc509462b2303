//! The web dashboard (`/dashboard/` on the control listener) against a real server with a
//! server app deployed twice: sign-in with a token (a wrong one refused and audited), a POST
//! without the CSRF token or from another origin refused with nothing changed, another
//! organisation's token seeing none of the app, and then headless Chromium
//! (`tests/dashboard/dashboard.mjs`: playwright-core + axe-core) rolling back through the
//! confirmation page and visiting every page. A planted secret value appears in no response.
//! Screenshots go to `<target>/tmp/browser-shots/dashboard`. Needs what `scripts/test`
//! installs: chromium and tests/dashboard/node_modules.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{Env, need_node};
use serde_json::{Value, json};

const SECRET: &str = "planted-secret-value-123";

/// A node server that logs every request with the secret it was given (ferry masks it).
fn write_app(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"srv\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"server\"\ninstall = \"\"\nbuild = \"\"\n\n[[unit.process]]\nname = \"web\"\ncommand = \"node server.js\"\nhealth = \"/healthz\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("server.js"),
        format!(
            "const http = require('http');\nhttp.createServer((req, res) => {{\n  if (req.url !== '/healthz') console.log('{version}', req.method, req.url, 'secret=' + process.env.SECRET_X);\n  res.setHeader('content-type', 'text/plain');\n  res.end(req.url === '/healthz' ? 'ok' : '{version}');\n}}).listen(Number(process.env.PORT), '127.0.0.1');\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"srv\",\"private\":true}\n",
    )
    .expect("write");
}

/// One answer of the control listener.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with(&prefix)
                .then(|| l[prefix.len()..].trim().to_string())
        })
    }
}

/// One HTTP/1.1 exchange with the control listener; every body is checked for the secret.
fn http(
    control: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    form: Option<&str>,
) -> Answer {
    let mut s = std::net::TcpStream::connect(control).expect("control listener");
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {control}\r\nconnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = form {
        head.push_str(&format!(
            "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(form.unwrap_or_default().as_bytes())
        .expect("write");
    let raw = common::read_raw(s);
    let (status, head, body) = common::split_answer(&raw);
    assert!(
        !raw.contains(SECRET),
        "{method} {path} answered the planted secret:\n{raw}"
    );
    Answer {
        status,
        head: head.to_string(),
        body,
    }
}

/// The owner's API on the Unix socket.
fn local(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut s =
        std::os::unix::net::UnixStream::connect(env.home.join("ferry.sock")).expect("socket");
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        text.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(text.as_bytes()).expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(s));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn token(env: &Env, org: &str, name: &str, scope: &str) -> String {
    let (code, doc, err) = env.ferry(&[
        "token", "create", name, "--json", "--org", org, "--scope", scope,
    ]);
    assert_eq!(code, 0, "{err}");
    doc["token"].as_str().expect("token").to_string()
}

/// Signs in: the session cookie (`name=value`).
fn sign_in(control: &str, token: &str) -> String {
    let answer = http(
        control,
        "POST",
        "/dashboard/login",
        &[("origin", &format!("http://{control}"))],
        Some(&format!("token={token}")),
    );
    assert_eq!(answer.status, 303, "{}\n{}", answer.head, answer.body);
    let cookie = answer.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().expect("pair").to_string()
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    page[at + 19..]
        .split('"')
        .next()
        .expect("value")
        .to_string()
}

fn live(env: &Env) -> String {
    let (status, doc) = local(env, "GET", "/api/v1/apps/srv/releases", None);
    assert_eq!(status, 200, "{doc}");
    doc["live"]["release_id"]
        .as_str()
        .expect("live")
        .to_string()
}

/// `tests/dashboard`, after checking what its Node scripts need (node, chromium,
/// playwright-core, axe-core) is there.
fn dashboard_tools() -> std::path::PathBuf {
    need_node();
    let dir = ferry_test::workspace_root().join("tests/dashboard");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && dir.join("node_modules/axe-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the dashboard test needs chromium, playwright-core and axe-core: run `scripts/test` (it installs them)"
    );
    dir
}

/// A server with the organisations `orgs` and the app `srv` in `acme` holding the planted
/// secret: the server and its control listener's address.
fn serve_srv(env: &Env, orgs: &[&str]) -> (common::Server, String) {
    let server = env.serve();
    let control = env.control();
    for org in orgs {
        let (code, _, err) = env.ferry(&["org", "create", org]);
        assert_eq!(code, 0, "{err}");
    }
    let (status, doc) = local(
        env,
        "POST",
        "/api/v1/apps",
        Some(json!({ "name": "srv", "org": "acme" })),
    );
    assert_eq!(status, 200, "{doc}");
    let (code, _, err) = env.ferry(&["env", "set", "--app", "srv", &format!("SECRET_X={SECRET}")]);
    assert_eq!(code, 0, "{err}");
    (server, control)
}

#[test]
fn the_dashboard_signs_in_rolls_back_and_shows_every_page_safely() {
    let dir = dashboard_tools();
    let env = Env::new();
    let (server, control) = serve_srv(&env, &["acme", "globex"]);
    write_app(&env.app, "v1");
    let v1 = env.deploy().expect("v1 deploys")["release_id"]
        .as_str()
        .expect("id")
        .to_string();
    write_app(&env.app, "v2");
    let v2 = env.deploy().expect("v2 deploys")["release_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(v1, v2);
    assert_eq!(server.get("/").1.as_deref(), Some(v2.as_str()));
    let acme = token(&env, "acme", "acme-admin", "admin");
    let globex = token(&env, "globex", "globex-admin", "admin");

    // `/` leads to the dashboard, which leads to the sign-in page without a session; pages
    // carry a strict CSP.
    let root_page = http(&control, "GET", "/", &[], None);
    assert_eq!(root_page.header("location").as_deref(), Some("/dashboard/"));
    let anonymous = http(&control, "GET", "/dashboard/apps/srv", &[], None);
    assert_eq!(
        anonymous.header("location").as_deref(),
        Some("/dashboard/login")
    );
    let login = http(&control, "GET", "/dashboard/login", &[], None);
    assert_eq!(login.status, 200);
    assert!(
        login
            .header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'self'")),
        "{}",
        login.head
    );

    // A wrong token: 401, no session, and an audited refusal.
    let wrong = http(
        &control,
        "POST",
        "/dashboard/login",
        &[("origin", &format!("http://{control}"))],
        Some("token=fy_abcdef_notthesecret"),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.header("set-cookie").is_none());
    let (_, audit) = local(&env, "GET", "/api/v1/audit", None);
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "authenticate"
                && e["outcome"] == "refused"
                && e["token_id"] == "abcdef"),
        "{audit}"
    );

    // Signed in: a rollback POST without the CSRF token, or from another origin, is refused
    // and changes nothing.
    let cookie = sign_in(&control, &acme);
    let confirm = http(
        &control,
        "GET",
        &format!("/dashboard/apps/srv/confirm?action=rollback&release={v1}"),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm
            .body
            .contains(&format!("Roll back srv from {v2} to {v1}?")),
        "{}",
        confirm.body
    );
    let csrf = csrf_of(&confirm.body);
    let origin = format!("http://{control}");
    let no_csrf = http(
        &control,
        "POST",
        "/dashboard/apps/srv/activate",
        &[("cookie", &cookie), ("origin", &origin)],
        Some(&format!("action=rollback&release={v1}")),
    );
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let wrong_csrf = http(
        &control,
        "POST",
        "/dashboard/apps/srv/activate",
        &[("cookie", &cookie), ("origin", &origin)],
        Some(&format!("csrf=0000&action=rollback&release={v1}")),
    );
    assert_eq!(wrong_csrf.status, 403, "{}", wrong_csrf.body);
    let cross_site = http(
        &control,
        "POST",
        "/dashboard/apps/srv/activate",
        &[("cookie", &cookie), ("origin", "http://evil.example")],
        Some(&format!("csrf={csrf}&action=rollback&release={v1}")),
    );
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    assert_eq!(live(&env), v2, "a refused POST changed nothing");
    assert_eq!(server.get("/").1.as_deref(), Some(v2.as_str()));

    // Another organisation's token sees none of acme's app.
    let other = sign_in(&control, &globex);
    let apps = http(&control, "GET", "/dashboard/", &[("cookie", &other)], None);
    assert_eq!(apps.status, 200);
    assert!(!apps.body.contains("srv"), "{}", apps.body);
    for page in ["", "/releases", "/logs", "/env", "/findings"] {
        let answer = http(
            &control,
            "GET",
            &format!("/dashboard/apps/srv{page}"),
            &[("cookie", &other)],
            None,
        );
        assert_eq!(answer.status, 404, "{page}: {}", answer.body);
        assert!(
            !answer.body.contains(&v1) && !answer.body.contains(&v2),
            "{page}: {}",
            answer.body
        );
    }
    let forged = http(
        &control,
        "POST",
        "/dashboard/apps/srv/activate",
        &[("cookie", &other), ("origin", &origin)],
        Some(&format!(
            "csrf={}&action=rollback&release={v1}",
            csrf_of(&apps.body)
        )),
    );
    assert_eq!(forged.status, 404, "{}", forged.body);
    assert_eq!(live(&env), v2);

    // The pages the browser will see, fetched here too (the secret check is in `http`).
    for page in [
        "/dashboard/",
        "/dashboard/apps/srv",
        "/dashboard/apps/srv/releases",
        "/dashboard/apps/srv/logs",
        "/dashboard/apps/srv/logs/tail?process=web",
        "/dashboard/apps/srv/findings",
        "/dashboard/apps/srv/env",
        "/dashboard/audit?app=srv",
        "/dashboard/jobs",
    ] {
        let answer = http(&control, "GET", page, &[("cookie", &cookie)], None);
        assert!(
            answer.status == 200 || (page == "/dashboard/jobs" && answer.status == 403),
            "{page}: {} {}",
            answer.status,
            answer.body
        );
    }

    // The browser: sign in, roll back with the confirmation, every page.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots/dashboard");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .current_dir(&dir)
        .env("DASH_URL", format!("http://{control}"))
        .env("DASH_TOKEN", &acme)
        .env("DASH_APP", "srv")
        .env("EDGE", &server.edge)
        .env("FROM", &v2)
        .env("TO", &v1)
        .env("SECRET", SECRET)
        .env("SHOTS", &shots)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(live(&env), v1, "the browser's rollback is live");
    assert_eq!(server.get("/").1.as_deref(), Some(v1.as_str()));
    for name in [
        "apps", "app", "releases", "confirm", "logs", "findings", "env", "audit", "jobs",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    let bodies = std::fs::read_to_string(shots.join("bodies.txt")).expect("bodies");
    assert!(
        bodies.contains("Rolled back to"),
        "the browser saw the pages"
    );
    assert!(!bodies.contains(SECRET));
    // The rollback is audited as the token's.
    let (_, audit) = local(&env, "GET", "/api/v1/audit?app=srv", None);
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "activate"
                && e["actor"] == "token:acme-admin"
                && e["after"] == v1.as_str()),
        "{audit}"
    );
}

/// Every regular file under `dir` (the server's home: databases, logs, data).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

#[test]
fn an_owner_link_signs_in_once_and_the_owner_sees_real_data_jobs() {
    let dir = dashboard_tools();
    let env = Env::new();
    let (_server, control) = serve_srv(&env, &["acme"]);
    let origin = format!("http://{control}");
    let acme = token(&env, "acme", "acme-admin", "admin");

    // A real data job: a Base44 export folder pulled into SQLite by `ferry db pull`.
    env.pull_task_export(env.home.parent().expect("parent"));
    let (status, jobs) = local(&env, "GET", "/api/v1/jobs", None);
    assert_eq!(status, 200, "{jobs}");
    let job = jobs["jobs"][0].clone();
    let job_id = job["id"].as_str().expect("a job is recorded").to_string();
    let job_status = job["status"].as_str().expect("status").to_string();
    assert_eq!(job["kind"], "pull", "{job}");

    // `ferry dashboard` asks the local socket for a link; not a remote server.
    let (code, link, err) = env.ferry(&["dashboard", "--json"]);
    assert_eq!(code, 0, "{err}");
    let url = link["url"].as_str().expect("url").to_string();
    let prefix = format!("http://{control}/dashboard/owner?code=");
    let owner_code = url
        .strip_prefix(&prefix)
        .expect("the control listener's owner page");
    assert!(
        owner_code.len() == 64 && owner_code.bytes().all(|b| b.is_ascii_hexdigit()),
        "{url}"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let expires_at = link["expires_at"].as_u64().expect("expires_at");
    assert!(
        expires_at > now_ms + 100_000 && expires_at <= now_ms + 121_000,
        "{link}"
    );
    let (code, doc, _) = env.ferry(&["dashboard", "--json", "--server", "http://127.0.0.1:9"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["code"], "owner-link-remote", "{doc}");
    // Only the socket's owner gets a link: a token on the TCP listener is refused.
    let mut s = std::net::TcpStream::connect(&control).expect("control");
    s.write_all(
        format!("POST /api/v1/dashboard/owner-link HTTP/1.1\r\nhost: {control}\r\nauthorization: Bearer {acme}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(!raw.contains("code="), "{raw}");

    // GET only shows the confirmation (twice: nothing is spent), and sets no cookie.
    let path = &url[origin.len()..];
    for _ in 0..2 {
        let page = http(&control, "GET", path, &[], None);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.header("set-cookie").is_none());
        assert!(
            page.body
                .contains(&format!("name=\"code\" value=\"{owner_code}\"")),
            "{}",
            page.body
        );
    }
    assert_eq!(
        http(&control, "GET", "/dashboard/owner?code=nope", &[], None).status,
        400
    );
    // A code never issued: refused, no session, audited.
    let unknown = http(
        &control,
        "POST",
        "/dashboard/owner",
        &[("origin", &origin)],
        Some(&format!("code={}", "ab".repeat(32))),
    );
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert!(unknown.header("set-cookie").is_none());
    assert!(unknown.body.contains("ferry dashboard"), "{}", unknown.body);
    // From another origin: refused before the code is looked at (and it stays unspent).
    let cross = http(
        &control,
        "POST",
        "/dashboard/owner",
        &[("origin", "http://evil.example")],
        Some(&format!("code={owner_code}")),
    );
    assert_eq!(cross.status, 403, "{}", cross.body);

    // A token's session still may not list jobs, and is told how to get an owner link.
    let cookie = sign_in(&control, &acme);
    let jobs_page = http(
        &control,
        "GET",
        "/dashboard/jobs",
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(jobs_page.status, 403, "{}", jobs_page.body);
    assert!(
        jobs_page.body.contains("ferry dashboard"),
        "{}",
        jobs_page.body
    );
    assert!(!jobs_page.body.contains(&job_id), "{}", jobs_page.body);

    // The browser: open the link, confirm, see the job; the link does not work twice.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots/dashboard-owner");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(dir.join("owner.mjs"))
        .current_dir(&dir)
        .env("OWNER_URL", &url)
        .env("JOB_ID", &job_id)
        .env("JOB_STATUS", &job_status)
        .env("DASH_APP", "srv")
        .env("SECRET", SECRET)
        .env("SHOTS", &shots)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    for name in [
        "owner-confirm",
        "owner-apps",
        "owner-jobs",
        "owner-verify",
        "owner-spent",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    let bodies = std::fs::read_to_string(shots.join("bodies.txt")).expect("bodies");
    assert!(bodies.contains(&job_id) && !bodies.contains(SECRET));

    // The Verify button made a verify job of that pull, which matched; the pull is untouched;
    // the start is audited as the owner's session.
    let (_, jobs) = local(&env, "GET", "/api/v1/jobs", None);
    let verify = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["kind"] == "verify")
        .unwrap_or_else(|| panic!("a verify job in {jobs}"))
        .clone();
    let (status, verify) = local(
        &env,
        "GET",
        &format!("/api/v1/jobs/{}", verify["id"].as_str().expect("id")),
        None,
    );
    assert_eq!(status, 200, "{verify}");
    assert_eq!(verify["status"], "succeeded", "{verify}");
    assert_eq!(verify["summary"]["of"], job_id.as_str(), "{verify}");
    assert_eq!(
        verify["summary"]["entities"][0]["target_records"], 2,
        "{verify}"
    );
    let (_, pull) = local(&env, "GET", &format!("/api/v1/jobs/{job_id}"), None);
    assert_eq!(pull["updated_at"], job["updated_at"], "{pull}");
    assert_eq!(pull["status"], job["status"], "{pull}");

    // Spent: the same code is refused again.
    let spent = http(
        &control,
        "POST",
        "/dashboard/owner",
        &[("origin", &origin)],
        Some(&format!("code={owner_code}")),
    );
    assert_eq!(spent.status, 401, "{}", spent.body);
    assert!(spent.body.contains("already used"), "{}", spent.body);
    assert!(spent.header("set-cookie").is_none());

    // Audited: the link (as the local owner), the sign-in (from the browser's address), the
    // refusals; the code itself is nowhere on disk (databases, logs, data).
    let (_, audit) = local(&env, "GET", "/api/v1/audit?limit=1000", None);
    let entries = audit["entries"].as_array().expect("entries");
    let has = |action: &str, outcome: &str, actor: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["outcome"] == outcome
                && e["actor"] == actor
                && (action == "create-dashboard-owner-link" || e["source"] == "tcp:127.0.0.1")
        })
    };
    assert!(has("create-dashboard-owner-link", "ok", "local"), "{audit}");
    assert!(
        has("dashboard-owner-sign-in", "ok", "local/dashboard-owner"),
        "{audit}"
    );
    assert!(
        has("dashboard-owner-sign-in", "refused", "anonymous"),
        "{audit}"
    );
    assert!(has("verify-data", "ok", "local/dashboard-owner"), "{audit}");
    assert!(!audit.to_string().contains(owner_code), "{audit}");
    for file in files_under(&env.home) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(owner_code.len())
                .any(|w| w == owner_code.as_bytes()),
            "the owner code is in {}",
            file.display()
        );
    }

    // Wrong codes are throttled like wrong tokens (10 failures a minute per address).
    let mut last = 0;
    for _ in 0..12 {
        last = http(
            &control,
            "POST",
            "/dashboard/owner",
            &[("origin", &origin)],
            Some(&format!("code={}", "cd".repeat(32))),
        )
        .status;
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429, "wrong codes are throttled");
}

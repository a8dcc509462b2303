//! The whole Base44 app in a browser: `examples/base44-app` (the 2026 template: React + Vite,
//! `@base44/sdk` and `@base44/vite-plugin`, a `base44/` folder with entity schemas and a Deno
//! function) deployed with `ferry up`, then used in headless Chromium by
//! `tests/browser/base44-app.mjs`: two people sign up, sign out and in, create, list, edit and
//! delete notes through the app's UI, upload a picture and see it, see each other's writes
//! arrive live, and call the `noteStats` function. Then the rows are read back with plain SQL
//! from the app's database. Screenshots go to `<target>/tmp/browser-shots/base44-app`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the Deno the function needs is: `FERRY_DENO`, the copy the test setup installs from
/// npm, or `deno` on PATH.
fn deno() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FERRY_DENO") {
        return Some(PathBuf::from(path));
    }
    let root = ferry_test::workspace_root();
    let installed = ["tests/deno/node_modules/.bin/deno"]
        .iter()
        .map(|rel| root.join(rel))
        .find(|p| p.exists());
    installed.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("deno"))
                .find(|p| p.is_file())
        })
    })
}

/// The rows of the app's `Note` table, by title: (title, created_by, attachment_url).
fn notes(db: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(db).expect("open the app's database");
    let mut stmt = conn
        .prepare("SELECT title, created_by, attachment_url FROM note ORDER BY title")
        .expect("plain SQL on the note table");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_base44_app_works_in_a_real_browser() {
    let root = ferry_test::workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and playwright-core: run `scripts/test` (it installs both)"
    );
    let deno = deno().expect(
        "the function needs Deno: run `scripts/test` (it installs it from npm) or set FERRY_DENO",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let app = root.join("examples/base44-app");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots/base44-app");
    let _ = std::fs::remove_dir_all(&shots);
    let ferry_bin = env!("CARGO_BIN_EXE_ferry");
    let path = format!(
        "{}:{}",
        deno.parent().expect("deno's folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ferry = |args: &[&str]| {
        Command::new(ferry_bin)
            .args(args)
            .env("FERRY_HOME", &home)
            .env("FERRY_DENO", &deno)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs")
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let up = ferry(&common::up_args(app.to_str().expect("utf-8")));
    let browse = if up.status.success() {
        let report: serde_json::Value = serde_json::from_slice(&up.stdout).expect("up's report");
        assert_eq!(report["app"], "base44-app", "{}", text(&up));
        let port = common::up_port(&report)
            .unwrap_or_else(|| panic!("no port in the report's url {}", report["url"]));
        Ok(Command::new("node")
            .arg(browser_dir.join("base44-app.mjs"))
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&shots)
            .current_dir(&browser_dir)
            .output()
            .expect("node runs"))
    } else {
        Err(format!("ferry up failed:\n{}", text(&up)))
    };
    let logs = ferry(&["logs", "--app", "base44-app", "--lines", "80"]);
    let down = ferry(&["down"]);
    let browse = browse.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        browse.status.success(),
        "the app in the browser failed:\n{}\nferry logs:\n{}",
        text(&browse),
        text(&logs)
    );
    assert!(down.status.success(), "ferry down: {}", text(&down));

    // What the browser did is in the database, readable with plain SQL.
    let stdout = String::from_utf8_lossy(&browse.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary line from the browser script:\n{stdout}"));
    let alice = summary["people"]["alice"]
        .as_str()
        .expect("alice")
        .to_owned();
    let bob = summary["people"]["bob"].as_str().expect("bob").to_owned();
    let picture = summary["attachment_url"].as_str().expect("a picture url");
    let db = home.join("data/base44-app/base44.sqlite3");
    let rows = notes(&db);
    assert_eq!(
        rows,
        vec![
            (
                "Alpha plan v2".to_owned(),
                alice.clone(),
                Some(picture.to_owned())
            ),
            ("Gamma from Bob".to_owned(), bob.clone(), None),
        ],
        "the note table after the browser session (Beta idea was deleted)"
    );
    let conn = rusqlite::Connection::open(&db).expect("open");
    let mut users: Vec<String> = conn
        .prepare("SELECT email FROM \"user\" ORDER BY email")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .expect("users");
    users.sort();
    assert_eq!(users, vec![alice, bob]);
    // The uploaded picture is stored under the app's data folder (`public/<id>/data`), a PNG.
    let id = picture
        .split("/files/public/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("not a public file URL: {picture}"));
    let stored = home
        .join("data/base44-app/files/public")
        .join(id)
        .join("data");
    let bytes = std::fs::read(&stored).unwrap_or_else(|e| panic!("{}: {e}", stored.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

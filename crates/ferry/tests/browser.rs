//! A new user's first run: `ferry up` on the Lovable-shaped example builds the real Vite app
//! with npm (from the registry; `scripts/test` keeps npm's cache in the run's temp dir) and
//! serves it; headless Chromium (playwright-core driving the system chromium) loads it,
//! follows a client-side route, reloads there, opens a deep link, and sees no console error.
//! Needs what `scripts/test` installs: chromium and tests/browser/node_modules.

mod common;

use std::process::Command;

#[test]
fn ferry_up_serves_the_lovable_example_to_a_real_browser() {
    let root = ferry_test::workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and playwright-core: run `scripts/test` (it installs both)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let example = root.join("examples/lovable-todo");
    let ferry = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env("FERRY_HOME", &home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs")
    };
    let up = ferry(&common::up_args(example.to_str().expect("utf-8")));
    let stderr = String::from_utf8_lossy(&up.stderr).into_owned();
    assert!(
        up.status.success(),
        "ferry up failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&up.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&up.stdout).expect("json report");
    let url = report["url"].as_str().expect("url").to_string();
    let release = report["release_id"].as_str().expect("release").to_string();
    assert_eq!(report["app"], "lovable-todo");

    let node = Command::new("node")
        .arg(browser_dir.join("spa.mjs"))
        .arg(&url)
        .arg(&release)
        .current_dir(&browser_dir)
        .output()
        .expect("node runs");
    let down = ferry(&["down"]);
    assert!(
        node.status.success(),
        "browser check failed:\n{}\n{}",
        String::from_utf8_lossy(&node.stdout),
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(down.status.success());
}

/// ferry's Base44 sign-in pages (`/_ferry/base44/…`) in headless Chromium, on the SDK suite's
/// app deployed with `ferry up`: `tests/browser/base44-login.mjs` signs up, signs in (a wrong
/// password first), refuses a foreign `from_url`, resets a forgotten password through the
/// outbox and follows the logout redirect; then, with `FERRY_BASE44_VERIFY_EMAIL=true`
/// redeployed, signs up and in with the emailed code. Screenshots of every state go to
/// `<target>/tmp/browser-shots/base44-login`.
#[test]
fn base44_sign_in_pages_work_in_a_real_browser() {
    let root = ferry_test::workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and playwright-core: run `scripts/test` (it installs both)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let app = root.join("tests/base44-sdk/app");
    let app_id = "b24009b9b375185f150b9587";
    let shots =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots/base44-login");
    let _ = std::fs::remove_dir_all(&shots);
    let ferry_bin = env!("CARGO_BIN_EXE_ferry");
    let ferry = |args: &[&str]| {
        Command::new(ferry_bin)
            .args(args)
            .env("FERRY_HOME", &home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs")
    };
    // `ferry up` (the server starts with the first): the edge's address, or what went wrong.
    let up = || -> Result<String, String> {
        let out = ferry(&common::up_args(app.to_str().expect("utf-8")));
        let failed = || {
            format!(
                "ferry up failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            )
        };
        if !out.status.success() {
            return Err(failed());
        }
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|_| failed())?;
        if report["app"] != "sdk-suite" {
            return Err(failed());
        }
        let port = common::up_port(&report)
            .ok_or_else(|| format!("no port in the report's url {}", report["url"]))?;
        Ok(format!("http://127.0.0.1:{port}"))
    };
    let outbox_cmd = format!("'{ferry_bin}' outbox --app sdk-suite --json");
    let browse = |edge: &str, verify_email: bool| {
        Command::new("node")
            .arg(browser_dir.join("base44-login.mjs"))
            .arg(edge)
            .arg(app_id)
            .arg(&shots)
            .current_dir(&browser_dir)
            .env("FERRY_HOME", &home)
            .env("OUTBOX_CMD", &outbox_cmd)
            .env("BASE44_VERIFY_EMAIL", if verify_email { "1" } else { "0" })
            .output()
            .expect("node runs")
    };
    let report = |what: &str, out: &std::process::Output| {
        format!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let edge = up().unwrap_or_else(|e| panic!("{e}"));
    let plain = browse(&edge, false);
    // The emailed-code mode is a setting: `ferry up` again rebuilds the live release with it.
    let verify = if plain.status.success() {
        let set = ferry(&[
            "env",
            "--app",
            "sdk-suite",
            "set",
            "FERRY_BASE44_VERIFY_EMAIL=true",
        ]);
        if set.status.success() {
            up().map(|edge| browse(&edge, true))
        } else {
            Err(report("ferry env set", &set))
        }
    } else {
        Err("not run: the first scenario failed".to_owned())
    };
    let down = ferry(&["down"]);
    assert!(
        plain.status.success(),
        "{}",
        report("the sign-in pages", &plain)
    );
    let verify = verify.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        verify.status.success(),
        "{}",
        report("the emailed-code sign-in", &verify)
    );
    assert!(down.status.success(), "{}", report("ferry down", &down));
    print!("{}", String::from_utf8_lossy(&plain.stdout));
    print!("{}", String::from_utf8_lossy(&verify.stdout));
}

/// The Replit-style Express example (`examples/express-app`, a server unit) through `ferry up`:
/// `npm ci` installs express during the build, the release runs as a supervised `node` process
/// behind the edge, and headless Chromium (`tests/browser/express.mjs`) sees the page render the
/// items fetched from `/api/items` with no console error (screenshot in
/// `<target>/tmp/browser-shots/express`). Then `APP_VERSION=v2` set and redeployed answers v2,
/// and a rollback within the warm window switches back to v1 in under 50 ms on the server.
#[test]
fn the_express_example_serves_a_real_browser_and_rolls_back_warm() {
    let root = ferry_test::workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and playwright-core: run `scripts/test` (it installs both)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let example = root.join("examples/express-app");
    let example = example.to_str().expect("utf-8");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots/express");
    let _ = std::fs::remove_dir_all(&shots);
    let ferry = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env("FERRY_HOME", &home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs")
    };
    let report = |what: &str, out: &std::process::Output| {
        format!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let json = |what: &str, out: &std::process::Output| -> Result<serde_json::Value, String> {
        if !out.status.success() {
            return Err(report(what, out));
        }
        serde_json::from_slice(&out.stdout).map_err(|_| report(what, out))
    };

    let up = ferry(&common::up_args(example));
    // Everything after `ferry up` runs in a closure so that `ferry down` always follows.
    let checks = || -> Result<f64, String> {
        let up = json("ferry up", &up)?;
        if up["app"] != "express-app" {
            return Err(format!("ferry up deployed another app: {up}"));
        }
        let v1 = up["release_id"].as_str().unwrap_or_default().to_string();
        let port = common::up_port(&up)
            .ok_or_else(|| format!("no port in the report's url {}", up["url"]))?;
        let edge = format!("127.0.0.1:{port}");

        let node = Command::new("node")
            .arg(browser_dir.join("express.mjs"))
            .arg(format!("http://{edge}"))
            .arg(&shots)
            .current_dir(&browser_dir)
            .output()
            .expect("node runs");
        if !node.status.success() {
            return Err(report("the browser check", &node));
        }
        print!("{}", String::from_utf8_lossy(&node.stdout));
        let (release, body) = get_items(&edge);
        if release.as_deref() != Some(v1.as_str()) || !body.contains(r#""release":"v1""#) {
            return Err(format!("v1's /api/items came from {release:?}: {body}"));
        }

        // A second release: the env names are part of the release, so this one differs.
        let set = ferry(&["env", "set", "APP_VERSION=v2"]);
        if !set.status.success() {
            return Err(report("ferry env set", &set));
        }
        let v2 = json("ferry deploy", &ferry(&["deploy", "--json", example]))?;
        let v2 = v2["release_id"].as_str().unwrap_or_default().to_string();
        if v2.is_empty() || v2 == v1 {
            return Err(format!("the second deploy is not a new release: {v2:?}"));
        }
        let (release, body) = get_items(&edge);
        if release.as_deref() != Some(v2.as_str()) || !body.contains(r#""release":"v2""#) {
            return Err(format!("v2's /api/items came from {release:?}: {body}"));
        }

        // v1 is still warm: the rollback is a pointer move, and v1 answers right after.
        let rollback = json(
            "ferry rollback",
            &ferry(&["rollback", "--json", "--app", "express-app"]),
        )?;
        let (release, body) = get_items(&edge);
        if rollback["release_id"] != v1.as_str() {
            return Err(format!("rolled back to another release: {rollback}"));
        }
        if release.as_deref() != Some(v1.as_str()) || !body.contains(r#""release":"v1""#) {
            return Err(format!(
                "after the rollback /api/items came from {release:?}: {body}"
            ));
        }
        rollback["server_micros"]
            .as_f64()
            .map(|micros| micros / 1000.0)
            .ok_or_else(|| format!("no server_micros in {rollback}"))
    };
    let outcome = checks();
    let down = ferry(&["down"]);
    let switch_ms = outcome.unwrap_or_else(|e| panic!("{e}"));
    println!("rollback of the Express example: switched in {switch_ms:.3} ms on the server");
    assert!(
        switch_ms < 50.0,
        "the warm rollback took {switch_ms} ms on the server"
    );
    assert!(down.status.success(), "{}", report("ferry down", &down));
}

/// `GET /api/items` on the edge: (x-ferry-release, body).
fn get_items(edge: &str) -> (Option<String>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(edge).expect("edge answers");
    write!(
        s,
        "GET /api/items HTTP/1.1\r\nhost: {edge}\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let release = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-ferry-release")
            .then(|| value.trim().to_string())
    });
    (release, body.to_string())
}

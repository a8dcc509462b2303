//! The human output of the CLI, snapshotted (review changes with `cargo insta review`).

use std::process::Command;

fn ferry(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(ferry_test::workspace_root())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .expect("ferry runs");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help() {
    insta::assert_snapshot!(ferry(&["--help"]));
}

#[test]
fn inspect_lovable() {
    insta::assert_snapshot!(ferry(&["inspect", "tests/fixtures/apps/lovable-classic"]));
}

#[test]
fn inspect_monorepo() {
    insta::assert_snapshot!(ferry(&[
        "inspect",
        "tests/fixtures/apps/emergent-fastapi-react"
    ]));
}

#[test]
fn plan_server_unit() {
    insta::assert_snapshot!(ferry(&["plan", "tests/fixtures/apps/replit-fullstack-js"]));
}

#[test]
fn plan_base44_functions() {
    insta::assert_snapshot!(ferry(&["plan", "tests/fixtures/apps/base44-full"]));
}

#[test]
fn bad_input() {
    insta::assert_snapshot!(ferry(&["inspect", "tests/fixtures/does-not-exist"]));
}

//! `ferry inspect` and `ferry plan` on good input, through the real binary: folders, zips and
//! git repositories (cloned over `file://`).

use std::path::Path;
use std::process::Command;

fn ferry(args: &[&str], tmp: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .output()
        .expect("ferry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    ferry_test::fixtures::apps_dir()
        .join(name)
        .display()
        .to_string()
}

#[test]
fn inspect_prints_a_readable_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, out, err) = ferry(&["inspect", &fixture("bolt-classic")], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("builder   Bolt.new  high confidence"), "{out}");
    assert!(out.contains(".bolt/config.json"), "{out}");
    assert!(out.contains("install  npm ci"), "{out}");
    assert!(out.contains("build    npm run build"), "{out}");
}

#[test]
fn inspect_json_is_a_versioned_profile() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, out, err) = ferry(&["inspect", "--json", &fixture("bolt-classic")], tmp.path());
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["schema"], "ferry.app-profile");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["builder"]["id"], "bolt");
    assert_eq!(doc["units"][0]["output"], "dist");
}

#[test]
fn a_zip_export_is_extracted_and_cleaned_up() {
    let tmp = tempfile::tempdir().expect("tmp");
    let inputs = tempfile::tempdir().expect("inputs");
    let zip = inputs.path().join("export.zip");
    ferry_test::hostile::valid_zip(&zip);
    let (code, out, err) = ferry(
        &["inspect", "--json", zip.to_str().expect("utf-8")],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"]["kind"], "zip");
    assert_eq!(doc["name"], "zipped-app");
    assert_eq!(doc["units"][0]["framework"], "vite");
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("read").count(),
        0,
        "temp folder removed"
    );
}

#[test]
fn a_git_repository_is_cloned_and_its_history_read() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tempfile::tempdir().expect("repo");
    let root = repo.path().join("my-v0-thing");
    std::fs::create_dir_all(root.join("app")).expect("mkdir");
    std::fs::write(
        root.join("package.json"),
        r#"{"name":"renamed","scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"15.1.0"}}"#,
    )
    .expect("write");
    std::fs::write(
        root.join("app/page.tsx"),
        "export default function P() { return null }",
    )
    .expect("write");
    ferry_test::git::run(&root, &["init", "-q", "-b", "main"]);
    ferry_test::git::run(&root, &["add", "-A"]);
    ferry_test::git::commit(
        &root,
        "v0",
        "v0[bot]@users.noreply.github.com",
        "Initial commit",
    );
    let url = format!("file://{}", root.display());
    let (code, out, err) = ferry(&["inspect", "--json", &url], tmp.path());
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"]["kind"], "git");
    assert_eq!(doc["builder"]["id"], "v0");
    assert_eq!(doc["builder"]["from_history_only"], true);
    assert_eq!(doc["history"]["commits"], 1);
    assert_eq!(doc["units"][0]["framework"], "nextjs");
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("read").count(),
        0,
        "clone removed"
    );
}

#[test]
fn plan_prints_each_unit_and_filters_by_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, out, err) = ferry(
        &["plan", "--json", &fixture("emergent-fastapi-react")],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let plans: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    let names: Vec<&str> = plans.iter().filter_map(|p| p["unit"].as_str()).collect();
    assert_eq!(names, ["backend", "frontend"]);
    assert_eq!(plans[1]["output"], "frontend/build");
    assert_eq!(plans[1]["steps"][0]["name"], "install");

    let (code, out, _) = ferry(
        &[
            "plan",
            "--unit",
            "backend",
            &fixture("emergent-fastapi-react"),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0);
    assert!(out.contains("uvicorn server:app"), "{out}");
    assert!(!out.contains("frontend"), "{out}");

    let (code, _, err) = ferry(
        &["plan", "--unit", "nope", &fixture("emergent-fastapi-react")],
        tmp.path(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no unit named `nope`") && err.contains("hint: units: backend, frontend"),
        "{err}"
    );
}

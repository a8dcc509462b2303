//! The full report through the real binary: secret values never appear in any output,
//! `--fail-on` sets the exit code, `--write` writes a `ferry.toml` that round-trips.

use std::path::Path;
use std::process::Command;

fn ferry(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("ferry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let mut checked = 0;
    for fx in ferry_test::fixtures::all() {
        let values: Vec<&String> = fx
            .expected
            .secret
            .iter()
            .filter_map(|s| s.value.as_ref())
            .collect();
        if values.is_empty() {
            continue;
        }
        let m = fx.materialize();
        let root = m.root.display().to_string();
        for args in [
            vec!["inspect", "--all", &root],
            vec!["inspect", "--json", &root],
            vec!["plan", "--json", &root],
        ] {
            let (_, out, err) = ferry(&args, m.temp.path());
            for value in &values {
                // Even a long slice of the value must not appear.
                let probe: String = value.chars().skip(4).take(16).collect();
                assert!(
                    !out.contains(probe.as_str()),
                    "{}: {args:?} printed a secret",
                    fx.name
                );
                assert!(
                    !err.contains(probe.as_str()),
                    "{}: {args:?} logged a secret",
                    fx.name
                );
            }
        }
        checked += values.len();
    }
    assert!(checked >= 5, "only {checked} secret values checked");
}

#[test]
fn fail_on_turns_findings_into_exit_code_1() {
    let app = ferry_test::fixtures::apps_dir().join("lovable-classic");
    let app = app.to_str().expect("utf-8");
    let cwd = ferry_test::workspace_root();
    let (code, out, err) = ferry(&["inspect", "--fail-on", "critical", app], &cwd);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("findings"), "the report is still printed");
    assert!(err.contains("at or above `critical`"), "{err}");
    let (code, _, _) = ferry(&["inspect", "--json", "--fail-on", "critical", app], &cwd);
    assert_eq!(code, 1);

    let clean = ferry_test::fixtures::apps_dir().join("static-html");
    let (code, _, err) = ferry(
        &[
            "inspect",
            "--fail-on",
            "high",
            clean.to_str().expect("utf-8"),
        ],
        &cwd,
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn write_creates_a_manifest_that_round_trips() {
    let fx = ferry_test::fixtures::all()
        .into_iter()
        .find(|f| f.name == "emergent-fastapi-react")
        .expect("fixture");
    let m = fx.materialize();
    let root = m.root.display().to_string();
    let (code, before, err) = ferry(&["inspect", "--json", &root], m.temp.path());
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ferry(&["inspect", "--write", &root], m.temp.path());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote"), "{err}");
    let text = std::fs::read_to_string(m.root.join("ferry.toml")).expect("written");
    ferry_inspect::Manifest::parse(&text).expect("the written manifest parses");

    let (code, after, err) = ferry(&["inspect", "--json", &root], m.temp.path());
    assert_eq!(code, 0, "{err}");
    let before: serde_json::Value = serde_json::from_str(&before).expect("json");
    let after: serde_json::Value = serde_json::from_str(&after).expect("json");
    for key in ["name", "units"] {
        let strip = |v: &serde_json::Value| {
            let mut v = v[key].clone();
            if let Some(units) = v.as_array_mut() {
                for u in units {
                    u["declared"] = serde_json::json!(null);
                    u["evidence"] = serde_json::json!(null);
                }
            }
            v
        };
        assert_eq!(strip(&before), strip(&after), "{key} changed after --write");
    }
    assert_eq!(after["builder"]["confidence"], "declared");

    let (code, _, err) = ferry(&["inspect", "--write", &root], m.temp.path());
    assert_eq!(code, 2, "never overwrites: {err}");
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn write_refuses_temporary_sources() {
    let inputs = tempfile::tempdir().expect("tmp");
    let zip = inputs.path().join("export.zip");
    ferry_test::hostile::valid_zip(&zip);
    let (code, out, err) = ferry(
        &["inspect", "--write", zip.to_str().expect("utf-8")],
        inputs.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("`--write` needs a folder"), "{err}");
}

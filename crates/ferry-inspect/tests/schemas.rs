//! The JSON Schemas committed under `docs/formats/` are exactly what the code produces.
//! Regenerate with `FERRY_UPDATE_SCHEMAS=1 cargo test -p ferry-inspect --test schemas`.

fn check(file: &str, schema: serde_json::Value) {
    let path = ferry_test::workspace_root().join("docs/formats").join(file);
    let text = format!("{}\n", serde_json::to_string_pretty(&schema).expect("json"));
    if std::env::var_os("FERRY_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &text).expect("write schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{file} is out of date: run `FERRY_UPDATE_SCHEMAS=1 cargo test -p ferry-inspect --test schemas`"
    );
}

#[test]
fn app_profile_schema_is_current() {
    check("app-profile.schema.json", ferry_inspect::profile_schema());
}

#[test]
fn build_plan_schema_is_current() {
    check("build-plan.schema.json", ferry_inspect::plan_schema());
}

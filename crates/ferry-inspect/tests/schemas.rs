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

fn committed_schema() -> serde_json::Value {
    let path = ferry_test::workspace_root().join("docs/formats/app-profile.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("schema json")
}

fn profile_of(fixture: &str) -> serde_json::Value {
    let fx = ferry_test::fixtures::all()
        .into_iter()
        .find(|f| f.name == fixture)
        .expect("fixture exists");
    let m = fx.materialize();
    let root = m.root.display().to_string();
    let mut source =
        ferry_source::acquire(&root, &Default::default(), &mut |_| {}).expect("acquire");
    source.read_added_lines().expect("history");
    let inspection =
        ferry_inspect::inspect(source.input(ferry_inspect::Scope::Full)).expect("inspect");
    serde_json::to_value(&inspection.profile).expect("json")
}

#[test]
fn every_profile_validates_against_the_documented_schema() {
    let validator = jsonschema::validator_for(&committed_schema()).expect("valid schema");
    let mut checked = 0;
    for fx in ferry_test::fixtures::all() {
        if fx.expected.error.is_some() {
            continue;
        }
        let profile = profile_of(&fx.name);
        let errors: Vec<String> = validator
            .iter_errors(&profile)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", fx.name);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} profiles checked");
}

#[test]
fn the_schema_rejects_what_it_does_not_describe() {
    let validator = jsonschema::validator_for(&committed_schema()).expect("valid schema");
    let good = profile_of("lovable-classic");
    assert!(validator.is_valid(&good));

    let mut extra_top = good.clone();
    extra_top["surprise"] = serde_json::json!(1);
    assert!(
        !validator.is_valid(&extra_top),
        "unknown top-level property accepted"
    );

    let mut extra_nested = good.clone();
    extra_nested["builder"]["evidence"][0]["secret_value"] = serde_json::json!("sk_live_…");
    assert!(
        !validator.is_valid(&extra_nested),
        "unknown nested property accepted"
    );

    let mut bad_enum = good.clone();
    bad_enum["builder"]["id"] = serde_json::json!("lovable-ish");
    assert!(
        !validator.is_valid(&bad_enum),
        "unknown builder id accepted"
    );

    let mut missing = good;
    missing.as_object_mut().expect("object").remove("findings");
    assert!(
        !validator.is_valid(&missing),
        "missing required field accepted"
    );
}

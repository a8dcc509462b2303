//! The fixture corpus: every app under `tests/fixtures/apps/` meets its hand-written
//! `expected.toml`, and its whole profile matches a reviewed snapshot.

use ferry_inspect::profile::{AppProfile, Confidence, EvidenceKind, UnitKind};
use ferry_inspect::{InspectError, Inspection};
use ferry_test::expected::{Expected, ExpectedUnit};
use ferry_test::fixtures::{self, Fixture};

fn inspect(fx: &Fixture) -> Result<Inspection, InspectError> {
    let m = fx.materialize();
    let root = m.root.display().to_string();
    let source = ferry_source::acquire(&root, &Default::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: acquire: {e}", fx.name));
    ferry_inspect::inspect(ferry_inspect::Input {
        root: &source.root,
        source: source.info.clone(),
        source_name: source.name.clone(),
        history: source.history.as_ref(),
        warnings: source.warnings.clone(),
    })
}

#[test]
fn the_corpus_is_large_enough() {
    let all = fixtures::all();
    assert!(all.len() >= 20, "only {} fixtures", all.len());
    for id in [
        "lovable", "bolt", "base44", "replit", "emergent", "v0", "none",
    ] {
        assert!(
            all.iter()
                .any(|f| f.expected.builder.as_ref().is_some_and(|b| b.id == id)),
            "no fixture for builder {id}"
        );
    }
}

#[test]
fn every_fixture_meets_its_expectations() {
    let mut failures = Vec::new();
    for fx in fixtures::all() {
        let problems = check(&fx.expected, inspect(&fx));
        failures.extend(problems.into_iter().map(|p| format!("{}: {p}", fx.name)));
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

#[test]
fn every_fixture_matches_its_snapshot() {
    for fx in fixtures::all() {
        match inspect(&fx) {
            Ok(inspection) => {
                insta::assert_json_snapshot!(fx.name.as_str(), inspection.profile, {
                    ".source.location" => "[location]",
                });
            }
            Err(err) => {
                let doc = serde_json::json!({"error": err.code(), "message": err.to_string(), "hint": err.hint()});
                insta::assert_json_snapshot!(fx.name.as_str(), doc);
            }
        }
    }
}

fn check(expected: &Expected, result: Result<Inspection, InspectError>) -> Vec<String> {
    let mut problems = Vec::new();
    let profile = match (result, &expected.error) {
        (Err(err), Some(want)) => {
            if err.code() != want.code {
                problems.push(format!(
                    "error code {} (want {}): {err}",
                    err.code(),
                    want.code
                ));
            }
            if let Some(file) = &want.file
                && err.file() != Some(file.as_str())
            {
                problems.push(format!("error names {:?} (want {file}): {err}", err.file()));
            }
            return problems;
        }
        (Err(err), None) => return vec![format!("failed: {err}")],
        (Ok(_), Some(want)) => return vec![format!("succeeded; want error {}", want.code)],
        (Ok(inspection), None) => inspection.profile,
    };
    if let Some(name) = &expected.name
        && &profile.name != name
    {
        problems.push(format!("name {} (want {name})", profile.name));
    }
    if let Some(b) = &expected.builder {
        check_builder(b, &profile, &mut problems);
    }
    let want_paths: Vec<&str> = expected.units.iter().map(|u| u.path.as_str()).collect();
    let got_paths: Vec<&str> = profile.units.iter().map(|u| u.path.as_str()).collect();
    let mut sorted_want = want_paths.clone();
    sorted_want.sort();
    let mut sorted_got = got_paths.clone();
    sorted_got.sort();
    if sorted_want != sorted_got {
        problems.push(format!("units at {got_paths:?} (want {want_paths:?})"));
    }
    for want in &expected.units {
        if let Some(unit) = profile.units.iter().find(|u| u.path == want.path) {
            check_unit(want, unit, &mut problems);
        }
    }
    for w in &expected.warnings {
        if !profile.warnings.iter().any(|got| got.contains(&w.contains)) {
            problems.push(format!(
                "no warning contains {:?}; warnings: {:?}",
                w.contains, profile.warnings
            ));
        }
    }
    problems
}

fn check_builder(
    b: &ferry_test::expected::ExpectedBuilder,
    p: &AppProfile,
    problems: &mut Vec<String>,
) {
    let got = &p.builder;
    if got.id.as_str() != b.id {
        problems.push(format!(
            "builder {} (want {}); candidates {:?}",
            got.id.as_str(),
            b.id,
            p.candidates
        ));
        return;
    }
    if let Some(level) = &b.confidence {
        let want = match level.as_str() {
            "low" => Confidence::Low,
            "medium" => Confidence::Medium,
            "high" => Confidence::High,
            other => panic!("unknown confidence {other}"),
        };
        if got.confidence < want {
            problems.push(format!(
                "confidence {:?} at {} (want at least {level})",
                got.confidence, got.score
            ));
        }
    }
    if b.generation.is_some() && got.generation != b.generation {
        problems.push(format!(
            "generation {:?} (want {:?})",
            got.generation, b.generation
        ));
    }
    if b.app_id.is_some() && got.app_id != b.app_id {
        problems.push(format!("app_id {:?} (want {:?})", got.app_id, b.app_id));
    }
    for needle in &b.evidence {
        let found = got
            .evidence
            .iter()
            .any(|e| e.at.contains(needle.as_str()) || e.signal.contains(needle.as_str()));
        if !found {
            problems.push(format!("no evidence mentions {needle:?}"));
        }
    }
    if let Some(want) = b.from_history_only {
        let only = !got.evidence.is_empty()
            && got.evidence.iter().all(|e| e.kind == EvidenceKind::History);
        if only != want || got.from_history_only != want {
            problems.push(format!(
                "from_history_only {} (want {want})",
                got.from_history_only
            ));
        }
    }
}

fn check_unit(want: &ExpectedUnit, u: &ferry_inspect::Unit, problems: &mut Vec<String>) {
    let at = &want.path;
    let mut differ = |what: &str, got: String, want: &str| {
        if got != want {
            problems.push(format!("unit {at}: {what} {got:?} (want {want:?})"));
        }
    };
    if let Some(name) = &want.name {
        differ("name", u.name.clone(), name);
    }
    if let Some(kind) = &want.kind {
        let got = match u.kind {
            UnitKind::Static => "static",
            UnitKind::Server => "server",
        };
        differ("kind", got.into(), kind);
    }
    if let Some(fw) = &want.framework {
        differ("framework", u.framework.clone().unwrap_or_default(), fw);
    }
    if let Some(pm) = &want.package_manager {
        differ(
            "package_manager",
            u.package_manager
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            pm,
        );
    }
    if let Some(rt) = &want.runtime {
        let got = u
            .runtime
            .as_ref()
            .map(|r| format!("{} {}", r.name, r.version))
            .unwrap_or_default();
        differ("runtime", got, rt);
    }
    if let Some(cmd) = &want.install {
        differ(
            "install",
            u.install
                .as_ref()
                .map(|c| c.run.clone())
                .unwrap_or_default(),
            cmd,
        );
    }
    if let Some(cmd) = &want.build {
        differ(
            "build",
            u.build.as_ref().map(|c| c.run.clone()).unwrap_or_default(),
            cmd,
        );
    }
    if let Some(cmd) = &want.start {
        let got = u
            .processes
            .first()
            .map(|p| p.command.run.clone())
            .unwrap_or_default();
        differ("start", got, cmd);
    }
    if let Some(out) = &want.output {
        differ("output", u.output.clone(), out);
    }
    if let Some(spa) = want.spa {
        differ("spa", u.spa.to_string(), &spa.to_string());
    }
    if let Some(port) = want.port {
        let got = u
            .processes
            .first()
            .and_then(|p| p.port)
            .map(|p| p.to_string())
            .unwrap_or_default();
        differ("port", got, &port.to_string());
    }
}

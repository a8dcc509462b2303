//! The fixture corpus: every app under `tests/fixtures/apps/` meets its hand-written
//! `expected.toml`, and its whole profile matches a reviewed snapshot.

use ferry_inspect::profile::{AppProfile, Confidence, EvidenceKind, UnitKind};
use ferry_inspect::{InspectError, Inspection};
use ferry_test::expected::{Expected, ExpectedUnit};
use ferry_test::fixtures::{self, Fixture};

fn inspect(fx: &Fixture) -> Result<Inspection, InspectError> {
    let m = fx.materialize();
    let root = m.root.display().to_string();
    let mut source = ferry_source::acquire(&root, &Default::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: acquire: {e}", fx.name));
    source
        .read_added_lines()
        .unwrap_or_else(|e| panic!("{}: history: {e}", fx.name));
    ferry_inspect::inspect(source.input(ferry_inspect::Scope::Full))
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
    check_audit(expected, &profile, &mut problems);
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

fn set(items: impl IntoIterator<Item = String>) -> std::collections::BTreeSet<String> {
    items.into_iter().collect()
}

/// Services, Supabase/Base44 details, env vars, secrets, public keys and findings.
fn check_audit(expected: &Expected, p: &AppProfile, problems: &mut Vec<String>) {
    if let Some(n) = expected.secrets
        && p.secrets.len() != n
    {
        let got: Vec<String> = p
            .secrets
            .iter()
            .map(|s| format!("{} at {}", s.kind, s.at))
            .collect();
        problems.push(format!("{} secrets (want {n}): {got:?}", p.secrets.len()));
    }
    for kind in &expected.public_keys {
        if !p.public_keys.iter().any(|k| &k.kind == kind) {
            problems.push(format!(
                "no public key of kind {kind}; got {:?}",
                p.public_keys
            ));
        }
    }
    for id in &expected.findings_absent {
        let present: Vec<&str> = p
            .findings
            .iter()
            .filter(|f| &f.id == id)
            .flat_map(|f| f.evidence.iter().map(String::as_str))
            .collect();
        if !present.is_empty() {
            problems.push(format!(
                "finding {id} should be absent; evidence {present:?}"
            ));
        }
    }
    for s in &expected.services {
        if !p.services.iter().any(|got| got.id == s.id) {
            let ids: Vec<&str> = p.services.iter().map(|g| g.id.as_str()).collect();
            problems.push(format!("no service {} (services: {ids:?})", s.id));
        }
    }
    if let Some(want) = &expected.supabase {
        match &p.supabase {
            None => problems.push("no supabase section".into()),
            Some(sb) => {
                if want.project_ref.is_some() && sb.project_ref != want.project_ref {
                    problems.push(format!(
                        "supabase project_ref {:?} (want {:?})",
                        sb.project_ref, want.project_ref
                    ));
                }
                if let Some(n) = want.tables
                    && sb.tables.len() != n
                {
                    let names: Vec<String> = sb
                        .tables
                        .iter()
                        .map(|t| format!("{}.{}", t.schema, t.name))
                        .collect();
                    problems.push(format!(
                        "supabase tables {} (want {n}): {names:?}",
                        sb.tables.len()
                    ));
                }
                if let Some(n) = want.rls_enabled {
                    let got = sb.tables.iter().filter(|t| t.rls).count();
                    if got != n {
                        problems.push(format!("supabase rls_enabled {got} (want {n})"));
                    }
                }
                if let Some(names) = &want.functions {
                    let got = set(sb.functions.iter().map(|f| f.name.clone()));
                    if got != set(names.clone()) {
                        problems.push(format!("supabase functions {got:?} (want {names:?})"));
                    }
                }
                if let Some(names) = &want.functions_without_jwt {
                    let got = set(sb
                        .functions
                        .iter()
                        .filter(|f| !f.verify_jwt)
                        .map(|f| f.name.clone()));
                    if got != set(names.clone()) {
                        problems.push(format!("functions without jwt {got:?} (want {names:?})"));
                    }
                }
                if let Some(names) = &want.buckets {
                    let got = set(sb.buckets.iter().map(|b| b.name.clone()));
                    if got != set(names.clone()) {
                        problems.push(format!("buckets {got:?} (want {names:?})"));
                    }
                }
                for file in &want.client_files {
                    if !sb.client_files.contains(file) {
                        problems.push(format!(
                            "client file {file} not listed: {:?}",
                            sb.client_files
                        ));
                    }
                }
            }
        }
    }
    if let Some(want) = &expected.base44 {
        match &p.base44 {
            None => problems.push("no base44 section".into()),
            Some(b) => {
                if want.app_id.is_some() && b.app_id != want.app_id {
                    problems.push(format!(
                        "base44 app_id {:?} (want {:?})",
                        b.app_id, want.app_id
                    ));
                }
                let pairs = [
                    (
                        "entities",
                        &want.entities,
                        set(b.entities.iter().map(|e| e.name.clone())),
                    ),
                    (
                        "integrations",
                        &want.integrations,
                        set(b.integrations.clone()),
                    ),
                    ("functions", &want.functions, set(b.functions.clone())),
                    ("agents", &want.agents, set(b.agents.clone())),
                ];
                for (what, want, got) in pairs {
                    if let Some(want) = want
                        && got != set(want.clone())
                    {
                        problems.push(format!("base44 {what} {got:?} (want {want:?})"));
                    }
                }
            }
        }
    }
    for want in &expected.env {
        match p.env.vars.iter().find(|v| v.name == want.name) {
            None => problems.push(format!("env var {} not reported", want.name)),
            Some(var) => {
                if let Some(phase) = &want.phase {
                    let got = match var.phase {
                        ferry_inspect::report::EnvPhase::Build => "build",
                        ferry_inspect::report::EnvPhase::Runtime => "runtime",
                    };
                    if got != phase {
                        problems.push(format!("env {} phase {got} (want {phase})", want.name));
                    }
                }
                if let Some(defined) = want.defined
                    && var.defined_in.is_empty() == defined
                {
                    problems.push(format!(
                        "env {} defined_in {:?} (want defined = {defined})",
                        want.name, var.defined_in
                    ));
                }
            }
        }
    }
    for want in &expected.secret {
        let found = p.secrets.iter().find(|s| {
            s.kind == want.kind && want.at.as_ref().is_none_or(|at| s.at.contains(at.as_str()))
        });
        let Some(s) = found else {
            let got: Vec<String> = p
                .secrets
                .iter()
                .map(|s| format!("{} at {}", s.kind, s.at))
                .collect();
            problems.push(format!(
                "no secret {} at {:?}; got {got:?}",
                want.kind, want.at
            ));
            continue;
        };
        if let Some(sev) = &want.severity
            && s.severity.as_str() != sev
        {
            problems.push(format!(
                "secret {} severity {} (want {sev})",
                want.kind,
                s.severity.as_str()
            ));
        }
        if let Some(history) = want.history
            && s.commit.is_some() != history
        {
            problems.push(format!(
                "secret {} commit {:?} (want history = {history})",
                want.kind, s.commit
            ));
        }
        if let Some(client) = want.client
            && s.client != client
        {
            problems.push(format!(
                "secret {} client {} (want {client})",
                want.kind, s.client
            ));
        }
        if let Some(value) = &want.value {
            let json = serde_json::to_string(p).unwrap_or_default();
            if json.contains(value.as_str()) {
                problems.push(format!(
                    "secret {} value appears in the profile JSON",
                    want.kind
                ));
            }
        }
    }
    for want in &expected.findings {
        let of: Vec<&ferry_inspect::report::Finding> =
            p.findings.iter().filter(|f| f.id == want.id).collect();
        match want.count {
            Some(n) if of.len() != n => {
                let ev: Vec<&String> = of.iter().flat_map(|f| f.evidence.first()).collect();
                problems.push(format!(
                    "{} findings {} (want {n}): {ev:?}",
                    of.len(),
                    want.id
                ));
            }
            None if of.is_empty() => problems.push(format!("no finding {}", want.id)),
            _ => {}
        }
        if let Some(sev) = &want.severity {
            for f in &of {
                if f.severity.as_str() != sev {
                    problems.push(format!(
                        "finding {} severity {} (want {sev}): {:?}",
                        want.id,
                        f.severity.as_str(),
                        f.evidence
                    ));
                }
            }
        }
        if let Some(needle) = &want.evidence
            && !of
                .iter()
                .any(|f| f.evidence.iter().any(|e| e.contains(needle.as_str())))
        {
            problems.push(format!(
                "no {} finding with evidence containing {needle:?}",
                want.id
            ));
        }
    }
}

#[test]
fn the_units_scope_agrees_with_the_full_one_and_skips_the_audit() {
    for fx in fixtures::all()
        .into_iter()
        .filter(|f| f.expected.error.is_none())
    {
        let m = fx.materialize();
        let root = m.root.display().to_string();
        let mut source =
            ferry_source::acquire(&root, &Default::default(), &mut |_| {}).expect("acquire");
        let units =
            ferry_inspect::inspect(source.input(ferry_inspect::Scope::Units)).expect("units scope");
        assert!(
            source.history.as_ref().is_none_or(|h| h.added.is_empty()),
            "{}: acquiring does not read the history's patches",
            fx.name
        );
        source.read_added_lines().expect("history");
        let full =
            ferry_inspect::inspect(source.input(ferry_inspect::Scope::Full)).expect("full scope");
        let (u, f) = (&units.profile, &full.profile);
        assert_eq!(u.builder.id, f.builder.id, "{}", fx.name);
        assert_eq!(
            serde_json::to_value(&u.units).expect("json"),
            serde_json::to_value(&f.units).expect("json"),
            "{}",
            fx.name
        );
        assert!(
            u.services.is_empty()
                && u.secrets.is_empty()
                && u.findings.is_empty()
                && u.env.vars.is_empty(),
            "{}",
            fx.name
        );
        assert!(
            u.verdicts.security.is_empty(),
            "{}: no verdict without the audit",
            fx.name
        );
        assert!(
            !f.verdicts.security.is_empty(),
            "{}: the full scope gives verdicts",
            fx.name
        );
    }
}

//! The human report of `ferry inspect`: one section per area, a verdict line per area first.

use std::fmt::Write;

use ferry_inspect::profile::{AppProfile, EvidenceKind, UnitKind};
use ferry_inspect::report::{FindingCategory, Severity};
use ferry_inspect::{BuilderId, SourceKind};

use crate::output::Output;

/// Findings of one id shown before folding the rest (unless `--all`).
const FOLD_AFTER: usize = 5;

/// Renders the whole report.
pub fn profile(p: &AppProfile, out: &Output, all: bool) -> String {
    let mut s = String::new();
    header(&mut s, p, out);
    builder(&mut s, p, out);
    units(&mut s, p, out);
    verdicts(&mut s, p, out);
    services(&mut s, p);
    env(&mut s, p);
    secrets(&mut s, p, out);
    findings(&mut s, p, out, all);
    if !p.warnings.is_empty() {
        let _ = writeln!(s, "\n{}", out.paint("warnings", "1"));
        for w in &p.warnings {
            let _ = writeln!(s, "  {} {w}", out.paint("!", "33"));
        }
    }
    s
}

fn header(s: &mut String, p: &AppProfile, out: &Output) {
    let kind = match p.source.kind {
        SourceKind::Folder => "folder",
        SourceKind::Zip => "zip",
        SourceKind::Git => "git",
    };
    let _ = writeln!(
        s,
        "{}  ({kind} {})",
        out.paint(&p.name, "1"),
        p.source.location
    );
    if let Some(h) = &p.history {
        let first = h
            .first
            .as_ref()
            .map(|c| format!(", first by {}", c.author))
            .unwrap_or_default();
        let _ = writeln!(s, "history   {} commits{first}", h.commits);
    }
}

fn builder(s: &mut String, p: &AppProfile, out: &Output) {
    let b = &p.builder;
    let mut line = format!("builder   {}", out.paint(&b.name, "1"));
    if b.id != BuilderId::None {
        let confidence = match b.confidence {
            ferry_inspect::profile::Confidence::Declared => "declared in ferry.toml".to_string(),
            c => format!(
                "{} confidence ({:.2})",
                format!("{c:?}").to_lowercase(),
                b.score
            ),
        };
        let _ = write!(line, "  {confidence}");
        if let Some(g) = &b.generation {
            let _ = write!(line, "  generation {g}");
        }
        if let Some(id) = &b.app_id {
            let _ = write!(line, "  app id {id}");
        }
        if b.from_history_only {
            line.push_str("  (known only from the git history)");
        }
    }
    let _ = writeln!(s, "{line}");
    for e in &b.evidence {
        let mark = match e.kind {
            EvidenceKind::History => "history",
            EvidenceKind::File => "file",
            EvidenceKind::Name => "name",
        };
        let _ = writeln!(
            s,
            "          {mark:<7} {}  {}",
            e.signal,
            out.paint(&e.at, "2")
        );
    }
    let others: Vec<String> = p
        .candidates
        .iter()
        .filter(|c| c.id != b.id)
        .map(|c| format!("{} {:.2}", c.id.as_str(), c.score))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(s, "          also seen: {}", others.join(", "));
    }
}

fn units(s: &mut String, p: &AppProfile, out: &Output) {
    if p.units.is_empty() {
        let _ = writeln!(s, "units     none found");
    }
    for (i, u) in p.units.iter().enumerate() {
        let label = if i == 0 { "units" } else { "" };
        let kind = match u.kind {
            UnitKind::Static => "static",
            UnitKind::Server => "server",
        };
        let mut head = format!("{label:<9} {}  {}  {kind}", out.paint(&u.name, "1"), u.path);
        for part in [
            u.framework.clone(),
            u.package_manager.map(|p| p.as_str().to_string()),
        ]
        .into_iter()
        .flatten()
        {
            let _ = write!(head, "  {part}");
        }
        if let Some(r) = &u.runtime {
            let _ = write!(head, "  {} {}", r.name, r.version);
        }
        if u.declared {
            head.push_str("  (ferry.toml)");
        }
        let _ = writeln!(s, "{head}");
        if let Some(c) = &u.install {
            let _ = writeln!(
                s,
                "            install  {}{}",
                c.run,
                cwd_note(&c.cwd, &u.path)
            );
        }
        match &u.build {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "            build    {}{}",
                    c.run,
                    cwd_note(&c.cwd, &u.path)
                );
            }
            None => {
                let _ = writeln!(s, "            build    (none)");
            }
        }
        if u.kind == UnitKind::Static {
            let spa = if u.spa {
                "  (SPA fallback to index.html)"
            } else {
                ""
            };
            let _ = writeln!(s, "            output   {}{spa}", u.output);
        }
        for proc_ in &u.processes {
            let port = proc_
                .port
                .map(|p| format!("  (listens on {p})"))
                .unwrap_or_default();
            let _ = writeln!(s, "            start    {}{port}", proc_.command.run);
        }
    }
}

fn cwd_note(cwd: &str, unit_path: &str) -> String {
    if cwd == unit_path {
        String::new()
    } else {
        format!("  (in {cwd})")
    }
}

fn style(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

fn verdicts(s: &mut String, p: &AppProfile, out: &Output) {
    let _ = writeln!(s, "\n{}", out.paint("verdicts", "1"));
    let areas = [
        ("lock-in", FindingCategory::LockIn, &p.verdicts.lock_in),
        ("security", FindingCategory::Security, &p.verdicts.security),
        (
            "production",
            FindingCategory::Production,
            &p.verdicts.production,
        ),
    ];
    for (label, category, text) in areas {
        let worst = p
            .findings
            .iter()
            .filter(|f| f.category == category)
            .map(|f| f.severity)
            .max();
        let (mark, paint) = match worst {
            None => ("ok", "32"),
            Some(sev) => (sev.as_str(), style(sev)),
        };
        let _ = writeln!(s, "  {label:<11} {:<9} {text}", out.paint(mark, paint));
    }
}

fn services(s: &mut String, p: &AppProfile) {
    if p.services.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nservices");
    for svc in &p.services {
        let mut detail = String::new();
        if svc.id == "supabase"
            && let Some(sb) = &p.supabase
        {
            let rls = sb.tables.iter().filter(|t| t.rls).count();
            let _ = write!(
                detail,
                "  project {}; {} tables ({rls} with RLS); {} functions; {} buckets",
                sb.project_ref.as_deref().unwrap_or("?"),
                sb.tables.len(),
                sb.functions.len(),
                sb.buckets.len()
            );
        }
        if svc.id == "base44"
            && let Some(b) = &p.base44
        {
            let _ = write!(
                detail,
                "  app {}; {} entities; {} functions; {} agents; integrations: {}",
                b.app_id.as_deref().unwrap_or("?"),
                b.entities.len(),
                b.functions.len(),
                b.agents.len(),
                if b.integrations.is_empty() {
                    "none".into()
                } else {
                    b.integrations.join(", ")
                }
            );
        }
        let first = svc.evidence.first().map(String::as_str).unwrap_or("");
        let _ = writeln!(
            s,
            "  {:<24} {:<9}{detail}  ({first})",
            svc.name,
            format!("{:?}", svc.category).to_lowercase()
        );
    }
}

fn env(s: &mut String, p: &AppProfile) {
    let read: Vec<_> = p
        .env
        .vars
        .iter()
        .filter(|v| !v.read_at.is_empty())
        .collect();
    if read.is_empty() && p.env.unused.is_empty() {
        return;
    }
    let build = read
        .iter()
        .filter(|v| v.phase == ferry_inspect::report::EnvPhase::Build)
        .count();
    let _ = writeln!(
        s,
        "\nenv       {} read ({build} inlined at build time, {} at run time)",
        read.len(),
        read.len() - build
    );
    if !p.env.missing.is_empty() {
        let _ = writeln!(s, "  to provide  {}", p.env.missing.join(", "));
    }
    if !p.env.unused.is_empty() {
        let _ = writeln!(s, "  unused      {}", p.env.unused.join(", "));
    }
}

fn secrets(s: &mut String, p: &AppProfile, out: &Output) {
    if p.secrets.is_empty() && p.public_keys.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nsecrets   {} leaked (values never shown)",
        p.secrets.len()
    );
    for secret in &p.secrets {
        let place = match &secret.commit {
            Some(c) => format!("{} (history, commit {})", secret.at, &c[..c.len().min(10)]),
            None => secret.at.clone(),
        };
        let _ = writeln!(
            s,
            "  {:<9} {}  {place}  {}  fp {}",
            out.paint(secret.severity.as_str(), style(secret.severity)),
            secret.kind,
            secret.preview,
            secret.fingerprint
        );
    }
    if !p.public_keys.is_empty() {
        let kinds: std::collections::BTreeSet<&str> =
            p.public_keys.iter().map(|k| k.kind.as_str()).collect();
        let _ = writeln!(
            s,
            "  public keys (meant to ship): {}",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

fn findings(s: &mut String, p: &AppProfile, out: &Output, all: bool) {
    if p.findings.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nfindings  {}", p.findings.len());
    let mut shown: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut folded: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in &p.findings {
        let n = shown.entry(f.id.as_str()).or_default();
        if !all && *n >= FOLD_AFTER {
            *folded.entry(f.id.as_str()).or_default() += 1;
            continue;
        }
        *n += 1;
        let category = match f.category {
            FindingCategory::LockIn => "lock-in",
            FindingCategory::Security => "security",
            FindingCategory::Production => "production",
        };
        let _ = writeln!(
            s,
            "  {:<9} {category:<10} {}  [{}]",
            out.paint(f.severity.as_str(), style(f.severity)),
            f.title,
            f.id
        );
        for e in f.evidence.iter().take(3) {
            let _ = writeln!(s, "                       at {}", out.paint(e, "2"));
        }
        let _ = writeln!(s, "                       fix: {}", f.fix);
        if let Some(ferry) = &f.ferry {
            let _ = writeln!(s, "                       ferry: {ferry}");
        }
    }
    for (id, n) in folded {
        let _ = writeln!(
            s,
            "  … and {n} more `{id}` (ferry inspect --all, or --json)"
        );
    }
}

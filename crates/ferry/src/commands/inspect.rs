//! `ferry inspect`: what is this app, and how is it built?

use std::fmt::Write;
use std::process::ExitCode;

use ferry_inspect::profile::{AppProfile, EvidenceKind, UnitKind};

use crate::cli::SourceArgs;
use crate::failure::Failure;
use crate::output::Output;

pub fn run(args: &SourceArgs, out: &Output) -> Result<ExitCode, Failure> {
    let (_source, inspection) = super::inspect_source(args)?;
    if out.json {
        out.print_json(&inspection.profile);
    } else {
        out.print(&render(&inspection.profile, out));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human report.
fn render(p: &AppProfile, out: &Output) -> String {
    let mut s = String::new();
    let kind = match p.source.kind {
        ferry_inspect::SourceKind::Folder => "folder",
        ferry_inspect::SourceKind::Zip => "zip",
        ferry_inspect::SourceKind::Git => "git",
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
    let b = &p.builder;
    let mut line = format!("builder   {}", out.paint(&b.name, "1"));
    if b.id != ferry_inspect::BuilderId::None {
        let _ = write!(line, "  {:?} confidence ({:.2})", b.confidence, b.score);
        if let Some(g) = &b.generation {
            let _ = write!(line, "  generation {g}");
        }
        if let Some(id) = &b.app_id {
            let _ = write!(line, "  app id {id}");
        }
        if b.from_history_only {
            let _ = write!(line, "  (known only from the git history)");
        }
    }
    let _ = writeln!(s, "{}", line.to_lowercase_first());
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
        let spa = if u.spa {
            "  (SPA fallback to index.html)"
        } else {
            ""
        };
        if u.kind == UnitKind::Static {
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
    if !p.warnings.is_empty() {
        let _ = writeln!(s, "warnings");
        for w in &p.warnings {
            let _ = writeln!(s, "  {} {w}", out.paint("!", "33"));
        }
    }
    s
}

fn cwd_note(cwd: &str, unit_path: &str) -> String {
    if cwd == unit_path {
        String::new()
    } else {
        format!("  (in {cwd})")
    }
}

trait LowerFirst {
    fn to_lowercase_first(&self) -> String;
}

impl LowerFirst for String {
    fn to_lowercase_first(&self) -> String {
        // Debug of Confidence prints `High`; the report reads better in lowercase.
        self.replace("High confidence", "high confidence")
            .replace("Medium confidence", "medium confidence")
            .replace("Low confidence", "low confidence")
            .replace("Declared confidence", "declared in ferry.toml")
    }
}

//! `ferry plan`: the resolved build plan of each unit.

use std::fmt::Write;
use std::process::ExitCode;

use ferry_inspect::BuildPlan;

use crate::cli::PlanArgs;
use crate::failure::Failure;
use crate::output::Output;

pub fn run(args: &PlanArgs, out: &Output) -> Result<ExitCode, Failure> {
    let (_source, inspection) = super::inspect_source(&args.source, ferry_inspect::Scope::Units)?;
    let mut plans = inspection.plans();
    let name = &inspection.profile.name;
    let chosen = super::pick_plan(&plans, args.unit.as_deref(), name, true)?
        .unit
        .clone();
    if args.unit.is_some() {
        plans.retain(|p| p.unit == chosen);
    }
    if out.json {
        out.print_json(&plans);
    } else {
        let text: Vec<String> = plans.iter().map(render).collect();
        out.print(&text.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(p: &BuildPlan) -> String {
    let mut s = String::new();
    let kind = match p.kind {
        ferry_inspect::UnitKind::Static => "static",
        ferry_inspect::UnitKind::Server => "server",
    };
    let _ = writeln!(
        s,
        "# {} / {}  ({kind}, {})",
        p.app,
        p.unit,
        p.framework.as_deref().unwrap_or("no framework")
    );
    if let Some(r) = &p.toolchain.runtime {
        let _ = writeln!(s, "runtime   {} {}  (from {})", r.name, r.version, r.from);
    }
    for step in &p.steps {
        let _ = writeln!(
            s,
            "{:<9} cd {} && {}",
            step.name, step.command.cwd, step.command.run
        );
    }
    let _ = writeln!(
        s,
        "output    {}{}",
        p.output,
        if p.spa { "  (SPA)" } else { "" }
    );
    for proc_ in &p.processes {
        let _ = writeln!(
            s,
            "process   {}: cd {} && {}  (port from ${}{})",
            proc_.name,
            proc_.command.cwd,
            proc_.command.run,
            proc_.port_env,
            proc_
                .port
                .map(|p| format!(", code uses {p}"))
                .unwrap_or_default()
        );
    }
    for proxy in &p.proxies {
        let _ = writeln!(s, "proxy     {} -> {}", proxy.prefix, proxy.to);
    }
    if let Some(backend) = &p.base44 {
        let functions: Vec<String> = backend
            .functions
            .iter()
            .map(|f| match &f.entry {
                Some(entry) => format!("{} ({entry})", f.name),
                None => format!("{} (no entry module: the deploy refuses it)", f.name),
            })
            .collect();
        let _ = writeln!(
            s,
            "backend   Base44 entities API; functions: {}",
            if functions.is_empty() {
                "none".to_string()
            } else {
                functions.join(", ")
            }
        );
    }
    if !p.env.build.is_empty() || !p.env.runtime.is_empty() {
        let _ = writeln!(
            s,
            "env       build: {}; runtime: {}",
            p.env.build.join(", "),
            p.env.runtime.join(", ")
        );
    }
    s
}

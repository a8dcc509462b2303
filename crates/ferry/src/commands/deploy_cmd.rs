//! `ferry deploy` and `ferry build`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::BuildArgs;
use crate::failure::{EXIT_BAD_INPUT, Failure};
use crate::output::Output;
use crate::progress::Reporter;

/// `ferry deploy`.
pub fn deploy(args: &BuildArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let reporter = Reporter::new();
    let (api, _) =
        crate::home::ensure_server(home, &args.listen.listen, &args.listen.control_listen)?;
    let report = super::deploy::deploy(args, home, &api, &reporter)?;
    drop(reporter);
    super::deploy::print(&report, out);
    Ok(ExitCode::SUCCESS)
}

/// `ferry build`: the build alone, locally, cached.
pub fn build(args: &BuildArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let reporter = Reporter::new();
    let source_args = crate::cli::SourceArgs {
        source: args.path.clone(),
        git_timeout: 300,
    };
    let (source, inspection) = super::inspect_source(&source_args, ferry_inspect::Scope::Units)?;
    let plans = inspection.plans();
    let plan = match &args.unit {
        Some(name) => plans.iter().find(|p| &p.unit == name),
        None => plans
            .iter()
            .find(|p| p.kind == ferry_inspect::UnitKind::Static)
            .or(plans.first()),
    }
    .ok_or_else(|| Failure {
        code: "no-units",
        message: "no unit to build".into(),
        hint: "see `ferry inspect`; add a `[[unit]]` to ferry.toml".into(),
        exit: EXIT_BAD_INPUT,
    })?;
    let env = match crate::client::Api::connect(home) {
        Some(api) => {
            let values = api
                .json(
                    "GET",
                    &format!("/api/v1/apps/{}/env/values", inspection.profile.name),
                    None,
                )
                .unwrap_or_default();
            serde_json::from_value(values["values"].clone()).unwrap_or_default()
        }
        None => Default::default(),
    };
    let on_line = |line: &str| {
        reporter.message(&format!(
            "building: {}",
            line.chars().take(70).collect::<String>()
        ))
    };
    let opts = ferry_build::BuildOptions {
        env,
        cache_dir: home.join("cache"),
        log_dir: home.join("logs"),
        on_line: Some(&on_line),
        step_timeout: std::time::Duration::from_secs(20 * 60),
        no_cache: args.no_cache,
    };
    let built = ferry_build::build(&source.root, plan, &opts).map_err(|err| Failure {
        code: err.code(),
        message: err.to_string().lines().next().unwrap_or("").to_string(),
        hint: err.hint(),
        exit: crate::failure::EXIT_FAILED,
    })?;
    drop(reporter);
    let doc = serde_json::json!({
        "app": inspection.profile.name,
        "unit": plan.unit,
        "output": built.output_dir,
        "cached": built.cached,
        "deps_cached": built.deps_cached,
        "log": built.log_path,
        "phases": built.phases.iter().map(|(n, d)| (n.clone(), d.as_millis() as u64)).collect::<Vec<_>>(),
        "warnings": built.warnings,
    });
    if out.json {
        out.print_json(&doc);
    } else {
        let phases: Vec<String> = built
            .phases
            .iter()
            .map(|(n, d)| format!("{n} {} ms", d.as_millis()))
            .collect();
        out.print(&format!(
            "{} / {}  built{}\n  output  {}\n  log     {}\n  time    {}\n",
            inspection.profile.name,
            plan.unit,
            if built.cached { " (from cache)" } else { "" },
            built.output_dir.display(),
            built.log_path.display(),
            phases.join(", ")
        ));
        for w in &built.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

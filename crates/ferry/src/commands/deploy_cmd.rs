//! `ferry deploy` and `ferry build`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::BuildArgs;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress::Reporter;

/// `ferry deploy`.
pub fn deploy(args: &BuildArgs, home: &Path, out: &Output) -> Result<ExitCode, Failure> {
    let reporter = Reporter::new();
    let (api, _) = crate::home::ensure_server(home, &args.listen)?;
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
    let plan = super::pick_plan(&plans, args.unit.as_deref(), &inspection.profile.name, true)?;
    let env = match crate::client::Api::connect(home) {
        Some(api) => {
            let values = api
                .json(
                    "GET",
                    &format!("/api/v1/apps/{}/env/build", inspection.profile.name),
                    None,
                )
                .unwrap_or_default();
            serde_json::from_value(values["values"].clone()).unwrap_or_default()
        }
        None => Default::default(),
    };
    let built = {
        let on_line = super::deploy::building_line(&reporter);
        let opts = super::deploy::build_options(home, env, args.no_cache, &on_line);
        ferry_build::build(&source.root, plan, &opts).map_err(super::deploy::build_failure)?
    };
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

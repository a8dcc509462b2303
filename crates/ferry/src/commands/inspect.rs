//! `ferry inspect`: what is this app, what does it depend on, what is unsafe?

use std::io::Write;
use std::process::ExitCode;

use ferry_inspect::SourceKind;
use ferry_inspect::report::Severity;

use crate::cli::{FailOn, InspectArgs};
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};
use crate::output::Output;

pub fn run(args: &InspectArgs, out: &Output) -> Result<ExitCode, Failure> {
    let (source, inspection) = super::inspect_source(&args.source, ferry_inspect::Scope::Full)?;
    let profile = &inspection.profile;
    if args.write {
        write_manifest(&source, profile)?;
    }
    if out.json {
        out.print_json(profile);
    } else {
        out.print(&crate::render::profile(profile, out, args.all));
    }
    if args.write && !out.json {
        eprintln!("wrote {}", source.root.join("ferry.toml").display());
    }
    if let Some(level) = args.fail_on {
        let level = severity(level);
        let over = profile
            .findings
            .iter()
            .filter(|f| f.severity >= level)
            .count();
        if over > 0 {
            eprintln!(
                "{} {over} finding{} at or above `{}` (--fail-on)",
                out.paint("error:", "1;31"),
                if over == 1 { "" } else { "s" },
                level.as_str()
            );
            eprintln!(
                "{} fix them, or raise the threshold",
                out.paint("hint:", "1;36")
            );
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn severity(level: FailOn) -> Severity {
    match level {
        FailOn::Info => Severity::Info,
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    }
}

/// Writes `ferry.toml` beside the app, atomically, never over an existing one.
fn write_manifest(
    source: &ferry_source::Source,
    profile: &ferry_inspect::AppProfile,
) -> Result<(), Failure> {
    if source.info.kind != SourceKind::Folder {
        return Err(Failure {
            code: "write-not-folder",
            message: "`--write` needs a folder: this source was extracted or cloned into a temporary folder".into(),
            hint: "extract or clone the app yourself, then run `ferry inspect --write <folder>`".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let target = source.root.join("ferry.toml");
    if target.exists() {
        return Err(Failure {
            code: "manifest-exists",
            message: format!("`{}` already exists", target.display()),
            hint: "edit it by hand (it already wins over detection), or move it away and run again"
                .into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let text = ferry_inspect::manifest::render(profile);
    let temp = source
        .root
        .join(format!(".ferry.toml.{}.tmp", std::process::id()));
    let io = |err: std::io::Error| Failure {
        code: "io",
        message: format!("could not write `{}`: {err}", target.display()),
        hint: "check that the folder is writable".into(),
        exit: EXIT_FAILED,
    };
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::hard_link(&temp, &target));
    let _ = std::fs::remove_file(&temp);
    result.map_err(|err| match err.kind() {
        std::io::ErrorKind::AlreadyExists => Failure {
            code: "manifest-exists",
            message: format!("`{}` already exists", target.display()),
            hint: "edit it by hand, or move it away and run again".into(),
            exit: EXIT_BAD_INPUT,
        },
        _ => io(err),
    })
}

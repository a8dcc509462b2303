//! The `BuildPlan`: the fully resolved, serialisable recipe for one unit (schema
//! `ferry.build-plan`, version 1). `ferry plan` prints it; the build step executes it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::profile::{
    AppProfile, Command, PackageManager, Process, Proxy, Runtime, Unit, UnitKind,
};

/// Schema name written in every plan.
pub const PLAN_SCHEMA: &str = "ferry.build-plan";
/// Current plan version.
pub const PLAN_VERSION: u32 = 1;

/// How to build and run one unit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BuildPlan {
    /// Always `ferry.build-plan`.
    pub schema: String,
    /// Format version, currently 1.
    pub version: u32,
    /// App name.
    pub app: String,
    /// Unit name.
    pub unit: String,
    /// Unit folder relative to the source root.
    pub path: String,
    /// Static or server.
    pub kind: UnitKind,
    /// Framework id.
    pub framework: Option<String>,
    /// What the build machine needs.
    pub toolchain: Toolchain,
    /// Steps in order (install, then build); each runs with `sh -c` in its folder.
    pub steps: Vec<Step>,
    /// The artifact folder, relative to the source root.
    pub output: String,
    /// Client-side routing fallback to `index.html`.
    pub spa: bool,
    /// Processes to run for a server unit.
    pub processes: Vec<Process>,
    /// Path prefixes routed to other units.
    pub proxies: Vec<Proxy>,
    /// Environment variable names (never values).
    pub env: EnvNames,
    /// The Base44 backend ferry serves with this unit (its backend functions); absent for
    /// other units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base44: Option<crate::backend::Base44Backend>,
}

/// Toolchain requirements.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Toolchain {
    /// Runtime and version hint.
    pub runtime: Option<Runtime>,
    /// Dependency installer.
    pub package_manager: Option<PackageManager>,
}

/// One named build step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// `install` or `build`.
    pub name: String,
    /// What to run, and where.
    #[serde(flatten)]
    pub command: Command,
}

/// Environment variable names a unit needs, split by when they are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvNames {
    /// Read while building (inlined into the bundle: `VITE_*`, `NEXT_PUBLIC_*`…).
    #[serde(default)]
    pub build: Vec<String>,
    /// Read by the running processes.
    #[serde(default)]
    pub runtime: Vec<String>,
}

impl BuildPlan {
    /// Resolves the plan for `unit` of `profile`, with the env names from the manifest.
    pub fn for_unit(profile: &AppProfile, unit: &Unit, env: &EnvNames) -> Self {
        let mut steps = Vec::new();
        if let Some(install) = &unit.install {
            steps.push(Step {
                name: "install".into(),
                command: install.clone(),
            });
        }
        if let Some(build) = &unit.build {
            steps.push(Step {
                name: "build".into(),
                command: build.clone(),
            });
        }
        BuildPlan {
            schema: PLAN_SCHEMA.into(),
            version: PLAN_VERSION,
            app: profile.name.clone(),
            unit: unit.name.clone(),
            path: unit.path.clone(),
            kind: unit.kind,
            framework: unit.framework.clone(),
            toolchain: Toolchain {
                runtime: unit.runtime.clone(),
                package_manager: unit.package_manager,
            },
            steps,
            output: crate::tree::join(&unit.path, &unit.output)
                .trim_end_matches("/.")
                .to_string(),
            spa: unit.spa,
            processes: unit.processes.clone(),
            proxies: unit.proxies.clone(),
            env: env.clone(),
            base44: None,
        }
    }
}

/// Convenience: a command running in `cwd`.
pub fn command(run: impl Into<String>, cwd: &str) -> Command {
    Command {
        run: run.into(),
        cwd: if cwd.is_empty() {
            ".".into()
        } else {
            cwd.into()
        },
    }
}

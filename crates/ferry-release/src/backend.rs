//! The backend a release asks the server to run beside its files: for now the
//! Base44-compatible backend (entity schemas and the app id). It is part of the release's
//! content, so a schema change makes a new release and a rollback brings back the schemas the
//! release was built with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::preview;

/// Largest entity schema file kept in a manifest, in bytes (1 MiB).
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;
/// Most entity schema files a release may carry.
pub const MAX_SCHEMAS: usize = 500;

/// A backend the server runs for a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Backend {
    /// The Base44-compatible entities and auth API (`docs/base44.md`), mounted at
    /// `/api/apps/` on the app's origin.
    Base44(Base44Backend),
    /// Server processes run from the release's own files (a server unit: Express, FastAPI,
    /// Next.js…); the edge proxies the app's requests to them.
    Processes(ProcessesBackend),
}

/// The processes of a release's server units, run from the materialised release. A release
/// of one server unit holds its tree at the root and its first process answers every path; a
/// release with a static front end holds the front end's files at the root, each server
/// unit's tree under [`UNITS_DIR`] (never served as files), and its processes answer the path
/// prefixes in their `routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessesBackend {
    /// The unit they belong to.
    pub unit: String,
    /// What to run, at least one; the first answers the app's requests.
    pub processes: Vec<ProcessEntry>,
    /// Names of the env variables the processes read (values come from the secrets store).
    #[serde(default)]
    pub runtime_env: Vec<String>,
}

/// One process of a server unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessEntry {
    /// Unique in the unit (`web`).
    pub name: String,
    /// Run with `sh -c` in `cwd`.
    pub command: String,
    /// Folder to run in, relative to the release root (`.`).
    #[serde(default = "dot")]
    pub cwd: String,
    /// The variable telling it its port (`PORT`).
    pub port_env: String,
    /// A port the code binds whatever `port_env` says, when known (it cannot run two
    /// releases at once: such deploys stop the old one first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_port: Option<u16>,
    /// The health check path (`GET` answering below 500), default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The path prefixes this process answers (`/api`), longest match first; when no process
    /// of the release has any, the first process answers every path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// Resource limits from the app's `ferry.toml` (absent when none, so releases of apps
    /// without any keep their ids).
    #[serde(default, skip_serializing_if = "ProcessLimits::is_empty")]
    pub limits: ProcessLimits,
}

/// The resource limits of one process (docs/formats/ferry-toml.md, "Resource limits"); each
/// one absent means none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessLimits {
    /// Memory in bytes: the cgroup's `memory.max`, else `RLIMIT_DATA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU time as a share of one CPU in percent (`cpu.max`; cgroup v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Processes and threads at once (`pids.max`; cgroup v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
}

impl ProcessLimits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// A limit of zero, which no process can run under, by its name.
    fn zero(&self) -> Option<&'static str> {
        [
            ("memory_bytes", self.memory_bytes),
            ("cpu_percent", self.cpu_percent.map(u64::from)),
            ("pids", self.pids),
            ("open_files", self.open_files),
        ]
        .into_iter()
        .find(|(_, v)| *v == Some(0))
        .map(|(name, _)| name)
    }
}

/// Where a release with a static front end keeps its server units' trees
/// (`_ferry/units/<unit>/`): the edge never serves a path under [`PRIVATE_DIR`] as a file.
pub const UNITS_DIR: &str = "_ferry/units";

/// Release paths under this folder are ferry's, never served as files.
pub const PRIVATE_DIR: &str = "_ferry/";

impl ProcessesBackend {
    /// The processes answering requests and their path prefixes: those with `routes`, or the
    /// first process at `/` when none has any.
    pub fn routed(&self) -> Vec<(&ProcessEntry, Vec<String>)> {
        let with_routes: Vec<_> = self
            .processes
            .iter()
            .filter(|p| !p.routes.is_empty())
            .map(|p| (p, p.routes.clone()))
            .collect();
        if with_routes.is_empty() {
            self.processes
                .first()
                .map(|p| vec![(p, vec!["/".to_string()])])
                .unwrap_or_default()
        } else {
            with_routes
        }
    }
}

fn dot() -> String {
    ".".into()
}

/// Most processes one server unit may run.
pub const MAX_PROCESSES: usize = 16;

/// What the Base44-compatible backend needs from the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base44Backend {
    /// The Base44 app id (24 hex characters) the SDK puts in its URLs.
    pub app_id: String,
    /// The app was made with `requiresAuth`: signed-out visitors go to ferry's login page.
    #[serde(default)]
    pub requires_auth: bool,
    /// `base44/entities/*` by file name, as written (JSONC).
    #[serde(default)]
    pub entities: BTreeMap<String, String>,
    /// `base44/functions/<name>/` by function name: the backend functions the server runs
    /// under Deno (absent from manifests of apps without any, so their ids are unchanged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Base44Function>,
}

/// One backend function: its folder's source files and which of them is the entry module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base44Function {
    /// The entry module's path in `files` (`entry.ts`).
    pub entry: String,
    /// The folder's files by relative path (`entry.ts`, `lib/util.ts`), as written.
    pub files: BTreeMap<String, String>,
}

/// Most backend functions a release may carry.
pub const MAX_FUNCTIONS: usize = 200;
/// Most files one function's folder may carry.
pub const MAX_FUNCTION_FILES: usize = 64;
/// Largest total source of one function, in bytes (4 MiB).
pub const MAX_FUNCTION_BYTES: usize = 4 << 20;

/// A function name ferry accepts: letters, digits, `-` and `_`, 1 to 64 characters, not
/// starting with `-` (it becomes a URL segment, a folder and part of a process name).
pub fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

impl Base44Function {
    /// Checks the entry is one of the files, paths are plain and relative, sizes bounded.
    fn validate(&self, name: &str) -> Result<(), String> {
        if !is_function_name(name) {
            return Err(format!("`{}` is not a plain function name", preview(name)));
        }
        if self.files.is_empty() || self.files.len() > MAX_FUNCTION_FILES {
            return Err(format!(
                "function `{name}` carries {} files (1 to {MAX_FUNCTION_FILES})",
                self.files.len()
            ));
        }
        if !self.files.contains_key(&self.entry) {
            return Err(format!(
                "function `{name}`: its entry `{}` is not among its files",
                preview(&self.entry)
            ));
        }
        let mut total = 0usize;
        for (path, text) in &self.files {
            let plain = crate::validate_path(path).is_ok()
                && path
                    .split('/')
                    .all(|s| !s.is_empty() && !s.starts_with('.'));
            if !plain {
                return Err(format!(
                    "function `{name}`: `{}` is not a plain relative path",
                    preview(path)
                ));
            }
            total = total.saturating_add(text.len());
        }
        if total > MAX_FUNCTION_BYTES {
            return Err(format!(
                "function `{name}` holds more than {MAX_FUNCTION_BYTES} bytes of source"
            ));
        }
        Ok(())
    }
}

impl Backend {
    /// Checks what a reader relies on: a 24-hex app id, plain file names, bounded sizes.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Backend::Base44(b) => {
                if b.app_id.len() != 24 || !b.app_id.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "the Base44 app id `{}` is not 24 hex characters",
                        preview(&b.app_id)
                    ));
                }
                if b.entities.len() > MAX_SCHEMAS {
                    return Err(format!(
                        "{} entity schemas (at most {MAX_SCHEMAS})",
                        b.entities.len()
                    ));
                }
                for (name, text) in &b.entities {
                    let plain = !name.is_empty()
                        && name.len() <= 255
                        && !name.starts_with('.')
                        && !name.contains(['/', '\\'])
                        && !name.chars().any(char::is_control);
                    if !plain {
                        return Err(format!(
                            "`{}` is not a plain schema file name",
                            preview(name)
                        ));
                    }
                    if text.len() > MAX_SCHEMA_BYTES {
                        return Err(format!(
                            "the schema `{}` is larger than {MAX_SCHEMA_BYTES} bytes",
                            preview(name)
                        ));
                    }
                }
                if b.functions.len() > MAX_FUNCTIONS {
                    return Err(format!(
                        "{} backend functions (at most {MAX_FUNCTIONS})",
                        b.functions.len()
                    ));
                }
                for (name, function) in &b.functions {
                    function.validate(name)?;
                }
                Ok(())
            }
            Backend::Processes(p) => {
                if p.processes.is_empty() || p.processes.len() > MAX_PROCESSES {
                    return Err(format!(
                        "a server unit runs 1 to {MAX_PROCESSES} processes, not {}",
                        p.processes.len()
                    ));
                }
                for (i, proc) in p.processes.iter().enumerate() {
                    let plain = |t: &str| !t.is_empty() && !t.chars().any(char::is_control);
                    if !plain(&proc.name) || !plain(&proc.port_env) || proc.command.contains('\0') {
                        return Err(format!("process `{}` is malformed", preview(&proc.name)));
                    }
                    if p.processes[..i].iter().any(|o| o.name == proc.name) {
                        return Err(format!("two processes are named `{}`", preview(&proc.name)));
                    }
                    if crate::validate_path(&proc.cwd).is_err() && proc.cwd != "." {
                        return Err(format!(
                            "process `{}` runs outside the release",
                            preview(&proc.name)
                        ));
                    }
                    if let Some(limit) = proc.limits.zero() {
                        return Err(format!(
                            "process `{}` has a `{limit}` limit of 0",
                            preview(&proc.name)
                        ));
                    }
                    for route in &proc.routes {
                        let plain = route.starts_with('/')
                            && route.len() <= 200
                            && !route.contains(['?', '#', '\\', '%'])
                            && !route.split('/').any(|s| s == ".." || s == ".")
                            && !route.chars().any(|c| c.is_control() || c == ' ');
                        if !plain {
                            return Err(format!(
                                "process `{}` routes `{}`, which is not a plain path prefix",
                                preview(&proc.name),
                                preview(route)
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The Base44 backend, when this is one.
    pub fn base44(&self) -> Option<&Base44Backend> {
        match self {
            Backend::Base44(b) => Some(b),
            Backend::Processes(_) => None,
        }
    }

    /// The server processes, when this is a server unit.
    pub fn processes(&self) -> Option<&ProcessesBackend> {
        match self {
            Backend::Processes(p) => Some(p),
            Backend::Base44(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base44(app_id: &str, files: &[(&str, &str)]) -> Backend {
        Backend::Base44(Base44Backend {
            app_id: app_id.into(),
            requires_auth: false,
            functions: BTreeMap::new(),
            entities: files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        })
    }

    #[test]
    fn process_limits_are_absent_when_none_and_never_zero() {
        let json = r#"{"kind":"processes","unit":"web","processes":[{"name":"web","command":"node s.js","port_env":"PORT"}]}"#;
        let backend: Backend = serde_json::from_str(json).expect("an entry of before limits");
        assert_eq!(
            serde_json::to_string(&backend).expect("json"),
            r#"{"kind":"processes","unit":"web","processes":[{"name":"web","command":"node s.js","cwd":".","port_env":"PORT"}],"runtime_env":[]}"#,
            "no `limits` key, so the release id of an app without limits is unchanged"
        );
        let Backend::Processes(mut p) = backend else {
            panic!("processes")
        };
        p.processes[0].limits.memory_bytes = Some(64 << 20);
        p.processes[0].limits.open_files = Some(64);
        let with = Backend::Processes(p.clone());
        assert!(with.validate().is_ok());
        let text = serde_json::to_string(&with).expect("json");
        assert!(
            text.contains(r#""limits":{"memory_bytes":67108864,"open_files":64}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Backend>(&text).expect("back"), with);
        p.processes[0].limits.pids = Some(0);
        let err = Backend::Processes(p).validate().expect_err("zero pids");
        assert!(err.contains("`pids` limit of 0"), "{err}");
    }

    #[test]
    fn validates_app_id_and_file_names() {
        let id = "67b2f0c41d9e3a0012c4d8e1";
        assert!(base44(id, &[("Task.jsonc", "{}")]).validate().is_ok());
        assert!(base44("nope", &[]).validate().is_err());
        assert!(base44(id, &[("../x.jsonc", "{}")]).validate().is_err());
        assert!(base44(id, &[(".hidden", "{}")]).validate().is_err());
        assert!(base44(id, &[("a\nb", "{}")]).validate().is_err());
        let huge = "x".repeat(MAX_SCHEMA_BYTES + 1);
        assert!(base44(id, &[("Big.jsonc", &huge)]).validate().is_err());
    }

    #[test]
    fn validates_functions() {
        let id = "67b2f0c41d9e3a0012c4d8e1";
        let with = |name: &str, entry: &str, files: &[(&str, &str)]| {
            let mut b = base44(id, &[]);
            if let Backend::Base44(b) = &mut b {
                b.functions.insert(
                    name.into(),
                    Base44Function {
                        entry: entry.into(),
                        files: files
                            .iter()
                            .map(|(n, t)| (n.to_string(), t.to_string()))
                            .collect(),
                    },
                );
            }
            b
        };
        assert!(
            with("hello", "entry.ts", &[("entry.ts", "x")])
                .validate()
                .is_ok()
        );
        assert!(
            with("hello", "entry.ts", &[("entry.ts", "x"), ("lib/a.ts", "y")])
                .validate()
                .is_ok()
        );
        assert!(
            with("hello", "main.ts", &[("entry.ts", "x")])
                .validate()
                .is_err()
        );
        assert!(
            with("../x", "entry.ts", &[("entry.ts", "x")])
                .validate()
                .is_err()
        );
        assert!(
            with("a b", "entry.ts", &[("entry.ts", "x")])
                .validate()
                .is_err()
        );
        assert!(
            with("hello", "entry.ts", &[("entry.ts", "x"), ("../up.ts", "y")])
                .validate()
                .is_err()
        );
        assert!(
            with("hello", "entry.ts", &[("entry.ts", "x"), (".env", "y")])
                .validate()
                .is_err()
        );
        let huge = "x".repeat(MAX_FUNCTION_BYTES + 1);
        assert!(
            with("hello", "entry.ts", &[("entry.ts", &huge)])
                .validate()
                .is_err()
        );
        // No functions: the manifest's JSON (and so the release id) is as before.
        let plain = serde_json::to_value(base44(id, &[])).expect("serialises");
        assert!(plain.get("functions").is_none());
    }

    #[test]
    fn json_shape_is_tagged_by_kind() {
        let b = base44("67b2f0c41d9e3a0012c4d8e1", &[("Task.jsonc", "{}")]);
        let json = serde_json::to_value(&b).expect("serialises");
        assert_eq!(json["kind"], "base44");
        assert_eq!(json["entities"]["Task.jsonc"], "{}");
        let back: Backend = serde_json::from_value(json).expect("parses");
        assert_eq!(back, b);
    }
}

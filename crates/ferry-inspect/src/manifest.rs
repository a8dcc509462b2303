//! `ferry.toml`, the app manifest (version 1). What it says wins over detection.
//! Schema: docs/formats/ferry-toml.md.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::InspectError;
use crate::limits::{self, ProcessLimits};
use crate::plan::EnvNames;
use crate::profile::{BuilderId, UnitKind};

/// File name of the manifest, at the source root.
pub const MANIFEST_FILE: &str = "ferry.toml";
/// The only manifest version this ferry reads.
pub const MANIFEST_VERSION: u32 = 1;

/// A parsed and validated `ferry.toml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; must be 1.
    pub version: u32,
    /// App name (a slug).
    pub name: Option<String>,
    /// Builder id, informational; overrides detection.
    pub builder: Option<String>,
    /// Deployable units; when present they replace detected ones.
    #[serde(default, rename = "unit")]
    pub units: Vec<ManifestUnit>,
    /// Environment variable names.
    #[serde(default)]
    pub env: EnvNames,
    /// Vendor backends ferry replaces.
    #[serde(default)]
    pub compat: Compat,
}

/// One `[[unit]]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ManifestUnit {
    /// Unit name; default from detection.
    pub name: Option<String>,
    /// Folder relative to the root; default `.`.
    pub path: Option<String>,
    /// `static` or `server`.
    pub kind: Option<UnitKind>,
    /// Framework id.
    pub framework: Option<String>,
    /// Install command (empty: none).
    pub install: Option<String>,
    /// Build command (empty: none).
    pub build: Option<String>,
    /// Output folder relative to the unit's path.
    pub output: Option<String>,
    /// Client-side routing fallback.
    pub spa: Option<bool>,
    /// Processes of a server unit; replace the detected start command.
    #[serde(default, rename = "process")]
    pub processes: Vec<ManifestProcess>,
    /// Path prefixes routed to other units.
    #[serde(default, rename = "proxy")]
    pub proxies: Vec<ManifestProxy>,
}

/// One `[[unit.process]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestProcess {
    /// Process name; default `web`.
    pub name: Option<String>,
    /// Start command, run in the unit's folder.
    pub command: String,
    /// Port variable; default `PORT`.
    pub port_env: Option<String>,
    /// Health-check path.
    pub health: Option<String>,
    /// Memory limit as written (`"512MiB"`, bytes); see [`crate::limits::parse_memory`].
    pub memory: Option<toml::Value>,
    /// CPU limit as written (`1.5`); see [`crate::limits::parse_cpus`].
    pub cpus: Option<toml::Value>,
    /// Most processes and threads at once, as written.
    pub pids: Option<toml::Value>,
    /// Most open files (`RLIMIT_NOFILE`), as written.
    pub open_files: Option<toml::Value>,
    /// The four limits above, checked (filled by [`Manifest::parse`]).
    #[serde(skip)]
    pub limits: ProcessLimits,
}

/// One `[[unit.proxy]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestProxy {
    /// Path prefix, starting with `/`.
    pub prefix: String,
    /// Target unit name.
    pub to: String,
}

/// `[compat]`: vendor APIs ferry serves in place of the builder's backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compat {
    /// Base44's API for this app id.
    pub base44: Option<Base44Compat>,
}

/// `[compat.base44]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base44Compat {
    /// The 24-hex Base44 app id the app's SDK sends.
    pub app_id: String,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<toml::Value>,
}

impl Manifest {
    /// Parses and validates the text of a `ferry.toml`.
    pub fn parse(text: &str) -> Result<Self, InspectError> {
        let malformed = |err: toml::de::Error| InspectError::MalformedFile {
            file: MANIFEST_FILE.into(),
            format: "TOML",
            detail: one_line(&err.to_string()),
        };
        // Check the version before the schema, so an older ferry says "upgrade" and not
        // "unknown field".
        let head: VersionOnly = toml::from_str(text).map_err(malformed)?;
        match head.version {
            None => return invalid("`version` is missing (write `version = 1`)"),
            Some(toml::Value::Integer(1)) => {}
            Some(other) => {
                return invalid(format!(
                    "`version = {}` is not supported; this ferry reads version {MANIFEST_VERSION}",
                    shown(&other.to_string())
                ));
            }
        }
        let mut manifest: Manifest =
            toml::from_str(text).map_err(|err| InspectError::InvalidManifest {
                detail: one_line(&err.to_string()),
            })?;
        manifest.validate()?;
        manifest.check_limits()?;
        Ok(manifest)
    }

    /// Checks each process's `memory`, `cpus`, `pids` and `open_files` and fills its
    /// [`ManifestProcess::limits`]; a refusal names the unit, the process, the key, the value
    /// and what to write instead.
    fn check_limits(&mut self) -> Result<(), InspectError> {
        for unit in &mut self.units {
            let unit_name = unit
                .name
                .clone()
                .unwrap_or_else(|| unit.path.clone().unwrap_or_else(|| ".".into()));
            for p in &mut unit.processes {
                let name = p.name.clone().unwrap_or_else(|| "web".into());
                let refused = |err: limits::LimitError| InspectError::InvalidManifest {
                    detail: format!(
                        "unit `{}`, process `{}`: {err}",
                        shown(&unit_name),
                        shown(&name)
                    ),
                };
                p.limits = ProcessLimits {
                    memory_bytes: p
                        .memory
                        .as_ref()
                        .map(limits::parse_memory)
                        .transpose()
                        .map_err(refused)?,
                    cpu_percent: p
                        .cpus
                        .as_ref()
                        .map(limits::parse_cpus)
                        .transpose()
                        .map_err(refused)?,
                    pids: p
                        .pids
                        .as_ref()
                        .map(|v| limits::parse_count("pids", v, 1, limits::MAX_PIDS))
                        .transpose()
                        .map_err(refused)?,
                    open_files: p
                        .open_files
                        .as_ref()
                        .map(|v| {
                            limits::parse_count(
                                "open_files",
                                v,
                                limits::MIN_OPEN_FILES,
                                limits::MAX_OPEN_FILES,
                            )
                        })
                        .transpose()
                        .map_err(refused)?,
                };
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), InspectError> {
        if let Some(name) = &self.name
            && !is_slug(name)
        {
            return invalid(format!(
                "`name = \"{}\"` must be lowercase letters, digits and `-` (at most 63)",
                shown(name)
            ));
        }
        if let Some(builder) = &self.builder
            && BuilderId::parse(builder).is_none()
        {
            return invalid(format!(
                "`builder = \"{}\"` is not one of lovable, bolt, base44, replit, emergent, v0, none",
                shown(builder)
            ));
        }
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for unit in &self.units {
            let path = unit.path.as_deref().unwrap_or(".");
            check_relative("path", path)?;
            if !paths.insert(normalize(path)) {
                return invalid(format!("two units have `path = \"{}\"`", shown(path)));
            }
            if let Some(name) = &unit.name {
                if !is_slug(name) {
                    return invalid(format!(
                        "unit name `{}` must be a slug like `web`",
                        shown(name)
                    ));
                }
                if !names.insert(name.clone()) {
                    return invalid(format!("two units are named `{}`", shown(name)));
                }
            }
            if let Some(output) = &unit.output {
                check_relative("output", output)?;
            }
            let mut process_names = BTreeSet::new();
            for p in &unit.processes {
                let name = p.name.clone().unwrap_or_else(|| "web".into());
                if !process_names.insert(name.clone()) {
                    return invalid(format!("two processes are named `{}`", shown(&name)));
                }
                if p.command.trim().is_empty() {
                    return invalid(format!("process `{}` has an empty `command`", shown(&name)));
                }
                if let Some(h) = &p.health
                    && !h.starts_with('/')
                {
                    return invalid(format!("health path `{}` must start with `/`", shown(h)));
                }
            }
            for proxy in &unit.proxies {
                if !proxy.prefix.starts_with('/') {
                    return invalid(format!(
                        "proxy prefix `{}` must start with `/`",
                        shown(&proxy.prefix)
                    ));
                }
            }
        }
        for unit in &self.units {
            for proxy in &unit.proxies {
                if !names.contains(&proxy.to) {
                    return invalid(format!(
                        "proxy `{}` goes to `{}`, which is not a named unit",
                        shown(&proxy.prefix),
                        shown(&proxy.to)
                    ));
                }
            }
        }
        if let Some(b) = &self.compat.base44
            && (b.app_id.len() != 24 || !b.app_id.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return invalid(format!(
                "`compat.base44.app_id = \"{}\"` is not a 24-hex Base44 app id",
                shown(&b.app_id)
            ));
        }
        Ok(())
    }
}

/// A user-provided value as it may appear in a one-line message: escaped, at most 60 chars.
fn shown(value: &str) -> String {
    let escaped: String = value.escape_debug().collect();
    if escaped.chars().count() > 60 {
        format!("{}…", escaped.chars().take(60).collect::<String>())
    } else {
        escaped
    }
}

fn invalid<T>(detail: impl Into<String>) -> Result<T, InspectError> {
    Err(InspectError::InvalidManifest {
        detail: detail.into(),
    })
}

fn check_relative(key: &str, path: &str) -> Result<(), InspectError> {
    let escapes = path.starts_with('/')
        || path.contains('\\')
        || path.split('/').any(|part| part == "..")
        || path.contains(':');
    if escapes || path.is_empty() {
        return invalid(format!(
            "`{key} = \"{}\"` must be a relative path inside the app, without `..`",
            shown(path)
        ));
    }
    Ok(())
}

/// `./a/b/` → `a/b`; `.` and `./` → `.`.
pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Whether `text` is a valid app or unit name.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Writes a process's limits back the way `ferry.toml` spells them.
fn render_limits(table: &mut toml::Table, limits: &ProcessLimits) {
    use toml::Value;
    if let Some(bytes) = limits.memory_bytes {
        let value = match bytes {
            b if b % (1 << 30) == 0 => Value::String(format!("{}GiB", b >> 30)),
            b if b % (1 << 20) == 0 => Value::String(format!("{}MiB", b >> 20)),
            b => i64::try_from(b).map_or_else(|_| Value::String(b.to_string()), Value::Integer),
        };
        table.insert("memory".into(), value);
    }
    if let Some(percent) = limits.cpu_percent {
        table.insert("cpus".into(), Value::Float(f64::from(percent) / 100.0));
    }
    for (key, count) in [("pids", limits.pids), ("open_files", limits.open_files)] {
        if let Some(n) = count.and_then(|n| i64::try_from(n).ok()) {
            table.insert(key.into(), Value::Integer(n));
        }
    }
}

/// Collapses a multi-line parser message into one line.
pub fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders a `ferry.toml` (version 1) that pins what `profile` detected: the app's name,
/// builder, units, env names and Base44 app id. Parsing the result with [`Manifest::parse`]
/// gives back the same facts.
pub fn render(profile: &crate::AppProfile) -> String {
    use toml::{Table, Value};
    let text = |s: &str| Value::String(s.to_string());
    let mut root = Table::new();
    root.insert(
        "version".into(),
        Value::Integer(i64::from(MANIFEST_VERSION)),
    );
    root.insert("name".into(), text(&profile.name));
    if profile.builder.id != BuilderId::None {
        root.insert("builder".into(), text(profile.builder.id.as_str()));
    }
    let mut units = Vec::new();
    for u in &profile.units {
        let mut t = Table::new();
        t.insert("name".into(), text(&u.name));
        t.insert("path".into(), text(&u.path));
        let kind = match u.kind {
            UnitKind::Static => "static",
            UnitKind::Server => "server",
        };
        t.insert("kind".into(), text(kind));
        if let Some(fw) = &u.framework {
            t.insert("framework".into(), text(fw));
        }
        t.insert(
            "install".into(),
            text(u.install.as_ref().map_or("", |c| c.run.as_str())),
        );
        t.insert(
            "build".into(),
            text(u.build.as_ref().map_or("", |c| c.run.as_str())),
        );
        t.insert("output".into(), text(&u.output));
        t.insert("spa".into(), Value::Boolean(u.spa));
        let processes: Vec<Value> = u
            .processes
            .iter()
            .map(|p| {
                let mut pt = Table::new();
                pt.insert("name".into(), text(&p.name));
                pt.insert("command".into(), text(&p.command.run));
                pt.insert("port_env".into(), text(&p.port_env));
                if let Some(h) = &p.health {
                    pt.insert("health".into(), text(h));
                }
                render_limits(&mut pt, &p.limits);
                Value::Table(pt)
            })
            .collect();
        if !processes.is_empty() {
            t.insert("process".into(), Value::Array(processes));
        }
        let proxies: Vec<Value> = u
            .proxies
            .iter()
            .map(|p| {
                let mut pt = Table::new();
                pt.insert("prefix".into(), text(&p.prefix));
                pt.insert("to".into(), text(&p.to));
                Value::Table(pt)
            })
            .collect();
        if !proxies.is_empty() {
            t.insert("proxy".into(), Value::Array(proxies));
        }
        units.push(Value::Table(t));
    }
    if !units.is_empty() {
        root.insert("unit".into(), Value::Array(units));
    }
    let names = |phase: crate::report::EnvPhase| -> Vec<Value> {
        profile
            .env
            .vars
            .iter()
            .filter(|v| v.phase == phase && !v.read_at.is_empty())
            .map(|v| text(&v.name))
            .collect()
    };
    let mut env = Table::new();
    env.insert(
        "build".into(),
        Value::Array(names(crate::report::EnvPhase::Build)),
    );
    env.insert(
        "runtime".into(),
        Value::Array(names(crate::report::EnvPhase::Runtime)),
    );
    root.insert("env".into(), Value::Table(env));
    if let Some(id) = profile.base44.as_ref().and_then(|b| b.app_id.clone()) {
        let mut b = Table::new();
        b.insert("app_id".into(), text(&id));
        let mut compat = Table::new();
        compat.insert("base44".into(), Value::Table(b));
        root.insert("compat".into(), Value::Table(compat));
    }
    let body = toml::to_string_pretty(&root).unwrap_or_default();
    format!(
        "# ferry.toml: the app manifest (docs/formats/ferry-toml.md). Written by `ferry inspect --write`;\n\
         # edit freely: what it says wins over detection. Env lists hold names only, never values.\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(
            r#"
version = 1
name = "my-app"
builder = "lovable"
[[unit]]
name = "web"
path = "."
kind = "static"
framework = "vite-react"
install = "npm ci"
build = "npm run build"
output = "dist"
spa = true
[[unit.proxy]]
prefix = "/api"
to = "api"
[[unit]]
name = "api"
path = "backend"
kind = "server"
[[unit.process]]
command = "node server.js"
health = "/healthz"
[env]
build = ["VITE_SUPABASE_URL"]
runtime = ["DATABASE_URL"]
[compat]
base44 = { app_id = "6846a07200cee0cf7ccb055c" }
"#,
        )
        .expect("valid manifest");
        assert_eq!(m.units.len(), 2);
        assert_eq!(m.units[1].processes[0].health.as_deref(), Some("/healthz"));
        assert_eq!(m.env.runtime, ["DATABASE_URL"]);
    }

    #[test]
    fn rejects_what_it_cannot_honour() {
        let cases = [
            ("version = 2", "not supported"),
            ("name = \"x\"", "`version` is missing"),
            ("version = 1\nnmae = \"x\"", "unknown field"),
            ("version = 1\nname = \"My App\"", "lowercase"),
            (
                "version = 1\n[[unit]]\npath = \"../other\"",
                "relative path",
            ),
            ("version = 1\n[[unit]]\npath = \"/etc\"", "relative path"),
            (
                "version = 1\n[[unit]]\nname = \"a\"\n[[unit.proxy]]\nprefix = \"/api\"\nto = \"b\"",
                "not a named unit",
            ),
            ("version = 1\n[[unit]]\n[[unit]]", "two units"),
            // Found by fuzzing: user values are escaped so errors stay on one line.
            (
                "version = 1\n[[unit]]\nname = \"a\\nb\"",
                "`a\\nb` must be a slug",
            ),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(text).expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn process_limits_are_checked_and_kept() {
        let m = Manifest::parse(
            "version = 1\n[[unit]]\nname = \"api\"\nkind = \"server\"\n[[unit.process]]\ncommand = \"node s.js\"\nmemory = \"512MiB\"\ncpus = 1.5\npids = 256\nopen_files = 4096\n[[unit.process]]\nname = \"worker\"\ncommand = \"node w.js\"\n",
        )
        .expect("valid limits");
        let limits = m.units[0].processes[0].limits;
        assert_eq!(
            limits,
            ProcessLimits {
                memory_bytes: Some(512 << 20),
                cpu_percent: Some(150),
                pids: Some(256),
                open_files: Some(4096),
            }
        );
        assert!(m.units[0].processes[1].limits.is_empty(), "none by default");

        let cases = [
            (
                "[[unit]]\nname = \"api\"\n[[unit.process]]\ncommand = \"x\"\nmemory = \"12XB\"",
                "unit `api`, process `web`: `memory = \"12XB\"` is not a size: write bytes or a number with a unit, e.g. \"512MiB\"",
            ),
            (
                "[[unit]]\npath = \"srv\"\n[[unit.process]]\nname = \"jobs\"\ncommand = \"x\"\ncpus = 0",
                "unit `srv`, process `jobs`: `cpus = 0` is not a number of CPUs",
            ),
            (
                "[[unit]]\n[[unit.process]]\ncommand = \"x\"\npids = -3",
                "unit `.`, process `web`: `pids = -3` is not a whole number from 1 to",
            ),
            (
                "[[unit]]\n[[unit.process]]\ncommand = \"x\"\nopen_files = \"many\"",
                "`open_files = \"many\"` is not a whole number from 16 to 1048576",
            ),
            (
                "[[unit]]\n[[unit.process]]\ncommand = \"x\"\nmemory = 512",
                "`memory = 512` is below 1 MiB",
            ),
            (
                "[[unit]]\n[[unit.process]]\ncommand = \"x\"\nmemroy = \"1GiB\"",
                "unknown field `memroy`",
            ),
        ];
        for (body, expected) in cases {
            let text = format!("version = 1\n{body}\n");
            let err = Manifest::parse(&text).expect_err(&text);
            assert_eq!(err.code(), "invalid-manifest");
            assert!(err.to_string().contains(expected), "{text}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn rendered_limits_parse_back_the_same() {
        for limits in [
            ProcessLimits {
                memory_bytes: Some(3 << 29),
                cpu_percent: Some(150),
                pids: Some(256),
                open_files: Some(4096),
            },
            ProcessLimits {
                memory_bytes: Some(300_000_000),
                ..ProcessLimits::default()
            },
            ProcessLimits {
                memory_bytes: Some(2 << 30),
                cpu_percent: Some(5),
                ..ProcessLimits::default()
            },
        ] {
            let mut process = toml::Table::new();
            process.insert("command".into(), toml::Value::String("x".into()));
            render_limits(&mut process, &limits);
            let text = format!(
                "version = 1\n[[unit]]\n[[unit.process]]\n{}",
                toml::to_string(&process).expect("toml")
            );
            let m = Manifest::parse(&text).expect(&text);
            assert_eq!(m.units[0].processes[0].limits, limits, "{text}");
        }
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = Manifest::parse("version = 1\nname = \"unterminated\n").expect_err("bad");
        assert_eq!(err.code(), "malformed-file");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}

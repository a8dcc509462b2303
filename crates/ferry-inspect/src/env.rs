//! Env vars the code reads, against those defined in committed `.env*` files.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::builder::re;
use crate::report::{EnvPhase, EnvReport, EnvVar};
use crate::scan::Sources;

/// Names ferry or the bundler sets; not reported.
pub const PROVIDED: &[&str] = &["NODE_ENV", "MODE", "DEV", "PROD", "SSR", "BASE_URL", "PORT"];

/// Prefixes bundlers inline into browser code.
pub const BROWSER_PREFIXES: &[&str] = &[
    "VITE_",
    "NEXT_PUBLIC_",
    "REACT_APP_",
    "PUBLIC_",
    "NUXT_PUBLIC_",
    "EXPO_PUBLIC_",
];

/// Env files that give values.
const DEFINING: &[&str] = &[
    ".env",
    ".env.local",
    ".env.development",
    ".env.production",
    ".env.development.local",
    ".env.production.local",
];
/// Env files that only document names.
const EXAMPLES: &[&str] = &[".env.example", ".env.sample", ".env.template"];

/// The phase a name is read in.
pub fn phase(name: &str) -> EnvPhase {
    if BROWSER_PREFIXES.iter().any(|p| name.starts_with(p)) {
        EnvPhase::Build
    } else {
        EnvPhase::Runtime
    }
}

/// Whether `path` is a committed env file with values (not an example).
pub fn is_defining_env_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    DEFINING.contains(&name)
}

/// `NAME=value` pairs of an env file: `(name, value, line)`.
pub fn parse_env_file(text: &str) -> Vec<(String, String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let (name, value) = line.split_once('=')?;
            let name = name.trim();
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((name.to_string(), value.to_string(), i + 1))
        })
        .collect()
}

struct Readers {
    direct: Regex,
    worker: Regex,
    settings_class: Regex,
    field: Regex,
}

impl Readers {
    fn new() -> Self {
        Readers {
            direct: re(concat!(
                r#"(?:import\.meta\.env|process\.env)(?:\.([A-Z][A-Z0-9_]*)\b|\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\])"#,
                r#"|os\.environ(?:\.get\(\s*|\[\s*)["']([A-Z][A-Z0-9_]*)["']"#,
                r#"|os\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"#,
                r#"|Deno\.env\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"#,
            )),
            worker: re(r"(?:^|[^.\w])env\.([A-Z][A-Z0-9_]*)\b"),
            settings_class: re(r"(?m)^class\s+\w+\(\s*BaseSettings\s*\)\s*:"),
            field: re(r"^\s{4}([a-z_][a-z0-9_]*)\s*:\s*[A-Za-z]"),
        }
    }
}

/// Builds the env report from the loaded files.
pub fn scan(sources: &Sources) -> EnvReport {
    let readers = Readers::new();
    let mut read: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut defined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &sources.files {
        let name = file.path.rsplit('/').next().unwrap_or(&file.path);
        if DEFINING.contains(&name) || EXAMPLES.contains(&name) {
            let target = if DEFINING.contains(&name) {
                &mut defined
            } else {
                &mut examples
            };
            for (var, _, _) in parse_env_file(&file.text) {
                target.entry(var).or_default().push(file.path.clone());
            }
            continue;
        }
        if !file.is_code() || file.ext == "html" {
            continue;
        }
        let mut note = |var: &str, offset: usize| {
            let entry = read.entry(var.to_string()).or_default();
            if entry.len() < 10 {
                let at = file.at(offset);
                if !entry.contains(&at) {
                    entry.push(at);
                }
            }
        };
        for caps in readers.direct.captures_iter(&file.text) {
            if let Some(m) = (1..=5).find_map(|i| caps.get(i)) {
                note(m.as_str(), m.start());
            }
        }
        let is_worker = file.text.contains("export default {") && file.text.contains("fetch(");
        if is_worker {
            for caps in readers.worker.captures_iter(&file.text) {
                if let Some(m) = caps.get(1) {
                    note(m.as_str(), m.start());
                }
            }
        }
        if file.ext == "py" {
            for class in readers.settings_class.find_iter(&file.text) {
                let mut offset = class.end();
                for line in file.text[class.end()..].split_inclusive('\n').skip(1) {
                    if !line.trim().is_empty() && !line.starts_with(' ') && !line.starts_with('\t')
                    {
                        break;
                    }
                    if let Some(c) = readers.field.captures(line) {
                        let upper = c[1].to_ascii_uppercase();
                        if upper != "MODEL_CONFIG" {
                            note(&upper, offset + c.get(1).map_or(0, |m| m.start()));
                        }
                    }
                    offset += line.len();
                }
            }
        }
    }
    let names: BTreeSet<String> = read
        .keys()
        .chain(defined.keys())
        .chain(examples.keys())
        .filter(|n| !PROVIDED.contains(&n.as_str()))
        .cloned()
        .collect();
    let mut report = EnvReport::default();
    for name in names {
        let read_at = read.get(&name).cloned().unwrap_or_default();
        let defined_in = dedup(defined.get(&name).cloned().unwrap_or_default());
        let example_in = dedup(examples.get(&name).cloned().unwrap_or_default());
        if !read_at.is_empty() && defined_in.is_empty() {
            report.missing.push(name.clone());
        }
        if read_at.is_empty() && !defined_in.is_empty() {
            report.unused.push(name.clone());
        }
        report.vars.push(EnvVar {
            phase: phase(&name),
            name,
            read_at,
            defined_in,
            example_in,
        });
    }
    report
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::SourceFile;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
            client: false,
            build_output: false,
            ext: path
                .rsplit_once('.')
                .map(|(_, e)| e.to_string())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn reads_every_form() {
        let sources = Sources {
            files: vec![
                file(
                    ".env",
                    "VITE_SUPABASE_URL=https://x.supabase.co\nUNUSED_ONE=1\n",
                ),
                file(".env.example", "STRIPE_SECRET_KEY=\n"),
                file(
                    "backend/config.py",
                    "import os\nA = os.environ['MONGO_URL']\nB = os.environ.get(\"DB_NAME\")\nC = os.getenv('X_TOKEN')\n\nclass Settings(BaseSettings):\n    database_url: str\n    debug: bool = False\n\nother = 1\n",
                ),
                file(
                    "src/a.ts",
                    "const u = import.meta.env.VITE_SUPABASE_URL;\nconst m = import.meta.env.MODE;\nconst k = process.env[\"STRIPE_SECRET_KEY\"];\n",
                ),
                file(
                    "supabase/functions/f/index.ts",
                    "Deno.env.get('RESEND_API_KEY')",
                ),
                file(
                    "worker/index.ts",
                    "export default { async fetch(req, env) { return env.KV_TOKEN } }",
                ),
            ],
            truncated: false,
        };
        let report = scan(&sources);
        let names: Vec<&str> = report.vars.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DATABASE_URL",
                "DB_NAME",
                "DEBUG",
                "KV_TOKEN",
                "MONGO_URL",
                "RESEND_API_KEY",
                "STRIPE_SECRET_KEY",
                "UNUSED_ONE",
                "VITE_SUPABASE_URL",
                "X_TOKEN"
            ]
        );
        let url = &report.vars[8];
        assert_eq!(url.phase, EnvPhase::Build);
        assert_eq!(url.defined_in, [".env"]);
        assert_eq!(url.read_at, ["src/a.ts:1"]);
        assert_eq!(report.unused, ["UNUSED_ONE"]);
        assert!(report.missing.contains(&"STRIPE_SECRET_KEY".to_string()));
        assert_eq!(report.vars[6].example_in, [".env.example"]);
    }

    #[test]
    fn env_files_parse_quotes_and_exports() {
        let parsed = parse_env_file("# c\nexport A=\"x y\"\nB='z'\nC=plain\nnot a line\n");
        let pairs: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(n, v, _)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("A", "x y"), ("B", "z"), ("C", "plain")]);
    }
}

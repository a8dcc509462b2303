//! Leaked secrets in the tree, in committed build output and in every line the git history
//! added (docs/findings.md, "Secrets"). Values never leave this module: a secret is reported
//! as its kind, location, a redacted preview and a fingerprint.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

use crate::builder::re;
use crate::history::History;
use crate::report::{PublicKey, Secret, Severity};
use crate::scan::{DOC_EXTENSIONS, LOCKFILES, Sources, is_client, line_at};

/// One pattern of the scan.
struct Rule {
    kind: &'static str,
    pattern: &'static str,
    severity: Severity,
    /// The visible prefix of a value (shown in previews, excluded from the placeholder test).
    prefix: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        kind: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        severity: Severity::Critical,
        prefix: "eyJ",
    },
    Rule {
        kind: "supabase-secret-key",
        pattern: r"\bsb_secret_[A-Za-z0-9_-]{20,}",
        severity: Severity::Critical,
        prefix: "sb_secret_",
    },
    Rule {
        kind: "supabase-publishable-key",
        pattern: r"\bsb_publishable_[A-Za-z0-9_-]{20,}",
        severity: Severity::Info,
        prefix: "sb_publishable_",
    },
    Rule {
        kind: "stripe-live-secret-key",
        pattern: r"\bsk_live_[A-Za-z0-9]{20,}",
        severity: Severity::Critical,
        prefix: "sk_live_",
    },
    Rule {
        kind: "stripe-restricted-key",
        pattern: r"\brk_live_[A-Za-z0-9]{20,}",
        severity: Severity::High,
        prefix: "rk_live_",
    },
    Rule {
        kind: "stripe-test-secret-key",
        pattern: r"\bsk_test_[A-Za-z0-9]{20,}",
        severity: Severity::Medium,
        prefix: "sk_test_",
    },
    Rule {
        kind: "stripe-publishable-key",
        pattern: r"\bpk_(?:live|test)_[A-Za-z0-9]{20,}",
        severity: Severity::Info,
        prefix: "pk_",
    },
    Rule {
        kind: "anthropic-api-key",
        pattern: r"\bsk-ant-[A-Za-z0-9_-]{30,}",
        severity: Severity::High,
        prefix: "sk-ant-",
    },
    Rule {
        kind: "emergent-llm-key",
        pattern: r"\bsk-emergent-[A-Za-z0-9]{10,}",
        severity: Severity::High,
        prefix: "sk-emergent-",
    },
    Rule {
        kind: "openai-api-key",
        pattern: r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|\bsk-[A-Za-z0-9]{20,}T3BlbkFJ[A-Za-z0-9]{20,}",
        severity: Severity::High,
        prefix: "sk-",
    },
    Rule {
        kind: "aws-access-key-id",
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        severity: Severity::High,
        prefix: "AKIA",
    },
    Rule {
        kind: "aws-secret-access-key",
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key\w*["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}\b"#,
        severity: Severity::Critical,
        prefix: "",
    },
    Rule {
        kind: "private-key",
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        severity: Severity::Critical,
        prefix: "-----BEGIN",
    },
    Rule {
        kind: "google-api-key",
        pattern: r"\bAIza[0-9A-Za-z_-]{35}\b",
        severity: Severity::Medium,
        prefix: "AIza",
    },
    Rule {
        kind: "github-token",
        pattern: r"\bgh[pousr]_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}",
        severity: Severity::High,
        prefix: "gh",
    },
    Rule {
        kind: "slack-token",
        pattern: r"\bxox[bpar]-[A-Za-z0-9-]{10,}",
        severity: Severity::High,
        prefix: "xox",
    },
    Rule {
        kind: "sendgrid-api-key",
        pattern: r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
        severity: Severity::High,
        prefix: "SG.",
    },
    Rule {
        kind: "database-url-password",
        pattern: r#"\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|rediss?)://[^\s:/'"@]+:[^\s@'"/]+@[^\s/:'"?@]+"#,
        severity: Severity::High,
        prefix: "",
    },
];

struct Compiled {
    any: Regex,
    each: Vec<Regex>,
    aws_value: Regex,
    db_parts: Regex,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let joined = RULES
        .iter()
        .map(|r| format!("(?:{})", r.pattern))
        .collect::<Vec<_>>()
        .join("|");
    Compiled {
        any: re(&joined),
        each: RULES
            .iter()
            .map(|r| re(&format!("^(?:{})", r.pattern)))
            .collect(),
        aws_value: re(r"[A-Za-z0-9/+]{40}$"),
        db_parts: re(r#"^([a-z+]+)://([^\s:/'"@]+):([^\s@'"/]+)@([^\s/:'"?@]+)"#),
    }
});

/// Hosts of database URLs that point at the developer's own machine or a compose service.
const LOCAL_HOSTS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    "db",
    "postgres",
    "mongo",
    "redis",
    "host.docker.internal",
];

/// Fragments that mark a value as a placeholder.
const PLACEHOLDER_MARKS: &[&str] = &[
    "xxx",
    "your",
    "example",
    "placeholder",
    "changeme",
    "change-me",
    "change_me",
    "dummy",
    "sample",
    "redacted",
    "<",
    ">",
    "${",
    "{{",
    "...",
    "***",
];

/// What one match is.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Secret or public-key kind.
    pub kind: String,
    /// Severity before the client-code bump.
    pub severity: Severity,
    /// Public by design.
    pub public: bool,
    /// Byte offset in the scanned text.
    pub offset: usize,
    /// Redacted preview.
    pub preview: String,
    /// BLAKE3 fingerprint (12 hex digits).
    pub fingerprint: String,
}

/// Scans one text. `env_file` enables the `env-secret` rule.
pub fn scan_text(text: &str, env_file: bool) -> Vec<Hit> {
    let c = &*COMPILED;
    let mut hits = Vec::new();
    for m in c.any.find_iter(text) {
        let Some(index) = c.each.iter().position(|r| r.is_match(m.as_str())) else {
            continue;
        };
        if let Some(hit) = classify(&RULES[index], m.as_str(), m.start(), text) {
            hits.push(hit);
        }
    }
    if env_file {
        let matched_lines: BTreeSet<usize> = hits.iter().map(|h| line_at(text, h.offset)).collect();
        for (name, value, line) in crate::env::parse_env_file(text) {
            if matched_lines.contains(&line) || !secret_name(&name) {
                continue;
            }
            if value.len() < 16 || entropy(&value) < 3.5 || is_placeholder(&value) {
                continue;
            }
            let offset = text
                .split_inclusive('\n')
                .take(line - 1)
                .map(str::len)
                .sum();
            hits.push(Hit {
                kind: "env-secret".into(),
                severity: Severity::High,
                public: false,
                offset,
                preview: format!("{name}=… ({} chars)", value.chars().count()),
                fingerprint: fingerprint(&value),
            });
        }
    }
    hits
}

fn classify(rule: &Rule, value: &str, offset: usize, text: &str) -> Option<Hit> {
    let c = &*COMPILED;
    let hit = |kind: &str, severity: Severity, public: bool, preview: String, secret: &str| Hit {
        kind: kind.into(),
        severity,
        public,
        offset,
        preview,
        fingerprint: fingerprint(secret),
    };
    let chars = value.chars().count();
    match rule.kind {
        "jwt" => {
            let role = jwt_role(value)?;
            let (kind, public) = match role.as_str() {
                "anon" => ("supabase-anon-key", true),
                "service_role" => ("supabase-service-role-key", false),
                _ => return None,
            };
            let preview = format!("eyJ… (JWT, role {role}, {chars} chars)");
            Some(hit(kind, Severity::Critical, public, preview, value))
        }
        "aws-secret-access-key" => {
            let secret = c.aws_value.find(value)?.as_str();
            if is_placeholder(secret) {
                return None;
            }
            Some(hit(
                rule.kind,
                rule.severity,
                false,
                "aws_secret_access_key=… (40 chars)".into(),
                secret,
            ))
        }
        "database-url-password" => {
            let caps = c.db_parts.captures(value)?;
            let (scheme, user, password, host) = (&caps[1], &caps[2], &caps[3], &caps[4]);
            let weak = ["password", "pass", "secret", "postgres", "root", "admin"];
            if LOCAL_HOSTS.contains(&host.to_ascii_lowercase().as_str())
                || weak.contains(&password.to_ascii_lowercase().as_str())
                || is_placeholder(password)
            {
                return None;
            }
            let preview = format!("{scheme}://{user}:…@{host}");
            Some(hit(rule.kind, rule.severity, false, preview, password))
        }
        "private-key" => {
            let body = &text[offset + value.len()..];
            let body = body.split("-----END").next().unwrap_or("");
            let payload: String = body
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
                .collect();
            if payload.len() < 64 || is_placeholder(body) {
                return None;
            }
            Some(hit(
                rule.kind,
                rule.severity,
                false,
                format!("{value} …"),
                &payload,
            ))
        }
        "google-api-key" => {
            let random = &value[rule.prefix.len()..];
            if is_placeholder(random) {
                return None;
            }
            let preview = format!("AIza… ({chars} chars)");
            if firebase_context(text, offset) {
                return Some(hit(
                    "firebase-web-api-key",
                    Severity::Info,
                    true,
                    preview,
                    value,
                ));
            }
            Some(hit(rule.kind, rule.severity, false, preview, value))
        }
        kind => {
            let random = value.get(rule.prefix.len()..).unwrap_or(value);
            let random = random.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if is_placeholder(random) {
                return None;
            }
            let public = rule.severity == Severity::Info;
            let shown = value.get(..visible_prefix(value)).unwrap_or("");
            let preview = format!("{shown}… ({chars} chars)");
            Some(hit(kind, rule.severity, public, preview, value))
        }
    }
}

/// How many leading characters of a value are a public prefix.
fn visible_prefix(value: &str) -> usize {
    let prefixes = [
        "sb_secret_",
        "sb_publishable_",
        "sk_live_",
        "rk_live_",
        "sk_test_",
        "pk_live_",
        "pk_test_",
        "sk-ant-",
        "sk-emergent-",
        "sk-proj-",
        "sk-svcacct-",
        "sk-admin-",
        "sk-",
        "AKIA",
        "ASIA",
        "github_pat_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxr-",
        "SG.",
    ];
    prefixes
        .iter()
        .find(|p| value.starts_with(*p))
        .map_or(0, |p| p.len())
}

/// A Firebase web config keeps its `apiKey` next to `authDomain`: public by design.
fn firebase_context(text: &str, offset: usize) -> bool {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    if text[start..line_end]
        .to_ascii_uppercase()
        .contains("FIREBASE")
    {
        return true;
    }
    let window_start = text[..start]
        .char_indices()
        .rev()
        .filter(|(_, c)| *c == '\n')
        .nth(10)
        .map_or(0, |(i, _)| i);
    let window_end = text[line_end..]
        .char_indices()
        .filter(|(_, c)| *c == '\n')
        .nth(10)
        .map_or(text.len(), |(i, _)| line_end + i);
    let window = &text[window_start..window_end];
    window.contains("authDomain") || window.contains("firebaseapp.com")
}

/// The `role` claim of a JWT, if its payload decodes.
pub fn jwt_role(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("role")?.as_str().map(str::to_string)
}

/// Whether an env var name says it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "PRIVATE"]
        .iter()
        .any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
}

/// Whether a value is a placeholder rather than a real credential.
pub fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_MARKS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    let distinct: BTreeSet<char> = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    distinct.len() < 8
}

/// Shannon entropy in bits per character.
pub fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = value.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// `url` with any user-info (`user:token@`) replaced by `***@`.
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// First 12 hex digits of the value's BLAKE3 hash.
pub fn fingerprint(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex()[..12].to_string()
}

/// Secrets and public keys of a whole source.
#[derive(Debug, Default)]
pub struct SecretScan {
    /// Leaks, one per distinct value.
    pub secrets: Vec<Secret>,
    /// Public keys, one per kind and place.
    pub public_keys: Vec<PublicKey>,
}

fn skipped(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    LOCKFILES.contains(&name) || DOC_EXTENSIONS.contains(&ext.as_str())
}

fn is_env_file(path: &str) -> bool {
    crate::env::is_defining_env_file(path)
}

/// Scans the loaded files, then the history's added lines.
pub fn scan(sources: &Sources, history: Option<&History>) -> SecretScan {
    let mut out = SecretScan::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut public_seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut record =
        |out: &mut SecretScan, hit: Hit, at: String, client: bool, commit: Option<String>| {
            if hit.public {
                if public_seen.insert((hit.kind.clone(), at.clone())) && out.public_keys.len() < 100
                {
                    out.public_keys.push(PublicKey { kind: hit.kind, at });
                }
                return;
            }
            if !seen.insert(hit.fingerprint.clone()) {
                return;
            }
            let severity = if client {
                Severity::Critical
            } else {
                hit.severity
            };
            out.secrets.push(Secret {
                kind: hit.kind,
                severity,
                at,
                commit,
                client,
                preview: hit.preview,
                fingerprint: hit.fingerprint,
            });
        };
    for file in sources.files.iter().filter(|f| f.is_secret_scanned()) {
        for hit in scan_text(&file.text, is_env_file(&file.path)) {
            let at = file.at(hit.offset);
            record(&mut out, hit, at, file.client, None);
        }
    }
    if let Some(history) = history {
        for added in &history.added {
            if skipped(&added.path) {
                continue;
            }
            let text: String = added.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
            let hits = scan_text(&text, is_env_file(&added.path));
            if hits.is_empty() {
                continue;
            }
            let client = is_client(&added.path, &text);
            for hit in hits {
                let index = line_at(&text, hit.offset) - 1;
                let line = added.lines.get(index).map_or(0, |(n, _)| *n);
                let at = format!("{}:{line}", added.path);
                record(&mut out, hit, at, client, Some(added.commit.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(role: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            enc(r#"{"alg":"HS256","typ":"JWT"}"#),
            enc(&format!(
                r#"{{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"{role}","iat":1700000000,"exp":2000000000}}"#
            )),
            "Qm9ndXNTaWduYXR1cmVGb3JUZXN0c09ubHk"
        )
    }

    fn kinds(text: &str, env: bool) -> Vec<(String, bool)> {
        scan_text(text, env)
            .into_iter()
            .map(|h| (h.kind, h.public))
            .collect()
    }

    #[test]
    fn jwts_are_classified_by_role() {
        assert_eq!(
            kinds(&format!("const k = \"{}\";", jwt("anon")), false),
            [("supabase-anon-key".into(), true)]
        );
        assert_eq!(
            kinds(&jwt("service_role"), false),
            [("supabase-service-role-key".into(), false)]
        );
        assert_eq!(kinds(&jwt("authenticated"), false), []);
    }

    #[test]
    fn finds_each_kind() {
        let cases = [
            (
                "sk_live_51HqLyjWDarjtT1zdp7dcXYZabc9",
                "stripe-live-secret-key",
            ),
            (
                "rk_live_51HqLyjWDarjtT1zdp7dcXYZabc9",
                "stripe-restricted-key",
            ),
            (
                "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
                "supabase-secret-key",
            ),
            ("sk-proj-4fJ8kLm2Qp9RsT1uVw3XyZ6aBcDeFgHi", "openai-api-key"),
            (
                "sk-ant-api03-Zq8Xr2Lm4Np6Kt9Vb1Cd3Fg5Hj7Ws0Ye2Ui4Op6",
                "anthropic-api-key",
            ),
            ("sk-emergent-4b7D9fK2mQ8x", "emergent-llm-key"),
            ("AKIAZ7QH3LJ5M2XK9PWD", "aws-access-key-id"),
            (
                "aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8Lk3Tn2V\"",
                "aws-secret-access-key",
            ),
            ("AIzaSyB3kR9fL2mN8qP4sT6vX1zC5hJ7wD0gYeU", "google-api-key"),
            ("ghp_R8sK2mL9qP4tX7vB1nC6zD3fH5jW0yE2uA8i", "github-token"),
            ("xoxb-2841937465-8723649182-Zq8Xr2Lm4Np", "slack-token"),
            (
                "postgres://app_user:S3cr3tPassw0rdXyz@db.prod-cluster.net:5432/app",
                "database-url-password",
            ),
        ];
        for (text, kind) in cases {
            assert_eq!(kinds(text, false), [(kind.to_string(), false)], "{text}");
        }
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(kinds(pem, false), [("private-key".to_string(), false)]);
    }

    #[test]
    fn decoys_are_not_secrets() {
        for decoy in [
            "sk_test_xxxxxxxxxxxxxxxxxxxxxxxx",
            "sk_live_your_stripe_secret_key_here",
            "OPENAI_API_KEY=sk-...your-key...",
            "postgres://postgres:postgres@localhost:5432/dev",
            "postgres://user:password@db.example.com/app",
            "mongodb://admin:<password>@cluster0.mongodb.net",
            "\"integrity\": \"sha512-9Wr8LDPzJSKCG8JF9Ta5jK4hUvLf7mCh2qyR5QXpe3kDIwPkR6zJq9tHS+7e3w2X7AyjRgLeL9nS==\"",
            "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
        ] {
            let secrets: Vec<_> = scan_text(decoy, true)
                .into_iter()
                .filter(|h| !h.public)
                .collect();
            assert!(secrets.is_empty(), "{decoy}: {secrets:?}");
        }
        assert_eq!(
            kinds("pk_live_51HqLyjWDarjtT1zdp7dcXYZabc9", false),
            [("stripe-publishable-key".into(), true)]
        );
        let firebase = "const firebaseConfig = {\n  apiKey: \"AIzaSyB3kR9fL2mN8qP4sT6vX1zC5hJ7wD0gYeU\",\n  authDomain: \"demo.firebaseapp.com\",\n};";
        assert_eq!(
            kinds(firebase, false),
            [("firebase-web-api-key".into(), true)]
        );
    }

    #[test]
    fn env_files_flag_high_entropy_secrets_by_name() {
        let env = "SESSION_SECRET=q8Zr2LmX4Np6Kt9Vb1Cd3Fg5Hj7Ws0Ye\nAPP_NAME=my-very-long-app-name-here\nJWT_SECRET=changeme-changeme-changeme\nANTHROPIC_API_KEY=sk-ant-api03-Zq8Xr2Lm4Np6Kt9Vb1Cd3Fg5Hj7Ws0Ye2Ui4Op6\n";
        let found = kinds(env, true);
        assert_eq!(
            found,
            [
                ("anthropic-api-key".to_string(), false),
                ("env-secret".to_string(), false)
            ]
        );
        assert!(kinds(env, false).iter().all(|(k, _)| k != "env-secret"));
    }

    #[test]
    fn previews_never_hold_the_value() {
        let key = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabc9";
        let hit = &scan_text(key, false)[0];
        assert_eq!(hit.preview, "sk_live_… (36 chars)");
        assert!(!hit.preview.contains("51Hq"));
        assert_eq!(hit.fingerprint, fingerprint(key));
        assert_eq!(hit.fingerprint.len(), 12);
    }

    #[test]
    fn entropy_and_placeholders() {
        assert!(entropy("aaaaaaaa") < 0.01);
        assert!(entropy("q8Zr2LmX4Np6Kt9Vb1Cd3Fg5Hj7Ws0Ye") > 4.0);
        assert!(is_placeholder("your-api-key-here"));
        assert!(is_placeholder("abababababababab"));
        assert!(!is_placeholder("q8Zr2LmX4Np6Kt9V"));
    }
}

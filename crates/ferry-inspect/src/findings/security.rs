//! What is unsafe today: row-level security, leaked keys, open CORS, tokens in URLs.

use super::{Facts, finding};
use crate::builder::re;
use crate::report::{EnvPhase, Finding, FindingCategory::Security, Severity};
use crate::sql::PolicyCommand;

pub(super) fn findings(f: &Facts, out: &mut Vec<Finding>) {
    rls(f, out);
    secrets(f, out);
    browser_env(f, out);
    if let Some(sb) = f.supabase {
        for fun in sb.functions.iter().filter(|fun| !fun.verify_jwt) {
            out.push(finding(
                "verify-jwt-disabled",
                Security,
                Severity::Medium,
                format!("Edge function `{}` accepts calls without a user's JWT", fun.name),
                vec![fun.at.clone(), format!("supabase/config.toml: [functions.{}] verify_jwt = false", fun.name)],
                "Set `verify_jwt = true`, or check a signature/secret inside the function if it is a webhook",
                None,
            ));
        }
    }
    cors(f, out);
    token_in_url(f, out);
    admin_ui_only(f, out);
}

fn rls(f: &Facts, out: &mut Vec<Finding>) {
    let Some(sb) = f.supabase else { return };
    for table in sb.tables.iter().filter(|t| t.schema == "public") {
        let name = format!("{}.{}", table.schema, table.name);
        if !table.rls {
            out.push(finding(
                "rls-missing",
                Security,
                Severity::Critical,
                format!("Table `{name}` has no row-level security: anyone with the public anon key can read and change it"),
                vec![format!("{name} ({})", table.at)],
                format!("`ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;` then add policies such as `USING (auth.uid() = user_id)`"),
                None,
            ));
        }
        for policy in &table.policies {
            let write = matches!(
                policy.command,
                PolicyCommand::All
                    | PolicyCommand::Insert
                    | PolicyCommand::Update
                    | PolicyCommand::Delete
            );
            if !write {
                continue;
            }
            let anyone = policy.roles.is_empty()
                || policy.roles.iter().any(|r| r == "anon" || r == "public");
            let always = policy.using.as_deref() == Some("true")
                || policy.with_check.as_deref() == Some("true");
            let command = format!("{:?}", policy.command).to_uppercase();
            let roles = if policy.roles.is_empty() {
                "public".to_string()
            } else {
                policy.roles.join(", ")
            };
            let evidence = vec![format!(
                "{name}: policy \"{}\" FOR {command} TO {roles} ({})",
                policy.name, policy.at
            )];
            if always {
                let severity = if anyone {
                    Severity::Critical
                } else {
                    Severity::High
                };
                out.push(finding(
                    "rls-permissive-write",
                    Security,
                    severity,
                    format!("Policy \"{}\" lets {roles} {command} any row of `{name}` (condition `true`)", policy.name),
                    evidence,
                    "Replace `true` with a real condition, e.g. `WITH CHECK (auth.uid() = user_id)`",
                    None,
                ));
            } else if policy.roles.iter().any(|r| r == "anon") {
                out.push(finding(
                    "rls-anon-write",
                    Security,
                    Severity::Medium,
                    format!("Policy \"{}\" lets signed-out visitors {command} rows of `{name}`", policy.name),
                    evidence,
                    "Restrict the policy to `authenticated`, unless anonymous writes are intended (then rate-limit them)",
                    None,
                ));
            }
        }
    }
}

fn secrets(f: &Facts, out: &mut Vec<Finding>) {
    for s in f.secrets {
        let place = match &s.commit {
            Some(commit) => format!("{} in commit {}", s.at, &commit[..commit.len().min(10)]),
            None => s.at.clone(),
        };
        let evidence = vec![format!(
            "{place}: {} (fingerprint {})",
            s.preview, s.fingerprint
        )];
        let service_key = s.kind == "supabase-service-role-key" || s.kind == "supabase-secret-key";
        let rotate = "Rotate the key at the provider now; then remove it from the code (and the history) and keep it in ferry's secret store";
        if service_key && s.client {
            out.push(finding(
                "service-key-in-client",
                Security,
                Severity::Critical,
                "A Supabase service key is in code that ships to browsers: it bypasses every RLS policy",
                evidence,
                rotate,
                None,
            ));
            continue;
        }
        let when = if s.commit.is_some() {
            "in the git history (deleted, still leaked)"
        } else {
            "committed"
        };
        out.push(finding(
            "secret-leaked",
            Security,
            s.severity,
            format!("A {} is {when}", s.kind.replace('-', " ")),
            evidence,
            rotate,
            None,
        ));
    }
}

fn browser_env(f: &Facts, out: &mut Vec<Finding>) {
    for var in f.env.vars.iter().filter(|v| v.phase == EnvPhase::Build) {
        let upper = var.name.to_ascii_uppercase();
        let secretish = ["SERVICE_ROLE", "SECRET", "PRIVATE", "PASSWORD"]
            .iter()
            .any(|w| upper.contains(w));
        if secretish {
            let mut evidence = var.read_at.clone();
            evidence.extend(var.defined_in.iter().cloned());
            out.push(finding(
                "secret-in-browser-env",
                Security,
                Severity::Critical,
                format!("`{}` is inlined into the browser bundle, yet its name says it is a secret", var.name),
                evidence,
                "Read it only on a server (drop the public prefix) and rotate it if it was ever built",
                None,
            ));
        }
    }
}

fn cors(f: &Facts, out: &mut Vec<Finding>) {
    let patterns = re(concat!(
        r#"allow_origins\s*=\s*\[\s*["']\*["']\s*\]"#,
        r#"|CORS_ORIGINS["']\s*,\s*["']\*["']"#,
        r#"|Access-Control-Allow-Origin["']?\s*[:,]\s*["']\*["']"#,
        r#"|\bcors\(\s*\)"#,
        r#"|origin\s*:\s*["']\*["']"#,
    ));
    for file in f.sources.code() {
        if let Some(m) = patterns.find(&file.text) {
            out.push(finding(
                "cors-wildcard",
                Security,
                Severity::Medium,
                "The API accepts cross-origin requests from any website",
                vec![format!("{}: `{}`", file.at(m.start()), m.as_str())],
                "List the app's own origins instead of `*`",
                None,
            ));
        }
    }
}

fn token_in_url(f: &Facts, out: &mut Vec<Finding>) {
    let get = re(
        r#"(?:searchParams|URLSearchParams|urlParams|params)\b[^;\n]*\.get\(\s*["'](?:access_token|token)["']"#,
    );
    let literal = re(r#"["']access_token["']"#);
    for file in f.sources.code().filter(|s| s.client) {
        let hit = get.find(&file.text).or_else(|| {
            let uses_params =
                file.text.contains("URLSearchParams") || file.text.contains("searchParams");
            if uses_params {
                literal.find(&file.text)
            } else {
                None
            }
        });
        if let Some(m) = hit {
            out.push(finding(
                "token-in-url",
                Security,
                Severity::Medium,
                "An access token is read from the page URL: it leaks through history, logs and Referer headers",
                vec![file.at(m.start())],
                "Pass tokens in an HttpOnly cookie or a POST body, never in the query string",
                None,
            ));
        }
    }
}

fn admin_ui_only(f: &Facts, out: &mut Vec<Finding>) {
    let has_server = f.units.iter().any(|u| u.kind == crate::UnitKind::Server);
    let policies_check_roles = f.supabase.is_some_and(|sb| {
        sb.tables.iter().flat_map(|t| &t.policies).any(|p| {
            let text = format!(
                "{} {}",
                p.using.as_deref().unwrap_or(""),
                p.with_check.as_deref().unwrap_or("")
            );
            text.contains("role") || text.contains("admin")
        })
    });
    let entity_rules_check_roles = f.base44.is_some_and(|b| {
        b.entities
            .iter()
            .filter_map(|e| e.rls.as_ref())
            .any(|rls| rls.to_string().contains("role"))
    });
    if has_server || policies_check_roles || entity_rules_check_roles {
        return;
    }
    let route = re(r#"["'`]/admin\b"#);
    let check = re(
        r#"role\s*(?:===|==|!==|!=)\s*["']admin["']|["']admin["']\s*(?:===|==)\s*\w+(?:\?)?\.role"#,
    );
    let route_at = f
        .sources
        .code()
        .filter(|s| s.client)
        .find_map(|s| route.find(&s.text).map(|m| s.at(m.start())));
    let check_at = f
        .sources
        .code()
        .filter(|s| s.client)
        .find_map(|s| check.find(&s.text).map(|m| s.at(m.start())));
    if let (Some(route_at), Some(check_at)) = (route_at, check_at) {
        out.push(finding(
            "admin-ui-only",
            Security,
            Severity::Medium,
            "The admin pages are guarded only in the browser; the data API does not check the role",
            vec![format!("route {route_at}"), format!("client-side check {check_at}")],
            "Enforce the role where the data is: RLS policies (or backend rules) that check the user's role",
            None,
        ));
    }
}

//! What still runs on the builder's (or a vendor's) servers.

use super::{Facts, finding};
use crate::builder::re;
use crate::profile::BuilderId;
use crate::report::{Finding, FindingCategory::LockIn, Severity};

const SCRIPT_HOSTS: &[&str] = &[
    "cdn.gpteng.co",
    "lovable.dev",
    "lovable.app",
    "base44.com",
    "base44.app",
    "bolt.new",
    "replit.com",
    "emergent.sh",
    "emergentagent.com",
];

pub(super) fn findings(f: &Facts, out: &mut Vec<Finding>) {
    data(f, out);
    auth(f, out);
    storage(f, out);
    functions(f, out);
    integrations(f, out);
    if let Some(file) = f.deps.npm.get("@base44/sdk") {
        out.push(finding(
            "builder-sdk",
            LockIn,
            Severity::High,
            "Every data call goes through `@base44/sdk` to base44.app",
            vec![format!("{file}: `@base44/sdk`")],
            "Keep the SDK and point it at a Base44-compatible backend you run",
            Some("planned: `ferry serve` answers the SDK's API over your own database, so the app runs unchanged"),
        ));
    }
    scripts(f, out);
    for index in crate::services::private_indexes_of(f.ctx) {
        out.push(finding(
            "private-package",
            LockIn,
            Severity::High,
            "A dependency comes from the builder's private package index",
            vec![index],
            "Replace the private package with public ones (e.g. `emergentintegrations` → the providers' own SDKs) or vendor it",
            None,
        ));
    }
}

fn data(f: &Facts, out: &mut Vec<Finding>) {
    let db_pull = Some("planned: `ferry db pull` copies the data to a Postgres you own, verified");
    if let Some(sb) = f.supabase {
        let project = sb.project_ref.as_deref().unwrap_or("(project unknown)");
        out.push(finding(
            "builder-data",
            LockIn,
            Severity::High,
            format!(
                "The data lives in Supabase project `{project}` ({} tables known)",
                sb.tables.len()
            ),
            service_evidence(f, "supabase"),
            "Export it (pg_dump, or CSV per table on Lovable Cloud) into a database you control",
            db_pull,
        ));
    }
    if f.base44.is_some() {
        let n = f.base44.map_or(0, |b| b.entities.len());
        out.push(finding(
            "builder-data",
            LockIn,
            Severity::High,
            format!(
                "The data ({n} entities) lives on Base44's servers, reachable only through its API"
            ),
            service_evidence(f, "base44"),
            "Pull every entity through Base44's API with the owner's token into your own database",
            Some("planned: `ferry db pull --from base44` copies the entities into owned tables"),
        ));
    }
    if f.has_service("mongodb") {
        out.push(finding(
            "builder-data",
            LockIn,
            Severity::High,
            "The data lives in a hosted MongoDB (`MONGO_URL`)",
            service_evidence(f, "mongodb"),
            "Obtain the production `MONGO_URL` from the builder and `mongodump` it",
            db_pull,
        ));
    }
    if f.has_service("postgres") && f.builder == BuilderId::Replit {
        out.push(finding(
            "builder-data",
            LockIn,
            Severity::High,
            "The data lives in Replit's Neon-backed Postgres (`DATABASE_URL`)",
            service_evidence(f, "postgres"),
            "`pg_dump \"$DATABASE_URL\"` from the Replit shell into your own Postgres",
            db_pull,
        ));
    }
}

fn auth(f: &Facts, out: &mut Vec<Finding>) {
    let supabase_auth = re(
        r"\.auth\.(?:signInWith\w+|signUp|signIn|getUser|getSession|onAuthStateChange|signOut|resetPasswordForEmail)\s*\(",
    );
    if f.supabase.is_some()
        && let Some(at) = first_match(f, &supabase_auth)
    {
        out.push(finding(
            "builder-auth",
            LockIn,
            Severity::High,
            "Users sign in through Supabase Auth; their password hashes stay there",
            vec![at],
            "Move users with their hashes (own Supabase: `auth.users`), or plan password resets",
            Some("planned: ferry serves a GoTrue-compatible `/auth/v1` over your database"),
        ));
    }
    let base44_auth = re(r"base44\.auth\.|\bUser\.(?:me|login|logout|updateMyUserData)\s*\(");
    if f.base44.is_some()
        && let Some(at) = first_match(f, &base44_auth)
    {
        out.push(finding(
            "builder-auth",
            LockIn,
            Severity::High,
            "Users sign in through Base44's auth; accounts live on Base44",
            vec![at],
            "Export users and plan a password reset or an invite for each",
            Some("planned: ferry serves Base44's auth endpoints over your database"),
        ));
    }
    if f.has_service("replit-auth") {
        out.push(finding(
            "builder-auth",
            LockIn,
            Severity::High,
            "Sign-in uses Replit Auth (OIDC client bound to the Repl)",
            service_evidence(f, "replit-auth"),
            "Replace `server/replitAuth.ts` with your own OIDC provider (Auth0, Keycloak, Google…); users stay in your `users` table",
            None,
        ));
    }
}

fn storage(f: &Facts, out: &mut Vec<Finding>) {
    let from = re(r"\.storage\s*\.from\(");
    if f.supabase.is_some()
        && let Some(at) = first_match(f, &from)
    {
        out.push(finding(
            "builder-storage",
            LockIn,
            Severity::Medium,
            "Files are stored in Supabase Storage",
            vec![at],
            "Copy every bucket's objects to storage you control and rewrite public URLs",
            None,
        ));
    }
    if let Some(b) = f.base44 {
        let uploads: Vec<String> = b
            .integrations
            .iter()
            .filter(|i| i.as_str() == "UploadFile" || i.as_str() == "UploadPrivateFile")
            .map(|i| format!("integration `{i}`"))
            .collect();
        if !uploads.is_empty() {
            out.push(finding(
                "builder-storage",
                LockIn,
                Severity::Medium,
                "Uploaded files are stored by Base44",
                uploads,
                "Download the files behind every stored URL and serve them yourself",
                Some("planned: ferry's Base44-compatible `UploadFile` stores files on your disk"),
            ));
        }
    }
    if f.has_service("replit-object-storage") {
        out.push(finding(
            "builder-storage",
            LockIn,
            Severity::Medium,
            "Files are in Replit Object Storage, reached through the Repl's sidecar (127.0.0.1:1106)",
            service_evidence(f, "replit-object-storage"),
            "Move the bucket to S3-compatible storage and replace `server/objectStorage.ts`",
            None,
        ));
    }
}

fn functions(f: &Facts, out: &mut Vec<Finding>) {
    let mut evidence: Vec<String> = f
        .supabase
        .map(|s| {
            s.functions
                .iter()
                .map(|fun| format!("Supabase function `{}` ({})", fun.name, fun.at))
                .collect()
        })
        .unwrap_or_default();
    if let Some(b) = f.base44 {
        evidence.extend(
            b.functions
                .iter()
                .map(|name| format!("Base44 function `{name}`")),
        );
    }
    if !evidence.is_empty() {
        out.push(finding(
            "builder-functions",
            LockIn,
            Severity::Medium,
            format!(
                "{} server function(s) run on the builder's platform",
                evidence.len()
            ),
            evidence,
            "Run them as a server unit of your own (Deno or Node) behind the same paths",
            None,
        ));
    }
}

fn integrations(f: &Facts, out: &mut Vec<Finding>) {
    let mut evidence: Vec<String> = f
        .base44
        .map(|b| {
            b.integrations
                .iter()
                .map(|i| format!("Base44 integration `{i}`"))
                .collect()
        })
        .unwrap_or_default();
    let emergent = re(r"(?m)^\s*(?:from|import)\s+emergentintegrations\b");
    if let Some(at) = first_match(f, &emergent) {
        evidence.push(format!("`emergentintegrations` imported at {at}"));
    }
    if !evidence.is_empty() {
        out.push(finding(
            "builder-integrations",
            LockIn,
            Severity::Medium,
            "The app calls the builder's integrations (LLM, email, files…), billed and keyed by the builder",
            evidence,
            "Call the providers directly (OpenAI, Resend…) with your own keys",
            None,
        ));
    }
}

fn scripts(f: &Facts, out: &mut Vec<Finding>) {
    let tag = re(r#"<script\b[^>]*\bsrc\s*=\s*["'](?:https?:)?//([^/"'\s]+)[^"']*["']"#);
    for file in f
        .sources
        .files
        .iter()
        .filter(|s| s.ext == "html" && !s.build_output)
    {
        for caps in tag.captures_iter(&file.text) {
            let host = caps[1].to_ascii_lowercase();
            let builder_host = SCRIPT_HOSTS
                .iter()
                .any(|h| host == *h || host.ends_with(&format!(".{h}")));
            if builder_host {
                let at = file.at(caps.get(0).map_or(0, |m| m.start()));
                out.push(finding(
                    "injected-script",
                    LockIn,
                    Severity::High,
                    format!("Every page loads a script from the builder (`{host}`)"),
                    vec![at],
                    "Remove the `<script>` tag: it runs the builder's code in your users' browsers",
                    None,
                ));
            }
        }
    }
}

fn service_evidence(f: &Facts, id: &str) -> Vec<String> {
    f.services
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.evidence.iter().take(3).cloned().collect())
        .unwrap_or_default()
}

fn first_match(f: &Facts, pattern: &regex::Regex) -> Option<String> {
    f.sources
        .code()
        .find_map(|file| pattern.find(&file.text).map(|m| file.at(m.start())))
}

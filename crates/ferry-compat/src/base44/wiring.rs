//! What building a Base44 app for ferry needs from its source: the app id, whether it requires
//! sign-in, its entity schemas and backend functions (carried in the release), the build env
//! that points the SDK at ferry on the app's own origin, and, for SDK 0.1 apps whose client
//! hard-codes `createClient({appId})`, a one-line patch applied to the build copy only.
//!
//! Both the SDK's `serverUrl` (API at `${serverUrl}/api/apps/…`) and its `appBaseUrl` (login at
//! `${appBaseUrl}/login`) become [`PREFIX`], a path no app route can clash with; ferry serves the
//! API there as well as at `/api/apps/`, and its sign-in pages.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::base44::functions::{FUNCTIONS_DIR, FunctionSource, FunctionsError, read_functions};
use crate::base44::pages::PREFIX;
use crate::base44::schema::{MAX_ENTITIES, MAX_FILE_BYTES};

/// The client modules the Base44 templates create the SDK client in.
pub const CLIENT_FILES: [&str; 4] = [
    "src/api/base44Client.js",
    "src/api/base44Client.jsx",
    "src/api/base44Client.ts",
    "src/api/base44Client.tsx",
];

/// The build env variables ferry sets for a Base44 app.
pub const APP_ID_VAR: &str = "VITE_BASE44_APP_ID";
/// The SDK's `serverUrl` (SDK 0.8 templates read it through `app-params.js`).
pub const BACKEND_URL_VAR: &str = "VITE_BASE44_BACKEND_URL";
/// The SDK's `appBaseUrl` (where `redirectToLogin` and `logout` go).
pub const APP_BASE_URL_VAR: &str = "VITE_BASE44_APP_BASE_URL";

/// What a Base44 release needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// The Base44 app id (24 hex characters).
    pub app_id: String,
    /// The client is created with `requiresAuth: true`.
    pub requires_auth: bool,
    /// `base44/entities/*.json(c)` by file name.
    pub entities: BTreeMap<String, String>,
    /// `base44/functions/<name>/` by function name.
    pub functions: BTreeMap<String, FunctionSource>,
    /// Variables added to the build env.
    pub build_env: BTreeMap<String, String>,
    /// Files replaced in the build copy: relative path → content.
    pub patches: BTreeMap<String, String>,
    /// What was decided, for the deploy's output.
    pub notes: Vec<String>,
}

/// Why a source could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Too many or too large schema files.
    #[error("{0}")]
    TooLarge(String),
    /// The backend functions could not be read.
    #[error("{0}")]
    Functions(#[from] FunctionsError),
}

impl WiringError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            WiringError::Io { .. } => "io",
            WiringError::TooLarge(_) => "too-large",
            WiringError::Functions(e) => e.code(),
        }
    }
}

fn read_capped(path: &Path, rel: &str) -> Result<String, WiringError> {
    let io = |source| WiringError::Io {
        path: rel.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(WiringError::TooLarge(format!(
            "`{rel}` is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The 24-hex app id ferry uses when the source names none: derived from the app's name, so
/// it is stable across deploys.
pub fn derived_app_id(app: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    for round in 0u8..2 {
        for b in app.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(24);
    out
}

fn is_app_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `appId: "<24 hex>"` literal of a client module, if any.
fn literal_app_id(text: &str) -> Option<String> {
    let at = text.find("appId")?;
    let rest = text[at + 5..].trim_start().strip_prefix(':')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    let id = &inner[..end];
    is_app_id(id).then(|| id.to_ascii_lowercase())
}

/// Reads what a Base44 app at `root` needs. `app` is ferry's app name; `known_app_id` the id
/// inspection found (config, env file, git history), used before the client literal. Build
/// env values the owner set (`owner_env`) win for the app id; the two URLs are always ferry's.
pub fn wire(
    root: &Path,
    app: &str,
    known_app_id: Option<&str>,
    owner_env: &BTreeMap<String, String>,
) -> Result<Wiring, WiringError> {
    let mut notes = Vec::new();
    let mut entities = BTreeMap::new();
    let dir = root.join("base44").join("entities");
    if let Ok(listing) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = listing
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && (n.ends_with(".jsonc") || n.ends_with(".json")))
            .collect();
        names.sort();
        if names.len() > MAX_ENTITIES {
            return Err(WiringError::TooLarge(format!(
                "base44/entities holds {} schemas (at most {MAX_ENTITIES})",
                names.len()
            )));
        }
        for name in names {
            let rel = format!("base44/entities/{name}");
            entities.insert(name.clone(), read_capped(&dir.join(&name), &rel)?);
        }
    }

    let functions = read_functions(root)?;
    for (name, function) in &functions {
        for (file, text) in &function.files {
            let remote = crate::base44::functions::remote_imports(text);
            if !remote.is_empty() {
                notes.push(format!(
                    "function `{name}` imports {} ({FUNCTIONS_DIR}/{name}/{file}): ferry resolves only `npm:` imports, so it is not prepared at deploy and needs those hosts reachable when it first runs; prefer `npm:` packages",
                    remote.join(", ")
                ));
            }
        }
    }

    let client = CLIENT_FILES
        .iter()
        .find(|f| root.join(f).is_file())
        .map(|f| read_capped(&root.join(f), f).map(|text| (f.to_string(), text)))
        .transpose()?;
    let literal = client.as_ref().and_then(|(_, t)| literal_app_id(t));
    let owner_id = owner_env.get(APP_ID_VAR).filter(|v| is_app_id(v)).cloned();
    let app_id = owner_id
        .or_else(|| {
            known_app_id
                .filter(|id| is_app_id(id))
                .map(str::to_ascii_lowercase)
        })
        .or(literal.clone())
        .unwrap_or_else(|| {
            notes.push(format!(
                "no Base44 app id in the source: using {} (derived from the app name)",
                derived_app_id(app)
            ));
            derived_app_id(app)
        });
    let requires_auth = client.as_ref().is_some_and(|(_, t)| {
        t.split("requiresAuth").skip(1).any(|rest| {
            rest.trim_start()
                .trim_start_matches(':')
                .trim_start()
                .starts_with("true")
        })
    });

    let mut build_env = BTreeMap::new();
    build_env.insert(APP_ID_VAR.to_owned(), app_id.clone());
    build_env.insert(BACKEND_URL_VAR.to_owned(), PREFIX.to_owned());
    build_env.insert(APP_BASE_URL_VAR.to_owned(), PREFIX.to_owned());

    let mut patches = BTreeMap::new();
    if let Some((file, text)) = &client
        && let Some(patched) = patch_client(text, &app_id)
    {
        let why = if literal.is_some() {
            "with a hard-coded app id (SDK 0.1)"
        } else {
            "without a server URL"
        };
        notes.push(format!(
            "`{file}` creates the SDK client {why}: the build copy points it at ferry (`serverUrl`), your repository is unchanged"
        ));
        patches.insert(file.clone(), patched);
    }
    Ok(Wiring {
        app_id,
        requires_auth,
        entities,
        functions,
        build_env,
        patches,
        notes,
    })
}

/// The client module with the SDK pointed at ferry: `createClient({` becomes
/// `createClient({ serverUrl: <origin> + PREFIX, …` plus `appId` (when the module names none:
/// the 2026 template's `createClient({})`) and `appBaseUrl` (when absent). Later keys in the
/// same object still win. `None` when the module does not call `createClient({` exactly once
/// or already sets `serverUrl` (the SDK 0.8 template, wired through the build env instead).
pub fn patch_client(text: &str, app_id: &str) -> Option<String> {
    const CALL: &str = "createClient({";
    if text.matches(CALL).count() != 1 || text.contains("serverUrl") {
        return None;
    }
    let mut insert = format!(
        "{CALL} serverUrl: (typeof window !== 'undefined' ? window.location.origin : '') + '{PREFIX}',"
    );
    if !text.contains("appId") && is_app_id(app_id) {
        insert.push_str(&format!(" appId: '{app_id}',"));
    }
    if !text.contains("appBaseUrl") {
        insert.push_str(&format!(" appBaseUrl: '{PREFIX}',"));
    }
    insert.push_str(" /* set by ferry: the backend on this origin */");
    Some(text.replacen(CALL, &insert, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_app_ids() {
        assert_eq!(
            literal_app_id(
                r#"createClient({ appId: "67b2f0c41d9e3a0012c4d8e1", requiresAuth: true })"#
            ),
            Some("67b2f0c41d9e3a0012c4d8e1".into())
        );
        assert_eq!(literal_app_id("createClient({ appId, token })"), None);
        assert_eq!(literal_app_id("appId: 'short'"), None);
    }

    #[test]
    fn patches_sdk01_clients_once() {
        let src = "export const base44 = createClient({\n  appId: \"67b2f0c41d9e3a0012c4d8e1\",\n  requiresAuth: true\n});\n";
        let id = "67b2f0c41d9e3a0012c4d8e1";
        let patched = patch_client(src, id).expect("test setup");
        assert!(patched.contains("serverUrl: (typeof window !== 'undefined' ? window.location.origin : '') + '/_ferry/base44', appBaseUrl: '/_ferry/base44',"));
        assert!(patched.contains("appId: \"67b2f0c41d9e3a0012c4d8e1\""));
        assert_eq!(patched.matches("appId").count(), 1);
        assert_eq!(patch_client(&patched, id), None);
        assert_eq!(
            patch_client("createClient({}); createClient({});", id),
            None
        );
        // The 2026 template's `createClient({})` gets the app id too.
        let bare = patch_client("export const base44 = createClient({});", id).expect("bare");
        assert!(
            bare.contains("appId: '67b2f0c41d9e3a0012c4d8e1',"),
            "{bare}"
        );
        // The SDK 0.8 template sets serverUrl itself: left alone.
        assert_eq!(
            patch_client("createClient({ appId, serverUrl: '' })", id),
            None
        );
    }

    #[test]
    fn derived_ids_are_stable_hex() {
        let a = derived_app_id("shop");
        assert_eq!(a.len(), 24);
        assert!(is_app_id(&a));
        assert_eq!(a, derived_app_id("shop"));
        assert_ne!(a, derived_app_id("shop2"));
    }

    #[test]
    fn wires_a_sdk01_source() {
        let dir = tempfile::tempdir().expect("test setup");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/api")).expect("test setup");
        std::fs::create_dir_all(root.join("base44/entities")).expect("test setup");
        std::fs::write(
            root.join("src/api/base44Client.js"),
            "export const base44 = createClient({ appId: \"67b2f0c41d9e3a0012c4d8e1\", requiresAuth: true });\n",
        )
        .expect("test setup");
        std::fs::write(
            root.join("base44/entities/Task.jsonc"),
            "{\"name\": \"Task\"}",
        )
        .expect("test setup");
        std::fs::write(root.join("base44/entities/.hidden.jsonc"), "{}").expect("test setup");
        let w = wire(root, "pantry", None, &BTreeMap::new()).expect("test setup");
        assert_eq!(w.app_id, "67b2f0c41d9e3a0012c4d8e1");
        assert!(w.requires_auth);
        assert_eq!(w.entities.keys().collect::<Vec<_>>(), ["Task.jsonc"]);
        assert_eq!(w.build_env[BACKEND_URL_VAR], "/_ferry/base44");
        assert_eq!(w.build_env[APP_BASE_URL_VAR], "/_ferry/base44");
        assert_eq!(w.build_env[APP_ID_VAR], "67b2f0c41d9e3a0012c4d8e1");
        assert!(w.patches.contains_key("src/api/base44Client.js"));
        // The source is never touched.
        assert!(
            !std::fs::read_to_string(root.join("src/api/base44Client.js"))
                .expect("test setup")
                .contains("serverUrl")
        );
    }
}

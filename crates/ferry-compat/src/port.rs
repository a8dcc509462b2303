//! Apps that ignore `$PORT`: a patch of the build copy that makes a server listen on the port
//! ferry assigns (docs/server-apps.md, "Apps that ignore PORT").
//!
//! ferry starts each release of a server unit on a fresh port given in `$PORT` (or the
//! process's `port_env`), health-checks it there, then switches the edge to it while the old
//! release still serves (blue/green). The Replit template ends with
//! `const port = 5000; server.listen({ port, host: "0.0.0.0", reusePort: true }, …)`: it
//! listens on 5000 whatever `$PORT` says. [`honour_port`] finds that one binding (with
//! `ferry_inspect::findings::port`, the same analysis as the `fixed-port` finding) and returns
//! the file's new text with only the value rewritten — `const port = Number(process.env.PORT)
//! || 5000;` — and `reusePort: true` turned off: with `SO_REUSEPORT` two releases bound to one
//! port would share its connections silently, while with the patch each release has its own
//! port. The text goes into `BuildOptions::patches`, so it lands in the build's clean copy;
//! the owner's files are never written. When no single binding can be rewritten safely the
//! answer is `None`, and the deploy falls back to stop-start.

use std::io::Read;
use std::path::Path;

use ferry_inspect::findings::port::{self as detect, PortUse};

/// Most code files read from a unit; past it nothing is patched (the rest could read `$PORT`).
pub const MAX_FILES: usize = 20_000;
/// Largest file read; larger ones (bundles, generated code) are skipped.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// One file of the build copy replaced so the server honours the port variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPatch {
    /// The file, relative to the unit folder, `/`-separated.
    pub file: String,
    /// Its new content.
    pub text: String,
    /// One line for the deploy's output.
    pub note: String,
}

/// Why the unit's files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A folder or file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path, relative to the unit folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl PortError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PortError::Io { .. } => "io",
        }
    }
}

/// The patch that makes the server of the unit at `unit_root` listen on `$port_env`, when its
/// code binds `port` (the port detection found) in exactly one place ferry can rewrite and no
/// file reads `port_env`. `Ok(None)`: nothing to patch safely (the code already reads the
/// variable, binds another port, binds several, binds none ferry recognises, or the unit has
/// more than [`MAX_FILES`] code files). Reads JavaScript, TypeScript and Python files under
/// the unit, never inside `node_modules`, build output (`dist/`, `build/`…) or links; writes
/// nothing.
pub fn honour_port(
    unit_root: &Path,
    port_env: &str,
    port: u16,
) -> Result<Option<PortPatch>, PortError> {
    let Some(files) = code_files(unit_root)? else {
        return Ok(None);
    };
    let found = detect::analyse(
        files.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        port_env,
    );
    let PortUse::Fixed { file, binding } = found else {
        return Ok(None);
    };
    if binding.port != port {
        return Ok(None);
    }
    let Some((_, old)) = files.iter().find(|(p, _)| *p == file) else {
        return Ok(None);
    };
    let mut edits = vec![(binding.value.clone(), env_expression(port_env, port))];
    let reuse = detect::reuse_port_true(old);
    edits.extend(reuse.iter().map(|r| (r.clone(), "false".to_string())));
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut text = old.clone();
    for (range, with) in edits {
        text.replace_range(range, &with);
    }
    let reuse_note = if reuse.is_empty() {
        ""
    } else {
        ", reusePort turned off"
    };
    let note = format!(
        "`{file}` listens on port {port} whatever ${port_env} says: patched in the build copy \
         (your repository is unchanged) to listen on ${port_env} ({port} only when unset){reuse_note}, \
         so each release gets its own port and the switch is blue/green"
    );
    Ok(Some(PortPatch { file, text, note }))
}

/// What the code of the unit at `unit_root` does with `$port_env` (the same analysis as the
/// `fixed-port` finding); `None` past [`MAX_FILES`] code files, when nothing can be told.
pub fn port_use(unit_root: &Path, port_env: &str) -> Result<Option<PortUse>, PortError> {
    let Some(files) = code_files(unit_root)? else {
        return Ok(None);
    };
    Ok(Some(detect::analyse(
        files.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        port_env,
    )))
}

/// `Number(process.env.PORT) || 5000`, with `process.env["…"]` for a name that is not an
/// identifier.
fn env_expression(name: &str, port: u16) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    let read = if identifier {
        format!("process.env.{name}")
    } else {
        format!(
            "process.env[{}]",
            serde_json::to_string(name).unwrap_or_else(|_| "\"PORT\"".into())
        )
    };
    format!("Number({read}) || {port}")
}

/// The unit's code files as (path relative to the unit, text), sorted by path; `None` past
/// [`MAX_FILES`]. Folders of installed or generated files are skipped, links never followed,
/// files that are not UTF-8 or larger than [`MAX_FILE_BYTES`] left out.
fn code_files(unit_root: &Path) -> Result<Option<Vec<(String, String)>>, PortError> {
    let io = |path: &str| {
        let path = if path.is_empty() { "." } else { path }.to_string();
        move |source| PortError::Io { path, source }
    };
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            unit_root.to_path_buf()
        } else {
            unit_root.join(&rel)
        };
        for entry in std::fs::read_dir(&dir).map_err(io(&rel))? {
            let entry = entry.map_err(io(&rel))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                if !ferry_inspect::tree::SKIPPED_DIRS.contains(&name)
                    && !ferry_inspect::scan::BUILD_DIRS.contains(&name)
                {
                    stack.push(path);
                }
                continue;
            }
            let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
            if !kind.is_file() || !detect::CODE_EXTENSIONS.contains(&ext) {
                continue;
            }
            if out.len() == MAX_FILES {
                return Ok(None);
            }
            let file = std::fs::File::open(entry.path()).map_err(io(&path))?;
            let mut bytes = Vec::new();
            file.take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(io(&path))?;
            if bytes.len() as u64 > MAX_FILE_BYTES {
                continue;
            }
            if let Ok(text) = String::from_utf8(bytes) {
                out.push((path, text));
            }
        }
    }
    out.sort();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Replit full-stack JS template's `server/index.ts`, as generated.
    const TEMPLATE: &str = r#"import express, { type Request, Response, NextFunction } from "express";
import { registerRoutes } from "./routes";
import { setupVite, serveStatic, log } from "./vite";

const app = express();
app.use(express.json());
app.use(express.urlencoded({ extended: false }));

(async () => {
  const server = await registerRoutes(app);

  if (app.get("env") === "development") {
    await setupVite(app, server);
  } else {
    serveStatic(app);
  }

  // ALWAYS serve the app on port 5000
  // this serves both the API and the client.
  // It is the only port that is not firewalled.
  const port = 5000;
  server.listen({
    port,
    host: "0.0.0.0",
    reusePort: true,
  }, () => {
    log(`serving on port ${port}`);
  });
})();
"#;

    fn unit(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    #[test]
    fn the_replit_template_is_patched_to_read_port() {
        let dir = unit(&[
            ("server/index.ts", TEMPLATE),
            (
                "server/routes.ts",
                "export async function registerRoutes() {}\n",
            ),
            ("client/src/main.tsx", "createRoot(root).render(<App />);\n"),
            // Dependencies and build output never count (nor get patched).
            ("node_modules/x/index.js", "app.listen(4000);\n"),
            (
                "dist/index.js",
                "const port = 5000;\nserver.listen({ port });\n",
            ),
            (
                "package.json",
                "{\"scripts\":{\"start\":\"node dist/index.js\"}}",
            ),
        ]);
        let patch = honour_port(dir.path(), "PORT", 5000)
            .expect("reads")
            .expect("a patch");
        assert_eq!(patch.file, "server/index.ts");
        let want = TEMPLATE
            .replace(
                "const port = 5000;",
                "const port = Number(process.env.PORT) || 5000;",
            )
            .replace("reusePort: true,", "reusePort: false,");
        assert_eq!(patch.text, want);
        assert!(
            patch.note.contains("server/index.ts")
                && patch.note.contains("$PORT")
                && patch.note.contains("reusePort"),
            "{}",
            patch.note
        );
        // The owner's file is untouched.
        let on_disk = std::fs::read_to_string(dir.path().join("server/index.ts")).expect("read");
        assert_eq!(on_disk, TEMPLATE);
    }

    #[test]
    fn a_listen_argument_is_patched_with_the_port_variable_named() {
        let text = "const app = express();\napp.listen(3000, () => console.log('up on 3000'));\n";
        let dir = unit(&[("server.js", text)]);
        let patch = honour_port(dir.path(), "APP_PORT", 3000)
            .expect("reads")
            .expect("a patch");
        assert_eq!(patch.file, "server.js");
        assert_eq!(
            patch.text,
            "const app = express();\napp.listen(Number(process.env.APP_PORT) || 3000, () => console.log('up on 3000'));\n"
        );
        assert!(!patch.note.contains("reusePort"), "{}", patch.note);
        let patch = honour_port(dir.path(), "MY-PORT", 3000)
            .expect("reads")
            .expect("a patch");
        assert!(
            patch
                .text
                .contains("app.listen(Number(process.env[\"MY-PORT\"]) || 3000,"),
            "{}",
            patch.text
        );
    }

    #[test]
    fn code_reading_port_is_left_alone() {
        let dir = unit(&[
            (
                "server/index.ts",
                "const port = Number(process.env.PORT) || 5000;\nserver.listen({ port, reusePort: true });\n",
            ),
            ("server/admin.ts", "admin.listen(5000);\n"),
        ]);
        assert_eq!(honour_port(dir.path(), "PORT", 5000).expect("reads"), None);
    }

    #[test]
    fn two_fixed_ports_are_ambiguous() {
        let dir = unit(&[(
            "server/index.ts",
            "const port = 5000;\nserver.listen({ port });\nmetrics.listen(9100);\n",
        )]);
        assert_eq!(honour_port(dir.path(), "PORT", 5000).expect("reads"), None);
        // The same port bound in two files: which one runs cannot be told either.
        let dir = unit(&[
            ("server/index.ts", "app.listen(5000);\n"),
            ("server/dev.ts", "app.listen(5000);\n"),
        ]);
        assert_eq!(honour_port(dir.path(), "PORT", 5000).expect("reads"), None);
    }

    #[test]
    fn a_binding_of_another_port_than_detected_is_not_patched() {
        let dir = unit(&[("server.js", "app.listen(3000);\n")]);
        assert_eq!(honour_port(dir.path(), "PORT", 5000).expect("reads"), None);
    }

    /// Python is not patched: ferry's detected start commands pass `--port $PORT` to uvicorn
    /// and gunicorn, so `uvicorn.run(…)` under `__main__` never runs under ferry; an app that
    /// does start through it deploys stop-start.
    #[test]
    fn python_is_not_patched() {
        let dir = unit(&[(
            "main.py",
            "import uvicorn\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\nif __name__ == \"__main__\":\n    uvicorn.run(app, port=8000)\n",
        )]);
        assert_eq!(honour_port(dir.path(), "PORT", 8000).expect("reads"), None);
    }

    #[test]
    fn a_missing_unit_is_an_io_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = honour_port(&dir.path().join("gone"), "PORT", 5000).expect_err("missing");
        assert_eq!(err.code(), "io");
        assert!(err.to_string().contains("cannot read `.`"), "{err}");
    }
}

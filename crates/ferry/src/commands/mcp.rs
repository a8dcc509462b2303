//! `ferry mcp`: the MCP server on stdin/stdout (`ferry_mcp::stdio`), a client of the local
//! server's socket. It never opens `ferry.db`; with no server running, its tools answer an
//! error that says how to start one.

use std::path::Path;
use std::process::ExitCode;

use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};

/// Serves MCP until the client closes stdin.
pub fn run(server: Option<&str>, home: &Path) -> Result<ExitCode, Failure> {
    if server.is_some_and(|s| !s.is_empty()) {
        return Err(Failure {
            code: "mcp-remote",
            message: "`ferry mcp` serves the local server (its socket); --server/FERRY_SERVER is not used here".into(),
            hint: "for a remote server, point the MCP client at its `/mcp` URL with a bearer token (docs/mcp.md)".into(),
            exit: EXIT_BAD_INPUT,
        });
    }
    let exe = std::env::current_exe().map_err(|err| Failure {
        code: "mcp-exe",
        message: format!("cannot find the ferry executable: {err}"),
        hint: "run ferry by its full path".into(),
        exit: EXIT_FAILED,
    })?;
    let runtime = super::runtime()?;
    runtime
        .block_on(ferry_mcp::stdio::serve(home, &exe))
        .map_err(|err| Failure {
            code: "mcp-failed",
            message: err.message,
            hint: err.hint,
            exit: EXIT_FAILED,
        })?;
    Ok(ExitCode::SUCCESS)
}

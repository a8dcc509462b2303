//! `ferry mcp`: the MCP server over stdio, a client of the local server's socket.

use std::path::Path;
use std::sync::Arc;

use rmcp::ServiceExt;

use crate::jobs::{Jobs, Runner};
use crate::local::Roots;
use crate::{Ferry, SocketApi, ToolError, Transport};

/// Serves MCP on stdin/stdout until the client closes it. Tools call the server of `home`
/// through its socket (the machine's owner); deploys run `exe deploy` with `FERRY_HOME=home`.
pub async fn serve(home: &Path, exe: &Path) -> Result<(), ToolError> {
    let runner = Runner {
        exe: exe.to_path_buf(),
        env: vec![("FERRY_HOME".into(), home.display().to_string())],
        // The local server, always: never a remote one the environment names.
        remove_env: vec!["FERRY_SERVER".into(), "FERRY_TOKEN".into()],
    };
    let ferry = Ferry::new(
        Arc::new(SocketApi::new(home)),
        Jobs::new(runner),
        Roots::Any,
        Transport::Stdio,
    );
    let failed = |err: &dyn std::fmt::Display| {
        ToolError::new(
            "mcp-transport",
            format!("the MCP session failed: {err}"),
            "check the MCP client's configuration (command `ferry`, args [\"mcp\"])",
        )
    };
    let running = ferry
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| failed(&e))?;
    running.waiting().await.map_err(|e| failed(&e))?;
    Ok(())
}

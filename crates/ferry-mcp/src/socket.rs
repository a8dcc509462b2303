//! [`SocketApi`]: `/api/v1` over the local server's Unix socket `$FERRY_HOME/ferry.sock` (the
//! machine's owner, as the CLI). Used by `ferry mcp` (stdio), which never opens `ferry.db`.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::ToolError;
use crate::api::{Api, BoxFuture, Credentials, MAX_ANSWER_BYTES};

/// How long one API call may take (an activation waits for health checks).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// A client of the local server's socket.
#[derive(Debug, Clone)]
pub struct SocketApi {
    socket: PathBuf,
}

impl SocketApi {
    /// The client of `$FERRY_HOME/ferry.sock`.
    pub fn new(home: &std::path::Path) -> Self {
        SocketApi {
            socket: home.join("ferry.sock"),
        }
    }

    /// The error every tool answers when no server runs.
    pub fn not_running(&self, err: &std::io::Error) -> ToolError {
        ToolError::new(
            "server-not-running",
            format!(
                "no ferry server answers on {} ({err})",
                self.socket.display()
            ),
            "start it with `ferry up <app folder>` (starts a server in the background) or `ferry serve` (in the foreground), then call the tool again",
        )
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ToolError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|err| self.not_running(&err))?;
        let broken = |err: &dyn std::fmt::Display| {
            ToolError::new(
                "api-unreachable",
                format!("the server's socket failed: {err}"),
                "check the server with `ferry status`",
            )
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| broken(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "ferry")
            .header(http::header::ACCEPT, "application/json");
        let bytes = match &body {
            Some(value) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                value.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let request = builder
            .body(Full::new(bytes::Bytes::from(bytes)))
            .map_err(|e| broken(&e))?;
        let answer = sender.send_request(request).await.map_err(|e| broken(&e))?;
        let status = answer.status().as_u16();
        let bytes = http_body_util::Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| broken(&e))?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

impl Api for SocketApi {
    fn call<'a>(
        &'a self,
        _who: &'a Credentials,
        method: &'a str,
        path: &'a str,
        body: Option<Value>,
    ) -> BoxFuture<'a, Result<(u16, Value), ToolError>> {
        Box::pin(async move {
            tokio::time::timeout(CALL_TIMEOUT, self.send(method, path, body))
                .await
                .map_err(|_| {
                    ToolError::new(
                        "api-timeout",
                        format!(
                            "the server did not answer within {} s",
                            CALL_TIMEOUT.as_secs()
                        ),
                        "check the server with `ferry status` and its log",
                    )
                })?
        })
    }
}

//! [`Ferry`]: the MCP server handler both transports share.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::ToolError;
use crate::api::{Api, Credentials};
use crate::jobs::Jobs;
use crate::local::Roots;

/// Which transport a [`Ferry`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ferry mcp`: the machine's owner over the local socket.
    Stdio,
    /// `/mcp` on the control listener: bearer tokens.
    Http,
}

/// The MCP server: tools and resources over an [`Api`].
#[derive(Clone)]
pub struct Ferry {
    pub(crate) api: Arc<dyn Api>,
    pub(crate) jobs: Jobs,
    pub(crate) roots: Roots,
    pub(crate) transport: Transport,
}

const INSTRUCTIONS: &str = "ferry deploys apps made with AI app builders (Lovable, Bolt, Base44, Replit, v0…) onto the owner's own server. Start with `list_apps`. For a new app folder: `inspect`, then `plan`, then `deploy` (a job: poll `job_status`). For a live app: `releases`, `logs`, `env_names` (names only; values are never shown). `rollback` and `promote` change what is live: call them first without `confirm` to see what would change, tell the user, then call again with `confirm: true`. Resources: ferry://apps/{app}/profile and ferry://apps/{app}/releases/latest.";

impl Ferry {
    /// A server over `api`, running deploys with `jobs` and reading folders under `roots`.
    pub fn new(api: Arc<dyn Api>, jobs: Jobs, roots: Roots, transport: Transport) -> Self {
        Ferry {
            api,
            jobs,
            roots,
            transport,
        }
    }
}

/// Who calls, taken from the MCP request (the HTTP request's bearer token on `/mcp`).
pub(crate) struct Context {
    who: Credentials,
    transport: Transport,
}

impl Context {
    pub(crate) fn of(ferry: &Ferry, request: &RequestContext<RoleServer>) -> Self {
        let parts = request.extensions.get::<http::request::Parts>();
        let client = parts
            .and_then(|p| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            })
            .map(|c| c.0);
        let bearer = parts
            .and_then(|parts| parts.headers.get(http::header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        Context {
            who: Credentials {
                bearer: if ferry.transport == Transport::Http {
                    bearer
                } else {
                    None
                },
                client,
            },
            transport: ferry.transport,
        }
    }

    /// Whose jobs these are: the token's public id, or the machine's owner.
    pub(crate) fn owner(&self) -> String {
        match (&self.who.bearer, self.transport) {
            (Some(token), _) => {
                let id = token
                    .strip_prefix("fy_")
                    .and_then(|t| t.split_once('_'))
                    .map(|(id, _)| id)
                    .unwrap_or("unknown");
                format!("token:{id}")
            }
            (None, Transport::Stdio) => "local".into(),
            (None, Transport::Http) => "anonymous".into(),
        }
    }

    /// What a deploy child needs to act as this caller (its token on HTTP).
    pub(crate) fn child_env(&self) -> Vec<(String, String)> {
        match &self.who.bearer {
            Some(token) => vec![("FERRY_TOKEN".into(), token.clone())],
            None => Vec::new(),
        }
    }

    /// `method path` through the API: the JSON answer, or the API's error.
    pub(crate) async fn send(
        &self,
        ferry: &Ferry,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ToolError> {
        let (status, doc) = ferry.api.call(&self.who, method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(doc)
        } else {
            Err(ToolError::from_api(status, &doc))
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, ferry: &Ferry, path: &str) -> Result<Value, ToolError> {
        self.send(ferry, "GET", path, None).await
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `3 min`-style ages.
pub(crate) fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn result(outcome: Result<Value, ToolError>) -> CallToolResult {
    match outcome {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            if value.is_object() {
                r.structured_content = Some(value);
            }
            r
        }
        Err(err) => {
            let body = serde_json::json!({ "error": err.to_json() });
            let text = format!("error: {}\nhint: {}", err.message, err.hint);
            let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
            r.structured_content = Some(body);
            r
        }
    }
}

impl ServerHandler for Ferry {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("ferry", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(crate::tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let cx = Context::of(self, &context);
        let outcome = self.run_tool(&cx, &request.name, request.arguments).await;
        if let Err(err) = &outcome {
            tracing::debug!(tool = %request.name, code = %err.code, "tool refused");
        }
        Ok(result(outcome).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cx = Context::of(self, &context);
        let resources = crate::resources::list(self, &cx)
            .await
            .map_err(|e| ErrorData::internal_error(e.message.clone(), Some(e.to_json())))?;
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            crate::resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let cx = Context::of(self, &context);
        crate::resources::read(self, &cx, &request.uri)
            .await
            .map(Into::into)
            .map_err(|e| {
                if e.status == Some(404) || e.code == "unknown-resource" {
                    ErrorData::resource_not_found(e.message.clone(), Some(e.to_json()))
                } else {
                    ErrorData::internal_error(e.message.clone(), Some(e.to_json()))
                }
            })
    }
}

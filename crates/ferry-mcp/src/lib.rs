//! `ferry-mcp`: ferry's operations as MCP tools and resources for AI agents (Claude, Cursor,
//! VS Code, any MCP client), built with the official Rust MCP SDK (`rmcp`).
//!
//! One implementation ([`Ferry`], the MCP server handler) serves both transports; it does
//! nothing stateful itself but call `/api/v1` through an [`Api`]:
//! - stdio (`ferry mcp`): [`SocketApi`], a client of the running server's Unix socket (the
//!   machine's owner); `ferry mcp` never opens `ferry.db`;
//! - streamable HTTP (`/mcp` on the control listener): [`RouterApi`], an in-process call into
//!   the same `/api/v1` router with the caller's bearer token, so authorisation, scopes,
//!   404-for-invisible and audit are exactly the API's ([`http::router`]).
//!
//! Deploys run as jobs ([`jobs`]): a `ferry deploy --json` child process per job, its id
//! answered at once, its phase and result read with the `job_status` tool.

pub mod api;
pub mod error;
pub mod http;
pub mod jobs;
pub mod local;
mod resources;
mod server;
pub mod socket;
pub mod stdio;
mod tools;

pub use api::{Api, RouterApi};
pub use error::ToolError;
pub use server::{Ferry, Transport};
pub use socket::SocketApi;

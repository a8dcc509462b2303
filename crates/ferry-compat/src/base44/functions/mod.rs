//! Base44 backend functions (`base44/functions/<name>/entry.ts`, Deno code calling
//! `Deno.serve(handler)` and `createClientFromRequest(req)`): the parts that need no process or
//! network. ferry-api runs them.
//!
//! - [`source`]: reads a source's functions (each folder's source files and its entry module)
//!   and finds the imports that cannot be fetched here (`jsr:`, `https:`).
//! - [`bootstrap`]: the module ferry runs in each function's Deno process: it makes the entry's
//!   `Deno.serve` bind the loopback port ferry chose and answers ferry's health checks.
//! - [`service`]: the app's service token, which the API treats as the service role
//!   (`base44.asServiceRole`).
//! - [`forward`]: the headers a forwarded call carries (what `createClientFromRequest` reads)
//!   and the scrubbing that keeps the service token out of every answer.

pub mod bootstrap;
pub mod forward;
pub mod service;
pub mod source;

pub use bootstrap::{BOOTSTRAP_FILE, ENTRY_ENV, HEALTH_PATH, bootstrap_module};
pub use forward::{ForwardContext, forward_headers, scrub, scrub_headers};
pub use service::{SERVICE_TOKEN_PREFIX, is_service_token, service_token};
pub use source::{
    ENTRY_CANDIDATES, FUNCTIONS_DIR, FunctionSource, FunctionsError, read_functions, remote_imports,
};

//! Base44: entity schemas as owned SQL tables, and the Mongo-style queries `@base44/sdk`
//! sends translated into parameterised SQL.

pub mod admin;
pub mod api;
pub mod auth;
pub mod files;
pub mod functions;
pub mod integrations;
pub mod model;
pub mod pages;
pub mod query;
pub mod realtime;
pub mod record;
pub mod rls;
pub mod schema;
pub mod store;
mod time;

pub use time::now_datetime;
pub mod wiring;

//! The source catalog: the model ([`model`]) and how it is read from Postgres ([`read`]).

mod model;
pub mod read;

pub use model::*;

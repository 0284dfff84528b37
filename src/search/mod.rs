//! Search over the store: the query language ([`parse`]) and a planner that reads
//! the most selective index ([`plan`]).

pub mod parse;
pub mod plan;

pub use parse::{Clause, KindMatch, Query, QueryError};
pub use plan::{Access, Page, execute, explain};

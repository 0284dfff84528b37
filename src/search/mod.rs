//! Search over the store: the query language ([`parse`]) and a planner that reads
//! the most selective index ([`plan`]).

pub mod parse;
pub mod plan;

pub use parse::{Clause, KindMatch, Query, QueryError};
pub use plan::{Access, Page, execute, explain};

/// The newest `limit` events of the store, newest first (what a console opens on);
/// empty if the store cannot be read (the console then starts without them).
pub fn newest(store: &crate::store::Store, limit: usize) -> Vec<crate::model::Event> {
    Query::parse("", chrono::Utc::now())
        .ok()
        .and_then(|q| execute(store, &q, limit, None).ok())
        .map(|p| p.events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

//! The command-line commands other than the console. Each returns `anyhow::Result`;
//! `main` prints one clear line for an error and exits non-zero.

pub mod check;
pub mod console;
pub mod demo;
pub mod export;
pub mod feed;
pub mod import;
pub mod search;

use crate::store::{Store, StoreError};
use std::path::Path;

/// Open the store, or say in one line why not.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    Store::open(data_dir).map_err(|e: StoreError| anyhow::anyhow!(e))
}

/// A query error shown with a caret under the bad term.
#[derive(Debug)]
pub struct BadQuery {
    pub query: String,
    pub error: crate::search::QueryError,
}

impl std::fmt::Display for BadQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad query: {}\n{}",
            self.error,
            self.error.pointer(&self.query)
        )
    }
}

impl std::error::Error for BadQuery {}

/// Parse a query for a command, with `now` as the reference for `since:2h`.
pub fn parse_query(text: &str) -> Result<crate::search::Query, BadQuery> {
    crate::search::Query::parse(text, chrono::Utc::now()).map_err(|error| BadQuery {
        query: text.to_string(),
        error,
    })
}

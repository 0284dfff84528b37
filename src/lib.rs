//! doorwatch: a terminal security-desk console for cloud access control.
//!
//! Data flows one way: `sources` turn vendor payloads into `model::Event`s, the `store`
//! commits them, `search` queries the store. See DESIGN.md for the contracts.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod memory;
pub mod model;
pub mod remote;
pub mod search;
pub mod sim;
pub mod sources;
pub mod state;
pub mod store;
pub mod ui;

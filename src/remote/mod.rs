//! Several consoles, one store: whichever process owns the store (the daemon, or a
//! console running on its own) serves `<data dir>/doorwatch.sock`, and every other
//! doorwatch command on the same data dir goes through it (DESIGN.md, "one owner").
//! The socket's mode (0660) and group are the access control.

pub mod client;
mod lines;
pub mod protocol;
pub mod server;

pub use client::{Client, ConnectError};
pub use server::{Served, Server};

use std::path::{Path, PathBuf};

/// Where the owner of the store in `data_dir` listens.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(protocol::SOCKET_NAME)
}

/// A group's id from its name (or a number), as listed in /etc/group.
pub fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse() {
        return Some(gid);
    }
    group_entries()
        .find(|(name, _)| name == group)
        .map(|(_, gid)| gid)
}

/// A group's name from its id, for messages.
pub fn group_name(gid: u32) -> Option<String> {
    group_entries()
        .find(|(_, g)| *g == gid)
        .map(|(name, _)| name)
}

fn group_entries() -> impl Iterator<Item = (String, u32)> {
    std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_string();
            let gid = fields.nth(1)?.parse().ok()?;
            Some((name, gid))
        })
        .collect::<Vec<_>>()
        .into_iter()
}

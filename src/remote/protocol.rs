//! The console protocol: JSON lines over the store owner's Unix socket.
//!
//! A connection starts with `hello` both ways (the versions must match), then the
//! client sends one request at a time and reads one reply for each — except
//! `subscribe`, after which the connection only carries pushes (`live`, `snapshot`,
//! `lagged`) from the owner. Clients that need both open two connections: a Unix
//! socket connect costs microseconds and keeps either side free of multiplexing.

use crate::model::{Event, Vendor};
use crate::state::alarms::Alarm;
use crate::store::QuarantineRecord;
use crate::ui::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped on any change a peer of the previous version would misread.
pub const VERSION: u32 = 1;

/// The socket's file name in the data dir.
pub const SOCKET_NAME: &str = "doorwatch.sock";

/// The longest line either side accepts (an import chunk of 1,000 large payloads fits).
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Events per search reply at most; clients page with `before`.
pub const MAX_PAGE: usize = 5_000;

/// Client → owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        version: u32,
        /// `doorwatch <version>`, for the owner's log.
        client: String,
    },
    /// One page of a search, newest first. `before` is the `next` of the previous page.
    Search {
        query: String,
        limit: usize,
        before: Option<String>,
    },
    Alarms {
        all: bool,
    },
    Ack {
        alarm: String,
        note: String,
        operator: String,
    },
    /// Raw vendor payloads to parse and store under `source`; `rejected` are lines the
    /// client could not even read as JSON (quarantined as they are).
    Import {
        vendor: Vendor,
        source: String,
        items: Vec<Value>,
        #[serde(default)]
        rejected: Vec<RejectedItem>,
    },
    Quarantine,
    Snapshot,
    /// From now on, push committed events and state changes.
    Subscribe,
}

/// A payload the client could not parse as JSON at all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedItem {
    pub raw: String,
    pub error: String,
}

/// Why an acknowledgement did not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckRefusal {
    /// Someone was first; the message says who and when.
    AlreadyAcknowledged,
    UnknownAlarm,
    NoteRequired,
}

impl From<&crate::state::alarms::AckError> for AckRefusal {
    fn from(e: &crate::state::alarms::AckError) -> AckRefusal {
        use crate::state::alarms::AckError;
        match e {
            AckError::AlreadyAcknowledged { .. } => AckRefusal::AlreadyAcknowledged,
            AckError::UnknownAlarm(_) => AckRefusal::UnknownAlarm,
            AckError::NoteRequired => AckRefusal::NoteRequired,
        }
    }
}

/// What the owner says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
        server: String,
        pid: u32,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// A search page: `keys[i]` is the store key of `events[i]`.
    Events {
        events: Vec<Event>,
        keys: Vec<String>,
        next: Option<String>,
    },
    Alarms {
        alarms: Vec<Alarm>,
    },
    Acked {
        alarm: Alarm,
    },
    AckRefused {
        reason: AckRefusal,
        message: String,
    },
    Imported {
        imported: usize,
        duplicates: usize,
        quarantined: usize,
    },
    Quarantine {
        records: Vec<QuarantineRecord>,
    },
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    /// Pushed after `subscribe`: events just committed, oldest first.
    Live {
        events: Vec<Event>,
    },
    /// Pushed when this subscriber fell behind and missed live events (they are in
    /// the store, a search away).
    Lagged {
        missed: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The peers speak different protocol versions.
    Version,
    /// The line was not a request this owner understands.
    BadRequest,
    /// A query that does not parse.
    BadQuery,
    /// The request was fine; carrying it out failed.
    Failed,
}

/// `doorwatch <crate version>`.
pub fn software() -> String {
    concat!("doorwatch ", env!("CARGO_PKG_VERSION")).to_string()
}

/// The message an owner sends a client of another version.
pub fn version_mismatch(client_version: u32) -> String {
    format!(
        "this doorwatch daemon ({}) speaks console protocol {VERSION}, the client speaks \
         {client_version}: run the same doorwatch version on both sides (restart the daemon \
         after an upgrade)",
        software()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let line = serde_json::to_string(&Request::Alarms { all: true }).unwrap();
        assert_eq!(line, r#"{"type":"alarms","all":true}"#);
        let back: Request = serde_json::from_str(r#"{"type":"quarantine"}"#).unwrap();
        assert!(matches!(back, Request::Quarantine));
    }

    #[test]
    fn an_unknown_request_does_not_parse() {
        assert!(serde_json::from_str::<Request>(r#"{"type":"format_disk"}"#).is_err());
    }
}

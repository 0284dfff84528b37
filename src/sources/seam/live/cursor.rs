//! How far a Seam source has read, saved with every batch it commits.
//!
//! Seam pages on creation time and `since`/`between` are exclusive, so the cursor is a
//! watermark (the newest `created_at` of windows read completely) plus the ids created
//! within the re-read overlap before it: the next query starts `overlap` earlier to
//! catch events that became visible late, and those ids keep the re-read from
//! committing them again — across restarts too, since they are saved with the
//! watermark.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ids remembered at most; past that the store's own dedupe takes over.
const MAX_RECENT: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Format version.
    v: u8,
    /// Newest `created_at` among the events of windows read completely.
    pub watermark: DateTime<Utc>,
    /// Event id → `created_at`, for ids created after `watermark − overlap`.
    recent: BTreeMap<String, DateTime<Utc>>,
}

impl Cursor {
    pub fn starting_at(watermark: DateTime<Utc>) -> Cursor {
        Cursor {
            v: 1,
            watermark,
            recent: BTreeMap::new(),
        }
    }

    /// A saved cursor; `None` if it is not one this version wrote.
    pub fn decode(bytes: &[u8]) -> Option<Cursor> {
        serde_json::from_slice::<Cursor>(bytes)
            .ok()
            .filter(|c| c.v == 1)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn has_seen(&self, id: &str) -> bool {
        self.recent.contains_key(id)
    }

    /// Note an event read in a complete window.
    pub fn remember(&mut self, id: String, created_at: DateTime<Utc>) {
        self.recent.insert(id, created_at);
    }

    /// Move the watermark forward (never back) and forget ids the next overlap will
    /// not bring again.
    pub fn advance(&mut self, newest: Option<DateTime<Utc>>, overlap: Duration) {
        if let Some(n) = newest
            && n > self.watermark
        {
            self.watermark = n;
        }
        // A millisecond of slack: servers that keep ms compare a µs bound coarsely.
        let keep_after = self.watermark - overlap - Duration::milliseconds(1);
        self.recent.retain(|_, at| *at > keep_after);
        if self.recent.len() > MAX_RECENT {
            let mut by_age: Vec<(DateTime<Utc>, String)> = self
                .recent
                .iter()
                .map(|(id, at)| (*at, id.clone()))
                .collect();
            by_age.sort();
            let drop = by_age.len() - MAX_RECENT;
            for (_, id) in by_age.into_iter().take(drop) {
                self.recent.remove(&id);
            }
        }
    }

    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn round_trips_and_refuses_foreign_bytes() {
        let mut c = Cursor::starting_at(t(0));
        c.remember("a".into(), t(0));
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode(b"not json"), None);
        assert_eq!(
            Cursor::decode(br#"{"v":9,"watermark":"2026-01-01T00:00:00Z","recent":{}}"#),
            None
        );
    }

    #[test]
    fn advance_moves_forward_only_and_forgets_ids_behind_the_overlap() {
        let overlap = Duration::seconds(5);
        let mut c = Cursor::starting_at(t(100));
        c.remember("old".into(), t(90));
        c.remember("edge".into(), t(96));
        c.remember("new".into(), t(100));
        c.advance(Some(t(50)), overlap);
        assert_eq!(c.watermark, t(100), "never backwards");
        assert!(!c.has_seen("old"));
        assert!(c.has_seen("edge") && c.has_seen("new"));
        c.advance(Some(t(102)), overlap);
        assert_eq!(c.watermark, t(102));
        assert!(!c.has_seen("edge"));
        assert!(c.has_seen("new"));
    }

    #[test]
    fn the_id_memory_is_bounded_keeping_the_newest() {
        let mut c = Cursor::starting_at(t(0));
        for i in 0..(MAX_RECENT + 10) {
            c.remember(format!("e{i}"), t(0) + Duration::microseconds(i as i64));
        }
        c.advance(None, Duration::seconds(5));
        assert_eq!(c.recent_len(), MAX_RECENT);
        assert!(!c.has_seen("e0"));
        assert!(c.has_seen(&format!("e{}", MAX_RECENT + 9)));
    }
}

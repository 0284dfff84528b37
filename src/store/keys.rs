//! Key layout of the one sled tree everything lives in.
//!
//! One tree, because sled batches are atomic per tree: events, their cursor and their
//! quarantined neighbours must commit together. A one-byte prefix separates regions;
//! each region is appended in key order, which is what sled does cheaply.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `P` | time(8) idhash(8) of its newest event | a page of encoded events (see `pages`) |
//! | `E` | time(8) idhash(8) | format 1 only: one encoded event (migrated to pages on open) |
//! | `I` | index(1) term 0x00 newest(16) oldest(16) | where a block of postings is in `postings.blocks` (see `blockfile`); format 2: the block itself |
//! | `J` | seq(8) | event keys of one append whose postings are not on disk yet |
//! | `C` | source name | cursor bytes |
//! | `Q` | seq(8) | quarantined payload (JSON) |
//! | `A` | seq(8) | audit record (append-only: acks, escalations, clears) |
//! | `M` | name | store metadata (schema version, counters, journal watermark) |

use std::fmt;

pub const PAGE: u8 = b'P';
/// Format 1 kept one event per key here; read only to migrate.
pub const EVENT: u8 = b'E';
pub const POSTING: u8 = b'I';
pub const JOURNAL: u8 = b'J';
pub const CURSOR: u8 = b'C';
pub const QUARANTINE: u8 = b'Q';
pub const AUDIT: u8 = b'A';
pub const META: u8 = b'M';
/// Rotating credentials a source must keep across restarts (DoorFlow refresh tokens).
pub const CREDENTIAL: u8 = b'K';

/// Where an event lives in the primary region: its time, then a hash of its id.
/// Ordering is (time, hash), so iterating keys is iterating history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    /// `occurred_at` in epoch milliseconds.
    pub ms: i64,
    /// FNV-1a of the event id.
    pub idhash: u64,
}

impl EventKey {
    pub const MIN: EventKey = EventKey {
        ms: i64::MIN,
        idhash: 0,
    };
    pub const MAX: EventKey = EventKey {
        ms: i64::MAX,
        idhash: u64::MAX,
    };

    /// The 16 bytes that sort like the key (sign bit flipped so negatives sort first).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&ms_bytes(self.ms));
        b[8..].copy_from_slice(&self.idhash.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<EventKey> {
        if b.len() != 16 {
            return None;
        }
        let ms = u64::from_be_bytes(b[..8].try_into().ok()?) ^ (1 << 63);
        let idhash = u64::from_be_bytes(b[8..].try_into().ok()?);
        Some(EventKey {
            ms: ms as i64,
            idhash,
        })
    }

    /// Key of the page whose newest event has this key.
    pub fn page(self) -> [u8; 17] {
        let mut k = [0u8; 17];
        k[0] = PAGE;
        k[1..].copy_from_slice(&self.to_bytes());
        k
    }

    /// The next key below this one, for "strictly older than" page cursors.
    pub fn pred(self) -> Option<EventKey> {
        if self.idhash > 0 {
            Some(EventKey {
                ms: self.ms,
                idhash: self.idhash - 1,
            })
        } else if self.ms > i64::MIN {
            Some(EventKey {
                ms: self.ms - 1,
                idhash: u64::MAX,
            })
        } else {
            None
        }
    }
}

/// Page cursors travel as text (`<ms>.<hash hex>`), e.g. through the CLI or a socket.
impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:016x}", self.ms, self.idhash)
    }
}

impl std::str::FromStr for EventKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, h) = s
            .split_once('.')
            .ok_or("page cursor must look like <ms>.<hex>")?;
        Ok(EventKey {
            ms: ms.parse().map_err(|_| "bad page cursor time")?,
            idhash: u64::from_str_radix(h, 16).map_err(|_| "bad page cursor hash")?,
        })
    }
}

pub fn ms_bytes(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// `I` term prefix: everything before the time, i.e. `I index term 0x00`.
pub fn term_prefix(index: u8, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 3);
    k.push(POSTING);
    k.push(index);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k
}

pub fn seq_key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn named(prefix: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 1);
    k.push(prefix);
    k.extend_from_slice(name.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_like_time_including_negative() {
        let keys = [
            EventKey { ms: -5, idhash: 9 },
            EventKey { ms: 0, idhash: 0 },
            EventKey { ms: 0, idhash: 1 },
            EventKey {
                ms: 1_700_000_000_000,
                idhash: 0,
            },
        ];
        for w in keys.windows(2) {
            assert!(w[0].to_bytes() < w[1].to_bytes());
            assert_eq!(EventKey::from_bytes(&w[0].to_bytes()), Some(w[0]));
        }
    }

    #[test]
    fn cursor_text_round_trips() {
        let k = EventKey {
            ms: 1_700_000_000_123,
            idhash: 0xdead_beef,
        };
        assert_eq!(k.to_string().parse::<EventKey>().unwrap(), k);
        assert!("nonsense".parse::<EventKey>().is_err());
    }
}

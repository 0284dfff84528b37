//! Last-writer-wins registers keyed by event time.
//!
//! Events reach the state engine out of order (a backfill after an outage lands after
//! newer live events) and more than once (a re-delivery). If every attribute remembers
//! which event set it and only a newer event may overwrite it, the fold gives the same
//! answer whatever the arrival order, and applying an event twice changes nothing. That
//! matters beyond correctness: a state rebuilt from the store (time order) must equal the
//! live state it replaces (arrival order).

use crate::model::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which event set a value: its time, then its id.
///
/// The id only breaks ties between events of the same millisecond, so that two such
/// events settle the same way in any order; it has no meaning of its own. The derived
/// order compares `at` first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub at: DateTime<Utc>,
    pub event: String,
}

impl Stamp {
    pub fn of(e: &Event) -> Stamp {
        Stamp {
            at: e.occurred_at,
            event: e.id.clone(),
        }
    }
}

/// A value and the stamp of the event that set it (`None`: never set, the default holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped<T> {
    value: T,
    set_by: Option<Stamp>,
}

impl<T: PartialEq> Stamped<T> {
    pub fn value(&self) -> &T {
        &self.value
    }

    pub fn set_by(&self) -> Option<&Stamp> {
        self.set_by.as_ref()
    }

    /// When the current value was set, if ever.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        self.set_by.as_ref().map(|s| s.at)
    }

    /// Whether `stamp` is newer than whatever set the current value.
    pub fn would_take(&self, stamp: &Stamp) -> bool {
        self.set_by.as_ref().is_none_or(|current| stamp > current)
    }

    /// Take `value` if `stamp` is newer than the current value's. Returns whether the
    /// value itself changed (a newer event repeating the same value is no change to show).
    pub fn offer(&mut self, value: T, stamp: &Stamp) -> bool {
        if !self.would_take(stamp) {
            return false;
        }
        let changed = self.value != value;
        self.value = value;
        self.set_by = Some(stamp.clone());
        changed
    }
}

/// Of two registers describing the same thing from different scopes (a door's own
/// lockdown and its site's), the one set last.
pub fn newest<'a, T: PartialEq>(a: &'a Stamped<T>, b: Option<&'a Stamped<T>>) -> &'a Stamped<T> {
    match b {
        Some(b) if b.set_by() > a.set_by() => b,
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn stamp(secs: i64, id: &str) -> Stamp {
        Stamp {
            at: Utc.timestamp_opt(secs, 0).unwrap(),
            event: id.into(),
        }
    }

    #[test]
    fn newer_wins_older_and_equal_are_ignored() {
        let mut r = Stamped::<u8>::default();
        assert!(r.offer(1, &stamp(10, "a")));
        assert!(
            !r.offer(2, &stamp(5, "b")),
            "older event must not roll back"
        );
        assert!(
            !r.offer(3, &stamp(10, "a")),
            "the same event again changes nothing"
        );
        assert_eq!(*r.value(), 1);
        assert!(r.offer(4, &stamp(11, "c")));
        assert_eq!(*r.value(), 4);
    }

    #[test]
    fn same_millisecond_settles_by_id_in_any_order() {
        let mut ab = Stamped::<u8>::default();
        ab.offer(1, &stamp(10, "a"));
        ab.offer(2, &stamp(10, "b"));
        let mut ba = Stamped::<u8>::default();
        ba.offer(2, &stamp(10, "b"));
        ba.offer(1, &stamp(10, "a"));
        assert_eq!(ab, ba);
    }

    #[test]
    fn newer_same_value_is_not_a_change_but_moves_the_stamp() {
        let mut r = Stamped::<bool>::default();
        assert!(r.offer(true, &stamp(1, "a")));
        assert!(!r.offer(true, &stamp(2, "b")));
        assert_eq!(r.at(), Some(Utc.timestamp_opt(2, 0).unwrap()));
    }

    #[test]
    fn newest_of_two_scopes() {
        let mut door = Stamped::<bool>::default();
        let mut site = Stamped::<bool>::default();
        door.offer(false, &stamp(1, "a"));
        assert!(!*newest(&door, Some(&site)).value());
        site.offer(true, &stamp(2, "b"));
        assert!(*newest(&door, Some(&site)).value());
        door.offer(false, &stamp(3, "c"));
        assert!(!*newest(&door, Some(&site)).value());
        assert!(!*newest(&door, None).value());
    }
}

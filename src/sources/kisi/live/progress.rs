//! How far the Kisi source has read, and the intervals it reads next.
//!
//! Two fronts: the live front moves forward from `through` (everything created before
//! it is stored), and a backfill walks back from `to` towards `floor` in windows of at
//! most 90 days (the widest interval an event set accepts). Both are saved as the
//! source's cursor, a small JSON object, in the batch that completes an interval.

use crate::model::ms_time;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The widest interval Kisi accepts for one event set (§5.2).
pub fn max_window() -> Duration {
    Duration::days(90)
}

/// `t - d`, but never before 1970 (a backfill of "1000000d" must not overflow).
fn before(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .max(DateTime::UNIX_EPOCH)
}

/// History still to fetch, newest first: `[floor, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backfill {
    #[serde(with = "ms_time")]
    pub floor: DateTime<Utc>,
    #[serde(with = "ms_time")]
    pub to: DateTime<Utc>,
}

/// The saved cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Events created before this are stored (up to late writes the overlap catches).
    #[serde(with = "ms_time")]
    pub through: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
    /// False only before a new source's first interval: nothing was read yet, so
    /// there is nothing to overlap.
    #[serde(skip, default = "yes")]
    pub overlap_applies: bool,
}

fn yes() -> bool {
    true
}

/// One event-set interval, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    /// The ISO 8601 interval an event set takes.
    pub fn interval(&self) -> String {
        format!(
            "{}/{}",
            crate::model::format_time(&self.start),
            crate::model::format_time(&self.end)
        )
    }
}

impl Progress {
    /// A source with no cursor: the newest 90 days of `backfill` come with the first
    /// live interval, anything older is left to the backfill walk.
    pub fn new_source(now: DateTime<Utc>, backfill: Duration) -> Progress {
        let now = crate::model::to_ms(now);
        let through = before(now, backfill.min(max_window()));
        let floor = before(now, backfill);
        Progress {
            through,
            backfill: (floor < through).then_some(Backfill { floor, to: through }),
            overlap_applies: false,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Progress> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The next live interval, up to `now`; `None` when there is nothing to read. The
    /// bool says whether the interval was cut at 90 days (more is waiting).
    pub fn live_span(&self, now: DateTime<Utc>, overlap: Duration) -> Option<(Span, bool)> {
        let now = crate::model::to_ms(now);
        // A front ahead of `now` is Kisi's clock as it ran ahead of ours, since
        // corrected: read from our time, or nothing would be read until it got there.
        let front = self.through.min(now);
        let start = if self.overlap_applies {
            before(front, overlap)
        } else {
            front
        };
        let end = now.min(start + max_window());
        (end > start).then_some((Span { start, end }, end < now))
    }

    /// The next backfill window, newest first.
    pub fn backfill_span(&self) -> Option<Span> {
        let b = self.backfill?;
        Some(Span {
            start: b.floor.max(before(b.to, max_window())),
            end: b.to,
        })
    }

    /// Where the next live interval starts reading again.
    pub fn overlap_from(&self, overlap: Duration) -> DateTime<Utc> {
        before(self.through, overlap)
    }

    /// The progress once the live interval up to `end` is stored. An `end` before
    /// `through` (Kisi's clock stepped back) moves it back: what Kisi stamps from now
    /// on falls from there.
    pub fn after_live(&self, end: DateTime<Utc>) -> Progress {
        Progress {
            through: end,
            backfill: self.backfill,
            overlap_applies: true,
        }
    }

    /// The progress once the backfill window starting at `start` is stored.
    pub fn after_backfill(&self, start: DateTime<Utc>) -> Progress {
        Progress {
            through: self.through,
            backfill: self.backfill.filter(|b| b.floor < start).map(|b| Backfill {
                floor: b.floor,
                to: start,
            }),
            overlap_applies: self.overlap_applies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_day_of_backfill_is_one_live_interval_without_overlap() {
        let now = t("2026-03-10T12:00:00.123Z");
        let p = Progress::new_source(now, Duration::hours(24));
        assert_eq!(p.backfill, None);
        let (span, more) = p.live_span(now, Duration::minutes(2)).unwrap();
        assert_eq!(span.start, t("2026-03-09T12:00:00.123Z"));
        assert_eq!(span.end, now);
        assert!(!more);
        assert_eq!(
            span.interval(),
            "2026-03-09T12:00:00.123Z/2026-03-10T12:00:00.123Z"
        );
    }

    #[test]
    fn no_backfill_starts_now() {
        let now = t("2026-03-10T12:00:00Z");
        let p = Progress::new_source(now, Duration::zero());
        assert_eq!((p.through, p.backfill), (now, None));
        assert_eq!(p.live_span(now, Duration::minutes(2)), None);
    }

    #[test]
    fn long_backfill_walks_back_in_90_day_windows() {
        let now = t("2026-03-10T00:00:00Z");
        let mut p = Progress::new_source(now, Duration::days(200));
        assert_eq!(p.through, now - Duration::days(90));
        let mut windows = Vec::new();
        while let Some(w) = p.backfill_span() {
            windows.push(w);
            p = p.after_backfill(w.start);
        }
        assert_eq!(
            windows,
            vec![
                Span {
                    start: now - Duration::days(180),
                    end: now - Duration::days(90)
                },
                Span {
                    start: now - Duration::days(200),
                    end: now - Duration::days(180)
                },
            ]
        );
    }

    #[test]
    fn resumed_progress_overlaps_and_caps_at_90_days() {
        let now = t("2026-03-10T00:00:00Z");
        // The cursor of a source that was down for 100 days.
        let p = Progress::from_bytes(br#"{"through":"2025-11-30T00:00:00.000Z"}"#).unwrap();
        assert!(p.overlap_applies);
        let (span, more) = p.live_span(now, Duration::minutes(2)).unwrap();
        assert_eq!(span.start, now - Duration::days(100) - Duration::minutes(2));
        assert_eq!(span.end, span.start + Duration::days(90));
        assert!(more);
        let p = p.after_live(span.end);
        let (span, more) = p.live_span(now, Duration::minutes(2)).unwrap();
        assert_eq!(span.end, now);
        assert!(!more);
    }

    #[test]
    fn the_front_follows_kisis_clock_back_and_a_front_ahead_of_now_reads_from_now() {
        let now = t("2026-03-10T12:00:00Z");
        let p = Progress::from_bytes(br#"{"through":"2026-03-10T12:00:00.000Z"}"#).unwrap();
        // Kisi's clock stepped back 5 minutes: the front goes back with it.
        let back = p.after_live(now - Duration::minutes(5));
        assert_eq!(back.through, now - Duration::minutes(5));
        let (span, _) = back.live_span(now, Duration::minutes(2)).unwrap();
        assert_eq!(span.start, now - Duration::minutes(7));
        // A front Kisi's clock left 5 minutes ahead, now corrected: read from now.
        let ahead = p.after_live(now + Duration::minutes(5));
        let (span, _) = ahead.live_span(now, Duration::minutes(2)).unwrap();
        assert_eq!((span.start, span.end), (now - Duration::minutes(2), now));
    }

    #[test]
    fn an_absurd_backfill_stops_at_1970() {
        let now = t("2026-03-10T00:00:00Z");
        let p = Progress::new_source(now, Duration::days(10_000_000));
        assert_eq!(p.backfill.unwrap().floor, DateTime::UNIX_EPOCH);
        let far = Progress::from_bytes(br#"{"through":"1970-01-01T00:00:01.000Z"}"#).unwrap();
        let (span, _) = far.live_span(now, Duration::days(10_000_000)).unwrap();
        assert_eq!(span.start, DateTime::UNIX_EPOCH);
    }

    #[test]
    fn the_cursor_is_small_readable_json() {
        let now = t("2026-03-10T00:00:00Z");
        let p = Progress::new_source(now, Duration::days(100));
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{"through":"2025-12-10T00:00:00.000Z","backfill":{"floor":"2025-11-30T00:00:00.000Z","to":"2025-12-10T00:00:00.000Z"}}"#
        );
        assert_eq!(Progress::from_bytes(b"{\"through\": 3}"), None);
    }
}

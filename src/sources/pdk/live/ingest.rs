//! From received stream items to committed batches: short time-batching, `liveEvent`
//! companions, stream gaps, and the cursor that says how far the source can vouch for
//! what it stored.
//!
//! The cursor's `connected` is the "safe point": every event that occurred before it
//! is stored (or recorded as part of a gap). It trails the newest received frame by
//! [`LATENCY_MARGIN_MS`] (a frame received now may have been sent before an event that
//! a drop then lost), stays at the oldest item not yet committed, stays where events
//! began to be held for an expired token, and stays at a gap's start until that gap is
//! backfilled or recorded. After a restart, the same gap machinery covers the downtime
//! from the saved safe point.

use crate::model::{Event, EventKind, Severity, Vendor};
use crate::sources::pdk::{is_live, live_matches, merge_live};
use crate::sources::runtime::{parse_items, quarantine_raw};
use crate::store::{AppendBatch, QuarantineRecord};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};

/// Items are committed once they are this old, so that a primary and its `liveEvent`
/// companion (sent together, so received within a few ms) usually land in one batch.
/// One that misses it is not lost: an access event waits up to [`ACCESS_WAIT_MS`]
/// for its companion, and a companion merges into its primary once stored. Short, as
/// it is most of the time from the vendor to the screen.
pub const BATCH_WINDOW_MS: i64 = 20;
/// How long a companion waits for its primary before it is stored on its own.
pub const LIVE_WAIT_MS: i64 = 3_000;
/// How long an access event waits for its companion when companions are expected.
pub const ACCESS_WAIT_MS: i64 = 1_000;
/// The auditable access events PDK sends `liveEvent` companions for (our reading of
/// the brief; UNCONFIRMED).
const COMPANION_TOPICS: &[&str] = &[
    "device.request.allowed",
    "device.request.denied",
    "device.request.unknown",
];
/// How long committed primaries stay available to late companions.
const RECENT_MS: i64 = 10_000;
const RECENT_MAX: usize = 5_000;
/// How far before the last frame received an event may have been lost in flight.
pub const LATENCY_MARGIN_MS: i64 = 1_000;
/// How long the ids of committed primaries are kept, so that a history backfill
/// (which reaches the skew tolerance beyond its gap on both sides) stores only what
/// is new: twice the tolerance, plus a few minutes of outage.
const COMMITTED_MEMORY_MS: i64 = 15 * 60 * 1000;

/// The saved cursor: `{"v":1,"newest":ms,"connected":ms}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// `occurred` of the newest event committed.
    pub newest_ms: Option<i64>,
    /// The safe point (see the module docs).
    pub connected_ms: Option<i64>,
}

impl Cursor {
    pub fn decode(bytes: &[u8]) -> Option<Cursor> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        Some(Cursor {
            newest_ms: v.get("newest").and_then(Value::as_i64),
            connected_ms: v.get("connected").and_then(Value::as_i64),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        json!({"v": 1, "newest": self.newest_ms, "connected": self.connected_ms})
            .to_string()
            .into_bytes()
    }
}

/// A stretch of time the stream did not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub start_ms: i64,
    /// When the stream was known to deliver again; `None` while still down.
    pub end_ms: Option<i64>,
    /// A new source's look back (`backfill`): filled from history if it can be, but
    /// not an outage, so never recorded as a gap event.
    pub initial: bool,
}

pub struct Ingest {
    source: String,
    /// (received at, `{"topic", "body"}` item).
    pending: Vec<(i64, Value)>,
    quarantine: Vec<QuarantineRecord>,
    /// Companions with no primary yet, since when.
    held_lives: Vec<(i64, Event)>,
    /// Access events waiting briefly for their companion, since when.
    held_primaries: Vec<(i64, Event)>,
    /// `liveEvent` is subscribed.
    expect_companions: bool,
    /// Recently committed primary events, for late companions.
    recent: VecDeque<Event>,
    /// Ids of the primaries committed within [`COMMITTED_MEMORY_MS`], oldest first.
    committed_ids: VecDeque<(i64, String)>,
    committed_set: HashSet<String>,
    newest_ms: Option<i64>,
    /// The last frame received on a confirmed link.
    known_until_ms: Option<i64>,
    /// Events are being held by the server for an expired token since then.
    frozen_at_ms: Option<i64>,
    pub gap: Option<Gap>,
    saved: Cursor,
}

/// What to commit, plus the primaries to remember once it is committed.
pub struct Prepared {
    pub batch: AppendBatch,
    primaries: Vec<Event>,
    cursor: Cursor,
}

impl Ingest {
    pub fn new(source: &str, saved: Option<Cursor>, expect_companions: bool) -> Ingest {
        let saved = saved.unwrap_or_default();
        Ingest {
            source: source.to_string(),
            pending: Vec::new(),
            quarantine: Vec::new(),
            held_lives: Vec::new(),
            held_primaries: Vec::new(),
            expect_companions,
            recent: VecDeque::new(),
            committed_ids: VecDeque::new(),
            committed_set: HashSet::new(),
            newest_ms: saved.newest_ms,
            known_until_ms: None,
            frozen_at_ms: None,
            gap: saved.connected_ms.map(|start_ms| Gap {
                start_ms,
                end_ms: None,
                initial: false,
            }),
            saved,
        }
    }

    /// One Socket.IO event: its name (the topic) and first argument.
    pub fn push(&mut self, received_ms: i64, topic: &str, payload: Value) {
        self.pending
            .push((received_ms, json!({"topic": topic, "body": payload})));
    }

    /// A frame that is not a valid Socket.IO packet, kept raw.
    pub fn push_raw(&mut self, raw: &str, error: String) {
        self.quarantine
            .push(quarantine_raw(&self.source, Vendor::Pdk, raw, error));
    }

    /// A frame arrived on a confirmed link.
    pub fn heard(&mut self, now_ms: i64) {
        self.known_until_ms = Some(now_ms);
    }

    /// The server started holding events (`invalidToken`).
    pub fn freeze(&mut self, now_ms: i64) {
        self.frozen_at_ms.get_or_insert(now_ms);
    }

    /// The held events have been delivered.
    pub fn thaw(&mut self) {
        self.frozen_at_ms = None;
    }

    /// The link dropped after it had been confirmed: a gap starts at the safe point.
    pub fn link_lost(&mut self, now_ms: i64) {
        let start = self
            .link_point(now_ms)
            .unwrap_or(now_ms - LATENCY_MARGIN_MS);
        self.known_until_ms = None;
        self.frozen_at_ms = None;
        self.gap = Some(match self.gap {
            // A look back not yet filled is dropped for the outage: only an outage
            // deserves a gap event if history fails.
            Some(g) if !g.initial => Gap {
                start_ms: g.start_ms.min(start),
                end_ms: None,
                initial: false,
            },
            _ => Gap {
                start_ms: start,
                end_ms: None,
                initial: false,
            },
        });
    }

    /// A new source with history configured looks back `backfill_ms`.
    pub fn look_back(&mut self, now_ms: i64, backfill_ms: i64) {
        if self.gap.is_none() && self.saved.connected_ms.is_none() && backfill_ms > 0 {
            self.gap = Some(Gap {
                start_ms: now_ms - backfill_ms,
                end_ms: None,
                initial: true,
            });
        }
    }

    /// The stream delivers again: the open gap (if any) ends now. Returns it.
    pub fn confirmed(&mut self, now_ms: i64) -> Option<Gap> {
        self.known_until_ms = Some(now_ms);
        let g = self.gap.as_mut()?;
        if g.end_ms.is_none() {
            g.end_ms = Some(now_ms);
        }
        Some(*g)
    }

    /// Whether anything is waiting to be committed at `now_ms`.
    pub fn has_due(&self, now_ms: i64) -> bool {
        self.next_due().is_some_and(|due| due <= now_ms)
    }

    /// When (epoch ms) the earliest waiting item falls due, so that the runner can wake
    /// then; `None` when nothing waits (held companions during a gap wait for the gap).
    pub fn next_due(&self) -> Option<i64> {
        let pending = self.pending.iter().map(|(at, _)| at + BATCH_WINDOW_MS);
        let primaries = self
            .held_primaries
            .iter()
            .map(|(at, _)| at + ACCESS_WAIT_MS);
        let lives = self
            .held_lives
            .iter()
            .filter(|_| self.gap.is_none())
            .map(|(at, _)| at + LIVE_WAIT_MS);
        let quarantine = (!self.quarantine.is_empty()).then_some(i64::MIN);
        pending
            .chain(primaries)
            .chain(lives)
            .chain(quarantine)
            .min()
    }

    /// The safe point now (see the module docs), if the source can vouch for one.
    fn safe_point(&self, now_ms: i64) -> Option<i64> {
        match &self.gap {
            Some(g) => Some(g.start_ms),
            None => self.link_point(now_ms),
        }
    }

    /// The safe point as the link alone gives it.
    fn link_point(&self, now_ms: i64) -> Option<i64> {
        let Some(known) = self.known_until_ms else {
            return self.saved.connected_ms;
        };
        let mut point = known.min(now_ms);
        for (at, _) in &self.pending {
            point = point.min(*at);
        }
        for (at, _) in self.held_lives.iter().chain(&self.held_primaries) {
            point = point.min(*at);
        }
        if let Some(f) = self.frozen_at_ms {
            point = point.min(f);
        }
        Some(point - LATENCY_MARGIN_MS)
    }

    pub fn cursor(&self, now_ms: i64) -> Cursor {
        Cursor {
            newest_ms: self.newest_ms,
            connected_ms: self.safe_point(now_ms),
        }
    }

    /// The stream items due at `now_ms` (all of them when `all`), parsed, with
    /// companions merged or held, and the cursor. Companions still waiting for their
    /// primary stay held even then: the safe point stays before them.
    pub fn prepare(&mut self, now_ms: i64, all: bool) -> Prepared {
        let cut = now_ms - BATCH_WINDOW_MS;
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(at, _)| all || *at <= cut);
        self.pending = keep;
        self.prepare_items(due, now_ms, all, false)
    }

    /// Items fetched from history for `gap` (no companions there), closing it: the
    /// cursor moves on, unless the link dropped again meanwhile (then the gap goes on
    /// from where this backfill ended).
    pub fn prepare_backfill(&mut self, items: Vec<Value>, filled: Gap, now_ms: i64) -> Prepared {
        self.settle_gap(filled, now_ms);
        // Companions waiting out the gap may meet their primaries among these.
        let items = items.into_iter().map(|item| (now_ms, item)).collect();
        self.prepare_items(items, now_ms, false, true)
    }

    /// A gap event for `gap` (no history, or history failed), closing it likewise.
    pub fn prepare_gap_event(&mut self, gap: Gap, why: &str, now_ms: i64) -> Prepared {
        self.settle_gap(gap, now_ms);
        let mut p = self.prepare_items(Vec::new(), now_ms, false, false);
        if !gap.initial {
            let end = gap.end_ms.unwrap_or(now_ms);
            p.batch
                .events
                .push(gap_event(&self.source, gap.start_ms, end, why, now_ms));
        }
        p
    }

    fn settle_gap(&mut self, done: Gap, now_ms: i64) {
        let Some(current) = self.gap else {
            return;
        };
        let end = done.end_ms.unwrap_or(now_ms);
        if current.end_ms == done.end_ms && current.end_ms.is_some() {
            self.gap = None;
        } else {
            // Another outage began after this one was measured: what remains starts
            // where this one ended.
            self.gap = Some(Gap {
                start_ms: current.start_ms.max(end - LATENCY_MARGIN_MS),
                end_ms: current.end_ms.filter(|e| *e > end),
                initial: false,
            });
        }
    }

    /// Parse `(received at, item)`s one by one (so each keeps its time; companions are
    /// matched here, across batches), merge companions, hold what must wait. A
    /// backfill's items that were committed already are dropped (`skip_committed`).
    fn prepare_items(
        &mut self,
        items: Vec<(i64, Value)>,
        now_ms: i64,
        all: bool,
        skip_committed: bool,
    ) -> Prepared {
        let received = Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .unwrap_or_else(Utc::now);
        let mut quarantine = std::mem::take(&mut self.quarantine);
        let mut lives = Vec::new();
        let mut primaries: Vec<(i64, bool, Event)> = std::mem::take(&mut self.held_primaries)
            .into_iter()
            .map(|(since, e)| (since, false, e))
            .collect();
        for (at, item) in items {
            let (events, rejected) = parse_items(&self.source, Vendor::Pdk, vec![item], received);
            quarantine.extend(rejected);
            for e in events {
                if skip_committed && self.committed_set.contains(&e.id) {
                    continue;
                }
                if is_live(&e) {
                    lives.push((at, e));
                } else {
                    primaries.push((at, false, e));
                }
            }
        }
        let waiting = std::mem::take(&mut self.held_lives)
            .into_iter()
            .chain(lives);
        let zero = chrono::Duration::zero();
        let mut standalone = Vec::new();
        for (since, live) in waiting {
            let mut matched = false;
            for (_, has_companion, p) in primaries.iter_mut() {
                if live_matches(&live, p, zero) {
                    *has_companion = true;
                    matched = true;
                }
            }
            if matched {
                merge_live(primaries.iter_mut().map(|(_, _, p)| p), &live, zero);
                continue;
            }
            // Its primary is already stored: the companion adds nothing but a summary.
            if merge_live(self.recent.iter_mut(), &live, zero) {
                continue;
            }
            let waited_out = since <= now_ms - LIVE_WAIT_MS && self.gap.is_none();
            if waited_out {
                standalone.push(live);
            } else {
                self.held_lives.push((since, live));
            }
        }
        // An access event waits a moment for its companion, which a busy link may
        // deliver in a later batch than the event itself.
        let mut ready = Vec::with_capacity(primaries.len());
        for (since, has_companion, p) in primaries {
            let waiting = self.expect_companions
                && !has_companion
                && !all
                && COMPANION_TOPICS.contains(&p.vendor_type.as_str())
                && since > now_ms - ACCESS_WAIT_MS;
            if waiting {
                self.held_primaries.push((since, p));
            } else {
                ready.push(p);
            }
        }
        let remembered = ready.clone();
        ready.extend(standalone);
        if let Some(newest) = ready.iter().map(|e| e.occurred_at.timestamp_millis()).max() {
            self.newest_ms = Some(self.newest_ms.map_or(newest, |n| n.max(newest)));
        }
        let cursor = self.cursor(now_ms);
        Prepared {
            batch: AppendBatch {
                events: ready,
                quarantine,
                cursor: Some((self.source.clone(), cursor.encode())),
            },
            primaries: remembered,
            cursor,
        }
    }

    /// The batch is in the store: remember its primaries and its cursor.
    pub fn committed(&mut self, prepared_primaries: Vec<Event>, cursor: Cursor, now_ms: i64) {
        self.saved = cursor;
        for e in &prepared_primaries {
            if self.committed_set.insert(e.id.clone()) {
                self.committed_ids.push_back((now_ms, e.id.clone()));
            }
        }
        while let Some((at, id)) = self.committed_ids.front() {
            if *at >= now_ms - COMMITTED_MEMORY_MS {
                break;
            }
            self.committed_set.remove(id);
            self.committed_ids.pop_front();
        }
        self.recent.extend(prepared_primaries);
        let horizon = now_ms - RECENT_MS;
        while self.recent.len() > RECENT_MAX
            || self
                .recent
                .front()
                .is_some_and(|e| e.received_at.timestamp_millis() < horizon)
        {
            self.recent.pop_front();
        }
    }

    /// The cursor last committed.
    pub fn saved(&self) -> Cursor {
        self.saved
    }
}

impl Prepared {
    /// Split into the batch and the primaries to hand back to [`Ingest::committed`].
    pub fn into_parts(self) -> (AppendBatch, Vec<Event>) {
        (self.batch, self.primaries)
    }

    /// The cursor the batch carries.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.batch.events.is_empty() && self.batch.quarantine.is_empty()
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A visible warning that the stream did not cover `[start, end]`. Its id depends on
/// the source and the start only, so a restart that finds the same gap does not record
/// it twice.
pub fn gap_event(source: &str, start_ms: i64, end_ms: i64, why: &str, now_ms: i64) -> Event {
    let (start, end) = (at(start_ms), at(end_ms.max(start_ms)));
    let secs = (end_ms - start_ms).max(0) as f64 / 1000.0;
    Event {
        id: Event::make_id(source, &format!("source.gap:{start_ms}")),
        source: source.to_string(),
        vendor: Vendor::Pdk,
        occurred_at: start,
        received_at: at(now_ms),
        kind: EventKind::SourceGap,
        vendor_type: "source.gap".into(),
        severity: Severity::Warning,
        door: None,
        controller: None,
        person: None,
        site: None,
        credential: None,
        success: None,
        summary: format!(
            "PDK stream gap {} – {} ({secs:.1} s): events in it may be missing ({why})",
            crate::model::format_time(&start),
            crate::model::format_time(&end),
        ),
        raw: json!({
            "gap": {"start": start_ms, "end": end_ms, "start_at": crate::model::format_time(&start),
                    "end_at": crate::model::format_time(&end)},
            "reason": why,
        })
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_341_600_000;

    fn allowed(id: &str, at: i64) -> Value {
        json!({"id": id, "topic": "device.request.allowed", "occurred": at,
               "cloudNode": {"id": "cn", "serialNumber": "1", "name": "HQ"},
               "body": {"deviceId": "d-1", "device": {"id": "d-2", "name": "Front Door"},
                        "holder": {"id": "h", "name": "Jane Roe"}, "holderId": "h"}})
    }

    fn live(at: i64) -> Value {
        json!({"topic": "device.request.allowed", "info": "%s was granted access to %s",
               "occurred": at, "cloudNode": {"id": "cn2", "serialNumber": "1"},
               "placeholders": [{"text": "Jane Roe", "type": "holder"},
                                {"text": "Front Door", "id": "d-2", "type": "device"}]})
    }

    #[test]
    fn companion_waits_for_its_primary_across_batches() {
        let mut ing = Ingest::new("hq", None, true);
        ing.confirmed(T0);
        ing.push(T0, "liveEvent", live(T0 - 5));
        let (b, prim) = ing.prepare(T0 + 200, false).into_parts();
        assert!(b.events.is_empty(), "companion held, not stored");
        ing.committed(prim, Cursor::default(), T0 + 200);
        ing.push(T0 + 300, "device.request.allowed", allowed("r-1", T0 - 5));
        let (b, _) = ing.prepare(T0 + 500, false).into_parts();
        assert_eq!(b.events.len(), 1);
        assert_eq!(
            b.events[0].summary,
            "Jane Roe was granted access to Front Door"
        );
        assert!(ing.held_lives.is_empty());
    }

    #[test]
    fn access_event_waits_briefly_for_a_late_companion() {
        let mut ing = Ingest::new("hq", None, true);
        ing.confirmed(T0);
        ing.push(T0, "device.request.allowed", allowed("r-1", T0 - 5));
        assert!(ing.prepare(T0 + 200, false).batch.events.is_empty());
        assert_eq!(
            ing.cursor(T0 + 200).connected_ms,
            Some(T0 - LATENCY_MARGIN_MS)
        );
        ing.push(T0 + 400, "liveEvent", live(T0 - 5));
        let b = ing.prepare(T0 + 600, false).batch;
        assert_eq!(b.events.len(), 1);
        assert_eq!(
            b.events[0].summary,
            "Jane Roe was granted access to Front Door"
        );
        // Without a companion it goes in after the wait.
        ing.push(T0 + 700, "device.request.allowed", allowed("r-2", T0 + 650));
        assert!(ing.prepare(T0 + 900, false).batch.events.is_empty());
        assert!(ing.has_due(T0 + 700 + ACCESS_WAIT_MS));
        assert_eq!(
            ing.prepare(T0 + 700 + ACCESS_WAIT_MS, false)
                .batch
                .events
                .len(),
            1
        );
    }

    #[test]
    fn next_due_says_when_to_wake() {
        let mut ing = Ingest::new("hq", None, true);
        ing.confirmed(T0);
        assert_eq!(ing.next_due(), None);
        ing.push(T0, "device.request.allowed", allowed("r-1", T0 - 5));
        ing.push(T0 + 3, "liveEvent", live(T0 - 5));
        assert_eq!(ing.next_due(), Some(T0 + BATCH_WINDOW_MS));
        assert!(!ing.has_due(T0 + BATCH_WINDOW_MS - 1));
        assert!(ing.has_due(T0 + BATCH_WINDOW_MS));
        // The primary is due; its companion, 3 ms later, not yet: the primary waits
        // for it, and both go in one batch once the companion is due.
        assert!(
            ing.prepare(T0 + BATCH_WINDOW_MS, false)
                .batch
                .events
                .is_empty()
        );
        assert_eq!(ing.next_due(), Some(T0 + 3 + BATCH_WINDOW_MS));
        let b = ing.prepare(T0 + 3 + BATCH_WINDOW_MS, false).batch;
        assert_eq!(b.events.len(), 1);
        assert_eq!(
            b.events[0].summary,
            "Jane Roe was granted access to Front Door"
        );
        assert_eq!(ing.next_due(), None);
        // Held for its companion: due when the wait is over.
        ing.push(T0 + 100, "device.request.allowed", allowed("r-2", T0 + 90));
        let _ = ing.prepare(T0 + 100 + BATCH_WINDOW_MS, false);
        assert_eq!(ing.next_due(), Some(T0 + 100 + ACCESS_WAIT_MS));
    }

    #[test]
    fn late_companion_of_a_committed_primary_is_dropped() {
        let mut ing = Ingest::new("hq", None, false);
        ing.confirmed(T0);
        ing.push(T0, "device.request.allowed", allowed("r-1", T0 - 5));
        let (b, prim) = ing.prepare(T0 + 200, false).into_parts();
        assert_eq!(b.events.len(), 1);
        ing.committed(prim, Cursor::default(), T0 + 200);
        ing.push(T0 + 300, "liveEvent", live(T0 - 5));
        let (b, _) = ing.prepare(T0 + 500, true).into_parts();
        assert!(b.events.is_empty());
    }

    #[test]
    fn lonely_companion_is_stored_after_waiting() {
        let mut ing = Ingest::new("hq", None, true);
        ing.confirmed(T0);
        ing.push(T0, "liveEvent", live(T0 - 5));
        assert!(ing.prepare(T0 + 200, false).batch.events.is_empty());
        assert!(!ing.has_due(T0 + 1000));
        assert!(ing.has_due(T0 + 200 + LIVE_WAIT_MS));
        let b = ing.prepare(T0 + 200 + LIVE_WAIT_MS, false).batch;
        assert_eq!(b.events.len(), 1);
        assert!(b.events[0].id.starts_with("hq:liveEvent:"));
    }

    #[test]
    fn safe_point_trails_and_holds() {
        let mut ing = Ingest::new("hq", None, true);
        assert_eq!(ing.cursor(T0).connected_ms, None);
        ing.confirmed(T0);
        ing.heard(T0 + 5000);
        assert_eq!(ing.cursor(T0 + 5000).connected_ms, Some(T0 + 4000));
        ing.push(T0 + 4500, "x", json!({}));
        assert_eq!(ing.cursor(T0 + 5000).connected_ms, Some(T0 + 3500));
        ing.freeze(T0 + 4200);
        assert_eq!(ing.cursor(T0 + 5000).connected_ms, Some(T0 + 3200));
        let _ = ing.prepare(T0 + 9000, true);
        ing.thaw();
        ing.link_lost(T0 + 9000);
        let g = ing.gap.unwrap();
        assert_eq!(g.start_ms, T0 + 4000);
        assert_eq!(ing.cursor(T0 + 20_000).connected_ms, Some(T0 + 4000));
        let g = ing.confirmed(T0 + 12_000).unwrap();
        let p = ing.prepare_gap_event(g, "no history", T0 + 12_000);
        assert_eq!(p.batch.events.len(), 1);
        let e = &p.batch.events[0];
        assert_eq!(e.id, format!("hq:source.gap:{}", T0 + 4000));
        assert_eq!(e.kind, EventKind::SourceGap);
        assert_eq!(e.raw.parse().unwrap()["gap"]["end"], T0 + 12_000);
        assert!(ing.gap.is_none());
    }

    #[test]
    fn restart_resumes_the_gap_and_initial_look_back_is_silent() {
        let saved = Cursor {
            newest_ms: Some(T0),
            connected_ms: Some(T0 + 10),
        };
        let back = Cursor::decode(&saved.encode()).unwrap();
        assert_eq!(back, saved);
        let mut ing = Ingest::new("hq", Some(back), true);
        ing.look_back(T0 + 100, 1000);
        assert_eq!(ing.gap.unwrap().start_ms, T0 + 10);
        assert!(!ing.gap.unwrap().initial);

        let mut fresh = Ingest::new("hq", None, true);
        fresh.look_back(T0, 60_000);
        let g = fresh.confirmed(T0 + 50).unwrap();
        assert!(g.initial);
        assert!(
            fresh
                .prepare_gap_event(g, "x", T0 + 60)
                .batch
                .events
                .is_empty()
        );
    }

    #[test]
    fn a_second_drop_during_backfill_keeps_the_rest_open() {
        let saved = Cursor {
            newest_ms: None,
            connected_ms: Some(T0),
        };
        let mut ing = Ingest::new("hq", Some(saved), true);
        let g = ing.confirmed(T0 + 5000).unwrap();
        ing.heard(T0 + 8000);
        ing.link_lost(T0 + 8000);
        let _ = ing.prepare_backfill(Vec::new(), g, T0 + 9000);
        let rest = ing.gap.unwrap();
        assert_eq!(rest.start_ms, T0 + 4000);
        assert_eq!(rest.end_ms, None);
    }
}

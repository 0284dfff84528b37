//! Sync progress: the vendors' controller syncs (configuration pushed down to a
//! controller) and our own catch-up of each source's history.

use super::controllers::ControllerKey;
use super::stamp::{Stamp, Stamped};
use crate::model::{Event, EventKind};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    #[default]
    Unknown,
    Pending,
    Started,
    Finished,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    Finished,
    Failed,
}

/// The newest sync that ended, with how long it ran when its start is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedSync {
    pub outcome: SyncOutcome,
    pub started_at: Option<DateTime<Utc>>,
    pub ended: Stamp,
    /// Milliseconds (chrono durations have no serde form).
    pub duration_ms: Option<i64>,
}

impl CompletedSync {
    pub fn ended_at(&self) -> DateTime<Utc> {
        self.ended.at
    }

    pub fn duration(&self) -> Option<Duration> {
        self.duration_ms.and_then(Duration::try_milliseconds)
    }

    /// A start arriving after its end (out of order) completes the picture. Only a
    /// later start than the one already used can be this run's: runs do not overlap.
    fn offer_start(&mut self, started: DateTime<Utc>) -> bool {
        let belongs = started <= self.ended.at && self.started_at.is_none_or(|s| started > s);
        if belongs {
            self.started_at = Some(started);
            self.duration_ms = Some((self.ended.at - started).num_milliseconds());
        }
        belongs
    }
}

/// One controller's sync: pending → started → finished or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerSync {
    key: ControllerKey,
    phase: Stamped<SyncPhase>,
    pending_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    last_completed: Option<CompletedSync>,
}

impl ControllerSync {
    pub fn new(key: ControllerKey) -> ControllerSync {
        ControllerSync {
            key,
            phase: Stamped::default(),
            pending_at: None,
            started_at: None,
            finished_at: None,
            failed_at: None,
            last_completed: None,
        }
    }

    /// Whether `kind` is a controller sync event this folds.
    pub fn concerns(kind: &EventKind) -> bool {
        matches!(
            kind,
            EventKind::ControllerSyncPending
                | EventKind::ControllerSyncStarted
                | EventKind::ControllerSyncFinished
                | EventKind::ControllerSyncFailed
        )
    }

    pub fn key(&self) -> &ControllerKey {
        &self.key
    }

    pub fn phase(&self) -> SyncPhase {
        *self.phase.value()
    }

    /// When the current phase was entered (the newest event reporting it).
    pub fn phase_since(&self) -> Option<DateTime<Utc>> {
        self.phase.at()
    }

    /// The newest time each phase was reported.
    pub fn pending_at(&self) -> Option<DateTime<Utc>> {
        self.pending_at
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }

    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }

    pub fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.failed_at
    }

    pub fn last_completed(&self) -> Option<&CompletedSync> {
        self.last_completed.as_ref()
    }

    /// How long the last completed sync took, when its start is known.
    pub fn last_duration(&self) -> Option<Duration> {
        self.last_completed
            .as_ref()
            .and_then(CompletedSync::duration)
    }

    /// Fold one sync event for this controller. Returns whether anything changed.
    pub fn apply(&mut self, e: &Event) -> bool {
        let stamp = Stamp::of(e);
        let at = e.occurred_at;
        match e.kind {
            EventKind::ControllerSyncPending => {
                self.phase.offer(SyncPhase::Pending, &stamp) | raise(&mut self.pending_at, at)
            }
            EventKind::ControllerSyncStarted => self.started(&stamp),
            EventKind::ControllerSyncFinished => {
                self.ended(SyncOutcome::Finished, &stamp) | raise(&mut self.finished_at, at)
            }
            EventKind::ControllerSyncFailed => {
                self.ended(SyncOutcome::Failed, &stamp) | raise(&mut self.failed_at, at)
            }
            _ => false,
        }
    }

    fn started(&mut self, stamp: &Stamp) -> bool {
        let mut changed = self.phase.offer(SyncPhase::Started, stamp);
        changed |= raise(&mut self.started_at, stamp.at);
        if let Some(done) = &mut self.last_completed {
            changed |= done.offer_start(stamp.at);
        }
        changed
    }

    fn ended(&mut self, outcome: SyncOutcome, stamp: &Stamp) -> bool {
        let phase = match outcome {
            SyncOutcome::Finished => SyncPhase::Finished,
            SyncOutcome::Failed => SyncPhase::Failed,
        };
        let mut changed = self.phase.offer(phase, stamp);
        if self
            .last_completed
            .as_ref()
            .is_none_or(|c| *stamp > c.ended)
        {
            // The run that ended is the one that started last before the end.
            let started_at = self.started_at.filter(|s| *s <= stamp.at);
            self.last_completed = Some(CompletedSync {
                outcome,
                started_at,
                ended: stamp.clone(),
                duration_ms: started_at.map(|s| (stamp.at - s).num_milliseconds()),
            });
            changed = true;
        }
        changed
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Move a "newest time" forward; never back. Returns whether it moved.
fn raise(slot: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    if slot.is_some_and(|current| current >= at) {
        return false;
    }
    *slot = Some(at);
    true
}

/// Our own catch-up of one source's history: the window of event time it has to fetch,
/// how much of it is fetched, and an estimate of what is left.
///
/// Sources fetch in pages that are contiguous in event time, newest first or oldest
/// first, so the fetched part is one interval that grows at one end. The estimate
/// assumes the rest goes at the average pace so far (event time covered per wall-clock
/// time): steadier than the last page's pace, which jumps with every slow request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUp {
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    fetched: Option<(DateTime<Utc>, DateTime<Utc>)>,
    events_so_far: u64,
    began_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// How many events the vendor said the catch-up holds, when it says: progress is
    /// then counted in events rather than in event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_events: Option<u64>,
}

/// What a source tells the engine about its catch-up (see [`CatchUp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchUpReport {
    /// Catching up on event time `from..to`; `total` events if the vendor counted them.
    Begin {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        total: Option<u64>,
    },
    /// A committed page covering event time `from..to` with `events` events in it.
    Page {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        events: u64,
    },
    /// Caught up (or given up: the source stopped).
    End,
}

impl CatchUp {
    /// A catch-up of event time `window_start..window_end`, begun at wall time `now`.
    pub fn new(window_start: DateTime<Utc>, window_end: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let (window_start, window_end) = if window_start <= window_end {
            (window_start, window_end)
        } else {
            (window_end, window_start)
        };
        CatchUp {
            window_start,
            window_end,
            fetched: None,
            events_so_far: 0,
            began_at: now,
            updated_at: now,
            expected_events: None,
        }
    }

    /// Count progress in events against `total` (what the vendor said is coming).
    pub fn expect_events(&mut self, total: Option<u64>) {
        self.expected_events = total.filter(|t| *t > 0);
    }

    pub fn expected_events(&self) -> Option<u64> {
        self.expected_events
    }

    pub fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.window_start, self.window_end)
    }

    /// The part of the window fetched so far, if any.
    pub fn fetched(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.fetched
    }

    pub fn events_so_far(&self) -> u64 {
        self.events_so_far
    }

    pub fn began_at(&self) -> DateTime<Utc> {
        self.began_at
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Record a fetched page covering event time `from..to` with `events` events in it,
    /// at wall time `now`. Times outside the window are clamped to it.
    pub fn record_page(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        events: u64,
        now: DateTime<Utc>,
    ) {
        let (from, to) = if from <= to { (from, to) } else { (to, from) };
        let from = from.clamp(self.window_start, self.window_end);
        let to = to.clamp(self.window_start, self.window_end);
        self.fetched = Some(match self.fetched {
            None => (from, to),
            Some((start, end)) => (start.min(from), end.max(to)),
        });
        self.events_so_far = self.events_so_far.saturating_add(events);
        self.updated_at = self.updated_at.max(now);
    }

    fn window_ms(&self) -> i64 {
        (self.window_end - self.window_start).num_milliseconds()
    }

    fn fetched_ms(&self) -> i64 {
        self.fetched
            .map(|(start, end)| (end - start).num_milliseconds())
            .unwrap_or(0)
    }

    fn unfetched_ms(&self) -> i64 {
        (self.window_ms() - self.fetched_ms()).max(0)
    }

    pub fn is_done(&self) -> bool {
        self.fetched.is_some() && self.unfetched_ms() == 0
    }

    /// Work done and left, in events when the total is known, else in event time (ms).
    fn units(&self) -> (i64, i64) {
        match self.expected_events {
            Some(total) => {
                let done = self.events_so_far.min(total);
                let left = if self.is_done() { 0 } else { total - done };
                (clamp_i64(done), clamp_i64(left))
            }
            None => (self.fetched_ms(), self.unfetched_ms()),
        }
    }

    /// How much of the window is fetched, 0.0 to 1.0. An empty window is done once
    /// anything was recorded.
    pub fn fraction_done(&self) -> f64 {
        if self.expected_events.is_some() && !self.is_done() {
            let (done, left) = self.units();
            return done as f64 / (done + left).max(1) as f64;
        }
        match self.window_ms() {
            0 => {
                if self.fetched.is_some() {
                    1.0
                } else {
                    0.0
                }
            }
            window => self.fetched_ms() as f64 / window as f64,
        }
    }

    /// Wall time left at the pace so far, judged at `now`. `None` until there is a
    /// pace to judge by (nothing covered yet, or no time has passed).
    pub fn estimated_time_left(&self, now: DateTime<Utc>) -> Option<Duration> {
        if self.is_done() {
            return Some(Duration::zero());
        }
        let elapsed_ms = (now - self.began_at).num_milliseconds();
        let (covered, left) = self.units();
        if elapsed_ms <= 0 || covered <= 0 {
            return None;
        }
        let left_ms = i128::from(left) * i128::from(elapsed_ms) / i128::from(covered);
        Some(
            i64::try_from(left_ms)
                .ok()
                .and_then(Duration::try_milliseconds)
                .unwrap_or(Duration::MAX),
        )
    }

    /// Events still to come, assuming the rest of the window is as busy as the part
    /// fetched. `None` until some event time is covered.
    pub fn estimated_events_left(&self) -> Option<u64> {
        let covered_ms = self.fetched_ms();
        if covered_ms <= 0 {
            return self.is_done().then_some(0);
        }
        let left =
            u128::from(self.events_so_far) * self.unfetched_ms() as u128 / covered_ms as u128;
        Some(u64::try_from(left).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::doors::tests::ev;
    use EventKind as K;
    use chrono::TimeZone;

    fn fold(events: &[Event]) -> ControllerSync {
        let mut s = ControllerSync::new(ControllerKey::new("src", "cn1"));
        for e in events {
            s.apply(e);
        }
        s
    }

    fn t(secs: i64) -> DateTime<Utc> {
        ev(K::Other, secs).occurred_at
    }

    #[test]
    fn pending_started_finished_with_duration() {
        let s = fold(&[ev(K::ControllerSyncPending, 1)]);
        assert_eq!(s.phase(), SyncPhase::Pending);
        assert!(s.last_completed().is_none());
        let s = fold(&[
            ev(K::ControllerSyncPending, 1),
            ev(K::ControllerSyncStarted, 10),
        ]);
        assert_eq!(s.phase(), SyncPhase::Started);
        assert_eq!(s.started_at(), Some(t(10)));
        let s = fold(&[
            ev(K::ControllerSyncPending, 1),
            ev(K::ControllerSyncStarted, 10),
            ev(K::ControllerSyncFinished, 42),
        ]);
        assert_eq!(s.phase(), SyncPhase::Finished);
        assert_eq!(s.phase_since(), Some(t(42)));
        assert_eq!(s.last_duration(), Some(Duration::seconds(32)));
        assert_eq!(s.last_completed().unwrap().outcome, SyncOutcome::Finished);
        assert_eq!(s.pending_at(), Some(t(1)));
    }

    #[test]
    fn failed_sync_is_completed_with_its_duration() {
        let s = fold(&[
            ev(K::ControllerSyncStarted, 10),
            ev(K::ControllerSyncFailed, 130),
        ]);
        assert_eq!(s.phase(), SyncPhase::Failed);
        assert_eq!(s.failed_at(), Some(t(130)));
        let done = s.last_completed().unwrap();
        assert_eq!(done.outcome, SyncOutcome::Failed);
        assert_eq!(done.duration(), Some(Duration::seconds(120)));
    }

    #[test]
    fn end_without_a_known_start_has_no_duration() {
        let s = fold(&[
            ev(K::ControllerSyncPending, 1),
            ev(K::ControllerSyncFinished, 60),
        ]);
        assert_eq!(s.phase(), SyncPhase::Finished);
        assert_eq!(s.last_duration(), None);
    }

    #[test]
    fn the_last_completed_run_is_measured_from_its_own_start() {
        let s = fold(&[
            ev(K::ControllerSyncStarted, 1),
            ev(K::ControllerSyncFinished, 5),
            ev(K::ControllerSyncStarted, 100),
            ev(K::ControllerSyncFinished, 103),
            ev(K::ControllerSyncStarted, 200),
        ]);
        assert_eq!(s.phase(), SyncPhase::Started);
        assert_eq!(s.last_duration(), Some(Duration::seconds(3)));
    }

    #[test]
    fn out_of_order_start_and_end_still_give_the_duration() {
        let s = fold(&[
            ev(K::ControllerSyncFinished, 42),
            ev(K::ControllerSyncStarted, 10),
        ]);
        assert_eq!(
            s.phase(),
            SyncPhase::Finished,
            "an old start must not reopen the sync"
        );
        assert_eq!(s.last_duration(), Some(Duration::seconds(32)));
        // Reversed history of two runs: the later start wins for the later end.
        let s = fold(&[
            ev(K::ControllerSyncFinished, 103),
            ev(K::ControllerSyncStarted, 100),
            ev(K::ControllerSyncFinished, 5),
            ev(K::ControllerSyncStarted, 1),
        ]);
        assert_eq!(s.last_duration(), Some(Duration::seconds(3)));
        assert_eq!(s.last_completed().unwrap().ended_at(), t(103));
    }

    #[test]
    fn duplicates_change_nothing() {
        let mut s = fold(&[
            ev(K::ControllerSyncStarted, 1),
            ev(K::ControllerSyncFinished, 2),
        ]);
        let before = s.clone();
        assert!(!s.apply(&ev(K::ControllerSyncFinished, 2)));
        assert!(!s.apply(&ev(K::ControllerSyncStarted, 1)));
        assert_eq!(s, before);
    }

    fn wall(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(2_000_000_000 + secs, 0).unwrap()
    }

    fn day_window() -> CatchUp {
        // Catch up one day of history, begun at wall time 0.
        CatchUp::new(t(0), t(86_400), wall(0))
    }

    #[test]
    fn catch_up_eta_from_the_average_pace() {
        let mut c = day_window();
        assert_eq!(c.estimated_time_left(wall(0)), None);
        assert_eq!(c.estimated_events_left(), None);
        assert_eq!(c.fraction_done(), 0.0);
        // Newest first: a quarter of the day in 10 s, holding 500 events.
        c.record_page(t(64_800), t(86_400), 500, wall(10));
        assert_eq!(c.fraction_done(), 0.25);
        assert_eq!(c.estimated_time_left(wall(10)), Some(Duration::seconds(30)));
        assert_eq!(c.estimated_events_left(), Some(1_500));
        // Judged later with no progress, the pace is slower and the ETA longer.
        assert_eq!(c.estimated_time_left(wall(20)), Some(Duration::seconds(60)));
        c.record_page(t(43_200), t(64_800), 300, wall(20));
        assert_eq!(c.events_so_far(), 800);
        assert_eq!(c.fraction_done(), 0.5);
        assert_eq!(c.estimated_time_left(wall(20)), Some(Duration::seconds(20)));
        assert!(!c.is_done());
    }

    #[test]
    fn catch_up_oldest_first_and_done() {
        let mut c = day_window();
        c.record_page(t(0), t(43_200), 100, wall(5));
        assert_eq!(c.fetched(), Some((t(0), t(43_200))));
        // A page reaching past the window is clamped to it.
        c.record_page(t(43_200), t(90_000), 100, wall(9));
        assert!(c.is_done());
        assert_eq!(c.fraction_done(), 1.0);
        assert_eq!(c.estimated_time_left(wall(9)), Some(Duration::zero()));
        assert_eq!(c.estimated_events_left(), Some(0));
        assert_eq!(c.updated_at(), wall(9));
    }

    #[test]
    fn catch_up_with_a_known_total_counts_events() {
        let mut c = day_window();
        c.expect_events(Some(1_000));
        // Oldest first: a tenth of the day holds a quarter of the events.
        c.record_page(t(0), t(8_640), 250, wall(10));
        assert_eq!(c.fraction_done(), 0.25);
        assert_eq!(c.estimated_time_left(wall(10)), Some(Duration::seconds(30)));
        c.record_page(t(8_640), t(86_400), 750, wall(40));
        assert!(c.is_done());
        assert_eq!(c.fraction_done(), 1.0);
    }

    #[test]
    fn catch_up_of_an_empty_window() {
        let mut c = CatchUp::new(t(5), t(5), wall(0));
        assert!(!c.is_done());
        c.record_page(t(5), t(5), 0, wall(1));
        assert!(c.is_done());
        assert_eq!(c.fraction_done(), 1.0);
    }
}

//! The live Kisi source: events through event sets, door and controller status from
//! `/locks` and `/controllers` (see `protocols/kisi.md` §3-5, §10).
//!
//! Each poll reads one live interval — from the saved `through` minus the overlap to
//! now — as an event set: create it, wait until it is finished, page it to the end.
//! Every page is one batch; the batch of the last page also carries the cursor, so a
//! crash mid-set reads the interval again (the store's dedupe by id absorbs the
//! repeats) and never skips it. A new source first reads its `backfill`: the newest 90
//! days with the first live interval, older history in 90-day windows walking back,
//! one window per poll so live events keep flowing meanwhile.
//!
//! Errors mid-set (429, 5xx, timeouts, malformed pages) keep the set: the next poll,
//! after the backoff, resumes at the page that failed, since a set stays readable for
//! a day and its snapshot does not change. A set Kisi reports `failed`, no longer
//! serves (404, a refused cursor) or that keeps serving a malformed page is dropped,
//! and its interval read through a new one.
//!
//! Malformed pages (truncated JSON): each copy is quarantined raw and the same page is
//! asked for again with the same page cursor (a few times per poll, then on the next
//! two polls, then through a new set). A bad page is never skipped: the cursor only moves
//! with the interval's last page, so its events arrive once Kisi serves them readably,
//! and a persistent fault shows as backing off, not as a silent hole. (Skipping ahead
//! is impossible anyway: the next page's cursor is inside the truncated body.)
//!
//! Kisi's clock: the live front follows the `created_at` Kisi gives each new set, so
//! events stamped by a Kisi clock behind ours are read as they come, and a live
//! interval reaches as far ahead as Kisi's clock was last seen to run, so events it
//! stamps in our future are not left waiting for our clock. When Kisi's clock steps back
//! (events now stamped minutes before what was read), the front steps back with it and
//! the next interval reads from there: late-stamped events are found, not skipped.
//! Whatever the clock did while the source could not look (an error, a restart), the
//! next live interval reaches back the skew tolerance.
//!
//! Limits: a client-side limiter keeps to 5 requests/s per credential and one
//! `POST /event_sets` per second; `runtime::drive` handles 429 (Retry-After, else
//! backoff), 5xx/timeouts (backoff) and 401 (the source fails, naming the env var).

mod api;
mod inventory;
mod limiter;
mod progress;

use crate::config::SecretKind;
use crate::model::Vendor;
use crate::sources::runtime::{
    self, CatchUpTracker, FetchError, Polled, Poller, SourceCtx, catch_up_min,
};
use crate::store::AppendBatch;
use api::{KisiApi, SetRead, SetReply, SetStatus};
use chrono::{DateTime, Utc};
use progress::{Progress, Span};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// Re-read before the cursor on every poll unless `overlap` says otherwise; the
/// brief's suggestion for late writes.
const DEFAULT_OVERLAP: Duration = Duration::from_secs(120);
/// How often door and controller status is listed.
const INVENTORY_EVERY: Duration = Duration::from_secs(60);
/// Tries per event-set page within one poll.
const PAGE_ATTEMPTS: u32 = 3;
/// Polls in a row a set may serve a malformed page before it is dropped and its
/// interval read through a new one.
const MALFORMED_POLLS: u32 = 3;
/// Kisi keeps a set readable for about a day; an outage longer than this drops it.
const SET_MAX_AGE: Duration = Duration::from_secs(20 * 3600);
/// Waiting for an `in_progress` set: first pause, longest pause, give up after.
const SET_WAIT_FIRST: Duration = Duration::from_millis(200);
const SET_WAIT_MAX: Duration = Duration::from_secs(2);
const SET_WAIT_LIMIT: Duration = Duration::from_secs(600);

pub async fn run(ctx: SourceCtx) {
    match KisiPoller::new(&ctx) {
        Ok(poller) => runtime::drive(ctx, poller).await,
        Err(reason) => {
            tracing::error!(source = ctx.name(), "stopped: {reason}");
            ctx.status.failed(reason);
        }
    }
}

/// What an interval is read for: live intervals advance `through`, backfill windows
/// walk history back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Live,
    Backfill,
}

struct KisiPoller {
    api: KisiApi,
    progress: Progress,
    overlap: chrono::Duration,
    /// Events the previous live intervals stored that the next one reads again (its
    /// overlap), by id, with their times. Not handed to the store a second time, so the
    /// duplicate count means real repeats, not the overlap.
    overlap_ids: HashMap<String, DateTime<Utc>>,
    /// When to list locks and controllers again (`None`: at the next poll).
    next_inventory: Option<Instant>,
    /// A set an error interrupted, resumed by the next poll.
    open: Option<OpenSet>,
    /// A backfill, or a live front far behind, is shown as a catch-up until a poll
    /// finds nothing more waiting.
    catch_up: CatchUpTracker,
    /// How far Kisi's clock ran ahead of ours when it made the last set (zero if not).
    kisi_ahead: chrono::Duration,
    /// The source could not watch Kisi's clock for a while (an error, a restart): the
    /// next live interval reaches back the skew tolerance.
    look_back: bool,
}

/// An event set being paged.
struct OpenSet {
    id: u64,
    purpose: Purpose,
    /// The interval the set reads (for catch-up progress).
    span: Span,
    /// The progress saved with the set's last page.
    done: Progress,
    /// The cursor of the page to read next; `None` for the first page.
    cursor: Option<String>,
    /// Ids (and times) a live set has committed so far: the next interval's overlap.
    read: Vec<(String, DateTime<Utc>)>,
    /// Every id the set's pages brought so far: one that comes again is Kisi repeating it.
    seen: HashSet<String>,
    opened: Instant,
    /// Polls in a row that ended on a malformed page.
    malformed_polls: u32,
}

/// Why paging a set stopped. `Retry` keeps the set for the next poll (the server was
/// busy or down; the set is fine); `Malformed` too, a few polls in a row; `Dead` drops
/// it (failed, expired, in progress for too long) so that the next poll makes a new one.
enum SetError {
    Retry(FetchError),
    Malformed(FetchError),
    Dead(FetchError),
}

impl From<FetchError> for SetError {
    fn from(e: FetchError) -> SetError {
        SetError::Retry(e)
    }
}

impl KisiPoller {
    fn new(ctx: &SourceCtx) -> Result<KisiPoller, String> {
        let key = ctx
            .config
            .secret(SecretKind::Token)
            .map_err(|e| e.message)?;
        let api = KisiApi::new(
            ctx.http.clone(),
            ctx.config.base_url.as_deref(),
            &key,
            ctx.auth_hint(SecretKind::Token),
        )
        .map_err(|e| e.to_string())?
        .with_max_response(ctx.config.max_response());
        let backfill = chrono::Duration::from_std(ctx.config.backfill())
            .unwrap_or_else(|_| chrono::Duration::days(36_500));
        let progress = match ctx.cursor.as_deref() {
            None => Progress::new_source(Utc::now(), backfill),
            Some(bytes) => Progress::from_bytes(bytes).unwrap_or_else(|| {
                tracing::warn!(
                    source = ctx.name(),
                    "saved cursor unreadable; starting as a new source with its backfill"
                );
                Progress::new_source(Utc::now(), backfill)
            }),
        };
        let overlap = chrono::Duration::from_std(ctx.config.overlap(DEFAULT_OVERLAP))
            .unwrap_or_else(|_| chrono::Duration::minutes(2));
        Ok(KisiPoller {
            api,
            progress,
            overlap,
            overlap_ids: HashMap::new(),
            next_inventory: None,
            open: None,
            catch_up: CatchUpTracker::default(),
            kisi_ahead: chrono::Duration::zero(),
            look_back: ctx.cursor.is_some(),
        })
    }

    /// Read `span` through a new event set, to its end.
    async fn read_interval(
        &mut self,
        ctx: &SourceCtx,
        span: Span,
        purpose: Purpose,
    ) -> Result<(), FetchError> {
        let created = self.create_set(ctx, &span).await?;
        let arrived = Utc::now();
        if let Some(t) = created.created_at {
            ctx.status.clock_offset(t - arrived);
            self.kisi_ahead = (t - arrived).max(chrono::Duration::zero());
        }
        let end = match purpose {
            // Kisi's clock may lag ours, or have stepped back: what it stamps after
            // making the set can fall before our end, so the live front moves to its
            // clock, backwards too (the next interval then reads from there).
            Purpose::Live => created.created_at.unwrap_or(arrived).min(span.end),
            Purpose::Backfill => created
                .created_at
                .map_or(span.end, |t| t.min(span.end))
                .max(span.start),
        };
        let set = OpenSet {
            id: created.id,
            purpose,
            span: Span {
                start: span.start,
                end,
            },
            done: match purpose {
                Purpose::Live => self.progress.after_live(end),
                Purpose::Backfill => self.progress.after_backfill(span.start),
            },
            cursor: None,
            read: Vec::new(),
            seen: HashSet::new(),
            opened: Instant::now(),
            malformed_polls: 0,
        };
        self.finish(ctx, set, Some(created)).await
    }

    /// Page `set` to its end and take its progress. On a transient error the set is
    /// kept for the next poll, unless it is dead or has failed too many polls.
    async fn finish(
        &mut self,
        ctx: &SourceCtx,
        mut set: OpenSet,
        first: Option<SetReply>,
    ) -> Result<(), FetchError> {
        match self.page_through(ctx, &mut set, first).await {
            Ok(()) => {
                self.catch_up.page(ctx, set.span.start, set.span.end, 0);
                self.progress = set.done;
                if set.purpose == Purpose::Live {
                    self.remember_overlap(set.read);
                }
                Ok(())
            }
            Err(SetError::Retry(e)) if set.opened.elapsed() < SET_MAX_AGE => {
                self.open = Some(set);
                Err(e)
            }
            Err(SetError::Malformed(e)) if set.malformed_polls + 1 < MALFORMED_POLLS => {
                set.malformed_polls += 1;
                self.open = Some(set);
                Err(e)
            }
            Err(SetError::Retry(e) | SetError::Malformed(e) | SetError::Dead(e)) => {
                tracing::warn!(
                    source = ctx.name(),
                    set_id = set.id,
                    "dropping the event set ({e}); its interval will be read through a new one"
                );
                Err(e)
            }
        }
    }

    async fn page_through(
        &self,
        ctx: &SourceCtx,
        set: &mut OpenSet,
        mut reply: Option<SetReply>,
    ) -> Result<(), SetError> {
        let mut wait = SET_WAIT_FIRST;
        loop {
            let page = match reply.take() {
                Some(r) => r,
                None => self.read_page(ctx, set.id, set.cursor.as_deref()).await?,
            };
            match &page.status {
                SetStatus::Finished => {}
                SetStatus::InProgress if set.cursor.is_none() => {
                    if set.opened.elapsed() >= SET_WAIT_LIMIT {
                        return Err(SetError::Dead(FetchError::Transient(format!(
                            "Kisi event set {} still in progress after {} s",
                            set.id,
                            SET_WAIT_LIMIT.as_secs()
                        ))));
                    }
                    if !ctx.sleep(wait).await {
                        return Err(SetError::Retry(FetchError::Transient("stopping".into())));
                    }
                    wait = (wait * 2).min(SET_WAIT_MAX);
                    continue;
                }
                SetStatus::Failed => {
                    return Err(SetError::Dead(FetchError::Transient(format!(
                        "Kisi event set {} failed; a new one will be made",
                        set.id
                    ))));
                }
                other => {
                    return Err(SetError::Dead(FetchError::Transient(format!(
                        "Kisi event set {} is {other:?} while being paged",
                        set.id
                    ))));
                }
            }
            // A cursor that repeats would serve the same page forever (a third-party
            // client guards the same way); an empty page is the end too (§5.3).
            let next = page
                .cursor
                .filter(|c| !page.events.is_empty() && set.cursor.as_ref() != Some(c));
            let cursor = next.is_none().then(|| set.done.to_bytes());
            self.commit_page(ctx, page.events, cursor, set).await?;
            set.malformed_polls = 0;
            match next {
                Some(c) => set.cursor = Some(c),
                None => return Ok(()),
            }
        }
    }

    async fn create_set(&self, ctx: &SourceCtx, span: &Span) -> Result<SetReply, FetchError> {
        let text = self.api.create_set(&span.interval()).await?;
        match SetReply::parse(&text) {
            Ok(reply) => Ok(reply),
            Err(why) => {
                quarantine(ctx, &text, &why).await?;
                Err(FetchError::Transient(format!(
                    "Kisi answered an event set request unreadably ({why}); kept in quarantine"
                )))
            }
        }
    }

    /// One event-set read; malformed copies are quarantined and the same page is asked
    /// for again (see the module docs).
    async fn read_page(
        &self,
        ctx: &SourceCtx,
        set_id: u64,
        cursor: Option<&str>,
    ) -> Result<SetReply, SetError> {
        for attempt in 1..=PAGE_ATTEMPTS {
            let text = match self.api.read_set(set_id, cursor).await? {
                SetRead::Body(text) => text,
                SetRead::Gone(why) => {
                    return Err(SetError::Dead(FetchError::Transient(format!(
                        "Kisi event set {set_id} cannot be read any more ({why})"
                    ))));
                }
            };
            match SetReply::parse(&text) {
                Ok(reply) => return Ok(reply),
                Err(why) => {
                    tracing::warn!(source = ctx.name(), set_id, attempt, "{why}");
                    quarantine(ctx, &text, &why).await?;
                }
            }
            if attempt < PAGE_ATTEMPTS && !ctx.sleep(SET_WAIT_FIRST * attempt).await {
                break;
            }
        }
        Err(SetError::Malformed(FetchError::Transient(
            "Kisi keeps sending a malformed event page (quarantined); it will be asked for again"
                .into(),
        )))
    }

    /// Parse a page and commit it, with `cursor` when it is the interval's last.
    async fn commit_page(
        &self,
        ctx: &SourceCtx,
        items: Vec<Value>,
        cursor: Option<Vec<u8>>,
        set: &mut OpenSet,
    ) -> Result<(), FetchError> {
        let (mut events, quarantine) =
            runtime::parse_items(ctx.name(), Vendor::Kisi, items, Utc::now());
        let brought = events.len();
        events.retain(|e| set.seen.insert(e.id.clone()));
        ctx.status.repeated(brought - events.len());
        if set.purpose == Purpose::Live {
            events.retain(|e| !self.overlap_ids.contains_key(&e.id));
            set.read
                .extend(events.iter().map(|e| (e.id.clone(), e.occurred_at)));
        }
        if events.is_empty() && quarantine.is_empty() && cursor.is_none() {
            return Ok(());
        }
        let count = events.len();
        ctx.commit(AppendBatch {
            events,
            quarantine,
            cursor: cursor.and_then(|c| ctx.cursor_entry(c)),
        })
        .await?;
        // The set's interval counts as covered once it is read to its end; until then
        // a page adds only its events (at the interval's newer end, already covered
        // or about to be).
        self.catch_up.page(ctx, set.span.end, set.span.end, count);
        Ok(())
    }

    /// Keep the ids the next live intervals will read again: the overlap's, and those
    /// a step back of Kisi's clock (up to the skew tolerance) would bring again.
    fn remember_overlap(&mut self, read: Vec<(String, DateTime<Utc>)>) {
        let from = self
            .progress
            .overlap_from(self.overlap + runtime::skew_tolerance());
        self.overlap_ids.extend(read);
        self.overlap_ids.retain(|_, at| *at >= from);
    }

    async fn refresh_inventory(&mut self, ctx: &SourceCtx) -> Result<(), FetchError> {
        let at = Utc::now();
        let locks = self.api.list_all("/locks").await?;
        let controllers = self.api.list_all("/controllers").await?;
        if locks.is_none() || controllers.is_none() {
            // A key with a limited role; events still flow, so say it and go on.
            tracing::warn!(
                source = ctx.name(),
                "the Kisi key may not list locks or controllers (HTTP 403); their status comes from events only"
            );
        }
        self.next_inventory = Some(Instant::now() + INVENTORY_EVERY);
        if locks.is_none() && controllers.is_none() {
            return Ok(());
        }
        let inv = inventory::inventory(
            at,
            &locks.unwrap_or_default(),
            &controllers.unwrap_or_default(),
        );
        ctx.sink.inventory(ctx.name(), Vendor::Kisi, inv);
        Ok(())
    }
}

impl Poller for KisiPoller {
    async fn poll(&mut self, ctx: &SourceCtx) -> Result<Polled, FetchError> {
        let polled = self.poll_once(ctx).await;
        if polled.is_err() {
            self.look_back = true;
        }
        polled
    }
}

impl KisiPoller {
    async fn poll_once(&mut self, ctx: &SourceCtx) -> Result<Polled, FetchError> {
        let mut more = false;
        self.begin_catch_up(ctx);
        if let Some(set) = self.open.take() {
            self.finish(ctx, set, None).await?;
        }
        // Up to Kisi's clock where it runs ahead of ours.
        let now = Utc::now() + self.kisi_ahead;
        if let Some((mut span, cut)) = self.progress.live_span(now, self.overlap) {
            // (Not on a 90-day window: Kisi takes no longer one.)
            if self.look_back && self.progress.overlap_applies && !cut {
                let back = self.overlap + runtime::skew_tolerance();
                span.start = span.start.min(self.progress.overlap_from(back));
            }
            self.read_interval(ctx, span, Purpose::Live).await?;
            self.look_back = false;
            more |= cut;
        }
        if self.next_inventory.is_none_or(|t| Instant::now() >= t) {
            self.refresh_inventory(ctx).await?;
        }
        if let Some(span) = self.progress.backfill_span() {
            self.read_interval(ctx, span, Purpose::Backfill).await?;
            more |= self.progress.backfill.is_some();
        }
        if !more {
            self.catch_up.end(ctx);
        }
        Ok(if more { Polled::More } else { Polled::CaughtUp })
    }

    /// Begin a catch-up when history is still to be read (a backfill) or the live
    /// front is far behind (an outage): from the oldest event time left to now.
    fn begin_catch_up(&mut self, ctx: &SourceCtx) {
        let now = Utc::now();
        let live_from = self
            .progress
            .live_span(now, self.overlap)
            .map(|(span, _)| span.start);
        let from = match (self.progress.backfill, live_from) {
            (Some(b), _) => b.floor,
            (None, Some(start)) if now - start >= catch_up_min() => start,
            _ => return,
        };
        self.catch_up.begin(ctx, from, now, None);
    }
}

/// Keep an unreadable page raw, counted, and go on.
async fn quarantine(ctx: &SourceCtx, raw: &str, why: &str) -> Result<(), FetchError> {
    let record = runtime::quarantine_raw(ctx.name(), Vendor::Kisi, raw, why);
    ctx.commit(AppendBatch {
        events: Vec::new(),
        quarantine: vec![record],
        cursor: None,
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kisi::{KisiSim, KisiSimOptions};
    use crate::sources::ParseContext;

    /// The status pane and the event stream must talk about the same doors.
    #[tokio::test]
    async fn inventory_ids_and_names_are_the_ones_events_carry() {
        let sim = KisiSim::start(KisiSimOptions {
            rate: 0.0,
            backfill: 300,
            ..KisiSimOptions::default()
        })
        .await
        .unwrap();
        let api = api::tests::test_api(&sim.base_url(), sim.api_key());
        let locks = api.list_all("/locks").await.unwrap().unwrap();
        let controllers = api.list_all("/controllers").await.unwrap().unwrap();
        let inv = inventory::inventory(Utc::now(), &locks, &controllers);
        assert_eq!(inv.doors.len(), locks.len());
        let names: HashMap<&str, Option<&str>> = inv
            .doors
            .iter()
            .map(|d| (d.id.as_str(), d.name.as_deref()))
            .collect();
        let ctx = ParseContext {
            source: "hq-kisi",
            received_at: Utc::now(),
        };
        for raw in sim.ledger() {
            let door = crate::sources::kisi::parse(&ctx, &raw)
                .unwrap()
                .door
                .unwrap();
            assert_eq!(
                names.get(door.id.as_str()),
                Some(&door.name.as_deref()),
                "{door:?}"
            );
        }
        let door = &inv.doors[0];
        assert!(door.site.as_ref().is_some_and(|s| s.name.is_some()));
        assert_eq!((door.locked, door.open), (Some(true), Some(false)));
        let ctl: Vec<_> = inv
            .controllers
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_deref(), c.online))
            .collect();
        assert_eq!(
            ctl,
            [
                ("301", Some("HQ Controller"), Some(true)),
                ("302", Some("Annex Controller"), Some(true))
            ]
        );
        sim.shutdown().await;
    }
}

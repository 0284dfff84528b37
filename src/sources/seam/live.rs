//! The live Seam source: polls `POST /events/list` and lists locks and connected
//! accounts for the doors pane (see `protocols/seam.md`).
//!
//! Seam pages on creation time (`since` / `between`, both exclusive), promises no
//! order, and does not say which end a page cut at `limit` keeps. So the catch-up
//! never trusts a full page: it reads windows of `created_at` small enough that a
//! page comes back under [`PAGE_LIMIT`], halving a window whose page is full and
//! doubling again after one that was not. The cursor ([`Cursor`]) advances to the
//! newest `created_at` of windows read completely and is committed in the same batch
//! as their events. Each poll starts [`OVERLAP`] before it, so an event that became
//! visible after a later one was listed is still read; the ids remembered in the
//! cursor keep that re-read from storing anything twice. A poll ends when its open
//! window (`since`) brings no new id.
//!
//! Seam's clock: every [`runtime::SKEW_SWEEP_EVERY`] a poll sweeps from
//! [`runtime::skew_tolerance`] before what Seam's clock read when the last complete
//! sweep began ([`runtime::SkewSweeps`]), so events stamped by a Seam clock that
//! stepped back (or ran ahead and was corrected, or lags ours) are found by the next
//! sweep, even when the cursor ran ahead meanwhile or an outage hid the step; the ids
//! committed that far back are remembered (in memory) so the sweep stores only what is
//! new. Where Seam's clock runs ahead of ours, windows are cut up to Seam's newest
//! stamp, not ours: a window that starts after our "now" can still be halved.
//!
//! Offline history (a lock uploading what it recorded while cut off) has an old
//! `occurred_at` and a new `created_at`: paging on creation time is what finds it.
//!
//! Choices the brief leaves open (UNCONFIRMED against the real API):
//! - A page is "full" when it holds `limit` or more events. A server that silently
//!   capped pages below the `limit` asked for and kept the newest would hide events;
//!   one that keeps the oldest only costs another request (the next page starts at
//!   the newest `created_at` read).
//! - A window that cannot be halved further (1 ms) and is still full is read with
//!   `unstable_offset` until a page brings nothing new.

mod api;
mod cursor;

pub use api::{DEFAULT_BASE_URL, EventsPage, SeamClient, Window, build_inventory, wire_time};
pub use cursor::Cursor;

use crate::config::SecretKind;
use crate::model::Vendor;
use crate::sources::fields;
use crate::sources::runtime::{
    self, CatchUpTracker, FetchError, Polled, Poller, SkewSweeps, SourceCtx, catch_up_min,
    parse_items,
};
use crate::store::AppendBatch;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Events asked for per page (Seam's documented default).
pub const PAGE_LIMIT: usize = 500;
/// How far before its cursor each poll starts reading again, unless the source's
/// `overlap` says otherwise.
pub const OVERLAP: Duration = Duration::from_secs(5);
/// How often locks and accounts are listed for the doors pane.
pub const INVENTORY_EVERY: Duration = Duration::from_secs(60);
/// The narrowest window; a full page there is read by offset instead.
const MIN_SPAN: chrono::Duration = chrono::Duration::milliseconds(1);
/// Requests per poll before handing back to the driver (it polls again at once).
const MAX_REQUESTS_PER_POLL: usize = 40;
const MAX_OFFSET_PAGES: usize = 20;

pub async fn run(ctx: SourceCtx) {
    let hint = ctx.auth_hint(SecretKind::Token);
    let client = match SeamClient::new(ctx.http.clone(), &ctx.config, hint) {
        Ok(c) => c,
        Err(e) => {
            ctx.status.failed(e.message);
            return;
        }
    };
    let poller = SeamPoller::new(
        client,
        ctx.name(),
        ctx.cursor.as_deref(),
        ctx.config.backfill(),
        ctx.config.overlap(OVERLAP),
    );
    runtime::drive(ctx, poller).await;
}

/// Where the next window starts and how long it is (`None`: open-ended).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scan {
    from: DateTime<Utc>,
    span: Option<chrono::Duration>,
}

impl Scan {
    fn window(&self, now: DateTime<Utc>) -> Window {
        match self.span {
            Some(span) if self.from + span < now => Window::Between(self.from, self.from + span),
            _ => Window::Since(self.from),
        }
    }
}

/// What reading one window gave.
enum Read {
    /// The page was full: read a window half as long.
    Halve(chrono::Duration),
    Complete(Vec<Value>),
}

struct SeamPoller {
    client: SeamClient,
    cursor: Cursor,
    /// Whether `cursor` came from the store (else it is the start of the backfill,
    /// read from exactly there).
    saved: bool,
    /// The next window while a catch-up spans several polls or retries.
    scan: Option<Scan>,
    /// How far before the cursor each poll reads again.
    overlap: chrono::Duration,
    next_inventory: Option<tokio::time::Instant>,
    /// A scan far behind that needs more than one page is shown as a catch-up.
    catch_up: CatchUpTracker,
    /// Ids committed within the skew tolerance behind the cursor, with their
    /// `created_at`: a sweep reads them again and must not store them twice.
    lookback_ids: HashMap<String, DateTime<Utc>>,
    sweeps: SkewSweeps,
}

impl SeamPoller {
    fn new(
        client: SeamClient,
        source: &str,
        saved: Option<&[u8]>,
        backfill: Duration,
        overlap: Duration,
    ) -> SeamPoller {
        let overlap =
            chrono::Duration::from_std(overlap).unwrap_or_else(|_| chrono::Duration::seconds(5));
        let restored = saved.and_then(Cursor::decode);
        if saved.is_some() && restored.is_none() {
            tracing::warn!(
                source,
                "unreadable saved cursor: reading the backfill again"
            );
        }
        let saved = restored.is_some();
        let cursor = restored.unwrap_or_else(|| {
            let back =
                chrono::Duration::from_std(backfill).unwrap_or_else(|_| chrono::Duration::days(1));
            Cursor::starting_at(Utc::now() - back)
        });
        SeamPoller {
            client,
            cursor,
            saved,
            scan: None,
            overlap,
            next_inventory: None,
            catch_up: CatchUpTracker::default(),
            lookback_ids: HashMap::new(),
            sweeps: SkewSweeps::default(),
        }
    }

    fn scan_from_cursor(&self) -> Scan {
        let from = if self.saved {
            self.cursor.watermark - self.overlap
        } else {
            self.cursor.watermark
        };
        Scan { from, span: None }
    }

    /// A poll's first scan: a sweep back over the skew tolerance when one is due.
    fn first_scan(&mut self) -> Scan {
        if self.saved && self.sweeps.begin_if_due() {
            let from = self.sweep_from().min(self.scan_from_cursor().from);
            return Scan { from, span: None };
        }
        self.scan_from_cursor()
    }

    /// Where a sweep starts: no event Seam made since the last complete sweep began is
    /// stamped earlier (visibility lag aside, which the overlap covers).
    fn sweep_from(&self) -> DateTime<Utc> {
        self.sweeps.from() - self.overlap
    }

    /// The later of our clock and Seam's newest stamp read: where windows may end.
    fn seam_now(&self) -> DateTime<Utc> {
        Utc::now().max(self.cursor.watermark)
    }

    /// List locks and accounts when due. Only a rejected key stops the source; any
    /// other failure waits for the next round (events matter more than names).
    async fn refresh_inventory(&mut self, ctx: &SourceCtx) -> Result<(), FetchError> {
        let now = tokio::time::Instant::now();
        if self.next_inventory.is_some_and(|due| now < due) {
            return Ok(());
        }
        self.next_inventory = Some(now + INVENTORY_EVERY);
        match self.client.inventory().await {
            Ok(inv) => {
                tracing::debug!(
                    source = ctx.name(),
                    doors = inv.doors.len(),
                    controllers = inv.controllers.len(),
                    "seam inventory"
                );
                ctx.sink.inventory(ctx.name(), Vendor::Seam, inv);
                Ok(())
            }
            Err(e @ FetchError::Unauthorized(_)) => Err(e),
            Err(e) => {
                tracing::warn!(source = ctx.name(), "listing locks failed: {e}");
                Ok(())
            }
        }
    }

    /// Read one window: its events if the page was not full, or the shorter span to
    /// try. Errors come back as they are; a malformed page is quarantined first.
    async fn read(
        &self,
        ctx: &SourceCtx,
        window: &Window,
        now: DateTime<Utc>,
        requests: &mut usize,
    ) -> Result<Read, FetchError> {
        *requests += 1;
        let items = self.page(ctx, window, 0).await?;
        if items.len() < PAGE_LIMIT {
            return Ok(Read::Complete(items));
        }
        let span = window.span(now);
        if span > MIN_SPAN {
            return Ok(Read::Halve(span / 2));
        }
        tracing::warn!(
            source = ctx.name(),
            "{} events created within {MIN_SPAN}: reading by offset",
            items.len()
        );
        let mut all = items;
        let mut ids: HashSet<String> = all.iter().map(item_id).collect();
        for _ in 0..MAX_OFFSET_PAGES {
            *requests += 1;
            let page = self.page(ctx, window, all.len()).await?;
            let full = page.len() >= PAGE_LIMIT;
            let before = ids.len();
            ids.extend(page.iter().map(item_id));
            let brought_new = ids.len() > before;
            all.extend(page);
            if !full || !brought_new {
                break;
            }
        }
        Ok(Read::Complete(all))
    }

    /// One page; a malformed one is quarantined raw and reported as transient, so
    /// the driver backs off and the same window is read again.
    async fn page(
        &self,
        ctx: &SourceCtx,
        window: &Window,
        offset: usize,
    ) -> Result<Vec<Value>, FetchError> {
        match self.client.events(window, PAGE_LIMIT, offset).await? {
            EventsPage::Items(items) => Ok(items),
            EventsPage::Malformed { raw, error } => {
                let record = runtime::quarantine_raw(ctx.name(), Vendor::Seam, &raw, &error);
                ctx.commit(AppendBatch {
                    quarantine: vec![record],
                    ..AppendBatch::default()
                })
                .await?;
                Err(FetchError::Transient(format!(
                    "malformed events page (quarantined; reading it again): {error}"
                )))
            }
        }
    }

    /// Commit the new events of a completely read window with the advanced cursor.
    /// Returns how many items were new, and the newest `created_at` among them.
    async fn commit_window(
        &mut self,
        ctx: &SourceCtx,
        items: Vec<Value>,
    ) -> Result<(usize, Option<DateTime<Utc>>), FetchError> {
        let mut next = self.cursor.clone();
        let mut newest: Option<DateTime<Utc>> = None;
        let mut newest_fresh: Option<DateTime<Utc>> = None;
        let mut fresh = Vec::new();
        let mut in_window = HashSet::new();
        let mut repeats = 0;
        for item in items {
            let created = created_at(&item);
            newest = newest.max(created);
            let id = item_id(&item);
            if !in_window.insert(id.clone()) {
                repeats += 1;
                continue;
            }
            if next.has_seen(&id) || self.lookback_ids.contains_key(&id) {
                continue;
            }
            let created = created.unwrap_or(next.watermark);
            newest_fresh = newest_fresh.max(Some(created));
            self.lookback_ids.insert(id.clone(), created);
            next.remember(id, created);
            fresh.push(item);
        }
        ctx.status.repeated(repeats);
        next.advance(newest, self.overlap);
        let keep_after = self
            .sweep_from()
            .min(next.watermark - self.overlap - chrono::Duration::milliseconds(1));
        self.lookback_ids.retain(|_, at| *at >= keep_after);
        if fresh.is_empty() && next == self.cursor {
            return Ok((0, None));
        }
        let count = fresh.len();
        let (events, quarantine) = parse_items(ctx.name(), Vendor::Seam, fresh, Utc::now());
        ctx.commit(AppendBatch {
            events,
            quarantine,
            cursor: ctx.cursor_entry(next.encode()),
        })
        .await?;
        self.cursor = next;
        self.saved = true;
        Ok((count, newest_fresh))
    }
}

impl Poller for SeamPoller {
    async fn poll(&mut self, ctx: &SourceCtx) -> Result<Polled, FetchError> {
        self.refresh_inventory(ctx).await?;
        let mut scan = match self.scan.take() {
            Some(scan) => scan,
            None => self.first_scan(),
        };
        let mut requests = 0;
        let mut newest_new: Option<DateTime<Utc>> = None;
        loop {
            if requests >= MAX_REQUESTS_PER_POLL {
                self.scan = Some(scan);
                return Ok(Polled::More);
            }
            let now = self.seam_now();
            let window = scan.window(now);
            let items = match self.read(ctx, &window, now, &mut requests).await {
                Ok(Read::Halve(span)) => {
                    if now - scan.from >= catch_up_min() {
                        self.catch_up.begin(ctx, scan.from, now, None);
                    }
                    scan.span = Some(span);
                    continue;
                }
                Ok(Read::Complete(items)) => items,
                Err(e) => {
                    // Retry the same window after the driver's wait.
                    self.scan = Some(scan);
                    return Err(e);
                }
            };
            let (new, newest) = self.commit_window(ctx, items).await?;
            newest_new = newest_new.max(newest);
            match window {
                Window::Between(from, to) => self.catch_up.page(ctx, from, to, new),
                Window::Since(from) => self.catch_up.page(ctx, from, now, new),
            }
            match window {
                Window::Between(from, to) => {
                    // Exclusive ends: start the next window just before this one ended.
                    scan = Scan {
                        from: to - MIN_SPAN,
                        span: (to - from).checked_mul(2).or(Some(to - from)),
                    };
                }
                Window::Since(_) if new == 0 => {
                    self.sweeps.reached_present(&ctx.status, newest_new);
                    self.catch_up.end(ctx);
                    return Ok(Polled::CaughtUp);
                }
                Window::Since(_) => scan = self.scan_from_cursor(),
            }
        }
    }
}

/// The id an item is deduplicated by: `event_id`, else a hash of its content.
fn item_id(item: &Value) -> String {
    fields::text(item, &["event_id"]).unwrap_or_else(|| fields::content_id(item))
}

/// `created_at` at full precision (Seam sends microseconds).
fn created_at(item: &Value) -> Option<DateTime<Utc>> {
    let text = item.get("created_at")?.as_str()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_close_only_in_the_past() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let from = now - chrono::Duration::hours(1);
        let open = Scan { from, span: None };
        assert_eq!(open.window(now), Window::Since(from));
        let half = Scan {
            from,
            span: Some(chrono::Duration::minutes(30)),
        };
        assert_eq!(
            half.window(now),
            Window::Between(from, from + chrono::Duration::minutes(30))
        );
        let past_now = Scan {
            from,
            span: Some(chrono::Duration::hours(2)),
        };
        assert_eq!(past_now.window(now), Window::Since(from));
        assert_eq!(Window::Since(now).span(from), chrono::Duration::zero());
    }

    #[test]
    fn ids_and_creation_times() {
        let e = serde_json::json!({"event_id": "e1", "created_at": "2026-11-22T10:00:00.123456Z"});
        assert_eq!(item_id(&e), "e1");
        assert_eq!(created_at(&e).unwrap().timestamp_subsec_micros(), 123_456);
        let anon = serde_json::json!({"event_type": "lock.locked"});
        assert_eq!(item_id(&anon), item_id(&anon.clone()));
        assert!(item_id(&anon).starts_with('h'));
        assert_eq!(created_at(&anon), None);
    }
}

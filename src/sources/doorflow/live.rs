//! The live DoorFlow source: polls `GET /api/3/events` and `GET /api/3/channels`
//! with an OAuth bearer token (`shared/protocols/doorflow.md` §1–5).
//!
//! Events are read in windows: `since` = the newest committed `created_at` minus an
//! overlap, `sort=ASC`, paged with `page=1,2,...` until the server runs out. Each page
//! is one [`AppendBatch`] carrying the cursor it reaches, so a crash repeats at most a
//! page and the overlap; the store drops what it already holds (dedupe by id). A page
//! that is not JSON is quarantined raw and fetched again after a backoff.
//!
//! The cursor is the newest `created_at` committed (JSON `{"created_at": ...}`).
//!
//! DoorFlow's clock: every [`runtime::SKEW_SWEEP_EVERY`] a window sweeps from
//! [`runtime::skew_tolerance`] before what DoorFlow's clock read when the last complete
//! sweep began ([`runtime::SkewSweeps`]), so events stamped by a DoorFlow clock that
//! stepped back (or ran ahead and was corrected, or lags ours) are found by the next
//! sweep, even when the cursor ran ahead meanwhile or an outage hid the step; what was
//! committed that far back is remembered, so the sweep stores only what is new.

mod channels;
mod oauth;

use crate::model::{Event, Vendor};
use crate::sources::fields;
use crate::sources::runtime::{
    self, CatchUpTracker, FetchError, Polled, Poller, SkewSweeps, SourceCtx, catch_up_min, drive,
    parse_items, quarantine_raw,
};
use crate::store::{AppendBatch, QuarantineRecord};
use chrono::{DateTime, SecondsFormat, Utc};
use oauth::Session;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const API_BASE: &str = "https://api.doorflow.com";
/// How far back of the cursor each window starts: events that reach the API late
/// (a controller that was offline) with a slightly older `created_at` still land.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(60);
/// DoorFlow's maximum `n`.
const MAX_PAGE: usize = 1000;
const CHANNELS_EVERY: Duration = Duration::from_secs(60);
/// After a failed channel listing; events go on meanwhile.
const CHANNELS_RETRY: Duration = Duration::from_secs(15);
/// Without the channel scope there is nothing to list; look again now and then.
const CHANNELS_FORBIDDEN_RETRY: Duration = Duration::from_secs(3600);
const MAX_CHANNEL_PAGES: u32 = 100;

/// Every code `event_codes` accepts (§3.1): without them the API returns only admits
/// and rejects, and door alarms, tamper, channel status and sync would never arrive.
/// Remote-control codes 50–63 are not accepted by the filter.
fn event_codes() -> Vec<i64> {
    [
        1..=3,
        10..=18,
        20..=29,
        30..=37,
        40..=42,
        70..=73,
        90..=91,
        100..=107,
        220..=220,
        223..=225,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Start the source; returns when it is cancelled or has failed.
pub async fn run(ctx: SourceCtx) {
    let base = ctx
        .config
        .base_url
        .clone()
        .unwrap_or_else(|| API_BASE.to_string())
        .trim_end_matches('/')
        .to_string();
    let auth_base = ctx.config.auth_url.clone().unwrap_or_else(|| base.clone());
    let session = match Session::start(&ctx, &auth_base) {
        Ok(s) => s,
        Err(why) => {
            tracing::error!(source = ctx.name(), "not started: {why}");
            ctx.status.failed(why);
            return;
        }
    };
    let poller = DoorflowPoller::new(&ctx, &base, session);
    drive(ctx, poller).await;
}

fn encode_cursor(t: DateTime<Utc>) -> Vec<u8> {
    serde_json::json!({ "created_at": t.to_rfc3339_opts(SecondsFormat::Millis, true) })
        .to_string()
        .into_bytes()
}

fn decode_cursor(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    fields::time(&v, &["created_at"])
}

/// One pass over the events from `since` on.
struct Window {
    since: DateTime<Utc>,
    walk: PageWalk,
    /// The newest `created_at` among the events new to this window.
    newest_new: Option<DateTime<Utc>>,
}

/// Paging through one listing with `page=1,2,...` (§3.2). Offsets are fragile: an
/// item that enters or leaves the listing before the current offset between two
/// requests shifts the rest, so one item can slip past a page boundary unseen. The
/// server's total says so (fewer distinct items seen than counted), and one more pass
/// from the first page picks it up.
#[derive(Debug)]
struct PageWalk {
    page: usize,
    /// The last id of the previous page: a server that ignores `page` repeats it.
    last_id: Option<String>,
    seen: HashSet<String>,
    rescanned: bool,
}

impl PageWalk {
    fn new() -> PageWalk {
        PageWalk {
            page: 1,
            last_id: None,
            seen: HashSet::new(),
            rescanned: false,
        }
    }

    /// Record the page just read (its items' ids, in order) and say whether another
    /// request is due; `self.page` is then the page to ask for. The signals may
    /// disagree or be missing, so any of them ends the pass: an empty or short page, a
    /// total reached, or a page that repeats the previous one.
    fn advance(&mut self, paging: Paging, requested: usize, ids: Vec<String>) -> bool {
        let per_page = paging.per_page.map_or(requested, |p| p.min(requested));
        let len = ids.len();
        let last = ids.last().cloned();
        let repeated = last.is_some() && last == self.last_id;
        self.seen.extend(ids);
        let full = len > 0 && len >= per_page && !repeated;
        let short_of_total = paging.total.is_some_and(|t| self.seen.len() < t);
        if full && (paging.total.is_none() || short_of_total) {
            self.page += 1;
            self.last_id = last;
            return true;
        }
        if short_of_total && self.page > 1 && !self.rescanned {
            self.rescanned = true;
            self.page = 1;
            self.last_id = None;
            return true;
        }
        false
    }
}

/// What identifies an item of a listing: its `id`, else its content.
fn item_id(v: &Value) -> String {
    fields::text(v, &["id"]).unwrap_or_else(|| fields::content_id(v))
}

/// The paging headers, in both spellings the docs use (§3.2).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Paging {
    total: Option<usize>,
    per_page: Option<usize>,
}

impl Paging {
    fn read(h: &reqwest::header::HeaderMap) -> Paging {
        let num = |names: &[&str]| {
            names
                .iter()
                .filter_map(|n| h.get(*n)?.to_str().ok()?.trim().parse::<usize>().ok())
                .max()
        };
        Paging {
            total: num(&["total", "x-total-results"]),
            per_page: num(&["per-page", "x-per-page"]).filter(|p| *p > 0),
        }
    }
}

struct DoorflowPoller {
    session: Session,
    events_url: String,
    channels_url: String,
    page_size: usize,
    codes: Vec<i64>,
    /// The newest `created_at` committed (or where the backfill starts).
    resume_from: DateTime<Utc>,
    window: Option<Window>,
    /// What was committed within the overlap (event ids, and keys of quarantined
    /// items), so a window's re-read of it is not committed again.
    recent: HashMap<String, DateTime<Utc>>,
    channels_due: Instant,
    channels_summary: String,
    /// A window far behind that takes more than a page is shown as a catch-up.
    catch_up: CatchUpTracker,
    sweeps: SkewSweeps,
}

impl DoorflowPoller {
    fn new(ctx: &SourceCtx, base: &str, session: Session) -> DoorflowPoller {
        let saved = ctx.cursor.as_deref().and_then(decode_cursor);
        if ctx.cursor.is_some() && saved.is_none() {
            tracing::warn!(
                source = ctx.name(),
                "unreadable cursor; starting over from the backfill"
            );
        }
        let backfill =
            chrono::Duration::from_std(ctx.config.backfill()).unwrap_or(chrono::Duration::zero());
        DoorflowPoller {
            session,
            events_url: format!("{base}/api/3/events"),
            channels_url: format!("{base}/api/3/channels"),
            page_size: ctx.config.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE),
            codes: event_codes(),
            resume_from: saved.unwrap_or_else(|| Utc::now() - backfill),
            window: None,
            recent: HashMap::new(),
            channels_due: Instant::now(),
            channels_summary: String::new(),
            catch_up: CatchUpTracker::default(),
            sweeps: SkewSweeps::default(),
        }
    }

    fn events_query(&self, since: DateTime<Utc>, page: usize) -> Vec<(&'static str, String)> {
        let codes: Vec<String> = self.codes.iter().map(i64::to_string).collect();
        vec![
            ("since", since.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ("sort", "ASC".to_string()),
            ("n", self.page_size.to_string()),
            ("page", page.to_string()),
            ("event_codes", codes.join(",")),
            // Some docs say channel status (1–3) needs it besides the codes.
            ("level", "debug".to_string()),
        ]
    }

    /// Fetch and commit the next page of the current window (opening one if needed).
    async fn poll_events(&mut self, ctx: &SourceCtx) -> Result<Polled, FetchError> {
        let mut since = self.resume_from - OVERLAP;
        if self.window.is_none() && self.sweeps.begin_if_due() {
            since = since.min(self.sweeps.from());
        }
        let window = self.window.get_or_insert_with(|| Window {
            since,
            walk: PageWalk::new(),
            newest_new: None,
        });
        let (since, page) = (window.since, window.walk.page);
        let query = self.events_query(since, page);
        let resp = self.session.get(ctx, &self.events_url, &query).await?;
        match resp.status().as_u16() {
            400 => return self.bad_request(ctx, resp).await,
            403 => {
                return Err(FetchError::Unauthorized(format!(
                    "token lacks the event scope account.event.access.readonly (HTTP 403) — authorise doorwatch with it and {}",
                    self.session.hint()
                )));
            }
            _ => {}
        }
        let paging = Paging::read(resp.headers());
        let body = runtime::text_limited(resp, ctx.config.max_response()).await?;
        let items = match page_items(&body) {
            Ok(items) => items,
            Err(why) => {
                let record = quarantine_raw(ctx.name(), Vendor::Doorflow, &body, why);
                ctx.commit(AppendBatch {
                    quarantine: vec![record],
                    ..AppendBatch::default()
                })
                .await?;
                return Err(FetchError::transient(
                    "malformed events page (quarantined); fetching it again",
                ));
            }
        };
        let ids: Vec<String> = items.iter().map(item_id).collect();
        let count = ids.len();
        // An id this window already read is DoorFlow repeating it (a rescan after a
        // shifted offset reads everything again on purpose).
        let repeats = self.window.as_ref().map_or(0, |w| {
            if w.walk.rescanned {
                0
            } else {
                ids.iter().filter(|id| w.walk.seen.contains(*id)).count()
            }
        });
        ctx.status.repeated(repeats);
        let newest_new = self.commit_page(ctx, items).await?;
        if let Some(w) = self.window.as_mut() {
            w.newest_new = w.newest_new.max(newest_new);
        }
        let more = self
            .window
            .as_mut()
            .is_some_and(|w| w.walk.advance(paging, self.page_size, ids));
        let now = Utc::now();
        if more && now - since >= catch_up_min() {
            let total = paging.total.map(|t| t as u64);
            self.catch_up.begin(ctx, since, now, total);
        }
        // Sorted oldest first: the window is read up to the newest committed.
        self.catch_up.page(ctx, since, self.resume_from, count);
        if more {
            Ok(Polled::More)
        } else {
            self.catch_up.end(ctx);
            let newest_new = self.window.take().and_then(|w| w.newest_new);
            self.sweeps.reached_present(&ctx.status, newest_new);
            let horizon =
                (self.resume_from - OVERLAP).min(self.sweeps.from()) - chrono::Duration::seconds(1);
            self.recent.retain(|_, t| *t >= horizon);
            Ok(Polled::CaughtUp)
        }
    }

    /// Commit one page: its new events, its unparseable items, and the cursor.
    /// Returns the newest time among the new events.
    async fn commit_page(
        &mut self,
        ctx: &SourceCtx,
        items: Vec<Value>,
    ) -> Result<Option<DateTime<Utc>>, FetchError> {
        let (events, rejected) = parse_items(ctx.name(), Vendor::Doorflow, items, Utc::now());
        let newest = events.iter().map(|e| e.occurred_at).max();
        let resume = newest.map_or(self.resume_from, |n| n.max(self.resume_from));
        let events: Vec<Event> = events
            .into_iter()
            .filter(|e| !self.recent.contains_key(&e.id))
            .collect();
        let rejected: Vec<QuarantineRecord> = rejected
            .into_iter()
            .filter(|r| !self.recent.contains_key(&reject_key(r)))
            .collect();
        if events.is_empty() && rejected.is_empty() && resume == self.resume_from {
            return Ok(None);
        }
        let newest_new = events.iter().map(|e| e.occurred_at).max();
        let mut seen: Vec<(String, DateTime<Utc>)> = events
            .iter()
            .map(|e| (e.id.clone(), e.occurred_at))
            .collect();
        seen.extend(rejected.iter().map(|r| (reject_key(r), resume)));
        ctx.commit(AppendBatch {
            events,
            quarantine: rejected,
            cursor: ctx.cursor_entry(encode_cursor(resume)),
        })
        .await?;
        self.recent.extend(seen);
        self.resume_from = resume;
        Ok(newest_new)
    }

    /// A 400 on the events list: most likely a code this server does not accept in
    /// `event_codes` (the accepted set is documented loosely). Drop the codes it names
    /// and go on; anything else is retried with backoff.
    async fn bad_request(
        &mut self,
        ctx: &SourceCtx,
        resp: reqwest::Response,
    ) -> Result<Polled, FetchError> {
        let body = runtime::json_limited(resp, runtime::MAX_AUTH_RESPONSE)
            .await
            .unwrap_or(Value::Null);
        let description = body["error_description"]
            .as_str()
            .or_else(|| body["description"].as_str())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        let refused = refused_codes(&description);
        let before = self.codes.len();
        self.codes.retain(|c| !refused.contains(c));
        if self.codes.len() < before && !self.codes.is_empty() {
            tracing::warn!(
                source = ctx.name(),
                ?refused,
                "the server refuses some event codes; asking without them"
            );
            return Ok(Polled::More);
        }
        Err(FetchError::Transient(format!(
            "events request refused (HTTP 400): {description}"
        )))
    }

    /// Refresh the door and controller listing when due. Only a rejected token or a
    /// rate limit stops the events over it.
    async fn poll_channels(&mut self, ctx: &SourceCtx) -> Result<(), FetchError> {
        let now = Instant::now();
        if now < self.channels_due {
            return Ok(());
        }
        match self.fetch_channels(ctx).await {
            Ok(list) => {
                self.channels_due = now + CHANNELS_EVERY;
                self.report_channels(ctx, &list);
                Ok(())
            }
            Err(FetchError::Transient(why)) => {
                tracing::warn!(source = ctx.name(), "channel listing failed: {why}");
                self.channels_due = now + CHANNELS_RETRY;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_channels(&mut self, ctx: &SourceCtx) -> Result<Vec<Value>, FetchError> {
        let mut all = Vec::new();
        let mut walk = PageWalk::new();
        for _ in 0..MAX_CHANNEL_PAGES {
            let query = [
                ("per_page", MAX_PAGE.to_string()),
                ("page", walk.page.to_string()),
            ];
            let resp = self.session.get(ctx, &self.channels_url, &query).await?;
            match resp.status().as_u16() {
                403 => {
                    tracing::warn!(
                        source = ctx.name(),
                        "no channel listing: the token lacks account.channel.readonly"
                    );
                    self.channels_due = Instant::now() + CHANNELS_FORBIDDEN_RETRY;
                    return Err(FetchError::transient(
                        "channel listing forbidden (HTTP 403)",
                    ));
                }
                400 => return Err(FetchError::transient("channel listing refused (HTTP 400)")),
                _ => {}
            }
            let paging = Paging::read(resp.headers());
            let body = runtime::text_limited(resp, ctx.config.max_response()).await?;
            let items = page_items(&body).map_err(FetchError::Transient)?;
            let ids = items.iter().map(item_id).collect();
            if walk.page == 1 {
                // A second pass replaces what the first one read.
                all.clear();
            }
            all.extend(items);
            if !walk.advance(paging, MAX_PAGE, ids) {
                break;
            }
        }
        // Several passes may list a channel twice; the last reading wins downstream.
        Ok(all)
    }

    fn report_channels(&mut self, ctx: &SourceCtx, list: &[Value]) {
        let inventory = channels::inventory(list, Utc::now());
        let offline = inventory
            .controllers
            .iter()
            .filter(|c| c.online == Some(false))
            .count();
        let failing = list
            .iter()
            .filter(|c| channels::sync_status(c).as_deref() == Some("fail"))
            .count();
        let summary = format!(
            "{} channel(s), {offline} offline, {failing} failing sync",
            inventory.controllers.len()
        );
        if summary != self.channels_summary {
            tracing::info!(source = ctx.name(), "{summary}");
            self.channels_summary = summary;
        }
        ctx.sink.inventory(ctx.name(), Vendor::Doorflow, inventory);
    }
}

impl Poller for DoorflowPoller {
    async fn poll(&mut self, ctx: &SourceCtx) -> Result<Polled, FetchError> {
        self.poll_channels(ctx).await?;
        self.poll_events(ctx).await
    }
}

/// A list page's items: DoorFlow answers a bare JSON array.
fn page_items(body: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Err(format!(
            "doorflow: expected a JSON array page, got {}",
            fields::json_type(&other)
        )),
        Err(e) => Err(format!("doorflow: page is not JSON: {e}")),
    }
}

/// What identifies a quarantined item when a later window reads it again.
fn reject_key(r: &QuarantineRecord) -> String {
    format!("raw:{:016x}", fields::fnv1a64(r.raw.as_bytes()))
}

/// The codes named by "The following event codes are not valid for this method: 999, 998".
fn refused_codes(description: &str) -> Vec<i64> {
    if !description.contains("event codes") {
        return Vec::new();
    }
    description
        .rsplit_once(':')
        .map(|(_, list)| {
            list.split(|c: char| c == ',' || c.is_whitespace())
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_exactly_what_the_filter_accepts() {
        let ours: Vec<String> = event_codes().iter().map(i64::to_string).collect();
        assert_eq!(
            ours.join(","),
            crate::sim::doorflow::all_event_codes_param()
        );
    }

    #[test]
    fn every_requested_code_is_mapped_by_the_parser() {
        use crate::model::EventKind;
        use crate::sources::{ParseContext, doorflow::parse};
        let ctx = ParseContext {
            source: "df",
            received_at: Utc::now(),
        };
        // Codes DoorFlow documents only as a range are kept as `other`, never dropped.
        let undocumented = |c: i64| matches!(c, 34..=37 | 42 | 102..=104);
        for code in event_codes() {
            let item = serde_json::json!({"id": code, "event_code": code,
                "created_at": "2026-03-02T09:14:05+10:00"});
            let e = parse(&ctx, &item).unwrap();
            assert_eq!(
                e.kind == EventKind::Other,
                undocumented(code),
                "code {code}"
            );
        }
    }

    #[test]
    fn cursor_round_trips_and_tolerates_garbage() {
        let t = DateTime::parse_from_rfc3339("2026-03-02T09:14:05.250+10:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(decode_cursor(&encode_cursor(t)), Some(t));
        assert_eq!(decode_cursor(b"nonsense"), None);
    }

    fn ids(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    #[test]
    fn paging_ends_on_any_signal() {
        let none = Paging::default();
        let mut w = PageWalk::new();
        assert!(w.advance(none, 50, ids(0..50)));
        assert_eq!(w.page, 2);
        assert!(!w.advance(none, 50, ids(50..99)), "short page");
        let mut w = PageWalk::new();
        assert!(!w.advance(none, 50, vec![]), "empty page");
        let mut w = PageWalk::new();
        assert!(w.advance(none, 50, ids(0..50)));
        assert!(!w.advance(none, 50, ids(0..50)), "page ignored");
        let capped = Paging {
            total: None,
            per_page: Some(20),
        };
        assert!(
            PageWalk::new().advance(capped, 50, ids(0..20)),
            "server caps n"
        );
        let total = Paging {
            total: Some(100),
            per_page: Some(50),
        };
        let mut w = PageWalk::new();
        assert!(w.advance(total, 50, ids(0..50)));
        assert!(!w.advance(total, 50, ids(50..100)), "total reached");
    }

    #[test]
    fn an_item_that_slipped_between_pages_is_fetched_again() {
        let total = Paging {
            total: Some(100),
            per_page: Some(50),
        };
        // Page 2 repeats item 49 (offset shifted): page 3 brings the last one.
        let mut w = PageWalk::new();
        assert!(w.advance(total, 50, ids(0..50)));
        assert!(w.advance(total, 50, ids(49..99)));
        assert_eq!(w.page, 3);
        assert!(!w.advance(total, 50, ids(99..100)));
        // Page 2 skips item 50 (offset shifted the other way): one more pass.
        let mut w = PageWalk::new();
        assert!(w.advance(total, 50, ids(0..50)));
        assert!(w.advance(total, 50, ids(51..100)));
        assert_eq!(w.page, 1, "a second pass");
        assert!(w.advance(total, 50, ids(0..50)));
        assert!(!w.advance(total, 50, ids(50..100)));
        // A total the listing never reaches costs one extra pass, not a loop.
        let mut w = PageWalk::new();
        let over = Paging {
            total: Some(1000),
            per_page: None,
        };
        assert!(w.advance(over, 50, ids(0..50)));
        assert!(w.advance(over, 50, ids(50..60)));
        assert!(w.advance(over, 50, ids(0..50)));
        assert!(!w.advance(over, 50, ids(50..60)));
    }

    #[test]
    fn paging_headers_in_both_spellings() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("X-Total-Results", "120".parse().unwrap());
        h.insert("X-Per-Page", "50".parse().unwrap());
        assert_eq!(
            Paging::read(&h),
            Paging {
                total: Some(120),
                per_page: Some(50)
            }
        );
        h.insert("Total", "130".parse().unwrap());
        assert_eq!(Paging::read(&h).total, Some(130));
    }

    #[test]
    fn malformed_pages_are_named() {
        assert!(page_items("[{\"id\":1}").unwrap_err().contains("not JSON"));
        assert!(page_items("{\"a\":1}").unwrap_err().contains("an object"));
        assert_eq!(page_items("[]").unwrap().len(), 0);
    }

    #[test]
    fn refused_codes_are_read_from_the_message() {
        assert_eq!(
            refused_codes("The following event codes are not valid for this method: 220, 999"),
            vec![220, 999]
        );
        assert!(refused_codes("`sort` must be ASC or DESC, got \"X\"").is_empty());
    }
}

//! A Seam-like REST server on loopback (see `protocols/seam.md`).
//!
//! Every route is a `POST` with a JSON body behind `Authorization: Bearer <key>`;
//! errors are `{"error": {"type", "message"}, "ok": false}` with a matching status:
//!
//! - `/events/list`: `since` (created strictly after) or `between` (exclusive on both
//!   ends; both or neither → 400 `invalid_input`), `limit` (default 500, clamped to
//!   `max_limit`), `unstable_offset`, and the `device_id(s)`, `event_type(s)`,
//!   `connected_account_id`, `event_ids` filters. → `{"events": [...]}` (no `"ok"`: the
//!   real API's documented samples have none).
//! - `/locks/list`, `/devices/list` → `locks` / `devices` with Seam's device fields;
//!   `/connected_accounts/list` → `connected_accounts`.
//! - `/locks/unlock_door`, `/locks/lock_door` (`{"device_id"}`; unknown → 404
//!   `device_not_found`) → an `action_attempt`, and `lock.unlocked`/`lock.locked`
//!   (method `remote`) plus `action_attempt.*.succeeded` events.
//!
//! Choices where the brief says the real API is undocumented:
//! - Pages are newest first, so a page cut at `limit` keeps the newest events (the
//!   harder case for a client); `oldest_first` flips both.
//! - `unstable_offset` skips that many events of the sorted, filtered list.
//! - An event becomes listable up to `visibility_lag` after its `created_at` (an
//!   eventually consistent store), which is what a client's overlap has to absorb.
//!
//! A generator adds events to a ledger (every event ever generated, for no-loss tests)
//! from the Seam doors of the shared building (`door_vendor`): access by access code or
//! phone tap (`access.granted`), manual and remote lock changes, the odd
//! `lock.access_denied`, battery and connectivity changes, and locks that drop offline
//! and come back uploading offline history (`occurred_at` hours old, `created_at` now).
//! `device.tampered` (an alarm in doorwatch) comes `first_alarm_after` start and then
//! every `alarm_every`. Content is deterministic for a seed; timing follows the clock.

use crate::model::Vendor;
use crate::sim::history::{DOORS, Rng, door_vendor};
use crate::sim::serve::{Served, Skew};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator's wall clock (stamps `created_at`; defaults to `Utc::now`).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

const WORKSPACE_ID: &str = "5ea70000-0000-4000-8000-00000000d00a";
/// Seam's documented default page size.
pub const DEFAULT_LIMIT: usize = 500;

/// How the simulator behaves. `Default` is the demo: real time, one step per 2 s.
#[derive(Clone)]
pub struct SeamSimOptions {
    /// 0 = any free port.
    pub port: u16,
    /// The key accepted as `Authorization: Bearer <api_key>`.
    pub api_key: String,
    pub seed: u64,
    /// Generator steps per second (each makes 1–5 events). 0 = no live generation.
    pub rate: f64,
    /// When the first `device.tampered` comes (≤ 10 s for the demo).
    pub first_alarm_after: Duration,
    pub alarm_every: Duration,
    /// Steps generated into the past at start, spread over `backfill_span`.
    pub backfill: usize,
    pub backfill_span: Duration,
    /// How far back offline history uploaded on reconnect reaches.
    pub offline_history_age: Duration,
    /// Largest page served, whatever `limit` asks.
    pub max_limit: usize,
    /// Serve pages oldest first (and cut the newest at `limit`).
    pub oldest_first: bool,
    /// Events become listable up to this long after their `created_at`.
    pub visibility_lag: Duration,
    /// `Retry-After` on 429 (whole seconds, rounded up).
    pub retry_after: Duration,
    /// Indices into `DOORS`; default: those `door_vendor` gives to Seam.
    pub doors: Vec<usize>,
    pub clock: Clock,
}

impl Default for SeamSimOptions {
    fn default() -> Self {
        SeamSimOptions {
            port: 0,
            api_key: "seam_sim_0001_demo_key".to_string(),
            seed: 1,
            rate: 0.5,
            first_alarm_after: Duration::from_secs(5),
            alarm_every: Duration::from_secs(120),
            backfill: 40,
            backfill_span: Duration::from_secs(3600),
            offline_history_age: Duration::from_secs(3 * 3600),
            max_limit: 1000,
            oldest_first: false,
            visibility_lag: Duration::ZERO,
            retry_after: Duration::from_secs(1),
            doors: (0..DOORS.len())
                .filter(|&d| door_vendor(d) == Vendor::Seam)
                .collect(),
            clock: Arc::new(Utc::now),
        }
    }
}

/// Fault switches, flipped at any time through [`SeamSimHandle::set_fault`].
#[derive(Debug, Default)]
pub struct SeamFaults {
    server_error: AtomicBool,
    rate_limited: AtomicBool,
    key_revoked: AtomicBool,
    malformed_page: AtomicBool,
    duplicates: AtomicBool,
    out_of_order: AtomicBool,
    paused: AtomicBool,
}

/// One switch of [`SeamFaults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeamFault {
    /// Every authenticated request → 500.
    ServerError,
    /// Every authenticated request → 429 with `Retry-After`.
    RateLimited,
    /// The key was revoked: every request → 401.
    KeyRevoked,
    /// `/events/list` pages with events come back as truncated JSON.
    MalformedPage,
    /// Every third event of a page is listed twice.
    Duplicates,
    /// Pages come back shuffled.
    OutOfOrder,
    /// The generator makes no events (API actions still do).
    Paused,
}

impl SeamFaults {
    fn flag(&self, f: SeamFault) -> &AtomicBool {
        match f {
            SeamFault::ServerError => &self.server_error,
            SeamFault::RateLimited => &self.rate_limited,
            SeamFault::KeyRevoked => &self.key_revoked,
            SeamFault::MalformedPage => &self.malformed_page,
            SeamFault::Duplicates => &self.duplicates,
            SeamFault::OutOfOrder => &self.out_of_order,
            SeamFault::Paused => &self.paused,
        }
    }

    pub fn set(&self, f: SeamFault, on: bool) {
        self.flag(f).store(on, Ordering::SeqCst);
    }

    pub fn is_on(&self, f: SeamFault) -> bool {
        self.flag(f).load(Ordering::SeqCst)
    }
}

struct LedgerEntry {
    created: DateTime<Utc>,
    visible: DateTime<Utc>,
    event: Value,
}

struct Device {
    door: usize,
    online: bool,
    locked: bool,
    battery: f64,
}

#[derive(Default)]
struct Stats {
    answers: HashMap<u16, usize>,
    /// The latest lower bound (`since` or `between[0]`) of an answered `/events/list`.
    newest_query_start: Option<DateTime<Utc>>,
    /// Every `since` of an answered `/events/list`, with when it was answered.
    since: HashMap<DateTime<Utc>, Vec<DateTime<Utc>>>,
}

struct Inner {
    opts: SeamSimOptions,
    faults: Arc<SeamFaults>,
    ledger: Mutex<Vec<LedgerEntry>>,
    devices: Mutex<BTreeMap<usize, Device>>,
    generator: Mutex<Generator>,
    stats: Mutex<Stats>,
    requests: AtomicU64,
    started: DateTime<Utc>,
    /// Added to `created_at` and `occurred_at` of events generated from now on, in ms
    /// ([`SeamSimHandle::set_clock_skew`]).
    skew: Skew,
    /// Events listed a second time by [`SeamFault::Duplicates`].
    duplicates_served: AtomicU64,
}

/// Starts simulators; see [`SeamSim::start`].
pub struct SeamSim;

impl SeamSim {
    /// Bind 127.0.0.1:`opts.port`, serve, and start the generator.
    pub async fn start(opts: SeamSimOptions) -> std::io::Result<SeamSimHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let started = (opts.clock)();
        let devices = opts
            .doors
            .iter()
            .map(|&d| {
                let dev = Device {
                    door: d,
                    online: true,
                    locked: true,
                    battery: 0.9 - d as f64 / 100.0,
                };
                (d, dev)
            })
            .collect();
        let inner = Arc::new(Inner {
            faults: Arc::new(SeamFaults::default()),
            ledger: Mutex::new(Vec::new()),
            devices: Mutex::new(devices),
            generator: Mutex::new(Generator::new(opts.seed)),
            stats: Mutex::new(Stats::default()),
            requests: AtomicU64::new(0),
            started,
            skew: Skew::default(),
            duplicates_served: AtomicU64::new(0),
            opts,
        });
        backfill(&inner);

        let app = Router::new()
            .route("/events/list", post(list_events))
            .route("/locks/list", post(list_locks))
            .route("/devices/list", post(list_devices))
            .route("/connected_accounts/list", post(list_accounts))
            .route("/locks/unlock_door", post(unlock_door))
            .route("/locks/lock_door", post(lock_door))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());

        let generator = tokio::spawn(run_generator(inner.clone()));
        let served = Served::start(listener, app, generator)?;
        Ok(SeamSimHandle { inner, served })
    }
}

/// A running simulator. Dropping it stops the server and generator abruptly;
/// [`SeamSimHandle::shutdown`] stops them gracefully.
pub struct SeamSimHandle {
    inner: Arc<Inner>,
    served: Served,
}

impl SeamSimHandle {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The key to send as `Authorization: Bearer <key>`.
    pub fn api_key(&self) -> &str {
        &self.inner.opts.api_key
    }

    pub fn faults(&self) -> Arc<SeamFaults> {
        self.inner.faults.clone()
    }

    pub fn set_fault(&self, f: SeamFault, on: bool) {
        self.inner.faults.set(f, on);
    }

    /// Every event generated so far (backfill and API actions included), in
    /// generation order, exactly as served.
    pub fn ledger(&self) -> Vec<Value> {
        let ledger = self.inner.ledger.lock().unwrap();
        ledger.iter().map(|e| e.event.clone()).collect()
    }

    pub fn ledger_len(&self) -> usize {
        self.inner.ledger.lock().unwrap().len()
    }

    /// The newest `created_at` in the ledger.
    pub fn newest_created_at(&self) -> Option<DateTime<Utc>> {
        let ledger = self.inner.ledger.lock().unwrap();
        ledger.iter().map(|e| e.created).max()
    }

    /// Stamp events generated from now on `skew` off the clock (Seam's servers stamping
    /// with a wrong clock, or one that steps when corrected). Listing stays on time:
    /// an event is listable `visibility_lag` after it was really made.
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.inner.skew.set(skew);
    }

    /// Events listed twice by [`SeamFault::Duplicates`] so far.
    pub fn duplicates_served(&self) -> u64 {
        self.inner.duplicates_served.load(Ordering::SeqCst)
    }

    /// How many requests were answered with `status`.
    pub fn answered(&self, status: u16) -> usize {
        let stats = self.inner.stats.lock().unwrap();
        stats.answers.get(&status).copied().unwrap_or(0)
    }

    /// The latest lower bound of an answered `/events/list` query: once a client asks
    /// from there, it has committed everything before it.
    pub fn newest_query_start(&self) -> Option<DateTime<Utc>> {
        self.inner.stats.lock().unwrap().newest_query_start
    }

    /// When `/events/list` queries with exactly this `since` were answered, oldest
    /// first. A client whose cursor is the newest `created_at` asks from there (minus
    /// its overlap) only after committing it.
    pub fn answered_since(&self, since: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let stats = self.inner.stats.lock().unwrap();
        stats.since.get(&since).cloned().unwrap_or_default()
    }

    /// When the last event generated so far becomes listable (`visibility_lag`).
    pub fn all_visible_at(&self) -> Option<DateTime<Utc>> {
        let ledger = self.inner.ledger.lock().unwrap();
        ledger.iter().map(|e| e.visible).max()
    }

    /// `(device_id, door name)` of every simulated lock.
    pub fn doors(&self) -> Vec<(String, String)> {
        self.inner
            .opts
            .doors
            .iter()
            .map(|&d| (device_id(d), DOORS[d].to_string()))
            .collect()
    }

    /// When the simulator started, by its clock.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started
    }

    /// Stop accepting connections, finish in-flight requests, stop the generator.
    pub async fn shutdown(mut self) {
        self.served.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {"type": kind, "message": message}, "ok": false});
    (status, axum::Json(body)).into_response()
}

fn invalid_input(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_input", message)
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "Not found")
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Auth, then the fault switches; counts every answer by status.
async fn gate(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let faults = &inner.faults;
    let resp = if key.is_empty() || key != inner.opts.api_key || faults.is_on(SeamFault::KeyRevoked)
    {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized: API key not found or revoked",
        )
    } else if faults.is_on(SeamFault::ServerError) {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "Internal server error",
        )
    } else if faults.is_on(SeamFault::RateLimited) {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        );
        let secs = inner.opts.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    } else {
        next.run(req).await
    };
    let mut stats = inner.stats.lock().unwrap();
    *stats.answers.entry(resp.status().as_u16()).or_default() += 1;
    resp
}

/// The JSON object body of a request; an empty body is `{}`.
fn object_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Box::new(invalid_input("Expected a JSON object body"))),
        Err(_) => Err(Box::new(invalid_input("Invalid JSON body"))),
    }
}

// ---------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------

/// An `/events/list` query, checked.
struct EventsQuery {
    after: DateTime<Utc>,
    before: Option<DateTime<Utc>>,
    limit: usize,
    offset: usize,
    body: serde_json::Map<String, Value>,
}

fn events_query(
    body: serde_json::Map<String, Value>,
    max_limit: usize,
) -> Result<EventsQuery, &'static str> {
    let since = body.get("since").filter(|v| !v.is_null());
    let between = body.get("between").filter(|v| !v.is_null());
    let (after, before) = match (since, between) {
        (Some(_), Some(_)) => return Err("Cannot specify both since and between"),
        (None, None) => return Err("Must specify either since or between"),
        (Some(s), None) => (
            parse_time(s).ok_or("since must be an ISO 8601 timestamp")?,
            None,
        ),
        (None, Some(b)) => {
            let pair = b
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or("between must be [start, end]")?;
            let start = parse_time(&pair[0]).ok_or("between[0] must be an ISO 8601 timestamp")?;
            let end = parse_time(&pair[1]).ok_or("between[1] must be an ISO 8601 timestamp")?;
            (start, Some(end))
        }
    };
    let count = |field: &str, default: usize| match body.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().map(|n| n as usize).ok_or(()),
    };
    let limit = count("limit", DEFAULT_LIMIT).map_err(|_| "limit must be a positive integer")?;
    if limit == 0 {
        return Err("limit must be a positive integer");
    }
    let offset = count("unstable_offset", 0).map_err(|_| "unstable_offset must be an integer")?;
    Ok(EventsQuery {
        after,
        before,
        limit: limit.min(max_limit.max(1)),
        offset,
        body,
    })
}

/// `field` (one value) or `fields` (a list) of the query, as a set.
fn filter_set(
    body: &serde_json::Map<String, Value>,
    one: &str,
    many: &str,
) -> Option<HashSet<String>> {
    let mut set = HashSet::new();
    if let Some(v) = body.get(one).and_then(Value::as_str) {
        set.insert(v.to_string());
    }
    if let Some(list) = body.get(many).and_then(Value::as_array) {
        set.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    (!set.is_empty()).then_some(set)
}

impl EventsQuery {
    fn matches(&self, e: &LedgerEntry) -> bool {
        let field_in = |set: &Option<HashSet<String>>, field: &str| match set {
            None => true,
            Some(s) => e
                .event
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| s.contains(v)),
        };
        e.created > self.after
            && self.before.is_none_or(|b| e.created < b)
            && field_in(
                &filter_set(&self.body, "device_id", "device_ids"),
                "device_id",
            )
            && field_in(
                &filter_set(&self.body, "event_type", "event_types"),
                "event_type",
            )
            && field_in(&filter_set(&self.body, "event_id", "event_ids"), "event_id")
            && field_in(
                &filter_set(&self.body, "connected_account_id", "connected_account_ids"),
                "connected_account_id",
            )
    }
}

async fn list_events(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let body = match object_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let q = match events_query(body, inner.opts.max_limit) {
        Ok(q) => q,
        Err(msg) => return invalid_input(msg),
    };
    let now = (inner.opts.clock)();
    let mut page: Vec<Value> = {
        let ledger = inner.ledger.lock().unwrap();
        let mut hits: Vec<&LedgerEntry> = ledger
            .iter()
            .filter(|e| e.visible <= now && q.matches(e))
            .collect();
        // Stable: ties keep generation order.
        hits.sort_by_key(|e| e.created);
        if !inner.opts.oldest_first {
            hits.reverse();
        }
        hits.into_iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|e| e.event.clone())
            .collect()
    };
    let faults = &inner.faults;
    if faults.is_on(SeamFault::Duplicates) {
        let twice = page.len().div_ceil(3) as u64;
        if !faults.is_on(SeamFault::MalformedPage) {
            inner.duplicates_served.fetch_add(twice, Ordering::SeqCst);
        }
        page = page
            .into_iter()
            .enumerate()
            .flat_map(|(i, e)| {
                let twice = i % 3 == 0;
                std::iter::once(e.clone()).chain(twice.then_some(e))
            })
            .collect();
    }
    if faults.is_on(SeamFault::OutOfOrder) {
        let n = inner.requests.fetch_add(1, Ordering::SeqCst);
        let mut rng = Rng::new(n.wrapping_mul(0x9e37_79b9) | 1);
        for i in (1..page.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            page.swap(i, j);
        }
    }
    {
        let mut stats = inner.stats.lock().unwrap();
        if stats.newest_query_start.is_none_or(|t| q.after > t) {
            stats.newest_query_start = Some(q.after);
        }
        if q.before.is_none() {
            stats.since.entry(q.after).or_default().push(now);
        }
    }
    let non_empty = !page.is_empty();
    let text = json!({"events": page}).to_string();
    if non_empty && faults.is_on(SeamFault::MalformedPage) {
        let cut = text.len() * 2 / 3;
        let cut = (0..=cut)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(text[..cut].to_string()))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// ---------------------------------------------------------------------------------
// Devices and accounts
// ---------------------------------------------------------------------------------

/// A stable UUID-shaped id for thing `n` of family `tag`.
fn uuid_for(tag: u64, n: u64) -> String {
    let a = crate::sources::fields::fnv1a64(&[tag.to_le_bytes(), n.to_le_bytes()].concat());
    let b = crate::sources::fields::fnv1a64(&[n.to_le_bytes(), tag.to_le_bytes()].concat());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

pub fn device_id(door: usize) -> String {
    uuid_for(1, door as u64)
}

fn account_index(door: usize) -> usize {
    usize::from(door >= 16)
}

fn account_id(account: usize) -> String {
    uuid_for(2, account as u64)
}

fn access_code_id(person: usize) -> String {
    uuid_for(3, person as u64)
}

const ACCOUNTS: [(&str, &str, &str); 2] = [
    ("august", "August", "hq-locks@example.com"),
    ("yale", "Yale", "annex-locks@example.com"),
];

fn device_json(inner: &Inner, dev: &Device) -> Value {
    let d = dev.door;
    let (provider, brand, _) = ACCOUNTS[account_index(d)];
    let hardware_name = format!("{brand} Lock {}", d + 1);
    // Half the doors are named by a nickname, half only by their app appearance, as
    // installers leave them.
    let nickname = (d % 8 == 2).then(|| DOORS[d].to_string());
    let display_name = nickname.clone().unwrap_or_else(|| hardware_name.clone());
    let errors = if dev.online {
        json!([])
    } else {
        json!([{"error_code": "device_offline", "message": "Device is offline", "is_device_error": true,
                "created_at": ts(inner.started)}])
    };
    let status = if dev.battery < 0.15 {
        "critical"
    } else if dev.battery < 0.3 {
        "low"
    } else if dev.battery < 0.7 {
        "good"
    } else {
        "full"
    };
    let mut v = json!({
        "device_id": device_id(d),
        "device_type": format!("{provider}_lock"),
        "display_name": display_name,
        "workspace_id": WORKSPACE_ID,
        "connected_account_id": account_id(account_index(d)),
        "created_at": ts(inner.started - chrono::Duration::days(200)),
        "is_managed": true,
        "capabilities_supported": ["lock", "access_code"],
        "can_remotely_lock": true,
        "can_remotely_unlock": true,
        "properties": {
            "name": hardware_name,
            "appearance": {"name": DOORS[d]},
            "online": dev.online,
            "locked": dev.locked,
            "door_open": false,
            "manufacturer": provider,
            "battery_level": dev.battery,
            "battery": {"level": dev.battery, "status": status},
            "model": {"display_name": format!("{brand} Smart Lock"), "manufacturer_display_name": brand},
        },
        "location": null,
        "errors": errors,
        "warnings": [],
        "custom_metadata": {},
    });
    if let (Some(n), Some(obj)) = (nickname, v.as_object_mut()) {
        obj.insert("nickname".into(), json!(n));
    }
    v
}

fn devices(inner: &Inner) -> Vec<Value> {
    let devices = inner.devices.lock().unwrap();
    devices
        .values()
        .map(|dev| device_json(inner, dev))
        .collect()
}

fn no_more_pages() -> Value {
    json!({"has_next_page": false, "next_page_cursor": null, "next_page_url": null})
}

async fn list_locks(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(json!({"locks": devices(&inner), "pagination": no_more_pages()})).into_response()
}

async fn list_devices(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(json!({"devices": devices(&inner), "pagination": no_more_pages()})).into_response()
}

async fn list_accounts(State(inner): State<Arc<Inner>>) -> Response {
    let mut used: Vec<usize> = inner.opts.doors.iter().map(|&d| account_index(d)).collect();
    used.sort_unstable();
    used.dedup();
    let accounts: Vec<Value> = used
        .into_iter()
        .map(|a| {
            let (provider, brand, email) = ACCOUNTS[a];
            json!({
                "connected_account_id": account_id(a),
                "account_type": provider,
                "account_type_display_name": brand,
                "display_name": email,
                "user_identifier": {"email": email},
                "workspace_id": WORKSPACE_ID,
                "created_at": ts(inner.started - chrono::Duration::days(210)),
                "errors": [],
                "warnings": [],
                "custom_metadata": {},
                "automatically_manage_new_devices": true,
            })
        })
        .collect();
    axum::Json(json!({"connected_accounts": accounts, "pagination": no_more_pages()}))
        .into_response()
}

async fn unlock_door(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    lock_action(&inner, &body, false)
}

async fn lock_door(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    lock_action(&inner, &body, true)
}

/// `/locks/lock_door` and `/locks/unlock_door`: change the lock and report it the way
/// Seam does, with a lock event and the action attempt's outcome.
fn lock_action(inner: &Inner, body: &Bytes, lock: bool) -> Response {
    let body = match object_body(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(wanted) = body.get("device_id").and_then(Value::as_str) else {
        return invalid_input("device_id is required");
    };
    let Some(door) = inner
        .opts
        .doors
        .iter()
        .copied()
        .find(|&d| device_id(d) == wanted)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "device_not_found",
            "Device not found",
        );
    };
    let (action, verb) = if lock {
        ("LOCK_DOOR", "lock_door")
    } else {
        ("UNLOCK_DOOR", "unlock_door")
    };
    let events = {
        let mut g = inner.generator.lock().unwrap();
        let attempt = g.uuid();
        let online = match inner.devices.lock().unwrap().get_mut(&door) {
            Some(dev) if dev.online => {
                dev.locked = lock;
                true
            }
            _ => false,
        };
        let mut evs = Vec::new();
        if online {
            let ty = if lock { "lock.locked" } else { "lock.unlocked" };
            evs.push(
                Draft::new(door, ty)
                    .with("method", json!("remote"))
                    .with("action_attempt_id", json!(attempt)),
            );
            evs.push(
                Draft::new(door, &format!("action_attempt.{verb}.succeeded"))
                    .with("action_attempt_id", json!(attempt))
                    .with("action_type", json!(action))
                    .with("status", json!("success")),
            );
        } else {
            evs.push(
                Draft::new(door, &format!("action_attempt.{verb}.failed"))
                    .with("action_attempt_id", json!(attempt))
                    .with("action_type", json!(action))
                    .with("status", json!("error")),
            );
        }
        (attempt, online, g.finish(evs))
    };
    let (attempt, online, drafts) = events;
    record(inner, drafts, None);
    let (status, result, err) = if online {
        ("success", json!({}), Value::Null)
    } else {
        (
            "error",
            Value::Null,
            json!({"type": "device_offline", "message": "Device is offline"}),
        )
    };
    axum::Json(json!({"action_attempt": {
        "action_attempt_id": attempt, "action_type": action, "status": status,
        "result": result, "error": err}}))
    .into_response()
}

// ---------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------

/// An event before it is stamped: type, door and extra fields; `age` backdates
/// `occurred_at` (offline history).
struct Draft {
    door: usize,
    event_type: String,
    fields: serde_json::Map<String, Value>,
    age: Option<chrono::Duration>,
}

impl Draft {
    fn new(door: usize, event_type: &str) -> Draft {
        Draft {
            door,
            event_type: event_type.to_string(),
            fields: serde_json::Map::new(),
            age: None,
        }
    }

    fn with(mut self, key: &str, v: Value) -> Draft {
        self.fields.insert(key.to_string(), v);
        self
    }
}

/// A draft with its id and delay between occurring and being created.
struct Ready {
    draft: Draft,
    event_id: String,
    delay_ms: i64,
    lag_ms: i64,
}

struct Generator {
    rng: Rng,
    alarms: u64,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed ^ 0x5ea3_0000),
            alarms: 0,
        }
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// Give drafts their ids and delays, in order (deterministic for a seed).
    fn finish(&mut self, drafts: Vec<Draft>) -> Vec<Ready> {
        drafts
            .into_iter()
            .map(|draft| Ready {
                event_id: self.uuid(),
                delay_ms: self.rng.below(1500) as i64,
                lag_ms: self.rng.below(1000) as i64,
                draft,
            })
            .collect()
    }
}

fn description(event_type: &str, door: usize, fields: &serde_json::Map<String, Value>) -> String {
    let name = DOORS[door];
    match event_type {
        "lock.unlocked" if fields.contains_key("access_code_id") => {
            format!("{name} was unlocked with an access code")
        }
        "lock.unlocked" => format!("{name} was unlocked"),
        "lock.locked" => format!("{name} was locked"),
        "lock.access_denied" => format!("Access was denied at {name}"),
        "device.connected" => format!("{name} came online"),
        "device.disconnected" => format!("{name} went offline"),
        "device.tampered" => format!("{name} reported tampering"),
        "device.low_battery" => format!("{name} battery is low"),
        _ => String::new(),
    }
}

/// The next step's drafts; `alarm` makes the tamper step.
fn step(inner: &Inner, g: &mut Generator, alarm: bool) -> Vec<Draft> {
    let doors = &inner.opts.doors;
    if doors.is_empty() {
        return Vec::new();
    }
    let mut devices = inner.devices.lock().unwrap();
    let door = doors[g.rng.below(doors.len() as u64) as usize];
    let Some(dev) = devices.get_mut(&door) else {
        return Vec::new();
    };
    if alarm {
        g.alarms += 1;
        return vec![Draft::new(door, "device.tampered")];
    }
    if !dev.online {
        return reconnect(inner, g, dev);
    }
    let person = g.rng.below(120) as usize;
    let code = || json!(access_code_id(person));
    let mut out = Vec::new();
    match g.rng.below(1000) {
        0..=499 => {
            dev.locked = true;
            out.push(
                Draft::new(door, "lock.unlocked")
                    .with("method", json!("keycode"))
                    .with("access_code_id", code()),
            );
            out.push(Draft::new(door, "lock.locked").with("method", json!("automatic")));
        }
        500..=599 => {
            dev.locked = true;
            out.push(
                Draft::new(door, "lock.unlocked")
                    .with("method", json!("remote"))
                    .with("is_via_bluetooth", json!(true)),
            );
            out.push(Draft::new(door, "lock.locked").with("method", json!("automatic")));
        }
        600..=699 => {
            let ty = if dev.locked {
                "lock.unlocked"
            } else {
                "lock.locked"
            };
            dev.locked = !dev.locked;
            out.push(Draft::new(door, ty).with("method", json!("manual")));
        }
        700..=769 => {
            dev.locked = true;
            out.push(Draft::new(door, "lock.unlocked").with("method", json!("remote")));
            out.push(Draft::new(door, "lock.locked").with("method", json!("remote")));
        }
        770..=839 => {
            out.push(Draft::new(door, "lock.access_denied").with("access_code_id", code()));
        }
        840..=889 => {
            dev.online = false;
            out.push(
                Draft::new(door, "device.disconnected").with("error_code", json!("device_offline")),
            );
        }
        890..=929 => {
            dev.battery = (dev.battery - 0.2).max(0.05);
            out.push(Draft::new(door, "device.low_battery").with(
                "battery_level",
                json!((dev.battery * 100.0).round() / 100.0),
            ));
        }
        930..=959 => {
            out.push(Draft::new(door, "device.connection_became_flaky"));
            out.push(Draft::new(door, "device.connection_stabilized"));
        }
        _ => {
            out.push(
                Draft::new(door, "access_code.set_on_device")
                    .with("access_code_id", code())
                    .with("code", Value::Null),
            );
        }
    }
    out
}

/// A lock back online uploads what it recorded offline: events that occurred long
/// ago and are created now.
fn reconnect(inner: &Inner, g: &mut Generator, dev: &mut Device) -> Vec<Draft> {
    dev.online = true;
    let door = dev.door;
    let mut out = vec![Draft::new(door, "device.connected")];
    let max_age = inner.opts.offline_history_age.as_millis().max(2) as u64;
    let mut ages: Vec<u64> = (0..1 + g.rng.below(4))
        .map(|_| 1 + g.rng.below(max_age))
        .collect();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    for age in ages {
        let person = g.rng.below(120) as usize;
        let mut d = Draft::new(door, "lock.unlocked")
            .with("method", json!("keycode"))
            .with("access_code_id", json!(access_code_id(person)));
        d.age = Some(chrono::Duration::milliseconds(age as i64));
        out.push(d);
    }
    out
}

/// Stamp and append; `at = None` uses the clock (under the ledger lock).
fn record(inner: &Inner, ready: Vec<Ready>, at: Option<DateTime<Utc>>) {
    let mut ledger = inner.ledger.lock().unwrap();
    // Seam stamps microseconds; keeping more would make `since` compare unlike the wire.
    let made = at.unwrap_or_else(|| (inner.opts.clock)());
    let skew = inner.skew.get();
    let created = micros(made + skew);
    let lag_max = inner.opts.visibility_lag.as_millis() as i64;
    for r in ready {
        let Ready {
            draft,
            event_id,
            delay_ms,
            lag_ms,
        } = r;
        let occurred = match draft.age {
            Some(age) => created - age,
            None => created - chrono::Duration::milliseconds(delay_ms),
        };
        let lag = if lag_max > 0 {
            lag_ms % (lag_max + 1)
        } else {
            0
        };
        let mut ev = serde_json::Map::new();
        ev.insert("event_id".into(), json!(event_id));
        ev.insert("event_type".into(), json!(draft.event_type));
        ev.insert("workspace_id".into(), json!(WORKSPACE_ID));
        ev.insert("created_at".into(), json!(ts(created)));
        ev.insert("occurred_at".into(), json!(ts(occurred)));
        ev.insert("device_id".into(), json!(device_id(draft.door)));
        ev.insert(
            "connected_account_id".into(),
            json!(account_id(account_index(draft.door))),
        );
        let desc = description(&draft.event_type, draft.door, &draft.fields);
        if !desc.is_empty() {
            ev.insert("event_description".into(), json!(desc));
        }
        ev.extend(draft.fields);
        ledger.push(LedgerEntry {
            created,
            visible: made + chrono::Duration::milliseconds(lag),
            event: Value::Object(ev),
        });
    }
}

fn generate(inner: &Inner, alarm: bool, at: Option<DateTime<Utc>>) {
    let ready = {
        let mut g = inner.generator.lock().unwrap();
        let drafts = step(inner, &mut g, alarm);
        g.finish(drafts)
    };
    record(inner, ready, at);
}

fn backfill(inner: &Inner) {
    let n = inner.opts.backfill;
    if n == 0 {
        return;
    }
    let span = chrono::Duration::from_std(inner.opts.backfill_span)
        .unwrap_or_else(|_| chrono::Duration::hours(1));
    let step_ms = (span.num_milliseconds() / n as i64).max(1);
    let start = inner.started - span;
    for i in 0..n {
        let at = start + chrono::Duration::milliseconds(i as i64 * step_ms);
        generate(inner, false, Some(at));
    }
}

async fn run_generator(inner: Arc<Inner>) {
    let start = tokio::time::Instant::now();
    let mut next_alarm = start + inner.opts.first_alarm_after;
    let step_every = (inner.opts.rate > 0.0)
        .then(|| Duration::from_secs_f64((1.0 / inner.opts.rate).clamp(0.0005, 86_400.0)));
    let mut next_step = step_every.map(|d| start + d);
    loop {
        let wake = match next_step {
            Some(b) => b.min(next_alarm),
            None => next_alarm,
        };
        tokio::time::sleep_until(wake).await;
        let now = tokio::time::Instant::now();
        let paused = inner.faults.is_on(SeamFault::Paused);
        if now >= next_alarm {
            if !paused {
                generate(&inner, true, None);
            }
            next_alarm += inner.opts.alarm_every.max(Duration::from_millis(1));
        }
        if let (Some(b), Some(every)) = (next_step, step_every)
            && now >= b
        {
            if !paused {
                generate(&inner, false, None);
            }
            // No catching up after a stall: at most one step per wake.
            next_step = Some((b + every).max(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::sources::ParseContext;

    /// No live generation: what a test reads is what it set up.
    fn still() -> SeamSimOptions {
        SeamSimOptions {
            rate: 0.0,
            first_alarm_after: Duration::from_secs(3600),
            ..fast()
        }
    }

    fn fast() -> SeamSimOptions {
        SeamSimOptions {
            rate: 300.0,
            first_alarm_after: Duration::from_millis(20),
            alarm_every: Duration::from_millis(200),
            backfill: 200,
            ..SeamSimOptions::default()
        }
    }

    async fn call(sim: &SeamSimHandle, path: &str, body: Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{}", sim.base_url(), path))
            .bearer_auth(sim.api_key())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn events(sim: &SeamSimHandle, body: Value) -> Vec<Value> {
        let resp = call(sim, "/events/list", body).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert!(v.get("ok").is_none(), "the documented samples carry no ok");
        v["events"].as_array().unwrap().clone()
    }

    fn ids(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn auth_and_error_shapes() {
        let sim = SeamSim::start(fast()).await.unwrap();
        let url = format!("{}/locks/list", sim.base_url());
        for auth in [
            None,
            Some("Bearer wrong".to_string()),
            Some(format!("Token {}", sim.api_key())),
        ] {
            let mut req = reqwest::Client::new().post(&url).json(&json!({}));
            if let Some(a) = &auth {
                req = req.header("Authorization", a.as_str());
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{auth:?}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["ok"], false);
            assert_eq!(body["error"]["type"], "unauthorized");
            assert!(body["error"]["message"].is_string());
        }
        // GET is not how Seam is called.
        let resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(sim.api_key())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);

        for (body, msg) in [
            (json!({}), "Must specify either since or between"),
            (
                json!({"since": "2026-01-01T00:00:00Z", "between": ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]}),
                "Cannot specify both since and between",
            ),
            (
                json!({"since": "yesterday"}),
                "since must be an ISO 8601 timestamp",
            ),
        ] {
            let resp = call(&sim, "/events/list", body).await;
            assert_eq!(resp.status(), 400);
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["type"], "invalid_input");
            assert_eq!(v["error"]["message"], msg);
        }
        let resp = call(&sim, "/locks/unlock_door", json!({"device_id": "nope"})).await;
        assert_eq!(resp.status(), 404);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "device_not_found");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn since_and_between_are_exclusive_and_limit_cuts_the_oldest() {
        let sim = SeamSim::start(still()).await.unwrap();
        let all = events(
            &sim,
            json!({"since": "2000-01-01T00:00:00Z", "limit": 1000}),
        )
        .await;
        assert_eq!(all.len(), sim.ledger_len());
        let created = |e: &Value| parse_time(&e["created_at"]).unwrap();
        // Newest first.
        assert!(all.windows(2).all(|w| created(&w[0]) >= created(&w[1])));

        // `since` is strictly after.
        let pivot = created(&all[all.len() / 2]);
        let after = events(&sim, json!({"since": ts(pivot)})).await;
        assert!(after.iter().all(|e| created(e) > pivot));
        assert_eq!(
            after.len(),
            all.iter().filter(|e| created(e) > pivot).count()
        );

        // `between` excludes both ends.
        let lo = created(&all[all.len() - 10]);
        let hi = created(&all[10]);
        let mid = events(&sim, json!({"between": [ts(lo), ts(hi)]})).await;
        let want = all
            .iter()
            .filter(|e| created(e) > lo && created(e) < hi)
            .count();
        assert_eq!(mid.len(), want);

        // A page cut at `limit` keeps the newest; `unstable_offset` goes on from there.
        let first = events(&sim, json!({"since": "2000-01-01T00:00:00Z", "limit": 7})).await;
        assert_eq!(ids(&first), ids(&all[..7]));
        let next = events(
            &sim,
            json!({"since": "2000-01-01T00:00:00Z", "limit": 7, "unstable_offset": 7}),
        )
        .await;
        assert_eq!(ids(&next), ids(&all[7..14]));

        // Filters.
        let dev = sim.doors()[0].0.clone();
        let one = events(
            &sim,
            json!({"since": "2000-01-01T00:00:00Z", "device_id": dev, "event_types": ["lock.unlocked", "lock.locked"]}),
        )
        .await;
        assert!(!one.is_empty());
        assert!(one.iter().all(|e| e["device_id"] == dev.as_str()
            && e["event_type"].as_str().unwrap().starts_with("lock.")));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn generated_events_parse_and_cover_the_brief() {
        let sim = SeamSim::start(SeamSimOptions {
            backfill: 600,
            ..fast()
        })
        .await
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sim
            .ledger()
            .iter()
            .any(|e| e["event_type"] == "device.tampered")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no tamper within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ctx = ParseContext {
            source: "hq-seam",
            received_at: Utc::now(),
        };
        let doors: HashSet<String> = sim.doors().into_iter().map(|d| d.0).collect();
        let mut kinds = HashSet::new();
        let mut offline_history = 0;
        for ev in sim.ledger() {
            let e = crate::sources::seam::parse(&ctx, &ev).unwrap();
            assert!(doors.contains(&e.door.as_ref().unwrap().id), "{ev}");
            kinds.insert(e.kind.clone());
            let created = parse_time(&ev["created_at"]).unwrap();
            if created - e.occurred_at > chrono::Duration::minutes(1) {
                offline_history += 1;
            }
        }
        for k in [
            EventKind::AccessGranted,
            EventKind::AccessDenied,
            EventKind::DoorLocked,
            EventKind::DoorUnlocked,
            EventKind::ControllerOnline,
            EventKind::ControllerOffline,
            EventKind::DeviceBatteryLow,
            EventKind::DeviceTamper,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing");
        }
        assert!(offline_history > 0, "no offline history uploaded");
        // The same seed gives the same backfill.
        let again = SeamSim::start(SeamSimOptions {
            backfill: 600,
            ..fast()
        })
        .await
        .unwrap();
        assert_eq!(ids(&again.ledger()[..50]), ids(&sim.ledger()[..50]));
        assert!(SeamSimOptions::default().first_alarm_after <= Duration::from_secs(10));
    }

    #[tokio::test]
    async fn lock_actions_change_the_lock_and_make_events() {
        let sim = SeamSim::start(SeamSimOptions {
            backfill: 0,
            ..still()
        })
        .await
        .unwrap();
        let (dev, name) = sim.doors()[1].clone();
        let resp = call(&sim, "/locks/unlock_door", json!({"device_id": dev})).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["action_attempt"]["action_type"], "UNLOCK_DOOR");
        let locks: Value = call(&sim, "/locks/list", json!({}))
            .await
            .json()
            .await
            .unwrap();
        let lock = locks["locks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["device_id"] == dev.as_str())
            .unwrap();
        assert_eq!(lock["properties"]["locked"], false);
        assert_eq!(lock["properties"]["appearance"]["name"], name.as_str());
        call(&sim, "/locks/lock_door", json!({"device_id": dev})).await;
        let types: Vec<String> = sim
            .ledger()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            types,
            [
                "lock.unlocked",
                "action_attempt.unlock_door.succeeded",
                "lock.locked",
                "action_attempt.lock_door.succeeded"
            ]
        );
        let accounts: Value = call(&sim, "/connected_accounts/list", json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(accounts["connected_accounts"].as_array().unwrap().len(), 2);
        let devices: Value = call(&sim, "/devices/list", json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            devices["devices"].as_array().unwrap().len(),
            sim.doors().len()
        );
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn fault_switches_are_observable() {
        let sim = SeamSim::start(still()).await.unwrap();
        let since = json!({"since": "2000-01-01T00:00:00Z"});
        sim.set_fault(SeamFault::ServerError, true);
        assert_eq!(
            call(&sim, "/events/list", since.clone()).await.status(),
            500
        );
        sim.set_fault(SeamFault::ServerError, false);

        sim.set_fault(SeamFault::RateLimited, true);
        let resp = call(&sim, "/events/list", since.clone()).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
        sim.set_fault(SeamFault::RateLimited, false);

        sim.set_fault(SeamFault::KeyRevoked, true);
        assert_eq!(call(&sim, "/locks/list", json!({})).await.status(), 401);
        sim.set_fault(SeamFault::KeyRevoked, false);
        assert_eq!(sim.answered(401), 1);
        assert_eq!(sim.answered(500), 1);

        let clean = events(&sim, since.clone()).await;
        sim.set_fault(SeamFault::Duplicates, true);
        sim.set_fault(SeamFault::OutOfOrder, true);
        let messy = events(&sim, since.clone()).await;
        sim.set_fault(SeamFault::Duplicates, false);
        sim.set_fault(SeamFault::OutOfOrder, false);
        assert!(messy.len() > clean.len());
        let mut a = ids(&clean);
        let mut b = ids(&messy);
        assert!(b[..clean.len()] != a[..], "shuffled");
        a.sort();
        b.sort();
        b.dedup();
        assert!(a == b, "the same events, {} and {}", a.len(), b.len());

        sim.set_fault(SeamFault::MalformedPage, true);
        let text = call(&sim, "/events/list", since.clone())
            .await
            .text()
            .await
            .unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err());
        sim.set_fault(SeamFault::MalformedPage, false);

        sim.shutdown().await;

        let busy = SeamSim::start(fast()).await.unwrap();
        busy.set_fault(SeamFault::Paused, true);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = busy.ledger_len();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(busy.ledger_len(), n, "a paused generator makes nothing");
        busy.set_fault(SeamFault::Paused, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while busy.ledger_len() == n {
            assert!(
                std::time::Instant::now() < deadline,
                "generation did not resume"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        busy.shutdown().await;
    }
}

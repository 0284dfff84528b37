//! A Kisi-like REST server on loopback (see `protocols/kisi.md`).
//!
//! What it serves, all behind `Authorization: KISI-LOGIN <key>` (anything else → 401
//! with Kisi's error body `{"error": ..., "code": "<6 hex>"}`):
//!
//! - `POST /event_sets` (body `{"event_set": {...}}`, §5.2) → an event set object (§5.3).
//!   Limited to one per `event_set_post_interval` per key (1 s like Kisi) → 429.
//! - `GET /event_sets/{id}?limit=&cursor=` → status `in_progress` (no `events`, `cursor`
//!   null) until `set_ready_after` has passed, then `finished` pages of `events` with an
//!   opaque `cursor` that is null on the last page.
//! - `GET /locks`, `GET /controllers` → bare JSON arrays paged by `limit`/`offset` with
//!   `X-Collection-Range: <start>-<end>/<total>` (`*/<total>` when the page is empty).
//! - Every authenticated request counts against `requests_per_sec` per key (5 like
//!   Kisi) → 429 beyond. Requests answered 401/429 do not count.
//!
//! Choices where the brief says UNCONFIRMED:
//! - Event set sort order: oldest first, in generation order (ties keep ledger order).
//! - Interval bounds are half-open, `start <= created_at < end`.
//! - A set is a snapshot of the ledger taken at `POST` time; events generated later
//!   (even inside the interval) are not added.
//! - Page `limit`: default 50, clamped to 1..=250. Cursors are opaque hex strings.
//! - No `Retry-After` or `X-RateLimit-*` headers on 429.
//! - `X-Collection-Range` end is `offset + limit - 1` even past the total, as in the
//!   spec's example (`10-19/15`).
//! - Unauthenticated per-IP limits are not simulated (such requests get 401 anyway).
//!
//! A generator task adds events to a ledger (every event ever generated, for no-loss
//! tests): people badging at the Kisi doors of the shared building (`door_vendor` says
//! which of `DOORS` are Kisi's), unlock → opened → closed, occasional denials, and an
//! alarm (forced open or held open, alternating) `first_alarm_after` start and then
//! every `alarm_every`. Content is deterministic for a seed; timing follows the clock.

use crate::model::Vendor;
use crate::sim::history::{DOORS, Rng, door_vendor, person_name};
use crate::sim::serve::{Served, Skew};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The simulator's wall clock (stamps `created_at`; defaults to `Utc::now`).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

const ORG_ID: i64 = 88;
const HQ_PLACE: (i64, &str, f64, f64) = (4021, "HQ Berlin", 52.5208, 13.4094);
const ANNEX_PLACE: (i64, &str, f64, f64) = (4022, "Annex Berlin", 52.5170, 13.3889);
const MAX_LIMIT: usize = 250;
const MAX_OFFSET: usize = 20_000;

/// How the simulator behaves. `Default` is the demo: real time, 1 badge per 2 s.
#[derive(Clone)]
pub struct KisiSimOptions {
    /// 0 = any free port.
    pub port: u16,
    /// The secret accepted as `KISI-LOGIN <api_key>`.
    pub api_key: String,
    pub seed: u64,
    /// Badge actions per second (each makes 1–3 events). 0 = no live generation.
    pub rate: f64,
    /// When the first alarm-worthy event is raised (≤ 10 s for the demo).
    pub first_alarm_after: Duration,
    /// Rhythm of later alarms.
    pub alarm_every: Duration,
    /// Events generated into the past at start, spread over `backfill_span`.
    pub backfill: usize,
    pub backfill_span: Duration,
    /// How long a new event set stays `in_progress`.
    pub set_ready_after: Duration,
    /// Minimum spacing of `POST /event_sets` per key (Kisi: 1 s).
    pub event_set_post_interval: Duration,
    /// Requests per `rate_window` per key (Kisi: 5 per second).
    pub requests_per_sec: usize,
    /// The sliding window of `requests_per_sec` (1 s like Kisi; tests stretch it so
    /// a slow machine cannot spread their requests past it).
    pub rate_window: Duration,
    /// Indices into `DOORS`; default: those `door_vendor` gives to Kisi.
    pub doors: Vec<usize>,
    pub clock: Clock,
}

impl Default for KisiSimOptions {
    fn default() -> Self {
        KisiSimOptions {
            port: 0,
            api_key: "kisi-sim-secret-0001".to_string(),
            seed: 1,
            rate: 0.5,
            first_alarm_after: Duration::from_secs(5),
            alarm_every: Duration::from_secs(90),
            backfill: 40,
            backfill_span: Duration::from_secs(3600),
            set_ready_after: Duration::from_millis(300),
            event_set_post_interval: Duration::from_secs(1),
            requests_per_sec: 5,
            rate_window: Duration::from_secs(1),
            doors: (0..DOORS.len())
                .filter(|&d| door_vendor(d) == Vendor::Kisi)
                .collect(),
            clock: Arc::new(Utc::now),
        }
    }
}

/// Fault switches, flipped at any time through [`KisiSimHandle::faults`].
#[derive(Debug, Default)]
pub struct KisiFaults {
    /// Every authenticated request → 500.
    pub server_error: AtomicBool,
    /// Every authenticated request → 429.
    pub rate_limited: AtomicBool,
    /// The key is expired/revoked: every request → 401.
    pub key_revoked: AtomicBool,
    /// `GET /event_sets/{id}` pages with events come back as truncated JSON.
    pub malformed_page: AtomicBool,
    /// Each page after the first repeats the previous page's last event.
    pub duplicate_across_pages: AtomicBool,
    /// The generator makes no events.
    pub paused: AtomicBool,
    /// New event sets end up `failed`.
    pub fail_event_sets: AtomicBool,
}

/// One switch of [`KisiFaults`], for [`KisiSimHandle::set_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KisiFault {
    ServerError,
    RateLimited,
    KeyRevoked,
    MalformedPage,
    DuplicateAcrossPages,
    Paused,
    FailEventSets,
}

impl KisiFaults {
    fn flag(&self, f: KisiFault) -> &AtomicBool {
        match f {
            KisiFault::ServerError => &self.server_error,
            KisiFault::RateLimited => &self.rate_limited,
            KisiFault::KeyRevoked => &self.key_revoked,
            KisiFault::MalformedPage => &self.malformed_page,
            KisiFault::DuplicateAcrossPages => &self.duplicate_across_pages,
            KisiFault::Paused => &self.paused,
            KisiFault::FailEventSets => &self.fail_event_sets,
        }
    }

    pub fn set(&self, f: KisiFault, on: bool) {
        self.flag(f).store(on, Ordering::SeqCst);
    }

    pub fn is_on(&self, f: KisiFault) -> bool {
        self.flag(f).load(Ordering::SeqCst)
    }
}

struct LedgerEntry {
    at: DateTime<Utc>,
    event: Value,
}

struct EventSet {
    created: Instant,
    ready_after: Duration,
    failed: bool,
    /// The set object minus `status`, `events`, `cursor`.
    echo: Map<String, Value>,
    events: Vec<Value>,
}

#[derive(Default)]
struct Limits {
    /// Accepted request times per key, last second.
    recent: HashMap<String, VecDeque<Instant>>,
    last_post: HashMap<String, Instant>,
}

struct LockState {
    open: bool,
    unlocked: bool,
    updated_at: DateTime<Utc>,
}

struct Inner {
    opts: KisiSimOptions,
    faults: Arc<KisiFaults>,
    ledger: Mutex<Vec<LedgerEntry>>,
    sets: Mutex<HashMap<u64, EventSet>>,
    next_set: AtomicU64,
    limits: Mutex<Limits>,
    locks: Mutex<HashMap<usize, LockState>>,
    started: DateTime<Utc>,
    /// Requests that passed auth, faults and limits (tests watch progress with it).
    served: AtomicU64,
    /// Added to the clock from now on ([`KisiSimHandle::set_clock_skew`]), in ms.
    skew: Skew,
    /// Events served a second time by [`KisiFault::DuplicateAcrossPages`].
    duplicates_served: AtomicU64,
}

impl Inner {
    /// Kisi's clock: the configured one, skewed.
    fn now(&self) -> DateTime<Utc> {
        (self.opts.clock)() + self.skew.get()
    }
}

/// Starts simulators; see [`KisiSim::start`].
pub struct KisiSim;

impl KisiSim {
    /// Bind 127.0.0.1:`opts.port`, serve, and start the generator.
    pub async fn start(opts: KisiSimOptions) -> std::io::Result<KisiSimHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let started = (opts.clock)();
        let locks = opts
            .doors
            .iter()
            .map(|&d| {
                let st = LockState {
                    open: false,
                    unlocked: false,
                    updated_at: started,
                };
                (d, st)
            })
            .collect();
        let inner = Arc::new(Inner {
            faults: Arc::new(KisiFaults::default()),
            ledger: Mutex::new(Vec::new()),
            sets: Mutex::new(HashMap::new()),
            next_set: AtomicU64::new(9001),
            limits: Mutex::new(Limits::default()),
            locks: Mutex::new(locks),
            started,
            served: AtomicU64::new(0),
            skew: Skew::default(),
            duplicates_served: AtomicU64::new(0),
            opts,
        });

        let mut gen_state = Generator::new(&inner.opts);
        backfill(&inner, &mut gen_state);

        let app = Router::new()
            .route("/event_sets", post(create_event_set))
            .route("/event_sets/{id}", get(get_event_set))
            .route("/locks", get(list_locks))
            .route("/controllers", get(list_controllers))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());

        let generator = tokio::spawn(run_generator(inner.clone(), gen_state));
        let served = Served::start(listener, app, generator)?;
        Ok(KisiSimHandle { inner, served })
    }
}

/// A running simulator. Dropping it stops the server and generator abruptly;
/// [`KisiSimHandle::shutdown`] stops them gracefully.
pub struct KisiSimHandle {
    inner: Arc<Inner>,
    served: Served,
}

impl KisiSimHandle {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The secret to send as `Authorization: KISI-LOGIN <key>`.
    pub fn api_key(&self) -> &str {
        &self.inner.opts.api_key
    }

    pub fn faults(&self) -> Arc<KisiFaults> {
        self.inner.faults.clone()
    }

    pub fn set_fault(&self, f: KisiFault, on: bool) {
        self.inner.faults.set(f, on);
    }

    /// Set Kisi's clock `skew` off the configured clock from now on (events and event
    /// sets are stamped by it, intervals are read against it): a server whose clock is
    /// wrong, or steps back or forward when it is corrected.
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.inner.skew.set(skew);
    }

    /// Events served again by [`KisiFault::DuplicateAcrossPages`] so far.
    pub fn duplicates_served(&self) -> u64 {
        self.inner.duplicates_served.load(Ordering::SeqCst)
    }

    /// Every event generated so far (backfill included), in generation order, exactly
    /// as served.
    pub fn ledger(&self) -> Vec<Value> {
        let ledger = self.inner.ledger.lock().unwrap();
        ledger.iter().map(|e| e.event.clone()).collect()
    }

    pub fn ledger_len(&self) -> usize {
        self.inner.ledger.lock().unwrap().len()
    }

    /// Ledger events with `start <= created_at < end` — what an event set over that
    /// interval (and no filters) created now holds.
    pub fn ledger_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Value> {
        let ledger = self.inner.ledger.lock().unwrap();
        ledger
            .iter()
            .filter(|e| e.at >= start && e.at < end)
            .map(|e| e.event.clone())
            .collect()
    }

    /// Requests answered by an endpoint so far (not the 401s, 429s and fault 500s).
    pub fn requests_served(&self) -> u64 {
        self.inner.served.load(Ordering::SeqCst)
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

fn error(status: StatusCode, message: &str, code: &str) -> Response {
    (status, axum::Json(json!({"error": message, "code": code}))).into_response()
}

fn validation(field: &str, message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"errors": {field: [message]}})),
    )
        .into_response()
}

fn too_many() -> Response {
    error(StatusCode::TOO_MANY_REQUESTS, "Too many requests", "fa4290")
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not found", "fad10e")
}

/// Auth, fault switches and the per-key request limit, in that order.
async fn gate(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("KISI-LOGIN "))
        .map(str::trim)
        .unwrap_or("");
    let faults = &inner.faults;
    if key.is_empty() || key != inner.opts.api_key || faults.is_on(KisiFault::KeyRevoked) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized", "ffa401");
    }
    if faults.is_on(KisiFault::ServerError) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected issue",
            "ffffff",
        );
    }
    if faults.is_on(KisiFault::RateLimited) {
        return too_many();
    }
    {
        let mut limits = inner.limits.lock().unwrap();
        let now = Instant::now();
        let q = limits.recent.entry(key.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= inner.opts.rate_window)
        {
            q.pop_front();
        }
        if q.len() >= inner.opts.requests_per_sec {
            return too_many();
        }
        q.push_back(now);
    }
    inner.served.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

fn json_with_range(items: Vec<Value>, range: String) -> Response {
    let mut resp = axum::Json(Value::Array(items)).into_response();
    if let Ok(v) = HeaderValue::from_str(&range) {
        resp.headers_mut().insert("X-Collection-Range", v);
    }
    resp
}

/// A numeric query parameter; `Err` carries the 422 response, boxed (it is large).
fn param_usize(q: &HashMap<String, String>, name: &str) -> Result<Option<usize>, Box<Response>> {
    match q.get(name) {
        None => Ok(None),
        Some(s) => s
            .parse::<usize>()
            .map(Some)
            .map_err(|_| Box::new(validation(name, "is not a number"))),
    }
}

/// Offset paging (§4): `limit` (default `default_limit`, ≤ 250), `offset` (≤ 20000).
fn offset_page(q: &HashMap<String, String>, all: Vec<Value>, default_limit: usize) -> Response {
    let limit = match param_usize(q, "limit") {
        Ok(l) => l.unwrap_or(default_limit).clamp(1, MAX_LIMIT),
        Err(r) => return *r,
    };
    let offset = match param_usize(q, "offset") {
        Ok(o) => o.unwrap_or(0),
        Err(r) => return *r,
    };
    if offset > MAX_OFFSET {
        return validation("offset", "must be less than or equal to 20000");
    }
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    let range = if items.is_empty() {
        format!("*/{total}")
    } else {
        format!("{}-{}/{}", offset, offset + limit - 1, total)
    };
    json_with_range(items, range)
}

// ---------------------------------------------------------------------------------
// Locks and controllers
// ---------------------------------------------------------------------------------

fn lock_id(door: usize) -> i64 {
    1200 + door as i64
}

fn place(door: usize) -> (i64, &'static str, f64, f64) {
    if door < 16 { HQ_PLACE } else { ANNEX_PLACE }
}

fn controller_index(door: usize) -> usize {
    usize::from(door >= 16)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn lock_json(inner: &Inner, door: usize, st: &LockState) -> Value {
    let (pid, pname, lat, lon) = place(door);
    json!({
        "id": lock_id(door),
        "name": DOORS[door],
        "description": null,
        "place_id": pid,
        "place": {"id": pid, "name": pname, "latitude": lat, "longitude": lon},
        "floor_id": null,
        "order_id": null,
        "online": true,
        "configured": true,
        "open": st.open,
        "unlocked": st.unlocked,
        "locked_down": false,
        "locked_down_since": null,
        "on_scheduled_unlock": false,
        "first_to_arrive_satisfied": false,
        "first_to_arrive_required_until": null,
        "geofence_restriction_enabled": false,
        "geofence_restriction_radius": 100,
        "reader_restriction_enabled": false,
        "time_restriction_enabled": false,
        "time_restriction_time_zone": "Europe/Berlin",
        "created_at": ts(inner.started - chrono::Duration::days(400)),
        "updated_at": ts(st.updated_at),
    })
}

async fn list_locks(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let all: Vec<Value> = {
        let locks = inner.locks.lock().unwrap();
        inner
            .opts
            .doors
            .iter()
            .filter_map(|d| locks.get(d).map(|st| lock_json(&inner, *d, st)))
            .collect()
    };
    offset_page(&q, all, 50)
}

fn controllers_json(inner: &Inner) -> Vec<Value> {
    let mut used: Vec<usize> = inner
        .opts
        .doors
        .iter()
        .map(|&d| controller_index(d))
        .collect();
    used.sort_unstable();
    used.dedup();
    used.into_iter()
        .map(|c| {
            let (pid, pname, ..) = if c == 0 { HQ_PLACE } else { ANNEX_PLACE };
            json!({
                "id": 301 + c as i64,
                "name": if c == 0 { "HQ Controller" } else { "Annex Controller" },
                "description": null,
                "online": true,
                "configured": true,
                "model": "controller-pro-2.0",
                "revision": "2.0",
                "device_id": format!("{:016x}", 0x5eed_0000_u64 + c as u64),
                "token": format!("ctl-token-{c}"),
                "ip_address": format!("10.0.{c}.10"),
                "gateway_ip_address": format!("10.0.{c}.1"),
                "broadcast_ip_address": format!("10.0.{c}.255"),
                "network_interface": "ethernet",
                "network": null,
                "ethernet_mac": format!("00:1b:44:11:3a:{:02x}", c),
                "wifi_mac": null,
                "zone_controller": false,
                "place_id": pid,
                "place": {"id": pid, "resource_type": "Place", "name": pname},
                "created_at": ts(inner.started - chrono::Duration::days(400)),
                "updated_at": ts(inner.started),
            })
        })
        .collect()
}

async fn list_controllers(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    offset_page(&q, controllers_json(&inner), 10)
}

// ---------------------------------------------------------------------------------
// Event sets
// ---------------------------------------------------------------------------------

/// ISO 8601 duration (`P1Y2M10DT2H30M5S`, `P2W`); years = 365 d, months = 30 d.
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut secs: i64 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' => num.push(c),
            _ => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let unit = match (in_time, c) {
                    (false, 'Y') => 365 * 86_400,
                    (false, 'M') => 30 * 86_400,
                    (false, 'W') => 7 * 86_400,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3_600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                secs = secs.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    (any && num.is_empty()).then(|| chrono::Duration::seconds(secs))
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `start/end`, `start/duration` or `duration/end` (§5.2); a bare duration is rejected.
fn parse_interval(s: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (a, b) = s.split_once('/')?;
    let (start, end) = match (parse_instant(a), parse_instant(b)) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + parse_duration(b)?),
        (None, Some(e)) => (e - parse_duration(a)?, e),
        (None, None) => return None,
    };
    (start <= end).then_some((start, end))
}

const ECHO_FIELDS: [&str; 14] = [
    "event_type",
    "event_success",
    "event_actor_type",
    "event_actor_id",
    "event_object_type",
    "event_object_id",
    "event_authenticated_by_type",
    "event_authenticated_by_id",
    "event_place_id",
    "place_id",
    "event_sequence",
    "event_uuid",
    "interval",
    "created_at",
];

/// Whether `ev` passes the set's filters. Comma lists for type, sequence and uuid.
fn matches(filters: &Map<String, Value>, ev: &Value) -> bool {
    let list = |f: &str, field: &str| match filters.get(f).and_then(Value::as_str) {
        None => true,
        Some(l) => {
            let v = ev.get(field).and_then(Value::as_str).unwrap_or("");
            l.split(',').any(|x| x.trim() == v)
        }
    };
    let eq = |f: &str, field: &str| match filters.get(f) {
        None | Some(Value::Null) => true,
        Some(want) => {
            let got = ev.get(field).unwrap_or(&Value::Null);
            got == want
                || (want.as_str().is_some() && want.as_str() == got.as_str())
                || want.to_string().trim_matches('"') == got.to_string().trim_matches('"')
        }
    };
    list("event_type", "type")
        && list("event_sequence", "sequence")
        && list("event_uuid", "uuid")
        && eq("event_success", "success")
        && eq("event_actor_type", "actor_type")
        && eq("event_actor_id", "actor_id")
        && eq("event_object_type", "object_type")
        && eq("event_object_id", "object_id")
        && eq("event_authenticated_by_type", "authenticated_by_type")
        && eq("event_authenticated_by_id", "authenticated_by_id")
        && eq("event_place_id", "place_id")
}

async fn create_event_set(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Endpoint limit: one POST per interval per key.
    {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut limits = inner.limits.lock().unwrap();
        let now = Instant::now();
        if let Some(last) = limits.last_post.get(&key)
            && now.duration_since(*last) < inner.opts.event_set_post_interval
        {
            return too_many();
        }
        limits.last_post.insert(key, now);
    }
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(StatusCode::BAD_REQUEST, "Malformed JSON body", "fa0400"),
        }
    };
    let filters: Map<String, Value> = match parsed.get("event_set") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return validation("event_set", "must be an object"),
    };
    if filters.get("place_id").is_some_and(|v| !v.is_null())
        && filters.get("event_place_id").is_some_and(|v| !v.is_null())
    {
        return validation("place_id", "is mutually exclusive with event_place_id");
    }

    // Snapshot under the ledger lock so nothing stamped before `now` is missed.
    let ledger = inner.ledger.lock().unwrap();
    let now = inner.now();
    let (start, end, interval) = match filters.get("interval") {
        None | Some(Value::Null) => {
            let start = now - chrono::Duration::days(90);
            (start, now, format!("{}/{}", ts(start), ts(now)))
        }
        Some(Value::String(s)) => match parse_interval(s) {
            Some((a, b)) if b - a <= chrono::Duration::days(90) => (a, b, s.clone()),
            Some(_) => return validation("interval", "must not be longer than 90 days"),
            None => return validation("interval", "is invalid"),
        },
        Some(_) => return validation("interval", "is invalid"),
    };
    let events: Vec<Value> = ledger
        .iter()
        .filter(|e| e.at >= start && e.at < end && matches(&filters, &e.event))
        .map(|e| e.event.clone())
        .collect();
    drop(ledger);

    let id = inner.next_set.fetch_add(1, Ordering::SeqCst);
    let mut echo = Map::new();
    echo.insert("id".into(), json!(id));
    for f in ECHO_FIELDS {
        echo.insert(f.into(), filters.get(f).cloned().unwrap_or(Value::Null));
    }
    echo.insert("interval".into(), json!(interval));
    echo.insert("created_at".into(), json!(ts(now)));
    let set = EventSet {
        created: Instant::now(),
        ready_after: inner.opts.set_ready_after,
        failed: inner.faults.is_on(KisiFault::FailEventSets),
        echo,
        events,
    };
    let resp = render_set(&inner, &set, id, 0, 50, false);
    let mut sets = inner.sets.lock().unwrap();
    sets.retain(|_, s| s.created.elapsed() < Duration::from_secs(24 * 3600));
    sets.insert(id, set);
    resp
}

fn encode_cursor(id: u64, offset: usize) -> String {
    hex::encode(format!("{id}:{offset}"))
}

fn decode_cursor(id: u64, c: &str) -> Option<usize> {
    let s = String::from_utf8(hex::decode(c).ok()?).ok()?;
    let (a, b) = s.split_once(':')?;
    (a.parse::<u64>().ok()? == id).then_some(())?;
    b.parse().ok()
}

/// The set object: `in_progress` (no `events`), `failed`, or a `finished` page from
/// `offset` with the next cursor (null at the end).
fn render_set(
    inner: &Inner,
    set: &EventSet,
    id: u64,
    offset: usize,
    limit: usize,
    malformed_ok: bool,
) -> Response {
    let mut obj = set.echo.clone();
    let status = if set.failed {
        "failed"
    } else if set.created.elapsed() < set.ready_after {
        "in_progress"
    } else {
        "finished"
    };
    obj.insert("status".into(), json!(status));
    obj.insert("cursor".into(), Value::Null);
    if status == "finished" {
        let dup = offset > 0 && inner.faults.is_on(KisiFault::DuplicateAcrossPages);
        let from = if dup { offset - 1 } else { offset }.min(set.events.len());
        let to = (offset + limit).min(set.events.len());
        let page: Vec<Value> = set.events[from..to.max(from)].to_vec();
        let repeats = dup && from < offset && !page.is_empty();
        if to < set.events.len() {
            obj.insert("cursor".into(), json!(encode_cursor(id, to)));
        }
        let non_empty = !page.is_empty();
        obj.insert("events".into(), Value::Array(page));
        if malformed_ok && non_empty && inner.faults.is_on(KisiFault::MalformedPage) {
            let text = Value::Object(obj).to_string();
            let cut = &text[..text.len() * 2 / 3];
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(cut.to_string()))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        if repeats {
            inner.duplicates_served.fetch_add(1, Ordering::SeqCst);
        }
    }
    axum::Json(Value::Object(obj)).into_response()
}

async fn get_event_set(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found().await;
    };
    let limit = match param_usize(&q, "limit") {
        Ok(l) => l.unwrap_or(50).clamp(1, MAX_LIMIT),
        Err(r) => return *r,
    };
    let sets = inner.sets.lock().unwrap();
    let Some(set) = sets.get(&id) else {
        return error(StatusCode::NOT_FOUND, "Event set not found", "fa0404");
    };
    let offset = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match decode_cursor(id, c) {
            Some(o) => o,
            None => return validation("cursor", "is invalid"),
        },
    };
    render_set(&inner, set, id, offset, limit, true)
}

// ---------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------

struct Generator {
    rng: Rng,
    seq: u64,
    alarms: u64,
}

impl Generator {
    fn new(opts: &KisiSimOptions) -> Generator {
        Generator {
            rng: Rng::new(opts.seed ^ 0x4b15_1000),
            seq: 0,
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
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// One step's events, minus `created_at` (stamped when they enter the ledger).
fn step(inner: &Inner, g: &mut Generator, alarm: bool) -> Vec<(usize, Value)> {
    let doors = &inner.opts.doors;
    if doors.is_empty() {
        return Vec::new();
    }
    let door = doors[g.rng.below(doors.len() as u64) as usize];
    g.seq += 1;
    let sequence = format!("seq-{:06}", 900_000 + g.seq);
    let person = g.rng.below(120) as usize;
    let mk = |g: &mut Generator, ty: &str, user: bool, success: bool| {
        let uuid = g.uuid();
        let (pid, pname, lat, lon) = place(door);
        let name = person_name(person);
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let (_, action) = ty.split_once('.').unwrap_or(("lock", ty));
        let error = (!success).then_some(("afc496", "Access denied"));
        let message = if user {
            if success {
                format!("{name} unlocked {}", DOORS[door])
            } else {
                format!("{name} was denied access to {}", DOORS[door])
            }
        } else {
            format!("{} {}", DOORS[door], action.replace('_', " "))
        };
        (
            door,
            json!({
                "uuid": uuid,
                "type": ty,
                "action": action,
                "actor_type": if user { json!("User") } else { Value::Null },
                "actor_id": if user { json!(5000 + person as i64) } else { Value::Null },
                "actor_name": if user { json!(name) } else { Value::Null },
                "actor_email": if user { json!(email) } else { Value::Null },
                "authenticated_by_type": if user { json!("Card") } else { Value::Null },
                "authenticated_by_id": if user { json!(4000 + person as i64) } else { Value::Null },
                "authorized_by_type": null,
                "authorized_by_id": null,
                "authorized_by_role_id": null,
                "object_type": "Lock",
                "object_id": lock_id(door),
                "object_name": DOORS[door],
                "object": {
                    "id": lock_id(door),
                    "name": DOORS[door],
                    "description": null,
                    "place_id": pid,
                    "place": {"id": pid, "name": pname, "latitude": lat, "longitude": lon},
                    "online": true,
                    "configured": true,
                    "unlocked": false,
                    "open": false,
                    "locked_down": false,
                    "on_scheduled_unlock": false
                },
                "message": message,
                "success": success,
                "code": null,
                "sequence": sequence,
                "organization_id": ORG_ID,
                "place_id": pid,
                "error_code": error.map(|e| e.0),
                "error_message": error.map(|e| e.1),
            }),
        )
    };
    let mut out = Vec::new();
    if alarm {
        g.alarms += 1;
        if g.alarms % 2 == 1 {
            out.push(mk(g, "lock.opened", false, true));
            out.push(mk(g, "lock.forced_open", false, true));
        } else {
            out.push(mk(g, "lock.unlock", true, true));
            out.push(mk(g, "lock.opened", false, true));
            out.push(mk(g, "lock.held_open", false, true));
        }
        out.push(mk(g, "lock.closed", false, true));
    } else if g.rng.chance(80) {
        out.push(mk(g, "lock.unlock", true, false));
    } else {
        out.push(mk(g, "lock.unlock", true, true));
        out.push(mk(g, "lock.opened", false, true));
        out.push(mk(g, "lock.closed", false, true));
    }
    out
}

/// Stamp and append; `at = None` uses the clock (under the ledger lock).
fn record(inner: &Inner, events: Vec<(usize, Value)>, at: Option<DateTime<Utc>>) {
    let mut ledger = inner.ledger.lock().unwrap();
    let now = at.unwrap_or_else(|| inner.now());
    let now = Utc
        .timestamp_millis_opt(now.timestamp_millis())
        .single()
        .unwrap_or(now);
    let mut locks = inner.locks.lock().unwrap();
    for (door, mut ev) in events {
        ev["created_at"] = json!(ts(now));
        if let Some(st) = locks.get_mut(&door) {
            match ev["type"].as_str() {
                Some("lock.unlock") if ev["success"] == json!(true) => st.unlocked = true,
                Some("lock.opened" | "lock.forced_open" | "lock.held_open") => st.open = true,
                Some("lock.closed") => {
                    st.open = false;
                    st.unlocked = false;
                }
                _ => {}
            }
            st.updated_at = now;
        }
        ledger.push(LedgerEntry { at: now, event: ev });
    }
}

fn backfill(inner: &Inner, g: &mut Generator) {
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
        let evs = step(inner, g, false);
        record(inner, evs, Some(at));
    }
}

async fn run_generator(inner: Arc<Inner>, mut g: Generator) {
    let start = tokio::time::Instant::now();
    let mut next_alarm = start + inner.opts.first_alarm_after;
    let badge_every = (inner.opts.rate > 0.0)
        .then(|| Duration::from_secs_f64((1.0 / inner.opts.rate).clamp(0.0005, 86_400.0)));
    let mut next_badge = badge_every.map(|d| start + d);
    loop {
        let wake = match next_badge {
            Some(b) => b.min(next_alarm),
            None => next_alarm,
        };
        tokio::time::sleep_until(wake).await;
        let now = tokio::time::Instant::now();
        let paused = inner.faults.is_on(KisiFault::Paused);
        if now >= next_alarm {
            if !paused {
                let evs = step(&inner, &mut g, true);
                record(&inner, evs, None);
            }
            next_alarm += inner.opts.alarm_every.max(Duration::from_millis(1));
        }
        if let (Some(b), Some(every)) = (next_badge, badge_every)
            && now >= b
        {
            if !paused {
                let evs = step(&inner, &mut g, false);
                record(&inner, evs, None);
            }
            // Don't try to catch up after a stall: at most one badge per wake.
            next_badge = Some((b + every).max(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::sources::ParseContext;

    fn fast() -> KisiSimOptions {
        KisiSimOptions {
            rate: 400.0,
            first_alarm_after: Duration::from_millis(20),
            alarm_every: Duration::from_millis(100),
            backfill: 30,
            set_ready_after: Duration::ZERO,
            event_set_post_interval: Duration::ZERO,
            requests_per_sec: 10_000,
            ..KisiSimOptions::default()
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn get(sim: &KisiSimHandle, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{}", sim.base_url(), path))
            .header("Authorization", format!("KISI-LOGIN {}", sim.api_key()))
            .send()
            .await
            .unwrap()
    }

    async fn post_set(sim: &KisiSimHandle, body: Value) -> reqwest::Response {
        client()
            .post(format!("{}/event_sets", sim.base_url()))
            .header("Authorization", format!("KISI-LOGIN {}", sim.api_key()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Page a set to the end; `None` if a page didn't parse.
    async fn page_all(sim: &KisiSimHandle, id: u64, limit: usize) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/event_sets/{id}?limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let resp = get(sim, &path).await;
            assert_eq!(resp.status(), 200);
            let v: Value = serde_json::from_str(&resp.text().await.unwrap()).ok()?;
            if v["status"] == "in_progress" {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            assert_eq!(v["status"], "finished");
            out.extend(v["events"].as_array().unwrap().iter().cloned());
            match v["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Some(out),
            }
        }
    }

    fn uuids(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|e| e["uuid"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn auth_is_required() {
        let sim = KisiSim::start(fast()).await.unwrap();
        let url = format!("{}/locks", sim.base_url());
        for auth in [None, Some("KISI-LOGIN wrong"), Some("Bearer x")] {
            let mut req = client().get(&url);
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{auth:?}");
            let body: Value = resp.json().await.unwrap();
            assert!(body["error"].is_string());
            assert_eq!(body["code"].as_str().unwrap().len(), 6);
        }
        assert_eq!(get(&sim, "/locks").await.status(), 200);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn locks_and_controllers_page_with_collection_range() {
        let sim = KisiSim::start(fast()).await.unwrap();
        let n = KisiSimOptions::default().doors.len();
        assert!(n >= 6);
        let resp = get(&sim, "/locks?limit=2&offset=0").await;
        assert_eq!(
            resp.headers()["x-collection-range"],
            format!("0-1/{n}").as_str()
        );
        let page: Vec<Value> = resp.json().await.unwrap();
        assert_eq!(page.len(), 2);
        assert!(page[0]["id"].is_i64() && page[0]["name"].is_string());
        assert!(page[0]["online"].is_boolean() && page[0]["open"].is_boolean());

        let resp = get(&sim, "/locks?limit=10&offset=4").await;
        assert_eq!(
            resp.headers()["x-collection-range"],
            format!("4-13/{n}").as_str()
        );
        assert_eq!(resp.json::<Vec<Value>>().await.unwrap().len(), n - 4);

        let resp = get(&sim, "/locks?offset=100").await;
        assert_eq!(
            resp.headers()["x-collection-range"],
            format!("*/{n}").as_str()
        );
        assert!(resp.json::<Vec<Value>>().await.unwrap().is_empty());

        let resp = get(&sim, "/controllers").await;
        assert_eq!(resp.headers()["x-collection-range"], "0-9/2");
        let ctls: Vec<Value> = resp.json().await.unwrap();
        assert_eq!(ctls.len(), 2);
        assert_eq!(ctls[0]["online"], true);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn event_set_pages_exactly_the_ledger_and_everything_parses() {
        let opts = KisiSimOptions {
            set_ready_after: Duration::from_millis(30),
            ..fast()
        };
        let sim = KisiSim::start(opts).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Whole milliseconds, as the interval string carries them.
        let ms = |t: DateTime<Utc>| parse_instant(&ts(t)).unwrap();
        let start = ms(sim.started_at() - chrono::Duration::minutes(30));
        let end = ms(Utc::now());
        let interval = format!("{}/{}", ts(start), ts(end));
        let resp = post_set(&sim, json!({"event_set": {"interval": interval}})).await;
        assert_eq!(resp.status(), 200);
        let set: Value = resp.json().await.unwrap();
        assert_eq!(set["status"], "in_progress");
        assert!(set.get("events").is_none());
        assert!(set["cursor"].is_null());
        assert_eq!(set["interval"], interval.as_str());
        assert!(set["event_type"].is_null());

        let served = page_all(&sim, set["id"].as_u64().unwrap(), 7)
            .await
            .unwrap();
        let expected = sim.ledger_between(start, end);
        assert!(expected.len() > 20, "{}", expected.len());
        assert_eq!(uuids(&served), uuids(&expected));
        assert_eq!(served, expected);

        let ctx = ParseContext {
            source: "hq-kisi",
            received_at: Utc::now(),
        };
        let mut kinds = std::collections::HashSet::new();
        for ev in &served {
            let e = crate::sources::kisi::parse(&ctx, ev).unwrap();
            assert_ne!(e.kind, EventKind::Other, "{ev}");
            assert!(e.door.is_some());
            kinds.insert(e.kind);
        }
        for k in [
            EventKind::AccessGranted,
            EventKind::DoorOpened,
            EventKind::DoorClosed,
            EventKind::DoorForcedOpen,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing");
        }
        // Everything in the ledger parses too (held-open may only be there).
        for ev in sim.ledger() {
            let e = crate::sources::kisi::parse(&ctx, &ev).unwrap();
            assert_ne!(e.kind, EventKind::Other);
        }

        // A filtered set.
        let resp = post_set(
            &sim,
            json!({"event_set": {"interval": format!("PT2H/{}", ts(end)), "event_type": "lock.unlock", "event_success": false}}),
        )
        .await;
        let set: Value = resp.json().await.unwrap();
        let denied = page_all(&sim, set["id"].as_u64().unwrap(), 50)
            .await
            .unwrap();
        assert!(
            denied
                .iter()
                .all(|e| e["type"] == "lock.unlock" && e["success"] == false)
        );
        let want = sim
            .ledger_between(end - chrono::Duration::hours(2), end)
            .into_iter()
            .filter(|e| e["type"] == "lock.unlock" && e["success"] == false)
            .count();
        assert_eq!(denied.len(), want);

        // Bad intervals.
        for bad in ["PT1H", "2026-01-01T00:00:00Z/P100D", "nonsense"] {
            let resp = post_set(&sim, json!({"event_set": {"interval": bad}})).await;
            assert_eq!(resp.status(), 422, "{bad}");
            assert!(resp.json::<Value>().await.unwrap()["errors"]["interval"].is_array());
        }
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn alarm_comes_first_and_seed_is_deterministic() {
        let sim = KisiSim::start(fast()).await.unwrap();
        let sim2 = KisiSim::start(fast()).await.unwrap();
        // Poll rather than sleep a fixed time: a loaded machine may be slow.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sim.ledger().iter().any(|e| e["type"] == "lock.forced_open") {
            assert!(std::time::Instant::now() < deadline, "no alarm within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Backfill is identical for the same seed.
        let (a, b) = (sim.ledger(), sim2.ledger());
        assert_eq!(uuids(&a[..30]), uuids(&b[..30]));
        let other = KisiSim::start(KisiSimOptions { seed: 99, ..fast() })
            .await
            .unwrap();
        assert_ne!(uuids(&other.ledger()[..5]), uuids(&a[..5]));
        // The default demo raises its first alarm within 10 s.
        assert!(KisiSimOptions::default().first_alarm_after <= Duration::from_secs(10));
    }

    #[tokio::test]
    async fn rate_limits_answer_429() {
        let opts = KisiSimOptions {
            event_set_post_interval: Duration::from_secs(60),
            requests_per_sec: 5,
            rate_window: Duration::from_secs(60),
            ..fast()
        };
        let sim = KisiSim::start(opts).await.unwrap();
        assert_eq!(post_set(&sim, json!({"event_set": {}})).await.status(), 200);
        let resp = post_set(&sim, json!({"event_set": {}})).await;
        assert_eq!(resp.status(), 429);
        assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
        // 2 used; 3 more fit in the second, the 6th is refused.
        for _ in 0..3 {
            assert_eq!(get(&sim, "/locks").await.status(), 200);
        }
        assert_eq!(get(&sim, "/locks").await.status(), 429);
    }

    #[tokio::test]
    async fn fault_switches_are_observable() {
        let sim = KisiSim::start(fast()).await.unwrap();
        let faults = sim.faults();

        sim.set_fault(KisiFault::ServerError, true);
        assert_eq!(get(&sim, "/locks").await.status(), 500);
        sim.set_fault(KisiFault::ServerError, false);

        sim.set_fault(KisiFault::RateLimited, true);
        assert_eq!(get(&sim, "/locks").await.status(), 429);
        sim.set_fault(KisiFault::RateLimited, false);

        faults.key_revoked.store(true, Ordering::SeqCst);
        assert_eq!(get(&sim, "/controllers").await.status(), 401);
        faults.key_revoked.store(false, Ordering::SeqCst);
        assert_eq!(get(&sim, "/controllers").await.status(), 200);

        // Paused: the ledger stops growing.
        sim.set_fault(KisiFault::Paused, true);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let n = sim.ledger_len();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(sim.ledger_len(), n);
        sim.set_fault(KisiFault::Paused, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sim.ledger_len() <= n {
            assert!(
                std::time::Instant::now() < deadline,
                "generation did not resume"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let end = parse_instant(&ts(Utc::now())).unwrap();
        let body = json!({"event_set": {"interval": format!("P1D/{}", ts(end))}});
        let expected = sim.ledger_between(end - chrono::Duration::days(1), end);

        // Duplicates across pages: more items served than unique, same unique set.
        sim.set_fault(KisiFault::DuplicateAcrossPages, true);
        let set: Value = post_set(&sim, body.clone()).await.json().await.unwrap();
        let served = page_all(&sim, set["id"].as_u64().unwrap(), 10)
            .await
            .unwrap();
        sim.set_fault(KisiFault::DuplicateAcrossPages, false);
        let mut unique = uuids(&served);
        assert!(unique.len() > expected.len());
        unique.dedup();
        assert_eq!(unique, uuids(&expected));

        // Malformed pages.
        sim.set_fault(KisiFault::MalformedPage, true);
        assert!(
            page_all(&sim, set["id"].as_u64().unwrap(), 10)
                .await
                .is_none()
        );
        sim.set_fault(KisiFault::MalformedPage, false);
        assert!(
            page_all(&sim, set["id"].as_u64().unwrap(), 10)
                .await
                .is_some()
        );

        // Failed sets.
        sim.set_fault(KisiFault::FailEventSets, true);
        let set: Value = post_set(&sim, body).await.json().await.unwrap();
        assert_eq!(set["status"], "failed");
        let again: Value = get(&sim, &format!("/event_sets/{}", set["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(again["status"], "failed");
        assert!(again.get("events").is_none());
        sim.set_fault(KisiFault::FailEventSets, false);

        assert_eq!(get(&sim, "/event_sets/424242").await.status(), 404);
        sim.shutdown().await;
    }
}

//! A DoorFlow-like REST server on loopback (DoorFlow API 3.0 as in
//! `shared/protocols/doorflow.md`).
//!
//! Serves:
//! - `POST /oauth/token` — `grant_type=refresh_token` (form-encoded; client credentials
//!   in the form or HTTP Basic). Answers a new access token *and a new refresh token*; the
//!   used refresh token stops working (rotation). Errors: 400 `invalid_request` |
//!   `invalid_grant` | `unsupported_grant_type`, 401 `invalid_client`.
//! - `GET /oauth/token/info` — who the Bearer token belongs to.
//! - `GET /api/3/events` — `since`, `n` (default 50, max 1000), `page` (1-based),
//!   `sort=ASC|DESC` (default DESC), `event_codes` (comma list; default admits + rejects,
//!   `level=debug` adds 1–3), `channels` / `door_controllers`. Bare JSON array; headers
//!   `Total`, `Per-Page`, `X-Total-Results`, `X-Page`, `X-Per-Page`. Timestamps carry the
//!   account's local offset (default `+10:00`).
//! - `GET /api/3/events/{id}`, `GET /api/3/channels` (`per_page`, `page`,
//!   `skip_pagination`), `GET /api/3/channels/{id}`.
//!
//! API calls need `Authorization: Bearer <access>`: missing → 401 `unauthorized`,
//! unknown/expired → 401 `invalid_token`.
//!
//! A generator task plays six DoorFlow channels (the DoorFlow doors of the shared
//! building, `history::DOORS`) on a simulated clock: admits/rejects by a day rhythm,
//! exits, a forced (32) or held (33) door within 10 s of the start and then now and then,
//! channel offline/online (3 or 2, then 1), sync cycles (100 → 105/106/107, or 101),
//! auto-unlock shifts (40/41) and the occasional tamper (90/91). Same seed and start time
//! → same events. `speed` scales the simulated clock against the real one.
//!
//! Faults ([`DoorflowFaults`], shared atomics) act on the `/api/3/...` routes only.

use super::history::{DOORS, Rng, person_name};
use super::serve::Skew;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The DoorFlow doors of the shared building (`door % 4 == 3` in `history`).
const CHANNEL_DOORS: [usize; 6] = [3, 7, 11, 15, 19, 23];
const FIRST_CHANNEL_ID: i64 = 4101;
const FIRST_EVENT_ID: i64 = 55001;
const FIRST_PERSON_ID: i64 = 9001;
const PEOPLE: u64 = 120;
const NINETY_DAYS_MS: i64 = 90 * 24 * 3_600_000;

/// Admits and rejects: what `GET /api/3/events` returns without `event_codes`.
pub const DEFAULT_EVENT_CODES: &[i64] = &[
    10, 11, 12, 13, 14, 15, 16, 17, 18, 70, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 71, 72, 73,
];

/// Whether `event_codes` accepts `code` (anything else is a 400).
pub fn allowed_event_code(code: i64) -> bool {
    matches!(code, 1..=3 | 10..=18 | 70 | 20..=29 | 71..=73 | 30..=37 | 40..=42 | 90..=91 | 100..=107 | 220 | 223..=225)
}

/// Every code the `event_codes` filter accepts, in a form ready for the query string.
pub fn all_event_codes_param() -> String {
    (0..=225)
        .filter(|c| allowed_event_code(*c))
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct DoorflowSimOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub seed: u64,
    /// Mean random events per simulated second (follow-ups such as 31 or 105 come extra).
    pub rate: f64,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated clock at start; `None` = now.
    pub start_at: Option<DateTime<Utc>>,
    /// The account's UTC offset, used on every timestamp served (default +10:00).
    pub utc_offset_secs: i32,
    /// Lifetime of access tokens (`expires_in`, default 3600 s).
    pub access_ttl: Duration,
    pub client_id: String,
    pub client_secret: String,
    /// The first refresh token; `None` = generated from the seed.
    pub refresh_token: Option<String>,
    /// Run the generator task. Off: events only come from [`DoorflowSimHandle::generate`].
    pub generate: bool,
}

impl Default for DoorflowSimOptions {
    fn default() -> Self {
        DoorflowSimOptions {
            port: 0,
            seed: 1,
            rate: 0.5,
            speed: 1.0,
            start_at: None,
            utc_offset_secs: 10 * 3600,
            access_ttl: Duration::from_secs(3600),
            client_id: "doorwatch-sim-client".to_string(),
            client_secret: "doorwatch-sim-secret".to_string(),
            refresh_token: None,
            generate: true,
        }
    }
}

/// Fault switches, shared with the running server. Counters mean "the next N API
/// requests"; `u32::MAX` is as good as "until cleared".
#[derive(Debug, Default)]
pub struct DoorflowFaults {
    fail_500: AtomicU32,
    rate_limit: AtomicU32,
    retry_after_secs: AtomicU64,
    malformed: AtomicU32,
    duplicates: AtomicBool,
    paused: AtomicBool,
    token_epoch: AtomicU64,
    oversized: AtomicU32,
    oversized_declared: AtomicBool,
    /// Added to the timestamps of events generated from now on.
    skew: Skew,
    /// Events served a second time by the duplicates switch.
    duplicates_served: AtomicU64,
}

impl DoorflowFaults {
    /// The next `n` API requests answer 500 `internal_server_error`.
    pub fn fail_next(&self, n: u32) {
        self.fail_500.store(n, Ordering::SeqCst);
    }
    /// The next `n` API requests answer 429 with `Retry-After: secs` (and `retry_in`).
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        self.retry_after_secs
            .store(retry_after_secs, Ordering::SeqCst);
        self.rate_limit.store(n, Ordering::SeqCst);
    }
    /// The next `n` events pages are truncated JSON (status 200).
    pub fn malformed_next(&self, n: u32) {
        self.malformed.store(n, Ordering::SeqCst);
    }
    /// The next `n` events pages are 200s whose body never ends (a stream of JSON
    /// filler); with `declared`, they announce a 1 GiB `Content-Length` instead.
    pub fn oversized_next(&self, n: u32, declared: bool) {
        self.oversized_declared.store(declared, Ordering::SeqCst);
        self.oversized.store(n, Ordering::SeqCst);
    }
    /// While on, every events page after the first repeats the previous page's last event.
    pub fn set_duplicates(&self, on: bool) {
        self.duplicates.store(on, Ordering::SeqCst);
    }
    /// Every access token issued so far is expired from now on (refresh tokens stay valid).
    pub fn expire_access_now(&self) {
        self.token_epoch.fetch_add(1, Ordering::SeqCst);
    }
    /// Stamp events generated from now on `skew` off the simulated clock (a DoorFlow
    /// whose clock is wrong, or steps when corrected); `since` reads the stamps.
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.skew.set(skew);
    }
    /// Events served again by [`Self::set_duplicates`] so far.
    pub fn duplicates_served(&self) -> u64 {
        self.duplicates_served.load(Ordering::SeqCst)
    }
    /// Stop (or restart) the generator; the simulated clock stands still meanwhile.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
    /// How many "next N" faults are still waiting to be served (500s, 429s, malformed).
    pub fn pending(&self) -> u32 {
        [
            &self.fail_500,
            &self.rate_limit,
            &self.malformed,
            &self.oversized,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .fold(0, u32::saturating_add)
    }
    /// Clear every counter and switch (pause included).
    pub fn clear(&self) {
        self.fail_500.store(0, Ordering::SeqCst);
        self.rate_limit.store(0, Ordering::SeqCst);
        self.malformed.store(0, Ordering::SeqCst);
        self.oversized.store(0, Ordering::SeqCst);
        self.duplicates.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
        self.skew.set(chrono::Duration::zero());
    }
}

/// Take one from a "next N" counter; true if there was one.
fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// The simulator's entry point.
pub struct DoorflowSim;

impl DoorflowSim {
    pub async fn start(opts: DoorflowSimOptions) -> std::io::Result<DoorflowSimHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let start_ms = opts
            .start_at
            .unwrap_or_else(Utc::now)
            .timestamp_millis()
            .div_euclid(1000)
            * 1000;
        let offset = FixedOffset::east_opt(opts.utc_offset_secs)
            .ok_or_else(|| std::io::Error::other("utc_offset_secs out of range"))?;
        let mut token_rng = Rng::new(opts.seed ^ 0x0d00_2f10_77ab_cdef);
        let refresh = opts
            .refresh_token
            .clone()
            .unwrap_or_else(|| format!("df_rt_{}", token_text(&mut token_rng)));
        let shared = Arc::new(Shared {
            client_id: opts.client_id.clone(),
            client_secret: opts.client_secret.clone(),
            access_ttl: opts.access_ttl,
            faults: Arc::new(DoorflowFaults::default()),
            auth: Mutex::new(Auth {
                refresh: HashSet::from([refresh.clone()]),
                access: HashMap::new(),
                rng: token_rng,
                issued: vec![refresh.clone()],
            }),
            world: Mutex::new(World::new(opts.seed, start_ms, opts.rate, offset)),
            events_requests: AtomicU64::new(0),
            max_served_id: AtomicI64::new(0),
        });
        let cancel = CancellationToken::new();
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/oauth/token/info", get(token_info))
            .route("/api/3/events", get(list_events))
            .route("/api/3/events/{id}", get(get_event))
            .route("/api/3/channels", get(list_channels))
            .route("/api/3/channels/{id}", get(get_channel))
            .fallback(not_found)
            .with_state(shared.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        let generator = opts
            .generate
            .then(|| tokio::spawn(run_generator(shared.clone(), opts.speed, cancel.clone())));
        Ok(DoorflowSimHandle {
            addr,
            shared,
            refresh_token: refresh,
            cancel,
            server: Some(server),
            generator,
        })
    }
}

/// A running simulator. Dropping it stops the server too; [`Self::shutdown`] waits.
pub struct DoorflowSimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    refresh_token: String,
    cancel: CancellationToken,
    server: Option<JoinHandle<()>>,
    generator: Option<JoinHandle<()>>,
}

impl DoorflowSimHandle {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }
    /// The refresh token the simulator started with (spent after its first use).
    pub fn initial_refresh_token(&self) -> &str {
        &self.refresh_token
    }
    pub fn faults(&self) -> Arc<DoorflowFaults> {
        self.shared.faults.clone()
    }
    /// Every event generated so far, oldest first, exactly as served.
    pub fn ledger(&self) -> Vec<Value> {
        self.shared
            .world()
            .ledger
            .iter()
            .map(|e| e.json.clone())
            .collect()
    }
    pub fn ledger_len(&self) -> usize {
        self.shared.world().ledger.len()
    }
    /// The channels as `GET /api/3/channels` shows them.
    pub fn channels(&self) -> Vec<Value> {
        let w = self.shared.world();
        (0..w.channels.len()).map(|i| w.channel_json(i)).collect()
    }
    /// The simulated clock's start.
    pub fn start_at(&self) -> DateTime<Utc> {
        let ms = self.shared.world().start_ms;
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }
    /// Generate the next `n` events now (moving the simulated clock on); returns them.
    pub fn generate(&self, n: usize) -> Vec<Value> {
        let mut w = self.shared.world();
        w.skew_ms = self.shared.faults.skew.ms();
        (0..n).map(|_| w.step()).collect()
    }
    /// Every access and refresh token issued so far (to prove none leaks anywhere).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.auth().issued.clone()
    }
    /// The operator authorises the app again: a fresh refresh token, optionally
    /// revoking every other one (and so every rotation a client holds).
    pub fn authorize_again(&self, revoke_others: bool) -> String {
        let mut auth = self.shared.auth();
        let token = format!("df_rt_{}", token_text(&mut auth.rng));
        if revoke_others {
            auth.refresh.clear();
        }
        auth.refresh.insert(token.clone());
        auth.issued.push(token.clone());
        token
    }
    /// `GET /api/3/events` requests answered so far (faults and 401s not counted).
    pub fn events_requests(&self) -> u64 {
        self.shared.events_requests.load(Ordering::SeqCst)
    }
    /// The highest event id sent in a well-formed events page since the start or the
    /// last [`Self::reset_served`]; 0 if none.
    pub fn max_served_id(&self) -> i64 {
        self.shared.max_served_id.load(Ordering::SeqCst)
    }
    pub fn reset_served(&self) {
        self.shared.max_served_id.store(0, Ordering::SeqCst);
    }
    /// Stop serving and generating; waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(g) = self.generator.take() {
            let _ = g.await;
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }
}

impl Drop for DoorflowSimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Shared {
    client_id: String,
    client_secret: String,
    access_ttl: Duration,
    faults: Arc<DoorflowFaults>,
    auth: Mutex<Auth>,
    world: Mutex<World>,
    /// `GET /api/3/events` requests that got past the faults and the token check.
    events_requests: AtomicU64,
    /// The highest event id sent in a well-formed events page (0 = none yet).
    max_served_id: AtomicI64,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn auth(&self) -> MutexGuard<'_, Auth> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Auth {
    /// Refresh tokens that still work (one, normally).
    refresh: HashSet<String>,
    access: HashMap<String, AccessToken>,
    rng: Rng,
    /// Every access and refresh token handed out, the first refresh token included.
    issued: Vec<String>,
}

struct AccessToken {
    expires: Instant,
    epoch: u64,
    created_at: i64,
}

fn token_text(rng: &mut Rng) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

// ---------------------------------------------------------------------------------------
// The simulated building.

#[derive(Debug, Clone)]
struct Channel {
    id: i64,
    name: &'static str,
    site_id: i64,
    online: bool,
    sync_status: &'static str,
    last_sync_ms: Option<i64>,
    unlocked_shift: bool,
    updated_ms: i64,
}

struct Stored {
    ms: i64,
    code: i64,
    channel: i64,
    json: Value,
}

struct World {
    rng: Rng,
    start_ms: i64,
    /// The simulated "now": the latest event or the generator's clock, whichever is later.
    now_ms: i64,
    /// The time of the latest event, unskewed: events follow each other in time.
    last_ms: i64,
    /// Added to the stamps of new events ([`DoorflowFaults::set_clock_skew`]).
    skew_ms: i64,
    offset: FixedOffset,
    mean_gap_ms: i64,
    next_random_ms: i64,
    next_id: i64,
    channels: Vec<Channel>,
    /// Follow-ups: (due, channel index, code), in no order.
    pending: Vec<(i64, usize, i64)>,
    ledger: Vec<Stored>,
}

impl World {
    fn new(seed: u64, start_ms: i64, rate: f64, offset: FixedOffset) -> World {
        let mut rng = Rng::new(seed);
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.5
        };
        let mean_gap_ms = ((1000.0 / rate) as i64).max(1);
        let channels = CHANNEL_DOORS
            .iter()
            .enumerate()
            .map(|(i, &door)| Channel {
                id: FIRST_CHANNEL_ID + i as i64,
                name: DOORS[door],
                site_id: if door < 16 { 301 } else { 302 },
                online: true,
                sync_status: "ok",
                last_sync_ms: Some(start_ms - 3_600_000 - i as i64 * 60_000),
                unlocked_shift: false,
                updated_ms: start_ms - 86_400_000,
            })
            .collect::<Vec<_>>();
        // A door alarm within 10 s of the start, so a demo shows one at once.
        let first_alarm = start_ms + 1000 + rng.below(8000) as i64;
        let ch = rng.below(channels.len() as u64) as usize;
        let code = if rng.chance(500) { 32 } else { 33 };
        let mut w = World {
            rng,
            start_ms,
            now_ms: start_ms,
            last_ms: i64::MIN,
            skew_ms: 0,
            offset,
            mean_gap_ms,
            next_random_ms: 0,
            next_id: FIRST_EVENT_ID,
            channels,
            pending: vec![(first_alarm, ch, code)],
            ledger: Vec::new(),
        };
        w.later(first_alarm, 5, 60, ch, 31);
        w.next_random_ms = start_ms + w.gap();
        w
    }

    /// Time to the next random event: 0.2–1.8 × the mean gap.
    fn gap(&mut self) -> i64 {
        (self.mean_gap_ms * (200 + self.rng.below(1601) as i64) / 1000).max(1)
    }

    fn next_time(&self) -> i64 {
        self.pending
            .iter()
            .map(|p| p.0)
            .min()
            .map_or(self.next_random_ms, |due| due.min(self.next_random_ms))
    }

    fn later(&mut self, from: i64, min_s: u64, max_s: u64, ch: usize, code: i64) {
        let due = from + (min_s + self.rng.below(max_s - min_s + 1)) as i64 * 1000;
        self.pending.push((due, ch, code));
    }

    /// Generate the next event (a due follow-up first), record it and return it.
    fn step(&mut self) -> Value {
        let due = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.0)
            .map(|(i, p)| (i, p.0));
        let (ms, ch, code, person) = match due {
            Some((i, at)) if at <= self.next_random_ms => {
                let (at, ch, code) = self.pending.swap_remove(i);
                (at, ch, code, None)
            }
            _ => {
                let at = self.next_random_ms;
                self.next_random_ms = at + self.gap();
                let (ch, code, person) = self.random_event(at);
                (at, ch, code, person)
            }
        };
        let ms = ms.max(self.last_ms);
        self.last_ms = ms;
        self.record(ms, ch, code, person)
    }

    /// Pick a random event at `ms` by the building's rhythm.
    fn random_event(&mut self, ms: i64) -> (usize, i64, Option<u64>) {
        let online: Vec<usize> = (0..self.channels.len())
            .filter(|&i| self.channels[i].online)
            .collect();
        if online.is_empty() {
            // Everything is down: the first channel comes back now.
            self.pending.retain(|p| !(p.1 == 0 && p.2 == 1));
            self.later(ms, 1, 3, 0, 100);
            return (0, 1, None);
        }
        let ch = online[self.rng.below(online.len() as u64) as usize];
        let local_hour =
            (ms / 1000 + self.offset.local_minus_utc() as i64).rem_euclid(86_400) / 3600;
        let day = (7..19).contains(&local_hour);
        let person = self.rng.below(PEOPLE);
        let roll = self.rng.below(1000);
        match roll {
            0..=579 => {
                if !day && self.rng.chance(350) {
                    return (ch, 21, Some(person));
                }
                let sub = self.rng.below(100);
                let code = match sub {
                    0..=69 => 10,
                    70..=79 => 11,
                    80..=85 => 17,
                    86..=90 => 18,
                    91..=93 => 15,
                    94..=95 => 12,
                    96..=97 => 14,
                    _ => 70,
                };
                let who = (code != 12 && code != 14).then_some(person);
                (ch, code, who)
            }
            580..=679 => (ch, if self.rng.chance(500) { 13 } else { 30 }, None),
            680..=789 => {
                let code = if !day && self.rng.chance(600) {
                    21
                } else {
                    match self.rng.below(100) {
                        0..=44 => 20,
                        45..=59 => 21,
                        60..=71 => 24,
                        72..=79 => 28,
                        80..=86 => 26,
                        87..=91 => 27,
                        92..=95 => 25,
                        _ => 71,
                    }
                };
                (ch, code, Some(person))
            }
            790..=859 => {
                if self.rng.chance(250) {
                    (ch, 101, None)
                } else {
                    let end = match self.rng.below(100) {
                        0..=79 => 105,
                        80..=91 => 106,
                        _ => 107,
                    };
                    self.later(ms, 3, 40, ch, end);
                    (ch, 100, None)
                }
            }
            860..=889 => {
                if self.channels[ch].unlocked_shift {
                    (ch, 41, None)
                } else {
                    (ch, 40, None)
                }
            }
            890..=919 => {
                let code = if self.rng.chance(500) { 32 } else { 33 };
                self.later(ms, 5, 90, ch, 31);
                (ch, code, None)
            }
            920..=944 => {
                let code = if self.rng.chance(700) { 3 } else { 2 };
                self.later(ms, 10, 180, ch, 1);
                (ch, code, None)
            }
            945..=959 => {
                self.later(ms, 5, 60, ch, 91);
                (ch, 90, None)
            }
            _ => (ch, 10, Some(person)),
        }
    }

    fn record(&mut self, ms: i64, ch: usize, code: i64, person: Option<u64>) -> Value {
        let ms = ms.div_euclid(1000) * 1000;
        let at = self.stamp(ms + self.skew_ms);
        {
            let c = &mut self.channels[ch];
            c.updated_ms = ms;
            match code {
                1 => c.online = true,
                2 | 3 => c.online = false,
                100 => c.sync_status = "syncing",
                101 | 105 => {
                    c.sync_status = "ok";
                    c.last_sync_ms = Some(ms);
                }
                106 | 107 => c.sync_status = "fail",
                40 => c.unlocked_shift = true,
                41 => c.unlocked_shift = false,
                _ => {}
            }
        }
        if code == 1 {
            // Back online: the controller syncs.
            self.later(ms, 1, 5, ch, 100);
            let end = if self.rng.chance(850) { 105 } else { 106 };
            self.later(ms, 10, 45, ch, end);
        }
        let c = &self.channels[ch];
        let (person_id, person_name, credential) = match person {
            Some(p) => {
                let cred = if matches!(code, 11 | 24) {
                    format!("{:04}", 1000 + (p * 7919) % 9000)
                } else {
                    format!("{:08}", 470_000 + p * 37)
                };
                (
                    json!(FIRST_PERSON_ID + p as i64),
                    json!(person_name(p as usize)),
                    json!(cred),
                )
            }
            None => (Value::Null, Value::Null, Value::Null),
        };
        let id = self.next_id;
        self.next_id += 1;
        let v = json!({
            "id": id,
            "event_id": id,
            "event_code": code,
            "event_label": label(code),
            "door_controller_id": c.id,
            "door_controller_name": c.name,
            "channel_id": c.id,
            "channel_name": c.name,
            "person_id": person_id,
            "person_name": person_name,
            "credentials_number": credential,
            "created_at": at,
            "updated_at": at,
        });
        self.now_ms = self.now_ms.max(ms);
        self.ledger.push(Stored {
            ms: ms + self.skew_ms,
            code,
            channel: c.id,
            json: v.clone(),
        });
        v
    }

    fn stamp(&self, ms: i64) -> String {
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or_default()
            .with_timezone(&self.offset)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn channel_json(&self, i: usize) -> Value {
        let c = &self.channels[i];
        let ms_stamp = |ms: Option<i64>| ms.map(|m| self.stamp(m));
        json!({
            "id": c.id,
            "name": c.name,
            "status": if c.online { "online" } else { "offline" },
            "mac_address": format!("00:1b:df:00:{:02x}:{:02x}", i / 2, i % 2),
            "unit": (i % 2) + 1,
            "model": "IPBR-2",
            "model_long": "2 channel IP Controller",
            "serial_number": format!("DF{:06}", 210_000 + i / 2),
            "card_format": "26 bit Wiegand",
            "pin_format": "4 digit",
            "freescale_version": "3.2.1",
            "pic_version": "1.14",
            "reader_device_class_name": "Wiegand",
            "site_id": c.site_id,
            "sync": {
                "status": c.sync_status,
                "last_sync_completed_at": ms_stamp(c.last_sync_ms),
            },
            "mode": {
                "description": if c.unlocked_shift { "unlock" } else { "normal" },
                "relock_at": Value::Null,
                "change_stamp": self.stamp(c.updated_ms),
            },
            "lockdown": Value::Null,
            "auto_unlock": if c.unlocked_shift {
                json!({"id": 7001, "name": "Business hours"})
            } else {
                Value::Null
            },
            "created_at": self.stamp(self.start_ms - 400 * 86_400_000),
            "updated_at": self.stamp(c.updated_ms),
        })
    }
}

fn label(code: i64) -> &'static str {
    match code {
        1 => "Channel started",
        2 => "Channel stopped",
        3 => "Channel contact lost",
        10 => "Admitted (Card/fob)",
        11 => "Admitted (PIN)",
        12 => "Admitted (Manual)",
        13 => "Admitted (Request to exit)",
        14 => "Admitted (Aux)",
        15 => "Admitted (Application)",
        16 => "Admitted (Unlocked)",
        17 => "Admitted (Apple Wallet)",
        18 => "Admitted (Google Wallet)",
        70 => "Admitted (Multi-factor)",
        20 => "Rejected (Unauthorised card/fob)",
        21 => "Rejected (Out of hours)",
        22 => "Rejected (Lockdown)",
        23 => "Rejected (Tamper)",
        24 => "Rejected (Unauthorised PIN)",
        25 => "Rejected (Timeout)",
        26 => "Rejected (Invalid credential type)",
        27 => "Rejected (Unauthorised)",
        28 => "Rejected (Passback detected)",
        29 => "Rejected (Offline)",
        71..=73 => "Rejected (Multi-factor authentication failed)",
        30 => "Request to exit pressed",
        31 => "Door state normal",
        32 => "Door forced open",
        33 => "Door extended open",
        40 => "Automatic unlock shift started",
        41 => "Automatic unlock shift ended",
        90 => "Tamper detected",
        91 => "Tamper restored",
        100 => "Channel sync started",
        101 => "Channel sync not required",
        105 => "Channel sync completed",
        106 => "Channel sync failed",
        107 => "Channel sync timing out",
        _ => "Event",
    }
}

async fn run_generator(shared: Arc<Shared>, speed: f64, cancel: CancellationToken) {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    let mut last = Instant::now();
    let mut active = Duration::ZERO;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        let now = Instant::now();
        let dt = now - last;
        last = now;
        if shared.faults.is_paused() {
            continue;
        }
        active += dt;
        let mut w = shared.world();
        w.skew_ms = shared.faults.skew.ms();
        let target = w.start_ms + (active.as_secs_f64() * speed * 1000.0) as i64;
        let mut budget = 10_000;
        while w.next_time() <= target && budget > 0 {
            w.step();
            budget -= 1;
        }
        w.now_ms = w.now_ms.max(target);
    }
}

// ---------------------------------------------------------------------------------------
// HTTP.

type St = State<Arc<Shared>>;

/// An early answer (an error response), boxed to keep `Result`s small.
type Rejection = Box<Response>;

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "Not found")
}

/// Faults first (429, then 500), then the Bearer token.
fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Rejection> {
    faults(shared)?;
    check_token(shared, headers)
}

fn faults(shared: &Shared) -> Result<(), Rejection> {
    let f = &shared.faults;
    if take(&f.rate_limit) {
        let secs = f.retry_after_secs.load(Ordering::SeqCst);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": "rate_limited",
                        "error_description": "Too many requests, slow down",
                        "description": "Too many requests, slow down",
                        "retry_in": secs})),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Err(Box::new(r));
    }
    if take(&f.fail_500) {
        return Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "Something went wrong (simulated)",
        )));
    }
    Ok(())
}

fn check_token(shared: &Shared, headers: &HeaderMap) -> Result<(), Rejection> {
    let f = &shared.faults;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Err(Box::new(unauthorized(
            "unauthorized",
            "Authorization: Bearer token required",
        )));
    };
    let epoch = f.token_epoch.load(Ordering::SeqCst);
    match shared.auth().access.get(token) {
        Some(t) if t.epoch == epoch && Instant::now() < t.expires => Ok(()),
        Some(_) => Err(Box::new(unauthorized(
            "invalid_token",
            "The access token expired",
        ))),
        None => Err(Box::new(unauthorized(
            "invalid_token",
            "The access token is invalid",
        ))),
    }
}

fn unauthorized(code: &str, description: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, code, description);
    let challenge =
        format!("Bearer realm=\"DoorFlow\", error=\"{code}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?.trim();
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let raw = engines.iter().find_map(|e| e.decode(b64).ok())?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

async fn token(
    State(shared): St,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Expected an application/x-www-form-urlencoded body",
        );
    };
    let Some(grant) = form.get("grant_type") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing grant_type",
        );
    };
    if grant != "refresh_token" && grant != "authorization_code" {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        );
    }
    let creds = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => basic_credentials(&headers),
    };
    match creds {
        Some((id, secret)) if id == shared.client_id && secret == shared.client_secret => {}
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method",
            );
        }
    }
    if grant == "authorization_code" {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The simulator issues no authorization codes: use its refresh token",
        );
    }
    let Some(presented) = form.get("refresh_token") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing refresh_token",
        );
    };
    let epoch = shared.faults.token_epoch.load(Ordering::SeqCst);
    let mut auth = shared.auth();
    if !auth.refresh.remove(presented) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client",
        );
    }
    let access = format!("df_at_{}", token_text(&mut auth.rng));
    let refresh = format!("df_rt_{}", token_text(&mut auth.rng));
    auth.refresh.insert(refresh.clone());
    auth.issued.extend([access.clone(), refresh.clone()]);
    let created_at = Utc::now().timestamp();
    auth.access.insert(
        access.clone(),
        AccessToken {
            expires: Instant::now() + shared.access_ttl,
            epoch,
            created_at,
        },
    );
    let scope = "account.event.access.readonly account.channel.readonly account.site.readonly";
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": shared.access_ttl.as_secs_f64().ceil() as u64,
        "refresh_token": refresh,
        "scope": scope,
        "created_at": created_at,
    }))
    .into_response()
}

async fn token_info(State(shared): St, headers: HeaderMap) -> Response {
    if let Err(r) = check_token(&shared, &headers) {
        return *r;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    let auth = shared.auth();
    let Some(t) = auth.access.get(token) else {
        return unauthorized("invalid_token", "The access token is invalid");
    };
    Json(json!({
        "resource_owner_id": 1,
        "account_id": "simDF1",
        "scope": ["account.event.access.readonly", "account.channel.readonly", "account.site.readonly"],
        "expires_in": t.expires.saturating_duration_since(Instant::now()).as_secs(),
        "application": {"uid": shared.client_id},
        "created_at": t.created_at,
    }))
    .into_response()
}

fn bad_request(description: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", description)
}

fn int_list(text: &str) -> Result<Vec<i64>, Vec<String>> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<i64>() {
            Ok(n) => ok.push(n),
            Err(_) => bad.push(part.to_string()),
        }
    }
    if bad.is_empty() { Ok(ok) } else { Err(bad) }
}

fn parse_since(text: &str) -> Option<i64> {
    // A raw `+` in a query string arrives as a space.
    let text = text.trim().replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

fn positive(q: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, Rejection> {
    match q.get(key).map(|s| s.trim()) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Box::new(bad_request(&format!(
                "`{key}` must be a positive integer, got {s:?}"
            )))),
        },
    }
}

/// A 200 whose body is JSON whitespace without end (or exactly 1 GiB of it, with that
/// `Content-Length`), produced lazily: only what the client reads is ever made.
fn oversized_page(declared: bool) -> Response {
    const CHUNK: usize = 64 * 1024;
    const GIB: u64 = 1 << 30;
    let chunk = axum::body::Bytes::from(vec![b' '; CHUNK]);
    let chunks = if declared {
        GIB / CHUNK as u64
    } else {
        u64::MAX
    };
    let body = futures_util::stream::repeat(Ok::<_, std::convert::Infallible>(chunk))
        .take(usize::try_from(chunks).unwrap_or(usize::MAX));
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    if declared {
        r = r.header(header::CONTENT_LENGTH, GIB);
    }
    r.body(axum::body::Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn paging_headers(r: &mut Response, total: usize, per_page: usize, page: usize) {
    let h = r.headers_mut();
    h.insert("Total", HeaderValue::from(total));
    h.insert("Per-Page", HeaderValue::from(per_page));
    h.insert("X-Total-Results", HeaderValue::from(total));
    h.insert("X-Per-Page", HeaderValue::from(per_page));
    h.insert("X-Page", HeaderValue::from(page));
}

async fn list_events(
    State(shared): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    if take(&shared.faults.oversized) {
        return oversized_page(shared.faults.oversized_declared.load(Ordering::SeqCst));
    }
    shared.events_requests.fetch_add(1, Ordering::SeqCst);
    let n = match positive(&q, "n", 50) {
        Ok(n) => n.min(1000),
        Err(r) => return *r,
    };
    let page = match positive(&q, "page", 1) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let descending = match q.get("sort").map(|s| s.trim().to_ascii_uppercase()) {
        None => true,
        Some(s) if s.is_empty() || s == "DESC" => true,
        Some(s) if s == "ASC" => false,
        Some(s) => return bad_request(&format!("`sort` must be ASC or DESC, got {s:?}")),
    };
    let debug = q.get("level").is_some_and(|l| l.trim() == "debug");
    let codes: HashSet<i64> = match q.get("event_codes").filter(|s| !s.trim().is_empty()) {
        None => DEFAULT_EVENT_CODES.iter().copied().collect(),
        Some(text) => {
            let invalid = match int_list(text) {
                Ok(list) => list
                    .into_iter()
                    .filter(|c| !allowed_event_code(*c))
                    .map(|c| c.to_string())
                    .collect(),
                Err(bad) => bad,
            };
            if !invalid.is_empty() {
                return bad_request(&format!(
                    "The following event codes are not valid for this method: {}",
                    invalid.join(", ")
                ));
            }
            int_list(text).unwrap_or_default().into_iter().collect()
        }
    };
    finish_events(&shared, &q, codes, debug, n, page, descending)
}

fn finish_events(
    shared: &Shared,
    q: &HashMap<String, String>,
    mut codes: HashSet<i64>,
    debug: bool,
    n: usize,
    page: usize,
    descending: bool,
) -> Response {
    if debug {
        codes.extend([1, 2, 3]);
    }
    let channel_filter = match q
        .get("channels")
        .or_else(|| q.get("door_controllers"))
        .map(|s| int_list(s))
    {
        None => None,
        Some(Ok(list)) if list.is_empty() => None,
        Some(Ok(list)) => Some(list.into_iter().collect::<HashSet<_>>()),
        Some(Err(bad)) => return bad_request(&format!("Invalid channel ids: {}", bad.join(", "))),
    };
    let w = shared.world();
    let since = match q.get("since").filter(|s| !s.trim().is_empty()) {
        None => w.now_ms - NINETY_DAYS_MS,
        Some(s) => match parse_since(s) {
            Some(ms) => ms,
            None => return bad_request(&format!("`since` is not an ISO 8601 date-time: {s:?}")),
        },
    };
    let mut matching: Vec<&Stored> = w
        .ledger
        .iter()
        .filter(|e| e.ms >= since && codes.contains(&e.code))
        .filter(|e| {
            channel_filter
                .as_ref()
                .is_none_or(|f| f.contains(&e.channel))
        })
        .collect();
    if descending {
        matching.reverse();
    }
    let total = matching.len();
    let mut start = (page - 1).saturating_mul(n);
    let repeats = page > 1 && shared.faults.duplicates.load(Ordering::SeqCst);
    if repeats {
        start -= 1;
    }
    let items: Vec<&Value> = matching
        .iter()
        .skip(start)
        .take(n)
        .map(|e| &e.json)
        .collect();
    let body = serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_string());
    let max_id = items.iter().filter_map(|e| e["id"].as_i64()).max();
    drop(w);
    let body = if take(&shared.faults.malformed) {
        let cut = (body.len() / 2).max(1);
        body[..cut].to_string()
    } else {
        if let Some(id) = max_id {
            shared.max_served_id.fetch_max(id, Ordering::SeqCst);
        }
        if repeats && start < total {
            shared
                .faults
                .duplicates_served
                .fetch_add(1, Ordering::SeqCst);
        }
        body
    };
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response();
    paging_headers(&mut r, total, n, page);
    r
}

async fn get_event(State(shared): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let w = shared.world();
    let found = id.parse::<i64>().ok().and_then(|id| {
        w.ledger
            .iter()
            .find(|e| e.json["id"].as_i64() == Some(id))
            .map(|e| e.json.clone())
    });
    match found {
        Some(v) => Json(v).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Event not found"),
    }
}

async fn list_channels(
    State(shared): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let per_page = match positive(&q, "per_page", 500) {
        Ok(n) => n.min(1000),
        Err(r) => return *r,
    };
    let page = match positive(&q, "page", 1) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let all = q.get("skip_pagination").is_some_and(|v| v.trim() == "true");
    let site = q.get("site_id").and_then(|s| s.trim().parse::<i64>().ok());
    let w = shared.world();
    let list: Vec<Value> = (0..w.channels.len())
        .filter(|&i| site.is_none_or(|s| w.channels[i].site_id == s))
        .map(|i| w.channel_json(i))
        .collect();
    let total = list.len();
    let items: Vec<Value> = if all {
        list
    } else {
        list.into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect()
    };
    let mut r = Json(items).into_response();
    paging_headers(&mut r, total, per_page, page);
    r
}

async fn get_channel(State(shared): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let w = shared.world();
    match id
        .parse::<i64>()
        .ok()
        .and_then(|id| w.channels.iter().position(|c| c.id == id))
    {
        Some(i) => Json(w.channel_json(i)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Channel not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::sources::{ParseContext, doorflow::parse};

    fn opts() -> DoorflowSimOptions {
        DoorflowSimOptions {
            seed: 7,
            rate: 1.0,
            start_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()),
            generate: false,
            ..DoorflowSimOptions::default()
        }
    }

    async fn login(h: &DoorflowSimHandle, refresh: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/oauth/token", h.base_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", h.client_id()),
                ("client_secret", h.client_secret()),
                ("refresh_token", refresh),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn access(h: &DoorflowSimHandle) -> String {
        let v: Value = login(h, h.initial_refresh_token())
            .await
            .json()
            .await
            .unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn events(
        h: &DoorflowSimHandle,
        token: &str,
        query: &[(&str, &str)],
    ) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/api/3/events", h.base_url()))
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    fn codes_of(list: &[Value]) -> Vec<i64> {
        list.iter()
            .map(|e| e["event_code"].as_i64().unwrap())
            .collect()
    }

    /// All pages of `since=start&sort=ASC&n=n`, until a short page.
    async fn all_pages(h: &DoorflowSimHandle, token: &str, n: usize) -> Vec<Value> {
        let since = h.start_at().to_rfc3339();
        let codes = all_event_codes_param();
        let n_text = n.to_string();
        let mut out = Vec::new();
        for page in 1.. {
            let p = page.to_string();
            let r = events(
                h,
                token,
                &[
                    ("since", &since),
                    ("n", &n_text),
                    ("page", &p),
                    ("sort", "ASC"),
                    ("event_codes", &codes),
                ],
            )
            .await;
            assert_eq!(r.status(), 200);
            let list: Vec<Value> = r.json().await.unwrap();
            let short = list.len() < n;
            out.extend(list);
            if short {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn refresh_tokens_rotate() {
        let h = DoorflowSim::start(opts()).await.unwrap();
        let first = h.initial_refresh_token().to_string();
        let r = login(&h, &first).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        let second = v["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        assert!(v["access_token"].as_str().unwrap().starts_with("df_at_"));
        // The spent refresh token is dead; the new one works once.
        let r = login(&h, &first).await;
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_grant");
        assert_eq!(login(&h, &second).await.status(), 200);
        assert_eq!(login(&h, &second).await.status(), 400);
        // Bad client and bad grant type.
        let c = reqwest::Client::new();
        let url = format!("{}/oauth/token", h.base_url());
        let r = c
            .post(&url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "x"),
                ("client_secret", "y"),
                ("refresh_token", "z"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let r = c
            .post(&url)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        h.shutdown().await;
    }

    #[tokio::test]
    async fn expired_or_unknown_access_is_401_invalid_token() {
        let h = DoorflowSim::start(DoorflowSimOptions {
            access_ttl: Duration::from_millis(150),
            ..opts()
        })
        .await
        .unwrap();
        let v: Value = login(&h, h.initial_refresh_token())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["expires_in"], 1);
        let token = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(events(&h, &token, &[]).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = events(&h, &token, &[]).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert!(body["error_description"].is_string());
        let r = events(&h, "nonsense", &[]).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");
        let r = reqwest::get(format!("{}/api/3/channels", h.base_url()))
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    }

    #[tokio::test]
    async fn default_codes_are_admits_and_rejects_only() {
        let h = DoorflowSim::start(opts()).await.unwrap();
        h.generate(400);
        let ledger_codes = codes_of(&h.ledger());
        assert!(ledger_codes.iter().any(|c| [32, 33].contains(c)));
        let token = access(&h).await;
        let r = events(&h, &token, &[("n", "1000")]).await;
        assert_eq!(r.status(), 200);
        let total: usize = r.headers()["total"].to_str().unwrap().parse().unwrap();
        let list: Vec<Value> = r.json().await.unwrap();
        assert_eq!(total, list.len());
        let expected = ledger_codes
            .iter()
            .filter(|c| DEFAULT_EVENT_CODES.contains(c))
            .count();
        assert_eq!(list.len(), expected);
        assert!(
            codes_of(&list)
                .iter()
                .all(|c| DEFAULT_EVENT_CODES.contains(c))
        );
        // Newest first by default.
        let ids: Vec<i64> = list.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]));
        // Explicit codes bring the alarms.
        let r = events(&h, &token, &[("n", "1000"), ("event_codes", "32,33,90")]).await;
        let list: Vec<Value> = r.json().await.unwrap();
        assert!(!list.is_empty());
        assert!(codes_of(&list).iter().all(|c| [32, 33, 90].contains(c)));
        // level=debug adds channel status.
        let r = events(&h, &token, &[("n", "1000"), ("level", "debug")]).await;
        let list: Vec<Value> = r.json().await.unwrap();
        assert!(codes_of(&list).iter().any(|c| (1..=3).contains(c)));
        // Codes outside the allowed set.
        let r = events(&h, &token, &[("event_codes", "10,999")]).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
        assert_eq!(
            body["error_description"],
            "The following event codes are not valid for this method: 999"
        );
        assert_eq!(
            events(&h, &token, &[("event_codes", "50")]).await.status(),
            400
        );
        assert_eq!(
            events(&h, &token, &[("sort", "sideways")]).await.status(),
            400
        );
    }

    #[tokio::test]
    async fn paging_ascending_returns_exactly_the_ledger_and_parses() {
        let h = DoorflowSim::start(opts()).await.unwrap();
        h.generate(237);
        let token = access(&h).await;
        let got = all_pages(&h, &token, 50).await;
        assert_eq!(got, h.ledger());
        // `since` cuts: events at or after the 100th event's time only.
        let cut = got[100]["created_at"].as_str().unwrap().to_string();
        assert!(cut.ends_with("+10:00"), "{cut}");
        let codes = all_event_codes_param();
        let r = events(
            &h,
            &token,
            &[
                ("since", &cut),
                ("n", "1000"),
                ("sort", "ASC"),
                ("event_codes", &codes),
            ],
        )
        .await;
        let later: Vec<Value> = r.json().await.unwrap();
        assert!(later.len() >= 137 && later.len() < 237);
        assert_eq!(later.last(), got.last());
        // Every event parses, and every code the simulator makes is a mapped one.
        let ctx = ParseContext {
            source: "sim-doorflow",
            received_at: Utc::now(),
        };
        for v in &got {
            let e = parse(&ctx, v).unwrap_or_else(|err| panic!("{v}: {err}"));
            assert_ne!(e.kind, EventKind::Other, "{v}");
            assert_eq!(
                e.door.as_ref().map(|d| d.id.as_str()),
                Some(v["channel_id"].to_string().as_str())
            );
        }
        // The channels list carries status and sync.
        let r = reqwest::Client::new()
            .get(format!("{}/api/3/channels", h.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["total"], "6");
        let channels: Vec<Value> = r.json().await.unwrap();
        assert_eq!(channels.len(), 6);
        for c in &channels {
            assert!(["online", "offline"].contains(&c["status"].as_str().unwrap()));
            assert!(
                ["ok", "fail", "syncing", "pending"]
                    .contains(&c["sync"]["status"].as_str().unwrap())
            );
            assert!(c["sync"].get("last_sync_completed_at").is_some());
            assert!(c["mode"]["description"].is_string());
        }
        assert_eq!(channels, h.channels());
    }

    #[tokio::test]
    async fn same_seed_same_events_and_an_alarm_within_ten_seconds() {
        let a = DoorflowSim::start(opts()).await.unwrap();
        let b = DoorflowSim::start(opts()).await.unwrap();
        assert_eq!(a.generate(300), b.generate(300));
        let start = a.start_at();
        let alarm = a
            .ledger()
            .into_iter()
            .find(|e| [32, 33].contains(&e["event_code"].as_i64().unwrap()))
            .unwrap();
        let at = DateTime::parse_from_rfc3339(alarm["created_at"].as_str().unwrap()).unwrap();
        assert!(at.with_timezone(&Utc) - start <= chrono::Duration::seconds(10));
        // Sync cycles, outages and tamper all show up in a longer run.
        let codes = codes_of(&a.generate(1500));
        for want in [1, 100, 105, 90, 91, 31, 10, 20, 13] {
            assert!(codes.contains(&want), "no code {want}");
        }
        assert!(codes.iter().any(|c| [2, 3].contains(c)));
    }

    #[tokio::test]
    async fn fault_switches_are_observable() {
        let h = DoorflowSim::start(DoorflowSimOptions {
            generate: true,
            speed: 200.0,
            rate: 5.0,
            ..opts()
        })
        .await
        .unwrap();
        let f = h.faults();
        let v: Value = login(&h, h.initial_refresh_token())
            .await
            .json()
            .await
            .unwrap();
        let token = v["access_token"].as_str().unwrap().to_string();
        let refresh = v["refresh_token"].as_str().unwrap().to_string();
        // 500 once, then fine.
        f.fail_next(1);
        let r = events(&h, &token, &[]).await;
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "internal_server_error"
        );
        assert_eq!(events(&h, &token, &[]).await.status(), 200);
        // 429 with Retry-After.
        f.rate_limit_next(1, 7);
        let r = events(&h, &token, &[]).await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        assert_eq!(r.json::<Value>().await.unwrap()["retry_in"], 7);
        // Malformed page: 200 but not JSON.
        f.malformed_next(1);
        let r = events(&h, &token, &[]).await;
        assert_eq!(r.status(), 200);
        assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());
        assert!(
            events(&h, &token, &[])
                .await
                .json::<Vec<Value>>()
                .await
                .is_ok()
        );
        // Expire access now; a refresh mends it.
        f.expire_access_now();
        assert_eq!(events(&h, &token, &[]).await.status(), 401);
        // Pause: the ledger stands still, and grows again after.
        tokio::time::sleep(Duration::from_millis(60)).await;
        f.set_paused(true);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let frozen = h.ledger_len();
        assert!(frozen > 0);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(h.ledger_len(), frozen);
        // Duplicates across pages: ids repeat, none go missing.
        let v: Value = login(&h, &refresh).await.json().await.unwrap();
        let token = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(events(&h, &token, &[]).await.status(), 200);
        f.set_duplicates(true);
        let got = all_pages(&h, &token, 10).await;
        let ids: Vec<i64> = got.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        let unique: HashSet<i64> = ids.iter().copied().collect();
        assert!(unique.len() < ids.len(), "no duplicates served");
        let ledger_ids: HashSet<i64> = h
            .ledger()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        assert_eq!(unique, ledger_ids);
        f.set_duplicates(false);
        f.set_paused(false);
        // Poll rather than sleep a fixed time: a loaded machine may be slow.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while h.ledger_len() <= frozen {
            assert!(
                std::time::Instant::now() < deadline,
                "generation did not resume"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.shutdown().await;
    }
}

//! What every live source shares: the sink that commits batches through the engine,
//! the status board the UI reads, HTTP error classification, and backoff.
//!
//! One engine thread owns the store. Sources run as tokio tasks and hand it
//! [`AppendBatch`]es (events, quarantined payloads and the cursor covering both) through
//! a [`Sink`]; `commit` returns only once the batch is on disk, so a source advances its
//! in-memory cursor strictly after the store did.

use crate::config::{SecretKind, SourceConfig};
use crate::engine::Engine;
use crate::model::{Event, Vendor};
use crate::sources::{self, ParseContext};
use crate::state::CatchUpReport;
use crate::state::inventory::Inventory;
use crate::store::{AppendBatch, QuarantineRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------
// Status

/// Where a source's link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Connecting,
    Live,
    BackingOff,
    /// Stopped for good until an operator fixes something (a rejected token).
    Failed,
    Stopped,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Live => "live",
            LinkState::BackingOff => "backing off",
            LinkState::Failed => "failed",
            LinkState::Stopped => "stopped",
        }
    }
}

/// One source's connection state, as the UI shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    pub vendor: Vendor,
    pub state: LinkState,
    /// Why it is backing off or failed; what it is doing when connecting.
    pub reason: Option<String>,
    /// When the next attempt is due while backing off.
    pub retry_at: Option<DateTime<Utc>>,
    /// `occurred_at` of the newest event this source committed.
    pub last_event_at: Option<DateTime<Utc>>,
    pub stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub changed_at: DateTime<Utc>,
    /// Webhook deliveries verified and committed.
    pub webhooks_accepted: u64,
    /// Webhook deliveries refused (bad or missing signature, stale, too large, no secret).
    pub webhooks_rejected: u64,
    /// What the link went through lately, for the notes of [`SourceStatus::notes`].
    #[serde(default)]
    pub health: SourceHealth,
}

/// The recent history of a link that its state alone forgets: a source back to `live`
/// a second after a 429 storm, a token renewed in the background, a vendor that stopped
/// talking, or one whose clock is off ours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// When (by our clock) the source last stored a new event.
    pub last_stored_at: Option<DateTime<Utc>>,
    /// The latest reason the source backed off or failed, and when.
    pub last_problem: Option<(DateTime<Utc>, String)>,
    /// Credentials the vendor declared expired and the source renewed by itself.
    pub token_renewals: u64,
    /// The vendor's clock minus ours, as its newest timestamps show it (ms).
    pub clock_offset_ms: Option<i64>,
}

/// A live source that stored nothing new for this long says so.
pub const QUIET_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// How long a source back to live still names what it recovered from.
pub const PROBLEM_SHOWN_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// A vendor clock at least this far off ours is named.
pub const CLOCK_NOTE_FROM: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl SourceStatus {
    /// Short notes on the link's recent health, for status lines: `quiet for 45s`,
    /// `recovered 12s ago from rate limited (HTTP 429)`, `token renewed 2×`,
    /// `vendor clock 5m behind`.
    pub fn notes(&self, now: DateTime<Utc>) -> Vec<String> {
        let h = &self.health;
        let mut notes = Vec::new();
        if self.state == LinkState::Live
            && let Some(at) = h.last_stored_at
            && now - at >= QUIET_AFTER
        {
            notes.push(format!("quiet for {}", short_age(now - at)));
        }
        if matches!(self.state, LinkState::Live | LinkState::Connecting)
            && let Some((at, why)) = &h.last_problem
            && now - *at < PROBLEM_SHOWN_FOR
        {
            notes.push(format!("recovered {} ago from {why}", short_age(now - *at)));
        }
        if h.token_renewals > 0 {
            notes.push(format!("token renewed {}×", h.token_renewals));
        }
        if let Some(ms) = h.clock_offset_ms {
            let off = chrono::TimeDelta::milliseconds(ms.abs());
            if off >= CLOCK_NOTE_FROM {
                let side = if ms < 0 { "behind" } else { "ahead" };
                // Measured on arrival, so a little short: round, don't truncate.
                let off = off + chrono::TimeDelta::seconds(30);
                notes.push(format!("vendor clock {} {side}", short_age(off)));
            }
        }
        notes
    }
}

/// `45s`, `3m`, `2h`, `4d`.
fn short_age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Every source's status, shared between the source tasks and whoever displays them.
/// `subscribe` wakes a watcher on each change (the UI redraws on change, not on a timer).
#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<String, SourceStatus>>>,
    version: Arc<watch::Sender<u64>>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            inner: Arc::default(),
            version: Arc::new(watch::channel(0).0),
        }
    }
}

impl StatusBoard {
    pub fn new() -> StatusBoard {
        StatusBoard::default()
    }

    /// A handle for one source, registered as `connecting`.
    pub fn register(&self, name: &str, vendor: Vendor) -> StatusHandle {
        let status = SourceStatus {
            name: name.to_string(),
            vendor,
            state: LinkState::Connecting,
            reason: None,
            retry_at: None,
            last_event_at: None,
            stored: 0,
            duplicates: 0,
            quarantined: 0,
            changed_at: Utc::now(),
            webhooks_accepted: 0,
            webhooks_rejected: 0,
            health: SourceHealth::default(),
        };
        self.lock().insert(name.to_string(), status);
        self.bump();
        StatusHandle {
            board: self.clone(),
            name: name.to_string(),
        }
    }

    /// Forget a source that is no longer configured.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
        self.bump();
    }

    pub fn get(&self, name: &str) -> Option<SourceStatus> {
        self.lock().get(name).cloned()
    }

    /// A handle for a source registered earlier (the webhook receiver counts its
    /// deliveries on the entry the source's own task registered).
    pub fn handle(&self, name: &str) -> Option<StatusHandle> {
        self.lock().contains_key(name).then(|| StatusHandle {
            board: self.clone(),
            name: name.to_string(),
        })
    }

    /// All sources, by name.
    pub fn all(&self) -> Vec<SourceStatus> {
        self.lock().values().cloned().collect()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SourceStatus>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut SourceStatus)) {
        if let Some(s) = self.lock().get_mut(name) {
            f(s);
            s.changed_at = Utc::now();
        }
        self.bump();
    }
}

/// One source's writer on the [`StatusBoard`].
#[derive(Clone)]
pub struct StatusHandle {
    board: StatusBoard,
    name: String,
}

impl StatusHandle {
    pub fn connecting(&self, what: impl Into<String>) {
        let what = what.into();
        self.board.update(&self.name, |s| {
            s.state = LinkState::Connecting;
            s.reason = Some(what);
            s.retry_at = None;
        });
    }

    pub fn live(&self) {
        let unchanged = self
            .board
            .get(&self.name)
            .is_some_and(|s| s.state == LinkState::Live);
        if !unchanged {
            self.board.update(&self.name, |s| {
                s.state = LinkState::Live;
                s.reason = None;
                s.retry_at = None;
            });
        }
    }

    /// Live with a note (`webhooks only`), unless something already failed the source:
    /// a failure set first (no webhook secret) must stay visible.
    pub fn live_unless_failed(&self, note: impl Into<String>) {
        let note = note.into();
        self.board.update(&self.name, |s| {
            if s.state != LinkState::Failed {
                s.state = LinkState::Live;
                s.reason = Some(note);
                s.retry_at = None;
            }
        });
    }

    pub fn webhook_accepted(&self) {
        self.board.update(&self.name, |s| s.webhooks_accepted += 1);
    }

    pub fn webhook_rejected(&self) {
        self.board.update(&self.name, |s| s.webhooks_rejected += 1);
    }

    pub fn backing_off(&self, reason: impl Into<String>, wait: Duration) {
        let reason = reason.into();
        self.board.update(&self.name, |s| {
            s.state = LinkState::BackingOff;
            s.health.last_problem = Some((Utc::now(), reason.clone()));
            s.reason = Some(reason);
            s.retry_at = chrono::Duration::from_std(wait)
                .ok()
                .map(|d| Utc::now() + d);
        });
    }

    pub fn failed(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.board.update(&self.name, |s| {
            s.state = LinkState::Failed;
            s.health.last_problem = Some((Utc::now(), reason.clone()));
            s.reason = Some(reason);
            s.retry_at = None;
        });
    }

    pub fn stopped(&self) {
        self.board.update(&self.name, |s| {
            if s.state != LinkState::Failed {
                s.state = LinkState::Stopped;
                s.retry_at = None;
            }
        });
    }

    /// Count a committed batch.
    pub fn committed(&self, report: &CommitReport) {
        if report.stored == 0 && report.duplicates == 0 && report.quarantined == 0 {
            return;
        }
        self.board.update(&self.name, |s| {
            s.stored += report.stored as u64;
            s.duplicates += report.duplicates as u64;
            s.quarantined += report.quarantined as u64;
            if report.newest > s.last_event_at {
                s.last_event_at = report.newest;
            }
            if report.stored > 0 {
                s.health.last_stored_at = Some(Utc::now());
            }
        });
    }

    /// Count events the vendor sent again that the source dropped itself (a page
    /// repeating the previous one's last item), with the store's duplicates.
    pub fn repeated(&self, n: usize) {
        if n > 0 {
            self.board.update(&self.name, |s| s.duplicates += n as u64);
        }
    }

    /// The vendor said a credential expired and the source renewed it.
    pub fn token_renewed(&self) {
        self.board
            .update(&self.name, |s| s.health.token_renewals += 1);
    }

    /// How far the vendor's clock is off ours, as measured on its newest timestamps
    /// against when they arrived.
    pub fn clock_offset(&self, offset: chrono::TimeDelta) {
        let ms = offset.num_milliseconds();
        let known = self.get().and_then(|s| s.health.clock_offset_ms);
        // Only a change the notes could show is worth waking the console for.
        let worth = known.is_none_or(|k| (k - ms).abs() >= 1_000);
        if worth {
            self.board
                .update(&self.name, |s| s.health.clock_offset_ms = Some(ms));
        }
    }

    pub fn get(&self) -> Option<SourceStatus> {
        self.board.get(&self.name)
    }
}

// ---------------------------------------------------------------------------------
// The sink: batches into the engine

/// What a committed batch did (the engine's report without the events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub stored: usize,
    pub duplicates: usize,
    pub quarantined: usize,
    /// `occurred_at` of the newest event in the batch (stored or duplicate).
    pub newest: Option<DateTime<Utc>>,
}

enum Command {
    /// A batch, whether it must be on disk before the reply, and where to reply.
    Commit(
        AppendBatch,
        bool,
        oneshot::Sender<Result<CommitReport, String>>,
    ),
    Inventory(String, Vendor, Inventory),
    Ack(AckRequest, oneshot::Sender<AckOutcome>),
    CatchUp(String, CatchUpReport),
}

/// An operator's acknowledgement, carried out on the engine thread so that every
/// console hears of it through the same change signal as a commit.
#[derive(Debug, Clone)]
pub struct AckRequest {
    pub alarm: String,
    pub operator: String,
    pub note: String,
}

/// The alarm as acknowledged, why not, or a store failure.
pub type AckOutcome =
    Result<Result<crate::state::alarms::Alarm, crate::state::alarms::AckError>, String>;

/// Where sources hand their batches. Cheap to clone; the engine thread ends when
/// every clone is gone.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Command>,
    /// For rotated credentials only, which must not wait behind queued commits.
    store: Arc<crate::store::Store>,
}

impl Sink {
    /// Commit a batch; returns once it is durable in the store and folded into the
    /// live state and alarms.
    pub async fn commit(&self, batch: AppendBatch) -> anyhow::Result<CommitReport> {
        self.send_commit(batch, false).await
    }

    /// Commit and flush to disk before returning: for batches whose sender is told
    /// "stored" and will not send them again (webhook deliveries, imports).
    pub async fn commit_durable(&self, batch: AppendBatch) -> anyhow::Result<CommitReport> {
        self.send_commit(batch, true).await
    }

    async fn send_commit(&self, batch: AppendBatch, durable: bool) -> anyhow::Result<CommitReport> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Commit(batch, durable, reply))
            .map_err(|_| anyhow::anyhow!("the store has closed"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has closed"))?
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Hand over a listing of the source's doors and controllers (names, lock and
    /// online status). Not stored as events; folded into the live state.
    pub fn inventory(&self, source: &str, vendor: Vendor, inventory: Inventory) {
        let _ = self
            .tx
            .send(Command::Inventory(source.to_string(), vendor, inventory));
    }

    /// Acknowledge an alarm; returns once the acknowledgement is durable.
    pub async fn ack(&self, request: AckRequest) -> anyhow::Result<AckOutcome> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Ack(request, reply))
            .map_err(|_| anyhow::anyhow!("the store has closed"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the store has closed"))
    }

    /// Tell the engine how the source's catch-up of history goes (the console shows it
    /// as progress). Send a page after its batch is committed.
    pub fn catch_up(&self, source: &str, report: CatchUpReport) {
        let _ = self.tx.send(Command::CatchUp(source.to_string(), report));
    }

    /// Persist a rotated credential (see [`crate::store::Store::set_credential`]).
    /// Written straight to the store, not through the engine's queue: the vendor has
    /// spent the old credential, and behind a backlog of commits the new one waited
    /// long enough for a kill -9 to lose the login (crash_safety saw 2 in 22 kills).
    pub async fn save_credential(&self, source: &str, value: Vec<u8>) -> anyhow::Result<()> {
        let (store, source) = (self.store.clone(), source.to_string());
        tokio::task::spawn_blocking(move || store.set_credential(&source, &value))
            .await
            .map_err(|_| anyhow::anyhow!("the store has closed"))?
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The engine, shared between its thread (commits, ticks) and readers such as the
/// console (state, alarms, search, acks). Lock it briefly: commits wait meanwhile.
pub type SharedEngine = Arc<Mutex<Engine>>;

/// Lock the shared engine, surviving a panicked holder (the engine's own state is
/// updated in steps that leave it consistent between events).
pub fn lock_engine(engine: &SharedEngine) -> std::sync::MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

/// The engine thread; `join` gives the engine back once every [`Sink`] is dropped
/// and no reader holds it any more.
pub struct EngineThread {
    handle: std::thread::JoinHandle<()>,
    engine: SharedEngine,
    changed: watch::Receiver<u64>,
}

impl EngineThread {
    pub fn engine(&self) -> SharedEngine {
        self.engine.clone()
    }

    /// Bumped whenever the engine's state or alarms may have changed (a commit, a
    /// listing, an alarm tick that changed something): readers redraw on it.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.clone()
    }

    pub fn join(self) -> anyhow::Result<Engine> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
        // Readers (console tasks, socket clients) let go as they notice the stop.
        let mut engine = self.engine;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match Arc::try_unwrap(engine) {
                Ok(e) => return Ok(e.into_inner().unwrap_or_else(|p| p.into_inner())),
                Err(still_shared) if std::time::Instant::now() < deadline => {
                    engine = still_shared;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => anyhow::bail!("the engine is still in use by a reader"),
            }
        }
    }
}

/// How often the engine lets time pass for the alarm rules (offline grace,
/// escalation) when no batch arrives.
const TICK: Duration = Duration::from_secs(1);

/// Move the engine onto its own thread (sled calls block) and return the sink that
/// feeds it. `on_commit` sees every batch's stored events after they are folded,
/// with the engine still locked.
pub fn spawn_engine(
    engine: Engine,
    on_commit: impl Fn(&Engine, &[Event]) + Send + 'static,
) -> (Sink, EngineThread) {
    let (tx, rx) = mpsc::channel::<Command>();
    let store = engine.store_handle();
    let shared: SharedEngine = Arc::new(Mutex::new(engine));
    let engine = shared.clone();
    let (changed_tx, changed) = watch::channel(0u64);
    let bump = move || changed_tx.send_modify(|v| *v += 1);
    let handle = std::thread::Builder::new()
        .name("doorwatch-engine".into())
        .spawn(move || {
            let mut idle_purge = crate::memory::IdlePurge::default();
            loop {
                let command = rx.recv_timeout(TICK);
                if command.is_ok() {
                    idle_purge.busy();
                }
                match command {
                    Ok(Command::Commit(batch, durable, reply)) => {
                        let newest = batch.events.iter().map(|e| e.occurred_at).max();
                        let mut engine = lock_engine(&engine);
                        // A poller's cursor commits with its events, so a crash that
                        // loses the last seconds (sled writes out every
                        // SLED_FLUSH_EVERY_MS) only makes it read them again. A
                        // webhook's 200 or an import's count is a promise to someone
                        // who will not send again: flushed first.
                        let committed = engine.ingest(batch, Utc::now()).and_then(|r| {
                            if durable {
                                engine.store().flush()?;
                            }
                            Ok(r)
                        });
                        let answer = match committed {
                            Ok(r) => {
                                on_commit(&engine, &r.stored);
                                if !r.stored.is_empty() || r.quarantined > 0 {
                                    bump();
                                }
                                Ok(CommitReport {
                                    stored: r.stored.len(),
                                    duplicates: r.duplicates,
                                    quarantined: r.quarantined,
                                    newest,
                                })
                            }
                            Err(e) => {
                                tracing::error!("store commit failed: {e:#}");
                                Err(format!("{e:#}"))
                            }
                        };
                        drop(engine);
                        let _ = reply.send(answer);
                    }
                    Ok(Command::Inventory(source, vendor, inventory)) => {
                        let changes =
                            lock_engine(&engine).apply_inventory(&source, vendor, &inventory);
                        if !changes.is_empty() {
                            bump();
                        }
                    }
                    Ok(Command::Ack(r, reply)) => {
                        let outcome = lock_engine(&engine)
                            .ack(&r.alarm, &r.operator, &r.note, Utc::now())
                            .map_err(|e| format!("{e:#}"));
                        if matches!(outcome, Ok(Ok(_))) {
                            bump();
                        }
                        let _ = reply.send(outcome);
                    }
                    Ok(Command::CatchUp(source, report)) => {
                        let changes = lock_engine(&engine).catch_up(&source, &report, Utc::now());
                        if !changes.is_empty() {
                            bump();
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        match lock_engine(&engine).tick(Utc::now()) {
                            Ok(changes) if !changes.is_empty() => bump(),
                            Ok(_) => {}
                            Err(e) => tracing::error!("alarm tick failed: {e:#}"),
                        }
                        // A second without a command: give back at once what is
                        // freed, sled's background compaction above all (memory.rs).
                        idle_purge.idle();
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        })
        .expect("spawn the engine thread");
    (
        Sink { tx, store },
        EngineThread {
            handle,
            engine: shared,
            changed,
        },
    )
}

// ---------------------------------------------------------------------------------
// Parsing fetched items into a batch

/// Parse fetched items into events and quarantine records for one batch.
pub fn parse_items(
    source: &str,
    vendor: Vendor,
    items: Vec<Value>,
    received_at: DateTime<Utc>,
) -> (Vec<Event>, Vec<QuarantineRecord>) {
    let ctx = ParseContext {
        source,
        received_at,
    };
    let mut events = Vec::with_capacity(items.len());
    let mut quarantine = Vec::new();
    for parsed in sources::parse_batch(vendor, &ctx, items) {
        match parsed {
            Ok(e) => events.push(e),
            Err(r) => quarantine.push(QuarantineRecord {
                source: source.to_string(),
                vendor,
                received_at,
                error: r.error,
                raw: r.raw,
            }),
        }
    }
    (events, quarantine)
}

/// A payload that is not JSON at all (a truncated page), kept raw.
pub fn quarantine_raw(
    source: &str,
    vendor: Vendor,
    raw: &str,
    error: impl Into<String>,
) -> QuarantineRecord {
    QuarantineRecord {
        source: source.to_string(),
        vendor,
        received_at: Utc::now(),
        error: error.into(),
        raw: raw.to_string(),
    }
}

// ---------------------------------------------------------------------------------
// Errors, HTTP classification and backoff

/// Why a fetch did not work, sorted by what the source should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 429: wait `Retry-After` if the server said, else back off.
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// 401/403: stop this source until the operator fixes the credential.
    #[error("{0}")]
    Unauthorized(String),
    /// 5xx, timeouts, refused connections, dropped streams: back off and retry.
    #[error("{0}")]
    Transient(String),
    /// The store failed or the source is misconfigured: stop.
    #[error("{0}")]
    Fatal(String),
}

impl FetchError {
    pub fn transient(e: impl std::fmt::Display) -> FetchError {
        FetchError::Transient(e.to_string())
    }
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> FetchError {
        // reqwest's Display can include the URL; ours carry no secrets in URLs except
        // PDK's stream URL, which never goes through reqwest.
        let what = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else if e.is_decode() {
            "unreadable response".to_string()
        } else {
            format!("request failed: {}", e.without_url())
        };
        FetchError::Transient(what)
    }
}

/// The `Retry-After` header as a duration (seconds form; an HTTP date is rare for
/// these APIs and falls back to backoff).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Turn a non-success response into the right [`FetchError`]. `auth_hint` finishes
/// the 401 message ("set KISI_API_KEY").
pub async fn check(
    resp: reqwest::Response,
    auth_hint: &str,
) -> Result<reqwest::Response, FetchError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = status.as_u16();
    match code {
        429 => Err(FetchError::RateLimited {
            retry_after: retry_after(resp.headers()),
        }),
        401 | 403 => Err(FetchError::Unauthorized(format!(
            "token rejected (HTTP {code}) — {auth_hint}"
        ))),
        408 | 500..=599 => Err(FetchError::Transient(format!("server error (HTTP {code})"))),
        _ => {
            // A 4xx we did not expect: our request is wrong for this server. Retrying
            // will not help quickly, but a fixed server might: back off.
            let body = text_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
            let body: String = body.chars().take(200).collect();
            Err(FetchError::Transient(format!("HTTP {code}: {body}")))
        }
    }
}

// ---------------------------------------------------------------------------------
// Bounded reads of vendor responses

/// Largest token/OAuth reply read. Real ones are a few KiB.
pub const MAX_AUTH_RESPONSE: usize = 1024 * 1024;

/// Largest body of an unexpected 4xx read for its first 200 characters.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// The body of a 2xx response, at most `limit` bytes. A vendor that sends a 1 GB page
/// or streams without end gets a transient error (the source backs off and says why)
/// instead of exhausting memory. The client's request timeout bounds a slow trickle.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::Transient(format!("response larger than {limit} bytes"));
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// [`read_limited`] as text (invalid UTF-8 is replaced, then quarantined by the caller).
pub async fn text_limited(resp: reqwest::Response, limit: usize) -> Result<String, FetchError> {
    let body = read_limited(resp, limit).await?;
    Ok(match String::from_utf8(body) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// [`read_limited`] as JSON; not JSON is `Transient("unreadable response")`.
pub async fn json_limited(resp: reqwest::Response, limit: usize) -> Result<Value, FetchError> {
    let body = read_limited(resp, limit).await?;
    serde_json::from_slice(&body).map_err(|_| FetchError::Transient("unreadable response".into()))
}

/// Exponential backoff with full jitter: 0.5 s doubling to `max`, each wait drawn
/// from [base/2, base] so a fleet of reconnecting clients spreads out.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Backoff {
            first,
            max,
            attempt: 0,
            seed,
        }
    }

    /// 0.5 s to 30 s, as the PDK brief suggests; right for the REST APIs too.
    pub fn standard() -> Backoff {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }

    pub fn next_wait(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        let base = self.first.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift for the jitter: no need for a crypto RNG here.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = (self.seed % 1000) as f64 / 1000.0;
        base.mul_f64(0.5 + 0.5 * frac)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

// ---------------------------------------------------------------------------------
// Source context and the polling driver

/// Everything a source task gets.
pub struct SourceCtx {
    pub config: SourceConfig,
    pub sink: Sink,
    pub status: StatusHandle,
    /// The cursor saved with the last committed batch (`None` for a new source).
    pub cursor: Option<Vec<u8>>,
    /// A rotated credential saved earlier (DoorFlow's refresh token).
    pub credential: Option<Vec<u8>>,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
}

impl SourceCtx {
    pub fn name(&self) -> &str {
        self.config.name()
    }

    pub fn vendor(&self) -> Vendor {
        self.config.vendor()
    }

    /// The end of a "token rejected" message: which env var to set.
    pub fn auth_hint(&self, kind: SecretKind) -> String {
        let env = match kind {
            SecretKind::Token => self.config.token_env.as_deref(),
            SecretKind::ClientId => self.config.client_id_env.as_deref(),
            SecretKind::ClientSecret => self.config.client_secret_env.as_deref(),
            SecretKind::RefreshToken => self.config.refresh_token_env.as_deref(),
            SecretKind::WebhookSecret => self.config.webhook_secret_env.as_deref(),
        };
        match env {
            Some(var) => format!("set {var}"),
            None => format!("check the inline credentials of source `{}`", self.name()),
        }
    }

    /// Commit a batch and count it on the status board. A store failure stops the
    /// source ([`FetchError::Fatal`]).
    pub async fn commit(&self, batch: AppendBatch) -> Result<CommitReport, FetchError> {
        let report = self
            .sink
            .commit(batch)
            .await
            .map_err(|e| FetchError::Fatal(format!("store: {e:#}")))?;
        self.status.committed(&report);
        Ok(report)
    }

    /// Sleep unless cancelled; false if cancelled.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// The cursor to save with a batch.
    pub fn cursor_entry(&self, cursor: Vec<u8>) -> Option<(String, Vec<u8>)> {
        Some((self.name().to_string(), cursor))
    }
}

/// What one poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Caught up: wait `poll_interval` before the next poll.
    CaughtUp,
    /// More is waiting (a backfill window, a further page): poll again at once.
    More,
}

/// A REST source: one `poll` fetches what is new and commits it with its cursor.
pub trait Poller {
    fn poll(
        &mut self,
        ctx: &SourceCtx,
    ) -> impl std::future::Future<Output = Result<Polled, FetchError>> + Send;
}

/// Run a poller until cancelled or failed: publishes the link state, honours
/// `Retry-After`, backs off on transient errors, stops on a rejected token.
pub async fn drive(ctx: SourceCtx, mut poller: impl Poller) {
    let mut backoff = Backoff::standard();
    ctx.status.connecting(format!("polling {}", ctx.vendor()));
    loop {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let outcome = tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            r = poller.poll(&ctx) => r,
        };
        match outcome {
            Ok(polled) => {
                backoff.reset();
                ctx.status.live();
                if polled == Polled::CaughtUp && !ctx.sleep(ctx.config.poll_interval()).await {
                    break;
                }
            }
            Err(FetchError::RateLimited { retry_after }) => {
                let wait = retry_after.unwrap_or_else(|| backoff.next_wait());
                tracing::info!(source = ctx.name(), ?wait, "rate limited");
                ctx.status.backing_off("rate limited (HTTP 429)", wait);
                if !ctx.sleep(wait).await {
                    break;
                }
            }
            Err(FetchError::Transient(reason)) => {
                let wait = backoff.next_wait();
                tracing::warn!(source = ctx.name(), ?wait, "{reason}");
                ctx.status.backing_off(reason, wait);
                if !ctx.sleep(wait).await {
                    break;
                }
            }
            Err(FetchError::Unauthorized(reason)) | Err(FetchError::Fatal(reason)) => {
                tracing::error!(source = ctx.name(), "stopped: {reason}");
                ctx.status.failed(reason);
                ctx.sink.catch_up(ctx.name(), CatchUpReport::End);
                return;
            }
        }
    }
    // A catch-up the source did not finish is not going on any more.
    ctx.sink.catch_up(ctx.name(), CatchUpReport::End);
    ctx.status.stopped();
}

/// How far a vendor's clock may be off ours, or step (a vendor clock stepped back by
/// NTP, a cloud node stamping with a drifted clock), without an event being lost: an
/// event made at our time `t` carries a vendor time no earlier than `t` minus this.
/// Sources that read by vendor time look back this far (see each source), and a
/// stream's history backfill widens its window by it.
pub fn skew_tolerance() -> chrono::Duration {
    chrono::Duration::minutes(6)
}

/// How often a polled source that cannot see the vendor's clock sweeps back over
/// [`skew_tolerance`] for events stamped behind its cursor.
pub const SKEW_SWEEP_EVERY: Duration = Duration::from_secs(15);

/// How far off ours a vendor's clock is followed (by the sweeps, by PDK's gap
/// backfills); an offset beyond this is most likely stale events, not a clock, and
/// reading that far back is costly.
pub fn max_followed_lag() -> chrono::Duration {
    chrono::Duration::hours(24)
}

/// The sweeps of a poller that reads by vendor time (DoorFlow, Seam): every
/// [`SKEW_SWEEP_EVERY`] one pass reads from [`skew_tolerance`] before what the vendor's
/// clock read when the last complete sweep began. Anything the vendor stamped since
/// is stamped no earlier, whatever the cursor did meanwhile (ran ahead with a clock
/// that later stepped back, or stood still through an outage).
///
/// The vendor's clock is taken as ours plus the offset its newest event showed when a
/// poll reached the present, where it runs behind: a vendor whose clock lags ours by
/// more than the tolerance (a cloud node that kept no time while it was down) would
/// otherwise stamp events before every sweep. Where it runs ahead, ours is the earlier
/// of the two.
#[derive(Debug)]
pub struct SkewSweeps {
    /// When the last sweep began (to space them).
    last: Instant,
    /// The vendor's clock when the last complete sweep began.
    swept_at: DateTime<Utc>,
    /// The vendor's clock when the sweep under way began.
    sweeping: Option<DateTime<Utc>>,
    /// The vendor's clock minus ours, as last measured (zero until then).
    offset: chrono::TimeDelta,
}

impl Default for SkewSweeps {
    fn default() -> SkewSweeps {
        SkewSweeps {
            last: Instant::now(),
            swept_at: Utc::now(),
            sweeping: None,
            offset: chrono::TimeDelta::zero(),
        }
    }
}

impl SkewSweeps {
    /// The vendor's clock now, as far as the sweeps go (never ahead of ours).
    fn vendor_now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset.min(chrono::TimeDelta::zero())
    }

    /// Whether a sweep is due; if so, it begins now.
    pub fn begin_if_due(&mut self) -> bool {
        if self.sweeping.is_some() || self.last.elapsed() < SKEW_SWEEP_EVERY {
            return false;
        }
        self.last = Instant::now();
        self.sweeping = Some(self.vendor_now());
        true
    }

    /// Where a sweep starts (and how far back what was committed must be remembered,
    /// so a sweep stores only what is new).
    pub fn from(&self) -> DateTime<Utc> {
        self.swept_at - skew_tolerance()
    }

    /// A poll reached the present: the sweep under way (if any) is complete, and the
    /// newest event new to it (just made, stamped by the vendor's clock) tells how far
    /// that clock is off ours. Shown in the source's status.
    pub fn reached_present(&mut self, status: &StatusHandle, newest_new: Option<DateTime<Utc>>) {
        if let Some(newest) = newest_new {
            let offset = newest - Utc::now();
            status.clock_offset(offset);
            self.offset = offset.max(-max_followed_lag());
        }
        if let Some(began) = self.sweeping.take() {
            self.swept_at = began;
        }
    }
}

/// Event time at least this far behind is a catch-up worth showing as progress;
/// anything closer is an ordinary poll.
pub fn catch_up_min() -> chrono::Duration {
    chrono::Duration::minutes(10)
}

/// A source's side of catch-up reporting (see [`crate::state::CatchUp`]): one begin,
/// a page per committed batch while it runs, one end.
#[derive(Debug, Default)]
pub struct CatchUpTracker {
    active: bool,
}

impl CatchUpTracker {
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Begin catching up on event time `from..to` unless a catch-up is running.
    pub fn begin(
        &mut self,
        ctx: &SourceCtx,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        total: Option<u64>,
    ) {
        if !self.active {
            self.active = true;
            ctx.sink
                .catch_up(ctx.name(), CatchUpReport::Begin { from, to, total });
        }
    }

    /// A page committed: it covered event time `from..to` with `events` events.
    pub fn page(&self, ctx: &SourceCtx, from: DateTime<Utc>, to: DateTime<Utc>, events: usize) {
        if self.active {
            let events = events as u64;
            ctx.sink
                .catch_up(ctx.name(), CatchUpReport::Page { from, to, events });
        }
    }

    pub fn end(&mut self, ctx: &SourceCtx) {
        if std::mem::take(&mut self.active) {
            ctx.sink.catch_up(ctx.name(), CatchUpReport::End);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let waits: Vec<Duration> = (0..12).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= Duration::from_millis(250) && waits[0] <= Duration::from_millis(500));
        assert!(waits[3] >= Duration::from_secs(2) && waits[3] <= Duration::from_secs(4));
        for w in &waits[8..] {
            assert!(
                *w >= Duration::from_secs(15) && *w <= Duration::from_secs(30),
                "{w:?}"
            );
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(500));
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn status_board_tracks_counts_and_wakes_watchers() {
        let board = StatusBoard::new();
        let mut rx = board.subscribe();
        let h = board.register("hq", Vendor::Kisi);
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        let t = Utc::now();
        h.committed(&CommitReport {
            stored: 3,
            duplicates: 1,
            quarantined: 0,
            newest: Some(t),
        });
        h.live();
        let s = board.get("hq").unwrap();
        assert_eq!((s.stored, s.duplicates, s.state), (3, 1, LinkState::Live));
        assert_eq!(s.last_event_at, Some(t));
        assert!(rx.has_changed().unwrap());
        h.failed("token rejected — set KISI_API_KEY");
        h.stopped();
        assert_eq!(board.get("hq").unwrap().state, LinkState::Failed);
    }

    /// Make the next sweep due, as if [`SKEW_SWEEP_EVERY`] had passed.
    fn sweep_due(s: &mut SkewSweeps) {
        s.last = Instant::now() - SKEW_SWEEP_EVERY;
    }

    #[test]
    fn sweeps_reach_back_from_the_vendors_clock_where_it_lags_ours() {
        let board = StatusBoard::new();
        let h = board.register("df", Vendor::Doorflow);
        let mut sweeps = SkewSweeps::default();
        let tolerance = skew_tolerance();
        assert!(!sweeps.begin_if_due(), "not before the first interval");
        // A vendor on our clock: a sweep reaches back the tolerance from when the
        // last one began.
        sweep_due(&mut sweeps);
        let began = Utc::now();
        assert!(sweeps.begin_if_due());
        assert!(!sweeps.begin_if_due(), "one sweep at a time");
        sweeps.reached_present(&h, Some(Utc::now()));
        let from = sweeps.from();
        assert!(
            from >= began - tolerance - chrono::Duration::seconds(1)
                && from <= began - tolerance + chrono::Duration::seconds(1)
        );
        // A vendor 10 minutes behind: what it makes from now on is stamped 10 minutes
        // back, and a step back of the tolerance on top of that is still found.
        let lag = chrono::Duration::minutes(10);
        sweeps.reached_present(&h, Some(Utc::now() - lag));
        assert_eq!(
            board
                .get("df")
                .unwrap()
                .health
                .clock_offset_ms
                .map(|ms| ms / 60_000),
            Some(-10)
        );
        sweep_due(&mut sweeps);
        let began = Utc::now();
        assert!(sweeps.begin_if_due());
        sweeps.reached_present(&h, None);
        let made_after_began_stamped_back = began - lag - tolerance;
        assert!(sweeps.from() <= made_after_began_stamped_back + chrono::Duration::seconds(1));
        assert!(sweeps.from() >= made_after_began_stamped_back - chrono::Duration::seconds(2));
        // A vendor ahead of us: our clock is the earlier one.
        sweeps.reached_present(&h, Some(Utc::now() + lag));
        sweep_due(&mut sweeps);
        let began = Utc::now();
        assert!(sweeps.begin_if_due());
        sweeps.reached_present(&h, None);
        assert!(sweeps.from() <= began - tolerance + chrono::Duration::seconds(1));
        assert!(sweeps.from() >= began - tolerance - chrono::Duration::seconds(1));
        // Stale events (a day-old newest) are not followed further than a day.
        sweeps.reached_present(&h, Some(Utc::now() - chrono::Duration::days(30)));
        sweep_due(&mut sweeps);
        assert!(sweeps.begin_if_due());
        sweeps.reached_present(&h, None);
        assert!(
            sweeps.from()
                >= Utc::now()
                    - chrono::Duration::hours(24)
                    - tolerance
                    - chrono::Duration::seconds(2)
        );
    }

    #[test]
    fn notes_name_quiet_links_past_trouble_renewals_and_clocks() {
        let board = StatusBoard::new();
        let h = board.register("hq", Vendor::Pdk);
        let notes = |now| board.get("hq").unwrap().notes(now);
        h.live();
        assert!(
            notes(Utc::now()).is_empty(),
            "nothing stored yet: nothing to say"
        );
        h.committed(&CommitReport {
            stored: 1,
            newest: Some(Utc::now()),
            ..CommitReport::default()
        });
        let later = Utc::now() + chrono::Duration::milliseconds(45_500);
        assert_eq!(notes(later), ["quiet for 45s"]);
        h.backing_off("rate limited (HTTP 429)", Duration::from_secs(1));
        assert!(notes(later).is_empty(), "backing off says so itself");
        h.live();
        h.token_renewed();
        h.clock_offset(chrono::Duration::seconds(-299));
        assert_eq!(
            notes(later),
            [
                "quiet for 45s",
                "recovered 45s ago from rate limited (HTTP 429)",
                "token renewed 1×",
                "vendor clock 5m behind"
            ]
        );
        h.clock_offset(chrono::Duration::seconds(2));
        let much_later = Utc::now() + PROBLEM_SHOWN_FOR;
        assert_eq!(notes(much_later), ["quiet for 10m", "token renewed 1×"]);
        h.repeated(2);
        assert_eq!(board.get("hq").unwrap().duplicates, 2);
    }

    #[test]
    fn webhook_counts_land_on_the_existing_entry() {
        let board = StatusBoard::new();
        assert!(board.handle("hq").is_none());
        let own = board.register("hq", Vendor::Seam);
        own.live_unless_failed("webhooks only");
        let hooks = board.handle("hq").unwrap();
        hooks.webhook_accepted();
        hooks.webhook_rejected();
        hooks.webhook_rejected();
        let s = board.get("hq").unwrap();
        assert_eq!((s.webhooks_accepted, s.webhooks_rejected), (1, 2));
        assert_eq!(
            (s.state, s.reason.as_deref()),
            (LinkState::Live, Some("webhooks only"))
        );
        hooks.failed("no webhook secret — set SEAM_WEBHOOK_SECRET");
        own.live_unless_failed("webhooks only");
        assert_eq!(board.get("hq").unwrap().state, LinkState::Failed);
    }
}

//! The live PDK source: system tokens, the Socket.IO stream over a raw WebSocket, and
//! gaps (see `protocols/pdk.md`).
//!
//! One session is: a system token (reused while it has half its life left), the stream
//! URL carrying it (never logged: errors are described without it), the Engine.IO open,
//! `40` and its answer (EIO=4) or the server's own join (EIO=3), `subscribeIsolated`,
//! then frames until the link drops. Server pings are answered (EIO=4) or the client
//! pings (EIO=3); silence beyond `pingInterval + pingTimeout` is a dead link. Events are
//! committed in small time batches ([`ingest`]); `invalidToken` is answered with a
//! fresh token in `renewedToken`, and tokens are renewed before they expire anyway.
//!
//! Between sessions: jittered exponential backoff. The stream never replays what
//! happened while disconnected, so once a new session delivers, the outage is either
//! backfilled from `history_path` (when configured) or recorded as a `source.gap`
//! warning event with its start and end. A restart with a saved cursor treats the
//! downtime the same way.

mod history;
mod ingest;
mod tokens;

use crate::config::SecretKind;
use crate::sources::runtime::{self, Backoff, CatchUpTracker, FetchError, SourceCtx};
use crate::sources::socketio::{
    self, EioVersion, EnginePacket, EngineRules, Heartbeat, SocketPacket, Violation, connect_frame,
    decode_engine, decode_socket, encode_engine, renewed_token_frame, subscribe_frame,
};
use futures_util::{SinkExt, StreamExt};
use history::History;
use ingest::{Cursor, Gap, Ingest, Prepared};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokens::{Token, TokenKeeper};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every topic doorwatch maps (`protocols/pdk.md`, "Topics and meaning").
pub const DEFAULT_TOPICS: &[&str] = &[
    "cloudnode.connected",
    "cloudnode.disconnected",
    "cloudnode.created",
    "cloudnode.deleted",
    "cloudnode.registered",
    "cloudnode.unregistered",
    "device.alarm.forced",
    "device.alarm.forced.cleared",
    "device.alarm.propped.on",
    "device.alarm.propped.off",
    "device.autoopen.on",
    "device.autoopen.off",
    "device.forceopen.on",
    "device.forceopen.off",
    "device.forceclose.on",
    "device.forceclose.off",
    "device.input.dps.opened",
    "device.input.dps.closed",
    "device.input.relay.on",
    "device.input.relay.off",
    "device.input.rex.on",
    "device.input.rex.off",
    "device.request.allowed",
    "device.request.denied",
    "device.request.unknown",
    "endpoint.sync.started",
    "endpoint.sync.finished",
    "endpoint.sync.finished.all",
    "sync.not_synced",
    "sync.synced",
    "liveEvent",
];

const DEFAULT_BASE_URL: &str = "https://systems.pdk.io";
const DEFAULT_AUTH_URL: &str = "https://accounts.pdk.io";
/// TCP + TLS + WebSocket upgrade + Engine.IO open + namespace join.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Under EIO=3 the server joins us to `/` itself; its `40` is waited for this long.
const V3_JOIN_WAIT: Duration = Duration::from_secs(2);
/// Housekeeping (heartbeats, token renewal, backfill retries, the quiet link's
/// cursor). Committing does not wait for it: the runner wakes when the next stream
/// item is due (`Ingest::next_due`).
const TICK: Duration = Duration::from_millis(50);
/// A subscribed link that delivered nothing yet counts as delivering after this long
/// (a quiet system sends no events to prove it).
const CONFIRM_AFTER: Duration = Duration::from_secs(3);
/// How often a live link commits its cursor when no events come.
const CURSOR_EVERY: Duration = Duration::from_secs(2);
const BACKFILL_ATTEMPTS: u32 = 3;
/// Backfill more than the gap on both sides: clocks differ. PDK stamps events with its
/// own clock, which may be off ours by up to the skew tolerance (or have stepped while
/// the link was down), so an event of the gap can carry a time minutes either side of
/// it. Events already stored that the wider window brings again are dropped unstored.
fn backfill_margin_ms() -> i64 {
    runtime::skew_tolerance().num_milliseconds().max(2_000)
}
/// Held events are taken as delivered this long after the first event that followed
/// a renewal.
const THAW_AFTER: Duration = Duration::from_secs(1);

/// Run the source until cancelled or failed.
pub async fn run(ctx: SourceCtx) {
    match Runner::configure(&ctx) {
        Ok(parts) => Runner::assemble(ctx, parts).run().await,
        Err(reason) => {
            tracing::error!(source = ctx.name(), "stopped: {reason}");
            ctx.status.failed(reason);
        }
    }
}

struct Settings {
    base_url: String,
    system_id: String,
    version: EioVersion,
    topics: Vec<String>,
}

struct Parts {
    settings: Settings,
    tokens: TokenKeeper,
    history: Option<History>,
}

/// How a session ended.
enum Ended {
    Cancelled,
    Failed(String),
    Retry {
        reason: String,
        /// The session delivered: the backoff starts over.
        delivered: bool,
        wait: Option<Duration>,
    },
}

impl Ended {
    fn retry(reason: impl Into<String>) -> Ended {
        Ended::Retry {
            reason: reason.into(),
            delivered: false,
            wait: None,
        }
    }

    fn from_fetch(e: FetchError, what: &str) -> Ended {
        match e {
            FetchError::Unauthorized(r) | FetchError::Fatal(r) => Ended::Failed(r),
            FetchError::RateLimited { retry_after } => Ended::Retry {
                reason: format!("{what}: rate limited (HTTP 429)"),
                delivered: false,
                wait: retry_after,
            },
            FetchError::Transient(r) => Ended::retry(format!("{what}: {r}")),
        }
    }
}

fn ms_time(ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(ms)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Sleep until the wall clock reads `at` (epoch ms); at once if it has; for ever if
/// there is no such time.
async fn sleep_until_ms(at: Option<i64>) {
    match at {
        Some(at) => {
            let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await
        }
        None => std::future::pending().await,
    }
}

/// "set PDK_CLIENT_ID and PDK_CLIENT_SECRET", or the inline-credentials hint.
fn credentials_hint(ctx: &SourceCtx) -> String {
    match (
        ctx.config.client_id_env.as_deref(),
        ctx.config.client_secret_env.as_deref(),
    ) {
        (Some(id), Some(secret)) => format!("set {id} and {secret}"),
        _ => {
            let (a, b) = (
                ctx.auth_hint(SecretKind::ClientId),
                ctx.auth_hint(SecretKind::ClientSecret),
            );
            if a == b { a } else { format!("{a}; {b}") }
        }
    }
}

/// A tungstenite error in words, without anything it may quote: its `Display` can
/// include the URL, which carries the token.
fn ws_error_text(e: &tungstenite::Error) -> String {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => "connection closed".into(),
        E::Io(io) => format!("I/O error ({})", io.kind()),
        E::Tls(_) => "TLS error".into(),
        E::Capacity(c) => format!("message too large: {c}"),
        E::Protocol(_) => "WebSocket protocol error".into(),
        E::WriteBufferFull(_) => "write buffer full".into(),
        E::Utf8(_) => "invalid UTF-8 in a frame".into(),
        E::AttackAttempt => "the server looked like an attack attempt".into(),
        E::Url(_) => "invalid stream URL".into(),
        E::Http(resp) => format!("HTTP {} on the WebSocket upgrade", resp.status().as_u16()),
        E::HttpFormat(_) => "malformed HTTP response".into(),
    }
}

/// `Some(output)` of a finished task, clearing the slot; pending while there is none.
async fn join_slot<T>(slot: &mut Option<JoinHandle<T>>) -> Option<T> {
    let result = match slot.as_mut() {
        Some(handle) => handle.await,
        None => return std::future::pending().await,
    };
    *slot = None;
    result.ok()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket with the protocol state both directions are checked against.
struct Link {
    ws: Ws,
    rules: EngineRules,
    heartbeat: Option<Heartbeat>,
    last_rx: Instant,
}

impl Link {
    /// Send a frame, refusing (as a bug) anything the protocol forbids: a ping under
    /// EIO=4, anything before `40`, a `40` under EIO=3.
    async fn send(&mut self, frame: String) -> Result<(), String> {
        let packet = decode_engine(&frame).map_err(|e| format!("bad outgoing frame: {e}"))?;
        self.rules
            .check_outgoing(&packet)
            .map_err(|v| format!("refusing to send: {v}"))?;
        self.ws
            .send(Message::text(frame))
            .await
            .map_err(|e| ws_error_text(&e))
    }

    /// The next text frame before `deadline` (handshake only; pings are answered).
    async fn next_text(&mut self, deadline: tokio::time::Instant) -> Result<String, String> {
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| "timed out during the handshake".to_string())?;
            match msg {
                None => return Err("the stream closed during the handshake".into()),
                Some(Err(e)) => return Err(ws_error_text(&e)),
                Some(Ok(Message::Text(t))) => {
                    self.last_rx = Instant::now();
                    return Ok(t.as_str().to_string());
                }
                Some(Ok(Message::Close(_))) => {
                    return Err("the server closed the connection during the handshake".into());
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Open → `40` → `40{sid}` (EIO=4), or open → the server's `40` (EIO=3).
    async fn handshake(&mut self) -> Result<(), Ended> {
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let frame = self.next_text(deadline).await.map_err(Ended::retry)?;
        let open = decode_engine(&frame).map_err(|e| Ended::retry(format!("handshake: {e}")))?;
        if !matches!(open, EnginePacket::Open { .. }) {
            return Err(Ended::retry(format!(
                "handshake: expected the Engine.IO open packet, got {}",
                open.kind()
            )));
        }
        self.rules
            .check_incoming(&open)
            .map_err(|v| Ended::retry(format!("handshake: {v}")))?;
        self.heartbeat = open.heartbeat();
        let join_deadline = match self.rules.version {
            EioVersion::V4 => {
                self.send(connect_frame()).await.map_err(Ended::retry)?;
                deadline
            }
            EioVersion::V3 => tokio::time::Instant::now() + V3_JOIN_WAIT,
        };
        while !self.rules.is_connected() {
            let frame = match self.next_text(join_deadline).await {
                Ok(f) => f,
                // Socket.IO 2 servers need not confirm the join they made themselves.
                Err(_) if self.rules.version == EioVersion::V3 => return Ok(()),
                Err(e) => return Err(Ended::retry(e)),
            };
            let Ok(packet) = decode_engine(&frame) else {
                continue;
            };
            self.rules
                .check_incoming(&packet)
                .map_err(|v| Ended::retry(format!("handshake: {v}")))?;
            if let Some(reply) = self.rules.heartbeat_reply(&packet) {
                self.send(encode_engine(&reply))
                    .await
                    .map_err(Ended::retry)?;
            }
            if let EnginePacket::Message(m) = &packet
                && let Ok(SocketPacket::ConnectError { data, .. }) = decode_socket(m)
            {
                return Err(Ended::Retry {
                    reason: format!("the stream refused the connection: {}", refusal(&data)),
                    delivered: false,
                    wait: None,
                });
            }
        }
        Ok(())
    }

    fn silent(&self, now: Instant) -> bool {
        self.heartbeat
            .as_ref()
            .is_some_and(|hb| socketio::is_silent(self.last_rx, now, hb))
    }
}

/// A connect error's message, short (it is the server's text, not ours).
fn refusal(data: &Option<Value>) -> String {
    let text = match data {
        Some(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "no reason given".into(),
    };
    text.chars().take(120).collect()
}

type BackfillResult = (Gap, Result<Vec<Value>, FetchError>);

struct Runner {
    ctx: SourceCtx,
    settings: Settings,
    tokens: Arc<tokio::sync::Mutex<TokenKeeper>>,
    history: Option<Arc<History>>,
    ingest: Ingest,
    backfill: Option<JoinHandle<BackfillResult>>,
    backfill_attempts: u32,
    backfill_retry_at: Option<Instant>,
    last_commit: Instant,
    /// A history backfill of a stream gap, shown as a catch-up.
    catch_up: CatchUpTracker,
    /// PDK's clock minus ours, as the newest streamed events showed it.
    vendor_offset_ms: i64,
}

/// What one turn of a session's loop saw.
enum Step {
    Cancel,
    Frame(Option<Result<Message, tungstenite::Error>>),
    Renewed(Option<Result<Token, FetchError>>),
    Backfilled(Option<BackfillResult>),
    Tick,
    /// A stream item waiting to be committed fell due.
    Due,
}

/// A session's own state: what the link is doing about tokens and confirmation.
struct Session {
    link: Link,
    subscribed_at: Instant,
    delivered: bool,
    next_ping: Option<Instant>,
    renewal: Option<JoinHandle<Result<Token, FetchError>>>,
    renew_backoff: Backoff,
    renew_retry_at: Option<Instant>,
    /// An `invalidToken` came while renewing was not allowed yet.
    renew_wanted: bool,
    /// The token the server was last given (in the URL or a `renewedToken`).
    last_sent: Option<Token>,
    renewed_sent_at: Option<Instant>,
    /// The first `invalidToken` of the current episode.
    frozen_since: Option<Instant>,
    thaw_at: Option<Instant>,
}

impl Runner {
    fn configure(ctx: &SourceCtx) -> Result<Parts, String> {
        let c = &ctx.config;
        let base_url = c
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let auth_url = c
            .auth_url
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTH_URL.into());
        let system_id = c
            .system_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                format!(
                    "source `{}` has no system_id: add `system_id = \"...\"` (the PDK system's id)",
                    ctx.name()
                )
            })?;
        let version = EioVersion::from_config(c.engine_io).map_err(|e| e.to_string())?;
        // Check the URL now, with a stand-in token, so a typo fails at once.
        socketio::stream_url(&base_url, &system_id, "check", version)
            .map_err(|e| format!("base_url: {e}"))?;
        let client_id = c.secret(SecretKind::ClientId).map_err(|e| e.message)?;
        let client_secret = c.secret(SecretKind::ClientSecret).map_err(|e| e.message)?;
        let hint = credentials_hint(ctx);
        let history = c.history_path.as_deref().map(|path| History {
            max_response: c.max_response(),
            ..History::new(ctx.http.clone(), &base_url, path, &system_id, hint.clone())
        });
        let tokens = TokenKeeper::new(
            ctx.http.clone(),
            &auth_url,
            &system_id,
            client_id,
            client_secret,
            hint,
        );
        let topics = match &c.topics {
            Some(t) => t.clone(),
            None => DEFAULT_TOPICS.iter().map(|s| s.to_string()).collect(),
        };
        Ok(Parts {
            settings: Settings {
                base_url,
                system_id,
                version,
                topics,
            },
            tokens,
            history,
        })
    }

    fn assemble(ctx: SourceCtx, parts: Parts) -> Runner {
        let saved = ctx.cursor.as_deref().and_then(Cursor::decode);
        let companions = parts.settings.topics.iter().any(|t| t == "liveEvent");
        let mut ingest = Ingest::new(ctx.name(), saved, companions);
        if parts.history.is_some() {
            let back = ctx.config.backfill().as_millis().min(i64::MAX as u128) as i64;
            ingest.look_back(now_ms(), back);
        }
        Runner {
            settings: parts.settings,
            tokens: Arc::new(tokio::sync::Mutex::new(parts.tokens)),
            history: parts.history.map(Arc::new),
            ingest,
            backfill: None,
            backfill_attempts: 0,
            backfill_retry_at: None,
            last_commit: Instant::now(),
            catch_up: CatchUpTracker::default(),
            vendor_offset_ms: 0,
            ctx,
        }
    }

    /// The history window for a gap measured on our clock: on PDK's clock (as far as
    /// it was seen off ours), widened by the skew tolerance both ways.
    fn backfill_window(&self, gap_start_ms: i64, gap_end_ms: i64) -> (i64, i64) {
        let offset = self.vendor_offset_ms;
        (
            gap_start_ms + offset.min(0) - backfill_margin_ms(),
            gap_end_ms + offset.max(0) + backfill_margin_ms(),
        )
    }

    async fn run(mut self) {
        let mut backoff = Backoff::standard();
        loop {
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            match self.session().await {
                Ended::Cancelled => break,
                Ended::Failed(reason) => {
                    tracing::error!(source = self.ctx.name(), "stopped: {reason}");
                    self.ctx.status.failed(reason);
                    if let Some(b) = self.backfill.take() {
                        b.abort();
                    }
                    self.catch_up.end(&self.ctx);
                    return;
                }
                Ended::Retry {
                    reason,
                    delivered,
                    wait,
                } => {
                    if delivered {
                        backoff.reset();
                    }
                    let wait = wait.unwrap_or_else(|| backoff.next_wait());
                    tracing::warn!(source = self.ctx.name(), ?wait, "stream: {reason}");
                    self.ctx.status.backing_off(reason, wait);
                    if !self.ctx.sleep(wait).await {
                        break;
                    }
                }
            }
        }
        if let Some(b) = self.backfill.take() {
            b.abort();
        }
        self.catch_up.end(&self.ctx);
        self.ctx.status.stopped();
    }

    /// Connect, subscribe, and receive until the link drops.
    async fn session(&mut self) -> Ended {
        self.ctx.status.connecting("fetching a PDK system token");
        let token = tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Ended::Cancelled,
            t = async { self.tokens.lock().await.for_connect().await } => t,
        };
        let token = match token {
            Ok(t) => t,
            Err(e) => return Ended::from_fetch(e, "system token"),
        };
        let s = &self.settings;
        let url = match socketio::stream_url(&s.base_url, &s.system_id, token.expose(), s.version) {
            Ok(u) => u,
            Err(e) => return Ended::Failed(format!("base_url: {e}")),
        };
        self.ctx.status.connecting("connecting to the PDK stream");
        // A frame or message over the source's `max_response` ends the connection
        // (with backoff) instead of growing a buffer without bound.
        let limit = self.ctx.config.max_response();
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(ws_config), false);
        let connected = tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Ended::Cancelled,
            r = tokio::time::timeout(CONNECT_TIMEOUT, connect) => r,
        };
        let ws = match connected {
            Err(_) => return Ended::retry("connecting timed out"),
            Ok(Err(e)) => {
                if let tungstenite::Error::Http(resp) = &e
                    && matches!(resp.status().as_u16(), 401 | 403)
                {
                    self.tokens.lock().await.discard_system();
                }
                return Ended::retry(ws_error_text(&e));
            }
            Ok(Ok((ws, _))) => ws,
        };
        let mut link = Link {
            ws,
            rules: EngineRules::new(self.settings.version),
            heartbeat: None,
            last_rx: Instant::now(),
        };
        let handshake = tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Ended::Cancelled,
            r = link.handshake() => r,
        };
        if let Err(ended) = handshake {
            if matches!(&ended, Ended::Retry { reason, .. } if reason.starts_with("the stream refused"))
            {
                self.tokens.lock().await.discard_system();
            }
            return ended;
        }
        if let Err(e) = link.send(subscribe_frame(&self.settings.topics)).await {
            return Ended::retry(e);
        }
        self.ctx.status.live();
        let now = Instant::now();
        let next_ping = (self.settings.version == EioVersion::V3)
            .then(|| {
                link.heartbeat
                    .map(|hb| now + Duration::from_millis(hb.ping_interval_ms))
            })
            .flatten();
        let mut session = Session {
            link,
            subscribed_at: now,
            delivered: false,
            next_ping,
            renewal: None,
            renew_backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            renew_retry_at: None,
            renew_wanted: false,
            last_sent: Some(token),
            renewed_sent_at: None,
            frozen_since: None,
            thaw_at: None,
        };
        let ended = self.receive(&mut session).await;
        if let Some(r) = session.renewal.take() {
            r.abort();
        }
        match ended {
            Ended::Retry { reason, wait, .. } => Ended::Retry {
                reason,
                delivered: session.delivered,
                wait,
            },
            other => other,
        }
    }

    async fn receive(&mut self, s: &mut Session) -> Ended {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.ingest.next_due();
            let step = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => Step::Cancel,
                msg = s.link.ws.next() => Step::Frame(msg),
                r = join_slot(&mut s.renewal) => Step::Renewed(r),
                r = join_slot(&mut self.backfill) => Step::Backfilled(r),
                _ = sleep_until_ms(due), if due.is_some() => Step::Due,
                _ = tick.tick() => Step::Tick,
            };
            let outcome = match step {
                Step::Cancel => {
                    self.finish().await;
                    return Ended::Cancelled;
                }
                Step::Frame(msg) => self.on_frame(s, msg).await,
                Step::Renewed(r) => self.on_renewed(s, r).await,
                Step::Backfilled(r) => self.on_backfilled(r).await,
                Step::Tick => self.on_tick(s).await,
                Step::Due => self.on_due().await,
            };
            if let Err(ended) = outcome {
                return self.lost(s, ended).await;
            }
        }
    }

    /// The link is gone: commit what arrived, and open a gap if it had delivered.
    async fn lost(&mut self, s: &Session, ended: Ended) -> Ended {
        let flushed = self.flush(true).await;
        if let Ended::Failed(_) | Ended::Cancelled = ended {
            return ended;
        }
        if let Err(e) = flushed {
            return e;
        }
        if s.delivered {
            self.ingest.link_lost(now_ms());
        }
        ended
    }

    async fn on_frame(
        &mut self,
        s: &mut Session,
        msg: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), Ended> {
        let text = match msg {
            None => return Err(Ended::retry("the stream closed")),
            Some(Err(e)) => return Err(Ended::retry(ws_error_text(&e))),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) => {
                return Err(Ended::retry("the server closed the connection"));
            }
            Some(Ok(Message::Binary(_))) => {
                s.link.last_rx = Instant::now();
                self.ingest.push_raw(
                    "<binary frame>",
                    "binary frame: PDK does not use binary packets".into(),
                );
                return Ok(());
            }
            Some(Ok(_)) => {
                s.link.last_rx = Instant::now();
                return Ok(());
            }
        };
        s.link.last_rx = Instant::now();
        let now = now_ms();
        if s.delivered {
            self.ingest.heard(now);
        }
        let frame = text.as_str();
        let packet = match decode_engine(frame) {
            Ok(p) => p,
            Err(e) => {
                self.ingest
                    .push_raw(frame, format!("undecodable Engine.IO frame: {e}"));
                return Ok(());
            }
        };
        match s.link.rules.check_incoming(&packet) {
            Ok(()) => {}
            Err(Violation::Malformed(e)) => {
                self.ingest
                    .push_raw(frame, format!("undecodable Socket.IO packet: {e}"));
                return Ok(());
            }
            Err(v) => return Err(Ended::retry(format!("protocol: {v}"))),
        }
        if let Some(reply) = s.link.rules.heartbeat_reply(&packet) {
            s.link
                .send(encode_engine(&reply))
                .await
                .map_err(Ended::retry)?;
        }
        match packet {
            EnginePacket::Close => Err(Ended::retry("the server closed the Engine.IO session")),
            EnginePacket::Message(m) => match decode_socket(&m) {
                Ok(SocketPacket::Event { name, args, .. }) => {
                    self.on_event(s, name, args, now).await;
                    Ok(())
                }
                Ok(SocketPacket::Disconnect { .. }) => {
                    Err(Ended::retry("the server left the namespace"))
                }
                Ok(SocketPacket::ConnectError { data, .. }) => {
                    self.tokens.lock().await.discard_system();
                    Err(Ended::retry(format!(
                        "the stream refused the connection: {}",
                        refusal(&data)
                    )))
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    self.ingest
                        .push_raw(frame, format!("undecodable Socket.IO packet: {e}"));
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    async fn on_event(&mut self, s: &mut Session, name: String, args: Vec<Value>, now: i64) {
        if !s.delivered {
            self.delivering(s, now).await;
        }
        if name == "invalidToken" {
            self.ingest.freeze(now);
            s.frozen_since.get_or_insert_with(Instant::now);
            s.thaw_at = None;
            self.renew(s, false).await;
            return;
        }
        let renewed_since_freeze = s
            .frozen_since
            .is_some_and(|f| s.renewed_sent_at.is_some_and(|r| r > f));
        if renewed_since_freeze && s.thaw_at.is_none() {
            s.thaw_at = Some(Instant::now() + THAW_AFTER);
        }
        let payload = args.into_iter().next().unwrap_or(Value::Null);
        self.ingest.push(now, &name, payload);
    }

    /// The new session delivers: close the open gap, by history or by a gap event.
    async fn delivering(&mut self, s: &mut Session, now: i64) {
        s.delivered = true;
        if self.ingest.confirmed(now).is_some() {
            self.resolve_gap(now).await;
        }
    }

    /// Backfill the open (measured) gap, or record it.
    async fn resolve_gap(&mut self, now: i64) {
        let Some(gap) = self.ingest.gap else {
            return;
        };
        let Some(end) = gap.end_ms else {
            return;
        };
        let Some(history) = self.history.clone() else {
            let prepared = self
                .ingest
                .prepare_gap_event(gap, "no history_path configured", now);
            // A store failure surfaces on the next commit.
            let _ = self.commit(prepared).await;
            return;
        };
        if self.backfill.is_some() {
            return;
        }
        let tokens = self.tokens.clone();
        let (from, to) = self.backfill_window(gap.start_ms, end);
        if let (Some(start), Some(end)) = (ms_time(from), ms_time(to)) {
            self.catch_up.begin(&self.ctx, start, end, None);
        }
        self.backfill_retry_at = None;
        self.backfill = Some(tokio::spawn(async move {
            let token = tokens.lock().await.current().await;
            let mut result = match token {
                Ok(t) => history.fetch(&t, from, to).await,
                Err(e) => Err(e),
            };
            if let Err(FetchError::Unauthorized(_)) = result {
                let fresh = tokens.lock().await.fresh().await;
                result = match fresh {
                    Ok(t) => history.fetch(&t, from, to).await,
                    Err(e) => Err(e),
                };
            }
            (gap, result)
        }));
    }

    async fn on_backfilled(&mut self, r: Option<BackfillResult>) -> Result<(), Ended> {
        self.on_backfilled_only(r).await?;
        // The link may have dropped and come back while this ran.
        self.resolve_gap(now_ms()).await;
        Ok(())
    }

    /// Commit a backfill's result (or the gap event once history gave up).
    async fn on_backfilled_only(&mut self, r: Option<BackfillResult>) -> Result<(), Ended> {
        let now = now_ms();
        let Some((gap, result)) = r else {
            self.backfill_retry_at = Some(Instant::now() + Duration::from_secs(1));
            return Ok(());
        };
        match result {
            Ok(items) => {
                tracing::info!(
                    source = self.ctx.name(),
                    items = items.len(),
                    from = gap.start_ms,
                    to = gap.end_ms,
                    "backfilled a stream gap"
                );
                self.backfill_attempts = 0;
                let count = items.len();
                let prepared = self.ingest.prepare_backfill(items, gap, now);
                self.commit(prepared).await?;
                // History comes in one answer: one page covering the whole gap.
                let window = gap.end_ms.map(|e| self.backfill_window(gap.start_ms, e));
                if let Some((Some(start), Some(end))) =
                    window.map(|(s, e)| (ms_time(s), ms_time(e)))
                {
                    self.catch_up.page(&self.ctx, start, end, count);
                }
                self.catch_up.end(&self.ctx);
            }
            Err(e) => {
                self.backfill_attempts += 1;
                tracing::warn!(
                    source = self.ctx.name(),
                    attempt = self.backfill_attempts,
                    "history backfill failed: {e}"
                );
                if self.backfill_attempts < BACKFILL_ATTEMPTS {
                    let wait = Duration::from_secs(1 << self.backfill_attempts);
                    self.backfill_retry_at = Some(Instant::now() + wait);
                    return Ok(());
                }
                self.backfill_attempts = 0;
                self.catch_up.end(&self.ctx);
                let why = format!("history backfill failed: {e}");
                let prepared = self.ingest.prepare_gap_event(gap, &why, now);
                self.commit(prepared).await?;
            }
        }
        Ok(())
    }

    /// Get a valid token to the server. Answering `invalidToken`: a token fetched
    /// moments ago that the server has not seen yet is sent as is; otherwise a fresh one
    /// is fetched, at most one per backoff step (PDK may send one notice per held event).
    async fn renew(&mut self, s: &mut Session, proactive: bool) {
        let now = Instant::now();
        if s.renewal.is_some() {
            return;
        }
        if s.renew_retry_at.is_some_and(|t| now < t) {
            s.renew_wanted |= !proactive;
            return;
        }
        s.renew_wanted = false;
        if !proactive {
            let recent = self.tokens.try_lock().ok().and_then(|k| k.recent());
            if let Some(token) = recent
                && s.last_sent.as_ref() != Some(&token)
            {
                self.send_renewed(s, token).await;
                return;
            }
            s.renew_retry_at = Some(now + s.renew_backoff.next_wait());
        }
        let tokens = self.tokens.clone();
        s.renewal = Some(tokio::spawn(
            async move { tokens.lock().await.fresh().await },
        ));
    }

    async fn send_renewed(&mut self, s: &mut Session, token: Token) {
        // A failed send shows up as a dead link on the next read.
        let _ = s.link.send(renewed_token_frame(token.expose())).await;
        s.renewed_sent_at = Some(Instant::now());
        s.last_sent = Some(token);
    }

    /// Shutting down: commit what arrived, and a backfill already under way.
    async fn finish(&mut self) {
        if self.flush(true).await.is_err() {
            return;
        }
        if let Some(mut b) = self.backfill.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut b).await {
                Ok(r) => {
                    let _ = self.on_backfilled_only(r.ok()).await;
                }
                Err(_) => b.abort(),
            }
        }
    }

    async fn on_renewed(
        &mut self,
        s: &mut Session,
        r: Option<Result<Token, FetchError>>,
    ) -> Result<(), Ended> {
        match r {
            Some(Ok(token)) => {
                self.send_renewed(s, token).await;
                self.ctx.status.live();
            }
            Some(Err(FetchError::Unauthorized(reason))) | Some(Err(FetchError::Fatal(reason))) => {
                return Err(Ended::Failed(reason));
            }
            // The link stays up, but PDK holds the events of an expired token until
            // a renewal gets through: say so.
            Some(Err(FetchError::RateLimited { retry_after })) => {
                let wait = retry_after.unwrap_or_else(|| s.renew_backoff.next_wait());
                s.renew_retry_at = Some(Instant::now() + wait);
                s.renew_wanted |= s.frozen_since.is_some();
                self.ctx
                    .status
                    .backing_off("token renewal rate limited (HTTP 429)", wait);
            }
            Some(Err(FetchError::Transient(reason))) => {
                let wait = s.renew_backoff.next_wait();
                tracing::warn!(source = self.ctx.name(), ?wait, "token renewal: {reason}");
                s.renew_retry_at = Some(Instant::now() + wait);
                // PDK says `invalidToken` once and holds the events until a renewal
                // gets through: try again after the wait, unasked.
                s.renew_wanted |= s.frozen_since.is_some();
                self.ctx
                    .status
                    .backing_off(format!("token renewal failed: {reason}"), wait);
            }
            None => {
                s.renew_retry_at = Some(Instant::now() + s.renew_backoff.next_wait());
                s.renew_wanted |= s.frozen_since.is_some();
            }
        }
        Ok(())
    }

    async fn on_tick(&mut self, s: &mut Session) -> Result<(), Ended> {
        let now = Instant::now();
        let ms = now_ms();
        if s.link.silent(now) {
            let hb = s
                .link
                .heartbeat
                .map(|h| h.max_silence())
                .unwrap_or_default();
            return Err(Ended::retry(format!(
                "no heartbeat for {:.0} s",
                hb.as_secs_f64()
            )));
        }
        if let (Some(at), Some(hb)) = (s.next_ping, s.link.heartbeat)
            && now >= at
        {
            s.link
                .send(encode_engine(&EnginePacket::Ping(None)))
                .await
                .map_err(Ended::retry)?;
            s.next_ping = Some(now + Duration::from_millis(hb.ping_interval_ms.max(100)));
        }
        if !s.delivered && now.duration_since(s.subscribed_at) >= CONFIRM_AFTER {
            self.delivering(s, ms).await;
        }
        if s.thaw_at.is_some_and(|t| now >= t) {
            s.thaw_at = None;
            s.frozen_since = None;
            self.ingest.thaw();
            s.renew_backoff.reset();
            self.ctx.status.token_renewed();
        }
        if s.renew_wanted && s.renew_retry_at.is_none_or(|t| now >= t) {
            self.renew(s, false).await;
        }
        let renew_due = self
            .tokens
            .try_lock()
            .ok()
            .and_then(|k| k.renew_at())
            .is_some_and(|at| now >= at);
        if renew_due {
            self.renew(s, true).await;
        }
        if self.backfill.is_none() && self.backfill_retry_at.is_some_and(|t| now >= t) {
            self.backfill_retry_at = None;
            self.resolve_gap(ms).await;
        }
        // Commit what is due, or just the cursor now and then on a quiet live link.
        let cursor_due = s.delivered
            && self.last_commit.elapsed() >= CURSOR_EVERY
            && self.ingest.cursor(ms) != self.ingest.saved();
        if self.ingest.has_due(ms) || cursor_due {
            self.flush(false).await?;
        }
        Ok(())
    }

    /// The next stream item fell due: commit.
    async fn on_due(&mut self) -> Result<(), Ended> {
        if self.ingest.has_due(now_ms()) {
            self.flush(false).await?;
        }
        Ok(())
    }

    /// Commit what is due (`all`: every pending item; companions still waiting for
    /// their primary stay out, covered by the cursor's safe point).
    async fn flush(&mut self, all: bool) -> Result<(), Ended> {
        let now = now_ms();
        let prepared = self.ingest.prepare(now, all);
        // Stream events arrive as they happen, stamped by PDK's clock: the newest tells
        // how far off ours it runs.
        let newest = prepared.batch.events.iter().map(|e| e.occurred_at).max();
        if let (Some(newest), Some(now)) = (newest, ms_time(now)) {
            let offset = newest - now;
            self.ctx.status.clock_offset(offset);
            let most = runtime::max_followed_lag().num_milliseconds();
            self.vendor_offset_ms = offset.num_milliseconds().clamp(-most, most);
        }
        self.commit(prepared).await
    }

    async fn commit(&mut self, prepared: Prepared) -> Result<(), Ended> {
        let cursor = prepared.cursor();
        if prepared.is_empty() && cursor == self.ingest.saved() {
            return Ok(());
        }
        let (batch, primaries) = prepared.into_parts();
        self.ctx.commit(batch).await.map_err(|e| match e {
            FetchError::Fatal(r) => Ended::Failed(r),
            other => Ended::Failed(other.to_string()),
        })?;
        self.ingest.committed(primaries, cursor, now_ms());
        self.last_commit = Instant::now();
        Ok(())
    }
}

//! A PDK-like cloud on loopback (see `protocols/pdk.md`): the two token endpoints, the
//! Socket.IO stream and a history endpoint, all on one port.
//!
//! - `POST /oauth2/token` (Basic `client_id:client_secret`, form
//!   `grant_type=client_credentials`) → `{token_type, access_token, id_token, expires_in}`.
//! - `POST /api/systems/{systemId}/token` (Bearer ID token) → `{"token"}`.
//!   Both are "writes": more than `token_posts_per_sec` a second → 429, `Retry-After: 1`.
//!   Bad credentials or tokens → 401.
//! - `GET /socket.io/?systemId=&token=&EIO=4&transport=websocket`: the stream, served by
//!   socketioxide (EIO=4, and EIO=3 through its `v4` feature). The token is checked when
//!   the client joins `/` (a refusal is a Socket.IO connect error, `44{"message"}`).
//!   `subscribeIsolated {"topics": [...]}` sets what the client receives (read by the
//!   relay below, see `Inner::subscribe`); events are emitted with the topic as the
//!   event name and the payload as the single argument.
//! - `GET /{systemId}/events?from=&to=&offset=&limit=` (Bearer system token): the ledger's
//!   primary events with `from <= time <= to` (epoch ms, inclusive) as `{"topic", "body"}`
//!   items, oldest first: `{"events": [...], "next_offset": n | null}`. PDK's real history
//!   path is UNCONFIRMED; this one is our choice ([`HISTORY_PATH`]).
//!
//! socketioxide does not enforce the protocol rules the brief lists (it takes a client
//! ping under EIO=4 as a heartbeat, and ignores packets before `40`), so WebSocket
//! connections go through a relay in front of it that checks every client frame with
//! [`EngineRules::enforce_client_frame`] and closes the connection on a violation, as
//! PDK's server does. The relay is also where connections are dropped and raw broken
//! frames injected.
//!
//! Token expiry as PDK does it: when an event occurs for a client whose system token has
//! expired, the client gets `invalidToken` (once, until it renews) and the event is held;
//! `renewedToken {"token"}` with a valid token delivers every held event at once. A
//! `renewedToken` is accepted at any time (proactive renewal: UNCONFIRMED for PDK).
//!
//! A generator plays the PDK doors of the shared building (`door_vendor` says which of
//! `DOORS` are PDK's) on two cloud nodes: badge requests allowed / denied / unknown with
//! their `liveEvent` companions, relay and door position cycles, request-to-exit, a
//! forced or propped door `first_alarm_after` start and then every `alarm_every` (with
//! auto open / force open / do-not-disturb toggles), a cloud node going offline and
//! back, and sync cycles. Content is deterministic for a seed (each rhythm draws from
//! its own generator). Payloads are stamped with the moment they are sent (plus the
//! clock-skew fault, if set); a step carrying a notice without an id (keyed on its
//! time) is stamped strictly after every earlier step, so two never collide.

use crate::model::Vendor;
use crate::sim::history::{DOORS, Rng, door_vendor, person_name};
use crate::sim::serve::Skew;
use crate::sources::socketio::{
    EioVersion, EnginePacket, EngineRules, SocketPacket, decode_engine, decode_message,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::Sid;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The history endpoint's path template (our choice; PDK's is UNCONFIRMED).
pub const HISTORY_PATH: &str = "/{systemId}/events";

const MAX_HISTORY_LIMIT: usize = 5000;
/// Client frames kept per connection for protocol-discipline tests.
const FRAMES_KEPT: usize = 64;

/// How the simulator behaves. `Default` is the demo: real time, a badge every 2 s.
#[derive(Clone, Debug)]
pub struct PdkSimOptions {
    /// 0 = any free port.
    pub port: u16,
    pub seed: u64,
    pub system_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Badge actions per second (each makes 1–5 events). 0 = none.
    pub rate: f64,
    /// When the first alarm-worthy event is raised (≤ 10 s for the demo).
    pub first_alarm_after: Duration,
    pub alarm_every: Duration,
    /// How long an alarm (or a door mode) stays on before its clearing event.
    pub alarm_clear_after: Duration,
    /// A cloud node goes offline this often (alternating nodes)...
    pub node_cycle_every: Duration,
    /// ...and comes back after this long.
    pub node_offline_for: Duration,
    /// A sync cycle starts this often (alternating nodes)...
    pub sync_every: Duration,
    /// ...with this long between its five steps.
    pub sync_step: Duration,
    /// `expires_in` of ID tokens.
    pub id_token_lifetime: Duration,
    /// Lifetime of system tokens (PDK: about 5 minutes).
    pub system_token_lifetime: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long an EIO=4 client may take to send `40`.
    pub connect_timeout: Duration,
    /// Token POSTs accepted per second (PDK accounts: 10 writes/s).
    pub token_posts_per_sec: usize,
    /// Indices into `DOORS`; default: those `door_vendor` gives to PDK.
    pub doors: Vec<usize>,
    /// Start with the generator paused (tests unpause once a client is subscribed).
    pub start_paused: bool,
}

impl Default for PdkSimOptions {
    fn default() -> Self {
        PdkSimOptions {
            port: 0,
            seed: 1,
            system_id: "5d2f1c9e-7a43-4b8e-9f61-2c0d8e4a7b15".to_string(),
            client_id: "pdk-sim-client".to_string(),
            client_secret: "pdk-sim-secret-0001".to_string(),
            rate: 0.5,
            first_alarm_after: Duration::from_secs(5),
            alarm_every: Duration::from_secs(90),
            alarm_clear_after: Duration::from_secs(8),
            node_cycle_every: Duration::from_secs(240),
            node_offline_for: Duration::from_secs(20),
            sync_every: Duration::from_secs(180),
            sync_step: Duration::from_secs(2),
            id_token_lifetime: Duration::from_secs(300),
            system_token_lifetime: Duration::from_secs(300),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            token_posts_per_sec: 10,
            doors: (0..DOORS.len())
                .filter(|&d| door_vendor(d) == Vendor::Pdk)
                .collect(),
            start_paused: false,
        }
    }
}

/// Fault switches (see [`PdkSimHandle::set_fault`]); one-shot faults are methods of
/// the handle ([`PdkSimHandle::drop_connections`], [`PdkSimHandle::expire_tokens`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdkFault {
    /// The generator makes no events (scheduled follow-ups wait too).
    Paused,
    /// Every event is emitted twice.
    Duplicates,
    /// Each step's events are emitted in reverse order (companions before primaries).
    OutOfOrder,
    /// Every few steps, one malformed payload: a non-object argument, an object without
    /// a readable time, or a frame that is not valid JSON (none are in the ledger).
    Malformed,
    /// Both token endpoints answer 500.
    TokenServerError,
    /// Stream connections go quiet: the relay passes nothing to clients (and answers
    /// socketioxide's pings itself), so only the client's heartbeat deadline notices.
    Silent,
    /// Every few steps, one text frame of [`OVERSIZED_FRAME`] bytes (an event with a huge
    /// padding field, not in the ledger): a client must refuse it, not buffer it.
    Oversized,
}

/// The size of the [`PdkFault::Oversized`] frame: 4 MiB, over any sane client limit.
pub const OVERSIZED_FRAME: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct Faults {
    paused: AtomicBool,
    duplicates: AtomicBool,
    out_of_order: AtomicBool,
    malformed: AtomicBool,
    token_server_error: AtomicBool,
    silent: AtomicBool,
    oversized: AtomicBool,
}

impl Faults {
    fn flag(&self, f: PdkFault) -> &AtomicBool {
        match f {
            PdkFault::Paused => &self.paused,
            PdkFault::Duplicates => &self.duplicates,
            PdkFault::OutOfOrder => &self.out_of_order,
            PdkFault::Malformed => &self.malformed,
            PdkFault::TokenServerError => &self.token_server_error,
            PdkFault::Silent => &self.silent,
            PdkFault::Oversized => &self.oversized,
        }
    }

    fn is_on(&self, f: PdkFault) -> bool {
        self.flag(f).load(Ordering::SeqCst)
    }
}

/// One emitted payload, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// When it occurred (epoch ms); exactly the time its payload carries.
    pub at_ms: i64,
    /// The Socket.IO event name (`liveEvent` for companions).
    pub topic: String,
    pub payload: Value,
    /// A `liveEvent` companion of the event before it (not served by history).
    pub companion: bool,
}

impl SimEvent {
    /// The import / history form: `{"topic": T, "body": payload}`.
    pub fn item(&self) -> Value {
        json!({"topic": self.topic, "body": self.payload})
    }
}

/// Counters for tests and the demo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdkSimStats {
    /// WebSocket connections accepted by the relay.
    pub connections: u64,
    /// Clients that joined `/` with a valid token.
    pub joined: u64,
    /// `subscribeIsolated` requests handled.
    pub subscriptions: u64,
    /// Connections closed by a [`PdkSimHandle::drop_connections`].
    pub dropped: u64,
    pub invalid_tokens_sent: u64,
    /// Accepted `renewedToken`s.
    pub renewals: u64,
    /// Events held for an expired token and delivered on renewal.
    pub held_delivered: u64,
    /// Token POSTs received (answered or refused).
    pub token_posts: u64,
    pub history_requests: u64,
    pub malformed_sent: u64,
    /// Emits socketioxide refused (closed socket or full buffer).
    pub emit_failures: u64,
    /// Second copies emitted by [`PdkFault::Duplicates`].
    pub duplicates_sent: u64,
}

/// What the relay saw of one WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLog {
    /// The `EIO` query value (3 when absent, as Socket.IO servers read it).
    pub eio: u8,
    /// The first client frames, `renewedToken` arguments redacted.
    pub client_frames: Vec<String>,
    /// The protocol violation the server closed the connection for.
    pub violation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Id,
    System,
}

struct Issued {
    kind: TokenKind,
    expires: DateTime<Utc>,
}

struct Client {
    socket: SocketRef,
    token_expires: DateTime<Utc>,
    invalid_sent: bool,
    held: Vec<(String, Value)>,
}

struct Inner {
    opts: PdkSimOptions,
    faults: Faults,
    world: World,
    ledger: Mutex<Vec<SimEvent>>,
    clients: Mutex<HashMap<Sid, Client>>,
    /// Topics per socket id (= the Engine.IO sid), set by the relay.
    subscriptions: Mutex<HashMap<String, HashSet<String>>>,
    tokens: Mutex<HashMap<String, Issued>>,
    token_posts: Mutex<VecDeque<Instant>>,
    token_seq: AtomicU64,
    stats: Mutex<PdkSimStats>,
    connections: Mutex<Vec<ConnectionLog>>,
    /// Bumped to drop every relayed connection.
    kill: watch::Sender<u64>,
    /// Raw frames to push to every joined connection (malformed fault).
    inject: broadcast::Sender<String>,
    last_stamp: Mutex<i64>,
    /// Added to the times payloads carry, from now on ([`PdkSimHandle::set_clock_skew`]).
    skew: Skew,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts simulators; see [`PdkSim::start`].
pub struct PdkSim;

impl PdkSim {
    /// Bind 127.0.0.1:`opts.port` (plus an internal loopback port for socketioxide),
    /// serve, and start the generator.
    pub async fn start(opts: PdkSimOptions) -> std::io::Result<PdkSimHandle> {
        let front = TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = front.local_addr()?;
        let internal = TcpListener::bind(("127.0.0.1", 0)).await?;
        let internal_addr = internal.local_addr()?;

        let inner = Arc::new(Inner {
            world: World::new(&opts),
            faults: Faults::default(),
            ledger: Mutex::new(Vec::new()),
            clients: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_posts: Mutex::new(VecDeque::new()),
            token_seq: AtomicU64::new(1),
            stats: Mutex::new(PdkSimStats::default()),
            connections: Mutex::new(Vec::new()),
            kill: watch::channel(0).0,
            inject: broadcast::channel(256).0,
            last_stamp: Mutex::new(0),
            skew: Skew::default(),
            opts,
        });
        inner
            .faults
            .paused
            .store(inner.opts.start_paused, Ordering::SeqCst);

        let (layer, io) = SocketIo::builder()
            .ping_interval(inner.opts.ping_interval)
            .ping_timeout(inner.opts.ping_timeout)
            .connect_timeout(inner.opts.connect_timeout)
            .max_buffer_size(65_536)
            .build_layer();
        install_namespace(&io, inner.clone());
        let socket_app = Router::new()
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(layer);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(internal, socket_app).await;
        }));

        let rest = Router::new()
            .route("/oauth2/token", post(oauth_token))
            .route("/api/systems/{system_id}/token", post(system_token))
            .route("/{system_id}/events", get(history))
            .with_state(inner.clone());
        let (http_tx, http_rx) = mpsc::channel(64);
        tasks.push(tokio::spawn(accept_loop(
            front,
            inner.clone(),
            internal_addr,
            http_tx,
        )));
        let listener = FrontListener { rx: http_rx, addr };
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, rest).await;
        }));
        tasks.push(tokio::spawn(run_generator(inner.clone())));
        Ok(PdkSimHandle { addr, inner, tasks })
    }
}

/// A running simulator; dropping it stops everything.
pub struct PdkSimHandle {
    addr: SocketAddr,
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl PdkSimHandle {
    /// `http://127.0.0.1:<port>`: both `base_url` and `auth_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn system_id(&self) -> &str {
        &self.inner.opts.system_id
    }

    pub fn client_id(&self) -> &str {
        &self.inner.opts.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.inner.opts.client_secret
    }

    pub fn set_fault(&self, f: PdkFault, on: bool) {
        self.inner.faults.flag(f).store(on, Ordering::SeqCst);
    }

    pub fn is_on(&self, f: PdkFault) -> bool {
        self.inner.faults.is_on(f)
    }

    /// Stamp payloads emitted from now on `skew` off the real clock (cloud nodes with a
    /// wrong clock, or one that steps when corrected); history reads the stamps.
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.inner.skew.set(skew);
    }

    /// Close every stream connection now (the server side hangs up).
    pub fn drop_connections(&self) {
        self.inner.kill.send_modify(|n| *n += 1);
    }

    /// Expire every token issued so far (ID and system), and every client's token.
    pub fn expire_tokens(&self) {
        let now = Utc::now();
        for t in lock(&self.inner.tokens).values_mut() {
            t.expires = t.expires.min(now);
        }
        for c in lock(&self.inner.clients).values_mut() {
            c.token_expires = c.token_expires.min(now);
        }
    }

    /// Every payload emitted so far, companions included, in emission order.
    pub fn ledger(&self) -> Vec<SimEvent> {
        lock(&self.inner.ledger).clone()
    }

    pub fn ledger_len(&self) -> usize {
        lock(&self.inner.ledger).len()
    }

    pub fn stats(&self) -> PdkSimStats {
        lock(&self.inner.stats).clone()
    }

    pub fn connection_logs(&self) -> Vec<ConnectionLog> {
        lock(&self.inner.connections).clone()
    }

    /// Clients currently joined with at least one topic subscribed.
    pub fn subscribed_clients(&self) -> usize {
        let clients = lock(&self.inner.clients);
        let subs = lock(&self.inner.subscriptions);
        clients
            .keys()
            .filter(|sid| subs.get(&sid.to_string()).is_some_and(|t| !t.is_empty()))
            .count()
    }

    /// Stop everything (connections drop, the generator stops).
    pub async fn shutdown(mut self) {
        self.drop_connections();
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for PdkSimHandle {
    fn drop(&mut self) {
        self.inner.kill.send_modify(|n| *n += 1);
        for t in &self.tasks {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------------------------
// Tokens and REST
// ---------------------------------------------------------------------------------

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

impl Inner {
    /// A JWT-shaped token (`header.claims.signature`) whose `exp` says when it expires,
    /// as PDK's tokens are JWTs; the signature is random.
    fn issue(&self, kind: TokenKind, lifetime: Duration) -> (String, DateTime<Utc>) {
        let n = self.token_seq.fetch_add(1, Ordering::SeqCst);
        let mut rng =
            Rng::new(self.opts.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now_ms() as u64);
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(lifetime).unwrap_or_default();
        let sub = match kind {
            TokenKind::Id => self.opts.client_id.clone(),
            TokenKind::System => self.opts.system_id.clone(),
        };
        let claims = json!({
            "iss": "https://accounts.pdk.io/", "sub": sub, "jti": format!("{n:x}"),
            "iat": now.timestamp(), "exp": expires.timestamp(),
            "typ": if kind == TokenKind::Id { "id" } else { "system" },
        });
        let sig: Vec<u8> = (0..4).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
        let token = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes()),
            b64(&sig)
        );
        lock(&self.tokens).insert(token.clone(), Issued { kind, expires });
        (token, expires)
    }

    /// When `token` expires, if it is a live token of `kind`.
    fn valid(&self, token: &str, kind: TokenKind) -> Option<DateTime<Utc>> {
        let tokens = lock(&self.tokens);
        let t = tokens.get(token)?;
        (t.kind == kind && t.expires > Utc::now()).then_some(t.expires)
    }

    /// Token POSTs are writes: a sliding one-second window per simulator.
    fn admit_token_post(&self) -> bool {
        let mut q = lock(&self.token_posts);
        let now = Instant::now();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            q.pop_front();
        }
        if q.len() >= self.opts.token_posts_per_sec {
            return false;
        }
        q.push_back(now);
        true
    }

    fn token_gate(&self) -> Option<Response> {
        lock(&self.stats).token_posts += 1;
        if self.faults.is_on(PdkFault::TokenServerError) {
            return Some(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
            ));
        }
        if !self.admit_token_post() {
            let mut r = oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Some(r);
        }
        None
    }
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn form_field(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace('+', " "))
    })
}

async fn oauth_token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = inner.token_gate() {
        return r;
    }
    let authorised = basic(&headers).is_some_and(|(id, secret)| {
        id == inner.opts.client_id && secret == inner.opts.client_secret
    });
    if !authorised {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form_field(&body, "grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let lifetime = inner.opts.id_token_lifetime;
    let (id_token, _) = inner.issue(TokenKind::Id, lifetime);
    let (access_token, _) = inner.issue(TokenKind::Id, lifetime);
    axum::Json(json!({
        "token_type": "Bearer",
        "access_token": access_token,
        "id_token": id_token,
        "expires_in": lifetime.as_secs().max(1),
    }))
    .into_response()
}

async fn system_token(
    State(inner): State<Arc<Inner>>,
    Path(system_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = inner.token_gate() {
        return r;
    }
    let id_ok = bearer(&headers).is_some_and(|t| inner.valid(t, TokenKind::Id).is_some());
    if !id_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    if system_id != inner.opts.system_id {
        return oauth_error(StatusCode::FORBIDDEN, "access_denied");
    }
    let (token, _) = inner.issue(TokenKind::System, inner.opts.system_token_lifetime);
    axum::Json(json!({ "token": token })).into_response()
}

async fn history(
    State(inner): State<Arc<Inner>>,
    Path(system_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let ok = bearer(&headers).is_some_and(|t| inner.valid(t, TokenKind::System).is_some());
    if !ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    if system_id != inner.opts.system_id {
        return oauth_error(StatusCode::FORBIDDEN, "access_denied");
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(from), Some(to)) = (num("from"), num("to")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "from and to (epoch ms) are required",
        );
    };
    let offset = num("offset").unwrap_or(0).max(0) as usize;
    let limit = num("limit")
        .unwrap_or(1000)
        .clamp(1, MAX_HISTORY_LIMIT as i64) as usize;
    lock(&inner.stats).history_requests += 1;
    let matching: Vec<Value> = lock(&inner.ledger)
        .iter()
        .filter(|e| !e.companion && e.at_ms >= from && e.at_ms <= to)
        .map(SimEvent::item)
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    axum::Json(json!({"events": page, "next_offset": next})).into_response()
}

// ---------------------------------------------------------------------------------
// The Socket.IO side (socketioxide)
// ---------------------------------------------------------------------------------

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn install_namespace(io: &SocketIo, inner: Arc<Inner>) {
    let auth_inner = inner.clone();
    let authorise = move |s: SocketRef| {
        let query = s.req_parts().uri.query().unwrap_or("").to_string();
        let inner = auth_inner.clone();
        async move {
            let system = query_param(&query, "systemId");
            let token = query_param(&query, "token").unwrap_or_default();
            if system.as_deref() != Some(inner.opts.system_id.as_str()) {
                return Err(Refused("unknown systemId"));
            }
            match inner.valid(&token, TokenKind::System) {
                Some(_) => Ok(()),
                None => Err(Refused("invalid token")),
            }
        }
    };
    // socketioxide sends `40` before it calls this handler: register the listeners
    // before its future is spawned, or a quick client's subscribe finds none.
    let on_connect = move |s: SocketRef| {
        joined(inner.clone(), s);
        async {}
    };
    io.ns("/", on_connect.with(authorise));
}

fn joined(inner: Arc<Inner>, s: SocketRef) {
    let query = s.req_parts().uri.query().unwrap_or("").to_string();
    let token = query_param(&query, "token").unwrap_or_default();
    let expires = inner
        .valid(&token, TokenKind::System)
        .unwrap_or_else(Utc::now);
    lock(&inner.clients).insert(
        s.id,
        Client {
            socket: s.clone(),
            token_expires: expires,
            invalid_sent: false,
            held: Vec::new(),
        },
    );
    lock(&inner.stats).joined += 1;

    let renew_inner = inner.clone();
    s.on("renewedToken", move |s: SocketRef, Data(v): Data<Value>| {
        let inner = renew_inner.clone();
        async move { renewed(&inner, &s, &v) }
    });
    let gone = inner;
    s.on_disconnect(move |s: SocketRef| {
        let inner = gone.clone();
        async move {
            lock(&inner.clients).remove(&s.id);
        }
    });
}

fn renewed(inner: &Inner, s: &SocketRef, v: &Value) {
    let token = v.get("token").and_then(Value::as_str).unwrap_or("");
    let expires = inner.valid(token, TokenKind::System);
    let mut clients = lock(&inner.clients);
    let Some(c) = clients.get_mut(&s.id) else {
        return;
    };
    let mut stats = lock(&inner.stats);
    match expires {
        Some(exp) => {
            c.token_expires = exp;
            c.invalid_sent = false;
            stats.renewals += 1;
            let held = std::mem::take(&mut c.held);
            stats.held_delivered += held.len() as u64;
            for (topic, payload) in held {
                if c.socket.emit(&topic, &payload).is_err() {
                    stats.emit_failures += 1;
                }
            }
        }
        None => {
            stats.invalid_tokens_sent += 1;
            if c.socket
                .emit("invalidToken", &json!({"message": "invalid token"}))
                .is_err()
            {
                stats.emit_failures += 1;
            }
        }
    }
}

impl Inner {
    /// Send one step's payloads to every client subscribed to their topics, holding
    /// them for clients whose token has expired.
    fn deliver(&self, items: &[(String, Value)]) {
        let now = Utc::now();
        let copies = if self.faults.is_on(PdkFault::Duplicates) {
            2
        } else {
            1
        };
        let mut clients = lock(&self.clients);
        let mut stats = lock(&self.stats);
        let subs = lock(&self.subscriptions);
        for (sid, c) in clients.iter_mut() {
            let Some(topics) = subs.get(&sid.to_string()) else {
                continue;
            };
            for (topic, payload) in items {
                if !topics.contains(topic) {
                    continue;
                }
                if c.token_expires <= now {
                    c.held.push((topic.clone(), payload.clone()));
                    if !c.invalid_sent {
                        c.invalid_sent = true;
                        stats.invalid_tokens_sent += 1;
                        let note = json!({"message": "token expired"});
                        if c.socket.emit("invalidToken", &note).is_err() {
                            stats.emit_failures += 1;
                        }
                    }
                    continue;
                }
                for copy in 0..copies {
                    if c.socket.emit(topic, payload).is_err() {
                        stats.emit_failures += 1;
                    } else if copy > 0 {
                        stats.duplicates_sent += 1;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The front: one port for REST and WebSocket, and the rule-enforcing relay
// ---------------------------------------------------------------------------------

/// Hands axum the connections that are not stream WebSockets.
struct FrontListener {
    rx: mpsc::Receiver<(TcpStream, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for FrontListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

async fn accept_loop(
    front: TcpListener,
    inner: Arc<Inner>,
    internal: SocketAddr,
    http: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    loop {
        let Ok((stream, peer)) = front.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (inner, http) = (inner.clone(), http.clone());
        tokio::spawn(async move {
            match request_path(&stream).await {
                Some(path) if path.starts_with("/socket.io") => {
                    relay(inner, stream, internal).await;
                }
                Some(_) => {
                    let _ = http.send((stream, peer)).await;
                }
                None => {}
            }
        });
    }
}

/// The path of the request on `stream`, read without consuming it.
async fn request_path(stream: &TcpStream) -> Option<String> {
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&buf[..end]).ok()?;
            return line.split(' ').nth(1).map(str::to_string);
        }
        if n == buf.len() || Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Relay one client WebSocket to socketioxide, enforcing the client rules.
async fn relay(inner: Arc<Inner>, stream: TcpStream, internal: SocketAddr) {
    let mut uri = String::new();
    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    let callback =
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
         resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
            uri = req.uri().to_string();
            Ok(resp)
        };
    let Ok(mut client) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let query = uri.split_once('?').map_or("", |(_, q)| q).to_string();
    let eio: u8 = query_param(&query, "EIO")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let version = EioVersion::try_from(eio).unwrap_or(EioVersion::V3);
    let index = {
        let mut logs = lock(&inner.connections);
        logs.push(ConnectionLog {
            eio,
            client_frames: Vec::new(),
            violation: None,
        });
        logs.len() - 1
    };
    lock(&inner.stats).connections += 1;
    let Ok((mut upstream, _)) =
        tokio_tungstenite::connect_async(format!("ws://{internal}{uri}")).await
    else {
        let _ = client.close(None).await;
        return;
    };
    let mut kill = inner.kill.subscribe();
    kill.mark_unchanged();
    let mut inject = inner.inject.subscribe();
    let mut rules = EngineRules::new(version);
    let mut sid: Option<String> = None;
    loop {
        tokio::select! {
            _ = kill.changed() => {
                lock(&inner.stats).dropped += 1;
                // Hang up without a close handshake, as a dropped link would.
                return;
            }
            raw = inject.recv() => {
                if let Ok(raw) = raw
                    && rules.has_joined()
                    && client.send(Message::text(raw)).await.is_err()
                {
                    return;
                }
            }
            msg = client.next() => {
                let Some(Ok(msg)) = msg else { break };
                match msg {
                    Message::Text(text) => {
                        log_frame(&inner, index, text.as_str());
                        if let Err(v) = rules.enforce_client_frame(text.as_str()) {
                            lock(&inner.connections)[index].violation = Some(v.to_string());
                            let _ = client.close(None).await;
                            break;
                        }
                        if let Some(sid) = &sid {
                            inner.subscribe(sid, text.as_str());
                        }
                        if upstream.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => break,
                    Message::Binary(_) => {
                        lock(&inner.connections)[index].violation =
                            Some("binary frame: PDK does not use binary packets".into());
                        let _ = client.close(None).await;
                        break;
                    }
                    _ => {}
                }
            }
            msg = upstream.next() => {
                let Some(Ok(msg)) = msg else { break };
                if inner.faults.is_on(PdkFault::Silent) {
                    if msg.to_text().is_ok_and(|t| t == "2")
                        && upstream.send(Message::text("3")).await.is_err()
                    {
                        break;
                    }
                    continue;
                }
                if let Message::Close(_) = msg {
                    let _ = client.close(None).await;
                    break;
                }
                if sid.is_none()
                    && let Ok(EnginePacket::Open { sid: id, .. }) =
                        msg.to_text().map_or(Err(()), |t| decode_engine(t).map_err(|_| ()))
                {
                    sid = Some(id);
                }
                if (msg.is_text() || msg.is_binary()) && client.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = upstream.close(None).await;
    if let Some(sid) = sid {
        lock(&inner.subscriptions).remove(&sid);
    }
}

impl Inner {
    /// `subscribeIsolated {"topics": [...]}` from the client of socket `sid` replaces
    /// its topics. Handled here rather than by a socketioxide listener: socketioxide
    /// sends `40` before it runs the connect handler that registers listeners, so a
    /// quick client's subscription could find none and be dropped.
    fn subscribe(&self, sid: &str, frame: &str) {
        let Ok(SocketPacket::Event { name, args, .. }) = decode_message(frame) else {
            return;
        };
        if name != "subscribeIsolated" {
            return;
        }
        let topics: HashSet<String> = args
            .first()
            .and_then(|a| a.get("topics"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        lock(&self.subscriptions).insert(sid.to_string(), topics);
        lock(&self.stats).subscriptions += 1;
    }
}

fn log_frame(inner: &Inner, index: usize, frame: &str) {
    let mut logs = lock(&inner.connections);
    let Some(log) = logs.get_mut(index) else {
        return;
    };
    if log.client_frames.len() < FRAMES_KEPT {
        let kept = if frame.starts_with("42[\"renewedToken\"") {
            "42[\"renewedToken\",<redacted>]".to_string()
        } else {
            frame.to_string()
        };
        log.client_frames.push(kept);
    }
}

// ---------------------------------------------------------------------------------
// The building and the generator
// ---------------------------------------------------------------------------------

struct Door {
    name: &'static str,
    /// `body.deviceId`.
    device_id: String,
    /// `body.device.id`: differs from `device_id` on most doors, as in PDK's samples.
    body_device_id: String,
    port: u64,
    node: usize,
}

struct Node {
    serial: String,
    name: String,
    /// The same serial shows up under more than one `cloudNode.id`.
    ids: [String; 2],
}

struct World {
    system_id: String,
    doors: Vec<Door>,
    nodes: Vec<Node>,
}

fn uuid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

impl World {
    fn new(opts: &PdkSimOptions) -> World {
        let mut rng = Rng::new(opts.seed ^ 0x0050_d4e7);
        let nodes = ["HQ Cloud Node", "Annex Cloud Node"]
            .iter()
            .enumerate()
            .map(|(i, name)| Node {
                serial: format!("{}", 10_702_458 + i as u64 * 1_111),
                name: name.to_string(),
                ids: [uuid(&mut rng), uuid(&mut rng)],
            })
            .collect();
        let doors = opts
            .doors
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let device_id = uuid(&mut rng);
                let other = uuid(&mut rng);
                Door {
                    name: DOORS[d],
                    body_device_id: if i % 3 == 2 { device_id.clone() } else { other },
                    device_id,
                    port: 1 + (i as u64 % 4),
                    node: usize::from(d >= 16),
                }
            })
            .collect();
        World {
            system_id: opts.system_id.clone(),
            doors,
            nodes,
        }
    }
}

/// Where a payload carries its time.
#[derive(Debug, Clone, Copy)]
enum Stamp {
    Occurred,
    MetadataOccurred,
    TimestampMs,
    TimestampRfc3339,
    DetailsTimestamp,
}

/// One payload waiting for its time.
struct Planned {
    topic: &'static str,
    payload: Value,
    stamp: Stamp,
    companion: Option<Value>,
}

fn stamp(payload: &mut Value, how: Stamp, ms: i64) {
    let at = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now);
    match how {
        Stamp::Occurred => payload["occurred"] = json!(ms),
        Stamp::MetadataOccurred => payload["metadata"]["occurred"] = json!(ms),
        Stamp::TimestampMs => payload["timestamp"] = json!(ms),
        // PDK's RFC 3339 values may lack fractional seconds: AutoSi drops a zero one.
        Stamp::TimestampRfc3339 => {
            payload["timestamp"] = json!(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        Stamp::DetailsTimestamp => payload["details"]["timestamp"] = json!(ms),
    }
}

/// One rhythm's content generator.
struct Stream {
    rng: Rng,
    count: u64,
}

impl Stream {
    fn new(seed: u64, salt: u64) -> Stream {
        Stream {
            rng: Rng::new(seed ^ salt),
            count: 0,
        }
    }
}

impl World {
    fn cloud_node(&self, node: usize, rng: &mut Rng) -> Value {
        let n = &self.nodes[node];
        json!({"id": n.ids[rng.below(2) as usize], "serialNumber": n.serial, "name": n.name})
    }

    fn device_event(
        &self,
        rng: &mut Rng,
        topic: &'static str,
        door: usize,
        extra: Value,
    ) -> Planned {
        let d = &self.doors[door];
        let mut body = json!({
            "deviceId": d.device_id,
            "device": {"id": d.body_device_id, "name": d.name, "connection": "wiegand", "port": d.port},
        });
        if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
            b.extend(more);
        }
        Planned {
            topic,
            payload: json!({"id": uuid(rng), "topic": topic, "body": body, "cloudNode": self.cloud_node(d.node, rng)}),
            stamp: Stamp::Occurred,
            companion: None,
        }
    }

    fn companion(&self, rng: &mut Rng, p: &Planned, door: usize, info: &str, who: Value) -> Value {
        let d = &self.doors[door];
        json!({
            "topic": p.topic,
            "info": info,
            "placeholders": [who, {"text": d.name, "id": d.body_device_id, "type": "device"}],
            "cloudNode": self.cloud_node(d.node, rng),
        })
    }

    fn request(&self, rng: &mut Rng, topic: &'static str, door: usize, person: usize) -> Planned {
        let name = person_name(person);
        let holder_id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            0x4f1d_0000u64 + person as u64,
            person
        );
        let card = format!("{}", 40_000 + person);
        let mut p = if topic == "device.request.unknown" {
            self.device_event(
                rng,
                topic,
                door,
                json!({"facilityCode": "12", "cardNumber": card}),
            )
        } else {
            let denied = topic == "device.request.denied";
            let holder = json!({
                "id": holder_id, "name": name, "enabled": !(denied && person.is_multiple_of(2)),
                "activeDate": "2024-01-01T00:00:00Z",
                "expireDate": if denied && person % 2 == 1 { "2025-06-30T00:00:00Z" } else { "2030-12-31T23:59:59Z" },
            });
            self.device_event(
                rng,
                topic,
                door,
                json!({"holderId": holder_id, "credentialId": format!("cred-{person:04}"),
                       "requestFactor": "CARD_ONLY", "facilityCode": "12", "cardNumber": card,
                       "holder": holder}),
            )
        };
        let (info, who) = match topic {
            "device.request.allowed" => (
                "%s was granted access to %s",
                json!({"text": name, "id": holder_id, "type": "holder"}),
            ),
            "device.request.denied" => (
                "%s was denied access to %s",
                json!({"text": name, "id": holder_id, "type": "holder"}),
            ),
            _ => (
                "Unknown credential %s presented at %s",
                json!({"text": card, "id": card, "type": "credential"}),
            ),
        };
        p.companion = Some(self.companion(rng, &p, door, info, who));
        p
    }

    fn notice(&self, topic: &'static str, node: usize, how: Stamp) -> Planned {
        let serial = &self.nodes[node].serial;
        let payload = match how {
            Stamp::DetailsTimestamp if topic == "sync.not_synced" => json!({
                "systemId": self.system_id, "panelSn": serial,
                "details": {"dataFlowStatus": "PENDING"},
            }),
            Stamp::DetailsTimestamp => {
                json!({"systemId": self.system_id, "panelSn": serial, "details": {}})
            }
            _ => json!({"serialNumber": serial}),
        };
        Planned {
            topic,
            payload,
            stamp: how,
            companion: None,
        }
    }

    fn endpoint(&self, rng: &mut Rng, topic: &'static str, node: usize, which: u64) -> Planned {
        let body = if topic == "endpoint.sync.finished.all" {
            json!({})
        } else {
            json!({"connectionId": format!("conn-{node}-{which}"),
                   "address": format!("{}", which + 1), "type": "reader"})
        };
        Planned {
            topic,
            payload: json!({"id": uuid(rng), "topic": topic, "body": body,
                            "cloudNode": self.cloud_node(node, rng)}),
            stamp: Stamp::Occurred,
            companion: None,
        }
    }

    fn entity(&self, rng: &mut Rng, verb: &'static str, node: usize) -> Planned {
        let n = &self.nodes[node];
        // The systemId inside the topic need not match `systemId` (seen in PDK's samples).
        let topic_system = uuid(rng);
        let topic: &'static str = match verb {
            "registered" => "cloudnode.registered",
            _ => "cloudnode.unregistered",
        };
        Planned {
            topic,
            payload: json!({
                "id": uuid(rng), "systemId": self.system_id,
                "topic": format!("system.{topic_system}.entity.cloudnode.{verb}"),
                "body": {"id": n.ids[0], "name": n.name, "serialNumber": n.serial},
                "metadata": {"userId": "u-admin-1", "userName": "Dana Admin"},
            }),
            stamp: Stamp::MetadataOccurred,
            companion: None,
        }
    }
}

/// Steps due later: (when, tie-breaker) → payloads.
type Agenda = BTreeMap<(tokio::time::Instant, u64), Vec<Planned>>;

struct Generator {
    badges: Stream,
    alarms: Stream,
    nodes: Stream,
    syncs: Stream,
    malformed: Stream,
    agenda: Agenda,
    seq: u64,
    steps: u64,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            badges: Stream::new(seed, 0xba_d9e5),
            alarms: Stream::new(seed, 0xa1_a4f5),
            nodes: Stream::new(seed, 0x0d_e5e5),
            syncs: Stream::new(seed, 0x5f_ac55),
            malformed: Stream::new(seed, 0xbad_0bad),
            agenda: BTreeMap::new(),
            seq: 0,
            steps: 0,
        }
    }

    fn later(&mut self, after: Duration, items: Vec<Planned>) {
        self.seq += 1;
        self.agenda
            .insert((tokio::time::Instant::now() + after, self.seq), items);
    }
}

fn badge(w: &World, g: &mut Generator) -> Vec<Planned> {
    if w.doors.is_empty() {
        return Vec::new();
    }
    let s = &mut g.badges;
    s.count += 1;
    let door = s.rng.below(w.doors.len() as u64) as usize;
    let person = s.rng.below(150) as usize;
    let roll = s.rng.below(100);
    let rng = &mut s.rng;
    let ev = |rng: &mut Rng, t| w.device_event(rng, t, door, json!({}));
    match roll {
        0..=77 => {
            let now = vec![
                w.request(rng, "device.request.allowed", door, person),
                ev(rng, "device.input.relay.on"),
            ];
            let opened = vec![ev(rng, "device.input.dps.opened")];
            let closed = vec![
                ev(rng, "device.input.dps.closed"),
                ev(rng, "device.input.relay.off"),
            ];
            g.later(Duration::from_millis(300), opened);
            g.later(Duration::from_millis(1200), closed);
            now
        }
        78..=87 => vec![w.request(rng, "device.request.denied", door, person)],
        88..=93 => vec![w.request(rng, "device.request.unknown", door, person)],
        _ => {
            let now = vec![
                ev(rng, "device.input.rex.on"),
                ev(rng, "device.input.relay.on"),
            ];
            let opened = vec![ev(rng, "device.input.dps.opened")];
            let closed = vec![
                ev(rng, "device.input.dps.closed"),
                ev(rng, "device.input.relay.off"),
                ev(rng, "device.input.rex.off"),
            ];
            g.later(Duration::from_millis(200), opened);
            g.later(Duration::from_millis(900), closed);
            now
        }
    }
}

fn alarm(w: &World, g: &mut Generator, clear_after: Duration) -> Vec<Planned> {
    if w.doors.is_empty() {
        return Vec::new();
    }
    let s = &mut g.alarms;
    s.count += 1;
    let k = s.count;
    let door = s.rng.below(w.doors.len() as u64) as usize;
    let other = (door + 1 + s.rng.below(w.doors.len().max(2) as u64 - 1) as usize) % w.doors.len();
    let rng = &mut s.rng;
    let ev = |rng: &mut Rng, t, d| w.device_event(rng, t, d, json!({}));
    let (now, cleared) = if k % 2 == 1 {
        (
            vec![
                ev(rng, "device.input.dps.opened", door),
                ev(rng, "device.alarm.forced", door),
            ],
            vec![
                ev(rng, "device.input.dps.closed", door),
                ev(rng, "device.alarm.forced.cleared", door),
            ],
        )
    } else {
        (
            vec![
                ev(rng, "device.input.relay.on", door),
                ev(rng, "device.input.dps.opened", door),
                ev(rng, "device.alarm.propped.on", door),
            ],
            vec![
                ev(rng, "device.alarm.propped.off", door),
                ev(rng, "device.input.dps.closed", door),
                ev(rng, "device.input.relay.off", door),
            ],
        )
    };
    let (on, off) = match k % 3 {
        0 => ("device.autoopen.on", "device.autoopen.off"),
        1 => ("device.forceopen.on", "device.forceopen.off"),
        _ => ("device.forceclose.on", "device.forceclose.off"),
    };
    let mode_on = vec![ev(rng, on, other)];
    let mode_off = vec![ev(rng, off, other)];
    g.later(clear_after, cleared);
    g.later(clear_after / 2, mode_on);
    g.later(clear_after + clear_after / 2, mode_off);
    now
}

fn node_cycle(w: &World, g: &mut Generator, offline_for: Duration) -> Vec<Planned> {
    let s = &mut g.nodes;
    s.count += 1;
    let node = (s.count as usize - 1) % w.nodes.len();
    let mut back = vec![w.notice("cloudnode.connected", node, Stamp::TimestampRfc3339)];
    let mut now = vec![w.notice("cloudnode.disconnected", node, Stamp::TimestampMs)];
    if s.count.is_multiple_of(4) {
        now.push(w.entity(&mut s.rng, "unregistered", node));
        back.push(w.entity(&mut s.rng, "registered", node));
    }
    g.later(offline_for, back);
    now
}

fn sync_cycle(w: &World, g: &mut Generator, step: Duration) -> Vec<Planned> {
    let s = &mut g.syncs;
    s.count += 1;
    let node = (s.count as usize - 1) % w.nodes.len();
    let which = s.count;
    let started = vec![w.endpoint(&mut s.rng, "endpoint.sync.started", node, which)];
    let finished = vec![w.endpoint(&mut s.rng, "endpoint.sync.finished", node, which)];
    let all = vec![w.endpoint(&mut s.rng, "endpoint.sync.finished.all", node, which)];
    let synced = vec![w.notice("sync.synced", node, Stamp::DetailsTimestamp)];
    g.later(step, started);
    g.later(step * 2, finished);
    g.later(step * 3, all);
    g.later(step * 4, synced);
    vec![w.notice("sync.not_synced", node, Stamp::DetailsTimestamp)]
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Inner {
    /// This step's time: now, the moment it is sent. A step with notices without ids
    /// (keyed on topic, serial and time) is stamped strictly after the previous step,
    /// so that those never collide; every other step takes the clock as it is (never
    /// before an earlier step), so that stamps do not drift ahead of the clock when
    /// more than 1,000 steps a second go out.
    fn next_stamp(&self, strictly_after: bool) -> i64 {
        let mut last = lock(&self.last_stamp);
        let floor = if strictly_after { *last + 1 } else { *last };
        *last = now_ms().max(floor);
        *last
    }

    fn emit_step(&self, g: &mut Generator, planned: Vec<Planned>) {
        if planned.is_empty() {
            return;
        }
        let keyed_on_time = planned.iter().any(|p| p.payload.get("id").is_none());
        let t = self.next_stamp(keyed_on_time) + self.skew.ms();
        let mut out: Vec<(String, Value)> = Vec::new();
        {
            let mut ledger = lock(&self.ledger);
            for mut p in planned {
                stamp(&mut p.payload, p.stamp, t);
                ledger.push(SimEvent {
                    at_ms: t,
                    topic: p.topic.to_string(),
                    payload: p.payload.clone(),
                    companion: false,
                });
                out.push((p.topic.to_string(), p.payload));
                if let Some(mut c) = p.companion {
                    stamp(&mut c, Stamp::Occurred, t);
                    ledger.push(SimEvent {
                        at_ms: t,
                        topic: "liveEvent".into(),
                        payload: c.clone(),
                        companion: true,
                    });
                    out.push(("liveEvent".into(), c));
                }
            }
        }
        g.steps += 1;
        if self.faults.is_on(PdkFault::Malformed) && g.steps.is_multiple_of(4) {
            self.malformed(g, &mut out);
        }
        if self.faults.is_on(PdkFault::Oversized) && g.steps.is_multiple_of(4) {
            let pad = "x".repeat(OVERSIZED_FRAME);
            let _ = self
                .inject
                .send(format!("42[\"device.alarm.forced\",{{\"pad\":\"{pad}\"}}]"));
        }
        if self.faults.is_on(PdkFault::OutOfOrder) {
            out.reverse();
        }
        self.deliver(&out);
    }

    /// One malformed payload of three kinds in turn (none go into the ledger).
    fn malformed(&self, g: &mut Generator, out: &mut Vec<(String, Value)>) {
        let s = &mut g.malformed;
        s.count += 1;
        lock(&self.stats).malformed_sent += 1;
        match s.count % 3 {
            0 => out.push(("device.request.allowed".into(), json!("garbage, not an object"))),
            1 => out.push((
                "device.input.dps.opened".into(),
                json!({"id": uuid(&mut s.rng), "topic": "device.input.dps.opened", "occurred": "soon", "body": {}}),
            )),
            _ => {
                let _ = self
                    .inject
                    .send(format!("42[\"device.alarm.forced\",{{\"id\":\"{}\",\"occurred\":", uuid(&mut s.rng)));
            }
        }
    }
}

async fn run_generator(inner: Arc<Inner>) {
    let opts = inner.opts.clone();
    let mut g = Generator::new(opts.seed);
    let start = tokio::time::Instant::now();
    let tick = Duration::from_millis(1);
    let badge_every = (opts.rate > 0.0)
        .then(|| Duration::from_secs_f64((1.0 / opts.rate).clamp(0.0005, 86_400.0)));
    let mut next_badge = badge_every.map(|d| start + d);
    let mut next_alarm = start + opts.first_alarm_after;
    let mut next_node = start + opts.node_cycle_every;
    let mut next_sync = start + opts.sync_every;
    loop {
        let mut wake = next_alarm.min(next_node).min(next_sync);
        if let Some(b) = next_badge {
            wake = wake.min(b);
        }
        if let Some(((at, _), _)) = g.agenda.first_key_value() {
            wake = wake.min(*at);
        }
        tokio::time::sleep_until(wake).await;
        let now = tokio::time::Instant::now();
        if inner.faults.is_on(PdkFault::Paused) {
            // Hold everything (follow-ups included) until resumed.
            let shift = Duration::from_millis(20);
            next_badge = next_badge.map(|b| b.max(now + shift));
            next_alarm = next_alarm.max(now + shift);
            next_node = next_node.max(now + shift);
            next_sync = next_sync.max(now + shift);
            let due: Vec<_> = g
                .agenda
                .keys()
                .copied()
                .filter(|(at, _)| *at <= now)
                .collect();
            for key in due {
                if let Some(items) = g.agenda.remove(&key) {
                    g.agenda.insert((now + shift, key.1), items);
                }
            }
            continue;
        }
        while let Some(entry) = g.agenda.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let items = entry.remove();
            inner.emit_step(&mut g, items);
        }
        if now >= next_alarm {
            let items = alarm(&inner.world, &mut g, opts.alarm_clear_after);
            inner.emit_step(&mut g, items);
            next_alarm = (next_alarm + opts.alarm_every.max(tick)).max(now);
        }
        if now >= next_node {
            let items = node_cycle(&inner.world, &mut g, opts.node_offline_for);
            inner.emit_step(&mut g, items);
            next_node = (next_node + opts.node_cycle_every.max(tick)).max(now);
        }
        if now >= next_sync {
            let items = sync_cycle(&inner.world, &mut g, opts.sync_step);
            inner.emit_step(&mut g, items);
            next_sync = (next_sync + opts.sync_every.max(tick)).max(now);
        }
        if let (Some(b), Some(every)) = (next_badge, badge_every)
            && now >= b
        {
            let items = badge(&inner.world, &mut g);
            inner.emit_step(&mut g, items);
            // Don't try to catch up after a stall: at most one badge per wake.
            next_badge = Some((b + every).max(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PdkSimOptions {
        PdkSimOptions {
            rate: 200.0,
            first_alarm_after: Duration::from_millis(20),
            alarm_every: Duration::from_millis(200),
            alarm_clear_after: Duration::from_millis(50),
            node_cycle_every: Duration::from_millis(150),
            node_offline_for: Duration::from_millis(40),
            sync_every: Duration::from_millis(120),
            sync_step: Duration::from_millis(10),
            ..PdkSimOptions::default()
        }
    }

    async fn id_token(sim: &PdkSimHandle, secret: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/oauth2/token", sim.base_url()))
            .basic_auth(sim.client_id(), Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
    }

    async fn system_token(sim: &PdkSimHandle, system: &str, bearer: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/api/systems/{system}/token", sim.base_url()))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn tokens_history_and_their_refusals() {
        let sim = PdkSim::start(fast()).await.unwrap();
        assert_eq!(id_token(&sim, "wrong").await.status(), 401);
        let id: Value = id_token(&sim, sim.client_secret())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(id["token_type"], "Bearer");
        assert_eq!(id["expires_in"], 300);
        let id_token = id["id_token"].as_str().unwrap();
        assert_eq!(id_token.split('.').count(), 3, "a JWT");
        assert_eq!(
            system_token(&sim, sim.system_id(), "nope").await.status(),
            401
        );
        assert_eq!(
            system_token(&sim, "other-system", id_token).await.status(),
            403
        );
        let sys: Value = system_token(&sim, sim.system_id(), id_token)
            .await
            .json()
            .await
            .unwrap();
        let token = sys["token"].as_str().unwrap();

        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.set_fault(PdkFault::Paused, true);
        let ledger = sim.ledger();
        let (from, to) = (ledger[5].at_ms, ledger[ledger.len() - 5].at_ms);
        let want: Vec<Value> = ledger
            .iter()
            .filter(|e| !e.companion && e.at_ms >= from && e.at_ms <= to)
            .map(SimEvent::item)
            .collect();
        let url = format!("{}/{}/events", sim.base_url(), sim.system_id());
        let http = reqwest::Client::new();
        let refused = http
            .get(&url)
            .query(&[("from", from), ("to", to)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let mut got = Vec::new();
        let mut offset = 0u64;
        loop {
            let page: Value = http
                .get(&url)
                .query(&[
                    ("from", from),
                    ("to", to),
                    ("limit", 7),
                    ("offset", offset as i64),
                ])
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            got.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next_offset"].as_u64() {
                Some(n) => offset = n,
                None => break,
            }
        }
        assert!(want.len() > 20);
        assert_eq!(got, want);
        // Every payload parses, and the building covers the brief's topics.
        let ctx = crate::sources::ParseContext {
            source: "hq-pdk",
            received_at: Utc::now(),
        };
        let mut topics = HashSet::new();
        for e in &ledger {
            crate::sources::pdk::parse_topic(&ctx, &e.topic, &e.payload).unwrap();
            topics.insert(e.topic.as_str());
        }
        for t in [
            "device.request.allowed",
            "liveEvent",
            "device.alarm.forced",
            "device.alarm.propped.on",
            "cloudnode.disconnected",
            "cloudnode.connected",
            "sync.not_synced",
            "endpoint.sync.finished.all",
            "sync.synced",
        ] {
            assert!(topics.contains(t), "{t} missing");
        }
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn token_posts_are_rate_limited() {
        let sim = PdkSim::start(PdkSimOptions {
            token_posts_per_sec: 2,
            ..fast()
        })
        .await
        .unwrap();
        assert_eq!(id_token(&sim, sim.client_secret()).await.status(), 200);
        assert_eq!(id_token(&sim, sim.client_secret()).await.status(), 200);
        let third = id_token(&sim, sim.client_secret()).await;
        assert_eq!(third.status(), 429);
        assert_eq!(third.headers()["retry-after"], "1");
        sim.set_fault(PdkFault::TokenServerError, true);
        assert_eq!(id_token(&sim, sim.client_secret()).await.status(), 500);
    }

    #[tokio::test]
    async fn same_seed_same_content_and_an_early_alarm() {
        let first_forced = |sim: &PdkSimHandle| {
            sim.ledger()
                .into_iter()
                .find(|e| e.topic == "device.alarm.forced")
                .map(|e| e.payload["id"].clone())
        };
        let a = PdkSim::start(fast()).await.unwrap();
        let b = PdkSim::start(fast()).await.unwrap();
        let c = PdkSim::start(PdkSimOptions { seed: 7, ..fast() })
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while [&a, &b, &c].iter().any(|s| first_forced(s).is_none()) {
            assert!(Instant::now() < deadline, "no alarm within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(first_forced(&a), first_forced(&b));
        assert_ne!(first_forced(&a), first_forced(&c));
        assert!(PdkSimOptions::default().first_alarm_after <= Duration::from_secs(10));
    }
}

//! The webhook receiver: `POST /webhooks/<source name>` for every configured source whose
//! vendor signs its deliveries (Kisi `X-Signature`, Seam's Svix headers, DoorFlow
//! `Signature` + `Timestamp`; the checks are in [`super::webhook_verify`]).
//!
//! A delivery is verified on its raw bytes before anything else looks at it, committed
//! through the same [`Sink`] as polled events, and answered 2xx only once that commit is
//! durable: a crash before it leaves the delivery unanswered, so the vendor retries and
//! nothing is lost; a retry after it is a duplicate by event id, so nothing is doubled.
//! Webhook and polled copies of one event get the same id `<source>:<vendor id>` (Kisi
//! `uuid`, Seam `event_id`, DoorFlow `id`: the parsers read the same field from both
//! shapes), so the two paths dedupe against each other.
//!
//! Answers, in the order they are decided:
//! - 404: no such source, or a PDK source: PDK documents no webhook signature, and an
//!   unsigned delivery is never accepted.
//! - 403: the source has no usable webhook secret (logged with the env var to set). The
//!   vendor keeps retrying, so deliveries made before the operator fixes it still arrive.
//! - 413: body over `[webhooks] max_body` (default 256 KiB); 408 if the body stalls.
//! - 401: missing or wrong signature, or a timestamp outside ±5 minutes.
//! - 200: committed. A verified body that does not parse is committed to quarantine raw
//!   and still answered 200: the signature proves the vendor sent exactly these bytes, so
//!   a retry brings the same unparseable payload back (Seam retries for ~1.3 days), and
//!   Kisi switches off an endpoint whose error rate stays high, which would lose the good
//!   deliveries after it. The raw payload waits in quarantine for a fixed parser.
//! - 503: the store did not commit; the vendor retries later.
//!
//! DoorFlow pushes notifications (`resource_type`, `resource`, `ack_token`), not events.
//! For a polling source they only say "there is news", which the poller fetches anyway:
//! they are answered 200 and dropped. For a webhook-only source (`poll = false`) nothing
//! could fetch the event, so the notification is quarantined raw with the parser's reason.
//! A body that carries DoorFlow event objects themselves (the notification-rule callback
//! format is undocumented) is parsed and stored like a polled page.

use crate::config::{Config, Secret, SecretKind, SourceConfig};
use crate::model::Vendor;
use crate::sources::runtime::{self, CommitReport, Sink, SourceCtx, StatusBoard, StatusHandle};
use crate::sources::webhook_verify::{VerifyError, verify_doorflow, verify_kisi, verify_svix};
use crate::store::{AppendBatch, QuarantineRecord};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt as _;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest body accepted when `[webhooks] max_body` is not set. Vendors send one event (or
/// a short array) per delivery: a few KiB.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// How long a sender gets to deliver its whole body: a stalled upload must not hold a
/// connection forever.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// An oversized body is read and thrown away up to this many bytes before the 413 goes
/// out, so the sender reads the answer instead of a reset connection; past it the
/// connection is simply closed.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Serve `[webhooks] listen` until cancelled. Without `[webhooks]` there is nothing to do.
pub async fn serve(
    config: &Config,
    sink: Sink,
    board: StatusBoard,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let Some(hooks) = &config.webhooks else {
        return Ok(());
    };
    let routes = Routes::new(config, &board);
    let listener = match TcpListener::bind(&hooks.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            let why = format!(
                "the webhook receiver cannot listen on {}: {e}",
                hooks.listen
            );
            routes.fail_webhook_only(&why);
            anyhow::bail!(why);
        }
    };
    serve_on(listener, routes, sink, hooks.max_body, cancel).await
}

/// The task of a `poll = false` source: the receiver does its work, so this only keeps
/// the status honest. A failure the receiver set first (no secret) stays visible.
pub async fn webhook_only(ctx: SourceCtx) {
    ctx.status.live_unless_failed("webhooks only");
    ctx.cancel.cancelled().await;
    ctx.status.stopped();
}

async fn serve_on(
    listener: TcpListener,
    routes: Routes,
    sink: Sink,
    max_body: Option<usize>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let mut paths: Vec<String> = routes.0.keys().map(|n| format!("/webhooks/{n}")).collect();
    paths.sort();
    tracing::info!(%addr, routes = ?paths, "webhook receiver listening");
    let receiver = Arc::new(Receiver {
        routes,
        sink,
        max_body: max_body.unwrap_or(DEFAULT_MAX_BODY),
    });
    let app = Router::new()
        // A wildcard, not one segment: source names may hold a `/`.
        .route("/webhooks/{*source}", post(receive))
        .with_state(receiver);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await?;
    tracing::info!("webhook receiver stopped");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Routes

/// How a vendor's deliveries are checked, with the source's secret.
enum Verifier {
    Kisi(Secret),
    Svix(Secret),
    Doorflow(Secret),
}

impl Verifier {
    /// `None` for PDK, which documents no webhook signature.
    fn new(vendor: Vendor, secret: Secret) -> Option<Verifier> {
        match vendor {
            Vendor::Kisi => Some(Verifier::Kisi(secret)),
            Vendor::Seam => Some(Verifier::Svix(secret)),
            Vendor::Doorflow => Some(Verifier::Doorflow(secret)),
            Vendor::Pdk => None,
        }
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], now_unix: i64) -> Result<(), VerifyError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match self {
            Verifier::Kisi(s) => verify_kisi(
                s.expose().as_bytes(),
                body,
                header("x-signature").as_deref(),
            ),
            Verifier::Svix(s) => verify_svix(s.expose(), &header, body, now_unix),
            Verifier::Doorflow(s) => {
                verify_doorflow(s.expose().as_bytes(), &header, body, now_unix)
            }
        }
    }

    /// Why the secret cannot verify anything (empty, or a Seam secret that is not
    /// `whsec_` + base64). Every check looks at the secret before any header, so a
    /// request without headers tells.
    fn unusable_secret(&self) -> Option<&'static str> {
        match self.verify(&HeaderMap::new(), b"", 0) {
            Err(VerifyError::InvalidSecret(why)) => Some(why),
            _ => None,
        }
    }
}

/// Whether a source's deliveries can be checked.
enum Gate {
    Verify(Verifier),
    /// Refused; the text tells the operator what to set (never the secret).
    Refuse(String),
}

struct Route {
    name: String,
    vendor: Vendor,
    polls: bool,
    gate: Gate,
    status: StatusHandle,
    /// Kisi does not document its MAC encoding: the first verified delivery says it.
    signature_form_logged: AtomicBool,
}

/// Every source that has a webhook route, by name.
struct Routes(HashMap<String, Route>);

impl Routes {
    fn new(config: &Config, board: &StatusBoard) -> Routes {
        let mut routes = HashMap::new();
        for source in &config.sources {
            let source = source.get_ref();
            let Some(gate) = gate(source) else {
                tracing::info!(
                    source = source.name(),
                    "no webhook route: {} documents no webhook signature, and unsigned deliveries are never accepted",
                    source.vendor()
                );
                continue;
            };
            let status = board
                .handle(source.name())
                .unwrap_or_else(|| board.register(source.name(), source.vendor()));
            if let Gate::Refuse(hint) = &gate {
                if source.polls() {
                    tracing::info!(
                        source = source.name(),
                        "webhooks refused until fixed: {hint}"
                    );
                } else {
                    tracing::warn!(source = source.name(), "webhooks refused: {hint}");
                    status.failed(format!("webhooks only, but refusing them: {hint}"));
                }
            }
            routes.insert(
                source.name().to_string(),
                Route {
                    name: source.name().to_string(),
                    vendor: source.vendor(),
                    polls: source.polls(),
                    gate,
                    status,
                    signature_form_logged: AtomicBool::new(false),
                },
            );
        }
        Routes(routes)
    }

    /// Without a listener, sources that only receive webhooks receive nothing.
    fn fail_webhook_only(&self, why: &str) {
        for route in self.0.values().filter(|r| !r.polls) {
            route.status.failed(why.to_string());
        }
    }
}

/// The gate of a source, `None` when its vendor has no webhook route at all.
fn gate(source: &SourceConfig) -> Option<Gate> {
    if source.vendor() == Vendor::Pdk {
        return None;
    }
    let verifier = match source.secret(SecretKind::WebhookSecret) {
        Ok(secret) => Verifier::new(source.vendor(), secret)?,
        Err(e) => return Some(Gate::Refuse(e.message)),
    };
    Some(match verifier.unusable_secret() {
        None => Gate::Verify(verifier),
        Some(why) => {
            let fix = match &source.webhook_secret_env {
                Some(var) => format!("set {var} to the secret from the vendor's dashboard"),
                None => "fix the inline `webhook_secret`".to_string(),
            };
            Gate::Refuse(format!(
                "source `{}`: its webhook secret is unusable ({why}): {fix}",
                source.name()
            ))
        }
    })
}

// ---------------------------------------------------------------------------------------
// One delivery

struct Receiver {
    routes: Routes,
    sink: Sink,
    max_body: usize,
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    Path(source): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(route) = rx.routes.0.get(&source) else {
        tracing::info!(%peer, "webhook for an unknown source or one without a route");
        return answer(StatusCode::NOT_FOUND, "no webhook route for this source");
    };
    let refuse = |status: StatusCode, why: &str| {
        tracing::warn!(source = %route.name, %peer, status = status.as_u16(), "webhook refused: {why}");
        route.status.webhook_rejected();
        answer(status, why)
    };
    let verifier = match &route.gate {
        Gate::Verify(v) => v,
        Gate::Refuse(hint) => {
            tracing::warn!(source = %route.name, "{hint}");
            return refuse(
                StatusCode::FORBIDDEN,
                "webhooks are not enabled for this source (no webhook secret configured)",
            );
        }
    };
    let body = match read_body(body, rx.max_body, declared_length(&headers)).await {
        Ok(body) => body,
        Err(e) => return refuse(e.status(), &e.to_string()),
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = verifier.verify(&headers, &body, now) {
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    route.log_signature_form(&headers);
    match rx.commit(route, &body).await {
        Ok(report) => {
            route.status.webhook_accepted();
            tracing::debug!(
                source = %route.name,
                stored = report.stored,
                duplicates = report.duplicates,
                quarantined = report.quarantined,
                "webhook delivery committed"
            );
            answer(
                StatusCode::OK,
                format!(
                    "stored {}, duplicates {}, quarantined {}",
                    report.stored, report.duplicates, report.quarantined
                ),
            )
        }
        Err(e) => {
            tracing::error!(source = %route.name, "webhook delivery not committed: {e:#}");
            answer(StatusCode::SERVICE_UNAVAILABLE, "not stored; retry later")
        }
    }
}

fn answer(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

impl Receiver {
    /// Parse a verified body and commit it; returns once it is durable.
    async fn commit(&self, route: &Route, body: &[u8]) -> anyhow::Result<CommitReport> {
        let received_at = chrono::Utc::now();
        let delivery = split_delivery(&route.name, route.vendor, route.polls, body);
        if delivery.notifications > 0 {
            tracing::debug!(
                source = %route.name,
                notifications = delivery.notifications,
                "doorflow notifications: the poller fetches their events"
            );
        }
        let (events, mut quarantine) =
            runtime::parse_items(&route.name, route.vendor, delivery.items, received_at);
        quarantine.extend(delivery.unreadable);
        if events.is_empty() && quarantine.is_empty() {
            return Ok(CommitReport::default());
        }
        let report = self
            .sink
            .commit_durable(AppendBatch {
                events,
                quarantine,
                cursor: None,
            })
            .await?;
        route.status.committed(&report);
        Ok(report)
    }
}

impl Route {
    fn log_signature_form(&self, headers: &HeaderMap) {
        if self.vendor != Vendor::Kisi || self.signature_form_logged.swap(true, Ordering::Relaxed) {
            return;
        }
        let sig = headers
            .get("x-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (prefixed, form) = kisi_signature_form(sig);
        tracing::info!(
            source = %self.name,
            prefixed,
            form,
            "first verified Kisi delivery: X-Signature form (Kisi does not document it)"
        );
    }
}

/// Whether a Kisi `X-Signature` carries the `sha256=` prefix, and whether its MAC is hex or
/// base64. Says nothing about the value itself.
fn kisi_signature_form(sig: &str) -> (bool, &'static str) {
    let sig = sig.trim();
    let rest = match sig.get(..7) {
        Some(head) if head.eq_ignore_ascii_case("sha256=") => Some(sig[7..].trim()),
        _ => None,
    };
    let mac = rest.unwrap_or(sig);
    let hex = mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit());
    (rest.is_some(), if hex { "hex" } else { "base64" })
}

/// A verified body split into the vendor's items.
#[derive(Debug, Default)]
struct Delivery {
    items: Vec<Value>,
    /// The whole body, when it is not JSON at all.
    unreadable: Option<QuarantineRecord>,
    /// DoorFlow notifications left to the poller.
    notifications: usize,
}

/// One event object, an array of them, or the vendor's list page. DoorFlow notifications
/// are dropped when the source polls (its poller fetches the events they point at).
fn split_delivery(source: &str, vendor: Vendor, polls: bool, body: &[u8]) -> Delivery {
    let doc: Value = match serde_json::from_slice(body) {
        Ok(doc) => doc,
        Err(e) => {
            let raw = String::from_utf8_lossy(body);
            return Delivery {
                unreadable: Some(runtime::quarantine_raw(
                    source,
                    vendor,
                    &raw,
                    format!("webhook body is not JSON: {e}"),
                )),
                ..Delivery::default()
            };
        }
    };
    let mut items = super::page_items(vendor, &doc).unwrap_or_else(|| match doc {
        Value::Array(items) => items,
        one => vec![one],
    });
    let before = items.len();
    if vendor == Vendor::Doorflow && polls {
        items.retain(|item| !is_doorflow_notification(item));
    }
    Delivery {
        notifications: before - items.len(),
        items,
        unreadable: None,
    }
}

/// A DoorFlow webhook notification (a pointer to a resource), not an event object.
fn is_doorflow_notification(item: &Value) -> bool {
    item.get("event_code").is_none()
        && ["resource_type", "resource", "resource_url", "ack_token"]
            .iter()
            .any(|k| item.get(k).is_some())
}

// ---------------------------------------------------------------------------------------
// The body, bounded

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BodyError {
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("body not received within {} s", BODY_DEADLINE.as_secs())]
    TimedOut,
    #[error("body unreadable: {0}")]
    Broken(String),
}

impl BodyError {
    fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The whole body if it is at most `limit` bytes. Chunked bodies are counted as they
/// come, so a missing or lying `Content-Length` does not get past the limit.
async fn read_body(body: Body, limit: usize, declared: Option<u64>) -> Result<Bytes, BodyError> {
    let limit_bytes = limit as u64;
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(BodyError::TooLarge(limit));
    }
    let collect = async {
        let mut chunks = body.into_data_stream();
        let capacity = declared.unwrap_or(0).min(limit_bytes);
        let mut buf = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut seen: u64 = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > DRAIN_LIMIT {
                return Err(BodyError::TooLarge(limit));
            }
            if seen <= limit_bytes {
                buf.extend_from_slice(&chunk);
            }
        }
        if seen > limit_bytes {
            Err(BodyError::TooLarge(limit))
        } else {
            Ok(Bytes::from(buf))
        }
    };
    tokio::time::timeout(BODY_DEADLINE, collect)
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::sources::runtime::{EngineThread, LinkState};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn deliveries_split_into_items() {
        let one = split_delivery(
            "s",
            Vendor::Kisi,
            true,
            br#"{"uuid":"u1","type":"lock.unlock"}"#,
        );
        assert_eq!(one.items.len(), 1);
        let many = split_delivery("s", Vendor::Kisi, true, br#"[{"uuid":"a"},{"uuid":"b"}]"#);
        assert_eq!(many.items.len(), 2);
        let page = split_delivery(
            "s",
            Vendor::Seam,
            true,
            br#"{"events":[{"event_id":"e1"}],"ok":true}"#,
        );
        assert_eq!(page.items, vec![json!({"event_id": "e1"})]);
        let junk = split_delivery("s", Vendor::Seam, true, b"{\"event_id\": \"e1\"");
        assert!(junk.items.is_empty());
        let q = junk.unreadable.unwrap();
        assert_eq!(q.raw, "{\"event_id\": \"e1\"");
        assert!(
            q.error.starts_with("webhook body is not JSON"),
            "{}",
            q.error
        );
        assert_eq!(
            split_delivery("s", Vendor::Kisi, true, b"[]").items.len(),
            0
        );
    }

    #[test]
    fn doorflow_notifications_go_to_the_poller_unless_webhooks_only() {
        let body =
            br#"[{"action":"CREATE","resource_type":"Event","resource_id":"98321","ack_token":"t"},
                        {"id":98322,"event_code":32,"created_at":"2026-03-02T09:14:05Z"}]"#;
        let polled = split_delivery("df", Vendor::Doorflow, true, body);
        assert_eq!((polled.items.len(), polled.notifications), (1, 1));
        assert_eq!(polled.items[0]["id"], 98322);
        let only = split_delivery("df", Vendor::Doorflow, false, body);
        assert_eq!((only.items.len(), only.notifications), (2, 0));
    }

    #[test]
    fn kisi_signature_forms_are_told_apart() {
        let hex = "a6a6c693f112d4ec93acdcdbdf489add0aee38c4f3d0e68a5e850887ae3a3e92";
        assert_eq!(kisi_signature_form(hex), (false, "hex"));
        assert_eq!(kisi_signature_form(&format!("SHA256={hex}")), (true, "hex"));
        assert_eq!(
            kisi_signature_form("sha256=pqbGk/ES1OyTrNzb30ia3QruOMTz0OaKXoUIh646PpI="),
            (true, "base64")
        );
        assert_eq!(kisi_signature_form("é"), (false, "base64"));
    }

    /// A receiver on a free loopback port over a real store.
    struct Running {
        addr: SocketAddr,
        board: StatusBoard,
        cancel: CancellationToken,
        server: tokio::task::JoinHandle<anyhow::Result<()>>,
        engine: EngineThread,
        _dir: tempfile::TempDir,
    }

    impl Running {
        async fn start(config_text: &str) -> Running {
            let dir = tempfile::tempdir().unwrap();
            let config = Config::parse(config_text, None, true).unwrap();
            let engine = Engine::open(dir.path(), Default::default()).unwrap();
            let (sink, engine) = runtime::spawn_engine(engine, |_, _| {});
            let board = StatusBoard::new();
            for s in &config.sources {
                board.register(s.get_ref().name(), s.get_ref().vendor());
            }
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let routes = Routes::new(&config, &board);
            let cancel = CancellationToken::new();
            let max_body = config.webhooks.as_ref().and_then(|w| w.max_body);
            let server = tokio::spawn(serve_on(listener, routes, sink, max_body, cancel.clone()));
            Running {
                addr,
                board,
                cancel,
                server,
                engine,
                _dir: dir,
            }
        }

        fn url(&self, source: &str) -> String {
            format!("http://{}/webhooks/{source}", self.addr)
        }

        async fn stop(self) -> Engine {
            self.cancel.cancel();
            self.server.await.unwrap().unwrap();
            self.engine.join().unwrap()
        }
    }

    const CONFIG: &str = r#"
[[source]]
name = "hq-kisi"
vendor = "kisi"
poll = false
webhook_secret = "k-secret"

[[source]]
name = "nosecret"
vendor = "seam"
poll = false
webhook_secret_env = "DOORWATCH_TEST_UNSET_WEBHOOK_SECRET"

[[source]]
name = "badsecret"
vendor = "seam"
webhook_secret = "whsec_!!!"

[[source]]
name = "hq-pdk"
vendor = "pdk"
webhook_secret = "p-secret"

[webhooks]
listen = "127.0.0.1:0"
max_body = 1000
"#;

    #[tokio::test]
    async fn routing_refusals_and_limits() {
        let run = Running::start(CONFIG).await;
        let http = reqwest::Client::new();
        let post = |source: &str, body: Vec<u8>| http.post(run.url(source)).body(body).send();
        let code = |r: reqwest::Response| r.status().as_u16();

        assert_eq!(code(post("nobody", b"{}".to_vec()).await.unwrap()), 404);
        assert_eq!(code(post("hq-pdk", b"{}".to_vec()).await.unwrap()), 404);
        let r = post("nosecret", b"{}".to_vec()).await.unwrap();
        assert_eq!(code(r), 403);
        assert_eq!(code(post("badsecret", b"{}".to_vec()).await.unwrap()), 403);
        let get = http.get(run.url("hq-kisi")).send().await.unwrap();
        assert_eq!(get.status().as_u16(), 405);
        // Too large, with a Content-Length, then unsigned within the limit.
        assert_eq!(code(post("hq-kisi", vec![b' '; 1001]).await.unwrap()), 413);
        assert_eq!(code(post("hq-kisi", vec![b' '; 1000]).await.unwrap()), 401);

        // Chunked, no Content-Length: counted as it streams.
        let mut tcp = tokio::net::TcpStream::connect(run.addr).await.unwrap();
        let chunk = "x".repeat(600);
        let req = format!(
            "POST /webhooks/hq-kisi HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut reply = String::new();
        tcp.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");

        let nosecret = run.board.get("nosecret").unwrap();
        assert_eq!(nosecret.state, LinkState::Failed);
        let reason = nosecret.reason.unwrap();
        assert!(
            reason.contains("DOORWATCH_TEST_UNSET_WEBHOOK_SECRET"),
            "{reason}"
        );
        let badsecret = run.board.get("badsecret").unwrap();
        assert_eq!(
            badsecret.state,
            LinkState::Connecting,
            "a polling source is not failed"
        );
        let kisi = run.board.get("hq-kisi").unwrap();
        assert_eq!((kisi.webhooks_accepted, kisi.webhooks_rejected), (0, 3));

        let engine = run.stop().await;
        assert_eq!(engine.store().quarantine_count().unwrap(), 0);
        engine.close().unwrap();
    }

    #[tokio::test]
    async fn a_signed_unparseable_body_is_quarantined_and_answered_200() {
        use hmac::{Hmac, KeyInit, Mac};
        let run = Running::start(CONFIG).await;
        let body = b"this is not json".to_vec();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k-secret").unwrap();
        mac.update(&body);
        let sig = hex::encode(mac.finalize().into_bytes());
        let r = reqwest::Client::new()
            .post(run.url("hq-kisi"))
            .header("X-Signature", format!("sha256={sig}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let kisi = run.board.get("hq-kisi").unwrap();
        assert_eq!((kisi.quarantined, kisi.webhooks_accepted), (1, 1));
        let engine = run.stop().await;
        let q = engine.store().quarantined().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].raw, "this is not json");
        engine.close().unwrap();
    }

    #[tokio::test]
    async fn webhook_only_sources_fail_when_the_port_is_taken() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let text = CONFIG.replace("127.0.0.1:0", &taken.local_addr().unwrap().to_string());
        let config = Config::parse(&text, None, true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), Default::default()).unwrap();
        let (sink, thread) = runtime::spawn_engine(engine, |_, _| {});
        let board = StatusBoard::new();
        board.register("hq-kisi", Vendor::Kisi);
        let e = serve(&config, sink, board.clone(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot listen"), "{e}");
        let kisi = board.get("hq-kisi").unwrap();
        assert_eq!(kisi.state, LinkState::Failed);
        thread.join().unwrap().close().unwrap();
    }
}

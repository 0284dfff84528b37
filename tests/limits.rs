//! Input limits against the real simulators: a vendor that answers with an endless
//! body, a page announcing 1 GiB, or a 4 MiB WebSocket frame costs doorwatch a bounded
//! read and a backoff — never its memory — and loses no event. A webhook sender that
//! uploads without end is cut off and the receiver goes on (the 413s for bodies over
//! `[webhooks] max_body` are in tests/webhooks.rs and `sources::webhook`'s unit tests).

use doorwatch::config::{Config, DEFAULT_MAX_RESPONSE};
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::model::{Event, EventKind};
use doorwatch::sim::doorflow::{DoorflowSim, DoorflowSimOptions};
use doorwatch::sim::pdk::{PdkFault, PdkSim, PdkSimHandle, PdkSimOptions, SimEvent};
use doorwatch::sources::ParseContext;
use doorwatch::sources::pdk::parse_topic;
use doorwatch::sources::runtime::LinkState;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Peak resident memory of this test process, from /proc (kB → bytes).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Poll `cond` every 20 ms until it holds, or fail after `secs` with `what`.
async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_live(text: &str, data: &Path, seen: Option<Arc<Mutex<Vec<Event>>>>) -> Live {
    let config = Config::parse(text, None, true).unwrap();
    let engine = Engine::open(data, config.alarm_config()).unwrap();
    Live::start(&config, engine, move |_, events| {
        if let Some(seen) = &seen {
            seen.lock().unwrap().extend_from_slice(events);
        }
    })
    .unwrap()
}

/// Every reason the source's status showed while `cond` was coming true.
async fn reasons_until(
    live: &Live,
    source: &str,
    secs: u64,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> BTreeSet<String> {
    let mut reasons = BTreeSet::new();
    wait_for(secs, what, || {
        if let Some(s) = live.board.get(source) {
            assert_ne!(s.state, LinkState::Failed, "source failed: {:?}", s.reason);
            if let Some(r) = s.reason {
                reasons.insert(r);
            }
        }
        cond()
    })
    .await;
    reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_and_gigabyte_pages_are_refused_with_backoff_and_lose_nothing() {
    let t0 = Instant::now();
    let sim = DoorflowSim::start(DoorflowSimOptions {
        seed: 7,
        rate: 1.0,
        speed: 300.0,
        ..DoorflowSimOptions::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    // The default max_response (8 MiB): no `max_response` line.
    let text = format!(
        "[[source]]\nname = \"df\"\nvendor = \"doorflow\"\nbase_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nrefresh_token = \"{}\"\npoll_interval = \"100ms\"\npage_size = 100\n",
        sim.base_url(),
        sim.client_id(),
        sim.client_secret(),
        sim.initial_refresh_token()
    );
    let live = start_live(&text, data.path(), None);
    wait_for(30, "first events", || {
        live.board.get("df").is_some_and(|s| s.stored > 0)
    })
    .await;

    let faults = sim.faults();
    let too_large = format!("response larger than {DEFAULT_MAX_RESPONSE} bytes");
    for declared in [false, true] {
        faults.oversized_next(2, declared);
        let seen = reasons_until(&live, "df", 30, "the oversized pages to be served", || {
            faults.pending() == 0
        })
        .await;
        // The status shows the reason while the source backs off from the second one.
        assert!(
            seen.iter().any(|r| r.contains(&too_large)),
            "declared={declared}: no `{too_large}` in {seen:?}"
        );
    }

    // Everything the simulator emitted is stored exactly once.
    faults.set_paused(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let want: BTreeSet<String> = sim
        .ledger()
        .iter()
        .map(|e| format!("df:{}", e["id"]))
        .collect();
    wait_for(30, "the store to catch up", || {
        live.board
            .get("df")
            .is_some_and(|s| s.stored as usize >= want.len())
    })
    .await;
    let engine = live.shutdown().await.unwrap();
    let stored: Vec<String> = engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1.id)
        .collect();
    engine.close().unwrap();
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "an event is stored twice");
    assert_eq!(unique, want);

    // Four pages of 1 GiB (or more) were offered; the process read 8 MiB of each.
    let peak = peak_rss();
    assert!(peak < 400 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
    eprintln!(
        "doorflow: {} events, peak RSS {} MiB, {:?}",
        unique.len(),
        peak >> 20,
        t0.elapsed()
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------
// PDK: WebSocket frames

const PDK: &str = "hq-pdk";

fn pdk_ids(ledger: &[SimEvent]) -> BTreeSet<String> {
    let ctx = ParseContext {
        source: PDK,
        received_at: chrono::Utc::now(),
    };
    ledger
        .iter()
        .filter(|e| !e.companion)
        .map(|e| parse_topic(&ctx, &e.topic, &e.payload).unwrap().id)
        .collect()
}

async fn pause_and_settle(sim: &PdkSimHandle) {
    sim.set_fault(PdkFault::Paused, true);
    let mut last = (sim.ledger_len(), Instant::now());
    wait_for(10, "the generator to stop", || {
        let n = sim.ledger_len();
        if n != last.0 {
            last = (n, Instant::now());
        }
        last.1.elapsed() > Duration::from_millis(300)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_frames_end_the_connection_not_the_memory() {
    let t0 = Instant::now();
    let sim = PdkSim::start(PdkSimOptions {
        rate: 25.0,
        ping_interval: Duration::from_millis(1000),
        ping_timeout: Duration::from_secs(10),
        start_paused: true,
        ..PdkSimOptions::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    // 1 MiB frames at most; the simulator's are 4 MiB. History fills the gaps the
    // reconnects leave.
    let text = format!(
        "[[source]]\nname = \"{PDK}\"\nvendor = \"pdk\"\nbase_url = \"{url}\"\nauth_url = \"{url}\"\nsystem_id = \"{sys}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\nhistory_path = \"{hist}\"\nmax_response = 1048576\n",
        url = sim.base_url(),
        sys = sim.system_id(),
        id = sim.client_id(),
        secret = sim.client_secret(),
        hist = doorwatch::sim::pdk::HISTORY_PATH,
    );
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let live = start_live(&text, data.path(), Some(seen.clone()));
    wait_for(20, "the source to subscribe", || {
        sim.subscribed_clients() == 1
    })
    .await;
    sim.set_fault(PdkFault::Paused, false);
    let before = sim.stats().subscriptions;
    sim.set_fault(PdkFault::Oversized, true);
    let reasons = reasons_until(
        &live,
        PDK,
        30,
        "two reconnects after oversized frames",
        || sim.stats().subscriptions >= before + 2,
    )
    .await;
    sim.set_fault(PdkFault::Oversized, false);
    assert!(
        reasons.iter().any(|r| r.contains("message too large")),
        "no `message too large` in {reasons:?}"
    );
    let target = sim.ledger_len() + 100;
    wait_for(30, "more events", || sim.ledger_len() >= target).await;
    pause_and_settle(&sim).await;
    let want = pdk_ids(&sim.ledger());
    let stored_ids = || -> BTreeSet<String> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind != EventKind::SourceGap)
            .map(|e| e.id.clone())
            .collect()
    };
    wait_for(30, "the store to hold the ledger", || {
        stored_ids().is_superset(&want)
    })
    .await;
    let engine = live.shutdown().await.unwrap();
    let stored: Vec<Event> = engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1)
        .collect();
    engine.close().unwrap();
    let ids: BTreeSet<&str> = stored.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "an event is stored twice");
    assert!(
        stored
            .iter()
            .all(|e| e.raw.parse().unwrap().get("pad").is_none()),
        "an oversized payload was stored"
    );
    let peak = peak_rss();
    assert!(peak < 400 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
    eprintln!(
        "pdk: {} events, peak RSS {} MiB, {:?}",
        want.len(),
        peak >> 20,
        t0.elapsed()
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------
// Webhooks: an endless upload

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_webhook_upload_is_cut_off_and_the_receiver_goes_on() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "[[source]]\nname = \"hooks\"\nvendor = \"kisi\"\npoll = false\nwebhook_secret = \"k-secret\"\n[webhooks]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let live = start_live(&text, data.path(), None);
    let url = format!("http://127.0.0.1:{port}/webhooks/hooks");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the receiver never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Chunked, no Content-Length, and it never ends: 64 KiB chunks until the receiver
    // hangs up (or 1 GiB, which would mean it never does).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = "POST /webhooks/hooks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(64 * 1024));
    let mut sent: u64 = 0;
    while sent < 1 << 30 {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += 64 * 1024;
    }
    assert!(sent < 1 << 30, "the receiver read {} MiB", sent >> 20);
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 413"),
        "{reply}"
    );
    let http = reqwest::Client::new();
    // Still serving: an unsigned delivery is refused as such.
    let after = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(after.status().as_u16(), 401);
    let peak = peak_rss();
    assert!(peak < 400 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
    eprintln!("webhook: upload stopped after {} MiB", sent >> 20);
    live.shutdown().await.unwrap().close().unwrap();
}

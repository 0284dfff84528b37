//! The live PDK source against the PDK simulator on loopback: tokens, the Socket.IO
//! stream, faults, gaps, restarts and protocol discipline.

mod common;

use common::running;
use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::model::{Event, EventKind};
use doorwatch::sim::pdk::{PdkFault, PdkSim, PdkSimHandle, PdkSimOptions, SimEvent};
use doorwatch::sources::ParseContext;
use doorwatch::sources::pdk::{parse_topic, render_info};
use doorwatch::sources::runtime::LinkState;
use doorwatch::state::alarms::AlarmConfig;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SOURCE: &str = "hq-pdk";

/// A busy building on a short clock, paused until the source has subscribed.
fn fast() -> PdkSimOptions {
    PdkSimOptions {
        rate: 25.0,
        first_alarm_after: Duration::from_millis(200),
        alarm_every: Duration::from_millis(1500),
        alarm_clear_after: Duration::from_millis(600),
        node_cycle_every: Duration::from_millis(2000),
        node_offline_for: Duration::from_millis(700),
        sync_every: Duration::from_millis(1700),
        sync_step: Duration::from_millis(150),
        ping_interval: Duration::from_millis(1000),
        ping_timeout: Duration::from_secs(10),
        start_paused: true,
        ..PdkSimOptions::default()
    }
}

struct Setup<'a> {
    history: bool,
    engine_io: Option<u8>,
    /// `client_id` / `client_secret` inline, or `*_env` naming these variables.
    env: Option<(&'a str, &'a str)>,
}

fn config_text(sim: &PdkSimHandle, s: &Setup) -> String {
    let mut t = format!(
        "[[source]]\nname = \"{SOURCE}\"\nvendor = \"pdk\"\nbase_url = \"{url}\"\nauth_url = \"{url}\"\nsystem_id = \"{sys}\"\n",
        url = sim.base_url(),
        sys = sim.system_id()
    );
    match s.env {
        Some((id, secret)) => {
            t += &format!("client_id_env = \"{id}\"\nclient_secret_env = \"{secret}\"\n")
        }
        None => {
            t += &format!(
                "client_id = \"{}\"\nclient_secret = \"{}\"\n",
                sim.client_id(),
                sim.client_secret()
            )
        }
    }
    if s.history {
        t += &format!("history_path = \"{}\"\n", doorwatch::sim::pdk::HISTORY_PATH);
    }
    if let Some(v) = s.engine_io {
        t += &format!("engine_io = {v}\n");
    }
    t
}

/// What the source committed, as the engine reported it (stored events only).
type Seen = Arc<Mutex<Vec<Event>>>;

async fn start_live(sim: &PdkSimHandle, setup: &Setup<'_>, dir: &Path) -> (Live, Seen) {
    let config = Config::parse(&config_text(sim, setup), None, true).unwrap();
    let engine = Engine::open(dir, AlarmConfig::default()).unwrap();
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let live = Live::start(&config, engine, move |_, events| {
        sink.lock().unwrap().extend_from_slice(events);
    })
    .unwrap();
    (live, seen)
}

/// Poll `cond` every 50 ms until it holds, or fail after `secs` with `what`.
async fn wait_for(secs: u64, what: &str, cond: impl FnMut() -> bool) {
    assert!(poll_until(secs, cond).await, "timed out waiting for {what}");
}

/// Poll `cond` every 50 ms until it holds (true) or `secs` pass (false).
async fn poll_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Let the building run until `n` more payloads are in the ledger.
async fn run_for(sim: &PdkSimHandle, n: usize) {
    let target = sim.ledger_len() + n;
    wait_for(30, "the generator", || sim.ledger_len() >= target).await;
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

fn ctx() -> ParseContext<'static> {
    ParseContext {
        source: SOURCE,
        received_at: chrono::Utc::now(),
    }
}

/// The id the source must store for each primary ledger payload, with its time.
fn expected(ledger: &[SimEvent]) -> HashMap<String, i64> {
    ledger
        .iter()
        .filter(|e| !e.companion)
        .map(|e| {
            let id = parse_topic(&ctx(), &e.topic, &e.payload).unwrap().id;
            (id, e.at_ms)
        })
        .collect()
}

fn ids(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e.kind != EventKind::SourceGap)
        .map(|e| e.id.clone())
        .collect()
}

fn gaps(events: &[Event]) -> Vec<(i64, i64)> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::SourceGap)
        .map(|e| {
            let raw = e.raw.parse().unwrap();
            (
                raw["gap"]["start"].as_i64().unwrap(),
                raw["gap"]["end"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Stop the sources and read back the whole store.
async fn stop_and_read(live: Live) -> (Vec<Event>, usize) {
    let engine = live.shutdown().await.unwrap();
    let stored: Vec<Event> = engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1)
        .collect();
    let quarantined = engine.store().quarantine_count().unwrap();
    engine.close().unwrap();
    (stored, quarantined)
}

fn assert_no_duplicates(stored: &[Event]) {
    let unique: BTreeSet<&str> = stored.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unique.len(), stored.len(), "an id is stored twice");
}

async fn subscribed(sim: &PdkSimHandle) {
    let ok = poll_until(20, || sim.subscribed_clients() == 1).await;
    assert!(
        ok,
        "the source did not subscribe: {:?}\n{:?}",
        sim.stats(),
        sim.connection_logs()
            .iter()
            .map(|l| (l.eio, l.client_frames.len(), l.violation.clone()))
            .collect::<Vec<_>>()
    );
}

/// Drop the stream and wait until the source has subscribed on a new connection (the
/// old one may still look subscribed for a moment).
async fn drop_and_resubscribe(sim: &PdkSimHandle) {
    let before = sim.stats().subscriptions;
    sim.drop_connections();
    wait_for(20, "the source to subscribe again", || {
        sim.stats().subscriptions > before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_stores_exactly_the_ledger_with_companions_merged() {
    let t0 = Instant::now();
    // Tokens short enough to need renewing during the test.
    let sim = PdkSim::start(PdkSimOptions {
        system_token_lifetime: Duration::from_secs(3),
        ..fast()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        history: false,
        engine_io: None,
        env: None,
    };
    let (live, seen) = start_live(&sim, &setup, dir.path()).await;
    subscribed(&sim).await;
    sim.set_fault(PdkFault::Paused, false);
    run_for(&sim, 400).await;
    pause_and_settle(&sim).await;
    let ledger = sim.ledger();
    let want = expected(&ledger);
    wait_for(20, "the store to hold the ledger", || {
        ids(&seen.lock().unwrap()).len() >= want.len()
    })
    .await;
    assert_eq!(
        live.board.get(SOURCE).unwrap().state,
        LinkState::Live,
        "{:?}",
        live.board.get(SOURCE)
    );
    let (stored, quarantined) = stop_and_read(live).await;

    assert_no_duplicates(&stored);
    let got = ids(&stored);
    let want_ids: BTreeSet<String> = want.keys().cloned().collect();
    assert_eq!(got, want_ids);
    assert!(gaps(&stored).is_empty(), "no outage, no gap");
    assert_eq!(quarantined, 0);
    assert!(!stored.iter().any(|e| e.id.contains(":liveEvent:")));
    // Every companion's text became its primary's summary.
    let by_id: HashMap<&str, &Event> = stored.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut merged = 0;
    for pair in ledger.windows(2) {
        let (primary, companion) = (&pair[0], &pair[1]);
        if !companion.companion {
            continue;
        }
        let id = parse_topic(&ctx(), &primary.topic, &primary.payload)
            .unwrap()
            .id;
        let text = render_info(
            companion.payload["info"].as_str().unwrap(),
            companion.payload["placeholders"].as_array().unwrap(),
        );
        assert_eq!(by_id[id.as_str()].summary, text);
        merged += 1;
    }
    assert!(merged > 20, "{merged}");
    for kind in [
        EventKind::AccessGranted,
        EventKind::AccessDenied,
        EventKind::DoorForcedOpen,
        EventKind::ControllerOffline,
        EventKind::ControllerSyncFinished,
    ] {
        assert!(stored.iter().any(|e| e.kind == kind), "{kind:?}");
    }
    let stats = sim.stats();
    assert_eq!(stats.connections, 1, "{stats:?}");
    // Renewed before expiry: the server never had to hold anything.
    assert!(stats.renewals >= 1, "{stats:?}");
    assert_eq!(stats.invalid_tokens_sent, 0, "{stats:?}");
    eprintln!(
        "live: {} events, {merged} companions merged, {:?}",
        stored.len(),
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_with_history_stores_exactly_the_ledger() {
    let t0 = Instant::now();
    let sim = PdkSim::start(PdkSimOptions {
        system_token_lifetime: Duration::from_secs(3),
        ..fast()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        history: true,
        engine_io: None,
        env: None,
    };
    let (live, seen) = start_live(&sim, &setup, dir.path()).await;
    subscribed(&sim).await;
    sim.set_fault(PdkFault::Paused, false);
    for f in [
        PdkFault::Duplicates,
        PdkFault::OutOfOrder,
        PdkFault::Malformed,
    ] {
        sim.set_fault(f, true);
    }
    // Drops and token expiry in turn, each once the source is back.
    for round in 0..6 {
        run_for(&sim, 60).await;
        if round % 2 == 0 {
            drop_and_resubscribe(&sim).await;
        } else {
            let before = sim.stats().renewals;
            sim.expire_tokens();
            wait_for(20, "a renewal", || sim.stats().renewals > before).await;
        }
    }
    run_for(&sim, 60).await;
    for f in [
        PdkFault::Duplicates,
        PdkFault::OutOfOrder,
        PdkFault::Malformed,
    ] {
        sim.set_fault(f, false);
    }
    pause_and_settle(&sim).await;
    let want = expected(&sim.ledger());
    let want_ids: BTreeSet<String> = want.keys().cloned().collect();
    wait_for(30, "the store to hold the ledger", || {
        ids(&seen.lock().unwrap()).is_superset(&want_ids)
    })
    .await;
    let status = live.board.get(SOURCE).unwrap();
    let (stored, quarantined) = stop_and_read(live).await;

    assert_no_duplicates(&stored);
    assert_eq!(ids(&stored), want_ids);
    assert!(gaps(&stored).is_empty(), "every gap was backfilled");
    let stats = sim.stats();
    assert!(
        quarantined > 0 && quarantined as u64 <= stats.malformed_sent * 2,
        "{quarantined} {stats:?}"
    );
    assert!(status.duplicates > 0, "{status:?}");
    assert!(stats.dropped >= 3 && stats.connections >= 4, "{stats:?}");
    assert!(
        stats.invalid_tokens_sent >= 1 && stats.renewals >= 3,
        "{stats:?}"
    );
    assert!(stats.history_requests >= 3, "{stats:?}");
    eprintln!(
        "faults: {} events, {} duplicates, {quarantined} quarantined, {stats:?}, {:?}",
        stored.len(),
        status.duplicates,
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_without_history_become_gap_events_covering_exactly_what_is_missing() {
    let t0 = Instant::now();
    let sim = PdkSim::start(fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        history: false,
        engine_io: None,
        env: None,
    };
    let (live, seen) = start_live(&sim, &setup, dir.path()).await;
    subscribed(&sim).await;
    sim.set_fault(PdkFault::Paused, false);
    for _ in 0..4 {
        run_for(&sim, 80).await;
        drop_and_resubscribe(&sim).await;
    }
    run_for(&sim, 80).await;
    pause_and_settle(&sim).await;
    let want = expected(&sim.ledger());
    // Everything is either stored or inside a recorded gap.
    let covered = |events: &[Event]| {
        let have = ids(events);
        let gaps = gaps(events);
        want.iter()
            .all(|(id, at)| have.contains(id) || gaps.iter().any(|(s, e)| s <= at && at <= e))
    };
    let settled = poll_until(30, || {
        let seen = seen.lock().unwrap();
        gaps(&seen).len() >= 4 && covered(&seen)
    })
    .await;
    let (stored, _) = stop_and_read(live).await;
    let have = ids(&stored);
    let gaps = gaps(&stored);
    let mut uncovered: Vec<(i64, &String)> = want
        .iter()
        .filter(|(id, at)| !have.contains(*id) && !gaps.iter().any(|(s, e)| s <= *at && *at <= e))
        .map(|(id, at)| (*at, id))
        .collect();
    uncovered.sort();
    assert!(
        settled && uncovered.is_empty(),
        "uncovered {uncovered:?}\ngaps {gaps:?}\n{:?}",
        sim.stats()
    );
    assert_no_duplicates(&stored);
    let dropped = sim.stats().dropped;
    assert_eq!(gaps.len() as u64, dropped, "one gap per drop: {gaps:?}");
    let missing: Vec<_> = want.iter().filter(|(id, _)| !have.contains(*id)).collect();
    for (s, e) in &gaps {
        assert!(e - s < 10_000, "gap {s}..{e} is too long to mean anything");
    }
    // Nothing stored that the building did not emit.
    let extra: Vec<_> = have.iter().filter(|id| !want.contains_key(*id)).collect();
    assert!(extra.is_empty(), "{extra:?}");
    eprintln!(
        "gaps: {} stored, {} missing inside {} gaps, {:?}",
        have.len(),
        missing.len(),
        gaps.len(),
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_errors_back_off_and_a_silent_link_is_noticed() {
    let t0 = Instant::now();
    let sim = PdkSim::start(PdkSimOptions {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(700),
        ..fast()
    })
    .await
    .unwrap();
    sim.set_fault(PdkFault::TokenServerError, true);
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        history: false,
        engine_io: None,
        env: None,
    };
    let (live, _seen) = start_live(&sim, &setup, dir.path()).await;
    // Every status the source publishes, in order.
    let states: Arc<Mutex<Vec<(LinkState, String)>>> = Arc::default();
    let (board, log) = (live.board.clone(), states.clone());
    let mut changes = board.subscribe();
    let watcher = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            if let Some(s) = board.get(SOURCE) {
                log.lock()
                    .unwrap()
                    .push((s.state, s.reason.unwrap_or_default()));
            }
        }
    });
    let backing_off = |what: &str| {
        let what = what.to_string();
        let states = states.clone();
        move || {
            states
                .lock()
                .unwrap()
                .iter()
                .filter(|(st, r)| *st == LinkState::BackingOff && r.contains(&what))
                .count()
        }
    };
    let server_errors = backing_off("HTTP 500");
    wait_for(20, "backing off on token errors", || server_errors() >= 3).await;
    // Doubling waits from 0.5 s: a handful of POSTs, not a storm.
    let posts = sim.stats().token_posts;
    assert!((3..=6).contains(&posts), "{posts} token POSTs");
    sim.set_fault(PdkFault::TokenServerError, false);
    subscribed(&sim).await;
    wait_for(20, "live", || {
        live.board
            .get(SOURCE)
            .is_some_and(|s| s.state == LinkState::Live)
    })
    .await;

    sim.set_fault(PdkFault::Silent, true);
    let silence = backing_off("no heartbeat");
    wait_for(20, "the silence to be noticed", || silence() >= 1).await;
    sim.set_fault(PdkFault::Silent, false);
    wait_for(20, "a new connection", || sim.stats().subscriptions >= 2).await;
    watcher.abort();
    let _ = stop_and_read(live).await;
    eprintln!(
        "token errors and silence: {posts} token POSTs, {:?}",
        t0.elapsed()
    );
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("doorwatch.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn stored_via_cli(data: &Path) -> Vec<Event> {
    let out = common::doorwatch(data, &["search", "--json", "--limit", "1000000"]);
    common::ok(&out)
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_and_restart_with_history_loses_and_doubles_nothing() {
    let t0 = Instant::now();
    let sim = PdkSim::start(fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let setup = Setup {
        history: true,
        engine_io: None,
        env: None,
    };
    let config = write_config(dir.path(), &config_text(&sim, &setup));

    let config = config.to_str().unwrap();
    let first = running::spawn(&data, &["--config", config, "daemon"]);
    subscribed(&sim).await;
    sim.set_fault(PdkFault::Paused, false);
    run_for(&sim, 250).await;
    first.kill9().await;
    wait_for(10, "the sim to see the client go", || {
        sim.subscribed_clients() == 0
    })
    .await;
    run_for(&sim, 100).await;

    let before = sim.stats().history_requests;
    let second = running::spawn(&data, &["--config", config, "daemon"]);
    subscribed(&sim).await;
    run_for(&sim, 100).await;
    pause_and_settle(&sim).await;
    wait_for(20, "the downtime backfill", || {
        sim.stats().history_requests > before
    })
    .await;
    let out = second.terminate().await;
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);

    let stored = stored_via_cli(&data);
    assert_no_duplicates(&stored);
    let want: BTreeSet<String> = expected(&sim.ledger()).into_keys().collect();
    assert_eq!(ids(&stored), want);
    assert!(gaps(&stored).is_empty());
    eprintln!(
        "kill -9: {} events exactly once, {:?}",
        stored.len(),
        t0.elapsed()
    );
}

/// A raw client: the system token, then the stream URL.
async fn raw_connect(
    sim: &PdkSimHandle,
    eio: u8,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let http = reqwest::Client::new();
    let id: Value = http
        .post(format!("{}/oauth2/token", sim.base_url()))
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sys: Value = http
        .post(format!(
            "{}/api/systems/{}/token",
            sim.base_url(),
            sim.system_id()
        ))
        .bearer_auth(id["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = if eio == 3 {
        doorwatch::sources::socketio::EioVersion::V3
    } else {
        doorwatch::sources::socketio::EioVersion::V4
    };
    let url = doorwatch::sources::socketio::stream_url(
        &sim.base_url(),
        sim.system_id(),
        sys["token"].as_str().unwrap(),
        version,
    )
    .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws
}

/// Send `frames` after the open packet; the server must hang up.
async fn broken_client(sim: &PdkSimHandle, eio: u8, frames: &[&str]) -> String {
    let mut ws = raw_connect(sim, eio).await;
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'), "{open:?}");
    for f in frames {
        ws.send(Message::text(f.to_string())).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .expect("the server did not close the connection");
        match msg {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
        }
    }
    let logs = sim.connection_logs();
    let log = logs.last().unwrap();
    log.violation.clone().expect("a violation is recorded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_discipline_both_ways() {
    let t0 = Instant::now();
    for eio in [None, Some(3u8)] {
        let sim = PdkSim::start(PdkSimOptions {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_secs(3),
            ..fast()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let setup = Setup {
            history: false,
            engine_io: eio,
            env: None,
        };
        let (live, seen) = start_live(&sim, &setup, dir.path()).await;
        subscribed(&sim).await;
        sim.set_fault(PdkFault::Paused, false);
        // Several heartbeats each way.
        wait_for(20, "heartbeats", || {
            let logs = sim.connection_logs();
            let beats = logs[0]
                .client_frames
                .iter()
                .filter(|f| *f == "3" || *f == "2")
                .count();
            beats >= 4 && !seen.lock().unwrap().is_empty()
        })
        .await;
        let logs = sim.connection_logs();
        let _ = stop_and_read(live).await;
        assert_eq!(logs.len(), 1, "{logs:?}");
        let frames = &logs[0].client_frames;
        assert_eq!(logs[0].violation, None, "{frames:?}");
        if eio == Some(3) {
            assert_eq!(logs[0].eio, 3);
            assert!(!frames.iter().any(|f| f.starts_with("40")), "{frames:?}");
            assert!(
                frames[0].starts_with("42[\"subscribeIsolated\""),
                "{frames:?}"
            );
            assert!(
                frames.iter().any(|f| f == "2"),
                "the client pings under EIO=3"
            );
            assert!(!frames.iter().any(|f| f.starts_with('3')), "{frames:?}");
        } else {
            assert_eq!(logs[0].eio, 4);
            assert_eq!(frames[0], "40", "{frames:?}");
            let first_not_pong = frames[1..].iter().find(|f| *f != "3").unwrap();
            assert!(
                first_not_pong.starts_with("42[\"subscribeIsolated\""),
                "{frames:?}"
            );
            assert!(!frames.iter().any(|f| f.starts_with('2')), "{frames:?}");
            assert!(frames.iter().any(|f| f == "3"), "the client answers pings");
        }
    }

    // The simulator closes clients that break the rules, as PDK does.
    let sim = PdkSim::start(fast()).await.unwrap();
    let v = broken_client(&sim, 4, &["2"]).await;
    assert!(v.contains("invalid heartbeat direction"), "{v}");
    let v = broken_client(&sim, 4, &[r#"42["subscribeIsolated",{"topics":[]}]"#]).await;
    assert!(v.contains("before joining"), "{v}");
    let v = broken_client(&sim, 3, &["40"]).await;
    assert!(v.contains("EIO=3"), "{v}");
    let v = broken_client(&sim, 3, &["3"]).await;
    assert!(v.contains("invalid heartbeat direction"), "{v}");
    eprintln!("discipline: {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_client_secret_fails_naming_the_env_vars_and_leaks_nothing() {
    let sim = PdkSim::start(fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let setup = Setup {
        history: true,
        engine_io: None,
        env: Some(("PDK_T6_CLIENT_ID", "PDK_T6_CLIENT_SECRET")),
    };
    let config = write_config(dir.path(), &config_text(&sim, &setup));
    let secret = "wrong-secret-7f3a9c1e55";
    let config = config.to_str().unwrap();
    let out = running::command(&data, &["--config", config, "daemon", "--exit-after", "3s"])
        .env("PDK_T6_CLIENT_ID", sim.client_id())
        .env("PDK_T6_CLIENT_SECRET", secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(SOURCE))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("failed"), "{line}");
    assert!(line.contains("401"), "{line}");
    assert!(
        line.contains("PDK_T6_CLIENT_ID") && line.contains("PDK_T6_CLIENT_SECRET"),
        "{line}"
    );
    assert!(stderr.contains("PDK_T6_CLIENT_SECRET"), "{stderr}");
    let mut everything = format!("{stdout}{stderr}");
    for entry in walk(&data) {
        everything += &String::from_utf8_lossy(&std::fs::read(entry).unwrap());
    }
    assert!(!everything.contains(secret), "the secret leaked");
    assert!(
        !everything.contains(sim.client_secret()),
        "the real secret leaked"
    );
    assert_eq!(sim.stats().connections, 0);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

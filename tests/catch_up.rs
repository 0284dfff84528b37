//! Live sources report their catch-up of history to the engine, and the console's
//! snapshot shows it: begun before the pages, growing with every committed page,
//! gone once the source has caught up. Real sources against the simulators on
//! loopback; the witness is the engine itself, read at every commit (with the engine
//! locked, so no step is missed between two polls of a test).

use chrono::Utc;
use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::sim::doorflow::{DoorflowSim, DoorflowSimOptions};
use doorwatch::sim::kisi::{KisiSim, KisiSimOptions};
use doorwatch::sources::runtime::lock_engine;
use doorwatch::ui::snapshot::{CatchUpRow, Snapshot};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the console's snapshot showed of `source`'s catch-up at one commit.
type Seen = Arc<Mutex<Vec<Option<CatchUpRow>>>>;

fn start_watched(text: &str, data: &Path, source: &'static str) -> (Live, Seen) {
    let config = Config::parse(text, None, true).unwrap();
    let engine = Engine::open(data, config.alarm_config()).unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let live = Live::start(&config, engine, move |engine, _| {
        let snapshot = Snapshot::take(engine, Vec::new(), Utc::now());
        let row = snapshot.catch_ups.into_iter().find(|c| c.source == source);
        log.lock().unwrap().push(row);
    })
    .unwrap();
    (live, seen)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every ledger event stored, then the catch-up ended: the engine holds none.
async fn wait_caught_up(live: &Live, source: &str, ledger: u64) {
    wait_for("every ledger event stored", || {
        live.board.get(source).is_some_and(|s| s.stored >= ledger)
    })
    .await;
    let engine = live.engine();
    wait_for("the catch-up to end", || {
        lock_engine(&engine).live.catch_up(source).is_none()
    })
    .await;
}

/// The rows seen while the catch-up ran: counts and progress only grow, and some
/// commit saw it part way (not just begun, not yet done).
fn assert_progressed(seen: &Seen) -> Vec<CatchUpRow> {
    let rows: Vec<CatchUpRow> = seen.lock().unwrap().iter().flatten().cloned().collect();
    assert!(
        rows.len() >= 2,
        "the catch-up was seen at {} commits",
        rows.len()
    );
    for pair in rows.windows(2) {
        assert!(pair[1].events >= pair[0].events, "{pair:?}");
        assert!(pair[1].fraction >= pair[0].fraction, "{pair:?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.events > 0 && r.fraction > 0.0 && r.fraction < 1.0),
        "no commit saw the catch-up part way: {rows:?}"
    );
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorflow_backfill_reports_begin_pages_and_end() {
    let started = Instant::now();
    let h = DoorflowSim::start(DoorflowSimOptions {
        seed: 7,
        rate: 0.01,
        start_at: Some(Utc::now() - chrono::Duration::days(2)),
        generate: false,
        ..DoorflowSimOptions::default()
    })
    .await
    .unwrap();
    // History only: some 600 events over about a day and a half of the past.
    h.generate(600);
    let ledger = h.ledger_len() as u64;
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[[source]]
name = "df"
vendor = "doorflow"
base_url = "{url}"
client_id = "{id}"
client_secret = "{secret}"
refresh_token = "{refresh}"
poll_interval = "100ms"
backfill = "3d"
page_size = 40
"#,
        url = h.base_url(),
        id = h.client_id(),
        secret = h.client_secret(),
        refresh = h.initial_refresh_token(),
    );
    let (live, seen) = start_watched(&text, data.path(), "df");
    wait_caught_up(&live, "df", ledger).await;
    let rows = assert_progressed(&seen);
    // DoorFlow counts the window's events: progress is in events against that total.
    let total = rows[0].total;
    assert!(total.is_some_and(|t| t > 0 && t <= ledger), "{rows:?}");
    assert!(rows.iter().all(|r| r.total == total), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.eta.is_some()),
        "an ETA once there was a pace: {rows:?}"
    );
    // The first commit (page 1) came before the catch-up began: only a window that
    // takes more than one page counts as one.
    assert!(seen.lock().unwrap()[0].is_none());
    live.shutdown().await.unwrap().close().unwrap();
    eprintln!(
        "doorflow: {ledger} events, {} commits during the catch-up, {:?}",
        rows.len(),
        started.elapsed()
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kisi_backfill_windows_report_begin_pages_and_end() {
    let started = Instant::now();
    // 200 days of history: one 90-day live interval, then 90 and 20 days walking back.
    let sim = KisiSim::start(KisiSimOptions {
        rate: 0.0,
        backfill: 300,
        backfill_span: Duration::from_secs(200 * 86_400),
        set_ready_after: Duration::from_millis(50),
        ..KisiSimOptions::default()
    })
    .await
    .unwrap();
    let ledger = sim.ledger().len() as u64;
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "[[source]]\nname = \"hq\"\nvendor = \"kisi\"\nbase_url = \"{}\"\ntoken = \"{}\"\npoll_interval = \"300ms\"\nbackfill = \"201d\"\n",
        sim.base_url(),
        sim.api_key()
    );
    let (live, seen) = start_watched(&text, data.path(), "hq");
    wait_caught_up(&live, "hq", ledger).await;
    let rows = assert_progressed(&seen);
    // Begun before the first page was committed.
    assert!(seen.lock().unwrap()[0].is_some());
    assert!(rows.iter().all(|r| r.total.is_none()), "{rows:?}");
    live.shutdown().await.unwrap().close().unwrap();
    eprintln!(
        "kisi: {ledger} events, {} commits during the catch-up, {:?}",
        rows.len(),
        started.elapsed()
    );
    sim.shutdown().await;
}

//! The live Seam source against the Seam simulator on loopback: what the store holds
//! is exactly the simulator's ledger (offline history included), through faults, a
//! kill -9 and a revoked key.

mod common;

use common::running::{self, Running};

use chrono::{DateTime, Utc};
use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::sim::seam::{SeamFault, SeamSim, SeamSimHandle, SeamSimOptions};
use doorwatch::sources::runtime::{LinkState, StatusBoard};
use doorwatch::state::alarms::AlarmConfig;
use doorwatch::state::doors::DoorKey;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const SOURCE: &str = "hq-seam";

/// Poll `done` every 50 ms until it holds; fail with `what` after `secs`.
async fn wait_for(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn blocking_wait_for(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A busy building: a day of history with more events than one page holds, a live
/// stream, and events that become listable a little after their `created_at`.
fn busy() -> SeamSimOptions {
    SeamSimOptions {
        rate: 40.0,
        backfill: 1_500,
        backfill_span: Duration::from_secs(20 * 3600),
        first_alarm_after: Duration::from_millis(300),
        alarm_every: Duration::from_secs(2),
        visibility_lag: Duration::from_millis(400),
        ..SeamSimOptions::default()
    }
}

fn source_toml(sim: &SeamSimHandle, auth: &str) -> String {
    format!(
        "[[source]]\nname = \"{SOURCE}\"\nvendor = \"seam\"\nbase_url = \"{}\"\n{auth}\npoll_interval = \"200ms\"\n",
        sim.base_url()
    )
}

fn ledger_ids(sim: &SeamSimHandle) -> BTreeSet<String> {
    sim.ledger()
        .iter()
        .map(|e| format!("{SOURCE}:{}", e["event_id"].as_str().unwrap()))
        .collect()
}

fn created_at(e: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn stored(board: &StatusBoard) -> u64 {
    board.get(SOURCE).map(|s| s.stored).unwrap_or(0)
}

/// The source running in-process on a fresh store.
struct InProcess {
    live: Live,
    _dir: tempfile::TempDir,
}

impl InProcess {
    fn start(sim: &SeamSimHandle) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let toml = source_toml(sim, &format!("token = \"{}\"", sim.api_key()));
        let config = Config::parse(&toml, None, true).unwrap();
        let engine = Engine::open(dir.path(), AlarmConfig::default()).unwrap();
        let live = Live::start(&config, engine, |_, _| {}).unwrap();
        InProcess { live, _dir: dir }
    }

    /// Stop generating, wait until everything generated is stored, stop.
    async fn drain(self, sim: &SeamSimHandle) -> Engine {
        sim.set_fault(SeamFault::Paused, true);
        // Let an in-flight step land before reading the ledger's length.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let board = self.live.board.clone();
        let want = sim.ledger_len() as u64;
        wait_for(30, "the store to hold the whole ledger", || {
            stored(&board) >= want
        })
        .await;
        self.live.shutdown().await.unwrap()
    }
}

fn store_ids(engine: &Engine) -> Vec<String> {
    engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1.id)
        .collect()
}

fn assert_store_is_ledger(engine: &Engine, sim: &SeamSimHandle) {
    let ids = store_ids(engine);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "an event stored twice");
    let want = ledger_ids(sim);
    let missing: Vec<&String> = want.difference(&unique).take(5).collect();
    let extra: Vec<&String> = unique.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "store ({}) != ledger ({}): missing {missing:?}, extra {extra:?}",
        unique.len(),
        want.len()
    );
    eprintln!("store == ledger: {} events", want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_holds_exactly_the_ledger_offline_history_included() {
    let sim = SeamSim::start(busy()).await.unwrap();
    let started = sim.started_at();
    let run = InProcess::start(&sim);
    let board = run.live.board.clone();
    let backfilled = sim.ledger_len() as u64;
    assert!(backfilled > 2 * 500, "the backfill must not fit one page");
    wait_for(30, "the backfill", || stored(&board) >= backfilled).await;
    // Live: offline history uploaded after start, i.e. created after the cursor
    // passed times far later than when it occurred.
    wait_for(30, "offline history uploaded live", || {
        sim.ledger().iter().any(|e| {
            created_at(e) > started
                && e["event_type"] == "lock.unlocked"
                && created_at(e) - parse(&e["occurred_at"]) > chrono::Duration::minutes(5)
        })
    })
    .await;
    wait_for(10, "a tamper", || {
        sim.ledger()
            .iter()
            .any(|e| e["event_type"] == "device.tampered")
    })
    .await;
    let engine = run.drain(&sim).await;
    assert_store_is_ledger(&engine, &sim);
    let status = board.get(SOURCE).unwrap();
    assert_eq!(
        status.duplicates, 0,
        "the overlap re-read is filtered by id"
    );
    assert_eq!(status.quarantined, 0);

    // Doors are the simulator's device ids; the tamper raised an alarm.
    let doors: HashSet<String> = sim.doors().into_iter().map(|d| d.0).collect();
    let events: Vec<_> = engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1)
        .collect();
    assert!(
        events
            .iter()
            .all(|e| doors.contains(&e.door.as_ref().unwrap().id))
    );
    assert!(
        engine
            .alarms
            .all()
            .any(|a| a.rule.name() == "tamper" && a.source == SOURCE)
    );
    // The lock listing named every door (by nickname or by its app name).
    for (id, name) in sim.doors() {
        let door = engine.live.door(&DoorKey::new(SOURCE, &id)).unwrap();
        assert_eq!(door.name(), Some(name.as_str()));
    }
    engine.close().unwrap();
}

fn parse(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_cut_at_the_oldest_end_and_shuffled_are_read_completely() {
    let sim = SeamSim::start(SeamSimOptions {
        oldest_first: true,
        ..busy()
    })
    .await
    .unwrap();
    sim.set_fault(SeamFault::OutOfOrder, true);
    let run = InProcess::start(&sim);
    let board = run.live.board.clone();
    let backfilled = sim.ledger_len() as u64;
    wait_for(30, "the backfill", || stored(&board) >= backfilled).await;
    let engine = run.drain(&sim).await;
    assert_store_is_ledger(&engine, &sim);
    assert_eq!(board.get(SOURCE).unwrap().duplicates, 0);
    engine.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_then_cleared_loses_nothing_and_quarantines_the_malformed() {
    let sim = SeamSim::start(SeamSimOptions {
        backfill: 200,
        rate: 20.0,
        visibility_lag: Duration::ZERO,
        ..busy()
    })
    .await
    .unwrap();
    let run = InProcess::start(&sim);
    let board = run.live.board.clone();
    wait_for(20, "first events", || stored(&board) > 0).await;
    let state = |b: &StatusBoard| b.get(SOURCE).map(|s| s.state);

    let backing_off_for = |b: &StatusBoard, why: &str| {
        b.get(SOURCE).is_some_and(|s| {
            s.state == LinkState::BackingOff && s.reason.is_some_and(|r| r.contains(why))
        })
    };
    sim.set_fault(SeamFault::ServerError, true);
    wait_for(20, "two 500s", || sim.answered(500) >= 2).await;
    wait_for(20, "backing off for the 500s", || {
        backing_off_for(&board, "HTTP 500")
    })
    .await;
    sim.set_fault(SeamFault::ServerError, false);

    sim.set_fault(SeamFault::RateLimited, true);
    wait_for(20, "two 429s", || sim.answered(429) >= 2).await;
    wait_for(20, "waiting out the 429s", || {
        backing_off_for(&board, "HTTP 429")
    })
    .await;
    sim.set_fault(SeamFault::RateLimited, false);

    sim.set_fault(SeamFault::MalformedPage, true);
    wait_for(20, "a quarantined page", || {
        board.get(SOURCE).is_some_and(|s| s.quarantined > 0)
    })
    .await;
    sim.set_fault(SeamFault::MalformedPage, false);

    sim.set_fault(SeamFault::Duplicates, true);
    sim.set_fault(SeamFault::OutOfOrder, true);
    let ok = sim.answered(200);
    wait_for(20, "pages with duplicates, shuffled", || {
        sim.answered(200) >= ok + 6
    })
    .await;
    sim.set_fault(SeamFault::Duplicates, false);
    sim.set_fault(SeamFault::OutOfOrder, false);

    wait_for(20, "the link to be live again", || {
        state(&board) == Some(LinkState::Live)
    })
    .await;
    let engine = run.drain(&sim).await;
    assert_store_is_ledger(&engine, &sim);
    let quarantined = engine.store().quarantined().unwrap();
    assert!(!quarantined.is_empty());
    assert!(quarantined.iter().all(|q| q.source == SOURCE
        && q.error.contains("not JSON")
        && q.raw.starts_with("{\"events\":")));
    engine.close().unwrap();
}

// ---------------------------------------------------------------------------------
// The real binary

/// `doorwatch daemon` on `config` with `env` set (debug logs); killed if still running
/// when dropped.
fn start_daemon(data: &Path, config: &Path, env: &[(&str, &str)]) -> Running {
    let config = config.to_str().expect("a UTF-8 path");
    let mut command = running::command(
        data,
        &["--config", config, "daemon", "--exit-after", "120s"],
    );
    command
        .env("DOORWATCH_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .envs(env.iter().copied());
    Running::start(command)
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("doorwatch.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn searched_ids(data: &Path) -> Vec<String> {
    let out = common::doorwatch(data, &["search", "--json", "--limit", "1000000"]);
    common::ok(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_stores_every_event_exactly_once() {
    let sim = SeamSim::start(SeamSimOptions {
        backfill: 3_000,
        ..busy()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A configured overlap, not the default: the wait below depends on it.
    let config = write_config(
        dir.path(),
        &source_toml(
            &sim,
            &format!("token = \"{}\"\noverlap = \"3s\"", sim.api_key()),
        ),
    );

    let first = start_daemon(&data, &config, &[]);
    // Inventory takes two answers; a few event pages later it is mid catch-up.
    wait_for(30, "the catch-up under way", || sim.answered(200) >= 12).await;
    first.kill9().await;
    let before_restart = sim.ledger_len();
    let partial = searched_ids(&data).len();
    assert!(
        partial > 0 && partial < before_restart,
        "killed mid-stream: {partial} of {before_restart} stored"
    );

    let second = start_daemon(&data, &config, &[]);
    wait_for(30, "the restarted daemon to read on", || {
        sim.answered(200) >= 20
    })
    .await;
    sim.set_fault(SeamFault::Paused, true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let newest = sim.newest_created_at().unwrap();
    let overlap = chrono::Duration::seconds(3);
    let visible = sim.all_visible_at().unwrap();
    // Asked twice from the newest event minus the overlap once everything was
    // listable: the first answer held whatever was left, and the second was asked
    // only after committing it.
    wait_for(40, "the daemon to commit the newest event", || {
        let asked = sim.answered_since(newest - overlap);
        asked.iter().filter(|at| **at > visible).count() >= 2
    })
    .await;
    let running::Finished {
        status,
        stdout,
        stderr,
    } = second.terminate().await;
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{SOURCE} [seam]: ")), "{stdout}");

    let ids = searched_ids(&data);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "an event stored twice");
    assert!(
        sim.ledger_len() > before_restart,
        "events came while it was down"
    );
    let want = ledger_ids(&sim);
    let missing: Vec<&String> = want.difference(&unique).take(5).collect();
    let extra: Vec<&String> = unique.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "store ({}) != ledger ({}): missing {missing:?}, extra {extra:?}; {partial} before the restart",
        unique.len(),
        want.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_fails_the_source_naming_the_env_var_and_leaks_nothing() {
    const ENV: &str = "DOORWATCH_TEST_SEAM_KEY";
    let secret = "seam_test_revocable_4f1c9a77e2";
    let sim = SeamSim::start(SeamSimOptions {
        api_key: secret.to_string(),
        backfill: 100,
        ..busy()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &source_toml(&sim, &format!("token_env = \"{ENV}\"")),
    );
    let daemon = start_daemon(&data, &config, &[(ENV, secret)]);
    wait_for(30, "events flowing", || sim.answered(200) >= 4).await;
    sim.set_fault(SeamFault::KeyRevoked, true);
    blocking_wait_for(30, "the failure on stderr", || {
        daemon.stderr().contains("failed")
    });
    let running::Finished {
        status,
        stdout,
        stderr,
    } = daemon.terminate().await;
    assert!(status.success(), "exit 0 after a failed source: {stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{SOURCE} [seam]:")))
        .unwrap_or_else(|| panic!("no status line: {stdout}"));
    assert!(
        line.contains(&format!("failed (token rejected (HTTP 401) — set {ENV})")),
        "{line}"
    );
    assert!(stderr.contains(ENV), "{stderr}");

    // The key is nowhere: not in what it printed, its logs, the store or quarantine.
    let mut seen = vec![stdout, stderr];
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        seen.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(
        seen[2..].iter().any(|l| l.contains("401")),
        "the log tells the story"
    );
    seen.push(common::ok(&common::doorwatch(
        &data,
        &["search", "--json", "--limit", "1000000"],
    )));
    seen.push(common::ok(&common::doorwatch(
        &data,
        &["quarantine", "--json"],
    )));
    for text in &seen {
        assert!(!text.contains(secret), "the key leaked: {text}");
    }
    assert!(!searched_ids(&data).is_empty());
}

//! The live Kisi source against the Kisi simulator on loopback, with the simulator's
//! real limits (5 requests/s, one `POST /event_sets` per second): the store ends up
//! with exactly the simulator's ledger through faults, a revoked key and kill -9.

mod common;

use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::sim::kisi::{KisiFault, KisiSim, KisiSimHandle, KisiSimOptions};
use doorwatch::sources::runtime::{LinkState, SourceStatus};
use doorwatch::state::alarms::AlarmConfig;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SOURCE: &str = "hq-kisi";
const KEY_ENV: &str = "DOORWATCH_TEST_KISI_KEY";

/// Fast generation and sets that are ready at once, but Kisi's real request limits.
fn sim_options(backfill: usize) -> KisiSimOptions {
    KisiSimOptions {
        rate: 8.0,
        first_alarm_after: Duration::from_millis(300),
        alarm_every: Duration::from_secs(2),
        backfill,
        backfill_span: Duration::from_secs(20 * 3600),
        // Long enough that sets are read through `GET /event_sets/{id}` pages.
        set_ready_after: Duration::from_millis(50),
        ..KisiSimOptions::default()
    }
}

/// A config for `sim` with the key inline (in-process runs).
fn inline_config(sim: &KisiSimHandle) -> Config {
    let text = format!(
        "[[source]]\nname = \"{SOURCE}\"\nvendor = \"kisi\"\nbase_url = \"{}\"\ntoken = \"{}\"\npoll_interval = \"300ms\"\noverlap = \"2s\"\n",
        sim.base_url(),
        sim.api_key()
    );
    Config::parse(&text, None, true).unwrap()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status(live: &Live) -> SourceStatus {
    live.board.get(SOURCE).unwrap()
}

fn ledger_ids(sim: &KisiSimHandle) -> BTreeSet<String> {
    let ledger = sim.ledger();
    let ids: BTreeSet<String> = ledger
        .iter()
        .map(|e| format!("{SOURCE}:{}", e["uuid"].as_str().unwrap()))
        .collect();
    assert_eq!(ids.len(), ledger.len(), "the ledger repeats a uuid");
    ids
}

/// The ids of `ids`, asserting none is there twice.
fn unique(ids: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for id in ids {
        assert!(seen.insert(id.clone()), "{id} stored twice");
    }
    seen
}

fn stored_ids(engine: &Engine) -> BTreeSet<String> {
    unique(
        engine
            .store()
            .scan_oldest_first()
            .map(|item| item.unwrap().1.id),
    )
}

fn assert_same(stored: &BTreeSet<String>, ledger: &BTreeSet<String>) {
    let missing: Vec<_> = ledger.difference(stored).take(5).collect();
    let extra: Vec<_> = stored.difference(ledger).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "store {} vs ledger {}: missing {missing:?}, extra {extra:?}",
        stored.len(),
        ledger.len()
    );
}

/// Stop generating; the ledger no longer grows once this returns.
async fn pause(sim: &KisiSimHandle) {
    sim.set_fault(KisiFault::Paused, true);
    // The generator may have passed its pause check just before: its step takes
    // microseconds and has no await, so this is ample.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Stop generating, wait until the source has stored everything, stop it. Returns
/// the engine and the source's final counts.
async fn drain(live: Live, sim: &KisiSimHandle) -> (Engine, SourceStatus) {
    pause(sim).await;
    let total = sim.ledger_len() as u64;
    wait_for("the store to catch up", Duration::from_secs(30), || {
        status(&live).stored >= total
    })
    .await;
    let board = live.board.clone();
    let engine = live.shutdown().await.unwrap();
    (engine, board.get(SOURCE).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_stores_exactly_the_ledger() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let sim = KisiSim::start(sim_options(600)).await.unwrap();
    let backfilled = sim.ledger_len();
    let engine = Engine::open(dir.path(), AlarmConfig::default()).unwrap();
    let live = Live::start(&inline_config(&sim), engine, |_, _| {}).unwrap();

    wait_for("the backfill", Duration::from_secs(20), || {
        status(&live).stored >= backfilled as u64
    })
    .await;
    // Live events keep coming in over several polls.
    let later = sim.ledger_len() as u64 + 40;
    wait_for("live events", Duration::from_secs(20), || {
        status(&live).stored >= later
    })
    .await;
    assert_eq!(status(&live).state, LinkState::Live);
    let (engine, counts) = drain(live, &sim).await;

    let ledger = ledger_ids(&sim);
    assert_same(&stored_ids(&engine), &ledger);
    // Each poll reads its overlap again, but what is known is not stored again.
    assert_eq!(
        (counts.stored, counts.duplicates, counts.quarantined),
        (ledger.len() as u64, 0, 0)
    );
    let cursor = engine.store().cursor(SOURCE).unwrap().unwrap();
    let cursor: Value = serde_json::from_slice(&cursor).unwrap();
    assert!(cursor["through"].is_string(), "{cursor}");
    eprintln!(
        "live run: {} events ({backfilled} backfill) in {:?}",
        ledger.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_in_turn_and_overlapping_loses_and_doubles_nothing() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let sim = KisiSim::start(sim_options(900)).await.unwrap();
    // From the first request: sets fail, and pages repeat their neighbour's last event.
    sim.set_fault(KisiFault::FailEventSets, true);
    sim.set_fault(KisiFault::DuplicateAcrossPages, true);
    let engine = Engine::open(dir.path(), AlarmConfig::default()).unwrap();
    let live = Live::start(&inline_config(&sim), engine, |_, _| {}).unwrap();
    let backing_off_with = |live: &Live, what: &str| {
        let s = status(live);
        s.state == LinkState::BackingOff && s.reason.as_deref().is_some_and(|r| r.contains(what))
    };

    wait_for("a failed event set", Duration::from_secs(10), || {
        backing_off_with(&live, "failed")
    })
    .await;
    sim.set_fault(KisiFault::FailEventSets, false);
    wait_for("duplicates across pages", Duration::from_secs(20), || {
        status(&live).duplicates > 0
    })
    .await;
    sim.set_fault(KisiFault::DuplicateAcrossPages, false);

    sim.set_fault(KisiFault::ServerError, true);
    wait_for("HTTP 500", Duration::from_secs(10), || {
        backing_off_with(&live, "HTTP 500")
    })
    .await;
    sim.set_fault(KisiFault::RateLimited, true);
    sim.set_fault(KisiFault::ServerError, false);
    wait_for("HTTP 429", Duration::from_secs(10), || {
        backing_off_with(&live, "rate limited")
    })
    .await;
    sim.set_fault(KisiFault::RateLimited, false);

    sim.set_fault(KisiFault::MalformedPage, true);
    wait_for("malformed pages", Duration::from_secs(15), || {
        backing_off_with(&live, "malformed")
    })
    .await;
    sim.set_fault(KisiFault::MalformedPage, false);
    wait_for("live again", Duration::from_secs(20), || {
        status(&live).state == LinkState::Live
    })
    .await;

    let (engine, counts) = drain(live, &sim).await;
    let ledger = ledger_ids(&sim);
    assert_same(&stored_ids(&engine), &ledger);

    let quarantined = engine.store().quarantined().unwrap();
    assert!(quarantined.len() >= 3, "{}", quarantined.len());
    assert_eq!(counts.stored, ledger.len() as u64);
    assert_eq!(counts.quarantined, quarantined.len() as u64);
    // The repeated events of the duplicate pages, nothing like a second copy of all.
    assert!(
        counts.duplicates > 0 && counts.duplicates < counts.stored / 4,
        "{counts:?}"
    );
    for q in &quarantined {
        assert_eq!(q.source, SOURCE);
        assert!(serde_json::from_str::<Value>(&q.raw).is_err(), "{}", q.raw);
        assert!(q.raw.contains("\"events\""), "a page, kept raw: {}", q.raw);
    }
    eprintln!(
        "faults: {} events, {} duplicates, {} quarantined pages, in {:?}",
        ledger.len(),
        counts.duplicates,
        quarantined.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_names_the_doors_as_kisi_does() {
    let dir = tempfile::tempdir().unwrap();
    let sim = KisiSim::start(sim_options(300)).await.unwrap();
    let engine = Engine::open(dir.path(), AlarmConfig::default()).unwrap();
    let live = Live::start(&inline_config(&sim), engine, |_, _| {}).unwrap();
    wait_for("the backfill", Duration::from_secs(20), || {
        status(&live).stored >= 300
    })
    .await;
    let (engine, _) = drain(live, &sim).await;

    let locks = sim_list(&sim, "/locks").await;
    assert!(locks.len() >= 6);
    let doors: HashMap<(String, String), Option<String>> = engine
        .live
        .doors()
        .map(|d| {
            let key = (d.source().to_string(), d.key().id.clone());
            (key, d.name().map(str::to_string))
        })
        .collect();
    for lock in &locks {
        let key = (SOURCE.to_string(), lock["id"].to_string());
        assert_eq!(
            doors.get(&key),
            Some(&lock["name"].as_str().map(str::to_string)),
            "{lock}"
        );
    }
}

/// Doors and controllers named from `/locks` and `/controllers` alone: no events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_alone_names_doors_and_controllers() {
    let dir = tempfile::tempdir().unwrap();
    let sim = KisiSim::start(KisiSimOptions {
        rate: 0.0,
        backfill: 0,
        first_alarm_after: Duration::from_secs(3600),
        ..sim_options(0)
    })
    .await
    .unwrap();
    let engine = Engine::open(dir.path(), AlarmConfig::default()).unwrap();
    let live = Live::start(&inline_config(&sim), engine, |_, _| {}).unwrap();
    wait_for("a first poll", Duration::from_secs(10), || {
        status(&live).state == LinkState::Live
    })
    .await;
    // The first poll hands the listing to the engine before it reports live; the
    // engine takes it before it stops.
    let engine = live.shutdown().await.unwrap();
    let locks = sim_list(&sim, "/locks").await;
    for lock in &locks {
        let id = lock["id"].to_string();
        let door = engine.live.doors().find(|d| d.key().id == id);
        assert_eq!(door.and_then(|d| d.name()), lock["name"].as_str(), "{lock}");
    }
    let names: BTreeSet<&str> = engine.live.controllers().filter_map(|c| c.name()).collect();
    assert_eq!(names, BTreeSet::from(["Annex Controller", "HQ Controller"]));
}

/// A list endpoint of the simulator, read the way a client would (waiting out the
/// rate limit the source may have used up).
async fn sim_list(sim: &KisiSimHandle, path: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", sim.base_url()))
            .header("Authorization", format!("KISI-LOGIN {}", sim.api_key()))
            .send()
            .await
            .unwrap();
        if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return resp.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{path} stays rate limited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------
// Over the real binary

/// A config naming the env var that holds each source's key.
fn write_env_config(dir: &Path, sources: &[(&str, &KisiSimHandle, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (name, sim, env) in sources {
        text.push_str(&format!(
            "[[source]]\nname = \"{name}\"\nvendor = \"kisi\"\nbase_url = \"{}\"\ntoken_env = \"{env}\"\npoll_interval = \"300ms\"\noverlap = \"2s\"\n\n",
            sim.base_url()
        ));
    }
    let path = dir.join("doorwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `doorwatch --config C --data-dir D daemon [--exit-after T]`, isolated as
/// `common::doorwatch` is, with every level of logging on.
fn daemon(data: &Path, config: &Path, exit_after: Option<&str>, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorwatch"));
    cmd.arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("daemon")
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester")
        .env("DOORWATCH_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = exit_after {
        cmd.args(["--exit-after", t]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A daemon that does not outlive a failed test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn finish(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Every stored event id, through `doorwatch search --json`.
fn searched_ids(data: &Path) -> BTreeSet<String> {
    let out = common::doorwatch(data, &["search", "--json", "--limit", "1000000"]);
    let text = common::ok(&out);
    unique(text.lines().map(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["id"].as_str().unwrap().to_string()
    }))
}

/// Every file under `dir` that holds `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                hits.push(path);
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_fails_its_source_only_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hq = KisiSim::start(sim_options(50)).await.unwrap();
    let annex = KisiSim::start(KisiSimOptions {
        api_key: "annex-sim-secret-0002".into(),
        seed: 2,
        ..sim_options(50)
    })
    .await
    .unwrap();
    let config = write_env_config(
        dir.path(),
        &[
            (SOURCE, &hq, KEY_ENV),
            ("annex-kisi", &annex, "DOORWATCH_TEST_ANNEX_KEY"),
        ],
    );
    let cmd = daemon(
        &data,
        &config,
        Some("5s"),
        &[
            (KEY_ENV, hq.api_key()),
            ("DOORWATCH_TEST_ANNEX_KEY", annex.api_key()),
        ],
    );
    let run = tokio::spawn(finish(cmd));
    // Revoke once the source is working (its set and inventory requests went through).
    wait_for("the first polls", Duration::from_secs(10), || {
        hq.requests_served() >= 4
    })
    .await;
    hq.set_fault(KisiFault::KeyRevoked, true);
    let out = run.await.unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let reason = format!("token rejected (HTTP 401) — set {KEY_ENV}");
    assert!(
        stderr.contains(&format!("source {SOURCE} failed: {reason}")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("{SOURCE} [kisi]: failed ({reason})")),
        "{stdout}"
    );
    // The healthy source ran to the end (stopped by the shutdown, not failed).
    let annex_line = stdout
        .lines()
        .find(|l| l.starts_with("annex-kisi [kisi]: "));
    assert!(
        annex_line.is_some_and(|l| !l.contains("failed")),
        "{stdout}"
    );
    for key in [hq.api_key(), annex.api_key()] {
        assert!(!stdout.contains(key) && !stderr.contains(key));
        let hits = files_containing(&data, key);
        assert!(hits.is_empty(), "the key is in {hits:?}");
    }
    let logs = std::fs::read_dir(data.join("logs")).unwrap().count();
    assert!(logs > 0, "the daemon logs to the data dir");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_stores_every_event_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A backfill of many pages, so the kill lands inside an event set.
    let sim = KisiSim::start(sim_options(2000)).await.unwrap();
    let config = write_env_config(dir.path(), &[(SOURCE, &sim, KEY_ENV)]);
    let env = [(KEY_ENV, sim.api_key())];

    let mut child = KillOnDrop(daemon(&data, &config, Some("60s"), &env).spawn().unwrap());
    wait_for("paging under way", Duration::from_secs(15), || {
        sim.requests_served() >= 6
    })
    .await;
    child.0.kill().unwrap(); // SIGKILL
    let status = child.0.wait().unwrap();
    assert!(!status.success());

    // Events keep coming while it is down; restart, then stop generating and let it
    // catch up (a run at a time: the store is locked while a daemon runs).
    let mut run_for = "10s";
    let ledger = loop {
        let out = finish(daemon(&data, &config, Some(run_for), &env)).await;
        run_for = "4s";
        let stdout = common::ok(&out);
        let line = stdout.lines().find(|l| l.starts_with("hq-kisi [kisi]: "));
        assert!(line.is_some_and(|l| !l.contains("failed")), "{stdout}");
        pause(&sim).await;
        let ledger = ledger_ids(&sim);
        let stored = searched_ids(&data);
        if stored.len() >= ledger.len() {
            assert_same(&stored, &ledger);
            eprintln!("after the restart: {}", stdout.trim());
            break ledger;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "no catch-up: {} of {}",
            stored.len(),
            ledger.len()
        );
    };
    eprintln!(
        "kill -9: {} events once each in {:?}",
        ledger.len(),
        started.elapsed()
    );
}

//! The live DoorFlow source against the DoorFlow simulator on loopback: what the store
//! holds is exactly what the simulator emitted (its ledger), through faults, token
//! rotation, restarts and kill -9. In-process (`Live::start`) where the status board
//! is the easiest witness, the real binary where a process boundary matters.

mod common;

use common::running::{self, Running};

use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::sim::doorflow::{DoorflowSim, DoorflowSimHandle, DoorflowSimOptions};
use doorwatch::sources::runtime::LinkState;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);
const SOURCE: &str = "df";

/// ~300 events per real second: a day's traffic of six doors in a few seconds.
fn fast_sim() -> DoorflowSimOptions {
    DoorflowSimOptions {
        seed: 42,
        rate: 1.0,
        speed: 300.0,
        ..DoorflowSimOptions::default()
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ledger_ids(h: &DoorflowSimHandle) -> BTreeSet<String> {
    h.ledger()
        .iter()
        .map(|e| format!("{SOURCE}:{}", e["id"]))
        .collect()
}

fn codes_in_ledger(h: &DoorflowSimHandle) -> HashSet<i64> {
    h.ledger()
        .iter()
        .filter_map(|e| e["event_code"].as_i64())
        .collect()
}

/// Stop the generator; returns once the ledger stands still (a generator tick that
/// was under way when the switch flipped may still add to it).
async fn pause(h: &DoorflowSimHandle) {
    h.faults().set_paused(true);
    let mut len = h.ledger_len();
    loop {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let now = h.ledger_len();
        if now == len {
            return;
        }
        len = now;
    }
}

/// The store's ids are the ledger's; on a mismatch, says which differ (not 2,000 ids).
fn assert_same(stored: &BTreeSet<String>, ledger: &BTreeSet<String>) {
    let missing: Vec<&String> = ledger.difference(stored).take(10).collect();
    let extra: Vec<&String> = stored.difference(ledger).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "store {} vs ledger {} events; missing {missing:?}, not in the ledger {extra:?}",
        stored.len(),
        ledger.len()
    );
}

/// The ids in `ids`, asserting none repeats.
fn unique(ids: Vec<String>) -> BTreeSet<String> {
    let n = ids.len();
    let set: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(set.len(), n, "the store holds an event twice");
    set
}

/// A config with the simulator's credentials inline (`extra` lines added).
fn config_text(h: &DoorflowSimHandle, refresh: &str, extra: &str) -> String {
    format!(
        r#"
[[source]]
name = "{SOURCE}"
vendor = "doorflow"
base_url = "{url}"
client_id = "{id}"
client_secret = "{secret}"
refresh_token = "{refresh}"
poll_interval = "100ms"
{extra}
"#,
        url = h.base_url(),
        id = h.client_id(),
        secret = h.client_secret(),
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("doorwatch.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

// ---------------------------------------------------------------------------------
// In-process

fn start_live(text: &str, data: &Path) -> Live {
    let config = Config::parse(text, None, true).unwrap();
    let engine = Engine::open(data, config.alarm_config()).unwrap();
    Live::start(&config, engine, |_, _| {}).unwrap()
}

fn stored(live: &Live) -> u64 {
    live.board.get(SOURCE).map_or(0, |s| s.stored)
}

/// Pause the generator and wait until every ledger event is stored (`earlier`: how
/// many an earlier run over the same store stored).
async fn catch_up(h: &DoorflowSimHandle, live: &Live, earlier: u64) {
    pause(h).await;
    let want = h.ledger_len() as u64 - earlier;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let s = live.board.get(SOURCE).unwrap();
        assert_ne!(s.state, LinkState::Failed, "source failed: {:?}", s.reason);
        if s.stored >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the store holds {} of {want} ledger events; source: {s:?}",
            s.stored
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stop the sources and read back every stored id and quarantined payload.
async fn stop_and_read(live: Live) -> (BTreeSet<String>, Vec<String>) {
    let engine = live.shutdown().await.unwrap();
    let ids = engine
        .store()
        .scan_oldest_first()
        .map(|r| r.unwrap().1.id)
        .collect();
    let quarantined = engine
        .store()
        .quarantined()
        .unwrap()
        .into_iter()
        .map(|q| q.raw)
        .collect();
    engine.close().unwrap();
    (unique(ids), quarantined)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_store_equals_the_ledger_alarms_sync_and_channel_status_included() {
    let started = Instant::now();
    let h = DoorflowSim::start(fast_sim()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let live = start_live(&config_text(&h, h.initial_refresh_token(), ""), data.path());
    // Run until the building has shown every kind of thing it does.
    wait_for(
        "a thousand events with alarms, tamper, outages and sync",
        || {
            let codes = codes_in_ledger(&h);
            h.ledger_len() >= 1000
                && [1, 31, 90, 91, 100, 105, 10, 20]
                    .iter()
                    .all(|c| codes.contains(c))
                && codes.iter().any(|c| [2, 3].contains(c))
                && codes.iter().any(|c| [32, 33].contains(c))
        },
    )
    .await;
    assert!(stored(&live) > 0, "events arrive while the building runs");
    catch_up(&h, &live, 0).await;
    let (ids, quarantined) = stop_and_read(live).await;
    assert_same(&ids, &ledger_ids(&h));
    assert!(quarantined.is_empty());
    eprintln!("live: {} events, {:?}", ids.len(), started.elapsed());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_clears_to_store_equals_ledger_with_malformed_pages_quarantined() {
    let started = Instant::now();
    let h = DoorflowSim::start(fast_sim()).await.unwrap();
    let f = h.faults();
    let data = tempfile::tempdir().unwrap();
    // Small pages: every window spans several, so duplicates across pages happen.
    let live = start_live(
        &config_text(&h, h.initial_refresh_token(), "page_size = 50"),
        data.path(),
    );
    wait_for("a first batch", || stored(&live) > 100).await;

    f.fail_next(3);
    wait_for("the 500s to be served", || f.pending() == 0).await;

    // 429 with Retry-After: 1 — the next request waits for it.
    f.rate_limit_next(2, 1);
    let mut served_at = Instant::now();
    let deadline = Instant::now() + DEADLINE;
    while f.pending() > 0 {
        assert!(Instant::now() < deadline, "the 429s were not served");
        tokio::time::sleep(Duration::from_millis(5)).await;
        served_at = Instant::now();
    }
    let before = h.events_requests();
    wait_for("a request after the 429", || h.events_requests() > before).await;
    let waited = served_at.elapsed();
    assert!(
        waited >= Duration::from_millis(850),
        "Retry-After ignored: {waited:?}"
    );

    f.malformed_next(2);
    wait_for("the malformed pages to be served", || f.pending() == 0).await;

    f.set_duplicates(true);
    let before = h.events_requests();
    wait_for("pages with duplicates", || {
        h.events_requests() >= before + 10
    })
    .await;
    f.set_duplicates(false);

    let tokens = h.issued_tokens().len();
    f.expire_access_now();
    wait_for("a refresh after the access token expired", || {
        h.issued_tokens().len() > tokens
    })
    .await;
    let before = h.events_requests();
    wait_for("requests after the refresh", || {
        h.events_requests() >= before + 2
    })
    .await;

    f.set_paused(true);
    let before = h.events_requests();
    wait_for("polls while paused", || h.events_requests() >= before + 3).await;
    f.set_paused(false);
    let len = h.ledger_len();
    wait_for("the building to go on", || h.ledger_len() > len + 100).await;

    catch_up(&h, &live, 0).await;
    let status = live.board.get(SOURCE).unwrap();
    assert_eq!(status.state, LinkState::Live, "{:?}", status.reason);
    assert_eq!(status.quarantined, 2);
    let (ids, quarantined) = stop_and_read(live).await;
    assert_same(&ids, &ledger_ids(&h));
    assert_eq!(quarantined.len(), 2, "one record per malformed page");
    for raw in &quarantined {
        assert!(raw.starts_with('['), "the page kept raw: {raw:.40}");
        assert!(serde_json::from_str::<Value>(raw).is_err());
    }
    eprintln!("faults: {} events, {:?}", ids.len(), started.elapsed());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reseeded_refresh_token_replaces_a_revoked_rotation() {
    let h = DoorflowSim::start(fast_sim()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let live = start_live(&config_text(&h, h.initial_refresh_token(), ""), data.path());
    wait_for("a first batch", || stored(&live) > 0).await;
    let board = live.board.clone();
    live.shutdown().await.unwrap().close().unwrap();
    let earlier = board.get(SOURCE).unwrap().stored;
    // The customer revoked the app and authorised it again: the stored rotation is
    // dead, the operator puts the new refresh token in the config.
    let reseeded = h.authorize_again(true);
    let live = start_live(&config_text(&h, &reseeded, ""), data.path());
    catch_up(&h, &live, earlier).await;
    let (ids, _) = stop_and_read(live).await;
    assert_same(&ids, &ledger_ids(&h));
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------
// The real binary

/// `doorwatch daemon` on `config` with `env` set, its output collected as it comes.
fn start_daemon(config: &Path, data: &Path, env: &[(&str, &str)]) -> Running {
    let config = config.to_str().expect("a UTF-8 path");
    let mut command = running::command(
        data,
        &["--config", config, "daemon", "--exit-after", "120s"],
    );
    command.envs(env.iter().copied());
    Running::start(command)
}

/// Pause the generator and wait until the daemon has fetched the last ledger event
/// and asked again afterwards (it commits a page before its next request).
async fn daemon_catch_up(h: &DoorflowSimHandle, d: &mut Running) {
    pause(h).await;
    let last = h
        .ledger()
        .last()
        .and_then(|e| e["id"].as_i64())
        .expect("a ledger");
    wait_for("the daemon to fetch the last event", || {
        d.assert_running();
        h.max_served_id() >= last
    })
    .await;
    let asked = h.events_requests();
    wait_for("the daemon's next request", || h.events_requests() > asked).await;
}

/// `search --json` over everything: (ids, the whole output).
async fn search_all(data: &Path) -> (BTreeSet<String>, String) {
    let data = data.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        common::doorwatch(&data, &["search", "--json", "--limit", "1000000"])
    })
    .await
    .unwrap();
    let text = common::ok(&out);
    let ids = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    (unique(ids), text)
}

fn logs(data: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_token_survives_a_restart_and_never_shows() {
    let started = Instant::now();
    let h = DoorflowSim::start(DoorflowSimOptions {
        // Short-lived access tokens: the first run rotates the refresh token many times.
        access_ttl: Duration::from_millis(700),
        ..fast_sim()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seed = h.initial_refresh_token().to_string();
    let config = write_config(dir.path(), &config_text(&h, &seed, ""));

    let mut first = start_daemon(&config, &data, &[]);
    wait_for("events and several rotations", || {
        first.assert_running();
        // The seed, then an access and a refresh token per exchange: three rotations.
        h.max_served_id() > 0 && h.issued_tokens().len() > 2 * 3
    })
    .await;
    let common::running::Finished {
        status,
        stdout: out1,
        stderr: err1,
    } = first.terminate().await;
    assert!(status.success(), "{status:?}\n{err1}");
    assert!(out1.contains("df [doorflow]: live;"), "{out1}\n{err1}");

    // The configured seed is long spent: only the rotated copy in the store works.
    let spent = reqwest::Client::new()
        .post(format!("{}/oauth/token", h.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", h.client_id()),
            ("client_secret", h.client_secret()),
            ("refresh_token", seed.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), 400);

    h.reset_served();
    let tokens = h.issued_tokens().len();
    let mut second = start_daemon(&config, &data, &[]);
    wait_for("the second run to refresh with the stored token", || {
        second.assert_running();
        h.issued_tokens().len() > tokens + 2 && h.max_served_id() > 0
    })
    .await;
    daemon_catch_up(&h, &mut second).await;
    let common::running::Finished {
        status,
        stdout: out2,
        stderr: err2,
    } = second.terminate().await;
    assert!(status.success(), "{status:?}\n{err2}");
    assert!(out2.contains("df [doorflow]: live;"), "{out2}\n{err2}");
    assert!(!err2.contains("failed"), "{err2}");

    let (ids, search) = search_all(&data).await;
    assert_same(&ids, &ledger_ids(&h));

    let everything = [out1, err1, out2, err2, search, logs(&data)].join("\n");
    let secrets = h.issued_tokens();
    assert!(secrets.len() > 8);
    for secret in secrets
        .iter()
        .map(String::as_str)
        .chain([h.client_secret()])
    {
        assert!(
            !everything.contains(secret),
            "a secret leaked into output or logs"
        );
    }
    eprintln!(
        "restart: {} events, {} tokens issued, {:?}",
        ids.len(),
        secrets.len(),
        started.elapsed()
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_stores_every_event_exactly_once() {
    let started = Instant::now();
    let h = DoorflowSim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &config_text(&h, h.initial_refresh_token(), "page_size = 25"),
    );
    wait_for("the first events", || h.ledger_len() > 0).await;
    let first_id = h.ledger()[0]["id"].as_i64().unwrap();

    let mut first = start_daemon(&config, &data, &[]);
    wait_for("the daemon to be well into the stream", || {
        first.assert_running();
        h.max_served_id() >= first_id + 400
    })
    .await;
    first.assert_running();
    first.kill9().await;

    h.reset_served();
    let mut second = start_daemon(&config, &data, &[]);
    daemon_catch_up(&h, &mut second).await;
    let common::running::Finished {
        status,
        stdout: out,
        stderr: err,
    } = second.terminate().await;
    assert!(status.success(), "{status:?}\n{err}");
    assert!(out.contains("df [doorflow]: live;"), "{out}\n{err}");

    let (ids, _) = search_all(&data).await;
    assert_same(&ids, &ledger_ids(&h));
    eprintln!("kill -9: {} events, {:?}", ids.len(), started.elapsed());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_refresh_token_or_client_fails_the_source_naming_the_env_var() {
    let h = DoorflowSim::start(DoorflowSimOptions {
        generate: false,
        ..DoorflowSimOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = format!(
        r#"
[[source]]
name = "df-revoked"
vendor = "doorflow"
base_url = "{url}"
client_id_env = "DF_TEST_CLIENT_ID"
client_secret_env = "DF_TEST_CLIENT_SECRET"
refresh_token_env = "DF_TEST_REFRESH_TOKEN"

[[source]]
name = "df-badclient"
vendor = "doorflow"
base_url = "{url}"
client_id_env = "DF_TEST_CLIENT_ID"
client_secret_env = "DF_TEST_WRONG_SECRET"
refresh_token_env = "DF_TEST_GOOD_REFRESH"
"#,
        url = h.base_url()
    );
    let config = write_config(dir.path(), &text);
    let revoked = "df_rt_revoked0000000000000000000000";
    let wrong_secret = "not-the-client-secret";
    let daemon = start_daemon(
        &config,
        &data,
        &[
            ("DF_TEST_CLIENT_ID", h.client_id()),
            ("DF_TEST_CLIENT_SECRET", h.client_secret()),
            ("DF_TEST_REFRESH_TOKEN", revoked),
            ("DF_TEST_WRONG_SECRET", wrong_secret),
            ("DF_TEST_GOOD_REFRESH", h.initial_refresh_token()),
        ],
    );
    wait_for("both sources to fail", || {
        daemon.stderr().matches("failed").count() >= 2
    })
    .await;
    let common::running::Finished {
        status,
        stdout: out,
        stderr: err,
    } = daemon.terminate().await;
    assert!(status.success(), "{status:?}\n{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} [doorflow]")))
            .unwrap_or_else(|| panic!("no status line for {name}: {out}"))
            .to_string()
    };
    let revoked_line = line("df-revoked");
    assert!(revoked_line.contains(": failed ("), "{revoked_line}");
    assert!(revoked_line.contains("invalid_grant"), "{revoked_line}");
    assert!(
        revoked_line.contains("DF_TEST_REFRESH_TOKEN"),
        "{revoked_line}"
    );
    let client_line = line("df-badclient");
    assert!(client_line.contains("invalid_client"), "{client_line}");
    assert!(
        client_line.contains("DF_TEST_WRONG_SECRET"),
        "{client_line}"
    );
    let everything = [out, err, logs(&data)].join("\n");
    for secret in [
        revoked,
        wrong_secret,
        h.client_secret(),
        h.initial_refresh_token(),
    ] {
        assert!(!everything.contains(secret), "a secret leaked");
    }
    h.shutdown().await;
}

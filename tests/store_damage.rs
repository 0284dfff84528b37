//! A damaged store on disk: what sled 0.34 does with each kind of damage to its files
//! under `<data>/store` (`conf`, `db`, `snap.*`, `blobs/`), what the store does with
//! damage to its own posting block file (`postings.blocks`), and that every command that
//! meets it — `search`, `check`, `alarms`, `daemon`, the console's open — ends with
//! one clear error naming the directory and the way out: a non-zero exit, never a
//! Rust panic. Then the documented recovery, end to end: move the store aside, start
//! again (the sources re-fetch their backfill window), import older history from an
//! earlier export.

mod common;

use chrono::Utc;
use doorwatch::engine::Engine;
use doorwatch::model::Event;
use doorwatch::sim::history::{Rng, history};
use doorwatch::sim::kisi::{KisiSim, KisiSimHandle, KisiSimOptions};
use doorwatch::store::AppendBatch;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EVENTS: usize = 10_000;
/// Text only one stored event carries, in its raw payload (which no state or index
/// keeps): damaging it damages that event's page and nothing read at open.
const MARKER: &str = "damage-marker-5b1e0c";

/// A store as the application leaves it: a month of history ingested through the
/// engine (state snapshot, alarms, audit), closed, and opened once more so that sled
/// has written its snapshot file.
fn build_store(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let mut engine = Engine::open(&data, Default::default()).unwrap();
    let now = Utc::now().timestamp_millis();
    let mut events: Vec<Event> = history(EVENTS, now, 30 * 86_400_000, 7).collect();
    // No door, no person, no alarm: nothing of it goes into the state snapshot, which
    // is read at every open. Early in the history, so that its page is seldom among
    // what sled's segment cleaning has just moved to the end of the log.
    let mut marked = events[EVENTS / 10].clone();
    marked.id = format!("{}-marked", marked.id);
    marked.raw = serde_json::json!({ "note": MARKER }).into();
    (marked.door, marked.controller, marked.person, marked.site) = (None, None, None, None);
    marked.kind = doorwatch::model::EventKind::AccessGranted;
    marked.severity = doorwatch::model::Severity::Info;
    events.insert(EVENTS / 10 + 1, marked);
    for chunk in events.chunks(1_000) {
        engine
            .ingest(
                AppendBatch {
                    events: chunk.to_vec(),
                    ..AppendBatch::default()
                },
                Utc::now(),
            )
            .unwrap();
    }
    engine.close().unwrap();
    common::ok(&common::doorwatch(&data, &["search", "--limit", "1"]));
    std::fs::write(dir.join("empty.toml"), "operator = \"tester\"\n").unwrap();
    data
}

fn store_dir(data: &Path) -> PathBuf {
    data.join("store")
}

fn db_file(data: &Path) -> PathBuf {
    store_dir(data).join("db")
}

fn snapshots(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store_dir(data))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
        })
        .collect()
}

fn truncate(file: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn overwrite(file: &Path, at: usize, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(bytes).unwrap();
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.below(256) as u8).collect()
}

/// A command run with a deadline: a command that wrongly accepted the damage and
/// kept running (the console's feed, a daemon) is stopped; its status then has no
/// exit code.
fn run_for(dir: &Path, data: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    Output {
        status: child.wait().unwrap(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Every command that opens the store: `search`, `check`, `alarms`, a daemon, and the
/// console (stdout is not a terminal here, so it runs as the feed, through the same
/// store opening as the full-screen console).
fn open_paths(dir: &Path) -> Vec<(&'static str, Vec<String>)> {
    let config = dir.join("empty.toml").display().to_string();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("search", args(&["search", "--json", "--limit", "3"])),
        ("check", args(&["check"])),
        ("alarms", args(&["alarms"])),
        (
            "daemon",
            args(&["--config", &config, "daemon", "--exit-after", "3s"]),
        ),
        ("console", args(&["--config", &config])),
    ]
}

/// The one clear line: the store is damaged, where it is, what to do; exit 1; no
/// panic, no backtrace hint.
fn assert_clear_damage_error(what: &str, out: &Output, data: &Path) {
    let err = String::from_utf8_lossy(&out.stderr);
    let store = store_dir(data);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains("is damaged"), "{what}: {err}");
    assert!(
        err.contains(&store.display().to_string()),
        "{what} names the store: {err}"
    );
    assert!(err.contains("move that directory aside"), "{what}: {err}");
    assert!(err.contains("doorwatch import"), "{what}: {err}");
    assert_no_panic(what, out);
}

fn assert_no_panic(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    for sign in ["panicked", "RUST_BACKTRACE", "backtrace"] {
        assert!(!err.contains(sign), "{what} panicked: {err}");
    }
    // 101 is a Rust panic's exit code.
    assert_ne!(out.status.code(), Some(101), "{what}: {err}");
}

fn assert_every_open_path_refuses(dir: &Path, data: &Path, damage: &str) {
    for (what, args) in open_paths(dir) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_for(dir, data, &args);
        assert_clear_damage_error(&format!("{damage}: {what}"), &out, data);
    }
}

fn stored_ids(dir: &Path, data: &Path) -> Vec<String> {
    let out = run_for(dir, data, &["search", "--json", "--limit", "10000000"]);
    common::ok(&out);
    ids_of(&out)
}

fn ids_of(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_truncated_log_is_a_clear_error_everywhere() {
    for (name, len) in [("half", None), ("a few bytes", Some(7))] {
        let dir = tempfile::tempdir().unwrap();
        let data = build_store(dir.path());
        let db = db_file(&data);
        let full = std::fs::metadata(&db).unwrap().len();
        truncate(&db, len.unwrap_or(full / 2));
        assert_every_open_path_refuses(dir.path(), &data, &format!("db cut to {name}"));
    }
}

#[test]
fn random_bytes_over_the_log_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = build_store(dir.path());
    let db = db_file(&data);
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    let mut rng = Rng::new(11);
    for _ in 0..500 {
        let at = len / 4 + rng.below((len / 2) as u64) as usize;
        overwrite(&db, at, &random_bytes(&mut rng, 64));
    }
    // Whatever sled notices, and wherever: a clear error or an answer, never a panic.
    for (what, args) in open_paths(dir.path()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_for(dir.path(), &data, &args);
        // The console has no end of its own: still running means it opened the store.
        if out.status.success() || out.status.code().is_none() {
            assert_no_panic(what, &out);
        } else {
            assert_clear_damage_error(&format!("random bytes: {what}"), &out, &data);
        }
    }
    // Damage this wide cannot pass a full check.
    let out = run_for(dir.path(), &data, &["check"]);
    assert_clear_damage_error("random bytes: check", &out, &data);
}

#[test]
fn damage_only_a_scan_meets_is_a_clear_error_when_met() {
    // sled reads at open every log frame written after its last snapshot, and its
    // segment cleaning at the last open may have moved the marked page there (seen
    // in about half the builds since the postings left sled's log, and in runs of
    // builds together: it follows sled's timing). Damage met at open must be the same
    // clear error; the test then builds again, up to 8 times, for a store where only
    // a scan meets it, and checks the scans on that one.
    let mut found = None;
    for _ in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let data = build_store(dir.path());
        let db = db_file(&data);
        let bytes = std::fs::read(&db).unwrap();
        let spots: Vec<usize> = bytes
            .windows(MARKER.len())
            .enumerate()
            .filter(|(_, w)| *w == MARKER.as_bytes())
            .map(|(i, _)| i)
            .collect();
        assert!(!spots.is_empty(), "the marked event is in the log");
        // Every copy sled keeps of that event's page.
        for at in spots {
            overwrite(&db, at, &vec![b'#'; MARKER.len()]);
        }
        let newest = run_for(dir.path(), &data, &["search", "--json", "--limit", "3"]);
        if newest.status.success() {
            // Opening did not read that page: the newest events are there.
            assert_eq!(common::ok(&newest).lines().count(), 3);
            found = Some((dir, data));
            break;
        }
        assert_clear_damage_error("damaged page met at open", &newest, &data);
    }
    let Some((dir, data)) = found else {
        eprintln!("sled met the damaged page at open in all 8 builds: scans not reached");
        return;
    };
    let config = dir.path().join("empty.toml");
    let daemon = run_for(
        dir.path(),
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "daemon",
            "--exit-after",
            "1s",
        ],
    );
    common::ok(&daemon);
    // Reading everything meets it.
    for (what, args) in [
        (
            "full search",
            vec!["search", "--json", "--limit", "10000000"],
        ),
        ("export", vec!["export", "--format", "jsonl"]),
        ("check", vec!["check"]),
    ] {
        let out = run_for(dir.path(), &data, &args);
        assert_clear_damage_error(&format!("damaged page: {what}"), &out, &data);
    }
}

#[test]
fn a_garbage_snapshot_is_a_clear_error_and_removing_it_is_no_sure_way_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = build_store(dir.path());
    let snaps = snapshots(&data);
    assert!(!snaps.is_empty(), "sled wrote a snapshot when it opened");
    let mut rng = Rng::new(3);
    for snap in &snaps {
        let len = std::fs::metadata(snap).unwrap().len() as usize;
        std::fs::write(snap, random_bytes(&mut rng, len)).unwrap();
    }
    assert_every_open_path_refuses(dir.path(), &data, "garbage snapshot");
    // Without its snapshot sled replays the whole log. That works while no log
    // segment was reused; otherwise sled asserts ("tried to serialize
    // Uninitialized"), seen with this very store. So it is not the documented way
    // back: either everything is there, or the same clear error.
    for snap in &snaps {
        std::fs::remove_file(snap).unwrap();
    }
    let out = run_for(dir.path(), &data, &["check"]);
    if out.status.success() {
        assert_eq!(stored_ids(dir.path(), &data).len(), EVENTS + 1);
    } else {
        assert_clear_damage_error("no snapshot", &out, &data);
    }
}

#[test]
fn a_deleted_conf_is_written_again_by_sled_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = build_store(dir.path());
    std::fs::remove_file(store_dir(&data).join("conf")).unwrap();
    common::ok(&run_for(dir.path(), &data, &["check"]));
    assert_eq!(stored_ids(dir.path(), &data).len(), EVENTS + 1);
    assert!(store_dir(&data).join("conf").exists());
}

#[test]
fn a_garbled_conf_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = build_store(dir.path());
    let conf = store_dir(&data).join("conf");
    let len = std::fs::metadata(&conf).unwrap().len() as usize;
    std::fs::write(&conf, random_bytes(&mut Rng::new(5), len)).unwrap();
    assert_every_open_path_refuses(dir.path(), &data, "garbled conf");
    // Missing blob files are not tested here: with 4 MiB log segments sled keeps only
    // values over 1 MiB in blobs, and a store of this size has none.
}

/// The posting block file: nothing reads it at open, so the newest events still show;
/// an indexed search that meets the damage, and `check`, say so clearly. A flush
/// writes its blocks in key order, and the severity index sorts last, so its blocks
/// are at the end of the file, where the damage is.
#[test]
fn a_cut_garbled_or_deleted_block_file_is_a_clear_error_when_met() {
    let indexed = ["search", "--json", "--limit", "10000000", "severity:info"];
    for damage in ["cut to half", "garbled", "deleted"] {
        let dir = tempfile::tempdir().unwrap();
        let data = build_store(dir.path());
        let file = store_dir(&data).join("postings.blocks");
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(
            len > 0,
            "the engine's close wrote the postings to the block file"
        );
        let before = run_for(dir.path(), &data, &indexed);
        common::ok(&before);
        assert!(ids_of(&before).len() > 100, "{}", ids_of(&before).len());
        match damage {
            "cut to half" => truncate(&file, len / 2),
            "garbled" => {
                let tail = (len / 4) as usize;
                overwrite(
                    &file,
                    len as usize - tail,
                    &random_bytes(&mut Rng::new(17), tail),
                );
            }
            _ => std::fs::remove_file(&file).unwrap(),
        }
        let newest = run_for(dir.path(), &data, &["search", "--json", "--limit", "3"]);
        assert_eq!(common::ok(&newest).lines().count(), 3, "{damage}");
        for (what, args) in [("indexed search", &indexed[..]), ("check", &["check"][..])] {
            let out = run_for(dir.path(), &data, args);
            assert_clear_damage_error(&format!("block file {damage}: {what}"), &out, &data);
        }
    }
}

// ---------------------------------------------------------------------------------
// Recovery, end to end

const SOURCE: &str = "recover-kisi";

/// Kisi with 20 h of history and nothing live: the source's 2 h backfill window holds
/// a tenth of it; the rest only an earlier export still has.
async fn quiet_kisi() -> KisiSimHandle {
    KisiSim::start(KisiSimOptions {
        rate: 0.0,
        backfill: 1_000,
        backfill_span: Duration::from_secs(20 * 3600),
        first_alarm_after: Duration::from_secs(3600),
        alarm_every: Duration::from_secs(3600),
        set_ready_after: Duration::from_millis(50),
        ..KisiSimOptions::default()
    })
    .await
    .unwrap()
}

fn kisi_config(dir: &Path, sim: &KisiSimHandle) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("kisi.toml");
    std::fs::write(
        &path,
        format!(
            "[[source]]\nname = \"{SOURCE}\"\nvendor = \"kisi\"\nbase_url = \"{}\"\ntoken = \"{}\"\n\
             poll_interval = \"300ms\"\nbackfill = \"2h\"\n",
            sim.base_url(),
            sim.api_key()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn ledger_ids(ledger: &[Value]) -> BTreeSet<String> {
    ledger
        .iter()
        .map(|e| format!("{SOURCE}:{}", e["uuid"].as_str().unwrap()))
        .collect()
}

fn created_at(e: &Value) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Run the daemon until the store holds `want` (checked through the daemon's socket),
/// then stop it cleanly.
async fn daemon_until_stored(dir: &Path, data: &Path, config: &Path, want: &BTreeSet<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["daemon", "--exit-after", "60s"])
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "daemon exited early");
        let (dir, data) = (dir.to_path_buf(), data.to_path_buf());
        // Until the daemon serves its socket, a search finds the store locked.
        let out = tokio::task::spawn_blocking(move || {
            run_for(&dir, &data, &["search", "--json", "--limit", "10000000"])
        })
        .await
        .unwrap();
        let ids: BTreeSet<String> = ids_of(&out).into_iter().collect();
        if want.is_subset(&ids) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon stored {} of {} wanted events",
            want.intersection(&ids).count(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_moved_aside_is_rebuilt_from_the_sources_and_an_export() {
    let started = Instant::now();
    let sim = quiet_kisi().await;
    let dir = tempfile::tempdir().unwrap();
    let (dir, data) = (dir.path(), dir.path().join("data"));
    let config = kisi_config(dir, &sim);
    let ledger = sim.ledger();
    let all = ledger_ids(&ledger);
    // What the 2 h window brings back (a minute's margin on its edge either way).
    let edge = Utc::now() - chrono::Duration::hours(2);
    let recent: Vec<Value> = ledger
        .iter()
        .filter(|e| created_at(e) > edge + chrono::Duration::minutes(1))
        .cloned()
        .collect();
    let old: Vec<Value> = ledger
        .iter()
        .filter(|e| created_at(e) < edge - chrono::Duration::minutes(1))
        .cloned()
        .collect();
    assert!(recent.len() > 20 && old.len() > 500);

    // The desk's history: older events imported once (past the window's edge, so that
    // none falls between), the rest from the source.
    let imported: Vec<&Value> = ledger
        .iter()
        .filter(|e| created_at(e) < edge + chrono::Duration::minutes(1))
        .collect();
    let old_file = dir.join("old.json");
    std::fs::write(&old_file, serde_json::to_string(&imported).unwrap()).unwrap();
    common::ok(&run_for(
        dir,
        &data,
        &[
            "import",
            "--vendor",
            "kisi",
            "--source",
            SOURCE,
            old_file.to_str().unwrap(),
        ],
    ));
    daemon_until_stored(dir, &data, &config, &ledger_ids(&recent)).await;
    let before: BTreeSet<String> = stored_ids(dir, &data).into_iter().collect();
    assert_eq!(before, all);
    // The operator's regular export.
    let export = dir.join("backup.jsonl");
    common::ok(&run_for(
        dir,
        &data,
        &[
            "export",
            "--format",
            "jsonl",
            "--output",
            export.to_str().unwrap(),
        ],
    ));

    // The disk fails.
    let db = db_file(&data);
    truncate(&db, std::fs::metadata(&db).unwrap().len() / 2);
    let out = run_for(dir, &data, &["check"]);
    assert_clear_damage_error("check", &out, &data);

    // Recovery step 1: move the store aside and start again.
    std::fs::rename(store_dir(&data), data.join("store.damaged")).unwrap();
    daemon_until_stored(dir, &data, &config, &ledger_ids(&recent)).await;
    let refetched: BTreeSet<String> = stored_ids(dir, &data).into_iter().collect();
    assert!(refetched.is_subset(&all));
    assert!(
        ledger_ids(&old).is_disjoint(&refetched),
        "only the backfill window comes back from the source"
    );

    // Step 2: older history from the export, each source's raw payloads.
    let raw: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["source"] == SOURCE)
        .map(|v| v["raw"].to_string())
        .collect();
    let raw_file = dir.join("restore.jsonl");
    std::fs::write(&raw_file, raw.join("\n")).unwrap();
    let out = common::ok(&run_for(
        dir,
        &data,
        &[
            "import",
            "--vendor",
            "kisi",
            "--source",
            SOURCE,
            raw_file.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("quarantined 0"), "{out}");
    common::ok(&run_for(dir, &data, &["check"]));
    let ids = stored_ids(dir, &data);
    let restored: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(restored.len(), ids.len(), "an event is stored twice");
    assert_eq!(restored, before, "the store is back to what it held");
    eprintln!(
        "recovery: {} events, {} re-fetched, {} imported back, {:?}",
        restored.len(),
        refetched.len(),
        restored.len() - refetched.len(),
        started.elapsed()
    );
    sim.shutdown().await;
}

#[test]
fn check_needs_the_store_to_itself_and_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("empty.toml"), "operator = \"tester\"\n").unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--config")
        .arg(dir.path().join("empty.toml"))
        .arg("--data-dir")
        .arg(&data)
        .args(["daemon", "--exit-after", "30s"])
        .env("HOME", &data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = data.join("doorwatch.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon never served its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run_for(dir.path(), &data, &["check"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("doorwatch pid {} holds the store", daemon.id())),
        "{err}"
    );
    assert!(
        err.contains("is in use by another doorwatch process"),
        "{err}"
    );
}

//! State, alarms, acks and audit are the same after a restart, whether the engine
//! closed cleanly or crashed between checkpoints.

use chrono::{TimeZone, Utc};
use doorwatch::engine::Engine;
use doorwatch::sim::history::history;
use doorwatch::state::alarms::AlarmConfig;
use doorwatch::store::{AppendBatch, StoreOptions};

fn opts() -> StoreOptions {
    // Checkpoint often so that a run crosses several checkpoints.
    StoreOptions {
        posting_flush: 700,
        ..Default::default()
    }
}

fn fingerprint(e: &Engine) -> (String, String, String) {
    let alarms: Vec<serde_json::Value> = e.alarms.all().map(|a| a.to_json()).collect();
    (
        serde_json::to_string(&alarms).unwrap(),
        serde_json::to_string(&e.audit().unwrap()).unwrap(),
        serde_json::to_string(&e.live).unwrap(),
    )
}

#[test]
fn restart_after_a_crash_and_after_a_clean_close_gives_identical_state() {
    let dir = tempfile::tempdir().unwrap();
    let end = 1_800_000_000_000i64;
    let now = Utc.timestamp_millis_opt(end).unwrap();
    let events: Vec<_> = history(5_000, end, 86_400_000, 9).collect();
    let expected;
    {
        let mut engine = Engine::open_with(dir.path(), AlarmConfig::default(), opts()).unwrap();
        for chunk in events.chunks(500) {
            engine
                .ingest(
                    AppendBatch {
                        events: chunk.to_vec(),
                        ..Default::default()
                    },
                    now,
                )
                .unwrap();
        }
        let open: Vec<String> = engine
            .alarms
            .open_alarms()
            .iter()
            .take(3)
            .map(|a| a.id.clone())
            .collect();
        assert_eq!(open.len(), 3, "the generated day raises alarms");
        for id in &open {
            engine.ack(id, "alice", "checked", now).unwrap().unwrap();
        }
        expected = fingerprint(&engine);
        // Crash: no close, no checkpoint of the last batches or acks.
        drop(engine);
    }
    let engine = Engine::open_with(dir.path(), AlarmConfig::default(), opts()).unwrap();
    assert_eq!(fingerprint(&engine), expected, "after a crash");
    engine.close().unwrap();

    let engine = Engine::open_with(dir.path(), AlarmConfig::default(), opts()).unwrap();
    assert_eq!(fingerprint(&engine), expected, "after a clean close");
    assert!(
        engine.store().uncheckpointed().unwrap().is_empty(),
        "a clean close leaves nothing to replay"
    );
    drop(engine);
}

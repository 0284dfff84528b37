//! Store benchmark: ingest N generated events (batches of 1,000, as sources batch),
//! then time a fixed query set (first 100 results) and a re-open.
//!
//! `cargo bench --bench store` (1,000,000 events by default; set
//! DOORWATCH_BENCH_EVENTS to change). Prints one table; no assertions.

use doorwatch::engine::Engine;
use doorwatch::search::{self, Query};
use doorwatch::sim::history::history;
use doorwatch::state::alarms::AlarmConfig;
use doorwatch::store::{AppendBatch, Store, StoreOptions};
use std::time::{Duration, Instant};

const BATCH: usize = 1_000;
const RUNS: usize = 50;

fn rss_peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::var("DOORWATCH_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let end_ms = 1_800_000_000_000i64;
    let span_ms = 365 * 86_400_000i64;

    let mut opts = StoreOptions {
        auto_checkpoint: true,
        ..Default::default()
    };
    if let Some(f) = std::env::var("DOORWATCH_BENCH_FLUSH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.posting_flush = f;
    }
    let store = Store::open_with(dir.path(), opts).expect("open store");
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for e in history(n, end_ms, span_ms, 42) {
        batch.push(e);
        if batch.len() == BATCH {
            store
                .append(AppendBatch {
                    events: std::mem::take(&mut batch),
                    ..Default::default()
                })
                .expect("append");
        }
    }
    if !batch.is_empty() {
        store
            .append(AppendBatch {
                events: batch,
                ..Default::default()
            })
            .expect("append");
    }
    store.flush().expect("flush");
    let ingest = started.elapsed();
    let disk = dir_size(dir.path());

    println!("doorwatch store bench: {n} events, batches of {BATCH}, sled 0.34 (cache 64 MB)");
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| ingest, all indexes | {:.0} events/s ({:.1} s) |",
        n as f64 / ingest.as_secs_f64(),
        ingest.as_secs_f64()
    );
    println!("| peak RSS during ingest | {:.0} MB |", rss_peak_mb());
    println!(
        "| disk | {:.0} MB ({:.0} B/event) |",
        disk as f64 / 1e6,
        disk as f64 / n as f64
    );

    let now = chrono::DateTime::from_timestamp_millis(end_ms).expect("time");
    let queries = [
        ("door + last 24 h", r#"door:"server room" since:24h"#),
        ("person + 30 days", r#"person:"jane roe" since:30d"#),
        ("kind:access.denied + site", "kind:access.denied site:annex"),
        ("severity:alarm", "severity:alarm"),
        ("free-text word", "forced"),
        ("free-text word + door", "forced door:lobby"),
        ("no hits", "person:nobody"),
        ("empty query (newest 100)", ""),
    ];
    println!();
    println!("| query (first 100 results, {RUNS} runs) | hits | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for (label, text) in queries {
        let q = Query::parse(text, now).expect("query");
        let mut times = Vec::with_capacity(RUNS);
        let mut hits = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let page = search::execute(&store, &q, 100, None).expect("search");
            times.push(t.elapsed());
            hits = page.events.len();
        }
        times.sort();
        println!(
            "| {label} `{text}` | {hits} | {:.2} | {:.2} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }

    drop(store);
    let t = Instant::now();
    let reopened = Store::open(dir.path()).expect("reopen");
    let reopen = t.elapsed();
    println!();
    let stored = reopened.len();
    drop(reopened);
    let t = Instant::now();
    let again = Store::open(dir.path()).expect("reopen");
    let second = t.elapsed();
    drop(again);
    println!(
        "| open with {stored} events stored | first after the bulk load {:.0} ms, then {:.0} ms |",
        reopen.as_secs_f64() * 1000.0,
        second.as_secs_f64() * 1000.0
    );

    // Start-up of the engine (state + alarms): without a snapshot it folds all history;
    // with one it loads the snapshot and replays only what came after it.
    let t = Instant::now();
    let engine = Engine::open(dir.path(), AlarmConfig::default()).expect("engine");
    let rebuild = t.elapsed();
    let alarms = engine.alarms.all().count();
    let t = Instant::now();
    engine.close().expect("close");
    let checkpoint = t.elapsed();
    let t = Instant::now();
    let engine = Engine::open(dir.path(), AlarmConfig::default()).expect("engine");
    let from_snapshot = t.elapsed();
    let snapshot_bytes = engine
        .store()
        .snapshot()
        .ok()
        .flatten()
        .map_or(0, |s| s.len());
    drop(engine);
    println!(
        "| engine start-up, {stored} events, {alarms} alarms | no snapshot (fold all) {:.0} ms; from snapshot {:.0} ms ({:.1} MB snapshot, written in {:.0} ms) |",
        rebuild.as_secs_f64() * 1000.0,
        from_snapshot.as_secs_f64() * 1000.0,
        snapshot_bytes as f64 / 1e6,
        checkpoint.as_secs_f64() * 1000.0
    );
}

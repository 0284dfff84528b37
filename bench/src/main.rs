//! doorwatch benchmark suite: our figures and the baselines' side by side, one table.
//!
//! For each history size it generates the simulated building's events (the same
//! deterministic generator for every contender), then measures ingest (doorwatch's
//! store vs SQLite in WAL mode with the same secondary indexes and FTS5, same batches),
//! search latency for a fixed query set (doorwatch in-process on an open store, as the
//! store owner answers it; SQLite on an open connection; `rg` over a JSONL export),
//! engine open and console start-up to the first frame showing stored data (once
//! without the glance, then with it: the glance's frame and the store's own), and the
//! console's idle CPU and RSS. `--reuse DIR` measures again on the stores an earlier
//! run left in DIR (its `--work`), skipping ingest. Live load (PDK simulator through the console in a PTY at
//! 80x24) runs once. See the README's performance section.
// The same allocator as the doorwatch binary, so in-process figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod live;
mod sqlite;
mod stats;

use doorwatch::engine::Engine;
use doorwatch::model::Event;
use doorwatch::search::{self, Query};
use doorwatch::sim::history::history;
use doorwatch::state::alarms::AlarmConfig;
use doorwatch::store::{AppendBatch, Store, StoreOptions};
use stats::{Summary, fmt_ms};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Events per append: what the sources hand the store per page / socket burst.
pub const BATCH: usize = 1_000;
/// The generated history ends here (2027-01-15) and spans a year.
pub const END_MS: i64 = 1_800_000_000_000;
pub const SPAN_MS: i64 = 365 * 86_400_000;
const SEED: u64 = 42;

pub struct Args {
    sizes: Vec<usize>,
    runs: usize,
    rg_runs: usize,
    live_secs: u64,
    idle_secs: u64,
    /// Longest wait for sled's post-load compaction before the idle window.
    quiet_max: u64,
    rate: f64,
    skip_live: bool,
    ingest_only: bool,
    no_sqlite: bool,
    /// The SQLite baseline runs only for sizes up to this (its 10M ingest alone takes
    /// ~25 minutes on 2 cores).
    sqlite_upto: usize,
    work: PathBuf,
    /// Measure on the stores an earlier run left in `work`; no ingest.
    reuse: bool,
    doorwatch: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args {
        sizes: vec![1_000_000],
        runs: 200,
        rg_runs: 10,
        live_secs: 60,
        idle_secs: 60,
        quiet_max: 600,
        // A badge brings its door cycle: ~3.8 events each, so ~1,000 events/s.
        rate: 260.0,
        skip_live: false,
        ingest_only: false,
        no_sqlite: false,
        sqlite_upto: usize::MAX,
        work: std::env::temp_dir().join("doorwatch-bench"),
        reuse: false,
        doorwatch: PathBuf::from("target/release/doorwatch"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--events" => {
                a.sizes = val()
                    .split(',')
                    .filter_map(|s| s.trim().replace('_', "").parse().ok())
                    .collect()
            }
            "--quick" => {
                a.sizes = vec![100_000];
                a.runs = 50;
                a.rg_runs = 3;
                a.live_secs = 10;
                a.idle_secs = 10;
            }
            "--runs" => a.runs = val().parse().unwrap_or(a.runs),
            "--rg-runs" => a.rg_runs = val().parse().unwrap_or(a.rg_runs),
            "--live-secs" => a.live_secs = val().parse().unwrap_or(a.live_secs),
            "--idle-secs" => a.idle_secs = val().parse().unwrap_or(a.idle_secs),
            "--quiet-max" => a.quiet_max = val().parse().unwrap_or(a.quiet_max),
            "--rate" => a.rate = val().parse().unwrap_or(a.rate),
            "--skip-live" => a.skip_live = true,
            // Tuning aid: doorwatch's ingest alone, no baselines, no table.
            "--ingest-only" => a.ingest_only = true,
            // SQLite at 10M takes most of an hour on 2 cores: skip it explicitly.
            "--no-sqlite" => a.no_sqlite = true,
            "--sqlite-upto" => a.sqlite_upto = val().parse().unwrap_or(a.sqlite_upto),
            "--live-only" => a.sizes.clear(),
            "--work" => a.work = PathBuf::from(val()),
            "--reuse" => {
                a.work = PathBuf::from(val());
                a.reuse = true;
            }
            "--doorwatch" => a.doorwatch = PathBuf::from(val()),
            other => {
                eprintln!(
                    "unknown flag {other}\nusage: doorwatch-bench [--events N,M] [--quick] [--runs N] [--rg-runs N] \
                     [--live-secs S] [--idle-secs S] [--quiet-max S] [--rate R] [--skip-live] [--live-only] [--no-sqlite] [--sqlite-upto N] \
                     [--work DIR | --reuse DIR] [--doorwatch BIN]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

/// One row of the final table.
pub struct Row {
    pub figure: String,
    pub ours: String,
    pub sqlite: String,
    pub rg: String,
    pub ratio: String,
    pub target: String,
    pub verdict: String,
}

impl Row {
    fn new(figure: impl Into<String>) -> Row {
        Row {
            figure: figure.into(),
            ours: "-".into(),
            sqlite: "-".into(),
            rg: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
            verdict: "".into(),
        }
    }
}

fn verdict(ok: bool) -> String {
    if ok { "met".into() } else { "MISSED".into() }
}

fn progress(msg: &str) {
    eprintln!("[bench {}] {msg}", chrono::Local::now().format("%H:%M:%S"));
}

/// Generated history in append batches, with the time spent generating left out.
fn batches(n: usize) -> impl Iterator<Item = Vec<Event>> {
    let mut events = history(n, END_MS, SPAN_MS, SEED);
    std::iter::from_fn(move || {
        let b: Vec<Event> = events.by_ref().take(BATCH).collect();
        (!b.is_empty()).then_some(b)
    })
}

pub struct Ingest {
    pub total: Duration,
    pub per_batch: Vec<Duration>,
    pub disk: u64,
}

impl Ingest {
    pub fn rate(&self, n: usize) -> f64 {
        n as f64 / self.total.as_secs_f64()
    }
}

pub fn dir_size(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

fn ingest_ours(n: usize, dir: &Path) -> Ingest {
    let store = Store::open_with(
        dir,
        StoreOptions {
            auto_checkpoint: true,
            ..Default::default()
        },
    )
    .expect("open store");
    let mut per_batch = Vec::new();
    let mut total = Duration::ZERO;
    for events in batches(n) {
        let t = Instant::now();
        store
            .append(AppendBatch {
                events,
                ..Default::default()
            })
            .expect("append");
        let d = t.elapsed();
        per_batch.push(d);
        total += d;
    }
    let t = Instant::now();
    store.flush().expect("flush");
    drop(store);
    total += t.elapsed();
    Ingest {
        total,
        per_batch,
        disk: dir_size(dir),
    }
}

fn export_jsonl(n: usize, path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("jsonl"));
    for batch in batches(n) {
        for e in batch {
            let line = doorwatch::cli::search::json_line(&e).expect("json line");
            writeln!(out, "{line}").expect("write jsonl");
        }
    }
    out.flush().expect("flush jsonl");
}

/// The fixed query set: label, doorwatch query, SQLite query, rg pattern (and -i).
pub struct QuerySpec {
    pub label: &'static str,
    pub ours: &'static str,
    pub sql: &'static str,
    pub rg: &'static [&'static str],
    pub selective: bool,
    pub free_text: bool,
}

/// `now` for every query: the end of the generated history.
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(END_MS).expect("time")
}

pub const QUERIES: &[QuerySpec] = &[
    QuerySpec {
        label: "door + last 24 h",
        ours: r#"door:"server room" since:24h"#,
        sql: "SELECT json FROM events WHERE (door_id = 'server room' OR door_name = 'server room' COLLATE NOCASE) \
              AND ms >= :since24h ORDER BY ms DESC LIMIT 100",
        // The export's occurred_at is RFC 3339: the last 24 h are two calendar days.
        rg: &[r#""occurred_at":"2027-01-1[45]T.*"door":\{"id":"[^"]*","name":"Server Room"\}"#],
        selective: true,
        free_text: false,
    },
    QuerySpec {
        label: "person + 30 days",
        ours: r#"person:"jane roe" since:30d"#,
        sql: "SELECT json FROM events WHERE (person_id = 'jane roe' OR person_name = 'jane roe' COLLATE NOCASE) \
              AND ms >= :since30d ORDER BY ms DESC LIMIT 100",
        rg: &[
            r#""occurred_at":"20(26-12-1[6-9]|26-12-[23]|27-01-).*"person":\{"id":"[^"]*","name":"Jane Roe"\}"#,
        ],
        selective: true,
        free_text: false,
    },
    QuerySpec {
        label: "kind:access.denied + site",
        ours: "kind:access.denied site:annex",
        sql: "SELECT json FROM events WHERE kind = 'access.denied' AND (site_id = 'annex' OR site_name = 'annex' COLLATE NOCASE) \
              ORDER BY ms DESC LIMIT 100",
        rg: &[r#""kind":"access.denied".*"site":\{"id":"[^"]*","name":"Annex"\}"#],
        selective: true,
        free_text: false,
    },
    QuerySpec {
        label: "severity:alarm",
        ours: "severity:alarm",
        sql: "SELECT json FROM events WHERE severity = 'alarm' ORDER BY ms DESC LIMIT 100",
        rg: &[r#""severity":"alarm""#],
        selective: true,
        free_text: false,
    },
    QuerySpec {
        label: "free-text word",
        ours: "forced",
        sql: "SELECT e.json FROM fts JOIN events e ON e.rowid = fts.rowid WHERE fts MATCH 'forced*' \
              ORDER BY fts.rowid DESC LIMIT 100",
        rg: &["-i", "forced"],
        selective: false,
        free_text: true,
    },
    QuerySpec {
        label: "free-text word + door",
        ours: "forced door:lobby",
        sql: "SELECT e.json FROM fts JOIN events e ON e.rowid = fts.rowid WHERE fts MATCH 'forced*' \
              AND (e.door_id = 'lobby' OR e.door_name LIKE '%lobby%') ORDER BY fts.rowid DESC LIMIT 100",
        rg: &["-i", r#"forced.*"door":\{"id":"[^"]*","name":"[^"]*lobby"#],
        selective: false,
        free_text: true,
    },
    QuerySpec {
        label: "no hits (person:nobody)",
        ours: "person:nobody",
        sql: "SELECT json FROM events WHERE (person_id = 'nobody' OR person_name = 'nobody' COLLATE NOCASE) \
              ORDER BY ms DESC LIMIT 100",
        rg: &[r#""person":\{"id":"[^"]*","name":"[^"]*[Nn]obody"#],
        selective: true,
        free_text: false,
    },
];

fn time_ours(store: &Store, spec: &QuerySpec, runs: usize) -> (Summary, usize) {
    let q = Query::parse(spec.ours, now()).expect("query");
    // One untimed run first, as for SQLite: the timed runs measure a desk that has
    // searched before, not the first touch of each page.
    search::execute(store, &q, 100, None).expect("search");
    let mut times = Vec::with_capacity(runs);
    let mut hits = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let page = search::execute(store, &q, 100, None).expect("search");
        times.push(t.elapsed());
        hits = page.events.len();
    }
    (Summary::of(times), hits)
}

fn time_rg(jsonl: &Path, spec: &QuerySpec, runs: usize) -> (Summary, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut hits = 0;
    for _ in 0..runs {
        let t = Instant::now();
        // -c: rg must read the whole file to find the newest matches anyway; counting
        // keeps its output (and our pipe) out of the measurement.
        let out = Command::new("rg")
            .args(["--no-config", "-c"])
            .args(spec.rg)
            .arg(jsonl)
            .output()
            .expect("run rg (apt-get install ripgrep)");
        times.push(t.elapsed());
        hits = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
    }
    (Summary::of(times), hits)
}

fn ratio(base: f64, ours: f64) -> f64 {
    base / ours.max(1e-6)
}

fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn run_size(a: &Args, n: usize, rows: &mut Vec<Row>) {
    let base = a.work.join(format!("{n}"));
    let ours_dir = base.join("doorwatch");
    let sqlite_path = base.join("events.sqlite");
    let jsonl = base.join("events.jsonl");
    let label = stats::count_label(n);
    let want_sqlite = !a.no_sqlite && n <= a.sqlite_upto;
    if a.reuse {
        if !ours_dir.join("store").is_dir() || !jsonl.is_file() {
            eprintln!(
                "--reuse: no store of {label} events from an earlier run in {} (run without --reuse first)",
                base.display()
            );
            std::process::exit(2);
        }
        progress(&format!(
            "{label}: reusing the stores in {}",
            base.display()
        ));
        reused_rows(a, n, &ours_dir, &sqlite_path, &jsonl, rows);
    } else {
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("work dir");
        progress(&format!("{label}: doorwatch ingest"));
        let ours = ingest_ours(n, &ours_dir);
        let lite = want_sqlite.then(|| {
            progress(&format!("{label}: SQLite ingest"));
            sqlite::ingest(n, &sqlite_path)
        });
        progress(&format!("{label}: JSONL export"));
        export_jsonl(n, &jsonl);
        ingest_rows(n, &ours, lite.as_ref(), &jsonl, rows);
    }
    measure_size(
        a,
        n,
        &ours_dir,
        want_sqlite.then_some(&sqlite_path),
        &jsonl,
        rows,
    );
}

/// The ingest rows, when this run ingested.
fn ingest_rows(n: usize, ours: &Ingest, lite: Option<&Ingest>, jsonl: &Path, rows: &mut Vec<Row>) {
    let label = stats::count_label(n);

    let r_ours = ours.rate(n);
    let r_lite = lite.map_or(f64::NAN, |l| l.rate(n));
    let mut row = Row::new(format!(
        "{label}: ingest, all indexes, batches of {BATCH} (events/s; batch p50/p99 ms)"
    ));
    row.ours = format!(
        "{:.0} ({}/{})",
        r_ours,
        fmt_ms(Summary::of(ours.per_batch.clone()).p50),
        fmt_ms(Summary::of(ours.per_batch.clone()).p99)
    );
    if let Some(lite) = lite {
        row.sqlite = format!(
            "{:.0} ({}/{})",
            r_lite,
            fmt_ms(Summary::of(lite.per_batch.clone()).p50),
            fmt_ms(Summary::of(lite.per_batch.clone()).p99)
        );
        row.ratio = format!("{:.2}x SQLite", r_ours / r_lite);
    } else {
        row.sqlite = "not run".into();
    }
    row.target = "≥ 100,000/s and ≥ 1.0x SQLite".into();
    row.verdict = verdict(r_ours >= 100_000.0 && !(r_ours < r_lite));
    rows.push(row);
    let mut row = Row::new(format!("{label}: disk after ingest"));
    row.ours = format!(
        "{:.0} MB ({:.0} B/event)",
        ours.disk as f64 / 1e6,
        ours.disk as f64 / n as f64
    );
    if let Some(lite) = lite {
        row.sqlite = format!(
            "{:.0} MB ({:.0} B/event)",
            lite.disk as f64 / 1e6,
            lite.disk as f64 / n as f64
        );
    }
    row.rg = format!("{:.0} MB JSONL", dir_size(jsonl) as f64 / 1e6);
    rows.push(row);
}

/// With `--reuse`: what is on disk now, and that ingest was not measured.
fn reused_rows(
    a: &Args,
    n: usize,
    ours_dir: &Path,
    sqlite_path: &Path,
    jsonl: &Path,
    rows: &mut Vec<Row>,
) {
    let label = stats::count_label(n);
    let mut row = Row::new(format!("{label}: ingest"));
    row.ours = format!("not measured: stores reused from {}", a.work.display());
    rows.push(row);
    let mut row = Row::new(format!("{label}: disk (reused stores, as they are now)"));
    let disk = dir_size(ours_dir);
    row.ours = format!(
        "{:.0} MB ({:.0} B/event)",
        disk as f64 / 1e6,
        disk as f64 / n as f64
    );
    if sqlite_path.is_file() {
        let disk = dir_size(sqlite_path);
        row.sqlite = format!(
            "{:.0} MB ({:.0} B/event)",
            disk as f64 / 1e6,
            disk as f64 / n as f64
        );
    }
    row.rg = format!("{:.0} MB JSONL", dir_size(jsonl) as f64 / 1e6);
    rows.push(row);
}

/// Searches, engine open, start-up and idle on the stores in place.
fn measure_size(
    a: &Args,
    n: usize,
    ours_dir: &Path,
    sqlite_path: Option<&PathBuf>,
    jsonl: &Path,
    rows: &mut Vec<Row>,
) {
    let label = stats::count_label(n);
    // Searches: doorwatch in-process on the open store (what the store owner does for
    // the TUI and for commands through the socket).
    progress(&format!("{label}: searches"));
    let store = Store::open(ours_dir).expect("open store");
    // The first open after a bulk load replays sled's log; each query then runs once
    // untimed before its timed runs (time_ours, sqlite::time_query).
    let conn = sqlite_path.filter(|p| p.is_file()).map(|p| sqlite::open(p));
    for spec in QUERIES {
        let (ours_t, ours_hits) = time_ours(&store, spec, a.runs);
        let lite_q = conn.as_ref().map(|c| sqlite::time_query(c, spec, a.runs));
        let lite_p99 = lite_q.as_ref().map_or(f64::NAN, |(t, _)| t.p99);
        let (rg_t, rg_hits) = time_rg(jsonl, spec, a.rg_runs);
        let mut row = Row::new(format!(
            "{label}: search `{}` first 100 (p50/p99 ms; hits ours/SQLite/rg-count)",
            spec.ours
        ));
        row.ours = format!(
            "{}/{} ({ours_hits})",
            fmt_ms(ours_t.p50),
            fmt_ms(ours_t.p99)
        );
        row.sqlite = match &lite_q {
            Some((t, hits)) => format!("{}/{} ({hits})", fmt_ms(t.p50), fmt_ms(t.p99)),
            None => "not run".into(),
        };
        row.rg = format!("{}/{} ({rg_hits})", fmt_ms(rg_t.p50), fmt_ms(rg_t.p99));
        row.ratio = if lite_q.is_some() {
            format!(
                "{:.0}x rg, {:.1}x SQLite (p99)",
                ratio(rg_t.p99, ours_t.p99),
                ratio(lite_p99, ours_t.p99)
            )
        } else {
            format!("{:.0}x rg (p99)", ratio(rg_t.p99, ours_t.p99))
        };
        let p99 = ours_t.p99;
        let (target, ok) = if spec.free_text {
            (
                "p99 ≤ 20 ms, faster than rg -i and SQLite FTS5",
                p99 <= 20.0 && p99 < rg_t.p99 && !(p99 >= lite_p99),
            )
        } else if spec.selective {
            let limit = if n >= 10_000_000 { 10.0 } else { 5.0 };
            (
                if n >= 10_000_000 {
                    "p99 ≤ 10 ms"
                } else {
                    "p99 ≤ 5 ms, ≥ 15x rg"
                },
                p99 <= limit && (n >= 10_000_000 || ratio(rg_t.p99, p99) >= 15.0),
            )
        } else {
            ("-", true)
        };
        row.target = target.into();
        row.verdict = verdict(ok);
        rows.push(row);
    }
    drop(conn);
    drop(store);

    // Engine open: the first open folds all history into live state and writes the
    // snapshot; every later open loads the snapshot (no replay).
    progress(&format!("{label}: engine open"));
    let t = Instant::now();
    let engine = Engine::open(ours_dir, AlarmConfig::default()).expect("engine");
    let first_open = t.elapsed();
    engine.close().expect("close");
    let mut opens = Vec::new();
    for _ in 0..a.runs.clamp(3, 10) {
        let t = Instant::now();
        let engine = Engine::open(ours_dir, AlarmConfig::default()).expect("engine");
        opens.push(t.elapsed());
        drop(engine);
    }
    let opens = Summary::of(opens);
    // Reused stores have had their snapshot since the run that made them.
    let first = if a.reuse {
        "first open of this run"
    } else {
        "first open, no snapshot yet"
    };
    let mut row = Row::new(format!(
        "{label}: engine open in-process, from snapshot (p50/p99 ms; {first})"
    ));
    row.ours = format!(
        "{}/{} ({} ms)",
        fmt_ms(opens.p50),
        fmt_ms(opens.p99),
        first_open.as_millis()
    );
    rows.push(row);

    // Console start-up to the first frame that shows stored events, in a PTY at 80x24:
    // once without a glance, then with the one each run writes when it closes.
    progress(&format!("{label}: console start-up"));
    let starts = live::first_frames(a, ours_dir, 5);
    let mut row = Row::new(format!(
        "{label}: console start-up without a glance, to the store's first frame (ms, 1 run)"
    ));
    let mut glance = Row::new(format!(
        "{label}: console start-up with the glance, to the first frame with stored data (the glance's) (p50/p99 ms, 5 runs)"
    ));
    let mut own = Row::new(format!(
        "{label}: console start-up with the glance, to the store's own first frame (p50/p99 ms, 5 runs)"
    ));
    glance.target = "≤ 300 ms at 10M".into();
    if let Some(s) = starts {
        row.ours = format!("{:.0}", s.no_glance);
        glance.ours = format!("{}/{}", fmt_ms(s.first_data.p50), fmt_ms(s.first_data.p99));
        if s.glance_runs < s.runs {
            glance.ours += &format!(
                " ({} of {} runs showed no glance)",
                s.runs - s.glance_runs,
                s.runs
            );
        }
        glance.verdict = verdict(s.first_data.p99 <= 300.0 && s.glance_runs == s.runs);
        own.ours = format!("{}/{}", fmt_ms(s.store.p50), fmt_ms(s.store.p99));
    } else {
        row.ours = "no frame with stored data".into();
        glance.verdict = verdict(false);
    }
    rows.push(row);
    rows.push(glance);
    rows.push(own);

    progress(&format!("{label}: idle console"));
    if let Some(idle) = live::idle(a, ours_dir) {
        let mut debt = Row::new(format!(
            "{label}: sled compacting its log after the bulk load, before the idle window (s, CPU %)"
        ));
        debt.ours = format!(
            "{:.0} s, {:.2} %{}",
            idle.compacting_secs,
            idle.compacting_cpu_pct,
            if idle.quiet {
                ""
            } else {
                " (still compacting at --quiet-max)"
            }
        );
        debt.target = format!(
            "until {} % for {} s (at most {} s)",
            live::QUIET_BELOW,
            live::QUIET_WINDOW_SECS,
            a.quiet_max
        );
        rows.push(debt);
        let mut row = Row::new(format!(
            "{label}: idle console, no sources, {} s (CPU %, RSS MB)",
            a.idle_secs
        ));
        row.ours = format!(
            "{:.2} %, {:.0} MB",
            idle.cpu_pct,
            idle.rss_kb as f64 / 1024.0
        );
        row.target = "≤ 0.5 % / ≤ 200 MB (at 10M)".into();
        row.verdict = verdict(idle.quiet && idle.cpu_pct <= 0.5 && idle.rss_kb <= 200 * 1024);
        rows.push(row);
    }
    let _ = rss_kb;
}

fn print_table(a: &Args, rows: &[Row], elapsed: Duration) {
    let host_cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "doorwatch bench: sizes {:?}, {} runs per query ({} for rg), {host_cores} cores, load avg at end {}, took {:.0} s",
        a.sizes,
        a.runs,
        a.rg_runs,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        elapsed.as_secs_f64()
    );
    println!(
        "doorwatch searches run in-process on an open store (as the store owner answers the TUI and socket commands);"
    );
    println!(
        "SQLite: WAL, synchronous=NORMAL, same indexes + FTS5, open connection; rg: ripgrep -c over the JSONL export."
    );
    if a.reuse {
        println!(
            "Stores reused from an earlier run in {}: ingest not measured.",
            a.work.display()
        );
    }
    println!();
    println!("| figure | doorwatch | SQLite | rg | ratio | target | |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.figure, r.ours, r.sqlite, r.rg, r.ratio, r.target, r.verdict
        );
    }
}

fn main() {
    let a = parse_args();
    let started = Instant::now();
    let mut rows = Vec::new();
    if a.ingest_only {
        for &n in &a.sizes {
            let dir = a.work.join(format!("ingest-{n}"));
            let _ = std::fs::remove_dir_all(&dir);
            let r = ingest_ours(n, &dir);
            let s = Summary::of(r.per_batch.clone());
            println!(
                "{n} events: {:.0} events/s, batch p50 {} ms p99 {} ms, {:.0} B/event on disk",
                r.rate(n),
                fmt_ms(s.p50),
                fmt_ms(s.p99),
                r.disk as f64 / n as f64
            );
        }
        return;
    }
    for &n in &a.sizes {
        run_size(&a, n, &mut rows);
    }
    if !a.skip_live {
        progress("live load");
        live::live_load(&a, &mut rows);
    }
    print_table(&a, &rows, started.elapsed());
}

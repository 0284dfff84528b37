//! The console under a real terminal: start-up, idle and live load, each in a PTY at
//! 80x24 (`pty_run.py`), timed through `DOORWATCH_FRAME_LOG` (one line per drawn frame:
//! wall ms, draw µs, received_at and occurred_at ms of the newest live row, and whose
//! data the frame shows: the glance's or the store's).

use crate::stats::{Summary, fmt_ms};
use crate::{Args, Row, progress, verdict};
use doorwatch::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pty_run.py")
}

/// A config with no sources: the console serves history, alarms and acks only.
fn empty_config(a: &Args) -> PathBuf {
    let path = a.work.join("no-sources.toml");
    std::fs::write(&path, "operator = \"bench\"\n").expect("config");
    path
}

fn pty_run(
    a: &Args,
    config: &Path,
    data: &Path,
    log: &Path,
    mode: &[&str],
) -> Option<serde_json::Value> {
    let _ = std::fs::remove_file(log);
    let out = Command::new("python3")
        .arg(helper())
        .args(["--cols", "80", "--rows", "24", "--frame-log"])
        .arg(log)
        .args(mode)
        .arg("--")
        .arg(&a.doorwatch)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Start-up, spawn to first frames.
pub struct Startup {
    /// Without a glance (removed first): to the first frame with stored data, which is
    /// the store's own.
    pub no_glance: f64,
    /// With the glance the previous run wrote on close: to the first frame with stored
    /// data (the glance's) ...
    pub first_data: Summary,
    /// ... and to the store's own first frame.
    pub store: Summary,
    /// Runs whose first frame with data was the glance's.
    pub glance_runs: usize,
    pub runs: usize,
}

/// Spawn to the first frame that shows stored events: once without a glance, then
/// `runs` times with the one each run leaves behind when it closes.
pub fn first_frames(a: &Args, data: &Path, runs: usize) -> Option<Startup> {
    let config = empty_config(a);
    let log = a.work.join("frames-start.log");
    let _ = std::fs::remove_file(data.join(doorwatch::ui::glance::FILE));
    let until = ["--until-data", "--timeout", "30"];
    let v = pty_run(a, &config, data, &log, &until)?;
    let no_glance = v["store_data_ms"].as_f64()?;
    let (mut first, mut store, mut glance_runs) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let v = pty_run(a, &config, data, &log, &until)?;
        first.push(v["first_data_ms"].as_f64()?);
        store.push(v["store_data_ms"].as_f64()?);
        glance_runs += usize::from(v["glance"].as_bool() == Some(true));
    }
    Some(Startup {
        no_glance,
        first_data: Summary::of_ms(first),
        store: Summary::of_ms(store),
        glance_runs,
        runs,
    })
}

/// The idle window opens once the console's CPU has stayed at or below this ...
pub const QUIET_BELOW: f64 = 0.25;
/// ... for this many seconds.
pub const QUIET_WINDOW_SECS: u64 = 20;

pub struct Idle {
    pub cpu_pct: f64,
    pub rss_kb: u64,
    /// The wait before the idle window: sled compacting the log a bulk load left.
    pub compacting_secs: f64,
    pub compacting_cpu_pct: f64,
    /// Whether the console went quiet within `--quiet-max`.
    pub quiet: bool,
}

pub fn idle(a: &Args, data: &Path) -> Option<Idle> {
    let config = empty_config(a);
    let log = a.work.join("frames-idle.log");
    let secs = a.idle_secs.to_string();
    let quiet_below = QUIET_BELOW.to_string();
    let quiet_max = a.quiet_max.to_string();
    let quiet_window = QUIET_WINDOW_SECS.to_string();
    let v = pty_run(
        a,
        &config,
        data,
        &log,
        &[
            "--duration",
            &secs,
            "--timeout",
            "60",
            "--quiet-below",
            &quiet_below,
            "--quiet-max",
            &quiet_max,
            "--quiet-window",
            &quiet_window,
        ],
    )?;
    Some(Idle {
        cpu_pct: v["cpu_pct"].as_f64()?,
        rss_kb: v["rss_kb"].as_u64()?,
        compacting_secs: v["compacting_secs"].as_f64()?,
        compacting_cpu_pct: v["compacting_cpu_pct"].as_f64()?,
        quiet: v["quiet"].as_bool()?,
    })
}

/// The PDK simulator at `--rate` through the console for `--live-secs`.
pub fn live_load(a: &Args, rows: &mut Vec<Row>) {
    let config = a.work.join("live.toml");
    let data = a.work.join("live-data");
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_dir_all(&data);
    let mut sim = match Command::new(&a.doorwatch)
        .args([
            "simulate",
            "--vendors",
            "pdk",
            "--rate",
            &a.rate.to_string(),
            "--config-out",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            progress(&format!("cannot start the simulator: {e}"));
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !config.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = a.work.join("frames-live.log");
    let secs = a.live_secs.to_string();
    let result = pty_run(
        a,
        &config,
        &data,
        &log,
        &["--duration", &secs, "--timeout", "120"],
    );
    let _ = sim.kill();
    let _ = sim.wait();
    let Some(v) = result else {
        progress("live run produced no measurement");
        return;
    };
    let lines = std::fs::read_to_string(&log).unwrap_or_default();
    let mut draw = Vec::new();
    let mut latency = Vec::new();
    let mut emitted = Vec::new();
    let mut last_newest = None;
    for l in lines.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(at), Some(us)) = (
            f.first().and_then(|s| s.parse::<i64>().ok()),
            f.get(1).and_then(|s| s.parse::<f64>().ok()),
        ) else {
            continue;
        };
        draw.push(us / 1000.0);
        let occurred = f.get(3).and_then(|s| s.parse::<i64>().ok());
        if let Some(newest) = f.get(2).and_then(|s| s.parse::<i64>().ok())
            && last_newest != Some((newest, occurred))
        {
            last_newest = Some((newest, occurred));
            latency.push((at - newest) as f64);
            // The simulator stamps `occurred` as it sends, on this machine's clock.
            if let Some(occurred) = occurred {
                emitted.push((at - occurred) as f64);
            }
        }
    }
    let stored = Store::open(&data).map(|s| s.len()).unwrap_or(0);
    let draw = Summary::of_ms(draw);
    let latency = Summary::of_ms(latency);
    let emitted = (!emitted.is_empty()).then(|| Summary::of_ms(emitted));
    let bps = v["bytes_per_s"].as_f64().unwrap_or(f64::NAN);
    let cpu = v["cpu_pct"].as_f64().unwrap_or(f64::NAN);
    let label = format!(
        "live: PDK simulator --rate {} for {} s ({} events stored, ~{:.0}/s), console at 80x24",
        a.rate,
        a.live_secs,
        stored,
        stored as f64 / a.live_secs as f64
    );
    let mut row = Row::new(format!("{label}: frame draw time (p50/p99 ms)"));
    row.ours = format!("{}/{}", fmt_ms(draw.p50), fmt_ms(draw.p99));
    row.target = "p99 ≤ 8 ms".into();
    row.verdict = verdict(draw.p99 <= 8.0);
    rows.push(row);
    let mut row = Row::new(format!("{label}: bytes to the terminal"));
    row.ours = format!("{:.1} KB/s", bps / 1000.0);
    row.target = "≤ 30 KB/s".into();
    row.verdict = verdict(bps <= 30_000.0);
    rows.push(row);
    let mut row = Row::new(format!("{label}: console CPU (ingest + alarms + draw)"));
    row.ours = format!("{cpu:.1} %");
    rows.push(row);
    let mut row = Row::new(format!(
        "{label}: arrival (received_at) → row drawn (p50/p99 ms)"
    ));
    row.ours = format!("{}/{}", fmt_ms(latency.p50), fmt_ms(latency.p99));
    rows.push(row);
    let mut row = Row::new(format!(
        "{label}: emit (simulator's occurred stamp) → row drawn (p50/p99 ms)"
    ));
    match emitted {
        Some(e) => {
            row.ours = format!("{}/{}", fmt_ms(e.p50), fmt_ms(e.p99));
            row.verdict = verdict(e.p99 <= 100.0);
        }
        None => {
            row.ours = "not in the frame log".into();
            row.verdict = verdict(false);
        }
    }
    row.target = "p99 ≤ 100 ms".into();
    rows.push(row);
}

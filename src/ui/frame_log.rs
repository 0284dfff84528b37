//! Per-frame timing for the benchmark suite (`bench/run`), off unless
//! `DOORWATCH_FRAME_LOG=<path>` is set: one line per drawn frame,
//! `<unix ms at the end of the frame> <draw µs> <received_at ms of the newest live row or ->`.
//! The suite reads it for start-up to first frame, frame time and arrival→screen
//! latency (`received_at` is stamped when the payload arrives; vendors' own
//! `occurred` stamps can run ahead of or behind our clock).

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

fn log() -> Option<&'static Mutex<std::fs::File>> {
    static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("DOORWATCH_FRAME_LOG")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(Mutex::new(file))
    })
    .as_ref()
}

/// Record one frame (a no-op without the env var).
pub fn record(draw: Duration, app: &super::app::App) {
    let Some(log) = log() else { return };
    let now = chrono::Utc::now().timestamp_millis();
    let newest = app.live.events.back().map_or("-".to_string(), |e| {
        e.received_at.timestamp_millis().to_string()
    });
    if let Ok(mut f) = log.lock() {
        let _ = writeln!(f, "{now} {} {newest}", draw.as_micros());
    }
}

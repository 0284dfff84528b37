//! Per-frame timing for the benchmark suite (`bench/run`), off unless
//! `DOORWATCH_FRAME_LOG=<path>` is set: one line per drawn frame,
//! `<unix ms at the end of the frame> <draw µs> <received_at ms of the newest live row or ->
//! <occurred_at ms of that row or -> <glance|store>`.
//! The suite reads it for start-up to the first frame with stored data (the glance's,
//! then the store's own: the last field says whose data the frame shows), frame time,
//! arrival→screen latency (`received_at` is stamped when the payload arrives) and
//! emit→screen latency (`occurred_at` is the vendor's stamp: the PDK simulator stamps
//! it as it sends, on this machine's clock; a real vendor's clock may be off ours).

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
    let (received, occurred) = app
        .live
        .events
        .back()
        .map_or(("-".into(), "-".into()), |e| {
            (
                e.received_at.timestamp_millis().to_string(),
                e.occurred_at.timestamp_millis().to_string(),
            )
        });
    let whose = if app.glance.is_some() {
        "glance"
    } else {
        "store"
    };
    if let Ok(mut f) = log.lock() {
        let _ = writeln!(
            f,
            "{now} {} {received} {occurred} {whose}",
            draw.as_micros()
        );
    }
}

//! A plain live feed: every committed event and every new alarm as a line on stdout.
//! It is what `doorwatch`, `doorwatch demo` show until the console (ratatui) lands, and
//! stays useful piped into other tools.

use crate::config::Config;
use crate::daemon::Live;
use crate::engine::Engine;
use crate::model::{Event, format_time};
use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// One line per event: time, vendor, severity, kind, summary.
pub fn event_line(e: &Event) -> String {
    format!(
        "{}  {:<8} {:<7} {:<28} {}",
        format_time(&e.occurred_at),
        e.vendor.as_str(),
        e.severity.as_str(),
        e.kind.name(),
        e.summary
    )
}

/// Run the configured sources and print what they commit until a signal or
/// `exit_after`. `banner` is printed first (e.g. the DEMO notice).
pub async fn run(
    config: &Config,
    engine: Engine,
    exit_after: Option<Duration>,
    banner: &str,
) -> anyhow::Result<()> {
    println!("{banner}");
    let seen_alarms = Mutex::new(
        engine
            .alarms
            .open_alarms()
            .iter()
            .map(|a| a.id.clone())
            .collect::<HashSet<_>>(),
    );
    let live = Live::start(config, engine, move |engine, stored| {
        let mut out = std::io::stdout().lock();
        for e in stored {
            let _ = writeln!(out, "{}", event_line(e));
        }
        let mut seen = seen_alarms.lock().unwrap_or_else(|p| p.into_inner());
        for a in engine.alarms.open_alarms() {
            if seen.insert(a.id.clone()) {
                let _ = writeln!(out, "ALARM {}", crate::engine::alarm_line(a));
            }
        }
        let _ = out.flush();
    })?;
    let why = crate::daemon::stop_signal(exit_after).await;
    tracing::info!("feed stopping: {why}");
    crate::daemon::stop_and_report(live).await
}

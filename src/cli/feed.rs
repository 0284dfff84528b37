//! A plain live feed: every committed event, every new alarm and every
//! acknowledgement as a line on stdout. What `doorwatch` prints when stdout is not a
//! terminal (piped into other tools, or a test), owning the store or attached to it.

use crate::config::Config;
use crate::daemon::Live;
use crate::engine::Engine;
use crate::model::{Event, format_time};
use crate::remote::Client;
use crate::ui::EventFeed;
use crate::ui::backend::{self, Update};
use crate::ui::snapshot::{AckRow, Snapshot};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

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

/// Run the configured sources on a store this process owns, serve other consoles,
/// and print what is committed until a signal or `exit_after`.
pub async fn run(
    config: &Config,
    engine: Engine,
    data_dir: &Path,
    exit_after: Option<Duration>,
    banner: &str,
) -> anyhow::Result<()> {
    println!("{banner}");
    let (feed, rx) = EventFeed::channel();
    let mut live = Live::start(config, engine, move |_, stored| feed.send(stored))?;
    if let Err(e) = live.serve(data_dir) {
        tracing::warn!("not serving other consoles: {e:#}");
        eprintln!("doorwatch: other consoles cannot attach: {e:#}");
    }
    let updates =
        backend::local_updates(live.engine(), live.board.clone(), live.engine_changes(), rx);
    let why = print_updates(updates, exit_after).await;
    tracing::info!("feed stopping: {why}");
    crate::daemon::stop_and_report(live, data_dir).await
}

/// Print what the store's owner serves until a signal or `exit_after`; when the
/// owner goes away, say so and keep trying.
pub async fn attached(
    mut client: Client,
    data_dir: &Path,
    exit_after: Option<Duration>,
    banner: &str,
) -> anyhow::Result<()> {
    println!("{banner}");
    println!(
        "attached to the doorwatch daemon (pid {}, {}) at {}",
        client.pid,
        client.server,
        crate::remote::socket_path(data_dir).display()
    );
    // What was there before we came is in the store; the feed shows what comes next.
    let seen = client
        .search_page("", 1_000, None)?
        .events
        .into_iter()
        .map(|e| e.id)
        .collect();
    drop(client);
    let updates = backend::remote_updates(data_dir.to_path_buf(), seen);
    let why = print_updates(updates, exit_after).await;
    tracing::info!("attached feed stopping: {why}");
    Ok(())
}

async fn print_updates(
    mut updates: mpsc::Receiver<Update>,
    exit_after: Option<Duration>,
) -> &'static str {
    let stop = crate::daemon::stop_signal(exit_after);
    tokio::pin!(stop);
    let mut alarms: Option<AlarmLines> = None;
    loop {
        let update = tokio::select! {
            why = &mut stop => return why,
            update = updates.recv() => update,
        };
        let mut lines = Vec::new();
        match update {
            Some(Update::Events(events)) => lines.extend(events.iter().map(event_line)),
            Some(Update::Snapshot(s)) => match alarms.as_mut() {
                // The first snapshot is what was already there.
                None => alarms = Some(AlarmLines::new(&s)),
                Some(a) => lines.extend(a.lines(&s)),
            },
            Some(Update::Notice(text)) => lines.push(format!("doorwatch: {text}")),
            None => return (&mut stop).await,
        }
        // `doorwatch | head`: once the reader is gone there is nobody to feed.
        if write_lines(&lines).is_err() {
            return "standard output closed";
        }
    }
}

fn write_lines(lines: &[String]) -> std::io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Which alarms and acknowledgements were already printed.
struct AlarmLines {
    raised: HashSet<String>,
    acked: HashSet<String>,
}

impl AlarmLines {
    fn new(s: &Snapshot) -> AlarmLines {
        AlarmLines {
            raised: s.alarms.iter().map(|a| a.id.clone()).collect(),
            acked: s.recent_acks.iter().map(|a| a.alarm.clone()).collect(),
        }
    }

    /// `ALARM ...` for each new alarm, `ACK ...` for each new acknowledgement.
    fn lines(&mut self, s: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for a in &s.alarms {
            if self.raised.insert(a.id.clone()) {
                out.push(format!("ALARM {}", crate::engine::alarm_line(a)));
            }
        }
        for r in &s.recent_acks {
            if self.acked.insert(r.alarm.clone()) {
                out.push(format!("ACK {}", ack_line(r)));
            }
        }
        out
    }
}

/// `a-000042 acknowledged by alice at <time>: <note>`.
pub fn ack_line(r: &AckRow) -> String {
    format!(
        "{} acknowledged by {} at {}: {}",
        r.alarm,
        r.ack.operator,
        format_time(&r.ack.at),
        r.ack.note
    )
}

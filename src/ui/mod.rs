//! The console: a ratatui TUI over the live engine.
//!
//! `app` holds state and `update`; `render` and `panes/` draw it; `snapshot` copies
//! what is shown out of the engine; this module runs the loop that turns terminal
//! input, engine changes and source status into messages and carries out effects.

pub mod app;
mod frame_log;
pub mod keymap;
pub mod panes;
pub mod render;
pub mod snapshot;
pub mod terminal;
pub mod theme;

use crate::daemon::Live;
use crate::model::Event;
use crate::sources::runtime::{SharedEngine, StatusBoard, lock_engine};
use app::{App, Effect, Msg};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use snapshot::Snapshot;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Never draw more often than this (~30 fps).
const FRAME: Duration = Duration::from_millis(33);
/// Events waiting for the console; beyond it the oldest waiting are dropped from the
/// live view (they are in the store, a search away) and counted.
const LIVE_QUEUE: usize = 4_096;

/// The feed of committed events into the console.
#[derive(Clone)]
pub struct EventFeed {
    tx: mpsc::Sender<Vec<Event>>,
    dropped: Arc<AtomicU64>,
}

impl EventFeed {
    pub fn channel() -> (EventFeed, mpsc::Receiver<Vec<Event>>) {
        let (tx, rx) = mpsc::channel(LIVE_QUEUE);
        (
            EventFeed {
                tx,
                dropped: Arc::default(),
            },
            rx,
        )
    }

    /// Called on the engine thread after a commit: never blocks it.
    pub fn send(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        if self.tx.try_send(events.to_vec()).is_err() {
            self.dropped.fetch_add(events.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Carry out an effect off the loop (store work blocks); its result comes back as a
/// message.
fn spawn_effect(
    effect: Effect,
    engine: SharedEngine,
    data_dir: PathBuf,
    operator: String,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::task::spawn_blocking(move || {
        let msg = match effect {
            Effect::Search {
                generation,
                query,
                before,
                limit,
            } => {
                let result = crate::search::Query::parse(&query, chrono::Utc::now())
                    .map_err(|e| e.to_string())
                    .and_then(|q| {
                        let engine = lock_engine(&engine);
                        crate::search::execute(engine.store(), &q, limit, before)
                            .map_err(|e| e.to_string())
                    })
                    .map(|page| (page.events, page.next));
                Msg::SearchPage { generation, result }
            }
            Effect::Ack { alarm, note } => {
                let mut engine = lock_engine(&engine);
                let result = match engine.ack(&alarm, &operator, &note, chrono::Utc::now()) {
                    Ok(Ok(a)) => Ok(format!("{} acknowledged by {operator}", a.id)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("ack failed: {e:#}")),
                };
                Msg::Acked(result)
            }
            Effect::Export { query, jsonl } => {
                let result = (|| -> anyhow::Result<(PathBuf, usize)> {
                    let q = crate::search::Query::parse(&query, chrono::Utc::now())?;
                    let (format, ext) = if jsonl {
                        (crate::cli::export::Format::Jsonl, "jsonl")
                    } else {
                        (crate::cli::export::Format::Csv, "csv")
                    };
                    let name = format!(
                        "doorwatch-{}.{ext}",
                        chrono::Utc::now().format("%Y%m%d-%H%M%S")
                    );
                    let path = data_dir.join("exports").join(name);
                    std::fs::create_dir_all(path.parent().unwrap_or(&data_dir))?;
                    let engine = lock_engine(&engine);
                    let n = crate::cli::export::to_file(engine.store(), &q, format, &path)?;
                    Ok((path, n))
                })()
                .map_err(|e| format!("{e:#}"));
                Msg::Exported(result)
            }
            Effect::Bell | Effect::Quit => return,
        };
        let _ = tx.send(msg);
    });
}

/// Everything the console needs besides the running sources.
pub struct ConsoleOptions {
    pub data_dir: PathBuf,
}

/// Run the console over running sources until the operator quits or a signal comes.
pub async fn run(
    mut app: App,
    live: &Live,
    mut feed: mpsc::Receiver<Vec<Event>>,
    opts: ConsoleOptions,
) -> anyhow::Result<()> {
    let mut guard = terminal::TerminalGuard::enter()?;
    let engine = live.engine();
    let board: StatusBoard = live.board.clone();
    let mut engine_changes = live.engine_changes();
    let mut board_changes = board.subscribe();
    let (effects_tx, mut effects_rx) = mpsc::unbounded_channel::<Msg>();
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;

    let take_snapshot = |engine: &SharedEngine, board: &StatusBoard| {
        let engine = lock_engine(engine);
        Snapshot::take(&engine, board.all(), chrono::Utc::now())
    };
    // Through `update`, so critical alarms already waiting ring the bell once at start.
    let first = take_snapshot(&engine, &board);
    if app::update(&mut app, Msg::Snapshot(Box::new(first))).contains(&Effect::Bell) {
        ring_bell();
    }
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut batch = Vec::new();
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            draw(&mut guard.terminal, &app)?;
            last_draw = Instant::now();
            dirty = false;
        }
        let redraw_in = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        let mut msgs = Vec::new();
        tokio::select! {
            biased;
            _ = hangup_signal(&mut hangup) => break,
            _ = hangup_signal(&mut terminate) => break,
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => msgs.push(Msg::Key(k)),
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(msg) = effects_rx.recv() => {
                // An acknowledgement changes the alarms without a commit, so the
                // engine's change signal stays quiet: look again ourselves.
                let acked = matches!(msg, Msg::Acked(_));
                msgs.push(msg);
                if acked {
                    msgs.push(Msg::Snapshot(Box::new(take_snapshot(&engine, &board))));
                }
            }
            n = feed.recv_many(&mut batch, 64) => {
                if n > 0 {
                    msgs.push(Msg::Events(batch.drain(..).flatten().collect()));
                }
            }
            Ok(()) = engine_changes.changed() => {
                msgs.push(Msg::Snapshot(Box::new(take_snapshot(&engine, &board))));
            }
            Ok(()) = board_changes.changed() => {
                msgs.push(Msg::Snapshot(Box::new(take_snapshot(&engine, &board))));
            }
            _ = tick.tick() => msgs.push(Msg::Tick(chrono::Utc::now())),
            _ = tokio::time::sleep(redraw_in) => {}
        }
        for msg in msgs {
            dirty = true;
            for effect in app::update(&mut app, msg) {
                match effect {
                    Effect::Quit => {}
                    Effect::Bell => ring_bell(),
                    other => spawn_effect(
                        other,
                        engine.clone(),
                        opts.data_dir.clone(),
                        app.operator.clone(),
                        effects_tx.clone(),
                    ),
                }
            }
            // Keep the search pages coming as the selection nears the end.
            if app.pane == app::Pane::Search {
                for effect in app::more_results(&mut app, 0) {
                    spawn_effect(
                        effect,
                        engine.clone(),
                        opts.data_dir.clone(),
                        app.operator.clone(),
                        effects_tx.clone(),
                    );
                }
            }
        }
        if app.quit {
            break;
        }
    }
    drop(guard);
    Ok(())
}

fn ring_bell() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}

#[cfg(unix)]
async fn hangup_signal(s: &mut tokio::signal::unix::Signal) {
    s.recv().await;
}

fn draw(terminal: &mut terminal::Term, app: &App) -> anyhow::Result<()> {
    use crossterm::{execute, terminal as ct};
    let started = Instant::now();
    let mut out = std::io::stdout();
    let _ = execute!(out, ct::BeginSynchronizedUpdate);
    terminal.draw(|f| render::render(app, f))?;
    let _ = execute!(out, ct::EndSynchronizedUpdate);
    frame_log::record(started.elapsed(), app);
    Ok(())
}

//! The console: a ratatui TUI over the live engine.
//!
//! `app` holds state and `update`; `render` and `panes/` draw it; `snapshot` copies
//! what is shown out of the engine; this module runs the loop that turns terminal
//! input, engine changes and source status into messages and carries out effects.

pub mod app;
pub mod backend;
mod frame_log;
pub mod glance;
pub mod input;
pub mod keymap;
pub mod panes;
pub mod render;
pub mod snapshot;
pub mod terminal;
pub mod theme;

use crate::model::Event;
use app::{App, Effect, Msg};
use backend::{Backend, Update};
use crossterm::event::{Event as TermEvent, KeyEventKind};
use input::{Input, TtyInput};
use snapshot::Snapshot;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The store is open (or the owner answered): where the console's data comes from
/// from now on, and what replaces the glance.
pub struct Opened {
    pub backend: Backend,
    /// Committed events and state as they change.
    pub updates: mpsc::Receiver<Update>,
    /// The newest stored events, newest first.
    pub newest_first: Vec<Event>,
    /// The state now, so that the first frame from the store shows it whole.
    pub snapshot: Option<Box<Snapshot>>,
    /// The footer's line from then on.
    pub message: Option<String>,
}

impl Opened {
    /// Already open: for a console that has everything before its loop starts.
    pub fn ready(self) -> oneshot::Receiver<Opened> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(self);
        rx
    }
}

/// Never draw more often than this (20 fps): at 1,000 events/s nearly every frame
/// changes the events pane, and 30 fps wrote ~38 KB/s to the terminal.
const FRAME: Duration = Duration::from_millis(50);
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
            self.dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Carry out an effect off the loop; its result comes back as a message.
fn spawn_effect(
    effect: Effect,
    backend: &Backend,
    operator: &str,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    let (backend, operator, tx) = (backend.clone(), operator.to_string(), tx.clone());
    tokio::spawn(async move {
        let msg = match effect {
            Effect::Search {
                generation,
                query,
                before,
                limit,
            } => Msg::SearchPage {
                generation,
                result: backend.search(query, before, limit).await,
            },
            Effect::Ack { alarm, note } => Msg::Acked(backend.ack(alarm, operator, note).await),
            Effect::Export { query, jsonl } => Msg::Exported(backend.export(query, jsonl).await),
            Effect::Bell | Effect::Quit => return,
        };
        let _ = tx.send(msg);
    });
}

/// A test aid (hidden, kept out of `--help`): `DOORWATCH_PANIC_AFTER_FIRST_FRAME=1`
/// makes the console panic with [`TEST_PANIC`] right after the first frame drawn once
/// the store is open (the sources running), so tests can check that a panic restores the
/// terminal, and prints and logs nothing secret. Read once, as the loop starts.
pub const PANIC_AFTER_FIRST_FRAME: &str = "DOORWATCH_PANIC_AFTER_FIRST_FRAME";
/// The message of that panic.
pub const TEST_PANIC: &str =
    "test panic after the first frame (DOORWATCH_PANIC_AFTER_FIRST_FRAME=1)";

/// Why the console stopped; logged, since the terminal may be gone.
enum Stop {
    Quit,
    Signal(&'static str),
    TerminalClosed(String),
    DrawFailed(anyhow::Error),
    /// The store did not open; its opener reports why.
    NotOpened,
}

/// Run the console until the operator quits, a signal comes or the terminal goes.
/// Until `opened` brings the backend (the store is opening), the app shows what it
/// has (the glance, or "opening the store"); then `updates` brings committed events
/// and state, and the backend carries out searches, acks and exports. If `opened` is
/// dropped unsent, the store did not open: the console stops (its opener reports).
pub async fn run(
    mut guard: terminal::TerminalGuard,
    mut app: App,
    opened: oneshot::Receiver<Opened>,
) -> anyhow::Result<()> {
    let panic_after_first_frame =
        std::env::var_os(PANIC_AFTER_FIRST_FRAME).is_some_and(|v| v == "1");
    let (effects_tx, mut effects_rx) = mpsc::unbounded_channel::<Msg>();
    let mut input = TtyInput::open()?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Resizes come as a signal: crossterm only hears of them when keys are read.
    let mut resized =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut sources_gone = false;
    let mut opened = Some(opened);
    let mut backend: Option<Backend> = None;
    let mut updates: Option<mpsc::Receiver<Update>> = None;
    let stop = loop {
        if dirty && last_draw.elapsed() >= FRAME {
            if let Err(e) = draw(&mut guard.terminal, &app) {
                break if hung_up(&e) {
                    Stop::TerminalClosed(format!("the terminal hung up (drawing: {e:#})"))
                } else {
                    Stop::DrawFailed(e)
                };
            }
            last_draw = Instant::now();
            dirty = false;
            // The first frame of the running console: the store open, the sources
            // running (not the glance's or "opening the store" frames before).
            if panic_after_first_frame && backend.is_some() {
                panic!("{TEST_PANIC}");
            }
        }
        let redraw_in = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        let mut msgs = Vec::new();
        let signals = &mut guard.signals;
        tokio::select! {
            biased;
            _ = signals.hangup.recv() => break Stop::Signal("SIGHUP (the terminal hung up)"),
            _ = signals.terminate.recv() => break Stop::Signal("SIGTERM"),
            _ = signals.interrupt.recv() => break Stop::Signal("SIGINT"),
            ev = input.next() => match ev {
                Input::Event(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => msgs.push(Msg::Key(k)),
                Input::Event(TermEvent::Resize(..)) => dirty = true,
                Input::Event(_) => {}
                Input::Closed(why) => break Stop::TerminalClosed(why),
            },
            _ = resized.recv() => dirty = true,
            Some(msg) = effects_rx.recv() => msgs.push(msg),
            open = next_opened(&mut opened) => match open {
                Ok(o) => {
                    backend = Some(o.backend);
                    updates = Some(o.updates);
                    msgs.push(Msg::StoreOpen {
                        newest_first: o.newest_first,
                        snapshot: o.snapshot,
                        message: o.message,
                    });
                }
                Err(_) => break Stop::NotOpened,
            },
            update = next_update(&mut updates), if !sources_gone => match update {
                Some(Update::Events(events)) => msgs.push(Msg::Events(events)),
                Some(Update::Snapshot(s)) => msgs.push(Msg::Snapshot(s)),
                Some(Update::Notice(text)) => msgs.push(Msg::Notice(text)),
                None => sources_gone = true,
            },
            _ = tick.tick() => msgs.push(Msg::Tick(chrono::Utc::now())),
            _ = tokio::time::sleep(redraw_in) => {}
        }
        for msg in msgs {
            dirty = true;
            for effect in app::update(&mut app, msg) {
                match effect {
                    Effect::Quit => {}
                    Effect::Bell => ring_bell(),
                    other => match &backend {
                        Some(backend) => spawn_effect(other, backend, &app.operator, &effects_tx),
                        // The glance refuses these; nothing to carry them out yet anyway.
                        None => tracing::debug!("{other:?} before the store opened: dropped"),
                    },
                }
            }
            // Keep the search pages coming as the selection nears the end.
            if app.pane == app::Pane::Search
                && let Some(backend) = &backend
            {
                for effect in app::more_results(&mut app, 0) {
                    spawn_effect(effect, backend, &app.operator, &effects_tx);
                }
            }
        }
        if app.quit {
            break Stop::Quit;
        }
    };
    drop(guard);
    match stop {
        Stop::Quit => tracing::info!("console stopped: the operator quit"),
        Stop::Signal(signal) => tracing::info!("console stopped: {signal}"),
        Stop::TerminalClosed(why) => tracing::warn!("console stopped: {why}"),
        Stop::NotOpened => tracing::warn!("console stopped: the store did not open"),
        Stop::DrawFailed(e) => {
            tracing::warn!("console stopped: drawing failed: {e:#}");
            return Err(e.context("drawing the console"));
        }
    }
    Ok(())
}

/// The backend once it is there; pending for ever after (or before there is one).
async fn next_opened(
    opened: &mut Option<oneshot::Receiver<Opened>>,
) -> Result<Opened, oneshot::error::RecvError> {
    match opened {
        Some(rx) => {
            let result = rx.await;
            *opened = None;
            result
        }
        None => std::future::pending().await,
    }
}

/// The next update; pending until there is a source of them.
async fn next_update(updates: &mut Option<mpsc::Receiver<Update>>) -> Option<Update> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// EIO is what writing to a tty says once it hung up (the SSH session dropped first).
fn hung_up(e: &anyhow::Error) -> bool {
    const EIO: i32 = 5;
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(EIO))
    })
}

fn ring_bell() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
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

//! The console: a ratatui TUI over the live engine.
//!
//! `app` holds state and `update`; `render` and `panes/` draw it; `snapshot` copies
//! what is shown out of the engine; this module runs the loop that turns terminal
//! input, engine changes and source status into messages and carries out effects.

pub mod app;
pub mod backend;
mod frame_log;
pub mod keymap;
pub mod panes;
pub mod render;
pub mod snapshot;
pub mod terminal;
pub mod theme;

use crate::model::Event;
use app::{App, Effect, Msg};
use backend::{Backend, Update};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
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

/// Draw one frame now: the first one goes up before any slow start-up work.
pub fn draw_now(guard: &mut terminal::TerminalGuard, app: &App) -> anyhow::Result<()> {
    draw(&mut guard.terminal, app)
}

/// Run the console until the operator quits or a signal comes. `updates` brings
/// committed events and state; `backend` carries out searches, acks and exports.
pub async fn run(
    mut guard: terminal::TerminalGuard,
    mut app: App,
    backend: Backend,
    mut updates: mpsc::Receiver<Update>,
) -> anyhow::Result<()> {
    let (effects_tx, mut effects_rx) = mpsc::unbounded_channel::<Msg>();
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut sources_gone = false;
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
            _ = hangup.recv() => break,
            _ = terminate.recv() => break,
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => msgs.push(Msg::Key(k)),
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(msg) = effects_rx.recv() => msgs.push(msg),
            update = updates.recv(), if !sources_gone => match update {
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
                    other => spawn_effect(other, &backend, &app.operator, &effects_tx),
                }
            }
            // Keep the search pages coming as the selection nears the end.
            if app.pane == app::Pane::Search {
                for effect in app::more_results(&mut app, 0) {
                    spawn_effect(effect, &backend, &app.operator, &effects_tx);
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

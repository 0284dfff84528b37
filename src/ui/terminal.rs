//! Entering and leaving the terminal's raw/alternate mode, always symmetrically: on
//! drop, and on panic before the panic message prints.
//!
//! The terminal may be gone by then (an SSH session that dropped): every write to it
//! may fail with EIO, and none of those failures may panic or print, since printing
//! goes to the same dead terminal.

use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, Write, stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use tokio::signal::unix::{Signal, SignalKind, signal};

pub type Term = Terminal<CrosstermBackend<TtyOut>>;

/// The thread that drew the console while it is up: a panic there takes the console
/// down; a panic elsewhere (a source's task) must not pull the screen from under it.
static CONSOLE_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

fn console_thread() -> Option<ThreadId> {
    *CONSOLE_THREAD.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_console_thread(id: Option<ThreadId>) {
    *CONSOLE_THREAD.lock().unwrap_or_else(|e| e.into_inner()) = id;
}

/// Whether the console has the terminal (raw, alternate screen) right now.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Put the terminal back: main screen, cooked mode, cursor shown. Once: leaving the
/// alternate screen again would move the cursor back over what was printed since (the
/// panic message, when the guard drops after the panic hook restored).
pub fn restore() {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        stdout(),
        terminal::EndSynchronizedUpdate,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// Standard output for ratatui, mute once the guard has restored the terminal:
/// ratatui's own drop would show the cursor again and, on a dead terminal, `eprintln!`
/// the failure, which panics when stderr is that same dead terminal.
pub struct TtyOut {
    out: Stdout,
    released: Arc<AtomicBool>,
}

impl Write for TtyOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.released.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.released.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.out.flush()
    }
}

/// The signals that end the console. Listened to from `enter` on, so one that comes
/// while the store is still opening is not lost, and none kills the process with the
/// terminal left raw.
pub struct StopSignals {
    pub hangup: Signal,
    pub terminate: Signal,
    pub interrupt: Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Owns the terminal while the console runs. Create it inside the tokio runtime.
pub struct TerminalGuard {
    pub terminal: Term,
    pub signals: StopSignals,
    released: Arc<AtomicBool>,
}

impl TerminalGuard {
    pub fn enter() -> anyhow::Result<TerminalGuard> {
        let signals = StopSignals::listen()?;
        install_panic_hook();
        set_console_thread(Some(std::thread::current().id()));
        let released = Arc::new(AtomicBool::new(false));
        // From here on, whatever fails drops the guard, which restores.
        let out = TtyOut {
            out: stdout(),
            released: released.clone(),
        };
        let terminal = Terminal::new(CrosstermBackend::new(out))?;
        let guard = TerminalGuard {
            terminal,
            signals,
            released,
        };
        ENTERED.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        self.released.store(true, Ordering::Relaxed);
        set_console_thread(None);
    }
}

/// On the console's thread: restore the terminal, then log the panic and let the
/// standard hook print it (message and location only) on the restored screen.
/// Elsewhere while the console runs: log it only; the console goes on.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let console = console_thread();
            if console.is_some_and(|id| id != std::thread::current().id()) {
                tracing::error!("panic off the console's thread: {info}");
                return;
            }
            restore();
            tracing::error!("panic: {info}");
            previous(info);
        }));
    });
}

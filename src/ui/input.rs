//! Keys from the terminal, and the news that the terminal is gone.
//!
//! Not crossterm's `EventStream`: crossterm 0.29 re-reads a hung-up tty forever (its
//! read loop retries at once on `Ok(0)` and on EIO, crossterm-rs/crossterm#793), so a
//! console whose SSH session dropped would spin a core and never see an error. Here
//! tokio watches the tty for readiness and hangup, and crossterm is asked to parse only
//! when there are bytes to read; a hangup ends the input instead.

use crossterm::event::Event as TermEvent;
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// What the terminal said.
pub enum Input {
    Event(TermEvent),
    /// The terminal hung up or cannot be read: nobody is there to type.
    Closed(String),
}

/// The terminal's input. Create it inside the tokio runtime.
pub struct TtyInput {
    tty: AsyncFd<OwnedFd>,
    /// Asks the reader thread to parse what is waiting.
    drain: std::sync::mpsc::Sender<()>,
    drained: mpsc::UnboundedReceiver<std::io::Result<Vec<TermEvent>>>,
    /// A drain was asked for and its answer has not come yet (`next` was cancelled).
    in_flight: bool,
    pending: VecDeque<TermEvent>,
}

impl TtyInput {
    pub fn open() -> std::io::Result<TtyInput> {
        // SAFETY: an `OwnedFd` is open, and stays the same descriptor, as long as it lives.
        let tty = unsafe { AsyncFd::register_with_interest(tty_fd()?, Interest::READABLE)? };
        let (drain, requests) = std::sync::mpsc::channel::<()>();
        let (answers, drained) = mpsc::unbounded_channel();
        // A thread of its own: crossterm's read can block on a half-received escape
        // sequence, which must not stall the loop (or hold up the runtime's shutdown).
        std::thread::Builder::new()
            .name("doorwatch-input".into())
            .spawn(move || {
                while requests.recv().is_ok() {
                    if answers.send(parse_waiting()).is_err() {
                        break;
                    }
                }
            })?;
        Ok(TtyInput {
            tty,
            drain,
            drained,
            in_flight: false,
            pending: VecDeque::new(),
        })
    }

    /// The next terminal event. Cancel-safe: nothing read is lost if another branch
    /// of a `select!` wins.
    pub async fn next(&mut self) -> Input {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Input::Event(event);
            }
            if !self.in_flight {
                let mut ready = match self.tty.readable().await {
                    Ok(ready) => ready,
                    Err(e) => return Input::Closed(format!("watching the terminal failed: {e}")),
                };
                if ready.ready().is_read_closed() {
                    return Input::Closed("the terminal hung up".into());
                }
                // Cleared before the drain: bytes that arrive after it raise a new edge.
                ready.clear_ready();
                if self.drain.send(()).is_err() {
                    return Input::Closed("the input thread stopped".into());
                }
                self.in_flight = true;
            }
            let answer = self.drained.recv().await;
            self.in_flight = false;
            match answer {
                Some(Ok(events)) => self.pending.extend(events),
                Some(Err(e)) => return Input::Closed(format!("reading the terminal failed: {e}")),
                None => return Input::Closed("the input thread stopped".into()),
            }
        }
    }
}

/// The tty crossterm reads: standard input if it is one, else `/dev/tty`.
fn tty_fd() -> std::io::Result<OwnedFd> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return stdin.as_fd().try_clone_to_owned();
    }
    let tty = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    Ok(tty.into())
}

/// Every event crossterm can parse from what is waiting, without waiting for more.
fn parse_waiting() -> std::io::Result<Vec<TermEvent>> {
    let mut events = Vec::new();
    while crossterm::event::poll(Duration::ZERO)? {
        events.push(crossterm::event::read()?);
    }
    Ok(events)
}

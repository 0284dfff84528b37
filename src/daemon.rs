//! Running the configured sources: the engine thread, one task per `[[source]]`, and
//! the webhook receiver. `doorwatch daemon` runs this headless; the console runs the
//! same thing in-process.

use crate::config::Config;
use crate::engine::Engine;
use crate::model::Event;
use crate::sources::runtime::{self, EngineThread, LinkState, Sink, SourceCtx, StatusBoard};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long sources get to finish their current batch on shutdown before they are
/// abandoned (their cursor then simply stays where the last commit put it).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything running live.
pub struct Live {
    pub board: StatusBoard,
    pub sink: Sink,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    engine: EngineThread,
}

/// One HTTP client for every REST source: rustls, sane timeouts, our user agent.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("doorwatch/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?)
}

impl Live {
    /// Start the engine thread, every configured source and the webhook receiver.
    /// Must run inside a tokio runtime.
    pub fn start(
        config: &Config,
        engine: Engine,
        on_commit: impl Fn(&Engine, &[Event]) + Send + 'static,
    ) -> anyhow::Result<Live> {
        let board = StatusBoard::new();
        let http = http_client()?;
        let cancel = CancellationToken::new();
        // Read every cursor before the engine moves to its thread.
        let mut starts = Vec::new();
        for source in &config.sources {
            let source = source.get_ref();
            let cursor = engine.store().cursor(source.name())?;
            let credential = engine.store().credential(source.name())?;
            starts.push((source.clone(), cursor, credential));
        }
        let (sink, engine) = runtime::spawn_engine(engine, on_commit);
        let mut tasks = Vec::new();
        for (source, cursor, credential) in starts {
            let status = board.register(source.name(), source.vendor());
            tracing::info!(
                source = source.name(),
                vendor = %source.vendor(),
                resume = cursor.is_some(),
                "starting source"
            );
            tasks.push(crate::sources::spawn(SourceCtx {
                config: source,
                sink: sink.clone(),
                status,
                cursor,
                credential,
                cancel: cancel.child_token(),
                http: http.clone(),
            }));
        }
        if config.webhooks.is_some() {
            let (config, sink, board, cancel) =
                (config.clone(), sink.clone(), board.clone(), cancel.child_token());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::sources::webhook::serve(&config, sink, board, cancel).await
                {
                    tracing::error!("webhook receiver stopped: {e:#}");
                    eprintln!("doorwatch: webhook receiver: {e:#}");
                }
            }));
        }
        Ok(Live {
            board,
            sink,
            cancel,
            tasks,
            engine,
        })
    }

    /// The engine, for readers (the console).
    pub fn engine(&self) -> runtime::SharedEngine {
        self.engine.engine()
    }

    /// Wakes when the engine's state or alarms changed.
    pub fn engine_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.engine.changes()
    }

    /// Stop every source, wait for in-flight commits, and hand the engine back.
    pub async fn shutdown(self) -> anyhow::Result<Engine> {
        self.cancel.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        drop(self.sink);
        let thread = self.engine;
        tokio::task::spawn_blocking(move || thread.join()).await?
    }
}

/// Wait for SIGTERM, SIGINT (or Ctrl-C), or `exit_after`.
pub async fn stop_signal(exit_after: Option<Duration>) -> &'static str {
    let after = async {
        match exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = after => "--exit-after elapsed",
            _ = term => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = after => "--exit-after elapsed",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
}

/// One line per source for the end of a headless run.
pub fn status_lines(board: &StatusBoard) -> Vec<String> {
    lines_for(board.all())
}

/// The status lines after a shutdown: counts as they ended, but each link state as it
/// was just before the stop (every source is "stopped" afterwards, which says nothing).
pub fn final_status_lines(
    before_stop: Vec<crate::sources::runtime::SourceStatus>,
    board: &StatusBoard,
) -> Vec<String> {
    let mut after = board.all();
    for s in &mut after {
        if let Some(b) = before_stop.iter().find(|b| b.name == s.name) {
            if s.state == LinkState::Stopped {
                s.state = b.state;
                s.reason = b.reason.clone();
            }
        }
    }
    lines_for(after)
}

fn lines_for(statuses: Vec<crate::sources::runtime::SourceStatus>) -> Vec<String> {
    statuses
        .into_iter()
        .map(|s| {
            let last = s
                .last_event_at
                .map(|t| crate::model::format_time(&t))
                .unwrap_or_else(|| "-".into());
            let reason = match (&s.state, &s.reason) {
                (LinkState::Failed | LinkState::BackingOff, Some(r)) => format!(" ({r})"),
                _ => String::new(),
            };
            let webhooks = if s.webhooks_accepted + s.webhooks_rejected > 0 {
                format!(
                    "; webhooks accepted {}, rejected {}",
                    s.webhooks_accepted, s.webhooks_rejected
                )
            } else {
                String::new()
            };
            format!(
                "{} [{}]: {}{reason}; stored {}, duplicates {}, quarantined {}, last event {last}{webhooks}",
                s.name,
                s.vendor,
                s.state.label(),
                s.stored,
                s.duplicates,
                s.quarantined
            )
        })
        .collect()
}

/// `doorwatch daemon`: run every source headless until a signal or `exit_after`.
pub async fn run(
    config: &Config,
    engine: Engine,
    exit_after: Option<Duration>,
) -> anyhow::Result<()> {
    let live = Live::start(config, engine, |_, _| {})?;
    println!(
        "doorwatch daemon: {} source(s){}",
        config.sources.len(),
        config
            .webhooks
            .as_ref()
            .map(|w| format!(", webhooks on {}", w.listen))
            .unwrap_or_default()
    );
    // Failures are worth a line on stderr as they happen (a rejected token should not
    // wait for the end of the run to be seen); everything else goes to the log.
    let board = live.board.clone();
    let mut changes = board.subscribe();
    let watcher = tokio::spawn(async move {
        let mut reported = std::collections::HashSet::new();
        while changes.changed().await.is_ok() {
            for s in board.all() {
                if s.state == LinkState::Failed && reported.insert(s.name.clone()) {
                    eprintln!(
                        "doorwatch: source {} failed: {}",
                        s.name,
                        s.reason.as_deref().unwrap_or("unknown reason")
                    );
                }
            }
        }
    });
    let why = stop_signal(exit_after).await;
    tracing::info!("daemon stopping: {why}");
    let result = stop_and_report(live).await;
    watcher.abort();
    result
}

/// Stop every source, close the store (checkpointed and flushed), and print one
/// status line per source as it was at the stop.
pub async fn stop_and_report(live: Live) -> anyhow::Result<()> {
    let board = live.board.clone();
    let before_stop = board.all();
    let engine = live.shutdown().await?;
    engine.close()?;
    for line in final_status_lines(before_stop, &board) {
        println!("{line}");
    }
    Ok(())
}

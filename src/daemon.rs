//! Running the configured sources: the engine thread, one task per `[[source]]`, and
//! the webhook receiver. `doorwatch daemon` runs this headless; the console runs the
//! same thing in-process.

use crate::config::{Config, SourceConfig};
use crate::engine::Engine;
use crate::model::Event;
use crate::remote::{Served, Server};
use crate::sources::runtime::{self, EngineThread, LinkState, Sink, SourceCtx, StatusBoard};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
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
    http: reqwest::Client,
    config: Config,
    sources: BTreeMap<String, RunningSource>,
    webhooks: Option<JoinHandle<()>>,
    webhooks_cancel: CancellationToken,
    engine: EngineThread,
    events: broadcast::Sender<Arc<Vec<Event>>>,
    server: Option<Server>,
    /// Why the webhook receiver stopped, if it did: the daemon echoes it on stderr; a
    /// console must not print over its screen (the log and the webhook-only sources'
    /// status carry it there).
    webhook_failure: tokio::sync::watch::Sender<Option<String>>,
}

/// One source's task and how to stop it alone (on a config reload).
struct RunningSource {
    config: SourceConfig,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Committed events waiting for attached consoles; a console further behind than this
/// is told how many it missed (they are in the store).
const EVENT_HUB: usize = 1_024;

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
        let (events, _) = broadcast::channel(EVENT_HUB);
        let hub = events.clone();
        let (sink, engine) = runtime::spawn_engine(engine, move |engine, stored| {
            on_commit(engine, stored);
            if !stored.is_empty() {
                // No subscriber is fine: nobody is attached.
                let _ = hub.send(Arc::new(stored.to_vec()));
            }
        });
        let mut live = Live {
            board: StatusBoard::new(),
            sink,
            cancel: CancellationToken::new(),
            http: http_client()?,
            config: Config::default(),
            sources: BTreeMap::new(),
            webhooks: None,
            webhooks_cancel: CancellationToken::new(),
            engine,
            events,
            server: None,
            webhook_failure: tokio::sync::watch::Sender::new(None),
        };
        live.apply(config.clone());
        Ok(live)
    }

    /// Start what `config` has and is not running; `reload` stops what it lost first.
    fn apply(&mut self, config: Config) {
        for source in &config.sources {
            let source = source.get_ref();
            if self.sources.contains_key(source.name()) {
                continue;
            }
            let (cursor, credential) = {
                let shared = self.engine.engine();
                let engine = runtime::lock_engine(&shared);
                let store = engine.store();
                (store.cursor(source.name()), store.credential(source.name()))
            };
            let (cursor, credential) = match (cursor, credential) {
                (Ok(c), Ok(k)) => (c, k),
                (Err(e), _) | (_, Err(e)) => {
                    let status = self.board.register(source.name(), source.vendor());
                    status.failed(format!("cannot read its cursor from the store: {e}"));
                    continue;
                }
            };
            let status = self.board.register(source.name(), source.vendor());
            tracing::info!(
                source = source.name(),
                vendor = %source.vendor(),
                resume = cursor.is_some(),
                "starting source"
            );
            let cancel = self.cancel.child_token();
            let task = crate::sources::spawn(SourceCtx {
                config: source.clone(),
                sink: self.sink.clone(),
                status,
                cursor,
                credential,
                cancel: cancel.clone(),
                http: self.http.clone(),
            });
            self.sources.insert(
                source.name().to_string(),
                RunningSource {
                    config: source.clone(),
                    cancel,
                    task,
                },
            );
        }
        if config.webhooks.is_some() && self.webhooks.is_none() {
            let (config, sink, board) = (config.clone(), self.sink.clone(), self.board.clone());
            self.webhooks_cancel = self.cancel.child_token();
            let cancel = self.webhooks_cancel.clone();
            let failure = self.webhook_failure.clone();
            self.webhooks = Some(tokio::spawn(async move {
                if let Err(e) = crate::sources::webhook::serve(&config, sink, board, cancel).await {
                    tracing::error!("webhook receiver stopped: {e:#}");
                    failure.send_replace(Some(format!("{e:#}")));
                }
            }));
        }
        self.config = config;
    }

    /// Take a new config without a restart: sources that were removed or changed stop
    /// (their cursors stay where their last commit put them), new and changed ones
    /// start from their cursors, untouched ones run on undisturbed. Returns one line
    /// per change.
    pub async fn reload(&mut self, config: Config) -> Vec<String> {
        let mut said = Vec::new();
        let wanted: BTreeMap<&str, &SourceConfig> = config
            .sources
            .iter()
            .map(|s| (s.get_ref().name(), s.get_ref()))
            .collect();
        let stale: Vec<String> = self
            .sources
            .iter()
            .filter(|(name, r)| wanted.get(name.as_str()) != Some(&&r.config))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &stale {
            if let Some(r) = self.sources.remove(name) {
                r.cancel.cancel();
                stop_task(r.task).await;
                self.board.remove(name);
                said.push(if wanted.contains_key(name.as_str()) {
                    format!("source {name} changed: restarted")
                } else {
                    format!("source {name} removed")
                });
            }
        }
        for name in wanted.keys() {
            if !self.sources.contains_key(*name) && !stale.iter().any(|s| s == name) {
                said.push(format!("source {name} added"));
            }
        }
        // The receiver routes by the configured sources: any change restarts it.
        let webhooks_changed = config.webhooks != self.config.webhooks
            || (config.webhooks.is_some() && config.sources != self.config.sources);
        if webhooks_changed {
            if let Some(task) = self.webhooks.take() {
                self.webhooks_cancel.cancel();
                stop_task(task).await;
            }
            if config.webhooks.is_some() {
                said.push("webhook receiver restarted".into());
            }
        }
        self.apply(config);
        said
    }

    /// Serve consoles on `<data_dir>/doorwatch.sock` (this process owns the store),
    /// open to the config's `[daemon] group`.
    pub fn serve(&mut self, data_dir: &std::path::Path) -> anyhow::Result<()> {
        let group = self.config.daemon.as_ref().and_then(|d| d.group.clone());
        let served = Served {
            engine: self.engine(),
            sink: self.sink.clone(),
            board: self.board.clone(),
            changes: self.engine_changes(),
            events: self.events.clone(),
        };
        self.server = Some(Server::start(data_dir, group.as_deref(), served)?);
        Ok(())
    }

    /// The engine, for readers (the console).
    pub fn engine(&self) -> runtime::SharedEngine {
        self.engine.engine()
    }

    /// Wakes when the engine's state or alarms changed.
    pub fn engine_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.engine.changes()
    }

    /// Stop serving, stop every source, wait for in-flight commits, and hand the
    /// engine back.
    pub async fn shutdown(mut self) -> anyhow::Result<Engine> {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.cancel.cancel();
        let tasks = std::mem::take(&mut self.sources)
            .into_values()
            .map(|r| r.task)
            .chain(self.webhooks.take());
        for task in tasks {
            stop_task(task).await;
        }
        drop(self.sink);
        let thread = self.engine;
        tokio::task::spawn_blocking(move || thread.join()).await?
    }
}

/// Give a cancelled task its grace to finish the batch in hand, then abandon it.
async fn stop_task(task: JoinHandle<()>) {
    let abort = task.abort_handle();
    if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
        abort.abort();
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
        if let Some(b) = before_stop.iter().find(|b| b.name == s.name)
            && s.state == LinkState::Stopped
        {
            s.state = b.state;
            s.reason = b.reason.clone();
        }
    }
    lines_for(after)
}

fn lines_for(statuses: Vec<crate::sources::runtime::SourceStatus>) -> Vec<String> {
    let now = chrono::Utc::now();
    statuses.iter().map(|s| status_line(s, now)).collect()
}

/// One source's status as a line: `hq-kisi [kisi]: live; quiet for 45s; stored 120,
/// duplicates 3, quarantined 1, last event ...`.
pub fn status_line(
    s: &crate::sources::runtime::SourceStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let last = s
        .last_event_at
        .map(|t| crate::model::format_time(&t))
        .unwrap_or_else(|| "-".into());
    let reason = match (&s.state, &s.reason) {
        (LinkState::Failed | LinkState::BackingOff, Some(r)) => format!(" ({r})"),
        _ => String::new(),
    };
    let notes: String = s.notes(now).iter().map(|n| format!("; {n}")).collect();
    let webhooks = if s.webhooks_accepted + s.webhooks_rejected > 0 {
        format!(
            "; webhooks accepted {}, rejected {}",
            s.webhooks_accepted, s.webhooks_rejected
        )
    } else {
        String::new()
    };
    format!(
        "{} [{}]: {}{reason}{notes}; stored {}, duplicates {}, quarantined {}, last event {last}{webhooks}",
        s.name,
        s.vendor,
        s.state.label(),
        s.stored,
        s.duplicates,
        s.quarantined
    )
}

/// Where `doorwatch daemon` finds its config and store.
pub struct DaemonOptions<'a> {
    pub data_dir: &'a std::path::Path,
    /// Re-read on SIGHUP; `None` when it runs without a config file.
    pub config_path: Option<&'a std::path::Path>,
    pub exit_after: Option<Duration>,
}

/// `doorwatch daemon`: run every source headless and serve consoles on the socket
/// until SIGTERM/SIGINT or `exit_after`; SIGHUP re-reads the config.
pub async fn run(config: &Config, engine: Engine, opts: DaemonOptions<'_>) -> anyhow::Result<()> {
    let mut live = Live::start(config, engine, |_, _| {})?;
    if let Err(e) = live.serve(opts.data_dir) {
        let _ = stop_and_report(live, opts.data_dir).await;
        return Err(e);
    }
    println!(
        "doorwatch daemon: {} source(s){}; consoles attach at {}",
        config.sources.len(),
        config
            .webhooks
            .as_ref()
            .map(|w| format!(", webhooks on {}", w.listen))
            .unwrap_or_default(),
        crate::remote::socket_path(opts.data_dir).display()
    );
    // Failures are worth a line on stderr as they happen (a rejected token should not
    // wait for the end of the run to be seen); everything else goes to the log.
    let board = live.board.clone();
    let mut changes = board.subscribe();
    let mut webhook_failure = live.webhook_failure.subscribe();
    let watcher = tokio::spawn(async move {
        let mut reported = std::collections::HashSet::new();
        // Look before the first wait: a source may have failed between its start and
        // this task's (a revoked token answers within milliseconds).
        loop {
            for s in board.all() {
                if s.state == LinkState::Failed && reported.insert(s.name.clone()) {
                    eprintln!(
                        "doorwatch: source {} failed: {}",
                        s.name,
                        s.reason.as_deref().unwrap_or("unknown reason")
                    );
                }
            }
            if let Some(why) = webhook_failure.borrow_and_update().clone()
                && reported.insert(format!("webhooks: {why}"))
            {
                eprintln!("doorwatch: webhook receiver: {why}");
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                changed = webhook_failure.changed() => if changed.is_err() { break },
            }
        }
    });
    let stop = stop_signal(opts.exit_after);
    tokio::pin!(stop);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let why = loop {
        tokio::select! {
            why = &mut stop => break why,
            _ = hangup.recv() => reload(&mut live, opts.config_path).await,
        }
    };
    tracing::info!("daemon stopping: {why}");
    let result = stop_and_report(live, opts.data_dir).await;
    watcher.abort();
    result
}

/// SIGHUP: re-read the config; a broken file keeps what runs and says why.
async fn reload(live: &mut Live, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        eprintln!("doorwatch: SIGHUP: no config file to re-read");
        return;
    };
    match Config::load(path) {
        Ok(config) => {
            let said = live.reload(config).await;
            tracing::info!("config reloaded: {}", said.join("; "));
            if said.is_empty() {
                println!("doorwatch: config reloaded, nothing changed");
            }
            for line in said {
                println!("doorwatch: config reloaded: {line}");
            }
        }
        Err(e) => {
            tracing::warn!("config reload failed: {e}");
            eprintln!("doorwatch: config reload failed, keeping the running config: {e}");
        }
    }
}

/// Stop every source, write the glance for the next console (`ui::glance`), close
/// the store (checkpointed and flushed), and print one status line per source as it
/// was at the stop.
pub async fn stop_and_report(live: Live, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let board = live.board.clone();
    let before_stop = board.all();
    let engine = live.shutdown().await?;
    crate::ui::glance::save_on_close(data_dir, &engine);
    engine.close()?;
    // Not println!: it panics when the reader has gone (`doorwatch | head`).
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for line in final_status_lines(before_stop, &board) {
        let _ = writeln!(out, "{line}");
    }
    Ok(())
}

//! Where a console's data comes from: the engine in this process (it owns the
//! store), or the owner over the socket (an attached console). The loop sees the
//! same [`Update`]s and effect results either way.

use crate::cli::export::{self, Format};
use crate::model::Event;
use crate::remote::Client;
use crate::remote::protocol::Reply;
use crate::sources::runtime::{AckRequest, SharedEngine, Sink, StatusBoard, lock_engine};
use crate::store::EventKey;
use crate::ui::snapshot::Snapshot;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What changes on screen without the operator asking.
#[derive(Debug, Clone)]
pub enum Update {
    /// Newly committed events, oldest first.
    Events(Vec<Event>),
    Snapshot(Box<Snapshot>),
    /// Something the operator should read in the footer (lost the daemon, back).
    Notice(String),
}

/// A search page as the app takes it.
pub type SearchResult = Result<(Vec<(EventKey, Event)>, Option<EventKey>), String>;

#[derive(Clone)]
pub enum Backend {
    /// This process owns the store.
    Local {
        engine: SharedEngine,
        sink: Sink,
        data_dir: PathBuf,
    },
    /// Another process owns it; every request is a short connection to its socket.
    Remote { data_dir: PathBuf },
}

impl Backend {
    fn data_dir(&self) -> &Path {
        match self {
            Backend::Local { data_dir, .. } | Backend::Remote { data_dir } => data_dir,
        }
    }

    pub async fn search(
        &self,
        query: String,
        before: Option<EventKey>,
        limit: usize,
    ) -> SearchResult {
        let this = self.clone();
        blocking(move || match &this {
            Backend::Local { engine, .. } => {
                let q = crate::search::Query::parse(&query, chrono::Utc::now())
                    .map_err(|e| e.to_string())?;
                let engine = lock_engine(engine);
                crate::search::execute(engine.store(), &q, limit, before)
                    .map(|page| (page.events, page.next))
                    .map_err(|e| e.to_string())
            }
            Backend::Remote { data_dir } => {
                let mut client = attach(data_dir)?;
                let before = before.map(|k| k.to_string());
                let page = client
                    .search_page(&query, limit, before.as_deref())
                    .map_err(|e| format!("{e:#}"))?;
                let keys = page.keys.iter().map(|k| k.parse::<EventKey>());
                let events = keys
                    .zip(page.events)
                    .map(|(k, e)| k.map(|k| (k, e)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| "the daemon sent a bad cursor".to_string())?;
                let next = page.next.and_then(|n| n.parse().ok());
                Ok((events, next))
            }
        })
        .await
    }

    /// Acknowledge; a line for the footer either way.
    pub async fn ack(
        &self,
        alarm: String,
        operator: String,
        note: String,
    ) -> Result<String, String> {
        match self {
            Backend::Local { sink, .. } => {
                let request = AckRequest {
                    alarm,
                    operator: operator.clone(),
                    note,
                };
                match sink.ack(request).await {
                    Ok(Ok(Ok(a))) => Ok(format!("{} acknowledged by {operator}", a.id)),
                    Ok(Ok(Err(e))) => Err(e.to_string()),
                    Ok(Err(e)) => Err(format!("ack failed: {e}")),
                    Err(e) => Err(format!("ack failed: {e:#}")),
                }
            }
            Backend::Remote { data_dir } => {
                let data_dir = data_dir.clone();
                blocking(move || {
                    let mut client = attach(&data_dir)?;
                    match client.ack(&alarm, &note, &operator) {
                        Ok(Ok(a)) => Ok(format!("{} acknowledged by {operator}", a.id)),
                        Ok(Err((_, message))) => Err(message),
                        Err(e) => Err(format!("ack failed: {e:#}")),
                    }
                })
                .await
            }
        }
    }

    /// Export the results of `query` into `<data dir>/exports/`.
    pub async fn export(&self, query: String, jsonl: bool) -> Result<(PathBuf, usize), String> {
        let this = self.clone();
        blocking(move || {
            let (format, ext) = if jsonl {
                (Format::Jsonl, "jsonl")
            } else {
                (Format::Csv, "csv")
            };
            let name = format!(
                "doorwatch-{}.{ext}",
                chrono::Utc::now().format("%Y%m%d-%H%M%S")
            );
            let dir = this.data_dir().join("exports");
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(name);
            let n = match &this {
                Backend::Local { engine, .. } => {
                    let q = crate::search::Query::parse(&query, chrono::Utc::now())
                        .map_err(|e| e.to_string())?;
                    let engine = lock_engine(engine);
                    export::to_file(engine.store(), &q, format, &path)
                }
                Backend::Remote { data_dir } => {
                    let mut client = attach(data_dir)?;
                    export::to_file_with(&path, |out| {
                        export::write_from(format, out, |each| {
                            client
                                .search_all(&query, usize::MAX, None, each)
                                .map(|_| ())
                        })
                    })
                }
            }
            .map_err(|e| format!("{e:#}"))?;
            Ok((path, n))
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("failed: {e}")))
}

fn attach(data_dir: &Path) -> Result<Client, String> {
    match Client::connect(data_dir) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err("the doorwatch daemon is not running (reconnecting…)".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Updates from the engine in this process: committed events as they come, and a
/// fresh snapshot whenever the engine or a source's status changed.
pub fn local_updates(
    engine: SharedEngine,
    board: StatusBoard,
    mut engine_changes: watch::Receiver<u64>,
    mut feed: mpsc::Receiver<Vec<Event>>,
) -> mpsc::Receiver<Update> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut board_changes = board.subscribe();
        let snapshot = |engine: &SharedEngine, board: &StatusBoard| {
            let engine = lock_engine(engine);
            Update::Snapshot(Box::new(Snapshot::take(
                &engine,
                board.all(),
                chrono::Utc::now(),
            )))
        };
        if tx.send(snapshot(&engine, &board)).await.is_err() {
            return;
        }
        let mut batch = Vec::new();
        loop {
            let update = tokio::select! {
                n = feed.recv_many(&mut batch, 64) => {
                    if n == 0 {
                        return;
                    }
                    Update::Events(batch.drain(..).flatten().collect())
                }
                Ok(()) = engine_changes.changed() => snapshot(&engine, &board),
                Ok(()) = board_changes.changed() => snapshot(&engine, &board),
                _ = tx.closed() => return,
            };
            if tx.send(update).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Ids of recently shown events: after a reconnect, what the daemon committed
/// meanwhile is shown once, not twice.
struct Recent {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    const KEEP: usize = 5_000;

    fn new() -> Recent {
        Recent {
            ids: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True the first time an id is seen.
    fn first_sight(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > Self::KEEP
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// Updates from the owner's socket, on a thread of their own. When the owner goes
/// away, say so and keep trying; once back, show what was committed meanwhile and
/// carry on. Ends when the receiver is dropped.
pub fn remote_updates(data_dir: PathBuf, seen: Vec<String>) -> mpsc::Receiver<Update> {
    let (tx, rx) = mpsc::channel(256);
    std::thread::Builder::new()
        .name("doorwatch-attach".into())
        .spawn(move || {
            let mut recent = Recent::new();
            for id in seen {
                recent.first_sight(&id);
            }
            let mut lost = false;
            loop {
                let attached = Client::connect(&data_dir)
                    .map_err(|e| e.to_string())
                    .and_then(|c| c.ok_or_else(|| "no daemon answers".to_string()));
                match attached {
                    Ok(client) => {
                        if lost {
                            let note =
                                format!("reconnected to the doorwatch daemon (pid {})", client.pid);
                            tracing::info!("{note}");
                            if tx.blocking_send(Update::Notice(note)).is_err() {
                                return;
                            }
                        }
                        let catch_up_from = lost.then_some(data_dir.as_path());
                        lost = false;
                        if !follow(client, catch_up_from, &mut recent, &tx) {
                            return;
                        }
                    }
                    Err(e) => tracing::debug!("attach: {e}"),
                }
                if !lost {
                    lost = true;
                    let note = "lost the doorwatch daemon: reconnecting…".to_string();
                    tracing::warn!("{note}");
                    if tx.blocking_send(Update::Notice(note)).is_err() {
                        return;
                    }
                }
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .expect("spawn the attach thread");
    rx
}

/// Pass the owner's pushes on until it goes away (true) or nobody listens (false).
/// After a reconnect (`catch_up_from`), first show what was committed meanwhile:
/// subscribed before looking, so nothing falls between the two.
fn follow(
    client: Client,
    catch_up_from: Option<&Path>,
    recent: &mut Recent,
    tx: &mpsc::Sender<Update>,
) -> bool {
    let Ok(mut pushes) = client.subscribe() else {
        return true;
    };
    if let Some(data_dir) = catch_up_from
        && !catch_up(data_dir, recent, tx)
    {
        return false;
    }
    loop {
        let update = match pushes.next_push() {
            Ok(Some(Reply::Live { events })) => {
                let fresh: Vec<Event> = events
                    .into_iter()
                    .filter(|e| recent.first_sight(&e.id))
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                Update::Events(fresh)
            }
            Ok(Some(Reply::Snapshot { snapshot })) => Update::Snapshot(snapshot),
            Ok(Some(Reply::Lagged { missed })) => Update::Notice(format!(
                "{missed} live events skipped while this console fell behind (search shows them)"
            )),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return true,
        };
        if tx.blocking_send(update).is_err() {
            return false;
        }
    }
}

/// After a reconnect: the newest events not shown yet, oldest first.
fn catch_up(data_dir: &Path, recent: &mut Recent, tx: &mpsc::Sender<Update>) -> bool {
    let Ok(mut client) = attach(data_dir) else {
        return true;
    };
    let Ok(page) = client.search_page("", 1_000, None) else {
        return true;
    };
    let mut missed: Vec<Event> = page
        .events
        .into_iter()
        .filter(|e| recent.first_sight(&e.id))
        .collect();
    missed.reverse();
    missed.is_empty() || tx.blocking_send(Update::Events(missed)).is_ok()
}

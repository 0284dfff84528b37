//! The store owner's side of the socket: one task per attached client.

use super::lines::{read_line, write_reply};
use super::protocol::{self, AckRefusal, ErrorCode, Reply, Request};
use crate::model::Event;
use crate::sources::runtime::{AckRequest, SharedEngine, Sink, StatusBoard, lock_engine};
use crate::store::EventKey;
use crate::ui::snapshot::Snapshot;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A client must say hello within this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Attached consoles get at most this many state snapshots per second.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);

/// What the owner serves from.
#[derive(Clone)]
pub struct Served {
    pub engine: SharedEngine,
    pub sink: Sink,
    pub board: StatusBoard,
    pub changes: watch::Receiver<u64>,
    pub events: broadcast::Sender<Arc<Vec<Event>>>,
}

/// The socket being served; `stop` removes it.
pub struct Server {
    path: PathBuf,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Bind `<data_dir>/doorwatch.sock` (mode 0660, group `group` if given) and serve.
    /// The caller owns the store, so any socket already there is a dead owner's.
    pub fn start(data_dir: &Path, group: Option<&str>, served: Served) -> anyhow::Result<Server> {
        let path = data_dir.join(protocol::SOCKET_NAME);
        let listener = bind(&path, group)?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let (served, stop) = (served.clone(), stop.clone());
                            tokio::spawn(async move {
                                if let Err(e) = serve_client(stream, served, stop).await {
                                    tracing::debug!("console client: {e}");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!("socket accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                }
            }
        });
        tracing::info!(socket = %path.display(), "serving consoles");
        Ok(Server { path, cancel, task })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop accepting, drop every client, remove the socket.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bind under a temporary name, set mode and group, then rename into place, so the
/// socket is never reachable with looser permissions than intended.
fn bind(path: &Path, group: Option<&str>) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".doorwatch.sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot create the console socket {}: {e}", tmp.display()))?;
    let placed = (|| -> anyhow::Result<()> {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
        if let Some(group) = group {
            let gid = super::group_id(group).ok_or_else(|| {
                anyhow::anyhow!(
                    "group `{group}` does not exist ([daemon] group in the config): create it or \
                     name an existing group"
                )
            })?;
            std::os::unix::fs::chown(&tmp, None, Some(gid))
                .map_err(|e| anyhow::anyhow!("cannot give the socket to group `{group}`: {e}"))?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(listener)?)
}

async fn serve_client(
    stream: UnixStream,
    served: Served,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_line(&mut read, &mut line)).await;
    let first = match hello {
        Ok(Ok(true)) => serde_json::from_slice::<Request>(&line).ok(),
        _ => return Ok(()),
    };
    match first {
        Some(Request::Hello { version, client }) if version == protocol::VERSION => {
            tracing::debug!(%client, "console attached");
            let hello = Reply::Hello {
                version: protocol::VERSION,
                server: protocol::software(),
                pid: std::process::id(),
            };
            write_reply(&mut write, &hello).await?;
        }
        Some(Request::Hello { version, .. }) => {
            let message = protocol::version_mismatch(version);
            return write_reply(&mut write, &error(ErrorCode::Version, message)).await;
        }
        _ => {
            let message = format!(
                "expected a hello line first, e.g. {{\"type\":\"hello\",\"version\":{},\"client\":\"...\"}}",
                protocol::VERSION
            );
            return write_reply(&mut write, &error(ErrorCode::BadRequest, message)).await;
        }
    }
    loop {
        let got = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            got = read_line(&mut read, &mut line) => got,
        };
        match got {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                let reply = error(ErrorCode::BadRequest, e.to_string());
                return write_reply(&mut write, &reply).await;
            }
        }
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                let reply = error(ErrorCode::BadRequest, format!("not a request: {e}"));
                write_reply(&mut write, &reply).await?;
                continue;
            }
        };
        if let Request::Subscribe = request {
            return push_changes(read, write, served, stop).await;
        }
        let reply = answer(request, &served).await;
        write_reply(&mut write, &reply).await?;
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> Reply {
    Reply::Error {
        code,
        message: message.into(),
    }
}

/// Carry out one request.
async fn answer(request: Request, served: &Served) -> Reply {
    let engine = served.engine.clone();
    let blocking = |f: Box<dyn FnOnce(&SharedEngine) -> Reply + Send>| async move {
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .unwrap_or_else(|e| error(ErrorCode::Failed, format!("request failed: {e}")))
    };
    match request {
        Request::Hello { .. } => error(ErrorCode::BadRequest, "hello was already said"),
        Request::Subscribe => error(ErrorCode::BadRequest, "subscribe is handled apart"),
        Request::Search {
            query,
            limit,
            before,
        } => {
            blocking(Box::new(move |engine| {
                search(engine, &query, limit, before.as_deref())
            }))
            .await
        }
        Request::Alarms { all } => {
            blocking(Box::new(move |engine| Reply::Alarms {
                alarms: lock_engine(engine).alarm_list(all),
            }))
            .await
        }
        Request::Quarantine => {
            blocking(Box::new(|engine| {
                match lock_engine(engine).store().quarantined() {
                    Ok(records) => Reply::Quarantine { records },
                    Err(e) => error(ErrorCode::Failed, format!("{e:#}")),
                }
            }))
            .await
        }
        Request::Snapshot => {
            let board = served.board.clone();
            blocking(Box::new(move |engine| Reply::Snapshot {
                snapshot: Box::new(take_snapshot(engine, &board)),
            }))
            .await
        }
        Request::Ack {
            alarm,
            note,
            operator,
        } => ack(&served.sink, alarm, note, operator).await,
        Request::Import {
            vendor,
            source,
            items,
            rejected,
        } => {
            let rejected = rejected
                .into_iter()
                .map(|r| crate::sources::Rejected {
                    raw: r.raw,
                    error: r.error,
                })
                .collect();
            let mut totals = (0, 0, 0);
            for batch in crate::cli::import::batches(vendor, &source, items, rejected) {
                match served.sink.commit_durable(batch).await {
                    Ok(r) => {
                        totals.0 += r.stored;
                        totals.1 += r.duplicates;
                        totals.2 += r.quarantined;
                    }
                    Err(e) => return error(ErrorCode::Failed, format!("{e:#}")),
                }
            }
            Reply::Imported {
                imported: totals.0,
                duplicates: totals.1,
                quarantined: totals.2,
            }
        }
    }
}

fn search(engine: &SharedEngine, query: &str, limit: usize, before: Option<&str>) -> Reply {
    let q = match crate::search::Query::parse(query, chrono::Utc::now()) {
        Ok(q) => q,
        Err(e) => return error(ErrorCode::BadQuery, e.to_string()),
    };
    let before = match before.map(str::parse::<EventKey>).transpose() {
        Ok(b) => b,
        Err(_) => return error(ErrorCode::BadRequest, "`before` is not a cursor"),
    };
    let page = {
        let engine = lock_engine(engine);
        crate::search::execute(engine.store(), &q, limit.min(protocol::MAX_PAGE), before)
    };
    match page {
        Ok(page) => {
            let (keys, events) = page
                .events
                .into_iter()
                .map(|(k, e)| (k.to_string(), e))
                .unzip();
            Reply::Events {
                events,
                keys,
                next: page.next.map(|k| k.to_string()),
            }
        }
        Err(e) => error(ErrorCode::Failed, format!("{e:#}")),
    }
}

async fn ack(sink: &Sink, alarm: String, note: String, operator: String) -> Reply {
    let request = AckRequest {
        alarm,
        operator,
        note,
    };
    match sink.ack(request).await {
        Ok(Ok(Ok(alarm))) => Reply::Acked { alarm },
        Ok(Ok(Err(e))) => Reply::AckRefused {
            reason: AckRefusal::from(&e),
            message: e.to_string(),
        },
        Ok(Err(e)) => error(ErrorCode::Failed, format!("ack failed: {e}")),
        Err(e) => error(ErrorCode::Failed, format!("ack failed: {e:#}")),
    }
}

fn take_snapshot(engine: &SharedEngine, board: &StatusBoard) -> Snapshot {
    let engine = lock_engine(engine);
    Snapshot::take(&engine, board.all(), chrono::Utc::now())
}

/// After `subscribe`: a snapshot now, then committed events as they come and a new
/// snapshot (at most every 200 ms) whenever state, alarms or a source's status change.
async fn push_changes(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: impl AsyncWrite + Unpin,
    served: Served,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut events = served.events.subscribe();
    let mut changes = served.changes.clone();
    let mut board_changes = served.board.subscribe();
    let snapshot = |served: &Served| {
        let (engine, board) = (served.engine.clone(), served.board.clone());
        tokio::task::spawn_blocking(move || take_snapshot(&engine, &board))
    };
    let first = snapshot(&served).await?;
    write_reply(
        &mut write,
        &Reply::Snapshot {
            snapshot: Box::new(first),
        },
    )
    .await?;
    let mut stale = false;
    let mut next_snapshot = tokio::time::Instant::now();
    let mut line = Vec::new();
    loop {
        let wait = if stale {
            next_snapshot
        } else {
            tokio::time::Instant::now() + Duration::from_secs(3600)
        };
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            // The client only listens now; end of input means it has gone.
            r = read_line(&mut read, &mut line) => {
                if !matches!(r, Ok(true)) {
                    return Ok(());
                }
            }
            got = events.recv() => match got {
                Ok(batch) => {
                    write_reply(&mut write, &Reply::Live { events: batch.to_vec() }).await?;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    write_reply(&mut write, &Reply::Lagged { missed }).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            Ok(()) = changes.changed() => stale = true,
            Ok(()) = board_changes.changed() => stale = true,
            _ = tokio::time::sleep_until(wait) => {
                stale = false;
                next_snapshot = tokio::time::Instant::now() + SNAPSHOT_EVERY;
                let snapshot = snapshot(&served).await?;
                write_reply(&mut write, &Reply::Snapshot { snapshot: Box::new(snapshot) }).await?;
            }
        }
    }
}

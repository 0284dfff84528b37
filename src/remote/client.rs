//! Attaching to the store owner: a blocking client (commands are short, and the
//! console runs it on blocking threads).

use super::protocol::{self, AckRefusal, MAX_LINE, Reply, Request};
use crate::model::{Event, Vendor};
use crate::state::alarms::Alarm;
use crate::store::QuarantineRecord;
use crate::ui::snapshot::Snapshot;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An owner must answer hello within this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// And any later request within this long (a search over years of history takes
/// milliseconds; a large import chunk, seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a command could not attach to the owner it found.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket's permissions keep this user out.
    #[error("{0}")]
    Refused(String),
    /// The owner speaks another protocol version.
    #[error("{0}")]
    Incompatible(String),
    /// Something accepted the connection but did not answer as a doorwatch owner.
    #[error("{0}")]
    NoAnswer(String),
}

/// One connection to the owner.
pub struct Client {
    read: BufReader<UnixStream>,
    write: UnixStream,
    /// The owner's software version and process id, for messages.
    pub server: String,
    pub pid: u32,
    path: PathBuf,
}

/// One page of search results.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<Event>,
    pub keys: Vec<String>,
    pub next: Option<String>,
}

impl Client {
    /// Attach to the owner of the store in `data_dir`. `Ok(None)` when there is none:
    /// no socket, or a dead owner's (which is removed so the caller can take over).
    pub fn connect(data_dir: &Path) -> Result<Option<Client>, ConnectError> {
        let path = super::socket_path(data_dir);
        let stream = match UnixStream::connect(&path) {
            Ok(s) => s,
            Err(e) => return no_owner(&path, e).map(|()| None),
        };
        let mut client = Client {
            read: BufReader::new(stream.try_clone().map_err(|e| no_answer(&path, e))?),
            write: stream,
            server: String::new(),
            pid: 0,
            path: path.clone(),
        };
        let _ = client.write.set_read_timeout(Some(HELLO_TIMEOUT));
        let hello = Request::Hello {
            version: protocol::VERSION,
            client: protocol::software(),
        };
        match client.exchange(&hello) {
            Ok(Reply::Hello {
                version,
                server,
                pid,
            }) if version == protocol::VERSION => {
                client.server = server;
                client.pid = pid;
            }
            Ok(Reply::Hello {
                version, server, ..
            }) => {
                return Err(ConnectError::Incompatible(format!(
                    "the doorwatch daemon at {} ({server}) speaks console protocol {version}, this \
                     doorwatch ({}) speaks {}: run the same doorwatch version on both sides",
                    path.display(),
                    protocol::software(),
                    protocol::VERSION
                )));
            }
            Ok(Reply::Error { message, .. }) => return Err(ConnectError::Incompatible(message)),
            Ok(_) => {
                return Err(ConnectError::NoAnswer(format!(
                    "{} answered hello with something else: is it a doorwatch socket?",
                    path.display()
                )));
            }
            Err(e) => return Err(no_answer(&path, e)),
        }
        let _ = client.write.set_read_timeout(Some(REQUEST_TIMEOUT));
        Ok(Some(client))
    }

    /// Send one request and read its reply; an error reply becomes an error.
    pub fn request(&mut self, request: &Request) -> anyhow::Result<Reply> {
        match self.exchange(request)? {
            Reply::Error { message, .. } => Err(anyhow::anyhow!("{message}")),
            reply => Ok(reply),
        }
    }

    fn exchange(&mut self, request: &Request) -> anyhow::Result<Reply> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        self.write.write_all(&line)?;
        self.write.flush()?;
        read_reply(&mut self.read)?.ok_or_else(|| {
            anyhow::anyhow!(
                "the doorwatch daemon (pid {}) closed the connection at {}",
                self.pid,
                self.path.display()
            )
        })
    }

    pub fn search_page(
        &mut self,
        query: &str,
        limit: usize,
        before: Option<&str>,
    ) -> anyhow::Result<Page> {
        let request = Request::Search {
            query: query.to_string(),
            limit,
            before: before.map(str::to_string),
        };
        match self.request(&request)? {
            Reply::Events { events, keys, next } => Ok(Page { events, keys, next }),
            other => Err(unexpected(&other)),
        }
    }

    /// Up to `limit` events matching `query`, page by page; `each` sees every one.
    /// Returns the cursor after the last one, when there are more.
    pub fn search_all(
        &mut self,
        query: &str,
        limit: usize,
        before: Option<&str>,
        mut each: impl FnMut(&Event) -> anyhow::Result<()>,
    ) -> anyhow::Result<Option<String>> {
        let mut before = before.map(str::to_string);
        let mut left = limit;
        while left > 0 {
            let page = self.search_page(query, left.min(protocol::MAX_PAGE), before.as_deref())?;
            for e in &page.events {
                each(e)?;
            }
            left = left.saturating_sub(page.events.len());
            match page.next {
                Some(next) if !page.events.is_empty() => before = Some(next),
                _ => return Ok(None),
            }
        }
        Ok(before)
    }

    pub fn alarms(&mut self, all: bool) -> anyhow::Result<Vec<Alarm>> {
        match self.request(&Request::Alarms { all })? {
            Reply::Alarms { alarms } => Ok(alarms),
            other => Err(unexpected(&other)),
        }
    }

    /// The alarm as acknowledged, or why not (with a message for people).
    pub fn ack(
        &mut self,
        alarm: &str,
        note: &str,
        operator: &str,
    ) -> anyhow::Result<Result<Alarm, (AckRefusal, String)>> {
        let request = Request::Ack {
            alarm: alarm.to_string(),
            note: note.to_string(),
            operator: operator.to_string(),
        };
        match self.request(&request)? {
            Reply::Acked { alarm } => Ok(Ok(alarm)),
            Reply::AckRefused { reason, message } => Ok(Err((reason, message))),
            other => Err(unexpected(&other)),
        }
    }

    /// Store raw payloads through the owner: (imported, duplicates, quarantined).
    pub fn import(
        &mut self,
        vendor: Vendor,
        source: &str,
        items: Vec<serde_json::Value>,
        rejected: Vec<protocol::RejectedItem>,
    ) -> anyhow::Result<(usize, usize, usize)> {
        let request = Request::Import {
            vendor,
            source: source.to_string(),
            items,
            rejected,
        };
        match self.request(&request)? {
            Reply::Imported {
                imported,
                duplicates,
                quarantined,
            } => Ok((imported, duplicates, quarantined)),
            other => Err(unexpected(&other)),
        }
    }

    pub fn quarantine(&mut self) -> anyhow::Result<Vec<QuarantineRecord>> {
        match self.request(&Request::Quarantine)? {
            Reply::Quarantine { records } => Ok(records),
            other => Err(unexpected(&other)),
        }
    }

    pub fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        match self.request(&Request::Snapshot)? {
            Reply::Snapshot { snapshot } => Ok(*snapshot),
            other => Err(unexpected(&other)),
        }
    }

    /// Turn this connection into a stream of pushes from the owner.
    pub fn subscribe(mut self) -> anyhow::Result<Subscription> {
        let mut line = serde_json::to_vec(&Request::Subscribe)?;
        line.push(b'\n');
        self.write.write_all(&line)?;
        let _ = self.write.set_read_timeout(None);
        Ok(Subscription {
            read: self.read,
            _write: self.write,
        })
    }
}

/// Pushes after `subscribe`: `live`, `snapshot`, `lagged`.
pub struct Subscription {
    read: BufReader<UnixStream>,
    // Kept open: the owner takes a closed connection for a client that left.
    _write: UnixStream,
}

impl Subscription {
    /// The next push; `Ok(None)` when the owner went away.
    pub fn next_push(&mut self) -> anyhow::Result<Option<Reply>> {
        read_reply(&mut self.read)
    }
}

fn read_reply(read: &mut impl BufRead) -> anyhow::Result<Option<Reply>> {
    let mut buf = Vec::new();
    let n = read.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        anyhow::bail!("the owner's reply was cut off or longer than {MAX_LINE} bytes");
    }
    Ok(Some(serde_json::from_slice(&buf).map_err(|e| {
        anyhow::anyhow!("the owner's reply did not parse ({e}): is it the same doorwatch version?")
    })?))
}

fn unexpected(reply: &Reply) -> anyhow::Error {
    let kind = serde_json::to_value(reply)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default();
    anyhow::anyhow!("the owner answered with an unexpected `{kind}` reply")
}

/// A failed connect: nobody there is fine (a dead owner's socket is removed), a
/// permission problem is not.
fn no_owner(path: &Path, e: std::io::Error) -> Result<(), ConnectError> {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => Ok(()),
        ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %path.display(), "removing a dead owner's socket");
            let _ = std::fs::remove_file(path);
            Ok(())
        }
        ErrorKind::PermissionDenied => Err(ConnectError::Refused(refused_message(path))),
        _ => Err(no_answer(path, e)),
    }
}

fn refused_message(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let group = std::fs::metadata(path)
        .ok()
        .map(|m| super::group_name(m.gid()).unwrap_or_else(|| m.gid().to_string()));
    match group {
        Some(group) => format!(
            "permission denied on the doorwatch daemon's socket {}: it is open to its owner and \
             group `{group}` only; ask the administrator to add you to `{group}` (then log in \
             again)",
            path.display()
        ),
        None => format!(
            "permission denied on the doorwatch daemon's socket {}: ask the administrator for \
             access to the data dir",
            path.display()
        ),
    }
}

fn no_answer(path: &Path, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::NoAnswer(format!(
        "the doorwatch daemon at {} did not answer ({e}); if it is hung, stop it and try again",
        path.display()
    ))
}

//! The store: the single source of truth on disk (sled 0.34 behind this module).
//!
//! Layout and its reasons are in [`keys`]. In short: events are appended under
//! time-ordered keys; their cursor and any quarantined payloads go in the same atomic
//! batch; index postings are kept in memory and written in large sorted blocks (to a
//! file of their own, `blockfile`, which sled points into), with a journal so that the
//! unwritten tail is rebuilt on open. That is the layout DESIGN.md
//! measured at ~5x the ingest of one index write per event.
//!
//! Dedupe: an event's key is (time, hash of id), so the same event delivered again
//! lands on its own key and is recognised there, however old it is. An event
//! re-delivered with a *different* timestamp is recognised through the ids of the
//! last [`RECENT_IDS`] events stored, kept in memory and saved with each posting flush. A persistent
//! id index was measured and dropped: its scattered writes grew with history (every
//! flush rewrote most of its pages) and halved ingest by 1M events.
//!
//! Nothing outside this module knows about sled.

mod blockfile;
pub mod codec;
mod damage;
pub mod keys;
mod pages;
mod postings;
pub mod terms;
mod verify;

pub use keys::EventKey;
pub use terms::Index;
pub use verify::{Problem, VerifyReport};

use crate::model::{Event, Vendor};
use crate::sources::fields::fnv1a64;
use blockfile::BlockFile;
use chrono::{DateTime, Utc};
use keys::{AUDIT, CREDENTIAL, CURSOR, JOURNAL, META, QUARANTINE};
use postings::{PendingPostings, TermBlocks, pending_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// On-disk format this binary writes and reads. Format 1 (one sled value per event)
/// is migrated to pages on open. Format 2 kept posting blocks inline in sled; format
/// 3 writes them to the block file, and reads format 2's inline blocks as they are,
/// so opening a format 2 store only raises its number (older binaries then refuse it
/// rather than miss the new blocks).
pub const SCHEMA_VERSION: u32 = 3;

/// How many of the newest events' ids are remembered for re-deliveries whose
/// timestamp changed (~40 bytes each).
pub const RECENT_IDS: usize = 100_000;

/// Events whose postings may wait in memory before they are written in one batch.
pub const DEFAULT_POSTING_FLUSH: usize = 20_000;

/// How often sled's background thread writes out, fsyncs and compacts its log, ms.
/// Each round also relocates one 4 MiB segment while over half the file's segments
/// are free (sled 0.34's segment.rs), which a bulk load leaves for a long while and a
/// small store may never leave: at 1000 ms an idle console on a freshly loaded store
/// spent 0.4-2.4 % CPU (bench/run), fsync and relocation. A poller's events and cursor
/// commit together, so what a crash loses within this window is read again; webhook
/// acks, imports and acknowledgements flush before they answer.
pub const SLED_FLUSH_EVERY_MS: u64 = 5000;

/// sled writes any node larger than a quarter segment as a blob file of its own. Its
/// default (512 KiB) made nodes of 16 event pages blobs: a file created per node
/// rewrite, a fifth of ingest time. 4 MiB keeps them in the log.
pub const SEGMENT_SIZE: usize = 4 * 1024 * 1024;

/// Appends storing at least this many events file their postings in parallel with
/// sled's write; below it a thread costs more than it saves.
const PARALLEL_FILING: usize = 256;

const TREE: &str = "doorwatch";
const META_SCHEMA: &str = "schema";
const META_COUNT: &str = "count";
const META_RECENT: &str = "recent";
const META_SNAPSHOT: &str = "snapshot";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {path} is in use by another doorwatch process (a daemon or a console); \
         stop it, or use a different --data-dir"
    )]
    Locked { path: PathBuf },
    #[error(
        "the store at {path} was written by a newer doorwatch (format {found}; this binary reads \
         format {supported}): upgrade doorwatch, or use a different --data-dir"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the store at {path} is damaged ({detail}). To recover: stop doorwatch, move that \
         directory aside (mv {path} {path}.damaged) and start again; sources re-fetch their \
         backfill window, and `doorwatch import` restores older history from an export (README: \
         \"If the store is damaged\"). Keep the damaged copy for a bug report"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot open the store at {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("cannot write to the store at {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A payload that could not be parsed, kept raw with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    pub source: String,
    pub vendor: Vendor,
    #[serde(with = "crate::model::ms_time")]
    pub received_at: DateTime<Utc>,
    pub error: String,
    /// The payload exactly as received.
    pub raw: String,
}

/// One atomic write: events, the payloads that failed to parse, and the cursor that
/// covers both. Either all of it is on disk after a crash, or none of it.
#[derive(Debug, Default)]
pub struct AppendBatch {
    pub events: Vec<Event>,
    pub quarantine: Vec<QuarantineRecord>,
    /// `(source name, opaque cursor)`.
    pub cursor: Option<(String, Vec<u8>)>,
}

/// What an append did.
#[derive(Debug, Default)]
pub struct AppendReport {
    /// Events newly stored, in input order; duplicates are not here.
    pub stored: Vec<Event>,
    pub duplicates: usize,
    pub quarantined: usize,
}

/// An inclusive range of event keys, read newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: EventKey,
    pub hi: EventKey,
}

impl KeyRange {
    pub const ALL: KeyRange = KeyRange {
        lo: EventKey::MIN,
        hi: EventKey::MAX,
    };

    /// Events with `since_ms <= occurred_at <= until_ms`.
    pub fn time(since_ms: Option<i64>, until_ms: Option<i64>) -> KeyRange {
        KeyRange {
            lo: since_ms.map_or(EventKey::MIN, |ms| EventKey { ms, idhash: 0 }),
            hi: until_ms.map_or(EventKey::MAX, |ms| EventKey {
                ms,
                idhash: u64::MAX,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
}

/// How a posting term is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermMatch {
    Exact(String),
    /// Every term starting with this text (`kind:door.*`, free-text word prefixes).
    Prefix(String),
}

/// State kept in memory between posting flushes; rebuilt from the journal on open.
#[derive(Default)]
struct Pending {
    postings: PendingPostings,
    /// Buffers for filing terms without allocating.
    scratch: terms::TermScratch,
    term_key: Vec<u8>,
    recent: RecentIds,
    /// Journal entries (one per append) covering the pending events.
    journal: Vec<[u8; 9]>,
    journal_events: usize,
    /// When the oldest journal entry not yet checkpointed was written (or replayed).
    journal_since: Option<std::time::Instant>,
    next_journal_seq: u64,
    next_quarantine_seq: u64,
    next_audit_seq: u64,
    count: u64,
    /// A posting flush running on a thread of its own (one that fell due during ingest:
    /// a bulk append's, or the engine's checkpoint; at most one at a time).
    in_flight: Option<InFlight>,
}

impl Pending {
    /// Postings not in the block file yet: those waiting, and those of the flush
    /// under way until it is joined.
    fn unwritten(&self) -> impl Iterator<Item = &PendingPostings> {
        std::iter::once(&self.postings).chain(self.in_flight.as_ref().map(|f| &*f.postings))
    }
}

/// A posting flush under way: the postings it writes, which readers still see here
/// until it is joined, and its outcome.
struct InFlight {
    postings: Arc<PendingPostings>,
    done: std::thread::JoinHandle<Result<()>>,
}

/// One posting flush: the blocks of `postings` into the block file, then one sled
/// batch with their references, the recent ids, the caller's snapshot and the removal
/// of the journal entries it covers.
struct PostingFlush {
    tree: sled::Tree,
    blocks: Arc<BlockFile>,
    path: PathBuf,
    postings: Arc<PendingPostings>,
    journal: Vec<[u8; 9]>,
    recent: Vec<u8>,
    snapshot: Option<Vec<u8>>,
    #[cfg(test)]
    gate: Arc<FlushGate>,
}

/// Tests: hold posting flushes at their start, or make them fail there.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FlushGate {
    pub hold: Mutex<()>,
    pub fail: std::sync::atomic::AtomicBool,
}

impl PostingFlush {
    fn run(self) -> Result<()> {
        #[cfg(test)]
        {
            let _held = self.gate.hold.lock();
            if self.gate.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Write {
                    path: self.path.clone(),
                    detail: "injected failure".into(),
                });
            }
        }
        let mut writes = sled::Batch::default();
        if let Some(snapshot) = &self.snapshot {
            writes.insert(keys::named(META, META_SNAPSHOT), snapshot.as_slice());
        }
        let mut blocks = self.blocks.writer();
        postings::write_blocks(&self.postings, &mut blocks, &mut writes);
        // Durable before sled can make a reference to them so.
        self.blocks.append(blocks).map_err(|e| StoreError::Write {
            path: self.path.clone(),
            detail: format!("{}: {e}", blockfile::FILE_NAME),
        })?;
        // Saved with the postings so that an open reads one value instead of scanning.
        writes.insert(keys::named(META, META_RECENT), self.recent);
        for jk in &self.journal {
            writes.remove(jk);
        }
        self.tree.apply_batch(writes)?;
        Ok(())
    }
}

pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    /// Where posting blocks live; sled holds references to them.
    blocks: Arc<BlockFile>,
    path: PathBuf,
    pending: Mutex<Pending>,
    posting_flush: usize,
    auto_checkpoint: bool,
    checkpoint_after: std::time::Duration,
    #[cfg(test)]
    gate: Arc<FlushGate>,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, bytes.
    pub cache_capacity: u64,
    /// Events buffered before postings are written.
    pub posting_flush: usize,
    /// Write postings by itself when `posting_flush` events wait (tools and benches).
    /// Off for the application, which checkpoints its live state with the postings
    /// (see [`Store::checkpoint`]) so that the journal always covers what the state
    /// snapshot does not.
    pub auto_checkpoint: bool,
    /// A checkpoint is also due once the oldest event waiting in the journal is this
    /// old: a desk with a slow trickle of events would otherwise replay hours of
    /// journal at every start.
    pub checkpoint_after: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity: 64 * 1024 * 1024,
            posting_flush: DEFAULT_POSTING_FLUSH,
            auto_checkpoint: false,
            checkpoint_after: std::time::Duration::from_secs(120),
        }
    }
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, StoreOptions::default())
    }

    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<Store> {
        let path = dir.join("store");
        std::fs::create_dir_all(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        // sled 0.34 may panic on a damaged file instead of saying so; the open and the
        // first reads are where damage shows, and it is to be reported, not a crash.
        damage::catch_panics(&path, || Store::open_at(path.clone(), opts))
            .map_err(|e| e.located(&path))
    }

    fn open_at(path: PathBuf, opts: StoreOptions) -> Result<Store> {
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(opts.cache_capacity)
            .segment_size(segment_size(&path))
            .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
            .mode(sled::Mode::HighThroughput);
        // sled's background flusher can hold the file lock for a moment after the
        // previous owner let go (a command that just exited, a handle just dropped):
        // wait briefly before saying the store is in use.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
        let db = loop {
            match config.open().map_err(|e| open_error(&path, e)) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree(TREE).map_err(|e| open_error(&path, e))?;
        let blocks = BlockFile::open(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            detail: format!("{}: {e}", blockfile::FILE_NAME),
        })?;
        let store = Store {
            db,
            tree,
            blocks: Arc::new(blocks),
            path,
            pending: Mutex::new(Pending::default()),
            posting_flush: opts.posting_flush.max(1),
            auto_checkpoint: opts.auto_checkpoint,
            checkpoint_after: opts.checkpoint_after,
            #[cfg(test)]
            gate: Arc::default(),
        };
        store.check_schema()?;
        store.load_pending()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves the pending sets consistent enough
        // (they only grow after a successful batch), so a poisoned lock is usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_schema(&self) -> Result<()> {
        let key = keys::named(META, META_SCHEMA);
        match self.tree.get(&key)? {
            Some(v) => {
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| self.corrupt("schema version is unreadable"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerFormat {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found == 1 {
                    self.migrate_to_pages()?;
                }
                if found < SCHEMA_VERSION {
                    self.tree.insert(key, &SCHEMA_VERSION.to_be_bytes())?;
                    self.db.flush()?;
                }
                Ok(())
            }
            None => {
                self.tree.insert(key, &SCHEMA_VERSION.to_be_bytes())?;
                Ok(())
            }
        }
    }

    /// Format 1 → 2: move one-value-per-event entries into pages, oldest first. Each
    /// sled batch moves a run of events (pages in, old entries out) atomically, so an
    /// interrupted migration resumes where it stopped.
    fn migrate_to_pages(&self) -> Result<()> {
        const RUN: usize = 20_000;
        loop {
            let mut run: Vec<(EventKey, sled::IVec)> = Vec::with_capacity(RUN);
            for item in self.tree.scan_prefix([keys::EVENT]).take(RUN) {
                let (k, v) = item?;
                let key = EventKey::from_bytes(&k[1..]).ok_or_else(|| self.corrupt("event key"))?;
                run.push((key, v));
            }
            let Some((first, _)) = run.first() else {
                return Ok(());
            };
            // Pages already migrated hold only older events, so this run starts after
            // the newest page and never has to merge into one.
            if self.newest_page()?.is_some_and(|(max, _)| max >= *first) {
                return Err(self.corrupt("format 1 events older than migrated pages"));
            }
            let mut writes = sled::Batch::default();
            for page in pages::split(&run) {
                writes.insert(&page[page.len() - 1].0.page(), pages::encode(page));
            }
            for (key, _) in &run {
                let mut old = vec![keys::EVENT];
                old.extend_from_slice(&key.to_bytes());
                writes.remove(old);
            }
            self.tree.apply_batch(writes)?;
            tracing::info!("store: moved {} events to the paged format", run.len());
        }
    }

    fn corrupt(&self, detail: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// Rebuild in-memory postings for journaled events (written, not yet indexed).
    fn load_pending(&self) -> Result<()> {
        let mut p = self.lock();
        p.count = match self.tree.get(keys::named(META, META_COUNT))? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt("event count is unreadable"))?,
            ),
            None => 0,
        };
        p.next_quarantine_seq = last_seq(&self.tree, QUARANTINE)?.map_or(0, |s| s + 1);
        p.next_audit_seq = last_seq(&self.tree, AUDIT)?.map_or(0, |s| s + 1);
        p.next_journal_seq = last_seq(&self.tree, JOURNAL)?.map_or(0, |s| s + 1);
        self.replay_journal(&mut p)
    }

    /// Rebuild the postings and recent ids that wait in memory from what is on disk:
    /// the recent ids saved with the last posting flush, and the journal since.
    fn replay_journal(&self, p: &mut Pending) -> Result<()> {
        // The flush under way drops its journal entries or leaves them: wait to see which.
        if let Some(flush) = p.in_flight.take() {
            let _ = flush.done.join();
        }
        p.postings.clear();
        p.journal.clear();
        p.journal_events = 0;
        p.journal_since = None;
        p.recent = RecentIds::default();
        if let Some(v) = self.tree.get(keys::named(META, META_RECENT))? {
            for chunk in v.chunks(16) {
                p.recent.remember(
                    EventKey::from_bytes(chunk).ok_or_else(|| self.corrupt("recent ids"))?,
                );
            }
        }
        let mut reader = self.reader();
        for item in self.tree.scan_prefix([JOURNAL]) {
            let (jk, v) = item?;
            p.journal.push(
                jk.as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt("journal key"))?,
            );
            for chunk in v.chunks(16) {
                let key =
                    EventKey::from_bytes(chunk).ok_or_else(|| self.corrupt("journal entry"))?;
                let event = reader
                    .get(key)?
                    .ok_or_else(|| self.corrupt("journal points at a missing event"))?;
                add_pending(p, key, &event);
            }
        }
        Ok(())
    }

    /// Number of events stored.
    pub fn len(&self) -> u64 {
        self.lock().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Commit a batch atomically; events already stored (same id) are skipped.
    pub fn append(&self, batch: AppendBatch) -> Result<AppendReport> {
        let mut p = self.lock();
        // A flush that failed says so before this batch commits, not after; one still
        // running is waited for only when the next one is due.
        let flush_due = p.journal_events + batch.events.len() >= self.posting_flush;
        if flush_due || p.in_flight.as_ref().is_some_and(|f| f.done.is_finished()) {
            self.finish_flush(&mut p)?;
        }
        let mut writes = sled::Batch::default();
        let mut report = AppendReport::default();
        let mut events = batch.events;
        for event in &mut events {
            event.occurred_at = crate::model::to_ms(event.occurred_at);
            event.received_at = crate::model::to_ms(event.received_at);
        }
        let wanted = self.candidates(&p, &events, &mut report.duplicates)?;
        let placed = self.write_pages(&mut writes, &events, &wanted, &mut report.duplicates)?;
        let (fresh, new_keys): (Vec<usize>, Vec<EventKey>) = placed.into_iter().unzip();
        report.stored = take_indices(events, &fresh);
        // One journal entry per append, not per event: appends are what sled does well.
        let journal_key = keys::seq_key(JOURNAL, p.next_journal_seq);
        if !new_keys.is_empty() {
            let mut journal_value = Vec::with_capacity(new_keys.len() * 16);
            for key in &new_keys {
                journal_value.extend_from_slice(&key.to_bytes());
            }
            writes.insert(&journal_key, journal_value);
        }
        let mut next_q = p.next_quarantine_seq;
        for q in &batch.quarantine {
            let v = serde_json::to_vec(q).unwrap_or_default();
            writes.insert(&keys::seq_key(QUARANTINE, next_q), v);
            next_q += 1;
        }
        report.quarantined = batch.quarantine.len();
        if let Some((source, cursor)) = &batch.cursor {
            writes.insert(keys::named(CURSOR, source), cursor.as_slice());
        }
        let count = p.count + report.stored.len() as u64;
        writes.insert(keys::named(META, META_COUNT), &count.to_be_bytes());
        if new_keys.len() >= PARALLEL_FILING {
            // A bulk append files its postings on this thread while sled applies the
            // batch on another: the two were half of ingest time each way round.
            let applied = std::thread::scope(|s| {
                let apply = s.spawn(|| self.tree.apply_batch(writes));
                for (key, event) in new_keys.iter().zip(&report.stored) {
                    add_pending(&mut p, *key, event);
                }
                apply.join()
            });
            match applied {
                Ok(Ok(())) => {}
                failed => {
                    // Take back the postings of events that are not stored.
                    self.replay_journal(&mut p)?;
                    return match failed {
                        Ok(Err(e)) => Err(e.into()),
                        _ => Err(self.corrupt("the batch writer panicked")),
                    };
                }
            }
        } else {
            self.tree.apply_batch(writes)?;
            for (key, event) in new_keys.iter().zip(&report.stored) {
                add_pending(&mut p, *key, event);
            }
        }

        p.count = count;
        p.next_quarantine_seq = next_q;
        if !new_keys.is_empty() {
            p.next_journal_seq += 1;
            p.journal.push(journal_key);
        }
        if self.auto_checkpoint && p.journal_events >= self.posting_flush {
            self.write_postings(&mut p, None, false)?;
        }
        Ok(report)
    }

    /// `(natural key, index)` of each event worth placing, ascending by key: the first
    /// of each id in the batch, less those stored recently under another time (a
    /// re-delivery with a new timestamp).
    fn candidates(
        &self,
        p: &Pending,
        events: &[Event],
        duplicates: &mut usize,
    ) -> Result<Vec<(EventKey, usize)>> {
        let mut seen_here: HashSet<&str> = HashSet::with_capacity(events.len());
        let mut wanted = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            if !seen_here.insert(event.id.as_str()) {
                *duplicates += 1;
                continue;
            }
            let idhash = fnv1a64(event.id.as_bytes());
            if let Some(earlier) = p.recent.get(idhash)
                && self.id_at(earlier)?.as_deref() == Some(event.id.as_str())
            {
                *duplicates += 1;
                continue;
            }
            let key = EventKey {
                ms: event.occurred_at.timestamp_millis(),
                idhash,
            };
            wanted.push((key, i));
        }
        wanted.sort_unstable();
        Ok(wanted)
    }

    /// Place the wanted events into pages: each goes into the page that holds its key
    /// (merged and rewritten), or after the newest page. Returns `(index, key)` of the
    /// events stored, in input order.
    fn write_pages(
        &self,
        writes: &mut sled::Batch,
        events: &[Event],
        wanted: &[(EventKey, usize)],
        duplicates: &mut usize,
    ) -> Result<Vec<(usize, EventKey)>> {
        let mut placed = Vec::with_capacity(wanted.len());
        let mut touched = HashSet::new();
        let mut i = 0;
        while i < wanted.len() {
            let (page_key, page, end) = match self.page_holding(wanted[i].0)? {
                Some((max, bytes)) => {
                    let end = i + wanted[i..].partition_point(|(k, _)| *k <= max);
                    (Some(max), Some(bytes), end)
                }
                // Newer than every page: extend the newest page if it is small and
                // not already rewritten by this batch, else start new pages.
                None => match self.newest_page()? {
                    Some((max, bytes))
                        if bytes.len() < pages::SMALL_PAGE && !touched.contains(&max) =>
                    {
                        (Some(max), Some(bytes), wanted.len())
                    }
                    _ => (None, None, wanted.len()),
                },
            };
            if let Some(max) = page_key {
                touched.insert(max);
            }
            let group = &wanted[i..end];
            self.merge_page(
                writes,
                page_key,
                page.as_deref(),
                group,
                events,
                &mut placed,
                duplicates,
            )?;
            i = end;
        }
        placed.sort_unstable();
        Ok(placed)
    }

    /// Merge `group` (ascending) into the page stored under `page_key` and write the
    /// result as one or more pages. An event whose id is stored already is a duplicate;
    /// a different id under the same key is a 64-bit hash collision at one millisecond,
    /// probed on rather than overwritten.
    #[allow(clippy::too_many_arguments)]
    fn merge_page(
        &self,
        writes: &mut sled::Batch,
        page_key: Option<EventKey>,
        page: Option<&[u8]>,
        group: &[(EventKey, usize)],
        events: &[Event],
        placed: &mut Vec<(usize, EventKey)>,
        duplicates: &mut usize,
    ) -> Result<()> {
        let view = page.map(pages::PageView::parse).transpose()?;
        let mut taken: HashSet<EventKey> = HashSet::with_capacity(group.len());
        let mut fresh: Vec<(EventKey, Vec<u8>)> = Vec::with_capacity(group.len());
        for &(natural, i) in group {
            let event = &events[i];
            let mut key = natural;
            let mut outcome = None;
            for _ in 0..16 {
                if taken.contains(&key) {
                    key.idhash = key.idhash.wrapping_add(1);
                    continue;
                }
                match view.as_ref().and_then(|v| v.find(key)) {
                    None => {
                        outcome = Some(Some(key));
                        break;
                    }
                    Some(slot) => {
                        let body = view.as_ref().map(|v| v.body(slot)).unwrap_or_default();
                        if codec::decode_id(body)? == event.id {
                            outcome = Some(None);
                            break;
                        }
                        key.idhash = key.idhash.wrapping_add(1);
                    }
                }
            }
            match outcome {
                None => return Err(self.corrupt("too many id hash collisions at one millisecond")),
                Some(None) => *duplicates += 1,
                Some(Some(key)) => {
                    taken.insert(key);
                    fresh.push((key, codec::encode(event)));
                    placed.push((i, key));
                }
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        fresh.sort_unstable_by_key(|(k, _)| *k);
        let mut merged: Vec<(EventKey, &[u8])> =
            Vec::with_capacity(fresh.len() + view.as_ref().map_or(0, |v| v.len()));
        let mut new = fresh.iter().map(|(k, b)| (*k, b.as_slice())).peekable();
        if let Some(v) = &view {
            for (k, b) in v.entries() {
                while let Some(n) = new.next_if(|(nk, _)| *nk < k) {
                    merged.push(n);
                }
                merged.push((k, b));
            }
        }
        merged.extend(new);
        let mut kept_old_key = false;
        for run in pages::split(&merged) {
            let max = run[run.len() - 1].0;
            kept_old_key |= Some(max) == page_key;
            writes.insert(&max.page(), pages::encode(run));
        }
        if let Some(old) = page_key
            && !kept_old_key
        {
            writes.remove(&old.page());
        }
        Ok(())
    }

    /// The page that holds `key` if it is stored: the first page at or after it.
    fn page_holding(&self, key: EventKey) -> Result<Option<(EventKey, sled::IVec)>> {
        match self.tree.range(key.page()..=EventKey::MAX.page()).next() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((page_key_of(&k)?, v)))
            }
            None => Ok(None),
        }
    }

    fn newest_page(&self) -> Result<Option<(EventKey, sled::IVec)>> {
        match self.tree.scan_prefix([keys::PAGE]).next_back() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((page_key_of(&k)?, v)))
            }
            None => Ok(None),
        }
    }

    fn id_at(&self, key: EventKey) -> Result<Option<String>> {
        let Some((_, bytes)) = self.page_holding(key)? else {
            return Ok(None);
        };
        let page = pages::PageView::parse(&bytes)?;
        match page.find(key) {
            Some(slot) => Ok(Some(codec::decode_id(page.body(slot))?)),
            None => Ok(None),
        }
    }

    /// Write buffered postings as blocks in one batch and drop the journal entries
    /// they cover. With `wait`, on this thread; without, on a thread of its own, which
    /// the next append, flush or checkpoint joins (a bulk load files the next batches
    /// meanwhile: the flush was ~40 % of its time on one core, with the other idle).
    fn write_postings(&self, p: &mut Pending, snapshot: Option<&[u8]>, wait: bool) -> Result<()> {
        self.finish_flush(p)?;
        if snapshot.is_none() && p.journal.is_empty() {
            return Ok(());
        }
        let postings = Arc::new(std::mem::take(&mut p.postings));
        let job = PostingFlush {
            tree: self.tree.clone(),
            blocks: self.blocks.clone(),
            path: self.path.clone(),
            postings: postings.clone(),
            journal: std::mem::take(&mut p.journal),
            recent: p.recent.to_bytes(),
            snapshot: snapshot.map(<[u8]>::to_vec),
            #[cfg(test)]
            gate: self.gate.clone(),
        };
        p.journal_events = 0;
        p.journal_since = None;
        if !wait {
            match std::thread::Builder::new()
                .name("doorwatch-postings".into())
                .spawn(move || job.run())
            {
                Ok(done) => {
                    p.in_flight = Some(InFlight { postings, done });
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!("store: no thread for the posting flush ({e}); writing here");
                    // The job went with the failed spawn: rebuild it from the journal.
                    self.replay_journal(p)?;
                    return self.write_postings(p, snapshot, true);
                }
            }
        }
        self.settle_flush(p, job.run())
    }

    /// Join the posting flush under way, if any (see [`Store::settle_flush`]).
    fn finish_flush(&self, p: &mut Pending) -> Result<()> {
        let Some(flush) = p.in_flight.take() else {
            return Ok(());
        };
        let outcome = flush
            .done
            .join()
            .unwrap_or_else(|_| Err(self.corrupt("the posting writer panicked")));
        self.settle_flush(p, outcome)
    }

    /// A flush's outcome. A failed one committed nothing, so the journal still covers
    /// its postings: they are rebuilt from it, and the error returned.
    fn settle_flush(&self, p: &mut Pending, outcome: Result<()>) -> Result<()> {
        if outcome.is_err() {
            self.replay_journal(p)?;
        }
        outcome
    }

    /// Make everything durable. With `auto_checkpoint`, also write buffered postings;
    /// without, the journal stays for the next [`Store::checkpoint`] or open.
    pub fn flush(&self) -> Result<()> {
        let mut p = self.lock();
        self.finish_flush(&mut p)?;
        if self.auto_checkpoint {
            self.write_postings(&mut p, None, true)?;
        }
        drop(p);
        self.db.flush()?;
        Ok(())
    }

    /// Whether enough events wait in the journal, or the oldest of them long enough,
    /// that a checkpoint is due.
    pub fn needs_checkpoint(&self) -> bool {
        let p = self.lock();
        p.journal_events >= self.posting_flush
            || p.journal_since
                .is_some_and(|t| t.elapsed() >= self.checkpoint_after)
    }

    /// Write buffered postings, drop the journal they cover and save `snapshot` (the
    /// caller's state as of every event committed so far), all in one atomic batch.
    pub fn checkpoint(&self, snapshot: Option<&[u8]>) -> Result<()> {
        let mut p = self.lock();
        self.write_postings(&mut p, snapshot, true)?;
        drop(p);
        self.db.flush()?;
        Ok(())
    }

    /// [`Store::checkpoint`] on a thread of its own, for a checkpoint that falls due
    /// during ingest: the caller goes on appending meanwhile, and hears of a failure
    /// from the next append that makes another due (before that batch commits), or
    /// from a flush or checkpoint. Until the batch lands, a crash leaves the journal
    /// and the previous snapshot, which together cover the same events.
    pub fn checkpoint_in_background(&self, snapshot: Option<&[u8]>) -> Result<()> {
        let mut p = self.lock();
        self.write_postings(&mut p, snapshot, false)
    }

    /// The snapshot saved by the last [`Store::checkpoint`].
    pub fn snapshot(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(keys::named(META, META_SNAPSHOT))?
            .map(|v| v.to_vec()))
    }

    /// Events committed since the last checkpoint, in commit order: what a snapshot
    /// does not cover yet.
    pub fn uncheckpointed(&self) -> Result<Vec<Event>> {
        self.finish_flush(&mut self.lock())?;
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([JOURNAL]).values() {
            for chunk in item?.chunks(16) {
                let key =
                    EventKey::from_bytes(chunk).ok_or_else(|| self.corrupt("journal entry"))?;
                out.push(
                    self.get(key)?
                        .ok_or_else(|| self.corrupt("journal points at a missing event"))?,
                );
            }
        }
        Ok(out)
    }

    /// Append audit records (opaque bytes) atomically and durably; returns the
    /// sequence number of the first.
    pub fn append_audit(&self, records: &[Vec<u8>]) -> Result<u64> {
        let mut p = self.lock();
        let first = p.next_audit_seq;
        let mut writes = sled::Batch::default();
        for (i, r) in records.iter().enumerate() {
            writes.insert(&keys::seq_key(AUDIT, first + i as u64), r.as_slice());
        }
        self.tree.apply_batch(writes)?;
        p.next_audit_seq += records.len() as u64;
        drop(p);
        self.db.flush()?;
        Ok(first)
    }

    /// Audit records with sequence number `>= from`, oldest first.
    pub fn audit_from(&self, from: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.tree
            .range(keys::seq_key(AUDIT, from).to_vec()..=keys::seq_key(AUDIT, u64::MAX).to_vec())
            .map(|item| {
                let (k, v) = item?;
                let seq = k
                    .get(1..9)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                Ok((seq, v.to_vec()))
            })
            .collect()
    }

    /// The sequence number the next audit record gets.
    pub fn audit_len(&self) -> u64 {
        self.lock().next_audit_seq
    }

    /// The saved cursor of a source.
    pub fn cursor(&self, source: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(keys::named(CURSOR, source))?
            .map(|v| v.to_vec()))
    }

    /// A source's rotating credential (e.g. DoorFlow's latest refresh token). Kept in
    /// its own region: never inside an event, a cursor or an export.
    pub fn credential(&self, source: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(keys::named(CREDENTIAL, source))?
            .map(|v| v.to_vec()))
    }

    /// Save a rotated credential durably: the vendor has already invalidated the old
    /// one, so it must survive a crash right after this returns.
    pub fn set_credential(&self, source: &str, value: &[u8]) -> Result<()> {
        self.tree.insert(keys::named(CREDENTIAL, source), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// One event by key.
    pub fn get(&self, key: EventKey) -> Result<Option<Event>> {
        self.reader().get(key)
    }

    /// Reads events by key, keeping the last page it opened: a run of keys close in
    /// time (a query's hits, a journal replay) reads each page once.
    pub fn reader(&self) -> EventReader<'_> {
        EventReader {
            store: self,
            page: None,
        }
    }

    /// Events in `range`, newest first.
    pub fn scan(
        &self,
        range: KeyRange,
    ) -> impl Iterator<Item = Result<(EventKey, Event)>> + 'static {
        let pages = (!range.is_empty()).then(|| {
            // The page holding `hi` is the last one that can hold anything in range.
            let last = match self.page_holding(range.hi) {
                Ok(Some((max, _))) => max,
                _ => EventKey::MAX,
            };
            self.tree.range(range.lo.page()..=last.page())
        });
        PageScan::new(pages, range, true)
    }

    /// Every event, oldest first (rebuilding state without a snapshot).
    pub fn scan_oldest_first(&self) -> impl Iterator<Item = Result<(EventKey, Event)>> + 'static {
        PageScan::new(
            Some(self.tree.range(EventKey::MIN.page()..=EventKey::MAX.page())),
            KeyRange::ALL,
            false,
        )
    }

    /// Keys of events filed under `index`/`matches` within `range`, newest first, each once.
    /// `None` when a prefix matches more than `max_terms` distinct terms (too broad to
    /// be worth merging; the caller filters another way).
    /// Several `matches` are a union: an event filed under any of them comes back once.
    pub fn postings(
        &self,
        index: Index,
        matches: &[TermMatch],
        range: KeyRange,
        max_terms: usize,
    ) -> Result<Option<PostingIter>> {
        if range.is_empty() {
            return Ok(Some(PostingIter::new(Vec::new())));
        }
        let mut terms = BTreeSet::new();
        for m in matches {
            match m {
                TermMatch::Exact(t) => {
                    terms.insert(t.clone());
                }
                TermMatch::Prefix(prefix) => {
                    match self.terms_with_prefix(index, prefix, max_terms)? {
                        Some(t) => terms.extend(t),
                        None => return Ok(None),
                    }
                }
            }
        }
        let p = self.lock();
        let mut sources: Vec<Box<dyn Iterator<Item = Result<EventKey>>>> =
            Vec::with_capacity(terms.len() * 2);
        for t in terms {
            let key = pending_key(index.byte(), &t);
            let mut mem: Vec<EventKey> = p
                .unwritten()
                .filter_map(|postings| postings.get(key.as_slice()))
                .flatten()
                .copied()
                .filter(|k| *k >= range.lo && *k <= range.hi)
                .collect();
            mem.sort_unstable_by(|a, b| b.cmp(a));
            sources.push(Box::new(mem.into_iter().map(Ok)));
            sources.push(Box::new(TermBlocks::new(
                &self.tree,
                self.blocks.clone(),
                index.byte(),
                &t,
                range,
            )));
        }
        Ok(Some(PostingIter::new(sources)))
    }

    /// Distinct terms of an index that start with `prefix`, at most `max` of them.
    fn terms_with_prefix(
        &self,
        index: Index,
        prefix: &str,
        max: usize,
    ) -> Result<Option<Vec<String>>> {
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut start = vec![keys::POSTING, index.byte()];
        start.extend_from_slice(prefix.as_bytes());
        let head = start.len();
        // Skip-scan: one seek per distinct term, not one step per posting.
        let mut from = start.clone();
        loop {
            let Some(item) = self.tree.range(from.clone()..).next() else {
                break;
            };
            let (k, _) = item?;
            if !k.starts_with(&start) {
                break;
            }
            let Some(end) = k[head..].iter().position(|b| *b == 0) else {
                break;
            };
            let term = &k[2..head + end];
            found.insert(String::from_utf8_lossy(term).into_owned());
            if found.len() > max {
                return Ok(None);
            }
            from = k[..head + end].to_vec();
            from.push(1);
        }
        let p = self.lock();
        let wanted = pending_key(index.byte(), prefix);
        for key in p.unwritten().flat_map(|postings| postings.keys()) {
            if !key.starts_with(&wanted) {
                continue;
            }
            found.insert(String::from_utf8_lossy(&key[1..]).into_owned());
            if found.len() > max {
                return Ok(None);
            }
        }
        Ok(Some(found.into_iter().collect()))
    }

    /// Every quarantined payload, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantineRecord>> {
        self.tree
            .scan_prefix([QUARANTINE])
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice(&v).map_err(|_| self.corrupt("quarantine record"))
            })
            .collect()
    }

    pub fn quarantine_count(&self) -> Result<usize> {
        Ok(self.tree.scan_prefix([QUARANTINE]).count())
    }

    /// Bytes on disk: sled's files and the posting blocks.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.blocks.len()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Best effort: a clean close leaves no journal to replay on the next open.
        if let Err(e) = self.flush() {
            tracing::warn!("store flush on close failed: {e}");
        }
    }
}

fn add_pending(p: &mut Pending, key: EventKey, event: &Event) {
    let Pending {
        postings,
        scratch,
        term_key,
        ..
    } = p;
    terms::visit_terms(event, scratch, |index, term| {
        term_key.clear();
        term_key.push(index.byte());
        term_key.extend_from_slice(term.as_bytes());
        match postings.get_mut(term_key.as_slice()) {
            Some(keys) => keys.push(key),
            None => {
                postings.insert(term_key.as_slice().into(), vec![key]);
            }
        }
    });
    if p.journal_events == 0 {
        p.journal_since = Some(std::time::Instant::now());
    }
    p.journal_events += 1;
    p.recent.remember(key);
}

/// The ids of the newest events, oldest forgotten first.
#[derive(Default)]
struct RecentIds {
    by_hash: HashMap<u64, EventKey, std::hash::BuildHasherDefault<postings::QuickHasher>>,
    order: VecDeque<u64>,
}

impl RecentIds {
    fn get(&self, idhash: u64) -> Option<EventKey> {
        self.by_hash.get(&idhash).copied()
    }

    /// Oldest first, 16 bytes each.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.order.len() * 16);
        for h in &self.order {
            if let Some(k) = self.by_hash.get(h) {
                out.extend_from_slice(&k.to_bytes());
            }
        }
        out
    }

    fn remember(&mut self, key: EventKey) {
        // The map is keyed by the id's hash; a probed (collided) key keeps its own.
        if self.by_hash.insert(key.idhash, key).is_none() {
            self.order.push_back(key.idhash);
        }
        while self.order.len() > RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.by_hash.remove(&old);
            }
        }
    }
}

/// The items at `indices` (ascending), moved out of `items`.
fn take_indices<T>(items: Vec<T>, indices: &[usize]) -> Vec<T> {
    if indices.len() == items.len() {
        return items;
    }
    let mut wanted = indices.iter().copied().peekable();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            (wanted.peek() == Some(&i)).then(|| {
                wanted.next();
                item
            })
        })
        .collect()
}

#[cfg(test)]
impl Store {
    /// Tests: set (`Some`) or remove (`None`) the raw body stored under `key`, bypassing
    /// dedupe, postings and the count — to forge damage.
    pub(crate) fn forge(&self, key: EventKey, body: Option<Vec<u8>>) {
        let (page_key, mut entries) = match self.page_holding(key).unwrap() {
            Some((max, bytes)) => {
                let page = pages::PageView::parse(&bytes).unwrap();
                let entries: Vec<(EventKey, Vec<u8>)> =
                    page.entries().map(|(k, b)| (k, b.to_vec())).collect();
                (Some(max), entries)
            }
            None => (None, Vec::new()),
        };
        entries.retain(|(k, _)| *k != key);
        if let Some(body) = body {
            entries.push((key, body));
            entries.sort_by_key(|(k, _)| *k);
        }
        let mut writes = sled::Batch::default();
        if let Some(old) = page_key {
            writes.remove(&old.page());
        }
        if let Some((newest, _)) = entries.last() {
            writes.insert(&newest.page(), pages::encode(&entries));
        }
        self.tree.apply_batch(writes).unwrap();
    }
}

/// See [`Store::reader`].
pub struct EventReader<'a> {
    store: &'a Store,
    /// The last page read: its oldest and newest keys and its bytes.
    page: Option<(EventKey, EventKey, sled::IVec)>,
}

impl EventReader<'_> {
    pub fn get(&mut self, key: EventKey) -> Result<Option<Event>> {
        // Pages never overlap, so a key between a page's first and last keys can only
        // be in that page.
        let cached = matches!(&self.page, Some((lo, hi, _)) if *lo <= key && key <= *hi);
        if !cached {
            let Some((max, bytes)) = self.store.page_holding(key)? else {
                return Ok(None);
            };
            // Checked once, when read: later keys in it use the page as it is.
            let page = pages::PageView::parse(&bytes)?;
            let min = if page.len() == 0 { max } else { page.key(0) };
            self.page = Some((min, max, bytes));
        }
        let Some((_, _, bytes)) = &self.page else {
            return Ok(None);
        };
        let page = pages::PageView::checked_before(bytes);
        match page.find(key) {
            Some(slot) => Ok(Some(codec::decode(key.ms, page.body(slot))?)),
            None => Ok(None),
        }
    }
}

fn page_key_of(k: &[u8]) -> Result<EventKey> {
    Ok(EventKey::from_bytes(&k[1..]).ok_or(codec::DecodeError("bad page key"))?)
}

/// Events of a run of pages, one page decoded at a time. A damaged event or page is
/// one `Err` item; the scan goes on past it (a search stops there, `check` counts on).
struct PageScan {
    pages: Option<sled::Iter>,
    range: KeyRange,
    newest_first: bool,
    /// The current page's events, in the order they are handed out (popped from the back).
    ready: Vec<Result<(EventKey, Event)>>,
}

impl PageScan {
    fn new(pages: Option<sled::Iter>, range: KeyRange, newest_first: bool) -> PageScan {
        PageScan {
            pages,
            range,
            newest_first,
            ready: Vec::new(),
        }
    }

    /// Decode the next page into `ready`; `false` when there are no more pages.
    fn next_page(&mut self) -> bool {
        let Some(pages) = self.pages.as_mut() else {
            return false;
        };
        let item = if self.newest_first {
            pages.next_back()
        } else {
            pages.next()
        };
        let Some(item) = item else {
            return false;
        };
        let bytes = match item {
            Ok((_, bytes)) => bytes,
            Err(e) => {
                // sled itself failed: nothing after this can be trusted to come.
                self.pages = None;
                self.ready.push(Err(e.into()));
                return true;
            }
        };
        match pages::PageView::parse(&bytes) {
            Ok(page) => {
                for slot in page.slots_between(self.range.lo, self.range.hi) {
                    let key = page.key(slot);
                    self.ready.push(
                        codec::decode(key.ms, page.body(slot))
                            .map(|e| (key, e))
                            .map_err(StoreError::from),
                    );
                }
                if !self.newest_first {
                    self.ready.reverse();
                }
            }
            Err(e) => self.ready.push(Err(e.into())),
        }
        true
    }
}

impl Iterator for PageScan {
    type Item = Result<(EventKey, Event)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop() {
                return Some(item);
            }
            if !self.next_page() {
                return None;
            }
        }
    }
}

fn last_seq(tree: &sled::Tree, prefix: u8) -> Result<Option<u64>> {
    Ok(match tree.scan_prefix([prefix]).keys().next_back() {
        Some(k) => {
            let k = k?;
            k.get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        }
        None => None,
    })
}

/// sled's log segment size for the store at `path`: what an existing store was created
/// with (sled refuses a change), else [`SEGMENT_SIZE`].
fn segment_size(path: &Path) -> usize {
    // The file ends in a binary checksum: read it lossily.
    std::fs::read(path.join("conf"))
        .ok()
        .and_then(|conf| {
            String::from_utf8_lossy(&conf)
                .lines()
                .find_map(|l| l.strip_prefix("segment_size:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(SEGMENT_SIZE)
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock") =>
        {
            StoreError::Locked {
                path: path.to_path_buf(),
            }
        }
        other => match damage::sled_damage(&other) {
            Some(detail) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail,
            },
            None => StoreError::Open {
                path: path.to_path_buf(),
                detail: other.to_string(),
            },
        },
    }
}

/// A newest-first merge of several newest-first key streams, each key once.
pub struct PostingIter {
    sources: Vec<Box<dyn Iterator<Item = Result<EventKey>>>>,
    heads: BinaryHeap<(EventKey, usize)>,
    primed: bool,
    last: Option<EventKey>,
    error: Option<StoreError>,
}

impl PostingIter {
    fn new(sources: Vec<Box<dyn Iterator<Item = Result<EventKey>>>>) -> Self {
        PostingIter {
            sources,
            heads: BinaryHeap::new(),
            primed: false,
            last: None,
            error: None,
        }
    }

    fn pull(&mut self, i: usize) {
        match self.sources[i].next() {
            Some(Ok(k)) => self.heads.push((k, i)),
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }
}

impl Iterator for PostingIter {
    type Item = Result<EventKey>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.pull(i);
            }
        }
        loop {
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            let (key, i) = self.heads.pop()?;
            self.pull(i);
            if self.last != Some(key) {
                self.last = Some(key);
                return Some(Ok(key));
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! The store: the single source of truth on disk (sled 0.34 behind this module).
//!
//! Layout and its reasons are in [`keys`]. In short: events are appended under
//! time-ordered keys; their cursor and any quarantined payloads go in the same atomic
//! batch; index postings are kept in memory and written in large sorted blocks, with a
//! journal so that the unwritten tail is rebuilt on open. That is the layout DESIGN.md
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

pub mod codec;
mod damage;
pub mod keys;
mod postings;
pub mod terms;
mod verify;

pub use keys::EventKey;
pub use terms::Index;
pub use verify::{Problem, VerifyReport};

use crate::model::{Event, Vendor};
use crate::sources::fields::fnv1a64;
use chrono::{DateTime, Utc};
use keys::{AUDIT, CREDENTIAL, CURSOR, JOURNAL, META, QUARANTINE};
use postings::{PendingPostings, TermBlocks, pending_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// On-disk format this binary writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// How many of the newest events' ids are remembered for re-deliveries whose
/// timestamp changed (~40 bytes each).
pub const RECENT_IDS: usize = 100_000;

/// Events whose postings may wait in memory before they are written in one batch.
pub const DEFAULT_POSTING_FLUSH: usize = 20_000;

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
    next_journal_seq: u64,
    next_quarantine_seq: u64,
    next_audit_seq: u64,
    count: u64,
}

pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    pending: Mutex<Pending>,
    posting_flush: usize,
    auto_checkpoint: bool,
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
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity: 64 * 1024 * 1024,
            posting_flush: DEFAULT_POSTING_FLUSH,
            auto_checkpoint: false,
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
            .flush_every_ms(Some(1000))
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
        let store = Store {
            db,
            tree,
            path,
            pending: Mutex::new(Pending::default()),
            posting_flush: opts.posting_flush.max(1),
            auto_checkpoint: opts.auto_checkpoint,
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
                Ok(())
            }
            None => {
                self.tree.insert(key, &SCHEMA_VERSION.to_be_bytes())?;
                Ok(())
            }
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
        // The recent ids as of the last posting flush; the journal adds the rest.
        if let Some(v) = self.tree.get(keys::named(META, META_RECENT))? {
            for chunk in v.chunks(16) {
                p.recent.remember(
                    EventKey::from_bytes(chunk).ok_or_else(|| self.corrupt("recent ids"))?,
                );
            }
        }
        p.next_journal_seq = last_seq(&self.tree, JOURNAL)?.map_or(0, |s| s + 1);
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
                let event = self
                    .get(key)?
                    .ok_or_else(|| self.corrupt("journal points at a missing event"))?;
                add_pending(&mut p, key, &event);
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
        let mut writes = sled::Batch::default();
        let mut report = AppendReport::default();
        let mut events = batch.events;
        for event in &mut events {
            event.occurred_at = crate::model::to_ms(event.occurred_at);
            event.received_at = crate::model::to_ms(event.received_at);
        }
        let mut seen_here: HashSet<&str> = HashSet::with_capacity(events.len());
        let mut keys_here: HashSet<EventKey> = HashSet::with_capacity(events.len());
        let stored_near = self.stored_keys_between(&events)?;
        let mut new_keys = Vec::new();
        let mut journal_value = Vec::new();
        let mut fresh = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            if !seen_here.insert(event.id.as_str()) {
                report.duplicates += 1;
                continue;
            }
            let Some(key) = self.free_key_for(&p, event, stored_near.as_ref(), &keys_here)? else {
                report.duplicates += 1;
                continue;
            };
            keys_here.insert(key);
            writes.insert(key.primary(), codec::encode(event));
            journal_value.extend_from_slice(&key.to_bytes());
            new_keys.push(key);
            fresh.push(i);
        }
        drop(seen_here);
        report.stored = take_indices(events, &fresh);
        // One journal entry per append, not per event: appends are what sled does well.
        let journal_key = keys::seq_key(JOURNAL, p.next_journal_seq);
        if !journal_value.is_empty() {
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
        self.tree.apply_batch(writes)?;

        p.count = count;
        p.next_quarantine_seq = next_q;
        if !new_keys.is_empty() {
            p.next_journal_seq += 1;
            p.journal.push(journal_key);
        }
        for (key, event) in new_keys.into_iter().zip(&report.stored) {
            add_pending(&mut p, key, event);
        }
        if self.auto_checkpoint && p.journal_events >= self.posting_flush {
            self.write_postings(&mut p, None)?;
        }
        Ok(report)
    }

    /// The keys stored between the batch's lowest and highest possible keys, read in
    /// one range scan, or `None` when there are too many to be worth it (then each
    /// event is looked up on its own). A sequential scan of a few thousand keys costs
    /// less than a point read per event: live appends (newer than anything stored) find
    /// the range empty, and a backfill or a late delivery finds only its neighbours.
    fn stored_keys_between(&self, events: &[Event]) -> Result<Option<HashSet<EventKey>>> {
        let mut stored = HashSet::new();
        let Some(lo) = events.iter().map(|e| e.occurred_at).min() else {
            return Ok(Some(stored));
        };
        let hi = events.iter().map(|e| e.occurred_at).max().unwrap_or(lo);
        let range = KeyRange::time(Some(lo.timestamp_millis()), Some(hi.timestamp_millis()));
        let most = events.len().saturating_mul(8).max(1024);
        for k in self
            .tree
            .range(range.lo.primary()..=range.hi.primary())
            .keys()
        {
            let k = k?;
            if stored.len() >= most {
                return Ok(None);
            }
            stored
                .insert(EventKey::from_bytes(&k[1..]).ok_or(codec::DecodeError("bad event key"))?);
        }
        Ok(Some(stored))
    }

    /// The key to store `event` under, or `None` when an event with its id is stored.
    /// `stored_near`: every key stored in the batch's range, when known (then a key
    /// not in it is free without a point read).
    /// `taken`: keys already given to other events of this batch.
    fn free_key_for(
        &self,
        p: &Pending,
        event: &Event,
        stored_near: Option<&HashSet<EventKey>>,
        taken: &HashSet<EventKey>,
    ) -> Result<Option<EventKey>> {
        let idhash = fnv1a64(event.id.as_bytes());
        // Stored recently under another time (a re-delivery with a new timestamp)?
        if let Some(earlier) = p.recent.get(idhash)
            && self.id_at(earlier)?.as_deref() == Some(event.id.as_str())
        {
            return Ok(None);
        }
        // The same event lands on its own key. A different id with the same hash at the
        // same millisecond is a 64-bit hash collision: probe on rather than overwrite.
        let mut key = EventKey {
            ms: event.occurred_at.timestamp_millis(),
            idhash,
        };
        for _ in 0..16 {
            if taken.contains(&key) {
                key.idhash = key.idhash.wrapping_add(1);
                continue;
            }
            if stored_near.is_some_and(|s| !s.contains(&key)) {
                return Ok(Some(key));
            }
            match self.id_at(key)? {
                None => return Ok(Some(key)),
                Some(id) if id == event.id => return Ok(None),
                Some(_) => key.idhash = key.idhash.wrapping_add(1),
            }
        }
        Err(self.corrupt("too many id hash collisions at one millisecond"))
    }

    fn id_at(&self, key: EventKey) -> Result<Option<String>> {
        match self.tree.get(key.primary())? {
            Some(v) => Ok(Some(codec::decode_id(&v)?)),
            None => Ok(None),
        }
    }

    /// Write buffered postings as blocks in one batch and drop the journal entries
    /// they cover.
    fn write_postings(&self, p: &mut Pending, snapshot: Option<&[u8]>) -> Result<()> {
        let mut writes = sled::Batch::default();
        if let Some(snapshot) = snapshot {
            writes.insert(keys::named(META, META_SNAPSHOT), snapshot);
        } else if p.journal.is_empty() {
            return Ok(());
        }
        postings::write_blocks(&mut p.postings, &mut writes);
        // Saved with the postings so that an open reads one value instead of scanning.
        writes.insert(keys::named(META, META_RECENT), p.recent.to_bytes());
        for jk in &p.journal {
            writes.remove(jk);
        }
        self.tree.apply_batch(writes)?;
        p.postings.clear();
        p.journal.clear();
        p.journal_events = 0;
        Ok(())
    }

    /// Make everything durable. With `auto_checkpoint`, also write buffered postings;
    /// without, the journal stays for the next [`Store::checkpoint`] or open.
    pub fn flush(&self) -> Result<()> {
        if self.auto_checkpoint {
            let mut p = self.lock();
            self.write_postings(&mut p, None)?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// Whether enough events wait in the journal that a checkpoint is due.
    pub fn needs_checkpoint(&self) -> bool {
        self.lock().journal_events >= self.posting_flush
    }

    /// Write buffered postings, drop the journal they cover and save `snapshot` (the
    /// caller's state as of every event committed so far), all in one atomic batch.
    pub fn checkpoint(&self, snapshot: Option<&[u8]>) -> Result<()> {
        let mut p = self.lock();
        self.write_postings(&mut p, snapshot)?;
        drop(p);
        self.db.flush()?;
        Ok(())
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
        match self.tree.get(key.primary())? {
            Some(v) => Ok(Some(codec::decode(key.ms, &v)?)),
            None => Ok(None),
        }
    }

    /// Events in `range`, newest first.
    pub fn scan(
        &self,
        range: KeyRange,
    ) -> impl Iterator<Item = Result<(EventKey, Event)>> + 'static {
        let iter = (!range.is_empty()).then(|| {
            self.tree
                .range(range.lo.primary()..=range.hi.primary())
                .rev()
        });
        iter.into_iter().flatten().map(|item| {
            let (k, v) = item?;
            let key = EventKey::from_bytes(&k[1..]).ok_or(codec::DecodeError("bad event key"))?;
            Ok((key, codec::decode(key.ms, &v)?))
        })
    }

    /// Every event, oldest first (rebuilding state without a snapshot).
    pub fn scan_oldest_first(&self) -> impl Iterator<Item = Result<(EventKey, Event)>> + 'static {
        self.tree.scan_prefix([keys::EVENT]).map(|item| {
            let (k, v) = item?;
            let key = EventKey::from_bytes(&k[1..]).ok_or(codec::DecodeError("bad event key"))?;
            Ok((key, codec::decode(key.ms, &v)?))
        })
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
            let mut mem: Vec<EventKey> = p
                .postings
                .get(pending_key(index.byte(), &t).as_slice())
                .into_iter()
                .flatten()
                .copied()
                .filter(|k| *k >= range.lo && *k <= range.hi)
                .collect();
            mem.sort_unstable_by(|a, b| b.cmp(a));
            sources.push(Box::new(mem.into_iter().map(Ok)));
            sources.push(Box::new(TermBlocks::new(
                &self.tree,
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
        for key in p.postings.keys() {
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

    /// Bytes on disk, as sled reports them.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
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
    p.journal_events += 1;
    p.recent.remember(key);
}

/// The ids of the newest events, oldest forgotten first.
#[derive(Default)]
struct RecentIds {
    by_hash: HashMap<u64, EventKey>,
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

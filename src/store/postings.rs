//! Posting lists stored as blocks: one sled key per (index, term, flush), whose value
//! names the block's place in the block file (see `blockfile`; format 2 stores kept
//! the block itself as the value, and those are still read).
//!
//! One sled key per posting made sled rewrite pages for every tiny key: ingest fell to
//! ~2k events/s with GBs of RSS (measured here, 25 postings per event). So postings
//! wait in memory and are written, per term, as one sorted, delta-encoded block per
//! flush. A block's key ends with its newest and oldest event key, so a reader walks a
//! term's blocks newest-first and opens a block only when it can hold the next result.

use super::blockfile::{BlockFile, BlockRef, BlockWriter};
use super::keys::{self, EventKey};
use super::{KeyRange, Result, codec::DecodeError};
use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Postings not yet written: index byte followed by the term → event keys (unsorted,
/// may repeat). Keyed by bytes so that filing a term looks it up without allocating.
pub type PendingPostings = HashMap<Box<[u8]>, Vec<EventKey>, BuildHasherDefault<QuickHasher>>;

/// A multiply-rotate hash (FxHash's) for the in-memory maps ingest hits ~25 times per
/// event. SipHash cost ~5% of ingest there; its flood resistance guards maps that
/// strangers fill, and these hold our own term keys and id hashes, emptied every flush.
#[derive(Default, Clone, Copy)]
pub struct QuickHasher(u64);

impl QuickHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for QuickHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Most postings in one block. A flush of a common term (a vendor, `severity:info`)
/// holds ~10k postings; blocks of this size let a query that needs the newest 100
/// read and decode a few KB, not the whole flush. (While blocks were sled values,
/// this also kept sled's nodes, split by entry count, near 64 KB.)
pub const BLOCK_POSTINGS: usize = 512;

/// `index byte ++ term`, the key of [`PendingPostings`].
pub fn pending_key(index: u8, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1);
    k.push(index);
    k.extend_from_slice(term.as_bytes());
    k
}

/// Block key: `I index term 0x00 newest(16) oldest(16)`.
pub fn block_key(index: u8, term: &str, newest: EventKey, oldest: EventKey) -> Vec<u8> {
    let mut k = keys::term_prefix(index, term);
    k.extend_from_slice(&newest.to_bytes());
    k.extend_from_slice(&oldest.to_bytes());
    k
}

/// The oldest event key recorded in a block key.
fn block_oldest(k: &[u8]) -> Option<EventKey> {
    EventKey::from_bytes(k.get(k.len().checked_sub(16)?..)?)
}

fn block_newest(k: &[u8]) -> Option<EventKey> {
    EventKey::from_bytes(k.get(k.len().checked_sub(32)?..k.len() - 16)?)
}

/// Encode sorted, distinct keys: count, first key whole, then (ms delta varint, hash).
pub fn encode_block(sorted: &[EventKey]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + sorted.len() * 10);
    put_varint(&mut out, sorted.len() as u64);
    let mut prev_ms = None;
    for k in sorted {
        match prev_ms {
            None => out.extend_from_slice(&k.to_bytes()),
            Some(p) => {
                put_varint(&mut out, (k.ms - p) as u64);
                out.extend_from_slice(&k.idhash.to_be_bytes());
            }
        }
        prev_ms = Some(k.ms);
    }
    out
}

pub fn decode_block(b: &[u8]) -> Result<Vec<EventKey>> {
    let bad = || DecodeError("bad posting block");
    let mut pos = 0;
    let n = get_varint(b, &mut pos).ok_or_else(bad)? as usize;
    let mut out = Vec::with_capacity(n.min(b.len()));
    let first = b.get(pos..pos + 16).and_then(EventKey::from_bytes);
    if n == 0 {
        return Ok(out);
    }
    let mut cur = first.ok_or_else(bad)?;
    pos += 16;
    out.push(cur);
    for _ in 1..n {
        let delta = get_varint(b, &mut pos).ok_or_else(bad)?;
        let hash = b.get(pos..pos + 8).ok_or_else(bad)?;
        pos += 8;
        cur = EventKey {
            ms: cur.ms.wrapping_add(delta as i64),
            idhash: u64::from_be_bytes(hash.try_into().map_err(|_| bad())?),
        };
        out.push(cur);
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Write every pending term as blocks of at most [`BLOCK_POSTINGS`] into `blocks`,
/// and their references into `batch` in key order (what sled applies cheapest).
pub fn write_blocks(pending: &PendingPostings, blocks: &mut BlockWriter, batch: &mut sled::Batch) {
    let mut terms: Vec<(&Box<[u8]>, &Vec<EventKey>)> = pending.iter().collect();
    terms.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, keys) in terms {
        let Some((&index, term)) = key.split_first() else {
            continue;
        };
        let term = String::from_utf8_lossy(term);
        // Keys arrive mostly in time order: the stable sort finds the runs and merges
        // them, where quicksort paid n log n every flush.
        let mut keys = keys.clone();
        keys.sort();
        keys.dedup();
        for chunk in keys.chunks(BLOCK_POSTINGS) {
            let (Some(oldest), Some(newest)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let at = blocks.push(&encode_block(chunk));
            batch.insert(block_key(index, &term, *newest, *oldest), &at.encode()[..]);
        }
    }
}

/// One term's on-disk postings in `range`, newest first, opening blocks lazily.
pub struct TermBlocks {
    blocks: std::iter::Peekable<std::iter::Rev<sled::Iter>>,
    file: Arc<BlockFile>,
    range: KeyRange,
    /// Opened blocks, each a stack of keys in range with the newest on top.
    open: Vec<Vec<EventKey>>,
    heads: BinaryHeap<(EventKey, usize)>,
}

impl TermBlocks {
    pub fn new(
        tree: &sled::Tree,
        file: Arc<BlockFile>,
        index: u8,
        term: &str,
        range: KeyRange,
    ) -> TermBlocks {
        // Blocks whose newest key is >= range.lo can hold results.
        let from = {
            let mut k = keys::term_prefix(index, term);
            k.extend_from_slice(&range.lo.to_bytes());
            k
        };
        let mut to = keys::term_prefix(index, term);
        to.extend_from_slice(&[0xff; 33]);
        TermBlocks {
            blocks: tree.range(from..to).rev().peekable(),
            file,
            range,
            open: Vec::new(),
            heads: BinaryHeap::new(),
        }
    }

    fn open_next(&mut self) -> Result<()> {
        let Some(item) = self.blocks.next() else {
            return Ok(());
        };
        let (k, v) = item?;
        if block_oldest(&k).is_some_and(|oldest| oldest > self.range.hi) {
            return Ok(());
        }
        let block = match BlockRef::decode(&v) {
            Some(at) => Cow::Owned(self.file.read(at)?),
            None => Cow::Borrowed(v.as_ref()),
        };
        let mut keys = decode_block(&block)?;
        keys.retain(|k| *k >= self.range.lo && *k <= self.range.hi);
        if let Some(top) = keys.last() {
            self.heads.push((*top, self.open.len()));
            self.open.push(keys);
        }
        Ok(())
    }

    /// Newest key of the next unopened block, if it might matter.
    fn next_block_newest(&mut self) -> Option<EventKey> {
        match self.blocks.peek() {
            Some(Ok((k, _))) => block_newest(k),
            Some(Err(_)) => Some(EventKey::MAX),
            None => None,
        }
    }
}

impl Iterator for TermBlocks {
    type Item = Result<EventKey>;

    fn next(&mut self) -> Option<Self::Item> {
        // Open blocks until none unopened could hold a key newer than the best open one.
        loop {
            let best = self.heads.peek().map(|(k, _)| *k);
            match (self.next_block_newest(), best) {
                (Some(newest), Some(best)) if newest <= best => break,
                (None, _) => break,
                _ => {
                    if let Err(e) = self.open_next() {
                        return Some(Err(e));
                    }
                }
            }
        }
        let (key, i) = self.heads.pop()?;
        let stack = &mut self.open[i];
        stack.pop();
        if let Some(next) = stack.last() {
            self.heads.push((*next, i));
        }
        Some(Ok(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ms: i64, h: u64) -> EventKey {
        EventKey { ms, idhash: h }
    }

    #[test]
    fn blocks_round_trip() {
        let keys = vec![k(-5, 1), k(0, 9), k(0, 10), k(1_800_000_000_000, u64::MAX)];
        assert_eq!(decode_block(&encode_block(&keys)).unwrap(), keys);
        assert_eq!(decode_block(&encode_block(&[])).unwrap(), vec![]);
        assert!(decode_block(&[5, 1, 2]).is_err());
    }

    #[test]
    fn overlapping_blocks_merge_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let file = Arc::new(BlockFile::open(dir.path()).unwrap());
        let mut pending = PendingPostings::default();
        let mut batch = sled::Batch::default();
        // Three flushes; the last one is a backfill overlapping the first two.
        for keys in [
            vec![k(10, 0), k(20, 0), k(30, 0)],
            vec![k(40, 0), k(50, 0)],
            vec![k(15, 0), k(45, 0), k(5, 0)],
        ] {
            pending.insert(pending_key(b'd', "x").into(), keys);
            let mut blocks = file.writer();
            write_blocks(&pending, &mut blocks, &mut batch);
            file.append(blocks).unwrap();
            pending.clear();
        }
        // A format 2 block, kept inline in sled, is read alongside the file's.
        let inline = [k(60, 0)];
        batch.insert(
            block_key(b'd', "x", inline[0], inline[0]),
            encode_block(&inline),
        );
        tree.apply_batch(batch).unwrap();
        let all: Vec<i64> = TermBlocks::new(&tree, file.clone(), b'd', "x", KeyRange::ALL)
            .map(|r| r.unwrap().ms)
            .collect();
        assert_eq!(all, vec![60, 50, 45, 40, 30, 20, 15, 10, 5]);
        let some: Vec<i64> = TermBlocks::new(
            &tree,
            file.clone(),
            b'd',
            "x",
            KeyRange::time(Some(12), Some(44)),
        )
        .map(|r| r.unwrap().ms)
        .collect();
        assert_eq!(some, vec![40, 30, 20, 15]);
        assert_eq!(
            TermBlocks::new(&tree, file.clone(), b'd', "y", KeyRange::ALL).count(),
            0
        );
    }
}

//! Posting blocks in an append-only file of our own, beside sled's.
//!
//! sled 0.34 keeps values inside its tree nodes. With the blocks inline, each flush
//! inserted thousands of multi-KB values at the tails of thousands of terms: sled
//! copied, consolidated and split nodes of up to ~80 KB for each, then relocated the
//! event pages that shared log segments with the garbage that left. That write
//! amplification grew with the store (ingest fell from ~120k to ~90k events/s between
//! 1M and 10M events, with sled writing ~3.4 KB per event of ~1.2 KB stored). Now a
//! flush appends all its blocks to this file in one write and fsync, and sled keeps
//! only a 17-byte [`BlockRef`] per block under the same key as before.
//!
//! Blocks are never rewritten or deleted, so the file only grows, by what the
//! postings are worth (~10 bytes a posting). The fsync comes before sled's batch is
//! applied, so no reference can outlive a crash that the bytes it names did not.
//! Bytes a crash left unreferenced at the end are skipped by the next append.

use super::{Result, StoreError};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The file's name inside the store directory.
pub const FILE_NAME: &str = "postings.blocks";

/// Where a block lives in the file, as sled stores it: a zero tag (an inline block of
/// format 2 starts with its posting count, never zero), offset, length and CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl BlockRef {
    const TAG: u8 = 0;
    pub const ENCODED_LEN: usize = 17;

    pub fn encode(self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[0] = Self::TAG;
        b[1..9].copy_from_slice(&self.offset.to_be_bytes());
        b[9..13].copy_from_slice(&self.len.to_be_bytes());
        b[13..].copy_from_slice(&self.crc.to_be_bytes());
        b
    }

    /// `None` for a value that is not a reference (an inline block of format 2).
    pub fn decode(v: &[u8]) -> Option<BlockRef> {
        if v.len() != Self::ENCODED_LEN || v[0] != Self::TAG {
            return None;
        }
        Some(BlockRef {
            offset: u64::from_be_bytes(v[1..9].try_into().ok()?),
            len: u32::from_be_bytes(v[9..13].try_into().ok()?),
            crc: u32::from_be_bytes(v[13..].try_into().ok()?),
        })
    }
}

/// Blocks being gathered for one append: their bytes, and a reference for each.
pub struct BlockWriter {
    base: u64,
    bytes: Vec<u8>,
}

impl BlockWriter {
    /// Add one block; the reference is valid once [`BlockFile::append`] has taken
    /// this writer.
    pub fn push(&mut self, block: &[u8]) -> BlockRef {
        let r = BlockRef {
            offset: self.base + self.bytes.len() as u64,
            len: block.len() as u32,
            crc: crc32fast::hash(block),
        };
        self.bytes.extend_from_slice(block);
        r
    }
}

pub struct BlockFile {
    file: File,
    path: PathBuf,
    /// Where the next append goes: the file's length when opened, then past each
    /// append that succeeded.
    end: AtomicU64,
}

impl BlockFile {
    pub fn open(store_dir: &Path) -> std::io::Result<BlockFile> {
        let path = store_dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let end = file.metadata()?.len();
        Ok(BlockFile {
            file,
            path,
            end: AtomicU64::new(end),
        })
    }

    /// A writer whose references start at the file's current end. Appends are
    /// serialised by the store's lock, so the end does not move under it.
    pub fn writer(&self) -> BlockWriter {
        BlockWriter {
            base: self.end.load(Ordering::Acquire),
            bytes: Vec::new(),
        }
    }

    /// Write the writer's blocks where its references say, durably. On failure the
    /// end stays, and the next append overwrites whatever part was written.
    pub fn append(&self, w: BlockWriter) -> std::io::Result<()> {
        if w.bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&w.bytes, w.base)?;
        self.file.sync_data()?;
        self.end
            .store(w.base + w.bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    /// The block `r` names, checked against its CRC.
    pub fn read(&self, r: BlockRef) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; r.len as usize];
        let damaged = |why: String| StoreError::Corrupt {
            path: self.path.parent().unwrap_or(&self.path).to_path_buf(),
            detail: format!("{} {why}", self.path.display()),
        };
        self.file.read_exact_at(&mut buf, r.offset).map_err(|e| {
            damaged(format!(
                "has no block at bytes {}..{} ({e})",
                r.offset,
                r.offset + u64::from(r.len)
            ))
        })?;
        if crc32fast::hash(&buf) != r.crc {
            return Err(damaged(format!(
                "has a damaged block at byte {} (checksum mismatch)",
                r.offset
            )));
        }
        Ok(buf)
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_inline_blocks_are_not_references() {
        let r = BlockRef {
            offset: 1 << 40,
            len: 4321,
            crc: 0xdead_beef,
        };
        assert_eq!(BlockRef::decode(&r.encode()), Some(r));
        // An inline block: posting count 1, then a 16-byte key.
        assert_eq!(BlockRef::decode(&[1; 17]), None);
        assert_eq!(BlockRef::decode(&[0; 16]), None);
    }

    #[test]
    fn appended_blocks_read_back_across_a_reopen_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = BlockFile::open(dir.path()).unwrap();
        let mut w = f.writer();
        let a = w.push(b"first block");
        let b = w.push(b"second");
        f.append(w).unwrap();
        assert_eq!(f.read(a).unwrap(), b"first block");
        drop(f);

        // A crash after writing and before sled took the references: stray bytes at
        // the end, which the next append goes past.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .and_then(|mut file| std::io::Write::write_all(&mut file, b"stray"))
            .unwrap();
        let f = BlockFile::open(dir.path()).unwrap();
        let mut w = f.writer();
        let c = w.push(b"third");
        f.append(w).unwrap();
        assert_eq!(c.offset, 17 + 5);
        assert_eq!(f.read(b).unwrap(), b"second");
        assert_eq!(f.read(c).unwrap(), b"third");

        let past_end = BlockRef { offset: 1000, ..c };
        assert!(
            f.read(past_end)
                .unwrap_err()
                .to_string()
                .contains("no block")
        );
        let wrong_crc = BlockRef {
            crc: c.crc ^ 1,
            ..c
        };
        assert!(
            f.read(wrong_crc)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }
}

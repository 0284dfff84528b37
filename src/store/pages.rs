//! Event pages: many encoded events in one sled value.
//!
//! sled copies the leaf it writes into on every insert, so one insert per event capped
//! ingest near 35k events/s however the keys were ordered. A page holds events with
//! neighbouring keys and is stored under the key of its newest event: the page that
//! holds (or would hold) key `k` is the first page whose key is `>= k`, one seek away.
//!
//! Layout: `n: u32`, then `n` event keys (16 bytes each, ascending), then `n` end
//! offsets (`u32`) into the bodies that follow, then the bodies (see `codec`).

use super::codec::DecodeError;
use super::keys::EventKey;

/// Size a bulk append fills a page to before it starts the next one. Small enough to
/// stay an inline sled value (no blob file) and cheap to rewrite when a late event
/// lands inside it; large enough that sled sees one insert per ~50 events.
pub const PAGE_BYTES: usize = 24 * 1024;

/// A newest page smaller than this takes the next append's events in, rather than
/// leaving a trail of one-event pages behind a trickle of live events.
pub const SMALL_PAGE: usize = 4 * 1024;

const KEY_LEN: usize = 16;
const HEADER: usize = 4;

/// A read-only view of one stored page.
pub struct PageView<'a> {
    bytes: &'a [u8],
    n: usize,
}

impl<'a> PageView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<PageView<'a>, DecodeError> {
        let n = bytes
            .get(..HEADER)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(DecodeError("page header is cut short"))? as usize;
        let bodies = HEADER + n * (KEY_LEN + 4);
        if bytes.len() < bodies {
            return Err(DecodeError("page index is cut short"));
        }
        let view = PageView { bytes, n };
        // Offsets must rise and stay inside the page, or a slice below would panic.
        let mut prev = 0usize;
        for i in 0..n {
            let end = view.end_offset(i);
            if end < prev || bodies + end > bytes.len() {
                return Err(DecodeError("page offsets are out of order"));
            }
            prev = end;
        }
        Ok(view)
    }

    /// A view of bytes that [`PageView::parse`] accepted before (a page a reader keeps
    /// for the next keys): the offsets are not checked again, which was a tenth of a
    /// search's time when done for every hit. Bytes that were never checked could make
    /// `body` panic, never read out of bounds.
    pub fn checked_before(bytes: &'a [u8]) -> PageView<'a> {
        let n = bytes
            .get(..HEADER)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes) as usize;
        PageView { bytes, n }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn key(&self, i: usize) -> EventKey {
        let at = HEADER + i * KEY_LEN;
        EventKey::from_bytes(&self.bytes[at..at + KEY_LEN]).unwrap_or(EventKey::MIN)
    }

    fn end_offset(&self, i: usize) -> usize {
        let at = HEADER + self.n * KEY_LEN + i * 4;
        u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]) as usize
    }

    /// The encoded event in slot `i`.
    pub fn body(&self, i: usize) -> &'a [u8] {
        let bodies = HEADER + self.n * (KEY_LEN + 4);
        let start = if i == 0 { 0 } else { self.end_offset(i - 1) };
        &self.bytes[bodies + start..bodies + self.end_offset(i)]
    }

    /// The slot holding `key`.
    pub fn find(&self, key: EventKey) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.key(mid).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Slots whose keys lie in `lo..=hi`, as a range of slot numbers.
    pub fn slots_between(&self, lo: EventKey, hi: EventKey) -> std::ops::Range<usize> {
        let first = self.partition(|k| k < lo);
        let end = self.partition(|k| k <= hi);
        first..end.max(first)
    }

    /// The first slot whose key fails `before` (keys are ascending).
    fn partition(&self, before: impl Fn(EventKey) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(self.key(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub fn entries(&self) -> impl Iterator<Item = (EventKey, &'a [u8])> + '_ {
        (0..self.n).map(|i| (self.key(i), self.body(i)))
    }
}

/// Encode events (ascending keys) as one page.
pub fn encode<B: AsRef<[u8]>>(entries: &[(EventKey, B)]) -> Vec<u8> {
    let body_len: usize = entries.iter().map(|(_, b)| b.as_ref().len()).sum();
    let mut out = Vec::with_capacity(HEADER + entries.len() * (KEY_LEN + 4) + body_len);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (k, _) in entries {
        out.extend_from_slice(&k.to_bytes());
    }
    let mut end = 0u32;
    for (_, b) in entries {
        end += b.as_ref().len() as u32;
        out.extend_from_slice(&end.to_le_bytes());
    }
    for (_, b) in entries {
        out.extend_from_slice(b.as_ref());
    }
    out
}

/// Split ascending entries into runs of about `PAGE_BYTES` each; every run is one page.
pub fn split<B: AsRef<[u8]>>(entries: &[(EventKey, B)]) -> Vec<&[(EventKey, B)]> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, b)) in entries.iter().enumerate() {
        let size = b.as_ref().len() + KEY_LEN + 4;
        if i > start && bytes + size > PAGE_BYTES {
            pages.push(&entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        pages.push(&entries[start..]);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ms: i64) -> EventKey {
        EventKey { ms, idhash: 7 }
    }

    #[test]
    fn a_page_round_trips_and_finds_its_keys() {
        let entries: Vec<(EventKey, Vec<u8>)> = (0..50)
            .map(|i| (k(i * 10), vec![i as u8; i as usize]))
            .collect();
        let bytes = encode(&entries);
        let page = PageView::parse(&bytes).unwrap();
        assert_eq!(page.len(), 50);
        for (i, (key, body)) in entries.iter().enumerate() {
            assert_eq!(page.find(*key), Some(i));
            assert_eq!(page.body(i), body.as_slice());
        }
        assert_eq!(page.find(k(5)), None);
        assert_eq!(page.slots_between(k(15), k(40)), 2..5);
        let again = PageView::checked_before(&bytes);
        assert_eq!(again.len(), 50);
        assert!(again.entries().eq(page.entries()));
        assert_eq!(page.slots_between(k(1000), k(2000)), 50..50);
    }

    #[test]
    fn damaged_pages_are_refused_not_panicked_on() {
        let entries = vec![(k(1), vec![1u8; 10]), (k(2), vec![2u8; 10])];
        let bytes = encode(&entries);
        for cut in 0..bytes.len() {
            let _ = PageView::parse(&bytes[..cut]).map(|p| p.entries().count());
        }
        let mut bad = bytes.clone();
        bad[HEADER + 2 * KEY_LEN] = 0xff; // first end offset far past the end
        assert!(PageView::parse(&bad).is_err());
    }

    #[test]
    fn split_keeps_pages_near_the_target_size() {
        let entries: Vec<(EventKey, Vec<u8>)> = (0..1000).map(|i| (k(i), vec![0u8; 300])).collect();
        let pages = split(&entries);
        assert_eq!(pages.iter().map(|p| p.len()).sum::<usize>(), 1000);
        assert!(pages.len() > 1);
        for p in &pages[..pages.len() - 1] {
            let size: usize = p.iter().map(|(_, b)| b.len() + 20).sum();
            assert!(size <= PAGE_BYTES && size > PAGE_BYTES - 400, "{size}");
        }
    }
}

//! `Store::verify`: is what the store holds consistent with itself?
//!
//! Checked through the store's public reading API only (scan, postings, len), so that
//! the check holds whatever the on-disk layout is, and checks what a search sees:
//! - every stored event decodes, its raw payload is JSON (reads hand the payload back
//!   as text without parsing it, so this is the one place a damaged one is found), and
//!   no event id is stored twice;
//! - every (index, term) of every event has a posting pointing at that event;
//! - every posting of every term points at a stored event that carries that term;
//! - `len()` is the number of events stored.
//!
//! Memory stays bounded for millions of events: the primary is read once, in slices of
//! [`SLICE_EVENTS`] events, and each term's postings are compared with one slice at a
//! time. The terms enumerated are those of the stored events (there is no other list
//! of them): a posting filed under a term that no stored event carries is not looked
//! for.

use super::terms::{self, Index, TermScratch};
use super::{EventKey, KeyRange, Result, Store, StoreError, TermMatch};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Events per slice: ~25 terms each, 16 bytes a posting, ~20 MB of expected postings.
/// (Measured at 1M events: 10k slices took twice as long, 100k no faster.)
const SLICE_EVENTS: usize = 50_000;

/// Problems listed in full; beyond this they are only counted.
pub const MAX_LISTED: usize = 50;

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An event whose stored record does not decode.
    Unreadable { detail: String },
    /// An event whose raw vendor payload is not JSON (shown, exported or sent, it
    /// would be refused).
    BadPayload {
        key: EventKey,
        id: String,
        detail: String,
    },
    /// The same event id under two keys.
    DuplicateId {
        id: String,
        first: EventKey,
        second: EventKey,
    },
    /// An event filed under no posting for one of its terms (searches miss it).
    MissingPosting {
        index: Index,
        term: String,
        key: EventKey,
    },
    /// A posting pointing at an event that does not carry its term.
    StrayPosting {
        index: Index,
        term: String,
        key: EventKey,
    },
    /// A posting pointing at no stored event.
    DanglingPosting {
        index: Index,
        term: String,
        key: EventKey,
    },
    /// The stored event count disagrees with the events there are.
    CountMismatch { recorded: u64, scanned: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable { detail } => write!(f, "an event does not decode: {detail}"),
            Problem::BadPayload { key, id, detail } => write!(
                f,
                "event {id} (key {key}): its raw payload is not JSON: {detail}"
            ),
            Problem::DuplicateId { id, first, second } => {
                write!(f, "event {id} is stored twice (keys {first} and {second})")
            }
            Problem::MissingPosting { index, term, key } => write!(
                f,
                "event {key} has {index:?} term {term:?} but no posting for it"
            ),
            Problem::StrayPosting { index, term, key } => write!(
                f,
                "{index:?} term {term:?} has a posting for event {key}, which does not carry it"
            ),
            Problem::DanglingPosting { index, term, key } => write!(
                f,
                "{index:?} term {term:?} has a posting for event {key}, which is not stored"
            ),
            Problem::CountMismatch { recorded, scanned } => {
                write!(f, "the store counts {recorded} events but holds {scanned}")
            }
        }
    }
}

/// What [`Store::verify`] found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Events read from the primary (decodable or not).
    pub events: u64,
    /// What `len()` says.
    pub recorded_len: u64,
    /// Distinct (index, term) pairs of the stored events.
    pub terms: u64,
    /// Postings compared with the events.
    pub postings: u64,
    /// The first [`MAX_LISTED`] problems.
    pub problems: Vec<Problem>,
    /// Every problem, listed or not.
    pub problem_count: u64,
}

impl VerifyReport {
    pub fn is_consistent(&self) -> bool {
        self.problem_count == 0
    }

    fn found(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }
}

impl Store {
    /// Check that the primary, the postings and the count agree (see the module doc).
    /// Reads the whole store: seconds for a million events. Run it on a store nobody
    /// appends to meanwhile. Errors are failures to read at all (sled found damage);
    /// inconsistencies are in the report.
    pub fn verify(&self) -> Result<VerifyReport> {
        // sled may panic, not fail, on damage it meets while reading.
        super::damage::catch_panics(&self.path, || verify_store(self, SLICE_EVENTS))
            .map_err(|e| e.located(&self.path))
    }
}

fn verify_store(store: &Store, slice_events: usize) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        recorded_len: store.len(),
        ..VerifyReport::default()
    };
    let mut pass = Pass::new();
    for item in store.scan_oldest_first() {
        report.events += 1;
        let (key, event) = match item {
            Ok(found) => found,
            Err(StoreError::Decode(e)) => {
                report.found(Problem::Unreadable {
                    detail: e.to_string(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = event.raw.validate() {
            report.found(Problem::BadPayload {
                key,
                id: event.id.clone(),
                detail: e.to_string(),
            });
        }
        pass.check_id(store, key, &event.id, &mut report)?;
        pass.file(key, &event);
        if pass.slice_keys.len() >= slice_events {
            pass.close_slice(store, key, &mut report)?;
        }
    }
    // The last slice reaches the highest key, so every posting falls in one.
    pass.close_slice(store, EventKey::MAX, &mut report)?;
    pass.check_slices_before_terms_appeared(store, &mut report)?;
    if report.events != report.recorded_len {
        report.found(Problem::CountMismatch {
            recorded: report.recorded_len,
            scanned: report.events,
        });
    }
    report.terms = pass.terms.values().map(|t| t.len() as u64).sum();
    Ok(report)
}

/// The one pass over the primary, oldest first, a slice of events at a time.
struct Pass {
    /// Every (index, term) met so far, with the slice it was first met in.
    terms: HashMap<Index, HashMap<String, usize>>,
    /// Ids met so far, by a hash: a repeat of the hash is confirmed by reading both.
    ids: HashMap<u64, EventKey>,
    scratch: TermScratch,
    /// The lowest key of the current slice.
    slice_lo: EventKey,
    /// The keys of the current slice's events.
    slice_keys: HashSet<EventKey>,
    /// Term → keys of the current slice's events carrying it, oldest first.
    expected: HashMap<Index, HashMap<String, Vec<EventKey>>>,
    /// The highest key of each closed slice.
    slice_ends: Vec<EventKey>,
}

impl Pass {
    fn new() -> Pass {
        Pass {
            terms: HashMap::new(),
            ids: HashMap::new(),
            scratch: TermScratch::default(),
            slice_lo: EventKey::MIN,
            slice_keys: HashSet::new(),
            expected: HashMap::new(),
            slice_ends: Vec::new(),
        }
    }

    fn check_id(
        &mut self,
        store: &Store,
        key: EventKey,
        id: &str,
        report: &mut VerifyReport,
    ) -> Result<()> {
        if let Some(first) = self.ids.insert(id_hash(id), key)
            && store.get(first)?.is_some_and(|e| e.id == id)
        {
            report.found(Problem::DuplicateId {
                id: id.to_string(),
                first,
                second: key,
            });
        }
        Ok(())
    }

    /// Note the event's terms, as the postings should have them.
    fn file(&mut self, key: EventKey, event: &crate::model::Event) {
        let Pass {
            terms,
            expected,
            scratch,
            slice_ends,
            ..
        } = self;
        let slice = slice_ends.len();
        terms::visit_terms(event, scratch, |index, term| {
            let known = terms.entry(index).or_default();
            if !known.contains_key(term) {
                known.insert(term.to_string(), slice);
            }
            let by_term = expected.entry(index).or_default();
            let keys = match by_term.get_mut(term) {
                Some(keys) => keys,
                None => by_term.entry(term.to_string()).or_default(),
            };
            // A term may come more than once per event.
            if keys.last() != Some(&key) {
                keys.push(key);
            }
        });
        self.slice_keys.insert(key);
    }

    /// Compare every term met so far with the postings in the slice up to `hi`.
    fn close_slice(
        &mut self,
        store: &Store,
        hi: EventKey,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let range = KeyRange {
            lo: self.slice_lo,
            hi,
        };
        for (&index, terms) in &self.terms {
            for term in terms.keys() {
                let want = self
                    .expected
                    .get(&index)
                    .and_then(|t| t.get(term))
                    .map_or(&[][..], Vec::as_slice);
                compare_term(store, index, term, range, want, &self.slice_keys, report)?;
            }
        }
        self.expected.clear();
        self.slice_keys.clear();
        self.slice_ends.push(hi);
        if let Some(next) = next_key(hi) {
            self.slice_lo = next;
        }
        Ok(())
    }

    /// A term first met in a later slice was not looked for in the earlier ones: no
    /// event there carries it, so any posting there is wrong.
    fn check_slices_before_terms_appeared(
        &self,
        store: &Store,
        report: &mut VerifyReport,
    ) -> Result<()> {
        for (&index, terms) in &self.terms {
            for (term, &first) in terms {
                let Some(&hi) = first.checked_sub(1).and_then(|s| self.slice_ends.get(s)) else {
                    continue;
                };
                let range = KeyRange {
                    lo: EventKey::MIN,
                    hi,
                };
                let postings = store
                    .postings(index, &[TermMatch::Exact(term.clone())], range, 1)?
                    .into_iter()
                    .flatten();
                for posting in postings {
                    let key = posting?;
                    report.postings += 1;
                    let term = term.clone();
                    report.found(match store.get(key)? {
                        Some(_) => Problem::StrayPosting { index, term, key },
                        None => Problem::DanglingPosting { index, term, key },
                    });
                }
            }
        }
        Ok(())
    }
}

/// A second hash of the id (not the store's), so that the check does not share a
/// blind spot with the key layout.
fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

/// Walk one term's postings in `range` (newest first) alongside the keys that should be
/// there (`want`, oldest first) and report every difference.
fn compare_term(
    store: &Store,
    index: Index,
    term: &str,
    range: KeyRange,
    want: &[EventKey],
    stored: &HashSet<EventKey>,
    report: &mut VerifyReport,
) -> Result<()> {
    let postings = store
        .postings(index, &[TermMatch::Exact(term.to_string())], range, 1)?
        .into_iter()
        .flatten();
    let mut want = want.iter().rev().copied().peekable();
    let extra = |key: EventKey, report: &mut VerifyReport| {
        let term = term.to_string();
        report.found(if stored.contains(&key) {
            Problem::StrayPosting { index, term, key }
        } else {
            Problem::DanglingPosting { index, term, key }
        });
    };
    for posting in postings {
        let got = posting?;
        report.postings += 1;
        while let Some(w) = want.next_if(|w| *w > got) {
            missing(index, term, w, report);
        }
        if want.next_if_eq(&got).is_none() {
            extra(got, report);
        }
    }
    for w in want {
        missing(index, term, w, report);
    }
    Ok(())
}

fn missing(index: Index, term: &str, key: EventKey, report: &mut VerifyReport) {
    report.found(Problem::MissingPosting {
        index,
        term: term.to_string(),
        key,
    });
}

/// The key just above `k`.
fn next_key(k: EventKey) -> Option<EventKey> {
    if k.idhash < u64::MAX {
        Some(EventKey {
            ms: k.ms,
            idhash: k.idhash + 1,
        })
    } else if k.ms < i64::MAX {
        Some(EventKey {
            ms: k.ms + 1,
            idhash: 0,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    //! Damage is made through the current key layout (`EventKey::primary`, `codec`):
    //! the public API cannot make a store inconsistent, which is the point of it. If
    //! the layout changes, `put_record` and `drop_record` change with it.
    use super::*;
    use crate::model::{Event, EventKind, Ref, Severity, Vendor};
    use crate::store::{AppendBatch, StoreOptions, codec};
    use chrono::{TimeZone, Utc};

    fn ev(vid: &str, ms: i64, door: &str) -> Event {
        Event {
            id: Event::make_id("hq", vid),
            source: "hq".into(),
            vendor: Vendor::Kisi,
            occurred_at: Utc.timestamp_millis_opt(ms).unwrap(),
            received_at: Utc.timestamp_millis_opt(ms).unwrap(),
            kind: EventKind::AccessGranted,
            vendor_type: "lock.unlock".into(),
            severity: Severity::Info,
            door: Some(Ref::new(format!("d-{door}"), Some(door))),
            controller: None,
            person: Some(Ref::new("p1", Some("Jane Roe"))),
            site: None,
            credential: None,
            success: Some(true),
            summary: format!("Jane Roe unlocked {door}"),
            raw: serde_json::json!({"id": vid}).into(),
        }
    }

    /// `n` events, alternately at the Lobby and the Server Room.
    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let door = if i % 2 == 0 { "Lobby" } else { "Server Room" };
                ev(&i.to_string(), 1_700_000_000_000 + i as i64 * 1000, door)
            })
            .collect()
    }

    /// A store of `events`: postings of the first `flushed` on disk, the rest in
    /// memory (journaled), so that both halves of a term's postings are checked.
    fn store_of(dir: &std::path::Path, events: &[Event], flushed: usize) -> Store {
        let store = Store::open_with(
            dir,
            StoreOptions {
                posting_flush: 1_000_000,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let (first, rest) = events.split_at(flushed);
        let append = |part: &[Event]| {
            store
                .append(AppendBatch {
                    events: part.to_vec(),
                    ..AppendBatch::default()
                })
                .unwrap()
        };
        append(first);
        store.checkpoint(None).unwrap();
        append(rest);
        store
    }

    fn store_with(dir: &std::path::Path, n: usize, flushed: usize) -> (Store, Vec<Event>) {
        let events = events(n);
        (store_of(dir, &events, flushed), events)
    }

    fn key_of(e: &Event) -> EventKey {
        EventKey {
            ms: e.occurred_at.timestamp_millis(),
            idhash: crate::sources::fields::fnv1a64(e.id.as_bytes()),
        }
    }

    fn put_record(store: &Store, key: EventKey, e: &Event) {
        store.forge(key, Some(codec::encode(e)));
    }

    fn drop_record(store: &Store, key: EventKey) {
        store.forge(key, None);
    }

    #[test]
    fn a_consistent_store_passes_with_every_term_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_with(dir.path(), 40, 25);
        let r = store.verify().unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!((r.events, r.recorded_len), (40, 40));
        assert!(r.terms > 10);
        // Each event has ~15 distinct terms; every one of them is a posting.
        assert!(r.postings >= 40 * 10, "{}", r.postings);
    }

    #[test]
    fn slices_cover_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 23, 9);
        for slice in [1, 4, 22, 23, 100] {
            let r = verify_store(&store, slice).unwrap();
            assert!(r.is_consistent(), "slices of {slice}: {:?}", r.problems);
            assert_eq!(
                (r.events, r.postings),
                (23, store.verify().unwrap().postings)
            );
        }
        // Damage in the first and the last slice is found whatever the slicing.
        drop_record(&store, key_of(&events[0]));
        drop_record(&store, key_of(&events[22]));
        for slice in [1, 4, 22, 100] {
            let r = verify_store(&store, slice).unwrap();
            for e in [&events[0], &events[22]] {
                assert!(
                    r.problems.iter().any(|p| matches!(
                        p,
                        Problem::DanglingPosting { key, .. } if *key == key_of(e)
                    )),
                    "slices of {slice}: {:?}",
                    r.problems
                );
            }
        }
    }

    #[test]
    fn a_posting_in_a_slice_before_its_term_first_appears_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = events(12);
        for i in [1, 11] {
            events[i].door = Some(Ref::new("d-Attic", Some("Attic")));
        }
        let store = store_of(dir.path(), &events, 6);
        // Event 1 now reads as Lobby: Attic is first met in the last slice, and its
        // posting for event 1 lies in the first.
        let mut changed = events[1].clone();
        changed.door = Some(Ref::new("d-Lobby", Some("Lobby")));
        put_record(&store, key_of(&events[1]), &changed);
        let r = verify_store(&store, 4).unwrap();
        assert!(
            r.problems.contains(&Problem::StrayPosting {
                index: Index::Door,
                term: "i:d-Attic".into(),
                key: key_of(&events[1])
            }),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_missing_event_leaves_dangling_postings_and_a_wrong_count() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 10, 5);
        // One whose postings are on disk, one whose postings are journaled.
        drop_record(&store, key_of(&events[2]));
        drop_record(&store, key_of(&events[8]));
        let r = store.verify().unwrap();
        assert!(r.problems.contains(&Problem::CountMismatch {
            recorded: 10,
            scanned: 8
        }));
        for e in [&events[2], &events[8]] {
            assert!(
                r.problems.contains(&Problem::DanglingPosting {
                    index: Index::Door,
                    term: "i:d-Lobby".into(),
                    key: key_of(e),
                }),
                "{:?}",
                r.problems
            );
        }
    }

    #[test]
    fn a_changed_event_shows_stray_and_missing_postings() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 10, 5);
        // Event 2 (Lobby) now says Server Room under the same key.
        let mut moved = events[2].clone();
        moved.door = Some(Ref::new("d-Server Room", Some("Server Room")));
        put_record(&store, key_of(&events[2]), &moved);
        let r = store.verify().unwrap();
        let key = key_of(&events[2]);
        assert!(r.problems.contains(&Problem::StrayPosting {
            index: Index::Door,
            term: "i:d-Lobby".into(),
            key
        }));
        assert!(r.problems.contains(&Problem::MissingPosting {
            index: Index::Door,
            term: "i:d-Server Room".into(),
            key
        }));
        assert!(!r.is_consistent());
    }

    #[test]
    fn an_id_stored_twice_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 6, 3);
        let elsewhere = EventKey {
            ms: key_of(&events[4]).ms + 1,
            idhash: 7,
        };
        put_record(&store, elsewhere, &events[4]);
        let r = store.verify().unwrap();
        assert!(
            r.problems.iter().any(|p| matches!(
                p,
                Problem::DuplicateId { id, second, .. } if *id == events[4].id && *second == elsewhere
            )),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn an_undecodable_record_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 6, 3);
        store.forge(key_of(&events[1]), Some(vec![0xEE, 1, 2]));
        let r = store.verify().unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| matches!(p, Problem::Unreadable { .. })),
            "{:?}",
            r.problems
        );
        assert_eq!(r.events, 6);
    }

    #[test]
    fn a_payload_that_is_not_json_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 6, 3);
        // The record decodes (reads do not parse the payload), its terms and postings
        // are right: only the payload is damaged.
        let mut damaged = events[4].clone();
        damaged.raw = crate::model::RawJson::from_stored("{\"id\": \"4\"".into());
        put_record(&store, key_of(&events[4]), &damaged);
        assert_eq!(store.get(key_of(&events[4])).unwrap().unwrap(), damaged);
        let r = store.verify().unwrap();
        assert_eq!(r.problem_count, 1, "{:?}", r.problems);
        let Problem::BadPayload { key, id, detail } = &r.problems[0] else {
            panic!("{:?}", r.problems);
        };
        assert_eq!((key, id), (&key_of(&events[4]), &events[4].id));
        assert!(detail.contains("EOF"), "{detail}");
        assert!(
            r.problems[0]
                .to_string()
                .contains("raw payload is not JSON")
        );
    }

    #[test]
    fn problems_beyond_the_list_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (store, events) = store_with(dir.path(), 30, 10);
        // One event stays, so that its terms are looked up.
        for e in &events[1..] {
            drop_record(&store, key_of(e));
        }
        let r = store.verify().unwrap();
        assert_eq!(r.problems.len(), MAX_LISTED);
        assert!(r.problem_count > MAX_LISTED as u64);
    }
}

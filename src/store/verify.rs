//! `Store::verify`: is what the store holds consistent with itself?
//!
//! Checked through the store's public reading API only (scan, postings, len), so that
//! the check holds whatever the on-disk layout is, and checks what a search sees:
//! - every stored event decodes, and no event id is stored twice;
//! - every (index, term) of every event has a posting pointing at that event;
//! - every posting of every term points at a stored event that carries that term;
//! - `len()` is the number of events stored.
//!
//! Memory stays bounded for millions of events: the primary is read twice, the second
//! time in slices of [`SLICE_EVENTS`] events, and each term's postings are compared
//! with that slice only. The terms enumerated are those of the stored events (there is
//! no other list of them): a posting filed under a term that no stored event carries
//! is not looked for.

use super::terms::{self, Index, TermScratch};
use super::{EventKey, KeyRange, Result, Store, StoreError, TermMatch};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Events per slice of the second pass: ~25 terms each, 16 bytes a posting.
const SLICE_EVENTS: usize = 50_000;

/// Problems listed in full; beyond this they are only counted.
pub const MAX_LISTED: usize = 50;

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An event whose stored record does not decode.
    Unreadable { detail: String },
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
        super::damage::catch_panics(&self.path, || verify_store(self))
            .map_err(|e| e.located(&self.path))
    }
}

fn verify_store(store: &Store) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        recorded_len: store.len(),
        ..VerifyReport::default()
    };
    let first = first_pass(store, &mut report)?;
    if report.events != report.recorded_len {
        report.found(Problem::CountMismatch {
            recorded: report.recorded_len,
            scanned: report.events,
        });
    }
    report.terms = first.terms.values().map(|t| t.len() as u64).sum();
    // Slices cover every key, so every posting falls in one of them.
    let mut lo = EventKey::MIN;
    for hi in first.slice_ends.into_iter().chain([EventKey::MAX]) {
        check_slice(store, KeyRange { lo, hi }, &first.terms, &mut report)?;
        match next_key(hi) {
            Some(next) => lo = next,
            None => break,
        }
    }
    Ok(report)
}

/// What the first pass over the primary learns.
struct FirstPass {
    /// Every (index, term) of the stored events.
    terms: HashMap<Index, HashSet<String>>,
    /// The newest key of each full slice, oldest slice first.
    slice_ends: Vec<EventKey>,
}

/// Count the events, find repeated ids, collect the terms and cut the slices.
fn first_pass(store: &Store, report: &mut VerifyReport) -> Result<FirstPass> {
    let mut terms: HashMap<Index, HashSet<String>> = HashMap::new();
    let mut slice_ends = Vec::new();
    // By a hash of the id: a repeat of the hash is confirmed by reading both events.
    let mut ids: HashMap<u64, EventKey> = HashMap::new();
    let mut scratch = TermScratch::default();
    let mut in_slice = 0;
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
        if let Some(first) = ids.insert(id_hash(&event.id), key)
            && store.get(first)?.is_some_and(|e| e.id == event.id)
        {
            report.found(Problem::DuplicateId {
                id: event.id.clone(),
                first,
                second: key,
            });
        }
        terms::visit_terms(&event, &mut scratch, |index, term| {
            let set = terms.entry(index).or_default();
            if !set.contains(term) {
                set.insert(term.to_string());
            }
        });
        in_slice += 1;
        if in_slice == SLICE_EVENTS {
            slice_ends.push(key);
            in_slice = 0;
        }
    }
    Ok(FirstPass { terms, slice_ends })
}

/// A second hash of the id (not the store's), so that the check does not share a
/// blind spot with the key layout.
fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

/// Compare, for every known term, the postings in `range` with the events there.
fn check_slice(
    store: &Store,
    range: KeyRange,
    all_terms: &HashMap<Index, HashSet<String>>,
    report: &mut VerifyReport,
) -> Result<()> {
    // Term → keys of the slice's events carrying it, newest first.
    let mut expected: HashMap<Index, HashMap<String, Vec<EventKey>>> = HashMap::new();
    let mut stored: HashSet<EventKey> = HashSet::new();
    let mut scratch = TermScratch::default();
    for item in store.scan(range) {
        let (key, event) = match item {
            Ok(found) => found,
            // Counted by the first pass.
            Err(StoreError::Decode(_)) => continue,
            Err(e) => return Err(e),
        };
        stored.insert(key);
        terms::visit_terms(&event, &mut scratch, |index, term| {
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
    }
    for (&index, terms) in all_terms {
        for term in terms {
            let want = expected
                .get(&index)
                .and_then(|t| t.get(term))
                .map_or(&[][..], Vec::as_slice);
            compare_term(store, index, term, range, want, &stored, report)?;
        }
    }
    Ok(())
}

/// Walk one term's postings in `range` alongside the keys that should be there (both
/// newest first) and report every difference.
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
    let mut want = want.iter().copied().peekable();
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
            raw: serde_json::json!({"id": vid}),
        }
    }

    /// `n` events over two doors; postings of the first `flushed` on disk, the rest
    /// in memory (journaled), so that both halves of a term's postings are checked.
    fn store_with(dir: &std::path::Path, n: usize, flushed: usize) -> (Store, Vec<Event>) {
        let store = Store::open_with(
            dir,
            StoreOptions {
                posting_flush: 1_000_000,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let events: Vec<Event> = (0..n)
            .map(|i| {
                let door = if i % 2 == 0 { "Lobby" } else { "Server Room" };
                ev(&i.to_string(), 1_700_000_000_000 + i as i64 * 1000, door)
            })
            .collect();
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
        (store, events)
    }

    fn key_of(e: &Event) -> EventKey {
        EventKey {
            ms: e.occurred_at.timestamp_millis(),
            idhash: crate::sources::fields::fnv1a64(e.id.as_bytes()),
        }
    }

    fn put_record(store: &Store, key: EventKey, e: &Event) {
        store.tree.insert(key.primary(), codec::encode(e)).unwrap();
    }

    fn drop_record(store: &Store, key: EventKey) {
        store.tree.remove(key.primary()).unwrap();
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
        let (store, _) = store_with(dir.path(), SLICE_EVENTS + 7, 3);
        let r = store.verify().unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!(r.events, SLICE_EVENTS as u64 + 7);
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
        store
            .tree
            .insert(key_of(&events[1]).primary(), &[0xEE, 1, 2][..])
            .unwrap();
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

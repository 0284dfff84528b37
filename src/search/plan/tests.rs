use super::*;
use crate::model::{EventKind, Ref, Severity, Vendor};
use crate::search::Query;
use crate::store::{AppendBatch, StoreOptions};
use chrono::{TimeZone, Utc};

/// A small building: a few doors, two people, one event per minute.
fn building(store: &Store, n: i64) {
    let doors = ["Server Room", "Front Door", "Loading Dock", "Lobby"];
    let people = ["Jane Roe", "John Smith"];
    let events = (0..n)
        .map(|i| {
            let door = doors[(i % 4) as usize];
            let person = people[(i % 2) as usize];
            let (kind, sev, verb) = match i % 10 {
                0 => (EventKind::DoorForcedOpen, Severity::Alarm, "forced open"),
                3 | 7 => (EventKind::AccessDenied, Severity::Warning, "denied"),
                _ => (EventKind::AccessGranted, Severity::Info, "granted"),
            };
            let with_person = kind != EventKind::DoorForcedOpen;
            Event {
                id: format!("hq:{i}"),
                source: if i % 3 == 0 {
                    "annex".into()
                } else {
                    "hq".into()
                },
                vendor: if i % 2 == 0 {
                    Vendor::Pdk
                } else {
                    Vendor::Kisi
                },
                occurred_at: Utc
                    .timestamp_millis_opt(1_800_000_000_000 + i * 60_000)
                    .unwrap(),
                received_at: Utc
                    .timestamp_millis_opt(1_800_000_000_000 + i * 60_000)
                    .unwrap(),
                kind,
                vendor_type: "x.y".into(),
                severity: sev,
                door: Some(Ref::new(format!("door-{}", i % 4), Some(door))),
                controller: None,
                person: with_person.then(|| Ref::new(format!("p{}", i % 2), Some(person))),
                site: None,
                credential: None,
                success: None,
                summary: if with_person {
                    format!("{person} {verb} at {door}")
                } else {
                    format!("{door} {verb}")
                },
                raw: serde_json::json!({}).into(),
            }
        })
        .collect();
    store
        .append(AppendBatch {
            events,
            ..Default::default()
        })
        .unwrap();
}

fn now() -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + 100 * 60_000)
        .unwrap()
}

fn run(store: &Store, q: &str, limit: usize) -> Page {
    execute(store, &Query::parse(q, now()).unwrap(), limit, None).unwrap()
}

fn ids(page: &Page) -> Vec<String> {
    page.events.iter().map(|(_, e)| e.id.clone()).collect()
}

fn with_store(f: impl FnOnce(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    // A small flush size puts some postings on disk and some in memory.
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            posting_flush: 37,
            auto_checkpoint: true,
            ..Default::default()
        },
    )
    .unwrap();
    building(&store, 100);
    f(&store);
}

/// The reference answer: every event, filtered by the semantics alone.
fn brute(store: &Store, q: &str) -> Vec<String> {
    let q = Query::parse(q, now()).unwrap();
    store
        .scan(KeyRange::ALL)
        .map(|r| r.unwrap().1)
        .filter(|e| {
            q.since.is_none_or(|s| e.occurred_at >= s) && q.until.is_none_or(|u| e.occurred_at <= u)
        })
        .filter(|e| q.clauses.iter().all(|c| matches(c, e)))
        .map(|e| e.id)
        .collect()
}

#[test]
fn indexed_results_equal_the_brute_force_answer() {
    with_store(|store| {
        for q in [
            "",
            "kind:door.forced_open",
            "kind:door.*",
            "kind:access.*",
            "door:\"server room\"",
            "door:server",
            "door:door-1",
            "door:room",
            "door:\"room\"",
            "person:jane",
            "person:\"JANE ROE\"",
            "person:jane since:30m",
            "severity:alarm",
            "severity:warning source:annex",
            "vendor:kisi kind:access.denied",
            "denied",
            "DEN",
            "\"forced open\"",
            "\"orced open\"",
            "jane server",
            "since:10m",
            "until:2027-01-15T08:00:00Z since:2027-01-15T07:30:00Z",
            "nosuchword",
            "door:nowhere",
        ] {
            let page = run(store, q, 1000);
            assert_eq!(
                ids(&page),
                brute(store, q),
                "query {q:?} via {:?}",
                page.access
            );
        }
    });
}

#[test]
fn the_planner_drives_from_the_most_selective_index_and_never_full_scans_when_narrowed() {
    with_store(|store| {
        let plan = |q: &str| explain(store, &Query::parse(q, now()).unwrap()).unwrap();
        match plan("vendor:pdk kind:door.forced_open") {
            Access::Index {
                index, estimate, ..
            } => {
                assert_eq!(index, Index::Kind);
                assert_eq!(estimate, 10);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(plan("since:2h"), Access::TimeScan));
        assert!(matches!(plan(""), Access::FullScan));
        assert!(matches!(
            plan("door:nowhere person:jane"),
            Access::Index { estimate: 0, .. }
        ));
    });
}

#[test]
fn pages_walk_the_whole_result_without_overlap() {
    with_store(|store| {
        for q in ["", "person:jane", "since:90m"] {
            let parsed = Query::parse(q, now()).unwrap();
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let page = execute(store, &parsed, 7, before).unwrap();
                seen.extend(ids(&page));
                match page.next {
                    Some(k) => before = Some(k),
                    None => break,
                }
            }
            assert_eq!(seen, brute(store, q), "{q}");
        }
    });
}

#[test]
fn results_are_newest_first_and_limited() {
    with_store(|store| {
        let page = run(store, "kind:access.granted", 5);
        assert_eq!(page.events.len(), 5);
        assert!(
            page.events
                .windows(2)
                .all(|w| w[0].1.occurred_at > w[1].1.occurred_at)
        );
        assert!(page.next.is_some());
        assert_eq!(ids(&run(store, "kind:door.forced_open", 100)).len(), 10);
        assert!(run(store, "kind:door.forced_open", 100).next.is_none());
    });
}

#[test]
fn large_lists_are_intersected_and_still_exact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            posting_flush: 1_000,
            auto_checkpoint: true,
            ..Default::default()
        },
    )
    .unwrap();
    building(&store, 9_000);
    let now = Utc
        .timestamp_millis_opt(1_800_000_000_000 + 9_000 * 60_000)
        .unwrap();
    for text in [
        "granted door:lobby",
        "kind:access.granted person:jane",
        "severity:info vendor:pdk source:hq",
        "granted door:server",
    ] {
        let q = Query::parse(text, now).unwrap();
        match explain(&store, &q).unwrap() {
            Access::Index {
                estimate,
                intersect,
                ..
            } => {
                assert_eq!(estimate, ESTIMATE_CAP, "{text}");
                assert!(!intersect.is_empty(), "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let page = execute(&store, &q, 250, before).unwrap();
            got.extend(ids(&page));
            match page.next {
                Some(k) => before = Some(k),
                None => break,
            }
        }
        let want: Vec<String> = store
            .scan(KeyRange::ALL)
            .map(|r| r.unwrap().1)
            .filter(|e| q.clauses.iter().all(|c| matches(c, e)))
            .map(|e| e.id)
            .collect();
        assert!(!want.is_empty(), "{text}");
        assert_eq!(got, want, "{text}");
    }
}

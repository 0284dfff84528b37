use super::*;
use crate::model::{EventKind, Ref, Severity};
use chrono::TimeZone;

fn ev(source: &str, vid: &str, ms: i64, door: &str, kind: EventKind) -> Event {
    Event {
        id: Event::make_id(source, vid),
        source: source.into(),
        vendor: Vendor::Pdk,
        occurred_at: Utc.timestamp_millis_opt(ms).unwrap(),
        received_at: Utc.timestamp_millis_opt(ms + 5).unwrap(),
        kind,
        vendor_type: "device.request.allowed".into(),
        severity: Severity::Info,
        door: Some(Ref::new(format!("id-{door}"), Some(door))),
        controller: None,
        person: Some(Ref::new("p1", Some("Jane Roe"))),
        site: None,
        credential: None,
        success: Some(true),
        summary: format!("Jane Roe granted at {door}"),
        raw: serde_json::json!({"vid": vid}).into(),
    }
}

fn batch(events: Vec<Event>) -> AppendBatch {
    AppendBatch {
        events,
        ..Default::default()
    }
}

fn small(dir: &Path) -> Store {
    Store::open_with(
        dir,
        StoreOptions {
            posting_flush: 3,
            auto_checkpoint: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Events `from..from + n` at the Lobby, one ms apart from 1000 + `from`.
fn lobby_events(from: i64, n: i64) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            ev(
                "hq",
                &i.to_string(),
                1000 + i,
                "Lobby",
                EventKind::AccessGranted,
            )
        })
        .collect()
}

fn keys_of(store: &Store, index: Index, term: TermMatch) -> Vec<i64> {
    store
        .postings(index, &[term], KeyRange::ALL, 100)
        .unwrap()
        .unwrap()
        .map(|k| k.unwrap().ms)
        .collect()
}

#[test]
fn the_same_event_twice_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let e = ev("hq", "1", 1000, "Lobby", EventKind::AccessGranted);
    let r = store.append(batch(vec![e.clone(), e.clone()])).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (1, 1));
    let r = store.append(batch(vec![e.clone()])).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (0, 1));
    // Re-delivered with another timestamp (vendor clock moved): still one event.
    let mut moved = e.clone();
    moved.occurred_at = Utc.timestamp_millis_opt(99_000).unwrap();
    let r = store.append(batch(vec![moved])).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (0, 1));
    assert_eq!(store.len(), 1);
}

#[test]
fn dedupe_holds_across_posting_flushes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let events = lobby_events(0, 10);
    {
        let store = small(dir.path());
        store.append(batch(events[..7].to_vec())).unwrap();
        // Dropped without an explicit flush: the journal must cover the tail.
    }
    let store = small(dir.path());
    let r = store.append(batch(events.clone())).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (3, 7));
    assert_eq!(store.len(), 10);
    let mut moved = events[3].clone(); // stored before the reopen
    moved.occurred_at = Utc.timestamp_millis_opt(5).unwrap();
    assert_eq!(store.append(batch(vec![moved])).unwrap().duplicates, 1);
}

#[test]
fn postings_survive_a_crash_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(
            dir.path(),
            StoreOptions {
                posting_flush: 1_000,
                auto_checkpoint: true,
                ..Default::default()
            },
        )
        .unwrap();
        store
            .append(batch(vec![
                ev("hq", "a", 10, "Server Room", EventKind::DoorForcedOpen),
                ev("hq", "b", 20, "Lobby", EventKind::AccessGranted),
            ]))
            .unwrap();
        store.db.flush().unwrap();
        // Simulate kill -9: skip Drop, so postings stay unwritten (journal only).
        std::mem::forget(store);
    }
    // sled's own lock is released when the process dies; in one process the leaked
    // handle still holds it, so open a copy of the files instead.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("store"), &copy.path().join("store"));
    let store = Store::open(copy.path()).unwrap();
    assert_eq!(
        keys_of(
            &store,
            Index::Door,
            TermMatch::Exact(terms::ref_name_term("server room"))
        ),
        vec![10]
    );
    assert_eq!(
        keys_of(&store, Index::Kind, TermMatch::Prefix("door.".into())),
        vec![10]
    );
    assert_eq!(
        keys_of(
            &store,
            Index::Person,
            TermMatch::Exact(terms::ref_word_term("roe"))
        ),
        vec![20, 10]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn postings_merge_memory_and_disk_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    for i in 0..8 {
        let kind = if i % 2 == 0 {
            EventKind::DoorOpened
        } else {
            EventKind::DoorClosed
        };
        store
            .append(batch(vec![ev(
                "hq",
                &i.to_string(),
                100 * (8 - i),
                "Lobby",
                kind,
            )]))
            .unwrap();
    }
    assert_eq!(
        keys_of(&store, Index::Kind, TermMatch::Prefix("door.".into())),
        vec![800, 700, 600, 500, 400, 300, 200, 100]
    );
    assert_eq!(
        keys_of(&store, Index::Kind, TermMatch::Exact("door.closed".into())),
        vec![700, 500, 300, 100]
    );
    let ranged: Vec<i64> = store
        .postings(
            Index::Kind,
            &[TermMatch::Prefix("door.".into())],
            KeyRange::time(Some(300), Some(600)),
            10,
        )
        .unwrap()
        .unwrap()
        .map(|k| k.unwrap().ms)
        .collect();
    assert_eq!(ranged, vec![600, 500, 400, 300]);
    let all: Vec<i64> = store.scan(KeyRange::ALL).map(|r| r.unwrap().0.ms).collect();
    assert_eq!(all, vec![800, 700, 600, 500, 400, 300, 200, 100]);
}

#[test]
fn too_broad_prefix_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    store
        .append(batch(vec![
            ev("hq", "1", 1, "Alpha", EventKind::DoorOpened),
            ev("hq", "2", 2, "Alps", EventKind::DoorOpened),
            ev("hq", "3", 3, "Altitude", EventKind::DoorOpened),
        ]))
        .unwrap();
    assert!(
        store
            .postings(
                Index::Word,
                &[TermMatch::Prefix("al".into())],
                KeyRange::ALL,
                2
            )
            .unwrap()
            .is_none()
    );
    assert_eq!(
        keys_of(&store, Index::Word, TermMatch::Prefix("alp".into())),
        vec![2, 1]
    );
}

#[test]
fn cursor_and_quarantine_commit_with_events() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = small(dir.path());
        let q = QuarantineRecord {
            source: "hq".into(),
            vendor: Vendor::Pdk,
            received_at: Utc.timestamp_millis_opt(7).unwrap(),
            error: "not JSON".into(),
            raw: "{{{".into(),
        };
        let r = store
            .append(AppendBatch {
                events: vec![ev("hq", "1", 1, "Lobby", EventKind::DoorOpened)],
                quarantine: vec![q.clone()],
                cursor: Some(("hq".into(), b"page-2".to_vec())),
            })
            .unwrap();
        assert_eq!(r.quarantined, 1);
        assert_eq!(store.quarantined().unwrap(), vec![q]);
    }
    let store = small(dir.path());
    assert_eq!(store.cursor("hq").unwrap().as_deref(), Some(&b"page-2"[..]));
    assert_eq!(store.cursor("other").unwrap(), None);
    assert_eq!(store.quarantine_count().unwrap(), 1);
    // Sequence numbers continue after reopen instead of overwriting.
    store
        .append(AppendBatch {
            quarantine: vec![QuarantineRecord {
                source: "hq".into(),
                vendor: Vendor::Pdk,
                received_at: Utc::now(),
                error: "again".into(),
                raw: "x".into(),
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.quarantine_count().unwrap(), 2);
}

#[test]
fn a_newer_format_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = small(dir.path());
        store
            .tree
            .insert(
                keys::named(META, META_SCHEMA),
                &(SCHEMA_VERSION + 1).to_be_bytes(),
            )
            .unwrap();
    }
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    assert!(err.to_string().contains("newer doorwatch"), "{err}");
}

#[test]
fn a_second_open_reports_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _first = small(dir.path());
    let err = Store::open(dir.path())
        .err()
        .expect("second open must fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
}

#[test]
fn events_round_trip_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let e = ev(
        "hq",
        "1",
        1_700_000_000_123,
        "Lobby",
        EventKind::AccessGranted,
    );
    store.append(batch(vec![e.clone()])).unwrap();
    let (_, back) = store.scan(KeyRange::ALL).next().unwrap().unwrap();
    assert_eq!(back, e);
}

#[test]
fn a_checkpoint_saves_the_snapshot_with_the_postings_and_the_journal_holds_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(
            dir.path(),
            StoreOptions {
                posting_flush: 2,
                ..Default::default()
            },
        )
        .unwrap();
        store
            .append(batch(vec![
                ev("hq", "1", 1, "Lobby", EventKind::DoorOpened),
                ev("hq", "2", 2, "Lobby", EventKind::DoorClosed),
            ]))
            .unwrap();
        assert!(store.needs_checkpoint());
        store.checkpoint(Some(b"state-after-2")).unwrap();
        assert!(!store.needs_checkpoint());
        store
            .append(batch(vec![ev(
                "hq",
                "3",
                3,
                "Lobby",
                EventKind::DoorOpened,
            )]))
            .unwrap();
        // Closed without a checkpoint: event 3 must stay in the journal.
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.snapshot().unwrap().as_deref(),
        Some(&b"state-after-2"[..])
    );
    let rest: Vec<String> = store
        .uncheckpointed()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(rest, vec!["hq:3"]);
    assert_eq!(
        keys_of(
            &store,
            Index::Door,
            TermMatch::Exact(terms::ref_word_term("lobby"))
        ),
        vec![3, 2, 1]
    );
}

#[test]
fn audit_is_append_only_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = small(dir.path());
        assert_eq!(
            store
                .append_audit(&[b"one".to_vec(), b"two".to_vec()])
                .unwrap(),
            0
        );
    }
    let store = small(dir.path());
    assert_eq!(store.audit_len(), 2);
    assert_eq!(store.append_audit(&[b"three".to_vec()]).unwrap(), 2);
    let all: Vec<Vec<u8>> = store
        .audit_from(0)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        all,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(store.audit_from(2).unwrap(), vec![(2, b"three".to_vec())]);
}

/// Appends in shuffled time order (backfills landing inside older pages, live events
/// after the newest) agree with a plain map of what went in, by key and by scan.
#[test]
fn pages_hold_every_event_once_whatever_the_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let mut rng = crate::sim::history::Rng::new(7);
    let mut model = std::collections::BTreeMap::new();
    let mut all = Vec::new();
    for i in 0..6000u64 {
        let ms = 1_000_000 + rng.below(50_000) as i64;
        all.push(ev(
            "hq",
            &i.to_string(),
            ms,
            "Lobby",
            EventKind::AccessGranted,
        ));
    }
    let mut offered = 0;
    let mut dupes = 0;
    for chunk in all.chunks(257) {
        // Every batch also re-offers a few events from earlier batches.
        let mut events = chunk.to_vec();
        for _ in 0..5 {
            events.push(all[rng.below(offered.max(1) as u64) as usize].clone());
        }
        offered += chunk.len();
        let r = store.append(batch(events)).unwrap();
        dupes += r.duplicates;
        for e in r.stored {
            assert!(model.insert(e.id.clone(), e).is_none(), "stored twice");
        }
    }
    assert_eq!(model.len(), 6000);
    assert!(dupes >= 5 * 23, "{dupes}");
    assert_eq!(store.len(), 6000);
    let scanned: Vec<(EventKey, Event)> = store.scan(KeyRange::ALL).map(|r| r.unwrap()).collect();
    assert_eq!(scanned.len(), 6000);
    assert!(scanned.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    for (key, event) in &scanned {
        assert_eq!(store.get(*key).unwrap().as_ref(), Some(event));
        assert_eq!(model.get(&event.id), Some(event));
    }
    let oldest: Vec<EventKey> = store.scan_oldest_first().map(|r| r.unwrap().0).collect();
    assert!(oldest.iter().rev().eq(scanned.iter().map(|(k, _)| k)));
    // A time window reads exactly the events inside it.
    let range = KeyRange::time(Some(1_020_000), Some(1_020_999));
    let inside = store.scan(range).count();
    let expected = model
        .values()
        .filter(|e| (1_020_000..=1_020_999).contains(&e.occurred_at.timestamp_millis()))
        .count();
    assert_eq!(inside, expected);
    drop(store);
    assert_eq!(small(dir.path()).scan(KeyRange::ALL).count(), 6000);
}

/// Two ids whose hashes collide at the same millisecond both stay stored.
#[test]
fn an_id_hash_collision_probes_to_a_free_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let a = ev("hq", "a", 5000, "Lobby", EventKind::AccessGranted);
    let b = ev("hq", "b", 5000, "Lobby", EventKind::AccessGranted);
    let key = EventKey {
        ms: 5000,
        idhash: fnv1a64(a.id.as_bytes()),
    };
    store.append(batch(vec![a.clone()])).unwrap();
    // Forge b under a's natural key, as a colliding hash would place it.
    let mut writes = sled::Batch::default();
    let page = pages::encode(&[(key, codec::encode(&b))]);
    writes.insert(&key.page(), page);
    store.tree.apply_batch(writes).unwrap();
    let r = store.append(batch(vec![a.clone()])).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (1, 0), "a is not b");
    let stored = r.stored[0].clone();
    assert_eq!(stored.id, a.id);
    let ids: Vec<String> = store.scan(KeyRange::ALL).map(|r| r.unwrap().1.id).collect();
    assert_eq!(ids.len(), 2);
    let r = store.append(batch(vec![a])).unwrap();
    assert_eq!(
        (r.stored.len(), r.duplicates),
        (0, 1),
        "found at its probed key"
    );
}

/// A store written in format 1 (one sled value per event) opens with every event,
/// its postings and its dedupe intact.
#[test]
fn a_format_1_store_is_migrated_to_pages_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..500)
        .map(|i| {
            ev(
                "hq",
                &i.to_string(),
                10_000 + i * 7,
                "Lobby",
                EventKind::AccessGranted,
            )
        })
        .collect();
    {
        let store = small(dir.path());
        let mut writes = sled::Batch::default();
        for e in &events {
            let key = EventKey {
                ms: e.occurred_at.timestamp_millis(),
                idhash: fnv1a64(e.id.as_bytes()),
            };
            let mut k = vec![keys::EVENT];
            k.extend_from_slice(&key.to_bytes());
            writes.insert(k, codec::encode(e));
        }
        writes.insert(keys::named(META, META_SCHEMA), &1u32.to_be_bytes());
        writes.insert(keys::named(META, META_COUNT), &500u64.to_be_bytes());
        store.tree.apply_batch(writes).unwrap();
    }
    let store = small(dir.path());
    assert_eq!(store.scan(KeyRange::ALL).count(), 500);
    assert_eq!(store.tree.scan_prefix([keys::EVENT]).count(), 0);
    let r = store.append(batch(events.clone())).unwrap();
    assert_eq!((r.stored.len(), r.duplicates), (0, 500));
    drop(store);
    let store = small(dir.path());
    assert_eq!(store.scan_oldest_first().count(), 500);
}

/// sled refuses a changed segment size, so a store created with its default reopens
/// with the size it was made with.
#[test]
fn a_store_made_with_another_segment_size_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    sled::Config::new()
        .path(&path)
        .segment_size(512 * 1024)
        .open()
        .unwrap()
        .flush()
        .unwrap();
    assert_eq!(segment_size(&path), 512 * 1024);
    let store = small(dir.path());
    store
        .append(batch(vec![ev(
            "hq",
            "1",
            1000,
            "Lobby",
            EventKind::AccessGranted,
        )]))
        .unwrap();
    drop(store);
    assert_eq!(small(dir.path()).len(), 1);
    let fresh = tempfile::tempdir().unwrap();
    drop(small(fresh.path()));
    assert_eq!(segment_size(&fresh.path().join("store")), SEGMENT_SIZE);
}

#[test]
fn a_checkpoint_is_due_once_the_oldest_journal_event_is_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            checkpoint_after: std::time::Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!store.needs_checkpoint(), "nothing waits");
    store
        .append(batch(vec![ev(
            "hq",
            "1",
            1,
            "Lobby",
            EventKind::DoorOpened,
        )]))
        .unwrap();
    assert!(!store.needs_checkpoint(), "one event, just written");
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert!(
        store.needs_checkpoint(),
        "the journal's oldest event is old enough"
    );
    store.checkpoint(None).unwrap();
    assert!(!store.needs_checkpoint(), "the checkpoint took the journal");
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert!(!store.needs_checkpoint(), "an empty journal never ages");
}

#[test]
fn postings_flushed_in_the_background_are_found_meanwhile_and_land_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let lobby = || TermMatch::Exact("i:id-Lobby".into());
    let held = store.gate.hold.lock().unwrap();
    // The third event makes a flush due; it waits at the gate.
    store.append(batch(lobby_events(0, 3))).unwrap();
    assert!(store.lock().in_flight.is_some());
    store.append(batch(lobby_events(3, 1))).unwrap();
    let want: Vec<i64> = (1000..1004).rev().collect();
    assert_eq!(keys_of(&store, Index::Door, lobby()), want);
    assert_eq!(
        keys_of(&store, Index::Door, TermMatch::Prefix("i:id-Lo".into())),
        want
    );
    drop(held);
    store.flush().unwrap();
    assert!(store.lock().in_flight.is_none());
    assert_eq!(keys_of(&store, Index::Door, lobby()), want);
    drop(store);
    let store = small(dir.path());
    assert_eq!(keys_of(&store, Index::Door, lobby()), want);
    assert!(store.verify().unwrap().problems.is_empty());
}

#[test]
fn a_background_flush_that_fails_says_so_and_its_postings_stay_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = small(dir.path());
    let lobby = || TermMatch::Exact("i:id-Lobby".into());
    store
        .gate
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    store.append(batch(lobby_events(0, 3))).unwrap();
    let err = store.flush().unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    // Rebuilt from the journal, which the failed flush did not drop.
    let want: Vec<i64> = (1000..1003).rev().collect();
    assert_eq!(keys_of(&store, Index::Door, lobby()), want);
    // A flush started by an append fails on its thread; the append that makes the
    // next one due hears of it before its own batch commits.
    store.append(batch(lobby_events(3, 2))).unwrap();
    let err = store.append(batch(lobby_events(5, 3))).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    store
        .gate
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(store.len(), 5);
    store.append(batch(lobby_events(5, 3))).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = small(dir.path());
    let want: Vec<i64> = (1000..1008).rev().collect();
    assert_eq!(keys_of(&store, Index::Door, lobby()), want);
    assert_eq!(store.len(), 8);
    assert!(store.verify().unwrap().problems.is_empty());
}

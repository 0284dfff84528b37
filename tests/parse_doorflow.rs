//! DoorFlow fixture → unified events: every item checked against a table written by hand
//! from the DoorFlow brief (docs: shared/protocols/doorflow.md §3.4, §4).

use chrono::{TimeZone, Utc};
use doorwatch::model::{Event, Ref, Vendor, format_time};
use doorwatch::sources::{ParseContext, parse_batch, split_import};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/doorflow/events.json");

type Named = Option<(&'static str, &'static str)>;

/// (vendor id, vendor_type, kind, severity, door, controller, person, occurred_at UTC).
type Row = (
    u64,
    &'static str,
    &'static str,
    &'static str,
    Named,
    Named,
    Named,
    &'static str,
);

/// Brisbane channels send +10:00, New York channels -05:00, LDAP sync events Z.
#[rustfmt::skip]
const EXPECTED: &[Row] = &[
    (55101, "event_code:1", "controller.online", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-01T20:00:02.000Z"),
    (55102, "event_code:100", "controller.sync_started", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-01T20:00:10.000Z"),
    (55103, "event_code:105", "controller.sync_finished", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-01T20:00:41.000Z"),
    (55104, "event_code:40", "door.scheduled_unlock_started", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-01T21:00:00.000Z"),
    (55105, "event_code:10", "access.granted", "info", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9001", "Jane Roe")), "2026-03-01T21:42:13.000Z"),
    (55106, "event_code:11", "access.granted", "info", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), Some(("9002", "John Smith")), "2026-03-01T21:55:40.000Z"),
    (55107, "event_code:12", "access.granted", "info", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T22:03:12.000Z"),
    (55108, "event_code:13", "door.exit_request", "info", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T22:05:00.000Z"),
    (55109, "event_code:14", "access.granted", "info", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T22:10:30.000Z"),
    (55110, "event_code:15", "access.granted", "info", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9003", "Priya Natarajan")), "2026-03-01T22:21:09.000Z"),
    (55111, "event_code:16", "access.granted", "info", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9004", "Marcus Chen")), "2026-03-01T22:30:00.000Z"),
    (55112, "event_code:17", "access.granted", "info", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9003", "Priya Natarajan")), "2026-03-01T22:31:45.000Z"),
    (55113, "event_code:18", "access.granted", "info", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9002", "John Smith")), "2026-03-01T22:33:02.000Z"),
    (55114, "event_code:70", "access.granted", "info", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9001", "Jane Roe")), "2026-03-01T22:40:27.000Z"),
    (55115, "event_code:20", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-01T22:47:51.000Z"),
    (55116, "event_code:21", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9001", "Jane Roe")), "2026-03-01T22:49:02.000Z"),
    (55117, "event_code:22", "access.denied", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), Some(("9002", "John Smith")), "2026-03-01T22:52:10.000Z"),
    (55118, "event_code:23", "access.denied", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), Some(("9004", "Marcus Chen")), "2026-03-01T22:53:44.000Z"),
    (55119, "event_code:24", "access.denied", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T22:54:30.000Z"),
    (55120, "event_code:32", "door.forced_open", "alarm", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-01T23:14:05.000Z"),
    (55121, "event_code:31", "door.closed", "notice", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-01T23:15:32.000Z"),
    (55122, "event_code:25", "access.denied", "warning", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9003", "Priya Natarajan")), "2026-03-01T23:20:11.000Z"),
    (55123, "event_code:26", "access.denied", "warning", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-01T23:21:00.000Z"),
    (55124, "event_code:27", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9004", "Marcus Chen")), "2026-03-01T23:30:15.000Z"),
    (55125, "event_code:28", "access.denied", "warning", Some(("4101", "Front Door")), Some(("4101", "Front Door")), Some(("9002", "John Smith")), "2026-03-01T23:31:59.000Z"),
    (55126, "event_code:29", "access.denied", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), Some(("9001", "Jane Roe")), "2026-03-01T23:40:00.000Z"),
    (55127, "event_code:71", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9001", "Jane Roe")), "2026-03-01T23:45:10.000Z"),
    (55128, "event_code:72", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9004", "Marcus Chen")), "2026-03-01T23:45:40.000Z"),
    (55129, "event_code:73", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9003", "Priya Natarajan")), "2026-03-01T23:46:05.000Z"),
    (55130, "event_code:30", "door.exit_request", "info", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T23:50:00.000Z"),
    (55131, "event_code:33", "door.held_open", "alarm", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T23:52:30.000Z"),
    (55132, "event_code:31", "door.closed", "notice", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-01T23:55:01.000Z"),
    (55133, "event_code:34", "other", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-02T00:00:00.000Z"),
    (55134, "event_code:35", "other", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-02T00:00:20.000Z"),
    (55135, "event_code:36", "other", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-02T00:01:00.000Z"),
    (55136, "event_code:37", "other", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-02T00:01:30.000Z"),
    (55137, "event_code:50", "access.granted", "info", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9001", "Jane Roe")), "2026-03-02T00:02:00.000Z"),
    (55138, "event_code:51", "access.denied", "warning", Some(("4102", "Server Room")), Some(("4102", "Server Room")), Some(("9004", "Marcus Chen")), "2026-03-02T00:03:00.000Z"),
    (55139, "event_code:52", "access.denied", "warning", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), Some(("9002", "John Smith")), "2026-03-02T00:04:00.000Z"),
    (55140, "event_code:41", "door.scheduled_unlock_ended", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-02T08:00:00.000Z"),
    (55141, "event_code:42", "other", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-02T08:00:01.000Z"),
    (55142, "event_code:53", "other", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-02T08:10:00.000Z"),
    (55143, "event_code:54", "other", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-02T08:11:00.000Z"),
    (55144, "event_code:55", "other", "notice", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-02T08:12:00.000Z"),
    (55145, "event_code:56", "other", "notice", Some(("4102", "Server Room")), Some(("4102", "Server Room")), None, "2026-03-02T08:13:00.000Z"),
    (55146, "event_code:57", "other", "notice", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-02T08:14:00.000Z"),
    (55147, "event_code:58", "other", "notice", Some(("4103", "Loading Dock")), Some(("4103", "Loading Dock")), None, "2026-03-02T08:15:00.000Z"),
    (55148, "event_code:59", "other", "notice", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-02T08:16:00.000Z"),
    (55149, "event_code:60", "other", "notice", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-02T08:17:00.000Z"),
    (55150, "event_code:61", "other", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T08:18:00.000Z"),
    (55151, "event_code:62", "other", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T08:19:00.000Z"),
    (55152, "event_code:63", "other", "notice", Some(("4101", "Front Door")), Some(("4101", "Front Door")), None, "2026-03-02T08:20:00.000Z"),
    (55201, "event_code:2", "controller.offline", "warning", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-02T11:30:00.000Z"),
    (55202, "event_code:1", "controller.online", "notice", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-02T11:31:12.000Z"),
    (55203, "event_code:101", "controller.sync_finished", "notice", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-02T11:31:20.000Z"),
    (55204, "event_code:10", "access.granted", "info", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), Some(("9001", "Jane Roe")), "2026-03-02T13:58:12.000Z"),
    (55205, "event_code:21", "access.denied", "warning", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), Some(("9005", "Ana Lima")), "2026-03-02T14:12:45.500Z"),
    (55206, "event_code:90", "device.tamper", "alarm", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T16:20:03.000Z"),
    (55207, "event_code:91", "device.tamper_cleared", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T16:26:40.000Z"),
    (55208, "event_code:3", "controller.offline", "warning", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:05:00.000Z"),
    (55209, "event_code:1", "controller.online", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:09:30.000Z"),
    (55210, "event_code:100", "controller.sync_started", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:09:35.000Z"),
    (55211, "event_code:102", "other", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:09:36.000Z"),
    (55212, "event_code:103", "other", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:09:50.000Z"),
    (55213, "event_code:104", "other", "notice", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:10:20.000Z"),
    (55214, "event_code:107", "controller.sync_failed", "warning", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:11:35.000Z"),
    (55215, "event_code:106", "controller.sync_failed", "warning", Some(("4202", "Comms Cupboard")), Some(("4202", "Comms Cupboard")), None, "2026-03-02T18:12:05.000Z"),
    (55216, "event_code:32", "door.forced_open", "alarm", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-03T03:47:19.000Z"),
    (55217, "event_code:999", "other", "info", Some(("4201", "Lobby Entrance")), Some(("4201", "Lobby Entrance")), None, "2026-03-03T04:30:00.000Z"),
    (55301, "event_code:220", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:00.000Z"),
    (55302, "event_code:221", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:07.000Z"),
    (55303, "event_code:222", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:14.000Z"),
    (55304, "event_code:223", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:21.000Z"),
    (55305, "event_code:224", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:28.000Z"),
    (55306, "event_code:225", "admin.ldap_sync", "info", None, None, None, "2026-03-03T02:00:35.000Z"),
];

fn ctx() -> ParseContext<'static> {
    ParseContext {
        source: "hq-doorflow",
        received_at: Utc.with_ymd_and_hms(2026, 3, 3, 6, 0, 0).unwrap(),
    }
}

fn parsed() -> (Vec<Value>, Vec<Event>) {
    let (items, rejected) = split_import(Vendor::Doorflow, FIXTURE);
    assert!(rejected.is_empty(), "fixture lines rejected: {rejected:?}");
    let events = parse_batch(Vendor::Doorflow, &ctx(), items.clone())
        .into_iter()
        .map(|r| r.unwrap_or_else(|rej| panic!("rejected {}: {}", rej.raw, rej.error)))
        .collect();
    (items, events)
}

fn named(r: &Option<Ref>) -> Option<(&str, &str)> {
    r.as_ref()
        .map(|r| (r.id.as_str(), r.name.as_deref().unwrap_or("<no name>")))
}

#[test]
fn every_fixture_item_parses_as_expected() {
    let (items, events) = parsed();
    assert_eq!(
        events.len(),
        EXPECTED.len(),
        "fixture and table differ in length"
    );
    for ((item, e), row) in items.iter().zip(&events).zip(EXPECTED) {
        let (vid, vtype, kind, severity, door, controller, person, at) = *row;
        let what = format!("event {vid}");
        assert_eq!(e.id, format!("hq-doorflow:{vid}"), "{what}");
        assert_eq!(e.source, "hq-doorflow", "{what}");
        assert_eq!(e.vendor, Vendor::Doorflow, "{what}");
        assert_eq!(e.vendor_type, vtype, "{what}");
        assert_eq!(e.kind.name(), kind, "{what}");
        assert_eq!(e.severity.as_str(), severity, "{what}");
        assert_eq!(named(&e.door), door, "{what} door");
        assert_eq!(named(&e.controller), controller, "{what} controller");
        assert_eq!(named(&e.person), person, "{what} person");
        assert_eq!(e.site, None, "{what}");
        assert_eq!(format_time(&e.occurred_at), at, "{what} occurred_at");
        assert_eq!(e.received_at, ctx().received_at, "{what}");
        assert_eq!(&e.raw, item, "{what}: raw must be the payload unchanged");
        assert!(
            !e.summary.is_empty() && !e.summary.contains('\n'),
            "{what}: {}",
            e.summary
        );
        match kind {
            "access.granted" => assert_eq!(e.success, Some(true), "{what}"),
            "access.denied" => assert_eq!(e.success, Some(false), "{what}"),
            _ => {}
        }
    }
}

#[test]
fn fixture_covers_every_code_in_the_brief() {
    let (_, events) = parsed();
    let codes: Vec<String> = events.iter().map(|e| e.vendor_type.clone()).collect();
    let listed = (1..=3)
        .chain(10..=18)
        .chain(20..=29)
        .chain(30..=37)
        .chain(40..=42)
        .chain(50..=63)
        .chain(70..=73)
        .chain([90, 91])
        .chain(100..=107)
        .chain(220..=225);
    for code in listed {
        let want = format!("event_code:{code}");
        assert!(codes.contains(&want), "no fixture item for {want}");
    }
}

#[test]
fn summaries_read_like_a_guard_would_say_them() {
    let (_, events) = parsed();
    let by_id = |vid: u64| {
        let id = format!("hq-doorflow:{vid}");
        events
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    assert_eq!(by_id(55105).summary, "Jane Roe admitted at Front Door");
    assert_eq!(
        by_id(55106).summary,
        "John Smith admitted at Loading Dock (PIN)"
    );
    assert_eq!(
        by_id(55116).summary,
        "Jane Roe rejected at Server Room: out of hours"
    );
    assert_eq!(
        by_id(55115).summary,
        "Unknown person rejected at Server Room: unauthorised card/fob"
    );
    assert_eq!(
        by_id(55127).summary,
        "Jane Roe rejected at Server Room: Rejected (MFA)"
    );
    assert_eq!(by_id(55120).summary, "Server Room forced open");
    assert_eq!(by_id(55131).summary, "Loading Dock held open too long");
    assert_eq!(
        by_id(55121).summary,
        "Server Room back to normal (door closed)"
    );
    assert_eq!(
        by_id(55208).summary,
        "Comms Cupboard controller offline (contact lost)"
    );
    assert_eq!(by_id(55215).summary, "Comms Cupboard sync failed");
    assert_eq!(
        by_id(55217).summary,
        "Channel firmware updated at Lobby Entrance"
    );
    assert_eq!(by_id(55301).summary, "LDAP sync");
    // The card number is kept as the credential (the UI masks it), never in the summary.
    assert_eq!(by_id(55115).credential.as_deref(), Some("00999321"));
    assert!(!by_id(55115).summary.contains("00999321"));
    assert_eq!(by_id(55120).credential, None);
}

#[test]
fn json_lines_and_garbage_lines() {
    let mut text: String = FIXTURE
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| format!("{}\n", l.trim().trim_end_matches(',')))
        .take(3)
        .collect();
    text.push_str("{\"id\": 1, \"event_code\": 10\n");
    text.push_str("{\"id\": 2, \"event_code\": 10, \"created_at\": \"not a time\"}\n");
    text.push_str("[1, \"two\"]\n");
    let (items, rejected) = split_import(Vendor::Doorflow, &text);
    assert_eq!(rejected.len(), 1, "the truncated line");
    let results = parse_batch(Vendor::Doorflow, &ctx(), items);
    assert_eq!(results.len(), 6);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    let errors: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|r| r.error.as_str())
        .collect();
    assert!(errors[0].contains("created_at"), "{errors:?}");
}

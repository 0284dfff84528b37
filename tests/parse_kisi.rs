//! Kisi fixture → unified events: every item's kind, door, person, controller and time,
//! checked against a table written by hand (not derived from the parser).

use chrono::{TimeZone, Utc};
use doorwatch::model::{Event, Severity, Vendor, format_time};
use doorwatch::sources::{self, ParseContext, kisi};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/kisi/events.json");

struct Want {
    id: &'static str,
    kind: &'static str,
    severity: Severity,
    door: Option<(&'static str, Option<&'static str>)>,
    person: Option<&'static str>,
    controller: Option<(&'static str, Option<&'static str>)>,
    at: &'static str,
}

const fn w(
    id: &'static str,
    kind: &'static str,
    severity: Severity,
    door: Option<(&'static str, Option<&'static str>)>,
    person: Option<&'static str>,
    controller: Option<(&'static str, Option<&'static str>)>,
    at: &'static str,
) -> Want {
    Want {
        id,
        kind,
        severity,
        door,
        person,
        controller,
        at,
    }
}

const FRONT: Option<(&str, Option<&str>)> = Some(("1201", Some("Front Door")));
const SERVER: Option<(&str, Option<&str>)> = Some(("1202", Some("Server Room")));
const DOCK: Option<(&str, Option<&str>)> = Some(("1203", Some("Loading Dock")));
const STAIRS: Option<(&str, Option<&str>)> = Some(("1204", Some("Stairwell B")));
const CONF2: Option<(&str, Option<&str>)> = Some(("1205", Some("Conference Room 2")));
const MAIN: Option<(&str, Option<&str>)> = Some(("311", Some("Main Controller")));
const MAIN_ID: Option<(&str, Option<&str>)> = Some(("311", None));
const JANE: Option<&str> = Some("5501");
const MARCUS: Option<&str> = Some("5502");
const PRIYA: Option<&str> = Some("5503");
const TOMAS: Option<&str> = Some("5504");

use Severity::{Alarm, Info, Notice, Warning};

#[rustfmt::skip]
const EXPECTED: &[Want] = &[
    w("6d2f0007-000d-4001-9a1c-5e8b0c7d4001", "access.granted", Info, FRONT, JANE, None, "2026-11-22T07:58:03.412Z"),
    w("6d2f000e-001a-4002-9a1c-5e8b0c7d4002", "door.opened", Notice, FRONT, None, None, "2026-11-22T07:58:04.950Z"),
    w("6d2f0015-0027-4003-9a1c-5e8b0c7d4003", "door.closed", Notice, FRONT, None, None, "2026-11-22T07:58:11.000Z"),
    w("6d2f001c-0034-4004-9a1c-5e8b0c7d4004", "door.locked", Notice, FRONT, None, None, "2026-11-22T07:58:13.000Z"),
    w("6d2f0023-0041-4005-9a1c-5e8b0c7d4005", "access.denied", Warning, SERVER, JANE, None, "2026-11-22T08:01:12.345Z"),
    w("b41e001e-0042-4006-8f00-2a6c1d9e5006", "access.denied", Warning, SERVER, MARCUS, None, "2026-11-22T08:02:40.000Z"),
    w("6d2f0031-005b-4007-9a1c-5e8b0c7d4007", "door.forced_open", Alarm, SERVER, None, None, "2026-11-22T08:14:27.800Z"),
    w("6d2f0038-0068-4008-9a1c-5e8b0c7d4008", "door.held_open", Alarm, DOCK, None, None, "2026-11-22T08:20:00.120Z"),
    w("6d2f003f-0075-4009-9a1c-5e8b0c7d4009", "door.lockdown", Notice, STAIRS, PRIYA, None, "2026-11-22T08:31:05.000Z"),
    w("6d2f0046-0082-400a-9a1c-5e8b0c7d400a", "door.lockdown_cleared", Notice, STAIRS, PRIYA, None, "2026-11-22T08:47:55.500Z"),
    w("6d2f004d-008f-400b-9a1c-5e8b0c7d400b", "door.scheduled_unlock_started", Notice, FRONT, None, None, "2026-11-22T09:00:00.000Z"),
    w("6d2f0054-009c-400c-9a1c-5e8b0c7d400c", "door.scheduled_unlock_ended", Notice, FRONT, None, None, "2026-11-22T18:00:00.000Z"),
    w("6d2f005b-00a9-400d-9a1c-5e8b0c7d400d", "other", Alarm, SERVER, None, None, "2026-11-22T09:12:44.002Z"),
    w("6d2f0062-00b6-400e-9a1c-5e8b0c7d400e", "other", Info, FRONT, TOMAS, None, "2026-11-22T06:45:19.730Z"),
    w("6d2f0069-00c3-400f-9a1c-5e8b0c7d400f", "other", Info, FRONT, TOMAS, None, "2026-11-22T19:32:08.610Z"),
    w("6d2f0070-00d0-4010-9a1c-5e8b0c7d4010", "admin.lock_create", Info, CONF2, PRIYA, None, "2026-11-22T10:05:00.000Z"),
    w("6d2f0077-00dd-4011-9a1c-5e8b0c7d4011", "admin.lock_update", Info, DOCK, PRIYA, None, "2026-11-22T10:06:30.250Z"),
    w("6d2f007e-00ea-4012-9a1c-5e8b0c7d4012", "device.tamper", Alarm, None, None, MAIN, "2026-11-22T10:40:11.900Z"),
    w("6d2f0085-00f7-4013-9a1c-5e8b0c7d4013", "admin.controller_reboot", Notice, None, PRIYA, MAIN, "2026-11-22T10:42:00.000Z"),
    w("6d2f008c-0104-4014-9a1c-5e8b0c7d4014", "other", Warning, None, None, MAIN, "2026-11-22T10:42:03.300Z"),
    w("6d2f0093-0111-4015-9a1c-5e8b0c7d4015", "other", Notice, None, None, MAIN, "2026-11-22T10:43:17.750Z"),
    w("6d2f009a-011e-4016-9a1c-5e8b0c7d4016", "device.tamper", Alarm, None, None, MAIN, "2026-11-22T10:50:00.001Z"),
    w("6d2f00a1-012b-4017-9a1c-5e8b0c7d4017", "other", Notice, None, None, MAIN, "2026-11-22T10:51:30.000Z"),
    w("6d2f00a8-0138-4018-9a1c-5e8b0c7d4018", "device.tamper", Alarm, SERVER, None, MAIN_ID, "2026-11-22T11:02:09.440Z"),
    w("6d2f00af-0145-4019-9a1c-5e8b0c7d4019", "device.tamper_cleared", Notice, SERVER, MARCUS, MAIN_ID, "2026-11-22T11:15:37.000Z"),
    w("6d2f00b6-0152-401a-9a1c-5e8b0c7d401a", "access.granted", Info, SERVER, JANE, MAIN_ID, "2026-11-22T11:20:00.500Z"),
    w("6d2f00bd-015f-401b-9a1c-5e8b0c7d401b", "device.battery_low", Notice, CONF2, None, None, "2026-11-22T11:30:00.000Z"),
    w("6d2f00c4-016c-401c-9a1c-5e8b0c7d401c", "device.tamper", Alarm, CONF2, None, None, "2026-11-22T11:31:12.500Z"),
    w("6d2f00cb-0179-401d-9a1c-5e8b0c7d401d", "door.unlocked", Notice, CONF2, MARCUS, None, "2026-11-22T11:33:00.250Z"),
    w("6d2f00d2-0186-401e-9a1c-5e8b0c7d401e", "door.opened", Notice, CONF2, None, None, "2026-11-22T11:33:02.000Z"),
    w("6d2f00d9-0193-401f-9a1c-5e8b0c7d401f", "door.closed", Notice, CONF2, None, None, "2026-11-22T11:33:09.000Z"),
    w("6d2f00e0-01a0-4020-9a1c-5e8b0c7d4020", "door.locked", Notice, CONF2, None, None, "2026-11-22T11:33:10.100Z"),
    w("6d2f00e7-01ad-4021-9a1c-5e8b0c7d4021", "admin.card_create", Info, None, PRIYA, None, "2026-11-22T12:00:00.000Z"),
    w("6d2f00ee-01ba-4022-9a1c-5e8b0c7d4022", "admin.user_update", Info, None, PRIYA, None, "2026-11-22T12:01:30.000Z"),
    w("6d2f00f5-01c7-4023-9a1c-5e8b0c7d4023", "admin.group_create", Info, None, PRIYA, None, "2026-11-22T12:03:00.000Z"),
    w("6d2f00fc-01d4-4024-9a1c-5e8b0c7d4024", "admin.login_create", Info, None, JANE, None, "2026-11-22T12:04:45.678Z"),
    w("6d2f0103-01e1-4025-9a1c-5e8b0c7d4025", "door.lockdown", Notice, None, PRIYA, None, "2026-11-22T12:30:00.000Z"),
    w("6d2f010a-01ee-4026-9a1c-5e8b0c7d4026", "access.granted", Info, Some(("elevator:15", Some("Lobby Elevator A"))), JANE, None, "2026-11-22T12:40:20.020Z"),
    w("6d2f0111-01fb-4027-9a1c-5e8b0c7d4027", "admin.integration_disable_due_to_error", Warning, None, None, None, "2026-11-22T13:00:00.000Z"),
    w("6d2f0118-0208-4028-9a1c-5e8b0c7d4028", "other", Alarm, None, None, None, "2026-11-22T13:10:00.000Z"),
    w("6d2f011f-0215-4029-9a1c-5e8b0c7d4029", "other", Info, DOCK, None, None, "2026-11-22T13:20:00.000Z"),
    w("88123", "access.granted", Info, FRONT, Some("9120"), None, "2026-11-22T14:00:00.123Z"),
];

/// Summaries the desk relies on, by fixture index.
const SUMMARIES: &[(usize, &str)] = &[
    (0, "Jane Roe unlocked Front Door"),
    (
        4,
        "Jane Roe denied at Server Room (access not allowed right now, error 34ffaa)",
    ),
    (
        5,
        "Marcus Webb denied at Server Room (access disabled, error fcd8ff)",
    ),
    (6, "Server Room forced open"),
    (7, "Loading Dock held open"),
    (8, "Stairwell B locked down by Priya Natarajan"),
    (12, "Tailgating at Server Room"),
    (16, "Priya Natarajan updated the door Loading Dock"),
    (17, "Main Controller tampered"),
    (23, "Server Room Reader tampered (Server Room)"),
    (26, "Conference Room 2 Lock battery low (Conference Room 2)"),
    (32, "Priya Natarajan created card 0004907"),
    (36, "HQ Berlin locked down by Priya Natarajan"),
    (37, "Jane Roe granted at Lobby Elevator A"),
    (
        38,
        "Integration doorwatch webhook disabled by Kisi: error rate too high",
    ),
];

fn ctx() -> ParseContext<'static> {
    ParseContext {
        source: "hq-kisi",
        received_at: Utc.with_ymd_and_hms(2026, 11, 22, 20, 0, 5).unwrap(),
    }
}

fn fixture_page() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

fn parse_all() -> (Vec<Value>, Vec<Event>) {
    let items = kisi::page_items(&fixture_page()).expect("fixture is an event set page");
    let events = sources::parse_batch(Vendor::Kisi, &ctx(), items.clone())
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|rej| panic!("item {i} rejected: {}", rej.error)))
        .collect();
    (items, events)
}

fn pair(r: Option<&doorwatch::model::Ref>) -> Option<(&str, Option<&str>)> {
    r.map(|r| (r.id.as_str(), r.name.as_deref()))
}

#[test]
fn every_item_parses_as_expected() {
    let (items, events) = parse_all();
    assert_eq!(
        events.len(),
        EXPECTED.len(),
        "fixture and table differ in length"
    );
    for (i, (e, want)) in events.iter().zip(EXPECTED).enumerate() {
        let at = format!("item {i} ({})", e.vendor_type);
        assert_eq!(e.id, format!("hq-kisi:{}", want.id), "{at}: id");
        assert_eq!(e.kind.name(), want.kind, "{at}: kind");
        assert_eq!(e.severity, want.severity, "{at}: severity");
        assert_eq!(pair(e.door.as_ref()), want.door, "{at}: door");
        assert_eq!(
            e.person.as_ref().map(|p| p.id.as_str()),
            want.person,
            "{at}: person"
        );
        assert_eq!(
            pair(e.controller.as_ref()),
            want.controller,
            "{at}: controller"
        );
        assert_eq!(format_time(&e.occurred_at), want.at, "{at}: occurred_at");
        assert_eq!(e.received_at, ctx().received_at, "{at}: received_at");
        assert_eq!(e.vendor, Vendor::Kisi);
        assert_eq!(e.source, "hq-kisi");
        assert_eq!(
            Some(e.vendor_type.as_str()),
            items[i]["type"].as_str(),
            "{at}: vendor_type"
        );
        assert_eq!(e.raw, items[i], "{at}: raw kept unchanged");
        assert_eq!(
            e.site.as_ref().map(|s| s.id.as_str()),
            Some("4021"),
            "{at}: site"
        );
        assert!(!e.summary.is_empty(), "{at}: summary");
    }
}

#[test]
fn people_and_sites_carry_names() {
    let (_, events) = parse_all();
    let jane = events[0].person.as_ref().unwrap();
    assert_eq!(jane.name.as_deref(), Some("Jane Roe"));
    assert_eq!(
        events[13].person.as_ref().unwrap().name.as_deref(),
        Some("Tomás Alvarez")
    );
    assert_eq!(
        events[41].person.as_ref().unwrap().name.as_deref(),
        Some("Sam Okafor (visitor)")
    );
    assert_eq!(
        events[0].site.as_ref().unwrap().name.as_deref(),
        Some("HQ Berlin")
    );
    assert_eq!(
        events[36].site.as_ref().unwrap().name.as_deref(),
        Some("HQ Berlin")
    );
    assert_eq!(events[0].credential.as_deref(), Some("Card:4821"));
    assert_eq!(events[8].credential.as_deref(), Some("Login:73120"));
    assert_eq!(events[6].credential, None);
    assert_eq!(events[0].success, Some(true));
    assert_eq!(events[4].success, Some(false));
    assert_eq!(events[5].success, Some(false));
}

#[test]
fn summaries_read_like_a_guard_would_say_them() {
    let (_, events) = parse_all();
    for (i, want) in SUMMARIES {
        assert_eq!(events[*i].summary, *want, "item {i}");
    }
}

#[test]
fn page_items_reads_the_event_set_page() {
    let page = fixture_page();
    let items = kisi::page_items(&page).unwrap();
    assert_eq!(items.len(), EXPECTED.len());
    assert_eq!(items, page["events"].as_array().unwrap().clone());
    // The vendor-level dispatch and the import splitter agree.
    assert_eq!(
        sources::page_items(Vendor::Kisi, &page),
        Some(items.clone())
    );
    let (split, rejected) = sources::split_import(Vendor::Kisi, FIXTURE);
    assert!(rejected.is_empty());
    assert_eq!(split, items);
    // A single event or a bare array is not a page.
    assert_eq!(kisi::page_items(&items[0]), None);
    assert_eq!(kisi::page_items(&Value::Array(items)), None);
}

#[test]
fn parse_is_deterministic_and_direct_parse_agrees() {
    let (items, events) = parse_all();
    for (item, e) in items.iter().zip(&events) {
        assert_eq!(&kisi::parse(&ctx(), item).unwrap(), e);
    }
}

//! PDK fixture → unified events, checked against a table written by hand.

use chrono::{TimeZone, Utc};
use doorwatch::model::{Event, Vendor, format_time};
use doorwatch::sources::{ParseContext, parse_batch, split_import};
use serde_json::Value;
use std::collections::HashSet;

const FIXTURE: &str = include_str!("fixtures/pdk/events.jsonl");

// Doors are keyed on `body.deviceId`, which differs from `body.device.id` for some.
const FRONT: &str = "a3f0c6e2-1b7d-4e59-8c2a-6f1d0e9b7a41";
const SERVER: &str = "c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47";
const DOCK: &str = "2b8d6f41-0a3c-4e95-87d2-c4f1e6a9b503";
const LOBBY: &str = "6e4a2c80-d9b7-4f13-a5e6-0b8c1d2e3f49";
const SIDE: &str = "d0c2e4f6-1a3b-4c5d-9e8f-7a6b5c4d3e2f";
const HQ: &str = "10702458";
const WH: &str = "10703391";

/// One expected event: the fixture line it comes from (1-based), the vendor event id
/// (after `hq-pdk:`), kind, severity, door (id, name), person name, controller serial,
/// controller name, occurred_at.
struct Row {
    line: usize,
    vendor_id: &'static str,
    kind: &'static str,
    severity: &'static str,
    door: Option<(&'static str, &'static str)>,
    person: Option<&'static str>,
    controller: Option<&'static str>,
    controller_name: Option<&'static str>,
    occurred: &'static str,
}

#[rustfmt::skip]
const EXPECTED: &[Row] = &[
    Row { line: 1, vendor_id: "cloudnode.connected:10702458:1795341300000", kind: "controller.online", severity: "notice", door: None, person: None, controller: Some(HQ), controller_name: None, occurred: "2026-11-22T09:55:00.000Z" },
    Row { line: 2, vendor_id: "cloudnode.disconnected:10703391:1795341312345", kind: "controller.offline", severity: "warning", door: None, person: None, controller: Some(WH), controller_name: None, occurred: "2026-11-22T09:55:12.345Z" },
    Row { line: 3, vendor_id: "cloudnode.connected:10703391:1795341460120", kind: "controller.online", severity: "notice", door: None, person: None, controller: Some(WH), controller_name: None, occurred: "2026-11-22T09:57:40.120Z" },
    Row { line: 4, vendor_id: "cloudnode.created:0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9", kind: "admin.controller_created", severity: "info", door: None, person: Some("Dana Whitfield"), controller: Some(WH), controller_name: Some("Warehouse-1"), occurred: "2026-11-22T09:10:00.000Z" },
    Row { line: 5, vendor_id: "cloudnode.registered:1b2c3d4e-5f60-4172-8384-a5b6c7d8e9f0", kind: "admin.controller_registered", severity: "info", door: None, person: Some("Dana Whitfield"), controller: Some(WH), controller_name: Some("Warehouse-1"), occurred: "2026-11-22T09:11:40.000Z" },
    Row { line: 6, vendor_id: "cloudnode.unregistered:2c3d4e5f-6071-4283-9495-b6c7d8e9f0a1", kind: "admin.controller_unregistered", severity: "info", door: None, person: Some("Dana Whitfield"), controller: Some(WH), controller_name: Some("Warehouse-1"), occurred: "2026-11-22T09:50:00.000Z" },
    Row { line: 7, vendor_id: "cloudnode.deleted:3d4e5f60-7182-4394-a5b6-c7d8e9f0a1b2", kind: "admin.controller_deleted", severity: "info", door: None, person: Some("Dana Whitfield"), controller: Some(WH), controller_name: Some("Warehouse-1"), occurred: "2026-11-22T09:50:10.000Z" },
    Row { line: 8, vendor_id: "device.alarm.forced:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f", kind: "door.forced_open", severity: "alarm", door: Some((SERVER, "Server Room")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:00:00.250Z" },
    Row { line: 9, vendor_id: "device.alarm.forced.cleared:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f", kind: "door.forced_open_cleared", severity: "notice", door: Some((SERVER, "Server Room")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:00:41.900Z" },
    Row { line: 10, vendor_id: "device.alarm.propped.on:4f5a6b7c-8d9e-4f01-a2b3-c4d5e6f7a8b9", kind: "door.held_open", severity: "alarm", door: Some((DOCK, "Loading Dock")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:01:00.000Z" },
    Row { line: 11, vendor_id: "device.alarm.propped.off:5a6b7c8d-9e0f-4102-b3c4-d5e6f7a8b9c0", kind: "door.held_open_cleared", severity: "notice", door: Some((DOCK, "Loading Dock")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:03:05.030Z" },
    Row { line: 12, vendor_id: "device.autoopen.on:6b7c8d9e-0f1a-4203-84d5-e6f7a8b9c0d1", kind: "door.scheduled_unlock_started", severity: "notice", door: Some((LOBBY, "Lobby Turnstile")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T08:00:00.000Z" },
    Row { line: 13, vendor_id: "device.autoopen.off:7c8d9e0f-1a2b-4304-95e6-f7a8b9c0d1e2", kind: "door.scheduled_unlock_ended", severity: "notice", door: Some((LOBBY, "Lobby Turnstile")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T18:00:00.000Z" },
    Row { line: 14, vendor_id: "device.forceopen.on:8d9e0f1a-2b3c-4405-a6f7-a8b9c0d1e2f3", kind: "door.force_unlock_on", severity: "notice", door: Some((SIDE, "Side Entrance")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:05:00.000Z" },
    Row { line: 15, vendor_id: "device.forceopen.off:9e0f1a2b-3c4d-4506-b7a8-b9c0d1e2f3a4", kind: "door.force_unlock_off", severity: "notice", door: Some((SIDE, "Side Entrance")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:15:00.000Z" },
    Row { line: 16, vendor_id: "device.forceclose.on:0f1a2b3c-4d5e-4607-88b9-c0d1e2f3a4b5", kind: "door.do_not_disturb_on", severity: "notice", door: Some((SERVER, "Server Room")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:20:00.000Z" },
    Row { line: 17, vendor_id: "device.forceclose.off:1a2b3c4d-5e6f-4708-99c0-d1e2f3a4b5c6", kind: "door.do_not_disturb_off", severity: "notice", door: Some((SERVER, "Server Room")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:25:00.000Z" },
    Row { line: 18, vendor_id: "device.input.dps.opened:2b3c4d5e-6f70-4809-aad1-e2f3a4b5c6d7", kind: "door.opened", severity: "notice", door: Some((FRONT, "Front Door")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:02:00.400Z" },
    Row { line: 19, vendor_id: "device.input.dps.closed:3c4d5e6f-7081-490a-bbe2-f3a4b5c6d7e8", kind: "door.closed", severity: "notice", door: Some((FRONT, "Front Door")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:02:06.010Z" },
    Row { line: 20, vendor_id: "device.input.relay.on:4d5e6f70-8192-4a0b-8cf3-a4b5c6d7e8f9", kind: "door.unlocked", severity: "notice", door: Some((FRONT, "Front Door")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:01:59.800Z" },
    Row { line: 21, vendor_id: "device.input.relay.off:5e6f7081-92a3-4b1c-9da4-b5c6d7e8f9a0", kind: "door.locked", severity: "notice", door: Some((FRONT, "Front Door")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:02:04.800Z" },
    Row { line: 22, vendor_id: "device.input.rex.on:6f708192-a3b4-4c2d-aeb5-c6d7e8f9a0b1", kind: "door.exit_request", severity: "notice", door: Some((SIDE, "Side Entrance")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:06:40.000Z" },
    Row { line: 23, vendor_id: "device.input.rex.off:708192a3-b4c5-4d3e-bfc6-d7e8f9a0b1c2", kind: "other", severity: "info", door: Some((SIDE, "Side Entrance")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:06:40.600Z" },
    Row { line: 24, vendor_id: "device.request.allowed:8192a3b4-c5d6-4e4f-80d7-e8f9a0b1c2d3", kind: "access.granted", severity: "info", door: Some((FRONT, "Front Door")), person: Some("Jane Roe"), controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:01:59.500Z" },
    // Lines 25 and 26 are liveEvent companions of lines 24 and 27: merged, not events.
    Row { line: 27, vendor_id: "device.request.denied:92a3b4c5-d6e7-4f50-91e8-f9a0b1c2d3e4", kind: "access.denied", severity: "warning", door: Some((DOCK, "Loading Dock")), person: Some("Marcus Chen"), controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:03:30.000Z" },
    Row { line: 28, vendor_id: "device.request.unknown:a3b4c5d6-e7f8-4061-a2f9-a0b1c2d3e4f5", kind: "access.unknown_credential", severity: "warning", door: Some((LOBBY, "Lobby Turnstile")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:03:53.070Z" },
    // A liveEvent (carrying its own topic) whose primary is not in the file: kept.
    Row { line: 29, vendor_id: "liveEvent:device.request.allowed:1795342200000:c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47", kind: "access.granted", severity: "info", door: Some((SERVER, "Server Room")), person: Some("Jane Roe"), controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:10:00.000Z" },
    Row { line: 30, vendor_id: "endpoint.sync.started:b4c5d6e7-f809-4172-b30a-b1c2d3e4f5a6", kind: "controller.sync_started", severity: "notice", door: None, person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:11:40.000Z" },
    Row { line: 31, vendor_id: "endpoint.sync.finished:c5d6e7f8-091a-4283-841b-c2d3e4f5a6b7", kind: "controller.sync_finished", severity: "notice", door: None, person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:11:52.000Z" },
    Row { line: 32, vendor_id: "endpoint.sync.finished.all:d6e7f809-1a2b-4394-952c-d3e4f5a6b7c8", kind: "controller.sync_finished", severity: "notice", door: None, person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:11:53.000Z" },
    Row { line: 33, vendor_id: "sync.not_synced:10703391:1795341500000", kind: "controller.sync_pending", severity: "warning", door: None, person: None, controller: Some(WH), controller_name: None, occurred: "2026-11-22T09:58:20.000Z" },
    Row { line: 34, vendor_id: "sync.synced:10703391:1795341560500", kind: "controller.sync_finished", severity: "notice", door: None, person: None, controller: Some(WH), controller_name: None, occurred: "2026-11-22T09:59:20.500Z" },
    Row { line: 35, vendor_id: "device.input.aux.on:e7f8091a-2b3c-44a5-a63d-e4f5a6b7c8d9", kind: "other", severity: "info", door: Some((DOCK, "Loading Dock")), person: None, controller: Some(HQ), controller_name: Some("HQ-1"), occurred: "2026-11-22T10:13:20.000Z" },
];

fn ctx() -> ParseContext<'static> {
    ParseContext {
        source: "hq-pdk",
        received_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
    }
}

fn fixture_items() -> Vec<Value> {
    let (items, rejected) = split_import(Vendor::Pdk, FIXTURE);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(items.len(), 35);
    items
}

fn parse_fixture() -> Vec<Event> {
    parse_batch(Vendor::Pdk, &ctx(), fixture_items())
        .into_iter()
        .map(|r| r.unwrap_or_else(|rej| panic!("rejected: {} ({})", rej.error, rej.raw)))
        .collect()
}

#[test]
fn every_item_maps_as_the_table_says() {
    let items = fixture_items();
    let events = parse_fixture();
    assert_eq!(
        events.len(),
        EXPECTED.len(),
        "two liveEvents merge, the rest are events"
    );
    for (row, e) in EXPECTED.iter().zip(&events) {
        let at = format!("line {} ({})", row.line, row.vendor_id);
        assert_eq!(e.id, format!("hq-pdk:{}", row.vendor_id), "{at}");
        assert_eq!(e.source, "hq-pdk", "{at}");
        assert_eq!(e.vendor, Vendor::Pdk, "{at}");
        assert_eq!(e.kind.name(), row.kind, "{at}");
        assert_eq!(e.severity.as_str(), row.severity, "{at}");
        assert_eq!(
            e.door
                .as_ref()
                .map(|d| (d.id.as_str(), d.name.as_deref().unwrap_or(""))),
            row.door,
            "{at}"
        );
        assert_eq!(
            e.person.as_ref().and_then(|p| p.name.as_deref()),
            row.person,
            "{at}"
        );
        assert_eq!(
            e.controller.as_ref().map(|c| c.id.as_str()),
            row.controller,
            "{at}"
        );
        assert_eq!(
            e.controller.as_ref().and_then(|c| c.name.as_deref()),
            row.controller_name,
            "{at}"
        );
        assert_eq!(format_time(&e.occurred_at), row.occurred, "{at}");
        assert_eq!(e.received_at, ctx().received_at, "{at}");
        assert_eq!(
            e.raw,
            items[row.line - 1],
            "{at}: raw is the item unchanged"
        );
        assert!(!e.summary.is_empty(), "{at}");
        // vendor_type is the (short) topic: the event id's first part.
        assert!(
            row.vendor_id.starts_with(&format!("{}:", e.vendor_type)) || row.line == 29,
            "{at}"
        );
    }
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        events.len(),
        "forced and forced.cleared share a PDK id but not ours"
    );
}

#[test]
fn summaries_and_access_details() {
    let events = parse_fixture();
    let by_line = |line: usize| {
        let i = EXPECTED.iter().position(|r| r.line == line).unwrap();
        &events[i]
    };
    assert_eq!(by_line(2).summary, "Cloud node SN 10703391 offline");
    assert_eq!(
        by_line(4).summary,
        "Dana Whitfield created cloud node Warehouse-1 (SN 10703391)"
    );
    assert_eq!(by_line(4).vendor_type, "cloudnode.created");
    assert_eq!(by_line(8).summary, "Server Room forced open");
    assert_eq!(
        by_line(28).summary,
        "Unknown card 551203 (facility 37) at Lobby Turnstile"
    );
    assert_eq!(by_line(28).credential.as_deref(), Some("551203"));
    assert_eq!(by_line(28).success, Some(false));
    assert_eq!(
        by_line(33).summary,
        "Cloud node SN 10703391 needs sync (PENDING)"
    );

    let granted = by_line(24);
    assert_eq!(granted.credential.as_deref(), Some("40417"));
    assert_eq!(granted.success, Some(true));
    assert_eq!(
        granted.person.as_ref().unwrap().id,
        "4b6e9d21-8c3f-4a57-b0e2-1f5d7c9a3e86"
    );
    assert_eq!(granted.vendor_type, "device.request.allowed");
}

#[test]
fn live_events_enrich_their_primary_or_stand_alone() {
    let events = parse_fixture();
    let find = |id: &str| {
        events
            .iter()
            .find(|e| e.id == format!("hq-pdk:{id}"))
            .unwrap()
    };
    // Companion after its primary (placeholder names the door by `deviceId`).
    assert_eq!(
        find("device.request.allowed:8192a3b4-c5d6-4e4f-80d7-e8f9a0b1c2d3").summary,
        "Jane Roe was granted access to Front Door with card 40417"
    );
    // Companion before its primary (placeholder names the door by `body.device.id`).
    assert_eq!(
        find("device.request.denied:92a3b4c5-d6e7-4f50-91e8-f9a0b1c2d3e4").summary,
        "Marcus Chen was denied access to Loading Dock"
    );
    let alone =
        find("liveEvent:device.request.allowed:1795342200000:c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47");
    assert_eq!(alone.summary, "Jane Roe was granted access to Server Room");
    assert_eq!(alone.vendor_type, "device.request.allowed");
    assert!(
        !events.iter().any(
            |e| e.raw.parse().unwrap().get("topic").and_then(Value::as_str) == Some("liveEvent")
        )
    );

    // Importing the same file again gives the same ids: the store dedupes them.
    let again: Vec<String> = parse_fixture().into_iter().map(|e| e.id).collect();
    assert_eq!(
        again,
        events.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn garbage_lines_are_rejected_and_the_rest_imports() {
    let text = format!(
        "{FIXTURE}not json\n{{\"body\": {{}}}}\n[1]\n{{\"topic\": \"device.alarm.forced\", \"body\": {{\"id\": \"x\"}}}}\n"
    );
    let (items, rejected) = split_import(Vendor::Pdk, &text);
    assert_eq!(rejected.len(), 1, "the non-JSON line");
    let out = parse_batch(Vendor::Pdk, &ctx(), items);
    let errors: Vec<&str> = out
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|r| r.error.as_str())
        .collect();
    assert_eq!(out.len() - errors.len(), EXPECTED.len());
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("no `topic`"), "{}", errors[0]);
    assert!(errors[1].contains("must be a JSON object"), "{}", errors[1]);
    assert!(errors[2].contains("no time"), "{}", errors[2]);
}

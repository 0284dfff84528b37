//! Tests of the whole fold: changes, lookups across doors and controllers, snapshots,
//! and every vendor fixture.

use super::*;
use crate::model::{Event, EventKind as K, Ref, Vendor};
use crate::sources::{ParseContext, parse_batch, split_import};
use crate::state::doors::tests::ev;
use chrono::{Duration, TimeZone};

fn fold(events: &[Event]) -> LiveState {
    let mut s = LiveState::new();
    for e in events {
        s.apply(e);
    }
    s
}

fn at_door(mut e: Event, door: &str, name: &str) -> Event {
    e.door = Some(Ref::new(door, Some(name)));
    e.id = format!("{}@{door}", e.id);
    e
}

fn without_door(mut e: Event) -> Event {
    e.door = None;
    e
}

fn d1() -> DoorKey {
    DoorKey::new("src", "d1")
}

fn cn1() -> ControllerKey {
    ControllerKey::new("src", "cn1")
}

#[test]
fn changes_name_what_changed_and_duplicates_change_nothing() {
    let mut s = LiveState::new();
    let e = ev(K::DoorForcedOpen, 1);
    let changes = s.apply(&e);
    assert_eq!(changes.doors, BTreeSet::from([d1()]));
    assert_eq!(changes.controllers, BTreeSet::from([cn1()]));
    assert!(s.apply(&e).is_empty());
    // Too old to change anything shown (every attribute and "last" already newer).
    s.apply(&ev(K::DoorClosed, 10));
    assert!(s.apply(&ev(K::DoorOpened, 5)).doors.is_empty());
}

#[test]
fn controller_link_is_looked_up_for_its_doors() {
    let mut s = fold(&[
        ev(K::DoorClosed, 1),
        at_door(ev(K::DoorClosed, 1), "d2", "Loading Dock"),
    ]);
    assert_eq!(s.door_view(&d1()).unwrap().link, Link::Unknown);
    let changes = s.apply(&without_door(ev(K::ControllerOffline, 5)));
    assert_eq!(
        changes.doors,
        BTreeSet::from([d1(), DoorKey::new("src", "d2")]),
        "going offline redraws the doors behind it"
    );
    let view = s.door_view(&d1()).unwrap();
    assert_eq!(view.link, Link::Offline);
    assert_eq!(view.controllers[0].label(), "HQ-1");
    // An older "online" neither changes the link nor redraws doors.
    let changes = s.apply(&without_door(ev(K::ControllerOnline, 3)));
    assert!(changes.doors.is_empty());
    assert_eq!(s.door_view(&d1()).unwrap().link, Link::Offline);
    s.apply(&without_door(ev(K::ControllerOnline, 9)));
    assert_eq!(s.door_view(&d1()).unwrap().link, Link::Online);
}

#[test]
fn controller_offline_online_out_of_order() {
    let s = fold(&[
        without_door(ev(K::ControllerOnline, 20)),
        without_door(ev(K::ControllerOffline, 10)),
    ]);
    let c = s.controller(&cn1()).unwrap();
    assert_eq!(c.link(), Link::Online);
    assert_eq!(c.since(), Some(ev(K::Other, 20).occurred_at));
}

#[test]
fn doors_behind_a_controller() {
    let mut other_controller = at_door(ev(K::DoorOpened, 3), "d3", "Lobby");
    other_controller.controller = Some(Ref::new("cn2", Some("HQ-2")));
    let s = fold(&[
        ev(K::DoorOpened, 1),
        at_door(ev(K::AccessGranted, 2), "d2", "Loading Dock"),
        other_controller,
        without_door(ev(K::ControllerOnline, 4)),
    ]);
    let ids: Vec<&str> = s
        .controller(&cn1())
        .unwrap()
        .door_ids()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ids, vec!["d1", "d2"]);
    let cn2 = s.controller(&ControllerKey::new("src", "cn2")).unwrap();
    assert_eq!(cn2.door_ids().len(), 1);
}

#[test]
fn same_ids_from_two_sources_are_two_doors() {
    let mut other = ev(K::DoorForcedOpen, 1);
    other.source = "branch".into();
    other.id = "branch:1".into();
    let s = fold(&[ev(K::DoorClosed, 1), other]);
    assert_eq!(s.doors().count(), 2);
    assert!(!s.door(&d1()).unwrap().in_alarm());
    assert!(s.door(&DoorKey::new("branch", "d1")).unwrap().in_alarm());
}

#[test]
fn sync_events_fold_per_controller() {
    let mut s = LiveState::new();
    s.apply(&without_door(ev(K::ControllerSyncStarted, 10)));
    let changes = s.apply(&without_door(ev(K::ControllerSyncFinished, 25)));
    assert!(changes.controllers.contains(&cn1()));
    let sync = s.sync(&cn1()).unwrap();
    assert_eq!(sync.phase(), SyncPhase::Finished);
    assert_eq!(sync.last_duration(), Some(Duration::seconds(15)));
}

#[test]
fn doors_sorted_puts_alarms_first_then_names() {
    let s = fold(&[
        at_door(ev(K::DoorClosed, 1), "a", "alpha"),
        at_door(ev(K::DoorClosed, 1), "b", "Bravo"),
        at_door(ev(K::DoorHeldOpen, 1), "z", "Zulu"),
        at_door(ev(K::DeviceTamper, 1), "y", "yankee"),
        at_door(ev(K::DoorClosed, 1), "c", "charlie"),
    ]);
    let labels: Vec<&str> = s.doors_sorted().iter().map(|v| v.door.label()).collect();
    assert_eq!(labels, vec!["yankee", "Zulu", "alpha", "Bravo", "charlie"]);
}

#[test]
fn controllers_sorted_puts_offline_first() {
    let mut b = without_door(ev(K::ControllerOffline, 1));
    b.controller = Some(Ref::new("cn2", Some("Basement")));
    let s = fold(&[without_door(ev(K::ControllerOnline, 1)), b]);
    let labels: Vec<&str> = s.controllers_sorted().iter().map(|c| c.label()).collect();
    assert_eq!(labels, vec!["Basement", "HQ-1"]);
}

#[test]
fn site_lockdown_reaches_doors_of_the_site() {
    let in_site = |mut e: Event| {
        e.site = Some(Ref::new("s1", Some("HQ Berlin")));
        e
    };
    let mut s = fold(&[
        in_site(ev(K::DoorClosed, 1)),
        in_site(at_door(ev(K::DoorClosed, 1), "d2", "Loading Dock")),
        at_door(ev(K::DoorClosed, 1), "d3", "Elsewhere"),
    ]);
    let mut lockdown = in_site(without_door(ev(K::DoorLockdown, 5)));
    lockdown.controller = None;
    let changes = s.apply(&lockdown);
    assert_eq!(
        changes.doors,
        BTreeSet::from([d1(), DoorKey::new("src", "d2")])
    );
    assert_eq!(s.door_view(&d1()).unwrap().mode, DoorMode::Lockdown);
    assert_eq!(
        s.door_view(&DoorKey::new("src", "d3")).unwrap().mode,
        DoorMode::Normal
    );
    // A door first heard of after the lockdown is in it too.
    s.apply(&in_site(at_door(ev(K::DoorClosed, 6), "d4", "New")));
    assert_eq!(
        s.door_view(&DoorKey::new("src", "d4")).unwrap().mode,
        DoorMode::Lockdown
    );
    // A newer clear at one door releases that door only.
    s.apply(&in_site(ev(K::DoorLockdownCleared, 7)));
    assert_eq!(s.door_view(&d1()).unwrap().mode, DoorMode::Normal);
    assert_eq!(
        s.door_view(&DoorKey::new("src", "d2")).unwrap().mode,
        DoorMode::Lockdown
    );
    let mut cleared = in_site(without_door(ev(K::DoorLockdownCleared, 8)));
    cleared.controller = None;
    s.apply(&cleared);
    assert_eq!(
        s.door_view(&DoorKey::new("src", "d2")).unwrap().mode,
        DoorMode::Normal
    );
}

#[test]
fn catch_up_through_live_state() {
    let mut s = LiveState::new();
    let t = |secs: i64| ev(K::Other, secs).occurred_at;
    let wall = |secs: i64| Utc.timestamp_opt(2_000_000_000 + secs, 0).unwrap();
    assert!(
        s.record_catch_up_page("hq", t(0), t(10), 1, wall(1))
            .is_empty()
    );
    let changes = s.begin_catch_up("hq", t(0), t(100), wall(0));
    assert_eq!(changes.catch_ups, BTreeSet::from(["hq".to_string()]));
    s.record_catch_up_page("hq", t(0), t(50), 10, wall(5));
    let c = s.catch_up("hq").unwrap();
    assert_eq!(c.estimated_time_left(wall(5)), Some(Duration::seconds(5)));
    assert_eq!(c.estimated_events_left(), Some(10));
    assert!(!s.end_catch_up("hq").is_empty());
    assert!(s.catch_up("hq").is_none());
}

#[test]
fn snapshot_round_trips() {
    let mut s = fold(&fixture_events());
    let t = ev(K::Other, 0).occurred_at;
    s.begin_catch_up("kisi", t, t + Duration::hours(24), t);
    s.record_catch_up_page(
        "kisi",
        t,
        t + Duration::hours(2),
        40,
        t + Duration::seconds(3),
    );
    let bytes = s.snapshot_to_bytes().unwrap();
    let back = LiveState::snapshot_from_bytes(&bytes).unwrap();
    assert_eq!(back, s);
    // ... and keeps folding the same way.
    let mut a = s.clone();
    let mut b = back;
    let e = at_door(
        ev(K::DoorForcedOpen, 99),
        "c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47",
        "Server Room",
    );
    assert_eq!(a.apply(&e), b.apply(&e));
    assert_eq!(a, b);
}

#[test]
fn snapshot_of_another_version_is_refused() {
    let s = fold(&[ev(K::DoorOpened, 1)]);
    let mut doc: serde_json::Value =
        serde_json::from_slice(&s.snapshot_to_bytes().unwrap()).unwrap();
    assert_eq!(doc["version"], SNAPSHOT_VERSION);
    doc["version"] = serde_json::json!(SNAPSHOT_VERSION + 1);
    // A future version may have any shape: the version alone decides.
    doc["state"] = serde_json::json!({"something": "else"});
    let err = LiveState::snapshot_from_bytes(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Version { found, expected } if found == SNAPSHOT_VERSION + 1 && expected == SNAPSHOT_VERSION),
        "{err}"
    );
    assert!(matches!(
        LiveState::snapshot_from_bytes(b"{\"state\": {}}"),
        Err(SnapshotError::Malformed(_))
    ));
    assert!(matches!(
        LiveState::snapshot_from_bytes(b"not json"),
        Err(SnapshotError::Malformed(_))
    ));
}

// ---- fixtures -------------------------------------------------------------------

/// Every event of every fixture under tests/fixtures/<vendor>/, parsed the way
/// `import` does, the source named after the vendor.
fn fixture_events() -> Vec<Event> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let received_at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let mut events = Vec::new();
    for vendor in Vendor::ALL {
        let dir = root.join(vendor.as_str());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let (items, rejected) = split_import(vendor, &text);
            assert!(rejected.is_empty(), "{}: {rejected:?}", file.display());
            let ctx = ParseContext {
                source: vendor.as_str(),
                received_at,
            };
            events.extend(
                parse_batch(vendor, &ctx, items)
                    .into_iter()
                    .filter_map(Result::ok),
            );
        }
    }
    assert!(
        events.len() > 200,
        "fixtures went missing: {} events",
        events.len()
    );
    events
}

fn door<'a>(s: &'a LiveState, source: &str, id: &str) -> DoorView<'a> {
    s.door_view(&DoorKey::new(source, id))
        .unwrap_or_else(|| panic!("no door {source}/{id}"))
}

fn controller<'a>(s: &'a LiveState, source: &str, id: &str) -> &'a Controller {
    s.controller(&ControllerKey::new(source, id))
        .unwrap_or_else(|| panic!("no controller {source}/{id}"))
}

fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn fixtures_pdk() {
    let s = fold(&fixture_events());
    let server_room = door(&s, "pdk", "c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47");
    assert_eq!(server_room.door.label(), "Server Room");
    assert!(
        !server_room.door.has_condition(Condition::Forced),
        "forced, then cleared"
    );
    assert_eq!(
        server_room.mode,
        DoorMode::Normal,
        "do-not-disturb on, then off"
    );
    let access = server_room.door.last_access().unwrap();
    assert_eq!(access.outcome, AccessOutcome::Granted);
    assert_eq!(access.person.as_ref().unwrap().label(), "Jane Roe");
    assert_eq!(server_room.link, Link::Online);

    let loading_dock = door(&s, "pdk", "2b8d6f41-0a3c-4e95-87d2-c4f1e6a9b503");
    assert!(
        loading_dock.door.conditions().is_empty(),
        "propped, then no longer"
    );
    assert_eq!(
        loading_dock.door.last_access().unwrap().outcome,
        AccessOutcome::Denied
    );

    let front = door(&s, "pdk", "a3f0c6e2-1b7d-4e59-8c2a-6f1d0e9b7a41");
    assert_eq!(front.door.lock(), LockState::Locked);
    assert_eq!(front.door.position(), Position::Closed);

    let side = door(&s, "pdk", "d0c2e4f6-1a3b-4c5d-9e8f-7a6b5c4d3e2f");
    assert_eq!(side.mode, DoorMode::Normal, "force unlock on, then off");
    let turnstile = door(&s, "pdk", "6e4a2c80-d9b7-4f13-a5e6-0b8c1d2e3f49");
    assert_eq!(turnstile.mode, DoorMode::Normal, "auto open on, then off");
    assert_eq!(
        turnstile.door.last_access().unwrap().outcome,
        AccessOutcome::UnknownCredential
    );

    let hq1 = controller(&s, "pdk", "10702458");
    assert_eq!(hq1.label(), "HQ-1");
    assert_eq!(hq1.link(), Link::Online);
    assert_eq!(hq1.door_ids().len(), 5);
    let sync = s.sync(hq1.key()).unwrap();
    assert_eq!(sync.phase(), SyncPhase::Finished);
    assert_eq!(sync.last_duration(), Some(Duration::seconds(13)));

    let warehouse = controller(&s, "pdk", "10703391");
    assert_eq!(warehouse.link(), Link::Online);
    assert_eq!(warehouse.since(), Some(time("2026-11-22T09:57:40.120Z")));
    let sync = s.sync(warehouse.key()).unwrap();
    assert_eq!(sync.phase(), SyncPhase::Finished);
    assert_eq!(
        sync.last_duration(),
        None,
        "pending then synced: no start to measure from"
    );
}

#[test]
fn fixtures_doorflow() {
    let s = fold(&fixture_events());
    let server_room = door(&s, "doorflow", "4102");
    assert!(
        !server_room.door.in_alarm(),
        "forced (32), then door state normal (31)"
    );
    assert_eq!(server_room.door.position(), Position::Closed);
    let loading_dock = door(&s, "doorflow", "4103");
    assert!(
        !loading_dock.door.in_alarm(),
        "held (33), then door state normal (31)"
    );
    let lobby = door(&s, "doorflow", "4201");
    assert_eq!(lobby.door.conditions(), vec![Condition::Forced]);
    assert_eq!(lobby.door.position(), Position::Open);
    assert_eq!(lobby.link, Link::Online);
    let front = door(&s, "doorflow", "4101");
    assert_eq!(
        front.mode,
        DoorMode::Normal,
        "auto-unlock shift started, then ended"
    );

    let comms = door(&s, "doorflow", "4202");
    assert!(!comms.door.in_alarm(), "tamper, then cleared");
    let channel = controller(&s, "doorflow", "4202");
    assert_eq!(channel.link(), Link::Online);
    assert_eq!(channel.since(), Some(time("2026-03-02T18:09:30Z")));
    let sync = s.sync(channel.key()).unwrap();
    assert_eq!(sync.phase(), SyncPhase::Failed);
    let done = sync.last_completed().unwrap();
    assert_eq!(done.outcome, SyncOutcome::Failed);
    assert_eq!(done.duration(), Some(Duration::seconds(150)));
    let front_sync = s.sync(&ControllerKey::new("doorflow", "4101")).unwrap();
    assert_eq!(front_sync.last_duration(), Some(Duration::seconds(31)));
}

#[test]
fn fixtures_kisi() {
    let s = fold(&fixture_events());
    let server_room = door(&s, "kisi", "1202");
    assert_eq!(
        server_room.door.conditions(),
        vec![Condition::Forced],
        "reader tamper was reset"
    );
    assert_eq!(
        door(&s, "kisi", "1203").door.conditions(),
        vec![Condition::Held]
    );
    let conference = door(&s, "kisi", "1205");
    assert_eq!(conference.door.conditions(), vec![Condition::Tamper]);
    assert_eq!(conference.door.lock(), LockState::Locked);
    // "HQ Berlin locked down" (place lockdown at 12:30) outlives Stairwell B's own
    // lockdown and cancel in the morning, and reaches every door of the place.
    let stairwell = door(&s, "kisi", "1204");
    assert_eq!(stairwell.mode, DoorMode::Lockdown);
    let front = door(&s, "kisi", "1201");
    assert_eq!(front.mode, DoorMode::Lockdown);
    assert_eq!(
        front.modes,
        vec![DoorMode::Lockdown],
        "scheduled unlock ended at 18:00"
    );
    assert_eq!(front.door.lock(), LockState::Locked);
    assert_eq!(front.door.site().unwrap().label(), "HQ Berlin");
    let visitor = front.door.last_access().unwrap();
    assert_eq!(
        visitor.person.as_ref().unwrap().label(),
        "Sam Okafor (visitor)"
    );
    assert_eq!(visitor.at(), time("2026-11-22T14:00:00.123Z"));

    let main = controller(&s, "kisi", "311");
    assert_eq!(main.label(), "Main Controller");
    assert!(main.tampered(), "controller and input tamper, never reset");
    assert!(main.door_ids().contains("1202"));
}

#[test]
fn fixtures_seam() {
    let s = fold(&fixture_events());
    let server_room = door(&s, "seam", "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910");
    assert_eq!(
        server_room.door.label(),
        "Server Room",
        "named by device.name_changed"
    );
    assert_eq!(server_room.door.conditions(), vec![Condition::Tamper]);
    assert_eq!(
        server_room.door.lock(),
        LockState::Unlocked,
        "unlocked over NFC after the auto-lock"
    );
    assert_eq!(server_room.link, Link::Online);
    let lock = door(&s, "seam", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d");
    assert_eq!(lock.door.lock(), LockState::Unlocked);
    assert_eq!(lock.link, Link::Offline, "the device itself disconnected");
    assert_eq!(
        lock.controllers.len(),
        2,
        "its connected account and itself"
    );
    let account = controller(&s, "seam", "a8f4e2b1-3c5d-4e6f-8a9b-0c1d2e3f4a5b");
    assert_eq!(account.link(), Link::Offline);
}

#[test]
fn fixtures_alarm_doors_come_first() {
    let s = fold(&fixture_events());
    let sorted = s.doors_sorted();
    let in_alarm = sorted.iter().take_while(|v| v.door.in_alarm()).count();
    assert!(sorted[in_alarm..].iter().all(|v| !v.door.in_alarm()));
    let alarm_doors: Vec<String> = sorted[..in_alarm]
        .iter()
        .map(|v| format!("{}/{}", v.door.source(), v.door.label()))
        .collect();
    assert_eq!(
        alarm_doors,
        vec![
            "kisi/Conference Room 2",
            "kisi/Loading Dock",
            "doorflow/Lobby Entrance",
            "kisi/Server Room",
            "seam/Server Room",
        ]
    );
}

#[test]
fn fixtures_fold_the_same_in_any_order_and_twice() {
    let events = fixture_events();
    let forward = fold(&events);
    let mut reversed_events = events.clone();
    reversed_events.reverse();
    let reversed = fold(&reversed_events);
    assert_eq!(
        forward.doors().collect::<Vec<_>>(),
        reversed.doors().collect::<Vec<_>>()
    );
    let links = |s: &LiveState| {
        s.controllers()
            .map(|c| (c.key().clone(), c.link(), c.last_seen()))
            .collect::<Vec<_>>()
    };
    assert_eq!(links(&forward), links(&reversed));
    let syncs = |s: &LiveState| {
        s.syncs()
            .map(|c| (c.phase(), c.last_completed().cloned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(syncs(&forward), syncs(&reversed));

    let mut again = forward.clone();
    for e in &events {
        assert!(
            again.apply(e).is_empty(),
            "re-applying {} changed something",
            e.id
        );
    }
    assert_eq!(again, forward);
}

mod inventory {
    use super::*;
    use crate::state::inventory::{ControllerReport, DoorReport, Inventory};

    fn listing(at: chrono::DateTime<chrono::Utc>, locked: bool, online: bool) -> Inventory {
        Inventory {
            at,
            doors: vec![DoorReport {
                id: "d1".into(),
                name: Some("Server Room".into()),
                site: Some(Ref::new("s1", Some("HQ"))),
                controllers: vec!["cn1".into()],
                locked: Some(locked),
                open: Some(false),
            }],
            controllers: vec![ControllerReport {
                id: "cn1".into(),
                name: Some("Panel 1".into()),
                online: Some(online),
            }],
        }
    }

    #[test]
    fn a_listing_names_doors_and_sets_status() {
        let mut s = LiveState::new();
        let at = ev(K::DoorOpened, 0).occurred_at;
        let changes = s.apply_inventory("src", Vendor::Pdk, &listing(at, true, true));
        let key = DoorKey::new("src", "d1");
        assert!(changes.doors.contains(&key));
        let door = s.door(&key).unwrap();
        assert_eq!(door.name(), Some("Server Room"));
        assert_eq!(
            (door.lock(), door.position()),
            (LockState::Locked, Position::Closed)
        );
        let c = s.controller(&ControllerKey::new("src", "cn1")).unwrap();
        assert_eq!((c.name(), c.link()), (Some("Panel 1"), Link::Online));
        assert!(c.door_ids().contains("d1"));
        // The same listing again changes nothing.
        assert!(
            s.apply_inventory("src", Vendor::Pdk, &listing(at, true, true))
                .is_empty()
        );
    }

    #[test]
    fn a_listing_never_rolls_back_a_newer_event() {
        let mut s = LiveState::new();
        // The door was unlocked at +10 s; a listing read at +5 s said locked.
        s.apply(&ev(K::DoorUnlocked, 10));
        let older = ev(K::DoorOpened, 5).occurred_at;
        s.apply_inventory("src", Vendor::Pdk, &listing(older, true, false));
        let door = s.door(&DoorKey::new("src", "d1")).unwrap();
        assert_eq!(door.lock(), LockState::Unlocked);
        // A listing read later wins over the event.
        let newer = ev(K::DoorOpened, 20).occurred_at;
        s.apply_inventory("src", Vendor::Pdk, &listing(newer, true, false));
        let door = s.door(&DoorKey::new("src", "d1")).unwrap();
        assert_eq!(door.lock(), LockState::Locked);
        let c = s.controller(&ControllerKey::new("src", "cn1")).unwrap();
        assert_eq!(c.link(), Link::Offline);
    }
}

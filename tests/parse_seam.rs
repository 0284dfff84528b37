//! The Seam fixture page, parsed end to end, checked against a hand-written table.

use chrono::{TimeZone, Utc};
use doorwatch::model::{Event, Severity, Vendor, format_time};
use doorwatch::sources::{ParseContext, page_items, parse_batch, split_import};
use serde_json::Value;
use std::collections::HashMap;

const FIXTURE: &str = include_str!("fixtures/seam/events.json");
const SOURCE: &str = "hq-seam";

// Devices.
const SERVER_ROOM: &str = "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910";
const FRONT_DOOR: &str = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
const UNMANAGED: &str = "3b4c5d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e";
const SALTO_LOCK: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
const NOISE: &str = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
const THERMO: &str = "71c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e";
const ENTRANCE: &str = "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f";
// Controllers.
const AUGUST: &str = "c3a1f2d4-8e6b-4b7a-9f10-4d2c6e8a1b57";
const SALTO: &str = "a8f4e2b1-3c5d-4e6f-8a9b-0c1d2e3f4a5b";
const ACS: &str = "e1d2c3b4-a596-4877-9a6b-5c4d3e2f1a0b";
// People.
const USER: &str = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e";

use Severity::{Alarm, Info, Notice, Warning};

/// One expected event: vendor id, kind, severity, door (id, name), person, controller,
/// occurred_at (ms).
type Row = (
    &'static str,
    &'static str,
    Severity,
    Option<(&'static str, Option<&'static str>)>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

fn d(id: &'static str) -> Option<(&'static str, Option<&'static str>)> {
    Some((id, None))
}

#[rustfmt::skip]
fn expected() -> Vec<Row> {
    vec![
        ("9dfb369b-ab13-4fae-a276-55daa05f1119", "admin.connected_account_created", Info, None, None, Some(AUGUST), "2026-11-22T08:01:32.597Z"),
        ("2bd8a1e6-047a-4387-8dde-8d516301bbfc", "admin.connect_webview_login_succeeded", Info, None, None, Some(AUGUST), "2026-11-22T08:02:03.037Z"),
        ("5cbd0ba3-a1a6-4cde-ba12-4c647e02ff05", "controller.online", Info, None, None, Some(AUGUST), "2026-11-22T08:03:31.457Z"),
        ("b43c589b-b120-4366-b0bb-e9cf42f2dc05", "controller.sync_finished", Info, None, None, Some(AUGUST), "2026-11-22T08:04:25.313Z"),
        ("2330fcf1-562a-44b8-8866-8d77e827062c", "admin.device_added", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:05:33.845Z"),
        ("5e78454d-f065-41c2-84cc-4549c1acc990", "admin.device_name_changed", Info, Some((SERVER_ROOM, Some("Server Room"))), None, Some(AUGUST), "2026-11-22T08:06:56.908Z"),
        ("a22ea180-c5c2-42af-b977-a65499356597", "admin.device_added", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:07:44.634Z"),
        ("dafa3a38-7f00-4745-b319-4a3b381e53e7", "controller.online", Info, d(SERVER_ROOM), None, Some(SERVER_ROOM), "2026-11-22T08:08:17.581Z"),
        ("0f69a4d0-ab57-4985-8332-c3da675a2e19", "controller.online", Info, d(FRONT_DOOR), None, Some(FRONT_DOOR), "2026-11-22T08:09:49.222Z"),
        ("2eb73728-2fea-475e-b536-5e1458294a90", "admin.access_code_created", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:10:28.106Z"),
        ("43c48bc7-64cc-4cf9-aa5e-e53cac3e0b5b", "admin.access_code_scheduled_on_device", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:11:19.580Z"),
        ("fba3fec7-6ca3-47b5-bafe-9bd120c5d152", "admin.access_code_delay_in_setting_on_device", Notice, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:12:34.193Z"),
        ("56ec4c60-da8f-4fe2-9280-ba2e153453fd", "admin.access_code_set_on_device", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:13:13.602Z"),
        // keycode + access code: a person.
        ("90010259-98da-44bf-b559-2f89b3fb95ee", "access.granted", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:14:26.337Z"),
        ("6a015b66-5e4a-429c-9be7-df00cba497dd", "door.locked", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:15:23.894Z"),
        // manual: a door-state change.
        ("2970e819-ae6f-4f35-af02-bfb4365bf63a", "door.unlocked", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:16:01.961Z"),
        ("a3003324-c470-428b-8801-8f5e186391da", "door.locked", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:17:17.145Z"),
        ("489229e0-e9a5-442c-bd07-53e5f6e5c77a", "admin.action_attempt_unlock_door_succeeded", Info, None, None, None, "2026-11-22T08:18:24.127Z"),
        // plain remote (the API): a door-state change.
        ("f054e0b8-3ce3-494d-b394-7d9c777a5bbb", "door.unlocked", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:19:54.219Z"),
        ("232aa9de-fed4-4229-aed9-9a4927f82f94", "admin.action_attempt_lock_door_succeeded", Info, None, None, None, "2026-11-22T08:20:47.179Z"),
        ("1ddfc65e-144b-4080-921b-55ada989d8e5", "door.locked", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:21:30.590Z"),
        // no method at all.
        ("3916e1df-13d3-4b63-87e3-7c09f70c349f", "door.unlocked", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:22:39.691Z"),
        // remote via NFC with an ACS user: a person.
        ("c51ae08b-3727-4581-be57-821b6396e022", "access.granted", Info, d(SERVER_ROOM), Some(USER), Some(AUGUST), "2026-11-22T08:23:05.302Z"),
        // Bluetooth tap reported with method `unknown`.
        ("59208c65-f7ef-4db5-b2ec-aa17f0cbb970", "access.granted", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:24:29.616Z"),
        ("aededaaa-96aa-405b-a40f-82662a4abf0b", "access.denied", Warning, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:25:39.684Z"),
        ("a5464623-b584-4c5c-adc2-82116850360b", "access.denied", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:26:56.901Z"),
        ("f9837120-e88e-4d50-9042-3947d84dbd48", "admin.action_attempt_unlock_door_failed", Warning, None, None, None, "2026-11-22T08:27:14.057Z"),
        ("6d49c9d8-a620-4e8e-acba-2b799e3b3748", "admin.action_attempt_lock_door_failed", Warning, None, None, None, "2026-11-22T08:28:04.691Z"),
        ("fa216d55-547e-4e07-bea5-fdcb7856881e", "device.connection_unstable", Warning, d(FRONT_DOOR), None, Some(FRONT_DOOR), "2026-11-22T08:29:17.746Z"),
        ("6ac8578d-8ba8-4bc0-8954-34b4355d9c65", "controller.online", Info, d(FRONT_DOOR), None, Some(FRONT_DOOR), "2026-11-22T08:30:29.255Z"),
        ("970a1a4f-9074-47de-bbc7-ddb767fdb4fc", "controller.offline", Warning, d(FRONT_DOOR), None, Some(FRONT_DOOR), "2026-11-22T08:31:52.248Z"),
        ("23988be3-90dd-4d0f-85c4-9a0c911de6fd", "device.tamper", Alarm, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:32:02.632Z"),
        ("06df41fe-0741-40b8-a8b7-9ab6eebb6992", "device.battery_low", Notice, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:33:38.968Z"),
        ("f30a0dd6-0d63-4b86-b809-5d20fb5f96e1", "device.battery_low", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:34:19.730Z"),
        ("4bd2805b-d8ff-4d9b-87a3-e3f5332c9777", "other", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:35:06.434Z"),
        ("ec33bfa3-7bc2-4c58-b8b9-9e7a45c42b8a", "controller.online", Info, d(UNMANAGED), None, Some(UNMANAGED), "2026-11-22T08:36:20.007Z"),
        ("74c23bd4-84c0-41a8-b1f9-a5b8f1df7a35", "controller.offline", Warning, d(UNMANAGED), None, Some(UNMANAGED), "2026-11-22T08:37:00.219Z"),
        ("766487ef-c104-4c5f-815a-e7f9a24cac4b", "other", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:38:22.601Z"),
        ("c29d40ef-5e5b-42a4-8897-37010ede2ecf", "other", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:39:24.405Z"),
        ("f4540f67-7ac2-47fc-b3a7-4c4eee57795f", "other", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:40:18.483Z"),
        ("8ff55d38-796e-4f30-ba61-282cdd85fc8e", "other", Notice, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:41:02.169Z"),
        ("f086e276-e60e-4228-b604-0d403b5f45ae", "admin.device_converted_to_unmanaged", Notice, d(UNMANAGED), None, Some(AUGUST), "2026-11-22T08:42:49.587Z"),
        ("568f3218-7ce1-4609-a9f9-4ec300d19541", "admin.device_unmanaged_converted_to_managed", Info, d(UNMANAGED), None, Some(AUGUST), "2026-11-22T08:43:24.935Z"),
        ("b3620503-3657-470b-bf79-107e0ab9cd3a", "admin.device_third_party_integration_detected", Notice, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:44:13.925Z"),
        ("aa581d9b-51de-4335-b3d5-8349ac017ff0", "admin.device_third_party_integration_no_longer_detected", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:45:06.666Z"),
        ("4d12c512-4955-4790-b366-19b4f25e4605", "admin.device_salto_privacy_mode_activated", Info, d(SALTO_LOCK), None, Some(SALTO), "2026-11-22T08:46:20.828Z"),
        ("9da13695-5202-4f9b-a699-7c899f592c2f", "admin.device_salto_privacy_mode_deactivated", Info, d(SALTO_LOCK), None, Some(SALTO), "2026-11-22T08:47:45.692Z"),
        ("1e0a8d5a-5f89-441e-9c2a-c5057c02bfc2", "admin.device_removed", Notice, d(UNMANAGED), None, Some(AUGUST), "2026-11-22T08:48:17.530Z"),
        ("3bce1484-b0ae-49bb-b96a-149cb6340e6b", "admin.device_deleted", Notice, d(UNMANAGED), None, Some(AUGUST), "2026-11-22T08:49:21.011Z"),
        ("97ecf2b1-17a5-4a55-937e-5e4e8ff78584", "admin.access_code_changed", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:50:34.887Z"),
        ("8b7cb400-3794-4152-924a-9c606b8fbb95", "admin.access_code_failed_to_set_on_device", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:51:32.159Z"),
        ("a458845e-8228-4548-bfb4-ae93c1cf57ea", "admin.access_code_failed_to_remove_from_device", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:52:14.696Z"),
        ("e2a0f5f3-f984-4753-9dd1-0bb4b7569bea", "admin.access_code_delay_in_removing_from_device", Notice, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:53:01.269Z"),
        ("d2cab962-e757-460c-b10d-382bb623cab1", "admin.access_code_modified_external_to_seam", Notice, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:54:41.487Z"),
        ("0fceb2d9-598d-4ec4-bfb8-c1b21c718b6e", "admin.access_code_deleted_external_to_seam", Notice, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:55:07.017Z"),
        ("4323591e-7a0f-40d5-9701-9206e3dfa76a", "admin.access_code_backup_access_code_pulled", Notice, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:56:13.202Z"),
        ("a3d94a3e-eacf-4fc7-ad0c-7fd04a6a45b5", "admin.access_code_removed_from_device", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:57:34.470Z"),
        ("dd4ee478-c97a-4d46-a7d1-5a24c47c1814", "admin.access_code_deleted", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T08:58:12.764Z"),
        ("f503d1c2-74f6-4c1d-8a59-b626fbf7bc69", "admin.access_code_unmanaged_converted_to_managed", Info, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T08:59:49.080Z"),
        ("02e8ac7e-3b26-44d3-b653-993ae99faf22", "admin.access_code_unmanaged_failed_to_convert_to_managed", Warning, d(FRONT_DOOR), None, Some(AUGUST), "2026-11-22T09:00:32.026Z"),
        // A type newer than doorwatch's table: kept as `other`.
        ("a93e0522-e35d-44ac-8bf8-1852224be6ba", "other", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T09:01:54.441Z"),
        ("b82e6eac-61aa-465b-8a46-7a028c665abb", "controller.online", Info, None, None, Some(SALTO), "2026-11-22T09:02:33.701Z"),
        ("462151bb-641a-4e1a-8ddb-765e91ed52a3", "admin.acs_system_added", Info, None, None, Some(ACS), "2026-11-22T09:03:57.950Z"),
        ("2d656479-0bce-45d5-bfb0-ec3ff8c415a3", "controller.online", Info, None, None, Some(ACS), "2026-11-22T09:04:41.727Z"),
        ("e78b380a-5022-45f4-b080-a4cfd76cc796", "admin.acs_user_created", Info, None, Some(USER), Some(ACS), "2026-11-22T09:05:07.257Z"),
        ("3594c05f-98a8-46e0-af8d-67f4f6f13e22", "admin.acs_credential_issued", Info, None, None, Some(ACS), "2026-11-22T09:06:17.612Z"),
        ("5598f3f0-8de8-4c4c-8dcc-ce7a3dc26d9b", "admin.acs_entrance_added", Info, d(ENTRANCE), None, Some(ACS), "2026-11-22T09:07:29.509Z"),
        ("243fb7ec-49f1-4d8d-8d19-812c8a58ed51", "admin.acs_encoder_added", Info, None, None, Some(ACS), "2026-11-22T09:08:17.003Z"),
        ("bd929b4d-24c2-4bf8-b32a-233536fdaf90", "admin.access_grant_created", Info, None, None, None, "2026-11-22T09:09:57.175Z"),
        ("fa3c7c60-fd0b-403a-b6cd-20086f0d43ff", "admin.access_method_issued", Info, None, None, None, "2026-11-22T09:10:14.936Z"),
        ("840ad72b-8af9-425d-a585-52d070880ca8", "admin.acs_credential_deleted", Info, None, None, Some(ACS), "2026-11-22T09:11:32.269Z"),
        ("5ae0f2b6-c538-477c-801d-ef94316bb522", "admin.acs_user_deleted", Info, None, Some(USER), Some(ACS), "2026-11-22T09:12:00.292Z"),
        ("f899a8b5-2cb0-4f67-af7b-bbd6fa3c3282", "admin.acs_access_group_deleted", Info, None, None, Some(ACS), "2026-11-22T09:13:25.948Z"),
        ("fa5c9ded-f730-4e61-a3ee-6beda7990848", "admin.acs_entrance_removed", Info, d(ENTRANCE), None, Some(ACS), "2026-11-22T09:14:05.946Z"),
        ("e6aafed5-c00b-43be-bc9a-7bfc4ba7c610", "controller.offline", Warning, None, None, Some(ACS), "2026-11-22T09:15:04.652Z"),
        ("3a6887db-6a0c-4232-b2ee-ccffd7e93378", "controller.offline", Warning, None, None, Some(SALTO), "2026-11-22T09:16:47.448Z"),
        ("ee8ec2aa-e8e7-4c56-a210-31ef15b75f1d", "admin.connected_account_reauthorization_requested", Warning, None, None, Some(SALTO), "2026-11-22T09:17:04.931Z"),
        ("a94a7277-5ac7-42c2-bf82-f27277eddd77", "admin.connect_webview_login_failed", Warning, None, None, None, "2026-11-22T09:18:28.591Z"),
        ("33107019-59fe-41af-b233-93ab299e56ba", "controller.sync_finished", Info, None, None, Some(SALTO), "2026-11-22T09:19:04.447Z"),
        ("81bccb31-64e2-4f4a-97c2-f76df3dd29eb", "other", Notice, d(NOISE), None, Some(AUGUST), "2026-11-22T09:20:22.724Z"),
        ("f239068f-4eb1-4220-adf5-3e0410066ff6", "other", Info, d(THERMO), None, Some(AUGUST), "2026-11-22T09:21:30.920Z"),
        // A phone is no door.
        ("b079b750-b9d2-41f2-b84a-678b45ffec90", "other", Info, None, None, None, "2026-11-22T09:22:58.971Z"),
        ("0346d52a-e6b0-40bb-b572-963918044988", "other", Info, None, None, None, "2026-11-22T09:23:35.266Z"),
        ("7bdfb5cf-0286-4dd3-86b8-3f4693d884b6", "other", Info, None, None, None, "2026-11-22T09:24:06.931Z"),
        ("d6d45d99-abe3-4db5-9791-e93dcef7876c", "admin.client_session_deleted", Info, None, None, None, "2026-11-22T09:25:49.106Z"),
        ("a11ad4fd-d881-4c73-a4a0-2f88e89c59de", "admin.connected_account_deleted", Info, None, None, Some(SALTO), "2026-11-22T09:26:44.035Z"),
        // Offline history uploaded late: occurred_at is hours before created_at.
        ("860893be-275b-43ca-86e2-5bc756483f64", "access.granted", Info, d(SERVER_ROOM), None, Some(AUGUST), "2026-11-22T06:12:44.120Z"),
    ]
}

fn ctx() -> ParseContext<'static> {
    ParseContext {
        source: SOURCE,
        received_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
    }
}

fn parsed() -> (Vec<Value>, Vec<Event>) {
    let (items, rejected) = split_import(Vendor::Seam, FIXTURE);
    assert!(rejected.is_empty(), "{rejected:?}");
    let events = parse_batch(Vendor::Seam, &ctx(), items.clone())
        .into_iter()
        .map(|r| r.unwrap_or_else(|rej| panic!("rejected: {} ({})", rej.error, rej.raw)))
        .collect();
    (items, events)
}

#[test]
fn fixture_is_a_seam_list_page() {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let items = page_items(Vendor::Seam, &doc).expect("a {\"events\": [...]} page");
    assert_eq!(items.len(), expected().len());
    // The same page with the fake's `"ok": true` is still a page.
    let mut with_ok = doc.clone();
    with_ok["ok"] = Value::Bool(true);
    assert_eq!(
        page_items(Vendor::Seam, &with_ok).map(|v| v.len()),
        Some(items.len())
    );
}

#[test]
fn every_fixture_event_matches_the_table() {
    let (items, events) = parsed();
    let rows = expected();
    assert_eq!(
        events.len(),
        rows.len(),
        "fixture and table disagree on size"
    );
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    assert_eq!(by_id.len(), events.len(), "duplicate ids");

    for (vendor_id, kind, severity, door, person, controller, at) in rows {
        let id = format!("{SOURCE}:{vendor_id}");
        let e = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("no event {id}"));
        let ctx = format!("{vendor_id} ({})", e.vendor_type);
        assert_eq!(e.kind.name(), kind, "kind of {ctx}");
        assert_eq!(e.severity, severity, "severity of {ctx}");
        assert_eq!(
            e.door.as_ref().map(|r| (r.id.as_str(), r.name.as_deref())),
            door,
            "door of {ctx}"
        );
        assert_eq!(
            e.person.as_ref().map(|r| r.id.as_str()),
            person,
            "person of {ctx}"
        );
        assert_eq!(
            e.controller.as_ref().map(|r| r.id.as_str()),
            controller,
            "controller of {ctx}"
        );
        assert_eq!(format_time(&e.occurred_at), at, "occurred_at of {ctx}");
    }

    // Vendor type, vendor, source, raw and summary for every item.
    for (item, e) in items.iter().zip(&events) {
        assert_eq!(e.vendor, Vendor::Seam);
        assert_eq!(e.source, SOURCE);
        assert_eq!(Some(e.vendor_type.as_str()), item["event_type"].as_str());
        assert_eq!(&e.raw, item, "raw kept unchanged");
        assert!(!e.summary.trim().is_empty(), "summary of {}", e.id);
        assert_eq!(e.received_at, ctx().received_at);
        assert!(e.site.is_none());
    }
}

#[test]
fn summaries_credentials_and_outcomes() {
    let (_, events) = parsed();
    let get = |vendor_id: &str| {
        let id = format!("{SOURCE}:{vendor_id}");
        events
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    const CODE: &str = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d";
    const DENIED_CODE: &str = "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f";
    const CARD: &str = "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f7a";

    // event_description wins when present.
    let e = get("90010259-98da-44bf-b559-2f89b3fb95ee");
    assert_eq!(e.summary, "The lock was unlocked with an access code.");
    assert_eq!(e.credential.as_deref(), Some(CODE));
    assert_eq!(e.success, Some(true));
    // `""` (as the fake sends) falls back to a human line.
    let e = get("5cbd0ba3-a1a6-4cde-ba12-4c647e02ff05");
    assert_eq!(e.summary, format!("Connected account {AUGUST} online"));
    // Human lines built from the payload.
    let e = get("2970e819-ae6f-4f35-af02-bfb4365bf63a");
    assert_eq!(e.summary, format!("{FRONT_DOOR} unlocked (manual)"));
    assert_eq!(e.success, None);
    let e = get("c51ae08b-3727-4581-be57-821b6396e022");
    assert_eq!(e.summary, format!("{SERVER_ROOM} unlocked (remote, NFC)"));
    let e = get("1ddfc65e-144b-4080-921b-55ada989d8e5");
    assert_eq!(e.summary, format!("{FRONT_DOOR} locked (Seam API)"));
    let e = get("970a1a4f-9074-47de-bbc7-ddb767fdb4fc");
    assert_eq!(
        e.summary,
        format!("{FRONT_DOOR} offline (device disconnected)")
    );
    let e = get("06df41fe-0741-40b8-a8b7-9ab6eebb6992");
    assert_eq!(e.summary, format!("{FRONT_DOOR} battery low (12%)"));
    let e = get("a5464623-b584-4c5c-adc2-82116850360b");
    assert_eq!(e.summary, format!("Access denied at {FRONT_DOOR}"));
    assert_eq!(e.success, Some(false));
    let e = get("aededaaa-96aa-405b-a40f-82662a4abf0b");
    assert_eq!(e.credential.as_deref(), Some(DENIED_CODE));
    let e = get("5e78454d-f065-41c2-84cc-4549c1acc990");
    assert_eq!(e.door.as_ref().map(|d| d.label()), Some("Server Room"));
    let e = get("3594c05f-98a8-46e0-af8d-67f4f6f13e22");
    assert_eq!(e.credential.as_deref(), Some(CARD));
    let e = get("f9837120-e88e-4d50-9042-3947d84dbd48");
    assert_eq!(e.success, Some(false));
    let e = get("a93e0522-e35d-44ac-8bf8-1852224be6ba");
    assert_eq!(e.vendor_type, "access_code.name_changed");
    assert_eq!(
        e.summary,
        format!("Access code name changed ({SERVER_ROOM})")
    );
}

#[test]
fn json_lines_and_arrays_of_the_same_events_parse_the_same() {
    let (items, events) = parsed();
    let lines: String = items.iter().map(|i| format!("{i}\n")).collect();
    let (from_lines, rejected) = split_import(Vendor::Seam, &lines);
    assert!(rejected.is_empty());
    let again: Vec<Event> = parse_batch(Vendor::Seam, &ctx(), from_lines)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(again, events);
}

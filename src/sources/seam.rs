//! Seam payloads → unified events.
//!
//! One Seam event object (from `/events/list`, `/events/get` or a webhook body) becomes
//! one [`Event`]. The mapping follows `protocols/seam.md`:
//!
//! | Seam `event_type` | kind | severity |
//! |---|---|---|
//! | `lock.locked` | `door.locked` | info |
//! | `lock.unlocked` by a person (an `access_code_id`, method `keycode`, or a phone tap: `is_via_nfc` / `is_via_bluetooth` with any method but `manual`/`automatic`) | `access.granted` | info |
//! | `lock.unlocked` otherwise (`manual`, `automatic`, plain `remote`, `seamapi`, `unknown`, none) | `door.unlocked` | info |
//! | `lock.access_denied` | `access.denied` | warning |
//! | `device.connected`, `device.unmanaged.connected` | `controller.online` | info |
//! | `device.disconnected`, `device.unmanaged.disconnected` | `controller.offline` | warning |
//! | `device.connection_became_flaky` | `device.connection_unstable` | warning |
//! | `device.connection_stabilized` | `controller.online` (clears "unstable"; the device is reachable) | info |
//! | `device.tampered` | `device.tamper` | alarm |
//! | `device.low_battery` | `device.battery_low` | notice |
//! | `device.battery_status_changed` | `device.battery_low` when `low` (notice) / `critical` (warning), else `other` | |
//! | `device.error.subscription_required` / `.resolved` | `other` | warning / info |
//! | `device.accessory_keypad_connected` / `_disconnected` | `other` | info / notice |
//! | device admin (`device.added`, `device.removed`, ...) | `admin.<type>` | info; notice for removed/deleted/converted_to_unmanaged/third-party detected |
//! | `action_attempt.<action>.succeeded` / `.failed` | `admin.<type>` | info / warning |
//! | the listed `access_code.*` types, `access_code.unmanaged.*` | `admin.<type>` | info; failures warning; delays, external changes, backup pulled notice |
//! | `access_grant.*`, `access_method.*`, `acs_credential.*`, `acs_user.*`, `acs_encoder.*`, `acs_access_group.deleted`, `acs_entrance.added/removed`, `acs_system.added` (and any other `acs_system.*`) | `admin.<type>` | info; warning when the type says it failed |
//! | `acs_system.connected` / `disconnected`, `connected_account.connected` / `disconnected` | `controller.online` / `offline` | info / warning |
//! | `connected_account.completed_first_sync(_after_reconnection)` | `controller.sync_finished` | info |
//! | `connected_account.created/deleted`, `connect_webview.login_*`, `client_session.deleted` | `admin.<type>` | info; `login_failed` warning |
//! | `connected_account.reauthorization_requested` | `admin.<type>` | warning |
//! | `noise_sensor.*`, `thermostat.*`, `phone.*`, `space.*`, `enrollment_automation.*` | `other` | info (noise threshold: notice) |
//! | anything else (e.g. `access_code.name_changed`) | `other` | info |
//!
//! Refs:
//! - `door`: `device_id` (name from `device_name`, which Seam sends on
//!   `device.name_changed`), else `acs_entrance_id` (an ACS door). `phone.*` events
//!   carry the phone's `device_id`: a phone is no door, so they have none.
//! - `controller`: for device connectivity events (`device.connected`, `.disconnected`,
//!   the `unmanaged` pair, `connection_became_flaky`, `connection_stabilized`) the device
//!   itself: a Seam lock talks to the cloud on its own (or through a hub Seam does not
//!   name), so its online state is a controller row keyed by `device_id`. For
//!   `acs_*` events the ACS system (`acs_system_id`, else `connected_account_id`);
//!   for everything else the connected account (`connected_account_id`, else
//!   `acs_system_id`).
//! - `person`: `acs_user_id`, else `user_identity_id`. Seam events name no actor.
//! - `credential`: `access_code_id`, else `acs_credential_id`.
//!
//! Seam events carry no display names for accounts, systems or users, so those refs hold
//! ids only; the doors pane names them from `/devices/list` and friends.

pub mod live;

use super::{ParseContext, ParseError, fields};
use crate::model::{Event, EventKind, Ref, Severity, Vendor};
use serde_json::Value;

/// Parse one Seam event object.
pub fn parse(ctx: &ParseContext, item: &Value) -> Result<Event, ParseError> {
    if !item.is_object() {
        return Err(ParseError::new(format!(
            "seam event must be a JSON object, got {}",
            fields::json_type(item)
        )));
    }
    let event_type = fields::text(item, &["event_type"])
        .map(|t| t.trim().to_string())
        .ok_or_else(|| ParseError::new("seam event has no event_type"))?;
    let occurred_at = fields::time(item, &["occurred_at"])
        .or_else(|| fields::time(item, &["created_at"]))
        .ok_or_else(|| {
            ParseError::new(format!(
                "seam event {event_type} has no parseable occurred_at or created_at"
            ))
        })?;
    let vendor_id = fields::text(item, &["event_id"]).unwrap_or_else(|| fields::content_id(item));

    let class = classify(&event_type, item);
    // A phone is a Seam device too, but never a door.
    let device = if event_type.starts_with("phone.") {
        None
    } else {
        device_ref(item)
    };
    let door = device.clone().or_else(|| {
        fields::text(item, &["acs_entrance_id"]).map(|id| Ref::new(id, None::<String>))
    });
    let controller = controller_ref(&event_type, item, device.as_ref());
    let person = fields::first_text(item, &[&["acs_user_id"], &["user_identity_id"]])
        .map(|id| Ref::new(id, None::<String>));
    let credential = fields::first_text(item, &[&["access_code_id"], &["acs_credential_id"]]);

    let summary = fields::text(item, &["event_description"])
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| {
            describe(
                &event_type,
                &class.kind,
                item,
                door.as_ref(),
                controller.as_ref(),
                credential.as_deref(),
            )
        });

    Ok(Event {
        id: Event::make_id(ctx.source, &vendor_id),
        source: ctx.source.to_string(),
        vendor: Vendor::Seam,
        occurred_at,
        received_at: ctx.received_at,
        kind: class.kind,
        vendor_type: event_type,
        severity: class.severity,
        door,
        controller,
        person,
        site: None,
        credential,
        success: class.success,
        summary,
        raw: item.into(),
    })
}

/// If `v` is Seam's `/events/list` response (`{"events": [...]}`, with or without
/// `"ok"`), its event items.
pub fn page_items(v: &Value) -> Option<Vec<Value>> {
    match v.get("events")? {
        Value::Array(items) if v.is_object() => Some(items.clone()),
        _ => None,
    }
}

/// Kind, severity and outcome of one event type.
struct Class {
    kind: EventKind,
    severity: Severity,
    success: Option<bool>,
}

impl Class {
    fn new(kind: EventKind, severity: Severity) -> Self {
        Class {
            kind,
            severity,
            success: None,
        }
    }

    fn with_success(mut self, success: bool) -> Self {
        self.success = Some(success);
        self
    }

    fn admin(event_type: &str, severity: Severity) -> Self {
        Class::new(EventKind::admin(event_type), severity)
    }

    fn other(severity: Severity) -> Self {
        Class::new(EventKind::Other, severity)
    }
}

/// Device admin types (exact: Seam's own list; new ones fall to `other`).
const DEVICE_ADMIN: &[&str] = &[
    "device.added",
    "device.removed",
    "device.deleted",
    "device.name_changed",
    "device.converted_to_unmanaged",
    "device.unmanaged.converted_to_managed",
    "device.third_party_integration_detected",
    "device.third_party_integration_no_longer_detected",
    "device.salto.privacy_mode_activated",
    "device.salto.privacy_mode_deactivated",
];

/// Access code types (exact: the protocol notes name `access_code.name_changed` as a
/// newer type that stays `other`).
const ACCESS_CODE_ADMIN: &[&str] = &[
    "access_code.created",
    "access_code.changed",
    "access_code.deleted",
    "access_code.scheduled_on_device",
    "access_code.set_on_device",
    "access_code.removed_from_device",
    "access_code.failed_to_set_on_device",
    "access_code.failed_to_remove_from_device",
    "access_code.delay_in_setting_on_device",
    "access_code.delay_in_removing_from_device",
    "access_code.modified_external_to_seam",
    "access_code.deleted_external_to_seam",
    "access_code.backup_access_code_pulled",
];

/// Families that are audit events whatever the rest of the type says.
const ADMIN_PREFIXES: &[&str] = &[
    "access_code.unmanaged.",
    "access_grant.",
    "access_method.",
    "acs_system.",
    "acs_credential.",
    "acs_user.",
    "acs_encoder.",
];

/// Single admin types outside the families above.
const OTHER_ADMIN: &[&str] = &[
    "acs_access_group.deleted",
    "acs_entrance.added",
    "acs_entrance.removed",
    "connected_account.created",
    "connected_account.deleted",
    "connect_webview.login_succeeded",
    "connect_webview.login_failed",
    "client_session.deleted",
];

/// Sensor and other non-access families: kept as `other`.
const OTHER_PREFIXES: &[&str] = &[
    "noise_sensor.",
    "thermostat.",
    "phone.",
    "space.",
    "enrollment_automation.",
];

fn classify(event_type: &str, item: &Value) -> Class {
    use EventKind as K;
    use Severity::*;
    match event_type {
        "lock.locked" => Class::new(K::DoorLocked, Info),
        "lock.unlocked" if unlocked_by_person(item) => {
            Class::new(K::AccessGranted, Info).with_success(true)
        }
        "lock.unlocked" => Class::new(K::DoorUnlocked, Info),
        "lock.access_denied" => Class::new(K::AccessDenied, Warning).with_success(false),

        "device.connected" | "device.unmanaged.connected" | "device.connection_stabilized" => {
            Class::new(K::ControllerOnline, Info)
        }
        "device.disconnected" | "device.unmanaged.disconnected" => {
            Class::new(K::ControllerOffline, Warning)
        }
        "device.connection_became_flaky" => Class::new(K::DeviceConnectionUnstable, Warning),
        "device.tampered" => Class::new(K::DeviceTamper, Alarm),
        "device.low_battery" => Class::new(K::DeviceBatteryLow, Notice),
        "device.battery_status_changed" => {
            match fields::text(item, &["battery_status"])
                .map(|s| s.to_ascii_lowercase())
                .as_deref()
            {
                Some("critical") => Class::new(K::DeviceBatteryLow, Warning),
                Some("low") => Class::new(K::DeviceBatteryLow, Notice),
                _ => Class::other(Info),
            }
        }
        "device.error.subscription_required" => Class::other(Warning),
        "device.error.subscription_required.resolved" => Class::other(Info),
        "device.accessory_keypad_connected" => Class::other(Info),
        "device.accessory_keypad_disconnected" => Class::other(Notice),

        "acs_system.connected" | "connected_account.connected" => {
            Class::new(K::ControllerOnline, Info)
        }
        "acs_system.disconnected" | "connected_account.disconnected" => {
            Class::new(K::ControllerOffline, Warning)
        }
        "connected_account.completed_first_sync"
        | "connected_account.completed_first_sync_after_reconnection" => {
            Class::new(K::ControllerSyncFinished, Info)
        }
        "connected_account.reauthorization_requested" => Class::admin(event_type, Warning),

        "noise_sensor.noise_threshold_triggered" => Class::other(Notice),

        t if DEVICE_ADMIN.contains(&t) => {
            let notable = matches!(
                t,
                "device.removed"
                    | "device.deleted"
                    | "device.converted_to_unmanaged"
                    | "device.third_party_integration_detected"
            );
            Class::admin(t, if notable { Notice } else { Info })
        }
        t if ACCESS_CODE_ADMIN.contains(&t) => {
            if t.contains("failed_to_") {
                Class::admin(t, Warning).with_success(false)
            } else if t.contains("delay_in_")
                || t.ends_with("_external_to_seam")
                || t.ends_with("backup_access_code_pulled")
            {
                Class::admin(t, Notice)
            } else {
                Class::admin(t, Info)
            }
        }
        t if t.starts_with("action_attempt.") && t.ends_with(".succeeded") => {
            Class::admin(t, Info).with_success(true)
        }
        t if t.starts_with("action_attempt.") && t.ends_with(".failed") => {
            Class::admin(t, Warning).with_success(false)
        }
        t if OTHER_ADMIN.contains(&t) || ADMIN_PREFIXES.iter().any(|p| t.starts_with(p)) => {
            if says_failed(t) {
                Class::admin(t, Warning).with_success(false)
            } else if t.ends_with(".login_succeeded") {
                Class::admin(t, Info).with_success(true)
            } else {
                Class::admin(t, Info)
            }
        }
        t if OTHER_PREFIXES.iter().any(|p| t.starts_with(p)) => Class::other(Info),
        _ => Class::other(Info),
    }
}

/// A type whose name says something did not work (`login_failed`,
/// `unmanaged.failed_to_convert_to_managed`, `could_not_create_...`).
fn says_failed(event_type: &str) -> bool {
    event_type.contains("failed") || event_type.contains("could_not")
}

/// An unlock by a person rather than a door-state change: an access code was used, the
/// method is `keycode`, or a phone tapped (NFC / Bluetooth, reported with `remote`).
/// `manual` and `automatic` are never a person, whatever flags come with them.
fn unlocked_by_person(item: &Value) -> bool {
    if fields::text(item, &["access_code_id"]).is_some() {
        return true;
    }
    match method(item).as_deref() {
        Some("keycode") => true,
        Some("manual") | Some("automatic") => false,
        _ => phone_tap(item).is_some(),
    }
}

fn method(item: &Value) -> Option<String> {
    fields::text(item, &["method"]).map(|m| m.trim().to_ascii_lowercase())
}

/// `Some("NFC")` / `Some("Bluetooth")` when the lock reports a phone tap.
fn phone_tap(item: &Value) -> Option<&'static str> {
    if fields::boolean(item, &["is_via_nfc"]) == Some(true) {
        Some("NFC")
    } else if fields::boolean(item, &["is_via_bluetooth"]) == Some(true) {
        Some("Bluetooth")
    } else {
        None
    }
}

fn device_ref(item: &Value) -> Option<Ref> {
    let id = fields::text(item, &["device_id"])?;
    let name = fields::text(item, &["device_name"]).map(|n| n.trim().to_string());
    Some(Ref::new(id, name))
}

fn is_device_connectivity(event_type: &str) -> bool {
    matches!(
        event_type,
        "device.connected"
            | "device.disconnected"
            | "device.unmanaged.connected"
            | "device.unmanaged.disconnected"
            | "device.connection_became_flaky"
            | "device.connection_stabilized"
    )
}

fn controller_ref(event_type: &str, item: &Value, device: Option<&Ref>) -> Option<Ref> {
    if is_device_connectivity(event_type)
        && let Some(d) = device
    {
        return Some(d.clone());
    }
    let account: &[&str] = &["connected_account_id"];
    let system: &[&str] = &["acs_system_id"];
    let order = if event_type.starts_with("acs_") {
        [system, account]
    } else {
        [account, system]
    };
    fields::first_text(item, &order).map(|id| Ref::new(id, None::<String>))
}

/// A human line for events that come without `event_description`.
fn describe(
    event_type: &str,
    kind: &EventKind,
    item: &Value,
    door: Option<&Ref>,
    controller: Option<&Ref>,
    credential: Option<&str>,
) -> String {
    let place = door.map(Ref::label).unwrap_or("Lock");
    let ctl = controller.map(Ref::label).unwrap_or("unknown");
    match event_type {
        "lock.locked" | "lock.unlocked" => {
            let verb = if event_type == "lock.locked" {
                "locked"
            } else {
                "unlocked"
            };
            match how(item) {
                Some(how) => format!("{place} {verb} ({how})"),
                None => format!("{place} {verb}"),
            }
        }
        "lock.access_denied" => {
            let reason = fields::first_text(
                item,
                &[
                    &["reason", "message"],
                    &["reason", "reason_code"],
                    &["reason"],
                ],
            );
            match reason {
                Some(r) => format!("Access denied at {place} ({r})"),
                None => format!("Access denied at {place}"),
            }
        }
        "device.connected" | "device.unmanaged.connected" => format!("{place} online"),
        "device.disconnected" | "device.unmanaged.disconnected" => {
            match fields::text(item, &["error_code"]) {
                Some(code) => format!("{place} offline ({})", code.replace('_', " ")),
                None => format!("{place} offline"),
            }
        }
        "device.connection_became_flaky" => format!("{place} connection unstable"),
        "device.connection_stabilized" => format!("{place} connection stable again"),
        "device.tampered" => format!("{place} tampered"),
        "device.low_battery" => match battery_percent(item) {
            Some(p) => format!("{place} battery low ({p}%)"),
            None => format!("{place} battery low"),
        },
        "device.battery_status_changed" => {
            let status =
                fields::text(item, &["battery_status"]).unwrap_or_else(|| "changed".into());
            match battery_percent(item) {
                Some(p) => format!("{place} battery {status} ({p}%)"),
                None => format!("{place} battery {status}"),
            }
        }
        "acs_system.connected" => format!("Access system {ctl} online"),
        "acs_system.disconnected" => format!("Access system {ctl} offline"),
        "connected_account.connected" => format!("Connected account {ctl} online"),
        "connected_account.disconnected" => format!("Connected account {ctl} offline"),
        _ if *kind == EventKind::ControllerSyncFinished => {
            format!("Connected account {ctl} finished syncing")
        }
        _ => {
            let what = humanize(event_type);
            let subject = door
                .map(|d| d.label().to_string())
                .or_else(|| credential.map(str::to_string))
                .or_else(|| fields::first_text(item, &[&["acs_user_id"], &["action_attempt_id"]]))
                .or_else(|| controller.map(|c| c.label().to_string()));
            match subject {
                Some(s) => format!("{what} ({s})"),
                None => what,
            }
        }
    }
}

/// How a lock changed state, for the summary: `keycode`, `remote, NFC`, `access code`.
fn how(item: &Value) -> Option<String> {
    let method = method(item);
    let tap = phone_tap(item);
    match (method.as_deref(), tap) {
        (Some("seamapi"), _) => Some("Seam API".into()),
        (Some(m), Some(t)) if m != "manual" && m != "automatic" => Some(format!("{m}, {t}")),
        (Some(m), _) => Some(m.to_string()),
        (None, Some(t)) => Some(format!("phone, {t}")),
        (None, None) if fields::text(item, &["access_code_id"]).is_some() => {
            Some("access code".into())
        }
        (None, None) => None,
    }
}

/// `battery_level` (0..1) as a whole percentage.
fn battery_percent(item: &Value) -> Option<i64> {
    let level = fields::at(item, &["battery_level"])?.as_f64()?;
    if !level.is_finite() || !(0.0..=1.0).contains(&level) {
        return None;
    }
    Some((level * 100.0).round() as i64)
}

/// `access_code.set_on_device` → `Access code set on device`.
fn humanize(event_type: &str) -> String {
    let words: Vec<String> = event_type
        .split(['.', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "acs" => "ACS".to_string(),
            other => other.to_string(),
        })
        .collect();
    let line = fields::capitalize(&words.join(" "));
    if line.is_empty() {
        "Seam event".into()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn ctx() -> ParseContext<'static> {
        ParseContext {
            source: "hq-seam",
            received_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        }
    }

    fn unlock(extra: Value) -> Value {
        let mut v = json!({
            "event_id": "9b1c6f4e-2d7a-4c3b-8e5f-1a2b3c4d5e6f",
            "event_type": "lock.unlocked",
            "workspace_id": "5b2e9c41-7f0a-4d3e-8c61-2a9f4e7d1b03",
            "device_id": "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910",
            "connected_account_id": "c3a1f2d4-8e6b-4b7a-9f10-4d2c6e8a1b57",
            "created_at": "2026-11-22T10:00:02.654321Z",
            "occurred_at": "2026-11-22T10:00:01.123456Z",
        });
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        v
    }

    fn kind_of(v: &Value) -> EventKind {
        parse(&ctx(), v).unwrap().kind
    }

    #[test]
    fn unlock_method_variants() {
        let granted = [
            json!({"method": "keycode"}),
            json!({"method": "keycode", "access_code_id": "ac-1"}),
            json!({"access_code_id": "ac-1"}),
            json!({"method": "remote", "is_via_nfc": true}),
            json!({"method": "remote", "is_via_bluetooth": true}),
            json!({"method": "unknown", "is_via_nfc": "true"}),
            json!({"method": "KEYCODE"}),
        ];
        for extra in granted {
            let e = parse(&ctx(), &unlock(extra.clone())).unwrap();
            assert_eq!(e.kind, EventKind::AccessGranted, "{extra}");
            assert_eq!(e.success, Some(true), "{extra}");
        }
        let state_change = [
            json!({"method": "manual"}),
            json!({"method": "automatic"}),
            json!({"method": "remote"}),
            json!({"method": "remote", "is_via_nfc": false, "is_via_bluetooth": false}),
            json!({"method": "seamapi"}),
            json!({"method": "unknown"}),
            json!({"method": "manual", "is_via_bluetooth": true}),
            json!({}),
            json!({"method": null, "access_code_id": null}),
        ];
        for extra in state_change {
            let e = parse(&ctx(), &unlock(extra.clone())).unwrap();
            assert_eq!(e.kind, EventKind::DoorUnlocked, "{extra}");
            assert_eq!(e.success, None, "{extra}");
        }
    }

    #[test]
    fn unlock_fields_and_summary() {
        let item =
            unlock(json!({"method": "keycode", "access_code_id": "ac-7", "acs_user_id": "u-1"}));
        let e = parse(&ctx(), &item).unwrap();
        assert_eq!(e.id, "hq-seam:9b1c6f4e-2d7a-4c3b-8e5f-1a2b3c4d5e6f");
        assert_eq!(e.source, "hq-seam");
        assert_eq!(e.vendor, Vendor::Seam);
        assert_eq!(e.vendor_type, "lock.unlocked");
        assert_eq!(
            e.door,
            Some(Ref::new(
                "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910",
                None::<String>
            ))
        );
        assert_eq!(
            e.controller,
            Some(Ref::new(
                "c3a1f2d4-8e6b-4b7a-9f10-4d2c6e8a1b57",
                None::<String>
            ))
        );
        assert_eq!(e.person, Some(Ref::new("u-1", None::<String>)));
        assert_eq!(e.credential.as_deref(), Some("ac-7"));
        assert_eq!(
            e.summary,
            "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910 unlocked (keycode)"
        );
        assert_eq!(e.raw, item);
        assert_eq!(e.received_at, ctx().received_at);

        let named = unlock(json!({"method": "keycode", "device_name": "Front Door"}));
        assert_eq!(
            parse(&ctx(), &named).unwrap().summary,
            "Front Door unlocked (keycode)"
        );
        let tap =
            unlock(json!({"method": "remote", "is_via_nfc": true, "device_name": "Front Door"}));
        assert_eq!(
            parse(&ctx(), &tap).unwrap().summary,
            "Front Door unlocked (remote, NFC)"
        );
        let described = unlock(json!({"event_description": "  The lock was unlocked.  "}));
        assert_eq!(
            parse(&ctx(), &described).unwrap().summary,
            "The lock was unlocked."
        );
        let blank = unlock(json!({"event_description": "", "device_name": "Back Door"}));
        assert_eq!(parse(&ctx(), &blank).unwrap().summary, "Back Door unlocked");
    }

    #[test]
    fn microsecond_and_other_times() {
        let e = parse(&ctx(), &unlock(json!({}))).unwrap();
        assert_eq!(
            crate::model::format_time(&e.occurred_at),
            "2026-11-22T10:00:01.123Z"
        );
        let nanos = unlock(json!({"occurred_at": "2026-11-22T10:00:01.987654321Z"}));
        assert_eq!(
            crate::model::format_time(&parse(&ctx(), &nanos).unwrap().occurred_at),
            "2026-11-22T10:00:01.987Z"
        );
        let whole = unlock(json!({"occurred_at": "2026-11-22T10:00:01Z"}));
        assert_eq!(
            crate::model::format_time(&parse(&ctx(), &whole).unwrap().occurred_at),
            "2026-11-22T10:00:01.000Z"
        );
        // occurred_at missing or garbage: created_at stands in.
        for occurred in [json!(null), json!("not a time"), json!("")] {
            let v = unlock(json!({"occurred_at": occurred}));
            assert_eq!(
                crate::model::format_time(&parse(&ctx(), &v).unwrap().occurred_at),
                "2026-11-22T10:00:02.654Z"
            );
        }
        let mut none = unlock(json!({}));
        none.as_object_mut().unwrap().remove("occurred_at");
        none.as_object_mut().unwrap().remove("created_at");
        assert!(parse(&ctx(), &none).is_err());
    }

    #[test]
    fn missing_fields() {
        let bare = json!({"event_type": "device.tampered", "occurred_at": "2026-11-22T10:00:00Z"});
        let e = parse(&ctx(), &bare).unwrap();
        assert_eq!(e.kind, EventKind::DeviceTamper);
        assert_eq!(e.severity, Severity::Alarm);
        assert_eq!(e.door, None);
        assert_eq!(e.controller, None);
        assert_eq!(e.person, None);
        assert_eq!(e.summary, "Lock tampered");
        // No event_id: a content hash, stable across imports.
        assert!(e.id.starts_with("hq-seam:h"), "{}", e.id);
        assert_eq!(parse(&ctx(), &bare).unwrap().id, e.id);

        let no_type = json!({"event_id": "x", "occurred_at": "2026-11-22T10:00:00Z"});
        assert!(
            parse(&ctx(), &no_type)
                .unwrap_err()
                .0
                .contains("event_type")
        );
        let numeric_id = json!({"event_id": 42, "event_type": "lock.locked", "created_at": "2026-11-22T10:00:00Z"});
        assert_eq!(parse(&ctx(), &numeric_id).unwrap().id, "hq-seam:42");
    }

    #[test]
    fn connectivity_controller_is_the_device() {
        let v = json!({
            "event_id": "e1", "event_type": "device.disconnected",
            "device_id": "dev-1", "connected_account_id": "ca-1",
            "error_code": "hub_disconnected", "occurred_at": "2026-11-22T10:00:00.000001Z",
        });
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.kind, EventKind::ControllerOffline);
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.controller.as_ref().map(|c| c.id.as_str()), Some("dev-1"));
        assert_eq!(e.door.as_ref().map(|c| c.id.as_str()), Some("dev-1"));
        assert_eq!(e.summary, "dev-1 offline (hub disconnected)");

        // Other device events keep the connected account as controller.
        let v = json!({"event_id": "e2", "event_type": "device.low_battery", "device_id": "dev-1",
            "connected_account_id": "ca-1", "battery_level": 0.12, "occurred_at": "2026-11-22T10:00:00Z"});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.controller.as_ref().map(|c| c.id.as_str()), Some("ca-1"));
        assert_eq!(e.summary, "dev-1 battery low (12%)");

        // ACS events: the ACS system is the controller even beside an account.
        let v = json!({"event_id": "e3", "event_type": "acs_user.created", "acs_system_id": "sys-1",
            "connected_account_id": "ca-1", "acs_user_id": "u-1", "occurred_at": "2026-11-22T10:00:00Z"});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.controller.as_ref().map(|c| c.id.as_str()), Some("sys-1"));
        assert_eq!(e.person.as_ref().map(|c| c.id.as_str()), Some("u-1"));
        assert_eq!(e.kind, EventKind::admin("acs_user.created"));
        assert_eq!(e.summary, "ACS user created (u-1)");
    }

    #[test]
    fn type_table() {
        use EventKind as K;
        use Severity::*;
        let cases: &[(&str, EventKind, Severity)] = &[
            ("lock.locked", K::DoorLocked, Info),
            ("lock.access_denied", K::AccessDenied, Warning),
            ("device.connected", K::ControllerOnline, Info),
            (
                "device.unmanaged.disconnected",
                K::ControllerOffline,
                Warning,
            ),
            (
                "device.connection_became_flaky",
                K::DeviceConnectionUnstable,
                Warning,
            ),
            ("device.connection_stabilized", K::ControllerOnline, Info),
            ("device.low_battery", K::DeviceBatteryLow, Notice),
            ("device.battery_status_changed", K::Other, Info),
            ("device.error.subscription_required", K::Other, Warning),
            ("device.added", K::admin("device.added"), Info),
            ("device.removed", K::admin("device.removed"), Notice),
            (
                "device.salto.privacy_mode_activated",
                K::admin("device.salto.privacy_mode_activated"),
                Info,
            ),
            (
                "action_attempt.unlock_door.failed",
                K::admin("action_attempt.unlock_door.failed"),
                Warning,
            ),
            (
                "action_attempt.lock_door.succeeded",
                K::admin("action_attempt.lock_door.succeeded"),
                Info,
            ),
            (
                "access_code.failed_to_set_on_device",
                K::admin("access_code.failed_to_set_on_device"),
                Warning,
            ),
            (
                "access_code.delay_in_setting_on_device",
                K::admin("access_code.delay_in_setting_on_device"),
                Notice,
            ),
            (
                "access_code.unmanaged.failed_to_convert_to_managed",
                K::admin("access_code.unmanaged.failed_to_convert_to_managed"),
                Warning,
            ),
            ("access_code.name_changed", K::Other, Info),
            (
                "access_grant.created",
                K::admin("access_grant.created"),
                Info,
            ),
            ("acs_system.added", K::admin("acs_system.added"), Info),
            ("acs_system.connected", K::ControllerOnline, Info),
            ("acs_system.disconnected", K::ControllerOffline, Warning),
            ("connected_account.connected", K::ControllerOnline, Info),
            (
                "connected_account.disconnected",
                K::ControllerOffline,
                Warning,
            ),
            (
                "connected_account.completed_first_sync",
                K::ControllerSyncFinished,
                Info,
            ),
            (
                "connected_account.completed_first_sync_after_reconnection",
                K::ControllerSyncFinished,
                Info,
            ),
            (
                "connected_account.reauthorization_requested",
                K::admin("connected_account.reauthorization_requested"),
                Warning,
            ),
            (
                "connect_webview.login_failed",
                K::admin("connect_webview.login_failed"),
                Warning,
            ),
            ("noise_sensor.noise_threshold_triggered", K::Other, Notice),
            ("thermostat.manually_adjusted", K::Other, Info),
            ("enrollment_automation.deleted", K::Other, Info),
            ("brand_new.thing_happened", K::Other, Info),
            ("", K::Other, Info),
        ];
        for (t, kind, severity) in cases {
            let v =
                json!({"event_id": "e", "event_type": t, "occurred_at": "2026-11-22T10:00:00Z"});
            if t.is_empty() {
                // An empty type is a missing type.
                assert!(parse(&ctx(), &v).is_err());
                continue;
            }
            let e = parse(&ctx(), &v).unwrap();
            assert_eq!((&e.kind, e.severity), (kind, *severity), "{t}");
            assert_eq!(e.vendor_type, *t);
        }
        assert_eq!(
            K::admin("action_attempt.unlock_door.failed").name(),
            "admin.action_attempt_unlock_door_failed"
        );
    }

    #[test]
    fn battery_status_changed_levels() {
        let v = |status: &str| {
            json!({"event_id": "e", "event_type": "device.battery_status_changed",
            "battery_status": status, "battery_level": 0.04, "device_id": "d",
            "occurred_at": "2026-11-22T10:00:00Z"})
        };
        let e = parse(&ctx(), &v("critical")).unwrap();
        assert_eq!(
            (e.kind, e.severity),
            (EventKind::DeviceBatteryLow, Severity::Warning)
        );
        assert_eq!(e.summary, "d battery critical (4%)");
        assert_eq!(kind_of(&v("low")), EventKind::DeviceBatteryLow);
        assert_eq!(kind_of(&v("full")), EventKind::Other);
    }

    #[test]
    fn access_denied_reason() {
        let v = json!({"event_id": "e", "event_type": "lock.access_denied", "device_id": "d",
            "device_name": "Server Room", "access_code_id": "ac-9",
            "reason": {"reason_code": "code_expired", "message": "Access code expired"},
            "occurred_at": "2026-11-22T10:00:00Z"});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.success, Some(false));
        assert_eq!(e.credential.as_deref(), Some("ac-9"));
        assert_eq!(
            e.summary,
            "Access denied at Server Room (Access code expired)"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for v in [
            json!(null),
            json!(1),
            json!("lock.unlocked"),
            json!([{"event_type": "lock.unlocked"}]),
            json!(true),
        ] {
            assert!(parse(&ctx(), &v).is_err(), "{v}");
        }
        let odd = [
            json!({}),
            json!({"event_type": 7, "occurred_at": 1_795_341_600_000i64}),
            json!({"event_type": {"x": 1}, "occurred_at": "2026-11-22T10:00:00Z"}),
            json!({"event_type": "lock.unlocked", "occurred_at": {"a": 1}, "created_at": [1]}),
            json!({"event_type": "lock.unlocked", "occurred_at": "2026-11-22T10:00:00Z",
                "device_id": {"nested": true}, "method": ["keycode"], "is_via_nfc": "maybe",
                "battery_level": "high", "reason": 5, "event_description": 12}),
            json!({"event_type": "device.low_battery", "occurred_at": "2026-11-22T10:00:00Z",
                "battery_level": 1e308}),
            json!({"event_type": "..", "occurred_at": "2026-11-22T10:00:00Z"}),
            json!({"event_type": "é.ß_ü", "occurred_at": "2026-11-22T10:00:00Z"}),
            json!({"event_type": "lock.unlocked", "occurred_at": "9999999-01-01T00:00:00Z"}),
        ];
        for v in odd {
            let _ = parse(&ctx(), &v);
        }
        let e = parse(
            &ctx(),
            &json!({"event_type": 7, "occurred_at": 1_795_341_600_000i64}),
        )
        .unwrap();
        assert_eq!((e.kind, e.vendor_type.as_str()), (EventKind::Other, "7"));
        assert_eq!(humanize(".."), "Seam event");
        assert_eq!(humanize("é.ß_ü"), "É ß ü");
    }

    #[test]
    fn page_items_shapes() {
        let page = json!({"events": [{"event_id": "a"}, {"event_id": "b"}], "ok": true});
        assert_eq!(page_items(&page).map(|v| v.len()), Some(2));
        assert_eq!(page_items(&json!({"events": []})), Some(vec![]));
        assert_eq!(page_items(&json!({"events": {"a": 1}})), None);
        assert_eq!(page_items(&json!({"event": {"event_id": "a"}})), None);
        assert_eq!(page_items(&json!([{"events": []}])), None);
        assert_eq!(
            page_items(&json!({"error": {"type": "invalid_input"}, "ok": false})),
            None
        );
    }
}

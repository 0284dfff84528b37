//! Kisi payloads → unified events.
//!
//! One parser for both shapes Kisi sends (see `protocols/kisi.md` §6): the full event
//! objects of an event set's `events[]` and the smaller webhook bodies. Every field is
//! optional; only a readable `created_at` is required.
//!
//! Mapping (type → kind, severity), following the brief's §7.3 buckets:
//! - access: `lock.unlock`, `reader.access`, `elevator.permit`, `terminal.trigger` →
//!   `access.granted` (info) or, with `success: false`, `access.denied` (warning);
//! - door state: `lock.*` / `wireless_lock.*` opened, closed, locked, unlocked, lockdowns,
//!   scheduled unlocks → `door.*` (notice); forced / held open → alarm;
//! - device: tamper types → `device.tamper` (alarm), `reader.reset_tamper` →
//!   `device.tamper_cleared`, `wireless_lock.battery_warning` → `device.battery_low`;
//! - everything else Kisi lists is audit → `admin.<type>` (info); unknown types → `other`.
//!
//! A door is Kisi's `Lock`: the event's object when `object_type` is `Lock`, else a lock
//! the object snapshot points at (`lock` / `lock_id`, as readers carry). Door-like devices
//! with no lock (a wireless lock, elevator, elevator stop, terminal) become doors with a
//! prefixed id (`wireless_lock:9001`) so they never collide with lock ids.

pub mod live;

use super::{ParseContext, ParseError, fields};
use crate::model::{Event, EventKind, Ref, Severity, Vendor};
use serde_json::{Map, Value};

/// Parse one Kisi event object (event-set item or webhook body).
pub fn parse(ctx: &ParseContext, item: &Value) -> Result<Event, ParseError> {
    let Value::Object(obj) = item else {
        return Err(ParseError::new(format!(
            "kisi event must be a JSON object, got {}",
            fields::json_type(item)
        )));
    };

    let vendor_id =
        fields::first_text(item, &[&["uuid"], &["id"]]).unwrap_or_else(|| fields::content_id(item));
    let vendor_type = event_type(item).unwrap_or_else(|| "unknown".to_string());

    let occurred_at = fields::time(item, &["created_at"]).ok_or_else(|| {
        let got = match obj.get("created_at") {
            None => "no `created_at` field".to_string(),
            Some(v) => format!("`created_at` is {}", short(v)),
        };
        ParseError::new(format!(
            "kisi event {vendor_id} ({vendor_type}) has no parseable time: {got}"
        ))
    })?;

    let success = fields::boolean(item, &["success"]);
    let error_code = fields::text(item, &["error_code"]);
    let failed = success == Some(false) || (success.is_none() && error_code.is_some());

    let (kind, mut severity) = classify(&vendor_type, failed);
    if failed && kind != EventKind::AccessDenied && severity < Severity::Warning {
        // A lockdown, reboot or sign-in that failed needs someone to look.
        severity = Severity::Warning;
    }

    let resource = resource(item, &vendor_type);
    let door = door_ref(item, resource.as_deref());
    let controller = controller_ref(item, resource.as_deref());
    let person = person_ref(item);
    let site = site_ref(item, resource.as_deref());
    let credential = credential(item);

    let facts = Facts {
        item,
        vendor_type: &vendor_type,
        resource: resource.as_deref(),
        door: door.as_ref(),
        site: site.as_ref(),
        actor: actor_label(item),
        failed,
    };
    let summary = summarize(&kind, &facts);

    Ok(Event {
        id: Event::make_id(ctx.source, &vendor_id),
        source: ctx.source.to_string(),
        vendor: Vendor::Kisi,
        occurred_at,
        received_at: ctx.received_at,
        kind,
        vendor_type,
        severity,
        door,
        controller,
        person,
        site,
        credential,
        success,
        summary,
        raw: item.into(),
    })
}

/// If `v` is a Kisi event set (the `POST /event_sets` / `GET /event_sets/{id}` response,
/// optionally wrapped in `{"event_set": ...}`), its `events`. A set still `in_progress`
/// carries no `events` and gives an empty list. `None` for anything else, including a
/// single event object.
pub fn page_items(v: &Value) -> Option<Vec<Value>> {
    let obj = v.as_object()?;
    if let Some(inner @ Value::Object(_)) = obj.get("event_set")
        && obj.len() == 1
    {
        return page_items(inner);
    }
    if obj.contains_key("type") || obj.contains_key("uuid") {
        return None; // an event, not a set
    }
    match obj.get("events") {
        Some(Value::Array(items)) => Some(items.clone()),
        Some(Value::Null) | None if looks_like_event_set(obj) => Some(Vec::new()),
        _ => None,
    }
}

fn looks_like_event_set(obj: &Map<String, Value>) -> bool {
    let status = obj.get("status").and_then(Value::as_str);
    matches!(status, Some("in_progress" | "finished" | "failed"))
        && (obj.contains_key("cursor") || obj.contains_key("interval"))
}

// ---------------------------------------------------------------------------------
// Type → kind and severity
// ---------------------------------------------------------------------------------

/// The Kisi type: `type`, else `<object_type in snake_case>.<action>` (the spec says
/// they are equal), else nothing.
fn event_type(item: &Value) -> Option<String> {
    if let Some(t) = fields::text(item, &["type"]) {
        return Some(t.trim().to_string());
    }
    let object_type = fields::text(item, &["object_type"])?;
    let action = fields::text(item, &["action"])?;
    Some(format!(
        "{}.{}",
        camel_to_snake(&object_type),
        action.trim()
    ))
}

/// Unified kind and severity for a Kisi type. `failed` is `success: false` (or an error
/// code with no `success`), which turns an access attempt into a denial.
fn classify(t: &str, failed: bool) -> (EventKind, Severity) {
    use EventKind as K;
    use Severity as S;
    match t {
        // Access attempts.
        "lock.unlock" | "reader.access" | "elevator.permit" | "terminal.trigger" => {
            if failed {
                (K::AccessDenied, S::Warning)
            } else {
                (K::AccessGranted, S::Info)
            }
        }
        "lock.first_to_arrive" | "lock.last_to_leave" => (K::Other, S::Info),

        // Door state.
        "lock.opened" | "wireless_lock.opened" => (K::DoorOpened, S::Notice),
        "lock.closed" | "wireless_lock.closed" => (K::DoorClosed, S::Notice),
        "lock.locked" | "wireless_lock.locked" => (K::DoorLocked, S::Notice),
        "wireless_lock.unlocked" => (K::DoorUnlocked, S::Notice),
        "lock.forced_open" => (K::DoorForcedOpen, S::Alarm),
        "lock.held_open" => (K::DoorHeldOpen, S::Alarm),
        "lock.lock_down" | "place.lock_down" | "elevator_stop.lock_down" => {
            (K::DoorLockdown, S::Notice)
        }
        "lock.cancel_lockdown" | "place.cancel_lockdown" | "elevator_stop.cancel_lockdown" => {
            (K::DoorLockdownCleared, S::Notice)
        }
        "lock.scheduled_unlock_started" | "elevator_stop.scheduled_permit_started" => {
            (K::DoorScheduledUnlockStarted, S::Notice)
        }
        "lock.scheduled_unlock_ended" | "elevator_stop.scheduled_permit_ended" => {
            (K::DoorScheduledUnlockEnded, S::Notice)
        }

        // Devices and controllers.
        "controller.tamper"
        | "controller_input.tamper"
        | "reader.tamper"
        | "wireless_lock.tampered" => (K::DeviceTamper, S::Alarm),
        "reader.reset_tamper" => (K::DeviceTamperCleared, S::Notice),
        "wireless_lock.battery_warning" => (K::DeviceBatteryLow, S::Notice),
        "controller.reboot" | "reader.reboot" => (EventKind::admin(t), S::Notice),
        "controller.wiegand_board_disconnect" => (K::Other, S::Warning),
        "controller.wiegand_board_connect" => (K::Other, S::Notice),
        "controller_input.opened" | "controller_input.closed" | "controller_input.triggered" => {
            (K::Other, S::Notice)
        }

        // Alarm-worthy events with no unified kind yet.
        "lock.tailgate"
        | "zone.policy_violate"
        | "controller_wiegand_connection.excessive_pin_attempts" => (K::Other, S::Alarm),
        "place.occupancy_rate_limit_reach" => (K::Other, S::Warning),

        // The console's own webhook may be the one being switched off.
        "integration.disable_due_to_error" => (EventKind::admin(t), S::Warning),
        "integration.warn_due_to_error" => (EventKind::admin(t), S::Notice),

        _ if is_audit(t) => (EventKind::admin(t), S::Info),
        _ => (K::Other, S::Info),
    }
}

/// Audit: every other type the spec lists, and create/update/destroy-style actions on
/// resources Kisi may add later.
fn is_audit(t: &str) -> bool {
    if KNOWN_TYPES.contains(&t) {
        return true;
    }
    let Some((resource, action)) = t.split_once('.') else {
        return false;
    };
    !resource.is_empty()
        && matches!(
            action,
            "create" | "update" | "destroy" | "assign" | "deassign" | "activate" | "deactivate"
        )
}

/// Every type in the spec's enum (brief §7.1). Types not matched explicitly in
/// [`classify`] are audit events.
#[rustfmt::skip]
const KNOWN_TYPES: &[&str] = &[
    "access_key.create", "access_key.destroy",
    "amenity.create", "amenity.destroy", "amenity.update", "booking.cancel", "booking.create",
    "apple_pass.destroy", "apple_pass_instance.destroy", "apple_pass_instance.resume",
    "apple_pass_instance.suspend",
    "beacon.update",
    "camera.create", "camera.destroy", "camera.import", "camera.rate_limited", "camera.update",
    "camera_snapshot_set.create",
    "card.activate", "card.activate_with_token", "card.assign", "card.create", "card.deactivate",
    "card.deassign", "card.destroy", "card.update",
    "communication_policy.update",
    "controller.assign", "controller.deassign", "controller.reboot", "controller.tamper",
    "controller.update", "controller.wiegand_board_connect",
    "controller.wiegand_board_disconnect",
    "controller_input.closed", "controller_input.opened", "controller_input.tamper",
    "controller_input.triggered", "controller_input_connection.create",
    "controller_input_connection.destroy", "controller_input_connection.update",
    "controller_relay_connection.create", "controller_relay_connection.destroy",
    "controller_relay_connection.update",
    "controller_wiegand_connection.create", "controller_wiegand_connection.destroy",
    "controller_wiegand_connection.excessive_pin_attempts",
    "controller_wiegand_connection.update",
    "csv_card_import.create", "csv_user_import.create",
    "custom_role.create", "custom_role.destroy", "custom_role.update",
    "elevator.create", "elevator.destroy", "elevator.permit", "elevator.update",
    "elevator_stop.cancel_lockdown", "elevator_stop.create", "elevator_stop.destroy",
    "elevator_stop.lock_down", "elevator_stop.scheduled_permit_ended",
    "elevator_stop.scheduled_permit_started", "elevator_stop.update",
    "event_retention_policy.create", "event_retention_policy.destroy",
    "event_retention_policy.update",
    "floor.create", "floor.destroy", "floor.update",
    "group.create", "group.destroy", "group.update", "group_elevator_stop.create",
    "group_elevator_stop.destroy", "group_link.create", "group_link.destroy",
    "group_lock.create", "group_lock.destroy", "group_terminal.create", "group_terminal.destroy",
    "group_zone.create", "group_zone.destroy",
    "guest.create", "guest.destroy", "invite.create",
    "incident.create", "incident.update", "incident_policy.create", "incident_policy.destroy",
    "incident_policy.update", "incident_policy_subscription.create",
    "incident_policy_subscription.destroy", "incident_policy_subscription.update",
    "integration.create", "integration.destroy", "integration.update",
    "integration.disable_due_to_error", "integration.warn_due_to_error",
    "intercom.answer_call", "intercom.assign", "intercom.deassign", "intercom.dismiss_call",
    "intercom.finish_call", "intercom.initiate_streaming", "intercom.miss_call",
    "intercom.timeout_call", "intercom.trigger_call", "intercom.update",
    "intercom_assignment.create", "intercom_assignment.destroy",
    "intercom_completed_call.create",
    "kiosk.assign", "kiosk.deassign", "kiosk.update", "kiosk_shortcut.create",
    "kiosk_shortcut.destroy",
    "lock.cancel_lockdown", "lock.closed", "lock.create", "lock.destroy", "lock.first_to_arrive",
    "lock.forced_open", "lock.held_open", "lock.last_to_leave", "lock.lock_down", "lock.locked",
    "lock.opened", "lock.scheduled_unlock_ended", "lock.scheduled_unlock_started",
    "lock.tailgate", "lock.unlock", "lock.update",
    "login.create", "login.destroy", "login.promote", "login.resolve",
    "marketplace_app_share.create", "marketplace_app_share.destroy",
    "marketplace_installation.create", "marketplace_installation.destroy",
    "marketplace_installation.request_uninstall", "marketplace_installation.update",
    "marketplace_shortcut.create", "marketplace_shortcut.destroy", "marketplace_shortcut.update",
    "member.create", "member.destroy", "member.update",
    "third_party_hf_uid_read_configuration.create",
    "third_party_hf_uid_read_configuration.destroy",
    "mifare_classic_data_block_configuration.create",
    "mifare_classic_data_block_configuration.destroy",
    "mifare_desfire_extra_application_configuration.create",
    "mifare_desfire_master_key_configuration.create",
    "mobile_cache_policy.update", "mobile_cache_policy.invalidate",
    "organization.accept_transfer", "organization.cancel_transfer", "organization.create",
    "organization.generate_next_certificate", "organization.reject_transfer",
    "organization.request_transfer", "organization.reset_scim_token",
    "organization.rotate_certificate", "organization.update",
    "place.cancel_lockdown", "place.create", "place.destroy", "place.lock_down",
    "place.occupancy_rate_limit_reach", "place.update", "place_card.create",
    "place_card.destroy",
    "reader.access", "reader.assign", "reader.deassign", "reader.reboot", "reader.reset_tamper",
    "reader.tamper", "reader.update",
    "report.create", "report.destroy", "report.download", "report.finish",
    "role_assignment.create", "role_assignment.destroy", "role_assignment.update",
    "schedule.create", "schedule.destroy", "schedule.update", "scheduled_report.create",
    "scheduled_report.destroy", "scheduled_report.update",
    "share.create", "share.destroy", "share.update",
    "subscription.update",
    "team.create", "team.destroy", "team.update", "team_membership.create",
    "team_membership.destroy",
    "terminal.create", "terminal.destroy", "terminal.trigger", "terminal.update",
    "user.activate_2fa", "user.create", "user.create_backup_codes", "user.create_password",
    "user.deactivate_2fa", "user.destroy", "user.show_confirmation", "user.update",
    "user.update_password",
    "visualization_page_reporter.create", "visualization_page_reporter.destroy",
    "visualization_page_share.create", "visualization_page_share.destroy",
    "wireless_lock.battery_warning", "wireless_lock.closed", "wireless_lock.disenroll",
    "wireless_lock.locked", "wireless_lock.opened", "wireless_lock.tampered",
    "wireless_lock.unlocked", "wireless_lock.update", "wireless_lock_connection.create",
    "wireless_lock_connection.destroy", "wireless_lock_connection.update",
    "zone.create", "zone.destroy", "zone.external_mode_override", "zone.override",
    "zone.policy_activate", "zone.policy_override", "zone.policy_transition",
    "zone.policy_violate", "zone.reset", "zone.update",
];

// ---------------------------------------------------------------------------------
// Refs
// ---------------------------------------------------------------------------------

/// The object's resource in snake case (`wireless_lock`): from `object_type`, else the
/// first part of the type.
fn resource(item: &Value, vendor_type: &str) -> Option<String> {
    if let Some(ot) = fields::text(item, &["object_type"]) {
        let snake = camel_to_snake(&ot);
        if !snake.is_empty() {
            return Some(snake);
        }
    }
    match vendor_type.split_once('.') {
        Some((r, _)) if !r.is_empty() => Some(r.to_string()),
        _ => None,
    }
}

/// `WirelessLock` → `wireless_lock`; already snake text is kept (lowercased).
fn camel_to_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.trim().chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The event's object: `object_id` / `object_name`, else the snapshot's `id` / `name`.
fn object_ref(item: &Value) -> Option<Ref> {
    fields::make_ref(
        fields::first_text(item, &[&["object_id"], &["object", "id"]]),
        fields::first_text(item, &[&["object_name"], &["object", "name"]]),
    )
}

/// A nested `{key: {id, name}}` or flat `key_id` / `key_name` on `v`.
fn nested_ref(v: &Value, key: &str) -> Option<Ref> {
    let id_key = format!("{key}_id");
    let name_key = format!("{key}_name");
    fields::make_ref(
        fields::first_text(v, &[&[key, "id"], &[id_key.as_str()]]),
        fields::first_text(v, &[&[key, "name"], &[name_key.as_str()]]),
    )
}

/// Resources that are a door of their own when no Kisi lock is attached.
const DOOR_LIKE: &[&str] = &["wireless_lock", "elevator", "elevator_stop", "terminal"];

fn door_ref(item: &Value, resource: Option<&str>) -> Option<Ref> {
    if resource == Some("lock")
        && let Some(r) = object_ref(item)
    {
        return Some(r);
    }
    let object = item.get("object").unwrap_or(&Value::Null);
    if let Some(r) = nested_ref(item, "lock").or_else(|| nested_ref(object, "lock")) {
        return Some(r);
    }
    let resource = resource.filter(|r| DOOR_LIKE.contains(r))?;
    let r = object_ref(item)?;
    let id = match fields::first_text(item, &[&["object_id"], &["object", "id"]]) {
        Some(id) => format!("{resource}:{id}"),
        None => r.id,
    };
    Some(Ref { id, name: r.name })
}

fn controller_ref(item: &Value, resource: Option<&str>) -> Option<Ref> {
    if resource == Some("controller")
        && let Some(r) = object_ref(item)
    {
        return Some(r);
    }
    let object = item.get("object").unwrap_or(&Value::Null);
    nested_ref(item, "controller").or_else(|| nested_ref(object, "controller"))
}

/// The place: the object itself when it is a `Place`, else `place_id` named from a
/// `place` snapshot (`object.place` on locks and controllers) when the ids agree.
fn site_ref(item: &Value, resource: Option<&str>) -> Option<Ref> {
    if resource == Some("place")
        && let Some(r) = object_ref(item)
    {
        return Some(r);
    }
    let named = |v: &Value| {
        fields::make_ref(
            fields::text(v, &["place", "id"]),
            fields::text(v, &["place", "name"]),
        )
    };
    let object = item.get("object").unwrap_or(&Value::Null);
    let snapshot = named(item).or_else(|| named(object));
    match (fields::text(item, &["place_id"]), snapshot) {
        (Some(id), Some(snap)) if snap.id == id => Some(snap),
        (Some(id), _) => Some(Ref { id, name: None }),
        (None, snap) => snap,
    }
}

/// Actor types that are not a person.
const NOT_PEOPLE: &[&str] = &["GroupLink", "MarketplaceInstallation"];

/// The person: the actor (who presented the credential, or who acted, for audit).
fn person_ref(item: &Value) -> Option<Ref> {
    if let Some(t) = fields::text(item, &["actor_type"])
        && NOT_PEOPLE.contains(&t.as_str())
    {
        return None;
    }
    fields::make_ref(
        fields::first_text(item, &[&["actor_id"], &["actor_email"]]),
        fields::first_text(item, &[&["actor_name"], &["actor_email"]]),
    )
}

/// Who acted, as shown in a summary (a person or a group link, integration ...).
fn actor_label(item: &Value) -> Option<String> {
    fields::first_text(item, &[&["actor_name"], &["actor_email"]]).or_else(|| {
        let id = fields::text(item, &["actor_id"])?;
        let t = fields::text(item, &["actor_type"]).unwrap_or_else(|| "User".into());
        Some(format!("{} {id}", humanize(&camel_to_snake(&t))))
    })
}

/// `Card:4821`: the credential type and id Kisi reports (`authenticated_by_*`).
fn credential(item: &Value) -> Option<String> {
    let id = fields::text(item, &["authenticated_by_id"])?;
    Some(match fields::text(item, &["authenticated_by_type"]) {
        Some(t) => format!("{t}:{id}"),
        None => id,
    })
}

// ---------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------

struct Facts<'a> {
    item: &'a Value,
    vendor_type: &'a str,
    resource: Option<&'a str>,
    door: Option<&'a Ref>,
    site: Option<&'a Ref>,
    actor: Option<String>,
    failed: bool,
}

impl Facts<'_> {
    fn text(&self, key: &str) -> Option<String> {
        fields::text(self.item, &[key]).map(|s| s.trim().to_string())
    }

    fn object_name(&self) -> Option<String> {
        fields::first_text(self.item, &[&["object_name"], &["object", "name"]])
    }

    /// Where it happened: the door, else the object, else the site.
    fn place(&self) -> String {
        self.door
            .map(|d| d.name.clone().unwrap_or_else(|| format!("Door {}", d.id)))
            .or_else(|| self.object_name())
            .or_else(|| self.site.map(|s| s.label().to_string()))
            .unwrap_or_else(|| "unknown door".to_string())
    }

    /// A device by name (`Main Controller`), else by kind and id (`reader 877`).
    fn device(&self) -> String {
        if let Some(name) = self.object_name() {
            return name;
        }
        let what = self
            .resource
            .map(humanize)
            .unwrap_or_else(|| "device".into());
        match fields::first_text(self.item, &[&["object_id"], &["object", "id"]]) {
            Some(id) => format!("{what} {id}"),
            None => self
                .door
                .map(|d| format!("{what} at {}", d.label()))
                .unwrap_or(what),
        }
    }

    /// Kisi's own line, when it sent a non-empty one.
    fn message(&self) -> Option<String> {
        self.text("message")
    }

    /// Why it failed: the error message, else the meaning of the error code, with the
    /// code kept so it can be searched.
    fn reason(&self) -> Option<String> {
        let message = self.text("error_message");
        let code = self.text("error_code");
        match (message, code) {
            (Some(m), Some(c)) if !m.contains(&c) => Some(format!("{m}, error {c}")),
            (Some(m), _) => Some(m),
            (None, Some(c)) => Some(match error_meaning(&c) {
                Some(meaning) => format!("{meaning}, error {c}"),
                None => format!("error {c}"),
            }),
            (None, None) => None,
        }
    }
}

fn summarize(kind: &EventKind, f: &Facts) -> String {
    use EventKind as K;
    let by = |line: String| match &f.actor {
        Some(a) => format!("{line} by {a}"),
        None => line,
    };
    let line = match kind {
        K::AccessGranted => {
            let verb = if f.vendor_type == "lock.unlock" {
                "unlocked"
            } else {
                "granted at"
            };
            match &f.actor {
                Some(a) => format!("{a} {verb} {}", f.place()),
                None if verb == "unlocked" => format!("{} unlocked", f.place()),
                None => format!("Access granted at {}", f.place()),
            }
        }
        K::AccessDenied => {
            let who = match &f.actor {
                Some(a) => format!("{a} denied at {}", f.place()),
                None => format!("Access denied at {}", f.place()),
            };
            return match f.reason() {
                Some(r) => format!("{who} ({r})"),
                None => who,
            };
        }
        K::DoorOpened => format!("{} opened", f.place()),
        K::DoorClosed => format!("{} closed", f.place()),
        K::DoorLocked => by(format!("{} locked", f.place())),
        K::DoorUnlocked => by(format!("{} unlocked", f.place())),
        K::DoorForcedOpen => format!("{} forced open", f.place()),
        K::DoorHeldOpen => format!("{} held open", f.place()),
        K::DoorLockdown => by(format!("{} locked down", f.place())),
        K::DoorLockdownCleared => by(format!("Lockdown cancelled at {}", f.place())),
        K::DoorScheduledUnlockStarted => format!("Scheduled unlock started at {}", f.place()),
        K::DoorScheduledUnlockEnded => format!("Scheduled unlock ended at {}", f.place()),
        K::DeviceTamper => device_line("tampered", f),
        K::DeviceTamperCleared => by(device_line("tamper cleared", f)),
        K::DeviceBatteryLow => device_line("battery low", f),
        K::Admin(_) => special_line(f)
            .or_else(|| f.message())
            .unwrap_or_else(|| audit_line(f)),
        _ => special_line(f)
            .or_else(|| f.message())
            .unwrap_or_else(|| generic_line(f)),
    };
    if f.failed {
        match f.reason() {
            Some(r) => format!("{line} (failed: {r})"),
            None => format!("{line} (failed)"),
        }
    } else {
        line
    }
}

/// `Server Room Reader tampered (Server Room)`: `<device> <what>`, plus the door when
/// the device is not the door itself.
fn device_line(what: &str, f: &Facts) -> String {
    let device = f.device();
    match f.door {
        Some(d) if d.label() != device && d.name.as_deref() != Some(device.as_str()) => {
            format!("{device} {what} ({})", d.label())
        }
        _ => format!("{device} {what}"),
    }
}

/// Lines for the mapped types that have no unified kind yet.
fn special_line(f: &Facts) -> Option<String> {
    let actor = f.actor.clone();
    Some(match f.vendor_type {
        "lock.tailgate" => format!("Tailgating at {}", f.place()),
        "lock.first_to_arrive" => match actor {
            Some(a) => format!("{a} first to arrive at {}", f.place()),
            None => format!("First to arrive at {}", f.place()),
        },
        "lock.last_to_leave" => match actor {
            Some(a) => format!("{a} last to leave {}", f.place()),
            None => format!("Last to leave {}", f.place()),
        },
        "controller.wiegand_board_disconnect" => {
            format!("Wiegand board disconnected from {}", f.device())
        }
        "controller.wiegand_board_connect" => format!("Wiegand board connected to {}", f.device()),
        "controller_input.opened" => format!("{} opened", f.device()),
        "controller_input.closed" => format!("{} closed", f.device()),
        "controller_input.triggered" => format!("{} triggered", f.device()),
        "zone.policy_violate" => format!("Alarm zone {} policy violated", f.device()),
        "controller_wiegand_connection.excessive_pin_attempts" => {
            format!("Excessive PIN attempts at {}", f.place())
        }
        "integration.disable_due_to_error" => {
            format!(
                "Integration {} disabled by Kisi: error rate too high",
                f.device()
            )
        }
        "integration.warn_due_to_error" => {
            format!("Integration {} has an elevated error rate", f.device())
        }
        "place.occupancy_rate_limit_reach" => {
            format!("{} reached its occupancy limit", f.place())
        }
        _ => return None,
    })
}

/// `Priya Natarajan created card 4821` for audit events Kisi sent no message for.
fn audit_line(f: &Facts) -> String {
    let (res, action) = f.vendor_type.split_once('.').unwrap_or((f.vendor_type, ""));
    let what = match f.object_name() {
        Some(name) => format!("{} {name}", humanize(res)),
        None => match fields::first_text(f.item, &[&["object_id"], &["object", "id"]]) {
            Some(id) => format!("{} {id}", humanize(res)),
            None => humanize(res),
        },
    };
    match (past_tense(action), &f.actor) {
        (Some(verb), Some(a)) => format!("{a} {verb} {what}"),
        (Some(verb), None) => format!("{} {verb}", fields::capitalize(&what)),
        (None, Some(a)) => format!("{a}: {} {what}", humanize(action)),
        (None, None) => format!("{}: {}", fields::capitalize(&what), humanize(action)),
    }
}

/// Anything else: the type made readable, where and by whom.
fn generic_line(f: &Facts) -> String {
    let mut line = fields::capitalize(&humanize(&f.vendor_type.replace('.', " ")));
    if f.door.is_some() || f.object_name().is_some() {
        line = format!("{line}: {}", f.place());
    }
    match &f.actor {
        Some(a) => format!("{line} by {a}"),
        None => line,
    }
}

fn past_tense(action: &str) -> Option<&'static str> {
    Some(match action {
        "create" => "created",
        "update" => "updated",
        "destroy" => "deleted",
        "assign" => "assigned",
        "deassign" => "unassigned",
        "activate" => "activated",
        "deactivate" => "deactivated",
        "import" => "imported",
        "cancel" => "cancelled",
        "suspend" => "suspended",
        "resume" => "resumed",
        "download" => "downloaded",
        "finish" => "finished",
        "reboot" => "rebooted",
        "disenroll" => "disenrolled",
        "invalidate" => "invalidated",
        "reset" => "reset",
        _ => return None,
    })
}

fn humanize(s: &str) -> String {
    s.replace('_', " ").trim().to_string()
}

/// Meanings of the error codes most relevant to doors (brief §6.3).
fn error_meaning(code: &str) -> Option<&'static str> {
    Some(match code.to_ascii_lowercase().as_str() {
        "afc496" | "fcd8ef" => "access denied",
        "fcd8ff" => "access disabled",
        "34ffaa" => "access not allowed right now",
        "f35ade" => "access expired",
        "f398de" => "access invalid",
        "f358de" => "access not yet valid",
        "fad001" => "door is locked down",
        "fad002" => "place is locked down",
        "fad105" => "door misconfigured",
        "fad10e" => "door not found",
        "fad110" => "door already scheduled to unlock",
        "fad137" => "denied by zone",
        "ff420a" => "door has no Kisi controller assigned",
        "fac001" | "fac002" => "Kisi controller unavailable",
        "fac003" | "fac004" => "Kisi device unavailable",
        "fad108" => "controller not yet configured",
        "ecc123" => "controller unhandled error",
        "fbc000" => "controller firmware updating",
        "fad107" => "wireless lock offline",
        "fad10f" => "wireless lock connect error",
        "fad106" => "wireless lock not found",
        "fad112" => "wireless lock unlock already in progress",
        "bbb93f" => "location required",
        "a3995f" => "too far from the door",
        "bb4faa" => "not close enough to the door",
        "bbc93f" => "in-app unlock disabled, tap phone at reader",
        "faa9ff" => "card not activated",
        "faa9ef" => "card not found",
        "ffffff" => "unexpected issue",
        _ => return None,
    })
}

/// A value for an error message, cut short on a char boundary.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 60 {
        s
    } else {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn ctx() -> ParseContext<'static> {
        ParseContext {
            source: "hq-kisi",
            received_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        }
    }

    fn p(v: Value) -> Event {
        parse(&ctx(), &v).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    fn unlock() -> Value {
        json!({
            "uuid": "0b7f6c3e-1d2a-4c55-9e61-3f0e8a1b2c01",
            "type": "lock.unlock", "action": "unlock",
            "actor_type": "User", "actor_id": 5501, "actor_name": "Jane Roe",
            "actor_email": "jane.roe@example.com",
            "authenticated_by_type": "Card", "authenticated_by_id": 4821,
            "object_type": "Lock", "object_id": 1202, "object_name": "Server Room",
            "object": {"id": 1202, "name": "Server Room", "place": {"id": 4021, "name": "HQ Berlin"}},
            "place_id": 4021, "success": true,
            "created_at": "2026-11-22T08:01:12.345Z"
        })
    }

    #[test]
    fn granted_unlock_has_all_refs() {
        let e = p(unlock());
        assert_eq!(e.id, "hq-kisi:0b7f6c3e-1d2a-4c55-9e61-3f0e8a1b2c01");
        assert_eq!(e.kind, EventKind::AccessGranted);
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.vendor_type, "lock.unlock");
        assert_eq!(e.door, Some(Ref::new("1202", Some("Server Room"))));
        assert_eq!(e.person, Some(Ref::new("5501", Some("Jane Roe"))));
        assert_eq!(e.site, Some(Ref::new("4021", Some("HQ Berlin"))));
        assert_eq!(e.credential.as_deref(), Some("Card:4821"));
        assert_eq!(e.success, Some(true));
        assert_eq!(e.summary, "Jane Roe unlocked Server Room");
        assert_eq!(
            e.occurred_at,
            Utc.timestamp_millis_opt(1_795_334_472_345).unwrap()
        );
        assert_eq!(e.received_at, ctx().received_at);
        assert_eq!(e.raw, unlock());
    }

    #[test]
    fn failed_unlock_is_denied_with_reason() {
        let mut v = unlock();
        v["success"] = json!(false);
        v["error_code"] = json!("34ffaa");
        let e = p(v.clone());
        assert_eq!(e.kind, EventKind::AccessDenied);
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.success, Some(false));
        assert_eq!(
            e.summary,
            "Jane Roe denied at Server Room (access not allowed right now, error 34ffaa)"
        );

        v["error_message"] = json!("Outside of the allowed schedule");
        assert_eq!(
            p(v.clone()).summary,
            "Jane Roe denied at Server Room (Outside of the allowed schedule, error 34ffaa)"
        );
        v["error_code"] = Value::Null;
        assert_eq!(
            p(v).summary,
            "Jane Roe denied at Server Room (Outside of the allowed schedule)"
        );
    }

    #[test]
    fn error_code_without_success_is_a_denial() {
        let mut v = unlock();
        v.as_object_mut().unwrap().remove("success");
        v["error_code"] = json!("ZZZ999");
        let e = p(v);
        assert_eq!(e.kind, EventKind::AccessDenied);
        assert_eq!(e.success, None);
        assert!(e.summary.ends_with("(error ZZZ999)"), "{}", e.summary);
    }

    #[test]
    fn minimal_payload_only_needs_a_time() {
        let v = json!({"created_at": "2026-11-22T08:00:00Z"});
        let e = p(v.clone());
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.vendor_type, "unknown");
        assert_eq!(e.id, Event::make_id("hq-kisi", &fields::content_id(&v)));
        assert_eq!(
            (
                e.door,
                e.person,
                e.controller,
                e.site,
                e.credential,
                e.success
            ),
            (None, None, None, None, None, None)
        );
        assert!(!e.summary.is_empty());
    }

    #[test]
    fn unknown_type_is_other_and_keeps_its_type() {
        let e = p(
            json!({"uuid": "u1", "type": "lock.levitated", "object_type": "Lock",
            "object_id": 7, "object_name": "Roof Hatch", "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.vendor_type, "lock.levitated");
        assert_eq!(e.door, Some(Ref::new("7", Some("Roof Hatch"))));
        assert_eq!(e.summary, "Lock levitated: Roof Hatch");
        // A type of the wrong JSON type is still kept, as text.
        let e = p(json!({"type": 42, "created_at": "2026-11-22T08:00:00Z"}));
        assert_eq!((e.kind, e.vendor_type.as_str()), (EventKind::Other, "42"));
    }

    #[test]
    fn numbers_as_ids_and_id_fallback() {
        let e = p(
            json!({"id": 88123, "type": "lock.opened", "object_id": 1201,
            "object_name": "Front Door", "created_at": "2026-11-22T08:00:00.123456Z"}),
        );
        assert_eq!(e.id, "hq-kisi:88123");
        assert_eq!(e.kind, EventKind::DoorOpened);
        // No object_type, but a `lock.` type: the object is the door.
        assert_eq!(e.door, Some(Ref::new("1201", Some("Front Door"))));
        assert_eq!(
            e.occurred_at,
            Utc.timestamp_millis_opt(1_795_334_400_123).unwrap()
        );
        let e = p(
            json!({"uuid": 5, "type": "lock.closed", "object_id": "1201",
            "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.id, "hq-kisi:5");
        assert_eq!(e.door, Some(Ref::new("1201", None::<String>)));
        assert_eq!(e.summary, "Door 1201 closed");
    }

    #[test]
    fn type_derived_from_object_type_and_action() {
        let e = p(
            json!({"object_type": "WirelessLock", "action": "tampered", "object_id": 9,
            "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.vendor_type, "wireless_lock.tampered");
        assert_eq!(e.kind, EventKind::DeviceTamper);
        assert_eq!(e.door, Some(Ref::new("wireless_lock:9", None::<String>)));
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        for v in [
            json!(null),
            json!(1),
            json!("lock.unlock"),
            json!([unlock()]),
            json!(true),
        ] {
            let err = parse(&ctx(), &v).unwrap_err();
            assert!(err.0.contains("must be a JSON object"), "{err}");
        }
        for t in [
            json!(null),
            json!("yesterday"),
            json!({}),
            json!([1]),
            json!(true),
        ] {
            let mut v = unlock();
            v["created_at"] = t;
            let err = parse(&ctx(), &v).unwrap_err();
            assert!(err.0.contains("no parseable time"), "{err}");
            assert!(err.0.contains("0b7f6c3e"), "{err}");
        }
        let mut v = unlock();
        v.as_object_mut().unwrap().remove("created_at");
        assert!(
            parse(&ctx(), &v)
                .unwrap_err()
                .0
                .contains("no `created_at` field")
        );
    }

    #[test]
    fn wrong_shapes_everywhere_never_panic() {
        let junk = [
            json!(null),
            json!(""),
            json!("  "),
            json!(-1.5),
            json!([]),
            json!({}),
            json!({"id": {"x": 1}}),
            json!("ünïcödé ✓"),
            json!(u64::MAX),
            json!(true),
        ];
        let keys = [
            "uuid",
            "id",
            "type",
            "action",
            "actor_type",
            "actor_id",
            "actor_name",
            "actor_email",
            "object_type",
            "object_id",
            "object_name",
            "object",
            "place_id",
            "success",
            "error_code",
            "error_message",
            "message",
            "authenticated_by_type",
            "authenticated_by_id",
            "lock",
            "lock_id",
            "controller",
            "place",
        ];
        for key in keys {
            for j in &junk {
                let mut v = unlock();
                v[key] = j.clone();
                let _ = parse(&ctx(), &v).unwrap();
                let mut v = json!({"created_at": "2026-11-22T08:00:00Z"});
                v[key] = j.clone();
                let _ = parse(&ctx(), &v).unwrap();
            }
        }
    }

    #[test]
    fn every_listed_type_maps_somewhere_sensible() {
        for t in KNOWN_TYPES {
            let (kind, _) = classify(t, false);
            let specials = [
                "lock.tailgate",
                "lock.first_to_arrive",
                "lock.last_to_leave",
                "controller.wiegand_board_connect",
                "controller.wiegand_board_disconnect",
                "controller_input.opened",
                "controller_input.closed",
                "controller_input.triggered",
                "zone.policy_violate",
                "controller_wiegand_connection.excessive_pin_attempts",
                "place.occupancy_rate_limit_reach",
            ];
            if specials.contains(t) {
                assert_eq!(kind, EventKind::Other, "{t}");
            } else {
                assert_ne!(kind, EventKind::Other, "{t} should be mapped");
            }
        }
        assert_eq!(
            classify("card.create", false).0,
            EventKind::admin("card_create")
        );
        assert_eq!(classify("card.create", false).0.name(), "admin.card_create");
        assert_eq!(
            classify("doorbell.create", false).0.name(),
            "admin.doorbell_create"
        );
        assert_eq!(classify("doorbell.ring", false).0, EventKind::Other);
        assert_eq!(classify("nodot", false).0, EventKind::Other);
    }

    #[test]
    fn severities_follow_the_buckets() {
        let s = |t: &str, failed| classify(t, failed).1;
        assert_eq!(s("lock.forced_open", false), Severity::Alarm);
        assert_eq!(s("lock.held_open", false), Severity::Alarm);
        assert_eq!(s("reader.tamper", false), Severity::Alarm);
        assert_eq!(s("lock.tailgate", false), Severity::Alarm);
        assert_eq!(s("lock.unlock", true), Severity::Warning);
        assert_eq!(s("lock.lock_down", false), Severity::Notice);
        assert_eq!(s("wireless_lock.battery_warning", false), Severity::Notice);
        assert_eq!(s("lock.unlock", false), Severity::Info);
        assert_eq!(s("user.update", false), Severity::Info);
    }

    #[test]
    fn failed_state_change_is_a_warning_with_reason() {
        let e = p(
            json!({"type": "lock.lock_down", "object_type": "Lock", "object_id": 1204,
            "object_name": "Stairwell B", "actor_type": "User", "actor_id": 5503,
            "actor_name": "Priya Natarajan", "success": false, "error_code": "fac001",
            "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.kind, EventKind::DoorLockdown);
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(
            e.summary,
            "Stairwell B locked down by Priya Natarajan (failed: Kisi controller unavailable, error fac001)"
        );
    }

    #[test]
    fn audit_actor_is_the_person_and_message_wins() {
        let v = json!({"uuid": "a1", "type": "card.create", "actor_type": "User",
            "actor_id": 5503, "actor_name": "Priya Natarajan", "object_type": "Card",
            "object_id": 4821, "object_name": "0004821", "created_at": "2026-11-22T08:00:00Z"});
        let e = p(v.clone());
        assert_eq!(e.kind.name(), "admin.card_create");
        assert_eq!(e.person, Some(Ref::new("5503", Some("Priya Natarajan"))));
        assert_eq!(e.door, None);
        assert_eq!(e.summary, "Priya Natarajan created card 0004821");
        let mut v = v;
        v["message"] = json!("Priya Natarajan created the card 0004821 for Jane Roe");
        assert_eq!(
            p(v).summary,
            "Priya Natarajan created the card 0004821 for Jane Roe"
        );
    }

    #[test]
    fn group_link_actor_is_not_a_person() {
        let mut v = unlock();
        v["actor_type"] = json!("GroupLink");
        v["actor_id"] = json!(77);
        v["actor_name"] = json!("Visitor link");
        let e = p(v);
        assert_eq!(e.person, None);
        assert_eq!(e.summary, "Visitor link unlocked Server Room");
    }

    #[test]
    fn reader_points_at_its_lock_and_controller() {
        let e = p(
            json!({"uuid": "r1", "type": "reader.tamper", "object_type": "Reader",
            "object_id": 877, "object_name": "Server Room Reader",
            "object": {"id": 877, "lock_id": 1202, "lock": {"id": 1202, "name": "Server Room"},
                       "controller": {"id": 311, "name": "Main Controller"}},
            "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.kind, EventKind::DeviceTamper);
        assert_eq!(e.door, Some(Ref::new("1202", Some("Server Room"))));
        assert_eq!(e.controller, Some(Ref::new("311", Some("Main Controller"))));
        assert_eq!(e.summary, "Server Room Reader tampered (Server Room)");
    }

    #[test]
    fn place_lockdown_names_the_site() {
        let e = p(
            json!({"type": "place.lock_down", "object_type": "Place", "object_id": 4021,
            "object_name": "HQ Berlin", "place_id": 4021, "created_at": "2026-11-22T08:00:00Z"}),
        );
        assert_eq!(e.kind, EventKind::DoorLockdown);
        assert_eq!(e.site, Some(Ref::new("4021", Some("HQ Berlin"))));
        assert_eq!(e.door, None);
        assert_eq!(e.summary, "HQ Berlin locked down");
    }

    #[test]
    fn page_items_reads_event_sets_only() {
        let set = json!({"id": 9137, "status": "finished", "cursor": "abc",
            "created_at": "2026-11-22T08:00:00Z", "events": [unlock(), {"x": 1}]});
        assert_eq!(page_items(&set).map(|v| v.len()), Some(2));
        let wrapped = json!({"event_set": set});
        assert_eq!(page_items(&wrapped).map(|v| v.len()), Some(2));
        let running = json!({"id": 9138, "status": "in_progress", "cursor": null,
            "created_at": "2026-11-22T08:00:00Z"});
        assert_eq!(page_items(&running), Some(vec![]));
        assert_eq!(page_items(&json!({"events": []})), Some(vec![]));
        assert_eq!(page_items(&unlock()), None);
        assert_eq!(page_items(&json!([unlock()])), None);
        assert_eq!(page_items(&json!({"events": "nope"})), None);
        assert_eq!(page_items(&json!(null)), None);
    }

    #[test]
    fn camel_to_snake_handles_forms() {
        assert_eq!(camel_to_snake("WirelessLock"), "wireless_lock");
        assert_eq!(camel_to_snake("Lock"), "lock");
        assert_eq!(camel_to_snake("controller_input"), "controller_input");
        assert_eq!(camel_to_snake(" ÜberThing "), "ber_thing");
        assert_eq!(camel_to_snake(""), "");
    }
}

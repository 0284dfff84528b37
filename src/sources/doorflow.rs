//! DoorFlow events → unified events.
//!
//! Payload (DoorFlow API 3.0, `GET /api/3/events` and `GET /api/3/events/{id}`): one
//! flat object per event, a list page being a bare JSON array of them:
//!
//! ```json
//! {"id": 98321, "event_id": 98321, "event_code": 32, "event_label": "Door forced open",
//!  "door_controller_id": 4102, "door_controller_name": "Server Room",
//!  "channel_id": 4102, "channel_name": "Server Room",
//!  "person_id": null, "person_name": null, "credentials_number": null,
//!  "created_at": "2026-03-02T09:14:05+10:00", "updated_at": "2026-03-02T09:14:05+10:00"}
//! ```
//!
//! Decisions:
//! - A DoorFlow *channel* is one door controller driving one door (`channel_id` and
//!   `door_controller_id` are the same id, `channel_*` and `door_controller_*` aliases).
//!   So the channel gives both the `door` and the `controller` ref, with the same id and
//!   name. Events carry no site; `site` stays empty (map channel → site via the
//!   channels list, outside the parser).
//! - `occurred_at` is `created_at` (DoorFlow sends the account's local offset; converted
//!   to UTC). The undocumented "audit-trail" shape's `occurred_at` is accepted as a
//!   fallback. `updated_at` is the record's last change, not when it happened: never used.
//!   A naive timestamp is taken as UTC (the account's IANA `time_zone` is not known here).
//! - `vendor_type` is always `event_code:<n>`; `event_label` is free text and is never
//!   parsed, only shown where the code table has no wording of its own.
//! - A name without an id becomes a ref whose id is the name, so it is still searchable.
//! - A webhook notification (`resource_type`, `resource`, `ack_token`) is not an event:
//!   it is rejected with a reason saying so. `page_items` returns `None`: DoorFlow's list
//!   page is a bare array, which the import splitter already handles.

pub mod live;

use super::{ParseContext, ParseError, fields};
use crate::model::{Event, EventKind, Ref, Severity, Vendor};
use serde_json::Value;

/// How a code's summary line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// `<who> admitted at <door>`, with the admit method in brackets when it is not a card.
    Admitted(Option<&'static str>),
    /// `<who> rejected at <door>: <reason>`. `true`: the reason is unconfirmed, so the
    /// vendor's `event_label` is preferred when there is one.
    Rejected(&'static str, bool),
    /// `<what> at <door>` (`Request-to-exit at Lobby`).
    AtDoor(&'static str),
    /// `<channel> <what>` (`Server Room forced open`, `Front Door sync failed`).
    Channel(&'static str),
    /// The vendor's `event_label`, else the given text; ` at <door>` when there is a door.
    Label(&'static str),
}

/// What an event code means to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meaning {
    kind: EventKind,
    severity: Severity,
    success: Option<bool>,
    line: Line,
}

#[rustfmt::skip]
fn meaning(code: i64) -> Meaning {
    use EventKind as K;
    use Severity::{Alarm, Info, Notice, Warning};
    let m = |kind: EventKind, severity: Severity, success: Option<bool>, line: Line| Meaning {
        kind,
        severity,
        success,
        line,
    };
    let granted = |method| m(K::AccessGranted, Info, Some(true), Line::Admitted(method));
    let denied = |reason| m(K::AccessDenied, Warning, Some(false), Line::Rejected(reason, false));
    match code {
        // Channel status. 2 (stopped) and 3 (contact lost) both mean the console cannot
        // reach the controller any more.
        1 => m(K::ControllerOnline, Notice, None, Line::Channel("controller online (channel started)")),
        2 => m(K::ControllerOffline, Warning, None, Line::Channel("controller offline (channel stopped)")),
        3 => m(K::ControllerOffline, Warning, None, Line::Channel("controller offline (contact lost)")),
        // Admits.
        10 => granted(None),
        11 => granted(Some("PIN")),
        12 => granted(Some("manual")),
        // An admit by request-to-exit is somebody leaving, not a credential at the door.
        13 => m(K::DoorExitRequest, Info, Some(true), Line::AtDoor("Request-to-exit admitted")),
        14 => granted(Some("auxiliary input")),
        15 => granted(Some("app")),
        16 => granted(Some("door in unlock mode")),
        17 => granted(Some("Apple Wallet")),
        18 => granted(Some("Google Wallet")),
        70 => granted(Some("multi-factor")),
        // Rejects.
        20 => denied("unauthorised card/fob"),
        21 => denied("out of hours"),
        22 => denied("lockdown"),
        23 => denied("tamper"),
        24 => denied("unauthorised PIN"),
        25 => denied("timeout"),
        26 => denied("invalid credential type"),
        27 => denied("unauthorised"),
        28 => denied("passback detected"),
        29 => denied("controller offline"),
        71..=73 => m(
            K::AccessDenied,
            Warning,
            Some(false),
            Line::Rejected("multi-factor authentication failed", true),
        ),
        // Request-to-exit and door state ("perimeter events").
        30 => m(K::DoorExitRequest, Info, None, Line::AtDoor("Request-to-exit")),
        // "Door state normal": the door is closed again and any forced/held alarm is over.
        31 => m(K::DoorClosed, Notice, None, Line::Channel("back to normal (door closed)")),
        32 => m(K::DoorForcedOpen, Alarm, None, Line::Channel("forced open")),
        33 => m(K::DoorHeldOpen, Alarm, None, Line::Channel("held open too long")),
        // Further door state / alarm codes whose meanings DoorFlow does not document.
        34..=37 => m(K::Other, Warning, None, Line::Label("Door state event")),
        // Automatic-unlock shifts.
        40 => m(K::DoorScheduledUnlockStarted, Notice, None, Line::AtDoor("Auto-unlock shift started")),
        41 => m(K::DoorScheduledUnlockEnded, Notice, None, Line::AtDoor("Auto-unlock shift ended")),
        42 => m(K::Other, Notice, None, Line::Label("Auto-unlock event")),
        // Remote control (admission requests).
        50 => granted(Some("remote")),
        51 => m(K::AccessDenied, Warning, Some(false), Line::Rejected("remote admit denied", false)),
        52 => m(
            K::AccessDenied,
            Warning,
            Some(false),
            Line::Rejected("door controller offline for remote admit", false),
        ),
        53..=63 => m(K::Other, Notice, None, Line::Label("Remote control event")),
        // Tamper. 91 as "cleared" is DoorFlow's second tamper code, by position.
        90 => m(K::DeviceTamper, Alarm, None, Line::AtDoor("Tamper detected")),
        91 => m(K::DeviceTamperCleared, Notice, None, Line::AtDoor("Tamper cleared")),
        // Channel sync.
        100 => m(K::ControllerSyncStarted, Notice, None, Line::Channel("sync started")),
        101 => m(K::ControllerSyncFinished, Notice, None, Line::Channel("sync not required (in sync)")),
        102..=104 => m(K::Other, Notice, None, Line::Label("Channel sync event")),
        105 => m(K::ControllerSyncFinished, Notice, None, Line::Channel("sync completed")),
        106 => m(K::ControllerSyncFailed, Warning, None, Line::Channel("sync failed")),
        107 => m(K::ControllerSyncFailed, Warning, None, Line::Channel("sync timing out")),
        // LDAP directory sync: an account-level integration event, not a door's.
        220..=225 => m(K::admin("ldap_sync"), Info, None, Line::Label("LDAP sync event")),
        _ => m(K::Other, Info, None, Line::Label("DoorFlow event")),
    }
}

/// Parse one DoorFlow event object.
pub fn parse(ctx: &ParseContext, item: &Value) -> Result<Event, ParseError> {
    if !item.is_object() {
        return Err(ParseError::new(format!(
            "doorflow: expected an event object, got {}",
            fields::json_type(item)
        )));
    }
    let code = match fields::integer(item, &["event_code"]) {
        Some(code) => code,
        None if item.get("resource_type").is_some() || item.get("ack_token").is_some() => {
            return Err(ParseError::new(
                "doorflow: a webhook notification, not an event: fetch its `resource` URL to get the event",
            ));
        }
        None => {
            return Err(ParseError::new(
                "doorflow: event has no numeric `event_code`",
            ));
        }
    };
    let vendor_id = fields::first_text(item, &[&["id"], &["event_id"]]);
    let occurred_at = fields::time(item, &["created_at"])
        .or_else(|| fields::time(item, &["occurred_at"]))
        .ok_or_else(|| {
            ParseError::new(format!(
                "doorflow: event {} (code {code}) has no parseable `created_at`",
                vendor_id.as_deref().unwrap_or("without id")
            ))
        })?;
    let id = Event::make_id(
        ctx.source,
        &vendor_id.unwrap_or_else(|| fields::content_id(item)),
    );

    let channel = named_ref(
        item,
        &[&["channel_id"], &["door_controller_id"]],
        &[&["channel_name"], &["door_controller_name"]],
    );
    let person = named_ref(item, &[&["person_id"]], &[&["person_name"]]);
    let credential = fields::first_text(
        item,
        &[
            &["credentials_number"],
            &["additional_data", "card_number"],
            &["credential_id"],
        ],
    )
    .map(|c| c.trim().to_string());
    let label =
        fields::first_text(item, &[&["event_label"], &["description"]]).map(|l| one_line(&l));

    let m = meaning(code);
    let summary = summary(
        m.line,
        channel.as_ref(),
        person.as_ref(),
        label.as_deref(),
        code,
    );

    Ok(Event {
        id,
        source: ctx.source.to_string(),
        vendor: Vendor::Doorflow,
        occurred_at,
        received_at: ctx.received_at,
        kind: m.kind,
        vendor_type: format!("event_code:{code}"),
        severity: m.severity,
        door: channel.clone(),
        controller: channel,
        person,
        site: None,
        credential,
        success: m.success,
        summary,
        raw: item.into(),
    })
}

/// DoorFlow list pages are bare arrays (the caller splits those); webhook deliveries are
/// arrays of notifications, not events. No wrapper object to unwrap.
pub fn page_items(_v: &Value) -> Option<Vec<Value>> {
    None
}

/// A ref from an id field and a name field; a name alone doubles as the id.
fn named_ref(item: &Value, ids: &[&[&str]], names: &[&[&str]]) -> Option<Ref> {
    let id = fields::first_text(item, ids).map(|s| s.trim().to_string());
    let name = fields::first_text(item, names).map(|s| one_line(&s));
    fields::make_ref(id, name)
}

fn summary(
    line: Line,
    channel: Option<&Ref>,
    person: Option<&Ref>,
    label: Option<&str>,
    code: i64,
) -> String {
    let door = channel
        .map(door_label)
        .unwrap_or_else(|| "unknown door".to_string());
    let who = match person {
        Some(Ref {
            name: Some(name), ..
        }) => name.clone(),
        Some(p) => format!("Person {}", p.id),
        None => "Unknown person".to_string(),
    };
    match line {
        Line::Admitted(None) => format!("{who} admitted at {door}"),
        Line::Admitted(Some(method)) => format!("{who} admitted at {door} ({method})"),
        Line::Rejected(reason, prefer_label) => {
            let reason = match label {
                Some(l) if prefer_label => l,
                _ => reason,
            };
            format!("{who} rejected at {door}: {reason}")
        }
        Line::AtDoor(what) => format!("{what} at {door}"),
        Line::Channel(what) => format!("{door} {what}"),
        Line::Label(fallback) => {
            let text = match label {
                Some(l) => l.to_string(),
                None => format!("{fallback} (code {code})"),
            };
            match channel {
                Some(_) => format!("{text} at {door}"),
                None => text,
            }
        }
    }
}

/// A channel as a reader sees it: its name, else `channel <id>`.
fn door_label(channel: &Ref) -> String {
    match &channel.name {
        Some(name) => name.clone(),
        None => format!("channel {}", channel.id),
    }
}

/// Vendor text squeezed onto one line: the summary is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn ctx() -> ParseContext<'static> {
        ParseContext {
            source: "hq-doorflow",
            received_at: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
        }
    }

    fn forced() -> Value {
        json!({
            "id": 55120, "event_id": 55120, "event_code": 32, "event_label": "Door forced open",
            "door_controller_id": 4102, "door_controller_name": "Server Room",
            "channel_id": 4102, "channel_name": "Server Room",
            "person_id": null, "person_name": null, "credentials_number": null,
            "created_at": "2026-03-02T09:14:05+10:00", "updated_at": "2026-03-02T09:14:05+10:00"
        })
    }

    #[test]
    fn local_offsets_become_utc() {
        let e = parse(&ctx(), &forced()).unwrap();
        assert_eq!(
            e.occurred_at,
            Utc.with_ymd_and_hms(2026, 3, 1, 23, 14, 5).unwrap()
        );
        let mut west = forced();
        west["created_at"] = json!("2026-03-02T18:30:00.250-05:00");
        let e = parse(&ctx(), &west).unwrap();
        assert_eq!(
            e.occurred_at,
            Utc.with_ymd_and_hms(2026, 3, 2, 23, 30, 0).unwrap()
                + chrono::Duration::milliseconds(250)
        );
    }

    #[test]
    fn forced_open_is_an_alarm_on_the_channel() {
        let e = parse(&ctx(), &forced()).unwrap();
        assert_eq!(e.id, "hq-doorflow:55120");
        assert_eq!(e.kind, EventKind::DoorForcedOpen);
        assert_eq!(e.severity, Severity::Alarm);
        assert_eq!(e.vendor_type, "event_code:32");
        assert_eq!(e.summary, "Server Room forced open");
        assert_eq!(e.door, Some(Ref::new("4102", Some("Server Room"))));
        assert_eq!(e.controller, e.door);
        assert_eq!(e.person, None);
        assert_eq!(e.success, None);
        assert_eq!(e.raw, forced());
    }

    #[test]
    fn reject_keeps_reason_and_person() {
        let mut v = forced();
        v["event_code"] = json!(21);
        v["person_id"] = json!(9001);
        v["person_name"] = json!("Jane Roe");
        v["credentials_number"] = json!("00471234");
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.kind, EventKind::AccessDenied);
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.success, Some(false));
        assert_eq!(e.summary, "Jane Roe rejected at Server Room: out of hours");
        assert_eq!(e.person, Some(Ref::new("9001", Some("Jane Roe"))));
        assert_eq!(e.credential.as_deref(), Some("00471234"));
    }

    #[test]
    fn unknown_code_is_other_with_its_code_kept() {
        let mut v = forced();
        v["event_code"] = json!(999);
        v["event_label"] = json!("Something new");
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.kind, EventKind::Other);
        assert_eq!(e.vendor_type, "event_code:999");
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.summary, "Something new at Server Room");
        v["event_label"] = json!("Something\n  new ");
        assert_eq!(
            parse(&ctx(), &v).unwrap().summary,
            "Something new at Server Room"
        );
        v["event_code"] = json!("-7");
        v.as_object_mut().unwrap().remove("event_label");
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.vendor_type, "event_code:-7");
        assert_eq!(e.summary, "DoorFlow event (code -7) at Server Room");
    }

    #[test]
    fn missing_person_and_channel_names() {
        let v = json!({"id": 7, "event_code": 10, "channel_id": 12, "created_at": "2026-03-02T10:00:00Z"});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.person, None);
        assert_eq!(e.door, Some(Ref::new("12", None::<String>)));
        assert_eq!(e.summary, "Unknown person admitted at channel 12");
        let v = json!({"id": 8, "event_code": 10, "person_id": 5, "created_at": "2026-03-02T10:00:00Z"});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.door, None);
        assert_eq!(e.controller, None);
        assert_eq!(e.summary, "Person 5 admitted at unknown door");
    }

    #[test]
    fn every_code_range_maps() {
        use EventKind as K;
        for (code, kind, sev) in [
            (1, K::ControllerOnline, Severity::Notice),
            (2, K::ControllerOffline, Severity::Warning),
            (3, K::ControllerOffline, Severity::Warning),
            (13, K::DoorExitRequest, Severity::Info),
            (18, K::AccessGranted, Severity::Info),
            (70, K::AccessGranted, Severity::Info),
            (29, K::AccessDenied, Severity::Warning),
            (73, K::AccessDenied, Severity::Warning),
            (30, K::DoorExitRequest, Severity::Info),
            (31, K::DoorClosed, Severity::Notice),
            (33, K::DoorHeldOpen, Severity::Alarm),
            (40, K::DoorScheduledUnlockStarted, Severity::Notice),
            (41, K::DoorScheduledUnlockEnded, Severity::Notice),
            (90, K::DeviceTamper, Severity::Alarm),
            (91, K::DeviceTamperCleared, Severity::Notice),
            (100, K::ControllerSyncStarted, Severity::Notice),
            (105, K::ControllerSyncFinished, Severity::Notice),
            (106, K::ControllerSyncFailed, Severity::Warning),
            (107, K::ControllerSyncFailed, Severity::Warning),
            (223, K::admin("ldap_sync"), Severity::Info),
        ] {
            let m = meaning(code);
            assert_eq!((m.kind, m.severity), (kind, sev), "code {code}");
        }
    }

    #[test]
    fn garbage_is_rejected_never_panics() {
        for v in [
            json!(null),
            json!(42),
            json!("event"),
            json!([1, 2]),
            json!({}),
            json!({"event_code": 10}),
            json!({"event_code": 10, "created_at": "yesterday"}),
            json!({"event_code": "ten", "created_at": "2026-03-02T10:00:00Z"}),
            json!({"event_code": {"x": 1}, "created_at": "2026-03-02T10:00:00Z"}),
        ] {
            assert!(parse(&ctx(), &v).is_err(), "{v}");
        }
        let hook = json!({"action": "CREATE", "resource_type": "Event", "resource_id": "98321",
                          "resource": "https://api.doorflow.com/api/3/events/98321?ack_token=abc123",
                          "account_id": "nbYfy7", "ack_token": "abc123"});
        let err = parse(&ctx(), &hook).unwrap_err();
        assert!(err.0.contains("webhook notification"), "{err}");
    }

    #[test]
    fn no_id_falls_back_to_content_hash_and_audit_trail_shape_parses() {
        let v = json!({"event_code": 20, "description": "Rejected", "occurred_at": "2026-03-02T10:00:00+01:00",
                       "additional_data": {"credential_type": "card", "card_number": "123"}});
        let e = parse(&ctx(), &v).unwrap();
        assert_eq!(e.id, format!("hq-doorflow:{}", fields::content_id(&v)));
        assert_eq!(
            e.occurred_at,
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
        );
        assert_eq!(e.credential.as_deref(), Some("123"));
        assert_eq!(parse(&ctx(), &v).unwrap().id, e.id);
    }
}

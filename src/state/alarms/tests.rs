use super::*;
use crate::model::Severity;
use chrono::TimeZone;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap() + Duration::minutes(min)
}

fn ev(id: &str, kind: EventKind, at: DateTime<Utc>) -> Event {
    Event {
        id: format!("hq:{id}"),
        source: "hq".into(),
        vendor: Vendor::Pdk,
        occurred_at: at,
        received_at: at,
        kind,
        vendor_type: "x".into(),
        severity: Severity::Alarm,
        door: Some(Ref::new("d1", Some("Server Room"))),
        controller: Some(Ref::new("c1", Some("Node 1"))),
        person: None,
        site: None,
        credential: None,
        success: None,
        summary: String::new(),
        raw: crate::model::RawJson::null(),
    }
}

fn engine() -> AlarmEngine {
    AlarmEngine::new(AlarmConfig {
        escalate_after: None,
        ..Default::default()
    })
}

fn only(e: &AlarmEngine) -> &Alarm {
    let all: Vec<&Alarm> = e.all().collect();
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0]
}

#[test]
fn forced_open_raises_critical_and_clear_then_ack_closes() {
    let mut e = engine();
    assert_eq!(
        e.on_event(&ev("1", EventKind::DoorForcedOpen, t(0))),
        vec![AlarmChange::Raised("a-000001".into())]
    );
    let a = only(&e);
    assert_eq!(
        (a.rule, a.priority, a.state()),
        (Rule::ForcedOpen, Priority::Critical, "active")
    );
    assert_eq!(a.raised_at, t(0));
    e.on_event(&ev("2", EventKind::DoorForcedOpenCleared, t(1)));
    assert_eq!(only(&e).state(), "cleared");
    assert_eq!(
        e.open_alarms().len(),
        1,
        "cleared but not acknowledged still needs someone"
    );
    e.ack("a-000001", "alice", "guard sent", t(2)).unwrap();
    assert_eq!(only(&e).state(), "closed");
    assert!(e.open_alarms().is_empty());
}

#[test]
fn ack_before_clear_keeps_it_open_until_the_clear() {
    let mut e = engine();
    e.on_event(&ev("1", EventKind::DoorHeldOpen, t(0)));
    e.ack("a-000001", "bob", "on it", t(1)).unwrap();
    assert_eq!(only(&e).state(), "acknowledged");
    assert_eq!(e.open_alarms().len(), 1);
    e.on_event(&ev("2", EventKind::DoorClosed, t(2)));
    assert_eq!(only(&e).state(), "closed");
    // A new episode after closing is a new alarm.
    e.on_event(&ev("3", EventKind::DoorHeldOpen, t(5)));
    assert_eq!(e.open_alarms()[0].id, "a-000002");
}

#[test]
fn retrigger_counts_instead_of_flooding_and_duplicates_count_once() {
    let mut e = engine();
    for (i, m) in [(1, 0), (2, 1), (3, 2)] {
        e.on_event(&ev(&i.to_string(), EventKind::DoorForcedOpen, t(m)));
    }
    e.on_event(&ev("3", EventKind::DoorForcedOpen, t(2)));
    let a = only(&e);
    assert_eq!(a.count, 3);
    assert_eq!(a.events, vec!["hq:1", "hq:2", "hq:3"]);
}

#[test]
fn out_of_order_clear_before_raise() {
    let mut e = engine();
    // The clear (10:05) arrives before the raise (10:00): the alarm is born cleared.
    e.on_event(&ev("c", EventKind::DoorForcedOpenCleared, t(5)));
    e.on_event(&ev("r", EventKind::DoorForcedOpen, t(0)));
    let a = only(&e);
    assert_eq!(a.state(), "cleared");
    assert_eq!(a.cleared_at, Some(t(5)));
    // A clear older than a raise does not clear it.
    let mut e = engine();
    e.on_event(&ev("c", EventKind::DoorForcedOpenCleared, t(0)));
    e.on_event(&ev("r", EventKind::DoorForcedOpen, t(5)));
    assert_eq!(only(&e).state(), "active");
    e.on_event(&ev("old", EventKind::DoorForcedOpenCleared, t(3)));
    assert_eq!(only(&e).state(), "active");
}

#[test]
fn first_ack_wins_and_says_who() {
    let mut e = engine();
    e.on_event(&ev("1", EventKind::DeviceTamper, t(0)));
    e.ack("a-000001", "alice", "checked", t(1)).unwrap();
    match e.ack("a-000001", "bob", "me too", t(2)) {
        Err(AckError::AlreadyAcknowledged { by, .. }) => assert_eq!(by.operator, "alice"),
        other => panic!("{other:?}"),
    }
    assert_eq!(only(&e).acks.len(), 1);
    assert!(matches!(
        e.ack("a-999999", "x", "y", t(3)),
        Err(AckError::UnknownAlarm(_))
    ));
    let mut strict = AlarmEngine::new(AlarmConfig {
        require_ack_note: true,
        ..Default::default()
    });
    strict.on_event(&ev("1", EventKind::DeviceTamper, t(0)));
    assert_eq!(
        strict.ack("a-000001", "alice", "  ", t(1)),
        Err(AckError::NoteRequired)
    );
}

fn denied(i: u32, at: DateTime<Utc>) -> Event {
    let mut d = ev(&format!("deny{i}"), EventKind::AccessDenied, at);
    d.credential = Some(format!("card{i}"));
    d
}

#[test]
fn denial_burst_at_the_threshold_boundary() {
    let mut e = engine();
    // Four denials in the window: nothing. The fifth inside 2 minutes: alarm.
    for i in 0..4 {
        assert!(
            e.on_event(&denied(i, t(0) + Duration::seconds(20 * i as i64)))
                .is_empty()
        );
    }
    // Exactly 2 minutes after the first is outside the window (window is half-open).
    assert!(e.on_event(&denied(4, t(2))).is_empty());
    let changes = e.on_event(&denied(5, t(2) + Duration::seconds(1)));
    assert_eq!(changes, vec![AlarmChange::Raised("a-000001".into())]);
    let a = only(&e);
    assert_eq!(
        (a.rule, a.priority, a.state()),
        (Rule::DeniedBurst, Priority::Medium, "cleared")
    );
    e.on_event(&denied(6, t(2) + Duration::seconds(2)));
    assert_eq!(only(&e).count, 2);
}

#[test]
fn one_credential_denied_at_many_doors_is_a_burst_too() {
    let mut e = engine();
    for i in 0..5 {
        let mut d = ev(
            &format!("x{i}"),
            EventKind::AccessDenied,
            t(0) + Duration::seconds(i),
        );
        d.door = Some(Ref::new(format!("door{i}"), None::<String>));
        d.credential = Some("card-7".into());
        e.on_event(&d);
    }
    let a = only(&e);
    assert_eq!(a.credential.as_deref(), Some("card-7"));
}

#[test]
fn controller_offline_only_after_grace() {
    let mut e = engine();
    e.on_event(&ev("on", EventKind::ControllerOnline, t(0)));
    e.on_event(&ev("off", EventKind::ControllerOffline, t(1)));
    assert!(e.tick(t(2)).is_empty(), "within the 2-minute grace");
    e.on_event(&ev("on2", EventKind::ControllerOnline, t(2)));
    assert!(e.tick(t(10)).is_empty(), "came back in time");
    e.on_event(&ev("off2", EventKind::ControllerOffline, t(20)));
    assert_eq!(e.tick(t(23)), vec![AlarmChange::Raised("a-000001".into())]);
    assert_eq!(only(&e).raised_at, t(20), "raised_at is the event's time");
    e.on_event(&ev("on3", EventKind::ControllerOnline, t(30)));
    assert_eq!(only(&e).state(), "cleared");
}

#[test]
fn an_outage_learned_from_a_backfill_is_raised_and_cleared() {
    let mut e = engine();
    e.on_event(&ev("off", EventKind::ControllerOffline, t(0)));
    e.on_event(&ev("on", EventKind::ControllerOnline, t(30)));
    let a = only(&e);
    assert_eq!((a.rule, a.state()), (Rule::ControllerOffline, "cleared"));
}

#[test]
fn a_seam_device_never_seen_online_raises_no_offline_alarm() {
    let mut e = engine();
    let mut off = ev("off", EventKind::ControllerOffline, t(0));
    off.vendor = Vendor::Seam;
    e.on_event(&off);
    assert!(e.tick(t(60)).is_empty());
}

#[test]
fn escalation_raises_priority_once_unless_acknowledged() {
    let mut e = AlarmEngine::new(AlarmConfig::default());
    e.on_event(&ev("1", EventKind::DoorHeldOpen, t(0)));
    e.on_event(&ev("2", EventKind::DeviceTamper, t(0)));
    e.ack("a-000002", "alice", "", t(1)).unwrap();
    assert!(e.tick(t(9)).is_empty());
    assert_eq!(
        e.tick(t(10)),
        vec![AlarmChange::Escalated("a-000001".into())]
    );
    assert!(e.tick(t(30)).is_empty());
    let a = e.get("a-000001").unwrap();
    assert_eq!((a.priority, a.escalated), (Priority::Critical, true));
    assert!(!e.get("a-000002").unwrap().escalated);
}

#[test]
fn rules_can_be_disabled_or_reprioritised() {
    let mut config = AlarmConfig::default();
    config.rules.insert(
        Rule::ForcedOpen,
        RuleSettings {
            enabled: false,
            priority: Priority::Critical,
        },
    );
    config.rules.insert(
        Rule::Tamper,
        RuleSettings {
            enabled: true,
            priority: Priority::Low,
        },
    );
    let mut e = AlarmEngine::new(config);
    e.on_event(&ev("1", EventKind::DoorForcedOpen, t(0)));
    e.on_event(&ev("2", EventKind::DeviceTamper, t(0)));
    assert_eq!(only(&e).priority, Priority::Low);
}

#[test]
fn open_alarms_order_by_priority_then_age_and_json_has_the_contract_fields() {
    let mut e = engine();
    e.on_event(&ev("1", EventKind::DeviceBatteryLow, t(0)));
    e.on_event(&ev("2", EventKind::DoorHeldOpen, t(1)));
    e.on_event(&ev("3", EventKind::DoorForcedOpen, t(2)));
    let order: Vec<Rule> = e.open_alarms().iter().map(|a| a.rule).collect();
    assert_eq!(
        order,
        vec![Rule::ForcedOpen, Rule::HeldOpen, Rule::BatteryLow]
    );
    let v = e.get("a-000003").unwrap().to_json();
    assert_eq!(v["rule"], "forced_open");
    assert_eq!(v["priority"], "critical");
    assert_eq!(v["kind"], "door.forced_open");
    assert_eq!(v["state"], "active");
    assert_eq!(v["acknowledged"], false);
    assert_eq!(v["cleared"], false);
    assert_eq!(v["count"], 1);
    assert_eq!(v["door"]["name"], "Server Room");
    assert_eq!(v["raised_at"], "2026-11-22T10:02:00.000Z");
    assert!(v["cleared_at"].is_null());
    assert_eq!(v["events"][0], "hq:3");
    assert_eq!(v["acks"], serde_json::json!([]));
}

#[test]
fn the_engine_round_trips_through_serde() {
    let mut e = engine();
    e.on_event(&ev("1", EventKind::DoorForcedOpen, t(0)));
    e.ack("a-000001", "alice", "n", t(1)).unwrap();
    let back: AlarmEngine = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back.all().collect::<Vec<_>>(), e.all().collect::<Vec<_>>());
}

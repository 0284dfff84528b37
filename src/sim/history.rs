//! A deterministic generator of realistic history, for benchmarks and load tests.
//!
//! One building: two sites, 24 doors spread over the four vendors, 6 controllers,
//! a few hundred people badging in by a daily rhythm, denials, door cycles, and the
//! occasional forced or held-open door, tamper and controller outage.

use crate::model::{Event, EventKind, Ref, Severity, Vendor};
use chrono::{TimeZone, Utc};

pub const DOORS: [&str; 24] = [
    "Server Room",
    "Front Door",
    "Lobby",
    "Loading Dock",
    "Roof Access",
    "Stairwell A",
    "Stairwell B",
    "Finance Office",
    "HR Office",
    "Mail Room",
    "Parking Gate",
    "Bike Store",
    "Lab 1",
    "Lab 2",
    "Storage",
    "Kitchen",
    "Board Room",
    "Reception",
    "Back Door",
    "Data Closet",
    "Gym",
    "Archive",
    "North Entrance",
    "South Entrance",
];

const FIRST: [&str; 20] = [
    "Jane", "John", "Maria", "Ahmed", "Wei", "Olga", "Pedro", "Aisha", "Tom", "Priya", "Lars",
    "Yuki", "Sam", "Fatima", "Ivan", "Chloe", "Kofi", "Elena", "Noah", "Zara",
];
const LAST: [&str; 20] = [
    "Roe", "Smith", "Garcia", "Khan", "Chen", "Petrova", "Silva", "Okafor", "Brown", "Patel",
    "Berg", "Tanaka", "Lee", "Haddad", "Volkov", "Martin", "Mensah", "Rossi", "Davis", "Ali",
];

/// Small, fast, deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, per_thousand: u64) -> bool {
        self.below(1000) < per_thousand
    }
}

/// Who the generated history is about: `i`th person's name.
pub fn person_name(i: usize) -> String {
    format!(
        "{} {}",
        FIRST[i % FIRST.len()],
        LAST[(i / FIRST.len()) % LAST.len()]
    )
}

pub fn door_vendor(door: usize) -> Vendor {
    Vendor::ALL[door % 4]
}

fn site(door: usize) -> Ref {
    if door < 16 {
        Ref::new("site-hq", Some("HQ"))
    } else {
        Ref::new("site-annex", Some("Annex"))
    }
}

/// `n` events spread over `span_ms` ending at `end_ms`, oldest first, busier in the
/// working day. The same seed gives the same history.
pub fn history(n: usize, end_ms: i64, span_ms: i64, seed: u64) -> impl Iterator<Item = Event> {
    let mut rng = Rng::new(seed);
    let step = (span_ms / n.max(1) as i64).max(1);
    let start = end_ms - span_ms;
    (0..n).map(move |i| {
        let mut t = start + i as i64 * step;
        // Nights are quieter: move a share of night events into the day.
        let hour = (t / 3_600_000).rem_euclid(24);
        if !(7..19).contains(&hour) && rng.chance(600) {
            t -= 12 * 3_600_000;
        }
        t = t.max(start);
        event(&mut rng, i as u64, t)
    })
}

/// One generated event at `ms`.
pub fn event(rng: &mut Rng, seq: u64, ms: i64) -> Event {
    let door = rng.below(DOORS.len() as u64) as usize;
    let vendor = door_vendor(door);
    let person = rng.below(400) as usize;
    let roll = rng.below(1000);
    let (kind, severity, vendor_type, with_person) = match roll {
        0..=649 => (
            EventKind::AccessGranted,
            Severity::Info,
            "access.granted",
            true,
        ),
        650..=719 => (
            EventKind::AccessDenied,
            Severity::Warning,
            "access.denied",
            true,
        ),
        720..=839 => (
            EventKind::DoorOpened,
            Severity::Notice,
            "door.opened",
            false,
        ),
        840..=959 => (
            EventKind::DoorClosed,
            Severity::Notice,
            "door.closed",
            false,
        ),
        960..=969 => (
            EventKind::DoorHeldOpen,
            Severity::Alarm,
            "door.held_open",
            false,
        ),
        970..=974 => (
            EventKind::DoorForcedOpen,
            Severity::Alarm,
            "door.forced_open",
            false,
        ),
        975..=984 => (
            EventKind::DoorExitRequest,
            Severity::Info,
            "door.exit_request",
            false,
        ),
        985..=988 => (
            EventKind::DeviceTamper,
            Severity::Alarm,
            "device.tamper",
            false,
        ),
        989..=993 => (
            EventKind::ControllerOffline,
            Severity::Warning,
            "controller.offline",
            false,
        ),
        _ => (
            EventKind::ControllerOnline,
            Severity::Notice,
            "controller.online",
            false,
        ),
    };
    let door_name = DOORS[door];
    let who = person_name(person);
    let summary = match kind {
        EventKind::AccessGranted => format!("{who} granted at {door_name}"),
        EventKind::AccessDenied => format!("{who} denied at {door_name} (out of hours)"),
        _ => format!(
            "{door_name} {}",
            vendor_type
                .rsplit('.')
                .next()
                .unwrap_or("")
                .replace('_', " ")
        ),
    };
    let source = format!("hq-{}", vendor.as_str());
    let vid = format!("{seq:012x}");
    let controller = door / 4;
    let granted = kind == EventKind::AccessGranted;
    Event {
        id: Event::make_id(&source, &vid),
        source,
        vendor,
        occurred_at: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
        received_at: Utc
            .timestamp_millis_opt(ms + 150)
            .single()
            .unwrap_or_default(),
        kind,
        vendor_type: vendor_type.to_string(),
        severity,
        door: Some(Ref::new(format!("door-{door:02}"), Some(door_name))),
        controller: Some(Ref::new(
            format!("ctl-{controller}"),
            Some(format!("Controller {controller}")),
        )),
        person: with_person.then(|| Ref::new(format!("person-{person:03}"), Some(who.clone()))),
        site: Some(site(door)),
        credential: with_person.then(|| format!("{}", 100_000 + person)),
        success: with_person.then_some(granted),
        summary,
        raw: serde_json::json!({
            "id": vid,
            "type": vendor_type,
            "occurred": ms,
            "device": {"id": format!("door-{door:02}"), "name": door_name},
            "holder": if with_person { serde_json::json!({"id": format!("person-{person:03}"), "name": who}) } else { serde_json::Value::Null },
        })
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_history_in_time_order_range() {
        let a: Vec<Event> = history(500, 1_800_000_000_000, 86_400_000, 7).collect();
        let b: Vec<Event> = history(500, 1_800_000_000_000, 86_400_000, 7).collect();
        assert_eq!(a, b);
        assert!(
            a.iter()
                .all(|e| e.occurred_at.timestamp_millis() <= 1_800_000_000_000)
        );
        assert!(a.iter().any(|e| e.kind == EventKind::DoorForcedOpen));
        let ids: std::collections::HashSet<&str> = a.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 500);
    }
}

//! A plain copy of what the console shows, taken from the engine under its lock.
//!
//! Rendering never touches the engine: the loop copies these rows when the engine
//! says something changed, then draws from the copy as often as it needs.

use crate::engine::Engine;
use crate::model::Vendor;
use crate::sources::runtime::SourceStatus;
use crate::state::alarms::{Alarm, Priority};
use crate::state::{
    AccessOutcome, Condition, DoorKey, DoorMode, Link, LockState, Position, SyncPhase,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoorRow {
    pub key: DoorKey,
    pub name: String,
    pub site: Option<String>,
    pub vendor: Vendor,
    pub lock: LockState,
    pub position: Position,
    pub mode: DoorMode,
    pub conditions: Vec<Condition>,
    pub link: Link,
    pub last_access: Option<AccessRow>,
    /// The most urgent open alarm on this door.
    pub alarm: Option<Priority>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRow {
    pub at: DateTime<Utc>,
    pub outcome: AccessOutcome,
    pub person: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerRow {
    pub source: String,
    pub id: String,
    pub name: String,
    pub vendor: Vendor,
    pub link: Link,
    pub since: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub doors: usize,
    pub sync: Option<SyncRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRow {
    pub phase: SyncPhase,
    pub since: Option<DateTime<Utc>>,
    #[serde(with = "opt_ms")]
    pub last_duration: Option<chrono::Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatchUpRow {
    pub source: String,
    pub fraction: f64,
    pub events: u64,
    /// What the vendor said the catch-up holds, when it said.
    pub total: Option<u64>,
    #[serde(with = "opt_ms")]
    pub eta: Option<chrono::Duration>,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRow {
    pub alarm: String,
    pub ack: crate::state::alarms::Ack,
}

/// Acknowledgements kept in a snapshot.
const RECENT_ACKS: usize = 50;

/// Everything the panes draw apart from the event lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub doors: Vec<DoorRow>,
    pub controllers: Vec<ControllerRow>,
    pub catch_ups: Vec<CatchUpRow>,
    /// Open alarms (not both acknowledged and cleared), most urgent first, then oldest.
    pub alarms: Vec<Alarm>,
    pub sources: Vec<SourceStatus>,
    /// The newest acknowledgements (of open and closed alarms), oldest first: how
    /// every console learns who acknowledged what, even when the ack closed the alarm.
    #[serde(default)]
    pub recent_acks: Vec<AckRow>,
    pub quarantined: usize,
    pub events_stored: u64,
}

impl Snapshot {
    /// Copy the engine's state. Cheap enough to do on every change: a building has
    /// hundreds of doors, not millions.
    pub fn take(engine: &Engine, sources: Vec<SourceStatus>, now: DateTime<Utc>) -> Snapshot {
        let mut alarms: Vec<Alarm> = engine.alarms.open_alarms().into_iter().cloned().collect();
        alarms.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.raised_at.cmp(&b.raised_at))
        });
        // Some vendors' events carry only ids (Seam); the listings named the doors.
        for a in &mut alarms {
            if let Some(door) = a.door.as_mut().filter(|d| d.name.is_none()) {
                let key = DoorKey::new(a.source.clone(), door.id.clone());
                door.name = engine
                    .live
                    .door(&key)
                    .and_then(|d| d.name())
                    .map(str::to_string);
            }
        }
        let door_alarm = |key: &DoorKey| {
            alarms
                .iter()
                .filter(|a| {
                    !a.acknowledged()
                        && a.source == key.source
                        && a.door.as_ref().is_some_and(|d| d.id == key.id)
                })
                .map(|a| a.priority)
                .max()
        };
        let live = &engine.live;
        let doors = live
            .doors_sorted()
            .into_iter()
            .map(|v| {
                let d = v.door;
                let key = d.key().clone();
                DoorRow {
                    name: d.label().to_string(),
                    site: d.site().map(|s| s.label().to_string()),
                    vendor: d.vendor(),
                    lock: d.lock(),
                    position: d.position(),
                    mode: v.mode,
                    conditions: d.conditions(),
                    link: v.link,
                    last_access: d.last_access().map(|a| AccessRow {
                        at: a.at(),
                        outcome: a.outcome,
                        person: a.person.as_ref().map(|p| p.label().to_string()),
                    }),
                    alarm: door_alarm(&key),
                    key,
                }
            })
            .collect();
        let controllers = live
            .controllers_sorted()
            .into_iter()
            .map(|c| ControllerRow {
                source: c.key().source.clone(),
                id: c.key().id.clone(),
                name: c.label().to_string(),
                vendor: c.vendor(),
                link: c.link(),
                since: c.since(),
                last_seen: c.last_seen(),
                doors: c.door_ids().len(),
                sync: live.sync(c.key()).map(|s| SyncRow {
                    phase: s.phase(),
                    since: s.phase_since(),
                    last_duration: s.last_duration(),
                }),
            })
            .collect();
        let catch_ups = live
            .catch_ups()
            .map(|(source, c)| CatchUpRow {
                source: source.to_string(),
                fraction: c.fraction_done(),
                events: c.events_so_far(),
                total: c.expected_events(),
                eta: c.estimated_time_left(now),
                done: c.is_done(),
            })
            .collect();
        let mut recent_acks: Vec<AckRow> = engine
            .alarms
            .all()
            .filter_map(|a| {
                a.acks.first().map(|ack| AckRow {
                    alarm: a.id.clone(),
                    ack: ack.clone(),
                })
            })
            .collect();
        recent_acks.sort_by(|a, b| a.ack.at.cmp(&b.ack.at).then(a.alarm.cmp(&b.alarm)));
        let skip = recent_acks.len().saturating_sub(RECENT_ACKS);
        recent_acks.drain(..skip);
        Snapshot {
            doors,
            controllers,
            catch_ups,
            alarms,
            sources,
            recent_acks,
            quarantined: engine.store().quarantine_count().unwrap_or(0),
            events_stored: engine.store().len(),
        }
    }

    /// Unacknowledged alarms per priority, most urgent first.
    pub fn unacknowledged(&self) -> Vec<(Priority, usize)> {
        let mut counts: std::collections::BTreeMap<Priority, usize> = Default::default();
        for a in self.alarms.iter().filter(|a| !a.acknowledged()) {
            *counts.entry(a.priority).or_default() += 1;
        }
        counts.into_iter().rev().collect()
    }
}

/// Durations travel to attached consoles as whole milliseconds.
mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<chrono::Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_milliseconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono::Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(chrono::Duration::milliseconds))
    }
}

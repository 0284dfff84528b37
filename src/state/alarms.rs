//! Alarm rules and lifecycle, as professional alarm-monitoring consoles run them.
//!
//! An alarm is raised by a rule from committed events. Two things happen to it
//! independently: someone **acknowledges** it (operator, time, note; the first
//! acknowledgement wins) and its condition **clears** (the clearing event arrived).
//! It leaves the list of alarms that need someone only when both have happened. A
//! re-trigger while it is open increments its count instead of raising another.
//!
//! Pure: events and clock ticks in, [`AlarmChange`]s out; the caller persists them.

use crate::model::{Event, EventKind, Ref, Vendor, format_time, ms_time};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

/// How urgent an alarm is. Ordered: `Low < ... < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Medium,
            Priority::Medium => Priority::High,
            Priority::High | Priority::Critical => Priority::Critical,
        }
    }
}

/// The alarm rules. Names are the `rule` field of `alarms --json` and the keys of
/// `[alarms.rules]` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    ForcedOpen,
    HeldOpen,
    Tamper,
    ControllerOffline,
    DeniedBurst,
    UnknownCredentialBurst,
    SyncFailed,
    BatteryLow,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::ForcedOpen,
        Rule::HeldOpen,
        Rule::Tamper,
        Rule::ControllerOffline,
        Rule::DeniedBurst,
        Rule::UnknownCredentialBurst,
        Rule::SyncFailed,
        Rule::BatteryLow,
    ];

    pub fn default_priority(self) -> Priority {
        match self {
            Rule::ForcedOpen => Priority::Critical,
            Rule::HeldOpen | Rule::Tamper | Rule::ControllerOffline => Priority::High,
            Rule::DeniedBurst | Rule::UnknownCredentialBurst | Rule::SyncFailed => Priority::Medium,
            Rule::BatteryLow => Priority::Low,
        }
    }

    /// Momentary rules have no clearing event: their condition is over once raised,
    /// and the alarm waits only for its acknowledgement.
    fn is_momentary(self) -> bool {
        matches!(
            self,
            Rule::DeniedBurst | Rule::UnknownCredentialBurst | Rule::BatteryLow
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::ForcedOpen => "forced_open",
            Rule::HeldOpen => "held_open",
            Rule::Tamper => "tamper",
            Rule::ControllerOffline => "controller_offline",
            Rule::DeniedBurst => "denied_burst",
            Rule::UnknownCredentialBurst => "unknown_credential_burst",
            Rule::SyncFailed => "sync_failed",
            Rule::BatteryLow => "battery_low",
        }
    }
}

/// One rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuleSettings {
    pub enabled: bool,
    pub priority: Priority,
}

/// The alarm engine's settings (`[alarms]` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    pub rules: BTreeMap<Rule, RuleSettings>,
    /// A controller offline for longer than this raises `controller_offline`.
    pub offline_grace: Duration,
    /// `burst_count` denials (or unknown credentials) within `burst_window`, at one
    /// door or for one credential.
    pub burst_count: usize,
    pub burst_window: Duration,
    /// Unacknowledged for this long: priority goes up one step, marked escalated.
    pub escalate_after: Option<Duration>,
    pub require_ack_note: bool,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            rules: Rule::ALL
                .into_iter()
                .map(|r| {
                    (
                        r,
                        RuleSettings {
                            enabled: true,
                            priority: r.default_priority(),
                        },
                    )
                })
                .collect(),
            offline_grace: Duration::minutes(2),
            burst_count: 5,
            burst_window: Duration::minutes(2),
            escalate_after: Some(Duration::minutes(10)),
            require_ack_note: false,
        }
    }
}

/// Who acknowledged, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub operator: String,
    #[serde(with = "ms_time")]
    pub at: DateTime<Utc>,
    pub note: String,
}

/// One alarm, in the shape `alarms --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: String,
    pub rule: Rule,
    pub priority: Priority,
    pub escalated: bool,
    pub kind: EventKind,
    pub door: Option<Ref>,
    pub controller: Option<Ref>,
    pub credential: Option<String>,
    pub source: String,
    #[serde(with = "ms_time")]
    pub raised_at: DateTime<Utc>,
    #[serde(with = "opt_ms_time")]
    pub cleared_at: Option<DateTime<Utc>>,
    pub count: u32,
    /// Ids of the events that raised and re-triggered it (the first [`MAX_EVENT_IDS`]).
    pub events: Vec<String>,
    pub acks: Vec<Ack>,
}

/// Kept per alarm; a flood re-triggering one alarm counts on without growing it.
pub const MAX_EVENT_IDS: usize = 100;

impl Alarm {
    pub fn acknowledged(&self) -> bool {
        !self.acks.is_empty()
    }

    pub fn cleared(&self) -> bool {
        self.cleared_at.is_some()
    }

    /// Still needs someone: not acknowledged, or not cleared.
    pub fn is_open(&self) -> bool {
        !(self.acknowledged() && self.cleared())
    }

    pub fn state(&self) -> &'static str {
        match (self.acknowledged(), self.cleared()) {
            (false, false) => "active",
            (true, false) => "acknowledged",
            (false, true) => "cleared",
            (true, true) => "closed",
        }
    }

    /// The JSON line of the `alarms --json` contract.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "rule": self.rule.name(),
            "priority": self.priority,
            "kind": self.kind,
            "state": self.state(),
            "acknowledged": self.acknowledged(),
            "cleared": self.cleared(),
            "escalated": self.escalated,
            "count": self.count,
            "door": self.door,
            "controller": self.controller,
            "credential": self.credential,
            "source": self.source,
            "raised_at": format_time(&self.raised_at),
            "cleared_at": self.cleared_at.as_ref().map(format_time),
            "events": self.events,
            "acks": self.acks,
        })
    }
}

mod opt_ms_time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&format_time(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// What happened to the alarms; the caller appends these to the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmChange {
    Raised(String),
    Retriggered(String),
    Cleared(String),
    Escalated(String),
    Acknowledged(String),
}

impl AlarmChange {
    /// The audit action of an acknowledgement (replayed on start-up).
    pub const ACKNOWLEDGED: &'static str = "acknowledged";

    /// The audit trail's name for this change.
    pub fn action(&self) -> &'static str {
        match self {
            AlarmChange::Raised(_) => "raised",
            AlarmChange::Retriggered(_) => "retriggered",
            AlarmChange::Cleared(_) => "cleared",
            AlarmChange::Escalated(_) => "escalated",
            AlarmChange::Acknowledged(_) => Self::ACKNOWLEDGED,
        }
    }

    pub fn alarm_id(&self) -> &str {
        match self {
            AlarmChange::Raised(id)
            | AlarmChange::Retriggered(id)
            | AlarmChange::Cleared(id)
            | AlarmChange::Escalated(id)
            | AlarmChange::Acknowledged(id) => id,
        }
    }
}

/// Why an acknowledgement did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    UnknownAlarm(String),
    /// The first acknowledgement wins; this says whose it was.
    AlreadyAcknowledged {
        id: String,
        by: Ack,
    },
    NoteRequired,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::UnknownAlarm(id) => {
                write!(f, "no alarm `{id}`: `doorwatch alarms --all` lists them")
            }
            AckError::AlreadyAcknowledged { id, by } => write!(
                f,
                "{id} was already acknowledged by {} at {} ({})",
                by.operator,
                format_time(&by.at),
                by.note
            ),
            AckError::NoteRequired => {
                f.write_str("a note is required to acknowledge (require_ack_note = true)")
            }
        }
    }
}

impl std::error::Error for AckError {}

/// What an alarm is about: one rule at one door / controller / credential of a source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct AlarmKey {
    rule: Rule,
    source: String,
    subject: String,
}

/// A controller that went offline and has not come back (yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Outage {
    since: DateTime<Utc>,
    event: Event,
}

/// The engine: every committed event goes through [`AlarmEngine::on_event`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlarmEngine {
    /// From the config file, never from a snapshot.
    #[serde(skip)]
    pub config: AlarmConfig,
    alarms: BTreeMap<String, Alarm>,
    next_seq: u64,
    /// Open alarm per key.
    open: HashMap<String, String>,
    /// Newest clearing time per key: a raise older than it arrives already cleared.
    last_clear: HashMap<String, DateTime<Utc>>,
    /// Recent burst-relevant event times per key.
    bursts: HashMap<String, VecDeque<DateTime<Utc>>>,
    outages: HashMap<String, Outage>,
    /// Controllers seen online at least once (a Seam device that never reports
    /// connectivity must not raise an offline alarm).
    seen_online: HashSet<String>,
}

fn key_string(k: &AlarmKey) -> String {
    format!("{}\u{1f}{}\u{1f}{}", k.rule.name(), k.source, k.subject)
}

impl AlarmEngine {
    pub fn new(config: AlarmConfig) -> AlarmEngine {
        AlarmEngine {
            config,
            alarms: BTreeMap::new(),
            next_seq: 1,
            open: HashMap::new(),
            last_clear: HashMap::new(),
            bursts: HashMap::new(),
            outages: HashMap::new(),
            seen_online: HashSet::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Alarm> {
        self.alarms.get(id)
    }

    /// Every alarm, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &Alarm> {
        self.alarms.values()
    }

    /// Alarms that still need someone, by priority (highest first) then age (oldest first).
    pub fn open_alarms(&self) -> Vec<&Alarm> {
        let mut v: Vec<&Alarm> = self.alarms.values().filter(|a| a.is_open()).collect();
        v.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.raised_at.cmp(&b.raised_at))
                .then(a.id.cmp(&b.id))
        });
        v
    }

    fn settings(&self, rule: Rule) -> Option<RuleSettings> {
        self.config.rules.get(&rule).copied().filter(|s| s.enabled)
    }

    /// Fold one committed event into the alarms.
    pub fn on_event(&mut self, e: &Event) -> Vec<AlarmChange> {
        let mut changes = Vec::new();
        let door = e.door.as_ref().map(|r| r.id.clone());
        let controller = e.controller.as_ref().map(|r| r.id.clone());
        let device = door.clone().or(controller.clone());
        match &e.kind {
            EventKind::DoorForcedOpen => self.raise(Rule::ForcedOpen, door, e, &mut changes),
            EventKind::DoorHeldOpen => self.raise(Rule::HeldOpen, door, e, &mut changes),
            EventKind::DoorForcedOpenCleared => self.clear(Rule::ForcedOpen, door, e, &mut changes),
            EventKind::DoorHeldOpenCleared => self.clear(Rule::HeldOpen, door, e, &mut changes),
            // A door that closed is no longer forced or held open; some vendors (Kisi,
            // DoorFlow's "door state normal") send nothing else to clear these.
            EventKind::DoorClosed => {
                self.clear(Rule::ForcedOpen, door.clone(), e, &mut changes);
                self.clear(Rule::HeldOpen, door, e, &mut changes);
            }
            EventKind::DeviceTamper => self.raise(Rule::Tamper, device, e, &mut changes),
            EventKind::DeviceTamperCleared => self.clear(Rule::Tamper, device, e, &mut changes),
            EventKind::DeviceBatteryLow => self.raise(Rule::BatteryLow, device, e, &mut changes),
            EventKind::ControllerSyncFailed => {
                self.raise(Rule::SyncFailed, controller, e, &mut changes)
            }
            EventKind::ControllerSyncFinished => {
                self.clear(Rule::SyncFailed, controller, e, &mut changes)
            }
            EventKind::ControllerOffline => self.went_offline(controller, e),
            EventKind::ControllerOnline => self.came_online(controller, e, &mut changes),
            EventKind::AccessDenied => {
                self.burst(Rule::DeniedBurst, door, e, &mut changes);
                self.burst(
                    Rule::DeniedBurst,
                    e.credential.as_ref().map(|c| format!("credential:{c}")),
                    e,
                    &mut changes,
                );
            }
            EventKind::AccessUnknownCredential => {
                self.burst(Rule::UnknownCredentialBurst, door, e, &mut changes);
                self.burst(
                    Rule::UnknownCredentialBurst,
                    e.credential.as_ref().map(|c| format!("credential:{c}")),
                    e,
                    &mut changes,
                );
            }
            _ => {}
        }
        changes
    }

    fn key(rule: Rule, source: &str, subject: Option<String>) -> String {
        key_string(&AlarmKey {
            rule,
            source: source.to_string(),
            subject: subject.unwrap_or_default(),
        })
    }

    fn raise(
        &mut self,
        rule: Rule,
        subject: Option<String>,
        e: &Event,
        changes: &mut Vec<AlarmChange>,
    ) {
        let Some(settings) = self.settings(rule) else {
            return;
        };
        let key = Self::key(rule, &e.source, subject);
        if let Some(id) = self.open.get(&key).cloned() {
            let Some(alarm) = self.alarms.get_mut(&id) else {
                return;
            };
            if alarm.events.iter().any(|x| x == &e.id) {
                return;
            }
            alarm.count += 1;
            if alarm.events.len() < MAX_EVENT_IDS {
                alarm.events.push(e.id.clone());
            }
            // A re-trigger after the clear (not before it) makes the condition current again.
            if !rule.is_momentary() && alarm.cleared_at.is_some_and(|c| e.occurred_at >= c) {
                alarm.cleared_at = None;
            }
            changes.push(AlarmChange::Retriggered(id));
            return;
        }
        let id = format!("a-{:06}", self.next_seq);
        self.next_seq += 1;
        let cleared_at = if rule.is_momentary() {
            Some(e.occurred_at)
        } else {
            // The clearing event may have arrived first (out of order, or a backfill).
            self.last_clear
                .get(&key)
                .copied()
                .filter(|c| *c >= e.occurred_at)
        };
        let alarm = Alarm {
            id: id.clone(),
            rule,
            priority: settings.priority,
            escalated: false,
            kind: e.kind.clone(),
            door: e.door.clone(),
            controller: e.controller.clone(),
            credential: e.credential.clone(),
            source: e.source.clone(),
            raised_at: e.occurred_at,
            cleared_at,
            count: 1,
            events: vec![e.id.clone()],
            acks: Vec::new(),
        };
        self.alarms.insert(id.clone(), alarm);
        self.open.insert(key, id.clone());
        changes.push(AlarmChange::Raised(id));
    }

    fn clear(
        &mut self,
        rule: Rule,
        subject: Option<String>,
        e: &Event,
        changes: &mut Vec<AlarmChange>,
    ) {
        let key = Self::key(rule, &e.source, subject);
        let newest = self.last_clear.entry(key.clone()).or_insert(e.occurred_at);
        if e.occurred_at > *newest {
            *newest = e.occurred_at;
        }
        let Some(id) = self.open.get(&key).cloned() else {
            return;
        };
        let Some(alarm) = self.alarms.get_mut(&id) else {
            return;
        };
        // A clear older than the raise belongs to an earlier episode.
        if alarm.cleared_at.is_some() || e.occurred_at < alarm.raised_at {
            return;
        }
        alarm.cleared_at = Some(e.occurred_at);
        changes.push(AlarmChange::Cleared(id.clone()));
        self.close_if_done(&key, &id);
    }

    fn close_if_done(&mut self, key: &str, id: &str) {
        if self.alarms.get(id).is_some_and(|a| !a.is_open()) {
            self.open.remove(key);
        }
    }

    fn burst(
        &mut self,
        rule: Rule,
        subject: Option<String>,
        e: &Event,
        changes: &mut Vec<AlarmChange>,
    ) {
        let Some(subject) = subject else { return };
        if self.settings(rule).is_none() {
            return;
        }
        let key = Self::key(rule, &e.source, Some(subject.clone()));
        let window = self.config.burst_window;
        let times = self.bursts.entry(key).or_default();
        let pos = times.partition_point(|t| *t <= e.occurred_at);
        times.insert(pos, e.occurred_at);
        while times.len() > self.config.burst_count.max(1) * 4 {
            times.pop_front();
        }
        let in_window = times
            .iter()
            .filter(|t| **t <= e.occurred_at && e.occurred_at - **t < window)
            .count();
        if in_window >= self.config.burst_count.max(1) {
            self.raise(rule, Some(subject), e, changes);
        }
    }

    /// An outage becomes an alarm only after the grace period (see `tick`).
    fn went_offline(&mut self, controller: Option<String>, e: &Event) {
        let Some(c) = controller else { return };
        let key = format!("{}\u{1f}{c}", e.source);
        match self.outages.get(&key) {
            Some(o) if o.since <= e.occurred_at => {}
            _ => {
                self.outages.insert(
                    key,
                    Outage {
                        since: e.occurred_at,
                        event: e.clone(),
                    },
                );
            }
        }
    }

    fn came_online(
        &mut self,
        controller: Option<String>,
        e: &Event,
        changes: &mut Vec<AlarmChange>,
    ) {
        let Some(c) = controller else { return };
        let key = format!("{}\u{1f}{c}", e.source);
        self.seen_online.insert(key.clone());
        if let Some(o) = self.outages.get(&key).cloned()
            && e.occurred_at >= o.since
        {
            self.outages.remove(&key);
            // An outage longer than the grace that we only learn about now (a
            // backfill after our own outage) is still an alarm: raised, then cleared.
            if e.occurred_at - o.since > self.config.offline_grace {
                self.raise_outage(&o, changes);
            }
        }
        self.clear(Rule::ControllerOffline, Some(c), e, changes);
    }

    fn raise_outage(&mut self, o: &Outage, changes: &mut Vec<AlarmChange>) {
        let e = &o.event;
        let c = e.controller.as_ref().map(|r| r.id.clone());
        // Seam devices that run fully offline never report being online.
        let key = format!("{}\u{1f}{}", e.source, c.clone().unwrap_or_default());
        if e.vendor == Vendor::Seam && !self.seen_online.contains(&key) {
            return;
        }
        self.raise(Rule::ControllerOffline, c, e, changes);
    }

    /// Time passes: outages past their grace raise alarms; unacknowledged alarms past
    /// `escalate_after` escalate.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<AlarmChange> {
        let mut changes = Vec::new();
        let mut due: Vec<Outage> = self
            .outages
            .values()
            .filter(|o| now - o.since > self.config.offline_grace)
            .cloned()
            .collect();
        // Alarm ids are handed out in this order: make it the outages' order, not the
        // hash map's, so the same history always yields the same ids.
        due.sort_by(|a, b| {
            a.since
                .cmp(&b.since)
                .then_with(|| a.event.id.cmp(&b.event.id))
        });
        for o in due {
            self.raise_outage(&o, &mut changes);
            if let Some(c) = &o.event.controller {
                self.outages
                    .remove(&format!("{}\u{1f}{}", o.event.source, c.id));
            }
        }
        if let Some(after) = self.config.escalate_after {
            for alarm in self.alarms.values_mut() {
                if !alarm.acknowledged() && !alarm.escalated && now - alarm.raised_at >= after {
                    alarm.escalated = true;
                    alarm.priority = alarm.priority.raised();
                    changes.push(AlarmChange::Escalated(alarm.id.clone()));
                }
            }
        }
        changes
    }

    /// Acknowledge an alarm. The first acknowledgement wins; a second one changes
    /// nothing and says whose it was.
    pub fn ack(
        &mut self,
        id: &str,
        operator: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<AlarmChange, AckError> {
        if self.config.require_ack_note && note.trim().is_empty() {
            return Err(AckError::NoteRequired);
        }
        let alarm = self
            .alarms
            .get_mut(id)
            .ok_or_else(|| AckError::UnknownAlarm(id.to_string()))?;
        if let Some(first) = alarm.acks.first() {
            return Err(AckError::AlreadyAcknowledged {
                id: id.to_string(),
                by: first.clone(),
            });
        }
        alarm.acks.push(Ack {
            operator: operator.to_string(),
            at,
            note: note.to_string(),
        });
        let key = self
            .open
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone());
        if let Some(key) = key {
            self.close_if_done(&key, id);
        }
        Ok(AlarmChange::Acknowledged(id.to_string()))
    }
}

#[cfg(test)]
mod tests;

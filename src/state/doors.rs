//! Door state: what the desk shows for one door, folded from events.
//!
//! Every attribute is its own last-writer-wins register (see [`super::stamp`]), so a
//! late "locked" cannot undo a newer "unlocked", while a late "forced open" still
//! updates the position if nothing newer did.

use super::stamp::{Stamp, Stamped, newest};
use crate::model::{Event, EventKind, Ref, Severity, Vendor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A door is known by the source that reports it and the vendor's id for it: two
/// accounts of the same vendor may reuse ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DoorKey {
    pub source: String,
    pub id: String,
}

impl DoorKey {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        DoorKey {
            source: source.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for DoorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.id)
    }
}

/// A site (Kisi place, ...) named by a source, for commands aimed at a whole site.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SiteKey {
    pub source: String,
    pub id: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    #[default]
    Unknown,
    Locked,
    Unlocked,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    #[default]
    Unknown,
    Open,
    Closed,
}

/// How the door is being run. Several can be on at once; [`Door::mode`] gives the one
/// that decides what the door does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorMode {
    Normal,
    Lockdown,
    ForceUnlock,
    DoNotDisturb,
    ScheduledUnlock,
}

/// Something wrong at the door right now. Declared most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Forced,
    Tamper,
    Held,
}

/// Who tried the door last and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessOutcome {
    Granted,
    Denied,
    UnknownCredential,
}

impl AccessOutcome {
    fn of(kind: &EventKind) -> Option<AccessOutcome> {
        match kind {
            EventKind::AccessGranted => Some(AccessOutcome::Granted),
            EventKind::AccessDenied => Some(AccessOutcome::Denied),
            EventKind::AccessUnknownCredential => Some(AccessOutcome::UnknownCredential),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastEvent {
    pub stamp: Stamp,
    pub kind: EventKind,
    pub severity: Severity,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAccess {
    pub stamp: Stamp,
    pub outcome: AccessOutcome,
    pub person: Option<Ref>,
    pub credential: Option<String>,
    /// Carries the reason of a denial, which has no field of its own.
    pub summary: String,
}

impl LastAccess {
    pub fn at(&self) -> DateTime<Utc> {
        self.stamp.at
    }
}

/// One door as the desk sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Door {
    key: DoorKey,
    vendor: Vendor,
    name: Stamped<Option<String>>,
    site_id: Stamped<Option<String>>,
    site_name: Stamped<Option<String>>,
    /// Ids (same source) of every controller an event put in front of this door. A Seam
    /// lock has two (its connected account and, for connectivity, itself); all of them
    /// must be up for the door to be reachable.
    controllers: BTreeSet<String>,
    lock: Stamped<LockState>,
    position: Stamped<Position>,
    lockdown: Stamped<bool>,
    scheduled_unlock: Stamped<bool>,
    force_unlock: Stamped<bool>,
    do_not_disturb: Stamped<bool>,
    forced: Stamped<bool>,
    held: Stamped<bool>,
    tamper: Stamped<bool>,
    last_event: Option<LastEvent>,
    last_access: Option<LastAccess>,
}

impl Door {
    pub fn new(key: DoorKey, vendor: Vendor) -> Door {
        Door {
            key,
            vendor,
            name: Stamped::default(),
            site_id: Stamped::default(),
            site_name: Stamped::default(),
            controllers: BTreeSet::new(),
            lock: Stamped::default(),
            position: Stamped::default(),
            lockdown: Stamped::default(),
            scheduled_unlock: Stamped::default(),
            force_unlock: Stamped::default(),
            do_not_disturb: Stamped::default(),
            forced: Stamped::default(),
            held: Stamped::default(),
            tamper: Stamped::default(),
            last_event: None,
            last_access: None,
        }
    }

    pub fn key(&self) -> &DoorKey {
        &self.key
    }

    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    pub fn source(&self) -> &str {
        &self.key.source
    }

    pub fn name(&self) -> Option<&str> {
        self.name.value().as_deref()
    }

    /// What to show: the name, else the vendor's id.
    pub fn label(&self) -> &str {
        self.name().unwrap_or(&self.key.id)
    }

    pub fn site(&self) -> Option<Ref> {
        let id = self.site_id.value().clone()?;
        Some(Ref {
            id,
            name: self.site_name.value().clone(),
        })
    }

    pub fn site_key(&self) -> Option<SiteKey> {
        self.site_id.value().as_ref().map(|id| SiteKey {
            source: self.key.source.clone(),
            id: id.clone(),
        })
    }

    pub fn controller_ids(&self) -> &BTreeSet<String> {
        &self.controllers
    }

    pub fn lock(&self) -> LockState {
        *self.lock.value()
    }

    pub fn position(&self) -> Position {
        *self.position.value()
    }

    /// The mode that decides what the door does, given its site's lockdown register
    /// (a site-wide lockdown reaches every door of the site).
    ///
    /// Precedence follows what overrides what on the panels: a lockdown beats any
    /// unlock, an operator's force unlock or do-not-disturb beats the schedule.
    pub fn mode(&self, site_lockdown: Option<&Stamped<bool>>) -> DoorMode {
        self.active_modes(site_lockdown)
            .first()
            .copied()
            .unwrap_or(DoorMode::Normal)
    }

    /// Every mode that is on, the deciding one first; empty when the door runs normally.
    pub fn active_modes(&self, site_lockdown: Option<&Stamped<bool>>) -> Vec<DoorMode> {
        [
            (
                *newest(&self.lockdown, site_lockdown).value(),
                DoorMode::Lockdown,
            ),
            (*self.force_unlock.value(), DoorMode::ForceUnlock),
            (*self.do_not_disturb.value(), DoorMode::DoNotDisturb),
            (*self.scheduled_unlock.value(), DoorMode::ScheduledUnlock),
        ]
        .into_iter()
        .filter_map(|(on, mode)| on.then_some(mode))
        .collect()
    }

    /// Active conditions, most urgent first.
    pub fn conditions(&self) -> Vec<Condition> {
        [
            (*self.forced.value(), Condition::Forced),
            (*self.tamper.value(), Condition::Tamper),
            (*self.held.value(), Condition::Held),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect()
    }

    pub fn has_condition(&self, c: Condition) -> bool {
        match c {
            Condition::Forced => *self.forced.value(),
            Condition::Held => *self.held.value(),
            Condition::Tamper => *self.tamper.value(),
        }
    }

    pub fn in_alarm(&self) -> bool {
        *self.forced.value() || *self.held.value() || *self.tamper.value()
    }

    pub fn last_event(&self) -> Option<&LastEvent> {
        self.last_event.as_ref()
    }

    pub fn last_access(&self) -> Option<&LastAccess> {
        self.last_access.as_ref()
    }

    /// Fold one event that names this door. Returns whether anything shown changed.
    pub fn apply(&mut self, e: &Event) -> bool {
        let stamp = Stamp::of(e);
        let mut changed = self.note_refs(e, &stamp);
        changed |= self.apply_kind(e, &stamp);
        changed |= self.note_last_access(e, &stamp);
        changed |= self.note_last_event(e, &stamp);
        changed
    }

    /// Fold a vendor listing's view of this door, read at `stamp.at`.
    pub(crate) fn apply_report(&mut self, r: &super::inventory::DoorReport, stamp: &Stamp) -> bool {
        let mut changed = false;
        if let Some(name) = &r.name {
            changed |= self.name.offer(Some(name.clone()), stamp);
        }
        if let Some(site) = &r.site {
            changed |= self.site_id.offer(Some(site.id.clone()), stamp);
            if let Some(name) = &site.name {
                changed |= self.site_name.offer(Some(name.clone()), stamp);
            }
        }
        for c in &r.controllers {
            changed |= self.controllers.insert(c.clone());
        }
        if let Some(locked) = r.locked {
            let lock = if locked {
                LockState::Locked
            } else {
                LockState::Unlocked
            };
            changed |= self.lock.offer(lock, stamp);
        }
        if let Some(open) = r.open {
            let position = if open {
                Position::Open
            } else {
                Position::Closed
            };
            changed |= self.position.offer(position, stamp);
        }
        changed
    }

    fn note_refs(&mut self, e: &Event, stamp: &Stamp) -> bool {
        let mut changed = false;
        if let Some(name) = e.door.as_ref().and_then(|d| d.name.clone()) {
            changed |= self.name.offer(Some(name), stamp);
        }
        if let Some(site) = &e.site {
            changed |= self.site_id.offer(Some(site.id.clone()), stamp);
            if let Some(name) = &site.name {
                changed |= self.site_name.offer(Some(name.clone()), stamp);
            }
        }
        if let Some(controller) = &e.controller {
            changed |= self.controllers.insert(controller.id.clone());
        }
        changed
    }

    fn apply_kind(&mut self, e: &Event, stamp: &Stamp) -> bool {
        use EventKind as K;
        match &e.kind {
            K::DoorUnlocked => self.lock.offer(LockState::Unlocked, stamp),
            K::DoorLocked => self.lock.offer(LockState::Locked, stamp),
            K::AccessGranted if reports_the_unlock_itself(e) => {
                self.lock.offer(LockState::Unlocked, stamp)
            }
            K::DoorOpened => self.position.offer(Position::Open, stamp),
            K::DoorClosed => self.closed(stamp),
            // Only an open door can be forced or held: the contact that raised the
            // alarm is also the door's position.
            K::DoorForcedOpen => {
                self.forced.offer(true, stamp) | self.position.offer(Position::Open, stamp)
            }
            K::DoorHeldOpen => {
                self.held.offer(true, stamp) | self.position.offer(Position::Open, stamp)
            }
            // ... and the panels clear them when that contact reports the door shut.
            K::DoorForcedOpenCleared => {
                self.forced.offer(false, stamp) | self.position.offer(Position::Closed, stamp)
            }
            K::DoorHeldOpenCleared => {
                self.held.offer(false, stamp) | self.position.offer(Position::Closed, stamp)
            }
            K::DoorLockdown => self.lockdown.offer(true, stamp),
            K::DoorLockdownCleared => self.lockdown.offer(false, stamp),
            K::DoorScheduledUnlockStarted => self.scheduled_unlock.offer(true, stamp),
            K::DoorScheduledUnlockEnded => self.scheduled_unlock.offer(false, stamp),
            K::DoorForceUnlockOn => self.force_unlock.offer(true, stamp),
            K::DoorForceUnlockOff => self.force_unlock.offer(false, stamp),
            K::DoorDoNotDisturbOn => self.do_not_disturb.offer(true, stamp),
            K::DoorDoNotDisturbOff => self.do_not_disturb.offer(false, stamp),
            K::DeviceTamper => self.tamper.offer(true, stamp),
            K::DeviceTamperCleared => self.tamper.offer(false, stamp),
            _ => false,
        }
    }

    /// A closed door is neither forced nor held any more. DoorFlow has no clearing codes
    /// for 32 (forced) and 33 (held): it reports the end of both as 31 "door state
    /// normal", which the parser maps to `door.closed`. PDK and Kisi send explicit
    /// clears too, and those agree with this (the door is shut), so it holds for all.
    /// The alarm that was raised stays for the alarm engine to manage; only the live
    /// condition ends here.
    fn closed(&mut self, stamp: &Stamp) -> bool {
        self.position.offer(Position::Closed, stamp)
            | self.forced.offer(false, stamp)
            | self.held.offer(false, stamp)
    }

    fn note_last_access(&mut self, e: &Event, stamp: &Stamp) -> bool {
        let Some(outcome) = AccessOutcome::of(&e.kind) else {
            return false;
        };
        if self.last_access.as_ref().is_some_and(|a| a.stamp >= *stamp) {
            return false;
        }
        self.last_access = Some(LastAccess {
            stamp: stamp.clone(),
            outcome,
            person: e.person.clone(),
            credential: e.credential.clone(),
            summary: e.summary.clone(),
        });
        true
    }

    fn note_last_event(&mut self, e: &Event, stamp: &Stamp) -> bool {
        if self.last_event.as_ref().is_some_and(|l| l.stamp >= *stamp) {
            return false;
        }
        self.last_event = Some(LastEvent {
            stamp: stamp.clone(),
            kind: e.kind.clone(),
            severity: e.severity,
            summary: e.summary.clone(),
        });
        true
    }
}

/// Seam reports an unlock by a person as `lock.unlocked` and the parser files it as
/// `access.granted` (who got in matters more); it is still the lock's own report that it
/// unlocked, and Seam follows it with `lock.locked`. Other vendors' grants are decisions
/// at a reader that the lock reports separately (PDK relay, Kisi lock events), or that
/// re-lock on their own without a report (DoorFlow): taking those as "unlocked" would
/// leave doors showing unlocked forever.
fn reports_the_unlock_itself(e: &Event) -> bool {
    e.vendor == Vendor::Seam && e.vendor_type == "lock.unlocked"
}

/// A site's own state: for now only a site-wide lockdown (Kisi place lockdown), which
/// reaches every door of the site, including doors first heard of after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    key: SiteKey,
    lockdown: Stamped<bool>,
}

impl Site {
    pub fn new(key: SiteKey) -> Site {
        Site {
            key,
            lockdown: Stamped::default(),
        }
    }

    pub fn key(&self) -> &SiteKey {
        &self.key
    }

    pub fn lockdown(&self) -> &Stamped<bool> {
        &self.lockdown
    }

    /// Fold a lockdown event that names this site and no door. Returns whether the
    /// lockdown flag changed.
    pub fn apply(&mut self, e: &Event) -> bool {
        let stamp = Stamp::of(e);
        match e.kind {
            EventKind::DoorLockdown => self.lockdown.offer(true, &stamp),
            EventKind::DoorLockdownCleared => self.lockdown.offer(false, &stamp),
            _ => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Ref;
    use chrono::TimeZone;

    /// A PDK-style event at `secs` past a fixed hour, at door `d1` behind `cn1`.
    pub(crate) fn ev(kind: EventKind, secs: i64) -> Event {
        Event {
            id: format!("src:{kind}:{secs}"),
            source: "src".into(),
            vendor: Vendor::Pdk,
            occurred_at: Utc.timestamp_opt(1_763_805_600 + secs, 0).unwrap(),
            received_at: Utc.timestamp_opt(1_763_805_600 + secs, 0).unwrap(),
            vendor_type: kind.name().into_owned(),
            kind,
            severity: Severity::Info,
            door: Some(Ref::new("d1", Some("Server Room"))),
            controller: Some(Ref::new("cn1", Some("HQ-1"))),
            person: None,
            site: None,
            credential: None,
            success: None,
            summary: "something happened".into(),
            raw: crate::model::RawJson::null(),
        }
    }

    fn door() -> Door {
        Door::new(DoorKey::new("src", "d1"), Vendor::Pdk)
    }

    fn fold(events: &[Event]) -> Door {
        let mut d = door();
        for e in events {
            d.apply(e);
        }
        d
    }

    use EventKind as K;

    #[test]
    fn lock_and_position_follow_events() {
        let d = fold(&[ev(K::DoorUnlocked, 1), ev(K::DoorOpened, 2)]);
        assert_eq!(d.lock(), LockState::Unlocked);
        assert_eq!(d.position(), Position::Open);
        let d = fold(&[
            ev(K::DoorUnlocked, 1),
            ev(K::DoorOpened, 2),
            ev(K::DoorClosed, 3),
            ev(K::DoorLocked, 4),
        ]);
        assert_eq!(d.lock(), LockState::Locked);
        assert_eq!(d.position(), Position::Closed);
        assert_eq!(door().lock(), LockState::Unknown);
        assert_eq!(door().position(), Position::Unknown);
    }

    #[test]
    fn an_old_locked_after_a_new_unlocked_keeps_unlocked() {
        let d = fold(&[ev(K::DoorUnlocked, 10), ev(K::DoorLocked, 5)]);
        assert_eq!(d.lock(), LockState::Unlocked);
        // ... but the old event still counts where nothing newer spoke.
        let d = fold(&[ev(K::DoorUnlocked, 10), ev(K::DoorOpened, 5)]);
        assert_eq!(d.position(), Position::Open);
    }

    #[test]
    fn duplicates_change_nothing() {
        let mut d = door();
        let e = ev(K::DoorForcedOpen, 1);
        assert!(d.apply(&e));
        let before = d.clone();
        assert!(!d.apply(&e));
        assert_eq!(d, before);
    }

    #[test]
    fn forced_open_raise_then_clear() {
        let d = fold(&[ev(K::DoorForcedOpen, 1)]);
        assert_eq!(d.conditions(), vec![Condition::Forced]);
        assert_eq!(d.position(), Position::Open);
        assert!(d.in_alarm());
        let d = fold(&[ev(K::DoorForcedOpen, 1), ev(K::DoorForcedOpenCleared, 2)]);
        assert!(d.conditions().is_empty());
        assert!(!d.in_alarm());
        assert_eq!(d.position(), Position::Closed);
    }

    #[test]
    fn clear_arriving_before_its_raise_wins() {
        let d = fold(&[ev(K::DoorForcedOpenCleared, 2), ev(K::DoorForcedOpen, 1)]);
        assert!(!d.has_condition(Condition::Forced));
        let d = fold(&[ev(K::DoorHeldOpenCleared, 2), ev(K::DoorHeldOpen, 1)]);
        assert!(!d.has_condition(Condition::Held));
        let d = fold(&[ev(K::DeviceTamperCleared, 2), ev(K::DeviceTamper, 1)]);
        assert!(!d.has_condition(Condition::Tamper));
        // A raise after an older clear is a new occurrence.
        let d = fold(&[ev(K::DoorForcedOpenCleared, 1), ev(K::DoorForcedOpen, 2)]);
        assert!(d.has_condition(Condition::Forced));
    }

    #[test]
    fn held_open_raise_then_clear() {
        let d = fold(&[ev(K::DoorHeldOpen, 1)]);
        assert_eq!(d.conditions(), vec![Condition::Held]);
        let d = fold(&[ev(K::DoorHeldOpen, 1), ev(K::DoorHeldOpenCleared, 2)]);
        assert!(d.conditions().is_empty());
    }

    #[test]
    fn tamper_raise_then_clear() {
        let d = fold(&[ev(K::DeviceTamper, 1)]);
        assert_eq!(d.conditions(), vec![Condition::Tamper]);
        let d = fold(&[ev(K::DeviceTamper, 1), ev(K::DeviceTamperCleared, 2)]);
        assert!(d.conditions().is_empty());
    }

    #[test]
    fn conditions_are_independent_and_ordered_by_urgency() {
        let d = fold(&[
            ev(K::DoorHeldOpen, 1),
            ev(K::DeviceTamper, 2),
            ev(K::DoorForcedOpen, 3),
        ]);
        assert_eq!(
            d.conditions(),
            vec![Condition::Forced, Condition::Tamper, Condition::Held]
        );
        let d = fold(&[
            ev(K::DoorHeldOpen, 1),
            ev(K::DeviceTamper, 2),
            ev(K::DoorHeldOpenCleared, 3),
        ]);
        assert_eq!(d.conditions(), vec![Condition::Tamper]);
    }

    #[test]
    fn door_closed_clears_forced_and_held_but_not_tamper() {
        let d = fold(&[
            ev(K::DoorForcedOpen, 1),
            ev(K::DoorHeldOpen, 2),
            ev(K::DeviceTamper, 3),
            ev(K::DoorClosed, 4),
        ]);
        assert_eq!(d.conditions(), vec![Condition::Tamper]);
        assert_eq!(d.position(), Position::Closed);
        // An older "closed" does not end a newer forced opening.
        let d = fold(&[ev(K::DoorForcedOpen, 5), ev(K::DoorClosed, 4)]);
        assert!(d.has_condition(Condition::Forced));
        assert_eq!(d.position(), Position::Open);
    }

    #[test]
    fn modes_and_their_precedence() {
        assert_eq!(door().mode(None), DoorMode::Normal);
        let d = fold(&[ev(K::DoorScheduledUnlockStarted, 1)]);
        assert_eq!(d.mode(None), DoorMode::ScheduledUnlock);
        let d = fold(&[
            ev(K::DoorScheduledUnlockStarted, 1),
            ev(K::DoorScheduledUnlockEnded, 2),
        ]);
        assert_eq!(d.mode(None), DoorMode::Normal);
        let d = fold(&[ev(K::DoorForceUnlockOn, 1)]);
        assert_eq!(d.mode(None), DoorMode::ForceUnlock);
        let d = fold(&[ev(K::DoorForceUnlockOn, 1), ev(K::DoorForceUnlockOff, 2)]);
        assert_eq!(d.mode(None), DoorMode::Normal);
        let d = fold(&[ev(K::DoorDoNotDisturbOn, 1)]);
        assert_eq!(d.mode(None), DoorMode::DoNotDisturb);
        let d = fold(&[ev(K::DoorDoNotDisturbOn, 1), ev(K::DoorDoNotDisturbOff, 2)]);
        assert_eq!(d.mode(None), DoorMode::Normal);
        let d = fold(&[ev(K::DoorLockdown, 1)]);
        assert_eq!(d.mode(None), DoorMode::Lockdown);
        let d = fold(&[ev(K::DoorLockdown, 1), ev(K::DoorLockdownCleared, 2)]);
        assert_eq!(d.mode(None), DoorMode::Normal);

        let d = fold(&[
            ev(K::DoorScheduledUnlockStarted, 1),
            ev(K::DoorForceUnlockOn, 2),
            ev(K::DoorLockdown, 3),
        ]);
        assert_eq!(d.mode(None), DoorMode::Lockdown);
        assert_eq!(
            d.active_modes(None),
            vec![
                DoorMode::Lockdown,
                DoorMode::ForceUnlock,
                DoorMode::ScheduledUnlock
            ]
        );
        let d = fold(&[
            ev(K::DoorScheduledUnlockStarted, 1),
            ev(K::DoorDoNotDisturbOn, 2),
        ]);
        assert_eq!(d.mode(None), DoorMode::DoNotDisturb);
    }

    #[test]
    fn site_lockdown_reaches_the_door_unless_the_door_spoke_later() {
        let mut site = Site::new(SiteKey {
            source: "src".into(),
            id: "s1".into(),
        });
        let mut site_event = ev(K::DoorLockdown, 5);
        site_event.door = None;
        site.apply(&site_event);
        let d = fold(&[ev(K::DoorLockdownCleared, 1)]);
        assert_eq!(d.mode(Some(site.lockdown())), DoorMode::Lockdown);
        let d = fold(&[ev(K::DoorLockdownCleared, 9)]);
        assert_eq!(d.mode(Some(site.lockdown())), DoorMode::Normal);
    }

    #[test]
    fn last_access_keeps_the_newest_attempt() {
        let mut granted = ev(K::AccessGranted, 10);
        granted.person = Some(Ref::new("p1", Some("Jane Roe")));
        let mut denied = ev(K::AccessDenied, 5);
        denied.person = Some(Ref::new("p2", Some("Marcus Chen")));
        let d = fold(&[granted.clone(), denied.clone()]);
        let last = d.last_access().unwrap();
        assert_eq!(last.outcome, AccessOutcome::Granted);
        assert_eq!(last.person.as_ref().unwrap().label(), "Jane Roe");
        assert_eq!(last.at(), granted.occurred_at);

        let d = fold(&[granted, denied.clone(), ev(K::AccessUnknownCredential, 20)]);
        assert_eq!(
            d.last_access().unwrap().outcome,
            AccessOutcome::UnknownCredential
        );
        assert!(d.last_access().unwrap().person.is_none());
        // A grant from PDK is a reader decision; the relay reports the lock.
        assert_eq!(d.lock(), LockState::Unknown);
    }

    #[test]
    fn last_event_keeps_the_newest() {
        let d = fold(&[
            ev(K::DoorOpened, 10),
            ev(K::DoorClosed, 5),
            ev(K::DoorExitRequest, 7),
        ]);
        let last = d.last_event().unwrap();
        assert_eq!(last.kind, K::DoorOpened);
        assert_eq!(last.stamp.at, ev(K::DoorOpened, 10).occurred_at);
    }

    #[test]
    fn seam_unlock_by_a_person_unlocks_the_lock() {
        let mut grant = ev(K::AccessGranted, 2);
        grant.vendor = Vendor::Seam;
        grant.vendor_type = "lock.unlocked".into();
        let d = fold(&[ev(K::DoorLocked, 1), grant]);
        assert_eq!(d.lock(), LockState::Unlocked);
        assert_eq!(d.last_access().unwrap().outcome, AccessOutcome::Granted);
    }

    #[test]
    fn names_and_site_come_from_the_newest_event_that_has_them() {
        let mut named = ev(K::DoorOpened, 1);
        named.site = Some(Ref::new("s1", Some("HQ")));
        let mut unnamed = ev(K::DoorClosed, 2);
        unnamed.door = Some(Ref::new("d1", None::<String>));
        unnamed.site = Some(Ref::new("s1", None::<String>));
        let d = fold(&[named.clone(), unnamed.clone()]);
        assert_eq!(d.label(), "Server Room");
        assert_eq!(d.site(), Some(Ref::new("s1", Some("HQ"))));
        let d = fold(&[unnamed, named]);
        assert_eq!(d.label(), "Server Room");
        assert_eq!(d.site(), Some(Ref::new("s1", Some("HQ"))));
        assert_eq!(door().label(), "d1");
    }

    #[test]
    fn every_order_of_a_sequence_folds_to_the_same_door() {
        let seq = [
            ev(K::DoorUnlocked, 1),
            ev(K::DoorOpened, 2),
            ev(K::DoorForcedOpen, 3),
            ev(K::DoorHeldOpen, 4),
            ev(K::DoorClosed, 5),
            ev(K::DoorLocked, 6),
            ev(K::DeviceTamper, 7),
            ev(K::DoorLockdown, 8),
        ];
        let expected = fold(&seq);
        let mut order: Vec<usize> = (0..seq.len()).collect();
        // Walk many permutations deterministically (a fixed LCG drives the swaps).
        let mut x: u64 = 42;
        for _ in 0..200 {
            for i in (1..order.len()).rev() {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (x >> 33) as usize % (i + 1));
            }
            let shuffled: Vec<Event> = order.iter().map(|&i| seq[i].clone()).collect();
            assert_eq!(fold(&shuffled), expected, "order {order:?}");
        }
        assert_eq!(expected.lock(), LockState::Locked);
        assert_eq!(expected.position(), Position::Closed);
        assert_eq!(expected.conditions(), vec![Condition::Tamper]);
        assert_eq!(expected.mode(None), DoorMode::Lockdown);
    }
}

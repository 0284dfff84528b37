//! Controller state: whatever stands between the cloud and the doors.
//!
//! "Controller" is whatever an event's `controller` ref names: a PDK cloud node (by
//! serial), a Kisi controller, a DoorFlow channel, a Seam device, connected account or
//! ACS system. The desk needs to know whether it is reachable, since when, when it was
//! last heard of, and which doors go dark when it does.

use super::stamp::{Stamp, Stamped};
use crate::model::{Event, EventKind, Vendor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ControllerKey {
    pub source: String,
    pub id: String,
}

impl ControllerKey {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        ControllerKey {
            source: source.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for ControllerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.id)
    }
}

/// Whether the cloud can reach a controller (or a door, through its controllers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    #[default]
    Unknown,
    Online,
    Offline,
}

impl Link {
    /// The link of something reached through all of `links`: down if any is down, up if
    /// at least one is known up, else unknown. A Seam lock needs both its account and
    /// its own connection; a door behind an unknown hub is still shown as reachable
    /// when the part we hear about is up.
    pub fn through(links: impl IntoIterator<Item = Link>) -> Link {
        let mut combined = Link::Unknown;
        for link in links {
            match link {
                Link::Offline => return Link::Offline,
                Link::Online => combined = Link::Online,
                Link::Unknown => {}
            }
        }
        combined
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    key: ControllerKey,
    vendor: Vendor,
    name: Stamped<Option<String>>,
    link: Stamped<Link>,
    /// When the current link state began, as far as we know. Later reports of the same
    /// state keep it; see [`Controller::since`] for the out-of-order caveat.
    since: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    /// Door ids (same source) seen on events together with this controller.
    doors: BTreeSet<String>,
    /// A tamper reported on the controller itself (an event with no door): a
    /// controller box opened is the desk's business even though no door is named.
    tamper: Stamped<bool>,
}

impl Controller {
    pub fn new(key: ControllerKey, vendor: Vendor) -> Controller {
        Controller {
            key,
            vendor,
            name: Stamped::default(),
            link: Stamped::default(),
            since: None,
            last_seen: None,
            doors: BTreeSet::new(),
            tamper: Stamped::default(),
        }
    }

    pub fn key(&self) -> &ControllerKey {
        &self.key
    }

    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    pub fn name(&self) -> Option<&str> {
        self.name.value().as_deref()
    }

    /// What to show: the name, else the vendor's id (a PDK serial, a Seam uuid).
    pub fn label(&self) -> &str {
        self.name().unwrap_or(&self.key.id)
    }

    pub fn link(&self) -> Link {
        *self.link.value()
    }

    /// When the current link state began. Exact when status reports arrive in time
    /// order (as on a rebuild from the store). When two reports of the same state arrive
    /// newest first, this is the newer one's time: possibly later than the truth, never
    /// a time when the state was different.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// The newest time of any event naming this controller.
    pub fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.last_seen
    }

    pub fn door_ids(&self) -> &BTreeSet<String> {
        &self.doors
    }

    pub fn tampered(&self) -> bool {
        *self.tamper.value()
    }

    /// Fold one event that names this controller. Returns whether anything shown
    /// changed.
    pub fn apply(&mut self, e: &Event) -> bool {
        let stamp = Stamp::of(e);
        let mut changed = self.note_name(e, &stamp);
        changed |= self.note_seen(e.occurred_at);
        if let Some(door) = &e.door {
            changed |= self.doors.insert(door.id.clone());
        }
        changed |= match e.kind {
            EventKind::ControllerOnline => self.set_link(Link::Online, &stamp),
            EventKind::ControllerOffline => self.set_link(Link::Offline, &stamp),
            EventKind::DeviceTamper if e.door.is_none() => self.tamper.offer(true, &stamp),
            EventKind::DeviceTamperCleared if e.door.is_none() => self.tamper.offer(false, &stamp),
            _ => false,
        };
        changed
    }

    fn note_name(&mut self, e: &Event, stamp: &Stamp) -> bool {
        match e.controller.as_ref().and_then(|c| c.name.clone()) {
            Some(name) => self.name.offer(Some(name), stamp),
            None => false,
        }
    }

    fn note_seen(&mut self, at: DateTime<Utc>) -> bool {
        if self.last_seen.is_some_and(|seen| seen >= at) {
            return false;
        }
        self.last_seen = Some(at);
        true
    }

    /// Returns whether the link state changed (not merely re-reported).
    /// Fold a vendor listing's view of this controller, read at `stamp.at`.
    pub(crate) fn apply_report(
        &mut self,
        r: &super::inventory::ControllerReport,
        stamp: &Stamp,
    ) -> bool {
        let mut changed = false;
        if let Some(name) = &r.name {
            changed |= self.name.offer(Some(name.clone()), stamp);
        }
        if let Some(online) = r.online {
            let link = if online { Link::Online } else { Link::Offline };
            changed |= self.set_link(link, stamp);
        }
        changed
    }

    /// Note that `door` sits behind this controller.
    pub(crate) fn add_door(&mut self, door: &str) -> bool {
        self.doors.insert(door.to_string())
    }

    fn set_link(&mut self, link: Link, stamp: &Stamp) -> bool {
        let changed = self.link.offer(link, stamp);
        if changed {
            self.since = Some(stamp.at);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::doors::tests::ev;
    use EventKind as K;

    fn fold(events: &[Event]) -> Controller {
        let mut c = Controller::new(ControllerKey::new("src", "cn1"), Vendor::Pdk);
        for e in events {
            c.apply(e);
        }
        c
    }

    #[test]
    fn online_offline_in_order() {
        let c = fold(&[ev(K::ControllerOnline, 1), ev(K::ControllerOffline, 5)]);
        assert_eq!(c.link(), Link::Offline);
        assert_eq!(c.since(), Some(ev(K::Other, 5).occurred_at));
        let c = fold(&[ev(K::ControllerOffline, 1), ev(K::ControllerOnline, 5)]);
        assert_eq!(c.link(), Link::Online);
    }

    #[test]
    fn an_old_offline_after_a_new_online_keeps_online() {
        let c = fold(&[ev(K::ControllerOnline, 10), ev(K::ControllerOffline, 5)]);
        assert_eq!(c.link(), Link::Online);
        assert_eq!(c.since(), Some(ev(K::Other, 10).occurred_at));
        // It was still heard of, so last seen does not go backwards either.
        assert_eq!(c.last_seen(), Some(ev(K::Other, 10).occurred_at));
    }

    #[test]
    fn repeated_reports_keep_since_and_move_last_seen() {
        let c = fold(&[
            ev(K::ControllerOffline, 1),
            ev(K::ControllerOffline, 3),
            ev(K::AccessDenied, 4),
        ]);
        assert_eq!(c.link(), Link::Offline);
        assert_eq!(c.since(), Some(ev(K::Other, 1).occurred_at));
        assert_eq!(c.last_seen(), Some(ev(K::Other, 4).occurred_at));
    }

    #[test]
    fn out_of_order_since_is_never_from_a_different_state() {
        // offline@1, online@2, offline@3 arriving 3, 1, 2.
        let c = fold(&[
            ev(K::ControllerOffline, 3),
            ev(K::ControllerOffline, 1),
            ev(K::ControllerOnline, 2),
        ]);
        assert_eq!(c.link(), Link::Offline);
        assert_eq!(c.since(), Some(ev(K::Other, 3).occurred_at));
    }

    #[test]
    fn duplicates_change_nothing() {
        let mut c = fold(&[ev(K::ControllerOffline, 1)]);
        let before = c.clone();
        assert!(!c.apply(&ev(K::ControllerOffline, 1)));
        assert_eq!(c, before);
    }

    #[test]
    fn doors_behind_and_name() {
        let c = fold(&[ev(K::DoorOpened, 1)]);
        assert_eq!(c.door_ids().iter().collect::<Vec<_>>(), vec!["d1"]);
        assert_eq!(c.label(), "HQ-1");
        assert_eq!(c.link(), Link::Unknown);
    }

    #[test]
    fn tamper_without_a_door_is_the_controllers() {
        let mut own = ev(K::DeviceTamper, 1);
        own.door = None;
        let c = fold(&[own.clone()]);
        assert!(c.tampered());
        let c = fold(&[ev(K::DeviceTamper, 1)]);
        assert!(!c.tampered(), "a door's tamper belongs to the door");
        let mut clear = ev(K::DeviceTamperCleared, 2);
        clear.door = None;
        assert!(!fold(&[own, clear]).tampered());
    }

    #[test]
    fn link_through_several_controllers() {
        use Link::*;
        assert_eq!(Link::through([]), Unknown);
        assert_eq!(Link::through([Unknown, Online]), Online);
        assert_eq!(Link::through([Online, Offline]), Offline);
        assert_eq!(Link::through([Unknown, Unknown]), Unknown);
    }
}

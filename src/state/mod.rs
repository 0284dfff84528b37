//! Live state: committed events folded into what the desk shows (doors, controllers,
//! sync progress), plus the alarm engine.
//!
//! Pure domain: events in, state and [`Changes`] out. Persistence (snapshots in the
//! store) and drawing belong to the callers, so this can be rebuilt, tested and
//! snapshotted without sled, a terminal or a runtime.
//!
//! The fold is idempotent and, apart from [`Controller::since`], independent of arrival
//! order (see [`stamp`]): re-delivered and backfilled events need no special handling.

pub mod alarms;
pub mod controllers;
pub mod doors;
pub mod inventory;
pub mod stamp;
pub mod sync;

#[cfg(test)]
mod tests;

pub use controllers::{Controller, ControllerKey, Link};
pub use doors::{
    AccessOutcome, Condition, Door, DoorKey, DoorMode, LastAccess, LastEvent, LockState, Position,
    Site, SiteKey,
};
pub use sync::{CatchUp, CatchUpReport, CompletedSync, ControllerSync, SyncOutcome, SyncPhase};

use crate::model::{Event, EventKind, Ref};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The shape of a snapshot. Bump it whenever a serialised state type changes shape or
/// meaning: a snapshot of another version is refused and the state rebuilt from the
/// store, which is slow once but never wrong.
pub const SNAPSHOT_VERSION: u32 = 1;

/// What one update changed, so the UI redraws only what it shows of those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub doors: BTreeSet<DoorKey>,
    pub controllers: BTreeSet<ControllerKey>,
    /// Sources whose catch-up progress moved.
    pub catch_ups: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.doors.is_empty() && self.controllers.is_empty() && self.catch_ups.is_empty()
    }

    /// Add another update's changes (a batch's worth, before one redraw).
    pub fn absorb(&mut self, other: Changes) {
        self.doors.extend(other.doors);
        self.controllers.extend(other.controllers);
        self.catch_ups.extend(other.catch_ups);
    }
}

/// One door with everything the desk shows about it looked up: its effective mode
/// (site lockdowns included) and whether its controllers can reach it.
#[derive(Debug, Clone)]
pub struct DoorView<'a> {
    pub door: &'a Door,
    pub mode: DoorMode,
    /// Every mode that is on, the deciding one first.
    pub modes: Vec<DoorMode>,
    pub controllers: Vec<&'a Controller>,
    /// The door's reachability through all its controllers ([`Link::through`]).
    pub link: Link,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "state snapshot has version {found}, this doorwatch reads version {expected}; \
         the state will be rebuilt from the store"
    )]
    Version { found: u32, expected: u32 },
    #[error("state snapshot is unreadable: {0}")]
    Malformed(String),
    #[error("state snapshot could not be written: {0}")]
    Encode(String),
}

/// Everything live, owned in one place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    #[serde(with = "keyed")]
    doors: BTreeMap<DoorKey, Door>,
    #[serde(with = "keyed")]
    sites: BTreeMap<SiteKey, Site>,
    #[serde(with = "keyed")]
    controllers: BTreeMap<ControllerKey, Controller>,
    #[serde(with = "keyed")]
    syncs: BTreeMap<ControllerKey, ControllerSync>,
    catch_ups: BTreeMap<String, CatchUp>,
}

impl LiveState {
    pub fn new() -> LiveState {
        LiveState::default()
    }

    /// Fold one committed event. Returns what changed (empty for a duplicate or an
    /// event too old to matter).
    pub fn apply(&mut self, e: &Event) -> Changes {
        let mut changes = Changes::default();
        if let Some(controller) = &e.controller {
            self.apply_to_controller(e, controller, &mut changes);
        }
        match (&e.door, &e.site) {
            (Some(door), _) => self.apply_to_door(e, door, &mut changes),
            (None, Some(site)) if is_lockdown(&e.kind) => self.apply_to_site(e, site, &mut changes),
            _ => {}
        }
        changes
    }

    /// Fold a vendor listing (see [`inventory`]).
    pub fn apply_inventory(
        &mut self,
        source: &str,
        vendor: crate::model::Vendor,
        inventory: &inventory::Inventory,
    ) -> Changes {
        // A reading loses to an event of the same millisecond: the event is the
        // more specific news.
        let stamp = stamp::Stamp {
            at: inventory.at,
            event: String::new(),
        };
        let mut changes = Changes::default();
        for r in &inventory.controllers {
            let key = ControllerKey::new(source, &r.id);
            let controller = self
                .controllers
                .entry(key.clone())
                .or_insert_with(|| Controller::new(key.clone(), vendor));
            let link_before = controller.link();
            if controller.apply_report(r, &stamp) {
                changes.controllers.insert(key.clone());
            }
            if controller.link() != link_before {
                let doors = controller.door_ids().iter();
                changes
                    .doors
                    .extend(doors.map(|id| DoorKey::new(source, id)));
            }
        }
        for r in &inventory.doors {
            let key = DoorKey::new(source, &r.id);
            let door = self
                .doors
                .entry(key.clone())
                .or_insert_with(|| Door::new(key.clone(), vendor));
            if door.apply_report(r, &stamp) {
                changes.doors.insert(key.clone());
            }
            for c in &r.controllers {
                let ckey = ControllerKey::new(source, c);
                let controller = self
                    .controllers
                    .entry(ckey.clone())
                    .or_insert_with(|| Controller::new(ckey.clone(), vendor));
                if controller.add_door(&r.id) {
                    changes.controllers.insert(ckey);
                }
            }
        }
        changes
    }

    fn apply_to_controller(&mut self, e: &Event, r: &Ref, changes: &mut Changes) {
        let key = ControllerKey::new(&e.source, &r.id);
        let controller = self
            .controllers
            .entry(key.clone())
            .or_insert_with(|| Controller::new(key.clone(), e.vendor));
        let link_before = controller.link();
        let mut changed = controller.apply(e);
        if controller.link() != link_before {
            // The doors behind it show its link.
            let doors = controller.door_ids().iter();
            changes
                .doors
                .extend(doors.map(|id| DoorKey::new(&e.source, id)));
        }
        if ControllerSync::concerns(&e.kind) {
            let sync = self
                .syncs
                .entry(key.clone())
                .or_insert_with(|| ControllerSync::new(key.clone()));
            changed |= sync.apply(e);
        }
        if changed {
            changes.controllers.insert(key);
        }
    }

    fn apply_to_door(&mut self, e: &Event, r: &Ref, changes: &mut Changes) {
        let key = DoorKey::new(&e.source, &r.id);
        let door = self
            .doors
            .entry(key.clone())
            .or_insert_with(|| Door::new(key.clone(), e.vendor));
        if door.apply(e) {
            changes.doors.insert(key);
        }
    }

    /// A lockdown of a whole site (Kisi place lockdown) names a site and no door.
    fn apply_to_site(&mut self, e: &Event, r: &Ref, changes: &mut Changes) {
        let key = SiteKey {
            source: e.source.clone(),
            id: r.id.clone(),
        };
        let site = self
            .sites
            .entry(key.clone())
            .or_insert_with(|| Site::new(key.clone()));
        if site.apply(e) {
            let affected = self
                .doors
                .values()
                .filter(|d| d.site_key().as_ref() == Some(&key));
            changes.doors.extend(affected.map(|d| d.key().clone()));
        }
    }

    pub fn door(&self, key: &DoorKey) -> Option<&Door> {
        self.doors.get(key)
    }

    pub fn doors(&self) -> impl Iterator<Item = &Door> {
        self.doors.values()
    }

    pub fn controller(&self, key: &ControllerKey) -> Option<&Controller> {
        self.controllers.get(key)
    }

    pub fn controllers(&self) -> impl Iterator<Item = &Controller> {
        self.controllers.values()
    }

    pub fn site(&self, key: &SiteKey) -> Option<&Site> {
        self.sites.get(key)
    }

    pub fn sync(&self, key: &ControllerKey) -> Option<&ControllerSync> {
        self.syncs.get(key)
    }

    pub fn syncs(&self) -> impl Iterator<Item = &ControllerSync> {
        self.syncs.values()
    }

    pub fn door_view(&self, key: &DoorKey) -> Option<DoorView<'_>> {
        self.doors.get(key).map(|d| self.view(d))
    }

    fn view<'a>(&'a self, door: &'a Door) -> DoorView<'a> {
        let site_lockdown = door
            .site_key()
            .and_then(|k| self.sites.get(&k))
            .map(Site::lockdown);
        let controllers: Vec<&Controller> = door
            .controller_ids()
            .iter()
            .filter_map(|id| self.controllers.get(&ControllerKey::new(door.source(), id)))
            .collect();
        DoorView {
            door,
            mode: door.mode(site_lockdown),
            modes: door.active_modes(site_lockdown),
            link: Link::through(controllers.iter().map(|c| c.link())),
            controllers,
        }
    }

    /// Doors for the doors pane: those with an active condition (forced, held,
    /// tamper) first, then by name (case-insensitive), then by source and id.
    pub fn doors_sorted(&self) -> Vec<DoorView<'_>> {
        let mut views: Vec<DoorView<'_>> = self.doors.values().map(|d| self.view(d)).collect();
        views.sort_by_cached_key(|v| {
            let d = v.door;
            (!d.in_alarm(), d.label().to_lowercase(), d.key().clone())
        });
        views
    }

    /// Controllers for the controllers pane: unreachable ones first, then by name.
    pub fn controllers_sorted(&self) -> Vec<&Controller> {
        let mut all: Vec<&Controller> = self.controllers.values().collect();
        all.sort_by_cached_key(|c| {
            (
                c.link() != Link::Offline,
                c.label().to_lowercase(),
                c.key().clone(),
            )
        });
        all
    }

    /// Start (or restart) tracking `source`'s catch-up of event time
    /// `window_start..window_end`, at wall time `now`.
    pub fn begin_catch_up(
        &mut self,
        source: &str,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Changes {
        self.catch_ups.insert(
            source.to_string(),
            CatchUp::new(window_start, window_end, now),
        );
        catch_up_changed(source)
    }

    /// Record one fetched page of `source`'s catch-up; nothing if none was begun.
    pub fn record_catch_up_page(
        &mut self,
        source: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        events: u64,
        now: DateTime<Utc>,
    ) -> Changes {
        match self.catch_ups.get_mut(source) {
            Some(c) => {
                c.record_page(from, to, events, now);
                catch_up_changed(source)
            }
            None => Changes::default(),
        }
    }

    /// Stop tracking `source`'s catch-up (it is done, or the source was removed).
    pub fn end_catch_up(&mut self, source: &str) -> Changes {
        match self.catch_ups.remove(source) {
            Some(_) => catch_up_changed(source),
            None => Changes::default(),
        }
    }

    /// Apply what a source reported about its catch-up.
    pub fn apply_catch_up(
        &mut self,
        source: &str,
        report: &CatchUpReport,
        now: DateTime<Utc>,
    ) -> Changes {
        match *report {
            CatchUpReport::Begin { from, to, total } => {
                let changes = self.begin_catch_up(source, from, to, now);
                if let Some(c) = self.catch_ups.get_mut(source) {
                    c.expect_events(total);
                }
                changes
            }
            CatchUpReport::Page { from, to, events } => {
                self.record_catch_up_page(source, from, to, events, now)
            }
            CatchUpReport::End => self.end_catch_up(source),
        }
    }

    /// Forget every catch-up: they describe sources running in this process, and a
    /// state loaded from disk was saved by another.
    pub fn clear_catch_ups(&mut self) {
        self.catch_ups.clear();
    }

    pub fn catch_up(&self, source: &str) -> Option<&CatchUp> {
        self.catch_ups.get(source)
    }

    pub fn catch_ups(&self) -> impl Iterator<Item = (&str, &CatchUp)> {
        self.catch_ups.iter().map(|(s, c)| (s.as_str(), c))
    }

    /// The whole state as a versioned JSON document.
    pub fn snapshot_to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        let snapshot = SnapshotOut {
            version: SNAPSHOT_VERSION,
            state: self,
        };
        serde_json::to_vec(&snapshot).map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// Read a snapshot written by [`LiveState::snapshot_to_bytes`]. The version is read
    /// first and on its own, so a snapshot of another shape is refused as such rather
    /// than misread or reported as garbage.
    pub fn snapshot_from_bytes(bytes: &[u8]) -> Result<LiveState, SnapshotError> {
        let header: SnapshotHeader =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        if header.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version {
                found: header.version,
                expected: SNAPSHOT_VERSION,
            });
        }
        let snapshot: SnapshotIn =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        Ok(snapshot.state)
    }
}

fn is_lockdown(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::DoorLockdown | EventKind::DoorLockdownCleared
    )
}

fn catch_up_changed(source: &str) -> Changes {
    let mut changes = Changes::default();
    changes.catch_ups.insert(source.to_string());
    changes
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    version: u32,
    state: &'a LiveState,
}

#[derive(Deserialize)]
struct SnapshotHeader {
    version: u32,
}

#[derive(Deserialize)]
struct SnapshotIn {
    state: LiveState,
}

/// Serde for maps whose values carry their own key: written as a list of values,
/// because JSON object keys must be strings and ours are (source, id) pairs.
mod keyed {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub trait Keyed {
        type Key: Ord + Clone;
        fn map_key(&self) -> &Self::Key;
    }

    pub fn serialize<K, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, V, D>(d: D) -> Result<BTreeMap<V::Key, V>, D::Error>
    where
        V: Deserialize<'de> + Keyed,
        D: Deserializer<'de>,
    {
        let values = Vec::<V>::deserialize(d)?;
        Ok(values
            .into_iter()
            .map(|v| (v.map_key().clone(), v))
            .collect())
    }
}

impl keyed::Keyed for Door {
    type Key = DoorKey;
    fn map_key(&self) -> &DoorKey {
        self.key()
    }
}

impl keyed::Keyed for Site {
    type Key = SiteKey;
    fn map_key(&self) -> &SiteKey {
        self.key()
    }
}

impl keyed::Keyed for Controller {
    type Key = ControllerKey;
    fn map_key(&self) -> &ControllerKey {
        self.key()
    }
}

impl keyed::Keyed for ControllerSync {
    type Key = ControllerKey;
    fn map_key(&self) -> &ControllerKey {
        self.key()
    }
}

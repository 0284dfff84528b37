//! The unified kind taxonomy (`door.forced_open`, `access.denied`, ...).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What happened, in doorwatch's vocabulary. Serialises as dotted snake case.
///
/// `Admin` carries the part after `admin.` (`admin.card_created` → `Admin("card_created")`),
/// because audit events are open-ended. Anything unmapped is `Other`: stored and shown,
/// never dropped (the vendor's own type stays in `Event::vendor_type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    AccessGranted,
    AccessDenied,
    AccessUnknownCredential,
    DoorUnlocked,
    DoorLocked,
    DoorOpened,
    DoorClosed,
    DoorForcedOpen,
    DoorForcedOpenCleared,
    DoorHeldOpen,
    DoorHeldOpenCleared,
    DoorLockdown,
    DoorLockdownCleared,
    DoorScheduledUnlockStarted,
    DoorScheduledUnlockEnded,
    DoorForceUnlockOn,
    DoorForceUnlockOff,
    DoorDoNotDisturbOn,
    DoorDoNotDisturbOff,
    DoorExitRequest,
    DeviceTamper,
    DeviceTamperCleared,
    DeviceBatteryLow,
    DeviceConnectionUnstable,
    ControllerOnline,
    ControllerOffline,
    ControllerSyncPending,
    ControllerSyncStarted,
    ControllerSyncFinished,
    ControllerSyncFailed,
    /// A stretch of time a source could not read (stream outage not backfilled).
    SourceGap,
    Admin(String),
    Other,
}

/// Every fixed kind with its dotted name; `Admin(_)` and `Other` are handled apart.
const FIXED: &[(EventKind, &str)] = &[
    (EventKind::AccessGranted, "access.granted"),
    (EventKind::AccessDenied, "access.denied"),
    (
        EventKind::AccessUnknownCredential,
        "access.unknown_credential",
    ),
    (EventKind::DoorUnlocked, "door.unlocked"),
    (EventKind::DoorLocked, "door.locked"),
    (EventKind::DoorOpened, "door.opened"),
    (EventKind::DoorClosed, "door.closed"),
    (EventKind::DoorForcedOpen, "door.forced_open"),
    (EventKind::DoorForcedOpenCleared, "door.forced_open_cleared"),
    (EventKind::DoorHeldOpen, "door.held_open"),
    (EventKind::DoorHeldOpenCleared, "door.held_open_cleared"),
    (EventKind::DoorLockdown, "door.lockdown"),
    (EventKind::DoorLockdownCleared, "door.lockdown_cleared"),
    (
        EventKind::DoorScheduledUnlockStarted,
        "door.scheduled_unlock_started",
    ),
    (
        EventKind::DoorScheduledUnlockEnded,
        "door.scheduled_unlock_ended",
    ),
    (EventKind::DoorForceUnlockOn, "door.force_unlock_on"),
    (EventKind::DoorForceUnlockOff, "door.force_unlock_off"),
    (EventKind::DoorDoNotDisturbOn, "door.do_not_disturb_on"),
    (EventKind::DoorDoNotDisturbOff, "door.do_not_disturb_off"),
    (EventKind::DoorExitRequest, "door.exit_request"),
    (EventKind::DeviceTamper, "device.tamper"),
    (EventKind::DeviceTamperCleared, "device.tamper_cleared"),
    (EventKind::DeviceBatteryLow, "device.battery_low"),
    (
        EventKind::DeviceConnectionUnstable,
        "device.connection_unstable",
    ),
    (EventKind::ControllerOnline, "controller.online"),
    (EventKind::ControllerOffline, "controller.offline"),
    (EventKind::ControllerSyncPending, "controller.sync_pending"),
    (EventKind::ControllerSyncStarted, "controller.sync_started"),
    (
        EventKind::ControllerSyncFinished,
        "controller.sync_finished",
    ),
    (EventKind::ControllerSyncFailed, "controller.sync_failed"),
    (EventKind::SourceGap, "source.gap"),
];

impl EventKind {
    /// Every fixed kind (not `Admin(_)`), for help texts and completion.
    pub fn fixed() -> impl Iterator<Item = &'static EventKind> {
        FIXED.iter().map(|(k, _)| k)
    }

    /// `admin.<what>`; `what` is normalised to snake case.
    pub fn admin(what: &str) -> EventKind {
        EventKind::Admin(snake(what))
    }

    /// The dotted name, e.g. `door.forced_open`.
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            EventKind::Admin(what) => format!("admin.{what}").into(),
            EventKind::Other => "other".into(),
            fixed => FIXED
                .iter()
                .find(|(k, _)| k == fixed)
                .map(|(_, n)| (*n).into())
                .unwrap_or("other".into()),
        }
    }

    /// The first segment: `door`, `access`, `controller`, `admin`, `other`, ...
    pub fn family(&self) -> &'static str {
        match self {
            EventKind::Admin(_) => "admin",
            EventKind::Other => "other",
            fixed => FIXED
                .iter()
                .find(|(k, _)| k == fixed)
                .and_then(|(_, n)| n.split('.').next())
                .unwrap_or("other"),
        }
    }
}

fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((k, _)) = FIXED.iter().find(|(_, n)| *n == s) {
            return Ok(k.clone());
        }
        if s == "other" {
            return Ok(EventKind::Other);
        }
        if let Some(what) = s.strip_prefix("admin.")
            && !what.is_empty()
        {
            return Ok(EventKind::Admin(what.to_string()));
        }
        Err(format!("unknown kind `{s}`"))
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or(EventKind::Other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_kind_round_trips_by_name() {
        for k in EventKind::fixed() {
            assert_eq!(k.name().parse::<EventKind>().unwrap(), *k);
        }
        assert_eq!(
            "admin.card_created".parse::<EventKind>().unwrap(),
            EventKind::admin("card created")
        );
        assert_eq!("other".parse::<EventKind>().unwrap(), EventKind::Other);
        assert!("door.nonsense".parse::<EventKind>().is_err());
    }

    #[test]
    fn family_is_first_segment() {
        assert_eq!(EventKind::DoorHeldOpen.family(), "door");
        assert_eq!(EventKind::admin("user.create").family(), "admin");
        assert_eq!(EventKind::admin("user.create").name(), "admin.user_create");
        assert_eq!(EventKind::ControllerSyncFailed.family(), "controller");
    }
}

//! `GET /api/3/channels` → an [`Inventory`] (`shared/protocols/doorflow.md` §5.1).
//!
//! A DoorFlow channel is one controller driving one door, and the event parser gives
//! both the `door` and the `controller` ref the channel's id; the listing does the same,
//! so a reading and the events about a channel land on the same door and controller.

use crate::model::Ref;
use crate::sources::fields;
use crate::state::inventory::{ControllerReport, DoorReport, Inventory};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The listing of `channels`, read at `at`. Entries without an id are skipped.
pub fn inventory(channels: &[Value], at: DateTime<Utc>) -> Inventory {
    let mut inv = Inventory {
        at,
        ..Inventory::default()
    };
    for c in channels {
        let Some(id) = fields::text(c, &["id"]).map(|s| s.trim().to_string()) else {
            continue;
        };
        let name = fields::text(c, &["name"]);
        inv.doors.push(DoorReport {
            id: id.clone(),
            name: name.clone(),
            site: fields::text(c, &["site_id"]).map(|s| Ref::new(s, None::<String>)),
            controllers: vec![id.clone()],
            locked: locked(c),
            // Open or closed is not a channel field: only events (31–33) say.
            open: None,
        });
        inv.controllers.push(ControllerReport {
            id,
            name,
            online: match fields::text(c, &["status"]).as_deref() {
                Some("online") => Some(true),
                Some("offline") => Some(false),
                // `pending_encryption` and anything new: connected, but not usable yet.
                _ => None,
            },
        });
    }
    inv
}

/// Lockdown or normal mode keeps the door locked; unlock mode (a shift or a remote
/// unlock) leaves it open to anyone.
fn locked(c: &Value) -> Option<bool> {
    if c.get("lockdown").is_some_and(Value::is_object) {
        return Some(true);
    }
    match fields::text(c, &["mode", "description"]).as_deref() {
        Some("unlock") => Some(false),
        Some("normal") => Some(true),
        _ => None,
    }
}

/// A channel's sync health (`ok`, `fail`, `syncing`, `pending`), for the log until the
/// inventory carries it.
pub fn sync_status(c: &Value) -> Option<String> {
    fields::text(c, &["sync", "status"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ParseContext, doorflow::parse};
    use serde_json::json;

    #[test]
    fn channel_ids_match_the_refs_events_carry() {
        let channel = json!({
            "id": 4102, "name": "Server Room", "status": "offline", "site_id": 301,
            "sync": {"status": "fail", "last_sync_completed_at": null},
            "mode": {"description": "unlock", "relock_at": null, "change_stamp": null},
            "lockdown": null, "auto_unlock": null,
        });
        let event = json!({
            "id": 1, "event_code": 32, "event_label": "Door forced open",
            "channel_id": 4102, "channel_name": "Server Room",
            "door_controller_id": 4102, "door_controller_name": "Server Room",
            "created_at": "2026-03-02T09:14:05+10:00",
        });
        let ctx = ParseContext {
            source: "df",
            received_at: Utc::now(),
        };
        let e = parse(&ctx, &event).unwrap();
        let inv = inventory(&[channel.clone(), json!({"name": "no id"})], Utc::now());
        assert_eq!(inv.doors.len(), 1);
        assert_eq!(
            Some(inv.doors[0].id.as_str()),
            e.door.as_ref().map(|r| r.id.as_str())
        );
        assert_eq!(
            Some(inv.controllers[0].id.as_str()),
            e.controller.as_ref().map(|r| r.id.as_str())
        );
        assert_eq!(inv.doors[0].controllers, vec!["4102".to_string()]);
        assert_eq!(inv.doors[0].locked, Some(false));
        assert_eq!(
            inv.doors[0].site.as_ref().map(|s| s.id.as_str()),
            Some("301")
        );
        assert_eq!(inv.controllers[0].online, Some(false));
        assert_eq!(sync_status(&channel).as_deref(), Some("fail"));
    }

    #[test]
    fn lockdown_locks_and_unknown_status_is_unknown() {
        let c = json!({"id": 1, "status": "pending_encryption",
                       "mode": {"description": "unlock"}, "lockdown": {"message": "drill"}});
        let inv = inventory(&[c], Utc::now());
        assert_eq!(inv.doors[0].locked, Some(true));
        assert_eq!(inv.controllers[0].online, None);
    }
}

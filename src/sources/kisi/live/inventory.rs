//! Kisi locks and controllers → an [`Inventory`] (brief §10).
//!
//! Ids are the ones the event parser puts on events: a lock's `id` is the `door.id` of
//! its events (`object_id` of `Lock` events), a controller's `id` the `controller.id`.

use crate::sources::fields;
use crate::state::inventory::{ControllerReport, DoorReport, Inventory};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub fn inventory(at: DateTime<Utc>, locks: &[Value], controllers: &[Value]) -> Inventory {
    Inventory {
        at,
        doors: locks.iter().filter_map(door).collect(),
        controllers: controllers.iter().filter_map(controller).collect(),
    }
}

fn door(lock: &Value) -> Option<DoorReport> {
    let site_id = fields::first_text(lock, &[&["place_id"], &["place", "id"]]);
    Some(DoorReport {
        id: fields::text(lock, &["id"])?,
        name: fields::text(lock, &["name"]),
        site: fields::make_ref(site_id, fields::text(lock, &["place", "name"])),
        // A Kisi lock does not name its controller (UNCONFIRMED whether any field does).
        controllers: Vec::new(),
        locked: fields::boolean(lock, &["unlocked"]).map(|unlocked| !unlocked),
        open: fields::boolean(lock, &["open"]),
    })
}

fn controller(c: &Value) -> Option<ControllerReport> {
    Some(ControllerReport {
        id: fields::text(c, &["id"])?,
        name: fields::text(c, &["name"]),
        online: fields::boolean(c, &["online"]),
    })
}

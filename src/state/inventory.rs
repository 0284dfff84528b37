//! What a source learns by listing a vendor's doors and controllers (Kisi `/locks` and
//! `/controllers`, Seam `/locks/list`, DoorFlow `/api/3/channels`, PDK devices): names
//! and current status, with no event behind them.
//!
//! A report is a reading taken at `at`. It goes through the same last-writer-wins
//! registers as events (see [`super::stamp`]): a reading overrides what older events
//! said and yields to newer ones, so polling a list never rolls back a live event.

use crate::model::Ref;
use chrono::{DateTime, Utc};

/// One listing of a source's doors and controllers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// When the listing was read.
    pub at: DateTime<Utc>,
    pub doors: Vec<DoorReport>,
    pub controllers: Vec<ControllerReport>,
}

/// A door as a vendor's list shows it. `id` is the id the vendor's events carry in
/// `door.id` (Kisi lock id, PDK deviceId, Seam device_id, DoorFlow channel id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoorReport {
    pub id: String,
    pub name: Option<String>,
    pub site: Option<Ref>,
    /// Ids (as in events' `controller.id`) of the controllers in front of the door.
    pub controllers: Vec<String>,
    pub locked: Option<bool>,
    pub open: Option<bool>,
}

/// A controller (Kisi controller, PDK cloud node, Seam device or connected account,
/// DoorFlow channel's controller) as a vendor's list shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControllerReport {
    pub id: String,
    pub name: Option<String>,
    pub online: Option<bool>,
}

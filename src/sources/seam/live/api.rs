//! Seam's HTTP API as the live source uses it: `POST` with a JSON body and
//! `Authorization: Bearer <key>` on every call (see `protocols/seam.md`).

use crate::config::{ConfigError, SecretKind, SourceConfig};
use crate::sources::fields;
use crate::sources::runtime::{self, FetchError, check};
use crate::state::inventory::{ControllerReport, DoorReport, Inventory};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

pub const DEFAULT_BASE_URL: &str = "https://connect.getseam.com";

/// Listing pages followed at most (`pagination.next_page_cursor`).
const MAX_LIST_PAGES: usize = 50;

/// A span of creation times to list events from. Both ends are exclusive, as Seam
/// filters them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Everything created after a time: the open end of a catch-up.
    Since(DateTime<Utc>),
    Between(DateTime<Utc>, DateTime<Utc>),
}

impl Window {
    pub fn start(&self) -> DateTime<Utc> {
        match *self {
            Window::Since(t) | Window::Between(t, _) => t,
        }
    }

    /// Its length; an open window reaches to `now`.
    pub fn span(&self, now: DateTime<Utc>) -> chrono::Duration {
        match *self {
            Window::Since(t) => (now - t).max(chrono::Duration::zero()),
            Window::Between(a, b) => b - a,
        }
    }
}

/// One `/events/list` answer.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsPage {
    Items(Vec<Value>),
    /// Not JSON, or no `events` list: kept raw for quarantine.
    Malformed {
        raw: String,
        error: String,
    },
}

/// An authenticated Seam client for one source. Never prints its key.
pub struct SeamClient {
    http: reqwest::Client,
    base_url: String,
    key: crate::config::Secret,
    auth_hint: String,
    max_response: usize,
}

/// Seam's wire form of a time: RFC 3339, UTC, microseconds (what the API itself sends).
pub fn wire_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SeamClient {
    /// `auth_hint` ends a "token rejected" message ("set SEAM_API_KEY").
    pub fn new(
        http: reqwest::Client,
        config: &SourceConfig,
        auth_hint: String,
    ) -> Result<SeamClient, ConfigError> {
        let key = config.secret(SecretKind::Token)?;
        let base_url = config
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/')
            .to_string();
        Ok(SeamClient {
            http,
            base_url,
            key,
            auth_hint,
            max_response: config.max_response(),
        })
    }

    /// An error text with the key masked, should a server echo it back.
    fn scrub(&self, e: FetchError) -> FetchError {
        let key = self.key.expose();
        if key.is_empty() {
            return e;
        }
        let mask = |s: String| s.replace(key, "***");
        match e {
            FetchError::Unauthorized(s) => FetchError::Unauthorized(mask(s)),
            FetchError::Transient(s) => FetchError::Transient(mask(s)),
            FetchError::Fatal(s) => FetchError::Fatal(mask(s)),
            other => other,
        }
    }

    /// `POST path` with a JSON body; the response text of a 2xx.
    async fn post(&self, path: &str, body: &Value) -> Result<String, FetchError> {
        let attempt = async {
            let resp = self
                .http
                .post(format!("{}{path}", self.base_url))
                .bearer_auth(self.key.expose())
                .json(body)
                .send()
                .await?;
            let resp = check(resp, &self.auth_hint).await?;
            runtime::text_limited(resp, self.max_response).await
        };
        attempt.await.map_err(|e| self.scrub(e))
    }

    /// One page of `/events/list` over `window`.
    pub async fn events(
        &self,
        window: &Window,
        limit: usize,
        offset: usize,
    ) -> Result<EventsPage, FetchError> {
        let mut body = match *window {
            Window::Since(t) => json!({"since": wire_time(t)}),
            Window::Between(a, b) => json!({"between": [wire_time(a), wire_time(b)]}),
        };
        body["limit"] = json!(limit);
        if offset > 0 {
            body["unstable_offset"] = json!(offset);
        }
        let text = self.post("/events/list", &body).await?;
        Ok(events_page(text))
    }

    /// The doors (locks) and controllers (the locks themselves, and the connected
    /// accounts behind them) with their current state.
    pub async fn inventory(&self) -> Result<Inventory, FetchError> {
        let at = Utc::now();
        let locks = self.list_all("/locks/list", &["locks", "devices"]).await?;
        let accounts = self
            .list_all("/connected_accounts/list", &["connected_accounts"])
            .await?;
        Ok(build_inventory(at, &locks, &accounts))
    }

    /// Every item of a listing, following `pagination.next_page_cursor`.
    async fn list_all(&self, path: &str, keys: &[&str]) -> Result<Vec<Value>, FetchError> {
        let mut out = Vec::new();
        let mut body = json!({});
        for _ in 0..MAX_LIST_PAGES {
            let text = self.post(path, &body).await?;
            let page: Value = serde_json::from_str(&text)
                .map_err(|_| FetchError::Transient(format!("unreadable {path} response")))?;
            let items = keys
                .iter()
                .find_map(|k| page.get(*k).and_then(Value::as_array))
                .ok_or_else(|| FetchError::Transient(format!("{path} response has no list")))?;
            out.extend(items.iter().cloned());
            match fields::text(&page, &["pagination", "next_page_cursor"]) {
                Some(next) if page["pagination"]["has_next_page"] != json!(false) => {
                    body = json!({"page_cursor": next});
                }
                _ => return Ok(out),
            }
        }
        Ok(out)
    }
}

/// An `/events/list` response body as a page.
pub fn events_page(text: String) -> EventsPage {
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => match crate::sources::seam::page_items(&v) {
            Some(items) => EventsPage::Items(items),
            None => EventsPage::Malformed {
                raw: text,
                error: "seam /events/list response has no events list".into(),
            },
        },
        Err(e) => EventsPage::Malformed {
            raw: text,
            error: format!("seam /events/list response is not JSON: {e}"),
        },
    }
}

/// The name a door shows: `nickname`, else the app's `properties.appearance.name`,
/// else `display_name`, else the hardware's `properties.name`.
fn door_name(lock: &Value) -> Option<String> {
    fields::first_text(
        lock,
        &[
            &["nickname"],
            &["properties", "appearance", "name"],
            &["display_name"],
            &["properties", "name"],
        ],
    )
    .map(|n| n.trim().to_string())
}

/// Connected-account errors that mean Seam cannot reach the account.
const ACCOUNT_DOWN: &[&str] = &[
    "account_disconnected",
    "invalid_credentials",
    "bridge_disconnected",
];

fn account_online(account: &Value) -> Option<bool> {
    let errors = account.get("errors")?.as_array()?;
    let down = errors.iter().any(|e| {
        fields::first_text(e, &[&["error_code"], &["type"]])
            .is_some_and(|code| ACCOUNT_DOWN.contains(&code.as_str()))
    });
    Some(!down)
}

/// Doors and controllers from `/locks/list` and `/connected_accounts/list` items.
/// Door ids are `device_id`s, as on events; a lock is also the controller of its
/// connectivity events, and its connected account the controller of the rest.
pub fn build_inventory(at: DateTime<Utc>, locks: &[Value], accounts: &[Value]) -> Inventory {
    let mut inv = Inventory {
        at,
        ..Inventory::default()
    };
    for lock in locks {
        let Some(id) = fields::text(lock, &["device_id"]) else {
            continue;
        };
        let name = door_name(lock);
        let account = fields::text(lock, &["connected_account_id"]);
        let mut controllers = vec![id.clone()];
        controllers.extend(account);
        inv.doors.push(DoorReport {
            id: id.clone(),
            name: name.clone(),
            site: None,
            controllers,
            locked: fields::boolean(lock, &["properties", "locked"]),
            open: fields::boolean(lock, &["properties", "door_open"]),
        });
        inv.controllers.push(ControllerReport {
            id,
            name,
            online: fields::boolean(lock, &["properties", "online"]),
        });
    }
    for account in accounts {
        let Some(id) = fields::text(account, &["connected_account_id"]) else {
            continue;
        };
        let name = fields::first_text(
            account,
            &[
                &["display_name"],
                &["user_identifier", "email"],
                &["user_identifier", "username"],
                &["account_type_display_name"],
            ],
        );
        inv.controllers.push(ControllerReport {
            id,
            name,
            online: account_online(account),
        });
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_names_follow_the_brief_order() {
        let both = json!({"device_id": "d1", "nickname": "Lobby", "display_name": "August Lock",
            "properties": {"appearance": {"name": "Front"}, "name": "hw"}});
        assert_eq!(door_name(&both).as_deref(), Some("Lobby"));
        let app = json!({"device_id": "d2", "display_name": "Smart Device",
            "properties": {"appearance": {"name": "Front Door"}, "name": "Fake August Lock 1"}});
        assert_eq!(door_name(&app).as_deref(), Some("Front Door"));
        let bare = json!({"device_id": "d3", "display_name": "Smart Device"});
        assert_eq!(door_name(&bare).as_deref(), Some("Smart Device"));
    }

    #[test]
    fn inventory_from_listings() {
        let locks = [
            json!({"device_id": "d1", "connected_account_id": "ca1", "nickname": "Lobby",
                "properties": {"online": true, "locked": false, "door_open": true}}),
            json!({"display_name": "no id: skipped"}),
            json!({"device_id": "d2", "properties": {"online": false}}),
        ];
        let accounts = [
            json!({"connected_account_id": "ca1", "display_name": "hq@example.com", "errors": []}),
            json!({"connected_account_id": "ca2", "user_identifier": {"email": "x@example.com"},
                "errors": [{"error_code": "account_disconnected", "message": "gone"}]}),
            json!({"connected_account_id": "ca3"}),
        ];
        let inv = build_inventory(Utc::now(), &locks, &accounts);
        assert_eq!(inv.doors.len(), 2);
        let d1 = &inv.doors[0];
        assert_eq!(
            (d1.id.as_str(), d1.name.as_deref(), d1.locked, d1.open),
            ("d1", Some("Lobby"), Some(false), Some(true))
        );
        assert_eq!(d1.controllers, ["d1", "ca1"]);
        assert_eq!(inv.doors[1].controllers, ["d2"]);
        let online: Vec<(&str, Option<bool>)> = inv
            .controllers
            .iter()
            .map(|c| (c.id.as_str(), c.online))
            .collect();
        assert_eq!(
            online,
            [
                ("d1", Some(true)),
                ("d2", Some(false)),
                ("ca1", Some(true)),
                ("ca2", Some(false)),
                ("ca3", None)
            ]
        );
        assert_eq!(inv.controllers[3].name.as_deref(), Some("x@example.com"));
    }

    #[test]
    fn pages_that_are_not_event_lists_are_malformed() {
        assert_eq!(
            events_page(r#"{"events": [{"event_id": "e1"}], "ok": true}"#.into()),
            EventsPage::Items(vec![json!({"event_id": "e1"})])
        );
        assert_eq!(
            events_page(r#"{"events": []}"#.into()),
            EventsPage::Items(vec![])
        );
        for bad in [r#"{"events": [{"event_id": "#, r#"{"devices": []}"#, "[]"] {
            match events_page(bad.to_string()) {
                EventsPage::Malformed { raw, .. } => assert_eq!(raw, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn wire_times_carry_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(wire_time(t), "2026-11-22T10:00:00.123456Z");
    }
}

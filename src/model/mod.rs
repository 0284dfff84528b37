//! The unified event: every vendor payload becomes one [`Event`].
//!
//! Domain only: nothing here knows about sled, ratatui or HTTP.

mod kind;
mod raw;

pub use kind::EventKind;
pub use raw::RawJson;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A vendor we speak to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Kisi,
    Pdk,
    Seam,
    Doorflow,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [Vendor::Kisi, Vendor::Pdk, Vendor::Seam, Vendor::Doorflow];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Kisi => "kisi",
            Vendor::Pdk => "pdk",
            Vendor::Seam => "seam",
            Vendor::Doorflow => "doorflow",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "kisi" => Ok(Vendor::Kisi),
            "pdk" | "prodatakey" => Ok(Vendor::Pdk),
            "seam" => Ok(Vendor::Seam),
            "doorflow" => Ok(Vendor::Doorflow),
            other => Err(format!(
                "unknown vendor `{other}`: expected one of kisi, pdk, seam, doorflow"
            )),
        }
    }
}

/// How much an event matters to the person at the desk. Ordered: `Info < ... < Alarm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Notice,
    Warning,
    Alarm,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Notice,
        Severity::Warning,
        Severity::Alarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Alarm => "alarm",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity `{s}`: expected one of info, notice, warning, alarm")
            })
    }
}

/// A reference to a door, controller, person or site: the vendor's id and, when known,
/// a display name. Serialises as `{"id": "...", "name": "..."}` (`name` may be null).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ref {
    pub id: String,
    pub name: Option<String>,
}

impl Ref {
    pub fn new(id: impl Into<String>, name: Option<impl Into<String>>) -> Self {
        Ref {
            id: id.into(),
            name: name.map(Into::into),
        }
    }

    /// What to show a person: the name, else the id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One access-control event from any vendor, in doorwatch's own terms.
///
/// Field names and JSON shape are a contract: `search --json` prints exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `<source>:<vendor event id>`; the dedupe key.
    pub id: String,
    pub source: String,
    pub vendor: Vendor,
    #[serde(with = "ms_time")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "ms_time")]
    pub received_at: DateTime<Utc>,
    pub kind: EventKind,
    /// The vendor's own type: `lock.unlock`, `device.request.denied`, `event_code:20`, ...
    pub vendor_type: String,
    pub severity: Severity,
    pub door: Option<Ref>,
    pub controller: Option<Ref>,
    pub person: Option<Ref>,
    pub site: Option<Ref>,
    pub credential: Option<String>,
    pub success: Option<bool>,
    pub summary: String,
    /// The vendor payload, unchanged: JSON text, parsed only when looked into.
    pub raw: RawJson,
}

impl Event {
    /// The id a source gives an event: `<source>:<vendor event id>`.
    pub fn make_id(source: &str, vendor_event_id: &str) -> String {
        format!("{source}:{vendor_event_id}")
    }

    /// The event's refs that name places and people, in a fixed order.
    pub fn refs(&self) -> [(RefField, Option<&Ref>); 4] {
        [
            (RefField::Door, self.door.as_ref()),
            (RefField::Controller, self.controller.as_ref()),
            (RefField::Person, self.person.as_ref()),
            (RefField::Site, self.site.as_ref()),
        ]
    }
}

/// Which ref of an event a query term or index talks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefField {
    Door,
    Controller,
    Person,
    Site,
}

impl RefField {
    pub fn as_str(self) -> &'static str {
        match self {
            RefField::Door => "door",
            RefField::Controller => "controller",
            RefField::Person => "person",
            RefField::Site => "site",
        }
    }
}

/// Truncate to millisecond precision, the precision the model promises.
pub fn to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or(t)
}

/// `2026-11-22T10:00:00.000Z`: RFC 3339, UTC, always three fractional digits.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serde for timestamps in the contract's form (`2026-11-22T10:00:00.000Z`).
pub mod ms_time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// `1d12h30m`: digits followed by a unit, repeated.
pub fn parse_duration(v: &str) -> Option<chrono::Duration> {
    let mut total = chrono::Duration::zero();
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => chrono::Duration::try_milliseconds(n)?,
            "s" => chrono::Duration::try_seconds(n)?,
            "m" | "min" => chrono::Duration::try_minutes(n)?,
            "h" => chrono::Duration::try_hours(n)?,
            "d" => chrono::Duration::try_days(n)?,
            "w" => chrono::Duration::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            id: "hq-pdk:device.alarm.forced:42".into(),
            source: "hq-pdk".into(),
            vendor: Vendor::Pdk,
            occurred_at: Utc.timestamp_millis_opt(1_763_805_600_123).unwrap(),
            received_at: Utc.timestamp_millis_opt(1_763_805_601_000).unwrap(),
            kind: EventKind::DoorForcedOpen,
            vendor_type: "device.alarm.forced".into(),
            severity: Severity::Alarm,
            door: Some(Ref::new("d1", Some("Server Room"))),
            controller: None,
            person: None,
            site: None,
            credential: None,
            success: None,
            summary: "Server Room forced open".into(),
            raw: serde_json::json!({"id": 42}).into(),
        }
    }

    #[test]
    fn json_line_has_contract_fields_and_null_refs() {
        let v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        for key in [
            "id",
            "source",
            "vendor",
            "occurred_at",
            "kind",
            "vendor_type",
            "severity",
            "door",
            "controller",
            "person",
            "site",
            "credential",
            "success",
            "summary",
            "raw",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["occurred_at"], "2025-11-22T10:00:00.123Z");
        assert_eq!(v["kind"], "door.forced_open");
        assert_eq!(v["vendor"], "pdk");
        assert_eq!(v["severity"], "alarm");
        assert_eq!(
            v["door"],
            serde_json::json!({"id": "d1", "name": "Server Room"})
        );
        assert!(v["person"].is_null());
        assert_eq!(v["raw"], serde_json::json!({"id": 42}), "raw is the object");
    }

    #[test]
    fn json_round_trips() {
        let e = sample();
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d12h"), Some(chrono::Duration::hours(36)));
        assert_eq!(parse_duration("90s"), Some(chrono::Duration::seconds(90)));
        assert_eq!(parse_duration("2w"), Some(chrono::Duration::days(14)));
        assert_eq!(parse_duration("0s"), Some(chrono::Duration::zero()));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn severity_orders_by_urgency() {
        assert!(Severity::Alarm > Severity::Warning);
        assert!(Severity::Notice > Severity::Info);
        assert_eq!("ALARM".parse::<Severity>().unwrap(), Severity::Alarm);
    }
}

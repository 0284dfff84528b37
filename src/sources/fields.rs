//! Small, forgiving readers for vendor JSON, shared by every vendor parser.
//!
//! Vendors send ids as numbers or strings, times as RFC 3339 with any number of
//! fractional digits, epoch milliseconds, or local offsets. These helpers accept all
//! of it and never panic.
//!
//! The few small helpers every parser needs to turn what it read into refs and words
//! ([`make_ref`], [`json_type`], [`capitalize`]) live here too, so the vendors build refs
//! and word their messages the same way.

use crate::model::Ref;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// The value at a path of object keys, e.g. `at(v, &["body", "device", "name"])`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

/// A non-empty string at `path`; numbers and bools are rendered as text (ids are often
/// numbers). Null, empty strings, objects and arrays give `None`.
pub fn text(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first non-empty `text` among several paths.
pub fn first_text(v: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|p| text(v, p))
}

/// A bool at `path`; also accepts `"true"`/`"false"` strings and 0/1.
pub fn boolean(v: &Value, path: &[&str]) -> Option<bool> {
    match at(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// An integer at `path` (numbers or numeric strings).
pub fn integer(v: &Value, path: &[&str]) -> Option<i64> {
    match at(v, path)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A timestamp at `path`, in any form vendors use: see [`time_value`].
pub fn time(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    time_value(at(v, path)?)
}

/// Read a timestamp: RFC 3339 / ISO 8601 with any fractional digits and any offset
/// (converted to UTC), a naive `YYYY-MM-DD HH:MM:SS` (taken as UTC), or a number —
/// epoch milliseconds when it is large, epoch seconds otherwise. Truncated to ms.
pub fn time_value(v: &Value) -> Option<DateTime<Utc>> {
    let t = match v {
        Value::String(s) => parse_time_str(s.trim())?,
        Value::Number(n) => epoch(n.as_f64()?)?,
        _ => return None,
    };
    Some(crate::model::to_ms(t))
}

/// Epoch numbers: ≥ 1e11 is milliseconds (1e11 s is the year 5138), else seconds.
fn epoch(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() {
        return None;
    }
    let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
    if ms.abs() > 8.0e15 {
        return None;
    }
    Utc.timestamp_millis_opt(ms as i64).single()
}

fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Offsets without a colon (`+0100`) and a space instead of `T`.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(s.parse().ok()?);
    }
    None
}

/// A stable id for a payload that carries none: FNV-1a of its canonical JSON text, so the
/// same payload imported twice gets the same id.
pub fn content_id(v: &Value) -> String {
    format!("h{:016x}", fnv1a64(v.to_string().as_bytes()))
}

/// FNV-1a, 64 bit: stable across runs and platforms (std's hasher is seeded per process).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A ref from an id and a name, where a name alone serves as the id: vendors often
/// send only a display name (a card holder, a placeholder, an actor's email), and a
/// named thing without an id is still worth keeping. Neither gives `None`.
pub fn make_ref(id: Option<String>, name: Option<String>) -> Option<Ref> {
    match (id, name) {
        (Some(id), name) => Some(Ref::new(id, name)),
        (None, Some(name)) => Some(Ref::new(name.clone(), Some(name))),
        (None, None) => None,
    }
}

/// The JSON type of a value with its article (`"an array"`, `"null"`), for rejection
/// messages such as "must be a JSON object, got an array", so every vendor names a
/// wrong shape the same way.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `s` with its first character upper-cased (Unicode-aware; the rest untouched), for
/// summaries built from lower-case vendor words.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_every_vendor_form() {
        let want = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        for v in [
            json!("2026-11-22T10:00:00Z"),
            json!("2026-11-22T10:00:00.000000Z"),
            json!("2026-11-22T11:00:00+01:00"),
            json!("2026-11-22T11:00:00+0100"),
            json!("2026-11-22T05:00:00.000-05:00"),
            json!(1_795_341_600_000i64),
            json!(1_795_341_600i64),
            json!("1795341600000"),
        ] {
            assert_eq!(time_value(&v), Some(want), "{v}");
        }
        assert_eq!(time_value(&json!("yesterday")), None);
        assert_eq!(time_value(&json!(null)), None);
        assert_eq!(time_value(&json!(f64::MAX)), None);
    }

    #[test]
    fn text_accepts_numbers_and_skips_empty() {
        let v = json!({"a": {"b": 12}, "c": "", "d": "x"});
        assert_eq!(text(&v, &["a", "b"]).as_deref(), Some("12"));
        assert_eq!(text(&v, &["c"]), None);
        assert_eq!(first_text(&v, &[&["c"], &["d"]]).as_deref(), Some("x"));
    }

    #[test]
    fn content_id_is_stable() {
        assert_eq!(content_id(&json!({"a": 1})), content_id(&json!({"a": 1})));
        assert_ne!(content_id(&json!({"a": 1})), content_id(&json!({"a": 2})));
    }

    #[test]
    fn make_ref_lets_a_name_stand_for_the_id() {
        let r = make_ref(Some("7".into()), Some("Front".into())).unwrap();
        assert_eq!((r.id.as_str(), r.name.as_deref()), ("7", Some("Front")));
        let r = make_ref(None, Some("Jane".into())).unwrap();
        assert_eq!((r.id.as_str(), r.name.as_deref()), ("Jane", Some("Jane")));
        let r = make_ref(Some("7".into()), None).unwrap();
        assert_eq!((r.id.as_str(), r.name), ("7", None));
        assert_eq!(make_ref(None, None), None);
    }

    #[test]
    fn json_type_and_capitalize() {
        assert_eq!(json_type(&json!([1])), "an array");
        assert_eq!(json_type(&json!(null)), "null");
        assert_eq!(json_type(&json!("x")), "a string");
        assert_eq!(capitalize("door opened"), "Door opened");
        assert_eq!(capitalize("é ß"), "É ß");
        assert_eq!(capitalize(""), "");
    }
}

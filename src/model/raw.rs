//! [`RawJson`]: the vendor payload an event keeps, as compact JSON text.
//!
//! Most events are never looked into after they are stored: a search hit, an export
//! line or a socket reply only pass the payload on. So the payload stays text, and is
//! parsed only by what reads inside it (the console's detail pane, PDK's companion
//! matching). Serialised with serde_json it is written verbatim as the JSON value it
//! holds, never as a string: an event's JSON is the same as when `raw` was a
//! `serde_json::Value`.
//!
//! The text is always serde_json's compact form of the payload (what
//! `serde_json::to_string` of a `Value` writes: no whitespace, object keys sorted), so
//! two payloads are equal exactly when their texts are. Every way in keeps that:
//! [`RawJson::from`] a `Value` and deserialising write it; the store hands back the text
//! it was given. The one way in that is not checked is the store's
//! ([`RawJson::from_stored`]): `doorwatch check` parses every stored payload instead.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;

/// The vendor payload, unchanged, as compact JSON text (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// JSON `null`: events made up by doorwatch itself carry no payload.
    pub fn null() -> RawJson {
        RawJson("null".into())
    }

    /// Text read back from the store, taken as it is: the store wrote it from a
    /// `RawJson`. Not parsed here (that is the point); `doorwatch check` parses it.
    pub(crate) fn from_stored(text: String) -> RawJson {
        RawJson(text.into_boxed_str())
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The payload as a `serde_json::Value`. Fails only for a damaged stored payload.
    pub fn parse(&self) -> serde_json::Result<Value> {
        serde_json::from_str(&self.0)
    }

    /// Whether the text is one well-formed JSON value, without building it.
    pub fn validate(&self) -> serde_json::Result<()> {
        serde_json::from_str::<&RawValue>(&self.0).map(|_| ())
    }

    /// The payload pretty-printed for people; a damaged one as its text, said so.
    pub fn pretty(&self) -> String {
        match self.parse() {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| self.0.to_string()),
            Err(e) => format!("(stored payload is not JSON: {e})\n{}", self.0),
        }
    }
}

impl Default for RawJson {
    fn default() -> Self {
        RawJson::null()
    }
}

impl From<&Value> for RawJson {
    fn from(v: &Value) -> RawJson {
        // Writing a `Value` to a string cannot fail: its keys are strings.
        RawJson(
            serde_json::to_string(v)
                .unwrap_or_else(|_| "null".into())
                .into_boxed_str(),
        )
    }
}

impl From<Value> for RawJson {
    fn from(v: Value) -> RawJson {
        RawJson::from(&v)
    }
}

/// Compares the payloads: convenient in tests that hold the vendor's `Value`.
impl PartialEq<Value> for RawJson {
    fn eq(&self, other: &Value) -> bool {
        self.parse().is_ok_and(|v| v == *other)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.0)
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RawJson {
    /// The JSON value itself, copied as text (serde_json writes a `RawValue` verbatim).
    /// A damaged stored payload is an error, never broken JSON in the output.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(|e| {
            serde::ser::Error::custom(format!("stored raw payload is not JSON: {e}"))
        })?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    /// Through a `Value`: it works inside internally tagged enums (the socket
    /// protocol's replies), where a borrowed `RawValue` does not, and it leaves the
    /// text in the compact form whatever the sender's spacing.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawJson, D::Error> {
        Value::deserialize(d).map(RawJson::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_as_the_value_not_a_string() {
        let v = json!({"b": [1, 2.5, null], "a": {"x": "é\"\n"}});
        let raw = RawJson::from(&v);
        assert_eq!(serde_json::to_string(&raw).unwrap(), v.to_string());
        assert_eq!(serde_json::to_value(&raw).unwrap(), v);
        assert_eq!(raw.as_str(), v.to_string());
        assert_eq!(raw, v);
    }

    #[test]
    fn deserialising_keeps_the_compact_form() {
        let raw: RawJson = serde_json::from_str(r#" { "b" : 1 , "a" : [ true ] } "#).unwrap();
        assert_eq!(raw.as_str(), r#"{"a":[true],"b":1}"#);
        assert_eq!(raw, RawJson::from(json!({"a": [true], "b": 1})));
    }

    #[test]
    fn a_damaged_payload_is_an_error_on_output_not_broken_json() {
        let bad = RawJson::from_stored("{\"a\":".into());
        assert!(bad.validate().is_err());
        assert!(bad.parse().is_err());
        assert!(serde_json::to_string(&bad).is_err());
        assert!(bad.pretty().contains("not JSON"));
        assert!(RawJson::null().validate().is_ok());
    }

    #[test]
    fn works_inside_an_internally_tagged_enum() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(tag = "type")]
        enum Msg {
            One { raw: RawJson },
        }
        let m = Msg::One {
            raw: json!({"id": 7}).into(),
        };
        let line = serde_json::to_string(&m).unwrap();
        assert_eq!(line, r#"{"type":"One","raw":{"id":7}}"#);
        assert_eq!(serde_json::from_str::<Msg>(&line).unwrap(), m);
    }
}

//! Compact binary values for stored events.
//!
//! JSON values cost ~4x the bytes and most of the ingest time (DESIGN.md, store table).
//! Layout (version 1): a version byte, then fields in `Event` order; strings are
//! varint-length-prefixed UTF-8; `occurred_at` lives in the key, not here. The raw
//! payload is its compact JSON text (as it has always been), handed back unparsed:
//! `doorwatch check` parses every stored payload, reads do not.

use crate::model::{Event, EventKind, RawJson, Ref, Severity, Vendor};
use chrono::{TimeZone, Utc};

const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
#[error("stored event is unreadable: {0}")]
pub struct DecodeError(pub &'static str);

pub fn encode(e: &Event) -> Vec<u8> {
    let raw = e.raw.as_str().as_bytes();
    let mut out = Vec::with_capacity(96 + e.summary.len() + raw.len());
    out.push(VERSION);
    put_varint(
        &mut out,
        zigzag(e.received_at.timestamp_millis() - e.occurred_at.timestamp_millis()),
    );
    put_str(&mut out, &e.id);
    put_str(&mut out, &e.source);
    out.push(vendor_code(e.vendor));
    put_str(&mut out, &e.kind.name());
    put_str(&mut out, &e.vendor_type);
    out.push(e.severity as u8);
    for r in [&e.door, &e.controller, &e.person, &e.site] {
        put_ref(&mut out, r.as_ref());
    }
    put_opt_str(&mut out, e.credential.as_deref());
    out.push(match e.success {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    put_str(&mut out, &e.summary);
    put_bytes(&mut out, raw);
    out
}

pub fn decode(occurred_ms: i64, bytes: &[u8]) -> Result<Event, DecodeError> {
    let mut r = Reader { b: bytes };
    if r.byte()? != VERSION {
        return Err(DecodeError("unknown value version"));
    }
    let received_ms = occurred_ms.saturating_add(unzigzag(r.varint()?));
    let id = r.string()?;
    let source = r.string()?;
    let vendor = match r.byte()? {
        0 => Vendor::Kisi,
        1 => Vendor::Pdk,
        2 => Vendor::Seam,
        3 => Vendor::Doorflow,
        _ => return Err(DecodeError("bad vendor")),
    };
    let kind = r.str()?.parse().unwrap_or(EventKind::Other);
    let vendor_type = r.string()?;
    let severity = *Severity::ALL
        .get(r.byte()? as usize)
        .ok_or(DecodeError("bad severity"))?;
    let door = r.opt_ref()?;
    let controller = r.opt_ref()?;
    let person = r.opt_ref()?;
    let site = r.opt_ref()?;
    let credential = r.opt_string()?;
    let success = match r.byte()? {
        0 => None,
        1 => Some(false),
        2 => Some(true),
        _ => return Err(DecodeError("bad success flag")),
    };
    let summary = r.string()?;
    let raw = RawJson::from_stored(r.string()?);
    let time = |ms| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .ok_or(DecodeError("bad time"))
    };
    Ok(Event {
        id,
        source,
        vendor,
        occurred_at: time(occurred_ms)?,
        received_at: time(received_ms)?,
        kind,
        vendor_type,
        severity,
        door,
        controller,
        person,
        site,
        credential,
        success,
        summary,
        raw,
    })
}

/// Just the id, without decoding the rest (dedupe checks on hash hits).
pub fn decode_id(bytes: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader { b: bytes };
    if r.byte()? != VERSION {
        return Err(DecodeError("unknown value version"));
    }
    r.varint()?;
    r.string()
}

fn vendor_code(v: Vendor) -> u8 {
    match v {
        Vendor::Kisi => 0,
        Vendor::Pdk => 1,
        Vendor::Seam => 2,
        Vendor::Doorflow => 3,
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

fn put_ref(out: &mut Vec<u8>, r: Option<&Ref>) {
    match r {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            put_str(out, &r.id);
            put_opt_str(out, r.name.as_deref());
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.b.split_first().ok_or(DecodeError("truncated"))?;
        self.b = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError("length"))?;
        if len > self.b.len() {
            return Err(DecodeError("truncated"));
        }
        let (head, rest) = self.b.split_at(len);
        self.b = rest;
        Ok(head)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError("bad UTF-8"))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.str().map(str::to_owned)
    }

    fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            _ => self.string().map(Some),
        }
    }

    fn opt_ref(&mut self) -> Result<Option<Ref>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            _ => Ok(Some(Ref {
                id: self.string()?,
                name: self.opt_string()?,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(summary: &str, name: Option<&str>, success: Option<bool>) -> Event {
        Event {
            id: "hq:1".into(),
            source: "hq".into(),
            vendor: Vendor::Seam,
            occurred_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            received_at: Utc.timestamp_millis_opt(1_700_000_000_100).unwrap(),
            kind: EventKind::admin("card_create"),
            vendor_type: "card.create".into(),
            severity: Severity::Warning,
            door: Some(Ref::new("d", name)),
            controller: None,
            person: Some(Ref::new("p", Some("Jane"))),
            site: None,
            credential: Some("1234".into()),
            success,
            summary: summary.into(),
            raw: serde_json::json!({"x": [1, 2, {"y": null}]}).into(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let e = event("Jane did a thing", Some("Front"), Some(false));
        let back = decode(e.occurred_at.timestamp_millis(), &encode(&e)).unwrap();
        assert_eq!(back, e);
        assert_eq!(decode_id(&encode(&e)).unwrap(), "hq:1");
    }

    #[test]
    fn the_payload_is_stored_as_before_and_read_back_unparsed() {
        let e = event("s", None, None);
        let b = encode(&e);
        // What earlier versions stored: serde_json's compact text of the payload Value.
        let old = serde_json::to_vec(&serde_json::json!({"x": [1, 2, {"y": null}]})).unwrap();
        assert!(
            b.ends_with(&old),
            "the payload is the body's last field, as before"
        );
        // A payload that is not JSON reads back as text (reads do not parse it);
        // `check` is what finds it.
        let mut forged = b[..b.len() - old.len() - 1].to_vec();
        put_bytes(&mut forged, b"{\"x\":");
        let back = decode(e.occurred_at.timestamp_millis(), &forged).unwrap();
        assert_eq!(back.raw.as_str(), "{\"x\":");
        assert!(back.raw.validate().is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(0, &[]).is_err());
        assert!(decode(0, &[1, 0xff, 0xff]).is_err());
        let mut b = encode(&event("s", None, None));
        b.truncate(b.len() - 3);
        assert!(decode(0, &b).is_err());
    }

    proptest! {
        #[test]
        fn round_trips_any_text(summary in ".{0,80}", name in proptest::option::of(".{0,20}"), ok in proptest::option::of(any::<bool>())) {
            let e = event(&summary, name.as_deref(), ok);
            prop_assert_eq!(decode(e.occurred_at.timestamp_millis(), &encode(&e)).unwrap(), e);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(0, &bytes);
        }
    }
}

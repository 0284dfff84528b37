//! Webhook signature checks for the vendors that push: Kisi (`X-Signature`), Seam (Svix
//! `svix-*` / `webhook-*` headers) and DoorFlow (`Signature` + `Timestamp`).
//!
//! Pure: bytes and header values in, a verdict out. No HTTP framework, no clock, no I/O;
//! the caller passes the raw request body (before any JSON parsing), a header lookup and
//! the current unix time. Nothing here panics on any input.
//!
//! Header lookups (`headers: &dyn Fn(&str) -> Option<String>`) are always called with
//! **lowercase** names, so a case-insensitive map (e.g. `http::HeaderMap`) works directly:
//! `&|n| map.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned)`. A value that is
//! absent or empty after trimming counts as missing.
//!
//! Constant time: every MAC comparison goes through `hmac`'s `Mac::verify_slice`, which
//! compares the full 32-byte tag with `subtle`'s constant-time equality (no early exit on
//! the first differing byte), so response timing does not reveal how much of a forged
//! signature was right. Decoding the *received* signature (hex/base64) is not constant
//! time, but it only touches attacker-supplied data, never the expected MAC. Which of
//! several candidate encodings/entries matched may leak through timing; that reveals
//! nothing about the secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 output length in bytes.
const MAC_LEN: usize = 32;

/// Header values longer than this are rejected before any decoding (a legitimate
/// signature header is under 100 bytes; Svix may send a few entries during key rotation).
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// Svix (Seam) timestamp tolerance, both directions, in seconds.
pub const SVIX_TOLERANCE_SECS: i64 = 5 * 60;

/// DoorFlow timestamp tolerance, both directions, in seconds. The DoorFlow docs cut off
/// before stating a window (and the vendor SDK checks none); the brief says ±5 minutes.
pub const DOORFLOW_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a webhook delivery was not accepted. `Display` never includes the secret or the
/// received signature/header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header is absent or empty. Holds the header's name.
    MissingHeader(&'static str),
    /// Well-formed, but no signature matches the body under the configured secret.
    BadSignature,
    /// The signed timestamp is outside the tolerance window. `skew_secs` is
    /// `now - timestamp`: positive means the delivery is that old, negative that it claims
    /// to come from the future.
    StaleTimestamp { skew_secs: i64 },
    /// A header is present but cannot be understood (bad encoding, not a number, too long).
    Malformed(String),
    /// The configured secret is unusable (empty, or a Svix secret that is not base64).
    /// A configuration problem, not the sender's fault. Holds a reason, never the secret.
    InvalidSecret(&'static str),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(h) => write!(f, "missing or empty {h} header"),
            VerifyError::BadSignature => write!(
                f,
                "webhook signature does not match (wrong secret or altered body)"
            ),
            VerifyError::StaleTimestamp { skew_secs } if *skew_secs >= 0 => write!(
                f,
                "webhook timestamp is {skew_secs} s old, outside the allowed window"
            ),
            VerifyError::StaleTimestamp { skew_secs } => write!(
                f,
                "webhook timestamp is {} s in the future, outside the allowed window",
                skew_secs.unsigned_abs()
            ),
            VerifyError::Malformed(why) => write!(f, "malformed webhook header: {why}"),
            VerifyError::InvalidSecret(why) => {
                write!(f, "configured webhook secret is unusable: {why}")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verify a Kisi `X-Signature` header (kisi.md §9.3).
///
/// MAC = HMAC-SHA256(key = `signature_key` bytes, msg = raw body). The header may carry an
/// optional `sha256=` prefix (any case) and surrounding whitespace; the MAC may be hex (any
/// case) or standard base64 (padding optional), since Kisi does not document which.
pub fn verify_kisi(
    secret: &[u8],
    body: &[u8],
    x_signature: Option<&str>,
) -> Result<(), VerifyError> {
    const HEADER: &str = "X-Signature";
    let mac = keyed(secret)?;
    let sig = present(HEADER, x_signature)?;
    let sig = strip_prefix_ignore_case(sig, "sha256=").trim();

    // Both encodings are tried; each candidate must decode to exactly 32 bytes. A 64-char
    // hex string is also valid base64 but decodes to 48 bytes, and a 44-char base64
    // string is never valid hex of 32 bytes, so the two forms cannot be confused.
    let candidates: Vec<Vec<u8>> = [hex::decode(sig).ok(), B64.decode(sig).ok()]
        .into_iter()
        .flatten()
        .filter(|c| c.len() == MAC_LEN)
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::Malformed(format!(
            "{HEADER} is neither hex nor base64 of a 32-byte HMAC-SHA256"
        )));
    }
    check_any(mac, &[body], &candidates)
}

/// Verify a Svix-delivered webhook (Seam; seam.md "Webhooks (push)").
///
/// Reads `svix-id`, `svix-timestamp`, `svix-signature`, or, if that set is incomplete,
/// the unbranded `webhook-id`, `webhook-timestamp`, `webhook-signature` (the two sets
/// are not mixed). The secret is `whsec_` + base64; the prefix is optional, as in
/// Svix's own libraries. Signed content is `"{id}.{timestamp}.{body}"`; the signature
/// header is space-separated `v1,<base64>` entries (other versions are ignored) and any
/// matching entry is enough. The timestamp (unix seconds) must be within
/// [`SVIX_TOLERANCE_SECS`] of `now_unix` in either direction.
pub fn verify_svix(
    secret_whsec: &str,
    headers: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let key = svix_key(secret_whsec)?;
    let mac = keyed(&key)?;

    const BRANDED: [&str; 3] = ["svix-id", "svix-timestamp", "svix-signature"];
    const UNBRANDED: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];
    let lookup = |names: [&'static str; 3]| names.map(|n| nonempty(headers(n)));
    let branded = lookup(BRANDED);
    let (names, values) = if branded.iter().all(Option::is_some) {
        (BRANDED, branded)
    } else {
        let unbranded = lookup(UNBRANDED);
        if unbranded.iter().all(Option::is_some) {
            (UNBRANDED, unbranded)
        } else {
            // Name the first missing header of whichever set the sender seems to use.
            let count = |v: &[Option<String>; 3]| v.iter().filter(|x| x.is_some()).count();
            let (names, values) = if count(&unbranded) > count(&branded) {
                (UNBRANDED, unbranded)
            } else {
                (BRANDED, branded)
            };
            let missing = names
                .iter()
                .zip(values.iter())
                .find(|(_, v)| v.is_none())
                .map_or(names[0], |(n, _)| *n);
            return Err(VerifyError::MissingHeader(missing));
        }
    };
    let [Some(id), Some(ts), Some(sig)] = values else {
        // All three were checked to be present above.
        return Err(VerifyError::MissingHeader(names[0]));
    };
    let [id_name, ts_name, sig_name] = names;
    for (name, value) in [(id_name, &id), (ts_name, &ts), (sig_name, &sig)] {
        bounded(name, value)?;
    }

    check_timestamp(ts_name, &ts, now_unix, SVIX_TOLERANCE_SECS)?;

    let mut candidates = Vec::new();
    for entry in sig.split_ascii_whitespace() {
        if let Some(("v1", b64)) = entry.split_once(',')
            && let Ok(tag) = B64.decode(b64)
            && tag.len() == MAC_LEN
        {
            candidates.push(tag);
        }
    }
    if candidates.is_empty() {
        return Err(VerifyError::Malformed(format!(
            "{sig_name} has no v1,<base64 of 32 bytes> entry"
        )));
    }
    check_any(
        mac,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
        &candidates,
    )
}

/// Verify a DoorFlow app webhook (doorflow.md §6.1).
///
/// Headers `Signature` (hex of HMAC-SHA256, any case) and `Timestamp` (unix seconds);
/// MAC over `"{Timestamp}.{raw body}"` with the webhook secret's bytes as key. The
/// timestamp must be within [`DOORFLOW_TOLERANCE_SECS`] of `now_unix` either way.
pub fn verify_doorflow(
    secret: &[u8],
    headers: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    const SIG: &str = "Signature";
    const TS: &str = "Timestamp";
    let mac = keyed(secret)?;
    let sig = nonempty(headers("signature")).ok_or(VerifyError::MissingHeader(SIG))?;
    let ts = nonempty(headers("timestamp")).ok_or(VerifyError::MissingHeader(TS))?;
    bounded(SIG, &sig)?;
    bounded(TS, &ts)?;

    check_timestamp(TS, &ts, now_unix, DOORFLOW_TOLERANCE_SECS)?;

    let tag = match hex::decode(&sig) {
        Ok(tag) if tag.len() == MAC_LEN => tag,
        _ => {
            return Err(VerifyError::Malformed(format!(
                "{SIG} is not 64 hex digits"
            )));
        }
    };
    check_any(mac, &[ts.as_bytes(), b".", body], &[tag])
}

// ---------------------------------------------------------------------------------------

/// An HMAC-SHA256 keyed with `secret`; empty secrets are refused (anyone could sign).
fn keyed(secret: &[u8]) -> Result<HmacSha256, VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::InvalidSecret("empty"));
    }
    // HMAC accepts keys of any length, so this cannot fail; mapped anyway, not unwrapped.
    HmacSha256::new_from_slice(secret).map_err(|_| VerifyError::InvalidSecret("rejected by HMAC"))
}

/// Decode a Svix secret: optional `whsec_` prefix, then standard base64.
fn svix_key(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let s = secret.trim();
    let s = s.strip_prefix("whsec_").unwrap_or(s);
    match B64.decode(s) {
        Ok(k) if !k.is_empty() => Ok(k),
        Ok(_) => Err(VerifyError::InvalidSecret("empty")),
        Err(_) => Err(VerifyError::InvalidSecret("not whsec_ followed by base64")),
    }
}

/// Feed `parts` to `mac` and accept if any candidate tag matches (constant-time per tag,
/// via `verify_slice`).
fn check_any(
    mut mac: HmacSha256,
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Result<(), VerifyError> {
    for p in parts {
        mac.update(p);
    }
    let mut ok = false;
    for tag in candidates {
        // No short-circuit: every candidate is checked, so timing does not even show
        // which entry matched.
        ok |= mac.clone().verify_slice(tag).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Parse a unix-seconds timestamp header and check it against `now` ± `tolerance`.
fn check_timestamp(
    name: &'static str,
    ts: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), VerifyError> {
    if ts.is_empty() || ts.len() > 19 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed(format!(
            "{name} is not unix seconds"
        )));
    }
    let ts: i64 = ts
        .parse()
        .map_err(|_| VerifyError::Malformed(format!("{name} is out of range")))?;
    let skew = now.saturating_sub(ts);
    if skew.unsigned_abs() > tolerance.unsigned_abs() {
        return Err(VerifyError::StaleTimestamp { skew_secs: skew });
    }
    Ok(())
}

fn present<'a>(name: &'static str, v: Option<&'a str>) -> Result<&'a str, VerifyError> {
    let v = v.map(str::trim).filter(|s| !s.is_empty());
    let v = v.ok_or(VerifyError::MissingHeader(name))?;
    bounded(name, v)?;
    Ok(v)
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn bounded(name: &str, v: &str) -> Result<(), VerifyError> {
    if v.len() > MAX_HEADER_LEN {
        return Err(VerifyError::Malformed(format!(
            "{name} is longer than {MAX_HEADER_LEN} bytes"
        )));
    }
    Ok(())
}

/// `s` without a leading `prefix` compared ASCII-case-insensitively (no char-boundary
/// panics: `get` returns `None` when the cut would split a character).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> &'a str {
    match (s.get(..prefix.len()), s.get(prefix.len()..)) {
        (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn mac_of(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = HmacSha256::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    fn hdrs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        move |n: &str| map.get(n).cloned()
    }

    // ---- Kisi -------------------------------------------------------------------------

    // Fixed vector from Python:
    //   hmac.new(b"kisi-test-key", KISI_BODY, hashlib.sha256).hexdigest() / base64
    const KISI_KEY: &[u8] = b"kisi-test-key";
    const KISI_BODY: &[u8] =
        br#"{"uuid":"0b7c0e1e-1111-4d2a-9c3e-abcdef012345","action":"unlock","success":true}"#;
    const KISI_HEX: &str = "a6a6c693f112d4ec93acdcdbdf489add0aee38c4f3d0e68a5e850887ae3a3e92";
    const KISI_B64: &str = "pqbGk/ES1OyTrNzb30ia3QruOMTz0OaKXoUIh646PpI=";

    #[test]
    fn kisi_python_vector_all_forms() {
        for sig in [
            KISI_HEX.to_string(),
            KISI_HEX.to_ascii_uppercase(),
            format!("sha256={KISI_HEX}"),
            format!("SHA256={}", KISI_HEX.to_ascii_uppercase()),
            format!("  sha256= {KISI_HEX} "),
            KISI_B64.to_string(),
            KISI_B64.trim_end_matches('=').to_string(),
            format!("sha256={KISI_B64}"),
        ] {
            assert_eq!(
                verify_kisi(KISI_KEY, KISI_BODY, Some(&sig)),
                Ok(()),
                "{sig}"
            );
        }
    }

    #[test]
    fn kisi_matches_independent_mac() {
        let body = b"[{\"uuid\":\"x\"}]";
        let tag = mac_of(b"k2", &[body]);
        assert_eq!(verify_kisi(b"k2", body, Some(&hex::encode(&tag))), Ok(()));
        assert_eq!(verify_kisi(b"k2", body, Some(&B64.encode(&tag))), Ok(()));
    }

    #[test]
    fn kisi_rejections() {
        assert_eq!(
            verify_kisi(b"wrong-key", KISI_BODY, Some(KISI_HEX)),
            Err(VerifyError::BadSignature)
        );
        let mut tampered = KISI_BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_kisi(KISI_KEY, &tampered, Some(KISI_HEX)),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_kisi(KISI_KEY, KISI_BODY, None),
            Err(VerifyError::MissingHeader("X-Signature"))
        );
        assert_eq!(
            verify_kisi(KISI_KEY, KISI_BODY, Some("   ")),
            Err(VerifyError::MissingHeader("X-Signature"))
        );
        assert!(matches!(
            verify_kisi(KISI_KEY, KISI_BODY, Some("sha256=zzzz")),
            Err(VerifyError::Malformed(_))
        ));
        // Truncated hex is malformed (wrong length), never a prefix match.
        assert!(matches!(
            verify_kisi(KISI_KEY, KISI_BODY, Some(&KISI_HEX[..62])),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(
            verify_kisi(b"", KISI_BODY, Some(KISI_HEX)),
            Err(VerifyError::InvalidSecret("empty"))
        );
        let huge = "a".repeat(MAX_HEADER_LEN + 1);
        assert!(matches!(
            verify_kisi(KISI_KEY, KISI_BODY, Some(&huge)),
            Err(VerifyError::Malformed(_))
        ));
        // Multi-byte characters around the prefix cut don't panic.
        assert!(verify_kisi(KISI_KEY, KISI_BODY, Some("shé256=ab")).is_err());
    }

    // ---- Svix / Seam ------------------------------------------------------------------

    // Fixed vector from Python: key = bytes(range(1, 25)),
    //   base64(hmac.new(key, b"msg_2Lh9KRbM0Kj3Wzj0ZWS2zGcLRx4.1700000000." + body, sha256))
    const SVIX_SECRET: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY";
    const SVIX_ID: &str = "msg_2Lh9KRbM0Kj3Wzj0ZWS2zGcLRx4";
    const SVIX_TS: i64 = 1_700_000_000;
    const SVIX_BODY: &[u8] = br#"{"event_id":"e1","event_type":"lock.unlocked"}"#;
    const SVIX_SIG: &str = "cGAifK1JHXkuhTCnhevbuZ2LxD6hGDlQ+03HelKaL4g=";

    fn svix_hdrs(prefix: &str, sig: &str, ts: i64) -> impl Fn(&str) -> Option<String> + use<> {
        hdrs(&[
            (&format!("{prefix}-id"), SVIX_ID),
            (&format!("{prefix}-timestamp"), &ts.to_string()),
            (&format!("{prefix}-signature"), sig),
        ])
    }

    #[test]
    fn svix_python_vector() {
        let h = svix_hdrs("svix", &format!("v1,{SVIX_SIG}"), SVIX_TS);
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS + 10),
            Ok(())
        );
    }

    #[test]
    fn svix_documented_example() {
        // The example published in Svix's verification docs (re-checked with Python).
        let h = hdrs(&[
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("svix-timestamp", "1614265330"),
            (
                "svix-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        assert_eq!(
            verify_svix(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                &h,
                br#"{"test": 2432232314}"#,
                1_614_265_330
            ),
            Ok(())
        );
    }

    #[test]
    fn svix_independent_mac_and_unbranded_headers() {
        let key = B64.decode(&SVIX_SECRET[6..]).unwrap();
        let ts = SVIX_TS.to_string();
        let tag = mac_of(
            &key,
            &[SVIX_ID.as_bytes(), b".", ts.as_bytes(), b".", SVIX_BODY],
        );
        let sig = format!("v1,{}", B64.encode(tag));
        let h = svix_hdrs("webhook", &sig, SVIX_TS);
        assert_eq!(verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS), Ok(()));
        // Secret without the whsec_ prefix also works.
        assert_eq!(
            verify_svix(&SVIX_SECRET[6..], &h, SVIX_BODY, SVIX_TS),
            Ok(())
        );
    }

    #[test]
    fn svix_multiple_entries_one_valid() {
        let bogus = B64.encode([7u8; 32]);
        let sig = format!("v1,{bogus} v1a,{SVIX_SIG} garbage v2,{SVIX_SIG}  v1,{SVIX_SIG}");
        let h = svix_hdrs("svix", &sig, SVIX_TS);
        assert_eq!(verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS), Ok(()));
        // Only non-v1 entries carry the right MAC: not accepted.
        let sig = format!("v1,{bogus} v1a,{SVIX_SIG} v2,{SVIX_SIG}");
        let h = svix_hdrs("svix", &sig, SVIX_TS);
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn svix_rejections() {
        let good = format!("v1,{SVIX_SIG}");
        let h = svix_hdrs("svix", &good, SVIX_TS);
        assert_eq!(
            verify_svix("whsec_d3Jvbmcgc2VjcmV0IGtleSEh", &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, b"{\"event_id\":\"e2\"}", SVIX_TS),
            Err(VerifyError::BadSignature)
        );
        // A different timestamp header than the one signed.
        let h2 = svix_hdrs("svix", &good, SVIX_TS + 1);
        assert_eq!(
            verify_svix(SVIX_SECRET, &h2, SVIX_BODY, SVIX_TS),
            Err(VerifyError::BadSignature)
        );
        // Stale and future, just past the edge; the edge itself is accepted.
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS + 300),
            Ok(())
        );
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS - 300),
            Ok(())
        );
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS + 301),
            Err(VerifyError::StaleTimestamp { skew_secs: 301 })
        );
        assert_eq!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS - 301),
            Err(VerifyError::StaleTimestamp { skew_secs: -301 })
        );
        // Missing headers.
        let none = hdrs(&[]);
        assert_eq!(
            verify_svix(SVIX_SECRET, &none, SVIX_BODY, SVIX_TS),
            Err(VerifyError::MissingHeader("svix-id"))
        );
        let partial = hdrs(&[("webhook-id", SVIX_ID), ("webhook-signature", &good)]);
        assert_eq!(
            verify_svix(SVIX_SECRET, &partial, SVIX_BODY, SVIX_TS),
            Err(VerifyError::MissingHeader("webhook-timestamp"))
        );
        let partial = hdrs(&[("svix-id", SVIX_ID), ("svix-timestamp", "1700000000")]);
        assert_eq!(
            verify_svix(SVIX_SECRET, &partial, SVIX_BODY, SVIX_TS),
            Err(VerifyError::MissingHeader("svix-signature"))
        );
        // Malformed pieces.
        let h = svix_hdrs("svix", "v1,not*base64", SVIX_TS);
        assert!(matches!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::Malformed(_))
        ));
        let h = hdrs(&[
            ("svix-id", SVIX_ID),
            ("svix-timestamp", "soon"),
            ("svix-signature", &good),
        ]);
        assert!(matches!(
            verify_svix(SVIX_SECRET, &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::Malformed(_))
        ));
        let h = svix_hdrs("svix", &good, SVIX_TS);
        assert_eq!(
            verify_svix("whsec_!!!", &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::InvalidSecret("not whsec_ followed by base64"))
        );
        assert_eq!(
            verify_svix("whsec_", &h, SVIX_BODY, SVIX_TS),
            Err(VerifyError::InvalidSecret("empty"))
        );
    }

    // ---- DoorFlow ---------------------------------------------------------------------

    // Fixed vector from Python:
    //   hmac.new(b"doorflow-secret", b"1700000123." + DF_BODY, hashlib.sha256).hexdigest()
    const DF_KEY: &[u8] = b"doorflow-secret";
    const DF_TS: i64 = 1_700_000_123;
    const DF_BODY: &[u8] = br#"[{"action":"CREATE","resource_type":"Event","resource_id":"98321","account_id":"nbYfy7","ack_token":"abc123"}]"#;
    const DF_SIG: &str = "4a9f575f1019dd12b80a166ae8126e2c19e58902adcc4b7643e1ca2d56e3f56a";

    fn df_hdrs(sig: &str, ts: &str) -> impl Fn(&str) -> Option<String> + use<> {
        // Mixed-case names as a client would send; the lookup is by lowercase name.
        hdrs(&[("Signature", sig), ("Timestamp", ts)])
    }

    #[test]
    fn doorflow_python_vector_and_upper_hex() {
        let ts = DF_TS.to_string();
        assert_eq!(
            verify_doorflow(DF_KEY, &df_hdrs(DF_SIG, &ts), DF_BODY, DF_TS),
            Ok(())
        );
        let upper = DF_SIG.to_ascii_uppercase();
        assert_eq!(
            verify_doorflow(DF_KEY, &df_hdrs(&upper, &ts), DF_BODY, DF_TS - 60),
            Ok(())
        );
        let tag = mac_of(b"k3", &[b"42.", b"[]"]);
        assert_eq!(
            verify_doorflow(b"k3", &df_hdrs(&hex::encode(tag), "42"), b"[]", 42),
            Ok(())
        );
    }

    #[test]
    fn doorflow_rejections() {
        let ts = DF_TS.to_string();
        let h = df_hdrs(DF_SIG, &ts);
        assert_eq!(
            verify_doorflow(b"other", &h, DF_BODY, DF_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &h, b"[]", DF_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &df_hdrs(DF_SIG, "1700000124"), DF_BODY, DF_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &h, DF_BODY, DF_TS + 3600),
            Err(VerifyError::StaleTimestamp { skew_secs: 3600 })
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &h, DF_BODY, DF_TS - 301),
            Err(VerifyError::StaleTimestamp { skew_secs: -301 })
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &hdrs(&[("Timestamp", &ts)]), DF_BODY, DF_TS),
            Err(VerifyError::MissingHeader("Signature"))
        );
        assert_eq!(
            verify_doorflow(DF_KEY, &hdrs(&[("Signature", DF_SIG)]), DF_BODY, DF_TS),
            Err(VerifyError::MissingHeader("Timestamp"))
        );
        assert!(matches!(
            verify_doorflow(
                DF_KEY,
                &df_hdrs(&format!("sha256={DF_SIG}"), &ts),
                DF_BODY,
                DF_TS
            ),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify_doorflow(DF_KEY, &df_hdrs(DF_SIG, "-5"), DF_BODY, DF_TS),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify_doorflow(
                DF_KEY,
                &df_hdrs(DF_SIG, "99999999999999999999"),
                DF_BODY,
                DF_TS
            ),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(
            verify_doorflow(b"", &h, DF_BODY, DF_TS),
            Err(VerifyError::InvalidSecret("empty"))
        );
    }

    #[test]
    fn display_never_shows_secret_or_signature() {
        let ts = DF_TS.to_string();
        let errs = [
            verify_kisi(b"hunter2hunter2", KISI_BODY, Some(KISI_HEX)).unwrap_err(),
            verify_kisi(b"hunter2hunter2", KISI_BODY, Some("hunter2")).unwrap_err(),
            verify_svix("whsec_hunter2", &hdrs(&[]), b"", 0).unwrap_err(),
            verify_doorflow(b"hunter2hunter2", &df_hdrs(DF_SIG, &ts), DF_BODY, 0).unwrap_err(),
            verify_doorflow(b"hunter2hunter2", &df_hdrs("hunter2", &ts), DF_BODY, DF_TS)
                .unwrap_err(),
        ];
        for e in errs {
            let s = e.to_string();
            assert!(
                !s.contains("hunter2") && !s.contains(DF_SIG) && !s.contains(KISI_HEX),
                "{s}"
            );
        }
        assert_eq!(
            VerifyError::StaleTimestamp { skew_secs: -400 }.to_string(),
            "webhook timestamp is 400 s in the future, outside the allowed window"
        );
    }

    #[test]
    fn extreme_clock_values_do_not_overflow() {
        let h = svix_hdrs("svix", &format!("v1,{SVIX_SIG}"), SVIX_TS);
        for now in [i64::MIN, i64::MAX, 0, -1] {
            assert!(matches!(
                verify_svix(SVIX_SECRET, &h, SVIX_BODY, now),
                Err(VerifyError::StaleTimestamp { .. })
            ));
        }
        let h = df_hdrs(DF_SIG, "9223372036854775807");
        assert!(verify_doorflow(DF_KEY, &h, DF_BODY, i64::MIN).is_err());
    }

    /// Header values: arbitrary text, arbitrary bytes made UTF-8 (the only way non-UTF-8
    /// can reach a `&str`), and near-miss shapes that get further into the parsers.
    fn header_value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            any::<String>().prop_map(Some),
            proptest::collection::vec(any::<u8>(), 0..300)
                .prop_map(|b| Some(String::from_utf8_lossy(&b).into_owned())),
            "(sha256=|v1,|v1a,| )*[0-9a-fA-F+/=, ]{0,100}".prop_map(Some),
            "-?[0-9]{0,25}".prop_map(Some),
            (0usize..3).prop_map(|n| Some("v1,".repeat(n * 2000))),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_inputs_never_panic(
            secret in proptest::collection::vec(any::<u8>(), 0..80),
            secret_str in any::<String>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            vals in proptest::collection::vec(header_value(), 6),
            now in any::<i64>(),
        ) {
            let names = [
                "svix-id", "svix-timestamp", "svix-signature",
                "webhook-id", "webhook-timestamp", "webhook-signature",
            ];
            let map: HashMap<&str, Option<String>> =
                names.iter().copied().zip(vals.iter().cloned()).collect();
            let h = |n: &str| map.get(n).cloned().flatten();
            let df = |n: &str| match n {
                "signature" => vals[0].clone(),
                "timestamp" => vals[1].clone(),
                _ => None,
            };
            let _ = verify_kisi(&secret, &body, vals[2].as_deref());
            let _ = verify_svix(&secret_str, &h, &body, now);
            let _ = verify_svix(SVIX_SECRET, &h, &body, now);
            let _ = verify_doorflow(&secret, &df, &body, now);
            if let Err(e) = verify_doorflow(DF_KEY, &df, &body, now) {
                let _ = e.to_string();
            }
        }
    }
}

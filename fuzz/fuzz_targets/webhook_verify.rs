//! Webhook signature verifiers: arbitrary secrets, headers and bodies never panic, and
//! nothing but the true MAC is accepted.
#![no_main]

use doorwatch::sources::webhook_verify::{verify_doorflow, verify_kisi, verify_svix};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_795_000_000;

fuzz_target!(|data: &[u8]| {
    // secret \0 header1 \0 header2 \0 header3 \0 body
    let mut parts = data.splitn(5, |&b| b == 0);
    let secret = parts.next().unwrap_or_default();
    let h: Vec<String> = (0..3)
        .map(|_| String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned())
        .collect();
    let body = parts.next().unwrap_or_default();

    // A random header matching an HMAC-SHA256 is a 2^-256 event: acceptance means a bug.
    assert!(verify_kisi(secret, body, Some(&h[0])).is_err());
    let svix = |n: &str| match n {
        "svix-id" | "webhook-id" => Some(h[0].clone()),
        "svix-timestamp" | "webhook-timestamp" => Some(NOW.to_string()),
        "svix-signature" | "webhook-signature" => Some(h[2].clone()),
        _ => None,
    };
    assert!(verify_svix(&String::from_utf8_lossy(secret), &svix, body, NOW).is_err());
    let df = |n: &str| match n {
        "signature" => Some(h[1].clone()),
        "timestamp" => Some(h[2].clone()),
        _ => None,
    };
    assert!(verify_doorflow(secret, &df, body, NOW).is_err());
});

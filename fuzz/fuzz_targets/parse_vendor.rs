//! Vendor parsers: the first byte picks the vendor, the rest is an import file / page.
#![no_main]

use chrono::{TimeZone, Utc};
use doorwatch::model::Vendor;
use doorwatch::sources::{self, ParseContext};
use libfuzzer_sys::fuzz_target;

const VENDORS: [Vendor; 4] = [Vendor::Kisi, Vendor::Pdk, Vendor::Seam, Vendor::Doorflow];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let vendor = VENDORS[usize::from(which) % VENDORS.len()];
    let text = String::from_utf8_lossy(rest);
    let ctx = ParseContext {
        source: "fz",
        received_at: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    };
    let (items, _) = sources::split_import(vendor, &text);
    for item in &items {
        let _ = sources::page_items(vendor, item);
        if vendor == Vendor::Pdk
            && let Some(topic) = item.get("topic").and_then(|t| t.as_str())
        {
            let body = item.get("body").cloned().unwrap_or_default();
            let _ = sources::pdk::parse_topic(&ctx, topic, &body);
        }
    }
    for r in sources::parse_batch(vendor, &ctx, items) {
        if let Ok(e) = r {
            assert!(e.id.starts_with("fz:") && e.id.len() > 3, "id {:?}", e.id);
            serde_json::to_string(&e).unwrap();
        }
    }
});

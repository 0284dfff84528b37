//! The search query parser: errors point inside the query, at char boundaries.
#![no_main]

use chrono::{TimeZone, Utc};
use doorwatch::search::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    if let Err(e) = Query::parse(text, now) {
        assert!(e.start <= e.end && e.end <= text.len(), "{e:?}");
        assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end));
        let _ = e.pointer(text);
        let _ = e.to_string();
    }
});

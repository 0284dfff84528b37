//! Vendor sources. Each vendor module turns that vendor's payloads into [`Event`]s
//! (`parse`), and its `live` submodule fetches or receives them over the vendor's
//! protocol (one tokio task per configured `[[source]]`, see [`spawn`]).
//!
//! The parse half is pure: a payload in, an event or a reasoned rejection out. Nothing
//! here may panic on any input; unknown types become `EventKind::Other`.

pub mod doorflow;
pub mod fields;
pub mod kisi;
pub mod pdk;
pub mod runtime;
pub mod seam;
pub mod socketio;
pub mod webhook;
pub mod webhook_verify;

use crate::model::{Event, Vendor};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Start a configured source's task.
pub fn spawn(ctx: runtime::SourceCtx) -> tokio::task::JoinHandle<()> {
    if !ctx.config.polls() {
        return tokio::spawn(webhook::webhook_only(ctx));
    }
    match ctx.vendor() {
        Vendor::Kisi => tokio::spawn(kisi::live::run(ctx)),
        Vendor::Pdk => tokio::spawn(pdk::live::run(ctx)),
        Vendor::Seam => tokio::spawn(seam::live::run(ctx)),
        Vendor::Doorflow => tokio::spawn(doorflow::live::run(ctx)),
    }
}

/// What every parse call needs to know besides the payload.
#[derive(Debug, Clone)]
pub struct ParseContext<'a> {
    /// The configured source's name; prefixes event ids.
    pub source: &'a str,
    /// When we got the payload.
    pub received_at: DateTime<Utc>,
}

/// Why a payload could not become an event. The text is shown to operators and
/// stored beside the raw payload in quarantine, so it says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

/// A payload that did not parse, kept raw with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The payload exactly as received (JSON text, or the bad line itself).
    pub raw: String,
    pub error: String,
}

/// Parse a batch of vendor items (one import file, one fetched page, one stream burst).
///
/// Batch-level because PDK's `liveEvent` companions enrich another item of the batch
/// instead of becoming events of their own.
pub fn parse_batch(
    vendor: Vendor,
    ctx: &ParseContext,
    items: Vec<Value>,
) -> Vec<Result<Event, Rejected>> {
    type ParseOne = fn(&ParseContext, &Value) -> Result<Event, ParseError>;
    let parse: ParseOne = match vendor {
        Vendor::Pdk => return pdk::parse_batch(ctx, items),
        Vendor::Kisi => kisi::parse,
        Vendor::Seam => seam::parse,
        Vendor::Doorflow => doorflow::parse,
    };
    items
        .into_iter()
        .map(|item| {
            parse(ctx, &item).map_err(|e| Rejected {
                raw: item.to_string(),
                error: e.to_string(),
            })
        })
        .collect()
}

/// If `v` is one of `vendor`'s list pages (`{"events": [...]}` for Seam, an event set
/// for Kisi, ...), the event items on it.
pub fn page_items(vendor: Vendor, v: &Value) -> Option<Vec<Value>> {
    match vendor {
        Vendor::Kisi => kisi::page_items(v),
        Vendor::Pdk => pdk::page_items(v),
        Vendor::Seam => seam::page_items(v),
        Vendor::Doorflow => doorflow::page_items(v),
    }
}

/// Split an import file into vendor items: a JSON array, a vendor list page, a single
/// object, or JSON lines. Lines that are not JSON come back rejected, raw, with the
/// line number, so a file with garbage lines still imports its good lines.
pub fn split_import(vendor: Vendor, text: &str) -> (Vec<Value>, Vec<Rejected>) {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // A whole-document parse first: arrays, pages and pretty-printed single objects.
    if let Ok(doc) = serde_json::from_str::<Value>(trimmed) {
        if let Some(items) = page_items(vendor, &doc) {
            return (items, Vec::new());
        }
        return match doc {
            Value::Array(items) => (items, Vec::new()),
            other => (vec![other], Vec::new()),
        };
    }
    let mut items = Vec::new();
    let mut rejected = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => match page_items(vendor, &v) {
                Some(page) => items.extend(page),
                None => match v {
                    Value::Array(many) => items.extend(many),
                    one => items.push(one),
                },
            },
            Err(e) => rejected.push(Rejected {
                raw: line.to_string(),
                error: format!("line {}: not JSON: {e}", n + 1),
            }),
        }
    }
    (items, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_with_garbage_keep_good_lines() {
        let text = "{\"a\":1}\nnot json at all\n\n[{\"b\":2},{\"c\":3}]\n";
        let (items, rejected) = split_import(Vendor::Doorflow, text);
        assert_eq!(items.len(), 3);
        assert_eq!(rejected.len(), 1);
        assert!(
            rejected[0].error.starts_with("line 2: not JSON"),
            "{}",
            rejected[0].error
        );
        assert_eq!(rejected[0].raw, "not json at all");
    }

    #[test]
    fn whole_array_and_single_object() {
        let (items, rejected) = split_import(Vendor::Kisi, "[{\"a\":1},\n {\"b\":2}]");
        assert_eq!((items.len(), rejected.len()), (2, 0));
        let (items, _) = split_import(Vendor::Kisi, "{\n \"a\": 1\n}\n");
        assert_eq!(items.len(), 1);
    }
}

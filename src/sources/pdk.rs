//! PDK payloads → unified events. (Being written: see tests/fixtures/pdk/.)

use super::{ParseContext, ParseError, Rejected};
use crate::model::Event;
use serde_json::Value;

/// Parse one PDK item: `{"topic": T, "body": B}` or a payload carrying its own `topic`.
pub fn parse(_ctx: &ParseContext, _item: &Value) -> Result<Event, ParseError> {
    Err(ParseError::new("pdk parser not written yet"))
}

/// Parse a batch; `liveEvent` companions enrich their primary event's summary.
pub fn parse_batch(ctx: &ParseContext, items: Vec<Value>) -> Vec<Result<Event, Rejected>> {
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

/// PDK has no list page format of its own.
pub fn page_items(_v: &Value) -> Option<Vec<Value>> {
    None
}

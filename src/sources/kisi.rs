//! kisi payloads → unified events. (Being written: see tests/fixtures/kisi/.)

use super::{ParseContext, ParseError};
use crate::model::Event;
use serde_json::Value;

/// Parse one kisi event object.
pub fn parse(_ctx: &ParseContext, _item: &Value) -> Result<Event, ParseError> {
    Err(ParseError::new("kisi parser not written yet"))
}

/// If `v` is one of kisi's list pages, its event items.
pub fn page_items(_v: &Value) -> Option<Vec<Value>> {
    None
}

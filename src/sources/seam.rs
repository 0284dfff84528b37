//! seam payloads → unified events. (Being written: see tests/fixtures/seam/.)

use super::{ParseContext, ParseError};
use crate::model::Event;
use serde_json::Value;

/// Parse one seam event object.
pub fn parse(_ctx: &ParseContext, _item: &Value) -> Result<Event, ParseError> {
    Err(ParseError::new("seam parser not written yet"))
}

/// If `v` is one of seam's list pages, its event items.
pub fn page_items(_v: &Value) -> Option<Vec<Value>> {
    None
}

//! Backfilling stream gaps from a history endpoint.
//!
//! PDK's real history path is UNCONFIRMED (the brief names asynchronous event reports
//! without verified paths), so the source uses one only when `history_path` is
//! configured, e.g. `"/{systemId}/events"` against doorwatch's simulator. The contract
//! assumed: `GET <base_url><path>?from=<ms>&to=<ms>&offset=<n>&limit=<n>` with the
//! system token as Bearer, answering `{"events": [...], "next_offset": n | null}` (or a
//! bare array, one page) whose items are `{"topic", "body"}` or payloads carrying their
//! own `topic`, with `from <= time <= to`.

use super::tokens::Token;
use crate::sources::runtime::{self, FetchError};
use serde_json::Value;

const PAGE: usize = 1000;
/// A guard against a server that never ends its pages.
const MAX_PAGES: usize = 1000;

pub struct History {
    pub http: reqwest::Client,
    /// `<base_url><path>` with `{systemId}` filled in.
    pub url: String,
    pub auth_hint: String,
    /// Largest page read, in bytes (the source's `max_response`).
    pub max_response: usize,
}

impl History {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        path: &str,
        system_id: &str,
        auth_hint: String,
    ) -> History {
        let path = path.replace("{systemId}", system_id);
        let sep = if path.starts_with('/') { "" } else { "/" };
        History {
            http,
            url: format!("{}{sep}{path}", base_url.trim_end_matches('/')),
            auth_hint,
            max_response: crate::config::DEFAULT_MAX_RESPONSE,
        }
    }

    /// Every item with `from_ms <= time <= to_ms`.
    pub async fn fetch(
        &self,
        token: &Token,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Value>, FetchError> {
        let mut items = Vec::new();
        let mut offset = 0usize;
        for _ in 0..MAX_PAGES {
            let query = [
                ("from", from_ms.to_string()),
                ("to", to_ms.to_string()),
                ("offset", offset.to_string()),
                ("limit", PAGE.to_string()),
            ];
            let resp = self
                .http
                .get(&self.url)
                .query(&query)
                .bearer_auth(token.expose())
                .send()
                .await?;
            let resp = runtime::check(resp, &self.auth_hint).await?;
            let page = runtime::read_limited(resp, self.max_response).await?;
            let page: Value = serde_json::from_slice(&page)
                .map_err(|_| FetchError::Transient("unreadable history page".into()))?;
            let (events, next) = match page {
                Value::Array(events) => (events, None),
                Value::Object(mut obj) => {
                    let events = match obj.remove("events") {
                        Some(Value::Array(e)) => e,
                        _ => {
                            return Err(FetchError::Transient(
                                "history page has no `events` array".into(),
                            ));
                        }
                    };
                    let next = obj.get("next_offset").and_then(Value::as_u64);
                    (events, next)
                }
                _ => {
                    return Err(FetchError::Transient(
                        "history page is not a JSON object or array".into(),
                    ));
                }
            };
            items.extend(events);
            match next {
                Some(n) if n as usize > offset => offset = n as usize,
                _ => return Ok(items),
            }
        }
        Err(FetchError::Transient(
            "history did not end after 1000 pages".into(),
        ))
    }
}

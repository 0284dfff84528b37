//! Kisi's REST API as the live source uses it (brief §1-5, §10): `KISI-LOGIN` auth,
//! event sets, and the offset-paged lists behind `/locks` and `/controllers`. Every
//! request waits for the credential's [`Limiter`] first.

use super::limiter::Limiter;
use crate::config::Secret;
use crate::sources::fields;
use crate::sources::runtime::{self, FetchError};
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const DEFAULT_BASE_URL: &str = "https://api.kisi.io";

/// Events per event-set page. Kisi's maximum is not documented (UNCONFIRMED); its
/// default is 50 and third-party clients use 200.
pub const SET_PAGE: usize = 200;
/// Items per `/locks` or `/controllers` page: Kisi's documented maximum.
const LIST_PAGE: usize = 250;
/// Kisi refuses offsets beyond this.
const MAX_OFFSET: usize = 20_000;

/// A Kisi account reached with one API key.
pub struct KisiApi {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
    /// The end of a 401 message: which env var to set.
    auth_hint: String,
    limiter: Arc<Limiter>,
    deprecation_logged: AtomicBool,
    max_response: usize,
}

/// What reading an event set gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRead {
    /// The body, to parse (it may be truncated).
    Body(String),
    /// The set cannot be read any more; why.
    Gone(String),
}

/// Where an event set stands (§5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetStatus {
    InProgress,
    Finished,
    Failed,
    Other(String),
}

/// One answer about an event set: its status and, once finished, a page of events.
#[derive(Debug, Clone)]
pub struct SetReply {
    pub id: u64,
    pub status: SetStatus,
    /// When Kisi made the set, by Kisi's clock.
    pub created_at: Option<DateTime<Utc>>,
    pub events: Vec<Value>,
    /// The next page's cursor; `None` on the last page.
    pub cursor: Option<String>,
}

impl SetReply {
    /// Read an event-set body; `Err` says why it is not one (truncated JSON, ...).
    pub fn parse(text: &str) -> Result<SetReply, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("event set page is not JSON: {e}"))?;
        let v = match v.get("event_set") {
            Some(inner @ Value::Object(_)) => inner.clone(),
            _ => v,
        };
        let id = fields::integer(&v, &["id"])
            .and_then(|i| u64::try_from(i).ok())
            .ok_or("event set without an id")?;
        let status = match fields::text(&v, &["status"]).as_deref() {
            Some("in_progress") => SetStatus::InProgress,
            Some("finished") => SetStatus::Finished,
            Some("failed") => SetStatus::Failed,
            other => SetStatus::Other(other.unwrap_or("none").to_string()),
        };
        let events = match v.get("events") {
            Some(Value::Array(items)) => items.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err("event set `events` is not a list".into()),
        };
        Ok(SetReply {
            id,
            status,
            created_at: fields::time(&v, &["created_at"]),
            events,
            cursor: fields::text(&v, &["cursor"]),
        })
    }
}

impl KisiApi {
    /// `base_url` from the config (default [`DEFAULT_BASE_URL`]).
    pub fn new(
        http: reqwest::Client,
        base_url: Option<&str>,
        key: &Secret,
        auth_hint: String,
    ) -> Result<KisiApi, FetchError> {
        let base = base_url
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/')
            .to_string();
        let mut auth =
            HeaderValue::from_str(&format!("KISI-LOGIN {}", key.expose())).map_err(|_| {
                FetchError::Fatal(format!(
                    "the Kisi API key has characters no HTTP header can carry — {auth_hint}"
                ))
            })?;
        auth.set_sensitive(true);
        Ok(KisiApi {
            http,
            limiter: Limiter::for_credential(&base, key.expose()),
            base,
            auth,
            auth_hint,
            deprecation_logged: AtomicBool::new(false),
            max_response: crate::config::DEFAULT_MAX_RESPONSE,
        })
    }

    /// Cap every response body at `bytes` (the source's `max_response`).
    pub fn with_max_response(mut self, bytes: usize) -> KisiApi {
        self.max_response = bytes;
        self
    }

    /// `POST /event_sets` over an ISO 8601 `start/end` interval; the raw body.
    pub async fn create_set(&self, interval: &str) -> Result<String, FetchError> {
        self.limiter.create_set().await;
        let body = json!({"event_set": {"interval": interval}});
        let req = self
            .http
            .post(format!("{}/event_sets", self.base))
            .json(&body);
        self.text(req).await
    }

    /// `GET /event_sets/{id}`: its status, or the page at `cursor`.
    pub async fn read_set(&self, id: u64, cursor: Option<&str>) -> Result<SetRead, FetchError> {
        self.limiter.request().await;
        let mut query = vec![("limit", SET_PAGE.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let req = self
            .http
            .get(format!("{}/event_sets/{id}", self.base))
            .query(&query);
        let resp = self.send(req).await?;
        let code = resp.status().as_u16();
        // An expired set (404) or a cursor it no longer takes (400, 422): asking
        // again will not help, a new set will.
        if matches!(code, 400 | 404 | 410 | 422) {
            return Ok(SetRead::Gone(format!("HTTP {code}")));
        }
        let resp = runtime::check(resp, &self.auth_hint).await?;
        Ok(SetRead::Body(
            runtime::text_limited(resp, self.max_response).await?,
        ))
    }

    /// Every item of an offset-paged list (`/locks`, `/controllers`); `None` when the
    /// key may not read it (403), which is a role limit, not a rejected key.
    pub async fn list_all(&self, path: &str) -> Result<Option<Vec<Value>>, FetchError> {
        self.list_pages(path, LIST_PAGE).await
    }

    async fn list_pages(&self, path: &str, limit: usize) -> Result<Option<Vec<Value>>, FetchError> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            self.limiter.request().await;
            let req = self
                .http
                .get(format!("{}{path}", self.base))
                .query(&[("limit", limit), ("offset", offset)]);
            let resp = self.send(req).await?;
            if resp.status() == reqwest::StatusCode::FORBIDDEN {
                return Ok(None);
            }
            let resp = runtime::check(resp, &self.auth_hint).await?;
            let range = collection_range(resp.headers());
            let page: Vec<Value> = match runtime::json_limited(resp, self.max_response).await? {
                Value::Array(items) => items,
                other => {
                    return Err(FetchError::Transient(format!(
                        "GET {path}: expected a list, got {}",
                        fields::json_type(&other)
                    )));
                }
            };
            let n = page.len();
            all.extend(page);
            offset += n;
            let last = match range {
                Some(Range {
                    end: Some(end),
                    total,
                }) => end + 1 >= total,
                Some(Range { end: None, .. }) => true,
                None => n < limit,
            };
            if last || n == 0 || offset > MAX_OFFSET {
                return Ok(Some(all));
            }
        }
    }

    async fn text(&self, req: reqwest::RequestBuilder) -> Result<String, FetchError> {
        let resp = self.send(req).await?;
        let resp = runtime::check(resp, &self.auth_hint).await?;
        runtime::text_limited(resp, self.max_response).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
        let resp = req
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await?;
        self.note_deprecation(resp.headers(), resp.url().path());
        Ok(resp)
    }

    /// Kisi announces an endpoint's retirement in `Deprecation` / `Sunset` (§1).
    fn note_deprecation(&self, headers: &HeaderMap, path: &str) {
        let read = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (deprecation, sunset) = (read("deprecation"), read("sunset"));
        if (deprecation.is_some() || sunset.is_some())
            && !self.deprecation_logged.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                path,
                deprecation = deprecation.unwrap_or("-"),
                sunset = sunset.unwrap_or("-"),
                "Kisi marks an endpoint doorwatch uses as deprecated"
            );
        }
    }
}

/// `X-Collection-Range: <start>-<end>/<total>`; `end` is `None` for `*/<total>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    end: Option<usize>,
    total: usize,
}

fn collection_range(headers: &HeaderMap) -> Option<Range> {
    let v = headers.get("x-collection-range")?.to_str().ok()?;
    let (span, total) = v.trim().split_once('/')?;
    let total = total.trim().parse().ok()?;
    if span.trim() == "*" {
        return Some(Range { end: None, total });
    }
    let (_, end) = span.split_once('-')?;
    Some(Range {
        end: Some(end.trim().parse().ok()?),
        total,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An API client for `key`, the way a source builds it from its config.
    pub(in crate::sources::kisi::live) fn test_api(base: &str, key: &str) -> KisiApi {
        let text = format!(
            "[[source]]\nname = \"t\"\nvendor = \"kisi\"\nbase_url = \"{base}\"\ntoken = \"{key}\"\n"
        );
        let config = crate::config::Config::parse(&text, None, true).unwrap();
        let source = config.sources[0].get_ref();
        let key = source.secret(crate::config::SecretKind::Token).unwrap();
        KisiApi::new(
            reqwest::Client::new(),
            source.base_url.as_deref(),
            &key,
            "set KISI_API_KEY".into(),
        )
        .unwrap()
    }

    fn range(v: &str) -> Option<Range> {
        let mut h = HeaderMap::new();
        h.insert("x-collection-range", v.parse().unwrap());
        collection_range(&h)
    }

    #[tokio::test]
    async fn lists_are_paged_to_the_end() {
        use crate::sim::kisi::{KisiSim, KisiSimOptions};
        let sim = KisiSim::start(KisiSimOptions {
            rate: 0.0,
            backfill: 0,
            ..KisiSimOptions::default()
        })
        .await
        .unwrap();
        let api = test_api(&sim.base_url(), sim.api_key());
        let locks = api.list_pages("/locks", 3).await.unwrap().unwrap();
        let whole = api.list_all("/locks").await.unwrap().unwrap();
        assert!(locks.len() > 3, "{}", locks.len());
        assert_eq!(locks, whole);
        let controllers = api.list_pages("/controllers", 1).await.unwrap().unwrap();
        assert_eq!(controllers.len(), 2);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn a_rejected_key_names_the_env_var_and_not_the_key() {
        use crate::sim::kisi::{KisiSim, KisiSimOptions};
        let sim = KisiSim::start(KisiSimOptions {
            rate: 0.0,
            ..KisiSimOptions::default()
        })
        .await
        .unwrap();
        let api = test_api(&sim.base_url(), "not-the-key-4711");
        let e = api.list_all("/locks").await.unwrap_err();
        assert_eq!(
            e,
            FetchError::Unauthorized("token rejected (HTTP 401) — set KISI_API_KEY".into())
        );
        assert!(!format!("{e:?}").contains("4711"));
        sim.shutdown().await;
    }

    #[test]
    fn collection_range_forms() {
        assert_eq!(
            range("10-19/15"),
            Some(Range {
                end: Some(19),
                total: 15
            })
        );
        assert_eq!(
            range("*/7"),
            Some(Range {
                end: None,
                total: 7
            })
        );
        assert_eq!(range("garbage"), None);
        assert_eq!(collection_range(&HeaderMap::new()), None);
    }

    #[test]
    fn set_replies_in_every_state() {
        let r =
            SetReply::parse(r#"{"id": 9001, "status": "in_progress", "cursor": null}"#).unwrap();
        assert_eq!(
            (r.id, r.status, r.events.len()),
            (9001, SetStatus::InProgress, 0)
        );
        let r = SetReply::parse(
            r#"{"id": "7", "status": "finished", "created_at": "2026-01-01T00:00:00.000Z",
                "events": [{"uuid": "a"}], "cursor": "abc"}"#,
        )
        .unwrap();
        assert_eq!(r.status, SetStatus::Finished);
        assert_eq!(r.cursor.as_deref(), Some("abc"));
        assert!(r.created_at.is_some());
        assert_eq!(
            SetReply::parse(r#"{"id": 1, "status": "failed"}"#)
                .unwrap()
                .status,
            SetStatus::Failed
        );
        assert!(SetReply::parse(r#"{"id": 1, "status": "finished", "events": [{"uu"#).is_err());
        assert!(SetReply::parse(r#"{"status": "finished"}"#).is_err());
    }
}

//! DoorFlow OAuth 2.0: access tokens from a refresh token that rotates on every use
//! (`shared/protocols/doorflow.md` §2.1), and authorised API calls.
//!
//! The configured refresh token is only a seed: the first refresh spends it and the
//! server hands back a new one, which is persisted (`Sink::save_credential`) before the
//! access token that came with it is used, because from then on it is the only one that
//! works. A restart picks the rotated copy up from the store.

use crate::config::{Secret, SecretKind};
use crate::sources::runtime::{
    FetchError, MAX_AUTH_RESPONSE, Sink, SourceCtx, check, json_limited, retry_after,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{Duration, Instant};

/// A bearer or refresh token. Its text goes on the wire and into the store's
/// credential slot, nowhere else.
#[derive(Clone, PartialEq, Eq)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Never wait longer than this before renewing an access token early.
const RENEW_AHEAD_MAX: Duration = Duration::from_secs(300);
/// `expires_in` when the server leaves it out (DoorFlow documents 1 h).
const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(3600);

/// What the store keeps for a DoorFlow source: the live refresh token and a
/// fingerprint of the configured seed it descends from, so that a re-seeded config
/// (the operator authorised again) is noticed.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCredential {
    refresh_token: String,
    #[serde(default)]
    seed_sha256: Option<String>,
}

fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The refresh token to start with, the one to fall back on if it is refused, and
/// the fingerprint of the seed that rotations descend from.
#[derive(Debug, PartialEq, Eq)]
struct Chosen {
    refresh: Token,
    fallback: Option<Token>,
    seed_sha256: Option<String>,
}

/// Pick between the configured seed and the stored rotation. Once a rotation is
/// stored the seed may go from the config; a seed other than the one the rotation
/// came from means the operator authorised again, and it goes first.
fn choose_refresh(configured: Option<&str>, stored: Option<&[u8]>) -> Option<Chosen> {
    let stored = stored.and_then(|b| serde_json::from_slice::<StoredCredential>(b).ok());
    let Some(configured) = configured else {
        let stored = stored?;
        return Some(Chosen {
            refresh: Token(stored.refresh_token),
            fallback: None,
            seed_sha256: stored.seed_sha256,
        });
    };
    let seed = Token(configured.to_string());
    let seed_sha256 = Some(fingerprint(configured));
    let Some(stored) = stored.filter(|s| s.refresh_token != configured) else {
        return Some(Chosen {
            refresh: seed,
            fallback: None,
            seed_sha256,
        });
    };
    let reseeded = stored.seed_sha256.is_some() && stored.seed_sha256 != seed_sha256;
    let rotation = Token(stored.refresh_token);
    let (refresh, fallback) = if reseeded {
        (seed, rotation)
    } else {
        (rotation, seed)
    };
    Some(Chosen {
        refresh,
        fallback: Some(fallback),
        seed_sha256,
    })
}

struct Access {
    token: Token,
    renew_at: Instant,
}

/// Why the token endpoint said no, in the words the operator needs.
enum Refused {
    Grant(String),
    Client(String),
}

/// An OAuth session for one source: refreshes, rotates, persists, and signs requests.
pub struct Session {
    http: reqwest::Client,
    token_url: String,
    client_id: Secret,
    client_secret: Secret,
    seed_sha256: Option<String>,
    refresh: Token,
    /// The other refresh token worth one try if `refresh` is refused.
    fallback: Option<Token>,
    access: Option<Access>,
    refresh_hint: String,
    client_hint: String,
}

impl Session {
    /// Read the credentials; the error names the env var to set.
    pub fn start(ctx: &SourceCtx, auth_base: &str) -> Result<Session, String> {
        let secret = |kind| ctx.config.secret(kind).map_err(|e| e.message);
        let client_id = secret(SecretKind::ClientId)?;
        let client_secret = secret(SecretKind::ClientSecret)?;
        let configured = secret(SecretKind::RefreshToken);
        let seed = configured.as_ref().ok().map(|s| s.expose());
        let chosen = match choose_refresh(seed, ctx.credential.as_deref()) {
            Some(chosen) => chosen,
            None => return Err(configured.err().unwrap_or_default()),
        };
        let client_hint = match (
            ctx.config.client_id_env.as_deref(),
            ctx.config.client_secret_env.as_deref(),
        ) {
            (Some(id), Some(secret)) => format!("set {id} and {secret}"),
            _ => ctx.auth_hint(SecretKind::ClientSecret),
        };
        Ok(Session {
            http: ctx.http.clone(),
            token_url: format!("{}/oauth/token", auth_base.trim_end_matches('/')),
            client_id,
            client_secret,
            seed_sha256: chosen.seed_sha256,
            refresh: chosen.refresh,
            fallback: chosen.fallback,
            access: None,
            refresh_hint: ctx.auth_hint(SecretKind::RefreshToken),
            client_hint,
        })
    }

    /// The end of a "rejected" message: which env var to set.
    pub fn hint(&self) -> &str {
        &self.refresh_hint
    }

    /// GET an API URL with the bearer token. An access token the server calls
    /// expired or invalid is renewed once and the request repeated; a second refusal
    /// stops the source. Answers with a success, a 400 or a 403 (the caller knows what
    /// its parameters or its scope may lack); anything else becomes a [`FetchError`].
    pub async fn get(
        &mut self,
        ctx: &SourceCtx,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, FetchError> {
        let resp = self.send(ctx, url, query).await?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return self.classify(resp).await;
        }
        tracing::info!(source = ctx.name(), "access token refused; renewing it");
        self.access = None;
        let resp = self.send(ctx, url, query).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(FetchError::Unauthorized(format!(
                "token rejected (HTTP 401) even after a refresh — {}",
                self.refresh_hint
            )));
        }
        ctx.status.token_renewed();
        self.classify(resp).await
    }

    async fn send(
        &mut self,
        ctx: &SourceCtx,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, FetchError> {
        let token = self.access_token(ctx).await?;
        Ok(self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .bearer_auth(token)
            .query(query)
            .send()
            .await?)
    }

    async fn classify(&self, resp: reqwest::Response) -> Result<reqwest::Response, FetchError> {
        match resp.status() {
            reqwest::StatusCode::TOO_MANY_REQUESTS => return Err(rate_limited(resp).await),
            reqwest::StatusCode::BAD_REQUEST | reqwest::StatusCode::FORBIDDEN => return Ok(resp),
            _ => {}
        }
        check(resp, &self.refresh_hint).await
    }

    /// A valid access token, refreshing first when it is missing or about to expire.
    async fn access_token(&mut self, ctx: &SourceCtx) -> Result<String, FetchError> {
        if let Some(a) = &self.access
            && Instant::now() < a.renew_at
        {
            return Ok(a.token.0.clone());
        }
        self.refresh(ctx).await
    }

    /// Spend the refresh token for a new pair; persist the new refresh token before
    /// anything uses the access token. A refused token falls back once on the other
    /// candidate (the configured seed, or the stored copy).
    async fn refresh(&mut self, ctx: &SourceCtx) -> Result<String, FetchError> {
        loop {
            // Its own task, so that a shutdown in the middle cannot drop the rotated
            // refresh token between the server's answer and the store.
            let exchange = tokio::spawn(self.exchange(ctx).run());
            let outcome = exchange
                .await
                .map_err(|e| FetchError::Fatal(format!("token refresh task: {e}")))??;
            match outcome {
                Ok(grant) => return Ok(self.adopt(grant)),
                Err(refused) => match self.fallback.take() {
                    Some(other) => {
                        tracing::warn!(
                            source = ctx.name(),
                            "refresh token refused; trying the other one on hand"
                        );
                        self.refresh = other;
                    }
                    None => {
                        return Err(FetchError::Unauthorized(match refused {
                            Refused::Grant(code) => format!(
                                "refresh token rejected ({code}) — authorise doorwatch again and {}",
                                self.refresh_hint
                            ),
                            Refused::Client(code) => format!(
                                "client credentials rejected ({code}) — {}",
                                self.client_hint
                            ),
                        }));
                    }
                },
            }
        }
    }

    fn exchange(&self, ctx: &SourceCtx) -> Exchange {
        Exchange {
            http: self.http.clone(),
            token_url: self.token_url.clone(),
            refresh: self.refresh.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            seed_sha256: self.seed_sha256.clone(),
            sink: ctx.sink.clone(),
            source: ctx.name().to_string(),
        }
    }

    /// Take a grant whose refresh token is already in the store.
    fn adopt(&mut self, grant: Grant) -> String {
        if let Some(next) = grant.refresh_token {
            self.refresh = next;
        }
        let ahead = RENEW_AHEAD_MAX.min(grant.expires_in / 10);
        let token = grant.access_token.0.clone();
        self.access = Some(Access {
            token: grant.access_token,
            renew_at: Instant::now() + grant.expires_in.saturating_sub(ahead),
        });
        token
    }
}

/// One refresh: `POST /oauth/token`, then the rotated refresh token into the store.
struct Exchange {
    http: reqwest::Client,
    token_url: String,
    refresh: Token,
    client_id: Secret,
    client_secret: Secret,
    seed_sha256: Option<String>,
    sink: Sink,
    source: String,
}

impl Exchange {
    /// Outer error: try again later; inner: the server refused the credentials.
    async fn run(self) -> Result<Result<Grant, Refused>, FetchError> {
        let grant = match self.post().await? {
            Ok(grant) => grant,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(next) = &grant.refresh_token
            && *next != self.refresh
        {
            self.keep(next).await?;
        }
        Ok(Ok(grant))
    }

    async fn post(&self) -> Result<Result<Grant, Refused>, FetchError> {
        let resp = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", self.refresh.0.as_str()),
                ("client_id", self.client_id.expose()),
                ("client_secret", self.client_secret.expose()),
            ])
            .send()
            .await?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {
                let body = json_limited(resp, MAX_AUTH_RESPONSE).await?;
                Grant::from_json(&body)
                    .map(Ok)
                    .ok_or_else(|| FetchError::transient("token response without access_token"))
            }
            429 => Err(rate_limited(resp).await),
            400..=499 if status != 408 => {
                let body = json_limited(resp, MAX_AUTH_RESPONSE)
                    .await
                    .unwrap_or(Value::Null);
                let code = body["error"].as_str().unwrap_or("").to_string();
                Ok(Err(match code.as_str() {
                    "invalid_client" | "unauthorized_client" => Refused::Client(code),
                    "" if status == 401 => Refused::Client(format!("HTTP {status}")),
                    "" => Refused::Grant(format!("HTTP {status}")),
                    _ => Refused::Grant(code),
                }))
            }
            _ => Err(FetchError::Transient(format!(
                "token endpoint error (HTTP {status})"
            ))),
        }
    }

    /// The old refresh token died with this exchange: if the new one cannot be kept,
    /// a restart could not log in again, so a failure here stops the source.
    async fn keep(&self, next: &Token) -> Result<(), FetchError> {
        let stored = StoredCredential {
            refresh_token: next.0.clone(),
            seed_sha256: self.seed_sha256.clone(),
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| FetchError::Fatal(format!("encode credential: {e}")))?;
        self.sink
            .save_credential(&self.source, bytes)
            .await
            .map_err(|e| {
                FetchError::Fatal(format!(
                    "store: cannot save the rotated refresh token: {e:#}"
                ))
            })?;
        tracing::info!(
            source = self.source.as_str(),
            "refresh token rotated and saved"
        );
        Ok(())
    }
}

struct Grant {
    access_token: Token,
    refresh_token: Option<Token>,
    expires_in: Duration,
}

impl Grant {
    fn from_json(v: &Value) -> Option<Grant> {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| Token(s.to_string()))
        };
        let expires_in = v
            .get("expires_in")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_ACCESS_TTL, Duration::from_secs_f64);
        Some(Grant {
            access_token: text("access_token")?,
            refresh_token: text("refresh_token"),
            expires_in,
        })
    }
}

/// A 429: `Retry-After`, else the body's `retry_in` / `retry_after` seconds (§7).
async fn rate_limited(resp: reqwest::Response) -> FetchError {
    let header = retry_after(resp.headers());
    let body = json_limited(resp, MAX_AUTH_RESPONSE)
        .await
        .unwrap_or(Value::Null);
    let from_body = ["retry_in", "retry_after", "retryAfter"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_f64))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    FetchError::RateLimited {
        retry_after: header.or(from_body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(token: &str, seed: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&StoredCredential {
            refresh_token: token.into(),
            seed_sha256: seed.map(fingerprint),
        })
        .unwrap()
    }

    fn chosen(refresh: &str, fallback: Option<&str>, seed: Option<&str>) -> Option<Chosen> {
        Some(Chosen {
            refresh: Token(refresh.into()),
            fallback: fallback.map(|f| Token(f.into())),
            seed_sha256: seed.map(fingerprint),
        })
    }

    #[test]
    fn the_stored_rotation_wins_over_its_own_seed() {
        let c = choose_refresh(Some("seed"), Some(&stored("rotated", Some("seed"))));
        assert_eq!(c, chosen("rotated", Some("seed"), Some("seed")));
    }

    #[test]
    fn a_new_seed_wins_over_an_old_rotation() {
        let c = choose_refresh(Some("new"), Some(&stored("rotated", Some("old"))));
        assert_eq!(c, chosen("new", Some("rotated"), Some("new")));
    }

    #[test]
    fn the_seed_may_leave_the_config_once_a_rotation_is_stored() {
        let c = choose_refresh(None, Some(&stored("rotated", Some("seed"))));
        assert_eq!(c, chosen("rotated", None, Some("seed")));
        assert_eq!(choose_refresh(None, None), None);
        assert_eq!(choose_refresh(None, Some(b"garbage")), None);
    }

    #[test]
    fn nothing_stored_or_unreadable_means_the_seed_alone() {
        let seed_alone = chosen("seed", None, Some("seed"));
        assert_eq!(choose_refresh(Some("seed"), None), seed_alone);
        assert_eq!(choose_refresh(Some("seed"), Some(b"garbage")), seed_alone);
        assert_eq!(
            choose_refresh(Some("seed"), Some(&stored("seed", None))),
            seed_alone
        );
    }

    #[test]
    fn tokens_do_not_print() {
        assert_eq!(format!("{:?}", Token("df_rt_secret".into())), "Token(***)");
    }

    #[test]
    fn grants_default_their_lifetime() {
        let g = Grant::from_json(&serde_json::json!({"access_token": "a"})).unwrap();
        assert_eq!(g.expires_in, DEFAULT_ACCESS_TTL);
        assert!(g.refresh_token.is_none());
        assert!(Grant::from_json(&serde_json::json!({"refresh_token": "r"})).is_none());
    }
}

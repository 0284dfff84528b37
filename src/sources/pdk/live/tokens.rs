//! PDK's two-step tokens: an ID token from the client credentials, then a system token
//! from the ID token (`protocols/pdk.md`, "Tokens"). Both are reused while valid.
//!
//! A system token's lifetime is read from its JWT `exp` (minus `iat`) when it is a JWT;
//! PDK documents "about 5 minutes", which is the fallback.

use crate::config::Secret;
use crate::sources::runtime::{self, FetchError};
use base64::Engine as _;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A token as it travels: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What PDK says a system token lives when the token does not say.
const SYSTEM_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// Renew a system token once this share of its life has passed.
const RENEW_AT: f64 = 0.8;
/// A token older than this is not re-sent on `invalidToken`; a fresh one is fetched.
const RESEND_WITHIN: Duration = Duration::from_secs(2);

struct Held {
    token: Token,
    obtained: Instant,
    lifetime: Duration,
}

impl Held {
    fn left(&self, now: Instant) -> Duration {
        (self.obtained + self.lifetime).saturating_duration_since(now)
    }

    fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.obtained)
    }
}

/// Fetches and caches the tokens of one source.
pub struct TokenKeeper {
    http: reqwest::Client,
    auth_url: String,
    system_id: String,
    client_id: Secret,
    client_secret: Secret,
    /// Ends "token rejected (HTTP 401) — ...": which env vars to set.
    auth_hint: String,
    id: Option<Held>,
    system: Option<Held>,
}

impl TokenKeeper {
    pub fn new(
        http: reqwest::Client,
        auth_url: &str,
        system_id: &str,
        client_id: Secret,
        client_secret: Secret,
        auth_hint: String,
    ) -> TokenKeeper {
        TokenKeeper {
            http,
            auth_url: auth_url.trim_end_matches('/').to_string(),
            system_id: system_id.to_string(),
            client_id,
            client_secret,
            auth_hint,
            id: None,
            system: None,
        }
    }

    /// A system token for a new connection: the cached one while it has at least half
    /// its life left (a reconnect storm must not hammer the token endpoint), else new.
    pub async fn for_connect(&mut self) -> Result<Token, FetchError> {
        let now = Instant::now();
        if let Some(s) = &self.system
            && s.left(now) >= s.lifetime / 2
        {
            return Ok(s.token.clone());
        }
        self.fresh().await
    }

    /// The token to answer an `invalidToken` with: the current one when it was fetched
    /// moments ago (the server's notice crossed our renewal), else `None` (fetch anew).
    pub fn recent(&self) -> Option<Token> {
        let now = Instant::now();
        self.system
            .as_ref()
            .filter(|s| s.age(now) < RESEND_WITHIN && !s.left(now).is_zero())
            .map(|s| s.token.clone())
    }

    /// When the current system token should be renewed.
    pub fn renew_at(&self) -> Option<Instant> {
        self.system
            .as_ref()
            .map(|s| s.obtained + s.lifetime.mul_f64(RENEW_AT))
    }

    /// A valid system token for REST calls, fetching one if needed.
    pub async fn current(&mut self) -> Result<Token, FetchError> {
        let now = Instant::now();
        if let Some(s) = &self.system
            && s.left(now) > s.lifetime / 10
        {
            return Ok(s.token.clone());
        }
        self.fresh().await
    }

    /// Forget the system token (the stream refused it).
    pub fn discard_system(&mut self) {
        self.system = None;
    }

    /// A newly fetched system token.
    pub async fn fresh(&mut self) -> Result<Token, FetchError> {
        match self.fetch_system().await {
            // The ID token may have been revoked or expired early: one retry with a new one.
            Err(FetchError::Unauthorized(_)) if self.id.is_some() => {
                self.id = None;
                self.fetch_system().await
            }
            other => other,
        }
    }

    async fn fetch_system(&mut self) -> Result<Token, FetchError> {
        let id_token = self.id_token().await?;
        let url = format!("{}/api/systems/{}/token", self.auth_url, self.system_id);
        let obtained = Instant::now();
        let resp = self
            .http
            .post(url)
            .bearer_auth(id_token.expose())
            .send()
            .await?;
        let hint = format!(
            "check system_id `{}` and the API client's access to it; {}",
            self.system_id, self.auth_hint
        );
        let body: Value = runtime::read_limited(
            runtime::check(resp, &hint).await?,
            runtime::MAX_AUTH_RESPONSE,
        )
        .await
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|_| FetchError::Transient("unreadable system token response".into()))
        })?;
        let token = body
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FetchError::Transient("system token response has no token".into()))?;
        let lifetime = jwt_lifetime(token).unwrap_or(SYSTEM_TOKEN_LIFETIME);
        let token = Token(token.to_string());
        self.system = Some(Held {
            token: token.clone(),
            obtained,
            lifetime,
        });
        Ok(token)
    }

    async fn id_token(&mut self) -> Result<Token, FetchError> {
        let now = Instant::now();
        if let Some(id) = &self.id
            && id.left(now) > id.lifetime / 10
        {
            return Ok(id.token.clone());
        }
        let url = format!("{}/oauth2/token", self.auth_url);
        let resp = self
            .http
            .post(url)
            .basic_auth(self.client_id.expose(), Some(self.client_secret.expose()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await?;
        let body: Value = runtime::read_limited(
            runtime::check(resp, &self.auth_hint).await?,
            runtime::MAX_AUTH_RESPONSE,
        )
        .await
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|_| FetchError::Transient("unreadable ID token response".into()))
        })?;
        let token = body
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FetchError::Transient("token response has no id_token".into()))?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .map(Duration::from_secs)
            .or_else(|| jwt_lifetime(token))
            .unwrap_or(Duration::from_secs(300));
        let token = Token(token.to_string());
        self.id = Some(Held {
            token: token.clone(),
            obtained: now,
            lifetime,
        });
        Ok(token)
    }
}

/// `exp - iat` of a JWT (or `exp` - now without `iat`), if `token` is one.
fn jwt_lifetime(token: &str) -> Option<Duration> {
    let claims = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&raw).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let from = match claims.get("iat").and_then(Value::as_i64) {
        Some(iat) => iat,
        None => chrono::Utc::now().timestamp(),
    };
    // Claims are whole seconds: a second less is the safe reading.
    let secs = u64::try_from(exp - from).ok().filter(|s| *s > 0)?;
    Some(Duration::from_secs(secs.saturating_sub(1).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_from_jwt_claims() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let t = format!("{}.{}.sig", b64("{}"), b64(r#"{"iat":100,"exp":400}"#));
        assert_eq!(jwt_lifetime(&t), Some(Duration::from_secs(299)));
        assert_eq!(jwt_lifetime("opaque-token"), None);
        let expired = format!("x.{}.y", b64(r#"{"iat":400,"exp":100}"#));
        assert_eq!(jwt_lifetime(&expired), None);
        assert_eq!(format!("{:?}", Token("s3cret".into())), "Token(***)");
    }
}

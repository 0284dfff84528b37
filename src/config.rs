//! The config file (TOML): sources, operator, webhooks.
//!
//! A bad file gets one clear error naming the file, the line and the fix. Secrets are
//! read from environment variables named in the file; inline secrets are accepted only
//! from a file no one else can read (mode 0600), as ssh does with keys.

use crate::model::{Vendor, parse_duration};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who acknowledges alarms; default `$USER`.
    pub operator: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<SourceConfig>>,
    pub webhooks: Option<WebhooksConfig>,
    pub alarms: Option<Spanned<AlarmsConfig>>,
    pub daemon: Option<DaemonConfig>,
}

/// `[daemon]`: who may attach to the store owner's socket.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The socket's group (mode 0660): members of it may attach. Default: the
    /// running user's own group, so only that user.
    pub group: Option<String>,
}

/// `[alarms]`: the alarm rules' settings; everything optional.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    pub offline_grace: Option<String>,
    pub burst_count: Option<usize>,
    pub burst_window: Option<String>,
    /// `"0s"` turns escalation off.
    pub escalate_after: Option<String>,
    pub require_ack_note: Option<bool>,
    /// `[alarms.rules.forced_open] enabled = false, priority = "high"`.
    #[serde(default)]
    pub rules: std::collections::BTreeMap<String, RuleConfig>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub priority: Option<crate::state::alarms::Priority>,
}

/// `Debug` is written by hand (below) so that inline secrets print as `***`: a
/// `tracing::debug!(?config)` must not leak them.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: Spanned<String>,
    pub vendor: Spanned<Vendor>,
    pub base_url: Option<String>,
    /// PDK: token endpoint host.
    pub auth_url: Option<String>,
    /// PDK: the system id.
    pub system_id: Option<String>,
    pub token_env: Option<String>,
    /// Inline token: only in a mode-0600 file (simulator configs).
    pub token: Option<Spanned<String>>,
    pub client_id_env: Option<String>,
    pub client_id: Option<Spanned<String>>,
    pub client_secret_env: Option<String>,
    pub client_secret: Option<Spanned<String>>,
    /// DoorFlow: OAuth refresh token seed (rotated copies live in the store).
    pub refresh_token_env: Option<String>,
    pub refresh_token: Option<Spanned<String>>,
    /// Webhook signing secret for this source's deliveries.
    pub webhook_secret_env: Option<String>,
    pub webhook_secret: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    pub backfill: Option<Spanned<String>>,
    /// PDK: topics to subscribe to; default every topic doorwatch maps.
    pub topics: Option<Vec<String>>,
    /// PDK: Engine.IO protocol revision (4, or 3 for the legacy raw-WebSocket form).
    pub engine_io: Option<u8>,
    /// `false`: receive this source's webhooks only, never poll its API (no API token at
    /// hand). Needs `[webhooks]`. Default `true`.
    pub poll: Option<bool>,
    /// Polled sources: how far before the saved cursor each poll reads again, to
    /// catch events the vendor stored late or stamped by a clock behind ours.
    pub overlap: Option<Spanned<String>>,
    /// DoorFlow: events per page (`n`, 1–1000; default 1000). Smaller pages only help
    /// tests exercise paging.
    pub page_size: Option<usize>,
    /// PDK: history endpoint path for backfilling stream gaps (`{systemId}` is filled
    /// in), e.g. `"/{systemId}/events"`; PDK's real path is unconfirmed. Without it,
    /// outages are recorded as `source.gap` events.
    pub history_path: Option<String>,
    /// Largest HTTP response body (one page) or WebSocket message read from the
    /// vendor, in bytes; default [`DEFAULT_MAX_RESPONSE`]. Larger ones are a source
    /// error with backoff, never an out-of-memory.
    pub max_response: Option<usize>,
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<Spanned<String>>| v.as_ref().map(|_| "***");
        f.debug_struct("SourceConfig")
            .field("name", self.name.get_ref())
            .field("vendor", self.vendor.get_ref())
            .field("base_url", &self.base_url)
            .field("auth_url", &self.auth_url)
            .field("system_id", &self.system_id)
            .field("token_env", &self.token_env)
            .field("token", &redacted(&self.token))
            .field("client_id_env", &self.client_id_env)
            .field("client_id", &redacted(&self.client_id))
            .field("client_secret_env", &self.client_secret_env)
            .field("client_secret", &redacted(&self.client_secret))
            .field("refresh_token_env", &self.refresh_token_env)
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("webhook_secret_env", &self.webhook_secret_env)
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field(
                "poll_interval",
                &self.poll_interval.as_ref().map(|v| v.get_ref()),
            )
            .field("backfill", &self.backfill.as_ref().map(|v| v.get_ref()))
            .field("topics", &self.topics)
            .field("engine_io", &self.engine_io)
            .field("poll", &self.poll)
            .field("overlap", &self.overlap.as_ref().map(|v| v.get_ref()))
            .field("page_size", &self.page_size)
            .field("history_path", &self.history_path)
            .field("max_response", &self.max_response)
            .finish()
    }
}

/// 8 MiB: a full page of 1000 events is under 2 MiB for every vendor.
pub const DEFAULT_MAX_RESPONSE: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    pub listen: String,
    /// Largest request body accepted, in bytes (default 256 KiB); larger ones get 413.
    pub max_body: Option<usize>,
}

/// A config problem, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => {
                write!(f, "{}, line {line}: {}", file.display(), self.message)
            }
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            (None, Some(line)) => write!(f, "config line {line}: {}", self.message),
            (None, None) => write!(f, "config: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A secret read from the environment or a private config file. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which secret of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Token,
    ClientId,
    ClientSecret,
    RefreshToken,
    WebhookSecret,
}

impl SecretKind {
    fn key(self) -> &'static str {
        match self {
            SecretKind::Token => "token",
            SecretKind::ClientId => "client_id",
            SecretKind::ClientSecret => "client_secret",
            SecretKind::RefreshToken => "refresh_token",
            SecretKind::WebhookSecret => "webhook_secret",
        }
    }
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    pub fn vendor(&self) -> Vendor {
        *self.vendor.get_ref()
    }

    fn secret_fields(&self, kind: SecretKind) -> (Option<&String>, Option<&Spanned<String>>) {
        match kind {
            SecretKind::Token => (self.token_env.as_ref(), self.token.as_ref()),
            SecretKind::ClientId => (self.client_id_env.as_ref(), self.client_id.as_ref()),
            SecretKind::ClientSecret => {
                (self.client_secret_env.as_ref(), self.client_secret.as_ref())
            }
            SecretKind::RefreshToken => {
                (self.refresh_token_env.as_ref(), self.refresh_token.as_ref())
            }
            SecretKind::WebhookSecret => (
                self.webhook_secret_env.as_ref(),
                self.webhook_secret.as_ref(),
            ),
        }
    }

    /// Read a secret: from the env var the config names, else inline. The error names
    /// the variable to set and never the value.
    pub fn secret(&self, kind: SecretKind) -> Result<Secret, ConfigError> {
        let (env, inline) = self.secret_fields(kind);
        if let Some(var) = env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(ConfigError {
                    file: None,
                    line: None,
                    message: format!(
                        "source `{}` needs its {}: set the environment variable {var}",
                        self.name(),
                        kind.key()
                    ),
                }),
            };
        }
        if let Some(v) = inline {
            return Ok(Secret(v.get_ref().clone()));
        }
        Err(ConfigError {
            file: None,
            line: None,
            message: format!(
                "source `{name}` has no {key}: add `{key}_env = \"VAR\"` naming an environment variable that holds it",
                name = self.name(),
                key = kind.key()
            ),
        })
    }

    /// Whether this source polls its vendor's API (else it only receives webhooks).
    /// See [`SourceConfig::max_response`].
    pub fn max_response(&self) -> usize {
        self.max_response.unwrap_or(DEFAULT_MAX_RESPONSE).max(1024)
    }

    pub fn polls(&self) -> bool {
        self.poll.unwrap_or(true)
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
            .as_ref()
            .and_then(|s| parse_duration(s.get_ref()))
            .and_then(|d| d.to_std().ok())
            .unwrap_or(Duration::from_secs(5))
    }

    /// [`SourceConfig::overlap`], or the vendor's `default` when not set.
    pub fn overlap(&self, default: Duration) -> Duration {
        self.overlap
            .as_ref()
            .and_then(|s| parse_duration(s.get_ref()))
            .and_then(|d| d.to_std().ok())
            .unwrap_or(default)
    }

    /// History fetched by a new source with no cursor (default 24 h).
    pub fn backfill(&self) -> Duration {
        self.backfill
            .as_ref()
            .and_then(|s| parse_duration(s.get_ref()))
            .and_then(|d| d.to_std().ok())
            .unwrap_or(Duration::from_secs(24 * 3600))
    }

    fn inline_secrets(&self) -> impl Iterator<Item = (&'static str, &Spanned<String>)> {
        [
            ("token", self.token.as_ref()),
            ("client_id", self.client_id.as_ref()),
            ("client_secret", self.client_secret.as_ref()),
            ("refresh_token", self.refresh_token.as_ref()),
            ("webhook_secret", self.webhook_secret.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
    }
}

fn alarm_config(a: &AlarmsConfig) -> Result<crate::state::alarms::AlarmConfig, String> {
    use crate::state::alarms::{AlarmConfig, Rule};
    let mut c = AlarmConfig::default();
    let duration = |key: &str, v: &str| {
        parse_duration(v).ok_or_else(|| {
            format!(
                "[alarms] `{key} = \"{v}\"` is not a duration: use e.g. \"90s\", \"2m\", \"10m\""
            )
        })
    };
    if let Some(v) = &a.offline_grace {
        c.offline_grace = duration("offline_grace", v)?;
    }
    if let Some(v) = &a.burst_window {
        c.burst_window = duration("burst_window", v)?;
    }
    if let Some(v) = &a.escalate_after {
        let d = duration("escalate_after", v)?;
        c.escalate_after = (d > chrono::Duration::zero()).then_some(d);
    }
    if let Some(n) = a.burst_count {
        if n == 0 {
            return Err("[alarms] burst_count must be at least 1".into());
        }
        c.burst_count = n;
    }
    if let Some(b) = a.require_ack_note {
        c.require_ack_note = b;
    }
    for (name, rc) in &a.rules {
        let rule = Rule::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                format!(
                    "[alarms.rules.{name}]: no such rule; rules are {}",
                    names.join(", ")
                )
            })?;
        if let Some(s) = c.rules.get_mut(&rule) {
            if let Some(e) = rc.enabled {
                s.enabled = e;
            }
            if let Some(p) = rc.priority {
                s.priority = p;
            }
        }
    }
    Ok(c)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Config {
    /// Parse and check config text. `private` says whether the file is readable by its
    /// owner only (inline secrets are refused otherwise).
    pub fn parse(text: &str, file: Option<&Path>, private: bool) -> Result<Config, ConfigError> {
        let err = |line: Option<usize>, message: String| ConfigError {
            file: file.map(Path::to_path_buf),
            line,
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            err(line, e.message().to_string())
        })?;
        let mut names: Vec<&str> = Vec::new();
        for source in &config.sources {
            let s = source.get_ref();
            let name_line = Some(line_of(text, s.name.span().start));
            let name = s.name();
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
                return Err(err(
                    name_line,
                    format!(
                        "source name `{name}` must be non-empty, without spaces or `:` (it prefixes event ids), e.g. \"hq-kisi\""
                    ),
                ));
            }
            if names.contains(&name) {
                return Err(err(
                    name_line,
                    format!("two sources are named `{name}`: names must be unique"),
                ));
            }
            names.push(name);
            for (key, value) in [
                ("poll_interval", &s.poll_interval),
                ("backfill", &s.backfill),
                ("overlap", &s.overlap),
            ] {
                if let Some(v) = value
                    && parse_duration(v.get_ref()).is_none()
                {
                    return Err(err(
                        Some(line_of(text, v.span().start)),
                        format!(
                            "`{key} = \"{}\"` is not a duration: use e.g. \"5s\", \"10m\", \"24h\", \"90d\", \"0s\"",
                            v.get_ref()
                        ),
                    ));
                }
            }
            if let Some(e) = s.engine_io
                && e != 3
                && e != 4
            {
                return Err(err(
                    name_line,
                    format!("engine_io = {e}: use 4 (default) or 3"),
                ));
            }
            if !s.polls() {
                let why = if config.webhooks.is_none() {
                    Some(
                        "there is no `[webhooks]` section with `listen = \"127.0.0.1:8787\"` to receive them",
                    )
                } else if s.vendor() == Vendor::Pdk {
                    Some("doorwatch has no PDK webhook route (PDK documents no webhook signature)")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(err(
                        name_line,
                        format!("source `{name}` has `poll = false` (webhooks only), but {why}"),
                    ));
                }
            }
            if !private && let Some((key, v)) = s.inline_secrets().next() {
                return Err(err(
                    Some(line_of(text, v.span().start)),
                    format!(
                        "inline `{key}` in a file that group or others can read: run `chmod 600` on the file, or use `{key}_env = \"VAR\"` and put the secret in that environment variable"
                    ),
                ));
            }
        }
        if let Some(alarms) = &config.alarms {
            let line = Some(line_of(text, alarms.span().start));
            alarm_config(alarms.get_ref()).map_err(|m| err(line, m))?;
        }
        Ok(config)
    }

    /// The alarm engine's settings: defaults, overridden by `[alarms]`.
    pub fn alarm_config(&self) -> crate::state::alarms::AlarmConfig {
        self.alarms
            .as_ref()
            .and_then(|a| alarm_config(a.get_ref()).ok())
            .unwrap_or_default()
    }

    /// Read a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, Some(path), is_private(path))
    }

    /// The operator name for acks: config, then `$USER`, then "operator".
    pub fn operator(&self) -> String {
        self.operator
            .clone()
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "operator".into())
    }
}

/// Readable by the owner only (no group/other permission bits).
#[cfg(unix)]
pub fn is_private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
pub fn is_private(_path: &Path) -> bool {
    false
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "doorwatch")
}

/// Where `doorwatch` looks for its config when `--config` is not given.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// The data directory: `--data-dir`, else the config's `data_dir`, else the platform's.
pub fn data_dir(cli: Option<&Path>, config: Option<&Config>) -> PathBuf {
    cli.map(Path::to_path_buf)
        .or_else(|| config.and_then(|c| c.data_dir.clone()))
        .or_else(|| project_dirs().map(|d| d.data_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(".doorwatch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
operator = "alice"

[[source]]
name = "hq-kisi"
vendor = "kisi"
base_url = "https://api.kisi.io"
token_env = "DOORWATCH_TEST_KISI_KEY"
poll_interval = "5s"

[[source]]
name = "hq-pdk"
vendor = "pdk"
base_url = "https://systems.pdk.io"
auth_url = "https://accounts.pdk.io"
system_id = "abc"
client_id_env = "PDK_CLIENT_ID"
client_secret_env = "PDK_CLIENT_SECRET"
topics = ["device.request.allowed"]

[webhooks]
listen = "127.0.0.1:8787"
"#;

    #[test]
    fn the_design_example_parses() {
        let c = Config::parse(GOOD, None, false).unwrap();
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[0].get_ref().vendor(), Vendor::Kisi);
        assert_eq!(
            c.sources[0].get_ref().poll_interval(),
            Duration::from_secs(5)
        );
        assert_eq!(
            c.sources[1].get_ref().backfill(),
            Duration::from_secs(86_400)
        );
        assert_eq!(c.operator(), "alice");
    }

    #[test]
    fn a_config_without_sources_is_valid() {
        assert!(
            Config::parse("operator = \"bob\"\n", None, false)
                .unwrap()
                .sources
                .is_empty()
        );
        assert!(Config::parse("", None, false).is_ok());
    }

    fn error(text: &str) -> ConfigError {
        Config::parse(text, Some(Path::new("/etc/doorwatch.toml")), false).unwrap_err()
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = error("[[source]]\nname = \"a\"\nvendor = \"kisi\"\ntokn_env = \"X\"\n");
        assert_eq!(e.line, Some(4), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("/etc/doorwatch.toml, line 4: unknown field `tokn_env`"),
            "{shown}"
        );

        let e = error("[[source]]\nname = \"a\"\nvendor = \"acme\"\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("acme"), "{e}");

        let e = error(
            "[[source]]\nname = \"a\"\nvendor = \"kisi\"\n\n[[source]]\nname = \"a\"\nvendor = \"pdk\"\n",
        );
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("unique"));

        let e = error("[[source]]\nname = \"a\"\nvendor = \"kisi\"\npoll_interval = \"often\"\n");
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("not a duration"));

        let e = error("operator = \n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn debug_output_redacts_inline_secrets() {
        let text = "[[source]]\nname = \"a\"\nvendor = \"doorflow\"\nclient_id = \"cid-SECRET-1\"\nclient_secret = \"cs-SECRET-2\"\nrefresh_token = \"rt-SECRET-3\"\nwebhook_secret = \"wh-SECRET-4\"\n[[source]]\nname = \"b\"\nvendor = \"kisi\"\ntoken = \"tok-SECRET-5\"\n";
        let c = Config::parse(text, None, true).unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("client_secret: Some(\"***\")"), "{shown}");
        let s = c.sources[1].get_ref().secret(SecretKind::Token).unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn inline_secrets_need_a_private_file() {
        let text = "[[source]]\nname = \"sim\"\nvendor = \"kisi\"\ntoken = \"sim-secret-123\"\n";
        let e = Config::parse(text, None, false).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("chmod 600"), "{e}");
        assert!(
            !e.to_string().contains("sim-secret-123"),
            "the secret must not be echoed"
        );
        let c = Config::parse(text, None, true).unwrap();
        let secret = c.sources[0].get_ref().secret(SecretKind::Token).unwrap();
        assert_eq!(secret.expose(), "sim-secret-123");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn a_missing_env_var_is_named() {
        let c = Config::parse(GOOD, None, false).unwrap();
        let e = c.sources[0]
            .get_ref()
            .secret(SecretKind::Token)
            .unwrap_err();
        assert!(
            e.message
                .contains("set the environment variable DOORWATCH_TEST_KISI_KEY"),
            "{e}"
        );
        let e = c.sources[0]
            .get_ref()
            .secret(SecretKind::WebhookSecret)
            .unwrap_err();
        assert!(e.message.contains("webhook_secret_env"), "{e}");
    }

    #[test]
    fn alarm_settings_override_defaults_and_bad_ones_are_named() {
        use crate::state::alarms::{Priority, Rule};
        let c = Config::parse(
            "[alarms]\noffline_grace = \"5m\"\nescalate_after = \"0s\"\nrequire_ack_note = true\n\n[alarms.rules.forced_open]\npriority = \"high\"\n[alarms.rules.battery_low]\nenabled = false\n",
            None,
            false,
        )
        .unwrap();
        let a = c.alarm_config();
        assert_eq!(a.offline_grace, chrono::Duration::minutes(5));
        assert_eq!(a.escalate_after, None);
        assert!(a.require_ack_note);
        assert_eq!(a.rules[&Rule::ForcedOpen].priority, Priority::High);
        assert!(!a.rules[&Rule::BatteryLow].enabled);
        let e = error("operator = \"x\"\n\n[alarms]\n[alarms.rules.forced]\nenabled = false\n");
        assert!(e.message.contains("no such rule"), "{e}");
        let e = error("[alarms.rules.tamper]\npriority = \"urgent\"\n");
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn webhook_only_sources_need_a_receiver() {
        let only = "[[source]]\nname = \"a\"\nvendor = \"seam\"\npoll = false\n";
        let e = error(only);
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("[webhooks]"), "{e}");
        let c = Config::parse(
            &format!("{only}\n[webhooks]\nlisten = \"127.0.0.1:0\"\nmax_body = 1024\n"),
            None,
            false,
        )
        .unwrap();
        assert!(!c.sources[0].get_ref().polls());
        assert_eq!(c.webhooks.unwrap().max_body, Some(1024));
        let e = error(
            "[[source]]\nname = \"p\"\nvendor = \"pdk\"\npoll = false\n[webhooks]\nlisten = \"127.0.0.1:0\"\n",
        );
        assert!(e.message.contains("PDK"), "{e}");
        assert!(
            Config::parse(GOOD, None, false).unwrap().sources[0]
                .get_ref()
                .polls()
        );
    }

    #[test]
    fn file_mode_decides_privacy() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[source]]\nname = \"s\"\nvendor = \"seam\"\ntoken = \"t\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Config::load(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(&path).is_ok());
    }
}

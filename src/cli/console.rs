//! Starting the console: theme, keymap, sources, then the TUI; or, when stdout is
//! not a terminal (a pipe, a test), the plain live feed instead.

use crate::config::Config;
use crate::daemon::Live;
use crate::engine::Engine;
use crate::ui::app::{self, App};
use crate::ui::keymap::Keymap;
use crate::ui::{ConsoleOptions, EventFeed};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Console flags from the command line.
#[derive(Debug, Clone, Default)]
pub struct ConsoleFlags {
    pub demo: bool,
    pub read_only: bool,
    pub quiet: bool,
    pub theme: Option<String>,
}

/// Where user themes and the keymap live: next to the config file.
fn config_dir() -> Option<PathBuf> {
    crate::config::default_config_path().and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The keymap: `<config dir>/keymap.toml` if there is one. A broken file stops
/// start-up with its line and fix: running with keys the operator did not expect is
/// worse than not starting.
fn load_keymap() -> anyhow::Result<Keymap> {
    let Some(path) = config_dir().map(|d| d.join("keymap.toml")) else {
        return Ok(Keymap::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Keymap::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(_) => Ok(Keymap::default()),
    }
}

/// Run the console (or the feed when stdout is not a terminal) over `config`'s sources.
pub async fn run(
    config: &Config,
    engine: Engine,
    data_dir: &Path,
    flags: ConsoleFlags,
    banner: &str,
    exit_after: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || exit_after.is_some() {
        return crate::cli::feed::run(config, engine, exit_after, banner).await;
    }
    let keymap = load_keymap()?;
    let theme_dir = config_dir().map(|d| d.join("themes"));
    let (theme, warnings) = crate::ui::theme::from_env(
        flags.theme.as_deref().unwrap_or(crate::ui::theme::DEFAULT_THEME),
        theme_dir.as_deref(),
    );
    for w in warnings.iter().chain(keymap.warnings()) {
        tracing::warn!("{w}");
    }
    // The newest events of the store fill the live pane before anything new arrives.
    let recent = crate::search::Query::parse("", chrono::Utc::now())
        .ok()
        .and_then(|q| crate::search::execute(engine.store(), &q, 500, None).ok())
        .map(|p| p.events.into_iter().map(|(_, e)| e).collect::<Vec<_>>())
        .unwrap_or_default();
    let require_note = engine.alarms.config.require_ack_note;
    let (feed, rx) = EventFeed::channel();
    let live = Live::start(config, engine, move |_, stored| feed.send(stored))?;
    let mut app = App::new(theme, keymap, chrono::Utc::now());
    app.demo = flags.demo;
    app.read_only = flags.read_only;
    app.quiet = flags.quiet;
    app.operator = config.operator();
    app.require_ack_note = require_note;
    app.theme_dir = theme_dir;
    app.title = if flags.demo {
        "doorwatch".into()
    } else {
        format!("doorwatch · {} source(s)", config.sources.len())
    };
    if let Some(w) = warnings.first() {
        app.message = Some(w.clone());
    }
    app::seed(&mut app, recent);
    let result = crate::ui::run(
        app,
        &live,
        rx,
        ConsoleOptions {
            data_dir: data_dir.to_path_buf(),
        },
    )
    .await;
    let engine = live.shutdown().await?;
    engine.close()?;
    result
}

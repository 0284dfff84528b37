//! Starting the console: attached to the store's owner when one answers on the
//! socket, else owning the store itself (and serving the socket for others). A TUI
//! when stdout is a terminal; the plain live feed otherwise (a pipe, a test).

use crate::config::Config;
use crate::daemon::Live;
use crate::engine::Engine;
use crate::remote::Client;
use crate::ui::app::{self, App};
use crate::ui::backend::{self, Backend};
use crate::ui::keymap::Keymap;
use crate::ui::snapshot::Snapshot;
use crate::ui::terminal::TerminalGuard;
use crate::ui::{EventFeed, Opened};
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

/// Events shown in the live pane at start, before anything new arrives.
const RECENT: usize = 500;

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
        Ok(text) => {
            Keymap::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(_) => Ok(Keymap::default()),
    }
}

/// Run the console (or the feed when stdout is not a terminal) on `data_dir`.
pub async fn run(
    config: &Config,
    data_dir: &Path,
    flags: ConsoleFlags,
    banner: &str,
    exit_after: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let feed = !std::io::stdout().is_terminal() || exit_after.is_some();
    match Client::connect(data_dir)? {
        Some(client) if feed => {
            crate::cli::feed::attached(client, data_dir, exit_after, banner).await
        }
        Some(client) => attached(config, client, data_dir, flags).await,
        None if feed => {
            let engine = open_engine(config, data_dir).await?;
            crate::cli::feed::run(config, engine, data_dir, exit_after, banner).await
        }
        None => owner(config, data_dir, flags).await,
    }
}

async fn open_engine(config: &Config, data_dir: &Path) -> anyhow::Result<Engine> {
    let (data_dir, alarms) = (data_dir.to_path_buf(), config.alarm_config());
    tokio::task::spawn_blocking(move || Engine::open(&data_dir, alarms)).await?
}

/// The app with everything that does not need the store.
fn new_app(config: &Config, flags: &ConsoleFlags) -> anyhow::Result<App> {
    let keymap = load_keymap()?;
    let theme_dir = config_dir().map(|d| d.join("themes"));
    let (theme, warnings) = crate::ui::theme::from_env(
        flags
            .theme
            .as_deref()
            .unwrap_or(crate::ui::theme::DEFAULT_THEME),
        theme_dir.as_deref(),
    );
    for w in warnings.iter().chain(keymap.warnings()) {
        tracing::warn!("{w}");
    }
    let mut app = App::new(theme, keymap, chrono::Utc::now());
    app.demo = flags.demo;
    app.read_only = flags.read_only;
    app.quiet = flags.quiet;
    app.operator = config.operator();
    app.require_ack_note = config.alarm_config().require_ack_note;
    app.theme_dir = theme_dir;
    app.title = if flags.demo {
        "doorwatch".into()
    } else {
        format!("doorwatch · {} source(s)", config.sources.len())
    };
    app.message = warnings.first().cloned();
    Ok(app)
}

/// This process owns the store: first frame (the glance of the last close, if there
/// is one), then, while the store opens, the same loop as ever on what the glance
/// shows; once open, the sources run, the socket is served and the store's own data
/// replaces the glance. On close, the glance is written for the next start.
async fn owner(config: &Config, data_dir: &Path, flags: ConsoleFlags) -> anyhow::Result<()> {
    let mut app = new_app(config, &flags)?;
    let warning = app.message.take();
    // The store opens beside the first frames (sled's open is most of start-up).
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    let opening = {
        let (config, data_dir) = (config.clone(), data_dir.to_path_buf());
        tokio::spawn(async move { open_live(&config, &data_dir, warning, opened_tx).await })
    };
    match crate::ui::glance::load(data_dir) {
        Some(glance) => crate::ui::glance::show(&mut app, glance),
        None => app.message = Some(format!("opening the store in {}…", data_dir.display())),
    }
    let result = match TerminalGuard::enter() {
        Ok(guard) => crate::ui::run(guard, app, opened_rx).await,
        Err(e) => Err(e),
    };
    // The store may still be opening if the operator quit at once: let it finish, then
    // close it as always.
    let live = opening.await??;
    let engine = live.shutdown().await?;
    crate::ui::glance::save_on_close(data_dir, &engine);
    engine.close()?;
    result
}

/// Open the store, start the sources and serve the socket; hand the console its
/// backend through `opened` (with `warning` for the footer, unless serving failed).
/// Returns what runs, for the console to stop on close.
async fn open_live(
    config: &Config,
    data_dir: &Path,
    warning: Option<String>,
    opened: tokio::sync::oneshot::Sender<Opened>,
) -> anyhow::Result<Live> {
    let (dir, alarms) = (data_dir.to_path_buf(), config.alarm_config());
    let (engine, newest_first) = tokio::task::spawn_blocking(move || {
        let engine = Engine::open(&dir, alarms)?;
        let newest_first = crate::search::newest(engine.store(), RECENT);
        anyhow::Ok((engine, newest_first))
    })
    .await??;
    let (feed, rx) = EventFeed::channel();
    let mut live = Live::start(config, engine, move |_, stored| feed.send(stored))?;
    let message = match live.serve(data_dir) {
        Ok(()) => warning,
        // Still a working console; others just cannot attach.
        Err(e) => {
            tracing::warn!("not serving other consoles: {e:#}");
            Some(format!("other consoles cannot attach: {e:#}"))
        }
    };
    let snapshot = {
        let engine = live.engine();
        let engine = crate::sources::runtime::lock_engine(&engine);
        Snapshot::take(&engine, live.board.all(), chrono::Utc::now())
    };
    let updates =
        backend::local_updates(live.engine(), live.board.clone(), live.engine_changes(), rx);
    let backend = Backend::Local {
        engine: live.engine(),
        sink: live.sink.clone(),
        data_dir: data_dir.to_path_buf(),
    };
    // The console may be gone already (the operator quit): nothing to hand over then.
    let _ = opened.send(Opened {
        backend,
        updates,
        newest_first,
        snapshot: Some(Box::new(snapshot)),
        message,
    });
    Ok(live)
}

/// Another process owns the store: draw what it serves.
async fn attached(
    config: &Config,
    mut client: Client,
    data_dir: &Path,
    flags: ConsoleFlags,
) -> anyhow::Result<()> {
    let mut app = new_app(config, &flags)?;
    let recent = client.search_page("", RECENT, None)?.events;
    app.title = format!("{} · attached (pid {})", app.title, client.pid);
    let seen = recent.iter().map(|e| e.id.clone()).collect();
    app::seed(&mut app, recent);
    let guard = TerminalGuard::enter()?;
    let updates = backend::remote_updates(data_dir.to_path_buf(), seen);
    let backend = Backend::Remote {
        data_dir: data_dir.to_path_buf(),
    };
    let opened = Opened {
        backend,
        updates,
        newest_first: Vec::new(),
        snapshot: None,
        message: app.message.clone(),
    };
    crate::ui::run(guard, app, opened.ready()).await
}

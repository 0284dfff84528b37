//! A security desk frozen in time for the console tests: the four vendor fixtures
//! committed into a real store at a fixed clock, source status rows written by hand,
//! and an [`App`] built over them exactly as the console builds its own.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use doorwatch::engine::Engine;
use doorwatch::model::{Event, Vendor};
use doorwatch::search::{Query, execute};
use doorwatch::sources::runtime::{LinkState, SourceStatus};
use doorwatch::sources::{self, ParseContext};
use doorwatch::state::alarms::AlarmConfig;
use doorwatch::store::{AppendBatch, EventKey};
use doorwatch::ui::app::{self, App, Msg};
use doorwatch::ui::keymap::Keymap;
use doorwatch::ui::snapshot::Snapshot;
use doorwatch::ui::theme::Theme;
use std::path::Path;

/// The desk's clock: the evening after the fixtures' busiest day.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 21, 0, 0).unwrap()
}

/// Events the live pane starts with, as the console seeds it.
pub const SEEDED: usize = 500;

pub struct Desk {
    _dir: tempfile::TempDir,
    pub engine: Engine,
}

fn fixture_text(vendor: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor);
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_to_string(file).unwrap()
}

/// `import_text`, but with the fixed clock for `received_at` and the alarm tick, so
/// nothing on screen depends on when the test runs.
fn import_at(engine: &mut Engine, vendor: Vendor, at: DateTime<Utc>) {
    let source = vendor.as_str();
    let ctx = ParseContext {
        source,
        received_at: at,
    };
    let (items, _) = sources::split_import(vendor, &fixture_text(source));
    let events: Vec<Event> = sources::parse_batch(vendor, &ctx, items)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let batch = AppendBatch {
        events,
        ..Default::default()
    };
    engine.ingest(batch, at).unwrap();
}

/// Every vendor's fixture in a fresh store.
pub fn desk() -> Desk {
    desk_with(AlarmConfig::default())
}

pub fn desk_with(config: AlarmConfig) -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), config).unwrap();
    for vendor in Vendor::ALL {
        import_at(&mut engine, vendor, now());
    }
    engine.tick(now()).unwrap();
    Desk { _dir: dir, engine }
}

fn status(name: &str, vendor: Vendor, state: LinkState, last_min: Option<i64>) -> SourceStatus {
    SourceStatus {
        name: name.into(),
        vendor,
        state,
        reason: None,
        retry_at: None,
        last_event_at: last_min.map(|m| now() - chrono::Duration::minutes(m)),
        stored: 0,
        duplicates: 0,
        quarantined: 0,
        changed_at: now(),
        webhooks_accepted: 0,
        webhooks_rejected: 0,
        health: Default::default(),
    }
}

/// One source in each link state the header distinguishes.
pub fn statuses() -> Vec<SourceStatus> {
    vec![
        status("hq-kisi", Vendor::Kisi, LinkState::Live, Some(2)),
        status("pdk", Vendor::Pdk, LinkState::BackingOff, Some(75)),
        status("seam", Vendor::Seam, LinkState::Failed, None),
    ]
}

/// The newest `limit` events of `query`, as a page message for generation `generation`.
pub fn page(
    desk: &Desk,
    generation: u64,
    query: &str,
    before: Option<EventKey>,
    limit: usize,
) -> Msg {
    let q = Query::parse(query, now()).unwrap();
    let page = execute(desk.engine.store(), &q, limit, before).unwrap();
    Msg::SearchPage {
        generation,
        result: Ok((page.events, page.next)),
    }
}

/// The newest events, newest first.
pub fn recent(desk: &Desk, limit: usize) -> Vec<Event> {
    let q = Query::parse("", now()).unwrap();
    execute(desk.engine.store(), &q, limit, None)
        .unwrap()
        .events
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// The console over `desk`, as `cli::console` starts it, at the fixed clock.
pub fn app_with(desk: &Desk, theme: Theme) -> App {
    let mut app = App::new(theme, Keymap::default(), now());
    app.operator = "tester".into();
    app.title = "doorwatch · 3 source(s)".into();
    app.snapshot = Snapshot::take(&desk.engine, statuses(), now());
    app::seed(&mut app, recent(desk, SEEDED));
    app
}

pub fn app(desk: &Desk) -> App {
    app_with(desk, Theme::builtin("dark").unwrap())
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// A typed character, with SHIFT for capitals as terminals report them.
pub fn ch(c: char) -> Msg {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Feed every message, collecting the effects in order.
pub fn send(app: &mut App, msgs: impl IntoIterator<Item = Msg>) -> Vec<app::Effect> {
    msgs.into_iter().flat_map(|m| app::update(app, m)).collect()
}

/// Type `text` one key at a time.
pub fn typed(text: &str) -> Vec<Msg> {
    text.chars().map(ch).collect()
}

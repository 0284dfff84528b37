//! The glance: what the console showed when the store's owner last closed — open
//! alarms, doors, controllers and the newest events — kept in `<data dir>/glance.json`
//! so that the next console that owns the store can draw it at once, while the store
//! (hundreds of milliseconds at 10M events) is still opening.
//!
//! The console and the daemon write it when they close (mode 0600, atomically: a
//! temporary file renamed over the old one). Only what the panes show goes in: the
//! state's snapshot without the sources' status lines and catch-ups (they describe a
//! run that is over), and the newest [`EVENTS`] events. A damaged file, one of another
//! format version, or none at all is logged and ignored: the console then draws as
//! before, "opening the store in …".
//!
//! While the glance is shown (`App::glance`), nothing can be acknowledged, searched or
//! exported; once the store is open its own data replaces the glance (see
//! [`leave`]).

use crate::engine::Engine;
use crate::model::Event;
use crate::ui::app::App;
use crate::ui::snapshot::Snapshot;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in the data dir.
pub const FILE: &str = "glance.json";
/// Bumped when the file's shape changes; another version is ignored.
pub const VERSION: u32 = 1;
/// The newest events kept: more than a tall terminal's events pane shows.
pub const EVENTS: usize = 200;
/// A glance bigger than this is not one we wrote: ignored unread.
const MAX_BYTES: u64 = 32 << 20;

/// The file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Glance {
    pub version: u32,
    /// When it was written: what the footer says it is "as of".
    #[serde(with = "crate::model::ms_time")]
    pub written_at: DateTime<Utc>,
    pub snapshot: Snapshot,
    /// Newest first, as the store returns them.
    pub events: Vec<Event>,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

impl Glance {
    /// What the console would show of `engine` now.
    pub fn take(engine: &Engine, now: DateTime<Utc>) -> Glance {
        let mut snapshot = Snapshot::take(engine, Vec::new(), now);
        snapshot.catch_ups.clear();
        let events = crate::search::newest(engine.store(), EVENTS);
        Glance {
            version: VERSION,
            written_at: now,
            snapshot,
            events,
        }
    }
}

/// Write `glance` into `data_dir`: mode 0600, atomically.
pub fn save(data_dir: &Path, glance: &Glance) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(glance).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".glance-")
        .suffix(".tmp")
        .tempfile_in(data_dir)?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path(data_dir)).map_err(|e| e.error)?;
    Ok(())
}

/// Write the glance of `engine` on close; a failure is logged, never fatal (the next
/// start just draws without one).
pub fn save_on_close(data_dir: &Path, engine: &Engine) {
    let started = std::time::Instant::now();
    let glance = Glance::take(engine, Utc::now());
    match save(data_dir, &glance) {
        Ok(()) => tracing::debug!(
            events = glance.events.len(),
            "glance written in {:?}",
            started.elapsed()
        ),
        Err(e) => tracing::warn!(
            "could not write the glance {}: {e}",
            path(data_dir).display()
        ),
    }
}

/// Why a glance file was not used.
#[derive(Debug)]
pub enum Unusable {
    Missing,
    Unreadable(std::io::Error),
    TooBig(u64),
    Damaged(serde_json::Error),
    Version(u32),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => write!(f, "there is none yet"),
            Unusable::Unreadable(e) => write!(f, "cannot read it: {e}"),
            Unusable::TooBig(n) => write!(f, "it is {n} bytes, not one doorwatch wrote"),
            Unusable::Damaged(e) => write!(f, "it is damaged: {e}"),
            Unusable::Version(v) => write!(f, "it is format version {v}, not {VERSION}"),
        }
    }
}

/// Read the glance in `data_dir`.
pub fn read(data_dir: &Path) -> Result<Glance, Unusable> {
    let path = path(data_dir);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(Unusable::Unreadable(e)),
    };
    let len = file.metadata().map_err(Unusable::Unreadable)?.len();
    if len > MAX_BYTES {
        return Err(Unusable::TooBig(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::BufReader::new(file), &mut bytes)
        .map_err(Unusable::Unreadable)?;
    // The version first, so that another format says so instead of "damaged".
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version = serde_json::from_slice::<Version>(&bytes)
        .map_err(Unusable::Damaged)?
        .version;
    if version != VERSION {
        return Err(Unusable::Version(version));
    }
    serde_json::from_slice(&bytes).map_err(Unusable::Damaged)
}

/// The glance in `data_dir` if there is a usable one; why not is logged.
pub fn load(data_dir: &Path) -> Option<Glance> {
    match read(data_dir) {
        Ok(g) => Some(g),
        Err(Unusable::Missing) => {
            tracing::debug!("no glance in {}", data_dir.display());
            None
        }
        Err(why) => {
            tracing::warn!("not showing the glance {}: {why}", path(data_dir).display());
            None
        }
    }
}

/// Show `glance` until the store is open.
pub fn show(app: &mut App, glance: Glance) {
    app.glance = Some(glance.written_at);
    app.snapshot = glance.snapshot;
    crate::ui::app::seed(app, glance.events);
}

/// The store is open: its own newest events replace the glance's, and its state is
/// taken as the first snapshot (the caller passes it on; the alarm selected in the
/// glance stays selected if it is still open).
pub fn leave(app: &mut App, newest_first: Vec<Event>) {
    let was_glance = app.glance.take().is_some();
    if was_glance {
        app.live.events.clear();
        app.live.follow();
        // As if no snapshot had come yet: the store's first one is not news.
        app.snapshot = Snapshot::default();
    }
    crate::ui::app::seed(app, newest_first);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, Ref, Severity, Vendor};
    use std::os::unix::fs::PermissionsExt;

    fn event(n: i64) -> Event {
        let at = DateTime::from_timestamp_millis(1_763_805_600_000 + n * 1000).unwrap();
        Event {
            id: format!("hq-pdk:{n}"),
            source: "hq-pdk".into(),
            vendor: Vendor::Pdk,
            occurred_at: at,
            received_at: at,
            kind: EventKind::DoorForcedOpen,
            vendor_type: "device.alarm.forced".into(),
            severity: Severity::Alarm,
            door: Some(Ref::new("d1", Some("Server Room"))),
            controller: None,
            person: None,
            site: None,
            credential: None,
            success: None,
            summary: format!("Server Room forced open ({n})"),
            raw: serde_json::json!({"id": n}).into(),
        }
    }

    fn sample() -> Glance {
        Glance {
            version: VERSION,
            written_at: DateTime::from_timestamp_millis(1_763_805_700_123).unwrap(),
            snapshot: Snapshot {
                events_stored: 42,
                ..Default::default()
            },
            events: (0..3).rev().map(event).collect(),
        }
    }

    #[test]
    fn round_trip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let g = sample();
        save(dir.path(), &g).unwrap();
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Written again over the old one; no temporary file is left behind.
        save(dir.path(), &g).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE)]);
        let back = read(dir.path()).unwrap();
        assert_eq!(back.written_at, g.written_at);
        assert_eq!(back.events, g.events);
        assert_eq!(back.snapshot.events_stored, 42);
    }

    #[test]
    fn missing_damaged_and_foreign_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read(dir.path()), Err(Unusable::Missing)));
        assert!(load(dir.path()).is_none());
        for damaged in [
            &b""[..],
            b"{",
            b"\0\0\0\xff",
            b"[1, 2, 3]",
            b"{\"version\": 1, \"written_at\": \"yesterday\"}",
        ] {
            std::fs::write(path(dir.path()), damaged).unwrap();
            assert!(matches!(read(dir.path()), Err(Unusable::Damaged(_))));
            assert!(load(dir.path()).is_none());
        }
        let mut foreign = serde_json::to_value(sample()).unwrap();
        foreign["version"] = serde_json::json!(VERSION + 1);
        foreign["snapshot"] = serde_json::json!("a shape we do not know");
        std::fs::write(path(dir.path()), foreign.to_string()).unwrap();
        assert!(matches!(read(dir.path()), Err(Unusable::Version(v)) if v == VERSION + 1));
        assert!(load(dir.path()).is_none());
        // Cut short, as a full disk would leave it (rename makes that unlikely).
        let whole = serde_json::to_vec(&sample()).unwrap();
        std::fs::write(path(dir.path()), &whole[..whole.len() / 2]).unwrap();
        assert!(load(dir.path()).is_none());
    }

    #[test]
    fn shown_then_replaced_by_the_store() {
        use crate::ui::keymap::Keymap;
        use crate::ui::theme::Theme;
        let mut app = App::new(Theme::default(), Keymap::default(), Utc::now());
        let g = sample();
        let as_of = g.written_at;
        show(&mut app, g);
        assert_eq!(app.glance, Some(as_of));
        assert_eq!(app.live.events.len(), 3);
        assert_eq!(app.live.events.back().unwrap().id, "hq-pdk:2");
        leave(&mut app, (0..5).rev().map(event).collect());
        assert_eq!(app.glance, None);
        assert_eq!(app.live.events.len(), 5);
        assert_eq!(app.live.events.back().unwrap().id, "hq-pdk:4");
        assert_eq!(app.snapshot.events_stored, 0);
    }

    fn key(c: char) -> crate::ui::app::Msg {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        crate::ui::app::Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn screen(app: &App) -> String {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
        term.draw(|f| crate::ui::render::render(app, f)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    #[test]
    fn nothing_is_acknowledged_or_searched_while_the_glance_shows() {
        use crate::ui::app::{GLANCE_REFUSAL, Msg, Pane, update};
        use crate::ui::keymap::Keymap;
        use crate::ui::theme::Theme;
        let now = DateTime::from_timestamp_millis(1_763_805_800_000).unwrap();
        let mut app = App::new(Theme::default(), Keymap::default(), now);
        show(&mut app, sample());
        let s = screen(&app);
        assert!(
            s.contains("opening the store… showing it as of 10:01:40 UTC"),
            "{s}"
        );
        assert!(s.contains("AS OF 10:01:40 UTC"), "{s}");
        assert!(s.contains("10:00:02 3m   pdk      door.forced_open"), "{s}");
        for (c, what) in [('a', "ack"), ('/', "search")] {
            let effects = update(&mut app, key(c));
            assert!(effects.is_empty(), "{what}: {effects:?}");
            assert_eq!(app.message.as_deref(), Some(GLANCE_REFUSAL), "{what}");
            assert!(app.overlay.is_none(), "{what}");
            assert!(!app.search.editing, "{what}");
        }
        // Moving around is fine.
        let _ = update(&mut app, key('2'));
        assert_eq!(app.pane, Pane::Doors);
        // The store opens: its data, the plain footer, and acks work again.
        let effects = update(
            &mut app,
            Msg::StoreOpen {
                newest_first: (0..4).rev().map(event).collect(),
                snapshot: Some(Box::default()),
                message: None,
            },
        );
        assert!(effects.is_empty());
        assert_eq!(app.glance, None);
        let s = screen(&app);
        assert!(!s.contains("showing it as of"), "{s}");
        let _ = update(&mut app, key('a'));
        assert_eq!(app.message.as_deref(), Some("no alarm to acknowledge"));
    }
}

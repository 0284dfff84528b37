//! The console's state and `update`: every input becomes a [`Msg`]; `update` changes
//! the [`App`] and returns [`Effect`]s for the loop to carry out (store queries, acks,
//! exports, the bell). Rendering only reads the `App` (see `render`).

use crate::model::Event;
use crate::state::alarms::{Alarm, Priority};
use crate::store::EventKey;
use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::snapshot::Snapshot;
use crate::ui::theme::Theme;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

/// Recent events kept in memory for the live pane; older ones are a search away.
pub const LIVE_CAPACITY: usize = 5_000;
/// Search results fetched per page from the store.
pub const SEARCH_PAGE: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Events,
    Doors,
    Controllers,
    Alarms,
    Search,
}

impl Pane {
    /// Tab order; the digit keys 1-5 follow it.
    pub const ALL: [Pane; 5] = [
        Pane::Events,
        Pane::Doors,
        Pane::Controllers,
        Pane::Alarms,
        Pane::Search,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Events => "Events",
            Pane::Alarms => "Alarms",
            Pane::Doors => "Doors",
            Pane::Controllers => "Controllers",
            Pane::Search => "Search",
        }
    }

    fn context(self) -> Context {
        match self {
            Pane::Events => Context::Events,
            Pane::Alarms => Context::Alarms,
            Pane::Doors => Context::Doors,
            Pane::Controllers => Context::Controllers,
            Pane::Search => Context::Search,
        }
    }

    fn next(self, step: isize) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0) as isize;
        let n = Pane::ALL.len() as isize;
        Pane::ALL[((i + step).rem_euclid(n)) as usize]
    }
}

/// The live event list: follow mode shows the newest; scrolling or `space` freezes it
/// and counts what arrived since.
#[derive(Debug, Default)]
pub struct LiveEvents {
    /// Oldest first.
    pub events: VecDeque<Event>,
    pub following: bool,
    /// Index into `events` of the selected row (meaningful when frozen).
    pub selected: usize,
    /// Arrived while frozen.
    pub new_while_frozen: usize,
    pub newest_first: bool,
}

impl LiveEvents {
    fn push(&mut self, batch: Vec<Event>) {
        let mut batch = batch;
        // Vendors deliver out of order; the list reads best in event time.
        batch.sort_by_key(|e| e.occurred_at);
        for e in batch {
            if !self.following {
                self.new_while_frozen += 1;
            }
            self.events.push_back(e);
        }
        while self.events.len() > LIVE_CAPACITY {
            self.events.pop_front();
            self.selected = self.selected.saturating_sub(1);
        }
        if self.following {
            self.selected = self.events.len().saturating_sub(1);
        }
    }

    pub fn selected_event(&self) -> Option<&Event> {
        self.events.get(self.selected)
    }

    /// How many events (oldest first) the list shows. Frozen, the view stays as it
    /// was: arrivals since wait behind the "N new" count instead of pushing rows down.
    pub fn visible(&self) -> usize {
        if self.following {
            self.events.len()
        } else {
            self.events.len().saturating_sub(self.new_while_frozen)
        }
    }

    fn freeze(&mut self) {
        if self.following {
            self.following = false;
            self.new_while_frozen = 0;
        }
    }

    pub fn follow(&mut self) {
        self.following = true;
        self.new_while_frozen = 0;
        self.selected = self.events.len().saturating_sub(1);
    }

    /// Move the selection `delta` rows on screen (up is towards the top row).
    fn move_by(&mut self, delta: isize) {
        if self.events.is_empty() {
            return;
        }
        self.freeze();
        // On screen, "down" is older when the newest is at the top.
        let delta = if self.newest_first { -delta } else { delta };
        let last = self.visible() as isize - 1;
        if last < 0 {
            return;
        }
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }
}

/// The search pane: the query bar and the result pages loaded so far.
#[derive(Debug, Default)]
pub struct SearchState {
    pub input: String,
    pub editing: bool,
    /// The query whose results are shown.
    pub query: String,
    pub error: Option<String>,
    pub results: Vec<(EventKey, Event)>,
    /// Where the next page starts; `None` once the store has no more.
    pub next: Option<EventKey>,
    pub loading: bool,
    pub generation: u64,
    pub selected: usize,
    pub done: bool,
    /// `G` was pressed: keep fetching pages and keep the selection on the last row
    /// until the store has no more (or the operator moves).
    pub to_end: bool,
}

/// A simple selection over a list the snapshot provides.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cursor {
    pub selected: usize,
}

impl Cursor {
    fn move_by(&mut self, delta: isize, len: usize) {
        if len == 0 {
            self.selected = 0;
            return;
        }
        self.selected = (self.selected as isize + delta).clamp(0, len as isize - 1) as usize;
    }
}

/// Doors pane sort orders (alarm doors always first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DoorSort {
    #[default]
    Name,
    Site,
    Vendor,
    LastAccess,
}

impl DoorSort {
    fn next(self) -> DoorSort {
        match self {
            DoorSort::Name => DoorSort::Site,
            DoorSort::Site => DoorSort::Vendor,
            DoorSort::Vendor => DoorSort::LastAccess,
            DoorSort::LastAccess => DoorSort::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DoorSort::Name => "name",
            DoorSort::Site => "site",
            DoorSort::Vendor => "vendor",
            DoorSort::LastAccess => "last access",
        }
    }
}

/// How the doors pane lays doors out. `Auto` shows the table while every door fits
/// in it and the compact grid once they do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DoorView {
    #[default]
    Auto,
    Table,
    Grid,
}

/// What the doors pane drew last: the grid's shape decides where the arrow keys go.
/// Written by `render` (the only one who knows the pane's size), read by `update`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoorLayout {
    pub grid: bool,
    /// Cells per grid row (1 for the table).
    pub columns: usize,
}

/// What covers the panes for a moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Detail {
        event: Box<Event>,
        scroll: u16,
    },
    Ack {
        alarm: String,
        note: String,
        error: Option<String>,
    },
    Command {
        input: String,
        error: Option<String>,
    },
    ConfirmQuit,
}

pub enum Msg {
    Key(KeyEvent),
    /// Once a second: clocks and ages.
    Tick(DateTime<Utc>),
    Snapshot(Box<Snapshot>),
    Events(Vec<Event>),
    SearchPage {
        generation: u64,
        result: super::backend::SearchResult,
    },
    Acked(Result<String, String>),
    Exported(Result<(PathBuf, usize), String>),
    /// A line for the footer from outside (lost the daemon, reconnected).
    Notice(String),
    /// The store is open: its newest events (newest first) and state replace the
    /// glance; `message` is the footer's line from then on.
    StoreOpen {
        newest_first: Vec<Event>,
        snapshot: Option<Box<Snapshot>>,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Search {
        generation: u64,
        query: String,
        before: Option<EventKey>,
        limit: usize,
    },
    Ack {
        alarm: String,
        note: String,
    },
    Export {
        query: String,
        jsonl: bool,
    },
    Bell,
    Quit,
}

pub struct App {
    pub title: String,
    pub demo: bool,
    pub read_only: bool,
    /// No bell, no blink.
    pub quiet: bool,
    pub operator: String,
    pub require_ack_note: bool,
    pub pane: Pane,
    pub live: LiveEvents,
    pub alarms: Cursor,
    pub doors: Cursor,
    pub door_sort: DoorSort,
    /// Show only doors of this vendor (cycled with `f`).
    pub door_filter: Option<crate::model::Vendor>,
    /// Show only doors of this site, by its label (cycled with `F`).
    pub door_site: Option<String>,
    /// Table or grid (`v`); `Auto` until the operator chooses.
    pub door_view: DoorView,
    /// Set by each draw of the doors pane; see [`DoorLayout`].
    pub door_layout: std::cell::Cell<DoorLayout>,
    pub controllers: Cursor,
    pub search: SearchState,
    pub overlay: Option<Overlay>,
    pub command_history: Vec<String>,
    pub history_pos: Option<usize>,
    /// One line at the bottom: what just happened (exported to ..., acknowledged ...).
    pub message: Option<String>,
    /// An acknowledgement's confirmation, held until the snapshot that shows it arrives
    /// (or the next tick), so that the footer never says "acknowledged" above a row
    /// that does not yet.
    pub ack_confirmation: Option<String>,
    pub snapshot: Snapshot,
    /// Showing the glance written at this time while the store opens (see
    /// `ui::glance`): nothing can be acknowledged, searched or exported meanwhile.
    pub glance: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub theme: Theme,
    pub theme_dir: Option<PathBuf>,
    pub keymap: Keymap,
    /// Critical alarms that already rang the bell.
    rang: HashSet<String>,
    pub quit: bool,
}

impl App {
    pub fn new(theme: Theme, keymap: Keymap, now: DateTime<Utc>) -> App {
        App {
            title: "doorwatch".into(),
            demo: false,
            read_only: false,
            quiet: false,
            operator: String::new(),
            require_ack_note: false,
            pane: Pane::Events,
            live: LiveEvents {
                following: true,
                newest_first: true,
                ..Default::default()
            },
            alarms: Cursor::default(),
            doors: Cursor::default(),
            door_sort: DoorSort::default(),
            door_filter: None,
            door_site: None,
            door_view: DoorView::default(),
            door_layout: std::cell::Cell::new(DoorLayout {
                grid: false,
                columns: 1,
            }),
            controllers: Cursor::default(),
            search: SearchState::default(),
            overlay: None,
            command_history: Vec::new(),
            history_pos: None,
            message: None,
            ack_confirmation: None,
            snapshot: Snapshot::default(),
            glance: None,
            now,
            theme,
            theme_dir: None,
            keymap,
            rang: HashSet::new(),
            quit: false,
        }
    }

    /// Unacknowledged alarms, in the alarms pane's order.
    pub fn unacknowledged(&self) -> impl Iterator<Item = (usize, &Alarm)> {
        self.snapshot
            .alarms
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.acknowledged())
    }

    /// A door's name from the listings, for events that carry only its id (Seam).
    pub fn door_name(&self, source: &str, id: &str) -> Option<&str> {
        self.snapshot
            .doors
            .iter()
            .find(|d| d.key.source == source && d.key.id == id)
            .map(|d| d.name.as_str())
            .filter(|n| *n != id)
    }

    pub fn selected_alarm(&self) -> Option<&Alarm> {
        self.snapshot.alarms.get(self.alarms.selected)
    }

    /// The doors the doors pane lists, in its order.
    pub fn visible_doors(&self) -> Vec<&crate::ui::snapshot::DoorRow> {
        let mut doors: Vec<_> = self
            .snapshot
            .doors
            .iter()
            .filter(|d| self.door_filter.is_none_or(|v| d.vendor == v))
            .filter(|d| {
                self.door_site
                    .as_deref()
                    .is_none_or(|s| d.site.as_deref() == Some(s))
            })
            .collect();
        doors.sort_by(|a, b| {
            let urgent = |d: &crate::ui::snapshot::DoorRow| {
                std::cmp::Reverse((d.alarm, !d.conditions.is_empty()))
            };
            urgent(a)
                .cmp(&urgent(b))
                .then_with(|| match self.door_sort {
                    DoorSort::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                    DoorSort::Site => a.site.cmp(&b.site).then(a.name.cmp(&b.name)),
                    DoorSort::Vendor => a
                        .vendor
                        .as_str()
                        .cmp(b.vendor.as_str())
                        .then(a.name.cmp(&b.name)),
                    DoorSort::LastAccess => {
                        let at =
                            |d: &crate::ui::snapshot::DoorRow| d.last_access.as_ref().map(|a| a.at);
                        at(b).cmp(&at(a))
                    }
                })
        });
        doors
    }

    /// The sites the site filter cycles through: those of the doors the vendor filter
    /// lets through, by name.
    pub fn door_sites(&self) -> Vec<&str> {
        let mut sites: Vec<&str> = self
            .snapshot
            .doors
            .iter()
            .filter(|d| self.door_filter.is_none_or(|v| d.vendor == v))
            .filter_map(|d| d.site.as_deref())
            .collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    }

    /// Whether the doors pane shows the grid (as drawn last, for `Auto`).
    pub fn doors_as_grid(&self) -> bool {
        match self.door_view {
            DoorView::Auto => self.door_layout.get().grid,
            DoorView::Table => false,
            DoorView::Grid => true,
        }
    }
}

/// Fill the live list with events from before the console started (newest first
/// as the store returns them).
pub fn seed(app: &mut App, mut newest_first: Vec<Event>) {
    newest_first.reverse();
    app.live.push(newest_first);
}

/// Apply one message.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(app, key),
        Msg::Tick(now) => {
            app.now = now;
            if let Some(m) = app.ack_confirmation.take() {
                app.message = Some(m);
            }
            Vec::new()
        }
        Msg::Snapshot(s) => on_snapshot(app, *s),
        Msg::Events(events) => {
            app.live.push(events);
            Vec::new()
        }
        Msg::SearchPage { generation, result } => on_search_page(app, generation, result),
        Msg::Notice(text) => {
            app.message = Some(text);
            Vec::new()
        }
        Msg::StoreOpen {
            newest_first,
            snapshot,
            message,
        } => {
            crate::ui::glance::leave(app, newest_first);
            app.message = message;
            match snapshot {
                Some(s) => on_snapshot(app, *s),
                None => Vec::new(),
            }
        }
        Msg::Acked(result) => {
            match result {
                Ok(text) if shown_as_acked(app, &text) => app.message = Some(text),
                Ok(text) => app.ack_confirmation = Some(text),
                Err(text) => app.message = Some(text),
            }
            Vec::new()
        }
        Msg::Exported(result) => {
            app.message = Some(match result {
                Ok((path, n)) => format!("exported {n} events to {}", path.display()),
                Err(e) => format!("export failed: {e}"),
            });
            Vec::new()
        }
    }
}

/// Does the list already show the alarm of this confirmation ("<id> acknowledged by
/// ...") as acknowledged, or gone? The state's snapshot can arrive before the reply.
fn shown_as_acked(app: &App, confirmation: &str) -> bool {
    let id = confirmation.split_whitespace().next().unwrap_or_default();
    app.snapshot
        .alarms
        .iter()
        .find(|a| a.id == id)
        .is_none_or(|a| a.acknowledged())
}

fn on_snapshot(app: &mut App, snapshot: Snapshot) -> Vec<Effect> {
    // Keep the same alarm selected when the list reorders under it.
    let selected_id = app.selected_alarm().map(|a| a.id.clone());
    // Another console's acknowledgement: say who, as the alarm may leave the list.
    let first = app.snapshot.events_stored == 0
        && app.snapshot.alarms.is_empty()
        && app.snapshot.recent_acks.is_empty();
    let known: std::collections::HashSet<&str> = app
        .snapshot
        .recent_acks
        .iter()
        .map(|r| r.alarm.as_str())
        .collect();
    let news = snapshot
        .recent_acks
        .iter()
        .rfind(|r| !known.contains(r.alarm.as_str()) && r.ack.operator != app.operator)
        .map(crate::cli::feed::ack_line);
    if let Some(news) = news.filter(|_| !first) {
        app.message = Some(news);
    }
    if let Some(m) = app.ack_confirmation.take() {
        app.message = Some(m);
    }
    app.snapshot = snapshot;
    if let Some(id) = selected_id
        && let Some(i) = app.snapshot.alarms.iter().position(|a| a.id == id)
    {
        app.alarms.selected = i;
    }
    app.alarms.move_by(0, app.snapshot.alarms.len());
    let doors = app.visible_doors().len();
    app.doors.move_by(0, doors);
    app.controllers.move_by(0, app.snapshot.controllers.len());
    let mut effects = Vec::new();
    let fresh_critical: Vec<String> = app
        .snapshot
        .alarms
        .iter()
        .filter(|a| a.priority == Priority::Critical && !a.acknowledged())
        .filter(|a| !app.rang.contains(&a.id))
        .map(|a| a.id.clone())
        .collect();
    if !fresh_critical.is_empty() {
        app.rang.extend(fresh_critical);
        if !app.quiet {
            effects.push(Effect::Bell);
        }
    }
    effects
}

fn on_search_page(
    app: &mut App,
    generation: u64,
    result: super::backend::SearchResult,
) -> Vec<Effect> {
    let s = &mut app.search;
    // Latest wins: a page of an older query is dropped.
    if generation != s.generation {
        return Vec::new();
    }
    s.loading = false;
    match result {
        Ok((page, next)) => {
            s.results.extend(page);
            s.done = next.is_none();
            s.next = next;
            if s.to_end {
                s.selected = s.results.len().saturating_sub(1);
                if s.next.is_some() {
                    return more_results(app, usize::MAX);
                }
                s.to_end = false;
            }
        }
        Err(e) => {
            s.error = Some(e);
            s.to_end = false;
        }
    }
    Vec::new()
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return request_quit(app);
    }
    if let Some(overlay) = app.overlay.take() {
        return on_overlay_key(app, overlay, key);
    }
    if app.pane == Pane::Search && app.search.editing {
        return on_search_input(app, key);
    }
    let Some(action) = app.keymap.action(app.pane.context(), &key) else {
        return Vec::new();
    };
    app.message = None;
    if app.glance.is_some() && needs_store(action) {
        app.message = Some(GLANCE_REFUSAL.into());
        return Vec::new();
    }
    on_action(app, action)
}

/// What the footer says to an acknowledgement, search or export asked for while the
/// glance is shown.
pub const GLANCE_REFUSAL: &str =
    "still opening the store: acknowledge, search and export once it is open";

/// Actions that act on the store, refused while the glance is shown.
fn needs_store(action: Action) -> bool {
    matches!(
        action,
        Action::Ack | Action::Search | Action::Export | Action::NextMatch | Action::PrevMatch
    )
}

fn request_quit(app: &mut App) -> Vec<Effect> {
    if app.unacknowledged().next().is_some() && !app.read_only {
        app.overlay = Some(Overlay::ConfirmQuit);
        Vec::new()
    } else {
        app.quit = true;
        vec![Effect::Quit]
    }
}

fn page_rows() -> isize {
    10
}

fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => return request_quit(app),
        Action::Help => app.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::NextPane => app.pane = app.pane.next(1),
        Action::PrevPane => app.pane = app.pane.next(-1),
        Action::GoEvents => app.pane = Pane::Events,
        Action::GoAlarms => app.pane = Pane::Alarms,
        Action::GoDoors => app.pane = Pane::Doors,
        Action::GoControllers => app.pane = Pane::Controllers,
        Action::GoSearch => app.pane = Pane::Search,
        Action::Up => move_selection(app, -row_step(app)),
        Action::Down => move_selection(app, row_step(app)),
        Action::PageUp => move_selection(app, -page_rows() * row_step(app)),
        Action::PageDown => move_selection(app, page_rows() * row_step(app)),
        Action::Left | Action::Right if app.pane == Pane::Doors && app.doors_as_grid() => {
            move_selection(app, if action == Action::Left { -1 } else { 1 })
        }
        Action::Top => move_selection(app, isize::MIN / 2),
        Action::Bottom => return move_to_bottom(app),
        Action::ToggleFollow => {
            if app.live.following {
                app.live.freeze();
            } else {
                app.live.follow();
            }
        }
        Action::ToggleNewestFirst => app.live.newest_first = !app.live.newest_first,
        Action::Select => open_detail(app),
        Action::Back if app.pane == Pane::Events && !app.live.following => {
            app.live.follow();
        }
        Action::Search => {
            app.pane = Pane::Search;
            app.search.editing = true;
        }
        Action::NextMatch => move_selection_in(app, Pane::Search, 1),
        Action::PrevMatch => move_selection_in(app, Pane::Search, -1),
        Action::Export => return export(app, false),
        Action::Ack => start_ack(app),
        Action::NextAlarm => jump_alarm(app, 1),
        Action::PrevAlarm => jump_alarm(app, -1),
        Action::Command if !app.read_only => {
            app.overlay = Some(Overlay::Command {
                input: String::new(),
                error: None,
            });
            app.history_pos = None;
        }
        Action::Sort if app.pane == Pane::Doors => {
            app.door_sort = app.door_sort.next();
            app.message = Some(format!("doors sorted by {}", app.door_sort.label()));
        }
        Action::Filter if app.pane == Pane::Doors => {
            use crate::model::Vendor;
            app.door_filter = match app.door_filter {
                None => Some(Vendor::ALL[0]),
                Some(v) => Vendor::ALL
                    .iter()
                    .position(|x| *x == v)
                    .and_then(|i| Vendor::ALL.get(i + 1).copied()),
            };
            app.doors.selected = 0;
        }
        Action::FilterSite if app.pane == Pane::Doors => {
            app.door_site = next_site(app);
            app.doors.selected = 0;
        }
        Action::ToggleDoorView if app.pane == Pane::Doors => {
            let grid = !app.doors_as_grid();
            app.door_view = if grid {
                DoorView::Grid
            } else {
                DoorView::Table
            };
            app.message = Some(
                if grid {
                    "doors as a grid"
                } else {
                    "doors as a table"
                }
                .into(),
            );
        }
        _ => {}
    }
    Vec::new()
}

/// How far up/down moves: a row of the doors grid is several doors.
fn row_step(app: &App) -> isize {
    if app.pane == Pane::Doors && app.doors_as_grid() {
        app.door_layout.get().columns.max(1) as isize
    } else {
        1
    }
}

/// The site after the current one in the filter's cycle; `None` (every site) after
/// the last, or when the current one is no longer offered.
fn next_site(app: &App) -> Option<String> {
    let sites = app.door_sites();
    let next = match &app.door_site {
        None => sites.first(),
        Some(current) => sites
            .iter()
            .position(|s| s == current)
            .and_then(|i| sites.get(i + 1)),
    };
    next.map(|s| s.to_string())
}

fn move_selection(app: &mut App, delta: isize) {
    let pane = app.pane;
    move_selection_in(app, pane, delta);
}

fn move_selection_in(app: &mut App, pane: Pane, delta: isize) {
    match pane {
        Pane::Events => app.live.move_by(delta),
        Pane::Alarms => app.alarms.move_by(delta, app.snapshot.alarms.len()),
        Pane::Doors => {
            let n = app.visible_doors().len();
            app.doors.move_by(delta, n)
        }
        Pane::Controllers => app
            .controllers
            .move_by(delta, app.snapshot.controllers.len()),
        Pane::Search => {
            let s = &mut app.search;
            s.to_end = false;
            if s.results.is_empty() {
                return;
            }
            let last = s.results.len() as isize - 1;
            s.selected = (s.selected as isize + delta).clamp(0, last) as usize;
        }
    }
}

/// `G`/End: the last row; in search results that means loading every page.
fn move_to_bottom(app: &mut App) -> Vec<Effect> {
    match app.pane {
        Pane::Events => {
            app.live.follow();
            Vec::new()
        }
        Pane::Search => {
            move_selection(app, isize::MAX / 2);
            app.search.to_end = app.search.next.is_some();
            more_results(app, usize::MAX)
        }
        _ => {
            move_selection(app, isize::MAX / 2);
            Vec::new()
        }
    }
}

/// Ask for the next page when the selection is within a page of the end of what is
/// loaded (or unconditionally with `want = usize::MAX`, for "go to the end").
pub fn more_results(app: &mut App, want: usize) -> Vec<Effect> {
    let s = &mut app.search;
    let Some(before) = s.next else {
        return Vec::new();
    };
    if s.loading || (want != usize::MAX && s.selected + SEARCH_PAGE / 2 < s.results.len()) {
        return Vec::new();
    }
    s.loading = true;
    vec![Effect::Search {
        generation: s.generation,
        query: s.query.clone(),
        before: Some(before),
        limit: if want == usize::MAX {
            SEARCH_PAGE * 50
        } else {
            SEARCH_PAGE
        },
    }]
}

fn open_detail(app: &mut App) {
    let event = match app.pane {
        Pane::Events => app.live.selected_event().cloned(),
        Pane::Search => app
            .search
            .results
            .get(app.search.selected)
            .map(|(_, e)| e.clone()),
        _ => None,
    };
    if let Some(event) = event {
        app.overlay = Some(Overlay::Detail {
            event: Box::new(event),
            scroll: 0,
        });
    }
}

fn start_ack(app: &mut App) {
    if app.read_only {
        app.message = Some("read-only console: acknowledgements are off".into());
        return;
    }
    let alarm = match app.pane {
        Pane::Alarms => app.selected_alarm(),
        // From anywhere else: the most urgent unacknowledged alarm.
        _ => app.unacknowledged().next().map(|(_, a)| a),
    };
    match alarm {
        Some(a) if !a.acknowledged() => {
            app.overlay = Some(Overlay::Ack {
                alarm: a.id.clone(),
                note: String::new(),
                error: None,
            })
        }
        Some(a) => {
            let who = a.acks.first().map(|k| k.operator.as_str()).unwrap_or("?");
            app.message = Some(format!("{} is already acknowledged by {who}", a.id));
        }
        None => app.message = Some("no alarm to acknowledge".into()),
    }
}

/// `e` / `E`: the next (previous) unacknowledged alarm, from anywhere.
fn jump_alarm(app: &mut App, dir: isize) {
    let unacked: Vec<usize> = app.unacknowledged().map(|(i, _)| i).collect();
    if unacked.is_empty() {
        app.message = Some("no unacknowledged alarms".into());
        return;
    }
    let current = app.alarms.selected;
    let target = if app.pane != Pane::Alarms {
        unacked[0]
    } else if dir > 0 {
        unacked
            .iter()
            .copied()
            .find(|&i| i > current)
            .unwrap_or(unacked[0])
    } else {
        unacked
            .iter()
            .rev()
            .copied()
            .find(|&i| i < current)
            .unwrap_or(unacked[unacked.len() - 1])
    };
    app.pane = Pane::Alarms;
    app.alarms.selected = target;
}

fn export(app: &mut App, jsonl: bool) -> Vec<Effect> {
    let query = match app.pane {
        Pane::Search => app.search.query.clone(),
        _ => String::new(),
    };
    if app.pane != Pane::Search {
        app.message = Some("export works on search results: press / first".into());
        return Vec::new();
    }
    vec![Effect::Export { query, jsonl }]
}

fn on_search_input(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let s = &mut app.search;
    match key.code {
        KeyCode::Esc => s.editing = false,
        KeyCode::Enter => {
            s.editing = false;
            return run_search(app);
        }
        KeyCode::Backspace => {
            s.input.pop();
        }
        KeyCode::Char(c) => {
            if key.modifiers.contains(KeyModifiers::CONTROL) {
                if c == 'u' {
                    s.input.clear();
                }
            } else {
                s.input.push(c);
            }
        }
        _ => {}
    }
    // Syntax errors show while typing.
    s.error = crate::search::Query::parse(&s.input, app.now)
        .err()
        .map(|e| format!("{e}"));
    Vec::new()
}

/// Start a new search with the bar's text.
pub fn run_search(app: &mut App) -> Vec<Effect> {
    if app.glance.is_some() {
        app.message = Some(GLANCE_REFUSAL.into());
        return Vec::new();
    }
    let s = &mut app.search;
    if let Err(e) = crate::search::Query::parse(&s.input, app.now) {
        s.error = Some(e.to_string());
        return Vec::new();
    }
    s.error = None;
    s.generation += 1;
    s.query = s.input.clone();
    s.results.clear();
    s.selected = 0;
    s.next = None;
    s.done = false;
    s.to_end = false;
    s.loading = true;
    vec![Effect::Search {
        generation: s.generation,
        query: s.query.clone(),
        before: None,
        limit: SEARCH_PAGE,
    }]
}

fn on_overlay_key(app: &mut App, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Help { scroll } | Overlay::Detail { scroll, .. }
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter) =>
        {
            let _ = scroll;
        }
        Overlay::Help { scroll } => {
            app.overlay = Some(Overlay::Help {
                scroll: scroll_by(scroll, &key),
            })
        }
        Overlay::Detail { event, scroll } => {
            app.overlay = Some(Overlay::Detail {
                event,
                scroll: scroll_by(scroll, &key),
            })
        }
        Overlay::ConfirmQuit => {
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                app.quit = true;
                return vec![Effect::Quit];
            }
        }
        Overlay::Ack {
            alarm,
            mut note,
            error,
        } => match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => {
                if app.require_ack_note && note.trim().is_empty() {
                    app.overlay = Some(Overlay::Ack {
                        alarm,
                        note,
                        error: Some("a note is required: say what was done".into()),
                    });
                } else {
                    return vec![Effect::Ack {
                        alarm,
                        note: note.trim().to_string(),
                    }];
                }
            }
            KeyCode::Backspace => {
                note.pop();
                app.overlay = Some(Overlay::Ack { alarm, note, error });
            }
            KeyCode::Char(c) => {
                note.push(c);
                app.overlay = Some(Overlay::Ack {
                    alarm,
                    note,
                    error: None,
                });
            }
            _ => app.overlay = Some(Overlay::Ack { alarm, note, error }),
        },
        Overlay::Command { mut input, error } => match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => return run_command(app, input),
            KeyCode::Backspace => {
                input.pop();
                app.overlay = Some(Overlay::Command { input, error });
            }
            KeyCode::Up | KeyCode::Down => {
                let n = app.command_history.len();
                if n > 0 {
                    let pos = match (app.history_pos, key.code) {
                        (None, KeyCode::Up) => n - 1,
                        (Some(p), KeyCode::Up) => p.saturating_sub(1),
                        (Some(p), _) => (p + 1).min(n - 1),
                        (None, _) => n - 1,
                    };
                    app.history_pos = Some(pos);
                    input = app.command_history[pos].clone();
                }
                app.overlay = Some(Overlay::Command { input, error });
            }
            KeyCode::Char(c) => {
                input.push(c);
                app.overlay = Some(Overlay::Command { input, error: None });
            }
            _ => app.overlay = Some(Overlay::Command { input, error }),
        },
    }
    Vec::new()
}

fn scroll_by(scroll: u16, key: &KeyEvent) -> u16 {
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
        KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(10),
        KeyCode::PageUp => scroll.saturating_sub(10),
        KeyCode::Home | KeyCode::Char('g') => 0,
        _ => scroll,
    }
}

/// The `:` command line.
fn run_command(app: &mut App, input: String) -> Vec<Effect> {
    let line = input.trim().to_string();
    if line.is_empty() {
        return Vec::new();
    }
    if app.command_history.last() != Some(&line) {
        app.command_history.push(line.clone());
    }
    let (cmd, rest) = line.split_once(' ').unwrap_or((&line, ""));
    let rest = rest.trim();
    if app.glance.is_some() && matches!(cmd, "ack" | "export" | "source" | "search") {
        app.message = Some(GLANCE_REFUSAL.into());
        return Vec::new();
    }
    let fail = |app: &mut App, e: String| {
        app.overlay = Some(Overlay::Command {
            input: line.clone(),
            error: Some(e),
        });
        Vec::new()
    };
    match cmd {
        "q" | "quit" => request_quit(app),
        "ack" => {
            // `:ack ID note...` or `:ack` for the selected alarm's dialog.
            let (id, note) = rest.split_once(' ').unwrap_or((rest, ""));
            if id.is_empty() {
                start_ack(app);
                return Vec::new();
            }
            if app.snapshot.alarms.iter().all(|a| a.id != id) {
                return fail(app, format!("no open alarm {id}"));
            }
            if app.require_ack_note && note.trim().is_empty() {
                return fail(app, "a note is required: :ack ID what was done".into());
            }
            vec![Effect::Ack {
                alarm: id.to_string(),
                note: note.trim().to_string(),
            }]
        }
        "export" => {
            let jsonl = match rest {
                "" | "csv" => false,
                "jsonl" => true,
                other => return fail(app, format!("export as csv or jsonl, not `{other}`")),
            };
            if app.search.query.is_empty() && app.search.results.is_empty() {
                app.pane = Pane::Search;
            }
            vec![Effect::Export {
                query: app.search.query.clone(),
                jsonl,
            }]
        }
        "theme" => {
            let (theme, warnings) = crate::ui::theme::load(rest, app.theme_dir.as_deref());
            app.message = Some(match warnings.first() {
                Some(w) => w.clone(),
                None => format!("theme {rest}"),
            });
            app.theme = theme;
            Vec::new()
        }
        "source" => {
            app.pane = Pane::Search;
            app.search.input = format!("source:{rest}");
            run_search(app)
        }
        "search" => {
            app.pane = Pane::Search;
            app.search.input = rest.to_string();
            run_search(app)
        }
        other => fail(
            app,
            format!("unknown command `{other}`: try ack, export, theme, source, search, quit"),
        ),
    }
}

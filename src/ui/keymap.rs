//! The console's keymap: which key does what, in which pane.
//!
//! Keys are strings (`"q"`, `"ctrl-a"`, `"shift-tab"`, `"f1"`) parsed once at load into a
//! canonical [`KeyCombo`], so two spellings of one key (`"ctrl-a"`, `"Ctrl-A"`, `"C-a"`) are
//! the same binding and a file that binds both is rejected. A binding lives in a [`Context`];
//! `Global` applies in every pane unless the pane binds the same key itself. The help screen
//! and hint bar read the keymap back ([`Keymap::keys_for`], [`Keymap::help_rows`]), so they
//! always show the keys the operator actually has.
//!
//! Text entry (the `/` query bar, the `:` command line, the ack note dialog) does not go
//! through the keymap: while one of those has focus, the pane owning it reads raw keys.
//!
//! A keymap file overrides the defaults key by key:
//!
//! ```toml
//! [keys]              # global
//! "ctrl-a" = "ack"
//! "x" = "none"        # unbind
//!
//! [keys.alarms]       # only while the alarms pane has focus
//! "enter" = "ack"
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use toml::de::{DeTable, DeValue};

/// Everything a key can ask the console to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    GoEvents,
    GoDoors,
    GoControllers,
    GoAlarms,
    GoSearch,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    Select,
    Back,
    ToggleFollow,
    Search,
    NextMatch,
    PrevMatch,
    Export,
    Ack,
    NextAlarm,
    PrevAlarm,
    Command,
    Sort,
    Filter,
    FilterSite,
    ToggleDoorView,
    ToggleNewestFirst,
    Redraw,
}

impl Action {
    /// Every action, in the order the help screen lists them.
    pub const ALL: [Action; 34] = [
        Action::Help,
        Action::Quit,
        Action::NextPane,
        Action::PrevPane,
        Action::GoEvents,
        Action::GoDoors,
        Action::GoControllers,
        Action::GoAlarms,
        Action::GoSearch,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Left,
        Action::Right,
        Action::Select,
        Action::Back,
        Action::ToggleFollow,
        Action::Search,
        Action::NextMatch,
        Action::PrevMatch,
        Action::Export,
        Action::Ack,
        Action::NextAlarm,
        Action::PrevAlarm,
        Action::Command,
        Action::Sort,
        Action::Filter,
        Action::FilterSite,
        Action::ToggleDoorView,
        Action::ToggleNewestFirst,
        Action::Redraw,
    ];

    /// The name used in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::NextPane => "next_pane",
            Action::PrevPane => "prev_pane",
            Action::GoEvents => "go_events",
            Action::GoDoors => "go_doors",
            Action::GoControllers => "go_controllers",
            Action::GoAlarms => "go_alarms",
            Action::GoSearch => "go_search",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Left => "left",
            Action::Right => "right",
            Action::Select => "select",
            Action::Back => "back",
            Action::ToggleFollow => "toggle_follow",
            Action::Search => "search",
            Action::NextMatch => "next_match",
            Action::PrevMatch => "prev_match",
            Action::Export => "export",
            Action::Ack => "ack",
            Action::NextAlarm => "next_alarm",
            Action::PrevAlarm => "prev_alarm",
            Action::Command => "command",
            Action::Sort => "sort",
            Action::Filter => "filter",
            Action::FilterSite => "filter_site",
            Action::ToggleDoorView => "toggle_door_view",
            Action::ToggleNewestFirst => "toggle_newest_first",
            Action::Redraw => "redraw",
        }
    }

    /// One line for the help screen.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "Quit (asks first while alarms are unacknowledged)",
            Action::Help => "Show this help",
            Action::NextPane => "Next pane",
            Action::PrevPane => "Previous pane",
            Action::GoEvents => "Go to events",
            Action::GoDoors => "Go to doors",
            Action::GoControllers => "Go to controllers",
            Action::GoAlarms => "Go to alarms",
            Action::GoSearch => "Go to search",
            Action::Up => "Move up",
            Action::Down => "Move down",
            Action::PageUp => "Page up",
            Action::PageDown => "Page down",
            Action::Top => "Go to top",
            Action::Bottom => "Go to bottom",
            Action::Left => "Scroll left / previous column",
            Action::Right => "Scroll right / next column",
            Action::Select => "Open detail",
            Action::Back => "Back / close",
            Action::ToggleFollow => "Freeze / resume the live view",
            Action::Search => "Open the query bar",
            Action::NextMatch => "Next match",
            Action::PrevMatch => "Previous match",
            Action::Export => "Export current results",
            Action::Ack => "Acknowledge alarm (with a note)",
            Action::NextAlarm => "Next unacknowledged alarm",
            Action::PrevAlarm => "Previous unacknowledged alarm",
            Action::Command => "Command line (:ack, :export, :theme, :source, :quit)",
            Action::Sort => "Sort by column",
            Action::Filter => "Filter (doors: cycle the vendor)",
            Action::FilterSite => "Doors: cycle the site filter",
            Action::ToggleDoorView => "Doors: table / compact grid",
            Action::ToggleNewestFirst => "Newest first / oldest first",
            Action::Redraw => "Redraw the screen",
        }
    }

    /// Looks an action up by its file name; `freeze` is accepted for `toggle_follow`
    /// because that is what operators call it.
    pub fn from_name(name: &str) -> Option<Action> {
        if name == "freeze" {
            return Some(Action::ToggleFollow);
        }
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Where a binding applies. `Global` bindings apply in every context that does not bind
/// the same key itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Events,
    Doors,
    Controllers,
    Alarms,
    Search,
    Detail,
}

impl Context {
    pub const ALL: [Context; 7] = [
        Context::Global,
        Context::Events,
        Context::Doors,
        Context::Controllers,
        Context::Alarms,
        Context::Search,
        Context::Detail,
    ];

    /// The table name in keymap files (`[keys.alarms]`); `global` is `[keys]` itself.
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Events => "events",
            Context::Doors => "doors",
            Context::Controllers => "controllers",
            Context::Alarms => "alarms",
            Context::Search => "search",
            Context::Detail => "detail",
        }
    }

    pub fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }

    fn table_header(self) -> String {
        match self {
            Context::Global => "[keys]".to_string(),
            other => format!("[keys.{}]", other.name()),
        }
    }
}

/// One key with its modifiers, in canonical form.
///
/// Canonical means: a shifted letter is the uppercase letter with no SHIFT flag (terminals
/// disagree on whether they report SHIFT with `E`); SHIFT is dropped from other characters
/// (`?` is `?` whatever the layout needed to type it); with CTRL a letter is lowercase unless
/// SHIFT was given explicitly, because legacy terminals send the same byte for ctrl-a and
/// ctrl-A; shift-tab is `BackTab`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyCombo {
    code: KeyCode,
    modifiers: KeyModifiers,
}

impl KeyCombo {
    /// The combo a terminal key event stands for; `None` for key releases and for keys no
    /// keymap can name (media keys, lone modifiers, caps lock).
    pub fn from_event(event: &KeyEvent) -> Option<KeyCombo> {
        if event.kind == KeyEventKind::Release || !nameable(event.code) {
            return None;
        }
        let modifiers =
            event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        Some(normalize(event.code, modifiers))
    }

    /// Whether a terminal key event is this combo.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        KeyCombo::from_event(event) == Some(*self)
    }
}

fn nameable(code: KeyCode) -> bool {
    matches!(
        code,
        KeyCode::Backspace
            | KeyCode::Enter
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Up
            | KeyCode::Down
            | KeyCode::Home
            | KeyCode::End
            | KeyCode::PageUp
            | KeyCode::PageDown
            | KeyCode::Tab
            | KeyCode::BackTab
            | KeyCode::Delete
            | KeyCode::Insert
            | KeyCode::F(_)
            | KeyCode::Char(_)
            | KeyCode::Esc
    )
}

fn normalize(code: KeyCode, modifiers: KeyModifiers) -> KeyCombo {
    let shift = modifiers.contains(KeyModifiers::SHIFT);
    let ctrl = modifiers.contains(KeyModifiers::CONTROL);
    let without_shift = modifiers - KeyModifiers::SHIFT;
    match code {
        KeyCode::Char(c) if has_case(c) => {
            let c = if shift {
                to_upper(c)
            } else if ctrl {
                to_lower(c)
            } else {
                c
            };
            KeyCombo {
                code: KeyCode::Char(c),
                modifiers: without_shift,
            }
        }
        KeyCode::Char(_) | KeyCode::BackTab => KeyCombo {
            code,
            modifiers: without_shift,
        },
        KeyCode::Tab if shift => KeyCombo {
            code: KeyCode::BackTab,
            modifiers: without_shift,
        },
        _ => KeyCombo { code, modifiers },
    }
}

fn has_case(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase()
}

/// Single-char case mapping; letters whose other case is several chars (ß) stay as they are.
fn to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn to_lower(c: char) -> char {
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("cr", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("space", KeyCode::Char(' ')),
    ("spc", KeyCode::Char(' ')),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("bs", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("ins", KeyCode::Insert),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("pgup", KeyCode::PageUp),
    ("pageup", KeyCode::PageUp),
    ("pgdn", KeyCode::PageDown),
    ("pagedown", KeyCode::PageDown),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
];

/// Parses a key string such as `"q"`, `"Q"`, `"?"`, `"ctrl-l"`, `"C-a"`, `"alt+x"`,
/// `"shift-tab"`, `"enter"`, `"pgdn"`, `"f1"` or `"<C-d>"`. Modifier and key names are
/// case-insensitive; a single character is taken as it is (`"e"` and `"E"` differ). The
/// error is the reason, worded for an operator editing a keymap file.
pub fn parse_key(s: &str) -> Result<KeyCombo, String> {
    let unwrapped = match s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => s,
    };
    if unwrapped.is_empty() {
        return Err("the key is empty".to_string());
    }
    let (modifiers, key) = split_modifiers(unwrapped)?;
    let code = key_code(key)?;
    if modifiers.contains(KeyModifiers::SHIFT)
        && let KeyCode::Char(c) = code
        && !has_case(c)
    {
        return Err(format!(
            "shift with {key:?} means different keys on different layouts; write the character shift types (e.g. \"!\" rather than \"shift-1\")"
        ));
    }
    Ok(normalize(code, modifiers))
}

/// Strips leading `ctrl-`/`C-`/`alt+`/... prefixes. A separator is only a separator when
/// something follows it, so `"-"`, `"ctrl--"` and `"ctrl++"` name the `-` and `+` keys.
fn split_modifiers(mut rest: &str) -> Result<(KeyModifiers, &str), String> {
    let mut modifiers = KeyModifiers::NONE;
    while let Some(sep) = rest
        .char_indices()
        .skip(1)
        .find(|&(i, c)| (c == '-' || c == '+') && i + 1 < rest.len())
        .map(|(i, _)| i)
    {
        let Some(modifier) = modifier_named(&rest[..sep]) else {
            return Err(format!(
                "unknown modifier {:?}; use ctrl, alt or shift (e.g. \"ctrl-a\", \"alt-x\", \"shift-tab\")",
                &rest[..sep]
            ));
        };
        modifiers |= modifier;
        rest = &rest[sep + 1..];
    }
    Ok((modifiers, rest))
}

fn modifier_named(name: &str) -> Option<KeyModifiers> {
    match name.to_ascii_lowercase().as_str() {
        "ctrl" | "control" | "c" => Some(KeyModifiers::CONTROL),
        "alt" | "meta" | "m" | "a" => Some(KeyModifiers::ALT),
        "shift" | "s" => Some(KeyModifiers::SHIFT),
        _ => None,
    }
}

fn key_code(key: &str) -> Result<KeyCode, String> {
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(KeyCode::Char(c));
    }
    let lower = key.to_ascii_lowercase();
    if let Some((_, code)) = NAMED_KEYS.iter().find(|(n, _)| *n == lower) {
        return Ok(*code);
    }
    if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
        if (1..=24).contains(&n) {
            return Ok(KeyCode::F(n));
        }
        return Err(format!("{key:?}: function keys run from f1 to f24"));
    }
    Err(format!(
        "unknown key {key:?}; use a single character (\"q\", \"?\", \"E\") or one of enter, esc, space, tab, shift-tab, backspace, delete, insert, up, down, left, right, pgup, pgdn, home, end, f1..f24"
    ))
}

/// The canonical spelling, which [`parse_key`] reads back to the same combo.
impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctrl = self.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            // "ctrl-A" would read back as ctrl-a, see `normalize`.
            KeyCode::Char(c) if ctrl && c.is_uppercase() => write!(f, "shift-{}", to_lower(c)),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Why a keymap file was refused. Every variant names the line and says what to write
/// instead; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("keymap line {line}: not valid TOML: {message}")]
    Syntax { line: usize, message: String },
    #[error(
        "keymap line {line}: unknown table {name:?}; a keymap file holds only [keys] and [keys.<pane>]"
    )]
    UnknownTable { line: usize, name: String },
    #[error("keymap line {line}: {name} must be a table, e.g. [keys]")]
    NotATable { line: usize, name: String },
    #[error(
        "keymap line {line}: [keys.{name}] is not a pane; use one of events, doors, controllers, alarms, search, detail"
    )]
    UnknownContext { line: usize, name: String },
    #[error("keymap line {line}: {key:?} is not a key: {reason}")]
    BadKey {
        line: usize,
        key: String,
        reason: String,
    },
    #[error(
        "keymap line {line}: {key:?} = {action:?}: no action named {action:?}{}; actions are {}",
        did_you_mean(.suggestion),
        action_names()
    )]
    UnknownAction {
        line: usize,
        key: String,
        action: String,
        suggestion: Option<String>,
    },
    #[error(
        "keymap line {line}: {key:?} must be an action name in quotes, e.g. {key:?} = \"ack\", or \"none\" to unbind it"
    )]
    NotAnAction { line: usize, key: String },
    #[error(
        "keymap line {line}: {key:?} in {table} is the same key as {first_key:?} on line {first_line} (both are {canonical}); keep one of the two lines"
    )]
    Duplicate {
        line: usize,
        key: String,
        first_line: usize,
        first_key: String,
        canonical: String,
        table: String,
    },
}

impl KeymapError {
    pub fn line(&self) -> usize {
        match self {
            KeymapError::Syntax { line, .. }
            | KeymapError::UnknownTable { line, .. }
            | KeymapError::NotATable { line, .. }
            | KeymapError::UnknownContext { line, .. }
            | KeymapError::BadKey { line, .. }
            | KeymapError::UnknownAction { line, .. }
            | KeymapError::NotAnAction { line, .. }
            | KeymapError::Duplicate { line, .. } => *line,
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_deref()
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

fn action_names() -> String {
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    names.join(", ")
}

/// The value that unbinds a key (and, in a pane, hides the global binding of that key).
const UNBIND: &str = "none";

/// `action: None` is an explicit unbinding; in a pane it hides the global binding.
#[derive(Clone, Debug)]
struct Binding {
    context: Context,
    key: KeyCombo,
    action: Option<Action>,
}

/// Key → action per context. Build with [`Keymap::default`] or [`Keymap::from_toml`].
#[derive(Clone, Debug)]
pub struct Keymap {
    /// In binding order, at most one per (context, key); the order is the order keys are
    /// listed in help.
    bindings: Vec<Binding>,
    warnings: Vec<String>,
}

const DEFAULT_GLOBAL: &[(&str, Action)] = &[
    ("?", Action::Help),
    ("f1", Action::Help),
    ("q", Action::Quit),
    ("ctrl-c", Action::Quit),
    ("tab", Action::NextPane),
    ("shift-tab", Action::PrevPane),
    ("1", Action::GoEvents),
    ("2", Action::GoDoors),
    ("3", Action::GoControllers),
    ("4", Action::GoAlarms),
    ("5", Action::GoSearch),
    ("k", Action::Up),
    ("up", Action::Up),
    ("j", Action::Down),
    ("down", Action::Down),
    ("ctrl-u", Action::PageUp),
    ("ctrl-b", Action::PageUp),
    ("pgup", Action::PageUp),
    ("ctrl-d", Action::PageDown),
    ("ctrl-f", Action::PageDown),
    ("pgdn", Action::PageDown),
    ("g", Action::Top),
    ("home", Action::Top),
    ("G", Action::Bottom),
    ("end", Action::Bottom),
    ("h", Action::Left),
    ("left", Action::Left),
    ("l", Action::Right),
    ("right", Action::Right),
    ("enter", Action::Select),
    ("esc", Action::Back),
    ("backspace", Action::Back),
    ("space", Action::ToggleFollow),
    ("/", Action::Search),
    ("n", Action::NextMatch),
    ("N", Action::PrevMatch),
    ("x", Action::Export),
    ("a", Action::Ack),
    ("e", Action::NextAlarm),
    ("E", Action::PrevAlarm),
    (":", Action::Command),
    ("s", Action::Sort),
    ("f", Action::Filter),
    ("F", Action::FilterSite),
    ("v", Action::ToggleDoorView),
    ("o", Action::ToggleNewestFirst),
    ("ctrl-l", Action::Redraw),
];

/// Pane bindings that differ from global: in a detail view `q` closes it, as in a pager,
/// rather than leaving the console.
const DEFAULT_DETAIL: &[(&str, Action)] = &[("q", Action::Back)];

impl Default for Keymap {
    /// Vim keys and arrows both; lnav's `e`/`E`, `/`, `n`/`N`, `:`; `?` for help.
    fn default() -> Keymap {
        let mut keymap = Keymap {
            bindings: Vec::new(),
            warnings: Vec::new(),
        };
        let defaults = [
            (Context::Global, DEFAULT_GLOBAL),
            (Context::Detail, DEFAULT_DETAIL),
        ];
        for (context, table) in defaults {
            for &(key, action) in table {
                match parse_key(key) {
                    Ok(combo) => keymap.bind(context, combo, Some(action)),
                    Err(reason) => unreachable!("default key {key:?} does not parse: {reason}"),
                }
            }
        }
        keymap
    }
}

impl Keymap {
    /// The defaults with a keymap file's bindings laid over them, key by key: a key the
    /// file names does what the file says (`"none"` unbinds it); every other default stays.
    pub fn from_toml(text: &str) -> Result<Keymap, KeymapError> {
        let root = DeTable::parse(text).map_err(|e| KeymapError::Syntax {
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            message: e.message().trim().to_string(),
        })?;
        let mut keymap = Keymap::default();
        let mut file = FileBindings::new(text);
        for (name, value) in sorted_entries(root.get_ref()) {
            if name.get_ref() != "keys" {
                return Err(KeymapError::UnknownTable {
                    line: line_of(text, name.span().start),
                    name: name.get_ref().to_string(),
                });
            }
            let DeValue::Table(keys) = value.get_ref() else {
                return Err(KeymapError::NotATable {
                    line: line_of(text, name.span().start),
                    name: name.get_ref().to_string(),
                });
            };
            file.read_table(Context::Global, keys, true)?;
        }
        for (context, key, action) in file.bindings {
            keymap.bind(context, key, action);
        }
        keymap.warnings = keymap.unbound_warnings();
        Ok(keymap)
    }

    /// What `event` does in `context`: the pane's own binding if it has one for that key,
    /// else the global one.
    pub fn action(&self, context: Context, event: &KeyEvent) -> Option<Action> {
        let key = KeyCombo::from_event(event)?;
        if context != Context::Global
            && let Some(binding) = self.find(context, key)
        {
            return binding.action;
        }
        self.find(Context::Global, key).and_then(|b| b.action)
    }

    /// The keys that do `action` in `context`, canonical spellings, pane bindings first.
    pub fn keys_for(&self, context: Context, action: Action) -> Vec<String> {
        self.combos_for(context, action)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Rows for the help screen: every action under `Global` with its keys (`(none)` when
    /// it has none), then for each pane the actions whose keys differ there.
    pub fn help_rows(&self) -> Vec<(Context, String, &'static str)> {
        let mut rows = Vec::new();
        for context in Context::ALL {
            for action in Action::ALL {
                let keys = self.combos_for(context, action);
                if context != Context::Global && keys == self.combos_for(Context::Global, action) {
                    continue;
                }
                rows.push((context, join_keys(&keys), action.description()));
            }
        }
        rows
    }

    /// Problems that don't stop the keymap from working, such as an action left with no
    /// key; the caller shows them to the operator.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn find(&self, context: Context, key: KeyCombo) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.context == context && b.key == key)
    }

    fn bind(&mut self, context: Context, key: KeyCombo, action: Option<Action>) {
        if let Some(existing) = self
            .bindings
            .iter_mut()
            .find(|b| b.context == context && b.key == key)
        {
            existing.action = action;
        } else if action.is_some() || context != Context::Global {
            self.bindings.push(Binding {
                context,
                key,
                action,
            });
        }
    }

    fn combos_for(&self, context: Context, action: Action) -> Vec<KeyCombo> {
        let own = self
            .bindings
            .iter()
            .filter(|b| b.context == context && b.action == Some(action));
        let inherited = self.bindings.iter().filter(|b| {
            context != Context::Global
                && b.context == Context::Global
                && b.action == Some(action)
                && self.find(context, b.key).is_none()
        });
        own.chain(inherited).map(|b| b.key).collect()
    }

    fn unbound_warnings(&self) -> Vec<String> {
        Action::ALL
            .into_iter()
            .filter(|&action| Context::ALL.iter().all(|&c| self.combos_for(c, action).is_empty()))
            .map(|action| {
                format!(
                    "keymap: action {:?} ({}) has no key; bind one, e.g. \"ctrl-x\" = {:?} under [keys]",
                    action.name(),
                    action.description(),
                    action.name()
                )
            })
            .collect()
    }
}

fn join_keys(keys: &[KeyCombo]) -> String {
    if keys.is_empty() {
        return "(none)".to_string();
    }
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bindings a file makes, checked for two spellings of one key in one table.
struct FileBindings<'t> {
    text: &'t str,
    bindings: Vec<(Context, KeyCombo, Option<Action>)>,
    /// (context, key) → (line, spelling) of its first binding in the file.
    seen: HashMap<(Context, KeyCombo), (usize, String)>,
}

type Entry<'a, 'i> = (
    &'a toml::Spanned<toml::de::DeString<'i>>,
    &'a toml::Spanned<DeValue<'i>>,
);

/// Entries in file order, so "first" and "second" in duplicate errors mean what they say.
fn sorted_entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut entries: Vec<Entry<'a, 'i>> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

impl<'t> FileBindings<'t> {
    fn new(text: &'t str) -> Self {
        FileBindings {
            text,
            bindings: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn read_table(
        &mut self,
        context: Context,
        table: &DeTable<'_>,
        nested_allowed: bool,
    ) -> Result<(), KeymapError> {
        for (key, value) in sorted_entries(table) {
            let line = self.line(key.span());
            let key = key.get_ref();
            match value.get_ref() {
                DeValue::Table(inner) if nested_allowed => {
                    let pane =
                        Context::from_name(key).ok_or_else(|| KeymapError::UnknownContext {
                            line,
                            name: key.to_string(),
                        })?;
                    self.read_table(pane, inner, false)?;
                }
                DeValue::String(action) => self.read_binding(context, line, key, action)?,
                _ => {
                    return Err(KeymapError::NotAnAction {
                        line,
                        key: key.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn read_binding(
        &mut self,
        context: Context,
        line: usize,
        key: &str,
        action: &str,
    ) -> Result<(), KeymapError> {
        let combo = parse_key(key).map_err(|reason| KeymapError::BadKey {
            line,
            key: key.to_string(),
            reason,
        })?;
        let action = if action == UNBIND {
            None
        } else {
            Some(
                Action::from_name(action).ok_or_else(|| KeymapError::UnknownAction {
                    line,
                    key: key.to_string(),
                    action: action.to_string(),
                    suggestion: closest_action(action).map(str::to_string),
                })?,
            )
        };
        if let Some((first_line, first_key)) = self.seen.get(&(context, combo)) {
            return Err(KeymapError::Duplicate {
                line,
                key: key.to_string(),
                first_line: *first_line,
                first_key: first_key.clone(),
                canonical: combo.to_string(),
                table: context.table_header(),
            });
        }
        self.seen.insert((context, combo), (line, key.to_string()));
        self.bindings.push((context, combo, action));
        Ok(())
    }

    fn line(&self, span: Range<usize>) -> usize {
        line_of(self.text, span.start)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The action name a typo most likely meant: a name containing the typo (or contained in
/// it), else the nearest by edit distance if it is close.
fn closest_action(typo: &str) -> Option<&'static str> {
    let typo = typo.to_ascii_lowercase().replace(['-', ' '], "_");
    if let Some(action) = Action::from_name(&typo) {
        return Some(action.name());
    }
    let names = Action::ALL.iter().map(|a| a.name());
    if let Some(name) = names
        .clone()
        .find(|n| typo.len() >= 3 && (n.contains(typo.as_str()) || typo.contains(n)))
    {
        return Some(name);
    }
    names
        .map(|n| (edit_distance(&typo, n), n))
        .filter(|&(d, _)| d <= 3)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn global(keymap: &Keymap, event: KeyEvent) -> Option<Action> {
        keymap.action(Context::Global, &event)
    }

    #[test]
    fn vim_keys_and_arrows_both_resolve_by_default() {
        let km = Keymap::default();
        assert_eq!(global(&km, ch('j')), Some(Action::Down));
        assert_eq!(
            global(&km, key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(global(&km, ch('k')), Some(Action::Up));
        assert_eq!(
            global(&km, key(KeyCode::Up, KeyModifiers::NONE)),
            Some(Action::Up)
        );
        assert_eq!(global(&km, ch('g')), Some(Action::Top));
        assert_eq!(
            global(&km, key(KeyCode::Home, KeyModifiers::NONE)),
            Some(Action::Top)
        );
        assert_eq!(global(&km, ch('G')), Some(Action::Bottom));
        assert_eq!(
            global(&km, key(KeyCode::End, KeyModifiers::NONE)),
            Some(Action::Bottom)
        );
        assert_eq!(
            global(&km, key(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::PageDown)
        );
        assert_eq!(
            global(&km, key(KeyCode::PageDown, KeyModifiers::NONE)),
            Some(Action::PageDown)
        );
        assert_eq!(
            global(&km, key(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            Some(Action::PageUp)
        );
        assert_eq!(
            global(&km, key(KeyCode::PageUp, KeyModifiers::NONE)),
            Some(Action::PageUp)
        );
        assert_eq!(global(&km, ch('h')), Some(Action::Left));
        assert_eq!(
            global(&km, key(KeyCode::Right, KeyModifiers::NONE)),
            Some(Action::Right)
        );
    }

    #[test]
    fn operator_conventions_resolve_by_default() {
        let km = Keymap::default();
        let expected = [
            (ch('e'), Action::NextAlarm),
            (ch('E'), Action::PrevAlarm),
            (ch('/'), Action::Search),
            (ch('n'), Action::NextMatch),
            (ch('N'), Action::PrevMatch),
            (ch('x'), Action::Export),
            (ch('a'), Action::Ack),
            (ch(':'), Action::Command),
            (ch('?'), Action::Help),
            (ch(' '), Action::ToggleFollow),
            (ch('q'), Action::Quit),
            (ch('3'), Action::GoControllers),
            (ch('5'), Action::GoSearch),
            (key(KeyCode::Tab, KeyModifiers::NONE), Action::NextPane),
            (key(KeyCode::BackTab, KeyModifiers::SHIFT), Action::PrevPane),
            (key(KeyCode::BackTab, KeyModifiers::NONE), Action::PrevPane),
            (key(KeyCode::Enter, KeyModifiers::NONE), Action::Select),
            (key(KeyCode::Esc, KeyModifiers::NONE), Action::Back),
            (
                key(KeyCode::Char('l'), KeyModifiers::CONTROL),
                Action::Redraw,
            ),
            (key(KeyCode::F(1), KeyModifiers::NONE), Action::Help),
        ];
        for (event, action) in expected {
            assert_eq!(global(&km, event), Some(action), "{event:?}");
        }
        assert_eq!(global(&km, ch('z')), None);
    }

    #[test]
    fn uppercase_matches_with_and_without_shift_reported() {
        let km = Keymap::default();
        for event in [
            ch('E'),
            key(KeyCode::Char('E'), KeyModifiers::SHIFT),
            key(KeyCode::Char('e'), KeyModifiers::SHIFT),
        ] {
            assert_eq!(
                km.action(Context::Events, &event),
                Some(Action::PrevAlarm),
                "{event:?}"
            );
        }
        assert_eq!(
            global(&km, key(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            global(&km, key(KeyCode::Char(':'), KeyModifiers::SHIFT)),
            Some(Action::Command)
        );
        // ctrl-A and ctrl-a are one byte on legacy terminals.
        assert_eq!(
            global(&km, key(KeyCode::Char('L'), KeyModifiers::CONTROL)),
            Some(Action::Redraw)
        );
        assert_eq!(
            global(
                &km,
                key(
                    KeyCode::Char('l'),
                    KeyModifiers::CONTROL | KeyModifiers::SHIFT
                )
            ),
            None
        );
    }

    #[test]
    fn key_releases_do_nothing() {
        let km = Keymap::default();
        let release = KeyEvent::new_with_kind(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
            KeyEventKind::Release,
        );
        assert_eq!(global(&km, release), None);
        let repeat =
            KeyEvent::new_with_kind(KeyCode::Char('j'), KeyModifiers::NONE, KeyEventKind::Repeat);
        assert_eq!(global(&km, repeat), Some(Action::Down));
    }

    #[test]
    fn pane_binding_beats_global_and_global_fills_the_rest() {
        let km = Keymap::default();
        assert_eq!(km.action(Context::Detail, &ch('q')), Some(Action::Back));
        assert_eq!(km.action(Context::Events, &ch('q')), Some(Action::Quit));
        assert_eq!(km.action(Context::Detail, &ch('j')), Some(Action::Down));
        assert_eq!(
            km.keys_for(Context::Detail, Action::Back),
            ["q", "esc", "backspace"]
        );
        assert_eq!(km.keys_for(Context::Detail, Action::Quit), ["ctrl-c"]);
        assert_eq!(km.keys_for(Context::Global, Action::Quit), ["q", "ctrl-c"]);
    }

    #[test]
    fn spellings_parse_to_one_canonical_key() {
        let cases = [
            ("ctrl-a", "ctrl-a"),
            ("Ctrl-A", "ctrl-a"),
            ("C-a", "ctrl-a"),
            ("control+a", "ctrl-a"),
            ("<C-a>", "ctrl-a"),
            ("ctrl-shift-a", "ctrl-shift-a"),
            ("shift-e", "E"),
            ("S-e", "E"),
            ("E", "E"),
            ("alt-X", "alt-X"),
            ("M-x", "alt-x"),
            ("shift-tab", "shift-tab"),
            ("BackTab", "shift-tab"),
            ("Tab", "tab"),
            ("Enter", "enter"),
            ("return", "enter"),
            ("ESC", "esc"),
            ("space", "space"),
            (" ", "space"),
            ("ctrl-space", "ctrl-space"),
            ("PgUp", "pgup"),
            ("pagedown", "pgdn"),
            ("F1", "f1"),
            ("shift-up", "shift-up"),
            ("/", "/"),
            ("-", "-"),
            ("ctrl--", "ctrl--"),
            ("ctrl++", "ctrl-+"),
            ("<", "<"),
            ("é", "é"),
        ];
        for (spelling, canonical) in cases {
            let combo = parse_key(spelling).unwrap_or_else(|e| panic!("{spelling:?}: {e}"));
            assert_eq!(combo.to_string(), canonical, "{spelling:?}");
            assert_eq!(
                parse_key(canonical),
                Ok(combo),
                "canonical {canonical:?} reads back"
            );
        }
    }

    #[test]
    fn bad_key_strings_are_refused_with_a_reason() {
        for bad in [
            "", "ctrl-", "hyper-a", "pagdown", "f0", "f25", "shift-1", "shift-?", "<>", "ctrl",
        ] {
            let err = parse_key(bad).expect_err(bad);
            assert!(!err.is_empty());
        }
        assert!(parse_key("hyper-a").unwrap_err().contains("\"hyper\""));
        assert!(parse_key("pagdown").unwrap_err().contains("pgdn"));
        assert!(parse_key("shift-1").unwrap_err().contains("\"!\""));
    }

    #[test]
    fn keys_match_events_through_the_combo() {
        let combo = parse_key("ctrl-a").expect("parses");
        assert!(combo.matches(&key(KeyCode::Char('a'), KeyModifiers::CONTROL)));
        assert!(!combo.matches(&ch('a')));
        let f5 = parse_key("f5").expect("parses");
        assert!(f5.matches(&key(KeyCode::F(5), KeyModifiers::NONE)));
        let shift_up = parse_key("shift-up").expect("parses");
        assert!(shift_up.matches(&key(KeyCode::Up, KeyModifiers::SHIFT)));
        assert!(!shift_up.matches(&key(KeyCode::Up, KeyModifiers::NONE)));
    }

    #[test]
    fn toml_overrides_defaults_key_by_key() {
        let km = Keymap::from_toml(
            r#"
[keys]
"ctrl-a" = "ack"
"x" = "none"
"X" = "export"

[keys.alarms]
enter = "ack"
"e" = "none"
"#,
        )
        .expect("valid keymap");
        assert_eq!(
            global(&km, key(KeyCode::Char('a'), KeyModifiers::CONTROL)),
            Some(Action::Ack)
        );
        assert_eq!(
            global(&km, ch('a')),
            Some(Action::Ack),
            "defaults the file doesn't name stay"
        );
        assert_eq!(global(&km, ch('x')), None);
        assert_eq!(global(&km, ch('X')), Some(Action::Export));
        assert_eq!(
            km.action(Context::Alarms, &key(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Ack)
        );
        assert_eq!(
            km.action(Context::Events, &key(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Select)
        );
        assert_eq!(
            km.action(Context::Alarms, &ch('e')),
            None,
            "\"none\" in a pane hides the global key"
        );
        assert_eq!(km.action(Context::Doors, &ch('e')), Some(Action::NextAlarm));
        assert_eq!(km.keys_for(Context::Global, Action::Ack), ["a", "ctrl-a"]);
        assert_eq!(
            km.keys_for(Context::Alarms, Action::Ack),
            ["enter", "a", "ctrl-a"]
        );
        assert!(km.warnings().is_empty(), "{:?}", km.warnings());
    }

    #[test]
    fn freeze_is_accepted_for_toggle_follow() {
        let km = Keymap::from_toml("[keys]\np = \"freeze\"\n").expect("valid");
        assert_eq!(global(&km, ch('p')), Some(Action::ToggleFollow));
    }

    #[test]
    fn empty_file_is_the_default_keymap() {
        let km = Keymap::from_toml("# nothing\n").expect("valid");
        assert_eq!(km.help_rows(), Keymap::default().help_rows());
    }

    #[test]
    fn bad_key_string_names_its_line() {
        let err = Keymap::from_toml("[keys]\nj = \"down\"\n\"pagdown\" = \"page_down\"\n")
            .expect_err("bad key");
        assert_eq!(err.line(), 3);
        let text = err.to_string();
        assert!(text.starts_with("keymap line 3:"), "{text}");
        assert!(
            text.contains("\"pagdown\"") && text.contains("pgdn"),
            "{text}"
        );
    }

    #[test]
    fn unknown_action_names_its_line_and_suggests() {
        let err = Keymap::from_toml("[keys]\n\n\"ctrl-a\" = \"acknowledge\"\n")
            .expect_err("unknown action");
        assert_eq!(err.line(), 3);
        let text = err.to_string();
        assert!(text.contains("\"acknowledge\""), "{text}");
        assert!(text.contains("did you mean \"ack\"?"), "{text}");
        let err = Keymap::from_toml("[keys]\nj = \"page-down\"\n").expect_err("unknown action");
        assert!(
            err.to_string().contains("did you mean \"page_down\"?"),
            "{err}"
        );
        let err = Keymap::from_toml("[keys]\nj = \"dwon\"\n").expect_err("unknown action");
        assert!(err.to_string().contains("did you mean \"down\"?"), "{err}");
    }

    #[test]
    fn two_spellings_of_one_key_are_rejected_with_both_lines() {
        let err = Keymap::from_toml(
            "[keys]\n\"ctrl-a\" = \"ack\"\n\"j\" = \"down\"\n\"C-a\" = \"export\"\n",
        )
        .expect_err("duplicate");
        assert_eq!(
            err,
            KeymapError::Duplicate {
                line: 4,
                key: "C-a".into(),
                first_line: 2,
                first_key: "ctrl-a".into(),
                canonical: "ctrl-a".into(),
                table: "[keys]".into(),
            }
        );
        assert!(err.to_string().contains("keep one"), "{err}");
        let err = Keymap::from_toml("[keys.alarms]\n\"Ctrl-A\" = \"ack\"\n\"ctrl-a\" = \"ack\"\n")
            .expect_err("duplicate");
        assert_eq!(err.line(), 3);
        assert!(err.to_string().contains("[keys.alarms]"), "{err}");
        let err = Keymap::from_toml("[keys]\n\"Q\" = \"quit\"\n\"shift-q\" = \"help\"\n")
            .expect_err("duplicate");
        assert_eq!(err.line(), 3);
    }

    #[test]
    fn the_same_key_in_two_tables_is_an_override_not_a_duplicate() {
        let km = Keymap::from_toml("[keys]\nq = \"quit\"\n[keys.search]\nq = \"back\"\n")
            .expect("valid");
        assert_eq!(km.action(Context::Search, &ch('q')), Some(Action::Back));
    }

    #[test]
    fn structural_mistakes_name_their_line() {
        let err = Keymap::from_toml("[keys]\nj = \"down\"\n[keys.alarm]\na = \"ack\"\n")
            .expect_err("bad pane");
        assert!(
            matches!(&err, KeymapError::UnknownContext { line: 3, name } if name == "alarm"),
            "{err:?}"
        );
        let err = Keymap::from_toml("\n[key]\nj = \"down\"\n").expect_err("bad table");
        assert!(
            matches!(&err, KeymapError::UnknownTable { line: 2, .. }),
            "{err:?}"
        );
        let err = Keymap::from_toml("keys = \"q\"\n").expect_err("not a table");
        assert!(
            matches!(&err, KeymapError::NotATable { line: 1, .. }),
            "{err:?}"
        );
        let err = Keymap::from_toml("[keys]\nj = 3\n").expect_err("not a string");
        assert!(
            matches!(&err, KeymapError::NotAnAction { line: 2, .. }),
            "{err:?}"
        );
        let err = Keymap::from_toml("[keys]\nj = \"down\"\nk = \n").expect_err("syntax");
        assert!(
            matches!(&err, KeymapError::Syntax { line: 3, .. }),
            "{err:?}"
        );
        let err = Keymap::from_toml("[keys.alarms.extra]\na = \"ack\"\n").expect_err("too deep");
        assert!(
            matches!(&err, KeymapError::NotAnAction { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn an_action_left_without_keys_warns() {
        let km = Keymap::from_toml("[keys]\nx = \"none\"\n").expect("valid");
        assert_eq!(km.warnings().len(), 1, "{:?}", km.warnings());
        assert!(
            km.warnings()[0].contains("\"export\""),
            "{:?}",
            km.warnings()
        );
        assert_eq!(
            km.keys_for(Context::Global, Action::Export),
            Vec::<String>::new()
        );
        let km = Keymap::from_toml("[keys]\nx = \"none\"\n[keys.search]\nx = \"export\"\n")
            .expect("valid");
        assert!(
            km.warnings().is_empty(),
            "a key in one pane is enough: {:?}",
            km.warnings()
        );
        assert!(Keymap::default().warnings().is_empty());
    }

    #[test]
    fn help_rows_list_every_action_with_its_real_keys() {
        let km = Keymap::default();
        let rows = km.help_rows();
        for action in Action::ALL {
            let row = rows
                .iter()
                .find(|(c, _, d)| *c == Context::Global && *d == action.description())
                .unwrap_or_else(|| panic!("no help row for {action:?}"));
            assert_ne!(row.1, "(none)", "{action:?} has a default key");
        }
        let row = |ctx, action: Action| {
            rows.iter()
                .find(|(c, _, d)| *c == ctx && *d == action.description())
                .map(|r| r.1.as_str())
        };
        assert_eq!(row(Context::Global, Action::Down), Some("j, down"));
        assert_eq!(row(Context::Global, Action::PrevPane), Some("shift-tab"));
        assert_eq!(row(Context::Global, Action::PrevAlarm), Some("E"));
        assert_eq!(
            row(Context::Detail, Action::Back),
            Some("q, esc, backspace")
        );
        assert_eq!(row(Context::Detail, Action::Quit), Some("ctrl-c"));
        assert_eq!(
            row(Context::Events, Action::Down),
            None,
            "panes list only what differs"
        );

        let km =
            Keymap::from_toml("[keys]\nx = \"none\"\n\"ctrl-e\" = \"export\"\n").expect("valid");
        let rows = km.help_rows();
        let export = rows
            .iter()
            .find(|(c, _, d)| *c == Context::Global && *d == Action::Export.description());
        assert_eq!(export.map(|r| r.1.as_str()), Some("ctrl-e"));
    }

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut names = std::collections::HashSet::new();
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
            assert!(names.insert(action.name()));
            assert!(!action.description().is_empty());
        }
        for context in Context::ALL {
            assert_eq!(Context::from_name(context.name()), Some(context));
        }
    }

    #[test]
    fn defaults_bind_each_key_once_per_context() {
        for (context, table) in [
            (Context::Global, DEFAULT_GLOBAL),
            (Context::Detail, DEFAULT_DETAIL),
        ] {
            let mut seen = std::collections::HashSet::new();
            for (spelling, _) in table {
                let combo = parse_key(spelling).expect("default parses");
                assert!(
                    seen.insert(combo),
                    "{spelling:?} bound twice in {context:?}"
                );
            }
        }
    }
}

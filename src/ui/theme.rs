//! Themes: what each *meaning* on screen (a forced door, a critical alarm, the
//! selection) looks like.
//!
//! Panes ask for a [`Role`], never for a colour, so a theme can restyle the console
//! without touching code. Themes are TOML files (`themes/*.toml`, embedded at build
//! time; a file of the same name in the user's theme directory wins). Every role has a
//! parent role (`alarm_critical` → `alarm` → `text`): a role a theme leaves out looks
//! like its parent, and what it does set is laid over the parent's style. A theme may
//! also name a `parent` theme and set only what differs; a role it sets replaces the
//! parent theme's entry for that role.
//!
//! A broken theme file never stops start-up: [`load`] returns warnings naming the
//! file, line and fix, and falls back to a built-in theme. `NO_COLOR` gives
//! [`no_color`], which keeps alarms and the selection visible with modifiers only.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use toml::Spanned;

/// The theme used when the chosen one cannot be loaded.
pub const DEFAULT_THEME: &str = "dark";

/// The name under which [`no_color`] is also offered as a theme.
pub const NO_COLOR_THEME: &str = "no-color";

macro_rules! roles {
    (@parent None) => { None };
    (@parent $parent:ident) => { Some(Role::$parent) };
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, parent $parent:ident; )*) => {
        /// A meaning on screen that a theme gives a style to.
        ///
        /// Declared parents first: resolution walks [`Role::ALL`] once, in order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Role {
            /// Every role, each after its parent.
            pub const ALL: &'static [Role] = &[$(Role::$variant,)*];

            /// The key in a theme file's `[roles]` table.
            pub fn name(self) -> &'static str {
                match self {
                    $(Role::$variant => $name,)*
                }
            }

            /// The role this one looks like where a theme does not set it.
            pub fn parent(self) -> Option<Role> {
                match self {
                    $(Role::$variant => roles!(@parent $parent),)*
                }
            }
        }
    };
}

roles! {
    /// Plain text; the root every other role falls back to.
    Text = "text", parent None;
    /// Secondary text: ages, ids, hints.
    Muted = "muted", parent Text;
    /// Pane titles.
    Title = "title", parent Text;
    /// Table column headers.
    Header = "header", parent Title;
    Border = "border", parent Muted;
    /// The border of the pane that has the keyboard.
    BorderFocused = "border_focused", parent Border;
    /// The selected row.
    Selection = "selection", parent Text;
    /// Text matching the current search.
    SearchMatch = "search_match", parent Selection;
    Tab = "tab", parent Muted;
    TabActive = "tab_active", parent Title;
    StatusBar = "status_bar", parent Text;
    /// Keys in the hint bar and help screen.
    Key = "key", parent Title;
    Dialog = "dialog", parent Text;
    /// The badge marking simulated (demo) data, so nobody takes it for a real site.
    Demo = "demo", parent Text;
    /// Anything in a good state; the fallback for the `*_ok`, `*_online`, `*_live` roles.
    Ok = "ok", parent Text;
    Info = "info", parent Text;
    Notice = "notice", parent Info;
    Warning = "warning", parent Text;
    /// Something failed in doorwatch or a vendor link (not a security event).
    Error = "error", parent Warning;
    /// A security alarm; the fallback for every alarm priority.
    Alarm = "alarm", parent Text;
    SearchError = "search_error", parent Error;
    AlarmCritical = "alarm_critical", parent Alarm;
    AlarmHigh = "alarm_high", parent Alarm;
    AlarmMedium = "alarm_medium", parent Alarm;
    AlarmLow = "alarm_low", parent Alarm;
    /// An alarm someone acknowledged whose condition has not cleared yet.
    AlarmAcknowledged = "alarm_acknowledged", parent Warning;
    AlarmCleared = "alarm_cleared", parent Muted;
    DoorLocked = "door_locked", parent Ok;
    DoorUnlocked = "door_unlocked", parent Notice;
    DoorOpen = "door_open", parent Notice;
    DoorForced = "door_forced", parent Alarm;
    /// Held open too long.
    DoorHeld = "door_held", parent Warning;
    DoorTamper = "door_tamper", parent Alarm;
    DoorLockdown = "door_lockdown", parent Warning;
    DoorUnknown = "door_unknown", parent Muted;
    AccessGranted = "access_granted", parent Ok;
    AccessDenied = "access_denied", parent Warning;
    ControllerOnline = "controller_online", parent Ok;
    ControllerOffline = "controller_offline", parent Error;
    ControllerUnknown = "controller_unknown", parent Muted;
    SyncOk = "sync_ok", parent Ok;
    SyncRunning = "sync_running", parent Info;
    SyncFailed = "sync_failed", parent Error;
    SourceLive = "source_live", parent Ok;
    SourceBackingOff = "source_backing_off", parent Warning;
    SourceFailed = "source_failed", parent Error;
}

const ROLE_COUNT: usize = Role::ALL.len();

impl Role {
    /// The role a theme file key names.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| role.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One role as a theme file sets it: only what is given overrides the parent role.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RoleStyle {
    fg: Option<Color>,
    bg: Option<Color>,
    add: Modifier,
    remove: Modifier,
}

impl RoleStyle {
    fn with(add: Modifier) -> RoleStyle {
        RoleStyle {
            add,
            ..RoleStyle::default()
        }
    }

    fn to_style(self) -> Style {
        let mut style = Style::new()
            .add_modifier(self.add)
            .remove_modifier(self.remove);
        style.fg = self.fg;
        style.bg = self.bg;
        style
    }
}

type Specs = [Option<RoleStyle>; ROLE_COUNT];

/// A loaded theme: the style of every role, resolved through parents once at load.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    specs: Specs,
    styles: [Style; ROLE_COUNT],
}

impl Theme {
    fn from_specs(name: &str, specs: Specs) -> Theme {
        let mut styles = [Style::new(); ROLE_COUNT];
        for &role in Role::ALL {
            let base = role.parent().map_or(Style::new(), |p| styles[p.index()]);
            styles[role.index()] = match specs[role.index()] {
                Some(spec) => base.patch(spec.to_style()),
                None => base,
            };
        }
        Theme {
            name: name.to_string(),
            specs,
            styles,
        }
    }

    /// The style for `role`, with fallbacks through its parent roles already applied.
    pub fn style(&self, role: Role) -> Style {
        self.styles[role.index()]
    }

    /// A theme shipped inside the binary (see [`builtin_names`]).
    pub fn builtin(name: &str) -> Option<Theme> {
        if name == NO_COLOR_THEME {
            return Some(no_color());
        }
        let mut chain = Vec::new();
        load_specs(name, None, &mut chain)
            .ok()
            .map(|specs| Theme::from_specs(name, specs))
    }
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::builtin(DEFAULT_THEME).unwrap_or_else(no_color)
    }
}

const EMBEDDED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

const BUILTIN_NAMES: &[&str] = &[
    "dark",
    "light",
    "high-contrast",
    "colorblind",
    "ansi16",
    NO_COLOR_THEME,
];

/// Names of the themes shipped inside the binary.
pub fn builtin_names() -> &'static [&'static str] {
    BUILTIN_NAMES
}

/// Every theme that can be chosen: the built-ins and the `*.toml` files in `user_dir`.
pub fn available(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|n| n.to_string()).collect();
    if let Some(entries) = user_dir.and_then(|dir| std::fs::read_dir(dir).ok()) {
        for path in entries.flatten().map(|entry| entry.path()) {
            let stem = path.file_stem().and_then(OsStr::to_str);
            if path.extension() == Some(OsStr::new("toml"))
                && let Some(stem) = stem.filter(|s| valid_name(s))
            {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The theme called `name`: `<user_dir>/<name>.toml` if it exists, else the built-in.
///
/// Never fails: a missing or broken theme yields warnings (file, line, what to fix)
/// and the built-in theme of the same name, or [`DEFAULT_THEME`].
pub fn load(name: &str, user_dir: Option<&Path>) -> (Theme, Vec<String>) {
    if name == NO_COLOR_THEME && !user_file_exists(name, user_dir) {
        return (no_color(), Vec::new());
    }
    let mut chain = Vec::new();
    match load_specs(name, user_dir, &mut chain) {
        Ok(specs) => (Theme::from_specs(name, specs), Vec::new()),
        Err(problems) => {
            let fallback = if BUILTIN_NAMES.contains(&name) {
                name
            } else {
                DEFAULT_THEME
            };
            let theme = Theme::builtin(fallback).unwrap_or_else(no_color);
            let warnings = problems
                .into_iter()
                .map(|p| format!("{p}; using the built-in theme \"{fallback}\" instead"))
                .collect();
            (theme, warnings)
        }
    }
}

/// [`load`], unless `NO_COLOR` is set to anything non-empty (<https://no-color.org>):
/// then [`no_color`].
pub fn from_env(name: &str, user_dir: Option<&Path>) -> (Theme, Vec<String>) {
    choose(std::env::var_os("NO_COLOR").as_deref(), name, user_dir)
}

fn choose(
    no_color_var: Option<&OsStr>,
    name: &str,
    user_dir: Option<&Path>,
) -> (Theme, Vec<String>) {
    if no_color_var.is_some_and(|value| !value.is_empty()) {
        (no_color(), Vec::new())
    } else {
        load(name, user_dir)
    }
}

/// No colours at all, only modifiers, so what matters still shows on a monochrome
/// screen: the selection is reversed, alarms and trouble are bold, the worst of them
/// (critical alarm, forced door, tamper) bold and reversed.
pub fn no_color() -> Theme {
    let bold = Modifier::BOLD;
    let loud = Modifier::BOLD | Modifier::REVERSED;
    let marks: &[(Role, Modifier)] = &[
        (Role::Muted, Modifier::DIM),
        (Role::Title, bold),
        (Role::Header, bold | Modifier::UNDERLINED),
        (Role::BorderFocused, bold),
        (Role::Selection, Modifier::REVERSED),
        (Role::SearchMatch, Modifier::UNDERLINED),
        (Role::TabActive, bold | Modifier::UNDERLINED),
        (Role::StatusBar, Modifier::REVERSED),
        (Role::Key, bold),
        (Role::Demo, loud),
        (Role::Error, bold),
        (Role::Warning, bold),
        (Role::Alarm, bold),
        (Role::SearchError, bold),
        (Role::AlarmCritical, loud),
        (Role::AlarmHigh, bold | Modifier::UNDERLINED),
        (Role::AlarmMedium, bold),
        (Role::AlarmLow, bold),
        (Role::AlarmAcknowledged, Modifier::empty()),
        (Role::AlarmCleared, Modifier::DIM),
        (Role::DoorOpen, Modifier::UNDERLINED),
        (Role::DoorForced, loud),
        (Role::DoorHeld, bold),
        (Role::DoorTamper, loud),
        (Role::DoorLockdown, bold | Modifier::UNDERLINED),
        (Role::DoorUnknown, Modifier::DIM),
        (Role::AccessDenied, bold),
        (Role::ControllerOffline, bold),
        (Role::ControllerUnknown, Modifier::DIM),
        (Role::SyncFailed, bold),
        (Role::SourceFailed, bold),
    ];
    // Flat on purpose: a role not listed gets nothing from its parent, so an
    // acknowledged alarm is plain rather than bold like `warning`.
    let own = |role: Role| {
        marks
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(Modifier::empty(), |(_, m)| *m)
    };
    Theme {
        name: NO_COLOR_THEME.to_string(),
        specs: std::array::from_fn(|i| Some(RoleStyle::with(own(Role::ALL[i])))),
        styles: std::array::from_fn(|i| RoleStyle::with(own(Role::ALL[i])).to_style()),
    }
}

// ---------------------------------------------------------------------------------
// Loading

/// Where a theme's text came from, for messages and loop detection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    User(PathBuf),
    Builtin(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::User(path) => write!(f, "theme file {}", path.display()),
            Origin::Builtin(name) => write!(f, "built-in theme {name}.toml"),
        }
    }
}

/// One thing wrong with a theme, phrased for the operator.
#[derive(Debug)]
struct Problem {
    origin: Option<Origin>,
    line: Option<usize>,
    what: String,
    fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, self.line) {
            (Some(origin), Some(line)) => write!(f, "{origin}, line {line}: ")?,
            (Some(origin), None) => write!(f, "{origin}: ")?,
            (None, _) => {}
        }
        write!(f, "{} — fix: {}", self.what, self.fix)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn user_path(name: &str, user_dir: Option<&Path>) -> Option<PathBuf> {
    user_dir.map(|dir| dir.join(format!("{name}.toml")))
}

fn user_file_exists(name: &str, user_dir: Option<&Path>) -> bool {
    user_path(name, user_dir).is_some_and(|path| path.exists())
}

/// The text of theme `name`; `user_dir` is `None` when only built-ins may answer.
fn find(name: &str, user_dir: Option<&Path>) -> Result<(Origin, String), Problem> {
    if !valid_name(name) {
        return Err(Problem {
            origin: None,
            line: None,
            what: format!("\"{name}\" is not a theme name"),
            fix: "use letters, digits, '-' or '_' (the file name without .toml)".into(),
        });
    }
    if let Some(path) = user_path(name, user_dir) {
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((Origin::User(path), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Problem {
                    origin: Some(Origin::User(path)),
                    line: None,
                    what: format!("cannot read it: {e}"),
                    fix: "make the file readable, or remove it".into(),
                });
            }
        }
    }
    match EMBEDDED.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => Ok((Origin::Builtin(n), text.to_string())),
        None => Err(Problem {
            origin: None,
            line: None,
            what: match user_path(name, user_dir) {
                Some(path) => format!(
                    "no theme \"{name}\": {} does not exist and no built-in has that name",
                    path.display()
                ),
                None => format!("no built-in theme \"{name}\""),
            },
            fix: format!(
                "choose one of {} or create that file",
                BUILTIN_NAMES.join(", ")
            ),
        }),
    }
}

/// Loads theme `name` and its parent themes into one role table. `chain` holds the
/// files already on the way here, to catch parent loops.
fn load_specs(
    name: &str,
    user_dir: Option<&Path>,
    chain: &mut Vec<Origin>,
) -> Result<Specs, Vec<Problem>> {
    let (origin, text) = find(name, user_dir).map_err(|p| vec![p])?;
    if chain.contains(&origin) {
        let names: Vec<String> = chain
            .iter()
            .chain([&origin])
            .map(|o| o.to_string())
            .collect();
        return Err(vec![Problem {
            origin: None,
            line: None,
            what: format!("parent loop: {}", names.join(" → ")),
            fix: "remove or change `parent` in one of these files".into(),
        }]);
    }
    chain.push(origin.clone());
    let file = parse(&text, &origin)?;
    let mut specs: Specs = [None; ROLE_COUNT];
    if let Some(parent) = &file.parent {
        // A user file named like a built-in and parented to it extends that built-in.
        let parent_dir = if parent.name == name { None } else { user_dir };
        specs = load_specs(&parent.name, parent_dir, chain).map_err(|mut problems| {
            // Problems about the reference itself (missing, loop) belong to this line.
            for problem in problems.iter_mut().filter(|p| p.origin.is_none()) {
                problem.origin = Some(origin.clone());
                problem.line = Some(parent.line);
            }
            problems
        })?;
    }
    for (role, style) in file.roles {
        specs[role.index()] = Some(style);
    }
    Ok(specs)
}

// ---------------------------------------------------------------------------------
// Parsing

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    /// Documentation only; the file name is the theme's name.
    #[serde(rename = "name")]
    _name: Option<String>,
    parent: Option<Spanned<String>>,
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    fg: Option<Spanned<RawColor>>,
    bg: Option<Spanned<RawColor>>,
    bold: Option<bool>,
    dim: Option<bool>,
    italic: Option<bool>,
    underline: Option<bool>,
    blink: Option<bool>,
    reverse: Option<bool>,
    crossed_out: Option<bool>,
}

/// A colour as written, checked after parsing so every bad one is reported.
enum RawColor {
    Text(String),
    Index(i64),
}

impl<'de> Deserialize<'de> for RawColor {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<RawColor, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawColor;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a colour name, \"#rrggbb\" or an index 0-255")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawColor, E> {
                Ok(RawColor::Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawColor, E> {
                Ok(RawColor::Index(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawColor, E> {
                Ok(RawColor::Index(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        de.deserialize_any(Visitor)
    }
}

struct ParentRef {
    name: String,
    line: usize,
}

struct ThemeFile {
    parent: Option<ParentRef>,
    roles: Vec<(Role, RoleStyle)>,
}

const COLOUR_FIX: &str = "use a colour name (black, red, green, yellow, blue, magenta, cyan, gray, \
     darkgray, lightred, lightgreen, lightyellow, lightblue, lightmagenta, lightcyan, white, \
     default), \"#rrggbb\", or an index 0-255";

fn line_of(text: &str, span: Option<Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(
        text.as_bytes()[..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
    )
}

fn parse(text: &str, origin: &Origin) -> Result<ThemeFile, Vec<Problem>> {
    let problem = |span: Option<Range<usize>>, what: String, fix: String| Problem {
        origin: Some(origin.clone()),
        line: line_of(text, span),
        what,
        fix,
    };
    let raw: RawTheme = toml::from_str(text).map_err(|e| {
        let what = e.message().trim().replace('\n', "; ");
        vec![problem(e.span(), what, syntax_fix(e.message()))]
    })?;
    let mut problems = Vec::new();
    let mut roles = Vec::new();
    for (key, raw_role) in raw.roles {
        let Some(role) = Role::from_name(key.get_ref()) else {
            problems.push(problem(
                Some(key.span()),
                format!("unknown role \"{}\"", key.get_ref()),
                role_fix(key.get_ref()),
            ));
            continue;
        };
        let mut colour = |slot: Option<Spanned<RawColor>>, which: &str| {
            let slot = slot?;
            let span = slot.span();
            match parse_colour(slot.get_ref()) {
                Ok(c) => Some(c),
                Err(what) => {
                    let what = format!("{what} in {role}.{which}");
                    problems.push(problem(Some(span), what, COLOUR_FIX.into()));
                    None
                }
            }
        };
        let fg = colour(raw_role.fg, "fg");
        let bg = colour(raw_role.bg, "bg");
        let mut style = RoleStyle {
            fg,
            bg,
            ..RoleStyle::default()
        };
        for (flag, modifier) in [
            (raw_role.bold, Modifier::BOLD),
            (raw_role.dim, Modifier::DIM),
            (raw_role.italic, Modifier::ITALIC),
            (raw_role.underline, Modifier::UNDERLINED),
            (raw_role.blink, Modifier::SLOW_BLINK),
            (raw_role.reverse, Modifier::REVERSED),
            (raw_role.crossed_out, Modifier::CROSSED_OUT),
        ] {
            match flag {
                Some(true) => style.add |= modifier,
                Some(false) => style.remove |= modifier,
                None => {}
            }
        }
        roles.push((role, style));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let parent = raw.parent.map(|p| ParentRef {
        line: line_of(text, Some(p.span())).unwrap_or(1),
        name: p.into_inner(),
    });
    Ok(ThemeFile { parent, roles })
}

fn parse_colour(raw: &RawColor) -> Result<Color, String> {
    match raw {
        RawColor::Index(i) => u8::try_from(*i)
            .map(Color::Indexed)
            .map_err(|_| format!("colour index {i} is out of range")),
        RawColor::Text(name) => {
            let trimmed = name.trim();
            if trimmed.eq_ignore_ascii_case("default") {
                return Ok(Color::Reset);
            }
            Color::from_str(trimmed).map_err(|_| format!("unknown colour \"{name}\""))
        }
    }
}

fn syntax_fix(message: &str) -> String {
    if message.contains("unknown field") {
        "a theme has `name`, `parent` and a `[roles]` table; a role takes `fg`, `bg` and \
         true/false for bold, dim, italic, underline, blink, reverse, crossed_out"
            .into()
    } else if message.contains("invalid type") {
        "colours are strings or numbers (fg = \"red\", fg = 208), modifiers true or false \
         (bold = true)"
            .into()
    } else {
        "correct the TOML at that line; a role is written \
         `alarm_critical = { fg = \"white\", bg = \"red\", bold = true }`"
            .into()
    }
}

fn role_fix(unknown: &str) -> String {
    let nearest = Role::ALL
        .iter()
        .map(|role| (edit_distance(unknown, role.name()), role.name()))
        .min();
    match nearest {
        Some((distance, name)) if distance <= 3 => format!("did you mean \"{name}\"?"),
        _ => {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("use one of: {}", names.join(", "))
        }
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const COLOUR_THEMES: &[&str] = &["dark", "light", "high-contrast", "colorblind", "ansi16"];

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(format!("{name}.toml")), text).expect("write theme file");
    }

    fn builtin(name: &str) -> Theme {
        Theme::builtin(name).unwrap_or_else(|| panic!("built-in {name}"))
    }

    fn load_clean(name: &str, dir: &Path) -> Theme {
        let (theme, warnings) = load(name, Some(dir));
        assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
        theme
    }

    fn load_broken(text: &str) -> (Theme, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "mine", text);
        let (theme, warnings) = load("mine", Some(dir.path()));
        assert!(!warnings.is_empty(), "expected a warning for {text:?}");
        (theme, warnings.join("\n"))
    }

    #[test]
    fn role_table_is_well_formed() {
        let mut names = HashSet::new();
        for (i, &role) in Role::ALL.iter().enumerate() {
            assert_eq!(role.index(), i, "{role} out of order in ALL");
            assert!(names.insert(role.name()), "duplicate name {role}");
            assert!(
                role.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert_eq!(Role::from_name(role.name()), Some(role));
            match role.parent() {
                Some(parent) => assert!(parent.index() < i, "{role} before its parent {parent}"),
                None => assert_eq!(role, Role::Text, "only text is a root"),
            }
        }
        assert_eq!(Role::AlarmCritical.parent(), Some(Role::Alarm));
        assert_eq!(Role::Alarm.parent(), Some(Role::Text));
    }

    #[test]
    fn builtin_names_match_embedded_files() {
        let mut files: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        files.push(NO_COLOR_THEME);
        assert_eq!(files, builtin_names());
    }

    #[test]
    fn every_builtin_parses_cleanly_and_sets_every_role() {
        for &name in builtin_names() {
            let (theme, warnings) = load(name, None);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            assert_eq!(theme.name, name);
            for &role in Role::ALL {
                assert!(
                    theme.specs[role.index()].is_some(),
                    "{name} does not set {role}"
                );
            }
        }
    }

    #[test]
    fn alarms_stand_out_from_text_in_every_builtin() {
        for &name in builtin_names() {
            let theme = builtin(name);
            let text = theme.style(Role::Text);
            for role in [
                Role::AlarmCritical,
                Role::DoorForced,
                Role::DoorTamper,
                Role::Alarm,
            ] {
                let style = theme.style(role);
                assert_ne!(style, text, "{name}: {role} looks like text");
                let loud = style.bg.is_some() || style.add_modifier.contains(Modifier::BOLD);
                assert!(loud, "{name}: {role} neither bold nor on a background");
            }
            assert_ne!(
                theme.style(Role::Selection),
                text,
                "{name}: selection invisible"
            );
        }
    }

    #[test]
    fn states_within_a_group_look_different_in_colour_themes() {
        let groups: &[&[Role]] = &[
            &[
                Role::AlarmCritical,
                Role::AlarmHigh,
                Role::AlarmMedium,
                Role::AlarmLow,
            ],
            &[
                Role::AlarmCritical,
                Role::AlarmAcknowledged,
                Role::AlarmCleared,
            ],
            &[
                Role::DoorLocked,
                Role::DoorUnlocked,
                Role::DoorOpen,
                Role::DoorForced,
                Role::DoorHeld,
                Role::DoorTamper,
                Role::DoorLockdown,
                Role::DoorUnknown,
            ],
            &[Role::AccessGranted, Role::AccessDenied],
            &[
                Role::ControllerOnline,
                Role::ControllerOffline,
                Role::ControllerUnknown,
            ],
            &[Role::SyncOk, Role::SyncRunning, Role::SyncFailed],
            &[Role::SourceLive, Role::SourceBackingOff, Role::SourceFailed],
            &[Role::Tab, Role::TabActive],
            &[Role::Border, Role::BorderFocused],
        ];
        for &name in COLOUR_THEMES {
            let theme = builtin(name);
            for group in groups {
                for (i, a) in group.iter().enumerate() {
                    for b in &group[i + 1..] {
                        assert_ne!(
                            theme.style(*a),
                            theme.style(*b),
                            "{name}: {a} looks like {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_color_has_no_colours_but_keeps_alarms_and_selection_visible() {
        let theme = no_color();
        for &role in Role::ALL {
            let style = theme.style(role);
            assert_eq!((style.fg, style.bg), (None, None), "{role} has a colour");
        }
        let has = |role, m: Modifier| theme.style(role).add_modifier.contains(m);
        assert!(has(Role::Selection, Modifier::REVERSED));
        for role in [Role::AlarmCritical, Role::DoorForced, Role::DoorTamper] {
            assert!(has(role, Modifier::BOLD | Modifier::REVERSED), "{role}");
        }
        for role in [
            Role::Alarm,
            Role::AlarmHigh,
            Role::AlarmMedium,
            Role::AlarmLow,
        ] {
            assert!(has(role, Modifier::BOLD), "{role}");
        }
        // Unlisted roles inherit nothing: an acknowledged alarm is plain, not bold.
        assert_eq!(theme.style(Role::AlarmAcknowledged), Style::new());
        assert_eq!(theme.style(Role::DoorLocked), Style::new());
    }

    #[test]
    fn no_color_env_var_wins_when_non_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (theme, warnings) = choose(Some(OsStr::new("1")), "light", Some(dir.path()));
        assert_eq!((theme, warnings), (no_color(), vec![]));
        let (theme, _) = choose(Some(OsStr::new("")), "light", Some(dir.path()));
        assert_eq!(theme, builtin("light"), "empty NO_COLOR is ignored");
        let (theme, _) = choose(None, "light", Some(dir.path()));
        assert_eq!(theme, builtin("light"));
        let (theme, warnings) = load(NO_COLOR_THEME, Some(dir.path()));
        assert_eq!((theme, warnings), (no_color(), vec![]));
    }

    #[test]
    fn role_falls_back_through_its_parents() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "short",
            "name = \"short\"\n[roles]\ntext = { fg = \"white\" }\n\
             alarm = { fg = \"magenta\", bold = true }\n\
             alarm_low = { bold = false, underline = true }\n",
        );
        let theme = load_clean("short", dir.path());
        let alarm = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
        assert_eq!(theme.style(Role::Alarm), alarm);
        assert_eq!(theme.style(Role::AlarmCritical), alarm, "critical → alarm");
        assert_eq!(theme.style(Role::DoorForced), alarm, "door_forced → alarm");
        assert_eq!(
            theme.style(Role::Muted),
            Style::new().fg(Color::White),
            "muted → text"
        );
        assert_eq!(
            theme.style(Role::BorderFocused),
            Style::new().fg(Color::White)
        );
        let low = theme.style(Role::AlarmLow);
        assert_eq!(low.fg, Some(Color::Magenta));
        assert!(low.add_modifier.contains(Modifier::UNDERLINED));
        assert!(
            !low.add_modifier.contains(Modifier::BOLD),
            "bold = false drops the parent's bold"
        );
    }

    #[test]
    fn parent_theme_supplies_what_a_theme_leaves_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "mine",
            "parent = \"dark\"\n[roles]\nalarm_critical = { fg = \"#ff00ff\" }\n",
        );
        let theme = load_clean("mine", dir.path());
        let dark = builtin("dark");
        assert_eq!(theme.name, "mine");
        for &role in Role::ALL.iter().filter(|r| **r != Role::AlarmCritical) {
            assert_eq!(theme.style(role), dark.style(role), "{role} not inherited");
        }
        // The entry replaces dark's alarm_critical and lays over dark's `alarm`.
        let expected = dark.style(Role::Alarm).fg(Color::Rgb(255, 0, 255));
        assert_eq!(theme.style(Role::AlarmCritical), expected);
        // Parents chain: a theme on top of `mine`.
        write(
            dir.path(),
            "mine2",
            "parent = \"mine\"\n[roles]\nmuted = { fg = 1 }\n",
        );
        let theme = load_clean("mine2", dir.path());
        assert_eq!(theme.style(Role::AlarmCritical), expected);
        assert_eq!(theme.style(Role::Muted).fg, Some(Color::Indexed(1)));
    }

    #[test]
    fn user_dir_overrides_the_builtin() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "light", "[roles]\ntext = { fg = \"black\" }\n");
        let theme = load_clean("light", dir.path());
        assert_ne!(theme, builtin("light"));
        assert_eq!(theme.style(Role::DoorForced), Style::new().fg(Color::Black));
        // Named after a built-in and parented to it: extends the embedded one, no loop.
        write(
            dir.path(),
            "dark",
            "parent = \"dark\"\n[roles]\ntext = { fg = \"#102030\" }\n",
        );
        let theme = load_clean("dark", dir.path());
        assert_eq!(
            theme.style(Role::Text).fg,
            Some(Color::Rgb(0x10, 0x20, 0x30))
        );
        assert_eq!(
            theme.style(Role::Title).fg,
            builtin("dark").style(Role::Title).fg
        );
        assert!(theme.style(Role::AlarmCritical).bg.is_some());
        let names = available(Some(dir.path()));
        assert!(names.iter().any(|n| n == "colorblind") && names.iter().any(|n| n == "dark"));
        assert_eq!(names.iter().filter(|n| *n == "dark").count(), 1);
    }

    #[test]
    fn broken_theme_warns_with_file_line_and_fix_and_falls_back_to_dark() {
        let dark = builtin("dark");
        let cases: &[(&str, &[&str])] = &[
            (
                "name = \"mine\"\n\n[roles]\nalarm_critical = { fg = \"redd\", bold = true }\n",
                &[
                    "line 4",
                    "unknown colour \"redd\"",
                    "alarm_critical.fg",
                    "lightred",
                ],
            ),
            (
                "[roles]\ntext = {}\nalarm_critcal = { fg = \"red\" }\n",
                &[
                    "line 3",
                    "unknown role \"alarm_critcal\"",
                    "did you mean \"alarm_critical\"",
                ],
            ),
            (
                "[roles]\ntext = { fg = red }\n",
                &["line 2", "correct the TOML"],
            ),
            (
                "[roles]\n\nmuted = { fg = 300 }\n",
                &["line 3", "colour index 300", "0-255"],
            ),
            (
                "[roles]\nmuted = { bold = \"yes\" }\n",
                &["line 2", "bold = true"],
            ),
            (
                "[roles]\nmuted = { colour = \"red\" }\n",
                &["line 2", "unknown field", "`fg`"],
            ),
            (
                "parent = \"nope\"\n",
                &["line 1", "no theme \"nope\"", "nope.toml does not exist"],
            ),
        ];
        for (text, expected) in cases {
            let (theme, warning) = load_broken(text);
            assert_eq!(theme, dark, "did not fall back for {text:?}");
            assert!(warning.contains("mine.toml"), "no file named: {warning}");
            assert!(
                warning.contains("using the built-in theme \"dark\""),
                "{warning}"
            );
            for needle in *expected {
                assert!(
                    warning.contains(needle),
                    "{needle:?} missing from: {warning}"
                );
            }
        }
    }

    #[test]
    fn every_bad_colour_in_a_file_is_reported() {
        let (_, warning) =
            load_broken("[roles]\ntext = { fg = \"nope\" }\nmuted = { bg = \"#12\" }\n");
        assert!(
            warning.contains("line 2") && warning.contains("line 3"),
            "{warning}"
        );
    }

    #[test]
    fn parent_loop_is_reported_and_falls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "a", "parent = \"b\"\n");
        write(dir.path(), "b", "[roles]\n\nparent_is_not_here = {}\n");
        let (_, warnings) = load("a", Some(dir.path()));
        assert!(
            warnings.join("\n").contains("b.toml, line 3"),
            "{warnings:?}"
        );
        write(dir.path(), "b", "parent = \"a\"\n");
        let (theme, warnings) = load("a", Some(dir.path()));
        let warning = warnings.join("\n");
        assert_eq!(theme, builtin("dark"));
        assert!(warning.contains("parent loop"), "{warning}");
        assert!(
            warning.contains("a.toml") && warning.contains("b.toml"),
            "{warning}"
        );
    }

    #[test]
    fn broken_override_of_a_builtin_falls_back_to_that_builtin() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "light", "[roles]\ntext = { fg = \"nope\" }\n");
        let (theme, warnings) = load("light", Some(dir.path()));
        assert_eq!(theme, builtin("light"));
        assert!(
            warnings[0].contains("using the built-in theme \"light\""),
            "{warnings:?}"
        );
    }

    #[test]
    fn unknown_theme_name_warns_and_uses_dark() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["solarized", "../etc/passwd"] {
            let (theme, warnings) = load(name, Some(dir.path()));
            assert_eq!(theme, builtin("dark"));
            assert_eq!(warnings.len(), 1, "{warnings:?}");
        }
        let (_, warnings) = load("solarized", Some(dir.path()));
        assert!(
            warnings[0].contains("colorblind"),
            "lists the built-ins: {warnings:?}"
        );
    }

    #[test]
    fn ansi16_uses_only_the_sixteen_named_colours() {
        use Color::*;
        let named = [
            Black,
            Red,
            Green,
            Yellow,
            Blue,
            Magenta,
            Cyan,
            Gray,
            DarkGray,
            LightRed,
            LightGreen,
            LightYellow,
            LightBlue,
            LightMagenta,
            LightCyan,
            White,
        ];
        let theme = builtin("ansi16");
        for &role in Role::ALL {
            let style = theme.style(role);
            for colour in [style.fg, style.bg].into_iter().flatten() {
                assert!(named.contains(&colour), "{role} uses {colour}");
            }
        }
    }

    /// The colour's usual RGB (xterm defaults for the 16 named ones).
    fn rgb(colour: Color) -> Option<(u8, u8, u8)> {
        const ANSI: [(u8, u8, u8); 16] = [
            (0, 0, 0),
            (205, 0, 0),
            (0, 205, 0),
            (205, 205, 0),
            (0, 0, 238),
            (205, 0, 205),
            (0, 205, 205),
            (229, 229, 229),
            (127, 127, 127),
            (255, 0, 0),
            (0, 255, 0),
            (255, 255, 0),
            (92, 92, 255),
            (255, 0, 255),
            (0, 255, 255),
            (255, 255, 255),
        ];
        let level = |n: u8| if n == 0 { 0 } else { 55 + 40 * n };
        Some(match colour {
            Color::Reset => return None,
            Color::Rgb(r, g, b) => (r, g, b),
            Color::Indexed(i @ 0..=15) => ANSI[usize::from(i)],
            Color::Indexed(i @ 16..=231) => {
                let i = i - 16;
                (level(i / 36), level(i / 6 % 6), level(i % 6))
            }
            Color::Indexed(i) => {
                let grey = 8 + 10 * (i - 232);
                (grey, grey, grey)
            }
            named => {
                let index = [
                    Color::Black,
                    Color::Red,
                    Color::Green,
                    Color::Yellow,
                    Color::Blue,
                    Color::Magenta,
                    Color::Cyan,
                    Color::Gray,
                    Color::DarkGray,
                    Color::LightRed,
                    Color::LightGreen,
                    Color::LightYellow,
                    Color::LightBlue,
                    Color::LightMagenta,
                    Color::LightCyan,
                    Color::White,
                ]
                .iter()
                .position(|c| *c == named)?;
                ANSI[index]
            }
        })
    }

    /// Hue in degrees, or `None` for greys and near-greys.
    fn hue(colour: Color) -> Option<f32> {
        let (r, g, b) = rgb(colour)?;
        let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max - min < 40.0 {
            return None;
        }
        let h = if max == r {
            60.0 * ((g - b) / (max - min))
        } else if max == g {
            60.0 * ((b - r) / (max - min) + 2.0)
        } else {
            60.0 * ((r - g) / (max - min) + 4.0)
        };
        Some(h.rem_euclid(360.0))
    }

    #[test]
    fn colorblind_theme_avoids_red_and_green_and_never_relies_on_hue_alone() {
        let theme = builtin("colorblind");
        let is_red = |h: f32| !(20.0..=340.0).contains(&h);
        let is_green = |h: f32| (75.0..=165.0).contains(&h);
        for &role in Role::ALL {
            let style = theme.style(role);
            for colour in [style.fg, style.bg].into_iter().flatten() {
                if let Some(h) = hue(colour) {
                    assert!(
                        !is_red(h) && !is_green(h),
                        "{role} uses {colour} (hue {h:.0})"
                    );
                }
            }
        }
        let trouble = [
            Role::Alarm,
            Role::AlarmCritical,
            Role::AlarmHigh,
            Role::AlarmMedium,
            Role::DoorForced,
            Role::DoorHeld,
            Role::DoorTamper,
            Role::DoorLockdown,
            Role::AccessDenied,
            Role::ControllerOffline,
            Role::SyncFailed,
            Role::SourceFailed,
            Role::Error,
        ];
        let marks = Modifier::BOLD | Modifier::UNDERLINED | Modifier::REVERSED;
        for role in trouble {
            let style = theme.style(role);
            let marked = style.bg.is_some() || style.add_modifier.intersects(marks);
            assert!(marked, "{role} differs from ok states only by hue");
        }
        // And the checker itself sees red and green where they are.
        assert!(is_red(hue(Color::Indexed(160)).unwrap_or(180.0)));
        assert!(is_green(hue(Color::Indexed(114)).unwrap_or(0.0)));
        assert!(is_green(hue(Color::Green).unwrap_or(0.0)));
    }

    #[test]
    fn colours_accept_names_hex_and_indexes() {
        let parse = |s: &str| parse_colour(&RawColor::Text(s.into()));
        assert_eq!(parse("lightred"), Ok(Color::LightRed));
        assert_eq!(parse("DarkGray"), Ok(Color::DarkGray));
        assert_eq!(parse("#a0B1c2"), Ok(Color::Rgb(0xa0, 0xb1, 0xc2)));
        assert_eq!(parse("208"), Ok(Color::Indexed(208)));
        assert_eq!(parse("default"), Ok(Color::Reset));
        assert!(parse("#12345").is_err());
        assert_eq!(parse_colour(&RawColor::Index(255)), Ok(Color::Indexed(255)));
        assert!(parse_colour(&RawColor::Index(-1)).is_err());
    }
}

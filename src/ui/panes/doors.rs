//! Every door: lock, position, mode, conditions, controller link, last access.

use crate::state::{AccessOutcome, Condition, DoorMode, Link, LockState, Position};
use crate::ui::app::{App, DoorLayout, DoorView, Pane};
use crate::ui::render::{clip, priority_role, short_age};
use crate::ui::snapshot::DoorRow;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

fn lock_cell(app: &App, d: &DoorRow) -> Cell<'static> {
    let (text, role) = match d.lock {
        LockState::Locked => ("locked", Role::DoorLocked),
        LockState::Unlocked => ("unlocked", Role::DoorUnlocked),
        LockState::Unknown => ("?", Role::Muted),
    };
    Cell::from(text).style(app.theme.style(role))
}

fn position_cell(app: &App, d: &DoorRow) -> Cell<'static> {
    let (text, role) = match d.position {
        Position::Open => ("open", Role::DoorOpen),
        Position::Closed => ("closed", Role::Text),
        Position::Unknown => ("?", Role::Muted),
    };
    Cell::from(text).style(app.theme.style(role))
}

fn conditions_cell(app: &App, d: &DoorRow) -> Cell<'static> {
    let Some(first) = d.conditions.first() else {
        return Cell::from("");
    };
    let text: Vec<&str> = d
        .conditions
        .iter()
        .map(|c| match c {
            Condition::Forced => "FORCED",
            Condition::Held => "HELD",
            Condition::Tamper => "TAMPER",
        })
        .collect();
    let role = match first {
        Condition::Forced => Role::DoorForced,
        Condition::Held => Role::DoorHeld,
        Condition::Tamper => Role::DoorTamper,
    };
    Cell::from(text.join(" ")).style(app.theme.style(role))
}

fn mode_text(m: DoorMode) -> &'static str {
    match m {
        DoorMode::Normal => "normal",
        DoorMode::Lockdown => "LOCKDOWN",
        DoorMode::ForceUnlock => "force unlock",
        DoorMode::DoNotDisturb => "dnd",
        DoorMode::ScheduledUnlock => "scheduled",
    }
}

fn link_cell(app: &App, d: &DoorRow) -> Cell<'static> {
    let (text, role) = match d.link {
        Link::Online => ("online", Role::ControllerOnline),
        Link::Offline => ("OFFLINE", Role::ControllerOffline),
        Link::Unknown => ("?", Role::ControllerUnknown),
    };
    Cell::from(text).style(app.theme.style(role))
}

fn access_text(app: &App, d: &DoorRow) -> String {
    match &d.last_access {
        None => "-".into(),
        Some(a) => {
            let what = match a.outcome {
                AccessOutcome::Granted => "ok",
                AccessOutcome::Denied => "denied",
                AccessOutcome::UnknownCredential => "unknown card",
            };
            format!(
                "{} {what} {}",
                short_age(app.now - a.at),
                a.person.as_deref().unwrap_or("")
            )
        }
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let doors = app.visible_doors();
    let grid = match app.door_view {
        DoorView::Auto => doors.len() > super::inner_height(area),
        DoorView::Table => false,
        DoorView::Grid => true,
    };
    if grid {
        render_grid(app, &doors, frame, area, block);
    } else {
        app.door_layout.set(DoorLayout {
            grid: false,
            columns: 1,
        });
        render_table(app, &doors, frame, area, block);
    }
}

fn render_table(
    app: &App,
    doors: &[&DoorRow],
    frame: &mut Frame,
    area: Rect,
    block: Block<'static>,
) {
    let height = super::inner_height(area);
    let start = super::window_start(app.doors.selected, doors.len(), height);
    let wide = area.width >= 110;
    let rows: Vec<Row> = doors
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, d)| {
            let name_style = match d.alarm {
                Some(p) => app.theme.style(priority_role(p)),
                None => app.theme.style(Role::Text),
            };
            let mut cells = vec![
                Cell::from(clip(&d.name, 20)).style(name_style),
                lock_cell(app, d),
                position_cell(app, d),
                conditions_cell(app, d),
                link_cell(app, d),
            ];
            if wide {
                cells.insert(1, Cell::from(clip(d.site.as_deref().unwrap_or("-"), 14)));
                cells.insert(2, Cell::from(d.vendor.as_str()));
                cells.push(Cell::from(mode_text(d.mode)));
            }
            cells.push(Cell::from(access_text(app, d)));
            let row = Row::new(cells);
            if i == app.doors.selected && app.pane == crate::ui::app::Pane::Doors {
                row.style(app.theme.style(Role::Selection))
            } else {
                row
            }
        })
        .collect();
    let (widths, header): (Vec<Constraint>, Vec<&str>) = if wide {
        (
            vec![
                Constraint::Length(20),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(13),
                Constraint::Length(7),
                Constraint::Length(12),
                Constraint::Min(10),
            ],
            vec![
                "door",
                "site",
                "vendor",
                "lock",
                "pos",
                "alarm",
                "link",
                "mode",
                "last access",
            ],
        )
    } else {
        (
            vec![
                Constraint::Length(20),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(13),
                Constraint::Length(7),
                Constraint::Min(10),
            ],
            vec!["door", "lock", "pos", "alarm", "link", "last access"],
        )
    };
    let header = Row::new(header).style(app.theme.style(Role::Muted));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// The grid's key, on its first line: the state is in the glyphs, colour only repeats it.
pub const GRID_LEGEND: &str =
    "! alarm  L/U lock  o/c open/closed  F/H/T forced/held/tamper  ✕ offline";
/// Glyphs before the name: alarm, lock, position, condition, link.
const GLYPHS: usize = 5;
/// The narrowest cell: the glyphs, a space, ten characters of name, a gap.
const MIN_CELL: usize = GLYPHS + 1 + 10 + 1;

/// Columns and cell width for `doors` cells in `width` x `rows`: as few columns as
/// show every door (longer names read better), never narrower than [`MIN_CELL`].
pub fn grid_shape(doors: usize, width: usize, rows: usize) -> (usize, usize) {
    let most = (width / MIN_CELL).max(1);
    let needed = doors.div_ceil(rows.max(1)).max(1);
    let columns = needed.min(most);
    (columns, (width / columns).max(1))
}

/// One door as a cell: glyphs that say its state without colour, then its name.
fn grid_cell(app: &App, d: &DoorRow, width: usize, selected: bool) -> Vec<Span<'static>> {
    let t = &app.theme;
    let (lock, lock_role) = match d.lock {
        LockState::Locked => ("L", Role::DoorLocked),
        LockState::Unlocked => ("U", Role::DoorUnlocked),
        LockState::Unknown => ("·", Role::Muted),
    };
    let (pos, pos_role) = match d.position {
        Position::Open => ("o", Role::DoorOpen),
        Position::Closed => ("c", Role::Text),
        Position::Unknown => ("·", Role::Muted),
    };
    let (cond, cond_role) = match d.conditions.first() {
        Some(Condition::Forced) => ("F", Role::DoorForced),
        Some(Condition::Held) => ("H", Role::DoorHeld),
        Some(Condition::Tamper) => ("T", Role::DoorTamper),
        None => (" ", Role::Text),
    };
    let (link, link_role) = match d.link {
        Link::Offline => ("✕", Role::ControllerOffline),
        Link::Online | Link::Unknown => (" ", Role::Text),
    };
    let (mark, name_role) = match d.alarm {
        Some(p) => ("!", priority_role(p)),
        None => (" ", Role::Text),
    };
    let name_width = width.saturating_sub(GLYPHS + 2);
    let name = format!(" {:<name_width$} ", clip(&d.name, name_width));
    let style = |role: Role| -> Style {
        let own = t.style(role);
        if selected {
            own.patch(t.style(Role::Selection))
        } else {
            own
        }
    };
    vec![
        Span::styled(mark, style(name_role)),
        Span::styled(lock, style(lock_role)),
        Span::styled(pos, style(pos_role)),
        Span::styled(cond, style(cond_role)),
        Span::styled(link, style(link_role)),
        Span::styled(name, style(name_role)),
    ]
}

/// Every door as a small cell, row by row, alarm doors first (top left).
fn render_grid(
    app: &App,
    doors: &[&DoorRow],
    frame: &mut Frame,
    area: Rect,
    block: Block<'static>,
) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = (inner.height as usize).saturating_sub(1);
    let (columns, cell_width) = grid_shape(doors.len(), inner.width as usize, rows);
    app.door_layout.set(DoorLayout {
        grid: true,
        columns,
    });
    let focused = app.pane == Pane::Doors;
    let grid_rows = doors.len().div_ceil(columns);
    let first_row = super::window_start(app.doors.selected / columns, grid_rows, rows);
    let mut lines = vec![Line::styled(
        clip(GRID_LEGEND, inner.width as usize),
        app.theme.style(Role::Muted),
    )];
    for row in doors.chunks(columns).skip(first_row).take(rows) {
        let at = lines.len() - 1 + first_row;
        let spans = row.iter().enumerate().flat_map(|(i, d)| {
            let selected = focused && at * columns + i == app.doors.selected;
            grid_cell(app, d, cell_width, selected)
        });
        lines.push(Line::from(spans.collect::<Vec<_>>()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

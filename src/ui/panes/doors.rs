//! Every door: lock, position, mode, conditions, controller link, last access.

use crate::state::{AccessOutcome, Condition, DoorMode, Link, LockState, Position};
use crate::ui::app::App;
use crate::ui::render::{clip, priority_role, short_age};
use crate::ui::snapshot::DoorRow;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Cell, Row, Table};

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

//! Live events: newest at the top (or bottom), coloured by severity, follow/freeze.

use crate::model::Event;
use crate::ui::app::App;
use crate::ui::render::{clip, severity_style, short_age};
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};

pub fn row<'a>(app: &App, e: &'a Event, wide: bool) -> Row<'a> {
    let style = severity_style(app, e.severity);
    let door = e.door.as_ref().map_or("-", |r| match &r.name {
        Some(n) => n.as_str(),
        None => app.door_name(&e.source, &r.id).unwrap_or(&r.id),
    });
    let person = e.person.as_ref().map_or("-", |r| r.label());
    let mut cells = vec![
        Cell::from(e.occurred_at.format("%H:%M:%S").to_string()),
        Cell::from(short_age(app.now - e.occurred_at)),
        Cell::from(e.vendor.as_str()),
        Cell::from(clip(&e.kind.name(), 24)),
        Cell::from(clip(door, 18)),
    ];
    if wide {
        cells.push(Cell::from(clip(person, 16)));
    }
    cells.push(Cell::from(e.summary.as_str()));
    Row::new(cells).style(style)
}

pub fn widths(wide: bool) -> Vec<Constraint> {
    let mut w = vec![
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(24),
        Constraint::Length(18),
    ];
    if wide {
        w.push(Constraint::Length(16));
    }
    w.push(Constraint::Min(10));
    w
}

/// An event table (live or search results) around `rows`: the column header and widths
/// that go with [`row`].
pub fn table<'a>(app: &App, rows: Vec<Row<'a>>, wide: bool) -> Table<'a> {
    let mut header = vec!["time", "age", "vendor", "kind", "door"];
    if wide {
        header.push("person");
    }
    header.push("summary");
    Table::new(rows, widths(wide)).header(Row::new(header).style(app.theme.style(Role::Muted)))
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let live = &app.live;
    let height = super::inner_height(area);
    let len = live.visible();
    let wide = area.width >= 120;
    // Display order: row 0 is the newest when newest_first.
    let to_index = |row: usize| {
        if live.newest_first {
            len - 1 - row
        } else {
            row
        }
    };
    let selected_row = if len == 0 {
        0
    } else if live.newest_first {
        len - 1 - live.selected.min(len - 1)
    } else {
        live.selected
    };
    let start = if live.following {
        if live.newest_first {
            0
        } else {
            len.saturating_sub(height)
        }
    } else {
        super::window_start(selected_row, len, height)
    };
    let rows: Vec<Row> = (start..(start + height).min(len))
        .map(|r| {
            let e = &live.events[to_index(r)];
            let row = row(app, e, wide);
            if !live.following && r == selected_row {
                row.style(app.theme.style(Role::Selection))
            } else {
                row
            }
        })
        .collect();
    let table = table(app, rows, wide).block(block);
    if len == 0 {
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Span::styled(
                "waiting for events…",
                app.theme.style(Role::Muted),
            ))
            .block(Block::default()),
            area,
        );
    }
    frame.render_widget(table, area);
}

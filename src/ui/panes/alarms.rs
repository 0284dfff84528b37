//! Open alarms, most urgent first, with state, count and escalation.

use crate::ui::app::App;
use crate::ui::render::{clip, priority_role, short_age};
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::widgets::{Block, Cell, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let alarms = &app.snapshot.alarms;
    let height = super::inner_height(area);
    let start = super::window_start(app.alarms.selected, alarms.len(), height);
    let rows: Vec<Row> = alarms
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, a)| {
            let state = match (a.acknowledged(), a.cleared()) {
                (false, false) => "NEW",
                (false, true) => "cleared",
                (true, false) => "acked",
                (true, true) => "closed",
            };
            let subject = a
                .door
                .as_ref()
                .or(a.controller.as_ref())
                .map(|r| r.label().to_string())
                .or_else(|| a.credential.clone())
                .unwrap_or_else(|| "-".into());
            let mut style = if a.acknowledged() {
                app.theme.style(Role::AlarmAcknowledged)
            } else if a.cleared() {
                app.theme.style(Role::AlarmCleared)
            } else {
                app.theme.style(priority_role(a.priority))
            };
            if a.priority == crate::state::alarms::Priority::Critical
                && !a.acknowledged()
                && app.quiet
            {
                style = style.remove_modifier(Modifier::SLOW_BLINK | Modifier::RAPID_BLINK);
            }
            let row = Row::new(vec![
                Cell::from(format!("{:?}", a.priority).to_lowercase()),
                Cell::from(state),
                Cell::from(clip(a.rule.name(), 18)),
                Cell::from(clip(&subject, 20)),
                Cell::from(format!("x{}", a.count)),
                Cell::from(short_age(app.now - a.raised_at)),
                Cell::from(if a.escalated { "ESC" } else { "" }),
                Cell::from(a.id.as_str()),
            ])
            .style(style);
            if i == app.alarms.selected {
                row.style(style.patch(app.theme.style(Role::Selection)))
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(18),
        Constraint::Length(20),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Min(8),
    ];
    let header = Row::new(vec![
        "prio", "state", "rule", "where", "count", "age", "", "id",
    ])
    .style(app.theme.style(Role::Muted));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

//! Controllers with their link and sync, and each source's catch-up progress.

use crate::state::{Link, SyncPhase};
use crate::ui::app::App;
use crate::ui::render::{clip, short_age};
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

/// A text progress bar (works in every terminal and over slow links).
pub fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!(
        "{}{}",
        "█".repeat(filled),
        "░".repeat(width - filled.min(width))
    )
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let catch_ups = &app.snapshot.catch_ups;
    let active: Vec<_> = catch_ups.iter().filter(|c| !c.done).collect();
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table_area, progress_area] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(active.len().min(4) as u16),
    ])
    .areas(inner);
    let controllers = &app.snapshot.controllers;
    let height = table_area.height.saturating_sub(1) as usize;
    let start = super::window_start(app.controllers.selected, controllers.len(), height);
    let rows: Vec<Row> = controllers
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, c)| {
            let (link, role) = match c.link {
                Link::Online => ("online", Role::ControllerOnline),
                Link::Offline => ("OFFLINE", Role::ControllerOffline),
                Link::Unknown => ("?", Role::ControllerUnknown),
            };
            let since = c
                .since
                .map(|t| short_age(app.now - t))
                .unwrap_or_else(|| "-".into());
            let (sync, sync_role) = match &c.sync {
                None => ("-".to_string(), Role::Muted),
                Some(s) => {
                    let age = s.since.map(|t| short_age(app.now - t)).unwrap_or_default();
                    match s.phase {
                        SyncPhase::Unknown => ("-".into(), Role::Muted),
                        SyncPhase::Pending => (format!("pending {age}"), Role::SyncRunning),
                        SyncPhase::Started => (format!("syncing {age}"), Role::SyncRunning),
                        SyncPhase::Finished => {
                            let took = s
                                .last_duration
                                .map(|d| format!(" in {}", short_age(d)))
                                .unwrap_or_default();
                            (format!("synced {age} ago{took}"), Role::SyncOk)
                        }
                        SyncPhase::Failed => (format!("FAILED {age} ago"), Role::SyncFailed),
                    }
                }
            };
            let row = Row::new(vec![
                Cell::from(clip(&c.name, 22)),
                Cell::from(c.vendor.as_str()),
                Cell::from(link).style(app.theme.style(role)),
                Cell::from(since),
                Cell::from(c.doors.to_string()),
                Cell::from(sync).style(app.theme.style(sync_role)),
            ]);
            if i == app.controllers.selected && app.pane == crate::ui::app::Pane::Controllers {
                row.style(app.theme.style(Role::Selection))
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(22),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Min(10),
    ];
    let header = Row::new(vec![
        "controller",
        "vendor",
        "link",
        "since",
        "doors",
        "sync",
    ])
    .style(app.theme.style(Role::Muted));
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
    let lines: Vec<Line> = active
        .iter()
        .take(4)
        .map(|c| {
            let eta = c
                .eta
                .map(|d| format!(" eta {}", short_age(d)))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(
                    format!("{:<14} ", clip(&c.source, 14)),
                    app.theme.style(Role::Text),
                ),
                Span::styled(bar(c.fraction, 20), app.theme.style(Role::SyncRunning)),
                Span::styled(
                    format!(" {:>3.0}% {} events{eta}", c.fraction * 100.0, c.events),
                    app.theme.style(Role::Muted),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), progress_area);
}

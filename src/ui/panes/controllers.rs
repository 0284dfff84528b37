//! Controllers with their link and sync, and each source's catch-up progress.

use crate::state::{Link, SyncPhase};
use crate::ui::app::App;
use crate::ui::render::{clip, short_age};
use crate::ui::snapshot::CatchUpRow;
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

/// A controller's sync as a three-step bar, readable without colour: pending fills
/// one step, running two, finished all three; a failure ends in `✕`.
pub fn sync_bar(phase: SyncPhase) -> &'static str {
    match phase {
        SyncPhase::Unknown => "   ",
        SyncPhase::Pending => "▰▱▱",
        SyncPhase::Started => "▰▰▱",
        SyncPhase::Finished => "▰▰▰",
        SyncPhase::Failed => "▰▰✕",
    }
}

/// One source's catch-up: bar, percentage, events (of the total when known), ETA.
fn catch_up_line(app: &App, c: &CatchUpRow, width: usize) -> Line<'static> {
    let bar_width = width.saturating_sub(48).clamp(8, 20);
    let events = match c.total {
        Some(total) => format!("{}/{total}", c.events),
        None => c.events.to_string(),
    };
    let eta = c
        .eta
        .map(|d| format!(" eta {}", short_age(d)))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled("↻ ", app.theme.style(Role::SyncRunning)),
        Span::styled(
            format!("{:<14} ", clip(&c.source, 14)),
            app.theme.style(Role::Text),
        ),
        Span::styled(
            bar(c.fraction, bar_width),
            app.theme.style(Role::SyncRunning),
        ),
        Span::styled(
            format!(" {:>3.0}% {events} events{eta}", c.fraction * 100.0),
            app.theme.style(Role::Muted),
        ),
    ])
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let catch_ups = &app.snapshot.catch_ups;
    let active: Vec<_> = catch_ups.iter().filter(|c| !c.done).collect();
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let shown = active.len().min(4);
    let [table_area, progress_area] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(if shown > 0 { shown as u16 + 1 } else { 0 }),
    ])
    .areas(inner);
    let name_width: u16 = if inner.width < 70 { 16 } else { 22 };
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
                    let (text, role) = match s.phase {
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
                    };
                    (format!("{} {text}", sync_bar(s.phase)), role)
                }
            };
            let row = Row::new(vec![
                Cell::from(clip(&c.name, name_width as usize)),
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
        Constraint::Length(name_width),
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
    let mut lines = vec![Line::styled(
        format!("catching up ({})", active.len()),
        app.theme.style(Role::Title),
    )];
    lines.extend(
        active
            .iter()
            .take(shown)
            .map(|c| catch_up_line(app, c, progress_area.width as usize)),
    );
    if shown > 0 {
        frame.render_widget(Paragraph::new(lines), progress_area);
    }
}

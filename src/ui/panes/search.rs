//! The query bar and its results, paged from the store as the selection moves.

use crate::ui::app::App;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row};

pub fn render(app: &App, frame: &mut Frame, area: Rect, block: Block<'static>) {
    let s = &app.search;
    let t = &app.theme;
    let [bar, results] = Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let cursor = if s.editing { "▏" } else { "" };
    let mut spans = vec![
        Span::styled("/ ", t.style(Role::Key)),
        Span::styled(format!("{}{cursor}", s.input), t.style(Role::Text)),
    ];
    if let Some(e) = &s.error {
        spans.push(Span::styled(format!("   {e}"), t.style(Role::SearchError)));
    } else if s.input.is_empty() && !s.editing {
        spans.push(Span::styled(
            "press / and type e.g. door:\"server room\" kind:access.denied since:24h",
            t.style(Role::Muted),
        ));
    }
    let bar_block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(if s.editing {
            Role::BorderFocused
        } else {
            Role::Border
        }))
        .title(" query ");
    frame.render_widget(Paragraph::new(Line::from(spans)).block(bar_block), bar);

    let status = if s.loading {
        "loading…".to_string()
    } else if s.query.is_empty() && s.results.is_empty() {
        String::new()
    } else if s.done {
        format!("{} results", s.results.len())
    } else {
        format!("{}+ results", s.results.len())
    };
    let block = if status.is_empty() {
        block
    } else {
        block.title(Span::styled(format!(" {status} "), t.style(Role::Muted)))
    };
    let height = super::inner_height(results);
    let start = super::window_start(s.selected, s.results.len(), height);
    let wide = results.width >= 120;
    let rows: Vec<Row> = s
        .results
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, (_, e))| {
            let row = super::events::row(app, e, wide);
            if i == s.selected && !s.editing {
                row.style(t.style(Role::Selection))
            } else {
                row
            }
        })
        .collect();
    let table = super::events::table(app, rows, wide).block(block);
    frame.render_widget(table, results);
}

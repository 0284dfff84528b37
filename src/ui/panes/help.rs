//! `?`: every key, generated from the keymap in use.

use crate::ui::app::App;
use crate::ui::render::centered;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn render(app: &App, frame: &mut Frame, area: Rect, scroll: u16) {
    let t = &app.theme;
    let r = centered(area, 72, area.height.saturating_sub(2).max(10));
    frame.render_widget(Clear, r);
    let mut lines = Vec::new();
    let mut last_context = None;
    for (context, keys, what) in app.keymap.help_rows() {
        if last_context != Some(context) {
            lines.push(Line::from(Span::styled(
                format!("{context:?}"),
                t.style(Role::Title),
            )));
            last_context = Some(context);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<22}"), t.style(Role::Key)),
            Span::styled(what.to_string(), t.style(Role::Text)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "commands: :ack ID NOTE  :export csv|jsonl  :theme NAME  :source NAME  :search QUERY  :quit",
        t.style(Role::Muted),
    )));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(Role::BorderFocused))
        .title(" Help — esc to close ")
        .style(t.style(Role::Dialog));
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), r);
}

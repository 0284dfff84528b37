//! One event, every unified field and the raw vendor payload pretty-printed.

use crate::model::{Event, Ref, format_time};
use crate::ui::app::App;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

fn reference(r: &Option<Ref>) -> String {
    match r {
        None => "-".into(),
        Some(r) => match &r.name {
            Some(n) => format!("{n} ({})", r.id),
            None => r.id.clone(),
        },
    }
}

pub fn lines(app: &App, e: &Event) -> Vec<Line<'static>> {
    let t = &app.theme;
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<13}"), t.style(Role::Muted)),
            Span::styled(value, t.style(Role::Text)),
        ])
    };
    let mut lines = vec![
        field("id", e.id.clone()),
        field("source", e.source.clone()),
        field("vendor", e.vendor.as_str().into()),
        field("occurred_at", format_time(&e.occurred_at)),
        field("received_at", format_time(&e.received_at)),
        field("kind", e.kind.name().into_owned()),
        field("vendor_type", e.vendor_type.clone()),
        field("severity", e.severity.as_str().into()),
        field("door", reference(&e.door)),
        field("controller", reference(&e.controller)),
        field("person", reference(&e.person)),
        field("site", reference(&e.site)),
        field(
            "credential",
            e.credential.clone().unwrap_or_else(|| "-".into()),
        ),
        field(
            "success",
            e.success
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        field("summary", e.summary.clone()),
        Line::from(""),
        Line::from(Span::styled("raw", t.style(Role::Title))),
    ];
    // The one place the console parses a payload: the event the operator opened.
    let raw = e.raw.pretty();
    lines.extend(raw.lines().map(|l| Line::from(l.to_string())));
    lines
}

pub fn render(app: &App, e: &Event, frame: &mut Frame, area: Rect, scroll: u16) {
    let r = Rect {
        x: area.x + 1,
        y: area.y,
        width: area.width.saturating_sub(2),
        height: area.height,
    };
    frame.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style(Role::BorderFocused))
        .title(" Event — esc to close, j/k to scroll ")
        .style(app.theme.style(Role::Dialog));
    frame.render_widget(
        Paragraph::new(lines(app, e))
            .block(block)
            .scroll((scroll, 0)),
        r,
    );
}

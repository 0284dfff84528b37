//! Drawing: a pure function of the [`App`]. Layout, header, tab bar, footer and
//! overlays here; each pane draws itself in `panes/`.

use crate::sources::runtime::LinkState;
use crate::state::alarms::Priority;
use crate::ui::app::{App, Overlay, Pane};
use crate::ui::panes;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// At least this big, the panes sit side by side instead of behind tabs.
pub const WIDE: (u16, u16) = (150, 40);

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(app, frame, header);
    render_tabs(app, frame, tabs);
    if area.width >= WIDE.0 && area.height >= WIDE.1 && app.pane != Pane::Search {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
        let [events, alarms] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(top);
        let [doors, controllers] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(bottom);
        render_pane(app, frame, Pane::Events, events);
        render_pane(app, frame, Pane::Alarms, alarms);
        render_pane(app, frame, Pane::Doors, doors);
        render_pane(app, frame, Pane::Controllers, controllers);
    } else {
        render_pane(app, frame, app.pane, body);
    }
    render_footer(app, frame, footer);
    if let Some(overlay) = &app.overlay {
        render_overlay(app, overlay, frame, body);
    }
}

fn render_pane(app: &App, frame: &mut Frame, pane: Pane, area: Rect) {
    let focused = app.pane == pane;
    let block = pane_block(app, pane_title(app, pane), focused);
    match pane {
        Pane::Events => panes::events::render(app, frame, area, block),
        Pane::Alarms => panes::alarms::render(app, frame, area, block),
        Pane::Doors => panes::doors::render(app, frame, area, block),
        Pane::Controllers => panes::controllers::render(app, frame, area, block),
        Pane::Search => panes::search::render(app, frame, area, block),
    }
}

fn pane_title(app: &App, pane: Pane) -> String {
    match pane {
        Pane::Events if !app.live.following => {
            format!(
                " Events — frozen, {} new (space: follow) ",
                app.live.new_while_frozen
            )
        }
        Pane::Events => " Events — following ".to_string(),
        Pane::Alarms => format!(" Alarms ({}) ", app.snapshot.alarms.len()),
        Pane::Doors => {
            let filter = app
                .door_filter
                .map(|v| format!(", {} only", v.as_str()))
                .unwrap_or_default();
            let site = app
                .door_site
                .as_deref()
                .map(|s| format!(", site {}", clip(s, 24)))
                .unwrap_or_default();
            format!(
                " Doors ({}) by {}{filter}{site} ",
                app.visible_doors().len(),
                app.door_sort.label()
            )
        }
        Pane::Controllers => format!(" Controllers & sync ({}) ", app.snapshot.controllers.len()),
        Pane::Search => " Search ".to_string(),
    }
}

pub fn pane_block(app: &App, title: String, focused: bool) -> Block<'static> {
    let role = if focused {
        Role::BorderFocused
    } else {
        Role::Border
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style(role))
        .title(Span::styled(title, app.theme.style(Role::Title)))
}

fn age(app: &App, t: chrono::DateTime<chrono::Utc>) -> String {
    short_age(app.now - t)
}

/// `5s`, `3m`, `2h`, `4d`.
pub fn short_age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub fn priority_role(p: Priority) -> Role {
    match p {
        Priority::Critical => Role::AlarmCritical,
        Priority::High => Role::AlarmHigh,
        Priority::Medium => Role::AlarmMedium,
        Priority::Low => Role::AlarmLow,
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(
        format!(" {} ", app.title),
        t.style(Role::Header),
    )];
    if app.demo {
        spans.push(Span::styled(" DEMO ", t.style(Role::Demo)));
    }
    if let Some(at) = app.glance {
        let label = format!(" AS OF {} ", as_of(app, at));
        spans.push(Span::styled(label, t.style(Role::Warning)));
    }
    spans.push(Span::raw(" "));
    for s in &app.snapshot.sources {
        let role = match s.state {
            LinkState::Live => Role::SourceLive,
            LinkState::Connecting | LinkState::BackingOff => Role::SourceBackingOff,
            LinkState::Failed | LinkState::Stopped => Role::SourceFailed,
        };
        let dot = match s.state {
            LinkState::Live => "●",
            LinkState::Connecting | LinkState::BackingOff => "◐",
            LinkState::Failed | LinkState::Stopped => "✕",
        };
        let last = s
            .last_event_at
            .map(|at| format!(" {}", age(app, at)))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!("{dot} {}{last} ", s.name),
            t.style(role),
        ));
        let catching_up = app
            .snapshot
            .catch_ups
            .iter()
            .find(|c| c.source == s.name && !c.done);
        if let Some(c) = catching_up {
            let percent = format!("↻{:.0}% ", c.fraction * 100.0);
            spans.push(Span::styled(percent, t.style(Role::SyncRunning)));
        }
    }
    let counts = app.snapshot.unacknowledged();
    if counts.is_empty() {
        spans.push(Span::styled(" no alarms ", t.style(Role::Muted)));
    } else {
        for (p, n) in counts {
            let label = format!(" {n} {} ", format!("{p:?}").to_lowercase());
            spans.push(Span::styled(label, t.style(priority_role(p))));
        }
    }
    let right = format!("{}  {} ", app.operator, app.now.format("%H:%M:%S UTC"));
    let left = Line::from(spans);
    let width = area.width as usize;
    let used = left.width();
    let mut line = left;
    if used + right.len() < width {
        line.spans
            .push(Span::raw(" ".repeat(width - used - right.len())));
        line.spans.push(Span::styled(right, t.style(Role::Muted)));
    }
    frame.render_widget(Paragraph::new(line), area);
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (i, pane) in Pane::ALL.iter().enumerate() {
        let label = match pane {
            Pane::Alarms if !app.snapshot.alarms.is_empty() => {
                format!(
                    " {} {} ({}) ",
                    i + 1,
                    pane.title(),
                    app.snapshot.alarms.len()
                )
            }
            _ => format!(" {} {} ", i + 1, pane.title()),
        };
        let role = if *pane == app.pane {
            Role::TabActive
        } else {
            Role::Tab
        };
        spans.push(Span::styled(label, t.style(role)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// When the glance was written, as the footer and header say it: the time of day,
/// with the date when it is not today's.
pub fn as_of(app: &App, at: chrono::DateTime<chrono::Utc>) -> String {
    if at.date_naive() == app.now.date_naive() {
        at.format("%H:%M:%S UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    if let Some(at) = app.glance {
        let mut spans = vec![Span::styled(
            format!(" opening the store… showing it as of {}", as_of(app, at)),
            t.style(Role::Warning),
        )];
        if let Some(m) = &app.message {
            spans.push(Span::styled(format!(" · {m}"), t.style(Role::Text)));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let line = match &app.message {
        Some(m) => Line::from(Span::styled(format!(" {m}"), t.style(Role::Text))),
        None => {
            let mut hints = vec![
                ("?", "help"),
                ("tab", "pane"),
                ("/", "search"),
                ("e", "next alarm"),
            ];
            if !app.read_only {
                hints.push(("a", "ack"));
                hints.push((":", "command"));
            }
            hints.push(("q", "quit"));
            let mut spans = Vec::new();
            for (k, what) in hints {
                spans.push(Span::styled(format!(" {k}"), t.style(Role::Key)));
                spans.push(Span::styled(format!(" {what} "), t.style(Role::Muted)));
            }
            if app.read_only {
                spans.push(Span::styled(" READ-ONLY ", t.style(Role::Warning)));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A box in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn render_overlay(app: &App, overlay: &Overlay, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    match overlay {
        Overlay::Help { scroll } => panes::help::render(app, frame, area, *scroll),
        Overlay::Detail { event, scroll } => {
            panes::detail::render(app, event, frame, area, *scroll)
        }
        Overlay::Ack { alarm, note, error } => {
            let r = centered(area, 64, 9);
            frame.render_widget(Clear, r);
            let subject = app
                .snapshot
                .alarms
                .iter()
                .find(|a| &a.id == alarm)
                .map(|a| {
                    let at = a
                        .door
                        .as_ref()
                        .or(a.controller.as_ref())
                        .map(|r| r.label().to_string())
                        .unwrap_or_default();
                    format!("{} {} {at}", a.id, a.rule.name())
                })
                .unwrap_or_else(|| alarm.clone());
            let mut lines = vec![
                Line::from(Span::styled(subject, t.style(Role::Title))),
                Line::from(""),
                Line::from(vec![
                    Span::styled("note: ", t.style(Role::Muted)),
                    Span::styled(format!("{note}▏"), t.style(Role::Text)),
                ]),
                Line::from(""),
            ];
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(
                    e.clone(),
                    t.style(Role::SearchError),
                )));
            }
            let required = if app.require_ack_note {
                " (required)"
            } else {
                ""
            };
            lines.push(Line::from(Span::styled(
                format!(
                    "enter: acknowledge as {}{required} · esc: cancel",
                    app.operator
                ),
                t.style(Role::Muted),
            )));
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::BorderFocused))
                .title(" Acknowledge alarm ")
                .style(t.style(Role::Dialog));
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block)
                    .wrap(Wrap { trim: false }),
                r,
            );
        }
        Overlay::Command { input, error } => {
            let r = Rect {
                x: area.x,
                y: area.y + area.height.saturating_sub(3),
                width: area.width,
                height: 3.min(area.height),
            };
            frame.render_widget(Clear, r);
            let mut spans = vec![Span::styled(format!(":{input}▏"), t.style(Role::Text))];
            if let Some(e) = error {
                spans.push(Span::styled(format!("  {e}"), t.style(Role::SearchError)));
            }
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::BorderFocused))
                .title(" command (ack, export, theme, source, search, quit) ")
                .style(t.style(Role::Dialog));
            frame.render_widget(Paragraph::new(Line::from(spans)).block(block), r);
        }
        Overlay::ConfirmQuit => {
            let r = centered(area, 50, 5);
            frame.render_widget(Clear, r);
            let n = app.unacknowledged().count();
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::AlarmHigh))
                .title(" Quit? ")
                .style(t.style(Role::Dialog));
            let text = vec![
                Line::from(format!("{n} alarm(s) are not acknowledged.")),
                Line::from(Span::styled(
                    "y: quit anyway · any other key: stay",
                    t.style(Role::Muted),
                )),
            ];
            frame.render_widget(Paragraph::new(text).block(block), r);
        }
    }
}

/// Cut `s` to `width` characters, marking the cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// The style of an event row by severity.
pub fn severity_style(app: &App, s: crate::model::Severity) -> Style {
    use crate::model::Severity;
    app.theme.style(match s {
        Severity::Info => Role::Info,
        Severity::Notice => Role::Notice,
        Severity::Warning => Role::Warning,
        Severity::Alarm => Role::Alarm,
    })
}

//! What the console draws, through ratatui's `TestBackend`: every pane and overlay at
//! 80x24, the whole wide layout at 160x48, as insta text snapshots. Snapshots don't
//! see colour, so the styles that carry meaning (alarm priority, a forced door) are
//! asserted cell by cell from the buffer, for the dark and the no-colour theme.
//!
//! Nothing volatile reaches the screen: the clock is fixed, ages are computed from it,
//! events are committed with a fixed `received_at`.

mod ui_fixture;

use crossterm::event::KeyCode;
use doorwatch::model::Event;
use doorwatch::state::CatchUpReport;
use doorwatch::state::alarms::{AlarmConfig, Priority};
use doorwatch::ui::app::{App, DoorView, Effect, Msg};
use doorwatch::ui::panes::doors::GRID_LEGEND;
use doorwatch::ui::render::{WIDE, priority_role, render};
use doorwatch::ui::theme::{Role, Theme, no_color};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier, Style};
use ui_fixture::{Desk, ch, key, now, page, send, typed};

/// Alarms keep the priority their rule gives them (no escalation), so the screen shows
/// several priorities, and one alarm someone already acknowledged.
fn desk() -> Desk {
    let mut desk = ui_fixture::desk_with(AlarmConfig {
        escalate_after: None,
        ..AlarmConfig::default()
    });
    let app = ui_fixture::app(&desk);
    let (_, active) = app
        .unacknowledged()
        .filter(|(_, a)| !a.cleared() && a.priority == Priority::Critical)
        .nth(1)
        .unwrap();
    let id = active.id.clone();
    desk.engine
        .ack(&id, "alice", "guard on site", now())
        .unwrap()
        .unwrap();
    desk
}

fn app(desk: &Desk) -> App {
    ui_fixture::app(desk)
}

fn draw(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(app, f)).unwrap();
    terminal.backend().buffer().clone()
}

/// One row of the buffer as the cells' symbols.
fn row_symbols(buf: &Buffer, y: u16) -> Vec<&str> {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

fn row_text(buf: &Buffer, y: u16) -> String {
    row_symbols(buf, y).concat()
}

/// The screen as text, trailing blanks trimmed.
fn text(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| row_text(buf, y).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn screen(app: &App, width: u16, height: u16) -> String {
    text(&draw(app, width, height))
}

/// Where `needle` starts on screen, every occurrence, as (x, y).
fn find(buf: &Buffer, needle: &str) -> Vec<(u16, u16)> {
    let chars: Vec<String> = needle.chars().map(String::from).collect();
    let mut hits = Vec::new();
    for y in 0..buf.area.height {
        let row = row_symbols(buf, y);
        for x in 0..row.len().saturating_sub(chars.len() - 1) {
            if chars.iter().enumerate().all(|(i, c)| row[x + i] == c) {
                hits.push((x as u16, y));
            }
        }
    }
    hits
}

/// The first row (y) whose text contains every one of `parts`.
fn row_with(buf: &Buffer, parts: &[&str]) -> u16 {
    (0..buf.area.height)
        .find(|&y| {
            let t = row_text(buf, y);
            parts.iter().all(|p| t.contains(p))
        })
        .unwrap_or_else(|| panic!("no row with {parts:?} in\n{}", text(buf)))
}

/// A cell shows `style`: its colours exactly, its modifiers at least.
fn assert_styled(cell: &Cell, style: Style, what: &str) {
    assert_eq!(cell.fg, style.fg.unwrap_or(Color::Reset), "{what}: fg");
    assert_eq!(cell.bg, style.bg.unwrap_or(Color::Reset), "{what}: bg");
    assert!(
        cell.modifier.contains(style.add_modifier),
        "{what}: modifiers {:?} lack {:?}",
        cell.modifier,
        style.add_modifier
    );
}

/// Every cell of `needle` at (x, y) shows `style`.
fn assert_text_styled(buf: &Buffer, (x, y): (u16, u16), needle: &str, style: Style) {
    for (i, _) in needle.chars().enumerate() {
        assert_styled(
            &buf[(x + i as u16, y)],
            style,
            &format!("{needle:?} at {x},{y}"),
        );
    }
}

fn frozen_with_arrivals(desk: &Desk) -> App {
    let mut app = app(desk);
    send(&mut app, [ch('j'), ch('j'), ch('j')]);
    let template: Event = app.live.events.back().unwrap().clone();
    let arrivals = (0..4)
        .map(|i| {
            let mut e = template.clone();
            e.id = format!("test:new-{i}");
            e.occurred_at = now() + chrono::Duration::seconds(i);
            e
        })
        .collect();
    send(&mut app, [Msg::Events(arrivals)]);
    app
}

fn searched(desk: &Desk, query: &str) -> App {
    let mut app = app(desk);
    let effects = send(
        &mut app,
        [ch('/')]
            .into_iter()
            .chain(typed(query))
            .chain([key(KeyCode::Enter)]),
    );
    let [Effect::Search { generation, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    send(&mut app, [page(desk, *generation, query, None, 200)]);
    app
}

#[test]
fn every_pane_at_80x24() {
    let desk = desk();
    let (w, h) = (80, 24);

    insta::assert_snapshot!("events_following", screen(&app(&desk), w, h));
    insta::assert_snapshot!(
        "events_frozen_4_new",
        screen(&frozen_with_arrivals(&desk), w, h)
    );
    for (digit, name) in [('2', "doors"), ('3', "controllers"), ('4', "alarms")] {
        let mut app = app(&desk);
        send(&mut app, [ch(digit)]);
        insta::assert_snapshot!(name, screen(&app, w, h));
    }

    let mut results = searched(&desk, "vendor:pdk");
    send(&mut results, [ch('j'), ch('j')]);
    insta::assert_snapshot!("search_results", screen(&results, w, h));

    let mut error = app(&desk);
    send(
        &mut error,
        [ch('/')]
            .into_iter()
            .chain(typed("door:front since:yesterday")),
    );
    insta::assert_snapshot!("search_syntax_error", screen(&error, w, h));

    let mut empty = app(&desk);
    send(&mut empty, [ch('5')]);
    insta::assert_snapshot!("search_empty", screen(&empty, w, h));
}

#[test]
fn every_overlay_at_80x24() {
    let desk = desk();
    let (w, h) = (80, 24);

    let mut help = app(&desk);
    send(&mut help, [ch('?')]);
    insta::assert_snapshot!("help", screen(&help, w, h));

    let mut detail = app(&desk);
    send(&mut detail, [ch('j'), key(KeyCode::Enter)]);
    insta::assert_snapshot!("detail", screen(&detail, w, h));
    send(&mut detail, (0..12).map(|_| ch('j')));
    insta::assert_snapshot!("detail_scrolled", screen(&detail, w, h));

    let mut ack = app(&desk);
    send(
        &mut ack,
        [ch('4'), ch('a')]
            .into_iter()
            .chain(typed("guard sent to the server room")),
    );
    insta::assert_snapshot!("ack_dialog", screen(&ack, w, h));

    let mut required = app(&desk);
    required.require_ack_note = true;
    send(&mut required, [ch('e'), ch('a'), key(KeyCode::Enter)]);
    insta::assert_snapshot!("ack_dialog_note_required", screen(&required, w, h));

    let mut command = app(&desk);
    send(
        &mut command,
        [ch(':')].into_iter().chain(typed("ack a-000001 reset")),
    );
    insta::assert_snapshot!("command_line", screen(&command, w, h));
    send(
        &mut command,
        [key(KeyCode::Esc), ch(':')]
            .into_iter()
            .chain(typed("frobnicate")),
    );
    send(&mut command, [key(KeyCode::Enter)]);
    insta::assert_snapshot!("command_line_error", screen(&command, w, h));

    let mut quit = app(&desk);
    send(&mut quit, [ch('q')]);
    insta::assert_snapshot!("confirm_quit", screen(&quit, w, h));

    let mut read_only = app(&desk);
    read_only.read_only = true;
    read_only.demo = true;
    insta::assert_snapshot!("read_only_demo", screen(&read_only, w, h));
}

#[test]
fn the_whole_screen_at_160x48_is_the_wide_layout() {
    let desk = desk();
    let (w, h) = (160, 48);
    assert!(w >= WIDE.0 && h >= WIDE.1);
    insta::assert_snapshot!("wide", screen(&app(&desk), w, h));

    let mut alarms = frozen_with_arrivals(&desk);
    send(
        &mut alarms,
        [ch('e'), ch('e'), ch('a')]
            .into_iter()
            .chain(typed("on my way")),
    );
    insta::assert_snapshot!("wide_alarm_focused_ack", screen(&alarms, w, h));

    let results = searched(&desk, "kind:access.*");
    insta::assert_snapshot!("wide_search_results", screen(&results, w, h));

    // One column or row short of wide: tabs again.
    let narrow = screen(&app(&desk), w, WIDE.1 - 1);
    assert!(!narrow.contains("Controllers & sync"), "{narrow}");
}

/// The alarms pane with the selection on the last row that fits without scrolling,
/// off the rows the assertions look at.
fn alarms_screen(app: &mut App) -> Buffer {
    send(app, [ch('4')]);
    send(app, (0..17).map(|_| ch('j')));
    draw(app, 80, 24)
}

fn critical_new_row(buf: &Buffer) -> u16 {
    row_with(buf, &["critical", "NEW"])
}

#[test]
fn alarm_rows_carry_their_priority_and_state_styles() {
    let desk = desk();
    for theme in [Theme::builtin("dark").unwrap(), no_color()] {
        let mut app = ui_fixture::app_with(&desk, theme.clone());
        let buf = alarms_screen(&mut app);
        let name = &theme.name;

        let y = critical_new_row(&buf);
        // The whole row, not just the priority word: the table spans 78 columns.
        for x in 1..79 {
            assert_styled(
                &buf[(x, y)],
                theme.style(Role::AlarmCritical),
                &format!("{name}: critical row"),
            );
        }
        let y = row_with(&buf, &["high", "NEW"]);
        assert_styled(
            &buf[(2, y)],
            theme.style(Role::AlarmHigh),
            &format!("{name}: high"),
        );
        let y = row_with(&buf, &["high", "cleared"]);
        assert_styled(
            &buf[(2, y)],
            theme.style(Role::AlarmCleared),
            &format!("{name}: cleared"),
        );
        let y = row_with(&buf, &["acked"]);
        assert_styled(
            &buf[(2, y)],
            theme.style(Role::AlarmAcknowledged),
            &format!("{name}: acked"),
        );

        // The selected row is the selection over its own style.
        let selected = app.selected_alarm().unwrap();
        let own = if selected.acknowledged() {
            Role::AlarmAcknowledged
        } else if selected.cleared() {
            Role::AlarmCleared
        } else {
            priority_role(selected.priority)
        };
        let (x, y) = find(&buf, &selected.id)[0];
        let expected = theme.style(own).patch(theme.style(Role::Selection));
        assert_styled(&buf[(x, y)], expected, &format!("{name}: selection"));

        // The header counts wear the priority's style too.
        let (x, y) = find(&buf, "critical")[0];
        assert_eq!(y, 0, "the first `critical` on screen is the header count");
        assert_text_styled(&buf, (x, y), "critical", theme.style(Role::AlarmCritical));
    }
}

#[test]
fn the_dark_theme_blinks_a_critical_alarm_unless_quiet() {
    let desk = desk();
    let dark = Theme::builtin("dark").unwrap();
    assert!(
        dark.style(Role::AlarmCritical)
            .add_modifier
            .contains(Modifier::SLOW_BLINK)
    );
    let mut app = ui_fixture::app_with(&desk, dark.clone());
    let buf = alarms_screen(&mut app);
    let y = critical_new_row(&buf);
    assert!(buf[(2, y)].modifier.contains(Modifier::SLOW_BLINK));

    let mut quiet = ui_fixture::app_with(&desk, dark.clone());
    quiet.quiet = true;
    let buf = alarms_screen(&mut quiet);
    let y = critical_new_row(&buf);
    let cell = &buf[(2, y)];
    assert!(
        !cell
            .modifier
            .intersects(Modifier::SLOW_BLINK | Modifier::RAPID_BLINK)
    );
    // Still unmistakable: colours and bold stay.
    let critical = dark.style(Role::AlarmCritical);
    assert_eq!(cell.bg, critical.bg.unwrap());
    assert!(cell.modifier.contains(Modifier::BOLD));
}

#[test]
fn door_conditions_and_alarmed_door_names_carry_their_styles() {
    let desk = desk();
    for theme in [Theme::builtin("dark").unwrap(), no_color()] {
        let mut app = ui_fixture::app_with(&desk, theme.clone());
        // The table even where the doors do not all fit (the grid is tested below).
        app.door_view = DoorView::Table;
        // The selection on the last row that fits at 80x24: the rows above are plain.
        send(&mut app, [ch('2')]);
        send(&mut app, (0..16).map(|_| ch('j')));
        for (w, h) in [(80, 24), (160, 48)] {
            let buf = draw(&app, w, h);
            let name = format!("{} {w}x{h}", theme.name);
            for (word, role) in [
                ("FORCED", Role::DoorForced),
                ("HELD", Role::DoorHeld),
                ("TAMPER", Role::DoorTamper),
            ] {
                let hits = find(&buf, word);
                assert!(!hits.is_empty(), "{name}: no {word}");
                for at in hits {
                    assert_text_styled(&buf, at, word, theme.style(role));
                }
            }
            // A door with an open critical alarm has its name in the alarm's style.
            let door = app
                .visible_doors()
                .into_iter()
                .find(|d| d.alarm == Some(Priority::Critical))
                .unwrap()
                .name
                .clone();
            let y = row_with(&buf, &[&door, "FORCED"]);
            let x = find(&buf, &door)
                .into_iter()
                .find(|&(_, row)| row == y)
                .unwrap()
                .0;
            assert_text_styled(&buf, (x, y), &door, theme.style(Role::AlarmCritical));
        }
    }
}

#[test]
fn offline_controllers_and_failed_syncs_stand_out() {
    let desk = desk();
    for theme in [Theme::builtin("dark").unwrap(), no_color()] {
        let mut app = ui_fixture::app_with(&desk, theme.clone());
        send(&mut app, [ch('3'), ch('G')]);
        let buf = draw(&app, 80, 24);
        let offline = find(&buf, "OFFLINE");
        assert!(!offline.is_empty());
        for at in offline {
            assert_text_styled(&buf, at, "OFFLINE", theme.style(Role::ControllerOffline));
        }
        let failed = find(&buf, "FAILED");
        assert!(!failed.is_empty());
        for at in failed {
            assert_text_styled(&buf, at, "FAILED", theme.style(Role::SyncFailed));
        }
    }
}

#[test]
fn the_frozen_selection_is_highlighted_and_following_highlights_nothing() {
    let desk = desk();
    let theme = Theme::builtin("dark").unwrap();
    let selection = theme.style(Role::Selection);
    let frozen = frozen_with_arrivals(&desk);
    let buf = draw(&frozen, 80, 24);
    let summary = frozen.live.selected_event().unwrap().summary.clone();
    let first_row = 4;
    // Three rows down from the newest shown (the arrivals wait behind "4 new").
    let y = first_row + 3;
    assert!(
        summary.starts_with(
            row_text(&buf, y)
                .trim_end_matches('│')
                .split_at(66)
                .1
                .trim()
        )
    );
    for x in 1..79 {
        assert_eq!(
            buf[(x, y)].bg,
            selection.bg.unwrap(),
            "selected row at x {x}"
        );
    }
    let following = draw(&app(&desk), 80, 24);
    for y in first_row..23 {
        assert_ne!(
            following[(2, y)].bg,
            selection.bg.unwrap(),
            "row {y} highlighted"
        );
    }
}

/// The desk with two sources catching up: Kisi by event time (a third of three days
/// read in 40 s), DoorFlow against the total it announced.
fn catching_up() -> Desk {
    let mut desk = desk();
    let day = chrono::Duration::days(1);
    let s = chrono::Duration::seconds;
    let e = &mut desk.engine;
    let begin = |total| CatchUpReport::Begin {
        from: now() - day * 3,
        to: now(),
        total,
    };
    e.catch_up("hq-kisi", &begin(None), now() - s(40));
    let page = CatchUpReport::Page {
        from: now() - day,
        to: now(),
        events: 1234,
    };
    e.catch_up("hq-kisi", &page, now() - s(5));
    e.catch_up("df-cloud", &begin(Some(5000)), now() - s(30));
    let page = CatchUpReport::Page {
        from: now() - day * 3,
        to: now() - day * 2,
        events: 4000,
    };
    e.catch_up("df-cloud", &page, now() - s(2));
    desk
}

#[test]
fn the_doors_grid_and_table_and_the_catch_up_bars_at_both_sizes() {
    let desk = desk();
    // 80x24: more doors than table rows, so the grid (the `doors` snapshot).
    let mut grid = app(&desk);
    send(&mut grid, [ch('2')]);
    let shown = screen(&grid, 80, 24);
    assert!(shown.contains(GRID_LEGEND), "{shown}");
    assert!(grid.door_layout.get().grid);
    // 160x48 with the table asked for.
    let mut table = app(&desk);
    send(&mut table, [ch('2')]);
    draw(&table, 160, 48);
    send(&mut table, [ch('v')]);
    assert_eq!(table.door_view, DoorView::Table);
    insta::assert_snapshot!("wide_doors_table", screen(&table, 160, 48));

    let desk = catching_up();
    let mut controllers = app(&desk);
    send(&mut controllers, [ch('3')]);
    insta::assert_snapshot!("controllers_catching_up", screen(&controllers, 80, 24));
    insta::assert_snapshot!("wide_catching_up", screen(&controllers, 160, 48));
}

#[test]
fn grid_cells_carry_the_table_styles_and_say_their_state_in_glyphs() {
    let desk = desk();
    for theme in [Theme::builtin("dark").unwrap(), no_color()] {
        let mut app = ui_fixture::app_with(&desk, theme.clone());
        send(&mut app, [ch('2')]);
        draw(&app, 80, 24);
        // The selection one grid row down (two columns), on a door with no glyphs.
        send(&mut app, [ch('j')]);
        assert_eq!(app.doors.selected, 2);
        let buf = draw(&app, 80, 24);
        let name = &theme.name;
        let doors = app.visible_doors();
        // Alarm doors first: the first cell is the critical forced door, its name in
        // the alarm's style, `!` and `F` for a reader without colour.
        let first = doors[0];
        assert_eq!(first.alarm, Some(Priority::Critical));
        let y = 4;
        let (x, _) = find(&buf, &first.name)
            .into_iter()
            .find(|&(_, row)| row == y)
            .unwrap_or_else(|| panic!("{name}: {} not in the first grid row", first.name));
        let cell = &row_text(&buf, y)[..];
        assert!(cell.contains(&format!("!·oF  {}", first.name)), "{cell}");
        let critical = theme.style(Role::AlarmCritical);
        assert_text_styled(&buf, (x, y), &first.name, critical);
        assert_styled(&buf[(1, y)], critical, &format!("{name}: alarm mark"));
        assert_styled(&buf[(4, y)], theme.style(Role::DoorForced), "F glyph");
        for (glyph, role) in [
            ("H", Role::DoorHeld),
            ("T", Role::DoorTamper),
            ("✕", Role::ControllerOffline),
        ] {
            let hits: Vec<(u16, u16)> = find(&buf, glyph)
                .into_iter()
                .filter(|&(x, y)| y > 3 && y < 23 && (x - 1) % 39 < 5)
                .collect();
            assert!(!hits.is_empty(), "{name}: no {glyph} glyph");
            for at in hits {
                assert_styled(&buf[at], theme.style(role), &format!("{name}: {glyph}"));
            }
        }
        // The selected cell: its own styles under the selection.
        let selected = doors[app.doors.selected];
        let (x, y) = find(&buf, &selected.name)
            .into_iter()
            .find(|&(x, y)| y >= 4 && (y - 4) * 2 + (x - 1) / 39 == app.doors.selected as u16)
            .unwrap();
        let own = match selected.alarm {
            Some(p) => theme.style(priority_role(p)),
            None => theme.style(Role::Text),
        };
        let expected = own.patch(theme.style(Role::Selection));
        assert_text_styled(&buf, (x, y), &selected.name, expected);
    }
}

#[test]
fn catch_up_bars_and_the_header_indicator_wear_the_sync_style() {
    let desk = catching_up();
    for theme in [Theme::builtin("dark").unwrap(), no_color()] {
        let mut app = ui_fixture::app_with(&desk, theme.clone());
        send(&mut app, [ch('3')]);
        let buf = draw(&app, 80, 24);
        let running = theme.style(Role::SyncRunning);
        let y = row_with(&buf, &["hq-kisi", "33%", "1234 events", "eta 1m"]);
        let (x, _) = find(&buf, "█").into_iter().find(|&(_, r)| r == y).unwrap();
        assert_text_styled(&buf, (x, y), "███", running);
        row_with(&buf, &["df-cloud", "80%", "4000/5000 events", "eta 7s"]);
        // The header's source dot says it is catching up, how far.
        let (x, y) = find(&buf, "↻33%")[0];
        assert_eq!(y, 0);
        assert_text_styled(&buf, (x, y), "↻33%", running);
        // The header's alarm counts still fit at 80 columns, in the alarm style.
        let (x, y) = find(&buf, "critical")[0];
        assert_eq!(y, 0);
        assert_text_styled(&buf, (x, y), "critical", theme.style(Role::AlarmCritical));
    }
}

//! `update()` over message sequences, as the loop feeds it: keys, event batches,
//! search pages and snapshots in, effects out. The store and engine are real (the
//! fixtures committed at a fixed clock); search pages come from the real planner.

mod ui_fixture;

use crossterm::event::KeyCode;
use doorwatch::model::Event;
use doorwatch::state::alarms::{AlarmConfig, Priority};
use doorwatch::ui::app::{self, App, Effect, LIVE_CAPACITY, Msg, Overlay, Pane, SEARCH_PAGE};
use doorwatch::ui::snapshot::Snapshot;
use ui_fixture::{Desk, ch, ctrl, desk, key, now, page, send, statuses, typed};

/// `n` events newer than anything seeded, one second apart.
fn fresh_events(app: &App, n: usize) -> Vec<Event> {
    let template = app.live.events.back().expect("seeded events").clone();
    (0..n)
        .map(|i| {
            let mut e = template.clone();
            e.id = format!("test:fresh-{i}");
            e.occurred_at = now() + chrono::Duration::seconds(i as i64 + 1);
            e
        })
        .collect()
}

fn selected_id(app: &App) -> String {
    app.live.selected_event().unwrap().id.clone()
}

fn unacked_ids(app: &App) -> Vec<String> {
    app.unacknowledged().map(|(_, a)| a.id.clone()).collect()
}

fn search_effect(effects: &[Effect]) -> (u64, String, Option<doorwatch::store::EventKey>, usize) {
    match effects {
        [
            Effect::Search {
                generation,
                query,
                before,
                limit,
            },
        ] => (*generation, query.clone(), *before, *limit),
        other => panic!("expected one search, got {other:?}"),
    }
}

/// The desk with one alarm already acknowledged, as an operator would have left it.
fn desk_with_an_ack() -> (Desk, String) {
    let mut desk = desk();
    let id = {
        let app = ui_fixture::app(&desk);
        // Still active after the ack, so it stays listed (as acknowledged).
        let (_, active) = app
            .unacknowledged()
            .filter(|(_, a)| !a.cleared())
            .nth(1)
            .unwrap();
        active.id.clone()
    };
    desk.engine
        .ack(&id, "alice", "checked on camera", now())
        .unwrap()
        .unwrap();
    (desk, id)
}

#[test]
fn scrolling_freezes_the_live_list_counts_arrivals_and_space_resumes() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    let seeded = app.live.events.len();
    assert!(app.live.following);
    assert_eq!(
        app.live.selected,
        seeded - 1,
        "following sits on the newest"
    );

    // Following: arrivals move the selection to the newest and are not "new".
    let first = fresh_events(&app, 2);
    send(&mut app, [Msg::Events(first)]);
    assert!(app.live.following);
    assert_eq!(app.live.new_while_frozen, 0);
    assert_eq!(selected_id(&app), "test:fresh-1");

    // `j` (down, towards older with the newest on top) freezes on the row below.
    send(&mut app, [ch('j')]);
    assert!(!app.live.following);
    assert_eq!(selected_id(&app), "test:fresh-0");

    // Arrivals while frozen are counted and don't move the view.
    let more: Vec<Event> = fresh_events(&app, 5)
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.id = format!("test:later-{i}");
            e.occurred_at += chrono::Duration::minutes(1);
            e
        })
        .collect();
    send(&mut app, [Msg::Events(more)]);
    assert_eq!(app.live.new_while_frozen, 5);
    assert_eq!(selected_id(&app), "test:fresh-0");
    // The frozen view stays as it was: up (towards newer) stops at its newest row.
    assert_eq!(app.live.visible(), seeded + 2);
    send(&mut app, [ch('k'), ch('k'), ch('k')]);
    assert_eq!(selected_id(&app), "test:fresh-1");

    // Space resumes following at the newest and forgets the count.
    send(&mut app, [ch(' ')]);
    assert!(app.live.following);
    assert_eq!(app.live.new_while_frozen, 0);
    assert_eq!(selected_id(&app), "test:later-4");

    // Space again freezes in place; Esc goes back to following.
    send(&mut app, [ch(' ')]);
    assert!(!app.live.following);
    send(&mut app, [ch('k'), key(KeyCode::Esc)]);
    assert!(app.live.following);
    assert_eq!(app.live.events.len(), seeded + 7);
}

#[test]
fn a_frozen_selection_stays_on_its_event_when_old_events_fall_off() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('j'), ch('j')]);
    let frozen_on = selected_id(&app);
    let seeded = app.live.events.len();
    // Enough arrivals to push some of the seeded events out of memory.
    let burst = LIVE_CAPACITY - seeded + 30;
    let arrivals = fresh_events(&app, burst);
    send(&mut app, [Msg::Events(arrivals)]);
    assert_eq!(app.live.events.len(), LIVE_CAPACITY);
    assert_eq!(app.live.new_while_frozen, burst);
    assert_eq!(selected_id(&app), frozen_on);
}

#[test]
fn oldest_first_flips_which_way_down_goes() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    let newest = app.live.selected;
    send(&mut app, [ch('o'), ch('k')]);
    assert!(!app.live.newest_first);
    assert_eq!(
        app.live.selected,
        newest - 1,
        "up is older when oldest is on top"
    );
    send(&mut app, [ch('g')]);
    assert_eq!(app.live.selected, 0);
    send(&mut app, [ch('G')]);
    assert!(app.live.following, "G in the live list means follow again");
}

#[test]
fn enter_in_the_query_bar_starts_a_search_and_only_the_latest_generation_lands() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('/')]);
    assert_eq!(app.pane, Pane::Search);
    assert!(app.search.editing);
    let effects = send(
        &mut app,
        typed("vendor:pdk").into_iter().chain([key(KeyCode::Enter)]),
    );
    let (generation, query, before, limit) = search_effect(&effects);
    assert_eq!(
        (generation, query.as_str(), before, limit),
        (1, "vendor:pdk", None, SEARCH_PAGE)
    );
    assert!(app.search.loading && !app.search.editing);

    // A second query before the first answered: the first's page is stale.
    let effects = send(
        &mut app,
        [ch('/'), ctrl('u')]
            .into_iter()
            .chain(typed("vendor:seam"))
            .chain([key(KeyCode::Enter)]),
    );
    assert_eq!(search_effect(&effects).0, 2);
    send(&mut app, [page(&desk, 1, "vendor:pdk", None, SEARCH_PAGE)]);
    assert!(app.search.results.is_empty(), "a stale page is dropped");
    assert!(app.search.loading);

    send(&mut app, [page(&desk, 2, "vendor:seam", None, SEARCH_PAGE)]);
    assert!(!app.search.loading);
    assert!(app.search.done);
    assert!(!app.search.results.is_empty());
    assert!(app.search.results.iter().all(|(_, e)| e.source == "seam"));
}

#[test]
fn a_syntax_error_shows_while_typing_and_enter_does_not_search() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    let effects = send(
        &mut app,
        [ch('/')].into_iter().chain(typed("since:yesterday")),
    );
    assert!(effects.is_empty());
    let error = app.search.error.clone().expect("an error while typing");
    assert!(error.contains("column 1"), "{error}");
    assert!(send(&mut app, [key(KeyCode::Enter)]).is_empty());
    assert_eq!(app.search.generation, 0);
    // Fixing it clears the error.
    send(
        &mut app,
        [ch('/'), ctrl('u')].into_iter().chain(typed("since:24h")),
    );
    assert_eq!(app.search.error, None);
}

/// A search for every event with its first page loaded (the store holds more).
fn first_page_of_everything(desk: &Desk) -> App {
    let mut app = ui_fixture::app(desk);
    let effects = send(&mut app, [ch('/'), key(KeyCode::Enter)]);
    let (generation, query, ..) = search_effect(&effects);
    assert_eq!(query, "");
    send(&mut app, [page(desk, generation, "", None, SEARCH_PAGE)]);
    assert_eq!(app.search.results.len(), SEARCH_PAGE);
    assert!(app.search.next.is_some() && !app.search.done);
    app
}

#[test]
fn moving_near_the_end_of_the_loaded_results_asks_for_the_next_page() {
    let desk = desk();
    let mut app = first_page_of_everything(&desk);
    let stored = desk.engine.store().len() as usize;
    assert!(stored > SEARCH_PAGE, "the fixtures fill more than a page");

    // Far from the end: nothing to fetch.
    assert!(app::more_results(&mut app, 0).is_empty());
    // Ten pages down (10 rows each) is within half a page of the end.
    send(&mut app, (0..10).map(|_| ctrl('d')));
    assert_eq!(app.search.selected, 100);
    let effects = app::more_results(&mut app, 0);
    let (generation, query, before, limit) = search_effect(&effects);
    assert_eq!(generation, app.search.generation);
    assert_eq!(query, "");
    assert_eq!(before, app.search.next);
    assert_eq!(limit, SEARCH_PAGE);
    // One request at a time.
    assert!(app::more_results(&mut app, 0).is_empty());

    send(&mut app, [page(&desk, generation, "", before, limit)]);
    assert_eq!(app.search.results.len(), stored, "pages append");
    assert!(app.search.done);
    let mut ids: Vec<&str> = app
        .search
        .results
        .iter()
        .map(|(_, e)| e.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), stored, "no event twice across pages");
    assert!(
        app::more_results(&mut app, 0).is_empty(),
        "nothing after the last page"
    );
}

#[test]
fn capital_g_loads_every_page_and_lands_on_the_oldest_result() {
    let desk = desk();
    let mut app = first_page_of_everything(&desk);
    let stored = desk.engine.store().len() as usize;
    let mut effects = send(&mut app, [ch('G')]);
    // Carry out each request as the loop would, until the store has no more.
    let mut rounds = 0;
    while let Some(Effect::Search {
        generation,
        query,
        before,
        limit,
    }) = effects.pop()
    {
        assert!(limit >= SEARCH_PAGE);
        effects = send(&mut app, [page(&desk, generation, &query, before, limit)]);
        effects.extend(app::more_results(&mut app, 0));
        rounds += 1;
        assert!(rounds < 10, "G keeps asking for pages");
    }
    assert!(app.search.done);
    assert_eq!(app.search.results.len(), stored);
    assert_eq!(app.search.selected, stored - 1, "G ends on the last result");
}

#[test]
fn moving_while_capital_g_loads_keeps_the_selection_where_the_operator_put_it() {
    let desk = desk();
    let mut app = first_page_of_everything(&desk);
    let effects = send(&mut app, [ch('G'), ch('k')]);
    let (generation, query, before, limit) = search_effect(&effects);
    assert_eq!(app.search.selected, SEARCH_PAGE - 2);
    send(&mut app, [page(&desk, generation, &query, before, limit)]);
    assert!(app.search.done);
    assert_eq!(app.search.selected, SEARCH_PAGE - 2);
}

#[test]
fn a_on_an_alarm_opens_the_dialog_and_enter_acknowledges_with_the_note() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('4')]);
    assert_eq!(app.pane, Pane::Alarms);
    let first = app.selected_alarm().unwrap().id.clone();
    send(&mut app, [ch('a')]);
    assert_eq!(
        app.overlay,
        Some(Overlay::Ack {
            alarm: first.clone(),
            note: String::new(),
            error: None
        })
    );
    // Typing a note: keys that mean something elsewhere (q, e, :) are just text here.
    let effects = send(
        &mut app,
        typed("guard sent: door q-checkx").into_iter().chain([
            key(KeyCode::Backspace),
            ch(' '),
            key(KeyCode::Enter),
        ]),
    );
    assert_eq!(
        effects,
        vec![Effect::Ack {
            alarm: first,
            note: "guard sent: door q-check".into()
        }]
    );
    assert_eq!(app.overlay, None);
    assert!(!app.quit);

    // Esc cancels without acknowledging.
    let effects = send(
        &mut app,
        [ch('a')]
            .into_iter()
            .chain(typed("no"))
            .chain([key(KeyCode::Esc)]),
    );
    assert!(effects.is_empty());
    assert_eq!(app.overlay, None);
}

#[test]
fn a_from_another_pane_takes_the_most_urgent_unacknowledged_alarm() {
    let (desk, acked) = desk_with_an_ack();
    let mut app = ui_fixture::app(&desk);
    assert_eq!(app.pane, Pane::Events);
    send(&mut app, [ch('a')]);
    let Some(Overlay::Ack { alarm, .. }) = &app.overlay else {
        panic!("no dialog: {:?}", app.overlay);
    };
    assert_eq!(alarm, &unacked_ids(&app)[0]);

    // On an alarm someone already acknowledged: who did it, no dialog.
    send(&mut app, [key(KeyCode::Esc), ch('4')]);
    let at = app
        .snapshot
        .alarms
        .iter()
        .position(|a| a.id == acked)
        .unwrap();
    app.alarms.selected = at;
    send(&mut app, [ch('a')]);
    assert_eq!(app.overlay, None);
    assert_eq!(
        app.message.as_deref(),
        Some(format!("{acked} is already acknowledged by alice").as_str())
    );
}

#[test]
fn an_acknowledgement_carried_out_on_the_engine_shows_on_the_next_snapshot() {
    let mut desk = desk();
    let mut app = ui_fixture::app(&desk);
    let before = unacked_ids(&app);
    let effects = send(
        &mut app,
        [ch('e'), ch('a')]
            .into_iter()
            .chain(typed("reset the door"))
            .chain([key(KeyCode::Enter)]),
    );
    let [Effect::Ack { alarm, note }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    // What the loop does with the effect.
    let acked = desk
        .engine
        .ack(alarm, &app.operator, note, now())
        .unwrap()
        .unwrap();
    let said = format!("{} acknowledged by {}", acked.id, app.operator);
    // The reply comes before the state that shows it: the footer waits for the list.
    send(&mut app, [Msg::Acked(Ok(said.clone()))]);
    assert_ne!(app.message.as_deref(), Some(said.as_str()));
    send(
        &mut app,
        [Msg::Snapshot(Box::new(Snapshot::take(
            &desk.engine,
            statuses(),
            now(),
        )))],
    );
    // The other order: the list shows it already, so the reply is said at once.
    app.message = None;
    send(&mut app, [Msg::Acked(Ok(said))]);
    assert_eq!(
        app.message.as_deref(),
        Some(format!("{alarm} acknowledged by tester").as_str())
    );
    let shown = app.snapshot.alarms.iter().find(|a| &a.id == alarm);
    // Acknowledged and still active stays listed as acked; if it had cleared it leaves.
    assert!(shown.is_none_or(|a| a.acknowledged() && a.acks[0].note == "reset the door"));
    assert_eq!(unacked_ids(&app).len(), before.len() - 1);
    assert!(!unacked_ids(&app).contains(alarm));
}

#[test]
fn a_required_note_refuses_an_empty_acknowledgement() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    app.require_ack_note = true;
    let effects = send(
        &mut app,
        [ch('a')]
            .into_iter()
            .chain(typed("   "))
            .chain([key(KeyCode::Enter)]),
    );
    assert!(effects.is_empty());
    let Some(Overlay::Ack { error, note, .. }) = &app.overlay else {
        panic!("the dialog closed: {:?}", app.overlay);
    };
    assert_eq!(note, "   ", "what was typed stays");
    assert!(error.as_deref().unwrap().contains("note is required"));
    // Typing clears the complaint; with text, Enter acknowledges.
    let effects = send(
        &mut app,
        typed("ok").into_iter().chain([key(KeyCode::Enter)]),
    );
    assert!(matches!(effects.as_slice(), [Effect::Ack { note, .. }] if note == "ok"));
}

#[test]
fn a_read_only_console_neither_acknowledges_nor_takes_commands_and_quits_at_once() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    app.read_only = true;
    assert!(send(&mut app, [ch('4'), ch('a')]).is_empty());
    assert_eq!(app.overlay, None);
    assert!(app.message.as_deref().unwrap().contains("read-only"));
    assert!(send(&mut app, [ch(':')]).is_empty());
    assert_eq!(app.overlay, None);
    // Nobody here can acknowledge, so leaving asks nothing.
    assert_eq!(send(&mut app, [ch('q')]), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn e_and_capital_e_cycle_the_unacknowledged_alarms_from_any_pane() {
    let (desk, acked) = desk_with_an_ack();
    let mut app = ui_fixture::app(&desk);
    let unacked = unacked_ids(&app);
    assert!(unacked.len() >= 3);
    let selected = |app: &App| app.selected_alarm().unwrap().id.clone();

    for start in [ch('2'), ch('3'), ch('5'), ch('1')] {
        send(&mut app, [start, ch('e')]);
        assert_eq!(app.pane, Pane::Alarms);
        assert_eq!(selected(&app), unacked[0]);
    }
    // Forward through every unacknowledged alarm, skipping the acknowledged one, and round.
    let mut seen = vec![selected(&app)];
    for _ in 1..unacked.len() {
        send(&mut app, [ch('e')]);
        seen.push(selected(&app));
    }
    assert_eq!(seen, unacked);
    assert!(!seen.contains(&acked));
    send(&mut app, [ch('e')]);
    assert_eq!(selected(&app), unacked[0], "wraps to the first");
    send(&mut app, [ch('E')]);
    assert_eq!(
        selected(&app),
        *unacked.last().unwrap(),
        "backwards wraps to the last"
    );
    send(&mut app, [ch('E')]);
    assert_eq!(selected(&app), unacked[unacked.len() - 2]);
}

#[test]
fn e_with_every_alarm_acknowledged_says_so() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    app.snapshot.alarms.clear();
    send(&mut app, [ch('e')]);
    assert_eq!(app.pane, Pane::Events);
    assert_eq!(app.message.as_deref(), Some("no unacknowledged alarms"));
}

#[test]
fn q_with_unacknowledged_alarms_asks_first() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    assert!(send(&mut app, [ch('q')]).is_empty());
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
    // Any other key stays.
    assert!(send(&mut app, [ch('n')]).is_empty());
    assert_eq!(app.overlay, None);
    assert!(!app.quit);
    // Ctrl-C asks too; y leaves.
    assert!(send(&mut app, [ctrl('c')]).is_empty());
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
    assert_eq!(send(&mut app, [ch('y')]), vec![Effect::Quit]);
    assert!(app.quit);

    // Nothing unacknowledged: q leaves at once.
    let mut calm = ui_fixture::app(&desk);
    calm.snapshot.alarms.clear();
    assert_eq!(send(&mut calm, [ch('q')]), vec![Effect::Quit]);
}

fn command(line: &str) -> Vec<Msg> {
    [ch(':')]
        .into_iter()
        .chain(typed(line))
        .chain([key(KeyCode::Enter)])
        .collect()
}

#[test]
fn the_command_line_acknowledges_searches_remembers_and_rejects_nonsense() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    let id = unacked_ids(&app)[2].clone();
    let effects = send(&mut app, command(&format!("ack {id} called the guard")));
    assert_eq!(
        effects,
        vec![Effect::Ack {
            alarm: id.clone(),
            note: "called the guard".into()
        }]
    );
    assert_eq!(app.overlay, None);

    let effects = send(&mut app, command("search kind:door.*"));
    assert_eq!(search_effect(&effects).1, "kind:door.*");
    assert_eq!(app.pane, Pane::Search);

    // History: Up recalls the newest first, then older; Down comes back.
    send(&mut app, [ch(':'), key(KeyCode::Up)]);
    let input = |app: &App| match &app.overlay {
        Some(Overlay::Command { input, .. }) => input.clone(),
        other => panic!("no command line: {other:?}"),
    };
    assert_eq!(input(&app), "search kind:door.*");
    send(&mut app, [key(KeyCode::Up)]);
    assert_eq!(input(&app), format!("ack {id} called the guard"));
    send(&mut app, [key(KeyCode::Up)]);
    assert_eq!(
        input(&app),
        format!("ack {id} called the guard"),
        "stops at the oldest"
    );
    send(&mut app, [key(KeyCode::Down)]);
    assert_eq!(input(&app), "search kind:door.*");
    send(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(app.overlay, None);

    // Mistakes keep the line open with what went wrong.
    let error = |app: &App| match &app.overlay {
        Some(Overlay::Command { error, .. }) => error.clone().unwrap_or_default(),
        other => panic!("the command line closed: {other:?}"),
    };
    assert!(send(&mut app, command("frobnicate now")).is_empty());
    assert!(
        error(&app).starts_with("unknown command `frobnicate`"),
        "{}",
        error(&app)
    );
    assert_eq!(input(&app), "frobnicate now");
    send(&mut app, [key(KeyCode::Esc)]);
    assert!(send(&mut app, command("ack a-999999 whatever")).is_empty());
    assert_eq!(error(&app), "no open alarm a-999999");
    send(&mut app, [key(KeyCode::Esc)]);
    app.require_ack_note = true;
    assert!(send(&mut app, command(&format!("ack {id}"))).is_empty());
    assert!(error(&app).contains("note is required"));
    send(&mut app, [key(KeyCode::Esc)]);

    // `:ack` alone opens the dialog; `:q` asks like q.
    send(&mut app, command("ack"));
    assert!(matches!(app.overlay, Some(Overlay::Ack { .. })));
    send(&mut app, [key(KeyCode::Esc)]);
    assert!(send(&mut app, command("q")).is_empty());
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
}

/// A snapshot with one more critical, unacknowledged alarm than `snapshot`.
fn with_new_critical(snapshot: &Snapshot, id: &str) -> Snapshot {
    let mut s = snapshot.clone();
    let mut alarm = s
        .alarms
        .iter()
        .find(|a| a.priority == Priority::Critical)
        .unwrap()
        .clone();
    alarm.id = id.into();
    alarm.acks.clear();
    s.alarms.insert(0, alarm);
    s
}

#[test]
fn the_bell_rings_once_per_new_critical_alarm_and_never_when_quiet() {
    let desk = ui_fixture::desk_with(AlarmConfig::default());
    let taken = Snapshot::take(&desk.engine, statuses(), now());
    assert!(
        taken
            .alarms
            .iter()
            .any(|a| a.priority == Priority::Critical && !a.acknowledged())
    );
    let bells = |effects: Vec<Effect>| effects.iter().filter(|e| **e == Effect::Bell).count();

    let mut app = App::new(Default::default(), Default::default(), now());
    // Several critical alarms at once: one bell, not one each.
    assert_eq!(
        bells(send(&mut app, [Msg::Snapshot(Box::new(taken.clone()))])),
        1
    );
    // The same alarms again (a status change, a retrigger): silence.
    assert_eq!(
        bells(send(&mut app, [Msg::Snapshot(Box::new(taken.clone()))])),
        0
    );
    let newer = with_new_critical(&taken, "a-900001");
    assert_eq!(
        bells(send(&mut app, [Msg::Snapshot(Box::new(newer.clone()))])),
        1
    );
    assert_eq!(
        bells(send(&mut app, [Msg::Snapshot(Box::new(newer.clone()))])),
        0
    );

    let mut quiet = App::new(Default::default(), Default::default(), now());
    quiet.quiet = true;
    assert_eq!(
        bells(send(&mut quiet, [Msg::Snapshot(Box::new(taken.clone()))])),
        0
    );
    assert_eq!(
        bells(send(
            &mut quiet,
            [Msg::Snapshot(Box::new(with_new_critical(
                &taken, "a-900002"
            )))]
        )),
        0
    );
}

#[test]
fn the_selected_alarm_stays_selected_when_the_list_reorders() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('4'), ch('j'), ch('j')]);
    let id = app.selected_alarm().unwrap().id.clone();
    let reordered = with_new_critical(&app.snapshot, "a-900003");
    send(&mut app, [Msg::Snapshot(Box::new(reordered))]);
    assert_eq!(app.alarms.selected, 3);
    assert_eq!(app.selected_alarm().unwrap().id, id);
}

#[test]
fn tab_and_digits_move_between_panes_and_help_and_detail_close_with_esc() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    let mut order = vec![app.pane];
    for _ in 0..5 {
        send(&mut app, [key(KeyCode::Tab)]);
        order.push(app.pane);
    }
    assert_eq!(order, [Pane::ALL.as_slice(), &[Pane::Events]].concat());
    send(&mut app, [key(KeyCode::BackTab)]);
    assert_eq!(app.pane, Pane::Search);

    send(&mut app, [ch('1'), ch('?'), ch('j')]);
    assert_eq!(app.overlay, Some(Overlay::Help { scroll: 1 }));
    send(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(app.overlay, None);

    send(&mut app, [ch('j'), key(KeyCode::Enter)]);
    let Some(Overlay::Detail { event, .. }) = &app.overlay else {
        panic!("no detail: {:?}", app.overlay);
    };
    assert_eq!(event.id, selected_id(&app));
    send(&mut app, [ch('q')]);
    assert_eq!(app.overlay, None, "q closes the detail, not the console");
    assert!(!app.quit);
}

#[test]
fn the_doors_grid_moves_by_cell_and_by_row_and_v_toggles_table_and_grid() {
    use doorwatch::ui::app::{DoorLayout, DoorView};
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('2')]);
    let n = app.visible_doors().len();
    assert!(n > 8, "the fixture has {n} doors");
    // As the pane drew it: too many doors for the table, a grid of three columns.
    app.door_layout.set(DoorLayout {
        grid: true,
        columns: 3,
    });
    assert!(app.doors_as_grid());
    let mut walk = Vec::new();
    for c in ['l', 'l', 'j', 'h', 'j', 'k', 'k', 'k'] {
        send(&mut app, [ch(c)]);
        walk.push(app.doors.selected);
    }
    assert_eq!(walk, [1, 2, 5, 4, 7, 4, 1, 0]);
    send(&mut app, [key(KeyCode::Right), key(KeyCode::Down)]);
    assert_eq!(app.doors.selected, 4, "arrows as h/j/k/l");
    send(&mut app, [ch('G')]);
    assert_eq!(app.doors.selected, n - 1);
    send(&mut app, [ch('l')]);
    assert_eq!(app.doors.selected, n - 1, "the last cell stays the last");
    send(&mut app, [ch('g')]);
    assert_eq!(app.doors.selected, 0);

    // `v` turns what is shown into the other view, explicitly.
    send(&mut app, [ch('v')]);
    assert_eq!(app.door_view, DoorView::Table);
    assert!(!app.doors_as_grid());
    send(&mut app, [ch('j'), ch('l')]);
    assert_eq!(app.doors.selected, 1, "a table row at a time; no columns");
    send(&mut app, [ch('v')]);
    assert_eq!(app.door_view, DoorView::Grid);
    assert_eq!(app.message.as_deref(), Some("doors as a grid"));
    send(&mut app, [ch('j')]);
    assert_eq!(app.doors.selected, 4);

    // Elsewhere `v` does nothing.
    send(&mut app, [ch('1'), ch('v')]);
    assert_eq!(app.door_view, DoorView::Grid);
    // With everything fitting the table (as drawn), `v` asks for the grid.
    let mut fits = ui_fixture::app(&desk);
    send(&mut fits, [ch('2'), ch('v')]);
    assert_eq!(fits.door_view, DoorView::Grid);
}

#[test]
fn the_site_filter_cycles_through_sites_and_combines_with_the_vendor_filter() {
    let desk = desk();
    let mut app = ui_fixture::app(&desk);
    send(&mut app, [ch('2')]);
    let all = app.visible_doors().len();
    let sites: Vec<String> = app.door_sites().iter().map(|s| s.to_string()).collect();
    assert!(sites.len() >= 2, "the fixture's sites: {sites:?}");
    let mut shown = 0;
    for site in &sites {
        send(&mut app, [ch('j'), ch('F')]);
        assert_eq!(app.door_site.as_deref(), Some(site.as_str()));
        assert_eq!(app.doors.selected, 0, "a new filter starts at the top");
        let doors = app.visible_doors();
        assert!(!doors.is_empty());
        assert!(doors.iter().all(|d| d.site.as_deref() == Some(site)));
        shown += doors.len();
    }
    assert!(shown < all, "doors without a site are in no site's list");
    send(&mut app, [ch('F')]);
    assert_eq!(app.door_site, None, "after the last site: every door again");
    assert_eq!(app.visible_doors().len(), all);

    // With a vendor chosen, only that vendor's sites are offered, and both apply.
    send(&mut app, [ch('f')]);
    let vendor = app.door_filter.unwrap();
    let vendor_sites: Vec<String> = app.door_sites().iter().map(|s| s.to_string()).collect();
    assert!(vendor_sites.iter().all(|s| sites.contains(s)));
    if let Some(first) = vendor_sites.first() {
        send(&mut app, [ch('F')]);
        assert_eq!(app.door_site.as_ref(), Some(first));
        let doors = app.visible_doors();
        assert!(!doors.is_empty());
        assert!(
            doors
                .iter()
                .all(|d| d.vendor == vendor && d.site.as_deref() == Some(first.as_str()))
        );
    }
    // Another vendor keeps the site; the title says both, and none may match.
    send(&mut app, [ch('1'), ch('F')]);
    assert!(
        app.door_site.is_some(),
        "F outside the doors pane changes nothing"
    );
}

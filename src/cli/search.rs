//! `doorwatch search QUERY [--json] [--limit N]`.

use crate::model::Event;
use crate::search::{self, Query};
use crate::store::{EventKey, Store};
use std::io::Write;

/// One line per event for people: time, severity, kind, door, person, summary.
pub fn human_line(e: &Event) -> String {
    let t = e.occurred_at.format("%Y-%m-%d %H:%M:%S");
    let door = e.door.as_ref().map_or("-", |r| r.label());
    let person = e.person.as_ref().map_or("-", |r| r.label());
    format!(
        "{t}  {:<7} {:<28} {:<18} {:<16} {}",
        e.severity.as_str(),
        clip(&e.kind.name(), 28),
        clip(door, 18),
        clip(person, 16),
        e.summary
    )
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The JSON line of the contract (`search --json`). Fails only for an event whose
/// stored raw payload is damaged, not JSON (reads do not parse it; `check` does).
pub fn json_line(e: &Event) -> anyhow::Result<String> {
    serde_json::to_string(e)
        .map_err(|err| anyhow::anyhow!("event {}: {err} (run `doorwatch check`)", e.id))
}

/// Print one page; returns the cursor of the next page, if any.
pub fn run(
    store: &Store,
    query: &Query,
    limit: usize,
    before: Option<EventKey>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Option<EventKey>> {
    let page = search::execute(store, query, limit, before)?;
    for (_, e) in &page.events {
        let line = if json { json_line(e)? } else { human_line(e) };
        writeln!(out, "{line}")?;
    }
    Ok(page.next)
}

/// Shown on stderr when there are more results than the limit.
pub fn more_hint(next: &str) -> String {
    format!("more results: add --before {next} for the next page")
}

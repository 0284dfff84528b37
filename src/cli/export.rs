//! `doorwatch export [QUERY] --format csv|jsonl [--output FILE]`.

use super::search::json_line;
use crate::model::{Event, Ref, format_time};
use crate::search::{self, Query};
use crate::store::Store;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Events fetched from the store per step.
const PAGE: usize = 5_000;

pub const CSV_HEADER: &str = "id,source,vendor,occurred_at,received_at,kind,vendor_type,severity,\
door_id,door_name,controller_id,controller_name,person_id,person_name,site_id,site_name,\
credential,success,summary,raw";

/// RFC 4180 field: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV row. Fails, as the JSON line does, for an event whose stored raw payload is
/// damaged (not JSON): the `raw` column is JSON.
pub fn csv_line(e: &Event) -> anyhow::Result<String> {
    e.raw.validate().map_err(|err| {
        anyhow::anyhow!(
            "event {}: stored raw payload is not JSON: {err} (run `doorwatch check`)",
            e.id
        )
    })?;
    let r = |r: &Option<Ref>| {
        (
            r.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
            r.as_ref().and_then(|r| r.name.clone()).unwrap_or_default(),
        )
    };
    let (door_id, door_name) = r(&e.door);
    let (ctl_id, ctl_name) = r(&e.controller);
    let (person_id, person_name) = r(&e.person);
    let (site_id, site_name) = r(&e.site);
    let fields = [
        e.id.clone(),
        e.source.clone(),
        e.vendor.to_string(),
        format_time(&e.occurred_at),
        format_time(&e.received_at),
        e.kind.name().into_owned(),
        e.vendor_type.clone(),
        e.severity.to_string(),
        door_id,
        door_name,
        ctl_id,
        ctl_name,
        person_id,
        person_name,
        site_id,
        site_name,
        e.credential.clone().unwrap_or_default(),
        e.success.map(|b| b.to_string()).unwrap_or_default(),
        e.summary.clone(),
        e.raw.as_str().to_string(),
    ];
    Ok(fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(","))
}

/// Write every event matching `query` (newest first); returns how many.
pub fn write_all(
    store: &Store,
    query: &Query,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    write_from(format, out, |each| {
        let mut before = None;
        loop {
            let page = search::execute(store, query, PAGE, before)?;
            for (_, e) in &page.events {
                each(e)?;
            }
            match page.next {
                Some(k) => before = Some(k),
                None => return Ok(()),
            }
        }
    })
}

/// Write the events `produce` hands over (the store's, or a daemon's pages) in
/// `format`; returns how many.
pub fn write_from(
    format: Format,
    out: &mut dyn Write,
    produce: impl FnOnce(&mut dyn FnMut(&Event) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    if format == Format::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut n = 0;
    produce(&mut |e: &Event| {
        let line = match format {
            Format::Csv => csv_line(e)?,
            Format::Jsonl => json_line(e)?,
        };
        writeln!(out, "{line}")?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// Export to a file atomically: a temporary file beside it, renamed when complete, so
/// a failed export never leaves half a file behind.
pub fn to_file(store: &Store, query: &Query, format: Format, path: &Path) -> anyhow::Result<usize> {
    to_file_with(path, |out| write_all(store, query, format, out))
}

/// [`to_file`] for any writer of events.
pub fn to_file_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<usize>,
) -> anyhow::Result<usize> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
    let n = {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        let n = write(&mut w)?;
        w.flush()?;
        n
    };
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn a_damaged_payload_fails_the_line_in_either_format() {
        use crate::model::{EventKind, RawJson, Severity, Vendor};
        let mut e = Event {
            id: "hq:1".into(),
            source: "hq".into(),
            vendor: Vendor::Kisi,
            occurred_at: chrono::Utc::now(),
            received_at: chrono::Utc::now(),
            kind: EventKind::DoorOpened,
            vendor_type: "door.opened".into(),
            severity: Severity::Info,
            door: None,
            controller: None,
            person: None,
            site: None,
            credential: None,
            success: None,
            summary: "Lobby opened".into(),
            raw: serde_json::json!({"a": [1, "x,y"]}).into(),
        };
        assert!(csv_line(&e).unwrap().ends_with(r#","{""a"":[1,""x,y""]}""#));
        assert!(
            json_line(&e)
                .unwrap()
                .ends_with(r#","raw":{"a":[1,"x,y"]}}"#)
        );
        e.raw = RawJson::from_stored("{\"a\":[1,".into());
        for err in [csv_line(&e).unwrap_err(), json_line(&e).unwrap_err()] {
            let msg = err.to_string();
            assert!(
                msg.contains("hq:1") && msg.contains("not JSON") && msg.contains("doorwatch check"),
                "{msg}"
            );
        }
    }
}

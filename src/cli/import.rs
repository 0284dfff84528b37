//! `doorwatch import --vendor V [--source NAME] FILE`: vendor payloads from a file.

use crate::engine::Engine;
use crate::model::Vendor;
use crate::sources::{self, ParseContext};
use crate::store::{AppendBatch, QuarantineRecord};
use anyhow::Context;
use std::io::Read;
use std::path::Path;

/// Events per store batch (as sources batch).
const BATCH: usize = 1_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub duplicates: usize,
    pub quarantined: usize,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imported {}, duplicates {}, quarantined {}",
            self.imported, self.duplicates, self.quarantined
        )
    }
}

/// Read the whole input before touching the store, so an unreadable file writes nothing.
pub fn read_input(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Parse `text` as `vendor` payloads and store them under `source`. Every stored
/// event goes through the live state and the alarm rules.
pub fn import_text(
    engine: &mut Engine,
    vendor: Vendor,
    source: &str,
    text: &str,
) -> anyhow::Result<ImportReport> {
    let (items, bad_lines) = sources::split_import(vendor, text);
    let mut report = ImportReport::default();
    for batch in batches(vendor, source, items, bad_lines) {
        let r = engine.ingest(batch, chrono::Utc::now())?;
        report.imported += r.stored.len();
        report.duplicates += r.duplicates;
        report.quarantined += r.quarantined;
    }
    Ok(report)
}

/// Import through the store's owner (a running daemon), chunk by chunk.
pub fn through(
    owner: &mut crate::remote::Client,
    vendor: Vendor,
    source: &str,
    text: &str,
) -> anyhow::Result<ImportReport> {
    let (items, bad_lines) = sources::split_import(vendor, text);
    let mut rejected: Vec<crate::remote::protocol::RejectedItem> = bad_lines
        .into_iter()
        .map(|r| crate::remote::protocol::RejectedItem {
            raw: r.raw,
            error: r.error,
        })
        .collect();
    let mut report = ImportReport::default();
    let mut chunks = items.chunks(BATCH).map(<[_]>::to_vec).peekable();
    if chunks.peek().is_none() && rejected.is_empty() {
        return Ok(report);
    }
    let mut send = |items: Vec<serde_json::Value>, rejected: Vec<_>| -> anyhow::Result<()> {
        let (imported, duplicates, quarantined) = owner.import(vendor, source, items, rejected)?;
        report.imported += imported;
        report.duplicates += duplicates;
        report.quarantined += quarantined;
        Ok(())
    };
    match chunks.next() {
        Some(first) => send(first, std::mem::take(&mut rejected))?,
        None => send(Vec::new(), std::mem::take(&mut rejected))?,
    }
    for chunk in chunks {
        send(chunk, Vec::new())?;
    }
    Ok(report)
}

/// Parse payloads into store batches of [`BATCH`] events; lines that were not even
/// JSON (`rejected`) are quarantined with the first batch.
pub fn batches(
    vendor: Vendor,
    source: &str,
    items: Vec<serde_json::Value>,
    rejected: Vec<sources::Rejected>,
) -> Vec<AppendBatch> {
    let received_at = chrono::Utc::now();
    let ctx = ParseContext {
        source,
        received_at,
    };
    let quarantine = |raw: String, error: String| QuarantineRecord {
        source: source.to_string(),
        vendor,
        received_at,
        error,
        raw,
    };
    let mut pending: Vec<QuarantineRecord> = rejected
        .into_iter()
        .map(|r| quarantine(r.raw, r.error))
        .collect();
    let mut out = Vec::new();
    for chunk in items.chunks(BATCH) {
        let mut batch = AppendBatch {
            quarantine: std::mem::take(&mut pending),
            ..Default::default()
        };
        for parsed in sources::parse_batch(vendor, &ctx, chunk.to_vec()) {
            match parsed {
                Ok(e) => batch.events.push(e),
                Err(r) => batch.quarantine.push(quarantine(r.raw, r.error)),
            }
        }
        out.push(batch);
    }
    if !pending.is_empty() {
        out.push(AppendBatch {
            quarantine: pending,
            ..Default::default()
        });
    }
    out
}

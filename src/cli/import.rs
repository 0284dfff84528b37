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
    let received_at = chrono::Utc::now();
    let ctx = ParseContext {
        source,
        received_at,
    };
    let (items, bad_lines) = sources::split_import(vendor, text);
    let quarantine = |raw: String, error: String| QuarantineRecord {
        source: source.to_string(),
        vendor,
        received_at,
        error,
        raw,
    };
    let mut report = ImportReport::default();
    let mut pending_quarantine: Vec<QuarantineRecord> = bad_lines
        .into_iter()
        .map(|r| quarantine(r.raw, r.error))
        .collect();
    for chunk in items.chunks(BATCH) {
        let mut batch = AppendBatch {
            quarantine: std::mem::take(&mut pending_quarantine),
            ..Default::default()
        };
        for parsed in sources::parse_batch(vendor, &ctx, chunk.to_vec()) {
            match parsed {
                Ok(e) => batch.events.push(e),
                Err(r) => batch.quarantine.push(quarantine(r.raw, r.error)),
            }
        }
        let r = engine.ingest(batch, chrono::Utc::now())?;
        report.imported += r.stored.len();
        report.duplicates += r.duplicates;
        report.quarantined += r.quarantined;
    }
    if !pending_quarantine.is_empty() {
        let r = engine.ingest(
            AppendBatch {
                quarantine: pending_quarantine,
                ..Default::default()
            },
            chrono::Utc::now(),
        )?;
        report.quarantined += r.quarantined;
    }
    Ok(report)
}

//! `doorwatch check`: read the whole store and say whether it is consistent (every
//! event readable and stored once, indexes agreeing with the events, the count right).
//! It needs the store to itself: a running daemon or console must stop first.

use crate::remote::Client;
use crate::store::{Store, StoreError, VerifyReport};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Check the store under `data_dir`, print the report to `out`; an error when the
/// store is in use, damaged or inconsistent (the report lists what is wrong).
pub fn run(data_dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let path = data_dir.join("store");
    if let Some(owner) = Client::connect(data_dir)? {
        return Err(anyhow::Error::new(StoreError::Locked { path })
            .context(format!("doorwatch pid {} holds the store", owner.pid)));
    }
    let started = Instant::now();
    let store = Store::open(data_dir)?;
    let report = store.verify()?;
    drop(store);
    write_report(out, &path, &report, started.elapsed())?;
    if report.is_consistent() {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path,
        detail: format!(
            "{} inconsistenc{} found by `doorwatch check`",
            report.problem_count,
            if report.problem_count == 1 {
                "y"
            } else {
                "ies"
            }
        ),
    }
    .into())
}

fn write_report(
    out: &mut dyn Write,
    path: &Path,
    r: &VerifyReport,
    took: Duration,
) -> std::io::Result<()> {
    writeln!(
        out,
        "checked {}: {} events (the store counts {}), {} index terms, {} postings in {:.1} s",
        path.display(),
        r.events,
        r.recorded_len,
        r.terms,
        r.postings,
        took.as_secs_f64()
    )?;
    if r.is_consistent() {
        return writeln!(out, "consistent");
    }
    writeln!(out, "{} problem(s):", r.problem_count)?;
    for p in &r.problems {
        writeln!(out, "  {p}")?;
    }
    let unlisted = r.problem_count - r.problems.len() as u64;
    if unlisted > 0 {
        writeln!(out, "  ... and {unlisted} more")?;
    }
    Ok(())
}

/// A command's error, with sled's word for damage (met after the store opened, in a
/// scan or a search) turned into the message that names the store and the way out.
pub fn locate_damage(e: anyhow::Error, data_dir: &Path) -> anyhow::Error {
    let damage = e
        .chain()
        .filter_map(|c| c.downcast_ref::<StoreError>())
        .find_map(|s| match s {
            StoreError::Corrupt { .. } => None,
            other => other.damage(),
        });
    match damage {
        Some(detail) => StoreError::Corrupt {
            path: data_dir.join("store"),
            detail,
        }
        .into(),
        None => e,
    }
}

//! The engine: the store plus the live state and alarms folded from it.
//!
//! Every committed event goes through the state and the alarm rules here, whichever
//! way it came (a live source, a backfill, `import`). The state is snapshotted into
//! the store together with the index postings ([`Store::checkpoint`]), so start-up
//! loads the snapshot and replays only the journal of events committed after it, then
//! the acknowledgements recorded after it in the audit trail.

use crate::model::{Event, format_time};
use crate::state::LiveState;
use crate::state::alarms::{AckError, Alarm, AlarmChange, AlarmConfig, AlarmEngine};
use crate::store::{AppendBatch, AppendReport, Store, StoreOptions};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bumped whenever the snapshot's shape changes; an old snapshot is then rebuilt
/// from the events instead of misread.
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// Audit records `< audit_covered` are already folded into `alarms`.
    audit_covered: u64,
    live: LiveState,
    alarms: AlarmEngine,
}

/// One line of the audit trail (append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(with = "crate::model::ms_time")]
    pub at: DateTime<Utc>,
    /// `raised`, `retriggered`, `cleared`, `escalated`, `acknowledged`.
    pub action: String,
    pub alarm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub struct Engine {
    /// Shared with the sources' sinks only to save rotated credentials at once.
    store: std::sync::Arc<Store>,
    pub live: LiveState,
    pub alarms: AlarmEngine,
}

impl Engine {
    /// Open the store in `data_dir` and bring state and alarms up to date with it.
    pub fn open(data_dir: &Path, config: AlarmConfig) -> anyhow::Result<Engine> {
        Engine::open_with(data_dir, config, StoreOptions::default())
    }

    pub fn open_with(
        data_dir: &Path,
        config: AlarmConfig,
        opts: StoreOptions,
    ) -> anyhow::Result<Engine> {
        let store = std::sync::Arc::new(Store::open_with(
            data_dir,
            StoreOptions {
                auto_checkpoint: false,
                ..opts
            },
        )?);
        let snapshot = store
            .snapshot()?
            .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
            .filter(|s| s.version == SNAPSHOT_VERSION);
        let mut engine;
        let audit_from;
        match snapshot {
            Some(s) => {
                let mut alarms = s.alarms;
                alarms.config = config;
                engine = Engine {
                    store,
                    live: s.live,
                    alarms,
                };
                audit_from = s.audit_covered;
                for e in engine.store.uncheckpointed()? {
                    engine.fold(&e);
                }
            }
            None => {
                // No usable snapshot: fold all history, oldest first.
                engine = Engine {
                    store,
                    live: LiveState::new(),
                    alarms: AlarmEngine::new(config),
                };
                audit_from = 0;
                for item in engine.store.scan_oldest_first() {
                    let e = item?.1;
                    engine.fold(&e);
                }
            }
        }
        for (_, bytes) in engine.store.audit_from(audit_from)? {
            let Ok(r) = serde_json::from_slice::<AuditRecord>(&bytes) else {
                continue;
            };
            if r.action == AlarmChange::ACKNOWLEDGED {
                // Already applied (a snapshot taken after it) is fine: first ack wins.
                let _ = engine.alarms.ack(
                    &r.alarm,
                    r.operator.as_deref().unwrap_or(""),
                    r.note.as_deref().unwrap_or(""),
                    r.at,
                );
            }
        }
        // Catch-ups belong to the sources of the process that saved them.
        engine.live.clear_catch_ups();
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for writes that must not wait for the engine (rotated credentials).
    pub fn store_handle(&self) -> std::sync::Arc<Store> {
        self.store.clone()
    }

    fn fold(&mut self, e: &Event) -> Vec<AlarmChange> {
        self.live.apply(e);
        self.alarms.on_event(e)
    }

    /// Commit a batch, fold what was stored into state and alarms, record alarm
    /// changes in the audit trail, and checkpoint when due.
    pub fn ingest(
        &mut self,
        batch: AppendBatch,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AppendReport> {
        let report = self.store.append(batch)?;
        let mut changes = Vec::new();
        for e in &report.stored {
            changes.extend(self.fold(e));
        }
        changes.extend(self.alarms.tick(now));
        self.record(&changes, now)?;
        if self.store.needs_checkpoint() {
            self.store
                .checkpoint_in_background(Some(&self.snapshot()?))?;
        }
        Ok(report)
    }

    /// Fold a source's listing of doors and controllers into the live state (saved
    /// with the next checkpoint).
    pub fn apply_inventory(
        &mut self,
        source: &str,
        vendor: crate::model::Vendor,
        inventory: &crate::state::inventory::Inventory,
    ) -> crate::state::Changes {
        self.live.apply_inventory(source, vendor, inventory)
    }

    /// Track a source's catch-up of history (shown as progress; not stored as events).
    pub fn catch_up(
        &mut self,
        source: &str,
        report: &crate::state::CatchUpReport,
        now: DateTime<Utc>,
    ) -> crate::state::Changes {
        self.live.apply_catch_up(source, report, now)
    }

    /// Let time pass (offline grace, escalation).
    pub fn tick(&mut self, now: DateTime<Utc>) -> anyhow::Result<Vec<AlarmChange>> {
        let changes = self.alarms.tick(now);
        self.record(&changes, now)?;
        Ok(changes)
    }

    /// Append rule-driven changes to the audit trail. Acknowledgements are recorded
    /// by [`Engine::ack`], which also knows who and why.
    fn record(&self, changes: &[AlarmChange], now: DateTime<Utc>) -> anyhow::Result<()> {
        let records: Vec<Vec<u8>> = changes
            .iter()
            .filter(|c| !matches!(c, AlarmChange::Acknowledged(_)))
            .map(|c| {
                let r = AuditRecord {
                    at: now,
                    action: c.action().into(),
                    alarm: c.alarm_id().into(),
                    operator: None,
                    note: None,
                };
                serde_json::to_vec(&r).unwrap_or_default()
            })
            .collect();
        if !records.is_empty() {
            self.store.append_audit(&records)?;
        }
        Ok(())
    }

    /// The alarms `doorwatch alarms` lists: those still needing someone, or with `all`
    /// every one; most urgent first, then oldest.
    pub fn alarm_list(&self, all: bool) -> Vec<Alarm> {
        if !all {
            return self.alarms.open_alarms().into_iter().cloned().collect();
        }
        let mut v: Vec<Alarm> = self.alarms.all().cloned().collect();
        v.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.raised_at.cmp(&b.raised_at))
        });
        v
    }

    /// Acknowledge an alarm; the acknowledgement is durable before this returns.
    pub fn ack(
        &mut self,
        id: &str,
        operator: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Result<Alarm, AckError>> {
        match self.alarms.ack(id, operator, note, at) {
            Ok(change) => {
                let r = AuditRecord {
                    at,
                    action: change.action().into(),
                    alarm: id.into(),
                    operator: Some(operator.into()),
                    note: Some(note.into()),
                };
                self.store.append_audit(&[serde_json::to_vec(&r)?])?;
                let alarm = self
                    .alarms
                    .get(id)
                    .cloned()
                    .ok_or_else(|| AckError::UnknownAlarm(id.into()));
                Ok(alarm)
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// The audit trail, oldest first.
    pub fn audit(&self) -> anyhow::Result<Vec<AuditRecord>> {
        Ok(self
            .store
            .audit_from(0)?
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_slice(&b).ok())
            .collect())
    }

    /// Save state, alarms and postings together.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.store.checkpoint(Some(&self.snapshot()?))?;
        Ok(())
    }

    /// State and alarms as a checkpoint saves them.
    fn snapshot(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&Snapshot {
            version: SNAPSHOT_VERSION,
            audit_covered: self.store.audit_len(),
            live: self.live.clone(),
            alarms: self.alarms.clone(),
        })
    }

    /// Checkpoint and flush: the next open replays nothing.
    pub fn close(self) -> anyhow::Result<()> {
        self.checkpoint()?;
        self.store.flush()?;
        Ok(())
    }
}

/// `alarms` output for people: one line per alarm.
pub fn alarm_line(a: &Alarm) -> String {
    let subject: String = a
        .door
        .as_ref()
        .or(a.controller.as_ref())
        .map(|r| r.label().to_string())
        .or_else(|| a.credential.clone())
        .unwrap_or_else(|| "-".into())
        .chars()
        .take(20)
        .collect();
    let acked = a
        .acks
        .first()
        .map(|k| {
            format!(
                "  acked by {} at {}: {}",
                k.operator,
                format_time(&k.at),
                k.note
            )
        })
        .unwrap_or_default();
    format!(
        "{}  {:<8} {:<12} {:<24} {:<20} x{:<3} {}{}{}",
        a.id,
        format!("{:?}", a.priority).to_lowercase(),
        a.state(),
        a.rule.name(),
        subject,
        a.count,
        format_time(&a.raised_at),
        if a.escalated { "  ESCALATED" } else { "" },
        acked
    )
}

//! The SQLite baseline: WAL, `synchronous=NORMAL`, one row per event with the same
//! secondary indexes doorwatch keeps (each ref by id and by name, kind, vendor,
//! source, severity, each with time) and a contentless FTS5 table for free text.
//! Dedupe by event id (`INSERT OR IGNORE` on a unique id), one transaction per batch.

use crate::stats::Summary;
use crate::{END_MS, Ingest, QuerySpec, batches, dir_size};
use doorwatch::model::Event;
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::{Duration, Instant};

const SCHEMA: &str = "
CREATE TABLE events(
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ms INTEGER NOT NULL,
  source TEXT, vendor TEXT, kind TEXT, severity TEXT,
  door_id TEXT, door_name TEXT, controller_id TEXT, controller_name TEXT,
  person_id TEXT, person_name TEXT, site_id TEXT, site_name TEXT,
  json TEXT NOT NULL);
CREATE INDEX ev_ms ON events(ms);
CREATE INDEX ev_door_id ON events(door_id, ms);
CREATE INDEX ev_door_name ON events(door_name COLLATE NOCASE, ms);
CREATE INDEX ev_ctl_id ON events(controller_id, ms);
CREATE INDEX ev_ctl_name ON events(controller_name COLLATE NOCASE, ms);
CREATE INDEX ev_person_id ON events(person_id, ms);
CREATE INDEX ev_person_name ON events(person_name COLLATE NOCASE, ms);
CREATE INDEX ev_site_id ON events(site_id, ms);
CREATE INDEX ev_site_name ON events(site_name COLLATE NOCASE, ms);
CREATE INDEX ev_kind ON events(kind, ms);
CREATE INDEX ev_vendor ON events(vendor, ms);
CREATE INDEX ev_source ON events(source, ms);
CREATE INDEX ev_severity ON events(severity, ms);
CREATE VIRTUAL TABLE fts USING fts5(text, content='');
";

pub fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn
}

fn text_of(e: &Event) -> String {
    let mut t = e.summary.clone();
    for (_, r) in e.refs() {
        if let Some(name) = r.and_then(|r| r.name.as_deref()) {
            t.push(' ');
            t.push_str(name);
        }
    }
    t.push(' ');
    t.push_str(&e.vendor_type);
    t
}

pub fn ingest(n: usize, path: &Path) -> Ingest {
    let mut conn = open(path);
    conn.execute_batch(SCHEMA).expect("schema");
    let mut per_batch = Vec::new();
    let mut total = Duration::ZERO;
    for events in batches(n) {
        let t = Instant::now();
        let tx = conn.transaction().expect("tx");
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events(id, ms, source, vendor, kind, severity, door_id, door_name, \
                     controller_id, controller_name, person_id, person_name, site_id, site_name, json) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .expect("prepare");
            let mut fts = tx
                .prepare_cached("INSERT INTO fts(rowid, text) VALUES (?1, ?2)")
                .expect("prepare fts");
            for e in &events {
                let id = |r: &Option<doorwatch::model::Ref>| r.as_ref().map(|r| r.id.clone());
                let name =
                    |r: &Option<doorwatch::model::Ref>| r.as_ref().and_then(|r| r.name.clone());
                let changed = ins
                    .execute(params![
                        e.id,
                        e.occurred_at.timestamp_millis(),
                        e.source,
                        e.vendor.as_str(),
                        e.kind.name(),
                        e.severity.as_str(),
                        id(&e.door),
                        name(&e.door),
                        id(&e.controller),
                        name(&e.controller),
                        id(&e.person),
                        name(&e.person),
                        id(&e.site),
                        name(&e.site),
                        doorwatch::cli::search::json_line(e).expect("json line"),
                    ])
                    .expect("insert");
                if changed == 1 {
                    fts.execute(params![tx.last_insert_rowid(), text_of(e)])
                        .expect("fts insert");
                }
            }
        }
        tx.commit().expect("commit");
        let d = t.elapsed();
        per_batch.push(d);
        total += d;
    }
    let t = Instant::now();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    drop(conn);
    total += t.elapsed();
    Ingest {
        total,
        per_batch,
        disk: dir_size(path) + dir_size(&path.with_extension("sqlite-wal")),
    }
}

pub fn time_query(conn: &Connection, spec: &QuerySpec, runs: usize) -> (Summary, usize) {
    let sql = spec
        .sql
        .replace(":since24h", &(END_MS - 86_400_000).to_string())
        .replace(":since30d", &(END_MS - 30 * 86_400_000).to_string());
    let mut stmt = conn.prepare(&sql).expect("prepare query");
    // One untimed run first, as for doorwatch.
    let warm: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    drop(warm);
    let mut times = Vec::with_capacity(runs);
    let mut hits = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        times.push(t.elapsed());
        hits = rows.len();
    }
    (Summary::of(times), hits)
}

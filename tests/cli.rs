//! The real binary over the real store: import every vendor's fixture, search, export,
//! re-import, garbage, a locked store and bad arguments.

mod common;

use common::{doorwatch, import_fixture, ok};
use std::path::Path;

const COUNTS: [(&str, usize); 4] = [("kisi", 42), ("pdk", 33), ("seam", 87), ("doorflow", 75)];

fn import_all(data: &Path) {
    for (vendor, n) in COUNTS {
        let out = ok(&import_fixture(data, vendor));
        assert_eq!(
            out.trim(),
            format!("imported {n}, duplicates 0, quarantined 0"),
            "{vendor}"
        );
    }
}

fn search_ids(data: &Path, query: &str) -> Vec<String> {
    let out = ok(&doorwatch(
        data,
        &["search", query, "--json", "--limit", "1000"],
    ));
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON event per line");
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn fixtures_of_all_vendors_import_and_search_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    import_all(data);

    assert_eq!(
        search_ids(data, "kind:door.forced_open"),
        [
            "pdk:device.alarm.forced:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f",
            "kisi:6d2f0031-005b-4007-9a1c-5e8b0c7d4007",
            "doorflow:55216",
            "doorflow:55120",
        ]
    );
    assert_eq!(
        search_ids(data, r#"door:"server room" since:2026-11-22T09:00:00Z"#),
        [
            "kisi:6d2f00b6-0152-401a-9a1c-5e8b0c7d401a",
            "kisi:6d2f00af-0145-4019-9a1c-5e8b0c7d4019",
            "kisi:6d2f00a8-0138-4018-9a1c-5e8b0c7d4018",
            "pdk:device.forceclose.off:1a2b3c4d-5e6f-4708-99c0-d1e2f3a4b5c6",
            "pdk:device.forceclose.on:0f1a2b3c-4d5e-4607-88b9-c0d1e2f3a4b5",
            "pdk:liveEvent:device.request.allowed:1795342200000:c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47",
            "pdk:device.alarm.forced.cleared:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f",
            "pdk:device.alarm.forced:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f",
            "kisi:6d2f005b-00a9-400d-9a1c-5e8b0c7d400d",
        ]
    );
    assert_eq!(
        search_ids(data, "person:jane since:2026-11-22T00:00:00Z"),
        [
            "kisi:6d2f010a-01ee-4026-9a1c-5e8b0c7d4026",
            "kisi:6d2f00fc-01d4-4024-9a1c-5e8b0c7d4024",
            "kisi:6d2f00b6-0152-401a-9a1c-5e8b0c7d401a",
            "pdk:liveEvent:device.request.allowed:1795342200000:c91b4f08-7e2d-4a6b-9c3f-5d8e1a0b2c47",
            "pdk:device.request.allowed:8192a3b4-c5d6-4e4f-80d7-e8f9a0b1c2d3",
            "kisi:6d2f0023-0041-4005-9a1c-5e8b0c7d4005",
            "kisi:6d2f0007-000d-4001-9a1c-5e8b0c7d4001",
        ]
    );
    // Free text: the five Kisi tamper types (controller, input, reader, reset, wireless lock).
    assert_eq!(
        search_ids(data, "tamper vendor:kisi"),
        [
            "kisi:6d2f00c4-016c-401c-9a1c-5e8b0c7d401c",
            "kisi:6d2f00af-0145-4019-9a1c-5e8b0c7d4019",
            "kisi:6d2f00a8-0138-4018-9a1c-5e8b0c7d4018",
            "kisi:6d2f009a-011e-4016-9a1c-5e8b0c7d4016",
            "kisi:6d2f007e-00ea-4012-9a1c-5e8b0c7d4012",
        ]
    );
    // A shell that strips the quotes still gets the whole door name.
    let unquoted = ok(&doorwatch(
        data,
        &[
            "search",
            "door:server room",
            "since:2026-11-22T09:00:00Z",
            "--json",
        ],
    ));
    assert_eq!(unquoted.lines().count(), 9);

    // The empty query lists newest first, up to the limit (default 100), and says how to go on.
    let out = doorwatch(data, &["search"]);
    assert_eq!(ok(&out).lines().count(), 100);
    let hint = String::from_utf8_lossy(&out.stderr);
    let cursor = hint
        .split("--before ")
        .nth(1)
        .expect("next-page hint")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let rest = ok(&doorwatch(
        data,
        &["search", "--limit", "1000", "--before", &cursor],
    ));
    assert_eq!(100 + rest.lines().count(), 42 + 33 + 87 + 75);

    // The JSON line carries every contract field; absent refs are null.
    let line = ok(&doorwatch(
        data,
        &["search", "kind:door.forced_open vendor:pdk", "--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    for key in [
        "id",
        "source",
        "vendor",
        "occurred_at",
        "kind",
        "vendor_type",
        "severity",
        "door",
        "controller",
        "person",
        "site",
        "credential",
        "success",
        "summary",
        "raw",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {line}");
    }
    assert_eq!(v["occurred_at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(v["door"]["name"], "Server Room");
    assert!(v["person"].is_null());
    assert_eq!(v["source"], "pdk");
    // The vendor payload is the JSON object itself, not a string holding it.
    assert!(v["raw"].is_object(), "raw: {}", v["raw"]);
    assert!(line.contains(r#""raw":{"#), "{line}");
}

#[test]
fn importing_twice_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    import_all(data);
    for (vendor, n) in COUNTS {
        let out = ok(&import_fixture(data, vendor));
        assert_eq!(
            out.trim(),
            format!("imported 0, duplicates {n}, quarantined 0"),
            "{vendor}"
        );
    }
    assert_eq!(search_ids(data, "").len(), 42 + 33 + 87 + 75);
    let all = ok(&doorwatch(data, &["export", "--format", "jsonl"]));
    assert_eq!(all.lines().count(), 42 + 33 + 87 + 75);
}

#[test]
fn garbage_lines_are_quarantined_and_good_lines_imported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let file = data.join("mixed.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id": 9001, "event_code": 32, "created_at": "2026-11-22T10:00:00+10:00", "channel_id": 7, "channel_name": "Vault"}"#, "\n",
            "this is not json\n",
            r#"{"id": 9002, "event_code": 12, "created_at": "2026-11-22T10:01:00+10:00", "channel_id": 7, "channel_name": "Vault", "person_name": "Jane Roe"}"#, "\n",
            r#"{"id": 9003, "event_code": 12}"#, "\n",
            "[1, 2\n",
        ),
    )
    .unwrap();
    let out = ok(&doorwatch(
        data,
        &[
            "import",
            "--vendor",
            "doorflow",
            "--source",
            "vault",
            file.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.trim(), "imported 2, duplicates 0, quarantined 3");
    assert_eq!(search_ids(data, "door:vault"), ["vault:9002", "vault:9001"]);

    let q = ok(&doorwatch(data, &["quarantine", "--json"]));
    let records: Vec<serde_json::Value> = q
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["raw"], "this is not json");
    assert!(
        records[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("line 2: not JSON"),
        "{}",
        records[0]
    );
    assert!(
        records
            .iter()
            .all(|r| r["source"] == "vault" && !r["error"].as_str().unwrap().is_empty())
    );
    assert!(
        records
            .iter()
            .any(|r| r["raw"].as_str().unwrap().contains("9003")),
        "the item without a time is kept raw"
    );
}

#[test]
fn export_writes_csv_and_jsonl_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    import_all(data);
    let csv = data.join("out/forced.csv");
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    let out = doorwatch(
        data,
        &[
            "export",
            "kind:door.forced_open",
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 4 events"));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,source,vendor,occurred_at")
    );
    assert_eq!(lines.count(), 4);
    assert!(text.contains("Server Room"));

    let jsonl = data.join("out/all.jsonl");
    ok(&doorwatch(
        data,
        &[
            "export",
            "--format",
            "jsonl",
            "--output",
            jsonl.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(&jsonl).unwrap().lines().count(),
        42 + 33 + 87 + 75
    );

    // A bad query writes no file at all.
    let bad = data.join("out/bad.csv");
    let out = doorwatch(
        data,
        &[
            "export",
            "kind:nope",
            "--format",
            "csv",
            "--output",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!bad.exists());
}

#[test]
fn clear_errors_and_non_zero_exits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let out = doorwatch(data, &["import", "--vendor", "acme", "x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown vendor `acme`"));

    let out = doorwatch(
        data,
        &["import", "--vendor", "kisi", "/nonexistent/file.json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("doorwatch: cannot read /nonexistent/file.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = doorwatch(data, &["search", "since:yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`yesterday` is not a time"), "{err}");
    assert!(err.contains("^^^^^^^^^^^^^^^"), "points at the term: {err}");

    // A store held by another process: one clear line, nothing imported.
    import_all(data);
    let holder = doorwatch::store::Store::open(data).unwrap();
    let out = import_fixture(data, "kisi");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another doorwatch process"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = doorwatch(data, &["search", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another doorwatch process"));
    drop(holder);

    // A bad config names file and line.
    let cfg = data.join("bad.toml");
    std::fs::write(
        &cfg,
        "[[source]]\nname = \"a\"\nvendor = \"kisi\"\ntokn_env = \"X\"\n",
    )
    .unwrap();
    let out = doorwatch(data, &["--config", cfg.to_str().unwrap(), "search"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml, line 4: unknown field `tokn_env`"),
        "{err}"
    );
}

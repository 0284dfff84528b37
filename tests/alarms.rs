//! Alarms end to end over the real binary: raised from imported events, listed,
//! acknowledged once (first wins), and identical across restarts.

mod common;

use common::{doorwatch, fixture, import_fixture, ok};
use std::path::Path;

fn alarms(data: &Path, all: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["alarms", "--json"];
    if all {
        args.push("--all");
    }
    ok(&doorwatch(data, &args))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn imported_alarms_are_listed_acknowledged_once_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for v in ["kisi", "pdk", "seam", "doorflow"] {
        ok(&import_fixture(data, v));
    }
    let listed = alarms(data, false);
    // PDK's Server Room forced open (and its clear) arrived in the fixture.
    let forced = listed
        .iter()
        .find(|a| a["events"][0] == "pdk:device.alarm.forced:e5d09c1a-3b7f-4e26-8d4c-1a2b3c4d5e6f")
        .expect("the PDK forced-open alarm");
    assert_eq!(forced["rule"], "forced_open");
    assert_eq!(forced["kind"], "door.forced_open");
    assert_eq!(forced["door"]["name"], "Server Room");
    assert_eq!(forced["raised_at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(
        forced["cleared"], true,
        "its clearing event was imported too"
    );
    assert_eq!(forced["acknowledged"], false);
    assert_eq!(forced["state"], "cleared");
    let id = forced["id"].as_str().unwrap().to_string();

    // Nothing changes between two reads.
    assert_eq!(alarms(data, true), alarms(data, true));

    let out = ok(&doorwatch(
        data,
        &["ack", &id, "--note", "guard sent", "--operator", "alice"],
    ));
    assert!(
        out.contains(&format!("{id} acknowledged by alice")),
        "{out}"
    );
    // Acknowledged and cleared: it leaves the list, stays in --all.
    assert!(alarms(data, false).iter().all(|a| a["id"] != id.as_str()));
    let closed = alarms(data, true)
        .into_iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["acks"][0]["operator"], "alice");
    assert_eq!(closed["acks"][0]["note"], "guard sent");

    // A second acknowledgement changes nothing, says who was first, and exits 0.
    let out = ok(&doorwatch(
        data,
        &["ack", &id, "--note", "me too", "--operator", "bob"],
    ));
    assert!(out.contains("already acknowledged by alice"), "{out}");
    let after = alarms(data, true)
        .into_iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(after["acks"].as_array().unwrap().len(), 1);

    // The operator defaults to $USER.
    let active = alarms(data, false)
        .into_iter()
        .find(|a| a["state"] == "active")
        .unwrap();
    ok(&doorwatch(
        data,
        &["ack", active["id"].as_str().unwrap(), "--note", "seen"],
    ));
    let acked = alarms(data, true)
        .into_iter()
        .find(|a| a["id"] == active["id"])
        .unwrap();
    assert_eq!(acked["acks"][0]["operator"], "tester");
    assert_eq!(acked["state"], "acknowledged");

    // An unknown id fails clearly.
    let out = doorwatch(data, &["ack", "a-999999", "--note", "x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no alarm `a-999999`"));

    // Re-importing (a restart that re-fetches) neither doubles nor re-raises alarms.
    let before = alarms(data, true);
    for v in ["kisi", "pdk", "seam", "doorflow"] {
        ok(&import_fixture(data, v));
    }
    assert_eq!(alarms(data, true), before);
}

#[test]
fn require_ack_note_is_enforced_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cfg = data.join("c.toml");
    std::fs::write(&cfg, "[alarms]\nrequire_ack_note = true\n").unwrap();
    let c = cfg.to_str().unwrap();
    ok(&doorwatch(
        data,
        &[
            "--config",
            c,
            "import",
            "--vendor",
            "pdk",
            fixture("pdk").to_str().unwrap(),
        ],
    ));
    let id = alarms(data, false)[0]["id"].as_str().unwrap().to_string();
    let out = doorwatch(data, &["--config", c, "ack", &id]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("note is required"));
    ok(&doorwatch(
        data,
        &["--config", c, "ack", &id, "--note", "checked on camera"],
    ));
}

//! Several consoles, one store: `doorwatch daemon` owns it and serves
//! `<data dir>/doorwatch.sock`; every other command and console attaches. Over the
//! real binary, with the simulators on loopback.

mod common;

use common::ok;
use common::running::{Running, command, spawn};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use std::time::{Duration, Instant};

fn run(data: &Path, args: &[&str]) -> Output {
    command(data, args).output().expect("run doorwatch")
}

/// The simulators (all four, brisk) and a config for them.
fn simulators(dir: &Path, vendors: &str) -> (Running, PathBuf) {
    let config = dir.join("sim.toml");
    let sim = spawn(
        &dir.join("sim-data"),
        &[
            "simulate",
            "--vendors",
            vendors,
            "--rate",
            "4",
            "--config-out",
            config.to_str().unwrap(),
        ],
    );
    sim.wait_for("the simulators", Duration::from_secs(30), |l| {
        l.iter().any(|l| l.starts_with("config written"))
    });
    (sim, config)
}

fn daemon(data: &Path, config: Option<&Path>) -> Running {
    let mut args = Vec::new();
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args.push("daemon");
    let d = spawn(data, &args);
    d.wait_for("the daemon's socket", Duration::from_secs(30), |l| {
        l.iter().any(|l| l.contains("consoles attach at"))
    });
    d
}

/// Event lines of an attached feed (not its banner, alarms, acks or notices).
fn event_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("20"))
        .cloned()
        .collect()
}

fn first_unacknowledged(data: &Path) -> Option<String> {
    let out = ok(&run(data, &["alarms", "--json"]));
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|a| a["acknowledged"] == false)
        .map(|a| a["id"].as_str().unwrap().to_string())
}

fn event_ids(data: &Path) -> Vec<String> {
    ok(&run(data, &["search", "--json", "--limit", "10000000"]))
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn three_consoles_share_one_daemon_and_its_acknowledgements() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sim, config) = simulators(tmp.path(), "kisi,pdk,seam,doorflow");
    let data = tmp.path().join("data");
    let mut d = daemon(&data, Some(&config));

    // Three consoles (the plain feed: stdout is a pipe) attach with no config.
    let consoles: Vec<Running> = (0..3).map(|_| spawn(&data, &[])).collect();
    for c in &consoles {
        c.wait_for("attach", Duration::from_secs(20), |l| {
            l.iter()
                .any(|l| l.starts_with("attached to the doorwatch daemon"))
        });
    }
    // The same live events reach all three.
    consoles[0].wait_for("live events", Duration::from_secs(30), |l| {
        event_lines(l).len() >= 10
    });
    let sample: Vec<String> = event_lines(&consoles[0].lines())
        .into_iter()
        .rev()
        .take(5)
        .collect();
    for c in &consoles[1..] {
        c.wait_for("the same events", Duration::from_secs(20), |l| {
            let seen = event_lines(l);
            sample.iter().all(|s| seen.contains(s))
        });
    }
    // Every command works while the daemon holds the store: no "store locked".
    let before_import = event_ids(&data).len();
    let imported = ok(&common::import_fixture(&data, "kisi"));
    assert!(imported.starts_with("imported "), "{imported}");
    assert!(event_ids(&data).len() > before_import);
    let export = tmp.path().join("all.csv");
    let out = run(
        &data,
        &[
            "export",
            "--format",
            "csv",
            "--output",
            export.to_str().unwrap(),
        ],
    );
    ok(&out);
    assert!(std::fs::read_to_string(&export).unwrap().lines().count() > 10);
    ok(&run(&data, &["quarantine"]));

    // Two operators acknowledge the same alarm at the same moment: one wins.
    let deadline = Instant::now() + Duration::from_secs(30);
    let alarm = loop {
        if let Some(a) = first_unacknowledged(&data) {
            break a;
        }
        assert!(Instant::now() < deadline, "no alarm to acknowledge");
        std::thread::sleep(Duration::from_millis(200));
    };
    let acks: Vec<Child> = ["alice", "bob"]
        .iter()
        .map(|who| {
            command(
                &data,
                &[
                    "ack",
                    &alarm,
                    "--note",
                    &format!("{who} on it"),
                    "--operator",
                    who,
                ],
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let acked_at = Instant::now();
    let outs: Vec<String> = acks
        .into_iter()
        .map(|c| ok(&c.wait_with_output().unwrap()))
        .collect();
    let winners: Vec<&String> = outs
        .iter()
        .filter(|o| o.contains(" acknowledged by ") && !o.contains("already"))
        .collect();
    let losers: Vec<&String> = outs
        .iter()
        .filter(|o| o.contains("already acknowledged by"))
        .collect();
    assert_eq!((winners.len(), losers.len()), (1, 1), "{outs:?}");
    let winner = if winners[0].contains("by alice") {
        "alice"
    } else {
        "bob"
    };
    assert!(
        losers[0].contains(&format!("already acknowledged by {winner}")),
        "{outs:?}"
    );
    let all = ok(&run(&data, &["alarms", "--json", "--all"]));
    let record: serde_json::Value = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a["id"] == alarm.as_str())
        .unwrap();
    assert_eq!(record["acks"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(record["acks"][0]["operator"], winner);
    // Every console hears of it, with who did it.
    let said = format!("ACK {alarm} acknowledged by {winner}");
    for c in &consoles {
        c.wait_for("the acknowledgement", Duration::from_secs(10), |l| {
            l.iter().any(|l| l.starts_with(&said))
        });
    }
    eprintln!(
        "acknowledgement reached all consoles in {:?}",
        acked_at.elapsed()
    );

    // A console killed outright does not trouble the daemon or the others.
    let mut consoles = consoles;
    let mut gone = consoles.pop().unwrap();
    gone.child.kill().unwrap();
    gone.child.wait().unwrap();
    let seen = event_lines(&consoles[0].lines()).len();
    consoles[0].wait_for("more events", Duration::from_secs(20), |l| {
        event_lines(l).len() > seen
    });
    ok(&run(&data, &["search", "--limit", "1"]));

    // The daemon killed outright: the consoles say so, and say so again when a new
    // one is up; nothing committed or acknowledged is lost, nothing doubled.
    let stored = event_ids(&data);
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    for c in &consoles {
        c.wait_for("the loss notice", Duration::from_secs(10), |l| {
            l.iter().any(|l| l.contains("lost the doorwatch daemon"))
        });
    }
    let mut d = daemon(&data, Some(&config));
    for c in &consoles {
        c.wait_for("the reconnect notice", Duration::from_secs(15), |l| {
            l.iter()
                .any(|l| l.contains("reconnected to the doorwatch daemon"))
        });
    }
    // What sled had not flushed when it died went with its cursor: the sources read
    // it again (PDK through its history). Everything comes back, once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = event_ids(&data);
        let unique: std::collections::HashSet<&String> = after.iter().collect();
        assert_eq!(unique.len(), after.len(), "duplicates after the restart");
        let missing: Vec<&String> = stored.iter().filter(|id| !unique.contains(id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lost {} events: {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let all = ok(&run(&data, &["alarms", "--json", "--all"]));
    assert!(
        all.contains(&format!("\"operator\":\"{winner}\"")),
        "the ack was lost:\n{all}"
    );
    // And live events flow to the consoles again.
    let seen = event_lines(&consoles[0].lines()).len();
    consoles[0].wait_for("events after the restart", Duration::from_secs(30), |l| {
        event_lines(l).len() > seen
    });

    // SIGTERM: a clean stop, the socket removed.
    d.signal("-TERM");
    assert!(
        d.wait(Duration::from_secs(30)).success(),
        "{}",
        d.lines().join("\n")
    );
    assert!(!data.join("doorwatch.sock").exists());
}

/// Connect and say one line; the first reply line.
fn say(socket: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    reply
}

#[test]
fn the_protocol_is_versioned_and_says_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&common::import_fixture(&data, "seam"));
    let _d = daemon(&data, None);
    let socket = data.join("doorwatch.sock");

    let reply = say(
        &socket,
        "{\"type\":\"hello\",\"version\":99,\"client\":\"future\"}\n",
    );
    assert!(reply.contains("\"code\":\"version\""), "{reply}");
    assert!(
        reply.contains("speaks console protocol 1, the client speaks 99"),
        "{reply}"
    );
    let reply = say(&socket, "GET / HTTP/1.1\n");
    assert!(
        reply.contains("\"code\":\"bad_request\"") && reply.contains("hello"),
        "{reply}"
    );

    // A current client: hello, then a search, answered in order.
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"{\"type\":\"hello\",\"version\":1,\"client\":\"test\"}\n{\"type\":\"search\",\"query\":\"\",\"limit\":2,\"before\":null}\n{\"type\":\"search\",\"query\":\"since:\",\"limit\":2,\"before\":null}\n")
        .unwrap();
    let mut lines = BufReader::new(s).lines();
    let hello: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(hello["type"], "hello");
    let page: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(page["type"], "events");
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let bad: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(bad["code"], "bad_query", "{bad}");

    // A second daemon on the same store says who owns it.
    let out = run(&data, &["daemon", "--exit-after", "1s"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already owns the store"), "{err}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `doorwatch alarms` as another user (uid/gid given), when we may switch users.
fn alarms_as(data: &Path, uid: u32, gid: u32) -> Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            env!("CARGO_BIN_EXE_doorwatch"),
            "--data-dir",
        ])
        .arg(data)
        .arg("alarms")
        .env("HOME", "/nonexistent")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap()
}

#[test]
fn the_socket_is_the_access_control() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = is_root();
    // The desk's group: as root, a group of its own (65534); else our own group.
    let group = if root {
        "65534".to_string()
    } else {
        std::fs::metadata(&data).unwrap().gid().to_string()
    };
    let config = tmp.path().join("desk.toml");
    std::fs::write(&config, format!("[daemon]\ngroup = \"{group}\"\n")).unwrap();
    let _d = daemon(&data, Some(&config));
    let socket = data.join("doorwatch.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid().to_string(), group);

    if root {
        // A member of the group attaches; anyone else is refused, clearly.
        let member = alarms_as(&data, 65534, 65534);
        assert!(
            member.status.success(),
            "{}",
            String::from_utf8_lossy(&member.stderr)
        );
        let stranger = alarms_as(&data, 12345, 12345);
        assert!(!stranger.status.success());
        let err = String::from_utf8_lossy(&stranger.stderr);
        assert!(
            err.contains("permission denied on the doorwatch daemon's socket"),
            "{err}"
        );
        assert!(
            err.contains("add you to `nogroup`") || err.contains("add you to `65534`"),
            "{err}"
        );
    } else {
        // Not root: we cannot become someone else, so take our own access away.
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = run(&data, &["alarms"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("permission denied on the doorwatch daemon's socket"),
            "{err}"
        );
    }
}

/// The config with only the `[[source]]` blocks whose name is in `keep`.
fn sources_only(config: &str, keep: &[&str]) -> String {
    let mut parts = config.split("[[source]]");
    let mut out = parts.next().unwrap_or("").to_string();
    for block in parts {
        if keep
            .iter()
            .any(|k| block.contains(&format!("name = \"{k}\"")))
        {
            out.push_str("[[source]]");
            out.push_str(block);
        }
    }
    out
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn sighup_reloads_sources_and_leaves_the_others_running() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sim, sim_config) = simulators(tmp.path(), "kisi,seam,doorflow");
    let full = std::fs::read_to_string(&sim_config).unwrap();
    let config = tmp.path().join("desk.toml");
    write_private(&config, &sources_only(&full, &["sim-kisi", "sim-doorflow"]));
    let data = tmp.path().join("data");
    let mut d = daemon(&data, Some(&config));
    let kisi_events = |data: &Path| {
        ok(&run(
            data,
            &["search", "source:sim-kisi", "--json", "--limit", "1000000"],
        ))
        .lines()
        .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while kisi_events(&data) == 0 {
        assert!(Instant::now() < deadline, "kisi never stored anything");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Swap DoorFlow for Seam; Kisi untouched.
    write_private(&config, &sources_only(&full, &["sim-kisi", "sim-seam"]));
    d.signal("-HUP");
    d.wait_for("the reload", Duration::from_secs(20), |l| {
        l.iter().any(|l| l.contains("source sim-seam added"))
            && l.iter().any(|l| l.contains("source sim-doorflow removed"))
    });
    assert!(!d.lines().iter().any(|l| l.contains("sim-kisi changed")));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seam = ok(&run(&data, &["search", "source:sim-seam", "--limit", "1"]));
        if !seam.trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the new source stored nothing");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken config keeps what runs.
    std::fs::write(&config, "[[source]]\nname = 3\n").unwrap();
    d.signal("-HUP");
    d.wait_for("the refusal", Duration::from_secs(10), |l| {
        l.iter()
            .any(|l| l.contains("config reload failed, keeping the running config"))
    });
    d.signal("-TERM");
    assert!(d.wait(Duration::from_secs(30)).success());
    let lines = d.lines();
    let status = |name: &str| lines.iter().find(|l| l.starts_with(&format!("{name} [")));
    assert!(
        status("sim-kisi").is_some_and(|l| l.contains(": live;")),
        "{lines:?}"
    );
    assert!(status("sim-seam").is_some(), "{lines:?}");
    assert!(status("sim-doorflow").is_none(), "{lines:?}");
}

//! `doorwatch simulate` and `doorwatch demo` from a clean state, over the real binary.

mod common;

use common::{doorwatch, ok};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A background `doorwatch` that is killed when the test ends, pass or fail.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(data: &Path, args: &[&str], stderr: Stdio) -> Background {
    let child = Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("run doorwatch");
    Background(child)
}

#[test]
fn simulate_writes_a_private_config_that_a_daemon_can_follow() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("sim.toml");
    let mut sim = spawn(
        &tmp.path().join("sim-data"),
        &[
            "simulate",
            "--config-out",
            config.to_str().unwrap(),
            "--exit-after",
            "60s",
        ],
        Stdio::null(),
    );
    // Its URLs come first, one per vendor, then the config line.
    let stdout = sim.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line.starts_with("config written") {
            break;
        }
        if let Some((vendor, url)) = line.split_once(char::is_whitespace) {
            urls.push((vendor.to_string(), url.trim().to_string()));
        }
    }
    let vendors: Vec<&str> = urls.iter().map(|(v, _)| v.as_str()).collect();
    for v in ["kisi", "pdk", "seam", "doorflow"] {
        assert!(vendors.contains(&v), "no {v} simulator in {urls:?}");
    }
    for (_, url) in &urls {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A daemon pointed at that config stores events from every simulator.
    let data = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .args(["--config", config.to_str().unwrap(), "--data-dir"])
        .arg(&data)
        .args(["daemon", "--exit-after", "12s"])
        .env("HOME", &data)
        .output()
        .unwrap();
    let stdout = ok(&out);
    for v in ["kisi", "pdk", "seam", "doorflow"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("sim-{v} ")))
            .unwrap_or_else(|| panic!("no status line for sim-{v}:\n{stdout}"));
        assert!(line.contains(": live;"), "{line}");
        assert!(!line.contains("stored 0,"), "{line}");
    }
    let events = ok(&doorwatch(
        &data,
        &["search", "--json", "--limit", "100000"],
    ));
    assert!(events.lines().count() > 10, "{events}");
}

#[test]
fn demo_shows_events_from_every_vendor_and_an_alarm() {
    let tmp = tempfile::tempdir().unwrap();
    let out = doorwatch(tmp.path(), &["demo", "--exit-after", "15s"]);
    let stdout = ok(&out);
    assert!(stdout.starts_with("DEMO"), "{stdout}");
    for v in ["kisi", "pdk", "seam", "doorflow"] {
        let pattern = format!("  {v} ");
        assert!(
            stdout.lines().any(|l| l.contains(&pattern)),
            "no {v} event in the demo feed:\n{stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l.starts_with("ALARM ")),
        "no alarm within the demo's first 15 s:\n{stdout}"
    );
    // The demo keeps its own store.
    assert!(tmp.path().join("demo").join("store").exists());
}

#[test]
fn with_no_config_doorwatch_runs_the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn(tmp.path(), &[], Stdio::null());
    let stdout = child.0.stdout.take().unwrap();
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(first.starts_with("DEMO"), "{first}");
}

#[test]
fn the_feed_stops_quietly_when_its_reader_goes() {
    // `doorwatch demo | head -3`: once head has its lines and exits, the feed must
    // stop by itself, close the store and exit 0, not run on or panic on the pipe.
    let tmp = tempfile::tempdir().unwrap();
    let Background(child) = &mut spawn(
        tmp.path(),
        &["demo", "--exit-after", "120s"],
        Stdio::piped(),
    );
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..3 {
        lines.next().expect("a line").expect("read a line");
    }
    drop(lines);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the feed kept running a minute after its reader went");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}\n{stderr}");
}

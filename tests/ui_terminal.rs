//! The console in a real terminal: tmux on a private socket runs the real binary in a
//! pane of a fixed size; the test types keys with `send-keys` and reads the screen with
//! `capture-pane`, polling with a deadline. After doorwatch exits (by `q`, or by
//! SIGTERM), the same pane runs a line of shell that reports whether the terminal
//! settings match what they were before, so "the terminal was restored" is checked
//! from inside the terminal, together with tmux's own view (alternate screen off,
//! cursor shown).
//!
//! Needs tmux: without it these tests fail, saying so, unless DOORWATCH_SKIP_TMUX=1
//! asks to skip them (CI runs them: `.ci/run` is `cargo test --release`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// Whether to run: tmux is there, or the run asked to skip these tests.
fn tmux_available() -> bool {
    let installed = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed && std::env::var_os("DOORWATCH_SKIP_TMUX").is_none_or(|v| v != "1") {
        panic!("tmux is not installed: install it, or set DOORWATCH_SKIP_TMUX=1 to skip");
    }
    installed
}

/// A tmux server of our own (never the user's), killed with everything in it on drop.
struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    /// Start `script` in a detached `width`x`height` session with `env` set for it.
    fn start(script: &Path, width: u16, height: u16, home: &Path) -> Tmux {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "doorwatch-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Tmux {
            socket,
            session: "console",
        };
        // A fresh server inherits this environment: the pane's shell sees only the
        // temp dir as home and config dir, and a terminal type crossterm knows.
        let out = Command::new("tmux")
            .args(["-L", &tmux.socket, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", tmux.session])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(script)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("share"))
            .env("USER", "tester")
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Esc must reach the console at once, not after tmux's wait for a sequence.
        tmux.run(&["set-option", "-s", "escape-time", "0"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", self.session])
    }

    /// A pane property, e.g. `alternate_on`, `cursor_flag`, `pane_width`.
    fn format(&self, name: &str) -> String {
        self.run(&[
            "display-message",
            "-p",
            "-t",
            self.session,
            &format!("#{{{name}}}"),
        ])
        .trim()
        .to_string()
    }

    /// Text typed as is.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", self.session, "-l", text]);
    }

    /// A named key: Enter, Escape, Tab...
    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", self.session, key]);
    }

    /// Poll the screen until `ready` holds; the last screen if it never does.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text:?}"), |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A desk on disk: a store with every vendor's fixture and a config with no live
/// sources, so the console starts over history alone.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let desk = Desk { dir };
        std::fs::create_dir_all(desk.home().join("config")).unwrap();
        std::fs::write(desk.config(), "operator = \"tester\"\n").unwrap();
        for vendor in ["kisi", "pdk", "seam", "doorflow"] {
            common::ok(&common::import_fixture(&desk.data(), vendor));
        }
        desk
    }

    fn home(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("console.toml")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("doorwatch.pid")
    }

    /// The pane's program: record the terminal settings, run doorwatch (its pid in a
    /// file, for signals), then say whether the settings came back, and stay.
    fn script(&self, args: &[&str]) -> PathBuf {
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let text = format!(
            "#!/bin/sh\n\
             before=$(stty -g)\n\
             sh -c 'echo $$ > \"$0\"; exec \"$@\"' '{pid}' '{bin}' {args}\n\
             status=$?\n\
             if [ \"$(stty -g)\" = \"$before\" ]; then tty=same; else tty=changed; fi\n\
             echo \"RESTORED exit=$status tty=$tty\"\n\
             exec sleep 600\n",
            pid = self.pid_file().display(),
            bin = env!("CARGO_BIN_EXE_doorwatch"),
            args = quoted.join(" "),
        );
        let path = self.dir.path().join("pane.sh");
        std::fs::write(&path, text).unwrap();
        make_executable(&path);
        path
    }

    fn console_script(&self) -> PathBuf {
        let config = self.config();
        let data = self.data();
        self.script(&[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
    }

    fn doorwatch(&self, args: &[&str]) -> Output {
        common::doorwatch(&self.data(), args)
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// After doorwatch is gone: the shell's line is on the main screen, the terminal
/// settings are what they were, the cursor is back.
fn assert_restored(tmux: &Tmux, exit: &str) {
    let screen = tmux.wait_for_text("RESTORED");
    assert!(
        screen.contains(&format!("RESTORED exit={exit} tty=same")),
        "{screen}"
    );
    assert_eq!(
        tmux.format("alternate_on"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(tmux.format("cursor_flag"), "1", "cursor left hidden");
    // The console's frame is gone with the alternate screen.
    assert!(!screen.contains("1 Events"), "{screen}");
}

/// The id of the alarm the acknowledge dialog is about: its first line.
fn dialog_alarm(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let title = lines
        .iter()
        .position(|l| l.contains("Acknowledge alarm"))
        .unwrap_or_else(|| panic!("no dialog:\n{screen}"));
    let line = lines[title + 1];
    let start = line
        .find("a-")
        .unwrap_or_else(|| panic!("no alarm id in {line:?}"));
    line[start..start + 8].to_string()
}

fn alarm_json(desk: &Desk, id: &str) -> serde_json::Value {
    common::ok(&desk.doorwatch(&["alarms", "--json", "--all"]))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no alarm {id}"))
}

#[test]
fn search_acknowledge_and_quit_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let query = "vendor:pdk kind:access.*";
    let expected = common::ok(&desk.doorwatch(&["search", "--json", query]))
        .lines()
        .count();
    assert!(expected > 0);
    let tmux = Tmux::start(&desk.console_script(), 80, 24, &desk.home());

    // Start-up: the frame, the stored alarms in the header, the newest events listed.
    // The first frame goes up before the store opens; events and the header's alarm
    // counts follow as it does.
    let screen = tmux.wait_for("the console with events and alarm counts", |s| {
        // The newest stored event's summary, cut to the column.
        s.contains("doorwatch · 0 source(s)") && s.contains("Tomás Alvar") && s.contains("critical")
    });
    assert!(screen.contains("Events — following"), "{screen}");
    assert!(
        screen.contains("critical"),
        "alarm counts in the header:\n{screen}"
    );
    assert_eq!(tmux.format("alternate_on"), "1");

    // Search: `/`, a query, Enter; the results and their count.
    tmux.type_text("/");
    tmux.wait_for_text("/ ▏");
    tmux.type_text(query);
    tmux.key("Enter");
    let screen = tmux.wait_for_text("results");
    assert!(screen.contains(&format!(" {expected} results")), "{screen}");
    assert!(
        screen.contains("Loading Dock       Marcus Chen"),
        "{screen}"
    );

    // Acknowledge: `e` jumps to the first unacknowledged alarm, `a` opens the dialog.
    tmux.type_text("e");
    tmux.wait_for_text("┌ Alarms (");
    tmux.type_text("a");
    let screen = tmux.wait_for_text("Acknowledge alarm");
    let id = dialog_alarm(&screen);
    tmux.type_text("guard checked, door secured");
    tmux.wait_for_text("door secured▏");
    tmux.key("Enter");
    let done = format!("{id} acknowledged by tester");
    let screen = tmux.wait_for_text(&done);
    // The list shows it at once: acknowledged, or gone if it had already cleared.
    let row = screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains(&id));
    assert!(row.is_none_or(|r| r.contains("acked")), "{screen}");

    // Quit: alarms are still unacknowledged, so it asks.
    tmux.type_text("q");
    tmux.wait_for_text("Quit?");
    tmux.type_text("y");
    assert_restored(&tmux, "0");

    let alarm = alarm_json(&desk, &id);
    assert_eq!(alarm["acknowledged"], true, "{alarm}");
    assert_eq!(alarm["acks"][0]["operator"], "tester", "{alarm}");
    assert_eq!(
        alarm["acks"][0]["note"], "guard checked, door secured",
        "{alarm}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let tmux = Tmux::start(&desk.console_script(), 80, 24, &desk.home());
    tmux.wait_for_text("Events — following");
    // Mid-dialog, to leave from a state that is not the plain list.
    tmux.type_text("?");
    tmux.wait_for_text("Help — esc to close");
    let pid = std::fs::read_to_string(desk.pid_file()).unwrap();
    let out = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_restored(&tmux, "0");
    // And it shut down cleanly: the store opens and answers.
    common::ok(&desk.doorwatch(&["alarms"]));
}

#[test]
fn the_demo_starts_in_the_wide_layout_and_quits_cleanly() {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let data = desk.data();
    let script = desk.script(&["--data-dir", data.to_str().unwrap(), "demo"]);
    let tmux = Tmux::start(&script, 160, 48, &desk.home());
    assert_eq!(tmux.format("pane_width"), "160");
    // All four panes at once, under a header that says DEMO.
    let screen = tmux.wait_for("the demo's wide layout", |s| {
        s.contains(" DEMO ") && s.contains("Controllers & sync") && s.contains("Alarms (")
    });
    assert!(screen.contains("Doors ("), "{screen}");
    assert!(screen.contains("Events — "), "{screen}");
    // Live events arrive from every vendor's simulator through its real protocol, and
    // the alarm the simulators raise within seconds reaches the header.
    // An event row starts with its time (`│19:38:03 0s   pdk ...`); the controllers
    // pane lists vendors too, so only such rows count.
    let event_rows = |s: &str, vendor: &str| {
        s.lines().any(|l| {
            let row = l.trim_start_matches('│');
            row.get(2..3) == Some(":")
                && row.get(5..6) == Some(":")
                && row.contains(&format!(" {vendor} "))
        })
    };
    let screen = tmux.wait_for("events from all four vendors and an alarm", |s| {
        ["kisi", "pdk", "seam", "doorflow"]
            .iter()
            .all(|v| event_rows(s, v))
            && s.contains(" critical ")
    });
    assert!(!screen.contains("waiting for events"), "{screen}");
    tmux.type_text("q");
    // Asks first only if the demo already raised alarms nobody acknowledged.
    let screen = tmux.wait_for("quit or its question", |s| {
        s.contains("Quit?") || s.contains("RESTORED")
    });
    if screen.contains("Quit?") {
        tmux.type_text("y");
    }
    assert_restored(&tmux, "0");
}

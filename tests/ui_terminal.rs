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

    /// The screen with all the scrollback above it.
    fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-S", "-", "-t", self.session])
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
        self.script_with(&[], args)
    }

    /// `script`, with doorwatch started through `launch` (e.g. `env K=V`, `setsid`),
    /// each of which execs it in place, so the pid stays doorwatch's.
    fn script_with(&self, launch: &[&str], args: &[&str]) -> PathBuf {
        let quote = |words: &[&str]| -> String {
            words
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let text = format!(
            "#!/bin/sh\n\
             before=$(stty -g)\n\
             sh -c 'echo $$ > \"$0\"; exec \"$@\"' '{pid}' {launch} '{bin}' {args}\n\
             status=$?\n\
             if [ \"$(stty -g)\" = \"$before\" ]; then tty=same; else tty=changed; fi\n\
             stty -a | tr ' ;' '\\n\\n' | grep -qx icanon && cooked=yes || cooked=no\n\
             stty -a | tr ' ;' '\\n\\n' | grep -qx echo && echo=yes || echo=no\n\
             echo \"RESTORED exit=$status tty=$tty icanon=$cooked echo=$echo\"\n\
             exec sleep 600\n",
            pid = self.pid_file().display(),
            launch = quote(launch),
            bin = env!("CARGO_BIN_EXE_doorwatch"),
            args = quote(args),
        );
        let path = self.dir.path().join("pane.sh");
        std::fs::write(&path, text).unwrap();
        make_executable(&path);
        path
    }

    fn console_script(&self) -> PathBuf {
        self.console_script_with(&[])
    }

    fn console_script_with(&self, launch: &[&str]) -> PathBuf {
        let config = self.config();
        let data = self.data();
        self.script_with(
            launch,
            &[
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
        )
    }

    fn pid(&self) -> u32 {
        std::fs::read_to_string(self.pid_file())
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Everything doorwatch logged in the data dir.
    fn log(&self) -> String {
        let mut text = String::new();
        let Ok(entries) = std::fs::read_dir(self.data().join("logs")) else {
            return text;
        };
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
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
        screen.contains(&format!(
            "RESTORED exit={exit} tty=same icanon=yes echo=yes"
        )),
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

#[test]
fn sighup_restores_the_terminal_and_logs_why() {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let tmux = Tmux::start(&desk.console_script(), 80, 24, &desk.home());
    tmux.wait_for_text("Events — following");
    tmux.type_text("?");
    tmux.wait_for_text("Help — esc to close");
    let out = Command::new("kill")
        .args(["-HUP", &desk.pid().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_restored(&tmux, "0");
    let log = desk.log();
    assert!(
        log.lines().any(|l| l.contains("console stopped: SIGHUP")),
        "{log}"
    );
    common::ok(&desk.doorwatch(&["alarms"]));
}

/// What `/proc` says of a process: gone (or a zombie: it has exited, nobody reaped
/// it), or alive with this much CPU time used (clock ticks).
enum Proc {
    Exited,
    Alive { cpu_ticks: u64 },
}

fn proc_state(pid: u32) -> Proc {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Proc::Exited;
    };
    // After the parenthesised command name: state, then utime and stime at 12 and 13.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    if fields.first().is_none_or(|s| *s == "Z" || *s == "X") {
        return Proc::Exited;
    }
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Proc::Alive {
        cpu_ticks: tick(11) + tick(12),
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The SSH session drops: the pane and its pty vanish under a running console that
/// owns the store. `own_session` runs doorwatch in a session of its own, so no SIGHUP
/// reaches it and only the tty's hangup (EOF on read, EIO on write) tells it.
fn lost_terminal(own_session: bool) {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let launch: &[&str] = if own_session { &["setsid"] } else { &[] };
    let tmux = Tmux::start(&desk.console_script_with(launch), 80, 24, &desk.home());
    // Stored events and the header's alarm counts, the last of start-up: it owns the
    // store, and from here on it draws only on its one-second tick.
    tmux.wait_for("the console with events and alarm counts", |s| {
        s.contains("Events — following") && s.contains("Tomás Alvar") && s.contains("critical")
    });
    let pid = desk.pid();
    let Proc::Alive { cpu_ticks: before } = proc_state(pid) else {
        panic!("doorwatch is not running");
    };

    let lost = Instant::now();
    tmux.run(&["kill-session", "-t", tmux.session]);
    let mut cpu = before;
    while let Proc::Alive { cpu_ticks } = proc_state(pid) {
        cpu = cpu_ticks;
        assert!(
            lost.elapsed() < Duration::from_secs(5),
            "still running 5 s after its terminal went, {:.2} s of CPU since",
            (cpu - before) as f64 / clock_ticks_per_second()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = lost.elapsed().as_secs_f64();
    let busy = (cpu - before) as f64 / clock_ticks_per_second();
    eprintln!("gone {wall:.3} s after the hangup, {busy:.3} s of CPU");
    // A loop re-reading a dead tty burns all the time it is given (until the next
    // draw fails); stopping takes a few milliseconds of CPU.
    assert!(
        busy <= 0.03 + wall / 4.0,
        "{busy:.3} s of CPU in the {wall:.3} s it took to stop: it spun"
    );

    // It let go of the store, and said why it stopped.
    common::ok(&desk.doorwatch(&["search", "--limit", "1"]));
    let log = desk.log();
    let stopped = log
        .lines()
        .find(|l| l.contains("console stopped:"))
        .unwrap_or_else(|| panic!("no line saying why it stopped:\n{log}"));
    assert!(stopped.contains("hung up"), "{stopped}");
}

#[test]
fn a_dropped_ssh_session_stops_the_console_and_frees_the_store() {
    lost_terminal(false);
}

#[test]
fn a_hangup_seen_only_on_the_tty_stops_the_console_without_spinning() {
    lost_terminal(true);
}

/// Run the console with the test panic; the screen (with its scrollback) once the
/// pane's shell has reported.
fn panic_in_pane(desk: &Desk, env: &[(&str, &str)]) -> (Tmux, String) {
    let mut launch = vec!["env".to_string()];
    launch.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    launch.push(format!("{}=1", doorwatch::ui::PANIC_AFTER_FIRST_FRAME));
    let launch: Vec<&str> = launch.iter().map(String::as_str).collect();
    let tmux = Tmux::start(&desk.console_script_with(&launch), 120, 30, &desk.home());
    assert_restored(&tmux, "101");
    let screen = tmux.history();
    (tmux, screen)
}

#[test]
fn a_panic_restores_the_terminal_then_prints_and_logs_the_message() {
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let (_tmux, screen) = panic_in_pane(&desk, &[]);
    // On the main screen, so printed after the alternate screen was left.
    let lines: Vec<&str> = screen.lines().collect();
    let message = lines
        .iter()
        .position(|l| l.contains(doorwatch::ui::TEST_PANIC))
        .unwrap_or_else(|| panic!("no panic message:\n{screen}"));
    // And in order: nothing moved the cursor back over it.
    let restored = lines.iter().position(|l| l.contains("RESTORED")).unwrap();
    assert!(message < restored, "{screen}");
    assert!(
        message > 0 && lines[message - 1].contains("panicked at src/ui/mod.rs"),
        "{screen}"
    );
    let log = desk.log();
    assert!(
        log.lines()
            .any(|l| l.contains("panic: panicked at src/ui/mod.rs")),
        "{log}"
    );
    assert!(log.contains(doorwatch::ui::TEST_PANIC), "{log}");
}

#[test]
fn a_panic_prints_and_logs_no_secret() {
    use common::secrets::*;
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    // Sources that run (against a port nobody listens on) with every secret, inline
    // or from the environment.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{dead}");
    let config = format!(
        r#"operator = "tester"

[[source]]
name = "kisi"
vendor = "kisi"
base_url = "{url}"
token = "{KISI_KEY}"

[[source]]
name = "kisi-env"
vendor = "kisi"
base_url = "{url}"
token_env = "DW_TEST_KISI_KEY"

[[source]]
name = "pdk"
vendor = "pdk"
base_url = "{url}"
auth_url = "{url}"
system_id = "sys-1"
client_id = "{PDK_ID}"
client_secret_env = "DW_TEST_PDK_SECRET"

[[source]]
name = "seam"
vendor = "seam"
base_url = "{url}"
token_env = "DW_TEST_SEAM_KEY"

[[source]]
name = "df"
vendor = "doorflow"
base_url = "{url}"
client_id = "{DF_ID}"
client_secret = "{DF_SECRET}"
refresh_token_env = "DW_TEST_DF_REFRESH"

[[source]]
name = "kisi-hooks"
vendor = "kisi"
poll = false
webhook_secret = "{KISI_HOOK}"

[[source]]
name = "seam-hooks"
vendor = "seam"
poll = false
webhook_secret_env = "DW_TEST_SEAM_HOOK"

[[source]]
name = "df-hooks"
vendor = "doorflow"
poll = false
webhook_secret = "{DF_HOOK}"

[webhooks]
listen = "127.0.0.1:0"
"#
    );
    std::fs::write(desk.config(), config).unwrap();
    std::fs::set_permissions(
        desk.config(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let hook = seam_hook_secret();
    let env = [
        ("DW_TEST_KISI_KEY", KISI_WRONG_KEY),
        ("DW_TEST_PDK_SECRET", PDK_SECRET),
        ("DW_TEST_SEAM_KEY", SEAM_KEY),
        ("DW_TEST_DF_REFRESH", DF_REFRESH),
        ("DW_TEST_SEAM_HOOK", hook.as_str()),
    ];
    let (_tmux, screen) = panic_in_pane(&desk, &env);
    assert!(screen.contains(doorwatch::ui::TEST_PANIC), "{screen}");
    assert_clean("the pane after the panic", screen.as_bytes());
    let log = desk.log();
    assert!(log.contains(doorwatch::ui::TEST_PANIC), "{log}");
    // The sources had started: the log knows them.
    assert!(log.contains("kisi-env"), "{log}");
    let mut files = Vec::new();
    files_under(&desk.data(), &mut files);
    for f in &files {
        assert_clean(&f.display().to_string(), &std::fs::read(f).unwrap());
    }
}

/// The frame log's lines: (received ms of the newest row, occurred ms, whose data).
fn frames(log: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5).then(|| (f[2].to_string(), f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// Run the console with a frame log until it draws a frame of the store's own data,
/// then stop it with SIGTERM; its frames.
fn frames_of_one_run(desk: &Desk, log: &Path) -> Vec<(String, String, String)> {
    let _ = std::fs::remove_file(log);
    let env = format!("DOORWATCH_FRAME_LOG={}", log.display());
    let tmux = Tmux::start(
        &desk.console_script_with(&["env", &env]),
        80,
        24,
        &desk.home(),
    );
    let start = Instant::now();
    while !frames(log).iter().any(|(r, _, w)| r != "-" && w == "store") {
        assert!(
            start.elapsed() < DEADLINE,
            "no frame of the store's data; the screen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(POLL);
    }
    tmux.wait_for_text("Events — following");
    let out = Command::new("kill")
        .args(["-TERM", &desk.pid().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_restored(&tmux, "0");
    frames(log)
}

#[test]
fn the_glance_of_the_last_close_shows_first_then_the_stores_own_data() {
    use std::os::unix::fs::PermissionsExt;
    if !tmux_available() {
        return;
    }
    let desk = Desk::new();
    let glance = desk.data().join(doorwatch::ui::glance::FILE);
    let log = desk.dir.path().join("frames.log");

    // No glance yet: the store's data is the first there is.
    let first = frames_of_one_run(&desk, &log);
    assert!(first.iter().all(|(_, _, w)| w == "store"), "{first:?}");
    // Closing wrote the glance, private to the operator.
    let mode = std::fs::metadata(&glance).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // With it: glance frames first (with rows), then only the store's, whose first
    // frame with data shows the same newest row.
    let second = frames_of_one_run(&desk, &log);
    let (r, o, w) = &second[0];
    assert_eq!(w, "glance", "{second:?}");
    assert_ne!(r, "-", "the glance's first frame has rows: {second:?}");
    let switch = second.iter().position(|(_, _, w)| w == "store").unwrap();
    assert!(
        second[switch..].iter().all(|(_, _, w)| w == "store"),
        "{second:?}"
    );
    let (sr, so, _) = second[switch..].iter().find(|(r, _, _)| r != "-").unwrap();
    assert_eq!((sr, so), (r, o), "{second:?}");

    // A damaged glance is ignored (and logged): the console starts as without one.
    std::fs::write(&glance, b"{\"version\": 1, \"snapshot\": ").unwrap();
    let third = frames_of_one_run(&desk, &log);
    assert!(third.iter().all(|(_, _, w)| w == "store"), "{third:?}");
    assert!(
        desk.log().contains("not showing the glance"),
        "{}",
        desk.log()
    );
}

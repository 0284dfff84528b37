//! A background `doorwatch` (daemon, simulators, console) whose stdout and stderr
//! lines are collected as they come; killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pipe's reader and the text it collects.
type Stream<'a> = (Box<dyn Read + Send>, &'a Arc<Mutex<String>>);

pub struct Running {
    pub child: Child,
    /// Every line, stdout's and stderr's, in the order they came.
    lines: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a process ended, and everything it printed.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// `doorwatch --data-dir DATA ARGS...`, isolated from the user's config and `$USER`,
/// not yet started.
pub fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doorwatch"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester");
    c
}

/// Start `doorwatch --data-dir DATA ARGS...` in the background.
pub fn spawn(data: &Path, args: &[&str]) -> Running {
    Running::start(command(data, args))
}

impl Running {
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run doorwatch");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let streams: [Stream; 2] = [
            (Box::new(child.stdout.take().unwrap()), &stdout),
            (Box::new(child.stderr.take().unwrap()), &stderr),
        ];
        let mut readers = Vec::new();
        for (stream, text) in streams {
            let (lines, text) = (lines.clone(), text.clone());
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        Running {
            child,
            lines,
            stdout,
            stderr,
            readers,
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn assert_running(&mut self) {
        let exit = self.child.try_wait().unwrap();
        assert!(exit.is_none(), "exited early: {exit:?}\n{}", self.output());
    }

    /// SIGTERM, then wait for it to end.
    pub async fn terminate(self) -> Finished {
        self.signal("-TERM");
        self.finish().await
    }

    /// kill -9: no chance to flush, checkpoint or say anything.
    pub async fn kill9(mut self) -> Finished {
        self.child.kill().unwrap();
        self.finish().await
    }

    /// Wait for the exit and for the last of its output.
    pub async fn finish(mut self) -> Finished {
        tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            for r in self.readers.drain(..) {
                r.join().unwrap();
            }
            Finished {
                status,
                stdout: self.stdout.lock().unwrap().clone(),
                stderr: self.stderr.lock().unwrap().clone(),
            }
        })
        .await
        .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// Whether any line so far contains `what`.
    pub fn said(&self, what: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(what))
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.lines()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; output:\n{}", self.output());
    }

    /// Send a signal (`-TERM`, `-HUP`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig}");
    }

    /// Wait for exit; the exit status.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

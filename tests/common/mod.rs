//! Running the real binary against a data dir of its own, for the integration tests.
#![allow(dead_code)]

pub mod running;
pub mod secrets;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `doorwatch --data-dir DATA ARGS...`, isolated from the user's config and `$USER`.
pub fn doorwatch(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester")
        .output()
        .expect("run doorwatch")
}

/// Its stdout, after asserting it succeeded (with everything it said if not).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The fixture file of a vendor.
pub fn fixture(vendor: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor);
    std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// `doorwatch import --vendor V <fixture of V>`, run (not checked: callers assert).
pub fn import_fixture(data: &Path, vendor: &str) -> Output {
    let file = fixture(vendor);
    doorwatch(
        data,
        &["import", "--vendor", vendor, file.to_str().unwrap()],
    )
}

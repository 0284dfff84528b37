//! The coverage-guided `cargo fuzz` targets in `fuzz/` (every vendor parser, the
//! Engine.IO/Socket.IO codec, the webhook verifiers, the query and the config parser),
//! each run for a bounded time by `fuzz/run`: any crash (a panic, a timeout, an
//! out-of-memory) fails the test, and its input is left in `fuzz/artifacts/<target>/`.
//!
//! It builds a crate of its own with cargo-fuzz (installed if missing), which takes
//! minutes, so it runs when asked: `DOORWATCH_CARGO_FUZZ=SECONDS` (per target), or
//! `CI=true` (20 s per target). Elsewhere it says how and passes; `tests/fuzz.rs` runs
//! the same properties as proptest in every `cargo test`.

use std::process::Command;

fn seconds_per_target() -> Option<u64> {
    if let Ok(v) = std::env::var("DOORWATCH_CARGO_FUZZ") {
        return v.trim().parse().ok().filter(|s| *s > 0);
    }
    (std::env::var("CI").as_deref() == Ok("true")).then_some(20)
}

#[test]
fn every_cargo_fuzz_target_runs_its_time_without_a_crash() {
    let Some(seconds) = seconds_per_target() else {
        eprintln!(
            "cargo-fuzz targets not run: set DOORWATCH_CARGO_FUZZ=20 (seconds per target) \
             or CI=true to build and run them (fuzz/run)"
        );
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/run");
    let out = Command::new("bash")
        .arg(script)
        .args(["--seconds", &seconds.to_string()])
        .output()
        .expect("run fuzz/run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The table: target, execs, exec/s, crashes.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "fuzz/run failed ({}): a crash input is in fuzz/artifacts/<target>/, the \
         libFuzzer log in fuzz/logs/<target>.log\n{stdout}\n{stderr}",
        out.status
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("target"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 5, "one row per target:\n{stdout}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let execs: u64 = cols.get(1).and_then(|e| e.parse().ok()).unwrap_or(0);
        assert!(execs > 0, "a target that ran nothing: {row}");
        assert_eq!(cols.last(), Some(&"0"), "crashes: {row}");
    }
}

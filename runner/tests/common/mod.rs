//! What the `rlx` command-line tests share: running the binary, its stderr, a run's CSV without the wall-clock
//! dependent tags, and the check that bad input is a one-line error.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output};

pub fn rlx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlx")).args(args).output().expect("rlx runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The CSV's (step, tag, value) rows, without the wall-clock column and the tags that depend on it (rates).
pub fn curve(dir: &Path) -> Vec<(u64, String, String)> {
    std::fs::read_to_string(dir.join("progress.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].to_string(), f[2].to_string())
        })
        .filter(|(_, tag, _)| !is_wall_clock(tag))
        .collect()
}

/// Tags that measure wall-clock time (speeds, seconds per phase): they differ between two runs of the same seed.
fn is_wall_clock(tag: &str) -> bool {
    matches!(tag, "charts/SPS" | "charts/tokens_per_s") || tag.ends_with("_seconds")
}

/// `args` fail with exit code != 0 and one stderr line `rlx: error: ...` containing `needle`.
pub fn expect_error(args: &[&str], needle: &str) {
    let out = rlx(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("rlx: error: ") && err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

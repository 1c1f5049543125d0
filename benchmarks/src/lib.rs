//! Shared helpers of the benchmark programs: running a Python peer script, timing loops, machine facts, tables.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `benchmarks/peers/<script>` with the project's venv python (`RLX_PYTHON`, set by `scripts/bench`) and
/// parses the JSON it prints last on stdout. Its stderr (progress) goes to ours.
pub fn run_peer(script: &str, args: &[String]) -> Result<serde_json::Value> {
    let python = std::env::var("RLX_PYTHON").context("RLX_PYTHON is unset: run benchmarks through scripts/bench")?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join(script);
    let out = Command::new(&python)
        .arg(&path)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    if !out.status.success() {
        bail!("{} failed with {}", path.display(), out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().context("the peer script printed nothing")?;
    serde_json::from_str(last).context("the peer script's last line is not JSON")
}

/// Calls `step(i)` for i = 0, 1, ... for about `seconds`; returns calls per second.
pub fn rate(seconds: f64, mut step: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    loop {
        for _ in 0..1024 {
            step(n);
            n += 1;
        }
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= seconds {
            return n as f64 / elapsed;
        }
    }
}

/// The median of `repeats` measurements.
pub fn median_of(repeats: usize, mut measure: impl FnMut() -> f64) -> f64 {
    let mut xs: Vec<f64> = (0..repeats.max(1)).map(|_| measure()).collect();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// CPU model and core count, for the header of a results file.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{model}, {cores} cores")
}

/// The date (UTC), as `date -u` prints it.
pub fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Formats a rate like `1.23M`, `45.6k`.
pub fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

//! Shared helpers of the benchmark programs: running a Python peer script, timing loops, machine facts, tables.

pub mod curves;

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

fn peer_command(script: &str) -> Result<(String, PathBuf)> {
    let python = std::env::var("RLX_PYTHON").context("RLX_PYTHON is unset: run benchmarks through scripts/bench")?;
    Ok((python, Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join(script)))
}

/// Runs `benchmarks/peers/<script>` with the project's venv python (`RLX_PYTHON`, set by `scripts/bench`) and
/// parses the JSON it prints last on stdout. Its stderr (progress) goes to ours.
pub fn run_peer(script: &str, args: &[String]) -> Result<serde_json::Value> {
    let (python, path) = peer_command(script)?;
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

/// A peer script kept running between measurements, answering JSON-line requests with JSON lines. Benchmarks use
/// it to interleave their measurements with the peer's, so both sides see the same machine: this shared VM's speed
/// drifts by 20-30% over minutes, which sequential "all peers, then rlx" runs turn into fake ratios.
pub struct PeerServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The first line the script printed (its versions).
    pub hello: serde_json::Value,
}

impl PeerServer {
    pub fn start(script: &str) -> Result<Self> {
        let (python, path) = peer_command(script)?;
        let mut child = Command::new(&python)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {python}"))?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        let mut server = PeerServer { child, stdin, stdout, hello: serde_json::Value::Null };
        server.hello = server.read_line()?;
        Ok(server)
    }

    /// Sends one request and waits for its answer.
    pub fn ask(&mut self, request: &serde_json::Value) -> Result<serde_json::Value> {
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        self.read_line()
    }

    fn read_line(&mut self) -> Result<serde_json::Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the peer script exited (see its error above)");
        }
        serde_json::from_str(&line).with_context(|| format!("the peer script printed `{}`, not JSON", line.trim()))
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The median of some measurements (0 for none).
pub fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
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

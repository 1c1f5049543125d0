//! PPO head-to-head: Stable-Baselines3 and rlx with the same rl-zoo3 preset, seed by seed, in one run on this
//! machine. Reports wall-clock for the preset budget, SPS and the final deterministic evaluation return, writes
//! `results/ppo_classic.md` and a learning-curve plot `results/ppo_classic.png`.
//!
//! `scripts/bench ppo-classic` runs it (SB3 from the venv's requirements/bench.txt, rlx's release binary).

use anyhow::{bail, Context, Result};
use clap::Parser;
use plotters::style::{RGBColor, BLUE, RED};
use rlx_benchmarks::curves::{
    json_curve, mean_std, plot_panels, rlx_binary, rlx_episode_curve, seed_band, Panel, Series,
};
use rlx_benchmarks::{machine, run_peer, today};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
struct Args {
    #[arg(long, num_args = 1.., default_values = ["CartPole-v1", "Acrobot-v1"])]
    envs: Vec<String>,
    #[arg(long, num_args = 1.., default_values_t = [0u64, 1, 2])]
    seeds: Vec<u64>,
    #[arg(long, default_value = "results/ppo_classic.md")]
    out: PathBuf,
    #[arg(long, default_value = "results/ppo_classic.png")]
    plot: PathBuf,
    /// Folder for the rlx runs (default: a temporary folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// One training run of one framework.
struct RunResult {
    wall_s: f64,
    sps: f64,
    eval_mean: f64,
    /// (timestep, episode return) of every training episode.
    curve: Vec<(f64, f64)>,
}

fn preset_path(env: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/ppo").join(format!("{env}.toml"))
}

fn run_sb3(env: &str, seed: u64) -> Result<(RunResult, serde_json::Value)> {
    let out = run_peer("ppo_sb3.py", &[preset_path(env).display().to_string(), seed.to_string()])?;
    let curve = json_curve(&out["curve"])?;
    let f = |k: &str| out[k].as_f64().with_context(|| format!("SB3 result has no {k}"));
    Ok((RunResult { wall_s: f("wall_s")?, sps: f("sps")?, eval_mean: f("eval_mean")?, curve }, out["versions"].clone()))
}

fn run_rlx(rlx: &Path, env: &str, seed: u64, dir: &Path) -> Result<RunResult> {
    let _ = std::fs::remove_dir_all(dir);
    let status = Command::new(rlx)
        .args(["train", "ppo", "--env", env, "--seed", &seed.to_string(), "--device", "cpu", "--quiet", "--run-dir"])
        .arg(dir)
        .status()?;
    if !status.success() {
        bail!("rlx train failed for {env} seed {seed}");
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json"))?)?;
    let eval = Command::new(rlx).arg("eval").arg(dir).args(["--episodes", "10"]).output()?;
    let text = String::from_utf8_lossy(&eval.stdout);
    let eval_mean = text
        .lines()
        .find_map(|l| l.strip_prefix("mean_return "))
        .context("rlx eval printed no mean_return")?
        .trim()
        .parse()?;
    let curve = rlx_episode_curve(dir)?;
    Ok(RunResult {
        wall_s: summary["wall_time_s"].as_f64().unwrap(),
        sps: summary["sps"].as_f64().unwrap(),
        eval_mean,
        curve,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rlx = rlx_binary()?;
    let tmp;
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("rlx_bench_ppo_{}", std::process::id()));
            tmp.clone()
        }
    };
    let mut md = String::new();
    let mut panels = Vec::new();
    let mut versions = serde_json::Value::Null;
    let mut rows = String::new();
    for env in &args.envs {
        let preset: toml::Table = toml::from_str(&std::fs::read_to_string(preset_path(env))?)?;
        let total = preset["total_timesteps"].as_integer().context("preset has no total_timesteps")? as f64;
        let (mut sb3_runs, mut rlx_runs) = (Vec::new(), Vec::new());
        for &seed in &args.seeds {
            eprintln!("== {env} seed {seed}: Stable-Baselines3");
            let (sb3, v) = run_sb3(env, seed)?;
            versions = v;
            eprintln!("   SB3 {:.1} s, {:.0} SPS, eval {:.1}", sb3.wall_s, sb3.sps, sb3.eval_mean);
            eprintln!("== {env} seed {seed}: rlx");
            let ours = run_rlx(&rlx, env, seed, &work.join(format!("{env}_{seed}")))?;
            eprintln!("   rlx {:.1} s, {:.0} SPS, eval {:.1}", ours.wall_s, ours.sps, ours.eval_mean);
            sb3_runs.push(sb3);
            rlx_runs.push(ours);
        }
        let stats = |runs: &[RunResult]| {
            let wall = mean_std(&runs.iter().map(|r| r.wall_s).collect::<Vec<_>>());
            let sps = mean_std(&runs.iter().map(|r| r.sps).collect::<Vec<_>>());
            let ret = mean_std(&runs.iter().map(|r| r.eval_mean).collect::<Vec<_>>());
            (wall, sps, ret)
        };
        let (rw, rs, rr) = stats(&rlx_runs);
        let (sw, ss, sr) = stats(&sb3_runs);
        let per_seed =
            |runs: &[RunResult]| runs.iter().map(|r| format!("{:.1}", r.eval_mean)).collect::<Vec<_>>().join(", ");
        writeln!(
            rows,
            "| {env} | rlx | {:.1} +- {:.1} | {:.0} | {:.1} +- {:.1} ({}) | **{:.1}x** |",
            rw.0,
            rw.1,
            rs.0,
            rr.0,
            rr.1,
            per_seed(&rlx_runs),
            sw.0 / rw.0
        )?;
        writeln!(
            rows,
            "| {env} | Stable-Baselines3 | {:.1} +- {:.1} | {:.0} | {:.1} +- {:.1} ({}) | 1.0x |",
            sw.0,
            sw.1,
            ss.0,
            sr.0,
            sr.1,
            per_seed(&sb3_runs)
        )?;
        let series = |label: &str, color: RGBColor, runs: &[RunResult]| Series {
            label: label.into(),
            color,
            points: seed_band(&runs.iter().map(|r| r.curve.as_slice()).collect::<Vec<_>>(), total, 40),
            band: false,
        };
        panels.push(Panel {
            title: format!("PPO {env}: mean training episode return"),
            total,
            series: vec![series("rlx", BLUE, &rlx_runs), series("Stable-Baselines3", RED, &sb3_runs)],
        });
    }
    let v = |k: &str| versions[k].as_str().unwrap_or("?").to_string();
    writeln!(md, "# PPO: rlx vs Stable-Baselines3, same rl-zoo3 presets\n")?;
    writeln!(
        md,
        "Command: `scripts/bench ppo-classic` (= `bench_ppo_classic --envs {} --seeds {}`), run {}.",
        args.envs.join(" "),
        args.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
        today()
    )?;
    writeln!(md, "Machine: {}. Peer: Stable-Baselines3 {}, PyTorch {} ({} threads), Gymnasium {}; rlx on the same LibTorch, `--device cpu`.", machine(), v("stable_baselines3"), v("torch"), versions["torch_threads"], v("gymnasium"))?;
    writeln!(md, "Both train each seed on the preset's full budget (presets/ppo/<env>.toml, which the SB3 script reads too), one after the other. Wall-clock is the training loop only (SB3: `model.learn`; rlx: `Ppo::learn`). Evaluation: 10 deterministic episodes of the final policy on a separately seeded env (normalization statistics frozen), then mean +- std over seeds (per-seed means in parentheses).\n")?;
    writeln!(md, "| env | framework | wall-clock s | SPS | eval return | speed-up |")?;
    writeln!(md, "|---|---|---:|---:|---|---:|")?;
    md.push_str(&rows);
    writeln!(md, "\n![learning curves]({})", args.plot.file_name().unwrap().to_string_lossy())?;
    plot_panels(&args.plot, &panels)?;
    std::fs::write(&args.out, &md)?;
    print!("{md}");
    let _ = std::fs::remove_dir_all(&work).ok().filter(|_| args.work_dir.is_none());
    Ok(())
}

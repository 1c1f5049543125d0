//! PPO on Atari, learning side by side: Stable-Baselines3's `PPO("CnnPolicy")` and rlx with the same preset
//! (presets/ppo/atari.toml, rl-zoo3's Atari values) on one game for a CPU-sized budget, seed by seed, one run at a
//! time on this machine. rlx runs in f32 and, as a second variant, with bf16 mixed precision for NatureCNN.
//! Reports per-seed curves (mean full-game training return per fifth of the budget), seeds that stay flat,
//! wall-clock and SPS; writes `results/ppo_atari.md` and `results/ppo_atari.png` (mean and range over seeds).
//!
//! Each finished run is kept as JSON (its curve, SPS and wall-clock) under `results/ppo_atari_runs/`, committed
//! with the results, so a stopped benchmark continues where it was when run again, even from a fresh clone (a run
//! takes 5-15 minutes here).
//!
//! `--side-by-side` trains all variants of one seed at the same time (give each `--torch-threads 1` on 2 cores):
//! both frameworks then see the same machine at the same moment, so this shared VM's drifting speed cannot fake
//! the SPS ratio. A variant that finishes first leaves the others a free core until the seed's last run ends,
//! which favours the slower one.
//!
//! `scripts/bench ppo-atari` runs it (SB3 from requirements/bench.txt, rlx's release binary).

use anyhow::{bail, Context, Result};
use clap::Parser;
use plotters::style::{RGBColor, BLUE, GREEN, RED};
use rlx_benchmarks::curves::{
    bin_curve, json_curve, mean_std, plot_panels, progress_table, rlx_binary, rlx_episode_curve, seed_band,
};
use rlx_benchmarks::curves::{Panel, Series};
use rlx_benchmarks::{machine, run_peer, today};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "BreakoutNoFrameskip-v4")]
    env: String,
    /// Env steps per run (all envs together).
    #[arg(long, default_value_t = 250_000)]
    steps: u64,
    #[arg(long, num_args = 1.., default_values_t = [0u64, 1, 2, 3, 4])]
    seeds: Vec<u64>,
    /// Which runs: `sb3`, `rlx` (f32), `rlx-bf16`.
    #[arg(long, num_args = 1.., default_values = ["sb3", "rlx", "rlx-bf16"])]
    variants: Vec<String>,
    /// A seed is flat when its last fifth's mean return is less than this above its first fifth's.
    #[arg(long, default_value_t = 1.0)]
    flat_gain: f64,
    /// Where finished runs are kept as JSON; delete a file to train that run again.
    #[arg(long, default_value = "results/ppo_atari_runs")]
    keep_dir: PathBuf,
    /// LibTorch / PyTorch intra-op threads of every run; 0 = each framework's default (one per core).
    #[arg(long, default_value_t = 0)]
    torch_threads: usize,
    /// Train all variants of a seed at the same time instead of one run at a time.
    #[arg(long)]
    side_by_side: bool,
    /// rlx's run folders (default: $RLX_CACHE/bench/ppo_atari).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long, default_value = "results/ppo_atari.md")]
    out: PathBuf,
    #[arg(long, default_value = "results/ppo_atari.png")]
    plot: PathBuf,
}

/// One finished training run, as kept in the work folder.
#[derive(serde::Serialize, serde::Deserialize)]
struct Run {
    wall_s: f64,
    sps: f64,
    /// (timestep, full-game raw return) of every training episode.
    curve: Vec<(f64, f64)>,
    /// (timestep, policy entropy, approx_kl, clip fraction, explained variance) of every update; empty in runs kept
    /// before it was recorded.
    #[serde(default)]
    updates: Vec<[f64; 5]>,
    /// (timestep, seconds stepping the envs, seconds of the whole rollout, seconds of the update) of every
    /// iteration; empty in runs kept before it was recorded.
    #[serde(default)]
    timing: Vec<[f64; 4]>,
    versions: serde_json::Value,
}

const VARIANTS: [(&str, &str, RGBColor); 3] =
    [("sb3", "Stable-Baselines3", RED), ("rlx", "rlx (f32)", BLUE), ("rlx-bf16", "rlx (bf16)", GREEN)];

fn label(variant: &str) -> &'static str {
    VARIANTS.iter().find(|v| v.0 == variant).map_or("?", |v| v.1)
}

fn preset_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/ppo/atari.toml")
}

fn run_sb3(args: &Args, seed: u64) -> Result<Run> {
    let out = run_peer(
        "ppo_atari_sb3.py",
        &[
            preset_path().display().to_string(),
            args.env.clone(),
            args.steps.to_string(),
            seed.to_string(),
            args.torch_threads.to_string(),
        ],
    )?;
    let f = |k: &str| out[k].as_f64().with_context(|| format!("the SB3 result has no {k}"));
    Ok(Run {
        wall_s: f("wall_s")?,
        sps: f("sps")?,
        curve: json_curve(&out["curve"])?,
        updates: serde_json::from_value(out["updates"].clone()).unwrap_or_default(),
        timing: serde_json::from_value(out["timing"].clone()).unwrap_or_default(),
        versions: out["versions"].clone(),
    })
}

fn run_rlx(args: &Args, seed: u64, bf16: bool, dir: &Path) -> Result<Run> {
    let _ = std::fs::remove_dir_all(dir);
    let mut command = Command::new(rlx_binary()?);
    command
        .args(["train", "ppo", "--env", &args.env, "--seed", &seed.to_string(), "--device", "cpu", "--quiet"])
        .arg("--run-dir")
        .arg(dir)
        .args(["--set", &format!("total_timesteps={}", args.steps), "--set", "checkpoint_interval=0"]);
    if bf16 {
        command.args(["--set", "precision=bf16"]);
    }
    if args.torch_threads > 0 {
        command.args(["--set", &format!("torch_threads={}", args.torch_threads)]);
    }
    if !command.status()?.success() {
        bail!("rlx train failed for {} seed {seed}", args.env);
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json"))?)?;
    let f = |k: &str| summary[k].as_f64().with_context(|| format!("summary.json has no {k}"));
    Ok(Run {
        wall_s: f("wall_time_s")?,
        sps: f("sps")?,
        curve: rlx_episode_curve(dir)?,
        updates: progress_table(
            dir,
            &["losses/entropy", "losses/approx_kl", "losses/clipfrac", "losses/explained_variance"],
        )?,
        timing: progress_table(dir, &["charts/env_step_seconds", "charts/rollout_seconds", "charts/update_seconds"])?,
        versions: serde_json::json!({ "precision": if bf16 { "bf16" } else { "f32" } }),
    })
}

/// The run of `variant` for `seed`: read from the keep folder, or trained now (rlx in `work`) and kept.
fn run(args: &Args, work: &Path, variant: &str, seed: u64) -> Result<Run> {
    let kept = args.keep_dir.join(format!("{}_{}", args.env, args.steps)).join(format!("{variant}_s{seed}.json"));
    if let Ok(text) = std::fs::read_to_string(&kept) {
        if let Ok(run) = serde_json::from_str(&text) {
            eprintln!("== {} seed {seed}: kept from {}", label(variant), kept.display());
            return Ok(run);
        }
    }
    eprintln!("== {} seed {seed}: training {} for {} steps", label(variant), args.env, args.steps);
    let run = match variant {
        "sb3" => run_sb3(args, seed)?,
        "rlx" => run_rlx(args, seed, false, &work.join(format!("rlx_s{seed}")))?,
        "rlx-bf16" => run_rlx(args, seed, true, &work.join(format!("rlx-bf16_s{seed}")))?,
        other => bail!("unknown variant {other} (sb3, rlx, rlx-bf16)"),
    };
    eprintln!("   {:.0} s, {:.0} SPS, {} episodes", run.wall_s, run.sps, run.curve.len());
    std::fs::create_dir_all(kept.parent().unwrap_or(Path::new(".")))?;
    let tmp = kept.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string(&run)?)?;
    std::fs::rename(&tmp, &kept)?;
    Ok(run)
}

fn report(args: &Args, runs: &[(String, u64, Run)]) -> Result<()> {
    let total = args.steps as f64;
    let fifths = |r: &Run| bin_curve(&r.curve, total, 5);
    let cell = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.1}"));
    let step_k = |i: usize| format!("{:.0}-{:.0}k", total / 5e3 * i as f64, total / 5e3 * (i + 1) as f64);
    let planned = args.seeds.len() * args.variants.len();
    let mut md = String::new();
    writeln!(md, "# PPO on Atari: rlx vs Stable-Baselines3, learning side by side\n")?;
    let sb3_versions = runs.iter().find(|r| r.0 == "sb3").map(|r| r.2.versions.clone()).unwrap_or_default();
    let v = |k: &str| sb3_versions[k].as_str().unwrap_or("?").to_string();
    writeln!(
        md,
        "Command: `scripts/bench ppo-atari{}` (= `bench_ppo_atari --env {} --steps {} --seeds {} --variants {}`), \
         last run finished {}; {} of {planned} runs done.",
        match (args.side_by_side, args.torch_threads) {
            (true, 0) => " --side-by-side".to_string(),
            (true, n) => format!(" --side-by-side --torch-threads {n}"),
            (false, 0) => String::new(),
            (false, n) => format!(" --torch-threads {n}"),
        },
        args.env,
        args.steps,
        args.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
        args.variants.join(" "),
        today(),
        runs.len()
    )?;
    writeln!(
        md,
        "Machine: {}, CPU only, {}. Peer: Stable-Baselines3 {}, PyTorch {} ({} threads), ale-py {}.",
        machine(),
        if args.side_by_side {
            "the variants of each seed trained at the same time (side by side, so both see the same machine)"
        } else {
            "one run at a time"
        },
        v("stable_baselines3"),
        v("torch"),
        sb3_versions["torch_threads"],
        v("ale_py")
    )?;
    writeln!(
        md,
        "Both use presets/ppo/atari.toml (rl-zoo3: 8 envs, n_steps 128, 4 epochs of 256, lr and clip range linear \
         to 0 over the budget, ent_coef 0.01) with SB3's Atari frames: SB3 on `make_atari_env` + `VecFrameStack(4)`, \
         rlx on its own pool (frame_pipeline sb3 and stack_padding zeros: the same stacks byte for byte; 2 env \
         threads). Returns are whole games, unclipped (SB3's Monitor; rlx's `charts/episodic_return`). A seed is \
         *flat* when its last fifth's mean return is less than {} above its first fifth's.\n",
        args.flat_gain
    )?;

    writeln!(md, "Mean training return per fifth of the budget, each seed:\n")?;
    writeln!(md, "| run | {} | SPS | wall-clock |", (0..5).map(step_k).collect::<Vec<_>>().join(" | "))?;
    writeln!(md, "|---|{}---:|---:|", "---:|".repeat(5))?;
    for (variant, seed, r) in runs {
        let bins: Vec<String> = fifths(r).into_iter().map(cell).collect();
        writeln!(md, "| {} seed {seed} | {} | {:.0} | {:.0} s |", label(variant), bins.join(" | "), r.sps, r.wall_s)?;
    }

    writeln!(md, "\nOver seeds (mean +- std):\n")?;
    writeln!(md, "| framework | seeds | first fifth | last fifth | flat seeds | SPS | vs SB3 SPS |")?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|")?;
    let sb3_sps = mean_std(&runs.iter().filter(|r| r.0 == "sb3").map(|r| r.2.sps).collect::<Vec<_>>()).0;
    let mut panel =
        Panel { title: format!("PPO {}: training return (mean, range of seeds)", args.env), total, series: vec![] };
    for (variant, name, color) in VARIANTS {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.0 == variant).map(|r| &r.2).collect();
        if mine.is_empty() {
            continue;
        }
        let first: Vec<f64> = mine.iter().filter_map(|r| fifths(r)[0]).collect();
        let last: Vec<f64> = mine.iter().filter_map(|r| fifths(r)[4]).collect();
        let flat = mine.iter().filter(|r| fifths(r)[4].unwrap_or(0.0) < fifths(r)[0].unwrap_or(0.0) + args.flat_gain);
        let (f, l, sps) =
            (mean_std(&first), mean_std(&last), mean_std(&mine.iter().map(|r| r.sps).collect::<Vec<_>>()));
        let ratio = if sb3_sps > 0.0 { format!("{:.2}x", sps.0 / sb3_sps) } else { "-".into() };
        writeln!(
            md,
            "| {name} | {} | {:.2} +- {:.2} | **{:.2} +- {:.2}** | {} | {:.0} +- {:.0} | {ratio} |",
            mine.len(),
            f.0,
            f.1,
            l.0,
            l.1,
            flat.count(),
            sps.0,
            sps.1
        )?;
        let curves: Vec<&[(f64, f64)]> = mine.iter().map(|r| r.curve.as_slice()).collect();
        panel.series.push(Series { label: name.into(), color, points: seed_band(&curves, total, 25), band: true });
    }
    // How the updates went: mean policy entropy (ln 4 = 1.386 for Breakout's uniform policy) per fifth.
    let recorded: Vec<&(String, u64, Run)> = runs.iter().filter(|r| !r.2.updates.is_empty()).collect();
    if !recorded.is_empty() {
        writeln!(md, "\nPolicy entropy after each update, mean per fifth (runs that recorded it):\n")?;
        writeln!(md, "| run | {} |", (0..5).map(step_k).collect::<Vec<_>>().join(" | "))?;
        writeln!(md, "|---|{}", "---:|".repeat(5))?;
        for (variant, seed, r) in recorded {
            let entropy: Vec<(f64, f64)> = r.updates.iter().map(|u| (u[0], u[1])).collect();
            let bins: Vec<String> = bin_curve(&entropy, total, 5)
                .into_iter()
                .map(|x| x.map_or("-".into(), |x| format!("{x:.3}")))
                .collect();
            writeln!(md, "| {} seed {seed} | {} |", label(variant), bins.join(" | "))?;
        }
    }
    // Where an iteration's time goes (runs that recorded it): the profile the speed comparison starts from.
    let timed: Vec<&(String, u64, Run)> = runs.iter().filter(|r| !r.2.timing.is_empty()).collect();
    if !timed.is_empty() {
        // Both frameworks log each iteration at its last step, so the first row's step is one rollout's length.
        let steps_per_iteration = timed[0].2.timing[0][0];
        writeln!(
            md,
            "\nWhere an iteration ({steps_per_iteration} env steps) spends its time, mean seconds over the run's \
             iterations (runs that recorded it; env = inside the vector env's step, frame stacking included; \
             policy = the rest of the rollout: forward passes, sampling, buffer, GAE; update = 4 epochs of \
             minibatches):\n"
        )?;
        writeln!(md, "| run | env | policy | update | iteration | update share |")?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|")?;
        for (variant, seed, r) in timed {
            let mean = |k: usize| r.timing.iter().map(|t| t[k]).sum::<f64>() / r.timing.len() as f64;
            let (env, rollout, update) = (mean(1), mean(2), mean(3));
            writeln!(
                md,
                "| {} seed {seed} | {env:.3} | {:.3} | {update:.3} | {:.3} | {:.0}% |",
                label(variant),
                rollout - env,
                rollout + update,
                100.0 * update / (rollout + update)
            )?;
        }
    }
    writeln!(md, "\n![PPO Atari learning curves]({})", args.plot.file_name().unwrap_or_default().to_string_lossy())?;
    plot_panels(&args.plot, &[panel])?;
    std::fs::write(&args.out, &md)?;
    print!("{md}");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            let cache = std::env::var("RLX_CACHE").context("RLX_CACHE is unset: run through scripts/bench")?;
            Path::new(&cache).join("bench/ppo_atari")
        }
    };
    std::fs::create_dir_all(&work)?;
    let mut runs = Vec::new();
    for &seed in &args.seeds {
        if args.side_by_side {
            let finished: Vec<Result<Run>> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    args.variants.iter().map(|v| scope.spawn(|| run(&args, &work, v, seed))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a run's thread panicked"))).collect()
            });
            for (variant, result) in args.variants.iter().zip(finished) {
                runs.push((variant.clone(), seed, result?));
            }
        } else {
            for variant in &args.variants {
                runs.push((variant.clone(), seed, run(&args, &work, variant, seed)?));
            }
        }
        report(&args, &runs)?;
    }
    Ok(())
}

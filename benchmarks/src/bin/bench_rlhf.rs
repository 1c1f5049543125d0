//! The RLHF study: for each seed, `rlx rlhf all` with the default preset (pretraining, SFT, the reward model, PPO
//! at the first KL coefficient, DPO at the first beta, `eval`), then PPO at the other KL coefficients and DPO at the
//! other betas from the same fine-tuned and reward models, each judged by `rlx rlhf eval` on the same held-out
//! prompts. Writes `results/rlhf_study.md` (every method's gold and proxy reward, KL to SFT, gold win rate against
//! SFT, end rate, distinct-2 and perplexity as mean +- std over seeds; the reward model's accuracy; wall time per
//! stage) and `results/rlhf_overoptimization.png` (every seed's PPO runs, gold and proxy reward against sqrt(KL),
//! through `plot_rlhf`).
//!
//! Every run keeps its folder under `--work` (default `$RLX_CACHE/bench/rlhf`): a stopped study resumes stage by
//! stage, and a finished one only rebuilds the report.
//!
//! usage: bench_rlhf [--preset default] [--seeds 0 1 2] [--kl-coefs 0.05 0.1 0.2] [--betas 0.1 0.3 0.03] [--set section.key=value]...

use anyhow::{bail, Context, Result};
use clap::Parser;
use rlx_benchmarks::curves::{mean_std, rlx_binary};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
struct Args {
    #[arg(long, num_args = 1.., default_values_t = [0u64, 1, 2])]
    seeds: Vec<u64>,
    /// PPO's KL coefficients; the first is trained by `rlx rlhf all`, the others beside it.
    #[arg(long, num_args = 1.., default_values_t = [0.05f64, 0.1, 0.2])]
    kl_coefs: Vec<f64>,
    /// DPO's betas; the first is trained by `rlx rlhf all`, the others beside it.
    #[arg(long, num_args = 1.., default_values_t = [0.1f64, 0.3, 0.03])]
    betas: Vec<f64>,
    /// The preset of `rlx rlhf all` (presets/rlhf/NAME.toml).
    #[arg(long, default_value = "default")]
    preset: String,
    /// Config overrides for every run (a smaller study: `--set pretrain.iters=100`).
    #[arg(long = "set")]
    overrides: Vec<String>,
    /// Where the runs are kept (default `$RLX_CACHE/bench/rlhf`).
    #[arg(long)]
    work: Option<PathBuf>,
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

/// Runs `rlx rlhf ARGS...` with the study's overrides; its output streams to the terminal.
fn rlhf(args: &Args, command: &[&str]) -> Result<()> {
    let mut cmd = Command::new(rlx_binary()?);
    cmd.arg("rlhf").args(command).arg("--quiet");
    for o in &args.overrides {
        cmd.args(["--set", o]);
    }
    eprintln!("== rlx rlhf {}", command.join(" "));
    let status = cmd.status()?;
    if !status.success() {
        bail!("rlx rlhf {} failed ({status})", command.join(" "));
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// A copy of the base run's tokenizer, config and first three stages, for a PPO or DPO variant beside it.
fn branch(base: &Path, dir: &Path) -> Result<()> {
    if dir.join("config.toml").exists() {
        return Ok(());
    }
    for stage in ["pretrain", "sft", "rm"] {
        std::fs::create_dir_all(dir.join(stage))?;
        for entry in std::fs::read_dir(base.join(stage))? {
            let entry = entry?;
            std::fs::copy(entry.path(), dir.join(stage).join(entry.file_name()))?;
        }
    }
    std::fs::copy(base.join("tokenizer.json"), dir.join("tokenizer.json"))?;
    std::fs::copy(base.join("config.toml"), dir.join("config.toml"))?;
    Ok(())
}

/// Trains `stage` (ppo or dpo) in the variant folder `dir` with `setting`, or resumes it, then judges it.
fn variant(args: &Args, base: &Path, dir: &Path, stage: &str, setting: &str) -> Result<()> {
    if dir.join("eval/summary.json").exists() {
        return Ok(());
    }
    branch(base, dir)?;
    let d = dir.to_str().context("a UTF-8 path")?;
    if dir.join(stage).join("checkpoint.safetensors").exists() {
        rlhf(args, &["--resume", d])?;
    } else {
        rlhf(args, &[stage, d, "--set", setting])?;
    }
    rlhf(args, &["eval", d])
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = match &args.work {
        Some(w) => w.clone(),
        None => PathBuf::from(std::env::var("RLX_CACHE").context("RLX_CACHE is unset: run through scripts/bench")?)
            .join("bench/rlhf"),
    };
    let (k0, b0) = (args.kl_coefs[0], args.betas[0]);
    // Per seed: the base run and its variants' folders.
    let mut folders: Vec<(u64, Vec<PathBuf>)> = Vec::new();
    for &seed in &args.seeds {
        let base = work.join(format!("s{seed}"));
        let b = base.to_str().context("a UTF-8 path")?.to_string();
        if !base.join("eval/summary.json").exists() {
            let (kl, beta) = (format!("ppo.kl_coef={k0}"), format!("dpo.beta={b0}"));
            let s = seed.to_string();
            rlhf(
                &args,
                &["all", "--preset", &args.preset, "--seed", &s, "--run-dir", &b, "--set", &kl, "--set", &beta],
            )?;
        }
        let mut dirs = vec![base.clone()];
        for &k in &args.kl_coefs[1..] {
            let dir = work.join(format!("s{seed}_kl{k}"));
            variant(&args, &base, &dir, "ppo", &format!("ppo.kl_coef={k}"))?;
            dirs.push(dir);
        }
        for &b in &args.betas[1..] {
            let dir = work.join(format!("s{seed}_beta{b}"));
            variant(&args, &base, &dir, "dpo", &format!("dpo.beta={b}"))?;
            dirs.push(dir);
        }
        folders.push((seed, dirs));
    }

    // Every policy row of every folder, by name, over seeds (SFT and best-of-n from the base runs only).
    let mut rows: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (_, dirs) in &folders {
        for (i, dir) in dirs.iter().enumerate() {
            for row in read_json(&dir.join("eval/summary.json"))?["policies"].as_array().cloned().unwrap_or_default() {
                let name = row["policy"].as_str().unwrap_or("?").to_string();
                if i > 0 && (name == "SFT" || name.starts_with("best-of")) {
                    continue;
                }
                if !order.contains(&name) {
                    order.push(name.clone());
                }
                rows.entry(name).or_default().push(row);
            }
        }
    }
    // SFT, best-of-n, the PPO runs, the DPO runs.
    let rank = |name: &String| ["SFT", "best-of", "PPO", "DPO"].iter().position(|p| name.starts_with(p)).unwrap_or(4);
    order.sort_by_key(rank);
    let stat = |values: &[serde_json::Value], key: &str, scale: f64, digits: usize| -> String {
        let xs: Vec<f64> = values.iter().filter_map(|v| v[key].as_f64()).map(|x| x * scale).collect();
        if xs.is_empty() {
            return "-".into();
        }
        let (m, s) = mean_std(&xs);
        format!("{m:.digits$} +- {s:.digits$}")
    };

    let mut md = String::new();
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let plural = if args.seeds.len() == 1 { "" } else { "s" };
    writeln!(md, "# RLHF on Shakespeare: every method, {} seed{plural}\n", args.seeds.len())?;
    writeln!(
        md,
        "Command: `scripts/bench rlhf --preset {} --seeds {} --kl-coefs {} --betas {}{}` (per seed `rlx rlhf all` \
         with presets/rlhf/{0}.toml, then PPO and DPO at the other settings from the same SFT and reward models, each \
         judged by `rlx rlhf eval`), finished {}. Machine: {}, CPU only.\n",
        args.preset,
        seeds.join(" "),
        args.kl_coefs.iter().map(f64::to_string).collect::<Vec<_>>().join(" "),
        args.betas.iter().map(f64::to_string).collect::<Vec<_>>().join(" "),
        args.overrides.iter().map(|o| format!(" --set {o}")).collect::<String>(),
        rlx_benchmarks::today(),
        rlx_benchmarks::machine()
    )?;
    writeln!(
        md,
        "Each policy continues the same held-out prompts (the opening words of held-out lines) at temperature 0.7. \
         The gold reward is hidden from training; the proxy reward is the reward model's normalized score (0 on \
         SFT's samples by construction); KL is to the SFT policy in nats per continuation (best-of-n: ln n - (n-1)/n); \
         the win rate is the gold judge's preference over SFT's continuation of the same prompt. Mean +- std over \
         seeds.\n"
    )?;
    writeln!(
        md,
        "| method | gold reward | proxy reward | KL to SFT | gold win rate vs SFT (%) | ends its line (%) | \
         distinct-2 | perplexity |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for name in &order {
        let v = &rows[name];
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            stat(v, "gold_reward", 1.0, 3),
            stat(v, "proxy_reward", 1.0, 3),
            stat(v, "kl", 1.0, 2),
            stat(v, "win_rate", 100.0, 1),
            stat(v, "end_rate", 100.0, 0),
            stat(v, "distinct_2", 1.0, 3),
            stat(v, "perplexity", 1.0, 1)
        )?;
    }

    // The reward model and the stages' wall time, from the base runs.
    let bases: Vec<&PathBuf> = folders.iter().map(|(_, d)| &d[0]).collect();
    let summaries = |stage: &str| -> Result<Vec<serde_json::Value>> {
        bases.iter().map(|b| read_json(&b.join(stage).join("summary.json"))).collect()
    };
    let rm = summaries("rm")?;
    writeln!(
        md,
        "\nReward model: held-out accuracy {}% on the noisy labels (ceiling {}%), {}% against the gold ranking.\n",
        stat(&rm, "val_accuracy", 100.0, 1),
        stat(&rm, "val_ceiling", 100.0, 1),
        stat(&rm, "val_gold_accuracy", 100.0, 1)
    )?;
    writeln!(md, "| stage (`rlx rlhf all`) | wall time (s) |\n|---|---:|")?;
    for stage in ["pretrain", "sft", "rm", "ppo", "dpo", "eval"] {
        writeln!(md, "| {stage} | {} |", stat(&summaries(stage)?, "wall_time_s", 1.0, 0))?;
    }

    // Every seed's PPO runs on one over-optimization plot (a colour per KL coefficient).
    let ppo_runs: Vec<&PathBuf> = folders.iter().flat_map(|(_, d)| d.iter().take(args.kl_coefs.len())).collect();
    let seeds: Vec<String> = folders.iter().map(|(seed, _)| seed.to_string()).collect();
    let png = args.out.join("rlhf_overoptimization.png");
    let plot = rlx_binary()?.with_file_name("plot_rlhf");
    let mut cmd = Command::new(&plot);
    let title = format!("RLHF on Shakespeare, seed{} {}", if seeds.len() > 1 { "s" } else { "" }, seeds.join(", "));
    cmd.arg(&png).args(&ppo_runs).args(["--title", &title]);
    if !cmd.status().with_context(|| format!("cannot run {}", plot.display()))?.success() {
        bail!("plot_rlhf failed");
    }
    writeln!(md, "\n![over-optimization](rlhf_overoptimization.png)")?;
    let path = args.out.join("rlhf_study.md");
    std::fs::write(&path, md)?;
    println!("wrote {} and {}", path.display(), png.display());
    Ok(())
}

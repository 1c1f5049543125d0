//! Atari throughput, rlx side by side with EnvPool and ale-py in one run: agent steps/s and frames/s of the full
//! preprocessing chain (no-op reset, frame skip 4 with max-pool, episodic life, FIRE reset, 84x84 grayscale,
//! reward clipping, stack of 4) with random actions, plus the raw emulation ceiling (ALE `act` alone).
//!
//! `scripts/bench envs-atari` runs it and writes `results/envs_atari.md`.

use anyhow::Result;
use clap::Parser;
use rand::{Rng, SeedableRng};
use rlx_benchmarks::{machine, median_of, rate, run_peer, si, today};
use rlx_envs::atari::{make_atari, make_atari_with, AtariConfig};
use rlx_envs::vector::{Actions, ThreadedVecEnv, VecEnv};
use rlx_envs::{Action, Env};
use std::fmt::Write;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    #[arg(long, default_value = "results/envs_atari.md")]
    out: String,
    #[arg(long, num_args = 1.., default_values = ["Pong", "Breakout"])]
    games: Vec<String>,
}

fn table(actions: i64, num_envs: usize) -> Vec<Vec<i64>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    (0..1024).map(|_| (0..num_envs).map(|_| rng.random_range(0..actions)).collect()).collect()
}

fn n_actions(env: &impl Env) -> i64 {
    match env.action_space() {
        rlx_envs::Space::Discrete { n, .. } => *n,
        _ => unreachable!("Atari actions are discrete"),
    }
}

/// Raw emulation, one frame per step (the ceiling; the screen copy is the only extra work).
fn raw_frames(game: &str, seconds: f64) -> f64 {
    let mut env = make_atari_with(&format!("{game}NoFrameskip-v4"), AtariConfig::raw()).unwrap();
    let t = table(n_actions(&env), 1);
    let mut obs = vec![0u8; env.observation_space().flat_dim()];
    env.reset_into(Some(0), &mut obs);
    rate(seconds, |i| {
        if env.step_into(Action::Discrete(t[i & 1023][0]), &mut obs).unwrap().done() {
            env.reset_into(None, &mut obs);
        }
    })
}

fn pool(game: &str, num_envs: usize, threads: usize, seconds: f64) -> f64 {
    let id = format!("{game}NoFrameskip-v4");
    let mut env = ThreadedVecEnv::new(num_envs, threads, move |_| make_atari(&id)).unwrap();
    let n = match env.single_action_space() {
        rlx_envs::Space::Discrete { n, .. } => *n,
        _ => unreachable!(),
    };
    let t = table(n, num_envs);
    env.reset(Some(0)).unwrap();
    for actions in &t[..20] {
        env.step(Actions::Discrete(actions)).unwrap();
    }
    rate(seconds, |i| {
        env.step(Actions::Discrete(&t[i & 1023])).unwrap();
    }) * num_envs as f64
}

fn main() -> Result<()> {
    let args = Args::parse();
    eprintln!("== peers (ale-py, envpool)");
    let mut peer_args = vec![args.seconds.to_string()];
    peer_args.extend(args.games.iter().cloned());
    let peers = run_peer("envs_atari.py", &peer_args)?;
    let peer = |name: &str, mode: &str, game: &str, n: u64, t: u64| -> Option<f64> {
        peers["results"].as_array()?.iter().find(|r| {
            r["peer"] == name && r["mode"] == mode && r["game"] == game && r["num_envs"] == n && r["threads"] == t
        })?["steps_per_s"]
            .as_f64()
    };
    let (s, r) = (args.seconds, args.repeats);
    let mut rows = String::new();
    let mut ceiling_rows = String::new();
    eprintln!("== rlx");
    for game in &args.games {
        let raw = median_of(r, || raw_frames(game, s));
        let ale_py_raw = peer("ale-py", "raw act", game, 1, 1);
        writeln!(ceiling_rows, "| {game} | {} | {} |", si(raw), ale_py_raw.map_or("n/a".into(), si))?;
        for (n, t) in [(1usize, 1usize), (8, 1), (8, 2), (32, 1), (32, 2)] {
            let ours = median_of(r, || pool(game, n, t, s));
            eprintln!("rlx {game} n={n} t={t}: {} steps/s", si(ours));
            let envpool = peer("envpool", "pool", game, n as u64, t as u64);
            let ratio = envpool.map_or("n/a".into(), |e| format!("{:.2}x", ours / e));
            // Share of the emulation ceiling: 4 frames per step against raw frames/s times the threads used.
            let ceiling = 100.0 * ours * 4.0 / (raw * t as f64);
            writeln!(
                rows,
                "| {game} | {n} | {t} | {} | {} | {} | {ratio} | {ceiling:.0}% |",
                si(ours),
                si(ours * 4.0),
                envpool.map_or("n/a".into(), si)
            )?;
        }
        let gym = peer("ale-py", "gymnasium", game, 1, 1);
        writeln!(
            rows,
            "| {game} | 1 | 1 | (single env above) | | ale-py + AtariPreprocessing: {} | | |",
            gym.map_or("n/a".into(), si)
        )?;
    }
    let v = |k: &str| peers["versions"][k].as_str().unwrap_or("not installed").to_string();
    let mut md = String::new();
    writeln!(md, "# Atari throughput: rlx vs EnvPool and ale-py\n")?;
    writeln!(
        md,
        "Command: `scripts/bench envs-atari` (= `bench_envs_atari --seconds {s} --repeats {r}`), run {}.",
        today()
    )?;
    writeln!(
        md,
        "Machine: {}. Peers: EnvPool {} (`<Game>-v5`: its v4 + baselines wrappers), ale-py {}, Gymnasium {}.",
        machine(),
        v("envpool"),
        v("ale_py"),
        v("gymnasium")
    )?;
    writeln!(md, "rlx: `<Game>NoFrameskip-v4` with its default chain (no-op reset 30, skip 4 + max-pool, episodic life, FIRE reset, 84x84 area-resized ALE grayscale, reward sign, stack 4) in a `ThreadedVecEnv`. Random actions; an agent step is 4 emulator frames.\n")?;
    writeln!(md, "| game | envs | threads | rlx steps/s | rlx frames/s | EnvPool steps/s | rlx / EnvPool | share of raw ceiling x threads |")?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    md.push_str(&rows);
    writeln!(md, "\nRaw emulation ceiling, frames/s on one core (ALE `act` only: rlx's ALE 0.6 with a screen copy per frame; ale-py's ALE `act` loop in Python):\n")?;
    writeln!(md, "| game | rlx raw frames/s | ale-py raw frames/s |")?;
    writeln!(md, "|---|---:|---:|")?;
    md.push_str(&ceiling_rows);
    std::fs::write(&args.out, &md)?;
    print!("{md}");
    Ok(())
}

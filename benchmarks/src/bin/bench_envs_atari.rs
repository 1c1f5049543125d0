//! Atari throughput, rlx side by side with EnvPool and ale-py on this machine: agent steps/s and frames/s of the
//! full preprocessing chain (no-op reset, frame skip 4 with max-pool, episodic life, FIRE reset, 84x84 grayscale,
//! reward clipping, stack of 4) with random actions, in sync and async mode, plus the raw emulation ceiling (ALE
//! `act` alone).
//!
//! Every rlx measurement is paired with the peer's, taken right after it, and the rounds repeat: the table shows
//! medians of the rates and of the paired ratios. `scripts/bench envs-atari` runs it and writes
//! `results/envs_atari.md`.

use anyhow::{Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use rlx_benchmarks::{machine, median, rate, si, today, PeerServer};
use rlx_envs::atari::{make_atari_with, parse_id, AtariConfig, Emulator, EmulatorSettings, FramePipeline, Rom};
use rlx_envs::vector::{Actions, AsyncVecEnv, ThreadedVecEnv, VecEnv};
use rlx_envs::Space;
use serde_json::json;
use std::fmt::Write;

#[derive(Parser)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Rounds of paired measurements; the table shows medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value = "results/envs_atari.md")]
    out: String,
    #[arg(long, num_args = 1.., default_values = ["Pong", "Breakout"])]
    games: Vec<String>,
}

/// A pool layout: envs, threads, and the batch `recv` returns (= envs for sync mode).
#[derive(Clone, Copy)]
struct Layout {
    envs: usize,
    threads: usize,
    batch: usize,
}

const LAYOUTS: [Layout; 7] = [
    Layout { envs: 1, threads: 1, batch: 1 },
    Layout { envs: 8, threads: 1, batch: 8 },
    Layout { envs: 8, threads: 2, batch: 8 },
    Layout { envs: 32, threads: 1, batch: 32 },
    Layout { envs: 32, threads: 2, batch: 32 },
    Layout { envs: 8, threads: 2, batch: 4 },
    Layout { envs: 32, threads: 2, batch: 16 },
];

/// 1024 pre-drawn rows of random actions.
fn table(actions: i64, num_envs: usize) -> Vec<Vec<i64>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    (0..1024).map(|_| (0..num_envs).map(|_| rng.random_range(0..actions)).collect()).collect()
}

fn n_actions(space: &Space) -> i64 {
    match space {
        Space::Discrete { n, .. } => *n,
        _ => unreachable!("Atari actions are discrete"),
    }
}

/// Raw emulation on `threads` threads at once, one emulator each: ALE `act` alone, one frame per call, reset at game
/// over (as ale-py's raw loop). Total frames/s.
fn raw_frames(game: &str, threads: usize, seconds: f64) -> f64 {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let game = game.to_string();
            std::thread::spawn(move || {
                let (_, rom, _) = parse_id(&format!("{game}NoFrameskip-v4")).unwrap();
                let settings =
                    EmulatorSettings { repeat_action_probability: 0.0, random_seed: 1, full_action_space: false };
                let mut ale = Emulator::new(Rom::bundled(rom), settings).unwrap();
                let t = table(ale.actions.len() as i64, 1);
                let codes: Vec<i32> = t.iter().map(|row| ale.actions[row[0] as usize]).collect();
                ale.reset_game();
                rate(seconds, |i| {
                    ale.act(codes[i & 1023]);
                    if ale.game_over() {
                        ale.reset_game();
                    }
                })
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// Agent steps/s of rlx's pool with the given frame pipeline: `ThreadedVecEnv` in sync mode, `AsyncVecEnv` (recv,
/// then send to those envs) otherwise.
fn pool(game: &str, layout: Layout, pipeline: FramePipeline, seconds: f64) -> f64 {
    let id = format!("{game}NoFrameskip-v4");
    let config = AtariConfig { frame_pipeline: pipeline, ..parse_id(&id).unwrap().2 };
    let make = move |_| make_atari_with(&id, config.clone());
    let Layout { envs, threads, batch } = layout;
    if batch == envs {
        let mut env = ThreadedVecEnv::new(envs, threads, make).unwrap();
        let t = table(n_actions(env.single_action_space()), envs);
        env.reset(Some(0)).unwrap();
        for actions in &t[..20] {
            env.step(Actions::Discrete(actions)).unwrap();
        }
        return rate(seconds, |i| {
            env.step(Actions::Discrete(&t[i & 1023])).unwrap();
        }) * envs as f64;
    }
    let mut env = AsyncVecEnv::new(envs, threads, batch, make).unwrap();
    let t = table(n_actions(env.single_action_space()), batch);
    env.async_reset(Some(0)).unwrap();
    let mut step = |i: usize| {
        env.recv().unwrap();
        env.send_received(Actions::Discrete(&t[i & 1023])).unwrap();
    };
    (0..20).for_each(&mut step);
    rate(seconds, step) * batch as f64
}

/// Paired measurements of one table row: rlx with SB3's frames (the default), rlx with ALE's grayscale, the peer.
#[derive(Default)]
struct Pairs {
    ours: Vec<f64>,
    ours_ale: Vec<f64>,
    theirs: Vec<f64>,
}

impl Pairs {
    fn push(&mut self, ours: f64, ours_ale: f64, theirs: Option<f64>) {
        self.ours.push(ours);
        self.ours_ale.push(ours_ale);
        self.theirs.extend(theirs);
    }
    fn ratio(&self) -> Option<f64> {
        (self.theirs.len() == self.ours.len()).then(|| paired_ratio(&self.ours, &self.theirs))
    }
}

/// The median of the ratios of paired measurements.
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    median(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut peer = PeerServer::start("envs_atari.py")?;
    let has_envpool = !peer.hello["versions"]["envpool"].is_null();
    let (s, rounds) = (args.seconds, args.rounds);
    let mut ask =
        |request: serde_json::Value| -> Result<Option<f64>> { Ok(peer.ask(&request)?["steps_per_s"].as_f64()) };

    let mut rows = String::new();
    let mut ceiling_rows = String::new();
    for game in &args.games {
        let mut pools: Vec<Pairs> = LAYOUTS.iter().map(|_| Pairs::default()).collect();
        let (mut raw, mut raw_ale_py, mut raw_two, mut gym) = (vec![], vec![], vec![], vec![]);
        for round in 0..rounds {
            eprintln!("== {game}, round {} of {rounds}", round + 1);
            raw.push(raw_frames(game, 1, s));
            raw_ale_py.extend(ask(json!({"peer": "raw", "game": game, "seconds": s}))?);
            raw_two.push(raw_frames(game, 2, s));
            gym.extend(ask(json!({"peer": "gymnasium", "game": game, "seconds": s}))?);
            for (layout, pairs) in LAYOUTS.iter().zip(&mut pools) {
                let ours = pool(game, *layout, FramePipeline::Sb3, s);
                let ours_ale = pool(game, *layout, FramePipeline::Ale, s);
                let theirs = if has_envpool {
                    let request = json!({"peer": "envpool", "game": game, "num_envs": layout.envs,
                        "threads": layout.threads, "batch_size": layout.batch, "seconds": s});
                    ask(request)?
                } else {
                    None
                };
                eprintln!(
                    "  envs {} threads {} batch {}: rlx {} (ale frames {}) vs EnvPool {} steps/s",
                    layout.envs,
                    layout.threads,
                    layout.batch,
                    si(ours),
                    si(ours_ale),
                    theirs.map_or("n/a".into(), si)
                );
                pairs.push(ours, ours_ale, theirs);
            }
        }
        let raw_one = median(&raw);
        writeln!(
            ceiling_rows,
            "| {game} | {} | {} | {:.2}x | {} |",
            si(raw_one),
            si(median(&raw_two)),
            median(&raw_two) / raw_one,
            if raw_ale_py.is_empty() { "n/a".into() } else { si(median(&raw_ale_py)) }
        )?;
        for (layout, pairs) in LAYOUTS.iter().zip(&pools) {
            let ours = median(&pairs.ours);
            let mode =
                if layout.batch == layout.envs { "sync".to_string() } else { format!("async, batch {}", layout.batch) };
            // Share of the emulation ceiling: 4 frames per step against raw frames/s on one core times the threads.
            let ceiling = 100.0 * ours * 4.0 / (raw_one * layout.threads as f64);
            writeln!(
                rows,
                "| {game} | {} | {} | {mode} | {} | {} | {} | {:.2}x | {} | {} | {ceiling:.0}% |",
                layout.envs,
                layout.threads,
                si(ours),
                si(ours * 4.0),
                si(median(&pairs.ours_ale)),
                paired_ratio(&pairs.ours, &pairs.ours_ale),
                if pairs.theirs.is_empty() { "n/a".into() } else { si(median(&pairs.theirs)) },
                pairs.ratio().map_or("n/a".into(), |r| format!("{r:.2}x")),
            )?;
        }
        writeln!(
            rows,
            "| {game} | 1 | 1 | ale-py + AtariPreprocessing + FrameStack | | | | | {} | | |",
            if gym.is_empty() { "n/a".into() } else { si(median(&gym)) }
        )?;
    }

    let v = |k: &str| peer.hello["versions"][k].as_str().unwrap_or("not installed").to_string();
    let mut md = String::new();
    writeln!(md, "# Atari throughput: rlx vs EnvPool and ale-py\n")?;
    writeln!(
        md,
        "Command: `scripts/bench envs-atari` (= `bench_envs_atari --seconds {s} --rounds {rounds}`), run {}.",
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
    writeln!(md, "rlx: `<Game>NoFrameskip-v4` with its default chain (no-op reset 30, skip 4 + max-pool, episodic life, FIRE reset, 84x84 area resize, reward sign, stack 4) and its default frame pipeline `sb3` (max of the last two RGB screens + OpenCV's luma: SB3's AtariWrapper bytes), then the same chain with the `ale` pipeline (ALE's grayscale screens, as Gymnasium's AtariPreprocessing and EnvPool): `ThreadedVecEnv` in sync mode, `AsyncVecEnv` (recv the first `batch` envs, send them actions) in async mode, EnvPool with the same `num_envs`, `batch_size` and `num_threads`. Random actions; an agent step is 4 emulator frames.\n")?;
    writeln!(md, "Each rlx measurement ({s} s, `sb3` then `ale`) is followed by the peer's, and the {rounds} rounds alternate: rates are medians, ratios are medians of the paired ratios (this VM's speed drifts by 20-30% over minutes).\n")?;
    writeln!(md, "| game | envs | threads | mode | rlx steps/s | rlx frames/s | rlx `ale` steps/s | `sb3` / `ale` | EnvPool steps/s | rlx / EnvPool | share of raw ceiling x threads |")?;
    writeln!(md, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")?;
    md.push_str(&rows);
    writeln!(md, "\nRaw emulation ceiling, frames/s (ALE `act` only, one frame per call, reset at game over: rlx's ALE 0.6, one emulator per thread; ale-py's ALE 0.12 `act` loop in Python, one core):\n")?;
    writeln!(md, "| game | rlx, 1 thread | rlx, 2 threads | scaling | ale-py, 1 thread |")?;
    writeln!(md, "|---|---:|---:|---:|---:|")?;
    md.push_str(&ceiling_rows);
    std::fs::write(&args.out, &md).with_context(|| format!("cannot write {}", args.out))?;
    print!("{md}");
    Ok(())
}

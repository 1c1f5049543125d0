//! Classic-control throughput, rlx side by side with Gymnasium and EnvPool in one run, random actions.
//!
//! `scripts/bench envs-classic` runs it and writes `results/envs_classic.md`.

use anyhow::Result;
use clap::Parser;
use rand::{Rng, SeedableRng};
use rlx_benchmarks::{machine, median_of, rate, run_peer, si, today};
use rlx_envs::vector::{Actions, SyncVecEnv, ThreadedVecEnv, VecEnv};
use rlx_envs::{make, Action, Env, Space};
use std::fmt::Write;

#[derive(Parser)]
struct Args {
    /// Seconds per timed run.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Runs per configuration; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Where to write the markdown table.
    #[arg(long, default_value = "results/envs_classic.md")]
    out: String,
    #[arg(long, num_args = 1.., default_values = ["CartPole-v1", "Pendulum-v1"])]
    envs: Vec<String>,
}

/// A table of 1024 random action batches, drawn before timing (the peers do the same).
enum Table {
    Discrete(Vec<Vec<i64>>),
    Continuous(Vec<Vec<f32>>),
}

impl Table {
    fn new(space: &Space, num_envs: usize) -> Self {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        match space {
            Space::Discrete { n, .. } => {
                Table::Discrete((0..1024).map(|_| (0..num_envs).map(|_| rng.random_range(0..*n)).collect()).collect())
            }
            Space::Box { low, high, .. } => Table::Continuous(
                (0..1024)
                    .map(|_| {
                        (0..num_envs)
                            .flat_map(|_| {
                                low.iter().zip(high).map(|(l, h)| rng.random_range(*l..*h)).collect::<Vec<_>>()
                            })
                            .collect()
                    })
                    .collect(),
            ),
            Space::MultiDiscrete { .. } => unimplemented!("no classic env has a MultiDiscrete action space"),
        }
    }
    fn get(&self, i: usize) -> Actions<'_> {
        match self {
            Table::Discrete(t) => Actions::Discrete(&t[i & 1023]),
            Table::Continuous(t) => Actions::Continuous(&t[i & 1023]),
        }
    }
}

fn single(id: &str, seconds: f64) -> Result<f64> {
    let mut env = make(id)?;
    let table = Table::new(env.action_space(), 1);
    let mut obs = vec![0.0f32; env.observation_space().flat_dim()];
    env.reset_into(Some(0), &mut obs);
    Ok(rate(seconds, |i| {
        let action = match table.get(i) {
            Actions::Discrete(a) => Action::Discrete(a[0]),
            Actions::Continuous(a) => Action::Continuous(a),
            Actions::MultiDiscrete(_) => unreachable!(),
        };
        let step = env.step_into(action, &mut obs).expect("valid action");
        if step.done() {
            env.reset_into(None, &mut obs);
        }
    }))
}

fn vectorized(mut env: impl VecEnv<Obs = f32>, seconds: f64) -> Result<f64> {
    let table = Table::new(env.single_action_space(), env.num_envs());
    env.reset(Some(0))?;
    let n = env.num_envs() as f64;
    Ok(rate(seconds, |i| {
        env.step(table.get(i)).expect("valid actions");
    }) * n)
}

struct Row {
    env: String,
    config: String,
    rlx: f64,
    peer: &'static str,
    peer_rate: Option<f64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let peer_args: Vec<String> =
        [args.seconds.to_string(), args.repeats.to_string()].into_iter().chain(args.envs.clone()).collect();
    eprintln!("== peers (gymnasium, envpool)");
    let peers = run_peer("envs_classic.py", &peer_args)?;
    let peer = |name: &str, mode: &str, env: &str, n: u64, t: u64| -> Option<f64> {
        peers["results"].as_array()?.iter().find(|r| {
            r["peer"] == name && r["mode"] == mode && r["env"] == env && r["num_envs"] == n && r["threads"] == t
        })?["steps_per_s"]
            .as_f64()
    };

    eprintln!("== rlx");
    let (s, r) = (args.seconds, args.repeats);
    let mut rows = Vec::new();
    for id in &args.envs {
        let mut row = |config: String, rlx: f64, peer_name: &'static str, peer_rate: Option<f64>| {
            eprintln!("rlx {id:12} {config:32} {:>10} steps/s", si(rlx));
            rows.push(Row { env: id.clone(), config, rlx, peer: peer_name, peer_rate });
        };
        row(
            "single env".into(),
            median_of(r, || single(id, s).unwrap()),
            "Gymnasium single env",
            peer("gymnasium", "single", id, 1, 1),
        );
        for n in [8usize, 64] {
            let sync = median_of(r, || vectorized(SyncVecEnv::from_fn(n, |_| make(id)).unwrap(), s).unwrap());
            row(
                format!("{n} envs, SyncVecEnv"),
                sync,
                "Gymnasium SyncVectorEnv",
                peer("gymnasium", "sync", id, n as u64, 1),
            );
            for t in [1usize, 2] {
                let pool = median_of(r, || {
                    let id = id.clone();
                    vectorized(ThreadedVecEnv::new(n, t, move |_| make(&id)).unwrap(), s).unwrap()
                });
                row(
                    format!("{n} envs, ThreadedVecEnv {t} thread{}", if t > 1 { "s" } else { "" }),
                    pool,
                    "EnvPool, same envs/threads",
                    peer("envpool", "pool", id, n as u64, t as u64),
                );
            }
        }
    }

    let v = |name: &str| peers["versions"][name].as_str().unwrap_or("not installed").to_string();
    let mut md = String::new();
    writeln!(md, "# Classic-control throughput: rlx vs Gymnasium and EnvPool\n")?;
    writeln!(
        md,
        "Command: `scripts/bench envs-classic` (= `bench_envs_classic --seconds {s} --repeats {r}`), run {}.",
        today()
    )?;
    writeln!(
        md,
        "Machine: {}. Peers: Gymnasium {}, EnvPool {}, NumPy {}, Python {}.",
        machine(),
        v("gymnasium"),
        v("envpool"),
        v("numpy"),
        v("python"),
    )?;
    writeln!(md, "Random actions from a pre-drawn table, env steps per second (a batch step of N envs counts N), median of {r} runs of {s} s, peers and rlx in the same run.\n")?;
    writeln!(md, "| env | rlx configuration | rlx steps/s | peer | peer steps/s | rlx / peer |")?;
    writeln!(md, "|---|---|---:|---|---:|---:|")?;
    for row in &rows {
        let (p, ratio) = match row.peer_rate {
            Some(p) => (si(p), format!("{:.1}x", row.rlx / p)),
            None => ("n/a".into(), "n/a".into()),
        };
        writeln!(md, "| {} | {} | {} | {} | {p} | {ratio} |", row.env, row.config, si(row.rlx), row.peer)?;
    }
    std::fs::write(&args.out, &md)?;
    print!("{md}");
    eprintln!("wrote {}", args.out);
    Ok(())
}

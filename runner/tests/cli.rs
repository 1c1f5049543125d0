//! The `rlx` command line end to end: logs readable by TensorBoard, exact resume after a kill, evaluation, and
//! one-line errors (non-zero exit, nothing already written touched) for bad input.

mod common;

use common::{curve, expect_error, rlx, stderr};
use std::path::Path;
use std::process::Command;

const SMALL_RUN: [&str; 8] = [
    "--set",
    "total_timesteps=12288",
    "--set",
    "checkpoint_interval=1024",
    "--set",
    "learning_rate=1e-3",
    "--set",
    "torch_threads=1",
];

#[test]
fn a_killed_run_resumes_and_reproduces_the_uninterrupted_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let (full, killed) = (tmp.path().join("full"), tmp.path().join("killed"));
    let train = |dir: &Path| {
        let mut args = vec![
            "train",
            "ppo",
            "--env",
            "CartPole-v1",
            "--seed",
            "3",
            "--device",
            "cpu",
            "--run-dir",
            dir.to_str().unwrap(),
        ];
        args.extend(SMALL_RUN);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert!(Command::new(env!("CARGO_BIN_EXE_rlx")).args(train(&full)).status().unwrap().success());

    // Same run, killed (SIGKILL) soon after its first checkpoint, then resumed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlx")).args(train(&killed)).spawn().unwrap();
    let checkpoint = killed.join("checkpoint.safetensors");
    while !checkpoint.exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = rlx(&["train", "--resume", killed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    let resumed_at: u64 =
        stderr(&out).split("at step ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(resumed_at < 12288, "the kill came after the run finished; nothing was resumed");

    let (a, b) = (curve(&full), curve(&killed));
    assert!(a.len() > 100);
    assert_eq!(a, b, "the resumed run's learning curve differs from the uninterrupted one");

    // Evaluation of both gives the same numbers.
    let eval = |dir: &Path| {
        String::from_utf8_lossy(&rlx(&["eval", dir.to_str().unwrap(), "--episodes", "3"]).stdout).into_owned()
    };
    let e = eval(&full);
    assert!(e.contains("mean_return") && e.contains("std"), "{e}");
    assert_eq!(e, eval(&killed));
}

/// The frames of a GIF: `(width, height, delay in hundredths of a second)` of each.
fn gif_frames(path: &Path) -> Vec<(u16, u16, u16)> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(path).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        frames.push((frame.width, frame.height, frame.delay));
    }
    frames
}

#[test]
fn record_writes_a_gif_with_one_frame_per_step_of_each_episode() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let args = ["train", "ppo", "--env", "CartPole-v1", "--seed", "3", "--device", "cpu", "--run-dir"];
    let out = rlx(&[&args[..], &[run.to_str().unwrap(), "--set", "total_timesteps=2048"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));

    let video = tmp.path().join("cartpole.gif");
    let out = rlx(&["record", run.to_str().unwrap(), "--episodes", "2", "--out", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // CartPole earns 1 per step, so the returns are the episode lengths.
    let returns: Vec<usize> = text
        .split("returns ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(", ")
        .map(|r| r.parse().unwrap())
        .collect();
    assert_eq!(returns.len(), 2);
    let frames = gif_frames(&video);
    assert_eq!(frames.len(), returns.iter().sum::<usize>(), "one frame per step: {text}");
    // Gymnasium's 600x400 canvas and a 24-pixel label band; 50 frames per second is 2 hundredths each.
    assert!(frames.iter().all(|&f| f == (600, 424, 2)), "{:?}", frames[0]);
    assert!(text.contains(&format!("frames {}", frames.len())), "{text}");

    // Only GIF is written; a bad target or run is one line and leaves nothing behind.
    let out = rlx(&["record", run.to_str().unwrap(), "--out", tmp.path().join("x.mp4").to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains(".gif"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = rlx(&["record", tmp.path().join("nothing").to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).lines().count() == 1, "{}", stderr(&out));
    let written: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written.len(), 2, "only the run and the video: {written:?}");
}

#[test]
fn atari_ppo_trains_resumes_exactly_and_evaluates() {
    // PPO's CNN path on Pong frames through the threaded pool; the run stops after its first checkpoint and is
    // resumed to the end: the emulators (ALE state, frame stacks, no-op generators) must continue exactly.
    let tmp = tempfile::tempdir().unwrap();
    let (full, split) = (tmp.path().join("full"), tmp.path().join("split"));
    let train = |dir: &Path, total: &str| {
        let args = [
            "train",
            "ppo",
            "--env",
            "PongNoFrameskip-v4",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--run-dir",
            dir.to_str().unwrap(),
            "--set",
            "n_envs=2",
            "--set",
            "env_threads=2",
            "--set",
            "n_steps=32",
            "--set",
            "batch_size=32",
            "--set",
            "n_epochs=2",
            "--set",
            "learning_rate=2.5e-4",
            "--set",
            "clip_range=0.1",
            "--set",
            "checkpoint_interval=64",
            "--set",
            total,
        ];
        let out = rlx(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("(preset atari)"), "{}", stderr(&out));
    };
    train(&full, "total_timesteps=192");
    train(&split, "total_timesteps=64");
    let out = rlx(&["train", "--resume", split.to_str().unwrap(), "--set", "total_timesteps=192"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (a, b) = (curve(&full), curve(&split));
    assert!(a.iter().any(|(step, tag, _)| *step == 192 && tag == "losses/value_loss"), "{a:?}");
    assert_eq!(a, b, "the resumed Atari run differs from the uninterrupted one");

    let out = rlx(&["eval", full.to_str().unwrap(), "--episodes", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mean: f64 = text.split("mean_return ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((-21.0..=21.0).contains(&mean), "a Pong game scores in [-21, 21]: {text}");

    // A video of the same game: ALE's 160x210 RGB screen with its label band, 15 steps a second (7 hundredths).
    let video = tmp.path().join("pong.gif");
    let out = rlx(&["record", full.to_str().unwrap(), "--out", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let frames = gif_frames(&video);
    assert!(frames.len() > 700 && frames.iter().all(|&f| f == (160, 222, 7)), "{} frames", frames.len());
    let recorded = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(recorded.contains(&format!("returns {mean}")), "the eval's game again: {recorded} vs {text}");
}

#[test]
fn tensorboard_reads_the_same_scalars_as_the_csv() {
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = rlx(&[
        "train",
        "ppo",
        "--env",
        "CartPole-v1",
        "--run-dir",
        dir.to_str().unwrap(),
        "--set",
        "total_timesteps=2048",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/read_tensorboard.py");
    let read = Command::new(&python).arg(script).arg(&dir).output().unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let scalars: std::collections::BTreeMap<String, Vec<(u64, f64)>> = serde_json::from_slice(&read.stdout).unwrap();
    for tag in [
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/SPS",
        "charts/learning_rate",
        "losses/value_loss",
        "losses/policy_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/clipfrac",
        "losses/explained_variance",
    ] {
        let tb = scalars.get(tag).unwrap_or_else(|| panic!("TensorBoard has no `{tag}`: {:?}", scalars.keys()));
        let csv: Vec<(u64, f64)> = std::fs::read_to_string(dir.join("progress.csv"))
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[1] == tag).then(|| (f[0].parse().unwrap(), f[2].parse().unwrap()))
            })
            .collect();
        assert_eq!(tb.len(), csv.len(), "{tag}");
        for ((s1, v1), (s2, v2)) in tb.iter().zip(&csv) {
            assert_eq!(s1, s2, "{tag}");
            assert!((v1 - v2).abs() <= 1e-6 * v2.abs().max(1.0), "{tag}: TensorBoard {v1} vs CSV {v2}");
            // f32 events
        }
    }
}

/// Runs `args`, expects a failure with one line on stderr starting `rlx: error:` and containing `needle`.
#[test]
fn bad_input_is_a_one_line_error_that_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    expect_error(&["train", "ppo", "--env", "CartPole-v0", "--run-dir", d], "did you mean `CartPole-v1`");
    expect_error(&["train", "dqn2", "--env", "CartPole-v1"], "unknown algorithm `dqn2`");
    expect_error(
        &["train", "ppo", "--env", "CartPole-v1", "--run-dir", d, "--set", "n_stepz=3"],
        "unknown field `n_stepz`",
    );
    expect_error(&["train", "ppo", "--env", "CartPole-v1", "--run-dir", d, "--set", "n_steps=many"], "n_steps");
    expect_error(&["train", "ppo", "--env", "CartPole-v1", "--run-dir", d, "--set", "gamma=1.5"], "gamma = 1.5");
    expect_error(&["train", "ppo", "--env", "CartPole-v1", "--preset", "Nope"], "unknown preset `Nope`");
    expect_error(&["train", "ppo", "--env", "ALE/Pongg-v5", "--run-dir", d], "did you mean `ALE/Pong-v5`");
    expect_error(
        &["train", "ppo", "--env", "PongNoFrameskip-v4", "--run-dir", d, "--set", "normalize_obs=true"],
        "normalize_obs and normalize_reward are for vector observations",
    );
    assert!(!dir.exists(), "a failed `rlx train` left a run folder behind");
    expect_error(&["eval", tmp.path().join("missing").to_str().unwrap()], "cannot read");
    expect_error(&["train", "--resume", tmp.path().join("missing").to_str().unwrap()], "cannot read");

    // A finished run: not overwritten by a new train, and a corrupt checkpoint is reported, not "repaired".
    let out = rlx(&["train", "ppo", "--env", "CartPole-v1", "--run-dir", d, "--set", "total_timesteps=512"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before: Vec<(String, Vec<u8>)> = ["config.toml", "progress.csv", "checkpoint.safetensors", "summary.json"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    expect_error(&["train", "ppo", "--env", "CartPole-v1", "--run-dir", d], "already holds a run");
    for (f, bytes) in &before {
        assert_eq!(&std::fs::read(dir.join(f)).unwrap(), bytes, "{f} changed");
    }
    let checkpoint = dir.join("checkpoint.safetensors");
    // 4 KB of the weights overwritten with 0xFF: the checksum refuses the file, for evaluation and resume alike.
    let mut damaged = before[2].1.clone();
    let middle = damaged.len() / 2;
    damaged[middle..middle + 4096].fill(0xFF);
    std::fs::write(&checkpoint, &damaged).unwrap();
    expect_error(&["eval", d], "checksum mismatch: the file is corrupt");
    expect_error(&["train", "--resume", d], "checksum mismatch: the file is corrupt");
    std::fs::write(&checkpoint, &before[2].1[..100]).unwrap();
    expect_error(&["eval", d], "not a valid checkpoint");
    expect_error(&["train", "--resume", d], "not a valid checkpoint");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), &before[2].1[..100], "the corrupt checkpoint was modified");
}

/// Starts `rlx train args`, kills it (SIGKILL) soon after its first checkpoint in `dir`, and resumes it to the end.
fn kill_after_first_checkpoint(args: Vec<String>, dir: &Path, total: u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlx")).args(args).spawn().unwrap();
    let checkpoint = dir.join("checkpoint.safetensors");
    while !checkpoint.exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = rlx(&["train", "--resume", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed_at: u64 =
        stderr(&out).split("at step ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(resumed_at < total, "the kill came after the run finished; nothing was resumed");
}

/// `rlx train dqn` arguments for a small run in `dir`.
fn dqn_args(env: &str, dir: &Path, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "dqn", "--env", env, "--seed", "2", "--device", "cpu", "--run-dir", dir.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for set in sets {
        args.push("--set".into());
        args.push(set.to_string());
    }
    args
}

#[test]
fn a_killed_dqn_run_resumes_with_its_replay_buffer_and_reproduces_the_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let (full, killed) = (tmp.path().join("full"), tmp.path().join("killed"));
    let sets = [
        "total_timesteps=8000",
        "learning_starts=500",
        "train_freq=16",
        "gradient_steps=8",
        "checkpoint_interval=1000",
        "torch_threads=1",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_rlx")).args(dqn_args("CartPole-v1", &full, &sets)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("(preset CartPole-v1)"), "{}", stderr(&out));

    kill_after_first_checkpoint(dqn_args("CartPole-v1", &killed, &sets), &killed, 8000);
    let (a, b) = (curve(&full), curve(&killed));
    assert!(a.iter().any(|(_, tag, _)| tag == "losses/td_loss") && a.iter().any(|(_, tag, _)| tag == "charts/epsilon"));
    assert!(a == b, "the resumed DQN run's learning curve differs from the uninterrupted one");
    // Only the final checkpoint's buffer is kept.
    let replays: Vec<String> = std::fs::read_dir(&full)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".replay-"))
        .collect();
    assert_eq!(replays, ["checkpoint.replay-8000"]);

    // Finished: resuming says so and how to extend it.
    let out = rlx(&["train", "--resume", full.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is complete (8000 of 8000 steps)"));
    // Without the buffer file, a one-line error that says how to go on without it.
    std::fs::remove_file(full.join("checkpoint.replay-8000")).unwrap();
    expect_error(
        &["train", "--resume", full.to_str().unwrap(), "--set", "total_timesteps=9000"],
        "--set save_replay=false",
    );
    let config = || std::fs::read_to_string(full.join("config.toml")).unwrap();
    assert!(config().contains("\ntotal_timesteps = 8000\n"), "a refused resume leaves the config: {}", config());
    let out = rlx(&[
        "train",
        "--resume",
        full.to_str().unwrap(),
        "--set",
        "total_timesteps=9000",
        "--set",
        "save_replay=false",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The extended budget is the run's config now: a plain resume finds it complete at 9000.
    assert!(config().starts_with("# rlx train dqn") && config().contains("\ntotal_timesteps = 9000\n"), "{}", config());
    let out = rlx(&["train", "--resume", full.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is complete (9000 of 9000 steps)"), "{}", stderr(&out));

    let text =
        String::from_utf8_lossy(&rlx(&["eval", killed.to_str().unwrap(), "--episodes", "2"]).stdout).into_owned();
    assert!(text.contains("(epsilon 0.05)") && text.contains("mean_return"), "{text}");
}

#[test]
fn a_killed_dqn_run_with_an_actor_thread_resumes_exactly_and_evaluates_periodically() {
    // The actor thread refreshes its weights by counting steps, so a run is the same run on any machine, and a
    // killed one resumes to the same curve, evaluations included.
    let tmp = tempfile::tempdir().unwrap();
    let (full, killed) = (tmp.path().join("full"), tmp.path().join("killed"));
    let sets = [
        "total_timesteps=6000",
        "learning_starts=500",
        "train_freq=16",
        "gradient_steps=8",
        "checkpoint_interval=1000",
        "torch_threads=1",
        "actor_thread=true",
        "actor_sync_interval=64",
        "eval_interval=2000",
        "eval_episodes=2",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_rlx")).args(dqn_args("CartPole-v1", &full, &sets)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    kill_after_first_checkpoint(dqn_args("CartPole-v1", &killed, &sets), &killed, 6000);
    let (a, b) = (curve(&full), curve(&killed));
    let evals: Vec<u64> = a.iter().filter(|(_, tag, _)| tag == "eval/mean_return").map(|(step, _, _)| *step).collect();
    assert_eq!(evals, [2000, 4000, 6000], "an evaluation every eval_interval steps");
    let grads = a.iter().filter(|(_, tag, _)| tag == "losses/td_loss").count();
    assert_eq!(grads, (6000 - 512) / 16 + 1, "a training round every train_freq steps past learning_starts");
    assert!(a == b, "the resumed run's curve differs from the uninterrupted one");
}

#[test]
fn atari_dqn_trains_resumes_exactly_and_evaluates_with_the_nature_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let (full, split) = (tmp.path().join("full"), tmp.path().join("split"));
    // Every option on, so the resume must restore the priorities and n-step windows of the buffer too. (Epsilon,
    // the learning rate and PER's beta follow total_timesteps, so both runs share it.)
    let sets = [
        "buffer_size=2000",
        "learning_starts=200",
        "batch_size=8",
        "target_update_interval=100",
        "checkpoint_interval=300",
        "double_q=true",
        "dueling=true",
        "n_step=3",
        "prioritized=true",
        "total_timesteps=600",
    ];
    let out =
        Command::new(env!("CARGO_BIN_EXE_rlx")).args(dqn_args("PongNoFrameskip-v4", &full, &sets)).output().unwrap();
    assert!(out.status.success() && stderr(&out).contains("(preset atari)"), "{}", stderr(&out));
    kill_after_first_checkpoint(dqn_args("PongNoFrameskip-v4", &split, &sets), &split, 600);
    let (a, b) = (curve(&full), curve(&split));
    assert!(a.iter().any(|(step, tag, _)| *step == 600 && tag == "losses/td_loss"));
    assert!(a == b, "the resumed Atari DQN run differs from the uninterrupted one");

    let out = rlx(&["eval", full.to_str().unwrap(), "--episodes", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mean: f64 = text.split("mean_return ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((-21.0..=21.0).contains(&mean), "a Pong game scores in [-21, 21]: {text}");
    // Pong: random -20.7, human 9.3.
    let normalized = 100.0 * (mean + 20.7) / 30.0;
    assert!(text.contains(&format!("human_normalized {normalized:.1}%")), "{text}");
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_the_run_resumes_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let sets = ["total_timesteps=1000000", "checkpoint_interval=0", "actor_thread=true", "torch_threads=1"];
    let child = Command::new(env!("CARGO_BIN_EXE_rlx"))
        .args(dqn_args("CartPole-v1", &dir, &sets))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training is under way (the CSV has rows past learning_starts).
    let csv = dir.join("progress.csv");
    while !std::fs::read_to_string(&csv).is_ok_and(|t| t.contains("losses/td_loss")) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let step: u64 = err.split("interrupted at step ").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(err.contains(&format!("rlx train --resume {}", dir.display())), "{err}");
    assert!(step < 1_000_000);
    // The checkpoint holds that step: the resume starts there and finishes.
    let out = rlx(&["train", "--resume", dir.to_str().unwrap(), "--set", &format!("total_timesteps={}", step + 500)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("at step {step} of")), "{}", stderr(&out));
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // A learning rate of 1e30 sends the weights past what f32 products can hold: the TD loss becomes NaN at
    // the second update, after the checkpoint at step 500.
    let sets = ["total_timesteps=3000", "learning_starts=600", "checkpoint_interval=500", "learning_rate=1e30"];
    let args = dqn_args("CartPole-v1", &dir, &sets);
    let out = Command::new(env!("CARGO_BIN_EXE_rlx")).args(&args).output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("rlx: error: the TD loss") && err.contains("training stopped before the update"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("rlx: error")).count(), 1, "{err}");
    let checkpoint = rlx_agents::checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    assert!(checkpoint.state["global_step"].as_u64().unwrap() <= 1000, "the last good checkpoint is kept");
    assert!(rlx(&["eval", dir.to_str().unwrap(), "--episodes", "1"]).status.success());

    // Skipping instead: the run finishes and counts what it skipped.
    let skip = tmp.path().join("skip");
    let mut sets = sets.to_vec();
    sets.push("nan_policy=skip");
    let out = Command::new(env!("CARGO_BIN_EXE_rlx")).args(dqn_args("CartPole-v1", &skip, &sets)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(curve(&skip).iter().any(|(_, tag, _)| tag == "charts/skipped_updates"));
}

#[test]
fn a_full_disk_during_a_checkpoint_is_an_error_and_the_previous_checkpoint_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    let out = rlx(&["train", "ppo", "--env", "CartPole-v1", "--run-dir", d, "--set", "total_timesteps=2048"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let checkpoint = dir.join("checkpoint.safetensors");
    let before = std::fs::read(&checkpoint).unwrap();
    // The checkpoint's temporary file is written first: pointed at /dev/full, every write fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", dir.join(".checkpoint.safetensors.tmp")).unwrap();
    let out = rlx(&["train", "--resume", d, "--set", "total_timesteps=4096"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("rlx: error: checkpoint ") && last.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before, "the previous checkpoint changed");
    assert!(rlx(&["eval", d, "--episodes", "1"]).status.success());
}

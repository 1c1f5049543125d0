//! Parity with Stable-Baselines3's `AtariWrapper`: rlx's default Atari chain (frame pipeline `sb3`) must produce
//! SB3's 84x84 frames byte for byte, and the same clipped rewards, terminations, truncations and lives at every agent
//! step, across life losses, FIRE resets and game overs.
//!
//! SB3 2.9.2 over ale-py 0.12.1 runs now, through `atari_sb3_parity.py` with `RLX_PYTHON` (set by `scripts/test`),
//! with its default 30 no-ops and the same actions: rlx seeds its env's NumPy generator as ale-py does, so the random
//! no-op counts after every game start are SB3's too.
//! The games are ones whose raw emulation matches ale-py's exactly (see `atari_parity.rs`). With `stack_padding =
//! "zeros"` the whole 4-frame stacks equal those SB3's `VecFrameStack` builds (checked through a checksum per stack).

use rlx_envs::atari::{make_atari_with, AtariConfig, FramePipeline, StackPadding};
use rlx_envs::{Action, Env};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const GAMES: &[&str] = &["Breakout", "Pong", "SpaceInvaders", "MsPacman", "Qbert", "Asterix"];
/// Agent steps per game: each game sees several life losses and resets (Pong: a whole lost game and more).
const STEPS: usize = 3000;

#[derive(Deserialize)]
struct Recording {
    sb3: String,
    ale_py: String,
    opencv: String,
    luma_colours_checked: u64,
    games: BTreeMap<String, Game>,
}

#[derive(Deserialize)]
struct Game {
    actions: Vec<i64>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    lives: Vec<u32>,
    /// Steps after which SB3 reset the env, and the lives each reset reported (the first is the initial reset).
    resets: Vec<usize>,
    reset_lives: Vec<u32>,
    /// Per frame, in the frames' order: `sum_i (i + 1) * byte_i` over the stack SB3's `VecFrameStack` made of it.
    stack_sums: Vec<i64>,
}

/// The recording's checksum of a `[4, 84, 84]` stack.
fn stack_sum(obs: &[u8]) -> i64 {
    obs.iter().enumerate().map(|(i, &b)| (i as i64 + 1) * b as i64).sum()
}

/// How many of SB3's frames rlx reproduced exactly, the largest pixel difference, and how many whole stacks
/// equalled `VecFrameStack`'s (zero padding only).
#[derive(Debug)]
struct Frames {
    same: usize,
    total: usize,
    worst: u8,
    same_stacks: usize,
}

/// Walks rlx's env through SB3's actions; returns how the frames compared, or the first step where a reward,
/// termination, truncation, life count or reset differs.
fn compare(
    game: &str,
    g: &Game,
    frames: &[u8],
    pipeline: FramePipeline,
    stack_padding: StackPadding,
) -> Result<Frames, String> {
    let n = 84 * 84;
    let config = AtariConfig { frame_pipeline: pipeline, stack_padding, ..AtariConfig::no_frameskip_v4() };
    let mut env = make_atari_with(&format!("{game}NoFrameskip-v4"), config).unwrap();
    let k = env.config().frame_stack;
    let mut theirs = frames.chunks_exact(n);
    let mut their_sums = g.stack_sums.iter();
    let (mut same, mut total, mut worst, mut same_stacks) = (0usize, 0usize, 0u8, 0usize);
    let mut check_frame = |obs: &[u8], theirs: &[u8], their_sum: i64| {
        total += 1;
        let diff = obs[(k - 1) * n..].iter().zip(theirs).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        same += (diff == 0) as usize;
        worst = worst.max(diff);
        same_stacks += (stack_padding == StackPadding::Zeros && stack_sum(obs) == their_sum) as usize;
    };
    let mut next_frame = || -> Result<(&[u8], i64), String> {
        Ok((theirs.next().ok_or("too few frames")?, *their_sums.next().ok_or("too few stack checksums")?))
    };
    let (obs, info) = env.reset(Some(0));
    let (frame, sum) = next_frame()?;
    check_frame(&obs, frame, sum);
    if info.lives != Some(g.reset_lives[0]) {
        return Err(format!("lives after the first reset: {:?} vs SB3's {}", info.lives, g.reset_lives[0]));
    }
    let mut resets = g.resets.iter().zip(&g.reset_lives[1..]);
    for (t, &a) in g.actions.iter().enumerate() {
        let (obs, step) = env.step(Action::Discrete(a)).unwrap();
        let (frame, sum) = next_frame()?;
        check_frame(&obs, frame, sum);
        let ours = (step.reward, step.terminated, step.truncated, step.info.lives);
        let sb3 = (g.rewards[t], g.terminated[t], g.truncated[t], Some(g.lives[t]));
        if ours != sb3 {
            return Err(format!("step {t}: (reward, terminated, truncated, lives) {ours:?}, SB3 {sb3:?}"));
        }
        if step.done() {
            let (obs, info) = env.reset(None);
            let (frame, sum) = next_frame()?;
            check_frame(&obs, frame, sum);
            match resets.next() {
                Some((&at, &lives)) if at == t && info.lives == Some(lives) => {}
                other => return Err(format!("reset after step {t} (lives {:?}); SB3: {other:?}", info.lives)),
            }
        }
    }
    if next_frame().is_ok() || resets.next().is_some() {
        return Err("SB3 recorded more frames or resets than rlx made".into());
    }
    Ok(Frames { same, total, worst, same_stacks })
}

#[test]
fn the_sb3_pipeline_reproduces_sb3_atari_wrapper_byte_for_byte() {
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("atari_sb3_parity");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/atari_sb3_parity.py");
    let status = Command::new(&python).arg(script).arg(&out).arg(STEPS.to_string()).args(GAMES).status().unwrap();
    assert!(status.success(), "{script} failed: are stable-baselines3, ale-py and OpenCV installed for {python}?");
    let recording: Recording =
        serde_json::from_str(&std::fs::read_to_string(out.join("recording.json")).unwrap()).unwrap();
    println!(
        "against SB3 {} over ale-py {} and OpenCV {} (luma checked on {} colours)",
        recording.sb3, recording.ale_py, recording.opencv, recording.luma_colours_checked
    );
    for game in GAMES {
        let g = &recording.games[*game];
        let frames = std::fs::read(out.join(format!("{game}.frames"))).unwrap();
        let sb3 = compare(game, g, &frames, FramePipeline::Sb3, StackPadding::Zeros)
            .unwrap_or_else(|e| panic!("{game}: {e}"));
        // ALE's grayscale is another picture of the same game: everything but the frames still agrees.
        let ale = compare(game, g, &frames, FramePipeline::Ale, StackPadding::Reset)
            .unwrap_or_else(|e| panic!("{game}, ale: {e}"));
        println!(
            "{game} ({} resets): sb3 pipeline {} of {} frames identical (worst {}), {} zero-padded stacks equal \
             VecFrameStack's; ale pipeline {} (worst {})",
            g.resets.len(),
            sb3.same,
            sb3.total,
            sb3.worst,
            sb3.same_stacks,
            ale.same,
            ale.worst
        );
        assert_eq!(sb3.same, sb3.total, "{game}: the sb3 pipeline must give SB3's frames exactly: {sb3:?}");
        assert_eq!(sb3.same_stacks, sb3.total, "{game}: zero padding must give VecFrameStack's stacks: {sb3:?}");
    }
}

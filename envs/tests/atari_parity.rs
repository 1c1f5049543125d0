//! Parity with ale-py: the same games, sticky actions off, the same action sequences. ALE 0.6 (rlx, via ale-sys)
//! and ale-py's ALE emulate the same bundled ROMs, so raw RGB frames, rewards, lives and game over agree exactly,
//! and the preprocessed 84x84 frames (Gymnasium's `AtariPreprocessing`: max-pool of the last two frames, area
//! resize, ALE grayscale) agree within one grey level per pixel.
//!
//! ale-py and Gymnasium run now, through `atari_parity.py` with `RLX_PYTHON` (set by `scripts/test`).

use rlx_envs::atari::{make_atari_with, parse_id, AtariConfig, Emulator, EmulatorSettings, Rom};
use rlx_envs::{Action, Env};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Games that agree with ale-py: raw frames identical, preprocessed frames within one grey level (in fact
/// identical). 30 of the 61 bundled games do with the bundled ROMs, 47 with ale-py's ROM files;
/// `results/atari_parity.md` has the survey of all of them.
const MATCHING: &[(&str, &str)] = &[
    ("Pong", ""),
    ("Breakout", ""),
    ("SpaceInvaders", ""),
    ("Qbert", ""),
    ("Enduro", ""),
    ("MsPacman", ""),
    ("Asterix", ""),
    ("Freeway", ""),
    ("Boxing", ""),
    ("Alien", ""),
    ("Asteroids", ""),
    ("Hero", ""),
    ("KungFuMaster", ""),
    ("MontezumaRevenge", ""),
    ("Frostbite", ""),
    ("Krull", ""),
];

/// Games that do not, with what differs; the test fails if one starts to match, so these lists stay true.
const DIFFERING: &[(&str, &str)] = &[
    ("Seaquest", "same ROM, but ALE 0.12's reset runs one emulator frame longer: frames are one frame apart"),
    ("BeamRider", "same ROM; a frame differs from step 8 on (the emulator cores differ)"),
    ("Atlantis", "the `ale` crate bundles another dump of the ROM than ale-py (see ROM_DUMP_MATCHING)"),
    ("Gravitar", "another dump: raw frames agree for 400 frames, a preprocessed reward differs later"),
    ("Centipede", "another dump, which ALE 0.6 displays with 250 rows (Stella's properties are per dump)"),
    ("JourneyEscape", "ALE 0.6 keeps a 230-row display for this ROM, ale-py's dump included"),
    ("DemonAttack", "another dump: the first frame after reset differs"),
    ("Riverraid", "another dump: the first frame after reset differs"),
    ("BattleZone", "another dump: the first frame after reset differs"),
];

/// Games that differ with the bundled ROMs and match exactly when loaded from ale-py's own ROM files
/// (`AtariConfig::rom_dir`): the difference is the ROM dump, not the emulator.
const ROM_DUMP_MATCHING: &[&str] = &["Atlantis", "Gravitar", "Centipede", "DemonAttack", "Riverraid", "BattleZone"];

#[derive(Deserialize)]
struct Recording {
    ale_py: String,
    /// ale-py's ROM folder.
    rom_dir: String,
    games: BTreeMap<String, Game>,
}

#[derive(Deserialize)]
struct Game {
    raw: Raw,
    pre: Pre,
    /// Checksums of ale-py's reset frame and the no-op frames after it.
    noops: Vec<u64>,
    /// Checksum and size of ale-py's ROM file, and its minimal action set.
    rom: u64,
    rom_size: usize,
    actions: Vec<i32>,
}

#[derive(Deserialize)]
struct Raw {
    actions: Vec<i64>,
    reset: u64,
    checksums: Vec<u64>,
    rewards: Vec<f64>,
    lives: Vec<u32>,
    terminated: Vec<bool>,
}

#[derive(Deserialize)]
struct Pre {
    actions: Vec<i64>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
}

/// The checksum `atari_parity.py` computes: sum of pixel * (index mod 65521 + 1).
fn checksum(frame: &[u8]) -> u64 {
    frame.iter().enumerate().map(|(i, &p)| p as u64 * ((i as u64 % 65521) + 1)).sum()
}

/// How one game compared, with the bundled ROMs or (`rom_dir`) ale-py's: `Ok(summary)` when everything agreed,
/// else the first difference.
fn compare_game(game: &str, g: &Game, frames: &[u8], rom_dir: Option<&str>) -> Result<String, String> {
    let id = format!("{game}NoFrameskip-v4");
    let n = 84 * 84;
    let with_roms = |config: AtariConfig| AtariConfig { rom_dir: rom_dir.map(str::to_string), ..config };

    // Raw emulation, one frame per step.
    let mut env = make_atari_with(&id, with_roms(AtariConfig::raw())).unwrap();
    let (h, w) = env.screen_shape();
    if (h, w) != (210, 160) {
        return Err(format!("ALE 0.6 reports a {h}x{w} screen (Stella's display properties), ale-py 210x160"));
    }
    let mut rgb = vec![0u8; h * w * 3];
    env.reset(Some(0));
    env.render_rgb(&mut rgb);
    if checksum(&rgb) != g.raw.reset {
        return Err("the first frame after reset differs".into());
    }
    for (t, &a) in g.raw.actions.iter().enumerate().take(g.raw.rewards.len()) {
        let (_, step) = env.step(Action::Discrete(a)).unwrap();
        env.render_rgb(&mut rgb);
        let what = if checksum(&rgb) != g.raw.checksums[t] {
            "RGB frame"
        } else if step.reward != g.raw.rewards[t] {
            "reward"
        } else if step.info.lives != Some(g.raw.lives[t]) {
            "lives"
        } else if step.terminated != g.raw.terminated[t] {
            "game over"
        } else {
            continue;
        };
        return Err(format!("raw emulation: the {what} differs from step {t} on"));
    }

    // Gymnasium's AtariPreprocessing.
    let mut env = make_atari_with(&id, with_roms(AtariConfig::gymnasium_preprocessing())).unwrap();
    let (obs, _) = env.reset(Some(0));
    let max_diff = |ours: &[u8], theirs: &[u8]| ours.iter().zip(theirs).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    let mut worst = max_diff(&obs, &frames[..n]);
    for (t, &a) in g.pre.actions.iter().enumerate().take(g.pre.rewards.len()) {
        let (obs, step) = env.step(Action::Discrete(a)).unwrap();
        // On the step that ends the game Gymnasium stops before grabbing the frames (SB3 grabs them first): the
        // final frame is not compared.
        if !g.pre.terminated[t] {
            worst = worst.max(max_diff(&obs, &frames[(t + 1) * n..(t + 2) * n]));
        }
        if step.reward != g.pre.rewards[t] || step.done() != g.pre.terminated[t] {
            return Err(format!("preprocessed: reward or end differs at step {t}"));
        }
    }
    if worst > 1 {
        return Err(format!("preprocessed frames differ by up to {worst} grey levels"));
    }
    Ok(format!(
        "{} raw frames identical, {} preprocessed frames within {worst} grey level",
        g.raw.rewards.len(),
        g.pre.rewards.len() + 1
    ))
}

/// Looks for a simple cause of a difference, on the reset frame and the no-op frames after it: ale-py's 210 rows
/// sitting at some offset inside ALE 0.6's taller screen, and/or the same frames some emulator frames earlier or
/// later (a reset sequence of another length). Returns `(row offset, frame shift)` when every overlapping frame agrees.
fn diagnose(game: &str, g: &Game) -> Option<(usize, i64)> {
    let mut env = make_atari_with(&format!("{game}NoFrameskip-v4"), AtariConfig::raw()).unwrap();
    let (h, w) = env.screen_shape();
    let mut rgb = vec![0u8; h * w * 3];
    env.reset(Some(0));
    let mut frames = Vec::new();
    for t in 0..g.noops.len() {
        if t > 0 {
            env.step(Action::Discrete(0)).unwrap();
        }
        env.render_rgb(&mut rgb);
        frames.push(rgb.clone());
    }
    let n = frames.len() as i64;
    for top in 0..=h.saturating_sub(210) {
        let ours: Vec<u64> = frames.iter().map(|f| checksum(&f[top * w * 3..(top + 210) * w * 3])).collect();
        // Shifts ordered by size, 0 first; at least 60 overlapping frames must all agree.
        for shift in (0..=60i64).flat_map(|d| if d == 0 { vec![0] } else { vec![d, -d] }) {
            let overlap: Vec<i64> = (0..n).filter(|&i| (0..n).contains(&(i + shift))).collect();
            if overlap.len() >= 60 && overlap.iter().all(|&i| ours[(i + shift) as usize] == g.noops[i as usize]) {
                return Some((top, shift));
            }
        }
    }
    None
}

#[test]
fn raw_and_preprocessed_frames_match_ale_py() {
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("atari_parity");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/atari_parity.py");
    // RLX_ATARI_PARITY_SURVEY=1 compares every bundled game and only reports (how the lists below were made).
    let survey = std::env::var("RLX_ATARI_PARITY_SURVEY").is_ok();
    let all: Vec<(String, String)> = rlx_envs::atari::atari_ids()
        .filter_map(|id| id.strip_suffix("NoFrameskip-v4").map(|g| (g.to_string(), "survey".to_string())))
        .collect();
    let listed: Vec<(String, String)> =
        MATCHING.iter().chain(DIFFERING).map(|(g, r)| (g.to_string(), r.to_string())).collect();
    let cases = if survey { all } else { listed };
    let games: Vec<&str> = cases.iter().map(|(g, _)| g.as_str()).collect();
    let status = Command::new(&python).arg(script).arg(&out).args(&games).status().unwrap();
    assert!(status.success(), "{script} failed: are ale-py and gymnasium installed for {python}?");
    let recording: Recording =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap();
    let frames = std::fs::read(out.with_extension("frames")).unwrap();
    println!("compared against ale-py {}", recording.ale_py);
    let mut offset = 0;
    for (game, reason) in &cases {
        let g = &recording.games[game];
        let len = (g.pre.rewards.len() + 1) * 84 * 84;
        let result = compare_game(game, g, &frames[offset..offset + len], None);
        offset += len;
        println!("{game}: {}", result.as_ref().unwrap_or_else(|e| e));
        if survey {
            if result.is_err() {
                let (_, rom, _) = parse_id(&format!("{game}NoFrameskip-v4")).unwrap();
                if (rom.data().len(), checksum(rom.data())) != (g.rom_size, g.rom) {
                    println!(
                        "{game}: diagnosis: ROM: the bundled ROM ({} bytes) is another dump than ale-py's ({} bytes)",
                        rom.data().len(),
                        g.rom_size
                    );
                }
                let settings =
                    EmulatorSettings { repeat_action_probability: 0.0, random_seed: 1, full_action_space: false };
                let ours = Emulator::new(Rom::bundled(rom), settings).unwrap().actions.clone();
                if ours != g.actions {
                    println!("{game}: diagnosis: action set: ALE 0.6 {ours:?}, ale-py {:?}", g.actions);
                }
                let cause = match diagnose(game, g) {
                    Some((0, 0)) => "reset and no-op frames agree: the difference comes with other actions".into(),
                    Some((top, 0)) => format!("ale-py's frames are rows {top}..{} of ALE 0.6's screen", top + 210),
                    Some((top, shift)) => format!(
                        "same frames (ale-py's = rows {top}..{} of ours), {} emulator frames apart: ALE 0.12's reset \
                         sequence runs {} frames {}",
                        top + 210,
                        shift.abs(),
                        shift.abs(),
                        if shift > 0 { "longer" } else { "shorter" }
                    ),
                    None => "no row offset or frame shift explains it: the cores emulate the ROM differently".into(),
                };
                println!("{game}: diagnosis: {cause}");
                let with_ale_py_roms = compare_game(game, g, &frames[offset - len..offset], Some(&recording.rom_dir));
                println!("{game}: with ale-py's ROM: {}", with_ale_py_roms.as_ref().unwrap_or_else(|e| e));
            }
            continue;
        }
        if reason.is_empty() {
            assert!(result.is_ok(), "{game} no longer matches ale-py: {}", result.unwrap_err());
        } else {
            assert!(result.is_err(), "{game} now matches ale-py: move it to MATCHING");
        }
        if ROM_DUMP_MATCHING.contains(&game.as_str()) {
            let with_ale_py_roms = compare_game(game, g, &frames[offset - len..offset], Some(&recording.rom_dir));
            println!("{game} with ale-py's ROM: {}", with_ale_py_roms.as_ref().unwrap_or_else(|e| e));
            assert!(with_ale_py_roms.is_ok(), "{game} with ale-py's ROM file: {}", with_ale_py_roms.unwrap_err());
        }
    }
}

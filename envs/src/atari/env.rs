//! One Atari game with SB3's `AtariWrapper` chain built in:
//! `NoopReset(30) -> MaxAndSkip(4) -> EpisodicLife -> FireReset -> 84x84 grayscale (area) -> ClipReward`, then a
//! frame stack of 4. Each step of the chain follows SB3's code path exactly (which frames are grabbed and when,
//! what a life-loss reset does). The frames themselves come from one of two pipelines ([`FramePipeline`]): SB3's
//! (max of the last two RGB frames, OpenCV's RGB-to-gray, area resize: SB3's bytes exactly) or ALE's grayscale (as
//! Gymnasium's `AtariPreprocessing` and EnvPool make them). After a reset the stack's older slots hold the reset
//! frame (Gymnasium's `FrameStackObservation`, CleanRL) or zeros (SB3's `VecFrameStack`): [`StackPadding`].

use super::color::PaletteLuma;
use super::emulator::{fnv1a, Emulator, EmulatorSettings, Rom};
use super::resize::AreaResize;
use crate::env::{
    entropy_rng, from_snapshot, to_snapshot, Action, Env, EnvRng, EpisodeStats, Info, RngText, Snapshot, Step,
};
use crate::error::{EnvError, Result};
use crate::np_random::seed_sequence_state;
use crate::render::RgbFrame;
use crate::space::{DType, Space};
use ale::BundledRom;

/// ALE's action code for FIRE.
const FIRE: i32 = 1;

/// Where the grey levels of a frame come from. The two differ by up to ~40 grey levels on some games (ALE's
/// palette luminance is not BT.601 luma), so a network trained on one should be evaluated on the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FramePipeline {
    /// SB3's `MaxAndSkipEnv` + `WarpFrame` (also CleanRL's and rl-zoo3's frames): the channel-wise max of the last
    /// two RGB frames, OpenCV's `COLOR_RGB2GRAY` (BT.601 luma, 15-bit fixed point), then `INTER_AREA`. The
    /// default for every Atari id. Computed on palette indices with one table lookup per pixel
    /// ([`PaletteLuma`](super::PaletteLuma)), with the same bytes as on the RGB screens.
    #[default]
    Sb3,
    /// ALE's own grayscale screen (its palette's luminance), max-pooled, then `INTER_AREA`: Gymnasium's
    /// `AtariPreprocessing` and EnvPool. Runs trained before the choice existed used this one.
    Ale,
}

/// What fills the older slots of the frame stack after a reset (a game start or, with `episodic_life`, a lost life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackPadding {
    /// Copies of the reset frame: `[f, f, f, f]` (Gymnasium's `FrameStackObservation`, CleanRL, EnvPool). The
    /// default, and what every run trained before the choice existed saw.
    #[default]
    Reset,
    /// Zeros: `[0, 0, 0, f]` (SB3's `VecFrameStack`, which rl-zoo3's Atari results were trained on).
    Zeros,
}

/// How an Atari env is built. Defaults: SB3's `AtariWrapper` + frame stack 4 on a `NoFrameskip-v4` game.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtariConfig {
    /// Frames per agent step (the action repeats); the observation is the max of the last two frames (4).
    pub frame_skip: u32,
    /// Sticky actions inside ALE: the previous action repeats with this probability (0.0; 0.25 for v5 ids).
    pub repeat_action_probability: f32,
    /// After a real reset, a random number in 1..=noop_max of no-op frames; 0 = none (30). Drawn from the env's
    /// generator seeded as ale-py seeds its own, so a seeded env makes the no-op counts SB3's `NoopResetEnv` makes.
    pub noop_max: u32,
    /// A life loss ends the agent's episode; the game itself resets only at game over (true).
    pub episodic_life: bool,
    /// Press FIRE (then action 2) after every reset, for games whose action 1 is FIRE (true).
    pub fire_reset: bool,
    /// Rewards are clipped to their sign; the raw game score is reported in `info.episode` (true).
    pub clip_reward: bool,
    /// How frames become grey levels: `sb3` (RGB max-pool + OpenCV luma) or `ale` (ALE's grayscale) (sb3).
    pub frame_pipeline: FramePipeline,
    /// Side of the square grayscale frame (84).
    pub screen_size: usize,
    /// Frames stacked in an observation, oldest first (4).
    pub frame_stack: usize,
    /// What the stack's older slots hold after a reset: `reset` (the reset frame) or `zeros` (SB3) (reset).
    pub stack_padding: StackPadding,
    /// All 18 ALE actions instead of the game's minimal set (false).
    pub full_action_space: bool,
    /// Emulator frames after which an episode is truncated: 108,000 = 30 minutes at 60 Hz (108000).
    pub max_episode_frames: u64,
    /// A folder of ROM files named as ale-py names them (`pong.bin`, `air_raid.bin`), e.g. ale-py's `ale_py/roms`,
    /// used instead of the dumps the `ale` crate bundles (unset). For 25 games ale-py ships other dumps; with them,
    /// ALE 0.6 reproduces ale-py's frames (see results/atari_parity.md).
    pub rom_dir: Option<String>,
}

impl Default for AtariConfig {
    fn default() -> Self {
        AtariConfig {
            frame_skip: 4,
            repeat_action_probability: 0.0,
            noop_max: 30,
            episodic_life: true,
            fire_reset: true,
            clip_reward: true,
            frame_pipeline: FramePipeline::Sb3,
            screen_size: 84,
            frame_stack: 4,
            stack_padding: StackPadding::Reset,
            full_action_space: false,
            max_episode_frames: 108_000,
            rom_dir: None,
        }
    }
}

impl AtariConfig {
    /// `<Game>NoFrameskip-v4`: no sticky actions, SB3's chain.
    pub fn no_frameskip_v4() -> Self {
        AtariConfig::default()
    }

    /// `ALE/<Game>-v5`: sticky actions 0.25 (Machado et al. 2018), frame skip 4, SB3's chain otherwise.
    pub fn v5() -> Self {
        AtariConfig { repeat_action_probability: 0.25, ..AtariConfig::default() }
    }

    /// Gymnasium's `AtariPreprocessing` defaults without noops (what the parity test compares against): frame skip
    /// 4 with max-pooling of ALE's grayscale, 84x84, no life loss, no FIRE, no clipping, no stack.
    pub fn gymnasium_preprocessing() -> Self {
        AtariConfig {
            frame_pipeline: FramePipeline::Ale,
            noop_max: 0,
            episodic_life: false,
            fire_reset: false,
            clip_reward: false,
            frame_stack: 1,
            ..AtariConfig::default()
        }
    }

    /// Raw emulation: one frame per step, ALE's full 210x160 grayscale screen, nothing else.
    pub fn raw() -> Self {
        AtariConfig {
            frame_pipeline: FramePipeline::Ale,
            frame_skip: 1,
            noop_max: 0,
            episodic_life: false,
            fire_reset: false,
            clip_reward: false,
            screen_size: 0,
            frame_stack: 1,
            ..AtariConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.frame_skip == 0 || self.frame_stack == 0 {
            return Err("frame_skip and frame_stack must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.repeat_action_probability) {
            return Err(format!("repeat_action_probability = {} must be in [0, 1]", self.repeat_action_probability));
        }
        if self.screen_size > 160 {
            return Err(format!(
                "screen_size = {} is larger than the screen; 0 keeps the full frame",
                self.screen_size
            ));
        }
        Ok(())
    }

    /// `(height, width)` of one frame of the observation, for a game whose screen is `screen`.
    fn frame_shape(&self, screen: (usize, usize)) -> (usize, usize) {
        if self.screen_size == 0 {
            screen
        } else {
            (self.screen_size, self.screen_size)
        }
    }
}

/// An Atari game with its preprocessing; observations are `[frame_stack, H, W]` uint8 grayscale frames.
pub struct AtariEnv {
    pub game: &'static str,
    config: AtariConfig,
    emulator: Emulator,
    /// Draws the no-op counts.
    rng: EnvRng,
    has_fire: bool,
    /// Lives at the last step (EpisodicLife).
    lives: u32,
    /// The last step ended the game itself (not only a life).
    was_real_done: bool,
    needs_reset: bool,
    /// The last two screens of a skip (MaxAndSkip's buffer): `[screen height * width]` each, palette indices for
    /// SB3's pipeline, grey levels for ALE's.
    frames: [Vec<u8>; 2],
    /// SB3 pipeline: the colours seen so far and the max-luma table; a screen (indices) grabbed outside a skip
    /// (reset, no-ops); an RGB screen for learning new colours (`[height * width * 3]`).
    palette: Box<PaletteLuma>,
    scratch: Vec<u8>,
    scratch_rgb: Vec<u8>,
    /// The grey frame the next observation is resized from: `[screen height * width]`.
    latest: Vec<u8>,
    resize: Option<AreaResize>,
    /// Ring of preprocessed frames `[k, H * W]`; `head` is the oldest.
    stack: Vec<u8>,
    head: usize,
    /// Raw score and agent steps of the current game (across lives).
    game_return: f64,
    game_steps: u64,
    observation_space: Space,
    action_space: Space,
}

/// ale-py's file name for a game: `AirRaid` -> `air_raid`.
fn ale_py_rom_name(game: &str) -> String {
    let mut name = String::new();
    for (i, c) in game.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// ale-py's `AtariEnv.seed_game`: the env's NumPy generator (the one SB3's `NoopResetEnv` draws its no-op counts
/// from) is seeded with the first word of `SeedSequence(seed).generate_state(2)`, not with `seed` itself.
fn ale_py_np_random(seed: u64) -> EnvRng {
    EnvRng::from_seed(seed_sequence_state(seed, 2)[0] as u64)
}

/// A positive ALE seed from an env seed (ALE 0.6 treats 0 as "seed from the clock").
fn ale_seed(seed: u64) -> i32 {
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    (mixed % (i32::MAX as u64 - 1)) as i32 + 1
}

impl AtariEnv {
    pub fn new(game: &'static str, rom: &'static BundledRom, config: AtariConfig) -> Result<Self> {
        config.validate().map_err(EnvError::InvalidConfig)?;
        let settings = EmulatorSettings {
            repeat_action_probability: config.repeat_action_probability,
            random_seed: ale_seed(0),
            full_action_space: config.full_action_space,
        };
        let rom = match &config.rom_dir {
            None => Rom::bundled(rom),
            Some(dir) => {
                let path = std::path::Path::new(dir).join(format!("{}.bin", ale_py_rom_name(game)));
                let data = std::fs::read(&path).map_err(|e| EnvError::Load {
                    what: format!("{game} ROM"),
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                Rom { filename: rom.filename(), data: data.into() }
            }
        };
        let emulator = Emulator::new(rom, settings)?;
        let has_fire = emulator.actions.len() >= 3 && emulator.actions[1] == FIRE;
        let (screen_h, screen_w) = emulator.screen_shape();
        let screen = screen_h * screen_w;
        let (h, w) = config.frame_shape((screen_h, screen_w));
        let resize = (config.screen_size > 0).then(|| AreaResize::new(screen_h, screen_w, h, w));
        let observation_space = Space::box_uniform(0.0, 255.0, vec![config.frame_stack, h, w], DType::U8);
        let action_space = Space::discrete(emulator.actions.len() as i64);
        Ok(AtariEnv {
            game,
            stack: vec![0; config.frame_stack * h * w],
            config,
            emulator,
            rng: entropy_rng(),
            has_fire,
            lives: 0,
            was_real_done: true,
            needs_reset: true,
            frames: [vec![0; screen], vec![0; screen]],
            palette: Box::default(),
            scratch: vec![0; screen],
            scratch_rgb: vec![0; screen * 3],
            latest: vec![0; screen],
            resize,
            head: 0,
            game_return: 0.0,
            game_steps: 0,
            observation_space,
            action_space,
        })
    }

    pub fn config(&self) -> &AtariConfig {
        &self.config
    }

    /// `(height, width)` of the game's screen (210 x 160 for most games).
    pub fn screen_shape(&self) -> (usize, usize) {
        self.emulator.screen_shape()
    }

    /// The current screen in RGB, `[height * width * 3]` (rendering, and the raw-frame parity test).
    pub fn render_rgb(&mut self, out: &mut [u8]) {
        self.emulator.rgb(out);
    }

    /// Remaining lives as ALE reports them.
    pub fn lives(&mut self) -> u32 {
        self.emulator.lives()
    }

    fn game_ended(&mut self) -> (bool, bool) {
        let game_over = self.emulator.game_over();
        let truncated = !game_over && self.emulator.episode_frame_number() >= self.config.max_episode_frames;
        (game_over, truncated)
    }

    /// The current screen becomes the latest frame (what a reset or a single raw step observes).
    fn grab_latest(&mut self) {
        match self.config.frame_pipeline {
            FramePipeline::Sb3 => {
                let mut screen = std::mem::take(&mut self.scratch);
                self.grab_indices(&mut screen);
                self.palette.to_gray(&screen, &mut self.latest);
                self.scratch = screen;
            }
            FramePipeline::Ale => self.emulator.grayscale(&mut self.latest),
        }
    }

    /// The current screen into MaxAndSkip's buffer slot `slot`, in the pipeline's format.
    fn grab_into(&mut self, slot: usize) {
        let mut screen = std::mem::take(&mut self.frames[slot]);
        match self.config.frame_pipeline {
            FramePipeline::Sb3 => self.grab_indices(&mut screen),
            FramePipeline::Ale => self.emulator.grayscale(&mut screen),
        }
        self.frames[slot] = screen;
    }

    /// The current screen as palette indices, learning its colours first if some are new.
    fn grab_indices(&mut self, screen: &mut [u8]) {
        self.emulator.indices(screen);
        if !self.palette.covers(screen) {
            self.emulator.rgb(&mut self.scratch_rgb);
            self.palette.learn(screen, &self.scratch_rgb);
        }
    }

    /// One emulator frame (the raw env's step, below MaxAndSkip), for no-ops.
    fn raw_frame(&mut self, code: i32) -> (i64, bool, bool) {
        let reward = self.emulator.act(code) as i64;
        self.grab_latest();
        let (game_over, truncated) = self.game_ended();
        (reward, game_over, truncated)
    }

    /// SB3's `MaxAndSkipEnv.step`: repeats the action, grabs the last two frames before checking for the end (as
    /// SB3 does), and leaves their max in `latest`.
    fn skip_step(&mut self, code: i32) -> (i64, bool, bool) {
        let skip = self.config.frame_skip as usize;
        let (mut reward, mut ended) = (0, (false, false));
        for i in 0..skip {
            reward += self.emulator.act(code) as i64;
            if i + 2 == skip {
                self.grab_into(0);
            } else if i + 1 == skip {
                self.grab_into(1);
            }
            ended = self.game_ended();
            if ended.0 || ended.1 {
                break;
            }
        }
        let [a, b] = &self.frames;
        match (self.config.frame_pipeline, skip) {
            (FramePipeline::Sb3, 1) => self.palette.to_gray(b, &mut self.latest),
            (FramePipeline::Sb3, _) => self.palette.max_to_gray(a, b, &mut self.latest),
            (FramePipeline::Ale, 1) => self.latest.copy_from_slice(b),
            (FramePipeline::Ale, _) => {
                for ((out, x), y) in self.latest.iter_mut().zip(a).zip(b) {
                    *out = (*x).max(*y);
                }
            }
        }
        (reward, ended.0, ended.1)
    }

    /// SB3's `EpisodicLifeEnv.step` over `skip_step`: returns (raw reward, terminated for the agent, truncated).
    fn life_step(&mut self, index: usize) -> (i64, bool, bool) {
        let code = self.emulator.actions[index];
        let (reward, game_over, truncated) = self.skip_step(code);
        self.was_real_done = game_over || truncated;
        self.game_return += reward as f64;
        let lives = self.emulator.lives();
        let life_lost = self.config.episodic_life && 0 < lives && lives < self.lives;
        self.lives = lives;
        (reward, game_over || life_lost, truncated)
    }

    /// SB3's `NoopResetEnv.reset`: the game restarts, then 1..=noop_max no-op frames.
    fn real_reset(&mut self) {
        self.emulator.reset_game();
        self.grab_latest();
        self.game_return = 0.0;
        self.game_steps = 0;
        // `np_random.integers(1, noop_max + 1)`, draw for draw: a seeded env makes SB3's no-op counts.
        let noops =
            if self.config.noop_max > 0 { 1 + self.rng.integers(self.config.noop_max as u64) as u32 } else { 0 };
        let noop = self.emulator.actions[0];
        for _ in 0..noops {
            let (_, game_over, truncated) = self.raw_frame(noop);
            if game_over || truncated {
                self.emulator.reset_game();
                self.grab_latest();
            }
        }
    }

    /// SB3's `EpisodicLifeEnv.reset`: a real reset after a game over, else one no-op step to move past the lost life.
    fn life_reset(&mut self) {
        if !self.config.episodic_life || self.was_real_done {
            self.real_reset();
        } else {
            let (_, game_over, truncated) = self.life_step(0);
            if game_over || truncated {
                self.real_reset();
            }
        }
        self.was_real_done = false;
        self.lives = self.emulator.lives();
    }

    /// SB3's `FireResetEnv.reset` over `life_reset`.
    fn full_reset(&mut self) {
        self.life_reset();
        if self.config.fire_reset && self.has_fire {
            for index in [1, 2] {
                let (_, terminated, truncated) = self.life_step(index);
                if terminated || truncated {
                    self.life_reset();
                }
            }
        }
    }

    /// Resizes `latest` into the stack slot that becomes the newest.
    fn push_frame(&mut self) {
        let n = self.stack.len() / self.config.frame_stack;
        let slot = self.head;
        let dst = &mut self.stack[slot * n..(slot + 1) * n];
        match &mut self.resize {
            Some(resize) => resize.apply(&self.latest, dst),
            None => dst.copy_from_slice(&self.latest),
        }
        self.head = (self.head + 1) % self.config.frame_stack;
    }

    fn write_obs(&self, obs: &mut [u8]) {
        let k = self.config.frame_stack;
        let n = self.stack.len() / k;
        for i in 0..k {
            let slot = (self.head + i) % k;
            obs[i * n..(i + 1) * n].copy_from_slice(&self.stack[slot * n..(slot + 1) * n]);
        }
    }
}

/// What an Atari snapshot holds besides ALE's own state: the chain's counters and the frame stack.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedAtari {
    game: String,
    /// ALE's system state (hex) and its FNV-1a hash: ALE aborts the process on a malformed state, so a snapshot
    /// whose bytes do not match their hash is refused before ALE sees it.
    ale_state: String,
    ale_hash: u64,
    rng: RngText,
    lives: u32,
    was_real_done: bool,
    needs_reset: bool,
    /// The frame ring (hex) and its oldest slot.
    stack: String,
    head: usize,
    game_return: f64,
    game_steps: u64,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl Env for AtariEnv {
    type Obs = u8;

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [u8]) -> Info {
        if let Some(seed) = seed {
            self.rng = ale_py_np_random(seed);
            // ALE reads its seed when the ROM loads (sticky actions draw from it): reload, as ale-py's seed() does.
            if self.emulator.reseed(ale_seed(seed)).is_ok() {
                self.was_real_done = true;
            }
        }
        if self.needs_reset {
            self.was_real_done = true;
            self.needs_reset = false;
        }
        self.full_reset();
        match self.config.stack_padding {
            StackPadding::Reset => (0..self.config.frame_stack).for_each(|_| self.push_frame()),
            StackPadding::Zeros => {
                self.stack.fill(0);
                self.push_frame();
            }
        }
        self.write_obs(obs);
        Info { episode: None, lives: Some(self.lives) }
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [u8]) -> Result<Step> {
        if self.needs_reset {
            return Err(EnvError::ResetNeeded);
        }
        self.action_space.validate(action)?;
        let Action::Discrete(index) = action else { unreachable!("validated") };
        let (raw_reward, terminated, truncated) = self.life_step(index as usize);
        self.game_steps += 1;
        self.push_frame();
        self.write_obs(obs);
        let mut info = Info { episode: None, lives: Some(self.lives) };
        if self.was_real_done {
            info.episode = Some(EpisodeStats { ret: self.game_return, len: self.game_steps });
        }
        let reward = if self.config.clip_reward { (raw_reward.signum()) as f64 } else { raw_reward as f64 };
        Ok(Step { reward, terminated, truncated, info })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        if self.needs_reset {
            return Err(EnvError::Unsupported("an Atari env has no state to snapshot before its first reset".into()));
        }
        let ale = self.emulator.save_state()?;
        to_snapshot(&SavedAtari {
            game: self.game.to_string(),
            ale_state: to_hex(&ale),
            ale_hash: fnv1a(&ale),
            rng: RngText::new(&self.rng),
            lives: self.lives,
            was_real_done: self.was_real_done,
            needs_reset: self.needs_reset,
            stack: to_hex(&self.stack),
            head: self.head,
            game_return: self.game_return,
            game_steps: self.game_steps,
        })
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let saved: SavedAtari = from_snapshot("Atari", snapshot)?;
        let bad = |reason: String| EnvError::Load { what: format!("{} snapshot", self.game), reason };
        if saved.game != self.game {
            return Err(bad(format!("it was taken from {}", saved.game)));
        }
        let ale = from_hex(&saved.ale_state).filter(|b| fnv1a(b) == saved.ale_hash);
        let ale = ale.ok_or_else(|| bad("the emulator state is corrupt (hash mismatch)".into()))?;
        let stack = from_hex(&saved.stack).filter(|s| s.len() == self.stack.len());
        let stack = stack.ok_or_else(|| bad("the frame stack does not fit this env's configuration".into()))?;
        if saved.head >= self.config.frame_stack {
            return Err(bad(format!("stack head {} out of range", saved.head)));
        }
        let rng = saved.rng.rng()?;
        self.emulator.load_state(&ale);
        (self.rng, self.lives, self.was_real_done, self.needs_reset) =
            (rng, saved.lives, saved.was_real_done, saved.needs_reset);
        (self.stack, self.head, self.game_return, self.game_steps) =
            (stack, saved.head, saved.game_return, saved.game_steps);
        Ok(())
    }

    /// ALE's RGB screen of the last emulated frame (Gymnasium's `AtariEnv.render` in `rgb_array` mode).
    fn render(&mut self) -> Result<RgbFrame> {
        let (height, width) = self.screen_shape();
        let mut pixels = vec![0; height * width * 3];
        self.render_rgb(&mut pixels);
        Ok(RgbFrame::new(width, height, pixels))
    }

    /// Real time: the emulator's 60 frames per second over the frames each step skips.
    fn render_fps(&self) -> u32 {
        (60 / self.config.frame_skip).max(1)
    }
}

//! A safe handle on one ALE 0.6 emulator (`ale-sys`).
//!
//! ALE's C API has two traps this module keeps closed: `loadROM` calls `exit(1)` on a ROM it does not know (so only
//! bundled ROMs, written under their canonical file names, are ever loaded), and `getString` returns a dangling
//! pointer (never called). Settings are always set explicitly before `loadROM`, since ALE 0.6 defaults to sticky
//! actions and a clock-based seed. The handle is `Send` (ALE keeps no thread-local state) but not `Sync`.
//!
//! ALE 0.6's construction, settings and ROM loading are not thread-safe (they share global state: two threads
//! reseeding at once corrupted the heap), so those calls hold one process-wide lock; emulation itself (`act`,
//! screens, `reset_game`) runs in parallel.

use crate::error::{EnvError, Result};
use ale::BundledRom;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

/// FNV-1a, to tell ROM dumps (and saved states) apart.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Serializes ALE's non-thread-safe calls (construction, settings, `loadROM`, deletion).
static ALE_SETUP: Mutex<()> = Mutex::new(());

fn setup_lock() -> MutexGuard<'static, ()> {
    ALE_SETUP.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The usual Atari screen; ALE 0.6 reports a taller one for a few games (from Stella's per-ROM display
/// properties), so buffers are sized from [`Emulator::screen_shape`], never from these.
pub const SCREEN_HEIGHT: usize = 210;
pub const SCREEN_WIDTH: usize = 160;

/// Emulator settings applied before the ROM is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmulatorSettings {
    /// Probability that the previous action is repeated instead of the new one (0 for v4 ids, 0.25 for v5).
    pub repeat_action_probability: f32,
    /// ALE's seed; must be positive (ALE 0.6 draws a clock seed for 0).
    pub random_seed: i32,
    /// Use the full 18-action set instead of the game's minimal set.
    pub full_action_space: bool,
}

/// A ROM image and the file name ALE 0.6 knows the game by (it picks the game's settings from the name).
#[derive(Debug, Clone)]
pub struct Rom {
    pub filename: &'static str,
    pub data: Arc<[u8]>,
}

impl Rom {
    /// The dump the `ale` crate bundles.
    pub fn bundled(rom: &'static BundledRom) -> Self {
        Rom { filename: rom.filename(), data: Arc::from(rom.data()) }
    }
}

pub struct Emulator {
    ptr: *mut ale_sys::ALEInterface,
    rom: Rom,
    /// Whether a ROM is loaded. Loading costs ~0.1 s (ALE precomputes a colour table per load), and a seeded
    /// reset loads again anyway, so a new emulator whose game is known defers it to its first use.
    loaded: bool,
    /// ALE action codes; the env's action `i` is `actions[i]`.
    pub actions: Vec<i32>,
    /// Screen height and width of the loaded game.
    height: usize,
    width: usize,
}

// SAFETY: an ALE interface is a self-contained object with no thread-local state, so it may be used from any thread,
// one at a time (it is not `Sync`). The process-wide state ALE 0.6 does share is touched only by construction,
// settings, `loadROM`, state serialization and deletion, which all hold `ALE_SETUP`. Vector envs build each emulator
// in the thread that mostly steps it and let another thread take it over at the end of a batch.
unsafe impl Send for Emulator {}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _setup = setup_lock();
        // SAFETY: `ptr` came from ALE_new and is deleted once.
        unsafe { ale_sys::ALE_del(self.ptr) }
    }
}

fn silence_banner() {
    static ONCE: Once = Once::new();
    // ALE's logger: 0 info, 1 warning, 2 error. The welcome banner is info.
    ONCE.call_once(|| unsafe { ale_sys::setLoggerMode(2) });
}

/// What a game's first load told: `(action codes, screen height, screen width)`, per ROM (name and content hash;
/// another dump of a game can have another screen) and action set.
type GameFacts = (Vec<i32>, usize, usize);
type GameKey = (&'static str, u64, bool);
static GAME_FACTS: Mutex<Vec<(GameKey, GameFacts)>> = Mutex::new(Vec::new());

fn known_facts(key: GameKey) -> Option<GameFacts> {
    let facts = GAME_FACTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    facts.iter().find(|(k, _)| *k == key).map(|(_, f)| f.clone())
}

impl Emulator {
    /// An emulator for `rom` with `settings`. The ROM is loaded now only the first time this process sees the game
    /// (to learn its action set and screen); otherwise at first use, usually the seeded reset that reloads it.
    pub fn new(rom: Rom, settings: EmulatorSettings) -> Result<Self> {
        if settings.random_seed <= 0 {
            return Err(EnvError::InvalidConfig(format!(
                "ALE random_seed must be positive, got {}",
                settings.random_seed
            )));
        }
        if !(0.0..=1.0).contains(&settings.repeat_action_probability) {
            return Err(EnvError::InvalidConfig(format!(
                "repeat_action_probability must be in [0, 1], got {}",
                settings.repeat_action_probability
            )));
        }
        silence_banner();
        let _setup = setup_lock();
        // SAFETY: ALE_new returns a fresh interface or null.
        let ptr = unsafe { ale_sys::ALE_new() };
        if ptr.is_null() {
            return Err(EnvError::Unsupported("ALE could not create an emulator".into()));
        }
        let key = (rom.filename, fnv1a(&rom.data), settings.full_action_space);
        let mut emulator = Emulator { ptr, rom, loaded: false, actions: Vec::new(), height: 0, width: 0 };
        emulator.set_int("random_seed", settings.random_seed);
        emulator.set_float("repeat_action_probability", settings.repeat_action_probability);
        emulator.set_int("frame_skip", 1); // skipping and max-pooling happen in Rust
        emulator.set_int("max_num_frames_per_episode", 0); // the frame cap is a truncation, handled in Rust
        emulator.set_bool("color_averaging", false);
        if let Some((actions, height, width)) = known_facts(key) {
            (emulator.actions, emulator.height, emulator.width) = (actions, height, width);
            return Ok(emulator);
        }
        emulator.load()?;
        emulator.actions =
            if settings.full_action_space { emulator.legal_actions() } else { emulator.minimal_actions() };
        // SAFETY: a ROM is loaded.
        emulator.height = unsafe { ale_sys::getScreenHeight(ptr) } as usize;
        emulator.width = unsafe { ale_sys::getScreenWidth(ptr) } as usize;
        let facts = (emulator.actions.clone(), emulator.height, emulator.width);
        GAME_FACTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((key, facts));
        Ok(emulator)
    }

    /// Loads the ROM if it is not yet: every call into a running game goes through here first (one predictable
    /// branch), so a deferred load can never leave ALE without a game.
    #[inline]
    fn ready(&mut self) -> *mut ale_sys::ALEInterface {
        if !self.loaded {
            self.load_deferred();
        }
        self.ptr
    }

    #[cold]
    fn load_deferred(&mut self) {
        let _setup = setup_lock();
        // The ROM was written and loaded once already in this process, so only a full temp disk can fail here.
        self.load().expect("cannot write the bundled ROM to the temporary folder");
    }

    fn key(name: &str) -> CString {
        CString::new(name).expect("setting names have no NUL")
    }
    fn set_int(&mut self, key: &str, value: i32) {
        unsafe { ale_sys::setInt(self.ptr, Self::key(key).as_ptr(), value) }
    }
    fn set_float(&mut self, key: &str, value: f32) {
        unsafe { ale_sys::setFloat(self.ptr, Self::key(key).as_ptr(), value) }
    }
    fn set_bool(&mut self, key: &str, value: bool) {
        unsafe { ale_sys::setBool(self.ptr, Self::key(key).as_ptr(), value) }
    }

    /// Writes the bundled ROM under its canonical name (ALE 0.6 picks the game's settings by file name) into a
    /// private temporary folder, loads it, and removes the folder.
    fn load(&mut self) -> Result<()> {
        let rom = &self.rom;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rlx-rom-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |e: std::io::Error| EnvError::Unsupported(format!("cannot write the ROM to {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join(rom.filename);
        std::fs::write(&path, &rom.data).map_err(io)?;
        let c_path = CString::new(path.to_string_lossy().into_owned()).expect("temp paths have no NUL");
        // SAFETY: a bundled ROM under its canonical name: loadROM accepts it (it would exit(1) on an unknown ROM).
        unsafe { ale_sys::loadROM(self.ptr, c_path.as_ptr()) };
        let _ = std::fs::remove_dir_all(&dir);
        self.loaded = true;
        Ok(())
    }

    /// Reloads the ROM with a new seed (ALE reads its seed when a ROM is loaded), as ale-py's `seed` does.
    pub fn reseed(&mut self, random_seed: i32) -> Result<()> {
        let _setup = setup_lock();
        self.set_int("random_seed", random_seed);
        self.load()
    }

    fn minimal_actions(&mut self) -> Vec<i32> {
        let n = unsafe { ale_sys::getMinimalActionSize(self.ptr) } as usize;
        let mut actions = vec![0; n];
        unsafe { ale_sys::getMinimalActionSet(self.ptr, actions.as_mut_ptr()) };
        actions
    }

    fn legal_actions(&mut self) -> Vec<i32> {
        let n = unsafe { ale_sys::getLegalActionSize(self.ptr) } as usize;
        let mut actions = vec![0; n];
        unsafe { ale_sys::getLegalActionSet(self.ptr, actions.as_mut_ptr()) };
        actions
    }

    /// Emulates one frame with ALE action code `code`; returns the reward.
    #[inline]
    pub fn act(&mut self, code: i32) -> i32 {
        unsafe { ale_sys::act(self.ready(), code) }
    }
    #[inline]
    pub fn game_over(&mut self) -> bool {
        unsafe { ale_sys::game_over(self.ready()) }
    }
    pub fn reset_game(&mut self) {
        unsafe { ale_sys::reset_game(self.ready()) }
    }
    #[inline]
    pub fn lives(&mut self) -> u32 {
        unsafe { ale_sys::lives(self.ready()) }.max(0) as u32
    }
    #[inline]
    pub fn episode_frame_number(&mut self) -> u64 {
        unsafe { ale_sys::getEpisodeFrameNumber(self.ready()) }.max(0) as u64
    }
    /// `(height, width)` of the screen (210 x 160 for most games).
    pub fn screen_shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// ALE's grayscale screen (its palette's luminance) into `out`: `[height * width]`.
    #[inline]
    pub fn grayscale(&mut self, out: &mut [u8]) {
        assert_eq!(out.len(), self.height * self.width, "screen buffer size");
        unsafe { ale_sys::getScreenGrayscale(self.ready(), out.as_mut_ptr()) }
    }
    /// ALE's whole system state (console, cartridge RAM, the generator behind sticky actions, the game's score
    /// and lives), serialized by ALE itself.
    pub fn save_state(&self) -> Result<Vec<u8>> {
        if !self.loaded {
            return Err(EnvError::Unsupported("an Atari env has no state to snapshot before its first reset".into()));
        }
        let _setup = setup_lock(); // rare, and Stella's serializers are not worth auditing for shared state
                                   // SAFETY: the state is created, encoded into a buffer of the length ALE reports, and deleted here.
        unsafe {
            let state = ale_sys::cloneSystemState(self.ptr);
            let len = ale_sys::encodeStateLen(state);
            let mut bytes = vec![0u8; len.max(0) as usize];
            ale_sys::encodeState(state, bytes.as_mut_ptr().cast(), len);
            ale_sys::deleteState(state);
            Ok(bytes)
        }
    }

    /// Restores what [`Emulator::save_state`] returned for the same game. ALE throws (and the process aborts) on a
    /// malformed state, so callers must pass only bytes this module wrote: `AtariEnv::restore` checks a hash first.
    pub fn load_state(&mut self, bytes: &[u8]) {
        self.ready();
        let _setup = setup_lock();
        // SAFETY: `bytes` is a state `save_state` encoded (checked by the caller); the decoded copy is deleted here.
        unsafe {
            let state = ale_sys::decodeState(bytes.as_ptr().cast(), bytes.len() as i32);
            ale_sys::restoreSystemState(self.ptr, state);
            ale_sys::deleteState(state);
        }
    }

    /// The screen as palette indices (what the TIA drew) into `out`: `[height * width]`; a plain copy, the cheapest
    /// way to read a frame.
    #[inline]
    pub fn indices(&mut self, out: &mut [u8]) {
        assert_eq!(out.len(), self.height * self.width, "screen buffer size");
        unsafe { ale_sys::getScreen(self.ready(), out.as_mut_ptr()) }
    }

    /// The RGB screen into `out`: `[height * width * 3]`, for rendering.
    pub fn rgb(&mut self, out: &mut [u8]) {
        assert_eq!(out.len(), self.height * self.width * 3, "screen buffer size");
        unsafe { ale_sys::getScreenRGB(self.ready(), out.as_mut_ptr()) }
    }
}

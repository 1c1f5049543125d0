//! Atari 2600 games through the Arcade Learning Environment (ALE 0.6 via `ale-sys`, ROMs from the `ale` crate),
//! with the preprocessing the published DQN/PPO scores use, built into one env (as EnvPool does) so a step costs
//! the emulation plus one resize.
//!
//! Ids: `<Game>NoFrameskip-v4` (no sticky actions) and `ALE/<Game>-v5` (sticky actions 0.25), for every game the
//! `ale` crate bundles. Both get the SB3 `AtariWrapper` chain by default; see [`AtariConfig`].

mod color;
mod emulator;
mod env;
mod games;
mod resize;

pub use color::{luma, max_rgb_to_gray, rgb_to_gray, PaletteLuma};
pub use emulator::{Emulator, EmulatorSettings, Rom, SCREEN_HEIGHT, SCREEN_WIDTH};
pub use env::{AtariConfig, AtariEnv, FramePipeline, StackPadding};
pub use resize::AreaResize;

use crate::error::{EnvError, Result};
use crate::registry::unknown_env;
use ale::BundledRom;

/// Every Atari id rlx knows: `<Game>NoFrameskip-v4` and `ALE/<Game>-v5` for each bundled game.
pub fn atari_ids() -> impl Iterator<Item = String> {
    games::GAMES.iter().flat_map(|(name, _)| [format!("{name}NoFrameskip-v4"), format!("ALE/{name}-v5")])
}

/// Whether `id` is shaped like an Atari id (so errors can suggest Atari names).
pub fn looks_like_atari(id: &str) -> bool {
    id.starts_with("ALE/") || id.contains("NoFrameskip")
}

/// Splits an id into its game and its id family's defaults; unknown games are rejected here, before any ROM is
/// loaded (ALE would `exit(1)` on an unknown ROM).
pub fn parse_id(id: &str) -> Result<(&'static str, &'static BundledRom, AtariConfig)> {
    let (name, config) = if let Some(name) = id.strip_suffix("NoFrameskip-v4") {
        (name, AtariConfig::no_frameskip_v4())
    } else if let Some(name) = id.strip_prefix("ALE/").and_then(|rest| rest.strip_suffix("-v5")) {
        (name, AtariConfig::v5())
    } else {
        ("", AtariConfig::default())
    };
    match games::GAMES.iter().find(|(game, _)| *game == name) {
        Some((game, rom)) => Ok((game, rom, config)),
        None => {
            let known: Vec<String> = atari_ids().collect();
            Err(unknown_env(id, known.iter().map(String::as_str)))
        }
    }
}

/// `make` for Atari ids, with the id's default preprocessing.
pub fn make_atari(id: &str) -> Result<AtariEnv> {
    let (game, rom, config) = parse_id(id)?;
    AtariEnv::new(game, rom, config)
}

/// `make` for Atari ids with explicit settings (e.g. raw frames: `AtariConfig::raw()`).
pub fn make_atari_with(id: &str, config: AtariConfig) -> Result<AtariEnv> {
    let (game, rom, _) = parse_id(id)?;
    config.validate().map_err(EnvError::InvalidConfig)?;
    AtariEnv::new(game, rom, config)
}

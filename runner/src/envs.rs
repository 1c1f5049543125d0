//! Builds the vector env a config asks for: Gymnasium-registered envs with episode statistics (f32 vectors,
//! optionally under SB3's VecNormalize), or Atari games with their preprocessing built in (u8 frame stacks); on
//! the training thread or a threaded pool.

use anyhow::{bail, Result};
use rlx_envs::atari::{looks_like_atari, make_atari_with, parse_id, AtariConfig, FramePipeline, StackPadding};
use rlx_envs::vector::{SyncVecEnv, ThreadedVecEnv, VecEnv, VecNormalize, VecNormalizeConfig};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use rlx_envs::{make, BoxedEnv, Env};

/// The two observation types an agent can be built on: the runner dispatches on this once, and everything after
/// (PPO, logging, checkpoints, evaluation) is generic over the element type.
pub enum RunEnv {
    /// Vector observations (classic control).
    Vector(Box<dyn VecEnv<Obs = f32> + Send>),
    /// Atari frame stacks `[4, 84, 84]` u8; the CNN scales them by 1/255.
    Frames(Box<dyn VecEnv<Obs = u8> + Send>),
}

/// What the run's envs look like.
pub struct VecEnvSpec<'a> {
    pub env_id: &'a str,
    pub n_envs: usize,
    pub threads: usize,
    pub normalize_obs: bool,
    pub normalize_reward: bool,
    pub gamma: f64,
    /// How Atari frames are made (ignored for vector observations).
    pub frame_pipeline: FramePipeline,
    /// What an Atari frame stack holds before an episode's first frame (ignored for vector observations).
    pub stack_padding: StackPadding,
    /// Atari under the Nature paper's evaluation protocol: no life-loss episodes (a game is one episode) and at
    /// most 18,000 emulator frames (5 minutes) per game.
    pub nature_evaluation: bool,
    /// Atari: rewards not clipped to their sign, so evaluation and videos can show the game score as it grows
    /// (the agent never sees rewards there; `info.episode` is the raw score either way).
    pub raw_rewards: bool,
}

/// `n_envs` copies of `make_one(i)`, threaded when asked.
fn vector_of<E: Env + Send + 'static>(
    spec: &VecEnvSpec<'_>,
    make_one: impl Fn(usize) -> rlx_envs::Result<E> + Send + Sync + 'static,
) -> Result<Box<dyn VecEnv<Obs = E::Obs> + Send>> {
    Ok(if spec.threads > 1 {
        Box::new(ThreadedVecEnv::new(spec.n_envs, spec.threads, make_one)?)
    } else {
        Box::new(SyncVecEnv::from_fn(spec.n_envs, make_one)?)
    })
}

pub fn make_vec_env(spec: &VecEnvSpec<'_>) -> Result<RunEnv> {
    let id = spec.env_id.to_string();
    if looks_like_atari(&id) {
        // A clear error (with close matches) before any thread starts.
        let mut config =
            AtariConfig { frame_pipeline: spec.frame_pipeline, stack_padding: spec.stack_padding, ..parse_id(&id)?.2 };
        if spec.nature_evaluation {
            (config.episodic_life, config.max_episode_frames) = (false, 18_000);
        }
        config.clip_reward &= !spec.raw_rewards;
        if spec.normalize_obs || spec.normalize_reward {
            bail!(
                "normalize_obs and normalize_reward are for vector observations; {id} gives frames (the CNN scales \
                 them by 1/255) and clips rewards to their sign"
            );
        }
        // AtariEnv reports the full-game raw score and length in `info.episode` itself.
        return Ok(RunEnv::Frames(vector_of(spec, move |_| make_atari_with(&id, config.clone()))?));
    }
    rlx_envs::spec(&id)?;
    let env = vector_of(spec, move |_| -> rlx_envs::Result<RecordEpisodeStatistics<BoxedEnv>> {
        Ok(RecordEpisodeStatistics::new(make(&id)?))
    })?;
    if spec.normalize_obs || spec.normalize_reward {
        let config = VecNormalizeConfig {
            norm_obs: spec.normalize_obs,
            norm_reward: spec.normalize_reward,
            gamma: spec.gamma,
            ..Default::default()
        };
        return Ok(RunEnv::Vector(Box::new(VecNormalize::new(env, config))));
    }
    Ok(RunEnv::Vector(env))
}

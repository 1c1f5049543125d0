//! Builds the vector env a config asks for: Gymnasium-registered envs with episode statistics, on the training
//! thread or a threaded pool, with SB3's VecNormalize when normalization is on.

use anyhow::Result;
use rlx_envs::vector::{SyncVecEnv, ThreadedVecEnv, VecEnv, VecNormalize, VecNormalizeConfig};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use rlx_envs::{make, BoxedEnv};

pub type DynVecEnv = Box<dyn VecEnv<Obs = f32>>;

/// What the run's envs look like.
pub struct VecEnvSpec<'a> {
    pub env_id: &'a str,
    pub n_envs: usize,
    pub threads: usize,
    pub normalize_obs: bool,
    pub normalize_reward: bool,
    pub gamma: f64,
}

pub fn make_vec_env(spec: &VecEnvSpec<'_>) -> Result<DynVecEnv> {
    rlx_envs::spec(spec.env_id)?; // a clear error (with close matches) before any thread starts
    let id = spec.env_id.to_string();
    let make_one = move |_: usize| -> rlx_envs::Result<RecordEpisodeStatistics<BoxedEnv>> {
        Ok(RecordEpisodeStatistics::new(make(&id)?))
    };
    let env: DynVecEnv = if spec.threads > 1 {
        Box::new(ThreadedVecEnv::new(spec.n_envs, spec.threads, make_one)?)
    } else {
        Box::new(SyncVecEnv::from_fn(spec.n_envs, make_one)?)
    };
    if spec.normalize_obs || spec.normalize_reward {
        let config = VecNormalizeConfig {
            norm_obs: spec.normalize_obs,
            norm_reward: spec.normalize_reward,
            gamma: spec.gamma,
            ..Default::default()
        };
        return Ok(Box::new(VecNormalize::new(env, config)));
    }
    Ok(env)
}

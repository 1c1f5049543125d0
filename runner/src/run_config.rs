//! One run's resolved configuration, whatever its algorithm, and the few things the runner asks of any agent.
//! Adding an algorithm means one variant here and one `Agent` impl; train, resume and the run folder stay as
//! they are.

use crate::config;
use crate::envs::VecEnvSpec;
use anyhow::Result;
use rlx_agents::device::DeviceChoice;
use rlx_agents::dqn::{Dqn, DqnConfig, DqnObs};
use rlx_agents::logger::Logger;
use rlx_agents::ppo::{ObsElement, Ppo, PpoConfig};
use rlx_envs::vector::VecEnv;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum RunConfig {
    Ppo(PpoConfig),
    Dqn(DqnConfig),
}

impl RunConfig {
    /// Deserializes `algo`'s config from a table, with one clear line for unknown keys and bad values, and
    /// validates it.
    pub fn from_table(algo: &str, table: toml::Table) -> Result<Self> {
        let config = match algo {
            "ppo" => RunConfig::Ppo(config::from_table(table, algo)?),
            "dqn" => RunConfig::Dqn(config::from_table(table, algo)?),
            other => anyhow::bail!("unknown algorithm `{other}` (known: {})", config::ALGOS.join(", ")),
        };
        config.validate()?;
        Ok(config)
    }

    pub fn algo(&self) -> &'static str {
        match self {
            RunConfig::Ppo(_) => "ppo",
            RunConfig::Dqn(_) => "dqn",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            RunConfig::Ppo(c) => c.validate()?,
            RunConfig::Dqn(c) => c.validate()?,
        }
        Ok(())
    }

    /// The config as a TOML table, without the `algo` key.
    pub fn to_table(&self) -> Result<toml::Table> {
        Ok(match self {
            RunConfig::Ppo(c) => toml::Table::try_from(c)?,
            RunConfig::Dqn(c) => toml::Table::try_from(c)?,
        })
    }

    /// The text of `config.toml`: `algo = "..."` first, then the resolved fields.
    pub fn to_toml(&self) -> Result<String> {
        let mut table = toml::Table::new();
        table.insert("algo".into(), toml::Value::String(self.algo().into()));
        table.extend(self.to_table()?);
        Ok(toml::to_string(&table)?)
    }

    pub fn env_id(&self) -> &str {
        match self {
            RunConfig::Ppo(c) => &c.env_id,
            RunConfig::Dqn(c) => &c.env_id,
        }
    }

    pub fn seed(&self) -> u64 {
        match self {
            RunConfig::Ppo(c) => c.seed,
            RunConfig::Dqn(c) => c.seed,
        }
    }

    pub fn device(&self) -> DeviceChoice {
        match self {
            RunConfig::Ppo(c) => c.device,
            RunConfig::Dqn(c) => c.device,
        }
    }

    pub fn precision(&self) -> rlx_models::Precision {
        match self {
            RunConfig::Ppo(c) => c.precision,
            RunConfig::Dqn(c) => c.precision,
        }
    }

    /// The training envs.
    pub fn env_spec(&self) -> VecEnvSpec<'_> {
        match self {
            RunConfig::Ppo(c) => VecEnvSpec {
                env_id: &c.env_id,
                n_envs: c.n_envs,
                threads: c.env_threads,
                normalize_obs: c.normalize_obs,
                normalize_reward: c.normalize_reward,
                gamma: c.gamma,
                frame_pipeline: c.frame_pipeline,
                stack_padding: c.stack_padding,
                nature_evaluation: false,
                raw_rewards: false,
            },
            RunConfig::Dqn(c) => VecEnvSpec {
                env_id: &c.env_id,
                n_envs: c.n_envs,
                threads: c.env_threads,
                normalize_obs: false,
                normalize_reward: false,
                gamma: c.gamma,
                frame_pipeline: c.frame_pipeline,
                stack_padding: c.stack_padding,
                nature_evaluation: false,
                raw_rewards: false,
            },
        }
    }
}

impl RunConfig {
    /// One env on the calling thread, built as training built them, without reward or observation normalization
    /// (PPO's evaluation loads the frozen observation statistics itself).
    pub fn eval_spec(&self) -> VecEnvSpec<'_> {
        VecEnvSpec {
            n_envs: 1,
            threads: 1,
            normalize_obs: false,
            normalize_reward: false,
            raw_rewards: true,
            ..self.env_spec()
        }
    }
}

/// What `rlx train` needs of an agent.
pub trait Agent {
    fn global_step(&self) -> u64;
    fn total_timesteps(&self) -> u64;
    fn load(&mut self, checkpoint: &Path) -> Result<()>;
    fn learn(&mut self, logger: &mut Logger, checkpoint: &Path) -> Result<()>;
}

impl<V: VecEnv> Agent for Ppo<V>
where
    V::Obs: ObsElement,
{
    fn global_step(&self) -> u64 {
        self.global_step
    }
    fn total_timesteps(&self) -> u64 {
        self.config.total_timesteps
    }
    fn load(&mut self, checkpoint: &Path) -> Result<()> {
        Ok(Ppo::load(self, checkpoint)?)
    }
    fn learn(&mut self, logger: &mut Logger, checkpoint: &Path) -> Result<()> {
        Ok(Ppo::learn(self, logger, Some(checkpoint))?)
    }
}

impl<V: VecEnv + Send> Agent for Dqn<V>
where
    V::Obs: DqnObs,
{
    fn global_step(&self) -> u64 {
        self.progress.global_step
    }
    fn total_timesteps(&self) -> u64 {
        self.config.total_timesteps
    }
    fn load(&mut self, checkpoint: &Path) -> Result<()> {
        Ok(Dqn::load(self, checkpoint)?)
    }
    fn learn(&mut self, logger: &mut Logger, checkpoint: &Path) -> Result<()> {
        Ok(Dqn::learn(self, logger, Some(checkpoint))?)
    }
}

//! `make(id)`: Gymnasium ids to environments, wrapped in their registered `TimeLimit`.

use crate::classic::{Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum};
use crate::error::{EnvError, Result};
use crate::wrappers::TimeLimit;
use crate::BoxedEnv;

/// A registered environment: Gymnasium's `EnvSpec` fields that matter here.
#[derive(Debug, Clone, Copy)]
pub struct EnvSpec {
    pub id: &'static str,
    /// Episodes are truncated after this many steps (Gymnasium's `max_episode_steps`).
    pub max_episode_steps: u64,
    /// The return at which the task counts as solved, where Gymnasium defines one.
    pub reward_threshold: Option<f64>,
    entry_point: fn() -> BoxedEnv,
}

static CLASSIC_CONTROL: [EnvSpec; 5] = [
    EnvSpec {
        id: "CartPole-v1",
        max_episode_steps: 500,
        reward_threshold: Some(475.0),
        entry_point: || Box::new(CartPole::new()),
    },
    EnvSpec {
        id: "Acrobot-v1",
        max_episode_steps: 500,
        reward_threshold: Some(-100.0),
        entry_point: || Box::new(Acrobot::new()),
    },
    EnvSpec {
        id: "MountainCar-v0",
        max_episode_steps: 200,
        reward_threshold: Some(-110.0),
        entry_point: || Box::new(MountainCar::new()),
    },
    EnvSpec {
        id: "MountainCarContinuous-v0",
        max_episode_steps: 999,
        reward_threshold: Some(90.0),
        entry_point: || Box::new(MountainCarContinuous::new()),
    },
    EnvSpec {
        id: "Pendulum-v1",
        max_episode_steps: 200,
        reward_threshold: None,
        entry_point: || Box::new(Pendulum::new()),
    },
];

/// All registered classic-control ids.
pub fn registered_ids() -> impl Iterator<Item = &'static str> {
    CLASSIC_CONTROL.iter().map(|s| s.id)
}

/// The spec of a registered id, or `UnknownEnv` with the closest ids.
pub fn spec(id: &str) -> Result<&'static EnvSpec> {
    if let Some(spec) = CLASSIC_CONTROL.iter().find(|s| s.id == id) {
        return Ok(spec);
    }
    if crate::atari::looks_like_atari(id) {
        crate::atari::parse_id(id)?; // unknown game: the error lists close Atari ids
        return Err(EnvError::Unsupported(format!(
            "`{id}` is an Atari env with uint8 frames: make it with rlx_envs::atari::make_atari"
        )));
    }
    Err(unknown_env(id, registered_ids()))
}

/// Gymnasium's `gymnasium.make(id)`: the env wrapped in `TimeLimit(max_episode_steps)`.
pub fn make(id: &str) -> Result<BoxedEnv> {
    let spec = spec(id)?;
    Ok(Box::new(TimeLimit::new((spec.entry_point)(), spec.max_episode_steps)))
}

/// The `UnknownEnv` error for `id`, suggesting up to three known ids that look alike.
pub fn unknown_env<'a>(id: &str, known: impl Iterator<Item = &'a str>) -> EnvError {
    let wanted = id.to_lowercase();
    let mut scored: Vec<(f64, &str)> = known
        .map(|k| (strsim::jaro_winkler(&wanted, &k.to_lowercase()), k))
        .filter(|(score, _)| *score > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    EnvError::UnknownEnv {
        id: id.to_string(),
        suggestions: scored.iter().take(3).map(|(_, k)| k.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_wraps_in_time_limit_and_rejects_unknown_ids() {
        for id in registered_ids() {
            assert!(make(id).is_ok(), "{id}");
        }
        let err = make("CartPole-v0").err().unwrap();
        assert_eq!(err.to_string(), "unknown environment id `CartPole-v0`; did you mean `CartPole-v1`?");
        let err = make("mountaincar").err().unwrap();
        assert!(err.to_string().contains("`MountainCar-v0`"), "{err}");
        let err = make("Zzz").err().unwrap();
        assert_eq!(err.to_string(), "unknown environment id `Zzz`");
    }
}

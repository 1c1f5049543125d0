//! Wrappers against hand-computed values and the underlying env stepped directly.

use rlx_envs::classic::{CartPole, Pendulum};
use rlx_envs::vector::{Actions, SyncVecEnv, VecEnv, VecNormalize, VecNormalizeConfig};
use rlx_envs::wrappers::{
    ClipAction, FrameStack, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics, RescaleAction,
    StackPadding, TimeLimit,
};
use rlx_envs::{make, Action, Env, Space};

#[test]
fn time_limit_truncates_at_exactly_max_steps_and_record_sums_rewards() {
    let mut env = RecordEpisodeStatistics::new(TimeLimit::new(Pendulum::new(), 7));
    env.reset(Some(0));
    let mut total = 0.0;
    for t in 1..=7 {
        let (_, step) = env.step(Action::Continuous(&[1.0])).unwrap();
        total += step.reward;
        assert_eq!(step.truncated, t == 7);
        assert_eq!(step.info.episode.is_some(), t == 7);
        if t == 7 {
            let ep = step.info.episode.unwrap();
            assert_eq!(ep.len, 7);
            assert!((ep.ret - total).abs() < 1e-12);
        }
    }
    env.reset(None);
    assert!(!env.step(Action::Continuous(&[1.0])).unwrap().1.truncated, "reset restarts the count");
}

#[test]
fn clip_and_rescale_action_feed_the_env_what_gymnasium_would() {
    // RescaleAction(-1, 1) on Pendulum's [-2, 2]: 0.25 -> 0.5. ClipAction: 5 -> 2.
    let state = [0.3, -0.2];
    let mut direct = Pendulum::new();
    let mut rescaled = RescaleAction::new(Pendulum::new(), -1.0, 1.0).unwrap();
    let mut clipped = ClipAction::new(Pendulum::new()).unwrap();
    for env in [&mut direct as &mut dyn Env<Obs = f32>, &mut rescaled, &mut clipped] {
        env.reset(Some(0));
        env.set_state(&state).unwrap();
    }
    assert_eq!(rescaled.action_space(), &Space::box_f32(vec![-1.0], vec![1.0]));
    let want = direct.step(Action::Continuous(&[0.5])).unwrap();
    assert_eq!(rescaled.step(Action::Continuous(&[0.25])).unwrap(), want);
    direct.set_state(&state).unwrap();
    let want = direct.step(Action::Continuous(&[2.0])).unwrap();
    assert_eq!(clipped.step(Action::Continuous(&[5.0])).unwrap(), want);
    assert!(ClipAction::new(CartPole::new()).is_err(), "a Discrete action space cannot be clipped");
    assert!(RescaleAction::new(Pendulum::new(), 1.0, -1.0).is_err());
}

#[test]
fn frame_stack_orders_oldest_first_and_pads_on_reset() {
    let mut env = FrameStack::new(TimeLimit::new(CartPole::new(), 500), 3, StackPadding::Reset).unwrap();
    let mut zero = FrameStack::new(CartPole::new(), 3, StackPadding::Zero).unwrap();
    assert_eq!(env.observation_space().shape(), vec![3, 4]);
    let mut plain = CartPole::new();
    let (o0, _) = plain.reset(Some(5));
    let (s0, _) = env.reset(Some(5));
    assert_eq!(s0, [o0.clone(), o0.clone(), o0.clone()].concat());
    let (z0, _) = zero.reset(Some(5));
    assert_eq!(z0, [vec![0.0; 4], vec![0.0; 4], o0.clone()].concat());
    let (o1, _) = plain.step(Action::Discrete(1)).unwrap();
    let (o2, _) = plain.step(Action::Discrete(0)).unwrap();
    let (o3, _) = plain.step(Action::Discrete(1)).unwrap();
    env.step(Action::Discrete(1)).unwrap();
    let (s2, _) = env.step(Action::Discrete(0)).unwrap();
    assert_eq!(s2, [o0, o1.clone(), o2.clone()].concat());
    let (s3, _) = env.step(Action::Discrete(1)).unwrap();
    assert_eq!(s3, [o1, o2, o3].concat());
}

#[test]
fn normalize_observation_uses_the_running_statistics_of_everything_seen_and_freezes() {
    let mut env = NormalizeObservation::new(make("Pendulum-v1").unwrap());
    let mut raw_env = make("Pendulum-v1").unwrap();
    let (mut raw, _) = raw_env.reset(Some(0));
    env.reset(Some(0));
    let mut seen = vec![raw.clone()];
    for t in 0..500 {
        let a = [((t as f32) * 0.37).sin() * 2.0];
        let (obs, _) = env.step(Action::Continuous(&a)).unwrap();
        (raw, _) = raw_env.step(Action::Continuous(&a)).unwrap();
        seen.push(raw.clone());
        for d in 0..3 {
            // Population mean and variance of all raw observations so far (the 1e-4 prior count is negligible).
            let xs: Vec<f64> = seen.iter().map(|o| o[d] as f64).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            assert!((env.rms.mean[d] - mean).abs() < 1e-4 && (env.rms.var[d] - var).abs() < 1e-3, "step {t} dim {d}");
            let want = (raw[d] as f64 - env.rms.mean[d]) / (env.rms.var[d] + 1e-8).sqrt();
            assert!((obs[d] as f64 - want).abs() < 1e-5, "step {t} dim {d}: {} vs {want}", obs[d]);
        }
    }
    let frozen = env.rms.clone();
    env.set_training(false);
    env.step(Action::Continuous(&[0.0])).unwrap();
    assert_eq!(env.rms, frozen);
}

#[test]
fn normalize_reward_matches_the_hand_computed_discounted_return_scaling() {
    // CartPole gives r = 1 each step. G_t = 0.9 G_{t-1} + 1: 1, 1.9, 2.71. The running variance of G
    // (count 1e-4 prior, mean 0, var 1) after those three updates, then r / sqrt(var + 1e-8).
    let mut env = NormalizeReward::new(CartPole::new(), 0.9);
    env.reset(Some(0));
    let (mut mean, mut var, mut count) = (0.0f64, 1.0f64, 1e-4f64);
    let mut g = 0.0;
    for _ in 0..3 {
        let (_, step) = env.step(Action::Discrete(0)).unwrap();
        g = 0.9 * g + 1.0;
        let delta = g - mean;
        let total = count + 1.0;
        mean += delta / total;
        var = (var * count + delta * delta * count / total) / total;
        count = total;
        assert!((step.reward - 1.0 / (var + 1e-8).sqrt()).abs() < 1e-12, "{} vs {}", step.reward, 1.0 / var.sqrt());
    }
}

#[test]
fn vec_normalize_shares_statistics_across_envs_and_keeps_raw_episode_returns() {
    let envs = SyncVecEnv::from_fn(4, |_| Ok(RecordEpisodeStatistics::new(make("CartPole-v1")?))).unwrap();
    let mut env = VecNormalize::new(envs, VecNormalizeConfig { gamma: 0.99, ..Default::default() });
    env.reset(Some(0)).unwrap();
    let mut raw_return_seen = false;
    for t in 0..300 {
        let actions: Vec<i64> = (0..4).map(|i| ((t + i) % 2) as i64).collect();
        let b = env.step(Actions::Discrete(&actions)).unwrap();
        assert!(b.obs.iter().all(|v| v.abs() <= 10.0), "clip_obs = 10");
        for i in 0..4 {
            if let Some(ep) = b.infos[i].episode {
                assert_eq!(ep.ret, ep.len as f64, "CartPole's raw return is its length");
                raw_return_seen = true;
            }
        }
    }
    assert!(raw_return_seen);
    let state = env.state().clone();
    assert!((state.obs_rms.count - (1e-4 + 4.0 * 301.0)).abs() < 1e-9, "one update per batch row, resets included");
    let json = serde_json::to_string(&state).unwrap();
    let mut other =
        VecNormalize::new(SyncVecEnv::from_fn(4, |_| make("CartPole-v1")).unwrap(), VecNormalizeConfig::default());
    other.load_state(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(other.state(), &state);
    let mut wrong =
        VecNormalize::new(SyncVecEnv::from_fn(2, |_| make("CartPole-v1")).unwrap(), VecNormalizeConfig::default());
    assert!(wrong.load_state(state).is_err(), "statistics for 4 envs do not load into 2");
}

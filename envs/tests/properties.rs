//! Property tests: any action, of any kind and value (out of range, wrong length, NaN, infinite), given to any
//! classic env or to its action space gives `Ok` or a typed error, never a panic; valid ones step.

use proptest::prelude::*;
use rlx_envs::{make, Action, Env};

/// An action of any variant with arbitrary contents.
#[derive(Debug, Clone)]
enum AnyAction {
    Discrete(i64),
    MultiDiscrete(Vec<i64>),
    Continuous(Vec<f32>),
}

fn any_action() -> impl Strategy<Value = AnyAction> {
    let float = prop_oneof![any::<f32>(), Just(f32::NAN), Just(f32::INFINITY), -3.0f32..3.0];
    prop_oneof![
        prop_oneof![any::<i64>(), -2i64..5].prop_map(AnyAction::Discrete),
        proptest::collection::vec(any::<i64>(), 0..4).prop_map(AnyAction::MultiDiscrete),
        proptest::collection::vec(float, 0..4).prop_map(AnyAction::Continuous),
    ]
}

fn as_action(a: &AnyAction) -> Action<'_> {
    match a {
        AnyAction::Discrete(i) => Action::Discrete(*i),
        AnyAction::MultiDiscrete(v) => Action::MultiDiscrete(v),
        AnyAction::Continuous(v) => Action::Continuous(v),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_action_steps_or_is_refused_never_panics(
        id in proptest::sample::select(vec![
            "CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1",
        ]),
        actions in proptest::collection::vec(any_action(), 1..20),
        seed in any::<u64>(),
    ) {
        let mut env = make(id).unwrap();
        let space = env.action_space().clone();
        env.reset(Some(seed));
        for a in &actions {
            let valid = space.validate(as_action(a)).is_ok();
            match env.step(as_action(a)) {
                Ok((obs, step)) => {
                    prop_assert!(valid, "{id} stepped with an action its space refuses: {a:?}");
                    prop_assert!(obs.iter().all(|v| v.is_finite()) && step.reward.is_finite());
                    if step.terminated || step.truncated {
                        env.reset(None);
                    }
                }
                Err(e) => {
                    prop_assert!(!valid, "{id} refused a valid action {a:?}: {e}");
                    prop_assert_eq!(e.to_string().lines().count(), 1);
                }
            }
        }
    }
}

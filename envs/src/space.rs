//! Gymnasium's spaces: `Discrete`, `Box` and `MultiDiscrete`, with `sample` and `contains`.

use crate::error::{EnvError, Result};
use crate::{Action, NpRandom};
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::fmt;

/// Element type of a Box space (Gymnasium's `dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DType {
    F32,
    U8,
}

/// An observation or action space.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// Integers `start, ..., start + n - 1` (Gymnasium `Discrete(n, start=0)`).
    Discrete { n: i64, start: i64 },
    /// A box of `shape` with element-wise bounds (`low`/`high` hold one value per element; infinite = unbounded).
    Box { low: Vec<f32>, high: Vec<f32>, shape: Vec<usize>, dtype: DType },
    /// A vector of independent discrete values, component i in `0..nvec[i]`.
    MultiDiscrete { nvec: Vec<i64> },
}

/// A value drawn from a space by [`Space::sample`].
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Discrete(i64),
    MultiDiscrete(Vec<i64>),
    Box(Vec<f32>),
}

impl Sample {
    /// Borrows the sample as an action.
    pub fn as_action(&self) -> Action<'_> {
        match self {
            Sample::Discrete(a) => Action::Discrete(*a),
            Sample::MultiDiscrete(a) => Action::MultiDiscrete(a),
            Sample::Box(a) => Action::Continuous(a),
        }
    }
}

impl Space {
    pub fn discrete(n: i64) -> Self {
        Space::Discrete { n, start: 0 }
    }

    /// A float32 Box with per-element bounds; the shape is `[low.len()]`.
    pub fn box_f32(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(low.len(), high.len(), "Box bounds must have the same length");
        let shape = vec![low.len()];
        Space::Box { low, high, shape, dtype: DType::F32 }
    }

    /// A Box of `shape` with the same bounds for every element.
    pub fn box_uniform(low: f32, high: f32, shape: Vec<usize>, dtype: DType) -> Self {
        let n = shape.iter().product();
        Space::Box { low: vec![low; n], high: vec![high; n], shape, dtype }
    }

    /// Number of scalar values in one element of the space (`prod(shape)` for Box, 1 for Discrete).
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
            Space::MultiDiscrete { nvec } => nvec.len(),
        }
    }

    /// The shape as Gymnasium reports it (`()` for Discrete).
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Space::Discrete { .. } => vec![],
            Space::Box { shape, .. } => shape.clone(),
            Space::MultiDiscrete { nvec } => vec![nvec.len()],
        }
    }

    /// Draws a random element as Gymnasium's spaces do, draw for draw with a generator seeded like the space's
    /// (`space.seed(s)` is `NpRandom::from_seed(s)`): Discrete `start + integers(n)`, MultiDiscrete
    /// `floor(random() * n)` per dimension, bounded Box dimensions `uniform(low, high)` (integer Boxes
    /// `floor(uniform(low, high + 1))`) in order (exact for Boxes bounded on every side, as every classic env's). Unbounded and half-bounded Box dimensions draw a normal and a
    /// shifted exponential as Gymnasium does, but not NumPy's exact ziggurat draws.
    pub fn sample(&self, rng: &mut NpRandom) -> Sample {
        match self {
            Space::Discrete { n, start } => Sample::Discrete(start + rng.integers(*n as u64) as i64),
            Space::MultiDiscrete { nvec } => {
                Sample::MultiDiscrete(nvec.iter().map(|&n| (rng.random() * n as f64) as i64).collect())
            }
            Space::Box { low, high, dtype, .. } => Sample::Box(
                low.iter()
                    .zip(high)
                    .map(|(&lo, &hi)| {
                        let (lo, hi) = (lo as f64, hi as f64);
                        let v = match (lo.is_finite(), hi.is_finite()) {
                            (true, true) if *dtype == DType::U8 => rng.uniform(lo, hi + 1.0).floor(),
                            (true, true) => rng.uniform(lo, hi),
                            (false, false) => StandardNormal.sample(rng),
                            (true, false) => lo + <Exp1 as Distribution<f64>>::sample(&Exp1, rng),
                            (false, true) => hi - <Exp1 as Distribution<f64>>::sample(&Exp1, rng),
                        };
                        v as f32
                    })
                    .collect(),
            ),
        }
    }

    /// Whether `action` is an element of the space (Box: right length, finite, within bounds).
    pub fn contains(&self, action: Action<'_>) -> bool {
        match (self, action) {
            (Space::Discrete { n, start }, Action::Discrete(a)) => (*start..start + n).contains(&a),
            (Space::MultiDiscrete { nvec }, Action::MultiDiscrete(a)) => {
                a.len() == nvec.len() && a.iter().zip(nvec).all(|(&v, &n)| (0..n).contains(&v))
            }
            (Space::Box { low, high, .. }, Action::Continuous(a)) => {
                a.len() == low.len() && a.iter().zip(low.iter().zip(high)).all(|(v, (lo, hi))| lo <= v && v <= hi)
            }
            _ => false,
        }
    }

    /// Checks that an action can be passed to an env with this action space.
    ///
    /// Discrete and MultiDiscrete actions must be in range. Box actions must have the right length and be finite;
    /// values outside the bounds are accepted and clipped by the env itself, as Gymnasium's continuous envs do
    /// (a Gaussian policy's samples are unbounded; SB3 clips them before `step`, rlx inside the env).
    #[inline]
    pub fn validate(&self, action: Action<'_>) -> Result<()> {
        let describe = || (format!("{action:?}"), self.to_string());
        match (self, action) {
            (Space::Discrete { .. }, Action::Discrete(_)) | (Space::MultiDiscrete { .. }, Action::MultiDiscrete(_)) => {
                if self.contains(action) {
                    Ok(())
                } else {
                    let (action, space) = describe();
                    Err(EnvError::ActionOutOfRange { action, space })
                }
            }
            (Space::Box { low, .. }, Action::Continuous(a)) if a.len() == low.len() => {
                if a.iter().all(|v| v.is_finite()) {
                    Ok(())
                } else {
                    let (action, space) = describe();
                    Err(EnvError::NonFiniteAction { action, space })
                }
            }
            _ => {
                let (action, space) = describe();
                Err(EnvError::ActionMismatch { action, space })
            }
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n, start: 0 } => write!(f, "Discrete({n})"),
            Space::Discrete { n, start } => write!(f, "Discrete({n}, start={start})"),
            Space::MultiDiscrete { nvec } => write!(f, "MultiDiscrete({nvec:?})"),
            Space::Box { low, high, shape, dtype } => {
                let same = |v: &[f32]| v.windows(2).all(|w| w[0] == w[1] || (w[0].is_nan() && w[1].is_nan()));
                if same(low) && same(high) && !low.is_empty() {
                    write!(f, "Box({}, {}, {shape:?}, {dtype:?})", low[0], high[0])
                } else {
                    write!(f, "Box({low:?}, {high:?}, {shape:?}, {dtype:?})")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_contained() {
        let mut rng = NpRandom::from_seed(0);
        let spaces = [
            Space::discrete(3),
            Space::Discrete { n: 4, start: -2 },
            Space::MultiDiscrete { nvec: vec![2, 5, 7] },
            Space::box_f32(vec![-2.0, 0.0], vec![2.0, 1.0]),
            Space::box_uniform(0.0, 255.0, vec![2, 3], DType::U8),
        ];
        for space in &spaces {
            for _ in 0..1000 {
                let s = space.sample(&mut rng);
                assert!(space.contains(s.as_action()), "{space}: {s:?}");
            }
        }
        // Unbounded dimensions sample from a normal distribution.
        let unbounded = Space::box_f32(vec![f32::NEG_INFINITY; 1], vec![f32::INFINITY; 1]);
        let xs: Vec<f32> = (0..4000)
            .map(|_| match unbounded.sample(&mut rng) {
                Sample::Box(v) => v[0],
                _ => unreachable!(),
            })
            .collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.1, "mean {mean}");
    }

    #[test]
    fn validate_rejects_bad_actions() {
        let d = Space::discrete(2);
        assert!(d.validate(Action::Discrete(1)).is_ok());
        assert!(matches!(d.validate(Action::Discrete(2)), Err(EnvError::ActionOutOfRange { .. })));
        assert!(matches!(d.validate(Action::Discrete(-1)), Err(EnvError::ActionOutOfRange { .. })));
        assert!(matches!(d.validate(Action::Continuous(&[0.0])), Err(EnvError::ActionMismatch { .. })));
        let b = Space::box_f32(vec![-2.0], vec![2.0]);
        assert!(b.validate(Action::Continuous(&[5.0])).is_ok(), "out-of-bound Box values are clipped by the env");
        assert!(matches!(b.validate(Action::Continuous(&[f32::NAN])), Err(EnvError::NonFiniteAction { .. })));
        assert!(matches!(b.validate(Action::Continuous(&[0.0, 1.0])), Err(EnvError::ActionMismatch { .. })));
        assert_eq!(d.to_string(), "Discrete(2)");
        assert_eq!(b.to_string(), "Box(-2, 2, [1], F32)");
    }
}

//! Pendulum-v1, numerically as Gymnasium 1.x's `pendulum.py` (g = 10).

use super::{pow2, pow2_f32};
use crate::env::RngText;
use crate::env::{
    check_state, entropy_rng, from_snapshot, seeded_rng, to_snapshot, Action, Env, EnvRng, Info, Snapshot, Step,
};
use crate::error::{EnvError, Result};
use crate::render::{not_reset, rotate, Canvas, RgbFrame, BLACK};
use crate::space::Space;
use std::f64::consts::PI;

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// Swing up and balance: reward `-(angle^2 + 0.1 * theta_dot^2 + 0.001 * torque^2)`; never terminates.
#[derive(Debug, Clone)]
pub struct Pendulum {
    /// `[theta, theta_dot]`; theta = 0 is upright.
    state: [f64; 2],
    needs_reset: bool,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

/// Gymnasium's `angle_normalize`: `((x + pi) % (2 pi)) - pi` with Python's floored modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Pendulum {
    pub fn new() -> Self {
        let high = vec![1.0, 1.0, MAX_SPEED as f32];
        Pendulum {
            state: [0.0; 2],
            needs_reset: true,
            rng: entropy_rng(),
            observation_space: Space::box_f32(high.iter().map(|h| -h).collect(), high),
            action_space: Space::box_f32(vec![-MAX_TORQUE], vec![MAX_TORQUE]),
        }
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [theta, theta_dot] = self.state;
        obs[0] = theta.cos() as f32;
        obs[1] = theta.sin() as f32;
        obs[2] = theta_dot as f32;
    }
}

impl Env for Pendulum {
    type Obs = f32;

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Info {
        if let Some(seed) = seed {
            self.rng = seeded_rng(seed);
        }
        self.state = [self.rng.uniform(-PI, PI), self.rng.uniform(-1.0, 1.0)];
        self.needs_reset = false;
        self.write_obs(obs);
        Info::default()
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step> {
        if self.needs_reset {
            return Err(EnvError::ResetNeeded);
        }
        self.action_space.validate(action)?;
        let Action::Continuous(&[u]) = action else { unreachable!("validated") };
        let [th, thdot] = self.state;
        // The torque stays float32 as in Gymnasium, so `0.001 * u**2` and `3 / (m l^2) * u` are float32 products;
        // the squares are libm's `pow`, as NumPy's scalar `**` computes them.
        let u = u.clamp(-MAX_TORQUE, MAX_TORQUE);
        let costs = pow2(angle_normalize(th)) + 0.1 * pow2(thdot) + (0.001f32 * pow2_f32(u)) as f64;
        let torque_term = ((3.0 / (M * L * L)) as f32 * u) as f64;
        let newthdot = (thdot + (3.0 * G / (2.0 * L) * th.sin() + torque_term) * DT).clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        self.write_obs(obs);
        Ok(Step { reward: -costs, terminated: false, truncated: false, info: Info::default() })
    }

    fn state(&self) -> Option<Vec<f64>> {
        Some(self.state.to_vec())
    }

    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        check_state("Pendulum", state, 2)?;
        self.state.copy_from_slice(state);
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        to_snapshot(&(self.state, self.needs_reset, RngText::new(&self.rng)))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let (state, needs_reset, rng): ([f64; 2], bool, RngText) = from_snapshot("Pendulum", snapshot)?;
        (self.state, self.needs_reset, self.rng) = (state, needs_reset, rng.rng()?);
        Ok(())
    }

    fn render(&mut self) -> Result<RgbFrame> {
        if self.needs_reset {
            return Err(not_reset("Pendulum"));
        }
        Ok(draw(self.state[0]))
    }
}

/// Gymnasium's `PendulumEnv.render`: a 500x500 canvas, a 1.0 m rod 0.2 m wide with round ends, the black axle.
/// Gymnasium also blits its `clockwise.png` arrow scaled by the last torque; that image asset is not drawn here.
fn draw(theta: f64) -> RgbFrame {
    let dim = 500.0;
    let (scale, offset) = (dim / (2.2 * 2.0), (dim as i64 / 2) as f64);
    let mut canvas = Canvas::new(dim as u32, dim as u32);
    let (rod_length, rod_width) = (scale, 0.2 * scale);
    let (l, r, t, b) = (0.0, rod_length, rod_width / 2.0, -rod_width / 2.0);
    let rod = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
        let (x, y) = rotate(p, theta + PI / 2.0);
        (x + offset, y + offset)
    });
    let color = (204, 77, 77);
    canvas.polygon(&rod, color);
    canvas.circle((offset, offset), (rod_width / 2.0).trunc(), color);
    let (x, y) = rotate((rod_length, 0.0), theta + PI / 2.0);
    canvas.circle(((x + offset).trunc(), (y + offset).trunc()), (rod_width / 2.0).trunc(), color);
    canvas.circle((offset, offset), (0.05 * scale).trunc(), BLACK);
    canvas.into_frame()
}

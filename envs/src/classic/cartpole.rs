//! CartPole-v1, numerically as Gymnasium 1.x's `cartpole.py` (Barto, Sutton & Anderson 1983; Euler integrator).

use crate::env::RngText;
use crate::env::{
    check_state, entropy_rng, from_snapshot, seeded_rng, to_snapshot, Action, Env, EnvRng, Info, Snapshot, Step,
};
use crate::error::{EnvError, Result};
use crate::render::{not_reset, rotate, Canvas, RgbFrame, BLACK};
use crate::space::Space;

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02; // seconds between state updates
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// Push left (0) or right (1) to keep the pole up; +1 per step, including the step that ends the episode.
#[derive(Debug, Clone)]
pub struct CartPole {
    /// `[x, x_dot, theta, theta_dot]`, f64 like Gymnasium.
    state: [f64; 4],
    /// Steps taken since the pole fell (Gymnasium's `steps_beyond_terminated`); `None` while it stands.
    steps_beyond_terminated: Option<u32>,
    needs_reset: bool,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    pub fn new() -> Self {
        let high = [(X_THRESHOLD * 2.0) as f32, f32::MAX, (THETA_THRESHOLD * 2.0) as f32, f32::MAX];
        CartPole {
            state: [0.0; 4],
            steps_beyond_terminated: None,
            needs_reset: true,
            rng: entropy_rng(),
            observation_space: Space::box_f32(high.iter().map(|h| -h).collect(), high.to_vec()),
            action_space: Space::discrete(2),
        }
    }

    fn write_obs(&self, obs: &mut [f32]) {
        for (o, s) in obs.iter_mut().zip(self.state) {
            *o = s as f32;
        }
    }
}

impl Env for CartPole {
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
        // Gymnasium: uniform(-0.05, 0.05) for all four state variables.
        for s in &mut self.state {
            *s = self.rng.uniform(-0.05, 0.05);
        }
        self.steps_beyond_terminated = None;
        self.needs_reset = false;
        self.write_obs(obs);
        Info::default()
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step> {
        if self.needs_reset {
            return Err(EnvError::ResetNeeded);
        }
        self.action_space.validate(action)?;
        let Action::Discrete(action) = action else { unreachable!("validated") };
        let [mut x, mut x_dot, mut theta, mut theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sintheta, costheta) = theta.sin_cos();
        // Same expression order as Gymnasium, so results agree to the last bit where libm does.
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        x += TAU * x_dot;
        x_dot += TAU * xacc;
        theta += TAU * theta_dot;
        theta_dot += TAU * thetaacc;
        self.state = [x, x_dot, theta, theta_dot];

        let terminated =
            !(-X_THRESHOLD..=X_THRESHOLD).contains(&x) || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        let reward = if !terminated {
            1.0
        } else if self.steps_beyond_terminated.is_none() {
            self.steps_beyond_terminated = Some(0); // the pole just fell: this step still earns 1
            1.0
        } else {
            *self.steps_beyond_terminated.as_mut().unwrap() += 1; // stepping a finished episode earns 0
            0.0
        };
        self.write_obs(obs);
        Ok(Step { reward, terminated, truncated: false, info: Info::default() })
    }

    fn state(&self) -> Option<Vec<f64>> {
        Some(self.state.to_vec())
    }

    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        check_state("CartPole", state, 4)?;
        self.state.copy_from_slice(state);
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        to_snapshot(&(self.state, self.steps_beyond_terminated, self.needs_reset, RngText::new(&self.rng)))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let (state, steps_beyond_terminated, needs_reset, rng): ([f64; 4], Option<u32>, bool, RngText) =
            from_snapshot("CartPole", snapshot)?;
        (self.state, self.steps_beyond_terminated, self.needs_reset, self.rng) =
            (state, steps_beyond_terminated, needs_reset, rng.rng()?);
        Ok(())
    }

    fn render(&mut self) -> Result<RgbFrame> {
        if self.needs_reset {
            return Err(not_reset("CartPole"));
        }
        Ok(draw(self.state))
    }

    fn render_fps(&self) -> u32 {
        50
    }
}

/// Gymnasium's `CartPole.render`: a 600x400 canvas, the cart 50x30 at height 100, the pole 10 wide and 1.0 m long.
fn draw(state: [f64; 4]) -> RgbFrame {
    let (width, height) = (600.0, 400.0);
    let scale = width / (2.0 * X_THRESHOLD);
    let (pole_width, pole_len, cart_width, cart_height) = (10.0, scale * (2.0 * LENGTH), 50.0, 30.0);
    let mut canvas = Canvas::new(width as u32, height as u32);
    let (cart_x, cart_y, axle_offset) = (state[0] * scale + width / 2.0, 100.0, cart_height / 4.0);
    let (l, r, t, b) = (-cart_width / 2.0, cart_width / 2.0, cart_height / 2.0, -cart_height / 2.0);
    let cart = [(l, b), (l, t), (r, t), (r, b)].map(|(x, y)| (x + cart_x, y + cart_y));
    canvas.polygon(&cart, BLACK);
    let (l, r, t, b) = (-pole_width / 2.0, pole_width / 2.0, pole_len - pole_width / 2.0, -pole_width / 2.0);
    let pole = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
        let (x, y) = rotate(p, -state[2]);
        (x + cart_x, y + cart_y + axle_offset)
    });
    canvas.polygon(&pole, (202, 152, 101));
    let axle = ((cart_x as i64) as f64, ((cart_y + axle_offset) as i64) as f64);
    canvas.circle(axle, (pole_width / 2.0).trunc(), (129, 132, 203));
    canvas.line((0.0, cart_y), (width, cart_y), BLACK);
    canvas.into_frame()
}

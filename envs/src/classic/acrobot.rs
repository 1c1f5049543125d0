//! Acrobot-v1, numerically as Gymnasium 1.x's `acrobot.py`: the "book" dynamics (Sutton & Barto 1998),
//! integrated with one RK4 step of `dt = 0.2`.

use super::pow2;
use crate::env::RngText;
use crate::env::{
    check_state, entropy_rng, from_snapshot, seeded_rng, to_snapshot, Action, Env, EnvRng, Info, Snapshot, Step,
};
use crate::error::{EnvError, Result};
use crate::render::{not_reset, rotate, Canvas, RgbFrame, BLACK};
use crate::space::Space;
use std::f64::consts::PI;

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_LENGTH_2: f64 = 1.0; // only drawn: the dynamics use the centre of mass `LINK_COM_POS_2`
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

/// Swing the lower link's tip above the bar: -1 per step until then, 0 on the terminal step.
#[derive(Debug, Clone)]
pub struct Acrobot {
    /// `[theta1, theta2, dtheta1, dtheta2]`.
    state: [f64; 4],
    needs_reset: bool,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Acrobot {
    pub fn new() -> Self {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        Acrobot {
            state: [0.0; 4],
            needs_reset: true,
            rng: entropy_rng(),
            observation_space: Space::box_f32(high.iter().map(|h| -h).collect(), high.to_vec()),
            action_space: Space::discrete(3),
        }
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let [t1, t2, dt1, dt2] = self.state;
        let values = [t1.cos(), t1.sin(), t2.cos(), t2.sin(), dt1, dt2];
        for (o, v) in obs.iter_mut().zip(values) {
            *o = v as f32;
        }
    }

    fn terminal(&self) -> bool {
        let [t1, t2, ..] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

/// Time derivative of `[theta1, theta2, dtheta1, dtheta2]` under torque `a` (Gymnasium's `_dsdt`, book variant).
fn dsdt(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, 9.8);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let d1 = m1 * (lc1 * lc1) + m2 * ((l1 * l1) + (lc2 * lc2) + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * ((lc2 * lc2) + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * pow2(dtheta2) * theta2.sin() - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * pow2(dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - pow2(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// One classical Runge-Kutta step over `dt` (Gymnasium's `rk4` with `t = [0, dt]`).
fn rk4(y0: [f64; 4], a: f64, dt: f64) -> [f64; 4] {
    let add = |y: [f64; 4], k: [f64; 4], h: f64| std::array::from_fn(|i| y[i] + h * k[i]);
    let dt2 = dt / 2.0;
    let k1 = dsdt(y0, a);
    let k2 = dsdt(add(y0, k1, dt2), a);
    let k3 = dsdt(add(y0, k2, dt2), a);
    let k4 = dsdt(add(y0, k3, dt), a);
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: shifts `x` by multiples of `hi - lo` into `[lo, hi]`.
fn wrap(mut x: f64, lo: f64, hi: f64) -> f64 {
    let diff = hi - lo;
    while x > hi {
        x -= diff;
    }
    while x < lo {
        x += diff;
    }
    x
}

impl Env for Acrobot {
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
        // Gymnasium: uniform(-0.1, 0.1), stored as float32.
        for s in &mut self.state {
            *s = self.rng.uniform(-0.1, 0.1) as f32 as f64;
        }
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
        let torque = AVAIL_TORQUE[action as usize];
        let mut ns = rk4(self.state, torque, DT);
        ns[0] = wrap(ns[0], -PI, PI);
        ns[1] = wrap(ns[1], -PI, PI);
        ns[2] = ns[2].clamp(-MAX_VEL_1, MAX_VEL_1);
        ns[3] = ns[3].clamp(-MAX_VEL_2, MAX_VEL_2);
        self.state = ns;
        let terminated = self.terminal();
        self.write_obs(obs);
        Ok(Step { reward: if terminated { 0.0 } else { -1.0 }, terminated, truncated: false, info: Info::default() })
    }

    fn state(&self) -> Option<Vec<f64>> {
        Some(self.state.to_vec())
    }

    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        check_state("Acrobot", state, 4)?;
        self.state.copy_from_slice(state);
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        to_snapshot(&(self.state, self.needs_reset, RngText::new(&self.rng)))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let (state, needs_reset, rng): ([f64; 4], bool, RngText) = from_snapshot("Acrobot", snapshot)?;
        (self.state, self.needs_reset, self.rng) = (state, needs_reset, rng.rng()?);
        Ok(())
    }

    fn render(&mut self) -> Result<RgbFrame> {
        if self.needs_reset {
            return Err(not_reset("Acrobot"));
        }
        Ok(draw(self.state))
    }

    fn render_fps(&self) -> u32 {
        15
    }
}

/// Gymnasium's `AcrobotEnv.render`: a 500x500 canvas, the bar at height 1, both links from the pivot and from the
/// first link's end (Gymnasium 1.x draws the second link at `p1`, its tip is not drawn separately).
fn draw(state: [f64; 4]) -> RgbFrame {
    let dim = 500.0;
    let bound = LINK_LENGTH_1 + LINK_LENGTH_2 + 0.2;
    let (scale, offset) = (dim / (bound * 2.0), dim / 2.0);
    let mut canvas = Canvas::new(dim as u32, dim as u32);
    let [s0, s1, ..] = state;
    // `[[0, 0], p1][:, ::-1]`: x and y swapped
    let p1 = (LINK_LENGTH_1 * s0.sin() * scale, -LINK_LENGTH_1 * s0.cos() * scale);
    let links = [((0.0, 0.0), s0 - PI / 2.0, LINK_LENGTH_1 * scale), (p1, s0 + s1 - PI / 2.0, LINK_LENGTH_2 * scale)];
    canvas.line((-2.2 * scale + offset, scale + offset), (2.2 * scale + offset, scale + offset), BLACK);
    for ((x, y), theta, length) in links {
        let (x, y) = (x + offset, y + offset);
        let (l, r, t, b) = (0.0, length, 0.1 * scale, -0.1 * scale);
        let link = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
            let (px, py) = rotate(p, theta);
            (px + x, py + y)
        });
        canvas.polygon(&link, (0, 204, 204));
        canvas.circle((x.trunc(), y.trunc()), (0.1 * scale).trunc(), (204, 204, 0));
    }
    canvas.into_frame()
}

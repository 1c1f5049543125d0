//! MountainCar-v0 and MountainCarContinuous-v0, numerically as Gymnasium 1.x (Moore 1990).

use crate::env::RngText;
use crate::env::{
    check_state, entropy_rng, from_snapshot, seeded_rng, to_snapshot, Action, Env, EnvRng, Info, Snapshot, Step,
};
use crate::error::{EnvError, Result};
use crate::render::{not_reset, rotate, Canvas, RgbFrame, BLACK};
use crate::space::Space;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;

/// Both variants start at rest at a position drawn uniformly from [-0.6, -0.4).
fn initial_state(rng: &mut EnvRng) -> [f64; 2] {
    [rng.uniform(-0.6, -0.4), 0.0]
}

/// Gymnasium's `MountainCarEnv.render` (both variants): a 600x400 canvas, the hill `sin(3x) * 0.45 + 0.55` as 100
/// points, the 40x20 car tilted along the slope on two wheels, the flag at the goal.
fn draw(position: f64, goal_position: f64) -> RgbFrame {
    let (width, height) = (600.0, 400.0);
    let scale = width / (MAX_POSITION - MIN_POSITION);
    let (car_width, car_height, clearance) = (40.0, 20.0, 10.0);
    let hill = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
    let mut canvas = Canvas::new(width as u32, height as u32);
    let curve: Vec<(f64, f64)> = (0..100)
        .map(|i| {
            let x = MIN_POSITION + (MAX_POSITION - MIN_POSITION) * i as f64 / 99.0;
            ((x - MIN_POSITION) * scale, hill(x) * scale)
        })
        .collect();
    canvas.aalines(&curve, BLACK);
    let tilt = (3.0 * position).cos();
    let place = |p: (f64, f64)| {
        let (x, y) = rotate(p, tilt);
        (x + (position - MIN_POSITION) * scale, y + clearance + hill(position) * scale)
    };
    let (l, r, t, b) = (-car_width / 2.0, car_width / 2.0, car_height, 0.0);
    canvas.polygon(&[(l, b), (l, t), (r, t), (r, b)].map(place), BLACK);
    for wheel in [(car_width / 4.0, 0.0), (-car_width / 4.0, 0.0)] {
        let (x, y) = place(wheel);
        canvas.circle((x.trunc(), y.trunc()), (car_height / 2.5).trunc(), (128, 128, 128));
    }
    let flag_x = ((goal_position - MIN_POSITION) * scale).trunc();
    let flag_y1 = (hill(goal_position) * scale).trunc();
    let flag_y2 = flag_y1 + 50.0;
    canvas.line((flag_x, flag_y1), (flag_x, flag_y2), BLACK);
    canvas.polygon(&[(flag_x, flag_y2), (flag_x, flag_y2 - 10.0), (flag_x + 25.0, flag_y2 - 5.0)], (204, 204, 0));
    canvas.into_frame()
}

fn observation_space() -> Space {
    Space::box_f32(vec![MIN_POSITION as f32, -MAX_SPEED as f32], vec![MAX_POSITION as f32, MAX_SPEED as f32])
}

/// Discrete MountainCar-v0: accelerate left (0), don't (1), right (2); -1 per step until position >= 0.5.
#[derive(Debug, Clone)]
pub struct MountainCar {
    /// `[position, velocity]`.
    state: [f64; 2],
    needs_reset: bool,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    const FORCE: f64 = 0.001;
    const GRAVITY: f64 = 0.0025;
    const GOAL_POSITION: f64 = 0.5;

    pub fn new() -> Self {
        MountainCar {
            state: [0.0; 2],
            needs_reset: true,
            rng: entropy_rng(),
            observation_space: observation_space(),
            action_space: Space::discrete(3),
        }
    }
}

impl Env for MountainCar {
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
        self.state = initial_state(&mut self.rng);
        self.needs_reset = false;
        write_obs(self.state, obs);
        Info::default()
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step> {
        if self.needs_reset {
            return Err(EnvError::ResetNeeded);
        }
        self.action_space.validate(action)?;
        let Action::Discrete(action) = action else { unreachable!("validated") };
        let [mut position, mut velocity] = self.state;
        velocity += (action - 1) as f64 * Self::FORCE + (3.0 * position).cos() * (-Self::GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        // goal_velocity is 0 for the registered env.
        let terminated = position >= Self::GOAL_POSITION && velocity >= 0.0;
        self.state = [position, velocity];
        write_obs(self.state, obs);
        Ok(Step { reward: -1.0, terminated, truncated: false, info: Info::default() })
    }

    fn state(&self) -> Option<Vec<f64>> {
        Some(self.state.to_vec())
    }

    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        check_state("MountainCar", state, 2)?;
        self.state.copy_from_slice(state);
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        to_snapshot(&(self.state, self.needs_reset, RngText::new(&self.rng)))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let (state, needs_reset, rng): ([f64; 2], bool, RngText) = from_snapshot("MountainCar", snapshot)?;
        (self.state, self.needs_reset, self.rng) = (state, needs_reset, rng.rng()?);
        Ok(())
    }

    fn render(&mut self) -> Result<RgbFrame> {
        if self.needs_reset {
            return Err(not_reset("MountainCar"));
        }
        Ok(draw(self.state[0], Self::GOAL_POSITION))
    }
}

fn write_obs(state: [f64; 2], obs: &mut [f32]) {
    obs[0] = state[0] as f32;
    obs[1] = state[1] as f32;
}

/// MountainCarContinuous-v0: force in [-1, 1]; +100 on reaching position >= 0.45, minus 0.1 * force^2 each step.
///
/// Gymnasium stores this env's state as float32 after the first step (it is f64 right after reset) and, under
/// NumPy 2's promotion rules, then computes in float32. rlx reproduces that bit for bit: `state_is_f32` tracks it.
#[derive(Debug, Clone)]
pub struct MountainCarContinuous {
    state: [f64; 2],
    state_is_f32: bool,
    needs_reset: bool,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCarContinuous {
    const POWER: f64 = 0.0015;
    const GOAL_POSITION: f64 = 0.45;

    pub fn new() -> Self {
        MountainCarContinuous {
            state: [0.0; 2],
            state_is_f32: false,
            needs_reset: true,
            rng: entropy_rng(),
            observation_space: observation_space(),
            action_space: Space::box_f32(vec![-1.0], vec![1.0]),
        }
    }

    /// One step of the dynamics. `self.state_is_f32` selects float32 arithmetic (every step but the first one
    /// after reset). The acceleration term `force * power - 0.0025 * cos(3 * position)` is float32 when the action
    /// was within bounds (np.float32 times a Python float) and float64 when Python's min/max replaced it by a bound.
    fn dynamics(&self, action: f32) -> [f64; 2] {
        let clipped = action.clamp(-1.0, 1.0);
        // `three_position` is `3 * position` computed in the state's precision.
        let term = |three_position: f64| -> f64 {
            let gravity_term = 0.0025 * three_position.cos();
            if clipped == action {
                (clipped * Self::POWER as f32 - gravity_term as f32) as f64
            } else {
                clipped as f64 * Self::POWER - gravity_term
            }
        };
        if self.state_is_f32 {
            let [position, velocity] = self.state.map(|v| v as f32);
            let term = term((3.0 * position) as f64) as f32;
            let mut velocity = (velocity + term).clamp(-MAX_SPEED as f32, MAX_SPEED as f32);
            let position = (position + velocity).clamp(MIN_POSITION as f32, MAX_POSITION as f32);
            if position == MIN_POSITION as f32 && velocity < 0.0 {
                velocity = 0.0;
            }
            [position as f64, velocity as f64]
        } else {
            let [position, velocity] = self.state;
            let mut velocity = (velocity + term(3.0 * position)).clamp(-MAX_SPEED, MAX_SPEED);
            let position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
            if position == MIN_POSITION && velocity < 0.0 {
                velocity = 0.0;
            }
            [position, velocity]
        }
    }
}

impl Env for MountainCarContinuous {
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
        self.state = initial_state(&mut self.rng);
        self.state_is_f32 = false;
        self.needs_reset = false;
        write_obs(self.state, obs);
        Info::default()
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step> {
        if self.needs_reset {
            return Err(EnvError::ResetNeeded);
        }
        self.action_space.validate(action)?;
        let Action::Continuous(&[force]) = action else { unreachable!("validated") };
        let [position, velocity] = self.dynamics(force);
        let terminated = if self.state_is_f32 {
            position as f32 >= Self::GOAL_POSITION as f32 && velocity >= 0.0
        } else {
            position >= Self::GOAL_POSITION && velocity >= 0.0
        };
        // The reward uses the unclipped action, as Gymnasium does.
        let reward = (if terminated { 100.0 } else { 0.0 }) - (force as f64).powi(2) * 0.1;
        self.state = [position as f32 as f64, velocity as f32 as f64];
        self.state_is_f32 = true;
        write_obs(self.state, obs);
        Ok(Step { reward, terminated, truncated: false, info: Info::default() })
    }

    fn state(&self) -> Option<Vec<f64>> {
        Some(self.state.to_vec())
    }

    /// Sets a float64 state, as right after reset (the next step computes in f64, later ones in f32).
    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        check_state("MountainCarContinuous", state, 2)?;
        self.state.copy_from_slice(state);
        self.state_is_f32 = false;
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        to_snapshot(&(self.state, self.state_is_f32, self.needs_reset, RngText::new(&self.rng)))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let (state, state_is_f32, needs_reset, rng): ([f64; 2], bool, bool, RngText) =
            from_snapshot("MountainCarContinuous", snapshot)?;
        (self.state, self.state_is_f32, self.needs_reset, self.rng) = (state, state_is_f32, needs_reset, rng.rng()?);
        Ok(())
    }

    fn render(&mut self) -> Result<RgbFrame> {
        if self.needs_reset {
            return Err(not_reset("MountainCarContinuous"));
        }
        Ok(draw(self.state[0], Self::GOAL_POSITION))
    }
}

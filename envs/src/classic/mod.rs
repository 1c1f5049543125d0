//! Classic control, as in Gymnasium 1.x: dynamics in f64, observations in f32.

mod acrobot;
mod cartpole;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::{MountainCar, MountainCarContinuous};
pub use pendulum::Pendulum;

/// `x**2` as Python floats and NumPy float64 scalars compute it: libm's `pow(x, 2)`. glibc's `pow` is not
/// correctly rounded, so it differs from `x * x` in the last bit for about 0.1% of inputs; Gymnasium's chaotic
/// Acrobot amplifies one such bit into a different trajectory. `black_box` keeps LLVM from rewriting the call
/// into a multiplication.
fn pow2(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// `x**2` of a NumPy float32 scalar: libm's `powf(x, 2)` (differs from `x * x` for about 0.07% of inputs).
fn pow2_f32(x: f32) -> f32 {
    x.powf(std::hint::black_box(2.0))
}

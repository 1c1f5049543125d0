//! SB3's `ActorCriticPolicy`: a feature body, an action head and a value head.
//!
//! - Vector observations: separate actor and critic MLPs (`net_arch_pi`, `net_arch_vf`, default 64-64 tanh).
//! - Image observations `(C, H, W)` (uint8 frames): a shared NatureCNN, then linear heads (SB3's `CnnPolicy`).
//!
//! With `ortho_init` (SB3's default) weights are orthogonal with gain sqrt(2) in the body, 0.01 in the action
//! head and 1 in the value head; biases are zero.

use crate::distributions::ActionDist;
use crate::{AgentError, Result};
use rlx_envs::vector::Actions;
use rlx_envs::Space;
use rlx_models::{orthogonal_linear, Activation, Mlp, NatureCnn, Precision};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// Network settings of the actor-critic policy; defaults are SB3's `MlpPolicy`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyConfig {
    /// Hidden layers of the actor MLP (vector observations).
    pub net_arch_pi: Vec<i64>,
    /// Hidden layers of the critic MLP (vector observations).
    pub net_arch_vf: Vec<i64>,
    pub activation: Activation,
    /// Orthogonal initialization with SB3's gains; false keeps PyTorch's default initialization.
    pub ortho_init: bool,
    /// Initial log standard deviation of Gaussian policies.
    pub log_std_init: f64,
    /// Arithmetic of NatureCNN's forward pass (image observations; the heads stay f32).
    pub precision: Precision,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            net_arch_pi: vec![64, 64],
            net_arch_vf: vec![64, 64],
            activation: Activation::Tanh,
            ortho_init: true,
            log_std_init: 0.0,
            precision: Precision::F32,
        }
    }
}

enum Body {
    Mlp { pi: Mlp, vf: Mlp },
    Cnn(Box<NatureCnn>),
}

/// What the action head produces.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Discrete { n: i64 },
    Continuous { dim: i64 },
}

impl ActionKind {
    pub fn from_space(space: &Space) -> Result<Self> {
        match space {
            Space::Discrete { n, start: 0 } => Ok(ActionKind::Discrete { n: *n }),
            Space::Box { low, .. } => Ok(ActionKind::Continuous { dim: low.len() as i64 }),
            other => {
                Err(AgentError::Config(format!("the actor-critic policy does not support the action space {other}")))
            }
        }
    }

    /// Values per action in the rollout buffer.
    pub fn action_len(&self) -> usize {
        match self {
            ActionKind::Discrete { .. } => 1,
            ActionKind::Continuous { dim } => *dim as usize,
        }
    }

    /// The policy's float actions as a vector env takes them; discrete ones are converted into `scratch`.
    /// Gaussian actions go unclipped: the env clips them to its bounds.
    pub fn env_actions<'a>(&self, actions: &'a [f32], scratch: &'a mut Vec<i64>) -> Actions<'a> {
        match self {
            ActionKind::Discrete { .. } => {
                scratch.clear();
                scratch.extend(actions.iter().map(|&a| a as i64));
                Actions::Discrete(scratch)
            }
            ActionKind::Continuous { .. } => Actions::Continuous(actions),
        }
    }
}

/// The policy and value networks with their parameters (`vs`).
pub struct ActorCritic {
    pub vs: nn::VarStore,
    body: Body,
    action_net: nn::Linear,
    value_net: nn::Linear,
    log_std: Option<Tensor>,
    pub action_kind: ActionKind,
    /// Observation shape without the batch dimension.
    pub obs_shape: Vec<i64>,
    precision: Precision,
}

impl ActorCritic {
    pub fn new(observation_space: &Space, action_space: &Space, config: &PolicyConfig, device: Device) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let obs_shape: Vec<i64> = observation_space.shape().iter().map(|&d| d as i64).collect();
        let action_kind = ActionKind::from_space(action_space)?;
        let gain = |g: f64| config.ortho_init.then_some(g);
        let sqrt2 = std::f64::consts::SQRT_2;
        let (body, pi_dim, vf_dim) = match obs_shape.as_slice() {
            [dim] => {
                let pi = Mlp::new(&(&root / "pi"), *dim, &config.net_arch_pi, config.activation, gain(sqrt2));
                let vf = Mlp::new(&(&root / "vf"), *dim, &config.net_arch_vf, config.activation, gain(sqrt2));
                let (p, v) = (pi.out_dim(), vf.out_dim());
                (Body::Mlp { pi, vf }, p, v)
            }
            [channels, 84, 84] => (
                Body::Cnn(Box::new(NatureCnn::new(&(&root / "cnn"), *channels, gain(sqrt2)))),
                NatureCnn::FEATURES,
                NatureCnn::FEATURES,
            ),
            other => {
                return Err(AgentError::Config(format!(
                    "observations of shape {other:?} are not supported (a vector, or (C, 84, 84) image stacks)"
                )))
            }
        };
        let (head_out, log_std) = match action_kind {
            ActionKind::Discrete { n } => (n, None),
            ActionKind::Continuous { dim } => {
                (dim, Some(root.var("log_std", &[dim], nn::Init::Const(config.log_std_init))))
            }
        };
        let action_net = orthogonal_linear(&root / "action_net", pi_dim, head_out, gain(0.01));
        let value_net = orthogonal_linear(&root / "value_net", vf_dim, 1, gain(1.0));
        let precision = config.precision;
        Ok(ActorCritic { vs, body, action_net, value_net, log_std, action_kind, obs_shape, precision })
    }

    /// `obs`: (B, *obs_shape), float or uint8. Returns the action distribution and V(s): (B,).
    pub fn forward(&self, obs: &Tensor) -> (ActionDist, Tensor) {
        let (latent_pi, latent_vf) = match &self.body {
            Body::Mlp { pi, vf } => {
                let x = obs.to_kind(Kind::Float);
                (pi.forward(&x), vf.forward(&x))
            }
            Body::Cnn(cnn) => {
                let features = cnn.forward_in(obs, self.precision.kind());
                (features.shallow_clone(), features)
            }
        };
        let head = self.action_net.forward(&latent_pi);
        let dist = match &self.log_std {
            None => ActionDist::Categorical { logits: head },
            Some(log_std) => ActionDist::DiagGaussian { mean: head, log_std: log_std.shallow_clone() },
        };
        (dist, self.value_net.forward(&latent_vf).squeeze_dim(-1))
    }

    /// `(rows, *obs_shape)` tensor of a batch of observations on the policy's device.
    pub fn obs_tensor<T: tch::kind::Element>(&self, obs: &[T], rows: i64) -> Tensor {
        let shape: Vec<i64> = std::iter::once(rows).chain(self.obs_shape.iter().copied()).collect();
        Tensor::from_slice(obs).reshape(shape).to_device(self.vs.device())
    }

    /// V(s) alone: (B,).
    pub fn predict_values(&self, obs: &Tensor) -> Tensor {
        self.forward(obs).1
    }
}

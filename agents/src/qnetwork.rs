//! The Q-network of DQN: SB3's `QNetwork` (an MLP on vector observations, NatureCNN on `(C, 84, 84)` frame stacks,
//! a linear head of one Q-value per action), optionally with the dueling head of Wang et al. 2016:
//! `Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)`. PyTorch's default initialization, as SB3's DQN uses.

use crate::{AgentError, Result};
use rlx_envs::Space;
use rlx_models::{Activation, Mlp, NatureCnn, Precision};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// How the Q-network is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct QNetworkConfig {
    /// Hidden layers for vector observations (SB3: [64, 64]); for frames, layers after NatureCNN's 512 features.
    pub net_arch: Vec<i64>,
    pub activation: Activation,
    pub dueling: bool,
    /// Arithmetic of NatureCNN's forward pass (the MLP and the heads stay f32).
    pub precision: Precision,
}

enum Torso {
    Mlp(Mlp),
    Cnn(Box<NatureCnn>, Mlp),
}

enum Head {
    Q(nn::Linear),
    Dueling { value: nn::Linear, advantage: nn::Linear },
}

pub struct QNetwork {
    pub vs: nn::VarStore,
    torso: Torso,
    head: Head,
    pub n_actions: i64,
    /// Observation shape without the batch dimension.
    pub obs_shape: Vec<i64>,
    precision: Precision,
}

impl QNetwork {
    pub fn new(
        observation_space: &Space,
        action_space: &Space,
        config: &QNetworkConfig,
        device: Device,
    ) -> Result<Self> {
        let n_actions = match action_space {
            Space::Discrete { n, .. } => *n,
            other => return Err(AgentError::Config(format!("DQN needs discrete actions, the env has {other:?}"))),
        };
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let obs_shape: Vec<i64> = observation_space.shape().iter().map(|&d| d as i64).collect();
        let (torso, features) = match obs_shape.as_slice() {
            [dim] => {
                let mlp = Mlp::new(&(&root / "mlp"), *dim, &config.net_arch, config.activation, None);
                let out = mlp.out_dim();
                (Torso::Mlp(mlp), out)
            }
            [channels, 84, 84] => {
                let cnn = NatureCnn::new(&(&root / "cnn"), *channels, None);
                let mlp = Mlp::new(&(&root / "mlp"), NatureCnn::FEATURES, &config.net_arch, config.activation, None);
                let out = mlp.out_dim();
                (Torso::Cnn(Box::new(cnn), mlp), out)
            }
            other => {
                return Err(AgentError::Config(format!(
                    "observations of shape {other:?} are not supported (a vector, or (C, 84, 84) image stacks)"
                )))
            }
        };
        let linear = |name: &str, out: i64| rlx_models::init::linear(&root / name, features, out, true);
        let head = if config.dueling {
            Head::Dueling { value: linear("value", 1), advantage: linear("advantage", n_actions) }
        } else {
            Head::Q(linear("q", n_actions))
        };
        Ok(QNetwork { vs, torso, head, n_actions, obs_shape, precision: config.precision })
    }

    /// `obs`: (B, *obs_shape), float or uint8 -> Q-values (B, n_actions).
    pub fn forward(&self, obs: &Tensor) -> Tensor {
        let features = match &self.torso {
            Torso::Mlp(mlp) => mlp.forward(&obs.to_kind(Kind::Float)),
            Torso::Cnn(cnn, mlp) => mlp.forward(&cnn.forward_in(obs, self.precision.kind())),
        };
        match &self.head {
            Head::Q(q) => q.forward(&features),
            Head::Dueling { value, advantage } => {
                let a = advantage.forward(&features); // (B, A)
                value.forward(&features) + &a - a.mean_dim(-1, true, Kind::Float)
            }
        }
    }

    /// `(rows, *obs_shape)` tensor of a batch of observations on the network's device.
    pub fn obs_tensor<T: tch::kind::Element>(&self, obs: &[T], rows: i64) -> Tensor {
        let shape: Vec<i64> = std::iter::once(rows).chain(self.obs_shape.iter().copied()).collect();
        Tensor::from_slice(obs).reshape(shape).to_device(self.vs.device())
    }
}

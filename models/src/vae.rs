//! A variational autoencoder (Kingma & Welling 2014) for 28x28 grey images: a Gaussian encoder q(z|x) =
//! N(mu(x), diag(sigma(x)²)) sampled with the reparameterization trick, a standard normal prior, and a Bernoulli
//! decoder p(x|z) over the pixels (grey levels as probabilities, PyTorch's `examples/vae`, or binarized images) or a
//! Gaussian one with a fixed standard deviation. Two shapes: the MLP of `examples/vae` (784-400-20) and a small
//! convolutional one (two stride-2 convolutions each way).
//!
//! Reported in nats per image: the negative ELBO `E_q[-log p(x|z)] + KL(q(z|x) || p(z))` (the KL in closed form),
//! and the importance-weighted estimate of `-log p(x)` (Burda et al. 2016) with k samples, a tighter bound that
//! approaches the true negative log-likelihood as k grows.

use crate::init;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The networks of the encoder and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaeArch {
    /// 784 -> hidden -> (mu, log sigma²) and z -> hidden -> 784, ReLU.
    Mlp,
    /// 1x28x28 -> 32x14x14 -> 64x7x7 -> hidden -> (mu, log sigma²), and back with transposed convolutions.
    Conv,
}

/// What a pixel's likelihood is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli with the decoder's sigmoid as the probability: binary cross-entropy against x in [0, 1].
    Bernoulli,
    /// Gaussian with the decoder's sigmoid as the mean and a fixed standard deviation (a density, in nats).
    Gaussian,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    pub arch: VaeArch,
    /// Latent dimensions Z (20).
    pub latent: i64,
    /// Hidden width of the MLP's layers, or of the conv VAE's fully connected layer (400 / 256).
    pub hidden: i64,
    pub likelihood: Likelihood,
    /// The Gaussian decoder's standard deviation per pixel (0.1; unused by Bernoulli).
    pub gaussian_sigma: f64,
}

/// Per-image terms of one ELBO evaluation, in nats, each (B,).
pub struct Elbo {
    /// `-log p(x|z)` for one z drawn from q(z|x).
    pub reconstruction: Tensor,
    /// `KL(q(z|x) || N(0, I))`, in closed form.
    pub kl: Tensor,
}

impl Elbo {
    /// The negative ELBO per image (B,): the loss to minimize, an upper bound on `-log p(x)`.
    pub fn negative(&self) -> Tensor {
        &self.reconstruction + &self.kl
    }
}

#[derive(Debug)]
pub struct Vae {
    pub config: VaeConfig,
    /// Encoder: the torso, then one head for mu and one for log sigma².
    encoder: nn::Sequential,
    mu: nn::Linear,
    log_var: nn::Linear,
    /// Decoder: z -> pixel logits (B, 784) or (B, 1, 28, 28).
    decoder: nn::Sequential,
}

const PIXELS: i64 = 28 * 28;

impl Vae {
    pub fn new(vs: &nn::Path, config: VaeConfig) -> Self {
        let (h, z) = (config.hidden, config.latent);
        let (encoder, decoder, torso_out) = match config.arch {
            VaeArch::Mlp => {
                let encoder = nn::seq()
                    .add_fn(|x| x.flatten(1, -1))
                    .add(init::linear(vs / "enc_fc", PIXELS, h, true))
                    .add_fn(Tensor::relu);
                let decoder = nn::seq()
                    .add(init::linear(vs / "dec_fc", z, h, true))
                    .add_fn(Tensor::relu)
                    .add(init::linear(vs / "dec_out", h, PIXELS, true));
                (encoder, decoder, h)
            }
            VaeArch::Conv => {
                let down = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
                let up = nn::ConvTransposeConfig { stride: 2, padding: 1, ..Default::default() };
                let encoder = nn::seq()
                    .add(init::conv2d(vs / "enc_conv1", 1, 32, 4, down)) // (B, 32, 14, 14)
                    .add_fn(Tensor::relu)
                    .add(init::conv2d(vs / "enc_conv2", 32, 64, 4, down)) // (B, 64, 7, 7)
                    .add_fn(Tensor::relu)
                    .add_fn(|x| x.flatten(1, -1))
                    .add(init::linear(vs / "enc_fc", 64 * 7 * 7, h, true))
                    .add_fn(Tensor::relu);
                let decoder = nn::seq()
                    .add(init::linear(vs / "dec_fc", z, h, true))
                    .add_fn(Tensor::relu)
                    .add(init::linear(vs / "dec_fc2", h, 64 * 7 * 7, true))
                    .add_fn(|x| x.relu().view([-1, 64, 7, 7]))
                    .add(init::conv_transpose2d(vs / "dec_deconv1", 64, 32, 4, up)) // (B, 32, 14, 14)
                    .add_fn(Tensor::relu)
                    .add(init::conv_transpose2d(vs / "dec_deconv2", 32, 1, 4, up)); // (B, 1, 28, 28)
                (encoder, decoder, h)
            }
        };
        Vae {
            mu: init::linear(vs / "enc_mu", torso_out, z, true),
            log_var: init::linear(vs / "enc_log_var", torso_out, z, true),
            encoder,
            decoder,
            config,
        }
    }

    /// `x`: (B, 1, 28, 28) in [0, 1] -> q(z|x)'s mean and log variance, each (B, Z).
    pub fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let hidden = self.encoder.forward(x); // (B, hidden)
        (hidden.apply(&self.mu), hidden.apply(&self.log_var))
    }

    /// `z`: (B, Z) -> the decoder's pixel logits (B, 1, 28, 28).
    pub fn decode_logits(&self, z: &Tensor) -> Tensor {
        self.decoder.forward(z).view([-1, 1, 28, 28])
    }

    /// `z`: (B, Z) -> images (B, 1, 28, 28) in [0, 1]: the decoder's mean (Bernoulli probabilities or Gaussian
    /// means), what sample grids show.
    pub fn decode(&self, z: &Tensor) -> Tensor {
        self.decode_logits(z).sigmoid()
    }

    /// `-log p(x|z)` per image (B,) from the decoder's logits (B, 1, 28, 28) and the images `x` (B, 1, 28, 28).
    pub fn reconstruction_nll(&self, logits: &Tensor, x: &Tensor) -> Tensor {
        match self.config.likelihood {
            // Binary cross-entropy summed over pixels, computed from the logits for stability.
            Likelihood::Bernoulli => logits
                .binary_cross_entropy_with_logits::<Tensor>(x, None, None, tch::Reduction::None)
                .flatten(1, -1)
                .sum_dim_intlist(1, false, Kind::Float),
            Likelihood::Gaussian => {
                let sigma = self.config.gaussian_sigma;
                let squared = (logits.sigmoid() - x).square().flatten(1, -1).sum_dim_intlist(1, false, Kind::Float);
                let log_normalizer = 0.5 * (2.0 * std::f64::consts::PI * sigma * sigma).ln();
                squared / (2.0 * sigma * sigma) + PIXELS as f64 * log_normalizer
            }
        }
    }

    /// One ELBO evaluation on `x` (B, 1, 28, 28): z drawn once per image with the reparameterization trick
    /// `z = mu + sigma * eps`, so the reconstruction term's gradient flows into the encoder.
    pub fn elbo(&self, x: &Tensor) -> Elbo {
        let eps = Tensor::randn([x.size()[0], self.config.latent], (Kind::Float, x.device()));
        self.elbo_with_noise(x, &eps)
    }

    /// [`Vae::elbo`] with the standard normal noise `eps` (B, Z) given: `z = mu + sigma * eps`.
    pub fn elbo_with_noise(&self, x: &Tensor, eps: &Tensor) -> Elbo {
        let (mu, log_var) = self.encode(x); // (B, Z) each
        let z = &mu + (&log_var * 0.5).exp() * eps;
        let reconstruction = self.reconstruction_nll(&self.decode_logits(&z), x); // (B,)
                                                                                  // KL(N(mu, sigma²) || N(0, 1)) = ½ (mu² + sigma² - log sigma² - 1), summed over Z.
        let kl = ((mu.square() + log_var.exp() - &log_var - 1.0) * 0.5).sum_dim_intlist(1, false, Kind::Float);
        Elbo { reconstruction, kl }
    }

    /// The importance-weighted bound on `-log p(x)` per image (B,) with `k` samples of q(z|x):
    /// `-log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`, evaluated `chunk` samples at a time to bound memory.
    pub fn iwae_nll(&self, x: &Tensor, k: i64, chunk: i64) -> Tensor {
        tch::no_grad(|| {
            let (mu, log_var) = self.encode(x); // (B, Z)
            let sigma = (&log_var * 0.5).exp();
            let batch = x.size()[0];
            let log_2pi = (2.0 * std::f64::consts::PI).ln();
            let mut log_weights = Vec::new();
            let mut done = 0;
            while done < k {
                let n = chunk.min(k - done);
                let eps = Tensor::randn([n, batch, self.config.latent], (Kind::Float, x.device())); // (n, B, Z)
                let z = &mu + &sigma * &eps; // (n, B, Z)
                let logits = self.decode_logits(&z.view([n * batch, -1])); // (n B, 1, 28, 28)
                let x_repeated = x.unsqueeze(0).expand([n, -1, -1, -1, -1], false).reshape([n * batch, 1, 28, 28]);
                let log_px = -self.reconstruction_nll(&logits, &x_repeated).view([n, batch]); // (n, B)
                let log_pz = (z.square() + log_2pi).sum_dim_intlist(2, false, Kind::Float) * -0.5; // (n, B)
                let log_qz = (eps.square() + &log_var + log_2pi).sum_dim_intlist(2, false, Kind::Float) * -0.5; // (n, B)
                log_weights.push(log_px + log_pz - log_qz);
                done += n;
            }
            let log_weights = Tensor::cat(&log_weights, 0); // (k, B)
            -(log_weights.logsumexp(0, false) - (k as f64).ln())
        })
    }
}

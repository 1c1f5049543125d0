//! rlx's generative models compute what the same networks compute in PyTorch: each is built, every trainable
//! parameter filled from its name by the rule `reference_generative.py` uses, and a fixed batch with fixed noise
//! compared with the numbers that script printed (PyTorch 2.11.0).

mod common;

use common::{fill, grey_batch};
use rlx_models::{Discriminator, GanLoss, Generator, Likelihood, UNet, UNetConfig, Vae, VaeArch, VaeConfig};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// The grey batch, and noise `eps[b][z] = sin(0.5 b + 0.3 z)` (4, 5).
fn batch() -> (Tensor, Tensor) {
    let x = grey_batch();
    let b = Tensor::arange(4, (Kind::Double, Device::Cpu)).view([4, 1]);
    let z = Tensor::arange(5, (Kind::Double, Device::Cpu)).view([1, 5]);
    (x, (b * 0.5 + z * 0.3).sin().to_kind(Kind::Float))
}

fn check(arch: VaeArch, likelihood: Likelihood, reconstruction: f64, kl: f64) {
    let vs = nn::VarStore::new(Device::Cpu);
    let vae = Vae::new(&vs.root(), VaeConfig { arch, latent: 5, hidden: 32, likelihood, gaussian_sigma: 0.1 });
    fill(&vs);
    let (x, eps) = batch();
    let elbo = vae.elbo_with_noise(&x, &eps);
    assert_eq!(elbo.reconstruction.size(), [4]);
    let ours = (elbo.reconstruction.mean(Kind::Double).double_value(&[]), elbo.kl.mean(Kind::Double).double_value(&[]));
    let name = format!("{arch:?} {likelihood:?}");
    assert!(
        (ours.0 - reconstruction).abs() < 1e-5 * reconstruction,
        "{name}: reconstruction {} vs PyTorch {reconstruction}",
        ours.0
    );
    assert!((ours.1 - kl).abs() < 1e-4 * kl, "{name}: KL {} vs PyTorch {kl}", ours.1);
    let negative = elbo.negative().mean(Kind::Double).double_value(&[]);
    assert!((negative - ours.0 - ours.1).abs() < 1e-3);
    assert_eq!(vae.decode(&eps).size(), [4, 1, 28, 28]);
}

#[test]
fn vae_elbo_matches_pytorch() {
    check(VaeArch::Mlp, Likelihood::Bernoulli, 542.156433, 0.0964369);
    check(VaeArch::Conv, Likelihood::Bernoulli, 544.850586, 0.0020454);
    check(VaeArch::Mlp, Likelihood::Gaussian, 2174.802979, 0.0964369);
}

#[test]
fn importance_weighted_bound_is_tighter_than_the_elbo() {
    // Untrained, so q(z|x) is far from the posterior and the gap is large: with 200 samples the estimate of
    // -log p(x) must sit below the negative ELBO's mean over many draws.
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let config =
        VaeConfig { arch: VaeArch::Mlp, latent: 5, hidden: 32, likelihood: Likelihood::Bernoulli, gaussian_sigma: 0.1 };
    let vae = Vae::new(&vs.root(), config);
    let (x, _) = batch();
    let elbo: f64 = (0..50).map(|_| vae.elbo(&x).negative().mean(Kind::Double).double_value(&[])).sum::<f64>() / 50.0;
    let nll = vae.iwae_nll(&x, 200, 64).mean(Kind::Double).double_value(&[]);
    assert!(nll < elbo, "IWAE {nll} vs -ELBO {elbo}");
    // k = 1 is the ELBO itself (one draw), so its mean over draws matches the ELBO's.
    let single: f64 =
        (0..200).map(|_| vae.iwae_nll(&x, 1, 1).mean(Kind::Double).double_value(&[])).sum::<f64>() / 200.0;
    assert!((single - elbo).abs() < 0.02 * elbo.abs(), "k=1 {single} vs -ELBO {elbo}");
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.to_kind(Kind::Double).view([-1])).unwrap()
}

fn close(ours: f64, theirs: f64, what: &str) {
    assert!((ours - theirs).abs() < 2e-6 + 1e-4 * theirs.abs(), "{what}: {ours} vs PyTorch {theirs}");
}

#[test]
fn dcgan_matches_pytorch() {
    let (x, eps) = batch();
    let (g_vs, d_vs) = (nn::VarStore::new(Device::Cpu), nn::VarStore::new(Device::Cpu));
    let generator = Generator::new(&g_vs.root(), 5, 8);
    let discriminator = Discriminator::new(&d_vs.root(), 8);
    fill(&g_vs);
    fill(&d_vs);
    let fake = generator.forward_t(&eps, true); // training mode: batch statistics, as the script
    assert_eq!(fake.size(), [4, 1, 28, 28]);
    close(fake.mean(Kind::Double).double_value(&[]), -0.0096568, "generated mean");
    close(fake.abs().mean(Kind::Double).double_value(&[]), 0.0096568, "generated |mean|");
    let real_logits = discriminator.forward_t(&(&x * 2.0 - 1.0), true);
    let fake_logits = discriminator.forward_t(&fake, true);
    for (ours, theirs) in values(&real_logits).into_iter().zip([-0.041229, -0.039921, -0.040439, -0.037941]) {
        close(ours, theirs, "real logit");
    }
    for (ours, theirs) in values(&fake_logits).into_iter().zip([-0.031943, -0.032134, -0.03237, -0.03219]) {
        close(ours, theirs, "fake logit");
    }
    let loss = |t: Tensor| t.double_value(&[]);
    close(loss(GanLoss::NonSaturating.discriminator(&real_logits, &fake_logits)), 1.3904841, "non-saturating D loss");
    close(loss(GanLoss::NonSaturating.generator(&fake_logits)), 0.7093562, "non-saturating G loss");
    close(loss(GanLoss::Hinge.discriminator(&real_logits, &fake_logits)), 2.0077229, "hinge D loss");
    close(loss(GanLoss::Hinge.generator(&fake_logits)), 0.0321594, "hinge G loss");
}

#[test]
fn unet_matches_pytorch() {
    let (x, _) = batch();
    let vs = nn::VarStore::new(Device::Cpu);
    let unet = UNet::new(&vs.root(), UNetConfig { channels: 8, dropout: 0.0 });
    fill(&vs);
    let t = Tensor::from_slice(&[0i64, 10, 500, 999]);
    let predicted = unet.forward_t(&(&x * 2.0 - 1.0), &t, true);
    assert_eq!(predicted.size(), [4, 1, 28, 28]);
    close(predicted.mean(Kind::Double).double_value(&[]), -0.0468090, "mean");
    close(predicted.abs().mean(Kind::Double).double_value(&[]), 0.0468090, "|mean|");
    let first = values(&predicted.view([-1]).narrow(0, 0, 3));
    for (ours, theirs) in first.into_iter().zip([-0.05360965430736542, -0.055193591862916946, -0.05537082627415657]) {
        close(ours, theirs, "first outputs");
    }
}

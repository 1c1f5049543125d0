//! `rlx generative` end to end on the real MNIST digits (fetched by scripts/bootstrap.sh): a small VAE learns, a
//! run resumed from its epoch checkpoint reproduces the uninterrupted curve exactly, sample grids are written and
//! are the same for the same seed, `eval` agrees with the run and puts the Fréchet distance between its floor and
//! pixel noise, and bad input is a one-line error that leaves nothing behind.

mod common;

use common::{curve, expect_error, rlx, stderr};
use std::path::Path;

fn value(rows: &[(u64, String, String)], tag: &str) -> Vec<f64> {
    rows.iter().filter(|r| r.1 == tag).map(|r| r.2.parse().unwrap()).collect()
}

fn ok(args: &[&str]) -> String {
    let out = rlx(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A quick MNIST classifier for the metric: LeNet-5, one epoch.
fn classifier(dir: &Path) -> String {
    let path = dir.join("classifier");
    let p = path.to_str().unwrap();
    ok(&["supervised", "mnist-lenet", "--run-dir", p, "--device", "cpu", "--set", "epochs=1"]);
    format!("classifier={p}")
}

fn printed(text: &str, key: &str) -> f64 {
    let line = text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no `{key}` in {text}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn vae_learns_mnist_resumes_exactly_samples_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let classifier = classifier(dir.path());
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    let train = |run: &Path, epochs: &str| {
        let r = run.to_str().unwrap();
        let small = ["hidden=128", "latent=8", "fid_samples=1000", "iwae_samples=20", "grid_size=16", epochs];
        let mut args =
            vec!["generative", "mnist-vae", "--run-dir", r, "--device", "cpu", "--seed", "2", "--set", &classifier];
        for s in &small {
            args.extend(["--set", s]);
        }
        ok(&args)
    };
    train(&straight, "epochs=2");
    let rows = curve(&straight);
    let val = value(&rows, "val/loss");
    assert_eq!(val.len(), 2);
    // An untrained decoder costs 784 ln 2 = 543 nats per digit; two epochs of a small VAE reach well under 200.
    assert!(val[1] < val[0] && val[1] < 200.0, "held-out -ELBO: {val:?}");
    let elbo = value(&rows, "val/elbo");
    assert!((elbo[1] + val[1]).abs() < 1e-9);
    let fid = value(&rows, "eval/fid");
    assert_eq!(fid.len(), 2);
    assert!(!value(&rows, "train/elbo").is_empty());
    for file in ["samples/epoch_001.png", "samples/epoch_002.png", "interpolation.png"] {
        assert!(straight.join(file).is_file(), "{file} missing");
    }

    // One epoch, then resume to two: the same curve, number for number.
    train(&split, "epochs=1");
    let out = ok(&["generative", "--resume", split.to_str().unwrap(), "--set", "epochs=2"]);
    assert!(out.contains("done: 2 epochs"), "{out}");
    assert_eq!(curve(&split), rows);
    // The extension is kept in the run's config (header included): a plain resume finds the run complete.
    let config = std::fs::read_to_string(split.join("config.toml")).unwrap();
    assert!(config.starts_with("# rlx generative") && config.contains("\nepochs = 2\n"), "{config}");
    assert!(ok(&["generative", "--resume", split.to_str().unwrap()]).contains("is complete (2 of 2 epochs)"));

    // Samples: the same grid for the same seed, another for another seed.
    let grid = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        let o = out.to_str().unwrap();
        ok(&["generative", "sample", straight.to_str().unwrap(), "--n", "9", "--out", o, "--seed", seed]);
        std::fs::read(out).unwrap()
    };
    assert_eq!(grid("5", "a.png"), grid("5", "b.png"));
    assert_ne!(grid("5", "a.png"), grid("6", "c.png"));

    // `eval`: the run's held-out ELBO, an importance-weighted NLL below it, and the Fréchet distance between the
    // floor of real digits and pixel noise.
    let text = ok(&["generative", "eval", straight.to_str().unwrap()]);
    let test_elbo = printed(&text, "test_elbo ");
    assert!((test_elbo - elbo[1]).abs() < 1e-2, "{text}");
    let nll = printed(&text, "test_nll ");
    assert!(nll < -test_elbo, "{text}");
    let (fid, floor, noise) = (printed(&text, "fid "), printed(&text, "fid_floor "), printed(&text, "fid_noise "));
    assert!(floor < fid && fid < noise, "{text}");
    // The finished run's own last distance is reported rather than sampled again (minutes for the DDPM). Without
    // the run's summary, `eval` samples anew from the config's seed and gets the same number.
    let last_fid = *value(&rows, "eval/fid").last().unwrap();
    assert!(text.contains("computed by training") && (fid - last_fid).abs() < 1e-3, "{text}");
    std::fs::rename(straight.join("summary.json"), dir.path().join("summary.json")).unwrap();
    let text = ok(&["generative", "eval", straight.to_str().unwrap()]);
    assert!(!text.contains("computed by training") && (printed(&text, "fid ") - last_fid).abs() < 1e-3, "{text}");
}

#[test]
fn bad_generative_input_is_a_one_line_error_that_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    expect_error(&["generative", "mnist-gan9", "--run-dir", r], "unknown task `mnist-gan9` (known: fashion-vae");
    expect_error(&["generative", "mnist-vae", "--run-dir", r, "--set", "arch=rnn"], "unknown variant `rnn`");
    expect_error(&["generative", "mnist-vae", "--run-dir", r, "--set", "fid_samples=1"], "fid_samples");
    // The metric's classifier is looked for before any training.
    let missing = format!("classifier={}", dir.path().join("nothing").display());
    expect_error(&["generative", "mnist-vae", "--run-dir", r, "--set", &missing], "no classifier checkpoint");
    assert!(!run.exists(), "a failed start left a run folder");
    expect_error(&["generative", "sample", r], "a run folder?");

    let good = dir.path().join("good");
    let g = good.to_str().unwrap();
    ok(&["generative", "mnist-vae", "--run-dir", g, "--device", "cpu", "--set", "epochs=1", "--set", "fid_samples=0"]);
    expect_error(&["generative", "sample", g, "--n", "0"], "--n must be 1 to 10,000");
    expect_error(&["generative", "sample", g, "--out", "grid.jpg"], "PNG");
    expect_error(&["generative", "sample", g, "--out", "/no/such/folder/grid.png"], "does not exist");
    // A corrupt checkpoint is refused by name, and is left as it was.
    let checkpoint = good.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let n = bytes.len();
    bytes[n - 100..].fill(0xff);
    std::fs::write(&checkpoint, &bytes).unwrap();
    expect_error(
        &["generative", "sample", g, "--out", dir.path().join("x.png").to_str().unwrap()],
        "checksum mismatch",
    );
    assert_eq!(std::fs::read(&checkpoint).unwrap(), bytes);
}

#[test]
fn dcgan_and_ddpm_learn_resume_exactly_and_sample_the_same_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    let tiny: [(&str, &[&str]); 2] = [
        ("mnist-dcgan", &["gan_width=8", "latent=16"]),
        (
            "mnist-ddpm",
            &[
                "unet_channels=4",
                "diffusion_steps=100",
                "ddim_steps=5",
                "learning_rate=2e-3",
                "ema_decay=0.9",
                "batch_size=256",
            ],
        ),
    ];
    for (task, settings) in tiny {
        let train = |run: &Path, epochs: &str| {
            let r = run.to_str().unwrap();
            let mut args = vec!["generative", task, "--run-dir", r, "--device", "cpu", "--seed", "1"];
            for s in settings.iter().chain(&["fid_samples=0", "grid_size=4", epochs]) {
                args.extend(["--set", s]);
            }
            ok(&args)
        };
        let (straight, split) = (dir.path().join(format!("{task}-straight")), dir.path().join(format!("{task}-split")));
        train(&straight, "epochs=2");
        let rows = curve(&straight);
        if task == "mnist-dcgan" {
            // The discriminator learns to tell 8,000 real digits from a barely trained generator's: its loss falls
            // from ln 4 = 1.39 (no idea) and it believes real digits are real.
            let loss_d = value(&rows, "train/loss_d");
            assert!(loss_d.last().unwrap() < &1.2, "{loss_d:?}");
            assert!(value(&rows, "val/d_real")[1] > 0.6);
            assert!(!value(&rows, "train/loss_g").is_empty());
        } else {
            // An untrained network predicts no noise (its output layer starts at zero): MSE 1. Two epochs of even a
            // 4-channel U-Net bring it well below.
            let loss = value(&rows, "train/epoch_loss");
            assert!(loss[1] < 0.6, "{loss:?}");
            let val = value(&rows, "val/loss");
            assert!(val[1] < val[0] && val[1] < 0.8, "{val:?}");
        }
        assert!(straight.join("samples/epoch_002.png").is_file());
        train(&split, "epochs=1");
        ok(&["generative", "--resume", split.to_str().unwrap(), "--set", "epochs=2"]);
        assert_eq!(curve(&split), rows, "{task}: a resumed run must repeat the straight one");
        let grid = |seed: &str, name: &str| {
            let out = dir.path().join(name);
            ok(&[
                "generative",
                "sample",
                straight.to_str().unwrap(),
                "--n",
                "4",
                "--out",
                out.to_str().unwrap(),
                "--seed",
                seed,
            ]);
            std::fs::read(out).unwrap()
        };
        assert_eq!(grid("3", "a.png"), grid("3", "b.png"), "{task}");
        assert_ne!(grid("3", "a.png"), grid("4", "c.png"), "{task}");
    }
}

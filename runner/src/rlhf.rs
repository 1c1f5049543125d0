//! `rlx rlhf`: the RLHF pipeline's stages on rlx's runner (presets/rlhf/*.toml, `--set section.key=value`, one run
//! folder, TensorBoard + CSV logs and a checkpoint per stage, resume, devices).
//!
//! ```text
//! rlx rlhf pretrain [--preset NAME] [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set section.key=value]...
//! rlx rlhf sft RUN_DIR [--set sft.key=value]...
//! rlx rlhf rm RUN_DIR [--set rm.key=value]...
//! rlx rlhf ppo RUN_DIR [--set ppo.key=value]...
//! rlx rlhf dpo RUN_DIR [--set dpo.key=value]...
//! rlx rlhf eval RUN_DIR
//! rlx rlhf all [--preset NAME] [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set section.key=value]...
//! rlx rlhf --resume RUN_DIR
//! rlx rlhf sample RUN_DIR [--stage pretrain|sft|ppo|dpo] [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed N]
//! ```
//!
//! The run folder: `config.toml` (the resolved config), `tokenizer.json` (trained on the corpus when the run
//! starts), and per stage `<stage>/checkpoint.safetensors`, `progress.csv`, the event file and `summary.json`.

use crate::config;
use crate::train::{RunOptions, CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rlx_agents::device;
use rlx_agents::logger::Logger;
use rlx_agents::rlhf::dpo::DpoTrainer;
use rlx_agents::rlhf::eval;
use rlx_agents::rlhf::eval::Judged;
use rlx_agents::rlhf::ppo::{log_judgement, PpoTrainer};
use rlx_agents::rlhf::pretrain::Pretrainer;
use rlx_agents::rlhf::reward::{label_pairs, load_reward_model, RewardTrainer};
use rlx_agents::rlhf::sft::{demonstrations, SftTrainer};
use rlx_agents::rlhf::task::{self, GoldReward, Lexicon};
use rlx_agents::rlhf::{
    evaluate_policy, kl_to_reference, line_end_tokens, load_gpt, load_tokenizer, Corpus, PolicyEval, RlhfConfig,
    TOKENIZER_FILE,
};
use rlx_models::{Bpe, Sampling};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct RlhfArgs {
    /// The stage to run (`pretrain` starts a run; `sft`, `rm`, `ppo`, `dpo` continue one), `eval` (the policies side
    /// by side), `all` (every stage, then eval), or `sample`; all but `pretrain` and `all` take a run folder.
    #[arg(required_unless_present = "resume")]
    pub command: Option<String>,
    /// With a stage after pretraining and with `sample`: the run folder.
    pub run: Option<PathBuf>,
    /// The preset (presets/rlhf/NAME.toml): default, tiny or gpu (default: default).
    #[arg(long)]
    pub preset: Option<String>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, conflicts_with_all = ["command", "preset", "seed", "run_dir"])]
    pub resume: Option<PathBuf>,
    /// With `sample`: the text to continue.
    #[arg(long, default_value = "ROMEO.\n")]
    pub prompt: String,
    /// With `sample`: tokens to generate.
    #[arg(long, default_value_t = 100)]
    pub tokens: usize,
    /// With `sample`: softmax temperature (0: always the most likely token).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// With `sample`: draw only from the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<i64>,
    /// With `sample`: the policy to sample from, pretrain, sft, ppo or dpo (default: the last of the pipeline that
    /// has a checkpoint).
    #[arg(long)]
    pub stage: Option<String>,
    #[command(flatten)]
    pub options: RunOptions,
}

pub fn run(args: RlhfArgs) -> Result<()> {
    crate::train::install_interrupt_handler();
    if let Some(run_dir) = &args.resume {
        let mut config = read_config(run_dir)?;
        if args.options.change_config() {
            let mut table = toml::Table::try_from(&config)?;
            args.options.apply_to(&mut table)?;
            config = parse(table)?;
        }
        // The latest stage that has a checkpoint: it continues if unfinished, or says it is done.
        let show = args.options.show_progress();
        return if run_dir.join("dpo").join(CHECKPOINT_FILE).exists() {
            dpo(&config, run_dir, true, show)
        } else if run_dir.join("ppo").join(CHECKPOINT_FILE).exists() {
            ppo(&config, run_dir, true, show)
        } else if run_dir.join("rm").join(CHECKPOINT_FILE).exists() {
            reward_model(&config, run_dir, true, show)
        } else if run_dir.join("sft").join(CHECKPOINT_FILE).exists() {
            sft(&config, run_dir, true, show)
        } else {
            pretrain(&config, run_dir, true, show)
        };
    }
    match args.command.as_deref().expect("clap requires a command") {
        "pretrain" => {
            let (config, run_dir) = new_run(&args)?;
            if run_dir.join(CONFIG_FILE).exists() {
                bail!(
                    "{} already holds a run; resume it with `rlx rlhf --resume {0}` or pick another --run-dir",
                    run_dir.display()
                );
            }
            pretrain(&config, &run_dir, false, args.options.show_progress())
        }
        "all" => {
            let (config, run_dir) = new_run(&args)?;
            all(config, &run_dir, &args)
        }
        "eval" => {
            let run_dir = args.run.as_deref().context("usage: rlx rlhf eval RUN_DIR")?;
            evaluate(&read_config(run_dir)?, run_dir)
        }
        stage @ ("sft" | "rm" | "ppo" | "dpo") => {
            let run_dir = args
                .run
                .as_deref()
                .with_context(|| format!("usage: rlx rlhf {stage} RUN_DIR [--set {stage}.key=value]"))?;
            let mut config = read_config(run_dir)?;
            if args.options.change_config() {
                let mut table = toml::Table::try_from(&config)?;
                args.options.apply_to(&mut table)?;
                config = parse(table)?;
            }
            match stage {
                "sft" => sft(&config, run_dir, false, args.options.show_progress()),
                "rm" => reward_model(&config, run_dir, false, args.options.show_progress()),
                "ppo" => ppo(&config, run_dir, false, args.options.show_progress()),
                _ => dpo(&config, run_dir, false, args.options.show_progress()),
            }
        }
        "sample" => {
            let run_dir = args.run.as_deref().context("usage: rlx rlhf sample RUN_DIR [--prompt TEXT]")?;
            sample(run_dir, &args)
        }
        other => bail!("unknown rlhf command `{other}` (known: pretrain, sft, rm, ppo, dpo, eval, all, sample)"),
    }
}

/// The config and run folder of a new run: the preset (default `default`) with `--set`, `--seed`, `--device`.
fn new_run(args: &RlhfArgs) -> Result<(RlhfConfig, PathBuf)> {
    let preset = args.preset.as_deref().unwrap_or("default");
    let (mut table, _) = config::preset_table("rlhf", Some(preset), preset)?;
    args.options.apply_to(&mut table)?;
    let config = parse(table)?;
    let run_dir = args.options.run_dir_or_default(&format!("rlhf__{preset}__{}", config.seed));
    Ok((config, run_dir))
}

/// `rlx rlhf all`: every stage in order, then `eval`, in one run folder. A folder that already holds the run
/// continues it: finished stages are skipped, an unfinished one resumes from its checkpoint.
fn all(config: RlhfConfig, run_dir: &Path, args: &RlhfArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let show = args.options.show_progress();
    let config = if run_dir.join(CONFIG_FILE).exists() {
        eprintln!("{} holds a run: continuing its pipeline", run_dir.display());
        let mut saved = read_config(run_dir)?;
        if args.options.change_config() {
            let mut table = toml::Table::try_from(&saved)?;
            args.options.apply_to(&mut table)?;
            saved = parse(table)?;
        }
        pretrain(&saved, run_dir, true, show)?;
        saved
    } else {
        pretrain(&config, run_dir, false, show)?;
        config
    };
    type StageFn = fn(&RlhfConfig, &Path, bool, bool) -> Result<()>;
    let stages: [(&str, StageFn); 4] = [("sft", sft), ("rm", reward_model), ("ppo", ppo), ("dpo", dpo)];
    for (name, stage) in stages {
        let resume = run_dir.join(name).join(CHECKPOINT_FILE).exists();
        stage(&config, run_dir, resume, show)?;
    }
    evaluate(&config, run_dir)?;
    println!(
        "the whole pipeline took {:.1} min; run folder: {}",
        started.elapsed().as_secs_f64() / 60.0,
        run_dir.display()
    );
    Ok(())
}

fn parse(table: toml::Table) -> Result<RlhfConfig> {
    let config: RlhfConfig = config::from_table(table, "rlhf")?;
    config.validate()?;
    Ok(config)
}

/// Reads an RLHF run folder's resolved config.
pub fn read_config(run_dir: &Path) -> Result<RlhfConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} an rlhf run folder?)", path.display(), run_dir.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    parse(table).with_context(|| format!("{} (saved config)", path.display()))
}

fn write_config(config: &RlhfConfig, run_dir: &Path) -> Result<()> {
    let header = "# rlx rlhf: resolved config\n".to_string();
    config::write_atomic(&run_dir.join(CONFIG_FILE), &(header + &toml::to_string(config)?))
}

/// Pretraining: a new run (the corpus split, the tokenizer trained and saved, the config written) or the
/// resumption of one from `pretrain/checkpoint.safetensors`.
fn pretrain(config: &RlhfConfig, run_dir: &Path, resume: bool, show_progress: bool) -> Result<()> {
    let device = config.device.resolve()?;
    // The corpus before the disk: a missing dataset leaves no run folder behind.
    let corpus = Corpus::load((!config.data.is_empty()).then(|| Path::new(&config.data)))?;
    let stage_dir = run_dir.join("pretrain");
    let checkpoint = stage_dir.join(CHECKPOINT_FILE);
    let tokenizer = if resume {
        if !checkpoint.exists() {
            bail!("{} has no pretraining checkpoint to resume from", run_dir.display());
        }
        let tokenizer = load_tokenizer(run_dir)?;
        // The folder's config stays the one its checkpoints are trained with (`--set` may have changed it).
        write_config(config, run_dir)?;
        tokenizer
    } else {
        std::fs::create_dir_all(run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
        write_config(config, run_dir)?;
        let started = std::time::Instant::now();
        let tokenizer = corpus.train_tokenizer(config.tokenizer.vocab_size)?;
        tokenizer.save(&run_dir.join(TOKENIZER_FILE))?;
        eprintln!(
            "tokenizer: byte-level BPE, {} tokens, trained on {} characters in {:.1} s",
            tokenizer.vocab_size(),
            corpus.train.len(),
            started.elapsed().as_secs_f64()
        );
        tokenizer
    };
    let (train, val) = (tokenizer.encode(&corpus.train), tokenizer.encode(&corpus.val));
    let mut trainer = Pretrainer::new(config.gpt(&tokenizer), config.pretrain.clone(), config.seed, device)?;
    if resume {
        trainer.load(&checkpoint)?;
        if trainer.iter >= config.pretrain.iters {
            println!(
                "{} is pretrained ({} of {} steps); to train further: rlx rlhf --resume {0} --set pretrain.iters=N",
                run_dir.display(),
                trainer.iter,
                config.pretrain.iters
            );
            return Ok(());
        }
        eprintln!("resuming pretraining of {} at step {}", run_dir.display(), trainer.iter);
    }
    eprintln!(
        "pretraining a {} on {} training / {} held-out tokens ({:.2} characters per token), on {}, logging to {}",
        trainer.describe(),
        train.len(),
        val.len(),
        corpus.train.len() as f64 / train.len().max(1) as f64,
        device::name(device),
        stage_dir.display()
    );
    let resumed_at = resume.then_some(trainer.iter);
    let mut logger = Logger::new(Some(&stage_dir), config.pretrain.iters, show_progress, resumed_at)?;
    let summary = trainer.train(&train, &val, &mut logger, &checkpoint)?;
    drop(logger);
    let mut json = serde_json::to_value(&summary)?;
    json["train_tokens"] = serde_json::json!(train.len());
    json["val_tokens"] = serde_json::json!(val.len());
    config::write_atomic(&stage_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&json)?)?;
    println!(
        "pretrained: {} steps in {:.1} s ({:.0} tokens/s), train loss {:.4}, held-out loss {:.4}; run folder: {}",
        summary.iters,
        summary.wall_time_s,
        summary.tokens_per_s,
        summary.train_loss,
        summary.val_loss,
        run_dir.display()
    );
    let sampling = Sampling { temperature: 0.8, top_k: None };
    let text = continue_text(&trainer.model, &tokenizer, "ROMEO.\n", 60, sampling, config.seed)?;
    println!("sample (temperature 0.8):\nROMEO.\n{text}");
    Ok(())
}

/// What a stage after pretraining starts from: the device, the run's tokenizer, corpus and gold judge, the
/// checkpoint of the stage it builds on, its own folder and checkpoint.
struct Stage {
    device: tch::Device,
    tokenizer: Bpe,
    corpus: Corpus,
    gold: GoldReward,
    base: PathBuf,
    dir: PathBuf,
    checkpoint: PathBuf,
}

impl Stage {
    /// The stage built on (SFT on pretraining, the others on SFT) and what its checkpoint holds, for messages.
    fn base_of(stage: &str) -> (&'static str, &'static str) {
        match stage {
            "sft" => ("pretrain", "a pretrained model"),
            _ => ("sft", "a fine-tuned model"),
        }
    }

    /// Checks that the base stage is done and, unless resuming, that `stage` has not run yet; then loads what the
    /// stage needs.
    fn setup(config: &RlhfConfig, run_dir: &Path, stage: &str, resume: bool) -> Result<Stage> {
        let device = config.device.resolve()?;
        let (base_stage, base_holds) = Self::base_of(stage);
        let base = run_dir.join(base_stage).join(CHECKPOINT_FILE);
        if !base.exists() {
            let run = run_dir.display();
            let how = if base_stage == "pretrain" {
                format!("pretrain --run-dir {run}")
            } else {
                format!("{base_stage} {run}")
            };
            bail!("{run} has no {}: run `rlx rlhf {how}` first", &base_holds[2..]);
        }
        let dir = run_dir.join(stage);
        let checkpoint = dir.join(CHECKPOINT_FILE);
        if !resume && checkpoint.exists() {
            bail!("{} already has its {stage} stage; continue it with `rlx rlhf --resume {0}`", run_dir.display());
        }
        let tokenizer = load_tokenizer(run_dir)?;
        let corpus = Corpus::load((!config.data.is_empty()).then(|| Path::new(&config.data)))?;
        let gold = GoldReward::new(Lexicon::load(None)?, &corpus.train, config.gold.clone());
        Ok(Stage { device, tokenizer, corpus, gold, base, dir, checkpoint })
    }
}

/// Supervised fine-tuning of the pretrained GPT on gold-filtered demonstrations, with the gold reward of the
/// policy's continuations of held-out prompts before and after.
fn sft(config: &RlhfConfig, run_dir: &Path, resume: bool, show_progress: bool) -> Result<()> {
    let Stage { device, tokenizer, corpus, gold, base: pretrained, dir: stage_dir, checkpoint } =
        Stage::setup(config, run_dir, "sft", resume)?;
    let gpt = config.gpt(&tokenizer);
    let block = gpt.block_size as usize;
    let sft_config = &config.sft;
    let train = demonstrations(&corpus.train, &tokenizer, &gold, sft_config, block, sft_config.max_demonstrations);
    let val = demonstrations(&corpus.val, &tokenizer, &gold, sft_config, block, 2_000);
    if train.is_empty() || val.is_empty() {
        bail!("no line of the text has a response with gold reward >= sft.min_gold = {}", sft_config.min_gold);
    }
    let mut trainer = SftTrainer::new(gpt, sft_config.clone(), &pretrained, config.seed, device)?;
    let prompts = held_out_prompts(&corpus.val, sft_config.prompt_words, config.eval.prompts);
    let before = (!resume)
        .then(|| evaluate_policy(&trainer.model, &tokenizer, &gold, &prompts, &config.eval, config.seed))
        .transpose()?;
    if resume {
        trainer.load(&checkpoint)?;
        if trainer.epoch >= sft_config.epochs {
            println!("{} is fine-tuned ({} of {} epochs)", run_dir.display(), trainer.epoch, sft_config.epochs);
            return Ok(());
        }
        eprintln!("resuming fine-tuning of {} at epoch {}", run_dir.display(), trainer.epoch + 1);
    } else {
        write_config(config, run_dir)?;
    }
    let mean_gold = train.iter().map(|d| d.gold).sum::<f64>() / train.len() as f64;
    eprintln!(
        "fine-tuning on {} demonstrations (gold reward >= {}, mean {mean_gold:.3}; {} held out), logging to {}",
        train.len(),
        sft_config.min_gold,
        val.len(),
        stage_dir.display()
    );
    let steps_per_epoch = train.len().div_ceil(sft_config.batch_size) as u64;
    let total_steps = steps_per_epoch * sft_config.epochs as u64;
    let resumed_at = resume.then_some(trainer.step);
    let mut logger = Logger::new(Some(&stage_dir), total_steps, show_progress, resumed_at)?;
    if let Some(before) = &before {
        log_policy(&mut logger, before, 0);
    }
    let started = std::time::Instant::now();
    let val_loss = trainer.train(&train, &val, &mut logger, &checkpoint)?;
    let after = evaluate_policy(&trainer.model, &tokenizer, &gold, &prompts, &config.eval, config.seed)?;
    log_policy(&mut logger, &after, trainer.step);
    logger.flush();
    let summary = serde_json::json!({
        "demonstrations": train.len(),
        "demonstration_gold_reward": mean_gold,
        "val_loss": val_loss,
        "gold_reward_before": before.as_ref().map(|b| b.gold_reward),
        "gold_reward": after.gold_reward,
        "end_rate": after.end_rate,
        "distinct_2": after.distinct_2,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    config::write_atomic(&stage_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    let before_text = before.as_ref().map_or("-".into(), |b| format!("{:.3}", b.gold_reward));
    println!(
        "fine-tuned: {} epochs, held-out response loss {val_loss:.4}; gold reward of {} held-out continuations {before_text} \
         -> {:.3}, ending their line {:.0}%; run folder: {}",
        trainer.epoch,
        prompts.len(),
        after.gold_reward,
        100.0 * after.end_rate,
        run_dir.display()
    );
    print_samples(&after);
    Ok(())
}

/// The reward model: preference pairs of the SFT policy's samples labelled by the noisy gold judge, the
/// Bradley-Terry loss, held-out accuracy beside the ceiling the label noise allows, scores normalized on the SFT
/// policy's continuations of the held-out prompts.
fn reward_model(config: &RlhfConfig, run_dir: &Path, resume: bool, show_progress: bool) -> Result<()> {
    let Stage { device, tokenizer, corpus, gold, base: sft_checkpoint, dir: stage_dir, checkpoint } =
        Stage::setup(config, run_dir, "rm", resume)?;
    let gpt = config.gpt(&tokenizer);
    let (_policy_vs, policy) = load_gpt(gpt.clone(), &sft_checkpoint, "sft", device)?;
    let rm = &config.rm;
    let words = config.sft.prompt_words;
    // A finished stage is reported before the pairs are labelled (a minute of sampling).
    let mut trainer = RewardTrainer::new(gpt, rm.clone(), &sft_checkpoint, config.seed, device)?;
    if resume {
        trainer.load(&checkpoint)?;
        if trainer.epoch >= rm.epochs {
            println!("{} has its reward model ({} of {} epochs)", run_dir.display(), trainer.epoch, rm.epochs);
            return Ok(());
        }
    }
    let started = std::time::Instant::now();
    let (train, val) = preference_pairs(config, &policy, &tokenizer, &gold, &corpus)?;
    let agree = train.iter().filter(|p| p.gold.0 > p.gold.1).count() as f64 / train.len().max(1) as f64;
    eprintln!(
        "labelled {} training and {} held-out pairs of SFT samples in {:.1} s ({:.0}% of the labels agree with the \
         gold ranking), logging to {}",
        train.len(),
        val.len(),
        started.elapsed().as_secs_f64(),
        100.0 * agree,
        stage_dir.display()
    );
    if !resume {
        write_config(config, run_dir)?;
    }
    let total_steps = train.len().div_ceil(rm.batch_size) as u64 * rm.epochs as u64;
    let mut logger = Logger::new(Some(&stage_dir), total_steps, show_progress, resume.then_some(trainer.step))?;
    let eval = trainer.train(&train, &val, &mut logger, &checkpoint)?;
    // Normalized on the SFT policy's continuations of the held-out prompts (the reference samples).
    let prompts = held_out_prompts(&corpus.val, words, config.eval.prompts);
    let reference = evaluate_policy(&policy, &tokenizer, &gold, &prompts, &config.eval, config.seed)?;
    let sequences: Vec<Vec<i64>> =
        reference.samples.iter().map(|(p, c, _)| [tokenizer.encode(p), tokenizer.encode(c)].concat()).collect();
    trainer.model.normalize(&sequences);
    trainer.save(&checkpoint)?;
    let summary = serde_json::json!({
        "pairs": train.len(),
        "held_out_pairs": val.len(),
        "label_gold_agreement": agree,
        "val_accuracy": eval.accuracy,
        "val_gold_accuracy": eval.gold_accuracy,
        "val_ceiling": eval.ceiling,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    config::write_atomic(&stage_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    println!(
        "reward model: held-out accuracy {:.1}% on the noisy labels (ceiling {:.1}%), {:.1}% against the gold ranking; \
         run folder: {}",
        100.0 * eval.accuracy,
        100.0 * eval.ceiling,
        100.0 * eval.gold_accuracy,
        run_dir.display()
    );
    Ok(())
}

/// The labelled preference pairs of a run, training and held out: two SFT samples of each prompt, labelled by the
/// noisy gold judge, the same for the reward model and DPO (seeded).
fn preference_pairs(
    config: &RlhfConfig,
    policy: &rlx_models::Gpt,
    tokenizer: &Bpe,
    gold: &GoldReward,
    corpus: &Corpus,
) -> Result<(Vec<rlx_agents::rlhf::reward::Pair>, Vec<rlx_agents::rlhf::reward::Pair>)> {
    let (rm, words) = (&config.rm, config.sft.prompt_words);
    let sampling = rlx_models::Sampling { temperature: rm.sample_temperature, top_k: None };
    let max_new = config.eval.max_new_tokens;
    let train_prompts = held_out_prompts(&corpus.train, words, rm.pairs);
    let val_prompts = held_out_prompts(&corpus.val, words, rm.held_out_pairs);
    let train = label_pairs(policy, tokenizer, gold, &train_prompts, sampling, max_new, config.seed)?;
    let val = label_pairs(policy, tokenizer, gold, &val_prompts, sampling, max_new, config.seed + 1)?;
    Ok((train, val))
}

/// DPO of the SFT policy on the reward model's preference pairs, with the gold reward and the KL to the SFT policy
/// of its continuations of the held-out prompts.
fn dpo(config: &RlhfConfig, run_dir: &Path, resume: bool, show_progress: bool) -> Result<()> {
    let Stage { device, tokenizer, corpus, gold, base: sft_checkpoint, dir: stage_dir, checkpoint } =
        Stage::setup(config, run_dir, "dpo", resume)?;
    let gpt = config.gpt(&tokenizer);
    let mut trainer = DpoTrainer::new(gpt, config.dpo.clone(), &sft_checkpoint, config.seed, device)?;
    if resume {
        trainer.load(&checkpoint)?;
        if trainer.epoch >= config.dpo.epochs {
            println!("{} has its DPO policy ({} of {} epochs)", run_dir.display(), trainer.epoch, config.dpo.epochs);
            return Ok(());
        }
    } else {
        write_config(config, run_dir)?;
    }
    let started = std::time::Instant::now();
    // The pairs are the SFT policy's samples (the frozen reference), whatever the policy has learnt so far.
    let (train, val) = preference_pairs(config, trainer.reference(), &tokenizer, &gold, &corpus)?;
    eprintln!("DPO (beta {}) on {} preference pairs, logging to {}", config.dpo.beta, train.len(), stage_dir.display());
    let total_steps = train.len().div_ceil(config.dpo.batch_size) as u64 * config.dpo.epochs as u64;
    let mut logger = Logger::new(Some(&stage_dir), total_steps, show_progress, resume.then_some(trainer.step))?;
    let accuracy = trainer.train(&train, &val, &mut logger, &checkpoint)?;
    let prompts = held_out_prompts(&corpus.val, config.sft.prompt_words, config.eval.prompts);
    let after = evaluate_policy(&trainer.policy, &tokenizer, &gold, &prompts, &config.eval, config.seed)?;
    let kl = kl_to_reference(&trainer.policy, trainer.reference(), &tokenizer, &after.samples, config.eval.temperature);
    log_policy(&mut logger, &after, trainer.step);
    logger.scalar("rlhf/kl", kl, trainer.step);
    logger.flush();
    let summary = serde_json::json!({
        "beta": config.dpo.beta,
        "pairs": train.len(),
        "val_accuracy": accuracy,
        "gold_reward": after.gold_reward,
        "kl": kl,
        "end_rate": after.end_rate,
        "distinct_2": after.distinct_2,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    config::write_atomic(&stage_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    println!(
        "DPO: held-out pair accuracy {:.1}%; gold reward of {} held-out continuations {:.3} at KL {kl:.3} nats to the \
         SFT policy, ending their line {:.0}%; run folder: {}",
        100.0 * accuracy,
        prompts.len(),
        after.gold_reward,
        100.0 * after.end_rate,
        run_dir.display()
    );
    print_samples(&after);
    Ok(())
}

/// PPO of the SFT policy against the run's reward model with a KL penalty to the SFT reference; the held-out
/// prompts are judged (gold and proxy reward, KL) before, every `ppo.eval_interval` iterations and at the end.
fn ppo(config: &RlhfConfig, run_dir: &Path, resume: bool, show_progress: bool) -> Result<()> {
    let Stage { device, tokenizer, corpus, gold, base: sft_checkpoint, dir: stage_dir, checkpoint } =
        Stage::setup(config, run_dir, "ppo", resume)?;
    let rm_checkpoint = run_dir.join("rm").join(CHECKPOINT_FILE);
    if !rm_checkpoint.exists() {
        bail!("{} has no reward model: run `rlx rlhf rm {0}` first", run_dir.display());
    }
    let (gpt, cfg, eval) = (config.gpt(&tokenizer), &config.ppo, &config.eval);
    let stop = line_end_tokens(&tokenizer);
    let block = gpt.block_size as usize;
    let mut trainer = PpoTrainer::new(
        gpt,
        cfg.clone(),
        (&sft_checkpoint, &rm_checkpoint),
        (stop, eval.max_new_tokens),
        config.seed,
        device,
    )?;
    let held_out = held_out_prompts(&corpus.val, config.sft.prompt_words, eval.prompts);
    let before = if resume {
        trainer.load(&checkpoint)?;
        if trainer.iteration >= cfg.iterations {
            println!(
                "{} has its PPO policy ({} of {} iterations)",
                run_dir.display(),
                trainer.iteration,
                cfg.iterations
            );
            return Ok(());
        }
        eprintln!("resuming PPO of {} at iteration {}", run_dir.display(), trainer.iteration + 1);
        // The folder's config stays the one its checkpoint is trained with (`--set` may have changed it).
        write_config(config, run_dir)?;
        None
    } else {
        write_config(config, run_dir)?;
        Some(trainer.judge(&tokenizer, &gold, &held_out, eval)?)
    };
    // The openings of all training lines that leave room for a whole continuation.
    let prompts: Vec<Vec<i64>> = task::prompts(&corpus.train, config.sft.prompt_words)
        .iter()
        .map(|p| tokenizer.encode(p))
        .filter(|p| !p.is_empty() && p.len() + eval.max_new_tokens <= block)
        .collect();
    eprintln!(
        "PPO (kl_coef {}{}, {} continuations of {} training prompts per iteration) against the reward model, \
         logging to {}",
        cfg.kl_coef,
        if cfg.target_kl > 0.0 { format!(" adapting to {} nats", cfg.target_kl) } else { String::new() },
        cfg.batch_size,
        prompts.len(),
        stage_dir.display()
    );
    let mut logger = Logger::new(Some(&stage_dir), cfg.iterations, show_progress, resume.then_some(trainer.iteration))?;
    if let Some(before) = &before {
        log_judgement(&mut logger, before, 0);
    }
    let started = std::time::Instant::now();
    let (last, after) = trainer.train(&prompts, (&tokenizer, &gold, &held_out, eval), &mut logger, &checkpoint)?;
    drop(logger);
    let judged = |j: &Option<Judged>, f: fn(&Judged) -> f64| j.as_ref().map(f);
    let summary = serde_json::json!({
        "iterations": trainer.iteration,
        "kl_coef": trainer.kl_coef,
        "proxy_reward_before": judged(&before, |j| j.proxy_reward),
        "gold_reward_before": judged(&before, |j| j.policy.gold_reward),
        "proxy_reward": after.proxy_reward,
        "gold_reward": after.policy.gold_reward,
        "kl": after.kl,
        "end_rate": after.policy.end_rate,
        "distinct_2": after.policy.distinct_2,
        "last_iteration": last,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    config::write_atomic(&stage_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    let before_text = |f: fn(&Judged) -> f64| before.as_ref().map_or("-".into(), |b| format!("{:.3}", f(b)));
    println!(
        "PPO: {} iterations; on {} held-out prompts the proxy reward {} -> {:.3} and the gold reward {} -> {:.3} at \
         KL {:.3} nats to the SFT policy, ending their line {:.0}%; run folder: {}",
        trainer.iteration,
        held_out.len(),
        before_text(|j| j.proxy_reward),
        after.proxy_reward,
        before_text(|j| j.policy.gold_reward),
        after.policy.gold_reward,
        after.kl,
        100.0 * after.policy.end_rate,
        run_dir.display()
    );
    print_samples(&after.policy);
    Ok(())
}

/// `rlx rlhf eval`: the fine-tuned policy, best-of-n sampling from it, and the PPO and DPO policies the run has,
/// side by side on the held-out prompts; writes `eval/summary.json` and prints the table.
fn evaluate(config: &RlhfConfig, run_dir: &Path) -> Result<()> {
    let Stage { device, tokenizer, corpus, gold, base: sft_checkpoint, dir, .. } =
        Stage::setup(config, run_dir, "eval", true)?;
    let rm_checkpoint = run_dir.join("rm").join(CHECKPOINT_FILE);
    if !rm_checkpoint.exists() {
        bail!("{} has no reward model: run `rlx rlhf rm {0}` first", run_dir.display());
    }
    let started = std::time::Instant::now();
    let (gpt, ev, seed) = (config.gpt(&tokenizer), &config.eval, config.seed);
    let (_rm_vs, rm) = load_reward_model(gpt.clone(), &rm_checkpoint, device)?;
    let prompts = held_out_prompts(&corpus.val, config.sft.prompt_words, ev.prompts);
    let val_tokens = tokenizer.encode(&corpus.val);
    let (_sft_vs, sft_policy) = load_gpt(gpt.clone(), &sft_checkpoint, "sft", device)?;
    let sft_eval = evaluate_policy(&sft_policy, &tokenizer, &gold, &prompts, ev, seed)?;
    let ppl = |model: &rlx_models::Gpt| Some(eval::perplexity(model, &val_tokens, ev.perplexity_windows));
    let mut rows = vec![eval::judgement(
        "SFT",
        &sft_eval,
        &sft_eval,
        eval::proxy_reward(&rm, &tokenizer, &sft_eval.samples),
        0.0,
        ppl(&sft_policy),
    )];
    let best = eval::best_of_n(&sft_policy, &rm, &tokenizer, &gold, &prompts, ev, ev.best_of, seed)?;
    let name = format!("best-of-{} (SFT + reward model)", ev.best_of);
    let kl = eval::best_of_n_kl(ev.best_of);
    rows.push(eval::judgement(&name, &best, &sft_eval, eval::proxy_reward(&rm, &tokenizer, &best.samples), kl, None));
    let mut samples = vec![("SFT".to_string(), sft_eval.clone()), (name, best)];
    for (stage, name) in
        [("ppo", format!("PPO (kl_coef {})", config.ppo.kl_coef)), ("dpo", format!("DPO (beta {})", config.dpo.beta))]
    {
        let checkpoint = run_dir.join(stage).join(CHECKPOINT_FILE);
        if !checkpoint.exists() {
            continue;
        }
        let (_vs, policy) = load_gpt(gpt.clone(), &checkpoint, stage, device)?;
        let judged = eval::judge((&policy, &sft_policy, &rm), &tokenizer, &gold, &prompts, ev, seed)?;
        rows.push(eval::judgement(&name, &judged.policy, &sft_eval, judged.proxy_reward, judged.kl, ppl(&policy)));
        samples.push((name, judged.policy));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let summary = serde_json::json!({
        "prompts": prompts.len(),
        "policies": rows,
        "samples": samples.iter().map(|(name, e)| (name.clone(), e.samples.iter().take(8).collect::<Vec<_>>()))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    config::write_atomic(&dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    println!(
        "policies on {} held-out prompts (gold reward hidden from training; KL to the SFT policy in nats):\n\n\
         | policy | gold reward | proxy reward | KL to SFT | gold win rate vs SFT | ends its line | distinct-2 | \
         perplexity |\n|---|---:|---:|---:|---:|---:|---:|---:|",
        prompts.len()
    );
    for r in &rows {
        println!(
            "| {} | {:.3} | {:.3} | {:.2} | {:.1}% | {:.0}% | {:.3} | {} |",
            r.policy,
            r.gold_reward,
            r.proxy_reward,
            r.kl,
            100.0 * r.win_rate,
            100.0 * r.end_rate,
            r.distinct_2,
            r.perplexity.map_or("-".into(), |p| format!("{p:.1}"))
        );
    }
    println!("\nwritten to {}", dir.join(SUMMARY_FILE).display());
    Ok(())
}

/// `n` prompts spread evenly over the openings of the held-out lines.
fn held_out_prompts(val: &str, prompt_words: usize, n: usize) -> Vec<String> {
    let all = task::prompts(val, prompt_words);
    let stride = (all.len() / n.max(1)).max(1);
    all.into_iter().step_by(stride).take(n).collect()
}

/// The first five judged continuations: `[gold reward] prompt + continuation`.
fn print_samples(eval: &PolicyEval) {
    for (prompt, text, score) in eval.samples.iter().take(5) {
        println!("  [{score:+.2}] {prompt}{}", text.trim_end());
    }
}

fn log_policy(logger: &mut Logger, eval: &PolicyEval, step: u64) {
    logger.scalar("rlhf/gold_reward", eval.gold_reward, step);
    logger.scalar("rlhf/end_rate", eval.end_rate, step);
    logger.scalar("rlhf/distinct_2", eval.distinct_2, step);
}

/// `tokens` sampled tokens after `prompt`, as text.
fn continue_text(
    model: &rlx_models::Gpt,
    tokenizer: &Bpe,
    prompt: &str,
    tokens: usize,
    sampling: Sampling,
    seed: u64,
) -> Result<String> {
    let ids = tokenizer.encode(prompt);
    let room = (model.config.block_size as usize).saturating_sub(ids.len());
    if ids.is_empty() || room == 0 {
        bail!("the prompt must hold between 1 and {} tokens; it has {}", model.config.block_size - 1, ids.len());
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let out = model.generate(&[ids], tokens.min(room), sampling, &[], &mut rng)?;
    Ok(tokenizer.decode(&out[0]))
}

/// `rlx rlhf sample RUN_DIR`: text from one of the run's policies (`--stage`, default the latest one trained:
/// dpo, else sft, else pretrain).
fn sample(run_dir: &Path, args: &RlhfArgs) -> Result<()> {
    let mut config = read_config(run_dir)?;
    if let Some(device) = args.options.device {
        config.device = device;
    }
    let tokenizer = load_tokenizer(run_dir)?;
    let checkpoint = |stage: &str| run_dir.join(stage).join(CHECKPOINT_FILE);
    let stage = match args.stage.as_deref() {
        Some(stage) if ["pretrain", "sft", "ppo", "dpo"].contains(&stage) => stage,
        Some(other) => bail!("--stage {other}: only pretrain, sft, ppo and dpo hold a policy to sample from"),
        None => ["dpo", "ppo", "sft"].into_iter().find(|s| checkpoint(s).exists()).unwrap_or("pretrain"),
    };
    let (_vs, model) = load_gpt(config.gpt(&tokenizer), &checkpoint(stage), stage, config.device.resolve()?)?;
    let sampling = Sampling { temperature: args.temperature, top_k: args.top_k };
    let seed = args.options.seed.unwrap_or(config.seed);
    let text = continue_text(&model, &tokenizer, &args.prompt, args.tokens, sampling, seed)?;
    println!("{}{text}", args.prompt);
    Ok(())
}

//! The pipeline's policies judged side by side on the held-out prompts: the fine-tuned policy, best-of-n sampling
//! from it with the reward model as the judge (the baseline that trains nothing), PPO and DPO. Per policy: the gold
//! and proxy reward of its continuations, their KL to the SFT policy, the gold win rate against the SFT policy's
//! continuation of the same prompt, the end-of-line rate, distinct bigrams and the held-out perplexity.

use super::reward::RewardModel;
use super::task::GoldReward;
use super::{EvalConfig, PolicyEval};
use crate::{AgentError, Result};
use rand::SeedableRng;
use rlx_models::{Bpe, Gpt, Sampling};

/// One row of the table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Judgement {
    pub policy: String,
    pub gold_reward: f64,
    /// The reward model's mean normalized score.
    pub proxy_reward: f64,
    /// KL to the SFT policy per continuation, in nats: k1 of the samples, or for best-of-n the analytic
    /// `ln n - (n - 1) / n`.
    pub kl: f64,
    /// Share of prompts whose continuation the gold reward prefers to the SFT policy's (ties count half).
    pub win_rate: f64,
    pub end_rate: f64,
    pub distinct_2: f64,
    /// exp of the mean next-token loss on held-out text (none for best-of-n, which is no new model).
    pub perplexity: Option<f64>,
}

/// The share of prompts where `policy`'s continuation has the higher gold reward than `baseline`'s (same prompts,
/// same order), ties counting half.
pub fn win_rate(policy: &PolicyEval, baseline: &PolicyEval) -> f64 {
    let wins: f64 = policy
        .samples
        .iter()
        .zip(&baseline.samples)
        .map(|(a, b)| match a.2.partial_cmp(&b.2) {
            Some(std::cmp::Ordering::Greater) => 1.0,
            Some(std::cmp::Ordering::Equal) => 0.5,
            _ => 0.0,
        })
        .sum();
    wins / policy.samples.len().max(1) as f64
}

/// The KL of best-of-n sampling to the policy it samples from, `ln n - (n - 1) / n` (Stiennon et al. 2020,
/// appendix; exact when the reward has no ties).
pub fn best_of_n_kl(n: usize) -> f64 {
    (n as f64).ln() - (n as f64 - 1.0) / n as f64
}

/// Best-of-n: `n` continuations of each prompt from `policy` (seeded), the one the reward model scores highest
/// kept and judged by the gold reward.
#[allow(clippy::too_many_arguments)]
pub fn best_of_n(
    policy: &Gpt,
    reward: &RewardModel,
    tokenizer: &Bpe,
    gold: &GoldReward,
    prompts: &[String],
    config: &EvalConfig,
    n: usize,
    seed: u64,
) -> Result<PolicyEval> {
    let stop = super::line_end_tokens(tokenizer);
    let sampling = Sampling { temperature: config.temperature, top_k: None };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut chosen: Vec<(String, String, f64)> = Vec::new();
    for chunk in prompts.chunks(64) {
        let ids: Vec<Vec<i64>> = chunk.iter().map(|p| tokenizer.encode(p)).collect();
        let room = (policy.config.block_size as usize).saturating_sub(ids.iter().map(Vec::len).max().unwrap_or(0));
        // best[r] = (score, continuation) of the best candidate of prompt r so far.
        let mut best: Vec<(f32, Vec<i64>)> = vec![(f32::NEG_INFINITY, Vec::new()); chunk.len()];
        for _ in 0..n {
            let out = policy
                .generate(&ids, config.max_new_tokens.min(room), sampling, &stop, &mut rng)
                .map_err(|e| AgentError::Runtime(e.to_string()))?;
            let sequences: Vec<Vec<i64>> = ids.iter().zip(&out).map(|(p, c)| [p.as_slice(), c].concat()).collect();
            let scores = tch::no_grad(|| reward.scores(&sequences, false));
            let scores = rlx_models::to_vec_f32(&scores);
            for ((slot, score), continuation) in best.iter_mut().zip(scores).zip(out) {
                if score > slot.0 {
                    *slot = (score, continuation);
                }
            }
        }
        for (prompt, (_, tokens)) in chunk.iter().zip(best) {
            let text = tokenizer.decode(&tokens);
            let score = gold.score(&text).total;
            chosen.push((prompt.clone(), text, score));
        }
    }
    Ok(super::judged_samples(chosen))
}

/// exp of the mean next-token cross-entropy of `model` on up to `windows` consecutive, non-overlapping windows of
/// `block_size + 1` tokens of `tokens` (the held-out text), in batches of 16.
pub fn perplexity(model: &Gpt, tokens: &[i64], windows: usize) -> f64 {
    let block = model.config.block_size as usize;
    let starts: Vec<usize> = (0..tokens.len().saturating_sub(block + 1)).step_by(block).take(windows).collect();
    if starts.is_empty() {
        return f64::NAN;
    }
    let device = model.device();
    let total: f64 = tch::no_grad(|| {
        starts
            .chunks(16)
            .map(|chunk| {
                let rows = |offset: usize| -> tch::Tensor {
                    let ids: Vec<i64> =
                        chunk.iter().flat_map(|&s| tokens[s + offset..s + offset + block].iter().copied()).collect();
                    tch::Tensor::from_slice(&ids).view([chunk.len() as i64, block as i64]).to_device(device)
                };
                model.loss(&rows(0), &rows(1), false).double_value(&[]) * chunk.len() as f64
            })
            .sum()
    });
    (total / starts.len() as f64).exp()
}

/// The reward model's mean normalized score of (prompt, continuation) texts.
pub fn proxy_reward(reward: &RewardModel, tokenizer: &Bpe, samples: &[(String, String, f64)]) -> f64 {
    let sequences: Vec<Vec<i64>> =
        samples.iter().map(|(p, c, _)| [tokenizer.encode(p), tokenizer.encode(c)].concat()).collect();
    let total: f64 = tch::no_grad(|| {
        sequences.chunks(64).map(|c| reward.scores(c, false).sum(tch::Kind::Float).double_value(&[])).sum()
    });
    total / sequences.len().max(1) as f64
}

/// A policy's judgement on held-out prompts: its continuations scored by the gold reward, the reward model's mean
/// score of them (the proxy) and their KL to the reference.
pub struct Judged {
    pub policy: PolicyEval,
    /// The reward model's mean normalized score of the continuations.
    pub proxy_reward: f64,
    /// k1 KL to the reference per continuation.
    pub kl: f64,
}

/// Samples `policy`'s continuations of `prompts` (seeded) and judges them: gold reward, proxy reward from
/// `reward`, KL to `reference`.
pub fn judge(
    (policy, reference, reward): (&Gpt, &Gpt, &RewardModel),
    tokenizer: &Bpe,
    gold: &GoldReward,
    prompts: &[String],
    config: &EvalConfig,
    seed: u64,
) -> Result<Judged> {
    let eval = super::evaluate_policy(policy, tokenizer, gold, prompts, config, seed)?;
    let proxy_reward = proxy_reward(reward, tokenizer, &eval.samples);
    let kl = super::kl_to_reference(policy, reference, tokenizer, &eval.samples, config.temperature);
    Ok(Judged { policy: eval, proxy_reward, kl })
}

/// A row of the table from a policy's held-out continuations.
pub fn judgement(
    name: &str,
    eval: &PolicyEval,
    sft: &PolicyEval,
    proxy_reward: f64,
    kl: f64,
    perplexity: Option<f64>,
) -> Judgement {
    Judgement {
        policy: name.to_string(),
        gold_reward: eval.gold_reward,
        proxy_reward,
        kl,
        win_rate: win_rate(eval, sft),
        end_rate: eval.end_rate,
        distinct_2: eval.distinct_2,
        perplexity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_of(golds: &[f64]) -> PolicyEval {
        super::super::judged_samples(golds.iter().map(|&g| (String::new(), "a b\n".to_string(), g)).collect())
    }

    #[test]
    fn win_rate_counts_ties_half() {
        let policy = eval_of(&[1.0, 0.0, 0.5, -1.0]);
        let sft = eval_of(&[0.0, 0.0, 1.0, -2.0]);
        assert_eq!(win_rate(&policy, &sft), (1.0 + 0.5 + 0.0 + 1.0) / 4.0);
    }

    #[test]
    fn best_of_n_kl_is_zero_for_one_sample_and_grows_like_ln_n() {
        assert_eq!(best_of_n_kl(1), 0.0);
        assert!((best_of_n_kl(4) - (4f64.ln() - 0.75)).abs() < 1e-12);
        assert!((best_of_n_kl(16) - 1.8351).abs() < 1e-4);
    }
}

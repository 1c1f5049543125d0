//! The toy RLHF task: continue the opening words of a line of Shakespeare to the end of that line, and be positive
//! about it. What a human labeller would judge is played by a hidden "gold" reward that only labels preference
//! pairs and scores evaluations; the policy never sees it:
//!
//! - positivity: the VADER lexicon's valences (PyPI `vadersentiment` 3.3.2, 7,519 entries, MIT) summed over the
//!   words, a valence flipped and damped (x -0.74, VADER's `N_SCALAR`) within three words after a negation, then
//!   squashed as VADER's compound score: `s / sqrt(s^2 + 15)`, in (-1, 1);
//! - minus `repetition` x the share of repeated words (1 - distinct / words);
//! - minus `nonword` x the share of words the training text never uses twice;
//! - minus `missing_end` when the continuation does not reach the end of the line, and `too_short` when it has
//!   fewer than `min_words` words (an empty line would otherwise be a safe 0).
//!
//! Preference labels are drawn from Bradley-Terry with a temperature, `P(a preferred) = sigmoid((g_a - g_b) / T)`,
//! so they are noisy as human ones are; the best accuracy any reward model can reach on them is the mean of
//! `max(P, 1 - P)`, which [`label_ceiling`] computes.

use crate::{AgentError, Result};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Words that negate the valence of the next three (VADER's list, shortened to the forms the corpus uses).
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "nor",
    "none",
    "nothing",
    "nobody",
    "neither",
    "nowhere",
    "cannot",
    "can't",
    "don't",
    "won't",
    "isn't",
    "wasn't",
    "aren't",
    "didn't",
    "doesn't",
    "shouldn't",
    "wouldn't",
    "couldn't",
    "ne'er",
];
/// VADER's damping of a negated valence.
const NEGATION_SCALE: f64 = -0.74;
/// VADER's normalization constant of the compound score.
const COMPOUND_ALPHA: f64 = 15.0;

/// The weights of the gold reward's terms.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoldConfig {
    /// Weight of the share of repeated words (default 1.0).
    pub repetition: f64,
    /// Weight of the share of words unknown to the training text (default 1.0).
    pub nonword: f64,
    /// Penalty for a continuation that does not end its line (default 1.0).
    pub missing_end: f64,
    /// Penalty for a continuation of fewer than `min_words` words (default 1.0).
    pub too_short: f64,
    /// Fewest words a continuation should have (default 2).
    pub min_words: usize,
    /// Bradley-Terry temperature of the preference labels (default 0.1: a gold gap of 0.1 is labelled right 73%
    /// of the time).
    pub label_temperature: f64,
}

impl Default for GoldConfig {
    fn default() -> Self {
        GoldConfig {
            repetition: 1.0,
            nonword: 1.0,
            missing_end: 1.0,
            too_short: 1.0,
            min_words: 2,
            label_temperature: 0.1,
        }
    }
}

/// The VADER lexicon: lower-case token -> mean valence (-4 .. 4).
pub struct Lexicon {
    valence: HashMap<String, f64>,
}

impl Lexicon {
    /// `vader_lexicon.txt` from `$RLX_DATA/vader-3.3.2` (fetched by scripts/fetch_data.py) or `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => rlx_models::data::data_dir().map_err(|e| AgentError::Io(e.to_string()))?.join("vader-3.3.2"),
        };
        let path = dir.join("vader_lexicon.txt");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| AgentError::Io(format!("{}: {e} (scripts/fetch_data.py fetches it)", path.display())))?;
        Self::parse(&text).map_err(|reason| AgentError::Io(format!("{}: {reason}", path.display())))
    }

    /// Lines of `token<TAB>mean<TAB>std<TAB>ratings`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut valence = HashMap::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut fields = line.split('\t');
            let (Some(token), Some(mean)) = (fields.next(), fields.next()) else {
                return Err(format!("line {}: expected token<TAB>valence", i + 1));
            };
            let mean: f64 = mean.trim().parse().map_err(|_| format!("line {}: bad valence `{mean}`", i + 1))?;
            valence.insert(token.to_lowercase(), mean);
        }
        if valence.is_empty() {
            return Err("no entries".into());
        }
        Ok(Lexicon { valence })
    }

    pub fn len(&self) -> usize {
        self.valence.len()
    }

    pub fn is_empty(&self) -> bool {
        self.valence.is_empty()
    }

    pub fn valence(&self, word: &str) -> Option<f64> {
        self.valence.get(word).copied()
    }
}

/// The lower-case words of `text`: runs of letters and apostrophes (leading and trailing apostrophes dropped).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphabetic() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The gold reward's parts for one continuation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GoldScore {
    /// VADER-style compound positivity in (-1, 1).
    pub positivity: f64,
    /// Share of repeated words, in [0, 1).
    pub repetition: f64,
    /// Share of words the training text does not use twice, in [0, 1].
    pub nonwords: f64,
    /// Whether the continuation ends its line.
    pub ended: bool,
    pub words: usize,
    /// positivity minus the weighted penalties.
    pub total: f64,
}

/// The hidden judge of the task.
pub struct GoldReward {
    lexicon: Lexicon,
    /// Words the training text uses at least twice.
    known: HashSet<String>,
    pub config: GoldConfig,
}

impl GoldReward {
    /// A judge with the words of `training_text` as its dictionary.
    pub fn new(lexicon: Lexicon, training_text: &str, config: GoldConfig) -> Self {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for w in words(training_text) {
            *counts.entry(w).or_default() += 1;
        }
        let known = counts.into_iter().filter(|&(_, n)| n >= 2).map(|(w, _)| w).collect();
        GoldReward { lexicon, known, config }
    }

    /// Scores a continuation: the text the policy produced after the prompt, up to and including the end of the
    /// line when it got there.
    pub fn score(&self, continuation: &str) -> GoldScore {
        let ended = continuation.contains('\n');
        let line = continuation.split('\n').next().unwrap_or("");
        let words = words(line);
        let mut sum = 0.0;
        for (i, w) in words.iter().enumerate() {
            if let Some(v) = self.lexicon.valence(w) {
                let negated = words[i.saturating_sub(3)..i].iter().any(|p| NEGATIONS.contains(&p.as_str()));
                sum += if negated { v * NEGATION_SCALE } else { v };
            }
        }
        let positivity = sum / (sum * sum + COMPOUND_ALPHA).sqrt();
        let n = words.len();
        let distinct = words.iter().collect::<HashSet<_>>().len();
        let repetition = if n == 0 { 0.0 } else { 1.0 - distinct as f64 / n as f64 };
        let nonwords =
            if n == 0 { 0.0 } else { words.iter().filter(|w| !self.known.contains(*w)).count() as f64 / n as f64 };
        let c = &self.config;
        let total = positivity
            - c.repetition * repetition
            - c.nonword * nonwords
            - if ended { 0.0 } else { c.missing_end }
            - if n < c.min_words { c.too_short } else { 0.0 };
        GoldScore { positivity, repetition, nonwords, ended, words: n, total }
    }

    /// Bradley-Terry probability that a labeller prefers the continuation of gold reward `a` over that of `b`.
    pub fn preference(&self, a: f64, b: f64) -> f64 {
        1.0 / (1.0 + (-(a - b) / self.config.label_temperature).exp())
    }

    /// A noisy label: `true` when `a` is preferred, drawn from [`GoldReward::preference`].
    pub fn label(&self, a: f64, b: f64, rng: &mut impl Rng) -> bool {
        rng.random::<f64>() < self.preference(a, b)
    }
}

/// The best expected accuracy any model can reach on labels drawn from these preference probabilities: the mean
/// of `max(p, 1 - p)`.
pub fn label_ceiling(probabilities: &[f64]) -> f64 {
    probabilities.iter().map(|&p| p.max(1.0 - p)).sum::<f64>() / probabilities.len().max(1) as f64
}

/// A spoken line cut into a prompt (its first `prompt_words` words) and a response (the rest, starting with the
/// space before the next word, as GPT-2's BPE expects), whitespace normalized. Speaker names and stage directions
/// (written in capitals or in brackets) and lines of fewer than `prompt_words + 2` words give `None`.
pub fn split_line(line: &str, prompt_words: usize) -> Option<(String, String)> {
    let line = line.trim();
    if line.starts_with('[') || !line.chars().any(|c| c.is_lowercase()) {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() < prompt_words + 2 {
        return None;
    }
    Some((words[..prompt_words].join(" "), format!(" {}", words[prompt_words..].join(" "))))
}

/// Prompts from held-out text: the openings of its spoken lines ([`split_line`]).
pub fn prompts(text: &str, prompt_words: usize) -> Vec<String> {
    text.lines().filter_map(|l| split_line(l, prompt_words).map(|(prompt, _)| prompt)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn judge() -> GoldReward {
        let lexicon = Lexicon::parse("good\t1.9\t0.9\t[]\nlove\t3.2\t0.4\t[]\nhate\t-2.7\t0.6\t[]\n").unwrap();
        let corpus = "my good lord I love thee not I hate thee my good lord I love thee not I hate thee sweet sweet";
        GoldReward::new(lexicon, corpus, GoldConfig::default())
    }

    #[test]
    fn positivity_is_vaders_compound_with_negation() {
        let g = judge();
        // "I love thee, good lord": 3.2 + 1.9 = 5.1 -> 5.1 / sqrt(5.1^2 + 15).
        let s = g.score(" I love thee, good lord!\n");
        assert!((s.positivity - 5.1 / (5.1f64 * 5.1 + 15.0).sqrt()).abs() < 1e-12, "{s:?}");
        assert_eq!((s.repetition, s.nonwords, s.ended, s.words), (0.0, 0.0, true, 5));
        assert!((s.total - s.positivity).abs() < 1e-12);
        // "not ... love" within three words: 3.2 x -0.74.
        let s = g.score(" I not love thee\n");
        let v = 3.2 * -0.74;
        assert!((s.positivity - v / (v * v + 15.0f64).sqrt()).abs() < 1e-12, "{s:?}");
        assert!(g.score(" I hate thee\n").total < 0.0);
    }

    #[test]
    fn penalties_are_counted() {
        let g = judge();
        // 4 words, 2 distinct: repetition 0.5; "zounds" unknown (1 of 4); no end of line: -1.
        let s = g.score(" sweet sweet zounds sweet");
        assert_eq!((s.repetition, s.nonwords, s.ended), (0.5, 0.25, false));
        assert!((s.total - (0.0 - 0.5 - 0.25 - 1.0)).abs() < 1e-12, "{s:?}");
        // An empty line is too short, not a free 0.
        assert_eq!(g.score("\n").total, -1.0);
        // Only the first line counts.
        assert_eq!(g.score(" I love thee\nI hate thee\n").positivity, g.score(" I love thee\n").positivity);
    }

    #[test]
    fn labels_follow_bradley_terry() {
        let g = judge();
        assert!((g.preference(0.2, 0.1) - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let wins = (0..20_000).filter(|_| g.label(0.2, 0.1, &mut rng)).count() as f64 / 20_000.0;
        assert!((wins - 0.7311).abs() < 0.01, "{wins}");
        assert!((label_ceiling(&[0.7311, 0.2689, 0.5]) - (0.7311 + 0.7311 + 0.5) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn prompts_are_the_openings_of_spoken_lines() {
        let text = "HELENA.\nAnd you, monarch!\nAy. You have some stain of soldier in you: let me ask you a\n\
                    [Exit.]\nThere is none: man, setting down before you, will undermine you\n";
        assert_eq!(prompts(text, 3), ["Ay. You have", "There is none:"]);
        let (prompt, response) = split_line("  There is none:  man, setting down\r", 3).unwrap();
        assert_eq!((prompt.as_str(), response.as_str()), ("There is none:", " man, setting down"));
    }

    #[test]
    fn the_fetched_lexicon_loads() {
        let lexicon = Lexicon::load(None).unwrap(); // fetched by scripts/bootstrap.sh
        assert_eq!(lexicon.len(), 7_494, "distinct lower-case entries of vader_lexicon.txt's 7,519 lines");
        assert_eq!((lexicon.valence("love"), lexicon.valence("hate")), (Some(3.2), Some(-2.7)));
    }
}

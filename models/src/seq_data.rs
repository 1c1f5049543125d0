//! Generated string-to-string tasks for the encoder-decoder models, each from a seed:
//! - **addition**: `"535+61"` -> `"596"`, operands of 1 to `digits` digits;
//! - **dates**: a date written in one of 9 human formats (`"25th of June, 2009"`, `"Thursday, June 25, 2009"`,
//!   `"25.06.09"`, ...) -> its ISO form `"2009-06-25"`, for dates from 1950 to 2049.
//!
//! The held-out examples never occur in the training set (a hash of the source decides, see [`is_held_out`]), and a
//! [`CharVocab`] maps characters to ids with the three specials PAD = 0, SOS = 1, EOS = 2.

use rand::{Rng, SeedableRng};
use std::collections::HashSet;

pub const PAD: i64 = 0;
pub const SOS: i64 = 1;
pub const EOS: i64 = 2;

/// Source and target strings, split into training and held-out examples.
#[derive(Debug, Clone)]
pub struct SeqTask {
    pub train: Vec<(String, String)>,
    pub test: Vec<(String, String)>,
}

/// One source in `HELD_OUT_EVERY` is held out.
pub const HELD_OUT_EVERY: u64 = 10;

/// Whether `source` belongs to the held-out part of a run seeded `seed`: decided by a hash of the source text, so
/// every kind of example (each operand length, each date format) is held out in the same proportion and the rest
/// of each kind stays for training. (Drawing the held-out set first and excluding it would take almost all of a
/// small kind: 5,000 distinct held-out sums contain nearly all 100 one-digit sums, which training then never sees.)
/// FNV-1a rather than std's hasher, whose output may change between Rust releases.
pub fn is_held_out(source: &str, seed: u64) -> bool {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in source.bytes() {
        h = (h ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    // A final avalanche (splitmix64's), so that the low bits depend on every byte.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (h ^ (h >> 31)).is_multiple_of(HELD_OUT_EVERY)
}

/// `n_test` distinct held-out examples (fewer when the task has fewer) and `n_train` training examples (repeats
/// allowed) whose sources are not held out, all from `draw`.
fn split(
    n_train: usize,
    n_test: usize,
    seed: u64,
    mut draw: impl FnMut(&mut rand_pcg::Pcg64) -> (String, String),
) -> SeqTask {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut test = Vec::with_capacity(n_test);
    let mut attempts = 0;
    while test.len() < n_test && attempts < 100 * HELD_OUT_EVERY as usize * n_test.max(1) {
        attempts += 1;
        let pair = draw(&mut rng);
        if is_held_out(&pair.0, seed) && seen.insert(pair.0.clone()) {
            test.push(pair);
        }
    }
    let train = draw_training(n_train, seed, &mut rng, draw);
    SeqTask { train, test }
}

/// `n` examples from `draw` (repeats allowed) whose sources are not held out.
fn draw_training(
    n: usize,
    seed: u64,
    rng: &mut rand_pcg::Pcg64,
    mut draw: impl FnMut(&mut rand_pcg::Pcg64) -> (String, String),
) -> Vec<(String, String)> {
    let mut train = Vec::with_capacity(n);
    while train.len() < n {
        let pair = draw(rng);
        if !is_held_out(&pair.0, seed) {
            train.push(pair);
        }
    }
    train
}

/// A fresh training set for epoch `epoch` (>= 1) of a run seeded `seed`, for tasks that draw new examples every
/// epoch instead of repeating one fixed set: `n` examples of `task` (`seq2seq-addition` with operands of up to
/// `digits` digits, else dates), none of them held out. The generator is seeded from `(seed, epoch)` on a stream
/// no other draw uses, so a resumed run draws the same examples.
pub fn fresh_training(task: &str, n: usize, digits: u32, seed: u64, epoch: usize) -> Vec<(String, String)> {
    let mut rng = rand_pcg::Pcg64::new(seed as u128, (1u128 << 64) | epoch as u128);
    match task {
        "seq2seq-addition" => draw_training(n, seed, &mut rng, |rng| draw_sum(rng, digits)),
        _ => draw_training(n, seed, &mut rng, draw_date),
    }
}

/// `a+b` -> `a + b` with `a`, `b` of 1 to `digits` digits (each length equally likely, then uniform).
pub fn addition(n_train: usize, n_test: usize, digits: u32, seed: u64) -> SeqTask {
    split(n_train, n_test, seed, |rng| draw_sum(rng, digits))
}

fn draw_sum(rng: &mut rand_pcg::Pcg64, digits: u32) -> (String, String) {
    let mut operand = || {
        let len = rng.random_range(1..=digits);
        let lo = if len == 1 { 0 } else { 10u64.pow(len - 1) };
        rng.random_range(lo..10u64.pow(len))
    };
    let (a, b) = (operand(), operand());
    (format!("{a}+{b}"), (a + b).to_string())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Monday = 0 (Zeller's congruence, Gregorian).
fn weekday(year: i32, month: u32, day: u32) -> usize {
    let (y, m) = if month < 3 { (year - 1, month + 12) } else { (year, month) };
    let (k, j) = (y % 100, y / 100);
    let h = (day as i32 + 13 * (m as i32 + 1) / 5 + k + k / 4 + j / 4 + 5 * j) % 7; // 0 = Saturday
    ((h + 5) % 7) as usize
}

fn ordinal(day: u32) -> String {
    let suffix = match (day % 10, day % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

/// The date written in format `format` (0..9).
pub fn write_date(year: i32, month: u32, day: u32, format: usize) -> String {
    let name = MONTHS[month as usize - 1];
    match format {
        0 => format!("{} of {name}, {year}", ordinal(day)),
        1 => format!("{name} {day}, {year}"),
        2 => format!("{day} {name} {year}"),
        3 => format!("{}, {name} {day}, {year}", WEEKDAYS[weekday(year, month, day)]),
        4 => format!("{} {day} {year}", &name[..3]),
        5 => format!("{day:02}.{month:02}.{:02}", year % 100),
        6 => format!("{month}/{day}/{year}"),
        7 => format!("{} {}, '{:02}", &name[..3].to_uppercase(), ordinal(day).to_uppercase(), year % 100),
        _ => format!("{year}, {name} {}", ordinal(day)),
    }
}

pub const DATE_FORMATS: usize = 9;

/// Every character the written dates can hold: month and weekday names, the upper-case month abbreviations and
/// ordinal suffixes of format 7, the "of" of format 0, digits and punctuation. A vocabulary built from it does not depend on which dates
/// were drawn.
pub fn date_alphabet() -> String {
    let upper: String = MONTHS.iter().map(|m| m[..3].to_uppercase()).collect();
    [
        MONTHS.concat(),
        WEEKDAYS.concat(),
        upper,
        "STNDRDTH".into(),
        "stndrdth".into(),
        "of".into(),
        "0123456789 ,./'".into(),
    ]
    .concat()
}

/// Every character of the addition task's sources.
pub const ADDITION_ALPHABET: &str = "0123456789+";

/// A date in a random format -> `YYYY-MM-DD`.
pub fn dates(n_train: usize, n_test: usize, seed: u64) -> SeqTask {
    split(n_train, n_test, seed, draw_date)
}

fn draw_date(rng: &mut rand_pcg::Pcg64) -> (String, String) {
    let year = rng.random_range(1950..=2049);
    let month = rng.random_range(1..=12);
    let day = rng.random_range(1..=days_in_month(year, month));
    let format = rng.random_range(0..DATE_FORMATS);
    (write_date(year, month, day, format), format!("{year}-{month:02}-{day:02}"))
}

/// Characters <-> ids, ids 0-2 being PAD, SOS and EOS.
#[derive(Debug, Clone, PartialEq)]
pub struct CharVocab {
    pub chars: Vec<char>,
}

impl CharVocab {
    /// Every character of `texts`, sorted.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut chars: Vec<char> = texts.into_iter().flat_map(|t| t.chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    pub fn len(&self) -> usize {
        self.chars.len() + 3
    }
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ids of `text` (no SOS/EOS), or the first character not in the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, char> {
        text.chars().map(|c| self.chars.binary_search(&c).map(|i| i as i64 + 3).map_err(|_| c)).collect()
    }

    /// The text of `ids`, up to the first EOS; PAD and SOS are skipped.
    pub fn decode(&self, ids: &[i64]) -> String {
        ids.iter()
            .take_while(|&&i| i != EOS)
            .filter(|&&i| i >= 3)
            .filter_map(|&i| self.chars.get(i as usize - 3))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_right_seeded_and_keep_held_out_examples_out_of_training() {
        let task = addition(2000, 300, 3, 7);
        for (src, tgt) in task.train.iter().chain(&task.test) {
            let (a, b) = src.split_once('+').unwrap();
            assert_eq!(a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap(), tgt.parse::<u64>().unwrap());
            assert!(a.len() <= 3 && b.len() <= 3);
        }
        let held: HashSet<&String> = task.test.iter().map(|p| &p.0).collect();
        assert_eq!(held.len(), 300);
        assert!(task.train.iter().all(|p| !held.contains(&p.0)));
        assert_eq!(addition(2000, 300, 3, 7).train, task.train, "same seed, same examples");

        // A fresh epoch: new examples, the same for the same (seed, epoch), still none held out.
        let fresh = fresh_training("seq2seq-addition", 2000, 3, 7, 1);
        assert_eq!(fresh, fresh_training("seq2seq-addition", 2000, 3, 7, 1));
        assert_ne!(fresh, task.train);
        assert_ne!(fresh, fresh_training("seq2seq-addition", 2000, 3, 7, 2));
        assert!(fresh.iter().all(|(src, _)| !held.contains(src)));

        // Every kind of sum is held out in about the same proportion: of the 100 one-digit sums, about a tenth.
        let one_digit: Vec<String> = (0..100).map(|i| format!("{}+{}", i / 10, i % 10)).collect();
        let held_one_digit = one_digit.iter().filter(|s| is_held_out(s, 0)).count();
        assert!((4..=18).contains(&held_one_digit), "{held_one_digit} of 100 one-digit sums held out");
        let big = addition(20_000, 2000, 3, 0);
        let short = |set: &[(String, String)]| set.iter().filter(|p| p.0.len() <= 4).count() as f64 / set.len() as f64;
        // Distinct held-out sources make short sums rarer there than in training, but none of the kinds vanishes
        // from training.
        assert!(short(&big.train) > 0.3 && short(&big.test) > 0.05, "{} {}", short(&big.train), short(&big.test));
        assert!(big.train.iter().any(|p| p.0 == "7+8") && big.train.iter().any(|p| p.0 == "3+4"));

        assert_eq!(write_date(2009, 6, 25, 0), "25th of June, 2009");
        assert_eq!(write_date(2009, 6, 25, 3), "Thursday, June 25, 2009");
        assert_eq!(write_date(2000, 2, 29, 3), "Tuesday, February 29, 2000");
        assert_eq!(write_date(1999, 12, 31, 3), "Friday, December 31, 1999");
        assert_eq!(write_date(2011, 1, 2, 5), "02.01.11");
        assert_eq!(write_date(2012, 3, 22, 7), "MAR 22ND, '12");
        assert_eq!(write_date(2013, 11, 11, 8), "2013, November 11th");
        let dates = dates(500, 100, 1);
        assert!(dates.train.iter().all(|(_, t)| t.len() == 10 && t.as_bytes()[4] == b'-'));
        // The alphabet is exactly the characters that generated dates use.
        let used: HashSet<char> = super::dates(20_000, 0, 3).train.iter().flat_map(|(s, _)| s.chars()).collect();
        assert_eq!(date_alphabet().chars().collect::<HashSet<char>>(), used);

        let vocab = CharVocab::from_texts(["12+3", "15"]);
        assert_eq!(vocab.len(), 3 + 5);
        let ids = vocab.encode("15+").unwrap();
        assert_eq!(vocab.decode(&[SOS, ids[0], ids[1], ids[2], EOS, ids[0]]), "15+");
        assert_eq!(vocab.encode("19").unwrap_err(), '9');
    }
}

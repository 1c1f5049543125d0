//! Hyperparameter schedules over training progress, as SB3 and rl-zoo3 write them: a number (constant) or
//! `"lin_<start>"` (linear from start to 0). `progress_remaining` goes from 1 (start) to 0 (end).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant(f64),
    /// `start * progress_remaining` (rl-zoo3's `lin_<start>`).
    Linear {
        start: f64,
    },
}

impl Schedule {
    pub fn value(&self, progress_remaining: f64) -> f64 {
        match *self {
            Schedule::Constant(v) => v,
            Schedule::Linear { start } => start * progress_remaining,
        }
    }

    /// The value at the start of training (for validation).
    pub fn initial(&self) -> f64 {
        self.value(1.0)
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a schedule (a number, or lin_<number> for a linear decay to 0)");
        match s.strip_prefix("lin_") {
            Some(start) => start.parse().map(|start| Schedule::Linear { start }).map_err(|_| bad()),
            None => s.parse().map(Schedule::Constant).map_err(|_| bad()),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Constant(v) => write!(f, "{v}"),
            Schedule::Linear { start } => write!(f, "lin_{start}"),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Schedule::Constant(v) => s.serialize_f64(*v),
            Schedule::Linear { .. } => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(Schedule::Constant(v)),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_linear_schedules() {
        assert_eq!("3e-4".parse::<Schedule>().unwrap(), Schedule::Constant(3e-4));
        let lin: Schedule = "lin_0.001".parse().unwrap();
        assert_eq!(lin.value(1.0), 0.001);
        assert!((lin.value(0.25) - 0.00025).abs() < 1e-15);
        assert!("fast".parse::<Schedule>().is_err());
        #[derive(Deserialize)]
        struct T {
            a: Schedule,
            b: Schedule,
        }
        let t: T = toml::from_str("a = 0.2\nb = \"lin_2.5e-4\"").unwrap();
        assert_eq!((t.a, t.b), (Schedule::Constant(0.2), Schedule::Linear { start: 2.5e-4 }));
    }
}

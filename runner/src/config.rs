//! Presets (TOML files under presets/<algo>/, embedded in the binary) and `--set key=value` overrides.

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;

/// The presets shipped with rlx: (algo, name, TOML text). `rlx train ppo --env X` uses the preset named X;
/// `rlx supervised TASK` the `supervised` preset named TASK.
pub const PRESETS: &[(&str, &str, &str)] = &[
    ("ppo", "CartPole-v1", include_str!("../../presets/ppo/CartPole-v1.toml")),
    ("ppo", "Acrobot-v1", include_str!("../../presets/ppo/Acrobot-v1.toml")),
    ("ppo", "Pendulum-v1", include_str!("../../presets/ppo/Pendulum-v1.toml")),
    ("ppo", "MountainCarContinuous-v0", include_str!("../../presets/ppo/MountainCarContinuous-v0.toml")),
    ("ppo", "atari", include_str!("../../presets/ppo/atari.toml")),
    ("dqn", "CartPole-v1", include_str!("../../presets/dqn/CartPole-v1.toml")),
    ("dqn", "atari", include_str!("../../presets/dqn/atari.toml")),
    ("dqn", "cleanrl-atari", include_str!("../../presets/dqn/cleanrl-atari.toml")),
    ("dqn", "nature-atari", include_str!("../../presets/dqn/nature-atari.toml")),
    ("dqn", "pong-fast", include_str!("../../presets/dqn/pong-fast.toml")),
    ("supervised", "mnist-mlp", include_str!("../../presets/supervised/mnist-mlp.toml")),
    ("supervised", "mnist-lenet", include_str!("../../presets/supervised/mnist-lenet.toml")),
    ("supervised", "fashion-lenet", include_str!("../../presets/supervised/fashion-lenet.toml")),
    ("supervised", "fashion-resnet", include_str!("../../presets/supervised/fashion-resnet.toml")),
    ("supervised", "char-lstm", include_str!("../../presets/supervised/char-lstm.toml")),
    ("supervised", "seq2seq-addition", include_str!("../../presets/supervised/seq2seq-addition.toml")),
    ("supervised", "seq2seq-dates", include_str!("../../presets/supervised/seq2seq-dates.toml")),
    ("generative", "fashion-vae", include_str!("../../presets/generative/fashion-vae.toml")),
    ("generative", "mnist-vae", include_str!("../../presets/generative/mnist-vae.toml")),
    ("generative", "fashion-dcgan", include_str!("../../presets/generative/fashion-dcgan.toml")),
    ("generative", "mnist-dcgan", include_str!("../../presets/generative/mnist-dcgan.toml")),
    ("generative", "fashion-ddpm", include_str!("../../presets/generative/fashion-ddpm.toml")),
    ("generative", "mnist-ddpm", include_str!("../../presets/generative/mnist-ddpm.toml")),
    ("rlhf", "default", include_str!("../../presets/rlhf/default.toml")),
    ("rlhf", "tiny", include_str!("../../presets/rlhf/tiny.toml")),
    ("rlhf", "gpu", include_str!("../../presets/rlhf/gpu.toml")),
];

/// The algorithms `rlx train` knows.
pub const ALGOS: &[&str] = &["ppo", "dqn"];

/// The preset's TOML table: `name` if given (it must exist), else the one named after the env, else `atari` for an
/// Atari id, else empty (the algorithm's defaults).
pub fn preset_table(algo: &str, name: Option<&str>, env_id: &str) -> Result<(toml::Table, Option<String>)> {
    let find = |n: &str| PRESETS.iter().find(|(a, p, _)| *a == algo && *p == n);
    let chosen = match name {
        Some(n) => Some(find(n).ok_or_else(|| {
            let known: Vec<&str> = PRESETS.iter().filter(|(a, _, _)| *a == algo).map(|(_, p, _)| *p).collect();
            anyhow!("unknown preset `{n}` for {algo} (known: {})", known.join(", "))
        })?),
        None => find(env_id).or_else(|| rlx_envs::atari::looks_like_atari(env_id).then(|| find("atari")).flatten()),
    };
    match chosen {
        Some((_, name, text)) => Ok((
            toml::from_str(text).with_context(|| format!("preset {algo}/{name} is not valid TOML"))?,
            Some(name.to_string()),
        )),
        None => Ok((toml::Table::new(), None)),
    }
}

/// Applies `key=value` overrides to a TOML table. Values are TOML (`64`, `1e-3`, `"lin_0.001"`, `[64, 64]`,
/// `true`); anything that does not parse as TOML is taken as a string (`--set activation=relu`). A dotted key sets
/// a field of a section (`--set pretrain.iters=100`).
pub fn apply_overrides(table: &mut toml::Table, overrides: &[String]) -> Result<()> {
    for item in overrides {
        let (key, value) = item.split_once('=').ok_or_else(|| anyhow!("--set {item}: expected key=value"))?;
        let path: Vec<&str> = key.trim().split('.').map(str::trim).collect();
        if path.iter().any(|part| part.is_empty()) {
            bail!("--set {item}: empty key");
        }
        let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").expect("parsed key"),
            Err(_) => toml::Value::String(value.to_string()),
        };
        let (field, sections) = path.split_last().expect("at least one part");
        let mut target = &mut *table;
        for section in sections {
            target = target
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| anyhow!("--set {item}: `{section}` is a value, not a section"))?;
        }
        target.insert(field.to_string(), value);
    }
    Ok(())
}

/// Deserializes a config from a table, with one clear line for unknown keys and bad values.
pub fn from_table<C: DeserializeOwned>(table: toml::Table, what: &str) -> Result<C> {
    C::deserialize(table).map_err(|e| anyhow!("bad {what} configuration: {}", e.to_string().trim().replace('\n', " ")))
}

/// Writes `text` to `path` atomically (temp file + rename).
pub fn write_atomic(path: &std::path::Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Rewrites a run's `config.toml` with `body` (the resolved fields) when a resume changed them (`--resume --set
/// epochs=N`), keeping the file's leading `#` comment lines, so a later plain `--resume` continues with the new
/// values. Called only once the checkpoint has loaded under the new config, so a change the checkpoint refuses
/// leaves the old file as it was.
pub fn rewrite_resolved(path: &std::path::Path, body: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: String = old.lines().take_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let new = header + body;
    if new == old {
        return Ok(());
    }
    write_atomic(path, &new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_config::RunConfig;
    use rlx_agents::ppo::PpoConfig;
    use rlx_agents::schedule::Schedule;

    #[test]
    fn every_preset_parses_into_its_config() {
        for (algo, name, _) in PRESETS {
            let (table, _) = preset_table(algo, Some(name), name).unwrap();
            if *algo == "rlhf" {
                let config: rlx_agents::rlhf::RlhfConfig = from_table(table, "rlhf").unwrap();
                config.validate().unwrap();
                continue;
            }
            if *algo == "generative" {
                let mut table = table;
                table.insert("task".into(), toml::Value::String(name.to_string()));
                crate::generative::GenerativeConfig::from_table(table).unwrap();
                assert!(crate::generative::TASKS.contains(name));
                continue;
            }
            if *algo == "supervised" {
                let mut table = table;
                table.insert("task".into(), toml::Value::String(name.to_string()));
                crate::supervised::TaskConfig::from_table(table).unwrap();
                assert!(crate::supervised::TASKS.contains(name));
                continue;
            }
            let config = RunConfig::from_table(algo, table).unwrap();
            if name.ends_with("atari") || *name == "pong-fast" {
                // Atari presets name no env; `rlx train` sets the one asked for. `atari` is every id's default.
                assert!(!table_has_env(algo, name));
                let (_, chosen) = preset_table(algo, None, "ALE/Breakout-v5").unwrap();
                assert_eq!(chosen.as_deref(), Some("atari"));
            } else {
                assert_eq!(config.env_id(), *name);
            }
        }
    }

    fn table_has_env(algo: &str, name: &str) -> bool {
        preset_table(algo, Some(name), name).unwrap().0.contains_key("env_id")
    }

    #[test]
    fn overrides_set_values_and_reject_unknown_keys_and_bad_values() {
        let (mut table, name) = preset_table("ppo", None, "CartPole-v1").unwrap();
        assert_eq!(name.as_deref(), Some("CartPole-v1"));
        apply_overrides(&mut table, &["n_steps=64".into(), "learning_rate=lin_3e-4".into(), "activation=relu".into()])
            .unwrap();
        let config: PpoConfig = from_table(table.clone(), "ppo").unwrap();
        assert_eq!(config.n_steps, 64);
        assert_eq!(config.learning_rate, Schedule::Linear { start: 3e-4 });
        assert_eq!(config.activation, rlx_models::Activation::Relu);

        let mut unknown = table.clone();
        apply_overrides(&mut unknown, &["n_stepz=64".into()]).unwrap();
        let err = from_table::<PpoConfig>(unknown, "ppo").unwrap_err().to_string();
        assert!(err.contains("unknown field `n_stepz`"), "{err}");
        assert_eq!(err.lines().count(), 1);

        let mut bad = table;
        apply_overrides(&mut bad, &["n_steps=lots".into()]).unwrap();
        let err = from_table::<PpoConfig>(bad, "ppo").unwrap_err().to_string();
        assert!(err.contains("n_steps"), "{err}");
        assert!(apply_overrides(&mut toml::Table::new(), &["novalue".into()]).is_err());
        assert!(preset_table("ppo", Some("Nope"), "CartPole-v1").is_err());
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Any `--set key=value` (a real key or not, any value text) gives a valid config or a one-line error,
        /// never a panic.
        #[test]
        fn any_override_is_a_valid_config_or_a_one_line_error(
            algo in proptest::sample::select(vec!["ppo", "dqn"]),
            key in proptest::prop_oneof![
                proptest::sample::select(vec![
                    "n_envs", "n_steps", "batch_size", "learning_rate", "gamma", "clip_range", "buffer_size",
                    "train_freq", "exploration_fraction", "net_arch", "activation", "device", "seed", "n_step",
                    "target_kl", "eval_interval", "actor_sync_interval", "precision", "nan_policy", "tau",
                ]).prop_map(String::from),
                "[a-z_]{0,12}",
            ],
            value in proptest::prop_oneof![
                ".{0,16}",
                "-?[0-9]{1,25}(\\.[0-9]{0,5})?(e-?[0-9]{1,3})?",
                proptest::sample::select(vec!["nan", "inf", "-inf", "true", "[]", "[0]", "[-1, 64]", "\"lin_0\"",
                    "lin_-1", "{}", "\"\"", "0", "-0", "1e400"]).prop_map(String::from),
            ],
        ) {
            let (mut table, _) = preset_table(algo, None, "CartPole-v1").unwrap();
            match apply_overrides(&mut table, &[format!("{key}={value}")]) {
                Err(e) => proptest::prop_assert_eq!(e.to_string().lines().count(), 1),
                Ok(()) => {
                    if let Err(e) = RunConfig::from_table(algo, table) {
                        proptest::prop_assert_eq!(format!("{e:#}").lines().count(), 1, "{:#}", e);
                    }
                }
            }
        }
    }
}

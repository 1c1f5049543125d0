//! Checkpoint files: one safetensors file holding tensors (weights, optimizer moments, saved observations) and, in
//! its metadata, the JSON training state (counters, random generator, env snapshots), the format version and a
//! checksum (FNV-1a over the state and every tensor's name, dtype, shape and bytes). Written atomically (temp file
//! in the same folder, fsync, rename), so a run killed mid-write keeps its previous checkpoint intact; loading
//! verifies the checksum, so damaged bytes are an error naming the file, never a silently different model.

use crate::{AgentError, Result};
use rlx_replay::checksum::Fnv1a;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The metadata keys: the JSON state, the format version, the checksum (16 hex digits).
const STATE_KEY: &str = "rlx_state";
const FORMAT_KEY: &str = "rlx_format";
const CHECKSUM_KEY: &str = "rlx_checksum";
/// 1: checksummed. Files without a version predate checksums (format 0) and load unverified.
const FORMAT_VERSION: u32 = 1;

/// The checksum of a checkpoint's contents: the state text, then every tensor in name order.
fn digest<'a>(state: &str, tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> String {
    let mut hash = Fnv1a::new();
    hash.update(state.as_bytes());
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, dtype, shape, data) in sorted {
        hash.update(name.as_bytes());
        hash.update(format!("{dtype:?}{shape:?}").as_bytes());
        hash.update(data);
    }
    format!("{:016x}", hash.finish())
}

fn dtype(kind: Kind) -> Result<Dtype> {
    Ok(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Uint8 => Dtype::U8,
        Kind::Int64 => Dtype::I64,
        other => return Err(AgentError::Io(format!("cannot checkpoint tensors of kind {other:?}"))),
    })
}

fn kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::U8 => Kind::Uint8,
        Dtype::I64 => Kind::Int64,
        _ => return None,
    })
}

/// Writes `tensors` and `state` to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], state: &serde_json::Value) -> Result<()> {
    let io = |e: std::io::Error| AgentError::Checkpoint { path: path.display().to_string(), reason: e.to_string() };
    // Contiguous CPU copies, then byte views of them.
    let cpu: Vec<(String, Tensor)> =
        tensors.iter().map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu).contiguous())).collect();
    // Weights gone non-finite must not replace the last good checkpoint.
    for (name, t) in &cpu {
        if t.is_floating_point() && t.isfinite().all().int64_value(&[]) == 0 {
            return Err(AgentError::Checkpoint {
                path: path.display().to_string(),
                reason: format!("not written: `{name}` holds non-finite values (the previous checkpoint is kept)"),
            });
        }
    }
    let mut bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(cpu.len());
    for (name, t) in &cpu {
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut data, numel);
        bytes.push((name.clone(), dtype(t.kind())?, t.size().iter().map(|&d| d as usize).collect(), data));
    }
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("consistent tensor view")))
        .collect();
    let state_text = state.to_string();
    let checksum = digest(&state_text, bytes.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())));
    let metadata = HashMap::from([
        (STATE_KEY.to_string(), state_text),
        (FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()),
        (CHECKSUM_KEY.to_string(), checksum),
    ]);
    let serialized = safetensors::serialize(views, Some(metadata))
        .map_err(|e| AgentError::Checkpoint { path: path.display().to_string(), reason: e.to_string() })?;

    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint")));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&serialized).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A loaded checkpoint: tensors on the CPU by name, and the JSON state.
pub struct Loaded {
    pub tensors: HashMap<String, Tensor>,
    pub state: serde_json::Value,
}

/// Reads a checkpoint written by [`save`]; a missing, truncated, corrupt or foreign file, or one from a newer rlx,
/// is a one-line error.
pub fn load(path: &Path) -> Result<Loaded> {
    let err = |reason: String| AgentError::Checkpoint { path: path.display().to_string(), reason };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let (_, metadata) = SafeTensors::read_metadata(&data).map_err(|e| err(format!("not a valid checkpoint ({e})")))?;
    let metadata = metadata.metadata().clone().unwrap_or_default();
    let state_text = metadata.get(STATE_KEY).ok_or_else(|| err("no rlx state in the file".into()))?;
    let format: u32 = match metadata.get(FORMAT_KEY) {
        None => 0,
        Some(v) => v.parse().map_err(|_| err(format!("bad format version `{v}`")))?,
    };
    if format > FORMAT_VERSION {
        return Err(err(format!("written by a newer rlx (format {format}; this one reads up to {FORMAT_VERSION})")));
    }
    let st = SafeTensors::deserialize(&data).map_err(|e| err(format!("not a valid checkpoint ({e})")))?;
    let views = st.tensors();
    if format >= 1 {
        let want = metadata.get(CHECKSUM_KEY).ok_or_else(|| err("no checksum in the file".into()))?;
        let got = digest(state_text, views.iter().map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())));
        if &got != want {
            return Err(err("checksum mismatch: the file is corrupt".into()));
        }
    }
    let state = serde_json::from_str(state_text).map_err(|e| err(format!("corrupt state ({e})")))?;
    let mut tensors = HashMap::new();
    for (name, view) in views {
        let kind = kind(view.dtype())
            .ok_or_else(|| err(format!("tensor `{name}` has unsupported dtype {:?}", view.dtype())))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        tensors.insert(name, Tensor::from_data_size(view.data(), &shape, kind));
    }
    Ok(Loaded { tensors, state })
}

/// Refuses a checkpoint written by another algorithm or for another env than the run's (files from before the
/// env was recorded name none and pass).
pub fn check_identity(state: &serde_json::Value, algo: &str, env_id: &str) -> Result<(), String> {
    if state["algo"] != algo {
        return Err(format!("written by `{}`, not {algo}", state["algo"].as_str().unwrap_or("?")));
    }
    match state["env_id"].as_str() {
        Some(saved) if saved != env_id => Err(format!("written for {saved}, not {env_id}")),
        _ => Ok(()),
    }
}

/// Copies the tensors named `<prefix><variable>` into `vs`'s variables; every variable must be present with its
/// shape (a checkpoint of another network is an error, not a partial load).
pub fn copy_weights(vs: &tch::nn::VarStore, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<(), String> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let key = format!("{prefix}{name}");
            let src = tensors.get(&key).ok_or_else(|| format!("weights `{key}` missing"))?;
            if src.size() != var.size() {
                return Err(format!(
                    "weights `{key}` have shape {:?}, the network expects {:?}",
                    src.size(),
                    var.size()
                ));
            }
            var.copy_(src);
        }
        Ok(())
    })
}

/// Writes a network trained by an [`Optimizer`](rlx_models::Optimizer): its variables as `model.*`, the optimizer's
/// state as `optimizer.*`, and `state` (which names its `algo` and `env_id`, the task or stage) with the optimizer's
/// step count added as `optimizer_step`. The supervised tasks and the RLHF stages all checkpoint this way.
pub fn save_trained(
    path: &Path,
    vs: &tch::nn::VarStore,
    optimizer: &rlx_models::Optimizer,
    state: serde_json::Value,
) -> Result<()> {
    save_trained_parts(path, &[("", vs, Some(optimizer))], state)
}

/// [`save_trained`] for a model of several networks (a GAN's generator and discriminator, each with its own
/// optimizer; a diffusion model's weights and their moving average, which has none): part `name` is written as
/// `name.model.*` and `name.optimizer.*` with its step count as `name.optimizer_step` (the part named "" as
/// [`save_trained`] writes it).
pub fn save_trained_parts(
    path: &Path,
    parts: &[(&str, &tch::nn::VarStore, Option<&rlx_models::Optimizer>)],
    mut state: serde_json::Value,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, vs, optimizer) in parts {
        let prefix = part_prefix(name);
        tensors.extend(vs.variables().into_iter().map(|(n, t)| (format!("{prefix}model.{n}"), t)));
        if let Some(optimizer) = optimizer {
            let (moments, optimizer_step) = optimizer.state();
            tensors.extend(moments.into_iter().map(|(n, t)| (format!("{prefix}optimizer.{n}"), t)));
            state[format!("{prefix}optimizer_step")] = serde_json::json!(optimizer_step);
        }
    }
    save(path, &tensors, &state)
}

fn part_prefix(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("{name}.")
    }
}

/// Restores what [`save_trained`] wrote into `vs` (and `optimizer`, when given) and returns the state; a checkpoint
/// of another algorithm, task or network is a one-line error naming the file.
pub fn load_trained(
    path: &Path,
    vs: &tch::nn::VarStore,
    optimizer: Option<&mut rlx_models::Optimizer>,
    algo: &str,
    id: &str,
) -> Result<serde_json::Value> {
    load_trained_parts(path, &mut [("", vs, optimizer)], algo, id)
}

/// Restores what [`save_trained_parts`] wrote, part by part (each optimizer only when given).
pub fn load_trained_parts(
    path: &Path,
    parts: &mut [(&str, &tch::nn::VarStore, Option<&mut rlx_models::Optimizer>)],
    algo: &str,
    id: &str,
) -> Result<serde_json::Value> {
    let loaded = load(path)?;
    let err = |reason: String| AgentError::Checkpoint { path: path.display().to_string(), reason };
    check_identity(&loaded.state, algo, id).map_err(err)?;
    for (name, vs, optimizer) in parts.iter_mut() {
        let prefix = part_prefix(name);
        copy_weights(vs, &loaded.tensors, &format!("{prefix}model.")).map_err(err)?;
        if let Some(optimizer) = optimizer {
            let moments: HashMap<String, Tensor> = loaded
                .tensors
                .iter()
                .filter_map(|(n, t)| {
                    n.strip_prefix(&format!("{prefix}optimizer.")).map(|k| (k.to_string(), t.shallow_clone()))
                })
                .collect();
            let key = format!("{prefix}optimizer_step");
            let step = loaded.state[&key].as_i64().ok_or_else(|| err(format!("state field `{key}` missing")))?;
            optimizer.load_state(&moments, step).map_err(err)?;
        }
    }
    Ok(loaded.state)
}

/// The sampling generator saved in a checkpoint's state (`"rng"`: the PCG state as JSON text).
pub fn generator(state: &serde_json::Value) -> Option<rand_pcg::Pcg64> {
    state["rng"].as_str().and_then(|t| serde_json::from_str(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
        let b = Tensor::from_slice(&[7u8, 8, 9]);
        save(
            &path,
            &[("a".into(), a.shallow_clone()), ("b".into(), b.shallow_clone())],
            &serde_json::json!({"step": 5}),
        )
        .unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.state["step"], 5);
        assert!(loaded.tensors["a"].equal(&a));
        assert!(loaded.tensors["b"].equal(&b));
        assert!(!dir.path().join(".checkpoint.safetensors.tmp").exists());

        // Damaged tensor bytes (the last byte of the file is in tensor data): the checksum catches it.
        let bytes = std::fs::read(&path).unwrap();
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 0xFF;
        std::fs::write(&path, &damaged).unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.ends_with("checksum mismatch: the file is corrupt"), "{err}");
        // A file from a newer rlx.
        let key = b"\"rlx_format\":\"1\"";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
        let mut newer = bytes.clone();
        newer[at + key.len() - 2] = b'9';
        std::fs::write(&path, &newer).unwrap();
        assert!(load(&path).err().unwrap().to_string().contains("newer rlx (format 9"));
        // Truncated.
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.starts_with(&format!("checkpoint {}: ", path.display())), "{err}");
        assert!(load(&dir.path().join("missing.safetensors")).is_err());
    }

    #[test]
    fn another_algorithm_or_env_is_refused() {
        let state = serde_json::json!({"algo": "dqn", "env_id": "PongNoFrameskip-v4"});
        assert!(check_identity(&state, "dqn", "PongNoFrameskip-v4").is_ok());
        assert_eq!(check_identity(&state, "ppo", "PongNoFrameskip-v4").unwrap_err(), "written by `dqn`, not ppo");
        assert_eq!(
            check_identity(&state, "dqn", "BreakoutNoFrameskip-v4").unwrap_err(),
            "written for PongNoFrameskip-v4, not BreakoutNoFrameskip-v4"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Random bytes, and a real checkpoint with random bytes overwritten or cut, load as an error naming the
        /// file (or, for damage outside what the checksum covers, as the same checkpoint), never a panic or a
        /// hang.
        #[test]
        fn damaged_or_random_files_are_errors_never_panics(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            at in 0usize..4096,
            cut in proptest::prelude::any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("checkpoint.safetensors");
            std::fs::write(&path, &noise).unwrap();
            let err = load(&path).err().expect("random bytes are not a checkpoint").to_string();
            proptest::prop_assert!(err.starts_with(&format!("checkpoint {}: ", path.display())), "{}", err);

            let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
            save(&path, &[("a".into(), a.shallow_clone())], &serde_json::json!({"step": 5})).unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            let at = at % bytes.len();
            if cut {
                bytes.truncate(at);
            } else {
                let end = (at + noise.len()).min(bytes.len());
                bytes[at..end].copy_from_slice(&noise[..end - at]);
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(loaded) = load(&path) {
                // Only bytes the format ignores (header padding) can change without an error.
                proptest::prop_assert!(loaded.tensors["a"].equal(&a) && loaded.state["step"] == 5);
            }
        }
    }
}

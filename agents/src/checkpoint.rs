//! Checkpoint files: one safetensors file holding tensors (weights, optimizer moments, saved observations) and, in
//! its metadata, the JSON training state (counters, random generator, env snapshots). Written atomically (temp file
//! in the same folder, fsync, rename), so a run killed mid-write keeps its previous checkpoint intact.

use crate::{AgentError, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The metadata key holding the JSON state.
const STATE_KEY: &str = "rlx_state";

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
    let metadata = HashMap::from([(STATE_KEY.to_string(), state.to_string())]);
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

/// Reads a checkpoint written by [`save`]; a missing, truncated or foreign file is a one-line error.
pub fn load(path: &Path) -> Result<Loaded> {
    let err = |reason: String| AgentError::Checkpoint { path: path.display().to_string(), reason };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let (_, metadata) = SafeTensors::read_metadata(&data).map_err(|e| err(format!("not a valid checkpoint ({e})")))?;
    let state_text = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_KEY))
        .ok_or_else(|| err("no rlx state in the file".into()))?;
    let state = serde_json::from_str(state_text).map_err(|e| err(format!("corrupt state ({e})")))?;
    let st = SafeTensors::deserialize(&data).map_err(|e| err(format!("not a valid checkpoint ({e})")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let kind = kind(view.dtype())
            .ok_or_else(|| err(format!("tensor `{name}` has unsupported dtype {:?}", view.dtype())))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        tensors.insert(name, Tensor::from_data_size(view.data(), &shape, kind));
    }
    Ok(Loaded { tensors, state })
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

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.starts_with(&format!("checkpoint {}: ", path.display())), "{err}");
        assert!(load(&dir.path().join("missing.safetensors")).is_err());
    }
}

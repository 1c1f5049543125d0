//! `--device auto|cpu|cuda`: one binary for CPU and CUDA machines.

use anyhow::{bail, Result};
use tch::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceArg {
    /// CUDA device 0 when LibTorch sees a GPU, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    /// Resolves to a tch device; asking for CUDA where there is none is an error, not a silent CPU run.
    pub fn resolve(self) -> Result<Device> {
        Ok(match self {
            DeviceArg::Auto => Device::cuda_if_available(),
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda if tch::Cuda::is_available() => Device::Cuda(0),
            DeviceArg::Cuda => {
                bail!("--device cuda: LibTorch sees no CUDA device on this machine (use --device cpu or auto)")
            }
        })
    }
}

/// A short human name: `cpu` or `cuda:0`.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

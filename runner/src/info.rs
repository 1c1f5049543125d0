//! `rlx info`: what this binary is linked against and what it would run on.

use anyhow::Result;
use rlx_agents::device::{self, DeviceChoice};
use std::fmt::Write as _;
use std::io::Write as _;

pub fn run(choice: DeviceChoice) -> Result<()> {
    let cuda = tch::Cuda::is_available();
    let mut text = String::new();
    writeln!(text, "rlx {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(text, "tch {} (PyTorch {})", env!("RLX_TCH_VERSION"), env!("RLX_LIBTORCH_VERSION"))?;
    writeln!(text, "libtorch: {}", env!("RLX_LIBTORCH_LIB"))?;
    writeln!(text, "device: {}", device::name(choice.resolve()?))?;
    let (devices, cudart) = (tch::Cuda::device_count(), version(tch::utils::version_cudart()));
    writeln!(text, "cuda available: {cuda} ({devices} devices, cudart {cudart})")?;
    let (cudnn, cudnn_version) = (tch::Cuda::cudnn_is_available(), version(tch::utils::version_cudnn()));
    writeln!(text, "cudnn available: {cudnn} (version {cudnn_version})")?;
    writeln!(text, "threads: {} intra-op, {} inter-op", tch::get_num_threads(), tch::get_num_interop_threads())?;
    // A closed pipe (`rlx info | head -2`) is not an error worth a panic.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// LibTorch reports versions as integers (e.g. 13000 for CUDA 13.0, 91900 for cuDNN 9.19); 0 means none.
fn version(v: i64) -> String {
    if v <= 0 {
        "none".into()
    } else {
        v.to_string()
    }
}

//! `rlx info`: what this binary is linked against and what it would run on.

use anyhow::Result;
use rlx_agents::device::{self, DeviceChoice};

pub fn run(choice: DeviceChoice) -> Result<()> {
    let cuda = tch::Cuda::is_available();
    println!("rlx {}", env!("CARGO_PKG_VERSION"));
    println!("tch {} (PyTorch {})", env!("RLX_TCH_VERSION"), env!("RLX_LIBTORCH_VERSION"));
    println!("libtorch: {}", env!("RLX_LIBTORCH_LIB"));
    println!("device: {}", device::name(choice.resolve()?));
    println!(
        "cuda available: {cuda} ({} devices, cudart {})",
        tch::Cuda::device_count(),
        version(tch::utils::version_cudart())
    );
    println!("cudnn available: {} (version {})", tch::Cuda::cudnn_is_available(), version(tch::utils::version_cudnn()));
    println!("threads: {} intra-op, {} inter-op", tch::get_num_threads(), tch::get_num_interop_threads());
    Ok(())
}

/// LibTorch reports versions as integers (e.g. 13000 for CUDA 13.0, 91900 for cuDNN 9.19); 0 means none.
fn version(v: i64) -> String {
    if v <= 0 {
        "none".into()
    } else {
        v.to_string()
    }
}

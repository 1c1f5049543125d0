//! Shared build script of every crate whose binaries or tests touch tch.
//!
//! Without it the linker's `--as-needed` drops `libtorch_cuda.so` (nothing references it by symbol), so CUDA is
//! silently unavailable, and the binary only finds LibTorch through `LD_LIBRARY_PATH`. We force the link of
//! `libtorch` (which pulls in `libtorch_cuda` where the wheel has it) and bake the venv's lib folder into the rpath.
//! `DEP_TCH_LIBTORCH_LIB` reaches only crates that depend on `torch-sys` directly, hence that dependency.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("DEP_TCH_LIBTORCH_LIB is unset: this crate must depend on torch-sys directly");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rustc-link-search=native={lib}");
    for name in ["torch", "torch_cpu", "c10"] {
        println!("cargo:rustc-link-arg=-l{name}");
    }
    // libtorch_cuda.so exists in the CUDA wheels (the pinned torch==2.11.0 is one); link it when present so
    // `tch::Cuda::is_available()` sees the CUDA backend.
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    // LibTorch has no runtime version query that tch exposes; the wheel's torch/version.py says it.
    let version_py = std::path::Path::new(&lib).join("../version.py");
    let version = std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rerun-if-changed={}", version_py.display());
    println!("cargo:rustc-env=RLX_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=RLX_LIBTORCH_LIB={lib}");
    // The tch version pinned once in the workspace manifest, for `rlx info`.
    let workspace = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../Cargo.toml");
    println!("cargo:rerun-if-changed={}", workspace.display());
    let tch = std::fs::read_to_string(&workspace)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("tch = \"=").map(|v| v.trim_end_matches('"').to_string()))
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RLX_TCH_VERSION={tch}");
}

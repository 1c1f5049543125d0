//! The LibTorch link: `rlx` finds LibTorch through its rpath (no LD_LIBRARY_PATH) and links `libtorch_cuda.so`,
//! so the same binary uses CUDA where a GPU is present.

use std::process::Command;

#[test]
fn rlx_is_linked_to_libtorch_cuda_through_its_rpath() {
    let exe = env!("CARGO_BIN_EXE_rlx");
    let ldd = Command::new("ldd").arg(exe).env_remove("LD_LIBRARY_PATH").output().expect("ldd runs");
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    let line = ldd
        .lines()
        .find(|l| l.contains("libtorch_cuda.so"))
        .unwrap_or_else(|| panic!("libtorch_cuda.so not linked:\n{ldd}"));
    assert!(!line.contains("not found"), "{line}");
    assert!(!ldd.contains("not found"), "unresolved libraries:\n{ldd}");
    let readelf = Command::new("readelf").args(["-d", exe]).output().expect("readelf runs");
    let dynamic = String::from_utf8_lossy(&readelf.stdout);
    assert!(dynamic.contains("torch/lib"), "no rpath to the venv's torch/lib:\n{dynamic}");
}

#[test]
fn rlx_info_reports_versions_and_device() {
    let out = Command::new(env!("CARGO_BIN_EXE_rlx"))
        .args(["info", "--device", "cpu"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tch 0.24.0 (PyTorch 2.11.0"), "{text}");
    assert!(text.contains("device: cpu"), "{text}");
    assert!(text.contains("cuda available:") && text.contains("threads:"), "{text}");
}

#[test]
fn asking_for_cuda_without_a_gpu_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rlx")).args(["info", "--device", "cuda"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("cuda available: true") || out.status.success() {
        return; // a GPU machine: nothing to check here
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("rlx: error: ") && stderr.contains("no CUDA device"), "{stderr}");
}

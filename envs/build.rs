//! ALE is a static C++ library: without LibTorch in the link (rlx-envs has no tch), nothing brings in libstdc++,
//! and the link fails with undefined `std::__ostream_insert`.
fn main() {
    println!("cargo:rustc-link-lib=dylib=stdc++");
}

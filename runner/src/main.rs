fn main() {
    println!("torch {}", env!("RLX_LIBTORCH_VERSION"));
    println!("cuda {}", tch::Cuda::is_available());
}

//! Compiles the subset of etcd's v3 API used for registration and discovery
//! (`proto/etcd`) with protox (no system protoc), client side only.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto/etcd");
    let descriptors = protox::compile(["rpc.proto", "kv.proto"], ["proto/etcd"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(descriptors)?;
    Ok(())
}

//! Compiles every `.proto` under `saas/` with protox (no system protoc) and writes the
//! descriptor set next to the generated code for gRPC reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "saas/identity/v1/user.proto",
        "saas/workspace/v1/workspace.proto",
        "saas/billing/v1/subscription.proto",
        "saas/bench/v1/echo.proto",
        "saas/events/v1/envelope.proto",
        "saas/identity/v1/events.proto",
        "saas/workspace/v1/events.proto",
        "saas/billing/v1/events.proto",
        "saas/notifications/v1/feed.proto",
        "saas/notifications/v1/events.proto",
    ];
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=saas");
    let descriptors = protox::compile(files, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("saas_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

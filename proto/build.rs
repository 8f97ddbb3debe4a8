//! Compiles every `.proto` under `saas/` with protox (no system protoc) and writes the
//! descriptor set next to the generated code for gRPC reflection.

use std::path::PathBuf;

use prost::Message;
use prost_types::{FileDescriptorSet, field_descriptor_proto::Type};

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
    std::fs::write(
        out_dir.join("command_requests.rs"),
        command_requests(&descriptors),
    )?;
    // Every message knows its full name (`prost::Name`), so an event is packed into an `Any`
    // as `type.googleapis.com/<full name>` without a string written by hand.
    let mut config = tonic_prost_build::Config::new();
    config
        .enable_type_names()
        .type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(descriptors, config)?;
    Ok(())
}

/// `impl CommandRequest` for every message with a string `request_id`: its target is field 1
/// when that is a string named `id` or `<something>_id` (commands that create an aggregate
/// start with `request_id` and have no target).
fn command_requests(descriptors: &FileDescriptorSet) -> String {
    let mut out = String::new();
    for file in &descriptors.file {
        let module = file
            .package()
            .replace('.', "::")
            .replacen("saas::", "crate::", 1);
        for message in &file.message_type {
            let string = |name: &str| {
                message
                    .field
                    .iter()
                    .any(|f| f.name() == name && f.r#type() == Type::String)
            };
            if !string("request_id") {
                continue;
            }
            let target = message
                .field
                .iter()
                .find(|f| f.number() == 1 && f.r#type() == Type::String)
                .map(|f| f.name())
                .filter(|name| *name == "id" || (name.ends_with("_id") && *name != "request_id"));
            let (field, target_id) = match target {
                Some(name) => (name.to_owned(), format!("&self.{name}")),
                None => (String::new(), "\"\"".to_owned()),
            };
            let etag = if string("etag") { "&self.etag" } else { "\"\"" };
            out.push_str(&format!(
                "impl crate::CommandRequest for {module}::{name} {{\n\
                 \x20   const TARGET_FIELD: &'static str = \"{field}\";\n\
                 \x20   fn target_id(&self) -> &str {{ {target_id} }}\n\
                 \x20   fn request_id(&self) -> &str {{ &self.request_id }}\n\
                 \x20   fn etag(&self) -> &str {{ {etag} }}\n\
                 }}\n",
                name = message.name(),
            ));
        }
    }
    out
}

//! Compiles `proto/portcullis/v1/check.proto` with protox (a protobuf compiler in Rust, so no
//! system `protoc` is needed) into prost messages and the tonic service, and writes the encoded
//! descriptor set the reflection service serves.

use std::path::PathBuf;

const PROTO: &str = "proto/portcullis/v1/check.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file(PROTO)?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    std::fs::write(
        out_dir.join("portcullis_v1_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    // The client is generic over its transport (`build_transport(false)`): tests and the load
    // generator hand it a tonic `Channel`; the server itself needs no client transport.
    tonic_prost_build::configure()
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
